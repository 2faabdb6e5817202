# SPDX-License-Identifier: LGPL-2.1-or-later
"""Whom an overlay directory believes (overlay/upper.h, ovl_upper_user_ok()).

The overlay directory is kept 0700 whatever the template root's mode, its
owner and mode as the view shows them kept in the override xattr, so only
its owner reaches the copies inside (set-user-ID ones, world-writable
directories). In an overlay others can reach anyway (an older one, an
admin's chmod), what they plant is not believed: user.* private xattrs and
whiteouts count on entries of the overlay's owner or the daemon's user
only, so a planted file cannot become a view of the template's
/etc/shadow, a set-user-ID root file, or hide another's entry."""

import os
import stat
import subprocess

import fixtures as F
from overlay_helpers import Ovl, as_user, ensure_user, remount, unmount, user_prefix

NOBODY = 65534
SECRET = b"root:$6$SECRETHASH:19000:0:99999:7:::\n"


def template(public_dir, uid=None):
    src = public_dir / "src"
    for d in ("etc", "tmp", "home/user"):
        (src / d).mkdir(parents=True)
    (src / "etc" / "shadow").write_bytes(SECRET)
    os.chmod(src / "etc" / "shadow", 0o600)
    for n in ("victim", "victim2", "keep"):
        (src / "tmp" / n).write_bytes(n.encode() + b"\n")
    os.chmod(src / "tmp", 0o1777)
    os.chmod(src, 0o755)
    if uid is not None:
        os.chown(src / "home" / "user", uid, uid)
    tpl = F.make_tar(src, public_dir / "t.tar", "pax", dot=True)
    os.chmod(tpl, 0o644)
    return tpl


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_the_overlay_directory_stays_private(domufs, public_dir):
    tpl = template(public_dir)
    ovl_dir = public_dir / "o"
    ovl_dir.mkdir(mode=0o755)
    o = Ovl(domufs, tpl, ovl_dir, mountpoint=public_dir / "m", cache_dir=public_dir / "c")
    assert mode(o.m.path) == 0o755                      # the template root's, in the view
    assert mode(ovl_dir) == 0o700, "the overlay directory is reachable by others"
    (o.m.path / "tmp" / "new").write_bytes(b"x")         # copies /tmp (1777) up
    assert mode(ovl_dir / "tmp") == 0o1777
    os.chmod(o.m.path, 0o751)
    assert mode(o.m.path) == 0o751
    assert mode(ovl_dir) == 0o700
    o.m = remount(domufs, o.m)
    assert mode(o.m.path) == 0o751
    assert os.stat(o.m.path).st_uid == 0
    unmount(o.m)
    # an overlay adopted before it was kept private: 0755, no override
    os.removexattr(ovl_dir, "trusted.domufs.override_stat")
    os.chmod(ovl_dir, 0o755)
    o = Ovl(domufs, tpl, ovl_dir, mountpoint=public_dir / "m", cache_dir=public_dir / "c")
    assert mode(o.m.path) == 0o755
    assert mode(ovl_dir) == 0o700
    assert (o.m.path / "tmp" / "new").read_bytes() == b"x"
    unmount(o.m)


def plant(ovl_dir, owner):
    """What another user could leave in a reachable overlay's /tmp copy."""
    t = ovl_dir / "tmp"
    leak = t / "leak"
    leak.write_bytes(b"")
    os.truncate(leak, len(SECRET))
    os.setxattr(leak, "user.domufs.origin", b"/etc/shadow")
    os.setxattr(leak, "user.overlay.metacopy", b"")
    sush = t / "sush"
    sush.write_bytes(b"#!/bin/sh\n")
    os.chmod(sush, 0o644)
    os.setxattr(sush, "user.containers.override_stat", b"0:0:4755:file")
    (t / ".wh.victim").write_bytes(b"")
    os.mknod(t / "victim2", stat.S_IFCHR | 0o644, os.makedev(0, 0))
    rdir = t / "rdir"
    rdir.mkdir()
    os.setxattr(rdir, "user.overlay.redirect", b"/etc")
    for p in (leak, sush, t / ".wh.victim", t / "victim2", rdir):
        os.chown(p, owner, owner, follow_symlinks=False)


def check_not_believed(mnt, owner):
    t = mnt / "tmp"
    assert (t / "leak").read_bytes() == b"\0" * len(SECRET), "a planted file shows the template's /etc/shadow"
    st = os.stat(t / "sush")
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (owner, 0o644), "a planted owner and mode were believed"
    assert (t / "victim").read_bytes() == b"victim\n", "a planted .wh. file hid another's entry"
    assert stat.S_ISCHR(os.lstat(t / "victim2").st_mode), "a planted 0/0 device hid another's entry"
    assert os.listdir(t / "rdir") == [], "a planted redirect showed the template's /etc"
    assert (t / "keep").read_bytes() == b"keep\n"


def test_root_does_not_believe_what_others_plant(domufs, public_dir):
    tpl = template(public_dir)
    ovl_dir = public_dir / "o"
    o = Ovl(domufs, tpl, ovl_dir, mountpoint=public_dir / "m", cache_dir=public_dir / "c")
    (o.m.path / "tmp" / "mine").write_bytes(b"mine\n")
    unmount(o.m)
    plant(ovl_dir, NOBODY)
    o = Ovl(domufs, tpl, ovl_dir, mountpoint=public_dir / "m", cache_dir=public_dir / "c")
    check_not_believed(o.m.path, NOBODY)
    assert (o.m.path / "tmp" / "mine").read_bytes() == b"mine\n"
    unmount(o.m)
    # nor does the commit
    out = public_dir / "out.tar"
    r = domufs.run("commit", "--cache-dir", public_dir / "c", "--overlay", ovl_dir, "--format", "tar", tpl, out)
    assert r.returncode == 0, str(r)
    listing = subprocess.run(["tar", "-tvf", out, "--numeric-owner"], stdout=subprocess.PIPE,
                             check=True).stdout.decode()
    leak = next(x for x in listing.splitlines() if x.endswith("tmp/leak"))
    sush = next(x for x in listing.splitlines() if x.endswith("tmp/sush"))
    assert "link to" not in leak and leak.startswith("-rw-r--r-- 65534/65534"), leak
    assert sush.startswith("-rw-r--r-- 65534/65534"), sush


def user_overlay(domufs, public_dir):
    """An ordinary user's template, overlay and a function mounting it."""
    uid, gid, _ = ensure_user(1000)
    tpl = template(public_dir, uid)
    for d in ("o", "m", "c"):
        (public_dir / d).mkdir()
        os.chown(public_dir / d, uid, gid)

    def mount():
        return Ovl(domufs, tpl, public_dir / "o", mountpoint=public_dir / "m", cache_dir=public_dir / "c",
                   prefix=user_prefix(uid, gid))
    return uid, gid, tpl, public_dir / "o", mount


def test_an_ordinary_user_does_not_believe_what_others_plant(domufs, public_dir):
    uid, gid, tpl, ovl_dir, mount = user_overlay(domufs, public_dir)
    o = mount()
    assert mode(ovl_dir) == 0o700
    as_user(uid, gid, lambda: (o.m.path / "home" / "user" / "mine").write_bytes(b"mine\n"))
    as_user(uid, gid, lambda: os.chmod(o.m.path / "home" / "user" / "mine", 0o640))
    unmount(o.m)
    os.makedirs(ovl_dir / "tmp", exist_ok=True)
    plant(ovl_dir, NOBODY)
    o = mount()
    as_user(uid, gid, check_not_believed, o.m.path, NOBODY)
    st = as_user(uid, gid, os.stat, o.m.path / "home" / "user" / "mine")
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (uid, 0o640)
    unmount(o.m)


def test_root_reads_an_ordinary_users_overlay_as_its_owner_does(domufs, public_dir):
    """Owners and modes an ordinary user's daemon kept in the override are
    what root's diff and commit see too (root's commit of a user's work)."""
    uid, gid, tpl, ovl_dir, mount = user_overlay(domufs, public_dir)
    o = mount()
    as_user(uid, gid, lambda: (o.m.path / "home" / "user" / "mine").write_bytes(b"mine\n"))
    unmount(o.m)
    as_user_view = domufs.run("diff", "--cache-dir", public_dir / "c", "--overlay", ovl_dir, tpl,
                              prefix=user_prefix(uid, gid))
    root_view = domufs.run("diff", "--cache-dir", public_dir / "c2", "--overlay", ovl_dir, tpl)
    assert as_user_view.stderr == "" and root_view.stderr == "", f"{as_user_view}\n{root_view}"
    assert root_view.stdout == as_user_view.stdout, f"root sees:\n{root_view.stdout}\nthe user sees:\n" \
                                                    f"{as_user_view.stdout}"
    assert "a/home/user/mine" in root_view.stdout
    assert "owner" not in root_view.stdout.replace(f"owner {uid}:{gid}\n", ""), root_view.stdout
