/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Global pax headers (typeflag 'g'), which libarchive reads and drops: each
 * keyword in one applies to every member after it that does not set the
 * keyword in its own extended header, until a later global header changes
 * it (POSIX pax, "pax Extended Header"; GNU tar and Python's tarfile extract
 * so). The builder hands over each member's header chain, the header blocks
 * libarchive consumed before the member's data; this module keeps the
 * global keywords and says which ones the member sets itself.
 *
 * Applied: uid, gid, mtime, atime, ctime, SCHILY.xattr.*. Rejected (an
 * error): path, linkpath and size, which would give every member that
 * follows one name, one target or one length. Ignored silently: comment,
 * charset, hdrcharset, and uname/gname (owners are numeric here, as for a
 * member's own header); any other keyword is ignored with a warning.
 */
#ifndef TMPL_PAX_H
#define TMPL_PAX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define TMPL_PAX_BLOCK 512u

enum {
	TMPL_PAX_UID = 1u << 0,
	TMPL_PAX_GID = 1u << 1,
	TMPL_PAX_MTIME = 1u << 2,
	TMPL_PAX_ATIME = 1u << 3,
	TMPL_PAX_CTIME = 1u << 4,
};

struct tmpl_pax_time {
	int64_t sec;
	uint32_t nsec; /* 0 <= nsec < 1e9, also before the epoch */
};

struct tmpl_pax_xattr {
	char *name;
	unsigned char *value;
	size_t len;
};

struct tmpl_pax_global {
	unsigned set; /* TMPL_PAX_* in force */
	uint32_t uid, gid;
	struct tmpl_pax_time mtime, atime, ctime;
	struct tmpl_pax_xattr *xattrs;
	size_t nxattrs;
};

/*
 * Reads one member's header chain: @len bytes (whole blocks) that start at
 * byte @at of the tar stream. Global headers in it update @g; *ret_local
 * gets the TMPL_PAX_* keywords the member's own extended header ('x') sets.
 * Blocks that are not a valid tar header end the walk, as does the
 * member's own header. @name (the template) is for messages. Returns 0,
 * -ENOMEM, or -EINVAL with @err set for a keyword a global header cannot
 * set.
 */
int tmpl_pax_scan(struct tmpl_pax_global *g, const unsigned char *chain,
		  size_t len, uint64_t at, const char *name,
		  unsigned *ret_local, dm_warn_fn warn, void *warn_ctx,
		  struct dm_err *err);

static inline bool tmpl_pax_global_empty(const struct tmpl_pax_global *g)
{
	return !g->set && !g->nxattrs;
}

void tmpl_pax_global_free(struct tmpl_pax_global *g);

/*
 * A pax time ("[-]seconds[.fraction]"); false when @s (not terminated, @len
 * bytes) is not one. Digits past nanoseconds are dropped.
 */
bool tmpl_pax_parse_time(const char *s, size_t len, struct tmpl_pax_time *t);

#endif
