// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The template reader: a cache index mapped read-only, checked once at open
 * (bounds of every section, every id and offset a query can follow), then
 * queried without locks. Member data is read with pread() from the template
 * (in place) or from the cache's data file.
 */
#include "templates/tmpl-internal.h"
#include "templates/tmpl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/hash.h"

struct tmpl_index {
	void *map;
	size_t map_len;
	const struct tmpl_dheader *h;
	const struct tmpl_dnode *nodes;
	const struct tmpl_ddirent *dirents;
	const struct tmpl_dextent *extents;
	const char *strings;
	const unsigned char *xattrs;
	int data_fd; /* template (in place) or cache data file */
	struct tmpl_info info;
};

int tmpl_index_map(int idx_fd, int data_fd, int tpl_fd, const struct stat *st,
		   bool verify, struct tmpl_index **ret, const char **ret_why);
void tmpl_index_set_info(struct tmpl_index *idx, bool built, double seconds,
			 const char *index_path);

struct tmpl_index *tmpl_index_free(struct tmpl_index *idx)
{
	if (!idx)
		return NULL;
	if (idx->map)
		munmap(idx->map, idx->map_len);
	if (idx->data_fd >= 0)
		close(idx->data_fd);
	free(idx);
	return NULL;
}

static bool section_ok(uint64_t off, uint64_t n, uint64_t elem, uint64_t len)
{
	if (off > len || (off & 7))
		return false;
	if (elem && n > (len - off) / elem)
		return false;
	return true;
}

/* Validates every reference a query can follow, so queries need no checks. */
static const char *validate(const struct tmpl_index *x)
{
	const struct tmpl_dheader *h = x->h;

	for (uint64_t i = 0; i < h->n_nodes; i++) {
		const struct tmpl_dnode *n = &x->nodes[i];

		if (n->parent >= h->n_nodes)
			return "node parent out of range";
		if (n->xattr_count) {
			uint64_t off = n->xattr_off;

			for (uint32_t k = 0; k < n->xattr_count; k++) {
				uint32_t nl, vl;

				if (off + 8 > h->xattrs_size)
					return "xattr out of range";
				memcpy(&nl, x->xattrs + off, 4);
				memcpy(&vl, x->xattrs + off + 4, 4);
				if ((uint64_t)nl + 1 + vl >
				    h->xattrs_size - off - 8)
					return "xattr out of range";
				if (x->xattrs[off + 8 + nl] != '\0')
					return "xattr name unterminated";
				off += 8 + (uint64_t)nl + 1 + vl;
			}
		}
		switch (n->mode & S_IFMT) {
		case S_IFDIR:
			if (n->first > h->n_dirents ||
			    n->count > h->n_dirents - n->first)
				return "directory out of range";
			break;
		case S_IFREG:
			if (n->first > h->n_extents ||
			    n->count > h->n_extents - n->first)
				return "extents out of range";
			for (uint32_t k = 0; k < n->count; k++) {
				const struct tmpl_dextent *e =
					&x->extents[n->first + k];

				if (e->logical > n->size ||
				    e->length > n->size - e->logical)
					return "extent beyond file size";
				if (!h->in_place &&
				    (e->pos > h->data_size ||
				     e->length > h->data_size - e->pos))
					return "extent beyond data file";
				if (h->in_place &&
				    (e->pos > h->tpl_size ||
				     e->length > h->tpl_size - e->pos))
					return "extent beyond template";
			}
			break;
		case S_IFLNK:
			if (n->first > h->strings_size ||
			    (uint64_t)n->count + 1 >
				    h->strings_size - n->first ||
			    x->strings[n->first + n->count] != '\0')
				return "symlink target out of range";
			break;
		}
	}
	for (uint64_t i = 0; i < h->n_dirents; i++) {
		const struct tmpl_ddirent *d = &x->dirents[i];

		if (d->node >= h->n_nodes || d->node == TMPL_ROOT_ID)
			return "dirent node out of range";
		if (d->name_off > h->strings_size ||
		    (uint64_t)d->name_len + 1 > h->strings_size - d->name_off ||
		    x->strings[d->name_off + d->name_len] != '\0')
			return "dirent name out of range";
	}
	if (!h->n_nodes || !S_ISDIR(x->nodes[TMPL_ROOT_ID].mode))
		return "no root directory";
	return NULL;
}

int tmpl_index_map(int idx_fd, int data_fd, int tpl_fd, const struct stat *st,
		   bool verify, struct tmpl_index **ret, const char **ret_why)
{
	struct tmpl_index *x;
	const struct tmpl_dheader *h;
	struct stat ist;
	const char *why = NULL;
	int r = -ESTALE;

	if (fstat(idx_fd, &ist) < 0)
		return -errno;
	if ((uint64_t)ist.st_size < sizeof(struct tmpl_dheader)) {
		*ret_why = "index truncated";
		return -ESTALE;
	}
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->data_fd = -1;
	x->map_len = (size_t)ist.st_size;
	x->map = mmap(NULL, x->map_len, PROT_READ, MAP_SHARED, idx_fd, 0);
	if (x->map == MAP_FAILED) {
		x->map = NULL;
		r = -errno;
		goto out_free;
	}
	h = x->h = x->map;
	if (memcmp(h->magic, TMPL_INDEX_MAGIC, 8) != 0 ||
	    h->version != TMPL_FORMAT_VERSION ||
	    h->hdr_checksum != tmpl_header_checksum(h)) {
		why = "index header damaged or of another version";
		goto out_free;
	}
	if (h->file_size != (uint64_t)ist.st_size) {
		why = "index size mismatch";
		goto out_free;
	}
	if (h->tpl_dev != st->st_dev || h->tpl_ino != st->st_ino ||
	    h->tpl_size != (uint64_t)st->st_size ||
	    h->tpl_mtime_sec != st->st_mtim.tv_sec ||
	    h->tpl_mtime_nsec != (uint32_t)st->st_mtim.tv_nsec ||
	    h->tpl_ctime_sec != st->st_ctim.tv_sec ||
	    h->tpl_ctime_nsec != (uint32_t)st->st_ctim.tv_nsec) {
		why = "template changed since indexing";
		goto out_free;
	}
	if (!section_ok(h->nodes_off, h->n_nodes, sizeof(struct tmpl_dnode),
			x->map_len) ||
	    !section_ok(h->dirents_off, h->n_dirents,
			sizeof(struct tmpl_ddirent), x->map_len) ||
	    !section_ok(h->extents_off, h->n_extents,
			sizeof(struct tmpl_dextent), x->map_len) ||
	    !section_ok(h->strings_off, h->strings_size, 1, x->map_len) ||
	    !section_ok(h->xattrs_off, h->xattrs_size, 1, x->map_len) ||
	    h->n_nodes > UINT32_MAX) {
		why = "index sections out of range";
		goto out_free;
	}
	if (verify && dm_hash64((const char *)x->map + sizeof(*h),
				x->map_len - sizeof(*h), 0) != h->checksum) {
		why = "index checksum mismatch";
		goto out_free;
	}
	x->nodes = (const void *)((const char *)x->map + h->nodes_off);
	x->dirents = (const void *)((const char *)x->map + h->dirents_off);
	x->extents = (const void *)((const char *)x->map + h->extents_off);
	x->strings = (const char *)x->map + h->strings_off;
	x->xattrs = (const unsigned char *)x->map + h->xattrs_off;
	why = validate(x);
	if (why)
		goto out_free;

	if (h->in_place) {
		x->data_fd = fcntl(tpl_fd, F_DUPFD_CLOEXEC, 3);
	} else {
		struct tmpl_ddata_header dh;
		struct stat dst;

		if (data_fd < 0) {
			why = "data file missing";
			goto out_free;
		}
		if (fstat(data_fd, &dst) < 0 ||
		    (uint64_t)dst.st_size != h->data_size ||
		    pread(data_fd, &dh, sizeof(dh), 0) != sizeof(dh) ||
		    memcmp(dh.magic, TMPL_DATA_MAGIC, 8) != 0 ||
		    dh.build_id != h->build_id) {
			why = "data file does not match the index";
			goto out_free;
		}
		x->data_fd = fcntl(data_fd, F_DUPFD_CLOEXEC, 3);
	}
	if (x->data_fd < 0) {
		r = -errno;
		goto out_free;
	}
	x->info.entries = h->entries;
	x->info.nodes = h->n_nodes;
	x->info.bytes = h->bytes;
	x->info.data_bytes = h->data_size;
	x->info.in_place = h->in_place;
	*ret = x;
	return 0;

out_free:
	if (why)
		*ret_why = why;
	tmpl_index_free(x);
	return r;
}

void tmpl_index_set_info(struct tmpl_index *idx, bool built, double seconds,
			 const char *index_path)
{
	idx->info.built = built;
	idx->info.seconds = seconds;
	snprintf(idx->info.index_path, sizeof(idx->info.index_path), "%s",
		 index_path);
}

void tmpl_index_info(const struct tmpl_index *idx, struct tmpl_info *ret)
{
	*ret = idx->info;
}

uint32_t tmpl_index_nodes(const struct tmpl_index *idx)
{
	return (uint32_t)idx->h->n_nodes;
}

static const struct tmpl_dnode *node(const struct tmpl_index *idx, uint32_t id)
{
	if (id >= idx->h->n_nodes)
		return NULL;
	return &idx->nodes[id];
}

int tmpl_node_stat(const struct tmpl_index *idx, uint32_t id, struct stat *ret)
{
	const struct tmpl_dnode *n = node(idx, id);

	if (!n)
		return -ENOENT;
	memset(ret, 0, sizeof(*ret));
	ret->st_mode = n->mode;
	ret->st_nlink = n->nlink;
	ret->st_uid = n->uid;
	ret->st_gid = n->gid;
	ret->st_rdev = n->rdev;
	ret->st_size = (off_t)n->size;
	ret->st_blksize = 4096;
	ret->st_blocks = (blkcnt_t)n->blocks;
	ret->st_mtim.tv_sec = n->mtime_sec;
	ret->st_mtim.tv_nsec = n->mtime_nsec;
	ret->st_atim.tv_sec = n->atime_sec;
	ret->st_atim.tv_nsec = n->atime_nsec;
	ret->st_ctim.tv_sec = n->ctime_sec;
	ret->st_ctim.tv_nsec = n->ctime_nsec;
	return 0;
}

static int name_cmp(const struct tmpl_index *idx, const struct tmpl_ddirent *d,
		    const char *name, size_t len)
{
	size_t m = d->name_len < len ? d->name_len : len;
	int c = memcmp(idx->strings + d->name_off, name, m);

	if (c)
		return c;
	return d->name_len < len ? -1 : d->name_len > len;
}

int tmpl_dir_lookup(const struct tmpl_index *idx, uint32_t dir,
		    const char *name, size_t len, uint32_t *ret_id)
{
	const struct tmpl_dnode *n = node(idx, dir);
	uint64_t lo, hi;

	if (!n)
		return -ENOENT;
	if (!S_ISDIR(n->mode))
		return -ENOTDIR;
	if (len > 255)
		return -ENAMETOOLONG;
	lo = n->first;
	hi = n->first + n->count;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		int c = name_cmp(idx, &idx->dirents[mid], name, len);

		if (c == 0) {
			*ret_id = idx->dirents[mid].node;
			return 0;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -ENOENT;
}

int64_t tmpl_dir_count(const struct tmpl_index *idx, uint32_t dir)
{
	const struct tmpl_dnode *n = node(idx, dir);

	if (!n)
		return -ENOENT;
	if (!S_ISDIR(n->mode))
		return -ENOTDIR;
	return n->count;
}

int tmpl_dir_entry(const struct tmpl_index *idx, uint32_t dir, uint64_t i,
		   const char **ret_name, size_t *ret_len, uint32_t *ret_id)
{
	const struct tmpl_dnode *n = node(idx, dir);
	const struct tmpl_ddirent *d;

	if (!n)
		return -ENOENT;
	if (!S_ISDIR(n->mode))
		return -ENOTDIR;
	if (i >= n->count)
		return -ENOENT;
	d = &idx->dirents[n->first + i];
	*ret_name = idx->strings + d->name_off;
	*ret_len = d->name_len;
	*ret_id = d->node;
	return 0;
}

uint32_t tmpl_dir_parent(const struct tmpl_index *idx, uint32_t dir)
{
	const struct tmpl_dnode *n = node(idx, dir);

	return n ? n->parent : TMPL_ROOT_ID;
}

int tmpl_node_readlink(const struct tmpl_index *idx, uint32_t id,
		       const char **ret, size_t *ret_len)
{
	const struct tmpl_dnode *n = node(idx, id);

	if (!n)
		return -ENOENT;
	if (!S_ISLNK(n->mode))
		return -EINVAL;
	*ret = idx->strings + n->first;
	*ret_len = n->count;
	return 0;
}

/* First extent whose end lies beyond @off (binary search), or count. */
static uint32_t extent_at(const struct tmpl_index *idx,
			  const struct tmpl_dnode *n, uint64_t off)
{
	const struct tmpl_dextent *e = &idx->extents[n->first];
	uint32_t lo = 0, hi = n->count;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (e[mid].logical + e[mid].length <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int tmpl_node_map(const struct tmpl_index *idx, uint32_t id, uint64_t off,
		  int *ret_fd, uint64_t *ret_pos, uint64_t *ret_len)
{
	const struct tmpl_dnode *n = node(idx, id);
	const struct tmpl_dextent *e;
	uint32_t k;

	if (!n)
		return -ENOENT;
	if (!S_ISREG(n->mode))
		return -EINVAL;
	if (off >= n->size)
		return -ENXIO;
	k = extent_at(idx, n, off);
	if (k == n->count) {
		*ret_fd = -1;
		*ret_pos = 0;
		*ret_len = n->size - off;
		return 0;
	}
	e = &idx->extents[n->first + k];
	if (e->logical > off) {
		*ret_fd = -1;
		*ret_pos = 0;
		*ret_len = e->logical - off;
		return 0;
	}
	*ret_fd = idx->data_fd;
	*ret_pos = e->pos + (off - e->logical);
	*ret_len = e->logical + e->length - off;
	return 0;
}

ssize_t tmpl_node_read(const struct tmpl_index *idx, uint32_t id, void *buf,
		       size_t size, uint64_t off)
{
	const struct tmpl_dnode *n = node(idx, id);
	char *p = buf;
	size_t done = 0;

	if (!n)
		return -ENOENT;
	if (S_ISDIR(n->mode))
		return -EISDIR;
	if (!S_ISREG(n->mode))
		return -EINVAL;
	if (off >= n->size)
		return 0;
	if (size > n->size - off)
		size = (size_t)(n->size - off);
	while (done < size) {
		uint64_t pos, len;
		int fd, r;

		r = tmpl_node_map(idx, id, off + done, &fd, &pos, &len);
		if (r < 0)
			return r;
		if (len > size - done)
			len = size - done;
		if (fd < 0) {
			memset(p + done, 0, len);
		} else {
			ssize_t got = pread(fd, p + done, len, (off_t)pos);

			if (got < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			if (got == 0)
				return -EIO; /* template shrank under us */
			len = (uint64_t)got;
		}
		done += len;
	}
	return (ssize_t)done;
}

int tmpl_node_lseek(const struct tmpl_index *idx, uint32_t id, int64_t off,
		    int whence, int64_t *ret)
{
	const struct tmpl_dnode *n = node(idx, id);
	uint64_t pos, len;
	int fd, r;

	if (!n)
		return -ENOENT;
	if (!S_ISREG(n->mode))
		return -EINVAL;
	if (off < 0)
		return -ENXIO;
	if ((uint64_t)off >= n->size)
		return -ENXIO;
	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	for (uint64_t cur = (uint64_t)off; cur < n->size; cur += len) {
		r = tmpl_node_map(idx, id, cur, &fd, &pos, &len);
		if (r < 0)
			return r;
		if ((whence == SEEK_DATA) == (fd >= 0)) {
			*ret = (int64_t)cur;
			return 0;
		}
	}
	if (whence == SEEK_DATA)
		return -ENXIO;
	*ret = (int64_t)n->size; /* the virtual hole at EOF */
	return 0;
}

ssize_t tmpl_node_listxattr(const struct tmpl_index *idx, uint32_t id,
			    char *buf, size_t size)
{
	const struct tmpl_dnode *n = node(idx, id);
	uint64_t off;
	size_t need = 0;

	if (!n)
		return -ENOENT;
	off = n->xattr_off;
	for (uint32_t k = 0; k < n->xattr_count; k++) {
		uint32_t nl, vl;

		memcpy(&nl, idx->xattrs + off, 4);
		memcpy(&vl, idx->xattrs + off + 4, 4);
		if (size) {
			if (need + nl + 1 > size)
				return -ERANGE;
			memcpy(buf + need, idx->xattrs + off + 8, nl + 1);
		}
		need += nl + 1;
		off += 8 + (uint64_t)nl + 1 + vl;
	}
	return (ssize_t)need;
}

ssize_t tmpl_node_getxattr(const struct tmpl_index *idx, uint32_t id,
			   const char *name, void *buf, size_t size)
{
	const struct tmpl_dnode *n = node(idx, id);
	uint64_t off;

	if (!n)
		return -ENOENT;
	off = n->xattr_off;
	for (uint32_t k = 0; k < n->xattr_count; k++) {
		uint32_t nl, vl;
		const char *xn = (const char *)idx->xattrs + off + 8;

		memcpy(&nl, idx->xattrs + off, 4);
		memcpy(&vl, idx->xattrs + off + 4, 4);
		if (strcmp(xn, name) == 0) {
			if (size) {
				if (vl > size)
					return -ERANGE;
				memcpy(buf, xn + nl + 1, vl);
			}
			return (ssize_t)vl;
		}
		off += 8 + (uint64_t)nl + 1 + vl;
	}
	return -ENODATA;
}
