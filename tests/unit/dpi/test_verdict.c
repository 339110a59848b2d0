/*
 * The verdict module on a real engine with hand-built packets: flow
 * binding in both orientations and every unbound reason, each protocol's
 * rule types with the allow/deny range semantics, first-match order,
 * reject, malformed verdicts, the sticky TCP verdict, rate limits with an
 * injected clock, and event aggregation. nDPI stays off (no_ndpi) so the
 * results do not depend on its version, except where `app` is the subject.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "common/diag.h"
#include "dpi/verdict.h"

#define MAX_REC 64

struct drec {
	bool bound;
	enum pol_action action;
	char rule[96];
	char conduit[40];
	char zone_from[40];
	enum dpi_dir dir;
	int service;
	struct pol_loc loc;
};

struct erec {
	enum dpi_event_kind kind;
	enum pol_action action;
	uint32_t count;
	uint64_t first_us, last_us;
	int function;
	char rule[96];
	char detail[DPI_EVENT_DETAIL_MAX];
	char proto[48];
	char conduit[40];
};

static struct drec dec[MAX_REC];
static int n_dec;
static struct erec evs[MAX_REC];
static int n_ev;
static struct pol_policy *pol;
static struct verdict *vd;
static struct engine *eng;

static void on_decision(const struct engine_pdu *pdu,
			const struct verdict_decision *d, void *arg)
{
	struct drec *r = &dec[n_dec < MAX_REC ? n_dec : MAX_REC - 1];

	(void)arg;
	n_dec++;
	memset(r, 0, sizeof(*r));
	r->bound = d->bound;
	r->action = d->action;
	r->dir = pdu->dir;
	r->service = d->service;
	r->loc = d->loc;
	snprintf(r->rule, sizeof(r->rule), "%s", d->rule ? d->rule : "-");
	snprintf(r->conduit, sizeof(r->conduit), "%s",
		 d->conduit ? d->conduit->name : "-");
	snprintf(r->zone_from, sizeof(r->zone_from), "%s",
		 d->zone_from ? d->zone_from->name : "-");
}

static void on_event(const struct dpi_event *ev, void *arg)
{
	struct erec *r = &evs[n_ev < MAX_REC ? n_ev : MAX_REC - 1];

	(void)arg;
	n_ev++;
	memset(r, 0, sizeof(*r));
	r->kind = ev->kind;
	r->action = ev->action;
	r->count = ev->count;
	r->first_us = ev->first_us;
	r->last_us = ev->last_us;
	r->function = ev->function;
	snprintf(r->rule, sizeof(r->rule), "%s", ev->rule ? ev->rule : "-");
	snprintf(r->detail, sizeof(r->detail), "%s", ev->detail);
	snprintf(r->proto, sizeof(r->proto), "%s", ev->proto ? ev->proto : "");
	snprintf(r->conduit, sizeof(r->conduit), "%s",
		 ev->conduit ? ev->conduit->name : "-");
}

/*
 * Zones a, b, c (intra-zone allowed), d (no conduit, no intra-zone);
 * anything outside 10.0.0.0/8 is in no zone. Conduit ab gets the
 * protocol entries of each test: `entries` is YAML for its allow list.
 */
static void load(const char *conduit_extra, const char *entries)
{
	char y[8192];
	struct diag_list dl;
	int rc;

	snprintf(y, sizeof(y),
		 "version: 1\n"
		 "zones:\n"
		 "  a: { networks: [10.1.0.0/16] }\n"
		 "  b: { networks: [10.2.0.0/16] }\n"
		 "  c: { networks: [10.3.0.0/16], intra-zone: allow }\n"
		 "  d: { networks: [10.4.0.0/16] }\n"
		 "conduits:\n"
		 "  - name: ab\n"
		 "    from: a\n"
		 "    to: b\n"
		 "%s"
		 "    allow:\n"
		 "%s"
		 "  - name: ba\n"
		 "    from: b\n"
		 "    to: a\n"
		 "    allow:\n"
		 "      - { proto: udp, port: 514 }\n",
		 conduit_extra, entries);
	diag_list_init(&dl);
	rc = policy_load_buffer("test.yaml", y, strlen(y), 0, &pol, &dl);
	for (size_t i = 0; i < dl.n; i++)
		cr_log_error("%d:%d: %s", dl.v[i].line, dl.v[i].col,
			     dl.v[i].msg);
	diag_list_free(&dl);
	cr_assert_eq(rc, 0, "policy:\n%s", y);
}

static void start_conf(const struct verdict_conf *vc)
{
	struct engine_conf ec = { .hook_user_size = verdict_flow_size() };

	vd = verdict_alloc(pol, vc);
	cr_assert_not_null(vd);
	eng = engine_alloc(&ec);
	cr_assert_not_null(eng);
	verdict_attach(vd, eng);
	verdict_set_pdu_cb(vd, on_decision, NULL);
	verdict_set_event_cb(vd, on_event, NULL);
	n_dec = n_ev = 0;
}

static void start(void)
{
	struct verdict_conf vc = { .no_ndpi = true };

	start_conf(&vc);
}

static void teardown(void)
{
	engine_free(eng); /* ends the flows: flushes pending events */
	verdict_free(vd);
	policy_free(pol);
	eng = NULL;
	vd = NULL;
	pol = NULL;
}

/* --- packets -------------------------------------------------------------- */

struct conn {
	struct pkt_addr cli, srv;
	uint16_t cport, sport;
	uint8_t l4;
	uint32_t seq[2];
};

static void conn_init(struct conn *k, const char *cli, const char *srv,
		      uint16_t cport, uint16_t sport, uint8_t l4)
{
	memset(k, 0, sizeof(*k));
	k->cli.family = k->srv.family = 4;
	cr_assert_eq(inet_pton(AF_INET, cli, k->cli.a), 1);
	cr_assert_eq(inet_pton(AF_INET, srv, k->srv.a), 1);
	k->cport = cport;
	k->sport = sport;
	k->l4 = l4;
	k->seq[0] = 1000;
	k->seq[1] = 9000;
}

static uint64_t now_us = 1000000;

/* One packet; returns the engine's packet verdict. */
static enum engine_verdict sendp(struct conn *k, int to_server, uint8_t flags,
				 const void *d, size_t n)
{
	struct pkt p;
	int s = to_server ? 0 : 1;

	memset(&p, 0, sizeof(p));
	p.ip_version = 4;
	p.l4proto = k->l4;
	p.src = to_server ? k->cli : k->srv;
	p.dst = to_server ? k->srv : k->cli;
	p.sport = to_server ? k->cport : k->sport;
	p.dport = to_server ? k->sport : k->cport;
	if (k->l4 == IPPROTO_TCP) {
		p.seq = k->seq[s];
		p.ack = k->seq[!s];
		p.tcp_flags =
			flags |
			(flags & PKT_TCP_SYN && to_server ? 0 : PKT_TCP_ACK);
		k->seq[s] += (uint32_t)n +
			     ((flags & (PKT_TCP_SYN | PKT_TCP_FIN)) ? 1 : 0);
	}
	p.payload = d;
	p.payload_len = n;
	now_us += 1000;
	cr_assert_eq(engine_process(eng, &p, now_us, now_us), 0);
	return engine_packet_verdict(eng);
}

static void tcp_open(struct conn *k, const char *cli, const char *srv,
		     uint16_t port)
{
	conn_init(k, cli, srv, 40000, port, IPPROTO_TCP);
	sendp(k, 1, PKT_TCP_SYN, NULL, 0);
	sendp(k, 0, PKT_TCP_SYN, NULL, 0);
	sendp(k, 1, 0, NULL, 0);
}

static enum engine_verdict req(struct conn *k, const void *d, size_t n)
{
	return sendp(k, 1, PKT_TCP_PSH, d, n);
}

/* Modbus/TCP ADU: MBAP (tid 1) + unit + fc + data. */
static size_t mb(uint8_t *out, uint8_t unit, uint8_t fc, const uint8_t *data,
		 size_t n)
{
	out[0] = 0;
	out[1] = 1;
	out[2] = out[3] = 0;
	out[4] = (uint8_t)((n + 2) >> 8);
	out[5] = (uint8_t)(n + 2);
	out[6] = unit;
	out[7] = fc;
	memcpy(out + 8, data, n);
	return 8 + n;
}

/* FC 3/4/1/2 read, FC 6 write single: address + quantity/value. */
static enum engine_verdict mb_req(struct conn *k, uint8_t unit, uint8_t fc,
				  uint16_t a, uint16_t q)
{
	uint8_t d[4] = { a >> 8, a & 0xff, q >> 8, q & 0xff }, adu[16];

	return req(k, adu, mb(adu, unit, fc, d, 4));
}

/* FC 16 write multiple registers [a, a + q). */
static enum engine_verdict mb_write(struct conn *k, uint16_t a, uint16_t q)
{
	uint8_t d[5 + 2 * 16] = { a >> 8, a & 0xff, q >> 8, q & 0xff,
				  (uint8_t)(2 * q) };
	uint8_t adu[64];

	cr_assert_leq(q, 16);
	return req(k, adu, mb(adu, 1, 16, d, 5 + 2u * q));
}

/* FC 23: read [ra, ra + rq), write [wa, wa + wq). */
static enum engine_verdict mb_rw(struct conn *k, uint16_t ra, uint16_t rq,
				 uint16_t wa, uint16_t wq)
{
	uint8_t d[9 + 2 * 8] = { ra >> 8,   ra & 0xff, rq >> 8,
				 rq & 0xff, wa >> 8,   wa & 0xff,
				 wq >> 8,   wq & 0xff, (uint8_t)(2 * wq) };
	uint8_t adu[64];

	cr_assert_leq(wq, 8);
	return req(k, adu, mb(adu, 1, 23, d, 9 + 2u * wq));
}

static const char *last_rule(void)
{
	cr_assert_gt(n_dec, 0);
	return dec[n_dec - 1].rule;
}

static enum pol_action last_action(void)
{
	cr_assert_gt(n_dec, 0);
	return dec[n_dec - 1].action;
}

#define MB_ENTRY                                   \
	"      - proto: tcp\n"                     \
	"        port: 502\n"                      \
	"        modbus:\n"                        \
	"          functions: [1, 3, 6, 16, 23]\n" \
	"          unit-ids: [1-5]\n"              \
	"          holding-registers: { read: 0-99, write: 10-19 }\n"

/* --- binding -------------------------------------------------------------- */

/* NDR 5.2 */
Test(verdict, bind_client_to_server, .fini = teardown)
{
	struct conn k;

	load("", MB_ENTRY);
	start();
	tcp_open(&k, "10.1.0.1", "10.2.0.1", 502);
	cr_assert_eq(mb_req(&k, 1, 3, 0, 10), ENGINE_ALLOW);
	cr_assert_eq(n_dec, 1);
	cr_assert(dec[0].bound);
	cr_assert_eq(dec[0].dir, DPI_DIR_REQUEST);
	cr_assert_str_eq(dec[0].rule, "allow[0].modbus");
	cr_assert_str_eq(dec[0].conduit, "ab");
	cr_assert_str_eq(dec[0].zone_from, "a");
	cr_assert_eq(dec[0].service, 0);
	cr_assert_gt(dec[0].loc.line, 0);
	cr_assert_eq(verdict_get_stats(vd)->flows_bound, 1);
	cr_assert_eq(n_ev, 0);
}

/* NDR 5.2 */
Test(verdict, bind_reply_first, .fini = teardown)
{
	static const uint8_t rsp[] = { 0x00, 0x01, 0x00, 0x00, 0x00, 0x05,
				       0x01, 0x03, 0x02, 0x00, 0x2a };
	struct conn k;

	load("", MB_ENTRY);
	start();
	/* the capture starts with the server's reply: no handshake */
	conn_init(&k, "10.1.0.1", "10.2.0.1", 40000, 502, IPPROTO_TCP);
	sendp(&k, 0, PKT_TCP_PSH, rsp, sizeof(rsp));
	cr_assert_eq(n_dec, 1);
	cr_assert_eq(dec[0].dir, DPI_DIR_RESPONSE);
	cr_assert_eq(dec[0].action, POL_ACT_ALLOW);
	cr_assert_str_eq(dec[0].conduit, "ab");
	cr_assert_str_eq(dec[0].zone_from, "a");
	/* the client's next request is a request, and decided as one */
	cr_assert_eq(mb_write(&k, 50, 2), ENGINE_DENY);
	cr_assert_eq(dec[1].dir, DPI_DIR_REQUEST);
	cr_assert_str_eq(dec[1].rule,
			 "allow[0].modbus.holding-registers.write");
}

/* NDR 5.2 */
Test(verdict, unbound_reasons, .fini = teardown)
{
	static const struct {
		const char *cli, *srv;
		uint16_t port;
		const char *rule;
	} cases[] = {
		{ "192.168.1.1", "10.2.0.1", 502, "no-zone" },
		{ "10.1.0.1", "10.4.0.1", 502, "no-conduit" },
		{ "10.4.0.1", "10.4.0.2", 502, "no-conduit" },
		{ "10.1.0.1", "10.2.0.1", 503, "no-service" },
	};

	load("", MB_ENTRY);
	start();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct conn k;
		uint8_t adu[16], d[4] = { 0, 0, 0, 1 };

		n_dec = n_ev = 0;
		conn_init(&k, cases[i].cli, cases[i].srv, 40000, cases[i].port,
			  IPPROTO_TCP);
		cr_assert_eq(sendp(&k, 1, PKT_TCP_SYN, NULL, 0), ENGINE_DENY,
			     "%s", cases[i].rule);
		cr_assert_eq(n_ev, 1);
		cr_assert_eq(evs[0].kind, DPI_EV_NO_CONDUIT);
		cr_assert_str_eq(evs[0].rule, cases[i].rule);
		cr_assert_eq(evs[0].action, POL_ACT_DENY);
		sendp(&k, 0, PKT_TCP_SYN, NULL, 0);
		sendp(&k, 1, 0, NULL, 0);
		/* PDUs still decoded (by port where it knows one), denied */
		if (cases[i].port == 502) {
			cr_assert_eq(req(&k, adu, mb(adu, 1, 3, d, 4)),
				     ENGINE_DENY);
			cr_assert_eq(n_dec, 1);
			cr_assert_str_eq(dec[0].rule, cases[i].rule);
			cr_assert_eq(dec[0].action, POL_ACT_DENY);
			cr_assert(dec[0].bound);
		}
		cr_assert_eq(n_ev, 1, "one event per flow, not per PDU");
	}
	cr_assert_eq(verdict_get_stats(vd)->flows_unbound, 4);
}

/* NDR 5.2 */
Test(verdict, intra_zone_allowed, .fini = teardown)
{
	struct conn k;

	load("", MB_ENTRY);
	start();
	tcp_open(&k, "10.3.0.1", "10.3.0.2", 502);
	cr_assert_eq(mb_write(&k, 50, 2), ENGINE_ALLOW);
	cr_assert_str_eq(last_rule(), "intra-zone");
	cr_assert_str_eq(dec[0].conduit, "-");
	cr_assert_eq(n_ev, 0);
}

/* NDR 5.2 */
Test(verdict, plain_entry_not_inspected, .fini = teardown)
{
	struct conn k;

	load("", "      - { proto: tcp, port: 502 }\n");
	start();
	tcp_open(&k, "10.1.0.1", "10.2.0.1", 502);
	cr_assert_eq(mb_write(&k, 50, 2), ENGINE_ALLOW);
	cr_assert_str_eq(last_rule(), "allow[0]");
}

/* Decode only: no policy, nothing decided. */
Test(verdict, decode_only, .fini = teardown)
{
	struct verdict_conf vc = { .no_ndpi = true };
	struct conn k;

	pol = NULL;
	start_conf(&vc);
	tcp_open(&k, "10.1.0.1", "10.2.0.1", 502);
	cr_assert_eq(mb_write(&k, 50, 2), ENGINE_ALLOW);
	cr_assert_eq(n_dec, 1);
	cr_assert_not(dec[0].bound);
	cr_assert_str_eq(dec[0].rule, "-");
}

/* --- modbus --------------------------------------------------------------- */

/* NDR 5.2 */
Test(verdict, modbus_allow_match, .fini = teardown)
{
	struct conn k;

	load("", MB_ENTRY);
	start();
	tcp_open(&k, "10.1.0.1", "10.2.0.1", 502);
	cr_assert_eq(mb_req(&k, 1, 3, 0, 100), ENGINE_ALLOW);
	/* allow match: every address inside the list */
	mb_req(&k, 1, 3, 90, 20);
	cr_assert_str_eq(last_rule(), "allow[0].modbus.holding-registers.read");
	mb_req(&k, 9, 3, 0, 1);
	cr_assert_str_eq(last_rule(), "allow[0].modbus.unit-ids");
	mb_req(&k, 1, 4, 0, 1);
	cr_assert_str_eq(last_rule(), "allow[0].modbus.functions");
	/* coils: the table has no key, so any address */
	mb_req(&k, 1, 1, 5000, 10);
	cr_assert_eq(last_action(), POL_ACT_ALLOW);
	/* writes against the write list (FC 6 and FC 16) */
	mb_req(&k, 1, 6, 15, 0x1234);
	cr_assert_eq(last_action(), POL_ACT_ALLOW);
	mb_req(&k, 1, 6, 20, 0x1234);
	cr_assert_str_eq(last_rule(),
			 "allow[0].modbus.holding-registers.write");
	mb_write(&k, 10, 10);
	cr_assert_eq(last_action(), POL_ACT_ALLOW);
	mb_write(&k, 18, 3);
	cr_assert_str_eq(last_rule(),
			 "allow[0].modbus.holding-registers.write");
	/* FC 23: reads against read, writes against write */
	mb_rw(&k, 0, 10, 10, 2);
	cr_assert_eq(last_action(), POL_ACT_ALLOW);
	mb_rw(&k, 95, 10, 10, 2);
	cr_assert_str_eq(last_rule(), "allow[0].modbus.holding-registers.read");
	mb_rw(&k, 0, 10, 30, 2);
	cr_assert_str_eq(last_rule(),
			 "allow[0].modbus.holding-registers.write");
}

/* NDR 5.2 */
Test(verdict, modbus_table_key_without_list, .fini = teardown)
{
	struct conn k;

	load("", "      - proto: tcp\n"
		 "        port: 502\n"
		 "        modbus:\n"
		 "          functions: [3, 6]\n"
		 "          holding-registers: { read: 0-9 }\n");
	start();
	tcp_open(&k, "10.1.0.1", "10.2.0.1", 502);
	cr_assert_eq(mb_req(&k, 1, 3, 0, 10), ENGINE_ALLOW);
	/* the table's key is there without `write`: no write allowed */
	mb_req(&k, 1, 6, 0, 1);
	cr_assert_str_eq(last_rule(),
			 "allow[0].modbus.holding-registers.write");
}

/* NDR 5.2 */
Test(verdict, modbus_rules_first_match_and_semantics, .fini = teardown)
{
	struct conn k;

	load("", MB_ENTRY "          rules:\n"
			  "            - { action: allow, functions: [6],"
			  " holding-registers: { write: 10-11 } }\n"
			  "            - { action: reject, functions: [6] }\n"
			  "            - { action: deny, holding-registers:"
			  " { write: 15 } }\n"
			  "            - { action: allow, holding-registers:"
			  " { read: 200-299 } }\n");
	start();
	tcp_open(&k, "10.1.0.1", "10.2.0.1", 502);
	/* deny rule: any value inside is enough */
	mb_write(&k, 14, 3);
	cr_assert_str_eq(last_rule(), "allow[0].modbus.rules[2]");
	cr_assert_eq(last_action(), POL_ACT_DENY);
	mb_write(&k, 16, 2);
	cr_assert_str_eq(last_rule(), "allow[0].modbus");
	/* allow rule: every value inside, and it decides (before the
	 * block's allow match, which would refuse 200-209) */
	mb_req(&k, 1, 3, 200, 10);
	cr_assert_str_eq(last_rule(), "allow[0].modbus.rules[3]");
	cr_assert_eq(last_action(), POL_ACT_ALLOW);
	mb_req(&k, 1, 3, 290, 20);
	cr_assert_str_eq(last_rule(), "allow[0].modbus.holding-registers.read");
	/* first match: rule 0 before rule 1 */
	cr_assert_eq(mb_req(&k, 1, 6, 11, 7), ENGINE_DENY,
		     "sticky: the flow was denied before");
	cr_assert_str_eq(last_rule(), "allow[0].modbus.rules[0]");
	cr_assert_eq(last_action(), POL_ACT_ALLOW);
	cr_assert_eq(mb_req(&k, 1, 6, 12, 7), ENGINE_REJECT);
	cr_assert_str_eq(last_rule(), "allow[0].modbus.rules[1]");
	cr_assert_eq(last_action(), POL_ACT_REJECT);
}

/* NDR 5.2 */
Test(verdict, modbus_umas_mei, .fini = teardown)
{
	static const uint8_t umas[] = { 0x00, 0x02 },
			     mei[] = { 0x0e, 0x01, 0x00 };
	uint8_t adu[16];
	struct conn k;

	load("", "      - proto: tcp\n"
		 "        port: 502\n"
		 "        modbus:\n"
		 "          functions: [3]\n"
		 "          mei: allow\n");
	start();
	tcp_open(&k, "10.1.0.1", "10.2.0.1", 502);
	req(&k, adu, mb(adu, 1, 43, mei, sizeof(mei)));
	cr_assert_eq(last_action(), POL_ACT_ALLOW, "%s", last_rule());
	req(&k, adu, mb(adu, 1, 90, umas, sizeof(umas)));
	cr_assert_str_eq(last_rule(), "allow[0].modbus.umas");
	cr_assert_eq(last_action(), POL_ACT_DENY);
}

/* CR 3.5 */
Test(verdict, modbus_max_pdu, .fini = teardown)
{
	struct conn k;

	load("", "      - proto: tcp\n"
		 "        port: 502\n"
		 "        modbus: { functions: [16], max-pdu: 10,"
		 " holding-registers: { write: 0-99 } }\n");
	start();
	tcp_open(&k, "10.1.0.1", "10.2.0.1", 502);
	cr_assert_eq(mb_write(&k, 0, 1), ENGINE_ALLOW); /* 8 bytes of PDU */
	mb_write(&k, 0, 2);				/* 10 */
	cr_assert_eq(last_action(), POL_ACT_ALLOW);
	mb_write(&k, 0, 3); /* 12 */
	cr_assert_str_eq(last_rule(), "allow[0].modbus.max-pdu");
	cr_assert_eq(last_action(), POL_ACT_DENY);
	cr_assert_eq(n_ev, 1);
	cr_assert_eq(evs[0].kind, DPI_EV_MALFORMED);
}

/* CR 3.6 */
Test(verdict, malformed_default_deny, .fini = teardown)
{
	/* FC 3 with quantity 0: framed, so only this PDU is bad */
	static const uint8_t q0[] = { 0x00, 0x09, 0x00, 0x00, 0x00, 0x06,
				      0x01, 0x03, 0x00, 0x00, 0x00, 0x00 };
	struct conn k;

	load("", MB_ENTRY);
	start();
	tcp_open(&k, "10.1.0.1", "10.2.0.1", 502);
	cr_assert_eq(req(&k, q0, sizeof(q0)), ENGINE_DENY);
	cr_assert_str_eq(last_rule(), "malformed");
	cr_assert_eq(n_ev, 1);
	cr_assert_eq(evs[0].kind, DPI_EV_MALFORMED);
	cr_assert_str_eq(evs[0].rule, "malformed");
	cr_assert_str_eq(evs[0].conduit, "ab");
	cr_assert_str_eq(evs[0].proto, "modbus");
	cr_assert_neq(evs[0].detail[0], '\0');
}

/* CR 3.6 */
Test(verdict, malformed_allow, .fini = teardown)
{
	static const uint8_t q0[] = { 0x00, 0x09, 0x00, 0x00, 0x00, 0x06,
				      0x01, 0x03, 0x00, 0x00, 0x00, 0x00 };
	struct conn k;

	load("    malformed: allow\n", MB_ENTRY);
	start();
	tcp_open(&k, "10.1.0.1", "10.2.0.1", 502);
	cr_assert_eq(req(&k, q0, sizeof(q0)), ENGINE_ALLOW);
	cr_assert_str_eq(last_rule(), "malformed");
	cr_assert_eq(n_ev, 1, "allowed, but still an event");
	cr_assert_eq(evs[0].action, POL_ACT_ALLOW);
}

/* The answer record of a rule with `exception`, and only of such a rule. */
/* NDR 5.2 */
Test(verdict, modbus_exception_answer_record, .fini = teardown)
{
	/* write single register 250 := 1, transaction 0x4242, unit 3 */
	const uint8_t w250[] = { 0x42, 0x42, 0, 0, 0, 6, 3, 6, 0, 250, 0, 1 };
	const struct verdict_answer *a;
	struct conn k;

	load("", MB_ENTRY "          rules:\n"
			  "            - { action: reject, exception: "
			  "illegal-data-address, functions: [6],"
			  " holding-registers: { write: 200-299 } }\n"
			  "            - { action: reject, functions: [16] }\n"
			  "          umas: reject\n");
	start();
	a = verdict_last_answer(vd);
	cr_assert_not(a->valid, "no answer before any refusal");
	tcp_open(&k, "10.1.0.1", "10.2.0.1", 502);
	verdict_packet_begin(vd);
	cr_assert_eq(req(&k, w250, sizeof(w250)), ENGINE_REJECT);
	cr_assert_str_eq(last_rule(), "allow[0].modbus.rules[0]");
	cr_assert(a->valid);
	cr_expect_eq(a->exception, 2);
	cr_expect_eq(a->transaction_id, 0x4242);
	cr_expect_eq(a->unit_id, 3);
	cr_expect_eq(a->function, 6);
	cr_expect_eq(a->pdu_len, sizeof(w250));
	/* the next packet starts clean: a pure ACK of the sticky flow */
	verdict_packet_begin(vd);
	cr_assert_eq(sendp(&k, 1, 0, NULL, 0), ENGINE_REJECT);
	cr_assert_not(a->valid, "a stale answer for a packet without PDU");

	/* a reject rule without exception: resets, no answer */
	tcp_open(&k, "10.1.0.2", "10.2.0.1", 502);
	verdict_packet_begin(vd);
	cr_assert_eq(mb_write(&k, 10, 2), ENGINE_REJECT);
	cr_assert_str_eq(last_rule(), "allow[0].modbus.rules[1]");
	cr_assert_not(a->valid);
	/* a reject by the block (umas), not by a rule: no answer */
	tcp_open(&k, "10.1.0.3", "10.2.0.1", 502);
	verdict_packet_begin(vd);
	cr_assert_eq(mb_req(&k, 1, 90, 0, 0), ENGINE_REJECT);
	cr_assert_not(a->valid);
	/* the same register written through the allowed range: allowed */
	tcp_open(&k, "10.1.0.4", "10.2.0.1", 502);
	verdict_packet_begin(vd);
	cr_assert_eq(mb_req(&k, 1, 6, 12, 1), ENGINE_ALLOW);
	cr_assert_not(a->valid);
}

/* NDR 5.2 */
Test(verdict, sticky_tcp_verdict, .fini = teardown)
{
	uint8_t adu[16], d[4] = { 0, 50, 0, 1 };
	struct conn k;
	size_t n;

	load("", MB_ENTRY);
	start();
	tcp_open(&k, "10.1.0.1", "10.2.0.1", 502);
	n = mb(adu, 1, 6, d, 4);
	cr_assert_eq(req(&k, adu, n), ENGINE_DENY);
	/* the retransmission of the denied bytes: a duplicate, no PDU */
	k.seq[0] -= (uint32_t)n;
	cr_assert_eq(req(&k, adu, n), ENGINE_DENY);
	cr_assert_eq(n_dec, 1);
	/* an allowed request later in the same flow: still dropped */
	cr_assert_eq(mb_req(&k, 1, 3, 0, 1), ENGINE_DENY);
	cr_assert_eq(last_action(), POL_ACT_ALLOW);
	/* the response direction as well */
	cr_assert_eq(sendp(&k, 0, 0, NULL, 0), ENGINE_DENY);
}

/* --- rate limits ---------------------------------------------------------- */

#define MB_RATE(per)                    \
	"      - proto: tcp\n"          \
	"        port: 502\n"           \
	"        modbus:\n"             \
	"          functions: [3, 6]\n" \
	"          rate-limits:\n"      \
	"            - { functions: [6], rate: 2/second, per: " per " }\n"

/* CR 7.1 */
Test(verdict, rate_limit_per_source, .fini = teardown)
{
	struct conn k, k2, k3;

	load("", MB_RATE("source"));
	start();
	tcp_open(&k, "10.1.0.1", "10.2.0.1", 502);
	cr_assert_eq(mb_req(&k, 1, 6, 1, 1), ENGINE_ALLOW);
	cr_assert_eq(mb_req(&k, 1, 3, 1, 1), ENGINE_ALLOW); /* not counted */
	cr_assert_eq(mb_req(&k, 1, 6, 1, 1), ENGINE_ALLOW);
	cr_assert_eq(mb_req(&k, 1, 6, 1, 1), ENGINE_DENY);
	cr_assert_str_eq(last_rule(), "allow[0].modbus.rate-limits[0]");
	cr_assert_eq(n_ev, 1);
	cr_assert_eq(evs[0].kind, DPI_EV_RATE);
	/* the same source on another connection shares the bucket */
	conn_init(&k2, "10.1.0.1", "10.2.0.1", 40001, 502, IPPROTO_TCP);
	sendp(&k2, 1, PKT_TCP_SYN, NULL, 0);
	sendp(&k2, 0, PKT_TCP_SYN, NULL, 0);
	sendp(&k2, 1, 0, NULL, 0);
	cr_assert_eq(mb_req(&k2, 1, 6, 1, 1), ENGINE_DENY);
	/* another source has its own */
	tcp_open(&k3, "10.1.0.2", "10.2.0.1", 502);
	cr_assert_eq(mb_req(&k3, 1, 6, 1, 1), ENGINE_ALLOW);
	/* half a second later one token is back */
	now_us += 500000;
	cr_assert_eq(mb_req(&k3, 1, 6, 1, 1), ENGINE_ALLOW);
	{
		struct conn k4;

		conn_init(&k4, "10.1.0.1", "10.2.0.1", 40002, 502, IPPROTO_TCP);
		sendp(&k4, 1, PKT_TCP_SYN, NULL, 0);
		sendp(&k4, 0, PKT_TCP_SYN, NULL, 0);
		sendp(&k4, 1, 0, NULL, 0);
		cr_assert_eq(mb_req(&k4, 1, 6, 1, 1), ENGINE_ALLOW);
		cr_assert_eq(mb_req(&k4, 1, 6, 1, 1), ENGINE_DENY);
	}
	cr_assert_eq(verdict_get_stats(vd)->bucket_full, 0);
}

/* CR 7.1 */
Test(verdict, rate_limit_per_flow, .fini = teardown)
{
	struct conn k, k2;

	load("", MB_RATE("flow"));
	start();
	tcp_open(&k, "10.1.0.1", "10.2.0.1", 502);
	cr_assert_eq(mb_req(&k, 1, 6, 1, 1), ENGINE_ALLOW);
	cr_assert_eq(mb_req(&k, 1, 6, 1, 1), ENGINE_ALLOW);
	cr_assert_eq(mb_req(&k, 1, 6, 1, 1), ENGINE_DENY);
	conn_init(&k2, "10.1.0.1", "10.2.0.1", 40001, 502, IPPROTO_TCP);
	sendp(&k2, 1, PKT_TCP_SYN, NULL, 0);
	sendp(&k2, 0, PKT_TCP_SYN, NULL, 0);
	sendp(&k2, 1, 0, NULL, 0);
	cr_assert_eq(mb_req(&k2, 1, 6, 1, 1), ENGINE_ALLOW);
	cr_assert_eq(mb_req(&k2, 1, 6, 1, 1), ENGINE_ALLOW);
	cr_assert_eq(mb_req(&k2, 1, 6, 1, 1), ENGINE_DENY);
}

/* CR 7.1 */
Test(verdict, rate_limit_per_conduit, .fini = teardown)
{
	struct conn k, k2;

	load("", MB_RATE("conduit"));
	start();
	tcp_open(&k, "10.1.0.1", "10.2.0.1", 502);
	tcp_open(&k2, "10.1.0.2", "10.2.0.1", 502);
	cr_assert_eq(mb_req(&k, 1, 6, 1, 1), ENGINE_ALLOW);
	cr_assert_eq(mb_req(&k2, 1, 6, 1, 1), ENGINE_ALLOW);
	cr_assert_eq(mb_req(&k2, 1, 6, 1, 1), ENGINE_DENY);
	now_us += 1000000;
	cr_assert_eq(mb_req(&k, 1, 6, 1, 1), ENGINE_ALLOW);
}

/* CR 7.1 */
Test(verdict, rate_bucket_table_full, .fini = teardown)
{
	struct verdict_conf vc = { .no_ndpi = true, .rate_buckets = 1 };
	struct conn k, k2;

	load("", MB_RATE("source"));
	start_conf(&vc);
	tcp_open(&k, "10.1.0.1", "10.2.0.1", 502);
	tcp_open(&k2, "10.1.0.2", "10.2.0.1", 502);
	cr_assert_eq(mb_req(&k, 1, 6, 1, 1), ENGINE_ALLOW);
	/* no room for the second source: the shared bucket, counted */
	cr_assert_eq(mb_req(&k2, 1, 6, 1, 1), ENGINE_ALLOW);
	cr_assert_eq(verdict_get_stats(vd)->bucket_full, 1);
	cr_assert_eq(mb_req(&k2, 1, 6, 1, 1), ENGINE_ALLOW);
	cr_assert_eq(mb_req(&k2, 1, 6, 1, 1), ENGINE_DENY);
	/* once the first source's bucket is full again it is reused */
	now_us += 2000000;
	cr_assert_eq(mb_req(&k2, 1, 6, 1, 1), ENGINE_DENY, "sticky");
	cr_assert_eq(verdict_get_stats(vd)->bucket_full, 3);
}

/* --- events --------------------------------------------------------------- */

/* CR 7.1 */
Test(verdict, events_aggregated, .fini = teardown)
{
	struct conn k;

	load("", MB_ENTRY);
	start();
	tcp_open(&k, "10.1.0.1", "10.2.0.1", 502);
	mb_req(&k, 1, 4, 0, 1);
	cr_assert_eq(n_ev, 1);
	cr_assert_eq(evs[0].count, 1);
	cr_assert_eq(evs[0].kind, DPI_EV_DENIED);
	cr_assert_eq(evs[0].function, 4);
	cr_assert_str_eq(evs[0].rule, "allow[0].modbus.functions");
	cr_assert_str_eq(evs[0].detail, "input-registers read 0-0");
	mb_req(&k, 1, 4, 0, 2);
	mb_req(&k, 1, 4, 0, 3);
	cr_assert_eq(n_ev, 1, "repeats are counted, not emitted");
	cr_assert_eq(verdict_get_stats(vd)->events_suppressed, 2);
	verdict_tick(vd, now_us + 1000); /* interval not over */
	cr_assert_eq(n_ev, 1);
	verdict_tick(vd, now_us + 11 * 1000000ull);
	cr_assert_eq(n_ev, 2);
	cr_assert_eq(evs[1].count, 2);
	cr_assert_str_eq(evs[1].detail, "input-registers read 0-1");
	cr_assert_lt(evs[1].first_us, evs[1].last_us);
	/* a new interval: the next one goes out at once */
	now_us += 11 * 1000000ull;
	mb_req(&k, 1, 4, 0, 1);
	cr_assert_eq(n_ev, 3);
	mb_req(&k, 1, 4, 0, 1);
	/* another kind flushes the pending repeats */
	mb_req(&k, 9, 3, 0, 1);
	cr_assert_eq(n_ev, 5);
	cr_assert_eq(evs[3].count, 1);
	cr_assert_str_eq(evs[4].rule, "allow[0].modbus.unit-ids");
	mb_req(&k, 9, 3, 0, 1);
	cr_assert_eq(n_ev, 5);
	/* the flow ends: what is pending goes out */
	engine_free(eng);
	eng = NULL;
	cr_assert_eq(n_ev, 6);
	cr_assert_eq(evs[5].count, 1);
	cr_assert_str_eq(evs[5].rule, "allow[0].modbus.unit-ids");
	cr_assert_eq(verdict_get_stats(vd)->events, 6);
}

/* CR 7.1 */
Test(verdict, event_table_full, .fini = teardown)
{
	load("", MB_ENTRY);
	start();
	/* 300 flows with a pending repeat each: the oldest are flushed */
	for (int i = 0; i < 300; i++) {
		struct conn k;
		char a[32];

		snprintf(a, sizeof(a), "10.1.%d.%d", i / 200, i % 200 + 1);
		tcp_open(&k, a, "10.2.0.1", 502);
		mb_req(&k, 1, 4, 0, 1);
		mb_req(&k, 1, 4, 0, 1);
	}
	cr_assert_eq(verdict_get_stats(vd)->events, 300 + 300 - 256);
	verdict_flush(vd);
	cr_assert_eq(verdict_get_stats(vd)->events, 600);
	cr_assert_eq(verdict_get_stats(vd)->events_suppressed, 300);
}

/* --- dnp3 ----------------------------------------------------------------- */

/* A link frame master -> outstation `dst` carrying `user` (transport
 * header + APDU), with every CRC. */
static size_t dnp3_frame(uint8_t *out, uint16_t dst, const uint8_t *user,
			 size_t n)
{
	size_t o = 10;
	uint16_t crc;

	out[0] = 0x05;
	out[1] = 0x64;
	out[2] = (uint8_t)(5 + n);
	out[3] = 0xc4; /* DIR, PRM, unconfirmed user data */
	out[4] = dst & 0xff;
	out[5] = dst >> 8;
	out[6] = 1;
	out[7] = 0;
	crc = dnp3_crc(out, 8);
	out[8] = crc & 0xff;
	out[9] = crc >> 8;
	for (size_t i = 0; i < n; i += 16) {
		size_t b = n - i < 16 ? n - i : 16;

		memcpy(out + o, user + i, b);
		crc = dnp3_crc(out + o, b);
		out[o + b] = crc & 0xff;
		out[o + b + 1] = crc >> 8;
		o += b + 2;
	}
	return o;
}

/* Direct operate (or `fc`) of one CROB g12v1 at `index`. */
static enum engine_verdict dnp3_crob(struct conn *k, uint16_t dst, uint8_t fc,
				     uint8_t index)
{
	uint8_t user[] = { 0xc0,  0xc1, fc,   12,   1,	  0x17, 1,
			   index, 0x01, 0x01, 0xe8, 0x03, 0x00, 0x00,
			   0xe8,  0x03, 0x00, 0x00, 0x00 };
	uint8_t f[64];

	return req(k, f, dnp3_frame(f, dst, user, sizeof(user)));
}

/* NDR 5.2 */
Test(verdict, dnp3_rules, .fini = teardown)
{
	static const uint8_t rd[] = { 0xc0, 0xc1, 0x01, 60, 1, 0x06 };
	uint8_t f[64];
	struct conn k;

	load("", "      - proto: tcp\n"
		 "        port: 20000\n"
		 "        dnp3:\n"
		 "          functions: [read, select, operate, direct-operate,"
		 " cold-restart]\n"
		 "          outstations: [10]\n"
		 "          objects: [{ group: 12, variation: 1,"
		 " indexes: 0-9 }]\n"
		 "          rules:\n"
		 "            - { action: deny, functions: [cold-restart] }\n");
	start();
	tcp_open(&k, "10.1.0.1", "10.2.0.1", 20000);
	cr_assert_eq(req(&k, f, dnp3_frame(f, 10, rd, sizeof(rd))),
		     ENGINE_ALLOW);
	cr_assert_str_eq(last_rule(), "allow[0].dnp3");
	cr_assert_eq(dnp3_crob(&k, 10, 5, 3), ENGINE_ALLOW);
	dnp3_crob(&k, 10, 5, 12);
	cr_assert_str_eq(last_rule(), "allow[0].dnp3.objects");
	cr_assert_str_eq(evs[0].detail, "g12v1 12-12");
	dnp3_crob(&k, 11, 5, 3);
	cr_assert_str_eq(last_rule(), "allow[0].dnp3.outstations");
	dnp3_crob(&k, 10, 6, 3);
	cr_assert_str_eq(last_rule(), "allow[0].dnp3.functions");
	dnp3_crob(&k, 10, 13, 3);
	cr_assert_str_eq(last_rule(), "allow[0].dnp3.rules[0]");
}

/* --- iec 104 -------------------------------------------------------------- */

static enum engine_verdict iec_cmd(struct conn *k, uint8_t type, uint8_t cot,
				   uint16_t ca, uint32_t ioa)
{
	uint8_t a[] = { 0x68,	    0x0e,
			0x00,	    0x00,
			0x00,	    0x00,
			type,	    0x01,
			cot,	    0x00,
			ca & 0xff,  ca >> 8,
			ioa & 0xff, (ioa >> 8) & 0xff,
			ioa >> 16,  0x01 };

	return req(k, a, sizeof(a));
}

/* NDR 5.2 */
Test(verdict, iec104_rules, .fini = teardown)
{
	static const uint8_t startdt[] = { 0x68, 0x04, 0x07, 0x00, 0x00, 0x00 };
	struct conn k;

	load("", "      - proto: tcp\n"
		 "        port: 2404\n"
		 "        iec104:\n"
		 "          type-ids: [45, 100]\n"
		 "          causes: [6]\n"
		 "          common-addresses: [1]\n"
		 "          ioas: [4000-4010]\n");
	start();
	tcp_open(&k, "10.1.0.1", "10.2.0.1", 2404);
	cr_assert_eq(req(&k, startdt, sizeof(startdt)), ENGINE_ALLOW);
	cr_assert_eq(iec_cmd(&k, 45, 6, 1, 4001), ENGINE_ALLOW);
	iec_cmd(&k, 45, 6, 1, 5000);
	cr_assert_str_eq(last_rule(), "allow[0].iec104.ioas");
	cr_assert_str_eq(evs[0].detail, "ca 1 ioa 5000");
	iec_cmd(&k, 46, 6, 1, 4001);
	cr_assert_str_eq(last_rule(), "allow[0].iec104.type-ids");
	iec_cmd(&k, 45, 8, 1, 4001);
	cr_assert_str_eq(last_rule(), "allow[0].iec104.causes");
	iec_cmd(&k, 45, 6, 2, 4001);
	cr_assert_str_eq(last_rule(), "allow[0].iec104.common-addresses");
}

/* --- s7comm --------------------------------------------------------------- */

static size_t unhex(const char *h, uint8_t *out)
{
	size_t n = 0;

	for (; h[0] && h[1]; h += 2) {
		unsigned int v;

		if (h[0] == ' ') {
			h--;
			continue;
		}
		sscanf(h, "%2x", &v);
		out[n++] = (uint8_t)v;
	}
	return n;
}

static enum engine_verdict req_hex(struct conn *k, const char *hex)
{
	uint8_t b[512];

	return req(k, b, unhex(hex, b));
}

/* NDR 5.2 */
Test(verdict, s7comm_rules, .fini = teardown)
{
	struct conn k;

	load("", "      - proto: tcp\n"
		 "        port: 102\n"
		 "        s7comm:\n"
		 "          functions: [0xf0]\n"
		 "          userdata: [{ group: 4, subfunctions: [1] }]\n");
	start();
	tcp_open(&k, "10.1.0.1", "10.2.0.1", 102);
	/* COTP connection request */
	cr_assert_eq(req_hex(&k,
			     "0300001611e00000000100c0010ac1020100c2020101"),
		     ENGINE_ALLOW);
	cr_assert_eq(
		req_hex(&k,
			"0300001902f08032010000000000080000f0000001000103c0"),
		ENGINE_ALLOW);
	cr_assert_str_eq(last_rule(), "allow[0].s7comm");
	/* read SZL: cpu group, subfunction 1 */
	cr_assert_eq(
		req_hex(&k,
			"0300002102f080320700000300000800080001120411440100ff09000401320004"),
		ENGINE_ALLOW);
	cr_assert_str_eq(last_rule(), "allow[0].s7comm");
	/* read var job */
	req_hex(&k,
		"0300001f02f080320100000000000e00000401120a10020040000184000000");
	cr_assert_str_eq(last_rule(), "allow[0].s7comm.functions");
	/* userdata in group 1 (programmer) */
	req_hex(&k,
		"0300002102f080320700000300000800080001120411410100ff09000401320004");
	cr_assert_str_eq(last_rule(), "allow[0].s7comm.userdata");
	/* S7comm-plus as a whole: denied by default */
	req_hex(&k,
		"0300001f02f080720200103100000542000000023400000000000072020000");
	cr_assert_str_eq(last_rule(), "allow[0].s7comm.s7plus");
}

/* NDR 5.2 */
Test(verdict, s7comm_without_userdata_list_allows_no_userdata, .fini = teardown)
{
	struct conn k;

	load("", "      - s7comm: { functions: [setup-communication] }\n");
	start();
	tcp_open(&k, "10.1.0.1", "10.2.0.1", 102);
	cr_assert_eq(
		req_hex(&k,
			"0300001902f08032010000000000080000f0000001000103c0"),
		ENGINE_ALLOW);
	/* read SZL (cpu group): no userdata list, so none is allowed */
	cr_assert_eq(
		req_hex(&k,
			"0300002102f080320700000300000800080001120411440100ff09000401320004"),
		ENGINE_DENY);
	cr_assert_str_eq(last_rule(), "allow[0].s7comm.userdata");
}

/* --- enip ----------------------------------------------------------------- */

static size_t put16(uint8_t *p, unsigned int v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	return 2;
}

/* SendRRData: null address + unconnected data item holding `cip` (hex). */
static size_t enip_rr(const char *cip, uint8_t *out)
{
	uint8_t m[512];
	size_t n = unhex(cip, m), o = 24;

	memset(out, 0, 24 + 6);
	put16(out, ENIP_CMD_SEND_RR_DATA);
	out[4] = 0x44; /* session */
	o += 6;	       /* interface handle, timeout */
	o += put16(out + o, 2);
	o += put16(out + o, ENIP_ITEM_NULL_ADDR);
	o += put16(out + o, 0);
	o += put16(out + o, ENIP_ITEM_UNCONN_DATA);
	o += put16(out + o, (unsigned int)n);
	memcpy(out + o, m, n);
	put16(out + 2, (unsigned int)(o + n - 24));
	return o + n;
}

/* NDR 5.2 */
Test(verdict, enip_multiple_service_packet, .fini = teardown)
{
	uint8_t b[512];
	struct conn k;

	load("", "      - proto: tcp\n"
		 "        port: 44818\n"
		 "        enip:\n"
		 "          commands: [0x65, 0x6f]\n"
		 "          services: [0x0a, 0x0e]\n"
		 "          classes: [1-2]\n");
	start();
	tcp_open(&k, "10.1.0.1", "10.2.0.1", 44818);
	/* get attribute single class 1 instance 1 attribute 1 */
	cr_assert_eq(req(&k, b, enip_rr("0e03200124013001", b)), ENGINE_ALLOW,
		     "%s", last_rule());
	cr_assert_str_eq(last_rule(), "allow[0].enip");
	/* MSP: that one, and a set attribute single to class 0x6b */
	req(&k, b,
	    enip_rr("0a02200224010200 06000e00 0e03200124013001"
		    "1003206b240130030000",
		    b));
	cr_assert_str_eq(last_rule(), "allow[0].enip.services");
	cr_assert_eq(evs[0].function, 0x10);
	cr_assert_str_eq(evs[0].detail,
			 "service 0x10 class 0x6b instance 1 attribute 3");
	/* a command outside the list */
	{
		uint8_t li[24] = { 0x63 };

		req(&k, li, sizeof(li));
		cr_assert_str_eq(last_rule(), "allow[0].enip.commands");
	}
}

/* NDR 5.2 */
Test(verdict, enip_class_criterion_needs_a_class, .fini = teardown)
{
	uint8_t b[512];
	struct conn k;

	load("", "      - proto: tcp\n"
		 "        port: 44818\n"
		 "        enip:\n"
		 "          services: [0x0e, 0x4c]\n"
		 "          classes: [1]\n"
		 "          rules:\n"
		 "            - { action: deny, classes: [0x6b] }\n");
	start();
	tcp_open(&k, "10.1.0.1", "10.2.0.1", 44818);
	/* a symbolic path (Logix read tag "ab") answers no class: the deny
	 * rule does not match, the allow match fails */
	req(&k, b, enip_rr("4c02910261620100", b));
	cr_assert_str_eq(last_rule(), "allow[0].enip.classes");
	req(&k, b, enip_rr("0e03206b24013001", b));
	cr_assert_str_eq(last_rule(), "allow[0].enip.rules[0]");
}

/* --- nDPI: app and categories on real IP packets -------------------------- */

/* One IPv4/TCP packet as bytes (nDPI reads the IP header), decoded with
 * pkt_decode_ip like the queue and replay paths do. */
static enum engine_verdict sendipn(struct conn *k, int to_server, uint8_t flags,
				   const void *d, size_t n)
{
	uint8_t b[1500];
	size_t len = 40 + n;
	int s = to_server ? 0 : 1;
	const struct pkt_addr *src = to_server ? &k->cli : &k->srv;
	const struct pkt_addr *dst = to_server ? &k->srv : &k->cli;
	uint16_t sp = to_server ? k->cport : k->sport;
	uint16_t dp = to_server ? k->sport : k->cport;
	struct pkt p;

	cr_assert_lt(len, sizeof(b));
	memset(b, 0, 40);
	b[0] = 0x45;
	b[2] = (uint8_t)(len >> 8);
	b[3] = (uint8_t)len;
	b[6] = 0x40; /* DF */
	b[8] = 64;
	b[9] = IPPROTO_TCP;
	memcpy(b + 12, src->a, 4);
	memcpy(b + 16, dst->a, 4);
	b[20] = (uint8_t)(sp >> 8);
	b[21] = (uint8_t)sp;
	b[22] = (uint8_t)(dp >> 8);
	b[23] = (uint8_t)dp;
	for (int i = 0; i < 4; i++) {
		b[24 + i] = (uint8_t)(k->seq[s] >> (24 - 8 * i));
		b[28 + i] = (uint8_t)(k->seq[!s] >> (24 - 8 * i));
	}
	b[32] = 0x50;
	b[33] = flags | (flags & PKT_TCP_SYN && to_server ? 0 : PKT_TCP_ACK);
	b[34] = 0xff;
	b[35] = 0xff;
	if (n)
		memcpy(b + 40, d, n);
	k->seq[s] +=
		(uint32_t)n + ((flags & (PKT_TCP_SYN | PKT_TCP_FIN)) ? 1 : 0);
	memset(&p, 0, sizeof(p)); /* pkt_decode_ip keeps the VLAN fields */
	cr_assert_eq(pkt_decode_ip(&p, b, len), 0);
	now_us += 1000;
	cr_assert_eq(engine_process(eng, &p, now_us, now_us), 0);
	return engine_packet_verdict(eng);
}

static enum engine_verdict sendip(struct conn *k, int to_server, uint8_t flags,
				  const char *d)
{
	return sendipn(k, to_server, flags, d, d ? strlen(d) : 0);
}

static void tcp_open_ip(struct conn *k, const char *cli, const char *srv,
			uint16_t port)
{
	conn_init(k, cli, srv, 40001, port, IPPROTO_TCP);
	sendip(k, 1, PKT_TCP_SYN, NULL);
	sendip(k, 0, PKT_TCP_SYN, NULL);
	sendip(k, 1, 0, NULL);
}

static const struct erec *find_event(enum dpi_event_kind kind)
{
	for (int i = 0; i < n_ev && i < MAX_REC; i++)
		if (evs[i].kind == kind)
			return &evs[i];
	return NULL;
}

static void start_ndpi(void)
{
	struct verdict_conf vc = { 0 };

	start_conf(&vc);
}

/* NDR 5.2: "port 502 must really be Modbus": HTTP there is denied */
Test(verdict, app_mismatch_denies_the_flow, .fini = teardown)
{
	const struct erec *ev;
	struct conn k;
	enum engine_verdict v = ENGINE_ALLOW;

	load("", "      - { proto: tcp, port: 502, app: [modbus] }\n");
	start_ndpi();
	tcp_open_ip(&k, "10.1.0.1", "10.2.0.1", 502);
	sendip(&k, 1, PKT_TCP_PSH,
	       "GET /index.html HTTP/1.1\r\nHost: plc\r\n"
	       "User-Agent: curl/7.88\r\nAccept: */*\r\n\r\n");
	v = sendip(&k, 0, PKT_TCP_PSH,
		   "HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 2\r\n"
		   "Content-Type: text/html\r\n\r\nok");
	for (int i = 0; i < 6 && v == ENGINE_ALLOW; i++)
		v = sendip(&k, 1, 0, NULL);
	cr_assert_eq(v, ENGINE_DENY);
	ev = find_event(DPI_EV_APP);
	cr_assert_not_null(ev);
	cr_expect_str_eq(ev->rule, "allow[0].app");
	cr_expect(strstr(ev->detail, "HTTP") != NULL, "detail %s", ev->detail);
	/* sticky: later packets of the flow stay denied */
	cr_assert_eq(sendip(&k, 1, PKT_TCP_PSH, "x"), ENGINE_DENY);
}

/* NDR 5.2 */
Test(verdict, app_match_allows_the_flow, .fini = teardown)
{
	/* read holding registers 0..9 of unit 1, and its answer */
	static const uint8_t rq[] = { 0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 10 };
	static const uint8_t rs[] = { 0, 1, 0, 0, 0, 5, 1, 3, 2, 0, 7 };
	struct conn k;

	load("", "      - { proto: tcp, port: 502, app: [modbus] }\n");
	start_ndpi();
	tcp_open_ip(&k, "10.1.0.1", "10.2.0.1", 502);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(sendipn(&k, 1, PKT_TCP_PSH, rq, sizeof(rq)),
			     ENGINE_ALLOW, "request %d", i);
		cr_assert_eq(sendipn(&k, 0, PKT_TCP_PSH, rs, sizeof(rs)),
			     ENGINE_ALLOW, "response %d", i);
	}
	cr_assert_null(find_event(DPI_EV_APP));
	cr_assert_geq(verdict_classify_stats(vd)->done, 1);
}

/* Packets of k until one settles the flow (verdict_packet_settled, as the
 * worker asks after each packet); returns how many settled in total. */
static int count_settled(struct conn *k, const char *const *msgs, int n,
			 enum engine_verdict *last)
{
	int settled = 0;

	for (int i = 0; i < n; i++) {
		verdict_packet_begin(vd);
		*last = sendip(k, i % 2 == 0, msgs[i] ? PKT_TCP_PSH : 0,
			       msgs[i]);
		settled += verdict_packet_settled(vd);
	}
	return settled;
}

/* NDR 5.2: an allowed non-ICS flow on an `app` entry is settled once
 * identified (the worker hands it back to the kernel), exactly once */
Test(verdict, app_flow_settles_once_identified, .fini = teardown)
{
	static const char *const http[] = {
		"GET /index.html HTTP/1.1\r\nHost: hmi\r\n"
		"User-Agent: curl/7.88\r\nAccept: */*\r\n\r\n",
		"HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 2\r\n"
		"Content-Type: text/html\r\n\r\nok",
		NULL,
		NULL,
		NULL,
		NULL,
		NULL,
		NULL,
	};
	enum engine_verdict v;
	struct conn k;

	load("", "      - { proto: tcp, port: 80, app: [http] }\n");
	start_ndpi();
	tcp_open_ip(&k, "10.1.0.1", "10.2.0.1", 80);
	cr_assert_eq(count_settled(&k, http, 8, &v), 1);
	cr_assert_eq(v, ENGINE_ALLOW);
	cr_assert_null(find_event(DPI_EV_APP));
}

/* NDR 5.2: flows that keep a parser never settle: a Modbus flow on an
 * `app: [modbus]` entry, and any flow of an entry with a protocol block */
Test(verdict, parsed_flows_never_settle, .fini = teardown)
{
	static const uint8_t rq[] = { 0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 10 };
	static const uint8_t rs[] = { 0, 1, 0, 0, 0, 5, 1, 3, 2, 0, 7 };
	int settled = 0;
	struct conn k;

	load("", "      - { proto: tcp, port: 502, app: [modbus] }\n");
	start_ndpi();
	tcp_open_ip(&k, "10.1.0.1", "10.2.0.1", 502);
	for (int i = 0; i < 6; i++) {
		verdict_packet_begin(vd);
		cr_assert_eq(sendipn(&k, 1, PKT_TCP_PSH, rq, sizeof(rq)),
			     ENGINE_ALLOW);
		settled += verdict_packet_settled(vd);
		verdict_packet_begin(vd);
		cr_assert_eq(sendipn(&k, 0, PKT_TCP_PSH, rs, sizeof(rs)),
			     ENGINE_ALLOW);
		settled += verdict_packet_settled(vd);
	}
	cr_assert_eq(settled, 0);
}

/* NDR 5.3: a zone that denies mail: SMTP across the conduit is dropped */
Test(verdict, zone_denies_a_category, .fini = teardown)
{
	static const char y[] =
		"version: 1\n"
		"zones:\n"
		"  a: { networks: [10.1.0.0/16], deny-app-categories: [mail, chat, "
		"file-sharing] }\n"
		"  b: { networks: [10.2.0.0/16] }\n"
		"conduits:\n"
		"  - name: ab\n"
		"    from: a\n"
		"    to: b\n"
		"    allow:\n"
		"      - { proto: tcp, port: [25, 80] }\n";
	struct diag_list dl;
	const struct erec *ev;
	struct conn k;
	enum engine_verdict v = ENGINE_ALLOW;

	diag_list_init(&dl);
	cr_assert_eq(policy_load_buffer("t.yaml", y, strlen(y), 0, &pol, &dl),
		     0);
	diag_list_free(&dl);
	start_ndpi();
	/* web is not a denied category: allowed */
	tcp_open_ip(&k, "10.1.0.1", "10.2.0.1", 80);
	sendip(&k, 1, PKT_TCP_PSH,
	       "GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n");
	v = sendip(&k, 0, PKT_TCP_PSH,
		   "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	cr_assert_eq(v, ENGINE_ALLOW);
	cr_assert_null(find_event(DPI_EV_CATEGORY));
	/* SMTP: banner, EHLO, reply */
	tcp_open_ip(&k, "10.1.0.2", "10.2.0.1", 25);
	v = sendip(&k, 0, PKT_TCP_PSH,
		   "220 mail.example.com ESMTP Postfix\r\n");
	if (v == ENGINE_ALLOW)
		v = sendip(&k, 1, PKT_TCP_PSH, "EHLO client.example.com\r\n");
	if (v == ENGINE_ALLOW)
		v = sendip(&k, 0, PKT_TCP_PSH,
			   "250-mail.example.com\r\n250 PIPELINING\r\n");
	if (v == ENGINE_ALLOW)
		v = sendip(&k, 1, PKT_TCP_PSH, "MAIL FROM:<a@example.com>\r\n");
	cr_assert_eq(v, ENGINE_DENY);
	ev = find_event(DPI_EV_CATEGORY);
	cr_assert_not_null(ev);
	cr_expect_str_eq(ev->rule, "zone a.deny-app-categories");
	cr_expect_eq(ev->action, POL_ACT_DENY);
}

/* NDR 5.2, CR 3.5: a scanner banner on port 502 that nDPI cannot name yet
 * is not Modbus either: the port's parser rejects it, so the app entry
 * denies it at once instead of passing it while identification runs */
Test(verdict, app_entry_denies_what_the_port_parser_rejects, .fini = teardown)
{
	struct conn k;

	load("", "      - { proto: tcp, port: 502, app: [modbus] }\n");
	start_ndpi();
	tcp_open_ip(&k, "10.1.0.1", "10.2.0.1", 502);
	cr_assert_eq(sendip(&k, 1, PKT_TCP_PSH, "MGLNDD_10.2.0.1_502\n"),
		     ENGINE_DENY);
	cr_assert_str_eq(last_rule(), "allow[0].app");
	cr_assert_eq(last_action(), POL_ACT_DENY);
}

/* NDR 5.2: a policy swap keeps the flows (engine_rebind): a PDU split across
 * the swap is completed by the kept reassembly and decided by the new
 * policy; a flow refused under the old policy stays refused */
Test(verdict, rebind_keeps_flows_across_a_policy_swap, .fini = teardown)
{
	static const char y2[] = "version: 1\n"
				 "zones:\n"
				 "  a: { networks: [10.1.0.0/16] }\n"
				 "  b: { networks: [10.2.0.0/16] }\n"
				 "conduits:\n"
				 "  - name: ab\n"
				 "    from: a\n"
				 "    to: b\n"
				 "    allow:\n"
				 "      - { modbus: read-write }\n";
	uint8_t d[4] = { 0, 5, 0, 1 }, adu[16];
	struct pol_policy *pol2 = NULL;
	struct verdict_conf vc = { .no_ndpi = true };
	struct verdict *v2;
	struct diag_list dl;
	struct conn k, blocked;
	size_t n;

	load("", "      - { modbus: read-only }\n");
	start();
	tcp_open(&blocked, "10.1.0.2", "10.2.0.1", 502);
	cr_assert_eq(mb_req(&blocked, 1, 6, 5, 1), ENGINE_DENY);
	tcp_open(&k, "10.1.0.1", "10.2.0.1", 502);
	cr_assert_eq(mb_req(&k, 1, 3, 0, 2), ENGINE_ALLOW);
	/* the first 5 bytes of a write of register 5, then the swap */
	n = mb(adu, 1, 6, d, 4);
	cr_assert_eq(req(&k, adu, 5), ENGINE_ALLOW);

	diag_list_init(&dl);
	cr_assert_eq(policy_load_buffer("t2.yaml", y2, strlen(y2), 0, &pol2,
					&dl),
		     0);
	diag_list_free(&dl);
	v2 = verdict_alloc(pol2, &vc);
	cr_assert_not_null(v2);
	engine_rebind(eng); /* the old verdict releases its flow state */
	verdict_attach(v2, eng);
	verdict_set_pdu_cb(v2, on_decision, NULL);
	verdict_free(vd);
	vd = v2;

	/* the rest of the write completes under the new policy */
	cr_assert_eq(req(&k, adu + 5, n - 5), ENGINE_ALLOW);
	cr_assert_str_eq(last_rule(), "allow[0].modbus");
	cr_assert_eq(dec[n_dec - 1].dir, DPI_DIR_REQUEST);
	/* the flow refused before the swap stays refused */
	cr_assert_eq(mb_req(&blocked, 1, 3, 0, 1), ENGINE_DENY);
	engine_free(eng);
	eng = NULL;
	verdict_free(vd); /* before the policy it borrows */
	vd = NULL;
	policy_free(pol2);
}
