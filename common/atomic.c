// SPDX-License-Identifier: LGPL-2.1-or-later
/* Files replaced whole through a temporary beside them (see atomic.h). */
#include "common/atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

int dm_atomic_create(const char *path, mode_t mode, char *tmp, size_t size,
		     struct dm_err *err)
{
	_cleanup_free_ char *real = NULL, *d1 = NULL, *d2 = NULL;
	int fd, r;

	tmp[0] = '\0';
	r = target_of(path, &real, err);
	if (r < 0)
		return r;
	d1 = strdup(real);
	d2 = strdup(real);
	if (!d1 || !d2)
		return dm_err_set(err, ENOMEM, "%s: %s", path,
				  strerror(ENOMEM));
	r = snprintf(tmp, size, "%s/.%s.domufs-XXXXXX", dirname(d1),
		     basename(d2));
	if (r < 0 || (size_t)r >= size) {
		tmp[0] = '\0';
		return dm_err_set(err, ENAMETOOLONG, "%s: name too long", path);
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = errno;
		tmp[0] = '\0';
		return dm_err_set(err, r, "%s: creating a temporary file: %s",
				  path, strerror(r));
	}
	if (fchmod(fd, mode & 07777) < 0) {
		r = errno;
		close(fd);
		unlink(tmp);
		tmp[0] = '\0';
		return dm_err_set(err, r, "%s: %s", path, strerror(r));
	}
	return fd;
}

int dm_atomic_commit(int fd, char *tmp, const char *path, struct dm_err *err)
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
	if (rename(tmp, real) < 0)
		return dm_err_set(err, errno, "%s: renaming %s into place: %s",
				  path, tmp, strerror(errno));
	tmp[0] = '\0';
	/* the new name itself lasts once the directory is synced */
	d = strdup(real);
	if (d) {
		dfd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0)
			(void)fsync(dfd);
	}
	return 0;
}
