#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The README's first command: installs what is missing, builds domufs, makes
# the small default template offline, indexes it, mounts it read-only, mounts
# it again with the demo domain's profile (fixups) over an overlay, edits a
# file, shows `domufs diff`, commits the domain into an ext4 image, writes its
# xl.cfg with `domufs xl-config` and checks the image with e2fsck, debugfs and
# PyGRUB. Everything lands under build/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "dependencies (apt, only what is missing)"
bash scripts/deps.sh

if [ -n "${DOMUFS:-}" ]; then
	domufs=$DOMUFS # a build of the caller's (the slow test suite's)
else
	step "build"
	[ -f build/build.ninja ] || meson setup build >/dev/null
	ninja -C build domufs
	domufs=./build/domufs
fi

demo=build/demo
mnt=$demo/mnt
mkdir -p "$demo" "$mnt"
mountpoint -q "$mnt" && fusermount3 -u "$mnt"
trap 'mountpoint -q "$mnt" && fusermount3 -u "$mnt"' EXIT

step "make the default template (busybox, offline)"
scripts/mktemplate templates/recipes/default.recipe "$demo/default.tar.zst"

step "domufs index"
rm -rf "$demo/cache"
"$domufs" index --cache-dir "$demo/cache" "$demo/default.tar.zst"
"$domufs" index --cache-dir "$demo/cache" "$demo/default.tar.zst"

step "domufs mount (read-only)"
"$domufs" mount --cache-dir "$demo/cache" "$demo/default.tar.zst" "$mnt"
grep " $(realpath "$mnt") " /proc/mounts

step "look around"
ls -l "$mnt" "$mnt/dev"
echo "--- /etc/inittab"
cat "$mnt/etc/inittab"
echo "--- /etc/fstab"
cat "$mnt/etc/fstab"
echo "--- stat /etc/shadow"
stat -c '%A %u:%g %s bytes %n' "$mnt/etc/shadow"
echo "--- a write is refused:"
if touch "$mnt/etc/new-file" 2>&1; then echo "unexpected: write succeeded"; exit 1; fi

step "unmount"
fusermount3 -u "$mnt"

step "mount with the demo domain's profile (fixups) over an overlay"
rm -rf "$demo/overlay"
mkdir -p "$demo/overlay"
"$domufs" mount --cache-dir "$demo/cache" --domain templates/domains/demo.cfg \
	--overlay "$demo/overlay" "$demo/default.tar.zst" "$mnt"
echo "--- /etc/fstab (fstab fixup)"
cat "$mnt/etc/fstab"
echo "--- /etc/inittab (console fixup)"
cat "$mnt/etc/inittab"
echo "--- /etc/hostname (identity fixup): $(cat "$mnt/etc/hostname")"
ls -l "$mnt/root/.ssh" "$mnt/dev"
echo "--- an administrator's edit lands in the overlay:"
echo "Welcome to banquo, provisioned by domufs." >"$mnt/etc/motd"
ls -l "$demo/overlay/etc"
fusermount3 -u "$mnt"

step "domufs diff (what the fixups and the overlay change)"
set +e
# --exit-code: 1 when there are changes, as diff(1) (without it, 0 on success)
"$domufs" diff --exit-code --cache-dir "$demo/cache" \
	--domain templates/domains/demo.cfg --overlay "$demo/overlay" \
	"$demo/default.tar.zst"
rc=$?
set -e
[ $rc -eq 1 ] || { echo "demo: diff exited $rc, expected 1 (changes)"; exit 1; }

step "domufs commit the demo domain into an ext4 image (no loop mount)"
rm -f "$demo/banquo.img"
"$domufs" commit --cache-dir "$demo/cache" --domain templates/domains/demo.cfg \
	--overlay "$demo/overlay" "$demo/default.tar.zst" "$demo/banquo.img"

step "domufs xl-config: the domain's xl.cfg, booting that image"
"$domufs" xl-config --domain templates/domains/demo.cfg --target "$PWD/$demo/banquo.img" \
	-o "$demo/banquo.xl.cfg"
cat "$demo/banquo.xl.cfg"
grep -q "target=$PWD/$demo/banquo.img" "$demo/banquo.xl.cfg" ||
	{ echo "demo: xl.cfg does not name the image"; exit 1; }
echo "(on a Xen dom0: xl create $demo/banquo.xl.cfg && domufs wait banquo)"

step "verify: e2fsck, debugfs, PyGRUB"
e2fsck -fn "$demo/banquo.img"
echo "--- /etc/fstab in the image:"
debugfs -R "cat /etc/fstab" "$demo/banquo.img" 2>/dev/null
echo "--- /etc/motd in the image (the overlay's edit):"
debugfs -R "cat /etc/motd" "$demo/banquo.img" 2>/dev/null
echo "--- the first-boot hook in /etc/init.d/rcS (the firstboot fixup):"
debugfs -R "cat /etc/init.d/rcS" "$demo/banquo.img" 2>/dev/null | grep domufs
debugfs -R "stat /usr/lib/domufs/firstboot" "$demo/banquo.img" 2>/dev/null | sed -n 1p
pygrub=/usr/lib/xen-4.17/bin/pygrub
if [ -x "$pygrub" ]; then
	# PyGRUB reads the image in user space, as Xen's dom0 does at boot,
	# and extracts the kernel and initrd the bootloader fixup points at
	mkdir -p "$demo/pygrub"
	out=$("$pygrub" -q --output-format=simple --output-directory="$demo/pygrub" \
		"$demo/banquo.img" 2>/dev/null)
	echo "$out"
	kernel=$(echo "$out" | sed -n 's/^kernel //p')
	[ -s "$kernel" ] && echo "--- extracted kernel: $(head -c 40 "$kernel")..."
	echo "$out" | grep -q "root=/dev/xvda" || { echo "demo: PyGRUB found no root="; exit 1; }
else
	echo "PyGRUB not installed ($pygrub): skipped"
fi
echo "demo: done"
