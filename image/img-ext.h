/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The libext2fs side of the image module, shared by img-ext.c (the
 * filesystem, inodes, xattrs, the end), img-ext-map.c (allocation, the
 * write buffer, extent trees and block maps) and img-ext-dir.c (directory
 * blocks and htree indexes). Only these files include <ext2fs/ext2fs.h>;
 * errcode_t becomes -errno at one place, img_ext_fail().
 *
 * Data goes around libext2fs: blocks are allocated in whole runs from a
 * cursor that only moves forward, and file data, directory blocks and
 * indirect blocks are written through a large write buffer on the
 * builder's own descriptor, so the target sees long sequential writes.
 * libext2fs writes the rest (inode tables, bitmaps, descriptors, xattr and
 * extent index blocks, the journal) through its own I/O channel; the two
 * never touch the same block.
 */
#ifndef IMG_EXT_H
#define IMG_EXT_H

#include <ext2fs/ext2fs.h>

#include "image/img-internal.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the image builder lays out on-disk structures in host order"
#endif

struct img_extent {
	uint64_t lblk;
	blk64_t pblk;
	uint32_t len;
};

struct img_builder {
	ext2_filsys fs;
	struct ovl_view *v;
	const struct img_plan *plan;
	const struct img_build_opts *o;
	struct dm_err *err;
	int fd; /* the target, written at fs_offset + block * block size */
	uint64_t fs_offset;
	bool csum; /* metadata_csum */
	bool extents;
	int hash_alg; /* for ext2fs_dirhash2() */
	blk64_t cursor; /* the next allocation starts looking here */

	uint8_t *wb; /* write buffer: wb_len bytes for blocks from wb_blk */
	size_t wb_cap, wb_len;
	blk64_t wb_blk;

	struct img_extent *ext; /* the current inode's extents */
	size_t next, cap_ext;

	struct img_progress progress;
	char what[8300]; /* the path being written, for messages */
};

/* The one errcode_t -> errno translation. */
int img_ext_errno(errcode_t e);

/* Sets b->err to "PATH: ACTION: reason" from @e; returns -errno. */
int img_ext_fail(struct img_builder *b, errcode_t e, const char *action);

/* Allocates up to @want blocks at or after the cursor (fewer when the
 * free run is shorter). */
int img_ext_alloc(struct img_builder *b, uint64_t want, blk64_t *ret_pblk,
		  uint64_t *ret_len);

/* The libext2fs allocation hook: single blocks from the cursor. */
errcode_t img_ext_alloc_hook(ext2_filsys fs, blk64_t goal, blk64_t *ret);

/* Room for @n blocks at @pblk in the write buffer (n <= img_ext_wb_max). */
int img_ext_wb_get(struct img_builder *b, blk64_t pblk, size_t n,
		   uint8_t **ret);
int img_ext_wb_flush(struct img_builder *b);
size_t img_ext_wb_max(const struct img_builder *b);

/* Appends [lblk, lblk + len) -> pblk to b->ext, merging and splitting. */
int img_ext_add_extent(struct img_builder *b, uint64_t lblk, blk64_t pblk,
		       uint64_t len);

/*
 * Maps b->ext into @inode (extent tree or block map), allocating and
 * writing the tree blocks; adds their count to *blocks. @ino is needed
 * for checksums: the inode must be written before img_ext_map_commit().
 */
struct img_map;
int img_ext_map_build(struct img_builder *b, ext2_ino_t ino,
		      struct ext2_inode_large *inode, uint64_t *blocks,
		      struct img_map **ret);
/* Checksums and writes the tree blocks; frees @m. */
int img_ext_map_commit(struct img_builder *b, ext2_ino_t ino,
		       struct img_map *m);
void img_ext_map_free(struct img_map *m);

/*
 * Lays out the directory of plan node @node (inode @ino, parent @parent)
 * into *ret_buf (*ret_blocks blocks, checksum tails left blank); *ret_index
 * says whether it is an htree.
 */
int img_ext_dir_layout(struct img_builder *b, size_t node, ext2_ino_t ino,
		       ext2_ino_t parent, uint8_t **ret_buf,
		       uint64_t *ret_blocks, bool *ret_index);

/* An empty directory of @blocks blocks ("." and ".." only). */
int img_ext_dir_empty(struct img_builder *b, ext2_ino_t ino, ext2_ino_t parent,
		      uint64_t blocks, uint8_t **ret_buf);

#endif
