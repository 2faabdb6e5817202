/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Files replaced whole: written under a temporary name beside their final
 * path (".NAME.domufs-XXXXXX", so a reader of the directory sees the old
 * file or the new one, never half of it) and renamed over it once synced.
 * Errors fill a dm_err with one line naming @path.
 */
#ifndef DM_ATOMIC_H
#define DM_ATOMIC_H

#include <stddef.h>
#include <sys/types.h>

#include "common/err.h"

/* 0666 less the process's umask: what open(O_CREAT, 0666) would give. */
mode_t dm_file_mode(void);

/*
 * Creates the temporary for @path with permission bits @mode; its name
 * goes into @tmp (@size bytes). A symbolic link @path is followed: the
 * file it leads to is replaced, the link stays. An existing @path that is
 * not a regular file (a device, a FIFO, /dev/stdout on a pipe or a
 * terminal) is refused with -EINVAL, and so is a link to nothing. Returns
 * the fd (O_CLOEXEC) or -errno; on error @tmp is the empty string and
 * nothing is left behind.
 */
int dm_atomic_create(const char *path, mode_t mode, char *tmp, size_t size,
		     struct dm_err *err);

/*
 * Syncs @fd, renames @tmp over @path and syncs the directory (best
 * effort). Returns 0 or -errno; @tmp is then the empty string on success
 * and still names the temporary (for the caller to unlink) on failure.
 */
int dm_atomic_commit(int fd, char *tmp, const char *path, struct dm_err *err);

#endif
