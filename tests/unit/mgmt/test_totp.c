/* TOTP, base32, otpauth URIs and the failed-attempt lockout. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mgmt/totp.h"

/* RFC 6238 appendix B: the SHA-1 seed, ASCII, and its base32 form. */
static const char rfc_key[] = "12345678901234567890";
#define RFC_B32 "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

/* 6-digit code of the RFC key at time t, as text. */
static void code6(int64_t t, char out[TOTP_DIGITS + 1])
{
	uint32_t c;

	cr_assert_eq(totp_code((const uint8_t *)rfc_key, 20, t, 6, &c), 0);
	cr_assert_lt(c, 1000000u);
	snprintf(out, TOTP_DIGITS + 1, "%06u", c);
}

/* CR 1.1 RE(2) */
Test(totp, rfc6238_sha1_vectors)
{
	static const struct {
		int64_t t;
		uint32_t code;
	} v[] = {
		{ 59, 94287082 },	  { 1111111109, 7081804 },
		{ 1111111111, 14050471 }, { 1234567890, 89005924 },
		{ 2000000000, 69279037 }, { 20000000000, 65353130 },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint32_t c = 0;

		cr_assert_eq(totp_code((const uint8_t *)rfc_key, 20, v[i].t, 8,
				       &c),
			     0);
		cr_expect_eq(c, v[i].code, "T=%lld: got %08u, want %08u",
			     (long long)v[i].t, c, v[i].code);
	}
}

Test(totp, six_digits_are_the_low_digits)
{
	char c[TOTP_DIGITS + 1];

	code6(59, c);
	cr_assert_str_eq(c, "287082");
	code6(1111111109, c);
	cr_assert_str_eq(c, "081804"); /* leading zero kept */
}

Test(totp, code_refuses_bad_arguments)
{
	const uint8_t *k = (const uint8_t *)rfc_key;
	uint32_t c = 12345;

	cr_expect_eq(totp_code(k, 20, 59, 5, &c), -EINVAL);
	cr_expect_eq(totp_code(k, 20, 59, 9, &c), -EINVAL);
	cr_expect_eq(totp_code(k, 0, 59, 6, &c), -EINVAL);
	cr_expect_eq(totp_code(NULL, 20, 59, 6, &c), -EINVAL);
	cr_expect_eq(totp_code(k, 20, -1, 6, &c), -EINVAL);
	cr_expect_eq(totp_code(k, 20, 59, 6, NULL), -EINVAL);
	cr_expect_eq(c, 12345u, "output touched on error");
}

Test(totp, base32_rfc4648_vectors_both_ways)
{
	static const struct {
		const char *raw, *b32;
	} v[] = {
		{ "", "" },
		{ "f", "MY" },
		{ "fo", "MZXQ" },
		{ "foo", "MZXW6" },
		{ "foob", "MZXW6YQ" },
		{ "fooba", "MZXW6YTB" },
		{ "foobar", "MZXW6YTBOI" },
		{ "12345678901234567890", RFC_B32 },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t n = strlen(v[i].raw);
		char enc[TOTP_B32_MAX + 1];
		uint8_t dec[64];

		cr_assert_eq(totp_b32_encode((const uint8_t *)v[i].raw, n, enc,
					     sizeof(enc)),
			     (int)strlen(v[i].b32));
		cr_expect_str_eq(enc, v[i].b32);
		cr_assert_eq(totp_b32_decode(v[i].b32, dec, sizeof(dec)),
			     (int)n, "decode %s", v[i].b32);
		cr_expect_eq(memcmp(dec, v[i].raw, n), 0);
	}
}

Test(totp, base32_decode_case_and_spaces)
{
	uint8_t dec[16];

	cr_assert_eq(totp_b32_decode("mzxw 6ytb oi", dec, sizeof(dec)), 6);
	cr_expect_eq(memcmp(dec, "foobar", 6), 0);
	cr_assert_eq(totp_b32_decode(" MzXw6YtBoI ", dec, sizeof(dec)), 6);
	cr_expect_eq(memcmp(dec, "foobar", 6), 0);
}

Test(totp, base32_bad_input_refused)
{
	static const char *bad[] = {
		"MZ1",	      /* '1' is not in the alphabet */
		"MY0",	      /* nor is '0' */
		"MY==",	      /* no padding */
		"MZXW6YT-OI", /* nor separators other than spaces */
		"MZXW\tYTBOI",
		"M", /* no byte string has 1, 3 or 6 chars mod 8 */
		"MZX",
		"MZXW6Y",
		"MZ", /* non-zero padding bits: not canonical */
		"MZXR",
		"\xc3\x89", /* non-ASCII */
	};
	uint8_t dec[16];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(totp_b32_decode(bad[i], dec, sizeof(dec)), -EINVAL,
			     "accepted \"%s\"", bad[i]);
	cr_expect_eq(totp_b32_decode(NULL, dec, sizeof(dec)), -EINVAL);
}

Test(totp, base32_short_buffers_refused)
{
	char enc[11];
	uint8_t dec[6];

	/* "foobar" needs 10 characters and the NUL. */
	cr_expect_eq(totp_b32_encode((const uint8_t *)"foobar", 6, enc, 10),
		     -EINVAL);
	cr_expect_eq(totp_b32_encode((const uint8_t *)"foobar", 6, enc, 11),
		     10);
	cr_expect_eq(totp_b32_decode("MZXW6YTBOI", dec, 5), -EINVAL);
	cr_expect_eq(totp_b32_decode("MZXW6YTBOI", dec, 6), 6);
}

/* CR 1.5 */
Test(totp, new_secret_is_random_and_160_bits)
{
	char a[TOTP_B32_MAX + 1], b[TOTP_B32_MAX + 1];
	uint8_t raw[TOTP_B32_MAX];

	cr_assert_eq(totp_new_secret(a, sizeof(a)), 0);
	cr_assert_eq(totp_new_secret(b, sizeof(b)), 0);
	cr_expect_eq(strlen(a), 32u);
	cr_expect_eq(totp_b32_decode(a, raw, sizeof(raw)), TOTP_SECRET_BYTES);
	cr_expect_str_neq(a, b, "two secrets are equal");
	cr_expect_lt(totp_new_secret(a, 32), 0, "no room for the NUL");
}

Test(totp, uri_exact_and_percent_encoded)
{
	char uri[256];

	cr_assert_eq(totp_uri("conduitd", "alice", RFC_B32, uri, sizeof(uri)),
		     0);
	cr_expect_str_eq(uri, "otpauth://totp/conduitd:alice?secret=" RFC_B32
			      "&issuer=conduitd&algorithm=SHA1&digits=6"
			      "&period=30");
	/* Lower case and spaces in the secret come out canonical. */
	cr_assert_eq(totp_uri("ACME Plant #2", "op@gw:1/ä", "mzxw 6ytb oi", uri,
			      sizeof(uri)),
		     0);
	cr_expect_str_eq(uri, "otpauth://totp/ACME%20Plant%20%232:"
			      "op%40gw%3A1%2F%C3%A4?secret=MZXW6YTBOI"
			      "&issuer=ACME%20Plant%20%232"
			      "&algorithm=SHA1&digits=6&period=30");
}

Test(totp, uri_refuses_bad_input_and_short_buffer)
{
	char uri[256];

	cr_expect_eq(totp_uri("", "alice", RFC_B32, uri, sizeof(uri)), -EINVAL);
	cr_expect_eq(totp_uri("conduitd", "", RFC_B32, uri, sizeof(uri)),
		     -EINVAL);
	cr_expect_eq(totp_uri("conduitd", "alice", "", uri, sizeof(uri)),
		     -EINVAL);
	cr_expect_eq(totp_uri("conduitd", "alice", "MZ1", uri, sizeof(uri)),
		     -EINVAL);
	memset(uri, 'x', sizeof(uri));
	cr_expect_eq(totp_uri("conduitd", "alice", RFC_B32, uri, 60), -ENOSPC);
	cr_expect_null(memchr(uri, 'G', 60), "truncated secret left in out");
}

/* CR 1.1 RE(2) */
Test(totp, verify_window_one_step)
{
	const int64_t now = 1111111111;
	char c[TOTP_DIGITS + 1];

	for (int d = -1; d <= 1; d++) {
		int64_t last = 0;

		code6(now + d * TOTP_STEP, c);
		cr_expect(totp_verify(RFC_B32, c, now, 1, &last),
			  "step %+d refused", d);
		cr_expect_eq(last, now / TOTP_STEP + d);
	}
	for (int d = -2; d <= 2; d += 4) {
		int64_t last = 0;

		code6(now + d * TOTP_STEP, c);
		cr_expect_not(totp_verify(RFC_B32, c, now, 1, &last),
			      "step %+d accepted", d);
		cr_expect_eq(last, 0);
	}
	/* The RFC's own value for the previous step, independent of
	 * totp_code(), and window 0 accepts only the current step. */
	{
		int64_t last = 0;

		cr_expect_not(totp_verify(RFC_B32, "081804", now, 0, &last));
		cr_expect(totp_verify(RFC_B32, "081804", now, 1, &last));
		cr_expect(totp_verify(RFC_B32, "050471", now, 0, &last));
	}
}

/* CR 1.1 RE(2) */
Test(totp, verify_refuses_replay_and_older_steps)
{
	const int64_t now = 1234567890;
	char prev[TOTP_DIGITS + 1], cur[TOTP_DIGITS + 1], next[TOTP_DIGITS + 1];
	int64_t last = 0;

	code6(now - TOTP_STEP, prev);
	code6(now, cur);
	code6(now + TOTP_STEP, next);
	cr_assert(totp_verify(RFC_B32, cur, now, 1, &last));
	cr_assert_eq(last, now / TOTP_STEP);
	cr_expect_not(totp_verify(RFC_B32, cur, now, 1, &last), "replay");
	cr_expect_not(totp_verify(RFC_B32, cur, now + 5, 1, &last),
		      "replay later in the same step");
	cr_expect_not(totp_verify(RFC_B32, prev, now, 1, &last),
		      "older step after a newer one");
	cr_expect_eq(last, now / TOTP_STEP);
	cr_expect(totp_verify(RFC_B32, next, now, 1, &last));
	cr_expect_eq(last, now / TOTP_STEP + 1);
	cr_expect_not(totp_verify(RFC_B32, cur, now + TOTP_STEP, 1, &last),
		      "older step after a newer one");
}

/* CR 1.1 RE(2) */
Test(totp, verify_refuses_malformed_codes)
{
	static const char *bad[] = {
		"28708", "2870820", "28708a",  " 287082", "287082 ",
		"",	 "-28708",  "+287082", "2870８2",
	};
	int64_t last = 0;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_not(totp_verify(RFC_B32, bad[i], 59, 1, &last),
			      "accepted \"%s\"", bad[i]);
	cr_expect_eq(last, 0);
	cr_expect_not(totp_verify("not base32!", "287082", 59, 1, &last));
	cr_expect_not(totp_verify("", "287082", 59, 1, &last));
	cr_expect_not(totp_verify(RFC_B32, "287082", 59, 1000, &last),
		      "absurd window");
	cr_expect_not(totp_verify(RFC_B32, "287082", 59, 1, NULL));
	/* The well-formed code itself is good, so the refusals above were
	 * about the format. */
	cr_expect(totp_verify(RFC_B32, "287082", 59, 1, &last));
}

/* --- lockout -------------------------------------------------------------- */

static const struct lockout_policy pol = { 5, 900, 900 };

Test(lockout, defaults)
{
	struct lockout_policy p;

	memset(&p, 0xff, sizeof(p));
	lockout_policy_default(&p);
	cr_expect_eq(p.max_failures, 5u);
	cr_expect_eq(p.window_s, 900u);
	cr_expect_eq(p.lock_s, 900u);
}

/* CR 1.11 */
Test(lockout, fifth_failure_locks_until_period_passes)
{
	struct lockout_state s = { 0 };
	int64_t t = 1000000;

	for (int i = 0; i < 4; i++) {
		cr_assert_eq(lockout_check(&pol, &s, t + i), LOCKOUT_OK);
		cr_assert_eq(lockout_fail(&pol, &s, t + i), LOCKOUT_OK,
			     "failure %d", i + 1);
	}
	cr_assert_eq(lockout_fail(&pol, &s, t + 4), LOCKOUT_NOW_LOCKED);
	cr_expect_eq(s.locked_until, t + 4 + 900);
	cr_expect_eq(lockout_check(&pol, &s, t + 4), LOCKOUT_LOCKED);
	cr_expect_eq(lockout_check(&pol, &s, t + 4 + 899), LOCKOUT_LOCKED);
	/* A failure while locked neither re-announces nor extends it. */
	cr_expect_eq(lockout_fail(&pol, &s, t + 500), LOCKOUT_LOCKED);
	cr_expect_eq(s.locked_until, t + 4 + 900);
	cr_expect_eq(lockout_check(&pol, &s, t + 4 + 900), LOCKOUT_OK);
	cr_expect_eq(s.failures, 0u, "unlock leaves old failures");
	cr_expect_eq(lockout_fail(&pol, &s, t + 1000), LOCKOUT_OK,
		     "one failure after unlock locked again");
}

/* CR 1.11 */
Test(lockout, failures_outside_window_do_not_add_up)
{
	struct lockout_state s = { 0 };
	int64_t t = 5000;

	for (int i = 0; i < 4; i++)
		cr_assert_eq(lockout_fail(&pol, &s, t + i * 10), LOCKOUT_OK);
	/* The window opened at t; at t + 900 it is over. */
	for (int i = 0; i < 4; i++)
		cr_expect_eq(lockout_fail(&pol, &s, t + 900 + i), LOCKOUT_OK,
			     "failure %d of the new window", i + 1);
	cr_expect_eq(s.failures, 4u);
	cr_expect_eq(s.window_start, t + 900);
	cr_expect_eq(lockout_check(&pol, &s, t + 910), LOCKOUT_OK);
	cr_expect_eq(lockout_fail(&pol, &s, t + 910), LOCKOUT_NOW_LOCKED);
}

/* CR 1.11 */
Test(lockout, reset_clears)
{
	struct lockout_state s = { 0 };

	for (int i = 0; i < 4; i++)
		lockout_fail(&pol, &s, 100 + i);
	lockout_reset(&s);
	for (int i = 0; i < 4; i++)
		cr_expect_eq(lockout_fail(&pol, &s, 110 + i), LOCKOUT_OK,
			     "reset kept the earlier failures");
	cr_expect_eq(lockout_fail(&pol, &s, 120), LOCKOUT_NOW_LOCKED);
	lockout_reset(&s);
	cr_expect_eq(lockout_check(&pol, &s, 121), LOCKOUT_OK);
	cr_expect_eq(s.failures, 0u);
	cr_expect_eq(s.locked_until, 0);
}

/* CR 1.11 */
Test(lockout, lock_s_zero_needs_an_admin)
{
	const struct lockout_policy p = { 3, 900, 0 };
	struct lockout_state s = { 0 };

	cr_assert_eq(lockout_fail(&p, &s, 10), LOCKOUT_OK);
	cr_assert_eq(lockout_fail(&p, &s, 11), LOCKOUT_OK);
	cr_assert_eq(lockout_fail(&p, &s, 12), LOCKOUT_NOW_LOCKED);
	cr_expect_eq(s.locked_until, INT64_MAX);
	cr_expect_eq(lockout_check(&p, &s, 12 + 900), LOCKOUT_LOCKED);
	cr_expect_eq(lockout_check(&p, &s, INT64_MAX - 1), LOCKOUT_LOCKED);
	lockout_reset(&s);
	cr_expect_eq(lockout_check(&p, &s, INT64_MAX - 1), LOCKOUT_OK);
}

/* CR 1.11 */
Test(lockout, zero_max_failures_still_locks)
{
	const struct lockout_policy p = { 0, 900, 60 };
	struct lockout_state s = { 0 };

	cr_expect_eq(lockout_fail(&p, &s, 10), LOCKOUT_NOW_LOCKED);
	cr_expect_eq(lockout_check(&p, &s, 69), LOCKOUT_LOCKED);
	cr_expect_eq(lockout_check(&p, &s, 70), LOCKOUT_OK);
}
