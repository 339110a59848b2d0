/*
 * Second factor and brute-force limits for the management plane: RFC 6238
 * TOTP (HMAC-SHA-1, 6 digits, 30 s, OpenSSL), base32 secrets and
 * otpauth:// URIs (CR 1.1 RE(2), CR 1.8), and the lockout of a user after
 * failed attempts (CR 1.11). Pure logic with an injected clock; no I/O.
 */
#ifndef CONDUIT_MGMT_TOTP_H
#define CONDUIT_MGMT_TOTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOTP_SECRET_BYTES 20 /* 160 bits, as RFC 4226 recommends */
#define TOTP_B32_MAX 64
#define TOTP_STEP 30
#define TOTP_DIGITS 6

/* RFC 4648 base32 without padding; returns the length or -EINVAL. */
int totp_b32_encode(const uint8_t *in, size_t n, char *out, size_t outlen);
int totp_b32_decode(const char *in, uint8_t *out, size_t outlen);
/* A fresh secret (getrandom) as base32 into out. */
int totp_new_secret(char *out, size_t outlen);
/* otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=ISSUER&algorithm=SHA1&
 * digits=6&period=30 (issuer and account percent-encoded). */
int totp_uri(const char *issuer, const char *account, const char *b32,
	     char *out, size_t outlen);
/* The code for time t (seconds since the epoch), RFC 6238, digits 6..8
 * (8 for the RFC's test vectors). Returns 0 or -EINVAL. */
int totp_code(const uint8_t *key, size_t keylen, int64_t t, unsigned digits,
	      uint32_t *code);

/*
 * Verifies a 6-digit code given as text at time now, accepting the steps
 * now-window..now+window (window 1 = ±30 s). *last_step is the step of the
 * last code accepted for this user: a code of that step or older is
 * refused (replay), and on success *last_step becomes the matched step.
 * Constant time over the window. Returns true when accepted.
 */
bool totp_verify(const char *b32, const char *code, int64_t now,
		 unsigned window, int64_t *last_step);

/* --- lockout (CR 1.11) ---------------------------------------------------- */

struct lockout_policy {
	unsigned max_failures; /* in the window; 5 */
	unsigned window_s;     /* 900 */
	unsigned lock_s;       /* automatic unlock after; 900 (0: admin only) */
};

struct lockout_state {
	uint32_t failures;    /* in the current window */
	int64_t window_start; /* time of the first of them */
	int64_t locked_until; /* 0: not locked; INT64_MAX: until an admin */
};

enum lockout_result {
	LOCKOUT_OK,	    /* may try */
	LOCKOUT_LOCKED,	    /* refused without checking the password */
	LOCKOUT_NOW_LOCKED, /* this failure locked it (event) */
};

void lockout_policy_default(struct lockout_policy *p);
/* Before checking credentials at time now. */
enum lockout_result lockout_check(const struct lockout_policy *p,
				  struct lockout_state *s, int64_t now);
/* After a failed attempt: LOCKOUT_NOW_LOCKED when it reached the limit. */
enum lockout_result lockout_fail(const struct lockout_policy *p,
				 struct lockout_state *s, int64_t now);
/* After a success, or an admin unlock. */
void lockout_reset(struct lockout_state *s);

#endif
