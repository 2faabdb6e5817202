#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Fails when a third-party header is included outside the module that owns it
# (DESIGN.md: only templates/ uses libarchive, image/ libext2fs, fusefs/
# libfuse, xen/ libxenstore and libxlutil).
top=${1:-$(dirname "$0")/../..}
cd "$top" || exit 2
status=0
check() {
	header=$1 owner=$2
	hits=$(grep -rlE "#[[:space:]]*include[[:space:]]*<$header" \
		--include='*.c' --include='*.h' \
		common templates overlay fixups image xen fusefs cli 2>/dev/null |
		grep -v "^$owner/" || true)
	if [ -n "$hits" ]; then
		for f in $hits; do
			echo "lint: $f includes <$header...> outside $owner/"
		done
		status=1
	fi
}
check 'archive' templates
check 'ext2fs/' image
check 'fuse' fusefs
check 'xenstore' xen
check 'libxl' xen
check 'xen/' xen
[ $status -eq 0 ] && echo "lint: third-party headers stay in their modules"
exit $status
