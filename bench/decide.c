/*
 * bench/decide: throughput of the DPI decision path on one core. The
 * capture is read into memory first; each pass then runs every frame
 * through replay_link_decode and the engine (with the verdict module in
 * modes decode and policy), exactly as `conduitctl replay` does, and the
 * time of the packet loop alone is taken. Every pass gets a fresh engine
 * (and verdict) allocated and freed outside the timed loop, so every pass
 * classifies its flows from scratch, like ndpi_bench. One extra warm-up
 * pass is not counted.
 *
 *   decide [-m engine|decode|policy] [-P policy.yaml] [-p passes]
 *          [-w warmup] [-R] capture
 *
 *   engine  engine alone, the built-in port classifier, no verdict module
 *   decode  verdict_alloc(NULL): nDPI identification, parsers, no rules
 *   policy  verdict_alloc(policy): every PDU decided by the conduit rules
 *   -R      one verdict instance for all passes, attached to each fresh
 *           engine (nDPI's init outside the pass loop altogether)
 *
 * Prints one line of key=value pairs (ns per packet: median, min, max of
 * the passes; packets/s of the median) and the counters of the last pass.
 * The verdict modes need the verdict module: build with
 * -DBENCH_HAVE_VERDICT (bench/dpi.sh does when src/dpi/verdict.c has it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dpi/engine.h"
#include "dpi/replay.h"
#ifdef BENCH_HAVE_VERDICT
#include "common/diag.h"
#include "dpi/verdict.h"
#include "policy/model.h"
#endif

enum mode { MODE_ENGINE, MODE_DECODE, MODE_POLICY };

struct frame {
	uint64_t now_us;
	size_t off; /* into capture.bytes */
	uint32_t len;
};

struct capture {
	int dlt;
	size_t n, cap;
	struct frame *f;
	uint8_t *bytes;
	size_t nbytes, bytes_cap;
};

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t c = *cap ? *cap : 1024;
	void *q;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	q = realloc(*p, c * elem);
	if (q == NULL)
		return -ENOMEM;
	*p = q;
	*cap = c;
	return 0;
}

static int capture_load(const char *path, struct capture *c)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	pcap_t *pc;
	int r;

	pc = pcap_open_offline(path, err);
	if (pc == NULL) {
		fprintf(stderr, "decide: %s\n", err);
		return -1;
	}
	c->dlt = pcap_datalink(pc);
	if (!replay_link_supported(c->dlt)) {
		fprintf(stderr, "decide: %s: unsupported link type %d\n", path,
			c->dlt);
		pcap_close(pc);
		return -1;
	}
	while ((r = pcap_next_ex(pc, &h, &data)) == 1) {
		if (grow((void **)&c->f, &c->cap, c->n + 1, sizeof(*c->f)) ||
		    grow((void **)&c->bytes, &c->bytes_cap,
			 c->nbytes + h->caplen, 1)) {
			fprintf(stderr, "decide: %s: out of memory\n", path);
			pcap_close(pc);
			return -1;
		}
		c->f[c->n].now_us = (uint64_t)h->ts.tv_sec * 1000000 +
				    (uint64_t)h->ts.tv_usec;
		c->f[c->n].off = c->nbytes;
		c->f[c->n].len = h->caplen;
		memcpy(c->bytes + c->nbytes, data, h->caplen);
		c->nbytes += h->caplen;
		c->n++;
	}
	if (r == -1) {
		fprintf(stderr, "decide: %s: frame %zu: %s\n", path, c->n + 1,
			pcap_geterr(pc));
		pcap_close(pc);
		return -1;
	}
	pcap_close(pc);
	if (c->n == 0) {
		fprintf(stderr, "decide: %s: no frames\n", path);
		return -1;
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void usage(void)
{
	fprintf(stderr, "usage: decide [-m engine|decode|policy] "
			"[-P policy.yaml] [-p passes] [-w warmup] [-R] "
			"capture\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct engine_conf ec = { .resync_on_gap = true };
	enum mode mode = MODE_ENGINE;
	const char *policy_path = NULL;
	int passes = 20, warmup = 1, reuse = 0, c;
	struct capture cap = { 0 };
	double *ns;
	struct engine_stats last = { 0 };
#ifdef BENCH_HAVE_VERDICT
	struct verdict_conf vc = { 0 };
	struct pol_policy *pol = NULL;
	struct verdict *v = NULL;
	struct verdict_stats vlast = { 0 }, vprev = { 0 };
#endif

	while ((c = getopt(argc, argv, "m:P:p:w:R")) != -1) {
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
		case 'p':
			passes = atoi(optarg);
			break;
		case 'w':
			warmup = atoi(optarg);
			break;
		case 'R':
			reuse = 1;
			break;
		default:
			usage();
		}
	}
	if (optind + 1 != argc || passes < 1 || warmup < 0)
		usage();
	if (mode == MODE_POLICY && policy_path == NULL) {
		fprintf(stderr, "decide: -m policy needs -P FILE\n");
		return 2;
	}
#ifndef BENCH_HAVE_VERDICT
	if (mode != MODE_ENGINE) {
		fprintf(stderr,
			"decide: mode %s: built without the verdict "
			"module (-DBENCH_HAVE_VERDICT)\n",
			mode == MODE_DECODE ? "decode" : "policy");
		return 2;
	}
	(void)reuse;
#else
	if (mode == MODE_POLICY) {
		struct diag_list dl;
		int r;

		diag_list_init(&dl);
		r = policy_load_file(policy_path, 0, &pol, &dl);
		if (r < 0) {
			diag_print(&dl, stderr);
			fprintf(stderr, "decide: policy %s: %s\n", policy_path,
				strerror(-r));
			diag_list_free(&dl);
			return 1;
		}
		diag_list_free(&dl);
	}
	if (mode != MODE_ENGINE)
		ec.hook_user_size = verdict_flow_size();
#endif
	/* Keep freed engines in the heap: the next pass then reuses warm
	 * pages instead of faulting in fresh mmap()ed ones while timed. */
	mallopt(M_MMAP_THRESHOLD, 512 << 20);
	mallopt(M_TRIM_THRESHOLD, 1024 << 20);
	if (capture_load(argv[optind], &cap) < 0)
		return 1;
	ns = calloc((size_t)passes, sizeof(*ns));
	if (ns == NULL) {
		fprintf(stderr, "decide: out of memory\n");
		return 1;
	}

	for (int pass = -warmup; pass < passes; pass++) {
		struct engine *e = engine_alloc(&ec);
		double t0, t1;

		if (e == NULL) {
			fprintf(stderr, "decide: engine_alloc: %s\n",
				strerror(errno));
			return 1;
		}
#ifdef BENCH_HAVE_VERDICT
		if (mode != MODE_ENGINE) {
			if (v == NULL) {
				v = verdict_alloc(pol, &vc);
				if (v == NULL) {
					fprintf(stderr,
						"decide: verdict_alloc: %s\n",
						strerror(errno));
					return 1;
				}
			}
			verdict_attach(v, e);
		}
#endif
		t0 = now_ns();
		for (size_t i = 0; i < cap.n; i++) {
			const struct frame *f = &cap.f[i];
			struct pkt p = { 0 };
			int d;

			d = replay_link_decode(cap.dlt, cap.bytes + f->off,
					       f->len, &p);
			if (d < 0) {
				engine_count_undecoded(e, d);
				continue;
			}
			engine_process(e, &p, f->now_us, i + 1);
			(void)engine_packet_verdict(e);
#ifdef BENCH_HAVE_VERDICT
			if (v != NULL)
				verdict_tick(v, f->now_us);
#endif
		}
		t1 = now_ns();
		if (pass >= 0)
			ns[pass] = (t1 - t0) / (double)cap.n;
		last = *engine_get_stats(e);
#ifdef BENCH_HAVE_VERDICT
		if (v != NULL) {
			struct verdict_stats now;

			verdict_flush(v);
			now = *verdict_get_stats(v);
			/* -R: the instance counts over all passes; keep this
			 * pass's share */
			vlast.flows_bound = now.flows_bound - vprev.flows_bound;
			for (int k = 0; k < 3; k++)
				vlast.pdus[k] = now.pdus[k] - vprev.pdus[k];
			vprev = reuse ? now : (struct verdict_stats){ 0 };
		}
		engine_free(e);
		if (v != NULL && !reuse) {
			verdict_free(v);
			v = NULL;
		}
#else
		engine_free(e);
#endif
	}

	{
		double med, sorted_min, sorted_max;
		uint64_t pdus = 0, errors = 0;

		qsort(ns, (size_t)passes, sizeof(*ns), cmp_double);
		med = passes % 2 ? ns[passes / 2] :
				   (ns[passes / 2 - 1] + ns[passes / 2]) / 2;
		sorted_min = ns[0];
		sorted_max = ns[passes - 1];
		for (int i = 1; i < ENGINE_PROTO_MAX; i++) {
			pdus += last.pdus[i];
			errors += last.errors[i];
		}
		printf("capture=%s mode=%s packets=%zu passes=%d "
		       "ns_median=%.1f ns_min=%.1f ns_max=%.1f pps=%.0f "
		       "flows=%llu pdus=%llu pdu_errors=%llu "
		       "unclassified=%llu not_ip=%llu pool_full=%llu "
		       "pkt_allow=%llu pkt_deny=%llu pkt_reject=%llu",
		       argv[optind],
		       mode == MODE_ENGINE ? "engine" :
		       mode == MODE_DECODE ? "decode" :
					     "policy",
		       cap.n, passes, med, sorted_min, sorted_max, 1e9 / med,
		       (unsigned long long)last.flows, (unsigned long long)pdus,
		       (unsigned long long)errors,
		       (unsigned long long)last.unclassified,
		       (unsigned long long)last.not_ip,
		       (unsigned long long)(last.flow_pool_full +
					    last.state_pool_full),
		       (unsigned long long)last.verdicts[ENGINE_ALLOW],
		       (unsigned long long)last.verdicts[ENGINE_DENY],
		       (unsigned long long)last.verdicts[ENGINE_REJECT]);
#ifdef BENCH_HAVE_VERDICT
		if (mode != MODE_ENGINE)
			printf(" flows_bound=%llu decided_allow=%llu "
			       "decided_deny=%llu decided_reject=%llu",
			       (unsigned long long)vlast.flows_bound,
			       (unsigned long long)vlast.pdus[POL_ACT_ALLOW],
			       (unsigned long long)vlast.pdus[POL_ACT_DENY],
			       (unsigned long long)vlast.pdus[POL_ACT_REJECT]);
#endif
		putchar('\n');
	}
#ifdef BENCH_HAVE_VERDICT
	verdict_free(v);
	policy_free(pol);
#endif
	free(ns);
	free(cap.f);
	free(cap.bytes);
	return 0;
}
