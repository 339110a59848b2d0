/*
 * libFuzzer harness for the whole decision path: packet bytes -> link
 * layer -> IP/TCP/UDP -> flow table -> TCP reassembly -> protocol parser
 * -> conduit rules (verdict.c, a built-in policy with one inspected entry
 * per protocol) -> packet verdict. The input is a sequence of packets:
 * [link type selector][2-byte length][bytes]..., all in one engine, so
 * reassembly and per-flow state are exercised across packets. Every PDU
 * record, decision, event and packet verdict is checked for sanity. nDPI
 * stays off: its detection module costs more to set up than a run.
 */
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "dpi/engine.h"
#include "dpi/replay.h"
#include "dpi/verdict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int links[] = { DLT_EN10MB, DLT_RAW, DLT_LINUX_SLL, DLT_NULL };

static void check_pdu(const struct engine_pdu *pdu)
{
	if (pdu->proto <= ENGINE_PROTO_NONE || pdu->proto >= ENGINE_PROTO_MAX)
		abort();
	if (pdu->broken && pdu->error == NULL)
		abort();
	if (pdu->proto == ENGINE_PROTO_DNP3 && pdu->u.dnp3.app &&
	    pdu->u.dnp3.app->n_objects > DNP3_MAX_OBJECTS)
		abort();
	if (pdu->proto == ENGINE_PROTO_ENIP && pdu->u.enip &&
	    pdu->u.enip->n_cip > ENIP_MAX_CIP)
		abort();
	(void)engine_proto_name(pdu->proto);
}

/* Two zones splitting each address family in halves, a conduit each way
 * with one inspected entry per protocol (rules, limits, presets). */
static const char policy_yaml[] =
	"version: 1\n"
	"zones:\n"
	"  lo: { networks: [0.0.0.0/1, '::/1'] }\n"
	"  hi: { networks: [128.0.0.0/1, '8000::/1'], intra-zone: allow }\n"
	"conduits:\n"
	"  - name: up\n"
	"    from: lo\n"
	"    to: hi\n"
	"    allow:\n"
	"      - proto: tcp\n"
	"        port: 502\n"
	"        modbus:\n"
	"          preset: read-write\n"
	"          unit-ids: [1-10]\n"
	"          holding-registers: { read: 0-999, write: 100-199 }\n"
	"          rules:\n"
	"            - { action: reject, functions: [8] }\n"
	"            - { action: deny, coils: { write: 0-9 } }\n"
	"          rate-limits:\n"
	"            - { functions: [6, 16], rate: 5/second, per: source }\n"
	"            - { functions: [3], rate: 50/second, per: flow }\n"
	"      - proto: tcp\n"
	"        port: 20000\n"
	"        dnp3:\n"
	"          preset: operate\n"
	"          objects: [{ group: 12, indexes: 0-15 }]\n"
	"      - proto: udp\n"
	"        port: 20000\n"
	"        dnp3: { preset: read-only, outstations: [1-100] }\n"
	"      - proto: tcp\n"
	"        port: 2404\n"
	"        iec104:\n"
	"          preset: monitor-only\n"
	"          type-ids: [45]\n"
	"          ioas: [1-5000]\n"
	"          rate-limits:\n"
	"            - { type-ids: [45], rate: 2/minute, per: conduit }\n"
	"      - proto: tcp\n"
	"        port: 102\n"
	"        s7comm: { preset: read-only }\n"
	"      - proto: tcp\n"
	"        port: 44818\n"
	"        enip:\n"
	"          preset: read-only\n"
	"          classes: [1-0x100]\n"
	"          rules:\n"
	"            - { action: deny, classes: [0x6b] }\n"
	"      - { proto: udp, port: 2222 }\n"
	"  - name: down\n"
	"    from: hi\n"
	"    to: lo\n"
	"    malformed: allow\n"
	"    allow:\n"
	"      - proto: tcp\n"
	"        port: 502\n"
	"        modbus: { preset: all }\n"
	"      - { proto: tcp, port: 102 }\n";

static struct pol_policy *policy(void)
{
	static struct pol_policy *p;
	struct diag_list dl;

	if (p != NULL)
		return p;
	diag_list_init(&dl);
	if (policy_load_buffer("fuzz", policy_yaml, sizeof(policy_yaml) - 1, 0,
			       &p, &dl) != 0) {
		for (size_t i = 0; i < dl.n; i++) /* it must stay valid */
			fprintf(stderr, "fuzz policy %d:%d: %s\n", dl.v[i].line,
				dl.v[i].col, dl.v[i].msg);
		abort();
	}
	diag_list_free(&dl);
	return p;
}

static void on_decision(const struct engine_pdu *pdu,
			const struct verdict_decision *d, void *arg)
{
	bool decided = *(const bool *)arg;

	check_pdu(pdu);
	if ((unsigned)d->action > POL_ACT_REJECT || d->bound != decided ||
	    (decided && d->rule == NULL) || d->app == NULL)
		abort();
	if (d->service >= 0 &&
	    (d->conduit == NULL || (size_t)d->service >= d->conduit->n_allow))
		abort();
}

static void on_event(const struct dpi_event *ev, void *arg)
{
	(void)arg;
	if (ev->count == 0 || ev->rule == NULL || ev->proto == NULL ||
	    ev->first_us > ev->last_us ||
	    memchr(ev->detail, '\0', sizeof(ev->detail)) == NULL)
		abort();
	(void)dpi_event_kind_name(ev->kind);
}

/* CR 3.5 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct engine *e;
	struct engine_conf conf = { .max_flows = 64,
				    .max_dnp3 = 4,
				    .resync_on_gap = true,
				    .hook_user_size = verdict_flow_size() };
	struct verdict_conf vc = { .no_ndpi = true, .rate_buckets = 16 };
	struct verdict *v;
	bool decided;
	size_t off = 0;
	uint64_t now = 1;

	if (size < 1)
		return 0;
	/* a fresh engine per input keeps runs independent and reproducible */
	conf.resync_on_gap = data[0] & 1;
	decided = (data[0] & 2) == 0; /* else decode only, no policy */
	e = engine_alloc(&conf);
	v = verdict_alloc(decided ? policy() : NULL, &vc);
	if (e == NULL || v == NULL)
		abort();
	verdict_attach(v, e);
	verdict_set_pdu_cb(v, on_decision, &decided);
	verdict_set_event_cb(v, on_event, NULL);
	off = 1;
	while (off + 3 <= size) {
		int dlt = links[data[off] & 3];
		size_t n = (size_t)data[off + 1] << 8 | data[off + 2];
		struct pkt p;
		int rc;

		off += 3;
		if (n > size - off)
			n = size - off;
		memset(&p, 0, sizeof(p));
		rc = replay_link_decode(dlt, data + off, n, &p);
		if (rc == 0) {
			if (p.payload_len > n ||
			    (p.payload &&
			     (p.payload < data + off ||
			      p.payload + p.payload_len > data + off + n)))
				abort();
			engine_process(e, &p, now, now);
			if ((unsigned)engine_packet_verdict(e) > ENGINE_REJECT)
				abort();
			verdict_tick(v, now);
		} else {
			if (p.error == NULL)
				abort();
			engine_count_undecoded(e, rc);
		}
		now += 1000;
		off += n;
	}
	verdict_flush(v);
	engine_free(e);
	verdict_free(v);
	e = NULL;
	return 0;
}
