// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for xen/profile.c: reading xl.cfg profiles through libxlutil,
 * the fixups' view of them, and every refusal, each naming the file and
 * line. Sample profiles live in tests/data/profiles (PROFILE_DATA); error
 * cases are written to a scratch directory here.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/unit/test-profile-files.h"

#include "xen/profile-internal.h"
#include "xen/profile.h"

static char scratch[64];
static char warnings[4096];
static int n_warnings;

static void collect(void *ctx, const char *msg)
{
	size_t l = strlen(warnings);

	snprintf(warnings + l, sizeof(warnings) - l, "%s\n", msg);
	n_warnings++;
}

static struct xen_profile *load_ok(const char *path)
{
	struct xen_profile *p = NULL;
	struct dm_err err = { 0 };

	warnings[0] = '\0';
	n_warnings = 0;
	if (xen_profile_load(path, &p, &err, collect, NULL) < 0)
		fail_msg("%s: %s", path, err.msg);
	assert_non_null(p);
	return p;
}

/*
 * Loads @text, expecting a refusal whose message starts with
 * "PATH:LINE: " followed by @want (a prefix of the rest).
 */
static void refused(const char *text, int line, const char *want)
{
	struct xen_profile *p = NULL;
	struct dm_err err = { 0 };
	const char *path = write_profile(text);
	char prefix[256];
	int r;

	r = xen_profile_load(path, &p, &err, collect, NULL);
	if (r >= 0)
		fail_msg("accepted: %s", text);
	assert_null(p);
	assert_int_equal(r, -err.code);
	assert_null(strchr(err.msg, '\n'));
	if (line)
		snprintf(prefix, sizeof(prefix), "%s:%d: %s", path, line, want);
	else
		snprintf(prefix, sizeof(prefix), "%s: %s", path, want);
	if (strncmp(err.msg, prefix, strlen(prefix)))
		fail_msg("message\n  %s\nwanted to start with\n  %s", err.msg,
			 prefix);
}

/* ---- Profiles that load --------------------------------------------------- */

static void banquo_profile_reads_every_key(void **state)
{
	struct xen_profile *p = load_ok(data_path("banquo.cfg"));

	assert_string_equal(p->name, "banquo");
	assert_string_equal(p->hostname, "banquo.example.org");
	assert_int_equal(p->memory, 512);
	assert_int_equal(p->vcpus, 2);
	assert_int_equal(p->n_disks, 1);
	assert_string_equal(p->disks[0].vdev, "xvda");
	assert_string_equal(p->disks[0].target, "/dev/scotland/banquo");
	assert_true(p->disks[0].readwrite);
	assert_false(p->disks[0].cdrom);
	assert_int_equal(p->n_vifs, 1);
	assert_string_equal(p->vifs[0].mac, "00:16:3e:12:34:56");
	assert_string_equal(p->vifs[0].ip, "192.0.2.10");
	assert_int_equal(p->vifs[0].prefix, 24);
	assert_string_equal(p->vifs[0].bridge, "xenbr0");
	assert_string_equal(p->bootloader, "pygrub");
	assert_true(p->pygrub);
	assert_string_equal(p->console, "hvc0");
	assert_string_equal(p->netmask, "255.255.255.0");
	assert_string_equal(p->gateway, "192.0.2.1");
	assert_int_equal(p->n_nameservers, 2);
	assert_string_equal(p->nameservers[1], "192.0.2.54");
	assert_non_null(p->root_password_hash);
	assert_int_equal(p->n_ssh_authorized_keys, 2);
	assert_string_equal(p->ssh_authorized_keys[1],
			    "from=\"192.0.2.0/24\",no-pty ssh-rsa "
			    "AAAAB3NzaC1yc2EAAAADAQABAAABAQ backup");
	assert_int_equal(p->n_fixups, 2);
	assert_int_equal(p->fixup_rules,
			 FIX_RULES_ALL & ~FIX_RULE_BIT(FIX_RULE_UDEV));
	assert_string_equal(p->template_path,
			    "/var/lib/domufs/templates/bookworm.tar.zst");
	assert_string_equal(p->overlay_dir, "/var/lib/domufs/domains/banquo");
	assert_null(p->kernel);
	assert_int_equal(n_warnings, 0);
	assert_null(xen_profile_free(p));
}

static void the_fixups_view_borrows_from_the_profile(void **state)
{
	struct xen_profile *p = load_ok(data_path("banquo.cfg"));
	struct fix_profile f;

	xen_profile_fix(p, &f);
	assert_string_equal(f.hostname, "banquo.example.org");
	assert_string_equal(f.console, "hvc0");
	assert_int_equal(f.n_disks, 1);
	assert_string_equal(f.disks[0], "xvda");
	assert_int_equal(f.n_nics, 1);
	assert_string_equal(f.nics[0].mac, "00:16:3e:12:34:56");
	assert_string_equal(f.nics[0].ip, "192.0.2.10");
	assert_int_equal(f.nics[0].prefix, 24);
	assert_string_equal(f.gateway, "192.0.2.1");
	assert_int_equal(f.n_nameservers, 2);
	assert_ptr_equal(f.root_password_hash, p->root_password_hash);
	assert_int_equal(f.n_ssh_keys, 2);
	assert_true(f.pygrub);
	assert_null(f.extra);
	assert_int_equal(f.rules, p->fixup_rules);
	xen_profile_free(p);
}

static void an_xl_config_serves_as_a_profile(void **state)
{
	struct xen_profile *p = load_ok(data_path("donalbain.cfg"));
	struct fix_profile f;

	assert_string_equal(p->hostname, "donalbain"); /* from name */
	assert_null(p->console); /* the fixups choose */
	assert_true(p->pygrub); /* "/usr/bin/pygrub" */
	assert_int_equal(p->memory, 512); /* "512" as a string */
	assert_string_equal(p->disks[0].target, "/mnt/donalbain.img");
	assert_string_equal(p->vifs[0].mac, "00:16:3e:4b:af:c2");
	assert_null(p->vifs[0].ip);
	assert_int_equal(p->vifs[0].prefix, 0);
	assert_int_equal(p->fixup_rules, FIX_RULES_ALL);
	assert_int_equal(n_warnings, 0); /* uuid, on_crash... are xl's */
	xen_profile_fix(p, &f);
	assert_null(f.nics[0].ip);
	assert_null(f.root_password_hash);
	assert_int_equal(f.n_nameservers, 0);
	xen_profile_free(p);
}

static void a_cdrom_first_does_not_become_the_root(void **state)
{
	struct xen_profile *p = load_ok(data_path("hecate.cfg"));
	struct fix_profile f;

	assert_int_equal(p->n_disks, 3);
	assert_true(p->disks[0].cdrom);
	assert_string_equal(p->disks[0].vdev, "hdc");
	assert_false(p->disks[0].readwrite);
	assert_string_equal(p->disks[2].target, "/dev/vg/hecate-data");
	assert_false(p->pygrub);
	assert_string_equal(p->kernel, "/boot/vmlinuz-2.6-xenU");
	assert_string_equal(p->ramdisk, "/boot/initrd-2.6-xenU.img");
	assert_string_equal(p->console, "xvc0");
	assert_int_equal(p->n_vifs, 1); /* vif = [ '' ] */
	assert_null(p->vifs[0].mac);
	xen_profile_fix(p, &f);
	assert_int_equal(f.n_disks, 2);
	assert_string_equal(f.disks[0], "xvda");
	assert_string_equal(f.disks[1], "xvdb");
	assert_string_equal(f.extra, "net.ifnames=0");
	xen_profile_free(p);
}

static void unknown_keys_are_warned_about_once_with_their_line(void **state)
{
	struct xen_profile *p = load_ok(data_path("hecate.cfg"));

	assert_int_equal(n_warnings, 1);
	assert_non_null(strstr(warnings, "hecate.cfg:12: unknown key "
					 "`favourite_colour' ignored"));
	xen_profile_free(p);
	p = load_ok(write_profile("name = 'a'\nfoo = 1\nfoo += 2\n"
				  "bar = [ 'x' ]; on_crash = 'destroy'\n"));
	assert_int_equal(n_warnings, 2);
	assert_non_null(strstr(warnings, "t.cfg:2: unknown key `foo'"));
	assert_non_null(strstr(warnings, "t.cfg:4: unknown key `bar'"));
	xen_profile_free(p);
}

static void relative_template_and_overlay_are_beside_the_profile(void **state)
{
	const char *path = write_profile("name = 'a'\ntemplate = 't/x.tar'\n"
					 "overlay = '/abs/ov'\n");
	struct xen_profile *p = load_ok(path);
	const char *slash = strrchr(path, '/');
	char want[4096];

	assert_non_null(slash);
	snprintf(want, sizeof(want), "%.*s/t/x.tar", (int)(slash - path), path);
	assert_string_equal(p->template_path, want);
	assert_string_equal(p->overlay_dir, "/abs/ov");
	xen_profile_free(p);
}

static void a_key_set_twice_is_warned_about(void **state)
{
	struct xen_profile *p = load_ok(write_profile(
		"name = 'a'\nhostname = 'one'\n"
		"ssh_authorized_keys = [ 'ssh-ed25519 AAAAC3Nza k' ]\n"
		"hostname = 'two'\nssh_authorized_keys = [ ]\n"
		"vif = [ 'bridge=b' ]\nvif += [ 'bridge=c' ]\n"));

	/* the last `=` counts, as in xl; `+=` adds without a word */
	assert_string_equal(p->hostname, "two");
	assert_int_equal(p->n_ssh_authorized_keys, 0);
	assert_int_equal(p->n_vifs, 2);
	assert_int_equal(n_warnings, 2);
	assert_non_null(strstr(warnings, "t.cfg:4: `hostname' set again: the "
					 "value of line 2 is not used"));
	assert_non_null(strstr(warnings, "t.cfg:5: `ssh_authorized_keys' set "
					 "again: the value of line 3"));
	xen_profile_free(p);
}

static void an_ip_without_netmask_assumes_24_with_a_warning(void **state)
{
	struct xen_profile *p =
		load_ok(write_profile("name = 'a'\n"
				      "vif = [ 'ip=192.0.2.9 192.0.2.99', "
				      "'ip=10.0.0.1/8' ]\n"));

	assert_string_equal(p->vifs[0].ip, "192.0.2.9");
	assert_int_equal(p->vifs[0].prefix, 24);
	assert_int_equal(p->vifs[1].prefix, 8);
	assert_int_equal(n_warnings, 2);
	assert_non_null(strstr(warnings, "t.cfg:2: vif: ip=192.0.2.9 without "
					 "netmask"));
	assert_non_null(strstr(warnings, "t.cfg:2: vif: ip= lists several "
					 "addresses: only 192.0.2.9 is "
					 "configured in the guest"));
	xen_profile_free(p);
	p = load_ok(write_profile("name = 'a'\nnetmask = '255.255.0.0'\n"
				  "vif = [ 'ip=192.0.2.9' ]\n"));
	assert_int_equal(p->vifs[0].prefix, 16);
	assert_int_equal(n_warnings, 0);
	xen_profile_free(p);
}

/* Loads @text, expecting exactly @want as its only warning (NULL: none). */
static void warns(const char *text, const char *want)
{
	struct xen_profile *p = load_ok(write_profile(text));

	if (!want)
		assert_int_equal(n_warnings, 0);
	else if (n_warnings != 1 || !strstr(warnings, want))
		fail_msg("want one warning `%s', got %d:\n%s", want, n_warnings,
			 warnings);
	xen_profile_free(p);
}

static void a_gateway_the_guest_cannot_use_is_warned_about(void **state)
{
	warns("name = 'a'\ngateway = '198.51.100.1'\n"
	      "vif = [ 'ip=192.0.2.9/24', 'ip=10.0.0.1/8' ]\n",
	      "t.cfg:2: gateway 198.51.100.1 is outside the subnet of every "
	      "vif with ip=: the guest cannot reach it");
	warns("name = 'a'\nvif = [ 'mac=00:16:3e:00:00:01' ]\n"
	      "gateway = '192.0.2.1'\n",
	      "t.cfg:3: gateway 192.0.2.1 is not used: no vif has ip= "
	      "(DHCP brings its own)");
	warns("name = 'a'\ngateway = '192.0.2.1'\n",
	      "t.cfg:2: gateway 192.0.2.1 is not used: no vif has ip=");
	/* inside one static vif's subnet, the netmask's or ip=A/N's */
	warns("name = 'a'\ngateway = '10.1.2.3'\n"
	      "vif = [ 'ip=192.0.2.9/24', 'ip=10.0.0.1/8' ]\n",
	      NULL);
	warns("name = 'a'\nnetmask = '255.255.255.128'\n"
	      "gateway = '192.0.2.126'\nvif = [ 'ip=192.0.2.9' ]\n",
	      NULL);
	warns("name = 'a'\nnetmask = '255.255.255.128'\n"
	      "gateway = '192.0.2.129'\nvif = [ 'ip=192.0.2.9' ]\n",
	      "t.cfg:3: gateway 192.0.2.129 is outside the subnet");
	warns("name = 'a'\ngateway = '192.0.2.9'\n"
	      "vif = [ 'ip=192.0.2.9/32' ]\n",
	      NULL);
}

static void several_ip_addresses_keep_the_first_with_a_warning(void **state)
{
	struct xen_profile *p = load_ok(write_profile(
		"name = 'a'\nnetmask = '255.255.255.0'\n"
		"vif = [ 'mac=00:16:3e:00:00:01',\n"
		"        'ip=192.0.2.9 192.0.2.10 192.0.2.11' ]\n"));

	assert_string_equal(p->vifs[1].ip, "192.0.2.9");
	assert_int_equal(n_warnings, 1);
	assert_non_null(strstr(warnings, "t.cfg:4: vif: ip= lists several "
					 "addresses: only 192.0.2.9 is "
					 "configured in the guest"));
	xen_profile_free(p);
	/* the later addresses are still checked */
	refused("name = 'a'\nvif = [ 'ip=192.0.2.9 192.0.2.300' ]\n", 2,
		"vif: bad IPv4 address `192.0.2.300'");
}

static void mac_is_normalized_to_lower_case_colons(void **state)
{
	struct xen_profile *p = load_ok(write_profile(
		"name = 'a'\nvif = [ 'mac=00-16-3E-AB-CD-EF' ]\n"));

	assert_string_equal(p->vifs[0].mac, "00:16:3e:ab:cd:ef");
	xen_profile_free(p);
}

static void locked_and_modern_hashes_are_accepted(void **state)
{
	static const char *const hashes[] = {
		"*",
		"!",
		"!!",
		"$1$abcdefgh$abcdefghijklmnopqrstuv",
		"!$1$abcdefgh$abcdefghijklmnopqrstuv",
		"$5$salt$0123456789012345678901234567890123456789012",
		"$2b$10$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234",
		"$y$j9T$abcdefghijklmnopqrstuv$"
		"0123456789012345678901234567890123456789012",
		NULL,
	};
	char text[256];

	for (size_t i = 0; hashes[i]; i++) {
		struct xen_profile *p;

		snprintf(text, sizeof(text),
			 "name = 'a'\nroot_password_hash = '%s'\n", hashes[i]);
		p = load_ok(write_profile(text));
		assert_string_equal(p->root_password_hash, hashes[i]);
		xen_profile_free(p);
	}
}

static void hashes_cut_short_are_refused_within_their_string(void **state)
{
	static const char *const cut[] = {
		"$",  "$2",  "$2a", "$2a$", "$2a$1", "$1$",
		"$5", "$6$", "!$2", "$y",   NULL,
	};

	/* each copied to the heap: a read past its end is ASan's to see */
	for (size_t i = 0; cut[i]; i++) {
		char *s = strdup(cut[i]);

		assert_non_null(s);
		assert_false(xen_check_hash(s));
		free(s);
	}
}

static void an_empty_fixups_list_switches_all_off(void **state)
{
	struct xen_profile *p =
		load_ok(write_profile("name = 'a'\nfixups = [ ]\n"));

	assert_int_equal(p->fixup_rules, 0);
	xen_profile_free(p);
	p = load_ok(write_profile("name = 'a'\nfixups = [ '-bootloader' ]\n"));
	assert_int_equal(p->fixup_rules,
			 FIX_RULES_ALL & ~FIX_RULE_BIT(FIX_RULE_BOOTLOADER));
	xen_profile_free(p);
}

static void a_last_comment_without_newline_parses(void **state)
{
	struct xen_profile *p = load_ok(write_profile("name = 'a'\n# end"));

	assert_string_equal(p->name, "a");
	xen_profile_free(p);
}

/* ---- Refusals ------------------------------------------------------------- */

static void a_missing_file_is_refused_naming_it(void **state)
{
	struct xen_profile *p = NULL;
	struct dm_err err = { 0 };
	char path[128];

	snprintf(path, sizeof(path), "%s/nosuch.cfg", scratch);
	assert_int_equal(xen_profile_load(path, &p, &err, NULL, NULL), -ENOENT);
	assert_non_null(strstr(err.msg, "nosuch.cfg: No such file"));
	assert_int_equal(xen_profile_load(scratch, &p, &err, NULL, NULL),
			 -EISDIR);
}

/* What xl-config gives PyGRUB (no bootloader, no kernel, PV) the fixups do too. */
static void no_kernel_and_no_bootloader_means_pygrub(void **state)
{
	static const struct {
		const char *text;
		bool pygrub;
	} cases[] = {
		{ "name = 'a'\n", true },
		{ "name = 'a'\nbootloader = 'pygrub'\n", true },
		{ "name = 'a'\nkernel = '/boot/vmlinuz'\n", false },
		{ "name = 'a'\ntype = 'hvm'\n", false },
		{ "name = 'a'\nbootloader = '/usr/bin/pvgrub'\n", false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct xen_profile *p = load_ok(write_profile(cases[i].text));

		if (p->pygrub != cases[i].pygrub)
			fail_msg("%s: pygrub %d", cases[i].text, p->pygrub);
		xen_profile_free(p);
	}
}

static void a_syntax_error_is_libxlutils_line(void **state)
{
	refused("name = 'a'\nmemory = 3 -\n", 2,
		"config parsing error near `-': lexical error");
	refused("name = 'a'\n\nx = 'unterminated\n", 3, "config parsing error");
	/* a value left out: libxlutil numbers the line's end one line low */
	refused("name = \n", 1, "config parsing error near <newline>");
	refused("name = 'a'\nmemory = 512\nvcpus = \nx = 1\n", 3,
		"config parsing error near <newline>");
	refused("name = 'a'\nvcpus =", 2,
		"config parsing error near <newline>");
}

static void a_missing_name_is_refused(void **state)
{
	refused("memory = 128\n", 0, "no `name'");
}

static void a_bad_mac_is_refused(void **state)
{
	refused("name = 'a'\n\nvif = [ 'mac=00:16:3e:zz:00:01' ]\n", 3,
		"vif: bad MAC address `00:16:3e:zz:00:01'");
	refused("name = 'a'\nvif = [ 'bridge=xenbr0',\n"
		"        'mac=01:16:3e:00:00:01' ]\n",
		3, "vif: bad MAC address"); /* multicast, item 2's line */
	refused("name = 'a'\nvif = [ 'mac=00:16:3e:00:00' ]\n", 2,
		"vif: bad MAC address");
	refused("name = 'a'\nvif = [ 'mac=00:16-3e:00:00:01' ]\n", 2,
		"vif: bad MAC address");
}

static void a_bad_ipv4_is_refused_wherever_it_is(void **state)
{
	refused("name = 'a'\nvif = [ 'ip=192.0.2.300' ]\n", 2,
		"vif: bad IPv4 address `192.0.2.300'");
	refused("name = 'a'\nvif = [ 'ip=192.0.2.3/33' ]\n", 2,
		"vif: bad IPv4 address");
	refused("name = 'a'\nvif = [ 'ip=' ]\n", 2, "vif: ip= without");
	refused("name = 'a'\ngateway = '192.0.2'\n", 2,
		"gateway: bad IPv4 address `192.0.2'");
	refused("name = 'a'\nnetmask = '255.0.255.0'\n", 2,
		"netmask: bad IPv4 netmask");
	refused("name = 'a'\nnameservers = [ '192.0.2.53',\n"
		"                '192.0.2.053' ]\n",
		3, "nameservers: bad IPv4 address `192.0.2.053'");
	refused("name = 'a'\nvif = [ 'ip' ]\n", 2,
		"vif: `ip' is not key=value");
}

static void a_bad_hostname_is_refused(void **state)
{
	refused("name = 'a'\nhostname = '-banquo'\n", 2,
		"hostname: `-banquo' is not a valid hostname");
	refused("name = 'a'\nhostname = 'ban_quo'\n", 2, "hostname:");
	refused("name = 'a'\nhostname = 'a..b'\n", 2, "hostname:");
	refused("name = 'a'\nhostname = 'x234567890123456789012345678901234"
		"5678901234567890123456789012345'\n",
		2, "hostname:"); /* a 64-character label */
	refused("name = 'a'\nhostname = \"it's\"\n", 2, "hostname:");
	/* the default from name must be a hostname too */
	refused("\nname = 'my domain'\n", 2,
		"name: `my domain' is not a valid hostname: set `hostname'");
}

static void
an_xl_name_that_is_no_hostname_is_fine_without_identity(void **state)
{
	struct xen_profile *p = load_ok(
		write_profile("name = 'web_01'\nfixups = [ '-identity' ]\n"));
	struct fix_profile f;

	assert_null(p->hostname);
	xen_profile_fix(p, &f);
	assert_null(f.hostname);
	xen_profile_free(p);
}

static void a_plaintext_password_is_refused(void **state)
{
	refused("name = 'a'\nroot_password_hash = 'hunter2'\n", 2,
		"root_password_hash: not a crypt(3) hash");
	refused("name = 'a'\nroot_password_hash = 'abcdefghijklm'\n", 2,
		"root_password_hash: not a crypt(3) hash"); /* DES-alike */
	refused("name = 'a'\nroot_password_hash = '$6$salt$short'\n", 2,
		"root_password_hash:");
	refused("name = 'a'\nroot_password_hash = ''\n", 2,
		"root_password_hash:");
	refused("name = 'a'\nroot_password_hash = '$6$sa:t$"
		"0123456789012345678901234567890123456789012345678901234567"
		"890123456789012345678901'\n",
		2, "root_password_hash:");
	refused("name = 'a'\nroot_password_hash = \"$1$ab\\\"cdefg$"
		"abcdefghijklmnopqrstuv\"\n",
		2, "root_password_hash:");
}

static void control_characters_in_values_are_refused(void **state)
{
	refused("name = 'a'\nhostname = 'ban\\nquo'\n", 2,
		"hostname: the value carries a newline");
	refused("name = 'a'\ngateway = '192.0.2.1\\t'\n", 2,
		"gateway: the value carries a newline or control");
	refused("name = 'a'\nnameservers = [ '192.0.2.53',\n"
		"  '192.0.2.54\\n' ]\n",
		3, "nameservers: item 2 carries a newline");
	refused("name = 'a'\nssh_authorized_keys = [ 'ssh-ed25519 "
		"AAAAC3NzaC1lZDI1NTE5 a\\nssh-rsa AAAAB3NzaC1yc2EAAAA b' ]\n",
		2, "ssh_authorized_keys: item 1 carries a newline");
	refused("name = 'a'\nextra = 'quiet\\r'\n", 2, "extra:");
	refused("name = 'a'\ntemplate = '/x\\a'\n", 2, "template:");
}

static void a_bad_ssh_key_is_refused(void **state)
{
	refused("name = 'a'\nssh_authorized_keys = [\n"
		"  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9vZ2xl ok',\n"
		"  'hunter2' ]\n",
		4, "ssh_authorized_keys: item 2 is not an SSH public key");
	refused("name = 'a'\nssh_authorized_keys = [ 'ssh-rsa !!notbase64' ]\n",
		2, "ssh_authorized_keys: item 1 is not");
	refused("name = 'a'\nssh_authorized_keys = [ 'command=\"x "
		"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAB' ]\n",
		2, "ssh_authorized_keys: item 1 is not"); /* open quote */
}

static void an_unknown_fixup_name_is_refused_at_its_item(void **state)
{
	refused("name = 'a'\nfixups = [ 'all',\n"
		"           '-udev',\n"
		"           '-firstbot' ]\n",
		4, "fixups: unknown fixup `-firstbot' (known: fstab, console");
	refused("name = 'a'\nfixups = [ '' ]\n", 2, "fixups: unknown fixup");
}

static void values_of_the_wrong_shape_are_refused(void **state)
{
	refused("name = 'a'\nnameservers = '192.0.2.53'\n", 2,
		"nameservers: should be a list");
	refused("name = 'a'\nhostname = [ 'a' ]\n", 2,
		"hostname: should be a single value");
	refused("name = 'a'\nnameservers = [ [ '192.0.2.53' ] ]\n", 2,
		"nameservers: item 1 is not a string");
	refused("name = 'a'\nmemory = 'lots'\n", 2,
		"memory: should be a positive number");
	refused("name = 'a'\nvcpus = 0\n", 2, "vcpus:");
}

static void a_bad_disk_is_refused(void **state)
{
	refused("name = 'a'\ndisk = [ 'phy:/dev/vg/a,xvda,w',\n"
		"  'bogus,,,zz,q' ]\n",
		3, "disk: bad disk specification `bogus,,,zz,q'");
	refused("name = 'a'\ndisk = [ 'phy:/dev/vg/a,51712,w' ]\n", 2,
		"disk: the root disk's vdev `51712'");
}

static void an_hvm_guest_gets_the_serial_console(void **state)
{
	static const char *const hvm[] = {
		"name = 'a'\ntype = 'hvm'\n",
		"name = 'a'\nbuilder = 'hvm'\n",
	};
	struct xen_profile *p;
	struct fix_profile f;

	for (size_t i = 0; i < 2; i++) {
		p = load_ok(write_profile(hvm[i]));
		assert_true(p->hvm);
		assert_null(p->console);
		xen_profile_fix(p, &f);
		assert_string_equal(f.console, "ttyS0");
		xen_profile_free(p);
	}
	/* PV and PVH keep the Xen console; an explicit console wins */
	p = load_ok(write_profile("name = 'a'\ntype = 'pvh'\n"));
	assert_false(p->hvm);
	xen_profile_fix(p, &f);
	assert_null(f.console);
	xen_profile_free(p);
	p = load_ok(write_profile("name = 'a'\ntype = 'hvm'\n"
				  "console = 'hvc0'\n"));
	xen_profile_fix(p, &f);
	assert_string_equal(f.console, "hvc0");
	xen_profile_free(p);
	refused("name = 'a'\n\ntype = 'kvm'\n", 3,
		"type: `kvm': one of \"pv\", \"pvh\", \"hvm\"");
}

static void a_console_other_than_hvc0_or_xvc0_is_refused(void **state)
{
	refused("name = 'a'\nconsole = 'tty1'\n", 2,
		"console: `tty1': the Xen console is");
}

static void a_huge_file_is_refused(void **state)
{
	char *big = malloc(2 * 1024 * 1024 + 16);
	struct xen_profile *p = NULL;
	struct dm_err err = { 0 };

	assert_non_null(big);
	memset(big, '#', 2 * 1024 * 1024);
	big[2 * 1024 * 1024] = '\0';
	assert_int_equal(xen_profile_load(write_profile(big), &p, &err, NULL,
					  NULL),
			 -EFBIG);
	assert_non_null(strstr(err.msg, "larger than"));
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(banquo_profile_reads_every_key),
		cmocka_unit_test(the_fixups_view_borrows_from_the_profile),
		cmocka_unit_test(an_xl_config_serves_as_a_profile),
		cmocka_unit_test(a_cdrom_first_does_not_become_the_root),
		cmocka_unit_test(
			unknown_keys_are_warned_about_once_with_their_line),
		cmocka_unit_test(
			an_ip_without_netmask_assumes_24_with_a_warning),
		cmocka_unit_test(mac_is_normalized_to_lower_case_colons),
		cmocka_unit_test(locked_and_modern_hashes_are_accepted),
		cmocka_unit_test(
			hashes_cut_short_are_refused_within_their_string),
		cmocka_unit_test(an_empty_fixups_list_switches_all_off),
		cmocka_unit_test(a_last_comment_without_newline_parses),
		cmocka_unit_test(a_missing_file_is_refused_naming_it),
		cmocka_unit_test(a_syntax_error_is_libxlutils_line),
		cmocka_unit_test(no_kernel_and_no_bootloader_means_pygrub),
		cmocka_unit_test(a_key_set_twice_is_warned_about),
		cmocka_unit_test(
			a_gateway_the_guest_cannot_use_is_warned_about),
		cmocka_unit_test(
			several_ip_addresses_keep_the_first_with_a_warning),
		cmocka_unit_test(
			relative_template_and_overlay_are_beside_the_profile),
		cmocka_unit_test(a_missing_name_is_refused),
		cmocka_unit_test(a_bad_mac_is_refused),
		cmocka_unit_test(a_bad_ipv4_is_refused_wherever_it_is),
		cmocka_unit_test(a_bad_hostname_is_refused),
		cmocka_unit_test(
			an_xl_name_that_is_no_hostname_is_fine_without_identity),
		cmocka_unit_test(a_plaintext_password_is_refused),
		cmocka_unit_test(control_characters_in_values_are_refused),
		cmocka_unit_test(a_bad_ssh_key_is_refused),
		cmocka_unit_test(an_unknown_fixup_name_is_refused_at_its_item),
		cmocka_unit_test(values_of_the_wrong_shape_are_refused),
		cmocka_unit_test(a_bad_disk_is_refused),
		cmocka_unit_test(a_console_other_than_hvc0_or_xvc0_is_refused),
		cmocka_unit_test(an_hvm_guest_gets_the_serial_console),
		cmocka_unit_test(a_huge_file_is_refused),
	};

	return cmocka_run_group_tests(tests, scratch_setup, scratch_teardown);
}
