# SPDX-License-Identifier: LGPL-2.1-or-later
"""The firstboot fixup (DESIGN.md "Fixups" and "xenstore"): a run-once script,
/usr/lib/domufs/firstboot, hooked into each init system, that makes the
guest's own SSH host keys, disables itself and reports to dom0 with
`xenstore-write data/domufs/firstboot done` (or "failed: REASON").

Checked through real mounts of the distribution recipes (tests/data/distros)
and of the default busybox template (templates/recipes/default.recipe): the
files, links, modes and owners per init system; the script is POSIX sh (sh,
dash and busybox parse it; shellcheck and checkbashisms when installed); the
script actually runs, as root, chrooted into a writable mount of the default
template (it has a real busybox) with a fake xenstore-write that records its
arguments: it reports once, disables its hook, leaves its marker, does
nothing the second time, reports a failure as "failed: ..."; a template's
own marker and this domain's marker; switching it off; and a commit, read
back with debugfs.
"""

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

import fixtures as F
from fixtures import debugfs_cat, e2fsck_clean, sh
from test_fixups import (SRC, Template, commit, diff_labels,  # noqa: F401
                         mount, profile, read_checked, templates, unmount)

SCRIPT = "usr/lib/domufs/firstboot"
MARKER = "var/lib/domufs/firstboot.done"
HOOK = "if [ -f /usr/lib/domufs/firstboot ]; then /bin/sh /usr/lib/domufs/firstboot || :; fi"
DEFAULT_RECIPE = SRC / "templates" / "recipes" / "default.recipe"

CAWDOR = """name = "cawdor"
hostname = "cawdor.example.org"
disk = [ 'phy:/dev/scotland/cawdor,xvda,w' ]
vif = [ 'mac=00:16:3e:00:0c:01,bridge=xenbr0' ]
"""
CAWDOR_STAMP = "domufs firstboot ran for cawdor.example.org 00:16:3e:00:0c:01"

# What starts the script, per distribution of test_fixups.py: hook files
# (path -> mode), links (path -> target, and the file it names in the tree).
HOOKS = {
    "debian4": dict(
        files={"etc/init.d/domufs-firstboot": 0o755},
        links={f"etc/rc{n}.d/S01domufs-firstboot": ("../init.d/domufs-firstboot",
                                                   "etc/init.d/domufs-firstboot")
               for n in range(2, 6)}),
    "debian12": dict(
        files={"etc/systemd/system/domufs-firstboot.service": 0o644},
        links={"etc/systemd/system/multi-user.target.wants/domufs-firstboot.service":
               ("/etc/systemd/system/domufs-firstboot.service",
                "etc/systemd/system/domufs-firstboot.service")}),
    "centos5": dict(
        files={"etc/rc.d/init.d/domufs-firstboot": 0o755},
        links={f"etc/rc.d/rc{n}.d/S01domufs-firstboot": ("../init.d/domufs-firstboot",
                                                        "etc/rc.d/init.d/domufs-firstboot")
               for n in range(2, 6)}),
    "alpine": dict(
        files={"etc/init.d/domufs-firstboot": 0o755},
        links={"etc/runlevels/default/domufs-firstboot": ("/etc/init.d/domufs-firstboot",
                                                          "etc/init.d/domufs-firstboot")}),
}


def stamp_of(cfg: Path) -> str:
    """The stamp the script writes for a profile of test_fixups.py."""
    text = cfg.read_text()
    # the hostname defaults to the domain's name
    host = re.search(r'^hostname\s*=\s*"([^"]*)"', text, re.M) or \
        re.search(r'^name\s*=\s*"([^"]*)"', text, re.M)
    mac = re.search(r"mac=([0-9a-fA-F:]+)", text)
    parts = [m.group(1) for m in (host, mac) if m]
    return "domufs firstboot ran for " + " ".join(parts)


@pytest.fixture(scope="session")
def default_template(tmp_path_factory):
    """recipe text -> Template, built by scripts/mktemplate; the default one
    is the repository's default.recipe, others add to it."""
    out_dir = tmp_path_factory.mktemp("firstboot-templates")
    cache = {}

    def get(extra=""):
        if extra not in cache:
            n = len(cache)
            recipe = out_dir / f"t{n}.recipe"
            recipe.write_text(DEFAULT_RECIPE.read_text() + extra)
            out = out_dir / f"t{n}.tar.zst"
            cache[extra] = Template(F.mktemplate(recipe, out))
        return cache[extra]
    return get


@pytest.fixture
def cawdor(tmp_path):
    p = tmp_path / "cawdor.cfg"
    p.write_text(CAWDOR)
    return p


def need_root():
    if os.geteuid() != 0:
        pytest.skip("chroot into the mount: needs root")


def lines_of(b: bytes) -> list:
    return b.decode().splitlines()


# --------------------------------------------------------------------------
# what each init system gets

@pytest.mark.parametrize("name", sorted(HOOKS))
def test_each_init_system_gets_the_script_and_its_hook(name, domufs, templates):
    h = HOOKS[name]
    tpl = templates(name)
    m = mount(domufs, tpl, profile(name))
    problems = []
    for rel, mode in [(SCRIPT, 0o755)] + sorted(h["files"].items()):
        st = os.lstat(m.path / rel)
        if not stat.S_ISREG(st.st_mode):
            problems.append(f"/{rel} is not a regular file")
        if (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) != (mode, 0, 0):
            problems.append(f"/{rel}: mode {oct(st.st_mode)} uid {st.st_uid} gid {st.st_gid}, "
                            f"want {oct(mode)} root:root")
    for rel, (target, names) in sorted(h["links"].items()):
        st = os.lstat(m.path / rel)
        if not stat.S_ISLNK(st.st_mode) or os.readlink(m.path / rel) != target:
            problems.append(f"/{rel} is not a link to {target}")
            continue
        # it resolves inside the guest's tree, to the hook file
        inner = (os.path.dirname(rel) + "/" + target) if not target.startswith("/") else target[1:]
        if os.path.normpath(inner) != names:
            problems.append(f"/{rel} -> {target} does not name /{names}")
        if not (m.path / names).is_file():
            problems.append(f"/{names} (what /{rel} names) is not there")
    assert not problems, "\n".join(problems)
    # the hook runs the script; the script removes exactly these links
    script = read_checked(m.path, SCRIPT).decode()
    for rel in h["files"]:
        assert "/usr/lib/domufs/firstboot" in read_checked(m.path, rel).decode(), rel
    removed = sorted(re.findall(r"^if rm -f (\S+); then$", script, re.M))
    assert removed == sorted("/" + rel for rel in h["links"]), removed
    assert f"\nstamp='{stamp_of(profile(name))}'\n" in script
    assert not os.path.lexists(m.path / MARKER)


def test_systemd_unit_runs_once_before_sshd(domufs, templates):
    m = mount(domufs, templates("debian12"), profile("debian12"))
    unit = read_checked(m.path, "etc/systemd/system/domufs-firstboot.service").decode()
    keys = {}
    for line in unit.splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            keys[k] = v
    assert keys["Type"] == "oneshot"
    assert keys["RemainAfterExit"] == "no"
    assert keys["ConditionPathExists"] == "!/" + MARKER
    assert {"ssh.service", "sshd.service"} <= set(keys["Before"].split())
    assert "local-fs.target" in keys["After"].split()
    assert keys["WantedBy"] == "multi-user.target"
    assert keys["ExecStart"] == "/bin/sh /usr/lib/domufs/firstboot"
    # enabled as systemctl enable does, next to the template's own ssh link
    wants = os.listdir(m.path / "etc/systemd/system/multi-user.target.wants")
    assert sorted(wants) == ["domufs-firstboot.service", "ssh.service"], wants


def test_sysv_scripts_start_before_ssh_in_every_multiuser_runlevel(domufs, templates):
    for name, initd, rc in (("debian4", "etc/init.d", "etc/rc{}.d"),
                            ("centos5", "etc/rc.d/init.d", "etc/rc.d/rc{}.d")):
        m = mount(domufs, templates(name), profile(name))
        text = read_checked(m.path, f"{initd}/domufs-firstboot").decode()
        assert text.startswith("#!/bin/sh\n")
        assert "# X-Start-Before:    ssh sshd dropbear\n" in text       # insserv
        assert "# Default-Start:     2 3 4 5\n" in text
        assert "\n# chkconfig: 2345 01 99\n" in text                     # chkconfig
        for n in range(2, 6):
            assert os.listdir(m.path / rc.format(n)) == ["S01domufs-firstboot"], (name, n)
        assert not os.path.lexists(m.path / rc.format(1))
        unmount(m)


def test_busybox_sysinit_script_gets_the_hook_once(domufs, default_template, cawdor):
    tpl = default_template()
    rcs = tpl.data["etc/init.d/rcS"]
    m = domufs.mount(tpl.path, extra=["--domain", str(cawdor)])
    got = read_checked(m.path, "etc/init.d/rcS")
    assert got == rcs + (HOOK + "\n").encode(), got.decode()
    st = os.lstat(m.path / "etc/init.d/rcS")
    ti = tpl.members["etc/init.d/rcS"]
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (ti.mode, ti.uid, ti.gid)
    st = os.lstat(m.path / SCRIPT)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o755, 0, 0)
    # busybox init reads the inittab the console fixup edits: not touched for this
    assert HOOK not in read_checked(m.path, "etc/inittab").decode()
    script = read_checked(m.path, SCRIPT).decode()
    assert "\nif unhook /etc/init.d/rcS; then\n" in script
    assert f"\nstamp='{CAWDOR_STAMP}'\n" in script


@pytest.mark.parametrize("name", sorted(HOOKS) + ["default"])
def test_the_script_is_posix_sh(name, domufs, templates, default_template, cawdor, tmp_path):
    if name == "default":
        m = domufs.mount(default_template().path, extra=["--domain", str(cawdor)])
    else:
        m = mount(domufs, templates(name), profile(name))
    copy = tmp_path / "firstboot"
    copy.write_bytes(read_checked(m.path, SCRIPT))
    checks = [["sh", "-n"], ["dash", "-n"], ["busybox", "sh", "-n"]]
    if shutil.which("shellcheck"):
        checks.append(["shellcheck", "-s", "sh"])
    if shutil.which("checkbashisms"):
        checks.append(["checkbashisms"])
    for argv in checks:
        if not shutil.which(argv[0]):
            continue
        r = subprocess.run(argv + [str(copy)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
        assert r.returncode == 0, f"{' '.join(argv)}: {r.stdout}{r.stderr}"
    # the sh hooks too
    for rel in HOOKS.get(name, {}).get("files", {}):
        text = read_checked(m.path, rel)
        if text.startswith(b"#!/bin/sh"):
            hook = tmp_path / "hook"
            hook.write_bytes(text)
            for argv in (["dash", "-n"], ["busybox", "sh", "-n"]):
                r = subprocess.run(argv + [str(hook)], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
                assert r.returncode == 0, f"{rel}: {' '.join(argv)}: {r.stderr}"


# --------------------------------------------------------------------------
# running it: chrooted into a writable mount of the default template

FAKE_XENSTORE_WRITE = """#!/bin/sh
# records its arguments, as the guest's xenstore-write would store them
printf '%s|%s|%s\\n' "$#" "$1" "$2" >>/xenstore.log
"""
FAILING_SSH_KEYGEN = "#!/bin/sh\necho 'ssh-keygen: cannot write keys' >&2\nexit 1\n"


class Guest:
    """A writable mount of the default template with the cawdor profile, and
    fakes in /fake, which comes first in PATH."""

    def __init__(self, domufs, tpl, cfg, ovl, fakes):
        self.domufs, self.tpl, self.cfg, self.ovl = domufs, tpl, cfg, ovl
        self.m = self.mount()
        (self.m.path / "fake").mkdir()
        for name, text in fakes.items():
            p = self.m.path / "fake" / name
            p.write_text(text)
            p.chmod(0o755)

    def mount(self):
        # dev: the script redirects to the template's /dev/null
        return self.domufs.mount(self.tpl.path, opts="dev",
                                 extra=["--domain", str(self.cfg), "--overlay", str(self.ovl)])

    def remount(self):
        unmount(self.m)
        self.m = self.mount()

    def run(self):
        return subprocess.run(["chroot", str(self.m.path), "/bin/sh", "-c",
                               "PATH=/fake:$PATH; export PATH; exec /usr/lib/domufs/firstboot"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=60)

    def recorded(self):
        p = self.m.path / "xenstore.log"
        return p.read_text().splitlines() if p.exists() else []

    def hooked(self):
        return HOOK in read_checked(self.m.path, "etc/init.d/rcS").decode().splitlines()


def test_first_boot_reports_done_disables_itself_and_runs_once(domufs, default_template, cawdor,
                                                               tmp_path):
    need_root()
    ovl = tmp_path / "overlay"
    ovl.mkdir()
    g = Guest(domufs, default_template(), cawdor, ovl, {"xenstore-write": FAKE_XENSTORE_WRITE})
    assert g.hooked() and not os.path.lexists(g.m.path / MARKER)

    r = g.run()
    assert r.returncode == 0, f"{r.stdout}{r.stderr}"
    assert g.recorded() == ["2|data/domufs/firstboot|done"], r.stderr
    assert "domufs-firstboot: told dom0: done" in r.stderr.splitlines(), r.stderr
    # disabled: the hook line is a comment with this domain's stamp, the
    # marker is there, rcS is still an executable script
    rcs = lines_of(read_checked(g.m.path, "etc/init.d/rcS"))
    assert HOOK not in rcs and "# " + CAWDOR_STAMP in rcs, rcs
    assert rcs[:-1] == lines_of(g.tpl.data["etc/init.d/rcS"]), rcs
    assert stat.S_IMODE(os.stat(g.m.path / "etc/init.d/rcS").st_mode) == 0o755
    assert read_checked(g.m.path, MARKER) == (CAWDOR_STAMP + "\n").encode()
    assert sorted(os.listdir(g.m.path / "etc/init.d")) == ["rcS"]    # no temporary left

    # a second run does nothing, says so, and reports nothing
    r = g.run()
    assert r.returncode == 0, r.stderr
    assert g.recorded() == ["2|data/domufs/firstboot|done"]
    assert "ran already" in r.stderr and "told dom0" not in r.stderr, r.stderr

    # the next mount plans for a domain whose first boot has been: nothing
    g.remount()
    assert not os.path.lexists(g.m.path / SCRIPT)
    assert not os.path.lexists(g.m.path / "usr/lib")
    assert not g.hooked()
    assert read_checked(g.m.path, MARKER) == (CAWDOR_STAMP + "\n").encode()
    r = domufs.run("diff", "--domain", cawdor, "--overlay", ovl, g.tpl.path)
    labels = diff_labels(r.stdout)
    assert "firstboot" not in {x for v in labels.values() for x in v}, r.stdout
    assert labels.get("etc/init.d/rcS") == {"overlay"}, r.stdout


def test_failed_host_keys_are_reported_and_it_still_disables_itself(domufs, default_template,
                                                                    cawdor, tmp_path):
    need_root()
    ovl = tmp_path / "overlay"
    ovl.mkdir()
    g = Guest(domufs, default_template(), cawdor, ovl,
              {"xenstore-write": FAKE_XENSTORE_WRITE, "ssh-keygen": FAILING_SSH_KEYGEN})
    r = g.run()
    assert r.returncode == 1, f"{r.stdout}{r.stderr}"
    rec = g.recorded()
    assert len(rec) == 1 and rec[0].startswith("2|data/domufs/firstboot|failed: "), rec
    assert "ssh-keygen" in rec[0], rec
    assert "\n" not in rec[0] and len(rec[0]) < 120, rec
    assert not g.hooked()
    assert (g.m.path / MARKER).is_file()
    r = g.run()
    assert r.returncode == 0 and len(g.recorded()) == 1, r.stderr


def test_without_xenstore_write_it_logs_and_still_disables_itself(domufs, default_template, cawdor,
                                                                  tmp_path):
    need_root()
    ovl = tmp_path / "overlay"
    ovl.mkdir()
    g = Guest(domufs, default_template(), cawdor, ovl, {})
    r = g.run()
    assert r.returncode == 0, r.stderr
    assert "domufs-firstboot: no xenstore-write in this guest: dom0 is not told (done)" in \
        r.stderr.splitlines(), r.stderr
    assert not g.hooked()
    assert (g.m.path / MARKER).is_file()


# --------------------------------------------------------------------------
# markers, switching it off, diff, commit

MARKER_RECIPE = """dir /var/lib 0755
dir /var/lib/domufs 0755
file /var/lib/domufs/firstboot.done 0644
{stamp}
.
"""


def test_a_template_marker_of_another_domain_is_hidden(domufs, default_template, cawdor):
    """A root captured from a booted guest carries that guest's marker: this
    domain's first boot must still run."""
    tpl = default_template(MARKER_RECIPE.format(
        stamp="domufs firstboot ran for macbeth 00:16:3e:00:00:01"))
    m = domufs.mount(tpl.path, extra=["--domain", str(cawdor)])
    assert not os.path.lexists(m.path / MARKER)
    assert os.listdir(m.path / "var/lib/domufs") == []
    assert (m.path / SCRIPT).is_file()
    assert HOOK in lines_of(read_checked(m.path, "etc/init.d/rcS"))
    r = domufs.run("diff", "--domain", cawdor, tpl.path)
    assert diff_labels(r.stdout).get(MARKER) == {"firstboot"}, r.stdout


def test_a_template_marker_of_this_domain_installs_nothing(domufs, default_template, cawdor):
    tpl = default_template(MARKER_RECIPE.format(stamp=CAWDOR_STAMP))
    m = domufs.mount(tpl.path, extra=["--domain", str(cawdor)])
    assert read_checked(m.path, MARKER) == (CAWDOR_STAMP + "\n").encode()
    assert not os.path.lexists(m.path / SCRIPT)
    assert read_checked(m.path, "etc/init.d/rcS") == tpl.data["etc/init.d/rcS"]


def test_fixups_minus_firstboot_switches_it_off(domufs, templates, default_template, tmp_path):
    tpl = templates("debian12")
    off = tmp_path / "off.cfg"
    off.write_text(profile("debian12").read_text().replace('fixups = [ "all" ]',
                                                           'fixups = [ "all", "-firstboot" ]'))
    assert "-firstboot" in off.read_text()
    m = mount(domufs, tpl, off)
    for rel in (SCRIPT, "usr/lib/domufs", "etc/systemd/system/domufs-firstboot.service",
                "etc/systemd/system/multi-user.target.wants/domufs-firstboot.service"):
        assert not os.path.lexists(m.path / rel), rel
    # the others still apply
    assert os.path.islink(m.path / "etc/systemd/system/getty.target.wants/serial-getty@hvc0.service")
    unmount(m)
    r = domufs.run("diff", "--domain", off, tpl.path)
    assert r.returncode == 0, str(r)
    labels = diff_labels(r.stdout)
    assert "firstboot" not in {x for v in labels.values() for x in v}, r.stdout
    assert labels.get("etc/fstab") == {"fstab"}


def test_diff_labels_the_busybox_changes_firstboot(domufs, default_template, cawdor):
    tpl = default_template()
    r = domufs.run("diff", "--domain", cawdor, tpl.path)
    assert r.returncode == 0, str(r)
    labels = diff_labels(r.stdout)
    for rel in ("etc/init.d/rcS", "usr/lib", "usr/lib/domufs", SCRIPT):
        assert labels.get(rel) == {"firstboot"}, (rel, labels.get(rel))
    section = r.stdout.split("diff --domufs a/etc/init.d/rcS b/etc/init.d/rcS\n", 1)[1]
    section = section.split("\ndiff --domufs ", 1)[0]
    assert "+" + HOOK in section.splitlines(), section


def debugfs_stat(fs: Path, path: str) -> str:
    return sh("debugfs", "-R", f"stat {path}", fs).stdout


@pytest.mark.parametrize("name", ["debian12", "debian4"])
def test_commit_carries_the_script_and_its_links(name, domufs, templates, tmp_path):
    tpl = templates(name)
    img = tmp_path / f"{name}.img"
    commit(domufs, tpl, profile(name), img)
    e2fsck_clean(img)
    m = mount(domufs, tpl, profile(name))
    h = HOOKS[name]
    for rel, mode in [(SCRIPT, 0o755)] + sorted(h["files"].items()):
        st = debugfs_stat(img, "/" + rel)
        assert re.search(r"Type: regular\s+Mode:\s+0*%o\b" % mode, st), st
        assert re.search(r"User:\s+0\s+Group:\s+0\b", st), st
        assert debugfs_cat(img, "/" + rel).encode() == read_checked(m.path, rel), rel
    for rel, (target, _) in sorted(h["links"].items()):
        st = debugfs_stat(img, "/" + rel)
        assert "Type: symlink" in st, st
        assert f'Fast link dest: "{target}"' in st, st
    assert "firstboot.done" not in sh("debugfs", "-R", "ls -l /var/lib", img, check=False).stdout
