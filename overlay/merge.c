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
 * the template layer (immutable).
 *
 * Directory state (template dir it merges with, opaque or not) is cached
 * per node and stamped with m->gen; renames, whiteouts and opaque mkdirs
 * bump m->gen, which invalidates every cached state at once. So is the
 * absence of an upper entry for a template node: past that, only a
 * copy-up of the node itself puts one at its name (upper_appears()).
 */
#include "overlay/merge.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/strv.h"
#include "common/hash.h"
#include "overlay/upper.h"

#define NO_LOWER UINT32_MAX

struct alias {
	struct mnode *node; /* whose name this is */
	struct mnode *parent;
	char *name;
	struct alias *next; /* the node's next name */
	struct alias **pprev; /* what points to it in the node's list */
	struct alias *hnext; /* chained hash on (parent, name) */
};

struct mnode {
	uint64_t ino;
	uint32_t lower; /* template node (dirs: the one merged; files: origin) */
	uint64_t nlookup;
	struct alias *aliases;
	unsigned nchild; /* aliases with this node as their parent */
	bool has_ukey;
	dev_t udev;
	ino_t uino;
	int orphan_fd; /* unlinked while open: O_PATH to it (for fstat...) */
	/*
	 * Template entries: found with no upper entry or whiteout at alias
	 * absent_at while absent_gen == m->gen (the template node there:
	 * absent_lower); a copy-up of the node resets absent_gen to 0.
	 */
	uint64_t absent_gen;
	const struct alias *absent_at;
	uint32_t absent_lower;
	unsigned open_count; /* file and directory handles open on it (lock) */
	int dir_fd; /* directories: cached O_PATH fd of the upper dir */
	uint64_t dir_fd_gen; /* valid while == m->gen */
	/* directories: cached merge state, valid while gen == m->gen */
	uint64_t gen;
	bool opaque;
	/* directories: cached st_nlink, for this upper mtime and gen */
	bool nl_valid;
	nlink_t nl;
	uint64_t nl_gen;
	struct timespec nl_mtime;
	struct mnode *next_ino, *next_ukey;
};

struct ovl_merge {
	struct ovl_layer lower;
	struct ovl_upper up;
	pthread_mutex_t lock;
	uint64_t gen;
	uint64_t copyups; /* template entries copied up (see upper_appears) */
	uint64_t next_ino;
	unsigned cached_fds; /* directory fds held by nodes */
	struct mnode *root;
	struct mnode **by_lower; /* template id -> node */
	struct mnode **ino_tab; /* chained hash on ino */
	struct mnode **ukey_tab; /* chained hash on upper (dev, ino) */
	size_t tab_size, nnodes;
	struct alias **alias_tab; /* every node's names by (parent, name) */
	size_t alias_tab_size, naliases;
	/* template hardlink groups: id -> paths, for nlink > 1 only */
	char ***groups;
};

struct ovl_mdir {
	struct ovl_merge *m;
	struct mnode *node;
	char **names;
	uint64_t count;
	uint64_t nupper; /* names[2..nupper) had upper entries, the rest not */
	uint32_t lower; /* the template directory merged */
	uint64_t gen, copyups; /* m's when listed */
};

static int ovl_merge_getattr_locked(struct ovl_merge *m, struct mnode *n,
				    struct stat *ret);

/* --- small helpers --- */

struct pbuf {
	char *s;
	size_t len, cap;
};

static int pb_add(struct pbuf *b, const char *part, size_t len)
{
	if (b->len + len + 2 > b->cap) {
		size_t n = b->cap ? b->cap * 2 : 256;
		char *q;

		while (n < b->len + len + 2)
			n *= 2;
		q = realloc(b->s, n);
		if (!q)
			return -ENOMEM;
		b->s = q;
		b->cap = n;
	}
	if (b->len)
		b->s[b->len++] = '/';
	memcpy(b->s + b->len, part, len);
	b->len += len;
	b->s[b->len] = '\0';
	return 0;
}

static bool name_ok(const char *name)
{
	return strlen(name) <= 255;
}

static bool name_reserved(const char *name)
{
	return !strncmp(name, OVL_WH_PREFIX, strlen(OVL_WH_PREFIX));
}

/* Path of a node in the view (first alias chain), "" for the root. */
static int node_path(struct mnode *n, struct pbuf *b)
{
	int r;

	if (!n->aliases) {
		if (!b->s) {
			b->s = calloc(1, 1);
			if (!b->s)
				return -ENOMEM;
		}
		return n->ino == OVL_ROOT_INO ? 0 : -ENOENT;
	}
	r = node_path(n->aliases->parent, b);
	if (r < 0)
		return r;
	return pb_add(b, n->aliases->name, strlen(n->aliases->name));
}

/* --- node tables --- */

static size_t h_ino(const struct ovl_merge *m, uint64_t ino)
{
	return dm_hash_mix(0, ino) & (m->tab_size - 1);
}

static size_t h_ukey(const struct ovl_merge *m, dev_t dev, ino_t ino)
{
	return dm_hash_mix(dm_hash_mix(1, dev), ino) & (m->tab_size - 1);
}

static int tables_grow(struct ovl_merge *m)
{
	size_t n = m->tab_size * 2;
	struct mnode **it = calloc(n, sizeof(*it));
	struct mnode **ut = calloc(n, sizeof(*ut));
	size_t old = m->tab_size;
	struct mnode **oi = m->ino_tab, **ou = m->ukey_tab;

	if (!it || !ut) {
		free(it);
		free(ut);
		return -ENOMEM;
	}
	m->ino_tab = it;
	m->ukey_tab = ut;
	m->tab_size = n;
	for (size_t i = 0; i < old; i++) {
		for (struct mnode *x = oi[i], *nx; x; x = nx) {
			size_t h = h_ino(m, x->ino);

			nx = x->next_ino;
			x->next_ino = it[h];
			it[h] = x;
		}
		for (struct mnode *x = ou[i], *nx; x; x = nx) {
			size_t h = h_ukey(m, x->udev, x->uino);

			nx = x->next_ukey;
			x->next_ukey = ut[h];
			ut[h] = x;
		}
	}
	free(oi);
	free(ou);
	return 0;
}

static struct mnode *find_ino(const struct ovl_merge *m, uint64_t ino)
{
	for (struct mnode *x = m->ino_tab[h_ino(m, ino)]; x; x = x->next_ino)
		if (x->ino == ino)
			return x;
	return NULL;
}

static struct mnode *find_ukey(const struct ovl_merge *m, dev_t dev, ino_t ino)
{
	for (struct mnode *x = m->ukey_tab[h_ukey(m, dev, ino)]; x;
	     x = x->next_ukey)
		if (x->udev == dev && x->uino == ino)
			return x;
	return NULL;
}

static struct mnode *node_new(struct ovl_merge *m, uint64_t ino, uint32_t lower)
{
	struct mnode *n;

	if (m->nnodes + 1 > m->tab_size && tables_grow(m) < 0)
		return NULL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->ino = ino;
	n->lower = lower;
	n->orphan_fd = -1;
	n->dir_fd = -1;
	n->next_ino = m->ino_tab[h_ino(m, ino)];
	m->ino_tab[h_ino(m, ino)] = n;
	m->nnodes++;
	if (lower != NO_LOWER && !m->by_lower[lower])
		m->by_lower[lower] = n;
	return n;
}

static void node_set_ukey(struct ovl_merge *m, struct mnode *n,
			  const struct stat *st)
{
	size_t h;

	if (n->has_ukey && n->udev == st->st_dev && n->uino == st->st_ino)
		return;
	if (n->has_ukey)
		return; /* first upper identity wins (hardlinks share it) */
	n->has_ukey = true;
	n->udev = st->st_dev;
	n->uino = st->st_ino;
	h = h_ukey(m, n->udev, n->uino);
	n->next_ukey = m->ukey_tab[h];
	m->ukey_tab[h] = n;
}

/*
 * The upper inode of @n (dev, ino) is gone: the upper file system may give
 * its number to the next file created, which must get a node (and a FUSE
 * nodeid) of its own, not this one while the kernel may still hold it.
 */
static void node_drop_ukey(struct ovl_merge *m, struct mnode *n,
			   const struct stat *gone)
{
	struct mnode **px;

	if (!n->has_ukey || n->udev != gone->st_dev || n->uino != gone->st_ino)
		return;
	for (px = &m->ukey_tab[h_ukey(m, n->udev, n->uino)]; *px;
	     px = &(*px)->next_ukey)
		if (*px == n) {
			*px = n->next_ukey;
			break;
		}
	n->next_ukey = NULL;
	n->has_ukey = false;
}

/*
 * Before the upper entry @name of @pfd goes (unlink, rmdir, rename over
 * it): an O_PATH descriptor to it, which tells afterwards whether that was
 * a file's last name; -1 when @skip (a directory has only one name).
 */
static int upper_hold(int pfd, const char *name, bool skip)
{
	return skip ? -1 : openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
}

/*
 * After: @n, whose upper inode (@ust) was that entry, gives up its key if
 * the inode is gone: a directory always, a file when @held shows no link.
 */
static void upper_release(struct ovl_merge *m, struct mnode *n,
			  const struct stat *ust, bool is_dir, int held)
{
	struct stat st;

	if (is_dir || held < 0 || fstat(held, &st) < 0 || st.st_nlink == 0)
		node_drop_ukey(m, n, ust);
}

static size_t h_alias(const struct ovl_merge *m, const struct mnode *parent,
		      const char *name)
{
	return dm_hash64(name, strlen(name), (uintptr_t)parent) &
	       (m->alias_tab_size - 1);
}

static void alias_hash_insert(struct ovl_merge *m, struct alias *a)
{
	size_t h = h_alias(m, a->parent, a->name);

	a->hnext = m->alias_tab[h];
	m->alias_tab[h] = a;
}

static void alias_hash_remove(struct ovl_merge *m, struct alias *a)
{
	for (struct alias **pa = &m->alias_tab[h_alias(m, a->parent, a->name)];
	     *pa; pa = &(*pa)->hnext)
		if (*pa == a) {
			*pa = a->hnext;
			return;
		}
}

/* Doubles the alias table; on failure the table stays as it is (slower). */
static void alias_tab_grow(struct ovl_merge *m)
{
	size_t old = m->alias_tab_size;
	struct alias **ot = m->alias_tab;
	struct alias **nt = calloc(old * 2, sizeof(*nt));

	if (!nt)
		return;
	m->alias_tab = nt;
	m->alias_tab_size = old * 2;
	for (size_t i = 0; i < old; i++)
		for (struct alias *a = ot[i], *na; a; a = na) {
			na = a->hnext;
			alias_hash_insert(m, a);
		}
	free(ot);
}

/*
 * The name (parent, name) of @n, or of any node when @n is NULL; NULL if
 * there is none. By the hash, not the node's list, which is as long as
 * its hard links are many.
 */
static struct alias *alias_find(const struct ovl_merge *m,
				const struct mnode *n,
				const struct mnode *parent, const char *name)
{
	for (struct alias *a = m->alias_tab[h_alias(m, parent, name)]; a;
	     a = a->hnext)
		if ((!n || a->node == n) && a->parent == parent &&
		    !strcmp(a->name, name))
			return a;
	return NULL;
}

static int alias_add(struct ovl_merge *m, struct mnode *n, struct mnode *parent,
		     const char *name)
{
	struct alias *a;

	if (alias_find(m, n, parent, name))
		return 0;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->name = strdup(name);
	if (!a->name) {
		free(a);
		return -ENOMEM;
	}
	a->node = n;
	a->parent = parent;
	parent->nchild++;
	a->next = n->aliases;
	if (a->next)
		a->next->pprev = &a->next;
	a->pprev = &n->aliases;
	n->aliases = a;
	if (m->naliases + 1 > m->alias_tab_size)
		alias_tab_grow(m);
	alias_hash_insert(m, a);
	m->naliases++;
	return 0;
}

static void alias_free(struct ovl_merge *m, struct alias *a)
{
	*a->pprev = a->next;
	if (a->next)
		a->next->pprev = a->pprev;
	alias_hash_remove(m, a);
	a->parent->nchild--;
	m->naliases--;
	free(a->name);
	free(a);
}

static void alias_del(struct ovl_merge *m, struct mnode *n,
		      struct mnode *parent, const char *name)
{
	struct alias *a = alias_find(m, n, parent, name);

	if (a)
		alias_free(m, a);
}

/* Every node reachable as (parent, name) loses that name. */
static void aliases_drop(struct ovl_merge *m, struct mnode *parent,
			 const char *name)
{
	struct alias *a;

	while ((a = alias_find(m, NULL, parent, name)))
		alias_free(m, a);
}

/* Every node reachable as (parent, name) is reachable as (newparent, newname) instead. */
static void aliases_move(struct ovl_merge *m, struct mnode *parent,
			 const char *name, struct mnode *newparent,
			 const char *newname)
{
	struct alias *a;

	if (parent == newparent && !strcmp(name, newname))
		return;
	while ((a = alias_find(m, NULL, parent, name))) {
		char *nn = strdup(newname);

		if (!nn) {
			/* out of memory: the node loses the name instead */
			alias_free(m, a);
			continue;
		}
		alias_hash_remove(m, a);
		free(a->name);
		a->name = nn;
		a->parent->nchild--;
		a->parent = newparent;
		newparent->nchild++;
		alias_hash_insert(m, a);
	}
}

/* --- resolution --- */

struct child {
	bool upper; /* an upper entry (not a whiteout) */
	struct stat ust; /* its lstat */
	uint32_t lower; /* template node visible here, NO_LOWER if none */
	bool opaque; /* upper dir hides the template's */
	bool shadowed; /* a template entry of that name exists below */
	bool metacopy; /* upper file without its data: read the origin */
	unsigned xa; /* upper: its private xattrs, 1u << OVL_XA_* */
};

static int64_t lower_lookup(struct ovl_merge *m, uint32_t dir, const char *name)
{
	uint32_t id;

	if (dir == NO_LOWER)
		return -ENOENT;
	if (m->lower.ops->lookup(m->lower.data, dir, name, strlen(name), &id) <
	    0)
		return -ENOENT;
	return id;
}

/* Template id of an absolute template path ("/a/b"), or NO_LOWER. */
static uint32_t lower_abs(struct ovl_merge *m, const char *path)
{
	_cleanup_free_ char *copy = strdup(path);
	uint32_t id = OVL_LAYER_ROOT;
	char *save = NULL;

	if (!copy)
		return NO_LOWER;
	for (char *c = strtok_r(copy, "/", &save); c;
	     c = strtok_r(NULL, "/", &save)) {
		int64_t k = lower_lookup(m, id, c);

		if (k < 0)
			return NO_LOWER;
		id = (uint32_t)k;
	}
	return id;
}

/* Absolute template path of a template directory id. */
static int lower_dir_path(struct ovl_merge *m, uint32_t id, struct pbuf *b)
{
	uint32_t parent;
	int64_t cnt;
	int r;

	if (id == OVL_LAYER_ROOT) {
		if (!b->s) {
			b->s = calloc(1, 1);
			if (!b->s)
				return -ENOMEM;
		}
		return 0;
	}
	parent = m->lower.ops->dir_parent(m->lower.data, id);
	r = lower_dir_path(m, parent, b);
	if (r < 0)
		return r;
	cnt = m->lower.ops->dir_count(m->lower.data, parent);
	for (int64_t i = 0; i < cnt; i++) {
		const char *name;
		size_t len;
		uint32_t kid;

		if (m->lower.ops->dir_entry(m->lower.data, parent, (uint64_t)i,
					    &name, &len, &kid) == 0 &&
		    kid == id)
			return pb_add(b, name, len);
	}
	return -ENOENT;
}

static int dir_state(struct ovl_merge *m, struct mnode *n, uint32_t *ret_lower,
		     bool *ret_opaque);

/* Resolves @name in directory node @p. @pfd: @p's upper dir or -1. */
static int resolve_child(struct ovl_merge *m, struct mnode *p, int pfd,
			 const char *name, struct child *c)
{
	uint32_t plower;
	bool popaque;
	int64_t k;
	int r;

	memset(c, 0, sizeof(*c));
	c->lower = NO_LOWER;
	r = dir_state(m, p, &plower, &popaque);
	if (r < 0)
		return r;
	k = popaque ? -ENOENT : lower_lookup(m, plower, name);
	c->shadowed = k >= 0;
	if (pfd >= 0) {
		if (fstatat(pfd, name, &c->ust, AT_SYMLINK_NOFOLLOW) == 0) {
			if (ovl_upper_is_whiteout(pfd, name, &c->ust))
				return -ENOENT;
			c->upper = true;
		} else if (errno != ENOENT) {
			return -errno;
		} else if (ovl_upper_is_whiteout(pfd, name, NULL)) {
			return -ENOENT;
		}
	}
	if (!c->upper) {
		if (k < 0)
			return -ENOENT;
		c->lower = (uint32_t)k;
		return 0;
	}
	c->xa = ovl_upper_xa_present(pfd, name);
	if (S_ISDIR(c->ust.st_mode)) {
		char buf[PATH_MAX];
		ssize_t n = c->xa & (1u << OVL_XA_REDIRECT) ?
				    ovl_upper_getxa(pfd, name, OVL_XA_REDIRECT,
						    buf, sizeof(buf) - 1) :
				    -ENODATA;

		if (n > 0) {
			buf[n] = '\0';
			c->lower = lower_abs(m, buf);
		} else if ((c->xa & (1u << OVL_XA_OPAQUE)) &&
			   ovl_upper_getxa(pfd, name, OVL_XA_OPAQUE, buf,
					   sizeof(buf)) > 0) {
			c->opaque = true;
		} else if (k >= 0) {
			struct stat lst;

			if (m->lower.ops->getattr(m->lower.data, (uint32_t)k,
						  &lst) == 0 &&
			    S_ISDIR(lst.st_mode))
				c->lower = (uint32_t)k;
		}
	} else if (c->xa & (1u << OVL_XA_ORIGIN)) {
		char buf[PATH_MAX];
		ssize_t n = ovl_upper_getxa(pfd, name, OVL_XA_ORIGIN, buf,
					    sizeof(buf) - 1);

		if (n > 0) {
			buf[n] = '\0';
			c->lower = lower_abs(m, buf);
			c->metacopy =
				S_ISREG(c->ust.st_mode) &&
				c->lower != NO_LOWER &&
				(c->xa & (1u << OVL_XA_METACOPY)) &&
				(c->xa != OVL_XA_ALL ||
				 ovl_upper_getxa(pfd, name, OVL_XA_METACOPY,
						 buf, sizeof(buf)) >= 0);
		}
	}
	return 0;
}

/* Opens the upper directory of node @n (O_PATH), or -ENOENT if none. */
#define MAX_CACHED_FDS 4096

/* Drops a node's cached directory fd (its upper directory went away). */
static void dirfd_drop(struct ovl_merge *m, struct mnode *n)
{
	if (n->dir_fd >= 0) {
		close(n->dir_fd);
		n->dir_fd = -1;
		m->cached_fds--;
	}
}

/*
 * Frees @n once nothing can reach it any more: the kernel forgot it, no
 * name leads to it or hangs below it, no handle is open on it, and its
 * upper inode, if it had one, is gone (a file that lives on under a name
 * not looked up yet keeps its node, and so its inode number). Upper nodes'
 * numbers are never given out again; a template node found again later
 * gets its template id's number, the one it had.
 */
static void node_maybe_free(struct ovl_merge *m, struct mnode *n)
{
	struct mnode **px;

	if (!n || n == m->root || n->nlookup || n->aliases || n->nchild ||
	    n->open_count || n->has_ukey)
		return;
	for (px = &m->ino_tab[h_ino(m, n->ino)]; *px; px = &(*px)->next_ino)
		if (*px == n) {
			*px = n->next_ino;
			break;
		}
	/* by_lower holds a template node under the id its number came from */
	if (n->ino - 1 < m->lower.nodes && m->by_lower[n->ino - 1] == n)
		m->by_lower[n->ino - 1] = NULL;
	dirfd_drop(m, n);
	if (n->orphan_fd >= 0)
		close(n->orphan_fd);
	m->nnodes--;
	free(n);
}

/*
 * Opens the upper directory of node @n, or -ENOENT if there is none. An
 * O_PATH open is served from a per-node cache, valid while m->gen (bumped
 * by every rename, whiteout and opaque mkdir) is unchanged: a walk of the
 * whole path per call is what this saves. The caller closes what it gets.
 */
static int upper_dirfd(struct ovl_merge *m, struct mnode *n, int flags)
{
	struct pbuf b = { 0 };
	int r;

	if (flags == O_PATH && n->dir_fd >= 0) {
		if (n->dir_fd_gen == m->gen) {
			r = fcntl(n->dir_fd, F_DUPFD_CLOEXEC, 3);
			return r < 0 ? -errno : r;
		}
		dirfd_drop(m, n);
	}
	r = node_path(n, &b);
	if (r == 0)
		r = ovl_upper_opendir(&m->up, b.s, flags);
	free(b.s);
	if (r >= 0 && flags == O_PATH && m->cached_fds < MAX_CACHED_FDS) {
		int keep = fcntl(r, F_DUPFD_CLOEXEC, 3);

		if (keep >= 0) {
			n->dir_fd = keep;
			n->dir_fd_gen = m->gen;
			m->cached_fds++;
		}
	}
	return r;
}

static int dir_state(struct ovl_merge *m, struct mnode *n, uint32_t *ret_lower,
		     bool *ret_opaque)
{
	struct child c;
	int pfd, r;

	if (n == m->root) {
		*ret_lower = OVL_LAYER_ROOT;
		*ret_opaque = false;
		return 0;
	}
	if (n->gen != m->gen) {
		if (!n->aliases)
			return -ENOENT;
		pfd = upper_dirfd(m, n->aliases->parent, O_PATH);
		r = resolve_child(m, n->aliases->parent, pfd, n->aliases->name,
				  &c);
		if (pfd >= 0)
			close(pfd);
		if (r < 0)
			return r;
		n->lower = c.lower;
		n->opaque = c.opaque;
		n->gen = m->gen;
	}
	*ret_lower = n->lower;
	*ret_opaque = n->opaque;
	return 0;
}

/*
 * Template node @n was found at its first alias with no upper entry or
 * whiteout there (the template node @lower showing): remembered until
 * upper_appears() or m->gen moves on.
 */
static void absent_seen(struct ovl_merge *m, struct mnode *n, uint32_t lower)
{
	n->absent_gen = m->gen;
	n->absent_at = n->aliases;
	n->absent_lower = lower;
}

/* A template entry with nothing of it in the upper directory. */
static void template_child(struct child *c, uint32_t lower)
{
	memset(c, 0, sizeof(*c));
	c->lower = lower;
	c->shadowed = true;
}

/* The node for a resolved child, created on first sight. */
static struct mnode *child_node(struct ovl_merge *m, struct mnode *p,
				const char *name, const struct child *c)
{
	struct mnode *n = NULL;

	if (c->upper)
		n = find_ukey(m, c->ust.st_dev, c->ust.st_ino);
	if (!n && c->lower != NO_LOWER)
		n = m->by_lower[c->lower];
	if (!n) {
		uint64_t ino = c->lower != NO_LOWER ? (uint64_t)c->lower + 1 :
						      m->next_ino++;

		n = node_new(m, ino, c->lower);
		if (!n)
			return NULL;
	}
	if (c->upper)
		node_set_ukey(m, n, &c->ust);
	if (alias_add(m, n, p, name) < 0)
		return NULL;
	if (!c->upper && n->aliases->parent == p &&
	    !strcmp(n->aliases->name, name))
		absent_seen(m, n, c->lower);
	if ((c->upper && S_ISDIR(c->ust.st_mode)) || !c->upper) {
		n->lower = c->lower;
		n->opaque = c->opaque;
		n->gen = m->gen;
	}
	return n;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of an upper directory, whiteouts as the names they hide. */
struct name_list {
	char **v;
	uint64_t cnt, cap;
};

static int name_list_add(void *arg, int fd, const char *name,
			 unsigned char type)
{
	struct name_list *l = arg;

	(void)fd;
	(void)type;
	if (name_reserved(name))
		name += strlen(OVL_WH_PREFIX);
	return dm_strv_push(&l->v, &l->cnt, &l->cap, name);
}

/*
 * st_nlink of a merged directory: 2 + its subdirectories, the upper's plus
 * the template's that are neither shadowed nor whited out. One listing of
 * the upper directory (@dname in @pfd, or @pfd itself when @dname is NULL),
 * then a lookup in memory per template subdirectory; cached on the node
 * until the upper directory changes (its mtime) or a rename/whiteout
 * changes what merges with what (m->gen).
 */
static nlink_t dir_nlink(struct ovl_merge *m, struct mnode *n, int pfd,
			 const char *dname, uint32_t lower, bool opaque,
			 const struct stat *ust)
{
	struct name_list ul = { 0 };
	char **names;
	uint64_t cnt;
	nlink_t nl = ust->st_nlink;
	int64_t lcnt;

	if (n->nl_valid && n->nl_gen == m->gen &&
	    n->nl_mtime.tv_sec == ust->st_mtim.tv_sec &&
	    n->nl_mtime.tv_nsec == ust->st_mtim.tv_nsec)
		return n->nl;
	if (lower != NO_LOWER && !opaque && pfd >= 0) {
		ovl_upper_scan(pfd, dname, name_list_add, &ul);
		if (ul.cnt)
			qsort(ul.v, ul.cnt, sizeof(*ul.v), str_cmp);
	}
	names = ul.v;
	cnt = ul.cnt;
	if (lower != NO_LOWER && !opaque) {
		lcnt = m->lower.ops->dir_count(m->lower.data, lower);
		for (int64_t i = 0; i < lcnt; i++) {
			const char *name;
			size_t len;
			uint32_t kid;
			struct stat st;

			if (m->lower.ops->dir_entry(m->lower.data, lower,
						    (uint64_t)i, &name, &len,
						    &kid) < 0 ||
			    m->lower.ops->getattr(m->lower.data, kid, &st) <
				    0 ||
			    !S_ISDIR(st.st_mode))
				continue;
			/* in the upper: counted there, or hidden */
			if (cnt &&
			    bsearch(&name, names, cnt, sizeof(*names), str_cmp))
				continue;
			nl++;
		}
	}
	for (uint64_t i = 0; i < cnt; i++)
		free(names[i]);
	free(names);
	n->nl = nl;
	n->nl_gen = m->gen;
	n->nl_mtime = ust->st_mtim;
	n->nl_valid = true;
	return nl;
}

/* Attributes of node @n reached as @name in @pfd (upper parent or -1). */
static int node_stat(struct ovl_merge *m, struct mnode *n, int pfd,
		     const char *name, const struct child *c, struct stat *ret)
{
	int r;

	if (c->upper) {
		*ret = c->ust;
		if (!m->up.privileged && (c->xa & (1u << OVL_XA_OVERRIDE)))
			ovl_upper_apply_override(pfd, name, ret);
		if (c->metacopy) {
			struct stat lst;

			if (m->lower.ops->getattr(m->lower.data, c->lower,
						  &lst) == 0)
				ret->st_blocks = lst.st_blocks;
		}
		if (S_ISDIR(ret->st_mode))
			ret->st_nlink = dir_nlink(m, n, pfd, name, c->lower,
						  c->opaque, &c->ust);
	} else {
		r = m->lower.ops->getattr(m->lower.data, c->lower, ret);
		if (r < 0)
			return r;
	}
	ret->st_ino = n->ino;
	return 0;
}

/* Resolves node @n through its first alias: its upper parent and state. */
struct located {
	int pfd; /* upper parent dir (O_PATH) or -1 */
	const char *name;
	int ofd; /* an orphan's own O_PATH fd (borrowed from the node), or -1 */
	bool fresh; /* copied up just now, with the owner and mode asked */
	struct child c;
};

static void located_done(struct located *l)
{
	if (l->pfd >= 0)
		close(l->pfd);
	l->pfd = -1;
}

static int locate(struct ovl_merge *m, struct mnode *n, struct located *l)
{
	int r;

	l->pfd = -1;
	l->name = NULL;
	l->ofd = -1;
	l->fresh = false;
	if (!n->aliases && n != m->root) {
		/* unlinked, still open: its fd, or its template node */
		memset(&l->c, 0, sizeof(l->c));
		l->c.lower = n->lower;
		if (n->orphan_fd >= 0) {
			if (fstat(n->orphan_fd, &l->c.ust) < 0)
				return -errno;
			l->c.upper = true;
			l->ofd = n->orphan_fd;
			return 0;
		}
		return n->lower != NO_LOWER ? 0 : -ENOENT;
	}
	if (n == m->root) {
		memset(&l->c, 0, sizeof(l->c));
		l->c.lower = OVL_LAYER_ROOT;
		l->pfd = -1;
		if (fstatat(m->up.root_fd, "", &l->c.ust, AT_EMPTY_PATH) == 0)
			l->c.upper = true;
		return 0;
	}
	if (!n->aliases)
		return -ENOENT;
	l->name = n->aliases->name;
	if (n->absent_gen == m->gen && n->absent_at == n->aliases) {
		/* a template entry, as it was found last time */
		template_child(&l->c, n->absent_lower);
		return 0;
	}
	r = upper_dirfd(m, n->aliases->parent, O_PATH);
	if (r < 0 && r != -ENOENT)
		return r;
	l->pfd = r < 0 ? -1 : r;
	r = resolve_child(m, n->aliases->parent, l->pfd, l->name, &l->c);
	if (r < 0) {
		located_done(l);
		return r;
	}
	if (!l->c.upper)
		absent_seen(m, n, l->c.lower);
	return 0;
}

static int stat_located(struct ovl_merge *m, struct mnode *n, struct located *l,
			struct stat *ret)
{
	if (!n->aliases && n != m->root && l->ofd < 0) {
		/* a template file unlinked while open: no name is left */
		int r = m->lower.ops->getattr(m->lower.data, l->c.lower, ret);

		ret->st_nlink = 0;
		ret->st_ino = n->ino;
		return r;
	}
	if (l->ofd >= 0) {
		*ret = l->c.ust;
		if (!m->up.privileged)
			ovl_upper_apply_override(l->ofd, NULL, ret);
		ret->st_ino = n->ino;
		return 0;
	}
	if (n == m->root) {
		/* The upper root carries the root's metadata (see adopt_root). */
		*ret = l->c.ust;
		if (!m->up.privileged)
			ovl_upper_apply_override(m->up.root_fd, NULL, ret);
		ret->st_nlink = dir_nlink(m, n, m->up.root_fd, NULL,
					  OVL_LAYER_ROOT, false, &l->c.ust);
		ret->st_ino = OVL_ROOT_INO;
		return 0;
	}
	return node_stat(m, n, l->pfd, l->name, &l->c, ret);
}

/*
 * stat_located() after a change made through @l: the entry stat'ed again,
 * its private xattrs as located (a change of ownership or mode by an
 * ordinary user may just have added its override).
 */
static int restat_located(struct ovl_merge *m, struct mnode *n,
			  struct located *l, struct stat *ret)
{
	int r;

	if (!l->c.upper)
		return stat_located(m, n, l, ret);
	if (l->ofd >= 0)
		r = fstat(l->ofd, &l->c.ust);
	else if (n == m->root)
		r = fstatat(m->up.root_fd, "", &l->c.ust, AT_EMPTY_PATH);
	else
		r = fstatat(l->pfd, l->name, &l->c.ust, AT_SYMLINK_NOFOLLOW);
	if (r < 0)
		return -errno;
	if (!m->up.privileged)
		l->c.xa |= 1u << OVL_XA_OVERRIDE;
	return stat_located(m, n, l, ret);
}

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
		r = pb_add(b, name, len);
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

/*
 * A target for metadata calls: (dirfd, name), or for the overlay root and
 * for O_TMPFILE files, the fd's /proc/self/fd path.
 */
struct target {
	int dirfd;
	const char *name;
	int nofollow; /* AT_SYMLINK_NOFOLLOW, or 0 for a /proc fd path */
	char proc[64];
};

static void target_fd(struct target *t, int fd)
{
	snprintf(t->proc, sizeof(t->proc), "/proc/self/fd/%d", fd);
	t->dirfd = AT_FDCWD;
	t->name = t->proc;
	t->nofollow = 0; /* the magic link is the file itself */
}

static void target_at(struct target *t, int dirfd, const char *name)
{
	t->dirfd = dirfd;
	t->name = name;
	t->nofollow = AT_SYMLINK_NOFOLLOW;
}

static int apply_meta(struct ovl_merge *m, const struct target *t, int fd,
		      const struct stat *st, uint32_t lower);

/*
 * The overlay directory stands for the root of the tree: the first time it
 * is used it takes the template root's owner, mode, times and xattrs, and
 * is marked with an origin of "/". Later changes to "/" land on it.
 */
static int adopt_root(struct ovl_merge *m)
{
	struct target t;
	struct stat lst;
	char buf[8];
	int r;

	if (ovl_upper_getxa(m->up.root_fd, NULL, OVL_XA_ORIGIN, buf,
			    sizeof(buf)) >= 0)
		return 0;
	r = m->lower.ops->getattr(m->lower.data, OVL_LAYER_ROOT, &lst);
	if (r < 0)
		return r;
	target_fd(&t, m->up.root_fd);
	r = apply_meta(m, &t, m->up.root_fd, &lst, OVL_LAYER_ROOT);
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
	r = adopt_root(m);
	if (r < 0) {
		dm_err_set(err, -r, "overlay %s: %s", upper_dir, strerror(-r));
		goto out_free;
	}
	m->root = node_new(m, OVL_ROOT_INO, OVL_LAYER_ROOT);
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
	pthread_mutex_destroy(&m->lock);
	free(m);
	return NULL;
}

/* --- queries --- */

static struct mnode *get_node(struct ovl_merge *m, uint64_t ino)
{
	return find_ino(m, ino);
}

int ovl_merge_lookup(struct ovl_merge *m, uint64_t dir, const char *name,
		     struct stat *ret)
{
	struct mnode *p, *n;
	struct child c;
	int pfd = -1, r;

	if (!name_ok(name))
		return -ENAMETOOLONG;
	if (name_reserved(name))
		return -ENOENT;
	pthread_mutex_lock(&m->lock);
	p = get_node(m, dir);
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
	pfd = upper_dirfd(m, p, O_PATH);
	if (pfd < 0 && pfd != -ENOENT) {
		r = pfd;
		goto out_unlock;
	}
	r = resolve_child(m, p, pfd, name, &c);
	if (r < 0)
		goto out_unlock;
	n = child_node(m, p, name, &c);
	if (!n) {
		r = -ENOMEM;
		goto out_unlock;
	}
	r = node_stat(m, n, pfd, name, &c, ret);
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
	x = get_node(m, ino);
	if (x)
		x->nlookup = x->nlookup > n ? x->nlookup - n : 0;
	if (x && !x->nlookup && x->orphan_fd >= 0 && !x->aliases) {
		close(x->orphan_fd);
		x->orphan_fd = -1;
	}
	if (x)
		node_maybe_free(m, x);
	pthread_mutex_unlock(&m->lock);
}

bool ovl_merge_from_template(struct ovl_merge *m, uint64_t ino)
{
	struct mnode *n;
	bool r;

	pthread_mutex_lock(&m->lock);
	n = get_node(m, ino);
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
	n = get_node(m, ino);
	if (n == m->root) {
		/* the overlay directory itself: pristine while empty */
		pristine = ovl_upper_scan(m->up.root_fd, NULL, any_entry,
					  NULL) == 0;
	} else if (n && locate(m, n, &l) == 0) {
		pristine = !l.c.upper;
		located_done(&l);
	}
	pthread_mutex_unlock(&m->lock);
	return pristine;
}

void ovl_merge_ref(struct ovl_merge *m, uint64_t ino)
{
	struct mnode *x;

	pthread_mutex_lock(&m->lock);
	x = get_node(m, ino);
	if (x)
		x->nlookup++;
	pthread_mutex_unlock(&m->lock);
}

static int ovl_merge_getattr_locked(struct ovl_merge *m, struct mnode *n,
				    struct stat *ret)
{
	struct located l;
	int r = locate(m, n, &l);

	if (r < 0)
		return r;
	r = stat_located(m, n, &l, ret);
	located_done(&l);
	return r;
}

int ovl_merge_getattr(struct ovl_merge *m, uint64_t ino, struct stat *ret)
{
	struct mnode *n;
	int r;

	pthread_mutex_lock(&m->lock);
	n = get_node(m, ino);
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
	n = get_node(m, ino);
	r = n ? locate(m, n, &l) : -ESTALE;
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
		located_done(&l);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

/* --- directories --- */

static bool sorted_has(char **v, uint64_t n, const char *name)
{
	return n && bsearch(&name, v, n, sizeof(*v), str_cmp);
}

/* An upper directory's names for list_dir(): shown, or hiding one. */
struct upper_names {
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
	if (name_reserved(name))
		return dm_strv_push(u->hidden, u->nhidden, u->hcap,
				    name + strlen(OVL_WH_PREFIX));
	if ((type == DT_CHR || type == DT_UNKNOWN) &&
	    fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    ovl_upper_is_whiteout(fd, name, &st))
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

	r = dir_state(m, n, &lower, &opaque);
	if (r < 0)
		return r;
	r = dm_strv_push(&names, &count, &cap, ".");
	if (r == 0)
		r = dm_strv_push(&names, &count, &cap, "..");
	if (r < 0)
		goto out_free;
	dfd = upper_dirfd(m, n, O_PATH);
	if (dfd >= 0) {
		struct upper_names un = { &names,  &count,   &cap,
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
	qsort(names + 2, nupper - 2, sizeof(*names), str_cmp);
	if (nhidden)
		qsort(hidden, nhidden, sizeof(*hidden), str_cmp);
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
static int dir_empty(struct ovl_merge *m, struct mnode *n)
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
	n = get_node(m, ino);
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
	node_maybe_free(d->m, d->node);
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
		int64_t k = lower_lookup(m, d->lower, d->names[i]);

		template_child(&c, (uint32_t)k);
		pfd = -1;
		r = k < 0 ? (int)k : 0;
	} else {
		pfd = upper_dirfd(m, d->node, O_PATH);
		if (pfd < 0 && pfd != -ENOENT) {
			r = pfd;
			goto out_unlock;
		}
		r = resolve_child(m, d->node, pfd, d->names[i], &c);
	}
	if (r == 0) {
		n = child_node(m, d->node, d->names[i], &c);
		r = n ? node_stat(m, n, pfd, d->names[i], &c, ret_st) : -ENOMEM;
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
	n = get_node(m, ino);
	r = n ? locate(m, n, &l) : -ESTALE;
	if (r == 0) {
		if (n == m->root && l.c.upper)
			r = ovl_upper_listxattr(m->up.root_fd, NULL, buf, size);
		else if (l.c.upper)
			r = ovl_upper_listxattr(l.pfd, l.name, buf, size);
		else
			r = m->lower.ops->listxattr(m->lower.data, l.c.lower,
						    buf, size);
		located_done(&l);
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
	n = get_node(m, ino);
	r = n ? locate(m, n, &l) : -ESTALE;
	if (r == 0) {
		if (n == m->root && l.c.upper)
			r = ovl_upper_getxattr(m->up.root_fd, NULL, name, buf,
					       size);
		else if (l.c.upper)
			r = ovl_upper_getxattr(l.pfd, l.name, name, buf, size);
		else
			r = m->lower.ops->getxattr(m->lower.data, l.c.lower,
						   name, buf, size);
		located_done(&l);
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

static int open_upper_file(struct located *l, int flags)
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
	n = get_node(m, ino);
	r = n ? locate(m, n, &l) : -ESTALE;
	if (r == 0) {
		if (l.c.upper && !l.c.metacopy) {
			int fd = open_upper_file(&l, O_RDONLY);

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
		located_done(&l);
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
	n = get_node(m, ino);
	r = n ? locate(m, n, &l) : -ESTALE;
	if (r == 0) {
		/* Upper files have no stable fd here: callers read instead. */
		r = l.c.upper && !l.c.metacopy ?
			    -EOPNOTSUPP :
			    m->lower.ops->map(m->lower.data, l.c.lower, off,
					      ret_fd, ret_pos, ret_len);
		located_done(&l);
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
	n = get_node(m, ino);
	r = n ? locate(m, n, &l) : -ESTALE;
	if (r == 0) {
		if (l.c.upper && !l.c.metacopy) {
			int fd = open_upper_file(&l, O_RDONLY);

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
		located_done(&l);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

/* --- copy-up --- */

/* The xattr helpers take (dirfd, name) with name NULL for "the fd". */
static int xa_dirfd(const struct target *t, int fd)
{
	return t->dirfd == AT_FDCWD ? fd : t->dirfd;
}

static mode_t disk_mode(const struct ovl_merge *m, mode_t mode)
{
	/* An unprivileged daemon must keep access to what it stores. */
	if (m->up.privileged)
		return mode & 07777;
	return (mode & 07777) | (S_ISDIR(mode) ? 0700 : 0600);
}

/*
 * The owner and mode that @a (its OVL_SET_UID, _GID and _MODE) leaves @st
 * with: a change of owner clears set-user-ID of a non-directory, and
 * set-group-ID when group-executable (as Linux does); a mode asked for
 * in the same call then stands as asked.
 */
static void owner_mode_change(const struct ovl_setattr *a, struct stat *st)
{
	if (a->valid & OVL_SET_UID)
		st->st_uid = a->uid;
	if (a->valid & OVL_SET_GID)
		st->st_gid = a->gid;
	if ((a->valid & (OVL_SET_UID | OVL_SET_GID)) && !S_ISDIR(st->st_mode)) {
		st->st_mode &= ~(mode_t)S_ISUID;
		if (st->st_mode & S_IXGRP)
			st->st_mode &= ~(mode_t)S_ISGID;
	}
	if ((a->valid & OVL_SET_MODE) && !S_ISLNK(st->st_mode))
		st->st_mode = (st->st_mode & S_IFMT) | (a->mode & 07777);
}

/*
 * Owner and mode of @st onto a regular file through its own writable fd
 * (the O_TMPFILE of a copy-up), with only the calls that change something:
 * the new file already has the daemon's owner (usually the template's) and
 * was created with its final mode.
 */
static int owner_mode_fd(struct ovl_merge *m, int fd, const struct stat *st)
{
	mode_t want = disk_mode(m, st->st_mode);
	bool chowned = false;
	struct stat cur;

	if (fstat(fd, &cur) < 0)
		return -errno;
	if (m->up.privileged &&
	    (cur.st_uid != st->st_uid || cur.st_gid != st->st_gid)) {
		if (fchown(fd, st->st_uid, st->st_gid) < 0)
			return -errno;
		chowned = true; /* which clears set-id bits */
	}
	if (((cur.st_mode & 07777) != want ||
	     (chowned && (cur.st_mode & (S_ISUID | S_ISGID)))) &&
	    fchmod(fd, want) < 0)
		return -errno;
	if (!m->up.privileged)
		ovl_upper_set_override(&m->up, fd, NULL, st->st_uid, st->st_gid,
				       st->st_mode, st->st_rdev);
	return 0;
}

/* Owner and mode of @st onto the upper object @t (@fd as in apply_meta). */
static int owner_mode_at(struct ovl_merge *m, const struct target *t, int fd,
			 const struct stat *st)
{
	if (m->up.privileged) {
		if (fchownat(t->dirfd, t->name, st->st_uid, st->st_gid,
			     t->nofollow) < 0)
			return -errno;
		if (!S_ISLNK(st->st_mode) &&
		    fchmodat(t->dirfd, t->name, st->st_mode & 07777, 0) < 0)
			return -errno;
	} else {
		if (!S_ISLNK(st->st_mode) &&
		    fchmodat(t->dirfd, t->name, disk_mode(m, st->st_mode), 0) <
			    0)
			return -errno;
		if (!S_ISLNK(st->st_mode))
			ovl_upper_set_override(&m->up, xa_dirfd(t, fd),
					       t->dirfd == AT_FDCWD ? NULL :
								      t->name,
					       st->st_uid, st->st_gid,
					       st->st_mode, st->st_rdev);
	}
	return 0;
}

/*
 * Owner, mode, xattrs and times of @st onto the upper object @t (@fd: the
 * object's fd for fd targets, else -1; a regular file's is the writable
 * O_TMPFILE of its copy-up). Copies the template xattrs of @lower when it
 * is not NO_LOWER.
 */
static int apply_meta(struct ovl_merge *m, const struct target *t, int fd,
		      const struct stat *st, uint32_t lower)
{
	const char *xname = t->dirfd == AT_FDCWD ? NULL : t->name;
	int xfd = xa_dirfd(t, fd);
	bool own_fd = fd >= 0 && t->dirfd == AT_FDCWD && S_ISREG(st->st_mode);
	struct timespec ts[2] = { st->st_atim, st->st_mtim };
	int r = own_fd ? owner_mode_fd(m, fd, st) : owner_mode_at(m, t, fd, st);
	bool acl = false;

	if (r < 0)
		return r;
	if (lower != NO_LOWER) {
		ssize_t n =
			m->lower.ops->listxattr(m->lower.data, lower, NULL, 0);
		_cleanup_free_ char *names = NULL;
		_cleanup_free_ char *val = NULL;

		if (n > 0) {
			names = malloc((size_t)n);
			val = malloc(65536);
			if (!names || !val)
				return -ENOMEM;
			n = m->lower.ops->listxattr(m->lower.data, lower, names,
						    (size_t)n);
			for (ssize_t i = 0; i > -1 && i < n;
			     i += (ssize_t)strlen(names + i) + 1) {
				ssize_t vl = m->lower.ops->getxattr(
					m->lower.data, lower, names + i, val,
					65536);

				if (vl < 0)
					continue;
				r = ovl_upper_setxattr(xfd, xname, names + i,
						       val, (size_t)vl, 0);
				/* user.* is refused on symlinks and devices */
				if (r < 0 && m->up.privileged &&
				    !S_ISLNK(st->st_mode))
					return r;
				acl = acl ||
				      (r == 0 &&
				       !strcmp(names + i,
					       "system.posix_acl_access"));
			}
		}
	}
	/*
	 * An access ACL just set made its mask the group bits: the mode
	 * again (a chmod folded into the copy-up), which sets the mask.
	 */
	if (acl && m->up.privileged &&
	    (own_fd ? fchmod(fd, st->st_mode & 07777) :
		      fchmodat(t->dirfd, t->name, st->st_mode & 07777, 0)) < 0)
		return -errno;
	if (own_fd)
		return futimens(fd, ts) < 0 ? -errno : 0;
	if (utimensat(t->dirfd, t->name, ts, t->nofollow) < 0)
		return -errno;
	return 0;
}

/*
 * Template node @n is about to get an upper entry at its name (a copy-up):
 * what was cached about its absence there no longer holds.
 */
static void upper_appears(struct ovl_merge *m, struct mnode *n)
{
	n->absent_gen = 0;
	m->copyups++;
}

/* Keeps a directory's times across an internal change (copy-up). */
struct saved_times {
	bool ok;
	struct timespec ts[2];
};

static void times_save(int dirfd, struct saved_times *s)
{
	struct stat st;

	s->ok = fstatat(dirfd, "", &st, AT_EMPTY_PATH) == 0;
	s->ts[0] = st.st_atim;
	s->ts[1] = st.st_mtim;
}

static void times_restore(int dirfd, const struct saved_times *s)
{
	char p[64];

	if (!s->ok)
		return;
	/* an O_PATH fd: AT_EMPTY_PATH (Linux 5.8+), else its /proc path */
	if (utimensat(dirfd, "", s->ts, AT_EMPTY_PATH) == 0 || errno != EINVAL)
		return;
	snprintf(p, sizeof(p), "/proc/self/fd/%d", dirfd);
	utimensat(AT_FDCWD, p, s->ts, 0);
}

/* O_PATH fd of @dir's upper directory, creating it (and its parents). */
static int ensure_upper_dir(struct ovl_merge *m, struct mnode *dir)
{
	struct saved_times pt;
	struct stat lst;
	struct target t;
	uint32_t lower;
	bool opaque;
	int pfd, fd, r;

	fd = upper_dirfd(m, dir, O_PATH);
	if (fd != -ENOENT)
		return fd;
	if (dir == m->root || !dir->aliases)
		return -ENOENT;
	r = dir_state(m, dir, &lower, &opaque);
	if (r < 0)
		return r;
	if (lower == NO_LOWER)
		return -ENOENT;
	r = m->lower.ops->getattr(m->lower.data, lower, &lst);
	if (r < 0)
		return r;
	pfd = ensure_upper_dir(m, dir->aliases->parent);
	if (pfd < 0)
		return pfd;
	times_save(pfd, &pt);
	upper_appears(m, dir);
	if (mkdirat(pfd, dir->aliases->name, 0700) < 0) {
		r = -errno;
		close(pfd);
		return r;
	}
	target_at(&t, pfd, dir->aliases->name);
	r = apply_meta(m, &t, -1, &lst, lower);
	if (r == 0) {
		fd = openat(pfd, dir->aliases->name,
			    O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		r = fd < 0 ? -errno : 0;
	}
	if (r == 0) {
		struct stat ust;

		if (fstatat(fd, "", &ust, AT_EMPTY_PATH) == 0)
			node_set_ukey(m, dir, &ust);
	}
	times_restore(pfd, &pt);
	close(pfd);
	return r < 0 ? r : fd;
}

static int copy_data(struct ovl_merge *m, uint32_t lower, uint64_t size,
		     int dst)
{
	_cleanup_free_ char *buf = NULL;
	uint64_t off = 0;

	while (off < size) {
		uint64_t pos, len;
		int sfd, r;

		r = m->lower.ops->map(m->lower.data, lower, off, &sfd, &pos,
				      &len);
		if (r < 0)
			return r;
		if (len > size - off)
			len = size - off;
		if (sfd >= 0) {
			loff_t in = (loff_t)pos, out = (loff_t)off;
			uint64_t left = len;

			while (left) {
				ssize_t n = copy_file_range(sfd, &in, dst, &out,
							    left, 0);

				if (n <= 0) {
					if (!buf) {
						buf = malloc(1 << 20);
						if (!buf)
							return -ENOMEM;
					}
					n = pread(sfd, buf,
						  left < (1 << 20) ? left :
								     (1 << 20),
						  in);
					if (n <= 0)
						return n < 0 ? -errno : -EIO;
					if (pwrite(dst, buf, (size_t)n, out) !=
					    n)
						return -errno ? -errno : -EIO;
					in += n;
					out += n;
				}
				left -= (uint64_t)n;
			}
		}
		off += len;
	}
	if (ftruncate(dst, (off_t)size) < 0)
		return -errno;
	return 0;
}

/* Origin of a template file reached as @name in dir node @p: "/path". */
static int origin_of(struct ovl_merge *m, struct mnode *p, const char *name,
		     struct pbuf *b)
{
	uint32_t plower;
	bool popaque;
	int r = dir_state(m, p, &plower, &popaque);

	if (r == 0)
		r = lower_dir_path(m, plower, b);
	if (r == 0)
		r = pb_add(b, name, strlen(name));
	return r;
}

/* Creates the upper copy of a template non-directory at (pfd, name). */
static int copy_up_one(struct ovl_merge *m, int pfd, const char *name,
		       uint32_t lower, const struct stat *lst,
		       const char *origin, bool data)
{
	struct target t;
	char originv[PATH_MAX + 2];
	int n = snprintf(originv, sizeof(originv), "/%s", origin);
	int r = 0;

	if (n < 0 || (size_t)n >= sizeof(originv))
		return -ENAMETOOLONG;
	if (S_ISREG(lst->st_mode)) {
		/* created with its final mode: apply_meta() then has less
		   to change (the name appears only once it is complete) */
		_cleanup_close_ int tfd = openat(pfd, ".",
						 O_TMPFILE | O_RDWR | O_CLOEXEC,
						 disk_mode(m, lst->st_mode));

		if (tfd < 0)
			return -errno;
		if (data)
			r = copy_data(m, lower, (uint64_t)lst->st_size, tfd);
		else if (ftruncate(tfd, lst->st_size) < 0)
			r = -errno;
		target_fd(&t, tfd);
		if (r == 0)
			r = apply_meta(m, &t, tfd, lst, lower);
		if (r == 0)
			r = ovl_upper_setxa(&m->up, tfd, NULL, OVL_XA_ORIGIN,
					    originv, (size_t)n);
		if (r == 0 && !data)
			r = ovl_upper_setxa(&m->up, tfd, NULL, OVL_XA_METACOPY,
					    "", 0);
		/* Only now does the name appear: whole or not at all. */
		if (r == 0 &&
		    (!m->up.privileged ||
		     linkat(tfd, "", pfd, name, AT_EMPTY_PATH) < 0) &&
		    linkat(AT_FDCWD, t.proc, pfd, name, AT_SYMLINK_FOLLOW) < 0)
			r = -errno;
		return r;
	}
	if (S_ISLNK(lst->st_mode)) {
		const char *target;
		size_t len;
		_cleanup_free_ char *tcopy = NULL;

		r = m->lower.ops->readlink(m->lower.data, lower, &target, &len);
		if (r < 0)
			return r;
		tcopy = strndup(target, len);
		if (!tcopy)
			return -ENOMEM;
		if (symlinkat(tcopy, pfd, name) < 0)
			return -errno;
	} else if (m->up.privileged) {
		if (mknodat(pfd, name, lst->st_mode & S_IFMT, lst->st_rdev) < 0)
			return -errno;
	} else {
		/*
		 * Special files for an ordinary user: a placeholder file and
		 * override_stat (user.* xattrs are refused on the real thing).
		 */
		int fd = openat(pfd, name,
				O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

		if (fd < 0)
			return -errno;
		close(fd);
	}
	target_at(&t, pfd, name);
	r = apply_meta(m, &t, -1, lst, lower);
	if (r == 0)
		ovl_upper_setxa(&m->up, pfd, name, OVL_XA_ORIGIN, originv,
				(size_t)n);
	return r;
}

/*
 * Where template hardlink @tpath ("d/e/p1") shows in the view now. The
 * deepest template directory on its path that the view knows as a node
 * (renames move nodes, redirects keep their template directory) is where
 * the walk starts; the rest goes by name, as the template has it.
 */
static int tmpl_group_place(struct ovl_merge *m, const char *tpath,
			    struct mnode **ret_parent, char **ret_name,
			    struct child *ret)
{
	_cleanup_free_ char *copy = strdup(tpath);
	struct mnode *cur = NULL;
	const char *rest = tpath;
	char *save = NULL, *c, *next;
	int r;

	if (!copy)
		return -ENOMEM;
	for (char *end = strrchr(copy, '/'); end; end = strrchr(copy, '/')) {
		uint32_t id;

		*end = '\0';
		id = lower_abs(m, copy);
		if (id != NO_LOWER && m->by_lower[id] &&
		    m->by_lower[id]->aliases) {
			cur = m->by_lower[id];
			rest = tpath + (end - copy) + 1;
			break;
		}
	}
	if (!cur)
		cur = m->root;
	free(copy);
	copy = strdup(rest);
	if (!copy)
		return -ENOMEM;
	c = strtok_r(copy, "/", &save);
	while (c) {
		struct child ch;
		int pfd = upper_dirfd(m, cur, O_PATH);

		if (pfd < 0 && pfd != -ENOENT)
			return pfd;
		r = resolve_child(m, cur, pfd >= 0 ? pfd : -1, c, &ch);
		if (pfd >= 0)
			close(pfd);
		if (r < 0)
			return r;
		next = strtok_r(NULL, "/", &save);
		if (!next) {
			*ret_parent = cur;
			*ret_name = strdup(c);
			*ret = ch;
			return *ret_name ? 0 : -ENOMEM;
		}
		cur = child_node(m, cur, c, &ch);
		if (!cur)
			return -ENOMEM;
		c = next;
	}
	return -EINVAL;
}

/*
 * Brings a metacopy file's data in: written into the upper inode itself
 * (its hardlinks stay one file), times kept, and the metacopy mark removed
 * last, so an interruption leaves the old, complete view.
 */
static int fill_metacopy(struct ovl_merge *m, struct located *l)
{
	struct stat st;
	_cleanup_close_ int fd = open_upper_file(l, O_WRONLY);
	struct timespec ts[2];
	int r;

	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0)
		return -errno;
	r = copy_data(m, l->c.lower, (uint64_t)st.st_size, fd);
	if (r < 0)
		return r;
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	if (futimens(fd, ts) < 0)
		return -errno;
	return ovl_upper_rmxa(l->pfd, l->name, OVL_XA_METACOPY);
}

/*
 * Copies template non-directory @n up, with every other name of its
 * template hardlink group that still shows it, as hardlinks of one upper
 * inode, so the group stays one file. Without @data, a regular file gets
 * its metadata only (metacopy); with it, its data too. @a (or NULL): a
 * change of owner and mode a regular file's new copy is made with
 * (l->fresh then says so).
 */
static int copy_up_file_located(struct ovl_merge *m, struct mnode *n, bool data,
				const struct ovl_setattr *a, struct located *l)
{
	struct saved_times pt;
	struct pbuf origin = { 0 };
	_cleanup_free_ char *first = NULL;
	struct stat lst, ust;
	uint32_t lower = l->c.lower;
	int pfd, r;

	if (l->c.upper)
		return data && l->c.metacopy ? fill_metacopy(m, l) : 0;
	if (!n->aliases)
		return -ESTALE; /* a template file unlinked: nowhere to go */
	r = m->lower.ops->getattr(m->lower.data, lower, &lst);
	if (r < 0)
		return r;
	/* regular files only: what else an ordinary user's mount cannot
	   always record goes the way of a separate change, and fails so */
	if (a && S_ISREG(lst.st_mode))
		owner_mode_change(a, &lst);
	else
		a = NULL;
	r = origin_of(m, n->aliases->parent, n->aliases->name, &origin);
	if (r < 0)
		goto out_free;
	/* the parent as located, else made (with its own parents) */
	pfd = l->pfd >= 0 ? l->pfd : ensure_upper_dir(m, n->aliases->parent);
	if (pfd < 0) {
		r = pfd;
		goto out_free;
	}
	/* aliases are added below: keep the name linked from */
	first = strdup(n->aliases->name);
	if (!first) {
		r = -ENOMEM;
		goto out_close;
	}
	times_save(pfd, &pt);
	upper_appears(m, n);
	r = copy_up_one(m, pfd, first, lower, &lst, origin.s, data);
	times_restore(pfd, &pt);
	for (char **g = m->groups[lower]; r == 0 && g && *g; g++) {
		struct mnode *gp;
		char *gname = NULL;
		struct child gc;
		int gfd;

		if (tmpl_group_place(m, *g, &gp, &gname, &gc) < 0 || gc.upper ||
		    gc.lower != lower) {
			free(gname);
			continue;
		}
		gfd = ensure_upper_dir(m, gp);
		if (gfd >= 0) {
			struct saved_times gt;

			times_save(gfd, &gt);
			if (linkat(pfd, first, gfd, gname, 0) < 0)
				r = -errno;
			times_restore(gfd, &gt);
			close(gfd);
		}
		if (r == 0)
			alias_add(m, n, gp, gname);
		free(gname);
	}
	/*
	 * @l as a new locate() would find it: the entry at (pfd, first),
	 * whose alias (and so @first's string) @l->name already is.
	 */
	if (r == 0 && fstatat(pfd, first, &ust, AT_SYMLINK_NOFOLLOW) < 0)
		r = -errno;
	if (r == 0) {
		node_set_ukey(m, n, &ust);
		l->c.upper = true;
		l->c.ust = ust;
		l->c.metacopy = S_ISREG(ust.st_mode) && !data;
		if (S_ISREG(ust.st_mode)) {
			/* what copy_up_one() stored on it */
			l->c.xa = 1u << OVL_XA_ORIGIN;
			if (l->c.metacopy)
				l->c.xa |= 1u << OVL_XA_METACOPY;
			if (!m->up.privileged)
				l->c.xa |= 1u << OVL_XA_OVERRIDE;
		} else {
			l->c.xa = ovl_upper_xa_present(pfd, l->name);
		}
		l->fresh = a != NULL;
		l->pfd = pfd;
		pfd = -1;
	}
out_close:
	if (pfd >= 0 && pfd != l->pfd)
		close(pfd);
out_free:
	free(origin.s);
	return r;
}

static int copy_up_file(struct ovl_merge *m, struct mnode *n, bool data)
{
	struct located l;
	int r = locate(m, n, &l);

	if (r < 0)
		return r;
	r = copy_up_file_located(m, n, data, NULL, &l);
	located_done(&l);
	return r;
}

/*
 * Makes node @n exist in the upper directory; @data: a regular file's data
 * too (a write), else its metadata only (chmod, chown, xattrs, rename...).
 * Leaves @n located in @l, as it is afterwards (the caller calls
 * located_done(), also on failure). @a: as for copy_up_file_located().
 */
static int copy_up_located(struct ovl_merge *m, struct mnode *n, bool data,
			   const struct ovl_setattr *a, struct located *l)
{
	struct stat lst;
	int r = locate(m, n, l);

	if (r < 0 || n == m->root)
		return r;
	if (l->c.upper && !(data && l->c.metacopy))
		return 0;
	if (!l->c.upper) {
		r = m->lower.ops->getattr(m->lower.data, l->c.lower, &lst);
		if (r < 0)
			return r;
	}
	if (l->c.upper || !S_ISDIR(lst.st_mode)) {
		bool fresh = !l->c.upper;

		r = copy_up_file_located(m, n, data, a, l);
		if (r < 0 || fresh)
			return r; /* a new copy leaves @l located */
	} else {
		r = ensure_upper_dir(m, n);
		if (r < 0)
			return r;
		close(r);
	}
	located_done(l);
	return locate(m, n, l);
}

static int copy_up(struct ovl_merge *m, struct mnode *n, bool data)
{
	struct located l;
	int r = copy_up_located(m, n, data, NULL, &l);

	located_done(&l);
	return r;
}

/* --- namespace changes --- */

/* The gid a new entry gets: the caller's, or a setgid parent's. */
static void new_owner(struct ovl_merge *m, struct mnode *p,
		      const struct ovl_cred *cred, mode_t *mode, gid_t *gid)
{
	struct stat pst;

	*gid = cred->gid;
	if (ovl_merge_getattr_locked(m, p, &pst) == 0 &&
	    (pst.st_mode & S_ISGID)) {
		*gid = pst.st_gid;
		if (S_ISDIR(*mode))
			*mode |= S_ISGID;
	}
}

static int new_entry(struct ovl_merge *m, const struct ovl_cred *cred,
		     uint64_t dir, const char *name, mode_t mode, dev_t rdev,
		     const char *target, int flags, struct stat *ret_st,
		     int *ret_fd)
{
	_cleanup_close_ int pfd = -1;
	_cleanup_close_ int fd = -1;
	struct mnode *p, *n;
	struct child c;
	struct target t;
	bool dacl;
	gid_t gid;
	int r;

	if (!name_ok(name))
		return -ENAMETOOLONG;
	if (name_reserved(name))
		return -EINVAL;
	p = get_node(m, dir);
	if (!p)
		return -ESTALE;
	pfd = upper_dirfd(m, p, O_PATH);
	if (pfd < 0 && pfd != -ENOENT)
		return pfd;
	r = resolve_child(m, p, pfd, name, &c);
	if (r == 0)
		return -EEXIST;
	if (r != -ENOENT)
		return r;
	if (pfd < 0) {
		pfd = ensure_upper_dir(m, p);
		if (pfd < 0)
			return pfd;
	}
	r = ovl_upper_clear_whiteout(pfd, name);
	if (r < 0)
		return r;
	new_owner(m, p, cred, &mode, &gid);
	dacl = ovl_upper_getxattr(pfd, NULL, "system.posix_acl_default", NULL,
				  0) > 0;
	if (!dacl)
		mode &= ~(cred->umask & 0777);
	switch (mode & S_IFMT) {
	case S_IFREG:
		fd = openat(pfd, name,
			    O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | O_NOFOLLOW |
				    (flags & (O_SYNC | O_DSYNC)),
			    disk_mode(m, mode));
		r = fd < 0 ? -errno : 0;
		break;
	case S_IFDIR:
		r = mkdirat(pfd, name, disk_mode(m, mode)) < 0 ? -errno : 0;
		if (r == 0 && c.shadowed) {
			/* a template entry of that name stays hidden */
			r = ovl_upper_setxa(&m->up, pfd, name, OVL_XA_OPAQUE,
					    "y", 1);
			m->gen++;
		}
		break;
	case S_IFLNK:
		r = symlinkat(target, pfd, name) < 0 ? -errno : 0;
		break;
	default:
		if (m->up.privileged)
			/* under a default ACL the kernel derives the mode */
			r = mknodat(pfd, name,
				    (mode & S_IFMT) |
					    (dacl ? (mode & 0777) : 0600),
				    rdev) < 0 ?
				    -errno :
				    0;
		else {
			int tfd = openat(
				pfd, name,
				O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

			r = tfd < 0 ? -errno : 0;
			if (tfd >= 0)
				close(tfd);
		}
	}
	if (r < 0)
		return r;
	target_at(&t, pfd, name);
	if (m->up.privileged) {
		/*
		 * chmod after chown: chown clears set-id bits. Under a default
		 * ACL the permissions the kernel derived stand (the ACL mask is
		 * their group bits), set-id bits added to them.
		 */
		mode_t want = mode & 07777;
		struct stat st;

		if (dacl && !S_ISLNK(mode) && (mode & 06000) &&
		    fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			want = (st.st_mode & 0777) | (mode & 06000);
		if (fchownat(pfd, name, cred->uid, gid, AT_SYMLINK_NOFOLLOW) <
			    0 ||
		    (!S_ISLNK(mode) && (!dacl || (mode & 06000)) &&
		     fchmodat(pfd, name, want, 0) < 0))
			r = -errno;
	} else if (!S_ISLNK(mode)) {
		if (fchmodat(pfd, name, disk_mode(m, mode), 0) < 0)
			r = -errno;
		else
			r = ovl_upper_set_override(&m->up, pfd, name, cred->uid,
						   gid, mode, rdev);
	}
	if (r < 0) {
		unlinkat(pfd, name, S_ISDIR(mode) ? AT_REMOVEDIR : 0);
		return r;
	}
	r = resolve_child(m, p, pfd, name, &c);
	if (r < 0)
		return r;
	n = child_node(m, p, name, &c);
	if (!n)
		return -ENOMEM;
	r = node_stat(m, n, pfd, name, &c, ret_st);
	if (r < 0)
		return r;
	n->nlookup++;
	if (ret_fd)
		*ret_fd = TAKE_FD(fd);
	return 0;
}

int ovl_merge_create(struct ovl_merge *m, const struct ovl_cred *cred,
		     uint64_t dir, const char *name, mode_t mode, int flags,
		     struct stat *ret_st, struct ovl_file **ret)
{
	struct ovl_file *f = calloc(1, sizeof(*f));
	int fd = -1, r;

	if (!f)
		return -ENOMEM;
	pthread_mutex_lock(&m->lock);
	r = new_entry(m, cred, dir, name, S_IFREG | (mode & 07777), 0, NULL,
		      flags, ret_st, &fd);
	pthread_mutex_unlock(&m->lock);
	if (r < 0) {
		free(f);
		return r;
	}
	f->fd = fd;
	f->lower = NO_LOWER;
	f->layer = &m->lower;
	pthread_mutex_lock(&m->lock);
	f->node = get_node(m, ret_st->st_ino);
	if (f->node) {
		f->node->open_count++;
		f->m = m;
	}
	pthread_mutex_unlock(&m->lock);
	*ret = f;
	return 0;
}

void ovl_merge_file_closed(struct ovl_merge *m, struct mnode *n)
{
	pthread_mutex_lock(&m->lock);
	if (n->open_count)
		n->open_count--;
	if (!n->open_count && !n->aliases && n->orphan_fd >= 0) {
		close(n->orphan_fd);
		n->orphan_fd = -1;
	}
	node_maybe_free(m, n);
	pthread_mutex_unlock(&m->lock);
}

int ovl_merge_mknod(struct ovl_merge *m, const struct ovl_cred *cred,
		    uint64_t dir, const char *name, mode_t mode, dev_t rdev,
		    struct stat *ret)
{
	int r;

	pthread_mutex_lock(&m->lock);
	r = new_entry(m, cred, dir, name, mode, rdev, NULL, 0, ret, NULL);
	pthread_mutex_unlock(&m->lock);
	return r;
}

int ovl_merge_mkdir(struct ovl_merge *m, const struct ovl_cred *cred,
		    uint64_t dir, const char *name, mode_t mode,
		    struct stat *ret)
{
	int r;

	pthread_mutex_lock(&m->lock);
	r = new_entry(m, cred, dir, name, S_IFDIR | (mode & 07777), 0, NULL, 0,
		      ret, NULL);
	pthread_mutex_unlock(&m->lock);
	return r;
}

int ovl_merge_symlink(struct ovl_merge *m, const struct ovl_cred *cred,
		      uint64_t dir, const char *name, const char *target,
		      struct stat *ret)
{
	int r;

	pthread_mutex_lock(&m->lock);
	r = new_entry(m, cred, dir, name, S_IFLNK | 0777, 0, target, 0, ret,
		      NULL);
	pthread_mutex_unlock(&m->lock);
	return r;
}

int ovl_merge_link(struct ovl_merge *m, uint64_t ino, uint64_t newdir,
		   const char *newname, struct stat *ret)
{
	_cleanup_close_ int npfd = -1;
	struct mnode *n, *np;
	struct located l;
	struct child c;
	int r;

	if (!name_ok(newname))
		return -ENAMETOOLONG;
	if (name_reserved(newname))
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	n = get_node(m, ino);
	np = get_node(m, newdir);
	if (!n || !np) {
		r = -ESTALE;
		goto out_unlock;
	}
	npfd = upper_dirfd(m, np, O_PATH);
	r = resolve_child(m, np, npfd >= 0 ? npfd : -1, newname, &c);
	if (r == 0) {
		r = -EEXIST;
		goto out_unlock;
	}
	if (r != -ENOENT)
		goto out_unlock;
	r = copy_up(m, n, false);
	if (r < 0)
		goto out_unlock;
	r = locate(m, n, &l);
	if (r < 0)
		goto out_unlock;
	if (S_ISDIR(l.c.ust.st_mode)) {
		located_done(&l);
		r = -EPERM;
		goto out_unlock;
	}
	if (npfd < 0)
		npfd = ensure_upper_dir(m, np);
	if (npfd < 0) {
		located_done(&l);
		r = npfd;
		goto out_unlock;
	}
	r = ovl_upper_clear_whiteout(npfd, newname);
	if (r == 0 && linkat(l.pfd, l.name, npfd, newname, 0) < 0)
		r = -errno;
	located_done(&l);
	if (r < 0)
		goto out_unlock;
	r = alias_add(m, n, np, newname);
	if (r == 0)
		r = ovl_merge_getattr_locked(m, n, ret);
	if (r == 0)
		n->nlookup++;
out_unlock:
	pthread_mutex_unlock(&m->lock);
	return r;
}

static int unlink_hiding(void *arg, int fd, const char *name,
			 unsigned char type)
{
	struct stat st;

	(void)arg;
	(void)type;
	if (name_reserved(name) ||
	    (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	     ovl_upper_is_whiteout(fd, name, &st)))
		return unlinkat(fd, name, 0) < 0 ? -errno : 0;
	return 0;
}

/* Removes every entry of an upper directory that only hides things. */
static int clear_whiteouts(int pfd, const char *name)
{
	return ovl_upper_scan(pfd, name, unlink_hiding, NULL);
}

static int remove_entry(struct ovl_merge *m, uint64_t dir, const char *name,
			bool want_dir)
{
	_cleanup_close_ int pfd = -1;
	_cleanup_close_ int ofd = -1;
	struct mnode *p, *n;
	struct child c;
	struct stat st;
	bool keep_orphan;
	int r;

	if (!name_ok(name))
		return -ENAMETOOLONG;
	p = get_node(m, dir);
	if (!p)
		return -ESTALE;
	pfd = upper_dirfd(m, p, O_PATH);
	if (pfd < 0 && pfd != -ENOENT)
		return pfd;
	r = resolve_child(m, p, pfd >= 0 ? pfd : -1, name, &c);
	if (r < 0)
		return r;
	n = child_node(m, p, name, &c);
	if (!n)
		return -ENOMEM;
	r = node_stat(m, n, pfd >= 0 ? pfd : -1, name, &c, &st);
	if (r < 0)
		return r;
	if (want_dir && !S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (!want_dir && S_ISDIR(st.st_mode))
		return -EISDIR;
	if (want_dir) {
		r = dir_empty(m, n);
		if (r < 0)
			return r;
	} else if (!c.upper && st.st_nlink > 1) {
		/* keep the other names' link count right: one upper inode */
		r = copy_up_file(m, n, false);
		if (r < 0)
			return r;
		close(pfd);
		pfd = upper_dirfd(m, p, O_PATH);
		r = resolve_child(m, p, pfd, name, &c);
		if (r < 0)
			return r;
	}
	/*
	 * Open handles, and fstat of a directory the kernel may still hold
	 * (open, cwd), keep working on it once removed: an O_PATH descriptor
	 * kept (a file only while open: its blocks are freed at once
	 * otherwise, not at the FORGET that comes later).
	 */
	keep_orphan = n->open_count || (want_dir && n->nlookup);
	if (c.upper) {
		if (want_dir) {
			r = clear_whiteouts(pfd, name);
			if (r < 0)
				return r;
		}
		ofd = upper_hold(pfd, name, want_dir && !keep_orphan);
		if (unlinkat(pfd, name, want_dir ? AT_REMOVEDIR : 0) < 0)
			return -errno;
		if (want_dir)
			dirfd_drop(m, n);
		upper_release(m, n, &c.ust, want_dir, ofd);
	}
	if (c.shadowed) {
		if (pfd < 0)
			pfd = ensure_upper_dir(m, p);
		if (pfd < 0)
			return pfd;
		r = ovl_upper_whiteout(&m->up, pfd, name);
		if (r < 0)
			return r;
		m->gen++;
	}
	alias_del(m, n, p, name);
	if (!n->aliases && ofd >= 0 && keep_orphan) {
		if (n->orphan_fd >= 0)
			close(n->orphan_fd);
		n->orphan_fd = TAKE_FD(ofd);
	}
	node_maybe_free(m, n);
	return 0;
}

int ovl_merge_unlink(struct ovl_merge *m, uint64_t dir, const char *name)
{
	int r;

	pthread_mutex_lock(&m->lock);
	r = remove_entry(m, dir, name, false);
	pthread_mutex_unlock(&m->lock);
	return r;
}

int ovl_merge_rmdir(struct ovl_merge *m, uint64_t dir, const char *name)
{
	int r;

	pthread_mutex_lock(&m->lock);
	r = remove_entry(m, dir, name, true);
	pthread_mutex_unlock(&m->lock);
	return r;
}

/*
 * Gets a rename's source ready in the upper directory: a file is copied up;
 * a directory is created there and, if it continues a template directory,
 * told where that is (redirect), since its path will no longer say.
 */
static int prepare_moved(struct ovl_merge *m, struct mnode *n, bool is_dir,
			 bool dst_shadowed)
{
	uint32_t lower;
	bool opaque;
	struct located l;
	struct pbuf b = { 0 };
	char val[PATH_MAX + 2];
	int r, len;

	r = copy_up(m, n, false);
	if (r < 0 || !is_dir)
		return r;
	r = dir_state(m, n, &lower, &opaque);
	if (r < 0)
		return r;
	r = locate(m, n, &l);
	if (r < 0)
		return r;
	if (lower != NO_LOWER) {
		r = lower_dir_path(m, lower, &b);
		len = r == 0 ? snprintf(val, sizeof(val), "/%s", b.s) : 0;
		if (r == 0 && (len < 0 || (size_t)len >= sizeof(val)))
			r = -ENAMETOOLONG;
		if (r == 0)
			r = ovl_upper_setxa(&m->up, l.pfd, l.name,
					    OVL_XA_REDIRECT, val, (size_t)len);
		free(b.s);
	} else if (!opaque && dst_shadowed) {
		r = ovl_upper_setxa(&m->up, l.pfd, l.name, OVL_XA_OPAQUE, "y",
				    1);
	}
	located_done(&l);
	return r;
}

static int do_rename(struct ovl_merge *m, uint64_t dir, const char *name,
		     uint64_t newdir, const char *newname, unsigned flags)
{
	_cleanup_close_ int pfd = -1;
	_cleanup_close_ int npfd = -1;
	_cleanup_close_ int dofd = -1; /* O_PATH to a replaced upper file */
	struct mnode *p, *np, *sn, *dn = NULL;
	struct child sc, dc;
	struct stat sst, dst;
	bool dexists, replaces_upper, group_up;
	int r;

	if (!name_ok(newname) || !name_ok(name))
		return -ENAMETOOLONG;
	if (name_reserved(newname))
		return -EINVAL;
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	p = get_node(m, dir);
	np = get_node(m, newdir);
	if (!p || !np)
		return -ESTALE;
	pfd = upper_dirfd(m, p, O_PATH);
	r = resolve_child(m, p, pfd >= 0 ? pfd : -1, name, &sc);
	if (r < 0)
		return r;
	sn = child_node(m, p, name, &sc);
	if (!sn)
		return -ENOMEM;
	r = node_stat(m, sn, pfd >= 0 ? pfd : -1, name, &sc, &sst);
	if (r < 0)
		return r;
	npfd = upper_dirfd(m, np, O_PATH);
	r = resolve_child(m, np, npfd >= 0 ? npfd : -1, newname, &dc);
	if (r < 0 && r != -ENOENT)
		return r;
	dexists = r == 0;
	if (dexists) {
		dn = child_node(m, np, newname, &dc);
		if (!dn)
			return -ENOMEM;
		r = node_stat(m, dn, npfd >= 0 ? npfd : -1, newname, &dc, &dst);
		if (r < 0)
			return r;
	}
	if ((flags & RENAME_NOREPLACE) && dexists)
		return -EEXIST;
	if ((flags & RENAME_EXCHANGE) && !dexists)
		return -ENOENT;
	if (dn == sn)
		return 0; /* one inode under both names: nothing to do */
	if (dexists && !(flags & RENAME_EXCHANGE)) {
		if (S_ISDIR(sst.st_mode) && !S_ISDIR(dst.st_mode))
			return -ENOTDIR;
		if (!S_ISDIR(sst.st_mode) && S_ISDIR(dst.st_mode))
			return -EISDIR;
		if (S_ISDIR(dst.st_mode)) {
			r = dir_empty(m, dn);
			if (r < 0)
				return r;
		}
	}
	r = prepare_moved(m, sn, S_ISDIR(sst.st_mode), dc.shadowed);
	if (r < 0)
		return r;
	if (flags & RENAME_EXCHANGE) {
		r = prepare_moved(m, dn, S_ISDIR(dst.st_mode), sc.shadowed);
		if (r < 0)
			return r;
	}
	/*
	 * A template file with other names is replaced: as for an unlink,
	 * its group becomes one upper inode first, so that the names left
	 * count one link less.
	 */
	group_up = dexists && !dc.upper && !(flags & RENAME_EXCHANGE) &&
		   !S_ISDIR(dst.st_mode) && dst.st_nlink > 1;
	if (group_up) {
		r = copy_up_file(m, dn, false);
		if (r < 0)
			return r;
	}
	if (pfd >= 0)
		close(pfd);
	pfd = upper_dirfd(m, p, O_PATH);
	if (npfd >= 0)
		close(npfd);
	npfd = ensure_upper_dir(m, np);
	if (pfd < 0 || npfd < 0)
		return pfd < 0 ? pfd : npfd;
	if (group_up) {
		r = resolve_child(m, np, npfd, newname, &dc);
		if (r < 0)
			return r;
	}
	if (!(flags & RENAME_EXCHANGE)) {
		r = ovl_upper_clear_whiteout(npfd, newname);
		if (r == 0 && dexists && dc.upper && S_ISDIR(dst.st_mode))
			r = clear_whiteouts(npfd, newname);
		if (r < 0)
			return r;
	}
	replaces_upper = dexists && dc.upper && !(flags & RENAME_EXCHANGE);
	if (replaces_upper)
		dofd = upper_hold(npfd, newname, S_ISDIR(dst.st_mode));
	if (renameat2(pfd, name, npfd, newname,
		      flags & (RENAME_EXCHANGE | RENAME_NOREPLACE)) < 0)
		return -errno;
	if (replaces_upper)
		upper_release(m, dn, &dc.ust, S_ISDIR(dst.st_mode), dofd);
	if (!(flags & RENAME_EXCHANGE) && sc.shadowed) {
		r = ovl_upper_whiteout(&m->up, pfd, name);
		if (r < 0)
			return r;
	}
	if (flags & RENAME_EXCHANGE) {
		alias_del(m, sn, p, name);
		alias_del(m, dn, np, newname);
		alias_add(m, sn, np, newname);
		alias_add(m, dn, p, name);
	} else {
		if (dexists)
			aliases_drop(m, np, newname);
		aliases_move(m, p, name, np, newname);
		node_maybe_free(m, dn);
	}
	m->gen++;
	return 0;
}

int ovl_merge_rename(struct ovl_merge *m, uint64_t dir, const char *name,
		     uint64_t newdir, const char *newname, unsigned flags)
{
	int r;

	pthread_mutex_lock(&m->lock);
	r = do_rename(m, dir, name, newdir, newname, flags);
	pthread_mutex_unlock(&m->lock);
	return r;
}

/* (dirfd, name) of an upper node for metadata calls (@data: see copy_up). */
static int upper_target(struct ovl_merge *m, struct mnode *n, bool data,
			const struct ovl_setattr *a, struct located *l,
			struct target *t)
{
	int r = copy_up_located(m, n, data, a, l);

	if (r < 0) {
		located_done(l);
		return r;
	}
	if (n == m->root)
		target_fd(t, m->up.root_fd);
	else if (l->ofd >= 0)
		target_fd(t, l->ofd);
	else
		target_at(t, l->pfd, l->name);
	return 0;
}

/*
 * Owner and mode of @a onto the upper object @t, whose attributes as the
 * view shows them are @cur (type, and owner and mode for an ordinary
 * user's mount, which keeps them in the override xattr).
 */
static int set_owner_mode(struct ovl_merge *m, const struct target *t,
			  const struct ovl_setattr *a, struct stat *cur)
{
	bool chown = a->valid & (OVL_SET_UID | OVL_SET_GID);
	bool chmod = (a->valid & OVL_SET_MODE) && !S_ISLNK(cur->st_mode);

	if (m->up.privileged) {
		/* the upper filesystem clears the set-id bits itself */
		if (chown &&
		    fchownat(t->dirfd, t->name,
			     a->valid & OVL_SET_UID ? a->uid : (uid_t)-1,
			     a->valid & OVL_SET_GID ? a->gid : (gid_t)-1,
			     t->nofollow) < 0)
			return -errno;
		if (chmod &&
		    fchmodat(t->dirfd, t->name, a->mode & 07777, 0) < 0)
			return -errno;
		return 0;
	}
	owner_mode_change(a, cur);
	if (chmod &&
	    fchmodat(t->dirfd, t->name, disk_mode(m, cur->st_mode), 0) < 0)
		return -errno;
	if (!chown && !chmod)
		return 0;
	return ovl_upper_set_override(&m->up, xa_dirfd(t, m->up.root_fd),
				      t->dirfd == AT_FDCWD ? NULL : t->name,
				      cur->st_uid, cur->st_gid, cur->st_mode,
				      cur->st_rdev);
}

int ovl_merge_setattr(struct ovl_merge *m, uint64_t ino,
		      const struct ovl_setattr *a, struct ovl_file *f,
		      struct stat *ret)
{
	const unsigned times = OVL_SET_ATIME | OVL_SET_MTIME |
			       OVL_SET_ATIME_NOW | OVL_SET_MTIME_NOW;
	const unsigned later = OVL_SET_SIZE | times;
	struct located l = { .pfd = -1 };
	struct target t;
	struct stat cur;
	struct mnode *n;
	int r;

	pthread_mutex_lock(&m->lock);
	n = get_node(m, ino);
	if (!n) {
		r = -ESTALE;
		goto out_unlock;
	}
	if (!(a->valid & ~(unsigned)OVL_SET_CTIME)) {
		/* ctime alone (the kernel's writeback): nothing to store */
		r = ovl_merge_getattr_locked(m, n, ret);
		goto out_unlock;
	}
	/* a template entry's first change: its copy carries owner and mode */
	r = upper_target(m, n, a->valid & OVL_SET_SIZE, a, &l, &t);
	if (r < 0)
		goto out_unlock;
	if (l.fresh && !(a->valid & later)) {
		r = stat_located(m, n, &l, ret);
		goto out_done;
	}
	if (!l.fresh &&
	    (a->valid & (OVL_SET_UID | OVL_SET_GID | OVL_SET_MODE))) {
		if (m->up.privileged)
			cur = l.c.ust; /* its type is all that is used */
		else
			r = stat_located(m, n, &l, &cur);
		if (r == 0)
			r = set_owner_mode(m, &t, a, &cur);
	}
	if (r == 0 && (a->valid & OVL_SET_SIZE)) {
		if (f && f->fd >= 0) {
			if (ftruncate(f->fd, a->size) < 0)
				r = -errno;
		} else {
			int fd = openat(t.dirfd, t.name,
					O_WRONLY | O_NOFOLLOW | O_CLOEXEC);

			if (fd < 0 || ftruncate(fd, a->size) < 0)
				r = -errno;
			if (fd >= 0)
				close(fd);
		}
	}
	if (r == 0 && (a->valid & times)) {
		struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT },
					  { .tv_nsec = UTIME_OMIT } };

		if (a->valid & OVL_SET_ATIME_NOW)
			ts[0].tv_nsec = UTIME_NOW;
		else if (a->valid & OVL_SET_ATIME)
			ts[0] = a->atime;
		if (a->valid & OVL_SET_MTIME_NOW)
			ts[1].tv_nsec = UTIME_NOW;
		else if (a->valid & OVL_SET_MTIME)
			ts[1] = a->mtime;
		if (utimensat(t.dirfd, t.name, ts, t.nofollow) < 0)
			r = -errno;
	}
	if (r == 0)
		r = restat_located(m, n, &l, ret);
out_done:
	located_done(&l);
out_unlock:
	pthread_mutex_unlock(&m->lock);
	return r;
}

int ovl_merge_setxattr(struct ovl_merge *m, uint64_t ino, const char *name,
		       const void *value, size_t size, int flags)
{
	struct located l = { .pfd = -1 };
	struct target t;
	struct mnode *n;
	int r;

	pthread_mutex_lock(&m->lock);
	n = get_node(m, ino);
	r = n ? upper_target(m, n, false, NULL, &l, &t) : -ESTALE;
	if (r == 0) {
		r = ovl_upper_setxattr(xa_dirfd(&t, m->up.root_fd),
				       t.dirfd == AT_FDCWD ? NULL : t.name,
				       name, value, size, flags);
		located_done(&l);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

int ovl_merge_removexattr(struct ovl_merge *m, uint64_t ino, const char *name)
{
	struct located l = { .pfd = -1 };
	struct target t;
	struct mnode *n;
	int r;

	pthread_mutex_lock(&m->lock);
	n = get_node(m, ino);
	r = n ? upper_target(m, n, false, NULL, &l, &t) : -ESTALE;
	if (r == 0) {
		r = ovl_upper_removexattr(xa_dirfd(&t, m->up.root_fd),
					  t.dirfd == AT_FDCWD ? NULL : t.name,
					  name);
		located_done(&l);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

int ovl_merge_fsyncdir(struct ovl_merge *m, uint64_t ino, int datasync)
{
	struct mnode *n;
	int fd, r = 0;

	pthread_mutex_lock(&m->lock);
	n = get_node(m, ino);
	fd = n ? upper_dirfd(m, n, O_RDONLY) : -ESTALE;
	pthread_mutex_unlock(&m->lock);
	if (fd == -ENOENT)
		return 0; /* nothing of it in the upper directory */
	if (fd < 0)
		return fd;
	if ((datasync ? fdatasync(fd) : fsync(fd)) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* --- open files --- */

int ovl_merge_open(struct ovl_merge *m, uint64_t ino, int flags,
		   struct ovl_file **ret)
{
	bool write = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
	struct ovl_file *f = calloc(1, sizeof(*f));
	struct located l;
	struct mnode *n;
	int r;

	if (!f)
		return -ENOMEM;
	f->fd = -1;
	f->lower = NO_LOWER;
	f->layer = &m->lower;
	pthread_mutex_lock(&m->lock);
	n = get_node(m, ino);
	r = n ? 0 : -ESTALE;
	if (r == 0 && write)
		r = copy_up(m, n, true);
	if (r == 0)
		r = locate(m, n, &l);
	if (r == 0) {
		if (l.c.upper && !l.c.metacopy) {
			/* write-only handles may be read (writeback cache) */
			int fl = (flags &
				  (O_TRUNC | O_SYNC | O_DSYNC | O_NOATIME)) |
				 ((flags & O_ACCMODE) == O_RDONLY ? O_RDONLY :
								    O_RDWR);

			f->fd = open_upper_file(&l, fl);
			if (f->fd == -EPERM && (fl & O_NOATIME))
				f->fd = open_upper_file(&l, fl & ~O_NOATIME);
			r = f->fd < 0 ? f->fd : 0;
		} else {
			f->lower = l.c.lower;
		}
		located_done(&l);
	}
	if (r == 0) {
		n->open_count++;
		f->m = m;
		f->node = n;
	}
	pthread_mutex_unlock(&m->lock);
	if (r < 0) {
		free(f);
		return r;
	}
	*ret = f;
	return 0;
}
