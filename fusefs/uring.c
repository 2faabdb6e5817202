// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * FUSE over io_uring (see uring.h). The protocol, as the kernel speaks it
 * (Documentation/filesystems/fuse-io-uring.rst): each queue thread
 * registers a few entries, each a header buffer and a payload buffer, with
 * an IORING_OP_URING_CMD on /dev/fuse (REGISTER); the command completes
 * when a request was written into the entry: fuse_in_header in the
 * header's in_out, the opcode's fixed argument in op_in, the rest in the
 * payload. The reply goes into the same buffers (fuse_out_header in
 * in_out), and a COMMIT_AND_FETCH command hands it over and waits for the
 * next request in one step.
 *
 * The ABI (fuse 7.42) is not in the C library's headers of Debian 12, so
 * its few definitions are spelled out here.
 */
#define FUSE_USE_VERSION 314
#include "fusefs/uring.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <linux/fuse.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/clock.h"
#include "common/payoff.h"
#include "common/thread.h"
#include "fusefs/loop.h"

#define OVER_IO_URING (1ULL << 41) /* FUSE_OVER_IO_URING, INIT flags2 */
#define URING_HDR_SZ 128 /* FUSE_URING_IN_OUT_HEADER_SZ */
#define URING_OP_SZ 128 /* FUSE_URING_OP_IN_OUT_SZ */
#define CMD_REGISTER 1 /* FUSE_IO_URING_CMD_REGISTER */
#define CMD_COMMIT_AND_FETCH 2 /* FUSE_IO_URING_CMD_COMMIT_AND_FETCH */
#define MIN_PAYLOAD 8192 /* FUSE_MIN_READ_BUFFER */
#define MAX_PAGES_DEFAULT 32 /* without FUSE_MAX_PAGES */
#define ENABLE_PARAM "/sys/module/fuse/parameters/enable_uring"

/* Up to this many CPUs, every queue polls while any is busy (see
 * queue_main()); beyond, only a queue that was busy itself. */
#define POLL_ALL_CPUS 4

/* Entries per queue: the request being served and one waiting. */
#define DEPTH 2

struct ring_ent_in_out {
	uint64_t flags;
	uint64_t commit_id; /* the request's unique */
	uint32_t payload_sz; /* bytes of the payload, either way */
	uint32_t padding;
	uint64_t reserved;
};

struct ring_req_header {
	char in_out[URING_HDR_SZ]; /* fuse_in_header / fuse_out_header */
	char op_in[URING_OP_SZ]; /* the opcode's fixed argument */
	struct ring_ent_in_out ent;
};

/* In the command area of a 128-byte SQE. */
struct ring_cmd_req {
	uint64_t flags;
	uint64_t commit_id;
	uint16_t qid;
	uint8_t padding[6];
};

_Static_assert(sizeof(struct ring_req_header) == 288, "fuse uring ABI");
_Static_assert(sizeof(struct ring_cmd_req) == 24, "fuse uring ABI");

/* Room before the payload for the in header and the fixed argument, so
 * that a request is one contiguous buffer without moving its payload. */
#define ROOM (sizeof(struct fuse_in_header) + URING_OP_SZ)

struct ent {
	struct ring_req_header hdr;
	char *buf; /* ROOM bytes, then the payload */
	struct iovec iov[2]; /* what REGISTER names */
	uint64_t unique; /* the request in service, 0 when none */
};

struct queue {
	struct fll_uring *u;
	unsigned qid;
	struct io_uring ring;
	bool ring_ok;
	pthread_t thread;
	bool started; /* for the join */
	/* set by the thread itself before it serves anything (0 before):
	 * pthread_create() may return after the thread's first reply */
	_Atomic(pthread_t) self;
	struct ent *busy; /* what this queue's thread serves now */
	_Atomic uint64_t last; /* when it last served a request */
	struct dm_payoff pays; /* polls that found a request */
	unsigned live; /* entries still registered */
	struct ent ent[DEPTH];
};

struct fll_uring {
	struct fuse_session *se;
	int fd;
	int stop_fd; /* eventfd: readable once the queues are to stop */
	/* set before stop_fd: the connection was aborted, the queues serve
	 * until the kernel has ended all their entries */
	atomic_bool aborted;
	uint64_t poll_ns; /* a queue thread's polling after a reply */
	const struct fll_loop_hooks *h;
	_Atomic uint64_t last; /* when any queue last served a request */
	unsigned nq;
	size_t payload_sz;
	/* the INIT request, until it is answered (read on every reply) */
	_Atomic uint64_t init_unique;
	bool offered; /* its flags offered io_uring */
	struct queue *q;
};

bool fll_uring_enabled(void)
{
	char c = 0;
	int fd = open(ENABLE_PARAM, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	if (read(fd, &c, 1) != 1)
		c = 0;
	close(fd);
	return c == 'Y' || c == '1';
}

/*
 * Whether @q should poll: a request came less than poll_ns ago, to any
 * queue on a small machine, to this one on a larger one (where keeping
 * every CPU busy would cost too much for what it saves).
 */
static bool recently_busy(struct queue *q)
{
	struct fll_uring *u = q->u;
	uint64_t last = u->nq <= POLL_ALL_CPUS ? atomic_load(&u->last) :
						 atomic_load(&q->last);

	return u->poll_ns && dm_now_ns() - last < u->poll_ns;
}

/* The kernel keeps one queue per possible CPU: "0-N" gives N + 1. */
static unsigned possible_cpus(void)
{
	_cleanup_fclose_ FILE *f =
		fopen("/sys/devices/system/cpu/possible", "re");
	unsigned lo = 0, hi = 0;

	if (!f)
		return 0;
	switch (fscanf(f, "%u-%u", &lo, &hi)) {
	case 1:
		return lo + 1;
	case 2:
		return hi + 1;
	default:
		return 0;
	}
}

int fll_uring_new(struct fuse_session *se, int fd, unsigned poll_us,
		  const struct fll_loop_hooks *h, struct fll_uring **out)
{
	struct fll_uring *u = calloc(1, sizeof(*u));

	if (!u)
		return -ENOMEM;
	u->se = se;
	u->fd = fd;
	u->poll_ns = (uint64_t)poll_us * 1000;
	u->h = h;
	u->nq = possible_cpus();
	/* the queues exist from here on: any thread may look for its own */
	u->q = u->nq ? calloc(u->nq, sizeof(*u->q)) : NULL;
	u->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!u->q || u->stop_fd < 0) {
		int r = !u->nq ? -ENOTSUP : u->q ? -errno : -ENOMEM;

		if (u->stop_fd >= 0)
			close(u->stop_fd);
		free(u->q);
		free(u);
		return r;
	}
	for (unsigned i = 0; i < u->nq; i++) {
		u->q[i].u = u;
		u->q[i].qid = i;
		dm_payoff_init(&u->q[i].pays);
	}
	*out = u;
	return 0;
}

/* The queue the calling thread serves, or NULL. */
static struct queue *own_queue(struct fll_uring *u)
{
	pthread_t me = pthread_self();

	for (unsigned i = 0; i < u->nq; i++)
		if (pthread_equal(atomic_load(&u->q[i].self), me))
			return &u->q[i];
	return NULL;
}

void *fll_uring_reply_room(struct fll_uring *u, size_t *max)
{
	struct queue *q = own_queue(u);

	if (!q || !q->busy)
		return NULL;
	*max = u->payload_sz;
	return q->busy->buf + ROOM;
}

static struct io_uring_sqe *sqe_get(struct queue *q)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);

	if (!sqe) {
		io_uring_submit(&q->ring);
		sqe = io_uring_get_sqe(&q->ring);
	}
	return sqe;
}

/* Queues a command for @e (submitted with the next wait). */
static int cmd_queue(struct queue *q, struct ent *e, uint32_t op,
		     uint64_t commit_id)
{
	struct io_uring_sqe *sqe = sqe_get(q);
	struct ring_cmd_req *req;

	if (!sqe)
		return -EBUSY;
	memset(sqe, 0, 128); /* IORING_SETUP_SQE128 */
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = q->u->fd;
	sqe->cmd_op = op;
	req = (struct ring_cmd_req *)sqe->cmd;
	req->qid = (uint16_t)q->qid;
	req->commit_id = commit_id;
	if (op == CMD_REGISTER) {
		sqe->addr = (uintptr_t)e->iov;
		sqe->len = 2;
	}
	io_uring_sqe_set_data(sqe, e);
	return 0;
}

/* Hands the reply now in @e's buffers over, and asks for the next. */
static void commit(struct queue *q, struct ent *e, uint32_t payload)
{
	uint64_t unique = e->unique;

	e->hdr.ent.payload_sz = payload;
	e->unique = 0;
	if (cmd_queue(q, e, CMD_COMMIT_AND_FETCH, unique) < 0)
		fuse_log(FUSE_LOG_ERR, "domufs: io_uring queue %u full\n",
			 q->qid);
}

static void commit_error(struct queue *q, struct ent *e, int error)
{
	struct fuse_out_header oh = { .len = sizeof(oh),
				      .error = -error,
				      .unique = e->unique };

	memcpy(e->hdr.in_out, &oh, sizeof(oh));
	commit(q, e, 0);
}

/* A request arrived in @e: make it one buffer and serve it. */
static void serve(struct queue *q, struct ent *e)
{
	struct fll_uring *u = q->u;
	struct fuse_in_header in;
	uint32_t payload = e->hdr.ent.payload_sz;
	struct fuse_buf b = { 0 };
	uint64_t now, last;
	size_t op;
	char *start;

	memcpy(&in, e->hdr.in_out, sizeof(in));
	e->unique = in.unique;
	if (in.len < sizeof(in) + (size_t)payload || payload > u->payload_sz ||
	    in.len - sizeof(in) - payload > URING_OP_SZ) {
		fuse_log(FUSE_LOG_ERR,
			 "domufs: io_uring: malformed request (opcode %u)\n",
			 in.opcode);
		commit_error(q, e, EIO);
		return;
	}
	op = in.len - sizeof(in) - payload;
	start = e->buf + ROOM - op - sizeof(in);
	memcpy(start, &in, sizeof(in));
	memcpy(start + sizeof(in), e->hdr.op_in, op);
	b.mem = start;
	b.size = in.len;
	q->busy = e;
	now = dm_now_ns();
	atomic_store(&q->last, now);
	last = atomic_exchange(&u->last, now);
	if (u->h->received)
		u->h->received(u->h->arg, now, now > last ? now - last : 0);
	fuse_session_process_buf(u->se, &b);
	q->busy = NULL;
	if (e->unique) /* no reply went out: none can be waited for */
		commit_error(q, e, ENOSYS);
}

/* Whether @res ends an entry for good (the connection went away). */
static bool ent_ended(int res)
{
	return res < 0 && res != -EINTR && res != -EAGAIN;
}

/*
 * After an abort, how long a queue waits for the kernel to end its entries:
 * it ends the ones it holds at once, the others as their commits come back.
 */
#define ABORT_WAIT_NS 2000000000ULL

static void *queue_main(void *arg)
{
	struct queue *q = arg;
	struct io_uring_sqe *stop_sqe;
	bool stop = false;
	uint64_t deadline = 0; /* after an abort */
	cpu_set_t cpus;

	atomic_store(&q->self, pthread_self());
	CPU_ZERO(&cpus);
	CPU_SET(q->qid, &cpus);
	/* best effort: a CPU that is not online has no callers either */
	pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus);
	for (unsigned i = 0; i < DEPTH; i++)
		if (cmd_queue(q, &q->ent[i], CMD_REGISTER, 0) == 0)
			q->live++;
	/* fll_uring_stop() wakes it with a completion that carries @q */
	stop_sqe = sqe_get(q);
	if (stop_sqe) {
		io_uring_prep_poll_add(stop_sqe, q->u->stop_fd, POLLIN);
		io_uring_sqe_set_data(stop_sqe, q);
	}
	while (q->live && !stop) {
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		int r;

		if (recently_busy(q) &&
		    (!q->u->h->may_poll || q->u->h->may_poll(q->u->h->arg)) &&
		    dm_payoff_try(&q->pays)) {
			/*
			 * Requests are coming: look for the next one instead
			 * of sleeping, giving way to anything else that wants
			 * this CPU. Every queue does (up to POLL_ALL_CPUS), so
			 * that the caller of the request just answered finds
			 * no idle CPU to be moved to and is woken where it
			 * was, on the CPU of its queue: no cross-CPU wake-up
			 * per request.
			 */
			io_uring_submit(&q->ring);
			while (!io_uring_cq_ready(&q->ring) && recently_busy(q))
				sched_yield();
			dm_payoff_count(&q->pays,
					io_uring_cq_ready(&q->ring) != 0);
		}
		if (deadline) {
			struct __kernel_timespec ts = { .tv_nsec = 100000000 };
			struct io_uring_cqe *c;

			r = io_uring_submit_and_wait_timeout(&q->ring, &c, 1,
							     &ts, NULL);
			if (r == -ETIME || r == -EBUSY)
				r = 0;
		} else {
			r = io_uring_submit_and_wait(&q->ring, 1);
		}
		if (r < 0 && r != -EINTR && r != -EAGAIN) {
			fuse_log(FUSE_LOG_ERR,
				 "domufs: io_uring queue %u: %s\n", q->qid,
				 strerror(-r));
			break;
		}
		io_uring_for_each_cqe(&q->ring, head, cqe)
		{
			struct ent *e = io_uring_cqe_get_data(cqe);

			seen++;
			if ((void *)e == q) {
				if (atomic_load(&q->u->aborted))
					deadline = dm_now_ns() + ABORT_WAIT_NS;
				else
					stop = true;
				continue;
			}
			if (cqe->res == 0) {
				serve(q, e);
			} else if (ent_ended(cqe->res)) {
				/* -ENOTCONN: unmounted; else a refusal */
				if (cqe->res != -ENOTCONN &&
				    !fuse_session_exited(q->u->se))
					fuse_log(FUSE_LOG_ERR,
						 "domufs: io_uring queue %u: "
						 "%s\n",
						 q->qid, strerror(-cqe->res));
				q->live--;
			}
		}
		io_uring_cq_advance(&q->ring, seen);
		if (deadline && dm_now_ns() > deadline)
			break;
	}
	return NULL;
}

static int ent_init(struct queue *q, struct ent *e)
{
	size_t sz = ROOM + q->u->payload_sz;

	if (posix_memalign((void **)&e->buf, 4096, sz) != 0)
		return -ENOMEM;
	e->iov[0].iov_base = &e->hdr;
	e->iov[0].iov_len = sizeof(e->hdr);
	e->iov[1].iov_base = e->buf + ROOM;
	e->iov[1].iov_len = q->u->payload_sz;
	return 0;
}

/* Frees rings and buffers (not the array); the threads have ended. */
static void queues_free(struct fll_uring *u)
{
	for (unsigned i = 0; i < u->nq; i++) {
		struct queue *q = &u->q[i];

		if (q->ring_ok)
			io_uring_queue_exit(&q->ring);
		q->ring_ok = false;
		for (unsigned k = 0; k < DEPTH; k++) {
			free(q->ent[k].buf);
			q->ent[k].buf = NULL;
		}
	}
}

/* Rings and buffers, before INIT says yes: a failure here costs nothing. */
static int queues_setup(struct fll_uring *u)
{
	for (unsigned i = 0; i < u->nq; i++) {
		struct queue *q = &u->q[i];
		int r;

		for (unsigned k = 0; k < DEPTH; k++) {
			r = ent_init(q, &q->ent[k]);
			if (r < 0)
				return r;
		}
		r = io_uring_queue_init(2 * DEPTH, &q->ring,
					IORING_SETUP_SQE128);
		if (r < 0)
			return r;
		q->ring_ok = true;
	}
	return 0;
}

static int queues_start(struct fll_uring *u)
{
	int r = 0;

	/* signals go to the main thread, as for the request loop */
	for (unsigned i = 0; i < u->nq && !r; i++) {
		r = -dm_thread_start(&u->q[i].thread, queue_main, &u->q[i]);
		u->q[i].started = r == 0;
	}
	return r;
}

ssize_t fll_uring_read(struct fll_uring *u, int fd, void *buf, size_t len)
{
	ssize_t n = read(fd, buf, len);
	const struct fuse_in_header *in = buf;

	if (n >= (ssize_t)(sizeof(*in) + sizeof(struct fuse_init_in)) &&
	    in->opcode == FUSE_INIT) {
		const struct fuse_init_in *ii = (const void *)(in + 1);

		atomic_store(&u->init_unique, in->unique);
		u->offered = (ii->flags & FUSE_INIT_EXT) &&
			     (((uint64_t)ii->flags2 << 32) & OVER_IO_URING);
	}
	return n;
}

/*
 * The INIT reply: when the kernel offered io_uring, set the rings up, say
 * yes, and once the kernel took the reply (it then holds every request
 * until all queues are registered), start the queue threads.
 */
static ssize_t init_reply(struct fll_uring *u, int fd, struct iovec *iov,
			  int count)
{
	const struct fuse_out_header *oh = iov[0].iov_base;
	struct fuse_init_out *io;
	bool armed = false;
	ssize_t n;

	atomic_store(&u->init_unique, 0);
	if (!u->offered)
		fuse_log(FUSE_LOG_WARNING,
			 "domufs: warning: the kernel offers no io_uring; "
			 "serving through /dev/fuse\n");
	if (u->offered && !oh->error && count == 2 &&
	    iov[1].iov_len >= sizeof(*io)) {
		size_t pages, sz;
		int r;

		io = iov[1].iov_base;
		pages = (io->flags & FUSE_MAX_PAGES) && io->max_pages ?
				io->max_pages :
				MAX_PAGES_DEFAULT;
		sz = pages * (size_t)sysconf(_SC_PAGESIZE);
		if (sz < io->max_write)
			sz = io->max_write;
		u->payload_sz = sz < MIN_PAYLOAD ? MIN_PAYLOAD : sz;
		r = queues_setup(u);
		if (r == 0) {
			io->flags |= FUSE_INIT_EXT;
			io->flags2 |= (uint32_t)(OVER_IO_URING >> 32);
			armed = true;
		} else {
			fuse_log(FUSE_LOG_WARNING,
				 "domufs: warning: io_uring setup failed (%s); "
				 "serving through /dev/fuse\n",
				 strerror(-r));
			queues_free(u);
		}
	}
	n = writev(fd, iov, count);
	if (armed && n >= 0) {
		int r = queues_start(u);

		if (r < 0) {
			/* requests wait for every queue: no way back */
			fuse_log(FUSE_LOG_ERR,
				 "domufs: cannot start io_uring queues: %s\n",
				 strerror(-r));
			fuse_session_exit(u->se);
		}
	}
	return n;
}

/* Copies a reply's payload into @e; false when it does not fit. */
static bool payload_in(struct ent *e, const struct iovec *iov, int count,
		       size_t max, uint32_t *len)
{
	size_t n = 0;

	for (int i = 0; i < count; i++) {
		if (iov[i].iov_len > max - n)
			return false;
		/* data read in place (fll_uring_reply_room()) stays put */
		if (iov[i].iov_base != e->buf + ROOM + n)
			memmove(e->buf + ROOM + n, iov[i].iov_base,
				iov[i].iov_len);
		n += iov[i].iov_len;
	}
	*len = (uint32_t)n;
	return true;
}

ssize_t fll_uring_writev(struct fll_uring *u, int fd, struct iovec *iov,
			 int count)
{
	const struct fuse_out_header *oh = iov[0].iov_base;
	struct queue *q;
	struct ent *e;
	uint64_t init;
	uint32_t len;

	if (count < 1 || iov[0].iov_len < sizeof(*oh))
		return writev(fd, iov, count);
	init = atomic_load(&u->init_unique);
	if (init && oh->unique == init)
		return init_reply(u, fd, iov, count);
	q = own_queue(u);
	e = q ? q->busy : NULL;
	if (!e || !e->unique || oh->unique != e->unique)
		return writev(fd, iov, count); /* a notification, say */
	if (!payload_in(e, iov + 1, count - 1, u->payload_sz, &len)) {
		commit_error(q, e, E2BIG);
		errno = E2BIG;
		return -1;
	}
	memcpy(e->hdr.in_out, oh, sizeof(*oh));
	commit(q, e, len);
	return oh->len;
}

static bool read_full(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/*
 * libfuse splices a data reply (header, then the file's pages) into a
 * pipe and the pipe into the device. On a queue thread, the reply to its
 * request is read from the pipe into the entry instead; anything else
 * read from there (a notification) is written to the device.
 */
ssize_t fll_uring_splice_send(struct fll_uring *u, int fdin, loff_t *offin,
			      int fdout, loff_t *offout, size_t len,
			      unsigned flags)
{
	struct queue *q = own_queue(u);
	struct ent *e = q ? q->busy : NULL;
	struct fuse_out_header oh;
	_cleanup_free_ char *other = NULL;

	if (!e || !e->unique)
		return splice(fdin, offin, fdout, offout, len, flags);
	if (len < sizeof(oh) || len - sizeof(oh) > u->payload_sz ||
	    !read_full(fdin, &oh, sizeof(oh))) {
		errno = EIO;
		return -1;
	}
	if (oh.unique == e->unique) {
		if (!read_full(fdin, e->buf + ROOM, len - sizeof(oh))) {
			errno = EIO;
			return -1;
		}
		memcpy(e->hdr.in_out, &oh, sizeof(oh));
		commit(q, e, (uint32_t)(len - sizeof(oh)));
		return (ssize_t)len;
	}
	other = malloc(len);
	if (!other) {
		errno = ENOMEM;
		return -1;
	}
	memcpy(other, &oh, sizeof(oh));
	if (!read_full(fdin, other + sizeof(oh), len - sizeof(oh))) {
		errno = EIO;
		return -1;
	}
	return write(fdout, other, len);
}

void fll_uring_stop(struct fll_uring *u, bool aborted)
{
	if (!u)
		return;
	if (aborted)
		atomic_store(&u->aborted, true);
	eventfd_write(u->stop_fd, 1);
	for (unsigned i = 0; i < u->nq; i++) {
		struct queue *q = &u->q[i];

		if (q->started)
			pthread_join(q->thread, NULL);
		q->started = false;
	}
}

void fll_uring_free(struct fll_uring *u)
{
	if (!u)
		return;
	fll_uring_stop(u, false);
	queues_free(u);
	close(u->stop_fd);
	free(u->q);
	free(u);
}
