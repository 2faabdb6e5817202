// SPDX-License-Identifier: LGPL-2.1-or-later
/* Files replaced whole through a temporary beside them (see atomic.h). */
#include "common/atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/cleanup.h"

mode_t dm_file_mode(void)
{
	mode_t mask = umask(0);

	umask(mask);
	return 0666 & ~mask;
}

/*
 * The file a replacement of @path replaces: @path itself, or where the
 * symbolic link @path leads (the link stays, as with cp or tee: renaming
 * over it would put a file in place of the link, of /dev/stdout even).
 * Refuses a link to nothing and anything not a regular file (a device, a
 * FIFO, a directory), which a rename would replace by a file.
 */
static int target_of(const char *path, char **ret, struct dm_err *err)
{
	struct stat st = { 0 };
	char *real;

	*ret = NULL;
	if (lstat(path, &st) < 0) {
		if (errno != ENOENT)
			return dm_err_set(err, errno, "%s: %s", path,
					  strerror(errno));
		real = strdup(path); /* a new file */
	} else if (S_ISLNK(st.st_mode)) {
		/* (a pipe behind /dev/stdout has no path: stat() tells) */
		if (stat(path, &st) < 0)
			return dm_err_set(
				err, errno, "%s: a symbolic link to %s", path,
				errno == ENOENT ? "nothing" : strerror(errno));
		real = S_ISREG(st.st_mode) ? realpath(path, NULL) : NULL;
		if (!real && S_ISREG(st.st_mode))
			return dm_err_set(err, errno, "%s: %s", path,
					  strerror(errno));
	} else {
		real = strdup(path);
	}
	if (st.st_mode && !S_ISREG(st.st_mode)) {
		free(real);
		return dm_err_set(err, EINVAL,
				  "%s: not a regular file (it would be "
				  "replaced by one)",
				  path);
	}
	if (!real)
		return dm_err_set(err, ENOMEM, "%s: %s", path,
				  strerror(ENOMEM));
	*ret = real;
	return 0;
}

/*
 * The temporary's name beside @real: ".NAME.domufs-XXXXXX", or
 * ".domufs-XXXXXX" where NAME is too long for that to fit NAME_MAX.
 */
static int tmp_name(const char *real, char *tmp, size_t size)
{
	_cleanup_free_ char *d1 = strdup(real), *d2 = strdup(real);
	const char *base;
	int r;

	if (!d1 || !d2)
		return -ENOMEM;
	base = basename(d2);
	if (strlen(base) + sizeof(".domufs-XXXXXX") > NAME_MAX)
		base = "";
	r = snprintf(tmp, size, "%s/.%s%sdomufs-XXXXXX", dirname(d1), base,
		     *base ? "." : "");
	return r < 0 || (size_t)r >= size ? -ENAMETOOLONG : 0;
}

/*
 * What of the file @real it replaces the new file @fd keeps: its owner and
 * group (where this process may give them), permission bits and ACL. Best
 * effort: a new file stays as it was made.
 */
static void keep_attributes(int fd, const char *real)
{
	struct stat st;
	char acl[4096];
	ssize_t n;

	if (stat(real, &st) < 0)
		return;
	(void)fchown(fd, st.st_uid, st.st_gid);
	(void)fchmod(fd, st.st_mode & 07777);
	n = getxattr(real, "system.posix_acl_access", acl, sizeof(acl));
	if (n > 0)
		(void)fsetxattr(fd, "system.posix_acl_access", acl, (size_t)n,
				0);
}

int dm_atomic_create(const char *path, mode_t mode, char *tmp, size_t size,
		     struct dm_err *err)
{
	_cleanup_free_ char *real = NULL, *d = NULL;
	int fd, r;

	tmp[0] = '\0';
	r = target_of(path, &real, err);
	if (r < 0)
		return r;
	d = strdup(real);
	if (!d)
		return dm_err_set(err, ENOMEM, "%s: %s", path,
				  strerror(ENOMEM));
	/* no name until it is complete: a killed writer leaves nothing */
	fd = open(dirname(d), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 && errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return dm_err_set(err, errno,
				  "%s: creating a temporary file: %s", path,
				  strerror(errno));
	if (fd < 0) {
		/* a file system without O_TMPFILE: a named temporary */
		r = tmp_name(real, tmp, size);
		if (r < 0)
			return dm_err_set(err, -r, "%s: %s", path,
					  strerror(-r));
		fd = mkostemp(tmp, O_CLOEXEC);
		if (fd < 0) {
			r = errno;
			tmp[0] = '\0';
			return dm_err_set(err, r,
					  "%s: creating a temporary file: %s",
					  path, strerror(r));
		}
	}
	if (fchmod(fd, mode & 07777) < 0) {
		r = errno;
		close(fd);
		if (tmp[0])
			unlink(tmp);
		tmp[0] = '\0';
		return dm_err_set(err, r, "%s: %s", path, strerror(r));
	}
	keep_attributes(fd, real);
	return fd;
}

/* Replaces the trailing "XXXXXX" of @tmp by random letters and digits. */
static void fill_x(char *tmp)
{
	static const char set[] = "abcdefghijklmnopqrstuvwxyz"
				  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	unsigned char rnd[6];
	char *x = tmp + strlen(tmp) - 6;

	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		for (size_t i = 0; i < sizeof(rnd); i++)
			rnd[i] = (unsigned char)(rand() ^ getpid());
	for (size_t i = 0; i < sizeof(rnd); i++)
		x[i] = set[rnd[i] % (sizeof(set) - 1)];
}

/*
 * Names the unnamed file @fd @to, never replacing a file of that name
 * (EEXIST): through /proc/self/fd (any user), or AT_EMPTY_PATH
 * (privileged) without /proc. 0 or -1 with errno set.
 */
static int link_fd(int fd, const char *to)
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, to, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	if (errno != ENOENT)
		return -1;
	return linkat(fd, "", AT_FDCWD, to, AT_EMPTY_PATH);
}

/* Renames @tmp to @real unless @real exists (EEXIST). 0 or -1, errno. */
static int rename_noreplace(const char *tmp, const char *real)
{
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, real, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* a file system without RENAME_NOREPLACE: link() never replaces */
	if (link(tmp, real) < 0)
		return -1;
	(void)unlink(tmp);
	return 0;
}

/*
 * Puts the synced temporary @fd (@tmp: its name, or "") in place at
 * @real as @ex expects; 1 when done (@tmp then ""), 0 when there is
 * nothing to expect, or -errno.
 */
static int place_expected(int fd, char *tmp, const char *real, const char *path,
			  const struct dm_atomic_expect *ex, struct dm_err *err)
{
	struct stat st;
	int r;

	if (!ex)
		return 0;
	if (ex->exists) {
		if (stat(real, &st) == 0 && st.st_dev == ex->dev &&
		    st.st_ino == ex->ino)
			return 0;
		return dm_err_set(err, EEXIST,
				  "%s: replaced meanwhile by someone else; "
				  "not overwritten",
				  path);
	}
	r = tmp[0] ? rename_noreplace(tmp, real) : link_fd(fd, real);
	if (r < 0 && errno == EEXIST)
		return dm_err_set(err, EEXIST,
				  "%s: created meanwhile by someone else; use "
				  "--force",
				  path);
	if (r < 0)
		return dm_err_set(err, errno, "%s: putting it in place: %s",
				  path, strerror(errno));
	tmp[0] = '\0';
	return 1;
}

/*
 * Gives the unnamed temporary @fd a name beside @real, into @tmp (linkat()
 * fails on a name taken: another is tried): through /proc/self/fd (any
 * user), or AT_EMPTY_PATH (privileged) without /proc.
 */
static int link_tmpfile(int fd, const char *real, char *tmp, size_t size)
{
	int r;

	for (int tries = 0; tries < 100; tries++) {
		r = tmp_name(real, tmp, size);
		if (r < 0)
			return r;
		fill_x(tmp);
		if (link_fd(fd, tmp) == 0)
			return 0;
		if (errno != EEXIST)
			break;
	}
	r = -errno;
	tmp[0] = '\0';
	return r;
}

int dm_atomic_commit(int fd, char *tmp, const char *path, struct dm_err *err)
{
	return dm_atomic_commit_expect(fd, tmp, path, NULL, err);
}

int dm_atomic_commit_expect(int fd, char *tmp, const char *path,
			    const struct dm_atomic_expect *ex,
			    struct dm_err *err)
{
	_cleanup_free_ char *real = NULL, *d = NULL;
	_cleanup_close_ int dfd = -1;
	int r;

	if (fsync(fd) < 0)
		return dm_err_set(err, errno, "%s: syncing: %s", path,
				  strerror(errno));
	r = target_of(path, &real, err); /* what dm_atomic_create() found */
	if (r < 0)
		return r;
	r = place_expected(fd, tmp, real, path, ex, err);
	if (r < 0)
		return r;
	if (r > 0)
		goto placed;
	if (!tmp[0]) {
		r = link_tmpfile(fd, real, tmp, PATH_MAX);
		if (r < 0)
			return dm_err_set(err, -r,
					  "%s: naming the new file: %s", path,
					  strerror(-r));
	}
	if (rename(tmp, real) < 0)
		return dm_err_set(err, errno, "%s: renaming %s into place: %s",
				  path, tmp, strerror(errno));
	tmp[0] = '\0';
placed:
	/* the new name itself lasts once the directory is synced */
	d = strdup(real);
	if (d) {
		dfd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0)
			(void)fsync(dfd);
	}
	return 0;
}
