/*
 * Inline inspection: NFQUEUE workers. One worker thread per queue (queue
 * numbers first .. first+n-1, the kernel fans flows out over them with
 * flow-consistent hashing), each owning its engine and verdict instance:
 * no locks on the packet path. The queues are bound without bypass, so a
 * dead or stalled daemon drops the queued traffic (fail close); the kernel
 * ruleset (src/nft) decides which packets are queued.
 *
 * Netlink: libnetfilter_queue's libmnl API (nfq_nlmsg_* helpers), a large
 * receive buffer, NETLINK_NO_ENOBUFS, NFQA_CFG_F_GSO and F_FAIL_OPEN off,
 * copy range `copy_range`; up to `batch` packets are received before their
 * verdicts go out in one sendmsg (verdicts of one queue keep their order).
 * Overload (the kernel's queue-full drops, reported per queue) is counted.
 *
 * Events come from worker threads: each worker has a bounded ring that the
 * main loop drains with queue_drain_events (full ring: counted, dropped
 * events never block the packet path).
 */
#ifndef CONDUIT_DPI_QUEUE_H
#define CONDUIT_DPI_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpi/engine.h"
#include "dpi/event.h"
#include "dpi/reset.h"
#include "dpi/verdict.h"
#include "policy/model.h"

#define QUEUE_MAX_WORKERS 64

struct queue_conf {
	uint16_t first;	     /* first queue number (default 0) */
	uint16_t n;	     /* queues = workers; 0: online CPUs */
	uint32_t copy_range; /* bytes copied per packet; 0: 65535 */
	uint32_t max_len;    /* kernel queue length; 0: 4096 */
	uint32_t rcvbuf;     /* socket receive buffer; 0: 8 MiB */
	uint32_t batch;	     /* packets per receive batch; 0: 64 */
	bool pin;	     /* pin worker i to online CPU i mod ncpu */
	/* do not hand settled flows back to the kernel (ct mark): every
	 * packet of an inspected flow stays queued (benchmarks, tests) */
	bool no_handback;
	size_t event_ring; /* events buffered per worker; 0: 1024 */
	/* per worker (hook_user_size: set; max_flows 0: 16384) */
	struct engine_conf engine;
	struct verdict_conf verdict; /* per worker */
	/* raw sockets for the TCP resets of `reject` (borrowed, shared by
	 * the workers: opened before the privilege drop, which keeps only
	 * CAP_NET_ADMIN); NULL: reject is a plain drop */
	const struct reset_sock *reset;
};

struct queue_worker_stats {
	uint16_t queue;
	uint64_t packets;
	uint64_t verdicts[3];	 /* by enum engine_verdict; untracked: DENY */
	uint64_t batches;	 /* receive batches */
	uint64_t recv_errors;	 /* recvmsg failures other than EAGAIN */
	uint64_t send_errors;	 /* verdict sendmsg failures */
	uint64_t resets;	 /* refused TCP segments answered with RSTs */
	uint64_t reset_errors;	 /* RSTs that could not be sent */
	uint64_t untracked;	 /* not decodable / table full: dropped */
	uint64_t handed_back;	 /* flows settled and handed to the kernel */
	uint64_t events_dropped; /* event ring full */
	/* overload: the kernel's queue_dropped + user_dropped of this queue
	 * (read from /proc/net/netfilter/nfnetlink_queue when asked) */
	uint64_t kernel_drops;
	uint64_t last_progress_us; /* CLOCK_MONOTONIC of the last batch */
	uint64_t policy_gen;	   /* generation of the policy in use */
	uint64_t flow_table_full;  /* of untracked: no flow entry left */
	uint64_t flows_active;	   /* flow-table fill: flows_active ... */
	uint64_t flows_max;	   /* ... of flows_max entries */
	/* PDUs and flows decided since start (kept across policy swaps) */
	struct verdict_counts counts;
};

struct queue_set;

/*
 * Bind the queues and start the workers with policy p (borrowed: keep it
 * alive until queue_set_policy has replaced it or queue_stop returned).
 * 0 with *out, or a negative errno (nothing started).
 */
int queue_start(struct queue_set **out, const struct queue_conf *c,
		const struct pol_policy *p);

/*
 * Swap the policy: every worker builds a new verdict instance for p and
 * switches between two batches (flows are re-bound under p). Returns once
 * every worker has switched, so the caller may free the old policy —
 * after draining the events (queue_drain_events): buffered events point
 * at the conduits and zones of the policy they were made under.
 * 0, or a negative errno: then the old policy stays in use everywhere
 * (a worker that does not answer within 5 s: -ETIMEDOUT), except for
 * -EBUSY: a worker that took p could not be moved back (it stalled), so
 * p must stay allocated too.
 */
int queue_set_policy(struct queue_set *q, const struct pol_policy *p);

/* Stop the workers and unbind; the kernel then drops the queued traffic.
 * Events not drained before are lost. */
void queue_stop(struct queue_set *q);

/* Main-loop side: hand every buffered event to fn (in the calling thread).
 * Returns the number of events delivered. */
size_t queue_drain_events(struct queue_set *q, dpi_event_fn fn, void *arg);

/* A readable fd (eventfd) that becomes readable when events are buffered;
 * -1 if none. */
int queue_event_fd(const struct queue_set *q);

size_t queue_workers(const struct queue_set *q);
/* Copy worker i's counters (a consistent-enough snapshot; takes the
 * policy lock for a moment, as queue_conduit_counts). */
void queue_worker_stats(const struct queue_set *q, size_t i,
			struct queue_worker_stats *out);

/*
 * Per-conduit counters summed over the workers, for p's conduits
 * (out[i] for p->conduits[i], n_conduits entries): a worker still on an
 * older policy contributes by conduit name. Kept across policy swaps for
 * conduits that keep their name. Takes the policy lock for a moment (the
 * workers take it only to swap), never blocks the packet path. Returns
 * the number of workers read.
 */
size_t queue_conduit_counts(struct queue_set *q, const struct pol_policy *p,
			    struct verdict_counts *out);

/*
 * Watchdog: true when every worker made progress (a batch, or an idle
 * poll timeout) within stall_us of now_us (CLOCK_MONOTONIC). A worker
 * stuck in the decision path stops advancing last_progress_us.
 */
bool queue_healthy(const struct queue_set *q, uint64_t now_us,
		   uint64_t stall_us);

/* Tests only: worker i sleeps ms milliseconds before its next receive,
 * without advancing last_progress_us (a stalled decision path). */
void queue_test_stall(struct queue_set *q, size_t i, uint32_t ms);

#endif
