// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for fix_detect(): distribution family and version, init
 * system, udev, network stack, kernels and bootloader configuration, on
 * in-memory roots of each family.
 */
#include "tests/unit/test-fix-tree.h"

static struct fix_facts detect(struct mem_tree *t)
{
	struct fix_facts f;

	assert_int_equal(fix_detect(&t->rd, &f), 0);
	free(t);
	return f;
}

static void debian_4_is_sysvinit_with_udev_and_a_classic_kernel(void **state)
{
	struct fix_facts f = detect(tree_debian4());

	assert_int_equal(f.family, FIX_FAMILY_DEBIAN);
	assert_string_equal(f.id, "debian");
	assert_int_equal(f.version_major, 4);
	assert_int_equal(f.init, FIX_INIT_SYSVINIT);
	assert_int_equal(f.inittab, FIX_INITTAB_SYSV);
	assert_true(f.has_udev);
	assert_int_equal(f.net, FIX_NET_IFUPDOWN);
	assert_true(f.classic_xen_kernel);
	assert_false(f.ifnames_xen);
	assert_string_equal(f.kernel, "/boot/vmlinuz-2.6.18-6-xen-amd64");
	assert_string_equal(f.initrd, "/boot/initrd.img-2.6.18-6-xen-amd64");
	assert_int_equal(f.grub, FIX_GRUB_NONE);
	assert_string_equal(f.grub_cfg, "/boot/grub/menu.lst");
}

static void debian_12_is_systemd_through_merged_usr_links(void **state)
{
	struct fix_facts f = detect(tree_debian12());

	assert_int_equal(f.family, FIX_FAMILY_DEBIAN);
	assert_int_equal(f.version_major, 12);
	assert_int_equal(f.version_minor, 5);
	assert_int_equal(f.init, FIX_INIT_SYSTEMD);
	assert_true(f.has_udev);
	assert_int_equal(f.net, FIX_NET_IFUPDOWN);
	assert_true(f.ifnames_xen);
	assert_false(f.classic_xen_kernel);
	assert_int_equal(f.n_kernels, 2);
	assert_string_equal(f.kernel, "/boot/vmlinuz-6.1.0-18-amd64");
	assert_string_equal(f.initrd, "/boot/initrd.img-6.1.0-18-amd64");
	assert_int_equal(f.grub, FIX_GRUB2);
	assert_string_equal(f.grub_cfg, "/boot/grub/grub.cfg");
}

static void debian_9_and_11_keep_eth_names_on_systemd(void **state)
{
	static const char *const versions[] = { "9.13\n", "11.9\n" };

	for (size_t i = 0; i < 2; i++) {
		struct mem_tree *t = tree_debian12();
		struct fix_facts f;

		tree_file(t, "/usr/lib/os-release", "ID=debian\n");
		tree_file(t, "/etc/debian_version", versions[i]);
		f = detect(t);
		assert_int_equal(f.version_major, i ? 11 : 9);
		assert_int_equal(f.init, FIX_INIT_SYSTEMD);
		assert_false(f.ifnames_xen); /* systemd < 250 */
	}
}

static void debian_testing_version_comes_from_the_codename(void **state)
{
	struct mem_tree *t = tree_new();
	struct fix_facts f;

	tree_file(t, "/etc/debian_version", "trixie/sid\n");
	f = detect(t);
	assert_int_equal(f.family, FIX_FAMILY_DEBIAN);
	assert_int_equal(f.version_major, 13);
}

static void debian_without_ifupdown_uses_networkd(void **state)
{
	struct mem_tree *t = tree_debian12();
	struct fix_facts f;

	tree_remove(t, "/usr/sbin/ifup");
	tree_remove(t, "/etc/network/interfaces");
	f = detect(t);
	assert_int_equal(f.net, FIX_NET_NETWORKD);
}

static void ubuntu_14_is_upstart_not_debian(void **state)
{
	struct fix_facts f = detect(tree_ubuntu14());

	assert_int_equal(f.family, FIX_FAMILY_UBUNTU);
	assert_int_equal(f.version_major, 14);
	assert_int_equal(f.version_minor, 4);
	assert_int_equal(f.init, FIX_INIT_UPSTART);
	assert_int_equal(f.net, FIX_NET_IFUPDOWN);
	assert_int_equal(f.grub, FIX_GRUB2);
	assert_string_equal(f.kernel, "/boot/vmlinuz-3.13.0-170-generic");
}

static void ubuntu_without_os_release_is_found_by_lsb_release(void **state)
{
	struct mem_tree *t = tree_ubuntu14();
	struct fix_facts f;

	tree_remove(t, "/etc/os-release");
	f = detect(t);
	assert_int_equal(f.family, FIX_FAMILY_UBUNTU);
	assert_int_equal(f.version_major, 14);
}

static void ubuntu_22_uses_netplan_and_keeps_eth_names(void **state)
{
	struct fix_facts f = detect(tree_ubuntu22());

	assert_int_equal(f.family, FIX_FAMILY_UBUNTU);
	assert_int_equal(f.init, FIX_INIT_SYSTEMD);
	assert_int_equal(f.net, FIX_NET_NETPLAN);
	assert_false(f.ifnames_xen); /* systemd 249 */
}

static void ubuntu_24_names_vifs_enx(void **state)
{
	struct mem_tree *t = tree_ubuntu22();
	struct fix_facts f;

	tree_file(t, "/etc/os-release", "ID=ubuntu\nVERSION_ID=\"24.04\"\n");
	f = detect(t);
	assert_true(f.ifnames_xen);
}

static void centos_5_reads_redhat_release(void **state)
{
	struct fix_facts f = detect(tree_centos5());

	assert_int_equal(f.family, FIX_FAMILY_RHEL);
	assert_string_equal(f.id, "centos");
	assert_int_equal(f.version_major, 5);
	assert_int_equal(f.version_minor, 11);
	assert_int_equal(f.init, FIX_INIT_SYSVINIT);
	assert_int_equal(f.net, FIX_NET_IFCFG);
	assert_true(f.classic_xen_kernel);
	assert_string_equal(f.kernel, "/boot/vmlinuz-2.6.18-398.el5xen");
	assert_string_equal(f.initrd, "/boot/initrd-2.6.18-398.el5xen.img");
	/* menu.lst -> ./grub.conf: the file itself is edited */
	assert_int_equal(f.grub, FIX_GRUB_LEGACY);
	assert_string_equal(f.grub_cfg, "/boot/grub/grub.conf");
}

static void centos_6_is_upstart(void **state)
{
	struct fix_facts f = detect(tree_centos6());

	assert_int_equal(f.family, FIX_FAMILY_RHEL);
	assert_int_equal(f.version_major, 6);
	assert_int_equal(f.init, FIX_INIT_UPSTART);
	assert_false(f.classic_xen_kernel);
	assert_string_equal(f.initrd,
			    "/boot/initramfs-2.6.32-754.el6.x86_64.img");
}

static void centos_7_is_systemd_with_grub2_and_no_rescue_kernel(void **state)
{
	struct fix_facts f = detect(tree_centos7());

	assert_int_equal(f.family, FIX_FAMILY_RHEL);
	assert_string_equal(f.id, "centos");
	assert_int_equal(f.version_major, 7);
	assert_int_equal(f.version_minor, 9);
	assert_int_equal(f.init, FIX_INIT_SYSTEMD);
	assert_int_equal(f.net, FIX_NET_IFCFG);
	assert_false(f.ifnames_xen);
	assert_int_equal(f.grub, FIX_GRUB2);
	assert_string_equal(f.grub_cfg, "/boot/grub2/grub.cfg");
	assert_int_equal(f.n_kernels, 1);
	assert_string_equal(f.kernel, "/boot/vmlinuz-3.10.0-1160.el7.x86_64");
}

static void rocky_9_is_rhel_like_and_names_vifs_enx(void **state)
{
	struct mem_tree *t = tree_centos7();
	struct fix_facts f;

	tree_remove(t, "/etc/redhat-release");
	tree_file(t, "/etc/os-release",
		  "ID=\"rocky\"\nID_LIKE=\"rhel centos "
		  "fedora\"\nVERSION_ID=\"9.3\"\n");
	f = detect(t);
	assert_int_equal(f.family, FIX_FAMILY_RHEL);
	assert_string_equal(f.id, "rocky");
	assert_int_equal(f.version_major, 9);
	assert_true(f.ifnames_xen);
}

/* Debian 12 with sysvinit-core: /sbin/init is sysvinit's own binary. */
static struct mem_tree *tree_debian12_sysv(void)
{
	struct mem_tree *t = tree_debian12();

	tree_remove(t, "/usr/sbin/init");
	tree_file(t, "/usr/sbin/init", "ELF");
	tree_file(t, "/etc/inittab",
		  "id:2:initdefault:\n"
		  "si::sysinit:/etc/init.d/rcS\n"
		  "l2:2:wait:/etc/init.d/rc 2\n"
		  "1:2345:respawn:/sbin/getty 38400 tty1\n");
	tree_file(t, "/etc/init.d/rc", "#!/bin/sh\n# sysv-rc\n");
	return t;
}

static void debian_12_names_xen_nics_enx_whatever_the_init(void **state)
{
	struct fix_facts f = detect(tree_debian12_sysv());

	/* systemd-udevd names the NIC, not the init system */
	assert_int_equal(f.init, FIX_INIT_SYSVINIT);
	assert_true(f.has_udev);
	assert_true(f.ifnames_xen);
}

static void debian_12_openrc_is_found_through_its_rc(void **state)
{
	struct mem_tree *t = tree_debian12_sysv();
	struct fix_facts f;

	/* Debian's openrc: the inittab calls /etc/init.d/rc, openrc's own */
	tree_file(t, "/usr/sbin/openrc", "ELF");
	tree_file(t, "/usr/sbin/openrc-run", "ELF");
	tree_file(t, "/etc/init.d/rc",
		  "#!/bin/sh\n# OpenRC wrapper\nexec /sbin/openrc \"$@\"\n");
	f = detect(t);
	assert_int_equal(f.init, FIX_INIT_OPENRC);
	assert_true(f.ifnames_xen);
}

static void alpine_is_openrc_on_busybox_init(void **state)
{
	struct fix_facts f = detect(tree_alpine());

	assert_int_equal(f.family, FIX_FAMILY_ALPINE);
	assert_int_equal(f.version_major, 3);
	assert_int_equal(f.version_minor, 19);
	assert_int_equal(f.init, FIX_INIT_OPENRC);
	assert_int_equal(f.inittab, FIX_INITTAB_BUSYBOX);
	assert_false(f.has_udev);
	assert_true(f.has_mdev);
	assert_int_equal(f.net, FIX_NET_IFUPDOWN_NG);
	assert_string_equal(f.kernel, "/boot/vmlinuz-virt");
	assert_string_equal(f.initrd, "/boot/initramfs-virt");
	/* extlinux: grub.cfg is what PyGRUB reads first */
	assert_int_equal(f.grub, FIX_GRUB2);
}

static void busybox_template_is_busybox_init(void **state)
{
	struct fix_facts f = detect(tree_busybox());

	assert_int_equal(f.family, FIX_FAMILY_BUSYBOX);
	assert_int_equal(f.init, FIX_INIT_BUSYBOX);
	assert_int_equal(f.inittab, FIX_INITTAB_BUSYBOX);
	assert_false(f.has_udev);
	assert_int_equal(f.net, FIX_NET_IFUPDOWN);
	assert_int_equal(f.n_kernels, 0);
	assert_string_equal(f.kernel, "");
}

static void bare_busybox_without_os_release_is_busybox(void **state)
{
	struct mem_tree *t = tree_busybox();
	struct fix_facts f;

	tree_remove(t, "/etc/os-release");
	f = detect(t);
	assert_int_equal(f.family, FIX_FAMILY_BUSYBOX);
	assert_string_equal(f.id, "busybox");
}

static void empty_tree_is_unknown_without_error(void **state)
{
	struct fix_facts f = detect(tree_new());

	assert_int_equal(f.family, FIX_FAMILY_UNKNOWN);
	assert_int_equal(f.init, FIX_INIT_UNKNOWN);
	assert_int_equal(f.net, FIX_NET_NONE);
	assert_string_equal(fix_family_name(f.family), "unknown");
}

static void symlink_loops_do_not_hang_detection(void **state)
{
	struct mem_tree *t = tree_new();
	struct fix_facts f;

	tree_link(t, "/etc", "etc2");
	tree_link(t, "/etc2", "etc");
	tree_link(t, "/sbin/init", "/sbin/init");
	f = detect(t);
	assert_int_equal(f.family, FIX_FAMILY_UNKNOWN);
}

static void hostile_kernel_names_are_ignored(void **state)
{
	struct mem_tree *t = tree_busybox();
	struct fix_facts f;

	tree_file(t, "/boot/vmlinuz-9\ninitrd /evil", "K");
	tree_file(t, "/boot/vmlinuz-1.0 x", "K");
	f = detect(t);
	assert_int_equal(f.n_kernels, 0);
}

static void os_release_id_is_sanitized(void **state)
{
	struct mem_tree *t = tree_new();
	struct fix_facts f;

	tree_file(t, "/etc/os-release", "ID=\"we'ird ID\"\n");
	f = detect(t);
	assert_string_equal(f.id, "weirdid");
}

static int eio_read(void *ctx, const char *path, char **ret, size_t *len)
{
	if (!strcmp(path, "/etc/os-release"))
		return -EIO;
	return mem_read(ctx, path, ret, len);
}

static void reader_errors_other_than_enoent_propagate(void **state)
{
	struct mem_tree *t = tree_busybox();
	struct fix_facts f;

	t->rd.read = eio_read;
	assert_int_equal(fix_detect(&t->rd, &f), -EIO);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			debian_4_is_sysvinit_with_udev_and_a_classic_kernel),
		cmocka_unit_test(debian_12_is_systemd_through_merged_usr_links),
		cmocka_unit_test(debian_9_and_11_keep_eth_names_on_systemd),
		cmocka_unit_test(
			debian_testing_version_comes_from_the_codename),
		cmocka_unit_test(debian_without_ifupdown_uses_networkd),
		cmocka_unit_test(ubuntu_14_is_upstart_not_debian),
		cmocka_unit_test(
			ubuntu_without_os_release_is_found_by_lsb_release),
		cmocka_unit_test(ubuntu_22_uses_netplan_and_keeps_eth_names),
		cmocka_unit_test(ubuntu_24_names_vifs_enx),
		cmocka_unit_test(centos_5_reads_redhat_release),
		cmocka_unit_test(centos_6_is_upstart),
		cmocka_unit_test(
			centos_7_is_systemd_with_grub2_and_no_rescue_kernel),
		cmocka_unit_test(rocky_9_is_rhel_like_and_names_vifs_enx),
		cmocka_unit_test(alpine_is_openrc_on_busybox_init),
		cmocka_unit_test(
			debian_12_names_xen_nics_enx_whatever_the_init),
		cmocka_unit_test(debian_12_openrc_is_found_through_its_rc),
		cmocka_unit_test(busybox_template_is_busybox_init),
		cmocka_unit_test(bare_busybox_without_os_release_is_busybox),
		cmocka_unit_test(empty_tree_is_unknown_without_error),
		cmocka_unit_test(symlink_loops_do_not_hang_detection),
		cmocka_unit_test(hostile_kernel_names_are_ignored),
		cmocka_unit_test(os_release_id_is_sanitized),
		cmocka_unit_test(reader_errors_other_than_enoent_propagate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
