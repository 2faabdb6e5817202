// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The view over its layers. With the template as its only layer, a view
 * inode is a template node (ino = id + 1) and nothing is mutable, so there
 * is no lock: every call reads the immutable index.
 */
#include "overlay/view.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

struct ovl_view {
	struct ovl_layer lower;
	uint64_t files, bytes;
};

struct ovl_dir {
	struct ovl_view *v;
	uint32_t id;
	uint64_t count; /* entries, "." and ".." included */
};

static bool ino_to_id(const struct ovl_view *v, uint64_t ino, uint32_t *ret)
{
	if (ino == 0 || ino > v->lower.nodes)
		return false;
	*ret = (uint32_t)(ino - 1);
	return true;
}

int ovl_view_new(const struct ovl_layer *lower, struct ovl_view **ret)
{
	struct ovl_view *v = calloc(1, sizeof(*v));
	struct stat st;

	if (!v)
		return -ENOMEM;
	v->lower = *lower;
	v->files = lower->nodes;
	for (uint32_t i = 0; i < lower->nodes; i++)
		if (lower->ops->getattr(lower->data, i, &st) == 0 &&
		    S_ISREG(st.st_mode))
			v->bytes += (uint64_t)st.st_blocks * 512;
	*ret = v;
	return 0;
}

struct ovl_view *ovl_view_free(struct ovl_view *v)
{
	free(v);
	return NULL;
}

bool ovl_view_readonly(const struct ovl_view *v)
{
	return true;
}

bool ovl_view_immutable(const struct ovl_view *v, uint64_t ino)
{
	return true;
}

static int stat_id(struct ovl_view *v, uint32_t id, struct stat *ret)
{
	int r = v->lower.ops->getattr(v->lower.data, id, ret);

	if (r < 0)
		return r;
	ret->st_ino = (ino_t)id + 1;
	return 0;
}

int ovl_view_lookup(struct ovl_view *v, uint64_t dir, const char *name,
		    struct stat *ret_st)
{
	uint32_t d, id;
	size_t len = strlen(name);
	int r;

	if (!ino_to_id(v, dir, &d))
		return -ESTALE;
	if (len > 255)
		return -ENAMETOOLONG;
	if (strcmp(name, ".") == 0)
		id = d;
	else if (strcmp(name, "..") == 0)
		id = v->lower.ops->dir_parent(v->lower.data, d);
	else {
		r = v->lower.ops->lookup(v->lower.data, d, name, len, &id);
		if (r < 0)
			return r;
	}
	return stat_id(v, id, ret_st);
}

void ovl_view_forget(struct ovl_view *v, uint64_t ino, uint64_t n)
{
	/* Template nodes live as long as the view: nothing to release. */
}

int ovl_view_getattr(struct ovl_view *v, uint64_t ino, struct stat *ret)
{
	uint32_t id;

	if (!ino_to_id(v, ino, &id))
		return -ESTALE;
	return stat_id(v, id, ret);
}

ssize_t ovl_view_readlink(struct ovl_view *v, uint64_t ino, char *buf,
			  size_t size)
{
	const char *t;
	size_t len;
	uint32_t id;
	int r;

	if (!ino_to_id(v, ino, &id))
		return -ESTALE;
	r = v->lower.ops->readlink(v->lower.data, id, &t, &len);
	if (r < 0)
		return r;
	if (len > size)
		len = size;
	memcpy(buf, t, len);
	return (ssize_t)len;
}

int ovl_view_opendir(struct ovl_view *v, uint64_t ino, struct ovl_dir **ret)
{
	struct ovl_dir *d;
	uint32_t id;
	int64_t n;

	if (!ino_to_id(v, ino, &id))
		return -ESTALE;
	n = v->lower.ops->dir_count(v->lower.data, id);
	if (n < 0)
		return (int)n;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->v = v;
	d->id = id;
	d->count = (uint64_t)n + 2;
	*ret = d;
	return 0;
}

struct ovl_dir *ovl_dir_close(struct ovl_dir *d)
{
	free(d);
	return NULL;
}

uint64_t ovl_dir_count(const struct ovl_dir *d)
{
	return d->count;
}

int ovl_dir_entry(struct ovl_dir *d, uint64_t i, const char **ret_name,
		  struct stat *ret_st)
{
	const struct ovl_layer *l = &d->v->lower;
	uint32_t id;
	size_t len;
	int r;

	if (i >= d->count)
		return -ENOENT;
	if (i == 0) {
		*ret_name = ".";
		id = d->id;
	} else if (i == 1) {
		*ret_name = "..";
		id = l->ops->dir_parent(l->data, d->id);
	} else {
		r = l->ops->dir_entry(l->data, d->id, i - 2, ret_name, &len,
				      &id);
		if (r < 0)
			return r;
	}
	return stat_id(d->v, id, ret_st);
}

int ovl_view_open(struct ovl_view *v, uint64_t ino, int flags)
{
	uint32_t id;

	if (!ino_to_id(v, ino, &id))
		return -ESTALE;
	if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC))
		return -EROFS;
	return 0;
}

ssize_t ovl_view_read(struct ovl_view *v, uint64_t ino, void *buf, size_t size,
		      uint64_t off)
{
	uint32_t id;

	if (!ino_to_id(v, ino, &id))
		return -ESTALE;
	return v->lower.ops->read(v->lower.data, id, buf, size, off);
}

int ovl_view_map(struct ovl_view *v, uint64_t ino, uint64_t off, int *ret_fd,
		 uint64_t *ret_pos, uint64_t *ret_len)
{
	uint32_t id;

	if (!ino_to_id(v, ino, &id))
		return -ESTALE;
	return v->lower.ops->map(v->lower.data, id, off, ret_fd, ret_pos,
				 ret_len);
}

int ovl_view_lseek(struct ovl_view *v, uint64_t ino, int64_t off, int whence,
		   int64_t *ret)
{
	uint32_t id;

	if (!ino_to_id(v, ino, &id))
		return -ESTALE;
	return v->lower.ops->lseek(v->lower.data, id, off, whence, ret);
}

ssize_t ovl_view_listxattr(struct ovl_view *v, uint64_t ino, char *buf,
			   size_t size)
{
	uint32_t id;

	if (!ino_to_id(v, ino, &id))
		return -ESTALE;
	return v->lower.ops->listxattr(v->lower.data, id, buf, size);
}

ssize_t ovl_view_getxattr(struct ovl_view *v, uint64_t ino, const char *name,
			  void *buf, size_t size)
{
	uint32_t id;

	if (!ino_to_id(v, ino, &id))
		return -ESTALE;
	return v->lower.ops->getxattr(v->lower.data, id, name, buf, size);
}

void ovl_view_statfs(struct ovl_view *v, uint64_t *ret_files,
		     uint64_t *ret_bytes)
{
	*ret_files = v->files;
	*ret_bytes = v->bytes;
}
