// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The writable view (see merge.c): copying template entries up into the
 * upper directory.
 */
#include "overlay/merge-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/array.h"
#include "common/cleanup.h"
#include "common/io.h"

/* --- copy-up --- */

/* The xattr helpers take (dirfd, name) with name NULL for "the fd". */
int mg_xa_dirfd(const struct target *t, int fd)
{
	return t->dirfd == AT_FDCWD ? fd : t->dirfd;
}

mode_t mg_disk_mode(const struct ovl_merge *m, mode_t mode)
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
void mg_owner_mode_change(const struct ovl_setattr *a, struct stat *st)
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
	mode_t want = mg_disk_mode(m, st->st_mode);
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

/* Owner and mode of @st onto the upper object @t (@fd as in mg_apply_meta). */
static int owner_mode_at(struct ovl_merge *m, const struct target *t, int fd,
			 const struct stat *st)
{
	if (t->root) {
		/* the overlay directory stays its owner's alone (adopt_root) */
		if (fchmodat(t->dirfd, t->name, 0700, 0) < 0)
			return -errno;
		return ovl_upper_set_override(&m->up, mg_xa_dirfd(t, fd), NULL,
					      st->st_uid, st->st_gid,
					      st->st_mode, 0);
	}
	if (m->up.privileged) {
		if (fchownat(t->dirfd, t->name, st->st_uid, st->st_gid,
			     t->nofollow) < 0)
			return -errno;
		if (!S_ISLNK(st->st_mode) &&
		    fchmodat(t->dirfd, t->name, st->st_mode & 07777, 0) < 0)
			return -errno;
	} else {
		if (!S_ISLNK(st->st_mode) &&
		    fchmodat(t->dirfd, t->name, mg_disk_mode(m, st->st_mode),
			     0) < 0)
			return -errno;
		if (!S_ISLNK(st->st_mode))
			ovl_upper_set_override(&m->up, mg_xa_dirfd(t, fd),
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
int mg_apply_meta(struct ovl_merge *m, const struct target *t, int fd,
		  const struct stat *st, uint32_t lower)
{
	const char *xname = t->dirfd == AT_FDCWD ? NULL : t->name;
	int xfd = mg_xa_dirfd(t, fd);
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
	if (acl && m->up.privileged && !t->root &&
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
void mg_upper_appears(struct ovl_merge *m, struct mnode *n)
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
int mg_ensure_upper_dir(struct ovl_merge *m, struct mnode *dir)
{
	struct saved_times pt;
	struct stat lst;
	struct target t;
	uint32_t lower;
	bool opaque;
	int pfd, fd, r;

	fd = mg_upper_dirfd(m, dir, O_PATH);
	if (fd != -ENOENT)
		return fd;
	if (dir == m->root || !dir->aliases)
		return -ENOENT;
	r = mg_dir_state(m, dir, &lower, &opaque);
	if (r < 0)
		return r;
	if (lower == NO_LOWER)
		return -ENOENT;
	r = m->lower.ops->getattr(m->lower.data, lower, &lst);
	if (r < 0)
		return r;
	pfd = mg_ensure_upper_dir(m, dir->aliases->parent);
	if (pfd < 0)
		return pfd;
	times_save(pfd, &pt);
	mg_upper_appears(m, dir);
	if (mkdirat(pfd, dir->aliases->name, 0700) < 0) {
		r = -errno;
		close(pfd);
		return r;
	}
	mg_target_at(&t, pfd, dir->aliases->name);
	r = mg_apply_meta(m, &t, -1, &lst, lower);
	if (r == 0) {
		fd = openat(pfd, dir->aliases->name,
			    O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		r = fd < 0 ? -errno : 0;
	}
	if (r == 0) {
		struct stat ust;

		if (fstatat(fd, "", &ust, AT_EMPTY_PATH) == 0)
			mg_node_set_ukey(m, dir, &ust);
	}
	times_restore(pfd, &pt);
	close(pfd);
	return r < 0 ? r : fd;
}

/*
 * The first @len bytes of template file @lower into @dst, which then gets
 * the length @size.
 */
static int copy_data(struct ovl_merge *m, uint32_t lower, uint64_t len_all,
		     uint64_t size, int dst)
{
	_cleanup_free_ char *buf = NULL;
	bool by_range = true; /* until copy_file_range() says it cannot */
	uint64_t off = 0;

	while (off < len_all) {
		uint64_t pos, len;
		int sfd, r;

		r = m->lower.ops->map(m->lower.data, lower, off, &sfd, &pos,
				      &len);
		if (r < 0)
			return r;
		if (len > len_all - off)
			len = len_all - off;
		if (sfd >= 0) {
			loff_t in = (loff_t)pos, out = (loff_t)off;
			uint64_t left = len;

			while (left) {
				ssize_t n = 0;

				if (by_range)
					n = copy_file_range(sfd, &in, dst, &out,
							    left, 0);
				if (n < 0 && errno != EXDEV &&
				    errno != EINVAL && errno != EOPNOTSUPP &&
				    errno != ENOSYS)
					return -errno; /* ENOSPC, EIO, ... */
				if (n < 0)
					by_range = false; /* another fs */
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
					r = dm_pwrite_all(dst, buf, (size_t)n,
							  (uint64_t)out);
					if (r < 0)
						return r;
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

/*
 * How much of a template file's data (@lst) a copy-up with the change @a
 * (or NULL) keeps: none of what a truncate to a smaller size cuts off
 * (an open with O_TRUNC, a truncate) is copied.
 */
static uint64_t data_kept(const struct ovl_setattr *a, const struct stat *lst)
{
	if (a && (a->valid & OVL_SET_SIZE) && a->size < lst->st_size)
		return (uint64_t)a->size;
	return (uint64_t)lst->st_size;
}

/* The size the copy of @lst gets with the change @a (or NULL). */
static off_t size_after(const struct ovl_setattr *a, const struct stat *lst)
{
	return a && (a->valid & OVL_SET_SIZE) ? a->size : lst->st_size;
}

/* Origin of a template file reached as @name in dir node @p: "/path". */
static int origin_of(struct ovl_merge *m, struct mnode *p, const char *name,
		     struct pbuf *b)
{
	uint32_t plower;
	bool popaque;
	int r = mg_dir_state(m, p, &plower, &popaque);

	if (r == 0)
		r = mg_lower_dir_path(m, plower, b);
	if (r == 0)
		r = mg_pb_add(b, name, strlen(name));
	return r;
}

/* A new unnamed file in @pfd's directory for a copy of @lst. */
static int copy_tmpfile(struct ovl_merge *m, int pfd, const struct stat *lst)
{
	/* created with its final mode: mg_apply_meta() then has less to
	   change (the name appears only once it is complete) */
	int fd = openat(pfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC,
			mg_disk_mode(m, lst->st_mode));

	return fd < 0 ? -errno : fd;
}

/*
 * Creates the upper copy of a template non-directory at (pfd, name), a
 * regular file with its size in @lst and, with @data, the first @keep
 * bytes of the template's data. *@filled, if not -1: an unnamed file with
 * that data already in it (copy_ahead()), which this takes over.
 */
static int copy_up_one(struct ovl_merge *m, int pfd, const char *name,
		       uint32_t lower, const struct stat *lst, uint64_t keep,
		       const char *origin, bool data, int *filled)
{
	struct target t;
	char originv[PATH_MAX + 2];
	int n = snprintf(originv, sizeof(originv), "/%s", origin);
	int r = 0;

	if (n < 0 || (size_t)n >= sizeof(originv))
		return -ENAMETOOLONG;
	if (S_ISREG(lst->st_mode)) {
		_cleanup_close_ int tfd = -1;

		if (data && *filled >= 0) {
			tfd = *filled;
			*filled = -1;
		} else {
			tfd = copy_tmpfile(m, pfd, lst);
			if (tfd < 0)
				return tfd;
			if (data)
				r = copy_data(m, lower, keep,
					      (uint64_t)lst->st_size, tfd);
			else if (ftruncate(tfd, lst->st_size) < 0)
				r = -errno;
		}
		mg_target_fd(&t, tfd);
		if (r == 0)
			r = mg_apply_meta(m, &t, tfd, lst, lower);
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
	mg_target_at(&t, pfd, name);
	r = mg_apply_meta(m, &t, -1, lst, lower);
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
		id = mg_lower_abs(m, copy);
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
		int pfd = mg_upper_dirfd(m, cur, O_PATH);

		if (pfd < 0 && pfd != -ENOENT)
			return pfd;
		r = mg_resolve_child(m, cur, pfd >= 0 ? pfd : -1, c, &ch);
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
		cur = mg_child_node(m, cur, c, &ch);
		if (!cur)
			return -ENOMEM;
		c = next;
	}
	return -EINVAL;
}

/*
 * Brings a metacopy file's data in: written into the upper inode itself
 * (its hardlinks stay one file), times kept, and the metacopy mark removed
 * last, so an interruption leaves the old, complete view. @a (or NULL):
 * the change that follows (what a truncate cuts off is not copied).
 */
static int fill_metacopy(struct ovl_merge *m, struct located *l,
			 const struct ovl_setattr *a)
{
	struct stat st;
	_cleanup_close_ int fd = mg_open_upper_file(l, O_WRONLY);
	struct timespec ts[2];
	int r;

	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0)
		return -errno;
	r = copy_data(m, l->c.lower, data_kept(a, &st),
		      (uint64_t)size_after(a, &st), fd);
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
				const struct ovl_setattr *a, struct located *l,
				int *filled)
{
	struct saved_times pt;
	struct pbuf origin = { 0 };
	_cleanup_free_ char *first = NULL;
	struct stat lst, ust;
	uint32_t lower = l->c.lower;
	uint64_t keep;
	int pfd, r;

	if (l->c.upper)
		return data && l->c.metacopy ? fill_metacopy(m, l, a) : 0;
	if (!n->aliases)
		return -ESTALE; /* a template file unlinked: nowhere to go */
	r = m->lower.ops->getattr(m->lower.data, lower, &lst);
	if (r < 0)
		return r;
	keep = (uint64_t)lst.st_size;
	/* regular files only: what else an ordinary user's mount cannot
	   always record goes the way of a separate change, and fails so */
	if (a && S_ISREG(lst.st_mode)) {
		mg_owner_mode_change(a, &lst);
		keep = data_kept(a, &lst);
		lst.st_size = size_after(a, &lst);
	} else {
		a = NULL;
	}
	r = origin_of(m, n->aliases->parent, n->aliases->name, &origin);
	if (r < 0)
		goto out_free;
	/* the parent as located, else made (with its own parents) */
	pfd = l->pfd >= 0 ? l->pfd : mg_ensure_upper_dir(m, n->aliases->parent);
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
	mg_upper_appears(m, n);
	r = copy_up_one(m, pfd, first, lower, &lst, keep, origin.s, data,
			filled);
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
		gfd = mg_ensure_upper_dir(m, gp);
		if (gfd >= 0) {
			struct saved_times gt;

			times_save(gfd, &gt);
			if (linkat(pfd, first, gfd, gname, 0) < 0)
				r = -errno;
			times_restore(gfd, &gt);
			close(gfd);
		}
		if (r == 0)
			mg_alias_add(m, n, gp, gname);
		free(gname);
	}
	/*
	 * @l as a new mg_locate() would find it: the entry at (pfd, first),
	 * whose alias (and so @first's string) @l->name already is.
	 */
	if (r == 0 && fstatat(pfd, first, &ust, AT_SYMLINK_NOFOLLOW) < 0)
		r = -errno;
	if (r == 0) {
		mg_node_set_ukey(m, n, &ust);
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
			l->c.xa = ovl_upper_xa_present(
				pfd, l->name, ovl_upper_user_ok(&m->up, &ust));
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

/*
 * Copying a template file's data takes a while (0.13 s for 512 MiB from
 * the page cache): from MG_COPY_AHEAD_MIN bytes on, a copy-up copies it
 * without m->lock, so that the rest of the mount goes on meanwhile, then
 * locates the node again under the lock and finishes as before, with the
 * data in place. m->copying lists the template files being copied so;
 * every copy-up of one waits for that copy's end (copies_wait(), or for a
 * change of names, MG_COPYING).
 */
static bool copying(const struct ovl_merge *m, uint32_t lower)
{
	for (size_t i = 0; i < m->ncopying; i++)
		if (m->copying[i] == lower)
			return true;
	return false;
}

static bool node_copying(const struct ovl_merge *m, const struct mnode *n)
{
	return n->lower != NO_LOWER && copying(m, n->lower);
}

/* Waits (m->lock released meanwhile) while @n's template file is copied. */
static void copies_wait(struct ovl_merge *m, const struct mnode *n)
{
	while (node_copying(m, n))
		pthread_cond_wait(&m->copied, &m->lock);
}

/*
 * The first @keep bytes of template file @lower into @fd, which then gets
 * the length @size, with m->lock released meanwhile and @lower listed as
 * being copied.
 */
static int copy_unlocked(struct ovl_merge *m, uint32_t lower, uint64_t keep,
			 uint64_t size, int fd)
{
	int r = dm_grow((void **)&m->copying, &m->copying_cap, m->ncopying,
			sizeof(*m->copying), 8);

	if (r < 0)
		return r;
	m->copying[m->ncopying++] = lower;
	pthread_mutex_unlock(&m->lock);
	r = copy_data(m, lower, keep, size, fd);
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->ncopying; i++)
		if (m->copying[i] == lower) {
			m->copying[i] = m->copying[--m->ncopying];
			break;
		}
	pthread_cond_broadcast(&m->copied);
	return r;
}

/* The data a copy-up copied without the lock. */
struct ahead {
	int fd; /* -1: none */
	/*
	 * fd: a metacopy file filled in place (with the times it had, @st),
	 * else a new unnamed file for a template file's first copy
	 */
	bool fill;
	struct stat st;
};

/* Drops @ah: a file filled in place gets its times back. */
static void ahead_drop(struct ahead *ah)
{
	if (ah->fd < 0)
		return;
	if (ah->fill) {
		struct timespec ts[2] = { ah->st.st_atim, ah->st.st_mtim };

		(void)futimens(ah->fd, ts);
	}
	close(ah->fd);
	ah->fd = -1;
	ah->fill = false;
}

/*
 * Template file @l->c.lower (@lst), not in the upper directory yet: the
 * data a copy-up with the change @a (or NULL) keeps, copied without the
 * lock into a new unnamed file in the upper directory of @n's parent
 * (@ah). Leaves @l done.
 */
static int copy_ahead(struct ovl_merge *m, struct mnode *n, struct located *l,
		      const struct stat *lst, const struct ovl_setattr *a,
		      struct ahead *ah)
{
	uint32_t lower = l->c.lower;
	int pfd = l->pfd >= 0 ? l->pfd :
				mg_ensure_upper_dir(m, n->aliases->parent);

	if (pfd < 0) {
		mg_located_done(l);
		return pfd;
	}
	ah->fd = copy_tmpfile(m, pfd, lst);
	if (pfd != l->pfd)
		close(pfd);
	mg_located_done(l);
	if (ah->fd < 0) {
		int r = ah->fd;

		ah->fd = -1;
		return r;
	}
	return copy_unlocked(m, lower, data_kept(a, lst),
			     (uint64_t)size_after(a, lst), ah->fd);
}

/*
 * A metacopy file (@l): the template data a change @a (or NULL) keeps,
 * written into it without the lock (@ah), when there is enough to be
 * worth it. Leaves @l done if so.
 */
static int fill_ahead(struct ovl_merge *m, struct located *l,
		      const struct ovl_setattr *a, struct ahead *ah)
{
	uint32_t lower = l->c.lower;
	int fd = mg_open_upper_file(l, O_WRONLY);
	uint64_t keep;

	if (fd < 0)
		return fd;
	if (fstat(fd, &ah->st) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	keep = data_kept(a, &ah->st);
	if (keep < MG_COPY_AHEAD_MIN) {
		close(fd);
		return 0;
	}
	mg_located_done(l);
	ah->fd = fd;
	ah->fill = true;
	/* the file keeps its size: what is not kept is cut off under the lock */
	return copy_unlocked(m, lower, keep, (uint64_t)ah->st.st_size, fd);
}

/* The end of fill_metacopy() for the file @ah filled, located as @l. */
static int fill_finish(struct located *l, const struct ovl_setattr *a,
		       struct ahead *ah)
{
	off_t size = size_after(a, &ah->st);
	int r = 0;

	if (size != ah->st.st_size && ftruncate(ah->fd, size) < 0)
		r = -errno;
	ahead_drop(ah); /* its times */
	return r < 0 ? r : ovl_upper_rmxa(l->pfd, l->name, OVL_XA_METACOPY);
}

void mg_copy_wait(struct ovl_merge *m)
{
	pthread_cond_wait(&m->copied, &m->lock);
}

int mg_copy_up_file(struct ovl_merge *m, struct mnode *n, bool data)
{
	struct located l;
	int none = -1;
	int r;

	if (node_copying(m, n))
		return MG_COPYING;
	r = mg_locate(m, n, &l);
	if (r < 0)
		return r;
	r = copy_up_file_located(m, n, data, NULL, &l, &none);
	mg_located_done(&l);
	return r;
}

/*
 * Makes node @n exist in the upper directory; @data: a regular file's data
 * too (a write), else its metadata only (chmod, chown, xattrs, rename...).
 * Leaves @n located in @l, as it is afterwards (the caller calls
 * mg_located_done(), also on failure). @a: as for copy_up_file_located().
 */
int mg_copy_up_located(struct ovl_merge *m, struct mnode *n, bool data,
		       const struct ovl_setattr *a, struct located *l)
{
	struct ahead ah = { .fd = -1 };
	unsigned tries = 0; /* copies without the lock: at most two */
	struct stat lst;
	int r;

again:
	copies_wait(m, n);
	r = mg_locate(m, n, l);
	if (r < 0 || n == m->root)
		goto out;
	if (l->c.upper && !(data && l->c.metacopy))
		goto out;
	if (l->c.upper) {
		bool same = ah.fill && l->ofd < 0 &&
			    l->c.ust.st_dev == ah.st.st_dev &&
			    l->c.ust.st_ino == ah.st.st_ino;

		if (same) {
			r = fill_finish(l, a, &ah);
			if (r < 0)
				goto out;
			mg_located_done(l);
			r = mg_locate(m, n, l);
			goto out;
		}
		/* not the file filled, or a new copy: both of no use */
		ahead_drop(&ah);
		if (tries++ < 2 && l->ofd < 0 && n->aliases) {
			r = fill_ahead(m, l, a, &ah);
			if (r < 0 || ah.fd >= 0)
				goto again_or_out;
		}
	} else {
		if (ah.fill)
			ahead_drop(&ah);
		r = m->lower.ops->getattr(m->lower.data, l->c.lower, &lst);
		if (r < 0)
			goto out;
		if (data && ah.fd < 0 && tries++ < 2 && n->aliases &&
		    S_ISREG(lst.st_mode) &&
		    data_kept(a, &lst) >= MG_COPY_AHEAD_MIN) {
			r = copy_ahead(m, n, l, &lst, a, &ah);
			goto again_or_out;
		}
	}
	if (l->c.upper || !S_ISDIR(lst.st_mode)) {
		bool fresh = !l->c.upper;

		r = copy_up_file_located(m, n, data, a, l, &ah.fd);
		if (r < 0 || fresh)
			goto out; /* a new copy leaves @l located */
	} else {
		r = mg_ensure_upper_dir(m, n);
		if (r < 0)
			goto out;
		close(r);
	}
	mg_located_done(l);
	r = mg_locate(m, n, l);
	goto out;
again_or_out:
	if (r == 0)
		goto again;
out:
	ahead_drop(&ah);
	return r;
}

int mg_copy_up(struct ovl_merge *m, struct mnode *n, bool data)
{
	struct located l;
	int r;

	if (node_copying(m, n))
		return MG_COPYING;
	r = mg_copy_up_located(m, n, data, NULL, &l);

	mg_located_done(&l);
	return r;
}
