/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * For the fixups' unit tests: an in-memory tree behind a struct fix_reader,
 * and small roots of each distribution family as the fixups meet them.
 * The reader checks the fix_reader contract: it fails a test when the
 * fixups hand it a path with a symlink in a leading component.
 */
#ifndef TEST_FIX_TREE_H
#define TEST_FIX_TREE_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "fixups/fix.h"

#define TREE_MAX 512

struct mem_entry {
	char path[256];
	mode_t mode;
	const char *data; /* file content or link target (static) */
};

struct mem_tree {
	struct mem_entry e[TREE_MAX];
	size_t n;
	struct fix_reader rd;
};

static struct mem_entry *tree_get(struct mem_tree *t, const char *path)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->e[i].path, path))
			return &t->e[i];
	return NULL;
}

static struct mem_entry *tree_put(struct mem_tree *t, const char *path,
				  mode_t mode, const char *data)
{
	struct mem_entry *e = tree_get(t, path);
	char parent[256];
	char *slash;

	snprintf(parent, sizeof(parent), "%s", path);
	slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		if (!tree_get(t, parent))
			tree_put(t, parent, S_IFDIR | 0755, NULL);
	}
	if (!e) {
		assert_true(t->n < TREE_MAX);
		e = &t->e[t->n++];
		snprintf(e->path, sizeof(e->path), "%s", path);
	}
	e->mode = mode;
	e->data = data;
	return e;
}

__attribute__((unused)) static void
tree_file(struct mem_tree *t, const char *path, const char *data)
{
	tree_put(t, path, S_IFREG | 0644, data);
}

__attribute__((unused)) static void tree_dir(struct mem_tree *t,
					     const char *path)
{
	tree_put(t, path, S_IFDIR | 0755, NULL);
}

__attribute__((unused)) static void
tree_link(struct mem_tree *t, const char *path, const char *target)
{
	tree_put(t, path, S_IFLNK | 0777, target);
}

__attribute__((unused)) static void tree_remove(struct mem_tree *t,
						const char *path)
{
	struct mem_entry *e = tree_get(t, path);

	if (e)
		*e = t->e[--t->n];
}

/* The contract: leading components are directories, never symlinks. */
static int tree_check_parents(struct mem_tree *t, const char *path)
{
	char p[256];

	assert_true(path[0] == '/');
	snprintf(p, sizeof(p), "%s", path);
	for (char *s = p + 1; (s = strchr(s, '/')); s++) {
		struct mem_entry *e;

		*s = '\0';
		e = tree_get(t, p);
		*s = '/';
		if (!e)
			return -ENOENT;
		if (S_ISLNK(e->mode))
			fail_msg("reader asked for %s through symlink", path);
		if (!S_ISDIR(e->mode))
			return -ENOTDIR;
	}
	return 0;
}

static int mem_read(void *ctx, const char *path, char **ret, size_t *ret_len)
{
	struct mem_tree *t = ctx;
	struct mem_entry *e;
	int r = tree_check_parents(t, path);

	if (r < 0)
		return r;
	e = tree_get(t, path);
	if (!e)
		return -ENOENT;
	if (S_ISDIR(e->mode))
		return -EISDIR;
	if (!S_ISREG(e->mode))
		return -EINVAL;
	*ret_len = strlen(e->data);
	*ret = malloc(*ret_len + 1);
	assert_non_null(*ret);
	memcpy(*ret, e->data, *ret_len);
	return 0;
}

static int mem_exists(void *ctx, const char *path, mode_t *ret)
{
	struct mem_tree *t = ctx;
	struct mem_entry *e;
	int r;

	if (!strcmp(path, "/")) {
		if (ret)
			*ret = S_IFDIR | 0755;
		return 0;
	}
	r = tree_check_parents(t, path);
	if (r < 0)
		return r;
	e = tree_get(t, path);
	if (!e)
		return -ENOENT;
	if (ret)
		*ret = e->mode;
	return 0;
}

static int mem_list(void *ctx, const char *dir, char ***ret)
{
	struct mem_tree *t = ctx;
	size_t dl = strlen(dir), n = 0;
	char **v = calloc(TREE_MAX + 1, sizeof(*v));
	mode_t m;
	int r = mem_exists(ctx, dir, &m);

	assert_non_null(v);
	if (r < 0 || !S_ISDIR(m)) {
		free(v);
		return r < 0 ? r : -ENOTDIR;
	}
	if (!strcmp(dir, "/"))
		dl = 0;
	for (size_t i = 0; i < t->n; i++) {
		const char *p = t->e[i].path;

		if (strncmp(p, dir, dl) || p[dl] != '/' ||
		    strchr(p + dl + 1, '/'))
			continue;
		v[n] = strdup(p + dl + 1);
		assert_non_null(v[n]);
		n++;
	}
	*ret = v;
	return 0;
}

static int mem_readlink(void *ctx, const char *path, char **ret)
{
	struct mem_tree *t = ctx;
	struct mem_entry *e;
	int r = tree_check_parents(t, path);

	if (r < 0)
		return r;
	e = tree_get(t, path);
	if (!e)
		return -ENOENT;
	if (!S_ISLNK(e->mode))
		return -EINVAL;
	*ret = strdup(e->data);
	assert_non_null(*ret);
	return 0;
}

static struct mem_tree *tree_new(void)
{
	struct mem_tree *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	t->rd.ctx = t;
	t->rd.read = mem_read;
	t->rd.exists = mem_exists;
	t->rd.list = mem_list;
	t->rd.readlink = mem_readlink;
	return t;
}

/* ---- Roots of each family ----------------------------------------------- */

__attribute__((unused)) static const char *tree_data(struct mem_tree *t,
						     const char *path)
{
	struct mem_entry *e = tree_get(t, path);

	return e && S_ISREG(e->mode) ? e->data : NULL;
}

static void add_ssh_keys(struct mem_tree *t, const char *const *types)
{
	for (size_t i = 0; types[i]; i++) {
		char p[128];

		snprintf(p, sizeof(p), "/etc/ssh/ssh_host_%s_key", types[i]);
		tree_file(t, p, "PRIVATE\n");
		snprintf(p, sizeof(p), "/etc/ssh/ssh_host_%s_key.pub",
			 types[i]);
		tree_file(t, p, "PUBLIC\n");
	}
	tree_file(t, "/etc/ssh/sshd_config", "PermitRootLogin yes\n");
}

/* Debian 4.0 "etch": sysvinit, udev with z25 rules, xen kernel. */
__attribute__((unused)) static struct mem_tree *tree_debian4(void)
{
	struct mem_tree *t = tree_new();
	static const char *const keys[] = { "rsa", "dsa", NULL };

	tree_file(t, "/etc/debian_version", "4.0\n");
	tree_file(t, "/sbin/init", "ELF");
	tree_file(t, "/sbin/getty", "ELF");
	tree_file(t, "/sbin/udevd", "ELF");
	tree_file(t, "/sbin/ifup", "ELF");
	tree_file(t, "/sbin/modprobe", "ELF");
	tree_dir(t, "/lib/modules/2.6.18-6-xen-amd64");
	tree_file(t, "/etc/inittab",
		  "id:2:initdefault:\n"
		  "si::sysinit:/etc/init.d/rcS\n"
		  "l2:2:wait:/etc/init.d/rc 2\n"
		  "1:2345:respawn:/sbin/getty 38400 tty1\n"
		  "2:23:respawn:/sbin/getty 38400 tty2\n"
		  "#T0:23:respawn:/sbin/getty -L ttyS0 9600 vt100\n");
	tree_file(t, "/etc/securetty", "console\ntty1\ntty2\n");
	tree_file(t, "/etc/fstab",
		  "# /etc/fstab: static file system information.\n"
		  "proc /proc proc defaults 0 0\n"
		  "/dev/sda1 / ext3 defaults,errors=remount-ro 0 1\n"
		  "/dev/sda2 none swap sw 0 0\n");
	tree_file(t, "/etc/hostname", "builder\n");
	tree_file(t, "/etc/hosts",
		  "127.0.0.1 localhost\n"
		  "127.0.1.1 builder\n");
	tree_file(t, "/etc/network/interfaces",
		  "auto lo\n"
		  "iface lo inet loopback\n"
		  "\n"
		  "allow-hotplug eth0\n"
		  "iface eth0 inet dhcp\n");
	tree_file(t, "/etc/udev/rules.d/z25_persistent-net.rules",
		  "SUBSYSTEM==\"net\", SYSFS{address}==\"00:11:22:33:44:55\", "
		  "NAME=\"eth0\"\n");
	tree_file(t, "/etc/udev/persistent-net-generator.rules", "# gen\n");
	tree_link(t, "/etc/udev/rules.d/z45_persistent-net-generator.rules",
		  "../persistent-net-generator.rules");
	tree_file(t, "/etc/shadow",
		  "root:*:13000:0:99999:7:::\n"
		  "daemon:*:13000:0:99999:7:::\n");
	tree_file(t, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
	tree_file(t, "/etc/group", "root:x:0:\ntty:x:5:\ndisk:x:6:\n");
	tree_file(t, "/etc/default/ssh", "SSHD_OPTS=\n");
	add_ssh_keys(t, keys);
	tree_file(t, "/boot/vmlinuz-2.6.18-6-xen-amd64", "K");
	tree_file(t, "/boot/initrd.img-2.6.18-6-xen-amd64", "I");
	tree_dir(t, "/proc");
	tree_dir(t, "/sys");
	tree_dir(t, "/dev");
	return t;
}

/* Debian 12 "bookworm": merged /usr, systemd, ifupdown. */
__attribute__((unused)) static struct mem_tree *tree_debian12(void)
{
	struct mem_tree *t = tree_new();
	static const char *const keys[] = { "rsa", "ecdsa", "ed25519", NULL };

	tree_dir(t, "/usr/bin");
	tree_dir(t, "/usr/sbin");
	tree_dir(t, "/usr/lib");
	tree_link(t, "/bin", "usr/bin");
	tree_link(t, "/sbin", "usr/sbin");
	tree_link(t, "/lib", "usr/lib");
	tree_file(t, "/usr/lib/os-release",
		  "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"
		  "NAME=\"Debian GNU/Linux\"\n"
		  "VERSION_ID=\"12\"\n"
		  "VERSION_CODENAME=bookworm\n"
		  "ID=debian\n");
	tree_link(t, "/etc/os-release", "../usr/lib/os-release");
	tree_file(t, "/etc/debian_version", "12.5\n");
	tree_file(t, "/usr/lib/systemd/systemd", "ELF");
	tree_file(t, "/usr/lib/systemd/systemd-udevd", "ELF");
	tree_file(t, "/usr/lib/systemd/systemd-networkd", "ELF");
	tree_file(t, "/usr/lib/systemd/system/serial-getty@.service",
		  "[Unit]\n");
	tree_file(t, "/usr/lib/systemd/system/ssh.service", "[Unit]\n");
	tree_link(t, "/usr/sbin/init", "../lib/systemd/systemd");
	tree_file(t, "/usr/sbin/ifup", "ELF");
	tree_file(t, "/usr/sbin/agetty", "ELF");
	tree_file(t, "/usr/sbin/update-initramfs", "#!/bin/sh\n");
	tree_file(t, "/usr/sbin/grub-mkconfig", "#!/bin/sh\n");
	tree_dir(t, "/usr/lib/modules/6.1.0-18-amd64");
	tree_dir(t, "/etc/modprobe.d");
	tree_file(t, "/etc/initramfs-tools/modules",
		  "# List of modules that you want to include in your "
		  "initramfs.\n");
	tree_file(t, "/etc/fstab",
		  "# /etc/fstab: static file system information.\n"
		  "UUID=0a1b2c3d-0000-4000-8000-000000000001 / ext4 "
		  "errors=remount-ro 0 1\n");
	tree_file(t, "/etc/hostname", "builder\n");
	tree_file(t, "/etc/hosts",
		  "127.0.0.1\tlocalhost\n"
		  "127.0.1.1\tbuilder\n"
		  "\n"
		  "::1     localhost ip6-localhost ip6-loopback\n");
	tree_file(t, "/etc/machine-id", "0123456789abcdef0123456789abcdef\n");
	tree_link(t, "/var/lib/dbus/machine-id", "/etc/machine-id");
	tree_file(t, "/etc/network/interfaces",
		  "source /etc/network/interfaces.d/*\n"
		  "\n"
		  "auto lo\n"
		  "iface lo inet loopback\n"
		  "\n"
		  "allow-hotplug eth0\n"
		  "iface eth0 inet dhcp\n");
	tree_file(t, "/etc/resolv.conf", "nameserver 10.0.0.1\n");
	tree_file(t, "/etc/shadow",
		  "root:*:19000:0:99999:7:::\n"
		  "daemon:*:19000:0:99999:7:::\n");
	tree_file(t, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
	tree_file(t, "/etc/group", "root:x:0:\ntty:x:5:\ndisk:x:6:\n");
	tree_dir(t, "/root");
	add_ssh_keys(t, keys);
	tree_file(t, "/boot/vmlinuz-6.1.0-17-amd64", "K");
	tree_file(t, "/boot/initrd.img-6.1.0-17-amd64", "I");
	tree_file(t, "/boot/vmlinuz-6.1.0-18-amd64", "K");
	tree_file(t, "/boot/initrd.img-6.1.0-18-amd64", "I");
	tree_dir(t, "/proc");
	tree_dir(t, "/sys");
	tree_dir(t, "/dev");
	tree_dir(t, "/tmp");
	tree_dir(t, "/run");
	return t;
}

/* Ubuntu 14.04: upstart, ifupdown, 70-persistent-net.rules. */
__attribute__((unused)) static struct mem_tree *tree_ubuntu14(void)
{
	struct mem_tree *t = tree_new();
	static const char *const keys[] = { "rsa", "ed25519", NULL };

	tree_file(t, "/etc/lsb-release",
		  "DISTRIB_ID=Ubuntu\n"
		  "DISTRIB_RELEASE=14.04\n"
		  "DISTRIB_CODENAME=trusty\n");
	tree_file(t, "/etc/os-release",
		  "NAME=\"Ubuntu\"\n"
		  "VERSION_ID=\"14.04\"\n"
		  "ID=ubuntu\nID_LIKE=debian\n");
	tree_file(t, "/etc/debian_version", "jessie/sid\n");
	tree_file(t, "/sbin/init", "ELF");
	tree_file(t, "/sbin/initctl", "ELF");
	tree_file(t, "/sbin/getty", "ELF");
	tree_file(t, "/sbin/udevd", "ELF");
	tree_file(t, "/sbin/ifup", "ELF");
	tree_file(t, "/sbin/modprobe", "ELF");
	tree_file(t, "/etc/init/tty1.conf", "exec /sbin/getty -8 38400 tty1\n");
	tree_file(t, "/etc/init/ssh.conf", "exec /usr/sbin/sshd -D\n");
	tree_file(t, "/etc/fstab", "/dev/sda1 / ext4 errors=remount-ro 0 1\n");
	tree_file(t, "/etc/hostname", "builder\n");
	tree_file(t, "/etc/hosts", "127.0.0.1 localhost\n");
	tree_file(t, "/etc/network/interfaces",
		  "auto lo\niface lo inet loopback\n\n"
		  "auto eth0\niface eth0 inet dhcp\n");
	tree_file(t, "/etc/udev/rules.d/70-persistent-net.rules",
		  "SUBSYSTEM==\"net\", NAME=\"eth0\"\n");
	tree_file(t, "/lib/udev/rules.d/75-persistent-net-generator.rules",
		  "# generator\n");
	tree_file(t, "/etc/shadow", "root:!:16000:0:99999:7:::\n");
	tree_file(t, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
	tree_dir(t, "/etc/modprobe.d");
	add_ssh_keys(t, keys);
	tree_file(t, "/boot/vmlinuz-3.13.0-170-generic", "K");
	tree_file(t, "/boot/initrd.img-3.13.0-170-generic", "I");
	tree_file(t, "/boot/grub/grub.cfg",
		  "menuentry 'Ubuntu' {\n"
		  "\tlinux /boot/vmlinuz root=UUID=x\n"
		  "}\n");
	return t;
}

/* Ubuntu 22.04: systemd, netplan, resolved. */
__attribute__((unused)) static struct mem_tree *tree_ubuntu22(void)
{
	struct mem_tree *t = tree_new();

	tree_dir(t, "/usr/sbin");
	tree_dir(t, "/usr/lib");
	tree_link(t, "/sbin", "usr/sbin");
	tree_link(t, "/lib", "usr/lib");
	tree_file(t, "/etc/os-release",
		  "NAME=\"Ubuntu\"\n"
		  "VERSION_ID=\"22.04\"\n"
		  "ID=ubuntu\nID_LIKE=debian\n");
	tree_file(t, "/usr/lib/systemd/systemd", "ELF");
	tree_file(t, "/usr/lib/systemd/systemd-udevd", "ELF");
	tree_file(t, "/usr/lib/systemd/system/serial-getty@.service",
		  "[Unit]\n");
	tree_link(t, "/usr/sbin/init", "/lib/systemd/systemd");
	tree_file(t, "/usr/sbin/netplan", "#!/usr/bin/python3\n");
	tree_file(t, "/etc/netplan/01-netcfg.yaml",
		  "network:\n  version: 2\n  ethernets:\n    eth0:\n"
		  "      dhcp4: true\n");
	tree_link(t, "/etc/resolv.conf",
		  "../run/systemd/resolve/stub-resolv.conf");
	tree_file(t, "/etc/fstab",
		  "LABEL=cloudimg-rootfs / ext4 defaults 0 1\n");
	tree_file(t, "/etc/hostname", "ubuntu\n");
	tree_file(t, "/etc/hosts", "127.0.0.1 localhost\n");
	tree_file(t, "/etc/machine-id", "");
	tree_file(t, "/etc/shadow", "root:*:19000:0:99999:7:::\n");
	tree_dir(t, "/etc/modprobe.d");
	tree_dir(t, "/usr/lib/modules");
	return t;
}

/* CentOS 5: sysvinit, xvc0, modprobe.conf, ifcfg, grub.conf. */
__attribute__((unused)) static struct mem_tree *tree_centos5(void)
{
	struct mem_tree *t = tree_new();
	static const char *const keys[] = { "rsa", "dsa", NULL };

	tree_file(t, "/etc/redhat-release", "CentOS release 5.11 (Final)\n");
	tree_file(t, "/sbin/init", "ELF");
	tree_file(t, "/sbin/mingetty", "ELF");
	tree_file(t, "/sbin/agetty", "ELF");
	tree_file(t, "/sbin/udevd", "ELF");
	tree_file(t, "/sbin/modprobe", "ELF");
	tree_file(t, "/etc/inittab",
		  "id:3:initdefault:\n"
		  "si::sysinit:/etc/rc.d/rc.sysinit\n"
		  "1:2345:respawn:/sbin/mingetty tty1\n"
		  "2:2345:respawn:/sbin/mingetty tty2\n");
	tree_file(t, "/etc/securetty", "console\nvc/1\ntty1\n");
	tree_file(t, "/etc/modprobe.conf",
		  "alias eth0 e1000\n"
		  "alias scsi_hostadapter ata_piix\n");
	tree_file(t, "/etc/fstab",
		  "LABEL=/   /        ext3    defaults        1 1\n"
		  "tmpfs     /dev/shm tmpfs   defaults        0 0\n"
		  "devpts    /dev/pts devpts  gid=5,mode=620  0 0\n"
		  "sysfs     /sys     sysfs   defaults        0 0\n"
		  "proc      /proc    proc    defaults        0 0\n");
	tree_file(t, "/etc/sysconfig/network",
		  "NETWORKING=yes\n"
		  "HOSTNAME=builder.example\n");
	tree_file(t, "/etc/sysconfig/network-scripts/ifcfg-eth0",
		  "DEVICE=eth0\n"
		  "BOOTPROTO=dhcp\n"
		  "HWADDR=00:0C:29:00:00:01\n"
		  "ONBOOT=yes\n");
	tree_file(t, "/etc/hosts",
		  "127.0.0.1\tlocalhost.localdomain localhost\n");
	tree_file(t, "/etc/shadow",
		  "root:$1$abcdefgh$abcdefghijklmnopqrstuv:14000:"
		  "0:99999:7:::\n");
	tree_file(t, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
	add_ssh_keys(t, keys);
	tree_file(t, "/boot/vmlinuz-2.6.18-398.el5xen", "K");
	tree_file(t, "/boot/initrd-2.6.18-398.el5xen.img", "I");
	tree_file(t, "/boot/grub/grub.conf", "default=0\ntimeout=5\n");
	tree_link(t, "/boot/grub/menu.lst", "./grub.conf");
	return t;
}

/* CentOS 6: upstart (serial.conf), dracut, ifcfg. */
__attribute__((unused)) static struct mem_tree *tree_centos6(void)
{
	struct mem_tree *t = tree_new();

	tree_file(t, "/etc/redhat-release", "CentOS release 6.10 (Final)\n");
	tree_file(t, "/sbin/init", "ELF");
	tree_file(t, "/sbin/initctl", "ELF");
	tree_file(t, "/sbin/agetty", "ELF");
	tree_file(t, "/sbin/udevd", "ELF");
	tree_file(t, "/sbin/modprobe", "ELF");
	tree_file(t, "/sbin/dracut", "#!/bin/bash\n");
	tree_file(t, "/etc/dracut.conf", "# dracut\n");
	tree_file(t, "/etc/inittab", "id:3:initdefault:\n");
	tree_file(t, "/etc/init/serial.conf", "# serial\n");
	tree_file(t, "/etc/init/tty.conf", "# tty\n");
	tree_file(t, "/etc/securetty", "console\ntty1\n");
	tree_file(t, "/etc/fstab",
		  "UUID=abcd / ext4 defaults 1 1\n"
		  "proc /proc proc defaults 0 0\n");
	tree_file(t, "/etc/sysconfig/network",
		  "NETWORKING=yes\n"
		  "HOSTNAME=localhost.localdomain\n");
	tree_dir(t, "/etc/sysconfig/network-scripts");
	tree_file(t, "/etc/udev/rules.d/70-persistent-net.rules",
		  "SUBSYSTEM==\"net\", NAME=\"eth0\"\n");
	tree_file(t, "/lib/udev/rules.d/75-persistent-net-generator.rules",
		  "# generator\n");
	tree_file(t, "/etc/shadow", "root:!!:17000:0:99999:7:::\n");
	tree_dir(t, "/etc/modprobe.d");
	tree_file(t, "/boot/vmlinuz-2.6.32-754.el6.x86_64", "K");
	tree_file(t, "/boot/initramfs-2.6.32-754.el6.x86_64.img", "I");
	return t;
}

/* CentOS 7: merged /usr, systemd, ifcfg, grub2. */
__attribute__((unused)) static struct mem_tree *tree_centos7(void)
{
	struct mem_tree *t = tree_new();
	static const char *const keys[] = { "rsa", "ecdsa", "ed25519", NULL };

	tree_dir(t, "/usr/sbin");
	tree_dir(t, "/usr/lib");
	tree_link(t, "/sbin", "usr/sbin");
	tree_link(t, "/lib", "usr/lib");
	tree_file(t, "/etc/os-release",
		  "NAME=\"CentOS Linux\"\n"
		  "VERSION_ID=\"7\"\n"
		  "ID=\"centos\"\nID_LIKE=\"rhel fedora\"\n");
	tree_file(t, "/etc/centos-release",
		  "CentOS Linux release 7.9.2009 (Core)\n");
	tree_link(t, "/etc/redhat-release", "centos-release");
	tree_file(t, "/usr/lib/systemd/systemd", "ELF");
	tree_file(t, "/usr/lib/systemd/systemd-udevd", "ELF");
	tree_file(t, "/usr/lib/systemd/system/serial-getty@.service",
		  "[Unit]\n");
	tree_link(t, "/usr/sbin/init", "../lib/systemd/systemd");
	tree_file(t, "/usr/sbin/modprobe", "ELF");
	tree_file(t, "/usr/bin/dracut", "#!/bin/bash\n");
	tree_dir(t, "/usr/bin");
	tree_link(t, "/bin", "usr/bin");
	tree_dir(t, "/etc/dracut.conf.d");
	tree_file(t, "/etc/fstab", "UUID=abcd / xfs defaults 0 0\n");
	tree_file(t, "/etc/hostname", "localhost.localdomain\n");
	tree_file(t, "/etc/hosts",
		  "127.0.0.1   localhost localhost.localdomain\n");
	tree_file(t, "/etc/machine-id", "0123456789abcdef0123456789abcdef\n");
	tree_file(t, "/etc/sysconfig/network-scripts/ifcfg-eth0",
		  "TYPE=Ethernet\n"
		  "BOOTPROTO=dhcp\n"
		  "NAME=eth0\n"
		  "UUID=5fb06bd0-0bb0-7ffb-45f1-d6edd65f3e03\n"
		  "DEVICE=eth0\n"
		  "ONBOOT=yes\n");
	tree_file(t, "/etc/shadow", "root:!!:18000:0:99999:7:::\n");
	tree_dir(t, "/etc/modprobe.d");
	tree_dir(t, "/boot/grub2");
	add_ssh_keys(t, keys);
	tree_file(t, "/boot/vmlinuz-3.10.0-1160.el7.x86_64", "K");
	tree_file(t, "/boot/initramfs-3.10.0-1160.el7.x86_64.img", "I");
	tree_file(t, "/boot/vmlinuz-0-rescue-0123456789abcdef", "K");
	return t;
}

/* Alpine 3.19: busybox init starting OpenRC, ifupdown-ng, mdev. */
__attribute__((unused)) static struct mem_tree *tree_alpine(void)
{
	struct mem_tree *t = tree_new();

	tree_file(t, "/etc/os-release",
		  "NAME=\"Alpine Linux\"\nID=alpine\n"
		  "VERSION_ID=3.19.1\n");
	tree_file(t, "/etc/alpine-release", "3.19.1\n");
	tree_file(t, "/bin/busybox", "ELF");
	tree_link(t, "/sbin/init", "/bin/busybox");
	tree_link(t, "/sbin/getty", "/bin/busybox");
	tree_file(t, "/sbin/openrc", "ELF");
	tree_file(t, "/sbin/ifupdown", "ELF");
	tree_link(t, "/sbin/ifup", "ifupdown");
	tree_link(t, "/sbin/modprobe", "/bin/busybox");
	tree_link(t, "/etc/runlevels/sysinit/mdev", "/etc/init.d/mdev");
	tree_file(t, "/etc/inittab",
		  "::sysinit:/sbin/openrc sysinit\n"
		  "::sysinit:/sbin/openrc boot\n"
		  "::wait:/sbin/openrc default\n"
		  "tty1::respawn:/sbin/getty 38400 tty1\n"
		  "tty2::respawn:/sbin/getty 38400 tty2\n"
		  "#ttyS0::respawn:/sbin/getty -L 115200 ttyS0 vt100\n"
		  "::shutdown:/sbin/openrc shutdown\n");
	tree_file(t, "/etc/securetty", "console\ntty1\nttyS0\n");
	tree_file(t, "/etc/fstab",
		  "/dev/cdrom\t/media/cdrom\tiso9660\tnoauto,ro 0 0\n");
	tree_file(t, "/etc/hostname", "localhost\n");
	tree_file(t, "/etc/hosts",
		  "127.0.0.1\tlocalhost localhost.localdomain\n");
	tree_file(t, "/etc/network/interfaces",
		  "auto lo\niface lo inet loopback\n");
	tree_file(t, "/etc/shadow", "root:*:19000:0:::::\n");
	tree_file(t, "/etc/group", "root:x:0:root\ndisk:x:6:root\ntty:x:5:\n");
	tree_dir(t, "/etc/modprobe.d");
	tree_dir(t, "/lib/modules");
	tree_file(t, "/boot/vmlinuz-virt", "K");
	tree_file(t, "/boot/initramfs-virt", "I");
	tree_file(t, "/boot/extlinux.conf", "DEFAULT virt\n");
	tree_dir(t, "/dev");
	return t;
}

/* The repository's default template (templates/recipes/default.recipe). */
__attribute__((unused)) static struct mem_tree *tree_busybox(void)
{
	struct mem_tree *t = tree_new();

	tree_file(t, "/bin/busybox", "ELF");
	tree_link(t, "/bin/getty", "busybox");
	tree_link(t, "/bin/ifup", "busybox");
	tree_link(t, "/sbin/init", "../bin/busybox");
	tree_file(t, "/etc/os-release",
		  "PRETTY_NAME=\"domufs busybox "
		  "template\"\nNAME=\"domufs-busybox\"\n"
		  "ID=busybox\nVERSION_ID=1\n");
	tree_file(t, "/etc/hostname", "template\n");
	tree_file(t, "/etc/hosts",
		  "127.0.0.1\tlocalhost\n127.0.1.1\ttemplate\n");
	tree_file(t, "/etc/passwd",
		  "root:x:0:0:root:/root:/bin/sh\n"
		  "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n");
	tree_file(t, "/etc/group", "root:x:0:\ndaemon:x:1:\nshadow:x:42:\n");
	tree_file(t, "/etc/shadow",
		  "root:*:19000:0:99999:7:::\n"
		  "daemon:*:19000:0:99999:7:::\n");
	tree_file(t, "/etc/fstab",
		  "# <file system> <mount point> <type> <options> <dump> "
		  "<pass>\n"
		  "/dev/sda1 / ext3 defaults,errors=remount-ro 0 1\n"
		  "proc /proc proc defaults 0 0\n");
	tree_file(t, "/etc/inittab",
		  "::sysinit:/etc/init.d/rcS\n"
		  "tty1::respawn:/sbin/getty 38400 tty1\n"
		  "tty2::respawn:/sbin/getty 38400 tty2\n"
		  "::ctrlaltdel:/sbin/reboot\n"
		  "::shutdown:/bin/umount -a -r\n");
	tree_file(t, "/etc/securetty", "console\ntty1\ntty2\n");
	tree_file(t, "/etc/init.d/rcS",
		  "#!/bin/sh\nmount -t proc proc /proc\n"
		  "ifup -a\n");
	tree_file(t, "/etc/network/interfaces",
		  "auto lo\niface lo inet loopback\n\n"
		  "auto eth0\niface eth0 inet dhcp\n");
	tree_dir(t, "/dev");
	tree_dir(t, "/proc");
	tree_dir(t, "/sys");
	tree_dir(t, "/tmp");
	tree_dir(t, "/root");
	tree_dir(t, "/boot");
	return t;
}

#endif
