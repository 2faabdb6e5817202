// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The view over its layers. Read-only (the template alone): a view inode
 * is a template node (ino = id + 1), nothing is mutable and no lock is
 * taken. With an upper directory every call goes to merge.c.
 */
#include "overlay/view.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "overlay/fixlayer.h"
#include "overlay/merge.h"

struct ovl_view {
	struct ovl_layer lower;
	struct ovl_merge *m; /* NULL: read-only */
	struct ovl_fx *fx; /* fixups over @base, or NULL */
	struct ovl_view *base; /* with fixups: the view they apply to */
	uint64_t files, bytes;
};

struct ovl_dir {
	struct ovl_view *v;
	uint32_t id;
	uint64_t count; /* entries, "." and ".." included */
	struct ovl_mdir *md; /* the writable view's listing, or NULL */
	struct ovl_dir *inner; /* fixups, untouched directory: the base's */
	char **names; /* fixups, touched directory: its listing */
	uint64_t ino;
};

static bool ino_to_id(const struct ovl_view *v, uint64_t ino, uint32_t *ret)
{
	if (ino == 0 || ino > v->lower.nodes)
		return false;
	*ret = (uint32_t)(ino - 1);
	return true;
}

int ovl_view_new(const struct ovl_layer *lower,
		 const struct ovl_view_opts *opts, struct ovl_view **ret,
		 struct dm_err *err)
{
	struct ovl_view *v = calloc(1, sizeof(*v));
	struct stat st;
	int r;

	if (!v)
		return dm_err_set(err, ENOMEM, "out of memory");
	v->lower = *lower;
	if (opts && opts->profile) {
		struct ovl_view_opts bo = *opts;

		bo.profile = NULL;
		r = ovl_view_new(lower, &bo, &v->base, err);
		if (r == 0)
			r = ovl_fx_new(v->base, opts, &v->fx, err);
		if (r < 0) {
			ovl_view_free(v->base);
			free(v);
			return r;
		}
		*ret = v;
		return 0;
	}
	if (opts && opts->upper_dir) {
		r = ovl_merge_new(lower, opts->upper_dir, &v->m, err);
		if (r < 0) {
			free(v);
			return r;
		}
	}
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
	if (!v)
		return NULL;
	ovl_fx_free(v->fx);
	ovl_view_free(v->base);
	ovl_merge_free(v->m);
	free(v);
	return NULL;
}

const char *ovl_view_fixup_rule(struct ovl_view *v, const char *path)
{
	return v->fx ? ovl_fx_rule(v->fx, path) : NULL;
}

void ovl_view_describe(struct ovl_view *v, char *buf, size_t size)
{
	if (v->fx)
		ovl_fx_describe(v->fx, buf, size);
	else
		snprintf(buf, size, "no fixups");
}

bool ovl_view_readonly(const struct ovl_view *v)
{
	if (v->fx)
		return ovl_view_readonly(v->base);
	return !v->m;
}

bool ovl_view_pristine(struct ovl_view *v, uint64_t ino)
{
	if (v->fx)
		return ovl_fx_pristine(v->fx, ino);
	return !v->m || ovl_merge_pristine(v->m, ino);
}

bool ovl_view_in_upper(struct ovl_view *v, uint64_t ino)
{
	if (v->fx) {
		ino = ovl_fx_real(v->fx, ino);
		return ino && ovl_view_in_upper(v->base, ino);
	}
	return v->m && !ovl_merge_pristine(v->m, ino);
}

bool ovl_view_immutable(const struct ovl_view *v, uint64_t ino)
{
	if (v->fx)
		return !ovl_fx_touched(v->fx, ino) &&
		       ovl_view_immutable(v->base, ino);
	return !v->m;
}

bool ovl_view_from_template(struct ovl_view *v, uint64_t ino)
{
	if (v->fx)
		return ovl_view_from_template(v->base, ino);
	return !v->m || ovl_merge_from_template(v->m, ino);
}

bool ovl_view_fixed_name(struct ovl_view *v, uint64_t dir, const char *name)
{
	return v->fx && ovl_fx_rewrites(v->fx, dir, name);
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

	if (v->fx)
		return ovl_fx_lookup(v->fx, dir, name, ret_st);
	if (v->m)
		return ovl_merge_lookup(v->m, dir, name, ret_st);
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
	if (v->fx) {
		ino = ovl_fx_real(v->fx, ino);
		if (ino)
			ovl_view_forget(v->base, ino, n);
		return;
	}
	/* Read-only: template nodes live as long as the view. */
	if (v->m)
		ovl_merge_forget(v->m, ino, n);
}

void ovl_view_ref(struct ovl_view *v, uint64_t ino)
{
	if (v->fx) {
		ino = ovl_fx_real(v->fx, ino);
		if (ino)
			ovl_view_ref(v->base, ino);
		return;
	}
	if (v->m)
		ovl_merge_ref(v->m, ino);
}

int ovl_view_getattr(struct ovl_view *v, uint64_t ino, struct stat *ret)
{
	uint32_t id;

	if (v->fx)
		return ovl_fx_getattr(v->fx, ino, ret);
	if (v->m)
		return ovl_merge_getattr(v->m, ino, ret);
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

	if (v->fx)
		return ovl_fx_readlink(v->fx, ino, buf, size);
	if (v->m)
		return ovl_merge_readlink(v->m, ino, buf, size);
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

static int fx_opendir(struct ovl_view *v, uint64_t ino, struct ovl_dir **ret)
{
	struct ovl_dir *d = calloc(1, sizeof(*d));
	struct stat st;
	int r;

	if (!d)
		return -ENOMEM;
	d->v = v;
	d->ino = ino;
	r = ovl_fx_getattr(v->fx, ino, &st);
	if (r == 0 && !S_ISDIR(st.st_mode))
		r = -ENOTDIR;
	if (r == 0) {
		r = ovl_fx_list(v->fx, ino, &d->names, &d->count);
		if (r == -ENOENT) {
			r = ovl_view_opendir(v->base, ino, &d->inner);
			if (r == 0)
				d->count = ovl_dir_count(d->inner);
		}
	}
	if (r < 0) {
		free(d);
		return r;
	}
	*ret = d;
	return 0;
}

int ovl_view_opendir(struct ovl_view *v, uint64_t ino, struct ovl_dir **ret)
{
	struct ovl_dir *d;
	uint32_t id;
	int64_t n;

	if (v->fx)
		return fx_opendir(v, ino, ret);
	if (v->m) {
		int r;

		d = calloc(1, sizeof(*d));
		if (!d)
			return -ENOMEM;
		r = ovl_merge_opendir(v->m, ino, &d->md);
		if (r < 0) {
			free(d);
			return r;
		}
		d->v = v;
		d->count = ovl_merge_dir_count(d->md);
		*ret = d;
		return 0;
	}
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
	if (!d)
		return NULL;
	ovl_merge_dir_close(d->md);
	ovl_dir_close(d->inner);
	for (uint64_t i = 0; d->names && i < d->count; i++)
		free(d->names[i]);
	free(d->names);
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

	if (d->md)
		return ovl_merge_dir_entry(d->md, i, ret_name, ret_st);
	if (d->inner)
		return ovl_dir_entry(d->inner, i, ret_name, ret_st);
	if (d->names) {
		if (i >= d->count)
			return -ENOENT;
		*ret_name = d->names[i];
		return ovl_fx_lookup(d->v->fx, d->ino, d->names[i], ret_st);
	}
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

const char *ovl_dir_name(struct ovl_dir *d, uint64_t i)
{
	const struct ovl_layer *l = &d->v->lower;
	const char *name;
	uint32_t id;
	size_t len;

	if (d->md)
		return ovl_merge_dir_name(d->md, i);
	if (d->inner)
		return ovl_dir_name(d->inner, i);
	if (i >= d->count)
		return NULL;
	if (d->names)
		return d->names[i];
	if (i < 2)
		return i == 0 ? "." : "..";
	if (l->ops->dir_entry(l->data, d->id, i - 2, &name, &len, &id) < 0)
		return NULL;
	return name;
}

int ovl_view_open(struct ovl_view *v, uint64_t ino, int flags,
		  struct ovl_file **ret)
{
	struct ovl_file *f;
	uint32_t id;

	if (v->fx)
		return ovl_fx_open(v->fx, ino, flags, ret);
	if (v->m)
		return ovl_merge_open(v->m, ino, flags, ret);
	if (!ino_to_id(v, ino, &id))
		return -ESTALE;
	if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC))
		return -EROFS;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->fd = -1;
	f->lower = id;
	f->layer = &v->lower;
	*ret = f;
	return 0;
}

struct ovl_file *ovl_file_close(struct ovl_file *f)
{
	if (!f)
		return NULL;
	if (f->fd >= 0)
		close(f->fd);
	if (f->m)
		ovl_merge_file_closed(f->m, f->node);
	free(f->mem);
	free(f);
	return NULL;
}

ssize_t ovl_file_read(struct ovl_file *f, void *buf, size_t size, uint64_t off)
{
	ssize_t n;

	if (f->mem) {
		if (off >= f->mem_len)
			return 0;
		if (size > f->mem_len - off)
			size = (size_t)(f->mem_len - off);
		memcpy(buf, f->mem + off, size);
		return (ssize_t)size;
	}
	if (f->fd < 0)
		return f->layer->ops->read(f->layer->data, f->lower, buf, size,
					   off);
	n = pread(f->fd, buf, size, (off_t)off);
	return n < 0 ? -errno : n;
}

int ovl_file_map(struct ovl_file *f, uint64_t off, int *ret_fd,
		 uint64_t *ret_pos, uint64_t *ret_len)
{
	if (f->mem)
		return off >= f->mem_len ? -ENXIO : -EOPNOTSUPP;
	if (f->fd < 0)
		return f->layer->ops->map(f->layer->data, f->lower, off, ret_fd,
					  ret_pos, ret_len);
	/* the upper file: read from the fd, short at its end */
	*ret_fd = f->fd;
	*ret_pos = off;
	*ret_len = UINT64_MAX - off;
	return 0;
}

ssize_t ovl_file_write(struct ovl_file *f, const void *buf, size_t size,
		       uint64_t off)
{
	ssize_t n;

	if (f->fd < 0)
		return -EBADF;
	n = pwrite(f->fd, buf, size, (off_t)off);
	if (n < 0)
		return -errno;
	ovl_file_wrote(f, off, (size_t)n);
	return n;
}

void ovl_file_wrote(struct ovl_file *f, uint64_t off, size_t n)
{
	/*
	 * Writes to one file come one at a time (the kernel holds its inode
	 * lock); relaxed atomics keep two handles' racing hints defined.
	 */
	uint64_t start = __atomic_load_n(&f->wb_start, __ATOMIC_RELAXED);
	uint64_t end = __atomic_load_n(&f->wb_end, __ATOMIC_RELAXED);

	if (f->fd < 0 || n == 0)
		return;
	if (off != end)
		start = off; /* not where the run ended: a new run */
	end = off + n;
	if (end - start >= OVL_WRITE_BEHIND) {
		/* starts the writeback of that range, does not wait for it */
		sync_file_range(f->fd, (off_t)start, (off_t)(end - start),
				SYNC_FILE_RANGE_WRITE);
		start = end;
	}
	__atomic_store_n(&f->wb_start, start, __ATOMIC_RELAXED);
	__atomic_store_n(&f->wb_end, end, __ATOMIC_RELAXED);
}

int ovl_file_fsync(struct ovl_file *f, int datasync)
{
	if (f->fd < 0)
		return 0;
	if ((datasync ? fdatasync(f->fd) : fsync(f->fd)) < 0)
		return -errno;
	return 0;
}

int ovl_file_fallocate(struct ovl_file *f, int mode, off_t off, off_t len)
{
	if (f->fd < 0)
		return -EBADF;
	return fallocate(f->fd, mode, off, len) < 0 ? -errno : 0;
}

int ovl_file_lseek(struct ovl_file *f, int64_t off, int whence, int64_t *ret)
{
	off_t p;

	if (f->mem) {
		if (off < 0 || (uint64_t)off >= f->mem_len)
			return -ENXIO;
		*ret = whence == SEEK_DATA ? off : (int64_t)f->mem_len;
		return 0;
	}
	if (f->fd < 0)
		return f->layer->ops->lseek(f->layer->data, f->lower, off,
					    whence, ret);
	p = lseek(f->fd, (off_t)off, whence);
	if (p < 0)
		return -errno;
	*ret = p;
	return 0;
}

int ovl_file_fd(const struct ovl_file *f)
{
	return f->fd >= 0 ? f->fd : -EBADF;
}

int ovl_file_stat(struct ovl_file *f, struct stat *ret)
{
	if (f->mem) {
		memset(ret, 0, sizeof(*ret));
		ret->st_mode = S_IFREG | 0444;
		ret->st_size = (off_t)f->mem_len;
		ret->st_nlink = 1;
		return 0;
	}
	if (f->fd < 0)
		return f->layer->ops->getattr(f->layer->data, f->lower, ret);
	return fstat(f->fd, ret) < 0 ? -errno : 0;
}

/* Before a name is created in @dir through the fixup layer. */
static int fx_prepare_new(struct ovl_view *v, uint64_t *dir, const char *name)
{
	int r = ovl_fx_prepare_dir(v->fx, dir);

	return r < 0 ? r : ovl_fx_unhide(v->fx, *dir, name);
}

/*
 * Before @name in @dir is removed or renamed away: the fixups' own entries
 * cannot be (the fixup would put them back on the next mount; switch it
 * off in the profile instead).
 */
static int fx_prepare_name(struct ovl_view *v, uint64_t *dir, const char *name)
{
	struct stat st;
	int r = ovl_fx_lookup(v->fx, *dir, name, &st);

	if (r == 0 && st.st_ino >= OVL_FX_INO_BASE)
		return -EPERM;
	return ovl_fx_prepare_dir(v->fx, dir);
}

/* Changing an edited or created file: the same ino in the base view. */
static int fx_setattr(struct ovl_view *v, uint64_t ino,
		      const struct ovl_setattr *attr, struct ovl_file *f,
		      struct stat *ret)
{
	uint64_t real = ino;
	int r = ovl_fx_materialize(v->fx, &real);

	if (r == 0)
		r = ovl_view_setattr(v->base, real, attr,
				     f && !f->mem ? f : NULL, ret);
	return r < 0 ? r : ovl_fx_getattr(v->fx, ino, ret);
}

int ovl_view_create(struct ovl_view *v, const struct ovl_cred *cred,
		    uint64_t dir, const char *name, mode_t mode, int flags,
		    struct stat *ret_st, struct ovl_file **ret)
{
	if (v->fx) {
		int r = fx_prepare_new(v, &dir, name);

		return r < 0 ? r :
			       ovl_view_create(v->base, cred, dir, name, mode,
					       flags, ret_st, ret);
	}
	if (!v->m)
		return -EROFS;
	return ovl_merge_create(v->m, cred, dir, name, mode, flags, ret_st,
				ret);
}

int ovl_view_mknod(struct ovl_view *v, const struct ovl_cred *cred,
		   uint64_t dir, const char *name, mode_t mode, dev_t rdev,
		   struct stat *ret)
{
	if (v->fx) {
		int r = fx_prepare_new(v, &dir, name);

		return r < 0 ? r :
			       ovl_view_mknod(v->base, cred, dir, name, mode,
					      rdev, ret);
	}
	if (!v->m)
		return -EROFS;
	return ovl_merge_mknod(v->m, cred, dir, name, mode, rdev, ret);
}

int ovl_view_mkdir(struct ovl_view *v, const struct ovl_cred *cred,
		   uint64_t dir, const char *name, mode_t mode,
		   struct stat *ret)
{
	if (v->fx) {
		int r = fx_prepare_new(v, &dir, name);

		return r < 0 ? r :
			       ovl_view_mkdir(v->base, cred, dir, name, mode,
					      ret);
	}
	if (!v->m)
		return -EROFS;
	return ovl_merge_mkdir(v->m, cred, dir, name, mode, ret);
}

int ovl_view_symlink(struct ovl_view *v, const struct ovl_cred *cred,
		     uint64_t dir, const char *name, const char *target,
		     struct stat *ret)
{
	if (v->fx) {
		int r = fx_prepare_new(v, &dir, name);

		return r < 0 ? r :
			       ovl_view_symlink(v->base, cred, dir, name,
						target, ret);
	}
	if (!v->m)
		return -EROFS;
	return ovl_merge_symlink(v->m, cred, dir, name, target, ret);
}

int ovl_view_link(struct ovl_view *v, uint64_t ino, uint64_t newdir,
		  const char *newname, struct stat *ret)
{
	if (v->fx) {
		int r = ovl_fx_materialize(v->fx, &ino);

		if (r == 0)
			r = fx_prepare_new(v, &newdir, newname);
		if (r == 0)
			r = ovl_view_link(v->base, ino, newdir, newname, ret);
		if (r == 0)
			ovl_fx_present(v->fx, ret);
		return r;
	}
	if (!v->m)
		return -EROFS;
	return ovl_merge_link(v->m, ino, newdir, newname, ret);
}

int ovl_view_unlink(struct ovl_view *v, uint64_t dir, const char *name)
{
	if (v->fx) {
		int r = fx_prepare_name(v, &dir, name);

		return r < 0 ? r : ovl_view_unlink(v->base, dir, name);
	}
	if (!v->m)
		return -EROFS;
	return ovl_merge_unlink(v->m, dir, name);
}

int ovl_view_rmdir(struct ovl_view *v, uint64_t dir, const char *name)
{
	if (v->fx) {
		int r = fx_prepare_name(v, &dir, name);

		return r < 0 ? r : ovl_view_rmdir(v->base, dir, name);
	}
	if (!v->m)
		return -EROFS;
	return ovl_merge_rmdir(v->m, dir, name);
}

int ovl_view_rename(struct ovl_view *v, uint64_t dir, const char *name,
		    uint64_t newdir, const char *newname, unsigned flags)
{
	if (v->fx) {
		uint64_t nd = newdir; /* newdir names the fixups' entry */
		int r = fx_prepare_name(v, &dir, name);

		/*
		 * Over one of the fixups' entries: it is replaced, as an
		 * editor's save replaces a file, and the fixup applies on top
		 * of what is there now. An exchange moves both names.
		 */
		if (r == 0 && (flags & RENAME_EXCHANGE))
			r = fx_prepare_name(v, &nd, newname);
		else if (r == 0)
			r = fx_prepare_new(v, &nd, newname);
		if (r == 0)
			r = ovl_view_rename(v->base, dir, name, nd, newname,
					    flags);
		if (r == 0)
			ovl_fx_name_gone(v->fx, newdir, newname);
		return r;
	}
	if (!v->m)
		return -EROFS;
	return ovl_merge_rename(v->m, dir, name, newdir, newname, flags);
}

int ovl_view_setattr(struct ovl_view *v, uint64_t ino,
		     const struct ovl_setattr *attr, struct ovl_file *f,
		     struct stat *ret)
{
	if (v->fx)
		return fx_setattr(v, ino, attr, f, ret);
	if (!v->m)
		return -EROFS;
	return ovl_merge_setattr(v->m, ino, attr, f, ret);
}

int ovl_view_setxattr(struct ovl_view *v, uint64_t ino, const char *name,
		      const void *value, size_t size, int flags)
{
	if (v->fx) {
		int r = ovl_fx_materialize(v->fx, &ino);

		return r < 0 ? r :
			       ovl_view_setxattr(v->base, ino, name, value,
						 size, flags);
	}
	if (!v->m)
		return -EROFS;
	return ovl_merge_setxattr(v->m, ino, name, value, size, flags);
}

int ovl_view_removexattr(struct ovl_view *v, uint64_t ino, const char *name)
{
	if (v->fx) {
		int r = ovl_fx_materialize(v->fx, &ino);

		return r < 0 ? r : ovl_view_removexattr(v->base, ino, name);
	}
	if (!v->m)
		return -EROFS;
	return ovl_merge_removexattr(v->m, ino, name);
}

int ovl_view_fsyncdir(struct ovl_view *v, uint64_t ino, int datasync)
{
	if (v->fx)
		return ovl_fx_virtual(v->fx, ino) ?
			       0 :
			       ovl_view_fsyncdir(v->base, ino, datasync);
	if (!v->m)
		return 0;
	return ovl_merge_fsyncdir(v->m, ino, datasync);
}

ssize_t ovl_view_read(struct ovl_view *v, uint64_t ino, void *buf, size_t size,
		      uint64_t off)
{
	uint32_t id;

	if (v->fx)
		return ovl_fx_read(v->fx, ino, buf, size, off);
	if (v->m)
		return ovl_merge_read(v->m, ino, buf, size, off);
	if (!ino_to_id(v, ino, &id))
		return -ESTALE;
	return v->lower.ops->read(v->lower.data, id, buf, size, off);
}

int ovl_view_map(struct ovl_view *v, uint64_t ino, uint64_t off, int *ret_fd,
		 uint64_t *ret_pos, uint64_t *ret_len)
{
	uint32_t id;

	if (v->fx)
		return ovl_fx_touched(v->fx, ino) ?
			       -EOPNOTSUPP :
			       ovl_view_map(v->base, ino, off, ret_fd, ret_pos,
					    ret_len);
	if (v->m)
		return ovl_merge_map(v->m, ino, off, ret_fd, ret_pos, ret_len);
	if (!ino_to_id(v, ino, &id))
		return -ESTALE;
	return v->lower.ops->map(v->lower.data, id, off, ret_fd, ret_pos,
				 ret_len);
}

static int fx_lseek(struct ovl_view *v, uint64_t ino, int64_t off, int whence,
		    int64_t *ret)
{
	struct ovl_file *f;
	int r = ovl_fx_open(v->fx, ino, O_RDONLY, &f);

	if (r < 0)
		return r;
	r = ovl_file_lseek(f, off, whence, ret);
	ovl_file_close(f);
	return r;
}

int ovl_view_lseek(struct ovl_view *v, uint64_t ino, int64_t off, int whence,
		   int64_t *ret)
{
	uint32_t id;

	if (v->fx)
		return fx_lseek(v, ino, off, whence, ret);
	if (v->m)
		return ovl_merge_lseek(v->m, ino, off, whence, ret);
	if (!ino_to_id(v, ino, &id))
		return -ESTALE;
	return v->lower.ops->lseek(v->lower.data, id, off, whence, ret);
}

ssize_t ovl_view_listxattr(struct ovl_view *v, uint64_t ino, char *buf,
			   size_t size)
{
	uint32_t id;

	if (v->fx)
		return ovl_fx_listxattr(v->fx, ino, buf, size);
	if (v->m)
		return ovl_merge_listxattr(v->m, ino, buf, size);
	if (!ino_to_id(v, ino, &id))
		return -ESTALE;
	return v->lower.ops->listxattr(v->lower.data, id, buf, size);
}

ssize_t ovl_view_getxattr(struct ovl_view *v, uint64_t ino, const char *name,
			  void *buf, size_t size)
{
	uint32_t id;

	if (v->fx)
		return ovl_fx_getxattr(v->fx, ino, name, buf, size);
	if (v->m)
		return ovl_merge_getxattr(v->m, ino, name, buf, size);
	if (!ino_to_id(v, ino, &id))
		return -ESTALE;
	return v->lower.ops->getxattr(v->lower.data, id, name, buf, size);
}

void ovl_view_statfs(struct ovl_view *v, uint64_t *ret_files,
		     uint64_t *ret_bytes, uint64_t *ret_free)
{
	if (v->fx) {
		ovl_view_statfs(v->base, ret_files, ret_bytes, ret_free);
		return;
	}
	if (v->m) {
		ovl_merge_statfs(v->m, ret_files, ret_bytes, ret_free);
		if (*ret_bytes < v->bytes)
			*ret_bytes = v->bytes;
		return;
	}
	*ret_files = v->files;
	*ret_bytes = v->bytes;
	*ret_free = 0;
}
