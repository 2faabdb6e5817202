// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for xen/seed.c: the NoCloud meta-data, user-data and
 * network-config of a profile, checked line by line (the integration test
 * parses them as YAML and reads them from a real ISO). Profiles come from
 * tests/data/profiles (PROFILE_DATA) or a scratch file.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/unit/test-profile-files.h"

#include "xen/profile.h"
#include "xen/seed.h"
#include "xen/xlcfg.h"

static struct xen_profile *load_ok(const char *path)
{
	struct xen_profile *p = NULL;
	struct dm_err err = { 0 };

	if (xen_profile_load(path, &p, &err, NULL, NULL) < 0)
		fail_msg("%s: %s", path, err.msg);
	return p;
}

static void render_ok(const struct xen_profile *p, struct xen_seed *s)
{
	struct dm_err err = { 0 };

	if (xen_seed_render(p, s, &err) < 0)
		fail_msg("%s: %s", p->path, err.msg);
}

/* @text has @line as one whole line. */
static void has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *s = text; s; s = strchr(s, '\n')) {
		if (*s == '\n')
			s++;
		if (!strncmp(s, line, n) && (s[n] == '\n' || !s[n]))
			return;
	}
	fail_msg("no line\n  %s\nin\n%s", line, text);
}

static void banquo_has_identity_keys_and_a_static_address(void **state)
{
	struct xen_profile *p = load_ok(data_path("banquo.cfg"));
	struct xen_seed s;

	render_ok(p, &s);
	assert_string_equal(s.meta_data,
			    "instance-id: \"domufs-banquo\"\n"
			    "local-hostname: \"banquo.example.org\"\n");
	assert_int_equal(strncmp(s.user_data, "#cloud-config\n", 14), 0);
	has_line(s.user_data, "hostname: \"banquo\"");
	has_line(s.user_data, "fqdn: \"banquo.example.org\"");
	has_line(s.user_data, "  - name: \"root\"");
	has_line(s.user_data, "    lock_passwd: false");
	has_line(s.user_data, "    hashed_passwd: \"$6$rounds=5000$saltsalt$"
			      "0123456789012345678901234567890123456789012345"
			      "678901234567890123456789012345ABCDEFGHIJ\"");
	has_line(s.user_data, "      - \"ssh-ed25519 "
			      "AAAAC3NzaC1lZDI1NTE5AAAAIG9vZ2xlZ29vZ2xl "
			      "admin@example\"");
	/* the option's quotes escaped */
	has_line(s.user_data,
		 "      - \"from=\\\"192.0.2.0/24\\\",no-pty ssh-rsa "
		 "AAAAB3NzaC1yc2EAAAADAQABAAABAQ backup\"");
	has_line(s.user_data, "ssh_deletekeys: true");
	has_line(s.user_data, "disable_root: false");

	has_line(s.network_config, "version: 2");
	has_line(s.network_config, "  enX0:");
	has_line(s.network_config, "      macaddress: \"00:16:3e:12:34:56\"");
	has_line(s.network_config, "    dhcp4: false");
	has_line(s.network_config, "      - \"192.0.2.10/24\"");
	has_line(s.network_config, "    gateway4: \"192.0.2.1\"");
	has_line(s.network_config, "        - \"192.0.2.53\"");
	has_line(s.network_config, "        - \"192.0.2.54\"");
	assert_null(strstr(s.network_config, "set-name"));
	xen_seed_free(&s);
	xen_profile_free(p);
}

static void a_vif_without_ip_uses_dhcp_and_the_derived_mac(void **state)
{
	struct xen_profile *p = load_ok(data_path("hecate.cfg"));
	struct xen_seed s;
	char mac[18], line[64];

	render_ok(p, &s);
	xen_mac_derive("hecate", 0, mac);
	snprintf(line, sizeof(line), "      macaddress: \"%s\"", mac);
	has_line(s.network_config, line);
	has_line(s.network_config, "    dhcp4: true");
	assert_null(strstr(s.network_config, "addresses"));
	/* no password hash, no keys: no users: entry */
	assert_null(strstr(s.user_data, "users:"));
	has_line(s.user_data, "hostname: \"hecate\"");
	assert_null(strstr(s.user_data, "fqdn"));
	xen_seed_free(&s);
	xen_profile_free(p);
}

static void the_gateway_goes_to_the_vif_of_its_subnet(void **state)
{
	struct xen_profile *p = load_ok(write_profile(
		"name = \"two\"\n"
		"vif = [ 'mac=00:16:3e:00:00:01,ip=10.0.0.5/8',\n"
		"        'mac=00:16:3e:00:00:02,ip=192.0.2.7/24', '' ]\n"
		"gateway = \"192.0.2.1\"\n"
		"nameservers = [ \"192.0.2.53\" ]\n"));
	struct xen_seed s;
	const char *second;

	render_ok(p, &s);
	second = strstr(s.network_config, "  enX1:\n");
	assert_non_null(second);
	/* gateway and nameservers only under enX1 */
	assert_non_null(strstr(second, "gateway4: \"192.0.2.1\""));
	assert_true(strstr(s.network_config, "gateway4") > second);
	assert_true(strstr(s.network_config, "nameservers") > second);
	has_line(s.network_config, "      - \"10.0.0.5/8\"");
	has_line(s.network_config, "  enX2:");
	/* the third vif, without MAC in the profile, gets the derived one */
	{
		char mac[18], line[64];

		xen_mac_derive("two", 2, mac);
		snprintf(line, sizeof(line), "      macaddress: \"%s\"", mac);
		has_line(s.network_config, line);
	}
	xen_seed_free(&s);
	xen_profile_free(p);
}

static void a_locking_hash_locks_root(void **state)
{
	struct xen_profile *p =
		load_ok(write_profile("name = \"locked\"\n"
				      "root_password_hash = \"!\"\n"));
	struct xen_seed s;

	render_ok(p, &s);
	has_line(s.user_data, "    lock_passwd: true");
	assert_null(strstr(s.user_data, "hashed_passwd"));
	assert_null(strstr(s.user_data, "ssh_authorized_keys"));
	has_line(s.network_config, "ethernets: {}");
	xen_seed_free(&s);
	xen_profile_free(p);
}

static void the_instance_id_is_stable_and_path_safe(void **state)
{
	char a[128], b[128], c[128];

	xen_seed_instance_id("banquo", a, sizeof(a));
	assert_string_equal(a, "domufs-banquo");
	xen_seed_instance_id("web/01 x", b, sizeof(b));
	assert_int_equal(strncmp(b, "domufs-web-01-x-", 16), 0);
	assert_int_equal(strlen(b), 16 + 8);
	xen_seed_instance_id("web/01 x", c, sizeof(c));
	assert_string_equal(b, c);
	xen_seed_instance_id("web-01-x", c, sizeof(c));
	assert_string_not_equal(b, c);
	assert_null(strchr(b, '/'));
}

static void strings_needing_escapes_are_quoted(void **state)
{
	struct xen_profile *p = load_ok(write_profile(
		"name = \"q\"\n"
		"ssh_authorized_keys = [ 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 x: \"y\" #z \\\\w' ]\n"));
	struct xen_seed s;

	assert_string_equal(p->ssh_authorized_keys[0],
			    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 x: \"y\" #z \\w");
	render_ok(p, &s);
	has_line(
		s.user_data,
		"      - \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 x: \\\"y\\\" #z \\\\w\"");
	xen_seed_free(&s);
	xen_profile_free(p);
}

static void a_value_that_is_not_utf8_is_refused(void **state)
{
	struct xen_profile *p = load_ok(write_profile(
		"name = \"caf\xe9\"\nhostname = \"cafe\"\n"
		"ssh_authorized_keys = [ \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 caf\xe9\" ]\n"));
	struct xen_seed s = { 0 };
	struct dm_err err = { 0 };

	assert_int_equal(xen_seed_render(p, &s, &err), -EILSEQ);
	assert_null(s.meta_data);
	assert_null(strchr(err.msg, '\n'));
	assert_non_null(strstr(err.msg, "t.cfg"));
	assert_non_null(strstr(err.msg, "UTF-8"));
	xen_profile_free(p);

	/* well-formed UTF-8 passes as it is; the instance-id stays ASCII */
	p = load_ok(write_profile(
		"name = \"caf\xc3\xa9\"\nhostname = \"cafe\"\n"
		"ssh_authorized_keys = [ \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 caf\xc3\xa9\" ]\n"));
	render_ok(p, &s);
	assert_non_null(strstr(s.meta_data, "\"domufs-caf---"));
	has_line(s.user_data,
		 "      - \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 caf\xc3\xa9\"");
	xen_seed_free(&s);
	xen_profile_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(banquo_has_identity_keys_and_a_static_address),
		cmocka_unit_test(
			a_vif_without_ip_uses_dhcp_and_the_derived_mac),
		cmocka_unit_test(the_gateway_goes_to_the_vif_of_its_subnet),
		cmocka_unit_test(a_locking_hash_locks_root),
		cmocka_unit_test(the_instance_id_is_stable_and_path_safe),
		cmocka_unit_test(strings_needing_escapes_are_quoted),
		cmocka_unit_test(a_value_that_is_not_utf8_is_refused),
	};

	return cmocka_run_group_tests(tests, scratch_setup, scratch_teardown);
}
