// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Upper-directory primitives: safe resolution below the overlay root and
 * the on-disk encoding of whiteouts, opaque directories, redirects, origins
 * and non-root ownership (see upper.h). Stateless beyond the root fd.
 */
#include "overlay/upper.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <linux/limits.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/cleanup.h"

static const char *const xa_names[][2] = {
	/* { root, ordinary user } */
	[OVL_XA_OPAQUE] = { "trusted.overlay.opaque", "user.overlay.opaque" },
	[OVL_XA_REDIRECT] = { "trusted.overlay.redirect",
			      "user.overlay.redirect" },
	[OVL_XA_ORIGIN] = { "trusted.domufs.origin", "user.domufs.origin" },
	[OVL_XA_OVERRIDE] = { "trusted.domufs.override_stat",
			      "user.containers.override_stat" },
	[OVL_XA_METACOPY] = { "trusted.overlay.metacopy",
			      "user.overlay.metacopy" },
};

int ovl_upper_open(const char *dir, struct ovl_upper *ret)
{
	int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	ret->root_fd = fd;
	ret->euid = geteuid();
	ret->owner = st.st_uid;
	ret->privileged = ret->euid == 0;
	return 0;
}

bool ovl_upper_user_ok(const struct ovl_upper *u, const struct stat *st)
{
	return st->st_uid != 0 &&
	       (st->st_uid == u->owner || st->st_uid == u->euid);
}

/* (anyone may make a 0/0 device, the whiteout, since Linux 5.8) */
static bool wh_owner_ok(const struct ovl_upper *u, const struct stat *st)
{
	return st->st_uid == 0 || st->st_uid == u->owner ||
	       st->st_uid == u->euid;
}

static bool wh_file_ok(const struct ovl_upper *u, const struct stat *st)
{
	return !S_ISDIR(st->st_mode) && wh_owner_ok(u, st);
}

bool ovl_upper_wh_entry_ok(const struct ovl_upper *u, int dirfd,
			   const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       wh_file_ok(u, &st);
}

void ovl_upper_close(struct ovl_upper *u)
{
	if (u->root_fd >= 0)
		close(u->root_fd);
	u->root_fd = -1;
}

int ovl_upper_opendir(const struct ovl_upper *u, const char *rel, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_DIRECTORY | O_CLOEXEC |
				    O_NOFOLLOW),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS,
	};
	long fd;

	if (!*rel)
		rel = ".";
	fd = syscall(SYS_openat2, u->root_fd, rel, &how, sizeof(how));
	if (fd < 0)
		return -errno;
	return (int)fd;
}

static bool wh_device(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

static int wh_name(const char *name, char *buf, size_t size)
{
	int n = snprintf(buf, size, OVL_WH_PREFIX "%s", name);

	if (n < 0 || (size_t)n >= size || n > 255)
		return -ENAMETOOLONG;
	return 0;
}

bool ovl_upper_is_whiteout(const struct ovl_upper *u, int dirfd,
			   const char *name, const struct stat *st)
{
	char wh[512];
	struct stat wst;

	if (st)
		/* a real entry shadows a stale .wh. file */
		return wh_device(st) && wh_owner_ok(u, st);
	if (wh_name(name, wh, sizeof(wh)) < 0)
		return false;
	/*
	 * a directory of that name is none (nothing here makes one), nor
	 * is a file someone else put there
	 */
	return fstatat(dirfd, wh, &wst, AT_SYMLINK_NOFOLLOW) == 0 &&
	       wh_file_ok(u, &wst);
}

int ovl_upper_scan(int dirfd, const char *name,
		   int (*fn)(void *arg, int fd, const char *name,
			     unsigned char type),
		   void *arg)
{
	_cleanup_close_ int fd =
		openat(dirfd, name ? name : ".",
		       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	_Alignas(struct dirent64) char buf[16384];

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = getdents64(fd, buf, sizeof(buf));

		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		for (ssize_t off = 0; off < n;) {
			const struct dirent64 *e = (void *)(buf + off);
			const char *nm = e->d_name;
			int r;

			off += e->d_reclen;
			if (nm[0] == '.' &&
			    (!nm[1] || (nm[1] == '.' && !nm[2])))
				continue;
			r = fn(arg, fd, nm, e->d_type);
			if (r < 0)
				return r;
		}
	}
}

int ovl_upper_whiteout(const struct ovl_upper *u, int dirfd, const char *name)
{
	char wh[512];
	int fd, r;

	if (u->privileged &&
	    mknodat(dirfd, name, S_IFCHR | 0000, makedev(0, 0)) == 0)
		return 0;
	r = wh_name(name, wh, sizeof(wh));
	if (r < 0)
		return r;
	fd = openat(dirfd, wh, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		    0600);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

int ovl_upper_clear_whiteout(int dirfd, const char *name)
{
	char wh[512];
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    wh_device(&st) && unlinkat(dirfd, name, 0) < 0)
		return -errno;
	if (wh_name(name, wh, sizeof(wh)) == 0 && unlinkat(dirfd, wh, 0) < 0 &&
	    errno != ENOENT)
		return -errno;
	return 0;
}

/*
 * "/proc/self/fd/N/name": the parent is pinned, the name never followed.
 * With name NULL or "", the fd's own file.
 */
static int proc_path(int dirfd, const char *name, char *buf, size_t size)
{
	int n = name && *name ? snprintf(buf, size, "/proc/self/fd/%d/%s",
					 dirfd, name) :
				snprintf(buf, size, "/proc/self/fd/%d", dirfd);

	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

/* With no name the path is the fd's magic link: follow it, it is the file. */
static bool fd_only(const char *name)
{
	return !name || !*name;
}

/*
 * Linux 6.13's xattr calls relative to a directory fd: (dirfd, name) with
 * AT_SYMLINK_NOFOLLOW, without a walk through /proc (with AT_EMPTY_PATH
 * they refuse an O_PATH fd, as f*xattr do: the fd's own file still goes
 * through its /proc magic link). The numbers are the same on every
 * architecture but alpha; where the kernel lacks them (ENOSYS) or a
 * seccomp filter refuses them (EPERM), the /proc path is used instead.
 */
#ifndef __NR_getxattrat
#if defined(__alpha__)
#define __NR_setxattrat 573
#define __NR_getxattrat 574
#define __NR_listxattrat 575
#define __NR_removexattrat 576
#else
#define __NR_setxattrat 463
#define __NR_getxattrat 464
#define __NR_listxattrat 465
#define __NR_removexattrat 466
#endif
#endif

struct xa_args {
	uint64_t value;
	uint32_t size;
	uint32_t flags;
};

static struct xa_args xa_args(const void *value, size_t size, int flags)
{
	return (struct xa_args){
		.value = (uintptr_t)value,
		.size = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size,
		.flags = (uint32_t)flags,
	};
}

/* True when a *xattrat call gave the answer (into @ret), false: use /proc. */
static bool at_done(long n, ssize_t *ret)
{
	if (n >= 0) {
		*ret = n;
		return true;
	}
	if (errno == ENOSYS || errno == EPERM)
		return false;
	*ret = -errno;
	return true;
}

/*
 * xattr calls on (dirfd, name), no symlink followed: on the fd itself when
 * there is no name (cheapest; an O_PATH fd refuses them with EBADF), else
 * through the *xattrat calls or the fd's /proc magic link. Return -errno on
 * failure.
 */
static ssize_t xa_get(int dirfd, const char *name, const char *xn, void *buf,
		      size_t size)
{
	struct xa_args a = xa_args(buf, size, 0);
	char p[512];
	ssize_t n;

	if (fd_only(name)) {
		n = fgetxattr(dirfd, xn, buf, size);
		if (n >= 0 || errno != EBADF)
			return n < 0 ? -errno : n;
	}
	if (!fd_only(name) &&
	    at_done(syscall(__NR_getxattrat, dirfd, name, AT_SYMLINK_NOFOLLOW,
			    xn, &a, sizeof(a)),
		    &n))
		return n;
	if (proc_path(dirfd, name, p, sizeof(p)) < 0)
		return -ENAMETOOLONG;
	n = (fd_only(name) ? getxattr : lgetxattr)(p, xn, buf, size);
	return n < 0 ? -errno : n;
}

static ssize_t xa_list(int dirfd, const char *name, char *buf, size_t size)
{
	char p[512];
	ssize_t n;

	if (!fd_only(name) && at_done(syscall(__NR_listxattrat, dirfd, name,
					      AT_SYMLINK_NOFOLLOW, buf, size),
				      &n))
		return n;
	if (proc_path(dirfd, name, p, sizeof(p)) < 0)
		return -ENAMETOOLONG;
	n = (fd_only(name) ? listxattr : llistxattr)(p, buf, size);
	return n < 0 ? -errno : n;
}

static int xa_set(int dirfd, const char *name, const char *xn,
		  const void *value, size_t size, int flags)
{
	struct xa_args a = xa_args(value, size, flags);
	char p[512];
	ssize_t n;

	if (fd_only(name)) {
		if (fsetxattr(dirfd, xn, value, size, flags) == 0)
			return 0;
		if (errno != EBADF)
			return -errno;
	}
	if (!fd_only(name) &&
	    at_done(syscall(__NR_setxattrat, dirfd, name, AT_SYMLINK_NOFOLLOW,
			    xn, &a, sizeof(a)),
		    &n))
		return (int)n;
	if (proc_path(dirfd, name, p, sizeof(p)) < 0)
		return -ENAMETOOLONG;
	return (fd_only(name) ? setxattr : lsetxattr)(p, xn, value, size,
						      flags) < 0 ?
		       -errno :
		       0;
}

static int xa_remove(int dirfd, const char *name, const char *xn)
{
	char p[512];
	ssize_t n;

	if (fd_only(name)) {
		if (fremovexattr(dirfd, xn) == 0)
			return 0;
		if (errno != EBADF)
			return -errno;
	}
	if (!fd_only(name) && at_done(syscall(__NR_removexattrat, dirfd, name,
					      AT_SYMLINK_NOFOLLOW, xn),
				      &n))
		return (int)n;
	if (proc_path(dirfd, name, p, sizeof(p)) < 0)
		return -ENAMETOOLONG;
	return (fd_only(name) ? removexattr : lremovexattr)(p, xn) < 0 ?
		       -errno :
		       0;
}

ssize_t ovl_upper_getxa(int dirfd, const char *name, enum ovl_xa which,
			bool user, char *buf, size_t size)
{
	for (int k = 0; k < (user ? 2 : 1); k++) {
		ssize_t n = xa_get(dirfd, name, xa_names[which][k], buf, size);

		if (n >= 0)
			return n;
		if (n != -ENODATA && n != -EPERM && n != -ENOTSUP)
			return n;
	}
	return -ENODATA;
}

int ovl_upper_setxa(const struct ovl_upper *u, int dirfd, const char *name,
		    enum ovl_xa which, const char *value, size_t size)
{
	return xa_set(dirfd, name, xa_names[which][u->privileged ? 0 : 1],
		      value, size, 0);
}

unsigned ovl_upper_xa_present(int dirfd, const char *name, bool user)
{
	char buf[2048];
	ssize_t n = xa_list(dirfd, name, buf, sizeof(buf));
	unsigned mask = 0;

	if (n < 0 || (n > 0 && buf[n - 1] != '\0'))
		return OVL_XA_ALL;
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1) {
		for (size_t w = 0; w < DM_ARRAY_SIZE(xa_names); w++)
			if (!strcmp(buf + i, xa_names[w][0]) ||
			    (user && !strcmp(buf + i, xa_names[w][1])))
				mask |= 1u << w;
	}
	return mask;
}

int ovl_upper_rmxa(int dirfd, const char *name, enum ovl_xa which)
{
	for (int k = 0; k < 2; k++) {
		int r = xa_remove(dirfd, name, xa_names[which][k]);

		if (r < 0 && r != -ENODATA && r != -EPERM && r != -ENOTSUP)
			return r;
	}
	return 0;
}

/*
 * The overlay's own xattr namespaces. A user's xattr whose name falls in
 * one is stored escaped, one level deeper ("trusted.overlay.X" as
 * "trusted.overlay.overlay.X", as kernel overlayfs does), so it neither
 * collides with the encoding nor gets lost on copy-up.
 */
static const struct {
	const char *prefix;
	const char *escaped;
} private_ns[] = {
	{ "trusted.overlay.", "trusted.overlay.overlay." },
	{ "user.overlay.", "user.overlay.overlay." },
	{ "trusted.domufs.", "trusted.domufs.domufs." },
	{ "user.domufs.", "user.domufs.domufs." },
	{ "user.containers.", "user.containers.containers." },
};

bool ovl_upper_private_xattr(const char *name)
{
	for (size_t i = 0; i < DM_ARRAY_SIZE(private_ns); i++)
		if (!strncmp(name, private_ns[i].prefix,
			     strlen(private_ns[i].prefix)))
			return true;
	return false;
}

/* The stored name of a visible xattr name (escaped if private). */
static int escape(const char *name, char *buf, size_t size)
{
	for (size_t i = 0; i < DM_ARRAY_SIZE(private_ns); i++) {
		size_t pl = strlen(private_ns[i].prefix);

		if (!strncmp(name, private_ns[i].prefix, pl)) {
			int n = snprintf(buf, size, "%s%s",
					 private_ns[i].escaped, name + pl);

			return n < 0 || (size_t)n >= size ? -ERANGE : 0;
		}
	}
	if (strlen(name) >= size)
		return -ERANGE;
	strcpy(buf, name);
	return 0;
}

/* The visible name of a stored one into @buf; false: hidden (ours). */
static bool unescape(const char *stored, char *buf, size_t size)
{
	for (size_t i = 0; i < DM_ARRAY_SIZE(private_ns); i++) {
		size_t el = strlen(private_ns[i].escaped);

		if (!strncmp(stored, private_ns[i].escaped, el)) {
			snprintf(buf, size, "%s%s", private_ns[i].prefix,
				 stored + el);
			return true;
		}
	}
	if (ovl_upper_private_xattr(stored))
		return false;
	snprintf(buf, size, "%s", stored);
	return true;
}

ssize_t ovl_upper_listxattr(int dirfd, const char *name, char *buf, size_t size)
{
	_cleanup_free_ char *raw = NULL;
	ssize_t n, out = 0;

	n = xa_list(dirfd, name, NULL, 0);
	if (n < 0)
		return n;
	raw = malloc((size_t)n + 1);
	if (!raw)
		return -ENOMEM;
	n = xa_list(dirfd, name, raw, (size_t)n);
	if (n < 0)
		return n;
	for (ssize_t i = 0; i < n;) {
		size_t len = strlen(raw + i) + 1;
		char vis[XATTR_NAME_MAX + 1];

		if (unescape(raw + i, vis, sizeof(vis))) {
			size_t vl = strlen(vis) + 1;

			if (size) {
				if ((size_t)out + vl > size)
					return -ERANGE;
				memcpy(buf + out, vis, vl);
			}
			out += (ssize_t)vl;
		}
		i += (ssize_t)len;
	}
	return out;
}

ssize_t ovl_upper_getxattr(int dirfd, const char *name, const char *xname,
			   void *buf, size_t size)
{
	char stored[XATTR_NAME_MAX + 1];

	if (escape(xname, stored, sizeof(stored)) < 0)
		return -ENODATA;
	return xa_get(dirfd, name, stored, buf, size);
}

int ovl_upper_setxattr(int dirfd, const char *name, const char *xname,
		       const void *value, size_t size, int flags)
{
	char stored[XATTR_NAME_MAX + 1];

	if (escape(xname, stored, sizeof(stored)) < 0)
		return -ERANGE;
	return xa_set(dirfd, name, stored, value, size, flags);
}

int ovl_upper_removexattr(int dirfd, const char *name, const char *xname)
{
	char stored[XATTR_NAME_MAX + 1];

	if (escape(xname, stored, sizeof(stored)) < 0)
		return -ENODATA;
	return xa_remove(dirfd, name, stored);
}

void ovl_upper_apply_override(const struct ovl_upper *u, int dirfd,
			      const char *name, struct stat *st)
{
	char buf[128], type[64];
	unsigned uid, gid, mode, maj, min;
	ssize_t n = ovl_upper_getxa(dirfd, name, OVL_XA_OVERRIDE,
				    ovl_upper_user_ok(u, st), buf,
				    sizeof(buf) - 1);

	if (n <= 0)
		return;
	buf[n] = '\0';
	if (sscanf(buf, "%u:%u:%o:%63s", &uid, &gid, &mode, type) < 3)
		return;
	st->st_uid = uid;
	st->st_gid = gid;
	st->st_mode = (st->st_mode & S_IFMT) | (mode & 07777);
	if (sscanf(buf, "%*u:%*u:%*o:%63s", type) != 1)
		return;
	if (sscanf(type, "char-%u-%u", &maj, &min) == 2) {
		st->st_mode = S_IFCHR | (mode & 07777);
		st->st_rdev = makedev(maj, min);
		st->st_size = 0;
	} else if (sscanf(type, "block-%u-%u", &maj, &min) == 2) {
		st->st_mode = S_IFBLK | (mode & 07777);
		st->st_rdev = makedev(maj, min);
		st->st_size = 0;
	} else if (!strcmp(type, "pipe")) {
		st->st_mode = S_IFIFO | (mode & 07777);
		st->st_size = 0;
	} else if (!strcmp(type, "socket")) {
		st->st_mode = S_IFSOCK | (mode & 07777);
		st->st_size = 0;
	}
}

int ovl_upper_set_override(const struct ovl_upper *u, int dirfd,
			   const char *name, uid_t uid, gid_t gid, mode_t mode,
			   dev_t rdev)
{
	char buf[128];
	const char *t;
	char dev[64];
	int n;

	switch (mode & S_IFMT) {
	case S_IFDIR:
		t = "dir";
		break;
	case S_IFLNK:
		t = "symlink";
		break;
	case S_IFIFO:
		t = "pipe";
		break;
	case S_IFSOCK:
		t = "socket";
		break;
	case S_IFCHR:
	case S_IFBLK:
		snprintf(dev, sizeof(dev), "%s-%u-%u",
			 S_ISCHR(mode) ? "char" : "block", major(rdev),
			 minor(rdev));
		t = dev;
		break;
	default:
		t = "file";
	}
	n = snprintf(buf, sizeof(buf), "%u:%u:%04o:%s", (unsigned)uid,
		     (unsigned)gid, (unsigned)(mode & 07777), t);
	return ovl_upper_setxa(u, dirfd, name, OVL_XA_OVERRIDE, buf, (size_t)n);
}
