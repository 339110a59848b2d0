/*
 * Events of the DPI decision path: one structured record per policy
 * violation (a denied or rejected PDU, a malformed PDU, a flow nDPI found
 * to be something the conduit does not allow, a rate limit hit). The audit
 * module (FR6) consumes them; replay prints them.
 *
 * Aggregation (verdict.c): per flow, the first event of a kind (same rule
 * and function) goes out at once with count 1; repeats within the
 * aggregation interval are counted, not emitted, and go out as one record
 * (count = repeats, first_us/last_us spanning them) when the interval
 * ends, the kind changes, or the flow ends. Nothing is logged per packet.
 */
#ifndef CONDUIT_DPI_EVENT_H
#define CONDUIT_DPI_EVENT_H

#include <stdint.h>

#include "dpi/pkt.h"
#include "policy/model.h"

enum dpi_event_kind {
	DPI_EV_DENIED,	   /* a rule or an allow-list refused a request */
	DPI_EV_MALFORMED,  /* parser error, framing lost, stream anomaly */
	DPI_EV_APP,	   /* nDPI: protocol not allowed / not identified */
	DPI_EV_CATEGORY,   /* nDPI category denied by a zone (NDR 5.3) */
	DPI_EV_RATE,	   /* a rate limit's bucket was empty */
	DPI_EV_NO_CONDUIT, /* flow between zones without a conduit/entry */
	DPI_EV_EXHAUSTED,  /* a pool ran out: exception policy applied */
};

#define DPI_EVENT_DETAIL_MAX 96

struct dpi_event {
	enum dpi_event_kind kind;
	enum pol_action action;	    /* what was done */
	uint32_t count;		    /* occurrences this record stands for */
	uint64_t first_us, last_us; /* packet times */
	uint64_t tag;		    /* caller's packet tag (replay: frame) */
	const struct pol_conduit *conduit; /* NULL: none */
	const struct pol_zone *zone_from;  /* NULL: address in no zone */
	const struct pol_zone *zone_to;
	uint8_t l4proto;
	struct pkt_addr src, dst; /* of the offending direction */
	uint16_t sport, dport;
	const char *proto; /* "modbus", ..., or the nDPI protocol name */
	int function;	   /* function code / type id / service; -1 none */
	/* what was touched: "holding-registers 100-119", "g12v1 0-3",
	 * "ioa 4001", "class 0x6b instance 1"; or the malformed reason */
	char detail[DPI_EVENT_DETAIL_MAX];
	/* the deciding rule: "allow[0].modbus.rules[2]",
	 * "allow[0].modbus.functions", "malformed", "no-conduit", ... */
	const char *rule;
	struct pol_loc loc; /* of the rule in the policy file; 0:0 none */
};

typedef void (*dpi_event_fn)(const struct dpi_event *ev, void *arg);

const char *dpi_event_kind_name(enum dpi_event_kind k);

#endif
