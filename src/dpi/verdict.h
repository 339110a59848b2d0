/*
 * Conduit rule evaluation on the DPI path: binds each flow to its conduit
 * and allow entry (zones from addresses, the way the kernel ruleset
 * classifies), chooses the parser the entry names, runs nDPI where the
 * policy needs identification (classify.c), decides every PDU (the order
 * is in policy/model.h), keeps rate-limit buckets, and emits aggregated
 * events (dpi/event.h).
 *
 * One verdict instance per engine (per worker thread): it borrows the
 * policy (which must outlive it) and installs itself as the engine's
 * classifier, PDU and flow-end hooks. Everything is allocated in
 * verdict_alloc; the decision path allocates nothing and logs nothing.
 * Time comes only from the packet times engine_process is given, so rate
 * limits and aggregation are testable with an injected clock.
 *
 * Without a policy (p == NULL) it still classifies (nDPI where it
 * identifies an ICS protocol, else the well-known port, labelled "port")
 * and decides nothing: decisions have bound == false.
 */
#ifndef CONDUIT_DPI_VERDICT_H
#define CONDUIT_DPI_VERDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpi/classify.h"
#include "dpi/engine.h"
#include "dpi/event.h"
#include "policy/model.h"

struct verdict_conf {
	uint32_t aggregate_s; /* event aggregation interval; 0: 10 s */
	size_t rate_buckets;  /* per-source buckets per engine; 0: 4096 */
	size_t ndpi_slots;    /* flows identified at once; 0: default */
	/* classify without nDPI (port only): tests, or a build option */
	bool no_ndpi;
	/* decode-only classification by port even where nDPI would answer
	 * (replay --classify port, the tshark oracle) */
	bool port_only;
};

/* What was decided for one PDU (replay prints it). */
struct verdict_decision {
	bool bound; /* a policy was given (else only decoding) */
	enum pol_action action;
	const struct pol_conduit *conduit; /* NULL: no conduit */
	const struct pol_zone *zone_from;  /* of the flow's client */
	const struct pol_zone *zone_to;
	int service; /* index in conduit->allow, -1 none */
	/* "allow[0].modbus.functions", "malformed", "no-conduit", ...;
	 * static or owned by the verdict instance, valid during the
	 * callback; NULL when not bound */
	const char *rule;
	struct pol_loc loc; /* of the rule, 0:0 none */
	/* nDPI's name for the flow, when it identified one ("" else) */
	const char *app;
};

typedef void (*verdict_pdu_fn)(const struct engine_pdu *pdu,
			       const struct verdict_decision *d, void *arg);

struct verdict;

/* p may be NULL (decode only). NULL with errno set. Free the engines it is
 * attached to first: ending their flows flushes events through it. */
struct verdict *verdict_alloc(const struct pol_policy *p,
			      const struct verdict_conf *conf);
void verdict_free(struct verdict *v);

/* The engine_conf.hook_user_size an engine needs for this module. */
size_t verdict_flow_size(void);

/* Install the hooks in e (whose hook_user_size >= verdict_flow_size()). */
void verdict_attach(struct verdict *v, struct engine *e);

void verdict_set_pdu_cb(struct verdict *v, verdict_pdu_fn fn, void *arg);
void verdict_set_event_cb(struct verdict *v, dpi_event_fn fn, void *arg);

/* Emit every pending aggregated event now (end of a replay, shutdown). */
void verdict_flush(struct verdict *v);
/* Emit the aggregated events whose interval ended before now_us (the
 * caller's clock; cheap when nothing is pending: call it per packet). */
void verdict_tick(struct verdict *v, uint64_t now_us);

/*
 * The last refusal of the packet being processed that a rule wants
 * answered at protocol level (today: a Modbus rule with action reject and
 * an exception code). The worker clears it with verdict_packet_begin
 * before each engine_process and reads it after: valid only when a PDU of
 * that packet was rejected by such a rule (the last one wins; the worker
 * uses it only when the segment holds exactly that one PDU, pdu_len).
 * Nothing else clears it: replay and tests that never call
 * verdict_packet_begin see the last answer of any packet.
 */
struct verdict_answer {
	bool valid;
	uint8_t exception; /* Modbus exception code, 1..255 */
	uint16_t transaction_id;
	uint8_t unit_id;
	uint8_t function; /* of the request, without the 0x80 bit */
	size_t pdu_len;	  /* the request's ADU length: MBAP length + 6 */
};

/* Start of a packet: the answer record is cleared (cheap, per packet). */
void verdict_packet_begin(struct verdict *v);
/*
 * True when the packet being processed settled its flow for good: an
 * inspected entry without a protocol block (only `app`, or a zone's
 * `deny-app-categories`) whose identification just ended with the flow
 * allowed and no parser to run. Nothing the decision path could still
 * refuse is left, so the worker may hand the flow back to the kernel (ct
 * mark) and its later packets skip the queue. Cleared by
 * verdict_packet_begin; true for one packet per flow at most.
 */
bool verdict_packet_settled(const struct verdict *v);
const struct verdict_answer *verdict_last_answer(const struct verdict *v);

struct verdict_stats {
	uint64_t flows_bound, flows_unbound;
	uint64_t pdus[3]; /* by enum pol_action */
	uint64_t events, events_suppressed;
	uint64_t bucket_full; /* per-source bucket table full: shared bucket */
};
const struct verdict_stats *verdict_get_stats(const struct verdict *v);
const struct classify_stats *verdict_classify_stats(const struct verdict *v);

/*
 * Live counters, per conduit and in total. The thread running the engine
 * writes them with relaxed atomic stores (single writer, no lock); any
 * other thread may read them with the getters below while it runs, as
 * long as the instance is not freed meanwhile (queue.c: under its policy
 * lock).
 */
struct verdict_counts {
	uint64_t flows;	       /* admitted by an allow entry (total: + intra) */
	uint64_t flows_denied; /* refused whole: no entry, or app/category */
	uint64_t pdus[3];      /* PDUs decided, by enum pol_action */
	uint64_t malformed;    /* of those: malformed (parser error, max-pdu) */
};

/* Conduits counted: the policy's n_conduits (0 without a policy). */
size_t verdict_conduits(const struct verdict *v);
/* Conduit i (index in p->conduits; out of range: zeros). */
void verdict_conduit_counts(const struct verdict *v, size_t i,
			    struct verdict_counts *out);
/* Every PDU and flow, bound or not. */
void verdict_total_counts(const struct verdict *v, struct verdict_counts *out);
/* Flows the instance tracks now (classified, not yet ended). */
uint64_t verdict_active_flows(const struct verdict *v);
/*
 * Policy swap: add old's totals and the counters of each of old's
 * conduits to the conduit of the same name in v, so the counters of a
 * conduit that survives an apply keep counting. Call in the writer
 * thread (or before v runs); old is only read.
 */
void verdict_carry_counts(struct verdict *v, const struct verdict *old);

#endif
