/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The domain profile (DESIGN.md, "Domain profile"): a file in xl.cfg syntax,
 * read with libxlutil so that a domain's own xl config can serve as its
 * profile. Every value that the fixups write into a guest file is checked
 * here, once; what passes is safe to write unquoted into a config file or
 * shell script of the guest. No third-party types leak out of this header.
 * Loading never prints: errors fill a dm_err, findings go to the warn sink.
 */
#ifndef XEN_PROFILE_H
#define XEN_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "fixups/fix.h"

/* One entry of `disk = [ ... ]`, as xl parses it (xlu_disk_parse). */
struct xen_disk {
	char *spec; /* the entry as written */
	char *target; /* the backing device or file ("/dev/vg/lv"), or NULL */
	char *vdev; /* the guest's name for it: "xvda", "sda1", "hdc" */
	bool readwrite; /* access 'w' */
	bool cdrom; /* devtype=cdrom or ":cdrom" */
};

/* One entry of `vif = [ ... ]`: comma-separated key=value items. */
struct xen_vif {
	char *spec; /* the entry as written */
	char *mac; /* "00:16:3e:12:34:56" (lower case), or NULL */
	char *ip; /* the first IPv4 address of ip=, or NULL */
	unsigned prefix; /* prefix length: from ip=A/N, else the profile's
			    netmask, else 24; 0 when there is no ip */
	char *bridge; /* bridge=, or NULL */
};

struct xen_profile {
	char *path; /* the file it was read from */
	/* xl's own keys */
	char *name; /* `name`: required */
	struct xen_disk *disks; /* `disk`; disks[0] is the root disk */
	size_t n_disks;
	struct xen_vif *vifs; /* `vif`: vifs[i] is the guest's NIC i */
	size_t n_vifs;
	char *bootloader; /* `bootloader` ("pygrub", "/usr/bin/pygrub"), or
			     NULL */
	bool pygrub; /* the bootloader is PyGRUB, named or implied (a PV
			domain with no bootloader and no kernel, which
			xl-config gives PyGRUB): the kernel is in the domU */
	bool hvm; /* `type = "hvm"` (or the older `builder = "hvm"`): a fully
		     virtualized guest, its console the emulated ttyS0 */
	char *kernel; /* `kernel`, `ramdisk`, `extra`, `root`, `cmdline`: as
			 written, or NULL */
	char *ramdisk;
	char *extra;
	char *root;
	char *cmdline;
	long memory; /* `memory` in MiB, 0 when unset */
	long vcpus; /* `vcpus`, 0 when unset */
	/* provisioning keys */
	char *hostname; /* `hostname`, default `name`; an RFC 1123 name.
			   NULL only when `name` is not one and the identity
			   fixup is off */
	char *console; /* `console`: "hvc0", "xvc0" or "ttyS0"; NULL when
			  unset: the fixups then use hvc0 (ttyS0 for HVM),
			  or xvc0 for RHEL 5's kernel-xen */
	char *netmask; /* `netmask`: a contiguous IPv4 mask, or NULL */
	char *gateway; /* `gateway`: IPv4, or NULL */
	char **nameservers; /* `nameservers`: IPv4 addresses */
	size_t n_nameservers;
	char *root_password_hash; /* `root_password_hash`: a crypt(3) hash,
				     or "*", "!" (locked); NULL: unchanged */
	char **ssh_authorized_keys; /* `ssh_authorized_keys`: one line each */
	size_t n_ssh_authorized_keys;
	char **fixups; /* `fixups` as written ("all", "-udev"), or NULL */
	size_t n_fixups;
	uint32_t fixup_rules; /* the rules they select (FIX_RULE_BIT()s);
				 FIX_RULES_ALL without a `fixups` key */
	char *template_path; /* `template`: default TEMPLATE for the CLI */
	char *overlay_dir; /* `overlay`: default --overlay for the CLI */

	/* private: what xen_profile_fix() hands out */
	struct fix_nic *fix_nics_;
	const char **fix_disks_;
};

/*
 * Reads the profile at @path into *ret (free with xen_profile_free()).
 * Returns 0, or -errno with one line in *err naming the file and, where
 * there is one, the line: libxlutil's own parse errors ("FILE:3: config
 * parsing error near `-': lexical error"), and the refusals of this
 * module ("FILE:7: vif: bad MAC address `00:16:3e:zz:00:01'"): a bad MAC
 * or IPv4 address (ip, netmask, gateway, nameservers), a hostname that is
 * not RFC 1123, a password that is not a crypt(3) hash, a value with a
 * newline, quote or control character where it would reach a guest file,
 * an unknown fixup name, a value of the wrong shape (list or single).
 * Keys that neither xl nor domufs knows are reported through @warn
 * ("FILE:12: unknown key `foo' ignored"); @warn may be NULL.
 */
int xen_profile_load(const char *path, struct xen_profile **ret,
		     struct dm_err *err, dm_warn_fn warn, void *warn_ctx);

/* NULL-safe; returns NULL. */
struct xen_profile *xen_profile_free(struct xen_profile *p);

/*
 * Fills the fixups' view of the profile: hostname, console, disk vdevs,
 * vifs (ip/prefix/mac), gateway, nameservers, root hash, keys, pygrub,
 * extra and the rule mask. Everything in *ret is borrowed from @p and
 * valid until xen_profile_free(p).
 */
void xen_profile_fix(const struct xen_profile *p, struct fix_profile *ret);

#endif
