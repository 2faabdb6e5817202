// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for common/seqwriter.c: what goes in comes out in order, with
 * and without O_DIRECT, for sizes around the buffer and block boundaries;
 * with DM_SEQW_DIRECT on a disk file system the whole blocks bypass the
 * page cache (checked with mincore()).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "common/seqwriter.h"

#define BUFSZ (64u << 10)

struct fixture {
	char dir[256];
	char path[300];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *base = getenv("DOMUFS_SEQW_TESTDIR");

	if (!f)
		return -1;
	/* /var/tmp: on disk on Debian, where O_DIRECT means something */
	snprintf(f->dir, sizeof(f->dir), "%s/seqw-XXXXXX",
		 base ? base : "/var/tmp");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/data", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static unsigned char byte_at(size_t i)
{
	return (unsigned char)((i * 2654435761u) >> 13);
}

/*
 * Writes @total bytes in pieces of varying size (1 byte up to a little over
 * a buffer) after @lead bytes written directly to the fd; returns the fd.
 */
static int write_file(const char *path, size_t lead, size_t total,
		      unsigned flags)
{
	struct dm_seqw *w = NULL;
	unsigned char *src = malloc(total + 1);
	size_t pos = 0, step = 1;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_non_null(src);
	assert_true(fd >= 0);
	for (size_t i = 0; i < lead; i++) {
		unsigned char c = 0xa5;

		assert_int_equal(write(fd, &c, 1), 1);
	}
	for (size_t i = 0; i < total; i++)
		src[i] = byte_at(i);
	assert_int_equal(dm_seqw_new(fd, BUFSZ, 3, flags, &w), 0);
	while (pos < total) {
		size_t n = step < total - pos ? step : total - pos;

		assert_int_equal(dm_seqw_write(w, src + pos, n), 0);
		pos += n;
		step = step * 3 + 7;
		if (step > BUFSZ + 4096)
			step = 1;
	}
	assert_int_equal(dm_seqw_finish(w), 0);
	dm_seqw_free(w);
	free(src);
	return fd;
}

static void check_content(int fd, size_t lead, size_t total)
{
	struct stat st;
	unsigned char *got = malloc(total + 1);
	ssize_t n;

	assert_non_null(got);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal((size_t)st.st_size, lead + total);
	n = pread(fd, got, total + 1, (off_t)lead);
	assert_int_equal((size_t)n, total);
	for (size_t i = 0; i < total; i++) {
		if (got[i] != byte_at(i))
			fail_msg("byte %zu of %zu: %#x, want %#x", i, total,
				 got[i], byte_at(i));
	}
	free(got);
}

static const size_t sizes[] = {
	0,	   1,
	4095,	   4096,
	4097,	   BUFSZ - 1,
	BUFSZ,	   BUFSZ + 1,
	3 * BUFSZ, 3 * BUFSZ + 123,
	7 * BUFSZ, 10 * BUFSZ + 4096 * 3 + 5,
};

static void every_byte_arrives_in_order(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (unsigned flags = 0; flags <= DM_SEQW_DIRECT;
		     flags += DM_SEQW_DIRECT) {
			int fd = write_file(f->path, 0, sizes[i], flags);

			check_content(fd, 0, sizes[i]);
			close(fd);
		}
	}
}

/* An fd at an offset that is not block-aligned is written through the cache. */
static void unaligned_start_still_writes_everything(void **state)
{
	struct fixture *f = *state;
	int fd = write_file(f->path, 3, 5 * BUFSZ + 17, DM_SEQW_DIRECT);

	check_content(fd, 3, 5 * BUFSZ + 17);
	close(fd);
}

/* Pages of the file in the page cache, out of those of its first @len bytes. */
static size_t resident_pages(int fd, size_t len)
{
	long psz = sysconf(_SC_PAGESIZE);
	size_t pages = (len + (size_t)psz - 1) / (size_t)psz, count = 0;
	unsigned char *vec = malloc(pages);
	void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);

	assert_non_null(vec);
	assert_true(map != MAP_FAILED);
	assert_int_equal(mincore(map, len, vec), 0);
	for (size_t i = 0; i < pages; i++)
		count += vec[i] & 1;
	munmap(map, len);
	free(vec);
	return count;
}

static void direct_writes_leave_the_page_cache_alone(void **state)
{
	struct fixture *f = *state;
	size_t total = 8 * BUFSZ, whole = total / 4096;
	struct statfs sfs;
	int fd;

	assert_int_equal(statfs(f->dir, &sfs), 0);
	if (sfs.f_type != EXT4_SUPER_MAGIC && sfs.f_type != XFS_SUPER_MAGIC &&
	    sfs.f_type != BTRFS_SUPER_MAGIC) {
		/* tmpfs keeps every page in memory whatever the flag says */
		skip();
	}
	fd = write_file(f->path, 0, total, 0);
	assert_int_equal(resident_pages(fd, total), whole);
	close(fd);
	unlink(f->path);
	fd = write_file(f->path, 0, total, DM_SEQW_DIRECT);
	assert_int_equal(resident_pages(fd, total), 0);
	close(fd);
}

static void bad_arguments_are_refused(void **state)
{
	struct dm_seqw *w = NULL;

	assert_int_equal(dm_seqw_new(1, 4096, 1, 0, &w), -EINVAL);
	assert_int_equal(dm_seqw_new(1, 0, 2, 0, &w), -EINVAL);
	assert_int_equal(dm_seqw_new(1, 4097, 2, 0, &w), -EINVAL);
	assert_null(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(every_byte_arrives_in_order,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			unaligned_start_still_writes_everything, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			direct_writes_leave_the_page_cache_alone, setup,
			teardown),
		cmocka_unit_test(bad_arguments_are_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
