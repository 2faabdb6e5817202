// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * xenstore through libxenstore (the only user of <xenstore.h>): connecting
 * without ever hanging, domains by name, waiting on a key with watches,
 * and the disks that running domains have attached. Never prints.
 *
 * libxenstore has no timeouts: a daemon that accepts a connection and never
 * answers, or stops answering, blocks a request forever. xen_xs_open()
 * therefore connects and asks its first question on a helper thread and
 * waits for it a bounded time, and the commit's check runs whole on one; a
 * thread that never comes back is abandoned (it owns its connection and
 * frees it if the answer ever comes). Its mutex guards `done` and
 * `abandoned`; nothing else is shared.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <xenstore.h>

#include "common/cleanup.h"
#include "common/sysfs.h"
#include "xen/xs.h"

struct xen_xs {
	struct xs_handle *h;
	char where[PATH_MAX]; /* the socket or device it is connected through */
};

/* ---- where libxenstore connects (tools/libs/store/xs.c, 4.17) */

static const char *socket_path(void)
{
	const char *s = getenv("XENSTORED_PATH");

	if (s)
		return s;
	s = xs_daemon_socket(); /* $XENSTORED_RUNDIR/socket */
	return s ? s : "/var/run/xenstored/socket";
}

static const char *device_path(void)
{
	const char *s = getenv("XENSTORED_PATH");
	struct stat st;

	if (s)
		return s;
	if (stat("/dev/xen/xenbus", &st) == 0)
		return "/dev/xen/xenbus";
	return "/proc/xen/xenbus";
}

/* ---- calls on a helper thread with a deadline */

struct bounded {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done; /* the thread has finished; r is valid */
	bool abandoned; /* the caller gave up: the thread cleans up */
	int (*fn)(void *arg);
	void (*free_arg)(void *arg); /* after an abandoned call */
	void *arg;
	int r;
};

static void bounded_free(struct bounded *b)
{
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

static void *bounded_run(void *arg)
{
	struct bounded *b = arg;
	int r = b->fn(b->arg);
	bool abandoned;

	pthread_mutex_lock(&b->lock);
	abandoned = b->abandoned;
	if (!abandoned) {
		b->r = r;
		b->done = true;
		pthread_cond_signal(&b->cond);
	}
	pthread_mutex_unlock(&b->lock);
	if (abandoned) {
		b->free_arg(b->arg);
		bounded_free(b);
	}
	return NULL;
}

static void deadline_after(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/*
 * Runs @fn(@arg) on a thread and waits for it at most @timeout_ms: 0 and
 * its result in *@ret, or -ETIMEDOUT. Then the thread is abandoned with
 * @arg, which it frees with @free_arg if it ever comes back; the caller
 * must not touch @arg again. Other -errno: no thread ran.
 */
static int run_bounded(long timeout_ms, int (*fn)(void *), void *arg,
		       void (*free_arg)(void *), int *ret)
{
	struct bounded *b = calloc(1, sizeof(*b));
	pthread_condattr_t ca;
	pthread_attr_t ta;
	sigset_t all, old;
	struct timespec deadline;
	pthread_t t;
	int r;

	if (!b)
		return -ENOMEM;
	b->fn = fn;
	b->free_arg = free_arg;
	b->arg = arg;
	pthread_mutex_init(&b->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_attr_init(&ta);
	pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
	/* signals stay with the caller's thread */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&t, &ta, bounded_run, b);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&ta);
	if (r) {
		bounded_free(b);
		return -r;
	}
	deadline_after(&deadline, timeout_ms);
	pthread_mutex_lock(&b->lock);
	while (!b->done) {
		if (pthread_cond_timedwait(&b->cond, &b->lock, &deadline) ==
			    ETIMEDOUT &&
		    !b->done) {
			b->abandoned = true;
			pthread_mutex_unlock(&b->lock);
			return -ETIMEDOUT;
		}
	}
	pthread_mutex_unlock(&b->lock);
	*ret = b->r;
	bounded_free(b);
	return 0;
}

/* ---- connecting */

struct probe {
	struct xs_handle *h;
	int open_errno; /* xs_open() failed with this */
	int talk_errno; /* the first request failed with this */
};

static int probe_run(void *arg)
{
	struct probe *p = arg;
	char *v;

	p->h = xs_open(0);
	if (!p->h) {
		p->open_errno = errno;
		return 0;
	}
	/* any answer, an error included, shows a live daemon */
	v = xs_get_domain_path(p->h, 0);
	if (!v)
		p->talk_errno = errno;
	free(v);
	return 0;
}

static void probe_free(void *arg)
{
	struct probe *p = arg;

	if (p->h)
		xs_close(p->h);
	free(p);
}

/*
 * Runs xs_open() and one request on a thread; 0 and the handle, -ETIMEDOUT,
 * or -errno with *ret_open / *ret_talk saying which step failed.
 */
static int open_bounded(long timeout_ms, struct xs_handle **ret, int *ret_open,
			int *ret_talk)
{
	struct probe *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	r = run_bounded(timeout_ms, probe_run, p, probe_free, &(int){ 0 });
	if (r < 0) {
		if (r != -ETIMEDOUT)
			free(p);
		return r;
	}
	*ret = p->h;
	*ret_open = p->open_errno;
	*ret_talk = p->talk_errno;
	free(p);
	return 0;
}

static bool exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

int xen_xs_open(struct xen_xs **ret, struct dm_err *err)
{
	const char *sock = socket_path(), *dev = device_path();
	const char *where = exists(sock) ? sock : dev;
	bool env = getenv("XENSTORED_PATH") != NULL;
	struct xs_handle *h = NULL;
	struct xen_xs *xs;
	int open_errno = 0, talk_errno = 0, r;

	if (!exists(sock) && !exists(dev)) {
		if (env)
			return dm_err_set(err, ENOENT,
					  "no xenstore: %s (XENSTORED_PATH) "
					  "does not exist",
					  sock);
		return dm_err_set(err, ENOENT,
				  "no xenstore: neither %s nor %s exists", sock,
				  dev);
	}
	r = open_bounded(XEN_XS_OPEN_TIMEOUT_MS, &h, &open_errno, &talk_errno);
	if (r == -ETIMEDOUT)
		return dm_err_set(
			err, ETIMEDOUT,
			"xenstore at %s does not answer (waited %d s)", where,
			XEN_XS_OPEN_TIMEOUT_MS / 1000);
	if (r < 0)
		return dm_err_set(err, -r, "xenstore: %s", strerror(-r));
	if (!h) {
		if (open_errno == ENOENT || open_errno == ECONNREFUSED)
			return dm_err_set(err, ECONNREFUSED,
					  "no xenstore: nothing answers at %s",
					  where);
		return dm_err_set(err, open_errno, "xenstore: %s: %s", where,
				  strerror(open_errno));
	}
	if (talk_errno == EBADF || talk_errno == EPIPE ||
	    talk_errno == ECONNRESET) {
		/* it hung up: the stock daemon does so without Xen */
		xs_close(h);
		return dm_err_set(
			err, ECONNREFUSED,
			"no xenstore: %s hung up at the first request", where);
	}
	xs = calloc(1, sizeof(*xs));
	if (!xs) {
		xs_close(h);
		return -ENOMEM;
	}
	xs->h = h;
	snprintf(xs->where, sizeof(xs->where), "%s", where);
	*ret = xs;
	return 0;
}

struct xen_xs *xen_xs_close(struct xen_xs *xs)
{
	if (xs) {
		xs_close(xs->h);
		free(xs);
	}
	return NULL;
}

/* ---- reading */

/* The connection is gone for good (libxenstore closed it). */
/*
 * The connection is gone. Once a watch is set, libxenstore reads replies on
 * a thread of its own; when that thread has seen the socket close, every
 * later request fails with EINVAL ("failed to read, or someone closed the
 * handle"), not with the socket's error. Our requests are well-formed, so
 * xenstored itself never answers them EINVAL.
 */
static bool lost(int e)
{
	return e == EBADF || e == EPIPE || e == ECONNRESET || e == EINVAL;
}

static int read_raw(struct xen_xs *xs, const char *path, char **ret)
{
	unsigned len;
	char *v = xs_read(xs->h, XBT_NULL, path, &len);

	if (!v)
		return -(errno ? errno : EIO);
	*ret = v; /* libxenstore NUL-terminates it */
	return 0;
}

int xen_xs_read(struct xen_xs *xs, const char *path, char **ret,
		struct dm_err *err)
{
	int r = read_raw(xs, path, ret);

	if (r < 0 && r != -ENOENT)
		return dm_err_set(err, -r, "xenstore: reading %s: %s", path,
				  strerror(-r));
	return r;
}

/* The children of @path: 0 and an array (one free()), -errno. */
static int list_raw(struct xen_xs *xs, const char *path, char ***ret,
		    unsigned *ret_n)
{
	char **v = xs_directory(xs->h, XBT_NULL, path, ret_n);

	if (!v)
		return -(errno ? errno : EIO);
	*ret = v;
	return 0;
}

static bool parse_uint(const char *s, unsigned long max, unsigned *ret)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*ret = (unsigned)v;
	return true;
}

/* A domain id: below DOMID_FIRST_RESERVED. */
static bool parse_domid(const char *s, unsigned *ret)
{
	return parse_uint(s, 0x7fef, ret);
}

/* 1 when /local/domain/<domid> exists (named @name, if not NULL), 0, -errno */
static int domain_alive(struct xen_xs *xs, unsigned domid, const char *name)
{
	_cleanup_free_ char *v = NULL;
	char p[64];
	int r;

	snprintf(p, sizeof(p), "/local/domain/%u/name", domid);
	r = read_raw(xs, p, &v);
	if (r == -ENOENT) {
		if (name)
			return 0;
		snprintf(p, sizeof(p), "/local/domain/%u", domid);
		r = read_raw(xs, p, &v);
		if (r == -ENOENT)
			return 0;
		return r < 0 ? r : 1;
	}
	if (r < 0)
		return r;
	return !name || strcmp(v, name) == 0;
}

int xen_xs_domain_find(struct xen_xs *xs, const char *name, unsigned *ret_domid,
		       struct dm_err *err)
{
	_cleanup_free_ char **ids = NULL;
	unsigned n = 0;
	int r;

	r = list_raw(xs, "/local/domain", &ids, &n);
	if (r == -ENOENT)
		n = 0;
	else if (r < 0)
		return dm_err_set(err, -r,
				  "xenstore: listing /local/domain: %s",
				  strerror(-r));
	for (unsigned i = 0; i < n; i++) {
		_cleanup_free_ char *v = NULL;
		char p[64];
		unsigned domid;

		if (!parse_domid(ids[i], &domid))
			continue;
		snprintf(p, sizeof(p), "/local/domain/%u/name", domid);
		r = read_raw(xs, p, &v);
		if (r == -ENOENT)
			continue; /* being built or torn down */
		if (r < 0)
			return dm_err_set(err, -r, "xenstore: reading %s: %s",
					  p, strerror(-r));
		if (strcmp(v, name) == 0) {
			*ret_domid = domid;
			return 0;
		}
	}
	return dm_err_set(err, ESRCH, "%s: no running domain of that name",
			  name);
}

/* ---- waiting */

static long ms_until(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(deadline->tv_sec - now.tv_sec) * 1000 +
	       (deadline->tv_nsec - now.tv_nsec) / 1000000L;
}

#define TOKEN_KEY "domufs-key"
#define TOKEN_RELEASE "domufs-release"

/*
 * With no event, the state is looked at again this often anyway: a daemon
 * that goes away does not wake the watch pipe.
 */
#define RECHECK_MS 1000

int xen_xs_wait_key(struct xen_xs *xs, unsigned domid, const char *name,
		    const char *key, long timeout_ms, xen_xs_accept_fn accept,
		    void *ctx, char **ret_value, struct dm_err *err)
{
	struct timespec deadline;
	char path[1024];
	int fd, r;

	if ((size_t)snprintf(path, sizeof(path), "/local/domain/%u/%s", domid,
			     key) >= sizeof(path))
		return dm_err_set(err, ENAMETOOLONG, "%s: key name too long",
				  key);
	if (timeout_ms >= 0)
		deadline_after(&deadline, timeout_ms);
	fd = xs_fileno(xs->h);
	if (fd < 0)
		return dm_err_set(err, errno, "xenstore: %s", strerror(errno));
	if (!xs_watch(xs->h, path, TOKEN_KEY) ||
	    !xs_watch(xs->h, "@releaseDomain", TOKEN_RELEASE))
		return dm_err_set(err, errno, "xenstore: watching %s: %s", path,
				  strerror(errno));
	/* the watches fire once on registration; the loop reads anyway */
	for (;;) {
		_cleanup_free_ char *v = NULL;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long wait_ms = RECHECK_MS;
		char **ev;

		r = read_raw(xs, path, &v);
		if (r < 0 && r != -ENOENT)
			break;
		if (accept(ctx, r == 0 ? v : NULL)) {
			*ret_value = TAKE_PTR(v);
			r = 0;
			break;
		}
		r = domain_alive(xs, domid, name);
		if (r < 0)
			break;
		if (r == 0) {
			r = dm_err_set(err, ESRCH, "%s: the domain went away",
				       name);
			goto out;
		}
		if (timeout_ms >= 0) {
			long left = ms_until(&deadline);

			if (left <= 0) {
				r = dm_err_set(err, ETIMEDOUT,
					       "%s: timed out waiting for %s",
					       name, path);
				goto out;
			}
			if (left < wait_ms)
				wait_ms = left;
		}
		if (poll(&pfd, 1, (int)wait_ms) < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		/* drain: the events only say "look again" */
		while ((ev = xs_check_watch(xs->h)))
			free(ev);
	}
	if (r < 0) {
		if (lost(-r))
			r = dm_err_set(err, ECONNRESET,
				       "xenstore at %s went away while "
				       "waiting for %s",
				       xs->where, path);
		else
			r = dm_err_set(err, -r, "xenstore: reading %s: %s",
				       path, strerror(-r));
	}
out:
	xs_unwatch(xs->h, path, TOKEN_KEY);
	xs_unwatch(xs->h, "@releaseDomain", TOKEN_RELEASE);
	return r;
}

/* ---- disks of running domains */

/* What the target is, in every spelling a backend may use. */
struct target_id {
	const char *path;
	char real[PATH_MAX]; /* "" when it cannot be resolved */
	struct stat st;
	bool have_st;
	struct stat backing; /* a loop device's backing file */
	bool have_backing;
};

static void target_id_init(struct target_id *t, const char *path)
{
	memset(t, 0, sizeof(*t));
	t->path = path;
	if (!realpath(path, t->real))
		t->real[0] = '\0';
	t->have_st = stat(path, &t->st) == 0;
	if (t->have_st && S_ISBLK(t->st.st_mode))
		t->have_backing = dm_loop_backing(t->st.st_rdev, &t->backing);
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return S_ISREG(a->st_mode) && S_ISREG(b->st_mode) &&
	       a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* True when the block device @rdev is the target (or backs it). */
static bool match_rdev(const struct target_id *t, dev_t rdev)
{
	struct stat bst;

	if (!t->have_st)
		return false;
	if (S_ISBLK(t->st.st_mode))
		return t->st.st_rdev == rdev;
	return S_ISREG(t->st.st_mode) && dm_loop_backing(rdev, &bst) &&
	       same_file(&bst, &t->st);
}

/* True when @spec (a backend's `params`, "aio:/x" or "/x") is the target. */
static bool match_path(const struct target_id *t, const char *spec)
{
	char real[PATH_MAX];
	const char *p = spec, *c;
	struct stat st;

	/* "phy:", "aio:", "tap:aio:", "raw:" ... before the path */
	while (*p != '/' && (c = strchr(p, ':')))
		p = c + 1;
	if (!*p)
		return false;
	if (strcmp(p, t->path) == 0)
		return true;
	if (t->real[0] && realpath(p, real) && strcmp(real, t->real) == 0)
		return true;
	if (!t->have_st || stat(p, &st) < 0)
		return false;
	if (S_ISBLK(st.st_mode))
		return match_rdev(t, st.st_rdev);
	return same_file(&st, &t->st) ||
	       (t->have_backing && same_file(&st, &t->backing));
}

/* `physical-device` as blkback writes it: "fe:0", hex major:minor. */
static bool parse_physdev(const char *s, dev_t *ret)
{
	unsigned maj, mnr;
	char tail;

	if (sscanf(s, "%x:%x%c", &maj, &mnr, &tail) != 2)
		return false;
	*ret = makedev(maj, mnr);
	return true;
}

/* 1 when the backend device at @dir uses the target, 0, -errno. */
static int backend_uses(struct xen_xs *xs, const char *dir,
			const struct target_id *t)
{
	static const char *const path_keys[] = { "params",
						 "physical-device-path" };
	_cleanup_free_ char *pd = NULL;
	char p[384];
	dev_t rdev;
	int r;

	for (size_t i = 0; i < DM_ARRAY_SIZE(path_keys); i++) {
		_cleanup_free_ char *v = NULL;

		snprintf(p, sizeof(p), "%s/%s", dir, path_keys[i]);
		r = read_raw(xs, p, &v);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return r;
		if (match_path(t, v))
			return 1;
	}
	snprintf(p, sizeof(p), "%s/physical-device", dir);
	r = read_raw(xs, p, &pd);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	return parse_physdev(pd, &rdev) && match_rdev(t, rdev);
}

static int add_user(struct xen_disk_user **users, size_t *n, unsigned domid,
		    const char *name, const char *backend, unsigned devid)
{
	struct xen_disk_user *u = realloc(*users, (*n + 1) * sizeof(**users));

	if (!u)
		return -ENOMEM;
	*users = u;
	u += (*n)++;
	memset(u, 0, sizeof(*u));
	u->domid = domid;
	snprintf(u->name, sizeof(u->name), "%s", name);
	snprintf(u->backend, sizeof(u->backend), "%s", backend);
	u->devid = devid;
	return 0;
}

/* The devices of one domain under one backend type; adds the users. */
static int scan_domain(struct xen_xs *xs, const char *type, unsigned domid,
		       const struct target_id *t, struct xen_disk_user **users,
		       size_t *n)
{
	_cleanup_free_ char **devs = NULL;
	_cleanup_free_ char *name = NULL;
	unsigned ndevs = 0;
	char dir[256];
	int r;

	r = domain_alive(xs, domid, NULL);
	if (r <= 0)
		return r; /* a stale backend of a domain that is gone */
	snprintf(dir, sizeof(dir), "/local/domain/0/backend/%s/%u", type,
		 domid);
	r = list_raw(xs, dir, &devs, &ndevs);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	for (unsigned i = 0; i < ndevs; i++) {
		char ddir[320];
		unsigned devid;

		if (!parse_uint(devs[i], UINT32_MAX, &devid))
			continue;
		snprintf(ddir, sizeof(ddir), "%s/%u", dir, devid);
		r = backend_uses(xs, ddir, t);
		if (r < 0)
			return r;
		if (r == 0)
			continue;
		if (!name) {
			char p[64];

			snprintf(p, sizeof(p), "/local/domain/%u/name", domid);
			r = read_raw(xs, p, &name);
			if (r == -ENOENT)
				name = strdup("");
			else if (r < 0)
				return r;
			if (!name)
				return -ENOMEM;
		}
		r = add_user(users, n, domid, name, type, devid);
		if (r < 0)
			return r;
	}
	return 0;
}

int xen_xs_disk_users(struct xen_xs *xs, const char *target,
		      struct xen_disk_user **ret, struct dm_err *err)
{
	static const char *const types[] = { "vbd", "vbd3", "qdisk" };
	struct xen_disk_user *users = NULL;
	struct target_id t;
	size_t n = 0;
	int r = 0;

	target_id_init(&t, target);
	for (size_t i = 0; r >= 0 && i < DM_ARRAY_SIZE(types); i++) {
		_cleanup_free_ char **doms = NULL;
		unsigned ndoms = 0;
		char dir[64];

		snprintf(dir, sizeof(dir), "/local/domain/0/backend/%s",
			 types[i]);
		r = list_raw(xs, dir, &doms, &ndoms);
		if (r == -ENOENT) {
			r = 0;
			continue;
		}
		for (unsigned j = 0; r >= 0 && j < ndoms; j++) {
			unsigned domid;

			if (parse_domid(doms[j], &domid))
				r = scan_domain(xs, types[i], domid, &t, &users,
						&n);
		}
	}
	if (r < 0) {
		free(users);
		if (lost(-r))
			return dm_err_set(err, ECONNRESET,
					  "%s: xenstore at %s went away while "
					  "looking for domains using it",
					  target, xs->where);
		return dm_err_set(err, -r,
				  "%s: looking for domains using it in "
				  "xenstore: %s",
				  target, strerror(-r));
	}
	*ret = users;
	return (int)n;
}

struct check {
	char *target;
	struct dm_err err;
};

static int check_run(void *arg)
{
	struct check *c = arg;
	_cleanup_free_ struct xen_disk_user *users = NULL;
	struct dm_err e = { 0 };
	struct xen_xs *xs = NULL;
	int r;

	r = xen_xs_open(&xs, &e);
	if (xen_xs_absent(r))
		return 0; /* not a Xen dom0: no domain can have it */
	if (r < 0)
		return dm_err_set(&c->err, -r,
				  "%s: cannot check whether a running Xen "
				  "domain has it attached: %s; refusing to "
				  "write",
				  c->target, e.msg);
	r = xen_xs_disk_users(xs, c->target, &users, &c->err);
	xen_xs_close(xs);
	if (r <= 0)
		return r;
	if (users[0].name[0])
		return dm_err_set(&c->err, EBUSY,
				  "%s: attached to running domain %s (id %u, "
				  "%s %u); refusing to write",
				  c->target, users[0].name, users[0].domid,
				  users[0].backend, users[0].devid);
	return dm_err_set(&c->err, EBUSY,
			  "%s: attached to running domain %u (%s %u); "
			  "refusing to write",
			  c->target, users[0].domid, users[0].backend,
			  users[0].devid);
}

static void check_free(void *arg)
{
	struct check *c = arg;

	free(c->target);
	free(c);
}

int xen_xs_check_target(const char *target, struct dm_err *err)
{
	struct check *c = calloc(1, sizeof(*c));
	int r, res;

	if (!c || !(c->target = strdup(target))) {
		free(c);
		return dm_err_set(err, ENOMEM, "%s: %s", target,
				  strerror(ENOMEM));
	}
	/* every request bounded: a xenstored that stops answering midway */
	r = run_bounded(XEN_XS_CHECK_TIMEOUT_MS, check_run, c, check_free,
			&res);
	if (r == -ETIMEDOUT)
		return dm_err_set(err, ETIMEDOUT,
				  "%s: cannot check whether a running Xen "
				  "domain has it attached: xenstore stopped "
				  "answering (waited %d s); refusing to write",
				  target, XEN_XS_CHECK_TIMEOUT_MS / 1000);
	if (r < 0) {
		check_free(c);
		return dm_err_set(err, -r, "%s: %s", target, strerror(-r));
	}
	if (res < 0)
		*err = c->err;
	check_free(c);
	return res;
}
