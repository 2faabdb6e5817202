// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for xen/xlcfg.c: the xl.cfg rendered from a profile reads
 * back through libxlutil (xen_profile_load()) with the same domain, root
 * disk, vifs and boot; derived MACs are stable and in Xen's range; values
 * that need quoting survive. Sample profiles live in tests/data/profiles
 * (PROFILE_DATA); rendered files go to a scratch directory.
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

#include "xen/profile.h"
#include "xen/xlcfg.h"

static struct xen_profile *load_ok(const char *path)
{
	struct xen_profile *p = NULL;
	struct dm_err err = { 0 };

	if (xen_profile_load(path, &p, &err, NULL, NULL) < 0)
		fail_msg("%s: %s", path, err.msg);
	assert_non_null(p);
	return p;
}

static char *render_ok(const struct xen_profile *p,
		       const struct xen_xlcfg_opts *o)
{
	struct dm_err err = { 0 };
	char *text = NULL;

	if (xen_xlcfg_render(p, o, &text, &err) < 0)
		fail_msg("render %s: %s", p->path, err.msg);
	assert_non_null(text);
	return text;
}

/* Renders @p, writes it to scratch @slot and loads it back. */
static struct xen_profile *round_trip(const struct xen_profile *p,
				      const struct xen_xlcfg_opts *o, int slot,
				      char **ret_text)
{
	char *text = render_ok(p, o);
	struct xen_profile *q = load_ok(write_file(slot, text));

	if (ret_text)
		*ret_text = text;
	else
		free(text);
	return q;
}

/* The text without its comment lines (they name the source file). */
static char *strip_comments(const char *text)
{
	char *out = malloc(strlen(text) + 1), *o = out;

	assert_non_null(out);
	for (const char *s = text; *s;) {
		size_t n = strcspn(s, "\n");

		if (*s != '#') {
			memcpy(o, s, n);
			o += n;
			*o++ = '\n';
		}
		s += n + (s[n] == '\n');
	}
	*o = '\0';
	return out;
}

/* ---- Reading back ---------------------------------------------------------- */

static void banquo_reads_back_with_the_same_domain(void **state)
{
	struct xen_profile *p = load_ok(data_path("banquo.cfg"));
	char *text;
	struct xen_profile *q = round_trip(p, NULL, 0, &text);

	assert_string_equal(q->name, "banquo");
	assert_int_equal(q->memory, 512);
	assert_int_equal(q->vcpus, 2);
	assert_true(q->pygrub);
	assert_null(q->kernel);
	assert_int_equal(q->n_disks, 1);
	assert_string_equal(q->disks[0].target, "/dev/scotland/banquo");
	assert_string_equal(q->disks[0].vdev, "xvda");
	assert_true(q->disks[0].readwrite);
	assert_int_equal(q->n_vifs, 1);
	assert_string_equal(q->vifs[0].mac, "00:16:3e:12:34:56");
	assert_string_equal(q->vifs[0].ip, "192.0.2.10");
	assert_string_equal(q->vifs[0].bridge, "xenbr0");
	/* xl's own keys pass through; domufs's stay comments */
	assert_non_null(strstr(text, "\non_reboot = \"restart\"\n"));
	assert_non_null(strstr(text, "backendtype=phy"));
	assert_string_equal(q->hostname, "banquo"); /* the name's */
	assert_null(q->root_password_hash);
	assert_int_equal(q->n_ssh_authorized_keys, 0);
	assert_null(q->template_path);
	assert_null(strstr(text, "\nhostname"));
	assert_null(strstr(text, "root_password_hash"));
	free(text);
	xen_profile_free(q);
	xen_profile_free(p);
}

static void defaults_fill_memory_and_vcpus(void **state)
{
	const char *path =
		write_file(1, "name = \"bare\"\n"
			      "disk = [ '/srv/bare.img,raw,xvda,rw' ]\n");
	struct xen_profile *p = load_ok(path);
	struct xen_profile *q = round_trip(p, NULL, 0, NULL);

	assert_int_equal(q->memory, 512);
	assert_int_equal(q->vcpus, 1);
	/* no kernel: PyGRUB */
	assert_true(q->pygrub);
	assert_string_equal(q->bootloader, "pygrub");
	assert_int_equal(q->n_vifs, 0);
	xen_profile_free(q);
	xen_profile_free(p);
}

static void a_pygrub_path_becomes_plain_pygrub(void **state)
{
	struct xen_profile *p = load_ok(data_path("donalbain.cfg"));
	char *text;
	struct xen_profile *q = round_trip(p, NULL, 0, &text);

	assert_string_equal(q->bootloader, "pygrub");
	assert_non_null(strstr(text, "\non_crash = \"restart\"\n"));
	assert_non_null(strstr(
		text, "\nuuid = \"162910c8-2a0c-0333-2349-049e8e32ba90\"\n"));
	/* tap:aio: becomes a raw file target */
	assert_string_equal(q->disks[0].target, "/mnt/donalbain.img");
	assert_string_equal(q->vifs[0].mac, "00:16:3e:4b:af:c2");
	free(text);
	xen_profile_free(q);
	xen_profile_free(p);
}

static void a_dom0_kernel_gets_root_and_console(void **state)
{
	struct xen_profile *p = load_ok(data_path("hecate.cfg"));
	struct xen_xlcfg_opts o = { .partitioned = true };
	struct xen_profile *q = round_trip(p, &o, 0, NULL);

	assert_false(q->pygrub);
	assert_null(q->bootloader);
	assert_string_equal(q->kernel, "/boot/vmlinuz-2.6-xenU");
	assert_string_equal(q->ramdisk, "/boot/initrd-2.6-xenU.img");
	/* the profile's console is xvc0 */
	assert_string_equal(q->extra,
			    "root=/dev/xvda1 net.ifnames=0 console=xvc0");
	/* the CD-ROM before the root disk and the data disk stay */
	assert_int_equal(q->n_disks, 3);
	assert_true(q->disks[0].cdrom);
	assert_string_equal(q->disks[1].vdev, "xvda");
	assert_string_equal(q->disks[1].target, "/mnt/hecate.img");
	assert_string_equal(q->disks[2].target, "/dev/vg/hecate-data");
	xen_profile_free(q);
	xen_profile_free(p);
}

static void an_hvm_domain_boots_its_disk_or_a_kernel_on_ttys0(void **state)
{
	struct xen_profile *p = load_ok(
		write_file(1, "name = 'duncan'\ntype = 'hvm'\n"
			      "disk = [ '/srv/duncan.img,raw,xvda,w' ]\n"));
	char *text;
	struct xen_profile *q = round_trip(p, NULL, 0, &text);

	/* no bootloader for HVM: the firmware boots the disk */
	assert_true(q->hvm);
	assert_null(q->bootloader);
	assert_null(q->kernel);
	assert_non_null(strstr(text, "\nboot = \"c\"\n"));
	assert_null(strstr(text, "pygrub"));
	free(text);
	xen_profile_free(q);
	xen_profile_free(p);

	p = load_ok(write_file(1, "name = 'duncan'\ntype = 'hvm'\n"
				  "kernel = '/boot/vmlinuz'\n"
				  "disk = [ '/srv/duncan.img,raw,xvda,w' ]\n"));
	q = round_trip(p, NULL, 0, NULL);
	assert_string_equal(q->kernel, "/boot/vmlinuz");
	assert_string_equal(q->extra, "root=/dev/xvda console=ttyS0");
	xen_profile_free(q);
	xen_profile_free(p);
}

static void root_and_console_replace_and_complete_extra(void **state)
{
	const char *path = write_file(1, "name = \"k\"\n"
					 "kernel = \"/boot/vmlinuz\"\n"
					 "extra = \"root=/dev/sda1 ro quiet\"\n"
					 "disk = [ 'phy:/dev/vg/k,sda,w' ]\n");
	struct xen_profile *p = load_ok(path);
	struct xen_profile *q = round_trip(p, NULL, 0, NULL);

	assert_string_equal(q->extra, "root=/dev/sda ro quiet console=hvc0");
	assert_null(q->ramdisk);
	xen_profile_free(q);
	xen_profile_free(p);
}

static void rendering_the_rendered_config_changes_nothing(void **state)
{
	const char *names[] = { "banquo.cfg", "donalbain.cfg", "hecate.cfg" };

	for (size_t i = 0; i < 3; i++) {
		struct xen_profile *p = load_ok(data_path(names[i]));
		char *t1, *t2, *s1, *s2;
		struct xen_profile *q = round_trip(p, NULL, 0, &t1);

		t2 = render_ok(q, NULL);
		s1 = strip_comments(t1);
		s2 = strip_comments(t2);
		assert_string_equal(s1, s2);
		free(s1);
		free(s2);
		free(t1);
		free(t2);
		xen_profile_free(q);
		xen_profile_free(p);
	}
}

/* ---- The root disk --------------------------------------------------------- */

static void the_target_option_replaces_the_root_disk(void **state)
{
	struct xen_profile *p = load_ok(data_path("banquo.cfg"));
	struct xen_xlcfg_opts o = { .target = "/srv/images/banquo.img",
				    .target_kind = XEN_TARGET_FILE };
	char *text;
	struct xen_profile *q = round_trip(p, &o, 0, &text);

	assert_string_equal(q->disks[0].target, "/srv/images/banquo.img");
	assert_string_equal(q->disks[0].vdev, "xvda");
	assert_null(strstr(text, "backendtype"));
	free(text);
	xen_profile_free(q);

	o.target = "/dev/loop7";
	o.target_kind = XEN_TARGET_BLOCK;
	q = round_trip(p, &o, 0, &text);
	assert_string_equal(q->disks[0].target, "/dev/loop7");
	assert_non_null(strstr(
		text, "\"format=raw, vdev=xvda, access=rw, backendtype=phy, "
		      "target=/dev/loop7\""));
	free(text);
	xen_profile_free(q);
	xen_profile_free(p);
}

static void the_target_kind_follows_stat_then_the_dev_prefix(void **state)
{
	const char *path;

	assert_int_equal(xen_target_kind_of("/dev/null"), XEN_TARGET_FILE);
	assert_int_equal(xen_target_kind_of("/dev/vg/nonexistent-lv"),
			 XEN_TARGET_BLOCK);
	assert_int_equal(xen_target_kind_of("/srv/nonexistent.img"),
			 XEN_TARGET_FILE);
	path = write_file(0, "x");
	assert_int_equal(xen_target_kind_of(path), XEN_TARGET_FILE);
}

static void a_profile_without_disk_needs_a_target(void **state)
{
	const char *path = write_file(1, "name = \"diskless\"\n");
	struct xen_profile *p = load_ok(path);
	struct xen_xlcfg_opts o = { .target = "/dev/vg/diskless",
				    .target_kind = XEN_TARGET_BLOCK };
	struct dm_err err = { 0 };
	char *text = NULL;
	struct xen_profile *q;

	assert_int_equal(xen_xlcfg_render(p, NULL, &text, &err), -ENOENT);
	assert_null(text);
	assert_non_null(strstr(err.msg, path));
	assert_non_null(strstr(err.msg, "--target"));
	q = round_trip(p, &o, 0, NULL);
	assert_int_equal(q->n_disks, 1);
	assert_string_equal(q->disks[0].vdev, "xvda");
	assert_string_equal(q->disks[0].target, "/dev/vg/diskless");
	xen_profile_free(q);
	xen_profile_free(p);
}

static void awkward_values_survive_the_quoting(void **state)
{
	const char *path = write_file(1, "name = \"we\\\"ird\\\\name\"\n"
					 "hostname = \"weird\"\n"
					 "disk = [ 'phy:/dev/vg/w,xvda,w' ]\n"
					 "on_crash = 'coredump-\"restart\"'\n");
	struct xen_profile *p = load_ok(path);
	struct xen_xlcfg_opts o = {
		.target = "/srv/a b,c'd\"e\\f.img",
		.target_kind = XEN_TARGET_FILE,
		.seed_iso = "/srv/seed, \"x\".iso",
	};
	struct xen_profile *q;
	char *text, *body;
	int r;

	assert_string_equal(p->name, "we\"ird\\name");
	text = render_ok(p, &o);
	assert_non_null(strstr(text, "\nname = \"we\\\"ird\\\\name\"\n"));
	assert_non_null(
		strstr(text, "\non_crash = \"coredump-\\\"restart\\\"\"\n"));
	free(text);

	/*
	 * Read back: that name is no hostname, and `hostname' (domufs's)
	 * stays a comment, so give the copy one to satisfy the loader.
	 */
	strcpy(p->name, "weird");
	text = render_ok(p, &o);
	r = asprintf(&body,
		     "%sname = \"we\\\"ird\\\\name\"\nhostname = \"weird\"\n",
		     text);
	assert_true(r > 0);
	q = load_ok(write_file(0, body));
	assert_string_equal(q->name, "we\"ird\\name");
	assert_string_equal(q->disks[0].target, "/srv/a b,c'd\"e\\f.img");
	assert_int_equal(q->n_disks, 2);
	assert_string_equal(q->disks[1].vdev, "xvdb");
	assert_false(q->disks[1].readwrite);
	assert_string_equal(q->disks[1].target, "/srv/seed, \"x\".iso");
	free(body);
	free(text);
	xen_profile_free(q);
	xen_profile_free(p);
}

static void a_control_character_in_the_target_is_refused(void **state)
{
	struct xen_profile *p = load_ok(data_path("banquo.cfg"));
	struct xen_xlcfg_opts o = { .target = "/srv/a\nb.img" };
	struct dm_err err = { 0 };
	char *text = NULL;

	assert_int_equal(xen_xlcfg_render(p, &o, &text, &err), -EINVAL);
	assert_null(text);
	assert_null(strchr(err.msg, '\n'));
	assert_non_null(strstr(err.msg, "banquo.cfg"));
	xen_profile_free(p);
}

static void the_seed_image_takes_the_next_free_xvd(void **state)
{
	struct xen_profile *p = load_ok(data_path("hecate.cfg"));
	struct xen_xlcfg_opts o = { .seed_iso = "/srv/hecate-seed.iso" };
	struct xen_profile *q = round_trip(p, &o, 0, NULL);

	/* xvda is the root, xvdb the data disk */
	assert_int_equal(q->n_disks, 4);
	assert_string_equal(q->disks[3].vdev, "xvdc");
	assert_string_equal(q->disks[3].target, "/srv/hecate-seed.iso");
	assert_false(q->disks[3].readwrite);
	xen_profile_free(q);
	xen_profile_free(p);
}

/* ---- MACs ------------------------------------------------------------------ */

static bool xen_range(const char *mac)
{
	unsigned b[6];

	if (strlen(mac) != 17 || sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x", &b[0],
					&b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
		return false;
	/* Xen's OUI (unicast, globally administered), then < 0x80 */
	return b[0] == 0x00 && b[1] == 0x16 && b[2] == 0x3e && b[3] < 0x80;
}

static void derived_macs_are_stable_and_in_xens_range(void **state)
{
	char a[18], b[18], c[18], d[18];
	unsigned collisions = 0;

	xen_mac_derive("banquo", 0, a);
	xen_mac_derive("banquo", 0, b);
	assert_string_equal(a, b);
	assert_true(xen_range(a));
	xen_mac_derive("fleance", 0, c);
	assert_string_not_equal(a, c);
	xen_mac_derive("banquo", 1, d);
	assert_string_not_equal(a, d);
	assert_true(xen_range(d));
	/* a thousand similar names: all in range, (almost) all different */
	for (int i = 0; i < 1000; i++) {
		char n1[16], m1[18], m2[18];

		snprintf(n1, sizeof(n1), "web%d", i);
		xen_mac_derive(n1, 0, m1);
		assert_true(xen_range(m1));
		snprintf(n1, sizeof(n1), "web%d", i + 1);
		xen_mac_derive(n1, 0, m2);
		collisions += !strcmp(m1, m2);
	}
	assert_int_equal(collisions, 0);
}

static void a_vif_without_mac_gets_the_derived_one(void **state)
{
	struct xen_profile *p = load_ok(data_path("hecate.cfg"));
	struct xen_profile *q = round_trip(p, NULL, 0, NULL);
	char want[18];

	assert_null(p->vifs[0].mac);
	xen_mac_derive("hecate", 0, want);
	assert_string_equal(q->vifs[0].mac, want);
	xen_vif_mac(p, 0, want);
	assert_string_equal(q->vifs[0].mac, want);
	xen_profile_free(q);
	xen_profile_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(banquo_reads_back_with_the_same_domain),
		cmocka_unit_test(defaults_fill_memory_and_vcpus),
		cmocka_unit_test(a_pygrub_path_becomes_plain_pygrub),
		cmocka_unit_test(a_dom0_kernel_gets_root_and_console),
		cmocka_unit_test(
			an_hvm_domain_boots_its_disk_or_a_kernel_on_ttys0),
		cmocka_unit_test(root_and_console_replace_and_complete_extra),
		cmocka_unit_test(rendering_the_rendered_config_changes_nothing),
		cmocka_unit_test(the_target_option_replaces_the_root_disk),
		cmocka_unit_test(
			the_target_kind_follows_stat_then_the_dev_prefix),
		cmocka_unit_test(a_profile_without_disk_needs_a_target),
		cmocka_unit_test(awkward_values_survive_the_quoting),
		cmocka_unit_test(a_control_character_in_the_target_is_refused),
		cmocka_unit_test(the_seed_image_takes_the_next_free_xvd),
		cmocka_unit_test(derived_macs_are_stable_and_in_xens_range),
		cmocka_unit_test(a_vif_without_mac_gets_the_derived_one),
	};

	return cmocka_run_group_tests(tests, scratch_setup, scratch_teardown);
}
