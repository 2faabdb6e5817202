/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A small ISO9660 writer for seed images (cloud-init NoCloud's "cidata"):
 * a few regular files in the root directory, with Rock Ridge and Joliet
 * names so that "meta-data" keeps its dash and case. libarchive builds the
 * image; it goes to a temporary file beside @path, synced and renamed into
 * place, so @path is either its old self or the complete new image.
 * Returns 0 or -errno with @err naming @path; never prints.
 */
#ifndef TMPL_ISO_H
#define TMPL_ISO_H

#include <stddef.h>
#include <sys/types.h>

#include "common/err.h"

struct tmpl_iso_file {
	const char *name; /* a plain name: no '/' */
	const void *data;
	size_t len;
};

/*
 * Writes @files into a new ISO9660 image at @path, volume identifier
 * @volume_id (kept in lower case, at most 32 bytes), file mode @mode.
 * Files are owned by 0:0, mode 0444, dated SOURCE_DATE_EPOCH when set,
 * else now. An existing @path is replaced.
 */
int tmpl_iso_write(const char *path, const char *volume_id,
		   const struct tmpl_iso_file *files, size_t n, mode_t mode,
		   struct dm_err *err);

#endif
