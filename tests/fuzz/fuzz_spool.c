/*
 * Fuzz target for the spool segment reader (src/audit/spool.c): the input
 * is a segment image as spool_open and `audit verify --spool` read it. It
 * is scanned as it is and once more behind a valid header (so that the
 * record parser is reached by inputs that do not start with the magic).
 * Every reported record must lie inside the image, the offsets must be
 * in bounds and ordered, and two scans must agree.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
	const uint8_t *lo, *hi;
	const uint8_t *next; /* records are contiguous: where the next starts */
	uint64_t last_seq;
	unsigned n;
	uint32_t sum;
};

static int check(uint64_t seq, const uint8_t chain[32], const void *rec,
		 size_t len, void *arg)
{
	struct ctx *c = arg;
	const uint8_t *p = rec;

	if (chain < c->lo || p < c->lo || len == 0 || len > SPOOL_RECORD_MAX ||
	    len > (size_t)(c->hi - p))
		abort();
	if (p != chain + 36 || chain != c->next + 12)
		abort();
	if (c->n > 0 && seq <= c->last_seq)
		abort();
	c->n++;
	/* touch every byte so that ASan sees an overread */
	for (size_t i = 0; i < len; i++)
		c->sum = c->sum * 31 + p[i];
	for (size_t i = 0; i < 32; i++)
		c->sum = c->sum * 31 + chain[i];
	/* now and then stop: the scan then ends where this record starts */
	if ((seq & 0xffff) == 0xbeef)
		return 1;
	c->next = p + len;
	c->last_seq = seq;
	return 0;
}

static void scan(const uint8_t *img, size_t len)
{
	struct ctx a = { img, img + len, img + SPOOL_HEADER_LEN, 0, 0, 0 };
	struct ctx b = a;
	const char *why = NULL, *why2 = NULL;
	long r1, r2;

	r1 = spool_segment_scan(img, len, check, &a, &why);
	if (r1 != -EINVAL && (r1 < (long)SPOOL_HEADER_LEN || (size_t)r1 > len))
		abort();
	if (r1 >= 0 && a.next != img + r1)
		abort();
	if (r1 >= 0 && (size_t)r1 < len && why == NULL)
		abort();
	r2 = spool_segment_scan(img, len, check, &b, &why2);
	if (r1 != r2 || a.n != b.n || a.sum != b.sum || why != why2)
		abort();
	/* without a callback the scan only stops where the data is bad */
	if (spool_segment_scan(img, len, NULL, NULL, NULL) < r1)
		abort();
}

/* CR 3.5 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t hdr[SPOOL_HEADER_LEN] = { 'C', 'D', 'S', 'P', 'O',
						       'O', 'L', '1', 1 };
	uint8_t *buf;

	if (size > (1u << 20))
		return 0;
	/* an exact-size copy: reads past the end are caught */
	buf = malloc(size ? size : 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	scan(buf, size);
	free(buf);

	buf = malloc(SPOOL_HEADER_LEN + size);
	if (buf == NULL)
		return 0;
	memcpy(buf, hdr, SPOOL_HEADER_LEN);
	memcpy(buf + SPOOL_HEADER_LEN, data, size);
	scan(buf, SPOOL_HEADER_LEN + size);
	free(buf);
	return 0;
}
