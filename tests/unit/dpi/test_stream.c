/*
 * TCP reassembly: PDUs split across segments and packed into one,
 * retransmissions, overlaps, holes, buffer limits, wraparound, FIN/RST.
 * Consumers are the real Modbus and IEC 104 parsers.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "dpi/proto/iec104.h"
#include "dpi/proto/modbus.h"
#include "dpi/stream.h"

static struct stream_pool *pool;
static struct stream cli, srv; /* client -> server, server -> client */

/* What the consumer saw. */
static struct {
	int pdus;
	int calls;
	uint16_t tid[16];
	int need_forever; /* never consume: a PDU that never ends */
	int fail;	  /* return -1 */
} seen;

static int modbus_cb(const uint8_t *d, size_t n, void *arg)
{
	struct modbus_pdu m;
	struct dpi_result r;

	(void)arg;
	seen.calls++;
	if (seen.fail)
		return -1;
	if (seen.need_forever)
		return 0;
	modbus_parse(d, n, DPI_DIR_REQUEST, &m, &r);
	if (r.status == DPI_NEED_MORE)
		return 0;
	if (r.status == DPI_ERROR && r.consumed == 0)
		return -1;
	if (seen.pdus < 16)
		seen.tid[seen.pdus] = m.transaction_id;
	seen.pdus++;
	return (int)r.consumed;
}

static int iec104_cb(const uint8_t *d, size_t n, void *arg)
{
	struct iec104_apdu a;
	struct dpi_result r;

	(void)arg;
	seen.calls++;
	iec104_parse(d, n, DPI_DIR_REQUEST, &a, &r);
	if (r.status == DPI_NEED_MORE)
		return 0;
	cr_assert_eq(r.status, DPI_COMPLETE, "%s", r.error ? r.error : "");
	seen.pdus++;
	return (int)r.consumed;
}

static void setup(void)
{
	struct stream_conf c = {
		.small_bufs = 4,
		.small_size = 64,
		.large_bufs = 2,
		.large_size = 1024,
	};

	pool = stream_pool_alloc(&c);
	cr_assert_not_null(pool);
	stream_init(&cli);
	stream_init(&srv);
	memset(&seen, 0, sizeof(seen));
}

static void teardown(void)
{
	stream_release(pool, &cli);
	stream_release(pool, &srv);
	stream_pool_free(pool);
}

TestSuite(stream, .init = setup, .fini = teardown);

static enum stream_status seg(struct stream *s, uint8_t flags, uint32_t seq,
			      uint32_t ack, const void *data, size_t len)
{
	struct stream_seg g = {
		.seq = seq,
		.ack = ack,
		.flags = flags,
		.data = data,
		.len = len,
	};

	return stream_segment(pool, s, s == &cli ? &srv : &cli, &g, modbus_cb,
			      NULL);
}

#define A STREAM_TCP_ACK
#define P (STREAM_TCP_ACK | STREAM_TCP_PSH)

/* Three-way handshake: client ISN ci, server ISN si. */
static void handshake(uint32_t ci, uint32_t si)
{
	cr_assert_eq(seg(&cli, STREAM_TCP_SYN, ci, 0, NULL, 0), STREAM_NODATA);
	cr_assert_eq(seg(&srv, STREAM_TCP_SYN | A, si, ci + 1, NULL, 0),
		     STREAM_NODATA);
	cr_assert_eq(seg(&cli, A, ci + 1, si + 1, NULL, 0), STREAM_NODATA);
}

/* Read holding registers, transaction id tid: 12 bytes. */
static void rhr(uint8_t *b, uint16_t tid)
{
	const uint8_t t[12] = {
		(uint8_t)(tid >> 8), (uint8_t)tid, 0, 0, 0, 6, 1, 3, 0, 0, 0, 10
	};

	memcpy(b, t, sizeof(t));
}

static size_t in_use(void)
{
	struct stream_stats st;

	stream_pool_stats(pool, &st);
	return st.small_used + st.large_used;
}

Test(stream, handshake_sets_isn)
{
	handshake(1000, 5000);
	cr_assert(cli.flags & STREAM_F_SYN);
	cr_assert_not(cli.flags & STREAM_F_MIDSTREAM);
	cr_assert_eq(cli.isn, 1000);
	cr_assert_eq(cli.next_seq, 1001);
	cr_assert_eq(srv.isn, 5000);
	cr_assert_eq(srv.next_seq, 5001);
	cr_assert_eq(cli.buf, STREAM_NO_BUF, "no payload, no buffer");
}

/* CR 3.5 */
Test(stream, split_mbap_header)
{
	uint8_t b[12];

	rhr(b, 7);
	handshake(1000, 5000);
	cr_assert_eq(seg(&cli, P, 1001, 5001, b, 3), STREAM_OK);
	cr_assert_eq(seen.pdus, 0);
	cr_assert_eq(stream_pending(&cli), 3);
	cr_assert_eq(seg(&cli, P, 1004, 5001, b + 3, 4), STREAM_OK);
	cr_assert_eq(seen.pdus, 0, "MBAP complete, PDU body missing");
	cr_assert_eq(seg(&cli, P, 1008, 5001, b + 7, 5), STREAM_OK);
	cr_assert_eq(seen.pdus, 1);
	cr_assert_eq(seen.tid[0], 7);
	cr_assert_eq(stream_pending(&cli), 0);
	/* The server's ACK releases the retained request. */
	cr_assert_eq(seg(&srv, A, 5001, 1013, NULL, 0), STREAM_NODATA);
	cr_assert_eq(cli.buf, STREAM_NO_BUF);
	cr_assert_eq(in_use(), 0);
}

/* CR 3.5 */
Test(stream, four_apdus_in_one_segment)
{
	/* STARTDT act, TESTFR act, S-frame, STOPDT act: 4 x 6 bytes. */
	static const uint8_t b[] = {
		0x68, 4, 0x07, 0, 0, 0, 0x68, 4, 0x43, 0, 0, 0,
		0x68, 4, 0x01, 0, 2, 0, 0x68, 4, 0x13, 0, 0, 0,
	};
	struct stream_seg g = {
		.seq = 1, .ack = 1, .flags = P, .data = b, .len = sizeof(b)
	};

	handshake(0, 0);
	cr_assert_eq(stream_segment(pool, &cli, &srv, &g, iec104_cb, NULL),
		     STREAM_OK);
	cr_assert_eq(seen.pdus, 4);
	cr_assert_eq(stream_pending(&cli), 0);
}

Test(stream, several_modbus_adus_and_a_partial_one)
{
	uint8_t b[48];

	rhr(b, 1);
	rhr(b + 12, 2);
	rhr(b + 24, 3);
	rhr(b + 36, 4);
	handshake(10, 20);
	cr_assert_eq(seg(&cli, P, 11, 21, b, 40), STREAM_OK);
	cr_assert_eq(seen.pdus, 3);
	cr_assert_eq(stream_pending(&cli), 4);
	cr_assert_eq(seg(&cli, P, 51, 21, b + 40 - 4, 0), STREAM_NODATA);
	rhr(b, 4);
	cr_assert_eq(seg(&cli, P, 51, 21, b + 4, 8), STREAM_OK);
	cr_assert_eq(seen.pdus, 4);
	cr_assert_eq(seen.tid[3], 4);
}

/* CR 3.5 */
Test(stream, retransmission_identical_is_ignored)
{
	uint8_t b[12];
	struct stream_stats st;

	rhr(b, 9);
	handshake(1000, 5000);
	cr_assert_eq(seg(&cli, P, 1001, 5001, b, 12), STREAM_OK);
	cr_assert_eq(seg(&cli, P, 1001, 5001, b, 12), STREAM_DUP);
	cr_assert_eq(seg(&cli, P, 1005, 5001, b + 4, 4), STREAM_DUP);
	cr_assert_eq(seen.pdus, 1, "delivered once");
	stream_pool_stats(pool, &st);
	cr_assert_eq(st.dup, 2);
	/* Once acknowledged (and released) a copy is still a duplicate. */
	cr_assert_eq(seg(&srv, A, 5001, 1013, NULL, 0), STREAM_NODATA);
	cr_assert_eq(cli.buf, STREAM_NO_BUF);
	cr_assert_eq(seg(&cli, P, 1001, 5001, b, 12), STREAM_DUP);
}

/* CR 3.5 */
Test(stream, retransmission_with_different_bytes)
{
	uint8_t b[12], w[12];

	rhr(b, 9);
	memcpy(w, b, 12);
	w[7] = 6; /* read becomes write single register */
	handshake(1000, 5000);
	cr_assert_eq(seg(&cli, P, 1001, 5001, b, 12), STREAM_OK);
	cr_assert_eq(seg(&cli, P, 1001, 5001, w, 12), STREAM_OVERLAP_MISMATCH);
	cr_assert(cli.flags & STREAM_F_BROKEN);
	cr_assert_eq(seen.pdus, 1, "the second version is never parsed");
	/* The direction stays broken. */
	rhr(b, 10);
	cr_assert_eq(seg(&cli, P, 1013, 5001, b, 12), STREAM_BROKEN);
	cr_assert_eq(seen.pdus, 1);
	cr_assert_eq(in_use(), 0, "broken direction holds no buffer");
}

/* CR 3.5 */
Test(stream, overlap_partly_new_partly_different)
{
	uint8_t b[24], w[24];

	rhr(b, 1);
	rhr(b + 12, 2);
	memcpy(w, b, 24);
	w[10] = 0x55; /* inside the bytes already seen */
	handshake(0, 0);
	cr_assert_eq(seg(&cli, P, 1, 1, b, 12), STREAM_OK);
	cr_assert_eq(seg(&cli, P, 1, 1, w, 24), STREAM_OVERLAP_MISMATCH);
	cr_assert_eq(seen.pdus, 1);
}

Test(stream, overlap_partly_new_identical)
{
	uint8_t b[24];

	rhr(b, 1);
	rhr(b + 12, 2);
	handshake(0, 0);
	cr_assert_eq(seg(&cli, P, 1, 1, b, 12), STREAM_OK);
	cr_assert_eq(seg(&cli, P, 1, 1, b, 24), STREAM_OK);
	cr_assert_eq(seen.pdus, 2);
	cr_assert_eq(seen.tid[1], 2);
}

/* CR 3.5 */
Test(stream, out_of_order_then_filled)
{
	uint8_t b[36];

	rhr(b, 1);
	rhr(b + 12, 2);
	rhr(b + 24, 3);
	handshake(0, 0);
	cr_assert_eq(seg(&cli, P, 25, 1, b + 24, 12), STREAM_HELD);
	cr_assert_eq(seg(&cli, P, 13, 1, b + 12, 12), STREAM_HELD);
	cr_assert_eq(seen.pdus, 0);
	cr_assert_eq(seg(&cli, P, 1, 1, b, 12), STREAM_OK);
	cr_assert_eq(seen.pdus, 3);
	cr_assert_eq(seen.tid[2], 3);
	cr_assert_eq(cli.next_seq, 37);
}

/* CR 3.5 */
Test(stream, held_bytes_contradicted)
{
	uint8_t b[24], w[12];

	rhr(b, 1);
	rhr(b + 12, 2);
	memcpy(w, b + 12, 12);
	w[11] = 0x77;
	handshake(0, 0);
	cr_assert_eq(seg(&cli, P, 13, 1, b + 12, 12), STREAM_HELD);
	cr_assert_eq(seg(&cli, P, 13, 1, w, 12), STREAM_OVERLAP_MISMATCH);
	cr_assert_eq(seen.pdus, 0);
}

/* CR 3.5 */
Test(stream, gap_too_many_holes)
{
	uint8_t b[12];

	rhr(b, 1);
	handshake(0, 0);
	for (int i = 0; i < STREAM_OOO_MAX; i++)
		cr_assert_eq(seg(&cli, P, 1 + 24 * (uint32_t)(i + 1), 1, b, 12),
			     STREAM_HELD);
	cr_assert_eq(seg(&cli, P, 1 + 24 * (STREAM_OOO_MAX + 1), 1, b, 12),
		     STREAM_GAP);
	cr_assert(cli.flags & STREAM_F_BROKEN);
	cr_assert_eq(seen.pdus, 0);
}

/* CR 3.5 */
Test(stream, gap_beyond_the_largest_buffer)
{
	uint8_t b[12];

	rhr(b, 1);
	handshake(0, 0);
	cr_assert_eq(seg(&cli, P, 1 + 2000, 1, b, 12), STREAM_GAP);
}

/* CR 3.5 */
Test(stream, gap_acknowledged_but_never_seen)
{
	uint8_t b[12];

	rhr(b, 1);
	handshake(0, 0);
	cr_assert_eq(seg(&cli, P, 1, 1, b, 12), STREAM_OK);
	/* The server acknowledges 24 bytes: 12 passed us unseen. */
	cr_assert_eq(seg(&srv, A, 1, 25, NULL, 0), STREAM_GAP);
	cr_assert(cli.flags & STREAM_F_BROKEN);
}

/* CR 7.1 */
Test(stream, overflow_pdu_longer_than_buffer)
{
	uint8_t b[300];

	memset(b, 0xab, sizeof(b));
	seen.need_forever = 1;
	handshake(0, 0);
	cr_assert_eq(seg(&cli, P, 1, 1, b, 300), STREAM_OK);
	cr_assert_eq(seg(&cli, P, 301, 1, b, 300), STREAM_OK);
	cr_assert_eq(seg(&cli, P, 601, 1, b, 300), STREAM_OK);
	cr_assert_eq(stream_pending(&cli), 900);
	cr_assert_eq(seg(&cli, P, 901, 1, b, 300), STREAM_OVERFLOW);
	cr_assert(cli.flags & STREAM_F_BROKEN);
	cr_assert_eq(in_use(), 0);
}

Test(stream, small_buffer_upgraded_to_large)
{
	/* Write multiple registers, 50 registers: 113 bytes > small (64). */
	uint8_t b[113] = { 0, 1, 0, 0, 0, 107, 1, 16, 0, 0, 0, 50, 100 };
	struct stream_stats st;

	handshake(0, 0);
	cr_assert_eq(seg(&cli, P, 1, 1, b, 40), STREAM_OK);
	cr_assert_eq(seen.pdus, 0);
	cr_assert_eq(seg(&cli, P, 41, 1, b + 40, 73), STREAM_OK);
	cr_assert_eq(seen.pdus, 1);
	stream_pool_stats(pool, &st);
	cr_assert_eq(st.upgrades, 1);
	cr_assert(cli.buf != STREAM_NO_BUF);
	cr_assert_eq(st.large_used, 1);
	cr_assert_eq(st.small_used, 0);
}

/* CR 3.5 */
Test(stream, seq_wraps_at_2_32)
{
	uint8_t b[36];

	rhr(b, 1);
	rhr(b + 12, 2);
	rhr(b + 24, 3);
	handshake(0xfffffff0u, 7);
	/* 0xfffffff1 .. 0xfffffffc, then a segment across 2^32. */
	cr_assert_eq(seg(&cli, P, 0xfffffff1u, 8, b, 12), STREAM_OK);
	cr_assert_eq(seg(&cli, P, 0xfffffffdu, 8, b + 12, 12), STREAM_OK);
	cr_assert_eq(cli.next_seq, 9);
	cr_assert_eq(seg(&cli, P, 0xfffffffdu, 8, b + 12, 12), STREAM_DUP);
	cr_assert_eq(seg(&cli, P, 9, 8, b + 24, 12), STREAM_OK);
	cr_assert_eq(seen.pdus, 3);
	cr_assert_eq(seg(&srv, A, 8, 21, NULL, 0), STREAM_NODATA);
	cr_assert_eq(cli.buf, STREAM_NO_BUF);
}

Test(stream, seq_wrap_out_of_order)
{
	uint8_t b[24];

	rhr(b, 1);
	rhr(b + 12, 2);
	handshake(0xfffffff8u, 7);
	cr_assert_eq(seg(&cli, P, 0xfffffff9u + 12, 8, b + 12, 12),
		     STREAM_HELD);
	cr_assert_eq(seg(&cli, P, 0xfffffff9u, 8, b, 12), STREAM_OK);
	cr_assert_eq(seen.pdus, 2);
	cr_assert_eq(cli.next_seq, 0xfffffff9u + 24);
}

Test(stream, midstream_pickup)
{
	uint8_t b[12];

	rhr(b, 3);
	cr_assert_eq(seg(&cli, P, 777777, 4242, b, 12), STREAM_OK);
	cr_assert(cli.flags & STREAM_F_MIDSTREAM);
	cr_assert_not(cli.flags & STREAM_F_SYN);
	cr_assert_eq(cli.isn, 777777);
	cr_assert_eq(seen.pdus, 1);
	cr_assert_eq(seg(&srv, P, 4242, 777789, NULL, 0), STREAM_NODATA);
	cr_assert(srv.flags & STREAM_F_MIDSTREAM);
	cr_assert_eq(cli.buf, STREAM_NO_BUF, "acked, released");
}

/* CR 3.5 */
Test(stream, midstream_earlier_bytes_unverifiable)
{
	uint8_t b[12];

	rhr(b, 3);
	cr_assert_eq(seg(&cli, P, 1000, 1, b, 12), STREAM_OK);
	/* Bytes before the first one seen: nothing to compare against. */
	cr_assert_eq(seg(&cli, P, 988, 1, b, 12), STREAM_UNVERIFIABLE);
}

/* CR 3.5 */
Test(stream, fin_and_data_after_fin)
{
	uint8_t b[12];

	rhr(b, 5);
	handshake(0, 0);
	cr_assert_eq(seg(&cli, P | STREAM_TCP_FIN, 1, 1, b, 12), STREAM_OK);
	cr_assert_eq(seen.pdus, 1);
	cr_assert(stream_closed(&cli));
	cr_assert_eq(cli.fin_seq, 13);
	/* FIN retransmitted: fine; the ACK of FIN is within bounds. */
	cr_assert_eq(seg(&cli, A | STREAM_TCP_FIN, 13, 1, NULL, 0),
		     STREAM_NODATA);
	cr_assert_eq(seg(&srv, A | STREAM_TCP_FIN, 1, 14, NULL, 0),
		     STREAM_NODATA);
	cr_assert_eq(cli.buf, STREAM_NO_BUF);
	cr_assert_eq(seg(&cli, P, 13, 2, b, 12), STREAM_AFTER_CLOSE);
	cr_assert_eq(seen.pdus, 1);
}

Test(stream, fin_with_partial_pdu_pending)
{
	uint8_t b[12];

	rhr(b, 5);
	handshake(0, 0);
	cr_assert_eq(seg(&cli, P | STREAM_TCP_FIN, 1, 1, b, 9), STREAM_OK);
	cr_assert_eq(seen.pdus, 0);
	cr_assert(stream_closed(&cli));
	cr_assert_eq(stream_pending(&cli), 9, "a truncated last PDU");
}

/* CR 3.5 */
Test(stream, data_after_rst)
{
	uint8_t b[12];

	rhr(b, 5);
	handshake(0, 0);
	cr_assert_eq(seg(&cli, STREAM_TCP_RST, 1, 0, NULL, 0), STREAM_NODATA);
	cr_assert(stream_closed(&cli));
	cr_assert_eq(seg(&cli, P, 1, 1, b, 12), STREAM_AFTER_CLOSE);
	cr_assert_eq(seen.pdus, 0);
}

/* CR 3.5 */
Test(stream, syn_with_other_isn)
{
	handshake(100, 200);
	cr_assert_eq(seg(&cli, STREAM_TCP_SYN, 100, 0, NULL, 0), STREAM_NODATA,
		     "retransmitted SYN");
	cr_assert_eq(seg(&cli, STREAM_TCP_SYN, 999, 0, NULL, 0),
		     STREAM_OVERLAP_MISMATCH);
}

Test(stream, consumer_error_aborts)
{
	uint8_t b[12];

	rhr(b, 5);
	handshake(0, 0);
	seen.fail = 1;
	cr_assert_eq(seg(&cli, P, 1, 1, b, 12), STREAM_ABORTED);
	cr_assert(cli.flags & STREAM_F_BROKEN);
	cr_assert_eq(seg(&cli, P, 13, 1, b, 12), STREAM_BROKEN);
}

Test(stream, bad_mbap_aborts)
{
	uint8_t b[12];

	rhr(b, 5);
	b[2] = 1; /* protocol id 1: framing lost */
	handshake(0, 0);
	cr_assert_eq(seg(&cli, P, 1, 1, b, 12), STREAM_ABORTED);
}

/* CR 7.1 */
Test(stream, pool_exhausted)
{
	struct stream other[8];
	uint8_t b[12];

	rhr(b, 1);
	stream_init(&other[7]);
	/* Six directions with a partial PDU hold all six buffers. */
	for (int i = 0; i < 6; i++) {
		struct stream_seg g = {
			.seq = 1, .flags = P, .data = b, .len = 5
		};

		stream_init(&other[i]);
		cr_assert_eq(stream_segment(pool, &other[i], &other[7], &g,
					    modbus_cb, NULL),
			     STREAM_OK);
	}
	cr_assert_eq(in_use(), 6);
	/* A whole PDU is parsed straight from the packet... */
	cr_assert_eq(seg(&cli, P, 1, 0, b, 12), STREAM_OK);
	cr_assert_eq(seen.pdus, 1);
	/* ... a partial one needs a buffer: resource exception. */
	cr_assert_eq(seg(&cli, P, 13, 0, b, 5), STREAM_NOBUF);
	for (int i = 0; i < 6; i++)
		stream_release(pool, &other[i]);
	cr_assert_eq(in_use(), 0);
}

Test(stream, jumbo_segment_parsed_in_place)
{
	static uint8_t b[12 * 200];

	for (int i = 0; i < 200; i++)
		rhr(b + 12 * i, (uint16_t)i);
	handshake(0, 0);
	/* 2400 bytes > the largest buffer (1024), all complete ADUs. */
	cr_assert_eq(seg(&cli, P, 1, 1, b, sizeof(b)), STREAM_OK);
	cr_assert_eq(seen.pdus, 200);
	cr_assert_eq(cli.next_seq, 1 + sizeof(b));
	cr_assert_eq(in_use(), 0);
}

Test(stream, status_names)
{
	cr_assert_str_eq(stream_status_str(STREAM_OVERLAP_MISMATCH),
			 "overlap-mismatch");
	cr_assert_str_eq(stream_status_str(STREAM_GAP), "gap");
	cr_assert_str_eq(stream_status_str((enum stream_status)99), "unknown");
	cr_assert(stream_status_is_anomaly(STREAM_NOBUF));
	cr_assert_not(stream_status_is_anomaly(STREAM_HELD));
}

Test(stream_conf, bad)
{
	struct stream_conf c = { .small_bufs = 1,
				 .small_size = 64,
				 .large_bufs = 1,
				 .large_size = 70000 };

	cr_assert_null(stream_pool_alloc(&c));
	c.large_size = 32;
	cr_assert_null(stream_pool_alloc(&c));
	stream_pool_free(NULL);
}

/* CR 3.5 */
Test(stream, pipelined_unacked_bytes_kept_for_comparison)
{
	uint8_t b[12 * 8];

	for (int i = 0; i < 8; i++)
		rhr(b + 12 * i, (uint16_t)i);
	handshake(0, 0);
	/* 96 unacknowledged bytes: more than a small buffer. */
	for (uint32_t i = 0; i < 8; i++)
		cr_assert_eq(seg(&cli, P, 1 + 12 * i, 1, b + 12 * i, 12),
			     STREAM_OK);
	cr_assert_eq(seen.pdus, 8);
	cr_assert(cli.buf != STREAM_NO_BUF);
	cr_assert_eq(stream_base_seq(&cli), 1,
		     "nothing dropped: moved to a large buffer");
	cr_assert_eq(seg(&cli, P, 1, 1, b, 12), STREAM_DUP);
	/* Acknowledged bytes make room first. */
	cr_assert_eq(seg(&srv, A, 1, 49, NULL, 0), STREAM_NODATA);
	cr_assert_eq(seg(&cli, P, 1, 1, b, 12), STREAM_DUP,
		     "acked: receiver drops it");
}

/* CR 3.5 */
Test(stream, retransmission_of_dropped_unacked_bytes_is_unverifiable)
{
	struct stream other[3];
	uint8_t b[12 * 8];

	for (int i = 0; i < 8; i++)
		rhr(b + 12 * i, (uint16_t)i);
	/* Hold both large buffers elsewhere. */
	for (int i = 0; i < 3; i++)
		stream_init(&other[i]);
	for (int i = 0; i < 2; i++) {
		struct stream_seg g = {
			.seq = 1, .flags = P, .data = b, .len = 90
		};

		seen.need_forever = 1;
		cr_assert_eq(stream_segment(pool, &other[i], &other[2], &g,
					    modbus_cb, NULL),
			     STREAM_OK);
		seen.need_forever = 0;
	}
	handshake(0, 0);
	for (uint32_t i = 0; i < 8; i++)
		cr_assert_eq(seg(&cli, P, 1 + 12 * i, 1, b + 12 * i, 12),
			     STREAM_OK);
	cr_assert_eq(seen.pdus, 8);
	cr_assert_neq(stream_base_seq(&cli), 1,
		      "room made by dropping unacked bytes");
	cr_assert_eq(seg(&cli, P, 1, 1, b, 12), STREAM_UNVERIFIABLE);
	for (int i = 0; i < 2; i++)
		stream_release(pool, &other[i]);
}
