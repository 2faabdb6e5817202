# SPDX-License-Identifier: LGPL-2.1-or-later
"""domufs commit --format: what a tarball can hold that ext4 cannot (an xattr
over the inode's and xattr block's room)."""

import io
import os
import tarfile

import pytest


@pytest.fixture(autouse=True)
def _need_root():
    if os.geteuid() != 0:
        pytest.skip("commit tests: need root")


def pax_template(path, members):
    """A pax tarball of (name, data, mode, pax_headers) regular files."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        for name, data, mode, headers in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = mode
            ti.mtime = 1700000000
            ti.pax_headers = headers
            t.addfile(ti, io.BytesIO(data))
    return path


def xattr_header(name, value: bytes):
    # tarfile writes str values; surrogateescape keeps the bytes
    return {f"SCHILY.xattr.{name}": value.decode("utf-8", "surrogateescape")}


def export(domufs, tpl, out, fmt="tar"):
    return domufs.run("commit", "--cache-dir", domufs.cache_dir(), "--format", fmt, tpl, out)


def test_xattr_beyond_ext4_room(domufs, tmp_path):
    """A 5000-byte user.* xattr: mount shows it, an ext4 commit refuses it
    (no room), and a tarball keeps it."""
    big = bytes(range(256)) * 19 + b"\0" * 136
    assert len(big) == 5000
    tpl = pax_template(tmp_path / "big.tar", [("f", b"data\n", 0o644, xattr_header("user.big", big))])
    m = domufs.mount(tpl, cache_dir=domufs.cache_dir())
    assert os.getxattr(m.b(b"f"), "user.big") == big
    assert not m.unmount()
    res = domufs.run("commit", "--cache-dir", domufs.cache_dir(), tpl, tmp_path / "big.img")
    assert res.returncode == 1 and "no room" in res.stderr, str(res)
    for fmt in ("tar", "tar.zst"):
        out = tmp_path / f"out.{fmt}"
        res = export(domufs, tpl, out, fmt)
        assert res.returncode == 0, str(res)
        m = domufs.mount(out, cache_dir=domufs.cache_dir())
        assert os.getxattr(m.b(b"f"), "user.big") == big, fmt
        assert open(m.b(b"f"), "rb").read() == b"data\n"
        assert not m.unmount()


def test_xattr_beyond_ext4_room(domufs, tmp_path):
    """A 5000-byte user.* xattr: mount shows it, an ext4 commit refuses it
    (no room), and a tarball keeps it."""
    big = bytes(range(256)) * 19 + b"\0" * 136
    assert len(big) == 5000
    tpl = pax_template(tmp_path / "big.tar", [("f", b"data\n", 0o644, xattr_header("user.big", big))])
    m = domufs.mount(tpl, cache_dir=domufs.cache_dir())
    assert os.getxattr(m.b(b"f"), "user.big") == big
    assert not m.unmount()
    res = domufs.run("commit", "--cache-dir", domufs.cache_dir(), tpl, tmp_path / "big.img")
    assert res.returncode == 1 and "no room" in res.stderr, str(res)
    for fmt in ("tar", "tar.zst"):
        out = tmp_path / f"out.{fmt}"
        res = export(domufs, tpl, out, fmt)
        assert res.returncode == 0, str(res)
        m = domufs.mount(out, cache_dir=domufs.cache_dir())
        assert os.getxattr(m.b(b"f"), "user.big") == big, fmt
        assert open(m.b(b"f"), "rb").read() == b"data\n"
        assert not m.unmount()
