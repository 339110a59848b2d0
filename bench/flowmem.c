/*
 * bench/flowmem: memory of the DPI path at N concurrent flows. Synthetic
 * flows go through the engine (and the verdict module, modes decode and
 * policy) with a flow table sized for them: each TCP flow a handshake,
 * one Modbus read request, its response and the client's ACK (so it ends
 * idle in ESTABLISHED with nothing in flight, the steady state of a
 * polled connection); each UDP flow one DNP3 read request to port 20000.
 * Every flow stays open (times advance 1 us per packet, far from any
 * timeout).
 *
 *   flowmem [-m engine|decode|policy] [-P policy.yaml] [-n flows]
 *           [-u udp_percent] [-s stream_bytes] [-d max_dnp3]
 *           [-S ndpi_slots] [-f max_flows]
 *
 * Reports peak RSS (getrusage ru_maxrss and VmHWM), RSS and heap bytes
 * (mallinfo2) before the engine, after engine_alloc (empty engine) and
 * after the flows, bytes per flow, and the allocation of each pool
 * measured on its own (flow table with user areas, stream buffer pool,
 * DNP3 transport pool, nDPI module with its slots). Addresses: clients
 * 10.0.0.0/8, servers 192.168.0.0/24 (zones 0.0.0.0/1 and 128.0.0.0/1 of
 * bench/policies/flowmem.yaml).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "dpi/engine.h"
#include "dpi/flow.h"
#include "dpi/pkt.h"
#include "dpi/proto/dnp3.h"
#include "dpi/stream.h"
#ifdef BENCH_HAVE_VERDICT
#include "common/diag.h"
#include "dpi/classify.h"
#include "dpi/verdict.h"
#include "policy/model.h"
#endif

enum mode { MODE_ENGINE, MODE_DECODE, MODE_POLICY };

struct mem {
	long rss_kb, hwm_kb;
	size_t heap; /* mallinfo2: in use, brk arena + mmap */
};

static long status_kb(const char *key)
{
	char line[256];
	size_t kl = strlen(key);
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, kl) == 0)
			v = atol(line + kl);
	if (f != NULL)
		fclose(f);
	return v;
}

static size_t heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static void mem_take(struct mem *m)
{
	m->rss_kb = status_kb("VmRSS:");
	m->hwm_kb = status_kb("VmHWM:");
	m->heap = heap_bytes();
}

static uint16_t ip_csum(const uint8_t *h, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)h[i] << 8 | h[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static void put32(uint8_t *b, uint32_t v)
{
	put16(b, (uint16_t)(v >> 16));
	put16(b + 2, (uint16_t)v);
}

/* An IPv4 packet with a TCP (l4 6) or UDP (17) header and payload in b;
 * returns its length. */
static size_t build(uint8_t *b, uint8_t l4, uint32_t src, uint32_t dst,
		    uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
		    uint8_t flags, const uint8_t *pl, size_t plen)
{
	size_t l4len = l4 == IPPROTO_TCP ? 20 : 8;
	size_t len = 20 + l4len + plen;

	memset(b, 0, 20 + l4len);
	b[0] = 0x45;
	put16(b + 2, (uint16_t)len);
	b[8] = 64;
	b[9] = l4;
	put32(b + 12, src);
	put32(b + 16, dst);
	put16(b + 10, ip_csum(b, 20));
	put16(b + 20, sport);
	put16(b + 22, dport);
	if (l4 == IPPROTO_TCP) {
		put32(b + 24, seq);
		put32(b + 28, ack);
		b[32] = 5 << 4;
		b[33] = flags;
		put16(b + 34, 65535);
	} else {
		put16(b + 24, (uint16_t)(8 + plen));
	}
	if (plen)
		memcpy(b + 20 + l4len, pl, plen);
	return len;
}

struct gen {
	struct engine *e;
	uint64_t now;
	uint64_t errors; /* engine_process < 0 */
};

static void feed(struct gen *g, const uint8_t *b, size_t len)
{
	struct pkt p = { 0 };

	if (pkt_decode_ip(&p, b, len) < 0) {
		fprintf(stderr, "flowmem: generator built a bad packet: %s\n",
			p.error ? p.error : "?");
		exit(1);
	}
	if (engine_process(g->e, &p, g->now++, 0) < 0)
		g->errors++;
}

static void tcp_flow(struct gen *g, uint32_t cli, uint32_t srv, uint16_t cport,
		     uint16_t tid)
{
	/* read holding registers 0..1 of unit 1, and the answer */
	uint8_t req[12] = { 0, 0, 0, 0, 0, 6, 1, 3, 0, 0, 0, 2 };
	uint8_t rsp[13] = { 0, 0, 0, 0, 0, 7, 1, 3, 4, 0, 1, 0, 2 };
	uint8_t b[128];
	const uint32_t ci = 1000, si = 5000;

	put16(req, tid);
	put16(rsp, tid);
	feed(g, b,
	     build(b, IPPROTO_TCP, cli, srv, cport, 502, ci, 0, PKT_TCP_SYN,
		   NULL, 0));
	feed(g, b,
	     build(b, IPPROTO_TCP, srv, cli, 502, cport, si, ci + 1,
		   PKT_TCP_SYN | PKT_TCP_ACK, NULL, 0));
	feed(g, b,
	     build(b, IPPROTO_TCP, cli, srv, cport, 502, ci + 1, si + 1,
		   PKT_TCP_ACK, NULL, 0));
	feed(g, b,
	     build(b, IPPROTO_TCP, cli, srv, cport, 502, ci + 1, si + 1,
		   PKT_TCP_PSH | PKT_TCP_ACK, req, sizeof(req)));
	feed(g, b,
	     build(b, IPPROTO_TCP, srv, cli, 502, cport, si + 1,
		   ci + 1 + sizeof(req), PKT_TCP_PSH | PKT_TCP_ACK, rsp,
		   sizeof(rsp)));
	feed(g, b,
	     build(b, IPPROTO_TCP, cli, srv, cport, 502, ci + 1 + sizeof(req),
		   si + 1 + sizeof(rsp), PKT_TCP_ACK, NULL, 0));
}

/* DNP3 read of class 0 (g60v1, qualifier 06) from master 3 to outstation
 * 4: one link frame, CRCs computed. */
static void udp_flow(struct gen *g, uint32_t cli, uint32_t srv, uint16_t cport)
{
	uint8_t f[10 + 6 + 2] = { 0x05, 0x64, 11, 0xc4, 4, 0, 3, 0 };
	static const uint8_t ud[6] = { 0xc0, 0xc0, 0x01, 0x3c, 0x01, 0x06 };
	uint8_t b[128];
	uint16_t crc;

	crc = dnp3_crc(f, 8);
	f[8] = (uint8_t)crc;
	f[9] = (uint8_t)(crc >> 8);
	memcpy(f + 10, ud, sizeof(ud));
	crc = dnp3_crc(ud, sizeof(ud));
	f[16] = (uint8_t)crc;
	f[17] = (uint8_t)(crc >> 8);
	feed(g, b,
	     build(b, IPPROTO_UDP, cli, srv, cport, 20000, 0, 0, 0, f,
		   sizeof(f)));
}

static void usage(void)
{
	fprintf(stderr,
		"usage: flowmem [-m engine|decode|policy] [-P policy.yaml] "
		"[-n flows] [-u udp_percent] [-s stream_bytes] "
		"[-d max_dnp3] [-S ndpi_slots] [-f max_flows]\n");
	exit(2);
}

static const char *mode_name(enum mode m)
{
	return m == MODE_ENGINE ? "engine" :
	       m == MODE_DECODE ? "decode" :
				  "policy";
}

static double mib(size_t b)
{
	return (double)b / (1024.0 * 1024.0);
}

/* Allocation of each pool on its own, as engine_alloc sizes them for
 * this configuration (defaults of flow_conf_defaults and engine.c). */
static void pools(const struct engine_conf *ec, size_t ndpi_slots, int ndpi)
{
	struct flow_conf fc;
	struct flow_table *t;
	size_t h0, h1, fmem, smem;

	flow_conf_defaults(&fc, (uint32_t)ec->max_flows);
	/* engine.c: its 16-byte per-flow state, then the hook area */
	fc.user_size = (uint32_t)(16 + ec->hook_user_size);
	if (ec->stream_bytes)
		fc.stream.large_size = (uint32_t)ec->stream_bytes;
	h0 = heap_bytes();
	t = flow_table_alloc(&fc, NULL, NULL);
	h1 = heap_bytes();
	if (t == NULL) {
		fprintf(stderr, "flowmem: flow_table_alloc: %s\n",
			strerror(errno));
		return;
	}
	fmem = flow_table_memory(t);
	smem = stream_pool_memory(flow_table_stream_pool(t));
	printf("pool flow_table bytes=%zu (%.2f MiB) sizeof_flow=%zu "
	       "user_area=%u buckets=yes per_flow=%.0f heap_delta=%zu\n",
	       fmem - smem, mib(fmem - smem), sizeof(struct flow),
	       (fc.user_size + 15) & ~15u,
	       (double)(fmem - smem) / (double)ec->max_flows, h1 - h0);
	printf("pool stream bytes=%zu (%.2f MiB) small=%ux%u large=%ux%u\n",
	       smem, mib(smem), fc.stream.small_bufs, fc.stream.small_size,
	       fc.stream.large_bufs, fc.stream.large_size);
	flow_table_free(t);
	{
		size_t n = ec->max_dnp3 ? ec->max_dnp3 : 256;
		size_t b = n * (2 * sizeof(struct dnp3_tp) + sizeof(uint32_t));

		printf("pool dnp3 bytes=%zu (%.2f MiB) slots=%zu "
		       "sizeof_dnp3_tp=%zu\n",
		       b, mib(b), n, sizeof(struct dnp3_tp));
	}
#ifdef BENCH_HAVE_VERDICT
	if (ndpi) {
		struct classify *c;

		h0 = heap_bytes();
		c = classify_alloc(ndpi_slots);
		h1 = heap_bytes();
		if (c != NULL)
			printf("pool ndpi bytes=%zu (%.2f MiB) slots=%zu "
			       "(nDPI module included)\n",
			       h1 - h0, mib(h1 - h0),
			       ndpi_slots ? ndpi_slots :
					    (size_t)CLASSIFY_DEFAULT_SLOTS);
		classify_free(c);
	}
#else
	(void)ndpi_slots;
	(void)ndpi;
#endif
}

int main(int argc, char **argv)
{
	struct engine_conf ec = { 0 };
	enum mode mode = MODE_ENGINE;
	const char *policy_path = NULL;
	size_t n = 10000, ndpi_slots = 0, max_flows = 0;
	int udp_pct = 20, c;
	struct mem m0, m1, m2;
	struct rusage ru;
	struct gen g = { .now = 1000000 };
	const struct engine_stats *st;
	size_t n_udp, n_tcp;
#ifdef BENCH_HAVE_VERDICT
	struct verdict_conf vc = { 0 };
	struct pol_policy *pol = NULL;
	struct verdict *v = NULL;
#endif

	while ((c = getopt(argc, argv, "m:P:n:u:s:d:S:f:")) != -1) {
		switch (c) {
		case 'm':
			if (strcmp(optarg, "engine") == 0)
				mode = MODE_ENGINE;
			else if (strcmp(optarg, "decode") == 0)
				mode = MODE_DECODE;
			else if (strcmp(optarg, "policy") == 0)
				mode = MODE_POLICY;
			else
				usage();
			break;
		case 'P':
			policy_path = optarg;
			break;
		case 'n':
			n = strtoul(optarg, NULL, 10);
			break;
		case 'u':
			udp_pct = atoi(optarg);
			break;
		case 's':
			ec.stream_bytes = strtoul(optarg, NULL, 10);
			break;
		case 'd':
			ec.max_dnp3 = strtoul(optarg, NULL, 10);
			break;
		case 'S':
			ndpi_slots = strtoul(optarg, NULL, 10);
			break;
		case 'f':
			max_flows = strtoul(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	if (optind != argc || n == 0 || n > 4000000 || udp_pct < 0 ||
	    udp_pct > 100)
		usage();
	if (mode == MODE_POLICY && policy_path == NULL) {
		fprintf(stderr, "flowmem: -m policy needs -P FILE\n");
		return 2;
	}
	/* the table exactly as big as the flows: a full table would refuse
	 * (flow_pool_full), which the report shows */
	ec.max_flows = max_flows ? max_flows : n;
	n_udp = n * (size_t)udp_pct / 100;
	n_tcp = n - n_udp;

#ifndef BENCH_HAVE_VERDICT
	if (mode != MODE_ENGINE) {
		fprintf(stderr,
			"flowmem: mode %s: built without the verdict "
			"module (-DBENCH_HAVE_VERDICT)\n",
			mode_name(mode));
		return 2;
	}
#else
	if (mode == MODE_POLICY) {
		struct diag_list dl;
		int r;

		diag_list_init(&dl);
		r = policy_load_file(policy_path, 0, &pol, &dl);
		if (r < 0) {
			diag_print(&dl, stderr);
			fprintf(stderr, "flowmem: policy %s: %s\n", policy_path,
				strerror(-r));
			diag_list_free(&dl);
			return 1;
		}
		diag_list_free(&dl);
	}
	if (mode != MODE_ENGINE) {
		ec.hook_user_size = verdict_flow_size();
		vc.ndpi_slots = ndpi_slots;
	}
#endif
	mem_take(&m0);
	g.e = engine_alloc(&ec);
	if (g.e == NULL) {
		fprintf(stderr, "flowmem: engine_alloc of %zu flows: %s\n",
			ec.max_flows, strerror(errno));
		return 1;
	}
#ifdef BENCH_HAVE_VERDICT
	if (mode != MODE_ENGINE) {
		v = verdict_alloc(pol, &vc);
		if (v == NULL) {
			fprintf(stderr, "flowmem: verdict_alloc: %s\n",
				strerror(errno));
			return 1;
		}
		verdict_attach(v, g.e);
	}
#endif
	mem_take(&m1);
	for (size_t i = 0; i < n; i++) {
		/* 10.0.0.1 + i, 250 ports each; 16 servers */
		uint32_t cli = 0x0a000001u + (uint32_t)(i / 250);
		uint16_t cport = (uint16_t)(20000 + i % 250 * 7 + 1);
		uint32_t srv = 0xc0a80001u + (uint32_t)(i % 16);

		if (i < n_tcp)
			tcp_flow(&g, cli, srv, cport, (uint16_t)i);
		else
			udp_flow(&g, cli, srv, cport);
	}
	mem_take(&m2);
	getrusage(RUSAGE_SELF, &ru);
	st = engine_get_stats(g.e);

	printf("mode=%s flows=%zu tcp=%zu udp=%zu max_flows=%zu "
	       "hook_user_size=%zu\n",
	       mode_name(mode), n, n_tcp, n_udp, ec.max_flows,
	       ec.hook_user_size);
	printf("engine flows_created=%llu flow_pool_full=%llu "
	       "state_pool_full=%llu pdus=%llu errors=%llu "
	       "process_errors=%llu\n",
	       (unsigned long long)st->flows,
	       (unsigned long long)st->flow_pool_full,
	       (unsigned long long)st->state_pool_full,
	       (unsigned long long)(st->pdus[ENGINE_PROTO_MODBUS] +
				    st->pdus[ENGINE_PROTO_DNP3]),
	       (unsigned long long)(st->errors[ENGINE_PROTO_MODBUS] +
				    st->errors[ENGINE_PROTO_DNP3]),
	       (unsigned long long)g.errors);
#ifdef BENCH_HAVE_VERDICT
	if (v != NULL) {
		const struct classify_stats *cs = verdict_classify_stats(v);
		const struct verdict_stats *vs = verdict_get_stats(v);

		if (cs != NULL)
			printf("ndpi packets=%llu done=%llu unknown=%llu "
			       "no_slot=%llu\n",
			       (unsigned long long)cs->packets,
			       (unsigned long long)cs->done,
			       (unsigned long long)cs->unknown,
			       (unsigned long long)cs->no_slot);
		printf("verdict flows_bound=%llu allow=%llu deny=%llu\n",
		       (unsigned long long)vs->flows_bound,
		       (unsigned long long)vs->pdus[POL_ACT_ALLOW],
		       (unsigned long long)vs->pdus[POL_ACT_DENY]);
	}
#endif
	printf("rss_kb before=%ld empty_engine=%ld after_flows=%ld\n",
	       m0.rss_kb, m1.rss_kb, m2.rss_kb);
	printf("peak ru_maxrss_kb=%ld vmhwm_kb=%ld peak_mib=%.1f\n",
	       ru.ru_maxrss, m2.hwm_kb, (double)m2.hwm_kb / 1024.0);
	printf("heap_bytes engine_alloc=%zu (%.2f MiB) flows_added=%zu\n",
	       m1.heap - m0.heap, mib(m1.heap - m0.heap), m2.heap - m1.heap);
	printf("per_flow rss_over_empty=%.0f rss_over_before=%.0f "
	       "alloc=%.0f bytes\n",
	       (double)(m2.rss_kb - m1.rss_kb) * 1024.0 / (double)n,
	       (double)(m2.rss_kb - m0.rss_kb) * 1024.0 / (double)n,
	       (double)(m1.heap - m0.heap) / (double)n);
#ifdef BENCH_HAVE_VERDICT
	engine_free(g.e); /* ends the flows through the verdict's hooks */
	verdict_free(v);
	policy_free(pol);
#else
	engine_free(g.e);
#endif
	pools(&ec, ndpi_slots, mode != MODE_ENGINE);
	return 0;
}
