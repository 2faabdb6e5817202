// SPDX-License-Identifier: LGPL-2.1-or-later
/* Member-name normalization and mountinfo unescaping. Pure string work. */
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

void dm_path_unescape_octal(char *s)
{
	char *w = s;

	for (; *s; s++, w++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*w = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 |
				    (s[3] - '0'));
			s += 3;
		} else {
			*w = *s;
		}
	}
	*w = '\0';
}
