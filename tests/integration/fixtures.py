# SPDX-License-Identifier: LGPL-2.1-or-later
"""Test-time fixture builders for the domufs integration tests.

Reads the text recipes in tests/data/ into a staging tree, packs that tree with
GNU tar in several formats and compressions, extracts archives with GNU tar as
the oracle, and snapshots/compares trees entry by entry.  Paths are bytes
throughout (names may be non-UTF-8).  No domufs code here: conftest.py runs it.
"""

import hashlib
import os
import random
import re
import shutil
import stat
import subprocess
import tarfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
MKTEMPLATE = Path(__file__).resolve().parent.parent.parent / "scripts" / "mktemplate"


def mktemplate(recipe, out) -> Path:
    """Builds template @out from @recipe with scripts/mktemplate; a failure fails the test."""
    r = subprocess.run([str(MKTEMPLATE), str(recipe), str(out)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert r.returncode == 0, f"mktemplate {recipe} failed:\n{r.stderr}"
    return Path(out)

# ustar header limits (GNU tar refuses or splits past these; keep the subset simple)
USTAR_MAX_NAME = 99
USTAR_MAX_ID = 0o7777777
USTAR_MAX_TIME = 0o77777777777


# --------------------------------------------------------------------------
# recipes

_MACRO = re.compile(r"\{([^{}*]*)\*(\d+)\}")


def expand(token: str) -> bytes:
    """Expand {TEXT*N} macros (innermost first), then %XX escapes, to bytes."""
    while True:
        new = _MACRO.sub(lambda m: m.group(1) * int(m.group(2)), token)
        if new == token:
            break
        token = new
    return urllib.parse.unquote_to_bytes(token)


@dataclass
class Entry:
    kind: str
    path: bytes
    attrs: dict = field(default_factory=dict)
    flags: set = field(default_factory=set)


def parse_recipe(text: str) -> list:
    entries = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        tokens = line.split()
        if len(tokens) < 2:
            raise ValueError(f"recipe line {lineno}: need KIND PATH")
        kind, path = tokens[0], expand(tokens[1])
        e = Entry(kind, path)
        for tok in tokens[2:]:
            if "=" in tok:
                k, v = tok.split("=", 1)
                e.attrs[k] = v
            else:
                e.flags.add(tok)
        entries.append(e)
    return entries


def load_recipe(name: str) -> list:
    return parse_recipe((DATA_DIR / name).read_text(encoding="utf-8"))


def _value(v: str) -> bytes:
    if v.startswith("hex:"):
        return bytes.fromhex(v[4:])
    return expand(v)


def _mtime_ns(v: str) -> int:
    neg = v.startswith("-")
    if neg:
        v = v[1:]
    sec, _, frac = v.partition(".")
    ns = int(sec) * 10**9 + int((frac + "000000000")[:9])
    return -ns if neg else ns


def _fill(length: int, off: int) -> bytes:
    """Non-zero bytes for a sparse data region (so no block looks like a hole)."""
    unit = b"sparse-data@%d;" % off
    return (unit * (length // len(unit) + 1))[:length]


@dataclass
class Stage:
    root: Path
    entries: list
    sparse: dict          # path bytes -> (size, [(off, len), ...])

    def rootb(self) -> bytes:
        return os.fsencode(str(self.root))

    def abspath(self, rel: bytes) -> bytes:
        return os.path.join(self.rootb(), rel)


def _makedirs(p: bytes):
    os.makedirs(p, mode=0o755, exist_ok=True)


def build_stage(recipe_name: str, dest: Path) -> Stage:
    """Create the tree described by the recipe under dest (which must not exist)."""
    entries = load_recipe(recipe_name)
    dest.mkdir(mode=0o755)
    os.chmod(dest, 0o755)
    rootb = os.fsencode(str(dest))
    sparse = {}

    def ap(rel):
        return os.path.join(rootb, rel)

    # 1. everything but hardlinks
    for e in entries:
        p = ap(e.path)
        if e.kind != "dir":
            _makedirs(os.path.dirname(p))
        if e.kind == "dir":
            _makedirs(p)
        elif e.kind == "file":
            if "random" in e.attrs:
                data = random.Random(int(e.attrs.get("seed", "0"))).randbytes(int(e.attrs["random"]))
            else:
                data = _value(e.attrs.get("text", ""))
            with open(p, "wb") as f:
                f.write(data)
        elif e.kind == "sparse":
            size = int(e.attrs["size"])
            regions = []
            if e.attrs.get("data"):
                for r in e.attrs["data"].split(","):
                    off, ln = (int(x) for x in r.split("+"))
                    regions.append((off, ln))
            with open(p, "wb") as f:
                f.truncate(size)
                for off, ln in regions:
                    f.seek(off)
                    f.write(_fill(ln, off))
            sparse[e.path] = (size, regions)
        elif e.kind == "symlink":
            os.symlink(_value(e.attrs["target"]), p)
        elif e.kind in ("chr", "blk"):
            major, minor = (int(x) for x in e.attrs["rdev"].split(","))
            ftype = stat.S_IFCHR if e.kind == "chr" else stat.S_IFBLK
            os.mknod(p, ftype | 0o600, os.makedev(major, minor))
        elif e.kind == "fifo":
            os.mkfifo(p, 0o600)
        elif e.kind == "many":
            _makedirs(p)
            for i in range(int(e.attrs["count"])):
                with open(os.path.join(p, b"f%05d" % i), "wb") as f:
                    f.write(b"%d\n" % i)
        elif e.kind == "hardlink":
            pass
        else:
            raise ValueError(f"unknown recipe kind {e.kind!r}")

    # 2. hardlinks
    for e in entries:
        if e.kind == "hardlink":
            p = ap(e.path)
            _makedirs(os.path.dirname(p))
            os.link(ap(_value(e.attrs["target"])), p)

    # 3. owners, modes, ACLs, xattrs, capabilities (chown clears setuid bits
    #    and security.capability, so it goes first)
    for e in entries:
        p = ap(e.path)
        a = e.attrs
        if "uid" in a or "gid" in a:
            os.chown(p, int(a.get("uid", "0")), int(a.get("gid", "0")), follow_symlinks=False)
        if "mode" in a and e.kind != "symlink":
            os.chmod(p, int(a["mode"], 8))
        if "acl" in a:
            subprocess.run(["setfacl", "-m", a["acl"], p], check=True)
        if "dacl" in a:
            subprocess.run(["setfacl", "-d", "-m", a["dacl"], p], check=True)
        for k, v in a.items():
            if k.startswith("xattr."):
                os.setxattr(p, k[len("xattr."):], _value(v), follow_symlinks=False)
        if "cap" in a:
            subprocess.run(["setcap", a["cap"], p], check=True)

    # 4. mtimes, last (atime = mtime, so it is deterministic too)
    for e in entries:
        if "mtime" in e.attrs:
            ns = _mtime_ns(e.attrs["mtime"])
            os.utime(ap(e.path), ns=(ns, ns), follow_symlinks=False)
    os.utime(dest, ns=(1000000000_000000007, 1000000000_000000007))
    return Stage(dest, entries, sparse)


def ustar_members(stage: Stage) -> list:
    """Relative paths (bytes) of the stage that a ustar archive can hold."""
    excluded_prefixes = []
    for e in stage.entries:
        bad = "noustar" in e.flags or e.kind == "sparse"
        for k in ("uid", "gid"):
            if int(e.attrs.get(k, "0")) > USTAR_MAX_ID:
                bad = True
        if "mtime" in e.attrs:
            ns = _mtime_ns(e.attrs["mtime"])
            if ns < 0 or ns // 10**9 > USTAR_MAX_TIME:
                bad = True
        if "target" in e.attrs and len(_value(e.attrs["target"])) > USTAR_MAX_NAME:
            bad = True
        if bad:
            excluded_prefixes.append(e.path)
    out = []
    rootb = stage.rootb()
    for dirpath, dirnames, filenames in os.walk(rootb):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, rootb)
            if len(rel) + 1 > USTAR_MAX_NAME:
                continue
            if any(rel == x or rel.startswith(x + b"/") for x in excluded_prefixes):
                continue
            out.append(rel)
    # drop anything whose parent directory was dropped
    kept = set(out)
    out = [r for r in out if os.path.dirname(r) in kept or os.path.dirname(r) == b""]
    # depth-first, each directory followed by its contents (as tar's own recursion),
    # so that GNU tar's delayed directory mtimes are restored on extraction
    return sorted(out, key=lambda r: r.split(b"/"))


# --------------------------------------------------------------------------
# archives

TAR_X_ARGS = ["--xattrs", "--xattrs-include=*", "--acls"]


def make_tar(src_root: Path, out: Path, fmt: str, *, members=None, dot=False,
             sparse_version=None, append=False):
    """Pack src_root with GNU tar into the uncompressed tar `out`.

    members: list of relative bytes paths (packed with --no-recursion), else
    every top-level entry (recursing), or '.' when dot is true.
    """
    args = ["tar", f"--format={fmt}", "--numeric-owner", "--sort=name", "-C", str(src_root)]
    if fmt == "pax" or fmt == "posix":
        args += TAR_X_ARGS
    if fmt != "ustar":
        args += ["--sparse"]
        if sparse_version:
            args += [f"--sparse-version={sparse_version}"]
    args += ["-rf" if append else "-cf", str(out)]
    if members is not None:
        listing = b"\0".join(members) + b"\0"
        args += ["--no-recursion", "--null", "-T", "-"]
    elif dot:
        listing = None
        args += ["."]
    else:
        listing = b"\0".join(sorted(os.listdir(os.fsencode(str(src_root))))) + b"\0"
        args += ["--null", "-T", "-"]
    r = subprocess.run(args, input=listing, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise RuntimeError(f"{args} failed ({r.returncode}): {r.stderr.decode(errors='replace')}")
    return out


COMPRESSORS = {
    "none": None,
    "gz": ["gzip", "-n", "-6", "-c"],
    "xz": ["xz", "-T1", "-3", "-c"],
    "zst": ["zstd", "-q", "-3", "-c"],
    "bz2": ["bzip2", "-9", "-c"],
}
SUFFIX = {"none": ".tar", "gz": ".tar.gz", "xz": ".tar.xz", "zst": ".tar.zst", "bz2": ".tar.bz2"}


def compress(tar: Path, comp: str, out: Path = None, *, pieces: int = 1) -> Path:
    """Compress tar with comp into out; pieces > 1 concatenates independently
    compressed chunks (multi-member gzip, multi-frame zstd, multi-stream xz)."""
    if comp == "none":
        if out is not None and out != tar:
            shutil.copyfile(tar, out)
            return out
        return tar
    if out is None:
        out = tar.with_name(tar.name[: -len(".tar")] + SUFFIX[comp])
    data = tar.read_bytes()
    step = max(1, -(-len(data) // pieces))
    with open(out, "wb") as f:
        for i in range(0, len(data), step):
            r = subprocess.run(COMPRESSORS[comp], input=data[i:i + step], stdout=subprocess.PIPE, check=True)
            f.write(r.stdout)
    return out


def extract(archive: Path, dest: Path) -> Path:
    """The oracle: GNU tar extraction as root, owners/devices/xattrs/ACLs restored."""
    dest.mkdir(parents=True)
    args = ["tar"] + TAR_X_ARGS + ["--numeric-owner", "-xpf", str(archive), "-C", str(dest)]
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise RuntimeError(f"{args} failed ({r.returncode}): {r.stderr.decode(errors='replace')}")
    return dest


def tar_members(tar: Path) -> list:
    with tarfile.open(tar, "r:*") as t:
        return t.getmembers()


# --------------------------------------------------------------------------
# snapshots and comparison

def sh(*args, check=True, **kw):
    """Runs a command, text output captured; with check, fails the test on a non-zero exit."""
    r = subprocess.run([str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} failed ({r.returncode}):\n"
                             f"{r.stdout}\n{r.stderr}")
    return r


def e2fsck_clean(fs):
    """e2fsck -fn finds nothing to fix (exit 0)."""
    r = sh("e2fsck", "-fn", fs, check=False)
    assert r.returncode == 0, f"e2fsck -fn {fs}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"


def debugfs_cat(fs, path: str) -> str:
    return sh("debugfs", "-R", f"cat {path}", fs).stdout


def sha256_file(path: bytes) -> str:
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def read_xattrs(path: bytes) -> dict:
    out = {}
    for name in os.listxattr(path, follow_symlinks=False):
        out[name] = os.getxattr(path, name, follow_symlinks=False)
    return out


def describe(path: bytes, rel: bytes, *, content=True, xattrs=True) -> dict:
    st = os.lstat(path)
    fmt = stat.S_IFMT(st.st_mode)
    d = {
        "type": fmt,
        "mode": oct(stat.S_IMODE(st.st_mode)),
        "uid": st.st_uid,
        "gid": st.st_gid,
        "mtime_ns": st.st_mtime_ns,
        "ino": st.st_ino,
        "nlink": st.st_nlink,
        "blocks": st.st_blocks,
        "size": st.st_size,
    }
    if fmt in (stat.S_IFCHR, stat.S_IFBLK):
        d["rdev"] = (os.major(st.st_rdev), os.minor(st.st_rdev))
    if fmt == stat.S_IFLNK:
        d["target"] = os.readlink(path)
    if fmt == stat.S_IFREG and content:
        d["sha256"] = sha256_file(path)
    if xattrs:
        d["xattrs"] = read_xattrs(path)
    return d


def snapshot(root, *, content=True, xattrs=True) -> dict:
    """Map relative path (bytes; b'.' for the root) -> attributes, via lstat."""
    rootb = os.fsencode(str(root))
    out = {b".": describe(rootb, b".", content=content, xattrs=xattrs)}

    def walk(dirpath: bytes, rel: bytes):
        with os.scandir(dirpath) as it:
            names = sorted(e.name for e in it)
        for name in names:
            full = os.path.join(dirpath, name)
            r = name if rel == b"" else rel + b"/" + name
            d = describe(full, r, content=content, xattrs=xattrs)
            out[r] = d
            if d["type"] == stat.S_IFDIR:
                walk(full, r)

    walk(rootb, b"")
    return out


TYPE_NAMES = {stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink",
              stat.S_IFCHR: "chr", stat.S_IFBLK: "blk", stat.S_IFIFO: "fifo",
              stat.S_IFSOCK: "sock"}


def short(p: bytes, n: int = 90) -> str:
    s = repr(p)
    return s if len(s) <= n else s[: n // 2] + "..." + s[-n // 2:]


def compare_trees(expected: dict, got: dict, *, xattrs=True, include_root=False) -> list:
    """Differences between two snapshots, as human-readable strings."""
    diffs = []
    for p in sorted(set(expected) | set(got)):
        if p == b"." and not include_root:
            continue
        if p not in got:
            diffs.append(f"missing in mount: {short(p)}")
            continue
        if p not in expected:
            diffs.append(f"extra in mount: {short(p)}")
            continue
        e, g = expected[p], got[p]
        if e["type"] != g["type"]:
            diffs.append(f"{short(p)}: type {TYPE_NAMES.get(e['type'])} != {TYPE_NAMES.get(g['type'])}")
            continue
        keys = ["mode", "uid", "gid", "mtime_ns"]
        if e["type"] != stat.S_IFDIR:
            keys += ["size", "nlink"]
        keys += [k for k in ("rdev", "target", "sha256") if k in e]
        if xattrs:
            keys.append("xattrs")
        for k in keys:
            if e.get(k) != g.get(k):
                diffs.append(f"{short(p)}: {k} expected {e.get(k)!r} got {g.get(k)!r}")
        if e["type"] == stat.S_IFDIR and g["nlink"] not in (e["nlink"], 1):
            diffs.append(f"{short(p)}: directory nlink expected {e['nlink']} (or 1) got {g['nlink']}")
    # hardlink structure: the partition of paths by inode must be the same
    diffs += compare_partition(expected, got, include_root=include_root)
    return diffs


def inode_partition(snap: dict, include_root=False) -> set:
    groups = {}
    for p, d in snap.items():
        if p == b"." and not include_root:
            continue
        groups.setdefault(d["ino"], set()).add(p)
    return {frozenset(g) for g in groups.values()}


def compare_partition(expected: dict, got: dict, include_root=False) -> list:
    common = set(expected) & set(got)
    e = {g & common for g in inode_partition(expected, include_root)} - {frozenset()}
    g = {x & common for x in inode_partition(got, include_root)} - {frozenset()}
    diffs = []
    for grp in sorted(e - g, key=sorted):
        diffs.append("hardlink group expected but not in mount: " + ", ".join(short(x, 60) for x in sorted(grp)))
    for grp in sorted(g - e, key=sorted):
        diffs.append("inode group in mount not expected: " + ", ".join(short(x, 60) for x in sorted(grp)))
    return diffs


def data_regions(path: bytes) -> list:
    """[(offset, length)] of data found with SEEK_DATA/SEEK_HOLE."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        regions = []
        off = 0
        while off < size:
            try:
                d = os.lseek(fd, off, os.SEEK_DATA)
            except OSError as ex:
                if ex.errno == 6:  # ENXIO: no more data
                    break
                raise
            h = os.lseek(fd, d, os.SEEK_HOLE)
            regions.append((d, h - d))
            off = h
        return regions
    finally:
        os.close(fd)


# --------------------------------------------------------------------------
# /proc/self/mountinfo

def _unescape_mountinfo(s: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def mounts() -> list:
    """[(mountpoint, fstype, source, super_options)] from /proc/self/mountinfo."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields = left.split()
            rfields = right.split()
            out.append((_unescape_mountinfo(fields[4]), rfields[0], _unescape_mountinfo(rfields[1]),
                        rfields[2] if len(rfields) > 2 else "", fields[5]))
    return out


def is_mountpoint(path) -> bool:
    p = os.path.realpath(str(path))
    return any(m[0] == p for m in mounts())


def mount_count(path) -> int:
    p = os.path.realpath(str(path))
    return sum(1 for m in mounts() if m[0] == p)


# --------------------------------------------------------------------------
# the archive variants of the fidelity tree

def _variants() -> dict:
    v = {}
    for fmt in ("pax", "gnu", "ustar"):
        for comp in ("none", "gz", "xz", "zst", "bz2"):
            v[f"{fmt}-{comp}"] = dict(fmt=fmt, comp=comp)
    v["pax-sparse0.1-none"] = dict(fmt="pax", comp="none", sparse_version="0.1")
    v["pax-sparse1.0-none"] = dict(fmt="pax", comp="none", sparse_version="1.0")
    v["pax-sparse1.0-zst"] = dict(fmt="pax", comp="zst", sparse_version="1.0")
    v["pax-gz-multimember"] = dict(fmt="pax", comp="gz", pieces=3)
    v["pax-zst-multiframe"] = dict(fmt="pax", comp="zst", pieces=3)
    v["pax-xz-multistream"] = dict(fmt="pax", comp="xz", pieces=3)
    v["pax-bz2-multistream"] = dict(fmt="pax", comp="bz2", pieces=3)
    v["dotslash-none"] = dict(fmt="pax", comp="none", dot=True)
    v["dotslash-zst"] = dict(fmt="pax", comp="zst", dot=True)
    v["duplicate-none"] = dict(fmt="pax", comp="none", dup=True)
    v["duplicate-gz"] = dict(fmt="pax", comp="gz", dup=True)
    return v


VARIANTS = _variants()
DUP_MEMBERS = [b"etc/hostname", b"links/dangling", b"usr/bin/su", b"etc"]


def variant_has_xattrs(name: str) -> bool:
    return VARIANTS[name]["fmt"] == "pax"


def build_variant(name: str, stage: Stage, dup_stage: Stage, workdir: Path) -> Path:
    """Build archive variant `name` of the stage in workdir; return its path."""
    spec = VARIANTS[name]
    workdir.mkdir(parents=True, exist_ok=True)
    tar = workdir / f"{name}.tar"
    members = ustar_members(stage) if spec["fmt"] == "ustar" else None
    make_tar(stage.root, tar, spec["fmt"], members=members, dot=spec.get("dot", False),
             sparse_version=spec.get("sparse_version"))
    if spec.get("dup"):
        make_tar(dup_stage.root, tar, "pax", members=DUP_MEMBERS, append=True)
    if spec["comp"] == "none":
        return tar
    out = workdir / (name + SUFFIX[spec["comp"]])
    compress(tar, spec["comp"], out, pieces=spec.get("pieces", 1))
    tar.unlink()
    return out


_MAGIC = [(b"\x1f\x8b", ["gzip", "-dc"]), (b"\xfd7zXZ\x00", ["xz", "-dc"]),
          (b"\x28\xb5\x2f\xfd", ["zstd", "-qdc"]), (b"BZh", ["bzip2", "-dc"])]


def decompressed(archive: Path) -> bytes:
    """The uncompressed tar stream of archive (compression detected by content)."""
    data = Path(archive).read_bytes()
    for magic, cmd in _MAGIC:
        if data.startswith(magic):
            return subprocess.run(cmd, input=data, stdout=subprocess.PIPE, check=True).stdout
    return data


def archive_members(archive: Path) -> list:
    import io
    with tarfile.open(fileobj=io.BytesIO(decompressed(archive)), mode="r:") as t:
        return t.getmembers()
