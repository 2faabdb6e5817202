// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The profile's value checks and the key scanner. Pure string functions:
 * every value that reaches a guest file passes one of these first, so the
 * fixups may write it unquoted. Nothing here allocates except the scanner.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "xen/profile-internal.h"

/* ---- Checks --------------------------------------------------------------- */

bool xen_check_text(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

bool xen_check_plain(const char *s)
{
	return xen_check_text(s) && !strpbrk(s, "\"'`\\");
}

bool xen_check_hostname(const char *s)
{
	size_t total = strlen(s), label = 0;

	if (!total || total > 253)
		return false;
	for (size_t i = 0; i <= total; i++) {
		char c = s[i];

		if (c == '.' || c == '\0') {
			if (!label || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)c) && c != '-')
			return false;
		if (c == '-' && !label)
			return false;
		label++;
	}
	return true;
}

bool xen_check_ipv4(const char *s)
{
	struct in_addr a;

	return strlen(s) <= 15 && inet_pton(AF_INET, s, &a) == 1;
}

bool xen_check_netmask(const char *s, unsigned *ret_prefix)
{
	struct in_addr a;
	uint32_t m;
	unsigned n = 0;

	if (strlen(s) > 15 || inet_pton(AF_INET, s, &a) != 1)
		return false;
	m = ntohl(a.s_addr);
	while (n < 32 && (m & (UINT32_C(0x80000000) >> n)))
		n++;
	if (n < 32 && (m << n))
		return false; /* not contiguous */
	if (!n)
		return false;
	if (ret_prefix)
		*ret_prefix = n;
	return true;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

bool xen_check_mac(const char *s, char out[18])
{
	unsigned char b[6];
	bool zero = true;

	if (strlen(s) != 17)
		return false;
	for (int i = 0; i < 6; i++) {
		int hi = hexval(s[3 * i]), lo = hexval(s[3 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		if (i < 5 && s[3 * i + 2] != ':' && s[3 * i + 2] != '-')
			return false;
		if (i < 5 && s[3 * i + 2] != s[2])
			return false; /* one separator throughout */
		b[i] = (unsigned char)(hi << 4 | lo);
		zero &= b[i] == 0;
	}
	if (zero || (b[0] & 1))
		return false; /* all-zero or multicast */
	for (int i = 0; i < 6; i++) {
		static const char hex[] = "0123456789abcdef";

		out[3 * i] = hex[b[i] >> 4];
		out[3 * i + 1] = hex[b[i] & 15];
		out[3 * i + 2] = i < 5 ? ':' : '\0';
	}
	return true;
}

static bool b64(char c)
{
	return isalnum((unsigned char)c) || c == '.' || c == '/';
}

/* n characters of crypt's base64 alphabet at s, followed by @end. */
static bool b64_run(const char *s, size_t min, size_t max, char end,
		    const char **ret_next)
{
	size_t n = 0;

	while (s[n] && b64(s[n]))
		n++;
	if (n < min || n > max || s[n] != end)
		return false;
	*ret_next = s + n + (end ? 1 : 0);
	return true;
}

static bool sha_crypt(const char *s, size_t hash_len)
{
	const char *p = s;

	if (!strncmp(p, "rounds=", 7)) {
		p += 7;
		if (!isdigit((unsigned char)*p))
			return false;
		while (isdigit((unsigned char)*p))
			p++;
		if (*p++ != '$')
			return false;
	}
	return b64_run(p, 0, 16, '$', &p) &&
	       b64_run(p, hash_len, hash_len, '\0', &p);
}

bool xen_check_hash(const char *s)
{
	const char *p;

	if (!strcmp(s, "*") || !strcmp(s, "!") || !strcmp(s, "!!") ||
	    !strcmp(s, "!*"))
		return true;
	if (s[0] == '!')
		s++; /* a locked account keeping its hash */
	if (!strncmp(s, "$1$", 3))
		return b64_run(s + 3, 1, 8, '$', &p) &&
		       b64_run(p, 22, 22, '\0', &p);
	if (!strncmp(s, "$5$", 3))
		return sha_crypt(s + 3, 43);
	if (!strncmp(s, "$6$", 3))
		return sha_crypt(s + 3, 86);
	if (s[0] == '$' && s[1] == '2' && s[2] && strchr("abxy", s[2]) &&
	    s[3] == '$')
		return isdigit((unsigned char)s[4]) &&
		       isdigit((unsigned char)s[5]) && s[6] == '$' &&
		       b64_run(s + 7, 53, 53, '\0', &p);
	if (!strncmp(s, "$y$", 3) || !strncmp(s, "$gy$", 4) ||
	    !strncmp(s, "$7$", 3)) {
		/* $y$PARAMS$SALT$HASH: base64 fields, a 43-character hash */
		const char *last;
		size_t fields = 0;

		p = strchr(s + 1, '$') + 1;
		for (const char *q = p; *q; q++) {
			if (*q == '$') {
				fields++;
				continue;
			}
			if (!b64(*q))
				return false;
		}
		last = strrchr(p, '$');
		return fields >= 2 && last && strlen(last + 1) == 43;
	}
	return false;
}

static bool ssh_key_type(const char *s, size_t n)
{
	static const char *const types[] = {
		"ssh-rsa",
		"ssh-dss",
		"ssh-ed25519",
		"ssh-ed448",
		"ecdsa-sha2-nistp256",
		"ecdsa-sha2-nistp384",
		"ecdsa-sha2-nistp521",
		"sk-ssh-ed25519@openssh.com",
		"sk-ecdsa-sha2-nistp256@openssh.com",
		"ssh-rsa-cert-v01@openssh.com",
		"ssh-ed25519-cert-v01@openssh.com",
		"ecdsa-sha2-nistp256-cert-v01@openssh.com",
		"ecdsa-sha2-nistp384-cert-v01@openssh.com",
		"ecdsa-sha2-nistp521-cert-v01@openssh.com",
		NULL,
	};

	for (size_t i = 0; types[i]; i++)
		if (strlen(types[i]) == n && !memcmp(types[i], s, n))
			return true;
	return false;
}

/*
 * authorized_keys is not a script: quotes belong to its options
 * (from="...", command="..."), so they are allowed there, balanced.
 */
bool xen_check_ssh_key(const char *s)
{
	const char *p = s, *tok;
	size_t n;

	if (!xen_check_text(s) || !*s || isspace((unsigned char)*s))
		return false;
	/* the first token: options (quoted blanks allowed) or the type */
	tok = p;
	for (bool q = false;; p++) {
		if (!*p || (!q && *p == ' ')) {
			if (q)
				return false; /* unbalanced quote */
			break;
		}
		if (q && *p == '\\' && p[1])
			p++;
		else if (*p == '"')
			q = !q;
	}
	if (!ssh_key_type(tok, (size_t)(p - tok))) {
		/* options, then the type */
		while (*p == ' ')
			p++;
		tok = p;
		while (*p && *p != ' ')
			p++;
		if (!ssh_key_type(tok, (size_t)(p - tok)))
			return false;
	}
	while (*p == ' ')
		p++;
	/* the key: base64 */
	n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		      "0123456789+/=");
	if (n < 16 || (p[n] && p[n] != ' '))
		return false;
	return true;
}

bool xen_check_vdev(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 15 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789") == n;
}

bool xen_check_root_vdev(const char *s)
{
	const char *p;
	size_t letters;

	if (!strncmp(s, "xvd", 3))
		p = s + 3;
	else if (!strncmp(s, "sd", 2) || !strncmp(s, "hd", 2))
		p = s + 2;
	else
		return false;
	letters = strspn(p, "abcdefghijklmnopqrstuvwxyz");
	if (letters < 1 || letters > 2)
		return false;
	p += letters;
	return strlen(p) <= 2 && strspn(p, "0123456789") == strlen(p);
}

/* ---- Where keys are ------------------------------------------------------- */

static int add_item(struct xen_scan_assign *a, int line)
{
	int *n = realloc(a->items, (a->n_items + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	a->items = n;
	a->items[a->n_items++] = line;
	return 0;
}

int xen_scan(const char *t, size_t len, struct xen_scan *ret)
{
	struct xen_scan s = { 0 };
	struct xen_scan_assign *cur = NULL;
	bool at_stmt = true;
	size_t i = 0, cur_idx = 0;
	int line = 1, depth = 0, r;

	while (i < len) {
		char c = t[i];

		if (c == '\n') {
			line++;
			i++;
			if (depth == 0) {
				at_stmt = true;
				cur = NULL;
			}
			continue;
		}
		if (c == '#') {
			while (i < len && t[i] != '\n')
				i++;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\r' || c == ',') {
			i++;
			continue;
		}
		if (c == ';' && depth == 0) {
			at_stmt = true;
			cur = NULL;
			i++;
			continue;
		}
		if (c == '[' || c == ']') {
			depth += c == '[' ? 1 : (depth > 0 ? -1 : 0);
			at_stmt = false;
			i++;
			continue;
		}
		if (c == '\'' || c == '"') {
			int at = line;

			for (i++; i < len && t[i] != c && t[i] != '\n'; i++)
				if (t[i] == '\\' && i + 1 < len &&
				    t[i + 1] != '\n')
					i++;
			if (i < len && t[i] == c)
				i++;
			if (cur && depth <= 1 && (r = add_item(cur, at)) < 0)
				goto out_free;
			at_stmt = false;
			continue;
		}
		if (isalnum((unsigned char)c) || c == '_') {
			size_t start = i, j;

			while (i < len && (isalnum((unsigned char)t[i]) ||
					   t[i] == '_' || t[i] == '.'))
				i++;
			j = i;
			while (j < len && (t[j] == ' ' || t[j] == '\t'))
				j++;
			if (at_stmt && depth == 0 &&
			    islower((unsigned char)c) &&
			    i - start < sizeof(s.a->key) &&
			    (j < len &&
			     (t[j] == '=' || (t[j] == '+' && j + 1 < len &&
					      t[j + 1] == '=')))) {
				struct xen_scan_assign *na =
					realloc(s.a, (s.n + 1) * sizeof(*na));

				if (!na) {
					r = -ENOMEM;
					goto out_free;
				}
				s.a = na;
				cur_idx = s.n++;
				cur = &s.a[cur_idx];
				memset(cur, 0, sizeof(*cur));
				memcpy(cur->key, t + start, i - start);
				cur->line = line;
				cur->add = t[j] == '+';
				i = j + (cur->add ? 2 : 1);
				at_stmt = false;
				continue;
			}
			if (cur && depth <= 1 && (r = add_item(cur, line)) < 0)
				goto out_free;
			at_stmt = false;
			continue;
		}
		at_stmt = false;
		i++;
	}
	(void)cur_idx;
	*ret = s;
	return 0;

out_free:
	xen_scan_free(&s);
	return r;
}

void xen_scan_free(struct xen_scan *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->a[i].items);
	free(s->a);
	s->a = NULL;
	s->n = 0;
}

/* Index of the last plain assignment of @key (or its first +=), or -1. */
static long scan_base(const struct xen_scan *s, const char *key)
{
	long base = -1;

	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->a[i].key, key))
			continue;
		if (!s->a[i].add || base < 0)
			base = (long)i;
	}
	return base;
}

int xen_scan_line(const struct xen_scan *s, const char *key)
{
	long b = scan_base(s, key);

	return b < 0 ? 0 : s->a[b].line;
}

int xen_scan_item_line(const struct xen_scan *s, const char *key, size_t i)
{
	long b = scan_base(s, key);

	if (b < 0)
		return 0;
	for (size_t k = (size_t)b; k < s->n; k++) {
		if (strcmp(s->a[k].key, key))
			continue;
		if (k != (size_t)b && !s->a[k].add)
			break;
		if (i < s->a[k].n_items)
			return s->a[k].items[i];
		i -= s->a[k].n_items;
	}
	return s->a[b].line;
}

/* xl.cfg(5) of Xen 4.17, plus keys of xm and older xl. */
static const char *const xl_keys[] = {
	"acpi",
	"acpi_firmware",
	"acpi_s3",
	"acpi_s4",
	"acpi_laptop_slate",
	"altp2m",
	"altp2mhvm",
	"apic",
	"arch_arm_sve_vl",
	"arm_sve",
	"assign_hardware",
	"autoballoon",
	"bios",
	"bios_path_override",
	"blkif",
	"boot",
	"bootargs",
	"bootloader",
	"bootloader_args",
	"bootloader_restrict",
	"bootloader_user",
	"builder",
	"cap",
	"channel",
	"claim_mode",
	"cmdline",
	"colo",
	"console_autoconnect",
	"cpu_cap",
	"cpu_weight",
	"cpuid",
	"cpus",
	"cpus_soft",
	"device_model",
	"device_model_args",
	"device_model_args_hvm",
	"device_model_args_pv",
	"device_model_override",
	"device_model_stubdomain_override",
	"device_model_stubdomain_seclabel",
	"device_model_user",
	"device_model_version",
	"device_tree",
	"dhcp",
	"direct_io_safe",
	"disk",
	"dm_restrict",
	"driver_domain",
	"dtdev",
	"e820_host",
	"event_channels",
	"extra",
	"features",
	"firmware",
	"firmware_override",
	"gfx_passthru",
	"gic_version",
	"hap",
	"hdtype",
	"hpet",
	"init_seclabel",
	"iomem",
	"ioports",
	"irqs",
	"kernel",
	"keymap",
	"localtime",
	"max_event_channels",
	"max_grant_frames",
	"max_grant_version",
	"max_maptrack_frames",
	"maxmem",
	"maxvcpus",
	"mca_caps",
	"memory",
	"migration_channel",
	"ms_vm_genid",
	"msitranslate",
	"name",
	"nestedhvm",
	"netif",
	"nic",
	"nographic",
	"nomigrate",
	"nr_spis",
	"nx",
	"on_crash",
	"on_poweroff",
	"on_reboot",
	"on_soft_reset",
	"on_watchdog",
	"on_xend_start",
	"on_xend_stop",
	"oos",
	"opengl",
	"p9",
	"pae",
	"passthrough",
	"pci",
	"pci_msitranslate",
	"pci_permissive",
	"pci_power_mgmt",
	"pci_seize",
	"pool",
	"pvcalls",
	"pvh",
	"ramdisk",
	"rdm",
	"rdm_mem_boundary",
	"root",
	"rtc_timeoffset",
	"sdl",
	"seclabel",
	"serial",
	"shadow_memory",
	"smbios",
	"smbios_firmware",
	"soundhw",
	"spice",
	"spice_clipboard_sharing",
	"spice_image_compression",
	"spice_streaming_video",
	"spiceagent_mouse",
	"spicedisable_ticketing",
	"spicehost",
	"spicepasswd",
	"spiceport",
	"spicetls_port",
	"spiceusbredirection",
	"spicevdagent",
	"stdvga",
	"stubdomain_kernel",
	"stubdomain_memory",
	"stubdomain_ramdisk",
	"suppress_vmdesc",
	"timer_mode",
	"tpmif",
	"trap_unmapped_accesses",
	"tsc_mode",
	"type",
	"usb",
	"usbctrl",
	"usbdev",
	"usbdevice",
	"usbversion",
	"uuid",
	"vcpus",
	"vdispl",
	"vendor_device",
	"vfb",
	"vga",
	"videoram",
	"vif",
	"viridian",
	"virtio",
	"vkb",
	"vnc",
	"vncconsole",
	"vncdisplay",
	"vnclisten",
	"vncpasswd",
	"vncunused",
	"vnuma",
	"vpmu",
	"vpt_align",
	"vscsi",
	"vsnd",
	"vtpm",
	"vuart",
	"xen_platform_pci",
	"xenstore_kernel",
	"xenstore_memory",
	"llc_colors",
	"cpu_pool",
	"maxvcpus",
	NULL,
};

bool xen_key_is_xl(const char *key)
{
	for (size_t i = 0; xl_keys[i]; i++)
		if (!strcmp(xl_keys[i], key))
			return true;
	return false;
}
