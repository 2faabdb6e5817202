# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# Shared by the bench/ scripts (sourced, not run).

# median of the arguments (numbers); of an even count, the mean of the two middle ones
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.4f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# wait up to 5 s for process $1 to be gone (a FUSE daemon after its unmount)
wait_gone() {
	for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.05; done
	return 1
}

# a line on stderr with the time and the script's name; die: that, and exit 1
log() { printf '%s %s: %s\n' "$(date +%H:%M:%S)" "${0##*/}" "$*" >&2; }
die() { log "error: $*"; exit 1; }
