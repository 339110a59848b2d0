/*
 * login_cost: what one password verification of the management plane
 * costs at each yescrypt cost (src/mgmt/auth.h: auth_hash, auth_verify,
 * the code the daemon's hashing thread runs), for bench/mgmt.sh.
 *
 *   login_cost ROUNDS COUNT COST...
 *
 * For every round and every COST (interleaved: round 1 all costs, round 2
 * all costs, ...) a fresh child process hashes a password once at COST
 * and verifies it COUNT times; it reports the hash time, the median and
 * p95 of the verifications, its peak RSS growth (getrusage ru_maxrss
 * after - before: the memory one verification touches) and the yescrypt
 * parameters N, r, p decoded from the hash string with their nominal
 * memory 128 * r * N * p bytes. One TSV line per (round, cost):
 *
 *   round cost N r p nominal_kib hash_ms verify_ms_median verify_ms_p95
 *   maxrss_delta_kib
 *
 * Built by bench/mgmt.sh against libconduit.a of a non-sanitizer tree.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mgmt/auth.h"

#define LC_COUNT_MAX 10000

static double lc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long lc_maxrss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static int lc_atoi64(char c)
{
	static const char itoa64[] =
		"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	const char *p = c ? strchr(itoa64, c) : NULL;

	return p ? (int)(p - itoa64) : -1;
}

/* yescrypt's decode64_uint32 (variable-length little-endian base-64). */
static const char *lc_decode_u32(const char *src, uint32_t min, uint32_t *dst)
{
	uint32_t start = 0, end = 47, chars = 1, bits = 0;
	int c = lc_atoi64(*src++);

	if (c < 0)
		return NULL;
	*dst = min;
	while ((uint32_t)c > end) {
		*dst += (end + 1 - start) << bits;
		start = end + 1;
		end = start + (62 - end) / 2;
		chars++;
		bits += 6;
	}
	*dst += ((uint32_t)c - start) << bits;
	while (--chars) {
		c = lc_atoi64(*src++);
		if (c < 0)
			return NULL;
		*dst += (uint32_t)c << bits;
		bits += 6;
	}
	return src;
}

/*
 * "$y$" flavor N_log2 r ["$" ...] salt: N, r, p of a yescrypt hash (p is
 * 1 unless the optional parameters say otherwise; this bench only needs
 * libxcrypt's own settings, which never set p). -EINVAL when malformed.
 */
static int lc_params(const char *hash, uint64_t *n, uint32_t *r, uint32_t *p)
{
	uint32_t flavor, nlog2;
	const char *s;

	if (strncmp(hash, "$y$", 3) != 0)
		return -EINVAL;
	s = lc_decode_u32(hash + 3, 0, &flavor);
	if (s)
		s = lc_decode_u32(s, 1, &nlog2);
	if (s)
		s = lc_decode_u32(s, 1, r);
	if (s == NULL || nlog2 > 40)
		return -EINVAL;
	*n = 1ull << nlog2;
	*p = 1;
	return 0;
}

static int lc_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The child: one hash, count verifications, one TSV line on stdout. */
static int lc_child(int round, unsigned cost, int count)
{
	const char *pw = "Bench-login-cost-7";
	char hash[AUTH_HASH_MAX + 1];
	double t0, hash_ms, *v;
	long rss0, rss1;
	uint64_t n;
	uint32_t r, p;
	int rc;

	v = calloc((size_t)count, sizeof(*v));
	if (v == NULL) {
		fprintf(stderr, "login_cost: out of memory\n");
		return 1;
	}
	rss0 = lc_maxrss_kib();
	t0 = lc_now();
	rc = auth_hash(pw, cost, hash, sizeof(hash));
	hash_ms = (lc_now() - t0) * 1e3;
	if (rc < 0) {
		fprintf(stderr, "login_cost: auth_hash at cost %u: %s\n", cost,
			strerror(-rc));
		free(v);
		return 1;
	}
	for (int i = 0; i < count; i++) {
		t0 = lc_now();
		if (!auth_verify(pw, hash)) {
			fprintf(stderr,
				"login_cost: auth_verify at cost %u refused "
				"the password it was hashed from (%s)\n",
				cost, hash);
			free(v);
			return 1;
		}
		v[i] = (lc_now() - t0) * 1e3;
	}
	rss1 = lc_maxrss_kib();
	if (lc_params(hash, &n, &r, &p) < 0) {
		fprintf(stderr,
			"login_cost: cannot decode the parameters of %s\n",
			hash);
		free(v);
		return 1;
	}
	qsort(v, (size_t)count, sizeof(*v), lc_cmp);
	printf("%d\t%u\t%" PRIu64 "\t%" PRIu32 "\t%" PRIu32 "\t%" PRIu64
	       "\t%.2f\t%.2f\t%.2f\t%ld\n",
	       round, cost, n, r, p, (uint64_t)128 * r * n * p / 1024, hash_ms,
	       v[count / 2], v[(count * 95 + 99) / 100 - 1], rss1 - rss0);
	free(v);
	return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	int rounds, count, status, fails = 0;
	char *end;

	if (argc < 4) {
		fprintf(stderr, "usage: login_cost ROUNDS COUNT COST...\n");
		return 2;
	}
	rounds = (int)strtol(argv[1], &end, 10);
	if (*end || rounds < 1 || rounds > 100) {
		fprintf(stderr, "login_cost: ROUNDS '%s': expected 1..100\n",
			argv[1]);
		return 2;
	}
	count = (int)strtol(argv[2], &end, 10);
	if (*end || count < 1 || count > LC_COUNT_MAX) {
		fprintf(stderr, "login_cost: COUNT '%s': expected 1..%d\n",
			argv[2], LC_COUNT_MAX);
		return 2;
	}
	for (int i = 3; i < argc; i++) {
		long c = strtol(argv[i], &end, 10);

		if (*end || c < 1 || c > 11) {
			fprintf(stderr,
				"login_cost: COST '%s': expected 1..11 "
				"(yescrypt's range in libxcrypt)\n",
				argv[i]);
			return 2;
		}
	}
	printf("round\tcost\tN\tr\tp\tnominal_kib\thash_ms\tverify_ms_median"
	       "\tverify_ms_p95\tmaxrss_delta_kib\n");
	fflush(stdout);
	for (int round = 1; round <= rounds; round++) {
		for (int i = 3; i < argc; i++) {
			unsigned cost = (unsigned)strtoul(argv[i], NULL, 10);
			pid_t pid = fork();

			if (pid < 0) {
				perror("login_cost: fork");
				return 1;
			}
			if (pid == 0)
				_exit(lc_child(round, cost, count));
			if (waitpid(pid, &status, 0) < 0 ||
			    !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
				fprintf(stderr,
					"login_cost: cost %u round %d failed\n",
					cost, round);
				fails++;
			}
		}
	}
	return fails ? 1 : 0;
}
