// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Size arithmetic for a new filesystem: what the metadata of a given
 * geometry costs (superblock and descriptor backups with their reserved
 * growth blocks, bitmaps, inode tables, the journal) and from it the
 * smallest filesystem a tree fits in and a comfortable computed size.
 * Pure: no I/O, no libext2fs; mirrors ext2fs_initialize()'s layout rules
 * for 4 KiB blocks, 256-byte inodes, sparse_super and resize_inode.
 */
#include <errno.h>

#include "image/img-internal.h"

#define BPG (8u * IMG_BLOCK_SIZE) /* blocks (and at most inodes) per group */
#define INODES_PER_ITB (IMG_BLOCK_SIZE / IMG_INODE_SIZE)
#define INODE_RATIO_BLOCKS 4u /* one inode per 16 KiB, as mke2fs */
#define ALIGN_BLOCKS 256u /* sizes are multiples of 1 MiB */

static uint64_t div_ceil(uint64_t a, uint64_t b)
{
	return (a + b - 1) / b;
}

static uint64_t round_up(uint64_t a, uint64_t b)
{
	return div_ceil(a, b) * b;
}

uint32_t img_size_journal_blocks(enum img_fs fs, uint64_t blocks)
{
	if (fs == IMG_FS_EXT2)
		return 0;
	if (blocks < 32768)
		return 1024; /* 4 MiB: the least jbd2 takes */
	if (blocks < 256 * 1024)
		return 4096;
	if (blocks < 512 * 1024)
		return 8192;
	if (blocks < 4096 * 1024)
		return 16384;
	if (blocks < 8192 * 1024)
		return 32768;
	if (blocks < 16384 * 1024)
		return 65536;
	if (blocks < 32768 * 1024)
		return 131072;
	return 262144;
}

static bool power_of(uint64_t g, uint64_t base)
{
	while (g > 1 && g % base == 0)
		g /= base;
	return g == 1;
}

static bool group_has_super(uint64_t g)
{
	return g <= 1 || power_of(g, 3) || power_of(g, 5) || power_of(g, 7);
}

struct layout {
	uint64_t groups, desc_blocks, rsv_gdt, ipg, itable_blocks;
};

static void layout(enum img_fs fs, uint64_t blocks, uint64_t inodes,
		   struct layout *l)
{
	uint64_t desc_per_block =
		IMG_BLOCK_SIZE / (fs == IMG_FS_EXT4 ? 64 : 32);
	uint64_t max_blocks = 0xffffffffULL, rsv_groups;
	int64_t rsv;

	l->groups = div_ceil(blocks, BPG);
	if (l->groups == 0)
		l->groups = 1;
	l->desc_blocks = div_ceil(l->groups, desc_per_block);
	l->ipg = round_up(div_ceil(inodes, l->groups), INODES_PER_ITB);
	if (l->ipg > BPG)
		l->ipg = BPG;
	l->itable_blocks = l->ipg / INODES_PER_ITB;
	/* resize_inode: room for 1024 times the size, as libext2fs */
	if (blocks < max_blocks / 1024)
		max_blocks = blocks * 1024;
	rsv_groups = div_ceil(max_blocks, BPG);
	rsv = (int64_t)div_ceil(rsv_groups, desc_per_block) -
	      (int64_t)l->desc_blocks;
	if (rsv < 0)
		rsv = 0;
	if (rsv > (int64_t)(IMG_BLOCK_SIZE / 4))
		rsv = IMG_BLOCK_SIZE / 4;
	l->rsv_gdt = (uint64_t)rsv;
}

static uint64_t journal_overhead(enum img_fs fs, uint64_t blocks)
{
	uint64_t j = img_size_journal_blocks(fs, blocks);

	/* with its extent tree or indirect blocks */
	return j ? j + j / 1024 + 2 : 0;
}

uint64_t img_size_overhead(enum img_fs fs, uint64_t blocks, uint64_t inodes)
{
	struct layout l;
	uint64_t backups = 0;

	layout(fs, blocks, inodes, &l);
	for (uint64_t g = 0; g < l.groups; g++)
		backups += group_has_super(g);
	return backups * (1 + l.desc_blocks + l.rsv_gdt) +
	       l.groups * (2 + l.itable_blocks) + 1 /* resize inode */ +
	       journal_overhead(fs, blocks);
}

/*
 * ext2fs_initialize() drops a last group too small for its own metadata
 * (plus 50 blocks); the blocks a size really gets.
 */
static uint64_t effective_blocks(enum img_fs fs, uint64_t blocks,
				 uint64_t inodes)
{
	struct layout l;
	uint64_t rem = blocks % BPG, last_oh;

	layout(fs, blocks, inodes, &l);
	last_oh = 2 + l.itable_blocks;
	if (group_has_super(l.groups - 1))
		last_oh += 1 + l.desc_blocks + l.rsv_gdt;
	if (rem && rem < last_oh + 50)
		return l.groups == 1 ? 0 : blocks - rem;
	return blocks;
}

static int check(const struct img_geom_in *in, uint64_t blocks, uint64_t inodes,
		 struct img_geom *ret)
{
	uint64_t eff = effective_blocks(in->fs, blocks, inodes);
	uint64_t oh, groups, free;

	if (eff == 0)
		return -ENOSPC;
	groups = div_ceil(eff, BPG);
	if (inodes > groups * BPG)
		inodes = groups * BPG;
	if (inodes < in->tree_inodes || inodes > 0xffffffffULL)
		return -ENOSPC;
	oh = img_size_overhead(in->fs, eff, inodes);
	if (oh + in->tree_blocks > eff)
		return -ENOSPC;
	free = eff - oh - in->tree_blocks;
	ret->blocks = eff;
	ret->inodes = inodes;
	ret->journal_blocks = img_size_journal_blocks(in->fs, eff);
	ret->overhead = oh;
	ret->r_blocks = eff / 20 < free ? eff / 20 : free;
	return 0;
}

int img_size_fit(const struct img_geom_in *in, uint64_t blocks,
		 struct img_geom *ret)
{
	uint64_t by_ratio = blocks / INODE_RATIO_BLOCKS;

	if (by_ratio > in->tree_inodes && check(in, blocks, by_ratio, ret) == 0)
		return 0;
	return check(in, blocks, in->tree_inodes, ret);
}

int img_size_min(const struct img_geom_in *in, struct img_geom *ret)
{
	uint64_t t = round_up(in->tree_blocks + 64, ALIGN_BLOCKS);

	for (int i = 0; i < 64; i++) {
		uint64_t need = round_up(
			in->tree_blocks +
				img_size_overhead(in->fs, t, in->tree_inodes),
			ALIGN_BLOCKS);

		if (need <= t)
			break;
		t = need;
	}
	/* the last-group rule may take some back: grow until it fits */
	for (int i = 0; i < 4096; i++, t += ALIGN_BLOCKS)
		if (check(in, t, in->tree_inodes, ret) == 0)
			return 0;
	return -EFBIG;
}

int img_size_auto(const struct img_geom_in *in, struct img_geom *ret)
{
	uint64_t headroom = in->tree_blocks / 8;
	uint64_t want_inodes = in->tree_inodes + in->tree_inodes / 4 + 1024;
	uint64_t t;

	if (headroom < (32u << 20) / IMG_BLOCK_SIZE)
		headroom = (32u << 20) / IMG_BLOCK_SIZE;
	t = round_up(in->tree_blocks + headroom, ALIGN_BLOCKS);
	for (int i = 0; i < 64; i++) {
		uint64_t inodes = t / INODE_RATIO_BLOCKS > want_inodes ?
					  t / INODE_RATIO_BLOCKS :
					  want_inodes;
		uint64_t used = in->tree_blocks + headroom +
				img_size_overhead(in->fs, t, inodes);
		/* 5% of the total stays reserved for root */
		uint64_t need = round_up(div_ceil(used * 20, 19), ALIGN_BLOCKS);

		if (need <= t)
			break;
		t = need;
	}
	for (int i = 0; i < 4096; i++, t += ALIGN_BLOCKS) {
		uint64_t inodes = t / INODE_RATIO_BLOCKS > want_inodes ?
					  t / INODE_RATIO_BLOCKS :
					  want_inodes;

		if (effective_blocks(in->fs, t, inodes) == t &&
		    check(in, t, inodes, ret) == 0)
			return 0;
	}
	return -EFBIG;
}

uint64_t img_dir_blocks_estimate(uint64_t bytes, uint32_t max_rec,
				 uint64_t count, bool csum)
{
	uint32_t space = img_dir_leaf_space(csum);
	uint64_t per_leaf, leaves;

	if (bytes + 24 <= space)
		return 1;
	/* greedy packing wastes less than one entry per leaf */
	per_leaf = space - (max_rec ? max_rec : 12) + 1;
	leaves = (bytes + per_leaf - 1) / per_leaf;
	if (leaves <= 507)
		return 1 + leaves;
	return 1 + leaves + (leaves + 509) / 510;
}
