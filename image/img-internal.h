/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Interfaces between the parts of the image module. Nothing here includes
 * <ext2fs/ext2fs.h>: the plan, the size arithmetic, the MBR and the target
 * checks are plain C so that unit tests can reach them; only img-ext*.c
 * talk to libext2fs (through img-ext.h).
 */
#ifndef IMG_INTERNAL_H
#define IMG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "image/img.h"

#define IMG_BLOCK_SIZE 4096u
#define IMG_INODE_SIZE 256u
#define IMG_FIRST_INO 11u /* the first non-reserved ext2 inode */
#define IMG_LPF_BLOCKS 4u /* lost+found is made 16 KiB, as mke2fs does */
#define IMG_PART_OFFSET (1024u * 1024u) /* msdos: the partition's start */
#define IMG_EXT_MAX_LEN 32768u /* blocks in one initialized extent */
#define IMG_FAST_SYMLINK_MAX 59u /* targets up to this fit in i_block */
#define IMG_INODE_XATTR_SPACE 88u /* in-inode xattr room of a 256-byte inode */
/* xattr room of a block: less its 32-byte header and 4-byte end marker */
#define IMG_XATTR_BLOCK_SPACE (IMG_BLOCK_SIZE - 32u - 4u)

/* ---- the plan: the view scanned once, in the order it will be written */

/*
 * Inode identifiers, continued from overlay/view.h: the scan gives every
 * distinct view inode (st_ino) one plan node, in the order it is met by a
 * walk that lists each directory in byte order, numbers all of its
 * entries, then descends into its subdirectories. Node 0 is the root.
 * The ext2 inode number of node i is a function of i alone
 * (img_plan_ino()): the root is 2, then IMG_FIRST_INO on. So a
 * directory's entries get consecutive inode numbers, and hardlinks - names
 * whose st_ino was seen before - share their node. When the view has no
 * /lost+found, the plan adds one, as e2fsck wants it: a node of its own
 * (vino 0) numbered after the root's other entries, listed in byte order
 * among them.
 */
struct img_node {
	uint64_t vino; /* view inode number */
	uint64_t size; /* st_size */
	uint64_t blocks; /* data blocks (files, slow symlinks) */
	uint32_t mode;
	uint32_t nlink; /* names (non-dirs); 2 + subdirectories (dirs) */
	uint32_t parent; /* node of the directory of its first name */
	uint32_t name; /* entry of its first name (UINT32_MAX: root) */
	uint32_t first; /* dirs: first entry; files: first data run */
	uint32_t count; /* dirs: entries; files: data runs */
	uint32_t xattr_blocks; /* 1 when its xattrs overflow the inode */
};

struct img_ent {
	uint64_t name_off; /* into plan->names */
	uint32_t node;
	uint16_t name_len;
};

/* Logical blocks [lblk, lblk + len) hold data; the rest of a file is holes. */
struct img_run {
	uint64_t lblk;
	uint64_t len;
};

struct img_plan {
	struct img_node *nodes;
	size_t nnodes, cap_nodes;
	struct img_ent *ents;
	size_t nents, cap_ents;
	struct img_run *runs;
	size_t nruns, cap_runs;
	char *names;
	size_t names_len, cap_names;
	bool add_lost_found; /* a node with vino 0 is the commit's lost+found */
	uint64_t data_blocks; /* files and symlinks */
	uint64_t dir_blocks; /* estimate (the htree layout depends on hashes) */
	uint64_t map_blocks; /* extent tree / indirect blocks, estimate */
	uint64_t xattr_blocks;
	uint64_t bytes; /* regular file bytes, each inode once */
};

/*
 * img_plan_build()'s @fs for a tarball (`commit --format`): no ext2/3/4
 * limit applies (xattr room, link count); the block counts are not used.
 */
#define IMG_FS_TAR ((enum img_fs)(IMG_FS_EXT4 + 1))

/*
 * Scans the whole view (for the commit to @target). @fs decides the mapping estimate (extents or not)
 * and, unless IMG_FS_TAR, refuses what that filesystem cannot store.
 */
int img_plan_build(struct ovl_view *v, enum img_fs fs, const char *target,
		   img_progress_fn pf, void *pctx, struct img_plan *ret,
		   struct dm_err *err);

/*
 * The error -@r the view gave about @what (a path in the view, "TARGET:
 * PATH" when @target is NULL) while @action (NULL: none). A path gone
 * since it was listed (ENOENT, ESTALE: a writable mount of the overlay
 * removed it) is the tree changing under the commit: "TARGET: PATH:
 * changed during the commit". Returns -errno.
 */
int img_view_error(struct dm_err *err, int r, const char *target,
		   const char *what, const char *action);
void img_plan_free(struct img_plan *p);

static inline uint32_t img_plan_ino(const struct img_plan *p, size_t node)
{
	(void)p;
	if (node == 0)
		return 2;
	return (uint32_t)(IMG_FIRST_INO + (node - 1));
}

static inline const char *img_plan_name(const struct img_plan *p,
					const struct img_ent *e)
{
	return p->names + e->name_off;
}

/* The path of a node ("/" for the root), for messages. */
void img_plan_path(const struct img_plan *p, size_t node, char *buf,
		   size_t size);

/* Inodes the filesystem needs: the reserved ones and the tree's. */
uint64_t img_plan_inodes(const struct img_plan *p);
/* Blocks the tree needs (no filesystem metadata, no journal). */
uint64_t img_plan_blocks(const struct img_plan *p);

/* ---- directory layout arithmetic (shared by the plan and the builder) */

/* Bytes a directory entry takes for a name of @len bytes. */
static inline uint32_t img_dirent_len(uint32_t len)
{
	return (8 + len + 3) & ~3u;
}

/* Usable bytes of a directory leaf block (minus the checksum tail). */
static inline uint32_t img_dir_leaf_space(bool csum)
{
	return IMG_BLOCK_SIZE - (csum ? 12u : 0u);
}

/*
 * Blocks of a directory holding entries whose dirent sizes sum to @bytes
 * (without "." and ".."), the largest being @max_rec: one linear block if
 * everything fits, else an htree root plus leaves (an upper bound).
 */
uint64_t img_dir_blocks_estimate(uint64_t bytes, uint32_t max_rec,
				 uint64_t count, bool csum);

/* ---- size arithmetic (img-size.c, pure) */

struct img_geom_in {
	enum img_fs fs;
	uint64_t tree_inodes; /* img_plan_inodes() */
	uint64_t tree_blocks; /* img_plan_blocks() */
};

struct img_geom {
	uint64_t blocks; /* filesystem blocks */
	uint64_t inodes; /* inodes to ask ext2fs_initialize() for */
	uint32_t journal_blocks; /* 0 for ext2 */
	uint64_t overhead; /* metadata blocks: superblocks, tables, journal */
	uint64_t r_blocks; /* reserved for root */
};

/* The journal size for a filesystem of @blocks (the mke2fs table). */
uint32_t img_size_journal_blocks(enum img_fs fs, uint64_t blocks);

/* Metadata blocks of a filesystem of @blocks with @inodes inodes. */
uint64_t img_size_overhead(enum img_fs fs, uint64_t blocks, uint64_t inodes);

/*
 * The geometry for a filesystem of @blocks: the inode count (one per 16 KiB
 * or what the tree needs, whichever is more). -ENOSPC when the tree does
 * not fit.
 */
int img_size_fit(const struct img_geom_in *in, uint64_t blocks,
		 struct img_geom *ret);

/* The smallest filesystem the tree fits in. */
int img_size_min(const struct img_geom_in *in, struct img_geom *ret);

/*
 * A computed size: the tree, the metadata and journal it implies, and a
 * reserve of free space (max(32 MiB, 1/8 of the tree)) besides the 5%
 * reserved for root; a multiple of 1 MiB.
 */
int img_size_auto(const struct img_geom_in *in, struct img_geom *ret);

/* ---- the MBR (img-mbr.c, pure) */

#define IMG_MBR_SIZE 512u
/* Sectors an MBR reaches: every LBA it holds fits in 32 bits (2 TiB). */
#define IMG_MBR_MAX_SECTORS 0x100000000ULL

/*
 * One bootable Linux (0x83) primary partition of @sectors 512-byte sectors
 * from @start_lba; @disk_id is the NT disk signature. -EFBIG past the
 * 2 TiB an MBR can describe.
 */
int img_mbr_encode(uint8_t out[IMG_MBR_SIZE], uint64_t start_lba,
		   uint64_t sectors, uint32_t disk_id);

/* ---- target probing (img-target.c) */

/*
 * Names a filesystem, partition table or volume signature found in @buf
 * (the first @len bytes of a device, at least 68 KiB for every probe), or
 * NULL. Pure.
 */
const char *img_probe_signature(const uint8_t *buf, size_t len);

/*
 * Names a signature kept at the end of a target of @size bytes: an md RAID
 * 0.90 or 1.0 superblock, a GPT backup header. @buf holds the target's
 * last @len bytes (128 KiB reach every one). Pure.
 */
const char *img_probe_tail(const uint8_t *buf, size_t len, uint64_t size);

/*
 * Names a tar archive or a gzip, zstd, xz or bzip2 stream at the start of
 * @buf (at least 262 bytes for tar), or NULL. Pure. An image target is
 * refused for these too: a template named as the target by mistake.
 */
const char *img_probe_archive(const uint8_t *buf, size_t len);

/*
 * Where the partitions of the MBR or GPT at the start of @buf (the first
 * @len bytes of a device) begin, in bytes: at most @max into @ret, the
 * count returned. Only the GPT entries within @buf count; an MBR's
 * logical partitions do not. Pure.
 */
size_t img_probe_partitions(const uint8_t *buf, size_t len, uint64_t *ret,
			    size_t max);

#define IMG_OLD_PARTS_MAX 128u /* a GPT's usual table */

struct img_target {
	char path[4096];
	bool block_device;
	bool exists;
	dev_t dev; /* an existing image file: the one checked, by the rename */
	ino_t ino;
	int fd; /* O_EXCL block device, or the temporary image file */
	char tmp_path[4096]; /* image files: the temporary beside the target */
	uint64_t device_size; /* block devices */
	bool discard; /* block devices: BLKDISCARD the whole device */
	/* block devices: where the old table's partitions start, to wipe */
	uint64_t old_parts[IMG_OLD_PARTS_MAX];
	size_t nold_parts;
};

/*
 * Inspects @path before anything is written: what it is, whether it is
 * mounted or in use, whether it holds a signature or an archive (refused
 * unless @o->force), what @o->check_target says. Opens a block device O_EXCL.
 */
int img_target_open(const char *path, const struct img_commit_opts *o,
		    struct img_target *ret, struct dm_err *err);

/*
 * The refusals of img_target_open() for a target written as a new file
 * (a tarball): an existing @path must be a regular file, not backing a
 * mounted loop device, not refused by @o->check_target, and hold no
 * signature (unless @o->force). A missing @path passes.
 */
int img_target_check_file(const char *path, const struct img_commit_opts *o,
			  struct dm_err *err);

/*
 * Makes the target ready for @size bytes: creates the temporary image file
 * (sparse, @size long), or wipes a block device's signatures (@fs_offset:
 * where the filesystem starts), discards the whole device (unless
 * --no-discard; where it cannot, nothing) and syncs.
 */
int img_target_prepare(struct img_target *t, uint64_t size, uint64_t fs_offset,
		       struct dm_err *err);

/* Syncs and renames the temporary file into place (image files). */
int img_target_commit(struct img_target *t, struct dm_err *err);

/* Closes; removes a temporary file that was not committed. */
void img_target_close(struct img_target *t);

/* ---- the filesystem builder (img-ext.c) */

struct img_build_opts {
	enum img_fs fs;
	uint64_t fs_offset; /* bytes: where the filesystem starts on the target */
	const struct img_geom *geom;
	const char *label;
	uint8_t uuid[16];
	uint8_t hash_seed[16];
	int64_t now; /* superblock and reserved-inode times */
	bool zero_itable; /* the target is not known to read back zeros */
	img_progress_fn progress;
	void *progress_ctx;
};

/*
 * Builds the filesystem on @t from @plan and the view. On success the
 * filesystem is complete, synced and its primary superblock valid; on
 * failure no superblock on the target carries the ext2 magic.
 */
int img_ext_build(struct ovl_view *v, const struct img_plan *plan,
		  struct img_target *t, const struct img_build_opts *o,
		  struct dm_err *err);

#endif
