# SPDX-License-Identifier: LGPL-2.1-or-later
"""The exit status of `domufs diff`: the command-line contract's (and
--exit-code, as diff(1)); write errors on stdout reported, by every
command; domufs's own usage errors. Templates are built here with
tarfile; changes are made through a writable mount."""

import io
import os
import subprocess
import tarfile

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


def write(path, data, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


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
