// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The classic DOS partition table: 446 bytes of (empty) boot code, the NT
 * disk signature at 440, four 16-byte entries at 446, 0x55 0xAA at 510.
 * Pure encoding; the caller writes the sector.
 */
#include <errno.h>
#include <string.h>

#include "image/img-internal.h"

#define HEADS 255u
#define SECTORS 63u

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* CHS of an LBA in the 255/63 geometry; 1023/254/63 past its reach. */
static void put_chs(uint8_t *p, uint64_t lba)
{
	uint64_t c = lba / (HEADS * SECTORS);
	uint32_t h = (uint32_t)((lba / SECTORS) % HEADS);
	uint32_t s = (uint32_t)(lba % SECTORS) + 1;

	if (c > 1023) {
		c = 1023;
		h = HEADS - 1;
		s = SECTORS;
	}
	p[0] = (uint8_t)h;
	p[1] = (uint8_t)(s | ((c >> 2) & 0xc0));
	p[2] = (uint8_t)(c & 0xff);
}

int img_mbr_encode(uint8_t out[IMG_MBR_SIZE], uint64_t start_lba,
		   uint64_t sectors, uint32_t disk_id)
{
	uint8_t *e = out + 446;

	if (sectors == 0 || start_lba == 0)
		return -EINVAL;
	if (start_lba > 0xffffffffULL || sectors > 0xffffffffULL ||
	    start_lba + sectors > IMG_MBR_MAX_SECTORS)
		return -EFBIG;
	memset(out, 0, IMG_MBR_SIZE);
	put32(out + 440, disk_id);
	e[0] = 0x80; /* bootable */
	put_chs(e + 1, start_lba);
	e[4] = 0x83; /* Linux */
	put_chs(e + 5, start_lba + sectors - 1);
	put32(e + 8, (uint32_t)start_lba);
	put32(e + 12, (uint32_t)sectors);
	out[510] = 0x55;
	out[511] = 0xaa;
	return 0;
}
