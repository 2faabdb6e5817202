/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Inside xen/: the value checks of the profile (pure string predicates) and
 * the scanner that finds where each key is assigned, since libxlutil keeps
 * line numbers to itself. No libxlutil types here.
 */
#ifndef XEN_PROFILE_INTERNAL_H
#define XEN_PROFILE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/* ---- Checks: true when the value is acceptable ---------------------------- */

/* No control characters (< 0x20, 0x7f). */
bool xen_check_text(const char *s);
/* ... and none of " ' ` \ either: safe unquoted in a guest shell script. */
bool xen_check_plain(const char *s);
/* RFC 1123: dot-separated labels of 1-63 [A-Za-z0-9-], no leading or
   trailing '-', 253 characters at most. */
bool xen_check_hostname(const char *s);
/* A dotted-quad IPv4 address (inet_pton's rules). */
bool xen_check_ipv4(const char *s);
/* A contiguous IPv4 netmask; its prefix length in *ret_prefix. */
bool xen_check_netmask(const char *s, unsigned *ret_prefix);
/* Six hex pairs separated by ':' or '-', unicast, not all zero; the
   normalized (lower case, ':') form into out[18]. */
bool xen_check_mac(const char *s, char out[18]);
/* A crypt(3) hash ($1$, $5$, $6$, $2b$, $y$, $gy$, $7$), optionally
   prefixed with '!' (locked), or "*", "!", "!!", "!*". */
bool xen_check_hash(const char *s);
/* One authorized_keys line: [options] TYPE BASE64 [comment]. */
bool xen_check_ssh_key(const char *s);
/* A vdev name: [a-z0-9], 1-15 characters. */
bool xen_check_vdev(const char *s);
/* The root vdev: (xvd|sd|hd)[a-z]{1,2}[0-9]*. */
bool xen_check_root_vdev(const char *s);

/* ---- Where keys are ------------------------------------------------------- */

struct xen_scan_assign {
	char key[64];
	int line;
	bool add; /* += */
	int *items; /* line of each value atom (depth <= 1) */
	size_t n_items;
};

struct xen_scan {
	struct xen_scan_assign *a;
	size_t n;
};

/* Scans xl.cfg text for top-level `key =` / `key +=`; never fails on
   odd text (it only gives up lines). Returns 0 or -ENOMEM. */
int xen_scan(const char *text, size_t len, struct xen_scan *ret);
void xen_scan_free(struct xen_scan *s);
/* The line of the assignment that sets @key (the last `=`), 0 if none. */
int xen_scan_line(const struct xen_scan *s, const char *key);
/* The line of item @i of @key's value (across `+=`), else the key's. */
int xen_scan_item_line(const struct xen_scan *s, const char *key, size_t i);

/* True for keys xl.cfg(5) (or the older xm) defines. */
bool xen_key_is_xl(const char *key);

#endif
