// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * FUSE low-level operations over the view. Each handler calls one view
 * function and sends exactly one reply (fuse_reply_err takes a positive
 * errno). Immutable template nodes get long entry/attribute timeouts,
 * cached negative lookups, kept page and readdir caches. No state of our
 * own beyond the session but hints (lean.h, prefetch.h): the view is
 * thread-safe.
 */
#define FUSE_USE_VERSION 314
#include "fusefs/fll.h"
#include "fusefs/cpulat.h"
#include "fusefs/iomax.h"
#include "fusefs/lean.h"
#include "fusefs/loop.h"
#include "fusefs/prefetch.h"
#include "fusefs/uring.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/path.h"
#include "common/hash.h"
#include "overlay/view.h"

#define IMMUTABLE_TIMEOUT (86400.0 * 365)
#define MUTABLE_TIMEOUT 1.0
/* workers: parallel writers and slow reads each hold one while they run */
#define FLL_THREADS 16

/*
 * What fi->fh points to: an open file or directory of the view, on a list
 * so that whatever the kernel still holds when the session ends (an
 * unmount by signal sends no RELEASE) is closed, not leaked. ctx->lock
 * covers the list.
 */
struct fll_handle {
	struct fll_handle *prev, *next;
	struct ovl_file *file;
	struct ovl_dir *dir;
	/*
	 * Set last by handle_add(), read first by file_of() and dir_of():
	 * the reply that hands the handle to the kernel comes before the
	 * requests that use it, on other threads, ordered through /dev/fuse
	 * where ThreadSanitizer cannot see it; this release and acquire say
	 * so where it can (a plain load on x86).
	 */
	atomic_bool published;
};

struct fll_ctx {
	struct ovl_view *v;
	struct fuse_session *se;
	/*
	 * Read-only view: opens need no round trip (the kernel sends no
	 * OPEN/RELEASE, OPENDIR/RELEASEDIR once we answer ENOSYS; reads and
	 * listings then come with fh 0 and go by inode).
	 */
	bool no_open, no_opendir;
	pthread_mutex_t lock;
	struct fll_handle head; /* circular, a sentinel */
	struct fll_uring *uring; /* mount --io-uring, else NULL */
	struct fll_pf *pf; /* read-ahead across files, or NULL */
	struct fll_cpulat *cpulat; /* idle CPUs held awake, or NULL */
	/* read-only view: READDIRPLUS lists files lean while nobody asks */
	bool lean_ok;
	struct fll_lean lean;
	bool fakeroot; /* callers act as root: see fll_opts */
};

static struct fll_ctx *ctx_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct ovl_view *view_of(fuse_req_t req)
{
	return ctx_of(req)->v;
}

/* Registers a handle; 0 (and nothing taken) when out of memory. */
static uint64_t handle_add(struct fll_ctx *c, struct ovl_file *f,
			   struct ovl_dir *d)
{
	struct fll_handle *h = calloc(1, sizeof(*h));

	if (!h)
		return 0;
	h->file = f;
	h->dir = d;
	atomic_store_explicit(&h->published, true, memory_order_release);
	pthread_mutex_lock(&c->lock);
	h->next = c->head.next;
	h->prev = &c->head;
	c->head.next->prev = h;
	c->head.next = h;
	pthread_mutex_unlock(&c->lock);
	return (uintptr_t)h;
}

/* Unregisters and closes a handle. */
static void handle_del(struct fll_ctx *c, uint64_t fh)
{
	struct fll_handle *h = (struct fll_handle *)(uintptr_t)fh;

	if (!h)
		return;
	pthread_mutex_lock(&c->lock);
	h->prev->next = h->next;
	h->next->prev = h->prev;
	pthread_mutex_unlock(&c->lock);
	ovl_file_close(h->file);
	ovl_dir_close(h->dir);
	free(h);
}

static struct fll_handle *handle_of(struct fuse_file_info *fi)
{
	struct fll_handle *h = (struct fll_handle *)(uintptr_t)fi->fh;

	atomic_load_explicit(&h->published, memory_order_acquire);
	return h;
}

static struct ovl_file *file_of(struct fuse_file_info *fi)
{
	return fi && fi->fh ? handle_of(fi)->file : NULL;
}

static struct ovl_dir *dir_of(struct fuse_file_info *fi)
{
	return handle_of(fi)->dir;
}

static double timeout_for(struct ovl_view *v, uint64_t ino)
{
	return ovl_view_immutable(v, ino) ? IMMUTABLE_TIMEOUT : MUTABLE_TIMEOUT;
}

static void fll_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fll_ctx *ctx = userdata;
	/* one a line; all are optional and only asked for when offered */
	unsigned wanted[] = {
		FUSE_CAP_SPLICE_WRITE, /* replies spliced from the data file */
		FUSE_CAP_SPLICE_MOVE,
		FUSE_CAP_CACHE_SYMLINKS,
		FUSE_CAP_POSIX_ACL,
		FUSE_CAP_DONT_MASK, /* the view applies umask or default ACL */
		FUSE_CAP_READDIRPLUS,
		FUSE_CAP_PARALLEL_DIROPS,
		FUSE_CAP_ASYNC_READ,
	};

	for (size_t i = 0; i < DM_ARRAY_SIZE(wanted); i++)
		if (conn->capable & wanted[i])
			conn->want |= wanted[i];
	/*
	 * Not FUSE_CAP_SPLICE_READ: libfuse would then take every request
	 * through a pipe, a splice and a read instead of one read, to spare
	 * large writes one copy; most requests here are small.
	 */
	conn->want &= ~FUSE_CAP_SPLICE_READ;
	/* the kernel's ACL checks come with its permission checks */
	if (ctx->fakeroot)
		conn->want &= ~FUSE_CAP_POSIX_ACL;
	/*
	 * No FUSE_CAP_WRITEBACK_CACHE: with it the kernel owns mtime and
	 * reports ENOSPC late (at fsync/close), which the overlay's local-
	 * filesystem semantics do not allow; writes come through as written.
	 */
	if (ovl_view_readonly(ctx->v)) {
		/*
		 * Nothing to keep per open file: without OPEN, FLUSH and
		 * RELEASE, a file read costs its READs only. The kernel then
		 * keeps page and readdir caches (FOPEN_KEEP_CACHE).
		 */
		if (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT) {
			conn->want |= FUSE_CAP_NO_OPEN_SUPPORT;
			ctx->no_open = true;
		}
	}
	/*
	 * No OPENDIR/RELEASEDIR either, writable views too: listings go by
	 * inode with offsets that outlive changes (do_readdir), and the
	 * kernel's readdir cache, which it then keeps, is dropped by every
	 * change made through the mount (the only way the tree changes).
	 */
	if (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) {
		conn->want |= FUSE_CAP_NO_OPENDIR_SUPPORT;
		ctx->no_opendir = true;
	}
	/* Always readdirplus: one round trip fills dentries and attributes. */
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	conn->time_gran = 1;
	/* fewer round trips for large writes (the kernel caps it itself) */
	conn->max_write = FLL_IO_MAX;
	/*
	 * The kernel keeps the smaller of this and the read-ahead window of
	 * the mount (raised before INIT, see raise_readahead()).
	 */
	conn->max_readahead = FLL_IO_MAX;
}

static void fill_entry(struct ovl_view *v, const struct stat *st,
		       struct fuse_entry_param *e)
{
	double t = timeout_for(v, st->st_ino);

	memset(e, 0, sizeof(*e));
	e->ino = st->st_ino;
	e->generation = 1;
	e->attr = *st;
	e->attr_timeout = t;
	e->entry_timeout = t;
}

/*
 * Listings turned full: the kernel drops the listings it got lean from its
 * readdir cache (and the directories' attributes, which it asks for again),
 * so that a reader walking them now gets them full, not a LOOKUP a file.
 */
static void lean_turned_full(struct fll_ctx *c)
{
	_cleanup_free_ uint64_t *dirs = NULL;
	size_t n = fll_lean_take(&c->lean, &dirs);

	for (size_t k = 0; k < n; k++)
		fuse_lowlevel_notify_inval_inode(c->se, dirs[k], 0, 0);
}

static void fll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fll_ctx *c = ctx_of(req);
	struct ovl_view *v = c->v;
	bool turned;
	struct fuse_entry_param e;
	struct stat st;
	int r = ovl_view_lookup(v, parent, name, &st);

	if (r == -ENOENT && ovl_view_immutable(v, parent)) {
		/* A cached negative entry: the template never changes. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = IMMUTABLE_TIMEOUT;
		fuse_reply_entry(req, &e);
		return;
	}
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	fill_entry(v, &st, &e);
	turned = c->lean_ok && !S_ISDIR(st.st_mode) &&
		 fll_lean_looked_up(&c->lean);
	fuse_reply_entry(req, &e);
	if (turned)
		lean_turned_full(c); /* after the reply: it need not wait */
}

static void fll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	ovl_view_forget(view_of(req), ino, nlookup);
	fuse_reply_none(req);
}

static void fll_forget_multi(fuse_req_t req, size_t count,
			     struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		ovl_view_forget(view_of(req), forgets[i].ino,
				forgets[i].nlookup);
	fuse_reply_none(req);
}

static void fll_getattr(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	struct ovl_view *v = view_of(req);
	struct stat st;
	int r = ovl_view_getattr(v, ino, &st);

	if (r == -ENOENT && file_of(fi)) {
		/* unlinked while open: the handle still knows it */
		r = ovl_file_stat(file_of(fi), &st);
		st.st_ino = ino;
	}
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, timeout_for(v, ino));
}

static void fll_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[PATH_MAX + 1];
	ssize_t n = ovl_view_readlink(view_of(req), ino, buf, PATH_MAX);

	if (n < 0) {
		fuse_reply_err(req, (int)-n);
		return;
	}
	buf[n] = '\0';
	fuse_reply_readlink(req, buf);
}

static void fll_opendir(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	struct ovl_view *v = view_of(req);
	struct ovl_dir *d;
	int r;

	if (ctx_of(req)->no_opendir) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	r = ovl_view_opendir(v, ino, &d);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	fi->fh = handle_add(ctx_of(req), NULL, d);
	if (!fi->fh) {
		ovl_dir_close(d);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (ovl_view_immutable(v, ino)) {
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
	}
	if (fuse_reply_open(req, fi) != 0)
		handle_del(ctx_of(req), fi->fh);
}

/*
 * Directory offsets. With a handle (OPENDIR), an entry's offset is its
 * index in the handle's snapshot + 1. Without one (no OPENDIR), each READDIR
 * lists the directory anew, and an offset must stay valid whatever is
 * created or removed in it between two calls: "." and ".." are 1 and 2,
 * every other entry comes in the order of a hash of its name, which is its
 * offset (3 .. 2^63 - 1), as in ext4's hashed directories. Entries of one
 * hash value never straddle two replies. A directory that cannot change
 * (ovl_view_immutable()) needs none of that: its offsets are positions,
 * as with a handle, and a call past its end costs no listing in order.
 */
struct rd_ent {
	uint64_t off;
	uint64_t i;
	const char *name;
};

static uint64_t name_off(const char *name)
{
	uint64_t h = dm_hash64(name, strlen(name), 0) >> 1;

	return h < 3 ? h + 3 : h;
}

static int rd_ent_cmp(const void *a, const void *b)
{
	const struct rd_ent *x = a, *y = b;

	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* The listing of @d in offset order, "." and ".." first. */
static int hashed_order(struct ovl_dir *d, uint64_t n, struct rd_ent **ret)
{
	struct rd_ent *e = calloc(n ? n : 1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	for (uint64_t i = 0; i < n; i++) {
		e[i].i = i;
		e[i].name = ovl_dir_name(d, i);
		if (!e[i].name) {
			free(e);
			return -EIO;
		}
		e[i].off = i < 2 ? i + 1 : name_off(e[i].name);
	}
	if (n > 2)
		qsort(e + 2, n - 2, sizeof(*e), rd_ent_cmp);
	*ret = e;
	return 0;
}

/* How far a listing is searched for its read-ahead neighbours. */
#define PF_SCAN 256

/* Whether @st is a file the read-ahead stores (@ret: what it needs). */
static bool pf_file_of(const struct stat *st, struct fll_pf_file *ret)
{
	if (!S_ISREG(st->st_mode) || st->st_size <= 0)
		return false;
	*ret = (struct fll_pf_file){ .ino = (uint64_t)st->st_ino,
				     .size = (uint64_t)st->st_size };
	return true;
}

/* The read-ahead's file at position @p of @d's listing (@ents), or 0. */
static uint64_t pf_file_at(struct ovl_dir *d, const struct rd_ent *ents,
			   uint64_t p)
{
	uint64_t i = ents ? ents[p].i : p;
	struct fll_pf_file f;
	const char *name;
	struct stat st;

	if (i < 2 || ovl_dir_entry(d, i, &name, &st) < 0 ||
	    !pf_file_of(&st, &f))
		return 0;
	return f.ino;
}

/*
 * The read-ahead's file listed last before position @p: a reply that
 * starts there continues the chain of the reply before.
 */
static uint64_t pf_before(struct ovl_dir *d, const struct rd_ent *ents,
			  uint64_t p)
{
	uint64_t before = 0;

	for (uint64_t q = p; q > 2 && p - q < PF_SCAN && !before; q--)
		before = pf_file_at(d, ents, q - 1);
	return before;
}

/* The first file of a listing, if any (0: none). */
static uint64_t pf_first(struct ovl_dir *d, const struct rd_ent *ents,
			 uint64_t n)
{
	uint64_t first = 0;

	for (uint64_t q = 2; q < n && q < 2 + PF_SCAN && !first; q++)
		first = pf_file_at(d, ents, q);
	return first;
}

/*
 * Where a reply is put together. With up to RD_SMALL entries left to list
 * (most directories of a root; and a `find` sends every directory a second
 * READDIRPLUS, which lists nothing) that is the stack: a block of the
 * request's size from the heap (32 KiB from glibc's readdir) cost the
 * daemon a twentieth of its time in such a walk.
 */
#define RD_SMALL 8
/* an index may hold names longer than NAME_MAX; the kernel takes PATH_MAX */
#define RD_ENT_MAX FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET_DIRENTPLUS + PATH_MAX)

/* Left uninitialized: zeroing it would cost what the heap did. */
struct rd_small {
	char buf[RD_SMALL * RD_ENT_MAX];
	uint64_t refs[RD_SMALL];
	struct fll_pf_file pfl[RD_SMALL];
};

struct rd_scratch {
	char *buf;
	uint64_t *refs; /* the entries the kernel will hold */
	struct fll_pf_file *pfl; /* the files for the read-ahead */
	size_t size;
	bool heap;
};

/*
 * For @left entries in at most @size bytes, in @small if they fit; pfl
 * only if @want_pf.
 */
static int rd_scratch_get(struct rd_scratch *s, struct rd_small *small,
			  uint64_t left, size_t size, bool want_pf)
{
	if (left <= RD_SMALL) {
		s->buf = small->buf;
		s->size = size < sizeof(small->buf) ? size : sizeof(small->buf);
		s->refs = small->refs;
		s->pfl = want_pf ? small->pfl : NULL;
		return 0;
	}
	s->heap = true;
	s->size = size;
	s->buf = malloc(size);
	s->refs = calloc(left, sizeof(*s->refs));
	s->pfl = want_pf ? calloc(left, sizeof(*s->pfl)) : NULL;
	return s->buf && s->refs && (s->pfl || !want_pf) ? 0 : -ENOMEM;
}

static void rd_scratch_put(struct rd_scratch *s)
{
	if (!s->heap)
		return;
	free(s->buf);
	free(s->refs);
	free(s->pfl);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, bool plus)
{
	struct ovl_view *v = view_of(req);
	struct fll_lean *lean =
		plus && ctx_of(req)->lean_ok ? &ctx_of(req)->lean : NULL;
	bool full = !lean || fll_lean_full(lean), probed = false;
	bool went_lean = false, hashed;
	struct ovl_dir *own = NULL;
	struct ovl_dir *d = fi->fh ? dir_of(fi) : NULL;
	_cleanup_free_ struct rd_ent *ents = NULL;
	struct fll_pf *pf = plus && ctx_of(req)->no_open ? ctx_of(req)->pf :
							   NULL;
	struct rd_scratch s = { 0 };
	struct rd_small small;
	size_t used = 0, nrefs = 0, npf = 0;
	size_t group_used = 0, group_refs = 0, group_pf = 0;
	uint64_t n, p = 0, start, ended = 0;
	int r;

	if (!d) {
		/* no OPENDIR: list it for this call, in hash order */
		r = ovl_view_opendir(v, ino, &own);
		if (r < 0) {
			fuse_reply_err(req, -r);
			return;
		}
		d = own;
	}
	/* one that cannot change keeps its order: offsets are positions */
	hashed = own && !ovl_view_immutable(v, ino);
	n = ovl_dir_count(d);
	if (size > FLL_IO_MAX)
		size = FLL_IO_MAX;
	r = hashed ? hashed_order(d, n, &ents) : 0;
	/* the first entry after @off (offsets are >= 1) */
	if (hashed)
		while (r == 0 && p < n && off > 0 &&
		       ents[p].off <= (uint64_t)off)
			p++;
	else if (off > 0)
		p = (uint64_t)off < n ? (uint64_t)off : n;
	start = p;
	if (r == 0)
		r = rd_scratch_get(&s, &small, n - start, size, pf != NULL);
	if (r < 0) {
		rd_scratch_put(&s);
		ovl_dir_close(own);
		fuse_reply_err(req, -r);
		return;
	}
	size = s.size;
	for (; p < n; p++) {
		uint64_t i = hashed ? ents[p].i : p;
		uint64_t next = hashed ? ents[p].off : p + 1;
		const char *name;
		struct stat st;
		bool bare = false; /* listed lean: the kernel holds nothing */
		size_t need;

		r = ovl_dir_entry(d, i, &name, &st);
		if (r == -ENOENT && hashed)
			continue; /* gone since the listing */
		if (r < 0) {
			if (used)
				break;
			rd_scratch_put(&s);
			ovl_dir_close(own);
			fuse_reply_err(req, -r);
			return;
		}
		if (!hashed || p == 0 || ents[p - 1].off != next) {
			group_used = used;
			group_refs = nrefs;
			group_pf = npf;
		}
		if (plus) {
			struct fuse_entry_param e;

			fill_entry(v, &st, &e);
			if (lean && i >= 2 && !S_ISDIR(st.st_mode)) {
				struct fll_pf_file f;

				if (!full) {
					bare = went_lean = true;
				} else if (!probed && !pf_file_of(&st, &f)) {
					probed = true;
					bare = fll_lean_probe(lean);
				}
			}
			if (bare)
				e.ino = 0; /* the kernel skips such an entry */
			need = fuse_add_direntry_plus(req, s.buf + used,
						      size - used, name, &e,
						      (off_t)next);
		} else {
			need = fuse_add_direntry(req, s.buf + used, size - used,
						 name, &st, (off_t)next);
		}
		/* An entry that did not fit was not added. */
		if (need > size - used) {
			/* its hash group goes whole into the next reply */
			if (hashed && group_used > 0) {
				used = group_used;
				nrefs = group_refs;
				npf = group_pf;
			}
			break;
		}
		/* sent: the kernel will hold a reference (not on . and ..) */
		if (plus && i >= 2 && !bare)
			s.refs[nrefs++] = (uint64_t)st.st_ino;
		if (pf && i >= 2 && !bare && pf_file_of(&st, &s.pfl[npf]))
			npf++;
		used += need;
	}
	/* the read-ahead: the files listed, or the end of the listing */
	if (npf)
		fll_pf_listed(pf, pf_before(d, ents, start), s.pfl, npf);
	else if (pf && used == 0 && start >= n && off > 0)
		ended = pf_first(d, ents, n); /* a reply that lists nothing */
	if (went_lean && used)
		fll_lean_listed(lean, ino);
	/* the lookup counts, once the reply's entries are settled */
	for (size_t k = 0; k < nrefs; k++)
		ovl_view_ref(v, s.refs[k]);
	ovl_dir_close(own);
	fuse_reply_buf(req, s.buf, used);
	rd_scratch_put(&s);
	/* after the reply, as in fll_read() */
	if (ended)
		fll_pf_listing_end(pf, ended);
}

static void fll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

static void fll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			    off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}

static void fll_releasedir(fuse_req_t req, fuse_ino_t ino,
			   struct fuse_file_info *fi)
{
	handle_del(ctx_of(req), fi->fh);
	fuse_reply_err(req, 0);
}

/* Is @gid the caller's group or one of its supplementary groups? */
static bool caller_in_group(fuse_req_t req, gid_t gid)
{
	gid_t small[64];
	_cleanup_free_ gid_t *big = NULL;
	gid_t *list = small;
	int n;

	if (fuse_req_ctx(req)->gid == gid)
		return true;
	n = fuse_req_getgroups(req, (int)DM_ARRAY_SIZE(small), small);
	if (n > (int)DM_ARRAY_SIZE(small)) {
		big = calloc((size_t)n, sizeof(*big));
		if (!big)
			return false;
		n = fuse_req_getgroups(req, n, big);
		list = big;
	}
	for (int i = 0; i < n; i++)
		if (list[i] == gid)
			return true;
	return false;
}

/*
 * An open with O_TRUNC truncates in the file system (atomic O_TRUNC), so
 * the kernel's clearing of set-id bits when a caller without CAP_FSETID
 * truncates does not happen: done here, by its rules (setuid always,
 * setgid with group execute or when the caller is not in the file's
 * group).
 */
static void trunc_kill_setid(fuse_req_t req, struct ovl_view *v, fuse_ino_t ino,
			     struct ovl_file *f)
{
	struct ovl_setattr a = { .valid = OVL_SET_MODE };
	struct stat st, out;
	mode_t kill = 0;

	if (fuse_req_ctx(req)->uid == 0 || ovl_view_getattr(v, ino, &st) < 0 ||
	    !S_ISREG(st.st_mode))
		return;
	if (st.st_mode & S_ISUID)
		kill |= S_ISUID;
	if ((st.st_mode & S_ISGID) &&
	    ((st.st_mode & S_IXGRP) || !caller_in_group(req, st.st_gid)))
		kill |= S_ISGID;
	if (!kill)
		return;
	a.mode = st.st_mode & ~kill;
	(void)ovl_view_setattr(v, ino, &a, f, &out);
}

/*
 * The error for a request that needs an open file where there is none: a
 * read-only mount answers OPEN with ENOSYS (no_open), so the kernel sends
 * file handle 0 for writes it lets through (a mount made `-o rw` over a
 * read-only view, before domufs forced `ro`) and for fsync.
 */
static int no_file_err(fuse_req_t req)
{
	return ovl_view_readonly(view_of(req)) ? EROFS : EBADF;
}

static void fll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ovl_view *v = view_of(req);
	struct ovl_file *f;
	int r;

	if (ctx_of(req)->no_open) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	r = ovl_view_open(v, ino, fi->flags, &f);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	if (fi->flags & O_TRUNC)
		trunc_kill_setid(req, v, ino, f);
	fi->fh = handle_add(ctx_of(req), f, NULL);
	if (!fi->fh) {
		ovl_file_close(f);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (ovl_view_immutable(v, ino))
		fi->keep_cache = 1;
	if (fuse_reply_open(req, fi) != 0)
		handle_del(ctx_of(req), fi->fh);
}

/* Where the bytes of @ino (open as @f, or NULL) at @off live. */
static int map_at(fuse_req_t req, fuse_ino_t ino, struct ovl_file *f,
		  uint64_t off, int *ret_fd, uint64_t *ret_pos,
		  uint64_t *ret_len)
{
	return f ? ovl_file_map(f, off, ret_fd, ret_pos, ret_len) :
		   ovl_view_map(view_of(req), ino, off, ret_fd, ret_pos,
				ret_len);
}

/* Whether nothing of @ino (open as @f, or NULL) lies at or after @end. */
static bool ends_file(fuse_req_t req, fuse_ino_t ino, struct ovl_file *f,
		      uint64_t end)
{
	uint64_t pos, len;
	int fd;

	return map_at(req, ino, f, end, &fd, &pos, &len) == -ENXIO;
}

/* Replies to a READ (fll_read() below). */
static void read_reply(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct ovl_file *f = file_of(fi);
	_cleanup_free_ char *buf = NULL;
	char *dst = NULL;
	size_t room = 0;
	uint64_t pos, len;
	ssize_t n;
	int fd, r;

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (size > FLL_IO_MAX)
		size = FLL_IO_MAX;
	r = map_at(req, ino, f, (uint64_t)off, &fd, &pos, &len);
	if (r == -ENXIO) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	/* On a ring: read straight into the reply's buffer. */
	if (r == 0 && ctx_of(req)->uring)
		dst = fll_uring_reply_room(ctx_of(req)->uring, &room);
	if (dst && size > room)
		dst = NULL;
	if (!dst && r == 0 && fd >= 0) {
		/*
		 * The kernel asks for whole pages: the file's last run,
		 * shorter, is a whole reply (a short one is its end of file).
		 */
		if (len < size && ends_file(req, ino, f, (uint64_t)off + len))
			size = len;
		if (len >= size) {
			/* One contiguous run: libfuse splices it from the file. */
			struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);

			bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
			bv.buf[0].fd = fd;
			bv.buf[0].pos = (off_t)pos;
			fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
			return;
		}
	}
	if (!dst) {
		dst = buf = malloc(size ? size : 1);
		if (!buf) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
	}
	n = f ? ovl_file_read(f, dst, size, (uint64_t)off) :
		ovl_view_read(view_of(req), ino, dst, size, (uint64_t)off);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, dst, (size_t)n);
}

static void fll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct fll_ctx *ctx = ctx_of(req);
	bool first = off == 0 && !file_of(fi) && ctx->no_open;

	read_reply(req, ino, size, off, fi);
	/*
	 * The read-ahead thread is woken once the reply is out: woken
	 * before, it could take this CPU from the reply it waits for.
	 */
	if (first)
		fll_pf_first_read(ctx->pf, ino);
}

/* A WRITE's data to the open file (libfuse calls this, never .write). */
static void fll_write_buf(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_bufvec *in, off_t off,
			  struct fuse_file_info *fi)
{
	struct ovl_file *f = file_of(fi);
	int fd = f ? ovl_file_fd(f) : -EBADF;
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
	ssize_t n;

	if (fd < 0) {
		fuse_reply_err(req, no_file_err(req));
		return;
	}
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = fd;
	out.buf[0].pos = off;
	n = fuse_buf_copy(&out, in, 0);
	if (n < 0) {
		fuse_reply_err(req, (int)-n);
		return;
	}
	ovl_file_wrote(f, (uint64_t)off, (size_t)n);
	fuse_reply_write(req, (size_t)n);
}

static void fll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	/*
	 * Nothing is buffered here (no writeback cache): ENOSYS tells the
	 * kernel to stop sending FLUSH at every close.
	 */
	fuse_reply_err(req, ENOSYS);
}

static void fll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		      struct fuse_file_info *fi)
{
	struct ovl_file *f = file_of(fi);

	/* not opened through us (no_open): nothing of it to write out */
	fuse_reply_err(req, f ? -ovl_file_fsync(f, datasync) : 0);
}

static void fll_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			 struct fuse_file_info *fi)
{
	fuse_reply_err(req, -ovl_view_fsyncdir(view_of(req), ino, datasync));
}

static void fll_release(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	handle_del(ctx_of(req), fi->fh);
	fuse_reply_err(req, 0);
}

static void fll_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs s = { 0 };
	uint64_t files, bytes, avail;

	ovl_view_statfs(view_of(req), &files, &bytes, &avail);
	s.f_bsize = 4096;
	s.f_frsize = 4096;
	s.f_blocks = (bytes + avail + 4095) / 4096;
	s.f_bfree = avail / 4096;
	s.f_bavail = avail / 4096;
	s.f_files = files;
	s.f_namemax = 255;
	s.f_flag = ovl_view_readonly(view_of(req)) ? ST_RDONLY : 0;
	fuse_reply_statfs(req, &s);
}

static void reply_xattr(fuse_req_t req, ssize_t n, const char *buf, size_t size)
{
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

static void fll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			 size_t size)
{
	_cleanup_free_ char *buf = NULL;
	ssize_t n;

	if (size) {
		buf = malloc(size);
		if (!buf) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
	}
	n = ovl_view_getxattr(view_of(req), ino, name, buf, size);
	reply_xattr(req, n, buf, size);
}

/* Drops the names starting "trusted." from a listxattr list; its new length. */
static size_t drop_trusted(char *buf, size_t len)
{
	static const char pfx[] = "trusted.";
	size_t in = 0, out = 0;

	while (in < len) {
		size_t l = strnlen(buf + in, len - in) + 1;

		if (strncmp(buf + in, pfx, sizeof(pfx) - 1) != 0) {
			memmove(buf + out, buf + in, l);
			out += l;
		}
		in += l;
	}
	return out;
}

/*
 * As on a local file system, trusted.* names are listed only to a caller
 * with CAP_SYS_ADMIN (taken as uid 0; the kernel leaves listing to the
 * file system, it filters getxattr and setxattr itself).
 */
static void fll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct ovl_view *v = view_of(req);
	_cleanup_free_ char *buf = NULL;
	ssize_t n;

	if (fuse_req_ctx(req)->uid != 0) {
		for (;;) {
			char *nb;

			n = ovl_view_listxattr(v, ino, NULL, 0);
			if (n <= 0)
				break;
			nb = realloc(buf, (size_t)n);
			if (!nb) {
				fuse_reply_err(req, ENOMEM);
				return;
			}
			buf = nb;
			n = ovl_view_listxattr(v, ino, buf, (size_t)n);
			if (n != -ERANGE)
				break; /* else it grew meanwhile */
		}
		if (n > 0)
			n = (ssize_t)drop_trusted(buf, (size_t)n);
		if (n >= 0 && size && (size_t)n > size)
			n = -ERANGE;
		reply_xattr(req, n, buf, size);
		return;
	}
	if (size) {
		buf = malloc(size);
		if (!buf) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
	}
	n = ovl_view_listxattr(v, ino, buf, size);
	reply_xattr(req, n, buf, size);
}

static void fll_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		      struct fuse_file_info *fi)
{
	int64_t pos;
	int r;

	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	r = file_of(fi) ? ovl_file_lseek(file_of(fi), off, whence, &pos) :
			  ovl_view_lseek(view_of(req), ino, off, whence, &pos);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_lseek(req, pos);
}

/* Mutations: the view refuses them (EROFS) when it has no upper layer. */
static void reply_new_entry(fuse_req_t req, int r, const struct stat *st)
{
	struct fuse_entry_param e;

	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	fill_entry(view_of(req), st, &e);
	if (fuse_reply_entry(req, &e) != 0)
		ovl_view_forget(view_of(req), st->st_ino, 1);
}

static void cred_of(fuse_req_t req, struct ovl_cred *c)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	bool root = ctx_of(req)->fakeroot;

	c->uid = root ? 0 : ctx->uid;
	c->gid = root ? 0 : ctx->gid;
	c->umask = ctx->umask; /* FUSE_CAP_DONT_MASK: ours to apply */
}

static void fll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			int to_set, struct fuse_file_info *fi)
{
	static const struct {
		int fuse;
		unsigned ovl;
	} map[] = {
		{ FUSE_SET_ATTR_MODE, OVL_SET_MODE },
		{ FUSE_SET_ATTR_UID, OVL_SET_UID },
		{ FUSE_SET_ATTR_GID, OVL_SET_GID },
		{ FUSE_SET_ATTR_SIZE, OVL_SET_SIZE },
		{ FUSE_SET_ATTR_ATIME, OVL_SET_ATIME },
		{ FUSE_SET_ATTR_MTIME, OVL_SET_MTIME },
		{ FUSE_SET_ATTR_ATIME_NOW, OVL_SET_ATIME_NOW },
		{ FUSE_SET_ATTR_MTIME_NOW, OVL_SET_MTIME_NOW },
		{ FUSE_SET_ATTR_CTIME, OVL_SET_CTIME },
	};
	struct ovl_view *v = view_of(req);
	struct ovl_setattr a = {
		.mode = attr->st_mode,
		.uid = attr->st_uid,
		.gid = attr->st_gid,
		.size = attr->st_size,
		.atime = attr->st_atim,
		.mtime = attr->st_mtim,
	};
	struct stat st;
	int r;

	for (size_t i = 0; i < DM_ARRAY_SIZE(map); i++)
		if (to_set & map[i].fuse)
			a.valid |= map[i].ovl;
	r = ovl_view_setattr(v, ino, &a, file_of(fi), &st);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, timeout_for(v, ino));
}

static void fll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, dev_t rdev)
{
	struct ovl_cred c;
	struct stat st;

	cred_of(req, &c);
	reply_new_entry(req,
			ovl_view_mknod(view_of(req), &c, parent, name, mode,
				       rdev, &st),
			&st);
}

static void fll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode)
{
	struct ovl_cred c;
	struct stat st;

	cred_of(req, &c);
	reply_new_entry(
		req, ovl_view_mkdir(view_of(req), &c, parent, name, mode, &st),
		&st);
}

static void fll_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
			const char *name)
{
	struct ovl_cred c;
	struct stat st;

	cred_of(req, &c);
	reply_new_entry(req,
			ovl_view_symlink(view_of(req), &c, parent, name, link,
					 &st),
			&st);
}

static void fll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		     const char *newname)
{
	struct stat st;

	reply_new_entry(
		req, ovl_view_link(view_of(req), ino, newparent, newname, &st),
		&st);
}

static void fll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -ovl_view_unlink(view_of(req), parent, name));
}

static void fll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -ovl_view_rmdir(view_of(req), parent, name));
}

static void fll_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		       fuse_ino_t newparent, const char *newname,
		       unsigned int flags)
{
	struct ovl_view *v = view_of(req);
	bool fixed = ovl_view_fixed_name(v, newparent, newname);
	struct stat st;
	uint64_t moved = 0;
	int r;

	if (fixed && ovl_view_lookup(v, parent, name, &st) == 0) {
		moved = st.st_ino;
		ovl_view_forget(v, moved, 1);
	}
	r = ovl_view_rename(v, parent, name, newparent, newname, flags);
	/*
	 * Renamed over a name the fixups rewrite (an editor's save): the
	 * inode the kernel knows, with the size and pages of what was
	 * written, now reads with the fix applied on top. Tie the name to it
	 * and drop what the kernel caches of it.
	 */
	if (r == 0 && moved) {
		if (ovl_view_lookup(v, newparent, newname, &st) == 0)
			ovl_view_forget(v, st.st_ino, 1);
		fuse_lowlevel_notify_inval_inode(ctx_of(req)->se, moved, 0, 0);
	}
	fuse_reply_err(req, -r);
}

static void fll_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		       mode_t mode, struct fuse_file_info *fi)
{
	struct ovl_view *v = view_of(req);
	struct fuse_entry_param e;
	struct ovl_file *f;
	struct ovl_cred c;
	struct stat st;
	int r;

	cred_of(req, &c);
	r = ovl_view_create(v, &c, parent, name, mode, fi->flags, &st, &f);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	fill_entry(v, &st, &e);
	fi->fh = handle_add(ctx_of(req), f, NULL);
	if (!fi->fh) {
		ovl_file_close(f);
		ovl_view_forget(v, st.st_ino, 1);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (fuse_reply_create(req, &e, fi) != 0) {
		handle_del(ctx_of(req), fi->fh);
		ovl_view_forget(v, st.st_ino, 1);
	}
}

static void fll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			 const char *value, size_t size, int flags)
{
	fuse_reply_err(req, -ovl_view_setxattr(view_of(req), ino, name, value,
					       size, flags));
}

static void fll_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fuse_reply_err(req, -ovl_view_removexattr(view_of(req), ino, name));
}

static void fll_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
			  off_t offset, off_t length, struct fuse_file_info *fi)
{
	struct ovl_file *f = file_of(fi);

	fuse_reply_err(req, f ? -ovl_file_fallocate(f, mode, offset, length) :
				no_file_err(req));
}

static const struct fuse_lowlevel_ops fll_ops = {
	.init = fll_init,
	.lookup = fll_lookup,
	.forget = fll_forget,
	.forget_multi = fll_forget_multi,
	.getattr = fll_getattr,
	.readlink = fll_readlink,
	.opendir = fll_opendir,
	.readdir = fll_readdir,
	.readdirplus = fll_readdirplus,
	.releasedir = fll_releasedir,
	.open = fll_open,
	.read = fll_read,
	.release = fll_release,
	.write_buf = fll_write_buf,
	.flush = fll_flush,
	.fsync = fll_fsync,
	.fsyncdir = fll_fsyncdir,
	.statfs = fll_statfs,
	.getxattr = fll_getxattr,
	.listxattr = fll_listxattr,
	.lseek = fll_lseek,
	.setattr = fll_setattr,
	.mknod = fll_mknod,
	.mkdir = fll_mkdir,
	.unlink = fll_unlink,
	.rmdir = fll_rmdir,
	.symlink = fll_symlink,
	.rename = fll_rename,
	.link = fll_link,
	.create = fll_create,
	.setxattr = fll_setxattr,
	.removexattr = fll_removexattr,
	.fallocate = fll_fallocate,
};

int fll_check_mountpoint(const char *path, struct dm_err *err)
{
	char parent[PATH_MAX];
	struct stat st, pst;
	int n;

	if (stat(path, &st) < 0) {
		if (errno == ENOTCONN)
			return dm_err_set(
				err, EBUSY,
				"mountpoint %s: in use by a dead FUSE mount (run fusermount3 -u)",
				path);
		return dm_err_set(err, errno, "mountpoint %s: %s", path,
				  strerror(errno));
	}
	if (!S_ISDIR(st.st_mode))
		return dm_err_set(err, ENOTDIR,
				  "mountpoint %s: not a directory", path);
	n = snprintf(parent, sizeof(parent), "%s/..", path);
	if (n < 0 || (size_t)n >= sizeof(parent))
		return dm_err_set(err, ENAMETOOLONG,
				  "mountpoint %s: name too long", path);
	if (stat(parent, &pst) < 0)
		return dm_err_set(err, errno, "mountpoint %s: %s", path,
				  strerror(errno));
	if (st.st_dev != pst.st_dev ||
	    (st.st_ino == pst.st_ino && st.st_dev == pst.st_dev))
		return dm_err_set(err, EBUSY,
				  "mountpoint %s: already a mount point", path);
	return 0;
}

/*
 * The device number of the mount at @real (the mount point's canonical
 * name, taken before the mount), the last one listed (the one on top), from
 * mountinfo: a stat of the mount point would wait for the session loop.
 * 0 if none.
 */
static dev_t mount_dev(const char *real)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096 + 256];
	dev_t dev = 0;

	if (!f || !real)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char mp[4096];
		unsigned a, b;

		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT ... (octal escapes) */
		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &a, &b, mp) != 3)
			continue;
		dm_path_unescape_octal(mp);
		if (!strcmp(mp, real))
			dev = makedev(a, b);
	}
	return dev;
}

/*
 * The kernel reads a FUSE file ahead in at most its backing device's
 * read-ahead window, 128 KiB by default, whatever the largest request is
 * (FLL_IO_MAX here, see max_write), and at INIT keeps the smaller of that
 * window and the daemon's max_readahead. Raise the window of this mount
 * (@dev) before INIT is answered, to match the largest request, so that a
 * large template file is read in a seventh of the round trips. Best
 * effort: an ordinary user cannot, and nothing depends on it.
 */
static void raise_readahead(dev_t dev)
{
	char path[128], kb[16];
	int fd;

	if (!dev)
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb",
		 major(dev), minor(dev));
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	snprintf(kb, sizeof(kb), "%u", FLL_IO_MAX >> 10);
	if (write(fd, kb, strlen(kb)) < 0) {
		/* best effort */
	}
	close(fd);
}

/*
 * With io_uring queues, a request the kernel has just handed to a queue
 * whose thread then exits is ended with ECANCELED (the kernel's io_uring
 * cancels the thread's pending work), so a reader caught by SIGTERM could
 * see that instead of ECONNABORTED. Aborting the connection first stops
 * the kernel handing out requests; the queues then serve what they hold.
 * A forced lazy unmount aborts (FUSE's umount_begin) and detaches; only
 * root may, and only while the mount on top of @real is still this one
 * (@dev), so that nothing else mounted there is touched. Whether it did.
 */
static bool abort_mount(const char *real, dev_t dev)
{
	if (!dev || mount_dev(real) != dev)
		return false;
	return umount2(real, MNT_FORCE | MNT_DETACH) == 0;
}

/*
 * fuse_session_new() with what libfuse prints on stderr held back: when it
 * fails, its first line (an unknown -o option, say) goes into @why for the
 * one error line; when it succeeds, the text is passed on (-d's banner).
 * The process has one thread yet.
 */
static struct fuse_session *
session_new(struct fuse_args *args, struct fll_ctx *ctx, char *why, size_t size)
{
	_cleanup_close_ int saved = dup(STDERR_FILENO);
	_cleanup_close_ int log = memfd_create("domufs-fuse-log", MFD_CLOEXEC);
	struct fuse_session *se;
	char buf[1024], *line;
	ssize_t n;

	why[0] = '\0';
	if (saved < 0 || log < 0)
		return fuse_session_new(args, &fll_ops, sizeof(fll_ops), ctx);
	fflush(stderr);
	if (dup2(log, STDERR_FILENO) < 0)
		return fuse_session_new(args, &fll_ops, sizeof(fll_ops), ctx);
	se = fuse_session_new(args, &fll_ops, sizeof(fll_ops), ctx);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	n = pread(log, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return se;
	if (se) {
		(void)!write(STDERR_FILENO, buf, (size_t)n);
		return se;
	}
	buf[n] = '\0';
	line = buf + (strncmp(buf, "fuse: ", 6) ? 0 : 6);
	line[strcspn(line, "\n")] = '\0';
	snprintf(why, size, "%.200s", line);
	return NULL;
}

static int write_ready(int fd)
{
	static const char msg[] = "ready\n";

	if (fd < 0)
		return 0;
	if (write(fd, msg, sizeof(msg) - 1) < 0)
		return -errno;
	close(fd);
	return 0;
}

/* libfuse's custom I/O hooks, only installed for io_uring (uring.h). */
static ssize_t io_read(int fd, void *buf, size_t len, void *userdata)
{
	return fll_uring_read(((struct fll_ctx *)userdata)->uring, fd, buf,
			      len);
}

static ssize_t io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	return fll_uring_writev(((struct fll_ctx *)userdata)->uring, fd, iov,
				count);
}

static ssize_t io_splice_send(int fdin, off_t *offin, int fdout, off_t *offout,
			      size_t len, unsigned flags, void *userdata)
{
	return fll_uring_splice_send(((struct fll_ctx *)userdata)->uring, fdin,
				     offin, fdout, offout, len, flags);
}

/*
 * No polling while the read-ahead stores (its CPU is worth more), nor
 * while idle CPUs are held awake: the CPU the poll takes is then one the
 * caller of the next request could have been woken on, for nothing.
 */
static bool may_poll(void *arg)
{
	struct fll_ctx *ctx = arg;

	return !fll_pf_storing(ctx->pf) && !fll_cpulat_held(ctx->cpulat);
}

/*
 * Requests that only read: the index, the layers' metadata, file data
 * through the page cache; none of them waits for another request (the
 * read-ahead's lock is never held across a store). Reads of up to
 * QUICK_READ_MAX: a larger one copies long enough (or waits for the disk)
 * to hold other callers up. Opening, flushing and releasing only for a node
 * that cannot change: on the upper layer they may copy a whole file up or
 * write it out. Writes of every kind are not quick either.
 */
#define QUICK_READ_MAX (128u << 10)

static bool quick(void *arg, const void *in, size_t len)
{
	const struct fuse_in_header *h = in;
	const struct fuse_read_in *rd = (const void *)(h + 1);
	struct fll_ctx *ctx = arg;

	if (len < sizeof(*h))
		return false;
	switch (h->opcode) {
	case FUSE_READ:
		return len >= sizeof(*h) + sizeof(*rd) &&
		       rd->size <= QUICK_READ_MAX;
	case FUSE_LOOKUP:
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT:
	case FUSE_GETATTR:
	case FUSE_READLINK:
	case FUSE_LSEEK:
	case FUSE_STATFS:
	case FUSE_GETXATTR:
	case FUSE_LISTXATTR:
	case FUSE_ACCESS:
	case FUSE_OPENDIR:
	case FUSE_READDIR:
	case FUSE_READDIRPLUS:
	case FUSE_RELEASEDIR:
		return true;
	case FUSE_OPEN:
	case FUSE_FLUSH:
	case FUSE_RELEASE:
		return ovl_view_immutable(ctx->v, h->nodeid);
	default:
		return false;
	}
}

static void received(void *arg, uint64_t now_ns, uint64_t gap_ns)
{
	fll_cpulat_request(((struct fll_ctx *)arg)->cpulat, now_ns, gap_ns);
}

/*
 * With --io-uring and a kernel that lets servers use it: the hooks that
 * take requests from the rings once INIT is answered. Otherwise (or when
 * the kernel's INIT does not offer it) a warning, and /dev/fuse alone.
 */
static void uring_attach(struct fll_ctx *ctx, struct fuse_session *se,
			 unsigned poll_us, const struct fll_loop_hooks *h)
{
	static const struct fuse_custom_io io = {
		.read = io_read,
		.writev = io_writev,
		.splice_send = io_splice_send,
	};
	int fd = fuse_session_fd(se);

	if (!fll_uring_enabled()) {
		fprintf(stderr,
			"domufs: warning: io_uring is off in this kernel (fuse "
			"module parameter enable_uring); serving through "
			"/dev/fuse\n");
		return;
	}
	if (fll_uring_new(se, fd, poll_us, h, &ctx->uring) < 0)
		return;
	if (fuse_session_custom_io(se, &io, fd) != 0) {
		fll_uring_free(ctx->uring);
		ctx->uring = NULL;
	}
}

/*
 * Before the workers stop: the read-ahead thread may be storing pages that
 * a READ holds locked, which only an answer to that READ unlocks.
 */
static void drain(void *arg)
{
	struct fll_ctx *ctx = arg;

	fll_pf_stop(ctx->pf);
}

int fll_run(struct ovl_view *v, const struct fll_opts *opts, struct dm_err *err)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	_cleanup_free_ char *optstr = NULL;
	char why[256];
	_cleanup_free_ char *fsname = NULL;
	struct fuse_session *se = NULL;
	_cleanup_free_ char *real = NULL;
	struct fll_ctx ctx = { .v = v };
	const struct fll_loop_hooks hooks = { .drain = drain,
					      .may_poll = may_poll,
					      .received = received,
					      .quick = quick,
					      .arg = &ctx };
	bool aborted = false;
	dev_t dev = 0;
	int r;

	ctx.head.next = ctx.head.prev = &ctx.head;
	pthread_mutex_init(&ctx.lock, NULL);
	ctx.lean_ok = ovl_view_readonly(v);
	ctx.fakeroot = opts->fakeroot;
	fll_lean_init(&ctx.lean);

	r = fll_check_mountpoint(opts->mountpoint, err);
	if (r < 0)
		return r;
	if (opts->fsname && asprintf(&fsname, "fsname=%s", opts->fsname) < 0)
		return dm_err_set(err, ENOMEM, "out of memory");
	if (fuse_opt_add_arg(&args, "domufs") < 0 ||
	    fuse_opt_add_opt(&optstr,
			     opts->fakeroot ?
				     "subtype=domufs" :
				     "subtype=domufs,default_permissions") <
		    0 ||
	    (fsname && fuse_opt_add_opt_escaped(&optstr, fsname) < 0)) {
		r = dm_err_set(err, ENOMEM, "out of memory");
		goto out_args;
	}
	for (const char *const *o = opts->fuse_opts; o && *o; o++)
		if (fuse_opt_add_opt(&optstr, *o) < 0) {
			r = dm_err_set(err, ENOMEM, "out of memory");
			goto out_args;
		}
	/* last, so that a caller's -o rw cannot make a read-only view rw */
	if (ovl_view_readonly(v) && fuse_opt_add_opt(&optstr, "ro") < 0) {
		r = dm_err_set(err, ENOMEM, "out of memory");
		goto out_args;
	}
	if (fuse_opt_add_arg(&args, "-o") < 0 ||
	    fuse_opt_add_arg(&args, optstr) < 0 ||
	    (opts->debug && fuse_opt_add_arg(&args, "-d") < 0)) {
		r = dm_err_set(err, ENOMEM, "out of memory");
		goto out_args;
	}
	se = session_new(&args, &ctx, why, sizeof(why));
	ctx.se = se;
	if (!se) {
		if (why[0])
			r = dm_err_set(err, EINVAL, "mount %s: %s",
				       opts->mountpoint, why);
		else
			r = dm_err_set(err, EINVAL,
				       "mount %s: bad FUSE options '%s'",
				       opts->mountpoint, optstr);
		goto out_args;
	}
	if (fuse_set_signal_handlers(se) != 0) {
		r = dm_err_set(err, EIO, "mount %s: cannot set signal handlers",
			       opts->mountpoint);
		goto out_destroy;
	}
	real = realpath(opts->mountpoint, NULL);
	if (fuse_session_mount(se, opts->mountpoint) != 0) {
		r = dm_err_set(err, EIO, "mount %s: FUSE mount failed",
			       opts->mountpoint);
		goto out_signals;
	}
	dev = mount_dev(real);
	raise_readahead(dev);
	if (opts->io_uring)
		uring_attach(&ctx, se, opts->poll_us, &hooks);
	if (fuse_daemonize(opts->foreground) != 0) {
		r = dm_err_set(err, EIO, "mount %s: cannot daemonize",
			       opts->mountpoint);
		goto out_unmount;
	}
	write_ready(opts->ready_fd);
	if (ovl_view_readonly(v))
		ctx.pf = fll_pf_new(v, se);
	if (opts->cpu_awake)
		ctx.cpulat = fll_cpulat_new();
	r = fll_loop(se, FLL_THREADS, opts->poll_us, &hooks);
	/*
	 * Unmounting closes the device: the queues' commands must not name
	 * it after that (the number may be reused). Until they have stopped,
	 * their requests may still tell the read-ahead (stopped by drain())
	 * and the CPU latency keeper (freed only then).
	 */
	if (ctx.uring)
		aborted = abort_mount(real, dev);
	fll_uring_stop(ctx.uring, aborted);
	fll_cpulat_free(ctx.cpulat);
	ctx.cpulat = NULL;
	fll_pf_free(ctx.pf);
	ctx.pf = NULL;
	if (r < 0)
		r = dm_err_set(err, -r, "mount %s: %s", opts->mountpoint,
			       strerror(-r));
	else
		r = 0; /* a signal ended the loop: a clean unmount */
out_unmount:
	fuse_session_unmount(se);
	fll_uring_free(ctx.uring); /* with the device closed: the end */
out_signals:
	fuse_remove_signal_handlers(se);
out_destroy:
	fuse_session_destroy(se);
out_args:
	fuse_opt_free_args(&args);
	/* what the kernel did not release before the session ended */
	while (ctx.head.next != &ctx.head)
		handle_del(&ctx, (uintptr_t)ctx.head.next);
	pthread_mutex_destroy(&ctx.lock);
	fll_lean_free(&ctx.lean);
	return r;
}
