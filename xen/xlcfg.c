// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * xen_xlcfg_render(): a domain's xl.cfg from its profile. Text is built on
 * an open_memstream; every value goes through put_str(), which quotes for
 * xl's lexer (double quotes, backslash before '"' and '\'; control
 * characters are refused upstream: libxlutil cannot read them back). The
 * profile file is read once more, with libxlutil, only for the xl keys
 * passed through unchanged. Never prints.
 */
#include <errno.h>
#include <fcntl.h>
#include <libxlutil.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/hash.h"
#include "xen/profile-internal.h"
#include "xen/profile.h"
#include "xen/xlcfg.h"

#define DEFAULT_MEMORY_MIB 512
#define DEFAULT_VCPUS 1
#define PROFILE_MAX_SIZE (1024 * 1024)

/* ---- MACs ------------------------------------------------------------------ */

void xen_mac_derive(const char *name, size_t index, char out[18])
{
	uint64_t h = dm_fnv1a64(DM_FNV1A64_INIT, name, strlen(name));
	char suffix[32];

	if (index) {
		snprintf(suffix, sizeof(suffix), "/%zu", index);
		h = dm_fnv1a64(h, suffix, strlen(suffix));
	}
	/* fold the high half in: FNV's low bytes alone mix less well */
	h ^= h >> 32;
	snprintf(out, 18, "00:16:3e:%02x:%02x:%02x",
		 (unsigned)((h >> 16) & 0x7f), (unsigned)((h >> 8) & 0xff),
		 (unsigned)(h & 0xff));
}

void xen_vif_mac(const struct xen_profile *p, size_t i, char out[18])
{
	if (i < p->n_vifs && p->vifs[i].mac) {
		snprintf(out, 18, "%s", p->vifs[i].mac);
		return;
	}
	xen_mac_derive(p->name, i, out);
}

enum xen_target_kind xen_target_kind_of(const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0)
		return S_ISBLK(st.st_mode) ? XEN_TARGET_BLOCK : XEN_TARGET_FILE;
	return !strncmp(path, "/dev/", 5) ? XEN_TARGET_BLOCK : XEN_TARGET_FILE;
}

/* ---- Quoting --------------------------------------------------------------- */

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* @n bytes of @s inside an xl.cfg string: '"' and '\\' escaped. */
static void put_escaped(FILE *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			fputc('\\', f);
		fputc(s[i], f);
	}
}

/* @s as an xl.cfg string: "...", with '"' and '\\' escaped. */
static void put_str(FILE *f, const char *s)
{
	fputc('"', f);
	put_escaped(f, s, strlen(s));
	fputc('"', f);
}

/* For comments: control characters (a path may carry any) as '?'. */
static void put_comment_text(FILE *f, const char *s)
{
	for (; *s; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, f);
}

/* ---- The xl keys passed through -------------------------------------------- */

/*
 * The xl keys xl-config writes itself, from what the profile says (the
 * profile's own values of these are read through the profile): every other
 * xl key of the profile is copied as it is.
 */
static const char *const own_keys[] = {
	"name",	  "memory",  "vcpus", "disk", "vif",	 "bootloader",
	"kernel", "ramdisk", "extra", "root", "cmdline",
};

static bool is_own_key(const char *key)
{
	for (size_t i = 0; i < DM_ARRAY_SIZE(own_keys); i++)
		if (!strcmp(own_keys[i], key))
			return true;
	return false;
}

static bool all_digits(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 18)
		return false;
	return strspn(s, "0123456789") == n;
}

static char *read_text(const char *path, size_t *ret_len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	_cleanup_free_ char *data = NULL;
	struct stat st;
	ssize_t n;
	size_t len = 0;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > PROFILE_MAX_SIZE)
		return NULL;
	data = malloc((size_t)st.st_size + 2);
	if (!data)
		return NULL;
	while (len < (size_t)st.st_size) {
		n = read(fd, data + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (memchr(data, '\0', len))
		return NULL;
	/* xl's lexer wants a comment to end with a newline */
	data[len++] = '\n';
	data[len] = '\0';
	*ret_len = len;
	return TAKE_PTR(data);
}

static void put_value(FILE *f, const char *v)
{
	if (all_digits(v))
		fputs(v, f);
	else
		put_str(f, v);
}

/*
 * Copies the xl keys of the profile at @path that xl-config does not write
 * itself (type, uuid, on_crash, pci, vnc, serial, boot, ...: the profile
 * may be the domain's own xl config), in the profile's order, scalars and
 * lists alike. A value xl could not read back (a control character) is
 * left out with a comment saying so. Whether the profile sets `boot`.
 */
static bool put_passthrough(FILE *f, const char *path)
{
	_cleanup_free_ char *data = NULL, *report_buf = NULL;
	size_t len = 0, report_len = 0;
	struct xen_scan scan = { 0 };
	bool boot = false;
	XLU_Config *cfg;
	FILE *report;

	if (!path || !(data = read_text(path, &len)))
		return false;
	report = open_memstream(&report_buf, &report_len);
	if (!report)
		return false;
	cfg = xlu_cfg_init(report, path);
	if (!cfg || xlu_cfg_readdata(cfg, data, (int)len) ||
	    xen_scan(data, len, &scan) < 0)
		goto out;
	for (size_t i = 0; i < scan.n; i++) {
		const char *key = scan.a[i].key, *v = NULL;
		XLU_ConfigList *list = NULL;
		bool seen = false, bad = false;
		int n = 0;

		for (size_t k = 0; k < i && !seen; k++)
			seen = !strcmp(scan.a[k].key, key);
		if (seen || is_own_key(key) || !xen_key_is_xl(key))
			continue;
		if (!xlu_cfg_get_string(cfg, key, &v, 1) && v) {
			if (has_control(v)) {
				fprintf(f,
					"# %s: left out (its value has a control character)\n",
					key);
				continue;
			}
			fprintf(f, "%s = ", key);
			put_value(f, v);
			fputc('\n', f);
		} else if (!xlu_cfg_get_list(cfg, key, &list, &n, 1)) {
			for (int k = 0; k < n && !bad; k++) {
				v = xlu_cfg_get_listitem(list, k);
				bad = !v || has_control(v);
			}
			if (bad) {
				fprintf(f,
					"# %s: left out (an item has a control character)\n",
					key);
				continue;
			}
			fprintf(f, "%s = [", key);
			for (int k = 0; k < n; k++) {
				fputs(k ? ", " : " ", f);
				put_str(f, xlu_cfg_get_listitem(list, k));
			}
			fputs(n ? " ]\n" : "]\n", f);
		} else {
			continue;
		}
		boot |= !strcmp(key, "boot");
	}
out:
	xen_scan_free(&scan);
	xlu_cfg_destroy(cfg);
	fclose(report);
	return boot;
}

/* ---- Boot ------------------------------------------------------------------ */

/* True when the blank-separated @cmdline has a token @word or "@word,..."
   ("console=hvc0,115200"). */
static bool has_token(const char *cmdline, const char *word)
{
	size_t n = strlen(word);

	for (const char *s = cmdline; *s;) {
		size_t len;

		s += strspn(s, " \t");
		len = strcspn(s, " \t");
		if (len >= n && !strncmp(s, word, n) &&
		    (len == n || s[n] == ','))
			return true;
		s += len;
	}
	return false;
}

/*
 * The kernel command line: root= for the root disk first (replacing the
 * profile's own, which cannot know the partitioning), then the profile's
 * `cmdline' or `extra', then console=hvc0 (the profile's console) unless
 * the line has it (or, without a `console' key, has console=xvc0).
 */
static void put_extra(FILE *f, const struct xen_profile *p, const char *vdev,
		      bool partitioned)
{
	const char *base = p->cmdline ? p->cmdline : p->extra ? p->extra : "";
	const char *console = p->console ? p->console :
			      p->hvm	 ? "ttyS0" :
					   "hvc0";
	char want[32];

	fputs("extra = \"root=/dev/", f);
	fputs(vdev, f); /* a checked vdev: [a-z0-9] */
	if (partitioned)
		fputc('1', f);
	for (const char *s = base; *s;) {
		size_t len;

		s += strspn(s, " \t");
		len = strcspn(s, " \t");
		if (len && !(len >= 5 && !strncmp(s, "root=", 5))) {
			fputc(' ', f);
			put_escaped(f, s, len);
		}
		s += len;
	}
	/* without a `console' key, a Xen console already named will do */
	snprintf(want, sizeof(want), "console=%s", console);
	if (!has_token(base, want) &&
	    (p->console || !has_token(base, "console=xvc0")))
		fprintf(f, " %s", want);
	fputs("\"\n", f);
}

static void put_boot(FILE *f, const struct xen_profile *p, const char *vdev,
		     bool partitioned, bool profile_boot)
{
	if (p->hvm && !p->kernel) {
		/* xl runs no bootloader for HVM: the firmware boots the disk */
		fputs("# HVM: the firmware boots the disk, which needs a boot "
		      "loader of its own\n"
		      "# (domufs commit installs none; use kernel= for a "
		      "direct kernel boot)\n",
		      f);
		if (!profile_boot) /* the profile's order stays */
			fputs("boot = \"c\"\n", f);
		return;
	}
	if (p->bootloader || !p->kernel) {
		/*
		 * PyGRUB reads root= and console= from the domU's own
		 * grub.cfg or menu.lst (the bootloader fixup writes them).
		 * xl finds a bare "pygrub" in its own libexec directory;
		 * dom0's path to it (/usr/bin/pygrub, /usr/lib/xen-4.17/bin)
		 * varies.
		 */
		fputs("bootloader = ", f);
		put_str(f,
			p->bootloader && !p->pygrub ? p->bootloader : "pygrub");
		fputc('\n', f);
		if (p->extra) {
			fputs("extra = ", f);
			put_str(f, p->extra);
			fputc('\n', f);
		}
		return;
	}
	fputs("kernel = ", f);
	put_str(f, p->kernel);
	fputc('\n', f);
	if (p->ramdisk) {
		fputs("ramdisk = ", f);
		put_str(f, p->ramdisk);
		fputc('\n', f);
	}
	put_extra(f, p, vdev, partitioned);
}

/* ---- Devices --------------------------------------------------------------- */

/* The root disk: the first that is not a CD-ROM, or -1. */
static long root_disk(const struct xen_profile *p)
{
	for (size_t i = 0; i < p->n_disks; i++)
		if (!p->disks[i].cdrom)
			return (long)i;
	return -1;
}

static bool vdev_used(const struct xen_profile *p, const char *root_vdev,
		      const char *vdev)
{
	if (!strcmp(root_vdev, vdev))
		return true;
	for (size_t i = 0; i < p->n_disks; i++)
		if (p->disks[i].vdev && !strcmp(p->disks[i].vdev, vdev))
			return true;
	return false;
}

static void put_disk_spec(FILE *f, const char *vdev, const char *access,
			  enum xen_target_kind kind, const char *target)
{
	char spec[4200];

	/* target= takes the rest of the spec, commas and all: keep it last */
	snprintf(spec, sizeof(spec),
		 "format=raw, vdev=%s, access=%s%s, target=%s", vdev, access,
		 kind == XEN_TARGET_BLOCK ? ", backendtype=phy" : "", target);
	fputs("\t", f);
	put_str(f, spec);
	fputs(",\n", f);
}

static int put_disks(FILE *f, const struct xen_profile *p,
		     const struct xen_xlcfg_opts *o, struct dm_err *err)
{
	long r = root_disk(p);
	const char *target = o->target;
	const char *vdev = r >= 0 ? p->disks[r].vdev : "xvda";
	enum xen_target_kind kind = o->target_kind;
	char seed_vdev[8] = "";

	if (!target && r >= 0)
		target = p->disks[r].target;
	if (!target || !*target)
		return dm_err_set(err, ENOENT,
				  "%s: no root disk to write: the profile has "
				  "no `disk' with a target; give --target",
				  p->path);
	if (strlen(target) > 4000 || has_control(target))
		return dm_err_set(err, EINVAL,
				  "%s: target `%s': a control character or "
				  "too long for xl.cfg",
				  p->path, target);
	if (o->seed_iso) {
		if (strlen(o->seed_iso) > 4000 || has_control(o->seed_iso))
			return dm_err_set(err, EINVAL,
					  "%s: seed image `%s': a control "
					  "character or too long for xl.cfg",
					  p->path, o->seed_iso);
		for (char c = 'b'; c <= 'z' && !seed_vdev[0]; c++) {
			char v[8];

			snprintf(v, sizeof(v), "xvd%c", c);
			if (!vdev_used(p, vdev, v))
				snprintf(seed_vdev, sizeof(seed_vdev), "%s", v);
		}
		if (!seed_vdev[0])
			return dm_err_set(err, ENOSPC,
					  "%s: no free xvdX for the seed image",
					  p->path);
	}
	if (kind == XEN_TARGET_AUTO)
		kind = xen_target_kind_of(target);

	fputs("disk = [\n", f);
	if (r < 0)
		put_disk_spec(f, vdev, "rw", kind, target);
	for (size_t i = 0; i < p->n_disks; i++) {
		if ((long)i == r) {
			put_disk_spec(f, vdev, "rw", kind, target);
			continue;
		}
		fputs("\t", f);
		put_str(f, p->disks[i].spec);
		fputs(",\n", f);
	}
	if (seed_vdev[0])
		put_disk_spec(f, seed_vdev, "ro",
			      xen_target_kind_of(o->seed_iso), o->seed_iso);
	fputs("]\n", f);
	return 0;
}

/* vif i: mac= first (the profile's or a derived one), then its other items. */
static void put_vif(FILE *f, const struct xen_profile *p, size_t i)
{
	const char *spec = p->vifs[i].spec;
	char mac[18];

	xen_vif_mac(p, i, mac);
	fprintf(f, "\t\"mac=%s", mac);
	while (*spec) {
		size_t n = strcspn(spec, ","), lead, len = n;

		lead = strspn(spec, " \t");
		lead = lead < n ? lead : n;
		while (len > lead &&
		       (spec[len - 1] == ' ' || spec[len - 1] == '\t'))
			len--;
		if (len > lead && strncmp(spec + lead, "mac=", 4)) {
			fputc(',', f);
			put_escaped(f, spec + lead, len - lead);
		}
		spec += n + (spec[n] == ',');
	}
	fputs("\",\n", f);
}

/* ---- The whole file -------------------------------------------------------- */

static void put_comments(FILE *f, const struct xen_profile *p)
{
	fputs("# xl.cfg(5) of domain ", f);
	put_comment_text(f, p->name);
	fputs(", written by `domufs xl-config' from ", f);
	put_comment_text(f, p->path ? p->path : "(no file)");
	fputs(".\n", f);
	if (!p->hostname && !p->gateway && !p->template_path && !p->overlay_dir)
		return;
	fputs("# The profile's provisioning keys (domufs's own; the fixups or "
	      "`domufs\n# seed-iso' apply them):\n",
	      f);
	if (p->hostname)
		fprintf(f, "#   hostname = \"%s\"\n", p->hostname);
	for (size_t i = 0; i < p->n_vifs; i++)
		if (p->vifs[i].ip)
			fprintf(f, "#   vif %zu: %s/%u\n", i, p->vifs[i].ip,
				p->vifs[i].prefix);
	if (p->gateway)
		fprintf(f, "#   gateway = \"%s\"\n", p->gateway);
	for (size_t i = 0; i < p->n_nameservers; i++)
		fprintf(f, "#   nameserver %s\n", p->nameservers[i]);
	if (p->template_path) {
		fputs("#   template = ", f);
		put_comment_text(f, p->template_path);
		fputc('\n', f);
	}
	if (p->overlay_dir) {
		fputs("#   overlay = ", f);
		put_comment_text(f, p->overlay_dir);
		fputc('\n', f);
	}
}

int xen_xlcfg_render(const struct xen_profile *p,
		     const struct xen_xlcfg_opts *opts, char **ret,
		     struct dm_err *err)
{
	static const struct xen_xlcfg_opts no_opts = { 0 };
	const struct xen_xlcfg_opts *o = opts ? opts : &no_opts;
	char *buf = NULL;
	size_t len = 0;
	long r = root_disk(p);
	bool profile_boot;
	FILE *f;
	int rc;

	f = open_memstream(&buf, &len);
	if (!f)
		return dm_err_set(err, ENOMEM, "%s: out of memory", p->path);
	put_comments(f, p);
	fputs("name = ", f);
	put_str(f, p->name);
	fputc('\n', f);
	fprintf(f, "memory = %ld\n",
		p->memory > 0 ? p->memory : (long)DEFAULT_MEMORY_MIB);
	fprintf(f, "vcpus = %ld\n",
		p->vcpus > 0 ? p->vcpus : (long)DEFAULT_VCPUS);
	profile_boot = put_passthrough(f, p->path);
	put_boot(f, p, r >= 0 ? p->disks[r].vdev : "xvda", o->partitioned,
		 profile_boot);
	rc = put_disks(f, p, o, err);
	if (rc < 0) {
		fclose(f);
		free(buf);
		return rc;
	}
	if (p->n_vifs) {
		fputs("vif = [\n", f);
		for (size_t i = 0; i < p->n_vifs; i++)
			put_vif(f, p, i);
		fputs("]\n", f);
	}
	if (ferror(f) | fclose(f)) {
		free(buf);
		return dm_err_set(err, ENOMEM, "%s: out of memory", p->path);
	}
	*ret = buf;
	return 0;
}
