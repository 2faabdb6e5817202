// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * tmpl_iso_write(): a handful of files into an ISO9660 image with
 * libarchive's writer (Rock Ridge and Joliet on), through a temporary file
 * beside the target, renamed into place. libarchive stages file data in a
 * temporary file of its own ($TMPDIR) until the directory is laid out.
 * Holds no state between calls; never prints.
 */
#include "templates/tmpl-iso.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/atomic.h"
#include "common/cleanup.h"

static int fail(struct archive *a, const char *path, const char *what,
		struct dm_err *err)
{
	int code = archive_errno(a);

	if (code <= 0)
		code = EIO;
	return dm_err_set(err, code, "%s: %s: %s", path, what,
			  archive_error_string(a) ? archive_error_string(a) :
						    strerror(code));
}

/* SOURCE_DATE_EPOCH when it is a number, else now. */
static time_t file_time(void)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	char *end;
	long long v;

	if (s && *s) {
		errno = 0;
		v = strtoll(s, &end, 10);
		if (!errno && !*end && v >= 0)
			return (time_t)v;
	}
	return time(NULL);
}

static int add_files(struct archive *a, const char *path,
		     const struct tmpl_iso_file *files, size_t n,
		     struct dm_err *err)
{
	time_t t = file_time();

	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		int r;

		if (!e)
			return dm_err_set(err, ENOMEM, "%s: %s", path,
					  strerror(ENOMEM));
		archive_entry_set_pathname(e, files[i].name);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0444);
		archive_entry_set_uid(e, 0);
		archive_entry_set_gid(e, 0);
		archive_entry_set_size(e, (la_int64_t)files[i].len);
		archive_entry_set_mtime(e, t, 0);
		archive_entry_set_atime(e, t, 0);
		archive_entry_set_ctime(e, t, 0);
		r = archive_write_header(a, e);
		archive_entry_free(e);
		if (r < ARCHIVE_WARN)
			return fail(a, path, files[i].name, err);
		if (files[i].len &&
		    archive_write_data(a, files[i].data, files[i].len) !=
			    (la_ssize_t)files[i].len)
			return fail(a, path, files[i].name, err);
	}
	return 0;
}

static int open_archive(struct archive *a, const char *volume_id, int fd)
{
	int r;

	r = archive_write_set_format_iso9660(a);
	if (r == ARCHIVE_OK)
		r = archive_write_set_format_option(a, "iso9660", "volume-id",
						    volume_id);
	if (r == ARCHIVE_OK)
		r = archive_write_set_format_option(a, "iso9660", "rockridge",
						    "1");
	if (r == ARCHIVE_OK)
		r = archive_write_set_format_option(a, "iso9660", "joliet",
						    "1");
	/* a seed is a few KiB: no padding to 300 KiB */
	if (r == ARCHIVE_OK)
		r = archive_write_set_format_option(a, "iso9660", "pad", NULL);
	if (r == ARCHIVE_OK)
		r = archive_write_open_fd(a, fd);
	return r;
}

int tmpl_iso_write(const char *path, const char *volume_id,
		   const struct tmpl_iso_file *files, size_t n, mode_t mode,
		   struct dm_err *err)
{
	_cleanup_close_ int fd = -1;
	struct archive *a = NULL;
	char tmp[4096];
	struct stat st;
	int r;

	if (strlen(volume_id) > 32)
		return dm_err_set(err, EINVAL,
				  "%s: volume identifier `%s' longer than 32 "
				  "bytes",
				  path, volume_id);
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return dm_err_set(err, EISDIR, "%s: is a directory", path);
	fd = dm_atomic_create(path, mode, tmp, sizeof(tmp), err);
	if (fd < 0)
		return fd;
	a = archive_write_new();
	if (!a) {
		r = dm_err_set(err, ENOMEM, "%s: %s", path, strerror(ENOMEM));
		goto out_unlink;
	}
	if (open_archive(a, volume_id, fd) != ARCHIVE_OK) {
		r = fail(a, path, "starting the image", err);
		goto out_unlink;
	}
	r = add_files(a, path, files, n, err);
	if (r < 0)
		goto out_unlink;
	if (archive_write_close(a) != ARCHIVE_OK) {
		r = fail(a, path, "finishing the image", err);
		goto out_unlink;
	}
	r = dm_atomic_commit(fd, tmp, path, err);
	if (r < 0)
		goto out_unlink;
	archive_write_free(a);
	return 0;

out_unlink:
	if (a)
		archive_write_free(a);
	unlink(tmp);
	return r;
}
