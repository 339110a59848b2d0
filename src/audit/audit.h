/*
 * The audit pipeline (FR6): events from any thread -> bounded in-memory
 * queue -> writer thread: sequence number, hash chain, RFC 5424 record,
 * append to the persistent spool (and the optional JSON Lines file) ->
 * one sender thread per collector reading the spool through its own
 * reader, delivering at least once.
 *
 *   record: <PRI>1 TS HOST conduitd PID MSGID
 *           [conduitd@PEN seq="N" req="CR 2.8" <event params> chain="hex"]
 *           [timeQuality tzKnown="1" isSynced="0|1"] BOM msg
 *
 * (the chain covers the conduitd@PEN element without its chain parameter:
 * chain.h). audit_emit never blocks and never allocates: when the queue is
 * full the event is counted and an AUDIT_LOSS record says how many were
 * dropped once there is room. The packet path never calls audit_emit
 * directly (workers hand events to the main thread through their rings).
 */
#ifndef CONDUIT_AUDIT_AUDIT_H
#define CONDUIT_AUDIT_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/event.h"
#include "audit/spool.h"
#include "audit/transport.h"

#define AUDIT_PEN_DEFAULT 32473u
#define AUDIT_COLLECTORS_MAX 8
#define AUDIT_QUEUE_DEFAULT 1024 /* events buffered in memory (~3.4 KiB each) */

struct audit_collector_opts {
	char name[SPOOL_NAME_MAX + 1]; /* also its spool reader's name */
	struct transport_opts t;       /* strings owned by the conf */
	unsigned backoff_min_ms;       /* 0 = 500 */
	unsigned backoff_max_ms;       /* 0 = 30000 */
	unsigned settle_ms;	       /* a written record counts delivered
					  once the send queue drained and the
					  connection stayed healthy this
					  long; 0 = 1000 */
};

struct audit_opts {
	unsigned pen;		 /* SD-ID conduitd@<pen> */
	int facility;		 /* syslog facility 0..23; default 13 (log
				    audit, RFC 5424 table 1) */
	const char *hostname;	 /* NULL: gethostname */
	struct spool_opts spool; /* dir, capacity, segment size, full, fsync */
	unsigned warn_pct;	 /* SPOOL_THRESHOLD at this fill; 80 */
	const void *hmac_key;	 /* NULL: plain SHA-256 chain */
	size_t hmac_key_len;
	const char *jsonl_path; /* NULL: none; one JSON object per record */
	unsigned queue_len;	/* 0 = AUDIT_QUEUE_DEFAULT */
	unsigned ncollectors;
	struct audit_collector_opts collectors[AUDIT_COLLECTORS_MAX];
};

struct audit_collector_stats {
	char name[SPOOL_NAME_MAX + 1];
	bool up;
	uint64_t sent, delivered, resent, connects, failures;
	uint64_t backlog; /* records not yet proven delivered */
	char last_error[160];
};

struct audit_stats {
	uint64_t emitted;     /* accepted by audit_emit */
	uint64_t queue_drops; /* refused: queue full */
	uint64_t written;     /* appended to the spool */
	uint64_t write_failures;
	uint64_t last_seq;
	struct spool_stats spool;
	unsigned ncollectors;
	struct audit_collector_stats c[AUDIT_COLLECTORS_MAX];
};

struct audit;

/*
 * Opens the spool (reporting a torn tail or quarantined segments as
 * SPOOL_CORRUPT events queued now), builds the transports (reads TLS files:
 * call as root, before dropping privileges) and the JSON Lines file. No
 * thread yet: events emitted before audit_start are queued. Returns 0 or a
 * negative errno with err set.
 */
int audit_open(const struct audit_opts *o, struct audit **out, char *err,
	       size_t errlen);
/* Starts the writer and sender threads (after fork/daemonize and privdrop;
 * with signals blocked). Returns 0 or a negative errno. */
int audit_start(struct audit *a);
/* Thread-safe, non-blocking; time_us 0 is stamped now. NULL a: no-op. */
void audit_emit(struct audit *a, const struct audit_event *ev);
/*
 * Stops: writes what is queued, syncs, gives each sender up to
 * drain_ms to deliver its backlog, sends close_notify, joins, frees.
 */
void audit_close(struct audit *a, unsigned drain_ms);
void audit_get_stats(struct audit *a, struct audit_stats *st);

/*
 * Copies the chain's HMAC key into key (cap >= CHAIN_KEY_MAX) for a
 * verifier in the daemon (audit.verify); the caller wipes its copy.
 * Returns the key's length, 0 for a plain SHA-256 chain or a NULL a.
 */
size_t audit_hmac_key(const struct audit *a, uint8_t *key, size_t cap);

/* "conduitd@32473" for pen (buf >= 32). */
const char *audit_sd_id(unsigned pen, char *buf, size_t len);

/*
 * Formats one event as a record (the writer's step, exposed for tests and
 * the benchmark): seq and chain state in/out via c. buf >= R5424_MAX_LEN.
 */
struct chain;
int audit_format_record(const struct audit_opts *o, const char *hostname,
			int pid, uint64_t seq, struct chain *c,
			const struct audit_event *ev, char *buf, size_t cap,
			size_t *len, uint8_t chain_out[32]);

#endif
