// SPDX-License-Identifier: LGPL-2.1-or-later
/* A small multiply-xorshift hash: 8 bytes a step, tail folded in. */
#include "common/hash.h"

#include <string.h>

static inline uint64_t fmix(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ULL;
	k ^= k >> 33;
	return k;
}

uint64_t dm_hash64(const void *data, size_t len, uint64_t seed)
{
	const unsigned char *p = data;
	uint64_t h = seed ^ (len * 0x9e3779b97f4a7c15ULL);
	uint64_t a = 0x243f6a8885a308d3ULL, b = 0x13198a2e03707344ULL;

	while (len >= 16) {
		uint64_t k1, k2;

		memcpy(&k1, p, 8);
		memcpy(&k2, p + 8, 8);
		a = (a ^ k1) * 0x87c37b91114253d5ULL;
		a = (a << 31) | (a >> 33);
		b = (b ^ k2) * 0x4cf5ad432745937fULL;
		b = (b << 29) | (b >> 35);
		p += 16;
		len -= 16;
	}
	while (len >= 8) {
		uint64_t k;

		memcpy(&k, p, 8);
		a = (a ^ k) * 0x87c37b91114253d5ULL;
		a = (a << 31) | (a >> 33);
		p += 8;
		len -= 8;
	}
	if (len) {
		uint64_t k = 0;

		memcpy(&k, p, len);
		b = (b ^ k) * 0x4cf5ad432745937fULL;
	}
	return fmix(h ^ fmix(a) ^ (fmix(b) * 3));
}
