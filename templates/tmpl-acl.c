// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * POSIX ACLs as libarchive parses them (SCHILY.acl.*, ustar ACL text) turned
 * into the kernel's system.posix_acl_access/default xattr encoding: a
 * version word, then (tag, perm, id) records sorted by tag and id.
 */
#include "templates/tmpl-internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"

#define ACL_XATTR_VERSION 0x0002
#define ACL_UNDEFINED_ID 0xffffffffu

enum {
	ACL_USER_OBJ = 0x01,
	ACL_USER = 0x02,
	ACL_GROUP_OBJ = 0x04,
	ACL_GROUP = 0x08,
	ACL_MASK = 0x10,
	ACL_OTHER = 0x20,
};

struct acl_rec {
	uint16_t tag;
	uint16_t perm;
	uint32_t id;
};

static int rec_cmp(const void *a, const void *b)
{
	const struct acl_rec *x = a, *y = b;

	if (x->tag != y->tag)
		return x->tag < y->tag ? -1 : 1;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return 0;
}

static int map_tag(int tag)
{
	switch (tag) {
	case ARCHIVE_ENTRY_ACL_USER_OBJ:
		return ACL_USER_OBJ;
	case ARCHIVE_ENTRY_ACL_USER:
		return ACL_USER;
	case ARCHIVE_ENTRY_ACL_GROUP_OBJ:
		return ACL_GROUP_OBJ;
	case ARCHIVE_ENTRY_ACL_GROUP:
		return ACL_GROUP;
	case ARCHIVE_ENTRY_ACL_MASK:
		return ACL_MASK;
	case ARCHIVE_ENTRY_ACL_OTHER:
		return ACL_OTHER;
	}
	return -1;
}

/*
 * The id of user or group @name on this host (getpwnam_r/getgrnam_r, so
 * whatever NSS the host uses); -ENOENT when it has none.
 */
static int name_to_id(int tag, const char *name, uint32_t *ret)
{
	size_t size = 1024;

	for (;;) {
		_cleanup_free_ char *buf = malloc(size);
		uint32_t id = ACL_UNDEFINED_ID;
		int r;

		if (!buf)
			return -ENOMEM;
		if (tag == ACL_USER) {
			struct passwd pw, *res = NULL;

			r = getpwnam_r(name, &pw, buf, size, &res);
			if (r == 0 && res)
				id = (uint32_t)res->pw_uid;
		} else {
			struct group gr, *res = NULL;

			r = getgrnam_r(name, &gr, buf, size, &res);
			if (r == 0 && res)
				id = (uint32_t)res->gr_gid;
		}
		if (r == ERANGE && size < (1u << 20)) {
			size *= 4;
			continue;
		}
		if (r == ENOMEM)
			return -ENOMEM;
		if (id == ACL_UNDEFINED_ID)
			return -ENOENT; /* not found, or a lookup failure */
		*ret = id;
		return 0;
	}
}

int tmpl_acl_to_xattr(struct archive_entry *e, int type, void **ret,
		      size_t *ret_len, const char **ret_unknown)
{
	int n = archive_entry_acl_reset(e, type);
	struct acl_rec *recs;
	unsigned char *out;
	int count = 0;
	int etype, permset, tag, qual;
	const char *name;
	size_t len;

	*ret = NULL;
	*ret_len = 0;
	*ret_unknown = NULL;
	if (n <= 0)
		return 0;
	recs = calloc((size_t)n, sizeof(*recs));
	if (!recs)
		return -ENOMEM;
	while (count < n &&
	       archive_entry_acl_next(e, type, &etype, &permset, &tag, &qual,
				      &name) == ARCHIVE_OK) {
		int t = map_tag(tag);

		if (t < 0)
			continue;
		recs[count].tag = (uint16_t)t;
		recs[count].perm = (uint16_t)(permset & 7);
		recs[count].id = ACL_UNDEFINED_ID;
		if (t == ACL_USER || t == ACL_GROUP) {
			/* a numeric id wins (star's "user:name:rwx:id") */
			if (qual >= 0) {
				recs[count].id = (uint32_t)qual;
			} else {
				int r = name ? name_to_id(t, name,
							  &recs[count].id) :
					       -ENOENT;

				if (r == -ENOMEM) {
					free(recs);
					return r;
				}
				if (r < 0) {
					*ret_unknown = name ? name : "";
					free(recs);
					return 0;
				}
			}
		}
		count++;
	}
	if (count == 0) {
		free(recs);
		return 0;
	}
	qsort(recs, (size_t)count, sizeof(*recs), rec_cmp);
	len = 4 + (size_t)count * 8;
	out = malloc(len);
	if (!out) {
		free(recs);
		return -ENOMEM;
	}
	{
		uint32_t v = ACL_XATTR_VERSION;

		memcpy(out, &v, 4);
	}
	for (int i = 0; i < count; i++) {
		unsigned char *p = out + 4 + (size_t)i * 8;

		memcpy(p, &recs[i].tag, 2);
		memcpy(p + 2, &recs[i].perm, 2);
		memcpy(p + 4, &recs[i].id, 4);
	}
	free(recs);
	*ret = out;
	*ret_len = len;
	return 0;
}
