#!/bin/bash
# A against B: two domufs builds on the walk figures of bench/mount.sh, their
# runs alternating (A, B, A, B, ...) so that whatever the machine does
# meanwhile falls on both alike. Per run: a fresh mount of the template
# (untimed, its cache built beforehand), then `find MNT | wc -l` or
# `tar -C MNT -cf - . | wc -c` timed; also the daemon's CPU time during the
# run (all its threads, from /proc/PID/task/*/schedstat).
#
#   bench/ab.sh [--reps N] [--only find|read] [--dir DIR] [--template FILE]
#               BIN_A BIN_B [MOUNT-OPTION...]
#
#   --reps N         runs per figure and build (default 5); the table shows medians
#   --only FIGURE    measure that figure only (find or read)
#   --dir DIR        where bench/mkroot.sh put its output (default /var/tmp/domufs-bench)
#   --template FILE  the template (default DIR/root.tar)
#   MOUNT-OPTION     passed to both builds' `domufs mount`
#
# Prints a markdown table on stdout, progress on stderr; writes nothing
# outside a temporary directory under DIR, which it removes on exit.
set -u
export LC_ALL=C
. "$(dirname "$0")/lib.sh"

DIR=/var/tmp/domufs-bench
REPS=5
TPL=
FIGS="find read"
while [ $# -gt 0 ]; do
	case $1 in
	--reps) REPS=$2; shift ;;
	--only) FIGS=$2; shift; case $FIGS in find | read) ;; *) echo "ab.sh: --only find or read" >&2; exit 2 ;; esac ;;
	--dir) DIR=$2; shift ;;
	--template) TPL=$2; shift ;;
	-h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	--) shift; break ;;
	-*) echo "ab.sh: unknown option $1" >&2; exit 2 ;;
	*) break ;;
	esac
	shift
done
[ $# -ge 2 ] || { echo "usage: bench/ab.sh [--reps N] [--only find|read] [--dir DIR] [--template FILE] BIN_A BIN_B [MOUNT-OPTION...]" >&2; exit 2; }
A=$(realpath "$1") B=$(realpath "$2")
shift 2
OPTS=("$@")
TPL=${TPL:-$DIR/root.tar}
for f in "$A" "$B" "$TPL"; do [ -e "$f" ] || { echo "ab.sh: $f: not found" >&2; exit 1; }; done

WORK=$(mktemp -d "$DIR/ab.XXXXXX") || exit 1
MNT=$WORK/mnt
mkdir "$MNT" "$WORK/cache-A" "$WORK/cache-B"
log() { echo "$(date +%T) ab.sh: $*" >&2; }
cleanup() {
	mountpoint -q "$MNT" && fusermount3 -u "$MNT"
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bin_of() { if [ "$1" = A ]; then echo "$A"; else echo "$B"; fi; }
daemon_cpu_ns() { cat "/proc/$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'; }

# one timed run of figure $1 on build $2: prints "wall_s daemon_cpu_s output"
run() {
	local fig=$1 ab=$2 pid c0 c1 t0 t1 out cmd
	"$(bin_of "$ab")" mount --cache-dir "$WORK/cache-$ab" "${OPTS[@]}" "$TPL" "$MNT" || return 1
	pid=$(pgrep -n -f -- "mount .*$MNT") || return 1
	case $fig in
	find) cmd="find $MNT | wc -l" ;;
	read) cmd="tar -C $MNT -cf - . | wc -c"; cat "$TPL" >/dev/null ;;
	esac
	sleep 1
	c0=$(daemon_cpu_ns "$pid")
	t0=$EPOCHREALTIME
	out=$(sh -c "$cmd")
	t1=$EPOCHREALTIME
	c1=$(daemon_cpu_ns "$pid")
	fusermount3 -u "$MNT" || return 1
	wait_gone "$pid"
	awk -v a="$t0" -v b="$t1" -v c="$c0" -v d="$c1" -v o="$out" \
		'BEGIN { printf "%.4f %.4f %s\n", b - a, (d - c) / 1e9, o }'
}

for ab in A B; do
	log "indexing for $ab: $(bin_of "$ab")"
	"$(bin_of "$ab")" index --cache-dir "$WORK/cache-$ab" "$TPL" >/dev/null || exit 1
done
declare -A WALL CPU OUT
for fig in $FIGS; do
	for i in $(seq "$REPS"); do
		for ab in A B; do
			r=$(run "$fig" "$ab") || { log "$fig on $ab failed"; exit 1; }
			set -- $r
			log "$fig $ab run $i: $1 s, daemon CPU $2 s (output $3)"
			WALL[$fig$ab]+="$1 " CPU[$fig$ab]+="$2 "
			if [ -n "${OUT[$fig]:-}" ] && [ "${OUT[$fig]}" != "$3" ]; then
				log "$fig: output $3 differs from ${OUT[$fig]}"; exit 1
			fi
			OUT[$fig]=$3
		done
	done
done

echo "A/B of two domufs builds, $(date -u '+%Y-%m-%d %H:%M') UTC, $(nproc) CPUs, Linux $(uname -r)"
only=; [ "$FIGS" = "find read" ] || only="--only $FIGS "
echo "command: bench/ab.sh --reps $REPS ${only}--template $TPL $A $B${OPTS[*]:+ ${OPTS[*]}}"
echo "A: $A (sha256 $(sha256sum "$A" | cut -c1-12)); B: $B (sha256 $(sha256sum "$B" | cut -c1-12))"
echo
echo "| figure | build | median s | runs s | daemon CPU median s | B/A wall | B/A daemon CPU |"
echo "|---|---|---:|---|---:|---:|---:|"
for fig in $FIGS; do
	for ab in A B; do
		w=$(median ${WALL[$fig$ab]}) c=$(median ${CPU[$fig$ab]})
		if [ "$ab" = B ]; then
			wa=$(median ${WALL[${fig}A]}) ca=$(median ${CPU[${fig}A]})
			rw=$(awk -v a="$wa" -v b="$w" 'BEGIN { printf "%.2f", b / a }')
			rc=$(awk -v a="$ca" -v b="$c" 'BEGIN { printf "%.2f", (a > 0 ? b / a : 0) }')
		else
			rw='' rc=''
		fi
		echo "| $fig (fresh mount, output ${OUT[$fig]}) | $ab | $w | ${WALL[$fig$ab]}| $c | $rw | $rc |"
	done
done
