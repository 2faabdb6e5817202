/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An error record: a negative errno plus one line of text naming the file or
 * member concerned. Library modules fill it and return -errno; only the CLI
 * and the FUSE front end print it.
 */
#ifndef DM_ERR_H
#define DM_ERR_H

#include <stddef.h>

struct dm_err {
	int code; /* positive errno, 0 when unset */
	char msg[1024]; /* one line, no trailing newline */
};

/* Records the message (printf format) and returns -code. NULL-safe on err. */
int dm_err_set(struct dm_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A warning sink: modules report non-fatal findings through it. */
typedef void (*dm_warn_fn)(void *ctx, const char *msg);

void dm_warn(dm_warn_fn fn, void *ctx, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
