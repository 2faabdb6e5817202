// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Directory blocks, laid out whole in memory: a directory that fits in one
 * block is a linear block; a larger one is an htree (dir_index), its
 * entries sorted by name hash and packed into leaves, indexed by a root
 * block and, past one root's worth of leaves, a level of index nodes.
 * Checksum tails are left blank here: they need the written inode.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "image/img-ext.h"

#define B IMG_BLOCK_SIZE

static uint8_t file_type(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return EXT2_FT_REG_FILE;
	case S_IFDIR:
		return EXT2_FT_DIR;
	case S_IFCHR:
		return EXT2_FT_CHRDEV;
	case S_IFBLK:
		return EXT2_FT_BLKDEV;
	case S_IFIFO:
		return EXT2_FT_FIFO;
	case S_IFSOCK:
		return EXT2_FT_SOCK;
	case S_IFLNK:
		return EXT2_FT_SYMLINK;
	}
	return EXT2_FT_UNKNOWN;
}

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put_dirent(uint8_t *p, uint32_t ino, uint32_t rec_len,
		       const char *name, uint32_t len, uint8_t type)
{
	put32(p, ino);
	put16(p + 4, (uint16_t)rec_len);
	p[6] = (uint8_t)len;
	p[7] = type;
	memcpy(p + 8, name, len);
}

struct leaf {
	struct img_builder *b;
	uint8_t *blk; /* the block being filled */
	uint32_t pos, last; /* next free byte; the last entry (or UINT32_MAX) */
	uint32_t space; /* usable bytes (before the checksum tail) */
};

static void leaf_start(struct leaf *l, uint8_t *blk)
{
	l->blk = blk;
	l->pos = 0;
	l->last = UINT32_MAX;
}

static void leaf_add(struct leaf *l, uint32_t ino, const char *name,
		     uint32_t len, uint8_t type)
{
	put_dirent(l->blk + l->pos, ino, img_dirent_len(len), name, len, type);
	l->last = l->pos;
	l->pos += img_dirent_len(len);
}

static void leaf_finish(struct leaf *l)
{
	if (l->last == UINT32_MAX)
		put_dirent(l->blk, 0, l->space, "", 0, 0);
	else
		put16(l->blk + l->last + 4, (uint16_t)(l->space - l->last));
	if (l->space < B)
		ext2fs_initialize_dirent_tail(
			l->b->fs,
			(struct ext2_dir_entry_tail *)(l->blk + B - 12));
}

int img_ext_dir_empty(struct img_builder *b, ext2_ino_t ino, ext2_ino_t parent,
		      uint64_t blocks, uint8_t **ret_buf)
{
	struct leaf l = { .b = b, .space = img_dir_leaf_space(b->csum) };
	uint8_t *buf = calloc(blocks, B);

	if (!buf)
		return -ENOMEM;
	for (uint64_t i = 0; i < blocks; i++) {
		leaf_start(&l, buf + i * B);
		if (i == 0) {
			leaf_add(&l, ino, ".", 1, EXT2_FT_DIR);
			leaf_add(&l, parent, "..", 2, EXT2_FT_DIR);
		}
		leaf_finish(&l);
	}
	*ret_buf = buf;
	return 0;
}

struct hent {
	uint32_t hash, minor;
	uint32_t ent; /* index into plan->ents */
};

static int hent_cmp(const void *a, const void *b, void *plan)
{
	const struct hent *x = a, *y = b;
	const struct img_plan *p = plan;
	const struct img_ent *ex = &p->ents[x->ent], *ey = &p->ents[y->ent];
	size_t n;
	int c;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	if (x->minor != y->minor)
		return x->minor < y->minor ? -1 : 1;
	n = ex->name_len < ey->name_len ? ex->name_len : ey->name_len;
	c = memcmp(img_plan_name(p, ex), img_plan_name(p, ey), n);
	if (c)
		return c;
	return ex->name_len < ey->name_len ? -1 : ex->name_len > ey->name_len;
}

/* One dx entry: the hash where a child's range starts and its block. */
struct dxe {
	uint32_t hash;
	uint32_t block;
};

/* Writes count/limit and entries at @p (the countlimit slot first). */
static void put_dx_entries(uint8_t *p, uint32_t limit, const struct dxe *e,
			   uint32_t count)
{
	put16(p, (uint16_t)limit);
	put16(p + 2, (uint16_t)count);
	put32(p + 4, e[0].block);
	for (uint32_t i = 1; i < count; i++) {
		put32(p + 8 * i, e[i].hash);
		put32(p + 8 * i + 4, e[i].block);
	}
}

static int htree(struct img_builder *b, const struct img_node *n,
		 ext2_ino_t ino, ext2_ino_t parent, uint8_t **ret_buf,
		 uint64_t *ret_blocks)
{
	const struct img_plan *p = b->plan;
	uint32_t space = img_dir_leaf_space(b->csum);
	uint32_t tail = b->csum ? 8 : 0;
	uint32_t root_limit = (B - 32 - tail) / 8,
		 node_limit = (B - 8 - tail) / 8;
	struct hent *h = calloc(n->count ? n->count : 1, sizeof(*h));
	struct dxe *leaf_dx = NULL;
	uint32_t *leaf_start_ent = NULL;
	uint64_t nleaves = 0, nnodes = 0, nblocks, first_leaf;
	uint8_t *buf = NULL;
	struct leaf l = { .b = b, .space = space };
	int r = 0;

	if (!h)
		return -ENOMEM;
	for (uint32_t i = 0; i < n->count; i++) {
		const struct img_ent *e = &p->ents[n->first + i];
		ext2_dirhash_t hash, minor;
		errcode_t err = ext2fs_dirhash2(b->hash_alg,
						img_plan_name(p, e),
						e->name_len, b->fs->encoding, 0,
						b->fs->super->s_hash_seed,
						&hash, &minor);

		if (err) {
			r = img_ext_fail(b, err, "hashing directory entries");
			goto out;
		}
		h[i].hash = hash;
		h[i].minor = minor;
		h[i].ent = n->first + i;
	}
	qsort_r(h, n->count, sizeof(*h), hent_cmp, (void *)p);

	/* count the leaves greedily, in hash order */
	leaf_dx = calloc(n->count, sizeof(*leaf_dx));
	leaf_start_ent = calloc(n->count, sizeof(*leaf_start_ent));
	if (!leaf_dx || !leaf_start_ent) {
		r = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0, pos = space; i < n->count; i++) {
		uint32_t need = img_dirent_len(p->ents[h[i].ent].name_len);

		if (pos + need > space) {
			leaf_start_ent[nleaves] = i;
			/* a hash that goes on from the previous leaf says so
			 * in its low bit (name hashes have it clear) */
			leaf_dx[nleaves].hash =
				h[i].hash |
				(i && h[i - 1].hash == h[i].hash ? 1 : 0);
			nleaves++;
			pos = 0;
		}
		pos += need;
	}
	if (nleaves > root_limit) {
		nnodes = (nleaves + node_limit - 1) / node_limit;
		if (nnodes > root_limit) {
			r = dm_err_set(b->err, EFBIG,
				       "%s: directory too large for an htree",
				       b->what);
			goto out;
		}
	}
	first_leaf = 1 + nnodes;
	nblocks = first_leaf + nleaves;
	buf = calloc(nblocks, B);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	for (uint64_t k = 0; k < nleaves; k++)
		leaf_dx[k].block = (uint32_t)(first_leaf + k);

	/* leaves */
	for (uint64_t k = 0; k < nleaves; k++) {
		uint32_t end = k + 1 < nleaves ? leaf_start_ent[k + 1] :
						 n->count;

		leaf_start(&l, buf + (first_leaf + k) * B);
		for (uint32_t i = leaf_start_ent[k]; i < end; i++) {
			const struct img_ent *e = &p->ents[h[i].ent];

			leaf_add(&l, img_plan_ino(p, e->node),
				 img_plan_name(p, e), e->name_len,
				 file_type(p->nodes[e->node].mode));
		}
		leaf_finish(&l);
	}

	/* the root: ".", ".." spanning the block, then the index */
	put_dirent(buf, ino, 12, ".", 1, EXT2_FT_DIR);
	put_dirent(buf + 12, parent, B - 12, "..", 2, EXT2_FT_DIR);
	put32(buf + 24, 0); /* reserved_zero */
	buf[28] = b->fs->super->s_def_hash_version;
	buf[29] = 8; /* info_length */
	buf[30] = nnodes ? 1 : 0; /* indirect_levels */
	buf[31] = 0;
	if (!nnodes) {
		put_dx_entries(buf + 32, root_limit, leaf_dx,
			       (uint32_t)nleaves);
	} else {
		struct dxe root_e[512];
		uint64_t per = (nleaves + nnodes - 1) / nnodes;

		for (uint64_t j = 0; j < nnodes; j++) {
			uint64_t f = j * per;
			uint64_t c = nleaves - f < per ? nleaves - f : per;
			uint8_t *node = buf + (1 + j) * B;

			put_dirent(node, 0, B, "", 0, 0);
			put_dx_entries(node + 8, node_limit, leaf_dx + f,
				       (uint32_t)c);
			root_e[j].hash = leaf_dx[f].hash;
			root_e[j].block = (uint32_t)(1 + j);
		}
		put_dx_entries(buf + 32, root_limit, root_e, (uint32_t)nnodes);
	}
	*ret_buf = buf;
	*ret_blocks = nblocks;
	buf = NULL;
out:
	free(buf);
	free(h);
	free(leaf_dx);
	free(leaf_start_ent);
	return r;
}

int img_ext_dir_layout(struct img_builder *b, size_t node, ext2_ino_t ino,
		       ext2_ino_t parent, uint8_t **ret_buf,
		       uint64_t *ret_blocks, bool *ret_index)
{
	const struct img_plan *p = b->plan;
	const struct img_node *n = &p->nodes[node];
	uint32_t space = img_dir_leaf_space(b->csum);
	uint64_t bytes = 24;
	struct leaf l = { .b = b, .space = space };
	uint8_t *buf;

	for (uint32_t i = 0; i < n->count; i++)
		bytes += img_dirent_len(p->ents[n->first + i].name_len);
	if (bytes > space) {
		*ret_index = true;
		return htree(b, n, ino, parent, ret_buf, ret_blocks);
	}
	*ret_index = false;
	buf = calloc(1, B);
	if (!buf)
		return -ENOMEM;
	leaf_start(&l, buf);
	leaf_add(&l, ino, ".", 1, EXT2_FT_DIR);
	leaf_add(&l, parent, "..", 2, EXT2_FT_DIR);
	for (uint32_t i = 0; i < n->count; i++) {
		const struct img_ent *e = &p->ents[n->first + i];

		leaf_add(&l, img_plan_ino(p, e->node), img_plan_name(p, e),
			 e->name_len, file_type(p->nodes[e->node].mode));
	}
	leaf_finish(&l);
	*ret_buf = buf;
	*ret_blocks = 1;
	return 0;
}
