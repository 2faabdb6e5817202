/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * xenstore, as dom0 tools use it (DESIGN.md, "xenstore"): find a running
 * domain by name, wait for a key of a domain (the first-boot handshake),
 * and find the running domains that have a disk attached (the commit's
 * safety check). A thin layer over libxenstore; none of its types leak out
 * of this header. Never prints: errors fill a dm_err naming the path or
 * domain concerned. A handle is used by one thread at a time.
 */
#ifndef XEN_XS_H
#define XEN_XS_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

struct xen_xs;

/* How long xen_xs_open() waits for the daemon's first answer. */
#define XEN_XS_OPEN_TIMEOUT_MS 5000
/* How long xen_xs_check_target() waits for all of its answers. */
#define XEN_XS_CHECK_TIMEOUT_MS 10000

/*
 * Connects the way libxenstore's xs_open() does: the socket at
 * $XENSTORED_PATH, or $XENSTORED_RUNDIR/socket (/var/run/xenstored/socket),
 * then the xenbus device ($XENSTORED_PATH, /dev/xen/xenbus or
 * /proc/xen/xenbus), and checks with one request that the daemon answers.
 * Returns 0, or:
 *   -ENOENT        no xenstore here (no socket or device: not a Xen dom0);
 *   -ECONNREFUSED  a socket or device, but no daemon answering behind it
 *                  (it refused the connection or hung up);
 *   -ETIMEDOUT     a daemon that does not answer within
 *                  XEN_XS_OPEN_TIMEOUT_MS (the connection is abandoned);
 *   other -errno.
 * xen_xs_absent() tells the first two apart from real failures.
 */
int xen_xs_open(struct xen_xs **ret, struct dm_err *err);

/* NULL-safe; returns NULL. */
struct xen_xs *xen_xs_close(struct xen_xs *xs);

/* True for the results of xen_xs_open() that mean "no xenstore here". */
static inline bool xen_xs_absent(int r)
{
	return r == -ENOENT || r == -ECONNREFUSED;
}

/*
 * Reads @path into *ret (NUL-terminated, free()). 0, -ENOENT when the
 * node does not exist, -errno.
 */
int xen_xs_read(struct xen_xs *xs, const char *path, char **ret,
		struct dm_err *err);

/*
 * Finds the running domain called @name as xl does, from the keys
 * /local/domain/<domid>/name. 0 and its id in *ret_domid, -ESRCH (with *err
 * naming the domain) when no running domain has that name, -errno.
 */
int xen_xs_domain_find(struct xen_xs *xs, const char *name, unsigned *ret_domid,
		       struct dm_err *err);

/*
 * Called with the value of the watched key each time it may have changed
 * (NULL while the key does not exist). Returns 1 to stop waiting, 0 to go
 * on waiting.
 */
typedef int (*xen_xs_accept_fn)(void *ctx, const char *value);

/*
 * Waits until @accept takes the value of @key (a path relative to the
 * domain's home, /local/domain/<domid>/). Watches the key and
 * @releaseDomain; re-reads after registering the watches, so a key that
 * is already there counts. @name is the domain's name: the domain counts
 * as gone when its home or `name` disappears or changes. @timeout_ms < 0
 * waits forever. Returns 0 and the accepted value in *ret_value (free()),
 * or -ETIMEDOUT, -ESRCH (the domain went away), -ECONNRESET (xenstore
 * went away), -errno; *err says which, naming the domain.
 */
int xen_xs_wait_key(struct xen_xs *xs, unsigned domid, const char *name,
		    const char *key, long timeout_ms, xen_xs_accept_fn accept,
		    void *ctx, char **ret_value, struct dm_err *err);

/* A running domain with a disk attached (see xen_xs_disk_users()). */
struct xen_disk_user {
	unsigned domid;
	char name[128]; /* its `name`, "" when it has none */
	char backend[8]; /* "vbd", "vbd3" or "qdisk" */
	unsigned devid; /* the virtual device number (51712: xvda) */
};

/*
 * Lists the running domains that have @target (an image file or block
 * device) attached: the backends under /local/domain/0/backend/{vbd,vbd3,
 * qdisk}/<domid>/<devid>/ whose `params` or `physical-device-path` name
 * the same file (by path, realpath, or device and inode) or device, or
 * whose `physical-device` ("major:minor" in hex) is the target's device
 * number. Backends of domains whose home is gone do not count. Returns
 * the number found (0..) with the array in *ret (free(); NULL when 0),
 * or -errno.
 */
int xen_xs_disk_users(struct xen_xs *xs, const char *target,
		      struct xen_disk_user **ret, struct dm_err *err);

/*
 * The commit's check, whole: opens xenstore, refuses @target with -EBUSY
 * and "TARGET: attached to running domain NAME (id N, vbd 51712);
 * refusing to write" when a running domain has it attached. 0 when none
 * does and when there is no xenstore (xen_xs_absent()); other failures
 * to ask refuse the target too, saying why.
 */
int xen_xs_check_target(const char *target, struct dm_err *err);

#endif
