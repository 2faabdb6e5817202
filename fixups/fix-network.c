// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The network rule: each vif of the profile configured in the
 * distribution's own format (ifupdown and ifupdown-ng interfaces, RHEL
 * ifcfg, systemd-networkd, netplan) under the name the guest will give it
 * (enX<N> with systemd >= 250, else eth<N>), matched by MAC where the stack
 * can; nameservers into resolv.conf. Pure edit transforms, no I/O.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/ipv4.h"
#include "fixups/fix-internal.h"

static const char marker[] = "# domufs:";
/* ends the first line of an ifcfg file domufs created */
static const char ifcfg_mark[] = "(written by domufs)";

static unsigned nic_prefix(const struct fix_nic *n)
{
	return n->prefix >= 1 && n->prefix <= 32 ? n->prefix : 24;
}

/*
 * The vif that carries the default route and the nameservers: the first
 * static one whose subnet holds the gateway, else the first static one
 * (the profile reader warned); SIZE_MAX when every vif uses DHCP.
 */
static size_t primary_nic(const struct fix_profile *prof)
{
	size_t first = SIZE_MAX;

	for (size_t i = 0; i < prof->n_nics; i++) {
		const struct fix_nic *n = &prof->nics[i];

		if (!n->ip)
			continue;
		if (first == SIZE_MAX)
			first = i;
		if (dm_ipv4_same_subnet(prof->gateway, n->ip, nic_prefix(n)))
			return i;
	}
	return first;
}

/* ---- ifupdown: /etc/network/interfaces ----------------------------------- */

static bool is_keyword(struct fix_span w)
{
	static const char *const kw[] = {
		"iface",    "mapping",		"auto",
		"source",   "source-directory", "rename",
		"template", "no-auto-down",	"no-scripts",
		NULL
	};

	if (w.n > 6 && !memcmp(w.p, "allow-", 6))
		return true;
	for (size_t i = 0; kw[i]; i++)
		if (fix_span_eq(w, kw[i]))
			return true;
	return false;
}

/*
 * Interfaces whose stanzas the rule owns: the names it configures and any
 * other name a Xen vif could have (eth<N>, enX<N>): in a domU every vif is
 * in the profile, so the template's stanzas for them are stale.
 */
static bool managed_name(const struct fix_ctx *ctx, struct fix_span name)
{
	struct fix_span base = name;
	const char *colon = memchr(name.p, ':', name.n);
	size_t i;

	if (colon)
		base.n = (size_t)(colon - name.p); /* eth0:1 aliases */
	for (size_t k = 0; k < 2; k++) {
		const char *pfx = k ? "enX" : "eth";
		size_t pl = 3;

		if (base.n <= pl || memcmp(base.p, pfx, pl))
			continue;
		for (i = pl; i < base.n; i++)
			if (!isdigit((unsigned char)base.p[i]))
				break;
		if (i == base.n)
			return true;
	}
	for (size_t k = 0; k < ctx->profile->n_nics; k++) {
		char nm[16];

		fix_nic_name(ctx, k, nm);
		if (fix_span_eq(base, nm))
			return true;
	}
	return false;
}

static void interfaces_block(const struct fix_ctx *ctx, const char *mode,
			     struct fix_buf *out)
{
	const struct fix_profile *prof = ctx->profile;
	const size_t primary = primary_nic(prof); /* gateway, DNS */

	for (size_t i = 0; i < prof->n_nics; i++) {
		const struct fix_nic *n = &prof->nics[i];
		char name[16], mask[16];

		fix_nic_name(ctx, i, name);
		if (i)
			fix_buf_puts(out, "\n");
		fix_buf_printf(out, "%s vif %zu%s%s\n", marker, i,
			       n->mac ? ", " : "", n->mac ? n->mac : "");
		fix_buf_printf(out, "%s %s\n", mode, name);
		if (!n->ip) {
			fix_buf_printf(out, "iface %s inet dhcp\n", name);
			continue;
		}
		fix_prefix_netmask(nic_prefix(n), mask);
		fix_buf_printf(out,
			       "iface %s inet static\n"
			       "\taddress %s\n"
			       "\tnetmask %s\n",
			       name, n->ip, mask);
		if (i == primary && prof->gateway)
			fix_buf_printf(out, "\tgateway %s\n", prof->gateway);
		if (i == primary && prof->n_nameservers) {
			fix_buf_puts(out, "\tdns-nameservers");
			for (size_t k = 0; k < prof->n_nameservers; k++)
				fix_buf_printf(out, " %s",
					       prof->nameservers[k]);
			fix_buf_puts(out, "\n");
		}
	}
}

/*
 * arg: "allow-hotplug" or "auto". The template's stanzas for vif names are
 * dropped (with their auto/allow-* mentions), the rest kept in place, and
 * the profile's stanzas appended after one blank line.
 */
int fix_edit_interfaces(const struct fix_ctx *ctx, const char *arg,
			const char *in, size_t len, struct fix_buf *out)
{
	const char *mode = arg ? arg : "auto", *pos = in, *line;
	struct fix_buf kept = { 0 };
	bool dropping = false, have_lo = false;
	size_t ll;

	while (fix_line_next(&pos, in + len, &line, &ll)) {
		struct fix_span f[64], t = fix_span_trim(line, ll);
		size_t nf;

		if (t.n >= sizeof(marker) - 1 &&
		    !memcmp(t.p, marker, sizeof(marker) - 1))
			continue;
		if (fix_line_is_comment(line, ll)) {
			fix_buf_line(&kept, line, ll);
			continue;
		}
		nf = fix_fields(line, ll, f, 64);
		if (!is_keyword(f[0])) {
			if (!dropping)
				fix_buf_line(&kept, line, ll);
			continue;
		}
		dropping = false;
		if (fix_span_eq(f[0], "iface") && nf >= 2) {
			have_lo |= fix_span_eq(f[1], "lo");
			if (managed_name(ctx, f[1])) {
				dropping = true;
				continue;
			}
		} else if ((fix_span_eq(f[0], "auto") ||
			    (f[0].n > 6 && !memcmp(f[0].p, "allow-", 6))) &&
			   nf >= 2) {
			struct fix_buf l = { 0 };
			size_t left = 0;

			fix_buf_add(&l, f[0].p, f[0].n);
			for (size_t i = 1; i < nf; i++) {
				if (managed_name(ctx, f[i]))
					continue;
				fix_buf_add(&l, " ", 1);
				fix_buf_add(&l, f[i].p, f[i].n);
				left++;
			}
			if (left == nf - 1)
				fix_buf_line(&kept, line, ll);
			else if (left)
				fix_buf_line(&kept, l.p, l.len);
			if (l.oom)
				kept.oom = true;
			fix_buf_clear(&l);
			continue;
		}
		fix_buf_line(&kept, line, ll);
	}
	fix_buf_trim_blank_tail(&kept);
	fix_buf_add(out, kept.p ? kept.p : "", kept.len);
	if (!have_lo) {
		/* after what was there (comments, source lines) */
		if (out->len)
			fix_buf_puts(out, "\n");
		fix_buf_puts(out, "auto lo\niface lo inet loopback\n");
	}
	if (kept.oom)
		out->oom = true;
	fix_buf_clear(&kept);
	if (ctx->profile->n_nics) {
		if (out->len)
			fix_buf_puts(out, "\n");
		interfaces_block(ctx, mode, out);
	}
	return 0;
}

/* ---- RHEL: ifcfg-<name> --------------------------------------------------- */

int fix_edit_ifcfg(const struct fix_ctx *ctx, const char *arg, const char *in,
		   size_t len, struct fix_buf *out)
{
	static const char *const drop_static[] = {
		"IPADDR",  "NETMASK",  "PREFIX",   "GATEWAY", "IPADDR0",
		"PREFIX0", "NETMASK0", "GATEWAY0", "UUID",    "HWADDR",
		"MACADDR", "DNS1",     "DNS2",	   "DNS3",    NULL
	};
	const struct fix_profile *prof = ctx->profile;
	const size_t primary = primary_nic(prof); /* gateway, DNS */
	size_t i = arg ? strtoul(arg, NULL, 10) : 0, n_set = 0;
	char name[16], mask[16], *set[16] = { NULL };
	const struct fix_nic *n;
	int r = 0;

	if (i >= prof->n_nics)
		return -EINVAL;
	n = &prof->nics[i];
	fix_nic_name(ctx, i, name);
#define SET(...)                                                \
	do {                                                    \
		if (asprintf(&set[n_set++], __VA_ARGS__) < 0) { \
			set[--n_set] = NULL;                    \
			r = -ENOMEM;                            \
			goto out;                               \
		}                                               \
	} while (0)
	SET("DEVICE=%s", name);
	SET("TYPE=Ethernet");
	SET("ONBOOT=yes");
	if (n->mac)
		SET("HWADDR=%s", n->mac);
	if (n->ip) {
		fix_prefix_netmask(nic_prefix(n), mask);
		SET("BOOTPROTO=none");
		SET("IPADDR=%s", n->ip);
		SET("NETMASK=%s", mask);
		if (i == primary && prof->gateway)
			SET("GATEWAY=%s", prof->gateway);
		for (size_t k = 0;
		     i == primary && k < prof->n_nameservers && k < 3; k++)
			SET("DNS%zu=%s", k + 1, prof->nameservers[k]);
	} else {
		SET("BOOTPROTO=dhcp");
	}
#undef SET
	if (!len)
		fix_buf_printf(out, "# Xen vif %zu %s\n", i, ifcfg_mark);
	fix_shell_vars(in, len, (const char *const *)set, n_set, drop_static,
		       out);
out:
	for (size_t k = 0; k < n_set; k++)
		free(set[k]);
	return r;
}

/* ---- systemd-networkd ----------------------------------------------------- */

int fix_edit_networkd(const struct fix_ctx *ctx, const char *arg,
		      const char *in, size_t len, struct fix_buf *out)
{
	const struct fix_profile *prof = ctx->profile;
	const size_t primary = primary_nic(prof); /* gateway, DNS */
	size_t i = arg ? strtoul(arg, NULL, 10) : 0;
	const struct fix_nic *n;
	char name[16];

	if (i >= prof->n_nics)
		return -EINVAL;
	n = &prof->nics[i];
	fix_nic_name(ctx, i, name);
	fix_buf_printf(out, "%s vif %zu\n[Match]\n", marker, i);
	if (n->mac)
		fix_buf_printf(out, "MACAddress=%s\n", n->mac);
	else
		fix_buf_printf(out, "Name=%s\n", name);
	fix_buf_puts(out, "\n[Network]\n");
	if (!n->ip) {
		fix_buf_puts(out, "DHCP=yes\n");
		return 0;
	}
	fix_buf_printf(out, "Address=%s/%u\n", n->ip, nic_prefix(n));
	if (i == primary && prof->gateway)
		fix_buf_printf(out, "Gateway=%s\n", prof->gateway);
	for (size_t k = 0; i == primary && k < prof->n_nameservers; k++)
		fix_buf_printf(out, "DNS=%s\n", prof->nameservers[k]);
	return 0;
}

/* ---- netplan -------------------------------------------------------------- */

int fix_edit_netplan(const struct fix_ctx *ctx, const char *arg, const char *in,
		     size_t len, struct fix_buf *out)
{
	const struct fix_profile *prof = ctx->profile;
	const size_t primary = primary_nic(prof); /* gateway, DNS */

	fix_buf_printf(out,
		       "%s the domain's vifs\n"
		       "network:\n"
		       "  version: 2\n"
		       "  ethernets:\n",
		       marker);
	for (size_t i = 0; i < prof->n_nics; i++) {
		const struct fix_nic *n = &prof->nics[i];
		char name[16];

		fix_nic_name(ctx, i, name);
		fix_buf_printf(out, "    vif%zu:\n      match:\n", i);
		if (n->mac)
			fix_buf_printf(out, "        macaddress: \"%s\"\n",
				       n->mac);
		else
			fix_buf_printf(out, "        name: \"%s\"\n", name);
		if (!n->ip) {
			fix_buf_puts(out, "      dhcp4: true\n");
			continue;
		}
		fix_buf_printf(out,
			       "      dhcp4: false\n"
			       "      addresses: [ \"%s/%u\" ]\n",
			       n->ip, nic_prefix(n));
		if (i == primary && prof->gateway)
			fix_buf_printf(out,
				       "      routes:\n"
				       "        - to: 0.0.0.0/0\n"
				       "          via: %s\n",
				       prof->gateway);
		if (i == primary && prof->n_nameservers) {
			fix_buf_puts(out, "      nameservers:\n"
					  "        addresses: [");
			for (size_t k = 0; k < prof->n_nameservers; k++)
				fix_buf_printf(out, "%s \"%s\"", k ? "," : "",
					       prof->nameservers[k]);
			fix_buf_puts(out, " ]\n");
		}
	}
	return 0;
}

/* ---- resolv.conf ---------------------------------------------------------- */

int fix_edit_resolv(const struct fix_ctx *ctx, const char *arg, const char *in,
		    size_t len, struct fix_buf *out)
{
	const struct fix_profile *prof = ctx->profile;
	const char *pos = in, *line;
	size_t ll;

	while (fix_line_next(&pos, in + len, &line, &ll)) {
		struct fix_span f[1];

		if (!fix_line_is_comment(line, ll) &&
		    fix_fields(line, ll, f, 1) == 1 &&
		    fix_span_eq(f[0], "nameserver"))
			continue;
		fix_buf_line(out, line, ll);
	}
	for (size_t k = 0; k < prof->n_nameservers; k++)
		fix_buf_printf(out, "nameserver %s\n", prof->nameservers[k]);
	return 0;
}

/* ---- the rule ------------------------------------------------------------- */

/*
 * Files in @dir named @prefix* whose first line starts with @head (and
 * contains @tail, when not NULL) that this plan does not write: domufs
 * wrote them for a vif an earlier profile had, and the overlay kept them
 * (written through the mount, or a template committed from a mount).
 * Configuration for a NIC the domain no longer has: hidden.
 */
static int hide_stale(struct fix_planner *p, const char *dir,
		      const char *prefix, const char *head, const char *tail)
{
	char **names = NULL;
	int r = fix_list(p->rd, dir, &names);

	if (r < 0)
		return fix_absent(r) ? 0 : r;
	for (size_t i = 0; names[i] && r >= 0; i++) {
		_cleanup_free_ char *path = NULL, *data = NULL;
		char *nl;
		size_t len;

		if (strncmp(names[i], prefix, strlen(prefix)))
			continue;
		if (asprintf(&path, "%s/%s", dir, names[i]) < 0) {
			r = -ENOMEM;
			break;
		}
		if (fix_plan_find(p, path) || !fix_has(p->rd, path, S_IFREG) ||
		    fix_read(p->rd, path, &data, &len) < 0)
			continue;
		nl = memchr(data, '\n', len);
		if (nl)
			*nl = '\0';
		if (!strncmp(data, head, strlen(head)) &&
		    (!tail || strstr(data, tail)))
			r = fix_plan_hide_stale(p, path);
	}
	fix_strv_free(names);
	return r;
}

static int enable_networkd(struct fix_planner *p)
{
	static const char *const dirs[] = { "/lib/systemd/system",
					    "/usr/lib/systemd/system", NULL };
	static const struct {
		const char *unit, *wants;
	} units[] = {
		{ "systemd-networkd.service", "multi-user.target.wants" },
		{ "systemd-networkd.socket", "sockets.target.wants" },
	};

	for (size_t u = 0; u < DM_ARRAY_SIZE(units); u++) {
		for (size_t d = 0; dirs[d]; d++) {
			char unit[128], link[160];
			int r;

			snprintf(unit, sizeof(unit), "%s/%s", dirs[d],
				 units[u].unit);
			if (!fix_has(p->rd, unit, S_IFREG))
				continue;
			snprintf(link, sizeof(link),
				 "/etc/systemd/system/%s/%s", units[u].wants,
				 units[u].unit);
			r = fix_plan_symlink(p, link, unit);
			if (r < 0)
				return r;
			break;
		}
	}
	return 0;
}

int fix_rule_network(struct fix_planner *p)
{
	const struct fix_facts *f = p->ctx->facts;
	const struct fix_profile *prof = p->ctx->profile;
	char path[128], idx[24];
	int r = 0;

	if (prof->n_nics)
		switch (f->net) {
		case FIX_NET_IFUPDOWN:
		case FIX_NET_IFUPDOWN_NG:
			/* allow-hotplug needs udev to raise the interface */
			r = fix_plan_file(
				p, "/etc/network/interfaces", FIX_OP_INTERFACES,
				f->has_udev && f->net == FIX_NET_IFUPDOWN &&
						(f->family ==
							 FIX_FAMILY_DEBIAN ||
						 f->family ==
							 FIX_FAMILY_UBUNTU) ?
					"allow-hotplug" :
					"auto",
				FIX_MAY_CREATE, 0644, 0, 0);
			break;
		case FIX_NET_IFCFG:
			for (size_t i = 0; i < prof->n_nics && r >= 0; i++) {
				char name[16];

				fix_nic_name(p->ctx, i, name);
				snprintf(path, sizeof(path),
					 "/etc/sysconfig/network-scripts/"
					 "ifcfg-%s",
					 name);
				snprintf(idx, sizeof(idx), "%zu", i);
				r = fix_plan_file(p, path, FIX_OP_IFCFG, idx,
						  FIX_MAY_CREATE, 0644, 0, 0);
			}
			break;
		case FIX_NET_NETWORKD:
			for (size_t i = 0; i < prof->n_nics && r >= 0; i++) {
				snprintf(path, sizeof(path),
					 "/etc/systemd/network/"
					 "10-domufs-vif%zu.network",
					 i);
				snprintf(idx, sizeof(idx), "%zu", i);
				r = fix_plan_file(p, path, FIX_OP_NETWORKD, idx,
						  FIX_MAY_CREATE, 0644, 0, 0);
			}
			if (r >= 0)
				r = enable_networkd(p);
			break;
		case FIX_NET_NETPLAN:
			r = fix_plan_file(p, "/etc/netplan/90-domufs.yaml",
					  FIX_OP_NETPLAN, NULL, FIX_MAY_CREATE,
					  0600, 0, 0);
			break;
		case FIX_NET_NONE:
			break;
		}
	if (r >= 0 && f->net == FIX_NET_IFCFG)
		r = hide_stale(p, "/etc/sysconfig/network-scripts", "ifcfg-",
			       "# Xen vif ", ifcfg_mark);
	if (r >= 0 && f->net == FIX_NET_NETWORKD)
		r = hide_stale(p, "/etc/systemd/network", "10-domufs-vif",
			       marker, NULL);
	if (r < 0)
		return r;
	/* A symlink (resolvconf, systemd-resolved) is left alone: the
	   interface configuration above carries the servers there. */
	if (prof->n_nameservers)
		r = fix_plan_file(p, "/etc/resolv.conf", FIX_OP_RESOLV, NULL,
				  FIX_MAY_CREATE, 0644, 0, 0);
	return r;
}
