# SPDX-License-Identifier: LGPL-2.1-or-later
"""The template layer, the fixups and the commit on a real Debian 12 root
(the slow suite).

The root is the benchmark's: mmdebstrap --variant=minbase with systemd,
udev, openssh-server, ifupdown, a kernel and grub, built once from the
machine's apt sources into $DOMUFS_DEBIAN12_TAR (default
/var/tmp/domufs-bench/root.tar, shared with bench/mkroot.sh) and reused.
"""
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile

import pytest

from test_recipes import PYGRUB, boot_check, run

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import fixtures as F  # noqa: E402

DOMUFS = os.environ.get("DOMUFS")
TAR = os.environ.get("DOMUFS_DEBIAN12_TAR", "/var/tmp/domufs-bench/root.tar")
PACKAGES = ("systemd-sysv,udev,openssh-server,ifupdown,isc-dhcp-client,"
            "linux-image-amd64,grub-pc-bin,iproute2")
HERE = os.path.dirname(os.path.abspath(__file__))
PROFILE = os.path.join(HERE, "..", "data", "distros", "bookworm.cfg")

if not DOMUFS:
    pytest.skip("DOMUFS is not set", allow_module_level=True)


@pytest.fixture(scope="session")
def root_tar():
    if not os.path.exists(TAR):
        os.makedirs(os.path.dirname(TAR), exist_ok=True)
        tmp = TAR + ".tmp.tar"
        run("mmdebstrap", "--variant=minbase", f"--include={PACKAGES}", "bookworm", tmp)
        os.rename(tmp, TAR)
    return TAR


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def extracted(root_tar, tmp_path_factory):
    """The oracle: the snapshot of GNU tar's extraction of the root, and
    the paths whose members record a POSIX ACL. Without --acls:
    mmdebstrap's tar records ACLs (var/log/journal's, from systemd's
    tmpfiles) as SCHILY.xattr.system.posix_acl_* records, which --xattrs
    restores and --acls would then reset from its own ACL records, absent
    here."""
    dest = tmp_path_factory.mktemp("extracted")
    run("tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf", root_tar, "-C", dest)
    acls = set()
    with tarfile.open(root_tar) as t:
        for m in t:
            if any(k.startswith("SCHILY.xattr.system.posix_acl_") for k in m.pax_headers):
                acls.add(os.fsencode(os.path.normpath(m.name)))
    snap = F.snapshot(dest)
    shutil.rmtree(dest)
    return snap, acls


def same_as_extraction(extracted, got):
    want, acls = extracted
    assert len(want) > 10000, "the oracle extracted too little"
    diffs = F.compare_trees(want, got)
    assert not diffs, f"{len(diffs)} differences:\n" + "\n".join(diffs[:40])
    for p in acls:
        assert "system.posix_acl_access" in got[p]["xattrs"], p


def test_diff_shows_the_fixups_a_bookworm_domu_needs(root_tar, cache):
    r = run(DOMUFS, "diff", "--cache-dir", cache, "--domain", PROFILE, root_tar, check=False)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    # Debian 12 in a PV domU names its NIC enX0: the stanza is for that name
    net = out[out.index("a/etc/network/interfaces"):]
    net = net[:net.index("diff --domufs", 1)] if "diff --domufs" in net[1:] else net
    assert "@@" in net and " network" in net
    assert re.search(r"^\+(auto|allow-hotplug) enX0$", net, re.M), net
    assert re.search(r"^\+iface enX0 inet static$", net, re.M), net
    assert "+\taddress 192.0.2.12" in net or "+    address 192.0.2.12" in net or "address 192.0.2.12" in net
    # root device and filesystem type, proc lines
    assert re.search(r"^\+/dev/xvda\s+/\s+ext4", out, re.M)
    # a getty on hvc0 through systemd's serial-getty
    assert "getty.target.wants/serial-getty@hvc0.service" in out
    # the first boot: its script, and a oneshot unit enabled in multi-user.target
    assert "b/usr/lib/domufs/firstboot\n" in out
    assert "b/etc/systemd/system/domufs-firstboot.service\n" in out
    assert "b/etc/systemd/system/multi-user.target.wants/domufs-firstboot.service\n" in out
    # SSH host keys hidden, hostname, shadow hash
    assert re.search(r"a/etc/ssh/ssh_host_ed25519_key ", out)
    assert "+fleance" in out
    assert "$6$bookworm12$" in out
    # PyGRUB's configuration, pointing at the kernel actually in /boot
    kernels = run("tar", "-tf", root_tar).stdout
    vmlinuz = re.findall(r"^\.?/?boot/vmlinuz-(\S+)$", kernels, re.M)
    assert vmlinuz, "the root has no kernel"
    assert f"vmlinuz-{vmlinuz[-1]}" in out


def test_mount_shows_the_fixed_tree(root_tar, cache, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    run(DOMUFS, "mount", "--cache-dir", cache, "--domain", PROFILE, root_tar, mnt)
    try:
        link = mnt / "etc/systemd/system/getty.target.wants/serial-getty@hvc0.service"
        assert os.path.islink(link)
        target = os.readlink(link)
        assert target.endswith("serial-getty@.service")
        assert (mnt / "etc/hostname").read_text().strip() in ("fleance", "fleance.example.org")
        assert not (mnt / "etc/ssh/ssh_host_ed25519_key").exists()
        assert "ssh_host_ed25519_key" not in os.listdir(mnt / "etc/ssh")
        st = os.stat(mnt / "root/.ssh/authorized_keys")
        assert st.st_mode & 0o777 == 0o600
        assert os.stat(mnt / "usr/lib/domufs/firstboot").st_mode & 0o777 == 0o755
        assert os.readlink(mnt / "etc/systemd/system/multi-user.target.wants/domufs-firstboot.service") \
            == "/etc/systemd/system/domufs-firstboot.service"
        fstab = (mnt / "etc/fstab").read_bytes()
        assert os.stat(mnt / "etc/fstab").st_size == len(fstab)
    finally:
        run("fusermount3", "-u", mnt, check=False)


@pytest.mark.parametrize("comp", ["tar", "tar.zst"])
def test_mount_equals_gnu_tar_extraction(root_tar, extracted, cache, tmp_path, comp):
    """The template layer on a real distribution root, without fixups:
    every entry (type, mode, owner, ns mtime, size, link target, rdev,
    content, xattrs and ACLs, hardlink groups) as GNU tar extracts it."""
    template = root_tar
    if comp == "tar.zst":
        template = tmp_path / "root.tar.zst"
        run("zstd", "-q", "-T0", "-3", root_tar, "-o", template)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    run(DOMUFS, "mount", "--cache-dir", cache, template, mnt)
    try:
        got = F.snapshot(mnt)
    finally:
        run("fusermount3", "-u", mnt, check=False)
    same_as_extraction(extracted, got)


def test_commit_equals_gnu_tar_extraction(root_tar, extracted, cache, tmp_path):
    """The commit of the same root without fixups, read back by the
    kernel's ext4: the same tree, plus the image's /lost+found."""
    img = tmp_path / "root.img"
    run(DOMUFS, "commit", "--cache-dir", cache, root_tar, img)
    F.e2fsck_clean(img)
    mnt = tmp_path / "img"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "ext4", "-o", "ro,loop", str(img), str(mnt)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        pytest.skip(f"no loop mount here: {r.stdout.strip()}")
    try:
        got = F.snapshot(mnt)
    finally:
        run("umount", mnt, check=False)
    lf = got.pop(b"lost+found", None)
    assert lf is not None and lf["type"] == stat.S_IFDIR, "no /lost+found in the image"
    same_as_extraction(extracted, got)


@pytest.mark.skipif(not os.path.exists(PYGRUB), reason="PyGRUB (xen-utils-4.17) not installed")
@pytest.mark.parametrize("partition", ["none", "msdos"])
def test_committed_image_boots_through_pygrub(root_tar, cache, tmp_path, partition):
    img = tmp_path / "fleance.img"
    run(DOMUFS, "commit", "--cache-dir", cache, "--domain", PROFILE,
        "--partition", partition, root_tar, img)
    fs, fields = boot_check(img, tmp_path, partition)
    root = "/dev/xvda1" if partition == "msdos" else "/dev/xvda"
    assert f"root={root}" in fields["args"], fields
    assert "console=hvc0" in fields["args"]
    assert os.path.getsize(fields["kernel"]) > 1 << 20  # a real kernel
    assert os.path.getsize(fields["ramdisk"]) > 1 << 20
    fstab = run("debugfs", "-R", "cat /etc/fstab", fs).stdout
    assert re.search(rf"^{re.escape(root)}\s+/\s+ext4", fstab, re.M), fstab


def build_deb(workdir, version, extra_postinst=""):
    """A package as image maintainers install into templates: a program, a
    symlink to it, a conffile, a state directory, documentation, and a
    postinst that adds a system user (passwd's lock: link(2)) and an
    alternative (update-alternatives: symlinks renamed into place)."""
    root = workdir / f"pkg-{version}"
    shutil.rmtree(root, ignore_errors=True)
    for d in ("DEBIAN", "usr/bin", "etc", "usr/share/doc/domufs-probe", "var/lib/domufs-probe"):
        (root / d).mkdir(parents=True)
    (root / "DEBIAN/control").write_text(
        "Package: domufs-probe\n"
        f"Version: {version}\n"
        "Architecture: all\n"
        "Maintainer: domufs tests <root@localhost>\n"
        "Description: what a template's maintainer installs\n"
        " A test package of the domufs slow suite.\n")
    (root / "DEBIAN/conffiles").write_text("/etc/domufs-probe.conf\n")
    (root / "DEBIAN/postinst").write_text(
        "#!/bin/sh\nset -e\n"
        "if [ \"$1\" = configure ]; then\n"
        "  getent passwd domufsprobe >/dev/null || useradd --system --no-create-home domufsprobe\n"
        "  chown domufsprobe /var/lib/domufs-probe\n"
        "  update-alternatives --install /usr/bin/probe-alt probe-alt /usr/bin/domufs-probe 10\n"
        f"{extra_postinst}"
        "fi\n")
    (root / "DEBIAN/prerm").write_text(
        "#!/bin/sh\nset -e\n"
        "if [ \"$1\" = remove ]; then update-alternatives --remove probe-alt /usr/bin/domufs-probe; fi\n")
    os.chmod(root / "DEBIAN/postinst", 0o755)
    os.chmod(root / "DEBIAN/prerm", 0o755)
    (root / "usr/bin/domufs-probe").write_text(f"#!/bin/sh\necho probe {version}\n")
    os.chmod(root / "usr/bin/domufs-probe", 0o755)
    os.symlink("domufs-probe", root / "usr/bin/dprobe")
    (root / "etc/domufs-probe.conf").write_text("setting = 1\n")
    (root / "usr/share/doc/domufs-probe/copyright").write_text("Public domain.\n" * 200)
    deb = workdir / f"domufs-probe_{version}_all.deb"
    run("dpkg-deb", "--root-owner-group", "--build", root, deb)
    return deb


def test_dpkg_in_a_chroot_on_the_writable_mount(root_tar, cache, tmp_path):
    """What an image maintainer does with a writable mount: chroot into it
    and let dpkg install, upgrade and remove a package (its renames into
    place, .dpkg-new files, fsyncs, the status database; useradd's lock
    files; update-alternatives' symlinks). Then dpkg's own checks on a
    remount, and the commit read back by e2fsck and debugfs."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    debs = [build_deb(work, "1.0"), build_deb(work, "1.1")]

    def mounted(fn):
        run(DOMUFS, "mount", "--cache-dir", cache, "--overlay", overlay, root_tar, mnt)
        # the template's /dev holds device nodes, unusable on a nodev
        # mount: dpkg's maintainer scripts need /dev/null
        run("mount", "--bind", "/dev/null", mnt / "dev/null")
        try:
            return fn()
        finally:
            run("umount", mnt / "dev/null", check=False)
            r = run("fusermount3", "-u", mnt, check=False)
            assert r.returncode == 0, r.stderr

    def chroot(*args, check=True):
        return run("chroot", mnt, *args, check=check)

    def install():
        os.makedirs(mnt / "tmp/debs", exist_ok=True)
        for d in debs:
            shutil.copy(d, mnt / "tmp/debs")
        chroot("dpkg", "-i", f"/tmp/debs/{debs[0].name}")
        assert chroot("domufs-probe").stdout == "probe 1.0\n"
        chroot("dpkg", "-i", f"/tmp/debs/{debs[1].name}")  # the upgrade
        assert chroot("dprobe").stdout == "probe 1.1\n"
        assert chroot("probe-alt").stdout == "probe 1.1\n"
        st = chroot("dpkg-query", "-W", "-f", "${Status} ${Version}", "domufs-probe").stdout
        assert st == "install ok installed 1.1", st
        assert chroot("dpkg", "--audit").stdout == ""
        uid = chroot("id", "-u", "domufsprobe").stdout.strip()
        assert os.stat(mnt / "var/lib/domufs-probe").st_uid == int(uid)
        assert not list((mnt / "usr/bin").glob("*.dpkg-*"))
        # a second package installed and removed again: its files gone
        chroot("dpkg", "-i", f"/tmp/debs/{debs[0].name}")  # a downgrade
        assert chroot("domufs-probe").stdout == "probe 1.0\n"
        chroot("dpkg", "-i", f"/tmp/debs/{debs[1].name}")
        shutil.rmtree(mnt / "tmp/debs")
        return uid

    uid = mounted(install)

    def verify():
        # dpkg's md5sums of every file of the package, and of the
        # template's own packages that the installs touched
        assert chroot("dpkg", "--verify", "domufs-probe", "passwd", "dpkg").stdout == ""
        assert chroot("domufs-probe").stdout == "probe 1.1\n"
        chroot("dpkg", "--purge", "domufs-probe")
        assert not os.path.lexists(mnt / "usr/bin/domufs-probe")
        assert not os.path.lexists(mnt / "usr/bin/probe-alt")
        assert not os.path.lexists(mnt / "etc/domufs-probe.conf")
        assert chroot("dpkg-query", "-W", "domufs-probe", check=False).returncode != 0
        assert chroot("dpkg", "--audit").stdout == ""

    def verified():
        return chroot("dpkg", "--verify", "domufs-probe").stdout

    # the overlay holds what dpkg wrote: a fresh daemon sees the same
    assert mounted(verified) == "", "dpkg --verify after a remount"
    img = tmp_path / "root.img"
    run(DOMUFS, "commit", "--cache-dir", cache, "--overlay", overlay, root_tar, img)
    F.e2fsck_clean(img)
    status = F.debugfs_cat(img, "/var/lib/dpkg/status")
    assert re.search(r"^Package: domufs-probe\nStatus: install ok installed\n", status, re.M), \
        "the committed status database has no domufs-probe"
    passwd = F.debugfs_cat(img, "/etc/passwd")
    assert re.search(rf"^domufsprobe:x:{uid}:", passwd, re.M)
    assert F.debugfs_cat(img, "/usr/bin/domufs-probe") == "#!/bin/sh\necho probe 1.1\n"
    mounted(verify)
