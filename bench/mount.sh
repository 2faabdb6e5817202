#!/bin/bash
# Mount benchmarks: domufs against zstd, the native tree, fuse-overlayfs,
# squashfuse_ll and archivemount, side by side in one run.
#
#   bench/mount.sh [--quick] [--reps N] [--dir DIR] [--domufs PATH] [--no-domufs]
#                  [--am-cap SECONDS] [--timeout SECONDS]
#
#   --quick        one run per figure instead of three
#   --reps N       runs per figure (default 3); the table shows the median
#   --dir DIR      where bench/mkroot.sh put its output (default /var/tmp/domufs-bench)
#   --domufs PATH  the binary (default: build/domufs of this repository)
#   --no-domufs    measure the reference tools only (automatic when the binary is missing)
#   --am-cap S     cap on archivemount's full read (default 60 s)
#   --timeout S    cap on any other timed command (default 600 s)
#
# Inputs (from bench/mkroot.sh DIR): root.tar, root.tar.zst, root.tar.gz, root/, root.sqfs.
# The page cache of those files is warmed first; "fresh mount" means each timed
# run gets a mount made just before it (untimed), so the kernel holds nothing of
# the FUSE file system. Timing is wall-clock from bash's $EPOCHREALTIME around
# `timeout S bash -c CMD`; the cost of that harness alone is reported as a row.
# Peak RSS is VmHWM from /proc/PID/status of the FUSE daemon just before each
# unmount. Prints a markdown table on stdout, progress on stderr; writes nothing
# outside a temporary directory under DIR, which it removes on exit.
set -u
export LC_ALL=C

REPO=$(cd "$(dirname "$0")/.." && pwd)
DIR=/var/tmp/domufs-bench
DOMUFS=$REPO/build/domufs
USE_DOMUFS=1
REPS=3
AM_CAP=60
TMO=600
ARGS="$*"

usage() { sed -n '2,/^set -u/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	--quick) REPS=1 ;;
	--reps) REPS=$2; shift ;;
	--dir) DIR=$2; shift ;;
	--domufs) DOMUFS=$2; shift ;;
	--no-domufs) USE_DOMUFS=0 ;;
	--am-cap) AM_CAP=$2; shift ;;
	--timeout) TMO=$2; shift ;;
	-h|--help) usage ;;
	*) echo "mount.sh: unknown argument: $1" >&2; usage ;;
	esac
	shift
done

log() { printf '%s mount.sh: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

case $DIR in *[[:space:]]*) die "DIR must not contain white space: $DIR" ;; esac
TAR=$DIR/root.tar TZST=$DIR/root.tar.zst TGZ=$DIR/root.tar.gz ROOT=$DIR/root SQFS=$DIR/root.sqfs
for f in "$TAR" "$TZST" "$TGZ" "$SQFS"; do [ -s "$f" ] || die "missing $f (run bench/mkroot.sh $DIR)"; done
[ -d "$ROOT/etc" ] || die "missing $ROOT (run bench/mkroot.sh $DIR)"
for t in zstd gzip fuse-overlayfs squashfuse_ll archivemount fusermount3 timeout awk; do
	command -v "$t" >/dev/null || die "$t is not installed"
done
if [ "$USE_DOMUFS" = 1 ] && [ ! -x "$DOMUFS" ]; then
	log "no domufs binary at $DOMUFS: measuring the reference tools only"
	USE_DOMUFS=0
fi

WORK=$(mktemp -d "$DIR/run.XXXXXX") || die "cannot create a work directory under $DIR"
MNTS=()
for t in domufs fuse-overlayfs squashfuse_ll archivemount; do
	mkdir "$WORK/mnt-$t"
	MNTS+=("$WORK/mnt-$t")
done
CACHE=$WORK/cache

# --- mounts ---------------------------------------------------------------

# fstype of the topmost mount at $1, empty when nothing is mounted there
fstype_at() {
	awk -v m="$1" '$5 == m { for (i = 7; i <= NF; i++) if ($i == "-") { t = $(i + 1); break } } END { print t }' \
		/proc/self/mountinfo
}
is_fuse_mounted() { case $(fstype_at "$1") in fuse*) return 0 ;; *) return 1 ;; esac; }

# pid of the daemon serving mount point $2, whose comm is $1
pid_of() {
	local p
	for p in $(pgrep -f -- "$2"); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$1" ] && { echo "$p"; return 0; }
	done
	return 1
}

mnt_of() { echo "$WORK/mnt-$1"; }

# the command that mounts tool $1 (for domufs: template $2) on its mount point
mount_cmd() {
	local m; m=$(mnt_of "$1")
	case $1 in
	domufs) echo "$DOMUFS mount --cache-dir $CACHE ${2:-$TZST} $m" ;;
	fuse-overlayfs) echo "fuse-overlayfs -o lowerdir=$ROOT $m" ;;
	squashfuse_ll) echo "squashfuse_ll $SQFS $m" ;;
	archivemount) echo "archivemount -o readonly $TZST $m" ;;
	esac
}

declare -A HWM HWMNOTE    # peak VmHWM (kB) per tool over the whole run, and where

umount_at() {
	local m=$1 i
	is_fuse_mounted "$m" || return 0
	fusermount3 -u "$m" 2>/dev/null || { sleep 0.5; fusermount3 -u "$m" 2>/dev/null; } ||
		umount "$m" 2>/dev/null || { log "lazy unmount of $m"; fusermount3 -uz "$m"; }
	for i in $(seq 50); do is_fuse_mounted "$m" || return 0; sleep 0.1; done
	log "could not unmount $m"
	return 1
}

# after a run on tool $1: check the mount is there, note VmHWM, unmount, wait for the daemon
finish_mount() {
	local tool=$1 where=$2 m pid hwm i
	m=$(mnt_of "$tool")
	if ! is_fuse_mounted "$m"; then
		log "$tool: nothing mounted at $m"
		return 1
	fi
	if pid=$(pid_of "$tool" "$m"); then
		hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")
		if [ -n "$hwm" ] && [ "$hwm" -gt "${HWM[$tool]:-0}" ]; then
			HWM[$tool]=$hwm HWMNOTE[$tool]=$where
		fi
	else
		log "$tool: daemon pid not found for $m"
	fi
	umount_at "$m" || return 1
	if [ -n "${pid:-}" ]; then
		for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	fi
	return 0
}

# untimed fresh mount of tool $1
fresh_mount() {
	local m; m=$(mnt_of "$1")
	umount_at "$m" || return 1
	bash -c "$(mount_cmd "$1")" >&2 || { log "$1: mount failed"; return 1; }
	is_fuse_mounted "$m" || { log "$1: mount command succeeded but nothing is mounted at $m"; return 1; }
}

cleanup() {
	local m
	trap - EXIT INT TERM
	for m in "${MNTS[@]}"; do umount_at "$m"; done
	for m in "${MNTS[@]}"; do is_fuse_mounted "$m" || rmdir "$m" 2>/dev/null; done
	rm -rf "$CACHE"
	rm -f "$WORK/out"
	rmdir "$WORK" 2>/dev/null || log "left $WORK behind (something is still mounted?)"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- timing ---------------------------------------------------------------

# run_timed CMD [CAP]: sets T (seconds), OUT (the command's stdout); returns its status
run_timed() {
	local t0 t1 rc
	t0=$EPOCHREALTIME
	timeout "${2:-$TMO}" bash -c "$1" >"$WORK/out"
	rc=$?
	t1=$EPOCHREALTIME
	T=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
	OUT=$(tr '\n' ' ' <"$WORK/out" | sed 's/ *$//')
	return $rc
}

median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.4f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

declare -A MED RUNS CHECK
ORDER=()

# measure FIGURE TOOL PREP CMD POST [CAP]
# REPS times: PREP (untimed), CMD (timed), POST (untimed, must succeed for the run to count)
measure() {
	local fig=$1 tool=$2 prep=$3 cmd=$4 post=$5 cap=${6:-$TMO} i rc vals=() k="$1|$2"
	ORDER+=("$k")
	log "$fig: $tool: $cmd"
	for ((i = 1; i <= REPS; i++)); do
		if ! eval "$prep"; then MED[$k]=FAIL; RUNS[$k]="(prepare failed)"; return 1; fi
		run_timed "$cmd" "$cap"
		rc=$?
		if [ $rc -eq 124 ] && [ "$cap" != "$TMO" ]; then
			eval "$post"
			MED[$k]=">$cap" RUNS[$k]="timed out after ${cap}s" CHECK[$k]="(capped)"
			return 0
		fi
		if [ $rc -ne 0 ]; then
			log "$tool: exit status $rc: $cmd"
			eval "$post"
			MED[$k]=FAIL RUNS[$k]="exit status $rc"
			return 1
		fi
		if ! eval "$post"; then MED[$k]=FAIL; RUNS[$k]="(check after run failed)"; return 1; fi
		vals+=("$T")
		CHECK[$k]=$OUT
		log "  run $i: $T s  ($OUT)"
	done
	MED[$k]=$(median "${vals[@]}")
	RUNS[$k]=${vals[*]}
}

# --- the run --------------------------------------------------------------

TOOLS_FUSE=(fuse-overlayfs squashfuse_ll)
[ "$USE_DOMUFS" = 1 ] && DOM=(domufs) || DOM=()

log "warming the page cache"
cat "$TAR" "$TZST" "$TGZ" "$SQFS" >/dev/null
tar -C "$ROOT" -cf - . | wc -c >/dev/null
find "$ROOT" | wc -l >/dev/null

measure "harness overhead" "true" : "true" :

# 1. cold mount to first ls, against one decompression of the template
measure "cold: decompress / mount+ls, .tar.zst" "zstd -dc" : "zstd -dc $TZST >/dev/null" :
measure "cold: decompress / mount+ls, .tar.gz" "gzip -dc" : "gzip -dc $TGZ >/dev/null" :
measure "cold: decompress / mount+ls, .tar" "cat" : "cat $TAR >/dev/null" :
if [ "$USE_DOMUFS" = 1 ]; then
	for tpl in "$TZST" "$TGZ" "$TAR"; do
		case $tpl in *.zst) ext=.tar.zst ;; *.gz) ext=.tar.gz ;; *) ext=.tar ;; esac
		measure "cold: decompress / mount+ls, $ext" domufs \
			"umount_at $(mnt_of domufs) && rm -rf $CACHE && mkdir $CACHE" \
			"$(mount_cmd domufs "$tpl") && ls $(mnt_of domufs) | wc -l" \
			"finish_mount domufs 'cold mount $ext'"
	done
fi

# 2. mount to first ls with the cache already built (and the references' mount times)
if [ "$USE_DOMUFS" = 1 ]; then
	rm -rf "$CACHE" && mkdir "$CACHE"
	log "domufs index --cache-dir $CACHE $TZST"
	"$DOMUFS" index --cache-dir "$CACHE" "$TZST" >&2 || log "domufs index failed"
fi
for t in "${DOM[@]}" "${TOOLS_FUSE[@]}" archivemount; do
	measure "warm: mount+ls" "$t" "umount_at $(mnt_of "$t")" \
		"$(mount_cmd "$t") && ls $(mnt_of "$t") | wc -l" "finish_mount $t 'mount+ls'"
done

# 3. find on a fresh mount
measure "find, fresh mount" native : "find $ROOT | wc -l" :
for t in "${TOOLS_FUSE[@]}" archivemount "${DOM[@]}"; do
	measure "find, fresh mount" "$t" "fresh_mount $t" "find $(mnt_of "$t") | wc -l" "finish_mount $t find"
done

# 4. full read on a fresh mount
measure "full read (tar -cf -), fresh mount" native : "tar -C $ROOT -cf - . | wc -c" :
for t in "${TOOLS_FUSE[@]}" "${DOM[@]}"; do
	measure "full read (tar -cf -), fresh mount" "$t" "fresh_mount $t" "tar -C $(mnt_of "$t") -cf - . | wc -c" \
		"finish_mount $t 'full read'"
done
REPS_SAVED=$REPS REPS=1
measure "full read (tar -cf -), fresh mount" archivemount "fresh_mount archivemount" \
	"tar -C $(mnt_of archivemount) -cf - . | wc -c" "finish_mount archivemount 'full read (capped)'" "$AM_CAP"
REPS=$REPS_SAVED

# 5. a small read on a fresh mount: two files, one early and one late in the archive
SMALL="etc/os-release usr/bin/bash"
measure "small read (cat $SMALL)" native : "cd $ROOT && cat $SMALL | wc -c" :
for t in "${TOOLS_FUSE[@]}" archivemount "${DOM[@]}"; do
	measure "small read (cat $SMALL)" "$t" "fresh_mount $t" "cd $(mnt_of "$t") && cat $SMALL | wc -c" \
		"finish_mount $t 'small read'"
done

# 6. domufs's worst case for memory: cold cache, then find and a full read in one mount
if [ "$USE_DOMUFS" = 1 ]; then
	log "domufs: cold mount, find, full read (for peak RSS)"
	rm -rf "$CACHE" && mkdir "$CACHE"
	if fresh_mount domufs; then
		find "$(mnt_of domufs)" | wc -l >/dev/null
		tar -C "$(mnt_of domufs)" -cf - . | wc -c >/dev/null
		finish_mount domufs 'cold mount + find + full read'
	fi
fi

# --- the table ------------------------------------------------------------

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }'; }

declare -A TARGETS   # "fig|tool" -> newline-separated "REF MAX" (REF "-" for an absolute limit in seconds)
target() { TARGETS["$1|$2"]+="$3 $4"$'\n'; }
target "cold: decompress / mount+ls, .tar.zst" domufs "zstd -dc" 1.3
target "warm: mount+ls" domufs - 0.050
target "find, fresh mount" domufs fuse-overlayfs 0.4
target "find, fresh mount" domufs squashfuse_ll 1.0
target "find, fresh mount" domufs native 2
target "full read (tar -cf -), fresh mount" domufs fuse-overlayfs 0.6
target "full read (tar -cf -), fresh mount" domufs native 1.5

MISSED=0
echo
echo "domufs mount benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, Linux $(uname -r)"
echo "command: bench/mount.sh $ARGS   (reps: $REPS, data: $DIR)"
echo "domufs: $([ "$USE_DOMUFS" = 1 ] && echo "$DOMUFS ($(git -C "$REPO" describe --always --dirty 2>/dev/null || echo 'no commit'))" || echo 'not measured')"
echo
echo "| figure | tool | median s | runs s | ratio | target | result | output |"
echo "|---|---|---:|---|---:|---|---|---|"
for k in "${ORDER[@]}"; do
	fig=${k%%|*} tool=${k#*|}
	if [ -z "${TARGETS[$k]:-}" ]; then
		echo "| $fig | $tool | ${MED[$k]} | ${RUNS[$k]} | | | | ${CHECK[$k]:-} |"
		continue
	fi
	while read -r ref max; do
		[ -n "$ref" ] || continue
		if [ "$ref" = - ]; then
			r="" tgt="≤ ${max} s"
			if le "${MED[$k]}" "$max"; then res=PASS; else res=MISS; fi
		else
			refmed=${MED["$fig|$ref"]:-n/a}
			r="$(ratio "${MED[$k]}" "$refmed") × $ref ($refmed s)" tgt="≤ $max × $ref"
			if [ "$(ratio "${MED[$k]}" "$refmed")" != n/a ] && le "$(ratio "${MED[$k]}" "$refmed")" "$max"; then
				res=PASS
			else
				res=MISS
			fi
		fi
		[ "${MED[$k]}" = FAIL ] && res=FAIL
		[ $res = PASS ] || MISSED=$((MISSED + 1))
		echo "| $fig | $tool | ${MED[$k]} | ${RUNS[$k]} | $r | $tgt | $res | ${CHECK[$k]:-} |"
	done <<<"${TARGETS[$k]}"
done
echo
echo "| daemon | peak RSS (VmHWM, max over the run) | target | result | worst case seen in |"
echo "|---|---:|---|---|---|"
for t in "${DOM[@]}" "${TOOLS_FUSE[@]}" archivemount; do
	if [ -n "${HWM[$t]:-}" ]; then
		mib=$(awk -v k="${HWM[$t]}" 'BEGIN { printf "%.1f", k / 1024 }')
		if [ "$t" = domufs ]; then
			tgt="≤ 64 MiB"
			if le "${HWM[$t]}" 65536; then res=PASS; else res=MISS; MISSED=$((MISSED + 1)); fi
		else
			tgt="" res=""
		fi
		echo "| $t | $mib MiB | $tgt | $res | ${HWMNOTE[$t]} |"
	else
		echo "| $t | n/a | | | |"
	fi
done
echo
[ "$USE_DOMUFS" = 1 ] && echo "targets missed or failed: $MISSED"
exit 0
