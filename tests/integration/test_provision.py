# SPDX-License-Identifier: LGPL-2.1-or-later
"""scripts/provision: the mass-deployment loop (profile, target, commit,
xl.cfg, `xl create` line per domain) on image files of the default
template, checked with e2fsck and debugfs; one domain's failure does not
stop the others; --dry-run touches nothing; the LVM path in --dry-run
(there is no device-mapper here).
"""

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

import fixtures as F
from fixtures import debugfs_cat, e2fsck_clean, sh

HERE = Path(__file__).resolve().parent
SRC = HERE.parent.parent
PROVISION = SRC / "scripts" / "provision"
DEMO = SRC / "templates" / "domains" / "demo.cfg"

HASH = ("$6$domufsdemo$/a3wuhBjcxvl0V8gJAGhWZ/i1.A04dmnuo8UURf4fMupqIv7XUgJwLgT/bxBzRWhXWEwjS7C2H"
        "USAgLgNRWKL0")
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOdemoDemoDemoDemoDemoDemoDemoDemoDemoDemoDemo admin@example"


def profile_text(name, hostname, mac, ip, extra=""):
    return (f'name = "{name}"\n'
            "memory = 256\n"
            f"disk = [ 'file:/var/lib/domufs/images/{name}.img,xvda,w' ]\n"
            f"vif = [ 'mac={mac},ip={ip},bridge=xenbr0' ]\n"
            'bootloader = "pygrub"\n'
            f'hostname = "{hostname}"\n'
            'netmask = "255.255.255.0"\n'
            'gateway = "192.0.2.1"\n'
            f'root_password_hash = "{HASH}"\n'
            f'ssh_authorized_keys = [ "{KEY}" ]\n' + extra)


DOMAINS = {
    "banquo": ("banquo", "00:16:3e:00:00:01", "192.0.2.21"),
    "fleance": ("fleance", "00:16:3e:00:00:02", "192.0.2.22"),
    "macduff": ("thane-of-fife", "00:16:3e:00:00:03", "192.0.2.23"),
}


@pytest.fixture(scope="session")
def default_template(tmp_path_factory):
    out = tmp_path_factory.mktemp("provision-template") / "default.tar.zst"
    return F.mktemplate(SRC / "templates/recipes/default.recipe", out)


@pytest.fixture
def site(tmp_path):
    """A profiles directory with the three domains, and where things go."""
    prof = tmp_path / "profiles"
    prof.mkdir()
    for name, (host, mac, ip) in DOMAINS.items():
        (prof / f"{name}.cfg").write_text(profile_text(name, host, mac, ip))
    s = {
        "profiles": prof,
        "images": tmp_path / "images",
        "xl": tmp_path / "xl",
        "cache": tmp_path / "cache",
        "tmp": tmp_path,
    }
    return s


def provision(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    r = subprocess.run([str(PROVISION)] + [str(a) for a in args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, env=e, timeout=600)
    return r


def base_args(site, template):
    return ["--template", template, "--profiles", site["profiles"], "--image-dir", site["images"],
            "--xl-dir", site["xl"], "--cache-dir", site["cache"]]


def assert_image_ok(image, hostname, root="/dev/xvda"):
    e2fsck_clean(image)
    assert debugfs_cat(image, "/etc/hostname").strip() == hostname
    fstab = debugfs_cat(image, "/etc/fstab")
    assert re.search(rf"^{re.escape(root)}\s+/\s+ext4\s", fstab, re.M), fstab


def xl_lines(stdout):
    return [shlex.split(line) for line in stdout.splitlines() if line.startswith("xl create")]


def test_three_domains_into_image_files(site, default_template):
    r = provision(*base_args(site, default_template), "banquo", "fleance", "macduff")
    assert r.returncode == 0, r.stderr
    # stdout: exactly one runnable `xl create` line per domain, in order
    assert xl_lines(r.stdout) == [["xl", "create", str(site["xl"] / f"{n}.cfg")]
                                  for n in ("banquo", "fleance", "macduff")], r.stdout
    assert r.stdout.count("\n") == 3, r.stdout
    assert "3 of 3 domains provisioned" in r.stderr
    for name, (host, mac, ip) in DOMAINS.items():
        img = site["images"] / f"{name}.img"
        assert_image_ok(img, host)
        shadow = debugfs_cat(img, "/etc/shadow")
        assert shadow.startswith(f"root:{HASH}:"), shadow
        cfg = (site["xl"] / f"{name}.cfg").read_text()
        assert re.search(rf'^name = "{name}"$', cfg, re.M), cfg
        assert f"target={img}" in cfg, cfg
        assert f"mac={mac}" in cfg and f"ip={ip}" in cfg, cfg
        assert 'bootloader = "pygrub"' in cfg
        # the provisioning keys are not xl's: only comments in the xl.cfg
        assert not re.search(r"^\s*root_password_hash", cfg, re.M), cfg
    # the domains do not share anything by accident
    assert (debugfs_cat(site["images"] / "banquo.img", "/etc/network/interfaces")
            != debugfs_cat(site["images"] / "fleance.img", "/etc/network/interfaces"))


def test_xl_cfg_reads_back_as_a_profile(site, default_template):
    """The xl.cfg written is valid xl.cfg syntax: domufs (libxlutil) reads it back."""
    r = provision(*base_args(site, default_template), "fleance")
    assert r.returncode == 0, r.stderr
    again = sh(os.environ["DOMUFS"], "xl-config", "--domain", site["xl"] / "fleance.cfg")
    assert 'name = "fleance"' in again.stdout
    assert f"target={site['images'] / 'fleance.img'}" in again.stdout


def test_partitioned_domain(site, default_template):
    r = provision(*base_args(site, default_template), "--partition", "msdos", "--size", "64M",
                  "banquo")
    assert r.returncode == 0, r.stderr
    img = site["images"] / "banquo.img"
    assert img.stat().st_size == 64 << 20
    mbr = img.read_bytes()[:512]
    assert mbr[510:512] == b"\x55\xaa" and mbr[446 + 4] == 0x83
    fs = site["tmp"] / "fs.img"
    sh("dd", f"if={img}", f"of={fs}", "bs=1M", "skip=1", "status=none")
    assert_image_ok(fs, "banquo", root="/dev/xvda1")


def test_one_bad_profile_fails_that_domain_only(site, default_template):
    bad = profile_text("fleance", "fleance", "00:16:3e:zz:00:02", "192.0.2.22")
    (site["profiles"] / "fleance.cfg").write_text(bad)
    r = provision(*base_args(site, default_template), "banquo", "fleance", "macduff", "duncan")
    assert r.returncode == 1, r.stderr
    lines = r.stderr.splitlines()
    # refused before anything is created for it
    assert any(re.match(r"^provision: fleance: .*fleance.cfg: refused by domufs xl-config", ln)
               for ln in lines), r.stderr
    assert any(ln.startswith("domufs: ") and "fleance.cfg" in ln for ln in lines), r.stderr
    assert f"provision: duncan: no profile {site['profiles'] / 'duncan.cfg'}" in lines, r.stderr
    assert lines[-1] == "provision: 2 of 4 domains provisioned; failed: fleance duncan", r.stderr
    # the others are done, completely
    assert xl_lines(r.stdout) == [["xl", "create", str(site["xl"] / "banquo.cfg")],
                                  ["xl", "create", str(site["xl"] / "macduff.cfg")]]
    assert_image_ok(site["images"] / "banquo.img", "banquo")
    assert_image_ok(site["images"] / "macduff.img", "thane-of-fife")
    assert not (site["images"] / "fleance.img").exists()
    assert not (site["xl"] / "fleance.cfg").exists()
    assert sorted(p.name for p in site["images"].iterdir()) == ["banquo.img", "macduff.img"]


def test_profiles_are_checked_before_anything_is_created(site, default_template):
    """A profile that names another domain, one without a template, one whose
    template is missing, one that does not load: failed before lvcreate or
    commit, with --dry-run too."""
    host, mac, ip = DOMAINS["banquo"]
    (site["profiles"] / "other.cfg").write_text(profile_text("banquo", host, mac, ip))
    (site["profiles"] / "notmpl.cfg").write_text(profile_text("notmpl", "notmpl", mac, ip))
    (site["profiles"] / "gone.cfg").write_text(
        profile_text("gone", "gone", mac, ip, 'template = "/nonexistent/t.tar"\n'))
    (site["profiles"] / "bad.cfg").write_text(profile_text("bad", "bad", "zz", ip))
    common = ["--profiles", site["profiles"], "--cache-dir", site["cache"], "--xl-dir", site["xl"]]
    for extra in (["--image-dir", site["images"]],
                  ["--vg", "scotland", "--size", "4G", "--dry-run"],
                  ["--image-dir", site["images"], "--dry-run"]):
        r = provision(*common, *extra, "other", "notmpl", "gone", "bad")
        assert r.returncode == 1, r.stderr
        err = r.stderr
        assert 'provision: other: ' in err and 'name = "banquo", not other' in err, err
        assert "provision: notmpl: " in err and "no `template' key, and no --template" in err
        assert "provision: gone: " in err and "template /nonexistent/t.tar: no such file" in err
        assert "provision: bad: " in err and "refused by domufs xl-config" in err, err
        done = "would be provisioned" if "--dry-run" in extra else "provisioned"
        assert err.splitlines()[-1] == \
            f"provision: 0 of 4 domains {done}; failed: other notmpl gone bad", err
        assert r.stdout == "", r.stdout  # no lvcreate, commit or xl create for any
        assert not site["images"].exists() and not site["xl"].exists()


def test_existing_image_needs_force(site, default_template):
    assert provision(*base_args(site, default_template), "banquo").returncode == 0
    r = provision(*base_args(site, default_template), "banquo")
    assert r.returncode == 1
    assert "provision: banquo: domufs commit failed" in r.stderr
    assert "--force" in r.stderr  # domufs says how to overwrite
    r = provision(*base_args(site, default_template), "--force", "banquo")
    assert r.returncode == 0, r.stderr
    assert_image_ok(site["images"] / "banquo.img", "banquo")


def test_template_and_overlay_from_the_profile(site, default_template):
    ov = site["tmp"] / "overlay-banquo"
    (ov / "etc").mkdir(parents=True)
    (ov / "etc" / "motd").write_text("banquo's own motd\n")
    host, mac, ip = DOMAINS["banquo"]
    (site["profiles"] / "banquo.cfg").write_text(
        profile_text("banquo", host, mac, ip,
                     f'template = "{default_template}"\noverlay = "{ov}"\n'))
    r = provision("--profiles", site["profiles"], "--image-dir", site["images"],
                  "--xl-dir", site["xl"], "--cache-dir", site["cache"], "banquo")
    assert r.returncode == 0, r.stderr
    img = site["images"] / "banquo.img"
    assert_image_ok(img, "banquo")
    assert debugfs_cat(img, "/etc/motd") == "banquo's own motd\n"


def test_dry_run_touches_nothing(site, default_template):
    before = sorted(p for p in site["tmp"].rglob("*"))
    r = provision(*base_args(site, default_template), "--dry-run", "banquo", "fleance")
    assert r.returncode == 0, r.stderr
    assert sorted(p for p in site["tmp"].rglob("*")) == before
    cmds = [shlex.split(line) for line in r.stdout.splitlines()]
    domufs = os.environ["DOMUFS"]
    img = str(site["images"] / "banquo.img")
    prof = str(site["profiles"] / "banquo.cfg")
    assert ["mkdir", "-p", str(site["images"])] in cmds
    assert ["mkdir", "-p", str(site["xl"])] in cmds
    assert [domufs, "commit", "--domain", prof, "--fs", "ext4", "--partition", "none",
            "--cache-dir", str(site["cache"]), str(default_template), img] in cmds, r.stdout
    assert [domufs, "xl-config", "--domain", prof, "--target", img, "--partition", "none",
            "-o", str(site["xl"] / "banquo.cfg")] in cmds, r.stdout
    assert ["xl", "create", str(site["xl"] / "fleance.cfg")] == cmds[-1]
    # what it prints is a shell script that does the job
    assert all(c[0] in ("mkdir", domufs, "xl") for c in cmds), r.stdout


def test_dry_run_of_the_lvm_path(site, default_template):
    r = provision("--template", default_template, "--profiles", site["profiles"],
                  "--vg", "scotland", "--size", "4G", "--xl-dir", site["xl"], "--dry-run",
                  "banquo", "macduff")
    assert r.returncode == 0, r.stderr
    cmds = [shlex.split(line) for line in r.stdout.splitlines()]
    domufs = os.environ["DOMUFS"]
    for name in ("banquo", "macduff"):
        dev = f"/dev/scotland/{name}"
        prof = str(site["profiles"] / f"{name}.cfg")
        i = cmds.index(["lvcreate", "-L", "4G", "-n", name, "scotland"])
        # the LV is sized by lvcreate: no --size for the commit
        assert cmds[i + 1] == [domufs, "commit", "--domain", prof, "--fs", "ext4",
                               "--partition", "none", str(default_template), dev], r.stdout
        assert [domufs, "xl-config", "--domain", prof, "--target", dev, "--partition", "none",
                "-o", str(site["xl"] / f"{name}.cfg")] in cmds
    assert not site["xl"].exists()


@pytest.mark.parametrize("name", ["../x", "a b", "a/b", "x.cfg", "-", "a_b", "", "é",
                                  "a" * 64, "trailing-"])
def test_bad_domain_names_are_refused(site, default_template, name):
    r = provision(*base_args(site, default_template), "banquo", "--", name)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("provision: ") and len(r.stderr.splitlines()) == 1, r.stderr
    assert not site["images"].exists() and not site["xl"].exists()


@pytest.mark.parametrize("args,needle", [
    ([], "no domain named"),
    (["--profiles", "p", "banquo"], "--vg VG or --image-dir"),
    (["--vg", "scotland", "banquo"], "--vg needs --size"),
    (["--vg", "scotland", "--image-dir", "i", "--size", "1G", "banquo"], "--vg VG or --image-dir"),
    (["--image-dir", "i", "--partition", "gpt", "banquo"], "--partition gpt"),
    (["--image-dir", "i", "--fs", "xfs", "banquo"], "--fs xfs"),
    (["--image-dir", "i", "--size", "lots", "banquo"], "not a size"),
    (["--vg", "../etc", "--size", "1G", "banquo"], "not a volume group"),
    (["--image-dir", "i", "banquo", "banquo"], "named twice"),
    (["--image-dir", "i", "--bogus", "banquo"], "unknown option --bogus"),
])
def test_usage_errors(tmp_path, args, needle):
    r = subprocess.run([str(PROVISION)] + args, cwd=tmp_path, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
    assert list(tmp_path.iterdir()) == []


def test_help():
    r = subprocess.run([str(PROVISION), "--help"], stdout=subprocess.PIPE, text=True)
    assert r.returncode == 0
    for opt in ("--template", "--profiles", "--vg", "--image-dir", "--size", "--xl-dir",
                "--partition", "--fs", "--dry-run", "--cache-dir", "--force"):
        assert opt in r.stdout
