// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for overlay/view.c over an in-memory layer: inode numbering,
 * directory handles and their offsets, read-only refusals.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "overlay/view.h"

/* root(0) { a(1) file "hello", b(2) dir { c(3) -> a } } */
struct mnode {
	const char *name;
	mode_t mode;
	uint32_t parent;
	const char *data;
};

static const struct mnode mem[] = {
	{ "", S_IFDIR | 0755, 0, NULL },
	{ "a", S_IFREG | 0644, 0, "hello" },
	{ "b", S_IFDIR | 0700, 0, NULL },
	{ "c", S_IFLNK | 0777, 2, "../a" },
};

static int m_lookup(void *l, uint32_t dir, const char *name, size_t len,
		    uint32_t *ret)
{
	for (uint32_t i = 1; i < 4; i++)
		if (mem[i].parent == dir && strlen(mem[i].name) == len &&
		    !memcmp(mem[i].name, name, len)) {
			*ret = i;
			return 0;
		}
	return -ENOENT;
}

static int m_getattr(void *l, uint32_t id, struct stat *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->st_mode = mem[id].mode;
	ret->st_size = mem[id].data ? (off_t)strlen(mem[id].data) : 0;
	ret->st_nlink = 1;
	return 0;
}

static int64_t m_dir_count(void *l, uint32_t dir)
{
	int64_t n = 0;

	if (!S_ISDIR(mem[dir].mode))
		return -ENOTDIR;
	for (uint32_t i = 1; i < 4; i++)
		n += mem[i].parent == dir;
	return n;
}

static int m_dir_entry(void *l, uint32_t dir, uint64_t k, const char **name,
		       size_t *len, uint32_t *ret)
{
	for (uint32_t i = 1; i < 4; i++)
		if (mem[i].parent == dir && k-- == 0) {
			*name = mem[i].name;
			*len = strlen(mem[i].name);
			*ret = i;
			return 0;
		}
	return -ENOENT;
}

static uint32_t m_dir_parent(void *l, uint32_t dir)
{
	return mem[dir].parent;
}

static int m_readlink(void *l, uint32_t id, const char **ret, size_t *len)
{
	if (!S_ISLNK(mem[id].mode))
		return -EINVAL;
	*ret = mem[id].data;
	*len = strlen(mem[id].data);
	return 0;
}

static ssize_t m_read(void *l, uint32_t id, void *buf, size_t size,
		      uint64_t off)
{
	size_t len = strlen(mem[id].data);

	if (off >= len)
		return 0;
	if (size > len - off)
		size = len - off;
	memcpy(buf, mem[id].data + off, size);
	return (ssize_t)size;
}

static const struct ovl_layer_ops mem_ops = {
	.lookup = m_lookup,
	.getattr = m_getattr,
	.dir_count = m_dir_count,
	.dir_entry = m_dir_entry,
	.dir_parent = m_dir_parent,
	.readlink = m_readlink,
	.read = m_read,
};

static struct ovl_view *new_view(void)
{
	struct ovl_layer l = { .ops = &mem_ops, .nodes = 4 };
	struct ovl_view *v = NULL;

	assert_int_equal(ovl_view_new(&l, NULL, &v, NULL), 0);
	return v;
}

static void root_is_inode_one_and_ids_map_stably(void **state)
{
	struct ovl_view *v = new_view();
	struct stat st;

	assert_int_equal(ovl_view_getattr(v, OVL_ROOT_INO, &st), 0);
	assert_int_equal(st.st_ino, 1);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(ovl_view_lookup(v, OVL_ROOT_INO, "b", &st), 0);
	assert_int_equal(st.st_ino, 3);
	assert_int_equal(ovl_view_lookup(v, 3, "c", &st), 0);
	assert_int_equal(st.st_ino, 4);
	assert_int_equal(ovl_view_lookup(v, 3, "..", &st), 0);
	assert_int_equal(st.st_ino, 1);
	assert_int_equal(ovl_view_lookup(v, OVL_ROOT_INO, "zz", &st), -ENOENT);
	assert_int_equal(ovl_view_getattr(v, 99, &st), -ESTALE);
	ovl_view_free(v);
}

static void directory_handle_lists_dots_first(void **state)
{
	struct ovl_view *v = new_view();
	struct ovl_dir *d;
	const char *name;
	struct stat st;

	assert_int_equal(ovl_view_opendir(v, OVL_ROOT_INO, &d), 0);
	assert_int_equal(ovl_dir_count(d), 4);
	assert_int_equal(ovl_dir_entry(d, 0, &name, &st), 0);
	assert_string_equal(name, ".");
	assert_int_equal(ovl_dir_entry(d, 1, &name, &st), 0);
	assert_string_equal(name, "..");
	assert_int_equal(ovl_dir_entry(d, 3, &name, &st), 0);
	assert_string_equal(name, "b");
	assert_int_equal(st.st_ino, 3);
	assert_int_equal(ovl_dir_entry(d, 4, &name, &st), -ENOENT);
	ovl_dir_close(d);
	assert_int_equal(ovl_view_opendir(v, 2, &d), -ENOTDIR);
	ovl_view_free(v);
}

static void readonly_view_refuses_writes(void **state)
{
	struct ovl_view *v = new_view();
	char buf[16];

	assert_true(ovl_view_readonly(v));
	struct ovl_file *f = NULL;
	struct ovl_cred cred = { 0, 0 };
	struct stat st;

	assert_int_equal(ovl_view_open(v, 2, O_RDONLY, &f), 0);
	assert_int_equal(ovl_file_read(f, buf, sizeof(buf), 0), 5);
	assert_int_equal(ovl_file_write(f, "x", 1, 0), -EBADF);
	ovl_file_close(f);
	assert_int_equal(ovl_view_open(v, 2, O_WRONLY, &f), -EROFS);
	assert_int_equal(ovl_view_open(v, 2, O_RDWR, &f), -EROFS);
	assert_int_equal(ovl_view_open(v, 2, O_RDONLY | O_TRUNC, &f), -EROFS);
	assert_int_equal(ovl_view_mkdir(v, &cred, 1, "d", 0755, &st), -EROFS);
	assert_int_equal(ovl_view_unlink(v, 1, "a"), -EROFS);
	assert_int_equal(ovl_view_read(v, 2, buf, sizeof(buf), 1), 4);
	assert_memory_equal(buf, "ello", 4);
	assert_int_equal(ovl_view_readlink(v, 4, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "../a", 4);
	ovl_view_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(root_is_inode_one_and_ids_map_stably),
		cmocka_unit_test(directory_handle_lists_dots_first),
		cmocka_unit_test(readonly_view_refuses_writes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
