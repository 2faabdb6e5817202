# SPDX-License-Identifier: LGPL-2.1-or-later
"""The man pages (doc/), domufs@.service (systemd/) and the bash completion
(completion/): groff finds nothing to warn about; each subcommand's page
and completion know the options its --help prints and no others;
`meson install --destdir` puts everything in place; systemd-analyze
verifies the unit, whose command lines mount and unmount a domain's tree.
"""

import os
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import fixtures as F

HERE = Path(__file__).resolve().parent
SRC = HERE.parent.parent
DOC = SRC / "doc"
UNIT_IN = SRC / "systemd" / "domufs@.service.in"
COMPLETION = SRC / "completion" / "domufs"
DEMO = SRC / "templates" / "domains" / "demo.cfg"

SUBCOMMANDS = ["mount", "index", "commit", "diff", "xl-config", "wait", "seed-iso"]
PAGES = ["domufs.1"] + [f"domufs-{c}.1" for c in SUBCOMMANDS] + ["domufs-profile.5"]


def domufs():
    return os.environ["DOMUFS"]


def run(*args, **kw):
    return subprocess.run([str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, **kw)


def help_text(cmd):
    r = run(domufs(), cmd, "--help")
    assert r.returncode == 0, f"domufs {cmd} --help: {r.returncode}\n{r.stderr}"
    return r.stdout


def help_options(cmd):
    """Options of `domufs CMD --help`: those on its option lines (indented,
    starting with a dash), not ones mentioned in the prose."""
    opts = set()
    for line in help_text(cmd).splitlines():
        m = re.match(r"^\s+((?:-[A-Za-z0-9](?:,\s*|\s+|$))?(?:--[a-z][a-z0-9-]*)?)", line)
        if not m or not m.group(1).strip():
            continue
        opts.update(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[A-Za-z0-9])(?![\w-])", m.group(1)))
    return opts


def roff_text(s):
    return s.replace("\\-", "-").replace("\\fB", "").replace("\\fI", "").replace("\\fR", "") \
            .replace("\\fP", "")


def man_options(page):
    """Options documented in the OPTIONS section: the tags of its .TP items."""
    text = (DOC / page).read_text()
    sec = re.search(r"^\.SH OPTIONS\n(.*?)(?=^\.SH )", text, re.M | re.S)
    assert sec, f"{page} has no OPTIONS section"
    lines = sec.group(1).splitlines()
    opts = set()
    for i, line in enumerate(lines):
        if line == ".TP" and i + 1 < len(lines):
            tag = roff_text(lines[i + 1])
            opts.update(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[A-Za-z0-9])(?![\w-])", tag))
    return opts


# --------------------------------------------------------------------------
# man pages

@pytest.mark.parametrize("page", PAGES)
def test_groff_has_no_warnings(page):
    r = run("groff", "-man", "-ww", "-z", DOC / page)
    assert r.returncode == 0 and r.stderr == "", r.stderr


@pytest.mark.skipif(not shutil.which("man"), reason="man-db is not installed")
@pytest.mark.parametrize("page", PAGES)
def test_man_has_no_warnings(page):
    r = run("man", "--warnings", "-l", DOC / page, env=dict(os.environ, MANWIDTH="80"))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert "NAME" in r.stdout and "SEE ALSO" in r.stdout


@pytest.mark.parametrize("cmd", SUBCOMMANDS)
def test_man_page_documents_the_options_of_help(cmd):
    in_help = help_options(cmd)
    in_man = man_options(f"domufs-{cmd}.1")
    assert in_help, f"no options found in domufs {cmd} --help"
    assert in_help - in_man == set(), f"domufs-{cmd}.1 lacks {sorted(in_help - in_man)}"
    # every page documents --help, which the help texts do not list
    assert in_man - in_help - {"--help", "-h"} == set(), \
        f"domufs-{cmd}.1 documents {sorted(in_man - in_help)}, which --help does not know"
    # and the options the page documents exist: a usage error names the bad ones
    for opt in sorted(in_man):
        if opt.startswith("--"):
            r = run(domufs(), cmd, opt + "=x" if opt in ("--progress",) else opt, "--help")
            assert "unrecognized option" not in r.stderr and "unknown option" not in r.stderr, \
                f"domufs {cmd} {opt}: {r.stderr}"


@pytest.mark.parametrize("cmd", SUBCOMMANDS)
def test_man_page_synopsis_and_sections(cmd):
    text = (DOC / f"domufs-{cmd}.1").read_text()
    for sec in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "SEE ALSO"):
        assert re.search(rf"^\.SH {sec}$", text, re.M), f"domufs-{cmd}.1 has no {sec}"
    roff = cmd.replace("-", "\\-")
    assert f'\n.SY "domufs {roff}"\n' in text
    assert f"\n.TH DOMUFS\\-{roff.upper()} 1 " in text


VALUE_OPTION = {"mount": "--domain", "index": "--cache-dir", "commit": "--domain",
                "diff": "--domain", "xl-config": "--domain", "wait": "--timeout",
                "seed-iso": "--domain"}


@pytest.mark.parametrize("cmd", SUBCOMMANDS)
def test_usage_errors_are_one_line_naming_the_option(cmd):
    for args, named in ((["--bogus"], "unknown option '--bogus'"),
                        (["--bogus=1", "x"], "unknown option '--bogus'"),
                        (["-Z"], "unknown option '-Z'"),
                        (["--help=x"], "option '--help' takes no value"),
                        ([VALUE_OPTION[cmd]], f"option '{VALUE_OPTION[cmd]}' needs a value")):
        r = run(domufs(), cmd, *args)
        lines = r.stderr.splitlines()
        assert r.returncode == 2, f"domufs {cmd} {args}: {r.returncode}"
        assert len(lines) == 1, f"domufs {cmd} {args}: {r.stderr}"
        assert lines[0] == f"domufs: {named} (see 'domufs {cmd} --help')", lines[0]


def test_options_may_follow_the_operands(tmp_path):
    tpl = tmp_path / "t.tar"
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hostname").write_text("t\n")
    subprocess.run(["tar", "-C", root, "-cf", tpl, "."], check=True)
    cache = tmp_path / "cache"
    r = run(domufs(), "index", tpl, "--cache-dir", cache)
    assert r.returncode == 0, r.stderr
    assert any(p.suffix == ".idx" for p in cache.iterdir())
    # "--" ends the options: what follows is an operand even if it looks like one
    r = run(domufs(), "index", "--cache-dir", cache, "--", "--rebuild")
    assert r.returncode == 1 and r.stderr.startswith("domufs: --rebuild: "), r.stderr


def test_main_page_lists_every_command():
    raw = (DOC / "domufs.1").read_text()
    text = roff_text(raw)
    for cmd in SUBCOMMANDS:
        assert f".BR domufs\\-{cmd.replace('-', chr(92) + '-')} (1)" in raw, \
            f"domufs.1 does not refer to domufs-{cmd}(1)"
        assert re.search(rf"^\.B {re.escape(cmd)}$", text, re.M), f"domufs.1 does not list {cmd}"
    # and the commands domufs --help lists are all documented
    r = run(domufs(), "--help")
    listed = re.findall(r"^  ([a-z][a-z-]*) ", r.stdout, re.M)
    assert listed
    for cmd in listed:
        assert cmd in SUBCOMMANDS, f"domufs --help lists {cmd}, which has no man page"
    for section in ("EXIT STATUS", "ENVIRONMENT", "FILES", "EXAMPLES"):
        assert re.search(rf"^\.SH {section}$", text, re.M)
    assert "/var/cache/domufs" in text


def test_profile_page_documents_every_key_and_fixup(tmp_path):
    text = roff_text((DOC / "domufs-profile.5").read_text())
    for key in ("hostname", "console", "netmask", "gateway", "nameservers", "root_password_hash",
                "ssh_authorized_keys", "fixups", "template", "overlay", "name", "disk", "vif",
                "bootloader"):
        assert re.search(rf"^\.BR? {key}\b", text, re.M), f"domufs-profile.5 lacks {key}"
    # the fixups domufs knows (an unknown one is refused with their list)
    # are the ones the page documents
    prof = tmp_path / "p.cfg"
    prof.write_text('name = "x"\nfixups = [ "no-such-fixup" ]\n')
    r = run(domufs(), "xl-config", "--domain", prof)
    assert r.returncode == 1
    m = re.search(r"known: ([a-z, -]+?), all\b", r.stderr)
    assert m, r.stderr
    known = m.group(1).split(", ")
    assert "firstboot" in known and "fstab" in known, known
    for fix in known:
        assert re.search(rf"^\.TP\n\.B {fix}$", text, re.M), f"domufs-profile.5 lacks fixup {fix}"
    documented = re.search(r"^\.SH FIXUPS\n(.*?)^\.SH ", text, re.M | re.S).group(1)
    assert sorted(re.findall(r"^\.TP\n\.B ([a-z]+)$", documented, re.M)) == sorted(known)


# --------------------------------------------------------------------------
# meson install

@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    build = Path(domufs()).resolve().parent
    if not (build / "build.ninja").exists() or not shutil.which("meson"):
        pytest.skip(f"{build} is not a meson build directory")
    dest = tmp_path_factory.mktemp("destdir")
    r = run("meson", "install", "-C", build, "--destdir", dest, "--no-rebuild", "--quiet")
    assert r.returncode == 0, r.stdout + r.stderr
    prefix = run("meson", "introspect", "--buildoptions", build)
    import json
    opts = {o["name"]: o["value"] for o in json.loads(prefix.stdout)}
    root = dest / opts["prefix"].lstrip("/")
    return {"dest": dest, "root": root, "opts": opts}


def test_install_puts_everything_in_place(installed):
    root, opts = installed["root"], installed["opts"]
    man = root / opts["mandir"]
    for page in PAGES:
        sect = page.rsplit(".", 1)[1]
        p = man / f"man{sect}" / page
        assert p.is_file(), f"{p} not installed"
        assert p.read_bytes() == (DOC / page).read_bytes()
    unit = root / "lib" / "systemd" / "system" / "domufs@.service"
    assert unit.is_file()
    assert f"ExecStart={opts['prefix']}/{opts['bindir']}/domufs mount -f " in unit.read_text()
    comp = root / opts["datadir"] / "bash-completion" / "completions" / "domufs"
    assert comp.read_bytes() == COMPLETION.read_bytes()
    assert (root / opts["bindir"] / "domufs").is_file()


def _unit_for_here(installed, tmp_path):
    """The installed unit, its ExecStart pointed at the binary under test."""
    opts = installed["opts"]
    unit = (installed["root"] / "lib/systemd/system/domufs@.service").read_text()
    return unit.replace(f"{opts['prefix']}/{opts['bindir']}/domufs", domufs())


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze")
def test_systemd_analyze_verify(installed, tmp_path):
    unit = tmp_path / "domufs@banquo.service"
    unit.write_text(_unit_for_here(installed, tmp_path))
    # Documentation= is checked against the installed man pages
    man = installed["root"] / installed["opts"]["mandir"]
    r = run("systemd-analyze", "verify", unit, env=dict(os.environ, MANPATH=str(man)))
    assert r.returncode == 0 and r.stdout + r.stderr == "", r.stdout + r.stderr
    # and it does catch a broken unit
    bad = tmp_path / "domufs@bad.service"
    bad.write_text(_unit_for_here(installed, tmp_path).replace("ExecStart=/", "ExecStart=/nonexistent/"))
    r = run("systemd-analyze", "verify", "--man=no", bad)
    assert r.returncode != 0


def test_unit_keeps_the_domain_mounted(installed, tmp_path):
    """Its ExecStartPre/ExecStart/ExecStartPost/ExecStop lines, run as systemd
    would (%i, $$) with /etc/domufs and /run/domufs moved under tmp_path."""
    text = UNIT_IN.read_text()
    for key, want in (("After", "local-fs.target"), ("Restart", "on-failure"), ("Type", "exec")):
        assert re.search(rf"^{key}={want}$", text, re.M), key
    tpl = tmp_path / "default.tar.zst"
    F.mktemplate(SRC / "templates/recipes/default.recipe", tpl)
    etc = tmp_path / "etc-domains"
    etc.mkdir()
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (etc / "banquo.cfg").write_text(DEMO.read_text() + f'template = "{tpl}"\noverlay = "{overlay}"\n')
    run_dir = tmp_path / "run-domufs"
    cache = tmp_path / "cache"

    def cmdline(key):
        line = re.search(rf"^{key}=(.*)$", _unit_for_here(installed, tmp_path), re.M).group(1)
        line = line.replace("%i", "banquo").replace("$$", "$")
        line = line.replace("/etc/domufs/domains", str(etc)).replace("/run/domufs", str(run_dir))
        argv = shlex.split(line)
        if argv[0] == domufs():
            argv[2:2] = ["--cache-dir", str(cache)]
        return argv

    mnt = run_dir / "banquo"
    assert run(*cmdline("ExecStartPre")).returncode == 0
    daemon = subprocess.Popen(cmdline("ExecStart"), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        post = run(*cmdline("ExecStartPost"), timeout=90)
        assert post.returncode == 0, post.stderr
        assert F.is_mountpoint(mnt)
        assert (mnt / "etc/hostname").read_text() == "banquo\n"
        (mnt / "root/note").write_text("kept\n")
        stop = run(*cmdline("ExecStop"))
        assert stop.returncode == 0, stop.stderr
        assert daemon.wait(timeout=30) == 0, daemon.stderr.read()
    finally:
        if daemon.poll() is None:
            if F.is_mountpoint(mnt):
                subprocess.run(["fusermount3", "-u", "-z", str(mnt)])
            daemon.kill()
            daemon.wait()
    assert not F.is_mountpoint(mnt)
    assert (overlay / "root/note").read_text() == "kept\n"


# --------------------------------------------------------------------------
# bash completion

def complete(words, cwd=None):
    """COMPREPLY of _domufs for the command line `words` (the last one is
    the word being completed)."""
    script = (f"source {shlex.quote(str(COMPLETION))}\n"
              f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)})\n"
              "COMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n"
              "COMPREPLY=()\n"
              "_domufs\n"
              "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], cwd=cwd,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert r.returncode == 0, r.stderr
    assert "command not found" not in r.stderr, r.stderr
    return sorted(x for x in r.stdout.split("\n") if x)


def test_completion_is_registered():
    r = subprocess.run(["bash", "--norc", "-c", f"source {COMPLETION}; complete -p domufs"],
                       stdout=subprocess.PIPE, text=True)
    assert r.stdout.strip() == "complete -F _domufs domufs"


def test_completion_of_subcommands():
    assert complete(["domufs", ""]) == sorted(SUBCOMMANDS)
    assert complete(["domufs", "co"]) == ["commit"]
    assert complete(["domufs", "-"]) == ["--help", "--version"]


@pytest.mark.parametrize("cmd", SUBCOMMANDS)
def test_completion_knows_the_options_of_help(cmd):
    got = set(complete(["domufs", cmd, "-"]))
    want = {o for o in help_options(cmd)}
    assert want - got == set(), f"completion of domufs {cmd} lacks {sorted(want - got)}"
    assert got - want - {"--help"} == set(), f"completion offers {sorted(got - want)}"


def test_completion_of_option_values():
    assert complete(["domufs", "commit", "--fs", ""]) == ["ext2", "ext3", "ext4"]
    assert complete(["domufs", "commit", "--fs", "=", "ext"]) == ["ext2", "ext3", "ext4"]
    assert complete(["domufs", "commit", "--fs", "="]) == ["ext2", "ext3", "ext4"]
    assert complete(["domufs", "commit", "--partition", ""]) == ["msdos", "none"]
    assert complete(["domufs", "xl-config", "--partition", "m"]) == ["msdos"]
    assert complete(["domufs", "commit", "--format", "tar."]) == ["tar.gz", "tar.zst"]
    assert complete(["domufs", "commit", "--progress", "=", ""]) == ["json", "none"]
    assert complete(["domufs", "wait", "--timeout", ""]) == []


@pytest.fixture
def files(tmp_path):
    for name in ("a.cfg", "b.cfg", "notes.txt", "root.tar", "root.tar.zst", "old.tar.gz",
                 "x.tar.xz", "y.tar.bz2", "seed.iso", "disk.img", "with space.cfg"):
        (tmp_path / name).write_text("")
    (tmp_path / "sub").mkdir()
    return tmp_path


def test_completion_of_files(files):
    templates = ["old.tar.gz", "root.tar", "root.tar.zst", "sub", "x.tar.xz", "y.tar.bz2"]
    assert complete(["domufs", "mount", "--domain", ""], files) == \
        ["a.cfg", "b.cfg", "sub", "with space.cfg"]
    assert complete(["domufs", "commit", "--domain", "=", "a"], files) == ["a.cfg"]
    assert complete(["domufs", "mount", ""], files) == templates
    assert complete(["domufs", "index", "r"], files) == ["root.tar", "root.tar.zst"]
    assert complete(["domufs", "diff", "--domain", "a.cfg", ""], files) == templates
    # after the template, a mount point is a directory
    assert complete(["domufs", "mount", "--overlay", "sub", "root.tar", ""], files) == ["sub"]
    assert complete(["domufs", "mount", "--overlay", ""], files) == ["sub"]
    assert complete(["domufs", "index", "--cache-dir", ""], files) == ["sub"]
    # commit: template, then any target file
    assert complete(["domufs", "commit", "--fs", "ext4", "r"], files) == ["root.tar", "root.tar.zst"]
    assert "disk.img" in complete(["domufs", "commit", "root.tar", ""], files)
    assert complete(["domufs", "seed-iso", "--domain", "a.cfg", ""], files) == ["seed.iso", "sub"]
    assert complete(["domufs", "xl-config", "--seed", "s"], files) == ["seed.iso", "sub"]
    assert "disk.img" in complete(["domufs", "xl-config", "--target", ""], files)
