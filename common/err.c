// SPDX-License-Identifier: LGPL-2.1-or-later
/* Error records and warnings; formatting only, never prints. */
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void sanitize_line(char *s)
{
	/* One line: member names may carry newlines and control bytes. */
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

int dm_err_set(struct dm_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (code < 0)
		code = -code;
	if (!err)
		return -code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	sanitize_line(err->msg);
	return -code;
}

void dm_warn(dm_warn_fn fn, void *ctx, const char *fmt, ...)
{
	char fixed[1024], *buf = fixed;
	va_list ap;

	if (!fn)
		return;
	/* whole, however long the names in it: the reason comes last */
	va_start(ap, fmt);
	if (vasprintf(&buf, fmt, ap) < 0) {
		buf = fixed;
		snprintf(fixed, sizeof(fixed), "%s (out of memory)", fmt);
	}
	va_end(ap);
	sanitize_line(buf);
	fn(ctx, buf);
	if (buf != fixed)
		free(buf);
}
