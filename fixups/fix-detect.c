// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fix_detect(): what the template is. Reads release files, /sbin/init,
 * /etc/inittab, udev, /boot and the network tools through the caller's
 * reader; a missing file only leaves a fact unknown. No I/O of its own.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "fixups/fix-internal.h"

/* Reads a small text file; -ENOENT (and other errors) leave *ret NULL. */
static int read_opt(const struct fix_reader *rd, const char *path, char **ret,
		    size_t *ret_len)
{
	int r = fix_read(rd, path, ret, ret_len);

	*ret = r < 0 ? NULL : *ret;
	if (fix_absent(r) || r == -EISDIR || r == -EINVAL)
		return 0;
	return r;
}

/* The value of KEY= in an os-release/lsb-release style file, unquoted. */
static bool kv_get(const char *data, size_t len, const char *key, char *buf,
		   size_t size)
{
	const char *pos = data, *line;
	size_t ll, kl = strlen(key);

	while (fix_line_next(&pos, data + len, &line, &ll)) {
		struct fix_span t = fix_span_trim(line, ll);
		size_t n = 0;
		char q = 0;

		if (t.n <= kl || memcmp(t.p, key, kl) || t.p[kl] != '=')
			continue;
		t.p += kl + 1;
		t.n -= kl + 1;
		if (t.n && (t.p[0] == '"' || t.p[0] == '\'')) {
			q = t.p[0];
			t.p++;
			t.n--;
		}
		for (size_t i = 0; i < t.n && n + 1 < size; i++) {
			if (q && t.p[i] == q)
				break;
			if (q == '"' && t.p[i] == '\\' && i + 1 < t.n)
				i++;
			buf[n++] = t.p[i];
		}
		buf[n] = '\0';
		return true;
	}
	return false;
}

static void parse_version(const char *s, struct fix_facts *f)
{
	char *end;
	unsigned long v;

	while (*s && !isdigit((unsigned char)*s))
		s++;
	if (!*s)
		return;
	v = strtoul(s, &end, 10);
	f->version_major = v > 10000 ? 0 : (unsigned)v;
	f->version_minor = 0;
	if (*end == '.' && isdigit((unsigned char)end[1])) {
		v = strtoul(end + 1, NULL, 10);
		f->version_minor = v > 100000 ? 0 : (unsigned)v;
	}
}

static const struct {
	const char *name;
	unsigned major;
} debian_codenames[] = {
	{ "buzz", 1 },	    { "rex", 1 },	{ "bo", 1 },
	{ "hamm", 2 },	    { "slink", 2 },	{ "potato", 2 },
	{ "woody", 3 },	    { "sarge", 3 },	{ "etch", 4 },
	{ "lenny", 5 },	    { "squeeze", 6 },	{ "wheezy", 7 },
	{ "jessie", 8 },    { "stretch", 9 },	{ "buster", 10 },
	{ "bullseye", 11 }, { "bookworm", 12 }, { "trixie", 13 },
	{ "forky", 14 },
};

static void debian_version(const char *s, struct fix_facts *f)
{
	struct fix_span t = fix_span_trim(s, strcspn(s, "\n"));

	if (t.n && isdigit((unsigned char)t.p[0])) {
		parse_version(t.p, f);
		return;
	}
	for (size_t i = 0; i < DM_ARRAY_SIZE(debian_codenames); i++) {
		size_t n = strlen(debian_codenames[i].name);

		if (t.n >= n && !strncmp(t.p, debian_codenames[i].name, n)) {
			f->version_major = debian_codenames[i].major;
			f->version_minor = 0;
			return;
		}
	}
}

/* IDs land in generated files (menu titles): keep os-release's charset. */
static void set_id(struct fix_facts *f, const char *id)
{
	size_t n = 0;

	for (; *id && n + 1 < sizeof(f->id); id++)
		if (islower((unsigned char)*id) ||
		    isdigit((unsigned char)*id) || *id == '.' || *id == '_' ||
		    *id == '-')
			f->id[n++] = *id;
	f->id[n] = '\0';
}

/* Kernel names land in generated files: no blanks, quotes or controls. */
static bool plain_name(const char *s)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._+-~", *s))
			return false;
	return true;
}

static bool word_in(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)); p += n)
		if ((p == list || p[-1] == ' ') && (!p[n] || p[n] == ' '))
			return true;
	return false;
}

static int detect_release(const struct fix_reader *rd, struct fix_facts *f)
{
	_cleanup_free_ char *osr = NULL, *lsb = NULL, *rh = NULL, *deb = NULL,
			    *alp = NULL;
	size_t osr_len = 0, lsb_len = 0, rh_len = 0, deb_len = 0, alp_len = 0;
	char id[64] = "", like[256] = "", ver[64] = "";
	int r;

	r = read_opt(rd, "/etc/os-release", &osr, &osr_len);
	if (r == 0 && !osr)
		r = read_opt(rd, "/usr/lib/os-release", &osr, &osr_len);
	if (r < 0)
		return r;
	if ((r = read_opt(rd, "/etc/lsb-release", &lsb, &lsb_len)) < 0 ||
	    (r = read_opt(rd, "/etc/redhat-release", &rh, &rh_len)) < 0 ||
	    (r = read_opt(rd, "/etc/debian_version", &deb, &deb_len)) < 0 ||
	    (r = read_opt(rd, "/etc/alpine-release", &alp, &alp_len)) < 0)
		return r;

	if (osr) {
		kv_get(osr, osr_len, "ID", id, sizeof(id));
		kv_get(osr, osr_len, "ID_LIKE", like, sizeof(like));
		kv_get(osr, osr_len, "VERSION_ID", ver, sizeof(ver));
		for (char *p = id; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	}
	if (!id[0] && lsb) {
		char d[64] = "";

		kv_get(lsb, lsb_len, "DISTRIB_ID", d, sizeof(d));
		if (!strcasecmp(d, "ubuntu")) {
			snprintf(id, sizeof(id), "ubuntu");
			kv_get(lsb, lsb_len, "DISTRIB_RELEASE", ver,
			       sizeof(ver));
		}
	}

	if (!strcmp(id, "ubuntu")) {
		f->family = FIX_FAMILY_UBUNTU;
		set_id(f, id);
		parse_version(ver, f);
	} else if (!strcmp(id, "debian") || (!id[0] && deb && !rh && !alp)) {
		f->family = FIX_FAMILY_DEBIAN;
		set_id(f, "debian");
		if (deb)
			debian_version(deb, f);
		if (!f->version_major && ver[0])
			parse_version(ver, f);
		if (!f->version_major && osr) {
			char code[32] = "";

			kv_get(osr, osr_len, "VERSION_CODENAME", code,
			       sizeof(code));
			debian_version(code, f);
		}
	} else if (!strcmp(id, "alpine") || (!id[0] && alp)) {
		f->family = FIX_FAMILY_ALPINE;
		set_id(f, "alpine");
		parse_version(alp ? alp : ver, f);
	} else if (!strcmp(id, "busybox")) {
		f->family = FIX_FAMILY_BUSYBOX;
		set_id(f, id);
		parse_version(ver, f);
	} else if (rh || !strcmp(id, "rhel") || !strcmp(id, "centos") ||
		   !strcmp(id, "fedora") || word_in(like, "rhel") ||
		   word_in(like, "fedora") || word_in(like, "centos")) {
		f->family = FIX_FAMILY_RHEL;
		if (id[0]) {
			set_id(f, id);
		} else if (rh && strstr(rh, "CentOS")) {
			set_id(f, "centos");
		} else if (rh && strstr(rh, "Fedora")) {
			set_id(f, "fedora");
		} else {
			set_id(f, "rhel");
		}
		/* "CentOS release 5.11 (Final)": the minor lives here */
		if (rh && strstr(rh, "release "))
			parse_version(strstr(rh, "release ") + 8, f);
		if (!f->version_major)
			parse_version(ver, f);
	} else if (word_in(like, "ubuntu")) {
		f->family = FIX_FAMILY_UBUNTU;
		set_id(f, id);
		parse_version(ver, f);
	} else if (word_in(like, "debian")) {
		f->family = FIX_FAMILY_DEBIAN;
		set_id(f, id);
		if (deb)
			debian_version(deb, f);
	} else if (word_in(like, "alpine")) {
		f->family = FIX_FAMILY_ALPINE;
		set_id(f, id);
		parse_version(alp ? alp : ver, f);
	} else if (id[0]) {
		set_id(f, id);
		parse_version(ver, f);
	}
	return 0;
}

enum fix_inittab fix_inittab_style(const char *data, size_t len)
{
	const char *pos = data, *line;
	size_t ll;
	bool sysv = false, busybox = false;

	while (fix_line_next(&pos, data + len, &line, &ll)) {
		struct fix_span t = fix_span_trim(line, ll);
		const char *c1, *c2;

		if (!t.n || t.p[0] == '#')
			continue;
		c1 = memchr(t.p, ':', t.n);
		if (!c1)
			continue;
		c2 = memchr(c1 + 1, ':', t.n - (size_t)(c1 + 1 - t.p));
		if (!c2)
			continue;
		if (c1 == t.p && c2 == c1 + 1)
			busybox = true; /* "::sysinit:" */
		else if (c2 == c1 + 1 && c1 - t.p > 0 &&
			 !strncmp(t.p, "tty", 3))
			busybox = true; /* "tty1::respawn:" */
		else if (c2 > c1 + 1 || memmem(t.p, t.n, ":initdefault:", 13))
			sysv = true;
	}
	if (busybox && !sysv)
		return FIX_INITTAB_BUSYBOX;
	if (sysv)
		return FIX_INITTAB_SYSV;
	return FIX_INITTAB_NONE;
}

/* Does the inittab start anything (not only set the runlevel)? Upstart
   systems keep one with just "id:3:initdefault:". */
static bool inittab_runs(const char *data, size_t len)
{
	const char *pos = data, *line;
	size_t ll;

	while (fix_line_next(&pos, data + len, &line, &ll))
		if (!fix_line_is_comment(line, ll) && memchr(line, ':', ll) &&
		    !memmem(line, ll, ":initdefault:", 13))
			return true;
	return false;
}

static bool any_of(const struct fix_reader *rd, const char *const *paths,
		   mode_t type)
{
	for (; *paths; paths++)
		if (fix_has(rd, *paths, type))
			return true;
	return false;
}

static int detect_init(const struct fix_reader *rd, struct fix_facts *f)
{
	static const char *const systemds[] = { "/lib/systemd/systemd",
						"/usr/lib/systemd/systemd",
						NULL };
	static const char *const openrcs[] = { "/sbin/openrc",
					       "/sbin/openrc-run",
					       "/usr/sbin/openrc", NULL };
	static const char *const udevs[] = { "/sbin/udevd",
					     "/lib/systemd/systemd-udevd",
					     "/usr/lib/systemd/systemd-udevd",
					     "/lib/udev/udevd",
					     "/usr/sbin/udevd",
					     "/sbin/udevadm",
					     "/bin/udevadm",
					     NULL };
	_cleanup_free_ char *inittab = NULL, *rcs = NULL, *init = NULL,
			    *rc = NULL;
	size_t inittab_len = 0, rcs_len = 0, rc_len = 0;
	mode_t mode = 0;
	int r;

	r = read_opt(rd, "/etc/inittab", &inittab, &inittab_len);
	if (r < 0)
		return r;
	r = read_opt(rd, "/etc/init.d/rcS", &rcs, &rcs_len);
	if (r < 0)
		return r;
	r = read_opt(rd, "/etc/init.d/rc", &rc, &rc_len);
	if (r < 0)
		return r;
	if (inittab)
		f->inittab = fix_inittab_style(inittab, inittab_len);

	r = fix_stat(rd, "/sbin/init", false, &mode);
	if (r < 0 && !fix_absent(r))
		return r;
	if (r == 0 && S_ISLNK(mode)) {
		const char *base;

		r = fix_resolve(rd, "/sbin/init", true, &init);
		if (r < 0 && !fix_absent(r))
			return r;
		if (r < 0)
			init = strdup("");
		if (!init)
			return -ENOMEM;
		base = strrchr(init, '/');
		base = base ? base + 1 : init;
		if (strstr(base, "systemd"))
			f->init = FIX_INIT_SYSTEMD;
		else if (!strcmp(base, "busybox"))
			f->init = FIX_INIT_BUSYBOX;
		else if (!strcmp(base, "upstart"))
			f->init = FIX_INIT_UPSTART;
		else if (!strcmp(base, "openrc-init"))
			f->init = FIX_INIT_OPENRC;
		else
			f->init = FIX_INIT_SYSVINIT;
	} else if (r == 0 && S_ISREG(mode)) {
		if (f->inittab == FIX_INITTAB_BUSYBOX &&
		    fix_has(rd, "/bin/busybox", S_IFREG))
			f->init = FIX_INIT_BUSYBOX;
		else if (fix_has(rd, "/sbin/initctl", 0) &&
			 fix_has(rd, "/etc/init", S_IFDIR) &&
			 !(inittab && inittab_runs(inittab, inittab_len)))
			f->init = FIX_INIT_UPSTART;
		else
			f->init = FIX_INIT_SYSVINIT;
	} else if (any_of(rd, systemds, S_IFREG)) {
		f->init = FIX_INIT_SYSTEMD;
	} else if (f->inittab == FIX_INITTAB_BUSYBOX) {
		f->init = FIX_INIT_BUSYBOX;
	}
	/*
	 * OpenRC runs under sysvinit (Debian, Gentoo) or busybox init
	 * (Alpine): the inittab says who starts it, or on Debian the
	 * /etc/init.d/rc it calls (openrc's own, "exec /sbin/openrc").
	 */
	if ((f->init == FIX_INIT_BUSYBOX || f->init == FIX_INIT_SYSVINIT) &&
	    any_of(rd, openrcs, 0) &&
	    (!inittab || memmem(inittab, inittab_len, "openrc", 6) ||
	     (rc && memmem(rc, rc_len, "openrc", 6))))
		f->init = FIX_INIT_OPENRC;

	f->has_udev = any_of(rd, udevs, 0);
	f->has_mdev = fix_stat(rd, "/etc/runlevels/sysinit/mdev", false,
			       &mode) == 0 ||
		      (inittab && memmem(inittab, inittab_len, "mdev", 4)) ||
		      (rcs && memmem(rcs, rcs_len, "mdev", 4));
	return 0;
}

static bool has_files(const struct fix_reader *rd, const char *dir,
		      const char *suffix)
{
	char **names = NULL;
	bool found = false;
	size_t sl = strlen(suffix);

	if (fix_list(rd, dir, &names) < 0)
		return false;
	for (char **n = names; *n && !found; n++) {
		size_t l = strlen(*n);

		found = l > sl && !strcmp(*n + l - sl, suffix);
	}
	fix_strv_free(names);
	return found;
}

static void detect_net(const struct fix_reader *rd, struct fix_facts *f)
{
	static const char *const ifups[] = { "/sbin/ifup", "/bin/ifup",
					     "/usr/sbin/ifup", NULL };
	static const char *const ngs[] = { "/sbin/ifupdown",
					   "/usr/libexec/ifupdown-ng", NULL };
	static const char *const networkds[] = {
		"/lib/systemd/systemd-networkd",
		"/usr/lib/systemd/systemd-networkd", NULL
	};

	if (fix_has(rd, "/usr/sbin/netplan", 0) ||
	    has_files(rd, "/etc/netplan", ".yaml"))
		f->net = FIX_NET_NETPLAN;
	else if (f->family == FIX_FAMILY_RHEL &&
		 fix_has(rd, "/etc/sysconfig/network-scripts", S_IFDIR))
		f->net = FIX_NET_IFCFG;
	else if (any_of(rd, ngs, 0))
		f->net = FIX_NET_IFUPDOWN_NG;
	else if (any_of(rd, ifups, 0) ||
		 fix_has(rd, "/etc/network/interfaces", S_IFREG))
		f->net = FIX_NET_IFUPDOWN;
	else if (fix_has(rd, "/etc/sysconfig/network-scripts", S_IFDIR))
		f->net = FIX_NET_IFCFG;
	else if (f->init == FIX_INIT_SYSTEMD && any_of(rd, networkds, 0))
		f->net = FIX_NET_NETWORKD;
}

static void detect_naming(struct fix_facts *f)
{
	unsigned M = f->version_major, m = f->version_minor;

	/*
	 * systemd-udevd >= 250 names Xen netfront devices enX<vif number>,
	 * whatever the init system (Debian 12 with sysvinit or OpenRC too).
	 */
	if (f->has_udev) {
		if (f->family == FIX_FAMILY_DEBIAN && !strcmp(f->id, "debian"))
			f->ifnames_xen = M >= 12;
		else if (f->family == FIX_FAMILY_UBUNTU)
			f->ifnames_xen = M > 22 || (M == 22 && m >= 10);
		else if (f->family == FIX_FAMILY_RHEL &&
			 !strcmp(f->id, "fedora"))
			f->ifnames_xen = M >= 36;
		else if (f->family == FIX_FAMILY_RHEL)
			f->ifnames_xen = M >= 9;
	}
	/* Kernels of the xm era: 2.6.18-xen and friends. */
	f->classic_xen_kernel = M &&
				((f->family == FIX_FAMILY_RHEL && M <= 5 &&
				  strcmp(f->id, "fedora")) ||
				 (f->family == FIX_FAMILY_DEBIAN &&
				  !strcmp(f->id, "debian") && M <= 5) ||
				 (f->family == FIX_FAMILY_UBUNTU && M <= 8));
}

static int detect_boot(const struct fix_reader *rd, struct fix_facts *f)
{
	static const char *const grub2s[] = {
		"/usr/lib/grub/i386-pc",   "/usr/lib/grub/x86_64-efi",
		"/usr/sbin/grub-mkconfig", "/usr/sbin/grub2-mkconfig",
		"/etc/default/grub",	   NULL
	};
	static const char *const extlinux[] = { "/boot/extlinux/extlinux.conf",
						"/boot/extlinux.conf",
						"/extlinux/extlinux.conf",
						"/extlinux.conf", NULL };
	static const char *const initrds[] = {
		"/boot/initrd.img-%s", "/boot/initramfs-%s.img",
		"/boot/initrd-%s.img", "/boot/initramfs-%s",
		"/boot/initrd-%s",     NULL
	};
	_cleanup_free_ char *legacy = NULL;
	const char *best = NULL;
	char **names = NULL;
	int r;

	/* PyGRUB reads grub.cfg before extlinux before menu.lst. */
	if (fix_has(rd, "/boot/grub/grub.cfg", S_IFREG)) {
		f->grub = FIX_GRUB2;
		snprintf(f->grub_cfg, sizeof(f->grub_cfg),
			 "/boot/grub/grub.cfg");
	} else if (fix_has(rd, "/boot/grub2/grub.cfg", S_IFREG) ||
		   fix_has(rd, "/boot/grub2", S_IFDIR) ||
		   fix_has(rd, "/usr/sbin/grub2-mkconfig", 0)) {
		f->grub = FIX_GRUB2;
		snprintf(f->grub_cfg, sizeof(f->grub_cfg),
			 "/boot/grub2/grub.cfg");
	} else if (any_of(rd, grub2s, 0) || any_of(rd, extlinux, S_IFREG)) {
		f->grub = FIX_GRUB2;
		snprintf(f->grub_cfg, sizeof(f->grub_cfg),
			 "/boot/grub/grub.cfg");
	} else if (fix_has(rd, "/boot/grub/menu.lst", S_IFREG) ||
		   fix_has(rd, "/boot/grub/grub.conf", S_IFREG)) {
		const char *p = fix_has(rd, "/boot/grub/menu.lst", S_IFREG) ?
					"/boot/grub/menu.lst" :
					"/boot/grub/grub.conf";

		/* RHEL: menu.lst -> ./grub.conf; edit the file itself */
		r = fix_resolve(rd, p, true, &legacy);
		if (r < 0 && !fix_absent(r))
			return r;
		if (r < 0)
			legacy = strdup(p);
		if (!legacy)
			return -ENOMEM;
		f->grub = FIX_GRUB_LEGACY;
		if (strlen(legacy) < sizeof(f->grub_cfg))
			snprintf(f->grub_cfg, sizeof(f->grub_cfg), "%s",
				 legacy);
		else
			snprintf(f->grub_cfg, sizeof(f->grub_cfg), "%s", p);
	} else {
		f->grub = FIX_GRUB_NONE;
		snprintf(f->grub_cfg, sizeof(f->grub_cfg),
			 "/boot/grub/menu.lst");
	}

	r = fix_list(rd, "/boot", &names);
	if (fix_absent(r))
		return 0;
	if (r < 0)
		return r;
	for (char **n = names; *n; n++) {
		if (strncmp(*n, "vmlinuz-", 8) || strstr(*n, "rescue") ||
		    !plain_name(*n) || strlen(*n) + 6 >= sizeof(f->kernel))
			continue;
		{
			char path[300];

			snprintf(path, sizeof(path), "/boot/%s", *n);
			if (!fix_has(rd, path, S_IFREG))
				continue;
		}
		f->n_kernels++;
		if (!best || fix_vercmp(*n + 8, best + 8) > 0)
			best = *n;
	}
	if (best) {
		const char *ver = best + 8;

		snprintf(f->kernel, sizeof(f->kernel), "/boot/%s", best);
		for (size_t i = 0; initrds[i]; i++) {
			char path[300];

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
			snprintf(path, sizeof(path), initrds[i], ver);
#pragma GCC diagnostic pop
			size_t pl = strlen(path);

			if (pl < sizeof(f->initrd) &&
			    fix_has(rd, path, S_IFREG)) {
				memcpy(f->initrd, path, pl + 1);
				break;
			}
		}
	}
	fix_strv_free(names);
	return 0;
}

int fix_detect(const struct fix_reader *rd, struct fix_facts *ret)
{
	struct fix_facts f;
	int r;

	memset(&f, 0, sizeof(f));
	r = detect_release(rd, &f);
	if (r < 0)
		return r;
	r = detect_init(rd, &f);
	if (r < 0)
		return r;
	if (f.family == FIX_FAMILY_UNKNOWN && f.init == FIX_INIT_BUSYBOX) {
		f.family = FIX_FAMILY_BUSYBOX;
		if (!f.id[0])
			set_id(&f, "busybox");
	}
	detect_net(rd, &f);
	detect_naming(&f);
	r = detect_boot(rd, &f);
	if (r < 0)
		return r;
	*ret = f;
	return 0;
}
