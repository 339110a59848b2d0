/*
 * Tamper evidence (CR 3.9): every audit record carries a sequence number
 * and a chain value in its conduitd@PEN SD element:
 *
 *   [conduitd@32473 seq="42" ... chain="<64 hex>"]
 *
 *   chain_n = SHA-256(chain_{n-1} || canonical_n)            (no key)
 *   chain_n = HMAC-SHA-256(key, chain_{n-1} || canonical_n)  (audit key)
 *
 * canonical_n is the record re-serialised by r5424_format with only the
 * conduitd@PEN element, without its chain parameter (other elements, such
 * as timeQuality or what a relay adds, are not covered; neither is the
 * framing); its timestamp is re-spelt from the instant it names (6
 * fraction digits, "Z" for UTC), so a relay writing "+00:00" for "Z" still
 * verifies. Because it is computed from parsed fields, a collector that
 * re-serialises the header byte for byte equal (rsyslog's
 * RSYSLOG_SyslogProtocol23Format does) still verifies. The first record
 * ever has chain_0 = 32 zero bytes.
 *
 * No I/O; the verifier allocates (its seen-records index) and frees it in
 * chain_verify_free.
 */
#ifndef CONDUIT_AUDIT_CHAIN_H
#define CONDUIT_AUDIT_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/rfc5424.h"

#define CHAIN_LEN 32
#define CHAIN_HEX_LEN 65 /* 64 hex digits + NUL */
#define CHAIN_KEY_MAX 64

struct chain {
	uint8_t prev[CHAIN_LEN];
	uint8_t key[CHAIN_KEY_MAX];
	size_t key_len; /* 0: plain SHA-256 */
};

/* prev NULL = zeros (first record ever); key NULL/0 = no HMAC. */
void chain_init(struct chain *c, const uint8_t prev[CHAIN_LEN], const void *key,
		size_t key_len);
/* out = chain value of the record whose canonical bytes these are; prev
 * becomes out. */
void chain_next(struct chain *c, const void *canon, size_t len,
		uint8_t out[CHAIN_LEN]);
void chain_hex(const uint8_t v[CHAIN_LEN], char out[CHAIN_HEX_LEN]);
/* 64 lower- or upper-case hex digits exactly -> 0; else -EINVAL. */
int chain_unhex(const char *s, uint8_t out[CHAIN_LEN]);

/*
 * Canonical bytes of m (see above) for the element with SD-ID sd_id, into
 * buf (R5424_MAX_LEN is enough). Returns 0, -ENOENT when m has no such
 * element, or r5424_format's errors.
 */
int chain_canonical(const struct r5424_msg *m, const char *sd_id, char *buf,
		    size_t cap, size_t *len);

/* --- verification ------------------------------------------------------- */

enum chain_result {
	CHAIN_OK = 0,	 /* the record extends the chain */
	CHAIN_DUPLICATE, /* same seq and chain as a record already seen */
	CHAIN_START,	 /* first record seen: accepted as the anchor */
	CHAIN_BROKEN,	 /* see reason: the first broken link */
	CHAIN_NOT_OURS,	 /* no conduitd@PEN element: skipped */
};

struct chain_verify_report {
	uint64_t records;    /* OK + START */
	uint64_t duplicates; /* CHAIN_DUPLICATE */
	uint64_t skipped;    /* CHAIN_NOT_OURS */
	uint64_t first_seq, last_seq;
	bool broken;
	uint64_t broken_seq;   /* seq of the first broken record (0: none) */
	uint64_t broken_index; /* 1-based position in the input */
	char reason[160];      /* "chain value differs", "seq 17 missing
				   (got 19)", "seq 5 twice with different
				   content", "no chain parameter", ... */
};

struct chain_verifier;

/*
 * sd_id: "conduitd@32473" (the PEN is configurable); key as in chain_init.
 * anchor NULL: the first record is taken as the chain's start (a collector
 * file that begins mid-chain); else its prev value must be *anchor
 * (zeros for a complete history). Returns NULL on ENOMEM.
 */
struct chain_verifier *chain_verify_new(const char *sd_id,
					const uint8_t *anchor, const void *key,
					size_t key_len);
/*
 * Feeds the next record (one RFC 5424 message, no framing). After the first
 * CHAIN_BROKEN the verifier keeps the report as it is and returns
 * CHAIN_BROKEN for everything. Unparsable input is CHAIN_BROKEN (reason
 * names the parse error and offset).
 */
enum chain_result chain_verify_feed(struct chain_verifier *v, const char *rec,
				    size_t len);
const struct chain_verify_report *
chain_verify_report(const struct chain_verifier *v);
void chain_verify_free(struct chain_verifier *v);

#endif
