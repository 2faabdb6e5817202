// SPDX-License-Identifier: LGPL-2.1-or-later
/* Member-name normalization. Pure string work; never touches the host. */
#include "common/path.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int dm_path_normalize(const char *in, char **ret, unsigned *ret_flags)
{
	size_t len = strlen(in);
	unsigned flags = 0;
	char *out = malloc(len + 1);
	size_t o = 0;
	const char *p = in;

	if (!out)
		return -ENOMEM;
	if (*p == '/')
		flags |= DM_PATH_ABSOLUTE;
	while (*p) {
		const char *start;
		size_t clen;

		while (*p == '/')
			p++;
		start = p;
		while (*p && *p != '/')
			p++;
		clen = (size_t)(p - start);
		if (clen == 0 || (clen == 1 && start[0] == '.'))
			continue;
		if (clen == 2 && start[0] == '.' && start[1] == '.')
			flags |= DM_PATH_DOTDOT;
		if (o)
			out[o++] = '/';
		memcpy(out + o, start, clen);
		o += clen;
	}
	out[o] = '\0';
	if (o == 0)
		flags |= DM_PATH_ROOT;
	*ret = out;
	if (ret_flags)
		*ret_flags = flags;
	return 0;
}
