// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Where blocks go: the forward-only allocator, the write buffer that turns
 * consecutive blocks into one large pwrite, and the two ways an inode maps
 * its blocks - an extent tree (ext4) built bottom-up from whole extents,
 * or the classic direct/indirect block map (ext2, ext3).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "common/io.h"
#include "image/img-ext.h"

#define B IMG_BLOCK_SIZE
#define PTRS_PER_BLOCK (B / 4u)
#define EXT_PER_BLOCK ((B - sizeof(struct ext3_extent_header)) / 12u)
#define EXT_IN_INODE 4u

/* ---- allocation */

int img_ext_alloc(struct img_builder *b, uint64_t want, blk64_t *ret_pblk,
		  uint64_t *ret_len)
{
	blk64_t pblk, plen;
	errcode_t e;

	if (want > (1u << 20))
		want = 1u << 20;
	e = ext2fs_new_range(b->fs, 0, b->cursor, want, NULL, &pblk, &plen);
	if (e)
		return img_ext_fail(b, e, "allocating blocks");
	if (plen > want)
		plen = want;
	ext2fs_block_alloc_stats_range(b->fs, pblk, (blk_t)plen, +1);
	b->cursor = pblk + plen;
	*ret_pblk = pblk;
	*ret_len = plen;
	return 0;
}

errcode_t img_ext_alloc_hook(ext2_filsys fs, blk64_t goal, blk64_t *ret)
{
	struct img_builder *b = fs->priv_data;
	blk64_t pblk, plen;
	errcode_t e;

	(void)goal; /* everything goes forward from the cursor */
	e = ext2fs_new_range(fs, 0, b->cursor, 1, NULL, &pblk, &plen);
	if (e)
		return e;
	b->cursor = pblk + 1;
	*ret = pblk; /* ext2fs_alloc_block3() marks it in use */
	return 0;
}

/* ---- the write buffer */

size_t img_ext_wb_max(const struct img_builder *b)
{
	return b->wb_cap / B;
}

int img_ext_wb_flush(struct img_builder *b)
{
	uint64_t off;
	int r;

	if (!b->wb_len)
		return 0;
	off = b->fs_offset + (uint64_t)b->wb_blk * B;
	r = dm_pwrite_all(b->fd, b->wb, b->wb_len, off);
	if (r < 0) {
		b->wb_len = 0;
		return dm_err_set(b->err, -r, "%s: writing: %s", b->what,
				  strerror(-r));
	}
	/*
	 * Start writeback now, without waiting for it: the disk works while
	 * the rest is produced, and the final fsync finds little left.
	 */
	(void)sync_file_range(b->fd, (off64_t)off, (off64_t)b->wb_len,
			      SYNC_FILE_RANGE_WRITE);
	b->wb_len = 0;
	return 0;
}

int img_ext_wb_get(struct img_builder *b, blk64_t pblk, size_t n, uint8_t **ret)
{
	size_t bytes = n * B;
	int r;

	if (bytes > b->wb_cap)
		return -EINVAL;
	if (b->wb_len && (pblk != b->wb_blk + b->wb_len / B ||
			  b->wb_len + bytes > b->wb_cap)) {
		r = img_ext_wb_flush(b);
		if (r < 0)
			return r;
	}
	if (!b->wb_len)
		b->wb_blk = pblk;
	*ret = b->wb + b->wb_len;
	b->wb_len += bytes;
	return 0;
}

/* ---- extents of the current inode */

int img_ext_add_extent(struct img_builder *b, uint64_t lblk, blk64_t pblk,
		       uint64_t len)
{
	while (len > 0) {
		struct img_extent *last = b->next ? &b->ext[b->next - 1] : NULL;
		uint64_t n;

		if (last && last->lblk + last->len == lblk &&
		    last->pblk + last->len == pblk &&
		    last->len < IMG_EXT_MAX_LEN) {
			n = IMG_EXT_MAX_LEN - last->len;
			if (n > len)
				n = len;
			last->len += (uint32_t)n;
		} else {
			if (b->next == b->cap_ext) {
				size_t nc = b->cap_ext ? b->cap_ext * 2 : 64;
				struct img_extent *ne =
					realloc(b->ext, nc * sizeof(*ne));

				if (!ne)
					return -ENOMEM;
				b->ext = ne;
				b->cap_ext = nc;
			}
			n = len > IMG_EXT_MAX_LEN ? IMG_EXT_MAX_LEN : len;
			b->ext[b->next].lblk = lblk;
			b->ext[b->next].pblk = pblk;
			b->ext[b->next].len = (uint32_t)n;
			b->next++;
		}
		lblk += n;
		pblk += n;
		len -= n;
	}
	return 0;
}

/* ---- tree blocks waiting for the inode to be written */

struct img_map {
	size_t n, cap;
	bool extent_nodes; /* checksummed, written through libext2fs */
	struct {
		blk64_t pblk;
		uint8_t *buf;
	} * blk;
};

void img_ext_map_free(struct img_map *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->blk[i].buf);
	free(m->blk);
	free(m);
}

/* A new tree block, allocated at the cursor; *ret_buf is zeroed. */
static int map_block(struct img_builder *b, struct img_map *m, blk64_t *ret,
		     uint8_t **ret_buf)
{
	uint64_t len;
	int r;

	if (m->n == m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 8;
		void *nb = realloc(m->blk, nc * sizeof(*m->blk));

		if (!nb)
			return -ENOMEM;
		m->blk = nb;
		m->cap = nc;
	}
	m->blk[m->n].buf = calloc(1, B);
	if (!m->blk[m->n].buf)
		return -ENOMEM;
	r = img_ext_alloc(b, 1, &m->blk[m->n].pblk, &len);
	if (r < 0) {
		free(m->blk[m->n].buf);
		return r;
	}
	*ret = m->blk[m->n].pblk;
	*ret_buf = m->blk[m->n].buf;
	m->n++;
	return 0;
}

struct idx {
	uint32_t lblk;
	blk64_t pblk;
};

static void put_header(struct ext3_extent_header *eh, uint16_t entries,
		       uint16_t max, uint16_t depth)
{
	eh->eh_magic = EXT3_EXT_MAGIC;
	eh->eh_entries = entries;
	eh->eh_max = max;
	eh->eh_depth = depth;
	eh->eh_generation = 0;
}

static void put_extent(struct ext3_extent *x, const struct img_extent *e)
{
	x->ee_block = (uint32_t)e->lblk;
	x->ee_len = (uint16_t)e->len;
	x->ee_start_hi = (uint16_t)(e->pblk >> 32);
	x->ee_start = (uint32_t)e->pblk;
}

static void put_idx(struct ext3_extent_idx *x, const struct idx *i)
{
	x->ei_block = i->lblk;
	x->ei_leaf = (uint32_t)i->pblk;
	x->ei_leaf_hi = (uint16_t)(i->pblk >> 32);
	x->ei_unused = 0;
}

static int extent_tree(struct img_builder *b, struct ext2_inode_large *inode,
		       uint64_t *blocks, struct img_map *m)
{
	struct ext3_extent_header *root = (void *)inode->i_block;
	size_t n = b->next, count;
	struct idx *level = NULL;
	uint16_t depth = 0;
	int r = 0;

	inode->i_flags |= EXT4_EXTENTS_FL;
	if (n && b->ext[n - 1].lblk + b->ext[n - 1].len > 0xffffffffULL)
		return dm_err_set(b->err, EFBIG, "%s: too large for ext4",
				  b->what);
	if (n <= EXT_IN_INODE) {
		put_header(root, (uint16_t)n, EXT_IN_INODE, 0);
		for (size_t i = 0; i < n; i++)
			put_extent(EXT_FIRST_EXTENT(root) + i, &b->ext[i]);
		return 0;
	}
	m->extent_nodes = true;
	/* leaves */
	count = (n + EXT_PER_BLOCK - 1) / EXT_PER_BLOCK;
	level = calloc(count, sizeof(*level));
	if (!level)
		return -ENOMEM;
	for (size_t l = 0; l < count; l++) {
		size_t first = l * EXT_PER_BLOCK;
		size_t k = n - first < EXT_PER_BLOCK ? n - first :
						       EXT_PER_BLOCK;
		struct ext3_extent_header *eh;
		uint8_t *buf;

		r = map_block(b, m, &level[l].pblk, &buf);
		if (r < 0)
			goto out;
		eh = (void *)buf;
		put_header(eh, (uint16_t)k, EXT_PER_BLOCK, 0);
		for (size_t i = 0; i < k; i++)
			put_extent(EXT_FIRST_EXTENT(eh) + i,
				   &b->ext[first + i]);
		level[l].lblk = (uint32_t)b->ext[first].lblk;
		(*blocks)++;
	}
	depth = 1;
	/* index levels until the root fits in the inode */
	while (count > EXT_IN_INODE) {
		size_t up = (count + EXT_PER_BLOCK - 1) / EXT_PER_BLOCK;

		for (size_t l = 0; l < up; l++) {
			size_t first = l * EXT_PER_BLOCK;
			size_t k = count - first < EXT_PER_BLOCK ?
					   count - first :
					   EXT_PER_BLOCK;
			struct ext3_extent_header *eh;
			struct idx self;
			uint8_t *buf;

			r = map_block(b, m, &self.pblk, &buf);
			if (r < 0)
				goto out;
			eh = (void *)buf;
			put_header(eh, (uint16_t)k, EXT_PER_BLOCK, depth);
			for (size_t i = 0; i < k; i++)
				put_idx(EXT_FIRST_INDEX(eh) + i,
					&level[first + i]);
			self.lblk = level[first].lblk;
			level[l] = self; /* l <= first: already consumed */
			(*blocks)++;
		}
		count = up;
		depth++;
	}
	put_header(root, (uint16_t)count, EXT_IN_INODE, depth);
	for (size_t i = 0; i < count; i++)
		put_idx(EXT_FIRST_INDEX(root) + i, &level[i]);
out:
	free(level);
	return r;
}

/* ---- block maps: direct, indirect, double and triple indirect */

struct bmap {
	struct img_builder *b;
	struct img_map *m;
	struct ext2_inode_large *inode;
	uint64_t *blocks;
	int region; /* 0, or 1..3: the indirection of the open blocks */
	uint32_t *buf[3]; /* buf[0]: pointers to data; buf[r-1]: the top */
	int64_t key[3]; /* index of buf[k] in buf[k + 1] */
};

/* Allocates buf[k], stores its number in its parent, queues it. */
static int bmap_close(struct bmap *s, int k)
{
	uint8_t *out;
	blk64_t p;
	int r;

	if (!s->buf[k])
		return 0;
	r = map_block(s->b, s->m, &p, &out);
	if (r < 0)
		return r;
	if (p > 0xffffffffULL)
		return dm_err_set(s->b->err, EFBIG,
				  "%s: block number too large for a block map",
				  s->b->what);
	memcpy(out, s->buf[k], B);
	free(s->buf[k]);
	s->buf[k] = NULL;
	(*s->blocks)++;
	if (k == s->region - 1)
		s->inode->i_block[EXT2_NDIR_BLOCKS + k] = (uint32_t)p;
	else
		s->buf[k + 1][s->key[k]] = (uint32_t)p;
	return 0;
}

static int bmap_close_all(struct bmap *s)
{
	for (int k = 0; k < s->region; k++) {
		int r = bmap_close(s, k);

		if (r < 0)
			return r;
	}
	s->region = 0;
	return 0;
}

static int bmap_set(struct bmap *s, uint64_t lblk, blk64_t pblk)
{
	uint64_t l, idx[3];
	int region, r;

	if (pblk > 0xffffffffULL)
		return dm_err_set(s->b->err, EFBIG,
				  "%s: block number too large for a block map",
				  s->b->what);
	if (lblk < EXT2_NDIR_BLOCKS) {
		s->inode->i_block[lblk] = (uint32_t)pblk;
		return 0;
	}
	l = lblk - EXT2_NDIR_BLOCKS;
	if (l < PTRS_PER_BLOCK) {
		region = 1;
		idx[0] = l;
	} else if ((l -= PTRS_PER_BLOCK) <
		   (uint64_t)PTRS_PER_BLOCK * PTRS_PER_BLOCK) {
		region = 2;
		idx[0] = l % PTRS_PER_BLOCK;
		idx[1] = l / PTRS_PER_BLOCK;
	} else if ((l -= (uint64_t)PTRS_PER_BLOCK * PTRS_PER_BLOCK) <
		   (uint64_t)PTRS_PER_BLOCK * PTRS_PER_BLOCK * PTRS_PER_BLOCK) {
		region = 3;
		idx[0] = l % PTRS_PER_BLOCK;
		idx[1] = (l / PTRS_PER_BLOCK) % PTRS_PER_BLOCK;
		idx[2] = l / ((uint64_t)PTRS_PER_BLOCK * PTRS_PER_BLOCK);
	} else
		return dm_err_set(s->b->err, EFBIG,
				  "%s: too large for a block map", s->b->what);
	if (region != s->region) {
		r = bmap_close_all(s);
		if (r < 0)
			return r;
		s->region = region;
	}
	/* idx[k] (k >= 1) names the child buf[k - 1] within buf[k] */
	for (int k = region - 1; k >= 1; k--)
		if (s->buf[k - 1] && s->key[k - 1] != (int64_t)idx[k])
			for (int j = 0; j < k; j++) {
				r = bmap_close(s, j);
				if (r < 0)
					return r;
			}
	for (int k = region - 1; k >= 0; k--) {
		if (!s->buf[k]) {
			s->buf[k] = calloc(1, B);
			if (!s->buf[k])
				return -ENOMEM;
			s->key[k] = k < region - 1 ? (int64_t)idx[k + 1] : 0;
		}
	}
	s->buf[0][idx[0]] = (uint32_t)pblk;
	return 0;
}

static int block_map(struct img_builder *b, struct ext2_inode_large *inode,
		     uint64_t *blocks, struct img_map *m)
{
	struct bmap s = { .b = b, .m = m, .inode = inode, .blocks = blocks };
	int r = 0;

	for (size_t i = 0; i < b->next && r == 0; i++)
		for (uint32_t k = 0; k < b->ext[i].len && r == 0; k++)
			r = bmap_set(&s, b->ext[i].lblk + k,
				     b->ext[i].pblk + k);
	if (r == 0)
		r = bmap_close_all(&s);
	for (int k = 0; k < 3; k++)
		free(s.buf[k]);
	return r;
}

int img_ext_map_build(struct img_builder *b, ext2_ino_t ino,
		      struct ext2_inode_large *inode, uint64_t *blocks,
		      struct img_map **ret)
{
	struct img_map *m = calloc(1, sizeof(*m));
	int r;

	(void)ino;
	if (!m)
		return -ENOMEM;
	r = b->extents ? extent_tree(b, inode, blocks, m) :
			 block_map(b, inode, blocks, m);
	if (r < 0) {
		img_ext_map_free(m);
		return r;
	}
	*ret = m;
	return 0;
}

int img_ext_map_commit(struct img_builder *b, ext2_ino_t ino, struct img_map *m)
{
	int r = 0;

	for (size_t i = 0; i < m->n && r == 0; i++) {
		if (m->extent_nodes) {
			errcode_t e = ext2fs_extent_block_csum_set(
				b->fs, ino, (void *)m->blk[i].buf);

			if (!e)
				e = io_channel_write_blk64(b->fs->io,
							   m->blk[i].pblk, 1,
							   m->blk[i].buf);
			if (e)
				r = img_ext_fail(b, e, "writing extent tree");
		} else {
			uint8_t *p;

			r = img_ext_wb_get(b, m->blk[i].pblk, 1, &p);
			if (r == 0)
				memcpy(p, m->blk[i].buf, B);
		}
	}
	img_ext_map_free(m);
	return r;
}
