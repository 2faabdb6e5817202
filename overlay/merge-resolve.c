// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The writable view (see merge.c): what a name or a node stands for in
 * the merged tree.
 */
#include "overlay/merge-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/strv.h"

/* --- resolution --- */

int64_t mg_lower_lookup(struct ovl_merge *m, uint32_t dir, const char *name)
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
uint32_t mg_lower_abs(struct ovl_merge *m, const char *path)
{
	_cleanup_free_ char *copy = strdup(path);
	uint32_t id = OVL_LAYER_ROOT;
	char *save = NULL;

	if (!copy)
		return NO_LOWER;
	for (char *c = strtok_r(copy, "/", &save); c;
	     c = strtok_r(NULL, "/", &save)) {
		int64_t k = mg_lower_lookup(m, id, c);

		if (k < 0)
			return NO_LOWER;
		id = (uint32_t)k;
	}
	return id;
}

/* Absolute template path of a template directory id. */
int mg_lower_dir_path(struct ovl_merge *m, uint32_t id, struct pbuf *b)
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
	r = mg_lower_dir_path(m, parent, b);
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
			return mg_pb_add(b, name, len);
	}
	return -ENOENT;
}

/* Resolves @name in directory node @p. @pfd: @p's upper dir or -1. */
int mg_resolve_child(struct ovl_merge *m, struct mnode *p, int pfd,
		     const char *name, struct child *c)
{
	uint32_t plower;
	bool popaque, user;
	int64_t k;
	int r;

	memset(c, 0, sizeof(*c));
	c->lower = NO_LOWER;
	r = mg_dir_state(m, p, &plower, &popaque);
	if (r < 0)
		return r;
	k = popaque ? -ENOENT : mg_lower_lookup(m, plower, name);
	c->shadowed = k >= 0;
	if (pfd >= 0) {
		if (fstatat(pfd, name, &c->ust, AT_SYMLINK_NOFOLLOW) == 0) {
			if (ovl_upper_is_whiteout(&m->up, pfd, name, &c->ust))
				return -ENOENT;
			c->upper = true;
		} else if (errno != ENOENT) {
			return -errno;
		} else if (ovl_upper_is_whiteout(&m->up, pfd, name, NULL)) {
			return -ENOENT;
		}
	}
	if (!c->upper) {
		if (k < 0)
			return -ENOENT;
		c->lower = (uint32_t)k;
		return 0;
	}
	user = ovl_upper_user_ok(&m->up, &c->ust);
	c->xa = ovl_upper_xa_present(pfd, name, user);
	if (S_ISDIR(c->ust.st_mode)) {
		char buf[PATH_MAX];
		ssize_t n = c->xa & (1u << OVL_XA_REDIRECT) ?
				    ovl_upper_getxa(pfd, name, OVL_XA_REDIRECT,
						    user, buf,
						    sizeof(buf) - 1) :
				    -ENODATA;

		if (n > 0) {
			buf[n] = '\0';
			c->lower = mg_lower_abs(m, buf);
		} else if ((c->xa & (1u << OVL_XA_OPAQUE)) &&
			   ovl_upper_getxa(pfd, name, OVL_XA_OPAQUE, user, buf,
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
		ssize_t n = ovl_upper_getxa(pfd, name, OVL_XA_ORIGIN, user, buf,
					    sizeof(buf) - 1);

		if (n > 0) {
			buf[n] = '\0';
			c->lower = mg_lower_abs(m, buf);
			c->metacopy =
				S_ISREG(c->ust.st_mode) &&
				c->lower != NO_LOWER &&
				(c->xa & (1u << OVL_XA_METACOPY)) &&
				(c->xa != OVL_XA_ALL ||
				 ovl_upper_getxa(pfd, name, OVL_XA_METACOPY,
						 user, buf, sizeof(buf)) >= 0);
		}
	}
	return 0;
}

/* Opens the upper directory of node @n (O_PATH), or -ENOENT if none. */
#define MAX_CACHED_FDS 4096

/* Drops a node's cached directory fd (its upper directory went away). */
void mg_dirfd_drop(struct ovl_merge *m, struct mnode *n)
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
void mg_node_maybe_free(struct ovl_merge *m, struct mnode *n)
{
	struct mnode **px;

	if (!n || n == m->root || n->nlookup || n->aliases || n->nchild ||
	    n->open_count || n->has_ukey)
		return;
	for (px = &m->ino_tab[mg_h_ino(m, n->ino)]; *px; px = &(*px)->next_ino)
		if (*px == n) {
			*px = n->next_ino;
			break;
		}
	/* by_lower holds a template node under the id its number came from */
	if (n->ino - 1 < m->lower.nodes && m->by_lower[n->ino - 1] == n)
		m->by_lower[n->ino - 1] = NULL;
	mg_dirfd_drop(m, n);
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
int mg_upper_dirfd(struct ovl_merge *m, struct mnode *n, int flags)
{
	struct pbuf b = { 0 };
	int r;

	if (flags == O_PATH && n->dir_fd >= 0) {
		if (n->dir_fd_gen == m->gen) {
			r = fcntl(n->dir_fd, F_DUPFD_CLOEXEC, 3);
			return r < 0 ? -errno : r;
		}
		mg_dirfd_drop(m, n);
	}
	r = mg_node_path(n, &b);
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

int mg_dir_state(struct ovl_merge *m, struct mnode *n, uint32_t *ret_lower,
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
		pfd = mg_upper_dirfd(m, n->aliases->parent, O_PATH);
		r = mg_resolve_child(m, n->aliases->parent, pfd,
				     n->aliases->name, &c);
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
 * mg_upper_appears() or m->gen moves on.
 */
static void absent_seen(struct ovl_merge *m, struct mnode *n, uint32_t lower)
{
	n->absent_gen = m->gen;
	n->absent_at = n->aliases;
	n->absent_lower = lower;
}

/* A template entry with nothing of it in the upper directory. */
void mg_template_child(struct child *c, uint32_t lower)
{
	memset(c, 0, sizeof(*c));
	c->lower = lower;
	c->shadowed = true;
}

/*
 * The inode number of an entry only the overlay has: from its upper
 * file's, so that it is the same in every mount (as the template's are),
 * unless that one is too large or a node still holds it (the upper
 * filesystem reused the number of a file the kernel has not forgotten):
 * then the next of this mount's own.
 */
static uint64_t upper_only_ino(struct ovl_merge *m, const struct child *c)
{
	uint64_t ino = MG_UPPER_INO_BASE + (uint64_t)c->ust.st_ino;

	if (c->upper && (uint64_t)c->ust.st_ino < MG_UPPER_INO_SPAN &&
	    !mg_find_ino(m, ino))
		return ino;
	return m->next_ino++;
}

/* The node for a resolved child, created on first sight. */
struct mnode *mg_child_node(struct ovl_merge *m, struct mnode *p,
			    const char *name, const struct child *c)
{
	struct mnode *n = NULL;

	if (c->upper)
		n = mg_find_ukey(m, c->ust.st_dev, c->ust.st_ino);
	if (!n && c->lower != NO_LOWER)
		n = m->by_lower[c->lower];
	if (!n) {
		uint64_t ino = c->lower != NO_LOWER ? (uint64_t)c->lower + 1 :
						      upper_only_ino(m, c);

		n = mg_node_new(m, ino, c->lower);
		if (!n)
			return NULL;
	}
	if (c->upper)
		mg_node_set_ukey(m, n, &c->ust);
	if (mg_alias_add(m, n, p, name) < 0)
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

int mg_str_cmp(const void *a, const void *b)
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
	if (mg_name_reserved(name))
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
			qsort(ul.v, ul.cnt, sizeof(*ul.v), mg_str_cmp);
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
			if (cnt && bsearch(&name, names, cnt, sizeof(*names),
					   mg_str_cmp))
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
int mg_node_stat(struct ovl_merge *m, struct mnode *n, int pfd,
		 const char *name, const struct child *c, struct stat *ret)
{
	int r;

	if (c->upper) {
		*ret = c->ust;
		if (c->xa & (1u << OVL_XA_OVERRIDE))
			ovl_upper_apply_override(&m->up, pfd, name, ret);
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

void mg_located_done(struct located *l)
{
	if (l->pfd >= 0)
		close(l->pfd);
	l->pfd = -1;
}

int mg_locate(struct ovl_merge *m, struct mnode *n, struct located *l)
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
		mg_template_child(&l->c, n->absent_lower);
		return 0;
	}
	r = mg_upper_dirfd(m, n->aliases->parent, O_PATH);
	if (r < 0 && r != -ENOENT)
		return r;
	l->pfd = r < 0 ? -1 : r;
	r = mg_resolve_child(m, n->aliases->parent, l->pfd, l->name, &l->c);
	if (r < 0) {
		mg_located_done(l);
		return r;
	}
	if (!l->c.upper)
		absent_seen(m, n, l->c.lower);
	return 0;
}

int mg_stat_located(struct ovl_merge *m, struct mnode *n, struct located *l,
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
		ovl_upper_apply_override(&m->up, l->ofd, NULL, ret);
		ret->st_ino = n->ino;
		return 0;
	}
	if (n == m->root) {
		/* The upper root carries the root's metadata (see adopt_root). */
		*ret = l->c.ust;
		ovl_upper_apply_override(&m->up, m->up.root_fd, NULL, ret);
		ret->st_nlink = dir_nlink(m, n, m->up.root_fd, NULL,
					  OVL_LAYER_ROOT, false, &l->c.ust);
		ret->st_ino = OVL_ROOT_INO;
		return 0;
	}
	return mg_node_stat(m, n, l->pfd, l->name, &l->c, ret);
}

/*
 * mg_stat_located() after a change made through @l: the entry stat'ed again,
 * its private xattrs as located (a change of ownership or mode by an
 * ordinary user may just have added its override).
 */
int mg_restat_located(struct ovl_merge *m, struct mnode *n, struct located *l,
		      struct stat *ret)
{
	int r;

	if (!l->c.upper)
		return mg_stat_located(m, n, l, ret);
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
	return mg_stat_located(m, n, l, ret);
}
