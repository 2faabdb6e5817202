# SPDX-License-Identifier: LGPL-2.1-or-later
"""`domufs mount --io-uring`: FUSE over io_uring, one queue per CPU.  With the
kernel's switch on, requests go through the rings (one io_uring per possible
CPU in the daemon, ring completions for every directory walked), the tree is the same as tar's
extraction from every CPU, and writes through the overlay persist.  With the
switch off, one warning, and the mount works through /dev/fuse.  (The
io_uring pass of the suite, integration-io-uring, runs every other test
again with --io-uring: unmounting by fusermount3 -u and by signal among them.)"""

import hashlib
import json
import os
import stat
import subprocess
import sys

import pytest

import fixtures as F
from conftest import MOUNT_ARGS, uring_switch, uring_switched_on, uring_unavailable
from overlay_helpers import mount_overlay


# this module chooses io_uring or not per mount itself
pytestmark = pytest.mark.skipif(bool(MOUNT_ARGS), reason="DOMUFS_TEST_MOUNT_ARGS is set")


@pytest.fixture
def uring_on():
    with uring_switched_on():
        yield


def possible_cpus():
    with open("/sys/devices/system/cpu/possible") as f:
        text = f.read().strip()
    return int(text.split("-")[-1]) + 1


def online_cpus():
    return sorted(os.sched_getaffinity(0))


def uring_fd_paths(pid):
    """/proc paths of the process's io_uring instances."""
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:[io_uring]":
                out.append(f"/proc/{pid}/fdinfo/{fd}")
        except FileNotFoundError:
            pass
    return out


def uring_fds(pid):
    """How many io_uring instances the process holds."""
    return len(uring_fd_paths(pid))


def ring_commands(pid):
    """Commands completed on the daemon's rings so far (their fdinfo CqHead)."""
    n = 0
    for info in uring_fd_paths(pid):
        with open(info) as f:
            for line in f:
                if line.startswith("CqHead:"):
                    n += int(line.split()[1])
    return n


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def regular_files(root: bytes):
    out = []
    for dirpath, _dirs, files in os.walk(root):
        for n in files:
            p = os.path.join(dirpath, n)
            if os.path.isfile(p) and not os.path.islink(p):
                out.append(os.path.relpath(p, root))
    return sorted(out)


def test_tree_through_the_rings_matches_extraction(uring_on, archive, extracted, domufs):
    path = archive("pax-zst")
    want = F.snapshot(extracted(path))
    m = domufs.mount(path, extra=("--io-uring",))
    assert "io_uring" not in m.stderr(), m.stderr()
    assert uring_fds(m.proc.pid) == possible_cpus(), "one io_uring per possible CPU"
    before = ring_commands(m.proc.pid)
    got = F.snapshot(m.path)
    diffs = F.compare_trees(want, got, xattrs=F.variant_has_xattrs("pax-zst"))
    assert not diffs, "mount over io_uring differs from tar extraction:\n" + "\n".join(diffs[:40])
    # the walk went through the rings: a request at least per directory
    dirs = sum(1 for e in got.values() if e["type"] == stat.S_IFDIR)
    assert ring_commands(m.proc.pid) - before >= dirs
    assert not m.unmount()


HASHER = """
import hashlib, json, os, sys
root = os.fsencode(sys.argv[1])
print(json.dumps({os.fsencode(r).hex(): hashlib.sha256(open(os.path.join(root, os.fsencode(r)), "rb").read()).hexdigest()
                  for r in sys.argv[2:]}))
"""


def test_every_cpu_reads_the_same_bytes(uring_on, archive, extracted, domufs):
    """Callers on each CPU are served by that CPU's queue: same content."""
    path = archive("pax-xz")
    ex = os.fsencode(str(extracted(path)))
    m = domufs.mount(path, extra=("--io-uring",))
    files = regular_files(ex)
    assert len(files) > 10
    want = {rel: sha256(os.path.join(ex, rel)) for rel in files}
    for cpu in online_cpus():
        # a reader pinned to the CPU: sha256 of each file, names in hex
        out = subprocess.run(["taskset", "-c", str(cpu), sys.executable, "-c", HASHER, m.b()] + files,
                             capture_output=True, check=True).stdout
        got = json.loads(out)
        bad = [rel for rel in files if got.get(rel.hex()) != want[rel]]
        assert not bad, f"cpu {cpu}: wrong content for {bad[:5]}"
    assert not m.unmount()


def test_overlay_writes_persist(uring_on, archive, domufs, tmp_path):
    """Writes larger than one request, renames, deletions of template
    entries and xattrs, through the rings; then read back after a remount
    through /dev/fuse."""
    template = archive("pax-none")
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    m = mount_overlay(domufs, template, overlay, extra=("--io-uring",))
    assert uring_fds(m.proc.pid) == possible_cpus()
    big = os.urandom(3 << 20) + b"tail"
    with open(m.b(b"big.bin"), "wb") as f:
        f.write(big)  # one 3 MiB write: several 1 MiB requests
    os.rename(m.b(b"etc/hostname"), m.b(b"etc/hostname.old"))
    os.unlink(m.b(b"etc/hostname.old"))
    os.mkdir(m.b(b"newdir"), 0o750)
    os.symlink(b"../big.bin", m.b(b"newdir/link"))
    os.setxattr(m.b(b"big.bin"), b"user.note", b"x" * 3000)
    with open(m.b(b"newdir/link"), "rb") as f:
        assert f.read() == big
    assert not m.unmount()
    m = mount_overlay(domufs, template, overlay)  # through /dev/fuse this time
    assert uring_fds(m.proc.pid) == 0
    with open(m.b(b"big.bin"), "rb") as f:
        assert f.read() == big
    assert not os.path.lexists(m.b(b"etc/hostname"))
    assert os.readlink(m.b(b"newdir/link")) == b"../big.bin"
    assert os.getxattr(m.b(b"big.bin"), b"user.note") == b"x" * 3000
    assert oct(os.lstat(m.b(b"newdir")).st_mode & 0o777) == oct(0o750)
    assert not m.unmount()


def test_libfuse_spelling_in_o(uring_on, archive, domufs):
    """-o io_uring (libfuse's spelling) is --io-uring; the other -o options
    of the list still reach the mount."""
    m = domufs.mount(archive("pax-none"), opts="allow_other,io_uring")
    assert uring_fds(m.proc.pid) == possible_cpus()
    # (mountpoint, fstype, source, super options, mount options)
    supers = [e[3] for e in F.mounts() if e[0] == str(m.path)]
    assert supers and "allow_other" in supers[-1].split(","), supers
    assert open(m.b(b"etc/hostname"), "rb").read() == b"template\n"
    assert not m.unmount()


def served_without_rings(domufs, template, why):
    """mount --io-uring gives one io_uring warning mentioning `why`, and
    the mount works through /dev/fuse."""
    m = domufs.mount(template, extra=("--io-uring",))
    assert open(m.b(b"etc/hostname"), "rb").read() == b"template\n"
    assert uring_fds(m.proc.pid) == 0
    lines = [x for x in m.stderr().splitlines() if "io_uring" in x]
    assert len(lines) == 1 and "warning" in lines[0] and why in lines[0], m.stderr()
    assert not m.unmount()


def test_switch_off_warns_and_serves(archive, domufs):
    reason = uring_unavailable()
    if reason:
        pytest.skip(reason)
    with uring_switch("N"):
        served_without_rings(domufs, archive("pax-none"), "enable_uring")


def test_rings_refused_warns_and_serves(uring_on, archive, domufs):
    """The kernel offers io_uring for FUSE but will not set up a ring
    (kernel.io_uring_disabled=2): one warning, and /dev/fuse."""
    knob = "/proc/sys/kernel/io_uring_disabled"
    with open(knob) as f:
        old = f.read().strip()
    with open(knob, "w") as f:
        f.write("2")
    try:
        served_without_rings(domufs, archive("pax-none"), "setup failed")
    finally:
        with open(knob, "w") as f:
            f.write(old)
