#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs a libFuzzer target for a bounded time on seeds made here and now:
# small tarballs in each tar dialect and compression.
# Usage: run-fuzz.sh FUZZER SECONDS
set -euo pipefail
fuzzer=$1 seconds=${2:-20}
work=$(mktemp -d /tmp/domufs-fuzz-run-XXXXXX)
trap 'rm -rf "$work"' EXIT
src=$work/src corpus=$work/corpus
mkdir -p "$src/d/sub" "$corpus"
echo hello >"$src/d/file"
ln -s ../file "$src/d/sub/link"
ln "$src/d/file" "$src/d/hard"
mkfifo "$src/d/fifo"
truncate -s 100000 "$src/d/sparse" && echo x | dd of="$src/d/sparse" bs=1 seek=50000 conv=notrunc status=none
setfattr -n user.k -v v "$src/d/file" 2>/dev/null || true
longname=$(printf 'n%.0s' $(seq 1 150))
echo long >"$src/d/$longname"
for fmt in ustar gnu pax; do
	tar --format=$fmt --sparse --xattrs -C "$src" -cf "$corpus/$fmt.tar" d 2>/dev/null ||
		tar --format=$fmt -C "$src" -cf "$corpus/$fmt.tar" d/file d/sub
done
# a global pax header (uid, gid, mtime and an xattr for every member after it)
tar --format=pax --xattrs --pax-option=uid=7,gid=8,mtime=-1.5,SCHILY.xattr.user.g=1 \
	-C "$src" -cf "$corpus/pax-global.tar" d/file d/sub 2>/dev/null || true
gzip -c "$corpus/pax.tar" >"$corpus/pax.tar.gz"
zstd -q -c "$corpus/pax.tar" >"$corpus/pax.tar.zst"
xz -c "$corpus/gnu.tar" >"$corpus/gnu.tar.xz"
bzip2 -c "$corpus/gnu.tar" >"$corpus/gnu.tar.bz2"
head -c 700 "$corpus/pax.tar" >"$corpus/truncated.tar"
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
	-max_len=65536 -print_final_stats=1 "$corpus" 2>"$work/log" || {
	tail -50 "$work/log"
	exit 1
}
grep -E "stat::number_of_executed_units|Done" "$work/log" || true
echo "fuzz: no crash in ${seconds}s"
