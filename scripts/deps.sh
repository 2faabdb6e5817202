#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs what domufs needs to build, test and demo on Debian 12, with apt.
# Does nothing when everything is already installed. Needs root (or sudo).
# --bench: also the reference tools the scripts in bench/ measure against.
set -euo pipefail

PKGS=(
	# build
	meson ninja-build pkg-config gcc libc6-dev
	libfuse3-dev libext2fs-dev libarchive-dev zlib1g-dev libzstd-dev liblzma-dev libxen-dev libcmocka-dev
	liburing-dev
	# run and test
	fuse3 e2fsprogs attr acl libcap2-bin zstd xz-utils bzip2 gzip tar
	fdisk util-linux python3 python3-pytest busybox-static fuse2fs xen-utils-4.17
	xenstore-utils   # the real xenstore clients that populate the test server
	fio dbench stress-ng   # third-party file system workloads on a writable mount
	# seed-iso checks: bsdtar, isoinfo, YAML
	libarchive-tools genisoimage python3-yaml
	# man pages, unit and completion checks: groff, man, systemd-analyze
	groff-base man-db systemd
	# sanitizers, fuzzing, style
	clang libclang-rt-14-dev clang-format-14 shellcheck
	# the slow suite's real Debian 12 root
	mmdebstrap
)
if [ "${1:-}" = --bench ]; then
	PKGS+=(
		fuse-overlayfs squashfuse archivemount   # bench/mount.sh, bench/overlay.sh
		squashfs-tools                           # bench/mkroot.sh: the squashfs image
		genext2fs                                # bench/commit.sh
		bc
	)
elif [ -n "${1:-}" ]; then
	echo "usage: scripts/deps.sh [--bench]" >&2
	exit 2
fi

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "deps: installing ${missing[*]}" >&2
$SUDO apt-get update -q >&2
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
