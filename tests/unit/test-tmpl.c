// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for templates/: archives written at test time with libarchive's
 * writer (this is the template module's own test), indexed into a fresh
 * cache directory, then queried through tmpl.h.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <cmocka.h>

#include "templates/tmpl.h"

struct member {
	const char *path;
	unsigned mode; /* with type bits; 0 ends the list */
	const char *data;
	const char *link; /* symlink target */
	const char *hardlink; /* hardlink target */
	unsigned rmajor, rminor;
	const char *xattr_name, *xattr_value;
	const char *acl_text;
	int64_t sparse_size; /* > 0: data at offset sparse_size/2 */
};

struct fixture {
	char dir[256];
	char cache[300];
	char tar[300];
	char warnings[4096];
	int nwarn;
};

static int rm_cb(const char *p, const struct stat *st, int flag,
		 struct FTW *ftw)
{
	return remove(p);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/domufs-unit-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->cache, sizeof(f->cache), "%s/cache", f->dir);
	snprintf(f->tar, sizeof(f->tar), "%s/t.tar", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void collect_warning(void *ctx, const char *msg)
{
	struct fixture *f = ctx;
	size_t used = strlen(f->warnings);

	snprintf(f->warnings + used, sizeof(f->warnings) - used, "%s\n", msg);
	f->nwarn++;
}

static void write_tar(const char *path, int filter, const struct member *m)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();

	archive_write_set_format_pax(a);
	if (filter == ARCHIVE_FILTER_GZIP)
		archive_write_add_filter_gzip(a);
	else if (filter == ARCHIVE_FILTER_ZSTD)
		archive_write_add_filter_zstd(a);
	assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (; m->mode; m++) {
		size_t len = m->data ? strlen(m->data) : 0;

		archive_entry_clear(e);
		archive_entry_set_pathname(e, m->path);
		archive_entry_set_mode(e, m->mode);
		archive_entry_set_uid(e, 1000);
		archive_entry_set_gid(e, 100);
		archive_entry_set_mtime(e, 1700000000, 123456789);
		if (m->link)
			archive_entry_set_symlink(e, m->link);
		if (m->hardlink)
			archive_entry_set_hardlink(e, m->hardlink);
		if (m->rmajor || m->rminor) {
			archive_entry_set_rdevmajor(e, m->rmajor);
			archive_entry_set_rdevminor(e, m->rminor);
		}
		if (m->xattr_name)
			archive_entry_xattr_add_entry(e, m->xattr_name,
						      m->xattr_value,
						      strlen(m->xattr_value));
		if (m->acl_text)
			assert_int_equal(archive_entry_acl_from_text(
						 e, m->acl_text,
						 ARCHIVE_ENTRY_ACL_TYPE_ACCESS),
					 ARCHIVE_OK);
		if (m->sparse_size) {
			archive_entry_set_size(e, m->sparse_size);
			archive_entry_sparse_add_entry(e, m->sparse_size / 2,
						       (la_int64_t)len);
		} else if (S_ISREG(m->mode) && !m->hardlink) {
			archive_entry_set_size(e, (la_int64_t)len);
		}
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		if (m->sparse_size) {
			/* the writer takes the logical content, skips holes */
			char *full = calloc(1, (size_t)m->sparse_size);

			memcpy(full + m->sparse_size / 2, m->data, len);
			assert_int_equal(
				archive_write_data(a, full,
						   (size_t)m->sparse_size),
				m->sparse_size);
			free(full);
		} else if (len && !m->hardlink) {
			assert_int_equal(archive_write_data(a, m->data, len),
					 (la_ssize_t)len);
		}
	}
	archive_entry_free(e);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

static struct tmpl_index *open_idx(struct fixture *f, unsigned flags,
				   struct dm_err *err)
{
	struct tmpl_open_opts o = {
		.cache_dir = f->cache,
		.flags = flags,
		.warn = collect_warning,
		.warn_ctx = f,
	};
	struct tmpl_index *idx = NULL;
	int r = tmpl_index_open(f->tar, &o, &idx, err);

	if (r < 0)
		return NULL;
	return idx;
}

static uint32_t walk(struct tmpl_index *idx, const char *path)
{
	char buf[512];
	uint32_t id = TMPL_ROOT_ID;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *save, *c = strtok_r(buf, "/", &save); c;
	     c = strtok_r(NULL, "/", &save))
		if (tmpl_dir_lookup(idx, id, c, strlen(c), &id) < 0)
			return UINT32_MAX;
	return id;
}

static const struct member basic[] = {
	{ "./", S_IFDIR | 0755 },
	{ "./etc/", S_IFDIR | 0755 },
	{ "./etc/hostname", S_IFREG | 0644, "old\n" },
	{ "./etc/motd", S_IFREG | 04755, "hello world\n",
	  .xattr_name = "user.note", .xattr_value = "v1" },
	{ "./etc/hostname", S_IFREG | 0600, "new name\n" },
	{ "./etc/link", S_IFLNK | 0777, .link = "../../../etc/shadow" },
	{ "./etc/hard", S_IFREG | 0644, .hardlink = "./etc/motd" },
	{ "./dev/null", S_IFCHR | 0666, .rmajor = 1, .rminor = 3 },
	{ "./deep/er/file", S_IFREG | 0644, "x" },
	{ "./acl", S_IFREG | 0640, "a",
	  .acl_text =
		  "user::rw-,user:1234:rwx,group::r--,mask::rwx,other::---" },
	{ "./sparse", S_IFREG | 0644, "DATA", .sparse_size = 1 << 20 },
	{ 0 },
};

static void last_member_wins(void **state)
{
	struct fixture *f = *state;
	struct dm_err err = { 0 };
	struct tmpl_index *idx;
	char buf[64];
	struct stat st;
	uint32_t id;

	write_tar(f->tar, ARCHIVE_FILTER_NONE, basic);
	idx = open_idx(f, 0, &err);
	assert_non_null(idx);
	id = walk(idx, "etc/hostname");
	assert_int_not_equal(id, UINT32_MAX);
	assert_int_equal(tmpl_node_stat(idx, id, &st), 0);
	assert_int_equal(st.st_mode, S_IFREG | 0600);
	assert_int_equal(st.st_size, 9);
	assert_int_equal(tmpl_node_read(idx, id, buf, sizeof(buf), 0), 9);
	assert_memory_equal(buf, "new name\n", 9);
	assert_int_equal(tmpl_dir_count(idx, walk(idx, "etc")), 4);
	tmpl_index_free(idx);
}

static void hardlinks_share_one_node(void **state)
{
	struct fixture *f = *state;
	struct dm_err err = { 0 };
	struct tmpl_index *idx;
	struct stat st;
	char v[8];

	write_tar(f->tar, ARCHIVE_FILTER_ZSTD, basic);
	idx = open_idx(f, 0, &err);
	assert_non_null(idx);
	assert_int_equal(walk(idx, "etc/hard"), walk(idx, "etc/motd"));
	assert_int_equal(tmpl_node_stat(idx, walk(idx, "etc/hard"), &st), 0);
	assert_int_equal(st.st_nlink, 2);
	assert_int_equal(st.st_mode, S_IFREG | 04755);
	assert_int_equal(st.st_mtim.tv_nsec, 123456789);
	assert_int_equal(tmpl_node_getxattr(idx, walk(idx, "etc/hard"),
					    "user.note", v, sizeof(v)),
			 2);
	assert_memory_equal(v, "v1", 2);
	tmpl_index_free(idx);
}

static void symlinks_and_devices_keep_their_data(void **state)
{
	struct fixture *f = *state;
	struct dm_err err = { 0 };
	struct tmpl_index *idx;
	const char *t;
	size_t len;
	struct stat st;

	write_tar(f->tar, ARCHIVE_FILTER_GZIP, basic);
	idx = open_idx(f, 0, &err);
	assert_non_null(idx);
	assert_int_equal(
		tmpl_node_readlink(idx, walk(idx, "etc/link"), &t, &len), 0);
	assert_string_equal(t, "../../../etc/shadow");
	assert_int_equal(tmpl_node_stat(idx, walk(idx, "dev/null"), &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(major(st.st_rdev), 1);
	assert_int_equal(minor(st.st_rdev), 3);
	/* implicit parents exist and are directories */
	assert_int_equal(tmpl_node_stat(idx, walk(idx, "deep/er"), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(tmpl_dir_parent(idx, walk(idx, "deep/er")),
			 walk(idx, "deep"));
	tmpl_index_free(idx);
}

static void acl_becomes_posix_acl_xattr(void **state)
{
	struct fixture *f = *state;
	struct dm_err err = { 0 };
	struct tmpl_index *idx;
	unsigned char v[64];
	char names[256];
	ssize_t n;
	uint16_t tag, perm;
	uint32_t id;

	write_tar(f->tar, ARCHIVE_FILTER_NONE, basic);
	idx = open_idx(f, 0, &err);
	assert_non_null(idx);
	n = tmpl_node_getxattr(idx, walk(idx, "acl"), "system.posix_acl_access",
			       v, sizeof(v));
	/* version + user_obj, user:1234, group_obj, mask, other */
	assert_int_equal(n, 4 + 5 * 8);
	memcpy(&tag, v + 4 + 8, 2);
	memcpy(&perm, v + 4 + 8 + 2, 2);
	memcpy(&id, v + 4 + 8 + 4, 4);
	assert_int_equal(tag, 0x02);
	assert_int_equal(perm, 7);
	assert_int_equal(id, 1234);
	memcpy(&tag, v + 4 + 16, 2);
	memcpy(&perm, v + 4 + 16 + 2, 2);
	assert_int_equal(tag, 0x04); /* group_obj keeps r-- */
	assert_int_equal(perm, 4);
	n = tmpl_node_listxattr(idx, walk(idx, "acl"), names, sizeof(names));
	assert_int_equal(n, (ssize_t)sizeof("system.posix_acl_access"));
	assert_int_equal(tmpl_node_listxattr(idx, walk(idx, "acl"), names, 3),
			 -ERANGE);
	tmpl_index_free(idx);
}

static void sparse_member_keeps_holes(void **state)
{
	struct fixture *f = *state;
	int filters[] = { ARCHIVE_FILTER_NONE, ARCHIVE_FILTER_ZSTD };

	for (size_t i = 0; i < 2; i++) {
		struct dm_err err = { 0 };
		struct tmpl_index *idx;
		static char buf[1 << 20];
		int64_t pos;
		uint32_t id;

		write_tar(f->tar, filters[i], basic);
		idx = open_idx(f, 0, &err);
		assert_non_null(idx);
		id = walk(idx, "sparse");
		assert_int_equal(tmpl_node_read(idx, id, buf, sizeof(buf), 0),
				 1 << 20);
		for (size_t k = 0; k < sizeof(buf); k++)
			if (k < (1 << 19) || k >= (1 << 19) + 4)
				assert_int_equal(buf[k], 0);
		assert_memory_equal(buf + (1 << 19), "DATA", 4);
		assert_int_equal(tmpl_node_lseek(idx, id, 0, SEEK_DATA, &pos),
				 0);
		assert_int_equal(pos, 1 << 19);
		assert_int_equal(tmpl_node_lseek(idx, id, pos, SEEK_HOLE, &pos),
				 0);
		assert_int_equal(pos, (1 << 19) + 4);
		assert_int_equal(tmpl_node_lseek(idx, id, (1 << 20) - 1,
						 SEEK_DATA, &pos),
				 -ENXIO);
		tmpl_index_free(idx);
	}
}

static void hostile_names_stay_inside_with_warnings(void **state)
{
	static const struct member hostile[] = {
		{ "../escape", S_IFREG | 0644, "x" },
		{ "a/../../escape2", S_IFREG | 0644, "x" },
		{ "/etc/absolute", S_IFREG | 0644, "abs" },
		{ "hl", S_IFREG | 0644, .hardlink = "missing/member" },
		{ "hl2", S_IFREG | 0644, .hardlink = "../etc/absolute" },
		{ 0 },
	};
	struct fixture *f = *state;
	struct dm_err err = { 0 };
	struct tmpl_index *idx;
	uint32_t id;

	write_tar(f->tar, ARCHIVE_FILTER_NONE, hostile);
	idx = open_idx(f, 0, &err);
	assert_non_null(idx);
	assert_int_equal(f->nwarn, 5);
	assert_non_null(strstr(f->warnings, "'../escape'"));
	assert_non_null(strstr(f->warnings, "leading '/' removed"));
	assert_non_null(strstr(f->warnings, "missing member"));
	assert_int_equal(tmpl_dir_lookup(idx, TMPL_ROOT_ID, "..", 2, &id),
			 -ENOENT);
	assert_int_not_equal(walk(idx, "etc/absolute"), UINT32_MAX);
	assert_int_equal(walk(idx, "hl"), UINT32_MAX);
	assert_int_equal(walk(idx, "escape"), UINT32_MAX);
	assert_int_equal(walk(idx, "escape2"), UINT32_MAX);
	tmpl_index_free(idx);
}

static void truncated_archive_names_the_member(void **state)
{
	struct fixture *f = *state;
	struct dm_err err = { 0 };
	char big[20000];
	struct member m[] = {
		{ "./big", S_IFREG | 0644, big },
		{ 0 },
	};
	struct stat st;

	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	write_tar(f->tar, ARCHIVE_FILTER_GZIP, m);
	assert_int_equal(stat(f->tar, &st), 0);
	assert_int_equal(truncate(f->tar, st.st_size / 2), 0);
	assert_null(open_idx(f, 0, &err));
	assert_int_not_equal(err.code, 0);
	assert_non_null(strstr(err.msg, f->tar));
	assert_null(strchr(err.msg, '\n'));
}

static void garbage_is_refused_with_the_template_named(void **state)
{
	struct fixture *f = *state;
	struct dm_err err = { 0 };
	int fd = open(f->tar, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "this is not a tarball\n", 22), 22);
	close(fd);
	assert_null(open_idx(f, 0, &err));
	assert_non_null(strstr(err.msg, f->tar));
}

static void changed_template_is_reindexed(void **state)
{
	static const struct member v1[] = {
		{ "f", S_IFREG | 0644, "one" },
		{ 0 },
	};
	static const struct member v2[] = {
		{ "f", S_IFREG | 0644, "two!" },
		{ 0 },
	};
	struct fixture *f = *state;
	struct dm_err err = { 0 };
	struct tmpl_index *idx;
	struct tmpl_info info;
	char buf[8];

	write_tar(f->tar, ARCHIVE_FILTER_ZSTD, v1);
	idx = open_idx(f, 0, &err);
	assert_non_null(idx);
	tmpl_index_info(idx, &info);
	assert_true(info.built);
	tmpl_index_free(idx);
	idx = open_idx(f, 0, &err);
	assert_non_null(idx);
	tmpl_index_info(idx, &info);
	assert_false(info.built);
	tmpl_index_free(idx);

	write_tar(f->tar, ARCHIVE_FILTER_ZSTD, v2);
	idx = open_idx(f, 0, &err);
	assert_non_null(idx);
	tmpl_index_info(idx, &info);
	assert_true(info.built);
	assert_int_equal(tmpl_node_read(idx, walk(idx, "f"), buf, 8, 0), 4);
	assert_memory_equal(buf, "two!", 4);
	tmpl_index_free(idx);
}

static void damaged_cache_is_rebuilt(void **state)
{
	static const struct member v1[] = {
		{ "f", S_IFREG | 0644, "content" },
		{ 0 },
	};
	struct fixture *f = *state;
	struct dm_err err = { 0 };
	struct tmpl_index *idx;
	struct tmpl_info info;
	int fd;

	write_tar(f->tar, ARCHIVE_FILTER_GZIP, v1);
	idx = open_idx(f, 0, &err);
	assert_non_null(idx);
	tmpl_index_info(idx, &info);
	tmpl_index_free(idx);
	/* flip a byte past the header: only the full checksum sees it */
	fd = open(info.index_path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "\xff", 1, 300), 1);
	close(fd);
	idx = open_idx(f, 0, &err);
	assert_non_null(idx);
	tmpl_index_info(idx, &info);
	assert_true(info.built);
	tmpl_index_free(idx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(last_member_wins, setup,
						teardown),
		cmocka_unit_test_setup_teardown(hardlinks_share_one_node, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			symlinks_and_devices_keep_their_data, setup, teardown),
		cmocka_unit_test_setup_teardown(acl_becomes_posix_acl_xattr,
						setup, teardown),
		cmocka_unit_test_setup_teardown(sparse_member_keeps_holes,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			hostile_names_stay_inside_with_warnings, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			truncated_archive_names_the_member, setup, teardown),
		cmocka_unit_test_setup_teardown(
			garbage_is_refused_with_the_template_named, setup,
			teardown),
		cmocka_unit_test_setup_teardown(changed_template_is_reindexed,
						setup, teardown),
		cmocka_unit_test_setup_teardown(damaged_cache_is_rebuilt, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
