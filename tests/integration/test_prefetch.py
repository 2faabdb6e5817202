# SPDX-License-Identifier: LGPL-2.1-or-later
"""Read-ahead across files on read-only mounts: when the kernel reads a template
file from its start, the files listed after it in its directory are stored into
the kernel's page cache (FUSE_NOTIFY_STORE) before anyone reads them; the window
starts at 512 KiB and doubles while the reader goes through the listing in
order.  Residency is read with fincore (mincore(2) on the FUSE file, which sends
no request).  Also: a daemon told to stop while a reader walks the tree (and the
read-ahead is storing) exits and leaves no mount, on /dev/fuse and io_uring."""

import hashlib
import io
import os
import signal
import subprocess
import sys
import tarfile
import time

import pytest

import fixtures as F
from conftest import EXIT_TIMEOUT
from overlay_helpers import read

KIB = 1024
PAGE = os.sysconf("SC_PAGE_SIZE")
IO_MAX = 960 * KIB  # fusefs/iomax.h


DAMON_STATES = "/sys/kernel/mm/damon/admin/kdamonds"


@pytest.fixture(autouse=True, scope="module")
def no_proactive_reclaim():
    """Residency is what these tests read: a DAMON scheme that pages out page
    cache nobody touched (as on the machines this project runs on: every 5 s,
    what sat in cold memory for 30 s, which takes in pages just stored there)
    would drop stored files before they are looked at. Its kdamonds are
    turned off for the module and back on after."""
    turned_off = []
    if os.path.isdir(DAMON_STATES):
        for k in sorted(os.listdir(DAMON_STATES)):
            state = os.path.join(DAMON_STATES, k, "state")
            try:
                with open(state) as f:
                    if f.read().strip() != "on":
                        continue
                with open(state, "w") as f:
                    f.write("off\n")
                turned_off.append(state)
            except OSError:
                pass
    yield
    for state in turned_off:
        with open(state, "w") as f:
            f.write("on\n")


def content(name: str, size: int) -> bytes:
    """Deterministic bytes that differ between files and between pages."""
    seed = hashlib.sha256(name.encode()).digest()
    out = bytearray()
    block = 0
    while len(out) < size:
        out += hashlib.sha256(seed + block.to_bytes(8, "little")).digest()
        block += 1
    return bytes(out[:size])


def make_tar(path, files: dict):
    """A pax archive of @files {relpath: bytes} (directories implied) at @path.tar."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        dirs = sorted({os.path.dirname(p) for p in files if os.path.dirname(p)})
        for d in dirs:
            ti = tarfile.TarInfo(d)
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o755
            t.addfile(ti)
        for rel, data in files.items():
            ti = tarfile.TarInfo(rel)
            ti.size = len(data)
            ti.mode = 0o644
            t.addfile(ti, io.BytesIO(data))
    raw = path.with_suffix(".tar")
    raw.write_bytes(buf.getvalue())
    return raw


def make_template(path, files: dict, comp="none"):
    return F.compress(make_tar(path, files), comp)


def resident(path) -> int:
    """Bytes of @path in the page cache."""
    out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)],
                         check=True, stdout=subprocess.PIPE, text=True).stdout
    return int(out.split()[0])


def whole(size: int) -> int:
    return (size + PAGE - 1) // PAGE * PAGE


def wait_resident(path, size, timeout=10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if resident(path) >= whole(size):
            return True
        time.sleep(0.02)
    return False


def settle(paths, timeout=2.0):
    """Until the residency of @paths stops changing (the read-ahead is idle)."""
    last = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = [resident(p) for p in paths]
        if now == last:
            return now
        last = now
        time.sleep(0.1)
    return last


def looks_files_up(m, files):
    """Be a reader that looks files up (tar, cp -a, rsync) before listing:
    listings then give the kernel the files' inodes, which the read-ahead
    stores into. A listing for a reader that wants names only (find) gives
    none (see test_mount.py, lean listings), and so has nothing stored."""
    os.stat(m.path / next(iter(files)))


@pytest.fixture
def many_files(tmp_path):
    """d/: 64 files of 64 KiB; e/: 4 more (another listing)."""
    files = {f"d/f{i:03}": content(f"d/f{i:03}", 64 * KIB) for i in range(64)}
    files.update({f"e/g{i}": content(f"e/g{i}", 64 * KIB) for i in range(4)})
    return files, make_template(tmp_path / "many", files, "zst")


def test_first_read_stores_the_files_listed_after_it(many_files, domufs):
    files, tpl = many_files
    m = domufs.mount(tpl)
    looks_files_up(m, files)
    d = m.path / "d"
    names = os.listdir(d)  # READDIRPLUS: the order the read-ahead follows
    os.listdir(m.path / "e")
    assert all(resident(d / n) == 0 for n in names), "pages before any read"
    assert read(d / names[0]) == files[f"d/{names[0]}"]
    # a reader that starts at a listing's first file gets the first window
    # (512 KiB: the next 8 files of 64 KiB), and nothing of other listings
    for n in names[1:9]:
        assert wait_resident(d / n, 64 * KIB), f"d/{n} not stored after d/{names[0]} was read"
    after = settle([d / n for n in names[9:]] + [m.path / "e" / g for g in os.listdir(m.path / "e")])
    assert after == [0] * len(after), "stored beyond the window or outside the listing"
    # stored pages hold the template's bytes
    for n in names[1:9]:
        assert read(d / n) == files[f"d/{n}"], f"d/{n}"


def test_window_grows_in_listing_order_and_restarts_small(many_files, domufs):
    files, tpl = many_files
    m = domufs.mount(tpl)
    looks_files_up(m, files)
    d = m.path / "d"
    names = os.listdir(d)
    read(d / names[0])              # stores names[1..8] (512 KiB)
    assert wait_resident(d / names[8], 64 * KIB)
    read(d / names[9])              # follows a stored file: 1 MiB, names[10..25]
    assert wait_resident(d / names[25], 64 * KIB), "window did not double"
    assert settle([d / names[26]]) == [0], "window grew more than twice"
    read(d / names[26])             # 2 MiB: the rest, names[27..58]
    assert wait_resident(d / names[58], 64 * KIB), "window did not double again"
    # a read out of order (its predecessor never read) starts small again
    m.unmount()
    m = domufs.mount(tpl)
    looks_files_up(m, files)
    d = m.path / "d"
    names = os.listdir(d)
    read(d / names[40])
    assert wait_resident(d / names[48], 64 * KIB)
    after = settle([d / n for n in names[49:]] + [d / n for n in names[:40]])
    assert after == [0] * len(after), "an out-of-order read stored more than 512 KiB, or behind it"
    for n in names:
        assert read(d / n) == files[f"d/{n}"], f"d/{n}"


def test_files_stored_again_after_the_kernel_dropped_them(many_files, domufs):
    """A read of a file whose pages the kernel dropped starts a walk that stores
    again what it had stored (more than 2 s before)."""
    files, tpl = many_files
    m = domufs.mount(tpl)
    looks_files_up(m, files)
    d = m.path / "d"
    names = os.listdir(d)
    read(d / names[0])
    assert wait_resident(d / names[8], 64 * KIB)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("1\n")
    assert [resident(d / n) for n in names[:9]] == [0] * 9, "pages not dropped"
    time.sleep(2.2)
    assert read(d / names[0]) == files[f"d/{names[0]}"]
    for n in names[1:9]:
        assert wait_resident(d / n, 64 * KIB), f"d/{n} not stored again"
        assert read(d / n) == files[f"d/{n}"], f"d/{n}"


@pytest.fixture
def listings(tmp_path):
    """a/x: one file; b/, c/: 8 files of 64 KiB each."""
    files = {"a/x": content("a/x", 4 * KIB)}
    for d in "bc":
        files.update({f"{d}/f{i}": content(f"{d}/f{i}", 64 * KIB) for i in range(8)})
    return files, make_template(tmp_path / "listings", files, "zst")


def test_listing_end_stores_its_first_files_while_a_reader_works(listings, domufs):
    """A tree walker lists a directory, then reads its files: a listing read to
    its end less than a second after the kernel started reading a file has its
    files stored from the first on; a listing alone (find, ls -R) or long after
    the last read stores nothing."""
    files, tpl = listings
    m = domufs.mount(tpl)
    b, c = m.path / "b", m.path / "c"
    names_b = os.listdir(b)                 # no reader yet
    assert settle([b / n for n in names_b]) == [0] * 8, "a listing alone stored files"
    m.unmount()
    m = domufs.mount(tpl)
    b, c = m.path / "b", m.path / "c"
    assert read(m.path / "a" / "x") == files["a/x"]
    names_b = os.listdir(b)                 # a reader at work: b's files stored
    for n in names_b:
        assert wait_resident(b / n, 64 * KIB), f"b/{n} not stored after b/ was listed"
        assert read(b / n) == files[f"b/{n}"], f"b/{n}"
    time.sleep(1.5)                         # the reader stopped
    names_c = os.listdir(c)
    assert settle([c / n for n in names_c]) == [0] * 8, "stored long after the last read"


def test_listings_after_a_read_store_a_bounded_amount(domufs, tmp_path):
    """A lister right after a read lists many directories and reads nothing:
    the walks that the ends of listings start stop once they have stored 8 MiB
    with no READ since (here: 40 directories of 512 KiB, listed in 0.8 s, each
    given the time to be stored whole)."""
    files = {"a/x": content("a/x", 4 * KIB)}
    for k in range(40):
        files.update({f"d{k:02}/f{i}": content(f"d{k:02}/f{i}", 64 * KIB) for i in range(8)})
    tpl = make_template(tmp_path / "dirs", files, "zst")
    m = domufs.mount(tpl)
    assert read(m.path / "a" / "x") == files["a/x"]
    paths = []
    for k in range(40):
        d = m.path / f"d{k:02}"
        paths += [d / n for n in os.listdir(d)]
        time.sleep(0.02)
    total = sum(settle(paths, timeout=5.0))
    assert 0 < total <= 8 * 1024 * KIB + 512 * KIB, f"{total} bytes stored for listings alone"


def test_chain_continues_across_listing_replies(domufs, tmp_path):
    """A directory too large for one READDIRPLUS reply: a read anywhere in its
    listing stores the files listed after it, across the replies' boundaries
    (512 KiB: the next 64 files of 8 KiB)."""
    files = {f"big/f{i:04}": content(f"big/f{i:04}", 8 * KIB) for i in range(900)}
    tpl = make_template(tmp_path / "big", files, "zst")
    for j in range(0, 900 - 65, 50):
        m = domufs.mount(tpl)
        looks_files_up(m, files)
        d = m.path / "big"
        names = os.listdir(d)
        assert len(names) == 900
        assert read(d / names[j]) == files[f"big/{names[j]}"]
        for n in names[j + 1:j + 65]:
            assert wait_resident(d / n, 8 * KIB), \
                f"from listing position {j}: big/{n} (position {names.index(n)}) not stored"
        m.unmount()


@pytest.mark.parametrize("comp", ["none", "gz", "zst"])
def test_stored_files_read_as_the_template(comp, domufs, tmp_path):
    """Sizes around page boundaries and around the largest request and store
    (960 KiB), an empty file, files larger than what is stored (2 MiB: the
    kernel's own read-ahead), a sparse member: a walk in listing order
    (tar -c) reads back every byte, as GNU tar extracts them. A file's last
    run is answered short of the whole pages asked for."""
    sizes = [0, 1, PAGE - 1, PAGE, PAGE + 1, 3 * PAGE + 17, 100_000, IO_MAX - 1, IO_MAX,
             IO_MAX + 1, 2 * IO_MAX + 3, 2 * 1024 * KIB, 2 * 1024 * KIB + 1,
             3 * 1024 * KIB + 5]
    files = {f"s/f{i:02}-{n}": content(f"s/f{i:02}", n) for i, n in enumerate(sizes)}
    both = make_tar(tmp_path / f"sizes-{comp}", files)
    # and a GNU sparse member (holes read as zeros, also from the page cache)
    src = tmp_path / "sparse-src"
    (src / "s").mkdir(parents=True)
    with open(src / "s" / "zz-sparse", "wb") as f:
        f.write(b"head")
        f.seek(5 * 1024 * KIB)
        f.write(b"tail")
    sparse_tar = tmp_path / "sparse.tar"
    F.sh("tar", "--sparse", "-C", str(src), "-cf", str(sparse_tar), "s/zz-sparse")
    F.sh("tar", "-A", "-f", str(both), str(sparse_tar))
    tpl = F.compress(both, comp)
    expected = tmp_path / "expected"
    expected.mkdir()
    F.sh("tar", "-C", str(expected), "-xf", str(tpl))

    m = domufs.mount(tpl)
    got = tmp_path / "got"
    got.mkdir()
    F.sh("sh", "-c", f"tar -C {m.path} -cf - . | tar -C {got} -xf -")
    for rel in sorted(os.listdir(expected / "s")):
        assert read(got / "s" / rel) == read(expected / "s" / rel), rel
        assert read(m.path / "s" / rel) == read(expected / "s" / rel), rel


READER = r"""
import os, sys, time
n = 0
try:
    for dirpath, dirs, files in os.walk(sys.argv[1]):
        for f in files:
            with open(os.path.join(dirpath, f), "rb") as fh:
                fh.read()
            n += 1
            time.sleep(0.0005)
except OSError as e:
    print(n, e.errno, flush=True)
    sys.exit(3)
print(n, 0)
"""


@pytest.mark.parametrize("delay", [0.2, 0.5, 1.0])
def test_sigterm_while_a_reader_walks_the_tree(delay, domufs, tmp_path):
    """The daemon stops while a reader goes through the tree in listing order
    (the read-ahead storing ahead of it): it exits 0 within the usual time, the
    mount is gone, the reader ends (ENOTCONN or done), nothing hangs."""
    files = {f"t/d{i:02}/f{j:03}": content(f"{i}/{j}", 24 * KIB) for i in range(30) for j in range(100)}
    tpl = make_template(tmp_path / "walk", files, "zst")
    m = domufs.mount(tpl)
    reader = subprocess.Popen([sys.executable, "-c", READER, str(m.path)], stdout=subprocess.PIPE,
                              text=True)
    time.sleep(delay)
    m.proc.send_signal(signal.SIGTERM)
    try:
        rc = m.proc.wait(timeout=EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        reader.kill()
        pytest.fail(f"daemon still running {EXIT_TIMEOUT}s after SIGTERM with a reader active")
    m.finished = True
    try:
        out, _ = reader.communicate(timeout=EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        reader.kill()
        pytest.fail("reader hung after the daemon exited")
    assert m.check_exit(rc, expect_rc=0) == []
    assert not F.is_mountpoint(m.path)
    count, err = map(int, out.split())
    # through the end, cut off by the connection's end, or (by path) no
    # longer finding the tree once it was unmounted
    assert err in (0, 2, 103, 107), f"reader stopped with errno {err} after {count} files"


POUNDER = r"""
import errno, os, sys
root, seed = sys.argv[1], int(sys.argv[2])
names = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs]
print("ready", flush=True)
n, i = 0, seed
try:
    while True:
        i = (i * 1103515245 + 12345) % 2**31
        name = names[i % len(names)]
        try:  # a round trip each time: the kernel keeps no xattrs
            os.getxattr(name, "user.absent")
        except OSError as e:
            if e.errno != errno.ENODATA:
                raise
        if i & 1:
            with open(name, "rb", buffering=0) as f:
                f.read()
        n += 1
except OSError as e:
    print(n, e.errno, flush=True)
"""


def test_sigterm_ends_requests_in_flight_as_the_connection_ends(domufs, tmp_path):
    """Readers keep requests in flight on every queue when SIGTERM comes: each
    ends with the connection's end (ECONNABORTED, ENOTCONN) or, by path, ENOENT;
    never with another error (with io_uring queues the kernel ends a request
    left to a queue whose thread exited with ECANCELED; the daemon aborts
    the connection first so that none is)."""
    files = {f"p/d{i}/f{j:03}": content(f"p{i}/{j}", 24 * KIB) for i in range(4) for j in range(200)}
    tpl = make_template(tmp_path / "pound", files, "none")
    seen = []
    for rnd in range(8):
        m = domufs.mount(tpl)
        readers = [subprocess.Popen([sys.executable, "-c", POUNDER, str(m.path), str(rnd * 7 + k)],
                                    stdout=subprocess.PIPE, text=True) for k in range(4)]
        for r in readers:
            assert r.stdout.readline().strip() == "ready"
        time.sleep(0.1)
        m.proc.send_signal(signal.SIGTERM)
        try:
            rc = m.proc.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            for r in readers:
                r.kill()
            pytest.fail(f"daemon still running {EXIT_TIMEOUT}s after SIGTERM")
        m.finished = True
        assert m.check_exit(rc, expect_rc=0) == []
        assert not F.is_mountpoint(m.path)
        for r in readers:
            try:
                out, _ = r.communicate(timeout=EXIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                r.kill()
                pytest.fail("reader hung after the daemon exited")
            count, err = map(int, out.split())
            seen.append((count, err))
    bad = [(count, err) for count, err in seen if err not in (2, 103, 107)]
    assert not bad, f"readers ended with (files read, errno) {bad}"
