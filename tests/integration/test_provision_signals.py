# SPDX-License-Identifier: LGPL-2.1-or-later
"""scripts/provision, what test_provision.py does not cover: a signal
(INT, TERM, HUP) stops it cleanly (the domufs commit running cancelled and
waited for, a summary, exit 128+N); --size read as `domufs commit --size`
reads it (checked up front, the same unit in both modes); the dry run's
summary.

The signal tests need a template whose commit takes a while: the Debian
root of the benchmarks, /var/tmp/domufs-bench/root.tar.zst (only read;
DOMUFS_TEST_BIG_TEMPLATE to use another); they are skipped without it.
"""

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from test_provision import (DOMAINS, PROVISION, base_args, default_template,  # noqa: F401
                            profile_text, provision, site)

BIG_TEMPLATE = Path(os.environ.get("DOMUFS_TEST_BIG_TEMPLATE",
                                   "/var/tmp/domufs-bench/root.tar.zst"))


def lvcreate_lines(stdout):
    return [c for c in (shlex.split(line) for line in stdout.splitlines()) if c[0] == "lvcreate"]


# refused by `domufs commit --size` (img_parse_size): no fractions, no
# sectors, no P/E, not 0, no spaces, nothing past 2^64 - 1 bytes
@pytest.mark.parametrize("size", ["1.5G", "100s", "1P", "2E", "0", "0K", "10Kib", "1GIB",
                                  "1G+", "0x10", " 1G", "1G ", "-1G", "G",
                                  "18446744073709551616", "16777216T"])
@pytest.mark.parametrize("mode", ["image", "vg"])
def test_bad_sizes_are_usage_errors(site, default_template, size, mode):
    """Before anything: exit 2, one line naming the value, nothing created
    (the audit: every domain failed at the commit, exit 1, after mkdir)."""
    target = (["--image-dir", site["images"]] if mode == "image"
              else ["--vg", "scotland"])
    r = provision("--template", default_template, "--profiles", site["profiles"],
                  "--xl-dir", site["xl"], "--cache-dir", site["cache"], *target,
                  f"--size={size}", "banquo", "fleance")
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith(f"provision: --size {size!r} is not a size"), r.stderr
    assert r.stdout == ""
    assert not site["images"].exists() and not site["xl"].exists()
    assert not site["cache"].exists()


@pytest.mark.parametrize("size", ["2048", "64M", "4g", "10KiB", "1GB", "18446744073709551615",
                                  "16777215T"])
def test_good_sizes_are_those_of_domufs_commit(site, default_template, size):
    """What the up-front check lets through, domufs's own parser accepts:
    `domufs commit --size` then only complains of the missing operands."""
    r = provision(*base_args(site, default_template), "--size", size, "--dry-run", "banquo")
    assert r.returncode == 0, r.stderr
    commit = [c for c in (shlex.split(line) for line in r.stdout.splitlines())
              if c[1:2] == ["commit"]]
    assert len(commit) == 1 and commit[0][commit[0].index("--size") + 1] == size, r.stdout
    d = subprocess.run([os.environ["DOMUFS"], "commit", "--size", size], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    assert d.returncode == 2 and "bad --size" not in d.stderr, d.stderr


@pytest.mark.parametrize("size,lv", [
    ("2048", "2K"),             # bytes, as for an image: not 2048 MiB
    ("67108864", "64M"),
    ("65536K", "64M"),
    ("4G", "4G"),
    ("4096MiB", "4G"),
    ("3t", "3T"),
    ("1536", "1536b"),          # not a whole KiB: bytes, which lvcreate takes
    ("1000", "1024b"),          # ... in multiples of 512 (it rounds up to extents)
])
def test_lvcreate_gets_the_same_size_as_an_image(site, default_template, size, lv):
    """A bare number is bytes in both modes: lvcreate -L gets it with an
    explicit unit, never bare (which lvcreate reads as MiB)."""
    r = provision("--template", default_template, "--profiles", site["profiles"],
                  "--vg", "scotland", "--size", size, "--xl-dir", site["xl"], "--dry-run",
                  "banquo", "macduff")
    assert r.returncode == 0, r.stderr
    assert lvcreate_lines(r.stdout) == [["lvcreate", "-L", lv, "-n", n, "scotland"]
                                        for n in ("banquo", "macduff")], r.stdout


def test_a_bare_number_is_bytes_for_an_image(site, default_template):
    r = provision(*base_args(site, default_template), "--size", str(96 << 20), "fleance")
    assert r.returncode == 0, r.stderr
    assert (site["images"] / "fleance.img").stat().st_size == 96 << 20


def test_dry_run_summary_says_would_be(site, default_template):
    """A dry run provisions nothing: its summary says what a real run would."""
    r = provision(*base_args(site, default_template), "--dry-run", "banquo", "fleance",
                  "macduff")
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines()[-1] == "provision: 3 of 3 domains would be provisioned", r.stderr
    r = provision(*base_args(site, default_template), "--dry-run", "banquo", "duncan", "fleance")
    assert r.returncode == 1, r.stderr
    assert r.stderr.splitlines()[-1] == \
        "provision: 2 of 3 domains would be provisioned; failed: duncan", r.stderr
    assert not site["images"].exists() and not site["xl"].exists()
    # a real run still says provisioned
    r = provision(*base_args(site, default_template), "banquo", "duncan")
    assert r.returncode == 1, r.stderr
    assert r.stderr.splitlines()[-1] == "provision: 1 of 2 domains provisioned; failed: duncan"


# --- signals ---------------------------------------------------------------

def big_template():
    if not BIG_TEMPLATE.is_file():
        pytest.skip(f"{BIG_TEMPLATE} is absent: no template whose commit takes long enough "
                    "to be interrupted (build it with bench/mkroot.sh, or set "
                    "DOMUFS_TEST_BIG_TEMPLATE)")
    return BIG_TEMPLATE


@pytest.fixture(scope="session")
def warm_cache(tmp_path_factory):
    """A cache holding the big template's index: a commit then goes
    straight to writing. (The index is the size of the tree: removed after.)"""
    tmpl = big_template()
    cache = tmp_path_factory.mktemp("provision-big-cache")
    subprocess.run([os.environ["DOMUFS"], "index", "--cache-dir", str(cache), str(tmpl)],
                   check=True, stdout=subprocess.DEVNULL)
    yield cache
    shutil.rmtree(cache, ignore_errors=True)


def children(pid):
    """(pid, argv) of the live processes whose parent is PID."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            argv = (d / "cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append((int(d.name), argv))
    return out


def descendants(pid):
    found = children(pid)
    for child, _ in list(found):
        found += descendants(child)
    return found


def processes_naming(text):
    """The pids of the processes whose command line mentions TEXT."""
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != os.getpid():
            try:
                if text.encode() in (d / "cmdline").read_bytes():
                    found.append(int(d.name))
            except OSError:
                pass
    return found


def start(args, **kw):
    return subprocess.Popen([str(PROVISION)] + [str(a) for a in args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


@contextlib.contextmanager
def reaped(p):
    """Kills provision on the way out if it still runs (a wait that failed)."""
    try:
        yield p
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def wait_for_commit(p, profile, settle=1.0, timeout=300):
    """The pid of the `domufs commit` P runs for PROFILE, once it has run
    SETTLE s (its signal handlers are set up before it reads the template)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if p.poll() is not None:
            out, err = p.communicate()
            pytest.fail(f"provision ended (status {p.returncode}) before committing {profile}:"
                        f"\n{err}")
        for pid, argv in descendants(p.pid):
            if argv[1:2] == ["commit"] and str(profile) in argv:
                time.sleep(settle)
                return pid
        time.sleep(0.05)
    p.kill()
    pytest.fail(f"no domufs commit for {profile} within {timeout} s")


def wait_for_write(p, pid, directory, skip=(), timeout=120):
    """Until process PID has a file of DIRECTORY open (not one of SKIP): the
    image being written (its O_TMPFILE, or .NAME.domufs-XXXXXX)."""
    deadline = time.monotonic() + timeout
    prefix = f"{directory}/"
    skip = {str(s) for s in skip}
    while time.monotonic() < deadline and p.poll() is None:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            break
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith(prefix) and target not in skip:
                return
        time.sleep(0.01)
    pytest.fail(f"domufs commit (pid {pid}) did not start writing into {directory}")


def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z"


@pytest.mark.parametrize("sig,how,phase,force", [
    (signal.SIGTERM, "pid", "write", True),
    (signal.SIGTERM, "pid", "write", False),
    (signal.SIGINT, "group", "write", False),
    (signal.SIGHUP, "pid", "write", False),
    (signal.SIGTERM, "pid", "index", False),
    (signal.SIGINT, "group", "index", True),
])
def test_signal_during_the_first_commit(site, request, sig, how, phase, force):
    """SIGTERM (or HUP) to provision, or INT to its process group as ^C
    sends it, while the first commit indexes the template or writes the
    image: the commit is cancelled and waited for, nothing further is
    started, a summary, exit 128+N, no traceback."""
    tmpl = big_template()
    args = base_args(site, tmpl)
    if phase == "write":  # the template indexed already: the commit writes at once
        args[args.index("--cache-dir") + 1] = request.getfixturevalue("warm_cache")
    old = b"the old banquo.img, to be kept\n" * 4096
    if force:  # an image replaced (--force) is left as it was
        site["images"].mkdir()
        (site["images"] / "banquo.img").write_bytes(old)
        args.append("--force")
    p = start([*args, "banquo", "fleance", "macduff"], start_new_session=(how == "group"))
    with reaped(p):
        commit = wait_for_commit(p, site["profiles"] / "banquo.cfg",
                                 settle=0 if phase == "write" else 1.0)
        if phase == "write":
            wait_for_write(p, commit, site["images"], skip=[site["images"] / "banquo.img"])
        if how == "group":
            os.killpg(p.pid, sig)
        else:
            p.send_signal(sig)
        out, err = p.communicate(timeout=120)
    assert p.returncode == 128 + sig, err
    assert "Traceback" not in err, err
    lines = err.splitlines()
    name = signal.Signals(sig).name
    assert lines[-1] == ("provision: 0 of 3 domains provisioned; "
                         f"not done, stopped by {name}: banquo fleance macduff"), err
    assert any(ln.startswith(f"provision: banquo: not done: {name} during domufs commit")
               for ln in lines), err
    assert out == ""
    # the commit was waited for: nothing of provision's left running
    assert gone(commit)
    assert processes_naming(str(site["tmp"])) == []
    # it was cancelled, not finished: the target as it was, no xl config
    if force:
        assert (site["images"] / "banquo.img").read_bytes() == old
        assert sorted(q.name for q in site["images"].iterdir()) == ["banquo.img"]
    else:
        assert not site["images"].exists() or list(site["images"].iterdir()) == []
    assert not site["xl"].exists() or list(site["xl"].iterdir()) == []
    # the next domains were not started
    assert "fleance" not in err.replace("banquo fleance macduff", "")


def test_signal_after_a_domain_is_done(site, default_template):
    """The summary names what was done: banquo (a small template) is
    provisioned, fleance's commit (the big one) is stopped."""
    tmpl = big_template()
    for name, t in (("banquo", default_template), ("fleance", tmpl), ("macduff", tmpl)):
        host, mac, ip = DOMAINS[name]
        (site["profiles"] / f"{name}.cfg").write_text(
            profile_text(name, host, mac, ip, f'template = "{t}"\n'))
    p = start(["--profiles", site["profiles"], "--image-dir", site["images"],
               "--xl-dir", site["xl"], "--cache-dir", site["cache"],
               "banquo", "fleance", "macduff"])
    with reaped(p):
        commit = wait_for_commit(p, site["profiles"] / "fleance.cfg")
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=120)
    assert p.returncode == 143, err
    assert "Traceback" not in err, err
    assert err.splitlines()[-1] == ("provision: 1 of 3 domains provisioned: banquo; "
                                    "not done, stopped by SIGTERM: fleance macduff"), err
    assert out.splitlines() == [f"xl create {site['xl'] / 'banquo.cfg'}"]
    assert gone(commit) and processes_naming(str(site["tmp"])) == []
    assert sorted(q.name for q in site["images"].iterdir()) == ["banquo.img"]
    assert sorted(q.name for q in site["xl"].iterdir()) == ["banquo.cfg"]


def test_a_signal_ignored_at_start_stays_ignored(site, default_template):
    """nohup: SIGHUP ignored when provision starts is not caught (and its
    commands inherit it ignored): the run goes on to its end."""
    p = start([*base_args(site, default_template), "banquo", "fleance"],
              preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    deadline = time.monotonic() + 60
    while not children(p.pid) and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    p.send_signal(signal.SIGHUP)  # its first command runs: it has set up its handlers
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    assert err.splitlines()[-1] == "provision: 2 of 2 domains provisioned", err
    assert len(out.splitlines()) == 2, out


def test_signal_to_a_command_in_its_own_process_group(site, tmp_path):
    """A command that made itself a process group (here a shell under
    setsid that runs domufs) gets the signal through its group, domufs
    too: ^C from a terminal would not reach it."""
    tmpl = big_template()
    setsid = shutil.which("setsid")
    if setsid is None:
        pytest.skip("no setsid(1) to start domufs in a process group of its own")
    wrapper = tmp_path / "domufs-setsid"
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(setsid)} sh -c \'"$0" "$@"; s=$?; exit $s\' '
                       f'{shlex.quote(os.environ["DOMUFS"])} "$@"\n')
    wrapper.chmod(0o755)
    p = start([*base_args(site, tmpl), "banquo", "fleance"],
              env=dict(os.environ, DOMUFS=str(wrapper)))
    with reaped(p):
        commit = wait_for_commit(p, site["profiles"] / "banquo.cfg")
        shell = [pid for pid, _ in children(p.pid)]
        assert len(shell) == 1 and shell[0] != commit
        assert os.getpgid(commit) == shell[0] != os.getpgid(p.pid)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=120)
    assert p.returncode == 143, err
    assert err.splitlines()[-1] == ("provision: 0 of 2 domains provisioned; "
                                    "not done, stopped by SIGTERM: banquo fleance"), err
    assert gone(commit) and gone(shell[0]) and processes_naming(str(site["tmp"])) == []
    assert not site["images"].exists() or list(site["images"].iterdir()) == []
