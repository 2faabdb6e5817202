/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The libfuse3 low-level front end: serves an ovl_view at a mountpoint.
 * With its request loop (loop.c), the only code that includes
 * <fuse_lowlevel.h>.
 */
#ifndef FLL_H
#define FLL_H

#include <stdbool.h>

#include "common/err.h"

struct ovl_view;

/* How long an idle worker polls for the next request by default (us). */
#define FLL_POLL_US_DEFAULT 100

struct fll_opts {
	const char *mountpoint;
	const char *fsname; /* shown in /proc/mounts; may be NULL */
	const char *const
		*fuse_opts; /* -o strings, NULL-terminated; may be NULL */
	bool foreground; /* else daemonize once mounted */
	int ready_fd; /* >= 0: "ready\n" is written once mounted */
	bool debug;
	unsigned poll_us; /* an idle worker's polling, see fll_loop() */
	bool io_uring; /* serve through io_uring when the kernel offers it */
	bool cpu_awake; /* hold idle CPUs awake while busy, see cpulat.h */
	/*
	 * No permission checks (no default_permissions) and callers' new
	 * files owned by root, as with fakeroot(1): for a mount only its own
	 * user reaches (no allow_other), who could change the template and
	 * the overlay anyway.
	 */
	bool fakeroot;
};

/*
 * Checks that @path can be mounted on: an existing directory that is not
 * already a mount point. 0 or -errno with @err naming the path.
 */
int fll_check_mountpoint(const char *path, struct dm_err *err);

/*
 * Mounts the view and serves it until unmounted (fusermount3 -u) or sent
 * SIGTERM/SIGINT/SIGHUP, then unmounts. Without @foreground, the calling
 * process returns from here only in the daemon: the parent exits 0 once the
 * mount is up. Returns 0, or -errno with @err set (nothing left mounted).
 */
int fll_run(struct ovl_view *v, const struct fll_opts *opts,
	    struct dm_err *err);

#endif
