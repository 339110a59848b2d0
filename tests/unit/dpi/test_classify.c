/*
 * nDPI glue: identification of real captures (../shared/pcaps, or
 * $PCAPS_DIR) flow by flow, non-Modbus traffic on TCP/502 not reported as
 * Modbus, a built flow with random payload never port-guessed, pool
 * exhaustion and slot reuse, category and protocol names against nDPI's.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ndpi/ndpi_api.h>

#include "dpi/classify.h"
#include "dpi/pkt.h"
#include "dpi/replay.h"

#define MAX_FLOWS 64

/* One flow of a capture, keyed by its 5-tuple in either direction. */
struct tflow {
	uint8_t l4;
	struct pkt_addr a, b; /* a: sender of the first packet */
	uint16_t pa, pb;
	uint32_t slot;
	uint8_t seen;
	bool finished;
	enum classify_status st;
	struct classify_result r;
	unsigned packets, payload_packets;
};

static struct tflow flows[MAX_FLOWS];
static int n_flows;
static struct classify *c;

static void setup(void)
{
	c = classify_alloc(0);
	cr_assert_not_null(c, "classify_alloc: %s", strerror(errno));
	memset(flows, 0, sizeof(flows));
	n_flows = 0;
}

static void teardown(void)
{
	classify_free(c);
}

static bool same_addr(const struct pkt_addr *x, const struct pkt_addr *y)
{
	return x->family == y->family && memcmp(x->a, y->a, 16) == 0;
}

static struct tflow *flow_of(const struct pkt *p)
{
	struct tflow *f;
	int i;

	for (i = 0; i < n_flows; i++) {
		f = &flows[i];
		if (f->l4 != p->l4proto)
			continue;
		if (same_addr(&f->a, &p->src) && same_addr(&f->b, &p->dst) &&
		    f->pa == p->sport && f->pb == p->dport)
			return f;
		if (same_addr(&f->a, &p->dst) && same_addr(&f->b, &p->src) &&
		    f->pa == p->dport && f->pb == p->sport)
			return f;
	}
	cr_assert_lt(n_flows, MAX_FLOWS, "more than %d flows", MAX_FLOWS);
	f = &flows[n_flows++];
	f->l4 = p->l4proto;
	f->a = p->src;
	f->b = p->dst;
	f->pa = p->sport;
	f->pb = p->dport;
	f->slot = CLASSIFY_NO_SLOT;
	return f;
}

static void feed(struct tflow *f, const struct pkt *p, uint64_t now_us)
{
	f->packets++;
	if (p->payload_len > 0)
		f->payload_packets++;
	if (f->finished)
		return;
	f->st = classify_packet(c, &f->slot, &f->seen, p, now_us, &f->r);
	if (f->st != CLASSIFY_MORE) {
		f->finished = true;
		cr_assert_eq(f->slot, CLASSIFY_NO_SLOT,
			     "slot kept after status %d", f->st);
	} else {
		cr_assert_neq(f->slot, CLASSIFY_NO_SLOT);
	}
}

static const char *pcap_dir(void)
{
	const char *d = getenv("PCAPS_DIR");
	static char buf[4096];
	struct stat st;

	if (d == NULL || *d == '\0') {
		snprintf(buf, sizeof(buf), "%s/../shared/pcaps", TEST_SRCDIR);
		d = buf;
	}
	if (stat(d, &st) != 0)
		cr_skip_test("capture directory %s not found", d);
	return d;
}

/* Every TCP/UDP packet of the capture through the flows' classifiers. */
static void run_capture(const char *rel)
{
	char path[4200], err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	pcap_t *pc;
	int dlt, i;

	snprintf(path, sizeof(path), "%s/%s", pcap_dir(), rel);
	pc = pcap_open_offline(path, err);
	cr_assert_not_null(pc, "%s: %s", path, err);
	dlt = pcap_datalink(pc);
	cr_assert(replay_link_supported(dlt), "%s: link type %d", rel, dlt);
	while (pcap_next_ex(pc, &h, &data) == 1) {
		struct pkt p;

		memset(&p, 0, sizeof(p));
		if (replay_link_decode(dlt, data, h->caplen, &p) != 0)
			continue;
		if (p.fragment ||
		    (p.l4proto != IPPROTO_TCP && p.l4proto != IPPROTO_UDP))
			continue;
		feed(flow_of(&p), &p,
		     (uint64_t)h->ts.tv_sec * 1000000 +
			     (uint64_t)h->ts.tv_usec);
	}
	pcap_close(pc);
	/* flows still being identified give their slot back */
	for (i = 0; i < n_flows; i++)
		classify_release(c, &flows[i].slot);
}

static struct tflow *flow_by_port(uint16_t port)
{
	int i;

	for (i = 0; i < n_flows; i++)
		if (flows[i].pa == port || flows[i].pb == port)
			return &flows[i];
	cr_assert_fail("no flow with port %u", port);
	return NULL;
}

/*
 * Every flow that carried payload identified as `name` with our parser
 * `proto` and nDPI's category `cat`, within the packet budget; returns how
 * many.
 */
static int expect_all(const char *rel, const char *name,
		      enum engine_proto proto, const char *cat)
{
	int i, n = 0;

	for (i = 0; i < n_flows; i++) {
		struct tflow *f = &flows[i];

		if (f->payload_packets == 0)
			continue;
		cr_expect_eq(f->st, CLASSIFY_DONE,
			     "%s: flow %u<->%u status %d after %u packets", rel,
			     f->pa, f->pb, f->st, f->seen);
		if (f->st != CLASSIFY_DONE)
			continue;
		cr_expect_str_eq(f->r.name, name, "%s: flow %u<->%u", rel,
				 f->pa, f->pb);
		cr_expect_eq(f->r.proto, proto, "%s: flow %u<->%u proto %d",
			     rel, f->pa, f->pb, f->r.proto);
		cr_expect(classify_result_is(c, &f->r, name));
		cr_expect_eq(f->r.category, classify_category_id(cat),
			     "%s: category %s", rel,
			     classify_category_name(f->r.category));
		cr_expect_leq(f->seen, CLASSIFY_MAX_PACKETS);
		n++;
	}
	return n;
}

/* NDR 5.3 */
Test(classify, modbus_capture_identified, .init = setup, .fini = teardown)
{
	const char *rel = "modbus/iti__ModbusTCP.pcap";

	run_capture(rel);
	/* 14 TCP flows to port 502, all of them Modbus (tshark: 11881) */
	cr_assert_eq(n_flows, 14);
	cr_assert_eq(expect_all(rel, "Modbus", ENGINE_PROTO_MODBUS,
				"iot-scada"),
		     14);
	cr_expect_eq(classify_get_stats(c)->done, 14);
	cr_expect_eq(classify_get_stats(c)->unknown, 0);
}

/* NDR 5.3 */
Test(classify, dnp3_capture_identified, .init = setup, .fini = teardown)
{
	const char *rel = "dnp3/ndpi__dnp3.pcap";

	run_capture(rel);
	cr_assert_eq(expect_all(rel, "DNP3", ENGINE_PROTO_DNP3, "iot-scada"),
		     8);
}

/* NDR 5.3 */
Test(classify, iec104_capture_identified, .init = setup, .fini = teardown)
{
	const char *rel = "iec104/ndpi__iec60780-5-104.pcap";

	run_capture(rel);
	cr_assert_eq(expect_all(rel, "IEC60870", ENGINE_PROTO_IEC104,
				"iot-scada"),
		     6);
}

/* NDR 5.3 */
Test(classify, s7comm_captures_identified, .init = setup, .fini = teardown)
{
	run_capture("s7comm/iti__s7comm_clean.pcap");
	cr_assert_eq(expect_all("iti__s7comm_clean", "s7comm",
				ENGINE_PROTO_S7COMM, "network"),
		     1);
	/* S7comm-plus: nDPI 4.2 names it s7comm as well */
	memset(flows, 0, sizeof(flows));
	n_flows = 0;
	run_capture("s7comm/ndpi__s7comm-plus.pcap");
	cr_assert_eq(expect_all("ndpi__s7comm-plus", "s7comm",
				ENGINE_PROTO_S7COMM, "network"),
		     1);
}

/*
 * nDPI 4.2 does not register its EtherNet/IP dissector and has no DNP3/UDP
 * one: ndpiReader reports these captures by port guess only. Here they
 * stay UNKNOWN (within the budget) and nothing is reported by port.
 */
/* NDR 5.2 */
Test(classify, port_only_protocols_stay_unknown, .init = setup,
     .fini = teardown)
{
	static const char *const rel[] = { "enip/ndpi__ethernetIP.pcap",
					   "dnp3/zeek__dnp3_udp_read.pcap" };
	size_t k;
	int i;

	for (k = 0; k < sizeof(rel) / sizeof(rel[0]); k++) {
		memset(flows, 0, sizeof(flows));
		n_flows = 0;
		run_capture(rel[k]);
		cr_assert_gt(n_flows, 0);
		for (i = 0; i < n_flows; i++) {
			struct tflow *f = &flows[i];

			cr_expect_neq(f->st, CLASSIFY_DONE,
				      "%s: flow %u<->%u reported as %s", rel[k],
				      f->pa, f->pb, f->r.name);
			cr_expect_eq(f->r.proto, ENGINE_PROTO_NONE);
			if (f->packets >= CLASSIFY_MAX_PACKETS)
				cr_expect_eq(f->st, CLASSIFY_UNKNOWN);
		}
	}
	cr_expect_eq(classify_get_stats(c)->done, 0);
}

/*
 * HTTP, TLS, RDP, NFS, DCE-RPC and an unknown protocol on TCP/502 next to
 * one real Modbus flow: only that one is Modbus. Without the fix-up nDPI
 * 4.2 reports the HTTP flow as "Modbus.HTTP" (the port guess as master).
 */
/* NDR 5.2 */
Test(classify, non_modbus_on_port_502, .init = setup, .fini = teardown)
{
	static const struct {
		uint16_t client_port;
		const char *name;
	} want[] = {
		{ 3082, "Modbus" }, { 38129, "DCE_RPC" }, { 60175, "NFS" },
		{ 58380, "TLS" },   { 60293, "HTTP" },	  { 7488, "RDP" },
	};
	struct tflow *f;
	size_t k;
	int i, modbus = 0;

	run_capture("modbus/zeek__modbus-and-non-modbus-p502.pcap");
	cr_assert_eq(n_flows, 7);
	for (i = 0; i < n_flows; i++) {
		f = &flows[i];
		cr_expect(f->pa == 502 || f->pb == 502);
		if (classify_result_is(c, &f->r, "modbus") ||
		    f->r.proto == ENGINE_PROTO_MODBUS)
			modbus++;
	}
	cr_expect_eq(modbus, 1);
	for (k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
		f = flow_by_port(want[k].client_port);
		cr_expect_eq(f->st, CLASSIFY_DONE, "port %u: status %d",
			     want[k].client_port, f->st);
		cr_expect_str_eq(f->r.name, want[k].name, "port %u",
				 want[k].client_port);
		cr_expect(classify_result_is(c, &f->r, want[k].name));
		cr_expect_eq(f->r.proto, strcmp(want[k].name, "Modbus") == 0 ?
						 ENGINE_PROTO_MODBUS :
						 ENGINE_PROTO_NONE);
	}
	f = flow_by_port(60293);
	cr_expect_eq(f->r.master, 0);
	cr_expect_eq(f->r.app, NDPI_PROTOCOL_HTTP);
	cr_expect(!classify_result_is(c, &f->r, "modbus"));
	cr_expect_eq(f->r.category, classify_category_id("web"));
	f = flow_by_port(7488);
	cr_expect_eq(f->r.category, classify_category_id("remote-access"));
	/* nDPI finds nothing in the last one (it has 10 packets only) */
	f = flow_by_port(33752);
	cr_expect_neq(f->st, CLASSIFY_DONE);
	cr_expect_eq(f->r.app, 0);
}

/* --- built flows ---------------------------------------------------------- */

/* IPv4/TCP packet 10.0.0.<cli>:<cport> <-> 10.0.0.2:<sport> into buf. */
static size_t build_tcp(uint8_t *buf, bool to_server, uint8_t cli,
			uint16_t cport, uint16_t sport, uint8_t flags,
			uint32_t seq, uint32_t ack, const uint8_t *payload,
			size_t plen)
{
	size_t len = 40 + plen;
	uint8_t *ip = buf, *tcp = buf + 20;
	uint8_t a = to_server ? cli : 2, b = to_server ? 2 : cli;
	uint16_t sp = to_server ? cport : sport, dp = to_server ? sport : cport;

	memset(buf, 0, 40);
	ip[0] = 0x45;
	ip[2] = (uint8_t)(len >> 8);
	ip[3] = (uint8_t)len;
	ip[8] = 64;
	ip[9] = IPPROTO_TCP;
	ip[12] = 10, ip[15] = a;
	ip[16] = 10, ip[19] = b;
	tcp[0] = (uint8_t)(sp >> 8), tcp[1] = (uint8_t)sp;
	tcp[2] = (uint8_t)(dp >> 8), tcp[3] = (uint8_t)dp;
	tcp[4] = (uint8_t)(seq >> 24), tcp[5] = (uint8_t)(seq >> 16);
	tcp[6] = (uint8_t)(seq >> 8), tcp[7] = (uint8_t)seq;
	tcp[8] = (uint8_t)(ack >> 24), tcp[9] = (uint8_t)(ack >> 16);
	tcp[10] = (uint8_t)(ack >> 8), tcp[11] = (uint8_t)ack;
	tcp[12] = 5 << 4;
	tcp[13] = flags;
	tcp[14] = 0xff, tcp[15] = 0xff;
	if (plen > 0)
		memcpy(buf + 40, payload, plen);
	return len;
}

/* A TCP connection built packet by packet, fed to one slot. */
struct tconn {
	uint8_t cli;
	uint16_t cport, sport;
	uint32_t cseq, sseq;
	uint32_t slot;
	uint8_t seen;
	uint64_t now_us;
	uint8_t buf[1600];
	struct classify_result r;
};

static void tconn_init(struct tconn *t, uint8_t cli, uint16_t cport,
		       uint16_t sport)
{
	memset(t, 0, sizeof(*t));
	t->cli = cli;
	t->cport = cport;
	t->sport = sport;
	t->cseq = 1000;
	t->sseq = 5000;
	t->slot = CLASSIFY_NO_SLOT;
	t->now_us = 1700000000ull * 1000000;
}

static enum classify_status tconn_send(struct tconn *t, bool to_server,
				       uint8_t flags, const uint8_t *payload,
				       size_t plen)
{
	struct pkt p;
	size_t len;
	uint32_t *seq = to_server ? &t->cseq : &t->sseq;
	uint32_t ack = to_server ? t->sseq : t->cseq;

	len = build_tcp(t->buf, to_server, t->cli, t->cport, t->sport, flags,
			*seq, ack, payload, plen);
	memset(&p, 0, sizeof(p));
	cr_assert_eq(pkt_decode_ip(&p, t->buf, len), 0, "built packet: %s",
		     p.error ? p.error : "?");
	*seq += (uint32_t)plen +
		((flags & (PKT_TCP_SYN | PKT_TCP_FIN)) ? 1 : 0);
	t->now_us += 1000;
	return classify_packet(c, &t->slot, &t->seen, &p, t->now_us, &t->r);
}

static enum classify_status tconn_handshake(struct tconn *t)
{
	enum classify_status st;

	st = tconn_send(t, true, PKT_TCP_SYN, NULL, 0);
	if (st != CLASSIFY_MORE)
		return st;
	st = tconn_send(t, false, PKT_TCP_SYN | PKT_TCP_ACK, NULL, 0);
	if (st != CLASSIFY_MORE)
		return st;
	return tconn_send(t, true, PKT_TCP_ACK, NULL, 0);
}

/* xorshift32: the same "random" bytes on every run */
static void fill_random(uint8_t *b, size_t n, uint32_t *state)
{
	size_t i;

	for (i = 0; i < n; i++) {
		*state ^= *state << 13;
		*state ^= *state >> 17;
		*state ^= *state << 5;
		b[i] = (uint8_t)*state;
	}
}

static const uint8_t modbus_req[] = { 0x00, 0x01, 0x00, 0x00, 0x00, 0x06,
				      0x01, 0x03, 0x00, 0x00, 0x00, 0x0a };

/* NDR 5.2 */
Test(classify, random_payload_on_502_never_port_guessed, .init = setup,
     .fini = teardown)
{
	struct tconn t;
	uint8_t payload[200];
	uint32_t rnd = 0x12345678;
	enum classify_status st;
	int i;

	tconn_init(&t, 1, 40000, 502);
	cr_assert_eq(tconn_handshake(&t), CLASSIFY_MORE);
	for (i = 3; i < CLASSIFY_MAX_PACKETS - 1; i++) {
		fill_random(payload, 100 + (size_t)i, &rnd);
		/* bytes 4-5 = MBAP length: keep it not matching the size */
		payload[4] = 0xff;
		st = tconn_send(&t, i % 2 == 1, PKT_TCP_ACK | PKT_TCP_PSH,
				payload, 100 + (size_t)i);
		cr_assert_eq(st, CLASSIFY_MORE, "packet %d: status %d (%s)",
			     i + 1, st, t.r.name);
		cr_assert_eq(t.r.app, 0);
	}
	fill_random(payload, 150, &rnd);
	payload[4] = 0xff;
	st = tconn_send(&t, true, PKT_TCP_ACK | PKT_TCP_PSH, payload, 150);
	cr_assert_eq(st, CLASSIFY_UNKNOWN);
	cr_assert_eq(t.seen, CLASSIFY_MAX_PACKETS);
	cr_assert_eq(t.slot, CLASSIFY_NO_SLOT);
	cr_assert_eq(t.r.proto, ENGINE_PROTO_NONE);
	cr_assert_eq(t.r.master, 0);
	cr_assert_eq(t.r.app, 0);
	cr_assert_str_empty(t.r.name);
	cr_assert_eq(classify_get_stats(c)->unknown, 1);
	cr_assert_eq(classify_get_stats(c)->done, 0);
	cr_assert_eq(classify_get_stats(c)->packets, CLASSIFY_MAX_PACKETS);
}

/* NDR 5.2 */
Test(classify, http_on_502_is_http, .init = setup, .fini = teardown)
{
	static const char req[] = "GET /index.html HTTP/1.1\r\n"
				  "Host: plc.example\r\n"
				  "User-Agent: test\r\n\r\n";
	struct tconn t;
	enum classify_status st;

	tconn_init(&t, 1, 40001, 502);
	cr_assert_eq(tconn_handshake(&t), CLASSIFY_MORE);
	st = tconn_send(&t, true, PKT_TCP_ACK | PKT_TCP_PSH,
			(const uint8_t *)req, sizeof(req) - 1);
	cr_assert_eq(st, CLASSIFY_DONE, "status %d", st);
	cr_assert_str_eq(t.r.name, "HTTP");
	cr_assert_eq(t.r.master, 0);
	cr_assert_eq(t.r.app, NDPI_PROTOCOL_HTTP);
	cr_assert_eq(t.r.proto, ENGINE_PROTO_NONE);
	cr_assert(classify_result_is(c, &t.r, "http"));
	cr_assert(classify_result_is(c, &t.r, "HTTP"));
	cr_assert(!classify_result_is(c, &t.r, "modbus"));
	cr_assert(!classify_result_is(c, &t.r, ""));
	cr_assert_eq(t.r.category, classify_category_id("web"));
}

/* NDR 5.2 */
Test(classify, built_modbus_on_502, .init = setup, .fini = teardown)
{
	struct tconn t;

	tconn_init(&t, 1, 40002, 502);
	cr_assert_eq(tconn_handshake(&t), CLASSIFY_MORE);
	cr_assert_eq(tconn_send(&t, true, PKT_TCP_ACK | PKT_TCP_PSH, modbus_req,
				sizeof(modbus_req)),
		     CLASSIFY_DONE);
	cr_assert_eq(t.r.app, NDPI_PROTOCOL_MODBUS);
	cr_assert_eq(t.r.proto, ENGINE_PROTO_MODBUS);
	cr_assert(classify_result_is(c, &t.r, "modbus"));
	cr_assert_str_eq(classify_category_name(t.r.category), "iot-scada");
}

/* CR 7.1 */
Test(classify, pool_exhaustion_and_reuse)
{
	struct tconn a, b, d, e;
	const struct classify_stats *s;

	c = classify_alloc(1);
	cr_assert_not_null(c);
	s = classify_get_stats(c);
	tconn_init(&a, 1, 41000, 502);
	tconn_init(&b, 2, 41001, 502);
	tconn_init(&d, 3, 41002, 502);
	tconn_init(&e, 4, 41003, 502);

	cr_assert_eq(tconn_send(&a, true, PKT_TCP_SYN, NULL, 0), CLASSIFY_MORE);
	cr_assert_eq(a.slot, 0);
	/* the only slot is taken: the second flow is not identified */
	cr_assert_eq(tconn_send(&b, true, PKT_TCP_SYN, NULL, 0),
		     CLASSIFY_NO_SLOT_);
	cr_assert_eq(b.slot, CLASSIFY_NO_SLOT);
	cr_assert_eq(b.r.app, 0);
	cr_assert_eq(b.r.proto, ENGINE_PROTO_NONE);
	cr_assert_eq(s->no_slot, 1);
	cr_assert_eq(tconn_send(&b, false, PKT_TCP_SYN | PKT_TCP_ACK, NULL, 0),
		     CLASSIFY_NO_SLOT_);
	cr_assert_eq(s->no_slot, 2);

	/* the first is identified and gives its slot back... */
	cr_assert_eq(tconn_send(&a, false, PKT_TCP_SYN | PKT_TCP_ACK, NULL, 0),
		     CLASSIFY_MORE);
	cr_assert_eq(tconn_send(&a, true, PKT_TCP_ACK | PKT_TCP_PSH, modbus_req,
				sizeof(modbus_req)),
		     CLASSIFY_DONE);
	cr_assert_eq(a.slot, CLASSIFY_NO_SLOT);
	cr_assert_eq(a.r.proto, ENGINE_PROTO_MODBUS);
	cr_assert_eq(s->done, 1);

	/* ...which a third flow gets */
	cr_assert_eq(tconn_send(&d, true, PKT_TCP_SYN, NULL, 0), CLASSIFY_MORE);
	cr_assert_eq(d.slot, 0);
	cr_assert_eq(tconn_send(&e, true, PKT_TCP_SYN, NULL, 0),
		     CLASSIFY_NO_SLOT_);
	cr_assert_eq(s->no_slot, 3);

	/* released early (flow ended): the slot is clean for the next */
	classify_release(c, &d.slot);
	cr_assert_eq(d.slot, CLASSIFY_NO_SLOT);
	classify_release(c, &d.slot); /* twice: no-op */
	cr_assert_eq(tconn_send(&e, false, PKT_TCP_SYN | PKT_TCP_ACK, NULL, 0),
		     CLASSIFY_MORE);
	cr_assert_eq(e.slot, 0);
	cr_assert_eq(tconn_send(&e, true, PKT_TCP_ACK | PKT_TCP_PSH, modbus_req,
				sizeof(modbus_req)),
		     CLASSIFY_DONE);
	cr_assert_eq(e.r.app, NDPI_PROTOCOL_MODBUS);

	cr_assert_eq(s->packets, 9);
	cr_assert_eq(s->done, 2);
	cr_assert_eq(s->unknown, 0);
	classify_free(c);
}

/* CR 3.5 */
Test(classify, truncated_and_garbage_packets, .init = setup, .fini = teardown)
{
	static const uint8_t junk[] = { 0x45, 0x00, 0x00 };
	uint8_t big[128];
	struct classify_result r;
	struct pkt p;
	uint32_t slot = CLASSIFY_NO_SLOT;
	uint8_t seen = 0;
	int i;

	memset(&p, 0, sizeof(p));
	/* no IP bytes at all */
	cr_assert_eq(classify_packet(c, &slot, &seen, &p, 0, &r),
		     CLASSIFY_MORE);
	/* an IPv4 header cut short, then one claiming more than there is */
	p.l3 = junk;
	p.l3_len = sizeof(junk);
	cr_assert_eq(classify_packet(c, &slot, &seen, &p, 1000, &r),
		     CLASSIFY_MORE);
	memset(big, 0xa5, sizeof(big));
	big[0] = 0x45;
	big[2] = 0xff, big[3] = 0xff;
	big[9] = IPPROTO_TCP;
	p.l3 = big;
	p.l3_len = sizeof(big);
	for (i = 2; i < CLASSIFY_MAX_PACKETS - 1; i++)
		cr_assert_eq(classify_packet(c, &slot, &seen, &p, 2000, &r),
			     CLASSIFY_MORE);
	cr_assert_eq(classify_packet(c, &slot, &seen, &p, 3000, &r),
		     CLASSIFY_UNKNOWN);
	cr_assert_eq(slot, CLASSIFY_NO_SLOT);
	cr_assert_eq(r.app, 0);
	/* a slot index that is not ours is not trusted */
	slot = 77;
	seen = 0;
	cr_assert_eq(classify_packet(c, &slot, &seen, &p, 4000, &r),
		     CLASSIFY_MORE);
	cr_assert_eq(slot, 0);
	classify_release(c, &slot);
}

/* NDR 5.3 */
Test(classify, category_names)
{
	static const char *const names[] = { "mail",	      "chat",
					     "file-sharing",  "social-network",
					     "remote-access", "voip",
					     "vpn",	      "web",
					     "streaming",     "game" };
	size_t i;
	int id;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		id = classify_category_id(names[i]);
		cr_expect_geq(id, 0, "%s", names[i]);
		cr_expect_str_eq(classify_category_name(id), names[i]);
	}
	cr_expect_eq(classify_category_id("mail"), NDPI_PROTOCOL_CATEGORY_MAIL);
	cr_expect_eq(classify_category_id("chat"), NDPI_PROTOCOL_CATEGORY_CHAT);
	cr_expect_eq(classify_category_id("file-sharing"),
		     NDPI_PROTOCOL_CATEGORY_FILE_SHARING);
	cr_expect_eq(classify_category_id("social-network"),
		     NDPI_PROTOCOL_CATEGORY_SOCIAL_NETWORK);
	cr_expect_eq(classify_category_id("remote-access"),
		     NDPI_PROTOCOL_CATEGORY_REMOTE_ACCESS);
	cr_expect_eq(classify_category_id("Social-Network"),
		     NDPI_PROTOCOL_CATEGORY_SOCIAL_NETWORK);
	/* nDPI's display names are aliases */
	cr_expect_eq(classify_category_id("Email"),
		     NDPI_PROTOCOL_CATEGORY_MAIL);
	cr_expect_eq(classify_category_id("socialnetwork"),
		     NDPI_PROTOCOL_CATEGORY_SOCIAL_NETWORK);
	cr_expect_eq(classify_category_id("nosuch"), -1);
	cr_expect_eq(classify_category_id("file sharing"), -1);
	cr_expect_eq(classify_category_id(""), -1);
	cr_expect_eq(classify_category_id(NULL), -1);
	cr_expect_str_eq(classify_category_name(-1), "unspecified");
	cr_expect_str_eq(classify_category_name(NDPI_PROTOCOL_NUM_CATEGORIES),
			 "unspecified");
	cr_expect_str_eq(
		classify_category_name(NDPI_PROTOCOL_CATEGORY_CUSTOM_1),
		"unspecified");
}

/* The static table against the library: every category nDPI 4.2 names
 * has a policy name, and nDPI's name maps back to the same id. */
Test(classify, category_table_matches_ndpi)
{
	struct ndpi_detection_module_struct *nd;
	const char *n;
	int i, named = 0;

	nd = ndpi_init_detection_module(ndpi_no_prefs);
	cr_assert_not_null(nd);
	ndpi_finalize_initialization(nd);
	for (i = 0; i < NDPI_PROTOCOL_NUM_CATEGORIES; i++) {
		if (i >= NDPI_PROTOCOL_CATEGORY_CUSTOM_1 &&
		    i <= NDPI_PROTOCOL_CATEGORY_CUSTOM_5)
			continue;
		n = ndpi_category_get_name(nd, (ndpi_protocol_category_t)i);
		if (n == NULL || *n == '\0')
			continue;
		named++;
		cr_expect_eq(classify_category_id(n), i, "nDPI name %s", n);
		cr_expect(i == 0 || strcmp(classify_category_name(i),
					   "unspecified") != 0,
			  "no policy name for %d (%s)", i, n);
		cr_expect_eq(classify_category_id(classify_category_name(i)),
			     i);
	}
	cr_expect_eq(named, 35);
	ndpi_exit_detection_module(nd);
}

Test(classify, protocol_names, .init = setup, .fini = teardown)
{
	struct classify_result r;
	char buf[64];

	cr_expect_eq(classify_proto_id(c, "modbus"), NDPI_PROTOCOL_MODBUS);
	cr_expect_eq(classify_proto_id(c, "MODBUS"), NDPI_PROTOCOL_MODBUS);
	cr_expect_eq(classify_proto_id(c, "dnp3"), NDPI_PROTOCOL_DNP3);
	cr_expect_eq(classify_proto_id(c, "iec60870"), NDPI_PROTOCOL_IEC60870);
	cr_expect_eq(classify_proto_id(c, "s7comm"), NDPI_PROTOCOL_S7COMM);
	cr_expect_eq(classify_proto_id(c, "http"), NDPI_PROTOCOL_HTTP);
	cr_expect_eq(classify_proto_id(c, "nosuch"), -1);
	cr_expect_eq(classify_proto_id(c, ""), -1);
	cr_expect_eq(classify_proto_id(c, NULL), -1);
	memset(buf, 'a', sizeof(buf) - 1);
	buf[sizeof(buf) - 1] = '\0';
	cr_expect_eq(classify_proto_id(c, buf), -1);

	cr_expect_str_eq(classify_name(c, 0, NDPI_PROTOCOL_MODBUS, buf,
				       sizeof(buf)),
			 "Modbus");
	cr_expect_str_eq(classify_name(c, NDPI_PROTOCOL_TLS,
				       NDPI_PROTOCOL_GOOGLE, buf, sizeof(buf)),
			 "TLS.Google");

	memset(&r, 0, sizeof(r));
	r.master = NDPI_PROTOCOL_TLS;
	r.app = NDPI_PROTOCOL_GOOGLE;
	classify_name(c, r.master, r.app, r.name, sizeof(r.name));
	cr_expect(classify_result_is(c, &r, "tls"));
	cr_expect(classify_result_is(c, &r, "google"));
	cr_expect(classify_result_is(c, &r, "TLS.Google"));
	cr_expect(!classify_result_is(c, &r, "http"));
	cr_expect(!classify_result_is(c, &r, "tls.goo"));
	memset(&r, 0, sizeof(r));
	cr_expect(!classify_result_is(c, &r, "unknown"));
	cr_expect(!classify_result_is(c, &r, ""));
}

Test(classify, alloc_limits)
{
	struct classify *x;

	errno = 0;
	x = classify_alloc(CLASSIFY_NO_SLOT);
	cr_assert_null(x);
	cr_assert_eq(errno, EINVAL);
	classify_free(NULL);
}
