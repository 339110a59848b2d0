/*
 * RFC 5424 formatter and strict parser: escaping, header limits, BOM, MSG
 * truncation, RFC 3339 timestamps, every parser refusal with its reason
 * and offset, a line rsyslog wrote, byte-identical round trips.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/rfc5424.h"

#define BOM "\xef\xbb\xbf"
#define TS "2026-01-02T03:04:05.123456+01:00"
#define HDR "<165>1 " TS " gw01 conduitd 42 TEST "

static char out[R5424_MAX_LEN];
static size_t out_len;
static struct r5424_msg pm;
static char scratch[R5424_MAX_LEN + R5424_MAX_PARAMS * 2 + 16];
static struct r5424_error perr;

/* A message with one element "x@32473" holding the given params. */
static void msg_init(struct r5424_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->pri = 165;
	m->timestamp = TS;
	m->hostname = "gw01";
	m->app = "conduitd";
	m->procid = "42";
	m->msgid = "TEST";
}

static void add_param(struct r5424_msg *m, const char *name, const char *v)
{
	struct r5424_param *p = &m->params[m->nparams++];

	p->name = name;
	p->value = v;
	p->value_len = strlen(v);
	m->elems[m->nelems - 1].nparams++;
}

static void add_elem(struct r5424_msg *m, const char *id)
{
	struct r5424_elem *e = &m->elems[m->nelems++];

	e->id = id;
	e->first = m->nparams;
	e->nparams = 0;
}

static void fmt(const struct r5424_msg *m)
{
	int rc = r5424_format(m, out, sizeof(out), &out_len);

	cr_assert_eq(rc, 0, "format: %d", rc);
	cr_assert_eq(strlen(out), out_len);
}

static int parse_n(const char *s, size_t n)
{
	memset(&perr, 0, sizeof(perr));
	return r5424_parse(s, n, &pm, scratch, sizeof(scratch), &perr);
}

static int parse(const char *s)
{
	return parse_n(s, strlen(s));
}

/* The formatted value of one parameter (single element). */
static const char *fmt_value(const char *v)
{
	struct r5424_msg m;

	msg_init(&m);
	add_elem(&m, "x@32473");
	add_param(&m, "v", v);
	fmt(&m);
	return out;
}

static void assert_refused(const char *s, size_t n, int rc_want,
			   const char *reason, size_t offset)
{
	int rc = parse_n(s, n);

	cr_assert_eq(rc, rc_want, "%s: rc %d, want %d", s, rc, rc_want);
	cr_assert_not_null(perr.reason);
	cr_assert_str_eq(perr.reason, reason, "%s", s);
	cr_assert_eq(perr.offset, offset, "%s: offset %zu, want %zu (%s)", s,
		     perr.offset, offset, perr.reason);
}

static void refused(const char *s, int rc_want, const char *reason,
		    size_t offset)
{
	assert_refused(s, strlen(s), rc_want, reason, offset);
}

/* --- formatter: escaping ---------------------------------------------- */

/* CR 2.8 */
Test(r5424_format, escapes_each_special_char)
{
	cr_assert_str_eq(fmt_value("a\"b"), HDR "[x@32473 v=\"a\\\"b\"]");
	cr_assert_str_eq(fmt_value("a\\b"), HDR "[x@32473 v=\"a\\\\b\"]");
	cr_assert_str_eq(fmt_value("a]b"), HDR "[x@32473 v=\"a\\]b\"]");
	/* nothing else is escaped */
	cr_assert_str_eq(fmt_value("[= 'x'\t}"),
			 HDR "[x@32473 v=\"[= 'x'\t}\"]");
	cr_assert_str_eq(fmt_value(""), HDR "[x@32473 v=\"\"]");
}

/* CR 2.8 */
Test(r5424_format, literal_backslash_before_other_chars)
{
	/* "\n" as two characters, "\x", a trailing '\': each '\' doubled */
	cr_assert_str_eq(fmt_value("\\n\\x\\"),
			 HDR "[x@32473 v=\"\\\\n\\\\x\\\\\"]");
	cr_assert_eq(parse(out), 0);
	cr_assert_str_eq(pm.params[0].value, "\\n\\x\\");

	/* the parser keeps a '\' that escapes nothing */
	cr_assert_eq(parse(HDR "[x@32473 v=\"C:\\temp\\\\a\\\"\"]"), 0);
	cr_assert_str_eq(pm.params[0].value, "C:\\temp\\a\"");
	cr_assert_eq(pm.params[0].value_len, 10);
}

/* CR 2.8 */
Test(r5424_format, invalid_utf8_in_value_becomes_question_mark)
{
	cr_assert_str_eq(fmt_value("a\xff"
				   "b"),
			 HDR "[x@32473 v=\"a?b\"]");
	/* overlong '/', a surrogate, a truncated sequence: one '?' a byte */
	cr_assert_str_eq(fmt_value("\xc0\xaf|\xed\xa0\x80|\xe2\x82"),
			 HDR "[x@32473 v=\"??|???|??\"]");
	/* above U+10FFFF */
	cr_assert_str_eq(fmt_value("\xf4\x90\x80\x80"),
			 HDR "[x@32473 v=\"????\"]");
	/* 2, 3 and 4 byte characters are kept */
	cr_assert_str_eq(
		fmt_value("\xc3\xa9\xe2\x82\xac\xf0\x9f\x94\x92"),
		HDR "[x@32473 v=\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x94\x92\"]");
}

/* CR 2.8 */
Test(r5424_format, nul_in_value_becomes_question_mark)
{
	struct r5424_msg m;

	msg_init(&m);
	add_elem(&m, "x@32473");
	add_param(&m, "v", "");
	m.params[0].value = "a\0b";
	m.params[0].value_len = 3;
	fmt(&m);
	cr_assert_str_eq(out, HDR "[x@32473 v=\"a?b\"]");
}

/* --- formatter: header ---------------------------------------------- */

enum hdr { H_HOST, H_APP, H_PROCID, H_MSGID };

static const char **field(struct r5424_msg *m, enum hdr f)
{
	switch (f) {
	case H_HOST:
		return &m->hostname;
	case H_APP:
		return &m->app;
	case H_PROCID:
		return &m->procid;
	default:
		return &m->msgid;
	}
}

static void check_limit(enum hdr f, size_t max)
{
	struct r5424_msg m;
	char v[300];

	for (size_t n = max; n <= max + 1; n++) {
		for (size_t i = 0; i < n; i++)
			v[i] = (char)('a' + i % 26);
		v[n] = '\0';
		msg_init(&m);
		*field(&m, f) = v;
		fmt(&m);
		cr_assert_eq(parse(out), 0, "%s: %s", out, perr.reason);
		cr_assert_eq(strlen(*field(&pm, f)), max, "n=%zu", n);
		cr_assert_eq(strncmp(*field(&pm, f), v, max), 0);
	}
}

/* CR 2.8 */
Test(r5424_format, header_limits_kept_and_cut)
{
	/* exact limit kept, limit + 1 cut to the limit */
	check_limit(H_HOST, R5424_HOSTNAME_MAX);
	check_limit(H_APP, R5424_APPNAME_MAX);
	check_limit(H_PROCID, R5424_PROCID_MAX);
	check_limit(H_MSGID, R5424_MSGID_MAX);
	cr_assert_eq(R5424_HOSTNAME_MAX, 255);
	cr_assert_eq(R5424_APPNAME_MAX, 48);
	cr_assert_eq(R5424_PROCID_MAX, 128);
	cr_assert_eq(R5424_MSGID_MAX, 32);
}

/* CR 2.8 */
Test(r5424_format, non_printable_header_byte_becomes_underscore)
{
	struct r5424_msg m;

	msg_init(&m);
	m.hostname = "gw 01\x01x\x7f\xc3\xa9";
	m.app = "";	 /* empty: nil */
	m.procid = NULL; /* nil */
	m.msgid = "-";
	fmt(&m);
	cr_assert_str_eq(out, "<165>1 " TS " gw_01_x___ - - - -");
}

/* CR 2.8 */
Test(r5424_format, pri_range)
{
	struct r5424_msg m;

	msg_init(&m);
	m.pri = 0;
	m.timestamp = NULL;
	m.hostname = m.app = m.procid = m.msgid = NULL;
	fmt(&m);
	cr_assert_str_eq(out, "<0>1 - - - - - -");
	cr_assert_eq(parse(out), 0);
	cr_assert_eq(pm.pri, 0);
	cr_assert_null(pm.timestamp);
	cr_assert_null(pm.hostname);
	cr_assert_eq(pm.nelems, 0);
	m.pri = 191;
	fmt(&m);
	cr_assert_str_eq(out, "<191>1 - - - - - -");
	cr_assert_eq(parse(out), 0);
	cr_assert_eq(pm.pri, 191);
	m.pri = 7;
	fmt(&m);
	cr_assert_str_eq(out, "<7>1 - - - - - -");
	m.pri = 192;
	cr_assert_eq(r5424_format(&m, out, sizeof(out), &out_len), -EINVAL);
	m.pri = -1;
	cr_assert_eq(r5424_format(&m, out, sizeof(out), &out_len), -EINVAL);

	refused("<192>1 - - - - - -", -EINVAL, "PRI > 191", 1);
	refused("<1000>1 - - - - - -", -EINVAL, "PRI > 191", 1);
	refused("<013>1 - - - - - -", -EINVAL, "leading zero in PRI", 1);
	refused("<>1 - - - - - -", -EINVAL, "missing PRI", 1);
	refused("13>1 - - - - - -", -EINVAL, "missing '<' of PRI", 0);
}

/* CR 2.8 */
Test(r5424_format, bad_sd_names_and_timestamps_refused)
{
	static const char *const bad[] = {
		"",	     "a b",
		"a=b",	     "a]b",
		"a\"b",	     "a\x01",
		"a\xc3\xa9", "abcdefghijklmnopqrstuvwxyz0123456", /* 33 */
	};
	struct r5424_msg m;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		msg_init(&m);
		add_elem(&m, bad[i]);
		cr_assert_eq(r5424_format(&m, out, sizeof(out), &out_len),
			     -EINVAL, "SD-ID '%s'", bad[i]);
		msg_init(&m);
		add_elem(&m, "x@1");
		add_param(&m, bad[i], "v");
		cr_assert_eq(r5424_format(&m, out, sizeof(out), &out_len),
			     -EINVAL, "SD-NAME '%s'", bad[i]);
	}
	msg_init(&m);
	add_elem(&m, "abcdefghijklmnopqrstuvwxyz@12345"); /* 32: fine */
	fmt(&m);
	/* one SD-ID twice */
	add_elem(&m, "abcdefghijklmnopqrstuvwxyz@12345");
	cr_assert_eq(r5424_format(&m, out, sizeof(out), &out_len), -EINVAL);
	/* parameters outside params[] */
	msg_init(&m);
	add_elem(&m, "x@1");
	m.elems[0].nparams = 1;
	cr_assert_eq(r5424_format(&m, out, sizeof(out), &out_len), -EINVAL);
	/* a timestamp we could not parse back */
	msg_init(&m);
	m.timestamp = "2026-01-02 03:04:05Z";
	cr_assert_eq(r5424_format(&m, out, sizeof(out), &out_len), -EINVAL);
}

/* --- formatter: MSG ------------------------------------------------- */

/* CR 2.8 */
Test(r5424_format, bom_before_msg)
{
	struct r5424_msg m;

	msg_init(&m);
	m.msg = "policy applied";
	m.msg_len = strlen(m.msg);
	m.bom = true;
	fmt(&m);
	cr_assert_str_eq(out, HDR "- " BOM "policy applied");
	cr_assert_eq(parse(out), 0);
	cr_assert(pm.bom);
	cr_assert_eq(pm.msg_len, 14);
	cr_assert_eq(memcmp(pm.msg, "policy applied", 14), 0);

	/* no text: no SP, no BOM */
	m.msg_len = 0;
	fmt(&m);
	cr_assert_str_eq(out, HDR "-");
}

/* CR 2.8 */
Test(r5424_format, msg_cut_on_utf8_boundary)
{
	struct r5424_msg m;
	char small[128];
	size_t len, base;

	msg_init(&m);
	m.msg = "ab\xe2\x82\xac"
		"cd";
	m.msg_len = 7;
	m.bom = true;
	fmt(&m);
	base = out_len - 7; /* header, SD, SP and BOM */
	cr_assert_eq(base, strlen(HDR "- " BOM));

	/* room for exactly everything (+ NUL): kept whole */
	cr_assert_eq(r5424_format(&m, small, base + 7 + 1, &len), 0);
	cr_assert_eq(len, base + 7);
	cr_assert_str_eq(small, out);
	/* one byte less: 'd' goes */
	cr_assert_eq(r5424_format(&m, small, base + 6 + 1, &len), 0);
	cr_assert_eq(len, base + 6);
	cr_assert_eq(small[len], '\0');
	/* the cut falls inside the euro sign: removed whole */
	for (size_t room = 2; room <= 4; room++) {
		cr_assert_eq(r5424_format(&m, small, base + room + 1, &len), 0);
		cr_assert_eq(len, base + 2, "room %zu: len %zu", room, len);
		cr_assert_eq(memcmp(small + base, "ab", 2), 0);
		cr_assert_eq(small[len], '\0');
	}
	cr_assert_eq(r5424_format(&m, small, base + 5 + 1, &len), 0);
	cr_assert_eq(len, base + 5);
	cr_assert_eq(parse_n(small, len), 0);
	cr_assert_eq(pm.msg_len, 5);
	/* not one character fits: no SP, no BOM */
	cr_assert_eq(r5424_format(&m, small, base + 1, &len), 0);
	cr_assert_eq(len, base - 4);
	cr_assert_str_eq(small, HDR "-");
	/* header and SD never cut */
	cr_assert_eq(r5424_format(&m, small, base - 4, &len), -ENOSPC);
	cr_assert_eq(r5424_format(&m, small, 0, &len), -ENOSPC);
}

/* CR 2.8 */
Test(r5424_format, msg_never_exceeds_max_len)
{
	static char big[2 * R5424_MAX_LEN];
	static char text[R5424_MAX_LEN];
	struct r5424_msg m;
	size_t len;

	memset(text, 'x', sizeof(text));
	msg_init(&m);
	m.msg = text;
	m.msg_len = sizeof(text);
	m.bom = true;
	cr_assert_eq(r5424_format(&m, big, sizeof(big), &len), 0);
	cr_assert_eq(len, R5424_MAX_LEN);
	cr_assert_eq(parse_n(big, len), 0);
	cr_assert_eq(r5424_format(&m, big, R5424_MAX_LEN, &len), 0);
	cr_assert_eq(len, R5424_MAX_LEN - 1);
}

/* CR 2.8 */
Test(r5424_format, invalid_utf8_in_msg)
{
	struct r5424_msg m;

	msg_init(&m);
	m.msg = "a\xff\0b";
	m.msg_len = 4;
	m.bom = true; /* MSG-UTF8: sanitised */
	fmt(&m);
	cr_assert_str_eq(out, HDR "- " BOM "a??b");
	m.bom = false; /* MSG-ANY: only NUL replaced */
	fmt(&m);
	cr_assert_str_eq(out, HDR "- a\xff?b");
	cr_assert_eq(parse(out), 0);
	cr_assert_not(pm.bom);
	cr_assert_eq(pm.msg_len, 4);
	/* MSG-ANY cannot start with a BOM: such text is MSG-UTF8 */
	m.msg = BOM "x\xff";
	m.msg_len = 5;
	fmt(&m);
	cr_assert_str_eq(out, HDR "- " BOM "x?");
	cr_assert_eq(parse(out), 0);
	cr_assert(pm.bom);
	cr_assert_eq(pm.msg_len, 2);
}

/* --- timestamps ------------------------------------------------------ */

static void ts_is(int64_t us, int off, const char *want)
{
	char ts[R5424_TS_LEN];
	int64_t back;
	int back_off;

	cr_assert_eq(r5424_timestamp(us, off, ts), 0, "%s", want);
	cr_assert_str_eq(ts, want);
	cr_assert_eq(r5424_timestamp_parse(ts, strlen(ts), &back, &back_off), 0,
		     "%s", ts);
	cr_assert_eq(back, us, "%s: %lld != %lld", ts, (long long)back,
		     (long long)us);
	cr_assert_eq(back_off, off);
}

/* CR 2.11 */
Test(r5424_timestamp, known_values_and_round_trip)
{
	ts_is(1700000000123456LL, 0, "2023-11-14T22:13:20.123456Z");
	ts_is(1700000000123456LL, 3600, "2023-11-14T23:13:20.123456+01:00");
	ts_is(1700000000123456LL, -(5 * 3600 + 30 * 60),
	      "2023-11-14T16:43:20.123456-05:30");
	ts_is(1700000000000001LL, 0, "2023-11-14T22:13:20.000001Z");
	ts_is(0, 0, "1970-01-01T00:00:00.000000Z");
	ts_is(-1, 0, "1969-12-31T23:59:59.999999Z");
	ts_is(951782400000000LL, 0, "2000-02-29T00:00:00.000000Z");
	/* the offset moves the date */
	ts_is(0, -3600, "1969-12-31T23:00:00.000000-01:00");
	ts_is(0, 23 * 3600 + 59 * 60, "1970-01-01T23:59:00.000000+23:59");
	ts_is(-62167219200LL * 1000000, 0, "0000-01-01T00:00:00.000000Z");
	ts_is(253402300799999999LL, 0, "9999-12-31T23:59:59.999999Z");
	cr_assert_eq(strlen("2026-12-01T13:00:33.123456+01:00") + 1,
		     R5424_TS_LEN);
}

/* CR 2.11 */
Test(r5424_timestamp, bad_offsets_and_range)
{
	char ts[R5424_TS_LEN];

	cr_assert_eq(r5424_timestamp(0, 30, ts), -EINVAL);
	cr_assert_eq(r5424_timestamp(0, 24 * 3600, ts), -EINVAL);
	cr_assert_eq(r5424_timestamp(0, -24 * 3600, ts), -EINVAL);
	cr_assert_eq(r5424_timestamp(253402300800000000LL, 0, ts), -EINVAL);
	cr_assert_eq(r5424_timestamp(INT64_MAX, 0, ts), -EINVAL);
	cr_assert_eq(r5424_timestamp(INT64_MIN, 0, ts), -EINVAL);
}

/* CR 2.11 */
Test(r5424_timestamp, local_time_zone)
{
	char ts[R5424_TS_LEN];
	char *old = getenv("TZ");

	old = old ? strdup(old) : NULL;
	setenv("TZ", "IST-5:30", 1);
	tzset();
	cr_assert_eq(r5424_timestamp_local(1700000000123456LL, ts), 0);
	cr_assert_str_eq(ts, "2023-11-15T03:43:20.123456+05:30");
	setenv("TZ", "EST5", 1);
	tzset();
	cr_assert_eq(r5424_timestamp_local(1700000000123456LL, ts), 0);
	cr_assert_str_eq(ts, "2023-11-14T17:13:20.123456-05:00");
	setenv("TZ", "UTC0", 1);
	tzset();
	cr_assert_eq(r5424_timestamp_local(1700000000123456LL, ts), 0);
	cr_assert_str_eq(ts, "2023-11-14T22:13:20.123456Z");
	if (old) {
		setenv("TZ", old, 1);
		free(old);
	} else {
		unsetenv("TZ");
	}
	tzset();
}

/* CR 2.11 */
Test(r5424_timestamp, parse_fraction_digits)
{
	int64_t us;
	int off;

	static const struct {
		const char *s;
		int64_t us;
		int off;
	} ok[] = {
		{ "2023-11-14T22:13:20Z", 1700000000000000LL, 0 },
		{ "2023-11-14T22:13:20.1Z", 1700000000100000LL, 0 },
		{ "2023-11-14T22:13:20.12345Z", 1700000000123450LL, 0 },
		{ "2023-11-14T23:13:20.5+01:00", 1700000000500000LL, 3600 },
		{ "2023-11-14T22:13:20-00:00", 1700000000000000LL, 0 },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cr_assert_eq(r5424_timestamp_parse(ok[i].s, strlen(ok[i].s),
						   &us, &off),
			     0, "%s", ok[i].s);
		cr_assert_eq(us, ok[i].us, "%s", ok[i].s);
		cr_assert_eq(off, ok[i].off, "%s", ok[i].s);
	}
}

/* CR 2.11 */
Test(r5424_timestamp, parse_refusals)
{
	static const char *const bad[] = {
		"2023-11-14t22:13:20Z",		/* lower-case t */
		"2023-11-14T22:13:20z",		/* lower-case z */
		"2023-11-14T22:13:20.1234567Z", /* 7 digits */
		"2023-11-14T22:13:20.Z",	/* no digit */
		"2023-11-14T22:13:60Z",		/* leap second */
		"2023-11-14T24:00:00Z",		/* hour 24 */
		"2023-11-14T22:60:00Z",		/* minute 60 */
		"2023-02-29T00:00:00Z",		/* not a leap year */
		"2100-02-29T00:00:00Z",		/* not a leap year */
		"2023-04-31T00:00:00Z",		/* April has 30 */
		"2023-00-10T00:00:00Z",		/* month 0 */
		"2023-13-10T00:00:00Z",		/* month 13 */
		"2023-11-00T00:00:00Z",		/* day 0 */
		"2023-11-14T22:13:20+24:00",	/* offset hours */
		"2023-11-14T22:13:20+01:60",	/* offset minutes */
		"2023-11-14T22:13:20+0100",	/* no colon */
		"2023-11-14T22:13:20",		/* no offset */
		"2023-11-14T22:13:20Z ",	/* trailing byte */
		"2023-11-14 22:13:20Z",		/* space for T */
		"2023-1-14T22:13:20Z",		/* one-digit month */
		"+023-11-14T22:13:20Z",		/* sign in the year */
		"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(r5424_timestamp_parse(bad[i], strlen(bad[i]), NULL,
						   NULL),
			     -EINVAL, "accepted %s", bad[i]);
	/* len counts: a valid text cut short is refused */
	cr_assert_eq(r5424_timestamp_parse("2023-11-14T22:13:20Z", 19, NULL,
					   NULL),
		     -EINVAL);
}

/* --- parser ------------------------------------------------------------ */

/* CR 3.5 */
Test(r5424_parse, rsyslog_received_line)
{
	static const char line[] =
		"<165>1 2026-01-02T03:04:05.123456+01:00 gw01.example fwd 1234 "
		"AUDIT [audit@32473 act=\"drop\" note=\"a\\\"b\\\\c\\]d\"]"
		"[origin ip=\"192.0.2.9\"] " BOM "multi#012line";
	const struct r5424_elem *e;

	cr_assert_eq(parse(line), 0, "%s at %zu", perr.reason, perr.offset);
	cr_assert_eq(pm.pri, 165);
	cr_assert_str_eq(pm.timestamp, "2026-01-02T03:04:05.123456+01:00");
	cr_assert_str_eq(pm.hostname, "gw01.example");
	cr_assert_str_eq(pm.app, "fwd");
	cr_assert_str_eq(pm.procid, "1234");
	cr_assert_str_eq(pm.msgid, "AUDIT");
	cr_assert_eq(pm.nelems, 2);
	cr_assert_eq(pm.nparams, 3);
	e = r5424_find_elem(&pm, "audit@32473");
	cr_assert_not_null(e);
	cr_assert_eq(e->nparams, 2);
	cr_assert_str_eq(r5424_find_param(&pm, e, "act"), "drop");
	cr_assert_str_eq(r5424_find_param(&pm, e, "note"), "a\"b\\c]d");
	cr_assert_null(r5424_find_param(&pm, e, "ip"));
	e = r5424_find_elem(&pm, "origin");
	cr_assert_not_null(e);
	cr_assert_str_eq(r5424_find_param(&pm, e, "ip"), "192.0.2.9");
	cr_assert_null(r5424_find_elem(&pm, "conduitd@32473"));
	cr_assert(pm.bom);
	cr_assert_eq(pm.msg_len, strlen("multi#012line"));
	cr_assert_eq(memcmp(pm.msg, "multi#012line", pm.msg_len), 0);

	/* rsyslog writes the message again byte for byte, so do we */
	{
		struct r5424_msg copy = pm;

		fmt(&copy);
		cr_assert_str_eq(out, line);
	}
}

/* CR 3.5 */
Test(r5424_parse, refusals_with_reason_and_offset)
{
	static const char dup[] = HDR "[a@1 x=\"1\"][b@1][a@1 y=\"2\"]";
	static const char nul[] = HDR "- " BOM "a\0b";
	static const char longname[] = HDR
		"[x@1 abcdefghijklmnopqrstuvwxyz0123456=\"v\"]";
	const size_t h = strlen(HDR);

	refused("<13> 2026-01-02T03:04:05Z h a p m -", -EINVAL,
		"missing VERSION", 4);
	refused("<13>2026-01-02T03:04:05Z h a p m -", -EINVAL,
		"missing VERSION", 4);
	refused("<13>2 2026-01-02T03:04:05Z h a p m -", -EINVAL,
		"unsupported VERSION (not 1)", 4);
	refused("<13>1 2026-13-02T03:04:05Z h a p m -", -EINVAL,
		"bad TIMESTAMP", 6);
	refused("<13>1 2026-01-02t03:04:05Z h a p m -", -EINVAL,
		"bad TIMESTAMP", 6);
	assert_refused(longname, strlen(longname), -EINVAL,
		       "SD-NAME longer than 32", h + 5 + 32);
	refused(HDR "[x@1 v=\"a]b\"]", -EINVAL, "unescaped ']' in PARAM-VALUE",
		h + 9);
	assert_refused(dup, strlen(dup), -EINVAL, "duplicate SD-ID", h + 17);
	refused(HDR "[x@1 v=\"a\"", -EINVAL, "unterminated SD-ELEMENT", h);
	/* an escaped '"' does not end the value, so the ']' is unescaped */
	refused(HDR "[x@1 v=\"a\\\"]", -EINVAL, "unescaped ']' in PARAM-VALUE",
		h + 11);
	refused(HDR "[x@1 v=\"a\\\"", -EINVAL, "unterminated SD-ELEMENT", h);
	refused(HDR "[x@1 v=\"a\\", -EINVAL, "unterminated SD-ELEMENT", h);
	refused(HDR "[x@1", -EINVAL, "unterminated SD-ELEMENT", h);
	assert_refused(nul, sizeof(nul) - 1, -EINVAL, "NUL byte", h + 6);
}

/* CR 3.5 */
Test(r5424_parse, more_refusals)
{
	static char big[R5424_MAX_LEN + 1];
	char many[1024];
	const size_t h = strlen(HDR);
	size_t n;

	refused("", -EINVAL, "missing '<' of PRI", 0);
	refused("<13>1 - h a p m", -EINVAL, "missing STRUCTURED-DATA", 15);
	refused("<13>1 -  a p m -", -EINVAL, "empty HOSTNAME", 8);
	refused("<13>1 - h", -EINVAL, "missing APP-NAME", 9);
	refused("<13>1 - h\x7f a p m -", -EINVAL, "bad byte in HOSTNAME", 9);
	refused("<13>1 - h a p abcdefghijklmnopqrstuvwxyz0123456 -", -EINVAL,
		"MSGID longer than 32", 14 + 32);
	refused("<13>1 - h a p m x", -EINVAL, "missing STRUCTURED-DATA", 16);
	refused("<13>1 - h a p m -x", -EINVAL, "bad byte after STRUCTURED-DATA",
		17);
	refused(HDR "[x@1]x", -EINVAL, "bad byte after STRUCTURED-DATA", h + 5);
	refused(HDR "[]", -EINVAL, "empty SD-ID", h + 1);
	refused(HDR "[x@1 =\"v\"]", -EINVAL, "empty SD-NAME", h + 5);
	refused(HDR "[x@1 a=v]", -EINVAL, "missing '\"' before PARAM-VALUE",
		h + 7);
	refused(HDR "[x@1 a]", -EINVAL, "missing '=' after SD-NAME", h + 6);
	refused(HDR "[x@1  a=\"v\"]", -EINVAL, "empty SD-NAME", h + 5);
	refused(HDR "[x@1 a=\"\xff\"]", -EINVAL, "invalid UTF-8 in PARAM-VALUE",
		h + 8);
	refused(HDR "[abcdefghijklmnopqrstuvwxyz@1234567]", -EINVAL,
		"SD-ID longer than 32", h + 33);
	refused(HDR "- " BOM "ok\xe2\x82", -EINVAL, "invalid UTF-8 in MSG",
		h + 7);

	/* nine elements, 65 parameters */
	n = (size_t)snprintf(many, sizeof(many), "%s", HDR);
	for (int i = 0; i < 9; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "[e%d@1]", i);
	assert_refused(many, n, -E2BIG, "more than 8 SD-ELEMENTs", n - 6);
	n = (size_t)snprintf(many, sizeof(many), "%s[e@1", HDR);
	for (int i = 0; i < 65; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, " p=\"\"");
	n += (size_t)snprintf(many + n, sizeof(many) - n, "]");
	assert_refused(many, n, -E2BIG, "more than 64 SD-PARAMs", n - 5);

	memset(big, 'x', sizeof(big));
	memcpy(big, HDR "- ", h + 2);
	assert_refused(big, sizeof(big), -EINVAL,
		       "message longer than 8192 bytes", R5424_MAX_LEN);
	cr_assert_eq(parse_n(big, R5424_MAX_LEN), 0);
	cr_assert_eq(pm.msg_len, R5424_MAX_LEN - h - 2);
}

/* CR 3.5 */
Test(r5424_parse, msg_any_and_empty_msg)
{
	/* MSG without BOM is MSG-ANY: any octet but NUL */
	cr_assert_eq(parse(HDR "- \xff\xfe"), 0);
	cr_assert_not(pm.bom);
	cr_assert_eq(pm.msg_len, 2);
	/* a trailing SP: empty MSG */
	cr_assert_eq(parse(HDR "- "), 0);
	cr_assert_eq(pm.msg_len, 0);
	cr_assert_eq(parse(HDR "[x@1] " BOM), 0);
	cr_assert(pm.bom);
	cr_assert_eq(pm.msg_len, 0);
	/* a repeated SD-PARAM is allowed (RFC 5424 6.3.3); find: the first */
	cr_assert_eq(parse(HDR "[x@1 a=\"1\" a=\"2\"]"), 0);
	cr_assert_eq(pm.nparams, 2);
	cr_assert_str_eq(r5424_find_param(&pm, &pm.elems[0], "a"), "1");
}

/* CR 3.5 */
Test(r5424_parse, scratch_too_small_and_every_prefix)
{
	static const char line[] = HDR
		"[a@1 x=\"1\\\"\\\\\" y=\"\xc3\xa9\"][b@2 z=\"\"] " BOM "t";
	const size_t n = sizeof(line) - 1;
	char tiny[64];
	int rc;

	cr_assert_eq(r5424_parse(line, n, &pm, tiny, sizeof(tiny), &perr),
		     -ENOSPC);
	/* the documented size is enough */
	cr_assert_eq(r5424_parse(line, n, &pm, scratch,
				 n + R5424_MAX_PARAMS * 2 + 16, &perr),
		     0);
	/* a heap copy of exactly len bytes: ASan sees any read past it */
	for (size_t len = 0; len <= n; len++) {
		char *copy = malloc(len ? len : 1);

		memcpy(copy, line, len);
		rc = parse_n(copy, len);
		free(copy);
		cr_assert(rc == 0 || (rc == -EINVAL && perr.reason != NULL &&
				      perr.offset <= len),
			  "prefix %zu: rc %d", len, rc);
	}
}

/* --- round trip -------------------------------------------------------- */

/* CR 3.9 */
Test(r5424_round_trip, format_parse_format_identical)
{
	struct r5424_msg m;
	char first[R5424_MAX_LEN];
	size_t first_len;

	msg_init(&m);
	m.pri = 13 * 8 + 5;
	add_elem(&m, "conduitd@32473");
	add_param(&m, "seq", "42");
	add_param(&m, "req", "CR 2.8");
	add_param(&m, "file", "C:\\policy]\"x\".yaml");
	add_param(&m, "note", "\\n literal, \xc3\xa9t\xc3\xa9 [ok]");
	add_elem(&m, "timeQuality");
	add_param(&m, "tzKnown", "1");
	add_param(&m, "isSynced", "0");
	add_elem(&m, "origin");
	add_param(&m, "ip", "192.0.2.1");
	add_param(&m, "ip", "2001:db8::1");
	m.msg = "policy \"plant\" applied: 3 conduits \xe2\x86\x92 nft";
	m.msg_len = strlen(m.msg);
	m.bom = true;
	fmt(&m);
	memcpy(first, out, out_len + 1);
	first_len = out_len;

	cr_assert_eq(parse_n(first, first_len), 0, "%s at %zu", perr.reason,
		     perr.offset);
	cr_assert_eq(pm.nelems, 3);
	cr_assert_eq(pm.nparams, 8);
	cr_assert_str_eq(pm.params[2].value, "C:\\policy]\"x\".yaml");
	fmt(&pm);
	cr_assert_eq(out_len, first_len);
	cr_assert_eq(memcmp(out, first, first_len), 0, "%s\n%s", first, out);
}
