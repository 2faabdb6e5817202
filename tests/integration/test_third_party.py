# SPDX-License-Identifier: LGPL-2.1-or-later
"""Third-party file system workloads on a writable mount: fio with data
verification (buffered, mmap, O_DIRECT with libaio), the written data read
back and verified again after a remount; dbench's Samba-like client load;
stress-ng's file system stressors with their own checks; after each, the
overlay committed into an ext4 image that e2fsck finds clean (fio's files
with the same bytes there). Each tool decides by itself whether what it
read back is what it wrote; a test fails when it reports an error or exits
non-zero, or when the daemon does not exit cleanly."""

import hashlib
import os
import re
import subprocess

import pytest

from fixtures import e2fsck_clean
from overlay_helpers import Ovl

FIO_ENGINES = {
    "psync": ["--ioengine=psync", "--fsync=13"],
    "mmap": ["--ioengine=mmap"],
    "libaio-direct": ["--ioengine=libaio", "--direct=1", "--iodepth=8"],
}

# stress-ng stressors that apply to a FUSE overlay (run with --verify), each
# with a number of bogo operations to complete: about a quarter of what two
# instances do in a second here, so that a busy machine only makes the run
# longer (a stressor that gets no CPU time in a timed run has checked nothing);
# None: one that does not stop at a count (fpunch) runs for the group's time
STRESSORS = {
    "access": 150, "chmod": 30, "chown": 150, "copy-file": 50, "dentry": 1000, "dir": 200,
    "dirdeep": 150, "fallocate": 15, "fcntl": 1500, "filename": 8, "flock": 100000, "fpunch": None,
    "fsize": 40, "getdent": 20000, "hdd": 1500, "iomix": 800, "link": 1, "lockf": 20000,
    "lockofd": 100000, "mknod": 300, "mmap": 1, "open": 1500, "rename": 500, "seek": 250,
    "sendfile": 4000, "symlink": 1, "sync-file": 40, "utime": 800, "xattr": 8,
}
GROUPS = [sorted(STRESSORS)[i:i + 6] for i in range(0, len(STRESSORS), 6)]
# one instance of these: stress-ng 0.15's chmod and chown instances share one
# file, which the first creates and removes once it has done its share; a
# second that came too late finds no file and polls for it (every 100 ms)
# until the timeout, having done nothing. Natively too: 2 runs in 5 of
# `stress-ng --chmod 2 --chmod-ops 30` on ext4 stop at the timeout with 15.
ALONE = {"chmod", "chown"}


def run(args, cwd, timeout=240):
    p = subprocess.run(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace")


def commit_and_fsck(o, tmp_path, files=()):
    """Commits the unmounted overlay into an ext4 image: e2fsck -fn clean,
    and each of `files` (path in the view, sha256) with the same bytes."""
    img = tmp_path / "committed.img"
    r = subprocess.run([o.runner.binary, "commit", "--cache-dir", str(o.m.cache_dir), "--overlay",
                        str(o.overlay), str(o.template), str(img)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=300)
    assert r.returncode == 0, r.stdout.decode(errors="replace")
    e2fsck_clean(img)
    for path, digest in files:
        out = tmp_path / "dumped"
        subprocess.run(["debugfs", "-R", f"dump {path} {out}", str(img)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert hashlib.sha256(out.read_bytes()).hexdigest() == digest, f"{path} differs in the image"
        out.unlink()


@pytest.fixture
def work(archive, domufs, tmp_path):
    """A writable mount of the compressed fidelity template and a work directory in it."""
    o = Ovl(domufs, archive("pax-zst"), tmp_path / "overlay")
    d = o.p(b"emptydir/work")
    os.mkdir(d)
    return o, d


@pytest.mark.parametrize("engine", sorted(FIO_ENGINES))
def test_fio_verify_and_after_remount(work, engine, tmp_path):
    o, d = work
    job = ["fio", "--name=v", "--directory=.", "--size=16m", "--numjobs=2", "--bs=4k",
           "--verify=crc32c", "--verify_fatal=1", "--group_reporting", *FIO_ENGINES[engine]]
    rc, out = run(job + ["--rw=randwrite", "--do_verify=1"], cwd=d)
    assert rc == 0 and re.search(r"err= 0", out), out
    assert "verify:" not in out.lower(), out
    rc, out = run(job + ["--rw=randrw"], cwd=d)
    assert rc == 0 and re.search(r"err= 0", out), out
    # the last write pass, then the data read back through a new daemon
    rc, out = run(job + ["--rw=write"], cwd=d)
    assert rc == 0, out
    o.remount()
    rc, out = run(job + ["--rw=write", "--verify_only"], cwd=o.p(b"emptydir/work"))
    assert rc == 0 and re.search(r"err= 0", out), out
    names = sorted(n for n in os.listdir(o.p(b"emptydir/work")) if n.startswith(b"v."))
    assert len(names) == 2, names   # one data file a job
    files = [(b"/emptydir/work/" + n, hashlib.sha256(open(o.p(b"emptydir/work/" + n), "rb").read()).hexdigest())
             for n in names]
    o.unmount()
    commit_and_fsck(o, tmp_path, [(os.fsdecode(pth), h) for pth, h in files])


def test_dbench(work, tmp_path):
    o, d = work
    rc, out = run(["dbench", "-D", ".", "-t", "5", "4"], cwd=d)
    assert rc == 0, out
    assert re.search(r"^Throughput [0-9.]+ MB/sec\s+4 clients", out, re.M), out
    # dbench 4.0 prints "failed to create barrier semaphore" when semget()
    # returns 0, a valid id (the first semaphore since boot) and nothing to
    # do with the file system; a real failure is followed by "failed to
    # initialize the barrier semaphore" and exit 1, which stay errors here.
    bad = [ln for ln in out.splitlines() if re.search(r"fail|error|unexpected", ln, re.I)
           and ln.strip() != "failed to create barrier semaphore"]
    assert not bad, "\n".join(bad)
    o.unmount()
    commit_and_fsck(o, tmp_path)


@pytest.mark.parametrize("names", GROUPS, ids=lambda g: "+".join(g))
def test_stress_ng(work, names, tmp_path):
    """Six stressors at once, two instances each (one of those in ALONE),
    each until it did its operations."""
    o, d = work
    timed = any(STRESSORS[s] is None for s in names)
    args = ["stress-ng", "--timeout", "6s" if timed else "90s", "--verify", "--temp-path", ".",
            "--metrics-brief"]
    for s in names:
        args += [f"--{s}", "1" if s in ALONE else "2"]
        if STRESSORS[s] is not None:
            args += [f"--{s}-ops", str(STRESSORS[s])]
    rc, out = run(args, cwd=d)
    assert rc == 0, out
    assert "successful run completed" in out, out
    for s in names:
        ops = re.search(rf"metrc: \[\d+\] {re.escape(s)} +(\d+) ", out)
        assert ops and int(ops.group(1)) >= (STRESSORS[s] or 1), f"{s} did not finish its operations:\n{out}"
    bad = [ln for ln in out.splitlines() if re.search(r"fail|error|skipping", ln, re.I)]
    assert not bad, out
    o.unmount()
    commit_and_fsck(o, tmp_path)
