/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A complete xl.cfg for a domain, from its profile (DESIGN.md, "Domain
 * profile"): name, memory, vcpus, the commit target as the root disk, vifs
 * with stable MACs, and either PyGRUB or a dom0 kernel with root= and
 * console= on its command line. Every value is quoted for xl's lexer, so
 * the text reads back with libxlutil (and with xen_profile_load()).
 * Rendering is pure apart from reading the profile file once more for the
 * xl keys it passes through (on_reboot, uuid, ...). Never prints.
 */
#ifndef XEN_XLCFG_H
#define XEN_XLCFG_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

struct xen_profile;

/*
 * The MAC of a domain's vif @index when its profile gives none: Xen's
 * 00:16:3e OUI followed by three bytes of a 64-bit FNV-1a hash of
 * "NAME" (index 0) or "NAME/INDEX", the top bit of the fourth byte clear
 * as libxl's own random MACs have it (unicast, the OUI's globally
 * administered bit left as it is). Same name and index, same MAC. Writes
 * "00:16:3e:xx:xx:xx" and a NUL into @out.
 */
void xen_mac_derive(const char *name, size_t index, char out[18]);

/* vif @i's MAC: the profile's own, else xen_mac_derive(name, i). */
void xen_vif_mac(const struct xen_profile *p, size_t i, char out[18]);

enum xen_target_kind {
	XEN_TARGET_AUTO, /* xen_target_kind_of() */
	XEN_TARGET_BLOCK, /* a block device (an LV): backendtype=phy */
	XEN_TARGET_FILE, /* an image file: libxl picks the backend */
};

/*
 * What @path is: stat(2) decides when it exists (a block device, or
 * anything else as a file), else a /dev/ prefix means a block device.
 */
enum xen_target_kind xen_target_kind_of(const char *path);

struct xen_xlcfg_opts {
	const char *target; /* the root disk's backing device or image;
			       NULL: the profile's root (first non-CD-ROM)
			       disk's target */
	enum xen_target_kind target_kind; /* AUTO: xen_target_kind_of() */
	bool partitioned; /* an MBR in front: root=/dev/VDEV1 */
	const char *seed_iso; /* a NoCloud seed image to attach read-only as
				 the next free xvdX, or NULL */
};

/*
 * Renders the xl.cfg of @p into *ret (NUL-terminated, malloc'ed; the
 * caller frees it). Returns 0, or -errno with one line in *err naming the
 * profile: -ENOENT when there is no target (no disk with one and no
 * opts->target), -EINVAL for a value xl could not read back (a control
 * character in --target).
 */
int xen_xlcfg_render(const struct xen_profile *p,
		     const struct xen_xlcfg_opts *opts, char **ret,
		     struct dm_err *err);

#endif
