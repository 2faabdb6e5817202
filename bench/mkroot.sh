#!/bin/sh
# Build the benchmark inputs for domufs (idempotent: whatever already exists is reused).
#
#   bench/mkroot.sh [DIR]        (default DIR: /var/tmp/domufs-bench)
#
# Produces, under DIR:
#   root.tar       Debian 12 (bookworm) minbase root with kernel, systemd, ssh
#                  (~16.7k entries, ~720 MB), built by mmdebstrap from the
#                  machine's own apt sources (no mirror is named here)
#   root.tar.zst   zstd -19 -T0
#   root.tar.gz    gzip (default level)
#   root/          the extracted tree (xattrs, numeric owners, permissions kept)
#   root.sqfs      squashfs of root/ (zstd), for squashfuse_ll
# Every step writes to a temporary name and renames it at the end, so an
# interrupted run leaves nothing that a later run would mistake for complete.
# Needs root (mmdebstrap in root mode, device nodes and owners in root/).
set -eu

DIR=${1:-/var/tmp/domufs-bench}
PACKAGES=systemd-sysv,udev,openssh-server,ifupdown,isc-dhcp-client,linux-image-amd64,grub-pc-bin,iproute2

for t in mmdebstrap zstd gzip tar mksquashfs; do
	command -v "$t" >/dev/null || {
		echo "mkroot: $t is not installed (scripts/deps.sh --bench installs it)" >&2
		exit 1
	}
done

mkdir -p "$DIR"
cd "$DIR"

log() { printf '%s mkroot: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [ ! -s root.tar ]; then
	log "mmdebstrap bookworm -> root.tar"
	rm -f .root.tmp.tar
	mmdebstrap --variant=minbase --include="$PACKAGES" bookworm .root.tmp.tar
	mv .root.tmp.tar root.tar
fi

if [ ! -s root.tar.zst ]; then
	log "zstd -19 -T0 -> root.tar.zst"
	rm -f .root.tmp.tar.zst
	zstd -q -19 -T0 root.tar -o .root.tmp.tar.zst
	mv .root.tmp.tar.zst root.tar.zst
fi

if [ ! -s root.tar.gz ]; then
	log "gzip -> root.tar.gz"
	gzip -c root.tar > .root.tmp.tar.gz
	mv .root.tmp.tar.gz root.tar.gz
fi

if [ ! -d root ]; then
	log "extract -> root/"
	rm -rf .root.tmp
	mkdir .root.tmp
	tar --xattrs --xattrs-include='*' --numeric-owner -C .root.tmp -xpf root.tar
	mv .root.tmp root
fi

if [ ! -s root.sqfs ]; then
	log "mksquashfs -comp zstd -> root.sqfs"
	rm -f .root.tmp.sqfs
	mksquashfs root .root.tmp.sqfs -comp zstd -noappend -no-progress -quiet
	mv .root.tmp.sqfs root.sqfs
fi

log "done: $(tar -tf root.tar | wc -l) entries"
ls -l root.tar root.tar.zst root.tar.gz root.sqfs >&2
du -sh root >&2
