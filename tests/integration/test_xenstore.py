# SPDX-License-Identifier: LGPL-2.1-or-later
"""xenstore: `domufs wait` (the first-boot handshake) and commit's refusal of
the disk of a running domain.

No real xenstored runs without the Xen hypervisor, so the real libxenstore
client in domufs talks to tests/xenstored/xs-testserver.py, reached through
XENSTORED_PATH.  The store is populated with the real xenstore-utils tools
(xenstore-write, xenstore-rm), which also proves the server speaks the
protocol."""

import hashlib
import io
import os
import select
import shutil
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import assert_one_error_line, child_env, sanitizer_report

SERVER = Path(__file__).resolve().parent.parent / "xenstored" / "xs-testserver.py"
FIRSTBOOT = "data/domufs/firstboot"
TOOLS = ("xenstore-read", "xenstore-write", "xenstore-rm", "xenstore-ls",
         "xenstore-list", "xenstore-exists", "xenstore-watch")


class Xenstore:
    """A running test server and the xenstore-utils tools pointed at it."""

    def __init__(self, sock, proc, log):
        self.sock = sock
        self.proc = proc
        self.log = log
        self.env = {"XENSTORED_PATH": str(sock)}

    def tool(self, name, *args, check=True, timeout=10):
        r = subprocess.run([name, *map(str, args)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=timeout,
                           env=child_env(self.env))
        if check and r.returncode != 0:
            raise AssertionError(f"{name} {' '.join(map(str, args))}: exit "
                                 f"{r.returncode}\n{r.stdout}{r.stderr}")
        return r

    def put(self, *pairs):
        """xenstore-write PATH VALUE [PATH VALUE ...]"""
        flat = [str(x) for kv in pairs for x in kv]
        self.tool("xenstore-write", *flat)

    def read(self, path):
        return self.tool("xenstore-read", path).stdout.rstrip("\n")

    def rm(self, path):
        self.tool("xenstore-rm", path)

    def add_domain(self, name, domid):
        home = f"/local/domain/{domid}"
        self.put((f"{home}/name", name), (f"{home}/domid", domid),
                 (f"{home}/vm", f"/vm/{domid:08x}-0000-0000-0000-000000000000"),
                 (f"{home}/control/shutdown", ""), (f"{home}/data/x", ""))
        self.rm(f"{home}/data/x")

    def set_firstboot(self, domid, value):
        self.put((f"/local/domain/{domid}/{FIRSTBOOT}", value))

    def destroy_domain(self, domid):
        """What the toolstack does: the domain's home goes (@releaseDomain
        fires), then its backends."""
        self.rm(f"/local/domain/{domid}")
        for kind in ("vbd", "vbd3", "qdisk"):
            self.tool("xenstore-rm", f"/local/domain/0/backend/{kind}/{domid}", check=False)

    def add_disk(self, kind, domid, devid, params, physdev=None, physpath=None):
        """A backend as xl and the hotplug scripts write it, and its frontend."""
        be = f"/local/domain/0/backend/{kind}/{domid}/{devid}"
        fe = f"/local/domain/{domid}/device/vbd/{devid}"
        pairs = [(f"{be}/frontend", fe), (f"{be}/frontend-id", domid),
                 (f"{be}/online", 1), (f"{be}/removable", 0), (f"{be}/state", 4),
                 (f"{be}/dev", "xvda"), (f"{be}/type", "phy" if kind == "vbd" else kind),
                 (f"{be}/mode", "w"), (f"{be}/params", params),
                 (f"{fe}/backend", be), (f"{fe}/backend-id", 0), (f"{fe}/state", 4),
                 (f"{fe}/virtual-device", devid)]
        if physdev:
            pairs.append((f"{be}/physical-device", physdev))
        if physpath:
            pairs.append((f"{be}/physical-device-path", physpath))
        self.put(*pairs)


def _need_tools():
    missing = [t for t in TOOLS if not shutil.which(t)]
    if missing:
        pytest.skip(f"xenstore-utils is not installed (no {missing[0]}); see scripts/deps.sh")


@pytest.fixture
def xenstored():
    _need_tools()
    d = Path(tempfile.mkdtemp(prefix="domufs-xs-", dir="/tmp"))
    sock = d / "socket"
    log = d / "server.log"
    r, w = os.pipe()
    with open(log, "wb") as logf:
        proc = subprocess.Popen(["python3", str(SERVER), str(sock), "--ready-fd", str(w),
                                 "--verbose"], stdin=subprocess.DEVNULL,
                                stdout=logf, stderr=logf, pass_fds=(w,))
    os.close(w)
    try:
        ready, _, _ = select.select([r], [], [], 20)
        msg = os.read(r, 16) if ready else b""
    finally:
        os.close(r)
    if msg != b"ready\n":
        proc.kill()
        proc.wait()
        pytest.fail(f"xs-testserver did not start: {log.read_text()}")
    xs = Xenstore(sock, proc, log)
    yield xs
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    text = log.read_text(errors="replace")
    shutil.rmtree(d, ignore_errors=True)
    assert "internal error" not in text, f"xs-testserver internal error:\n{text}"


def start_wait(domufs, xs_env, *args):
    """`domufs wait ...` in the background: (Popen, start time)."""
    p = subprocess.Popen([domufs.binary, "wait", *map(str, args)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=child_env(xs_env))
    return p, time.monotonic()


def finish(p, t0, timeout=30):
    out, err = p.communicate(timeout=timeout)
    marker = sanitizer_report(err)
    assert not marker, f"sanitizer output ({marker}) from domufs wait:\n{err}"
    return p.returncode, out, err, time.monotonic() - t0


def one_line(err):
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1, f"expected one stderr line: {err!r}"
    assert lines[0].startswith("domufs: "), lines[0]
    return lines[0]


# ------------------------------------------------------------- the test server

def test_server_speaks_xenstore_protocol(xenstored):
    xs = xenstored
    xs.add_domain("banquo", 3)
    xs.put(("/test/a/b", "1"), ("/test/a/c", "two words"), ("relative/key", "r"))
    assert xs.read("/test/a/c") == "two words"
    assert xs.read("/local/domain/0/relative/key") == "r"      # relative: dom0's home
    assert xs.tool("xenstore-list", "/test/a").stdout.split() == ["b", "c"]
    assert xs.tool("xenstore-exists", "/test/nope", check=False).returncode == 1
    ls = xs.tool("xenstore-ls", "/local/domain/3").stdout
    assert 'name = "banquo"' in ls, ls
    assert "(n0)" in xs.tool("xenstore-ls", "-p", "/test").stdout
    r = xs.tool("xenstore-read", "/test/nope", check=False)
    assert r.returncode != 0 and "couldn't read path" in r.stderr
    xs.rm("/test/a")
    assert xs.tool("xenstore-exists", "/test/a/b", check=False).returncode == 1

    # watches: the initial event, then one per change below the path
    w = subprocess.Popen(["xenstore-watch", "-n", "3", "/test/w"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=child_env(xs.env))
    time.sleep(0.5)
    xs.put(("/test/w/x", "1"))
    xs.put(("/test/other", "1"))                  # not below /test/w: no event
    xs.rm("/test")                                # removes /test/w: an event
    out, err = w.communicate(timeout=10)
    assert w.returncode == 0, err
    assert out.split() == ["/test/w", "/test/w/x", "/test/w"], out


def test_server_handles_several_clients(xenstored):
    xs = xenstored
    xs.add_domain("banquo", 3)
    watchers = [subprocess.Popen(["xenstore-watch", "-n", "2", "@releaseDomain"],
                                 stdout=subprocess.PIPE, text=True, env=child_env(xs.env))
                for _ in range(3)]
    time.sleep(0.5)
    xs.destroy_domain(3)
    for w in watchers:
        out, _ = w.communicate(timeout=10)
        assert out.split() == ["@releaseDomain", "@releaseDomain"], out


# --------------------------------------------------------------- domufs wait

def test_wait_done_already(domufs, xenstored):
    xenstored.add_domain("banquo", 3)
    xenstored.set_firstboot(3, "done")
    t0 = time.monotonic()
    res = domufs.run("wait", "banquo", env=xenstored.env)
    assert res.returncode == 0, str(res)
    assert res.stdout == "banquo: first boot done\n"
    assert res.stderr == ""
    assert time.monotonic() - t0 < 5


def test_wait_quiet(domufs, xenstored):
    xenstored.add_domain("banquo", 3)
    xenstored.set_firstboot(3, "done")
    res = domufs.run("wait", "-q", "banquo", env=xenstored.env)
    assert res.returncode == 0 and res.stdout == "" and res.stderr == "", str(res)


def test_wait_until_done(domufs, xenstored):
    xenstored.add_domain("banquo", 3)
    p, t0 = start_wait(domufs, xenstored.env, "--timeout", "30", "banquo")
    time.sleep(1)
    assert p.poll() is None, "wait returned before the key was written"
    xenstored.set_firstboot(3, "running")          # not a result: keep waiting
    time.sleep(0.3)
    assert p.poll() is None, "wait took an intermediate value as the result"
    xenstored.set_firstboot(3, "done")
    rc, out, err, took = finish(p, t0)
    assert rc == 0, err
    assert out == "banquo: first boot done\n"
    assert 1.0 <= took < 6, took


def test_wait_without_time_limit(domufs, xenstored):
    xenstored.add_domain("banquo", 3)
    p, t0 = start_wait(domufs, xenstored.env, "--timeout", "0", "banquo")
    time.sleep(1.5)
    assert p.poll() is None
    xenstored.set_firstboot(3, "done")
    rc, out, err, _ = finish(p, t0)
    assert rc == 0, err


def test_wait_failed_reports_the_reason(domufs, xenstored):
    xenstored.add_domain("banquo", 3)
    xenstored.set_firstboot(3, "failed: no ssh-keygen")
    res = domufs.run("wait", "banquo", env=xenstored.env)
    assert res.returncode == 1, str(res)
    line = assert_one_error_line(res)
    assert line == "domufs: banquo: first boot failed: no ssh-keygen", line
    assert res.stdout == ""


def test_wait_failure_while_waiting(domufs, xenstored):
    xenstored.add_domain("banquo", 3)
    p, t0 = start_wait(domufs, xenstored.env, "banquo")
    time.sleep(0.5)
    xenstored.set_firstboot(3, "failed: cloud-init exited 1")
    rc, out, err, took = finish(p, t0)
    assert rc == 1
    assert one_line(err) == "domufs: banquo: first boot failed: cloud-init exited 1"
    assert took < 5


def test_wait_times_out(domufs, xenstored):
    xenstored.add_domain("banquo", 3)
    t0 = time.monotonic()
    res = domufs.run("wait", "--timeout", "2", "banquo", env=xenstored.env)
    took = time.monotonic() - t0
    assert res.returncode == 1, str(res)
    assert_one_error_line(res, "banquo", "timed out after 2 s", FIRSTBOOT)
    assert 1.9 <= took < 4.5, took


def test_wait_unknown_domain(domufs, xenstored):
    xenstored.add_domain("banquo", 3)
    res = domufs.run("wait", "--timeout", "30", "fleance", env=xenstored.env)
    assert res.returncode == 1, str(res)
    assert_one_error_line(res, "fleance", "no running domain")


def test_wait_domain_destroyed_while_waiting(domufs, xenstored):
    xenstored.add_domain("banquo", 3)
    p, t0 = start_wait(domufs, xenstored.env, "--timeout", "60", "banquo")
    time.sleep(1)
    assert p.poll() is None
    xenstored.destroy_domain(3)
    rc, out, err, took = finish(p, t0)
    assert rc == 1
    line = one_line(err)
    assert "banquo" in line and "went away" in line, line
    assert took < 6, took


def test_wait_picks_the_domain_by_name(domufs, xenstored):
    xs = xenstored
    xs.add_domain("duncan", 1)
    xs.add_domain("macbeth", 4)
    xs.add_domain("banquo", 3)
    xs.add_domain("banquo-2", 7)
    xs.set_firstboot(1, "failed: duncan's")
    xs.set_firstboot(4, "failed: macbeth's")
    xs.set_firstboot(7, "failed: banquo-2's")
    p, t0 = start_wait(domufs, xs.env, "--timeout", "30", "banquo")
    time.sleep(0.5)
    xs.set_firstboot(4, "done")                    # another domain: no effect
    time.sleep(0.5)
    assert p.poll() is None, "wait took another domain's key"
    xs.set_firstboot(3, "done")
    rc, out, err, _ = finish(p, t0)
    assert rc == 0 and out == "banquo: first boot done\n", err
    res = domufs.run("wait", "duncan", env=xs.env)
    assert res.returncode == 1
    assert_one_error_line(res, "duncan: first boot failed: duncan's")


def test_wait_xenstore_goes_away(domufs, xenstored):
    xenstored.add_domain("banquo", 3)
    p, t0 = start_wait(domufs, xenstored.env, "--timeout", "60", "banquo")
    time.sleep(1)
    xenstored.proc.kill()
    rc, out, err, took = finish(p, t0)
    assert rc == 1
    line = one_line(err)
    assert "went away" in line, line
    assert took < 6, took


def test_wait_no_xenstore(domufs, tmp_path):
    t0 = time.monotonic()
    res = domufs.run("wait", "banquo", env={"XENSTORED_PATH": str(tmp_path / "no-such-socket")})
    assert res.returncode == 1, str(res)
    assert_one_error_line(res, "banquo", "no xenstore", "is this a Xen dom0?")
    assert time.monotonic() - t0 < 2


def test_wait_nothing_listening(domufs, tmp_path):
    """A socket file that nobody listens on (a dead xenstored's)."""
    path = tmp_path / "dead-socket"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()
    t0 = time.monotonic()
    res = domufs.run("wait", "banquo", env={"XENSTORED_PATH": str(path)})
    assert res.returncode == 1, str(res)
    assert_one_error_line(res, "no xenstore", "is this a Xen dom0?")
    assert time.monotonic() - t0 < 2


def test_daemon_hangs_up_at_first_request(domufs, image, tmp_path):
    """Like the stock xenstored on a machine without Xen: no xenstore, so
    wait says so and commit proceeds."""
    tpl, img = image
    path = tmp_path / "hup-socket"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.listen(8)
    stop = threading.Event()

    def serve():
        s.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = s.accept()
            except OSError:
                continue
            c.recv(64)
            c.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        env = {"XENSTORED_PATH": str(path)}
        res = domufs.run("wait", "banquo", env=env)
        assert res.returncode == 1, str(res)
        assert_one_error_line(res, "banquo", "no xenstore", "is this a Xen dom0?")
        res = commit(domufs, tpl, img, env, "--force")
        assert res.returncode == 0, str(res)
        assert res.stderr == ""
    finally:
        stop.set()
        t.join()
        s.close()


def test_wait_usage_errors(domufs):
    for args in ([], ["a", "b"], ["--timeout", "soon", "a"], ["--timeout", "-1", "a"],
                 ["--timeout", "nan", "a"], ["--bogus", "a"], [""]):
        res = domufs.run("wait", *args, env={"XENSTORED_PATH": "/nonexistent"})
        assert res.returncode == 2, f"{args}: {res}"
        assert len(res.stderr_lines()) == 1, str(res)
    res = domufs.run("wait", "--help")
    assert res.returncode == 0 and "--timeout" in res.stdout and "0 waits" in res.stdout


# ------------------------------------------------------- commit: a domain's disk

def small_template(d):
    path = d / "small.tar"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        for name, data in (("etc", None), ("etc/hostname", b"small\n")):
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            if data is None:
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                t.addfile(ti)
            else:
                ti.size, ti.mode = len(data), 0o644
                t.addfile(ti, io.BytesIO(data))
    return path


def fingerprint(path):
    st = os.stat(path)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return (h.hexdigest(), st.st_ino, st.st_mtime_ns, st.st_size)


def commit(domufs, tpl, target, env, *opts):
    return domufs.run("commit", "--cache-dir", domufs.cache_dir(), *opts, tpl, target, env=env)


@pytest.fixture
def image(domufs, tmp_path):
    """A committed image file (no xenstore involved) and the template."""
    tpl = small_template(tmp_path)
    img = tmp_path / "disks" / "banquo.img"
    img.parent.mkdir()
    res = commit(domufs, tpl, img, {"XENSTORED_PATH": "/nonexistent"}, "--size", "8M")
    assert res.returncode == 0, str(res)
    return tpl, img


def test_commit_refuses_image_attached_as_qdisk(domufs, xenstored, image, tmp_path):
    tpl, img = image
    xenstored.add_domain("banquo", 3)
    xenstored.add_disk("qdisk", 3, 51712, f"aio:{img}")
    before = fingerprint(img)
    spellings = [img,                                               # as attached
                 tmp_path / "disks" / ".." / "disks" / "banquo.img",  # another spelling
                 tmp_path / "link.img"]                            # a symlink to it
    (tmp_path / "link.img").symlink_to(img)
    for target in spellings:
        res = commit(domufs, tpl, target, xenstored.env, "--force")
        assert res.returncode == 1, f"{target}: {res}"
        line = assert_one_error_line(res, target, "banquo", "(id 3, qdisk 51712)",
                                     "refusing to write")
        assert line == (f"domufs: {target}: attached to running domain banquo "
                        f"(id 3, qdisk 51712); refusing to write"), line
        assert fingerprint(img) == before, "a refused commit changed the image"
    assert not [x for x in img.parent.iterdir() if ".domufs-" in x.name]


def test_commit_refuses_image_attached_through_a_symlink(domufs, xenstored, image, tmp_path):
    """The backend names a symlink (or a hardlink); the target is the file."""
    tpl, img = image
    (tmp_path / "alias.img").symlink_to(img)
    os.link(img, tmp_path / "hard.img")
    xenstored.add_domain("banquo", 3)
    xenstored.add_disk("qdisk", 3, 51728, f"raw:{tmp_path / 'alias.img'}")
    xenstored.add_domain("macbeth", 4)
    xenstored.add_disk("vbd3", 4, 51712, f"tap:aio:{tmp_path / 'hard.img'}")
    before = fingerprint(img)
    res = commit(domufs, tpl, img, xenstored.env, "--force")
    assert res.returncode == 1, str(res)
    assert_one_error_line(res, img, "macbeth", "id 4", "vbd3 51712")
    xenstored.destroy_domain(4)
    res = commit(domufs, tpl, img, xenstored.env, "--force")
    assert res.returncode == 1, str(res)
    assert_one_error_line(res, img, "banquo", "id 3", "qdisk 51728")
    assert fingerprint(img) == before


def test_commit_proceeds_when_the_domain_is_gone(domufs, xenstored, image):
    tpl, img = image
    xenstored.add_domain("banquo", 3)
    # a stale backend of domain 7, which no longer exists
    xenstored.add_disk("qdisk", 7, 51712, f"aio:{img}")
    xenstored.rm("/local/domain/7")
    # and a running domain with another disk
    xenstored.add_disk("qdisk", 3, 51712, "aio:/var/lib/xen/images/other.img")
    before = fingerprint(img)
    res = commit(domufs, tpl, img, xenstored.env, "--force")
    assert res.returncode == 0, str(res)
    assert fingerprint(img) != before


def test_commit_refusal_ends_with_the_domain(domufs, xenstored, image):
    tpl, img = image
    xenstored.add_domain("banquo", 3)
    xenstored.add_disk("qdisk", 3, 51712, f"aio:{img}")
    res = commit(domufs, tpl, img, xenstored.env, "--force")
    assert res.returncode == 1
    xenstored.destroy_domain(3)
    res = commit(domufs, tpl, img, xenstored.env, "--force")
    assert res.returncode == 0, str(res)


def test_commit_proceeds_without_xenstore(domufs, image, tmp_path):
    tpl, img = image
    t0 = time.monotonic()
    res = commit(domufs, tpl, img, {"XENSTORED_PATH": str(tmp_path / "none")}, "--force")
    assert res.returncode == 0, str(res)
    assert res.stderr == "", str(res)
    assert time.monotonic() - t0 < 30


def test_tar_export_refuses_an_attached_disk(domufs, xenstored, image, tmp_path):
    """--format replaces OUT by a new file: the running domain would keep its
    old disk until it restarts, then boot a tarball. Refused, as for an image."""
    tpl, img = image
    xenstored.add_domain("banquo", 3)
    out = tmp_path / "out.tar"
    xenstored.add_disk("qdisk", 3, 51712, f"aio:{out}")
    out.write_bytes(b"")
    res = commit(domufs, tpl, out, xenstored.env, "--format", "tar")
    assert res.returncode == 1, str(res)
    assert_one_error_line(res, out, "attached to running domain banquo")
    assert out.read_bytes() == b""
    res = commit(domufs, tpl, tmp_path / "other.tar", xenstored.env, "--format", "tar")
    assert res.returncode == 0, str(res)


def test_commit_does_not_answer(domufs, image, tmp_path):
    """A xenstore that accepts connections and never answers: commit refuses
    (it cannot tell), wait gives up; neither hangs."""
    tpl, img = image
    path = tmp_path / "mute-socket"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.listen(8)
    try:
        env = {"XENSTORED_PATH": str(path)}
        before = fingerprint(img)
        t0 = time.monotonic()
        res = commit(domufs, tpl, img, env, "--force")
        assert res.returncode == 1, str(res)
        assert_one_error_line(res, img, "does not answer", "refusing to write")
        assert time.monotonic() - t0 < 20
        assert fingerprint(img) == before
        t0 = time.monotonic()
        res = domufs.run("wait", "banquo", env=env)
        assert res.returncode == 1, str(res)
        assert_one_error_line(res, "banquo", "does not answer")
        assert time.monotonic() - t0 < 20
    finally:
        s.close()


def test_xenstore_that_stops_answering_midway(domufs, xenstored, image):
    """Every request is bounded, not only the first: commit refuses, wait
    gives up at its timeout; neither hangs, and the image is untouched."""
    tpl, img = image
    xenstored.add_domain("banquo", 3)
    xenstored.add_disk("vbd", 3, 51712, str(img))
    before = fingerprint(img)
    # the first request (the probe) answered, then silence
    xenstored.tool("xenstore-write", "/tool/xs-testserver/mute-after", "1")
    t0 = time.monotonic()
    res = commit(domufs, tpl, img, xenstored.env, "--force")
    assert res.returncode == 1, str(res)
    assert_one_error_line(res, img, "stopped answering", "refusing to write")
    assert time.monotonic() - t0 < 30
    assert fingerprint(img) == before


def test_wait_gives_up_at_its_timeout_when_xenstore_stops_answering(domufs, xenstored):
    xenstored.add_domain("banquo", 3)
    xenstored.tool("xenstore-write", "/tool/xs-testserver/mute-after", "1")
    t0 = time.monotonic()
    res = domufs.run("wait", "--timeout", "2", "banquo", env=xenstored.env, timeout=60)
    took = time.monotonic() - t0
    assert res.returncode == 1, str(res)
    assert_one_error_line(res, "banquo", "timed out after 2 s", "stopped answering")
    assert took < 10, took


def test_wait_failure_reason_stays_one_line(domufs, xenstored):
    """The guest writes the reason: no second line, no escape sequence."""
    xenstored.add_domain("banquo", 3)
    xenstored.set_firstboot(3, "failed: a\nbanquo: first boot done\x1b[31m")
    res = domufs.run("wait", "--timeout", "5", "banquo", env=xenstored.env)
    assert res.returncode == 1, str(res)
    line = assert_one_error_line(res, "banquo: first boot failed: a\\nbanquo")
    assert "\x1b" not in line and "\\x1b[31m" in line, line


# ------------------------------------------------ commit: block devices (loop)

@pytest.fixture
def loopdev(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("loop devices need root")
    backing = tmp_path / "lv"
    with open(backing, "wb") as f:
        f.truncate(32 << 20)
    r = subprocess.run(["losetup", "-f", "--show", str(backing)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        pytest.skip(f"no loop device: {r.stderr.strip()}")
    dev = r.stdout.strip()
    yield dev, backing
    subprocess.run(["losetup", "-d", dev], stderr=subprocess.DEVNULL)


def head_of(dev, n=2 << 20):
    with open(dev, "rb") as f:
        return hashlib.sha256(f.read(n)).hexdigest()


def physdev(dev):
    rdev = os.stat(dev).st_rdev
    return f"{os.major(rdev):x}:{os.minor(rdev):x}"


def test_commit_refuses_loop_device_attached_as_vbd(domufs, xenstored, loopdev, tmp_path):
    dev, backing = loopdev
    tpl = small_template(tmp_path)
    xenstored.add_domain("duncan", 1)
    xenstored.add_domain("banquo", 3)
    # as the block hotplug script leaves it: params is what xl was given
    # (an LV's name), physical-device the device number blkback opened
    xenstored.add_disk("vbd", 3, 51712, "/dev/scotland/banquo", physdev=physdev(dev))
    before = head_of(dev)
    res = commit(domufs, tpl, dev, xenstored.env)
    assert res.returncode == 1, str(res)
    line = assert_one_error_line(res)
    assert line == (f"domufs: {dev}: attached to running domain banquo (id 3, vbd 51712); "
                    "refusing to write"), line
    assert head_of(dev) == before
    # the same device named by physical-device-path only
    xenstored.destroy_domain(3)
    xenstored.add_domain("macbeth", 4)
    xenstored.add_disk("vbd", 4, 51728, "phy:/dev/scotland/macbeth", physpath=dev)
    res = commit(domufs, tpl, dev, xenstored.env)
    assert res.returncode == 1, str(res)
    assert_one_error_line(res, dev, "macbeth", "(id 4, vbd 51728)")
    assert head_of(dev) == before
    # gone: the commit proceeds
    xenstored.destroy_domain(4)
    res = commit(domufs, tpl, dev, xenstored.env)
    assert res.returncode == 0, str(res)
    assert head_of(dev) != before


def test_commit_refuses_file_behind_an_attached_loop_device(domufs, xenstored, loopdev,
                                                            tmp_path):
    """phy: on a loop device over an image file: the file is in use too."""
    dev, backing = loopdev
    tpl = small_template(tmp_path)
    xenstored.add_domain("banquo", 3)
    xenstored.add_disk("vbd", 3, 51712, dev, physdev=physdev(dev))
    before = fingerprint(backing)
    res = commit(domufs, tpl, backing, xenstored.env, "--force")
    assert res.returncode == 1, str(res)
    assert_one_error_line(res, backing, "banquo", "(id 3, vbd 51712)")
    assert fingerprint(backing) == before
