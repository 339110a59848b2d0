/*
 * audit/chain: chain values against vectors computed with the openssl CLI,
 * hex conversion, the canonical bytes, and the verifier on records built
 * here through the real RFC 5424 formatter: one byte changed in record k
 * names record k, resent records are duplicates, rewritten ones and gaps
 * break the chain, a wrong HMAC key fails right after the anchor.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/chain.h"
#include "audit/rfc5424.h"

#define SD_ID "conduitd@32473"
#define NREC 10

static const uint8_t zeros[CHAIN_LEN];
static const char key1[] = "0123456789abcdef0123456789abcdef";
static const char key2[] = "0123456789abcdef0123456789abcdeF";

static void unhex_ok(const char *s, uint8_t out[CHAIN_LEN])
{
	cr_assert_eq(chain_unhex(s, out), 0, "unhex %s", s);
}

/* ---- chain values ------------------------------------------------------ */

/* CR 3.9 */
Test(chain, sha256_vectors)
{
	struct chain c;
	uint8_t v[CHAIN_LEN], want[CHAIN_LEN];

	chain_init(&c, NULL, NULL, 0);
	/* (head -c 32 /dev/zero; printf abc) | openssl dgst -sha256 */
	chain_next(&c, "abc", 3, v);
	unhex_ok("365aa7d8f7f9402c4b9434502b4cc89d"
		 "db09fe50d7cd95b493b834c62d5a5370",
		 want);
	cr_assert_arr_eq(v, want, CHAIN_LEN);
	cr_assert_arr_eq(c.prev, want, CHAIN_LEN);
	/* (echo 365a...5370 | xxd -r -p; printf def) | openssl dgst -sha256 */
	chain_next(&c, "def", 3, v);
	unhex_ok("532f0131db1635cb105c9753e41e7908"
		 "599aa4dd144658c92e50b60113ad993a",
		 want);
	cr_assert_arr_eq(v, want, CHAIN_LEN);

	/* starting from an explicit prev gives the same second value */
	unhex_ok("365aa7d8f7f9402c4b9434502b4cc89d"
		 "db09fe50d7cd95b493b834c62d5a5370",
		 v);
	chain_init(&c, v, NULL, 0);
	chain_next(&c, "def", 3, v);
	cr_assert_arr_eq(v, want, CHAIN_LEN);
}

/* CR 3.9 */
Test(chain, hmac_vectors)
{
	struct chain c;
	uint8_t v[CHAIN_LEN], want[CHAIN_LEN];

	chain_init(&c, zeros, key1, strlen(key1));
	/* (head -c 32 /dev/zero; printf abc) |
	 *	openssl dgst -sha256 -hmac 0123456789abcdef0123456789abcdef */
	chain_next(&c, "abc", 3, v);
	unhex_ok("89806cf87c5af13f0a3d5183ea5719b8"
		 "0991a38beeb651fc14ba23ea9c8c5263",
		 want);
	cr_assert_arr_eq(v, want, CHAIN_LEN);
	/* (echo 8980...5263 | xxd -r -p; printf def) | openssl dgst ... */
	chain_next(&c, "def", 3, v);
	unhex_ok("a9b08fcac91653e07665dcd508e62de4"
		 "252416608db02d0412fcf677bc185e1b",
		 want);
	cr_assert_arr_eq(v, want, CHAIN_LEN);

	/* another key, another value */
	chain_init(&c, zeros, key2, strlen(key2));
	chain_next(&c, "abc", 3, v);
	unhex_ok("89806cf87c5af13f0a3d5183ea5719b8"
		 "0991a38beeb651fc14ba23ea9c8c5263",
		 want);
	cr_assert_arr_neq(v, want, CHAIN_LEN);
}

Test(chain, hex_round_trip_and_refusals)
{
	uint8_t v[CHAIN_LEN], w[CHAIN_LEN];
	char hex[CHAIN_HEX_LEN];

	for (int i = 0; i < CHAIN_LEN; i++)
		v[i] = (uint8_t)(i * 37 + 5);
	chain_hex(v, hex);
	cr_assert_eq(strlen(hex), 64);
	cr_assert_eq(strncmp(hex, "052a4f7499be", 12), 0, "%s", hex);
	unhex_ok(hex, w);
	cr_assert_arr_eq(v, w, CHAIN_LEN);
	unhex_ok("052A4F7499BEE3082D52779CC1E60B30"
		 "557A9FC4E90E33587DA2C7EC11365B80",
		 w);
	cr_assert_arr_eq(v, w, CHAIN_LEN);

	memset(w, 0xee, sizeof(w));
	cr_assert_eq(chain_unhex("", w), -EINVAL);
	hex[63] = '\0';
	cr_assert_eq(chain_unhex(hex, w), -EINVAL);
	chain_hex(v, hex);
	hex[10] = 'g';
	cr_assert_eq(chain_unhex(hex, w), -EINVAL);
	{
		char longer[80];

		chain_hex(v, longer);
		strcat(longer, "0");
		cr_assert_eq(chain_unhex(longer, w), -EINVAL);
	}
	/* a refused input leaves out alone */
	for (int i = 0; i < CHAIN_LEN; i++)
		cr_assert_eq(w[i], 0xee);
}

/* ---- records ----------------------------------------------------------- */

struct rec {
	char buf[R5424_MAX_LEN];
	size_t len;
};

static void add_elem(struct r5424_msg *m, const char *id)
{
	struct r5424_elem *e = &m->elems[m->nelems++];

	e->id = id;
	e->first = m->nparams;
	e->nparams = 0;
}

static void add_param(struct r5424_msg *m, const char *name, const char *v)
{
	struct r5424_param *p = &m->params[m->nparams++];

	p->name = name;
	p->value = v;
	p->value_len = strlen(v);
	m->elems[m->nelems - 1].nparams++;
}

/*
 * Record seq as audit.c writes it: conduitd element (seq, req, a value
 * with characters that need escaping, chain) and a timeQuality element
 * the chain does not cover.
 */
static void make_rec(struct chain *c, uint64_t seq, const char *sd_id,
		     const char *text, struct rec *out)
{
	char canon[R5424_MAX_LEN], seqs[24], hex[CHAIN_HEX_LEN];
	uint8_t v[CHAIN_LEN];
	struct r5424_msg m;
	size_t clen;

	memset(&m, 0, sizeof(m));
	snprintf(seqs, sizeof(seqs), "%" PRIu64, seq);
	m.pri = 13 * 8 + 5;
	m.timestamp = "2026-12-01T13:00:33.123456+01:00";
	m.hostname = "gw01";
	m.app = "conduitd";
	m.procid = "4242";
	m.msgid = "POLICY_APPLY";
	add_elem(&m, sd_id);
	add_param(&m, "seq", seqs);
	add_param(&m, "req", "CR 2.8");
	add_param(&m, "file", "/etc/conduitd/pol \"a]\\b\".yaml");
	m.msg = text;
	m.msg_len = strlen(text);
	m.bom = true;
	cr_assert_eq(chain_canonical(&m, sd_id, canon, sizeof(canon), &clen),
		     0);
	chain_next(c, canon, clen, v);
	chain_hex(v, hex);
	add_param(&m, "chain", hex);
	add_elem(&m, "timeQuality");
	add_param(&m, "tzKnown", "1");
	add_param(&m, "isSynced", "0");
	cr_assert_eq(r5424_format(&m, out->buf, sizeof(out->buf), &out->len),
		     0);
}

/* records 1..n of one chain (key NULL: plain SHA-256) */
static struct rec *make_chain(unsigned n, const void *key, size_t key_len)
{
	struct rec *r = calloc(n + 1, sizeof(*r));
	struct chain c;
	char text[64];

	cr_assert_not_null(r);
	chain_init(&c, NULL, key, key_len);
	for (unsigned i = 1; i <= n; i++) {
		snprintf(text, sizeof(text), "policy applied, change %u", i);
		make_rec(&c, i, SD_ID, text, &r[i]);
	}
	return r;
}

static enum chain_result feed(struct chain_verifier *v, const struct rec *r)
{
	return chain_verify_feed(v, r->buf, r->len);
}

/* CR 3.9 */
Test(chain, canonical_bytes)
{
	struct r5424_msg m, p;
	char canon[R5424_MAX_LEN], canon2[R5424_MAX_LEN];
	char scratch[R5424_MAX_LEN + R5424_MAX_PARAMS * 2 + 16];
	size_t clen, clen2;
	struct rec *r = make_chain(1, NULL, 0);
	const char *want = "<109>1 2026-12-01T13:00:33.123456+01:00 gw01 "
			   "conduitd 4242 POLICY_APPLY [conduitd@32473 "
			   "seq=\"1\" req=\"CR 2.8\" file=\"/etc/conduitd/pol "
			   "\\\"a\\]\\\\b\\\".yaml\"] \xef\xbb\xbf"
			   "policy applied, change 1";

	cr_assert_eq(r5424_parse(r[1].buf, r[1].len, &p, scratch,
				 sizeof(scratch), NULL),
		     0, "%.*s", (int)r[1].len, r[1].buf);
	cr_assert_eq(p.nelems, 2);
	cr_assert_eq(chain_canonical(&p, SD_ID, canon, sizeof(canon), &clen),
		     0);
	cr_assert_eq(clen, strlen(want), "%.*s", (int)clen, canon);
	cr_assert_arr_eq(canon, want, clen);
	/* the chain parameter itself and other elements are not covered */
	cr_assert_null(strstr(canon, "chain="));
	cr_assert_null(strstr(canon, "timeQuality"));
	/* a collector that dropped the BOM still yields the same bytes */
	p.bom = false;
	cr_assert_eq(chain_canonical(&p, SD_ID, canon2, sizeof(canon2), &clen2),
		     0);
	cr_assert_eq(clen2, clen);
	cr_assert_arr_eq(canon2, canon, clen);

	memset(&m, 0, sizeof(m));
	m.pri = 1;
	add_elem(&m, "other@1");
	add_param(&m, "seq", "1");
	cr_assert_eq(chain_canonical(&m, SD_ID, canon, sizeof(canon), &clen),
		     -ENOENT);
	free(r);
}

/* CR 3.9 */
Test(chain, verify_intact_chain)
{
	struct rec *r = make_chain(NREC, NULL, 0);
	const struct chain_verify_report *rep;
	struct chain_verifier *v = chain_verify_new(SD_ID, zeros, NULL, 0);

	cr_assert_not_null(v);
	for (unsigned i = 1; i <= NREC; i++)
		cr_assert_eq(feed(v, &r[i]), CHAIN_OK, "record %u", i);
	rep = chain_verify_report(v);
	cr_assert_not(rep->broken, "%s", rep->reason);
	cr_assert_eq(rep->records, NREC);
	cr_assert_eq(rep->first_seq, 1);
	cr_assert_eq(rep->last_seq, NREC);
	cr_assert_eq(rep->duplicates, 0);
	cr_assert_eq(rep->broken_seq, 0);
	chain_verify_free(v);

	/* a file that begins mid-chain: the first record is the anchor */
	v = chain_verify_new(SD_ID, NULL, NULL, 0);
	cr_assert_eq(feed(v, &r[4]), CHAIN_START);
	for (unsigned i = 5; i <= NREC; i++)
		cr_assert_eq(feed(v, &r[i]), CHAIN_OK, "record %u", i);
	rep = chain_verify_report(v);
	cr_assert_eq(rep->records, NREC - 3);
	cr_assert_eq(rep->first_seq, 4);
	cr_assert_not(rep->broken);
	/* the anchor of a complete history is zeros: seq 4 does not fit */
	chain_verify_free(v);
	v = chain_verify_new(SD_ID, zeros, NULL, 0);
	cr_assert_eq(feed(v, &r[4]), CHAIN_BROKEN);
	chain_verify_free(v);
	free(r);
}

/* flips one byte of record k at the first occurrence of what */
static void tamper(struct rec *r, const char *what, char to)
{
	char *p = memmem(r->buf, r->len, what, strlen(what));

	cr_assert_not_null(p, "%s not in the record", what);
	*p = to;
}

/* CR 3.9 */
Test(chain, one_byte_changed_names_that_record)
{
	static const struct {
		const char *what;
		char to;
	} edits[] = {
		{ "policy applied", 'P' }, /* MSG */
		{ "gw01", 'G' },	   /* HOSTNAME */
		{ "CR 2.8", 'X' },	   /* an SD value */
		{ "POLICY_APPLY", 'B' },   /* MSGID */
		{ "chain=\"", 'C' },	   /* the parameter name itself */
	};
	const struct chain_verify_report *rep;

	for (unsigned e = 0; e < sizeof(edits) / sizeof(edits[0]); e++) {
		for (unsigned k = 1; k <= NREC; k++) {
			struct rec *r = make_chain(NREC, NULL, 0);
			struct chain_verifier *v;
			unsigned i;

			tamper(&r[k], edits[e].what, edits[e].to);
			v = chain_verify_new(SD_ID, zeros, NULL, 0);
			for (i = 1; i < k; i++)
				cr_assert_eq(feed(v, &r[i]), CHAIN_OK);
			cr_assert_eq(feed(v, &r[k]), CHAIN_BROKEN,
				     "edit %u record %u", e, k);
			/* everything after the break stays broken */
			for (i = k + 1; i <= NREC; i++)
				cr_assert_eq(feed(v, &r[i]), CHAIN_BROKEN);
			rep = chain_verify_report(v);
			cr_assert(rep->broken);
			cr_assert_eq(rep->broken_seq, k, "edit %u: %s", e,
				     rep->reason);
			cr_assert_eq(rep->broken_index, k);
			cr_assert_eq(rep->records, k - 1);
			if (e < 4)
				cr_assert_str_eq(rep->reason,
						 "chain value differs");
			else
				cr_assert_str_eq(rep->reason,
						 "no chain parameter");
			chain_verify_free(v);
			free(r);
		}
	}
}

/* CR 3.9 */
Test(chain, changed_chain_value_is_caught_at_that_record)
{
	struct rec *r = make_chain(NREC, NULL, 0);
	const struct chain_verify_report *rep;
	struct chain_verifier *v = chain_verify_new(SD_ID, zeros, NULL, 0);
	char *p = memmem(r[6].buf, r[6].len, "chain=\"", 7);

	cr_assert_not_null(p);
	p[7 + 10] = p[7 + 10] == '0' ? '1' : '0';
	for (unsigned i = 1; i <= 5; i++)
		cr_assert_eq(feed(v, &r[i]), CHAIN_OK);
	cr_assert_eq(feed(v, &r[6]), CHAIN_BROKEN);
	rep = chain_verify_report(v);
	cr_assert_eq(rep->broken_seq, 6);
	cr_assert_str_eq(rep->reason, "chain value differs");
	chain_verify_free(v);
	free(r);
}

/* CR 3.9 */
Test(chain, duplicates_are_counted)
{
	struct rec *r = make_chain(NREC, NULL, 0);
	const struct chain_verify_report *rep;
	struct chain_verifier *v = chain_verify_new(SD_ID, zeros, NULL, 0);
	unsigned i;

	for (i = 1; i <= 6; i++)
		cr_assert_eq(feed(v, &r[i]), CHAIN_OK);
	/* the sender reconnected and resent from 4 */
	for (i = 4; i <= 6; i++)
		cr_assert_eq(feed(v, &r[i]), CHAIN_DUPLICATE, "record %u", i);
	for (i = 7; i <= NREC; i++)
		cr_assert_eq(feed(v, &r[i]), CHAIN_OK);
	cr_assert_eq(feed(v, &r[1]), CHAIN_DUPLICATE);
	rep = chain_verify_report(v);
	cr_assert_not(rep->broken, "%s", rep->reason);
	cr_assert_eq(rep->records, NREC);
	cr_assert_eq(rep->duplicates, 4);
	cr_assert_eq(rep->last_seq, NREC);
	chain_verify_free(v);

	/* a duplicate of the anchor of a mid-chain file too */
	v = chain_verify_new(SD_ID, NULL, NULL, 0);
	cr_assert_eq(feed(v, &r[3]), CHAIN_START);
	cr_assert_eq(feed(v, &r[4]), CHAIN_OK);
	cr_assert_eq(feed(v, &r[3]), CHAIN_DUPLICATE);
	chain_verify_free(v);
	free(r);
}

/* CR 3.9 */
Test(chain, same_seq_different_content_is_broken)
{
	struct rec *r = make_chain(NREC, NULL, 0);
	struct rec *forged = calloc(1, sizeof(*forged));
	const struct chain_verify_report *rep;
	struct chain_verifier *v = chain_verify_new(SD_ID, zeros, NULL, 0);
	unsigned i;

	cr_assert_not_null(forged);
	*forged = r[5];
	tamper(forged, "change 5", 'C');
	for (i = 1; i <= 7; i++)
		cr_assert_eq(feed(v, &r[i]), CHAIN_OK);
	cr_assert_eq(chain_verify_feed(v, forged->buf, forged->len),
		     CHAIN_BROKEN);
	rep = chain_verify_report(v);
	cr_assert_eq(rep->broken_seq, 5);
	cr_assert_eq(rep->broken_index, 8);
	cr_assert_str_eq(rep->reason, "seq 5 twice with different content");
	chain_verify_free(v);

	/* also for the anchor of a mid-chain file */
	v = chain_verify_new(SD_ID, NULL, NULL, 0);
	cr_assert_eq(feed(v, &r[5]), CHAIN_START);
	cr_assert_eq(chain_verify_feed(v, forged->buf, forged->len),
		     CHAIN_BROKEN);
	chain_verify_free(v);
	free(forged);
	free(r);
}

/* CR 3.9 */
Test(chain, gap_is_broken)
{
	struct rec *r = make_chain(20, NULL, 0);
	const struct chain_verify_report *rep;
	struct chain_verifier *v = chain_verify_new(SD_ID, zeros, NULL, 0);

	for (unsigned i = 1; i <= 16; i++)
		cr_assert_eq(feed(v, &r[i]), CHAIN_OK);
	cr_assert_eq(feed(v, &r[19]), CHAIN_BROKEN);
	rep = chain_verify_report(v);
	cr_assert_str_eq(rep->reason, "seq 17 missing (got 19)");
	cr_assert_eq(rep->broken_seq, 19);
	cr_assert_eq(rep->broken_index, 17);
	cr_assert_eq(rep->last_seq, 16);
	/* the report stays as it was */
	cr_assert_eq(feed(v, &r[17]), CHAIN_BROKEN);
	cr_assert_eq(rep->broken_index, 17);
	cr_assert_str_eq(rep->reason, "seq 17 missing (got 19)");
	chain_verify_free(v);
	free(r);
}

/* CR 3.9 */
Test(chain, hmac_wrong_key_fails_after_the_anchor)
{
	struct rec *r = make_chain(NREC, key1, strlen(key1));
	const struct chain_verify_report *rep;
	struct chain_verifier *v;

	/* the right key */
	v = chain_verify_new(SD_ID, zeros, key1, strlen(key1));
	for (unsigned i = 1; i <= NREC; i++)
		cr_assert_eq(feed(v, &r[i]), CHAIN_OK);
	chain_verify_free(v);
	/* no key: a plain SHA-256 verifier does not accept an HMAC chain */
	v = chain_verify_new(SD_ID, zeros, NULL, 0);
	cr_assert_eq(feed(v, &r[1]), CHAIN_BROKEN);
	chain_verify_free(v);
	/* wrong key, anchor zeros: the very first record */
	v = chain_verify_new(SD_ID, zeros, key2, strlen(key2));
	cr_assert_eq(feed(v, &r[1]), CHAIN_BROKEN);
	rep = chain_verify_report(v);
	cr_assert_eq(rep->broken_seq, 1);
	cr_assert_str_eq(rep->reason, "chain value differs");
	chain_verify_free(v);
	/* wrong key, mid-chain file: the record after the anchor */
	v = chain_verify_new(SD_ID, NULL, key2, strlen(key2));
	cr_assert_eq(feed(v, &r[3]), CHAIN_START);
	cr_assert_eq(feed(v, &r[4]), CHAIN_BROKEN);
	rep = chain_verify_report(v);
	cr_assert_eq(rep->broken_seq, 4);
	cr_assert_eq(rep->broken_index, 2);
	chain_verify_free(v);
	free(r);
}

/* CR 3.5 */
Test(chain, foreign_and_unparsable_records)
{
	struct rec *r = make_chain(3, NULL, 0);
	struct rec *other = calloc(1, sizeof(*other));
	const struct chain_verify_report *rep;
	struct chain_verifier *v = chain_verify_new(SD_ID, zeros, NULL, 0);
	struct chain c;

	cr_assert_not_null(other);
	chain_init(&c, NULL, NULL, 0);
	make_rec(&c, 1, "conduitd@99999", "another vendor's PEN", other);
	cr_assert_eq(feed(v, &r[1]), CHAIN_OK);
	cr_assert_eq(feed(v, other), CHAIN_NOT_OURS);
	cr_assert_eq(feed(v, &r[2]), CHAIN_OK);
	cr_assert_eq(chain_verify_feed(v, "garbage", 7), CHAIN_BROKEN);
	rep = chain_verify_report(v);
	cr_assert_eq(rep->skipped, 1);
	cr_assert_eq(rep->records, 2);
	cr_assert_eq(rep->broken_index, 4);
	cr_assert_eq(rep->broken_seq, 0);
	cr_assert_eq(strncmp(rep->reason, "not RFC 5424 at offset 0", 24), 0,
		     "%s", rep->reason);
	chain_verify_free(v);

	/* the other PEN's records verify with their own SD-ID */
	v = chain_verify_new("conduitd@99999", zeros, NULL, 0);
	cr_assert_eq(feed(v, other), CHAIN_OK);
	cr_assert_eq(feed(v, &r[1]), CHAIN_NOT_OURS);
	chain_verify_free(v);
	chain_verify_free(NULL);
	free(other);
	free(r);
}
