# SPDX-License-Identifier: LGPL-2.1-or-later
"""The real template recipes (templates/recipes/debian12.recipe and
debian11.recipe) built by scripts/mktemplate with mmdebstrap, and the
recipe reader's errors and mirror choice.

A build takes minutes, so each template is cached under
$DOMUFS_TEMPLATE_CACHE (default /var/tmp/domufs-templates/) as
NAME-HASH.tar.zst, HASH being a sha256 of the recipe's entries (not of
its comments), and reused while the recipe is unchanged. Debian 12 is built when missing; Debian 11 only when
DOMUFS_BUILD_DEBIAN11=1 asks for it (or when it is already cached).
"""
import hashlib
import importlib.machinery
import importlib.util
import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

DOMUFS = os.environ.get("DOMUFS")
HERE = Path(__file__).resolve().parent
SRC = HERE.parent.parent
RECIPES = SRC / "templates" / "recipes"
MKTEMPLATE = SRC / "scripts" / "mktemplate"
CACHE = Path(os.environ.get("DOMUFS_TEMPLATE_CACHE", "/var/tmp/domufs-templates"))
PROFILE = SRC / "tests" / "data" / "distros" / "bookworm.cfg"
PYGRUB = "/usr/lib/xen-4.17/bin/pygrub"

if not DOMUFS:
    pytest.skip("DOMUFS is not set", allow_module_level=True)


def run(*args, check=True, **kw):
    r = subprocess.run([str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{args} exited {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def boot_check(img: Path, workdir: Path, partition="msdos"):
    """A committed image as Xen boots it: its filesystem (the first
    partition's, or the whole image) clean under `e2fsck -fn`, and what
    PyGRUB takes from it. Returns (the filesystem, PyGRUB's simple-format
    fields: kernel, ramdisk, args)."""
    fs = img
    if partition == "msdos":
        fs = workdir / f"{img.stem}.fs"
        run("dd", f"if={img}", f"of={fs}", "bs=1M", "skip=1", "status=none")
    fsck = run("e2fsck", "-fn", fs, check=False)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    out = workdir / f"pygrub-{img.stem}"
    out.mkdir()
    r = run(PYGRUB, "-q", "--output-format=simple", f"--output-directory={out}", img)
    fields = dict(line.split(" ", 1) for line in r.stdout.splitlines() if " " in line)
    assert "args" in fields, r.stdout
    return fs, fields


def load_mktemplate():
    loader = importlib.machinery.SourceFileLoader("mktemplate", str(MKTEMPLATE))
    spec = importlib.util.spec_from_loader("mktemplate", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def cached_path(name):
    """NAME-HASH.tar.zst, HASH of what the recipe says (its entries and
    directives: comments and line numbers do not count)."""
    entries = load_mktemplate().parse(str(RECIPES / f"{name}.recipe"))
    digest = hashlib.sha256(repr([(w, body) for _, w, body in entries]).encode()).hexdigest()[:16]
    return CACHE / f"{name}-{digest}.tar.zst"


def build_cached(name):
    out = cached_path(name)
    if out.exists():
        return out
    if not shutil.which("mmdebstrap"):
        pytest.skip("mmdebstrap is not installed (apt-get install mmdebstrap)")
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tar.zst")
    try:
        r = run(MKTEMPLATE, RECIPES / f"{name}.recipe", tmp, check=False, timeout=3600)
        assert r.returncode == 0, f"mktemplate {name} failed:\n{r.stderr[-4000:]}"
        os.rename(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out


@pytest.fixture(scope="session")
def debian12():
    return build_cached("debian12")


@pytest.fixture(scope="session")
def debian11():
    if not cached_path("debian11").exists() and os.environ.get("DOMUFS_BUILD_DEBIAN11") != "1":
        pytest.skip(f"Debian 11 template not built ({cached_path('debian11')} is missing): "
                    "set DOMUFS_BUILD_DEBIAN11=1 to build it (several minutes)")
    return build_cached("debian11")


class Mounted:
    def __init__(self, template, mnt, cache, extra=()):
        self.mnt = Path(mnt)
        run(DOMUFS, "mount", "--cache-dir", cache, *extra, template, mnt)

    def __enter__(self):
        return self.mnt

    def __exit__(self, *exc):
        run("fusermount3", "-u", self.mnt, check=False)


def in_root(root: Path, path: str, depth=0) -> Path:
    """PATH inside ROOT with its symlinks resolved as in a chroot (an
    absolute link target is ROOT-relative, never the host's)."""
    assert depth < 40, f"symlink loop at {path}"
    cur = root
    parts = [p for p in path.split("/") if p not in ("", ".")]
    for i, part in enumerate(parts):
        if part == "..":
            cur = cur.parent if cur != root else root
            continue
        nxt = cur / part
        if nxt.is_symlink():
            target = os.readlink(nxt)
            rest = "/".join(parts[i + 1:])
            base = "" if target.startswith("/") else str(cur.relative_to(root))
            return in_root(root, f"{base}/{target}/{rest}", depth + 1)
        cur = nxt
    return cur


def check_debian_root(root: Path, codename: str):
    osr = (root / "etc/os-release").read_text()
    assert f"VERSION_CODENAME={codename}" in osr, osr
    # a kernel and its initramfs for PyGRUB
    boot = os.listdir(root / "boot")
    kernels = sorted(n[len("vmlinuz-"):] for n in boot if n.startswith("vmlinuz-"))
    assert kernels, boot
    for k in kernels:
        assert f"initrd.img-{k}" in boot, boot
        assert (root / "boot" / f"vmlinuz-{k}").stat().st_size > 4 << 20
        assert (root / "boot" / f"initrd.img-{k}").stat().st_size > 4 << 20
        blk = root / "lib/modules" / k / "kernel/drivers/block"
        assert [n for n in os.listdir(blk) if n.startswith("xen-blkfront.ko")], k
    # systemd as init, sshd, the xenstore tools of the first-boot handshake
    assert in_root(root, "/sbin/init") == in_root(root, "/lib/systemd/systemd")
    for tool in ("/lib/systemd/systemd", "/usr/bin/xenstore-write", "/usr/bin/xenstore-read",
                 "/usr/sbin/sshd", "/usr/bin/sudo", "/sbin/ifup", "/sbin/dhclient", "/sbin/ip"):
        p = in_root(root, tool)
        assert p.is_file() and not p.is_symlink() and os.access(p, os.X_OK), tool
    # xattrs survived mmdebstrap, the tarball and the mount
    ping = in_root(root, "/bin/ping")
    cap = os.getxattr(ping, "security.capability", follow_symlinks=False)
    assert cap, "ping has no security.capability"
    if shutil.which("getcap"):
        assert "cap_net_raw" in run("getcap", ping).stdout
    # the recipe's entries on top; nothing of the build machine leaks in
    assert (root / "etc/hostname").read_text() == "debian\n"
    assert "network fixup" in (root / "etc/resolv.conf").read_text()
    assert "built by domufs" in (root / "etc/motd").read_text()
    sources = (root / "etc/apt/sources.list").read_text()
    assert re.search(rf"^deb .* {codename} main$", sources, re.M), sources
    assert re.search(rf"^deb .* {codename}-security main$", sources, re.M), sources
    # owners and modes as dpkg left them
    st = os.stat(root / "etc/shadow")
    assert (st.st_mode & 0o777, st.st_uid) == (0o640, 0)
    st = os.stat(in_root(root, "/usr/bin/sudo"))
    assert st.st_mode & 0o4000, "sudo lost its setuid bit"


def test_debian12_template(debian12, tmp_path):
    r = run(DOMUFS, "index", "--cache-dir", tmp_path / "cache", debian12)
    n = int(re.search(r": (\d+) entries", r.stdout).group(1))
    assert n > 10000, r.stdout
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    with Mounted(debian12, mnt, tmp_path / "cache") as root:
        check_debian_root(root, "bookworm")


def test_debian12_template_with_a_profile(debian12, tmp_path):
    """The fixups find what they need in it: a systemd getty on hvc0, the
    network for enX0, the first-boot script with xenstore-write there."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    with Mounted(debian12, mnt, tmp_path / "cache", ["--domain", PROFILE]) as root:
        assert (root / "etc/hostname").read_text().strip() in ("fleance", "fleance.example.org")
        assert os.path.islink(root / "etc/systemd/system/getty.target.wants/serial-getty@hvc0.service")
        assert re.search(r"^iface enX0 inet static$", (root / "etc/network/interfaces").read_text(), re.M)
        assert not (root / "etc/ssh/ssh_host_ed25519_key").exists()
        wants = os.listdir(root / "etc/systemd/system/multi-user.target.wants")
        assert "domufs-firstboot.service" in wants, wants
        assert "xenstore-write data/domufs/firstboot" in \
            in_root(root, "/usr/lib/domufs/firstboot").read_text()


@pytest.mark.skipif(not os.path.exists(PYGRUB), reason="PyGRUB (xen-utils-4.17) not installed")
def test_debian12_commit_boots_through_pygrub(debian12, tmp_path):
    img = tmp_path / "fleance.img"
    run(DOMUFS, "commit", "--cache-dir", tmp_path / "cache", "--domain", PROFILE,
        "--partition", "msdos", debian12, img)
    fs, fields = boot_check(img, tmp_path)
    assert "root=/dev/xvda1" in fields["args"], fields
    assert "console=hvc0" in fields["args"]
    assert os.path.getsize(fields["kernel"]) > 4 << 20
    assert os.path.getsize(fields["ramdisk"]) > 4 << 20
    # security.capability survives into ext4 too
    attrs = run("debugfs", "-R", "ea_list /usr/bin/ping", fs).stdout
    assert "security.capability" in attrs, attrs


def test_debian11_template(debian11, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    with Mounted(debian11, mnt, tmp_path / "cache") as root:
        check_debian_root(root, "bullseye")


# --------------------------------------------------------------------------
# the recipe reader (fast: nothing is bootstrapped)

def mktemplate(*args, cwd=None):
    return run(MKTEMPLATE, *args, check=False, cwd=cwd)


@pytest.mark.parametrize("body,line,needle", [
    ("mmdebstrap bookworm\nfrobnicate x\n", 2, "unknown entry 'frobnicate'"),
    ("include openssh-server\nmmdebstrap bookworm\n", 1, "'include' before the 'mmdebstrap SUITE' line"),
    ("mmdebstrap bookworm\nvariant tiny\n", 2, "unknown variant 'tiny'"),
    ("mmdebstrap bookworm\ninclude ok 'bad;rm'\n", 2, "is not a valid include name"),
    ("mmdebstrap bookworm\n\nmmdebstrap bullseye\n", 3, "a second 'mmdebstrap' line"),
    ("mmdebstrap\n", 1, "want 'mmdebstrap SUITE'"),
    ("mmdebstrap bookworm\ninclude\n", 2, "'include' needs an argument"),
    ("# comment\nmmdebstrap bookworm\nfile etc/motd 0644\nhi\n.\n", 3, "path must be absolute"),
    ("mmdebstrap bookworm\nfile /etc/motd 0644\nno end\n", 2, "without its closing '.' line"),
    ("dir /etc 0755\nsymlinx /a b\n", 2, "unknown entry 'symlinx'"),
    ("dir /etc 07x5\n", 1, "bad 'dir' line"),
])
def test_recipe_errors_name_the_line(tmp_path, body, line, needle):
    recipe = tmp_path / "r.recipe"
    recipe.write_text(body)
    out = tmp_path / "out.tar.zst"
    r = mktemplate(recipe, out)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"mktemplate: {recipe}:{line}: "), r.stderr
    assert needle in lines[0], r.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == [recipe]


def test_usage(tmp_path):
    assert mktemplate().returncode == 2
    assert mktemplate("--bogus", "a", "b").returncode == 2
    r = mktemplate("--help")
    assert r.returncode == 0 and "mmdebstrap" in r.stdout
    r = mktemplate(RECIPES / "default.recipe", tmp_path / "x.zip")
    assert r.returncode == 1 and "unknown extension" in r.stderr


def fake_root(tmp_path, os_release, files):
    root = tmp_path / "root"
    (root / "etc/apt/sources.list.d").mkdir(parents=True)
    (root / "etc/os-release").write_text(os_release)
    for name, text in files.items():
        (root / "etc/apt" / name).write_text(textwrap.dedent(text))
    return root


def test_mirrors_follow_the_machine_deb822(tmp_path):
    m = load_mktemplate()
    keyring = tmp_path / "keyring.gpg"
    keyring.write_text("")
    root = fake_root(tmp_path, 'VERSION_CODENAME=bookworm\n', {
        "sources.list.d/debian.sources": f"""\
            Types: deb
            # a snapshot, commented out
            URIs: http://mirror.example/debian
            Suites: bookworm bookworm-updates
            Components: main
            Signed-By: {keyring}

            Types: deb deb-src
            URIs: http://security.example/debian-security
            Suites: bookworm-security
            Components: main

            Types: deb
            URIs: http://disabled.example/debian
            Suites: bookworm
            Components: main
            Enabled: no
            """,
        "sources.list.d/vendor.list": "deb https://vendor.example/apt cloud-sdk-bookworm main\n",
        "sources.list.d/nodesource.sources.disabled": "Types: deb\nURIs: http://x\nSuites: bookworm\n",
    })
    assert m.mirrors_for("bullseye", [], root=str(root)) == [
        f"deb [signed-by={keyring}] http://mirror.example/debian bullseye main",
        f"deb [signed-by={keyring}] http://mirror.example/debian bullseye-updates main",
        "deb http://security.example/debian-security bullseye-security main",
    ]
    assert m.mirrors_for("sid", ["main", "contrib"], root=str(root)) == [
        f"deb [signed-by={keyring}] http://mirror.example/debian sid main contrib"]


def test_mirrors_follow_the_machine_one_line(tmp_path):
    m = load_mktemplate()
    root = fake_root(tmp_path, 'ID=debian\nVERSION_CODENAME="bookworm"\n', {
        "sources.list": """\
            # deb http://commented.example/debian bookworm main
            deb [arch=amd64] http://ftp.example/debian bookworm main contrib
            deb-src http://ftp.example/debian bookworm main
            deb http://ftp.example/debian bookworm-backports main
            """,
    })
    assert m.mirrors_for("bookworm", ["main"], root=str(root)) == [
        "deb http://ftp.example/debian bookworm main"]


def test_mirrors_default_without_debian_sources(tmp_path):
    m = load_mktemplate()
    root = fake_root(tmp_path, "ID=ubuntu\nVERSION_CODENAME=jammy\n", {
        "sources.list": "deb http://archive.ubuntu.example/ubuntu noble main\n"})
    assert m.mirrors_for("bookworm", [], root=str(root)) == []


def test_print_mirrors_of_this_machine():
    r = mktemplate("--print-mirrors", RECIPES / "debian12.recipe")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines == ["# mmdebstrap's default mirror"] or \
        all(re.match(r"^deb (\[signed-by=\S+\] )?\S+ bookworm(-updates|-security)? main$", ln)
            for ln in lines), lines
    r = mktemplate("--print-mirrors", "--mirror", "http://m.example/debian",
                   RECIPES / "debian11.recipe")
    assert r.stdout == "http://m.example/debian\n"
    r = mktemplate("--print-mirrors", RECIPES / "default.recipe")
    assert r.returncode == 1 and "not an mmdebstrap recipe" in r.stderr
