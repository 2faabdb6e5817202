# SPDX-License-Identifier: LGPL-2.1-or-later
"""`domufs xl-config`: a domain's complete xl.cfg from its profile.

What is checked: the keys written for the sample profiles (name, memory,
vcpus, the root disk as phy: for a block device and as a file otherwise,
vifs with the profile's or a derived MAC, PyGRUB or a dom0 kernel with
root= and console=), the xl keys passed through and domufs's left out,
stable MACs, the output read back as a profile by `domufs xl-config` and
`domufs diff` (libxlutil on both), `-o` replacing a file atomically, and
the errors: usage (2), a disk-less profile without --target (1).
"""

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

import fixtures as F

HERE = Path(__file__).resolve().parent
SRC = HERE.parent.parent
PROFILES = SRC / "tests" / "data" / "profiles"
DISTROS = SRC / "tests" / "data" / "distros"
XEN_MAC = re.compile(r"^00:16:3e:[0-7][0-9a-f]:[0-9a-f]{2}:[0-9a-f]{2}$")


def assignments(text: str) -> dict:
    """Top-level `key = value` lines (lists gathered), comments dropped."""
    out, key, items = {}, None, None
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if key is not None:             # inside a list
            if s == "]":
                out[key] = items
                key = None
            else:
                assert s.endswith('",') and s.startswith('"'), line
                items.append(s[1:-2].replace('\\"', '"').replace("\\\\", "\\"))
            continue
        k, v = [x.strip() for x in s.split("=", 1)]
        assert k not in out, f"{k} assigned twice:\n{text}"
        if v == "[":
            key, items = k, []
        elif v.startswith('"'):
            out[k] = v[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        else:
            out[k] = int(v)
    assert key is None, text
    return out


def xl_config(domufs, *args, ok=True):
    r = domufs.run("xl-config", *args)
    if ok:
        assert r.returncode == 0 and r.errors() == [], str(r)
    return r


@pytest.fixture(scope="module")
def debian12(tmp_path_factory):
    out = tmp_path_factory.mktemp("xl-template") / "debian12.tar.zst"
    return F.mktemplate(DISTROS / "debian12.recipe", out)


def test_banquo_gets_every_key_of_a_pygrub_domain(domufs):
    r = xl_config(domufs, "--domain", PROFILES / "banquo.cfg")
    a = assignments(r.stdout)
    assert a == {
        "name": "banquo",
        "memory": 512,
        "vcpus": 2,
        "on_reboot": "restart",
        "bootloader": "pygrub",
        "disk": ["format=raw, vdev=xvda, access=rw, backendtype=phy, target=/dev/scotland/banquo"],
        "vif": ["mac=00:16:3e:12:34:56,ip=192.0.2.10,bridge=xenbr0"],
    }, r.stdout
    # domufs's own keys are comments only; the password hash not even that
    for key in ("hostname", "root_password_hash", "ssh_authorized_keys", "fixups",
                "template", "overlay", "gateway", "nameservers", "netmask", "console"):
        assert not re.search(rf"^\s*{key}\s*\+?=", r.stdout, re.M), key
    assert "$6$" not in r.stdout
    assert "#   hostname = \"banquo.example.org\"" in r.stdout


def test_a_dom0_kernel_gets_root_and_console_on_its_command_line(domufs):
    r = xl_config(domufs, "--domain", DISTROS / "birnam.cfg", "--target", "/srv/images/birnam.img")
    a = assignments(r.stdout)
    assert a["kernel"] == "/boot/vmlinuz-virt"
    assert a["ramdisk"] == "/boot/initramfs-virt"
    assert a["extra"] == "root=/dev/xvda console=hvc0"
    assert "bootloader" not in a
    assert a["memory"] == 128 and a["vcpus"] == 1
    # an image file that does not exist yet: no phy backend
    assert a["disk"] == ["format=raw, vdev=xvda, access=rw, target=/srv/images/birnam.img"]
    r = xl_config(domufs, "--domain", DISTROS / "birnam.cfg", "--partition", "msdos")
    a = assignments(r.stdout)
    assert a["extra"] == "root=/dev/xvda1 console=hvc0"
    assert a["disk"] == ["format=raw, vdev=xvda, access=rw, target=/srv/birnam.img"]


def test_the_target_kind_follows_what_the_target_is(domufs, tmp_path):
    img = tmp_path / "root.img"
    img.write_bytes(b"")
    a = assignments(xl_config(domufs, "--domain", PROFILES / "banquo.cfg", "--target", img).stdout)
    assert a["disk"] == [f"format=raw, vdev=xvda, access=rw, target={img}"]
    # a block device node (an LV, here a loop device's numbers) is phy
    blk = tmp_path / "lv"
    try:
        os.mknod(blk, stat.S_IFBLK | 0o600, os.makedev(7, 250))
    except PermissionError:
        pytest.skip("mknod of a block device needs root")
    a = assignments(xl_config(domufs, "--domain", PROFILES / "banquo.cfg", "--target", blk).stdout)
    assert a["disk"] == [f"format=raw, vdev=xvda, access=rw, backendtype=phy, target={blk}"]
    # a missing target is judged by its /dev/ prefix
    a = assignments(xl_config(domufs, "--domain", PROFILES / "banquo.cfg",
                              "--target", "/dev/vg/not-yet").stdout)
    assert "backendtype=phy" in a["disk"][0]


def test_a_vif_without_mac_gets_a_stable_one_from_the_name(domufs, tmp_path):
    prof = tmp_path / "a.cfg"
    prof.write_text('name = "lennox"\ndisk = [ "phy:/dev/vg/lennox,xvda,w" ]\n'
                    "vif = [ 'bridge=xenbr0', 'bridge=xenbr1,ip=198.51.100.4' ]\n")
    first = assignments(xl_config(domufs, "--domain", prof).stdout)["vif"]
    again = assignments(xl_config(domufs, "--domain", prof).stdout)["vif"]
    assert first == again
    macs = [v.split(",")[0][len("mac="):] for v in first]
    assert all(XEN_MAC.match(m) for m in macs), macs
    assert macs[0] != macs[1]
    assert first[0] == f"mac={macs[0]},bridge=xenbr0"
    assert first[1] == f"mac={macs[1]},bridge=xenbr1,ip=198.51.100.4"
    prof.write_text(prof.read_text().replace("lennox", "ross"))
    other = assignments(xl_config(domufs, "--domain", prof).stdout)["vif"]
    assert other[0].split(",")[0] != first[0].split(",")[0]


def test_the_output_reads_back_as_a_profile(domufs, tmp_path):
    for prof in (PROFILES / "banquo.cfg", PROFILES / "donalbain.cfg",
                 PROFILES / "hecate.cfg", DISTROS / "birnam.cfg"):
        out = tmp_path / f"{prof.stem}.xl.cfg"
        r = domufs.run("xl-config", "--domain", prof, "--seed", "/srv/seeds/x.iso", "-o", out)
        assert r.returncode == 0 and r.stdout == "", str(r)
        # the seed image is now one of the profile's disks
        r2 = domufs.run("xl-config", "--domain", out)
        assert r2.returncode == 0 and r2.errors() == [], str(r2)
        # the same domain, disks and boot, apart from the header comment
        strip = lambda t: [x for x in t.splitlines() if not x.startswith("#")]  # noqa: E731
        assert strip(r2.stdout) == strip(out.read_text()), f"{prof}\n{out.read_text()}\n{r2.stdout}"


def test_diff_reads_the_output_as_its_domain(domufs, debian12, tmp_path):
    out = tmp_path / "fleance.xl.cfg"
    xl_config(domufs, "--domain", DISTROS / "bookworm.cfg", "-o", out)
    r = domufs.run("diff", "--cache-dir", domufs.cache_dir(), "--domain", out, debian12)
    assert r.returncode == 0, str(r)
    # the only remark: the netmask stayed behind (a provisioning key)
    assert r.errors() == [], str(r)
    assert all("without netmask" in w for w in r.warnings()), str(r)
    assert "+/dev/xvda\t/\text4\terrors=remount-ro\t0\t1" in r.stdout.splitlines()
    assert "\tlinux /boot/vmlinuz-6.1.0-18-amd64 root=/dev/xvda ro console=hvc0" in r.stdout
    assert "+# domufs: vif 0, 00:16:3e:00:12:01" in r.stdout.splitlines()
    # `hostname' is domufs's: the name serves
    assert "+fleance" in r.stdout.splitlines()


def test_output_file_is_replaced_atomically(domufs, tmp_path):
    out = tmp_path / "banquo.cfg"
    out.write_text("old\n")
    ino = out.stat().st_ino
    r = domufs.run("xl-config", "--domain", PROFILES / "banquo.cfg", "-o", out)
    assert r.returncode == 0 and r.stdout == "", str(r)
    assert out.stat().st_ino != ino
    assert 'name = "banquo"' in out.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["banquo.cfg"]
    r = domufs.run("xl-config", "--domain", PROFILES / "banquo.cfg", "-o", tmp_path / "no" / "x.cfg")
    assert r.returncode == 1, str(r)
    assert len(r.errors()) == 1 and "no/x.cfg" in r.errors()[0], str(r)
    r = domufs.run("xl-config", "--domain", PROFILES / "banquo.cfg", "-o", tmp_path)
    assert r.returncode == 1 and "is a directory" in r.stderr, str(r)
    # a FIFO (or a device, or /dev/stdout) is not replaced by a file
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    r = domufs.run("xl-config", "--domain", PROFILES / "banquo.cfg", "-o", fifo)
    assert r.returncode == 1, str(r)
    assert len(r.errors()) == 1 and "not a regular file" in r.errors()[0], str(r)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    # a symbolic link is followed: the file it leads to is replaced, the link stays
    real, link = tmp_path / "real.cfg", tmp_path / "link.cfg"
    real.write_text("old\n")
    link.symlink_to("real.cfg")
    r = domufs.run("xl-config", "--domain", PROFILES / "banquo.cfg", "-o", link)
    assert r.returncode == 0, str(r)
    assert link.is_symlink() and os.readlink(link) == "real.cfg"
    assert 'name = "banquo"' in real.read_text()
    # /dev/stdout on a file: that file gets the config, /dev/stdout stays a link
    with open(tmp_path / "so.txt", "wb") as so:
        p = subprocess.run([domufs.binary, "xl-config", "--domain", PROFILES / "banquo.cfg",
                            "-o", "/dev/stdout"], stdout=so, stderr=subprocess.PIPE)
    assert p.returncode == 0, p.stderr
    assert os.path.islink("/dev/stdout")
    assert 'name = "banquo"' in (tmp_path / "so.txt").read_text()
    dangling = tmp_path / "dangling.cfg"
    dangling.symlink_to("nowhere")
    r = domufs.run("xl-config", "--domain", PROFILES / "banquo.cfg", "-o", dangling)
    assert r.returncode == 1 and "symbolic link to nothing" in r.stderr, str(r)
    assert not (tmp_path / "nowhere").exists()


def test_errors_have_their_exit_status(domufs, tmp_path):
    r = domufs.run("xl-config")
    assert r.returncode == 2 and "--domain" in r.stderr, str(r)
    r = domufs.run("xl-config", "--domain", PROFILES / "banquo.cfg", "--partition", "gpt")
    assert r.returncode == 2, str(r)
    r = domufs.run("xl-config", "--domain", PROFILES / "banquo.cfg", "extra-arg")
    assert r.returncode == 2, str(r)
    r = domufs.run("xl-config", "--help")
    assert r.returncode == 0 and r.stdout.startswith("Usage: domufs xl-config"), str(r)
    prof = tmp_path / "diskless.cfg"
    prof.write_text('name = "diskless"\n')
    r = domufs.run("xl-config", "--domain", prof)
    assert r.returncode == 1 and r.stdout == "", str(r)
    assert len(r.stderr_lines()) == 1, str(r)
    assert str(prof) in r.stderr and "--target" in r.stderr, str(r)
    r = domufs.run("xl-config", "--domain", prof, "--target", "/dev/vg/diskless")
    assert r.returncode == 0, str(r)
    assert assignments(r.stdout)["disk"] == [
        "format=raw, vdev=xvda, access=rw, backendtype=phy, target=/dev/vg/diskless"]
    r = domufs.run("xl-config", "--domain", tmp_path / "missing.cfg")
    assert r.returncode == 1 and "missing.cfg" in r.stderr, str(r)


def test_every_xl_key_of_the_profile_is_kept(domufs, tmp_path):
    """The keys xl-config does not write itself are copied, lists too, in the
    profile's order; an HVM profile's own boot order stays."""
    prof = tmp_path / "hvm.cfg"
    prof.write_text('name = "h"\ntype = "hvm"\nvnc = 1\nserial = "pty"\n'
                    "pci = [ '0000:03:00.0', '0000:03:00.1' ]\nviridian = 1\n"
                    'boot = "d"\nrtc_timeoffset = "-3600"\non_crash = "restart"\n'
                    "disk = [ 'phy:/dev/vg/h,xvda,w' ]\nhostname = \"hh\"\n")
    r = domufs.run("xl-config", "--domain", prof)
    assert r.returncode == 0 and r.stderr == "", str(r)
    lines = [line for line in r.stdout.splitlines() if not line.startswith("#")]
    want = ['type = "hvm"', "vnc = 1", 'serial = "pty"',
            'pci = [ "0000:03:00.0", "0000:03:00.1" ]', "viridian = 1", 'boot = "d"',
            'rtc_timeoffset = "-3600"', 'on_crash = "restart"']
    got = [line for line in lines if line.split(" =")[0] in {w.split(" =")[0] for w in want}]
    assert got == want, r.stdout
    assert "hostname" not in "\n".join(lines)  # domufs's own: a comment only
    # and the output reads back as the same domain
    out = tmp_path / "out.cfg"
    assert domufs.run("xl-config", "--domain", prof, "-o", out).returncode == 0
    again = domufs.run("xl-config", "--domain", out)
    assert again.returncode == 0, str(again)
    assert [x for x in again.stdout.splitlines() if not x.startswith("#")] == lines
