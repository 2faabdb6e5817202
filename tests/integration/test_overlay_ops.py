# SPDX-License-Identifier: LGPL-2.1-or-later
"""The writable overlay, one operation at a time: every operation behaves as
on a local filesystem, on template entries and on new ones, and its effect
survives unmount + remount.  The fidelity template (tests/data/fidelity.recipe)
is the lower layer."""

import errno
import mmap
import os
import shutil
import stat
import subprocess
import time

import fixtures as F
from overlay_helpers import (UMASK, Ovl, snapshot, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, RENAME_EXCHANGE, RENAME_NOREPLACE,
                             UTIME_NOW, UTIME_OMIT, J, expect_errno, fallocate, file_hash, ovl, read,  # noqa: F401
                             renameat2, utimensat, write_file)

HOSTNAME = b"template\n"
SMALL = b"small file\nwith two lines\n"


def tpl_bytes(extracted, archive, rel):
    """Content of a template member, from the GNU tar extraction."""
    return read(J(os.fsencode(str(extracted(archive("pax-none")))), rel))


def names(path):
    return sorted(os.listdir(path))


def lexists(path):
    return os.path.lexists(path)


# ---------------------------------------------------------------- create, write, truncate

def test_create_excl_and_trunc(ovl):
    p = ovl.p
    fd = os.open(p(b"etc/new"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    os.write(fd, b"fresh")
    os.close(fd)
    st = os.stat(p(b"etc/new"))
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_size) == (0o640, 0, 0, 5)

    wrong = []
    for rel in (b"etc/new", b"etc/hostname", b"links/dangling", b"etc", b"dev/null"):
        why = expect_errno(errno.EEXIST, os.open, p(rel), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        if why:
            wrong.append(f"O_CREAT|O_EXCL {rel!r}: {why}")
    assert not wrong, "\n".join(wrong)
    assert not lexists(p(b"does/not/exist")), "dangling symlink target was created by O_EXCL"

    # O_TRUNC on a template file empties it; O_CREAT without O_TRUNC keeps the data
    fd = os.open(p(b"etc/hostname"), os.O_WRONLY | os.O_TRUNC)
    os.close(fd)
    assert os.stat(p(b"etc/hostname")).st_size == 0
    assert read(p(b"etc/hostname")) == b""
    fd = os.open(p(b"usr/lib/small.txt"), os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"X")
    os.close(fd)
    assert read(p(b"usr/lib/small.txt")) == b"X" + SMALL[1:]
    assert stat.S_IMODE(os.stat(p(b"usr/lib/small.txt")).st_mode) == 0o444, "O_CREAT changed an existing mode"
    # O_CREAT|O_TRUNC on a template file with mode 0000 as root
    fd = os.open(p(b"perms/none"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, b"now")
    os.close(fd)

    ovl.remount()
    assert read(p(b"etc/new")) == b"fresh"
    assert stat.S_IMODE(os.stat(p(b"etc/new")).st_mode) == 0o640
    assert read(p(b"etc/hostname")) == b""
    assert read(p(b"usr/lib/small.txt")) == b"X" + SMALL[1:]
    assert read(p(b"perms/none")) == b"now"
    assert stat.S_IMODE(os.stat(p(b"perms/none")).st_mode) == 0


def test_write_append_and_holes(ovl, archive, extracted):
    p = ovl.p
    odd = tpl_bytes(extracted, archive, b"usr/lib/odd-size")
    # O_APPEND writes at the end whatever the offset
    fd = os.open(p(b"etc/hostname"), os.O_WRONLY | os.O_APPEND)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, b"more\n")
    assert os.lseek(fd, 0, os.SEEK_CUR) == len(HOSTNAME) + 5
    os.close(fd)
    # a write in the middle of a template file (copy-up keeps the rest)
    fd = os.open(p(b"usr/lib/odd-size"), os.O_RDWR)
    assert os.pwrite(fd, b"PATCH", 40000) == 5
    assert os.pread(fd, 15, 39995) == odd[39995:40000] + b"PATCH" + odd[40005:40010]
    os.close(fd)
    want_odd = odd[:40000] + b"PATCH" + odd[40005:]
    # pwrite past EOF leaves a hole of zeros, on a new file and on a template file
    fd = os.open(p(b"etc/holey"), os.O_RDWR | os.O_CREAT, 0o644)
    os.pwrite(fd, b"a", 0)
    os.pwrite(fd, b"b", (1 << 20) + 5)
    os.close(fd)
    want_holey = b"a" + bytes((1 << 20) + 4) + b"b"
    fd = os.open(p(b"usr/lib/small.txt"), os.O_WRONLY)
    os.pwrite(fd, b"tail", 3 << 20)
    os.close(fd)
    want_small = SMALL + bytes((3 << 20) - len(SMALL)) + b"tail"
    # a write through a plain write() after lseek
    fd = os.open(p(b"etc/empty"), os.O_WRONLY)
    os.lseek(fd, 10, os.SEEK_SET)
    os.write(fd, b"x")
    os.close(fd)

    def check():
        assert read(p(b"etc/hostname")) == HOSTNAME + b"more\n"
        assert read(p(b"usr/lib/odd-size")) == want_odd
        assert read(p(b"etc/holey")) == want_holey
        st = os.stat(p(b"etc/holey"))
        assert st.st_size == len(want_holey)
        assert st.st_blocks * 512 < 256 * 1024, f"pwrite past EOF allocated {st.st_blocks * 512} bytes: no hole"
        assert read(p(b"usr/lib/small.txt")) == want_small
        assert read(p(b"etc/empty")) == bytes(10) + b"x"
    check()
    ovl.remount()
    check()


def test_truncate_and_ftruncate(ovl, archive, extracted):
    p = ovl.p
    big = tpl_bytes(extracted, archive, b"usr/lib/big.bin")
    odd = tpl_bytes(extracted, archive, b"usr/lib/odd-size")
    one = tpl_bytes(extracted, archive, b"usr/lib/one-block")
    hm = tpl_bytes(extracted, archive, b"sparse/hole-middle")
    os.truncate(p(b"usr/lib/big.bin"), 1000)
    os.truncate(p(b"usr/lib/odd-size"), 100000)
    fd = os.open(p(b"usr/lib/one-block"), os.O_RDWR)
    os.ftruncate(fd, 100)
    assert os.fstat(fd).st_size == 100
    os.ftruncate(fd, 300)
    assert os.pread(fd, 1000, 0) == one[:100] + bytes(200)
    os.close(fd)
    os.truncate(p(b"sparse/hole-middle"), 1 << 20)
    fd = os.open(p(b"etc/new"), os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b"0123456789")
    os.ftruncate(fd, 4)
    os.close(fd)

    def check():
        assert read(p(b"usr/lib/big.bin")) == big[:1000]
        assert read(p(b"usr/lib/odd-size")) == odd + bytes(100000 - len(odd))
        assert read(p(b"usr/lib/one-block")) == one[:100] + bytes(200)
        assert read(p(b"sparse/hole-middle")) == hm[: 1 << 20]
        assert read(p(b"etc/new")) == b"0123"
        assert os.stat(p(b"usr/lib/big.bin")).st_size == 1000
    check()
    ovl.remount()
    check()


def test_fallocate_modes(ovl, archive, extracted, tmp_path):
    """fallocate as on a local filesystem: the same calls on a local copy give the expectation."""
    p = ovl.p
    local = tmp_path / "local"
    local.mkdir()
    shutil.copyfile(J(os.fsencode(str(extracted(archive("pax-none")))), b"usr/lib/odd-size"), local / "odd")
    calls = [("new", 0, 0, 8192), ("new", FALLOC_FL_KEEP_SIZE, 8192, 1 << 20),
             ("odd", FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 8192),
             ("odd", 0, 69000, 10000), ("odd", FALLOC_FL_KEEP_SIZE, 0, 200000)]
    paths = {"new": (p(b"etc/new"), str(local / "new")), "odd": (p(b"usr/lib/odd-size"), str(local / "odd"))}
    for path in (paths["new"]):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644))
    wrong = []
    for which, mode, off, length in calls:
        res = []
        for path in paths[which]:
            fd = os.open(path, os.O_RDWR)
            try:
                fallocate(fd, mode, off, length)
                res.append(("ok", os.fstat(fd).st_size))
            except OSError as ex:
                res.append(("err", errno.errorcode[ex.errno]))
            finally:
                os.close(fd)
        if res[0] != res[1]:
            wrong.append(f"fallocate({which}, mode={mode}, {off}, {length}): mount {res[0]}, local {res[1]}")
    fd = os.open(p(b"etc/hostname"), os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, 4096)
    finally:
        os.close(fd)
    assert not wrong, "\n".join(wrong)

    def check():
        for which, (mpath, lpath) in paths.items():
            assert read(mpath) == read(lpath), f"{which}: content differs from the local file"
            assert os.stat(mpath).st_size == os.stat(lpath).st_size
        assert read(p(b"etc/hostname")) == HOSTNAME + bytes(4096 - len(HOSTNAME))
    check()
    ovl.remount()
    check()


# ---------------------------------------------------------------- deleting

def test_unlink_hides_template_entries(ovl, archive, extracted):
    p = ovl.p
    gone = [b"etc/hostname", b"links/rel", b"dev/null", b"run/initctl", b"hard/pair1",
            b"names/with\nnewline", b"xattrs/ping", b"names/" + b"x" * 255]
    before = {d: names(p(d)) for d in {os.path.dirname(g) for g in gone}}
    for g in gone:
        os.unlink(p(g))

    def check():
        for g in gone:
            assert not lexists(p(g)), f"{g!r} still visible after unlink"
            assert expect_errno(errno.ENOENT, os.lstat, p(g)) is None
        for d, old in before.items():
            want = sorted(set(old) - {os.path.basename(g) for g in gone})
            assert names(p(d)) == want, f"listing of {d!r} after unlinks"
        assert os.stat(p(b"hard/pair2")).st_nlink == 1
        assert read(p(b"hard/pair2")) == b"pair"
    check()
    # recreating a deleted template name gives the new file, not the template's
    write_file(p(b"etc/hostname"), b"new host\n", 0o600)
    os.symlink(b"elsewhere", p(b"links/rel"))
    ovl.remount()
    gone = [g for g in gone if g not in (b"etc/hostname", b"links/rel")]
    check()
    assert read(p(b"etc/hostname")) == b"new host\n"
    assert stat.S_IMODE(os.stat(p(b"etc/hostname")).st_mode) == 0o600
    assert os.readlink(p(b"links/rel")) == b"elsewhere"
    assert os.stat(p(b"etc/hostname")).st_nlink == 1


def test_rmdir_semantics(ovl):
    p = ovl.p
    wrong = []
    for rel, code in ((b"etc", errno.ENOTEMPTY), (b"deep1", errno.ENOTEMPTY), (b"etc/hostname", errno.ENOTDIR),
                      (b"nonexistent", errno.ENOENT), (b"links/dir", errno.ENOTDIR)):
        why = expect_errno(code, os.rmdir, p(rel))
        if why:
            wrong.append(f"rmdir {rel!r}: {why}")
    os.rmdir(p(b"emptydir"))
    # a template directory whose only entries were deleted counts as empty
    os.unlink(p(b"perms/readonly-dir/inner"))
    os.rmdir(p(b"perms/readonly-dir"))
    # ... but not while one entry remains
    for n in (b"plain", b"binary", b"long", b"empty-value", b"ping"):
        os.unlink(p(b"xattrs/" + n))
    why = expect_errno(errno.ENOTEMPTY, os.rmdir, p(b"xattrs"))
    if why:
        wrong.append(f"rmdir xattrs with xattrs/dir and caps-many left: {why}")
    os.unlink(p(b"xattrs/caps-many"))
    os.rmdir(p(b"xattrs/dir"))
    os.rmdir(p(b"xattrs"))
    shutil.rmtree(p(b"deep2"))
    assert not wrong, "\n".join(wrong)
    # recreated directories are empty, with their own metadata
    os.mkdir(p(b"perms/readonly-dir"), 0o700)
    os.mkdir(p(b"xattrs"))
    os.mkdir(p(b"xattrs/dir"), 0o750)
    os.mkdir(p(b"deep2"))
    os.rmdir(p(b"acl/default-dir"))
    os.mkdir(p(b"acl/default-dir"), 0o755)

    def check():
        for rel in (b"emptydir",):
            assert not lexists(p(rel))
        for rel, mode in ((b"perms/readonly-dir", 0o700), (b"xattrs", 0o755), (b"xattrs/dir", 0o750),
                          (b"deep2", 0o755), (b"acl/default-dir", 0o755)):
            st = os.lstat(p(rel))
            assert stat.S_ISDIR(st.st_mode), rel
            assert stat.S_IMODE(st.st_mode) == mode, f"{rel!r}: mode {oct(st.st_mode)}"
        assert names(p(b"perms/readonly-dir")) == []
        assert names(p(b"xattrs")) == [b"dir"]
        assert names(p(b"xattrs/dir")) == []
        assert names(p(b"deep2")) == []
        assert os.listxattr(p(b"xattrs/dir")) == [], "recreated dir shows the template dir's xattrs"
        assert os.listxattr(p(b"acl/default-dir")) == [], "recreated dir shows the template dir's ACLs"
        assert not lexists(p(b"perms/readonly-dir/inner"))
        assert b"emptydir" not in names(p(b""))
    check()
    ovl.remount()
    check()


# ---------------------------------------------------------------- renaming

def test_rename_template_directories(ovl, archive, extracted):
    p = ovl.p
    big = file_hash(J(os.fsencode(str(extracted(archive("pax-none")))), b"usr/lib/big.bin"))
    lib_names = names(p(b"usr/lib"))
    deep_leaf = b"d23456789/" * 120 + b"leaf"
    os.rename(p(b"deep1"), p(b"moved-deep"))        # no EXDEV
    os.rename(p(b"usr/lib"), p(b"lib2"))
    os.mkdir(p(b"usr/lib"))                          # a new dir at the old name is empty
    os.rename(p(b"hard"), p(b"etc/hard-moved"))
    os.rename(p(b"etc"), p(b"usr/etc-moved"))
    write_file(p(b"usr/etc-moved/added"), b"added")
    os.rename(p(b"usr/etc-moved"), p(b"etc"))       # and back
    os.rename(p(b"names"), p(b"emptydir/names"))    # into a template dir

    def check():
        assert not lexists(p(b"deep1"))
        assert read(p(b"moved-deep/" + deep_leaf)) == b"deep-one"
        assert names(p(b"lib2")) == lib_names
        assert file_hash(p(b"lib2/big.bin")) == big
        assert names(p(b"usr/lib")) == []
        assert sorted(names(p(b"etc"))) == sorted([b"added", b"empty", b"hard-moved", b"hostname"])
        assert read(p(b"etc/hostname")) == HOSTNAME
        assert read(p(b"etc/added")) == b"added"
        a, b, c = (os.stat(p(x)) for x in (b"etc/hard-moved/a", b"etc/hard-moved/sub/b", b"other/c"))
        assert a.st_ino == b.st_ino == c.st_ino and a.st_nlink == 3
        assert read(p(b"other/c")) == b"linked content\n"
        assert read(p(b"emptydir/names/with space")) == b"space"
        assert not lexists(p(b"names"))
        # the hardlink that spans the moved deep1 and the moved hard/
        dl = os.stat(p(b"etc/hard-moved/deep-link"))
        assert dl.st_ino == os.stat(p(b"moved-deep/" + deep_leaf)).st_ino and dl.st_nlink == 2
    check()
    ovl.remount()
    check()


def test_rename_over_existing_targets(ovl):
    p = ovl.p
    wrong = []
    os.rename(p(b"etc/hostname"), p(b"usr/lib/small.txt"))                   # template over template
    write_file(p(b"etc/new"), b"new")
    os.rename(p(b"etc/new"), p(b"usr/lib/one-block"))                         # new over template
    write_file(p(b"etc/new2"), b"new2")
    os.rename(p(b"times/epoch"), p(b"etc/new2"))                              # template over new
    os.rename(p(b"usr/bin"), p(b"emptydir"))                                  # dir over empty template dir
    os.unlink(p(b"perms/readonly-dir/inner"))
    os.rename(p(b"times"), p(b"perms/readonly-dir"))                          # over an emptied template dir
    os.rename(p(b"hard/a"), p(b"hard/sub/b"))                                 # same inode: a no-op
    os.rename(p(b"etc/empty"), p(b"etc/empty"))                               # onto itself: a no-op
    for src, dst, code in ((b"acl", b"etc", errno.ENOTEMPTY), (b"etc/empty", b"acl", errno.EISDIR),
                           (b"acl", b"etc/empty", errno.ENOTDIR), (b"acl", b"acl/default-dir/x", errno.EINVAL),
                           (b"missing", b"etc/x", errno.ENOENT)):
        why = expect_errno(code, os.rename, p(src), p(dst))
        if why:
            wrong.append(f"rename {src!r} -> {dst!r}: {why}")
    assert not wrong, "\n".join(wrong)

    def check():
        assert not lexists(p(b"etc/hostname"))
        assert read(p(b"usr/lib/small.txt")) == HOSTNAME
        assert read(p(b"usr/lib/one-block")) == b"new"
        assert read(p(b"etc/new2")) == b"t" and not lexists(p(b"times/epoch"))
        assert os.stat(p(b"etc/new2")).st_mtime_ns == 0
        assert not lexists(p(b"usr/bin"))
        assert sorted(names(p(b"emptydir"))) == sorted([b"su", b"wall", b"everything", b"sticky-file"])
        assert stat.S_IMODE(os.stat(p(b"emptydir/su")).st_mode) == 0o4755
        assert sorted(names(p(b"perms/readonly-dir"))) == sorted([b"nanoseconds", b"before-epoch", b"far-future"])
        assert os.stat(p(b"hard/a")).st_ino == os.stat(p(b"hard/sub/b")).st_ino
        assert os.stat(p(b"hard/a")).st_nlink == 3
        assert read(p(b"etc/empty")) == b""
    check()
    ovl.remount()
    check()


def test_rename_noreplace_and_exchange(ovl):
    p = ovl.p
    wrong = []
    why = expect_errno(errno.EEXIST, renameat2, p(b"etc/hostname"), p(b"etc/empty"), RENAME_NOREPLACE)
    if why:
        wrong.append(f"RENAME_NOREPLACE onto an existing template file: {why}")
    why = expect_errno(errno.EEXIST, renameat2, p(b"emptydir"), p(b"etc"), RENAME_NOREPLACE)
    if why:
        wrong.append(f"RENAME_NOREPLACE of a dir onto an existing dir: {why}")
    renameat2(p(b"etc/hostname"), p(b"etc/hostname2"), RENAME_NOREPLACE)
    write_file(p(b"etc/new"), b"new content")
    renameat2(p(b"etc/new"), p(b"usr/lib/small.txt"), RENAME_EXCHANGE)        # new <-> template file
    renameat2(p(b"emptydir"), p(b"etc/empty"), RENAME_EXCHANGE)               # dir <-> file
    renameat2(p(b"acl"), p(b"owners"), RENAME_EXCHANGE)                       # dir <-> dir (template)
    why = expect_errno(errno.ENOENT, renameat2, p(b"etc/hostname2"), p(b"etc/missing"), RENAME_EXCHANGE)
    if why:
        wrong.append(f"RENAME_EXCHANGE with a missing target: {why}")
    assert not wrong, "\n".join(wrong)

    def check():
        assert read(p(b"etc/hostname2")) == HOSTNAME and not lexists(p(b"etc/hostname"))
        assert read(p(b"etc/new")) == SMALL
        assert read(p(b"usr/lib/small.txt")) == b"new content"
        assert stat.S_ISDIR(os.lstat(p(b"etc/empty")).st_mode)
        assert stat.S_IMODE(os.lstat(p(b"etc/empty")).st_mode) == 0o710
        assert stat.S_ISREG(os.lstat(p(b"emptydir")).st_mode)
        assert sorted(names(p(b"acl"))) == sorted([b"odd", b"odd-dir", b"nobody", b"huge-ids", b"odd-link"])
        assert sorted(names(p(b"owners"))) == sorted([b"file", b"default-dir", b"acl-and-xattr"])
        assert os.stat(p(b"acl/odd")).st_uid == 1234
    check()
    ovl.remount()
    check()


# ---------------------------------------------------------------- creating other types

def test_link_to_template_entries(ovl):
    p = ovl.p
    os.link(p(b"etc/hostname"), p(b"etc/hn-link"))                # to a template file
    os.link(p(b"links/rel"), p(b"etc/symlink-link"))              # to a symlink (not followed)
    os.link(p(b"dev/tty0"), p(b"etc/tty-link"))                   # to a device node
    why = expect_errno(errno.EPERM, os.link, p(b"etc"), p(b"etc-link"))
    assert why is None, f"link of a directory: {why}"
    write_file(p(b"etc/new"), b"n")
    os.link(p(b"etc/new"), p(b"usr/new-link"))
    with open(p(b"etc/hn-link"), "ab") as f:
        f.write(b"via link\n")

    def check():
        h, l = os.stat(p(b"etc/hostname")), os.stat(p(b"etc/hn-link"))
        assert h.st_ino == l.st_ino and h.st_nlink == l.st_nlink == 2
        assert read(p(b"etc/hostname")) == HOSTNAME + b"via link\n"
        assert os.readlink(p(b"etc/symlink-link")) == b"../etc/hostname"
        assert os.lstat(p(b"etc/symlink-link")).st_ino == os.lstat(p(b"links/rel")).st_ino
        assert os.lstat(p(b"links/rel")).st_nlink == 2
        t = os.lstat(p(b"etc/tty-link"))
        assert stat.S_ISCHR(t.st_mode) and t.st_rdev == os.makedev(4, 0) and t.st_nlink == 2
        assert t.st_ino == os.lstat(p(b"dev/tty0")).st_ino
        assert os.stat(p(b"usr/new-link")).st_ino == os.stat(p(b"etc/new")).st_ino
        assert os.stat(p(b"etc/new")).st_nlink == 2
    check()
    ovl.remount()
    check()


def test_link_to_template_hardlink_groups(ovl):
    """A new name for a member of a template hardlink group joins the group."""
    p = ovl.p
    os.link(p(b"hard/pair1"), p(b"etc/pair3"))                    # group of 2 in one directory
    os.link(p(b"hard/deep-link"), p(b"etc/deep3"))                # group of 2 in distant directories
    os.link(p(b"hard/a"), p(b"etc/a4"))                           # group of 3 in 3 directories

    def check():
        for grp, n in (([b"hard/pair1", b"hard/pair2", b"etc/pair3"], 3),
                       ([b"hard/deep-link", b"etc/deep3"], 3),
                       ([b"hard/a", b"hard/sub/b", b"other/c", b"etc/a4"], 4)):
            sts = [os.stat(p(x)) for x in grp]
            assert len({s.st_ino for s in sts}) == 1, grp
            assert [s.st_nlink for s in sts] == [n] * len(grp), f"{grp}: nlink {[s.st_nlink for s in sts]}"
    check()
    ovl.remount()
    check()


def test_symlink_and_mknod(ovl):
    p = ovl.p
    target = b"some/where with space\nand newline \xe9"
    os.symlink(target, p(b"etc/sym"))
    os.symlink(b"/etc/passwd", p(b"links/new-abs"))
    os.mknod(p(b"etc/chr"), stat.S_IFCHR | 0o620, os.makedev(1, 3))
    os.mknod(p(b"etc/blk"), stat.S_IFBLK | 0o640, os.makedev(259, 1048575))
    os.mkfifo(p(b"etc/fifo"), 0o600)
    os.mknod(p(b"etc/sock"), stat.S_IFSOCK | 0o644)
    os.mknod(p(b"dev/zero"), stat.S_IFCHR | 0o666, os.makedev(1, 5))

    def check():
        assert os.readlink(p(b"etc/sym")) == target
        assert os.lstat(p(b"etc/sym")).st_size == len(target)
        assert os.readlink(p(b"links/new-abs")) == b"/etc/passwd"
        c = os.lstat(p(b"etc/chr"))
        assert stat.S_ISCHR(c.st_mode) and c.st_rdev == os.makedev(1, 3)
        assert stat.S_IMODE(c.st_mode) == 0o620 & ~UMASK
        b = os.lstat(p(b"etc/blk"))
        assert stat.S_ISBLK(b.st_mode) and b.st_rdev == os.makedev(259, 1048575)
        assert stat.S_IMODE(b.st_mode) == 0o640 & ~UMASK
        assert stat.S_ISFIFO(os.lstat(p(b"etc/fifo")).st_mode)
        assert stat.S_IMODE(os.lstat(p(b"etc/fifo")).st_mode) == 0o600 & ~UMASK
        assert stat.S_ISSOCK(os.lstat(p(b"etc/sock")).st_mode)
        z = os.lstat(p(b"dev/zero"))
        assert stat.S_ISCHR(z.st_mode) and z.st_rdev == os.makedev(1, 5) and stat.S_IMODE(z.st_mode) == 0o666 & ~UMASK
        assert sorted(names(p(b"dev"))) == sorted([b"null", b"tty0", b"sda", b"big-minor", b"zero"])
    check()
    ovl.remount()
    check()


# ---------------------------------------------------------------- metadata

def test_chmod_chown_utimens(ovl):
    p = ovl.p
    os.chmod(p(b"etc/hostname"), 0o600)
    os.chmod(p(b"tmp"), 0o700)
    write_file(p(b"etc/new"), b"x", 0o644)
    os.chmod(p(b"etc/new"), 0o4711)
    os.chown(p(b"owners/odd"), 42, 43)
    os.chown(p(b"etc/empty"), -1, 77)
    os.chown(p(b"usr/bin/su"), 0, 0)              # chown clears setuid, as on a local fs
    os.lchown(p(b"links/abs"), 5, 6)              # the link, not /etc/hostname
    os.chown(p(b"emptydir"), 1000, 1000)
    # explicit times, atime > mtime so that reads cannot move atime
    os.utime(p(b"etc/hostname"), ns=(2_000_000_000_123456789, 1_000_000_000_987654321))
    utimensat(p(b"usr/lib/small.txt"), UTIME_OMIT, 1_500_000_000_000000001)
    small_atime = os.stat(p(b"usr/lib/small.txt")).st_atime_ns
    t0 = time.time_ns() - 20_000_000
    utimensat(p(b"usr/lib/one-block"), 3_000_000_000_000000003, UTIME_NOW)
    utimensat(p(b"times/epoch"), UTIME_NOW, UTIME_OMIT)
    t1 = time.time_ns() + 20_000_000
    utimensat(p(b"links/rel"), 1, 7_000_000_000, follow=False)
    os.utime(p(b"emptydir"), ns=(12345, 67890))
    assert os.stat(p(b"usr/lib/small.txt")).st_atime_ns == small_atime

    def check(live):
        def mode(rel):
            return stat.S_IMODE(os.lstat(p(rel)).st_mode)
        assert mode(b"etc/hostname") == 0o600
        assert mode(b"tmp") == 0o700
        assert mode(b"etc/new") == 0o4711
        assert (os.stat(p(b"owners/odd")).st_uid, os.stat(p(b"owners/odd")).st_gid) == (42, 43)
        assert mode(b"owners/odd") == 0o640
        assert (os.stat(p(b"etc/empty")).st_uid, os.stat(p(b"etc/empty")).st_gid) == (0, 77)
        assert mode(b"usr/bin/su") == 0o755, "chown did not clear the setuid bit"
        ls = os.lstat(p(b"links/abs"))
        assert (ls.st_uid, ls.st_gid) == (5, 6)
        assert (os.stat(p(b"emptydir")).st_uid, mode(b"emptydir")) == (1000, 0o710)
        h = os.stat(p(b"etc/hostname"))
        assert (h.st_atime_ns, h.st_mtime_ns) == (2_000_000_000_123456789, 1_000_000_000_987654321)
        s = os.stat(p(b"usr/lib/small.txt"))
        assert s.st_mtime_ns == 1_500_000_000_000000001
        o = os.stat(p(b"usr/lib/one-block"))
        assert o.st_atime_ns == 3_000_000_000_000000003
        assert t0 <= o.st_mtime_ns <= t1, f"UTIME_NOW mtime {o.st_mtime_ns} not in [{t0}, {t1}]"
        e = os.stat(p(b"times/epoch"))
        assert e.st_mtime_ns == 0, "UTIME_OMIT changed mtime"
        if live:
            assert t0 <= e.st_atime_ns <= t1
        r = os.lstat(p(b"links/rel"))
        assert (r.st_atime_ns, r.st_mtime_ns) == (1, 7_000_000_000)
        assert os.stat(p(b"etc/hostname")).st_mtime_ns == 1_000_000_000_987654321, "lutimes followed the link"
        assert os.stat(p(b"emptydir")).st_mtime_ns == 67890
    check(True)
    ovl.remount()
    check(False)


def test_xattrs_every_namespace_and_acls(ovl, tmp_path):
    p = ovl.p
    wrong = []
    f = p(b"etc/hostname")
    for name in ("user.a", "trusted.b", "security.c"):
        os.setxattr(f, name, b"v-" + name.encode())
    for name, flags, code in (("user.a", os.XATTR_CREATE, errno.EEXIST), ("user.none", os.XATTR_REPLACE, errno.ENODATA)):
        why = expect_errno(code, os.setxattr, f, name, b"x", flags)
        if why:
            wrong.append(f"setxattr {name} flags {flags}: {why}")
    os.setxattr(f, "user.a", b"replaced", os.XATTR_REPLACE)
    why = expect_errno(errno.ENODATA, os.removexattr, f, "user.none")
    if why:
        wrong.append(f"removexattr of a missing name: {why}")
    why = expect_errno(errno.ENODATA, os.getxattr, f, "user.none")
    if why:
        wrong.append(f"getxattr of a missing name: {why}")
    os.setxattr(p(b"xattrs/binary"), "user.bin", b"\x00\xff" * 1000)
    os.removexattr(p(b"xattrs/long"), "user.long")
    os.removexattr(p(b"xattrs/binary"), "trusted.zero")
    os.setxattr(p(b"xattrs/dir"), "security.dirattr", b"s")
    os.removexattr(p(b"xattrs/dir"), "user.on-dir")
    os.setxattr(p(b"links/rel"), "trusted.on-link", b"L", follow_symlinks=False)
    assert not wrong, "\n".join(wrong)

    # ACLs: the same setfacl commands on a local twin give the expected getfacl output
    local = tmp_path / "local"
    local.mkdir()
    (local / "file").write_bytes(b"x")
    (local / "dir").mkdir()
    write_file(p(b"etc/aclfile"), b"x")
    os.mkdir(p(b"etc/acldir"))
    cmds = [("file", ["-m", "u:1234:rwx,g:5678:r--"]), ("dir", ["-d", "-m", "u:1234:rwx,g::r-x"]),
            ("file", ["-x", "g:5678"])]
    targets = {"file": (p(b"etc/aclfile"), str(local / "file")), "dir": (p(b"etc/acldir"), str(local / "dir"))}
    for t, args in cmds:
        for path in targets[t]:
            subprocess.run(["setfacl", *args, path], check=True)
    for path in (p(b"etc/acldir/inherits"), str(local / "dir" / "inherits")):
        write_file(path, b"i", 0o666)
    subprocess.run(["setfacl", "-m", "u:65534:r", p(b"acl/file")], check=True)       # template file with an ACL
    subprocess.run(["setfacl", "-k", p(b"acl/default-dir")], check=True)             # drop its default ACL
    want_acl_file = subprocess.run(["getfacl", "-n", "--omit-header", p(b"acl/file")],
                                   stdout=subprocess.PIPE, check=True).stdout

    def getfacl(path):
        return subprocess.run(["getfacl", "-n", "--omit-header", path], stdout=subprocess.PIPE, check=True).stdout

    def check():
        assert os.getxattr(f, "user.a") == b"replaced"
        assert os.getxattr(f, "trusted.b") == b"v-trusted.b"
        assert os.getxattr(f, "security.c") == b"v-security.c"
        assert {"user.a", "trusted.b", "security.c"} <= set(os.listxattr(f))
        assert os.getxattr(p(b"xattrs/binary"), "user.bin") == b"\x00\xff" * 1000
        assert "user.long" not in os.listxattr(p(b"xattrs/long"))
        assert "trusted.zero" not in os.listxattr(p(b"xattrs/binary"))
        assert set(os.listxattr(p(b"xattrs/dir"))) == {"trusted.dir", "security.dirattr"}
        assert os.getxattr(p(b"links/rel"), "trusted.on-link", follow_symlinks=False) == b"L"
        assert "trusted.on-link" not in os.listxattr(p(b"etc/hostname")), "xattr on the link went to its target"
        for t, (mpath, lpath) in targets.items():
            assert getfacl(mpath) == getfacl(lpath), f"ACL of {t} differs from the local twin"
            assert stat.S_IMODE(os.stat(mpath).st_mode) == stat.S_IMODE(os.stat(lpath).st_mode)
        ipath = (p(b"etc/acldir/inherits"), str(local / "dir" / "inherits"))
        assert getfacl(ipath[0]) == getfacl(ipath[1]), "default ACL not inherited as on a local fs"
        assert stat.S_IMODE(os.stat(ipath[0]).st_mode) == stat.S_IMODE(os.stat(ipath[1]).st_mode)
        assert getfacl(p(b"acl/file")) == want_acl_file
        assert b"user:65534:r--" in want_acl_file
        assert b"default" not in getfacl(p(b"acl/default-dir"))
    check()
    ovl.remount()
    check()


def test_fsync_and_fsyncdir(ovl):
    p = ovl.p
    fd = os.open(p(b"etc/new"), os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b"synced")
    os.fsync(fd)
    os.fdatasync(fd)
    os.close(fd)
    fd = os.open(p(b"etc/hostname"), os.O_RDWR)
    os.pwrite(fd, b"T", 0)
    os.fsync(fd)
    os.close(fd)
    fd = os.open(p(b"usr/lib/small.txt"), os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    for d in (b"etc", b"", b"deep1", b"usr/lib"):
        dfd = os.open(p(d), os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(dfd)
        os.fdatasync(dfd)
        os.close(dfd)
    os.sync()
    ovl.remount()
    assert read(p(b"etc/new")) == b"synced"
    assert read(p(b"etc/hostname")) == b"T" + HOSTNAME[1:]
    assert read(p(b"usr/lib/small.txt")) == SMALL


def test_open_then_unlink_keeps_file_usable(ovl, archive, extracted):
    p = ovl.p
    big = tpl_bytes(extracted, archive, b"usr/lib/big.bin")
    odd = tpl_bytes(extracted, archive, b"usr/lib/odd-size")
    fd_new = os.open(p(b"etc/new"), os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd_new, b"before ")
    fd_ro = os.open(p(b"usr/lib/big.bin"), os.O_RDONLY)           # template file, not copied up
    fd_rw = os.open(p(b"usr/lib/odd-size"), os.O_RDWR)            # template file opened for writing
    fd_over = os.open(p(b"etc/empty"), os.O_RDONLY)
    os.unlink(p(b"etc/new"))
    os.unlink(p(b"usr/lib/big.bin"))
    os.unlink(p(b"usr/lib/odd-size"))
    write_file(p(b"etc/replacement"), b"repl")
    os.rename(p(b"etc/replacement"), p(b"etc/empty"))             # replaces an open file
    checks = [
        ("write to unlinked new file", lambda: os.write(fd_new, b"after"), 5),
        ("read unlinked new file", lambda: os.pread(fd_new, 100, 0), b"before after"),
        ("fstat unlinked new file", lambda: (os.fstat(fd_new).st_nlink, os.fstat(fd_new).st_size), (0, 12)),
        ("ftruncate unlinked new file", lambda: (os.ftruncate(fd_new, 6), os.pread(fd_new, 100, 0))[1], b"before"),
        ("fchmod unlinked new file", lambda: (os.fchmod(fd_new, 0o600), stat.S_IMODE(os.fstat(fd_new).st_mode))[1],
         0o600),
        ("read unlinked template file", lambda: os.pread(fd_ro, len(big) + 1, 0) == big, True),
        ("fstat unlinked template file", lambda: (os.fstat(fd_ro).st_nlink, os.fstat(fd_ro).st_size), (0, len(big))),
        ("write unlinked template file", lambda: (os.pwrite(fd_rw, b"ZZ", 0), os.pread(fd_rw, 2, 0)), (2, b"ZZ")),
        ("fstat unlinked written template file", lambda: os.fstat(fd_rw).st_size, 70001),
        ("ftruncate unlinked template file", lambda: (os.ftruncate(fd_rw, 3), os.pread(fd_rw, 10, 0))[1],
         b"ZZ" + odd[2:3]),
        ("read file replaced by rename", lambda: os.pread(fd_over, 10, 0), b""),
    ]
    wrong = []
    try:
        for what, fn, want in checks:
            try:
                got = fn()
            except OSError as ex:
                got = f"error {errno.errorcode[ex.errno]}"
            if got != want:
                wrong.append(f"{what}: got {got!r}, expected {want!r}")
        if read(p(b"etc/empty")) != b"repl":
            wrong.append("the rename target does not show the new file")
        for rel in (b"etc/new", b"usr/lib/big.bin", b"usr/lib/odd-size"):
            if lexists(p(rel)):
                wrong.append(f"{rel!r} visible after unlink")
    finally:
        for fd in (fd_new, fd_ro, fd_rw, fd_over):
            os.close(fd)
    assert not wrong, "\n".join(wrong)
    lib = names(p(b"usr/lib"))
    etc = names(p(b"etc"))
    ovl.remount()
    assert names(p(b"usr/lib")) == lib == sorted([b"small.txt", b"one-block"])
    assert names(p(b"etc")) == etc == sorted([b"hostname", b"empty"])
    assert read(p(b"etc/empty")) == b"repl"


def test_shared_writable_mmap(ovl, archive, extracted):
    p = ovl.p
    odd = bytearray(tpl_bytes(extracted, archive, b"usr/lib/odd-size"))
    fd = os.open(p(b"usr/lib/odd-size"), os.O_RDWR)
    mm = mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    mm[0:4] = b"MMAP"
    mm[65536:65541] = b"PAGES"
    mm[-3:] = b"END"
    mm.flush()
    odd[0:4] = b"MMAP"
    odd[65536:65541] = b"PAGES"
    odd[-3:] = b"END"
    fd2 = os.open(p(b"usr/lib/odd-size"), os.O_RDONLY)
    assert os.pread(fd2, len(odd) + 1, 0) == bytes(odd), "msync'd data not visible through another fd"
    os.close(fd2)
    mm.close()
    os.close(fd)
    # a new file, grown with ftruncate and written through the map only
    fd = os.open(p(b"etc/mapped"), os.O_RDWR | os.O_CREAT, 0o644)
    os.ftruncate(fd, 3 * 4096)
    mm = mmap.mmap(fd, 3 * 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    for i in range(3):
        mm[i * 4096:i * 4096 + 6] = b"page%d\n" % i
    mm.flush()
    mm.close()
    os.close(fd)
    want_new = b"".join(b"page%d\n" % i + bytes(4090) for i in range(3))
    assert read(p(b"etc/mapped")) == want_new
    assert read(p(b"usr/lib/odd-size")) == bytes(odd)
    ovl.remount()
    assert read(p(b"etc/mapped")) == want_new
    assert read(p(b"usr/lib/odd-size")) == bytes(odd)


# ---------------------------------------------------------------- hardlinks

def test_hardlinks_stay_one_file(ovl):
    p = ovl.p
    group = [b"hard/a", b"hard/sub/b", b"other/c"]
    ino0 = os.stat(p(b"hard/a")).st_ino
    os.makedirs(p(b"elsewhere"))
    os.rename(p(b"hard/sub/b"), p(b"elsewhere/b2"))
    group[1] = b"elsewhere/b2"
    with open(p(b"other/c"), "ab") as f:
        f.write(b"appended via c\n")
    os.chmod(p(b"hard/a"), 0o600)
    os.chown(p(b"elsewhere/b2"), 77, 88)
    os.setxattr(p(b"elsewhere/b2"), "user.via", b"b2")
    os.link(p(b"other/c"), p(b"etc/d4"))
    group.append(b"etc/d4")
    # pair: the first write goes through the second name
    with open(p(b"hard/pair2"), "r+b") as f:
        f.write(b"PA")
    os.chmod(p(b"hard/deep-link"), 0o700)
    deep_leaf = b"deep1/" + b"d23456789/" * 120 + b"leaf"

    def check(ino_expected):
        sts = [os.stat(p(x)) for x in group]
        desc = [(x, s.st_ino, s.st_nlink, oct(s.st_mode), s.st_uid, s.st_gid) for x, s in zip(group, sts)]
        assert len({s.st_ino for s in sts}) == 1, f"names of one file have different inodes: {desc}"
        assert all(s.st_nlink == 4 for s in sts), f"nlink: {desc}"
        assert all(stat.S_IMODE(s.st_mode) == 0o600 and (s.st_uid, s.st_gid) == (77, 88) for s in sts), desc
        for x in group:
            assert read(p(x)) == b"linked content\nappended via c\n", x
            assert os.getxattr(p(x), "user.via") == b"b2", x
            assert os.getxattr(p(x), "user.linked") == b"yes", x
        if ino_expected is not None:
            assert sts[0].st_ino == ino_expected, "inode number of a copied-up template file changed"
        p1, p2 = os.stat(p(b"hard/pair1")), os.stat(p(b"hard/pair2"))
        assert p1.st_ino == p2.st_ino and p1.st_nlink == p2.st_nlink == 2
        assert read(p(b"hard/pair1")) == read(p(b"hard/pair2")) == b"PAir"
        d1, d2 = os.stat(p(b"hard/deep-link")), os.stat(p(deep_leaf))
        assert d1.st_ino == d2.st_ino and stat.S_IMODE(d2.st_mode) == 0o700 and d2.st_nlink == 2
    check(ino0)
    os.unlink(p(b"other/c"))
    group.remove(b"other/c")
    os.link(p(b"etc/d4"), p(b"other/c-again"))
    group.append(b"other/c-again")
    check(ino0)
    ino1 = os.stat(p(b"hard/a")).st_ino
    ovl.remount()
    check(ino1)


def test_hardlink_group_written_and_unlinked_in_place(ovl):
    """The template group hard/a, hard/sub/b, other/c (three directories):
    the first write goes straight through one name, a chmod through another;
    then one name is unlinked."""
    p = ovl.p
    group = [b"hard/a", b"hard/sub/b", b"other/c"]
    wrong = []
    try:
        with open(p(b"hard/sub/b"), "ab") as f:
            f.write(b"+b")
    except OSError as ex:
        wrong.append(f"append through hard/sub/b: {ex}")
    try:
        os.chmod(p(b"other/c"), 0o604)
    except OSError as ex:
        wrong.append(f"chmod through other/c: {ex}")
    try:
        os.unlink(p(b"hard/a"))
        group.remove(b"hard/a")
    except OSError as ex:
        wrong.append(f"unlink hard/a: {ex}")

    def check(when):
        sts = {x: os.stat(p(x)) for x in group}
        seen = {x: (s.st_ino, s.st_nlink, oct(s.st_mode), read(p(x))) for x, s in sts.items()}
        want_content = b"linked content\n+b"
        if len({s.st_ino for s in sts.values()}) != 1 or {s.st_nlink for s in sts.values()} != {len(group)} \
                or {stat.S_IMODE(s.st_mode) for s in sts.values()} != {0o604} \
                or {read(p(x)) for x in group} != {want_content}:
            wrong.append(f"{when}: names (ino, nlink, mode, content) {seen}; expected one inode, nlink "
                         f"{len(group)}, mode 0o604, {want_content!r}")
    check("live")
    ovl.remount()
    check("after remount")
    assert not wrong, "\n".join(wrong)


def test_hardlinks_survive_renaming_their_directory(ovl):
    """Renaming the template directory that holds a hardlink group, then
    writing through one name: every name still shows the one file."""
    p = ovl.p
    os.rename(p(b"hard"), p(b"hard-moved"))
    with open(p(b"hard-moved/pair2"), "ab") as f:
        f.write(b"+more")
    os.chmod(p(b"hard-moved/pair1"), 0o600)
    with open(p(b"hard-moved/deep-link"), "ab") as f:
        f.write(b"+deep")
    deep_leaf = b"deep1/" + b"d23456789/" * 120 + b"leaf"

    def check():
        p1, p2 = os.stat(p(b"hard-moved/pair1")), os.stat(p(b"hard-moved/pair2"))
        got = [(x, read(p(b"hard-moved/" + x)), os.stat(p(b"hard-moved/" + x)).st_nlink,
                oct(os.stat(p(b"hard-moved/" + x)).st_mode)) for x in (b"pair1", b"pair2")]
        assert p1.st_ino == p2.st_ino, got
        assert read(p(b"hard-moved/pair1")) == read(p(b"hard-moved/pair2")) == b"pair+more", got
        assert p1.st_nlink == p2.st_nlink == 2, got
        assert stat.S_IMODE(p1.st_mode) == stat.S_IMODE(p2.st_mode) == 0o600, got
        d1, d2 = os.stat(p(b"hard-moved/deep-link")), os.stat(p(deep_leaf))
        assert d1.st_ino == d2.st_ino and d1.st_nlink == d2.st_nlink == 2
        assert read(p(deep_leaf)) == b"deep-one+deep"
    check()
    ovl.remount()
    check()


# ---------------------------------------------------------------- error codes and long paths

def test_error_codes(ovl):
    p = ovl.p
    os.mkdir(p(b"etc/newdir"))
    os.unlink(p(b"etc/empty"))
    os.symlink(b"loop", p(b"etc/loop"))
    long = b"n" * 256
    ok255 = b"m" * 255

    def creat(path, flags=os.O_WRONLY | os.O_CREAT):
        os.close(os.open(path, flags, 0o644))

    cases = [
        (errno.EEXIST, "mkdir template dir", os.mkdir, p(b"etc")),
        (errno.EEXIST, "mkdir new dir twice", os.mkdir, p(b"etc/newdir")),
        (errno.EEXIST, "mkdir over template file", os.mkdir, p(b"etc/hostname")),
        (errno.EEXIST, "symlink over template symlink", os.symlink, b"x", p(b"links/rel")),
        (errno.EEXIST, "link onto existing", os.link, p(b"etc/hostname"), p(b"usr/lib/small.txt")),
        (errno.EEXIST, "mknod over existing", os.mkfifo, p(b"run/initctl")),
        (errno.EEXIST, "O_EXCL on template file", creat, p(b"etc/hostname"), os.O_WRONLY | os.O_CREAT | os.O_EXCL),
        (errno.ENOENT, "open deleted template file", os.open, p(b"etc/empty"), os.O_RDONLY),
        (errno.ENOENT, "stat deleted template file", os.lstat, p(b"etc/empty")),
        (errno.ENOENT, "create in missing dir", creat, p(b"nodir/file")),
        (errno.ENOENT, "mkdir in missing dir", os.mkdir, p(b"nodir/sub")),
        (errno.ENOENT, "unlink missing", os.unlink, p(b"etc/missing")),
        (errno.ENOENT, "unlink deleted", os.unlink, p(b"etc/empty")),
        (errno.ENOENT, "rename missing", os.rename, p(b"etc/missing"), p(b"etc/x")),
        (errno.ENOENT, "link from missing", os.link, p(b"etc/missing"), p(b"etc/x")),
        (errno.ENOENT, "rmdir missing", os.rmdir, p(b"etc/missing")),
        (errno.ENOENT, "follow dangling symlink", os.stat, p(b"links/dangling")),
        (errno.ENOTDIR, "open below a file", os.open, p(b"etc/hostname/x"), os.O_RDONLY),
        (errno.ENOTDIR, "create below a file", creat, p(b"etc/hostname/x")),
        (errno.ENOTDIR, "mkdir below a file", os.mkdir, p(b"etc/hostname/x")),
        (errno.ENOTDIR, "rmdir of a file", os.rmdir, p(b"etc/hostname")),
        (errno.ENOTDIR, "O_DIRECTORY on a file", os.open, p(b"etc/hostname"), os.O_RDONLY | os.O_DIRECTORY),
        (errno.ENOTDIR, "rename dir onto file", os.rename, p(b"emptydir"), p(b"etc/hostname")),
        (errno.ENOTDIR, "listdir of a file", os.listdir, p(b"etc/hostname")),
        (errno.EISDIR, "open dir for writing", os.open, p(b"etc"), os.O_WRONLY),
        (errno.EISDIR, "open dir O_RDWR", os.open, p(b"etc/newdir"), os.O_RDWR),
        (errno.EISDIR, "rename file onto dir", os.rename, p(b"etc/hostname"), p(b"emptydir")),
        (errno.EISDIR, "unlink a dir", os.unlink, p(b"emptydir")),
        (errno.EISDIR, "truncate a dir", os.truncate, p(b"etc"), 0),
        (errno.ENOTEMPTY, "rmdir template dir", os.rmdir, p(b"etc")),
        (errno.ENOTEMPTY, "rename onto non-empty dir", os.rename, p(b"emptydir"), p(b"usr")),
        (errno.ELOOP, "O_NOFOLLOW on template symlink", os.open, p(b"links/rel"), os.O_RDONLY | os.O_NOFOLLOW),
        (errno.ELOOP, "O_NOFOLLOW|O_CREAT on symlink", creat, p(b"links/dangling"),
         os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW),
        (errno.ELOOP, "self-referencing symlink", os.stat, p(b"etc/loop")),
        (errno.ENAMETOOLONG, "create 256-byte name", creat, p(b"etc/" + long)),
        (errno.ENAMETOOLONG, "mkdir 256-byte name", os.mkdir, p(b"etc/" + long)),
        (errno.ENAMETOOLONG, "symlink 256-byte name", os.symlink, b"t", p(b"etc/" + long)),
        (errno.ENAMETOOLONG, "link 256-byte name", os.link, p(b"etc/hostname"), p(b"etc/" + long)),
        (errno.ENAMETOOLONG, "rename to 256-byte name", os.rename, p(b"etc/hostname"), p(b"etc/" + long)),
        (errno.ENAMETOOLONG, "mkfifo 256-byte name", os.mkfifo, p(b"etc/" + long)),
        (errno.ENAMETOOLONG, "stat 256-byte name", os.lstat, p(b"etc/" + long)),
        (errno.EINVAL, "rename dir into itself", os.rename, p(b"usr"), p(b"usr/lib/x")),
        (errno.EPERM, "link a directory", os.link, p(b"etc"), p(b"etc2")),
        (errno.ENODATA, "getxattr missing", os.getxattr, p(b"etc/hostname"), "user.missing"),
    ]
    wrong = []
    for code, what, fn, *args in cases:
        why = expect_errno(code, fn, *args)
        if why:
            wrong.append(f"{what}: {why}")
    # 255 bytes is fine
    creat(p(b"etc/" + ok255))
    os.mkdir(p(b"etc/d" + ok255[1:]))
    os.rename(p(b"etc/" + ok255), p(b"etc/d" + ok255[1:] + b"/" + ok255))
    assert not wrong, f"{len(wrong)} wrong error codes:\n" + "\n".join(wrong)
    assert not lexists(p(b"etc/" + long))
    ovl.remount()
    assert os.path.isfile(p(b"etc/d" + ok255[1:] + b"/" + ok255))


def test_unprivileged_callers_get_eacces_and_eperm(archive, domufs, public_dir):
    """uid 65534 through -o allow_other: the kernel's checks as on a local fs;
    what it may do, it does, and what it creates is its own."""
    o = Ovl(domufs, archive("pax-none"), public_dir / "ovl", mountpoint=public_dir / "mnt", opts="allow_other")
    p = o.p
    write_file(p(b"tmp/roots"), b"root's", 0o644)

    def creat(path, mode=0o644):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, mode))

    cases = [
        (errno.EACCES, "write a root-owned 0644 file", os.open, p(b"etc/hostname"), os.O_WRONLY),
        (errno.EACCES, "truncate a root-owned file", os.truncate, p(b"etc/hostname"), 0),
        (errno.EACCES, "read a 0000 file", os.open, p(b"perms/none"), os.O_RDONLY),
        (errno.EACCES, "read a file its ACL does not grant", os.open, p(b"acl/file"), os.O_RDONLY),
        (errno.EACCES, "create in a root-owned 0755 dir", creat, p(b"etc/new")),
        (errno.EACCES, "mkdir in a root-owned dir", os.mkdir, p(b"etc/d")),
        (errno.EACCES, "unlink in a root-owned dir", os.unlink, p(b"etc/hostname")),
        (errno.EACCES, "rename in a root-owned dir", os.rename, p(b"etc/hostname"), p(b"etc/h")),
        (errno.EACCES, "set user xattr on a root file", os.setxattr, p(b"etc/hostname"), "user.x", b"1"),
        (errno.EPERM, "set trusted xattr", os.setxattr, p(b"owners/nobody"), "trusted.x", b"1"),
        (errno.EPERM, "chmod of root's file", os.chmod, p(b"etc/hostname"), 0o777),
        (errno.EPERM, "chmod of uid 1234's file", os.chmod, p(b"owners/odd"), 0o777),
        (errno.EPERM, "chown of its own file to root", os.chown, p(b"owners/nobody"), 0, 0),
        (errno.EPERM, "utime to explicit times on root's file", os.utime, p(b"etc/hostname"), (1, 1)),
        (errno.EPERM, "unlink another's file in sticky /tmp", os.unlink, p(b"tmp/roots")),
        (errno.EPERM, "mknod of a device", os.mknod, p(b"tmp/dev"), stat.S_IFCHR | 0o600, os.makedev(1, 3)),
    ]

    def run():
        wrong = []
        for code, what, fn, *args in cases:
            why = expect_errno(code, fn, *args)
            if why:
                wrong.append(f"{what}: {why}")
        # what it may do
        creat(p(b"tmp/mine"), 0o640)
        with open(p(b"owners/nobody"), "ab") as f:
            f.write(b"+nobody")
        os.chmod(p(b"owners/nobody"), 0o600)
        os.mkdir(p(b"tmp/mydir"))
        os.rename(p(b"tmp/mine"), p(b"tmp/mydir/mine"))
        st = os.stat(p(b"tmp/mydir/mine"))
        return wrong, (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))

    from overlay_helpers import NOBODY, as_user
    wrong, owner = as_user(*NOBODY, run)
    assert not wrong, "\n".join(wrong)
    assert owner == (65534, 65534, 0o640), f"file created by uid 65534: {owner}"
    assert os.stat(p(b"tmp/mydir")).st_uid == 65534
    assert read(p(b"owners/nobody")) == b"nobody+nobody"
    assert read(p(b"etc/hostname")) == HOSTNAME and read(p(b"tmp/roots")) == b"root's"
    o.remount()
    st = os.stat(p(b"tmp/mydir/mine"))
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (65534, 65534, 0o640)
    assert stat.S_IMODE(os.stat(p(b"owners/nobody")).st_mode) == 0o600


def test_long_paths_near_path_max(ovl):
    """Paths up to 4095 bytes (PATH_MAX with its NUL) work in the mount."""
    p = ovl.p
    base = p(b"")
    fname = b"f" * 100
    room = 4095 - len(base) - 1 - len(fname)        # bytes for "/comp" * n
    n = -(-room // 201)
    sizes = [room // n - 1] * n
    sizes[-1] += room - sum(s + 1 for s in sizes)
    cur = base
    for i, size in enumerate(sizes):
        assert size <= 255
        cur = cur + b"/" + (b"%03d" % i) + b"c" * (size - 3)
        os.mkdir(cur)
    leaf = cur + b"/" + fname
    assert len(leaf) == 4095
    write_file(leaf, b"deepest")
    assert read(leaf) == b"deepest"
    assert expect_errno(errno.ENAMETOOLONG, os.stat, leaf + b"x") is None
    os.rename(leaf, cur + b"/" + fname[:-1] + b"g")
    leaf = cur + b"/" + fname[:-1] + b"g"
    # the template's 3000-byte path, written (copy-up of about 30 parent directories)
    deep2 = p(b"deep2/" + b"D" * 99 + (b"/" + b"D" * 99) * 29 + b"/leaf")
    with open(deep2, "ab") as f:
        f.write(b"+more")
    sib = os.path.dirname(deep2) + b"/" + b"s" * min(255, 4095 - len(os.path.dirname(deep2)) - 1)
    write_file(sib, b"sibling")
    ovl.remount()
    assert read(leaf) == b"deepest"
    assert read(deep2) == b"deep-two+more"
    assert read(sib) == b"sibling"


# ---------------------------------------------------------------- copy-up and the template

COPYUP_FILES = [b"usr/bin/su", b"usr/bin/wall", b"usr/bin/everything", b"usr/bin/sticky-file", b"owners/odd",
                b"owners/huge-ids", b"xattrs/ping", b"xattrs/caps-many", b"acl/file", b"acl/acl-and-xattr",
                b"xattrs/binary", b"xattrs/long", b"times/before-epoch", b"times/far-future",
                b"sparse/holes-everywhere", b"perms/none", b"hard/a"]
COPYUP_OTHERS = [b"acl/default-dir", b"var/mail", b"tmp", b"owners/odd-dir", b"owners/odd-link", b"run/fifo-owned",
                 b"dev/tty0", b"dev/sda", b"xattrs/dir", b"perms/readonly-dir"]


def test_copy_up_keeps_all_metadata(ovl):
    """Copy-up (open for writing without writing, or a new xattr) changes nothing
    else: owner, mode incl. setuid/setgid/sticky, times, security.capability,
    ACLs, other xattrs, hardlinks; parents copied up on the way keep theirs."""
    p = ovl.p
    before = snapshot(ovl.root)
    inos = {r: os.lstat(p(r)).st_ino for r in COPYUP_FILES + COPYUP_OTHERS}
    acls_before = {r: subprocess.run(["getfacl", "-n", "-P", "--omit-header", p(r)], stdout=subprocess.PIPE).stdout
                   for r in COPYUP_FILES + COPYUP_OTHERS}
    for i, rel in enumerate(COPYUP_FILES):
        if i % 2 == 0:
            os.close(os.open(p(rel), os.O_RDWR))        # opened for writing: copied up, nothing written
        else:
            os.setxattr(p(rel), "trusted.copyup", b"1")
            before[rel]["xattrs"]["trusted.copyup"] = b"1"
    for rel in COPYUP_OTHERS:
        os.setxattr(p(rel), "trusted.copyup", b"1", follow_symlinks=False)
        before[rel]["xattrs"]["trusted.copyup"] = b"1"
    # the hardlink group of hard/a carries its xattrs on every name
    copied = [r for r in COPYUP_FILES + COPYUP_OTHERS if os.path.lexists(os.path.join(os.fsencode(str(ovl.overlay)), r))]
    assert copied, "nothing was copied up into the overlay directory"

    def check():
        after = snapshot(ovl.root)
        diffs = F.compare_trees(before, after, include_root=True)
        assert not diffs, "copy-up changed metadata:\n" + "\n".join(diffs)
        for r, want in acls_before.items():
            got = subprocess.run(["getfacl", "-n", "-P", "--omit-header", p(r)], stdout=subprocess.PIPE).stdout
            assert got == want, f"ACL of {r!r} changed by copy-up"
        caps = subprocess.run(["getcap", p(b"xattrs/ping")], stdout=subprocess.PIPE, text=True).stdout
        assert "cap_net_raw" in caps and "ep" in caps, caps
        changed = {r: (i, os.lstat(p(r)).st_ino) for r, i in inos.items() if os.lstat(p(r)).st_ino != i}
        assert not changed, f"copy-up changed inode numbers (view.h: a copied-up file keeps its number): {changed}"
    check()
    ovl.remount()
    check()
    # a file created in the copied-up dir with a default ACL inherits it
    write_file(p(b"acl/default-dir/new"), b"n", 0o666)
    acl = subprocess.run(["getfacl", "-n", "--omit-header", p(b"acl/default-dir/new")],
                         stdout=subprocess.PIPE, text=True).stdout
    assert "user:1234:rwx" in acl, acl


def test_template_file_never_changes(ovl, tmp_path):
    tpl = ovl.template
    h0, st0 = file_hash(tpl), os.stat(tpl)
    p = ovl.p
    with open(p(b"usr/lib/big.bin"), "r+b") as f:
        f.write(b"OVERWRITE" * 1000)
    os.truncate(p(b"usr/lib/odd-size"), 1)
    os.chmod(p(b"usr/bin/su"), 0o777)
    os.chown(p(b"etc/hostname"), 1, 1)
    os.setxattr(p(b"xattrs/long"), "user.long", b"changed")
    os.unlink(p(b"times/epoch"))
    os.rename(p(b"deep2"), p(b"deep3"))
    shutil.rmtree(p(b"names"))
    with open(p(b"hard/pair2"), "ab") as f:
        f.write(b"x")
    os.sync()
    assert file_hash(tpl) == h0
    ovl.unmount()
    st1 = os.stat(tpl)
    assert file_hash(tpl) == h0, "the template tarball changed"
    assert (st1.st_size, st1.st_mtime_ns, st1.st_ino, st1.st_mode) == (st0.st_size, st0.st_mtime_ns, st0.st_ino,
                                                                       st0.st_mode)


def test_xattr_names_of_the_encoding_are_ordinary_xattrs(ovl):
    """The overlay's own xattr names (trusted./user.overlay.*, trusted.domufs.*,
    user.containers.override_stat) are ordinary names to the user of the mount,
    as on a local filesystem: a template file that carries one (xattrs/plain has
    trusted.overlay.opaque=y) can be changed like any file, and a user who sets
    one changes nothing else, before or after remount."""
    p = ovl.p
    wrong = []

    def attempt(what, fn, *args):
        try:
            fn(*args)
        except OSError as ex:
            wrong.append(f"{what}: {errno.errorcode[ex.errno]} ({ex.strerror})")

    # a template file carrying trusted.overlay.opaque
    attempt("append to xattrs/plain", lambda: open(p(b"xattrs/plain"), "ab").write(b"+"))
    attempt("chmod xattrs/plain", os.chmod, p(b"xattrs/plain"), 0o600)
    attempt("remove user.comment from xattrs/plain", os.removexattr, p(b"xattrs/plain"), "user.comment")
    # names of the encoding set by the user
    write_file(p(b"etc/new"), b"my own data")
    os.mkdir(p(b"etc/newdir"))
    attempt("set trusted.overlay.opaque on a template dir", os.setxattr, p(b"usr"), "trusted.overlay.opaque", b"y")
    attempt("set user.overlay.opaque on a template dir", os.setxattr, p(b"deep1"), "user.overlay.opaque", b"y")
    attempt("set trusted.overlay.redirect on a new dir", os.setxattr, p(b"etc/newdir"), "trusted.overlay.redirect",
            b"/usr/lib")
    attempt("set trusted.domufs.origin on a new file", os.setxattr, p(b"etc/new"), "trusted.domufs.origin",
            b"/etc/hostname")
    attempt("set user.containers.override_stat on a new file", os.setxattr, p(b"etc/new"),
            "user.containers.override_stat", b"1234:1234:4777:file")
    ovl.remount()
    if read(p(b"xattrs/plain")) != b"x+":
        wrong.append(f"xattrs/plain content after remount: {read(p(b'xattrs/plain'))!r}")
    if os.getxattr(p(b"xattrs/plain"), "trusted.overlay.opaque") != b"y":
        wrong.append("xattrs/plain lost trusted.overlay.opaque")
    if sorted(names(p(b"usr"))) != [b"bin", b"lib"]:
        wrong.append(f"usr lists {names(p(b'usr'))} after trusted.overlay.opaque was set on it")
    if names(p(b"deep1")) != [b"d23456789"]:
        wrong.append(f"deep1 lists {names(p(b'deep1'))} after user.overlay.opaque was set on it")
    if names(p(b"etc/newdir")) != []:
        wrong.append(f"etc/newdir lists {names(p(b'etc/newdir'))} after trusted.overlay.redirect was set on it")
    if read(p(b"etc/new")) != b"my own data":
        wrong.append(f"etc/new reads {read(p(b'etc/new'))!r} after trusted.domufs.origin was set on it")
    st = os.stat(p(b"etc/new"))
    if (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) != (0, 0, 0o644):
        wrong.append(f"etc/new owner/mode became {st.st_uid}:{st.st_gid} {oct(st.st_mode)} "
                     "after user.containers.override_stat was set on it")
    if os.stat(p(b"etc/new")).st_ino == os.stat(p(b"etc/hostname")).st_ino:
        wrong.append("etc/new became the same inode as etc/hostname")
    for rel, name, value in ((b"usr", "trusted.overlay.opaque", b"y"), (b"etc/new", "trusted.domufs.origin", b"/etc/hostname"),
                             (b"etc/new", "user.containers.override_stat", b"1234:1234:4777:file")):
        try:
            got = os.getxattr(p(rel), name)
        except OSError as ex:
            got = errno.errorcode[ex.errno]
        if got != value:
            wrong.append(f"getxattr {rel!r} {name}: {got!r}, expected {value!r}")
    assert not wrong, "\n".join(wrong)


# ---------------------------------------------------------------- listing while it changes

def getdents(fd, bufsize=1024):
    """One getdents64 call: [(name, d_off)], [] at the end."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(bufsize)
    n = libc.syscall(217, fd, buf, bufsize)  # SYS_getdents64 (x86_64)
    if n < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    out, pos, raw = [], 0, buf.raw[:n]
    while pos < n:
        d_off = int.from_bytes(raw[pos + 8:pos + 16], "little", signed=True)
        reclen = int.from_bytes(raw[pos + 16:pos + 18], "little")
        name = raw[pos + 19:pos + reclen].split(b"\0", 1)[0]
        out.append((name, d_off))
        pos += reclen
    return out


def drop_page_cache():
    """The kernel keeps a listing in the directory's page cache; without it,
    the next read asks the daemon from the offset reached."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("1\n")


def test_listing_survives_changes_between_reads(ovl):
    """A directory read in small pieces while entries are created and
    removed in it: every entry there from start to end comes exactly once
    (offsets are not positions that shift), as on a local filesystem, also
    when the kernel has dropped its cached listing in between."""
    p = ovl.p
    d = p(b"etc")
    for k in range(300):
        write_file(J(d, b"added-%03d-with-a-longer-name" % k), b"x")
    before = set(os.listdir(d))
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        seen = [name for name, _ in getdents(fd)]
        assert 0 < len(seen) < len(before)
        # remove half of what is not read yet, and some of what is; add new
        unread = sorted(before - set(seen) - {b".", b".."})
        gone = set(unread[::2]) | set(x for x in seen[::3] if x not in (b".", b".."))
        for name in gone:
            path = J(d, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        for k in range(50):
            write_file(J(d, b"late-%02d" % k), b"y")
        drop_page_cache()
        while True:
            part = getdents(fd)
            if not part:
                break
            seen += [name for name, _ in part]
    finally:
        os.close(fd)
    after = set(os.listdir(d))
    dups = sorted({x for x in seen if seen.count(x) > 1})
    assert not dups, f"listed twice: {dups[:10]}"
    missing = sorted((before & after) - set(seen))
    assert not missing, f"entries there all along not listed: {missing[:10]}"
    assert set(seen) <= before | after | {b".", b".."}


def test_listing_in_small_reads_is_the_whole_directory(ovl):
    """Offsets of an unchanged directory walk it once, through seekdir too."""
    p = ovl.p
    d = p(b"usr/lib")
    for k in range(200):
        write_file(J(d, b"n%03d" % k), b"z")
    whole = set(os.listdir(d)) | {b".", b".."}
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        got, offs = [], []
        while True:
            part = getdents(fd, 512)
            if not part:
                break
            got += [n for n, _ in part]
            offs += [o for _, o in part]
        assert sorted(got) == sorted(whole)
        # back to an offset handed out: the rest again, in the same order
        mid = len(offs) // 2
        drop_page_cache()
        os.lseek(fd, offs[mid], os.SEEK_SET)
        again = []
        while True:
            part = getdents(fd, 512)
            if not part:
                break
            again += [n for n, _ in part]
        assert again == got[mid + 1:]
    finally:
        os.close(fd)


def test_listing_attributes_after_copy_ups(ovl):
    """Directories that mix copied-up and template entries, listed again
    after the kernel dropped its dentries and inodes (the attributes then
    come from the listing): every entry shows what it showed before, the
    changed ones their change, live and after remount."""
    root = ovl.p(b"")
    k, changed = 0, {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in filenames + dirnames:
            path = J(dirpath, n)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                continue
            k += 1
            rel = os.path.relpath(path, root)
            if k % 3 == 0:
                mode = stat.S_IMODE(st.st_mode) | 0o040
                os.chmod(path, mode)
                changed[rel] = lambda a, mode=mode: a["mode"] == oct(mode)
            elif k % 3 == 1:
                os.chown(path, 4242, 4343)
                changed[rel] = lambda a: (a["uid"], a["gid"]) == (4242, 4343)
    assert k > 20
    before = F.snapshot(os.fsdecode(root), content=False, xattrs=False)
    assert all(ok(before[rel]) for rel, ok in changed.items())
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("2\n")
    assert F.snapshot(os.fsdecode(root), content=False, xattrs=False) == before
    ovl.remount()
    assert F.snapshot(os.fsdecode(root), content=False, xattrs=False) == before


def test_large_sequential_write_with_write_behind(ovl):
    """A file written in one sequential run of more than the write-behind
    step (8 MiB), then partly rewritten and extended out of order: the
    content is what was written, live and after remount."""
    import hashlib
    p = ovl.p
    rnd = os.urandom(1 << 20)
    expect = bytearray()
    fd = os.open(p(b"etc/big-seq"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for k in range(24):
            chunk = bytes([k]) + rnd[1:]
            os.write(fd, chunk)
            expect += chunk
        os.pwrite(fd, b"R" * 100000, 5 << 20)
        expect[5 << 20:(5 << 20) + 100000] = b"R" * 100000
        os.pwrite(fd, b"E" * 10, 30 << 20)
        expect += b"\0" * ((30 << 20) - len(expect)) + b"E" * 10
        os.fsync(fd)
    finally:
        os.close(fd)
    want = hashlib.sha256(expect).hexdigest()
    assert file_hash(p(b"etc/big-seq")) == want
    ovl.remount()
    assert os.stat(p(b"etc/big-seq")).st_size == len(expect)
    assert file_hash(p(b"etc/big-seq")) == want


def test_diff_shows_a_file_over_64_mib_as_binary_and_goes_on(archive, domufs, tmp_path):
    """A file too large to diff as text is compared a chunk at a time and
    shown as binary; the paths after it are still listed."""
    tpl = archive("pax-none")
    ovl = tmp_path / "o"
    ovl.mkdir()
    m = domufs.mount(tpl, extra=["--overlay", str(ovl)])
    with open(m.b(b"aaa-big"), "wb") as f:  # listed before etc/
        f.truncate(70 << 20)
        f.seek(33 << 20)
        f.write(b"x")
    with open(m.b(b"etc/hostname"), "ab") as f:
        f.write(b"more\n")
    assert m.unmount() == []
    r = domufs.run("diff", "--cache-dir", m.cache_dir, "--overlay", ovl, tpl)
    assert r.returncode == 0, str(r)
    assert "Binary files /dev/null and b/aaa-big differ\n" in r.stdout, r.stdout
    assert "+more\n" in r.stdout, r.stdout
    assert r.stdout.index("aaa-big") < r.stdout.index("etc/hostname")


def test_diff_compares_large_template_files_by_content(domufs, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("same", "changed"):
        with open(src / name, "wb") as f:
            f.truncate(80 << 20)
            f.seek(70 << 20)
            f.write(b"tail")
    tpl = tmp_path / "big.tar"
    subprocess.run(["tar", "--sparse", "-C", src, "-cf", tpl, "."], check=True)
    ovl = tmp_path / "o"
    ovl.mkdir()
    m = domufs.mount(tpl, extra=["--overlay", str(ovl)])
    os.chmod(m.b(b"same"), 0o600)  # copied up, bytes unchanged
    with open(m.b(b"changed"), "r+b") as f:
        f.seek(75 << 20)
        f.write(b"!")
    assert m.unmount() == []
    r = domufs.run("diff", "--cache-dir", m.cache_dir, "--overlay", ovl, tpl)
    assert r.returncode == 0, str(r)
    assert "Binary files a/changed and b/changed differ\n" in r.stdout, r.stdout
    assert "b/same" in r.stdout and "new mode 0600" in r.stdout, r.stdout
    assert "Binary files a/same" not in r.stdout, r.stdout


def test_created_entries_keep_their_inode_numbers_across_mounts(archive, domufs, tmp_path):
    tpl = archive("pax-none")
    ovl = tmp_path / "o"
    ovl.mkdir()

    names = [b"new-a", b"new-b", b"new-link", b"new-fifo", b"new-dir", b"new-dir/inner",
             b"etc/hostname"]

    def numbers(m, order):
        # looked up in another order after a remount: numbers given in
        # the order entries are found would come out shuffled
        return {name: os.lstat(m.b(name)).st_ino for name in order}

    m = domufs.mount(tpl, extra=["--overlay", str(ovl)])
    for name in (b"new-a", b"new-b"):
        with open(m.b(name), "wb") as f:
            f.write(name)
    os.link(m.b(b"new-a"), m.b(b"new-link"))
    os.mkfifo(m.b(b"new-fifo"))
    os.mkdir(m.b(b"new-dir"))
    with open(m.b(b"new-dir/inner"), "wb"):
        pass
    with open(m.b(b"etc/hostname"), "ab") as f:  # a template file, copied up
        f.write(b"x")
    first = numbers(m, names)
    assert first[b"new-a"] == first[b"new-link"]
    assert len(set(first.values())) == len(first) - 1
    assert m.unmount() == []
    for order in (names[::-1], names[1::2] + names[::2]):
        m = domufs.mount(tpl, extra=["--overlay", str(ovl)])
        assert numbers(m, order) == first
        assert m.unmount() == []
