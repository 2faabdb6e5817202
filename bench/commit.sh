#!/bin/bash
# Commit benchmarks: `domufs commit` of the real Debian 12 root (index
# already cached) into a new 2 GiB ext4 image, side by side in one run with
# mke2fs -d from the extracted tree, the source documents' method (mkfs,
# loop mount, tar -xpf, umount) and genext2fs -a (ext2 only), all including
# the final sync; and export to .tar.zst against tar -c | zstd -T0 -3.
#
#   bench/commit.sh [--quick] [--reps N] [--dir DIR] [--domufs PATH]
#
# Inputs from bench/mkroot.sh DIR: root.tar, root.tar.zst, root/. Prints a
# markdown table (medians) with ratios to mke2fs -d and the peak RSS of the
# commit; writes nothing outside a temporary directory under DIR.
set -u
export LC_ALL=C

REPO=$(cd "$(dirname "$0")/.." && pwd)
. "$REPO/bench/lib.sh"
DIR=/var/tmp/domufs-bench
DOMUFS=$REPO/build/domufs
REPS=3
while [ $# -gt 0 ]; do
	case $1 in
	--quick) REPS=1 ;;
	--reps) REPS=$2; shift ;;
	--dir) DIR=$2; shift ;;
	--domufs) DOMUFS=$2; shift ;;
	-h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
	*) echo "commit.sh: unknown argument: $1" >&2; exit 2 ;;
	esac
	shift
done

TAR=$DIR/root.tar ZST=$DIR/root.tar.zst ROOT=$DIR/root
[ -s "$TAR" ] && [ -s "$ZST" ] && [ -d "$ROOT/etc" ] || die "run bench/mkroot.sh $DIR first"
[ -x "$DOMUFS" ] || die "no domufs binary at $DOMUFS"
for t in mke2fs genext2fs zstd losetup; do command -v $t >/dev/null || die "$t missing (scripts/deps.sh --bench installs it)"; done

WORK=$(mktemp -d "$DIR/commit.XXXXXX") || die "cannot create a work directory"
MNT=$WORK/mnt
mkdir -p "$MNT"
cleanup() {
	mountpoint -q "$MNT" && umount "$MNT"
	rm -rf "$WORK"
}
trap cleanup EXIT

CACHE=$WORK/cache
"$DOMUFS" index --cache-dir "$CACHE" "$ZST" >&2 || die "index failed"
cat "$TAR" "$ZST" >/dev/null
tar -C "$ROOT" -cf - . >/dev/null

now() { echo "${EPOCHREALTIME/,/.}"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

IMG=$WORK/img
loopmethod() {
	truncate -s 2G "$IMG" && mkfs.ext4 -q -F "$IMG" &&
		mount -o loop "$IMG" "$MNT" && tar -C "$MNT" --xattrs --xattrs-include='*' \
		--numeric-owner -xpf "$TAR" && umount "$MNT" && sync
}

declare -A CMD
CMD[domufs]="'$DOMUFS' commit --cache-dir '$CACHE' --size 2G '$ZST' '$IMG' >/dev/null && sync"
CMD[mke2fs-d]="mke2fs -q -F -t ext4 -d '$ROOT' '$IMG' 2G && sync"
CMD[loop-mount-untar]="loopmethod"
CMD[genext2fs-a]="genext2fs -B 4096 -b 524288 -N 131072 -a '$TAR' '$IMG' && sync"
CMD[export-tar.zst]="'$DOMUFS' commit --cache-dir '$CACHE' --format tar.zst '$ZST' '$WORK/out.tar.zst' >/dev/null && sync"
CMD[tar-zstd]="tar -C '$ROOT' --xattrs --numeric-owner -cf - . | zstd -q -T0 -3 >'$WORK/out2.tar.zst' && sync"
TOOLS="domufs mke2fs-d loop-mount-untar genext2fs-a export-tar.zst tar-zstd"

declare -A RES
for tool in $TOOLS; do
	times=()
	for _ in $(seq "$REPS"); do
		rm -f "$IMG" "$WORK"/out*.tar.zst
		sync
		t0=$(now)
		eval "${CMD[$tool]}" || die "$tool failed"
		t1=$(now)
		times+=("$(echo "$t1 - $t0" | bc -l)")
	done
	RES[$tool]=$(printf '%s\n' "${times[@]}" | median)
	log "$tool ${RES[$tool]} s (${times[*]})"
done

rm -f "$IMG"
RSS=$( { /usr/bin/time -f '%M' "$DOMUFS" commit --cache-dir "$CACHE" --size 2G "$ZST" "$IMG" >/dev/null; } 2>&1 | tail -1)
e2fsck -fn "$IMG" >/dev/null 2>&1 && FSCK=clean || FSCK=ERRORS

ref=${RES[mke2fs-d]}
echo "| tool | seconds (median of $REPS) | ratio to mke2fs -d |"
echo "|---|---|---|"
for tool in domufs mke2fs-d loop-mount-untar genext2fs-a; do
	printf '| %s | %.3f | %.2f |\n' "$tool" "${RES[$tool]}" "$(echo "${RES[$tool]} / $ref" | bc -l)"
done
echo
printf '| export | seconds | ratio |\n|---|---|---|\n'
printf '| domufs commit --format tar.zst | %.3f | %.2f |\n' "${RES[export-tar.zst]}" \
	"$(echo "${RES[export-tar.zst]} / ${RES[tar-zstd]}" | bc -l)"
printf '| tar -c \\| zstd -T0 -3 | %.3f | 1.00 |\n' "${RES[tar-zstd]}"
echo
echo "peak RSS of a commit: $((RSS / 1024)) MiB ($RSS KiB); e2fsck -fn of the image: $FSCK"
echo "machine: $(nproc) cores, $(uname -r); $(date -u +%Y-%m-%d)"
