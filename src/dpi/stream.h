/*
 * TCP stream reassembly, one struct stream per direction of a flow. The
 * bytes of a direction live in a buffer borrowed from a preallocated pool
 * (two size classes: a small one for the common short PDU, a large one
 * for PDUs that do not fit) only while they are in flight: unconsumed by
 * the parser, or consumed but not yet acknowledged by the peer (kept so
 * that a retransmission can be compared byte for byte). A direction with
 * nothing in flight holds no buffer. Sequence numbers use serial-number
 * arithmetic, so a stream may wrap at 2^32.
 *
 * Anything ambiguous is reported, never resolved silently: overlapping
 * bytes that differ, holes that cannot be held, data beyond the buffer or
 * after FIN. After such an anomaly the direction is "broken": it delivers
 * nothing more and every later payload returns STREAM_BROKEN.
 *
 * No allocation after stream_pool_alloc(), no logging, no global state.
 */
#ifndef CONDUIT_DPI_STREAM_H
#define CONDUIT_DPI_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* TCP header flag bits, as on the wire (byte 13 of the header). */
#define STREAM_TCP_FIN 0x01
#define STREAM_TCP_SYN 0x02
#define STREAM_TCP_RST 0x04
#define STREAM_TCP_PSH 0x08
#define STREAM_TCP_ACK 0x10

/* Out-of-order ranges held per direction before the hole is a STREAM_GAP. */
#define STREAM_OOO_MAX 4
#define STREAM_BUF_MAX 65535 /* largest buffer size (16-bit offsets) */

/* Serial-number arithmetic (RFC 1982) on 32-bit sequence numbers. */
static inline bool stream_seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static inline bool stream_seq_leq(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) <= 0;
}

/*
 * Result of stream_segment(). Values below STREAM_ANOMALY are normal
 * outcomes; STREAM_ANOMALY and above mean the segment must get the
 * conduit's malformed verdict (or, for STREAM_NOBUF, the resource
 * exception policy) and an event. stream_status_str() names each one.
 */
enum stream_status {
	/* New in-order bytes; the callback saw them. */
	STREAM_OK,
	/* No payload (SYN, pure ACK, FIN, RST). */
	STREAM_NODATA,
	/*
	 * Only bytes seen before, identical (or already acknowledged):
	 * nothing delivered. The verdict given to the original applies: an
	 * engine that dropped the original must drop this copy too.
	 */
	STREAM_DUP,
	/*
	 * Out of order: held until the hole fills. Passing it is safe: the
	 * receiver cannot hand the bytes to its application before the hole
	 * is filled, and the filling segment is the one whose PDUs complete.
	 */
	STREAM_HELD,

	/* First anomaly value; not returned itself. */
	STREAM_ANOMALY,
	/*
	 * Overlapping bytes differ from those seen (a retransmission with
	 * other content), or a SYN contradicts the known ISN.
	 */
	STREAM_OVERLAP_MISMATCH = STREAM_ANOMALY,
	/* Overlaps bytes neither retained nor acknowledged: cannot compare. */
	STREAM_UNVERIFIABLE,
	/*
	 * A hole that cannot be held (out-of-order slots exhausted, beyond
	 * the largest buffer), or bytes the peer acknowledged that we never
	 * saw.
	 */
	STREAM_GAP,
	/* Unconsumed bytes exceed the largest buffer (PDU longer than it). */
	STREAM_OVERFLOW,
	/* Buffer pool exhausted: the resource exception policy applies. */
	STREAM_NOBUF,
	/* Payload beyond the FIN, or after an RST. */
	STREAM_AFTER_CLOSE,
	/* The data callback returned an error. */
	STREAM_ABORTED,
	/* Payload on a direction already broken by an earlier anomaly. */
	STREAM_BROKEN,
};

static inline bool stream_status_is_anomaly(enum stream_status st)
{
	return st >= STREAM_ANOMALY;
}

/* "ok", "overlap-mismatch", ... stable names for events and JSON. */
const char *stream_status_str(enum stream_status st);

/* Per-direction state flags (struct stream.flags). */
#define STREAM_F_INIT 0x0001	  /* sequence space known */
#define STREAM_F_SYN 0x0002	  /* ISN taken from a SYN */
#define STREAM_F_MIDSTREAM 0x0004 /* ISN is the first seq seen (no SYN) */
#define STREAM_F_ACKED 0x0008	  /* `acked` holds a peer acknowledgement */
#define STREAM_F_FIN 0x0010	  /* FIN seen; `fin_seq` valid */
#define STREAM_F_RST 0x0020	  /* RST seen from this side */
#define STREAM_F_BROKEN 0x0040	  /* an anomaly occurred; no more delivery */

#define STREAM_NO_BUF 0xffffffu /* struct stream.buf: no buffer */

/*
 * One direction. Embedded in struct flow (twice per flow, so 24 bytes:
 * the seq of the first buffered byte is next_seq - len, not a field);
 * zeroed by stream_init(). Read the fields freely; change them only
 * through this module.
 */
struct stream {
	uint32_t isn;	    /* SYN's seq, or first seq seen midstream */
	uint32_t next_seq;  /* next in-order seq expected */
	uint32_t acked;	    /* highest ack the peer sent (STREAM_F_ACKED) */
	uint32_t fin_seq;   /* seq of the FIN (STREAM_F_FIN) */
	uint32_t buf : 24;  /* pool buffer id, STREAM_NO_BUF when none */
	uint32_t flags : 8; /* STREAM_F_* */
	uint16_t len;	    /* contiguous bytes buffered up to next_seq */
	uint16_t cons;	    /* of these, consumed by the callback */
};

/* Seq of the first byte in the buffer (next_seq when there is none). */
static inline uint32_t stream_base_seq(const struct stream *s)
{
	return s->next_seq - s->len;
}

struct stream_conf {
	uint32_t small_bufs; /* number of small buffers */
	uint32_t small_size; /* bytes each, e.g. 256: one short PDU */
	uint32_t large_bufs; /* number of large buffers */
	uint32_t large_size; /* bytes each, <= STREAM_BUF_MAX; must hold
			      * the largest PDU any conduit accepts */
};

/* Defaults sized for max_flows concurrent flows. */
void stream_conf_defaults(struct stream_conf *c, uint32_t max_flows);

struct stream_stats {
	uint64_t segments; /* segments with payload */
	uint64_t bytes;	   /* new in-order bytes */
	uint64_t dup;	   /* STREAM_DUP */
	uint64_t held;	   /* STREAM_HELD */
	uint64_t anomalies[STREAM_BROKEN - STREAM_ANOMALY + 1];
	uint64_t retain_dropped; /* retained bytes dropped for room before ack */
	uint64_t upgrades;	 /* small -> large buffer moves */
	uint32_t small_used, large_used; /* buffers in use now */
	uint32_t small_peak, large_peak; /* high-water marks */
};

struct stream_pool;

/*
 * Allocate every buffer up front. NULL with errno set (EINVAL for a bad
 * configuration, ENOMEM). stream_pool_free(NULL) is a no-op.
 */
struct stream_pool *stream_pool_alloc(const struct stream_conf *conf);
void stream_pool_free(struct stream_pool *p);
/* Bytes allocated by the pool. */
size_t stream_pool_memory(const struct stream_pool *p);
void stream_pool_stats(const struct stream_pool *p, struct stream_stats *st);

/* Start a direction with no state and no buffer. */
void stream_init(struct stream *s);
/* Give the direction's buffer back to the pool (flow end, reset). */
void stream_release(struct stream_pool *p, struct stream *s);

/*
 * Contiguous in-order bytes [data, data + len) not consumed yet. Return how
 * many bytes were consumed (0..len): the stream calls again with what is
 * left while the return is > 0; 0 means "need more" (a partial PDU waits
 * in the buffer). This matches DPI_COMPLETE(consumed) / DPI_NEED_MORE. A
 * negative return (or one > len) stops delivery, marks the direction
 * broken and makes stream_segment() return STREAM_ABORTED: use it when the
 * parser lost the framing (DPI_ERROR with consumed 0). `data` is valid only
 * during the call. Every call happens inside stream_segment(), so a PDU
 * completed by the callback completes in the current packet.
 */
typedef int (*stream_data_cb)(const uint8_t *data, size_t len, void *arg);

/* One TCP segment as seen on the wire. */
struct stream_seg {
	uint32_t seq;
	uint32_t ack;	     /* meaningful with STREAM_TCP_ACK */
	uint8_t flags;	     /* STREAM_TCP_* */
	const uint8_t *data; /* TCP payload; borrowed for the call */
	size_t len;
};

/*
 * Feed one segment travelling in direction s; rev is the opposite
 * direction of the same flow (the segment's ACK acknowledges rev's bytes,
 * which lets rev release what it retained). New in-order bytes, including
 * held bytes that this segment makes contiguous, go to cb(arg).
 * Returns a status of enum stream_status (see there); a segment with an
 * anomaly delivers nothing. After a FIN, stream_pending() tells whether a
 * partial PDU was left unconsumed (a truncated last PDU).
 */
enum stream_status stream_segment(struct stream_pool *p, struct stream *s,
				  struct stream *rev,
				  const struct stream_seg *seg,
				  stream_data_cb cb, void *arg);

/* Bytes delivered but not consumed yet (a partial PDU waiting). */
static inline size_t stream_pending(const struct stream *s)
{
	return (size_t)(s->len - s->cons);
}

/* true once FIN or RST was seen from this side. */
static inline bool stream_closed(const struct stream *s)
{
	return (s->flags & (STREAM_F_FIN | STREAM_F_RST)) != 0;
}

#endif
