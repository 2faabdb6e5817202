# SPDX-License-Identifier: LGPL-2.1-or-later
"""Hostile and broken templates.  Hostile member names never reach outside the
mount root (skipped or normalized, with a 'domufs: warning:' line); broken
archives fail `index` and `mount` with exit 1 and one error line naming the
template (and the member or offset where known), leave no mount and no daemon
behind, never poison the cache, and never modify the template."""

import functools
import hashlib
import io
import os
import random
import re
import stat
import subprocess
import tarfile
import uuid

import pytest

import fixtures as F
from conftest import assert_one_error_line, pids_mentioning, wait_pid_gone

TOKEN = uuid.uuid4().hex[:12]
ESCAPE = f"escape-{TOKEN}"
ESCAPE2 = f"escape2-{TOKEN}"
ABSOLUTE = f"absolute-{TOKEN}"


def _add(t, name, kind=tarfile.REGTYPE, data=b"", linkname="", mode=0o644):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = mode
    ti.mtime = 1700000000
    ti.linkname = linkname
    ti.size = len(data) if kind == tarfile.REGTYPE else 0
    t.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def hostile_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        _add(t, "d", tarfile.DIRTYPE, mode=0o755)
        _add(t, "good", data=b"good\n")
        _add(t, "../" + ESCAPE, data=b"escape\n")
        _add(t, "a/../../" + ESCAPE2, data=b"escape2\n")
        _add(t, "/etc/" + ABSOLUTE, data=b"abs\n")
        _add(t, "link-up", tarfile.SYMTYPE, linkname="../../../etc/passwd", mode=0o777)
        _add(t, "link-abs", tarfile.SYMTYPE, linkname="/etc/shadow", mode=0o777)
        _add(t, "hl-missing", tarfile.LNKTYPE, linkname="no-such-member-" + TOKEN)
        _add(t, "hl-up", tarfile.LNKTYPE, linkname="../good")
        _add(t, "after", data=b"after\n")
    data = buf.getvalue()
    # tarfile writes names as given: make sure the archive really holds them
    names = [m.name for m in tarfile.open(fileobj=io.BytesIO(data)).getmembers()]
    assert "../" + ESCAPE in names and "/etc/" + ABSOLUTE in names, names
    return data


def _host_paths_with_token(roots, skip):
    """Host paths whose name contains TOKEN under roots (not entering skip dirs)."""
    found = []
    for root in roots:
        root = str(root)
        if not os.path.isdir(root):
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames
                           if os.path.join(dirpath, d) not in skip and not F.is_mountpoint(os.path.join(dirpath, d))]
            for n in dirnames + filenames:
                if TOKEN in n:
                    found.append(os.path.join(dirpath, n))
    return found


def _shallow_host_paths_with_token(dirs):
    out = []
    for d in dirs:
        try:
            out += [os.path.join(d, n) for n in os.listdir(d) if TOKEN in n]
        except OSError:
            pass
    return out


def test_hostile_names_stay_inside(domufs, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    tpl = work / "hostile.tar"
    tpl.write_bytes(hostile_tar())
    h = F.sha256_file(os.fsencode(str(tpl)))
    cache = work / "cache"

    res = domufs.index(tpl, cache)
    assert res.returncode == 0, str(res)
    assert not res.errors(), f"only warnings expected on stderr\n{res}"
    warnings = res.warnings()
    missing = [what for what, keys in (
        ("../escape", [ESCAPE]), ("a/../../escape2", [ESCAPE2]), ("/etc/absolute", [ABSOLUTE]),
        ("hardlink to a missing member", ["hl-missing", "no-such-member-" + TOKEN]),
        ("hardlink to ../good", ["hl-up", "../good"]),
    ) if not any(any(k in w for k in keys) for w in warnings)]
    assert not missing, f"no 'domufs: warning:' line for: {missing}\n{res}"

    mp = work / "mnt"
    mp.mkdir()
    m = domufs.mount(tpl, mountpoint=mp, cache_dir=work / "cache-cold")
    assert "domufs: warning: " in m.stderr(), "a cold mount indexed hostile names without warnings"
    root = m.b()
    names = set(os.listdir(root))
    for n in names:
        assert b"/" not in n and n not in (b".", b"..", b""), names
    # the rest of the archive is there
    assert open(os.path.join(root, b"good"), "rb").read() == b"good\n"
    assert open(os.path.join(root, b"after"), "rb").read() == b"after\n"
    assert stat.S_ISDIR(os.lstat(os.path.join(root, b"d")).st_mode)
    # absolute names are made relative
    assert open(os.path.join(root, b"etc", ABSOLUTE.encode()), "rb").read() == b"abs\n"
    # symlinks out are symlinks with their targets, never resolved on the host
    for name, target in ((b"link-up", b"../../../etc/passwd"), (b"link-abs", b"/etc/shadow")):
        st = os.lstat(os.path.join(root, name))
        assert stat.S_ISLNK(st.st_mode), f"{name!r} is not a symlink in the mount"
        assert os.readlink(os.path.join(root, name)) == target
        assert st.st_size == len(target)
    # '..' members: skipped, or normalized to the root with their own content
    snap = F.snapshot(m.path)
    for rel, d in snap.items():
        base = os.path.basename(rel)
        if base == ESCAPE.encode():
            assert rel == base and d.get("sha256") == hashlib.sha256(b"escape\n").hexdigest(), rel
        if base == ESCAPE2.encode():
            assert rel == base and d.get("sha256") == hashlib.sha256(b"escape2\n").hexdigest(), rel
    if b"hl-up" in snap:
        assert snap[b"hl-up"]["ino"] == snap[b"good"]["ino"], "hl-up resolved to something else than good"
    # nothing appeared on the host
    leaked = _host_paths_with_token([tmp_path], skip={str(mp)})
    leaked += _shallow_host_paths_with_token(["/", "/etc", "/tmp", os.getcwd(), str(tmp_path.parent),
                                              str(tmp_path.parent.parent)])
    assert not leaked, f"hostile members written outside the mount: {leaked}"
    assert F.sha256_file(os.fsencode(str(tpl))) == h


def test_names_no_tree_can_hold_are_skipped_with_a_warning(domufs, tmp_path):
    """A name over 255 bytes (the mount could list it but not use it, no
    commit could write it) and an overlay whiteout name (.wh.X, as container
    layers carry them: the writable view would take it for a deletion)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in (("etc/passwd", b"root:x:0:0\n"), ("etc/.wh.passwd", b""),
                           ("n" * 255, b"ok\n"), ("m" * 256, b"long\n"),
                           ("d/" + "m" * 256 + "/f", b"below\n")):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    tpl = tmp_path / "t.tar"
    tpl.write_bytes(buf.getvalue())
    res = domufs.index(tpl)
    assert res.returncode == 0, str(res)
    w = res.warnings()
    assert any(".wh.passwd" in x and "whiteout" in x for x in w), str(res)
    assert sum("longer than 255 bytes" in x for x in w) == 2, str(res)
    ov = tmp_path / "ov"
    ov.mkdir()
    m = domufs.mount(tpl, extra=["--overlay", str(ov)])
    assert sorted(os.listdir(m.b(b"etc"))) == [b"passwd"]
    assert sorted(os.listdir(m.b())) == sorted([b"etc", b"n" * 255])
    with open(m.b(b"etc/passwd"), "ab") as f:
        f.write(b"daemon:x:1:1\n")
    assert not m.unmount()
    out = tmp_path / "out.tar"
    res = domufs.run("commit", "--cache-dir", domufs.cache_dir(), "--overlay", ov,
                     "--format", "tar", tpl, out)
    assert res.returncode == 0, str(res)
    got = tarfile.open(out)
    assert got.extractfile("./etc/passwd").read() == b"root:x:0:0\ndaemon:x:1:1\n"


def test_benign_non_canonical_names_match_extraction(domufs, tmp_path, extracted):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        _add(t, "./", tarfile.DIRTYPE, mode=0o755)
        _add(t, "./a", data=b"a\n")
        _add(t, "b/", tarfile.DIRTYPE, mode=0o750)
        _add(t, "b/./x", data=b"x\n")
        _add(t, "b//y", data=b"y\n")
        _add(t, "./b/z", data=b"z\n")
        _add(t, "c/d/e", data=b"implicit parents\n")
        _add(t, "l", tarfile.LNKTYPE, linkname="./a")
    tpl = tmp_path / "odd.tar"
    tpl.write_bytes(buf.getvalue())
    want = F.snapshot(extracted(tpl))
    m = domufs.mount(tpl)
    got = F.snapshot(m.path)
    # implicit directories (c, c/d) get synthesized attributes: compare only what the archive says
    for p in (b"c", b"c/d"):
        assert p in got and stat.S_ISDIR(got[p]["type"])
        want.pop(p, None)
        got.pop(p, None)
    # GNU tar restores b's mtime too early (it does not see that 'b/./x' is in b),
    # so the extraction's mtime of b is the time of extraction: use the member's
    assert got[b"b"]["mtime_ns"] == 1700000000 * 10**9
    want[b"b"]["mtime_ns"] = 1700000000 * 10**9
    diffs = F.compare_trees(want, got)
    assert not diffs, "\n".join(diffs)


# ---------------------------------------------------------------- broken archives

def _base_tar():
    """ustar archive: first (1000 B), second (200000 random B), third (100 B); and offsets."""
    buf = io.BytesIO()
    rnd = random.Random(42)
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        _add(t, "first", data=b"1" * 1000)
        _add(t, "second", data=rnd.randbytes(200000))
        _add(t, "third", data=b"3" * 100)
    data = buf.getvalue()
    offs = {m.name: (m.offset, m.offset_data) for m in tarfile.open(fileobj=io.BytesIO(data)).getmembers()}
    return data, offs


def _pax_tar():
    """pax archive: first, then second with an extended header (a 200-byte
    name and an xattr), then third; the extended header's offset."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        _add(t, "first", data=b"1" * 1000)
        info = tarfile.TarInfo("d/" + "s" * 198)
        info.size = 5
        info.pax_headers = {"SCHILY.xattr.user.tag": "second"}
        t.addfile(info, io.BytesIO(b"2" * 5))
        _add(t, "third", data=b"3" * 100)
    data = buf.getvalue()
    ext = data.index(b"././@PaxHeader")  # the name field of the 'x' header
    assert ext % 512 == 0 and data[ext + 156:ext + 157] == b"x"
    return data, ext


def _pax_record_broken(what: str) -> bytes:
    """The pax archive with one record of the second member's extended
    header broken as GNU tar and bsdtar refuse: its length digits, or the
    '=' between keyword and value."""
    data, ext = _pax_tar()
    b = bytearray(data)
    body = ext + 512
    if what == "length":
        b[body] = ord("x")
    else:
        rec = data.index(b"SCHILY.xattr.user.tag=", body)
        b[rec + len("SCHILY.xattr.user.tag")] = ord(" ")
    return bytes(b)


def _compress(data: bytes, comp: str) -> bytes:
    return subprocess.run(F.COMPRESSORS[comp], input=data, stdout=subprocess.PIPE, check=True).stdout


def _flip(data: bytes, start: int, n: int) -> bytes:
    b = bytearray(data)
    for i in range(start, start + n):
        b[i] ^= 0x55
    return bytes(b)


@functools.lru_cache(maxsize=None)
def _bad_cases():
    tar, offs = _base_tar()
    second_hdr, second_data = offs["second"]
    third_hdr, _ = offs["third"]
    cut_data = tar[: second_data + 100000]
    cut_header = tar[: third_hdr + 200]
    gz_full = _compress(tar, "gz")
    zst_full = _compress(tar, "zst")
    xz_full = _compress(tar, "xz")
    bz2_full = _compress(tar, "bz2")
    garbage = random.Random(7).randbytes(65536)
    assert not any(garbage.startswith(mg) for mg, _ in F._MAGIC)
    # keys: suffix, bytes, strings of which the error line must contain one (besides the path)
    # the member, its header or data offset, or the offset where the input ends
    in_data = ["second", str(second_hdr), str(second_data), str(len(cut_data))]
    in_header = ["second", "third", str(third_hdr), hex(third_hdr), str(len(cut_header))]
    bad_sum = ["second", str(second_hdr), hex(second_hdr)]
    pax_ext = _pax_tar()[1]
    pax_hdr = ["extended header", str(pax_ext)]
    return {
        "tar-cut-in-data": (".tar", cut_data, in_data),
        "tar-cut-in-header": (".tar", cut_header, in_header),
        "gz-of-tar-cut-in-data": (".tar.gz", _compress(cut_data, "gz"), in_data),
        "zst-of-tar-cut-in-data": (".tar.zst", _compress(cut_data, "zst"), in_data),
        "zst-of-tar-cut-in-header": (".tar.zst", _compress(cut_header, "zst"), in_header),
        "gz-stream-truncated": (".tar.gz", gz_full[: len(gz_full) * 6 // 10], []),
        "zst-stream-truncated": (".tar.zst", zst_full[: len(zst_full) * 6 // 10], []),
        "xz-stream-truncated": (".tar.xz", xz_full[: len(xz_full) * 6 // 10], []),
        "bz2-stream-truncated": (".tar.bz2", bz2_full[: len(bz2_full) * 6 // 10], []),
        "checksum-first-header": (".tar", _flip(tar, 148, 3), []),
        "checksum-second-header": (".tar", _flip(tar, second_hdr + 148, 3), bad_sum),
        "garbage": (".tar", garbage, []),
        "garbage-with-gzip-magic": (".tar.gz", b"\x1f\x8b\x08\x00" + garbage, []),
        "empty-file": (".tar", b"", []),
        "gz-corrupt-stream": (".tar.gz", _flip(gz_full, len(gz_full) // 2, 32), []),
        "zst-corrupt-stream": (".tar.zst", _flip(zst_full, len(zst_full) // 2, 32), []),
        # libarchive only warns and drops the record set: name, xattrs lost
        "pax-record-length": (".tar", _pax_record_broken("length"), pax_hdr),
        "pax-record-keyword": (".tar.zst", _compress(_pax_record_broken("keyword"), "zst"),
                               pax_hdr),
        # zero blocks first, as a file system image or a disk begins
        "no-member": (".tar", bytes(10240), ["not a tar archive"]),
        "sparse-map-beyond-data": (".tar", _sparse_beyond(), ["'sp'"]),
    }


def _sparse_beyond():
    """An old GNU sparse member whose map claims 5000 bytes, 512 stored."""
    h = bytearray(512)
    h[0:2] = b"sp"
    h[100:108] = b"0000644\0"
    h[108:124] = b"0000000\0" * 2
    h[124:136] = b"%011o\0" % 512
    h[136:148] = b"00000000000\0"
    h[156:157] = b"S"
    h[257:265] = b"ustar  \0"
    h[386:410] = b"%011o\0%011o\0" % (0, 5000)
    h[483:495] = b"%011o\0" % 5000
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h) + b"x" * 512 + bytes(1024)


BAD_IDS = ["tar-cut-in-data", "tar-cut-in-header", "gz-of-tar-cut-in-data", "zst-of-tar-cut-in-data",
           "zst-of-tar-cut-in-header", "gz-stream-truncated", "zst-stream-truncated", "xz-stream-truncated",
           "bz2-stream-truncated", "checksum-first-header", "checksum-second-header", "garbage",
           "garbage-with-gzip-magic", "empty-file", "gz-corrupt-stream", "zst-corrupt-stream",
           "pax-record-length", "pax-record-keyword", "no-member", "sparse-map-beyond-data"]


def _check_error(res, tpl, where):
    assert res.returncode == 1, f"expected exit 1\n{res}"
    line = assert_one_error_line(res, tpl)
    assert not re.search(r"(byte|offset)s? -\d", line), f"negative offset in the error line\n{res}"
    if where:
        rest = line.replace(str(tpl), "")
        assert any(w in rest for w in where), f"error line names none of {where}\n{res}"
    return line


def test_bad_case_list_is_complete():
    assert sorted(BAD_IDS) == sorted(_bad_cases())


@pytest.mark.parametrize("case", BAD_IDS)
def test_broken_archive_fails_cleanly(case, domufs, tmp_path):
    suffix, data, where = _bad_cases()[case]
    tpl = tmp_path / ("bad" + suffix)
    tpl.write_bytes(data)
    before = hashlib.sha256(data).hexdigest()

    cache = domufs.cache_dir()
    _check_error(domufs.index(tpl, cache), tpl, where)
    # a failed index must not leave a cache entry that a second run trusts
    _check_error(domufs.index(tpl, cache), tpl, where)
    # nor anything else: its lock file goes too
    assert os.listdir(cache) == [], os.listdir(cache)

    mp = domufs.mountpoint()
    res = domufs.mount_bg(tpl, mp, cache_dir=cache)
    _check_error(res, tpl, where)
    assert not F.is_mountpoint(mp), f"{mp} left mounted"
    for pid in pids_mentioning(str(mp)):
        assert wait_pid_gone(pid, 30), f"daemon {pid} left running for {mp}"
    assert os.listdir(mp) == []
    assert hashlib.sha256(tpl.read_bytes()).hexdigest() == before, "template modified"


@pytest.mark.parametrize("case", ["tar-cut-in-data", "zst-stream-truncated", "checksum-second-header", "empty-file"])
def test_broken_archive_foreground_mount_never_ready(case, domufs, tmp_path):
    suffix, data, where = _bad_cases()[case]
    tpl = tmp_path / ("bad" + suffix)
    tpl.write_bytes(data)
    m = domufs.start_mount(tpl)
    ok, why = domufs.wait_ready(m)
    assert not ok, "ready signalled for a broken template"
    rc = m.proc.wait(timeout=30)
    m.finished = True
    lines = [x for x in m.stderr().splitlines() if x.strip()]
    assert rc == 1, (rc, lines)
    assert len(lines) == 1 and lines[0].startswith("domufs: ") and str(tpl) in lines[0], lines
    assert not m.check_exit(None)
    assert not F.is_mountpoint(m.path)


@pytest.mark.parametrize("comp", ["none", "zst"])
def test_cut_at_a_member_boundary_is_warned_about(comp, domufs, tmp_path):
    """GNU tar and libarchive take the input's end at a header as the end of
    the archive; domufs does too, but says the end marker is missing."""
    tar, offs = _base_tar()
    third_hdr, _ = offs["third"]
    cut = tar[:third_hdr]
    tpl = tmp_path / ("cut.tar" + ("" if comp == "none" else ".zst"))
    tpl.write_bytes(cut if comp == "none" else _compress(cut, comp))
    res = domufs.index(tpl, domufs.cache_dir())
    assert res.returncode == 0, str(res)
    assert res.errors() == [], str(res)
    w = res.warnings()
    assert len(w) == 1 and "end-of-archive" in w[0] and "'second'" in w[0] \
        and str(third_hdr) in w[0], str(res)
    # the whole archive, end marker and all, indexes without a word
    whole = tmp_path / "whole.tar"
    whole.write_bytes(tar)
    res = domufs.index(whole, domufs.cache_dir())
    assert res.returncode == 0 and res.stderr == "", str(res)


def test_broken_then_fixed_template_is_reindexed(domufs, tmp_path):
    """A template that failed to index and is then replaced by a good one mounts fine."""
    suffix, data, _ = _bad_cases()["tar-cut-in-data"]
    tpl = tmp_path / "t.tar"
    tpl.write_bytes(data)
    cache = domufs.cache_dir()
    assert domufs.index(tpl, cache).returncode == 1
    good, _ = _base_tar()
    tpl.write_bytes(good)
    res = domufs.index(tpl, cache)
    assert res.returncode == 0, str(res)
    m = domufs.mount(tpl, cache_dir=cache)
    assert open(m.b(b"second"), "rb").read() == good[_base_tar()[1]["second"][1]:][:200000]
    assert open(m.b(b"third"), "rb").read() == b"3" * 100


def test_zstd_skippable_frames_and_concatenation_read_as_zstd_does(domufs, tmp_path):
    """Skippable frames (before, between, after) and frames without a
    content checksum are valid zstd: the template mounts as `zstd -dc`
    reads it. A checksum mismatch in the last frame is an error, found
    because the stream is read to its end after the tar end marker."""
    tar, _ = _base_tar()
    half = len(tar) // 2 // 512 * 512

    def skippable(payload: bytes) -> bytes:
        return (0x184D2A5A).to_bytes(4, "little") + len(payload).to_bytes(4, "little") + payload

    good = (skippable(b"lead") + _compress(tar[:half], "zst") + skippable(b"") +
            subprocess.run(["zstd", "-q", "-c", "--no-check"], input=tar[half:],
                           stdout=subprocess.PIPE, check=True).stdout + skippable(b"tail" * 10))
    ref = subprocess.run(["zstd", "-dc"], input=good, stdout=subprocess.PIPE, check=True).stdout
    assert ref == tar
    tpl = tmp_path / "odd.tar.zst"
    tpl.write_bytes(good)
    res = domufs.index(tpl, domufs.cache_dir())
    assert res.returncode == 0, res
    m = domufs.mount(tpl)
    try:
        assert (m / "first").read_bytes() == b"1" * 1000
        assert (m / "third").read_bytes() == b"3" * 100
        assert (m / "second").read_bytes() == tar[_base_tar()[1]["second"][1]:][:200000]
    finally:
        assert not m.unmount()

    # the last frame's XXH64 checksum (its last 4 bytes) made wrong
    framed = _compress(tar, "zst")
    bad = framed[:-4] + bytes(b ^ 0xFF for b in framed[-4:])
    assert subprocess.run(["zstd", "-t", "-q"], input=bad, capture_output=True).returncode != 0
    tpl2 = tmp_path / "badsum.tar.zst"
    tpl2.write_bytes(bad)
    line = _check_error(domufs.index(tpl2, domufs.cache_dir()), tpl2, [])
    assert "zstd" in line or "checksum" in line.lower(), line


def _many_tar(n: int, size: int, seed: int) -> bytes:
    """ustar archive of n members m00.. of size random (incompressible) bytes each."""
    buf = io.BytesIO()
    rnd = random.Random(seed)
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for i in range(n):
            _add(t, f"m{i:02d}", data=rnd.randbytes(size))
    return buf.getvalue()


@pytest.mark.parametrize("shape", ["large", "small"])
@pytest.mark.parametrize("comp", ["gz", "xz", "zst"])
def test_truncated_stream_error_names_the_member_it_breaks_off_in(comp, shape, domufs, tmp_path):
    """A compressed template cut in half: the error line names the member
    GNU tar lists last (the one whose header the stream still holds), or a
    header at byte 0 when nothing at all decompresses. All that decompresses
    reaches the parser before the error does: the zstd source used to drop
    the buffer it was filling when the stream broke off (up to 1 MiB, so the
    line named a member up to five before), and libarchive's xz filter drops
    its output, so a small cut .tar.xz said 'header at byte 0'."""
    n, size = (24, 200000) if shape == "large" else (30, 3000)
    data = _compress(_many_tar(n, size, 11), comp)
    tpl = tmp_path / ("cut" + F.SUFFIX[comp])
    tpl.write_bytes(data[: len(data) // 2])
    r = subprocess.run(["tar", "-tf", str(tpl)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert r.returncode != 0, r
    listed = r.stdout.split()
    if comp != "zst" or shape == "large":
        assert len(listed) > 2, r   # the cut is well inside the archive
    line = _check_error(domufs.index(tpl, domufs.cache_dir()), tpl, [])
    assert "truncated" in line, line
    if listed:
        assert f"'{listed[-1]}'" in line, (listed[-3:], line)
    else:
        assert "header at byte 0" in line, line


def test_xz_blocks_and_stream_padding_read_as_xz_does(domufs, tmp_path):
    """xz -T writes many blocks; streams may be concatenated and followed by
    stream padding (zero bytes in fours): all valid, read as xz -d reads it.
    A flipped byte in a block's check is an error naming xz."""
    tar = _many_tar(6, 50000, 5)
    blocks = subprocess.run(["xz", "-T2", "--block-size=40000", "-c"], input=tar,
                            stdout=subprocess.PIPE, check=True).stdout
    half = len(tar) // 2 // 512 * 512
    good = (_compress(tar[:half], "xz") + b"\0" * 8 + subprocess.run(
        ["xz", "-T2", "--block-size=40000", "-c"], input=tar[half:], stdout=subprocess.PIPE,
        check=True).stdout + b"\0" * 4)
    assert subprocess.run(["xz", "-dc"], input=good, stdout=subprocess.PIPE, check=True).stdout == tar
    for name, data in (("blocks.tar.xz", blocks), ("padded.tar.xz", good)):
        tpl = tmp_path / name
        tpl.write_bytes(data)
        m = domufs.mount(tpl)
        try:
            with tarfile.open(fileobj=io.BytesIO(tar)) as t:
                for mem in t.getmembers():
                    assert (m / mem.name).read_bytes() == t.extractfile(mem).read(), mem.name
        finally:
            assert not m.unmount()
    # the CRC64 of the last block of the first stream: the 8 bytes before its index
    bad = bytearray(blocks)
    (tmp_path / "blocks.xz").write_bytes(blocks)
    r = subprocess.run(["xz", "--robot", "--list", "-vv", str(tmp_path / "blocks.xz")], capture_output=True)
    assert r.returncode == 0, r
    last_block = [ln.split("\t") for ln in r.stdout.decode().splitlines() if ln.startswith("block")][-1]
    # robot block line: block, stream, block number, comp. offset, uncomp. offset, comp. size, ...
    end = int(last_block[4]) + int(last_block[6])
    bad[end - 1] ^= 0xFF
    assert subprocess.run(["xz", "-t"], input=bytes(bad), capture_output=True).returncode != 0
    tpl = tmp_path / "badcheck.tar.xz"
    tpl.write_bytes(bytes(bad))
    line = _check_error(domufs.index(tpl, domufs.cache_dir()), tpl, [])
    assert "xz data corrupt" in line, line


def test_gzip_data_error_names_the_member_it_breaks_off_in(domufs, tmp_path):
    """Damaged deflate data that zlib rejects (not just a CRC mismatch at the
    end): what inflate produced before the damage in the same call reaches
    the parser first, so the line names the member GNU tar lists last; it
    used to be dropped (up to 1 MiB), naming a member before."""
    rnd = random.Random(3)
    words = ["".join(rnd.choice("abcdefghij") for _ in range(rnd.randint(2, 9))) for _ in range(5000)]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for i in range(40):
            _add(t, f"t{i:02d}", data=" ".join(rnd.choice(words) for _ in range(40000)).encode())
    gz = _compress(buf.getvalue(), "gz")
    tpl = tmp_path / "damaged.tar.gz"
    for frac in range(20, 80, 3):
        at = len(gz) * frac // 100
        damaged = gz[:at] + b"\xff" * 256 + gz[at + 256:]
        tpl.write_bytes(damaged)
        r = subprocess.run(["gzip", "-t", str(tpl)], capture_output=True, text=True)
        if "format violated" in r.stderr:
            break
    else:
        pytest.fail("no damage that zlib itself rejects")
    r = subprocess.run(["tar", "-tzf", str(tpl)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    listed = r.stdout.split()
    assert r.returncode != 0 and len(listed) > 2, r
    line = _check_error(domufs.index(tpl, domufs.cache_dir()), tpl, [])
    assert "gzip data corrupt" in line and f"'{listed[-1]}'" in line, (listed[-3:], line)
