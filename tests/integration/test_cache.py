# SPDX-License-Identifier: LGPL-2.1-or-later
"""The template cache under attack: builds interrupted by signals or killed,
entries damaged or replaced by other kinds of files or by another user's, a
private template's contents, a template rewritten within one second on a file system of whole
seconds, or while it is indexed, and a missing home directory."""

import io
import os
import signal
import stat
import subprocess
import tarfile
import time

import pytest

from conftest import assert_one_error_line, child_env, sanitizer_report

# big enough that a build takes a while (its data is written to the cache
# file), small to make: one member of zeros, gzip -1
BIG_MEMBER = 256 << 20


@pytest.fixture(scope="module")
def big_template(tmp_path_factory):
    d = tmp_path_factory.mktemp("big")
    tpl = d / "big.tar.gz"
    with open(tpl, "wb") as out:
        gz = subprocess.Popen(["gzip", "-1"], stdin=subprocess.PIPE, stdout=out)
        with tarfile.open(fileobj=gz.stdin, mode="w|", format=tarfile.PAX_FORMAT) as t:
            ti = tarfile.TarInfo("zeros")
            ti.size = BIG_MEMBER
            t.addfile(ti, io.BytesIO(bytes(BIG_MEMBER)))
        gz.stdin.close()
        assert gz.wait() == 0
    return tpl


def small_template(path, files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o644
            ti.mtime = 1700000000
            t.addfile(ti, io.BytesIO(data))
    path.write_bytes(buf.getvalue())
    return path


def temporaries(cache):
    return sorted(p.name for p in cache.iterdir() if p.name.endswith(".tmp"))


def start_index(domufs, tpl, cache):
    argv = [domufs.binary, "index", "--cache-dir", str(cache), str(tpl)]
    # a session of its own: SIGINT is not ignored as in a background job
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=child_env(), start_new_session=True)


def wait_for_data(cache, proc, timeout=60):
    """Waits until the build of @proc has written member data to the cache."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for p in cache.glob(".*.data.*.tmp"):
            try:
                if p.stat().st_size > (1 << 20):
                    return
            except FileNotFoundError:
                pass
        assert proc.poll() is None, "the build ended before it could be interrupted"
        time.sleep(0.005)
    pytest.fail("no cache data written in time")


def index_interrupted(domufs, tpl, cache, act):
    """Runs `index`, calls @act(proc) once the build is under way; the exit
    status and stderr."""
    p = start_index(domufs, tpl, cache)
    wait_for_data(cache, p)
    act(p)
    _, err = p.communicate(timeout=60)
    err = err.decode()
    assert not sanitizer_report(err), err
    return p.returncode, err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=["INT", "TERM", "HUP"])
def test_interrupted_index_removes_what_it_wrote(sig, big_template, domufs):
    cache = domufs.cache_dir()
    rc, err = index_interrupted(domufs, big_template, cache, lambda p: p.send_signal(sig))
    # the signal takes its course once the build has cleaned up
    assert rc == -sig, (rc, err)
    assert "indexing interrupted" in err and str(big_template) in err, err
    assert sorted(os.listdir(cache)) == [], sorted(os.listdir(cache))


def test_killed_build_leftovers_are_removed_by_the_next(big_template, domufs, tmp_path):
    cache = domufs.cache_dir()
    index_interrupted(domufs, big_template, cache, lambda p: p.kill())
    assert temporaries(cache), "SIGKILL leaves its files; this test needs some"
    # an entry of another template, whose lock nobody holds: swept too
    other = small_template(tmp_path / "other.tar", {"a": b"a\n"})
    res = domufs.index(other, cache)
    assert res.returncode == 0, str(res)
    assert temporaries(cache) == []


def test_second_builder_waits_and_says_so(big_template, domufs):
    cache = domufs.cache_dir()
    first = start_index(domufs, big_template, cache)
    wait_for_data(cache, first)
    second = start_index(domufs, big_template, cache)
    outs = [p.communicate(timeout=120) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outs
    assert b"indexed" in outs[0][0] and b"verified" in outs[1][0], outs
    warn = outs[1][1].decode()
    assert "waiting for another process building its index" in warn, warn
    assert str(cache) in warn, warn


def test_template_changed_while_indexed(big_template, domufs, tmp_path):
    tpl = tmp_path / "t.tar.gz"
    tpl.write_bytes(big_template.read_bytes())
    cache = domufs.cache_dir()
    rc, err = index_interrupted(domufs, tpl, cache, lambda p: os.utime(tpl))
    assert rc == 1, err
    assert "changed while it was being indexed" in err and str(tpl) in err, err
    assert sorted(os.listdir(cache)) == [], sorted(os.listdir(cache))
    res = domufs.index(tpl, cache)
    assert res.returncode == 0 and "indexed" in res.stdout, str(res)


def gz_template(path, files):
    """small_template() gzipped (so the entry has a data file) at @path."""
    src = small_template(path.with_name(path.name + ".src"), files)
    path.write_bytes(subprocess.run(["gzip", "-c", str(src)], stdout=subprocess.PIPE,
                                    check=True).stdout)
    src.unlink()
    return path


@pytest.mark.parametrize("where", ["public", "private"])
def test_cache_files_readable_only_as_the_template_is(where, domufs, tmp_path, public_dir):
    """Others may read an entry only when they can read the template: it is
    readable by them and they can reach it (a 0644 template in a 0700
    directory, such as mmdebstrap's output in /root, is private)."""
    d = public_dir / "tpl"
    d.mkdir(mode=0o755 if where == "public" else 0o700)
    os.chmod(d, 0o755 if where == "public" else 0o700)
    gz = gz_template(d / "t.tar.gz", {"etc/shadow": b"root:$6$secret:\n"})
    cache = domufs.cache_dir()
    for mode, other_read in ((0o600, False), (0o644, where == "public")):
        os.chmod(gz, mode)
        res = domufs.index(gz, cache)
        assert res.returncode == 0, str(res)
        files = [p for p in cache.iterdir() if not p.name.endswith(".lock")]
        assert {p.suffix for p in files} == {".idx", ".data", ".src"}, files
        for p in files:
            m = p.stat().st_mode
            assert bool(m & stat.S_IROTH) == other_read, (oct(mode), p.name, oct(m))
            assert not m & (stat.S_IWGRP | stat.S_IWOTH), (p.name, oct(m))


def test_entry_of_an_older_rule_loses_read_access(domufs, tmp_path):
    """An entry made world-readable by an older domufs (the rule looked at the
    template's mode alone) is made private when it is used."""
    os.chmod(tmp_path, 0o700)
    gz = gz_template(tmp_path / "t.tar.gz", {"etc/shadow": b"root:$6$secret:\n"})
    os.chmod(gz, 0o644)
    cache = domufs.cache_dir()
    assert domufs.index(gz, cache).returncode == 0
    for p in cache.glob("*.[id][da][xt]*"):
        os.chmod(p, 0o644)
    res = domufs.index(gz, cache)
    assert res.returncode == 0 and "verified" in res.stdout, str(res)
    for suffix in (".idx", ".data"):
        (p,) = cache.glob("*" + suffix)
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, (p.name, oct(p.stat().st_mode))


def test_cache_directories_made_private(domufs, tmp_path, public_dir):
    """The directories domufs makes for a cache are 0700 (XDG); those that
    were there stay as they were."""
    tpl = small_template(tmp_path / "t.tar", {"f": b"x"})
    os.chmod(public_dir, 0o755)
    cache = public_dir / "a" / "b" / "cache"
    res = domufs.index(tpl, cache)
    assert res.returncode == 0, str(res)
    for d in (public_dir / "a", public_dir / "a" / "b", cache):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, (d, oct(d.stat().st_mode))
    assert stat.S_IMODE(public_dir.stat().st_mode) == 0o755
    # the default one, under $XDG_CACHE_HOME, as an ordinary user
    uid, gid = 54322, 54322
    xdg = public_dir / "xdg"
    xdg.mkdir()
    os.chown(xdg, uid, gid)
    os.chmod(tpl.parent, 0o755)
    os.chmod(tpl, 0o644)
    pub_tpl = public_dir / "t.tar"
    pub_tpl.write_bytes(tpl.read_bytes())
    os.chmod(pub_tpl, 0o644)
    prefix = ["env", "-i", "PATH=/usr/bin:/bin", f"XDG_CACHE_HOME={xdg}", "setpriv",
              f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]
    res = domufs.run("index", pub_tpl, prefix=prefix)
    assert res.returncode == 0, str(res)
    st = (xdg / "domufs").stat()
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == uid, oct(st.st_mode)


@pytest.fixture
def scratch_user():
    """A user made for the test (useradd) and removed after it."""
    import pwd
    name = f"domufs-c{os.getpid() % 100000}"
    r = subprocess.run(["useradd", "-M", "-U", "-s", "/usr/sbin/nologin", name],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        pytest.skip(f"useradd failed: {r.stderr.strip()}")
    try:
        pw = pwd.getpwnam(name)
        yield pw.pw_uid, pw.pw_gid
    finally:
        subprocess.run(["userdel", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def forge(path, old, new):
    """Rewrites @old in @path as @new (same length: the index still matches)."""
    raw = path.read_bytes()
    assert old in raw and len(old) == len(new)
    path.write_bytes(raw.replace(old, new))


def shadow_of(domufs, cache, tpl, out):
    res = domufs.run("commit", "--cache-dir", cache, "--format", "tar", tpl, out)
    if res.returncode != 0:
        return res, None
    with tarfile.open(out) as t:
        return res, t.extractfile("./etc/shadow").read()


def test_cache_of_another_user_is_not_trusted(scratch_user, domufs, tmp_path, public_dir):
    """A cache directory owned by another user, or writable by others without
    the sticky bit, is refused; in one that is not, an entry file of another
    user is built again: root's commit never takes the user's content."""
    from overlay_helpers import as_user
    uid, gid = scratch_user
    os.chmod(public_dir, 0o755)
    gz = gz_template(tmp_path / "t.tar.gz", {"etc/shadow": b"root:$6$secret:\n"})
    cache = public_dir / "cache"
    assert domufs.index(gz, cache).returncode == 0
    (data,) = cache.glob("*.data")
    assert b"$6$secret" in data.read_bytes()
    # the user's own directory, where the user forged the data file
    os.chmod(cache, 0o755)
    for p in [cache] + list(cache.iterdir()):
        os.chown(p, uid, gid)
    os.chmod(data, 0o644)
    as_user(uid, gid, forge, data, b"$6$secret", b"$6$forged")
    res, _ = shadow_of(domufs, cache, gz, tmp_path / "a.tar")
    assert res.returncode == 1, str(res)
    line = assert_one_error_line(res, cache)
    assert f"owned by uid {uid}" in line, line
    assert not (tmp_path / "a.tar").exists()
    # root's directory, but one others may write (no sticky bit): refused too
    os.chown(cache, 0, 0)
    for mode, who in ((0o775, "its group"), (0o757, "others")):
        os.chmod(cache, mode)
        res, _ = shadow_of(domufs, cache, gz, tmp_path / "b.tar")
        assert res.returncode == 1, str(res)
        line = assert_one_error_line(res, cache)
        assert f"writable by {who}" in line and "sticky" in line, line
    # sticky: the user's files (the forged entry and a lock) are stale
    os.chmod(cache, 0o1777)
    (lock,) = cache.glob("*.lock")
    res, shadow = shadow_of(domufs, cache, gz, tmp_path / "c.tar")
    assert res.returncode == 0, str(res)
    assert shadow == b"root:$6$secret:\n", shadow
    for p in cache.iterdir():
        assert p.stat().st_uid == 0, (p.name, p.stat().st_uid)
    assert b"$6$secret" in data.read_bytes()
    # the user's index alone is not trusted either
    idx = next(cache.glob("*.idx"))
    os.chown(idx, uid, gid)
    res = domufs.index(gz, cache)
    assert res.returncode == 0 and "indexed" in res.stdout, str(res)
    assert idx.stat().st_uid == 0


def test_mount_rebuilds_a_damaged_index(domufs, tmp_path):
    tpl = small_template(tmp_path / "t.tar", {"etc/hostname": b"tpl\n"})
    cache = domufs.cache_dir()
    assert domufs.index(tpl, cache).returncode == 0
    (idx,) = cache.glob("*.idx")
    raw = bytearray(idx.read_bytes())
    at = raw.index(b"hostname")
    raw[at] = ord("X")
    idx.write_bytes(raw)
    m = domufs.mount(tpl, cache_dir=cache)
    assert os.listdir(m.b(b"etc")) == [b"hostname"]
    assert not m.unmount()
    out = tmp_path / "out.tar"
    res = domufs.run("commit", "--cache-dir", cache, "--format", "tar", tpl, out)
    assert res.returncode == 0, str(res)
    names = tarfile.open(out).getnames()
    assert "./etc/hostname" in names and "./etc/Xostname" not in names, names


@pytest.mark.parametrize("kind", ["fifo", "symlink", "directory"])
@pytest.mark.parametrize("which", ["idx", "data"])
def test_cache_file_of_another_kind(kind, which, domufs, tmp_path):
    tpl = small_template(tmp_path / "t.tar.src", {"f": b"content\n"})
    gz = tmp_path / "t.tar.gz"
    gz.write_bytes(subprocess.run(["gzip", "-c", str(tpl)], stdout=subprocess.PIPE,
                                  check=True).stdout)
    cache = domufs.cache_dir()
    assert domufs.index(gz, cache).returncode == 0
    (idx,) = cache.glob("*.idx")
    victim = idx.with_suffix("." + which)
    victim.unlink()
    if kind == "fifo":
        os.mkfifo(victim)
    elif kind == "symlink":
        victim.symlink_to(tmp_path / "t.tar.src")
    else:
        victim.mkdir()
    res = domufs.index(gz, cache, timeout=30)
    if kind == "directory":
        # not domufs's to remove: named, not replaced
        assert res.returncode == 1, str(res)
        assert_one_error_line(res, victim)
        return
    assert res.returncode == 0 and "indexed" in res.stdout, str(res)
    assert victim.is_file() and not victim.is_symlink()
    m = domufs.mount(gz, cache_dir=cache)
    assert open(m.b(b"f"), "rb").read() == b"content\n"


def test_empty_cache_dir_is_a_usage_error(domufs, tmp_path):
    tpl = small_template(tmp_path / "t.tar", {"f": b"x"})
    res = domufs.run("index", "--cache-dir", "", tpl)
    assert res.returncode == 2, str(res)
    assert_one_error_line(res, "--cache-dir")


def test_no_home_no_shared_fallback(domufs, tmp_path, public_dir):
    """A user with no HOME and no passwd entry gets no cache in /tmp, where
    another user could have made it first."""
    tpl = small_template(public_dir / "t.tar", {"f": b"x"})
    os.chmod(tpl, 0o644)
    prefix = ["env", "-i", "PATH=/usr/bin:/bin", "setpriv", "--reuid=54321",
              "--regid=54321", "--clear-groups", "--"]
    shared = "/tmp/.cache/domufs"
    before = os.path.exists(shared) and os.listdir(shared)
    res = domufs.run("index", tpl, prefix=prefix)
    assert res.returncode == 1, str(res)
    assert_one_error_line(res, "--cache-dir")
    assert (os.path.exists(shared) and os.listdir(shared)) == before


@pytest.fixture
def whole_seconds_fs(tmp_path):
    """An ext2 file system with 128-byte inodes: timestamps in whole seconds."""
    img, mnt = tmp_path / "e2.img", tmp_path / "e2"
    with open(img, "wb") as f:
        f.truncate(16 << 20)
    subprocess.run(["mkfs.ext2", "-q", "-F", "-I", "128", str(img)], check=True,
                   stderr=subprocess.DEVNULL)
    mnt.mkdir()
    if subprocess.run(["mount", "-o", "loop", str(img), str(mnt)]).returncode != 0:
        pytest.skip("no loop mount here")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=True)


def test_template_rewritten_within_its_second(whole_seconds_fs, domufs, tmp_path):
    tpl = whole_seconds_fs / "t.tar"
    cache = domufs.cache_dir()
    for attempt in range(5):
        # start just after a second begins (the file system's clock may lag
        # a tick), so that both writes and the index fit in that second
        time.sleep(1 - time.time() % 1 + 0.05)
        small_template(tpl, {"f": b"one\n"})
        before = os.stat(tpl)
        first = domufs.index(tpl, cache)
        small_template(tpl, {"g": b"two\n"})
        st = os.stat(tpl)
        if (st.st_ctime_ns, st.st_mtime_ns, st.st_size) == \
                (before.st_ctime_ns, before.st_mtime_ns, before.st_size):
            break
    else:
        pytest.skip("could not rewrite within one second")
    assert first.returncode == 0, str(first)
    assert st.st_ctime_ns % 10**9 == 0, "whole seconds expected"
    m = domufs.mount(tpl, cache_dir=cache)
    assert os.listdir(m.path) == ["g"], "stale index served"
    assert open(m.b(b"g"), "rb").read() == b"two\n"
    assert not m.unmount()
