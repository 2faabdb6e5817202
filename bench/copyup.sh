#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# How long the rest of a writable mount waits while a large template file is
# copied up, or a large file is removed: domufs against fuse-overlayfs (and
# the kernel's overlayfs, when it can be mounted here), side by side in one
# run.
#
#   bench/copyup.sh [--reps N] [--size MIB] [--chmod-first] [--dir DIR]
#                   [--domufs PATH]
#
#   --reps N       runs per tool (default 3); the table shows medians
#   --size MIB     the template file's size (default 512)
#   --chmod-first  chmod the file before the timed open: domufs copies it
#                  up in metadata only then, and its data at the open (the
#                  overlayfs tools copy it whole at the chmod)
#   --dir DIR      where to build the template and the upper directories
#                  (default /var/tmp/domufs-bench)
#   --domufs PATH  the binary (default: build/domufs of this repository)
#
# The template (untimed): data/big, MIB of random bytes, and 200 small files
# in etc/, as an uncompressed tar for domufs and as a directory for the
# overlayfs tools, in the page cache. Each run mounts the tool over a new,
# empty upper directory and opens data/big for writing (the copy-up) while a
# second thread asks the mount for names that do not exist, one after the
# other (each a LOOKUP that reaches the daemon). Figures: how long the open
# took, and the longest any one of those lookups waited meanwhile; and, on
# another fresh mount, how long an open of data/big with O_TRUNC takes (what
# `cp NEW MNT/data/big` or `> MNT/data/big` does first: nothing of the old
# data needs copying); and on a third, how long an unlink of a file of the
# same size, just written through the mount into etc/, takes, and the
# longest lookup in data/ meanwhile (the kernel frees the file's blocks).
set -u
export LC_ALL=C

REPO=$(cd "$(dirname "$0")/.." && pwd)
. "$REPO/bench/lib.sh"
DIR=/var/tmp/domufs-bench
DOMUFS=$REPO/build/domufs
REPS=3
SIZE=512
CHMOD=0
while [ $# -gt 0 ]; do
	case $1 in
	--reps) REPS=$2; shift ;;
	--size) SIZE=$2; shift ;;
	--chmod-first) CHMOD=1 ;;
	--dir) DIR=$2; shift ;;
	--domufs) DOMUFS=$2; shift ;;
	-h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
	*) echo "copyup.sh: unknown argument: $1" >&2; exit 2 ;;
	esac
	shift
done

[ -x "$DOMUFS" ] || die "no domufs binary at $DOMUFS"
command -v fuse-overlayfs >/dev/null || die "fuse-overlayfs is not installed"
mkdir -p "$DIR" || die "cannot create $DIR"
WORK=$(mktemp -d "$DIR/copyup.XXXXXX") || die "cannot create a work directory"
MNT=$WORK/mnt
cleanup() {
	mountpoint -q "$MNT" && { fusermount3 -u "$MNT" 2>/dev/null || umount "$MNT"; }
	rm -rf "$WORK"
}
trap cleanup EXIT

SRC=$WORK/src TAR=$WORK/tmpl.tar CACHE=$WORK/cache
mkdir -p "$SRC/data" "$SRC/etc" "$MNT"
head -c "${SIZE}M" /dev/urandom >"$SRC/data/big" || die "cannot write the template file"
for i in $(seq 200); do echo "$i" >"$SRC/etc/f$i"; done
tar -C "$SRC" -cf "$TAR" . || die "tar failed"
"$DOMUFS" index --cache-dir "$CACHE" "$TAR" >/dev/null || die "index failed"
cat "$TAR" "$SRC/data/big" >/dev/null

# open: the copy-up of data/big, lookups in etc/; rm: an unlink of a new
# file of the same size written through the mount (untimed), in etc/,
# lookups in data/
PROBE='
import os, sys, threading, time
mnt, chmod, what = sys.argv[1:4]
if chmod == "1":
    os.chmod(f"{mnt}/data/big", 0o640)
where = "etc"
if what == "rm":
    where = "data"
    with open(f"{mnt}/etc/new", "wb") as f:
        chunk = b"n" * (1 << 20)
        for _ in range(os.stat(f"{mnt}/data/big").st_size >> 20):
            f.write(chunk)
        os.fsync(f.fileno())
lat, done = [], threading.Event()
def probe():
    i = 0
    while not done.is_set():
        t = time.perf_counter()
        try:
            os.stat(f"{mnt}/{where}/none{i}")
        except FileNotFoundError:
            pass
        lat.append(time.perf_counter() - t)
        i += 1
th = threading.Thread(target=probe)
th.start()
time.sleep(0.2)
n0 = len(lat)
t0 = time.perf_counter()
if what == "rm":
    os.unlink(f"{mnt}/etc/new")
else:
    fd = os.open(f"{mnt}/data/big", os.O_WRONLY)
t1 = time.perf_counter()
done.set()
th.join()
if what != "rm":
    os.close(fd)
during = lat[n0:]
print(f"{t1 - t0:.4f} {max(during):.4f} {len(during)}")
'

TRUNC='
import os, sys, time
if sys.argv[2] == "1":
    os.chmod(f"{sys.argv[1]}/data/big", 0o640)
t0 = time.perf_counter()
fd = os.open(f"{sys.argv[1]}/data/big", os.O_WRONLY | os.O_TRUNC)
t1 = time.perf_counter()
os.close(fd)
print(f"{t1 - t0:.4f}")
'

kernel_ok=0
mkdir -p "$WORK/k/u" "$WORK/k/w"
if mount -t overlay overlay -o "lowerdir=$SRC,upperdir=$WORK/k/u,workdir=$WORK/k/w" "$MNT" 2>/dev/null; then
	umount "$MNT"
	kernel_ok=1
fi
TOOLS="domufs fuse-overlayfs"
[ $kernel_ok = 1 ] && TOOLS="$TOOLS overlayfs"

mount_tool() { # TOOL UPPER
	mkdir -p "$2/upper" "$2/work"
	case $1 in
	domufs) "$DOMUFS" mount --cache-dir "$CACHE" --overlay "$2/upper" "$TAR" "$MNT" ;;
	fuse-overlayfs) fuse-overlayfs -o "lowerdir=$SRC,upperdir=$2/upper,workdir=$2/work" "$MNT" ;;
	overlayfs) mount -t overlay overlay -o "lowerdir=$SRC,upperdir=$2/upper,workdir=$2/work" "$MNT" ;;
	esac || die "mount of $1 failed"
}
umount_tool() { # TOOL
	case $1 in
	overlayfs) umount "$MNT" ;;
	*) fusermount3 -u "$MNT" ;;
	esac || die "unmount of $1 failed"
}

# the tools take turns run by run; one untimed run of each first
run_fresh() { # TOOL SCRIPT: its output, on a fresh mount over a new upper directory
	local up=$WORK/up-$1 out
	rm -rf "$up"
	mount_tool "$1" "$up"
	out=$(/usr/bin/python3 -c "$2" "$MNT" "$CHMOD" "${3:-}") || die "a run on $1 failed"
	umount_tool "$1"
	rm -rf "$up"
	echo "$out"
}

declare -A OPEN WAIT N TR RM RMW
for rep in $(seq 0 "$REPS"); do
	for tool in $TOOLS; do
		out=$(run_fresh "$tool" "$PROBE" open) || exit 1
		tr=$(run_fresh "$tool" "$TRUNC") || exit 1
		rm=$(run_fresh "$tool" "$PROBE" rm) || exit 1
		[ "$rep" = 0 ] && continue
		read -r o w n <<<"$out"
		read -r ro rw _ <<<"$rm"
		OPEN[$tool]+="$o " WAIT[$tool]+="$w " N[$tool]+="$n " TR[$tool]+="$tr "
		RM[$tool]+="$ro " RMW[$tool]+="$rw "
		log "$tool: open $o s, longest lookup $w s, $n lookups meanwhile; O_TRUNC open $tr s; unlink $ro s, longest lookup $rw s"
	done
done

echo "| tool | copy-up (open) s | longest lookup meanwhile s | lookups answered meanwhile | open with O_TRUNC s | unlink s | longest lookup meanwhile s |"
echo "|---|---|---|---|---|---|---|"
for tool in $TOOLS; do
	# shellcheck disable=SC2086 # the lists split into their numbers
	printf '| %s | %.3f | %.4f | %.0f | %.4f | %.3f | %.4f |\n' "$tool" "$(median ${OPEN[$tool]})" \
		"$(median ${WAIT[$tool]})" "$(median ${N[$tool]})" "$(median ${TR[$tool]})" \
		"$(median ${RM[$tool]})" "$(median ${RMW[$tool]})"
done
# shellcheck disable=SC2086
d=$(median ${WAIT[domufs]}) f=$(median ${WAIT[fuse-overlayfs]})
echo
# after a chmod, the overlayfs tools have nothing left to copy at the open
[ $CHMOD = 1 ] || echo "longest lookup, domufs / fuse-overlayfs: $(echo "scale=3; $d / $f" | bc -l)"
echo "file: $SIZE MiB$([ $CHMOD = 1 ] && echo ", chmod'ed before the timed open"); reps: $REPS (median); machine: $(nproc) cores, $(uname -r); $(date -u +%Y-%m-%d)"
