// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Builds a template index: one pass over the archive with libarchive, an
 * in-memory tree (last member wins, as on extraction), then the immutable
 * on-disk index described in tmpl-format.h.
 *
 * Member data: an uncompressed tar is read in place later, so headers are
 * indexed by seeking over the data (only sparse members are walked, to
 * learn where their data runs lie). A compressed tar is decompressed once
 * and member data appended to the data file; nothing ever reads the
 * compressed stream again. Header chains longer than one block are read
 * again (the template, or the bytes the source kept) for global pax
 * headers, which libarchive drops (tmpl-pax.h). Never prints: warnings go
 * to the caller's sink.
 */
#include "templates/tmpl-internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/hash.h"
#include "common/path.h"
#include "common/seqwriter.h"
#include "templates/tmpl-pax.h"
#include "templates/tmpl.h"

#define NO_ID UINT32_MAX

struct bnode {
	uint32_t mode, uid, gid;
	uint64_t size, rdev;
	int64_t mtime, atime, ctime;
	uint32_t mtime_ns, atime_ns, ctime_ns;
	uint32_t *kids; /* dirs: dirent indices */
	uint32_t nkids, capkids;
	char *link;
	size_t link_len;
	struct tmpl_dextent *ext;
	uint32_t next, capext;
	unsigned char *xa;
	size_t xa_len;
	uint32_t xa_count;
	/* serialization */
	uint32_t new_id;
	uint32_t refs;
	uint32_t new_parent;
};

struct bdirent {
	char *name;
	uint32_t len;
	uint32_t parent;
	uint32_t node;
};

struct builder {
	const char *name;
	dm_warn_fn warn;
	void *warn_ctx;
	const volatile sig_atomic_t *cancel; /* may be NULL */
	const char *cache_dir; /* for messages */
	struct dm_err *err;
	struct archive *a;
	bool in_place;
	int data_fd;
	struct dm_seqw *data_w; /* compressed templates: the data file */
	uint64_t data_pos;
	int64_t default_time;
	char *last_member; /* for messages about the header that follows */
	int64_t next_header; /* where the next header starts (stream bytes) */
	struct tmpl_source *src; /* compressed: our decompressing source */
	int tpl_fd;
	uint64_t tpl_size; /* what member data read in place must lie within */
	struct tmpl_pax_global pax; /* global pax keywords in force */
	uint32_t member_node; /* the node the latest member described */

	struct bnode *nodes;
	uint32_t nnodes, capnodes;
	struct bdirent *dirents;
	uint32_t ndirents, capdirents;
	uint32_t *slots; /* hash of (parent, name) -> dirent index + 1 */
	uint32_t capslots;
};

static int grow(void **p, uint32_t *cap, uint32_t need, size_t elem)
{
	uint32_t n;
	void *q;

	if (need <= *cap)
		return 0;
	n = *cap ? *cap : 16;
	while (n < need) {
		if (n > UINT32_MAX / 2)
			return -EOVERFLOW;
		n *= 2;
	}
	q = reallocarray(*p, n, elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

static uint64_t slot_hash(uint32_t parent, const char *name, size_t len)
{
	return dm_hash64(name, len, parent * 0x9e3779b97f4a7c15ULL + 1);
}

static int slots_insert(struct builder *b, uint32_t di);

static int slots_rehash(struct builder *b)
{
	uint32_t ncap = b->capslots ? b->capslots * 2 : 1024;
	uint32_t *old = b->slots;
	uint32_t oldcap = b->capslots;

	b->slots = calloc(ncap, sizeof(*b->slots));
	if (!b->slots) {
		b->slots = old;
		return -ENOMEM;
	}
	b->capslots = ncap;
	for (uint32_t i = 0; i < oldcap; i++)
		if (old[i])
			slots_insert(b, old[i] - 1);
	free(old);
	return 0;
}

static int slots_insert(struct builder *b, uint32_t di)
{
	struct bdirent *d = &b->dirents[di];
	uint64_t h;
	uint32_t mask;

	if ((uint64_t)(b->ndirents + 1) * 4 > (uint64_t)b->capslots * 3) {
		int r = slots_rehash(b);

		if (r < 0)
			return r;
	}
	mask = b->capslots - 1;
	h = slot_hash(d->parent, d->name, d->len);
	for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask)
		if (!b->slots[i]) {
			b->slots[i] = di + 1;
			return 0;
		}
}

static uint32_t dirent_find(const struct builder *b, uint32_t parent,
			    const char *name, size_t len)
{
	uint32_t mask;
	uint64_t h;

	if (!b->capslots)
		return NO_ID;
	mask = b->capslots - 1;
	h = slot_hash(parent, name, len);
	for (uint32_t i = (uint32_t)h & mask; b->slots[i]; i = (i + 1) & mask) {
		const struct bdirent *d = &b->dirents[b->slots[i] - 1];

		if (d->parent == parent && d->len == len &&
		    memcmp(d->name, name, len) == 0)
			return b->slots[i] - 1;
	}
	return NO_ID;
}

static int node_new(struct builder *b, uint32_t mode, uint32_t *ret)
{
	int r = grow((void **)&b->nodes, &b->capnodes, b->nnodes + 1,
		     sizeof(*b->nodes));

	if (r < 0)
		return r;
	memset(&b->nodes[b->nnodes], 0, sizeof(b->nodes[0]));
	b->nodes[b->nnodes].mode = mode;
	b->nodes[b->nnodes].mtime = b->default_time;
	b->nodes[b->nnodes].atime = b->default_time;
	b->nodes[b->nnodes].ctime = b->default_time;
	*ret = b->nnodes++;
	return 0;
}

static int dirent_add(struct builder *b, uint32_t parent, const char *name,
		      size_t len, uint32_t node, uint32_t *ret)
{
	struct bnode *p;
	uint32_t di;
	int r;

	if (len > UINT32_MAX)
		return -ENAMETOOLONG;
	r = grow((void **)&b->dirents, &b->capdirents, b->ndirents + 1,
		 sizeof(*b->dirents));
	if (r < 0)
		return r;
	di = b->ndirents;
	b->dirents[di].name = strndup(name, len);
	if (!b->dirents[di].name)
		return -ENOMEM;
	b->dirents[di].len = (uint32_t)len;
	b->dirents[di].parent = parent;
	b->dirents[di].node = node;
	r = slots_insert(b, di);
	if (r < 0) {
		free(b->dirents[di].name);
		return r;
	}
	b->ndirents++;
	p = &b->nodes[parent];
	r = grow((void **)&p->kids, &p->capkids, p->nkids + 1,
		 sizeof(*p->kids));
	if (r < 0)
		return r;
	p->kids[p->nkids++] = di;
	if (ret)
		*ret = di;
	return 0;
}

#define FOLLOW_MAX 40 /* links followed for one path, as the kernel's */

/*
 * The directory symbolic link @lnk, listed in directory @dir, leads to, as
 * extraction goes through it: GNU tar makes a link whose target is relative
 * and has no '..' component at once, so members below it land where it
 * leads; any other link it makes last (a placeholder file until then), and
 * members below it fail. -EXDEV for a link of that kind, -ENOENT when the
 * link leads nowhere, -ENOTDIR when not to a directory, -ELOOP after
 * FOLLOW_MAX links.
 */
static int follow_link(const struct builder *b, uint32_t dir, uint32_t lnk,
		       unsigned *hops, uint32_t *ret)
{
	const struct bnode *n = &b->nodes[lnk];
	const char *p = n->link, *end = p ? p + n->link_len : NULL;

	if (++*hops > FOLLOW_MAX)
		return -ELOOP;
	if (!p || p == end || *p == '/')
		return -EXDEV;
	for (const char *q = p; q < end;) {
		const char *slash = memchr(q, '/', (size_t)(end - q));
		size_t len = slash ? (size_t)(slash - q) : (size_t)(end - q);

		if (len == 2 && q[0] == '.' && q[1] == '.')
			return -EXDEV;
		q = slash ? slash + 1 : end;
	}
	while (p < end) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		size_t len = slash ? (size_t)(slash - p) : (size_t)(end - p);

		if (len > 0 && !(len == 1 && *p == '.')) {
			uint32_t di = dirent_find(b, dir, p, len), id;
			int r;

			if (di == NO_ID)
				return -ENOENT;
			id = b->dirents[di].node;
			if (S_ISLNK(b->nodes[id].mode)) {
				r = follow_link(b, dir, id, hops, &id);
				if (r < 0)
					return r;
			}
			if (!S_ISDIR(b->nodes[id].mode))
				return -ENOTDIR;
			dir = id;
		}
		p = slash ? slash + 1 : end;
	}
	*ret = dir;
	return 0;
}

static const char *follow_error(int r)
{
	switch (r) {
	case -EXDEV:
		return "its target is absolute or has '..'";
	case -ENOENT:
		return "it leads nowhere";
	case -ENOTDIR:
		return "it does not lead to a directory";
	default:
		return "too many levels of symbolic links";
	}
}

/*
 * Walks the directories of @path (all components but the last), creating
 * the missing ones as extraction would, and going through symbolic links
 * as extraction does (follow_link()). Returns the parent's id; 1 when the
 * member is skipped (with a warning), as extraction fails it.
 */
static int walk_parents(struct builder *b, const char *path,
			const char **ret_last, uint32_t *ret_parent)
{
	uint32_t dir = TMPL_ROOT_ID;
	const char *p = path;
	unsigned hops = 0;

	for (;;) {
		const char *slash = strchr(p, '/');
		uint32_t di, id;
		int r;

		if (!slash)
			break;
		di = dirent_find(b, dir, p, (size_t)(slash - p));
		id = di != NO_ID ? b->dirents[di].node : NO_ID;
		if (id != NO_ID && S_ISLNK(b->nodes[id].mode)) {
			r = follow_link(b, dir, id, &hops, &id);
			if (r < 0) {
				dm_warn(b->warn, b->warn_ctx,
					"%s: member '%s': '%.*s' is a symbolic link extraction does not go through (%s), skipped",
					b->name, path, (int)(slash - path),
					path, follow_error(r));
				return 1;
			}
		}
		if (id != NO_ID && S_ISDIR(b->nodes[id].mode)) {
			dir = id;
		} else {
			r = node_new(b, S_IFDIR | 0755, &id);
			if (r < 0)
				return r;
			if (di != NO_ID) {
				dm_warn(b->warn, b->warn_ctx,
					"%s: member '%s': '%.*s' replaced by a directory",
					b->name, path, (int)(slash - p), p);
				b->dirents[di].node = id;
			} else {
				r = dirent_add(b, dir, p, (size_t)(slash - p),
					       id, NULL);
				if (r < 0)
					return r;
			}
			dir = id;
		}
		p = slash + 1;
	}
	*ret_last = p;
	*ret_parent = dir;
	return 0;
}

/*
 * The entry @path names (a hardlink's target), through symbolic links in
 * its directories as extraction's link(2) goes through them.
 */
static int lookup_path(struct builder *b, const char *path, uint32_t *ret)
{
	uint32_t dir = TMPL_ROOT_ID;
	const char *p = path;
	unsigned hops = 0;

	if (!*p) {
		*ret = TMPL_ROOT_ID;
		return 0;
	}
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		uint32_t di, id;
		int r;

		if (!S_ISDIR(b->nodes[dir].mode))
			return -ENOTDIR;
		di = dirent_find(b, dir, p, len);
		if (di == NO_ID)
			return -ENOENT;
		id = b->dirents[di].node;
		if (!slash) {
			dir = id;
			break;
		}
		if (S_ISLNK(b->nodes[id].mode)) {
			r = follow_link(b, dir, id, &hops, &id);
			if (r < 0)
				return r;
		}
		dir = id;
		p = slash + 1;
	}
	*ret = dir;
	return 0;
}

/*
 * Times before the epoch. libarchive before 3.8 parses a pax time such as
 * "-1.5" as -1 s + 0.5 s (the sign applies to the seconds only; fixed
 * upstream in 3.8.0), so a negative time with a fraction is mirrored back
 * here. (A time in (-1, 0) loses its sign there and cannot be recovered.)
 * Whatever the source, the result is normalized to 0 <= nsec < 1e9.
 */
static void norm_time(int64_t *sec, uint32_t *ret_nsec, long nsec)
{
	if (*sec < 0 && nsec > 0 && archive_version_number() < 3008000) {
		(*sec)--;
		nsec = 1000000000L - nsec;
	}
	while (nsec < 0) {
		nsec += 1000000000L;
		(*sec)--;
	}
	while (nsec >= 1000000000L) {
		nsec -= 1000000000L;
		(*sec)++;
	}
	*ret_nsec = (uint32_t)nsec;
}

/* The times the member's headers do not give are its mtime. */
static void times_follow_mtime(struct bnode *n, struct archive_entry *e)
{
	if (!archive_entry_atime_is_set(e)) {
		n->atime = n->mtime;
		n->atime_ns = n->mtime_ns;
	}
	if (!archive_entry_ctime_is_set(e)) {
		n->ctime = n->mtime;
		n->ctime_ns = n->mtime_ns;
	}
}

static void set_meta(struct bnode *n, struct archive_entry *e)
{
	n->mode = (uint32_t)archive_entry_mode(e);
	/* Linux gives every symbolic link 0777, extraction's ones too */
	if (S_ISLNK(n->mode))
		n->mode = S_IFLNK | 0777;
	n->uid = (uint32_t)archive_entry_uid(e);
	n->gid = (uint32_t)archive_entry_gid(e);
	n->mtime = archive_entry_mtime(e);
	norm_time(&n->mtime, &n->mtime_ns, archive_entry_mtime_nsec(e));
	if (archive_entry_atime_is_set(e)) {
		n->atime = archive_entry_atime(e);
		norm_time(&n->atime, &n->atime_ns, archive_entry_atime_nsec(e));
	}
	if (archive_entry_ctime_is_set(e)) {
		n->ctime = archive_entry_ctime(e);
		norm_time(&n->ctime, &n->ctime_ns, archive_entry_ctime_nsec(e));
	}
	times_follow_mtime(n, e);
	if (S_ISCHR(n->mode) || S_ISBLK(n->mode))
		n->rdev = makedev(archive_entry_rdevmajor(e),
				  archive_entry_rdevminor(e));
	else
		n->rdev = 0;
}

static int xattr_append(struct bnode *n, const char *name, const void *value,
			size_t vlen)
{
	size_t nlen = strlen(name);
	size_t need = 8 + nlen + 1 + vlen;
	unsigned char *q;
	uint32_t l;

	if (nlen == 0 || nlen > 255 || vlen > 65536)
		return -EINVAL;
	q = realloc(n->xa, n->xa_len + need);
	if (!q)
		return -ENOMEM;
	n->xa = q;
	q += n->xa_len;
	l = (uint32_t)nlen;
	memcpy(q, &l, 4);
	l = (uint32_t)vlen;
	memcpy(q + 4, &l, 4);
	memcpy(q + 8, name, nlen + 1);
	if (vlen)
		memcpy(q + 8 + nlen + 1, value, vlen);
	n->xa_len += need;
	n->xa_count++;
	return 0;
}

/*
 * libarchive folds an access ACL's group entry into the mode it reports;
 * with a mask entry, POSIX.1e wants the mode's group bits to be the mask.
 * Taken from the ACL actually stored, whichever way it came.
 */
static void acl_fix_mode(struct bnode *n)
{
	static const char acl_name[] = "system.posix_acl_access";
	size_t off = 0;

	for (uint32_t k = 0; k < n->xa_count; k++) {
		uint32_t nl, vl;
		const unsigned char *name, *val;

		memcpy(&nl, n->xa + off, 4);
		memcpy(&vl, n->xa + off + 4, 4);
		name = n->xa + off + 8;
		val = name + nl + 1;
		if (nl == sizeof(acl_name) - 1 &&
		    memcmp(name, acl_name, nl) == 0 && vl >= 4) {
			for (uint32_t p = 4; p + 8 <= vl; p += 8) {
				uint16_t tag, perm;

				memcpy(&tag, val + p, 2);
				memcpy(&perm, val + p + 2, 2);
				if (tag == 0x10) /* ACL_MASK */
					n->mode = (n->mode & ~(uint32_t)070) |
						  ((uint32_t)(perm & 7) << 3);
			}
			return;
		}
		off += 8 + (size_t)nl + 1 + vl;
	}
}

static int set_xattrs(struct builder *b, struct bnode *n,
		      struct archive_entry *e, const char *path)
{
	static const struct {
		int type;
		const char *name;
	} acls[] = {
		{ ARCHIVE_ENTRY_ACL_TYPE_ACCESS, "system.posix_acl_access" },
		{ ARCHIVE_ENTRY_ACL_TYPE_DEFAULT, "system.posix_acl_default" },
	};
	bool have_acl[2] = { false, false };
	const char *name;
	const void *value;
	size_t vlen;
	int r;

	free(n->xa);
	n->xa = NULL;
	n->xa_len = 0;
	n->xa_count = 0;
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &value, &vlen) ==
	       ARCHIVE_OK) {
		if (!name || !*name)
			continue;
		for (size_t i = 0; i < DM_ARRAY_SIZE(acls); i++)
			if (strcmp(name, acls[i].name) == 0)
				have_acl[i] = true;
		r = xattr_append(n, name, value, vlen);
		if (r == -EINVAL) {
			dm_warn(b->warn, b->warn_ctx,
				"%s: member '%s': xattr '%s' too large, skipped",
				b->name, path, name);
			continue;
		}
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < DM_ARRAY_SIZE(acls); i++) {
		_cleanup_free_ void *v = NULL;
		const char *unknown;
		size_t len;

		if (have_acl[i] || S_ISLNK(n->mode))
			continue;
		if (acls[i].type == ARCHIVE_ENTRY_ACL_TYPE_DEFAULT &&
		    !S_ISDIR(n->mode))
			continue;
		r = tmpl_acl_to_xattr(e, acls[i].type, &v, &len, &unknown);
		if (r < 0)
			return r;
		if (unknown)
			dm_warn(b->warn, b->warn_ctx,
				"%s: member '%s': %s ACL names '%s', which this host does not know: ACL skipped",
				b->name, path,
				acls[i].type == ARCHIVE_ENTRY_ACL_TYPE_ACCESS ?
					"access" :
					"default",
				unknown);
		if (v) {
			r = xattr_append(n, acls[i].name, v, len);
			if (r < 0)
				return r;
		}
	}
	acl_fix_mode(n);
	return 0;
}

/* archive_fail() below, saying @msg instead of libarchive's words. */
static int archive_fail_msg(struct builder *b, const char *member,
			    const char *msg)
{
	int code = archive_errno(b->a);

	/* libarchive's "misc" (-1) and "file format" (EILSEQ) become EIO */
	if (code <= 0 || code == EILSEQ)
		code = EIO;
	if (!msg)
		msg = "damaged archive";
	if (member)
		return dm_err_set(b->err, code, "%s: member '%s': %s", b->name,
				  member, msg);
	/*
	 * A header failed: say where it starts and what came before it (the
	 * archive is in its fatal state now and no longer answers that).
	 */
	if (b->last_member)
		return dm_err_set(b->err, code,
				  "%s: header at byte %" PRId64
				  " (after member '%s'): %s",
				  b->name, b->next_header, b->last_member, msg);
	return dm_err_set(b->err, code, "%s: header at byte %" PRId64 ": %s",
			  b->name, b->next_header, msg);
}

static int archive_fail(struct builder *b, const char *member)
{
	return archive_fail_msg(b, member, archive_error_string(b->a));
}

/*
 * Whether the warning that came with a header says the archive is damaged:
 * libarchive drops a malformed pax extended header (the member's long
 * name, link target, xattrs, ACLs and nanoseconds with it) and goes on
 * with a warning, where GNU tar and bsdtar both fail. Other warnings (a
 * name that does not convert to the locale, kept as bytes) stay warnings.
 */
static bool header_damaged(struct archive *a)
{
	const char *msg = archive_error_string(a);

	return msg &&
	       (strcasestr(msg, "malformed") || strcasestr(msg, "damaged") ||
		strcasestr(msg, "corrupt") || strcasestr(msg, "invalid"));
}

static int ext_add(struct bnode *n, uint64_t logical, uint64_t len,
		   uint64_t pos)
{
	int r;

	if (len == 0)
		return 0;
	if (n->next) {
		struct tmpl_dextent *l = &n->ext[n->next - 1];

		if (l->logical + l->length == logical &&
		    l->pos + l->length == pos) {
			l->length += len;
			return 0;
		}
	}
	r = grow((void **)&n->ext, &n->capext, n->next + 1, sizeof(*n->ext));
	if (r < 0)
		return r;
	n->ext[n->next].logical = logical;
	n->ext[n->next].length = len;
	n->ext[n->next].pos = pos;
	n->next++;
	return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* A failed write of the cache (a full disk, mostly): -errno, @err set. */
static int cache_write_fail(struct builder *b, int r)
{
	return dm_err_set(b->err, -r, "%s: writing the cache %s: %s", b->name,
			  b->cache_dir, strerror(-r));
}

/* Whether @len bytes at @pos of an uncompressed template lie past its end. */
static bool beyond_template(const struct builder *b, uint64_t pos, uint64_t len)
{
	return pos > b->tpl_size || len > b->tpl_size - pos;
}

/* -ECANCELED, @err set, once the caller asked the build to stop. */
static int cancelled(struct builder *b)
{
	if (!b->cancel || !*b->cancel)
		return 0;
	return dm_err_set(b->err, ECANCELED, "%s: indexing interrupted",
			  b->name);
}

/*
 * Reads the member's data blocks, recording where each run lives. @member:
 * its name as the archive spells it, for messages.
 */
static int read_data(struct builder *b, uint32_t id, struct archive_entry *e,
		     const char *member)
{
	struct bnode *n = &b->nodes[id];
	uint64_t size = (uint64_t)archive_entry_size(e);
	bool sparse = archive_entry_sparse_count(e) > 0;

	free(n->ext);
	n->ext = NULL;
	n->next = n->capext = 0;
	n->size = size;
	if (size == 0)
		return 0;
	if (b->in_place && !sparse) {
		/* Headers are consumed: the data starts here, contiguous. */
		int64_t pos = archive_filter_bytes(b->a, 0);

		if (beyond_template(b, (uint64_t)pos, size))
			return dm_err_set(
				b->err, EIO,
				"%s: member '%s': data beyond the end of the archive",
				b->name, member);
		return ext_add(n, 0, size, (uint64_t)pos);
	}
	for (;;) {
		const void *buf;
		size_t len;
		la_int64_t off;
		int r = cancelled(b);

		if (r < 0)
			return r;
		r = archive_read_data_block(b->a, &buf, &len, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return archive_fail(b, member);
		if (off < 0 || (uint64_t)off + len > size)
			return dm_err_set(
				b->err, EIO,
				"%s: member '%s': data beyond its size",
				b->name, member);
		if (b->in_place) {
			/* The block's bytes are not consumed yet. */
			uint64_t pos = (uint64_t)archive_filter_bytes(b->a, 0);

			if (beyond_template(b, pos, len))
				return dm_err_set(
					b->err, EIO,
					"%s: member '%s': data beyond the end of the archive (its sparse map claims more than it stores)",
					b->name, member);
			r = ext_add(n, (uint64_t)off, len, pos);
		} else {
			r = dm_seqw_write(b->data_w, buf, len);
			if (r < 0)
				return cache_write_fail(b, r);
			r = ext_add(n, (uint64_t)off, len, b->data_pos);
			b->data_pos += len;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static void node_drop_data(struct bnode *n)
{
	free(n->link);
	n->link = NULL;
	free(n->ext);
	n->ext = NULL;
	n->next = n->capext = 0;
}

/*
 * Why no tree can hold a member at normalized @path, or NULL: a name over
 * 255 bytes (no Linux file system takes it: the mount could list it but
 * not use it, and no commit could write it), or an overlay whiteout
 * (".wh.NAME", as container layers carry them): the writable view stores
 * deletions under such names, so one from the template would hide or be
 * taken for one.
 */
static const char *unusable_name(const char *path)
{
	for (const char *c = path; *c;) {
		size_t len = strcspn(c, "/");

		if (len > 255)
			return "a name longer than 255 bytes";
		if (len >= 4 && !strncmp(c, ".wh.", 4))
			return "an overlay whiteout name (.wh.)";
		c += len;
		c += *c == '/';
	}
	return NULL;
}

static int add_member(struct builder *b, struct archive_entry *e)
{
	const char *raw = archive_entry_pathname(e);
	const char *hl = archive_entry_hardlink(e);
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ char *target = NULL;
	unsigned flags;
	const char *last;
	uint32_t parent, di, id;
	int r;

	b->member_node = NO_ID;
	if (!raw)
		return dm_err_set(b->err, EIO,
				  "%s: at byte %" PRId64
				  ": member without a name",
				  b->name, archive_filter_bytes(b->a, 0));
	r = dm_path_normalize(raw, &path, &flags);
	if (r < 0)
		return r;
	if (flags & DM_PATH_DOTDOT) {
		dm_warn(b->warn, b->warn_ctx,
			"%s: member '%s': name contains '..', skipped", b->name,
			raw);
		return 0;
	}
	if (unusable_name(path)) {
		dm_warn(b->warn, b->warn_ctx, "%s: member '%s': %s, skipped",
			b->name, raw, unusable_name(path));
		return 0;
	}
	if (flags & DM_PATH_ABSOLUTE)
		dm_warn(b->warn, b->warn_ctx,
			"%s: member '%s': leading '/' removed", b->name, raw);

	if (hl) {
		unsigned tflags;

		r = dm_path_normalize(hl, &target, &tflags);
		if (r < 0)
			return r;
		if (tflags & DM_PATH_DOTDOT) {
			dm_warn(b->warn, b->warn_ctx,
				"%s: member '%s': hardlink target '%s' contains '..', skipped",
				b->name, raw, hl);
			return 0;
		}
		r = lookup_path(b, target, &id);
		if (r < 0 || S_ISDIR(b->nodes[id].mode)) {
			dm_warn(b->warn, b->warn_ctx,
				r < 0 ? "%s: member '%s': hardlink to missing member '%s', skipped" :
					"%s: member '%s': hardlink to directory '%s', skipped",
				b->name, raw, hl);
			return 0;
		}
		if (flags & DM_PATH_ROOT)
			return 0;
		r = walk_parents(b, path, &last, &parent);
		if (r != 0)
			return r < 0 ? r : 0;
		di = dirent_find(b, parent, last, strlen(last));
		if (di != NO_ID)
			b->dirents[di].node = id;
		else {
			r = dirent_add(b, parent, last, strlen(last), id, NULL);
			if (r < 0)
				return r;
		}
		/* pax "hardlink with data": the data belongs to the inode */
		if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0 &&
		    S_ISREG(b->nodes[id].mode))
			return read_data(b, id, e, raw);
		return 0;
	}

	switch (archive_entry_filetype(e)) {
	case AE_IFREG:
	case AE_IFDIR:
	case AE_IFLNK:
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO:
		break;
	default:
		dm_warn(b->warn, b->warn_ctx,
			"%s: member '%s': unsupported type, skipped", b->name,
			raw);
		return 0;
	}

	if (flags & DM_PATH_ROOT) {
		if (archive_entry_filetype(e) != AE_IFDIR) {
			dm_warn(b->warn, b->warn_ctx,
				"%s: member '%s': root must be a directory, skipped",
				b->name, raw);
			return 0;
		}
		set_meta(&b->nodes[TMPL_ROOT_ID], e);
		b->member_node = TMPL_ROOT_ID;
		return set_xattrs(b, &b->nodes[TMPL_ROOT_ID], e, raw);
	}

	r = walk_parents(b, path, &last, &parent);
	if (r != 0)
		return r < 0 ? r : 0;
	di = dirent_find(b, parent, last, strlen(last));
	if (di != NO_ID && archive_entry_filetype(e) == AE_IFDIR &&
	    S_ISDIR(b->nodes[b->dirents[di].node].mode)) {
		/* A directory again: its metadata, children kept. */
		id = b->dirents[di].node;
	} else {
		r = node_new(b, (uint32_t)archive_entry_mode(e), &id);
		if (r < 0)
			return r;
		if (di != NO_ID)
			b->dirents[di].node = id;
		else {
			r = dirent_add(b, parent, last, strlen(last), id, NULL);
			if (r < 0)
				return r;
		}
	}

	struct bnode *n = &b->nodes[id];

	node_drop_data(n);
	set_meta(n, e);
	b->member_node = id;
	r = set_xattrs(b, n, e, raw);
	if (r < 0)
		return r;
	switch (archive_entry_filetype(e)) {
	case AE_IFLNK: {
		const char *t = archive_entry_symlink(e);

		if (!t)
			t = "";
		n->link = strdup(t);
		if (!n->link)
			return -ENOMEM;
		n->link_len = strlen(t);
		n->size = n->link_len;
		return 0;
	}
	case AE_IFREG:
		return read_data(b, id, e, raw);
	default:
		n->size = 0;
		return 0;
	}
}

/* --- global pax headers --- */

/* The stream's bytes [at, at + len) again: the template or what was kept. */
static int pax_reread(struct builder *b, uint64_t at, unsigned char *buf,
		      size_t len)
{
	ssize_t n;

	if (b->src)
		return tmpl_source_reread(b->src, at, buf, len);
	if (!b->in_place)
		return -ENODATA; /* decompressed by libarchive: not kept */
	n = pread(b->tpl_fd, buf, len, (off_t)at);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

/*
 * Reads the member's header chain again for global pax headers (see
 * tmpl-pax.h): the blocks from the previous member's end to this one's
 * data. A chain of one block holds none. Global extended attributes the
 * member does not have go onto @e; *ret_local: the keywords it sets.
 */
static int pax_member(struct builder *b, struct archive_entry *e,
		      unsigned *ret_local)
{
	uint64_t at = (uint64_t)b->next_header;
	uint64_t end = (uint64_t)archive_filter_bytes(b->a, 0);
	_cleanup_free_ unsigned char *chain = NULL;
	size_t len = (size_t)(end - at);
	int r = 0;

	*ret_local = 0;
	if (end > at + TMPL_PAX_BLOCK) {
		if (end - at > (64u << 20))
			return dm_err_set(b->err, EIO,
					  "%s: header at byte %" PRIu64
					  ": %" PRIu64 " bytes of headers",
					  b->name, at, end - at);
		chain = malloc(len);
		r = chain ? pax_reread(b, at, chain, len) : -ENOMEM;
	}
	/* the member's data need no copy */
	if (b->src)
		tmpl_source_keep(b->src, UINT64_MAX);
	if (r == -ENODATA) {
		/* not kept: libarchive read further back than expected */
		dm_warn(b->warn, b->warn_ctx,
			"%s: member '%s': its headers could not be read again; global pax headers among them not applied",
			b->name, b->last_member);
	} else if (r < 0) {
		return dm_err_set(b->err, -r,
				  "%s: header at byte %" PRIu64
				  ": cannot read it again: %s",
				  b->name, at, strerror(-r));
	} else if (chain) {
		r = tmpl_pax_scan(&b->pax, chain, len, at, b->name, ret_local,
				  b->warn, b->warn_ctx, b->err);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < b->pax.nxattrs; i++) {
		const struct tmpl_pax_xattr *x = &b->pax.xattrs[i];
		const char *name;
		const void *value;
		size_t vlen;
		bool own = false;

		archive_entry_xattr_reset(e);
		while (!own && archive_entry_xattr_next(e, &name, &value,
							&vlen) == ARCHIVE_OK)
			own = !strcmp(name, x->name);
		if (!own)
			archive_entry_xattr_add_entry(e, x->name, x->value,
						      x->len);
	}
	return 0;
}

/* The global keywords the member did not set itself, onto its node. */
static void pax_apply(struct builder *b, struct archive_entry *e,
		      unsigned local)
{
	const struct tmpl_pax_global *g = &b->pax;
	unsigned set = g->set & ~local;
	struct bnode *n;

	if (!set || b->member_node == NO_ID)
		return;
	n = &b->nodes[b->member_node];
	if (set & TMPL_PAX_UID)
		n->uid = g->uid;
	if (set & TMPL_PAX_GID)
		n->gid = g->gid;
	if (set & TMPL_PAX_MTIME) {
		n->mtime = g->mtime.sec;
		n->mtime_ns = g->mtime.nsec;
		times_follow_mtime(n, e);
	}
	/* global atime and ctime win over what followed mtime */
	if (set & TMPL_PAX_ATIME) {
		n->atime = g->atime.sec;
		n->atime_ns = g->atime.nsec;
	}
	if (set & TMPL_PAX_CTIME) {
		n->ctime = g->ctime.sec;
		n->ctime_ns = g->ctime.nsec;
	}
}

/* --- serialization --- */

struct outbuf {
	unsigned char *p;
	size_t len, cap;
};

static int out_reserve(struct outbuf *o, size_t more)
{
	size_t n;
	unsigned char *q;

	if (o->len + more <= o->cap)
		return 0;
	n = o->cap ? o->cap : 65536;
	while (n < o->len + more)
		n *= 2;
	q = realloc(o->p, n);
	if (!q)
		return -ENOMEM;
	o->p = q;
	o->cap = n;
	return 0;
}

static int out_put(struct outbuf *o, const void *data, size_t len,
		   uint64_t *ret_off)
{
	int r = out_reserve(o, len + 1);

	if (r < 0)
		return r;
	if (ret_off)
		*ret_off = o->len;
	if (len)
		memcpy(o->p + o->len, data, len);
	o->len += len;
	return 0;
}

static int kid_cmp(const void *a, const void *b, void *ctx)
{
	const struct builder *bd = ctx;
	const struct bdirent *x = &bd->dirents[*(const uint32_t *)a];
	const struct bdirent *y = &bd->dirents[*(const uint32_t *)b];
	size_t m = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->name, y->name, m);

	if (c)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

static uint64_t align8(uint64_t v)
{
	return (v + 7) & ~(uint64_t)7;
}

static int serialize(struct builder *b, int idx_fd, const struct stat *st,
		     uint64_t build_id, struct tmpl_build_result *ret)
{
	_cleanup_free_ uint32_t *order = NULL; /* new id -> old id */
	_cleanup_free_ struct tmpl_dnode *dn = NULL;
	_cleanup_free_ struct tmpl_ddirent *dd = NULL;
	_cleanup_free_ struct tmpl_dextent *de = NULL;
	struct outbuf strings = { 0 }, xattrs = { 0 };
	_cleanup_free_ unsigned char *file = NULL;
	uint32_t nnew = 0, ndd = 0, nde = 0;
	uint64_t entries = 1, bytes = 0;
	int r = -ENOMEM;

	order = malloc(sizeof(*order) * b->nnodes);
	dd = malloc(sizeof(*dd) * (b->ndirents ? b->ndirents : 1));
	if (!order || !dd)
		goto out_free;
	for (uint32_t i = 0; i < b->nnodes; i++) {
		b->nodes[i].new_id = NO_ID;
		b->nodes[i].refs = 0;
	}
	/* Breadth-first from the root: reachable nodes only, dense ids. */
	b->nodes[TMPL_ROOT_ID].new_id = 0;
	b->nodes[TMPL_ROOT_ID].new_parent = 0;
	order[nnew++] = TMPL_ROOT_ID;
	for (uint32_t q = 0; q < nnew; q++) {
		struct bnode *dir = &b->nodes[order[q]];

		if (!S_ISDIR(dir->mode))
			continue;
		if (dir->nkids > 1)
			qsort_r(dir->kids, dir->nkids, sizeof(*dir->kids),
				kid_cmp, b);
		for (uint32_t k = 0; k < dir->nkids; k++) {
			struct bnode *kid =
				&b->nodes[b->dirents[dir->kids[k]].node];

			kid->refs++;
			if (kid->new_id != NO_ID)
				continue;
			kid->new_id = nnew;
			kid->new_parent = dir->new_id;
			order[nnew++] = b->dirents[dir->kids[k]].node;
		}
	}
	dn = calloc(nnew, sizeof(*dn));
	if (!dn)
		goto out_free;
	for (uint32_t i = 0; i < nnew; i++) {
		struct bnode *n = &b->nodes[order[i]];
		struct tmpl_dnode *d = &dn[i];

		d->mode = n->mode;
		d->uid = n->uid;
		d->gid = n->gid;
		d->size = n->size;
		d->rdev = n->rdev;
		d->mtime_sec = n->mtime;
		d->atime_sec = n->atime;
		d->ctime_sec = n->ctime;
		d->mtime_nsec = n->mtime_ns;
		d->atime_nsec = n->atime_ns;
		d->ctime_nsec = n->ctime_ns;
		d->parent = n->new_parent;
		d->nlink = S_ISDIR(n->mode) ? 2 : n->refs;
		if (n->xa_count) {
			r = out_put(&xattrs, n->xa, n->xa_len, &d->xattr_off);
			if (r < 0)
				goto out_free;
			d->xattr_count = n->xa_count;
		}
		if (S_ISDIR(n->mode)) {
			d->first = ndd;
			d->count = n->nkids;
			d->size = 4096;
			d->blocks = 8;
			for (uint32_t k = 0; k < n->nkids; k++) {
				struct bdirent *e = &b->dirents[n->kids[k]];
				struct bnode *kid = &b->nodes[e->node];

				r = out_put(&strings, e->name, e->len + 1,
					    &dd[ndd].name_off);
				if (r < 0)
					goto out_free;
				dd[ndd].name_len = e->len;
				dd[ndd].node = kid->new_id;
				ndd++;
				entries++;
				if (S_ISDIR(kid->mode))
					d->nlink++;
			}
		} else if (S_ISLNK(n->mode)) {
			r = out_put(&strings, n->link ? n->link : "",
				    n->link_len + 1, &d->first);
			if (r < 0)
				goto out_free;
			d->count = (uint32_t)n->link_len;
		} else if (S_ISREG(n->mode)) {
			struct tmpl_dextent *q;
			uint64_t stored = 0;

			q = reallocarray(de, (size_t)nde + n->next + 1,
					 sizeof(*de));
			if (!q)
				goto out_free;
			de = q;
			d->first = nde;
			d->count = n->next;
			for (uint32_t x = 0; x < n->next; x++) {
				de[nde++] = n->ext[x];
				stored += n->ext[x].length;
			}
			d->blocks = (stored + 511) / 512;
			bytes += n->size;
		}
	}

	struct tmpl_dheader h = { 0 };
	uint64_t off = align8(sizeof(h));

	memcpy(h.magic, TMPL_INDEX_MAGIC, 8);
	h.version = TMPL_FORMAT_VERSION;
	h.in_place = b->in_place;
	h.tpl_dev = st->st_dev;
	h.tpl_ino = st->st_ino;
	h.tpl_size = (uint64_t)st->st_size;
	h.tpl_mtime_sec = st->st_mtim.tv_sec;
	h.tpl_mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	h.tpl_ctime_sec = st->st_ctim.tv_sec;
	h.tpl_ctime_nsec = (uint32_t)st->st_ctim.tv_nsec;
	h.build_id = build_id;
	h.data_size = b->in_place ? 0 : b->data_pos;
	h.n_nodes = nnew;
	h.nodes_off = off;
	off = align8(off + (uint64_t)nnew * sizeof(*dn));
	h.n_dirents = ndd;
	h.dirents_off = off;
	off = align8(off + (uint64_t)ndd * sizeof(*dd));
	h.n_extents = nde;
	h.extents_off = off;
	off = align8(off + (uint64_t)nde * sizeof(*de));
	h.strings_size = strings.len;
	h.strings_off = off;
	off = align8(off + strings.len);
	h.xattrs_size = xattrs.len;
	h.xattrs_off = off;
	off = align8(off + xattrs.len);
	h.file_size = off;
	h.entries = entries;
	h.bytes = bytes;

	file = calloc(1, off);
	if (!file)
		goto out_free;
	memcpy(file + h.nodes_off, dn, (size_t)nnew * sizeof(*dn));
	if (ndd)
		memcpy(file + h.dirents_off, dd, (size_t)ndd * sizeof(*dd));
	if (nde)
		memcpy(file + h.extents_off, de, (size_t)nde * sizeof(*de));
	if (strings.len)
		memcpy(file + h.strings_off, strings.p, strings.len);
	if (xattrs.len)
		memcpy(file + h.xattrs_off, xattrs.p, xattrs.len);
	h.checksum = dm_hash64(file + sizeof(h), off - sizeof(h), 0);
	h.hdr_checksum = tmpl_header_checksum(&h);
	memcpy(file, &h, sizeof(h));
	r = write_all(idx_fd, file, off);
	if (r < 0) {
		cache_write_fail(b, r);
		goto out_free;
	}
	ret->in_place = b->in_place;
	ret->data_size = h.data_size;
	ret->entries = entries;
	ret->nodes = nnew;
	ret->bytes = bytes;
	r = 0;
out_free:
	free(strings.p);
	free(xattrs.p);
	return r;
}

static void builder_free(struct builder *b)
{
	for (uint32_t i = 0; i < b->nnodes; i++) {
		free(b->nodes[i].kids);
		free(b->nodes[i].link);
		free(b->nodes[i].ext);
		free(b->nodes[i].xa);
	}
	for (uint32_t i = 0; i < b->ndirents; i++)
		free(b->dirents[i].name);
	free(b->nodes);
	free(b->dirents);
	free(b->slots);
	if (b->a)
		archive_read_free(b->a);
	dm_seqw_free(b->data_w);
	free(b->last_member);
	tmpl_pax_global_free(&b->pax);
	tmpl_source_free(b->src);
}

uint64_t tmpl_header_checksum(const struct tmpl_dheader *h)
{
	return dm_hash64(h, offsetof(struct tmpl_dheader, hdr_checksum), 7);
}

int tmpl_build(int tpl_fd, const struct stat *st, const char *name, int idx_fd,
	       int data_fd, uint64_t build_id,
	       const struct tmpl_open_opts *opts, struct tmpl_build_result *ret,
	       struct dm_err *err)
{
	dm_warn_fn warn = opts->warn;
	void *warn_ctx = opts->warn_ctx;
	struct builder b = {
		.name = name,
		.warn = warn,
		.warn_ctx = warn_ctx,
		.cancel = opts->cancel,
		.cache_dir = opts->cache_dir,
		.err = err,
		.data_fd = data_fd,
		.tpl_fd = tpl_fd,
		.tpl_size = (uint64_t)st->st_size,
		.default_time = st->st_mtim.tv_sec,
	};
	struct tmpl_ddata_header dh = { 0 };
	unsigned char pad[TMPL_DATA_HDR_SIZE] = { 0 };
	struct archive_entry *e;
	uint32_t root;
	bool first = true;
	unsigned local;
	int r;

	if (lseek(tpl_fd, 0, SEEK_SET) < 0)
		return dm_err_set(err, errno, "%s: %s", name, strerror(errno));
	r = node_new(&b, S_IFDIR | 0755, &root);
	if (r < 0)
		goto out_free;
	b.a = archive_read_new();
	if (!b.a) {
		r = -ENOMEM;
		goto out_free;
	}
	archive_read_support_format_tar(b.a);
	archive_read_support_filter_all(b.a);
	r = tmpl_source_open(b.a, tpl_fd, &b.src);
	if (r == -ENOMEM)
		goto out_free;
	if (r < 0) {
		r = archive_fail(&b, NULL);
		goto out_free;
	}
	if (!b.src &&
	    archive_read_open_fd(b.a, tpl_fd, 64 << 10) != ARCHIVE_OK) {
		r = archive_fail(&b, NULL);
		goto out_free;
	}
	for (;;) {
		r = cancelled(&b);
		if (r < 0)
			goto out_free;
		r = archive_read_next_header(b.a, &e);
		if (r == ARCHIVE_EOF) {
			/*
			 * libarchive takes the input's end at a header as the
			 * end, marker or not (some writers leave it out), as
			 * GNU tar does; a cut at a member boundary looks so.
			 */
			if (!first &&
			    archive_filter_bytes(b.a, 0) == b.next_header)
				dm_warn(warn, warn_ctx,
					"%s: no end-of-archive blocks after member '%s' (byte %" PRId64
					"): the archive may have been cut short",
					name, b.last_member, b.next_header);
			break;
		}
		if (r == ARCHIVE_WARN && header_damaged(b.a)) {
			char why[256];

			/* libarchive's words say it goes on: domufs does not */
			snprintf(why, sizeof(why),
				 "damaged extended header (%s)",
				 archive_error_string(b.a));
			r = archive_fail_msg(&b, NULL, why);
			goto out_free;
		}
		if (r == ARCHIVE_WARN) {
			dm_warn(warn, warn_ctx, "%s: member '%s': %s", name,
				archive_entry_pathname(e) ?
					archive_entry_pathname(e) :
					"?",
				archive_error_string(b.a) ?
					archive_error_string(b.a) :
					"warning");
		} else if (r != ARCHIVE_OK) {
			r = archive_fail(&b, NULL);
			goto out_free;
		}
		if (first) {
			first = false;
			/* filter 0 is the bidder's "none" for a plain tar */
			b.in_place = !b.src &&
				     (archive_filter_count(b.a) <= 1 ||
				      archive_filter_code(b.a, 0) ==
					      ARCHIVE_FILTER_NONE);
			if (!b.in_place) {
				memcpy(dh.magic, TMPL_DATA_MAGIC, 8);
				dh.version = TMPL_FORMAT_VERSION;
				dh.build_id = build_id;
				memcpy(pad, &dh, sizeof(dh));
				r = dm_seqw_new(data_fd, 4u << 20, 4,
						DM_SEQW_DIRECT, &b.data_w);
				if (r == 0)
					r = dm_seqw_write(b.data_w, pad,
							  sizeof(pad));
				if (r < 0) {
					cache_write_fail(&b, r);
					goto out_free;
				}
				b.data_pos = sizeof(pad);
			}
		}
		free(b.last_member);
		b.last_member = strdup(archive_entry_pathname(e) ?
					       archive_entry_pathname(e) :
					       "?");
		r = pax_member(&b, e, &local);
		if (r == 0)
			r = add_member(&b, e);
		if (r == 0)
			pax_apply(&b, e, local);
		if (r == 0) {
			/* Skip what is left of the data: the next header. */
			if (archive_read_data_skip(b.a) != ARCHIVE_OK) {
				r = archive_fail(&b, b.last_member);
				goto out_free;
			}
			b.next_header = archive_filter_bytes(b.a, 0);
			if (b.src)
				tmpl_source_keep(b.src,
						 (uint64_t)b.next_header);
		}
		if (r < 0) {
			if (err && !err->code)
				dm_err_set(err, -r, "%s: member '%s': %s", name,
					   archive_entry_pathname(e),
					   strerror(-r));
			goto out_free;
		}
	}
	if (first) {
		/*
		 * No member at all: zero blocks first, as a file system image
		 * or a disk begins (given as TEMPLATE by mistake, or in a
		 * script with its operands swapped). No root comes that way.
		 */
		r = dm_err_set(
			err, EINVAL,
			"%s: not a tar archive (no member before its end-of-archive blocks)",
			name);
		goto out_free;
	}
	/* what follows the end marker is read without keeping it */
	if (b.src)
		tmpl_source_keep(b.src, UINT64_MAX);
	if (b.src && tmpl_source_drain(b.src) < 0) {
		r = dm_err_set(err, EIO, "%s: %s", name,
			       tmpl_source_error(b.src));
		goto out_free;
	}
	if (b.data_w) {
		r = dm_seqw_finish(b.data_w);
		if (r < 0) {
			cache_write_fail(&b, r);
			goto out_free;
		}
	}
	r = serialize(&b, idx_fd, st, build_id, ret);
out_free:
	builder_free(&b);
	return r;
}
