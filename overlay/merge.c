// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The writable view: the template (immutable, read through its layer ops)
 * merged with the per-domain upper directory (encoding in upper.h).
 *
 * Nodes. A node is one view inode: its number is the FUSE nodeid and the
 * st_ino, so hardlinked names share one kernel inode and one attribute
 * cache. A node knows the names it is reachable by (aliases: parent node +
 * name), its template id (NO_LOWER if none) and, once it exists in the
 * upper directory, the upper (st_dev, st_ino) it is found by. Nodes are
 * never freed during a mount, so numbers are never reused.
 *
 * Locking: m->lock (one mutex) covers the node tables, aliases, the cached
 * directory states and every change to the upper namespace or metadata.
 * Data reads and writes through an open handle take no lock; neither does
 * the template layer (immutable), nor the data copy of a large template
 * file's copy-up (merge-copyup.c: into an unnamed file linked in, or into
 * a metacopy file whose mark is removed, under the lock afterwards).
 *
 * Directory state (template dir it merges with, opaque or not) is cached
 * per node and stamped with m->gen; renames, whiteouts and opaque mkdirs
 * bump m->gen, which invalidates every cached state at once. So is the
 * absence of an upper entry for a template node: past that, only a
 * copy-up of the node itself puts one at its name (mg_upper_appears()).
 *
 * Files: this one builds the view and answers queries, directory listings,
 * xattrs and reads without a handle; merge-node.c keeps the node and name
 * tables; merge-resolve.c finds what a name or node stands for;
 * merge-copyup.c copies template entries up; merge-ns.c changes names and
 * metadata and serves open files. merge-internal.h is what they share.
 */
#include "overlay/merge.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/strv.h"
#include "overlay/merge-internal.h"

struct ovl_mdir {
	struct ovl_merge *m;
	struct mnode *node;
	char **names;
	uint64_t count;
	uint64_t nupper; /* names[2..nupper) had upper entries, the rest not */
	uint32_t lower; /* the template directory merged */
	uint64_t gen, copyups; /* m's when listed */
};

/* --- construction --- */

static int collect_groups(struct ovl_merge *m, uint32_t dir, struct pbuf *b)
{
	int64_t cnt = m->lower.ops->dir_count(m->lower.data, dir);

	for (int64_t i = 0; i < cnt; i++) {
		const char *name;
		size_t len, save = b->len;
		uint32_t kid;
		struct stat st;
		int r;

		if (m->lower.ops->dir_entry(m->lower.data, dir, (uint64_t)i,
					    &name, &len, &kid) < 0 ||
		    m->lower.ops->getattr(m->lower.data, kid, &st) < 0)
			continue;
		r = mg_pb_add(b, name, len);
		if (r < 0)
			return r;
		if (S_ISDIR(st.st_mode)) {
			r = collect_groups(m, kid, b);
			if (r < 0)
				return r;
		} else if (st.st_nlink > 1) {
			char **g = m->groups[kid];
			size_t k = 0;

			while (g && g[k])
				k++;
			g = realloc(g, (k + 2) * sizeof(*g));
			if (!g)
				return -ENOMEM;
			g[k] = strdup(b->s);
			g[k + 1] = NULL;
			m->groups[kid] = g;
			if (!g[k])
				return -ENOMEM;
		}
		b->len = save;
		if (b->s)
			b->s[save] = '\0';
	}
	return 0;
}

void mg_target_fd(struct target *t, int fd)
{
	snprintf(t->proc, sizeof(t->proc), "/proc/self/fd/%d", fd);
	t->dirfd = AT_FDCWD;
	t->name = t->proc;
	t->nofollow = 0; /* the magic link is the file itself */
	t->root = false;
}

void mg_target_root(struct target *t, const struct ovl_merge *m)
{
	mg_target_fd(t, m->up.root_fd);
	t->root = true;
}

void mg_target_at(struct target *t, int dirfd, const char *name)
{
	t->dirfd = dirfd;
	t->name = name;
	t->nofollow = AT_SYMLINK_NOFOLLOW;
	t->root = false;
}

/*
 * An overlay directory adopted before it was kept private: its mode (the
 * template root's, 0755 as a rule) let anyone reach the copies inside,
 * set-user-ID ones included, and write into world-writable ones. Its owner
 * and mode move into the override, best effort (a read-only overlay stays
 * as it is).
 */
static void make_private(struct ovl_merge *m, const struct stat *st)
{
	struct target t;
	char buf[128];

	if (!(st->st_mode & 077))
		return;
	if (ovl_upper_getxa(m->up.root_fd, NULL, OVL_XA_OVERRIDE,
			    ovl_upper_user_ok(&m->up, st), buf,
			    sizeof(buf)) < 0 &&
	    ovl_upper_set_override(&m->up, m->up.root_fd, NULL, st->st_uid,
				   st->st_gid, st->st_mode, 0) < 0)
		return;
	mg_target_root(&t, m);
	(void)fchmodat(t.dirfd, t.name, 0700, 0);
}

/*
 * The overlay directory stands for the root of the tree: the first time it
 * is used it takes the template root's times and xattrs, and its owner and
 * mode go into the override (the directory itself stays 0700 and keeps its
 * owner: only its owner reaches the copies inside); it is marked with an
 * origin of "/". Later changes to "/" land on it.
 */
static int adopt_root(struct ovl_merge *m, const struct stat *st)
{
	struct target t;
	struct stat lst;
	char buf[8];
	int r;

	if (ovl_upper_getxa(m->up.root_fd, NULL, OVL_XA_ORIGIN,
			    ovl_upper_user_ok(&m->up, st), buf,
			    sizeof(buf)) >= 0) {
		make_private(m, st);
		return 0;
	}
	r = m->lower.ops->getattr(m->lower.data, OVL_LAYER_ROOT, &lst);
	if (r < 0)
		return r;
	mg_target_root(&t, m);
	r = mg_apply_meta(m, &t, m->up.root_fd, &lst, OVL_LAYER_ROOT);
	if (r < 0)
		return r;
	return ovl_upper_setxa(&m->up, m->up.root_fd, NULL, OVL_XA_ORIGIN, "/",
			       1);
}

int ovl_merge_new(const struct ovl_layer *lower, const char *upper_dir,
		  struct ovl_merge **ret, struct dm_err *err)
{
	struct ovl_merge *m = calloc(1, sizeof(*m));
	struct pbuf b = { 0 };
	struct stat st;
	int r;

	if (!m)
		return -ENOMEM;
	m->lower = *lower;
	m->up.root_fd = -1;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->copied, NULL);
	pthread_cond_init(&m->late_cv, NULL);
	m->gen = 1;
	m->next_ino = (uint64_t)lower->nodes + 1;
	m->tab_size = 1024;
	m->ino_tab = calloc(m->tab_size, sizeof(*m->ino_tab));
	m->ukey_tab = calloc(m->tab_size, sizeof(*m->ukey_tab));
	m->alias_tab_size = 1024;
	m->alias_tab = calloc(m->alias_tab_size, sizeof(*m->alias_tab));
	m->by_lower =
		calloc(lower->nodes ? lower->nodes : 1, sizeof(*m->by_lower));
	m->groups = calloc(lower->nodes ? lower->nodes : 1, sizeof(*m->groups));
	if (!m->ino_tab || !m->ukey_tab || !m->alias_tab || !m->by_lower ||
	    !m->groups) {
		r = -ENOMEM;
		goto out_free;
	}
	r = ovl_upper_open(upper_dir, &m->up);
	if (r < 0) {
		dm_err_set(err, -r, "overlay %s: %s", upper_dir, strerror(-r));
		goto out_free;
	}
	if (fstatat(m->up.root_fd, "", &st, AT_EMPTY_PATH) < 0 ||
	    !S_ISDIR(st.st_mode)) {
		r = dm_err_set(err, ENOTDIR, "overlay %s: not a directory",
			       upper_dir);
		goto out_free;
	}
	r = adopt_root(m, &st);
	if (r < 0) {
		dm_err_set(err, -r, "overlay %s: %s", upper_dir, strerror(-r));
		goto out_free;
	}
	m->root = mg_node_new(m, OVL_ROOT_INO, OVL_LAYER_ROOT);
	if (!m->root) {
		r = -ENOMEM;
		goto out_free;
	}
	m->root->gen = UINT64_MAX;
	r = collect_groups(m, OVL_LAYER_ROOT, &b);
	free(b.s);
	if (r < 0)
		goto out_free;
	*ret = m;
	return 0;
out_free:
	if (r == -ENOMEM)
		dm_err_set(err, ENOMEM, "overlay %s: out of memory", upper_dir);
	ovl_merge_free(m);
	return r;
}

struct ovl_merge *ovl_merge_free(struct ovl_merge *m)
{
	if (!m)
		return NULL;
	mg_closer_stop(m);
	for (size_t i = 0; m->ino_tab && i < m->tab_size; i++)
		for (struct mnode *x = m->ino_tab[i], *nx; x; x = nx) {
			nx = x->next_ino;
			if (x->dir_fd >= 0)
				close(x->dir_fd);
			if (x->orphan_fd >= 0)
				close(x->orphan_fd);
			while (x->aliases) {
				struct alias *a = x->aliases;

				x->aliases = a->next;
				free(a->name);
				free(a);
			}
			free(x);
		}
	for (uint32_t i = 0; m->groups && i < m->lower.nodes; i++) {
		for (char **g = m->groups[i]; g && *g; g++)
			free(*g);
		free(m->groups[i]);
	}
	free(m->groups);
	free(m->by_lower);
	free(m->ino_tab);
	free(m->ukey_tab);
	free(m->alias_tab);
	ovl_upper_close(&m->up);
	free(m->copying);
	free(m->late);
	pthread_cond_destroy(&m->late_cv);
	pthread_cond_destroy(&m->copied);
	pthread_mutex_destroy(&m->lock);
	free(m);
	return NULL;
}

/* --- queries --- */

struct mnode *mg_get_node(struct ovl_merge *m, uint64_t ino)
{
	return mg_find_ino(m, ino);
}

int ovl_merge_lookup(struct ovl_merge *m, uint64_t dir, const char *name,
		     struct stat *ret)
{
	struct mnode *p, *n;
	struct child c;
	int pfd = -1, r;

	if (!mg_name_ok(name))
		return -ENAMETOOLONG;
	if (mg_name_reserved(name))
		return -ENOENT;
	pthread_mutex_lock(&m->lock);
	p = mg_get_node(m, dir);
	if (!p) {
		r = -ESTALE;
		goto out_unlock;
	}
	if (!strcmp(name, ".") || !strcmp(name, "..")) {
		n = !strcmp(name, ".") || !p->aliases ? p : p->aliases->parent;
		r = ovl_merge_getattr_locked(m, n, ret);
		if (r == 0)
			n->nlookup++;
		goto out_unlock;
	}
	pfd = mg_upper_dirfd(m, p, O_PATH);
	if (pfd < 0 && pfd != -ENOENT) {
		r = pfd;
		goto out_unlock;
	}
	r = mg_resolve_child(m, p, pfd, name, &c);
	if (r < 0)
		goto out_unlock;
	n = mg_child_node(m, p, name, &c);
	if (!n) {
		r = -ENOMEM;
		goto out_unlock;
	}
	r = mg_node_stat(m, n, pfd, name, &c, ret);
	if (r == 0)
		n->nlookup++;
out_unlock:
	if (pfd >= 0)
		close(pfd);
	pthread_mutex_unlock(&m->lock);
	return r;
}

void ovl_merge_forget(struct ovl_merge *m, uint64_t ino, uint64_t n)
{
	struct mnode *x;

	pthread_mutex_lock(&m->lock);
	x = mg_get_node(m, ino);
	if (x)
		x->nlookup = x->nlookup > n ? x->nlookup - n : 0;
	if (x && !x->nlookup && x->orphan_fd >= 0 && !x->aliases) {
		close(x->orphan_fd);
		x->orphan_fd = -1;
	}
	if (x)
		mg_node_maybe_free(m, x);
	pthread_mutex_unlock(&m->lock);
}

bool ovl_merge_from_template(struct ovl_merge *m, uint64_t ino)
{
	struct mnode *n;
	bool r;

	pthread_mutex_lock(&m->lock);
	n = mg_get_node(m, ino);
	r = n && n->lower != NO_LOWER;
	pthread_mutex_unlock(&m->lock);
	return r;
}

static int any_entry(void *arg, int fd, const char *name, unsigned char type)
{
	(void)arg;
	(void)fd;
	(void)name;
	(void)type;
	return -EEXIST;
}

bool ovl_merge_pristine(struct ovl_merge *m, uint64_t ino)
{
	struct located l;
	struct mnode *n;
	bool pristine = false;

	pthread_mutex_lock(&m->lock);
	n = mg_get_node(m, ino);
	if (n == m->root) {
		/* the overlay directory itself: pristine while empty */
		pristine = ovl_upper_scan(m->up.root_fd, NULL, any_entry,
					  NULL) == 0;
	} else if (n && mg_locate(m, n, &l) == 0) {
		pristine = !l.c.upper;
		mg_located_done(&l);
	}
	pthread_mutex_unlock(&m->lock);
	return pristine;
}

void ovl_merge_ref(struct ovl_merge *m, uint64_t ino)
{
	struct mnode *x;

	pthread_mutex_lock(&m->lock);
	x = mg_get_node(m, ino);
	if (x)
		x->nlookup++;
	pthread_mutex_unlock(&m->lock);
}

int ovl_merge_getattr_locked(struct ovl_merge *m, struct mnode *n,
			     struct stat *ret)
{
	struct located l;
	int r = mg_locate(m, n, &l);

	if (r < 0)
		return r;
	r = mg_stat_located(m, n, &l, ret);
	mg_located_done(&l);
	return r;
}

int ovl_merge_getattr(struct ovl_merge *m, uint64_t ino, struct stat *ret)
{
	struct mnode *n;
	int r;

	pthread_mutex_lock(&m->lock);
	n = mg_get_node(m, ino);
	r = n ? ovl_merge_getattr_locked(m, n, ret) : -ESTALE;
	pthread_mutex_unlock(&m->lock);
	return r;
}

ssize_t ovl_merge_readlink(struct ovl_merge *m, uint64_t ino, char *buf,
			   size_t size)
{
	struct located l;
	struct mnode *n;
	ssize_t r;

	pthread_mutex_lock(&m->lock);
	n = mg_get_node(m, ino);
	r = n ? mg_locate(m, n, &l) : -ESTALE;
	if (r == 0) {
		if (l.c.upper) {
			r = readlinkat(l.pfd, l.name, buf, size);
			if (r < 0)
				r = -errno;
		} else {
			const char *t;
			size_t len;

			r = m->lower.ops->readlink(m->lower.data, l.c.lower, &t,
						   &len);
			if (r == 0) {
				if (len > size)
					len = size;
				memcpy(buf, t, len);
				r = (ssize_t)len;
			}
		}
		mg_located_done(&l);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

/* --- directories --- */

static bool sorted_has(char **v, uint64_t n, const char *name)
{
	return n && bsearch(&name, v, n, sizeof(*v), mg_str_cmp);
}

/* An upper directory's names for list_dir(): shown, or hiding one. */
struct upper_names {
	const struct ovl_upper *up;
	char ***names;
	uint64_t *count, *cap;
	char ***hidden;
	uint64_t *nhidden, *hcap;
};

static int upper_names_add(void *arg, int fd, const char *name,
			   unsigned char type)
{
	struct upper_names *u = arg;
	struct stat st;

	if (!strcmp(name, OVL_WH_OPAQUE))
		return 0;
	if (mg_name_reserved(name)) {
		/* (a directory ".wh.NAME" whites nothing out: see upper.c) */
		if (type == DT_DIR || !ovl_upper_wh_entry_ok(u->up, fd, name))
			return 0;
		return dm_strv_push(u->hidden, u->nhidden, u->hcap,
				    name + strlen(OVL_WH_PREFIX));
	}
	if ((type == DT_CHR || type == DT_UNKNOWN) &&
	    fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    ovl_upper_is_whiteout(u->up, fd, name, &st))
		return dm_strv_push(u->hidden, u->nhidden, u->hcap, name);
	return dm_strv_push(u->names, u->count, u->cap, name);
}

/*
 * Lists a merged directory: upper entries (whiteouts and markers hidden),
 * then template entries neither shadowed nor whited out.
 */
static int list_dir(struct ovl_merge *m, struct mnode *n, char ***ret,
		    uint64_t *ret_count, uint64_t *ret_nupper,
		    uint32_t *ret_lower)
{
	char **names = NULL, **hidden = NULL;
	uint64_t count = 0, cap = 0, nhidden = 0, hcap = 0, nupper;
	uint32_t lower;
	bool opaque;
	int dfd, r;

	r = mg_dir_state(m, n, &lower, &opaque);
	if (r < 0)
		return r;
	r = dm_strv_push(&names, &count, &cap, ".");
	if (r == 0)
		r = dm_strv_push(&names, &count, &cap, "..");
	if (r < 0)
		goto out_free;
	dfd = mg_upper_dirfd(m, n, O_PATH);
	if (dfd >= 0) {
		struct upper_names un = { &m->up,  &names,   &count, &cap,
					  &hidden, &nhidden, &hcap };

		r = ovl_upper_scan(dfd, NULL, upper_names_add, &un);
		close(dfd);
		if (r < 0)
			goto out_free;
	} else if (dfd != -ENOENT) {
		r = dfd;
		goto out_free;
	}
	nupper = count;
	qsort(names + 2, nupper - 2, sizeof(*names), mg_str_cmp);
	if (nhidden)
		qsort(hidden, nhidden, sizeof(*hidden), mg_str_cmp);
	if (lower != NO_LOWER && !opaque) {
		int64_t cnt = m->lower.ops->dir_count(m->lower.data, lower);

		for (int64_t i = 0; i < cnt; i++) {
			const char *name;
			size_t len;
			uint32_t kid;

			if (m->lower.ops->dir_entry(m->lower.data, lower,
						    (uint64_t)i, &name, &len,
						    &kid) < 0)
				continue;
			if (sorted_has(names + 2, nupper - 2, name) ||
			    sorted_has(hidden, nhidden, name))
				continue;
			r = dm_strv_push(&names, &count, &cap, name);
			if (r < 0)
				goto out_free;
		}
	}
	*ret = names;
	*ret_count = count;
	*ret_nupper = nupper;
	*ret_lower = lower;
	names = NULL;
	r = 0;
out_free:
	for (uint64_t i = 0; names && i < count; i++)
		free(names[i]);
	free(names);
	for (uint64_t i = 0; i < nhidden; i++)
		free(hidden[i]);
	free(hidden);
	return r;
}

/* 0 if merged directory @n shows nothing but "." and "..", -ENOTEMPTY if not */
int mg_dir_empty(struct ovl_merge *m, struct mnode *n)
{
	char **names;
	uint64_t count, nupper;
	uint32_t lower;
	int r = list_dir(m, n, &names, &count, &nupper, &lower);

	if (r < 0)
		return r;
	for (uint64_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
	return count > 2 ? -ENOTEMPTY : 0;
}

int ovl_merge_opendir(struct ovl_merge *m, uint64_t ino, struct ovl_mdir **ret)
{
	struct ovl_mdir *d;
	struct mnode *n;
	struct stat st;
	int r;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	pthread_mutex_lock(&m->lock);
	n = mg_get_node(m, ino);
	r = n ? ovl_merge_getattr_locked(m, n, &st) : -ESTALE;
	if (r == 0 && !S_ISDIR(st.st_mode))
		r = -ENOTDIR;
	if (r == 0)
		r = list_dir(m, n, &d->names, &d->count, &d->nupper, &d->lower);
	if (r == 0)
		n->open_count++;
	d->gen = m->gen;
	d->copyups = m->copyups;
	pthread_mutex_unlock(&m->lock);
	if (r < 0) {
		free(d);
		return r;
	}
	d->m = m;
	d->node = n;
	*ret = d;
	return 0;
}

struct ovl_mdir *ovl_merge_dir_close(struct ovl_mdir *d)
{
	if (!d)
		return NULL;
	pthread_mutex_lock(&d->m->lock);
	if (d->node->open_count)
		d->node->open_count--;
	mg_node_maybe_free(d->m, d->node);
	pthread_mutex_unlock(&d->m->lock);
	for (uint64_t i = 0; i < d->count; i++)
		free(d->names[i]);
	free(d->names);
	free(d);
	return NULL;
}

uint64_t ovl_merge_dir_count(const struct ovl_mdir *d)
{
	return d->count;
}

const char *ovl_merge_dir_name(const struct ovl_mdir *d, uint64_t i)
{
	return i < d->count ? d->names[i] : NULL;
}

int ovl_merge_dir_entry(struct ovl_mdir *d, uint64_t i, const char **ret_name,
			struct stat *ret_st)
{
	struct ovl_merge *m = d->m;
	struct mnode *n;
	struct child c;
	int pfd, r;

	if (i >= d->count)
		return -ENOENT;
	*ret_name = d->names[i];
	pthread_mutex_lock(&m->lock);
	if (i < 2) {
		/* as ovl_dir_entry() promises: inode number and type (a
		   listing's "." and ".." give the kernel nothing else) */
		n = i == 0 || !d->node->aliases ? d->node :
						  d->node->aliases->parent;
		memset(ret_st, 0, sizeof(*ret_st));
		ret_st->st_ino = n->ino;
		ret_st->st_mode = S_IFDIR;
		r = 0;
		goto out_unlock;
	}
	if (i >= d->nupper && d->gen == m->gen && d->copyups == m->copyups) {
		/* listed from the template alone, and nothing came up since */
		int64_t k = mg_lower_lookup(m, d->lower, d->names[i]);

		mg_template_child(&c, (uint32_t)k);
		pfd = -1;
		r = k < 0 ? (int)k : 0;
	} else {
		pfd = mg_upper_dirfd(m, d->node, O_PATH);
		if (pfd < 0 && pfd != -ENOENT) {
			r = pfd;
			goto out_unlock;
		}
		r = mg_resolve_child(m, d->node, pfd, d->names[i], &c);
	}
	if (r == 0) {
		n = mg_child_node(m, d->node, d->names[i], &c);
		r = n ? mg_node_stat(m, n, pfd, d->names[i], &c, ret_st) :
			-ENOMEM;
	}
	if (pfd >= 0)
		close(pfd);
out_unlock:
	pthread_mutex_unlock(&m->lock);
	return r;
}

/* --- xattrs, data without a handle, statfs --- */

ssize_t ovl_merge_listxattr(struct ovl_merge *m, uint64_t ino, char *buf,
			    size_t size)
{
	struct located l;
	struct mnode *n;
	ssize_t r;

	pthread_mutex_lock(&m->lock);
	n = mg_get_node(m, ino);
	r = n ? mg_locate(m, n, &l) : -ESTALE;
	if (r == 0) {
		if (n == m->root && l.c.upper)
			r = ovl_upper_listxattr(m->up.root_fd, NULL, buf, size);
		else if (l.c.upper)
			r = ovl_upper_listxattr(l.pfd, l.name, buf, size);
		else
			r = m->lower.ops->listxattr(m->lower.data, l.c.lower,
						    buf, size);
		mg_located_done(&l);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

ssize_t ovl_merge_getxattr(struct ovl_merge *m, uint64_t ino, const char *name,
			   void *buf, size_t size)
{
	struct located l;
	struct mnode *n;
	ssize_t r;

	pthread_mutex_lock(&m->lock);
	n = mg_get_node(m, ino);
	r = n ? mg_locate(m, n, &l) : -ESTALE;
	if (r == 0) {
		if (n == m->root && l.c.upper)
			r = ovl_upper_getxattr(m->up.root_fd, NULL, name, buf,
					       size);
		else if (l.c.upper)
			r = ovl_upper_getxattr(l.pfd, l.name, name, buf, size);
		else
			r = m->lower.ops->getxattr(m->lower.data, l.c.lower,
						   name, buf, size);
		mg_located_done(&l);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

void ovl_merge_statfs(struct ovl_merge *m, uint64_t *ret_files,
		      uint64_t *ret_bytes, uint64_t *ret_free)
{
	struct statvfs s;

	*ret_files = m->lower.nodes;
	*ret_bytes = 0;
	*ret_free = 0;
	if (fstatvfs(m->up.root_fd, &s) == 0) {
		*ret_free = (uint64_t)s.f_bavail * s.f_frsize;
		*ret_bytes = (uint64_t)(s.f_blocks - s.f_bfree) * s.f_frsize;
		*ret_files += s.f_files - s.f_ffree;
	}
}

int mg_open_upper_file(struct located *l, int flags)
{
	char p[64];
	int fd;

	if (l->ofd >= 0) {
		snprintf(p, sizeof(p), "/proc/self/fd/%d", l->ofd);
		fd = open(p, flags | O_CLOEXEC);
	} else {
		fd = openat(l->pfd, l->name, flags | O_NOFOLLOW | O_CLOEXEC);
	}
	return fd < 0 ? -errno : fd;
}

ssize_t ovl_merge_read(struct ovl_merge *m, uint64_t ino, void *buf,
		       size_t size, uint64_t off)
{
	struct located l;
	struct mnode *n;
	ssize_t r;

	pthread_mutex_lock(&m->lock);
	n = mg_get_node(m, ino);
	r = n ? mg_locate(m, n, &l) : -ESTALE;
	if (r == 0) {
		if (l.c.upper && !l.c.metacopy) {
			int fd = mg_open_upper_file(&l, O_RDONLY);

			r = fd;
			if (fd >= 0) {
				r = pread(fd, buf, size, (off_t)off);
				if (r < 0)
					r = -errno;
				close(fd);
			}
		} else {
			r = m->lower.ops->read(m->lower.data, l.c.lower, buf,
					       size, off);
		}
		mg_located_done(&l);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

int ovl_merge_map(struct ovl_merge *m, uint64_t ino, uint64_t off, int *ret_fd,
		  uint64_t *ret_pos, uint64_t *ret_len)
{
	struct located l;
	struct mnode *n;
	int r;

	pthread_mutex_lock(&m->lock);
	n = mg_get_node(m, ino);
	r = n ? mg_locate(m, n, &l) : -ESTALE;
	if (r == 0) {
		/* Upper files have no stable fd here: callers read instead. */
		r = l.c.upper && !l.c.metacopy ?
			    -EOPNOTSUPP :
			    m->lower.ops->map(m->lower.data, l.c.lower, off,
					      ret_fd, ret_pos, ret_len);
		mg_located_done(&l);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

int ovl_merge_lseek(struct ovl_merge *m, uint64_t ino, int64_t off, int whence,
		    int64_t *ret)
{
	struct located l;
	struct mnode *n;
	int r;

	pthread_mutex_lock(&m->lock);
	n = mg_get_node(m, ino);
	r = n ? mg_locate(m, n, &l) : -ESTALE;
	if (r == 0) {
		if (l.c.upper && !l.c.metacopy) {
			int fd = mg_open_upper_file(&l, O_RDONLY);

			r = fd;
			if (fd >= 0) {
				off_t p = lseek(fd, (off_t)off, whence);

				r = p < 0 ? -errno : 0;
				if (p >= 0)
					*ret = p;
				close(fd);
			}
		} else {
			r = m->lower.ops->lseek(m->lower.data, l.c.lower, off,
						whence, ret);
		}
		mg_located_done(&l);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}
