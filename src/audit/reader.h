/*
 * Reading a spool directory from outside its writer: `conduitctl audit
 * verify --spool` and `audit tail` on the box, and the daemon's
 * audit.verify and audit.tail for a remote auditor (CR 6.1, CR 3.9), share
 * this one implementation. Segments are listed in seq order and each file
 * is read whole (one snapshot) and scanned with spool_segment_scan.
 *
 * The writer may append meanwhile, so the newest segment may end in a
 * record being written: a tail that spool_open would cut as torn (an
 * incomplete or bad-CRC last record, or zeros) is reported, not a break.
 * A bad record anywhere else is. A segment deleted between the listing and
 * its reading (delivered or overwritten) is skipped while nothing has been
 * read yet, an error after that.
 */
#ifndef CONDUIT_AUDIT_READER_H
#define CONDUIT_AUDIT_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/chain.h"

#define READER_SEG_NAME_LEN 24 /* "seg-" 16 hex ".cds" */

/*
 * The segment files of dir (seg-<16 hex>.cds) in seq order. Returns their
 * count (>= 0) with *names (reader_names_free), or a negative errno with
 * err "spool DIR: reason".
 */
int reader_list_segments(const char *dir, char ***names, char *err,
			 size_t errlen);
void reader_names_free(char **names, int n);

/* Reads a whole file: 0 with *buf (malloc'd, the caller frees) and *len,
 * or a negative errno with err "PATH: reason". */
int reader_slurp(const char *path, uint8_t **buf, size_t *len, char *err,
		 size_t errlen);

/* --- verification ------------------------------------------------------- */

/*
 * A verification run over records fed one by one (a collector's file) or
 * over a spool directory. Fill it with reader_verify_init; the fields
 * below "out" are its result.
 */
struct reader_verify {
	char sd_id[32];
	uint8_t key[CHAIN_KEY_MAX];
	size_t key_len;	      /* 0: plain SHA-256 chain */
	uint64_t max_records; /* spool: stop after this many (0: all) */
	/* spool, continuing a bounded run: records up to after_seq are
	 * skipped and the next one must extend anchor (the chain value of
	 * record after_seq, as the previous run's last_chain gave it) */
	uint64_t after_seq;
	bool anchored; /* anchor given (also for a file: its first record's
			  predecessor) */
	uint8_t anchor[CHAIN_LEN];
	struct chain_verifier *v; /* NULL until the first record */
	/* set by the caller of reader_verify_feed (the line of a file),
	 * by reader_verify_spool (record in its segment, segment name) */
	uint64_t pos;
	const char *where;
	/* out */
	uint64_t fed;	     /* records fed */
	uint64_t broken_pos; /* pos of the first broken record (0: none) */
	char broken_where[READER_SEG_NAME_LEN + 8];
	char stop[256]; /* a spool that cannot be read on: "seg-...cds: bad
			   segment header", "seg-...cds: stops at offset 1234
			   of 4096: bad crc"; "" = none */
	char stop_segment[READER_SEG_NAME_LEN + 8]; /* where it stops */
	uint64_t torn_bytes; /* newest segment: bytes after its last record */
	long torn_offset;
	const char *torn_why; /* static: "incomplete record", ... */
	char torn_segment[READER_SEG_NAME_LEN + 8];
	bool limited; /* max_records reached before the end */
	/* the chain value of the last record fed (valid when intact and
	 * records > 0): where a following run continues */
	uint8_t last_chain[CHAIN_LEN];
	char *last_rec; /* copy of the last record fed (private) */
	size_t last_len;
};

/* key (may be NULL) is copied; the verifier is created at the first
 * record. Returns 0. */
int reader_verify_init(struct reader_verify *rv, unsigned pen, const void *key,
		       size_t key_len);
/*
 * Feeds one record (RFC 5424 text, no framing). The first one chooses the
 * anchor: seq 1 starts from zeros (a complete history), any other seq is
 * taken as the start of the chain. Returns 0, or -ENOMEM.
 */
int reader_verify_feed(struct reader_verify *rv, const char *rec, size_t len);
/*
 * Feeds every record of the spool directory dir in order. Returns 0 (see
 * the result fields and reader_verify_intact), or a negative errno with
 * err when dir or a segment cannot be read.
 */
int reader_verify_spool(struct reader_verify *rv, const char *dir, char *err,
			size_t errlen);
/* The chain verifier's report (all zeros before the first record). */
const struct chain_verify_report *
reader_verify_report(const struct reader_verify *rv);
/* No broken link and no stop. */
bool reader_verify_intact(const struct reader_verify *rv);
/* Sets rv->last_chain from the last record fed; false when none (or it
 * has no chain value). */
bool reader_verify_last_chain(struct reader_verify *rv);
/* Frees the verifier and wipes the key copy. */
void reader_verify_free(struct reader_verify *rv);

/* --- tail --------------------------------------------------------------- */

struct reader_rec {
	uint64_t seq;
	size_t len;
	char *rec; /* len bytes, no NUL; owned by the tail */
};

typedef void (*reader_tail_fn)(uint64_t seq, const char *rec, size_t len,
			       void *arg);

/*
 * The last records of a spool with seq above last_seq. With fn NULL the
 * last n are kept (a ring); with fn set each new record goes to fn in
 * order (follow mode) and nothing is kept. Every scan advances last_seq,
 * so repeated scans see only what is new.
 */
struct reader_tail {
	unsigned n;
	struct reader_rec *ring;
	unsigned count, head;
	uint64_t last_seq;
	reader_tail_fn fn;
	void *arg;
};

/* A ring of n (n may be 0: only last_seq advances). 0 or -ENOMEM. */
int reader_tail_init(struct reader_tail *t, unsigned n);
/*
 * Scans the segments that may hold records after last_seq (in ring mode
 * only as many of the newest as hold n of them). Returns 0, or a negative
 * errno with err when dir cannot be listed or memory runs out.
 */
int reader_tail_scan(struct reader_tail *t, const char *dir, char *err,
		     size_t errlen);
/* The i-th kept record, oldest first (i < t->count). */
const struct reader_rec *reader_tail_at(const struct reader_tail *t,
					unsigned i);
/* Frees the ring; last_seq stays. */
void reader_tail_free(struct reader_tail *t);

#endif
