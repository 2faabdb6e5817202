# SPDX-License-Identifier: LGPL-2.1-or-later
"""`mount --fakeroot`: an ordinary user edits root's files of a domU root in
its own mount (DESIGN.md, use case 1: "nothing needs root except what FUSE
needs"), as fakeroot(1) and fuse2fs -o fakeroot allow: no permission
checks, new files owned by root; and only in a mount nobody else reaches."""

import errno
import os
import stat

import fixtures as F
from overlay_helpers import Ovl, as_user, ensure_user, expect_errno, unmount, user_prefix


def user_mount(domufs, public_dir, fakeroot):
    uid, gid, _ = ensure_user(1000)
    src = public_dir / "src"
    (src / "etc" / "ssh").mkdir(parents=True)
    (src / "root").mkdir()
    (src / "etc" / "ssh" / "sshd_config").write_bytes(b"PermitRootLogin no\n")
    (src / "etc" / "shadow").write_bytes(b"root:*:19000::::::\n")
    os.chmod(src / "etc" / "shadow", 0o600)
    os.chmod(src / "root", 0o700)
    tpl = F.make_tar(src, public_dir / "t.tar", "pax", dot=True)
    os.chmod(tpl, 0o644)
    for d in ("o", "m", "c"):
        (public_dir / d).mkdir()
        os.chown(public_dir / d, uid, gid)
    o = Ovl(domufs, tpl, public_dir / "o", mountpoint=public_dir / "m", cache_dir=public_dir / "c",
            prefix=user_prefix(uid, gid), extra=["--fakeroot"] if fakeroot else [])
    return uid, gid, tpl, o


def edit(m):
    with open(m / "etc" / "ssh" / "sshd_config", "ab") as f:
        f.write(b"PasswordAuthentication no\n")
    (m / "root" / "notes").write_bytes(b"mine\n")
    os.chown(m / "etc" / "ssh" / "sshd_config", 7, 7)
    return (m / "etc" / "shadow").read_bytes(), os.stat(m / "root" / "notes")


def test_an_ordinary_user_edits_roots_files_with_fakeroot(domufs, public_dir):
    uid, gid, tpl, o = user_mount(domufs, public_dir, True)
    shadow, notes = as_user(uid, gid, edit, o.m.path)
    assert shadow == b"root:*:19000::::::\n"
    assert (notes.st_uid, notes.st_gid) == (0, 0), "a new file is not root's"
    st = as_user(uid, gid, os.stat, o.m.path / "etc" / "ssh" / "sshd_config")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (7, 7, 0o644)
    # device nodes still need root (the kernel asks for CAP_MKNOD)
    assert expect_errno(errno.EPERM, as_user, uid, gid, os.mknod, o.m.path / "dev0",
                        stat.S_IFCHR | 0o600, os.makedev(1, 3)) is None
    unmount(o.m)
    r = domufs.run("diff", "--cache-dir", public_dir / "c2", "--overlay", public_dir / "o", tpl)
    assert "+PasswordAuthentication no" in r.stdout, str(r)
    assert "new file mode 0644 owner 0:0" in r.stdout, str(r)
    assert "new owner 7:7" in r.stdout, str(r)


def test_without_fakeroot_the_kernel_checks(domufs, public_dir):
    uid, gid, _, o = user_mount(domufs, public_dir, False)
    assert expect_errno(errno.EACCES, as_user, uid, gid, edit, o.m.path) is None
    unmount(o.m)


def test_fakeroot_is_refused_with_allow_other(domufs, public_dir):
    (public_dir / "m").mkdir()
    for opt in ("allow_other", "allow_root"):
        r = domufs.run("mount", "--fakeroot", "-o", opt, "--cache-dir", public_dir / "c", "/nonexistent.tar",
                       public_dir / "m")
        assert r.returncode == 2, str(r)
        assert r.stderr.count("\n") == 1 and "--fakeroot" in r.stderr and opt in r.stderr, str(r)
    assert not F.is_mountpoint(public_dir / "m")
