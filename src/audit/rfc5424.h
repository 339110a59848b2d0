/*
 * RFC 5424 syslog messages: a formatter (what conduitd sends) and a strict
 * parser (what `conduitctl audit verify` reads back from a collector's file,
 * the fuzz round trip, the tests). Pure functions: no I/O, no allocation,
 * no global state.
 *
 *   <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [SP BOM MSG]
 *
 * Header fields are printable US-ASCII (33..126) with RFC limits (HOSTNAME
 * 255, APP-NAME 48, PROCID 128, MSGID 32); "-" is the nil value. SD
 * parameter values are UTF-8 with '"', '\' and ']' escaped by a backslash.
 */
#ifndef CONDUIT_AUDIT_RFC5424_H
#define CONDUIT_AUDIT_RFC5424_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define R5424_MAX_LEN 8192  /* whole message, what we ever emit or parse */
#define R5424_MAX_ELEMS 8   /* SD elements per message */
#define R5424_MAX_PARAMS 64 /* SD parameters per message, all elements */
#define R5424_HOSTNAME_MAX 255
#define R5424_APPNAME_MAX 48
#define R5424_PROCID_MAX 128
#define R5424_MSGID_MAX 32
#define R5424_SDNAME_MAX 32
/* "2026-12-01T13:00:33.123456+01:00" + NUL */
#define R5424_TS_LEN 33

struct r5424_param {
	const char *name;  /* NUL-terminated SD-NAME */
	const char *value; /* unescaped UTF-8, NUL-terminated */
	size_t value_len;  /* bytes of value (a value may contain NUL? no:
			      the parser refuses NUL, the formatter too) */
};

struct r5424_elem {
	const char *id;	  /* SD-ID, e.g. "conduitd@32473", "timeQuality" */
	unsigned first;	  /* index of its first parameter in params[] */
	unsigned nparams; /* parameters of this element */
};

struct r5424_msg {
	int pri;	       /* facility * 8 + severity, 0..191 */
	const char *timestamp; /* RFC 3339 text; NULL = nil "-" */
	const char *hostname;  /* NULL = nil */
	const char *app;       /* NULL = nil */
	const char *procid;    /* NULL = nil */
	const char *msgid;     /* NULL = nil */
	struct r5424_elem elems[R5424_MAX_ELEMS];
	unsigned nelems;
	struct r5424_param params[R5424_MAX_PARAMS];
	unsigned nparams;
	const char *msg; /* free text (UTF-8); NULL or msg_len 0 = none */
	size_t msg_len;
	bool bom; /* formatter: prefix MSG with EF BB BF (we always do);
		     parser: MSG started with a BOM (not part of msg) */
};

/*
 * Formats m into buf (cap bytes; R5424_MAX_LEN is always enough), no NUL
 * terminator counted in *len (one is written when room remains).
 * Header fields: bytes outside 33..126 become '_', longer values are cut at
 * the RFC limit. SD-IDs and names must be valid (1..32 printable ASCII
 * without '=', ' ', ']', '"'): -EINVAL otherwise (a programming error,
 * names are ours). Values: escaped; invalid UTF-8 sequences become '?'.
 * MSG: cut at the end (on a UTF-8 character boundary) when the message
 * would exceed cap - 1; header and SD are never cut: -ENOSPC if they alone
 * do not fit. Returns 0.
 */
int r5424_format(const struct r5424_msg *m, char *buf, size_t cap, size_t *len);

/*
 * RFC 3339 timestamp of us (microseconds since the epoch) with the given
 * UTC offset in seconds (east positive, must be a whole minute within
 * +-23:59): "YYYY-MM-DDThh:mm:ss.uuuuuuZ" for offset 0, else "+hh:mm" /
 * "-hh:mm". Returns 0 or -EINVAL.
 */
int r5424_timestamp(int64_t us, int utc_offset_s, char out[R5424_TS_LEN]);
/* The same for the local time zone (localtime_r's tm_gmtoff). */
int r5424_timestamp_local(int64_t us, char out[R5424_TS_LEN]);
/*
 * Parses an RFC 3339 timestamp as RFC 5424 restricts it (upper-case T and
 * Z, 1..6 fraction digits, no second 60): -> *us (UTC), *utc_offset_s.
 * Returns 0 or -EINVAL.
 */
int r5424_timestamp_parse(const char *s, size_t len, int64_t *us,
			  int *utc_offset_s);

struct r5424_error {
	size_t offset;	    /* byte offset in the input where it failed */
	const char *reason; /* static text: "PRI > 191", "bad SD-NAME", ... */
};

/*
 * Strict parser of one message (len bytes, no framing, no trailing LF:
 * the caller strips what its file format adds). Strings of *out point into
 * scratch (scap bytes; len + R5424_MAX_PARAMS * 2 + 16 is always enough),
 * which must outlive *out. Returns 0, or -EINVAL with *err filled (err may
 * be NULL), or -ENOSPC when scratch is too small, or -E2BIG when an element
 * or parameter limit above is exceeded. Never reads past buf + len.
 */
int r5424_parse(const char *buf, size_t len, struct r5424_msg *out,
		char *scratch, size_t scap, struct r5424_error *err);

/* The first element with this SD-ID, or NULL. */
const struct r5424_elem *r5424_find_elem(const struct r5424_msg *m,
					 const char *id);
/* The value of parameter name in element e, or NULL. */
const char *r5424_find_param(const struct r5424_msg *m,
			     const struct r5424_elem *e, const char *name);

#endif
