/*
 * audit_drive: drives the real audit pipeline of conduitd (src/audit:
 * audit_open/audit_start/audit_emit/audit_close, the code the daemon runs:
 * writer thread, chain, spool, sender thread, TLS) for bench/audit.sh,
 * and times spool_append alone.
 *
 *   audit_drive pipeline DIR COUNT FSYNC_MS HOST PORT CA CERT KEY NAME RUN
 *   audit_drive append DIR COUNT FSYNC_MS
 *
 * pipeline: COUNT FLOW_DENIED events shaped like the daemon's, emitted as
 * fast as the writer takes them (the queue is kept below half full, so
 * none is dropped), until the collector's backlog is 0: every record
 * proven delivered. Prints one line of key=value (events, seconds, rate,
 * cpu_s, drops, resent). FSYNC_MS 0 = fdatasync per record.
 * append: COUNT records of 480 bytes into a fresh spool; us per record.
 * Built by bench/audit.sh against libconduit.a of a non-sanitizer tree.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "audit/spool.h"

static double drv_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double drv_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void drv_sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

static int drv_append(const char *dir, long count, unsigned fsync_ms)
{
	struct spool_opts so = {
		.dir = dir,
		.capacity = 1024ull << 20,
		.segment_size = 4u << 20,
		.full = SPOOL_FULL_OVERWRITE_OLDEST,
		.fsync_ms = fsync_ms,
	};
	uint8_t chain[32] = { 0 };
	char rec[480], err[256];
	struct spool *sp;
	double t0, t1;
	int rc;

	memset(rec, 'x', sizeof(rec));
	rc = spool_open(&so, &sp, NULL, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "audit_drive: %s\n", err);
		return 1;
	}
	t0 = drv_now();
	for (long i = 1; i <= count; i++) {
		chain[0] = (uint8_t)i;
		rc = spool_append(sp, (uint64_t)i, chain, rec, sizeof(rec));
		if (rc < 0) {
			fprintf(stderr, "audit_drive: append %ld: %s\n", i,
				strerror(-rc));
			spool_close(sp);
			return 1;
		}
	}
	spool_sync(sp);
	t1 = drv_now();
	spool_close(sp);
	printf("records=%ld fsync_ms=%u seconds=%.3f us_per_record=%.2f\n",
	       count, fsync_ms, t1 - t0, (t1 - t0) * 1e6 / (double)count);
	return 0;
}

static int drv_pipeline(char **av)
{
	struct audit_opts o;
	struct audit_collector_opts *c;
	struct audit_stats st;
	struct audit_event ev;
	struct audit *a;
	char err[256];
	long count = atol(av[1]);
	double t0, t1, cpu0, cpu1;
	int rc;

	memset(&o, 0, sizeof(o));
	o.pen = AUDIT_PEN_DEFAULT;
	o.facility = 13;
	o.hostname = "gw01.bench";
	o.spool.dir = av[0];
	o.spool.capacity = 1024ull << 20;
	o.spool.segment_size = 4u << 20;
	o.spool.full = SPOOL_FULL_OVERWRITE_OLDEST;
	o.spool.fsync_ms = (unsigned)atoi(av[2]);
	o.warn_pct = 80;
	o.queue_len = 8192;
	o.ncollectors = 1;
	c = &o.collectors[0];
	snprintf(c->name, sizeof(c->name), "siem");
	c->t.proto = TRANSPORT_TLS;
	c->t.host = av[3];
	c->t.port = av[4];
	c->t.ca_file = av[5];
	c->t.cert_file = av[6];
	c->t.key_file = av[7];
	c->t.server_name = av[8];
	c->settle_ms = 200;
	c->backoff_max_ms = 1000;

	rc = audit_open(&o, &a, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "audit_drive: audit_open: %s\n", err);
		return 1;
	}
	if (audit_start(a) < 0) {
		fprintf(stderr, "audit_drive: audit_start failed\n");
		audit_close(a, 0);
		return 1;
	}
	t0 = drv_now();
	cpu0 = drv_cpu();
	for (long i = 0; i < count; i++) {
		if ((i & 255) == 0) {
			for (;;) {
				audit_get_stats(a, &st);
				if (st.emitted - st.written < o.queue_len / 2)
					break;
				drv_sleep_us(200);
			}
		}
		audit_event_init(&ev, AUDIT_FLOW_DENIED);
		audit_event_add(&ev, "run", av[9]);
		audit_event_add(&ev, "reason", "no-conduit");
		audit_event_add(&ev, "conduit", "-");
		audit_event_add(&ev, "zone_from", "enterprise");
		audit_event_add(&ev, "zone_to", "control");
		audit_event_add(&ev, "proto", "udp");
		audit_event_add(&ev, "src", "198.18.10.2");
		audit_event_add_u64(&ev, "sport", 40000);
		audit_event_add(&ev, "dst", "198.18.30.10");
		audit_event_add_u64(&ev, "dport", (uint64_t)(i % 60000));
		audit_event_add_u64(&ev, "packets", 1);
		audit_event_msgf(&ev,
				 "denied udp 198.18.10.2 -> "
				 "198.18.30.10:%ld",
				 i % 60000);
		audit_emit(a, &ev);
	}
	for (int w = 0; w < 120000; w++) { /* at most 120 s */
		audit_get_stats(a, &st);
		if (st.written >= (uint64_t)count && st.c[0].backlog == 0)
			break;
		drv_sleep_us(1000);
	}
	t1 = drv_now();
	cpu1 = drv_cpu();
	audit_get_stats(a, &st);
	printf("events=%ld fsync_ms=%s seconds=%.3f rate=%.0f "
	       "cpu_s=%.3f drops=%" PRIu64 " written=%" PRIu64
	       " delivered=%" PRIu64 " resent=%" PRIu64 " backlog=%" PRIu64
	       " last_seq=%" PRIu64 "\n",
	       count, av[2], t1 - t0, (double)count / (t1 - t0), cpu1 - cpu0,
	       st.queue_drops, st.written, st.c[0].delivered, st.c[0].resent,
	       st.c[0].backlog, st.last_seq);
	audit_close(a, 5000);
	return st.c[0].backlog == 0 && st.queue_drops == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "append") == 0)
		return drv_append(argv[2], atol(argv[3]),
				  (unsigned)atoi(argv[4]));
	if (argc == 12 && strcmp(argv[1], "pipeline") == 0)
		return drv_pipeline(argv + 2);
	fprintf(stderr,
		"usage: audit_drive pipeline DIR COUNT FSYNC_MS HOST PORT CA "
		"CERT KEY NAME RUN\n"
		"       audit_drive append DIR COUNT FSYNC_MS\n");
	return 2;
}
