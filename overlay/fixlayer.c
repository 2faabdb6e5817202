// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The fixup layer over a base view (see fixlayer.h). fixups/ decides, from
 * what it reads through the base view, which paths to edit, hide or create;
 * this file maps those paths to (parent inode, name) once at start, then
 * answers every call by asking the base view and adjusting its answer.
 *
 * Locking: fx->lock covers the content cache and materialized inode numbers;
 * the action tables are built before the view is used and never change.
 */
#include "overlay/fixlayer.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/cleanup.h"
#include "common/strv.h"
#include "common/hash.h"
#include "fixups/fix.h"
#include "overlay/merge.h"

struct fx_entry {
	uint64_t parent;
	char *name;
	const struct fix_action *a;
	uint64_t vino; /* entries the fixups create: their inode number */
	uint64_t real; /* once materialized in the layer below (lock) */
	bool unhidden; /* HIDE: written again through the mount (lock) */
	struct fx_entry *next;
	struct fx_entry *next_real; /* in by_real, while real != 0 (lock) */
};

struct fx_content {
	uint64_t ino;
	const struct fix_action *a;
	bool valid; /* data matches the stamp (lock) */
	off_t size;
	struct timespec mtime, ctime;
	char *data;
	size_t len;
	struct fx_content *next;
};

struct fx_ino {
	uint64_t ino;
	char *path; /* directories holding actions: their path */
	struct fx_ino *next;
};

struct ovl_fx {
	struct ovl_view *base;
	struct fix_profile profile;
	struct fix_facts facts;
	struct fix_ctx ctx;
	struct fix_set *set;
	struct timespec time; /* of the entries the fixups create */
	pthread_mutex_t lock;
	struct fx_entry **names; /* (parent, name) -> entry */
	struct fx_entry **virt; /* vino - BASE -> entry */
	struct fx_entry **by_real; /* real -> entry, to present it as vino */
	size_t nvirt, nbuckets;
	struct fx_content **content; /* ino -> edited content */
	struct fx_ino **touched; /* inos with actions on or below them */
};

/* --- hashing --- */

static size_t h_name(const struct ovl_fx *fx, uint64_t parent, const char *name)
{
	return dm_hash64(name, strlen(name), parent) & (fx->nbuckets - 1);
}

static size_t h_ino(const struct ovl_fx *fx, uint64_t ino)
{
	return dm_hash_mix(3, ino) & (fx->nbuckets - 1);
}

static struct fx_entry *find_entry(const struct ovl_fx *fx, uint64_t parent,
				   const char *name)
{
	for (struct fx_entry *e = fx->names[h_name(fx, parent, name)]; e;
	     e = e->next)
		if (e->parent == parent && !strcmp(e->name, name))
			return e;
	return NULL;
}

static struct fx_entry *find_virt(const struct ovl_fx *fx, uint64_t ino)
{
	if (ino < OVL_FX_INO_BASE || ino - OVL_FX_INO_BASE >= fx->nvirt)
		return NULL;
	return fx->virt[ino - OVL_FX_INO_BASE];
}

/* Sets or (0) clears the layer-below inode of created entry @e; lock held. */
static void set_real(struct ovl_fx *fx, struct fx_entry *e, uint64_t real)
{
	struct fx_entry **p;

	if (e->real == real)
		return;
	if (e->real) {
		for (p = &fx->by_real[h_ino(fx, e->real)]; *p;
		     p = &(*p)->next_real)
			if (*p == e) {
				*p = e->next_real;
				break;
			}
		e->next_real = NULL;
	}
	e->real = real;
	if (real) {
		p = &fx->by_real[h_ino(fx, real)];
		e->next_real = *p;
		*p = e;
	}
}

/*
 * A materialized entry keeps the inode number it was first shown with, for
 * the life of the view: the kernel never sees two numbers for one file.
 */
void ovl_fx_present(struct ovl_fx *fx, struct stat *st)
{
	pthread_mutex_lock(&fx->lock);
	for (struct fx_entry *e = fx->by_real[h_ino(fx, st->st_ino)]; e;
	     e = e->next_real)
		if (e->real == st->st_ino) {
			st->st_ino = e->vino;
			break;
		}
	pthread_mutex_unlock(&fx->lock);
}

static struct fx_ino *find_touched(const struct ovl_fx *fx, uint64_t ino)
{
	for (struct fx_ino *t = fx->touched[h_ino(fx, ino)]; t; t = t->next)
		if (t->ino == ino)
			return t;
	return NULL;
}

static int touch(struct ovl_fx *fx, uint64_t ino, const char *path)
{
	struct fx_ino *t = find_touched(fx, ino);

	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t)
			return -ENOMEM;
		t->ino = ino;
		t->next = fx->touched[h_ino(fx, ino)];
		fx->touched[h_ino(fx, ino)] = t;
	}
	if (path && !t->path) {
		t->path = strdup(path);
		if (!t->path)
			return -ENOMEM;
	}
	return 0;
}

/* The content record of an edited inode (lock held), created on demand. */
static struct fx_content *content_of(struct ovl_fx *fx, uint64_t ino,
				     const struct fix_action *a)
{
	struct fx_content *c;

	for (c = fx->content[h_ino(fx, ino)]; c; c = c->next)
		if (c->ino == ino)
			return c;
	if (!a)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->ino = ino;
	c->a = a;
	c->next = fx->content[h_ino(fx, ino)];
	fx->content[h_ino(fx, ino)] = c;
	return c;
}

/* --- reading the base view by path (the fixups' reader) --- */

static int read_all(struct ovl_view *v, uint64_t ino, size_t size, char **ret,
		    size_t *ret_len)
{
	char *buf = malloc(size + 1);
	size_t got = 0;

	if (!buf)
		return -ENOMEM;
	while (got < size) {
		ssize_t n = ovl_view_read(v, ino, buf + got, size - got, got);

		if (n < 0) {
			free(buf);
			return (int)n;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	*ret = buf;
	*ret_len = got;
	return 0;
}

/* Walks @path in the base view (no symlink followed); *ret its attributes. */
static int walk(struct ovl_fx *fx, const char *path, struct stat *ret)
{
	_cleanup_free_ char *copy = strdup(path);
	uint64_t cur = OVL_ROOT_INO;
	char *save = NULL;
	int r;

	if (!copy)
		return -ENOMEM;
	r = ovl_view_getattr(fx->base, cur, ret);
	for (char *c = strtok_r(copy, "/", &save); r == 0 && c;
	     c = strtok_r(NULL, "/", &save)) {
		if (!S_ISDIR(ret->st_mode))
			return -ENOTDIR;
		r = ovl_view_lookup(fx->base, cur, c, ret);
		if (r == 0)
			cur = ret->st_ino;
	}
	return r;
}

static int rd_read(void *ctx, const char *path, char **ret, size_t *ret_len)
{
	struct stat st;
	int r = walk(ctx, path, &st);

	if (r < 0)
		return r;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (st.st_size > (16 << 20))
		return -EFBIG;
	return read_all(((struct ovl_fx *)ctx)->base, st.st_ino,
			(size_t)st.st_size, ret, ret_len);
}

static int rd_exists(void *ctx, const char *path, mode_t *ret)
{
	struct stat st;
	int r = walk(ctx, path, &st);

	if (r == -ENOTDIR)
		r = -ENOENT;
	if (r == 0 && ret)
		*ret = st.st_mode;
	return r;
}

static int rd_list(void *ctx, const char *dir, char ***ret)
{
	struct ovl_fx *fx = ctx;
	struct ovl_dir *d;
	struct stat st;
	char **names;
	uint64_t n, k = 0;
	int r = walk(fx, dir, &st);

	if (r < 0)
		return r;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	r = ovl_view_opendir(fx->base, st.st_ino, &d);
	if (r < 0)
		return r;
	n = ovl_dir_count(d);
	names = calloc(n + 1, sizeof(*names));
	for (uint64_t i = 2; names && i < n; i++) {
		const char *name;
		struct stat est;

		if (ovl_dir_entry(d, i, &name, &est) < 0)
			continue;
		names[k] = strdup(name);
		if (!names[k]) {
			r = -ENOMEM;
			break;
		}
		k++;
	}
	ovl_dir_close(d);
	if (!names || r < 0) {
		for (uint64_t i = 0; names && i < k; i++)
			free(names[i]);
		free(names);
		return -ENOMEM;
	}
	*ret = names;
	return 0;
}

static int rd_readlink(void *ctx, const char *path, char **ret)
{
	struct ovl_fx *fx = ctx;
	struct stat st;
	char buf[4096];
	ssize_t n;
	int r = walk(fx, path, &st);

	if (r < 0)
		return r;
	if (!S_ISLNK(st.st_mode))
		return -EINVAL;
	n = ovl_view_readlink(fx->base, st.st_ino, buf, sizeof(buf) - 1);
	if (n < 0)
		return (int)n;
	buf[n] = '\0';
	*ret = strdup(buf);
	return *ret ? 0 : -ENOMEM;
}

/* --- construction --- */

/*
 * Parent inode of @path's last component, in the layered view; every
 * directory on the way is marked touched, with its path.
 */
static int parent_of(struct ovl_fx *fx, const char *path, uint64_t *ret,
		     const char **ret_name)
{
	_cleanup_free_ char *copy = strdup(path);
	_cleanup_free_ char *sub = calloc(1, strlen(path) + 2);
	uint64_t cur = OVL_ROOT_INO;
	char *save = NULL, *c, *next;
	int r;

	if (!copy || !sub)
		return -ENOMEM;
	r = touch(fx, cur, "/");
	c = strtok_r(copy, "/", &save);
	while (r == 0 && c) {
		struct stat st;
		struct fx_entry *e;

		next = strtok_r(NULL, "/", &save);
		if (!next)
			break;
		strcat(sub, "/");
		strcat(sub, c);
		e = find_entry(fx, cur, c);
		if (e && e->vino) {
			cur = e->vino;
		} else {
			r = ovl_view_lookup(fx->base, cur, c, &st);
			if (r == 0 && !S_ISDIR(st.st_mode))
				r = -ENOTDIR;
			if (r < 0)
				return r;
			cur = st.st_ino;
		}
		r = touch(fx, cur, sub);
		c = next;
	}
	if (r < 0)
		return r;
	*ret = cur;
	*ret_name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	return 0;
}

static int add_action(struct ovl_fx *fx, const struct fix_action *a)
{
	struct fx_entry *e;
	const char *name;
	uint64_t parent;
	struct stat st;
	size_t h;
	int r = parent_of(fx, a->path, &parent, &name);

	if (r == -ENOENT || r == -ENOTDIR)
		return 0; /* nowhere to put it: the rule does not apply */
	if (r < 0)
		return r;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->parent = parent;
	e->a = a;
	e->name = strdup(name);
	if (!e->name) {
		free(e);
		return -ENOMEM;
	}
	if (a->kind != FIX_EDIT && a->kind != FIX_HIDE) {
		e->vino = OVL_FX_INO_BASE + fx->nvirt;
		fx->virt[fx->nvirt++] = e;
	}
	if (parent < OVL_FX_INO_BASE &&
	    ovl_view_lookup(fx->base, parent, name, &st) == 0) {
		r = touch(fx, st.st_ino, S_ISDIR(st.st_mode) ? a->path : NULL);
		if (r < 0)
			return r;
		if (e->vino)
			set_real(fx, e, st.st_ino);
		/*
		 * A name the fixups hide that the overlay holds as a new
		 * node was written again through the mount (after
		 * ovl_fx_unhide() in an earlier mount): it stays shown.
		 * Not a stale file of ours: the overlay got its copy from an
		 * earlier profile's fixups, and it still carries our marker.
		 */
		if (a->kind == FIX_HIDE && !a->stale &&
		    !ovl_view_from_template(fx->base, st.st_ino))
			e->unhidden = true;
	}
	h = h_name(fx, parent, e->name);
	e->next = fx->names[h];
	fx->names[h] = e;
	return 0;
}

/* A commit's file system that the template's own kernel cannot mount. */
static void warn_unbootable(const struct ovl_fx *fx,
			    const struct ovl_view_opts *opts)
{
	char why[160];

	if (fix_fs_unsupported(&fx->ctx, why, sizeof(why)))
		dm_warn(opts->warn, opts->warn_ctx,
			"the template will not boot from %s: %s (give --fs ext3)",
			opts->fs_type, why);
}

int ovl_fx_new(struct ovl_view *base, const struct ovl_view_opts *opts,
	       struct ovl_fx **ret, struct dm_err *err)
{
	struct ovl_fx *fx = calloc(1, sizeof(*fx));
	struct fix_reader rd = {
		.read = rd_read,
		.exists = rd_exists,
		.list = rd_list,
		.readlink = rd_readlink,
	};
	size_t n;
	int r;

	if (!fx)
		return dm_err_set(err, ENOMEM, "out of memory");
	fx->base = base;
	fx->profile = *opts->profile;
	fx->time = opts->fix_time;
	pthread_mutex_init(&fx->lock, NULL);
	rd.ctx = fx;
	r = fix_detect(&rd, &fx->facts);
	if (r < 0) {
		dm_err_set(err, -r, "detecting the distribution: %s",
			   strerror(-r));
		goto out_free;
	}
	fx->ctx.facts = &fx->facts;
	fx->ctx.profile = &fx->profile;
	fx->ctx.fs_type = opts->fs_type;
	fx->ctx.partitioned = opts->partitioned;
	warn_unbootable(fx, opts);
	r = fix_plan(&fx->ctx, &rd, &fx->set);
	if (r < 0) {
		dm_err_set(err, -r, "planning the fixups: %s", strerror(-r));
		goto out_free;
	}
	n = fix_set_count(fx->set);
	fx->nbuckets = 64;
	while (fx->nbuckets < 4 * n)
		fx->nbuckets *= 2;
	fx->names = calloc(fx->nbuckets, sizeof(*fx->names));
	fx->content = calloc(fx->nbuckets, sizeof(*fx->content));
	fx->touched = calloc(fx->nbuckets, sizeof(*fx->touched));
	fx->virt = calloc(n ? n : 1, sizeof(*fx->virt));
	fx->by_real = calloc(fx->nbuckets, sizeof(*fx->by_real));
	if (!fx->names || !fx->content || !fx->touched || !fx->virt ||
	    !fx->by_real) {
		r = dm_err_set(err, ENOMEM, "out of memory");
		goto out_free;
	}
	for (size_t i = 0; i < n; i++) {
		r = add_action(fx, fix_set_at(fx->set, i));
		if (r < 0) {
			dm_err_set(err, -r, "fixup %s on %s: %s",
				   fix_set_at(fx->set, i)->rule,
				   fix_set_at(fx->set, i)->path, strerror(-r));
			goto out_free;
		}
	}
	*ret = fx;
	return 0;
out_free:
	ovl_fx_free(fx);
	return r;
}

struct ovl_fx *ovl_fx_free(struct ovl_fx *fx)
{
	if (!fx)
		return NULL;
	for (size_t i = 0; fx->names && i < fx->nbuckets; i++)
		for (struct fx_entry *e = fx->names[i], *n; e; e = n) {
			n = e->next;
			free(e->name);
			free(e);
		}
	for (size_t i = 0; fx->content && i < fx->nbuckets; i++)
		for (struct fx_content *c = fx->content[i], *n; c; c = n) {
			n = c->next;
			free(c->data);
			free(c);
		}
	for (size_t i = 0; fx->touched && i < fx->nbuckets; i++)
		for (struct fx_ino *t = fx->touched[i], *n; t; t = n) {
			n = t->next;
			free(t->path);
			free(t);
		}
	free(fx->names);
	free(fx->content);
	free(fx->touched);
	free(fx->virt);
	free(fx->by_real);
	fix_set_free(fx->set);
	pthread_mutex_destroy(&fx->lock);
	free(fx);
	return NULL;
}

const char *ovl_fx_rule(struct ovl_fx *fx, const char *path)
{
	char buf[4096];
	const struct fix_action *a;

	if (path[0] != '/') {
		snprintf(buf, sizeof(buf), "/%s", path);
		path = buf;
	}
	a = fix_set_find(fx->set, path);
	return a ? a->rule : NULL;
}

void ovl_fx_describe(struct ovl_fx *fx, char *buf, size_t size)
{
	snprintf(buf, size, "%s %u, %s init, %zu fixup actions",
		 fix_family_name(fx->facts.family), fx->facts.version_major,
		 fix_init_name(fx->facts.init), fix_set_count(fx->set));
}

bool ovl_fx_touched(struct ovl_fx *fx, uint64_t ino)
{
	return ino >= OVL_FX_INO_BASE || find_touched(fx, ino);
}

bool ovl_fx_pristine(struct ovl_fx *fx, uint64_t ino)
{
	return !ovl_fx_touched(fx, ino) && ovl_view_pristine(fx->base, ino);
}

bool ovl_fx_virtual(struct ovl_fx *fx, uint64_t ino)
{
	struct fx_entry *e = find_virt(fx, ino);
	bool v;

	if (!e)
		return false;
	pthread_mutex_lock(&fx->lock);
	v = !e->real;
	pthread_mutex_unlock(&fx->lock);
	return v;
}

/* --- answering --- */

static bool hidden_shown(struct ovl_fx *fx, struct fx_entry *e)
{
	bool shown;

	pthread_mutex_lock(&fx->lock);
	shown = e->unhidden;
	pthread_mutex_unlock(&fx->lock);
	return shown;
}

int ovl_fx_unhide(struct ovl_fx *fx, uint64_t dir, const char *name)
{
	struct fx_entry *e = find_entry(fx, dir, name);
	struct stat st;
	int r = 0;

	if (!e || e->a->kind != FIX_HIDE || hidden_shown(fx, e))
		return 0;
	/* the template's copy goes: what is written now is new */
	if (ovl_view_lookup(fx->base, dir, name, &st) == 0)
		r = S_ISDIR(st.st_mode) ? ovl_view_rmdir(fx->base, dir, name) :
					  ovl_view_unlink(fx->base, dir, name);
	if (r == 0) {
		pthread_mutex_lock(&fx->lock);
		e->unhidden = true;
		pthread_mutex_unlock(&fx->lock);
	}
	return r;
}

/*
 * Link count of a directory the fixups touch: its subdirectories added
 * (MKDIR entries the layer below lacks) and hidden ones removed.
 */
static void adjust_nlink(struct ovl_fx *fx, uint64_t ino, struct stat *st)
{
	struct fx_ino *t = find_touched(fx, ino);
	struct fx_entry *self = find_virt(fx, ino);
	const char *path = self ? self->a->path : t ? t->path : NULL;
	size_t first, cnt;

	if (!path || !S_ISDIR(st->st_mode))
		return;
	cnt = fix_set_children(fx->set, path, &first);
	for (size_t i = 0; i < cnt; i++) {
		const struct fix_action *a = fix_set_at(fx->set, first + i);
		struct fx_entry *e;
		uint64_t real;

		if (a->kind != FIX_MKDIR)
			continue;
		e = find_entry(fx, ino, strrchr(a->path, '/') + 1);
		pthread_mutex_lock(&fx->lock);
		real = e ? e->real : 0;
		pthread_mutex_unlock(&fx->lock);
		if (e && !real)
			st->st_nlink++;
	}
}

/* The layer-below inode behind @ino (a materialized entry's real one). */
static uint64_t real_ino(struct ovl_fx *fx, uint64_t ino)
{
	struct fx_entry *e = find_virt(fx, ino);
	uint64_t r = ino;

	if (e) {
		pthread_mutex_lock(&fx->lock);
		r = e->real;
		pthread_mutex_unlock(&fx->lock);
	}
	return r;
}

static void virt_stat(const struct ovl_fx *fx, const struct fx_entry *e,
		      struct stat *st)
{
	const struct fix_action *a = e->a;

	memset(st, 0, sizeof(*st));
	st->st_atim = st->st_mtim = st->st_ctim = fx->time;
	st->st_ino = e->vino;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_blksize = 4096;
	switch (a->kind) {
	case FIX_CREATE:
		st->st_mode = S_IFREG | (a->mode & 07777);
		st->st_size = (off_t)a->len;
		st->st_blocks = (blkcnt_t)((a->len + 511) / 512);
		st->st_nlink = 1;
		break;
	case FIX_SYMLINK:
		st->st_mode = S_IFLNK | 0777;
		st->st_size = (off_t)strlen(a->target);
		st->st_nlink = 1;
		break;
	case FIX_MKDIR:
		st->st_mode = S_IFDIR | (a->mode & 07777);
		st->st_size = 4096;
		st->st_nlink = 2;
		break;
	default:
		st->st_mode = a->mode;
		st->st_rdev = a->rdev;
		st->st_nlink = 1;
	}
}

/* Fixed content of an edited inode whose base attributes are @st. */
static int edited(struct ovl_fx *fx, uint64_t ino, const struct stat *st,
		  const struct fix_action *a, char **ret, size_t *ret_len)
{
	struct fx_content *c;
	_cleanup_free_ char *in = NULL;
	char *out = NULL;
	size_t inlen = 0, outlen = 0;
	int r = 0;

	pthread_mutex_lock(&fx->lock);
	c = content_of(fx, ino, a);
	if (!c) {
		r = -ENOMEM;
		goto out_unlock;
	}
	if (!c->valid || c->size != st->st_size ||
	    c->mtime.tv_sec != st->st_mtim.tv_sec ||
	    c->mtime.tv_nsec != st->st_mtim.tv_nsec ||
	    c->ctime.tv_sec != st->st_ctim.tv_sec ||
	    c->ctime.tv_nsec != st->st_ctim.tv_nsec) {
		r = read_all(fx->base, ino, (size_t)st->st_size, &in, &inlen);
		if (r == 0)
			r = fix_edit(&fx->ctx, c->a, in, inlen, &out, &outlen);
		if (r < 0)
			goto out_unlock;
		free(c->data);
		c->data = out;
		c->len = outlen;
		c->size = st->st_size;
		c->mtime = st->st_mtim;
		c->ctime = st->st_ctim;
		c->valid = true;
	}
	if (ret) {
		*ret = malloc(c->len ? c->len : 1);
		if (!*ret) {
			r = -ENOMEM;
			goto out_unlock;
		}
		memcpy(*ret, c->data, c->len);
	}
	if (ret_len)
		*ret_len = c->len;
out_unlock:
	pthread_mutex_unlock(&fx->lock);
	return r;
}

/* Adjusts the base attributes of @ino for an edit, if it has one. */
static int adjust(struct ovl_fx *fx, struct stat *st,
		  const struct fix_action *a)
{
	size_t len;
	int r;

	if (!a) {
		struct fx_content *c;

		pthread_mutex_lock(&fx->lock);
		c = content_of(fx, st->st_ino, NULL);
		a = c ? c->a : NULL;
		pthread_mutex_unlock(&fx->lock);
	}
	if (!a || !S_ISREG(st->st_mode) ||
	    (a->kind != FIX_EDIT && a->kind != FIX_CREATE))
		return 0;
	r = edited(fx, st->st_ino, st, a, NULL, &len);
	if (r < 0)
		return r;
	st->st_size = (off_t)len;
	st->st_blocks = (blkcnt_t)((len + 511) / 512);
	return 0;
}

int ovl_fx_lookup(struct ovl_fx *fx, uint64_t dir, const char *name,
		  struct stat *ret)
{
	struct fx_entry *e = find_entry(fx, dir, name);
	uint64_t rdir = real_ino(fx, dir);
	struct fx_entry *self = find_virt(fx, dir);
	int r;

	if (!strcmp(name, "."))
		return ovl_fx_getattr(fx, dir, ret);
	if (!strcmp(name, "..") && self)
		return ovl_fx_getattr(fx, self->parent, ret);
	if (e && e->a->kind == FIX_HIDE && !hidden_shown(fx, e))
		return -ENOENT;
	r = rdir ? ovl_view_lookup(fx->base, rdir, name, ret) : -ENOENT;
	if (r == 0) {
		if (e && e->vino) {
			pthread_mutex_lock(&fx->lock);
			set_real(fx, e, ret->st_ino);
			pthread_mutex_unlock(&fx->lock);
		}
		adjust_nlink(fx, ret->st_ino, ret);
		r = adjust(fx, ret, e ? e->a : NULL);
		ovl_fx_present(fx, ret);
		return r;
	}
	if (r == -ENOENT && e && e->vino) {
		virt_stat(fx, e, ret);
		adjust_nlink(fx, e->vino, ret);
		return 0;
	}
	return r;
}

int ovl_fx_getattr(struct ovl_fx *fx, uint64_t ino, struct stat *ret)
{
	struct fx_entry *e = find_virt(fx, ino);
	uint64_t real = real_ino(fx, ino);
	int r;

	if (e && !real) {
		virt_stat(fx, e, ret);
		adjust_nlink(fx, ino, ret);
		return 0;
	}
	r = ovl_view_getattr(fx->base, real, ret);
	if (r < 0)
		return r;
	adjust_nlink(fx, real, ret);
	r = adjust(fx, ret, e ? e->a : NULL);
	ovl_fx_present(fx, ret);
	return r;
}

ssize_t ovl_fx_readlink(struct ovl_fx *fx, uint64_t ino, char *buf, size_t size)
{
	struct fx_entry *e = find_virt(fx, ino);
	uint64_t real = real_ino(fx, ino);

	if (e && !real) {
		size_t len = strlen(e->a->target ? e->a->target : "");

		if (e->a->kind != FIX_SYMLINK)
			return -EINVAL;
		if (len > size)
			len = size;
		memcpy(buf, e->a->target, len);
		return (ssize_t)len;
	}
	return ovl_view_readlink(fx->base, real, buf, size);
}

int ovl_fx_list(struct ovl_fx *fx, uint64_t ino, char ***ret_names,
		uint64_t *ret_count)
{
	struct fx_ino *t = find_touched(fx, ino);
	struct fx_entry *self = find_virt(fx, ino);
	uint64_t real = real_ino(fx, ino), n = 0, cap = 0;
	const char *path = self ? self->a->path : t ? t->path : NULL;
	char **names = NULL;
	size_t first, cnt;
	int r = 0;

	if (!path)
		return -ENOENT; /* nothing of the fixups here */
	r = dm_strv_push(&names, &n, &cap, ".");
	if (r == 0)
		r = dm_strv_push(&names, &n, &cap, "..");
	if (r == 0 && real) {
		struct ovl_dir *d;

		r = ovl_view_opendir(fx->base, real, &d);
		for (uint64_t i = 2; r == 0 && i < ovl_dir_count(d); i++) {
			const char *name;
			struct stat st;
			struct fx_entry *e;

			if (ovl_dir_entry(d, i, &name, &st) < 0)
				continue;
			e = find_entry(fx, ino, name);
			if (e && e->a->kind == FIX_HIDE && !hidden_shown(fx, e))
				continue;
			r = dm_strv_push(&names, &n, &cap, name);
		}
		if (d)
			ovl_dir_close(d);
	}
	cnt = fix_set_children(fx->set, strcmp(path, "/") ? path : "/", &first);
	for (size_t i = 0; r == 0 && i < cnt; i++) {
		const struct fix_action *a = fix_set_at(fx->set, first + i);
		const char *name = strrchr(a->path, '/') + 1;
		bool dup = false;

		if (a->kind == FIX_EDIT || a->kind == FIX_HIDE)
			continue;
		for (uint64_t k = 2; k < n && !dup; k++)
			dup = !strcmp(names[k], name);
		if (!dup)
			r = dm_strv_push(&names, &n, &cap, name);
	}
	if (r < 0) {
		for (uint64_t i = 0; i < n; i++)
			free(names[i]);
		free(names);
		return r;
	}
	*ret_names = names;
	*ret_count = n;
	return 0;
}

static struct ovl_file *mem_file(const char *data, size_t len)
{
	struct ovl_file *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->fd = -1;
	f->lower = UINT32_MAX;
	f->mem = malloc(len ? len : 1);
	if (!f->mem) {
		free(f);
		return NULL;
	}
	memcpy(f->mem, data, len);
	f->mem_len = len;
	return f;
}

/* Writes @data as the whole content of the base file behind @f. */
static int write_whole(struct ovl_file *f, const char *data, size_t len)
{
	size_t done = 0;
	int fd = ovl_file_fd(f);

	if (fd < 0)
		return fd;
	while (done < len) {
		ssize_t n = ovl_file_write(f, data + done, len - done, done);

		if (n < 0)
			return (int)n;
		done += (size_t)n;
	}
	return ftruncate(fd, (off_t)len) < 0 ? -errno : 0;
}

int ovl_fx_prepare_dir(struct ovl_fx *fx, uint64_t *dir)
{
	struct fx_entry *e = find_virt(fx, *dir);
	uint64_t parent;
	struct stat st;
	int r;

	if (!e) {
		*dir = real_ino(fx, *dir);
		return 0;
	}
	if (e->a->kind != FIX_MKDIR)
		return -ENOTDIR;
	pthread_mutex_lock(&fx->lock);
	r = e->real ? 1 : 0;
	if (r)
		*dir = e->real;
	pthread_mutex_unlock(&fx->lock);
	if (r)
		return 0;
	parent = e->parent;
	r = ovl_fx_prepare_dir(fx, &parent);
	if (r < 0)
		return r;
	r = ovl_view_mkdir(fx->base,
			   &(struct ovl_cred){ .uid = e->a->uid,
					       .gid = e->a->gid },
			   parent, e->name, e->a->mode & 07777, &st);
	if (r < 0)
		return r;
	pthread_mutex_lock(&fx->lock);
	set_real(fx, e, st.st_ino);
	pthread_mutex_unlock(&fx->lock);
	*dir = st.st_ino;
	return 0;
}

int ovl_fx_materialize(struct ovl_fx *fx, uint64_t *ino)
{
	struct fx_entry *e = find_virt(fx, *ino);
	const struct fix_action *a;
	struct ovl_cred cred;
	struct ovl_file *f;
	uint64_t parent;
	struct stat st;
	int r;

	if (!e) {
		*ino = real_ino(fx, *ino);
		return 0;
	}
	a = e->a;
	if (a->kind == FIX_MKDIR)
		return ovl_fx_prepare_dir(fx, ino);
	pthread_mutex_lock(&fx->lock);
	st.st_ino = e->real;
	pthread_mutex_unlock(&fx->lock);
	if (st.st_ino) {
		*ino = st.st_ino;
		return 0;
	}
	parent = e->parent;
	r = ovl_fx_prepare_dir(fx, &parent);
	if (r < 0)
		return r;
	/* exactly the action's owner and mode: no umask */
	cred = (struct ovl_cred){ .uid = a->uid, .gid = a->gid };
	switch (a->kind) {
	case FIX_CREATE:
		r = ovl_view_create(fx->base, &cred, parent, e->name,
				    a->mode & 07777, O_WRONLY | O_EXCL, &st,
				    &f);
		if (r < 0)
			return r;
		r = write_whole(f, a->data, a->len);
		ovl_file_close(f);
		if (r < 0) {
			/* never leave half of it behind */
			ovl_view_unlink(fx->base, parent, e->name);
			return r;
		}
		break;
	case FIX_SYMLINK:
		r = ovl_view_symlink(fx->base, &cred, parent, e->name,
				     a->target, &st);
		break;
	case FIX_MKNOD:
		r = ovl_view_mknod(fx->base, &cred, parent, e->name, a->mode,
				   a->rdev, &st);
		break;
	default:
		r = -EINVAL;
	}
	if (r < 0)
		return r;
	pthread_mutex_lock(&fx->lock);
	set_real(fx, e, st.st_ino);
	pthread_mutex_unlock(&fx->lock);
	*ino = st.st_ino;
	return 0;
}

uint64_t ovl_fx_real(struct ovl_fx *fx, uint64_t ino)
{
	return real_ino(fx, ino);
}

bool ovl_fx_rewrites(struct ovl_fx *fx, uint64_t dir, const char *name)
{
	struct fx_entry *e = find_entry(fx, dir, name);

	return e && (e->a->kind == FIX_EDIT || e->a->kind == FIX_CREATE);
}

void ovl_fx_name_gone(struct ovl_fx *fx, uint64_t dir, const char *name)
{
	struct fx_entry *e = find_entry(fx, dir, name);

	if (!e || !e->vino)
		return;
	/* the next lookup ties the entry to the node now there */
	pthread_mutex_lock(&fx->lock);
	set_real(fx, e, 0);
	pthread_mutex_unlock(&fx->lock);
}

int ovl_fx_open(struct ovl_fx *fx, uint64_t ino, int flags,
		struct ovl_file **ret)
{
	bool write = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
	struct fx_entry *e = find_virt(fx, ino);
	uint64_t real = real_ino(fx, ino);
	_cleanup_free_ char *data = NULL;
	struct ovl_file *f;
	struct stat st;
	size_t len;
	int r;

	if (e && !real) {
		if (e->a->kind != FIX_CREATE)
			return -EINVAL;
		if (!write) {
			f = mem_file(e->a->data, e->a->len);
			if (!f)
				return -ENOMEM;
			*ret = f;
			return 0;
		}
		/* the first write makes it a file of the overlay */
		r = ovl_fx_materialize(fx, &ino);
		return r < 0 ? r : ovl_view_open(fx->base, ino, flags, ret);
	}
	r = ovl_view_getattr(fx->base, real, &st);
	if (r < 0)
		return r;
	{
		struct fx_content *c;
		const struct fix_action *a;

		pthread_mutex_lock(&fx->lock);
		c = content_of(fx, real, NULL);
		a = c ? c->a : NULL;
		pthread_mutex_unlock(&fx->lock);
		if (!a || !S_ISREG(st.st_mode))
			return ovl_view_open(fx->base, real, flags, ret);
		r = edited(fx, real, &st, a, &data, &len);
	}
	if (r < 0)
		return r;
	if (!write) {
		f = mem_file(data, len);
		if (!f)
			return -ENOMEM;
		*ret = f;
		return 0;
	}
	/*
	 * A write to a fixed-up file: the overlay's copy starts as the fixed
	 * content, so what the writer sees and what it writes agree; the fix,
	 * idempotent, then changes nothing further.
	 */
	r = ovl_view_open(fx->base, real, flags, &f);
	if (r < 0)
		return r;
	if (!(flags & O_TRUNC)) {
		r = write_whole(f, data, len);
		if (r < 0) {
			ovl_file_close(f);
			return r;
		}
	}
	*ret = f;
	return 0;
}

ssize_t ovl_fx_read(struct ovl_fx *fx, uint64_t ino, void *buf, size_t size,
		    uint64_t off)
{
	uint64_t real = real_ino(fx, ino);
	struct fx_content *c;
	struct ovl_file *f;
	ssize_t n;
	int r;

	pthread_mutex_lock(&fx->lock);
	c = real ? content_of(fx, real, NULL) : NULL;
	pthread_mutex_unlock(&fx->lock);
	if (real && !c) /* neither created nor edited: the base's data */
		return ovl_view_read(fx->base, real, buf, size, off);
	r = ovl_fx_open(fx, ino, O_RDONLY, &f);
	if (r < 0)
		return r;
	n = ovl_file_read(f, buf, size, off);
	ovl_file_close(f);
	return n;
}

ssize_t ovl_fx_listxattr(struct ovl_fx *fx, uint64_t ino, char *buf,
			 size_t size)
{
	uint64_t real = real_ino(fx, ino);

	return real ? ovl_view_listxattr(fx->base, real, buf, size) : 0;
}

ssize_t ovl_fx_getxattr(struct ovl_fx *fx, uint64_t ino, const char *name,
			void *buf, size_t size)
{
	uint64_t real = real_ino(fx, ino);

	return real ? ovl_view_getxattr(fx->base, real, name, buf, size) :
		      -ENODATA;
}
