// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * `domufs commit --format tar...`: the view as a new template tarball.
 * Walks the plan depth first in byte order (each directory before its
 * contents, as tar itself does) and hands every name to the template
 * writer (templates/tmpl-write.h): the first name of an inode as a full
 * member, later names as hardlink members. Reads only through the view.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "image/img-internal.h"
#include "overlay/view.h"
#include "templates/tmpl-write.h"

struct exporter {
	struct ovl_view *v;
	const struct img_plan *plan;
	struct tmpl_writer *w;
	char **first_path; /* per node: the member name of its first name */
	char *path; /* the current member name */
	size_t path_len, path_cap;
	struct tmpl_region *regions;
	size_t cap_regions;
	const struct img_commit_opts *o;
	const char *out; /* the tarball written */
	struct img_progress progress;
	struct dm_err *err;
};

struct read_ctx {
	struct ovl_view *v;
	uint64_t vino;
};

static ssize_t read_view(void *ctx, void *buf, size_t size, uint64_t off)
{
	struct read_ctx *c = ctx;

	return ovl_view_read(c->v, c->vino, buf, size, off);
}

static int path_push(struct exporter *x, const char *name, size_t len)
{
	size_t need = x->path_len + 1 + len + 1;

	if (need > x->path_cap) {
		size_t nc = x->path_cap ? x->path_cap : 4096;
		char *np;

		while (nc < need)
			nc *= 2;
		np = realloc(x->path, nc);
		if (!np)
			return -ENOMEM;
		x->path = np;
		x->path_cap = nc;
	}
	x->path[x->path_len++] = '/';
	memcpy(x->path + x->path_len, name, len);
	x->path_len += len;
	x->path[x->path_len] = '\0';
	return 0;
}

/* Data regions by SEEK_DATA/SEEK_HOLE; *ret_n = SIZE_MAX: no holes. */
static int find_regions(struct exporter *x, uint64_t vino, uint64_t size,
			size_t *ret_n)
{
	uint64_t off = 0;
	size_t n = 0;
	int64_t d, h;

	while (off < size) {
		int r = ovl_view_lseek(x->v, vino, (int64_t)off, SEEK_DATA, &d);

		if (r == -ENXIO)
			break;
		if (r < 0) {
			*ret_n = SIZE_MAX;
			return 0;
		}
		r = ovl_view_lseek(x->v, vino, d, SEEK_HOLE, &h);
		if (r < 0 || (uint64_t)h > size)
			h = (int64_t)size;
		if (h <= d) {
			*ret_n = SIZE_MAX;
			return 0;
		}
		if (n == x->cap_regions) {
			size_t nc = x->cap_regions ? x->cap_regions * 2 : 16;
			void *nr =
				realloc(x->regions, nc * sizeof(*x->regions));

			if (!nr)
				return -ENOMEM;
			x->regions = nr;
			x->cap_regions = nc;
		}
		x->regions[n].off = (uint64_t)d;
		x->regions[n].len = (uint64_t)(h - d);
		n++;
		off = (uint64_t)h;
	}
	if (n == 1 && x->regions[0].off == 0 && x->regions[0].len == size)
		n = SIZE_MAX;
	*ret_n = n;
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int xattr_error(struct exporter *x, int r, const char *name)
{
	char action[300];

	snprintf(action, sizeof(action), "xattr '%s'", name);
	return img_view_error(x->err, r, x->out, x->path, action);
}

static int add_member(struct exporter *x, size_t node)
{
	const struct img_node *n = &x->plan->nodes[node];
	_cleanup_free_ char *list = NULL;
	_cleanup_free_ char **names = NULL;
	_cleanup_free_ struct tmpl_xattr *xa = NULL;
	_cleanup_free_ char *vals = NULL;
	char link[IMG_BLOCK_SIZE + 1];
	struct tmpl_member m = { .path = x->path };
	struct read_ctx rc = { .v = x->v, .vino = n->vino };
	struct stat st;
	ssize_t len;
	size_t count = 0, vtotal = 0, nreg = SIZE_MAX;
	int r;

	if (!S_ISDIR(n->mode) && x->first_path[node]) {
		struct stat hst = { 0 };

		hst.st_mode = n->mode;
		m.st = &hst;
		m.link = x->first_path[node];
		m.hardlink = true;
		return tmpl_writer_add(x->w, &m, x->err);
	}
	r = ovl_view_getattr(x->v, n->vino, &st);
	if (r < 0)
		return img_view_error(x->err, r, x->out, x->path, NULL);
	m.st = &st;
	if (S_ISLNK(st.st_mode)) {
		len = ovl_view_readlink(x->v, n->vino, link, sizeof(link) - 1);
		if (len < 0)
			return img_view_error(x->err, (int)len, x->out, x->path,
					      NULL);
		link[len] = '\0';
		m.link = link;
	}
	if (S_ISREG(st.st_mode)) {
		r = find_regions(x, n->vino, (uint64_t)st.st_size, &nreg);
		if (r < 0)
			return r;
		if (nreg != SIZE_MAX) {
			m.regions = x->regions;
			m.nregions = nreg;
		}
		m.read = read_view;
		m.read_ctx = &rc;
	}

	len = ovl_view_listxattr(x->v, n->vino, NULL, 0);
	if (len > 0) {
		list = malloc((size_t)len);
		names = calloc((size_t)len, sizeof(*names));
		if (!list || !names)
			return -ENOMEM;
		len = ovl_view_listxattr(x->v, n->vino, list, (size_t)len);
	}
	if (len < 0 && len != -ENOTSUP && len != -ENODATA)
		return img_view_error(x->err, (int)len, x->out, x->path,
				      "listing xattrs");
	for (char *p = list; len > 0 && p < list + len; p += strlen(p) + 1)
		if (*p) {
			ssize_t vl =
				ovl_view_getxattr(x->v, n->vino, p, NULL, 0);

			if (vl < 0)
				return xattr_error(x, (int)vl, p);
			names[count++] = p;
			vtotal += (size_t)vl;
		}
	if (count)
		qsort(names, count, sizeof(*names), name_cmp);
	xa = calloc(count ? count : 1, sizeof(*xa));
	vals = malloc(vtotal ? vtotal : 1);
	if (!xa || !vals)
		return -ENOMEM;
	for (size_t i = 0, o = 0; i < count; i++) {
		ssize_t vl = ovl_view_getxattr(x->v, n->vino, names[i],
					       vals + o, vtotal - o);

		if (vl < 0)
			return xattr_error(x, (int)vl, names[i]);
		xa[i].name = names[i];
		xa[i].value = vals + o;
		xa[i].len = (size_t)vl;
		o += (size_t)vl;
	}
	m.xattrs = xa;
	m.nxattrs = count;
	r = tmpl_writer_add(x->w, &m, x->err);
	if (r < 0)
		return r;
	if (!S_ISDIR(st.st_mode) && n->nlink > 1) {
		x->first_path[node] = strdup(x->path);
		if (!x->first_path[node])
			return -ENOMEM;
	}
	if (S_ISREG(st.st_mode))
		x->progress.bytes += (uint64_t)st.st_size;
	return 0;
}

static int report(struct exporter *x)
{
	int r;

	x->progress.entries++;
	if (!x->o->progress)
		return 0;
	r = x->o->progress(x->o->progress_ctx, &x->progress);
	if (r < 0)
		return dm_err_set(x->err, -r, "commit cancelled");
	return 0;
}

/* Emits the entries of directory @d (its own member is already out). */
static int export_dir(struct exporter *x, size_t d)
{
	const struct img_node *dn = &x->plan->nodes[d];

	for (uint32_t i = 0; i < dn->count; i++) {
		const struct img_ent *e = &x->plan->ents[dn->first + i];
		const struct img_node *n = &x->plan->nodes[e->node];
		size_t saved = x->path_len;
		int r;

		if (n->vino == 0)
			continue; /* the lost+found an ext2 commit would add */
		r = path_push(x, img_plan_name(x->plan, e), e->name_len);
		if (r < 0)
			return r;
		r = add_member(x, e->node);
		if (r == 0)
			r = report(x);
		if (r == 0 && S_ISDIR(n->mode))
			r = export_dir(x, e->node);
		x->path_len = saved;
		x->path[saved] = '\0';
		if (r < 0)
			return r;
	}
	return 0;
}

int img_export_tar(struct ovl_view *v, const char *out,
		   enum img_tar_compression c, const struct img_commit_opts *o,
		   struct img_commit_result *ret, struct dm_err *err)
{
	static const enum tmpl_compression comp[] = {
		[IMG_TAR_NONE] = TMPL_COMPRESS_NONE,
		[IMG_TAR_GZIP] = TMPL_COMPRESS_GZIP,
		[IMG_TAR_ZSTD] = TMPL_COMPRESS_ZSTD,
	};
	struct img_plan plan;
	struct exporter x = {
		.v = v, .plan = &plan, .o = o, .out = out, .err = err
	};
	struct timespec t0, t1;
	int r;

	memset(ret, 0, sizeof(*ret));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = img_target_check_file(out, o, err);
	if (r < 0)
		return r;
	r = img_plan_build(v, IMG_FS_TAR, out, o->progress, o->progress_ctx,
			   &plan, err);
	if (r < 0)
		return r;
	x.first_path = calloc(plan.nnodes, sizeof(*x.first_path));
	x.path = malloc(4096);
	if (!x.first_path || !x.path) {
		r = dm_err_set(err, ENOMEM, "%s: %s", out, strerror(ENOMEM));
		goto out;
	}
	x.path_cap = 4096;
	strcpy(x.path, ".");
	x.path_len = 1;
	x.progress.phase = "write";
	x.progress.entries_total =
		plan.nents + 1 - (plan.add_lost_found ? 1 : 0);
	x.progress.bytes_total = plan.bytes;
	r = tmpl_writer_open(out, comp[c], TMPL_WRITE_REPRODUCIBLE, &x.w, err);
	if (r < 0)
		goto out;
	strcpy(x.path, "./");
	r = add_member(&x, 0);
	strcpy(x.path, ".");
	if (r == 0)
		r = report(&x);
	if (r == 0)
		r = export_dir(&x, 0);
	if (r == 0) {
		x.progress.phase = "sync";
		r = x.o->progress ?
			    x.o->progress(x.o->progress_ctx, &x.progress) :
			    0;
		if (r < 0)
			dm_err_set(err, -r, "commit cancelled");
	}
	if (r == 0) {
		r = tmpl_writer_close(x.w, err);
		x.w = NULL;
	}
	if (r == 0) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ret->entries = x.progress.entries_total;
		ret->inodes = plan.nnodes - (plan.add_lost_found ? 1 : 0);
		ret->bytes = plan.bytes;
		ret->seconds = (double)(t1.tv_sec - t0.tv_sec) +
			       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	}
out:
	if (r == -ENOMEM && !err->code)
		dm_err_set(err, ENOMEM, "%s: %s", out, strerror(ENOMEM));
	tmpl_writer_free(x.w);
	for (size_t i = 0; x.first_path && i < plan.nnodes; i++)
		free(x.first_path[i]);
	free(x.first_path);
	free(x.path);
	free(x.regions);
	img_plan_free(&plan);
	return r;
}
