/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * FUSE over io_uring (Linux 6.14 and later, with the fuse module's
 * enable_uring parameter on). The kernel then queues each request on the
 * queue of the CPU its caller runs on; one thread per CPU, pinned there,
 * serves that queue, so a request and its reply stay on one CPU: the
 * caller's wake-up and the server's are local, with no cross-CPU wake-up
 * per request (what the /dev/fuse round trip costs most on a VM).
 *
 * It plugs into the session through libfuse's custom I/O hooks: requests
 * taken from a ring are handed to fuse_session_process_buf() as if read
 * from /dev/fuse, and the reply the handler sends comes back through the
 * writev/splice hook, which commits it to the ring entry instead. What
 * still comes through /dev/fuse (INIT, interrupts, forgets) is served by
 * the ordinary request loop. Only used when asked for (mount --io-uring).
 */
#ifndef FLL_URING_H
#define FLL_URING_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

struct fuse_session;
struct fll_loop_hooks;
struct fll_uring;

/* Whether the running kernel lets servers use io_uring (enable_uring). */
bool fll_uring_enabled(void);

/*
 * Prepares io_uring serving for @se, whose device is @fd, mounted but
 * not yet initialized (INIT not answered). The rings are set up when the
 * INIT reply goes out, if the kernel offered io_uring; otherwise the
 * session goes on through /dev/fuse alone. A queue thread polls its ring
 * for up to @poll_us after a request (see fll_loop()) while polls pay and
 * @h->may_poll (if set) says yes; @h->received (if set) hears of every
 * request, as in fll_loop(). @h must outlive the rings. 0 or -errno.
 */
int fll_uring_new(struct fuse_session *se, int fd, unsigned poll_us,
		  const struct fll_loop_hooks *h, struct fll_uring **out);

/*
 * Ends the queue threads (each after the requests it has in hand) and
 * waits for them; what comes later waits in the kernel. Before the device
 * is closed: their commands name it. @aborted: the connection has been
 * aborted, so the kernel hands out no more requests; each thread serves
 * until the kernel has ended all its entries (at most two seconds), so
 * that no request is left to one that has exited (the kernel would end it
 * with ECANCELED instead of ECONNABORTED).
 */
void fll_uring_stop(struct fll_uring *u, bool aborted);

/*
 * Stops the queues if still running and frees the rings, which hands the
 * kernel back their commands: once the device is closed as well, the
 * connection ends and whatever waits gets ENOTCONN.
 */
void fll_uring_free(struct fll_uring *u);

/*
 * On a queue thread serving a request: the entry's payload buffer, where a
 * reply's data can be put directly (fuse_reply_buf() with that pointer then
 * copies nothing), and its size in @max. NULL elsewhere.
 */
void *fll_uring_reply_room(struct fll_uring *u, size_t *max);

/* The custom I/O hooks (struct fuse_custom_io), by way of fll.c. */
ssize_t fll_uring_read(struct fll_uring *u, int fd, void *buf, size_t len);
ssize_t fll_uring_writev(struct fll_uring *u, int fd, struct iovec *iov,
			 int count);
ssize_t fll_uring_splice_send(struct fll_uring *u, int fdin, loff_t *offin,
			      int fdout, loff_t *offout, size_t len,
			      unsigned flags);

#endif
