// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The plan: one walk over the view that numbers inodes, records every
 * directory's entries in byte order, finds each file's data runs with
 * SEEK_DATA/SEEK_HOLE and estimates what the tree needs on disk. Reads the
 * tree only through overlay/view.h; knows nothing of libext2fs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "image/img-internal.h"
#include "overlay/view.h"

/* ---- vino -> node: open addressing; a hardlink finds its first name's node */

struct ino_map {
	uint64_t *keys; /* 0: empty (view inode numbers start at 1) */
	uint32_t *vals;
	size_t cap, used;
};

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static int map_grow(struct ino_map *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 4096;
	uint64_t *nk = calloc(ncap, sizeof(*nk));
	uint32_t *nv = calloc(ncap, sizeof(*nv));

	if (!nk || !nv) {
		free(nk);
		free(nv);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++) {
		size_t j;

		if (!m->keys[i])
			continue;
		j = mix64(m->keys[i]) & (ncap - 1);
		while (nk[j])
			j = (j + 1) & (ncap - 1);
		nk[j] = m->keys[i];
		nv[j] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	m->keys = nk;
	m->vals = nv;
	m->cap = ncap;
	return 0;
}

/* Finds @key; if absent inserts it with *val and returns 0, else 1. */
static int map_get_or_put(struct ino_map *m, uint64_t key, uint32_t *val)
{
	size_t j;
	int r;

	if ((m->used + 1) * 2 > m->cap) {
		r = map_grow(m);
		if (r < 0)
			return r;
	}
	j = mix64(key) & (m->cap - 1);
	while (m->keys[j]) {
		if (m->keys[j] == key) {
			*val = m->vals[j];
			return 1;
		}
		j = (j + 1) & (m->cap - 1);
	}
	m->keys[j] = key;
	m->vals[j] = *val;
	m->used++;
	return 0;
}

static void map_free(struct ino_map *m)
{
	free(m->keys);
	free(m->vals);
}

/* ---- growable arrays */

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *q;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap : 256;
	while (ncap < need)
		ncap *= 2;
	q = realloc(*p, ncap * elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = ncap;
	return 0;
}

#define GROW(arr, cap, need) \
	grow((void **)&(arr), &(cap), (need), sizeof(*(arr)))

void img_plan_free(struct img_plan *p)
{
	free(p->nodes);
	free(p->ents);
	free(p->runs);
	free(p->names);
	memset(p, 0, sizeof(*p));
}

uint64_t img_plan_inodes(const struct img_plan *p)
{
	/* inodes 1..10 (the root among them), then one per node */
	return (IMG_FIRST_INO - 1) + (p->nnodes - 1);
}

uint64_t img_plan_blocks(const struct img_plan *p)
{
	return p->data_blocks + p->dir_blocks + p->map_blocks + p->xattr_blocks;
}

void img_plan_path(const struct img_plan *p, size_t node, char *buf,
		   size_t size)
{
	size_t comps[4096];
	size_t n = 0, o = 0;

	if (size == 0)
		return;
	buf[0] = '\0';
	while (node != 0 && node < p->nnodes && n < DM_ARRAY_SIZE(comps)) {
		comps[n++] = node;
		node = p->nodes[node].parent;
	}
	if (n == 0) {
		snprintf(buf, size, "/");
		return;
	}
	while (n > 0) {
		const struct img_ent *e = &p->ents[p->nodes[comps[--n]].name];
		int w = snprintf(buf + o, size - o, "/%.*s", (int)e->name_len,
				 img_plan_name(p, e));

		if (w < 0 || (size_t)w >= size - o)
			return;
		o += (size_t)w;
	}
}

/* Blocks of the extent tree or block map of a file with these runs. */
static uint64_t map_blocks_estimate(enum img_fs fs, const struct img_run *r,
				    size_t n)
{
	uint64_t ext = 0, last = 0, data = 0, leaves;

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		ext += (r[i].len + IMG_EXT_MAX_LEN - 1) / IMG_EXT_MAX_LEN;
		data += r[i].len;
		last = r[i].lblk + r[i].len;
	}
	if (fs == IMG_FS_EXT4) {
		if (ext <= 4)
			return 0;
		leaves = (ext + 339) / 340;
		return leaves + (leaves > 4 ? (leaves + 339) / 340 + 1 : 0);
	}
	/* indirect blocks: one per 1024 mapped blocks past the 12 direct
	 * ones, one more per run for boundaries, the double/triple levels */
	if (last <= 12)
		return 0;
	return (data + 1023) / 1024 + n + (last > 12 + 1024 ? 2 : 0) +
	       (last > 12 + 1024 + 1024 * 1024 ? 1024 + 2 : 0) +
	       (data / (1024 * 1024));
}

static int add_runs(struct img_plan *p, struct ovl_view *v, struct img_node *n,
		    const char *what, struct dm_err *err)
{
	uint64_t size = n->size, off = 0;
	int64_t d, h;
	int r;

	n->first = (uint32_t)p->nruns;
	n->count = 0;
	n->blocks = 0;
	while (off < size) {
		uint64_t b0, b1;

		r = ovl_view_lseek(v, n->vino, (int64_t)off, SEEK_DATA, &d);
		if (r == -ENXIO)
			break;
		if (r < 0) {
			/* a layer without hole information: all data */
			d = (int64_t)off;
			h = (int64_t)size;
		} else {
			r = ovl_view_lseek(v, n->vino, d, SEEK_HOLE, &h);
			if (r < 0 || (uint64_t)h > size)
				h = (int64_t)size;
		}
		if (d < (int64_t)off || h <= d)
			return dm_err_set(err, EIO,
					  "%s: inconsistent data and holes",
					  what);
		b0 = (uint64_t)d / IMG_BLOCK_SIZE;
		b1 = ((uint64_t)h + IMG_BLOCK_SIZE - 1) / IMG_BLOCK_SIZE;
		if (n->count &&
		    p->runs[p->nruns - 1].lblk + p->runs[p->nruns - 1].len >=
			    b0) {
			struct img_run *last = &p->runs[p->nruns - 1];

			if (b1 > last->lblk + last->len)
				last->len = b1 - last->lblk;
		} else {
			r = GROW(p->runs, p->cap_runs, p->nruns + 1);
			if (r < 0)
				return r;
			p->runs[p->nruns].lblk = b0;
			p->runs[p->nruns].len = b1 - b0;
			p->nruns++;
			n->count++;
		}
		off = (uint64_t)h;
	}
	for (uint32_t i = 0; i < n->count; i++)
		n->blocks += p->runs[n->first + i].len;
	return 0;
}

static bool is_acl(const char *name)
{
	return !strcmp(name, "system.posix_acl_access") ||
	       !strcmp(name, "system.posix_acl_default");
}

static size_t xattr_short_len(const char *name)
{
	static const char *const prefixes[] = { "user.", "trusted.",
						"security.", "system." };

	if (is_acl(name))
		return 0;
	for (size_t i = 0; i < DM_ARRAY_SIZE(prefixes); i++)
		if (!strncmp(name, prefixes[i], strlen(prefixes[i])))
			return strlen(name) - strlen(prefixes[i]);
	return strlen(name);
}

/*
 * The stored length of an ACL of @vl bytes in the xattr form (a 4-byte
 * header, 8 bytes an entry): ext4 keeps 4 bytes for the owner, group,
 * mask and other entries, 8 for named users and groups.
 */
static size_t acl_disk_len(const uint8_t *val, size_t vl)
{
	size_t len = 4;

	if (vl < 4 || (vl - 4) % 8)
		return vl; /* not an ACL libext2fs converts: taken as is */
	for (size_t o = 4; o < vl; o += 8) {
		uint16_t tag = (uint16_t)(val[o] | val[o + 1] << 8);
		bool named = tag == 0x02 || tag == 0x08; /* ACL_USER, _GROUP */

		len += named ? 8 : 4;
	}
	return len;
}

/* The stored length of the value of @vino's xattr @name, or -errno. */
static ssize_t xattr_disk_len(struct ovl_view *v, uint64_t vino,
			      const char *name)
{
	_cleanup_free_ uint8_t *val = NULL;
	ssize_t vl = ovl_view_getxattr(v, vino, name, NULL, 0);

	if (vl <= 0 || !is_acl(name))
		return vl;
	val = malloc((size_t)vl);
	if (!val)
		return -ENOMEM;
	vl = ovl_view_getxattr(v, vino, name, val, (size_t)vl);
	return vl < 0 ? vl : (ssize_t)acl_disk_len(val, (size_t)vl);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Where the xattrs of @vino go, placed as ext2fs_xattr_set() places them
 * one at a time in the order the builder sets them (strcmp): into the
 * inode body while there is room, else into the one xattr block. 0: all
 * in the inode; 1: a block too; -ENOSPC when one fits in neither - found
 * here, before the target is touched, not after a block device was wiped.
 */
static int xattr_layout(struct ovl_view *v, uint64_t vino, const char *target,
			const char *what, struct dm_err *err)
{
	_cleanup_free_ char *list = NULL;
	_cleanup_free_ const char **names = NULL;
	ssize_t len = ovl_view_listxattr(v, vino, NULL, 0);
	size_t count = 0, ibody = IMG_INODE_XATTR_SPACE;
	size_t block = IMG_XATTR_BLOCK_SPACE;

	if (len == -ENOTSUP || len == -ENODATA || len == 0)
		return 0;
	if (len < 0)
		return img_view_error(err, (int)len, target, what,
				      "listing xattrs");
	list = malloc((size_t)len);
	names = calloc((size_t)len, sizeof(*names));
	if (!list || !names)
		return -ENOMEM;
	len = ovl_view_listxattr(v, vino, list, (size_t)len);
	if (len < 0)
		return img_view_error(err, (int)len, target, what,
				      "listing xattrs");
	for (char *p = list; p < list + len; p += strlen(p) + 1)
		if (*p)
			names[count++] = p;
	if (count)
		qsort(names, count, sizeof(*names), str_cmp);
	for (size_t i = 0; i < count; i++) {
		ssize_t vl = xattr_disk_len(v, vino, names[i]);
		size_t need;

		if (vl < 0) {
			char action[300];

			snprintf(action, sizeof(action), "reading xattr '%s'",
				 names[i]);
			return img_view_error(err, (int)vl, target, what,
					      action);
		}
		need = ((16 + xattr_short_len(names[i]) + 3) & ~(size_t)3) +
		       (((size_t)vl + 3) & ~(size_t)3);
		if (need <= ibody)
			ibody -= need;
		else if (need <= block)
			block -= need;
		else
			return dm_err_set(
				err, ENOSPC,
				"%s: xattr '%s' (%zd bytes): no room "
				"left in the inode or its xattr block "
				"(%u bytes)",
				what, names[i], vl, IMG_XATTR_BLOCK_SPACE);
	}
	return block < IMG_XATTR_BLOCK_SPACE ? 1 : 0;
}

struct pending {
	uint64_t name_off;
	uint64_t vino;
	uint32_t mode;
	uint16_t name_len;
};

static int pending_cmp(const void *a, const void *b, void *names)
{
	const struct pending *x = a, *y = b;
	const char *s = names;
	size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
	int c = memcmp(s + x->name_off, s + y->name_off, n);

	if (c)
		return c;
	return x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}

struct walker {
	struct img_plan *p;
	struct ovl_view *v;
	enum img_fs fs;
	struct ino_map map;
	struct pending *pend;
	size_t cap_pend;
	uint32_t *stack;
	size_t nstack, cap_stack;
	img_progress_fn pf;
	void *pctx;
	const char *target;
	struct dm_err *err;
};

static int new_node(struct walker *w, uint64_t vino, uint32_t parent,
		    uint32_t ent, uint32_t *ret)
{
	struct img_plan *p = w->p;
	struct img_node *n;
	struct stat st;
	char what[4200];
	int r;

	r = GROW(p->nodes, p->cap_nodes, p->nnodes + 1);
	if (r < 0)
		return r;
	if (p->nnodes >= UINT32_MAX - IMG_FIRST_INO - 2)
		return dm_err_set(w->err, EFBIG, "too many inodes");
	n = &p->nodes[p->nnodes];
	memset(n, 0, sizeof(*n));
	n->vino = vino;
	n->parent = parent;
	n->name = ent;
	*ret = (uint32_t)p->nnodes;
	p->nnodes++;
	img_plan_path(p, *ret, what, sizeof(what));

	r = ovl_view_getattr(w->v, vino, &st);
	if (r < 0)
		return img_view_error(w->err, r, w->target, what, NULL);
	n->mode = (uint32_t)st.st_mode;
	n->size = st.st_size > 0 ? (uint64_t)st.st_size : 0;
	n->nlink = S_ISDIR(st.st_mode) ? 2 : 0;
	switch (st.st_mode & S_IFMT) {
	case S_IFREG:
		r = add_runs(p, w->v, n, what, w->err);
		if (r < 0)
			return r;
		p->data_blocks += n->blocks;
		p->map_blocks += map_blocks_estimate(w->fs, p->runs + n->first,
						     n->count);
		p->bytes += n->size;
		break;
	case S_IFLNK:
		if (n->size == 0 || n->size >= IMG_BLOCK_SIZE)
			return dm_err_set(w->err, ENAMETOOLONG,
					  "%s: symlink target of %llu bytes",
					  what, (unsigned long long)n->size);
		n->blocks = n->size > IMG_FAST_SYMLINK_MAX ? 1 : 0;
		p->data_blocks += n->blocks;
		break;
	case S_IFDIR:
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
	case S_IFSOCK:
		break;
	default:
		return dm_err_set(w->err, EINVAL, "%s: unknown file type 0%o",
				  what, (unsigned)(st.st_mode & S_IFMT));
	}
	if (w->fs == IMG_FS_TAR)
		return 0; /* a pax record holds an xattr of any size */
	r = xattr_layout(w->v, vino, w->target, what, w->err);
	if (r < 0)
		return r;
	n->xattr_blocks = (uint32_t)r;
	p->xattr_blocks += (uint64_t)r;
	return 0;
}

/*
 * The root has just been listed (its entries are ents[0..count)) and holds
 * no lost+found: adds one, a node of its own, at its place in byte order.
 */
static int add_lost_found(struct walker *w)
{
	static const char name[] = "lost+found";
	struct img_plan *p = w->p;
	struct img_node *root = &p->nodes[0], *n;
	size_t pos = 0, len = sizeof(name) - 1;
	int r;

	r = GROW(p->nodes, p->cap_nodes, p->nnodes + 1);
	if (r == 0)
		r = GROW(p->ents, p->cap_ents, p->nents + 1);
	if (r == 0)
		r = GROW(p->names, p->cap_names, p->names_len + len + 1);
	if (r < 0)
		return r;
	root = &p->nodes[0];
	while (pos < root->count) {
		const struct img_ent *e = &p->ents[root->first + pos];
		size_t m = e->name_len < len ? e->name_len : len;
		int c = memcmp(img_plan_name(p, e), name, m);

		if (c > 0 || (c == 0 && e->name_len > len))
			break;
		pos++;
	}
	pos += root->first;
	memmove(&p->ents[pos + 1], &p->ents[pos],
		(p->nents - pos) * sizeof(*p->ents));
	p->nents++;
	for (size_t i = 1; i < p->nnodes; i++)
		if (p->nodes[i].name >= pos)
			p->nodes[i].name++;
	memcpy(p->names + p->names_len, name, len + 1);
	p->ents[pos].name_off = p->names_len;
	p->ents[pos].name_len = (uint16_t)len;
	p->ents[pos].node = (uint32_t)p->nnodes;
	p->names_len += len + 1;
	n = &p->nodes[p->nnodes++];
	memset(n, 0, sizeof(*n));
	n->mode = S_IFDIR | 0700;
	n->nlink = 2;
	n->parent = 0;
	n->name = (uint32_t)pos;
	root->count++;
	root->nlink++;
	p->dir_blocks += IMG_LPF_BLOCKS;
	return 0;
}

/* Lists directory node @d: entries in byte order, new nodes numbered. */
static int scan_dir(struct walker *w, uint32_t d)
{
	struct img_plan *p = w->p;
	struct ovl_dir *dh = NULL;
	uint64_t count, bytes = 0;
	uint32_t max_rec = 0;
	size_t npend = 0, first_ent, nsub = 0;
	char what[4200];
	int r;

	img_plan_path(p, d, what, sizeof(what));
	r = ovl_view_opendir(w->v, p->nodes[d].vino, &dh);
	if (r < 0)
		return img_view_error(w->err, r, w->target, what, NULL);
	count = ovl_dir_count(dh);
	for (uint64_t i = 2; i < count; i++) {
		const char *name;
		struct stat st;
		size_t len;

		r = ovl_dir_entry(dh, i, &name, &st);
		if (r < 0) {
			char action[64];

			snprintf(action, sizeof(action), "reading entry %llu",
				 (unsigned long long)i);
			img_view_error(w->err, r, w->target, what, action);
			goto out;
		}
		len = strlen(name);
		if (len == 0 || len > 255 || !strcmp(name, ".") ||
		    !strcmp(name, "..") || strchr(name, '/')) {
			r = dm_err_set(w->err, EINVAL,
				       "%s: bad entry name '%s'", what, name);
			goto out;
		}
		r = GROW(w->pend, w->cap_pend, npend + 1);
		if (r < 0)
			goto out;
		r = GROW(p->names, p->cap_names, p->names_len + len + 1);
		if (r < 0)
			goto out;
		memcpy(p->names + p->names_len, name, len + 1);
		w->pend[npend].name_off = p->names_len;
		w->pend[npend].name_len = (uint16_t)len;
		w->pend[npend].vino = (uint64_t)st.st_ino;
		w->pend[npend].mode = (uint32_t)st.st_mode;
		p->names_len += len + 1;
		npend++;
	}
	dh = ovl_dir_close(dh);

	if (npend > 1) /* (w->pend is NULL until a first entry) */
		qsort_r(w->pend, npend, sizeof(*w->pend), pending_cmp,
			p->names);
	for (size_t i = 1; i < npend; i++)
		if (pending_cmp(&w->pend[i - 1], &w->pend[i], p->names) == 0) {
			r = dm_err_set(w->err, EINVAL,
				       "%s: duplicate entry '%s'", what,
				       p->names + w->pend[i].name_off);
			goto out;
		}

	r = GROW(p->ents, p->cap_ents, p->nents + npend);
	if (r < 0)
		goto out;
	first_ent = p->nents;
	p->nodes[d].first = (uint32_t)first_ent;
	p->nodes[d].count = (uint32_t)npend;
	for (size_t i = 0; i < npend; i++) {
		struct img_ent *e = &p->ents[p->nents];
		uint32_t node = (uint32_t)p->nnodes;

		e->name_off = w->pend[i].name_off;
		e->name_len = w->pend[i].name_len;
		r = map_get_or_put(&w->map, w->pend[i].vino, &node);
		if (r < 0)
			goto out;
		p->nents++;
		if (r == 0) {
			r = new_node(w, w->pend[i].vino, d,
				     (uint32_t)(p->nents - 1), &node);
			if (r < 0)
				goto out;
			if (S_ISDIR(p->nodes[node].mode)) {
				r = GROW(w->stack, w->cap_stack,
					 w->nstack + nsub + 1);
				if (r < 0)
					goto out;
				w->stack[w->nstack + nsub++] = node;
				p->nodes[d].nlink++;
			}
		} else if (S_ISDIR(p->nodes[node].mode) || node == 0) {
			r = dm_err_set(w->err, ELOOP,
				       "%s/%s: a directory with two names",
				       d ? what : "", img_plan_name(p, e));
			goto out;
		}
		e->node = node;
		if (!S_ISDIR(p->nodes[node].mode)) {
			if (p->nodes[node].nlink >= 65000 &&
			    w->fs != IMG_FS_TAR) {
				r = dm_err_set(w->err, EMLINK,
					       "%s/%s: too many hardlinks",
					       d ? what : "",
					       img_plan_name(p, e));
				goto out;
			}
			p->nodes[node].nlink++;
		}
		bytes += img_dirent_len(e->name_len);
		if (img_dirent_len(e->name_len) > max_rec)
			max_rec = img_dirent_len(e->name_len);
		/* the view's own, whatever it is, wins */
		if (d == 0 && !strcmp(img_plan_name(p, e), "lost+found"))
			p->add_lost_found = false;
	}
	if (d == 0 && p->add_lost_found) {
		r = add_lost_found(w);
		if (r < 0)
			goto out;
		bytes += img_dirent_len(10);
	}
	p->dir_blocks += img_dir_blocks_estimate(bytes, max_rec, npend, true);
	/* subdirectories in byte order: push them reversed */
	for (size_t i = 0; i < nsub / 2; i++) {
		uint32_t t = w->stack[w->nstack + i];

		w->stack[w->nstack + i] = w->stack[w->nstack + nsub - 1 - i];
		w->stack[w->nstack + nsub - 1 - i] = t;
	}
	w->nstack += nsub;
	r = 0;
out:
	ovl_dir_close(dh);
	return r;
}

int img_view_error(struct dm_err *err, int r, const char *target,
		   const char *what, const char *action)
{
	if (r == -ENOENT || r == -ESTALE) {
		if (target)
			return dm_err_set(err, EAGAIN,
					  "%s: %s: changed during the commit",
					  target, what);
		return dm_err_set(err, EAGAIN, "%s: changed during the commit",
				  what);
	}
	if (action)
		return dm_err_set(err, -r, "%s: %s: %s", what, action,
				  strerror(-r));
	return dm_err_set(err, -r, "%s: %s", what, strerror(-r));
}

int img_plan_build(struct ovl_view *v, enum img_fs fs, const char *target,
		   img_progress_fn pf, void *pctx, struct img_plan *ret,
		   struct dm_err *err)
{
	struct walker w = {
		.p = ret,
		.v = v,
		.fs = fs,
		.target = target,
		.pf = pf,
		.pctx = pctx,
		.err = err,
	};
	uint32_t root = 0;
	uint64_t next_report = 0;
	int r;

	memset(ret, 0, sizeof(*ret));
	ret->add_lost_found = true;
	r = map_get_or_put(&w.map, OVL_ROOT_INO, &root);
	if (r < 0)
		goto out;
	r = new_node(&w, OVL_ROOT_INO, 0, UINT32_MAX, &root);
	if (r < 0)
		goto out;
	if (!S_ISDIR(ret->nodes[0].mode)) {
		r = dm_err_set(err, ENOTDIR,
			       "the view's root is not a "
			       "directory");
		goto out;
	}
	r = GROW(w.stack, w.cap_stack, 1);
	if (r < 0)
		goto out;
	w.stack[w.nstack++] = 0;
	while (w.nstack > 0) {
		r = scan_dir(&w, w.stack[--w.nstack]);
		if (r < 0)
			goto out;
		if (pf && ret->nents >= next_report) {
			struct img_progress pr = { .phase = "scan",
						   .entries = ret->nents + 1 };

			next_report = ret->nents + 1024;
			r = pf(pctx, &pr);
			if (r < 0) {
				dm_err_set(err, -r, "commit cancelled");
				goto out;
			}
		}
	}
	r = 0;
out:
	if (r < 0) {
		if (r == -ENOMEM && err && !err->code)
			dm_err_set(err, ENOMEM, "scanning the view: %s",
				   strerror(ENOMEM));
		img_plan_free(ret);
	}
	map_free(&w.map);
	free(w.pend);
	free(w.stack);
	return r;
}
