// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * xen_profile_load(): the domain profile through libxlutil (the only file,
 * with xen/'s other .c files, that sees its headers). libxlutil reports
 * parse errors on a FILE*: an open_memstream captures them into one line.
 * It keeps line numbers to itself, so profile-check.c's scanner finds where
 * each key is. Never prints.
 */
#include <errno.h>
#include <fcntl.h>
#include <libxlutil.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/ipv4.h"
#include "xen/profile-internal.h"
#include "xen/profile.h"

#define PROFILE_MAX_SIZE (1024 * 1024)

struct loader {
	const char *path;
	XLU_Config *cfg;
	FILE *report;
	char *report_buf;
	size_t report_len;
	struct xen_scan scan;
	struct dm_err *err;
	dm_warn_fn warn;
	void *warn_ctx;
	struct xen_profile *p;
};

/* Records "PATH:LINE: KEY: message" (LINE of item @item, or of the key). */
__attribute__((format(printf, 4, 5))) static int
fail(struct loader *L, const char *key, long item, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	int line = 0;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (key)
		line = item >= 0 ?
			       xen_scan_item_line(&L->scan, key, (size_t)item) :
			       xen_scan_line(&L->scan, key);
	if (key && line)
		return dm_err_set(L->err, EINVAL, "%s:%d: %s: %s", L->path,
				  line, key, msg);
	if (key)
		return dm_err_set(L->err, EINVAL, "%s: %s: %s", L->path, key,
				  msg);
	return dm_err_set(L->err, EINVAL, "%s: %s", L->path, msg);
}

/* The first line libxlutil reported since offset @from, or NULL. */
static const char *report_line(struct loader *L, size_t from, char *buf,
			       size_t size)
{
	const char *s;
	size_t n;

	fflush(L->report);
	if (!L->report_buf || L->report_len <= from)
		return NULL;
	s = L->report_buf + from;
	n = strcspn(s, "\n");
	if (!n)
		return NULL;
	snprintf(buf, size, "%.*s", (int)n, s);
	return buf;
}

/*
 * libxlutil's syntax errors read "PATH:LINE: config parsing error near
 * TOKEN: ...", but a line's end (TOKEN "<newline>") is numbered as the
 * line before it: the line of a value left out ("vcpus =") comes out one
 * too low, the first as line 0. Rewrites such a message in @buf.
 */
static void fix_newline_line(const char *path, char *buf, size_t size)
{
	static const char near_nl[] = ": config parsing error near <newline>";
	size_t plen = strlen(path);
	unsigned long line;
	char *end, rest[512];

	if (strncmp(buf, path, plen) || buf[plen] != ':')
		return;
	errno = 0;
	line = strtoul(buf + plen + 1, &end, 10);
	if (errno || end == buf + plen + 1 ||
	    strncmp(end, near_nl, sizeof(near_nl) - 1))
		return;
	snprintf(rest, sizeof(rest), "%s", end);
	snprintf(buf + plen + 1, size - plen - 1, "%lu%s", line + 1, rest);
}

static int read_file(const char *path, char **ret, size_t *ret_len,
		     struct dm_err *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	_cleanup_free_ char *data = NULL;
	struct stat st;
	size_t len = 0, cap = 4096;

	if (fd < 0)
		return dm_err_set(err, errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		return dm_err_set(err, errno, "%s: %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode))
		return dm_err_set(err, EISDIR, "%s: is a directory", path);
	data = malloc(cap + 2);
	if (!data)
		return dm_err_set(err, ENOMEM, "%s: out of memory", path);
	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *nd;

			if (cap >= PROFILE_MAX_SIZE)
				return dm_err_set(err, EFBIG,
						  "%s: larger than %d bytes",
						  path, PROFILE_MAX_SIZE);
			cap *= 2;
			nd = realloc(data, cap + 2);
			if (!nd)
				return dm_err_set(err, ENOMEM,
						  "%s: out of memory", path);
			data = nd;
		}
		n = read(fd, data + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return dm_err_set(err, errno, "%s: %s", path,
					  strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
	}
	/* xl's lexer wants a comment to end with a newline */
	if (!len || data[len - 1] != '\n')
		data[len++] = '\n';
	data[len] = '\0';
	*ret = TAKE_PTR(data);
	*ret_len = len;
	return 0;
}

/* ---- Getting values ------------------------------------------------------- */

/* A single value: 0 and *ret (NULL when absent), or an error. */
static int get_string(struct loader *L, const char *key, const char **ret)
{
	const char *v = NULL;
	int e = xlu_cfg_get_string(L->cfg, key, &v, 1);

	*ret = NULL;
	if (e == ESRCH)
		return 0;
	if (e)
		return fail(L, key, -1,
			    "should be a single value, not a list [ ... ]");
	if (!xen_check_text(v))
		return fail(L, key, -1,
			    "the value carries a newline or control character");
	*ret = v;
	return 0;
}

static int dup_string(struct loader *L, const char *key, char **ret)
{
	const char *v;
	int r = get_string(L, key, &v);

	if (r < 0 || !v)
		return r;
	*ret = strdup(v);
	return *ret ? 0 : dm_err_set(L->err, ENOMEM, "out of memory");
}

/* A list of strings: 0 with n = 0 when absent. Items borrowed. */
static int get_list(struct loader *L, const char *key, const char ***ret,
		    size_t *ret_n)
{
	XLU_ConfigList *list = NULL;
	const char **items;
	int n = 0, e;

	*ret = NULL;
	*ret_n = 0;
	e = xlu_cfg_get_list(L->cfg, key, &list, &n, 1);
	if (e == ESRCH)
		return 0;
	if (e)
		return fail(L, key, -1, "should be a list [ ... ]");
	if (n <= 0)
		return 0;
	items = calloc((size_t)n, sizeof(*items));
	if (!items)
		return dm_err_set(L->err, ENOMEM, "out of memory");
	for (int i = 0; i < n; i++) {
		items[i] = xlu_cfg_get_listitem(list, i);
		if (!items[i]) {
			free(items);
			return fail(L, key, i, "item %d is not a string",
				    i + 1);
		}
		if (!xen_check_text(items[i])) {
			free(items);
			return fail(L, key, i,
				    "item %d carries a newline or control "
				    "character",
				    i + 1);
		}
	}
	*ret = items;
	*ret_n = (size_t)n;
	return 0;
}

static int dup_list(struct loader *L, const char *key, char ***ret,
		    size_t *ret_n)
{
	_cleanup_free_ const char **items = NULL;
	size_t n;
	char **v;
	int r = get_list(L, key, &items, &n);

	if (r < 0 || !n)
		return r;
	v = calloc(n + 1, sizeof(*v));
	if (!v)
		return dm_err_set(L->err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		v[i] = strdup(items[i]);
		if (!v[i]) {
			for (size_t k = 0; k < i; k++)
				free(v[k]);
			free(v);
			return dm_err_set(L->err, ENOMEM, "out of memory");
		}
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static int get_long(struct loader *L, const char *key, long *ret)
{
	long v = 0;
	int e = xlu_cfg_get_long(L->cfg, key, &v, 1);

	if (e == ESRCH)
		return 0;
	if (e || v <= 0)
		return fail(L, key, -1, "should be a positive number");
	*ret = v;
	return 0;
}

/* ---- The keys ------------------------------------------------------------- */

static int load_disks(struct loader *L)
{
	struct xen_profile *p = L->p;
	_cleanup_free_ const char **specs = NULL;
	size_t n;
	int r = get_list(L, "disk", &specs, &n);

	if (r < 0 || !n)
		return r;
	p->disks = calloc(n, sizeof(*p->disks));
	if (!p->disks)
		return dm_err_set(L->err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct xen_disk *d = &p->disks[i];
		libxl_device_disk disk;
		size_t before = 0;
		char line[512];
		const char *why;
		bool has_target;
		int e;

		fflush(L->report);
		before = L->report_len;
		libxl_device_disk_init(&disk);
		e = xlu_disk_parse(L->cfg, 1, &specs[i], &disk);
		if (e) {
			libxl_device_disk_dispose(&disk);
			why = report_line(L, before, line, sizeof(line));
			/* "PATH: config parsing error in disk ...": drop PATH */
			if (why && !strncmp(why, L->path, strlen(L->path)) &&
			    !strncmp(why + strlen(L->path), ": ", 2))
				why += strlen(L->path) + 2;
			return fail(L, "disk", (long)i,
				    "bad disk specification `%s'%s%s", specs[i],
				    why ? ": " : "", why ? why : "");
		}
		p->n_disks++;
		has_target = disk.pdev_path && *disk.pdev_path;
		d->spec = strdup(specs[i]);
		d->vdev = strdup(disk.vdev ? disk.vdev : "");
		d->target = has_target ? strdup(disk.pdev_path) : NULL;
		d->readwrite = disk.readwrite;
		d->cdrom = disk.is_cdrom;
		libxl_device_disk_dispose(&disk);
		if (!d->spec || !d->vdev || (has_target && !d->target))
			return dm_err_set(L->err, ENOMEM, "out of memory");
		if (!xen_check_vdev(d->vdev))
			return fail(L, "disk", (long)i,
				    "bad virtual device name `%s'", d->vdev);
	}
	return 0;
}

/*
 * xl passes every address of ip= to the vif script (for its antispoof
 * rules), but the guest is configured with the first one only.
 */
static void warn_more_ips(struct loader *L, size_t i, const char *first)
{
	dm_warn(L->warn, L->warn_ctx,
		"%s:%d: vif: ip= lists several addresses: only %s is "
		"configured in the guest",
		L->path, xen_scan_item_line(&L->scan, "vif", i), first);
}

static int parse_vif(struct loader *L, size_t i, const char *spec,
		     struct xen_vif *v, unsigned netmask_prefix, int *warned)
{
	_cleanup_free_ char *copy = strdup(spec);
	char *save = NULL, *item;

	if (!copy)
		return dm_err_set(L->err, ENOMEM, "out of memory");
	for (item = strtok_r(copy, ",", &save); item;
	     item = strtok_r(NULL, ",", &save)) {
		char *eq, *k, *val, *end;

		while (*item == ' ' || *item == '\t')
			item++;
		end = item + strlen(item);
		while (end > item && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (!*item)
			continue;
		eq = strchr(item, '=');
		if (!eq)
			return fail(L, "vif", (long)i, "`%s' is not key=value",
				    item);
		*eq = '\0';
		k = item;
		val = eq + 1;
		if (!strcmp(k, "mac")) {
			char mac[18];

			if (!xen_check_mac(val, mac))
				return fail(L, "vif", (long)i,
					    "bad MAC address `%s'", val);
			free(v->mac);
			v->mac = strdup(mac);
			if (!v->mac)
				return dm_err_set(L->err, ENOMEM,
						  "out of memory");
		} else if (!strcmp(k, "ip")) {
			/* xl passes a blank-separated list to the script */
			_cleanup_free_ char *ips = strdup(val);
			char *s2 = NULL, *ip;
			bool first = true, more = false;

			if (!ips)
				return dm_err_set(L->err, ENOMEM,
						  "out of memory");
			for (ip = strtok_r(ips, " \t", &s2); ip;
			     ip = strtok_r(NULL, " \t", &s2)) {
				char *slash = strchr(ip, '/');
				unsigned prefix = 0;

				if (slash) {
					char *pe;
					unsigned long pl;

					*slash = '\0';
					pl = strtoul(slash + 1, &pe, 10);
					if (pe == slash + 1 || *pe || pl < 1 ||
					    pl > 32) {
						*slash = '/';
						return fail(L, "vif", (long)i,
							    "bad IPv4 address "
							    "`%s'",
							    ip);
					}
					prefix = (unsigned)pl;
				}
				if (!xen_check_ipv4(ip))
					return fail(L, "vif", (long)i,
						    "bad IPv4 address `%s'",
						    ip);
				if (!first) {
					more = true;
					continue;
				}
				first = false;
				free(v->ip);
				v->ip = strdup(ip);
				if (!v->ip)
					return dm_err_set(L->err, ENOMEM,
							  "out of memory");
				v->prefix = prefix;
			}
			if (first)
				return fail(L, "vif", (long)i,
					    "ip= without an address");
			if (more)
				warn_more_ips(L, i, v->ip);
		} else if (!strcmp(k, "bridge")) {
			if (!xen_check_plain(val) || !*val)
				return fail(L, "vif", (long)i,
					    "bad bridge name `%s'", val);
			free(v->bridge);
			v->bridge = strdup(val);
			if (!v->bridge)
				return dm_err_set(L->err, ENOMEM,
						  "out of memory");
		}
		/* other keys (script, vifname, model, rate...) are xl's */
	}
	if (v->ip && !v->prefix) {
		v->prefix = netmask_prefix ? netmask_prefix : 24;
		if (!netmask_prefix && !(*warned)++) {
			int line = xen_scan_item_line(&L->scan, "vif", i);

			dm_warn(L->warn, L->warn_ctx,
				"%s:%d: vif: ip=%s without netmask: assuming "
				"255.255.255.0",
				L->path, line, v->ip);
		}
	}
	return 0;
}

static int load_vifs(struct loader *L, unsigned netmask_prefix)
{
	struct xen_profile *p = L->p;
	_cleanup_free_ const char **specs = NULL;
	int warned = 0;
	size_t n;
	int r = get_list(L, "vif", &specs, &n);

	if (r < 0 || !n)
		return r;
	p->vifs = calloc(n, sizeof(*p->vifs));
	if (!p->vifs)
		return dm_err_set(L->err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		p->n_vifs++;
		p->vifs[i].spec = strdup(specs[i]);
		if (!p->vifs[i].spec)
			return dm_err_set(L->err, ENOMEM, "out of memory");
		r = parse_vif(L, i, specs[i], &p->vifs[i], netmask_prefix,
			      &warned);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * A gateway the guest cannot reach, or one the fixups have nowhere to
 * write, is the profile's mistake, not a reason to refuse it: said once.
 * Returns 0: what it finds are warnings.
 */
static int check_gateway(struct loader *L)
{
	const struct xen_profile *p = L->p;
	bool any_static = false;

	if (!p->gateway)
		return 0;
	for (size_t i = 0; i < p->n_vifs; i++) {
		if (!p->vifs[i].ip)
			continue;
		any_static = true;
		if (dm_ipv4_same_subnet(p->gateway, p->vifs[i].ip,
					p->vifs[i].prefix))
			return 0;
	}
	if (any_static)
		dm_warn(L->warn, L->warn_ctx,
			"%s:%d: gateway %s is outside the subnet of every vif "
			"with ip=: the guest cannot reach it",
			L->path, xen_scan_line(&L->scan, "gateway"),
			p->gateway);
	else
		dm_warn(L->warn, L->warn_ctx,
			"%s:%d: gateway %s is not used: no vif has ip= (DHCP "
			"brings its own)",
			L->path, xen_scan_line(&L->scan, "gateway"),
			p->gateway);
	return 0;
}

static int load_network(struct loader *L, unsigned *ret_prefix)
{
	struct xen_profile *p = L->p;
	int r;

	*ret_prefix = 0;
	r = dup_string(L, "netmask", &p->netmask);
	if (r < 0)
		return r;
	if (p->netmask && !xen_check_netmask(p->netmask, ret_prefix))
		return fail(L, "netmask", -1, "bad IPv4 netmask `%s'",
			    p->netmask);
	r = dup_string(L, "gateway", &p->gateway);
	if (r < 0)
		return r;
	if (p->gateway && !xen_check_ipv4(p->gateway))
		return fail(L, "gateway", -1, "bad IPv4 address `%s'",
			    p->gateway);
	r = dup_list(L, "nameservers", &p->nameservers, &p->n_nameservers);
	if (r < 0)
		return r;
	for (size_t i = 0; i < p->n_nameservers; i++)
		if (!xen_check_ipv4(p->nameservers[i]))
			return fail(L, "nameservers", (long)i,
				    "bad IPv4 address `%s'", p->nameservers[i]);
	return 0;
}

static int load_accounts(struct loader *L)
{
	struct xen_profile *p = L->p;
	int r = dup_string(L, "root_password_hash", &p->root_password_hash);

	if (r < 0)
		return r;
	if (p->root_password_hash && !xen_check_hash(p->root_password_hash))
		return fail(L, "root_password_hash", -1,
			    "not a crypt(3) hash ($6$..., $y$..., $2b$...; "
			    "\"*\" or \"!\" to lock): plaintext passwords are "
			    "refused");
	r = dup_list(L, "ssh_authorized_keys", &p->ssh_authorized_keys,
		     &p->n_ssh_authorized_keys);
	if (r < 0)
		return r;
	for (size_t i = 0; i < p->n_ssh_authorized_keys; i++)
		if (!xen_check_ssh_key(p->ssh_authorized_keys[i]))
			return fail(L, "ssh_authorized_keys", (long)i,
				    "item %zu is not an SSH public key line "
				    "([options] TYPE BASE64 [comment])",
				    i + 1);
	return 0;
}

/* The identity fixup writes the hostname: it needs a valid one. */
static int check_hostname_needed(struct loader *L)
{
	struct xen_profile *p = L->p;

	if (p->hostname || !(p->fixup_rules & FIX_RULE_BIT(FIX_RULE_IDENTITY)))
		return 0;
	return fail(L, "name", -1,
		    "`%s' is not a valid hostname: set `hostname' (or switch "
		    "the identity fixup off)",
		    p->name);
}

static int load_fixups(struct loader *L)
{
	struct xen_profile *p = L->p;
	size_t bad = 0;
	int r;

	p->fixup_rules = FIX_RULES_ALL;
	if (xlu_cfg_get_list(L->cfg, "fixups", NULL, NULL, 1) == ESRCH)
		return 0;
	r = dup_list(L, "fixups", &p->fixups, &p->n_fixups);
	if (r < 0)
		return r;
	if (!p->n_fixups) {
		p->fixup_rules = 0; /* fixups = [ ]: none */
		return 0;
	}
	if (fix_rules_select((const char *const *)p->fixups, p->n_fixups,
			     &p->fixup_rules, &bad) < 0) {
		char known[256] = "";

		for (int i = 0; i < FIX_RULE_COUNT; i++) {
			strncat(known, fix_rule_name(i),
				sizeof(known) - strlen(known) - 1);
			strncat(known, ", ", sizeof(known) - strlen(known) - 1);
		}
		return fail(L, "fixups", (long)bad,
			    "unknown fixup `%s' (known: %sall, none; -NAME "
			    "switches one off)",
			    p->fixups[bad], known);
	}
	return 0;
}

static int load_identity(struct loader *L)
{
	struct xen_profile *p = L->p;
	int r;

	r = dup_string(L, "name", &p->name);
	if (r < 0)
		return r;
	if (!p->name || !*p->name)
		return fail(L, NULL, -1, "no `name' (xl needs one)");
	r = dup_string(L, "hostname", &p->hostname);
	if (r < 0)
		return r;
	if (p->hostname) {
		if (!xen_check_hostname(p->hostname))
			return fail(L, "hostname", -1,
				    "`%s' is not a valid hostname (RFC 1123: "
				    "letters, digits, '-', dots)",
				    p->hostname);
	} else if (xen_check_hostname(p->name)) {
		p->hostname = strdup(p->name);
		if (!p->hostname)
			return dm_err_set(L->err, ENOMEM, "out of memory");
	}
	/* else: a name such as "web_01" is fine for xl; only the identity
	   fixup needs a hostname (load_fixups checks) */
	r = dup_string(L, "console", &p->console);
	if (r < 0)
		return r;
	if (p->console && strcmp(p->console, "hvc0") &&
	    strcmp(p->console, "xvc0") && strcmp(p->console, "ttyS0")) {
		return fail(L, "console", -1,
			    "`%s': the Xen console is \"hvc0\" (\"xvc0\" "
			    "for 2.6.18-era kernels, \"ttyS0\" for HVM)",
			    p->console);
	}
	return 0;
}

/* `type' (xl >= 4.10) or the older `builder': PV, PVH or HVM. */
static int load_type(struct loader *L)
{
	struct xen_profile *p = L->p;
	_cleanup_free_ char *type = NULL, *builder = NULL;
	int r = dup_string(L, "type", &type);

	if (r < 0)
		return r;
	r = dup_string(L, "builder", &builder);
	if (r < 0)
		return r;
	if (type && strcmp(type, "pv") && strcmp(type, "pvh") &&
	    strcmp(type, "hvm"))
		return fail(L, "type", -1,
			    "`%s': one of \"pv\", \"pvh\", \"hvm\"", type);
	if (builder && strcmp(builder, "generic") && strcmp(builder, "hvm"))
		return fail(L, "builder", -1,
			    "`%s': one of \"generic\", \"hvm\"", builder);
	p->hvm = type ? !strcmp(type, "hvm") :
			builder && !strcmp(builder, "hvm");
	return 0;
}

static int load_boot(struct loader *L)
{
	struct xen_profile *p = L->p;
	static const char *const keys[] = { "kernel", "ramdisk", "extra",
					    "root", "cmdline" };
	char **dst[] = { &p->kernel, &p->ramdisk, &p->extra, &p->root,
			 &p->cmdline };
	const char *base;
	int r;

	r = dup_string(L, "bootloader", &p->bootloader);
	if (r < 0)
		return r;
	if (p->bootloader) {
		base = strrchr(p->bootloader, '/');
		base = base ? base + 1 : p->bootloader;
		p->pygrub = !strcmp(base, "pygrub");
	}
	for (size_t i = 0; i < DM_ARRAY_SIZE(keys); i++) {
		r = dup_string(L, keys[i], dst[i]);
		if (r < 0)
			return r;
	}
	/* a PV domain with no kernel of dom0's boots through PyGRUB (xlcfg.c) */
	if (!p->bootloader && !p->kernel && !p->hvm)
		p->pygrub = true;
	r = get_long(L, "memory", &p->memory);
	if (r < 0)
		return r;
	return get_long(L, "vcpus", &p->vcpus);
}

/*
 * A relative `template` or `overlay` is taken from the profile's directory
 * (as the profile is found, so the same wherever the command runs: the
 * systemd unit runs in /).
 */
static int beside_profile(struct loader *L, char **value)
{
	const char *slash = strrchr(L->path, '/');
	char *joined;

	if (!*value || (*value)[0] == '/' || !slash)
		return 0;
	if (asprintf(&joined, "%.*s/%s", (int)(slash - L->path), L->path,
		     *value) < 0)
		return dm_err_set(L->err, ENOMEM, "out of memory");
	free(*value);
	*value = joined;
	return 0;
}

static int build_fix_view(struct loader *L)
{
	struct xen_profile *p = L->p;
	size_t k = 0;

	if (p->n_vifs) {
		p->fix_nics_ = calloc(p->n_vifs, sizeof(*p->fix_nics_));
		if (!p->fix_nics_)
			return dm_err_set(L->err, ENOMEM, "out of memory");
		for (size_t i = 0; i < p->n_vifs; i++) {
			p->fix_nics_[i].mac = p->vifs[i].mac;
			p->fix_nics_[i].ip = p->vifs[i].ip;
			p->fix_nics_[i].prefix = p->vifs[i].prefix;
		}
	}
	p->fix_disks_ = calloc(p->n_disks + 1, sizeof(*p->fix_disks_));
	if (!p->fix_disks_)
		return dm_err_set(L->err, ENOMEM, "out of memory");
	for (size_t i = 0; i < p->n_disks; i++) {
		if (p->disks[i].cdrom)
			continue;
		if (k == 0 && !xen_check_root_vdev(p->disks[i].vdev))
			return fail(L, "disk", (long)i,
				    "the root disk's vdev `%s' is not an "
				    "xvdX, sdX or hdX name",
				    p->disks[i].vdev);
		p->fix_disks_[k++] = p->disks[i].vdev;
	}
	return 0;
}

static void warn_unknown_keys(struct loader *L)
{
	static const char *const ours[] = {
		"hostname",
		"console",
		"netmask",
		"gateway",
		"nameservers",
		"root_password_hash",
		"ssh_authorized_keys",
		"fixups",
		"template",
		"overlay",
		NULL,
	};

	for (size_t i = 0; i < L->scan.n; i++) {
		const char *key = L->scan.a[i].key;
		bool known = xen_key_is_xl(key), seen = false;

		for (size_t k = 0; ours[k] && !known; k++)
			known = !strcmp(ours[k], key);
		size_t prev = i;

		for (size_t k = 0; k < i; k++)
			if (!strcmp(L->scan.a[k].key, key)) {
				seen = true;
				prev = k;
			}
		if (!known && !seen)
			dm_warn(L->warn, L->warn_ctx,
				"%s:%d: unknown key `%s' ignored", L->path,
				L->scan.a[i].line, key);
		/* as in xl, the last `=` counts: say so (`+=` adds) */
		if (seen && !L->scan.a[i].add)
			dm_warn(L->warn, L->warn_ctx,
				"%s:%d: `%s' set again: the value of line %d "
				"is not used",
				L->path, L->scan.a[i].line, key,
				L->scan.a[prev].line);
	}
}

int xen_profile_load(const char *path, struct xen_profile **ret,
		     struct dm_err *err, dm_warn_fn warn, void *warn_ctx)
{
	struct loader L = {
		.path = path, .err = err, .warn = warn, .warn_ctx = warn_ctx
	};
	_cleanup_free_ char *data = NULL;
	unsigned netmask_prefix = 0;
	size_t len = 0;
	int r, e;

	r = read_file(path, &data, &len, err);
	if (r < 0)
		return r;
	if (len > PROFILE_MAX_SIZE)
		return dm_err_set(err, EFBIG, "%s: larger than %d bytes", path,
				  PROFILE_MAX_SIZE);
	/* libxlutil asserts on a NUL inside a quoted string: refuse first */
	{
		const char *nul = memchr(data, '\0', len);

		if (nul) {
			int line = 1;

			for (const char *c = data; c < nul; c++)
				line += *c == '\n';
			return dm_err_set(err, EINVAL,
					  "%s:%d: a NUL byte: not a text file",
					  path, line);
		}
	}
	L.report = open_memstream(&L.report_buf, &L.report_len);
	if (!L.report)
		return dm_err_set(err, errno, "%s: %s", path, strerror(errno));
	L.cfg = xlu_cfg_init(L.report, path);
	if (!L.cfg) {
		r = dm_err_set(err, ENOMEM, "%s: out of memory", path);
		goto out;
	}
	e = xlu_cfg_readdata(L.cfg, data, (int)len);
	if (e) {
		char line[768];
		const char *why = report_line(&L, 0, line, sizeof(line));

		if (why) {
			fix_newline_line(path, line, sizeof(line));
			r = dm_err_set(err, e, "%s", why);
		} else
			r = dm_err_set(err, e, "%s: cannot parse: %s", path,
				       strerror(e));
		goto out;
	}
	r = xen_scan(data, len, &L.scan);
	if (r < 0) {
		dm_err_set(err, -r, "%s: out of memory", path);
		goto out;
	}
	warn_unknown_keys(&L);

	L.p = calloc(1, sizeof(*L.p));
	if (!L.p || !(L.p->path = strdup(path))) {
		r = dm_err_set(err, ENOMEM, "%s: out of memory", path);
		goto out;
	}
	if ((r = load_identity(&L)) < 0 || (r = load_type(&L)) < 0 ||
	    (r = load_boot(&L)) < 0 || (r = load_disks(&L)) < 0 ||
	    (r = load_network(&L, &netmask_prefix)) < 0 ||
	    (r = load_vifs(&L, netmask_prefix)) < 0 ||
	    (r = check_gateway(&L)) < 0 || (r = load_accounts(&L)) < 0 ||
	    (r = load_fixups(&L)) < 0 || (r = check_hostname_needed(&L)) < 0 ||
	    (r = dup_string(&L, "template", &L.p->template_path)) < 0 ||
	    (r = dup_string(&L, "overlay", &L.p->overlay_dir)) < 0 ||
	    (r = beside_profile(&L, &L.p->template_path)) < 0 ||
	    (r = beside_profile(&L, &L.p->overlay_dir)) < 0 ||
	    (r = build_fix_view(&L)) < 0)
		goto out;
	*ret = TAKE_PTR(L.p);
	r = 0;
out:
	xen_profile_free(L.p);
	xen_scan_free(&L.scan);
	xlu_cfg_destroy(L.cfg);
	if (L.report)
		fclose(L.report);
	free(L.report_buf);
	return r;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

struct xen_profile *xen_profile_free(struct xen_profile *p)
{
	if (!p)
		return NULL;
	for (size_t i = 0; i < p->n_disks; i++) {
		free(p->disks[i].spec);
		free(p->disks[i].target);
		free(p->disks[i].vdev);
	}
	free(p->disks);
	for (size_t i = 0; i < p->n_vifs; i++) {
		free(p->vifs[i].spec);
		free(p->vifs[i].mac);
		free(p->vifs[i].ip);
		free(p->vifs[i].bridge);
	}
	free(p->vifs);
	strv_free(p->nameservers, p->n_nameservers);
	strv_free(p->ssh_authorized_keys, p->n_ssh_authorized_keys);
	strv_free(p->fixups, p->n_fixups);
	free(p->path);
	free(p->name);
	free(p->bootloader);
	free(p->kernel);
	free(p->ramdisk);
	free(p->extra);
	free(p->root);
	free(p->cmdline);
	free(p->hostname);
	free(p->console);
	free(p->netmask);
	free(p->gateway);
	free(p->root_password_hash);
	free(p->template_path);
	free(p->overlay_dir);
	free(p->fix_nics_);
	free(p->fix_disks_);
	free(p);
	return NULL;
}

void xen_profile_fix(const struct xen_profile *p, struct fix_profile *ret)
{
	size_t n_disks = 0;

	while (p->fix_disks_ && p->fix_disks_[n_disks])
		n_disks++;
	*ret = (struct fix_profile){
		.hostname = p->hostname,
		/* an HVM guest's console is the emulated serial port */
		.console = p->console ? p->console :
			   p->hvm     ? "ttyS0" :
					NULL,
		.disks = p->fix_disks_,
		.n_disks = n_disks,
		.nics = p->fix_nics_,
		.n_nics = p->n_vifs,
		.gateway = p->gateway,
		.nameservers = (const char *const *)p->nameservers,
		.n_nameservers = p->n_nameservers,
		.root_password_hash = p->root_password_hash,
		.ssh_keys = (const char *const *)p->ssh_authorized_keys,
		.n_ssh_keys = p->n_ssh_authorized_keys,
		.pygrub = p->pygrub,
		.extra = p->extra,
		.rules = p->fixup_rules,
	};
}
