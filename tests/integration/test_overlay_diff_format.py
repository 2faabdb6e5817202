# SPDX-License-Identifier: LGPL-2.1-or-later
"""The text of `domufs diff` and its exit status: path names quoted as git
quotes them (GNU patch applies the diff), every change shown (devices,
type changes, link counts, times, large and oddly named xattrs, labels of
binary changes), the exit status of the command-line contract (and
--exit-code), write errors on stdout reported, domufs's own usage
errors. Templates are built here with tarfile; changes are made through a
writable mount."""

import base64
import io
import os
import re
import shutil
import stat
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

MTIME = 1700000000


def make_template(path, members):
    """A pax tarball of @members: (name, kind, options), kind one of
    file/dir/chr/blk/link (a hard link to options["to"])."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, o in members:
            ti = tarfile.TarInfo(name)
            ti.mtime = o.get("mtime", MTIME)
            ti.uid, ti.gid = o.get("owner", (0, 0))
            data = o.get("data", b"")
            if kind == "file":
                ti.type, ti.mode, ti.size = tarfile.REGTYPE, o.get("mode", 0o644), len(data)
            elif kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, o.get("mode", 0o755)
            elif kind in ("chr", "blk"):
                ti.type = tarfile.CHRTYPE if kind == "chr" else tarfile.BLKTYPE
                ti.mode = o.get("mode", 0o660)
                ti.devmajor, ti.devminor = o["dev"]
            elif kind == "link":
                ti.type, ti.mode, ti.linkname = tarfile.LNKTYPE, 0o644, o["to"]
            ti.pax_headers = {f"SCHILY.xattr.{k}": v.decode("latin-1")
                              for k, v in o.get("xattrs", {}).items()}
            tar.addfile(ti, io.BytesIO(data) if kind == "file" else None)
    return path


def changed(domufs, tmp_path, members, change, ovl=None):
    """Template of @members, mounted over a fresh overlay (@ovl, else one in
    @tmp_path); change(mount); unmounted. Returns (template, overlay, cache
    dir)."""
    tmp_path.mkdir(exist_ok=True)
    tpl = make_template(tmp_path / "t.tar", [("etc", "dir", {})] + members)
    if ovl is None:
        ovl = tmp_path / "overlay"
        ovl.mkdir()
    m = domufs.mount(tpl, extra=["--overlay", str(ovl)])
    change(m)
    assert m.unmount() == []
    return tpl, ovl, m.cache_dir


def diff(domufs, tpl, ovl, cache, *extra):
    return domufs.run("diff", "--cache-dir", cache, "--overlay", ovl, *extra, tpl)


def section(out, rel):
    """The lines of one path's entry (header included)."""
    lines, cur = [], None
    for line in out.splitlines():
        if line.startswith("diff --domufs "):
            cur = line == f"diff --domufs a/{rel} b/{rel}"
        if cur:
            lines.append(line)
    assert lines, f"no entry for {rel}:\n{out}"
    return lines


def labels_of(lines):
    out = set()
    for line in lines:
        mt = re.match(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@ ?(.*)$", line)
        if mt:
            out.add(mt.group(1).strip())
        mt = re.match(r"^# (\S+)$", line)
        if mt:
            out.add(mt.group(1))
    return out


def write(path, data, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------
# path names

ODD = {  # name in the view -> as quoted on the diff's lines
    b"evil\n+root::0:0:::::": r'"{}/evil\n+root::0:0:::::"',
    b"tab\there": r'"{}/tab\there"',
    b'quote"back\\slash': r'"{}/quote\"back\\slash"',
    b"caf\xc3\xa9": r'"{}/caf\303\251"',
    b"bell\x07del\x7f": r'"{}/bell\adel\177"',
}


def test_odd_names_are_quoted_as_git_quotes_them(domufs, tmp_path):
    def change(m):
        for name in ODD:
            write(m.b(name), b"x\n")
        write(m.b(b"etc/new file"), b"spaced\n")

    tpl, ovl, cache = changed(domufs, tmp_path, [], change)
    r = diff(domufs, tpl, ovl, cache)
    assert r.returncode == 0 and r.stderr == "", str(r)
    lines = r.stdout.splitlines()
    assert "+root::0:0:::::" not in lines, r.stdout
    assert all(line.isascii() and line.isprintable() or "\t" in line for line in lines), r.stdout
    for name, q in ODD.items():
        a, b = q.format("a"), q.format("b")
        assert f"diff --domufs {a} {b}" in lines, (name, r.stdout)
        assert f"+++ {b}" in lines, (name, r.stdout)
    # a name with a space: a TAB ends it, as git does (GNU patch cuts there)
    assert "diff --domufs a/etc/new file b/etc/new file" in lines
    assert "+++ b/etc/new file\t" in lines, r.stdout
    assert "--- /dev/null" in lines


def test_patch_applies_the_diff_to_an_extraction_of_the_template(domufs, tmp_path):
    members = [("etc/x y", "file", {"data": b"one\ntwo\n"}),
               ("etc/plain", "file", {"data": b"plain\n"}),
               ("etc/gone", "file", {"data": b"gone\n"}),
               ("tab\there", "file", {"data": b"t\n"}),
               ("caf\u00e9", "file", {"data": b"c\n"})]
    want = {}

    def change(m):
        write(m.b(b"etc/x y"), b"one\nTWO\n")
        write(m.b(b"etc/plain"), b"plain\nmore\n")
        os.unlink(m.b(b"etc/gone"))
        write(m.b(b"tab\there"), b"T\n")
        write(m.b(b"caf\xc3\xa9"), b"C\n")
        write(m.b(b"etc/new file"), b"new\n")
        for name in ODD:
            write(m.b(name), b"odd\n")
        for dirpath, _, files in os.walk(m.b()):
            for f in files:
                p = os.path.join(dirpath, f)
                want[os.path.relpath(p, m.b())] = open(p, "rb").read()

    tpl, ovl, cache = changed(domufs, tmp_path, members, change)
    r = diff(domufs, tpl, ovl, cache)
    assert r.returncode == 0 and r.stderr == "", str(r)
    tree = tmp_path / "tree"
    tree.mkdir()
    subprocess.run(["tar", "-C", tree, "-xf", tpl], check=True)
    p = subprocess.run(["patch", "-p1", "-s", "-f", "-d", tree], input=r.stdout.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert p.returncode == 0, p.stdout.decode(errors="replace") + "\n" + r.stdout
    got = {}
    for dirpath, _, files in os.walk(os.fsencode(tree)):
        for f in files:
            path = os.path.join(dirpath, f)
            got[os.path.relpath(path, os.fsencode(tree))] = open(path, "rb").read()
    assert got == want


# --------------------------------------------------------------------------
# changes that were left out

def test_device_numbers_of_new_deleted_and_retyped_nodes(domufs, tmp_path):
    members = [("dev", "dir", {}),
               ("dev/sda", "blk", {"dev": (8, 0), "owner": (0, 6)}),
               ("dev/null", "chr", {"dev": (1, 3), "mode": 0o666}),
               ("etc/t", "file", {"data": b"t\n"})]

    def change(m):
        os.unlink(m.b(b"dev/sda"))
        os.mknod(m.b(b"dev/zero"), 0o644 | stat.S_IFCHR, os.makedev(1, 5))
        os.unlink(m.b(b"etc/t"))
        os.mknod(m.b(b"etc/t"), 0o600 | stat.S_IFBLK, os.makedev(7, 1))
        os.unlink(m.b(b"dev/null"))
        write(m.b(b"dev/null"), b"", 0o640)

    tpl, ovl, cache = changed(domufs, tmp_path, members, change)
    r = diff(domufs, tpl, ovl, cache)
    assert r.returncode == 0 and r.stderr == "", str(r)
    assert section(r.stdout, "dev/sda")[1:] == [
        "deleted block device mode 0660 owner 0:6 device 8,0", "# overlay"], r.stdout
    assert section(r.stdout, "dev/zero")[1:] == [
        "new character device mode 0644 owner 0:0 device 1,5", "# overlay"], r.stdout
    assert section(r.stdout, "etc/t")[1:4] == [
        "type file -> block device",
        "old file mode 0644 owner 0:0",
        "new block device mode 0600 owner 0:0 device 7,1"], r.stdout
    assert section(r.stdout, "dev/null")[1:4] == [
        "type character device -> file",
        "old character device mode 0666 owner 0:0 device 1,3",
        "new file mode 0640 owner 0:0"], r.stdout


def test_link_count_changes_show(domufs, tmp_path):
    members = [("etc/a", "file", {"data": b"a\n"}),
               ("etc/b", "link", {"to": "etc/a"}),
               ("etc/c", "file", {"data": b"c\n"})]

    def change(m):
        os.unlink(m.b(b"etc/b"))
        os.link(m.b(b"etc/c"), m.b(b"etc/c2"))

    tpl, ovl, cache = changed(domufs, tmp_path, members, change)
    r = diff(domufs, tpl, ovl, cache)
    assert r.returncode == 0 and r.stderr == "", str(r)
    assert section(r.stdout, "etc/a")[1:] == ["old links 2", "new links 1", "# overlay"], r.stdout
    assert section(r.stdout, "etc/c")[1:] == ["old links 1", "new links 2", "# overlay"], r.stdout
    assert section(r.stdout, "etc/b")[1] == "deleted file mode 0644 owner 0:0", r.stdout
    # the new name is a new file; its link count is not a change of it
    assert "links" not in "\n".join(section(r.stdout, "etc/c2")), r.stdout


def test_a_time_only_change_shows_to_the_nanosecond(domufs, tmp_path):
    members = [("etc/touched", "file", {"data": b"t\n"}),
               ("etc/edited", "file", {"data": b"e\n"}),
               ("etc/same", "file", {"data": b"s\n"}),
               ("etc/d", "dir", {})]
    ns = 1600000000 * 10**9 + 123456789

    def change(m):
        os.utime(m.b(b"etc/touched"), ns=(ns, ns))
        os.utime(m.b(b"etc/same"), ns=(ns, MTIME * 10**9))  # atime only
        write(m.b(b"etc/edited"), b"E\n")
        os.utime(m.b(b"etc/d"), ns=(ns, ns))

    tpl, ovl, cache = changed(domufs, tmp_path, members, change)
    r = diff(domufs, tpl, ovl, cache)
    assert r.returncode == 0 and r.stderr == "", str(r)
    assert section(r.stdout, "etc/touched")[1:] == [
        "old mtime 2023-11-14T22:13:20.000000000Z",
        "new mtime 2020-09-13T12:26:40.123456789Z", "# overlay"], r.stdout
    # not for a change shown otherwise, not for directories, not for atimes
    assert "mtime" not in "\n".join(section(r.stdout, "etc/edited")), r.stdout
    assert "a/etc/d " not in r.stdout and "a/etc/same " not in r.stdout, r.stdout
    # a touch alone is a change for --exit-code
    tpl2, ovl2, cache2 = changed(domufs, tmp_path / "2", [("etc/f", "file", {"data": b"f\n"})],
                                 lambda m: os.utime(m.b(b"etc/f"), ns=(ns, MTIME * 10**9 + 1)))
    r = diff(domufs, tpl2, ovl2, cache2, "--exit-code")
    assert r.returncode == 1, str(r)
    assert "new mtime 2023-11-14T22:13:20.000000001Z" in r.stdout.splitlines(), r.stdout


@pytest.fixture
def shm_dir():
    """A directory on tmpfs, whose user xattrs may be larger than a block
    (ext4's are not): the overlay of large xattrs."""
    d = Path(tempfile.mkdtemp(prefix="domufs-test-", dir="/dev/shm"))
    try:
        os.setxattr(d, "user.probe", b"p" * 8192)
        os.removexattr(d, "user.probe")
    except OSError as e:
        shutil.rmtree(d)
        pytest.skip(f"no large user xattrs on /dev/shm: {e}")
    yield d
    shutil.rmtree(d)


def test_xattrs_larger_than_4_kib_compare_by_value(domufs, tmp_path, shm_dir):
    big = b"v" * 5000
    members = [("etc/big", "file", {"data": b"b\n", "xattrs": {"user.big": big}}),
               ("etc/same", "file", {"data": b"s\n", "xattrs": {"user.big": big}})]

    def change(m):
        os.setxattr(m.b(b"etc/big"), "user.big", big[:-1] + b"w")
        os.setxattr(m.b(b"etc/same"), "user.big", big)
        os.setxattr(m.b(b"etc/same"), "user.huge", b"h" * 60000)
        os.removexattr(m.b(b"etc/same"), "user.huge")

    tpl, ovl, cache = changed(domufs, tmp_path, members, change, ovl=shm_dir)
    r = diff(domufs, tpl, ovl, cache)
    assert r.returncode == 0 and r.stderr == "", str(r)
    lines = section(r.stdout, "etc/big")
    assert f'-user.big="{"v" * 5000}"' in lines, r.stdout
    assert f'+user.big="{"v" * 4999}w"' in lines, r.stdout
    assert "a/etc/same " not in r.stdout, r.stdout


def test_xattr_names_and_values_are_escaped(domufs, tmp_path):
    members = [("etc/x", "file", {"data": b"x\n"})]

    def change(m):
        p = m.b(b"etc/x")
        os.setxattr(p, b"user.a\nb=c", b"1")
        os.setxattr(p, "user.bin", b"\x00\x01\x02\xff")
        os.setxattr(p, "user.text", b'say "hi" \\o/')
        os.setxattr(p, "user.nul", b"abc\x00")

    tpl, ovl, cache = changed(domufs, tmp_path, members, change)
    r = diff(domufs, tpl, ovl, cache)
    assert r.returncode == 0 and r.stderr == "", str(r)
    lines = section(r.stdout, "etc/x")
    assert '+user.a\\012b\\075c="1"' in lines, r.stdout
    assert "+user.bin=0s" + base64.b64encode(b"\x00\x01\x02\xff").decode() in lines, r.stdout
    assert '+user.text="say \\"hi\\" \\\\o/"' in lines, r.stdout
    assert "+user.nul=0s" + base64.b64encode(b"abc\x00").decode() in lines, r.stdout
    assert not any(line.startswith("b=") for line in lines), r.stdout


def test_a_binary_change_is_labelled(domufs, tmp_path):
    members = [("etc/bin", "file", {"data": b"\x00\x01bin"})]
    tpl, ovl, cache = changed(domufs, tmp_path, members,
                              lambda m: write(m.b(b"etc/bin"), b"\x00\x02bin"))
    r = diff(domufs, tpl, ovl, cache)
    assert r.returncode == 0 and r.stderr == "", str(r)
    assert section(r.stdout, "etc/bin")[1:] == [
        "Binary files a/etc/bin and b/etc/bin differ", "# overlay"], r.stdout
    assert labels_of(section(r.stdout, "etc/bin")) == {"overlay"}


# --------------------------------------------------------------------------
# exit status

def test_exit_status_follows_the_contract_and_exit_code_follows_diff(domufs, tmp_path):
    members = [("etc/f", "file", {"data": b"f\n"})]
    tpl, ovl, cache = changed(domufs, tmp_path, members, lambda m: write(m.b(b"etc/f"), b"g\n"))
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = tmp_path / "missing.tar"
    for extra, over, want in (((), ovl, 0), (("--exit-code",), ovl, 1),
                              ((), empty, 0), (("--exit-code",), empty, 0)):
        r = diff(domufs, tpl, over, cache, *extra)
        assert (r.returncode, r.stderr) == (want, ""), str(r)
        assert bool(r.stdout) == (over == ovl), str(r)
    # a runtime error: 1, or 2 with --exit-code (as diff(1))
    for extra, want in (((), 1), (("--exit-code",), 2)):
        r = diff(domufs, missing, ovl, cache, *extra)
        assert r.returncode == want and r.stdout == "", str(r)
        assert len(r.errors()) == 1 and "missing.tar" in r.stderr, str(r)
    # a usage error: 2 either way
    for extra in ((), ("--exit-code",)):
        r = domufs.run("diff", *extra)
        assert r.returncode == 2, str(r)
    assert "--exit-code" in domufs.run("diff", "--help").stdout


# --------------------------------------------------------------------------
# stdout

def run_to_full(domufs, *args):
    with open("/dev/full", "wb") as full:
        p = subprocess.run([domufs.binary] + [str(a) for a in args], stdout=full,
                           stderr=subprocess.PIPE, timeout=120)
    return p.returncode, p.stderr.decode(errors="replace")


FULL = "domufs: stdout: No space left on device\n"


def test_write_errors_on_stdout_are_reported(domufs, tmp_path):
    members = [(f"etc/f{i:03}", "file", {"data": b"line\n" * 50}) for i in range(100)]

    def change(m):
        for i in range(100):
            write(m.b(f"etc/f{i:03}".encode()), b"LINE\n" * 50)

    tpl, ovl, cache = changed(domufs, tmp_path, members, change)
    args = ("diff", "--cache-dir", cache, "--overlay", ovl, tpl)
    assert run_to_full(domufs, *args) == (1, FULL)
    assert run_to_full(domufs, *args, "--exit-code") == (2, FULL)
    # a short output too, written only at exit
    small = make_template(tmp_path / "small.tar", [("etc", "dir", {})])
    assert run_to_full(domufs, "index", "--cache-dir", cache, small) == (1, FULL)
    out = tmp_path / "out.tar"
    assert run_to_full(domufs, "commit", "--cache-dir", cache, "--format", "tar", small, out) == (1, FULL)
    assert run_to_full(domufs, "--help") == (1, FULL)
    assert run_to_full(domufs, "diff", "--help") == (1, FULL)
    prof = tmp_path / "p.cfg"
    prof.write_text('name = "x"\ndisk = [ "phy:/dev/vg/x,xvda,w" ]\n')
    assert run_to_full(domufs, "xl-config", "--domain", prof) == (1, FULL)


# --------------------------------------------------------------------------
# domufs's own options

def test_top_level_usage_errors(domufs):
    for args, msg in ((["--bogus"], "unknown option '--bogus'"),
                      (["--bogus=1"], "unknown option '--bogus'"),
                      (["-x"], "unknown option '-x'"),
                      (["--version", "extra"], "unexpected argument 'extra'"),
                      (["--help", "extra"], "unexpected argument 'extra'"),
                      (["nosuch"], "unknown command 'nosuch'")):
        r = domufs.run(*args)
        assert r.returncode == 2 and r.stdout == "", str(r)
        assert r.stderr == f"domufs: {msg} (see 'domufs --help')\n", str(r)
    r = domufs.run("--version")
    assert r.returncode == 0 and r.stdout.startswith("domufs "), str(r)
