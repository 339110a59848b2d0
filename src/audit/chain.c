/*
 * The audit hash chain (CR 3.9): chain values with OpenSSL (SHA-256, or
 * HMAC-SHA-256 through EVP_MAC when a key is configured), the canonical
 * bytes a chain value covers, and the verifier behind `conduitctl audit
 * verify`. The verifier keeps one chain value per accepted seq (they are
 * contiguous from the first one) so that a resent record is recognised as
 * a duplicate and a rewritten one as tampering.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "audit/chain.h"
#include "common/log.h"

void chain_init(struct chain *c, const uint8_t prev[CHAIN_LEN], const void *key,
		size_t key_len)
{
	memset(c, 0, sizeof(*c));
	if (prev != NULL)
		memcpy(c->prev, prev, CHAIN_LEN);
	if (key != NULL && key_len > 0) {
		if (key_len > CHAIN_KEY_MAX)
			key_len = CHAIN_KEY_MAX;
		memcpy(c->key, key, key_len);
		c->key_len = key_len;
	}
}

static int chain_sha256(const uint8_t prev[CHAIN_LEN], const void *canon,
			size_t len, uint8_t out[CHAIN_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int olen = 0;
	int ok;

	if (ctx == NULL)
		return -ENOMEM;
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(ctx, prev, CHAIN_LEN) == 1 &&
	     EVP_DigestUpdate(ctx, canon, len) == 1 &&
	     EVP_DigestFinal_ex(ctx, out, &olen) == 1 && olen == CHAIN_LEN;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

static int chain_hmac(const struct chain *c, const void *canon, size_t len,
		      uint8_t out[CHAIN_LEN])
{
	char digest[] = "SHA256";
	OSSL_PARAM params[2];
	EVP_MAC_CTX *ctx = NULL;
	EVP_MAC *mac;
	size_t olen = 0;
	int ok = 0;

	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (mac == NULL)
		return -ENOMEM;
	ctx = EVP_MAC_CTX_new(mac);
	if (ctx == NULL)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	ok = EVP_MAC_init(ctx, c->key, c->key_len, params) == 1 &&
	     EVP_MAC_update(ctx, c->prev, CHAIN_LEN) == 1 &&
	     EVP_MAC_update(ctx, canon, len) == 1 &&
	     EVP_MAC_final(ctx, out, &olen, CHAIN_LEN) == 1 &&
	     olen == CHAIN_LEN;
out:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return ok ? 0 : -EIO;
}

void chain_next(struct chain *c, const void *canon, size_t len,
		uint8_t out[CHAIN_LEN])
{
	uint8_t v[CHAIN_LEN];
	int rc;

	rc = c->key_len ? chain_hmac(c, canon, len, v) :
			  chain_sha256(c->prev, canon, len, v);
	/* a digest that cannot be computed would silently break the trail */
	if (rc < 0)
		fatalx("audit chain: OpenSSL %s failed (%s)",
		       c->key_len ? "HMAC-SHA-256" : "SHA-256", strerror(-rc));
	memcpy(c->prev, v, CHAIN_LEN);
	memcpy(out, v, CHAIN_LEN);
}

void chain_hex(const uint8_t v[CHAIN_LEN], char out[CHAIN_HEX_LEN])
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < CHAIN_LEN; i++) {
		out[2 * i] = digits[v[i] >> 4];
		out[2 * i + 1] = digits[v[i] & 0xf];
	}
	out[2 * CHAIN_LEN] = '\0';
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int chain_unhex(const char *s, uint8_t out[CHAIN_LEN])
{
	uint8_t v[CHAIN_LEN];
	size_t i;

	if (s == NULL)
		return -EINVAL;
	for (i = 0; i < CHAIN_LEN; i++) {
		int hi, lo;

		/* a NUL within the 64 digits fails here, never read past it */
		hi = hexval(s[2 * i]);
		if (hi < 0)
			return -EINVAL;
		lo = hexval(s[2 * i + 1]);
		if (lo < 0)
			return -EINVAL;
		v[i] = (uint8_t)(hi << 4 | lo);
	}
	if (s[2 * CHAIN_LEN] != '\0')
		return -EINVAL;
	memcpy(out, v, CHAIN_LEN);
	return 0;
}

int chain_canonical(const struct r5424_msg *m, const char *sd_id, char *buf,
		    size_t cap, size_t *len)
{
	const struct r5424_elem *e;
	struct r5424_msg cm, *c = &cm;
	char ts[R5424_TS_LEN];
	unsigned i, n = 0;
	int64_t us;
	int off;

	e = r5424_find_elem(m, sd_id);
	if (e == NULL)
		return -ENOENT;
	memset(c, 0, sizeof(*c));
	c->pri = m->pri;
	c->timestamp = m->timestamp;
	/* the instant, not its spelling: a relay may write "+00:00" for our
	 * "Z" (syslog-ng does); 6 fraction digits, as we emit */
	if (m->timestamp != NULL &&
	    r5424_timestamp_parse(m->timestamp, strlen(m->timestamp), &us,
				  &off) == 0 &&
	    r5424_timestamp(us, off, ts) == 0)
		c->timestamp = ts;
	c->hostname = m->hostname;
	c->app = m->app;
	c->procid = m->procid;
	c->msgid = m->msgid;
	for (i = 0; i < e->nparams && e->first + i < m->nparams; i++) {
		const struct r5424_param *p = &m->params[e->first + i];

		if (strcmp(p->name, "chain") == 0)
			continue;
		c->params[n++] = *p;
	}
	c->elems[0].id = e->id;
	c->elems[0].first = 0;
	c->elems[0].nparams = n;
	c->nelems = 1;
	c->nparams = n;
	/* a relay may drop or keep the BOM: it is framing, not content */
	if (m->msg != NULL && m->msg_len > 0) {
		c->msg = m->msg;
		c->msg_len = m->msg_len;
		c->bom = true;
	}
	return r5424_format(c, buf, cap, len);
}

/* --- verification ------------------------------------------------------- */

struct chain_verifier {
	char *sd_id;
	struct chain c; /* key; prev is set per record */
	bool have_anchor;
	uint8_t anchor[CHAIN_LEN];
	bool started;
	/* chain value of seq first_seq + i, for every accepted record */
	uint8_t (*seen)[CHAIN_LEN];
	size_t nseen, seen_cap;
	/* the START record's prev is unknown: its canonical digest stands in
	 * for it when a duplicate of it arrives */
	uint8_t start_digest[CHAIN_LEN];
	uint64_t fed;
	char *scratch;
	size_t scratch_cap;
	char canon[R5424_MAX_LEN];
	struct chain_verify_report rep;
};

struct chain_verifier *chain_verify_new(const char *sd_id,
					const uint8_t *anchor, const void *key,
					size_t key_len)
{
	struct chain_verifier *v;

	if (sd_id == NULL)
		return NULL;
	v = calloc(1, sizeof(*v));
	if (v == NULL)
		return NULL;
	v->sd_id = strdup(sd_id);
	if (v->sd_id == NULL) {
		free(v);
		return NULL;
	}
	chain_init(&v->c, NULL, key, key_len);
	if (anchor != NULL) {
		v->have_anchor = true;
		memcpy(v->anchor, anchor, CHAIN_LEN);
	}
	return v;
}

void chain_verify_free(struct chain_verifier *v)
{
	if (v == NULL)
		return;
	free(v->sd_id);
	free(v->seen);
	free(v->scratch);
	free(v);
}

const struct chain_verify_report *
chain_verify_report(const struct chain_verifier *v)
{
	return &v->rep;
}

static enum chain_result broken(struct chain_verifier *v, uint64_t seq,
				const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum chain_result broken(struct chain_verifier *v, uint64_t seq,
				const char *fmt, ...)
{
	va_list ap;

	v->rep.broken = true;
	v->rep.broken_seq = seq;
	v->rep.broken_index = v->fed;
	va_start(ap, fmt);
	vsnprintf(v->rep.reason, sizeof(v->rep.reason), fmt, ap);
	va_end(ap);
	return CHAIN_BROKEN;
}

static int parse_seq(const char *s, uint64_t *out)
{
	uint64_t n = 0;

	if (s == NULL || *s < '1' || *s > '9')
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || n > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	*out = n;
	return 0;
}

static int seen_add(struct chain_verifier *v, const uint8_t val[CHAIN_LEN])
{
	if (v->nseen == v->seen_cap) {
		size_t ncap = v->seen_cap ? v->seen_cap * 2 : 1024;
		void *p = realloc(v->seen, ncap * CHAIN_LEN);

		if (p == NULL)
			return -ENOMEM;
		v->seen = p;
		v->seen_cap = ncap;
	}
	memcpy(v->seen[v->nseen++], val, CHAIN_LEN);
	return 0;
}

/* chain value of canon on top of prev, with the verifier's key */
static void recompute(struct chain_verifier *v, const uint8_t prev[CHAIN_LEN],
		      const char *canon, size_t len, uint8_t out[CHAIN_LEN])
{
	memcpy(v->c.prev, prev, CHAIN_LEN);
	chain_next(&v->c, canon, len, out);
}

static enum chain_result dup_or_broken(struct chain_verifier *v, uint64_t seq,
				       const uint8_t claimed[CHAIN_LEN],
				       const char *canon, size_t clen)
{
	uint64_t i = seq - v->rep.first_seq;
	uint8_t calc[CHAIN_LEN];

	if (memcmp(v->seen[i], claimed, CHAIN_LEN) == 0) {
		if (i == 0 && !v->have_anchor) {
			uint8_t zero[CHAIN_LEN] = { 0 };
			struct chain plain;

			chain_init(&plain, zero, NULL, 0);
			chain_next(&plain, canon, clen, calc);
			if (memcmp(calc, v->start_digest, CHAIN_LEN) == 0)
				goto dup;
		} else {
			recompute(v, i ? v->seen[i - 1] : v->anchor, canon,
				  clen, calc);
			if (memcmp(calc, claimed, CHAIN_LEN) == 0)
				goto dup;
		}
	}
	return broken(v, seq, "seq %" PRIu64 " twice with different content",
		      seq);
dup:
	v->rep.duplicates++;
	return CHAIN_DUPLICATE;
}

enum chain_result chain_verify_feed(struct chain_verifier *v, const char *rec,
				    size_t len)
{
	const struct r5424_elem *e;
	struct r5424_error perr = { 0, NULL };
	uint8_t claimed[CHAIN_LEN], calc[CHAIN_LEN];
	struct r5424_msg *m = NULL;
	enum chain_result res;
	const char *s;
	uint64_t seq = 0;
	size_t need, clen;
	int rc;

	if (v->rep.broken)
		return CHAIN_BROKEN;
	v->fed++;
	if (len > R5424_MAX_LEN)
		return broken(v, 0, "record of %zu bytes exceeds %u", len,
			      (unsigned)R5424_MAX_LEN);
	need = len + R5424_MAX_PARAMS * 2 + 16;
	if (need > v->scratch_cap) {
		char *p = realloc(v->scratch, need);

		if (p == NULL)
			return broken(v, 0, "out of memory");
		v->scratch = p;
		v->scratch_cap = need;
	}
	m = malloc(sizeof(*m));
	if (m == NULL)
		return broken(v, 0, "out of memory");
	rc = r5424_parse(rec, len, m, v->scratch, v->scratch_cap, &perr);
	if (rc == -E2BIG) {
		res = broken(v, 0, "too many SD elements or parameters");
		goto out;
	}
	if (rc < 0) {
		res = broken(v, 0, "not RFC 5424 at offset %zu: %s",
			     perr.offset,
			     perr.reason ? perr.reason : strerror(-rc));
		goto out;
	}
	e = r5424_find_elem(m, v->sd_id);
	if (e == NULL) {
		v->rep.skipped++;
		res = CHAIN_NOT_OURS;
		goto out;
	}
	s = r5424_find_param(m, e, "seq");
	if (s == NULL) {
		res = broken(v, 0, "no seq parameter");
		goto out;
	}
	if (parse_seq(s, &seq) < 0) {
		res = broken(v, 0, "bad seq parameter \"%.40s\"", s);
		goto out;
	}
	s = r5424_find_param(m, e, "chain");
	if (s == NULL) {
		res = broken(v, seq, "no chain parameter");
		goto out;
	}
	if (chain_unhex(s, claimed) < 0) {
		res = broken(v, seq, "bad chain parameter \"%.70s\"", s);
		goto out;
	}
	rc = chain_canonical(m, v->sd_id, v->canon, sizeof(v->canon), &clen);
	if (rc < 0) {
		res = broken(v, seq, "cannot re-serialise the record: %s",
			     strerror(-rc));
		goto out;
	}

	if (!v->started) {
		if (v->have_anchor) {
			recompute(v, v->anchor, v->canon, clen, calc);
			if (memcmp(calc, claimed, CHAIN_LEN) != 0) {
				res = broken(v, seq, "chain value differs");
				goto out;
			}
			res = CHAIN_OK;
		} else {
			struct chain plain;
			uint8_t zero[CHAIN_LEN] = { 0 };

			chain_init(&plain, zero, NULL, 0);
			chain_next(&plain, v->canon, clen, v->start_digest);
			res = CHAIN_START;
		}
		if (seen_add(v, claimed) < 0) {
			res = broken(v, seq, "out of memory");
			goto out;
		}
		v->started = true;
		v->rep.first_seq = v->rep.last_seq = seq;
		v->rep.records++;
		goto out;
	}
	if (seq <= v->rep.last_seq) {
		if (seq < v->rep.first_seq)
			res = broken(v, seq,
				     "seq %" PRIu64
				     " precedes the first seq %" PRIu64,
				     seq, v->rep.first_seq);
		else
			res = dup_or_broken(v, seq, claimed, v->canon, clen);
		goto out;
	}
	if (seq != v->rep.last_seq + 1) {
		res = broken(v, seq,
			     "seq %" PRIu64 " missing (got %" PRIu64 ")",
			     v->rep.last_seq + 1, seq);
		goto out;
	}
	recompute(v, v->seen[v->nseen - 1], v->canon, clen, calc);
	if (memcmp(calc, claimed, CHAIN_LEN) != 0) {
		res = broken(v, seq, "chain value differs");
		goto out;
	}
	if (seen_add(v, claimed) < 0) {
		res = broken(v, seq, "out of memory");
		goto out;
	}
	v->rep.last_seq = seq;
	v->rep.records++;
	res = CHAIN_OK;
out:
	free(m);
	return res;
}
