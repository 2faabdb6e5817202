// SPDX-License-Identifier: LGPL-2.1-or-later
#include "common/strv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int dm_strv_push(char ***v, uint64_t *n, uint64_t *cap, const char *s)
{
	if (*n == *cap) {
		uint64_t c = *cap ? *cap * 2 : 32;
		char **q = reallocarray(*v, c, sizeof(*q));

		if (!q)
			return -ENOMEM;
		*v = q;
		*cap = c;
	}
	(*v)[*n] = strdup(s);
	if (!(*v)[*n])
		return -ENOMEM;
	(*n)++;
	return 0;
}
