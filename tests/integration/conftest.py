# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fixtures for the domufs integration tests: running the binary, real FUSE
mounts (ready pipe, always unmounted, sanitizer output fails the test), and the
session-wide staging tree and archive variants built from tests/data recipes.

Environment: DOMUFS = absolute path of the built binary.  The suite is skipped
only when DOMUFS is unset or /dev/fuse is absent.  DOMUFS_TEST_MOUNT_ARGS:
options added to every test mount (the io_uring pass sets --io-uring, and then
the kernel's fuse enable_uring switch is turned on for the session).
"""

import os
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fixtures as F  # noqa: E402

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer",
                     "ERROR: ThreadSanitizer", "SUMMARY: UndefinedBehaviorSanitizer")
READY_TIMEOUT = 60      # seconds for a cold index + mount under a sanitizer build
RUN_TIMEOUT = 120
EXIT_TIMEOUT = 30
# a hung daemon would hang the test in a FUSE syscall: its daemons are killed then
TEST_DEADLINE = int(os.environ.get("DOMUFS_TEST_DEADLINE", "150"))
MOUNT_ARGS = shlex.split(os.environ.get("DOMUFS_TEST_MOUNT_ARGS", ""))
URING_SWITCH = Path("/sys/module/fuse/parameters/enable_uring")


def _skip_reason():
    if not os.environ.get("DOMUFS"):
        return "DOMUFS is not set (path of the built domufs binary)"
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is absent"
    return None


@pytest.fixture(scope="session", autouse=True)
def _require_domufs():
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    path = os.environ["DOMUFS"]
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"DOMUFS={path} is not an executable file")


@contextmanager
def uring_switch(value: str):
    """The fuse module's enable_uring set to `value` ("Y"/"N") meanwhile."""
    old = URING_SWITCH.read_text().strip()
    URING_SWITCH.write_text(value)
    try:
        yield
    finally:
        URING_SWITCH.write_text(old)


def uring_unavailable():
    if not URING_SWITCH.exists():
        return "this kernel has no FUSE over io_uring (no fuse enable_uring parameter)"
    if not os.access(URING_SWITCH, os.W_OK):
        return f"{URING_SWITCH} is not writable (root needed to switch it)"
    disabled = Path("/proc/sys/kernel/io_uring_disabled")
    if disabled.exists() and disabled.read_text().strip() != "0":
        return "io_uring is restricted or off here (kernel.io_uring_disabled)"
    return None


@contextmanager
def uring_switched_on():
    """The kernel's switch on meanwhile; the test skipped where it can't be."""
    reason = uring_unavailable()
    if reason:
        pytest.skip(reason)
    with uring_switch("Y"):
        yield


@pytest.fixture(scope="session", autouse=True)
def _uring_pass():
    """A pass with --io-uring on every mount needs the kernel's switch on."""
    if "--io-uring" not in MOUNT_ARGS:
        yield
        return
    with uring_switched_on():
        yield


def sanitizer_report(text: str):
    for marker in SANITIZER_MARKERS:
        if marker in text:
            return marker
    return None


def child_env(extra=None):
    # ASAN_OPTIONS / UBSAN_OPTIONS / LSAN_OPTIONS pass through unchanged
    env = dict(os.environ)
    env.update(extra or {})
    return env


@dataclass
class Result:
    args: list
    returncode: int
    stdout: str
    stderr: str

    def __str__(self):
        return (f"$ {' '.join(map(str, self.args))}\nexit {self.returncode}\n"
                f"stdout: {self.stdout!r}\nstderr: {self.stderr!r}")

    def stderr_lines(self):
        return [line for line in self.stderr.splitlines() if line.strip()]

    def errors(self):
        """stderr lines that are not warnings."""
        return [line for line in self.stderr_lines() if not line.startswith("domufs: warning: ")]

    def warnings(self):
        return [line for line in self.stderr_lines() if line.startswith("domufs: warning: ")]


def unexpected_stderr(res: Result):
    """stderr lines for a clean archive of the fidelity tree.  GNU tar stores the
    non-UTF-8 name names/latin1-%E9%FF (recipe notation) as a raw pax 'path' record, which pax
    says must be UTF-8: a warning naming that member is fair, nothing else is."""
    return [line for line in res.stderr_lines()
            if not (line.startswith("domufs: warning: ") and "/latin1-" in line)]


def assert_one_error_line(res: Result, *needles):
    """Exactly one non-empty stderr line, 'domufs: ...', containing every needle."""
    lines = res.stderr_lines()
    assert len(lines) == 1, f"expected exactly one stderr line\n{res}"
    line = lines[0]
    assert line.startswith("domufs: "), f"error line must start with 'domufs: '\n{res}"
    assert not line.startswith("domufs: warning: "), f"expected an error, got a warning\n{res}"
    for n in needles:
        assert str(n) in line, f"error line does not name {str(n)!r}\n{res}"
    return line


def pids_mentioning(needle: str) -> list:
    """Pids (not ours) with needle as one of their arguments (e.g. a mountpoint)."""
    out = []
    nb = needle.encode()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if nb in args:
            out.append(int(d))
    return out


def wait_pid_gone(pid: int, timeout: float) -> bool:
    """Wait (without polling) until a process that is not our child exits."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        r, _, _ = select.select([fd], [], [], timeout)
        return bool(r)
    finally:
        os.close(fd)


def fusermount_u(path, lazy=False):
    args = ["fusermount3", "-u"] + (["-z"] if lazy else []) + [str(path)]
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class Mount:
    """A foreground (-f) domufs daemon serving one mountpoint."""

    def __init__(self, runner, template, path, cache_dir, proc, stderr_path, args):
        self.runner = runner
        self.template = Path(template)
        self.path = Path(path)
        self.cache_dir = cache_dir
        self.proc = proc
        self.stderr_path = stderr_path
        self.args = args
        self.finished = False

    def __truediv__(self, rel):
        return self.path / rel

    def b(self, rel: bytes = b"") -> bytes:
        base = os.fsencode(str(self.path))
        return os.path.join(base, rel) if rel else base

    def stderr(self) -> str:
        return Path(self.stderr_path).read_text(errors="replace")

    def unmount(self):
        """Unmount with fusermount3 -u and reap the daemon; return problems."""
        problems = []
        if self.finished:
            return problems
        self.finished = True
        if F.is_mountpoint(self.path):
            r = fusermount_u(self.path)
            if r.returncode != 0:
                problems.append(f"fusermount3 -u {self.path} failed: {r.stderr.strip()}")
                fusermount_u(self.path, lazy=True)
        try:
            rc = self.proc.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            problems.append(f"daemon did not exit within {EXIT_TIMEOUT}s of unmount; killed")
            rc = None
        problems += self.check_exit(rc, expect_rc=0)
        return problems

    def check_exit(self, rc, expect_rc=0):
        problems = []
        err = self.stderr()
        marker = sanitizer_report(err)
        if marker:
            problems.append(f"sanitizer output ({marker}) in daemon stderr:\n{err}")
        if rc is not None and rc != expect_rc:
            problems.append(f"daemon exited {rc}, expected {expect_rc}; stderr:\n{err}")
        if F.is_mountpoint(self.path):
            problems.append(f"{self.path} is still mounted after the daemon exited")
            fusermount_u(self.path, lazy=True)
        return problems


class Runner:
    """Runs the domufs binary; tracks every mount it made so teardown can undo it."""

    def __init__(self, binary: str, tmp: Path):
        self.binary = binary
        self.tmp = tmp
        self.mounts = []
        self.bg_mounts = []       # (mountpoint, [daemon pids]) from mounts without -f
        self._n = 0

    def _fresh(self, prefix):
        self._n += 1
        p = self.tmp / f"{prefix}{self._n}"
        p.mkdir()
        return p

    def cache_dir(self):
        return self._fresh("cache")

    def mountpoint(self):
        return self._fresh("mnt")

    def run(self, *args, timeout=RUN_TIMEOUT, prefix=(), input=None, env=None) -> Result:
        argv = list(prefix) + [self.binary] + [str(a) if not isinstance(a, bytes) else a for a in args]
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=child_env(env), timeout=timeout, input=input)
        res = Result(argv, p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))
        marker = sanitizer_report(res.stderr)
        if marker:
            pytest.fail(f"sanitizer output ({marker}) from domufs:\n{res}")
        return res

    def index(self, template, cache_dir=None, *extra, **kw) -> Result:
        if cache_dir is None:
            cache_dir = self.cache_dir()
        return self.run("index", "--cache-dir", cache_dir, *extra, template, **kw)

    def mount(self, template, mountpoint=None, cache_dir=None, opts=None, extra=(), env=None) -> Mount:
        """Start `domufs mount -f --ready-fd`, wait for ready; fail the test if it does not come."""
        m = self.start_mount(template, mountpoint, cache_dir, opts, extra, env)
        ok, why = self.wait_ready(m)
        if not ok:
            problems = m.unmount()
            pytest.fail(f"mount did not become ready: {why}\n$ {' '.join(map(str, m.args))}\n"
                        f"stderr:\n{m.stderr()}\n" + "\n".join(problems))
        if not F.is_mountpoint(m.path):
            pytest.fail(f"daemon said ready but {m.path} is not a mountpoint")
        return m

    def start_mount(self, template, mountpoint=None, cache_dir=None, opts=None, extra=(), env=None) -> Mount:
        if mountpoint is None:
            mountpoint = self.mountpoint()
        if cache_dir is None:
            cache_dir = self.cache_dir()
        r, w = os.pipe()
        stderr_path = self._fresh("daemon-stderr") / "stderr"
        args = [self.binary, "mount", *MOUNT_ARGS, "--cache-dir", str(cache_dir), "-f", "--ready-fd", str(w)]
        if opts:
            args += ["-o", opts]
        args += list(extra) + [str(template), str(mountpoint)]
        with open(stderr_path, "wb") as errf:
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=errf, pass_fds=(w,), env=child_env(env))
        os.close(w)
        m = Mount(self, template, mountpoint, cache_dir, proc, stderr_path, args)
        m.ready_fd = r
        self.mounts.append(m)
        return m

    def wait_ready(self, m: Mount, timeout=READY_TIMEOUT):
        """(True, '') once 'ready\\n' arrived; (False, reason) on EOF or timeout."""
        r = m.ready_fd
        buf = b""
        try:
            while b"\n" not in buf:
                ready, _, _ = select.select([r], [], [], timeout)
                if not ready:
                    return False, f"no ready signal within {timeout}s"
                chunk = os.read(r, 64)
                if not chunk:
                    try:
                        rc = m.proc.wait(timeout=EXIT_TIMEOUT)
                    except subprocess.TimeoutExpired:
                        rc = "still running"
                    return False, f"ready pipe closed without 'ready' (exit status {rc})"
                buf += chunk
        finally:
            os.close(r)
        if buf != b"ready\n":
            return False, f"ready pipe said {buf!r}, expected b'ready\\n'"
        return True, ""

    def mount_bg(self, template, mountpoint, cache_dir=None, opts=None) -> Result:
        """`domufs mount` without -f; remembers the mount for teardown."""
        if cache_dir is None:
            cache_dir = self.cache_dir()
        args = ["mount", "--cache-dir", cache_dir]
        if opts:
            args += ["-o", opts]
        entry = (Path(mountpoint), [])
        self.bg_mounts.append(entry)     # before running: teardown must see it even if run() fails
        res = self.run(*args, template, mountpoint)
        entry[1].extend(pids_mentioning(str(mountpoint)))
        return res

    def abort(self):
        """Watchdog: SIGKILL every daemon of this test, so that syscalls blocked
        on a hung FUSE connection fail with ENOTCONN instead of hanging pytest."""
        self.aborted = True
        for m in self.mounts:
            if m.proc.poll() is None:
                m.proc.kill()
        for mp, pids in self.bg_mounts:
            for pid in set(pids + pids_mentioning(str(mp))):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def teardown(self):
        problems = []
        if getattr(self, "aborted", False):
            problems.append(f"test ran over {TEST_DEADLINE}s: its domufs daemons were killed")
        for m in self.mounts:
            problems += m.unmount()
        for mp, pids in self.bg_mounts:
            if F.is_mountpoint(mp):
                r = fusermount_u(mp)
                if r.returncode != 0:
                    problems.append(f"fusermount3 -u {mp} failed: {r.stderr.strip()}")
                    fusermount_u(mp, lazy=True)
            for pid in pids + pids_mentioning(str(mp)):
                if not wait_pid_gone(pid, EXIT_TIMEOUT):
                    problems.append(f"background daemon {pid} for {mp} still running; killed")
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        return problems


@pytest.fixture
def domufs(tmp_path):
    """A Runner for this test; every mount is unmounted and checked afterwards."""
    runner = Runner(os.environ["DOMUFS"], tmp_path)
    watchdog = threading.Timer(TEST_DEADLINE, runner.abort)
    watchdog.daemon = True
    watchdog.start()
    yield runner
    watchdog.cancel()
    problems = runner.teardown()
    if problems:
        pytest.fail("mount teardown problems:\n" + "\n".join(problems))


@pytest.fixture
def public_dir():
    """A world-traversable scratch dir (pytest's tmp dirs are 0700) for tests as uid 65534."""
    d = tempfile.mkdtemp(prefix="domufs-public-", dir="/tmp")
    os.chmod(d, 0o755)
    yield Path(d)
    for line in reversed(F.mounts()):
        if line[0].startswith(d + "/"):
            fusermount_u(line[0], lazy=True)
    shutil.rmtree(d, ignore_errors=True)


# ---- session-wide staging trees and archives

@pytest.fixture(scope="session")
def stage(tmp_path_factory):
    return F.build_stage("fidelity.recipe", tmp_path_factory.mktemp("stage") / "root")


@pytest.fixture(scope="session")
def dup_stage(tmp_path_factory):
    return F.build_stage("duplicates.recipe", tmp_path_factory.mktemp("dupstage") / "root")


@pytest.fixture(scope="session")
def archive(stage, dup_stage, tmp_path_factory):
    """archive(variant) -> Path of that archive variant, built once per session."""
    cache = {}
    workdir = tmp_path_factory.mktemp("archives")

    def get(name):
        if name not in cache:
            cache[name] = F.build_variant(name, stage, dup_stage, workdir / name)
        return cache[name]
    return get


@pytest.fixture(scope="session")
def extracted(tmp_path_factory):
    """extracted(archive_path) -> GNU tar extraction of it (the oracle), once per session."""
    cache = {}
    workdir = tmp_path_factory.mktemp("extracted")

    def get(path):
        path = Path(path)
        if path not in cache:
            cache[path] = F.extract(path, workdir / f"x{len(cache)}")
        return cache[path]
    return get


@pytest.fixture(scope="session")
def bigdir_archive(tmp_path_factory):
    d = tmp_path_factory.mktemp("bigdir")
    st = F.build_stage("bigdir.recipe", d / "root")
    tar = F.make_tar(st.root, d / "bigdir.tar", "pax")
    return F.compress(tar, "zst", d / "bigdir.tar.zst")
