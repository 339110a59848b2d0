/*
 * Control protocol codec: round trips, arbitrary splits, several frames
 * per feed, and every kind of malformed frame (CR 3.5), plus the request
 * and response shapes and the command table's argument checks.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "mgmt/control.h"

static json_t *req_status(uint64_t id)
{
	json_t *r = ctl_request_new(id, "status", NULL);

	cr_assert_not_null(r);
	return r;
}

static uint8_t *encode(const json_t *msg, enum ctl_type t, size_t *len)
{
	uint8_t *f = NULL;

	cr_assert_eq(ctl_encode(t, msg, &f, len), 0);
	return f;
}

/* Builds a raw frame with an explicit header and payload. */
static size_t raw_frame(uint8_t *buf, uint8_t m0, uint8_t m1, uint8_t ver,
			uint8_t type, uint32_t plen, const char *payload)
{
	size_t n = payload ? strlen(payload) : 0;

	buf[0] = m0;
	buf[1] = m1;
	buf[2] = ver;
	buf[3] = type;
	buf[4] = (uint8_t)(plen >> 24);
	buf[5] = (uint8_t)(plen >> 16);
	buf[6] = (uint8_t)(plen >> 8);
	buf[7] = (uint8_t)plen;
	if (n)
		memcpy(buf + 8, payload, n);
	return 8 + n;
}

/* Feeds everything at once; returns the final result and error. */
static enum ctl_result decode_all(const uint8_t *buf, size_t len,
				  enum ctl_error *err, json_t **msg)
{
	struct ctl_decoder d;
	struct ctl_frame f = { 0 };
	enum ctl_result r;
	size_t used;

	ctl_decoder_init(&d, 0);
	r = ctl_decode(&d, buf, len, &used, &f);
	*err = ctl_decoder_error(&d);
	if (msg)
		*msg = f.msg;
	else
		json_decref(f.msg);
	ctl_decoder_free(&d);
	return r;
}

Test(control, round_trip)
{
	struct ctl_decoder d;
	struct ctl_frame f;
	json_t *args = json_pack("{s:s, s:s}", "name", "plant.yaml", "content",
				 "version: 1\n\xc3\xa4\n");
	json_t *req = ctl_request_new(42, "policy.apply", args);
	const json_t *a;
	const char *cmd, *why;
	uint8_t *frame;
	size_t len, used;
	uint64_t id;

	frame = encode(req, CTL_TYPE_REQUEST, &len);
	cr_expect_eq(frame[0], 'C');
	cr_expect_eq(frame[1], 'D');
	cr_expect_eq(frame[2], CTL_VERSION);
	cr_expect_eq(frame[3], CTL_TYPE_REQUEST);
	cr_expect_eq(((size_t)frame[4] << 24 | (size_t)frame[5] << 16 |
		      (size_t)frame[6] << 8 | frame[7]),
		     len - CTL_HDR_LEN);

	ctl_decoder_init(&d, 0);
	cr_assert_eq(ctl_decode(&d, frame, len, &used, &f), CTL_FRAME);
	cr_expect_eq(used, len);
	cr_expect_eq(f.type, CTL_TYPE_REQUEST);
	cr_expect(json_equal(f.msg, req));
	cr_assert_eq(ctl_request_parse(f.msg, &id, &cmd, &a, &why), 0);
	cr_expect_eq(id, 42);
	cr_expect_str_eq(cmd, "policy.apply");
	cr_expect_str_eq(json_string_value(json_object_get(a, "content")),
			 "version: 1\n\xc3\xa4\n");
	cr_expect_not(ctl_decoder_partial(&d));
	json_decref(f.msg);
	ctl_decoder_free(&d);
	free(frame);
	json_decref(req);
}

Test(control, split_across_many_feeds)
{
	json_t *req = req_status(7);
	struct ctl_decoder d;
	struct ctl_frame f = { 0 };
	uint8_t *frame;
	size_t len, used;

	frame = encode(req, CTL_TYPE_REQUEST, &len);
	/* Every split point, byte by byte. */
	for (size_t step = 1; step <= 3; step++) {
		size_t off = 0;
		int frames = 0;

		ctl_decoder_init(&d, 0);
		while (off < len) {
			size_t n = len - off < step ? len - off : step;
			enum ctl_result r =
				ctl_decode(&d, frame + off, n, &used, &f);

			cr_assert_neq(r, CTL_ERROR);
			cr_assert_eq(used, n);
			off += used;
			if (r == CTL_FRAME) {
				frames++;
				cr_expect(json_equal(f.msg, req));
				json_decref(f.msg);
				cr_expect_eq(off, len);
			} else {
				cr_expect(ctl_decoder_partial(&d));
			}
		}
		cr_expect_eq(frames, 1);
		ctl_decoder_free(&d);
	}
	free(frame);
	json_decref(req);
}

Test(control, several_frames_in_one_feed)
{
	struct ctl_decoder d;
	struct ctl_frame f;
	uint8_t buf[4096], *fr;
	size_t len, off = 0, total = 0, used;

	for (uint64_t i = 1; i <= 5; i++) {
		json_t *r = req_status(i);

		fr = encode(r, CTL_TYPE_REQUEST, &len);
		memcpy(buf + total, fr, len);
		total += len;
		free(fr);
		json_decref(r);
	}
	ctl_decoder_init(&d, 0);
	for (uint64_t want = 1; want <= 5; want++) {
		cr_assert_eq(ctl_decode(&d, buf + off, total - off, &used, &f),
			     CTL_FRAME);
		off += used;
		cr_expect_eq(json_integer_value(json_object_get(f.msg, "id")),
			     (json_int_t)want);
		json_decref(f.msg);
	}
	cr_expect_eq(off, total);
	cr_expect_eq(ctl_decode(&d, buf, 0, &used, &f), CTL_INCOMPLETE);
	ctl_decoder_free(&d);
}

Test(control, response_frames_and_shapes)
{
	struct diag_list dl;
	const json_t *res, *err;
	const char *why;
	json_t *ok, *bad, *msg;
	enum ctl_error e;
	uint8_t *fr;
	size_t len;
	uint64_t id;
	bool isok;

	ok = ctl_response_ok(3, json_pack("{s:i}", "generation", 2));
	fr = encode(ok, CTL_TYPE_RESPONSE, &len);
	cr_assert_eq(decode_all(fr, len, &e, &msg), CTL_FRAME);
	cr_assert_eq(ctl_response_parse(msg, &id, &isok, &res, &err, &why), 0);
	cr_expect(isok);
	cr_expect_eq(id, 3);
	cr_expect_eq(json_integer_value(json_object_get(res, "generation")), 2);
	json_decref(msg);
	free(fr);

	diag_list_init(&dl);
	diag_add(&dl, "p.yaml", 4, 9, "unknown zone \"dmzz\"");
	diag_add(&dl, NULL, 0, 0, "no location");
	bad = ctl_response_error(9, CTL_ERR_POLICY_INVALID, "policy rejected",
				 &dl);
	cr_assert_eq(ctl_response_parse(bad, &id, &isok, &res, &err, &why), 0);
	cr_expect_not(isok);
	cr_expect_eq(id, 9);
	cr_expect_str_eq(json_string_value(json_object_get(err, "code")),
			 "policy-invalid");
	{
		const json_t *d0 =
			json_array_get(json_object_get(err, "diagnostics"), 0);
		const json_t *d1 =
			json_array_get(json_object_get(err, "diagnostics"), 1);

		cr_expect_str_eq(json_string_value(json_object_get(d0, "file")),
				 "p.yaml");
		cr_expect_eq(json_integer_value(json_object_get(d0, "line")),
			     4);
		cr_expect_eq(json_integer_value(json_object_get(d0, "col")), 9);
		cr_expect_str_eq(
			json_string_value(json_object_get(d0, "message")),
			"unknown zone \"dmzz\"");
		cr_expect(json_is_null(json_object_get(d1, "file")));
	}
	diag_list_free(&dl);
	json_decref(ok);
	json_decref(bad);
}

/* CR 3.5 */
Test(control, oversize_length_rejected_before_payload)
{
	uint8_t buf[16];
	enum ctl_error e;
	struct ctl_decoder d;
	struct ctl_frame f;
	size_t used;

	raw_frame(buf, 'C', 'D', 1, 1, CTL_MAX_PAYLOAD + 1, NULL);
	cr_expect_eq(decode_all(buf, 8, &e, NULL), CTL_ERROR);
	cr_expect_eq(e, CTL_E_LENGTH);
	raw_frame(buf, 'C', 'D', 1, 1, 0xffffffffu, NULL);
	cr_expect_eq(decode_all(buf, 8, &e, NULL), CTL_ERROR);
	cr_expect_eq(e, CTL_E_LENGTH);
	raw_frame(buf, 'C', 'D', 1, 1, 0, NULL);
	cr_expect_eq(decode_all(buf, 8, &e, NULL), CTL_ERROR);
	cr_expect_eq(e, CTL_E_LENGTH);
	/* A smaller per-decoder limit applies too. */
	raw_frame(buf, 'C', 'D', 1, 1, 101, NULL);
	ctl_decoder_init(&d, 100);
	cr_expect_eq(ctl_decode(&d, buf, 8, &used, &f), CTL_ERROR);
	cr_expect_eq(ctl_decoder_error(&d), CTL_E_LENGTH);
	cr_expect(strstr(ctl_decoder_reason(&d), "101") != NULL);
	ctl_decoder_free(&d);
	/* The largest allowed length is accepted as a header. */
	raw_frame(buf, 'C', 'D', 1, 1, CTL_MAX_PAYLOAD, NULL);
	cr_expect_eq(decode_all(buf, 8, &e, NULL), CTL_INCOMPLETE);
}

/* CR 3.5 */
Test(control, bad_magic_rejected_at_first_byte)
{
	uint8_t buf[64];
	size_t n = raw_frame(buf, 'G', 'E', 1, 1, 2, "{}");
	struct ctl_decoder d;
	struct ctl_frame f;
	enum ctl_error e;
	size_t used;

	ctl_decoder_init(&d, 0);
	cr_expect_eq(ctl_decode(&d, buf, n, &used, &f), CTL_ERROR);
	cr_expect_eq(used, 1, "refused after the first byte");
	cr_expect_eq(ctl_decoder_error(&d), CTL_E_MAGIC);
	/* Sticky: the stream stays broken. */
	cr_expect_eq(ctl_decode(&d, buf, n, &used, &f), CTL_ERROR);
	cr_expect_eq(used, 0);
	ctl_decoder_free(&d);

	n = raw_frame(buf, 'C', 'X', 1, 1, 2, "{}");
	cr_expect_eq(decode_all(buf, n, &e, NULL), CTL_ERROR);
	cr_expect_eq(e, CTL_E_MAGIC);
	/* An HTTP request on the socket. */
	cr_expect_eq(decode_all((const uint8_t *)"GET / HTTP/1.0\r\n\r\n", 18,
				&e, NULL),
		     CTL_ERROR);
	cr_expect_eq(e, CTL_E_MAGIC);
}

/* CR 3.5 */
Test(control, bad_version_and_type)
{
	uint8_t buf[64];
	enum ctl_error e;
	struct ctl_decoder d;
	struct ctl_frame f;
	size_t used, n;

	n = raw_frame(buf, 'C', 'D', 2, 1, 2, "{}");
	ctl_decoder_init(&d, 0);
	cr_expect_eq(ctl_decode(&d, buf, n, &used, &f), CTL_ERROR);
	cr_expect_eq(ctl_decoder_error(&d), CTL_E_VERSION);
	cr_expect(strstr(ctl_decoder_reason(&d), "version 2") != NULL);
	ctl_decoder_free(&d);
	n = raw_frame(buf, 'C', 'D', 0, 1, 2, "{}");
	cr_expect_eq(decode_all(buf, n, &e, NULL), CTL_ERROR);
	cr_expect_eq(e, CTL_E_VERSION);
	n = raw_frame(buf, 'C', 'D', 1, 3, 2, "{}");
	cr_expect_eq(decode_all(buf, n, &e, NULL), CTL_ERROR);
	cr_expect_eq(e, CTL_E_TYPE);
	n = raw_frame(buf, 'C', 'D', 1, 0, 2, "{}");
	cr_expect_eq(decode_all(buf, n, &e, NULL), CTL_ERROR);
	cr_expect_eq(e, CTL_E_TYPE);
}

/* CR 3.5 */
Test(control, truncated_frames_stay_incomplete)
{
	json_t *req = req_status(1);
	struct ctl_decoder d;
	struct ctl_frame f;
	uint8_t *fr;
	size_t len, used;

	fr = encode(req, CTL_TYPE_REQUEST, &len);
	for (size_t cut = 0; cut < len; cut++) {
		ctl_decoder_init(&d, 0);
		cr_expect_eq(ctl_decode(&d, fr, cut, &used, &f), CTL_INCOMPLETE,
			     "cut at %zu", cut);
		cr_expect_null(f.msg);
		cr_expect_eq(ctl_decoder_partial(&d), cut > 0);
		ctl_decoder_free(&d);
	}
	free(fr);
	json_decref(req);
}

/* CR 3.5 */
Test(control, invalid_json_rejected)
{
	static const char *const bad[] = {
		"{",			/* truncated */
		"{\"id\":1,}",		/* syntax */
		"{\"id\":1} trailing",	/* junk after the object */
		"{\"a\":\"\xff\xfe\"}", /* not UTF-8 */
		"{\"a\":1,\"a\":2}",	/* duplicate key: ambiguous */
		"{\"a\":\"\\u0000\"}",	/* NUL inside a string */
	};
	uint8_t buf[128];
	enum ctl_error e;
	struct ctl_decoder d;
	struct ctl_frame f;
	size_t used, n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = raw_frame(buf, 'C', 'D', 1, 1, (uint32_t)strlen(bad[i]),
			      bad[i]);
		cr_expect_eq(decode_all(buf, n, &e, NULL), CTL_ERROR,
			     "case %zu", i);
		cr_expect_eq(e, CTL_E_JSON, "case %zu", i);
	}
	n = raw_frame(buf, 'C', 'D', 1, 1, 1, "{");
	ctl_decoder_init(&d, 0);
	cr_expect_eq(ctl_decode(&d, buf, n, &used, &f), CTL_ERROR);
	cr_expect(strstr(ctl_decoder_reason(&d), "not valid JSON") != NULL);
	ctl_decoder_free(&d);
}

/* CR 3.5 */
Test(control, non_object_json_rejected)
{
	static const char *const bad[] = { "[1,2]", "\"status\"", "42", "null",
					   "true" };
	uint8_t buf[64];
	enum ctl_error e;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = raw_frame(buf, 'C', 'D', 1, 1,
				     (uint32_t)strlen(bad[i]), bad[i]);

		cr_expect_eq(decode_all(buf, n, &e, NULL), CTL_ERROR,
			     "case %zu", i);
		cr_expect_eq(e, CTL_E_NOT_OBJECT, "case %zu", i);
	}
}

/* CR 3.5 */
Test(control, payload_length_is_exact)
{
	/* A length shorter than the JSON cuts it: invalid, not a partial read
	 * into the next frame. */
	uint8_t buf[64];
	enum ctl_error e;
	size_t n = raw_frame(buf, 'C', 'D', 1, 1, 5, "{\"id\":1}");

	cr_expect_eq(decode_all(buf, n, &e, NULL), CTL_ERROR);
	cr_expect_eq(e, CTL_E_JSON);
}

/* CR 3.5 */
Test(control, request_shape_checked)
{
	static const char *const bad[] = {
		"{\"cmd\":\"status\"}",		     /* no id */
		"{\"id\":-1,\"cmd\":\"status\"}",    /* negative id */
		"{\"id\":\"1\",\"cmd\":\"status\"}", /* id not integer */
		"{\"id\":1}",			     /* no cmd */
		"{\"id\":1,\"cmd\":\"\"}",	     /* empty cmd */
		"{\"id\":1,\"cmd\":7}",		     /* cmd not string */
		"{\"id\":1,\"cmd\":\"status\",\"args\":[]}", /* args not object */
		"{\"id\":1,\"cmd\":\"status\",\"x\":1}", /* unknown member */
	};
	const json_t *args;
	const char *cmd, *why;
	uint64_t id;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *m = json_loads(bad[i], 0, NULL);

		cr_assert_not_null(m);
		cr_expect_eq(ctl_request_parse(m, &id, &cmd, &args, &why),
			     -EINVAL, "case %zu", i);
		cr_expect_not_null(why);
		json_decref(m);
	}
	{
		json_t *m = json_loads("{\"id\":5,\"cmd\":\"x\",\"args\":[]}",
				       0, NULL);

		cr_expect_eq(ctl_request_parse(m, &id, &cmd, &args, &why),
			     -EINVAL);
		cr_expect_eq(id, 5, "the id survives for the error reply");
		json_decref(m);
	}
}

Test(control, response_shape_checked)
{
	static const char *const bad[] = {
		"{\"ok\":true,\"result\":{}}",
		"{\"id\":1,\"ok\":1,\"result\":{}}",
		"{\"id\":1,\"ok\":true}",
		"{\"id\":1,\"ok\":false,\"error\":{\"code\":\"x\"}}",
		"{\"id\":1,\"ok\":false}",
	};
	const json_t *res, *err;
	const char *why;
	uint64_t id;
	bool ok;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *m = json_loads(bad[i], 0, NULL);

		cr_assert_not_null(m);
		cr_expect_eq(ctl_response_parse(m, &id, &ok, &res, &err, &why),
			     -EINVAL, "case %zu", i);
		json_decref(m);
	}
}

Test(control, encode_refuses_non_objects)
{
	json_t *a = json_array();
	uint8_t *f;
	size_t len;

	cr_expect_eq(ctl_encode(CTL_TYPE_REQUEST, a, &f, &len), -EINVAL);
	cr_expect_null(f);
	json_decref(a);
	a = json_object();
	cr_expect_eq(ctl_encode((enum ctl_type)9, a, &f, &len), -EINVAL);
	json_decref(a);
}

Test(control, large_payload_grows_incrementally)
{
	size_t big = 3u * 1024 * 1024;
	char *s = malloc(big + 1);
	struct ctl_decoder d;
	struct ctl_frame f;
	json_t *req;
	uint8_t *fr;
	size_t len, off = 0, used;

	memset(s, 'y', big);
	s[big] = '\0';
	req = ctl_request_new(1, "policy.apply",
			      json_pack("{s:s}", "content", s));
	fr = encode(req, CTL_TYPE_REQUEST, &len);
	ctl_decoder_init(&d, 0);
	while (off < len) {
		size_t n = len - off < 65536 ? len - off : 65536;
		enum ctl_result r = ctl_decode(&d, fr + off, n, &used, &f);

		off += used;
		if (off < len) {
			cr_assert_eq(r, CTL_INCOMPLETE);
			cr_assert(d.cap <= 2 * off + 8192,
				  "buffer %zu ahead of %zu", d.cap, off);
		} else {
			cr_assert_eq(r, CTL_FRAME);
			cr_expect(json_equal(f.msg, req));
			json_decref(f.msg);
		}
	}
	ctl_decoder_free(&d);
	free(fr);
	free(s);
	json_decref(req);
}
