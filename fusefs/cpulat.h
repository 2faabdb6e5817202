/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Keeping idle CPUs quick to wake while requests come in quick succession.
 *
 * Every FUSE round trip puts the caller to sleep until the reply comes, and
 * the daemon until the next request: two wake-ups of a CPU that went idle
 * meanwhile. Where an idle CPU halts (a virtual machine's vCPU, whose
 * wake-up goes through the host; a deep C-state on bare metal), those
 * wake-ups cost more than the work of most requests. The kernel's PM QoS
 * CPU latency request (/dev/cpu_dma_latency, root only) of 0 us keeps idle
 * CPUs polling instead, woken without an interrupt.
 *
 * Held from the second of two requests that came less than the hold time
 * apart, until the hold time passes without one; a thread of its own lets
 * go of it. A hint, not a lock: racing updates cost a wake-up, never a
 * wrong answer. No effect where the kernel does not idle its CPUs itself
 * (a Xen PV dom0: the hypervisor does, and it has no cpuidle driver).
 */
#ifndef FLL_CPULAT_H
#define FLL_CPULAT_H

#include <stdbool.h>
#include <stdint.h>

/* Requests further apart than this do not hold the CPUs awake (ns). */
#define FLL_CPULAT_HOLD_NS 1000000u

struct fll_cpulat;

/*
 * Opens the PM QoS device and starts the thread; NULL (and nothing held,
 * ever) when either fails, as it does for anyone but root.
 */
struct fll_cpulat *fll_cpulat_new(void);

/* Ends the thread, lets go of the request, frees. NULL is a no-op. */
void fll_cpulat_free(struct fll_cpulat *c);

/*
 * A request came at @now_ns, @gap_ns after the previous reply or request
 * (see fll_loop_hooks.received). NULL is a no-op.
 */
void fll_cpulat_request(struct fll_cpulat *c, uint64_t now_ns, uint64_t gap_ns);

/* Whether idle CPUs are held awake now (false for NULL). */
bool fll_cpulat_held(const struct fll_cpulat *c);

#endif
