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

int dm_atomic_create(const char *path, mode_t mode, char *tmp, size_t size,
		     struct dm_err *err)
{
	_cleanup_free_ char *d1 = strdup(path), *d2 = strdup(path);
	struct stat st;
	int fd, r;

	tmp[0] = '\0';
	if (!d1 || !d2)
		return dm_err_set(err, ENOMEM, "%s: %s", path,
				  strerror(ENOMEM));
	/*
	 * The rename would put a file in place of a device, a FIFO or a
	 * directory's name (or of /dev/stdout, a link to one): refused.
	 */
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return dm_err_set(err, EINVAL,
				  "%s: not a regular file (it would be "
				  "replaced by one)",
				  path);
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
	_cleanup_free_ char *d = NULL;
	_cleanup_close_ int dfd = -1;

	if (fsync(fd) < 0)
		return dm_err_set(err, errno, "%s: syncing: %s", path,
				  strerror(errno));
	if (rename(tmp, path) < 0)
		return dm_err_set(err, errno, "%s: renaming %s into place: %s",
				  path, tmp, strerror(errno));
	tmp[0] = '\0';
	/* the new name itself lasts once the directory is synced */
	d = strdup(path);
	if (d) {
		dfd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0)
			(void)fsync(dfd);
	}
	return 0;
}
