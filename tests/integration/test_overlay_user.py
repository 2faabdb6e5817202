# SPDX-License-Identifier: LGPL-2.1-or-later
"""An ordinary user mounts its own overlay: the daemon runs as that user
(setpriv), keeps what it cannot set for real (owners, some modes) in
user.containers.override_stat, and the user sees the same tree as on a local
filesystem, after remount too."""

import os
import stat

import pytest

import fixtures as F
from overlay_helpers import (UTIME_NOW, Ovl, Pair, as_user, check_pair, ensure_user, extract, file_hash, read,
                             run_seq, user_prefix)


@pytest.fixture
def user_env(domufs, public_dir):
    uid, gid, _ = ensure_user(1000)
    src = public_dir / "src"
    home = src / "home" / "user"
    (home / "docs").mkdir(parents=True)
    (home / "shared").mkdir()
    (src / "etc").mkdir()
    (src / "tmp").mkdir()
    (src / "etc" / "hostname").write_bytes(b"template\n")
    (home / "notes").write_bytes(b"my notes\n")
    (home / "script").write_bytes(b"#!/bin/sh\n")
    (home / "docs" / "a.txt").write_bytes(b"a\n")
    (home / "docs" / "b.txt").write_bytes(b"b\n")
    (home / "h1").write_bytes(b"linked\n")
    os.link(home / "h1", home / "h2")
    os.symlink("notes", home / "ln")
    os.setxattr(home / "notes", "user.tag", b"mine")
    for dirpath, dirnames, filenames in os.walk(home):
        for n in dirnames + filenames + [""]:
            os.chown(os.path.join(dirpath, n), uid, gid, follow_symlinks=False)
    os.chown(home.parent, 0, 0)
    os.chmod(home / "script", 0o755)
    os.chmod(home / "docs", 0o750)
    os.chmod(home / "shared", 0o2775)
    os.chmod(src / "tmp", 0o1777)
    os.utime(home / "notes", ns=(1_600_000_000_000000001, 1_600_000_000_000000001))
    tpl = F.make_tar(src, public_dir / "user.tar", "pax", dot=True)
    os.chmod(tpl, 0o644)
    plain = extract(tpl, public_dir / "p")
    for d in ("o", "m", "cache"):
        (public_dir / d).mkdir()
        os.chown(public_dir / d, uid, gid)
    ovl = Ovl(domufs, tpl, public_dir / "o", mountpoint=public_dir / "m", cache_dir=public_dir / "cache",
              prefix=user_prefix(uid, gid))
    return Pair(plain, ovl.m.path), ovl, (uid, gid), file_hash(tpl)


def test_user_mount_runs_as_the_user(user_env):
    pair, ovl, (uid, gid), _ = user_env
    status = open(f"/proc/{ovl.m.proc.pid}/status").read()
    uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
    assert set(map(int, uids)) == {uid}, f"daemon runs with uids {uids}"
    # the user sees the template's owners, root does not get in (no allow_other)
    assert as_user(uid, gid, lambda: os.stat(os.path.join(pair.mnt, b"etc/hostname")).st_uid) == 0
    assert as_user(uid, gid, lambda: os.stat(os.path.join(pair.mnt, b"home/user/notes")).st_uid) == uid


SEQ = [
    ("create", (b"home/user/new",), (b"new file", True, False, 0o640)),
    ("create", (b"tmp/in-tmp",), (b"tmp file", True, False, 0o600)),
    ("pwrite", (b"home/user/notes",), (3, b"NOTES")),
    ("append", (b"home/user/h2",), (b"+h2\n",)),
    ("chmod", (b"home/user/new",), (0o4750,)),
    ("chmod", (b"home/user/notes",), (0o600,)),
    ("chmod", (b"home/user/shared",), (0o3770,)),
    ("chmod", (b"home/user",), (0o700,)),
    ("chown", (b"home/user/notes",), (-1, -1)),
    ("chown", (b"home/user/notes",), (0, 0)),                       # EPERM
    ("mkdir", (b"home/user/newdir",), (0o751,)),
    ("mkdir", (b"home/user/shared/sub",), (0o755,)),                # setgid inherited
    ("create", (b"home/user/shared/f",), (b"f", True, False, 0o664)),
    ("rename2", (b"home/user/docs", b"home/user/documents"), (0,)),
    ("rename2", (b"home/user/script", b"home/user/newdir/script"), (0,)),
    ("rename2", (b"home/user/new", b"home/user/notes"), (0,)),      # over a template file
    ("unlink", (b"home/user/ln",), ()),
    ("unlink", (b"home/user/documents/a.txt",), ()),
    ("rmdir", (b"home/user/documents",), ()),                        # ENOTEMPTY
    ("unlink", (b"home/user/documents/b.txt",), ()),
    ("rmdir", (b"home/user/documents",), ()),
    ("mkdir", (b"home/user/documents",), ()),                        # empty again
    ("symlink", (b"home/user/sym",), (b"newdir/script",)),
    ("link", (b"home/user/h1", b"home/user/h3"), ()),
    ("mknod", (b"home/user/fifo",), (stat.S_IFIFO | 0o620,)),
    ("mknod", (b"home/user/dev",), (stat.S_IFCHR | 0o600, 1, 3)),   # EPERM for a user
    ("utime", (b"home/user/h1",), (1, 2_000_000_000)),
    ("utime", (b"home/user/newdir",), (UTIME_NOW, UTIME_NOW)),
    ("setxattr", (b"home/user/newdir/script",), ("user.x", b"1")),
    ("removexattr", (b"home/user/notes",), ("user.tag",)),
    ("setxattr", (b"home/user/notes",), ("trusted.x", b"1")),        # EPERM
    ("pwrite", (b"etc/hostname",), (0, b"x")),                       # EACCES
    ("create", (b"etc/new",), (b"x", True, False)),                  # EACCES
    ("unlink", (b"etc/hostname",), ()),                              # EACCES
    ("chmod", (b"etc/hostname",), (0o777,)),                         # EPERM
    ("listdir", (b"home/user",), ()),
    ("listdir", (b"home/user/documents",), ()),
    ("read", (b"home/user/h3",), ()),
]


def test_user_overlay_behaves_as_a_local_fs(user_env):
    """The same operations by the user on a plain extraction and on its own
    mount; both trees seen by the user must agree, live and after remount;
    the overlay keeps what the user cannot set for real in
    user.containers.override_stat."""
    pair, ovl, user, h = user_env
    run_seq(pair, [s + (user,) for s in SEQ])
    check_pair(pair, ovl, h, user=user)
    # what the user may not set for real on disk (root's owner on copied-up
    # directories) is recorded in the override xattr
    overrides = []
    for dirpath, dirnames, filenames in os.walk(ovl.overlay):
        for n in dirnames + filenames + [""]:
            p = os.path.join(dirpath, n)
            try:
                overrides.append((p, os.getxattr(p, "user.containers.override_stat", follow_symlinks=False)))
            except OSError:
                pass
    assert overrides, "no user.containers.override_stat anywhere in the overlay"
    home = ovl.overlay / "home"
    assert os.stat(home).st_uid == user[0], "the user's daemon made a file it does not own?"
    assert any(p == str(home) + "/" or p == str(home) for p, _ in overrides), \
        f"copied-up home (root's in the view) has no override: {overrides}"


def test_user_sees_own_owner_and_modes_after_remount(user_env):
    pair, ovl, (uid, gid), _ = user_env
    m = pair.mnt

    def work():
        p = lambda r: os.path.join(m, r)  # noqa: E731
        fd = os.open(p(b"tmp/mine"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, b"mine")
        os.close(fd)
        os.chmod(p(b"tmp/mine"), 0o4710)
        os.mkdir(p(b"tmp/d"), 0o700)
        os.rename(p(b"tmp/mine"), p(b"tmp/d/mine"))
        os.chmod(p(b"home/user/script"), 0o700)
        out = {}
        for r in (b"tmp", b"tmp/d", b"tmp/d/mine", b"home", b"home/user", b"home/user/script"):
            st = os.lstat(p(r))
            out[r] = (st.st_uid, st.st_gid, oct(st.st_mode))
        return out

    def look():
        out = {}
        for r in (b"tmp", b"tmp/d", b"tmp/d/mine", b"home", b"home/user", b"home/user/script"):
            st = os.lstat(os.path.join(m, r))
            out[r] = (st.st_uid, st.st_gid, oct(st.st_mode))
        out["content"] = read(os.path.join(m, b"tmp/d/mine"))
        return out

    live = as_user(uid, gid, work)
    assert live[b"tmp/d/mine"] == (uid, gid, oct(stat.S_IFREG | 0o4710))
    assert live[b"tmp/d"] == (uid, gid, oct(stat.S_IFDIR | 0o700))
    assert live[b"tmp"] == (0, 0, oct(stat.S_IFDIR | 0o1777))
    assert live[b"home"] == (0, 0, oct(stat.S_IFDIR | 0o755))
    ovl.remount()
    again = as_user(uid, gid, look)
    assert again.pop("content") == b"mine"
    assert again == live
