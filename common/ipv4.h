/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* IPv4 dotted quads, as profiles give them. */
#ifndef DM_IPV4_H
#define DM_IPV4_H

#include <stdbool.h>

/*
 * Whether the dotted quads @a and @b share their first @prefix bits (one
 * subnet of that length; @prefix over 32 counts as 32). False when either
 * is no address.
 */
bool dm_ipv4_same_subnet(const char *a, const char *b, unsigned prefix);

#endif
