#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The README's second command: installs what is missing, checks the style,
# builds with -Werror, runs every suite (unit, lint, integration, and slow:
# a real Debian 12 root built once with mmdebstrap and reused), runs unit,
# lint and integration again in an ASan/UBSan build and in a
# ThreadSanitizer build, fuzzes the template indexer and the profile
# reader briefly, and ends with one
# "N passed, N failed[, N skipped]" line. Exit status 0 only when all pass.
set -uo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-30}
status=0
step() { printf '\n== %s\n' "$*"; }

step "dependencies"
bash scripts/deps.sh || exit 1

step "style (clang-format-14, kernel style)"
mkdir -p build-style
if git ls-files '*.c' '*.h' | xargs clang-format-14 --dry-run --Werror 2>build-style/clang-format.log; then
	echo "clang-format: clean"
	fmt=ok
else
	head -40 build-style/clang-format.log
	fmt=failed
	status=1
fi

run_suites() { # BUILDDIR MESON-SETUP-ARGS...
	local dir=$1
	shift
	step "build $dir ($*)"
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || {
			cat "$dir.setup.log"
			return 1
		}
	fi
	ninja -C "$dir" || return 1
	step "test $dir"
	meson test -C "$dir" --print-errorlogs --no-rebuild --num-processes 1 \
		--timeout-multiplier 3 "${SUITES[@]}" || return 1
}

SUITES=(--suite unit --suite lint --suite integration --suite slow)
run_suites build-ci -Dwerror=true || status=1

SUITES=(--suite unit --suite lint --suite integration)

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_suites build-asan -Dwerror=true -Db_sanitize=address,undefined \
	-Db_lundef=false -Dbuildtype=debug || status=1

# The daemon's threads (request loop, io_uring queues, overlay writes);
# tests/tsan.supp says what the kernel orders that ThreadSanitizer cannot see.
unset ASAN_OPTIONS UBSAN_OPTIONS
export TSAN_OPTIONS="halt_on_error=1:suppressions=$PWD/tests/tsan.supp"
run_suites build-tsan -Dwerror=true -Db_sanitize=thread -Db_lundef=false \
	-Dbuildtype=debug || status=1
unset TSAN_OPTIONS

SUITES=(--suite fuzz)
CC=clang run_suites build-fuzz -Dfuzzer=true -Db_sanitize=address,undefined \
	-Db_lundef=false -Dfuzz_seconds="$FUZZ_SECONDS" || status=1

step "summary"
/usr/bin/python3 scripts/test-summary.py build-ci build-asan build-tsan build-fuzz >build-summary.txt
summary_status=$?
head -n -1 build-summary.txt
echo "style: clang-format $fmt"
[ "$fmt" = ok ] || status=1
[ $summary_status -eq 0 ] || status=1
# The closing line counts test cases; a style failure counts as one.
last=$(tail -1 build-summary.txt)
if [ "$fmt" != ok ]; then
	p=${last%% passed*}
	rest=${last#*passed, }
	f=${rest%% failed*}
	tail=${rest#* failed}
	last="$p passed, $((f + 1)) failed$tail"
fi
echo "$last"
exit $status
