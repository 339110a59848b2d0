/*
 * The audit event schema table (built from AUDIT_EVENTS) and the event
 * builder: a fixed-size event with its parameters packed into one buffer,
 * so an event can be copied into the audit queue from any thread. What
 * does not fit is dropped and counted in ->truncated; the record then says
 * so. No I/O, no allocation.
 */
#include "audit/event.h"

#include <stdio.h>
#include <string.h>

static const struct audit_type_info audit_types[AUDIT_TYPE_COUNT] = {
#define AUDIT_X_INFO(e, m, s, r, w)                                        \
	[AUDIT_##e] = {                                                    \
		.msgid = m, .severity = AUDIT_SEV_##s, .req = r, .what = w \
	},
	AUDIT_EVENTS(AUDIT_X_INFO)
#undef AUDIT_X_INFO
};

const struct audit_type_info *audit_type_info(enum audit_type t)
{
	if ((unsigned)t >= AUDIT_TYPE_COUNT)
		return NULL;
	return &audit_types[t];
}

int audit_type_by_msgid(const char *msgid)
{
	if (msgid == NULL)
		return -1;
	for (unsigned i = 0; i < AUDIT_TYPE_COUNT; i++)
		if (strcmp(audit_types[i].msgid, msgid) == 0)
			return (int)i;
	return -1;
}

void audit_event_init(struct audit_event *ev, enum audit_type type)
{
	const struct audit_type_info *ti = audit_type_info(type);

	ev->type = type;
	ev->severity = ti ? ti->severity : AUDIT_SEV_NOTICE;
	ev->time_us = 0;
	ev->nparams = 0;
	ev->used = 0;
	ev->msg[0] = '\0';
	ev->truncated = 0;
}

/* SD-NAME as the schema restricts it: [a-z0-9_-], 1..32 bytes. */
static size_t valid_name_len(const char *name)
{
	size_t n;

	if (name == NULL)
		return 0;
	for (n = 0; name[n] != '\0'; n++) {
		unsigned char c = (unsigned char)name[n];

		if (n >= 32)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return 0;
	}
	return n;
}

/* Longest prefix of s[0..n) that does not end inside a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t n)
{
	size_t i = n, lead;
	unsigned char c;
	size_t need;

	/* step back over at most 3 continuation bytes to the lead byte */
	while (i > 0 && n - i < 4 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
		i--;
	if (i == 0)
		return n; /* only continuation bytes: not UTF-8, leave it */
	lead = i - 1;
	c = (unsigned char)s[lead];
	if (c < 0x80)
		return n;
	if ((c & 0xe0) == 0xc0)
		need = 2;
	else if ((c & 0xf0) == 0xe0)
		need = 3;
	else if ((c & 0xf8) == 0xf0)
		need = 4;
	else
		return n;
	return n - lead >= need ? n : lead;
}

/* Control characters (C0, DEL) become '?': collectors rewrite them (rsyslog
 * writes LF as "#012"), which would break the chain at the collector, and a
 * record must stay one line in a file. */
static void no_controls(char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			s[i] = '?';
}

void audit_event_add(struct audit_event *ev, const char *name,
		     const char *value)
{
	size_t nl = valid_name_len(name), vl, room;

	if (nl == 0 || ev->nparams >= AUDIT_EVENT_PARAMS) {
		ev->truncated++;
		return;
	}
	if (value == NULL)
		value = "";
	vl = strlen(value);
	room = AUDIT_EVENT_BUF - ev->used;
	/* name NUL, then at least one value byte (or the empty value) NUL */
	if (room < nl + 2 + (vl > 0)) {
		ev->truncated++;
		return;
	}
	if (nl + 2 + vl > room) {
		/* a long value is cut rather than lost; the cut is counted */
		vl = utf8_cut(value, room - nl - 2);
		ev->truncated++;
	}
	ev->name_off[ev->nparams] = ev->used;
	memcpy(ev->buf + ev->used, name, nl + 1);
	ev->used += nl + 1;
	ev->value_off[ev->nparams] = ev->used;
	memcpy(ev->buf + ev->used, value, vl);
	no_controls(ev->buf + ev->used, vl);
	ev->buf[ev->used + vl] = '\0';
	ev->used += vl + 1;
	ev->nparams++;
}

void audit_event_addf(struct audit_event *ev, const char *name, const char *fmt,
		      ...)
{
	char v[AUDIT_EVENT_BUF];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	if (n < 0)
		v[0] = '\0';
	else if ((size_t)n >= sizeof(v))
		v[utf8_cut(v, sizeof(v) - 1)] = '\0';
	/* an over-long value is cut (and counted) again by audit_event_add */
	audit_event_add(ev, name, v);
}

void audit_event_add_u64(struct audit_event *ev, const char *name, uint64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "%llu", (unsigned long long)v);
	audit_event_add(ev, name, s);
}

void audit_event_msgf(struct audit_event *ev, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(ev->msg, sizeof(ev->msg), fmt, ap);
	va_end(ap);
	if (n < 0) {
		ev->msg[0] = '\0';
	} else if ((size_t)n >= sizeof(ev->msg)) {
		ev->msg[utf8_cut(ev->msg, sizeof(ev->msg) - 1)] = '\0';
		ev->truncated++;
	}
	no_controls(ev->msg, strlen(ev->msg));
}

const char *audit_event_name(const struct audit_event *ev, unsigned i)
{
	if (i >= ev->nparams)
		return NULL;
	return ev->buf + ev->name_off[i];
}

const char *audit_event_value(const struct audit_event *ev, unsigned i)
{
	if (i >= ev->nparams)
		return NULL;
	return ev->buf + ev->value_off[i];
}
