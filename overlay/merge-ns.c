// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The writable view (see merge.c): changes to names and metadata, and open
 * files.
 */
#include "overlay/merge-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/array.h"
#include "common/cleanup.h"

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

	if (!mg_name_ok(name))
		return -ENAMETOOLONG;
	if (mg_name_reserved(name))
		return -EINVAL;
	p = mg_get_node(m, dir);
	if (!p)
		return -ESTALE;
	pfd = mg_upper_dirfd(m, p, O_PATH);
	if (pfd < 0 && pfd != -ENOENT)
		return pfd;
	r = mg_resolve_child(m, p, pfd, name, &c);
	if (r == 0)
		return -EEXIST;
	if (r != -ENOENT)
		return r;
	if (pfd < 0) {
		pfd = mg_ensure_upper_dir(m, p);
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
			    mg_disk_mode(m, mode));
		r = fd < 0 ? -errno : 0;
		break;
	case S_IFDIR:
		r = mkdirat(pfd, name, mg_disk_mode(m, mode)) < 0 ? -errno : 0;
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
	mg_target_at(&t, pfd, name);
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
		if (fchmodat(pfd, name, mg_disk_mode(m, mode), 0) < 0)
			r = -errno;
		else
			r = ovl_upper_set_override(&m->up, pfd, name, cred->uid,
						   gid, mode, rdev);
	}
	if (r < 0) {
		unlinkat(pfd, name, S_ISDIR(mode) ? AT_REMOVEDIR : 0);
		return r;
	}
	r = mg_resolve_child(m, p, pfd, name, &c);
	if (r < 0)
		return r;
	n = mg_child_node(m, p, name, &c);
	if (!n)
		return -ENOMEM;
	r = mg_node_stat(m, n, pfd, name, &c, ret_st);
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
	f->node = mg_get_node(m, ret_st->st_ino);
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
	mg_node_maybe_free(m, n);
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

	if (!mg_name_ok(newname))
		return -ENAMETOOLONG;
	if (mg_name_reserved(newname))
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
again:
	n = mg_get_node(m, ino);
	np = mg_get_node(m, newdir);
	if (!n || !np) {
		r = -ESTALE;
		goto out_unlock;
	}
	npfd = mg_upper_dirfd(m, np, O_PATH);
	r = mg_resolve_child(m, np, npfd >= 0 ? npfd : -1, newname, &c);
	if (r == 0) {
		r = -EEXIST;
		goto out_unlock;
	}
	if (r != -ENOENT)
		goto out_unlock;
	r = mg_copy_up(m, n, false);
	if (r == MG_COPYING) {
		mg_copy_wait(m);
		if (npfd >= 0)
			close(npfd);
		npfd = -1;
		goto again;
	}
	if (r < 0)
		goto out_unlock;
	r = mg_locate(m, n, &l);
	if (r < 0)
		goto out_unlock;
	if (S_ISDIR(l.c.ust.st_mode)) {
		mg_located_done(&l);
		r = -EPERM;
		goto out_unlock;
	}
	if (npfd < 0)
		npfd = mg_ensure_upper_dir(m, np);
	if (npfd < 0) {
		mg_located_done(&l);
		r = npfd;
		goto out_unlock;
	}
	r = ovl_upper_clear_whiteout(npfd, newname);
	if (r == 0 && linkat(l.pfd, l.name, npfd, newname, 0) < 0)
		r = -errno;
	mg_located_done(&l);
	if (r < 0)
		goto out_unlock;
	r = mg_alias_add(m, n, np, newname);
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
	const struct ovl_upper *u = arg;
	struct stat st;

	(void)type;
	if (mg_name_reserved(name) ||
	    (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	     ovl_upper_is_whiteout(u, fd, name, &st)))
		return unlinkat(fd, name, 0) < 0 ? -errno : 0;
	return 0;
}

/* Removes every entry of an upper directory that only hides things. */
static int clear_whiteouts(struct ovl_merge *m, int pfd, const char *name)
{
	return ovl_upper_scan(pfd, name, unlink_hiding, &m->up);
}

/*
 * An upper file that lost its last name (unlink, rename over it) is freed
 * by the kernel when the descriptor held on it is closed: its blocks and
 * its pages, 0.45 s for 2 GiB on ext4. Not under m->lock then, nor before
 * the reply: the kernel holds the directory's lock until the reply comes,
 * which would keep every lookup in that directory waiting. A large one
 * (LATE_MIN or more allocated) goes to the closer thread; the caller
 * closes the rest after unlocking (late_put()'s return value, in a
 * _cleanup_close_ variable).
 */
#define LATE_MIN (64ll << 20)

static void *closer_main(void *arg)
{
	struct ovl_merge *m = arg;

	pthread_mutex_lock(&m->lock);
	for (;;) {
		while (m->nlate) {
			int fd = m->late[--m->nlate];

			pthread_mutex_unlock(&m->lock);
			close(fd);
			pthread_mutex_lock(&m->lock);
		}
		if (m->closer_stop)
			break;
		pthread_cond_wait(&m->late_cv, &m->lock);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

/* Under m->lock: @fd queued for the closer thread (-1), or @fd to close. */
static int late_put(struct ovl_merge *m, int fd)
{
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0 || st.st_nlink > 0 ||
	    (long long)st.st_blocks * 512 < LATE_MIN || m->closer_stop)
		return fd;
	if (dm_grow((void **)&m->late, &m->late_cap, m->nlate, sizeof(*m->late),
		    8) < 0)
		return fd;
	if (!m->closer_running) {
		if (pthread_create(&m->closer, NULL, closer_main, m) != 0)
			return fd;
		m->closer_running = true;
	}
	m->late[m->nlate++] = fd;
	pthread_cond_signal(&m->late_cv);
	return -1;
}

void mg_closer_stop(struct ovl_merge *m)
{
	pthread_mutex_lock(&m->lock);
	m->closer_stop = true;
	pthread_cond_signal(&m->late_cv);
	pthread_mutex_unlock(&m->lock);
	if (m->closer_running)
		pthread_join(m->closer, NULL);
	m->closer_running = false;
}

static int remove_entry(struct ovl_merge *m, uint64_t dir, const char *name,
			bool want_dir, int *late)
{
	_cleanup_close_ int pfd = -1;
	_cleanup_close_ int ofd = -1;
	struct mnode *p, *n;
	struct child c;
	struct stat st;
	bool keep_orphan;
	int r;

	if (!mg_name_ok(name))
		return -ENAMETOOLONG;
	p = mg_get_node(m, dir);
	if (!p)
		return -ESTALE;
	pfd = mg_upper_dirfd(m, p, O_PATH);
	if (pfd < 0 && pfd != -ENOENT)
		return pfd;
	r = mg_resolve_child(m, p, pfd >= 0 ? pfd : -1, name, &c);
	if (r < 0)
		return r;
	n = mg_child_node(m, p, name, &c);
	if (!n)
		return -ENOMEM;
	r = mg_node_stat(m, n, pfd >= 0 ? pfd : -1, name, &c, &st);
	if (r < 0)
		return r;
	if (want_dir && !S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (!want_dir && S_ISDIR(st.st_mode))
		return -EISDIR;
	if (want_dir) {
		r = mg_dir_empty(m, n);
		if (r < 0)
			return r;
	} else if (!c.upper && st.st_nlink > 1) {
		/* keep the other names' link count right: one upper inode */
		r = mg_copy_up_file(m, n, false);
		if (r < 0)
			return r;
		close(pfd);
		pfd = mg_upper_dirfd(m, p, O_PATH);
		r = mg_resolve_child(m, p, pfd, name, &c);
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
			r = clear_whiteouts(m, pfd, name);
			if (r < 0)
				return r;
		}
		ofd = mg_upper_hold(pfd, name, want_dir && !keep_orphan);
		if (unlinkat(pfd, name, want_dir ? AT_REMOVEDIR : 0) < 0)
			return -errno;
		if (want_dir)
			mg_dirfd_drop(m, n);
		mg_upper_release(m, n, &c.ust, want_dir, ofd);
	}
	if (c.shadowed) {
		if (pfd < 0)
			pfd = mg_ensure_upper_dir(m, p);
		if (pfd < 0)
			return pfd;
		r = ovl_upper_whiteout(&m->up, pfd, name);
		if (r < 0)
			return r;
		m->gen++;
	}
	mg_alias_del(m, n, p, name);
	if (!n->aliases && ofd >= 0 && keep_orphan) {
		if (n->orphan_fd >= 0)
			close(n->orphan_fd);
		n->orphan_fd = TAKE_FD(ofd);
	}
	mg_node_maybe_free(m, n);
	*late = TAKE_FD(ofd);
	return 0;
}

/* remove_entry() under the lock, its file closed after (late_put()). */
static int remove_locked(struct ovl_merge *m, uint64_t dir, const char *name,
			 bool want_dir)
{
	_cleanup_close_ int late = -1;
	int r;

	pthread_mutex_lock(&m->lock);
	while ((r = remove_entry(m, dir, name, want_dir, &late)) == MG_COPYING)
		mg_copy_wait(m);
	late = late_put(m, late);
	pthread_mutex_unlock(&m->lock);
	return r;
}

int ovl_merge_unlink(struct ovl_merge *m, uint64_t dir, const char *name)
{
	return remove_locked(m, dir, name, false);
}

int ovl_merge_rmdir(struct ovl_merge *m, uint64_t dir, const char *name)
{
	return remove_locked(m, dir, name, true);
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

	r = mg_copy_up(m, n, false);
	if (r < 0 || !is_dir)
		return r;
	r = mg_dir_state(m, n, &lower, &opaque);
	if (r < 0)
		return r;
	r = mg_locate(m, n, &l);
	if (r < 0)
		return r;
	if (lower != NO_LOWER) {
		r = mg_lower_dir_path(m, lower, &b);
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
	mg_located_done(&l);
	return r;
}

static int do_rename(struct ovl_merge *m, uint64_t dir, const char *name,
		     uint64_t newdir, const char *newname, unsigned flags,
		     int *late)
{
	_cleanup_close_ int pfd = -1;
	_cleanup_close_ int npfd = -1;
	_cleanup_close_ int dofd = -1; /* O_PATH to a replaced upper file */
	struct mnode *p, *np, *sn, *dn = NULL;
	struct child sc, dc;
	struct stat sst, dst;
	bool dexists, replaces_upper, group_up;
	int r;

	if (!mg_name_ok(newname) || !mg_name_ok(name))
		return -ENAMETOOLONG;
	if (mg_name_reserved(newname))
		return -EINVAL;
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	p = mg_get_node(m, dir);
	np = mg_get_node(m, newdir);
	if (!p || !np)
		return -ESTALE;
	pfd = mg_upper_dirfd(m, p, O_PATH);
	r = mg_resolve_child(m, p, pfd >= 0 ? pfd : -1, name, &sc);
	if (r < 0)
		return r;
	sn = mg_child_node(m, p, name, &sc);
	if (!sn)
		return -ENOMEM;
	r = mg_node_stat(m, sn, pfd >= 0 ? pfd : -1, name, &sc, &sst);
	if (r < 0)
		return r;
	npfd = mg_upper_dirfd(m, np, O_PATH);
	r = mg_resolve_child(m, np, npfd >= 0 ? npfd : -1, newname, &dc);
	if (r < 0 && r != -ENOENT)
		return r;
	dexists = r == 0;
	if (dexists) {
		dn = mg_child_node(m, np, newname, &dc);
		if (!dn)
			return -ENOMEM;
		r = mg_node_stat(m, dn, npfd >= 0 ? npfd : -1, newname, &dc,
				 &dst);
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
			r = mg_dir_empty(m, dn);
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
		r = mg_copy_up_file(m, dn, false);
		if (r < 0)
			return r;
	}
	if (pfd >= 0)
		close(pfd);
	pfd = mg_upper_dirfd(m, p, O_PATH);
	if (npfd >= 0)
		close(npfd);
	npfd = mg_ensure_upper_dir(m, np);
	if (pfd < 0 || npfd < 0)
		return pfd < 0 ? pfd : npfd;
	if (group_up) {
		r = mg_resolve_child(m, np, npfd, newname, &dc);
		if (r < 0)
			return r;
	}
	if (!(flags & RENAME_EXCHANGE)) {
		r = ovl_upper_clear_whiteout(npfd, newname);
		if (r == 0 && dexists && dc.upper && S_ISDIR(dst.st_mode))
			r = clear_whiteouts(m, npfd, newname);
		if (r < 0)
			return r;
	}
	replaces_upper = dexists && dc.upper && !(flags & RENAME_EXCHANGE);
	if (replaces_upper)
		dofd = mg_upper_hold(npfd, newname, S_ISDIR(dst.st_mode));
	if (renameat2(pfd, name, npfd, newname,
		      flags & (RENAME_EXCHANGE | RENAME_NOREPLACE)) < 0)
		return -errno;
	if (replaces_upper)
		mg_upper_release(m, dn, &dc.ust, S_ISDIR(dst.st_mode), dofd);
	if (!(flags & RENAME_EXCHANGE) && sc.shadowed) {
		r = ovl_upper_whiteout(&m->up, pfd, name);
		if (r < 0)
			return r;
	}
	if (flags & RENAME_EXCHANGE) {
		mg_alias_del(m, sn, p, name);
		mg_alias_del(m, dn, np, newname);
		mg_alias_add(m, sn, np, newname);
		mg_alias_add(m, dn, p, name);
	} else {
		if (dexists)
			mg_aliases_drop(m, np, newname);
		mg_aliases_move(m, p, name, np, newname);
		mg_node_maybe_free(m, dn);
	}
	m->gen++;
	*late = TAKE_FD(dofd); /* a file replaced (see late_put()) */
	return 0;
}

int ovl_merge_rename(struct ovl_merge *m, uint64_t dir, const char *name,
		     uint64_t newdir, const char *newname, unsigned flags)
{
	_cleanup_close_ int late = -1; /* see late_put() */
	int r;

	pthread_mutex_lock(&m->lock);
	while ((r = do_rename(m, dir, name, newdir, newname, flags, &late)) ==
	       MG_COPYING)
		mg_copy_wait(m);
	late = late_put(m, late);
	pthread_mutex_unlock(&m->lock);
	return r;
}

/* (dirfd, name) of an upper node for metadata calls (@data: see mg_copy_up). */
static int upper_target(struct ovl_merge *m, struct mnode *n, bool data,
			const struct ovl_setattr *a, struct located *l,
			struct target *t)
{
	int r = mg_copy_up_located(m, n, data, a, l);

	if (r < 0) {
		mg_located_done(l);
		return r;
	}
	if (n == m->root)
		mg_target_root(t, m);
	else if (l->ofd >= 0)
		mg_target_fd(t, l->ofd);
	else
		mg_target_at(t, l->pfd, l->name);
	return 0;
}

/*
 * Owner and mode of @a onto the upper object @t, whose attributes as the
 * view shows them are @cur (type, and owner and mode for an ordinary
 * user's mount, which keeps them in the override xattr).
 */
static int set_owner_mode(struct ovl_merge *m, const struct target *t,
			  const struct ovl_setattr *a, bool real,
			  struct stat *cur)
{
	bool chown = a->valid & (OVL_SET_UID | OVL_SET_GID);
	bool chmod = (a->valid & OVL_SET_MODE) && !S_ISLNK(cur->st_mode);

	if (real) {
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
	mg_owner_mode_change(a, cur);
	/* the overlay directory itself stays private (see adopt_root) */
	if (chmod && !t->root &&
	    fchmodat(t->dirfd, t->name, mg_disk_mode(m, cur->st_mode), 0) < 0)
		return -errno;
	if (!chown && !chmod)
		return 0;
	return ovl_upper_set_override(&m->up, mg_xa_dirfd(t, m->up.root_fd),
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
	n = mg_get_node(m, ino);
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
		r = mg_stat_located(m, n, &l, ret);
		goto out_done;
	}
	if (!l.fresh &&
	    (a->valid & (OVL_SET_UID | OVL_SET_GID | OVL_SET_MODE))) {
		/*
		 * Root keeps owner and mode for real, but in the override
		 * for the root and where one already stands (an ordinary
		 * user's overlay)
		 */
		bool real = m->up.privileged && n != m->root &&
			    !(l.c.xa & (1u << OVL_XA_OVERRIDE));

		if (real)
			cur = l.c.ust; /* its type is all that is used */
		else
			r = mg_stat_located(m, n, &l, &cur);
		if (r == 0)
			r = set_owner_mode(m, &t, a, real, &cur);
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
		r = mg_restat_located(m, n, &l, ret);
out_done:
	mg_located_done(&l);
out_unlock:
	pthread_mutex_unlock(&m->lock);
	return r;
}

/* Sets (@value, or removes when NULL) xattr @name of @ino, copied up. */
static int change_xattr(struct ovl_merge *m, uint64_t ino, const char *name,
			const void *value, size_t size, int flags)
{
	struct located l = { .pfd = -1 };
	struct target t;
	struct mnode *n;
	int r;

	pthread_mutex_lock(&m->lock);
	n = mg_get_node(m, ino);
	r = n ? upper_target(m, n, false, NULL, &l, &t) : -ESTALE;
	if (r == 0) {
		int dfd = mg_xa_dirfd(&t, m->up.root_fd);
		const char *at = t.dirfd == AT_FDCWD ? NULL : t.name;

		r = value ? ovl_upper_setxattr(dfd, at, name, value, size,
					       flags) :
			    ovl_upper_removexattr(dfd, at, name);
		mg_located_done(&l);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

int ovl_merge_setxattr(struct ovl_merge *m, uint64_t ino, const char *name,
		       const void *value, size_t size, int flags)
{
	/* a zero-length value may come as NULL */
	return change_xattr(m, ino, name, value ? value : "", size, flags);
}

int ovl_merge_removexattr(struct ovl_merge *m, uint64_t ino, const char *name)
{
	return change_xattr(m, ino, name, NULL, 0, 0);
}

int ovl_merge_fsyncdir(struct ovl_merge *m, uint64_t ino, int datasync)
{
	struct mnode *n;
	int fd, r = 0;

	pthread_mutex_lock(&m->lock);
	n = mg_get_node(m, ino);
	fd = n ? mg_upper_dirfd(m, n, O_RDONLY) : -ESTALE;
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
	n = mg_get_node(m, ino);
	r = n ? 0 : -ESTALE;
	if (r == 0 && write) {
		/* with O_TRUNC, none of the template's data is copied */
		const struct ovl_setattr trunc = { .valid = OVL_SET_SIZE };

		r = mg_copy_up_located(m, n, true,
				       (flags & O_TRUNC) ? &trunc : NULL, &l);
		mg_located_done(&l);
	}
	if (r == 0)
		r = mg_locate(m, n, &l);
	if (r == 0) {
		if (l.c.upper && !l.c.metacopy) {
			/* write-only handles may be read (writeback cache) */
			int fl = (flags &
				  (O_TRUNC | O_SYNC | O_DSYNC | O_NOATIME)) |
				 ((flags & O_ACCMODE) == O_RDONLY ? O_RDONLY :
								    O_RDWR);

			f->fd = mg_open_upper_file(&l, fl);
			if (f->fd == -EPERM && (fl & O_NOATIME))
				f->fd = mg_open_upper_file(&l, fl & ~O_NOATIME);
			r = f->fd < 0 ? f->fd : 0;
		} else {
			f->lower = l.c.lower;
		}
		mg_located_done(&l);
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
