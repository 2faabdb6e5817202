# SPDX-License-Identifier: LGPL-2.1-or-later
"""`domufs seed-iso`: a cloud-init NoCloud seed image for a domain.

Checked from outside, with other people's tools: blkid sees an iso9660
filesystem labelled "cidata"; isoinfo (genisoimage) finds Rock Ridge and
Joliet and lists meta-data, user-data and network-config under those names;
bsdtar (libarchive-tools) extracts them; python3-yaml parses each as YAML,
and the values are the profile's (hostname, root's hash and keys, one
network entry per vif matched by the MAC `domufs xl-config` writes, static
or DHCP). Also: OUT replaced atomically, mode 0600, the errors.
"""

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml", reason="python3-yaml is not installed (scripts/deps.sh)")

HERE = Path(__file__).resolve().parent
SRC = HERE.parent.parent
PROFILES = SRC / "tests" / "data" / "profiles"
DISTROS = SRC / "tests" / "data" / "distros"
FILES = ["meta-data", "network-config", "user-data"]


def tool(name):
    path = shutil.which(name) or (f"/sbin/{name}" if os.path.exists(f"/sbin/{name}") else None)
    if not path:
        pytest.skip(f"{name} is not installed (scripts/deps.sh)")
    return path


def sh(*args):
    r = subprocess.run([str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode == 0, f"{args} failed: {r.stderr.decode(errors='replace')}"
    return r.stdout.decode()


def seed(domufs, profile, out):
    r = domufs.run("seed-iso", "--domain", profile, out)
    assert r.returncode == 0 and r.stdout == "" and r.errors() == [], str(r)
    return out


def extract(iso) -> dict:
    """name -> parsed YAML (and the raw text under name + '.text')."""
    names = sorted(x for x in sh(tool("bsdtar"), "-tf", iso).splitlines() if x not in (".", "./"))
    assert names == FILES, names
    out = {}
    for n in FILES:
        text = sh(tool("bsdtar"), "-xOf", iso, n)
        out[n + ".text"] = text
        out[n] = yaml.safe_load(text)
    return out


def xl_mac(domufs, profile, i=0):
    r = domufs.run("xl-config", "--domain", profile, "--target", "/srv/x.img")
    assert r.returncode == 0, str(r)
    vifs = re.findall(r'^\t"mac=([0-9a-f:]{17})', r.stdout, re.M)
    return vifs[i]


def test_the_image_is_a_cidata_iso_with_rock_ridge_and_joliet(domufs, tmp_path):
    iso = seed(domufs, PROFILES / "banquo.cfg", tmp_path / "banquo-seed.iso")
    assert sh(tool("blkid"), "-o", "value", "-s", "TYPE", iso).strip() == "iso9660"
    assert sh(tool("blkid"), "-o", "value", "-s", "LABEL", iso).strip() == "cidata"
    info = sh(tool("isoinfo"), "-d", "-i", iso)
    assert "Rock Ridge signatures" in info, info
    assert "Joliet" in info, info
    # the primary descriptor keeps d-characters only: CIDATA (cloud-init
    # looks for both cases); Joliet, which blkid reads, keeps "cidata"
    assert re.search(r"^Volume id: CIDATA$", info, re.M), info
    for flag in ("-R", "-J"):
        listing = sh(tool("isoinfo"), flag, "-l", "-i", iso)
        names = sorted(line.split()[-1] for line in listing.splitlines()
                       if line.startswith("-"))
        assert names == FILES, listing
    assert stat.S_IMODE(iso.stat().st_mode) == 0o600


def test_banquo_seed_carries_the_profile(domufs, tmp_path):
    f = extract(seed(domufs, PROFILES / "banquo.cfg", tmp_path / "s.iso"))
    assert f["meta-data"] == {"instance-id": "domufs-banquo",
                              "local-hostname": "banquo.example.org"}
    assert f["user-data.text"].startswith("#cloud-config\n")
    ud = f["user-data"]
    assert ud["hostname"] == "banquo" and ud["fqdn"] == "banquo.example.org"
    assert ud["manage_etc_hosts"] is True
    assert ud["ssh_deletekeys"] is True
    assert ud["disable_root"] is False
    assert ud["users"] == [{
        "name": "root",
        "lock_passwd": False,
        "hashed_passwd": "$6$rounds=5000$saltsalt$0123456789012345678901234567890123456789012345"
                         "678901234567890123456789012345ABCDEFGHIJ",
        "ssh_authorized_keys": [
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9vZ2xlZ29vZ2xl admin@example",
            'from="192.0.2.0/24",no-pty ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ backup',
        ],
    }]
    assert f["network-config"] == {
        "version": 2,
        "ethernets": {"enX0": {
            "match": {"macaddress": "00:16:3e:12:34:56"},
            "dhcp4": False,
            "addresses": ["192.0.2.10/24"],
            "gateway4": "192.0.2.1",
            "nameservers": {"addresses": ["192.0.2.53", "192.0.2.54"]},
        }},
    }


def test_a_netmask_gives_the_prefix(domufs, tmp_path):
    f = extract(seed(domufs, DISTROS / "bookworm.cfg", tmp_path / "s.iso"))
    eth = f["network-config"]["ethernets"]["enX0"]
    assert eth["addresses"] == ["192.0.2.12/25"]
    assert eth["match"]["macaddress"] == "00:16:3e:00:12:01"


def test_dhcp_and_derived_macs_match_xl_config(domufs, tmp_path):
    prof = tmp_path / "lennox.cfg"
    prof.write_text('name = "lennox"\n'
                    "vif = [ 'bridge=xenbr0', 'bridge=xenbr1,ip=198.51.100.4/26' ]\n"
                    'gateway = "198.51.100.1"\n'
                    'nameservers = [ "198.51.100.53" ]\n'
                    'root_password_hash = "!"\n')
    f = extract(seed(domufs, prof, tmp_path / "s.iso"))
    eths = f["network-config"]["ethernets"]
    assert sorted(eths) == ["enX0", "enX1"]
    assert eths["enX0"] == {"match": {"macaddress": xl_mac(domufs, prof, 0)}, "dhcp4": True}
    assert eths["enX1"] == {
        "match": {"macaddress": xl_mac(domufs, prof, 1)},
        "dhcp4": False,
        "addresses": ["198.51.100.4/26"],
        "gateway4": "198.51.100.1",
        "nameservers": {"addresses": ["198.51.100.53"]},
    }
    # a locking hash locks root; no keys, no hash line
    assert f["user-data"]["users"] == [{"name": "root", "lock_passwd": True}]
    assert f["meta-data"] == {"instance-id": "domufs-lennox", "local-hostname": "lennox"}


def test_a_profile_without_credentials_leaves_users_alone(domufs, tmp_path):
    f = extract(seed(domufs, PROFILES / "hecate.cfg", tmp_path / "s.iso"))
    assert "users" not in f["user-data"]
    assert f["user-data"]["hostname"] == "hecate"
    assert f["network-config"]["ethernets"]["enX0"]["dhcp4"] is True


def test_out_is_replaced_atomically(domufs, tmp_path):
    out = tmp_path / "seed.iso"
    out.write_bytes(b"not an iso\n")
    ino = out.stat().st_ino
    seed(domufs, PROFILES / "banquo.cfg", out)
    assert out.stat().st_ino != ino
    assert sh(tool("blkid"), "-o", "value", "-s", "LABEL", out).strip() == "cidata"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed.iso"]
    # a second run gives the same files
    first = extract(out)
    seed(domufs, PROFILES / "banquo.cfg", out)
    assert extract(out) == first
    # a FIFO (or a device) is not replaced by a file
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    r = domufs.run("seed-iso", "--domain", PROFILES / "banquo.cfg", fifo)
    assert r.returncode == 1, str(r)
    assert len(r.errors()) == 1 and "not a regular file" in r.errors()[0], str(r)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_errors_have_their_exit_status(domufs, tmp_path):
    r = domufs.run("seed-iso", tmp_path / "x.iso")
    assert r.returncode == 2 and "--domain" in r.stderr, str(r)
    r = domufs.run("seed-iso", "--domain", PROFILES / "banquo.cfg")
    assert r.returncode == 2, str(r)
    r = domufs.run("seed-iso", "--help")
    assert r.returncode == 0 and r.stdout.startswith("Usage: domufs seed-iso"), str(r)
    missing = tmp_path / "no-such-dir" / "x.iso"
    r = domufs.run("seed-iso", "--domain", PROFILES / "banquo.cfg", missing)
    assert r.returncode == 1, str(r)
    assert len(r.stderr_lines()) == 1 and str(missing) in r.stderr, str(r)
    assert not missing.parent.exists()
    r = domufs.run("seed-iso", "--domain", PROFILES / "banquo.cfg", tmp_path)
    assert r.returncode == 1 and "is a directory" in r.stderr, str(r)
    r = domufs.run("seed-iso", "--domain", tmp_path / "missing.cfg", tmp_path / "x.iso")
    assert r.returncode == 1 and "missing.cfg" in r.stderr, str(r)
    assert list(tmp_path.iterdir()) == []
