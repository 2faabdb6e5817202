// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Tests for fusefs/loop.h, the request loop, on a real mount (root and
 * /dev/fuse: skipped without them). A small file system of its own: every
 * name looks up as a file (nothing cached, so each stat() is a request),
 * LOOKUP is quick; SETXATTR is not, and waits in the handler until the test
 * lets it go.
 */
#define FUSE_USE_VERSION 314
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "fusefs/loop.h"

#define WORKERS 4
#define SLOW 3 /* slow requests at once: fewer than the workers */
#define SEEN 8 /* lookup threads told apart (more is a failure anyway) */

struct fs {
	struct fuse_session *se;
	pthread_t loop;
	int loop_result;
	char dir[64];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned in_slow; /* SETXATTR handlers waiting now */
	bool release; /* let them go */
	pthread_t lookup_threads[SEEN]; /* threads that served LOOKUPs */
	unsigned nlookup_threads;
	atomic_uint lookups;
};

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fuse_entry_param e = { 0 };
	pthread_t self = pthread_self();
	bool seen = false;

	(void)parent;
	pthread_mutex_lock(&fs->lock);
	for (unsigned i = 0; i < fs->nlookup_threads; i++)
		seen = seen || pthread_equal(fs->lookup_threads[i], self);
	if (!seen && fs->nlookup_threads < SEEN)
		fs->lookup_threads[fs->nlookup_threads++] = self;
	pthread_mutex_unlock(&fs->lock);
	atomic_fetch_add(&fs->lookups, 1);
	e.ino = 2;
	for (const char *c = name; *c; c++) /* a node per name */
		e.ino = e.ino * 131 + (unsigned char)*c;
	e.attr.st_ino = e.ino;
	e.attr.st_mode = S_IFREG | 0644;
	e.attr.st_nlink = 1;
	fuse_reply_entry(req, &e);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct stat st = { .st_ino = ino, .st_nlink = 1 };

	(void)fi;
	st.st_mode = ino == FUSE_ROOT_ID ? S_IFDIR | 0755 : S_IFREG | 0644;
	fuse_reply_attr(req, &st, 0);
}

static void fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	struct fs *fs = fuse_req_userdata(req);

	(void)ino, (void)name, (void)value, (void)size, (void)flags;
	pthread_mutex_lock(&fs->lock);
	fs->in_slow++;
	pthread_cond_broadcast(&fs->cond);
	while (!fs->release)
		pthread_cond_wait(&fs->cond, &fs->lock);
	fs->in_slow--;
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_err(req, 0);
}

static const struct fuse_lowlevel_ops ops = {
	.lookup = fs_lookup,
	.getattr = fs_getattr,
	.setxattr = fs_setxattr,
};

static bool quick(void *arg, const void *in, size_t len)
{
	const struct fuse_in_header *h = in;

	(void)arg;
	return len >= sizeof(*h) &&
	       (h->opcode == FUSE_LOOKUP || h->opcode == FUSE_GETATTR);
}

static void *run_loop(void *arg)
{
	struct fs *fs = arg;
	const struct fll_loop_hooks hooks = { .quick = quick, .arg = fs };

	fs->loop_result = fll_loop(fs->se, WORKERS, 0, &hooks);
	return NULL;
}

static int setup(void **state)
{
	char *argv[] = { "test-loop", "-o", "fsname=test-loop", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	struct fs *fs;

	if (geteuid() != 0 || access("/dev/fuse", R_OK | W_OK) != 0) {
		*state = NULL;
		return 0;
	}
	fs = calloc(1, sizeof(*fs));
	assert_non_null(fs);
	pthread_mutex_init(&fs->lock, NULL);
	pthread_cond_init(&fs->cond, NULL);
	snprintf(fs->dir, sizeof(fs->dir), "/tmp/test-loop.XXXXXX");
	assert_non_null(mkdtemp(fs->dir));
	fs->se = fuse_session_new(&args, &ops, sizeof(ops), fs);
	fuse_opt_free_args(&args);
	assert_non_null(fs->se);
	assert_int_equal(fuse_session_mount(fs->se, fs->dir), 0);
	assert_int_equal(pthread_create(&fs->loop, NULL, run_loop, fs), 0);
	*state = fs;
	return 0;
}

static int teardown(void **state)
{
	struct fs *fs = *state;
	int result;

	if (!fs)
		return 0;
	/*
	 * Unmounted from outside, as by fusermount3 -u: the session ends and
	 * the loop returns (fuse_session_unmount() would close the device
	 * under the workers' feet).
	 */
	if (umount2(fs->dir, 0) != 0) {
		int e = errno;

		/* no mount left behind, whose daemon ends with this process */
		(void)umount2(fs->dir, MNT_DETACH);
		rmdir(fs->dir);
		fail_msg("unmounting %s: %s", fs->dir, strerror(e));
	}
	pthread_join(fs->loop, NULL);
	result = fs->loop_result;
	fuse_session_unmount(fs->se);
	fuse_session_destroy(fs->se);
	rmdir(fs->dir);
	free(fs);
	assert_int_equal(result, 0);
	return 0;
}

static void stat_name(struct fs *fs, unsigned i)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof(path), "%s/n%u", fs->dir, i);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
}

struct slow {
	struct fs *fs;
	pthread_t thread;
	unsigned i;
};

/* Of a file of its own: the kernel lets one SETXATTR per inode at a time. */
static void *slow_request(void *arg)
{
	struct slow *s = arg;
	char path[128];

	snprintf(path, sizeof(path), "%s/s%u", s->fs->dir, s->i);
	return (void *)(intptr_t)(setxattr(path, "user.t", "v", 1, 0) == 0 ?
					  0 :
					  errno);
}

/* Waits (up to 10 s) until @n SETXATTR handlers wait at once. */
static bool slow_in_handlers(struct fs *fs, unsigned n)
{
	struct timespec until;
	bool ok = true;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&fs->lock);
	while (fs->in_slow < n && ok)
		ok = pthread_cond_timedwait(&fs->cond, &fs->lock, &until) == 0;
	ok = fs->in_slow >= n;
	pthread_mutex_unlock(&fs->lock);
	return ok;
}

static void let_slow_go(struct fs *fs)
{
	pthread_mutex_lock(&fs->lock);
	fs->release = true;
	pthread_cond_broadcast(&fs->cond);
	pthread_mutex_unlock(&fs->lock);
}

/* How many threads served LOOKUPs since the last call; starts again. */
static unsigned lookup_threads(struct fs *fs)
{
	unsigned n;

	pthread_mutex_lock(&fs->lock);
	n = fs->nlookup_threads;
	fs->nlookup_threads = 0;
	pthread_mutex_unlock(&fs->lock);
	return n;
}

/* A caller working one request at a time is served by one worker. */
static void quick_requests_served_by_one_worker(void **state)
{
	struct fs *fs = *state;

	if (!fs)
		skip();
	for (unsigned i = 0; i < 200; i++)
		stat_name(fs, i);
	assert_true(atomic_load(&fs->lookups) >= 200);
	assert_int_equal(lookup_threads(fs), 1);
}

/*
 * Requests that are not quick hand the reading over: several wait in their
 * handlers at once, and quick ones are still served meanwhile.
 */
static void slow_requests_hold_nothing_up(void **state)
{
	struct fs *fs = *state;
	struct slow t[SLOW];
	bool all_in;
	void *res;

	if (!fs)
		skip();
	for (unsigned i = 0; i < SLOW; i++) {
		t[i] = (struct slow){ .fs = fs, .i = i };
		assert_int_equal(pthread_create(&t[i].thread, NULL,
						slow_request, &t[i]),
				 0);
	}
	all_in = slow_in_handlers(fs, SLOW);
	for (unsigned i = 0; all_in && i < 50; i++)
		stat_name(fs, 1000 + i);
	let_slow_go(fs);
	for (unsigned i = 0; i < SLOW; i++) {
		assert_int_equal(pthread_join(t[i].thread, &res), 0);
		assert_int_equal((intptr_t)res, 0);
	}
	if (!all_in)
		fail_msg("fewer than %d slow requests got to their handlers",
			 SLOW);
	/* and the reader serves quick requests alone again */
	lookup_threads(fs);
	for (unsigned i = 0; i < 100; i++)
		stat_name(fs, 2000 + i);
	assert_int_equal(lookup_threads(fs), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			quick_requests_served_by_one_worker, setup, teardown),
		cmocka_unit_test_setup_teardown(slow_requests_hold_nothing_up,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
