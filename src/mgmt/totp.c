/*
 * TOTP second factor (RFC 6238 over RFC 4226 HOTP, HMAC-SHA-1 through
 * OpenSSL), base32 secrets (RFC 4648, no padding), otpauth:// enrollment
 * URIs and the failed-attempt lockout. Pure logic: the clock is always a
 * parameter, nothing is logged, and every buffer that held key material is
 * wiped before it goes out of scope.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "mgmt/totp.h"

/* More than ±10 steps (±5 min) would defeat the point of a one-time code. */
#define TOTP_WINDOW_MAX 10
/* Raw key bytes that TOTP_B32_MAX base32 characters can carry. */
#define TOTP_KEY_MAX (TOTP_B32_MAX * 5 / 8)

static const char b32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

int totp_b32_encode(const uint8_t *in, size_t n, char *out, size_t outlen)
{
	size_t need, o = 0;
	uint32_t acc = 0;
	unsigned bits = 0;

	if ((!in && n) || !out || n > (size_t)INT32_MAX / 2)
		return -EINVAL;
	need = (n * 8 + 4) / 5;
	if (need + 1 > outlen)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			out[o++] = b32_alphabet[(acc >> bits) & 0x1f];
		}
	}
	if (bits)
		out[o++] = b32_alphabet[(acc << (5 - bits)) & 0x1f];
	out[o] = '\0';
	return (int)o;
}

static int b32_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a';
	if (c >= '2' && c <= '7')
		return c - '2' + 26;
	return -1;
}

/*
 * Strict: anything but the alphabet (either case) and spaces is refused,
 * '=' included, as are lengths no byte string encodes to (1, 3 or 6
 * characters mod 8) and non-zero padding bits, so that every secret has
 * exactly one spelling.
 */
int totp_b32_decode(const char *in, uint8_t *out, size_t outlen)
{
	size_t o = 0, chars = 0;
	uint32_t acc = 0;
	unsigned bits = 0;
	int rc = -EINVAL;

	if (!in || (!out && outlen))
		return -EINVAL;
	for (const char *p = in; *p; p++) {
		int v;

		if (*p == ' ')
			continue;
		v = b32_value(*p);
		if (v < 0)
			goto out;
		chars++;
		acc = (acc << 5) | (uint32_t)v;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			if (o >= outlen || o >= (size_t)INT32_MAX)
				goto out;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	switch (chars % 8) {
	case 1:
	case 3:
	case 6:
		goto out;
	}
	if (acc & ((1u << bits) - 1))
		goto out;
	rc = (int)o;
out:
	if (rc < 0 && out)
		OPENSSL_cleanse(out, o);
	return rc;
}

int totp_new_secret(char *out, size_t outlen)
{
	uint8_t key[TOTP_SECRET_BYTES];
	size_t got = 0;
	int rc;

	if (!out)
		return -EINVAL;
	while (got < sizeof(key)) {
		ssize_t r = getrandom(key + got, sizeof(key) - got, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto out;
		}
		got += (size_t)r;
	}
	rc = totp_b32_encode(key, sizeof(key), out, outlen);
	if (rc > 0)
		rc = 0;
out:
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

/* RFC 3986 unreserved characters stay, every other byte becomes %XX. */
static int pct_append(char *out, size_t outlen, size_t *o, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
			    c == '_' || c == '~';

		if (*o + (keep ? 1 : 3) >= outlen)
			return -ENOSPC;
		if (keep) {
			out[(*o)++] = (char)c;
		} else {
			out[(*o)++] = '%';
			out[(*o)++] = hex[c >> 4];
			out[(*o)++] = hex[c & 0xf];
		}
	}
	out[*o] = '\0';
	return 0;
}

static int raw_append(char *out, size_t outlen, size_t *o, const char *s)
{
	size_t n = strlen(s);

	if (*o + n >= outlen)
		return -ENOSPC;
	memcpy(out + *o, s, n + 1);
	*o += n;
	return 0;
}

/*
 * Returns 0, -EINVAL (empty issuer or account, or b32 not a valid
 * non-empty secret) or -ENOSPC (out too small; out is then emptied so a
 * truncated secret never leaves).
 */
int totp_uri(const char *issuer, const char *account, const char *b32,
	     char *out, size_t outlen)
{
	uint8_t key[TOTP_KEY_MAX];
	char canon[TOTP_B32_MAX + 1];
	size_t o = 0;
	int rc, n;

	if (!issuer || !*issuer || !account || !*account || !b32 || !out ||
	    !outlen)
		return -EINVAL;
	/* Re-encode so the URI carries the canonical upper-case form. */
	n = totp_b32_decode(b32, key, sizeof(key));
	if (n <= 0) {
		rc = -EINVAL;
		goto out;
	}
	rc = totp_b32_encode(key, (size_t)n, canon, sizeof(canon));
	if (rc < 0)
		goto out;
	out[0] = '\0';
	if ((rc = raw_append(out, outlen, &o, "otpauth://totp/")) ||
	    (rc = pct_append(out, outlen, &o, issuer)) ||
	    (rc = raw_append(out, outlen, &o, ":")) ||
	    (rc = pct_append(out, outlen, &o, account)) ||
	    (rc = raw_append(out, outlen, &o, "?secret=")) ||
	    (rc = raw_append(out, outlen, &o, canon)) ||
	    (rc = raw_append(out, outlen, &o, "&issuer=")) ||
	    (rc = pct_append(out, outlen, &o, issuer)) ||
	    (rc = raw_append(out, outlen, &o,
			     "&algorithm=SHA1&digits=6&period=30")))
		goto out;
	rc = 0;
out:
	if (rc < 0 && out && outlen)
		OPENSSL_cleanse(out, outlen);
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(canon, sizeof(canon));
	return rc;
}

static const uint32_t pow10_tab[] = { 1,       10,	 100,
				      1000,    10000,	 100000,
				      1000000, 10000000, 100000000 };

/* RFC 4226 HOTP of counter c: HMAC-SHA-1, dynamic truncation. */
static int hotp(const uint8_t *key, size_t keylen, uint64_t c, unsigned digits,
		uint32_t *code)
{
	uint8_t msg[8], md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0, off;
	uint32_t bin;
	int rc = -EINVAL;

	for (int i = 7; i >= 0; i--) {
		msg[i] = (uint8_t)c;
		c >>= 8;
	}
	if (!HMAC(EVP_sha1(), key, (int)keylen, msg, sizeof(msg), md, &mdlen) ||
	    mdlen != 20)
		goto out;
	off = md[19] & 0x0f;
	bin = ((uint32_t)(md[off] & 0x7f) << 24) |
	      ((uint32_t)md[off + 1] << 16) | ((uint32_t)md[off + 2] << 8) |
	      md[off + 3];
	*code = bin % pow10_tab[digits];
	rc = 0;
out:
	OPENSSL_cleanse(md, sizeof(md));
	return rc;
}

int totp_code(const uint8_t *key, size_t keylen, int64_t t, unsigned digits,
	      uint32_t *code)
{
	if (!key || !keylen || keylen > INT32_MAX || t < 0 || digits < 6 ||
	    digits > 8 || !code)
		return -EINVAL;
	return hotp(key, keylen, (uint64_t)(t / TOTP_STEP), digits, code);
}

/* All-ones when a == b, without a data-dependent branch. */
static uint64_t ct_eq_mask(uint32_t a, uint32_t b)
{
	uint64_t x = a ^ b;

	return (uint64_t)0 - ((x - 1) >> 63);
}

bool totp_verify(const char *b32, const char *code, int64_t now,
		 unsigned window, int64_t *last_step)
{
	uint8_t key[TOTP_KEY_MAX];
	uint32_t want = 0;
	int64_t step, best = -1;
	uint64_t found = 0;
	int n;
	bool ok = false;

	if (!b32 || !code || !last_step || now < 0 || window > TOTP_WINDOW_MAX)
		return false;
	for (unsigned i = 0; i < TOTP_DIGITS; i++) {
		if (code[i] < '0' || code[i] > '9')
			return false;
		want = want * 10 + (uint32_t)(code[i] - '0');
	}
	if (code[TOTP_DIGITS] != '\0')
		return false;
	n = totp_b32_decode(b32, key, sizeof(key));
	if (n <= 0)
		goto out;
	step = now / TOTP_STEP;
	/* Every step of the window is computed and compared, matched or not,
	 * so the time taken says nothing about which one (if any) matched. */
	for (int64_t s = step - (int64_t)window; s <= step + (int64_t)window;
	     s++) {
		uint32_t c = 0;
		uint64_t m;

		if (s < 0)
			continue; /* depends only on the public clock */
		if (hotp(key, (size_t)n, (uint64_t)s, TOTP_DIGITS, &c))
			goto out;
		/* The replay test may branch: steps and last_step are public. */
		m = ct_eq_mask(c, want) &
		    ((uint64_t)0 - (uint64_t)(s > *last_step));
		/* Steps rise, so the last match is the newest one. */
		best = (int64_t)(((uint64_t)s & m) | ((uint64_t)best & ~m));
		found |= m;
	}
	if (found) {
		*last_step = best;
		ok = true;
	}
out:
	OPENSSL_cleanse(key, sizeof(key));
	return ok;
}

/* --- lockout -------------------------------------------------------------- */

void lockout_policy_default(struct lockout_policy *p)
{
	p->max_failures = 5;
	p->window_s = 900;
	p->lock_s = 900;
}

void lockout_reset(struct lockout_state *s)
{
	s->failures = 0;
	s->window_start = 0;
	s->locked_until = 0;
}

enum lockout_result lockout_check(const struct lockout_policy *p,
				  struct lockout_state *s, int64_t now)
{
	(void)p;
	if (s->locked_until == 0)
		return LOCKOUT_OK;
	if (s->locked_until == INT64_MAX || now < s->locked_until)
		return LOCKOUT_LOCKED;
	/* The lock period is over: a clean slate, not one try left. */
	lockout_reset(s);
	return LOCKOUT_OK;
}

/*
 * The window is anchored at its first failure (a fixed window, not a
 * sliding one): failures further apart than window_s never add up. A
 * clock that went backwards starts a new window rather than stretching
 * the old one. max_failures 0 is read as 1: a lockout cannot be disabled.
 */
enum lockout_result lockout_fail(const struct lockout_policy *p,
				 struct lockout_state *s, int64_t now)
{
	unsigned max = p->max_failures ? p->max_failures : 1;

	if (lockout_check(p, s, now) == LOCKOUT_LOCKED)
		return LOCKOUT_LOCKED; /* does not extend the lock */
	if (s->failures == 0 || now < s->window_start ||
	    now - s->window_start >= (int64_t)p->window_s) {
		s->failures = 0;
		s->window_start = now;
	}
	if (s->failures < UINT32_MAX)
		s->failures++;
	if (s->failures < max)
		return LOCKOUT_OK;
	if (p->lock_s == 0 || now > INT64_MAX - 1 - (int64_t)p->lock_s)
		s->locked_until = INT64_MAX;
	else
		s->locked_until = now + (int64_t)p->lock_s;
	if (s->locked_until == 0) /* now == -lock_s: 0 means unlocked */
		s->locked_until = 1;
	return LOCKOUT_NOW_LOCKED;
}
