// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * xen_seed_render(): the NoCloud seed files of a domain, as YAML written by
 * hand. Every string is a double-quoted YAML scalar (backslash escapes for
 * '"', '\' and control characters); bytes that are not UTF-8 are refused,
 * since a YAML stream must be Unicode. Pure: no I/O, never prints.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/ipv4.h"
#include "xen/profile.h"
#include "xen/seed.h"
#include "xen/xlcfg.h"

struct yaml {
	FILE *f;
	const char *bad; /* the first value that is not UTF-8 */
};

/* Length of the UTF-8 sequence at @s (1-4), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		n = 2, cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3, cp = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates, beyond Unicode */
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
	    (n == 4 && cp < 0x10000) || (cp >= 0xd800 && cp <= 0xdfff) ||
	    cp > 0x10ffff)
		return 0;
	return n;
}

/* @s as a double-quoted YAML scalar. */
static void put_q(struct yaml *y, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', y->f);
	while (*p) {
		size_t n = utf8_len(p);

		if (!n) {
			if (!y->bad)
				y->bad = s;
			p++;
			continue;
		}
		if (n > 1) {
			fwrite(p, 1, n, y->f);
		} else if (*p == '"' || *p == '\\') {
			fputc('\\', y->f);
			fputc(*p, y->f);
		} else if (*p < 0x20 || *p == 0x7f) {
			fprintf(y->f, "\\x%02x", *p);
		} else {
			fputc(*p, y->f);
		}
		p += n;
	}
	fputc('"', y->f);
}

/* "KEY: "VALUE"\n" at @indent spaces. */
static void put_kv(struct yaml *y, int indent, const char *key, const char *v)
{
	fprintf(y->f, "%*s%s: ", indent, "", key);
	put_q(y, v);
	fputc('\n', y->f);
}

/* "- "VALUE"\n" at @indent spaces. */
static void put_item(struct yaml *y, int indent, const char *v)
{
	fprintf(y->f, "%*s- ", indent, "");
	put_q(y, v);
	fputc('\n', y->f);
}

void xen_seed_instance_id(const char *name, char *buf, size_t size)
{
	uint64_t h = DM_FNV1A64_INIT;
	bool changed = false;
	size_t k = 0, n;

	n = (size_t)snprintf(buf, size, "domufs-");
	if (n >= size)
		return;
	for (const char *s = name; *s; s++) {
		char c = *s;

		h = dm_fnv1a64(h, &c, 1);
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-')) {
			c = '-';
			changed = true;
		}
		if (k >= 64 || n + 1 >= size) {
			changed = true;
			continue;
		}
		buf[n++] = c;
		k++;
	}
	buf[n] = '\0';
	if (changed || !*name)
		snprintf(buf + n, size - n, "-%08x", (unsigned)(h ^ (h >> 32)));
}

/* ---- meta-data ------------------------------------------------------------- */

static void put_meta_data(struct yaml *y, const struct xen_profile *p)
{
	char iid[128];

	xen_seed_instance_id(p->name, iid, sizeof(iid));
	put_kv(y, 0, "instance-id", iid);
	if (p->hostname)
		put_kv(y, 0, "local-hostname", p->hostname);
}

/* ---- user-data ------------------------------------------------------------- */

/* A hash that locks the account: "*", "!", "!!", "!*", "!$6$...". */
static bool hash_locks(const char *h)
{
	return h[0] == '*' || h[0] == '!';
}

static void put_user_data(struct yaml *y, const struct xen_profile *p)
{
	const char *hash = p->root_password_hash;

	fputs("#cloud-config\n", y->f);
	fputs("# written by `domufs seed-iso' from the domain's profile\n",
	      y->f);
	if (p->hostname) {
		const char *dot = strchr(p->hostname, '.');

		if (dot) {
			char shortname[64];

			snprintf(shortname, sizeof(shortname), "%.*s",
				 (int)(dot - p->hostname), p->hostname);
			put_kv(y, 0, "hostname", shortname);
			put_kv(y, 0, "fqdn", p->hostname);
		} else {
			put_kv(y, 0, "hostname", p->hostname);
		}
		fputs("preserve_hostname: false\n", y->f);
		fputs("manage_etc_hosts: true\n", y->f);
	}
	if (hash || p->n_ssh_authorized_keys) {
		/* root's keys without cloud-init's "login as debian" prefix */
		fputs("disable_root: false\n", y->f);
		fputs("users:\n", y->f);
		fputs("  - name: \"root\"\n", y->f);
		if (hash && hash_locks(hash)) {
			fputs("    lock_passwd: true\n", y->f);
		} else {
			/* no hash: root's password stays as the image has it */
			fputs("    lock_passwd: false\n", y->f);
			if (hash)
				put_kv(y, 4, "hashed_passwd", hash);
		}
		if (p->n_ssh_authorized_keys) {
			fputs("    ssh_authorized_keys:\n", y->f);
			for (size_t i = 0; i < p->n_ssh_authorized_keys; i++)
				put_item(y, 6, p->ssh_authorized_keys[i]);
		}
	}
	/* the image's host keys are shared by every domain made from it */
	fputs("ssh_deletekeys: true\n", y->f);
}

/* ---- network-config -------------------------------------------------------- */

/* The vif that gets the gateway and nameservers: the static one whose
   subnet holds the gateway, else the first static one, else vif 0. */
static size_t main_vif(const struct xen_profile *p)
{
	if (p->gateway)
		for (size_t i = 0; i < p->n_vifs; i++)
			if (p->vifs[i].ip &&
			    dm_ipv4_same_subnet(p->vifs[i].ip, p->gateway,
						p->vifs[i].prefix))
				return i;
	for (size_t i = 0; i < p->n_vifs; i++)
		if (p->vifs[i].ip)
			return i;
	return 0;
}

static void put_network_config(struct yaml *y, const struct xen_profile *p)
{
	size_t m = main_vif(p);

	fputs("# written by `domufs seed-iso' from the domain's profile\n",
	      y->f);
	fputs("version: 2\n", y->f);
	if (!p->n_vifs) {
		fputs("ethernets: {}\n", y->f);
		return;
	}
	fputs("ethernets:\n", y->f);
	for (size_t i = 0; i < p->n_vifs; i++) {
		const struct xen_vif *v = &p->vifs[i];
		char mac[18], addr[32];

		/*
		 * The key only names the entry: cloud-init finds the
		 * interface by MAC, and no set-name renames it. enXN is what
		 * systemd calls Xen's vif N (Debian 12), eth0 older guests.
		 */
		fprintf(y->f, "  enX%zu:\n", i);
		xen_vif_mac(p, i, mac);
		fputs("    match:\n", y->f);
		put_kv(y, 6, "macaddress", mac);
		if (!v->ip) {
			fputs("    dhcp4: true\n", y->f);
		} else {
			fputs("    dhcp4: false\n", y->f);
			fputs("    addresses:\n", y->f);
			snprintf(addr, sizeof(addr), "%s/%u", v->ip, v->prefix);
			put_item(y, 6, addr);
			if (i == m && p->gateway)
				put_kv(y, 4, "gateway4", p->gateway);
		}
		if (i == m && p->n_nameservers) {
			fputs("    nameservers:\n", y->f);
			fputs("      addresses:\n", y->f);
			for (size_t k = 0; k < p->n_nameservers; k++)
				put_item(y, 8, p->nameservers[k]);
		}
	}
}

/* ---- The whole seed -------------------------------------------------------- */

typedef void (*render_fn)(struct yaml *y, const struct xen_profile *p);

static int render_one(const struct xen_profile *p, render_fn fn,
		      const char *file, char **ret, struct dm_err *err)
{
	struct yaml y = { 0 };
	char *buf = NULL;
	size_t len = 0;

	y.f = open_memstream(&buf, &len);
	if (!y.f)
		return dm_err_set(err, ENOMEM, "%s: out of memory", p->path);
	fn(&y, p);
	if (ferror(y.f) | fclose(y.f)) {
		free(buf);
		return dm_err_set(err, ENOMEM, "%s: out of memory", p->path);
	}
	if (y.bad) {
		free(buf);
		return dm_err_set(err, EILSEQ,
				  "%s: %s: `%s' is not UTF-8, which YAML needs",
				  p->path, file, y.bad);
	}
	*ret = buf;
	return 0;
}

int xen_seed_render(const struct xen_profile *p, struct xen_seed *ret,
		    struct dm_err *err)
{
	struct xen_seed s = { 0 };
	int r;

	if ((r = render_one(p, put_meta_data, "meta-data", &s.meta_data, err)) <
		    0 ||
	    (r = render_one(p, put_user_data, "user-data", &s.user_data, err)) <
		    0 ||
	    (r = render_one(p, put_network_config, "network-config",
			    &s.network_config, err)) < 0) {
		xen_seed_free(&s);
		return r;
	}
	*ret = s;
	return 0;
}

void xen_seed_free(struct xen_seed *s)
{
	if (!s)
		return;
	free(s->meta_data);
	free(s->user_data);
	free(s->network_config);
	s->meta_data = s->user_data = s->network_config = NULL;
}
