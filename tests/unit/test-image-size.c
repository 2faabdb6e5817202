// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for image/img-size.c: the metadata a geometry costs, the
 * smallest filesystem a tree fits in, the computed size, and the directory
 * block estimate. Pure arithmetic, no I/O.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "image/img-internal.h"

#define MIB(x) ((uint64_t)(x) << 20)
#define BLOCKS(bytes) ((bytes) / IMG_BLOCK_SIZE)

static void journal_size_follows_the_mke2fs_table(void **state)
{
	assert_int_equal(img_size_journal_blocks(IMG_FS_EXT2, 1u << 20), 0);
	assert_int_equal(img_size_journal_blocks(IMG_FS_EXT4, 8192), 1024);
	assert_int_equal(img_size_journal_blocks(IMG_FS_EXT4, 100000), 4096);
	assert_int_equal(img_size_journal_blocks(IMG_FS_EXT3, 300000), 8192);
	/* a 2 GiB filesystem: 64 MiB of journal */
	assert_int_equal(img_size_journal_blocks(IMG_FS_EXT4, 524288), 16384);
	assert_int_equal(img_size_journal_blocks(IMG_FS_EXT4, 1ull << 40),
			 262144);
}

static void overhead_of_one_group_is_counted_block_by_block(void **state)
{
	/*
	 * ext2, one group of 32768 blocks, 8192 inodes: superblock, one
	 * descriptor block, reserved descriptor blocks for 1024 times the
	 * size (1024 groups / 128 per block - 1 = 7), two bitmaps, 512
	 * inode table blocks, the resize inode's block, no journal.
	 */
	assert_int_equal(img_size_overhead(IMG_FS_EXT2, 32768, 8192),
			 1 + 1 + 7 + 2 + 512 + 1);
}

static void overhead_has_backups_in_groups_0_1_and_powers(void **state)
{
	/*
	 * 16 inodes (one table block) per group. 8 groups: backups in 0, 1,
	 * 3, 5, 7, each a superblock, a descriptor block and 8192/128 - 1
	 * reserved ones; 3 blocks of tables per group; the resize inode.
	 */
	assert_int_equal(img_size_overhead(IMG_FS_EXT2, 8 * 32768ull, 8 * 16),
			 5 * (1 + 1 + 63) + 8 * 3 + 1);
	/* group 8 has none; group 9 (a power of 3) has one */
	assert_int_equal(img_size_overhead(IMG_FS_EXT2, 9 * 32768ull, 9 * 16),
			 5 * (1 + 1 + 71) + 9 * 3 + 1);
	assert_int_equal(img_size_overhead(IMG_FS_EXT2, 10 * 32768ull, 10 * 16),
			 6 * (1 + 1 + 79) + 10 * 3 + 1);
	/* ext4's descriptors are twice as large: 64 per block */
	assert_int_equal(
		img_size_overhead(IMG_FS_EXT4, 8 * 32768ull, 8 * 16) -
			img_size_journal_blocks(IMG_FS_EXT4, 8 * 32768ull) -
			img_size_journal_blocks(IMG_FS_EXT4, 8 * 32768ull) /
				1024 -
			2,
		5 * (1 + 1 + 127) + 8 * 3 + 1);
}

static void min_size_fits_and_nothing_smaller_does(void **state)
{
	struct img_geom_in in = { .fs = IMG_FS_EXT4,
				  .tree_inodes = 20000,
				  .tree_blocks = BLOCKS(MIB(700)) };
	struct img_geom g, h;

	assert_int_equal(img_size_min(&in, &g), 0);
	assert_true(g.blocks >= in.tree_blocks + g.overhead);
	assert_true(g.inodes >= in.tree_inodes);
	assert_true(g.journal_blocks > 0);
	assert_int_equal(img_size_fit(&in, g.blocks, &h), 0);
	assert_int_equal(img_size_fit(&in, g.blocks - 256, &h), -ENOSPC);
}

static void fit_gives_one_inode_per_16k_when_there_is_room(void **state)
{
	struct img_geom_in in = { .fs = IMG_FS_EXT4,
				  .tree_inodes = 100,
				  .tree_blocks = 1000 };
	struct img_geom g;

	assert_int_equal(img_size_fit(&in, BLOCKS(MIB(2048)), &g), 0);
	assert_int_equal(g.blocks, BLOCKS(MIB(2048)));
	assert_int_equal(g.inodes, MIB(2048) / 16384);
	assert_int_equal(g.journal_blocks, 16384);
	assert_int_equal(g.r_blocks, g.blocks / 20);
}

static void fit_refuses_a_tree_that_does_not_fit(void **state)
{
	struct img_geom_in in = { .fs = IMG_FS_EXT3,
				  .tree_inodes = 100,
				  .tree_blocks = BLOCKS(MIB(100)) };
	struct img_geom g;

	assert_int_equal(img_size_fit(&in, BLOCKS(MIB(64)), &g), -ENOSPC);
	assert_int_equal(img_size_fit(&in, BLOCKS(MIB(128)), &g), 0);
}

static void many_inodes_need_more_groups(void **state)
{
	/* at most 32768 inodes per group of 32768 blocks */
	struct img_geom_in in = { .fs = IMG_FS_EXT4,
				  .tree_inodes = 70000,
				  .tree_blocks = 3000 };
	struct img_geom g;

	assert_int_equal(img_size_min(&in, &g), 0);
	assert_true(g.blocks > 2 * 32768);
	assert_int_equal(img_size_fit(&in, 2 * 32768, &g), -ENOSPC);
}

static void auto_size_adds_metadata_journal_and_a_reserve(void **state)
{
	struct img_geom_in in = { .fs = IMG_FS_EXT4,
				  .tree_inodes = 16700,
				  .tree_blocks = BLOCKS(MIB(720)) };
	struct img_geom g, min;

	assert_int_equal(img_size_auto(&in, &g), 0);
	assert_int_equal(img_size_min(&in, &min), 0);
	assert_int_equal(g.blocks % 256, 0); /* whole MiB */
	/* the reserve: at least 32 MiB and 1/8 of the tree free, besides
	 * the 5% kept for root */
	assert_true(g.blocks - g.overhead - in.tree_blocks - g.r_blocks >=
		    in.tree_blocks / 8);
	assert_true(g.blocks > min.blocks);
	/* and not a wasteful multiple of the tree */
	assert_true(g.blocks * IMG_BLOCK_SIZE < MIB(720) * 3 / 2);
	assert_true(g.inodes >= in.tree_inodes + in.tree_inodes / 4);
}

static void auto_size_of_a_tiny_tree_keeps_32_mib_free(void **state)
{
	struct img_geom_in in = { .fs = IMG_FS_EXT2,
				  .tree_inodes = 20,
				  .tree_blocks = 10 };
	struct img_geom g;

	assert_int_equal(img_size_auto(&in, &g), 0);
	assert_true(g.blocks - g.overhead - in.tree_blocks - g.r_blocks >=
		    BLOCKS(MIB(32)));
	assert_true(g.blocks * IMG_BLOCK_SIZE <= MIB(48));
	assert_int_equal(g.journal_blocks, 0);
}

static void auto_size_never_ends_in_a_group_too_small_to_keep(void **state)
{
	for (uint64_t t = 1000; t < 400000; t += 7919) {
		struct img_geom_in in = { .fs = IMG_FS_EXT4,
					  .tree_inodes = 1000 + t / 8,
					  .tree_blocks = t };
		struct img_geom g, h;

		assert_int_equal(img_size_auto(&in, &g), 0);
		/* what ext2fs_initialize() would keep is the whole size */
		assert_int_equal(img_size_fit(&in, g.blocks, &h), 0);
		assert_int_equal(h.blocks, g.blocks);
	}
}

static void directory_estimate_is_one_block_until_it_overflows(void **state)
{
	assert_int_equal(img_dir_blocks_estimate(0, 0, 0, true), 1);
	assert_int_equal(img_dir_blocks_estimate(4060, 16, 250, true), 1);
	/* one more entry: an htree root and leaves */
	assert_true(img_dir_blocks_estimate(4100, 16, 256, true) >= 3);
	/* 5000 entries of 16 bytes: about 20 leaves and a root */
	assert_in_range(img_dir_blocks_estimate(80000, 16, 5000, true), 21, 23);
	/* past 507 leaves: a level of index nodes */
	assert_int_equal(img_dir_blocks_estimate(4000ull * 600, 16, 150000,
						 true),
			 1 + 590 + 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(journal_size_follows_the_mke2fs_table),
		cmocka_unit_test(
			overhead_of_one_group_is_counted_block_by_block),
		cmocka_unit_test(overhead_has_backups_in_groups_0_1_and_powers),
		cmocka_unit_test(min_size_fits_and_nothing_smaller_does),
		cmocka_unit_test(
			fit_gives_one_inode_per_16k_when_there_is_room),
		cmocka_unit_test(fit_refuses_a_tree_that_does_not_fit),
		cmocka_unit_test(many_inodes_need_more_groups),
		cmocka_unit_test(auto_size_adds_metadata_journal_and_a_reserve),
		cmocka_unit_test(auto_size_of_a_tiny_tree_keeps_32_mib_free),
		cmocka_unit_test(
			auto_size_never_ends_in_a_group_too_small_to_keep),
		cmocka_unit_test(
			directory_estimate_is_one_block_until_it_overflows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
