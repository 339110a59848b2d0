/*
 * Flow table: bidirectional flows keyed by 5-tuple and VLAN id, with
 * per-protocol idle timeouts. Every flow, its user area and the stream
 * buffer pool are allocated by flow_table_alloc(); the packet path never
 * allocates. Lookup is O(1): chained buckets in preallocated arrays, hashed
 * with SipHash-1-3 under a per-table random key, and a one-entry cache of
 * the last flow looked up (consecutive packets of one flow skip the hash). Time is whatever the caller
 * says it is (packet time, microseconds), so replay and tests are
 * deterministic. One table per worker thread; no locks.
 *
 * When the table is full, the oldest idle flow is evicted if it is past
 * its timeout; otherwise the new flow is refused with FLOW_FULL and the
 * caller applies its exception policy (drop, for inspected conduits).
 */
#ifndef CONDUIT_DPI_FLOW_H
#define CONDUIT_DPI_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpi/stream.h"

/*
 * A packet's addresses as sent. IPv4 addresses are stored v4-mapped
 * (::ffff:a.b.c.d); use flow_key_v4()/flow_key_v6() to fill one, so that
 * padding is zero and equal tuples compare equal.
 */
struct flow_key {
	uint8_t src[16];
	uint8_t dst[16];
	uint16_t sport; /* host order; 0 for protocols without ports */
	uint16_t dport;
	uint16_t vlan; /* 802.1Q VLAN id, 0 when untagged */
	uint8_t proto; /* IPPROTO_TCP, IPPROTO_UDP, ... */
	uint8_t pad;   /* zero */
};

/* src4/dst4: 4 bytes each, network order (as in the IP header). */
void flow_key_v4(struct flow_key *k, const void *src4, const void *dst4,
		 uint16_t sport, uint16_t dport, uint8_t proto, uint16_t vlan);
/* src6/dst6: 16 bytes each. */
void flow_key_v6(struct flow_key *k, const void *src6, const void *dst6,
		 uint16_t sport, uint16_t dport, uint8_t proto, uint16_t vlan);
bool flow_key_is_v4(const struct flow_key *k);

/* Direction of a packet within its flow; same values as enum dpi_dir. */
enum flow_dir {
	FLOW_DIR_C2S = 0, /* client -> server: request */
	FLOW_DIR_S2C = 1, /* server -> client: response */
};

enum flow_state {
	FLOW_STATE_NEW,		/* TCP: handshake not complete */
	FLOW_STATE_ESTABLISHED, /* TCP: data or handshake seen */
	FLOW_STATE_CLOSING,	/* TCP: FIN or RST seen */
	FLOW_STATE_UDP,
	FLOW_STATE_OTHER,
};

/* struct flow.flags */
#define FLOW_F_SYN_SEEN 0x01 /* client known from the SYN (or SYN-ACK) */
#define FLOW_F_CLIENT_GUESS \
	0x02 /* no SYN: client = higher port, on a tie                                             \
	      * the sender of the first packet */
#define FLOW_F_FIN_C2S 0x04
#define FLOW_F_FIN_S2C 0x08
#define FLOW_F_RST 0x10

/*
 * A flow. The engine reads any field; it writes only through this API
 * (and the stream module for `stream`). The per-flow user area is
 * flow_user(); it is zeroed when the flow is created. 120 bytes: at
 * 100 000 flows every byte here is 100 kB of resident memory.
 */
struct flow {
	struct flow_key key;	 /* oriented client -> server */
	uint64_t last_seen;	 /* microseconds, caller's clock */
	struct stream stream[2]; /* TCP reassembly, by enum flow_dir */
	uint32_t id;		 /* 1, 2, ... per table (wraps at 2^32) */
	uint8_t state;		 /* enum flow_state */
	uint8_t flags;		 /* FLOW_F_* */
	/* internal */
	uint8_t tclass;
	uint8_t in_use;
	uint32_t hash; /* keyed hash of the key, both directions */
	uint32_t hnext;
	uint32_t lprev, lnext;
};

struct flow_conf {
	uint32_t max_flows; /* pool size, >= 1 */
	uint32_t user_size; /* bytes of user area per flow (rounded up to
			     * 16), <= FLOW_USER_MAX; 0 for none */
	/* idle timeouts, seconds */
	uint32_t timeout_tcp_new;
	uint32_t timeout_tcp_established;
	uint32_t timeout_tcp_closing;
	uint32_t timeout_udp;
	uint32_t timeout_other;
	struct stream_conf stream;
	bool fixed_seed; /* tests: hash with `seed`, not getrandom() */
	uint8_t seed[16];
};

#define FLOW_USER_MAX 4096
#define FLOW_DEFAULT_USER_SIZE 64

/*
 * Defaults for max_flows flows: timeouts 30 s (TCP handshake), 3600 s
 * (established), 30 s (closing), 120 s (UDP), 60 s (other); user area
 * FLOW_DEFAULT_USER_SIZE; stream pool from stream_conf_defaults().
 */
void flow_conf_defaults(struct flow_conf *c, uint32_t max_flows);

enum flow_end {
	FLOW_END_EXPIRED,  /* idle past its timeout (sweep) */
	FLOW_END_EVICTED,  /* idle past its timeout, room for a new flow */
	FLOW_END_REUSED,   /* a new SYN on a closing flow: restarted */
	FLOW_END_REMOVED,  /* flow_remove() */
	FLOW_END_SHUTDOWN, /* flow_table_free() */
};

/*
 * Called just before a flow's memory is reused, with its user area still
 * intact: free what the user area refers to, emit aggregated events. Must
 * not call back into the table.
 */
typedef void (*flow_end_cb)(struct flow *f, void *user, enum flow_end why,
			    void *arg);

struct flow_table;

/*
 * Allocate the table, its flows, user areas and stream pool. NULL with
 * errno set (EINVAL for a bad configuration, ENOMEM, or getrandom()'s
 * error). end may be NULL. flow_table_free(NULL) is a no-op; it calls end
 * with FLOW_END_SHUTDOWN for each flow still active.
 */
struct flow_table *flow_table_alloc(const struct flow_conf *conf,
				    flow_end_cb end, void *arg);
void flow_table_free(struct flow_table *t);

enum flow_status {
	FLOW_FOUND,   /* existing flow */
	FLOW_CREATED, /* new flow (user area zeroed) */
	FLOW_FULL,    /* no room and nothing expired: refused,
		       * *fp is NULL. Exception policy applies. */
};

/*
 * Find the flow of a packet, or create it. tcp_flags (STREAM_TCP_*, 0 for
 * other protocols) drive the client choice and the TCP state; now is the
 * packet time in microseconds (a time earlier than one seen before counts
 * as that one). Sets *fp and *dir (the packet's direction), refreshes
 * the idle timer. A SYN without ACK on a closing flow
 * ends it (FLOW_END_REUSED) and starts a new one (FLOW_CREATED).
 */
enum flow_status flow_lookup(struct flow_table *t, const struct flow_key *k,
			     uint8_t tcp_flags, uint64_t now, struct flow **fp,
			     enum flow_dir *dir);

/* Find without creating or touching; NULL when absent. */
struct flow *flow_find(struct flow_table *t, const struct flow_key *k,
		       enum flow_dir *dir);

/*
 * Swap client and server when the engine knows better than the guess
 * (FLOW_F_CLIENT_GUESS), e.g. the server port of a conduit rule: key,
 * flags and streams change sides; the hash does not change.
 */
void flow_reverse(struct flow *f);

/* End a flow now (FLOW_END_REMOVED); f is invalid afterwards. */
void flow_remove(struct flow_table *t, struct flow *f);

/*
 * Expire up to budget flows idle past their timeout at time now; returns
 * how many. Work is bounded by budget (plus one check per timeout class),
 * so call it often with a small budget, e.g. once per packet batch.
 */
unsigned flow_table_sweep(struct flow_table *t, uint64_t now, unsigned budget);

/* The flow's user area, conf.user_size bytes, 16-byte aligned; NULL if 0. */
void *flow_user(struct flow_table *t, const struct flow *f);

/* Reassembly for a TCP segment of f in direction dir (stream_segment()). */
enum stream_status flow_tcp_segment(struct flow_table *t, struct flow *f,
				    enum flow_dir dir,
				    const struct stream_seg *seg,
				    stream_data_cb cb, void *arg);

struct stream_pool *flow_table_stream_pool(struct flow_table *t);

/* Seconds of idle time allowed for f in its current state. */
uint32_t flow_timeout(const struct flow_table *t, const struct flow *f);

struct flow_stats {
	uint64_t active;
	uint64_t created;
	uint64_t evicted;
	uint64_t refused; /* FLOW_FULL */
	uint64_t expired;
	uint64_t removed; /* flow_remove() and FLOW_END_REUSED */
};

void flow_table_stats(const struct flow_table *t, struct flow_stats *st);
/* Bytes allocated by the table, its stream pool included. */
size_t flow_table_memory(const struct flow_table *t);

/* Call fn for every flow in use (no flow may be created or ended by fn). */
void flow_table_foreach(struct flow_table *t,
			void (*fn)(struct flow *f, void *user, void *arg),
			void *arg);

#endif
