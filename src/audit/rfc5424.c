/*
 * RFC 5424 messages: the formatter of what conduitd sends and the strict
 * parser of what `conduitctl audit verify`, the chain verifier and the fuzz
 * round trip read back. Both follow rfc5424.h; the RFC 3339 timestamp
 * profile of RFC 5424 section 6.2.3 lives here too. Pure: no I/O, no
 * allocation, no global state.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "audit/rfc5424.h"

static const char bom[3] = { '\xef', '\xbb', '\xbf' };

/*
 * Length of the well-formed UTF-8 sequence starting at s (Unicode 15,
 * table 3-7: no overlong forms, no surrogates, nothing above U+10FFFF),
 * or 0 when none starts there. NUL counts as a one-byte sequence.
 */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t need, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (n < need || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < need; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return need;
}

static bool is_print(unsigned char c)
{
	return c >= 33 && c <= 126;
}

/* SD-NAME (and SD-ID): 1*32 PRINTUSASCII except '=', SP, ']', '"' */
static bool sd_name_char(unsigned char c)
{
	return is_print(c) && c != '=' && c != ']' && c != '"';
}

static bool sd_name_ok(const char *s)
{
	size_t n;

	if (s == NULL)
		return false;
	for (n = 0; s[n] != '\0'; n++)
		if (n == R5424_SDNAME_MAX || !sd_name_char((unsigned char)s[n]))
			return false;
	return n > 0;
}

/* --- timestamps ------------------------------------------------------- */

#define US_PER_S 1000000LL
/* 0000-01-01T00:00:00 and 9999-12-31T23:59:59, seconds since the epoch */
#define TS_MIN_S (-62167219200LL)
#define TS_MAX_S 253402300799LL
#define TS_OFFSET_MAX (23 * 3600 + 59 * 60)

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era;
	int yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (int)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
	int64_t era;
	int doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (int)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30,
				      31, 31, 30, 31, 30, 31 };

	return m == 2 && leap(y) ? 29 : days[m - 1];
}

static char *put_num(char *p, long v, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + width;
}

int r5424_timestamp(int64_t us, int utc_offset_s, char out[R5424_TS_LEN])
{
	int64_t local, s, days, sod;
	long frac;
	int y, mo, d, off;
	char *p = out;

	if (utc_offset_s % 60 != 0 || utc_offset_s > TS_OFFSET_MAX ||
	    utc_offset_s < -TS_OFFSET_MAX)
		return -EINVAL;
	if (us < (TS_MIN_S - 86400) * US_PER_S ||
	    us > (TS_MAX_S + 86400) * US_PER_S)
		return -EINVAL;
	local = us + (int64_t)utc_offset_s * US_PER_S;
	s = local / US_PER_S;
	frac = (long)(local % US_PER_S);
	if (frac < 0) {
		frac += US_PER_S;
		s--;
	}
	if (s < TS_MIN_S || s > TS_MAX_S)
		return -EINVAL;
	days = s / 86400;
	sod = s % 86400;
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	civil_from_days(days, &y, &mo, &d);
	p = put_num(p, y, 4);
	*p++ = '-';
	p = put_num(p, mo, 2);
	*p++ = '-';
	p = put_num(p, d, 2);
	*p++ = 'T';
	p = put_num(p, (long)(sod / 3600), 2);
	*p++ = ':';
	p = put_num(p, (long)(sod / 60 % 60), 2);
	*p++ = ':';
	p = put_num(p, (long)(sod % 60), 2);
	*p++ = '.';
	p = put_num(p, frac, 6);
	if (utc_offset_s == 0) {
		*p++ = 'Z';
	} else {
		*p++ = utc_offset_s < 0 ? '-' : '+';
		off = utc_offset_s < 0 ? -utc_offset_s : utc_offset_s;
		p = put_num(p, off / 3600, 2);
		*p++ = ':';
		p = put_num(p, off / 60 % 60, 2);
	}
	*p = '\0';
	return 0;
}

int r5424_timestamp_local(int64_t us, char out[R5424_TS_LEN])
{
	time_t t;
	struct tm tm;
	long off;

	t = (time_t)(us / US_PER_S - (us % US_PER_S < 0));
	if (localtime_r(&t, &tm) == NULL)
		return -EINVAL;
	off = tm.tm_gmtoff;
	/* pre-1970s local mean times have seconds in the offset: say UTC */
	if (off % 60 != 0 || off > TS_OFFSET_MAX || off < -TS_OFFSET_MAX)
		off = 0;
	return r5424_timestamp(us, (int)off, out);
}

/* n decimal digits at s -> value, or -1 */
static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int r5424_timestamp_parse(const char *s, size_t len, int64_t *us,
			  int *utc_offset_s)
{
	int y, mo, d, h, mi, se, off = 0, nd = 0, oh, om;
	long frac = 0;
	size_t p = 19;

	/* YYYY-MM-DDThh:mm:ss then [.1*6DIGIT] then Z / +hh:mm / -hh:mm */
	if (s == NULL || len < 20 || s[4] != '-' || s[7] != '-' ||
	    s[10] != 'T' || s[13] != ':' || s[16] != ':')
		return -EINVAL;
	y = digits(s, 4);
	mo = digits(s + 5, 2);
	d = digits(s + 8, 2);
	h = digits(s + 11, 2);
	mi = digits(s + 14, 2);
	se = digits(s + 17, 2);
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) ||
	    h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 59)
		return -EINVAL;
	if (s[p] == '.') {
		for (p++; p < len && s[p] >= '0' && s[p] <= '9'; p++, nd++) {
			if (nd == 6)
				return -EINVAL;
			frac = frac * 10 + (s[p] - '0');
		}
		if (nd == 0)
			return -EINVAL;
		for (; nd < 6; nd++)
			frac *= 10;
	}
	if (p >= len)
		return -EINVAL;
	if (s[p] == 'Z') {
		p++;
	} else if (s[p] == '+' || s[p] == '-') {
		if (len - p < 6 || s[p + 3] != ':')
			return -EINVAL;
		oh = digits(s + p + 1, 2);
		om = digits(s + p + 4, 2);
		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return -EINVAL;
		off = (oh * 3600 + om * 60) * (s[p] == '-' ? -1 : 1);
		p += 6;
	} else {
		return -EINVAL;
	}
	if (p != len)
		return -EINVAL;
	if (us != NULL)
		*us = ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 +
			se) -
		       off) * US_PER_S +
		      frac;
	if (utc_offset_s != NULL)
		*utc_offset_s = off;
	return 0;
}

/* --- formatter ---------------------------------------------------------- */

struct out {
	char *p;
	size_t len, lim;
	bool full;
};

static void put(struct out *o, const void *s, size_t n)
{
	if (o->full || n > o->lim - o->len) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void putc_(struct out *o, char c)
{
	put(o, &c, 1);
}

/* A header field: nil for NULL or "", '_' for bytes outside 33..126. */
static void put_field(struct out *o, const char *s, size_t max)
{
	size_t i;

	putc_(o, ' ');
	if (s == NULL || s[0] == '\0') {
		putc_(o, '-');
		return;
	}
	for (i = 0; i < max && s[i] != '\0'; i++)
		putc_(o, is_print((unsigned char)s[i]) ? s[i] : '_');
}

/* PARAM-VALUE: '"', '\' and ']' escaped; NUL and invalid UTF-8 -> '?' */
static void put_value(struct out *o, const char *v, size_t n)
{
	const unsigned char *s = (const unsigned char *)v;
	size_t i = 0, k;

	while (i < n) {
		k = s[i] == 0 ? 0 : utf8_seq(s + i, n - i);
		if (k == 0) {
			putc_(o, '?');
			i++;
			continue;
		}
		if (k == 1 && (s[i] == '"' || s[i] == '\\' || s[i] == ']'))
			putc_(o, '\\');
		put(o, s + i, k);
		i += k;
	}
}

/*
 * MSG, cut at the end on a character boundary when it does not fit. With
 * a BOM it is MSG-UTF8 (invalid sequences and NUL -> '?'); without, it is
 * MSG-ANY and only NUL is replaced (the parser refuses NUL everywhere).
 * MSG-ANY must not start with a BOM: text that does is taken as MSG-UTF8.
 */
static void put_msg(struct out *o, const struct r5424_msg *m)
{
	const unsigned char *s = (const unsigned char *)m->msg;
	size_t n = m->msg_len, i = 0, k, start = o->len;
	bool utf8 = m->bom;

	if (!utf8 && n >= sizeof(bom) && memcmp(s, bom, sizeof(bom)) == 0) {
		utf8 = true;
		s += sizeof(bom);
		n -= sizeof(bom);
	}
	if (n == 0 || o->full ||
	    o->lim - o->len < 1 + (utf8 ? sizeof(bom) : 0) + 1)
		return;
	putc_(o, ' ');
	if (utf8)
		put(o, bom, sizeof(bom));
	while (i < n) {
		if (s[i] == 0)
			k = 0;
		else if (utf8)
			k = utf8_seq(s + i, n - i);
		else
			k = 1;
		if ((k ? k : 1) > o->lim - o->len)
			break;
		if (k == 0) {
			putc_(o, '?');
			i++;
		} else {
			put(o, s + i, k);
			i += k;
		}
	}
	if (i == 0)
		o->len = start; /* not even one character: no MSG at all */
}

static int check_sd(const struct r5424_msg *m)
{
	unsigned i, j;

	if (m->nelems > R5424_MAX_ELEMS || m->nparams > R5424_MAX_PARAMS)
		return -EINVAL;
	for (i = 0; i < m->nelems; i++) {
		const struct r5424_elem *e = &m->elems[i];

		if (!sd_name_ok(e->id) || e->first > m->nparams ||
		    e->nparams > m->nparams - e->first)
			return -EINVAL;
		for (j = 0; j < i; j++)
			if (strcmp(m->elems[j].id, e->id) == 0)
				return -EINVAL;
		for (j = e->first; j < e->first + e->nparams; j++)
			if (!sd_name_ok(m->params[j].name))
				return -EINVAL;
	}
	return 0;
}

int r5424_format(const struct r5424_msg *m, char *buf, size_t cap, size_t *len)
{
	struct out o = { buf, 0, 0, false };
	char pri[8], *p;
	unsigned i, j;
	int rc;

	*len = 0;
	if (m->pri < 0 || m->pri > 191)
		return -EINVAL;
	if (m->timestamp != NULL && m->timestamp[0] != '\0' &&
	    r5424_timestamp_parse(m->timestamp, strlen(m->timestamp), NULL,
				  NULL) < 0)
		return -EINVAL;
	rc = check_sd(m);
	if (rc < 0)
		return rc;
	if (cap == 0)
		return -ENOSPC;
	o.lim = cap - 1 < R5424_MAX_LEN ? cap - 1 : R5424_MAX_LEN;

	p = pri;
	*p++ = '<';
	if (m->pri >= 100)
		*p++ = (char)('0' + m->pri / 100);
	if (m->pri >= 10)
		*p++ = (char)('0' + m->pri / 10 % 10);
	*p++ = (char)('0' + m->pri % 10);
	*p++ = '>';
	*p++ = '1';
	put(&o, pri, (size_t)(p - pri));
	put_field(&o, m->timestamp, R5424_TS_LEN - 1);
	put_field(&o, m->hostname, R5424_HOSTNAME_MAX);
	put_field(&o, m->app, R5424_APPNAME_MAX);
	put_field(&o, m->procid, R5424_PROCID_MAX);
	put_field(&o, m->msgid, R5424_MSGID_MAX);
	putc_(&o, ' ');
	if (m->nelems == 0)
		putc_(&o, '-');
	for (i = 0; i < m->nelems; i++) {
		const struct r5424_elem *e = &m->elems[i];

		putc_(&o, '[');
		put(&o, e->id, strlen(e->id));
		for (j = e->first; j < e->first + e->nparams; j++) {
			const struct r5424_param *pa = &m->params[j];

			putc_(&o, ' ');
			put(&o, pa->name, strlen(pa->name));
			put(&o, "=\"", 2);
			if (pa->value != NULL)
				put_value(&o, pa->value, pa->value_len);
			putc_(&o, '"');
		}
		putc_(&o, ']');
	}
	if (o.full)
		return -ENOSPC;
	if (m->msg != NULL && m->msg_len > 0)
		put_msg(&o, m);
	buf[o.len] = '\0';
	*len = o.len;
	return 0;
}

/* --- parser ------------------------------------------------------------- */

struct cur {
	const char *b;
	size_t len, pos;
	char *s; /* scratch */
	size_t scap, sused;
	struct r5424_error *err;
};

static int fail(struct cur *c, size_t off, const char *why)
{
	if (c->err != NULL) {
		c->err->offset = off;
		c->err->reason = why;
	}
	return -EINVAL;
}

static int nospace(struct cur *c)
{
	if (c->err != NULL) {
		c->err->offset = c->pos;
		c->err->reason = "scratch buffer too small";
	}
	return -ENOSPC;
}

/* Copies n input bytes from off into scratch, NUL-terminated. */
static const char *save(struct cur *c, size_t off, size_t n)
{
	char *p = c->s + c->sused;

	if (n >= c->scap - c->sused)
		return NULL;
	memcpy(p, c->b + off, n);
	p[n] = '\0';
	c->sused += n + 1;
	return p;
}

struct hdr_field {
	size_t max;
	const char *missing, *empty, *bad, *too_long;
};

static const struct hdr_field f_ts = { R5424_TS_LEN - 1, "missing TIMESTAMP",
				       "empty TIMESTAMP", "bad TIMESTAMP",
				       "bad TIMESTAMP" };
static const struct hdr_field f_host = { R5424_HOSTNAME_MAX, "missing HOSTNAME",
					 "empty HOSTNAME",
					 "bad byte in HOSTNAME",
					 "HOSTNAME longer than 255" };
static const struct hdr_field f_app = { R5424_APPNAME_MAX, "missing APP-NAME",
					"empty APP-NAME",
					"bad byte in APP-NAME",
					"APP-NAME longer than 48" };
static const struct hdr_field f_procid = { R5424_PROCID_MAX, "missing PROCID",
					   "empty PROCID", "bad byte in PROCID",
					   "PROCID longer than 128" };
static const struct hdr_field f_msgid = { R5424_MSGID_MAX, "missing MSGID",
					  "empty MSGID", "bad byte in MSGID",
					  "MSGID longer than 32" };

/* SP then one header field; "-" -> NULL. */
static int header_field(struct cur *c, const struct hdr_field *f,
			const char **out, size_t *start)
{
	size_t n;

	if (c->pos >= c->len || c->b[c->pos] != ' ')
		return fail(c, c->pos, f->missing);
	*start = ++c->pos;
	if (c->pos >= c->len)
		return fail(c, c->pos, f->missing);
	if (c->b[c->pos] == ' ')
		return fail(c, c->pos, f->empty);
	for (n = 0; c->pos < c->len && c->b[c->pos] != ' '; n++, c->pos++) {
		if (n == f->max)
			return fail(c, c->pos, f->too_long);
		if (!is_print((unsigned char)c->b[c->pos]))
			return fail(c, c->pos, f->bad);
	}
	if (n == 1 && c->b[*start] == '-') {
		*out = NULL;
		return 0;
	}
	*out = save(c, *start, n);
	return *out == NULL ? nospace(c) : 0;
}

static int parse_pri(struct cur *c, int *pri)
{
	size_t start;
	int v = 0, n = 0;

	if (c->len == 0 || c->b[0] != '<')
		return fail(c, 0, "missing '<' of PRI");
	start = c->pos = 1;
	while (c->pos < c->len && c->b[c->pos] >= '0' && c->b[c->pos] <= '9') {
		if (++n > 3)
			return fail(c, start, "PRI > 191");
		v = v * 10 + (c->b[c->pos++] - '0');
	}
	if (n == 0)
		return fail(c, start, "missing PRI");
	if (c->pos >= c->len || c->b[c->pos] != '>')
		return fail(c, c->pos, "missing '>' after PRI");
	if (n > 1 && c->b[start] == '0')
		return fail(c, start, "leading zero in PRI");
	if (v > 191)
		return fail(c, start, "PRI > 191");
	c->pos++;
	*pri = v;
	return 0;
}

static int parse_version(struct cur *c)
{
	size_t start = c->pos, n = 0;

	/* VERSION = NONZERO-DIGIT 0*2DIGIT; we speak 1 */
	while (start + n < c->len && n < 4 && c->b[start + n] >= '0' &&
	       c->b[start + n] <= '9')
		n++;
	if (n == 0 || n > 3 || c->b[start] == '0' || start + n >= c->len ||
	    c->b[start + n] != ' ')
		return fail(c, start, "missing VERSION");
	if (n != 1 || c->b[start] != '1')
		return fail(c, start, "unsupported VERSION (not 1)");
	c->pos += n;
	return 0;
}

/* SD-ID or PARAM-NAME at c->pos, into scratch. */
static int sd_name(struct cur *c, bool is_id, const char **out)
{
	size_t start = c->pos, n = 0;
	unsigned char ch;

	while (c->pos < c->len) {
		ch = (unsigned char)c->b[c->pos];
		if (ch == ' ' || ch == '=' || ch == ']' || ch == '"')
			break;
		if (!is_print(ch))
			return fail(c, c->pos,
				    is_id ? "bad byte in SD-ID" :
					    "bad byte in SD-NAME");
		if (n == R5424_SDNAME_MAX)
			return fail(c, c->pos,
				    is_id ? "SD-ID longer than 32" :
					    "SD-NAME longer than 32");
		n++;
		c->pos++;
	}
	if (n == 0) {
		if (c->pos >= c->len)
			return fail(c, c->pos, "unterminated SD-ELEMENT");
		return fail(c, c->pos, is_id ? "empty SD-ID" : "empty SD-NAME");
	}
	*out = save(c, start, n);
	return *out == NULL ? nospace(c) : 0;
}

/* '"' PARAM-VALUE '"' at c->pos, unescaped into scratch. */
static int sd_value(struct cur *c, struct r5424_param *pa, size_t elem_start)
{
	char *v = c->s + c->sused;
	size_t n = 0, k, room = c->scap - c->sused;
	unsigned char ch;

	if (c->pos >= c->len)
		return fail(c, elem_start, "unterminated SD-ELEMENT");
	if (c->b[c->pos] != '"')
		return fail(c, c->pos, "missing '\"' before PARAM-VALUE");
	c->pos++;
	for (;;) {
		if (c->pos >= c->len)
			return fail(c, elem_start, "unterminated SD-ELEMENT");
		ch = (unsigned char)c->b[c->pos];
		if (ch == '"')
			break;
		if (ch == ']')
			return fail(c, c->pos, "unescaped ']' in PARAM-VALUE");
		k = 1;
		if (ch == '\\' && c->pos + 1 < c->len &&
		    (c->b[c->pos + 1] == '"' || c->b[c->pos + 1] == '\\' ||
		     c->b[c->pos + 1] == ']'))
			c->pos++; /* an escape; any other '\' is literal */
		else if (ch >= 0x80)
			k = utf8_seq((const unsigned char *)c->b + c->pos,
				     c->len - c->pos);
		if (k == 0)
			return fail(c, c->pos, "invalid UTF-8 in PARAM-VALUE");
		if (n + k >= room)
			return nospace(c);
		memcpy(v + n, c->b + c->pos, k);
		n += k;
		c->pos += k;
	}
	c->pos++;
	v[n] = '\0';
	c->sused += n + 1;
	pa->value = v;
	pa->value_len = n;
	return 0;
}

static int sd_element(struct cur *c, struct r5424_msg *m)
{
	size_t start = c->pos, id_start;
	struct r5424_elem *e;
	unsigned i;
	int rc;

	if (m->nelems == R5424_MAX_ELEMS) {
		fail(c, start, "more than 8 SD-ELEMENTs");
		return -E2BIG;
	}
	e = &m->elems[m->nelems];
	id_start = ++c->pos;
	rc = sd_name(c, true, &e->id);
	if (rc < 0)
		return rc;
	for (i = 0; i < m->nelems; i++)
		if (strcmp(m->elems[i].id, e->id) == 0)
			return fail(c, id_start, "duplicate SD-ID");
	e->first = m->nparams;
	e->nparams = 0;
	for (;;) {
		struct r5424_param *pa;

		if (c->pos >= c->len)
			return fail(c, start, "unterminated SD-ELEMENT");
		if (c->b[c->pos] == ']')
			break;
		if (c->b[c->pos] != ' ')
			return fail(c, c->pos, "bad byte in SD-ELEMENT");
		c->pos++;
		if (m->nparams == R5424_MAX_PARAMS) {
			fail(c, c->pos, "more than 64 SD-PARAMs");
			return -E2BIG;
		}
		pa = &m->params[m->nparams];
		rc = sd_name(c, false, &pa->name);
		if (rc < 0)
			return rc;
		if (c->pos >= c->len)
			return fail(c, start, "unterminated SD-ELEMENT");
		if (c->b[c->pos] != '=')
			return fail(c, c->pos, "missing '=' after SD-NAME");
		c->pos++;
		rc = sd_value(c, pa, start);
		if (rc < 0)
			return rc;
		m->nparams++;
		e->nparams++;
	}
	c->pos++;
	m->nelems++;
	return 0;
}

int r5424_parse(const char *buf, size_t len, struct r5424_msg *out,
		char *scratch, size_t scap, struct r5424_error *err)
{
	struct cur c = { buf, len, 0, scratch, scap, 0, err };
	const char *nul;
	size_t at, k;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > R5424_MAX_LEN)
		return fail(&c, R5424_MAX_LEN,
			    "message longer than 8192 bytes");
	nul = memchr(buf, '\0', len);
	if (nul != NULL)
		return fail(&c, (size_t)(nul - buf), "NUL byte");
	rc = parse_pri(&c, &out->pri);
	if (rc == 0)
		rc = parse_version(&c);
	if (rc == 0)
		rc = header_field(&c, &f_ts, &out->timestamp, &at);
	if (rc == 0 && out->timestamp != NULL &&
	    r5424_timestamp_parse(out->timestamp, strlen(out->timestamp), NULL,
				  NULL) < 0)
		rc = fail(&c, at, "bad TIMESTAMP");
	if (rc == 0)
		rc = header_field(&c, &f_host, &out->hostname, &at);
	if (rc == 0)
		rc = header_field(&c, &f_app, &out->app, &at);
	if (rc == 0)
		rc = header_field(&c, &f_procid, &out->procid, &at);
	if (rc == 0)
		rc = header_field(&c, &f_msgid, &out->msgid, &at);
	if (rc < 0)
		return rc;

	if (c.pos >= len || buf[c.pos] != ' ')
		return fail(&c, c.pos, "missing STRUCTURED-DATA");
	c.pos++;
	if (c.pos < len && buf[c.pos] == '-') {
		c.pos++;
	} else if (c.pos < len && buf[c.pos] == '[') {
		while (c.pos < len && buf[c.pos] == '[') {
			rc = sd_element(&c, out);
			if (rc < 0)
				return rc;
		}
	} else {
		return fail(&c, c.pos, "missing STRUCTURED-DATA");
	}
	if (c.pos == len)
		return 0;
	if (buf[c.pos] != ' ')
		return fail(&c, c.pos, "bad byte after STRUCTURED-DATA");
	c.pos++;
	if (len - c.pos >= sizeof(bom) && memcmp(buf + c.pos, bom, 3) == 0) {
		out->bom = true;
		c.pos += sizeof(bom);
		for (at = c.pos; at < len; at += k) {
			k = utf8_seq((const unsigned char *)buf + at, len - at);
			if (k == 0)
				return fail(&c, at, "invalid UTF-8 in MSG");
		}
	}
	if (c.pos < len) {
		out->msg = save(&c, c.pos, len - c.pos);
		if (out->msg == NULL)
			return nospace(&c);
		out->msg_len = len - c.pos;
	}
	return 0;
}

const struct r5424_elem *r5424_find_elem(const struct r5424_msg *m,
					 const char *id)
{
	unsigned i;

	if (id == NULL)
		return NULL;
	for (i = 0; i < m->nelems && i < R5424_MAX_ELEMS; i++)
		if (m->elems[i].id != NULL && strcmp(m->elems[i].id, id) == 0)
			return &m->elems[i];
	return NULL;
}

const char *r5424_find_param(const struct r5424_msg *m,
			     const struct r5424_elem *e, const char *name)
{
	unsigned i, end;

	if (e == NULL || name == NULL)
		return NULL;
	end = m->nparams < R5424_MAX_PARAMS ? m->nparams : R5424_MAX_PARAMS;
	if (e->first + e->nparams < end)
		end = e->first + e->nparams;
	for (i = e->first; i < end; i++)
		if (m->params[i].name != NULL &&
		    strcmp(m->params[i].name, name) == 0)
			return m->params[i].value;
	return NULL;
}
