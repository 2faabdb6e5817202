# SPDX-License-Identifier: LGPL-2.1-or-later
"""The mount and index commands: read-only semantics, options, daemon modes,
the index summary and cache (never stale), usage and runtime errors."""

import errno
import hashlib
import io
import os
import re
import signal
import stat
import struct
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

import pytest

import fixtures as F
from conftest import assert_one_error_line, fusermount_u, pids_mentioning, unexpected_stderr, wait_pid_gone

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
SUMMARY = re.compile(r"(\d+) entries.*?(\d+) bytes")


def file_hash(p):
    return hashlib.sha256(open(p, "rb").read()).hexdigest()


# ---------------------------------------------------------------- read-only

def test_writes_fail_with_erofs(archive, domufs):
    m = domufs.mount(archive("pax-none"))
    p = lambda rel: os.path.join(m.b(), rel)  # noqa: E731
    before = F.snapshot(m.path)

    def open_close(path, flags):
        os.close(os.open(path, flags, 0o644))

    ops = {
        "create": lambda: open_close(p(b"etc/new-file"), os.O_WRONLY | os.O_CREAT),
        "create-excl": lambda: open_close(p(b"new-at-root"), os.O_RDWR | os.O_CREAT | os.O_EXCL),
        "open-wronly": lambda: open_close(p(b"etc/hostname"), os.O_WRONLY),
        "open-rdwr": lambda: open_close(p(b"etc/hostname"), os.O_RDWR),
        "open-trunc": lambda: open_close(p(b"etc/hostname"), os.O_WRONLY | os.O_TRUNC),
        "open-append": lambda: open_close(p(b"etc/hostname"), os.O_WRONLY | os.O_APPEND),
        "mkdir": lambda: os.mkdir(p(b"etc/newdir")),
        "rmdir": lambda: os.rmdir(p(b"emptydir")),
        "unlink": lambda: os.unlink(p(b"etc/hostname")),
        "unlink-symlink": lambda: os.unlink(p(b"links/rel")),
        "rename": lambda: os.rename(p(b"etc/hostname"), p(b"etc/hostname2")),
        "rename-over": lambda: os.rename(p(b"etc/hostname"), p(b"etc/empty")),
        "rename-dir": lambda: os.rename(p(b"emptydir"), p(b"emptydir2")),
        "chmod": lambda: os.chmod(p(b"etc/hostname"), 0o600),
        "chown": lambda: os.chown(p(b"etc/hostname"), 1, 1),
        "utime": lambda: os.utime(p(b"etc/hostname"), ns=(1, 1)),
        "setxattr": lambda: os.setxattr(p(b"etc/hostname"), "user.new", b"v"),
        "setxattr-replace": lambda: os.setxattr(p(b"xattrs/plain"), "user.comment", b"changed"),
        "removexattr": lambda: os.removexattr(p(b"xattrs/plain"), "user.comment"),
        "truncate": lambda: os.truncate(p(b"etc/hostname"), 0),
        "truncate-grow": lambda: os.truncate(p(b"etc/hostname"), 1 << 20),
        "symlink": lambda: os.symlink(b"target", p(b"etc/newlink")),
        "link": lambda: os.link(p(b"etc/hostname"), p(b"etc/hardlink")),
        "mkfifo": lambda: os.mkfifo(p(b"etc/fifo")),
        "mknod": lambda: os.mknod(p(b"etc/node"), stat.S_IFCHR | 0o600, os.makedev(1, 3)),
    }
    wrong = []
    for name, op in ops.items():
        try:
            op()
        except OSError as e:
            if e.errno != errno.EROFS:
                wrong.append(f"{name}: errno {errno.errorcode.get(e.errno)} ({e}), expected EROFS")
        else:
            wrong.append(f"{name}: succeeded, expected EROFS")
    assert not wrong, "\n".join(wrong)
    after = F.snapshot(m.path)
    assert F.compare_trees(before, after, include_root=True) == []


def test_fsync_and_rw_option_on_a_read_only_mount(archive, domufs):
    """fsync of a file read through a read-only mount succeeds; -o rw
    cannot make the mount writable (the daemon survives both)."""
    m = domufs.mount(archive("pax-none"), opts="rw")
    entry = next(x for x in F.mounts() if x[0] == str(m.path))
    assert "ro" in entry[3].split(","), entry
    fd = os.open(m.b(b"etc/hostname"), os.O_RDONLY)
    try:
        os.fsync(fd)
        os.fdatasync(fd)
    finally:
        os.close(fd)
    with pytest.raises(OSError) as e:
        os.open(m.b(b"etc/hostname"), os.O_WRONLY | os.O_APPEND)
    assert e.value.errno == errno.EROFS
    assert open(m.b(b"etc/hostname"), "rb").read() == b"template\n"
    assert m.proc.poll() is None, m.stderr()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP],
                         ids=["TERM", "INT", "HUP"])
@pytest.mark.parametrize("foreground", [True, False], ids=["foreground", "background"])
def test_signal_unmounts_a_relative_mountpoint(foreground, sig, archive, domufs, tmp_path):
    """The daemon leaves for / when it goes to the background; a mountpoint
    given relative to the caller's directory is still unmounted by a signal."""
    mp = domufs.mountpoint()
    rel = os.path.relpath(mp, tmp_path)
    args = [domufs.binary, "mount", "--cache-dir", str(domufs.cache_dir())]
    if foreground:
        args.append("-f")
    args += [str(archive("pax-none")), rel]
    domufs.bg_mounts.append((Path(mp), []))  # teardown unmounts whatever is left
    p = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not F.is_mountpoint(mp) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert F.is_mountpoint(mp)
    if not foreground:
        assert p.wait(timeout=30) == 0
    pids = pids_mentioning(rel)
    assert pids
    for pid in pids:
        os.kill(pid, sig)
    for pid in pids:
        assert wait_pid_gone(pid, 30)
    if foreground:
        assert p.wait(timeout=30) == 0
    assert not F.is_mountpoint(mp), "left mounted"
    assert b"failed to unmount" not in p.stderr.read()


def test_unknown_fuse_option_is_one_line(archive, domufs):
    mp = domufs.mountpoint()
    domufs.bg_mounts.append((Path(mp), []))
    res = domufs.mount_bg(archive("pax-none"), mp, opts="bogusopt")
    assert res.returncode == 1, str(res)
    errors = res.errors()  # (the template's own warnings aside)
    assert len(errors) == 1 and errors[0].startswith("domufs: "), str(res)
    assert all(w in errors[0] for w in (str(mp), "unknown option", "bogusopt")), str(res)
    assert not F.is_mountpoint(mp)


def test_ready_fd_must_be_open(archive, domufs):
    mp = domufs.mountpoint()
    domufs.bg_mounts.append((Path(mp), []))  # teardown unmounts whatever is left
    for bad in ["", "x", "-1", "99"]:
        res = domufs.run("mount", "--ready-fd", bad, archive("pax-none"), mp)
        assert res.returncode == 2, str(res)
        assert_one_error_line(res, "--ready-fd")
        assert not F.is_mountpoint(mp)
    # fd 1 in the background: "ready" still reaches the caller's stdout
    res = domufs.run("mount", "--cache-dir", domufs.cache_dir(), "--ready-fd", "1",
                     archive("pax-none"), mp)
    assert res.returncode == 0 and res.stdout == "ready\n", str(res)
    assert fusermount_u(mp).returncode == 0


# ---------------------------------------------------------------- options and daemon modes

def test_fsname_option_is_passed(archive, domufs):
    name = "domufs-test-" + uuid.uuid4().hex[:8]
    m = domufs.mount(archive("pax-none"), opts=f"fsname={name}")
    entries = [x for x in F.mounts() if x[0] == str(m.path)]
    assert len(entries) == 1
    assert entries[0][2] == name, f"mount source is {entries[0][2]!r}, expected {name!r}"
    assert entries[0][1].startswith("fuse"), entries[0]


def test_allow_other_option(archive, public_dir, domufs):
    """-o allow_other lets other users in; without it FUSE keeps them out."""
    tpl = archive("pax-none")
    with_ao = public_dir / "with"
    without = public_dir / "without"
    with_ao.mkdir()
    without.mkdir()
    domufs.mount(tpl, mountpoint=with_ao, opts="allow_other")
    domufs.mount(tpl, mountpoint=without)
    assert "allow_other" in next(x for x in F.mounts() if x[0] == str(with_ao))[3]
    r = subprocess.run(NOBODY + ["cat", str(with_ao / "etc/hostname")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode == 0 and r.stdout == b"template\n", r
    r = subprocess.run(NOBODY + ["cat", str(without / "etc/hostname")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode != 0, "uid 65534 could read a mount made without allow_other"


def test_several_fuse_options(archive, domufs):
    name = "domufs-multi-" + uuid.uuid4().hex[:8]
    m = domufs.mount(archive("pax-none"), opts=f"fsname={name},allow_other,subtype=tmpl")
    entry = next(x for x in F.mounts() if x[0] == str(m.path))
    assert entry[2] == name
    assert entry[1] == "fuse.tmpl", entry
    assert "allow_other" in entry[3]
    assert open(m.b(b"etc/hostname"), "rb").read() == b"template\n"


def test_background_mount_returns_ready_and_unmounts(archive, domufs):
    mp = domufs.mountpoint()
    res = domufs.mount_bg(archive("pax-zst"), mp)
    assert res.returncode == 0, str(res)
    assert res.errors() == [], str(res)
    # ready as soon as the command returned: no waiting
    assert F.is_mountpoint(mp)
    assert open(os.path.join(str(mp), "etc/hostname"), "rb").read() == b"template\n"
    pids = pids_mentioning(str(mp))
    r = fusermount_u(mp)
    assert r.returncode == 0, r.stderr
    assert not F.is_mountpoint(mp)
    for pid in pids:
        assert wait_pid_gone(pid, 30), f"daemon {pid} still running after fusermount3 -u"
    assert os.listdir(mp) == []


def test_sigterm_unmounts_and_exits_zero(archive, domufs):
    m = domufs.mount(archive("pax-none"))
    assert open(m.b(b"etc/hostname"), "rb").read() == b"template\n"
    m.proc.send_signal(signal.SIGTERM)
    rc = m.proc.wait(timeout=30)
    m.finished = True
    problems = m.check_exit(rc, expect_rc=0)
    assert not problems, "\n".join(problems)
    assert not F.is_mountpoint(m.path)


def test_read_ahead_window_is_raised_under_a_mount_point_with_spaces(archive, domufs, tmp_path):
    """The daemon finds its mount in mountinfo, where a space is written
    \\040, to raise the read-ahead window to its largest request (960 KiB)
    and, with --io-uring, to abort the connection when it stops."""
    mnt = tmp_path / "a mount\tpoint"
    mnt.mkdir()
    m = domufs.mount(archive("pax-none"), mountpoint=mnt)
    dev = os.stat(m.path).st_dev
    with open(f"/sys/class/bdi/{os.major(dev)}:{os.minor(dev)}/read_ahead_kb") as f:
        assert int(f.read()) == 960
    m.proc.send_signal(signal.SIGTERM)
    rc = m.proc.wait(timeout=30)
    m.finished = True
    assert m.check_exit(rc, expect_rc=0) == []
    assert not F.is_mountpoint(m.path)


def test_sigint_unmounts_and_exits_zero(archive, domufs):
    m = domufs.mount(archive("pax-none"))
    m.proc.send_signal(signal.SIGINT)
    rc = m.proc.wait(timeout=30)
    m.finished = True
    problems = m.check_exit(rc, expect_rc=0)
    assert not problems, "\n".join(problems)


def test_fusermount_unmount_makes_foreground_daemon_exit_zero(archive, domufs):
    m = domufs.mount(archive("gnu-none"))
    r = fusermount_u(m.path)
    assert r.returncode == 0, r.stderr
    rc = m.proc.wait(timeout=30)
    m.finished = True
    assert not m.check_exit(rc, expect_rc=0)


def cpu_ticks(pid):
    """utime + stime of a process, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


@pytest.mark.parametrize("poll_us", ["0", "50", "1000"])
def test_polling_serves_requests_and_idles(poll_us, archive, extracted, domufs):
    """With any --poll-us, a tree walked one call at a time and read in
    parallel comes out right, and an idle daemon uses no CPU: the polling
    stops once requests stop."""
    from concurrent.futures import ThreadPoolExecutor
    path = archive("pax-zst")
    ex = os.fsencode(str(extracted(path)))
    # --no-pm-qos: with idle CPUs held awake, the workers do not poll
    m = domufs.mount(path, extra=("--poll-us", poll_us, "--no-pm-qos"))
    files = []
    for dirpath, dirnames, filenames in os.walk(m.b(b"")):
        for n in filenames:
            p = os.path.join(dirpath, n)
            if stat.S_ISREG(os.lstat(p).st_mode):
                files.append(os.path.relpath(p, m.b(b"")))
    assert len(files) > 10
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda rel: open(os.path.join(m.b(b""), rel), "rb").read(), files))
    for rel, data in zip(files, got):
        assert data == open(os.path.join(ex, rel), "rb").read(), rel
    before = cpu_ticks(m.proc.pid)
    time.sleep(2)
    assert cpu_ticks(m.proc.pid) - before <= 2, "the daemon kept running while idle"
    assert not m.unmount()


PM_QOS = "/dev/cpu_dma_latency"


def cpu_latency_bound():
    """The kernel's CPU latency bound now (us), over every PM QoS request."""
    with open(PM_QOS, "rb") as f:
        return struct.unpack("i", f.read(4))[0]


@pytest.mark.parametrize("held", [True, False], ids=["default", "no-pm-qos"])
def test_idle_cpus_held_awake_only_while_requests_come(held, archive, domufs):
    """By default a mount holds a PM QoS CPU latency request of 0 us while
    requests come less than 1 ms apart, and lets go once they stop (and
    when it ends); with --no-pm-qos it never asks."""
    if os.geteuid() != 0 or not os.access(PM_QOS, os.W_OK):
        pytest.skip(f"{PM_QOS} is root's")
    base = cpu_latency_bound()
    if base == 0:
        pytest.skip("something else holds the CPUs awake already")
    m = domufs.mount(archive("pax-none"), extra=() if held else ("--no-pm-qos",))
    p = m.b(b"xattrs/plain")

    def burst():
        for _ in range(20):  # no cache in the kernel: a GETXATTR each
            assert os.getxattr(p, "user.comment") == b"hello world"
        return cpu_latency_bound()

    seen = [burst() for _ in range(50)]
    if held:
        assert seen.count(0) >= 45, seen
    else:
        assert 0 not in seen, seen
    time.sleep(0.1)  # 100 times the hold time without a request
    assert cpu_latency_bound() == base
    again = [burst() for _ in range(5)]  # held again as soon as they come
    assert (0 in again) == held, again
    assert not m.unmount()
    assert cpu_latency_bound() == base


def test_busy_reads_from_many_threads(archive, extracted, domufs):
    """Concurrent readers get the right bytes (the daemon is multi-threaded or serializes)."""
    from concurrent.futures import ThreadPoolExecutor
    path = archive("pax-xz")
    ex = os.fsencode(str(extracted(path)))
    m = domufs.mount(path)
    rels = [b"usr/lib/big.bin", b"usr/lib/odd-size", b"sparse/holes-everywhere", b"sparse/hole-middle",
            b"etc/hostname", b"hard/sub/b"] * 4

    def check(rel):
        want = open(os.path.join(ex, rel), "rb").read()
        fd = os.open(m.b(rel), os.O_RDONLY)
        try:
            # random-ish access pattern: backwards in 100000-byte steps
            size = len(want)
            for off in range(max(0, size - 100000), -1, -100000):
                if os.pread(fd, 100000, off) != want[off:off + 100000]:
                    return f"{rel!r} at {off}"
            if os.pread(fd, 10, size) != b"":
                return f"{rel!r}: read past EOF returned data"
        finally:
            os.close(fd)
        return None

    with ThreadPoolExecutor(8) as pool:
        bad = [x for x in pool.map(check, rels) if x]
    assert not bad, bad


def lean_tree(path):
    """d00..d19, each with 30 files of distinct sizes, 3 symbolic links, a FIFO
    and a subdirectory: what each entry should stat as, by path."""
    buf = io.BytesIO()
    want = {}
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        def add(name, kind, size=0, link=""):
            ti = tarfile.TarInfo(name)
            ti.type, ti.size, ti.linkname, ti.mtime = kind, size, link, 1700000000
            ti.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
            tf.addfile(ti, io.BytesIO(b"x" * size) if size else None)
            want[name] = (kind, size, link)
        for d in range(20):
            add(f"d{d:02}", tarfile.DIRTYPE)
            add(f"d{d:02}/sub", tarfile.DIRTYPE)
            add(f"d{d:02}/fifo", tarfile.FIFOTYPE)
            for f in range(30):
                add(f"d{d:02}/f{f:02}", tarfile.REGTYPE, size=d * 100 + f)
            for k in range(3):
                add(f"d{d:02}/l{k}", tarfile.SYMTYPE, link=f"f{k:02}")
    path.write_bytes(buf.getvalue())
    return path, want


def requests(m):
    """How many requests of each kind the daemon has answered (-o debug)."""
    counts = {}
    for op in re.findall(r"opcode: ([A-Z_]+)", m.stderr()):
        counts[op] = counts.get(op, 0) + 1
    return counts


def test_listings_lean_for_names_full_for_lookups(domufs, tmp_path):
    """READDIRPLUS gives files' attributes only to readers that look files up.
    `find` gets names and types only (as ext4 gives them): no inode per file,
    no LOOKUP. A reader that stats (tar, ls -l) turns listings full at its
    first LOOKUP of a file, and what was listed lean is listed again, full:
    the rest of the tree costs no LOOKUP per file. Every entry stats as the
    archive says either way."""
    tpl, want = lean_tree(tmp_path / "lean.tar")
    m = domufs.mount(tpl, opts="debug")
    if "opcode: INIT" not in m.stderr():
        pytest.fail("no request log from the daemon with -o debug")
    found = subprocess.run(["find", ".", "-printf", "%y %P\\n"], cwd=m.path, check=True,
                           stdout=subprocess.PIPE, text=True).stdout.splitlines()
    types = {tarfile.DIRTYPE: "d", tarfile.REGTYPE: "f", tarfile.SYMTYPE: "l", tarfile.FIFOTYPE: "p"}
    assert sorted(found) == sorted(["d "] + [f"{types[k]} {n}" for n, (k, _, _) in want.items()])
    after_find = requests(m)
    assert after_find.get("LOOKUP", 0) == 0, after_find
    assert after_find.get("READDIRPLUS", 0) >= 40, after_find  # the lean listings

    # a reader that stats every entry, in listing order, as tar does
    bad = []
    for top, dirs, files in os.walk(m.path):
        dirs.sort()
        for name in sorted(dirs + files):
            rel = os.path.relpath(os.path.join(top, name), m.path)
            st = os.lstat(os.path.join(top, name))
            kind, size, link = want[rel]
            if kind == tarfile.REGTYPE and (not stat.S_ISREG(st.st_mode) or st.st_size != size):
                bad.append(rel)
            elif kind == tarfile.SYMTYPE and os.readlink(os.path.join(top, name)) != link:
                bad.append(rel)
            elif kind == tarfile.FIFOTYPE and not stat.S_ISFIFO(st.st_mode):
                bad.append(rel)
            elif kind == tarfile.DIRTYPE and not stat.S_ISDIR(st.st_mode):
                bad.append(rel)
    assert not bad, bad
    walk = requests(m)
    lookups = walk.get("LOOKUP", 0)
    # the first directory's 34 files were listed lean: a LOOKUP each; then a
    # probe now and then (a file listed lean to see whether anyone asks)
    assert 1 <= lookups <= 34 + 20, f"{lookups} LOOKUPs for {len(want)} entries: {walk}"
    assert walk["READDIRPLUS"] > after_find["READDIRPLUS"], "lean listings not listed again"


@pytest.mark.parametrize("count", [1, 7, 8, 9, 40])
def test_listings_of_long_names(count, domufs, tmp_path):
    """Names up to NAME_MAX are listed whole and once, in directories of a
    few entries and of many, whatever the reply's buffer. A tar member's name
    may be longer (pax), but no Linux file system holds such a name (the
    mount could list it, not use it; no commit could write it): skipped,
    each with a warning."""
    tpl = tmp_path / "long.tar"
    want = sorted(chr(ord("a") + k % 26) * (200 + (37 * k) % 54) + str(k) for k in range(count))
    over = ["x" * 4000, "y" * 256]
    with tarfile.open(tpl, "w", format=tarfile.PAX_FORMAT) as t:
        d = tarfile.TarInfo("d")
        d.type, d.mode = tarfile.DIRTYPE, 0o755
        t.addfile(d)
        for n in want + over:
            i = tarfile.TarInfo("d/" + n)
            i.size = 3
            t.addfile(i, io.BytesIO(b"hi\n"))
    res = domufs.index(tpl)
    assert res.returncode == 0, str(res)
    assert sum("longer than 255 bytes" in w for w in res.warnings()) == len(over), str(res)
    m = domufs.mount(tpl)
    got = os.listdir(os.path.join(m.path, "d"))
    assert sorted(got) == sorted(want), f"{len(got)} names listed of {len(want)}"
    found = subprocess.run(["find", "d", "-type", "f"], cwd=m.path, check=True,
                           stdout=subprocess.PIPE, text=True).stdout.splitlines()
    assert len(found) == len(want)


# ---------------------------------------------------------------- index summary and cache

def _summary(res, template):
    assert res.returncode == 0, str(res)
    lines = [x for x in res.stdout.splitlines() if x.strip()]
    assert len(lines) == 1, f"expected one summary line\n{res}"
    line = lines[0]
    assert os.path.basename(str(template)) in line, f"summary does not name the template\n{res}"
    m = SUMMARY.search(line)
    assert m, f"summary lacks 'N entries ... M bytes'\n{res}"
    return line, int(m.group(1)), int(m.group(2))


@pytest.mark.parametrize("comp", ["zst", "bz2"])
def test_index_of_a_long_tail_after_the_end_marker_stays_small(comp, domufs, tmp_path):
    """What follows a compressed archive's end marker (here 256 MiB of zeros,
    as a tarball padded to a disk's size has) is read to check the
    compressed stream to its end, and not kept: the indexer's peak RSS
    stays far below the tail's size."""
    tar = tmp_path / "tail.tar"
    with tarfile.open(tar, "w", format=tarfile.PAX_FORMAT) as t:
        ti = tarfile.TarInfo("etc/hostname")
        ti.size = 5
        t.addfile(ti, io.BytesIO(b"tail\n"))
    with open(tar, "ab") as f:
        zeros = bytes(1 << 20)
        for _ in range(256):
            f.write(zeros)
    tpl = F.compress(tar, comp)
    tar.unlink()
    # The indexer's own peak RSS, from wait4() in a fresh interpreter: a
    # child started from this (large) process would count its memory too.
    helper = ("import os, subprocess, sys\n"
              "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)\n"
              "out = p.stdout.read()\n"
              "_, st, ru = os.wait4(p.pid, 0)\n"
              "sys.stdout.buffer.write(out + b'rc=%d maxrss=%d\\n' % (os.waitstatus_to_exitcode(st), ru.ru_maxrss))\n")
    r = subprocess.run([sys.executable, "-c", helper, domufs.binary, "index", "--cache-dir",
                        str(domufs.cache_dir()), str(tpl)], stdout=subprocess.PIPE, timeout=120)
    out = r.stdout.decode(errors="replace")
    m = re.search(r"rc=(\d+) maxrss=(\d+)$", out.strip())
    assert m and m.group(1) == "0", out
    assert ": 3 entries, 5 bytes" in out, out
    assert int(m.group(2)) < 128 * 1024, f"peak RSS {m.group(2)} KiB"


def _expected_counts(archive_path, extracted_root):
    members = F.archive_members(archive_path)
    names = {m.name.rstrip("/") for m in members}
    n = len(names)
    entries_ok = {n, n + 1, len(members), len(members) + 1}
    regular, regular_once, inos = 0, 0, set()
    for p, d in F.snapshot(extracted_root, content=False, xattrs=False).items():
        if d["type"] == stat.S_IFREG:
            regular += d["size"]
            if d["ino"] not in inos:
                inos.add(d["ino"])
                regular_once += d["size"]
    stored = sum(sum(s for _, s in m.sparse) if m.sparse else m.size for m in members if m.isreg())
    bytes_ok = {regular, regular_once, stored, os.path.getsize(archive_path), len(F.decompressed(archive_path))}
    return entries_ok, bytes_ok


@pytest.mark.parametrize("variant", ["pax-none", "pax-zst", "gnu-gz", "dotslash-none", "ustar-xz"])
def test_index_summary_then_verified(variant, archive, extracted, domufs):
    tpl = archive(variant)
    cache = domufs.cache_dir()
    first = domufs.index(tpl, cache)
    line, n, nbytes = _summary(first, tpl)
    assert "indexed" in line and "verified" not in line, line
    assert unexpected_stderr(first) == [], str(first)
    entries_ok, bytes_ok = _expected_counts(tpl, extracted(tpl))
    assert n in entries_ok, f"{n} entries, expected one of {sorted(entries_ok)}: {line}"
    assert nbytes in bytes_ok, f"{nbytes} bytes, expected one of {sorted(bytes_ok)}: {line}"
    second = domufs.index(tpl, cache)
    line2, n2, nbytes2 = _summary(second, tpl)
    assert "verified" in line2, line2
    assert (n2, nbytes2) == (n, nbytes)
    # the cached index serves a mount with the right content
    m = domufs.mount(tpl, cache_dir=cache)
    assert open(m.b(b"etc/hostname"), "rb").read() == b"template\n"


def test_index_then_mount_from_warm_cache_matches(archive, extracted, domufs):
    tpl = archive("pax-bz2")
    cache = domufs.cache_dir()
    assert domufs.index(tpl, cache).returncode == 0
    m = domufs.mount(tpl, cache_dir=cache)
    diffs = F.compare_trees(F.snapshot(extracted(tpl)), F.snapshot(m.path))
    assert not diffs, "\n".join(diffs[:30])


def _small_tar(files: dict) -> bytes:
    """An uncompressed tar (padded to 10240 bytes, like GNU tar) of name -> content."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 1700000000
            ti.mode = 0o644
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


OLD = {"a": b"AAAA-old-content\n", "b": b"bbb\n", "c": b"ccc\n"}
NEW = {"a": b"ZZZZ-new-content\n", "b": b"BBB\n", "c": b"CCC\n", "d": b"new member\n"}


def _rewrite_check(domufs, tmp_path, rewrite, compress="none"):
    tpl = tmp_path / ("t" + F.SUFFIX[compress])
    old, new = _small_tar(OLD), _small_tar(NEW)
    if compress != "none":
        raw = tmp_path / "raw.tar"
        raw.write_bytes(old)
        old = F.compress(raw, compress, tmp_path / "o").read_bytes()
        raw.write_bytes(new)
        new = F.compress(raw, compress, tmp_path / "n").read_bytes()
    tpl.write_bytes(old)
    cache = domufs.cache_dir()
    line, n_old, _ = _summary(domufs.index(tpl, cache), tpl)
    old_mount = domufs.mount(tpl, cache_dir=cache)
    assert open(old_mount.b(b"a"), "rb").read() == OLD["a"]
    old_ino = tpl.stat().st_ino
    rewrite(tpl, new)
    m = domufs.mount(tpl, cache_dir=cache)
    assert sorted(os.listdir(m.path)) == ["a", "b", "c", "d"], "stale index after the template changed"
    for k, v in NEW.items():
        assert open(m.b(k.encode()), "rb").read() == v, f"stale content for {k}"
    assert not m.unmount()
    line, n_new, _ = _summary(domufs.index(tpl, cache), tpl)
    assert n_new == n_old + 1, f"index summary after the change: {line}"
    # the new entry replaced the old one in the cache; the mount made from
    # the old one still reads it (where its data is not the rewritten file:
    # a compressed template's data file, or a template replaced by rename)
    assert len(list(cache.glob("*.idx"))) == 1, sorted(os.listdir(cache))
    assert len(list(cache.glob("*.data"))) == (compress != "none"), sorted(os.listdir(cache))
    assert sorted(os.listdir(old_mount.path)) == ["a", "b", "c"]
    if compress != "none" or old_ino != tpl.stat().st_ino:
        assert open(old_mount.b(b"c"), "rb").read() == OLD["c"]
    assert not old_mount.unmount()


def test_cache_rewritten_template_different_size(domufs, tmp_path):
    def rewrite(tpl, new):
        tpl.write_bytes(new + b"\0" * 10240)
    _rewrite_check(domufs, tmp_path, rewrite)


def test_cache_rewritten_in_place_same_size(domufs, tmp_path):
    def rewrite(tpl, new):
        assert len(new) == tpl.stat().st_size
        with open(tpl, "r+b") as f:
            f.write(new)
    _rewrite_check(domufs, tmp_path, rewrite)


def test_cache_rewritten_in_place_same_size_and_mtime(domufs, tmp_path):
    """Same inode, same size, mtime put back (as cp -p / rsync -t / tar -x would)."""
    def rewrite(tpl, new):
        st = tpl.stat()
        assert len(new) == st.st_size
        with open(tpl, "r+b") as f:
            f.write(new)
        os.utime(tpl, ns=(st.st_atime_ns, st.st_mtime_ns))
    _rewrite_check(domufs, tmp_path, rewrite)


def test_cache_replaced_by_rename_same_size_and_mtime(domufs, tmp_path):
    def rewrite(tpl, new):
        st = tpl.stat()
        tmp = tpl.with_name(tpl.name + ".new")
        tmp.write_bytes(new)
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.replace(tmp, tpl)
    _rewrite_check(domufs, tmp_path, rewrite)


def test_cache_rewritten_compressed_template(domufs, tmp_path):
    def rewrite(tpl, new):
        tpl.write_bytes(new)
    _rewrite_check(domufs, tmp_path, rewrite, compress="zst")


def test_cache_two_templates_same_name_different_dirs(domufs, tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    t1, t2 = tmp_path / "one/t.tar", tmp_path / "two/t.tar"
    t1.write_bytes(_small_tar(OLD))
    t2.write_bytes(_small_tar(NEW))
    cache = domufs.cache_dir()
    assert domufs.index(t1, cache).returncode == 0
    assert domufs.index(t2, cache).returncode == 0
    m1 = domufs.mount(t1, cache_dir=cache)
    m2 = domufs.mount(t2, cache_dir=cache)
    assert open(m1.b(b"a"), "rb").read() == OLD["a"]
    assert open(m2.b(b"a"), "rb").read() == NEW["a"]
    # one entry each: neither replaces the other
    assert len(list(cache.glob("*.idx"))) == 2, sorted(os.listdir(cache))
    assert sorted(p.read_text() for p in cache.glob("*.src")) == sorted([str(t1), str(t2)])


def test_cache_keeps_entries_being_built_or_of_newer_format(domufs, tmp_path):
    """A rebuilt template removes its former entries, except one whose lock
    another process holds (it is being built) and one of a newer index
    format (another domufs's); an entry of an older format of the same
    file goes."""
    import fcntl
    import struct

    tpl = tmp_path / "t.tar"
    tpl.write_bytes(_small_tar(OLD))
    cache = domufs.cache_dir()
    assert domufs.index(tpl, cache).returncode == 0
    (first,) = cache.glob("*.idx")
    raw = bytearray(first.read_bytes())
    version = struct.unpack_from("<I", raw, 8)[0]
    for key, v in (("00000000000000a1", version + 1), ("00000000000000a2", version - 1)):
        struct.pack_into("<I", raw, 8, v)
        (cache / f"{key}.idx").write_bytes(raw)
    tpl.write_bytes(_small_tar(NEW))
    with open(cache / (first.name[:16] + ".lock"), "r+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert domufs.index(tpl, cache).returncode == 0
        names = sorted(p.name for p in cache.glob("*.idx"))
        assert first.name in names and "00000000000000a1.idx" in names, names
        assert "00000000000000a2.idx" not in names, names
    tpl.write_bytes(_small_tar(OLD) + bytes(10240))
    assert domufs.index(tpl, cache).returncode == 0
    names = sorted(p.name for p in cache.glob("*.idx"))
    assert len(names) == 2 and "00000000000000a1.idx" in names, names
    assert not (cache / (first.name[:16] + ".lock")).exists()


def test_concurrent_index_on_cold_cache(archive, domufs):
    tpl = archive("pax-xz")
    cache = domufs.cache_dir()
    argv = [domufs.binary, "index", "--cache-dir", str(cache), str(tpl)]
    from conftest import child_env, sanitizer_report
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
             for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    counts = set()
    for p, (out, err) in zip(procs, outs):
        err = err.decode(errors="replace")
        assert not sanitizer_report(err), err
        assert p.returncode == 0, f"concurrent index exited {p.returncode}: {err}"
        m = SUMMARY.search(out.decode())
        assert m, out
        counts.add((m.group(1), m.group(2)))
    assert len(counts) == 1, counts
    line, n, nbytes = _summary(domufs.index(tpl, cache), tpl)
    assert "verified" in line
    assert {(str(n), str(nbytes))} == counts
    m = domufs.mount(tpl, cache_dir=cache)
    assert open(m.b(b"usr/lib/small.txt"), "rb").read() == b"small file\nwith two lines\n"


def test_concurrent_mounts_on_cold_cache(archive, domufs):
    tpl = archive("gnu-zst")
    cache = domufs.cache_dir()
    ms = [domufs.start_mount(tpl, cache_dir=cache) for _ in range(3)]
    for m in ms:
        ok, why = domufs.wait_ready(m)
        assert ok, f"{why}\n{m.stderr()}"
    for m in ms:
        assert open(m.b(b"etc/hostname"), "rb").read() == b"template\n"


def test_cache_dir_created_if_missing(archive, domufs, tmp_path):
    tpl = archive("pax-none")
    cache = tmp_path / "not" / "yet" / "there"
    res = domufs.index(tpl, cache)
    assert res.returncode == 0, str(res)
    assert cache.is_dir()
    assert "verified" in domufs.index(tpl, cache).stdout


def test_template_unchanged_by_index_and_mount(archive, domufs):
    tpl = archive("pax-gz")
    h = file_hash(tpl)
    st = os.stat(tpl)
    domufs.index(tpl)
    m = domufs.mount(tpl)
    F.snapshot(m.path)
    assert file_hash(tpl) == h
    assert os.stat(tpl).st_mtime_ns == st.st_mtime_ns


# ---------------------------------------------------------------- usage errors (exit 2)

@pytest.mark.parametrize("args", [
    [],
    ["no-such-subcommand"],
    ["index"],
    ["index", "--no-such-option", "T"],
    ["index", "--cache-dir"],
    ["index", "T", "extra-argument"],
    ["mount"],
    ["mount", "T"],
    ["mount", "--no-such-option", "T", "M"],
    ["mount", "-o"],
    ["mount", "--ready-fd", "not-a-number", "-f", "T", "M"],
    ["mount", "--poll-us", "-1", "-f", "T", "M"],
    ["mount", "--poll-us", "50us", "-f", "T", "M"],
    ["mount", "T", "M", "extra-argument"],
], ids=lambda a: " ".join(a) or "no-arguments")
def test_usage_errors_exit_2(args, domufs, tmp_path, archive):
    tpl = archive("pax-none")
    mp = domufs.mountpoint()
    argv = [str(tpl) if a == "T" else str(mp) if a == "M" else a for a in args]
    res = domufs.run(*argv)
    assert res.returncode == 2, str(res)
    assert res.stderr.strip(), f"usage error without a message\n{res}"
    assert not F.is_mountpoint(mp)


# ---------------------------------------------------------------- runtime errors (exit 1)

def test_index_missing_template(domufs, tmp_path):
    tpl = tmp_path / "no-such-template.tar.zst"
    res = domufs.index(tpl)
    assert res.returncode == 1, str(res)
    assert_one_error_line(res, tpl)


@pytest.mark.parametrize("foreground", [False, True], ids=["background", "foreground"])
def test_mount_missing_template(foreground, domufs, tmp_path):
    tpl = tmp_path / "no-such-template.tar"
    mp = domufs.mountpoint()
    if foreground:
        m = domufs.start_mount(tpl, mountpoint=mp)
        ok, _ = domufs.wait_ready(m)
        assert not ok, "ready signalled for a missing template"
        rc = m.proc.wait(timeout=30)
        m.finished = True
        assert rc == 1, m.stderr()
        lines = [x for x in m.stderr().splitlines() if x.strip()]
        assert len(lines) == 1 and lines[0].startswith("domufs: ") and str(tpl) in lines[0], lines
        assert not m.check_exit(None)
    else:
        res = domufs.mount_bg(tpl, mp)
        assert res.returncode == 1, str(res)
        assert_one_error_line(res, tpl)
    assert not F.is_mountpoint(mp)


def test_template_is_a_directory(domufs, tmp_path):
    tpl = tmp_path / "dir.tar"
    tpl.mkdir()
    res = domufs.index(tpl)
    assert res.returncode == 1, str(res)
    assert_one_error_line(res, tpl)


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_template_that_is_no_file_fails_at_once(kind, domufs, tmp_path):
    """A FIFO (nothing writes to it) or a character device named as the
    template: one line, exit 1, for index and mount alike; opening the FIFO
    used to wait for a writer forever."""
    if kind == "fifo":
        tpl = tmp_path / "pipe.tar"
        os.mkfifo(tpl)
    else:
        tpl = "/dev/zero"
    res = domufs.index(tpl, timeout=20)
    assert res.returncode == 1, str(res)
    line = assert_one_error_line(res, tpl)
    assert "not a regular file" in line, line
    mp = domufs.mountpoint()
    res = domufs.mount_bg(tpl, mp)
    assert res.returncode == 1, str(res)
    assert_one_error_line(res, tpl)
    assert not F.is_mountpoint(mp)


def test_unreadable_template_as_unprivileged_user(archive, public_dir, domufs):
    tpl = public_dir / "secret.tar"
    tpl.write_bytes(archive("pax-none").read_bytes())
    os.chmod(tpl, 0o000)
    cache = public_dir / "cache"
    cache.mkdir()
    os.chown(cache, 65534, 65534)
    res = domufs.run("index", "--cache-dir", cache, tpl, prefix=NOBODY)
    assert res.returncode == 1, str(res)
    line = assert_one_error_line(res, tpl)
    assert "ermission" in line or "EACCES" in line, line
    mp = public_dir / "mnt"
    mp.mkdir()
    os.chown(mp, 65534, 65534)
    res = domufs.run("mount", "--cache-dir", cache, tpl, mp, prefix=NOBODY)
    assert res.returncode == 1, str(res)
    assert_one_error_line(res, tpl)
    assert not F.is_mountpoint(mp)


def test_unprivileged_user_can_index_a_readable_template(archive, public_dir, domufs):
    tpl = public_dir / "t.tar.zst"
    tpl.write_bytes(archive("pax-zst").read_bytes())
    os.chmod(tpl, 0o644)
    cache = public_dir / "cache"
    cache.mkdir()
    os.chown(cache, 65534, 65534)
    res = domufs.run("index", "--cache-dir", cache, tpl, prefix=NOBODY)
    _summary(res, tpl)


def test_unwritable_cache_dir(archive, public_dir, domufs):
    tpl = public_dir / "t.tar"
    tpl.write_bytes(archive("pax-none").read_bytes())
    os.chmod(tpl, 0o644)
    cache = public_dir / "root-only-cache"
    cache.mkdir(mode=0o755)
    res = domufs.run("index", "--cache-dir", cache, tpl, prefix=NOBODY)
    assert res.returncode == 1, str(res)
    assert_one_error_line(res, cache)


@pytest.mark.parametrize("foreground", [False, True], ids=["background", "foreground"])
def test_missing_mountpoint(foreground, archive, domufs, tmp_path):
    mp = tmp_path / "no-such-mountpoint"
    if foreground:
        m = domufs.start_mount(archive("pax-none"), mountpoint=mp)
        ok, _ = domufs.wait_ready(m)
        assert not ok
        rc = m.proc.wait(timeout=30)
        m.finished = True
        lines = [x for x in m.stderr().splitlines() if x.strip()]
        assert rc == 1, lines
        assert len(lines) == 1 and lines[0].startswith("domufs: ") and str(mp) in lines[0], lines
        assert not m.check_exit(None)
    else:
        res = domufs.mount_bg(archive("pax-none"), mp)
        assert res.returncode == 1, str(res)
        assert_one_error_line(res, mp)
    assert not mp.exists()


def test_mountpoint_is_a_file(archive, domufs, tmp_path):
    mp = tmp_path / "a-file"
    mp.write_text("x")
    res = domufs.mount_bg(archive("pax-none"), mp)
    assert res.returncode == 1, str(res)
    assert_one_error_line(res, mp)
    assert not F.is_mountpoint(mp)


def test_mountpoint_already_a_mountpoint(archive, domufs):
    first = domufs.mount(archive("pax-none"))
    res = domufs.mount_bg(archive("gnu-none"), first.path)
    assert res.returncode == 1, str(res)
    assert_one_error_line(res, first.path)
    assert F.mount_count(first.path) == 1
    assert open(first.b(b"etc/hostname"), "rb").read() == b"template\n"
    # and with -f
    m = domufs.start_mount(archive("gnu-none"), mountpoint=first.path)
    ok, _ = domufs.wait_ready(m)
    assert not ok, "second mount on the same mountpoint signalled ready"
    rc = m.proc.wait(timeout=30)
    m.finished = True
    lines = [x for x in m.stderr().splitlines() if x.strip()]
    assert rc == 1 and len(lines) == 1 and str(first.path) in lines[0], (rc, lines)
    assert F.mount_count(first.path) == 1
    assert open(first.b(b"etc/hostname"), "rb").read() == b"template\n"
