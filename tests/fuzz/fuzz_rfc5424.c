/*
 * libFuzzer harness for the RFC 5424 parser and formatter.
 *
 * 1. The input as a message: parse it; when it parses, format it, parse
 *    the output and require the same fields (MSG may lose its end to the
 *    length limit, on a character boundary), then format again and require
 *    the same bytes.
 * 2. The input as data: as a PARAM-VALUE, a HOSTNAME and a MSG (with and
 *    without BOM), formatted then parsed, must come back as exactly the
 *    transformation below, a UTF-8 validator written apart from the
 *    formatter's so that the two check each other.
 * Deterministic: no clock, no randomness, no state between inputs.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/rfc5424.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SCRATCH (R5424_MAX_LEN + R5424_MAX_PARAMS * 2 + 16)
#define VALUE_MAX 1024

static char scratch1[SCRATCH], scratch2[SCRATCH], out1[R5424_MAX_LEN],
	out2[R5424_MAX_LEN], want[2 * R5424_MAX_LEN];

/* Length of the valid UTF-8 character at s, 0 for NUL or invalid. */
static size_t ref_char(const uint8_t *s, size_t n)
{
	static const uint32_t min_cp[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	uint32_t cp;
	size_t k, i;

	if (s[0] == 0)
		return 0;
	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		k = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		k = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		k = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < k)
		return 0;
	for (i = 1; i < k; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min_cp[k] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return k;
}

/* utf8: NUL and invalid sequences -> '?' a byte; else only NUL -> '?' */
static size_t transform(const uint8_t *s, size_t n, bool utf8, char *dst)
{
	size_t i = 0, o = 0, k;

	while (i < n) {
		k = utf8 ? ref_char(s + i, n - i) : (s[i] != 0);
		if (k == 0) {
			dst[o++] = '?';
			i++;
		} else {
			memcpy(dst + o, s + i, k);
			o += k;
			i += k;
		}
	}
	return o;
}

static bool str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* b's MSG is a's, or a's cut at a character boundary because the next
 * character did not fit after out_len bytes. */
static void check_msg(const struct r5424_msg *a, const struct r5424_msg *b,
		      size_t out_len)
{
	size_t k;

	if (b->msg_len > a->msg_len ||
	    (b->msg_len > 0 && memcmp(a->msg, b->msg, b->msg_len) != 0))
		abort();
	if (b->msg_len > 0 && a->bom != b->bom)
		abort();
	if (b->msg_len == a->msg_len)
		return;
	k = a->bom ? ref_char((const uint8_t *)a->msg + b->msg_len,
			      a->msg_len - b->msg_len) :
		     1;
	if (k == 0)
		abort(); /* a parsed MSG-UTF8 is valid */
	/* no MSG at all costs SP + BOM as well */
	if (b->msg_len == 0)
		k += 1 + (a->bom ? 3 : 0);
	if (out_len + k <= R5424_MAX_LEN - 1)
		abort();
}

static void same_fields(const struct r5424_msg *a, const struct r5424_msg *b,
			size_t out_len)
{
	unsigned i;

	if (a->pri != b->pri || !str_eq(a->timestamp, b->timestamp) ||
	    !str_eq(a->hostname, b->hostname) || !str_eq(a->app, b->app) ||
	    !str_eq(a->procid, b->procid) || !str_eq(a->msgid, b->msgid) ||
	    a->nelems != b->nelems || a->nparams != b->nparams)
		abort();
	for (i = 0; i < a->nelems; i++)
		if (strcmp(a->elems[i].id, b->elems[i].id) != 0 ||
		    a->elems[i].first != b->elems[i].first ||
		    a->elems[i].nparams != b->elems[i].nparams)
			abort();
	for (i = 0; i < a->nparams; i++)
		if (strcmp(a->params[i].name, b->params[i].name) != 0 ||
		    a->params[i].value_len != b->params[i].value_len ||
		    memcmp(a->params[i].value, b->params[i].value,
			   a->params[i].value_len) != 0)
			abort();
	check_msg(a, b, out_len);
}

static void round_trip(const uint8_t *data, size_t size)
{
	static struct r5424_msg m1, m2;
	struct r5424_error err = { 0, NULL };
	size_t len1, len2;
	int rc;

	rc = r5424_parse((const char *)data, size, &m1, scratch1,
			 sizeof(scratch1), &err);
	if (rc == -EINVAL || rc == -E2BIG) {
		if (err.reason == NULL || err.offset > size)
			abort();
		return;
	}
	if (rc != 0)
		abort(); /* scratch is the documented size: never -ENOSPC */
	rc = r5424_format(&m1, out1, sizeof(out1), &len1);
	if (rc == -ENOSPC)
		return; /* escaping literal '\' grew the SD past the limit */
	if (rc != 0 || len1 >= sizeof(out1) || out1[len1] != '\0')
		abort();
	if (r5424_parse(out1, len1, &m2, scratch2, sizeof(scratch2), &err))
		abort();
	same_fields(&m1, &m2, len1);
	if (r5424_format(&m2, out2, sizeof(out2), &len2) != 0 || len2 != len1 ||
	    memcmp(out1, out2, len1) != 0)
		abort();
}

static void as_data(const uint8_t *data, size_t size, bool bom)
{
	static struct r5424_msg m, p;
	static char value[VALUE_MAX], host[R5424_HOSTNAME_MAX + 2];
	struct r5424_error err = { 0, NULL };
	size_t vn = size < VALUE_MAX ? size : VALUE_MAX, hn, wn, len, i, mn;
	const uint8_t *md;

	memset(&m, 0, sizeof(m));
	m.pri = 13 * 8 + 6;
	m.timestamp = "2026-01-02T03:04:05.123456+01:00";
	m.app = "conduitd";
	m.msgid = "FUZZ";
	m.elems[0].id = "fuzz@32473";
	m.elems[0].nparams = 1;
	m.nelems = 1;
	m.params[0].name = "v";
	memcpy(value, data, vn);
	m.params[0].value = value;
	m.params[0].value_len = vn;
	m.nparams = 1;
	for (hn = 0; hn < vn && hn < sizeof(host) - 1 && data[hn] != 0; hn++)
		host[hn] = (char)data[hn];
	host[hn] = '\0';
	m.hostname = host;
	m.msg = (const char *)data;
	m.msg_len = size;
	m.bom = bom;

	if (r5424_format(&m, out1, sizeof(out1), &len) != 0)
		abort();
	if (r5424_parse(out1, len, &p, scratch2, sizeof(scratch2), &err) != 0)
		abort();

	wn = transform(data, vn, true, want);
	if (p.nparams != 1 || p.params[0].value_len != wn ||
	    memcmp(p.params[0].value, want, wn) != 0)
		abort();

	if (hn > R5424_HOSTNAME_MAX)
		hn = R5424_HOSTNAME_MAX;
	for (i = 0; i < hn; i++)
		want[i] = data[i] >= 33 && data[i] <= 126 ? (char)data[i] : '_';
	if (hn == 0 || (hn == 1 && want[0] == '-')) {
		if (p.hostname != NULL)
			abort();
	} else if (p.hostname == NULL || strlen(p.hostname) != hn ||
		   memcmp(p.hostname, want, hn) != 0) {
		abort();
	}

	/* MSG-ANY starting with a BOM is MSG-UTF8 */
	md = data;
	mn = size;
	if (!bom && size >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
		md += 3;
		mn -= 3;
		bom = true;
	}
	wn = transform(md, mn, bom, want);
	if (p.msg_len > wn || (p.msg_len > 0 && p.bom != bom) ||
	    (p.msg_len > 0 && memcmp(p.msg, want, p.msg_len) != 0))
		abort();
	if (p.msg_len < wn) {
		struct r5424_msg w = m;

		/* cut: the next character must not have fit */
		w.msg = want;
		w.msg_len = wn;
		w.bom = bom;
		check_msg(&w, &p, len);
	}
}

/* CR 3.5 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	round_trip(data, size);
	as_data(data, size, true);
	as_data(data, size, false);
	return 0;
}
