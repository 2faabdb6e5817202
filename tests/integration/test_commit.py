# SPDX-License-Identifier: LGPL-2.1-or-later
"""domufs commit: the view into a new ext2/3/4 filesystem, or a new template.

The committed tree must equal the mounted view entry by entry (type, all mode
bits, owners, size, mtime in ns, rdev, symlink targets, content, xattrs and
ACLs, hardlink groups), read back through a read-only kernel mount of the
image; e2fsck -fn must be clean; dumpe2fs shows the features of each type.
Also: partition tables, block devices (loop devices), reproducibility under
SOURCE_DATE_EPOCH, the refusals, kill -9 on a block device leaving nothing
that looks like a filesystem, the tar export round trip, and PyGRUB."""

import contextlib
import io
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import tarfile
import time

import pytest

import fixtures as F
from fixtures import sh
from conftest import assert_one_error_line, unexpected_stderr

PYGRUB = "/usr/lib/xen-4.17/bin/pygrub"
PART_OFFSET = 1 << 20


def fmt_diffs(diffs, limit=40):
    more = f"\n... and {len(diffs) - limit} more" if len(diffs) > limit else ""
    return "\n".join(diffs[:limit]) + more


@pytest.fixture(autouse=True)
def _need_root():
    if os.geteuid() != 0:
        pytest.skip("commit tests mount images and use loop devices: need root")


class Loops:
    """Loop devices and mounts made by one test, always undone."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.devs = []
        self.mounts = []
        self.n = 0

    def attach(self, path, offset=0):
        args = ["losetup", "-f", "--show"]
        if offset:
            args += ["--offset", str(offset)]
        r = subprocess.run(args + [str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
        if r.returncode != 0:
            pytest.skip(f"no loop device: {r.stderr.strip()}")
        dev = r.stdout.strip()
        self.devs.append(dev)
        return dev

    def detach(self, dev):
        sh("losetup", "-d", dev, check=False)
        if dev in self.devs:
            self.devs.remove(dev)

    def mount(self, source, offset=0, opts="ro"):
        """Read-only kernel mount of an image file (at offset) or device."""
        self.n += 1
        mnt = self.tmp / f"imgmnt{self.n}"
        mnt.mkdir()
        o = opts
        if not str(source).startswith("/dev/"):
            o += ",loop"
            if offset:
                o += f",offset={offset}"
        sh("mount", "-t", "ext4", "-o", o, source, mnt)
        self.mounts.append(mnt)
        return mnt

    def umount(self, mnt):
        sh("umount", mnt, check=False)
        if mnt in self.mounts:
            self.mounts.remove(mnt)

    def cleanup(self):
        for m in reversed(self.mounts):
            sh("umount", "-l", m, check=False)
        for d in reversed(self.devs):
            sh("losetup", "-d", d, check=False)


@pytest.fixture
def loops(tmp_path):
    lp = Loops(tmp_path)
    yield lp
    lp.cleanup()


def sparse_disk(loops, path, size):
    """A loop device over a new sparse file of @size bytes: (file, device)."""
    with open(path, "wb") as f:
        f.truncate(size)
    return path, loops.attach(path)


def commit(domufs, cache, template, target, *opts, env=None, timeout=300):
    return domufs.run("commit", "--cache-dir", cache, *opts, template, target, env=env,
                      timeout=timeout)


def fsck(target, offset=0, loops=None):
    """e2fsck -fn, clean (exit 0); at an offset through a loop device."""
    dev = target
    if offset:
        dev = loops.attach(target, offset)
    try:
        F.e2fsck_clean(dev)
    finally:
        if offset:
            loops.detach(dev)


def dumpe2fs(target, offset=0, loops=None):
    dev = target
    if offset:
        dev = loops.attach(target, offset)
    r = sh("dumpe2fs", "-h", dev)
    if offset:
        loops.detach(dev)
    out = {}
    for line in r.stdout.splitlines():
        k, sep, v = line.partition(":")
        if sep:
            out[k.strip()] = v.strip()
    return out


SPARSE = (b"sparse/holes-everywhere", b"sparse/only-hole", b"sparse/hole-start",
          b"sparse/hole-end")


def expected_view(domufs, template, cache, regions=False):
    """The mounted view's snapshot (and the data regions of SPARSE files)."""
    m = domufs.mount(template, cache_dir=cache)
    try:
        snap = F.snapshot(m.path)
        if regions:
            return snap, {p: F.data_regions(m.b(p)) for p in SPARSE}
        return snap
    finally:
        problems = m.unmount()
        assert not problems, problems


def compare_image(want, got):
    """The image against the view; the commit may add /lost+found."""
    got = dict(got)
    if b"lost+found" not in want:
        lf = got.pop(b"lost+found", None)
        assert lf is not None and lf["type"] == stat.S_IFDIR, "no /lost+found in the image"
        got[b"."] = dict(got[b"."], nlink=got[b"."]["nlink"] - 1)
    return F.compare_trees(want, got, xattrs=True, include_root=True)


def parse_mbr(path):
    with open(path, "rb") as f:
        mbr = f.read(512)
    assert mbr[510:512] == b"\x55\xaa", "no MBR signature"
    e = mbr[446:462]
    return {"boot": e[0], "type": e[4], "start": int.from_bytes(e[8:12], "little"),
            "sectors": int.from_bytes(e[12:16], "little"),
            "others": mbr[462:510]}


def tar_of(tmp, name, members):
    """A pax tarball of (name, kind, data_or_target, mode) members."""
    path = tmp / name
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        for n, kind, data, mode in members:
            ti = tarfile.TarInfo(n)
            ti.mode = mode
            ti.mtime = 1700000000
            if kind == "dir":
                ti.type = tarfile.DIRTYPE
                t.addfile(ti)
            elif kind == "symlink":
                ti.type = tarfile.SYMTYPE
                ti.linkname = data
                t.addfile(ti)
            else:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
    return path


def small_template(tmp):
    return tar_of(tmp, "small.tar", [("etc", "dir", None, 0o755),
                                     ("etc/hostname", "file", b"small\n", 0o644),
                                     ("bin", "dir", None, 0o755),
                                     ("bin/sh", "file", b"#!/bin/true\n", 0o755)])


@pytest.fixture(scope="module")
def data_template(tmp_path_factory):
    """About 96 MiB of incompressible data in 96 files: a commit that takes a while."""
    d = tmp_path_factory.mktemp("datatpl")
    rnd = random.Random(7)
    members = [("data", "dir", None, 0o755)]
    for i in range(96):
        members.append((f"data/f{i:03d}", "file", rnd.randbytes(1 << 20), 0o644))
    return tar_of(d, "data.tar", members)


def summary_bytes(res):
    line = res.stdout.strip()
    inner = line.split("(", 1)[1].split(" bytes", 1)[0]
    return int(inner)


# ---------------------------------------------------------------- image files

FS_LAYOUTS = [(fs, part) for fs in ("ext2", "ext3", "ext4") for part in ("none", "msdos")]


@pytest.mark.parametrize("fs,part", FS_LAYOUTS)
def test_image_equals_view(fs, part, archive, domufs, loops, tmp_path):
    template = archive("pax-none")
    cache = domufs.cache_dir()
    want, want_regions = expected_view(domufs, template, cache, regions=True)
    img = tmp_path / f"{fs}-{part}.img"
    res = commit(domufs, cache, template, img, "--fs", fs, "--partition", part,
                 "--label", "dom-root")
    assert res.returncode == 0, str(res)
    assert not unexpected_stderr(res), str(res)
    assert "computed from the tree" in res.stdout, str(res)
    assert img.stat().st_size == summary_bytes(res)
    assert not [p for p in tmp_path.iterdir() if ".domufs-" in p.name], "temporary file left"

    offset = PART_OFFSET if part == "msdos" else 0
    if part == "msdos":
        e = parse_mbr(img)
        assert (e["boot"], e["type"], e["start"]) == (0x80, 0x83, 2048), e
        assert e["sectors"] * 512 == img.stat().st_size - PART_OFFSET
        assert e["others"] == bytes(48), "only one partition expected"
        assert 'PTTYPE="dos"' in sh("blkid", "-p", img).stdout
    fsck(img, offset, loops)

    sb = dumpe2fs(img, offset, loops)
    feats = set(sb["Filesystem features"].split())
    assert sb["Filesystem volume name"] == "dom-root"
    assert sb["Inode size"] == "256"
    assert {"dir_index", "ext_attr", "filetype", "sparse_super"} <= feats, feats
    if fs == "ext2":
        assert not feats & {"has_journal", "extent", "metadata_csum"}, feats
    elif fs == "ext3":
        assert "has_journal" in feats and not feats & {"extent", "metadata_csum"}, feats
    else:
        assert {"has_journal", "extent", "64bit", "flex_bg", "huge_file", "dir_nlink",
                "extra_isize", "metadata_csum"} <= feats, feats

    mnt = loops.mount(img, offset)
    got = F.snapshot(mnt)
    diffs = compare_image(want, got)
    assert not diffs, f"{fs}/{part}: image differs from the view:\n" + fmt_diffs(diffs)
    # sparse files keep their holes
    for p, regions in want_regions.items():
        assert F.data_regions(os.path.join(os.fsencode(str(mnt)), p)) == regions, p
    st = os.stat(os.path.join(os.fsencode(str(mnt)), b"sparse/only-hole"))
    assert st.st_blocks == 0, "a file of holes got data blocks"


def test_fuse2fs_reads_the_same_tree(archive, domufs, tmp_path):
    """A second, userspace reader (libext2fs through fuse2fs) agrees; it
    shows whole seconds only."""
    if not shutil.which("fuse2fs"):
        pytest.skip("fuse2fs is not installed")
    template = archive("pax-none")
    cache = domufs.cache_dir()
    want = expected_view(domufs, template, cache)
    img = tmp_path / "f.img"
    assert commit(domufs, cache, template, img).returncode == 0
    mnt = tmp_path / "fuse2fs"
    mnt.mkdir()
    sh("fuse2fs", "-o", "ro,fakeroot", img, mnt)
    try:
        got = F.snapshot(mnt)
    finally:
        sh("fusermount3", "-u", mnt, check=False)
    for d in want.values():
        d["mtime_ns"] = d["mtime_ns"] // 10**9 * 10**9
    diffs = compare_image(want, got)
    assert not diffs, fmt_diffs(diffs)


def test_large_directory_is_an_htree(bigdir_archive, domufs, loops, tmp_path):
    cache = domufs.cache_dir()
    want = expected_view(domufs, bigdir_archive, cache)
    img = tmp_path / "big.img"
    res = commit(domufs, cache, bigdir_archive, img)
    assert res.returncode == 0, str(res)
    fsck(img)
    r = sh("debugfs", "-R", "htree /big", img)
    assert "Root node dump" in r.stdout and "Indirect levels: 0" in r.stdout, r.stdout[:2000]
    mnt = loops.mount(img)
    diffs = compare_image(want, F.snapshot(mnt))
    assert not diffs, fmt_diffs(diffs)
    for i in (0, 1234, 4999):  # lookups through the index
        assert (mnt / "big" / f"f{i:05d}").read_bytes() == b"%d\n" % i


def test_huge_directory_gets_two_index_levels(domufs, loops, tmp_path):
    """More leaves than one htree root indexes: a level of index nodes."""
    n = 60000
    path = tmp_path / "huge.tar"
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as t:
        ti = tarfile.TarInfo("d")
        ti.type = tarfile.DIRTYPE
        ti.mode = 0o755
        t.addfile(ti)
        for i in range(n):
            ti = tarfile.TarInfo("d/" + "n" * 80 + f"{i:06d}")
            t.addfile(ti, io.BytesIO(b""))
    img = tmp_path / "huge.img"
    res = commit(domufs, domufs.cache_dir(), path, img, timeout=600)
    assert res.returncode == 0, str(res)
    fsck(img)
    r = sh("debugfs", "-R", "htree /d", img)
    assert "Indirect levels: 1" in r.stdout, r.stdout[:2000]
    mnt = loops.mount(img)
    names = os.listdir(mnt / "d")
    assert len(names) == n
    for i in (0, 31337, n - 1):
        assert (mnt / "d" / ("n" * 80 + f"{i:06d}")).exists()
    assert not (mnt / "d" / ("n" * 80 + "999999")).exists()


@pytest.mark.parametrize("fs", ["ext2", "ext3", "ext4"])
def test_files_over_2gib(fs, domufs, loops, tmp_path):
    """A 3 GiB sparse file: extents (ext4) or double indirect blocks (ext2/3)."""
    stage = tmp_path / "stage"
    stage.mkdir()
    big = stage / "big"
    regions = [(0, 8192), (1 << 30, 65536), ((3 << 30) - 4096, 4096)]
    with open(big, "wb") as f:
        f.truncate(3 << 30)
        for off, ln in regions:
            f.seek(off)
            f.write(F._fill(ln, off))
    (stage / "small").write_bytes(b"x" * 100)
    tar = F.make_tar(stage, tmp_path / "big.tar", "pax")
    img = tmp_path / "big.img"
    res = commit(domufs, domufs.cache_dir(), tar, img, "--fs", fs)
    assert res.returncode == 0, str(res)
    assert img.stat().st_size < (256 << 20), "holes were given blocks"
    fsck(img)
    mnt = loops.mount(img)
    st = os.stat(mnt / "big")
    assert st.st_size == 3 << 30
    with open(mnt / "big", "rb") as f:
        for off, ln in regions:
            f.seek(off)
            assert f.read(ln) == F._fill(ln, off), f"data at {off}"
        f.seek((2 << 30) + 12345)
        assert f.read(4096) == bytes(4096)
    if fs == "ext4":
        assert F.data_regions(os.fsencode(str(mnt / "big"))) == regions


@pytest.mark.parametrize("fs", ["ext2", "ext4"])
def test_fragmented_sparse_file(fs, domufs, loops, tmp_path):
    """1500 data regions: an extent tree two levels deep (ext4), indirect
    blocks around holes (ext2)."""
    stage = tmp_path / "stage"
    stage.mkdir()
    with open(stage / "frag", "wb") as f:
        f.truncate(1500 * 8192 + 100)
        for i in range(1500):
            f.seek(i * 8192)
            f.write(bytes([i % 251 + 1]) * 4096)
    tar = F.make_tar(stage, tmp_path / "frag.tar", "pax")
    img = tmp_path / "frag.img"
    res = commit(domufs, domufs.cache_dir(), tar, img, "--fs", fs)
    assert res.returncode == 0, str(res)
    fsck(img)
    if fs == "ext4":
        r = sh("debugfs", "-R", "ex /frag", img)
        assert " 0/ 2 " in r.stdout, r.stdout[:1000]
    mnt = loops.mount(img)
    assert (mnt / "frag").read_bytes() == (stage / "frag").read_bytes()
    assert os.stat(mnt / "frag").st_blocks < 1500 * 8 * 2 + 100


def test_reproducible_with_source_date_epoch(archive, domufs, tmp_path):
    template = archive("pax-none")
    cache = domufs.cache_dir()
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    for fs, part in (("ext4", "none"), ("ext3", "msdos")):
        imgs = []
        for i in range(2):
            img = tmp_path / f"r{i}-{fs}.img"
            res = commit(domufs, cache, template, img, "--fs", fs, "--partition", part, env=env)
            assert res.returncode == 0, str(res)
            imgs.append(img)
        assert sh("cmp", imgs[0], imgs[1], check=False).returncode == 0, \
            f"{fs}/{part}: two commits of one view differ"
    # without it: fresh random UUIDs; --uuid sets one
    uuids = set()
    for i in range(2):
        img = tmp_path / f"u{i}.img"
        assert commit(domufs, cache, template, img).returncode == 0
        uuids.add(dumpe2fs(img)["Filesystem UUID"])
    assert len(uuids) == 2
    img = tmp_path / "fixed.img"
    u = "0b6e3f39-5d3a-4a4c-9a2b-7e0f1c2d3e4f"
    assert commit(domufs, cache, template, img, "--uuid", u).returncode == 0
    assert dumpe2fs(img)["Filesystem UUID"] == u


def test_explicit_size(archive, domufs, tmp_path):
    img = tmp_path / "sized.img"
    res = commit(domufs, domufs.cache_dir(), archive("pax-none"), img, "--size", "96M")
    assert res.returncode == 0, str(res)
    assert img.stat().st_size == 96 << 20
    assert "computed" not in res.stdout
    fsck(img)


def test_msdos_partition_fills_a_2_tib_image(domufs, loops, tmp_path):
    """An MBR reaches sector 2^32 - 1: a 2 TiB image is one partition from
    1 MiB to its end; a byte more is refused before anything is written."""
    tpl = small_template(tmp_path)
    cache = domufs.cache_dir()
    img = tmp_path / "2t.img"
    res = commit(domufs, cache, tpl, img, "--partition", "msdos", "--size",
                 str((2 << 40) + 512))
    assert res.returncode == 1
    assert_one_error_line(res, img, "at most 2 TiB")
    assert not img.exists()
    res = commit(domufs, cache, tpl, img, "--partition", "msdos", "--size", "2T")
    assert res.returncode == 0, str(res)
    e = parse_mbr(img)
    assert (e["start"], e["sectors"]) == (2048, (1 << 32) - 2048), e
    fsck(img, PART_OFFSET, loops)


# ---------------------------------------------------------------- block devices

@pytest.mark.parametrize("part", ["none", "msdos"])
def test_block_device_equals_view(part, archive, domufs, loops, tmp_path):
    template = archive("pax-none")
    cache = domufs.cache_dir()
    want = expected_view(domufs, template, cache)
    backing, dev = sparse_disk(loops, tmp_path / "disk", 96 << 20)
    res = commit(domufs, cache, template, dev, "--partition", part)
    assert res.returncode == 0, str(res)
    assert os.path.exists(dev) and stat.S_ISBLK(os.stat(dev).st_mode)
    offset = PART_OFFSET if part == "msdos" else 0
    if part == "msdos":
        e = parse_mbr(dev)
        assert (e["boot"], e["type"], e["start"]) == (0x80, 0x83, 2048)
        assert e["sectors"] * 512 == (96 << 20) - PART_OFFSET
        loops.detach(dev)
        fsck(backing, offset, loops)
        src = backing
    else:
        assert 'TYPE="ext4"' in sh("blkid", "-p", dev).stdout
        fsck(dev)
        src = dev
    mnt = loops.mount(src, offset)
    diffs = compare_image(want, F.snapshot(mnt))
    assert not diffs, fmt_diffs(diffs)


@pytest.mark.parametrize("label", ["dos", "gpt"])
def test_whole_disk_commit_wipes_the_old_partitions(label, domufs, loops, tmp_path):
    """commit --partition msdos (or a GPT made by sfdisk), then commit
    --force to the whole disk: what the old partitions held is wiped too,
    as wipefs would, not left for blkid -O to find."""
    tpl = small_template(tmp_path)
    cache = domufs.cache_dir()
    backing, dev = sparse_disk(loops, tmp_path / "disk", 256 << 20)
    if label == "dos":
        assert commit(domufs, cache, tpl, dev, "--partition", "msdos").returncode == 0
        old = [PART_OFFSET]
    else:
        sh("sfdisk", "-q", dev, input="label: gpt\nstart=2048,size=8192\nstart=65536\n")
        old = [2048 * 512, 65536 * 512]
        for off in old:
            part = loops.attach(dev, off)
            sh("mkfs.ext4", "-q", "-F", part)
            loops.detach(part)
    for off in old:
        assert 'TYPE="ext4"' in sh("blkid", "-p", "-O", str(off), dev, check=False).stdout
    res = commit(domufs, cache, tpl, dev, "--force")
    assert res.returncode == 0, str(res)
    for off in old:
        b = sh("blkid", "-p", "-O", str(off), dev, check=False)
        assert 'TYPE="ext4"' not in b.stdout, f"at {off}: {b.stdout!r}"
    fsck(dev)


def _zero_device(dev, size):
    with open(dev, "r+b") as f:
        f.write(bytes(size))


def test_kill_during_block_device_commit_leaves_no_filesystem(data_template, domufs, loops,
                                                              tmp_path):
    backing, dev = sparse_disk(loops, tmp_path / "disk", 192 << 20)
    cache = domufs.cache_dir()
    assert domufs.index(data_template, cache).returncode == 0
    # an old filesystem first: its signatures must go too
    t0 = time.monotonic()
    res = commit(domufs, cache, data_template, dev)
    hi = time.monotonic() - t0
    assert res.returncode == 0, str(res)
    assert 'TYPE="ext4"' in sh("blkid", "-p", dev).stdout

    seed = int(time.time())
    rnd = random.Random(seed)
    killed = trials = 0
    while killed < 4 and trials < 16:
        trials += 1
        args = [domufs.binary, "commit", "--cache-dir", str(cache), "--force",
                str(data_template), dev]
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        delay = rnd.uniform(0.0, hi)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        rc = p.wait()
        where = f"seed {seed} trial {trials}, killed after {delay:.3f} s"
        b = sh("blkid", "-p", dev, check=False)
        e = sh("e2fsck", "-fn", dev, check=False)
        if rc == 0 or b.returncode == 0:
            # killed before the wipe (the old filesystem, untouched) or past
            # the commit point (the new one): complete and clean either way
            assert 'TYPE="ext4"' in b.stdout, f"{where}: {b.stdout!r}"
            assert e.returncode == 0, f"{where}: e2fsck -fn exit {e.returncode}\n{e.stdout}"
            if rc == 0:
                hi = delay * 0.8  # aim earlier
            continue
        killed += 1
        assert b.returncode == 2 and not b.stdout.strip(), f"{where}: blkid -p found {b.stdout!r}"
        assert e.returncode >= 8, f"{where}: e2fsck -n exit {e.returncode}\n{e.stdout}"
    assert killed >= 4, f"seed {seed}: only {killed} of {trials} commits were interrupted"
    # and a complete commit afterwards is fine
    res = commit(domufs, cache, data_template, dev, "--force")
    assert res.returncode == 0, str(res)
    fsck(dev)


def test_kill_during_image_commit_leaves_target_untouched(data_template, domufs, tmp_path):
    cache = domufs.cache_dir()
    img = tmp_path / "keep.img"
    assert commit(domufs, cache, data_template, img).returncode == 0
    t0 = time.monotonic()
    assert commit(domufs, cache, data_template, img, "--force").returncode == 0
    took = time.monotonic() - t0
    kept = 0
    # early, midway, and late enough that some kills land past the commit point
    for delay in (0.02, 0.15, took * 0.5, took * 0.9, took * 1.1):
        before = F.sha256_file(os.fsencode(str(img)))
        p = subprocess.Popen([domufs.binary, "commit", "--cache-dir", str(cache), "--force",
                              str(data_template), str(img)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.kill()
        p.wait()
        after = F.sha256_file(os.fsencode(str(img)))
        # The temporary replaces the target by one rename, the commit point:
        # a kill before it leaves the old image as it was, a kill after it
        # (the process may still be tidying up, slowly under ASan) leaves the
        # whole new image. Which one happened is read off the target, not off
        # the exit status: the rename and the exit are not one step.
        if after == before:
            kept += 1
        else:
            fsck = subprocess.run(["e2fsck", "-fn", str(img)], capture_output=True)
            assert fsck.returncode == 0, f"killed after {delay:.3f} s: {fsck.stdout}"
            ls = subprocess.run(["debugfs", "-R", "ls -p /data", str(img)],
                                capture_output=True, text=True)
            names = {f.split("/")[5] for f in ls.stdout.splitlines() if f.count("/") >= 6}
            assert names >= {f"f{i:03d}" for i in range(96)}, ls.stdout
        leftovers = [n for n in os.listdir(tmp_path) if n.startswith(".keep.img.")]
        for n in leftovers:  # the killed run's own temporary, never the target
            os.unlink(tmp_path / n)
        # the temporary has no name until it is complete (O_TMPFILE): only
        # a kill between its naming and the rename could leave it
        assert not leftovers or delay >= took * 0.9, (delay, leftovers)
    assert kept >= 1, "no kill landed before the commit point"


def test_sigterm_cancels_and_removes_the_temporary(data_template, domufs, tmp_path):
    cache = domufs.cache_dir()
    assert domufs.index(data_template, cache).returncode == 0
    img = tmp_path / "cancel.img"
    for delay in (0.08, 0.04, 0.02, 0.01, 0.0):
        p = subprocess.Popen([domufs.binary, "commit", "--cache-dir", str(cache),
                              str(data_template), str(img)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=60)
        if p.returncode != 0:
            break
        img.unlink()
    else:
        pytest.skip("every commit finished before SIGTERM")
    assert p.returncode == 1, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("domufs: ") and "cancelled" in lines[0], err
    assert not img.exists()
    assert not [x for x in tmp_path.iterdir() if ".domufs-" in x.name], "temporary file left"


def test_output_reader_gone_cancels_and_removes_the_temporary(data_template, domufs, tmp_path):
    """`domufs commit --progress=json ... 2>&1 | head -1`: SIGPIPE cancels
    the commit like SIGTERM, nothing is left behind."""
    cache = domufs.cache_dir()
    assert domufs.index(data_template, cache).returncode == 0
    img = tmp_path / "pipe.img"
    r, w = os.pipe()
    os.close(r)
    p = subprocess.Popen([domufs.binary, "commit", "--progress=json", "--cache-dir", str(cache),
                          str(data_template), str(img)],
                         stdout=subprocess.DEVNULL, stderr=w)
    os.close(w)
    assert p.wait(timeout=120) == 1
    assert not img.exists()
    assert not [x for x in tmp_path.iterdir() if ".domufs-" in x.name], "temporary file left"


# ---------------------------------------------------------------- refusals

def test_refuses_mounted_target(domufs, loops, tmp_path):
    tpl = small_template(tmp_path)
    cache = domufs.cache_dir()
    img = tmp_path / "mounted.img"
    assert commit(domufs, cache, tpl, img).returncode == 0
    before = F.sha256_file(os.fsencode(str(img)))
    dev = loops.attach(img)
    mnt = loops.mount(dev)
    res = commit(domufs, cache, tpl, dev, "--force")
    assert res.returncode == 1
    assert_one_error_line(res, dev, "mounted")
    res = commit(domufs, cache, tpl, img, "--force")
    assert res.returncode == 1
    assert_one_error_line(res, img, "in use")
    assert (mnt / "etc" / "hostname").read_bytes() == b"small\n"
    loops.umount(mnt)
    loops.detach(dev)
    assert F.sha256_file(os.fsencode(str(img))) == before


def test_refuses_block_device_under_a_mounted_loop_device(domufs, loops, tmp_path):
    """losetup -f --show /dev/loopA: loopA backs a loop device of its own,
    mounted; loopA is refused like an image file backing a mounted loop."""
    tpl = small_template(tmp_path)
    cache = domufs.cache_dir()
    backing, dev = sparse_disk(loops, tmp_path / "disk", 64 << 20)
    assert commit(domufs, cache, tpl, dev).returncode == 0
    stacked = loops.attach(dev)
    mnt = loops.mount(stacked)
    before = F.sha256_file(os.fsencode(str(backing)))
    res = commit(domufs, cache, tpl, dev, "--force")
    assert res.returncode == 1
    assert_one_error_line(res, dev, "in use", stacked, str(mnt))
    assert (mnt / "etc" / "hostname").read_bytes() == b"small\n"
    loops.umount(mnt)
    assert F.sha256_file(os.fsencode(str(backing))) == before
    # attached but unused, it holds nothing up
    res = commit(domufs, cache, tpl, dev, "--force")
    assert res.returncode == 0, str(res)
    loops.detach(stacked)
    fsck(dev)


def test_tree_errors_come_before_the_old_filesystem_is_wiped(domufs, loops, tmp_path):
    """An xattr too large for the inode and its one xattr block is an error
    of the tree alone: found while planning, the old filesystem kept."""
    tpl = small_template(tmp_path)
    cache = domufs.cache_dir()
    big = tmp_path / "bigxattr.tar"
    with tarfile.open(big, "w", format=tarfile.PAX_FORMAT) as t:
        ti = tarfile.TarInfo("big")
        ti.pax_headers = {"SCHILY.xattr.user.big": "x" * 8000}
        t.addfile(ti, io.BytesIO(b""))
    backing, dev = sparse_disk(loops, tmp_path / "disk", 64 << 20)
    assert commit(domufs, cache, tpl, dev).returncode == 0
    before = F.sha256_file(os.fsencode(str(backing)))
    res = commit(domufs, cache, big, dev, "--force")
    assert res.returncode == 1
    assert_one_error_line(res, "/big", "user.big", "no room")
    assert F.sha256_file(os.fsencode(str(backing))) == before, "the old filesystem was touched"
    fsck(dev)
    # what does fit: a value that fills most of the xattr block
    with tarfile.open(big, "w", format=tarfile.PAX_FORMAT) as t:
        ti = tarfile.TarInfo("f")
        ti.pax_headers = {"SCHILY.xattr.user.a": "a" * 40,
                          "SCHILY.xattr.user.big": "x" * 4000}
        t.addfile(ti, io.BytesIO(b""))
    res = commit(domufs, cache, big, dev, "--force")
    assert res.returncode == 0, str(res)
    fsck(dev)


def test_refuses_existing_filesystem_without_force(domufs, loops, tmp_path):
    tpl = small_template(tmp_path)
    cache = domufs.cache_dir()
    img = tmp_path / "old.img"
    assert commit(domufs, cache, tpl, img).returncode == 0
    before = F.sha256_file(os.fsencode(str(img)))
    res = commit(domufs, cache, tpl, img)
    assert res.returncode == 1
    assert_one_error_line(res, img, "ext2/ext3/ext4 filesystem", "--force")
    assert F.sha256_file(os.fsencode(str(img))) == before
    assert not [x for x in tmp_path.iterdir() if ".domufs-" in x.name]
    assert commit(domufs, cache, tpl, img, "--force").returncode == 0

    # a block device holding a partition table
    backing = tmp_path / "disk"
    with open(backing, "wb") as f:
        f.truncate(64 << 20)
    sh("sfdisk", "-q", backing, input="label: dos\n,,83\n")
    dev = loops.attach(backing)
    res = commit(domufs, cache, tpl, dev)
    assert res.returncode == 1
    assert_one_error_line(res, dev, "partition table", "--force")
    assert 'PTTYPE="dos"' in sh("blkid", "-p", dev).stdout
    res = commit(domufs, cache, tpl, dev, "--force")
    assert res.returncode == 0, str(res)
    fsck(dev)


@pytest.mark.parametrize("kind,what", [
    ("tar", "a tar archive"), ("tar.gz", "gzip-compressed data"),
    ("tar.zst", "zstd-compressed data"), ("tar.xz", "xz-compressed data"),
    ("tar.bz2", "bzip2-compressed data")])
def test_refuses_a_template_as_image_target_without_force(kind, what, domufs, tmp_path):
    """`domufs commit ext4.img tpl.tar.zst`, arguments swapped in a script:
    the template is not overwritten without --force."""
    tpl = small_template(tmp_path)
    cache = domufs.cache_dir()
    target = tmp_path / f"tpl.{kind}"
    if kind == "tar.zst":
        sh("zstd", "-q", tpl, "-o", target)
    else:
        mode = "w" if kind == "tar" else "w:" + kind.split(".")[1]
        with tarfile.open(target, mode) as t:
            t.add(tpl, "small.tar")
    before = F.sha256_file(os.fsencode(str(target)))
    res = commit(domufs, cache, tpl, target)
    assert res.returncode == 1
    assert_one_error_line(res, target, what, "--force")
    assert F.sha256_file(os.fsencode(str(target))) == before
    assert not [x for x in tmp_path.iterdir() if ".domufs-" in x.name]
    # a tarball export replaces a tarball, as it always did
    assert commit(domufs, cache, tpl, target, "--format", "tar").returncode == 0
    assert commit(domufs, cache, tpl, target, "--force").returncode == 0
    fsck(target)


def _md_090(size):
    return (size & ~0xffff) - 0x10000


def _md_10(size):
    return ((size // 512 - 16) & ~7) * 512


@pytest.mark.parametrize("where,magic,what", [
    (_md_090, b"\xfc\x4e\x2b\xa9", "RAID member"),
    (_md_10, b"\xfc\x4e\x2b\xa9", "RAID member"),
    (lambda size: size - 512, b"EFI PART", "GPT partition table")])
def test_refuses_signature_at_the_end_without_force(where, magic, what, domufs, loops,
                                                    tmp_path):
    """md 0.90 and 1.0 superblocks and the GPT backup header live near the
    end of the device, beyond the probe of its start."""
    tpl = small_template(tmp_path)
    cache = domufs.cache_dir()
    size = (64 << 20) + (20 << 10)  # not 64 KiB-aligned: every place differs
    backing = tmp_path / "disk"
    with open(backing, "wb") as f:
        f.truncate(size)
        f.seek(where(size))
        f.write(magic)
    before = F.sha256_file(os.fsencode(str(backing)))
    res = commit(domufs, cache, tpl, backing)
    assert res.returncode == 1
    assert_one_error_line(res, backing, what, "--force")
    dev = loops.attach(backing)
    res = commit(domufs, cache, tpl, dev)
    assert res.returncode == 1
    assert_one_error_line(res, dev, what, "--force")
    loops.detach(dev)
    assert F.sha256_file(os.fsencode(str(backing))) == before
    dev = loops.attach(backing)
    res = commit(domufs, cache, tpl, dev, "--force")
    assert res.returncode == 0, str(res)
    with open(dev, "rb") as f:
        f.seek(where(size))
        assert f.read(len(magic)) != magic, "the old signature was not wiped"
    fsck(dev)


def test_new_image_is_private_and_a_replaced_one_keeps_its_mode(domufs, tmp_path):
    tpl = small_template(tmp_path)
    cache = domufs.cache_dir()
    img = tmp_path / "mode.img"
    assert commit(domufs, cache, tpl, img).returncode == 0
    assert stat.S_IMODE(img.stat().st_mode) == 0o600
    img.chmod(0o640)
    assert commit(domufs, cache, tpl, img, "--force").returncode == 0
    assert stat.S_IMODE(img.stat().st_mode) == 0o640


@pytest.mark.parametrize("fmt", [None, "tar"], ids=["image", "tar"])
def test_replaced_output_keeps_owner_mode_and_acl(fmt, domufs, tmp_path):
    """As cp onto an existing file: a disk image a qemu user or group reads
    stays readable to them; a new tarball is private, as a new image."""
    tpl = small_template(tmp_path)
    cache = domufs.cache_dir()
    out = tmp_path / "out"
    opts = ("--format", fmt) if fmt else ()
    assert commit(domufs, cache, tpl, out, *opts).returncode == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    os.chown(out, 1234, 5678)
    out.chmod(0o660)
    subprocess.run(["setfacl", "-m", "u:4321:rw", str(out)], check=True)
    res = commit(domufs, cache, tpl, out, "--force", *opts)
    assert res.returncode == 0, str(res)
    st = out.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1234, 5678, 0o660)
    acl = subprocess.run(["getfacl", "-cp", str(out)], capture_output=True, text=True).stdout
    assert "user:4321:rw-" in acl, acl


def test_refuses_its_own_template_as_image_target(domufs, tmp_path):
    tpl = small_template(tmp_path)
    before = tpl.read_bytes()
    cache = domufs.cache_dir()
    res = commit(domufs, cache, tpl, tpl, "--force")
    assert res.returncode == 1, str(res)
    assert_one_error_line(res, tpl, "is the template")
    assert tpl.read_bytes() == before
    # a tarball may replace its own template: the next version of it
    res = commit(domufs, cache, tpl, tpl, "--format", "tar")
    assert res.returncode == 0, str(res)
    names = sorted(n.removeprefix("./") for n in tarfile.open(tpl).getnames())
    assert names == [".", "bin", "bin/sh", "etc", "etc/hostname"], names


def test_operands_swapped_leave_the_template_alone(domufs, tmp_path):
    """`commit IMAGE TEMPLATE` (a script's operands swapped): an image is no
    template (it begins with zero blocks, an empty tar to a tar reader)."""
    tpl = small_template(tmp_path)
    before = tpl.read_bytes()
    cache = domufs.cache_dir()
    img = tmp_path / "disk.img"
    assert commit(domufs, cache, tpl, img).returncode == 0
    res = commit(domufs, cache, img, tpl)
    assert res.returncode == 1, str(res)
    assert_one_error_line(res, img, "not a tar archive")
    assert tpl.read_bytes() == before


def test_target_name_of_255_bytes(domufs, tmp_path):
    tpl = small_template(tmp_path)
    cache = domufs.cache_dir()
    for opts in ((), ("--format", "tar")):
        out = tmp_path / ("i" * 251 + (".tar" if opts else ".img"))
        res = commit(domufs, cache, tpl, out, *opts)
        assert res.returncode == 0, str(res)
        assert out.stat().st_size > 0
    assert not [x for x in tmp_path.iterdir() if ".domufs-" in x.name]


def test_tar_export_makes_the_target_checks(domufs, loops, tmp_path):
    """--format writes a new file: the checks of an image target apply to an
    existing OUT, and one that is not a regular file is refused."""
    tpl = small_template(tmp_path)
    cache = domufs.cache_dir()
    img = tmp_path / "old.img"
    assert commit(domufs, cache, tpl, img).returncode == 0
    before = F.sha256_file(os.fsencode(str(img)))
    res = commit(domufs, cache, tpl, img, "--format", "tar")
    assert res.returncode == 1
    assert_one_error_line(res, img, "ext2/ext3/ext4 filesystem", "--force")
    assert F.sha256_file(os.fsencode(str(img))) == before

    # an image backing a mounted loop device: refused even with --force
    dev = loops.attach(img)
    mnt = loops.mount(dev)
    res = commit(domufs, cache, tpl, img, "--force", "--format", "tar")
    assert res.returncode == 1
    assert_one_error_line(res, img, "in use")
    loops.umount(mnt)
    # a block device, and a FIFO: never replaced by a file
    res = commit(domufs, cache, tpl, dev, "--force", "--format", "tar")
    assert res.returncode == 1
    assert_one_error_line(res, dev, "not a regular file")
    assert stat.S_ISBLK(os.stat(dev).st_mode)
    loops.detach(dev)
    assert F.sha256_file(os.fsencode(str(img))) == before
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    res = commit(domufs, cache, tpl, fifo, "--format", "tar.gz")
    assert res.returncode == 1
    assert_one_error_line(res, fifo, "not a regular file")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert not [x for x in tmp_path.iterdir() if ".domufs-" in x.name]

    # an existing tarball is replaced; an image with --force too
    out = tmp_path / "out.tar"
    assert commit(domufs, cache, tpl, out, "--format", "tar").returncode == 0
    assert commit(domufs, cache, tpl, out, "--format", "tar").returncode == 0
    assert commit(domufs, cache, tpl, img, "--force", "--format", "tar").returncode == 0
    assert tarfile.is_tarfile(img)


def test_refuses_too_small_target(data_template, domufs, loops, tmp_path):
    cache = domufs.cache_dir()
    img = tmp_path / "tiny.img"
    res = commit(domufs, cache, data_template, img, "--size", "16M")
    assert res.returncode == 1
    line = assert_one_error_line(res, img, "too small", "needs at least")
    assert not img.exists()
    assert not [x for x in tmp_path.iterdir() if ".domufs-" in x.name]
    needed = int(line.rsplit("(", 1)[1].split(" bytes")[0])
    assert 96 << 20 < needed < 200 << 20, line

    backing, dev = sparse_disk(loops, tmp_path / "disk", 32 << 20)
    res = commit(domufs, cache, data_template, dev)
    assert res.returncode == 1
    assert_one_error_line(res, dev, "too small", "needs at least")
    with open(dev, "rb") as f:
        assert f.read(2 << 20) == bytes(2 << 20), "a refused commit wrote to the device"


def test_enospc_aborts_cleanly(data_template, domufs, tmp_path):
    small = tmp_path / "small-fs"
    small.mkdir()
    sh("mount", "-t", "tmpfs", "-o", "size=24M", "tmpfs", small)
    try:
        cache = domufs.cache_dir()
        img = small / "out.img"
        res = commit(domufs, cache, data_template, img, "--size", "256M")
        assert res.returncode == 1, str(res)
        assert_one_error_line(res, img, "No space left on device")
        assert os.listdir(small) == [], "temporary file left"
    finally:
        sh("umount", small, check=False)


def test_usage_errors(domufs, tmp_path):
    tpl = small_template(tmp_path)
    for args in (["--fs", "xfs"], ["--partition", "gpt"], ["--size", "12X"],
                 ["--uuid", "nope"], ["--label", "x" * 17], ["--format", "zip"],
                 ["--format", "tar", "--fs", "ext4"]):
        res = domufs.run("commit", *args, tpl, tmp_path / "out")
        assert res.returncode == 2, f"{args}: {res}"
        assert len(res.stderr_lines()) == 1, str(res)
    res = domufs.run("commit", tpl, tmp_path / "out", env={"SOURCE_DATE_EPOCH": "soon"})
    assert res.returncode == 2


# ---------------------------------------------------------------- progress

def test_progress_json_lines(bigdir_archive, domufs, tmp_path):
    img = tmp_path / "p.img"
    res = commit(domufs, domufs.cache_dir(), bigdir_archive, img, "--progress=json")
    assert res.returncode == 0, str(res)
    objs = [json.loads(line) for line in res.stderr.splitlines()]
    assert objs and objs[-1]["phase"] == "done", res.stderr
    for o in objs:
        assert {"phase", "entries", "entries_total", "bytes", "bytes_total", "elapsed", "rate",
                "eta"} <= set(o), o
    assert "write" in {o["phase"] for o in objs}


def test_no_progress_when_not_a_terminal(bigdir_archive, domufs, tmp_path):
    cache = domufs.cache_dir()
    assert domufs.index(bigdir_archive, cache).returncode == 0
    res = commit(domufs, cache, bigdir_archive, tmp_path / "q.img")
    assert res.returncode == 0, str(res)
    assert res.stderr == ""
    assert len(res.stdout.splitlines()) == 1


# ---------------------------------------------------------------- tar export

@pytest.mark.parametrize("fmt", ["tar", "tar.gz", "tar.zst"])
def test_tar_export_round_trip(fmt, archive, domufs, tmp_path):
    template = archive("pax-none")
    cache = domufs.cache_dir()
    m1 = domufs.mount(template, cache_dir=cache)
    want = F.snapshot(m1.path)
    want_regions = {p: F.data_regions(m1.b(p)) for p in
                    (b"sparse/holes-everywhere", b"sparse/only-hole", b"sparse/hole-end")}
    m1.unmount()
    out = tmp_path / f"export.{fmt}"
    res = commit(domufs, cache, template, out, "--format", fmt)
    assert res.returncode == 0, str(res)
    assert not [x for x in tmp_path.iterdir() if ".domufs-" in x.name]
    m2 = domufs.mount(out, cache_dir=domufs.cache_dir())
    got = F.snapshot(m2.path)
    diffs = F.compare_trees(want, got, xattrs=True, include_root=True)
    assert not diffs, f"{fmt}: the exported template differs:\n" + fmt_diffs(diffs)
    for p, regions in want_regions.items():
        assert F.data_regions(m2.b(p)) == regions, p
    if fmt == "tar":
        names = [m.name for m in F.tar_members(out)]
        assert names[0] in ("./", "."), names[:3]
        hard = [m for m in F.tar_members(out) if m.islnk()]
        assert len(hard) == 4, [m.name for m in hard]  # b, c, deep-link, pair2
        # GNU tar reads it back the same
        x = F.extract(out, tmp_path / "gnu")
        diffs = F.compare_trees(want, F.snapshot(x), xattrs=True)
        assert not diffs, "GNU tar extraction differs:\n" + fmt_diffs(diffs)


def test_tar_export_reproducible(archive, domufs, tmp_path):
    cache = domufs.cache_dir()
    outs = []
    for i in range(2):
        out = tmp_path / f"e{i}.tar.gz"
        assert commit(domufs, cache, archive("pax-none"), out, "--format", "tar.gz").returncode == 0
        outs.append(out)
    assert outs[0].read_bytes() == outs[1].read_bytes()


# ---------------------------------------------------------------- PyGRUB

GRUB_CFG = b"""set default=0
set timeout=1
menuentry 'Debian GNU/Linux' {
	linux /boot/vmlinuz-6.1.0-x root=/dev/xvda1 ro console=hvc0
	initrd /boot/initrd.img-6.1.0-x
}
"""


@pytest.mark.parametrize("part", ["none", "msdos"])
def test_pygrub_finds_kernel(part, domufs, tmp_path):
    if not os.access(PYGRUB, os.X_OK):
        pytest.skip(f"{PYGRUB} is not installed (xen-utils-4.17)")
    tpl = tar_of(tmp_path, "boot.tar", [
        ("boot", "dir", None, 0o755),
        ("boot/grub", "dir", None, 0o755),
        ("boot/grub/grub.cfg", "file", GRUB_CFG, 0o644),
        ("boot/vmlinuz-6.1.0-x", "file", b"KERNEL" * 1000, 0o644),
        ("boot/initrd.img-6.1.0-x", "file", b"INITRD" * 3000, 0o644),
        ("vmlinuz", "symlink", "boot/vmlinuz-6.1.0-x", 0o777),
    ])
    img = tmp_path / f"boot-{part}.img"
    res = commit(domufs, domufs.cache_dir(), tpl, img, "--partition", part)
    assert res.returncode == 0, str(res)
    r = sh(PYGRUB, "-q", "-n", "--output-format=simple", img, check=False)
    assert r.returncode == 0, r.stderr
    assert "args root=/dev/xvda1 ro console=hvc0" in r.stdout, r.stdout
    outdir = tmp_path / "pygrub-out"
    outdir.mkdir()
    r = sh(PYGRUB, "-q", f"--output-directory={outdir}", "--output-format=simple", img)
    got = dict(line.split(" ", 1) for line in r.stdout.splitlines() if " " in line)
    with open(got["kernel"], "rb") as f:
        assert f.read() == b"KERNEL" * 1000
    with open(got["ramdisk"], "rb") as f:
        assert f.read() == b"INITRD" * 3000
    assert "root=/dev/xvda1" in got["args"]


def test_size_beyond_the_host_file_system_names_the_target(domufs, tmp_path):
    """ext4 files end below 16 TiB: the error names the image, not a
    temporary the user never sees."""
    if subprocess.run(["stat", "-f", "-c", "%T", str(tmp_path)], capture_output=True,
                      text=True).stdout.strip() != "ext2/ext3":
        pytest.skip("needs an ext4 host file system for its 16 TiB file limit")
    tpl = small_template(tmp_path)
    img = tmp_path / "huge.img"
    res = commit(domufs, domufs.cache_dir(), tpl, img, "--size", "16T")
    assert res.returncode == 1, str(res)
    line = assert_one_error_line(res, img)
    assert "too large" in line, line
    assert not img.exists()
    assert not [x for x in tmp_path.iterdir() if ".domufs-" in x.name]
