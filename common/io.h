/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Whole writes: what a short write() leaves to its caller, done. */
#ifndef DM_IO_H
#define DM_IO_H

#include <stddef.h>
#include <stdint.h>

/*
 * Writes all @len bytes of @buf at @off of @fd, going on after short
 * writes and EINTR. 0, or -errno of the write that failed (-ENOSPC for a
 * full filesystem, whatever part went in before it).
 */
int dm_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);

#endif
