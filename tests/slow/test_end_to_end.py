# SPDX-License-Identifier: LGPL-2.1-or-later
"""From a recipe to domains ready to boot: the Debian 12 template built
from templates/recipes/debian12.recipe (cached, see test_recipes.py),
two domains provisioned into image files with scripts/provision and
different profiles, and each checked from outside as Xen would see it:
e2fsck clean, PyGRUB finds kernel and initrd with root= and console=hvc0,
hostname, address and keys as profiled, the firstboot script in place and
enabled, the xl.cfg naming the image and the profile's MAC."""
import os
import re
import subprocess
from pathlib import Path

import pytest

from test_recipes import DOMUFS, PYGRUB, SRC, boot_check, debian12, run  # noqa: F401

PROVISION = SRC / "scripts" / "provision"
HASH = ("$6$e2etest$JdNHOMCN97GvqY65wxA.3Uox4EleUoe3BNpb2VUxCjJPQ4Knwc5pnZ9BNOM0uAXtoOp/"
        "K/fNDjqsEmHN6JVFp1")
DOMAINS = {
    "banquo": dict(host="banquo.example.org", mac="00:16:3e:00:e2:01", ip="192.0.2.31",
                   key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBanquoBanquoBanquoBanquoBanquoBanquoBanq b@x"),
    "fleance": dict(host="fleance", mac="00:16:3e:00:e2:02", ip="198.51.100.7",
                    key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFleanceFleanceFleanceFleanceFleanceFlea f@x"),
}


def profile(name, d):
    return (f'name = "{name}"\n'
            "memory = 512\n"
            f"disk = [ 'file:/var/lib/xen/images/{name}.img,xvda,w' ]\n"
            f"vif = [ 'mac={d['mac']},ip={d['ip']},bridge=xenbr0' ]\n"
            'bootloader = "pygrub"\n'
            f'hostname = "{d["host"]}"\n'
            'netmask = "255.255.255.0"\n'
            f'gateway = "{d["ip"].rsplit(".", 1)[0]}.1"\n'
            f'root_password_hash = "{HASH}"\n'
            f'ssh_authorized_keys = [ "{d["key"]}" ]\n')


def debugfs(fs: Path, req: str) -> str:
    return run("debugfs", "-R", req, fs).stdout


def debugfs_cat(fs: Path, path: str) -> str:
    return debugfs(fs, f"cat {path}")


def mode_of(fs: Path, path: str) -> int:
    m = re.search(r"Mode:\s+(\d+)", debugfs(fs, f"stat {path}"))
    assert m, f"{path} not in the image"
    return int(m.group(1), 8)


@pytest.mark.skipif(not os.path.exists(PYGRUB), reason="PyGRUB (xen-utils-4.17) not installed")
def test_two_domains_from_the_debian12_recipe(debian12, tmp_path):  # noqa: F811
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    for name, d in DOMAINS.items():
        (profiles / f"{name}.cfg").write_text(profile(name, d))
    images, xl = tmp_path / "images", tmp_path / "xl"
    env = dict(os.environ, DOMUFS=DOMUFS)
    r = subprocess.run([str(PROVISION), "--template", str(debian12), "--profiles", str(profiles),
                        "--image-dir", str(images), "--xl-dir", str(xl), "--partition", "msdos",
                        "--cache-dir", str(tmp_path / "cache"), *DOMAINS],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                       timeout=1800)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.split("\n")[:-1] == [f"xl create {xl / name}.cfg" for name in DOMAINS], r.stdout

    for name, d in DOMAINS.items():
        img = images / f"{name}.img"
        cfg = (xl / f"{name}.cfg").read_text()
        assert f'name = "{name}"' in cfg, cfg
        assert f"target={img}" in cfg.replace(" ", ""), cfg
        assert f"mac={d['mac']}" in cfg and 'bootloader = "pygrub"' in cfg, cfg

        # the filesystem in the first partition, as the guest's xvda1
        fs, fields = boot_check(img, tmp_path)
        assert "root=/dev/xvda1" in fields["args"], fields
        assert "console=hvc0" in fields["args"], fields
        assert os.path.getsize(fields["kernel"]) > 4 << 20
        assert os.path.getsize(fields["ramdisk"]) > 4 << 20

        assert debugfs_cat(fs, "/etc/hostname").strip() == d["host"]
        assert re.search(rf"^127\.0\.1\.1\s.*\b{re.escape(d['host'].split('.')[0])}\b",
                         debugfs_cat(fs, "/etc/hosts"), re.M)
        net = debugfs_cat(fs, "/etc/network/interfaces")
        assert d["ip"] in net and "enX0" in net, net          # Debian 12 names the vif enX0
        assert d["key"] in debugfs_cat(fs, "/root/.ssh/authorized_keys")
        assert mode_of(fs, "/root/.ssh/authorized_keys") & 0o777 == 0o600
        shadow = debugfs_cat(fs, "/etc/shadow")
        assert f"\nroot:{HASH}:" in "\n" + shadow, shadow
        # host keys come from the guest's first boot, not from the template
        assert "ssh_host_" not in debugfs(fs, "ls -l /etc/ssh")
        assert debugfs_cat(fs, "/etc/machine-id").strip() == ""
        # the firstboot script, its unit, enabled
        assert mode_of(fs, "/usr/lib/domufs/firstboot") & 0o7777 == 0o755
        script = debugfs_cat(fs, "/usr/lib/domufs/firstboot")
        assert "xenstore-write" in script and "data/domufs/firstboot" in script
        unit = debugfs_cat(fs, "/etc/systemd/system/domufs-firstboot.service")
        assert re.search(r"^ExecStart=(/bin/sh )?/usr/lib/domufs/firstboot$", unit, re.M), unit
        wants = debugfs(fs, "stat /etc/systemd/system/multi-user.target.wants/domufs-firstboot.service")
        assert "Type: symlink" in wants, wants
        # the guest has the tool the handshake needs
        assert "Type: regular" in debugfs(fs, "stat /usr/bin/xenstore-write")
        # the console getty
        assert "Type: symlink" in debugfs(
            fs, "stat /etc/systemd/system/getty.target.wants/serial-getty@hvc0.service")
