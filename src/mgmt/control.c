/*
 * Control protocol codec: the incremental frame decoder, the encoder and
 * the request/response shapes. No I/O and no global state, so the same
 * code serves every transport and the fuzzer.
 */
#include "config.h"

#include "mgmt/control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"

/* The payload buffer grows with the bytes that really arrived, so a header
 * announcing 40 MiB costs nothing until the peer sends them. */
#define CTL_CHUNK_MIN 4096u

void ctl_decoder_init(struct ctl_decoder *d, uint32_t max_payload)
{
	memset(d, 0, sizeof(*d));
	if (max_payload == 0 || max_payload > CTL_MAX_PAYLOAD)
		max_payload = CTL_MAX_PAYLOAD;
	d->max_payload = max_payload;
}

void ctl_decoder_free(struct ctl_decoder *d)
{
	free(d->payload);
	d->payload = NULL;
	d->cap = 0;
	d->have = 0;
	d->hdr_have = 0;
}

bool ctl_decoder_partial(const struct ctl_decoder *d)
{
	return d->err == CTL_E_NONE && d->hdr_have > 0;
}

enum ctl_error ctl_decoder_error(const struct ctl_decoder *d)
{
	return d->err;
}

const char *ctl_error_str(enum ctl_error e)
{
	switch (e) {
	case CTL_E_NONE:
		return "no error";
	case CTL_E_MAGIC:
		return "bad frame magic";
	case CTL_E_VERSION:
		return "unsupported protocol version";
	case CTL_E_TYPE:
		return "unknown frame type";
	case CTL_E_LENGTH:
		return "bad payload length";
	case CTL_E_JSON:
		return "payload is not valid JSON";
	case CTL_E_NOT_OBJECT:
		return "payload is not a JSON object";
	case CTL_E_NOMEM:
		return "out of memory";
	}
	return "unknown error";
}

const char *ctl_decoder_reason(const struct ctl_decoder *d)
{
	if (d->errtext[0] != '\0')
		return d->errtext;
	return ctl_error_str(d->err);
}

static enum ctl_result ctl_fail(struct ctl_decoder *d, enum ctl_error e)
{
	d->err = e;
	free(d->payload);
	d->payload = NULL;
	d->cap = 0;
	return CTL_ERROR;
}

static uint32_t ctl_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Checks each header byte as soon as it arrives: garbage is refused
 * after one byte instead of after eight. */
static enum ctl_result ctl_header_byte(struct ctl_decoder *d, uint8_t b)
{
	size_t i = d->hdr_have;

	d->hdr[d->hdr_have++] = b;
	if (i == 0 && b != CTL_MAGIC0)
		return ctl_fail(d, CTL_E_MAGIC);
	if (i == 1 && b != CTL_MAGIC1)
		return ctl_fail(d, CTL_E_MAGIC);
	if (i == 2 && b != CTL_VERSION) {
		snprintf(
			d->errtext, sizeof(d->errtext),
			"unsupported protocol version %u (this side speaks %u)",
			b, CTL_VERSION);
		return ctl_fail(d, CTL_E_VERSION);
	}
	if (i == 3 && b != CTL_TYPE_REQUEST && b != CTL_TYPE_RESPONSE) {
		snprintf(d->errtext, sizeof(d->errtext),
			 "unknown frame type %u", b);
		return ctl_fail(d, CTL_E_TYPE);
	}
	if (i == CTL_HDR_LEN - 1) {
		d->plen = ctl_get_be32(d->hdr + 4);
		if (d->plen == 0 || d->plen > d->max_payload) {
			snprintf(d->errtext, sizeof(d->errtext),
				 "payload length %u outside 1..%u", d->plen,
				 d->max_payload);
			return ctl_fail(d, CTL_E_LENGTH);
		}
		d->have = 0;
	}
	return CTL_INCOMPLETE;
}

/* Room for n more payload bytes, doubling up to the announced length. */
static int ctl_reserve(struct ctl_decoder *d, size_t n)
{
	size_t need = d->have + n, ncap;
	char *p;

	if (need <= d->cap)
		return 0;
	ncap = d->cap ? d->cap : CTL_CHUNK_MIN;
	while (ncap < need)
		ncap *= 2;
	if (ncap > d->plen)
		ncap = d->plen;
	p = realloc(d->payload, ncap);
	if (p == NULL)
		return -ENOMEM;
	d->payload = p;
	d->cap = ncap;
	return 0;
}

static enum ctl_result ctl_finish(struct ctl_decoder *d, struct ctl_frame *out)
{
	json_error_t jerr;
	json_t *msg;

	msg = json_loadb(d->payload, d->plen,
			 JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (msg == NULL) {
		snprintf(d->errtext, sizeof(d->errtext),
			 "payload is not valid JSON: %s (byte %d)", jerr.text,
			 jerr.position);
		return ctl_fail(d, CTL_E_JSON);
	}
	if (!json_is_object(msg)) {
		json_decref(msg);
		return ctl_fail(d, CTL_E_NOT_OBJECT);
	}
	out->type = (enum ctl_type)d->hdr[3];
	out->msg = msg;
	free(d->payload);
	d->payload = NULL;
	d->cap = 0;
	d->have = 0;
	d->hdr_have = 0;
	return CTL_FRAME;
}

enum ctl_result ctl_decode(struct ctl_decoder *d, const void *buf, size_t len,
			   size_t *consumed, struct ctl_frame *out)
{
	const uint8_t *p = buf;
	size_t used = 0;

	*consumed = 0;
	out->msg = NULL;
	if (d->err != CTL_E_NONE)
		return CTL_ERROR;
	while (used < len) {
		if (d->hdr_have < CTL_HDR_LEN) {
			if (ctl_header_byte(d, p[used++]) == CTL_ERROR) {
				*consumed = used;
				return CTL_ERROR;
			}
			continue;
		}
		size_t n = len - used;

		if (n > d->plen - d->have)
			n = d->plen - d->have;
		if (ctl_reserve(d, n) < 0) {
			*consumed = used;
			return ctl_fail(d, CTL_E_NOMEM);
		}
		memcpy(d->payload + d->have, p + used, n);
		d->have += n;
		used += n;
		if (d->have == d->plen) {
			*consumed = used;
			return ctl_finish(d, out);
		}
	}
	*consumed = used;
	return CTL_INCOMPLETE;
}

int ctl_encode(enum ctl_type type, const json_t *msg, uint8_t **out,
	       size_t *outlen)
{
	size_t plen;
	uint8_t *f;

	*out = NULL;
	*outlen = 0;
	if (!json_is_object(msg) ||
	    (type != CTL_TYPE_REQUEST && type != CTL_TYPE_RESPONSE))
		return -EINVAL;
	plen = json_dumpb(msg, NULL, 0, JSON_COMPACT);
	if (plen == 0)
		return -ENOMEM;
	if (plen > CTL_MAX_PAYLOAD)
		return -EMSGSIZE;
	f = malloc(CTL_HDR_LEN + plen);
	if (f == NULL)
		return -ENOMEM;
	if (json_dumpb(msg, (char *)f + CTL_HDR_LEN, plen, JSON_COMPACT) !=
	    plen) {
		free(f);
		return -ENOMEM;
	}
	f[0] = CTL_MAGIC0;
	f[1] = CTL_MAGIC1;
	f[2] = CTL_VERSION;
	f[3] = (uint8_t)type;
	f[4] = (uint8_t)(plen >> 24);
	f[5] = (uint8_t)(plen >> 16);
	f[6] = (uint8_t)(plen >> 8);
	f[7] = (uint8_t)plen;
	*out = f;
	*outlen = CTL_HDR_LEN + plen;
	return 0;
}

json_t *ctl_request_new(uint64_t id, const char *cmd, json_t *args)
{
	json_t *r = json_object();

	if (r == NULL ||
	    json_object_set_new(r, "id", json_integer((json_int_t)id)) ||
	    json_object_set_new(r, "cmd", json_string(cmd))) {
		json_decref(r);
		json_decref(args);
		return NULL;
	}
	if (args != NULL && json_object_set_new(r, "args", args)) {
		json_decref(r);
		return NULL;
	}
	return r;
}

/* Ids are non-negative integers the client chooses; echoed unchanged. */
static int ctl_get_id(const json_t *msg, uint64_t *id, const char **why)
{
	const json_t *v = json_object_get(msg, "id");

	*id = 0;
	if (v == NULL) {
		*why = "missing \"id\"";
		return -EINVAL;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		*why = "\"id\" must be a non-negative integer";
		return -EINVAL;
	}
	*id = (uint64_t)json_integer_value(v);
	return 0;
}

int ctl_request_parse(const json_t *msg, uint64_t *id, const char **cmd,
		      const json_t **args, const char **why)
{
	const json_t *c, *a;
	const char *key;
	json_t *v;

	*cmd = NULL;
	*args = NULL;
	*why = NULL;
	if (!json_is_object(msg)) {
		*id = 0;
		*why = "request is not a JSON object";
		return -EINVAL;
	}
	if (ctl_get_id(msg, id, why) < 0)
		return -EINVAL;
	json_object_foreach((json_t *)msg, key, v)
	{
		if (strcmp(key, "id") && strcmp(key, "cmd") &&
		    strcmp(key, "args")) {
			*why = "unknown member in request (expected id, cmd, args)";
			return -EINVAL;
		}
	}
	c = json_object_get(msg, "cmd");
	if (!json_is_string(c) || json_string_length(c) == 0 ||
	    json_string_length(c) > 64) {
		*why = "\"cmd\" must be a string of 1..64 bytes";
		return -EINVAL;
	}
	a = json_object_get(msg, "args");
	if (a != NULL && !json_is_object(a)) {
		*why = "\"args\" must be an object";
		return -EINVAL;
	}
	*cmd = json_string_value(c);
	*args = a;
	return 0;
}

json_t *ctl_response_ok(uint64_t id, json_t *result)
{
	json_t *r = json_object();

	if (result == NULL)
		result = json_object();
	if (r == NULL || result == NULL ||
	    json_object_set_new(r, "id", json_integer((json_int_t)id)) ||
	    json_object_set_new(r, "ok", json_true())) {
		json_decref(r);
		json_decref(result);
		return NULL;
	}
	if (json_object_set_new(r, "result", result)) {
		json_decref(r);
		return NULL;
	}
	return r;
}

static json_t *ctl_diags_json(const struct diag_list *dl)
{
	json_t *a = json_array();

	for (size_t i = 0; a && dl && i < dl->n; i++) {
		const struct diag *dg = &dl->v[i];
		json_t *o = json_pack("{s:s?, s:i, s:i, s:s}", "file", dg->file,
				      "line", dg->line, "col", dg->col,
				      "message", dg->msg);

		if (o == NULL || json_array_append_new(a, o)) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

json_t *ctl_response_error(uint64_t id, const char *code, const char *message,
			   const struct diag_list *diags)
{
	json_t *e, *r, *dj = ctl_diags_json(diags);

	if (dj == NULL)
		return NULL;
	e = json_pack("{s:s, s:s, s:o}", "code", code, "message", message,
		      "diagnostics", dj);
	if (e == NULL)
		return NULL;
	r = json_pack("{s:I, s:b, s:o}", "id", (json_int_t)id, "ok", 0, "error",
		      e);
	return r;
}

int ctl_response_parse(const json_t *msg, uint64_t *id, bool *ok,
		       const json_t **result, const json_t **error,
		       const char **why)
{
	const json_t *o, *c, *m;

	*ok = false;
	*result = NULL;
	*error = NULL;
	*why = NULL;
	if (!json_is_object(msg)) {
		*id = 0;
		*why = "response is not a JSON object";
		return -EINVAL;
	}
	if (ctl_get_id(msg, id, why) < 0)
		return -EINVAL;
	o = json_object_get(msg, "ok");
	if (!json_is_boolean(o)) {
		*why = "\"ok\" must be a boolean";
		return -EINVAL;
	}
	*ok = json_is_true(o);
	if (*ok) {
		*result = json_object_get(msg, "result");
		if (!json_is_object(*result)) {
			*why = "\"result\" must be an object";
			return -EINVAL;
		}
		return 0;
	}
	*error = json_object_get(msg, "error");
	c = json_object_get(*error, "code");
	m = json_object_get(*error, "message");
	if (!json_is_object(*error) || !json_is_string(c) ||
	    !json_is_string(m)) {
		*why = "\"error\" must be an object with string code and message";
		return -EINVAL;
	}
	return 0;
}
