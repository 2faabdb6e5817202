// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer target for the template indexer: each input is a template
 * (any compression), indexed into a scratch cache and, when that succeeds,
 * walked through every query the mount makes. Inputs must never crash,
 * hang or leak, whatever they contain.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "templates/tmpl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char cache_dir[64];

static void clear_cache(void)
{
	DIR *d = opendir(cache_dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' || strlen(e->d_name) > 2)
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
}

static void walk(struct tmpl_index *idx)
{
	uint32_t n = tmpl_index_nodes(idx);
	char buf[4096];

	for (uint32_t id = 0; id < n; id++) {
		struct stat st;
		int64_t cnt = tmpl_dir_count(idx, id);
		const char *name;
		size_t len;
		uint32_t kid;
		int64_t pos;

		tmpl_node_stat(idx, id, &st);
		for (int64_t i = 0; i < cnt; i++)
			if (tmpl_dir_entry(idx, id, (uint64_t)i, &name, &len,
					   &kid) == 0)
				tmpl_dir_lookup(idx, id, name, len, &kid);
		tmpl_node_readlink(idx, id, &name, &len);
		tmpl_node_read(idx, id, buf, sizeof(buf), 0);
		tmpl_node_lseek(idx, id, 0, SEEK_DATA, &pos);
		tmpl_node_lseek(idx, id, 0, SEEK_HOLE, &pos);
		if (tmpl_node_listxattr(idx, id, buf, sizeof(buf)) > 0)
			tmpl_node_getxattr(idx, id, buf, buf + 256,
					   sizeof(buf) - 256);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tmpl_open_opts o = { .cache_dir = cache_dir };
	struct tmpl_index *idx = NULL;
	struct dm_err err = { 0 };
	char path[64];
	int fd;

	if (!cache_dir[0]) {
		snprintf(cache_dir, sizeof(cache_dir),
			 "/tmp/domufs-fuzz-XXXXXX");
		if (!mkdtemp(cache_dir))
			abort();
	}
	fd = memfd_create("template", MFD_CLOEXEC);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (tmpl_index_open(path, &o, &idx, &err) == 0) {
		walk(idx);
		tmpl_index_free(idx);
	} else if (!err.code || !err.msg[0]) {
		abort(); /* every failure must say why */
	}
	close(fd);
	clear_cache();
	return 0;
}
