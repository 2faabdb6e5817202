# SPDX-License-Identifier: LGPL-2.1-or-later
"""domufs commit: what provisioning scripts rely on (an outside audit).

UUIDs of domains committed under one SOURCE_DATE_EPOCH, what a cancelled
or failed commit to a block device says, templates and mounted file
systems reached through loop devices, parallel commits to one new image,
a tree changing during the commit, JSON progress on failure, discard."""

import json
import os
import signal
import subprocess
import threading
import time

import pytest

import fixtures as F
from fixtures import sh
from conftest import assert_one_error_line
from test_commit import Loops, commit, fsck, small_template, sparse_disk, tar_of

BENCH_TEMPLATE = "/var/tmp/domufs-bench/root.tar.zst"


@pytest.fixture(autouse=True)
def _need_root():
    if os.geteuid() != 0:
        pytest.skip("commit tests mount images and use loop devices: need root")


@pytest.fixture
def loops(tmp_path):
    lp = Loops(tmp_path)
    yield lp
    lp.cleanup()


def fs_uuid(target):
    return sh("blkid", "-p", "-s", "UUID", "-o", "value", str(target)).stdout.strip()


# ---------------------------------------------------------------- 1. UUIDs

def test_source_date_epoch_uuid_differs_between_domains(domufs, tmp_path):
    tpl = small_template(tmp_path)
    cache = domufs.cache_dir()
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    uuids = {}
    for dom in ("banquo", "fleance"):
        ovl = tmp_path / f"{dom}-overlay"
        ovl.mkdir()
        for run in (1, 2):
            img = tmp_path / f"{dom}-{run}.img"
            res = commit(domufs, cache, tpl, img, "--overlay", ovl, env=env)
            assert res.returncode == 0, str(res)
            uuids[dom, run] = fs_uuid(img)
    # one domain twice: the same image, UUID included
    assert uuids["banquo", 1] == uuids["banquo", 2]
    assert uuids["fleance", 1] == uuids["fleance", 2]
    assert F.sha256_file(os.fsencode(str(tmp_path / "banquo-1.img"))) == \
        F.sha256_file(os.fsencode(str(tmp_path / "banquo-2.img")))
    # two domains: two UUIDs (/dev/disk/by-uuid in dom0)
    assert uuids["banquo", 1] != uuids["fleance", 1], uuids
    # an explicit --uuid still wins
    img = tmp_path / "explicit.img"
    u = "0b5e0b5e-1234-4abc-8def-0123456789ab"
    res = commit(domufs, cache, tpl, img, "--uuid", u, env=env)
    assert res.returncode == 0, str(res)
    assert fs_uuid(img) == u


def test_source_date_epoch_uuid_differs_between_profiles(domufs, tmp_path):
    tpl = small_template(tmp_path)
    cache = domufs.cache_dir()
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    uuids = []
    for dom in ("banquo", "fleance"):
        prof = tmp_path / f"{dom}.cfg"
        prof.write_text(f'name = "{dom}"\nmemory = 256\n'
                        f"disk = [ 'file:/var/lib/xen/{dom}.img,xvda,w' ]\n")
        img = tmp_path / f"{dom}.img"
        res = commit(domufs, cache, tpl, img, "--domain", prof, env=env)
        assert res.returncode == 0, str(res)
        uuids.append(fs_uuid(img))
    assert uuids[0] != uuids[1], uuids


# ---------------------------------------------------------------- 2. cancelled after the wipe

@pytest.fixture
def big_template():
    if not os.path.isfile(BENCH_TEMPLATE):
        pytest.skip(f"{BENCH_TEMPLATE} is absent: no template big enough for a commit "
                    "that is still running after a second")
    return BENCH_TEMPLATE


def start_commit(domufs, cache, template, target, *opts):
    return subprocess.Popen([domufs.binary, "commit", "--cache-dir", str(cache), *opts,
                             "--progress=json", str(template), str(target)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_phase(p, phase, timeout=60):
    """Reads the JSON progress lines until @phase shows; the lines read."""
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = p.stderr.readline()
        if not line:
            break
        lines.append(line)
        if json.loads(line).get("phase") == phase:
            return lines
    pytest.fail(f"no {phase!r} phase: {''.join(lines)}")


def cancel_while_writing(p, delay):
    """SIGTERM @delay s into the write phase; the error lines (not JSON)."""
    try:
        wait_for_phase(p, "write")
        time.sleep(delay)
        p.send_signal(signal.SIGTERM)
        err = p.communicate(timeout=120)[1]
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    if p.returncode == 0:
        pytest.skip("the commit finished before SIGTERM")
    assert p.returncode == 1, err
    return [x for x in err.splitlines() if not x.startswith("{")]


def test_cancel_after_the_wipe_says_the_device_holds_no_filesystem(big_template, domufs, loops,
                                                                    tmp_path):
    tpl = small_template(tmp_path)
    cache = domufs.cache_dir()
    backing, dev = sparse_disk(loops, tmp_path / "disk", 2 << 30)
    assert commit(domufs, cache, tpl, dev).returncode == 0
    assert domufs.index(big_template, cache).returncode == 0
    # "write" comes after the wipe: the old filesystem is gone
    lines = cancel_while_writing(start_commit(domufs, cache, big_template, dev, "--force"), 0.2)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"domufs: {dev}: ") and "cancelled" in lines[0], lines
    assert "nothing written" not in lines[0], lines
    assert "no longer holds a filesystem" in lines[0], lines
    assert sh("blkid", "-p", dev, check=False).returncode == 2


def test_cancel_of_an_image_leaves_it_and_says_nothing_written(big_template, domufs, tmp_path):
    tpl = small_template(tmp_path)
    cache = domufs.cache_dir()
    img = tmp_path / "keep.img"
    assert commit(domufs, cache, tpl, img).returncode == 0
    before = F.sha256_file(os.fsencode(str(img)))
    assert domufs.index(big_template, cache).returncode == 0
    lines = cancel_while_writing(start_commit(domufs, cache, big_template, img, "--force"), 0)
    assert lines == [f"domufs: {img}: commit cancelled (nothing written)"], lines
    assert F.sha256_file(os.fsencode(str(img))) == before


# ---------------------------------------------------------------- 3. the template behind a loop device

def padded_template(tmp, name="padded.tar"):
    """A template large enough to hold a filesystem of its own view."""
    return tar_of(tmp, name, [("etc", "dir", None, 0o755),
                              ("etc/hostname", "file", b"padded\n", 0o644),
                              ("pad", "file", os.urandom(1 << 20) * 24, 0o644)])


def test_refuses_a_loop_device_backed_by_the_template(domufs, loops, tmp_path):
    tpl = padded_template(tmp_path)
    cache = domufs.cache_dir()
    before = F.sha256_file(os.fsencode(str(tpl)))
    dev = loops.attach(tpl)
    res = commit(domufs, cache, tpl, dev, "--force")
    assert res.returncode == 1, str(res)
    assert_one_error_line(res, dev, str(tpl), "template")
    # and through a loop device stacked on that one
    stacked = loops.attach(dev)
    res = commit(domufs, cache, tpl, stacked, "--force")
    assert res.returncode == 1, str(res)
    assert_one_error_line(res, stacked, str(tpl), "template")
    assert F.sha256_file(os.fsencode(str(tpl))) == before


def test_refuses_a_loop_device_backed_by_the_cache_data_file(domufs, loops, tmp_path):
    tpl = padded_template(tmp_path)
    sh("gzip", "-1", "-k", tpl)
    gz = tmp_path / "padded.tar.gz"
    cache = domufs.cache_dir()
    assert domufs.index(gz, cache).returncode == 0
    data = [p for p in cache.rglob("*.data")]
    assert len(data) == 1, data
    before = F.sha256_file(os.fsencode(str(data[0])))
    dev = loops.attach(data[0])
    res = commit(domufs, cache, gz, dev, "--force")
    assert res.returncode == 1, str(res)
    assert_one_error_line(res, dev, str(data[0]), "cache data")
    assert F.sha256_file(os.fsencode(str(data[0]))) == before


# ---------------------------------------------------------------- 4. one backing file, two loop devices

def test_refuses_a_loop_device_whose_backing_file_is_mounted_elsewhere(domufs, loops, tmp_path):
    tpl = small_template(tmp_path)
    cache = domufs.cache_dir()
    backing, a = sparse_disk(loops, tmp_path / "disk", 64 << 20)
    assert commit(domufs, cache, tpl, a).returncode == 0
    b = loops.attach(backing)
    mnt = loops.mount(b)
    before = F.sha256_file(os.fsencode(str(backing)))
    res = commit(domufs, cache, tpl, a, "--force")
    assert res.returncode == 1, str(res)
    assert_one_error_line(res, a, "in use", b, str(mnt))
    assert (mnt / "etc" / "hostname").read_bytes() == b"small\n"
    loops.umount(mnt)
    assert F.sha256_file(os.fsencode(str(backing))) == before
    # attached but unused, the other one holds nothing up
    res = commit(domufs, cache, tpl, a, "--force")
    assert res.returncode == 0, str(res)
    fsck(a)


def test_image_backing_an_attached_loop_device(domufs, loops, tmp_path):
    """Replaced by a rename, the image would leave the loop device reading
    the old one, deleted: refused without --force, a warning with it."""
    tpl = small_template(tmp_path)
    cache = domufs.cache_dir()
    img = tmp_path / "attached.img"
    with open(img, "wb") as f:
        f.truncate(64 << 20)  # no signature: only the loop device counts
    dev = loops.attach(img)
    res = commit(domufs, cache, tpl, img)
    assert res.returncode == 1, str(res)
    assert_one_error_line(res, img, dev, "--force")
    res = commit(domufs, cache, tpl, img, "--force")
    assert res.returncode == 0, str(res)
    warnings = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(warnings) == 1 and "warning" in warnings[0] and dev in warnings[0], res.stderr


# ---------------------------------------------------------------- 5. parallel commits to one image

def test_parallel_commits_to_one_new_image(domufs, tmp_path):
    tpl = padded_template(tmp_path)
    cache = domufs.cache_dir()
    assert domufs.index(tpl, cache).returncode == 0
    img = tmp_path / "new.img"
    procs = [subprocess.Popen([domufs.binary, "commit", "--cache-dir", str(cache), str(tpl),
                               str(img)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    ok = [r for r in results if r[0] == 0]
    assert len(ok) == 1, results
    # a loser that got as far as the end: "created meanwhile"; one that
    # started after the winner had finished (a slow machine, ASan): the
    # refusal of an existing image. Either way, not replaced.
    refusals = (f"domufs: {img}: created meanwhile by someone else; use --force\n",
                f"domufs: {img}: holds an ext2/ext3/ext4 filesystem; use --force to overwrite it\n")
    for rc, out, err in results:
        if rc != 0:
            assert rc == 1 and err in refusals, results
    fsck(img)
    assert not [x for x in tmp_path.iterdir() if ".domufs-" in x.name], "temporary file left"


def test_image_replaced_during_the_commit_is_not_overwritten(big_template, domufs, tmp_path):
    tpl = small_template(tmp_path)
    cache = domufs.cache_dir()
    img = tmp_path / "img"
    assert commit(domufs, cache, tpl, img).returncode == 0
    assert domufs.index(big_template, cache).returncode == 0
    p = start_commit(domufs, cache, big_template, img, "--force")
    try:
        wait_for_phase(p, "write")
        other = tmp_path / "other"
        other.write_bytes(b"someone else's\n")
        os.replace(other, img)
        err = p.communicate(timeout=120)[1]
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 1, err
    lines = [x for x in err.splitlines() if not x.startswith("{")]
    assert lines == [f"domufs: {img}: replaced meanwhile by someone else; not overwritten"], err
    assert img.read_bytes() == b"someone else's\n"
    assert not [x for x in tmp_path.iterdir() if ".domufs-" in x.name], "temporary file left"


# ---------------------------------------------------------------- 6. the tree changing under the commit

def test_entries_deleted_during_the_commit_say_changed_during_the_commit(domufs, tmp_path):
    """A writable mount of the overlay removing entries while the commit
    walks the tree: success, or the documented "TARGET: PATH: changed
    during the commit", never a bare "No such file or directory"."""
    tpl = small_template(tmp_path)
    cache = domufs.cache_dir()
    ovl = tmp_path / "ovl"
    ovl.mkdir()
    m = domufs.mount(tpl, cache_dir=cache, extra=["--overlay", str(ovl)])
    wr = m.b(b"var")
    os.mkdir(wr)
    stop = threading.Event()

    def churn():
        while not stop.is_set():
            for i in range(40):
                d = os.path.join(wr, b"d%d" % i)
                try:
                    os.mkdir(d)
                    for j in range(8):
                        with open(os.path.join(d, b"f%d" % j), "wb") as f:
                            f.write(b"x" * 100)
                except OSError:
                    pass
            for i in range(40):
                d = os.path.join(wr, b"d%d" % i)
                try:
                    for j in range(8):
                        os.unlink(os.path.join(d, b"f%d" % j))
                    os.rmdir(d)
                except OSError:
                    pass

    t = threading.Thread(target=churn)
    t.start()
    failures = []
    try:
        for n in range(60):
            img = tmp_path / f"c{n}.img"
            res = commit(domufs, cache, tpl, img, "--overlay", ovl)
            if res.returncode != 0:
                failures.append((img, res))
            if len(failures) >= 3:
                break
    finally:
        stop.set()
        t.join()
        assert not m.unmount()
    if not failures:
        pytest.skip("no commit met the tree changing")
    for img, res in failures:
        assert res.returncode == 1, str(res)
        assert_one_error_line(res, str(img), "changed during the commit")


# ---------------------------------------------------------------- 7. --progress=json on failure

def test_progress_json_ends_with_an_error_object(domufs, tmp_path):
    tpl = padded_template(tmp_path)
    cache = domufs.cache_dir()
    img = os.path.join(os.fsencode(str(tmp_path)), b'we"ird\\\xffname.img')
    r = subprocess.run([domufs.binary, "commit", "--cache-dir", str(cache), "--progress=json",
                        "--size", "1M", str(tpl), img], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    assert r.returncode == 1, r
    lines = r.stderr.splitlines()
    objs = [json.loads(x.decode("utf-8")) for x in lines if x.startswith(b"{")]
    plain = [x for x in lines if not x.startswith(b"{")]
    assert len(plain) == 1 and plain[0].startswith(b"domufs: " + img + b": too small"), r.stderr
    assert objs and objs[-1]["phase"] == "error", r.stderr
    assert lines[-2].startswith(b"{"), r.stderr  # the object, then the line
    want = plain[0][len(b"domufs: "):].decode("utf-8", "replace")
    assert objs[-1]["message"] == want, (objs[-1], want)
    assert {"entries", "entries_total", "bytes", "bytes_total", "elapsed", "rate",
            "eta"} <= set(objs[-1]), objs[-1]


# ---------------------------------------------------------------- 8. discard

def allocated(path):
    return os.stat(path).st_blocks * 512


def test_block_device_is_discarded_unless_no_discard(domufs, loops, tmp_path):
    """Discarding a loop device punches holes in its backing file: the
    previous domain's data does not stay behind in the free blocks."""
    big = padded_template(tmp_path)
    small = small_template(tmp_path)
    cache = domufs.cache_dir()
    backing, dev = sparse_disk(loops, tmp_path / "disk", 128 << 20)
    assert commit(domufs, cache, big, dev).returncode == 0
    full = allocated(backing)
    assert full >= 24 << 20, full
    res = commit(domufs, cache, small, dev, "--force", "--no-discard")
    assert res.returncode == 0, str(res)
    kept = allocated(backing)
    assert kept >= full, "discarded despite --no-discard"
    res = commit(domufs, cache, small, dev, "--force")
    assert res.returncode == 0, str(res)
    # the 24 MiB of the old domain's file are gone (the rest: metadata)
    assert allocated(backing) <= kept - (20 << 20), (full, kept, allocated(backing))
    fsck(dev)
    res = commit(domufs, cache, small, tmp_path / "t.tar", "--no-discard", "--format", "tar")
    assert res.returncode == 2, str(res)
