/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Growable arrays of malloc'd strings. */
#ifndef DM_STRV_H
#define DM_STRV_H

#include <stdint.h>

/*
 * Appends a copy of @s to the array *@v of *@n strings (room for *@cap),
 * growing it as needed. Returns 0 or -ENOMEM (the array unchanged).
 */
int dm_strv_push(char ***v, uint64_t *n, uint64_t *cap, const char *s);

#endif
