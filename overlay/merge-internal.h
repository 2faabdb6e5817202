/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the files of the writable view share (merge.c has the overview):
 * its state, the node and name tables, and the calls one part of it makes
 * into another. Every call here runs with m->lock held unless it says
 * otherwise.
 */
#ifndef OVL_MERGE_INTERNAL_H
#define OVL_MERGE_INTERNAL_H

#include <stdbool.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "overlay/merge.h"
#include "overlay/upper.h"

#define NO_LOWER UINT32_MAX
/*
 * Inode numbers: a template node's is its id + 1; an entry only the
 * overlay has gets MG_UPPER_INO_BASE + its upper inode number (below the
 * fix layer's OVL_FX_INO_BASE), or failing that one counted from
 * above the template's (next_ino).
 */
#define MG_UPPER_INO_BASE (UINT64_C(1) << 61)
#define MG_UPPER_INO_SPAN (UINT64_C(1) << 60)

struct alias {
	struct mnode *node; /* whose name this is */
	struct mnode *parent;
	char *name;
	struct alias *next; /* the node's next name */
	struct alias **pprev; /* what points to it in the node's list */
	struct alias *hnext; /* chained hash on (parent, name) */
};

struct mnode {
	uint64_t ino;
	uint32_t lower; /* template node (dirs: the one merged; files: origin) */
	uint64_t nlookup;
	struct alias *aliases;
	unsigned nchild; /* aliases with this node as their parent */
	bool has_ukey;
	dev_t udev;
	ino_t uino;
	int orphan_fd; /* unlinked while open: O_PATH to it (for fstat...) */
	/*
	 * Template entries: found with no upper entry or whiteout at alias
	 * absent_at while absent_gen == m->gen (the template node there:
	 * absent_lower); a copy-up of the node resets absent_gen to 0.
	 */
	uint64_t absent_gen;
	const struct alias *absent_at;
	uint32_t absent_lower;
	unsigned open_count; /* file and directory handles open on it (lock) */
	int dir_fd; /* directories: cached O_PATH fd of the upper dir */
	uint64_t dir_fd_gen; /* valid while == m->gen */
	/* directories: cached merge state, valid while gen == m->gen */
	uint64_t gen;
	bool opaque;
	/* directories: cached st_nlink, for this upper mtime and gen */
	bool nl_valid;
	nlink_t nl;
	uint64_t nl_gen;
	struct timespec nl_mtime;
	struct mnode *next_ino, *next_ukey;
};

struct ovl_merge {
	struct ovl_layer lower;
	struct ovl_upper up;
	pthread_mutex_t lock;
	/*
	 * Template files whose data a copy-up is copying without the lock
	 * (see copy_unlocked() in merge-copyup.c), and the condition their
	 * end is signalled on; both under the lock.
	 */
	uint32_t *copying;
	size_t ncopying, copying_cap;
	pthread_cond_t copied;
	/*
	 * Large upper files that lost their last name, held open until the
	 * closer thread closes them (see late_put() in merge-ns.c); under
	 * the lock.
	 */
	int *late;
	size_t nlate, late_cap;
	bool closer_running, closer_stop;
	pthread_t closer;
	pthread_cond_t late_cv;
	uint64_t gen;
	uint64_t copyups; /* template entries copied up (see mg_upper_appears) */
	uint64_t next_ino;
	unsigned cached_fds; /* directory fds held by nodes */
	struct mnode *root;
	struct mnode **by_lower; /* template id -> node */
	struct mnode **ino_tab; /* chained hash on ino */
	struct mnode **ukey_tab; /* chained hash on upper (dev, ino) */
	size_t tab_size, nnodes;
	struct alias **alias_tab; /* every node's names by (parent, name) */
	size_t alias_tab_size, naliases;
	/* template hardlink groups: id -> paths, for nlink > 1 only */
	char ***groups;
};

struct pbuf {
	char *s;
	size_t len, cap;
};

struct child {
	bool upper; /* an upper entry (not a whiteout) */
	struct stat ust; /* its lstat */
	uint32_t lower; /* template node visible here, NO_LOWER if none */
	bool opaque; /* upper dir hides the template's */
	bool shadowed; /* a template entry of that name exists below */
	bool metacopy; /* upper file without its data: read the origin */
	unsigned xa; /* upper: its private xattrs, 1u << OVL_XA_* */
};

/* Resolves node @n through its first alias: its upper parent and state. */
struct located {
	int pfd; /* upper parent dir (O_PATH) or -1 */
	const char *name;
	int ofd; /* an orphan's own O_PATH fd (borrowed from the node), or -1 */
	bool fresh; /* copied up just now, with the owner and mode asked */
	struct child c;
};

/*
 * A target for metadata calls: (dirfd, name), or for the overlay root and
 * for O_TMPFILE files, the fd's /proc/self/fd path.
 */
struct target {
	int dirfd;
	const char *name;
	int nofollow; /* AT_SYMLINK_NOFOLLOW, or 0 for a /proc fd path */
	bool root; /* the overlay directory itself */
	char proc[64];
};

/* merge-node.c */
int mg_pb_add(struct pbuf *b, const char *part, size_t len);
bool mg_name_ok(const char *name);
bool mg_name_reserved(const char *name);
int mg_node_path(struct mnode *n, struct pbuf *b);
size_t mg_h_ino(const struct ovl_merge *m, uint64_t ino);
struct mnode *mg_find_ino(const struct ovl_merge *m, uint64_t ino);
struct mnode *mg_find_ukey(const struct ovl_merge *m, dev_t dev, ino_t ino);
struct mnode *mg_node_new(struct ovl_merge *m, uint64_t ino, uint32_t lower);
void mg_node_set_ukey(struct ovl_merge *m, struct mnode *n,
		      const struct stat *st);
int mg_upper_hold(int pfd, const char *name, bool skip);
void mg_upper_release(struct ovl_merge *m, struct mnode *n,
		      const struct stat *ust, bool is_dir, int held);
int mg_alias_add(struct ovl_merge *m, struct mnode *n, struct mnode *parent,
		 const char *name);
void mg_alias_del(struct ovl_merge *m, struct mnode *n, struct mnode *parent,
		  const char *name);
void mg_aliases_drop(struct ovl_merge *m, struct mnode *parent,
		     const char *name);
void mg_aliases_move(struct ovl_merge *m, struct mnode *parent,
		     const char *name, struct mnode *newparent,
		     const char *newname);

/* merge-resolve.c */
int64_t mg_lower_lookup(struct ovl_merge *m, uint32_t dir, const char *name);
uint32_t mg_lower_abs(struct ovl_merge *m, const char *path);
int mg_lower_dir_path(struct ovl_merge *m, uint32_t id, struct pbuf *b);
int mg_resolve_child(struct ovl_merge *m, struct mnode *p, int pfd,
		     const char *name, struct child *c);
void mg_dirfd_drop(struct ovl_merge *m, struct mnode *n);
void mg_node_maybe_free(struct ovl_merge *m, struct mnode *n);
int mg_upper_dirfd(struct ovl_merge *m, struct mnode *n, int flags);
int mg_dir_state(struct ovl_merge *m, struct mnode *n, uint32_t *ret_lower,
		 bool *ret_opaque);
void mg_template_child(struct child *c, uint32_t lower);
struct mnode *mg_child_node(struct ovl_merge *m, struct mnode *p,
			    const char *name, const struct child *c);
int mg_str_cmp(const void *a, const void *b);
int mg_node_stat(struct ovl_merge *m, struct mnode *n, int pfd,
		 const char *name, const struct child *c, struct stat *ret);
void mg_located_done(struct located *l);
int mg_locate(struct ovl_merge *m, struct mnode *n, struct located *l);
int mg_stat_located(struct ovl_merge *m, struct mnode *n, struct located *l,
		    struct stat *ret);
int mg_restat_located(struct ovl_merge *m, struct mnode *n, struct located *l,
		      struct stat *ret);

/* merge-ns.c */
void mg_closer_stop(struct ovl_merge *m);

/* merge.c */
void mg_target_fd(struct target *t, int fd);
void mg_target_root(struct target *t, const struct ovl_merge *m);
void mg_target_at(struct target *t, int dirfd, const char *name);
struct mnode *mg_get_node(struct ovl_merge *m, uint64_t ino);
int ovl_merge_getattr_locked(struct ovl_merge *m, struct mnode *n,
			     struct stat *ret);
int mg_dir_empty(struct ovl_merge *m, struct mnode *n);
int mg_open_upper_file(struct located *l, int flags);

/* merge-copyup.c */
/* template files from this size on are copied up without m->lock held */
#define MG_COPY_AHEAD_MIN (1 << 20)
int mg_xa_dirfd(const struct target *t, int fd);
mode_t mg_disk_mode(const struct ovl_merge *m, mode_t mode);
void mg_owner_mode_change(const struct ovl_setattr *a, struct stat *st);
int mg_apply_meta(struct ovl_merge *m, const struct target *t, int fd,
		  const struct stat *st, uint32_t lower);
void mg_upper_appears(struct ovl_merge *m, struct mnode *n);
int mg_ensure_upper_dir(struct ovl_merge *m, struct mnode *dir);
/*
 * What a copy-up for a change of names (mg_copy_up(), mg_copy_up_file())
 * returns when the node's template file is being copied without the lock,
 * rather than wait inside it (the change would then go on from what it
 * resolved before, which other calls may have changed meanwhile): the
 * change waits for that copy's end (mg_copy_wait()) and starts again.
 */
#define MG_COPYING (-100000)
void mg_copy_wait(struct ovl_merge *m);
int mg_copy_up_file(struct ovl_merge *m, struct mnode *n, bool data);
int mg_copy_up_located(struct ovl_merge *m, struct mnode *n, bool data,
		       const struct ovl_setattr *a, struct located *l);
int mg_copy_up(struct ovl_merge *m, struct mnode *n, bool data);

#endif
