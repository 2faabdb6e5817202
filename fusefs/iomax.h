/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The largest payload of one request or reply: READ and WRITE sizes (the
 * kernel's max_pages follows max_write), the read-ahead window, and each
 * page-cache store of the read-ahead across files.
 *
 * libfuse splices a file's data into the device through a pipe, which must
 * hold the payload, its headers and a few pages of slack; an unprivileged
 * process (or root without CAP_SYS_RESOURCE, as in most containers) cannot
 * grow a pipe beyond /proc/sys/fs/pipe-max-size, 1 MiB by default, and
 * libfuse then copies the data through a buffer instead: a read and a write
 * of every byte more. 960 KiB leaves 64 KiB for the rest.
 */
#ifndef FLL_IOMAX_H
#define FLL_IOMAX_H

#define FLL_IO_MAX (960u << 10)

#endif
