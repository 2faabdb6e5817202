/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The files of a cloud-init NoCloud seed (volume label "cidata") for a
 * domain, from its profile: meta-data (instance-id, local-hostname),
 * user-data (#cloud-config: hostname, root's password hash and SSH keys)
 * and network-config (version 2: one entry per vif, matched by MAC, static
 * or DHCP). Pure: text in memory, YAML written by hand with every string
 * double-quoted and escaped. Writing the ISO image is templates/'s job
 * (tmpl_iso_write()). Never prints.
 */
#ifndef XEN_SEED_H
#define XEN_SEED_H

#include "common/err.h"

struct xen_profile;

struct xen_seed {
	char *meta_data;
	char *user_data;
	char *network_config;
};

/*
 * Renders the three files into *ret (free with xen_seed_free()). MACs are
 * those xen_vif_mac() gives, the same `domufs xl-config' writes, so the
 * seed matches the generated xl.cfg when the profile has none. Returns 0,
 * or -errno with one line in *err naming the profile (-EILSEQ for a value
 * that is not UTF-8, which YAML cannot carry).
 */
int xen_seed_render(const struct xen_profile *p, struct xen_seed *ret,
		    struct dm_err *err);

/* Frees the texts; NULL-safe. */
void xen_seed_free(struct xen_seed *s);

/* The instance-id: "domufs-NAME", with characters outside [A-Za-z0-9._-]
   as '-' and then a hash of the name appended. Writes at most @size bytes. */
void xen_seed_instance_id(const char *name, char *buf, size_t size);

#endif
