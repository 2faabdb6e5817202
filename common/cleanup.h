/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Cleanup attributes for locals, in the systemd manner: a variable declared
 * _cleanup_free_ is freed when it leaves scope; TAKE_PTR/TAKE_FD hand the
 * value on and disarm the cleanup. No third-party headers here.
 */
#ifndef DM_CLEANUP_H
#define DM_CLEANUP_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void dm_freep(void *p)
{
	free(*(void **)p);
}

static inline void dm_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

static inline void dm_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

#define _cleanup_free_ _cleanup_(dm_freep)
#define _cleanup_close_ _cleanup_(dm_closep)
#define _cleanup_fclose_ _cleanup_(dm_fclosep)

#define TAKE_PTR(p)                        \
	({                                 \
		__typeof__(p) _ptr_ = (p); \
		(p) = NULL;                \
		_ptr_;                     \
	})

#define TAKE_FD(fd)              \
	({                       \
		int _fd_ = (fd); \
		(fd) = -1;       \
		_fd_;            \
	})

#define DM_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
