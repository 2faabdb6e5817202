// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The template cache: where an index lives, when it is stale, and how it is
 * built safely. An entry is named by a hash of the template's identity
 * (device, inode, size, mtime, ctime), so a replaced or modified template
 * gets a new entry and is never served from an old one. Files are written
 * under temporary names and renamed into place (data first, index last);
 * builders of one entry serialize on an flock()ed lock file, and a waiter
 * finds the entry ready when it gets the lock.
 *
 * Beside each entry, KEY.src holds the template's absolute path. Once an
 * entry is built, the entries it replaces are removed: those of the same
 * file (device and inode: modified in place, or indexed by an older
 * format) and those recorded for the same path (the template replaced by
 * another file). An entry whose lock another process holds is left alone;
 * mounts that have an entry open keep reading it after its removal.
 *
 * An entry found is checked whole (its checksum, a millisecond for a Debian
 * root) before it is used; one that fails, or that is not a regular file,
 * is built again. Temporary files are only written under the entry's lock,
 * so whoever takes a lock removes those that an interrupted build (a killed
 * process) left of entries nobody is building. Cache files are readable by
 * others only when others can read the template too (it is readable by
 * them and every directory on its path searchable): the data file holds
 * its contents. The directories made for the cache are 0700.
 *
 * Whoever can write an entry's files decides what a mount of it shows, so
 * only the caller's and root's are trusted: a cache directory owned by
 * anyone else, or writable by others without the sticky bit, is refused;
 * an entry file owned by anyone else is stale, built again and replaced.
 *
 * On a file system that keeps whole seconds, a template rewritten within
 * the second it was indexed in keeps its identity; an entry built that
 * close to the template's last change is used once and not kept.
 */
#include "templates/tmpl-internal.h"
#include "templates/tmpl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/hash.h"

/* Implemented in tmpl-index.c. */
int tmpl_index_map(int idx_fd, int data_fd, int tpl_fd, const struct stat *st,
		   bool verify, struct tmpl_index **ret, const char **ret_why);
void tmpl_index_set_info(struct tmpl_index *idx, bool built, double seconds,
			 const char *index_path);

int tmpl_cache_default_dir(char *buf, size_t size)
{
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	int n;

	if (geteuid() == 0)
		n = snprintf(buf, size, "/var/cache/domufs");
	else if (xdg && *xdg == '/')
		n = snprintf(buf, size, "%s/domufs", xdg);
	else {
		if (!home || *home != '/') {
			struct passwd *pw = getpwuid(geteuid());

			/* never a shared directory such as /tmp */
			if (!pw || !pw->pw_dir || pw->pw_dir[0] != '/')
				return -ENOENT;
			home = pw->pw_dir;
		}
		n = snprintf(buf, size, "%s/.cache/domufs", home);
	}
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

/* Creates the missing components of @path with @mode; others stay as they are. */
static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static uint64_t identity_key(const struct stat *st)
{
	uint64_t h = dm_hash_mix(0x646f6d756673ULL, TMPL_FORMAT_VERSION);

	h = dm_hash_mix(h, st->st_dev);
	h = dm_hash_mix(h, st->st_ino);
	h = dm_hash_mix(h, (uint64_t)st->st_size);
	h = dm_hash_mix(h, (uint64_t)st->st_mtim.tv_sec);
	h = dm_hash_mix(h, (uint64_t)st->st_mtim.tv_nsec);
	h = dm_hash_mix(h, (uint64_t)st->st_ctim.tv_sec);
	h = dm_hash_mix(h, (uint64_t)st->st_ctim.tv_nsec);
	return h;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Whether a cache file or directory owned by @uid may be trusted. */
static bool trusted_owner(uid_t uid)
{
	return uid == geteuid() || uid == 0;
}

/*
 * The cache directory @dirfd (@dir) may be used: 0, else -EPERM with @err
 * saying why. Its owner and anyone who can replace its files could make
 * the views of its entries show what they like.
 */
static int check_dir(int dirfd, const char *dir, struct dm_err *err)
{
	struct stat st;

	if (fstat(dirfd, &st) < 0)
		return dm_err_set(err, errno, "cache %s: %s", dir,
				  strerror(errno));
	if (!trusted_owner(st.st_uid))
		return dm_err_set(err, EPERM,
				  "cache %s: owned by uid %u, neither you nor "
				  "root: not used",
				  dir, (unsigned)st.st_uid);
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
		return dm_err_set(err, EPERM,
				  "cache %s: writable by %s (mode %04o) "
				  "without the sticky bit: not used",
				  dir,
				  st.st_mode & S_IWOTH ? "others" : "its group",
				  (unsigned)(st.st_mode & 07777));
	return 0;
}

/*
 * Whether others can reach the file @abs (an absolute path, symbolic
 * links resolved): every directory on the way is searchable by them.
 */
static bool others_reach(const char *abs)
{
	char buf[PATH_MAX];
	size_t len = abs ? strlen(abs) : 0;
	struct stat st;

	if (!len || abs[0] != '/' || len >= sizeof(buf))
		return false;
	memcpy(buf, abs, len + 1);
	for (char *p = buf + len; p > buf; p--) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (stat(buf, &st) < 0 || !(st.st_mode & S_IXOTH))
			return false;
	}
	return stat("/", &st) == 0 && (st.st_mode & S_IXOTH);
}

/*
 * Opens cache file @name for reading: the fd; -ESTALE (*ret_why set) when
 * it is there but no regular file (a FIFO must not hang the open) or not
 * the caller's or root's, to be built again; or -errno. Takes from the
 * caller's own file the access that @mode does not give (an entry made
 * under an older rule).
 */
static int open_cached(int dirfd, const char *name, mode_t mode,
		       const char **ret_why)
{
	int fd = openat(dirfd, name,
			O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	struct stat st;

	if (fd < 0) {
		if (errno != ELOOP)
			return -errno;
		*ret_why = "a symbolic link, not a cache file";
		return -ESTALE;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		int r = S_ISDIR(st.st_mode) ? -EISDIR : -ESTALE;

		close(fd);
		*ret_why = "not a regular file";
		return r;
	}
	if (!trusted_owner(st.st_uid)) {
		close(fd);
		*ret_why = "owned by neither you nor root";
		return -ESTALE;
	}
	if (st.st_uid == geteuid() && (st.st_mode & 0777 & ~mode))
		fchmod(fd, st.st_mode & 0777 & mode);
	return fd;
}

/* @r (-errno) for cache file @dir/@name, set in @err. */
static int file_fail(struct dm_err *err, const char *dir, const char *name,
		     int r)
{
	return dm_err_set(err, -r, "cache %s/%s: %s", dir, name, strerror(-r));
}

/* open_cached()'s failure @r on @dir/@name: kept when the entry is only to
 * be built again, else set in @err. */
static int open_failed(const char *dir, const char *name, int r,
		       struct dm_err *err)
{
	if (r == -ENOENT || r == -ESTALE)
		return r;
	return file_fail(err, dir, name, r);
}

/*
 * Opens the entry if complete and fresh: 0. -ENOENT or -ESTALE (*ret_why
 * set) when it is to be built; another -errno with @err naming the file
 * otherwise.
 */
static int try_open(int dirfd, const char *dir, const char *key, int tpl_fd,
		    const struct stat *st, mode_t mode, bool verify,
		    struct tmpl_index **ret, const char **ret_why,
		    struct dm_err *err)
{
	char name[64];
	_cleanup_close_ int idx_fd = -1;
	_cleanup_close_ int data_fd = -1;
	int r;

	snprintf(name, sizeof(name), "%s.idx", key);
	idx_fd = open_cached(dirfd, name, mode, ret_why);
	if (idx_fd < 0)
		return open_failed(dir, name, idx_fd, err);
	snprintf(name, sizeof(name), "%s.data", key);
	data_fd = open_cached(dirfd, name, mode, ret_why);
	/* no data file: an uncompressed .tar (the index says whether) */
	if (data_fd < 0 && data_fd != -ENOENT)
		return open_failed(dir, name, data_fd, err);
	r = tmpl_index_map(idx_fd, data_fd, tpl_fd, st, verify, ret, ret_why);
	if (r == 0)
		return 0;
	snprintf(name, sizeof(name), "%s.idx", key);
	return open_failed(dir, name, r, err);
}

/*
 * Creates an empty temporary file for @key's @what, mode @mode; the fd
 * (name in @ret_name) or -errno. Only the holder of @key's lock does.
 */
static int tmp_create(int dirfd, const char *key, const char *what, mode_t mode,
		      char *ret_name, size_t size)
{
	uint64_t rnd;
	int fd;

	for (int tries = 0; tries < 100; tries++) {
		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			rnd = (uint64_t)getpid() * 2654435761u +
			      (uint64_t)tries;
		snprintf(ret_name, size, ".%s.%s.%016" PRIx64 ".tmp", key, what,
			 rnd);
		fd = openat(dirfd, ret_name,
			    O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
			    mode);
		if (fd >= 0 || errno != EEXIST)
			return fd >= 0 ? fd : -errno;
	}
	return -EEXIST;
}

/* KEY.src: @abs, written under a temporary name and renamed; best effort. */
static void write_src(int dirfd, const char *key, const char *abs, mode_t mode)
{
	char tmp[128], name[64];
	_cleanup_close_ int fd =
		tmp_create(dirfd, key, "src", mode, tmp, sizeof(tmp));
	size_t len = strlen(abs);

	if (fd < 0)
		return;
	snprintf(name, sizeof(name), "%s.src", key);
	if (write(fd, abs, len) != (ssize_t)len ||
	    renameat(dirfd, tmp, dirfd, name) < 0)
		unlinkat(dirfd, tmp, 0);
}

/* Whether KEY.src names @abs (and is the caller's or root's). */
static bool src_is(int dirfd, const char *key, const char *abs)
{
	char name[64], buf[PATH_MAX + 1];
	_cleanup_close_ int fd = -1;
	size_t len = strlen(abs);
	struct stat st;
	ssize_t n;

	snprintf(name, sizeof(name), "%s.src", key);
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) < 0 || !trusted_owner(st.st_uid))
		return false;
	n = pread(fd, buf, sizeof(buf), 0);
	return n == (ssize_t)len && !memcmp(buf, abs, len);
}

/*
 * Opens and flock()s the lock file @name, created if missing; the fd or
 * -errno. A lock file is removed by whoever holds it (a failed build, an
 * entry removed): one taken after its removal is let go and taken again
 * from the name, so that two builders never hold locks on two files.
 * One owned by neither the caller nor root is removed, not waited for.
 * Before waiting for another holder, says so through @opts's warn.
 */
static int lock_entry(int dirfd, const char *name, const char *tpl,
		      const struct tmpl_open_opts *opts)
{
	bool told = false;

	for (;;) {
		_cleanup_close_ int fd =
			openat(dirfd, name,
			       O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
		struct stat held, named;

		if (fd < 0)
			return -errno;
		if (fstat(fd, &held) < 0)
			return -errno;
		if (!trusted_owner(held.st_uid)) {
			if (fstatat(dirfd, name, &named, AT_SYMLINK_NOFOLLOW) ==
				    0 &&
			    named.st_ino == held.st_ino &&
			    unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
				return -errno;
			continue;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			if (errno != EWOULDBLOCK)
				return -errno;
			if (!told)
				dm_warn(opts->warn, opts->warn_ctx,
					"%s: waiting for another process building its index in %s",
					tpl, opts->cache_dir);
			told = true;
			while (flock(fd, LOCK_EX) < 0)
				if (errno != EINTR)
					return -errno;
		}
		if (fstatat(dirfd, name, &named, AT_SYMLINK_NOFOLLOW) == 0 &&
		    named.st_dev == held.st_dev && named.st_ino == held.st_ino)
			return TAKE_FD(fd);
	}
}

/* A directory stream of @dirfd's own, read from its start. */
static DIR *opendir_at(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (!d && fd >= 0)
		close(fd);
	return d;
}

/* Removes entry @key's files but its lock; the caller holds the lock. */
static void unlink_entry(int dirfd, const char *key)
{
	static const char *const exts[] = { "idx", "data", "src" };
	char name[64];

	/* the index first: without it, the rest is no entry */
	for (size_t i = 0; i < DM_ARRAY_SIZE(exts); i++) {
		snprintf(name, sizeof(name), "%s.%s", key, exts[i]);
		unlinkat(dirfd, name, 0);
	}
}

/* Removes entry @key unless another process holds its lock. */
static void remove_entry(int dirfd, const char *key)
{
	char name[64];
	_cleanup_close_ int lock_fd = -1;

	snprintf(name, sizeof(name), "%s.lock", key);
	lock_fd = openat(dirfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (lock_fd >= 0 && flock(lock_fd, LOCK_EX | LOCK_NB) < 0)
		return; /* being built */
	unlink_entry(dirfd, key);
	if (lock_fd >= 0)
		unlinkat(dirfd, name, 0);
}

/*
 * Removes the temporary files (".KEY.WHAT.RANDOM.tmp") that builds killed
 * on the way left: those of @own_key, whose lock the caller holds, and of
 * any other entry whose lock nobody holds (taken while removing).
 */
static void sweep_tmp(int dirfd, const char *own_key)
{
	DIR *d = opendir_at(dirfd);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		size_t len = strlen(n);
		char key[17], lockname[64];
		_cleanup_close_ int lock_fd = -1;

		if (n[0] != '.' || len < 22 || strcmp(n + len - 4, ".tmp") ||
		    strspn(n + 1, "0123456789abcdef") != 16 || n[17] != '.')
			continue;
		memcpy(key, n + 1, 16);
		key[16] = '\0';
		if (strcmp(key, own_key)) {
			snprintf(lockname, sizeof(lockname), "%s.lock", key);
			lock_fd = openat(dirfd, lockname,
					 O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
			if (lock_fd >= 0 &&
			    flock(lock_fd, LOCK_EX | LOCK_NB) < 0)
				continue; /* being built */
		}
		unlinkat(dirfd, n, 0);
	}
	closedir(d);
}

/*
 * The entries entry @key replaces (see the top of this file): of the file
 * @st, or recorded for the path @abs (NULL: not known). Entries of a newer
 * format than this one are another domufs's and stay.
 */
static void prune_replaced(int dirfd, const char *key, const struct stat *st,
			   const char *abs)
{
	DIR *d = opendir_at(dirfd);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		struct tmpl_dheader h;
		char victim[17];
		_cleanup_close_ int ifd = -1;
		size_t len = strlen(de->d_name);

		if (len != 20 || strcmp(de->d_name + 16, ".idx") ||
		    strspn(de->d_name, "0123456789abcdef") != 16 ||
		    !strncmp(de->d_name, key, 16))
			continue;
		memcpy(victim, de->d_name, 16);
		victim[16] = '\0';
		ifd = openat(dirfd, de->d_name,
			     O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (ifd < 0 ||
		    pread(ifd, &h, sizeof(h), 0) <
			    (ssize_t)offsetof(struct tmpl_dheader, tpl_size) ||
		    memcmp(h.magic, TMPL_INDEX_MAGIC, 8) ||
		    h.version > TMPL_FORMAT_VERSION)
			continue;
		if ((h.tpl_dev == (uint64_t)st->st_dev &&
		     h.tpl_ino == (uint64_t)st->st_ino) ||
		    (abs && src_is(dirfd, victim, abs)))
			remove_entry(dirfd, victim);
	}
	closedir(d);
}

/* Whether @a and @b are the same version of one file. */
static bool same_identity(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static int build_entry(int dirfd, const char *dir, const char *key, int tpl_fd,
		       const struct stat *st, const char *path, const char *abs,
		       mode_t mode, const struct tmpl_open_opts *opts,
		       struct dm_err *err)
{
	char idx_tmp[128], data_tmp[128], name[64];
	_cleanup_close_ int idx_fd = -1;
	_cleanup_close_ int data_fd = -1;
	struct tmpl_build_result res = { 0 };
	struct stat after;
	uint64_t build_id;
	int r;

	if (getrandom(&build_id, sizeof(build_id), 0) != sizeof(build_id))
		build_id = identity_key(st) ^ (uint64_t)getpid();
	idx_fd = tmp_create(dirfd, key, "idx", mode, idx_tmp, sizeof(idx_tmp));
	if (idx_fd < 0)
		return dm_err_set(err, -idx_fd, "cache %s: %s", dir,
				  strerror(-idx_fd));
	data_fd = tmp_create(dirfd, key, "data", mode, data_tmp,
			     sizeof(data_tmp));
	if (data_fd < 0) {
		r = dm_err_set(err, -data_fd, "cache %s: %s", dir,
			       strerror(-data_fd));
		data_tmp[0] = '\0';
		goto out_unlink;
	}
	r = tmpl_build(tpl_fd, st, path, idx_fd, data_fd, build_id, opts, &res,
		       err);
	if (r < 0)
		goto out_unlink;
	if (fstat(tpl_fd, &after) == 0 && !same_identity(st, &after)) {
		r = dm_err_set(err, EAGAIN,
			       "%s: changed while it was being indexed", path);
		goto out_unlink;
	}
	snprintf(name, sizeof(name), "%s.data", key);
	if (res.in_place) {
		unlinkat(dirfd, data_tmp, 0);
		data_tmp[0] = '\0';
		if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT) {
			r = file_fail(err, dir, name, -errno);
			goto out_unlink;
		}
	} else if (renameat(dirfd, data_tmp, dirfd, name) < 0) {
		r = file_fail(err, dir, name, -errno);
		goto out_unlink;
	} else
		data_tmp[0] = '\0';
	if (abs)
		write_src(dirfd, key, abs, mode);
	snprintf(name, sizeof(name), "%s.idx", key);
	if (renameat(dirfd, idx_tmp, dirfd, name) < 0) {
		r = file_fail(err, dir, name, -errno);
		goto out_unlink;
	}
	return 0;

out_unlink:
	unlinkat(dirfd, idx_tmp, 0);
	if (data_tmp[0])
		unlinkat(dirfd, data_tmp, 0);
	return r;
}

/*
 * Whether the template's identity may be shared by a rewrite: on a file
 * system of whole seconds (no nanoseconds in either time), a change within
 * the second of @wall (when it was looked at) or the one before keeps it.
 */
static bool identity_racy(const struct stat *st, const struct timespec *wall)
{
	return st->st_mtim.tv_nsec == 0 && st->st_ctim.tv_nsec == 0 &&
	       st->st_ctim.tv_sec >= wall->tv_sec - 1;
}

int tmpl_index_open(const char *path, const struct tmpl_open_opts *opts,
		    struct tmpl_index **ret, struct dm_err *err)
{
	_cleanup_close_ int tpl_fd = -1;
	_cleanup_close_ int dirfd = -1;
	_cleanup_close_ int lock_fd = -1;
	struct tmpl_index *idx = NULL;
	const char *why = NULL;
	_cleanup_free_ char *abs = NULL;
	char key[32], lockname[64], index_path[PATH_MAX];
	double t0 = now();
	bool built = false;
	struct timespec wall;
	struct stat st;
	mode_t mode;
	int r;

	/* O_NONBLOCK: a FIFO given as the template must not hang the open */
	tpl_fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (tpl_fd < 0)
		return dm_err_set(err, errno, "%s: %s", path, strerror(errno));
	if (fstat(tpl_fd, &st) < 0)
		return dm_err_set(err, errno, "%s: %s", path, strerror(errno));
	clock_gettime(CLOCK_REALTIME, &wall);
	if (S_ISDIR(st.st_mode))
		return dm_err_set(err, EISDIR,
				  "%s: is a directory, not a template tarball",
				  path);
	if (!S_ISREG(st.st_mode))
		return dm_err_set(err, EINVAL, "%s: not a regular file", path);

	r = mkdir_p(opts->cache_dir, 0700);
	if (r < 0)
		return dm_err_set(err, -r, "cache %s: %s", opts->cache_dir,
				  strerror(-r));
	dirfd = open(opts->cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return dm_err_set(err, errno, "cache %s: %s", opts->cache_dir,
				  strerror(errno));
	r = check_dir(dirfd, opts->cache_dir, err);
	if (r < 0)
		return r;
	/* the data file holds the template's contents: no more readers */
	abs = realpath(path, NULL);
	mode = 0600 | (st.st_mode & S_IROTH && others_reach(abs) ? 0044 : 0);
	snprintf(key, sizeof(key), "%016" PRIx64, identity_key(&st));
	snprintf(index_path, sizeof(index_path), "%s/%s.idx", opts->cache_dir,
		 key);

	if (!(opts->flags & TMPL_OPEN_REBUILD)) {
		r = try_open(dirfd, opts->cache_dir, key, tpl_fd, &st, mode,
			     true, &idx, &why, err);
		if (r == 0)
			goto out_ok;
		if (r != -ENOENT && r != -ESTALE)
			return r;
	}

	snprintf(lockname, sizeof(lockname), "%s.lock", key);
	lock_fd = lock_entry(dirfd, lockname, path, opts);
	if (lock_fd < 0)
		return file_fail(err, opts->cache_dir, lockname, lock_fd);
	/* Another process may have built it while we waited. */
	if (!(opts->flags & TMPL_OPEN_REBUILD)) {
		r = try_open(dirfd, opts->cache_dir, key, tpl_fd, &st, mode,
			     true, &idx, &why, err);
		if (r == 0)
			goto out_ok;
		if (r != -ENOENT && r != -ESTALE)
			return r;
	}
	sweep_tmp(dirfd, key);
	r = build_entry(dirfd, opts->cache_dir, key, tpl_fd, &st, path, abs,
			mode, opts, err);
	if (r < 0) {
		/* no entry: no lock file left behind either (see lock_entry) */
		unlinkat(dirfd, lockname, 0);
		return r;
	}
	built = true;
	prune_replaced(dirfd, key, &st, abs);
	r = try_open(dirfd, opts->cache_dir, key, tpl_fd, &st, mode, false,
		     &idx, &why, err);
	if (r == -ENOENT || r == -ESTALE)
		return dm_err_set(err, -r,
				  "cache %s: freshly built index unusable: %s",
				  index_path, why ? why : strerror(-r));
	if (r < 0)
		return r;
	/* used by this open only: the files stay open after the unlink */
	if (identity_racy(&st, &wall)) {
		unlink_entry(dirfd, key);
		unlinkat(dirfd, lockname, 0);
	}
out_ok:
	/* The lock is held only while building; lock_fd closes on return. */
	tmpl_index_set_info(idx, built, now() - t0, index_path);
	*ret = idx;
	return 0;
}
