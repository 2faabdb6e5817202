// SPDX-License-Identifier: LGPL-2.1-or-later
/* Whole writes (see io.h). */
#include "common/io.h"

#include <errno.h>
#include <sys/types.h>
#include <unistd.h>

int dm_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}
