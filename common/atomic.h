/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Files replaced whole: written to a temporary file without a name in the
 * final path's directory (O_TMPFILE: a writer killed on the way leaves
 * nothing behind), named ".NAME.domufs-XXXXXX" (".domufs-XXXXXX" for a
 * NAME too long for that) once synced and renamed over the path, so a
 * reader of the directory sees the old file or the new one, never half of
 * it. Where the file system has no O_TMPFILE, the temporary has that name
 * from the start. The new file keeps the owner, group, permission bits and
 * ACL of the one it replaces (where this process may give them, as cp
 * onto an existing file would); other names hard-linked
 * to the old file keep the old one. Errors fill a dm_err with one line
 * naming @path. @tmp buffers have room for PATH_MAX bytes.
 */
#ifndef DM_ATOMIC_H
#define DM_ATOMIC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/err.h"

/* 0666 less the process's umask: what open(O_CREAT, 0666) would give. */
mode_t dm_file_mode(void);

/*
 * Creates the temporary for @path with permission bits @mode (those of a
 * new file: an existing one's are kept); its name
 * goes into @tmp (@size bytes). A symbolic link @path is followed: the
 * file it leads to is replaced, the link stays. An existing @path that is
 * not a regular file (a device, a FIFO, /dev/stdout on a pipe or a
 * terminal) is refused with -EINVAL, and so is a link to nothing. Returns
 * the fd (O_CLOEXEC) or -errno; on error @tmp is the empty string and
 * nothing is left behind. @tmp is empty as well while the temporary has
 * no name.
 */
int dm_atomic_create(const char *path, mode_t mode, char *tmp, size_t size,
		     struct dm_err *err);

/*
 * Syncs @fd, names the temporary in @tmp when it has no name yet, renames
 * it over @path and syncs the directory (best effort). Returns 0 or
 * -errno; @tmp is then the empty string on success and, on failure, names
 * the temporary if it has a name (for the caller to unlink).
 */
int dm_atomic_commit(int fd, char *tmp, const char *path, struct dm_err *err);

/*
 * What dm_atomic_commit_expect() checks before the new file takes @path:
 * with @exists false, that @path still does not exist (the new file is
 * linked or renamed into place without replacing one: linkat(), or
 * renameat2() RENAME_NOREPLACE); with @exists true, that @path is still
 * the file @dev/@ino.
 */
struct dm_atomic_expect {
	bool exists;
	dev_t dev;
	ino_t ino;
};

/*
 * dm_atomic_commit(), but fails with -EEXIST and "PATH: created meanwhile
 * by someone else; use --force" ("PATH: replaced meanwhile by someone
 * else; not overwritten") when @path is not as @ex expects (NULL: no
 * check).
 */
int dm_atomic_commit_expect(int fd, char *tmp, const char *path,
			    const struct dm_atomic_expect *ex,
			    struct dm_err *err);

#endif
