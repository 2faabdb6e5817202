/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Non-cryptographic hashing for hash tables, cache keys and checksums. */
#ifndef DM_HASH_H
#define DM_HASH_H

#include <stddef.h>
#include <stdint.h>

/* 64-bit hash of a byte range, seeded; word-at-a-time, fast on large input. */
uint64_t dm_hash64(const void *data, size_t len, uint64_t seed);

/* Mixes one 64-bit value into a running hash. */
static inline uint64_t dm_hash_mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 29;
	return h;
}

/*
 * FNV-1a, 64 bits: for values derived from names that must stay the same
 * across releases (a domain's MAC, its cloud-init instance-id), unlike
 * dm_hash64(), which only has to be stable within one cache format. Start
 * from DM_FNV1A64_INIT; feeding pieces one after the other hashes their
 * concatenation.
 */
#define DM_FNV1A64_INIT 0xcbf29ce484222325ULL

static inline uint64_t dm_fnv1a64(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

#endif
