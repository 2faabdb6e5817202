# SPDX-License-Identifier: LGPL-2.1-or-later
"""Changing what the fixups show, through the mount: the entries they create
(authorized_keys, the serial-getty link, ...) and the names they hide (SSH
host keys, persistent-net rules). What a change leaves must be the same live
and after a remount, since the fixups are planned afresh at every mount."""
import errno
import os
import shutil
import stat

import pytest

from test_fixups import mount, profile, read_checked, templates, unmount  # noqa: F401

KEYS = "root/.ssh/authorized_keys"          # created by the accounts fixup
GETTY = "etc/systemd/system/getty.target.wants/serial-getty@hvc0.service"   # console fixup


@pytest.fixture
def debian12(domufs, templates, tmp_path):  # noqa: F811
    """(template, a private copy of the profile, an empty overlay)"""
    prof = tmp_path / "bookworm.cfg"
    shutil.copyfile(profile("debian12"), prof)
    ovl = tmp_path / "overlay"
    ovl.mkdir()
    return templates("debian12"), prof, ovl


def remount(domufs, m, tpl, prof, ovl):
    unmount(m)
    return mount(domufs, tpl, prof, overlay=ovl)


def test_created_entries_carry_the_profiles_time(domufs, debian12):
    tpl, prof, ovl = debian12
    os.utime(prof, ns=(1_650_000_000_123_456_789, 1_650_000_000_123_456_789))
    m = mount(domufs, tpl, prof, overlay=ovl)
    for rel in (KEYS, "root/.ssh", GETTY):
        st = os.lstat(m.path / rel)
        assert st.st_mtime_ns == 1_650_000_000_123_456_789, (rel, st.st_mtime_ns)
        assert st.st_ctime_ns == 1_650_000_000_123_456_789, (rel, st.st_ctime_ns)
    unmount(m)


def test_a_hidden_file_written_again_still_shows_after_remount(domufs, debian12):
    tpl, prof, ovl = debian12
    new = {"etc/udev/rules.d/70-persistent-net.rules": b"# mine\n",
           "etc/ssh/ssh_host_ed25519_key": b"NEW PRIVATE ED25519\n"}
    m = mount(domufs, tpl, prof, overlay=ovl)
    for rel, data in new.items():
        assert not os.path.lexists(m.path / rel), rel      # hidden by the fixups
        with open(m.path / rel, "wb") as f:
            f.write(data)
    m = remount(domufs, m, tpl, prof, ovl)
    for rel, data in new.items():
        assert read_checked(m.path, rel) == data, rel
        assert os.path.basename(rel) in os.listdir(m.path / os.path.dirname(rel)), rel
    # the template's other host keys stay hidden
    assert not os.path.lexists(m.path / "etc/ssh/ssh_host_rsa_key")
    assert "ssh_host_rsa_key" not in os.listdir(m.path / "etc/ssh")
    unmount(m)


def test_chmod_chown_and_xattrs_of_a_created_file_persist(domufs, debian12):
    tpl, prof, ovl = debian12
    m = mount(domufs, tpl, prof, overlay=ovl)
    before = read_checked(m.path, KEYS)
    assert b"ssh-ed25519" in before
    os.chmod(m.path / KEYS, 0o640)
    os.chown(m.path / KEYS, 0, 4)
    os.setxattr(m.path / KEYS, "user.note", b"kept")
    os.utime(m.path / KEYS, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    for when in ("live", "after remount"):
        st = os.lstat(m.path / KEYS)
        assert stat.S_IMODE(st.st_mode) == 0o640, (when, oct(st.st_mode))
        assert (st.st_uid, st.st_gid) == (0, 4), when
        assert st.st_mtime_ns == 1_600_000_000_000_000_000, when
        assert os.getxattr(m.path / KEYS, "user.note") == b"kept", when
        assert read_checked(m.path, KEYS) == before, when
        if when == "live":
            m = remount(domufs, m, tpl, prof, ovl)
    assert (ovl / KEYS).is_file()
    unmount(m)


def test_a_created_symlink_can_be_chowned(domufs, debian12):
    tpl, prof, ovl = debian12
    m = mount(domufs, tpl, prof, overlay=ovl)
    target = os.readlink(m.path / GETTY)
    os.chown(m.path / GETTY, 5, 5, follow_symlinks=False)
    m = remount(domufs, m, tpl, prof, ovl)
    st = os.lstat(m.path / GETTY)
    assert (st.st_uid, st.st_gid) == (5, 5)
    assert os.readlink(m.path / GETTY) == target
    unmount(m)


def test_saving_over_a_created_file_by_rename_keeps_the_fix_on_top(domufs, debian12):
    """sed -i, editors: write a temporary file, rename it over the name."""
    tpl, prof, ovl = debian12
    mine = b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMineMineMineMineMineMineMineMineMineMineMi me@host\n"
    m = mount(domufs, tpl, prof, overlay=ovl)
    fixed = read_checked(m.path, KEYS)
    tmp = m.path / "root/.ssh/authorized_keys.tmp"
    with open(tmp, "wb") as f:
        f.write(mine)
    os.rename(tmp, m.path / KEYS)
    for when in ("live", "after remount"):
        got = read_checked(m.path, KEYS)
        assert got.count(mine) == 1, (when, got)
        for line in fixed.splitlines(keepends=True):      # the profile's keys, once each
            assert got.count(line) == 1, (when, line, got)
        assert sorted(os.listdir(m.path / "root/.ssh")) == ["authorized_keys"], when
        if when == "live":
            m = remount(domufs, m, tpl, prof, ovl)
    unmount(m)


def test_removing_or_renaming_a_created_entry_away_is_refused(domufs, debian12):
    """The fixup would put it back at the next mount: switch it off in the
    profile instead (fixups = [ "all", "-accounts" ])."""
    tpl, prof, ovl = debian12
    m = mount(domufs, tpl, prof, overlay=ovl)
    os.chmod(m.path / KEYS, 0o600)            # materialized in the overlay: still refused
    for rel in (KEYS, GETTY):
        with pytest.raises(OSError) as ex:
            os.unlink(m.path / rel)
        assert ex.value.errno == errno.EPERM, rel
        with pytest.raises(OSError) as ex:
            os.rename(m.path / rel, m.path / "root/moved")
        assert ex.value.errno == errno.EPERM, rel
        assert os.path.lexists(m.path / rel) and not os.path.lexists(m.path / "root/moved")
    with pytest.raises(OSError) as ex:
        shutil.rmtree(m.path / "root/.ssh")
    assert ex.value.errno == errno.EPERM
    unmount(m)


def test_a_hardlink_to_a_created_file_is_one_inode(domufs, debian12):
    tpl, prof, ovl = debian12
    m = mount(domufs, tpl, prof, overlay=ovl)
    os.link(m.path / KEYS, m.path / "root/keys.link")
    for when in ("live", "after remount"):
        a, b = os.lstat(m.path / KEYS), os.lstat(m.path / "root/keys.link")
        assert a.st_ino == b.st_ino and a.st_nlink == b.st_nlink == 2, when
        assert read_checked(m.path, "root/keys.link") == read_checked(m.path, KEYS), when
        if when == "live":
            m = remount(domufs, m, tpl, prof, ovl)
    unmount(m)


# --------------------------------------------------------------------------
# what domufs wrote for an earlier profile, kept in the overlay

def private_profile(tmp_path, name, *edits):
    """A copy of distribution profile @name with (old, new) text edits."""
    text = profile(name).read_text()
    for old, new in edits:
        assert old in text, (name, old)
        text = text.replace(old, new)
    prof = tmp_path / profile(name).name
    prof.write_text(text)
    return prof


def active_gettys(inittab: str) -> list:
    return [x for x in inittab.splitlines()
            if not x.lstrip().startswith("#") and "getty" in x and ("hvc0" in x or "xvc0" in x)]


def test_a_console_change_leaves_one_xen_getty_active(domufs, templates, tmp_path):  # noqa: F811
    """sysvinit with hvc0, inittab edited through the mount (the overlay now
    holds the hvc0 getty), then the profile says xvc0: a 2.6.18 kernel has no
    hvc0, and a getty there respawns too fast."""
    tpl = templates("debian4")
    ovl = tmp_path / "overlay"
    ovl.mkdir()
    prof = private_profile(tmp_path, "debian4", ('console = "xvc0"', 'console = "hvc0"'))
    m = mount(domufs, tpl, prof, overlay=ovl)
    inittab = read_checked(m.path, "etc/inittab").decode()
    assert [x.split(":")[0] for x in active_gettys(inittab)] == ["hvc0"], inittab
    with open(m.path / "etc/inittab", "a") as f:
        f.write("# edited by the admin\n")
    unmount(m)
    assert "hvc0:2345:respawn" in (ovl / "etc/inittab").read_text()
    for console, other in (("xvc0", "hvc0"), ("hvc0", "xvc0")):
        prof.write_text(prof.read_text().replace(f'console = "{other}"', f'console = "{console}"'))
        m = mount(domufs, tpl, prof, overlay=ovl)
        inittab = read_checked(m.path, "etc/inittab").decode()
        assert [x.split(":")[0] for x in active_gettys(inittab)] == [console], inittab
        assert f"\n#{other}:2345:respawn:/sbin/getty -L {other} 115200 vt100\n" in inittab, inittab
        assert "# edited by the admin\n" in inittab
        # written back as read, nothing changes
        with open(m.path / "etc/inittab", "w") as f:
            f.write(inittab)
        unmount(m)
        m = mount(domufs, tpl, prof, overlay=ovl)
        assert read_checked(m.path, "etc/inittab").decode() == inittab
        unmount(m)


def test_ifcfg_we_wrote_for_a_vif_the_profile_dropped_is_hidden(domufs, templates, tmp_path):  # noqa: F811
    tpl = templates("centos5")
    ovl = tmp_path / "overlay"
    ovl.mkdir()
    vif = "vif = [ 'mac=00:16:3e:00:05:0b,ip=192.0.2.5,bridge=xenbr0' ]"
    two = "vif = [ 'mac=00:16:3e:00:05:0b,ip=192.0.2.5,bridge=xenbr0', 'mac=00:16:3e:00:05:0c' ]"
    prof = private_profile(tmp_path, "centos5", (vif, two))
    scripts = "etc/sysconfig/network-scripts"
    m = mount(domufs, tpl, prof, overlay=ovl)
    eth1 = read_checked(m.path, f"{scripts}/ifcfg-eth1").decode()
    assert eth1.startswith("# Xen vif 1 (written by domufs)\n"), eth1
    with open(m.path / scripts / "ifcfg-eth1", "a") as f:     # now the overlay holds it
        f.write("MTU=1400\n")
    with open(m.path / scripts / "ifcfg-eth9", "w") as f:     # the admin's own file stays
        f.write("DEVICE=eth9\nONBOOT=no\n")
    unmount(m)
    assert (ovl / scripts / "ifcfg-eth1").is_file()
    prof.write_text(prof.read_text().replace(two, vif))
    m = mount(domufs, tpl, prof, overlay=ovl)
    assert not os.path.lexists(m.path / scripts / "ifcfg-eth1")
    names = os.listdir(m.path / scripts)
    assert "ifcfg-eth1" not in names and "ifcfg-eth0" in names and "ifcfg-eth9" in names, names
    unmount(m)
    r = domufs.run("diff", "--domain", prof, "--overlay", ovl, tpl.path)
    assert "ifcfg-eth1" not in r.stdout, r.stdout
    # the vif back in the profile: the file shows again, edit kept
    prof.write_text(prof.read_text().replace(vif, two))
    m = mount(domufs, tpl, prof, overlay=ovl)
    eth1 = read_checked(m.path, f"{scripts}/ifcfg-eth1").decode()
    assert "MTU=1400\n" in eth1 and "HWADDR=00:16:3e:00:05:0c\n" in eth1, eth1
    unmount(m)
