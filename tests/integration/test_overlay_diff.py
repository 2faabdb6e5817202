# SPDX-License-Identifier: LGPL-2.1-or-later
"""Differential tests of the writable overlay: the same operations on a plain
directory (GNU tar extraction of the template: the local-filesystem oracle)
and on the mount.  Every operation must give the same result (value or
errno), and the two trees must then be equal entry by entry (type, mode,
owner, size, mtime, rdev, link target, content, xattrs, hardlink groups),
live and again after unmount + remount.  A mtime may differ only when both
trees set it to "now" during the sequence."""

import os
import random
import stat

import pytest

from overlay_helpers import (FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, NOBODY, RENAME_EXCHANGE, RENAME_NOREPLACE,
                             UTIME_NOW, UTIME_OMIT, Ovl, Pair, check_pair, extract, file_hash, snapshot,
                             tree_paths, run_seq)

ODD = (1234, 5678)
DEEP1 = b"deep1/" + b"d23456789/" * 120 + b"leaf"


@pytest.fixture
def pair_env(archive, domufs, public_dir):
    """(Pair, Ovl, template hash): the dotslash template (its root's metadata is
    in the archive) extracted to P and mounted at M (same path length), with
    allow_other so that other uids can act on both."""
    tpl = archive("dotslash-none")
    h = file_hash(tpl)
    plain = extract(tpl, public_dir / "p")
    ovl = Ovl(domufs, tpl, public_dir / "o", mountpoint=public_dir / "m", opts="allow_other")
    return Pair(plain, ovl.m.path), ovl, h


SEQ_DATA = [
    ("pwrite", (b"usr/lib/big.bin",), (600000, b"MIDDLE" * 1000)),
    ("pwrite", (b"usr/lib/odd-size",), (69999, b"across-the-end")),
    ("pwrite", (b"usr/lib/one-block",), (1 << 20, b"past EOF")),
    ("append", (b"etc/hostname",), (b"appended\n",)),
    ("create", (b"usr/lib/small.txt",), (b"truncated+rewritten", False, True)),
    ("create", (b"etc/empty",), (b"not truncated", False, False)),
    ("create", (b"etc/new-excl",), (b"excl", True, False, 0o640)),
    ("create", (b"etc/new-excl",), (b"again", True, False)),
    ("truncate", (b"sparse/hole-start",), (100,)),
    ("truncate", (b"sparse/hole-end",), (5 << 20,)),
    ("truncate", (b"sparse/only-hole",), (0,)),
    ("pwrite", (b"sparse/holes-everywhere",), (3 << 20, b"into a hole")),
    ("fallocate", (b"times/epoch",), (0, 0, 100000)),
    ("fallocate", (b"times/nanoseconds",), (FALLOC_FL_KEEP_SIZE, 0, 100000)),
    ("fallocate", (b"usr/lib/big.bin",), (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 65536)),
    ("mmap_write", (b"usr/lib/odd-size",), (4096, b"MAPPED" * 100)),
    ("pwrite", (b"hard/pair2",), (0, b"PAIR")),
    ("pwrite", (b"hard/sub/b",), (0, b"LINK")),
    ("append", (b"other/c",), (b"+c",)),
    ("pwrite", (DEEP1,), (0, b"DEEP")),
    ("pwrite", (b"names/with\nnewline",), (0, b"N")),
    ("pwrite", (b"names/latin1-\xe9\xff",), (3, b"L")),
    ("pwrite", (b"perms/none",), (0, b"root may")),
    ("pwrite", (b"xattrs/ping",), (0, b"WRITE")),           # a write drops security.capability
    ("pwrite", (b"usr/bin/su",), (0, b"W")),                # root writes: setuid stays
    ("pwrite", (b"dev/null",), (0, b"x")),                  # refused by the helper in both trees
    ("pwrite", (b"links/rel",), (0, b"x")),                 # O_NOFOLLOW: ELOOP in both
    ("open_unlink_write", (b"times/far-future",), (b"unlinked",)),
    ("fsync", (b"usr/lib/big.bin",), ()),
    ("fsyncdir", (b"usr/lib",), ()),
    ("read", (b"usr/lib/big.bin",), ()),
    ("read", (b"usr/lib/odd-size",), ()),
    ("read", (b"other/c",), ()),
    ("lstat", (b"hard/a",), ()),
]


def test_diff_file_data(pair_env):
    pair, ovl, h = pair_env
    run_seq(pair, [(op, rels, args + ((pair.t0,) if op == "lstat" else ())) for op, rels, args in SEQ_DATA])
    check_pair(pair, ovl, h)


SEQ_NAMESPACE = [
    ("unlink", (b"etc/hostname",), ()),
    ("unlink", (b"links/rel",), ()),
    ("unlink", (b"dev/sda",), ()),
    ("unlink", (b"run/initctl",), ()),
    ("unlink", (b"hard/pair1",), ()),
    ("unlink", (b"etc",), ()),
    ("rmdir", (b"emptydir",), ()),
    ("rmdir", (b"etc",), ()),
    ("unlink", (b"perms/readonly-dir/inner",), ()),
    ("rmdir", (b"perms/readonly-dir",), ()),
    ("mkdir", (b"perms/readonly-dir",), (0o700,)),
    ("listdir", (b"perms/readonly-dir",), ()),
    ("create", (b"etc/hostname",), (b"recreated", True, False)),
    ("rmtree", (b"names",), ()),
    ("mkdir", (b"names",), ()),
    ("listdir", (b"names",), ()),
    ("create", (b"names/new",), (b"in a new dir", True, False)),
    ("rename2", (b"names", b"var/mail"), (RENAME_EXCHANGE,)),     # new dir <-> template dir
    ("listdir", (b"names",), ()),
    ("listdir", (b"var/mail",), ()),
    ("rename2", (b"deep1", b"deep-moved"), (0,)),
    ("rename2", (b"usr/lib", b"lib"), (0,)),
    ("mkdir", (b"usr/lib",), ()),
    ("rename2", (b"hard", b"var/hard"), (0,)),
    ("rename2", (b"var/hard/a", b"var/hard/sub/b"), (0,)),       # same inode: no-op
    ("rename2", (b"times/epoch", b"lib/small.txt"), (0,)),      # template over template
    ("rename2", (b"lib/one-block", b"etc/hostname"), (0,)),     # template over new
    ("rename2", (b"acl", b"etc"), (0,)),                        # ENOTEMPTY
    ("rename2", (b"acl", b"emptydir"), (0,)),                   # onto a deleted name
    ("rename2", (b"owners", b"xattrs"), (RENAME_EXCHANGE,)),
    ("rename2", (b"etc/empty", b"tmp"), (RENAME_EXCHANGE,)),
    ("rename2", (b"etc/hostname", b"lib/big.bin"), (RENAME_NOREPLACE,)),
    ("rename2", (b"etc/hostname", b"etc/hostname.new"), (RENAME_NOREPLACE,)),
    ("rename2", (b"lib", b"lib/x"), (0,)),                      # EINVAL
    ("rename2", (b"emptydir", b"etc/tmp"), (0,)),               # dir over empty dir (was tmp)
    ("link", (b"lib/big.bin", b"var/big-link"), ()),
    ("link", (b"links/abs", b"var/abs-link"), ()),
    ("link", (b"var/hard/pair2", b"var/pair3"), ()),
    ("link", (b"dev/tty0", b"var/tty"), ()),
    ("link", (b"usr", b"var/usr"), ()),                         # EPERM
    ("symlink", (b"var/sym",), (b"../etc/hostname.new",)),
    ("symlink", (b"var/sym",), (b"again",)),                    # EEXIST
    ("mknod", (b"var/fifo",), (stat.S_IFIFO | 0o640,)),
    ("mknod", (b"var/chr",), (stat.S_IFCHR | 0o600, 1, 3)),
    ("mknod", (b"var/blk",), (stat.S_IFBLK | 0o600, 8, 1)),
    ("mknod", (b"var/sock",), (stat.S_IFSOCK | 0o600,)),
    ("mkdir", (b"names/sub",), ()),                             # setgid dir (was var/mail): gid and bit inherited
    ("create", (b"names/file",), (b"mail", True, False)),
    ("mkdir", (b"var/mail/sub",), ()),
    ("create", (b"var/mail/file",), (b"mail", True, False)),
    ("mkdir", (b"deep-moved/x",), ()),
    ("rename2", (b"deep-moved/d23456789", b"deep-moved/x/d"), (0,)),
    ("rename2", (b"deep-moved/x", b"deep2/x"), (0,)),
    ("listdir", (b"",), ()),
    ("listdir", (b"var",), ()),
    ("listdir", (b"deep2",), ()),
    ("listdir", (b"usr",), ()),
    ("listdir", (b"xattrs",), ()),
]


def test_diff_namespace(pair_env):
    pair, ovl, h = pair_env
    run_seq(pair, SEQ_NAMESPACE)
    check_pair(pair, ovl, h)


SEQ_METADATA = [
    ("chmod", (b"etc/hostname",), (0o600,)),
    ("chmod", (b"usr/bin/wall",), (0o755,)),
    ("chmod", (b"tmp",), (0o755,)),
    ("chmod", (b"emptydir",), (0o3777,)),
    ("chmod", (b"perms/none",), (0o4711,)),
    ("chmod", (b"dev/null",), (0o600,)),
    ("chmod", (b"links/rel",), (0o600,)),                        # helper skips symlinks
    ("chown", (b"usr/bin/su",), (0, 0)),                         # clears setuid
    ("chown", (b"usr/bin/everything",), (1, 1)),
    ("chown", (b"xattrs/caps-many",), (0, 0)),                   # clears security.capability
    ("chown", (b"links/abs",), (77, 77)),
    ("chown", (b"owners/odd-dir",), (0, 5)),
    ("chown", (b"run/fifo-owned",), (3000000000, 3000000001)),
    ("chown", (b"hard/pair2",), (-1, 99)),
    ("utime", (b"etc/empty",), (1_000_000_000_000000001, 2_000_000_000_000000002)),
    ("utime", (b"usr/lib/small.txt",), (UTIME_OMIT, 123_456_789)),
    ("utime", (b"times/epoch",), (UTIME_NOW, UTIME_OMIT)),
    ("utime", (b"times/nanoseconds",), (5, UTIME_NOW)),
    ("utime", (b"links/dangling",), (7, 8)),
    ("utime", (b"deep1",), (9, 10)),
    ("utime", (b"",), (11, 12)),
    ("setxattr", (b"etc/hostname",), ("user.new", b"u")),
    ("setxattr", (b"etc/hostname",), ("trusted.new", b"t")),
    ("setxattr", (b"etc/hostname",), ("security.new", b"s")),
    ("setxattr", (b"etc/hostname",), ("user.new", b"x", os.XATTR_CREATE)),
    ("setxattr", (b"etc/hostname",), ("user.none", b"x", os.XATTR_REPLACE)),
    ("setxattr", (b"xattrs/long",), ("user.long", b"short", os.XATTR_REPLACE)),
    ("removexattr", (b"xattrs/binary",), ("user.bin",)),
    ("removexattr", (b"xattrs/binary",), ("user.bin",)),
    ("removexattr", (b"xattrs/dir",), ("trusted.dir",)),
    ("setxattr", (b"links/rel",), ("user.onlink", b"no")),       # EPERM on a symlink
    ("setxattr", (b"links/rel",), ("trusted.onlink", b"yes")),
    ("setxattr", (b"dev/tty0",), ("trusted.dev", b"d")),
    ("setxattr", (b"hard/sub/b",), ("user.group", b"g")),
    ("setxattr", (b"",), ("user.root", b"r")),
    ("listxattr", (b"etc/hostname",), ()),
    ("setfacl", (b"etc/empty",), ("-m", "u:1234:rw,g:5678:r")),
    ("setfacl", (b"acl/file",), ("-x", "u:1234")),
    ("setfacl", (b"acl/acl-and-xattr",), ("-b",)),
    ("setfacl", (b"var",), ("-d", "-m", "u:65534:rwx")),
    ("create", (b"var/inherits",), (b"i", True, False, 0o666)),
    ("mkdir", (b"var/inherits-dir",), (0o777,)),
    ("create", (b"acl/default-dir/inherits",), (b"i", True, False, 0o640)),
    ("getfacl", (b"var/inherits",), ()),
    ("getfacl", (b"acl/default-dir/inherits",), ()),
    ("chmod", (b"acl/file",), (0o600,)),                         # changes the ACL mask
    ("getfacl", (b"acl/file",), ()),
    ("setcap", (b"etc/hostname",), ("cap_chown+ep",)),
    ("setcap", (b"xattrs/ping",), ("-r",)),
    ("pwrite", (b"etc/hostname",), (0, b"#"),),                      # a write drops the capability
]


def test_diff_metadata(pair_env):
    pair, ovl, h = pair_env
    run_seq(pair, SEQ_METADATA)
    check_pair(pair, ovl, h)


U65534 = NOBODY
SEQ_USERS = [
    # uid 65534 (not the owner of anything but owners/nobody)
    ("pwrite", (b"etc/hostname",), (0, b"x"), U65534),               # EACCES
    ("read", (b"perms/none",), (), U65534),                          # EACCES
    ("read", (b"acl/acl-and-xattr",), (), U65534),                   # ACL grants read
    ("pwrite", (b"acl/acl-and-xattr",), (0, b"x"), U65534),          # ... not write
    ("chmod", (b"etc/hostname",), (0o777,), U65534),                 # EPERM
    ("chown", (b"owners/nobody",), (65534, 0), U65534),              # EPERM (not in group 0)
    ("chown", (b"owners/nobody",), (65534, 65534), U65534),          # no change: allowed
    ("pwrite", (b"owners/nobody",), (0, b"NOBODY"), U65534),
    ("chmod", (b"owners/nobody",), (0o600,), U65534),
    ("create", (b"etc/new",), (b"n", True, False), U65534),          # EACCES
    ("mkdir", (b"etc/d",), (), U65534),
    ("unlink", (b"etc/hostname",), (), U65534),
    ("rename2", (b"etc/hostname", b"tmp/h"), (0,), U65534),
    ("utime", (b"etc/hostname",), (1, 2), U65534),                   # EPERM
    ("utime", (b"etc/hostname",), (UTIME_NOW, UTIME_NOW), U65534),   # EACCES
    ("utime", (b"owners/nobody",), (UTIME_NOW, UTIME_NOW), U65534),
    ("setxattr", (b"etc/hostname",), ("user.x", b"x"), U65534),      # EACCES
    ("setxattr", (b"owners/nobody",), ("user.x", b"x"), U65534),
    ("setxattr", (b"owners/nobody",), ("trusted.x", b"x"), U65534),  # EPERM
    ("create", (b"tmp/mine",), (b"mine", True, False, 0o644), U65534),
    ("mkdir", (b"tmp/mydir",), (0o750,), U65534),
    ("symlink", (b"tmp/mylink",), (b"mine",), U65534),
    ("mknod", (b"tmp/myfifo",), (stat.S_IFIFO | 0o600,), U65534),
    ("chmod", (b"tmp/mine",), (0o4755,), U65534),
    ("pwrite", (b"tmp/mine",), (0, b"w"), U65534),                  # a write clears setuid
    ("chmod", (b"tmp/mine",), (0o6755,), U65534),
    ("truncate", (b"tmp/mine",), (2,), U65534),                      # so does a truncate
    ("chmod", (b"tmp/mine",), (0o2745,), U65534),
    ("pwrite", (b"tmp/mine",), (0, b"x"), U65534),                  # setgid without g+x stays
    ("chmod", (b"tmp/mine",), (0o6775,), U65534),
    ("create", (b"tmp/mine",), (b"t", False, True), U65534),        # O_TRUNC clears both
    ("chmod", (b"tmp/mine",), (0o4755,), U65534),
    ("chown", (b"tmp/mine",), (0, 0), U65534),                       # EPERM
    # uid 1234 owns owners/odd*, acl/file has u:1234:rwx
    ("pwrite", (b"owners/odd",), (0, b"ODD"), ODD),
    ("pwrite", (b"acl/file",), (0, b"ACL"), ODD),
    ("create", (b"owners/odd-dir/new",), (b"n", True, False, 0o2770), ODD),
    ("create", (b"tmp/odd",), (b"odd", True, False), ODD),
    ("unlink", (b"tmp/mine",), (), ODD),                             # sticky: EPERM
    ("rename2", (b"tmp/mine", b"tmp/stolen"), (0,), ODD),            # sticky: EPERM
    ("chmod", (b"owners/odd",), (0o2755,), ODD),                     # not in gid 5678: setgid dropped
    ("setfacl", (b"owners/odd",), ("-m", "u:65534:r"), ODD),
    ("read", (b"owners/odd",), (), U65534),
    ("lstat", (b"owners/odd-dir/new",), (), ODD),
    # root creates, then others look
    ("create", (b"tmp/roots",), (b"r", True, False, 0o600)),
    ("unlink", (b"tmp/roots",), (), U65534),                         # sticky
    ("read", (b"tmp/roots",), (), U65534),                           # EACCES
    ("listdir", (b"tmp",), (), U65534),
]


def test_diff_other_users(pair_env):
    """Other uids act through -o allow_other: permission errors as on a local fs,
    and what they create is theirs."""
    pair, ovl, h = pair_env
    seq = []
    for step in SEQ_USERS:
        op, rels, args = step[:3]
        if op == "lstat":
            args = args + (pair.t0,)
        seq.append((op, rels, args) + tuple(step[3:]))
    run_seq(pair, seq)
    check_pair(pair, ovl, h)


# ---------------------------------------------------------------- randomized

NAMES = [b"n%d" % i for i in range(10)] + [b"hostname", b"a", b"leaf", b"lib", b"x y"]
MODES = [0o644, 0o600, 0o4755, 0o2711, 0o1777, 0o000, 0o755, 0o7777, 0o640]
IDS = [0, 1234, 65534, 5]
XNAMES = ["user.r1", "user.r2", "trusted.r3", "security.r4"]
XOLD = ["user.comment", "user.linked", "trusted.dir", "user.bin", "user.on-dir", "user.also"]
PATH_BUDGET = 3900


def _subtree_depths(dirs, files, others):
    """dir -> longest relative path below it (itself included)."""
    longest = {d: len(d) for d in dirs}
    for p in files + others + dirs:
        parts = p.split(b"/")
        for i in range(len(parts)):
            anc = b"/".join(parts[:i])
            if anc in longest and len(p) > longest[anc]:
                longest[anc] = len(p)
    return longest


def _size(pair, rel):
    try:
        return os.lstat(os.path.join(pair.plain, rel)).st_size
    except OSError:
        return 0


def random_sequence(pair, ovl, seed, nops, remount_at=()):
    rng = random.Random(seed)
    rootlen = len(pair.plain)
    files = dirs = others = longest = None
    persist_problems = []
    for i in range(nops):
        if i in remount_at:
            live = snapshot(pair.mnt)
            ovl.remount()
            again = snapshot(pair.mnt)
            from fixtures import compare_trees
            d = compare_trees(live, again, include_root=True)
            if d:
                persist_problems.append(f"after op {pair.count}: remount changed the mount:\n" + "\n".join(d[:20]))
        if i % 8 == 0:
            files, dirs, others = tree_paths(pair.plain)
            longest = _subtree_depths(dirs, files, others)
        entries = files + dirs[1:] + others
        user = rng.choice([None] * 8 + [NOBODY, ODD])

        def newpath(extra=0):
            for _ in range(20):
                d = rng.choice(dirs)
                n = rng.choice(NAMES)
                p = (d + b"/" + n) if d else n
                if rootlen + len(p) + extra < PATH_BUDGET:
                    return p
            return rng.choice(NAMES)

        kind = rng.choices(
            ["pwrite", "append", "truncate", "create", "mkdir", "unlink", "rmdir", "rename", "link", "symlink",
             "mknod", "chmod", "chown", "utime", "setxattr", "removexattr", "fallocate", "read", "lstat", "listdir",
             "setfacl", "mmap"],
            weights=[10, 5, 5, 8, 5, 5, 4, 10, 4, 3, 2, 5, 4, 4, 4, 3, 2, 5, 5, 4, 2, 1])[0]
        if kind in ("pwrite", "append", "truncate", "fallocate", "read", "mmap") and not files:
            kind = "create"
        if kind == "pwrite":
            f = rng.choice(files)
            size = _size(pair, f)
            off = rng.randrange(0, size + 5000)
            data = rng.randbytes(rng.choice([1, 100, 5000, 70000]))
            pair.both("pwrite", f, args=(off, data), user=user)
        elif kind == "append":
            pair.both("append", rng.choice(files), args=(rng.randbytes(rng.randrange(1, 3000)),), user=user)
        elif kind == "truncate":
            f = rng.choice(files)
            size = _size(pair, f)
            pair.both("truncate", f, args=(rng.choice([0, rng.randrange(0, 200000), size // 2, size + 4097]),),
                      user=user)
        elif kind == "create":
            pair.both("create", newpath(), args=(rng.randbytes(rng.randrange(0, 9000)), rng.random() < 0.5,
                                                 rng.random() < 0.5, rng.choice(MODES)), user=user)
        elif kind == "mkdir":
            pair.both("mkdir", newpath(), args=(rng.choice([0o755, 0o700, 0o2775, 0o1777]),), user=user)
        elif kind == "unlink":
            pair.both("unlink", rng.choice(entries) if entries else b"x", user=user)
        elif kind == "rmdir":
            pair.both("rmdir", rng.choice(dirs[1:]) if len(dirs) > 1 else b"x", user=user)
        elif kind == "rename":
            src = rng.choice(entries) if entries else b"x"
            depth = longest.get(src, len(src)) - len(src)
            if rng.random() < 0.4 and entries:
                dst = rng.choice(entries)
                if rootlen + len(dst) + depth >= PATH_BUDGET:
                    dst = newpath(depth)
            else:
                dst = newpath(depth)
            flags = rng.choice([0, 0, 0, RENAME_NOREPLACE, RENAME_EXCHANGE])
            if flags == RENAME_EXCHANGE:
                d2 = longest.get(dst, len(dst)) - len(dst)
                if rootlen + len(src) + d2 >= PATH_BUDGET:
                    flags = 0
            pair.both("rename2", src, dst, args=(flags,), user=user)
        elif kind == "link":
            src = rng.choice(files + others) if files + others else b"x"
            pair.both("link", src, newpath(), user=user)
        elif kind == "symlink":
            pair.both("symlink", newpath(), args=(rng.choice([b"../etc/hostname", b"n1", b"/nonexistent", b"."]),),
                      user=user)
        elif kind == "mknod":
            mode = rng.choice([stat.S_IFIFO | 0o644, stat.S_IFCHR | 0o600, stat.S_IFBLK | 0o660])
            pair.both("mknod", newpath(), args=(mode, 1, 3), user=user)
        elif kind == "chmod":
            pair.both("chmod", rng.choice(dirs + files), args=(rng.choice(MODES),), user=user)
        elif kind == "chown":
            pair.both("chown", rng.choice(dirs + entries), args=(rng.choice(IDS + [-1]), rng.choice(IDS + [-1])),
                      user=user)
        elif kind == "utime":
            a = rng.choice([UTIME_NOW, UTIME_OMIT, rng.randrange(1, 2 * 10**18)])
            m = rng.choice([UTIME_NOW, UTIME_OMIT, rng.randrange(1, 2 * 10**18)])
            pair.both("utime", rng.choice(dirs + entries), args=(a, m), user=user)
        elif kind == "setxattr":
            pair.both("setxattr", rng.choice(dirs + entries),
                      args=(rng.choice(XNAMES), rng.randbytes(rng.randrange(0, 300))), user=user)
        elif kind == "removexattr":
            pair.both("removexattr", rng.choice(dirs + entries), args=(rng.choice(XNAMES + XOLD),), user=user)
        elif kind == "fallocate":
            mode = rng.choice([0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE])
            pair.both("fallocate", rng.choice(files), args=(mode, rng.randrange(0, 100000), rng.randrange(1, 100000)),
                      user=user)
        elif kind == "read":
            pair.both("read", rng.choice(files), user=user)
        elif kind == "lstat":
            pair.both("lstat", rng.choice(dirs + entries), args=(pair.t0,), user=user)
        elif kind == "listdir":
            pair.both("listdir", rng.choice(dirs), user=user)
        elif kind == "setfacl":
            args = rng.choice([("-m", "u:1234:rwx"), ("-x", "u:1234"), ("-b",), ("-d", "-m", "g:5:rx"), ("-k",)])
            pair.both("setfacl", rng.choice(dirs + files), args=args, user=user)
        elif kind == "mmap":
            pair.both("mmap_write", rng.choice(files), args=(rng.randrange(0, 100000), rng.randbytes(300)),
                      user=user)
    return persist_problems


@pytest.mark.parametrize("seed,variant", [(1, "dotslash-none"), (2, "dotslash-none"), (3, "dotslash-zst"),
                                          (4, "dotslash-none")])
def test_diff_random(archive, domufs, public_dir, seed, variant):
    """A seeded random sequence of 300 operations (files and directories from
    the template and new ones, as root, uid 65534 and uid 1234), with two
    remounts on the way (each compared with the tree before it)."""
    tpl = archive(variant)
    h = file_hash(tpl)
    plain = extract(tpl, public_dir / "p")
    ovl = Ovl(domufs, tpl, public_dir / "o", mountpoint=public_dir / "m", opts="allow_other")
    pair = Pair(plain, ovl.m.path)
    persist = random_sequence(pair, ovl, seed, 300, remount_at=(100, 200))
    try:
        check_pair(pair, ovl, h)
    except AssertionError as ex:
        if persist:
            raise AssertionError("\n".join(persist) + "\n" + str(ex)) from None
        raise
    assert not persist, "\n".join(persist)
