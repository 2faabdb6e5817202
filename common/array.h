/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Arrays that grow by doubling. */
#ifndef DM_ARRAY_H
#define DM_ARRAY_H

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

/*
 * Room for one more element in the array *@v (void ** of any T *) of
 * *@cap elements of @size bytes, @n of them in use: doubled when full,
 * @first elements to begin with. 0, or -ENOMEM with the array as it was.
 */
static inline int dm_grow(void **v, size_t *cap, size_t n, size_t size,
			  size_t first)
{
	size_t c;
	void *q;

	if (n < *cap)
		return 0;
	c = *cap ? 2 * *cap : first;
	q = reallocarray(*v, c, size);
	if (!q)
		return -ENOMEM;
	*v = q;
	*cap = c;
	return 0;
}

#endif
