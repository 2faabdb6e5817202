/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small reads of /sys and /proc shared by the modules that look at devices. */
#ifndef DM_SYSFS_H
#define DM_SYSFS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* The first line of @path, without its newline: 0 or -errno (-EIO: empty). */
int dm_read_line(const char *path, char *buf, size_t size);

/*
 * The backing file of the loop device @rdev, stat()ed into *ret: true when
 * @rdev is a loop device and its backing file (a regular file, or a block
 * device such as another loop device) exists. Callers check its type.
 */
bool dm_loop_backing(dev_t rdev, struct stat *ret);

#endif
