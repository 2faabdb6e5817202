// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The writable view (see merge.c): paths, names, and the tables of nodes
 * and of their names.
 */
#include "overlay/merge-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/hash.h"

/* --- small helpers --- */

int mg_pb_add(struct pbuf *b, const char *part, size_t len)
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

bool mg_name_ok(const char *name)
{
	return strlen(name) <= 255;
}

bool mg_name_reserved(const char *name)
{
	return !strncmp(name, OVL_WH_PREFIX, strlen(OVL_WH_PREFIX));
}

/* Path of a node in the view (first alias chain), "" for the root. */
int mg_node_path(struct mnode *n, struct pbuf *b)
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
	r = mg_node_path(n->aliases->parent, b);
	if (r < 0)
		return r;
	return mg_pb_add(b, n->aliases->name, strlen(n->aliases->name));
}

/* --- node tables --- */

size_t mg_h_ino(const struct ovl_merge *m, uint64_t ino)
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
			size_t h = mg_h_ino(m, x->ino);

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

struct mnode *mg_find_ino(const struct ovl_merge *m, uint64_t ino)
{
	for (struct mnode *x = m->ino_tab[mg_h_ino(m, ino)]; x; x = x->next_ino)
		if (x->ino == ino)
			return x;
	return NULL;
}

struct mnode *mg_find_ukey(const struct ovl_merge *m, dev_t dev, ino_t ino)
{
	for (struct mnode *x = m->ukey_tab[h_ukey(m, dev, ino)]; x;
	     x = x->next_ukey)
		if (x->udev == dev && x->uino == ino)
			return x;
	return NULL;
}

struct mnode *mg_node_new(struct ovl_merge *m, uint64_t ino, uint32_t lower)
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
	n->next_ino = m->ino_tab[mg_h_ino(m, ino)];
	m->ino_tab[mg_h_ino(m, ino)] = n;
	m->nnodes++;
	if (lower != NO_LOWER && !m->by_lower[lower])
		m->by_lower[lower] = n;
	return n;
}

void mg_node_set_ukey(struct ovl_merge *m, struct mnode *n,
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
int mg_upper_hold(int pfd, const char *name, bool skip)
{
	return skip ? -1 : openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
}

/*
 * After: @n, whose upper inode (@ust) was that entry, gives up its key if
 * the inode is gone: a directory always, a file when @held shows no link.
 */
void mg_upper_release(struct ovl_merge *m, struct mnode *n,
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

int mg_alias_add(struct ovl_merge *m, struct mnode *n, struct mnode *parent,
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

void mg_alias_del(struct ovl_merge *m, struct mnode *n, struct mnode *parent,
		  const char *name)
{
	struct alias *a = alias_find(m, n, parent, name);

	if (a)
		alias_free(m, a);
}

/* Every node reachable as (parent, name) loses that name. */
void mg_aliases_drop(struct ovl_merge *m, struct mnode *parent,
		     const char *name)
{
	struct alias *a;

	while ((a = alias_find(m, NULL, parent, name)))
		alias_free(m, a);
}

/* Every node reachable as (parent, name) is reachable as (newparent, newname) instead. */
void mg_aliases_move(struct ovl_merge *m, struct mnode *parent,
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
