# SPDX-License-Identifier: LGPL-2.1-or-later
"""Copy-ups of large template files racing with the rest of the mount.

The data of a template file of 1 MiB or more is copied up without the
overlay's lock (into an unnamed file, linked in under the lock; or, for a
file copied up before in metadata only, into that file, its mark removed
under the lock), so that the rest of the mount goes on meanwhile. Whatever
else happens during the copy, the result must be what some order of the
same calls gives on a plain filesystem: two writers of one hardlink group
share one copy, a rename, unlink or chmod of the file during its copy
lands on the copy or before it, a reader sees the template's bytes, times
stay as they were, and a remount shows the same. Each race runs on a
template file as it is ("fresh") and on one whose metadata was changed
first ("metacopy"). How much the rest of the mount waits meanwhile is a benchmark figure
(bench/overlay.sh, `copyup-stall`), not asserted here."""

import errno
import hashlib
import os
import shutil
import stat
import tarfile
import threading
import time

import pytest

from overlay_helpers import Ovl, file_hash, unmount

MIB = 1 << 20
BIG = 256 * MIB  # about 0.1 s to copy from the page cache: a wide window


def block(i: int) -> bytes:
    return hashlib.sha256(b"block %d" % i).digest() * (MIB // 32)


def template_bytes() -> bytes:
    return b"".join(block(i) for i in range(BIG // MIB))


@pytest.fixture(scope="module")
def big_template(tmp_path_factory):
    """data/big (256 MiB, each MiB different) hardlinked as data/big.link,
    a small etc/ beside it, as an uncompressed tar."""
    d = tmp_path_factory.mktemp("copyup")
    src = d / "src"
    (src / "data").mkdir(parents=True)
    (src / "etc").mkdir()
    with open(src / "data/big", "wb") as f:
        for i in range(BIG // MIB):
            f.write(block(i))
    os.link(src / "data/big", src / "data/big.link")
    for i in range(20):
        (src / "etc" / f"f{i}").write_bytes(b"%d\n" % i)
    tpl = d / "big.tar"
    with tarfile.open(tpl, "w", format=tarfile.PAX_FORMAT) as t:
        t.add(src, arcname=".")
    shutil.rmtree(src)
    digest = hashlib.sha256(template_bytes()).hexdigest()
    yield tpl, digest
    tpl.unlink()


@pytest.fixture
def big_ovl(big_template, domufs, tmp_path):
    """A writable mount of the template; its overlay removed afterwards
    (hundreds of MiB each)."""
    o = Ovl(domufs, big_template[0], tmp_path / "overlay")
    yield o
    unmount(o.m)
    shutil.rmtree(o.overlay, ignore_errors=True)


def expected(marks) -> str:
    """sha256 of the template file with each (offset, bytes) written over it."""
    data = bytearray(template_bytes())
    for off, b in marks:
        data[off:off + len(b)] = b
    return hashlib.sha256(bytes(data)).hexdigest()


def write_at(path, off, data, out, key):
    """Opens @path for writing (the copy-up) and writes @data at @off;
    out[key]: None, or the errno of a failed call."""
    try:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.pwrite(fd, data, off)
            os.fsync(fd)
        finally:
            os.close(fd)
        out[key] = None
    except OSError as ex:
        out[key] = ex.errno


def started(target, *args):
    t = threading.Thread(target=target, args=args)
    t.start()
    return t


STATES = ["fresh", "metacopy"]


def prepare(o, state):
    """metacopy: a chmod first, a metadata-only copy-up (no data)."""
    if state == "metacopy":
        os.chmod(o.p("data/big"), 0o640)
        assert os.path.getsize(os.path.join(o.overlay, "data/big")) == BIG
        assert os.stat(os.path.join(o.overlay, "data/big")).st_blocks < 64


def one_inode(o, names, nlink):
    st = [os.lstat(o.p(n)) for n in names]
    assert len({s.st_ino for s in st}) == 1, f"{names}: not one inode: {[s.st_ino for s in st]}"
    assert all(s.st_nlink == nlink for s in st), f"{names}: link counts {[s.st_nlink for s in st]}"
    ust = [os.lstat(os.path.join(o.overlay, n)) for n in names]
    assert len({s.st_ino for s in ust}) == 1, f"{names}: not one file in the overlay directory"


@pytest.mark.parametrize("state", STATES)
def test_two_writers_of_one_hardlink_group_share_one_copy(big_ovl, state):
    o = big_ovl
    prepare(o, state)
    out = {}
    a = started(write_at, o.p("data/big"), 5, b"AAAA", out, "a")
    b = started(write_at, o.p("data/big.link"), 3 * MIB + 7, b"BBBB", out, "b")
    a.join(120)
    b.join(120)
    assert out == {"a": None, "b": None}, f"writers: {out}"
    want = expected([(5, b"AAAA"), (3 * MIB + 7, b"BBBB")])
    for name in ("data/big", "data/big.link"):
        assert file_hash(o.p(name)) == want, f"{name}: not the template with both writes"
    one_inode(o, ["data/big", "data/big.link"], 2)
    o.remount()
    assert file_hash(o.p("data/big.link")) == want, "after a remount"
    one_inode(o, ["data/big", "data/big.link"], 2)


@pytest.mark.parametrize("state", STATES)
def test_many_writers_of_one_file_copy_it_once(big_ovl, state):
    o = big_ovl
    prepare(o, state)
    out = {}
    threads = [started(write_at, o.p("data/big"), k * MIB + k, b"W%d" % k, out, k) for k in range(6)]
    for t in threads:
        t.join(120)
    assert out == {k: None for k in range(6)}, f"writers: {out}"
    want = expected([(k * MIB + k, b"W%d" % k) for k in range(6)])
    assert file_hash(o.p("data/big")) == want
    one_inode(o, ["data/big", "data/big.link"], 2)
    # nothing left over: the overlay holds the group's two names, no more
    assert sorted(os.listdir(os.path.join(o.overlay, "data"))) == ["big", "big.link"]


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("delay", [0.0, 0.02, 0.05])
def test_rename_during_the_copy_lands_on_the_copy(big_ovl, delay, state):
    o = big_ovl
    prepare(o, state)
    out = {}
    w = started(write_at, o.p("data/big"), 11, b"RRRR", out, "w")
    time.sleep(delay)
    try:
        os.rename(o.p("data/big"), o.p("etc/moved"))
        renamed = True
    except FileNotFoundError:
        renamed = False  # only if the name were gone: never here
    w.join(120)
    assert renamed
    assert out["w"] is None, f"the write open failed: {errno.errorcode.get(out['w'])}"
    want = expected([(11, b"RRRR")])
    assert not os.path.lexists(o.p("data/big"))
    assert file_hash(o.p("etc/moved")) == want
    assert file_hash(o.p("data/big.link")) == want
    one_inode(o, ["etc/moved", "data/big.link"], 2)
    o.remount()
    assert not os.path.lexists(o.p("data/big"))
    assert file_hash(o.p("etc/moved")) == want
    one_inode(o, ["etc/moved", "data/big.link"], 2)


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("delay", [0.0, 0.02, 0.05])
def test_unlink_during_the_copy_lands_before_or_after_it(big_template, big_ovl, delay, state):
    digest = big_template[1]
    o = big_ovl
    prepare(o, state)
    out = {}
    w = started(write_at, o.p("data/big"), 13, b"UUUU", out, "w")
    time.sleep(delay)
    os.unlink(o.p("data/big"))
    w.join(120)
    assert not os.path.lexists(o.p("data/big"))
    left = file_hash(o.p("data/big.link"))
    if out["w"] is None:
        # the open came first: the other name shows the write
        assert left == expected([(13, b"UUUU")])
        assert os.lstat(o.p("data/big.link")).st_nlink == 1
    else:
        # the unlink came first: the open found no such name
        assert out["w"] == errno.ENOENT, f"the write open: {errno.errorcode.get(out['w'])}"
        assert left == digest
    o.remount()
    assert not os.path.lexists(o.p("data/big"))
    assert file_hash(o.p("data/big.link")) == left


@pytest.mark.parametrize("state", STATES)
def test_readers_and_other_calls_go_on_during_the_copy(big_template, big_ovl, state):
    digest = big_template[1]
    o = big_ovl
    prepare(o, state)
    out = {}
    w = started(write_at, o.p("data/big"), 17, b"CCCC", out, "w")
    seen = []
    # meanwhile: read the file whole, create, list, stat and remove elsewhere
    with open(o.p("data/big.link"), "rb") as f:
        h = hashlib.sha256()
        for chunk in iter(lambda: f.read(MIB), b""):
            h.update(chunk)
    seen.append(h.hexdigest())
    for i in range(50):
        p = o.p(f"etc/new{i}")
        with open(p, "wb") as f:
            f.write(b"%d" % i)
        assert os.stat(p).st_size == len(b"%d" % i)
        os.unlink(p)
    assert sorted(os.listdir(o.p("etc"))) == sorted(b"f%d" % i for i in range(20))
    w.join(120)
    assert out["w"] is None
    # the reader saw the template's bytes or the written copy, nothing between
    assert seen[0] in (digest, expected([(17, b"CCCC")]))
    assert file_hash(o.p("data/big")) == expected([(17, b"CCCC")])
    one_inode(o, ["data/big", "data/big.link"], 2)


@pytest.mark.parametrize("name", ["data/big", "data/big.link"])
def test_open_with_o_trunc_gives_an_empty_file_to_the_whole_group(big_ovl, name):
    o = big_ovl
    with open(o.p(name), "wb") as f:  # O_WRONLY | O_CREAT | O_TRUNC
        f.write(b"new\n")
    for n in ("data/big", "data/big.link"):
        with open(o.p(n), "rb") as f:
            assert f.read() == b"new\n", n
    one_inode(o, ["data/big", "data/big.link"], 2)
    assert os.path.getsize(os.path.join(o.overlay, "data/big")) == 4
    o.remount()
    with open(o.p("data/big.link"), "rb") as f:
        assert f.read() == b"new\n"


@pytest.mark.parametrize("size", [0, 1, 3 * MIB + 5, BIG, BIG + 3 * MIB])
def test_truncate_of_a_template_file_keeps_what_it_should(big_ovl, size):
    o = big_ovl
    os.truncate(o.p("data/big"), size)
    data = template_bytes()
    want = hashlib.sha256(data[:size] + b"\0" * max(0, size - len(data))).hexdigest()
    for n in ("data/big", "data/big.link"):
        assert os.path.getsize(o.p(n)) == size, n
        assert file_hash(o.p(n)) == want, n
    one_inode(o, ["data/big", "data/big.link"], 2)
    o.remount()
    assert file_hash(o.p("data/big.link")) == want


def test_o_trunc_of_a_file_changed_before_only_in_metadata(big_ovl):
    o = big_ovl
    os.chmod(o.p("data/big"), 0o600)  # a metadata-only copy-up first
    fd = os.open(o.p("data/big.link"), os.O_WRONLY | os.O_TRUNC)
    os.write(fd, b"x")
    os.close(fd)
    for n in ("data/big", "data/big.link"):
        with open(o.p(n), "rb") as f:
            assert f.read() == b"x", n
        assert stat_mode(o.p(n)) == 0o600, n
    one_inode(o, ["data/big", "data/big.link"], 2)


def stat_mode(path):
    return os.lstat(path).st_mode & 0o7777


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("delay", [0.0, 0.03])
def test_chmod_and_utime_during_the_copy_land_after_it(big_ovl, state, delay):
    o = big_ovl
    prepare(o, state)
    fd = None
    opened = threading.Event()

    def opener():
        nonlocal fd
        fd = os.open(o.p("data/big"), os.O_WRONLY)  # the copy-up, no write
        opened.set()

    t = started(opener)
    time.sleep(delay)
    os.chmod(o.p("data/big.link"), 0o604)
    os.utime(o.p("data/big.link"), ns=(1_000_000_007, 2_000_000_011))
    t.join(120)
    assert opened.is_set()
    os.close(fd)
    for n in ("data/big", "data/big.link"):
        st = os.lstat(o.p(n))
        assert stat.S_IMODE(st.st_mode) == 0o604, n
        assert st.st_mtime_ns == 2_000_000_011, n
        assert st.st_size == BIG, n
    assert file_hash(o.p("data/big")) == expected([])
    one_inode(o, ["data/big", "data/big.link"], 2)
    o.remount()
    st = os.lstat(o.p("data/big"))
    assert (stat.S_IMODE(st.st_mode), st.st_mtime_ns) == (0o604, 2_000_000_011)


def test_a_fill_keeps_the_times_it_had(big_ovl):
    o = big_ovl
    os.utime(o.p("data/big"), ns=(3_000_000_013, 4_000_000_017))  # metadata only
    fd = os.open(o.p("data/big.link"), os.O_WRONLY)  # its data filled in
    os.close(fd)
    ust = os.lstat(os.path.join(o.overlay, "data/big"))
    assert ust.st_blocks * 512 >= BIG, "the data was not filled in"
    for n in ("data/big", "data/big.link"):
        assert os.lstat(o.p(n)).st_mtime_ns == 4_000_000_017, n
    assert file_hash(o.p("data/big")) == expected([])
    o.remount()
    assert os.lstat(o.p("data/big")).st_mtime_ns == 4_000_000_017
    assert file_hash(o.p("data/big.link")) == expected([])


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("delay", [0.0, 0.03])
def test_link_and_rename_over_during_the_copy(big_ovl, state, delay):
    """A new name for the file, and another file renamed over one of its
    names, while its data is copied: they land after the copy."""
    o = big_ovl
    prepare(o, state)
    with open(o.p("etc/other"), "wb") as f:
        f.write(b"other\n")
    out = {}
    w = started(write_at, o.p("data/big"), 19, b"LLLL", out, "w")
    time.sleep(delay)
    os.link(o.p("data/big"), o.p("etc/third"))
    os.rename(o.p("etc/other"), o.p("data/big.link"))
    w.join(120)
    assert out["w"] is None, f"the write open: {errno.errorcode.get(out['w'])}"
    want = expected([(19, b"LLLL")])
    with open(o.p("data/big.link"), "rb") as f:
        assert f.read() == b"other\n"
    assert file_hash(o.p("data/big")) == want
    one_inode(o, ["data/big", "etc/third"], 2)
    o.remount()
    assert file_hash(o.p("etc/third")) == want
    one_inode(o, ["data/big", "etc/third"], 2)
    with open(o.p("data/big.link"), "rb") as f:
        assert f.read() == b"other\n"
