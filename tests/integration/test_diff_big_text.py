# SPDX-License-Identifier: LGPL-2.1-or-later
"""`domufs diff` on large text files: the hunks are the ones GNU diff -u
prints where its choice is unambiguous, and patch(1) applies the whole
output to the template's files, giving the overlay's."""

import random
import shutil
import subprocess


def numbered(n, every=0):
    """seq 1 N | sed 's/^/line /', then sed '0~EVERYs/$/ changed/'."""
    return b"".join(b"line %d%s\n" % (i, b" changed" if every and i % every == 0 else b"")
                    for i in range(1, n + 1))


def random_edit(rnd, lines, edits):
    out = list(lines)
    for _ in range(edits):
        at = rnd.randrange(len(out) + 1)
        op = rnd.randrange(3)
        if op == 0 and at < len(out):
            del out[at]
        elif op == 1:
            out.insert(at, b"new %d\n" % rnd.randrange(1000))
        elif at < len(out):
            out[at] = b"changed %d\n" % rnd.randrange(1000)
    return out


def hunks_of(out, name):
    """The hunks of NAME in a diff, without the label after "@@ ... @@"."""
    text = out.split(f"--- a/{name}\n+++ b/{name}\n", 1)[1].split("\ndiff ", 1)[0]
    return "".join(line.replace(" @@ overlay", " @@", 1) + "\n" if line.startswith("@@ ") else line + "\n"
                   for line in text.rstrip("\n").split("\n"))


def count_hunks(hunks):
    return sum(line.startswith("@@ ") for line in hunks.split("\n"))


def test_diff_of_big_texts_matches_gnu_diff_and_patch_applies_it(domufs, tmp_path):
    rnd = random.Random(20261125)
    words = [b"w%d\n" % rnd.randrange(50) for _ in range(30000)]
    old = {
        "seq": numbered(10000),
        "dense": numbered(10000),
        "words": b"".join(words),
        "unrelated": b"".join(b"old %d\n" % i for i in range(100000)),
        "tail": numbered(5000),
    }
    new = {
        "seq": numbered(10000, 10),           # 1000 hunks of one line each way
        "dense": numbered(10000, 7),          # 6 lines apart: all in one hunk
        "words": b"".join(random_edit(rnd, words, 500)),
        "unrelated": b"".join(b"new %d\n" % i for i in range(100000)),
        "tail": numbered(5000)[:-1] + b" and no newline",
    }
    src = tmp_path / "src"
    src.mkdir()
    for name, data in old.items():
        (src / name).write_bytes(data)
    tpl = tmp_path / "big.tar"
    subprocess.run(["tar", "-C", src, "-cf", tpl, "."], check=True)
    ovl = tmp_path / "o"
    ovl.mkdir()
    m = domufs.mount(tpl, extra=["--overlay", str(ovl)])
    for name, data in new.items():
        with open(m.b(name.encode()), "wb") as f:
            f.write(data)
    assert m.unmount() == []
    r = domufs.run("diff", "--cache-dir", m.cache_dir, "--overlay", ovl, tpl)
    assert r.returncode == 0, str(r)

    want = tmp_path / "want"
    want.mkdir()
    for name, data in new.items():
        (want / name).write_bytes(data)
    for name in ("seq", "dense", "unrelated", "tail"):
        gnu = subprocess.run(["diff", "-u", src / name, want / name], stdout=subprocess.PIPE, check=False)
        assert gnu.returncode == 1
        assert hunks_of(r.stdout, name) == gnu.stdout.decode().split("\n", 2)[2], name
    assert count_hunks(hunks_of(r.stdout, "seq")) == 1000
    assert count_hunks(hunks_of(r.stdout, "dense")) == 1

    work = tmp_path / "work"
    shutil.copytree(src, work)
    subprocess.run(["patch", "-s", "-p1", "-d", work], input=r.stdout.encode(), check=True)
    for name, data in new.items():
        assert (work / name).read_bytes() == data, name
