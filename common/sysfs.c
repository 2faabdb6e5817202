// SPDX-License-Identifier: LGPL-2.1-or-later
/* Small reads of /sys and /proc (see sysfs.h). */
#include "common/sysfs.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "common/cleanup.h"

int dm_read_line(const char *path, char *buf, size_t size)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return -errno;
	if (!fgets(buf, (int)size, f))
		return -EIO;
	n = strlen(buf);
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	return 0;
}

bool dm_loop_backing(dev_t rdev, struct stat *ret)
{
	char p[96], file[PATH_MAX];

	snprintf(p, sizeof(p), "/sys/dev/block/%u:%u/loop/backing_file",
		 major(rdev), minor(rdev));
	return dm_read_line(p, file, sizeof(file)) == 0 && stat(file, ret) == 0;
}
