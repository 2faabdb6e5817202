// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The ext2/3/4 builder: creates the filesystem with libext2fs (no mke2fs,
 * no mount), writes every plan node as one inode in inode-number order -
 * data, directory blocks, symlinks, devices, xattrs - and ends so that a
 * block device holds a valid superblock only once all else is synced.
 * Reads the tree only through overlay/view.h. errcode_t is translated
 * here and nowhere else (img_ext_errno).
 */
#include <errno.h>
#include <et/com_err.h>
#include <ext2fs/ext2_err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "image/img-ext.h"
#include "overlay/view.h"

#define B IMG_BLOCK_SIZE
#define WB_BYTES (8u << 20)

int img_ext_errno(errcode_t e)
{
	if (e > 0 && e < 4096)
		return (int)e; /* libext2fs passes system errors through */
	switch (e) {
	case EXT2_ET_NO_MEMORY:
		return ENOMEM;
	case EXT2_ET_BLOCK_ALLOC_FAIL:
	case EXT2_ET_INODE_ALLOC_FAIL:
	case EXT2_ET_DIR_NO_SPACE:
	case EXT2_ET_EA_NO_SPACE:
	case EXT2_ET_TOOSMALL:
	case EXT2_ET_RES_GDT_BLOCKS:
	case EXT2_ET_TOO_MANY_INODES:
	case EXT2_ET_JOURNAL_TOO_SMALL:
		return ENOSPC;
	case EXT2_ET_FILE_TOO_BIG:
		return EFBIG;
	case EXT2_ET_INVALID_ARGUMENT:
		return EINVAL;
	case EXT2_ET_UNIMPLEMENTED:
		return ENOSYS;
	}
	return EIO; /* short reads and writes, corruption */
}

int img_ext_fail(struct img_builder *b, errcode_t e, const char *action)
{
	const char *msg = e > 0 && e < 4096 ? strerror((int)e) :
					      error_message(e);

	return dm_err_set(b->err, img_ext_errno(e), "%s: %s: %s", b->what,
			  action, msg);
}

static void set_what(struct img_builder *b, size_t node, const char *target)
{
	char path[4096];

	img_plan_path(b->plan, node, path, sizeof(path));
	snprintf(b->what, sizeof(b->what), "%s: %s", target, path);
}

/* ext4's on-disk time: 32 bits of seconds, 2 epoch bits and nanoseconds. */
static void put_time(int64_t sec, long nsec, __u32 *lo, __u32 *extra)
{
	int64_t epoch;

	if (sec < INT32_MIN) {
		sec = INT32_MIN;
		nsec = 0;
	}
	epoch = (sec - (int64_t)(int32_t)sec) >> 32;
	if (epoch > 3) {
		epoch = 3;
		sec = (int64_t)INT32_MAX + (3LL << 32);
		nsec = 999999999;
	}
	*lo = (__u32)(uint32_t)sec;
	if (extra)
		*extra = (__u32)((uint64_t)epoch & 3) |
			 ((__u32)nsec << EXT4_EPOCH_BITS);
}

static void set_owner_times(struct img_builder *b,
			    struct ext2_inode_large *inode,
			    const struct stat *st)
{
	inode->i_uid = (__u16)st->st_uid;
	ext2fs_set_i_uid_high(*inode, (__u16)(st->st_uid >> 16));
	inode->i_gid = (__u16)st->st_gid;
	ext2fs_set_i_gid_high(*inode, (__u16)(st->st_gid >> 16));
	put_time(st->st_atim.tv_sec, st->st_atim.tv_nsec, &inode->i_atime,
		 &inode->i_atime_extra);
	put_time(st->st_mtim.tv_sec, st->st_mtim.tv_nsec, &inode->i_mtime,
		 &inode->i_mtime_extra);
	put_time(st->st_ctim.tv_sec, st->st_ctim.tv_nsec, &inode->i_ctime,
		 &inode->i_ctime_extra);
	put_time(b->o->now, 0, &inode->i_crtime, &inode->i_crtime_extra);
	inode->i_extra_isize =
		sizeof(struct ext2_inode_large) - EXT2_GOOD_OLD_INODE_SIZE;
}

static int report(struct img_builder *b)
{
	int r;

	if (!b->o->progress)
		return 0;
	r = b->o->progress(b->o->progress_ctx, &b->progress);
	if (r < 0)
		return dm_err_set(b->err, -r, "commit cancelled");
	return 0;
}

/* Reads file bytes for blocks [lblk, lblk + n) into the write buffer. */
static int fill(struct img_builder *b, const struct img_node *n, uint64_t lblk,
		blk64_t pblk, uint64_t nblk)
{
	uint64_t off = lblk * B, want = nblk * B, limit = 0, got = 0;
	uint8_t *p;
	int r;

	r = img_ext_wb_get(b, pblk, (size_t)nblk, &p);
	if (r < 0)
		return r;
	if (n->size > off)
		limit = n->size - off < want ? n->size - off : want;
	while (got < limit) {
		ssize_t k = ovl_view_read(b->v, n->vino, p + got,
					  (size_t)(limit - got), off + got);

		if (k < 0)
			return img_view_error(b->err, (int)k, NULL, b->what,
					      "reading");
		if (k == 0)
			return dm_err_set(b->err, EAGAIN,
					  "%s: changed during the commit (it "
					  "shrank)",
					  b->what);
		got += (uint64_t)k;
	}
	memset(p + got, 0, want - got);
	b->progress.bytes += got;
	return 0;
}

static int file_data(struct img_builder *b, const struct img_node *n,
		     uint64_t *blocks)
{
	const struct img_run *runs = b->plan->runs + n->first;
	uint64_t chunk = img_ext_wb_max(b);
	int r;

	for (uint32_t i = 0; i < n->count; i++) {
		uint64_t lblk = runs[i].lblk, left = runs[i].len;

		while (left > 0) {
			blk64_t pblk;
			uint64_t got;

			r = img_ext_alloc(b, left < chunk ? left : chunk, &pblk,
					  &got);
			if (r < 0)
				return r;
			r = fill(b, n, lblk, pblk, got);
			if (r < 0)
				return r;
			r = img_ext_add_extent(b, lblk, pblk, got);
			if (r < 0)
				return r;
			lblk += got;
			left -= got;
			*blocks += got;
		}
	}
	return 0;
}

/* Allocates @nblocks for a directory or symlink, extents in b->ext. */
static int alloc_blocks(struct img_builder *b, uint64_t nblocks)
{
	uint64_t lblk = 0;

	while (lblk < nblocks) {
		blk64_t pblk;
		uint64_t got;
		int r = img_ext_alloc(b, nblocks - lblk, &pblk, &got);

		if (r < 0)
			return r;
		r = img_ext_add_extent(b, lblk, pblk, got);
		if (r < 0)
			return r;
		lblk += got;
	}
	return 0;
}

/* Checksums directory blocks and queues them where b->ext maps them. */
static int put_dir_blocks(struct img_builder *b, ext2_ino_t ino, uint8_t *buf,
			  uint64_t nblocks)
{
	uint64_t k = 0;

	for (size_t i = 0; i < b->next; i++)
		for (uint32_t j = 0; j < b->ext[i].len; j++, k++) {
			uint8_t *p;
			errcode_t e;
			int r;

			if (k >= nblocks)
				return -EINVAL;
			e = ext2fs_dir_block_csum_set(
				b->fs, ino,
				(struct ext2_dir_entry *)(buf + k * B));
			if (e)
				return img_ext_fail(b, e, "directory checksum");
			r = img_ext_wb_get(b, b->ext[i].pblk + j, 1, &p);
			if (r < 0)
				return r;
			memcpy(p, buf + k * B, B);
		}
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int write_xattrs(struct img_builder *b, const struct img_node *n,
			ext2_ino_t ino)
{
	_cleanup_free_ char *list = NULL;
	_cleanup_free_ const char **names = NULL;
	struct ext2_xattr_handle *h = NULL;
	ssize_t len;
	size_t count = 0;
	errcode_t e;
	int r = 0;

	if (n->vino == 0)
		return 0;
	len = ovl_view_listxattr(b->v, n->vino, NULL, 0);
	if (len == -ENOTSUP || len == -ENODATA || len == 0)
		return 0;
	if (len < 0)
		return img_view_error(b->err, (int)len, NULL, b->what,
				      "listing xattrs");
	list = malloc((size_t)len);
	names = calloc((size_t)len, sizeof(*names));
	if (!list || !names)
		return -ENOMEM;
	len = ovl_view_listxattr(b->v, n->vino, list, (size_t)len);
	if (len < 0)
		return img_view_error(b->err, (int)len, NULL, b->what,
				      "listing xattrs");
	for (char *p = list; p < list + len; p += strlen(p) + 1)
		if (*p)
			names[count++] = p;
	/* a fixed order, so that equal views give equal images */
	if (count)
		qsort(names, count, sizeof(*names), name_cmp);
	e = ext2fs_xattrs_open(b->fs, ino, &h);
	if (e)
		return img_ext_fail(b, e, "writing xattrs");
	for (size_t i = 0; i < count && r == 0; i++) {
		_cleanup_free_ void *val = NULL;
		ssize_t vl =
			ovl_view_getxattr(b->v, n->vino, names[i], NULL, 0);

		if (vl >= 0) {
			val = malloc(vl ? (size_t)vl : 1);
			if (!val) {
				r = -ENOMEM;
				break;
			}
			vl = ovl_view_getxattr(b->v, n->vino, names[i], val,
					       (size_t)vl);
		}
		if (vl < 0) {
			char action[300];

			snprintf(action, sizeof(action), "reading xattr '%s'",
				 names[i]);
			r = img_view_error(b->err, (int)vl, NULL, b->what,
					   action);
			break;
		}
		e = ext2fs_xattr_set(h, names[i], val, (size_t)vl);
		if (e) {
			char action[300];

			snprintf(action, sizeof(action), "xattr '%s'",
				 names[i]);
			r = img_ext_fail(b, e, action);
		}
	}
	ext2fs_xattrs_close(&h);
	return r;
}

static int write_node(struct img_builder *b, size_t node, const char *target)
{
	const struct img_plan *p = b->plan;
	const struct img_node *n = &p->nodes[node];
	ext2_ino_t ino = img_plan_ino(p, node);
	struct ext2_inode_large inode;
	_cleanup_free_ uint8_t *dirbuf = NULL;
	struct img_map *m = NULL;
	uint64_t blocks = 0, dirblocks = 0, size = 0;
	struct stat st;
	bool is_dir;
	errcode_t e;
	int r;

	set_what(b, node, target);
	memset(&inode, 0, sizeof(inode));
	b->next = 0;
	if (n->vino == 0) {
		/* lost+found, made by the commit */
		memset(&st, 0, sizeof(st));
		st.st_mode = S_IFDIR | 0700;
		st.st_atim.tv_sec = st.st_mtim.tv_sec = st.st_ctim.tv_sec =
			b->o->now;
	} else {
		r = ovl_view_getattr(b->v, n->vino, &st);
		if (r < 0)
			return img_view_error(b->err, r, NULL, b->what, NULL);
		if ((st.st_mode & S_IFMT) != (n->mode & S_IFMT) ||
		    (S_ISREG(st.st_mode) && (uint64_t)st.st_size != n->size))
			return dm_err_set(b->err, EAGAIN,
					  "%s: changed during the commit",
					  b->what);
	}
	is_dir = S_ISDIR(st.st_mode);
	inode.i_mode = (__u16)st.st_mode;
	set_owner_times(b, &inode, &st);
	inode.i_links_count = (__u16)n->nlink;
	if (n->nlink > EXT2_LINK_MAX) {
		if (!is_dir || !ext2fs_has_feature_dir_nlink(b->fs->super))
			return dm_err_set(b->err, EMLINK, "%s: too many links",
					  b->what);
		inode.i_links_count = 1;
	}

	switch (st.st_mode & S_IFMT) {
	case S_IFREG: {
		uint64_t bytes0 = b->progress.bytes;

		r = file_data(b, n, &blocks);
		if (r < 0)
			return r;
		b->progress.bytes = bytes0 + n->size;
		size = n->size;
		r = img_ext_map_build(b, ino, &inode, &blocks, &m);
		break;
	}
	case S_IFDIR: {
		bool index = false;

		if (n->vino == 0) {
			dirblocks = IMG_LPF_BLOCKS;
			r = img_ext_dir_empty(b, ino,
					      img_plan_ino(p, n->parent),
					      dirblocks, &dirbuf);
		} else
			r = img_ext_dir_layout(b, node, ino,
					       img_plan_ino(p, n->parent),
					       &dirbuf, &dirblocks, &index);
		if (r < 0)
			return r;
		r = alloc_blocks(b, dirblocks);
		if (r < 0)
			return r;
		blocks = dirblocks;
		size = dirblocks * B;
		if (index)
			inode.i_flags |= EXT2_INDEX_FL;
		r = img_ext_map_build(b, ino, &inode, &blocks, &m);
		break;
	}
	case S_IFLNK: {
		char target_buf[IMG_BLOCK_SIZE];
		ssize_t len = ovl_view_readlink(b->v, n->vino, target_buf,
						sizeof(target_buf));

		if (len < 0)
			return img_view_error(b->err, (int)len, NULL, b->what,
					      NULL);
		if ((uint64_t)len != n->size)
			return dm_err_set(b->err, EAGAIN,
					  "%s: changed during the commit",
					  b->what);
		size = (uint64_t)len;
		if (size <= IMG_FAST_SYMLINK_MAX) {
			memcpy(inode.i_block, target_buf, size);
			r = 0;
			break;
		}
		r = alloc_blocks(b, 1);
		if (r == 0) {
			uint8_t *blk;

			r = img_ext_wb_get(b, b->ext[0].pblk, 1, &blk);
			if (r < 0)
				return r;
			memset(blk, 0, B);
			memcpy(blk, target_buf, size);
			blocks = 1;
			r = img_ext_map_build(b, ino, &inode, &blocks, &m);
		}
		break;
	}
	case S_IFCHR:
	case S_IFBLK: {
		unsigned ma = major(st.st_rdev), mi = minor(st.st_rdev);

		if (ma < 256 && mi < 256)
			inode.i_block[0] = (ma << 8) | mi;
		else
			inode.i_block[1] = (mi & 0xff) | (ma << 8) |
					   ((mi & ~0xffu) << 12);
		r = 0;
		break;
	}
	default: /* FIFOs and sockets have nothing more */
		r = 0;
		break;
	}
	if (r < 0)
		goto fail;

	e = ext2fs_inode_size_set(b->fs, EXT2_INODE(&inode), size);
	if (!e)
		e = ext2fs_iblk_set(b->fs, EXT2_INODE(&inode), blocks);
	if (!e)
		e = ext2fs_write_inode_full(b->fs, ino, EXT2_INODE(&inode),
					    sizeof(inode));
	if (e) {
		r = img_ext_fail(b, e, "writing the inode");
		goto fail;
	}
	ext2fs_inode_alloc_stats2(b->fs, ino, +1, is_dir);
	if (dirbuf) {
		r = put_dir_blocks(b, ino, dirbuf, dirblocks);
		if (r < 0)
			goto fail;
	}
	if (m) {
		r = img_ext_map_commit(b, ino, m);
		m = NULL;
		if (r < 0)
			return r;
	}
	return write_xattrs(b, n, ino);
fail:
	img_ext_map_free(m);
	return r;
}

/* Inode tables a block device must read back as zeros. */
static int zero_itables(struct img_builder *b)
{
	ext2_filsys fs = b->fs;
	uint64_t max_ino = img_plan_ino(b->plan, b->plan->nnodes - 1);
	uint32_t ipg = fs->super->s_inodes_per_group;
	bool csum = ext2fs_has_group_desc_csum(fs);

	for (dgrp_t g = 0; g < fs->group_desc_count; g++) {
		uint64_t first = (uint64_t)g * ipg, used;
		blk64_t nblk = fs->inode_blocks_per_group;
		errcode_t e;

		if (csum) {
			/* the kernel zeroes the rest lazily (bg_itable_unused) */
			used = max_ino > first ? max_ino - first : 0;
			if (used > ipg)
				used = ipg;
			nblk = (used * EXT2_INODE_SIZE(fs->super) + B - 1) / B;
		}
		if (nblk == 0)
			continue;
		e = ext2fs_zero_blocks2(fs, ext2fs_inode_table_loc(fs, g),
					(int)nblk, NULL, NULL);
		if (e)
			return img_ext_fail(b, e, "zeroing inode tables");
	}
	return 0;
}

static void set_features(const struct img_build_opts *o,
			 struct ext2_super_block *s)
{
	ext2fs_set_feature_xattr(s);
	ext2fs_set_feature_resize_inode(s);
	ext2fs_set_feature_dir_index(s);
	ext2fs_set_feature_filetype(s);
	ext2fs_set_feature_sparse_super(s);
	ext2fs_set_feature_large_file(s);
	if (o->fs == IMG_FS_EXT4) {
		ext2fs_set_feature_extents(s);
		ext2fs_set_feature_64bit(s);
		ext2fs_set_feature_flex_bg(s);
		ext2fs_set_feature_huge_file(s);
		ext2fs_set_feature_dir_nlink(s);
		ext2fs_set_feature_extra_isize(s);
		ext2fs_set_feature_metadata_csum(s);
		s->s_log_groups_per_flex = 4;
	}
}

static int create_fs(struct img_builder *b, const char *dev)
{
	const struct img_build_opts *o = b->o;
	struct ext2_super_block param;
	ext2_filsys fs;
	errcode_t e;

	memset(&param, 0, sizeof(param));
	ext2fs_blocks_count_set(&param, o->geom->blocks);
	ext2fs_r_blocks_count_set(&param, o->geom->r_blocks);
	param.s_log_block_size = 2; /* 4 KiB */
	param.s_rev_level = EXT2_DYNAMIC_REV;
	param.s_inode_size = IMG_INODE_SIZE;
	param.s_inodes_count = (__u32)o->geom->inodes;
	param.s_max_mnt_count = -1;
	param.s_default_mount_opts = EXT2_DEFM_XATTR_USER | EXT2_DEFM_ACL;
	set_features(o, &param);

	e = ext2fs_initialize(dev, EXT2_FLAG_64BITS, &param, unix_io_manager,
			      &fs);
	if (e)
		return img_ext_fail(b, e, "creating the filesystem");
	b->fs = fs;
	fs->priv_data = b;
	if (o->fs_offset) {
		char opt[64];

		snprintf(opt, sizeof(opt), "offset=%llu",
			 (unsigned long long)o->fs_offset);
		e = io_channel_set_options(fs->io, opt);
		if (e)
			return img_ext_fail(b, e, "opening the partition");
	}
	fs->now = (time_t)o->now;
	fs->super->s_mkfs_time = fs->super->s_lastcheck = (__u32)o->now;
	fs->super->s_checkinterval = 0;
	memcpy(fs->super->s_uuid, o->uuid, 16);
	memcpy(fs->super->s_hash_seed, o->hash_seed, 16);
	fs->super->s_def_hash_version = EXT2_HASH_HALF_MD4;
	if (o->label)
		strncpy((char *)fs->super->s_volume_name, o->label,
			sizeof(fs->super->s_volume_name));
	if (ext2fs_has_feature_metadata_csum(fs->super))
		fs->super->s_checksum_type = EXT2_CRC32C_CHKSUM;
	ext2fs_init_csum_seed(fs);
	b->csum = ext2fs_has_feature_metadata_csum(fs->super);
	b->extents = ext2fs_has_feature_extents(fs->super);
	b->hash_alg = fs->super->s_def_hash_version;
	if (b->hash_alg <= EXT2_HASH_TEA &&
	    (fs->super->s_flags & EXT2_FLAGS_UNSIGNED_HASH))
		b->hash_alg += 3;

	e = ext2fs_allocate_tables(fs);
	if (e)
		return img_ext_fail(b, e, "allocating group tables");
	if (o->zero_itable) {
		int r = zero_itables(b);

		if (r < 0)
			return r;
	} else if (ext2fs_has_group_desc_csum(fs)) {
		/* a new sparse file: every inode table reads as zeros */
		for (dgrp_t g = 0; g < fs->group_desc_count; g++)
			ext2fs_bg_flags_set(fs, g, EXT2_BG_INODE_ZEROED);
	}
	/* the reserved inodes; the root is written with the tree */
	for (ext2_ino_t i = 1; i < EXT2_FIRST_INODE(fs->super); i++)
		if (i != EXT2_ROOT_INO)
			ext2fs_inode_alloc_stats2(fs, i, +1, 0);
	e = ext2fs_update_bb_inode(fs, NULL);
	if (e)
		return img_ext_fail(b, e, "writing the bad blocks inode");
	if (ext2fs_has_feature_resize_inode(fs->super)) {
		e = ext2fs_create_resize_inode(fs);
		if (e)
			return img_ext_fail(b, e, "creating the resize inode");
	}
	if (o->geom->journal_blocks) {
		struct ext2fs_journal_params jp = {
			.num_journal_blocks = o->geom->journal_blocks,
		};
		int flags = EXT2_MKJOURNAL_NO_MNT_CHECK;

		if (!o->zero_itable)
			flags |= EXT2_MKJOURNAL_LAZYINIT; /* reads as zeros */
		e = ext2fs_add_journal_inode3(fs, &jp, ~0ULL, flags);
		if (e)
			return img_ext_fail(b, e, "creating the journal");
	}
	ext2fs_set_alloc_block_callback(fs, img_ext_alloc_hook, NULL);
	b->cursor = fs->super->s_first_data_block;
	return 0;
}

/*
 * The end. An image file (a temporary nobody else sees) is simply closed;
 * the caller syncs and renames it. A block device gets every superblock
 * written without its magic number and synced, then the primary one with
 * it (the moment it becomes a filesystem), then the backups.
 */
static int finish(struct img_builder *b, bool block_device)
{
	ext2_filsys fs = b->fs;
	errcode_t e;
	int r;

	r = img_ext_wb_flush(b);
	if (r < 0)
		return r;
	e = ext2fs_set_gdt_csum(fs);
	if (e)
		return img_ext_fail(b, e, "group descriptors");
	if (!block_device) {
		b->fs = NULL;
		e = ext2fs_close2(fs, EXT2_FLAG_FLUSH_NO_SYNC);
		if (e) {
			ext2fs_free(fs);
			return img_ext_fail(b, e, "writing metadata");
		}
		return 0;
	}
	if (fsync(b->fd) < 0)
		return dm_err_set(b->err, errno, "%s: syncing: %s", b->what,
				  strerror(errno));
	fs->super->s_magic = 0;
	e = ext2fs_flush2(fs, 0);
	if (e)
		return img_ext_fail(b, e, "writing metadata");
	fs->super->s_magic = EXT2_SUPER_MAGIC;
	fs->flags |= EXT2_FLAG_MASTER_SB_ONLY | EXT2_FLAG_SUPER_ONLY;
	ext2fs_mark_super_dirty(fs);
	e = ext2fs_flush2(fs, 0);
	if (e)
		return img_ext_fail(b, e, "writing the superblock");
	fs->flags &= ~(EXT2_FLAG_MASTER_SB_ONLY | EXT2_FLAG_SUPER_ONLY);
	ext2fs_mark_super_dirty(fs);
	b->fs = NULL;
	e = ext2fs_close2(fs, 0);
	if (e) {
		ext2fs_free(fs);
		return img_ext_fail(b, e, "writing backup superblocks");
	}
	return 0;
}

int img_ext_build(struct ovl_view *v, const struct img_plan *plan,
		  struct img_target *t, const struct img_build_opts *o,
		  struct dm_err *err)
{
	struct img_builder b = {
		.v = v,
		.plan = plan,
		.o = o,
		.err = err,
		.fd = t->fd,
		.fs_offset = o->fs_offset,
		.wb_cap = WB_BYTES,
	};
	char proc[64];
	const char *dev = t->block_device ? t->path : t->tmp_path;
	int r;

	if (!dev[0]) {
		/* a temporary without a name yet (O_TMPFILE): through its fd */
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", t->fd);
		dev = proc;
	}
	initialize_ext2_error_table();
	snprintf(b.what, sizeof(b.what), "%s", t->path);
	b.wb = aligned_alloc(B, WB_BYTES);
	if (!b.wb)
		return -ENOMEM;
	b.progress.phase = "write";
	b.progress.entries_total = plan->nnodes;
	b.progress.bytes_total = plan->bytes;
	r = create_fs(&b, dev);
	for (size_t i = 0; r == 0 && i < plan->nnodes; i++) {
		r = write_node(&b, i, t->path);
		b.progress.entries++;
		if (r == 0)
			r = report(&b);
	}
	if (r == 0) {
		snprintf(b.what, sizeof(b.what), "%s", t->path);
		b.progress.phase = "sync";
		r = report(&b);
	}
	if (r == 0)
		r = finish(&b, t->block_device);
	if (b.fs)
		ext2fs_free(b.fs);
	free(b.wb);
	free(b.ext);
	if (r == -ENOMEM && !err->code)
		dm_err_set(err, ENOMEM, "%s: %s", t->path, strerror(ENOMEM));
	return r;
}
