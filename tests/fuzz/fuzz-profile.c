// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer target for the domain profile reader: each input is an xl.cfg
 * file. It must never crash, hang or leak; a refusal must say why; and a
 * profile that is accepted drives the fixups over a small root, where every
 * edit must be a fixed point (the values the reader lets through are safe
 * for the rules, whatever they are).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixups/fix.h"
#include "xen/profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A busybox-like root with one file per rule to edit. */
static const struct {
	const char *path;
	mode_t mode;
	const char *data;
} tree[] = {
	{ "/etc", S_IFDIR, NULL },
	{ "/etc/os-release", S_IFREG, "ID=debian\nVERSION_ID=12\n" },
	{ "/etc/fstab", S_IFREG, "/dev/sda1 / ext3 defaults 0 1\n" },
	{ "/etc/inittab", S_IFREG,
	  "id:2:initdefault:\n"
	  "1:2345:respawn:/sbin/getty 38400 tty1\n" },
	{ "/etc/securetty", S_IFREG, "console\n" },
	{ "/etc/hostname", S_IFREG, "x\n" },
	{ "/etc/hosts", S_IFREG, "127.0.0.1 localhost\n" },
	{ "/etc/shadow", S_IFREG, "root:*:1:0:99999:7:::\n" },
	{ "/etc/passwd", S_IFREG, "root:x:0:0:root:/root:/bin/sh\n" },
	{ "/etc/network", S_IFDIR, NULL },
	{ "/etc/network/interfaces", S_IFREG,
	  "auto eth0\n"
	  "iface eth0 inet dhcp\n" },
	{ "/etc/modprobe.d", S_IFDIR, NULL },
	{ "/etc/initramfs-tools", S_IFDIR, NULL },
	{ "/etc/ssh", S_IFDIR, NULL },
	{ "/etc/ssh/ssh_host_rsa_key", S_IFREG, "K\n" },
	{ "/sbin", S_IFDIR, NULL },
	{ "/sbin/init", S_IFREG, "ELF" },
	{ "/sbin/getty", S_IFREG, "ELF" },
	{ "/sbin/ifup", S_IFREG, "ELF" },
	{ "/boot", S_IFDIR, NULL },
	{ "/boot/vmlinuz-6.1.0-1-amd64", S_IFREG, "K" },
	{ "/boot/initrd.img-6.1.0-1-amd64", S_IFREG, "I" },
	{ "/root", S_IFDIR, NULL },
};

static int find(const char *path)
{
	for (size_t i = 0; i < sizeof(tree) / sizeof(tree[0]); i++)
		if (!strcmp(tree[i].path, path))
			return (int)i;
	return -1;
}

static int t_read(void *ctx, const char *path, char **ret, size_t *len)
{
	int i = find(path);

	if (i < 0)
		return -ENOENT;
	if (!S_ISREG(tree[i].mode))
		return -EISDIR;
	*ret = strdup(tree[i].data);
	*len = strlen(tree[i].data);
	return *ret ? 0 : -ENOMEM;
}

static int t_exists(void *ctx, const char *path, mode_t *ret)
{
	int i = strcmp(path, "/") ? find(path) : 0;

	if (i < 0)
		return -ENOENT;
	if (ret)
		*ret = strcmp(path, "/") ? tree[i].mode | 0755 : S_IFDIR | 0755;
	return 0;
}

static int t_list(void *ctx, const char *dir, char ***ret)
{
	size_t n = 0, dl = strcmp(dir, "/") ? strlen(dir) : 0;
	char **v = calloc(sizeof(tree) / sizeof(tree[0]) + 1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < sizeof(tree) / sizeof(tree[0]); i++) {
		const char *p = tree[i].path;

		if (strncmp(p, dir, dl) || p[dl] != '/' ||
		    strchr(p + dl + 1, '/'))
			continue;
		v[n++] = strdup(p + dl + 1);
	}
	*ret = v;
	return 0;
}

static void fixups_hold(const struct xen_profile *p)
{
	struct fix_reader rd = { NULL, t_read, t_exists, t_list, NULL };
	struct fix_facts facts;
	struct fix_profile fp;
	struct fix_ctx ctx = { &facts, &fp, "ext4", false };
	struct fix_set *set = NULL;

	xen_profile_fix(p, &fp);
	if (fix_detect(&rd, &facts) < 0 || fix_plan(&ctx, &rd, &set) < 0)
		abort();
	for (size_t i = 0; i < fix_set_count(set); i++) {
		const struct fix_action *a = fix_set_at(set, i);
		char *in = NULL, *once = NULL, *twice = NULL;
		size_t inlen = 0, l1 = 0, l2 = 0;

		if (a->kind != FIX_EDIT && a->kind != FIX_CREATE)
			continue;
		if (a->kind == FIX_EDIT && t_read(NULL, a->path, &in, &inlen))
			abort();
		if (fix_edit(&ctx, a, in, inlen, &once, &l1) < 0 ||
		    fix_edit(&ctx, a, once, l1, &twice, &l2) < 0)
			abort();
		if (l1 != l2 || memcmp(once, twice, l1)) {
			fprintf(stderr,
				"%s (%s): not idempotent\n%.*s---\n%.*s",
				a->path, a->rule, (int)l1, once, (int)l2,
				twice);
			abort();
		}
		/* nothing the profile lets through breaks a line apart */
		if (memchr(once, '\r', l1) || memchr(once, '\0', l1))
			abort();
		free(in);
		free(once);
		free(twice);
	}
	fix_set_free(set);
}

static void ignore(void *ctx, const char *msg)
{
	if (strchr(msg, '\n'))
		abort(); /* warnings are one line */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xen_profile *p = NULL;
	struct dm_err err = { 0 };
	char path[64];
	int fd;

	fd = memfd_create("profile.cfg", MFD_CLOEXEC);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (xen_profile_load(path, &p, &err, ignore, NULL) == 0) {
		fixups_hold(p);
		xen_profile_free(p);
	} else if (!err.code || !err.msg[0] || strchr(err.msg, '\n')) {
		abort(); /* every failure must say why, on one line */
	}
	close(fd);
	return 0;
}
