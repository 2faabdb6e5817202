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
#
# Figures (each on a fresh, empty overlay/upper directory, the template's
# index already cached): a 1 GiB sequential write with fsync; untar of the
# whole root (root.tar) into an empty directory of the mount; rm -rf of that
# tree; appending one byte to each of 100 template files of 1 MB or more;
# chmod -R and chown -R over the whole tree. Prints a markdown table with
# the ratio domufs / fuse-overlayfs and the issue's target for each.
set -u
export LC_ALL=C

REPO=$(cd "$(dirname "$0")/.." && pwd)
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
	*) echo "overlay.sh: unknown argument: $1" >&2; exit 2 ;;
	esac
	shift
done

log() { printf '%s overlay.sh: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

TAR=$DIR/root.tar ZST=$DIR/root.tar.zst ROOT=$DIR/root
[ -s "$TAR" ] && [ -s "$ZST" ] && [ -d "$ROOT/etc" ] || die "run bench/mkroot.sh $DIR first"
[ -x "$DOMUFS" ] || die "no domufs binary at $DOMUFS"
command -v fuse-overlayfs >/dev/null || die "fuse-overlayfs is not installed"

WORK=$(mktemp -d "$DIR/ovl.XXXXXX") || die "cannot create a work directory"
MNT=$WORK/mnt
mkdir -p "$MNT"
cleanup() {
	mountpoint -q "$MNT" && fusermount3 -u "$MNT"
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

mount_tool() { # TOOL: a fresh upper directory each time
	rm -rf "$WORK/upper" "$WORK/work"
	mkdir -p "$WORK/upper" "$WORK/work"
	case $1 in
	domufs) "$DOMUFS" mount --cache-dir "$CACHE" --overlay "$WORK/upper" "$ZST" "$MNT" ;;
	fuse-overlayfs) fuse-overlayfs -o "lowerdir=$ROOT,upperdir=$WORK/upper,workdir=$WORK/work" "$MNT" ;;
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
FIGS="write1g untar rmrf append100 chmodR chownR"
declare -A TARGET=([write1g]=1.0 [untar]=1.0 [rmrf]=1.0 [append100]=1.0 [chmodR]=0.5 [chownR]=0.5)

declare -A RES ERRS
for fig in $FIGS; do
	for tool in domufs fuse-overlayfs; do
		times=()
		for _ in $(seq "$REPS"); do
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
			times+=("$(echo "$t1 - $t0" | bc -l)")
		done
		RES[$fig,$tool]=$(printf '%s\n' "${times[@]}" | median)
		log "$fig $tool ${RES[$fig,$tool]} s (${times[*]})"
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
echo "reps: $REPS (median); machine: $(nproc) cores, $(uname -r); $(date -u +%Y-%m-%d)"
