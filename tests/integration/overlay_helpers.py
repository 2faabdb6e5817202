# SPDX-License-Identifier: LGPL-2.1-or-later
"""Helpers for the writable-overlay integration tests (test_overlay*.py).

- starting `domufs mount --overlay` daemons (optionally as another user)
  through the conftest Runner, so that teardown always unmounts them;
- remounting, killing a daemon with SIGKILL;
- libc calls Python lacks (renameat2, utimensat with UTIME_NOW/UTIME_OMIT,
  fallocate with modes);
- running a function as another uid in a forked child;
- the differential engine: the same operations on a plain directory (a GNU
  tar extraction of the template) and on the mount, results (return values
  and errno) compared operation by operation, then the two trees compared
  entry by entry.

Paths are bytes throughout.  Nothing here ever opens a device node or a
FIFO, nor follows a symlink with a write: the plain tree holds real device
nodes (dev/sda is 8,0) and absolute symlinks that point at the host.
"""

import ctypes
import errno
import hashlib
import os
import pickle
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

import fixtures as F
from conftest import MOUNT_ARGS, Mount, fusermount_u, sanitizer_report

NOBODY = (65534, 65534)
UMASK = os.umask(0o022)
os.umask(UMASK)
NOBODY_PREFIX = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]

# ---------------------------------------------------------------- libc

_libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2
FALLOC_FL_KEEP_SIZE = 1
FALLOC_FL_PUNCH_HOLE = 2
FALLOC_FL_ZERO_RANGE = 0x10


def _raise(path=None):
    e = ctypes.get_errno()
    raise OSError(e, os.strerror(e), path)


def renameat2(old, new, flags=0):
    _libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if _libc.renameat2(AT_FDCWD, os.fsencode(old), AT_FDCWD, os.fsencode(new), flags) != 0:
        _raise(old)


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def _ts(v):
    if v in (UTIME_NOW, UTIME_OMIT):
        return _Timespec(0, v)
    return _Timespec(v // 10**9, v % 10**9)


def utimensat(path, atime_ns, mtime_ns, follow=False):
    """atime/mtime: nanoseconds, UTIME_NOW or UTIME_OMIT."""
    arr = (_Timespec * 2)(_ts(atime_ns), _ts(mtime_ns))
    _libc.utimensat.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int]
    if _libc.utimensat(AT_FDCWD, os.fsencode(path), arr, 0 if follow else AT_SYMLINK_NOFOLLOW) != 0:
        _raise(path)


def fallocate(fd, mode, off, length):
    _libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
    if _libc.fallocate(fd, mode, off, length) != 0:
        _raise()


def ename(e):
    return errno.errorcode.get(e, str(e))


def expect_errno(code, fn, *args, **kw):
    """Run fn; return None when it failed with errno `code`, else a description."""
    try:
        r = fn(*args, **kw)
    except OSError as ex:
        if ex.errno == code:
            return None
        return f"failed with {ename(ex.errno)} ({ex}), expected {ename(code)}"
    return f"succeeded (returned {r!r}), expected {ename(code)}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_hash(path) -> str:
    return F.sha256_file(path if isinstance(path, bytes) else os.fsencode(str(path)))


def read(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def write_file(path, data: bytes, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def J(root: bytes, rel: bytes) -> bytes:
    return os.path.join(root, rel) if rel else root


# ---------------------------------------------------------------- daemons

def mount_overlay(runner, template, overlay, mountpoint=None, cache_dir=None, opts=None,
                  prefix=(), extra=(), wait=True) -> Mount:
    """`domufs mount -f --ready-fd --overlay OVERLAY`, run under `prefix` (e.g.
    setpriv) when given; registered with the runner so teardown unmounts it."""
    if mountpoint is None:
        mountpoint = runner.mountpoint()
    if cache_dir is None:
        cache_dir = runner.cache_dir()
    r, w = os.pipe()
    stderr_dir = runner._fresh("daemon-stderr")
    os.chmod(stderr_dir, 0o777)
    stderr_path = stderr_dir / "stderr"
    args = list(prefix) + [runner.binary, "mount", *MOUNT_ARGS, "--cache-dir", str(cache_dir), "--overlay", str(overlay),
                           "-f", "--ready-fd", str(w)]
    if opts:
        args += ["-o", opts]
    args += list(extra) + [str(template), str(mountpoint)]
    with open(stderr_path, "wb") as errf:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=errf, pass_fds=(w,))
    os.close(w)
    m = Mount(runner, template, mountpoint, cache_dir, proc, stderr_path, args)
    m.ready_fd = r
    m.overlay = Path(overlay)
    m.ovl = dict(template=template, overlay=overlay, mountpoint=mountpoint, cache_dir=cache_dir,
                 opts=opts, prefix=tuple(prefix), extra=tuple(extra))
    runner.mounts.append(m)
    if wait:
        ok, why = runner.wait_ready(m)
        if not ok:
            problems = m.unmount()
            pytest.fail(f"overlay mount did not become ready: {why}\n$ {' '.join(map(str, args))}\n"
                        f"stderr:\n{m.stderr()}\n" + "\n".join(problems))
        if not F.is_mountpoint(m.path):
            pytest.fail(f"daemon said ready but {m.path} is not a mountpoint")
    return m


def unmount(m: Mount):
    problems = m.unmount()
    assert not problems, "unmount problems:\n" + "\n".join(problems)


def remount(runner, m: Mount, **override) -> Mount:
    """Unmount m cleanly (asserting a clean exit) and mount the same overlay again."""
    unmount(m)
    kw = dict(m.ovl)
    kw.update(override)
    return mount_overlay(runner, **kw)


def kill9(m: Mount):
    """SIGKILL the daemon, reap it and detach the dead mount lazily."""
    try:
        m.proc.send_signal(signal.SIGKILL)
    except ProcessLookupError:
        pass
    m.proc.wait(timeout=30)
    fusermount_u(m.path, lazy=True)
    m.finished = True
    marker = sanitizer_report(m.stderr())
    assert not marker, f"sanitizer output before the kill:\n{m.stderr()}"


# ---------------------------------------------------------------- other users

def as_user(uid, gid, fn, *args, **kw):
    """Run fn(*args) in a forked child with real/effective/fs uid and gid set
    (no supplementary groups).  Returns its result; re-raises its OSError."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            try:
                res = ("ok", fn(*args, **kw))
            except OSError as ex:
                res = ("oserror", (ex.errno, str(ex)))
            except BaseException as ex:  # noqa: B902 - reported to the parent
                res = ("exc", repr(ex))
            data = pickle.dumps(res)
            with os.fdopen(w, "wb") as f:
                f.write(data)
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    kind, val = pickle.loads(data)
    if kind == "ok":
        return val
    if kind == "oserror":
        raise OSError(val[0], val[1])
    raise RuntimeError(f"as_user({uid}) child raised {val}")


def ensure_user(uid=1000):
    """(uid, gid, name) of an ordinary user, created with useradd if missing."""
    import pwd
    try:
        pw = pwd.getpwuid(uid)
        return pw.pw_uid, pw.pw_gid, pw.pw_name
    except KeyError:
        pass
    name = "domufs-test"
    r = subprocess.run(["useradd", "-u", str(uid), "-U", "-M", "-s", "/usr/sbin/nologin", name],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        pytest.skip(f"no uid {uid} and useradd failed: {r.stderr.strip()}")
    pw = pwd.getpwuid(uid)
    return pw.pw_uid, pw.pw_gid, pw.pw_name


def user_prefix(uid, gid):
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]


# ---------------------------------------------------------------- templates

def make_template(src: Path, out: Path) -> Path:
    """Pack a staging tree (with '.' so the root's metadata is in it) as pax."""
    return F.make_tar(src, out, "pax", dot=True)


def extract(template: Path, dest: Path) -> Path:
    """The plain-directory oracle: tar --xattrs --xattrs-include='*' --acls --numeric-owner -xpf."""
    return F.extract(template, dest)


# ---------------------------------------------------------------- safe operations
#
# Every helper below works on absolute bytes paths and never follows a final
# symlink; those that open a file check first (lstat) that it is a regular
# file, and refuse with "not-regular" otherwise, in both trees alike.

class NotRegular(Exception):
    pass


def _regular_or_absent(path):
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(st.st_mode):
        raise NotRegular(F.TYPE_NAMES.get(stat.S_IFMT(st.st_mode)))
    return True


def safe_open(path, flags, mode=0o644):
    exists = _regular_or_absent(path)
    if not exists and not flags & os.O_CREAT:
        return os.open(path, flags | os.O_NOFOLLOW)  # ENOENT / ENOTDIR as the fs says
    return os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK, mode)


def op_pwrite(path, off, data, extra_flags=0):
    fd = safe_open(path, os.O_WRONLY | extra_flags)
    try:
        return os.pwrite(fd, data, off)
    finally:
        os.close(fd)


def op_append(path, data):
    fd = safe_open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        n = os.write(fd, data)
        return n, os.lseek(fd, 0, os.SEEK_CUR)
    finally:
        os.close(fd)


def op_create(path, data, excl=False, trunc=True, mode=0o644):
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if excl else 0) | (os.O_TRUNC if trunc else 0)
    fd = safe_open(path, flags, mode)
    try:
        return os.write(fd, data) if data else 0
    finally:
        os.close(fd)


def op_truncate(path, size):
    fd = safe_open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, size)
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def op_fallocate(path, mode, off, length):
    fd = safe_open(path, os.O_RDWR)
    try:
        fallocate(fd, mode, off, length)
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def op_read(path):
    fd = safe_open(path, os.O_RDONLY)
    try:
        chunks = []
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            chunks.append(b)
        return sha256(b"".join(chunks))
    finally:
        os.close(fd)


def op_chmod(path, mode):
    if stat.S_ISLNK(os.lstat(path).st_mode):
        return "symlink: skipped"
    os.chmod(path, mode)
    return oct(stat.S_IMODE(os.lstat(path).st_mode))


def op_chown(path, uid, gid):
    os.lchown(path, uid, gid)
    st = os.lstat(path)
    return st.st_uid, st.st_gid, oct(stat.S_IMODE(st.st_mode))


def op_utime(path, atime, mtime):
    utimensat(path, atime, mtime, follow=False)
    return None


def op_setxattr(path, name, value, flags=0):
    os.setxattr(path, name, value, flags, follow_symlinks=False)


def op_removexattr(path, name):
    os.removexattr(path, name, follow_symlinks=False)


def op_listxattr(path):
    return sorted(os.listxattr(path, follow_symlinks=False))


def op_setfacl(path, *args):
    st = os.lstat(path)
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        return "not file/dir: skipped"
    r = subprocess.run(["setfacl", "-P", *args, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return r.returncode


def op_getfacl(path):
    st = os.lstat(path)
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        return "not file/dir: skipped"
    r = subprocess.run(["getfacl", "-P", "-n", "--omit-header", "-E", path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return r.returncode, r.stdout


def op_listdir(path):
    return sorted(os.listdir(path))


def op_lstat(path, t0):
    st = os.lstat(path)
    m = st.st_mtime_ns
    d = dict(type=F.TYPE_NAMES.get(stat.S_IFMT(st.st_mode)), mode=oct(stat.S_IMODE(st.st_mode)),
             uid=st.st_uid, gid=st.st_gid, mtime=m if m < t0 else "recent")
    if not stat.S_ISDIR(st.st_mode):
        d.update(size=st.st_size, nlink=st.st_nlink)
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        d["rdev"] = st.st_rdev
    if stat.S_ISLNK(st.st_mode):
        d["target"] = os.readlink(path)
    return d


def op_fsync(path):
    fd = safe_open(path, os.O_RDWR)
    try:
        os.fsync(fd)
        os.fdatasync(fd)
    finally:
        os.close(fd)


def op_fsyncdir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- differential engine

def _call(fn, root, user):
    def run():
        try:
            return ("ok", fn(root))
        except OSError as ex:
            return ("err", ename(ex.errno))
        except NotRegular as ex:
            return ("not-regular", str(ex))
    if user is None:
        return run()
    return as_user(user[0], user[1], run)


class Pair:
    """The same operations applied to a plain directory and to the mount."""

    def __init__(self, plain, mnt):
        plain, mnt = os.fsencode(str(plain)), os.fsencode(str(mnt))
        assert len(plain) == len(mnt), "roots must have equal length (ENAMETOOLONG limits)"
        self.plain, self.mnt = plain, mnt
        self.mismatches = []
        self.count = 0
        self.t0 = time.time_ns() - 20_000_000

    def do(self, desc, fn, user=None):
        """fn(root) -> comparable value; OSError becomes ('err', 'ENOENT')."""
        self.count += 1
        a = _call(fn, self.plain, user)
        b = _call(fn, self.mnt, user)
        if a != b:
            self.mismatches.append(f"#{self.count} {desc}: local fs -> {a!r}, mount -> {b!r}")
        return a

    def both(self, opname, *rels, args=(), user=None):
        """Shorthand: call op_<opname>(J(root, rel)..., *args) on both trees."""
        fn = globals()["op_" + opname]
        shown = [a if not isinstance(a, bytes) or len(a) < 40 else f"<{len(a)} bytes>" for a in args]
        who = f" as uid {user[0]}" if user else ""
        return self.do(f"{opname} {' '.join(F.short(x, 70) for x in rels)} {shown}{who}",
                       lambda r: fn(*[J(r, x) for x in rels], *args), user=user)

    def assert_no_mismatch(self):
        assert not self.mismatches, (f"{len(self.mismatches)} of {self.count} operations behaved "
                                     "differently on the mount:\n" + "\n".join(self.mismatches[:60]))


def now_window(t0, t1=None):
    t1 = (t1 or time.time_ns()) + 20_000_000
    return t0, t1


def compare(expected: dict, got: dict, window=None, include_root=True) -> list:
    """F.compare_trees, except that a mtime may differ when both trees set it to
    "now" during the sequence (both inside window).  Everything else, and every
    mtime outside the window, must be equal."""
    if window:
        lo, hi = window
        got = dict(got)
        for p, g in got.items():
            e = expected.get(p)
            if e and e["mtime_ns"] != g["mtime_ns"] and lo <= e["mtime_ns"] <= hi and lo <= g["mtime_ns"] <= hi:
                got[p] = dict(g, mtime_ns=e["mtime_ns"])
    return F.compare_trees(expected, got, include_root=include_root)


def snapshot(root, user=None):
    if isinstance(root, bytes):
        root = os.fsdecode(root)
    if user is None:
        return F.snapshot(root)
    return as_user(user[0], user[1], F.snapshot, root)


def assert_same_tree(expected, got, window=None, what="mount", include_root=True):
    diffs = compare(expected, got, window, include_root=include_root)
    assert not diffs, f"{what} differs from the local filesystem ({len(diffs)}):\n" + "\n".join(diffs[:80])


def tree_paths(root: bytes):
    """(files, dirs, others) relative paths of a tree, walked without following."""
    files, dirs, others = [], [b""], []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        rel = b"" if rel == b"." else rel
        for d in list(dirnames):
            p = os.path.join(rel, d) if rel else d
            if os.path.islink(os.path.join(dirpath, d)):
                others.append(p)
            else:
                dirs.append(p)
        for f in filenames:
            p = os.path.join(rel, f) if rel else f
            st = os.lstat(os.path.join(dirpath, f))
            (files if stat.S_ISREG(st.st_mode) else others).append(p)
    return sorted(files), sorted(dirs), sorted(others)


# ---------------------------------------------------------------- one overlay mount

class Ovl:
    """A writable mount of `template` with overlay directory `overlay`; remountable."""

    def __init__(self, runner, template, overlay, mountpoint=None, cache_dir=None, opts=None, prefix=(),
                 extra=()):
        self.runner = runner
        self.template = Path(template)
        self.overlay = Path(overlay)
        self.overlay.mkdir(exist_ok=True)
        if mountpoint is not None:
            Path(mountpoint).mkdir(exist_ok=True)
        self.m = mount_overlay(runner, template, overlay, mountpoint=mountpoint, cache_dir=cache_dir,
                               opts=opts, prefix=prefix, extra=extra)

    @property
    def root(self) -> bytes:
        return self.m.b()

    def p(self, rel=b"") -> bytes:
        if isinstance(rel, str):
            rel = os.fsencode(rel)
        return J(self.m.b(), rel)

    def remount(self):
        self.m = remount(self.runner, self.m)
        return self

    def unmount(self):
        unmount(self.m)


@pytest.fixture
def ovl(archive, domufs, tmp_path):
    """The fidelity template (pax, uncompressed) mounted writable over an empty overlay."""
    return Ovl(domufs, archive("pax-none"), tmp_path / "overlay")


# ---------------------------------------------------------------- more operations for sequences

def op_rename2(src, dst, flags=0):
    renameat2(src, dst, flags)


def op_link(src, dst):
    os.link(src, dst, follow_symlinks=False)


def op_symlink(path, target):
    os.symlink(target, path)


def op_mkdir(path, mode=0o755):
    os.mkdir(path, mode)
    return oct(stat.S_IMODE(os.lstat(path).st_mode)), os.lstat(path).st_gid


def op_mknod(path, mode, major=0, minor=0):
    os.mknod(path, mode, os.makedev(major, minor))


def op_unlink(path):
    os.unlink(path)


def op_rmdir(path):
    os.rmdir(path)


def op_rmtree(path):
    import shutil
    shutil.rmtree(path)


def op_mmap_write(path, off, data):
    import mmap
    fd = safe_open(path, os.O_RDWR)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            return "empty"
        off = max(0, min(off, size - len(data)))
        data = data[: size - off]
        mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        try:
            mm[off:off + len(data)] = data
            mm.flush()
        finally:
            mm.close()
        return off
    finally:
        os.close(fd)


def op_setcap(path, caps):
    if not stat.S_ISREG(os.lstat(path).st_mode):
        return "not a file: skipped"
    return subprocess.run(["setcap", caps, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE).returncode


def op_open_unlink_write(path, data):
    """Open for writing, unlink, write and read back through the handle."""
    fd = safe_open(path, os.O_RDWR)
    try:
        os.unlink(path)
        os.pwrite(fd, data, 0)
        return sha256(os.pread(fd, 1 << 24, 0)), os.fstat(fd).st_nlink
    finally:
        os.close(fd)


def run_seq(pair, seq):
    """seq: [(opname, (rel, ...), (arg, ...)[, user])]"""
    for step in seq:
        opname, rels, args = step[:3]
        user = step[3] if len(step) > 3 else None
        pair.both(opname, *rels, args=args, user=user)


def check_pair(pair, ovl, template_hash=None, user=None):
    """Compare the plain tree and the mount live, then after unmount + remount
    (and the remounted mount with the live one, exactly); all problems in one
    assertion: operations that behaved differently first, then tree diffs."""
    window = now_window(pair.t0)
    want = snapshot(pair.plain, user)
    live = snapshot(pair.mnt, user)
    d_live = compare(want, live, window)
    ovl.remount()
    again = snapshot(pair.mnt, user)
    d_again = compare(want, again, window)
    d_persist = F.compare_trees(live, again, include_root=True)
    problems = []
    if pair.mismatches:
        problems.append(f"{len(pair.mismatches)} of {pair.count} operations behaved differently on the mount:")
        problems += pair.mismatches[:60]
    if d_live:
        problems.append(f"live mount differs from the local filesystem ({len(d_live)}):")
        problems += d_live[:60]
    if d_again:
        problems.append(f"remounted mount differs from the local filesystem ({len(d_again)}):")
        problems += d_again[:60]
    if d_persist:
        problems.append(f"remount changed the mount ({len(d_persist)}):")
        problems += d_persist[:60]
    if template_hash is not None and file_hash(ovl.template) != template_hash:
        problems.append("the template tarball changed")
    assert not problems, "\n".join(problems)
