/*
 * The engine over small built streams: a PDU split across segments, several
 * PDUs in one segment, direction by well-known port, framing loss reported
 * once, COTP TSDU reassembly, DNP3 over UDP, the classifier hook.
 */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>

#include "dpi/engine.h"

#define MAX_REC 32

struct rec {
	uint64_t tag;
	enum engine_proto proto;
	enum dpi_dir dir;
	const char *error;
	bool broken;
	enum engine_class_how how;
	int function; /* modbus function / s7 function / dnp3 func */
	uint16_t tid;
};

static struct rec recs[MAX_REC];
static int n_rec;
static struct engine *e;
static uint32_t seq[2];

static enum engine_verdict on_pdu(const struct engine_pdu *pdu, void *fuser,
				  void *arg)
{
	(void)fuser;
	struct rec *r = &recs[n_rec < MAX_REC ? n_rec : MAX_REC - 1];

	(void)arg;
	n_rec++;
	memset(r, 0, sizeof(*r));
	r->tag = pdu->tag;
	r->proto = pdu->proto;
	r->dir = pdu->dir;
	r->error = pdu->error;
	r->broken = pdu->broken;
	r->how = pdu->how;
	r->function = -1;
	if (pdu->proto == ENGINE_PROTO_MODBUS && pdu->u.modbus) {
		r->function = pdu->u.modbus->function;
		r->tid = pdu->u.modbus->transaction_id;
	} else if (pdu->proto == ENGINE_PROTO_S7COMM && pdu->u.s7comm &&
		   pdu->u.s7comm->has_function) {
		r->function = pdu->u.s7comm->function;
	} else if (pdu->proto == ENGINE_PROTO_DNP3 && pdu->u.dnp3.app) {
		r->function = pdu->u.dnp3.app->func;
	}
	return ENGINE_ALLOW;
}

static void setup(void)
{
	e = engine_alloc(NULL);
	cr_assert_not_null(e);
	engine_set_pdu_cb(e, on_pdu, NULL);
	n_rec = 0;
	seq[0] = 1000;
	seq[1] = 5000;
}

static void teardown(void)
{
	engine_free(e);
}

/* One TCP segment client (10.0.0.1:40000) <-> server (10.0.0.2:port). */
static void tcp(int to_server, uint16_t port, uint8_t flags, const uint8_t *d,
		size_t n, uint64_t tag)
{
	struct pkt p;
	int s = to_server ? 0 : 1;

	memset(&p, 0, sizeof(p));
	p.ip_version = 4;
	p.l4proto = IPPROTO_TCP;
	p.src.family = p.dst.family = 4;
	p.src.a[0] = p.dst.a[0] = 10;
	p.src.a[3] = to_server ? 1 : 2;
	p.dst.a[3] = to_server ? 2 : 1;
	p.sport = to_server ? 40000 : port;
	p.dport = to_server ? port : 40000;
	p.seq = seq[s];
	p.ack = seq[!s];
	p.tcp_flags = flags |
		      (flags & PKT_TCP_SYN && to_server ? 0 : PKT_TCP_ACK);
	p.payload = d;
	p.payload_len = n;
	seq[s] += (uint32_t)n + ((flags & (PKT_TCP_SYN | PKT_TCP_FIN)) ? 1 : 0);
	cr_assert_eq(engine_process(e, &p, tag * 1000, tag), 0);
}

static void handshake(uint16_t port)
{
	tcp(1, port, PKT_TCP_SYN, NULL, 0, 1);
	tcp(0, port, PKT_TCP_SYN, NULL, 0, 2);
	tcp(1, port, 0, NULL, 0, 3);
}

static const uint8_t mb_req[] = { 0x00, 0x01, 0x00, 0x00, 0x00, 0x06,
				  0x01, 0x03, 0x00, 0x00, 0x00, 0x0a };

/* CR 3.5 */
Test(engine, modbus_split_mbap_header, .init = setup, .fini = teardown)
{
	handshake(502);
	tcp(1, 502, PKT_TCP_PSH, mb_req, 4, 4);
	cr_assert_eq(n_rec, 0);
	tcp(1, 502, PKT_TCP_PSH, mb_req + 4, sizeof(mb_req) - 4, 5);
	cr_assert_eq(n_rec, 1);
	cr_assert_eq(recs[0].tag, 5); /* the frame that completes it */
	cr_assert_eq(recs[0].proto, ENGINE_PROTO_MODBUS);
	cr_assert_eq(recs[0].dir, DPI_DIR_REQUEST);
	cr_assert_eq(recs[0].how, ENGINE_CLASS_PORT);
	cr_assert_eq(recs[0].function, 3);
	cr_assert_null(recs[0].error);
}

/* CR 3.5 */
Test(engine, modbus_four_adus_in_one_segment, .init = setup, .fini = teardown)
{
	uint8_t d[4 * sizeof(mb_req)];

	for (int i = 0; i < 4; i++) {
		memcpy(d + i * sizeof(mb_req), mb_req, sizeof(mb_req));
		d[i * sizeof(mb_req) + 1] = (uint8_t)(i + 1);
	}
	handshake(502);
	tcp(1, 502, PKT_TCP_PSH, d, sizeof(d), 4);
	cr_assert_eq(n_rec, 4);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(recs[i].tag, 4);
		cr_assert_eq(recs[i].tid, i + 1);
	}
	/* the response travels the other way */
	{
		static const uint8_t rsp[] = { 0x00, 0x01, 0x00, 0x00,
					       0x00, 0x05, 0x01, 0x03,
					       0x02, 0x00, 0x2a };

		tcp(0, 502, PKT_TCP_PSH, rsp, sizeof(rsp), 5);
		cr_assert_eq(n_rec, 5);
		cr_assert_eq(recs[4].dir, DPI_DIR_RESPONSE);
	}
}

/* NDR 5.2 */
Test(engine, modbus_framing_lost_reported_once, .init = setup, .fini = teardown)
{
	static const uint8_t bad[] = { 0x00, 0x01, 0x00, 0x07, 0x00, 0x06,
				       0x01, 0x03, 0x00, 0x00, 0x00, 0x0a };
	const struct engine_stats *st;

	handshake(502);
	tcp(1, 502, PKT_TCP_PSH, bad, sizeof(bad), 4);
	tcp(1, 502, PKT_TCP_PSH, mb_req, sizeof(mb_req), 5);
	tcp(1, 502, PKT_TCP_PSH, mb_req, sizeof(mb_req), 6);
	cr_assert_eq(n_rec, 1);
	cr_assert(recs[0].broken);
	cr_assert_str_eq(recs[0].error, "MBAP protocol id is not 0");
	st = engine_get_stats(e);
	cr_assert_eq(st->broken[ENGINE_PROTO_MODBUS], 1);
	cr_assert_eq(st->errors[ENGINE_PROTO_MODBUS], 1);
}

/* NDR 5.2 */
Test(engine, modbus_bad_pdu_skipped, .init = setup, .fini = teardown)
{
	/* FC 3 with quantity 0: framed, so skipped and the stream goes on */
	static const uint8_t q0[] = { 0x00, 0x09, 0x00, 0x00, 0x00, 0x06,
				      0x01, 0x03, 0x00, 0x00, 0x00, 0x00 };
	uint8_t d[sizeof(q0) + sizeof(mb_req)];

	memcpy(d, q0, sizeof(q0));
	memcpy(d + sizeof(q0), mb_req, sizeof(mb_req));
	handshake(502);
	tcp(1, 502, PKT_TCP_PSH, d, sizeof(d), 4);
	cr_assert_eq(n_rec, 2);
	cr_assert_not_null(recs[0].error);
	cr_assert(!recs[0].broken);
	cr_assert_null(recs[1].error);
}

/* CR 3.5 */
Test(engine, s7comm_tsdu_over_two_dt, .init = setup, .fini = teardown)
{
	/* S7 job "setup communication" split 10 + 8 bytes over two DTs */
	static const uint8_t s7[] = { 0x32, 0x01, 0x00, 0x00, 0x00, 0x01,
				      0x00, 0x08, 0x00, 0x00, 0xf0, 0x00,
				      0x00, 0x01, 0x00, 0x01, 0x03, 0xc0 };
	uint8_t a[7 + 10], b[7 + 8];

	memcpy(a,
	       (const uint8_t[]){ 0x03, 0x00, 0x00, sizeof(a), 0x02, 0xf0,
				  0x00 },
	       7);
	memcpy(a + 7, s7, 10);
	memcpy(b,
	       (const uint8_t[]){ 0x03, 0x00, 0x00, sizeof(b), 0x02, 0xf0,
				  0x80 },
	       7);
	memcpy(b + 7, s7 + 10, 8);
	handshake(102);
	tcp(1, 102, PKT_TCP_PSH, a, sizeof(a), 4);
	cr_assert_eq(n_rec, 0);
	tcp(1, 102, PKT_TCP_PSH, b, sizeof(b), 5);
	cr_assert_eq(n_rec, 1);
	cr_assert_eq(recs[0].tag, 5);
	cr_assert_null(recs[0].error, "%s", recs[0].error);
	cr_assert_eq(recs[0].function, 0xf0);
}

/* CR 3.5 */
Test(engine, dnp3_over_udp, .init = setup, .fini = teardown)
{
	/* read class 0: link frame with user data th=0xc0 ac=0xc1 fc=1 g60v1 */
	static const uint8_t f[] = { 0x05, 0x64, 0x0b, 0xc4, 0x0a, 0x00,
				     0x01, 0x00, 0x00, 0x00, 0xc0, 0xc1,
				     0x01, 0x3c, 0x01, 0x06, 0x00, 0x00 };
	uint8_t d[sizeof(f)];
	struct pkt p;
	uint16_t crc;

	memcpy(d, f, sizeof(f));
	crc = dnp3_crc(d, 8);
	d[8] = crc & 0xff;
	d[9] = crc >> 8;
	crc = dnp3_crc(d + 10, 6);
	d[16] = crc & 0xff;
	d[17] = crc >> 8;
	memset(&p, 0, sizeof(p));
	p.ip_version = 4;
	p.l4proto = IPPROTO_UDP;
	p.src.family = p.dst.family = 4;
	p.src.a[3] = 1;
	p.dst.a[3] = 2;
	p.sport = 30000;
	p.dport = 20000;
	p.payload = d;
	p.payload_len = sizeof(d);
	cr_assert_eq(engine_process(e, &p, 1000, 7), 0);
	cr_assert_eq(n_rec, 1);
	cr_assert_null(recs[0].error, "%s", recs[0].error);
	cr_assert_eq(recs[0].proto, ENGINE_PROTO_DNP3);
	cr_assert_eq(recs[0].function, 1);
	/* a datagram cut short: an error, and the next datagram still parses */
	p.payload_len = sizeof(d) - 3;
	engine_process(e, &p, 2000, 8);
	cr_assert_eq(n_rec, 2);
	cr_assert_not_null(recs[1].error);
	p.payload_len = sizeof(d);
	engine_process(e, &p, 3000, 9);
	cr_assert_eq(n_rec, 3);
	cr_assert_null(recs[2].error);
}

/* CR 3.5 */
Test(engine, unknown_port_is_not_parsed, .init = setup, .fini = teardown)
{
	handshake(8080);
	tcp(1, 8080, PKT_TCP_PSH, mb_req, sizeof(mb_req), 4);
	cr_assert_eq(n_rec, 0);
	cr_assert_gt(engine_get_stats(e)->unclassified, 0);
}

static enum engine_class_result dpi_says_modbus(void *ctx, const struct pkt *p,
						void *fuser,
						struct engine_class *out)
{
	(void)fuser;
	int *calls = ctx;

	(*calls)++;
	if (p->payload_len == 0)
		return ENGINE_CLASS_MORE; /* wait for data, like nDPI */
	out->proto = ENGINE_PROTO_MODBUS;
	out->how = ENGINE_CLASS_DPI;
	out->server_is_dst = p->dport == 5020;
	return ENGINE_CLASS_DONE;
}

/* CR 3.5 */
Test(engine, classifier_hook, .init = setup, .fini = teardown)
{
	int calls = 0;

	engine_set_classifier(e, dpi_says_modbus, &calls);
	handshake(5020);
	tcp(1, 5020, PKT_TCP_PSH, mb_req, sizeof(mb_req), 4);
	cr_assert_eq(n_rec, 1);
	cr_assert_eq(recs[0].how, ENGINE_CLASS_DPI);
	cr_assert_eq(recs[0].dir, DPI_DIR_REQUEST);
	tcp(1, 5020, PKT_TCP_PSH, mb_req, sizeof(mb_req), 5);
	cr_assert_eq(n_rec, 2);
	cr_assert_eq(calls, 4); /* not asked once decided */
}

/* NDR 5.2 */
Test(engine, retransmission_with_other_bytes, .init = setup, .fini = teardown)
{
	uint8_t other[sizeof(mb_req)];

	memcpy(other, mb_req, sizeof(other));
	other[7] = 0x10;
	handshake(502);
	tcp(1, 502, PKT_TCP_PSH, mb_req, sizeof(mb_req), 4);
	seq[0] -= sizeof(mb_req);
	tcp(1, 502, PKT_TCP_PSH, other, sizeof(other), 5);
	cr_assert_eq(n_rec, 2);
	cr_assert(recs[1].broken);
	cr_assert_str_eq(recs[1].error, "overlap-mismatch");
}

/* A DNP3 link frame (primary unconfirmed user data) carrying one transport
 * segment: th, then the application bytes; CRCs filled in. */
static size_t dnp3_frame(uint8_t *out, uint8_t th, const uint8_t *app, size_t n)
{
	uint8_t user[16];
	size_t o = 0;
	uint16_t crc;

	cr_assert_leq(n, 15);
	user[0] = th;
	memcpy(user + 1, app, n);
	out[o++] = 0x05;
	out[o++] = 0x64;
	out[o++] = (uint8_t)(5 + 1 + n);
	out[o++] = 0xc4;
	out[o++] = 0x0a; /* dst 10 */
	out[o++] = 0x00;
	out[o++] = 0x01; /* src 1 */
	out[o++] = 0x00;
	crc = dnp3_crc(out, 8);
	out[o++] = crc & 0xff;
	out[o++] = crc >> 8;
	memcpy(out + o, user, n + 1);
	crc = dnp3_crc(user, n + 1);
	o += n + 1;
	out[o++] = crc & 0xff;
	out[o++] = crc >> 8;
	return o;
}

/* One UDP datagram 10.0.0.1:sport -> 10.0.0.2:20000. */
static void dnp3_udp(uint16_t sport, const uint8_t *d, size_t n, uint64_t tag)
{
	struct pkt p;

	memset(&p, 0, sizeof(p));
	p.ip_version = 4;
	p.l4proto = IPPROTO_UDP;
	p.src.family = p.dst.family = 4;
	p.src.a[0] = p.dst.a[0] = 10;
	p.src.a[3] = 1;
	p.dst.a[3] = 2;
	p.sport = sport;
	p.dport = 20000;
	p.payload = d;
	p.payload_len = n;
	cr_assert_eq(engine_process(e, &p, tag * 1000, tag), 0);
}

static const uint8_t dnp3_read[] = { 0xc1, 0x01, 0x3c, 0x01, 0x06 };

/* CR 7.1 */
Test(engine, dnp3_single_fragment_messages_need_no_slot)
{
	struct engine_conf c = { .max_dnp3 = 1, .max_flows = 4096 };
	uint8_t d[32];
	size_t n = dnp3_frame(d, 0xc0, dnp3_read, sizeof(dnp3_read));

	e = engine_alloc(&c);
	cr_assert_not_null(e);
	engine_set_pdu_cb(e, on_pdu, NULL);
	/* 1000 one-datagram flows, a pool of one slot: none is refused */
	for (uint16_t i = 0; i < 1000; i++) {
		n_rec = 0;
		dnp3_udp((uint16_t)(30000 + i), d, n, i + 1);
		cr_assert_eq(n_rec, 1);
		cr_assert_null(recs[0].error, "flow %u: %s", i, recs[0].error);
		cr_assert_eq(recs[0].function, 1);
	}
	cr_assert_eq(engine_get_stats(e)->state_pool_full, 0);
	engine_free(e);
}

/* CR 7.1 */
Test(engine, dnp3_slot_held_only_while_a_fragment_is_in_progress)
{
	struct engine_conf c = { .max_dnp3 = 1 };
	uint8_t fir[32], fin[32];
	size_t nfir = dnp3_frame(fir, 0x40, dnp3_read, 2);     /* FIR, seq 0 */
	size_t nfin = dnp3_frame(fin, 0x81, dnp3_read + 2, 3); /* FIN, seq 1 */

	e = engine_alloc(&c);
	cr_assert_not_null(e);
	engine_set_pdu_cb(e, on_pdu, NULL);
	n_rec = 0;
	dnp3_udp(30001, fir, nfir, 1); /* flow A starts a fragment */
	cr_assert_eq(n_rec, 0);
	dnp3_udp(30002, fir, nfir, 2); /* flow B: the only slot is A's */
	cr_assert_eq(n_rec, 1);
	cr_assert(recs[0].broken);
	cr_assert_str_eq(recs[0].error, "dnp3: transport state pool exhausted");
	cr_assert_eq(engine_get_stats(e)->state_pool_full, 1);
	dnp3_udp(30001, fin, nfin, 3); /* A's fragment completes */
	cr_assert_eq(n_rec, 2);
	cr_assert_null(recs[1].error, "%s", recs[1].error);
	cr_assert_eq(recs[1].function, 1);
	dnp3_udp(30002, fir, nfir, 4); /* the slot came back: B gets it */
	dnp3_udp(30002, fin, nfin, 5);
	cr_assert_eq(n_rec, 3);
	cr_assert_null(recs[2].error, "%s", recs[2].error);
	cr_assert_eq(recs[2].function, 1);
	/* a continuation without its first segment, no slot: an error */
	dnp3_udp(30003, fin, nfin, 6);
	cr_assert_eq(n_rec, 4);
	cr_assert_str_eq(recs[3].error, "dnp3: transport segment without FIR");
	cr_assert_eq(engine_get_stats(e)->state_pool_full, 1);
	engine_free(e);
}
