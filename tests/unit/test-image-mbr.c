// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for the image module's pure encoders and probes: the MBR
 * (image/img-mbr.c), signature probing of targets (img-target.c), and the
 * --size and --uuid parsers (img-parse.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "image/img-internal.h"

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void mbr_has_one_bootable_linux_partition_at_1_mib(void **state)
{
	uint8_t m[IMG_MBR_SIZE];
	static const uint8_t zero[48];

	memset(m, 0xee, sizeof(m));
	/* a 43 MiB image: 1 MiB of gap, 42 MiB of filesystem */
	assert_int_equal(img_mbr_encode(m, 2048, 86016, 0x73afd993), 0);
	for (size_t i = 0; i < 440; i++)
		assert_int_equal(m[i], 0); /* no boot code */
	assert_int_equal(le32(m + 440), 0x73afd993);
	assert_int_equal(m[444], 0);
	assert_int_equal(m[445], 0);
	assert_int_equal(m[446], 0x80); /* bootable */
	/* CHS of LBA 2048 in 255/63 geometry: head 32, sector 33, cyl 0 */
	assert_int_equal(m[447], 32);
	assert_int_equal(m[448], 33);
	assert_int_equal(m[449], 0);
	assert_int_equal(m[450], 0x83); /* Linux */
	/* last LBA 88063: cylinder 5, head 122, sector 53 */
	assert_int_equal(m[451], 122);
	assert_int_equal(m[452], 53);
	assert_int_equal(m[453], 5);
	assert_int_equal(le32(m + 454), 2048);
	assert_int_equal(le32(m + 458), 86016);
	assert_memory_equal(m + 462, zero, sizeof(zero));
	assert_int_equal(m[510], 0x55);
	assert_int_equal(m[511], 0xaa);
}

static void chs_saturates_past_1024_cylinders(void **state)
{
	uint8_t m[IMG_MBR_SIZE];

	/* 100 GiB */
	assert_int_equal(img_mbr_encode(m, 2048, 209715200ull - 2048, 1), 0);
	assert_int_equal(m[451], 254);
	/* cylinder 1023's high bits live in the sector byte */
	assert_int_equal(m[452], 63 | 0xc0);
	assert_int_equal(m[453], 0xff);
	assert_int_equal(le32(m + 458), 209715200u - 2048);
}

static void mbr_refuses_what_it_cannot_describe(void **state)
{
	uint8_t m[IMG_MBR_SIZE];

	assert_int_equal(img_mbr_encode(m, 2048, 0x100000000ull, 1), -EFBIG);
	assert_int_equal(img_mbr_encode(m, 2048, 0xffffffffull - 2047, 1), 0);
	assert_int_equal(img_mbr_encode(m, 2048, 0, 1), -EINVAL);
	assert_int_equal(img_mbr_encode(m, 0, 100, 1), -EINVAL);
}

static void probe_finds_filesystems_and_partition_tables(void **state)
{
	static uint8_t buf[72 * 1024];
	size_t len = sizeof(buf);

	assert_null(img_probe_signature(buf, len));
	buf[1024 + 56] = 0x53;
	buf[1024 + 57] = 0xef;
	assert_string_equal(img_probe_signature(buf, len),
			    "an ext2/ext3/ext4 filesystem");
	memset(buf, 0, len);
	buf[510] = 0x55;
	buf[511] = 0xaa;
	assert_string_equal(img_probe_signature(buf, len),
			    "a partition table or boot sector");
	memcpy(buf + 512, "EFI PART", 8);
	assert_string_equal(img_probe_signature(buf, len),
			    "a GPT partition table");
	memset(buf, 0, len);
	memcpy(buf, "XFSB", 4);
	assert_string_equal(img_probe_signature(buf, len), "an XFS filesystem");
	memset(buf, 0, len);
	memcpy(buf + 4096 - 10, "SWAPSPACE2", 10);
	assert_string_equal(img_probe_signature(buf, len), "swap space");
	memset(buf, 0, len);
	memcpy(buf + 512, "LABELONE", 8);
	assert_string_equal(img_probe_signature(buf, len),
			    "an LVM physical volume");
	memset(buf, 0, len);
	memcpy(buf + 65536 + 64, "_BHRfS_M", 8);
	assert_string_equal(img_probe_signature(buf, len),
			    "a btrfs filesystem");
	/* a short target is probed as far as it goes */
	assert_null(img_probe_signature(buf, 4096));
}

static void probe_finds_archives_and_compressed_streams(void **state)
{
	static const uint8_t zstd[] = { 0x28, 0xb5, 0x2f, 0xfd };
	static const uint8_t xz[] = { 0xfd, '7', 'z', 'X', 'Z', 0 };
	static uint8_t buf[4096];

	assert_null(img_probe_archive(buf, sizeof(buf)));
	memcpy(buf + 257, "ustar\0\x30\x30", 8); /* POSIX: "ustar\0" "00" */
	assert_string_equal(img_probe_archive(buf, sizeof(buf)),
			    "a tar archive");
	memcpy(buf + 257, "ustar  ", 8); /* GNU */
	assert_string_equal(img_probe_archive(buf, sizeof(buf)),
			    "a tar archive");
	memset(buf, 0, sizeof(buf));
	buf[0] = 0x1f;
	buf[1] = 0x8b;
	assert_string_equal(img_probe_archive(buf, sizeof(buf)),
			    "gzip-compressed data");
	memcpy(buf, zstd, sizeof(zstd));
	assert_string_equal(img_probe_archive(buf, sizeof(buf)),
			    "zstd-compressed data");
	memcpy(buf, xz, sizeof(xz));
	assert_string_equal(img_probe_archive(buf, sizeof(buf)),
			    "xz-compressed data");
	memcpy(buf, "BZh9", 4);
	assert_string_equal(img_probe_archive(buf, sizeof(buf)),
			    "bzip2-compressed data");
	memcpy(buf, "BZhx", 4);
	assert_null(img_probe_archive(buf, sizeof(buf)));
	/* a short file is probed as far as it goes */
	memcpy(buf, "BZh1", 4);
	assert_null(img_probe_archive(buf, 3));
}

static void probe_finds_raid_and_gpt_backup_at_the_end(void **state)
{
	static const uint8_t md[] = { 0xfc, 0x4e, 0x2b, 0xa9 };
	static uint8_t buf[128 * 1024];
	/* 0.90 at 100 MiB - 64 KiB; 1.0 at the end - 11.5 KiB (4 KiB-aligned) */
	uint64_t size = (100ull << 20) + (36 << 10) + 7 * 512;
	uint64_t base = size - sizeof(buf);

	assert_null(img_probe_tail(buf, sizeof(buf), size));
	memcpy(buf + (100ull << 20) - (64 << 10) - base, md, 4);
	assert_string_equal(img_probe_tail(buf, sizeof(buf), size),
			    "a RAID member");
	memset(buf, 0, sizeof(buf));
	memcpy(buf + sizeof(buf) - 23 * 512, md, 4);
	assert_string_equal(img_probe_tail(buf, sizeof(buf), size),
			    "a RAID member");
	memset(buf, 0, sizeof(buf));
	memcpy(buf + sizeof(buf) - 512, "EFI PART", 8);
	assert_string_equal(img_probe_tail(buf, sizeof(buf), size),
			    "a GPT partition table (backup header)");
	/* only where each belongs */
	memset(buf, 0, sizeof(buf));
	memcpy(buf + sizeof(buf) - (8 << 10), md, 4);
	memcpy(buf + sizeof(buf) - 1024, "EFI PART", 8);
	assert_null(img_probe_tail(buf, sizeof(buf), size));
	/* a target shorter than the buffer is not misread */
	assert_null(img_probe_tail(buf, sizeof(buf), 4096));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void old_partitions_are_found_in_mbr_and_gpt(void **state)
{
	static uint8_t buf[72 * 1024];
	uint64_t starts[8];

	assert_int_equal(img_probe_partitions(buf, sizeof(buf), starts, 8), 0);
	assert_int_equal(img_mbr_encode(buf, 2048, 4096, 1), 0);
	buf[446 + 16 + 4] = 0x83; /* a second one at 1 GiB */
	buf[446 + 16 + 8 + 1] = 0x00;
	buf[446 + 16 + 8 + 2] = 0x20;
	buf[446 + 16 + 12] = 1;
	assert_int_equal(img_probe_partitions(buf, sizeof(buf), starts, 8), 2);
	assert_int_equal(starts[0], 1 << 20);
	assert_int_equal(starts[1], 1ull << 30);
	/* boot code, not a table: flags other than 0 and 0x80 */
	buf[446] = 0x12;
	buf[446 + 16] = 0x34;
	assert_int_equal(img_probe_partitions(buf, sizeof(buf), starts, 8), 0);

	/* GPT: protective MBR, header at LBA 1, entries from LBA 2 */
	memset(buf, 0, sizeof(buf));
	buf[446 + 4] = 0xee;
	buf[510] = 0x55;
	buf[511] = 0xaa;
	memcpy(buf + 512, "EFI PART", 8);
	put_le64(buf + 512 + 72, 2);
	buf[512 + 80] = 128; /* entries */
	buf[512 + 84] = 128; /* bytes each */
	memset(buf + 1024, 0xaf, 16); /* a type GUID */
	put_le64(buf + 1024 + 32, 2048);
	memset(buf + 1024 + 2 * 128, 0xaf, 16);
	put_le64(buf + 1024 + 2 * 128 + 32, 1 << 21);
	assert_int_equal(img_probe_partitions(buf, sizeof(buf), starts, 8), 2);
	assert_int_equal(starts[0], 1 << 20);
	assert_int_equal(starts[1], 1ull << 30);
	assert_int_equal(img_probe_partitions(buf, sizeof(buf), starts, 1), 1);
}

static void size_suffixes_are_powers_of_1024(void **state)
{
	uint64_t v;

	assert_int_equal(img_parse_size("1048576", &v), 0);
	assert_int_equal(v, 1048576);
	assert_int_equal(img_parse_size("2G", &v), 0);
	assert_int_equal(v, 2ull << 30);
	assert_int_equal(img_parse_size("512M", &v), 0);
	assert_int_equal(v, 512ull << 20);
	assert_int_equal(img_parse_size("10KiB", &v), 0);
	assert_int_equal(v, 10240);
	assert_int_equal(img_parse_size("3t", &v), 0);
	assert_int_equal(v, 3ull << 40);
	assert_int_equal(img_parse_size("12X", &v), -EINVAL);
	assert_int_equal(img_parse_size("G", &v), -EINVAL);
	assert_int_equal(img_parse_size("", &v), -EINVAL);
	assert_int_equal(img_parse_size("-1", &v), -EINVAL);
	assert_int_equal(img_parse_size("2GB ", &v), -EINVAL);
	assert_int_equal(img_parse_size("99999999999T", &v), -ERANGE);
}

static void uuids_are_parsed_in_8_4_4_4_12_form(void **state)
{
	static const uint8_t want[16] = { 0x0b, 0x6e, 0x3f, 0x39, 0x5d, 0x3a,
					  0x4a, 0x4c, 0x9a, 0x2b, 0x7e, 0x0f,
					  0x1c, 0x2d, 0x3e, 0x4f };
	uint8_t u[16];

	assert_int_equal(
		img_parse_uuid("0b6e3f39-5d3a-4a4c-9a2b-7e0f1c2d3e4f", u), 0);
	assert_memory_equal(u, want, 16);
	assert_int_equal(
		img_parse_uuid("0B6E3F39-5D3A-4A4C-9A2B-7E0F1C2D3E4F", u), 0);
	assert_memory_equal(u, want, 16);
	assert_int_equal(img_parse_uuid("0b6e3f395d3a4a4c9a2b7e0f1c2d3e4f", u),
			 -EINVAL);
	assert_int_equal(img_parse_uuid("0b6e3f39-5d3a-4a4c-9a2b-7e0f1c2d3e4g",
					u),
			 -EINVAL);
	assert_int_equal(img_parse_uuid("0b6e3f39-5d3a-4a4c-9a2b7-e0f1c2d3e4f",
					u),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mbr_has_one_bootable_linux_partition_at_1_mib),
		cmocka_unit_test(chs_saturates_past_1024_cylinders),
		cmocka_unit_test(mbr_refuses_what_it_cannot_describe),
		cmocka_unit_test(probe_finds_filesystems_and_partition_tables),
		cmocka_unit_test(probe_finds_archives_and_compressed_streams),
		cmocka_unit_test(probe_finds_raid_and_gpt_backup_at_the_end),
		cmocka_unit_test(old_partitions_are_found_in_mbr_and_gpt),
		cmocka_unit_test(size_suffixes_are_powers_of_1024),
		cmocka_unit_test(uuids_are_parsed_in_8_4_4_4_12_form),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
