# SPDX-License-Identifier: LGPL-2.1-or-later
"""scripts/provision, what test_provision.py does not cover: --size read as
`domufs commit --size` reads it (checked up front, the same unit in both
modes); the dry run's summary.
"""

import os
import shlex
import subprocess

import pytest

from test_provision import (DOMAINS, base_args, default_template, provision,  # noqa: F401
                            site)


def lvcreate_lines(stdout):
    return [c for c in (shlex.split(line) for line in stdout.splitlines()) if c[0] == "lvcreate"]


# refused by `domufs commit --size` (img_parse_size): no fractions, no
# sectors, no P/E, not 0, no spaces, nothing past 2^64 - 1 bytes
@pytest.mark.parametrize("size", ["1.5G", "100s", "1P", "2E", "0", "0K", "10Kib", "1GIB",
                                  "1G+", "0x10", " 1G", "1G ", "-1G", "G",
                                  "18446744073709551616", "16777216T"])
@pytest.mark.parametrize("mode", ["image", "vg"])
def test_bad_sizes_are_usage_errors(site, default_template, size, mode):
    """Before anything: exit 2, one line naming the value, nothing created
    (the audit: every domain failed at the commit, exit 1, after mkdir)."""
    target = (["--image-dir", site["images"]] if mode == "image"
              else ["--vg", "scotland"])
    r = provision("--template", default_template, "--profiles", site["profiles"],
                  "--xl-dir", site["xl"], "--cache-dir", site["cache"], *target,
                  f"--size={size}", "banquo", "fleance")
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith(f"provision: --size {size!r} is not a size"), r.stderr
    assert r.stdout == ""
    assert not site["images"].exists() and not site["xl"].exists()
    assert not site["cache"].exists()


@pytest.mark.parametrize("size", ["2048", "64M", "4g", "10KiB", "1GB", "18446744073709551615",
                                  "16777215T"])
def test_good_sizes_are_those_of_domufs_commit(site, default_template, size):
    """What the up-front check lets through, domufs's own parser accepts:
    `domufs commit --size` then only complains of the missing operands."""
    r = provision(*base_args(site, default_template), "--size", size, "--dry-run", "banquo")
    assert r.returncode == 0, r.stderr
    commit = [c for c in (shlex.split(line) for line in r.stdout.splitlines())
              if c[1:2] == ["commit"]]
    assert len(commit) == 1 and commit[0][commit[0].index("--size") + 1] == size, r.stdout
    d = subprocess.run([os.environ["DOMUFS"], "commit", "--size", size], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    assert d.returncode == 2 and "bad --size" not in d.stderr, d.stderr


@pytest.mark.parametrize("size,lv", [
    ("2048", "2K"),             # bytes, as for an image: not 2048 MiB
    ("67108864", "64M"),
    ("65536K", "64M"),
    ("4G", "4G"),
    ("4096MiB", "4G"),
    ("3t", "3T"),
    ("1536", "1536b"),          # not a whole KiB: bytes, which lvcreate takes
    ("1000", "1024b"),          # ... in multiples of 512 (it rounds up to extents)
])
def test_lvcreate_gets_the_same_size_as_an_image(site, default_template, size, lv):
    """A bare number is bytes in both modes: lvcreate -L gets it with an
    explicit unit, never bare (which lvcreate reads as MiB)."""
    r = provision("--template", default_template, "--profiles", site["profiles"],
                  "--vg", "scotland", "--size", size, "--xl-dir", site["xl"], "--dry-run",
                  "banquo", "macduff")
    assert r.returncode == 0, r.stderr
    assert lvcreate_lines(r.stdout) == [["lvcreate", "-L", lv, "-n", n, "scotland"]
                                        for n in ("banquo", "macduff")], r.stdout


def test_a_bare_number_is_bytes_for_an_image(site, default_template):
    r = provision(*base_args(site, default_template), "--size", str(96 << 20), "fleance")
    assert r.returncode == 0, r.stderr
    assert (site["images"] / "fleance.img").stat().st_size == 96 << 20


def test_dry_run_summary_says_would_be(site, default_template):
    """A dry run provisions nothing: its summary says what a real run would."""
    r = provision(*base_args(site, default_template), "--dry-run", "banquo", "fleance",
                  "macduff")
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines()[-1] == "provision: 3 of 3 domains would be provisioned", r.stderr
    r = provision(*base_args(site, default_template), "--dry-run", "banquo", "duncan", "fleance")
    assert r.returncode == 1, r.stderr
    assert r.stderr.splitlines()[-1] == \
        "provision: 2 of 3 domains would be provisioned; failed: duncan", r.stderr
    assert not site["images"].exists() and not site["xl"].exists()
    # a real run still says provisioned
    r = provision(*base_args(site, default_template), "banquo", "duncan")
    assert r.returncode == 1, r.stderr
    assert r.stderr.splitlines()[-1] == "provision: 1 of 2 domains provisioned; failed: duncan"
