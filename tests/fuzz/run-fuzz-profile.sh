#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs the profile fuzzer for a bounded time, seeded with the sample
# profiles of tests/data/profiles and a dictionary of xl.cfg keys and values.
# Usage: run-fuzz-profile.sh FUZZER SECONDS PROFILE-DIR
set -euo pipefail
fuzzer=$1 seconds=${2:-20} profiles=$3
work=$(mktemp -d /tmp/domufs-fuzz-profile-XXXXXX)
trap 'rm -rf "$work"' EXIT
corpus=$work/corpus
mkdir -p "$corpus"
cp "$profiles"/*.cfg "$corpus"/
printf 'name = "a"\n' >"$corpus/minimal.cfg"
printf 'name = "a"\nvif = [ "mac=00:16:3e:00:00:01,ip=10.0.0.2/8" ]\nfixups = [ "-udev" ]\n' \
	>"$corpus/vif.cfg"
cat >"$work/dict" <<'DICT'
"name"
"hostname"
"disk"
"vif"
"mac="
"ip="
"bridge="
"console"
"hvc0"
"xvc0"
"netmask"
"gateway"
"nameservers"
"root_password_hash"
"ssh_authorized_keys"
"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5"
"fixups"
"-udev"
"all"
"bootloader"
"pygrub"
"extra"
"net.ifnames=0"
"phy:/dev/vg/lv,xvda,w"
"$6$"
"$y$"
" = "
" += "
"[ "
" ]"
"\x5cn"
DICT
# libxlutil's own parser leaks semantic values on some syntax errors
# (xlu__cfg_string_mk, xlu__cfgl_dequote): not ours to fix, so not reported.
printf 'leak:libxlutil.so\n' >"$work/lsan.supp"
export LSAN_OPTIONS="suppressions=$work/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
	-max_len=4096 -dict="$work/dict" -print_final_stats=1 "$corpus" \
	2>"$work/log" || {
	tail -50 "$work/log"
	exit 1
}
grep -E "stat::number_of_executed_units|Done" "$work/log" || true
echo "fuzz-profile: no crash in ${seconds}s"
