# SPDX-License-Identifier: LGPL-2.1-or-later
"""The mounted template equals GNU tar's extraction of it, entry by entry:
type, all 12 mode bits, owners, size, mtime in ns, rdev, symlink targets,
content, xattrs and ACLs, hardlink structure; plus holes, capabilities, deep
paths, stable inode numbers and large directories through the mount."""

import ctypes
import os
import stat
import subprocess

import pytest

import fixtures as F
from conftest import unexpected_stderr

ALL_VARIANTS = sorted(F.VARIANTS)
SPARSE_VARIANTS = ["pax-none", "pax-zst", "gnu-none", "gnu-gz", "pax-sparse0.1-none",
                   "pax-sparse1.0-none", "pax-sparse1.0-zst"]

DEEP1 = b"deep1/" + b"d23456789/" * 120 + b"leaf"
DEEP2 = b"deep2/" + (b"D" * 99 + b"/") * 30 + b"leaf"


def drop_caches():
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("2\n")


def fmt_diffs(diffs, limit=40):
    more = f"\n... and {len(diffs) - limit} more" if len(diffs) > limit else ""
    return "\n".join(diffs[:limit]) + more


def test_oracle_extraction_matches_stage(stage, archive, extracted):
    """Guards the oracle: GNU tar round-trips the staging tree exactly (pax)."""
    want = F.snapshot(stage.root)
    got = F.snapshot(extracted(archive("pax-none")))
    diffs = F.compare_trees(want, got, xattrs=True)
    assert not diffs, "GNU tar does not round-trip the stage:\n" + fmt_diffs(diffs)
    # the stage really has what the tests rely on
    assert got[b"xattrs/ping"]["xattrs"].get("security.capability")
    assert got[b"acl/default-dir"]["xattrs"].get("system.posix_acl_default")
    assert got[b"acl/file"]["xattrs"].get("system.posix_acl_access")
    assert len({got[p]["ino"] for p in (b"hard/a", b"hard/sub/b", b"other/c")}) == 1
    assert got[b"hard/a"]["nlink"] == 3
    assert len(DEEP1) > 1024 and DEEP1.count(b"/") > 100 and DEEP1 in got
    assert len(DEEP2) > 2900 and DEEP2 in got
    for p, (size, regions) in stage.sparse.items():
        assert size > 1 << 20
        assert F.data_regions(os.path.join(os.fsencode(str(stage.root)), p)) == regions


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_mount_matches_extraction(variant, stage, archive, extracted, domufs):
    path = archive(variant)
    want = F.snapshot(extracted(path))
    if F.VARIANTS[variant].get("dup"):
        # the oracle keeps the last of duplicate members
        assert want[b"etc/hostname"]["mode"] == oct(0o600)
        assert want[b"links/dangling"]["type"] == stat.S_IFREG
        assert want[b"usr/bin/su"]["type"] == stat.S_IFLNK
        assert want[b"etc"]["mode"] == oct(0o700)
        # GNU tar sets a directory's mtime before a later duplicate replaces an
        # entry in it, so the extraction's mtime of these parents is the time of
        # extraction; the archive holds the stage's mtime
        staged = F.snapshot(stage.root, content=False, xattrs=False)
        for p in (b"links", b"usr/bin"):
            want[p]["mtime_ns"] = staged[p]["mtime_ns"]
    m = domufs.mount(path)
    got = F.snapshot(m.path)
    include_root = F.VARIANTS[variant].get("dot", False)
    diffs = F.compare_trees(want, got, xattrs=F.variant_has_xattrs(variant), include_root=include_root)
    assert not diffs, f"{variant}: mount differs from tar extraction:\n" + fmt_diffs(diffs)
    assert stat.S_ISDIR(got[b"."]["type"])


@pytest.mark.parametrize("variant", SPARSE_VARIANTS)
def test_sparse_files_have_holes(variant, stage, archive, extracted, domufs):
    path = archive(variant)
    ex = extracted(path)
    m = domufs.mount(path)
    problems = []
    for rel, (size, regions) in sorted(stage.sparse.items()):
        p = m.b(rel)
        st = os.lstat(p)
        if st.st_size != size:
            problems.append(f"{rel!r}: size {st.st_size} != {size}")
        if not st.st_blocks * 512 < st.st_size:
            problems.append(f"{rel!r}: st_blocks {st.st_blocks} (x512) not smaller than size {st.st_size}")
        found = F.data_regions(p)
        if found != regions:
            problems.append(f"{rel!r}: SEEK_DATA/SEEK_HOLE found data {found}, expected {regions}")
        if F.sha256_file(p) != F.sha256_file(os.path.join(os.fsencode(str(ex)), rel)):
            problems.append(f"{rel!r}: content differs from extraction")
    assert not problems, "\n".join(problems)


def test_seek_hole_data_semantics(archive, domufs):
    """lseek on the mount behaves like on a local file system at the edges."""
    m = domufs.mount(archive("pax-none"))
    fd = os.open(m.b(b"sparse/holes-everywhere"), os.O_RDONLY)
    try:
        assert os.lseek(fd, 0, os.SEEK_DATA) == 524288
        assert os.lseek(fd, 524288 + 100, os.SEEK_DATA) == 524288 + 100
        assert os.lseek(fd, 524288, os.SEEK_HOLE) == 524288 + 65536
        assert os.lseek(fd, 2621440 + 131072, os.SEEK_HOLE) == 2621440 + 131072
        with pytest.raises(OSError) as ei:
            os.lseek(fd, 2621440 + 131072, os.SEEK_DATA)
        assert ei.value.errno == 6  # ENXIO: only a hole remains
        assert os.lseek(fd, 4194304 - 1, os.SEEK_HOLE) == 4194304 - 1
        with pytest.raises(OSError) as ei:
            os.lseek(fd, 4194304, os.SEEK_DATA)
        assert ei.value.errno == 6  # ENXIO at EOF
        os.lseek(fd, 0, os.SEEK_SET)
        assert os.pread(fd, 16, 0) == b"\0" * 16
        assert os.pread(fd, 16, 524288) == F._fill(16, 524288)
    finally:
        os.close(fd)
    fd = os.open(m.b(b"usr/lib/big.bin"), os.O_RDONLY)
    try:
        assert os.lseek(fd, 0, os.SEEK_DATA) == 0
        assert os.lseek(fd, 0, os.SEEK_HOLE) == 1300000
    finally:
        os.close(fd)


def _getfattr_cap(path: bytes) -> str:
    r = subprocess.run(["getfattr", "--absolute-names", "-n", "security.capability", "-e", "hex", path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert r.returncode == 0, f"getfattr {path!r}: {r.stderr}"
    lines = [x for x in r.stdout.splitlines() if x.startswith("security.capability=")]
    assert len(lines) == 1, r.stdout
    return lines[0]


def test_capabilities_readable_with_getfattr_and_getcap(archive, extracted, domufs):
    path = archive("pax-zst")
    ex = os.fsencode(str(extracted(path)))
    m = domufs.mount(path)
    for rel in (b"xattrs/ping", b"xattrs/caps-many"):
        assert _getfattr_cap(m.b(rel)) == _getfattr_cap(os.path.join(ex, rel))
        want = subprocess.run(["getcap", os.path.join(ex, rel)], stdout=subprocess.PIPE, text=True).stdout
        got = subprocess.run(["getcap", m.b(rel)], stdout=subprocess.PIPE, text=True).stdout
        assert got.split()[-1:] == want.split()[-1:] and got.strip(), (got, want)
    # a plain getfattr dump of all namespaces lists the same names and values
    for rel in (b"xattrs/plain", b"xattrs/binary", b"acl/file", b"acl/default-dir"):
        def dump(p):
            r = subprocess.run(["getfattr", "--absolute-names", "-d", "-m", "-", "-e", "hex", p],
                               stdout=subprocess.PIPE, text=True)
            return sorted(x for x in r.stdout.splitlines() if "=" in x)
        assert dump(m.b(rel)) == dump(os.path.join(ex, rel)), rel


def test_deep_paths_open_by_full_path(archive, domufs):
    m = domufs.mount(archive("pax-gz"))
    # a fresh mount: the kernel looks up every component of the full path
    for rel, content in ((DEEP2, b"deep-two"), (DEEP1, b"deep-one")):
        full = m.b(rel)
        assert len(full) < 4096
        with open(full, "rb") as f:
            assert f.read() == content
        assert os.stat(full).st_size == len(content)
    # the long symlink target resolves through the mount, the long hardlink shares the inode
    with open(m.b(b"links/long"), "rb") as f:
        assert f.read() == b"deep-one"
    assert os.readlink(m.b(b"links/long")) == b"../" + DEEP1
    assert os.stat(m.b(b"hard/deep-link")).st_ino == os.stat(m.b(DEEP1)).st_ino
    assert os.stat(m.b(DEEP1)).st_nlink == 2
    # openat walk with O_PATH dirfds, one component at a time
    fd = os.open(m.b(), os.O_RDONLY | os.O_DIRECTORY)
    try:
        for comp in DEEP2.split(b"/")[:-1]:
            nfd = os.open(comp, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        leaf = os.open(b"leaf", os.O_RDONLY, dir_fd=fd)
        assert os.read(leaf, 100) == b"deep-two"
        os.close(leaf)
    finally:
        os.close(fd)


def _inodes(root):
    snap = F.snapshot(root, content=False, xattrs=False)
    return {p: (d["ino"], d["type"]) for p, d in snap.items()}


@pytest.mark.parametrize("variant", ["pax-none", "gnu-zst"])
def test_inode_numbers_stable(variant, archive, domufs):
    m = domufs.mount(archive(variant))
    first = _inodes(m.path)
    second = _inodes(m.path)
    assert first == second, "inode numbers changed between two lookups"
    drop_caches()
    third = _inodes(m.path)
    changed = [p for p in first if first[p] != third.get(p)]
    assert not changed, "inode numbers changed after drop_caches: " + ", ".join(F.short(p) for p in changed[:20])
    inos = [v[0] for p, v in first.items()]
    hard = {first[b"hard/a"][0]}
    assert first[b"hard/sub/b"][0] in hard and first[b"other/c"][0] in hard
    # apart from hardlinks, every entry has its own inode number
    groups = F.inode_partition(F.snapshot(m.path, content=False, xattrs=False), include_root=True)
    assert len(groups) == len(set(inos))
    assert {len(g) for g in groups} <= {1, 2, 3}


def test_large_directory_readdir(bigdir_archive, domufs):
    m = domufs.mount(bigdir_archive)
    big = m.b(b"big")
    expected = {b"f%05d" % i for i in range(5000)}
    first = os.listdir(big)
    assert len(first) == len(set(first)), "duplicate names in readdir"
    assert set(first) == expected
    second = os.listdir(big)
    assert second == first, "readdir order not stable"
    # lookups interleaved with a running readdir (readdirplus/forget traffic)
    seen = []
    with os.scandir(big) as it:
        for e in it:
            seen.append(e.name)
            st = e.stat(follow_symlinks=False)
            assert stat.S_ISREG(st.st_mode)
            assert e.is_file(follow_symlinks=False)
    assert len(seen) == 5000 and set(seen) == expected
    drop_caches()
    third = os.listdir(big)
    assert third == first
    for i in (0, 1, 2499, 4999):
        with open(os.path.join(big, b"f%05d" % i), "rb") as f:
            assert f.read() == b"%d\n" % i
    assert sorted(os.listdir(m.b())) == [b"after-big", b"big"]
    st = os.stat(big)
    assert st.st_nlink in (2, 1)


class _Dirent(ctypes.Structure):
    _fields_ = [("d_ino", ctypes.c_uint64), ("d_off", ctypes.c_int64), ("d_reclen", ctypes.c_ushort),
                ("d_type", ctypes.c_ubyte), ("d_name", ctypes.c_char * 256)]


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.opendir.restype = ctypes.c_void_p
    libc.opendir.argtypes = [ctypes.c_char_p]
    libc.readdir.restype = ctypes.POINTER(_Dirent)
    libc.readdir.argtypes = [ctypes.c_void_p]
    libc.telldir.restype = ctypes.c_long
    libc.telldir.argtypes = [ctypes.c_void_p]
    libc.seekdir.restype = None
    libc.seekdir.argtypes = [ctypes.c_void_p, ctypes.c_long]
    libc.closedir.argtypes = [ctypes.c_void_p]
    return libc


def test_readdir_seekdir_offsets_stable(bigdir_archive, domufs):
    """telldir/seekdir: restarting at a saved directory offset yields exactly the
    names that followed it, so offsets are stable for the whole opendir."""
    m = domufs.mount(bigdir_archive)
    libc = _libc()
    d = libc.opendir(m.b(b"big"))
    assert d, f"opendir failed: {os.strerror(ctypes.get_errno())}"
    try:
        entries = []        # (offset before reading the entry, name)
        while True:
            pos = libc.telldir(d)
            ent = libc.readdir(d)
            if not ent:
                break
            name = ent.contents.d_name
            if name not in (b".", b".."):
                entries.append((pos, name))
        names = [n for _, n in entries]
        assert len(names) == 5000 and set(names) == {b"f%05d" % i for i in range(5000)}
        for k in (4999, 2500, 1, 0, 1234):
            libc.seekdir(d, entries[k][0])
            rest = []
            while True:
                ent = libc.readdir(d)
                if not ent:
                    break
                if ent.contents.d_name not in (b".", b".."):
                    rest.append(ent.contents.d_name)
            assert rest == names[k:], f"after seekdir to the offset of entry {k}"
    finally:
        libc.closedir(d)


@pytest.mark.parametrize("locale", ["C", "POSIX", "C.UTF-8"])
def test_names_do_not_depend_on_locale(locale, archive, extracted, domufs):
    """Member names are bytes: UTF-8, non-UTF-8 and long names come out the same
    whatever the locale, and a clean archive gives no warnings."""
    path = archive("pax-zst")
    env = {"LC_ALL": locale, "LANG": locale}
    res = domufs.index(path, None, env=env)
    assert res.returncode == 0, str(res)
    assert unexpected_stderr(res) == [], f"warnings for a clean archive under LC_ALL={locale}\n{res}"
    m = domufs.mount(path, env=env)
    names_dir = os.path.join(os.fsencode(str(extracted(path))), b"names")
    assert sorted(os.listdir(m.b(b"names"))) == sorted(os.listdir(names_dir))
    assert os.readlink(m.b(b"links/odd target")) == "with space\nand newline \u2713".encode()


def test_symlinks_resolve_inside_the_mount(archive, domufs):
    m = domufs.mount(archive("pax-none"))
    with open(m.b(b"links/rel"), "rb") as f:
        assert f.read() == b"template\n"
    assert sorted(os.listdir(m.b(b"links/dir"))) == sorted(os.listdir(m.b(b"usr/lib")))
    assert os.path.samestat(os.stat(m.b(b"links/dot")), os.stat(m.b(b"links")))
    with pytest.raises(FileNotFoundError):
        os.stat(m.b(b"links/dangling"))


def test_statfs_works(archive, domufs):
    m = domufs.mount(archive("pax-none"))
    st = os.statvfs(m.path)
    assert st.f_namemax >= 255
    assert st.f_bsize > 0
    r = subprocess.run(["df", "-P", str(m.path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert r.returncode == 0, r.stderr


def test_acls_naming_users_and_groups_match_extraction(domufs, public_dir):
    """GNU tar --acls alone stores ACLs as text with names ("user:nobody:rwx");
    the mount gives each name the id the host gives it, as extraction does,
    and drops an ACL naming someone the host does not know, with a warning,
    as extraction does (it used to hand the kernel an undefined id, which
    made every access check on the file fail with EINVAL)."""
    import io
    import tarfile

    from overlay_helpers import as_user

    src = public_dir / "src"
    (src / "d").mkdir(parents=True)
    for name in ("f", "g"):
        (src / name).write_text(name + "\n")
        os.chmod(src / name, 0o644)
    subprocess.run(["setfacl", "-m", "u:nobody:rwx", str(src / "f")], check=True)
    subprocess.run(["setfacl", "-m", "g:nogroup:r--", str(src / "g")], check=True)
    subprocess.run(["setfacl", "-d", "-m", "u:nobody:rwx,g:nogroup:r-x", str(src / "d")], check=True)
    tpl = public_dir / "named.tar"
    subprocess.run(["tar", "--format=posix", "--acls", "-cf", str(tpl), "-C", str(src), "."], check=True)
    # the text form (no system.* xattr records), with a name the host lacks
    with tarfile.open(tpl, "a", format=tarfile.PAX_FORMAT) as t:
        assert not any("xattr" in k for m in t.getmembers() for k in m.pax_headers)
        assert "user:nobody:rwx" in t.getmember("./f").pax_headers["SCHILY.acl.access"]
        ti = tarfile.TarInfo("./unknown")
        ti.size, ti.mode = 2, 0o644
        ti.pax_headers = {"SCHILY.acl.access":
                          "user::rw-,user:no-such-user-7f3a:r--,group::r--,mask::r--,other::r--"}
        t.addfile(ti, io.BytesIO(b"u\n"))
    want = F.extract(tpl, public_dir / "x")
    (public_dir / "m").mkdir()
    m = domufs.mount(tpl, mountpoint=public_dir / "m", cache_dir=public_dir / "cache", opts="allow_other")
    acls = ("system.posix_acl_access", "system.posix_acl_default")
    for rel in (b"f", b"g", b"d", b"unknown"):
        for a in acls:
            try:
                expect = os.getxattr(os.path.join(os.fsencode(str(want)), rel), a)
            except OSError:
                expect = None
            try:
                got = os.getxattr(m.b(rel), a)
            except OSError:
                got = None
            assert got == expect, (rel, a)
    assert os.getxattr(m.b(b"f"), acls[0])   # not merely absent on both sides
    assert os.getxattr(m.b(b"d"), acls[1])
    assert os.getxattr(m.b(b"f"), acls[0]).count((65534).to_bytes(4, "little")) == 1
    for rel in (b"f", b"g", b"unknown"):
        path = m.b(rel)
        assert as_user(65534, 65534, lambda p=path: open(p, "rb").read()) == rel[:1] + b"\n"
    assert ("member './unknown': access ACL names 'no-such-user-7f3a', which this host "
            "does not know: ACL skipped") in m.stderr()


_D, _F, _L, _H = "dir", "file", "symlink", "hardlink"
# members in order: (name, kind, link target); after each, what extraction skips
SYMLINK_PARENTS = {
    # merged /usr: a relative link without '..' is gone through at once
    "relative": ([("usr/", _D), ("usr/bin/", _D), ("bin", _L, "usr/bin"), ("bin/sh", _F)], None),
    "chain": ([("usr/", _D), ("usr/bin/", _D), ("b", _L, "usr/bin"), ("a", _L, "./b"), ("a/x", _F)], None),
    "hardlink-target": ([("usr/", _D), ("usr/bin/", _D), ("usr/bin/perl", _F), ("bin", _L, "usr/bin"),
                         ("perl2", _H, "bin/perl")], None),
    "directory-member-replaces": ([("usr/", _D), ("usr/bin/", _D), ("bin", _L, "usr/bin"), ("bin/", _D),
                                   ("bin/sh", _F)], None),
    # GNU tar makes these links last (a placeholder until then): what is below fails
    "absolute": ([("usr/", _D), ("usr/bin/", _D), ("bin", _L, "/usr/bin"), ("bin/sh", _F)],
                 "'bin' is a symbolic link extraction does not go through (its target is absolute"),
    "dotdot": ([("usr/", _D), ("usr/lib/", _D), ("x/", _D), ("x/lib", _L, "../usr/lib"), ("x/lib/a", _F)],
               "'x/lib' is a symbolic link extraction does not go through (its target is absolute or has '..')"),
    "dangling": ([("bin", _L, "usr/bin"), ("bin/sh", _F)], "(it leads nowhere)"),
    "to-a-file": ([("f", _F), ("l", _L, "f"), ("l/x", _F)], "(it does not lead to a directory)"),
    "loop": ([("a", _L, "b"), ("b", _L, "a"), ("a/x", _F)], "(too many levels of symbolic links)"),
}


@pytest.mark.parametrize("case", sorted(SYMLINK_PARENTS))
def test_members_below_a_symlink_land_as_extraction_puts_them(case, domufs, tmp_path):
    """A member whose directory is a symbolic link listed earlier (bin ->
    usr/bin, then bin/sh, as layered merged-/usr roots have it) lands where
    GNU tar's extraction puts it: through a relative link without '..', at
    once; below any other link, nowhere (skipped with a warning; the link
    stays). It used to replace the link by a directory."""
    import io
    import tarfile

    members, skipped = SYMLINK_PARENTS[case]
    tpl = tmp_path / f"{case}.tar"
    kinds = {_D: tarfile.DIRTYPE, _F: tarfile.REGTYPE, _L: tarfile.SYMTYPE, _H: tarfile.LNKTYPE}
    with tarfile.open(tpl, "w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, *target in members:
            ti = tarfile.TarInfo(name)
            ti.type, ti.mtime = kinds[kind], 1700000000
            ti.mode = 0o755 if kind == _D else 0o644
            ti.linkname = target[0] if target else ""
            data = f"{name}\n".encode() if kind == _F else b""
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data) if data else None)
    want_dir = tmp_path / "x"
    want_dir.mkdir()
    r = subprocess.run(["tar", "-xpf", str(tpl), "-C", str(want_dir)], capture_output=True, text=True)
    assert (r.returncode != 0) == bool(skipped), r.stderr
    want = F.snapshot(want_dir, xattrs=False)
    for rel, e in want.items():
        # GNU tar may set a directory's time before a member lands in it
        # through a link, which then makes it the time of extraction
        if stat.S_ISDIR(e["type"]) and rel != b".":
            e["mtime_ns"] = 1700000000 * 10**9
    m = domufs.mount(tpl)
    diffs = F.compare_trees(want, F.snapshot(m.path, xattrs=False), xattrs=False)
    assert not diffs, f"{case}: mount differs from tar extraction:\n" + fmt_diffs(diffs)
    err = m.stderr()
    if skipped:
        assert skipped in err, err
    else:
        assert "warning" not in err, err


# --------------------------------------------------------------------------
# global pax headers (typeflag 'g')

def _pax_global(headers: dict) -> bytes:
    """A global pax header as Python's tarfile writes it (header block and records)."""
    import tarfile

    return tarfile.TarInfo._create_pax_generic_header(headers, tarfile.XGLTYPE, "utf-8")


@pytest.mark.parametrize("comp", ["none", "gz", "xz", "zst", "bz2"])
def test_global_pax_header_owners_match_extraction(comp, domufs, tmp_path):
    """GNU tar's `--pax-option KEY=VALUE` writes a global header: every
    member takes its owners from it (and its own header's times, which GNU
    tar writes for each member and which win over the global mtime), as GNU
    tar extracts it. libarchive alone drops global headers."""
    src = tmp_path / "src"
    (src / "d" / "e").mkdir(parents=True)
    (src / "a").write_text("a\n")
    (src / "d" / "e" / "b").write_text("b\n")
    os.symlink("a", src / "s")
    os.link(src / "a", src / "d" / "hard")
    os.mkfifo(src / "fifo")
    subprocess.run(["setfattr", "-n", "user.own", "-v", "1", str(src / "a")], check=True)
    tar = tmp_path / "g.tar"
    subprocess.run(["tar", "--format=pax", "--xattrs", "--pax-option=uid=4321,gid=765,mtime=1600000000.5",
                    "-cf", str(tar), "-C", str(src), "."], check=True)
    with open(tar, "rb") as f:
        assert f.read(512)[156:157] == b"g"
    path = F.compress(tar, comp)
    want = F.snapshot(F.extract(path, tmp_path / "x"))
    assert want[b"d/e/b"]["uid"] == 4321 and want[b"d/e/b"]["gid"] == 765
    m = domufs.mount(path)
    got = F.snapshot(m.path)
    diffs = F.compare_trees(want, got, xattrs=True, include_root=True)
    assert not diffs, f"{comp}: mount differs from tar extraction:\n" + fmt_diffs(diffs)
    assert "warning" not in m.stderr(), m.stderr()


def test_global_pax_headers_apply_per_keyword_until_changed(domufs, tmp_path):
    """POSIX pax: a global keyword holds for the members after it that do
    not set it themselves, until a later global header gives it another
    value (an empty one deletes it); extended attributes too. Python's
    tarfile reads it so. (GNU tar drops all earlier global keywords at each
    new global header, and fails on global xattrs: no oracle here.)"""
    import io
    import tarfile

    tpl = tmp_path / "p.tar"
    with tarfile.open(tpl, "w", format=tarfile.PAX_FORMAT,
                      pax_headers={"uid": "4321", "gid": "765", "mtime": "1600000000.5",
                                   "SCHILY.xattr.user.global": "g1", "comment": "made by a test"}) as t:
        def add(name, kind=tarfile.REGTYPE, data=b"", **kw):
            ti = tarfile.TarInfo(name)
            ti.type, ti.size, ti.mtime, ti.mode = kind, len(data), 1700000000, 0o755
            for k, v in kw.items():
                setattr(ti, k, v)
            t.addfile(ti, io.BytesIO(data) if data else None)

        add("a", data=b"a\n")
        add("b", data=b"b\n", pax_headers={"uid": "11", "mtime": "1500000000.25",
                                            "SCHILY.xattr.user.global": "own"})
        add("dir", tarfile.DIRTYPE)
        g = _pax_global({"uid": "", "mtime": "-1.5", "SCHILY.xattr.user.global": "",
                         "SCHILY.xattr.user.later": "g2"})
        t.fileobj.write(g)
        t.offset += len(g)
        add("c", data=b"c\n", uid=5)
        add("dir/sub", tarfile.DIRTYPE)
        add("hard", tarfile.LNKTYPE, linkname="a")
        add("sym", tarfile.SYMTYPE, linkname="a")
    # Python's reader agrees where it has a meaning for it (it reads an empty
    # uid as 0 rather than as no global uid)
    for m in tarfile.open(tpl):
        assert m.name != "c" or (m.gid, m.mtime) == (765, -1.5)
    m = domufs.mount(tpl)
    p = os.fsencode(str(m.path))

    def meta(rel):
        st = os.lstat(os.path.join(p, rel))
        try:
            xs = {n: os.getxattr(os.path.join(p, rel), n, follow_symlinks=False)
                  for n in os.listxattr(os.path.join(p, rel), follow_symlinks=False)}
        except OSError:
            xs = {}
        return st.st_uid, st.st_gid, st.st_mtime_ns, xs

    assert meta(b"a") == (4321, 765, 1600000000500000000, {"user.global": b"g1"})
    assert meta(b"b") == (11, 765, 1500000000250000000, {"user.global": b"own"})
    assert meta(b"dir") == (4321, 765, 1600000000500000000, {"user.global": b"g1"})
    assert meta(b"c") == (5, 765, -1500000000, {"user.later": b"g2"})
    assert meta(b"dir/sub") == (0, 765, -1500000000, {"user.later": b"g2"})
    # a hard link is the inode it names, whatever came in between
    assert os.lstat(os.path.join(p, b"hard")).st_ino == os.lstat(os.path.join(p, b"a")).st_ino
    assert meta(b"hard") == meta(b"a")
    assert meta(b"sym")[:3] == (0, 765, -1500000000)
    assert "warning" not in m.stderr(), m.stderr()


@pytest.mark.parametrize("key", ["path", "linkpath", "size"])
def test_global_pax_header_naming_every_member_is_refused(key, domufs, tmp_path):
    """A global path, link target or size would give every member after it
    one name (GNU tar extracts them all onto one file): index and mount
    refuse the template with one line that names it, and leave no mount."""
    import io
    import tarfile

    tpl = tmp_path / "bad.tar"
    with tarfile.open(tpl, "w", format=tarfile.PAX_FORMAT, pax_headers={key: "7"}) as t:
        ti = tarfile.TarInfo("a")
        ti.size = 2
        t.addfile(ti, io.BytesIO(b"a\n"))
    r = domufs.index(tpl)
    assert r.returncode == 1, r
    assert r.stderr_lines() == [f"domufs: {tpl}: global pax header at byte 0 sets '{key}' for every "
                                "member that follows: not supported"], r
    mp = domufs.mountpoint()
    r = domufs.run("mount", "--cache-dir", domufs.cache_dir(), tpl, mp)
    assert r.returncode == 1, r
    assert f"sets '{key}' for every member that follows" in r.stderr, r
    assert not F.is_mountpoint(mp)


@pytest.mark.parametrize("comp", ["none", "gz", "xz", "zst", "bz2"])
def test_global_pax_headers_between_large_extended_headers(comp, domufs, tmp_path):
    """Header chains long enough to span the decompressor's buffers (each
    member with a 40 KiB xattr in its own extended header) and a global
    header every few members: every member gets the global uid and mtime in
    force where it stands, in every compression alike."""
    import io
    import tarfile

    tar = tmp_path / "big.tar"
    want = {}
    with tarfile.open(tar, "w", format=tarfile.PAX_FORMAT) as t:
        for i in range(240):
            if i % 7 == 0:
                g = _pax_global({"uid": str(1000 + i), "mtime": f"{1600000000 + i}.5"})
                t.fileobj.write(g)
                t.offset += len(g)
                uid, mtime_ns = 1000 + i, (1600000000 + i) * 10**9 + 5 * 10**8
            ti = tarfile.TarInfo(f"f{i:03d}")
            data = f"{i}\n".encode()
            ti.size, ti.mtime = len(data), 1700000000
            ti.pax_headers = {"SCHILY.xattr.user.big": chr(97 + i % 26) * (40 << 10)}
            if i % 5 == 0:
                ti.pax_headers["uid"] = "7"
            t.addfile(ti, io.BytesIO(data))
            want[ti.name] = (7 if i % 5 == 0 else uid, mtime_ns, data)
    assert tar.stat().st_size > 9 << 20
    path = F.compress(tar, comp)
    m = domufs.mount(path)
    for name, (uid, mtime_ns, data) in want.items():
        p = m.path / name
        st = os.lstat(p)
        assert (st.st_uid, st.st_mtime_ns, p.read_bytes()) == (uid, mtime_ns, data), name
        assert os.getxattr(p, "user.big") == bytes([97 + int(name[1:]) % 26]) * (40 << 10), name
    assert "warning" not in m.stderr(), m.stderr()
