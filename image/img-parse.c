// SPDX-License-Identifier: LGPL-2.1-or-later
/* The small parsers the CLI needs for commit's options. Pure. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "image/img.h"

int img_parse_size(const char *s, uint64_t *ret)
{
	unsigned shift = 0;
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	case 't':
	case 'T':
		shift = 40;
		break;
	default:
		return -EINVAL;
	}
	if (*end) {
		end++;
		if (!strcmp(end, "iB") || !strcmp(end, "B"))
			end += strlen(end);
		if (*end)
			return -EINVAL;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*ret = (uint64_t)v << shift;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int img_parse_uuid(const char *s, uint8_t ret[16])
{
	static const int dash[] = { 8, 13, 18, 23 };
	uint8_t out[16];
	size_t o = 0;

	if (strlen(s) != 36)
		return -EINVAL;
	for (size_t i = 0; i < 36;) {
		bool is_dash = false;
		int hi, lo;

		for (size_t k = 0; k < 4; k++)
			is_dash |= (size_t)dash[k] == i;
		if (is_dash) {
			if (s[i] != '-')
				return -EINVAL;
			i++;
			continue;
		}
		hi = hexval(s[i]);
		lo = hexval(s[i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[o++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	memcpy(ret, out, 16);
	return 0;
}
