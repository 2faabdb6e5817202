# SPDX-License-Identifier: LGPL-2.1-or-later
"""domufs commit --format: what a tarball can hold that ext4 cannot (an xattr
over the inode's and xattr block's room), what GNU tar reads without a
warning (SCHILY.xattr records only, binary values intact), the header mode of
a file with an ACL mask (as stat shows it, as GNU tar writes it), and the
error of a full disk (with its cause)."""

import io
import os
import stat
import subprocess
import tarfile

import pytest

from conftest import assert_one_error_line

CAP = bytes.fromhex("01000002" "00200000" "00000000" "00000000" "00000000")  # cap_net_bind_service+ep


@pytest.fixture(autouse=True)
def _need_root():
    if os.geteuid() != 0:
        pytest.skip("ACLs, security.* xattrs and tmpfs mounts: need root")


def pax_template(path, members):
    """A pax tarball of (name, data, mode, pax_headers) regular files."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        for name, data, mode, headers in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = mode
            ti.mtime = 1700000000
            ti.pax_headers = headers
            t.addfile(ti, io.BytesIO(data))
    return path


def xattr_header(name, value: bytes):
    # tarfile writes str values; surrogateescape keeps the bytes
    return {f"SCHILY.xattr.{name}": value.decode("utf-8", "surrogateescape")}


def export(domufs, tpl, out, fmt="tar"):
    return domufs.run("commit", "--cache-dir", domufs.cache_dir(), "--format", fmt, tpl, out)


def gnu_tar(*args):
    return subprocess.run(["tar", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, errors="replace")


def test_xattr_beyond_ext4_room(domufs, tmp_path):
    """A 5000-byte user.* xattr: mount shows it, an ext4 commit refuses it
    (no room), and a tarball keeps it."""
    big = bytes(range(256)) * 19 + b"\0" * 136
    assert len(big) == 5000
    tpl = pax_template(tmp_path / "big.tar", [("f", b"data\n", 0o644, xattr_header("user.big", big))])
    m = domufs.mount(tpl, cache_dir=domufs.cache_dir())
    assert os.getxattr(m.b(b"f"), "user.big") == big
    assert not m.unmount()
    res = domufs.run("commit", "--cache-dir", domufs.cache_dir(), tpl, tmp_path / "big.img")
    assert res.returncode == 1 and "no room" in res.stderr, str(res)
    for fmt in ("tar", "tar.zst"):
        out = tmp_path / f"out.{fmt}"
        res = export(domufs, tpl, out, fmt)
        assert res.returncode == 0, str(res)
        m = domufs.mount(out, cache_dir=domufs.cache_dir())
        assert os.getxattr(m.b(b"f"), "user.big") == big, fmt
        assert open(m.b(b"f"), "rb").read() == b"data\n"
        assert not m.unmount()


def test_gnu_tar_reads_xattrs_without_warning(domufs, tmp_path):
    """Only SCHILY.xattr records: no 'Ignoring unknown extended header
    keyword' from GNU tar; binary values (security.capability, a trusted.*
    value with NUL and 0xff bytes) come back from domufs and from GNU tar."""
    binary = b"\0\xff\x00abc\n\xfe"
    tpl = pax_template(tmp_path / "x.tar", [
        ("ping", b"\x7fELF", 0o755, {**xattr_header("security.capability", CAP),
                                     **xattr_header("trusted.bin", binary),
                                     **xattr_header("user.text", b"plain")}),
    ])
    out = tmp_path / "out.tar"
    res = export(domufs, tpl, out)
    assert res.returncode == 0, str(res)
    raw = out.read_bytes()
    assert b"LIBARCHIVE.xattr" not in raw
    assert b"SCHILY.xattr.security.capability" in raw
    for args in (["-tvf", out], ["--xattrs", "--xattrs-include=*", "-tvvf", out]):
        r = gnu_tar(*args)
        assert r.returncode == 0 and r.stderr == "", (args, r.stderr)
    # domufs reads its own output back
    m = domufs.mount(out, cache_dir=domufs.cache_dir())
    p = m.b(b"ping")
    assert os.getxattr(p, "security.capability") == CAP
    assert os.getxattr(p, "trusted.bin") == binary
    assert os.getxattr(p, "user.text") == b"plain"
    assert not m.unmount()
    # and so does GNU tar
    x = tmp_path / "x"
    x.mkdir()
    r = gnu_tar("--xattrs", "--xattrs-include=*", "-C", x, "-xf", out)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert os.getxattr(x / "ping", "security.capability") == CAP
    assert os.getxattr(x / "ping", "trusted.bin") == binary
    assert os.getxattr(x / "ping", "user.text") == b"plain"


def test_acl_mask_is_the_header_group(domufs, tmp_path):
    """user::rw-, user:1000:rw-, group::r--, mask::rw-, other::r--: stat
    shows 0664, and so must the tar header, as GNU tar --acls writes it; the
    ACL itself keeps group::r--."""
    src = tmp_path / "src"
    src.mkdir()
    f = src / "f"
    f.write_bytes(b"acl\n")
    os.chmod(f, 0o644)
    r = subprocess.run(["setfacl", "-m", "u:1000:rw,g::r,m::rw", str(f)], stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        pytest.skip(f"setfacl: {r.stderr.strip()}")
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o664
    tpl = tmp_path / "acl.tar"
    r = gnu_tar("--format=pax", "--acls", "--numeric-owner", "-C", src, "-cf", tpl, ".")
    assert r.returncode == 0, r.stderr
    want = gnu_tar("--acls", "-tvvf", tpl).stdout
    assert "-rw-rw-r--+" in want and "group::r--" in want, want

    m = domufs.mount(tpl, cache_dir=domufs.cache_dir())
    assert stat.S_IMODE(os.stat(m.b(b"f")).st_mode) == 0o664
    assert not m.unmount()
    out = tmp_path / "out.tar"
    res = export(domufs, tpl, out)
    assert res.returncode == 0, str(res)
    with tarfile.open(out) as t:
        assert stat.S_IMODE(t.getmember("./f").mode) == 0o664
    got = gnu_tar("--acls", "-tvvf", out)
    assert got.returncode == 0 and got.stderr == "", got.stderr
    line = next(x for x in got.stdout.splitlines() if x.endswith("./f"))
    assert line.startswith("-rw-rw-r--+"), got.stdout
    acl = next(x for x in got.stdout.splitlines() if x.strip().startswith("a:"))
    for entry in ("user::rw-", "user:1000:rw-", "group::r--", "mask::rw-", "other::r--"):
        assert entry in acl, (entry, acl)

    # domufs's view of it, and GNU tar's extraction, as the original
    m = domufs.mount(out, cache_dir=domufs.cache_dir())
    assert stat.S_IMODE(os.stat(m.b(b"f")).st_mode) == 0o664
    assert os.getxattr(m.b(b"f"), "system.posix_acl_access") == \
        os.getxattr(f, "system.posix_acl_access")
    assert not m.unmount()
    x = tmp_path / "x"
    x.mkdir()
    r = gnu_tar("--acls", "-C", x, "-xf", out)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert stat.S_IMODE(os.stat(x / "f").st_mode) == 0o664
    assert os.getxattr(x / "f", "system.posix_acl_access") == os.getxattr(f, "system.posix_acl_access")


@pytest.fixture
def small_tmpfs(tmp_path):
    mnt = tmp_path / "full"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        pytest.skip(f"no tmpfs mount here: {r.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=True)


@pytest.mark.parametrize("fmt", ["tar", "tar.zst"])
def test_full_disk_says_why(fmt, small_tmpfs, domufs, tmp_path):
    tpl = pax_template(tmp_path / "big.tar", [("bigfile", os.urandom(3 << 20), 0o644, {})])
    out = small_tmpfs / f"out.{fmt}"
    res = export(domufs, tpl, out, fmt)
    assert res.returncode == 1, str(res)
    line = assert_one_error_line(res, out)
    assert "No space left on device" in line, line
    assert os.listdir(small_tmpfs) == []
