/*
 * The DPI decision path shared by `conduitctl replay` and the NFQUEUE
 * workers: a decoded packet (struct pkt) in, flow lookup, TCP reassembly,
 * classification, the industrial protocol parser, and one record per
 * application PDU out through a callback (later: the verdict out).
 *
 * One engine per thread, no global state, no locks. Everything is
 * allocated by engine_alloc (flow table, stream buffers, per-flow parser
 * state pools, one decode scratch); engine_process never allocates and
 * never logs. Pool exhaustion is counted and reported as an error record
 * (later the conduit's exception policy), never a crash.
 */
#ifndef CONDUIT_DPI_ENGINE_H
#define CONDUIT_DPI_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpi/pkt.h"
#include "dpi/proto/dnp3.h"
#include "dpi/proto/enip.h"
#include "dpi/proto/iec104.h"
#include "dpi/proto/modbus.h"
#include "dpi/proto/proto.h"
#include "dpi/proto/s7comm.h"

enum engine_proto {
	ENGINE_PROTO_NONE, /* not (yet) identified: no parser runs */
	ENGINE_PROTO_MODBUS,
	ENGINE_PROTO_DNP3,
	ENGINE_PROTO_IEC104,
	ENGINE_PROTO_S7COMM,
	ENGINE_PROTO_ENIP,
	ENGINE_PROTO_MAX,
};

/* How a classification was reached; only DPI counts as identification
 * once nDPI is wired in (the issue: port guesses are not accepted). */
enum engine_class_how {
	ENGINE_CLASS_PORT,   /* well-known port guess */
	ENGINE_CLASS_DPI,    /* content inspection (nDPI) */
	ENGINE_CLASS_POLICY, /* the conduit's allow entry names the parser */
};

/* Verdict of a PDU or a packet; severity order (same values as enum
 * pol_action): a packet gets the most severe of its PDUs and its flow. */
enum engine_verdict {
	ENGINE_ALLOW,
	ENGINE_DENY,   /* drop */
	ENGINE_REJECT, /* drop, and reset a TCP connection */
};

struct engine_class {
	uint64_t now_us; /* input: the packet's time */
	uint64_t tag;	 /* input: the caller's packet tag */
	enum engine_proto proto;
	enum engine_class_how how;
	bool server_is_dst; /* this packet travels client -> server */
	/*
	 * Flow-level verdict (no conduit, nDPI found a protocol the conduit
	 * does not allow, ...); sticky: once above ALLOW, every later packet
	 * of the flow gets at least this verdict. Zero (ALLOW) by default.
	 */
	enum engine_verdict verdict;
};

enum engine_class_result {
	ENGINE_CLASS_DONE, /* *out final (proto may be NONE: no parser) */
	/*
	 * Ask again with the next packet of the flow. With proto NONE the
	 * stream data is held unparsed; with a proto the parser starts now
	 * and proto/server_is_dst of later answers are ignored (only verdict
	 * and how still count) — for identification that goes on after the
	 * policy already chose the parser.
	 */
	ENGINE_CLASS_MORE,
};

/*
 * Classifier hook: asked for each packet of a flow until it answers DONE.
 * `ctx` is the classifier's own per-engine state (nDPI's detection module,
 * the verdict module); `fuser` the flow's hook area (engine_conf
 * hook_user_size bytes, zeroed at flow creation, NULL when that size is
 * 0). It must not allocate per packet either.
 */
typedef enum engine_class_result (*engine_classify_fn)(
	void *ctx, const struct pkt *p, void *fuser, struct engine_class *out);

/* The built-in classifier: the well-known port table, labelled PORT. */
enum engine_class_result engine_classify_port(void *ctx, const struct pkt *p,
					      void *fuser,
					      struct engine_class *out);
/* "modbus", ...; "none" for ENGINE_PROTO_NONE. */
const char *engine_proto_name(enum engine_proto proto);

/*
 * One application PDU, or one malformed one. Everything is borrowed and
 * valid only during the callback.
 */
struct engine_pdu {
	uint64_t tag;	 /* the caller's packet tag (replay: frame) */
	uint64_t now_us; /* time of the packet that completed it */
	enum engine_proto proto;
	enum dpi_dir dir;
	uint8_t l4proto;
	const struct pkt_addr *src, *dst; /* of this PDU's direction */
	uint16_t sport, dport;
	enum engine_class_how how;
	/* NULL, or what was wrong; the decoded fields so far stay valid */
	const char *error;
	/* the direction cannot be resynchronised: no more PDUs from it */
	bool broken;
	bool enip_io; /* UDP 2222 class 0/1 I/O datagram: no fields */
	/* decoded fields by proto; the pointer is NULL when there are none
	 * (stream events, framing lost) */
	union {
		const struct modbus_pdu *modbus;
		struct {
			const struct dnp3_link *link; /* last frame */
			const struct dnp3_apdu *app;  /* NULL: link error */
		} dnp3;
		const struct iec104_apdu *iec104;
		const struct s7comm_pdu *s7comm;
		const struct enip_pdu *enip;
	} u;
};

/* Called for every PDU record; returns the PDU's verdict. `fuser` as for
 * the classifier. */
typedef enum engine_verdict (*engine_pdu_fn)(const struct engine_pdu *pdu,
					     void *fuser, void *arg);
/* A flow ends (timeout, eviction, table freed): release what fuser
 * refers to, flush aggregated events. */
typedef void (*engine_flow_end_fn)(void *fuser, void *arg);

struct engine_conf {
	size_t max_flows;     /* flow table entries (0: default) */
	size_t stream_bytes;  /* largest reassembly buffer (0: default) */
	size_t max_dnp3;      /* flows with DNP3 transport state at once */
	uint32_t tcp_timeout; /* s, idle established TCP flow */
	uint32_t udp_timeout; /* s */
	/*
	 * Exception policy for STREAM_GAP (bytes never seen: capture loss).
	 * false (inline default): the direction is broken for good. true
	 * (replay): one error record, then the direction restarts at the
	 * next segment as if midstream, parser state reset.
	 */
	bool resync_on_gap;
	/* bytes of per-flow area for the hooks (verdict module) */
	size_t hook_user_size;
};

struct engine_stats {
	uint64_t packets;
	uint64_t not_ip;      /* -EPROTONOSUPPORT from the link or IP layer */
	uint64_t bad_packets; /* malformed L3/L4 headers */
	uint64_t fragments;   /* IP fragments (not reassembled) */
	uint64_t other_l4;    /* neither TCP nor UDP */
	uint64_t flows;	      /* flows created */
	uint64_t flow_pool_full;
	uint64_t state_pool_full;
	uint64_t stream_events; /* gaps, overlaps with different bytes, ... */
	uint64_t unclassified;	/* packets of flows without a parser */
	uint64_t pdus[ENGINE_PROTO_MAX];
	uint64_t requests[ENGINE_PROTO_MAX];
	uint64_t responses[ENGINE_PROTO_MAX];
	uint64_t errors[ENGINE_PROTO_MAX];
	uint64_t broken[ENGINE_PROTO_MAX];
	uint64_t verdicts[3]; /* packets by enum engine_verdict */
};

struct engine;

/* NULL conf: defaults. Returns NULL with errno set. */
struct engine *engine_alloc(const struct engine_conf *conf);
void engine_free(struct engine *e);

/* Replace the classifier (default engine_classify_port, ctx NULL). */
void engine_set_classifier(struct engine *e, engine_classify_fn fn, void *ctx);
void engine_set_pdu_cb(struct engine *e, engine_pdu_fn fn, void *arg);
void engine_set_flow_end_cb(struct engine *e, engine_flow_end_fn fn, void *arg);

/*
 * Account a packet the caller could not decode (pkt_decode_ip or link
 * layer result `rc`), so the statistics cover every packet.
 */
void engine_count_undecoded(struct engine *e, int rc);

/*
 * One decoded packet (pkt_decode_ip returned 0) at time `now_us`
 * (microseconds, the caller's clock: packet time in replay). PDU
 * records are delivered through the callback before it returns. Returns 0,
 * or a negative errno when the packet could not be tracked (flow table
 * full: -ENOBUFS) — the caller's exception policy decides.
 */
int engine_process(struct engine *e, const struct pkt *p, uint64_t now_us,
		   uint64_t tag);

/*
 * Verdict of the packet engine_process handled last: the most severe of
 * the flow's sticky verdict and of the PDUs completed in it. A TCP PDU
 * denied or rejected makes that verdict sticky for the flow (inline, a
 * later retransmission of its bytes would otherwise pass as a duplicate).
 * Packets the engine does not track (fragments, other L4, table full)
 * get ENGINE_DENY: the caller may choose otherwise for them.
 */
enum engine_verdict engine_packet_verdict(const struct engine *e);

const struct engine_stats *engine_get_stats(const struct engine *e);

/*
 * Before the hooks are replaced (a new policy): every live flow keeps its
 * flow entry, TCP reassembly and sticky verdict (a flow refused under the
 * old policy stays refused: its consumed bytes could otherwise pass as a
 * retransmission), but is handed to the current flow-end hook (which
 * releases what the old hooks held), gets a zeroed hook area and is
 * classified again at its next packet, so the new hooks bind it afresh.
 */
void engine_rebind(struct engine *e);

#endif
