/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The request loop of a FUSE session: a fixed pool of workers, one of which
 * at a time reads the device (polling it briefly before it sleeps there);
 * the others wait until a request that may take a while makes the reader
 * hand its place over.
 */
#ifndef FLL_LOOP_H
#define FLL_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fuse_session;

/* What the loop's caller adds to it; every member may be NULL. */
struct fll_loop_hooks {
	/*
	 * When it is time to stop, and before the workers are: for what must
	 * finish while requests are still answered (the workers keep
	 * answering until it returns).
	 */
	void (*drain)(void *arg);
	/*
	 * Whether an idle worker may poll now (see fll_loop()): false while
	 * something else of the daemon would make better use of the CPU.
	 */
	bool (*may_poll)(void *arg);
	/*
	 * A request was read at @now_ns (monotonic), @gap_ns after the
	 * latest reply (from an io_uring queue: after the latest request,
	 * whose reply time it does not keep); called before it is served.
	 */
	void (*received)(void *arg, uint64_t now_ns, uint64_t gap_ns);
	/*
	 * Whether the request at @in (@len bytes: a fuse_in_header and what
	 * follows) is served without waiting for anything but memory and the
	 * page cache, and without waiting for another request: its worker
	 * then serves it and goes on reading. Otherwise (and without the
	 * hook) the worker first hands its place over to an idle one.
	 */
	bool (*quick)(void *arg, const void *in, size_t len);
	void *arg;
};

/*
 * Serves @se with @nthreads workers until the session ends (unmounted, or
 * ended before the call) or SIGTERM, SIGINT or SIGHUP comes (blocked in
 * every thread while serving and taken by the calling thread; the workers
 * block every signal). After a reply, the reader polls
 * the device for up to @poll_us microseconds before it sleeps, as long as
 * requests keep coming sooner than that after a reply and @h allows it: the
 * next request of a caller that works through a tree one call at a time is
 * then picked up without waking a thread (on a virtual machine, a wake-up
 * of an idle CPU goes through the host). @poll_us 0: workers only sleep.
 * Returns 0, or -errno if the device failed.
 */
int fll_loop(struct fuse_session *se, unsigned nthreads, unsigned poll_us,
	     const struct fll_loop_hooks *h);

#endif
