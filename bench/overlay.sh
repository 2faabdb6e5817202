#!/bin/bash
# Overlay benchmarks: a writable domufs mount (template + overlay directory)
# against fuse-overlayfs over the extracted tree, side by side in one run.
#
#   bench/overlay.sh [--quick] [--reps N] [--dir DIR] [--domufs PATH]
#
#   --quick        one run per figure instead of three
#   --reps N       runs per figure (default 3); the table shows the median
#   --dir DIR      where bench/mkroot.sh put its output (default /var/tmp/domufs-bench)
#   --domufs PATH  the binary (default: build/domufs of this repository)
#   --only FIGS    run only these figures (space- or comma-separated names
#                  from: write1g untar rmrf append100 chmodR chownR rename2k)
#   --upper-here   keep the upper directories on the filesystem of --dir
#                  instead of a fresh ext4 filesystem per run (see below)
#
# Each timed run gets its upper (and fuse-overlayfs work) directory on a new
# ext4 filesystem (mke2fs defaults, with a journal, inode tables initialized), made in a sparse
# image file under --dir and loop-mounted (untimed): both tools start from
# the same empty filesystem every time. On a filesystem where the previous
# run's tree of 16,700 files was just deleted, ext4's inode allocator spends
# most of the next run's time skipping the recently freed inodes (seen on a
# journal-less ext4 here: 70 % of the daemon's CPU in recently_deleted()),
# and the figures then measure that, run to run differently, not the tools.
#
# Figures (each on a fresh, empty overlay/upper directory, the template's
# index already cached): a 1 GiB sequential write with fsync; untar of the
# whole root (root.tar) into an empty directory of the mount; rm -rf of that
# tree; appending one byte to each of 100 template files of 1 MB or more;
# chmod -R and chown -R over the whole tree; 2,000 renames of one file after
# an untar of the whole root. Prints a markdown table with
# the ratio domufs / fuse-overlayfs and the issue's target for each.
set -u
export LC_ALL=C

REPO=$(cd "$(dirname "$0")/.." && pwd)
. "$REPO/bench/lib.sh"
DIR=/var/tmp/domufs-bench
DOMUFS=$REPO/build/domufs
REPS=3
UPPER_HERE=0
ONLY=
while [ $# -gt 0 ]; do
	case $1 in
	--quick) REPS=1 ;;
	--reps) REPS=$2; shift ;;
	--dir) DIR=$2; shift ;;
	--domufs) DOMUFS=$2; shift ;;
	--upper-here) UPPER_HERE=1 ;;
	--only) ONLY=${2//,/ }; shift ;;
	-h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
	*) echo "overlay.sh: unknown argument: $1" >&2; exit 2 ;;
	esac
	shift
done

TAR=$DIR/root.tar ZST=$DIR/root.tar.zst ROOT=$DIR/root
[ -s "$TAR" ] && [ -s "$ZST" ] && [ -d "$ROOT/etc" ] || die "run bench/mkroot.sh $DIR first"
[ -x "$DOMUFS" ] || die "no domufs binary at $DOMUFS"
command -v fuse-overlayfs >/dev/null || die "fuse-overlayfs is not installed"

WORK=$(mktemp -d "$DIR/ovl.XXXXXX") || die "cannot create a work directory"
MNT=$WORK/mnt
UFS=$WORK/ufs
mkdir -p "$MNT" "$UFS"
cleanup() {
	mountpoint -q "$MNT" && fusermount3 -u "$MNT"
	mountpoint -q "$UFS" && umount "$UFS"
	rm -rf "$WORK"
}
trap cleanup EXIT

CACHE=$WORK/cache
"$DOMUFS" index --cache-dir "$CACHE" "$ZST" >&2 || die "index failed"
cat "$TAR" "$ZST" >/dev/null

# 100 template files of 1 MB or more, as paths relative to the root
BIG=$WORK/big.list
(cd "$ROOT" && find . -type f -size +1M | sort | head -100) >"$BIG"
[ "$(wc -l <"$BIG")" -gt 0 ] || die "no file of 1 MB or more in $ROOT"

# where the upper directories go: a new ext4 filesystem per run, or --dir
fresh_upper_fs() {
	if [ "$UPPER_HERE" = 1 ]; then
		UP=$WORK
		rm -rf "$UP/upper" "$UP/work"
		return
	fi
	# the last FUSE daemon may still be closing its files there: retry
	local tries=0
	while mountpoint -q "$UFS" && ! umount "$UFS" 2>/dev/null; do
		tries=$((tries + 1))
		[ $tries -lt 100 ] || die "cannot unmount $UFS"
		sleep 0.1
	done
	rm -f "$WORK/ufs.img"
	truncate -s 4G "$WORK/ufs.img" || die "cannot create $WORK/ufs.img"
	# initialized now, so that no lazy-init thread writes during the run
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$WORK/ufs.img" || die "mkfs.ext4 failed"
	mount -o loop "$WORK/ufs.img" "$UFS" || die "cannot loop-mount the upper filesystem"
	UP=$UFS
}

mount_tool() { # TOOL: a fresh upper directory each time
	fresh_upper_fs
	mkdir -p "$UP/upper" "$UP/work"
	case $1 in
	domufs) "$DOMUFS" mount --cache-dir "$CACHE" --overlay "$UP/upper" "$ZST" "$MNT" ;;
	fuse-overlayfs) fuse-overlayfs -o "lowerdir=$ROOT,upperdir=$UP/upper,workdir=$UP/work" "$MNT" ;;
	esac || die "mount of $1 failed"
	mountpoint -q "$MNT" || die "$1 did not mount"
}
umount_tool() { fusermount3 -u "$MNT" || die "unmount failed"; }

now() { echo "${EPOCHREALTIME/,/.}"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Each figure: SETUP (untimed, after mount) and CMD (timed), in $MNT.
declare -A SETUP CMD
SETUP[write1g]=":"
CMD[write1g]="dd if=/dev/zero of=big bs=1M count=1024 conv=fsync status=none"
SETUP[untar]=":"
CMD[untar]="mkdir u && tar -C u -xf '$TAR'"
SETUP[rmrf]="mkdir u && tar -C u -xf '$TAR'"
CMD[rmrf]="rm -rf u"
SETUP[append100]=":"
CMD[append100]="while read -r f; do printf x >>\"\$f\"; done <'$BIG'"
SETUP[chmodR]=":"
CMD[chmodR]="chmod -R u+w ."
SETUP[chownR]=":"
CMD[chownR]="chown -R -h 1:1 ."
# after the whole tree went through the mount (untar), 2,000 renames of one
# file (what dpkg does per file it installs): a rename must not cost more
# the more files the mount has seen
SETUP[rename2k]="mkdir u && tar -C u -xf '$TAR' && touch a"
CMD[rename2k]="python3 -c 'import os
for i in range(1000):
    os.rename(\"a\", \"b\")
    os.rename(\"b\", \"a\")'"
FIGS="write1g untar rmrf append100 chmodR chownR rename2k"
if [ -n "$ONLY" ]; then
	for fig in $ONLY; do
		case " $FIGS " in *" $fig "*) ;; *) die "unknown figure: $fig" ;; esac
	done
	FIGS=$ONLY
fi
declare -A TARGET=([write1g]=1.0 [untar]=1.0 [rmrf]=1.0 [append100]=1.0 [chmodR]=0.5 [chownR]=0.5
	[rename2k]=1.0)

# The tools take turns, run by run (domufs, fuse-overlayfs, domufs, ...),
# so that a slow spell of the machine falls on both rather than on one, and
# each figure starts with one untimed run of each tool: on this virtual
# machine the first run after a pause pays for memory the host took back
# (free page reporting), up to 2-3x, whichever tool it is.
declare -A RES ERRS TIMES
for fig in $FIGS; do
	for rep in $(seq 0 "$REPS"); do
		for tool in domufs fuse-overlayfs; do
			mount_tool "$tool"
			(cd "$MNT" && eval "${SETUP[$fig]}") || die "$fig setup on $tool failed"
			sync
			t0=$(now)
			if ! (cd "$MNT" && eval "${CMD[$fig]}") 2>"$WORK/err"; then
				# fuse-overlayfs cannot chmod device nodes (EIO,
				# ENXIO): recorded, the run goes on over the rest
				log "$fig on $tool reported errors: $(sort -u "$WORK/err" | head -3 | tr '\n' ' ')"
				ERRS[$fig,$tool]=$(wc -l <"$WORK/err")
			fi
			t1=$(now)
			umount_tool
			[ "$rep" = 0 ] && continue # the warm-up run
			TIMES[$fig,$tool]+="$(echo "$t1 - $t0" | bc -l) "
		done
	done
	for tool in domufs fuse-overlayfs; do
		RES[$fig,$tool]=$(printf '%s\n' ${TIMES[$fig,$tool]} | median)
		log "$fig $tool ${RES[$fig,$tool]} s (${TIMES[$fig,$tool]% })"
	done
done

echo "| figure | domufs s | fuse-overlayfs s | ratio | target | met | errors (domufs / fuse-overlayfs) |"
echo "|---|---|---|---|---|---|---|"
for fig in $FIGS; do
	d=${RES[$fig,domufs]} f=${RES[$fig,fuse-overlayfs]}
	ratio=$(echo "scale=3; $d / $f" | bc -l)
	met=$(echo "$ratio <= ${TARGET[$fig]}" | bc -l)
	printf '| %s | %.3f | %.3f | %.2f | <= %s | %s | %s / %s |\n' "$fig" "$d" "$f" "$ratio" \
		"${TARGET[$fig]}" "$([ "$met" = 1 ] && echo yes || echo NO)" \
		"${ERRS[$fig,domufs]:-0}" "${ERRS[$fig,fuse-overlayfs]:-0}"
done
echo
echo "reps: $REPS (median); upper directories: $([ "$UPPER_HERE" = 1 ] && echo "on the filesystem of $DIR" || echo "a new ext4 filesystem (loop-mounted sparse image) per run"); machine: $(nproc) cores, $(uname -r); $(date -u +%Y-%m-%d)"
