// SPDX-License-Identifier: LGPL-2.1-or-later
#include "common/ipv4.h"

#include <arpa/inet.h>
#include <stdint.h>

bool dm_ipv4_same_subnet(const char *a, const char *b, unsigned prefix)
{
	struct in_addr x, y;
	uint32_t mask = prefix >= 32 ? UINT32_MAX :
			prefix	     ? ~(UINT32_MAX >> prefix) :
				       0;

	if (!a || !b || inet_pton(AF_INET, a, &x) != 1 ||
	    inet_pton(AF_INET, b, &y) != 1)
		return false;
	return ((ntohl(x.s_addr) ^ ntohl(y.s_addr)) & mask) == 0;
}
