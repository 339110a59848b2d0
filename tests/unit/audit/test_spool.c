/*
 * audit/spool: the segment format against an independent CRC32C and
 * hand-built images, append/read/ack, rotation and deletion, capacity with
 * both full policies (exact loss counts and ranges), reopen, readers,
 * crash consistency (the last record cut at every byte offset), a
 * corrupt older segment quarantined, disk full in a tiny tmpfs, and a
 * writer and a reader on two threads.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/spool.h"

/* ---- helpers ----------------------------------------------------------- */

/* bitwise CRC32C, independent of the table in spool.c */
static uint32_t ref_crc32c(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;
	int k;

	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ ((crc & 1) ? 0x82f63b78u : 0);
	}
	return ~crc;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void chain_of(uint64_t seq, uint8_t c[32])
{
	for (int i = 0; i < 32; i++)
		c[i] = (uint8_t)(seq * 31 + (uint64_t)i * 7);
}

/* payload of record seq: plen bytes (buf holds plen + 1), starts with the
 * seq in text */
static size_t payload_of(uint64_t seq, size_t plen, char *buf)
{
	int n = snprintf(buf, plen + 1, "rec %" PRIu64 " ", seq);

	for (size_t i = (size_t)n; i < plen; i++)
		buf[i] = (char)('a' + (seq + i) % 26);
	return plen;
}

/* appends one record to a hand-built image */
static size_t img_rec(uint8_t *img, size_t off, uint64_t seq, const void *p,
		      size_t len)
{
	uint8_t *r = img + off;
	uint8_t c[32];

	chain_of(seq, c);
	put32(r, (uint32_t)len);
	put64(r + 4, seq);
	memcpy(r + 12, c, 32);
	put32(r + 44, ref_crc32c(ref_crc32c(0, r, 44), p, len));
	memcpy(r + 48, p, len);
	return off + 48 + len;
}

static size_t img_header(uint8_t *img)
{
	memcpy(img, "CDSPOOL1", 8);
	put32(img + 8, 1);
	put32(img + 12, 0);
	return 16;
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_rf(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *mktmp(void)
{
	char *d = strdup("/tmp/test-spool-XXXXXX");

	cr_assert_not_null(d);
	cr_assert_not_null(mkdtemp(d));
	return d;
}

static struct spool_opts opts(const char *dir, uint64_t cap, uint64_t seg,
			      enum spool_full full, unsigned fsync_ms)
{
	struct spool_opts o = {
		.dir = dir,
		.capacity = cap,
		.segment_size = seg,
		.full = full,
		.fsync_ms = fsync_ms,
	};
	return o;
}

static struct spool *open_ok(const struct spool_opts *o,
			     struct spool_open_report *rep)
{
	struct spool *sp = NULL;
	char err[256] = "";
	int rc = spool_open(o, &sp, rep, err, sizeof(err));

	cr_assert_eq(rc, 0, "spool_open: %d %s", rc, err);
	cr_assert_not_null(sp);
	return sp;
}

static void append_ok(struct spool *sp, uint64_t seq, size_t plen)
{
	char p[SPOOL_RECORD_MAX];
	uint8_t c[32];
	int rc;

	chain_of(seq, c);
	payload_of(seq, plen, p);
	rc = spool_append(sp, seq, c, p, plen);
	cr_assert_eq(rc, 0, "append seq %" PRIu64 ": %d", seq, rc);
}

/* reads the next record and checks it is seq with the expected payload */
static void expect_next(struct spool_reader *r, uint64_t seq, size_t plen)
{
	char buf[SPOOL_RECORD_MAX], want[SPOOL_RECORD_MAX];
	size_t len = 0;
	uint64_t got = 0;
	int rc = spool_reader_next(r, buf, sizeof(buf), &len, &got);

	cr_assert_eq(rc, 1, "next: %d, expected seq %" PRIu64, rc, seq);
	cr_assert_eq(got, seq, "got seq %" PRIu64 ", expected %" PRIu64, got,
		     seq);
	payload_of(seq, plen, want);
	cr_assert_eq(len, plen);
	cr_assert_arr_eq(buf, want, plen);
}

static void expect_end(struct spool_reader *r)
{
	char buf[SPOOL_RECORD_MAX];
	size_t len;
	uint64_t seq = 0;

	cr_assert_eq(spool_reader_next(r, buf, sizeof(buf), &len, &seq), 0,
		     "unexpected record seq %" PRIu64, seq);
}

static unsigned count_files(const char *dir, const char *suffix)
{
	struct dirent *de;
	unsigned n = 0;
	DIR *d = opendir(dir);

	cr_assert_not_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name), s = strlen(suffix);

		if (l > s && strcmp(de->d_name + l - s, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static uint8_t *read_file(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *b;
	int fd = open(path, O_RDONLY);

	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(fstat(fd, &st), 0);
	b = malloc((size_t)st.st_size + 1);
	cr_assert_not_null(b);
	cr_assert_eq(read(fd, b, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

static void write_file(const char *path, const void *b, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640);

	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, b, len), (ssize_t)len);
	close(fd);
}

static void seg_path(char *buf, size_t len, const char *dir, uint64_t first)
{
	snprintf(buf, len, "%s/seg-%016" PRIx64 ".cds", dir, first);
}

/* ---- format ------------------------------------------------------------ */

Test(spool, crc32c_reference)
{
	/* the check value of CRC-32C (RFC 3720, B.4) */
	cr_assert_eq(ref_crc32c(0, "123456789", 9), 0xe3069283u);
}

struct seen {
	uint64_t seq[8];
	size_t len[8];
	unsigned n;
};

static int collect(uint64_t seq, const uint8_t chain[32], const void *rec,
		   size_t len, void *arg)
{
	struct seen *s = arg;
	uint8_t c[32];

	chain_of(seq, c);
	cr_assert_arr_eq(chain, c, 32);
	cr_assert_eq(memcmp(rec, "rec ", 4), 0);
	s->seq[s->n] = seq;
	s->len[s->n++] = len;
	return 0;
}

Test(spool, scan_hand_built_image)
{
	uint8_t img[1024];
	char p[64];
	struct seen s = { { 0 }, { 0 }, 0 };
	const char *why = "x";
	size_t off = img_header(img);
	long end;

	off = img_rec(img, off, 5, p, payload_of(5, 20, p));
	off = img_rec(img, off, 9, p, payload_of(9, 33, p));
	end = spool_segment_scan(img, off, collect, &s, &why);
	cr_assert_eq(end, (long)off);
	cr_assert_null(why);
	cr_assert_eq(s.n, 2);
	cr_assert_eq(s.seq[0], 5);
	cr_assert_eq(s.len[0], 20);
	cr_assert_eq(s.seq[1], 9);
	cr_assert_eq(s.len[1], 33);

	/* a wrong crc stops the scan at that record */
	s.n = 0;
	img[16 + 48 + 20 + 48 + 3] ^= 1;
	end = spool_segment_scan(img, off, collect, &s, &why);
	cr_assert_eq(end, 16 + 48 + 20);
	cr_assert_str_eq(why, "bad crc");
	cr_assert_eq(s.n, 1);

	/* a bad header is -EINVAL */
	img[0] = 'X';
	cr_assert_eq(spool_segment_scan(img, off, NULL, NULL, &why), -EINVAL);
	cr_assert_eq(spool_segment_scan(img, 10, NULL, NULL, NULL), -EINVAL);
}

Test(spool, file_matches_documented_format)
{
	struct spool_opts o;
	struct spool *sp;
	char path[256], p[128];
	uint8_t want[512];
	uint8_t *got;
	size_t len, off;
	char *dir = mktmp();

	o = opts(dir, 1 << 20, 64 << 10, SPOOL_FULL_DROP_NEW, 0);
	sp = open_ok(&o, NULL);
	append_ok(sp, 1, 10);
	append_ok(sp, 2, 77);
	spool_close(sp);
	off = img_header(want);
	off = img_rec(want, off, 1, p, payload_of(1, 10, p));
	off = img_rec(want, off, 2, p, payload_of(2, 77, p));
	seg_path(path, sizeof(path), dir, 1);
	got = read_file(path, &len);
	cr_assert_eq(len, off);
	cr_assert_arr_eq(got, want, off);
	free(got);
	rm_rf(dir);
	free(dir);
}

/* ---- basic operation --------------------------------------------------- */

/* CR 2.8 */
Test(spool, append_read_ack_round_trip)
{
	struct spool_opts o;
	struct spool_reader *r;
	struct spool_stats st;
	struct spool *sp;
	uint8_t c[32], want[32];
	uint64_t seq;
	char *dir = mktmp();

	o = opts(dir, 1 << 20, 64 << 10, SPOOL_FULL_DROP_NEW, 0);
	sp = open_ok(&o, NULL);
	cr_assert_not(spool_last(sp, &seq, c));
	cr_assert_eq(seq, 0);
	cr_assert_eq(spool_reader_open(sp, "siem", &r), 0);
	expect_end(r);
	for (uint64_t i = 1; i <= 10; i++)
		append_ok(sp, i, 100 + i);
	cr_assert(spool_last(sp, &seq, c));
	cr_assert_eq(seq, 10);
	chain_of(10, want);
	cr_assert_arr_eq(c, want, 32);
	cr_assert_eq(spool_reader_backlog(r), 10);
	for (uint64_t i = 1; i <= 5; i++)
		expect_next(r, i, 100 + i);
	cr_assert_eq(spool_reader_ack(r, 3), 0);
	cr_assert_eq(spool_reader_acked(r), 3);
	cr_assert_eq(spool_reader_backlog(r), 7);
	/* a reconnect resends from the delivered position */
	spool_reader_rewind(r);
	for (uint64_t i = 4; i <= 10; i++)
		expect_next(r, i, 100 + i);
	expect_end(r);
	cr_assert_eq(spool_reader_ack(r, 10), 0);
	cr_assert_eq(spool_reader_backlog(r), 0);
	/* acking what does not exist is refused */
	cr_assert_eq(spool_reader_ack(r, 11), -EINVAL);
	spool_stats(sp, &st);
	cr_assert_eq(st.appends, 10);
	cr_assert_eq(st.syncs, 10); /* fsync_ms 0: one per record */
	cr_assert_eq(st.last_seq, 10);
	spool_reader_close(r);
	spool_close(sp);
	rm_rf(dir);
	free(dir);
}

Test(spool, bad_arguments)
{
	struct spool_opts o;
	struct spool *sp = NULL;
	struct spool_reader *r;
	char err[256];
	uint8_t c[32] = { 0 };
	char big[SPOOL_RECORD_MAX + 1];
	char *dir = mktmp();

	o = opts(dir, 4096, 4096, SPOOL_FULL_DROP_NEW, 0);
	cr_assert_eq(spool_open(&o, &sp, NULL, err, sizeof(err)), -EINVAL);
	cr_assert_null(sp);
	cr_assert_not_null(strstr(err, "capacity 4096"), "%s", err);
	cr_assert_not_null(strstr(err, dir), "%s", err);
	o = opts(dir, 1 << 20, 100, SPOOL_FULL_DROP_NEW, 0);
	cr_assert_eq(spool_open(&o, &sp, NULL, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "segment size 100"), "%s", err);

	o = opts(dir, 1 << 20, 64 << 10, SPOOL_FULL_DROP_NEW, 0);
	sp = open_ok(&o, NULL);
	memset(big, 'x', sizeof(big));
	cr_assert_eq(spool_append(sp, 1, c, big, 0), -EINVAL);
	cr_assert_eq(spool_append(sp, 1, c, big, sizeof(big)), -EINVAL);
	cr_assert_eq(spool_append(sp, 0, c, big, 10), -EINVAL);
	append_ok(sp, 5, 10);
	cr_assert_eq(spool_append(sp, 5, c, big, 10), -EINVAL);
	cr_assert_eq(spool_append(sp, 4, c, big, 10), -EINVAL);
	cr_assert_eq(spool_reader_open(sp, "bad/name", &r), -EINVAL);
	cr_assert_eq(spool_reader_open(sp, "", &r), -EINVAL);
	cr_assert_eq(spool_reader_open(sp, "a", &r), 0);
	{
		struct spool_reader *r2;

		cr_assert_eq(spool_reader_open(sp, "a", &r2), -EBUSY);
	}
	spool_reader_close(r);
	spool_close(sp);
	rm_rf(dir);
	free(dir);
}

/*
 * Sizes used below: 452-byte payloads are 500-byte records; a 4096-byte
 * segment holds 16 + 8 * 500 = 4016 bytes, the 9th record rotates.
 */
#define PL 452
#define SEG 4096
#define PER_SEG 8

Test(spool, rotation_and_deletion_of_acked_segments)
{
	struct spool_opts o;
	struct spool_reader *r;
	struct spool_stats st;
	struct spool *sp;
	char *dir = mktmp();

	o = opts(dir, 1 << 20, SEG, SPOOL_FULL_DROP_NEW, 100);
	sp = open_ok(&o, NULL);
	cr_assert_eq(spool_reader_open(sp, "c1", &r), 0);
	for (uint64_t i = 1; i <= 5 * PER_SEG; i++)
		append_ok(sp, i, PL);
	spool_stats(sp, &st);
	cr_assert_eq(st.segments, 5);
	cr_assert_eq(st.bytes, 5 * (16 + PER_SEG * 500));
	cr_assert_eq(count_files(dir, ".cds"), 5);
	cr_assert_eq(spool_sync(sp), 0);

	for (uint64_t i = 1; i <= 5 * PER_SEG; i++)
		expect_next(r, i, PL);
	expect_end(r);
	/* acking into the third segment deletes the first two */
	cr_assert_eq(spool_reader_ack(r, 2 * PER_SEG + 1), 0);
	cr_assert_eq(count_files(dir, ".cds"), 3);
	spool_stats(sp, &st);
	cr_assert_eq(st.first_seq, 2 * PER_SEG + 1);
	/* everything acked: the newest segment stays */
	cr_assert_eq(spool_reader_ack(r, 5 * PER_SEG), 0);
	cr_assert_eq(count_files(dir, ".cds"), 1);
	spool_stats(sp, &st);
	cr_assert_eq(st.segments, 1);
	cr_assert_eq(st.records, PER_SEG);
	cr_assert_eq(st.overwritten, 0);
	append_ok(sp, 5 * PER_SEG + 1, PL);
	expect_next(r, 5 * PER_SEG + 1, PL);
	spool_reader_close(r);
	spool_close(sp);
	rm_rf(dir);
	free(dir);
}

/* capacity: 4 full segments (16064 bytes) fit 16512, a fifth does not */
#define CAP 16512

/* CR 2.9 */
Test(spool, fill_percentage)
{
	struct spool_opts o;
	struct spool_stats st;
	struct spool *sp;
	char *dir = mktmp();

	o = opts(dir, CAP, SEG, SPOOL_FULL_DROP_NEW, 100);
	sp = open_ok(&o, NULL);
	spool_stats(sp, &st);
	cr_assert_eq(st.fill_pct, 0);
	cr_assert_eq(st.capacity, CAP);
	for (uint64_t i = 1; i <= 3 * PER_SEG; i++)
		append_ok(sp, i, PL);
	spool_stats(sp, &st);
	cr_assert_eq(st.bytes, 3 * 4016);
	cr_assert_eq(st.fill_pct, 3 * 4016 * 100 / CAP); /* 72 */
	append_ok(sp, 3 * PER_SEG + 1, PL);
	spool_stats(sp, &st);
	cr_assert_eq(st.fill_pct, (3 * 4016 + 516) * 100 / CAP); /* 76 */
	cr_assert_eq(st.records, 3 * PER_SEG + 1);
	spool_close(sp);
	rm_rf(dir);
	free(dir);
}

/* CR 2.10 */
Test(spool, full_overwrite_oldest_counts_the_loss)
{
	struct spool_opts o;
	struct spool_reader *r;
	struct spool_stats st;
	struct spool *sp;
	uint64_t n, a, b;
	char *dir = mktmp();

	o = opts(dir, CAP, SEG, SPOOL_FULL_OVERWRITE_OLDEST, 100);
	sp = open_ok(&o, NULL);
	cr_assert_eq(spool_reader_open(sp, "slow", &r), 0);
	for (uint64_t i = 1; i <= 4 * PER_SEG; i++)
		append_ok(sp, i, PL);
	cr_assert_not(spool_take_loss(sp, &n, &a, &b));
	expect_next(r, 1, PL);
	expect_next(r, 2, PL);
	cr_assert_eq(spool_reader_ack(r, 4), 0); /* delivered 1..4 */
	/* seq 33 needs a fifth segment: the first (1..8) goes */
	append_ok(sp, 4 * PER_SEG + 1, PL);
	cr_assert(spool_take_loss(sp, &n, &a, &b));
	cr_assert_eq(n, 4);
	cr_assert_eq(a, 5);
	cr_assert_eq(b, 8);
	cr_assert_not(spool_take_loss(sp, &n, &a, &b));
	for (uint64_t i = 4 * PER_SEG + 2; i <= 5 * PER_SEG + 1; i++)
		append_ok(sp, i, PL);
	/* seq 41 rotated again: 9..16 lost entirely */
	cr_assert(spool_take_loss(sp, &n, &a, &b));
	cr_assert_eq(n, PER_SEG);
	cr_assert_eq(a, 9);
	cr_assert_eq(b, 16);
	spool_stats(sp, &st);
	cr_assert_eq(st.overwritten, 4 + PER_SEG);
	cr_assert_eq(st.segments, 4);
	cr_assert_eq(st.first_seq, 2 * PER_SEG + 1);
	cr_assert_eq(st.last_seq, 5 * PER_SEG + 1);
	cr_assert_eq(st.records, 3 * PER_SEG + 1);
	cr_assert_eq(count_files(dir, ".cds"), 4);
	cr_assert_leq(st.bytes, CAP);
	/* the reader was moved past what is gone */
	cr_assert_eq(spool_reader_acked(r), 2 * PER_SEG);
	cr_assert_eq(spool_reader_backlog(r), 3 * PER_SEG + 1);
	expect_next(r, 2 * PER_SEG + 1, PL);
	spool_reader_close(r);
	spool_close(sp);
	rm_rf(dir);
	free(dir);
}

/* CR 2.10 */
Test(spool, full_drop_new_refuses_and_counts)
{
	struct spool_opts o;
	struct spool_reader *r;
	struct spool_stats st;
	struct spool *sp;
	char p[PL + 1];
	uint8_t c[32];
	uint64_t n;
	char *dir = mktmp();

	o = opts(dir, CAP, SEG, SPOOL_FULL_DROP_NEW, 100);
	sp = open_ok(&o, NULL);
	cr_assert_eq(spool_reader_open(sp, "c", &r), 0);
	for (uint64_t i = 1; i <= 4 * PER_SEG; i++)
		append_ok(sp, i, PL);
	for (uint64_t i = 0; i < 7; i++) {
		chain_of(4 * PER_SEG + 1, c);
		payload_of(4 * PER_SEG + 1, PL, p);
		cr_assert_eq(spool_append(sp, 4 * PER_SEG + 1, c, p, PL),
			     -ENOBUFS);
	}
	spool_stats(sp, &st);
	cr_assert_eq(st.dropped_new, 7);
	cr_assert_eq(st.overwritten, 0);
	cr_assert_eq(st.records, 4 * PER_SEG);
	cr_assert_eq(st.last_seq, 4 * PER_SEG);
	cr_assert_not(spool_take_loss(sp, &n, NULL, NULL));
	/* nothing of the old records was touched */
	for (uint64_t i = 1; i <= 4 * PER_SEG; i++)
		expect_next(r, i, PL);
	/* delivery frees a segment: appending works again */
	cr_assert_eq(spool_reader_ack(r, PER_SEG), 0);
	append_ok(sp, 4 * PER_SEG + 1, PL);
	expect_next(r, 4 * PER_SEG + 1, PL);
	spool_reader_close(r);
	spool_close(sp);
	rm_rf(dir);
	free(dir);
}

Test(spool, reopen_keeps_seq_chain_and_readers)
{
	struct spool_open_report rep;
	struct spool_opts o;
	struct spool_reader *a, *b;
	struct spool *sp;
	uint8_t c[32], want[32];
	uint64_t seq;
	char p[64];
	char *dir = mktmp();

	o = opts(dir, 1 << 20, SEG, SPOOL_FULL_OVERWRITE_OLDEST, 100);
	sp = open_ok(&o, NULL);
	cr_assert_eq(spool_reader_open(sp, "a", &a), 0);
	cr_assert_eq(spool_reader_open(sp, "b", &b), 0);
	for (uint64_t i = 1; i <= 20; i++)
		append_ok(sp, i, PL);
	for (uint64_t i = 1; i <= 13; i++)
		expect_next(b, i, PL);
	cr_assert_eq(spool_reader_ack(a, 7), 0);
	cr_assert_eq(spool_reader_ack(b, 13), 0);
	spool_reader_close(a);
	spool_reader_close(b);
	spool_close(sp);

	sp = open_ok(&o, &rep);
	cr_assert_eq(rep.segments, 3);
	cr_assert_eq(rep.records, 20);
	cr_assert_eq(rep.truncated_bytes, 0);
	cr_assert_eq(rep.quarantined, 0);
	cr_assert(spool_last(sp, &seq, c));
	cr_assert_eq(seq, 20);
	chain_of(20, want);
	cr_assert_arr_eq(c, want, 32);
	cr_assert_eq(spool_reader_open(sp, "b", &b), 0);
	cr_assert_eq(spool_reader_open(sp, "a", &a), 0);
	cr_assert_eq(spool_reader_acked(a), 7);
	cr_assert_eq(spool_reader_acked(b), 13);
	cr_assert_eq(spool_reader_backlog(a), 13);
	expect_next(a, 8, PL);
	expect_next(b, 14, PL);
	chain_of(20, c);
	cr_assert_eq(spool_append(sp, 20, c, p, 10), -EINVAL);
	append_ok(sp, 21, PL);
	for (uint64_t i = 15; i <= 21; i++)
		expect_next(b, i, PL);
	expect_end(b);
	spool_reader_close(a);
	spool_reader_close(b);
	spool_close(sp);
	rm_rf(dir);
	free(dir);
}

Test(spool, two_readers_and_a_new_one)
{
	struct spool_opts o;
	struct spool_reader *a, *b, *n;
	struct spool *sp;
	char *dir = mktmp();

	o = opts(dir, 1 << 20, SEG, SPOOL_FULL_DROP_NEW, 100);
	sp = open_ok(&o, NULL);
	cr_assert_eq(spool_reader_open(sp, "fast", &a), 0);
	cr_assert_eq(spool_reader_open(sp, "slow", &b), 0);
	for (uint64_t i = 1; i <= 4 * PER_SEG; i++)
		append_ok(sp, i, PL);
	for (uint64_t i = 1; i <= 4 * PER_SEG; i++)
		expect_next(a, i, PL);
	for (uint64_t i = 1; i <= PER_SEG + 3; i++)
		expect_next(b, i, PL);
	cr_assert_eq(spool_reader_ack(a, 4 * PER_SEG), 0);
	/* the slow reader still needs all four */
	cr_assert_eq(count_files(dir, ".cds"), 4);
	cr_assert_eq(spool_reader_ack(b, PER_SEG + 3), 0);
	cr_assert_eq(count_files(dir, ".cds"), 3);
	cr_assert_eq(spool_reader_backlog(a), 0);
	cr_assert_eq(spool_reader_backlog(b), 3 * PER_SEG - 3);
	expect_next(b, PER_SEG + 4, PL);

	/* a collector that did not exist before starts at the oldest */
	cr_assert_eq(spool_reader_open(sp, "new", &n), 0);
	cr_assert_eq(spool_reader_backlog(n), 3 * PER_SEG);
	expect_next(n, PER_SEG + 1, PL);
	spool_reader_close(a);
	spool_reader_close(b);
	spool_reader_close(n);
	spool_close(sp);
	rm_rf(dir);
	free(dir);
}

/* ---- crash consistency -------------------------------------------------- */

/*
 * N records over two segments; for every byte offset inside the last
 * record a copy of the spool with the newest segment cut there must open
 * with exactly the N-1 earlier records, continue from seq N-1 and accept
 * appends again.
 */
#define CRASH_N 12 /* 8 in the first segment, 4 in the second */
#define CRASH_PL 60

/* CR 2.10 */
Test(spool, crash_cut_last_record_at_every_offset)
{
	struct spool_open_report rep;
	struct spool_opts o;
	struct spool_reader *r;
	struct spool *sp;
	char p1[256], p2[256];
	uint8_t *seg1, *seg2;
	size_t len1, len2, last_off, cut;
	uint8_t c[32], want[32];
	uint64_t seq;
	char *src = mktmp(), *dst = mktmp();

	o = opts(src, 1 << 20, SEG, SPOOL_FULL_DROP_NEW, 100);
	sp = open_ok(&o, NULL);
	for (uint64_t i = 1; i <= CRASH_N; i++)
		append_ok(sp, i, i <= PER_SEG ? PL : CRASH_PL + i);
	spool_close(sp);
	seg_path(p1, sizeof(p1), src, 1);
	seg_path(p2, sizeof(p2), src, PER_SEG + 1);
	seg1 = read_file(p1, &len1);
	seg2 = read_file(p2, &len2);
	last_off = len2 - 48 - (CRASH_PL + CRASH_N);
	cr_assert_eq(len2, 16 + (48 * 4) + 4 * CRASH_PL + 9 + 10 + 11 + 12);

	o.dir = dst;
	for (cut = last_off; cut < len2; cut++) {
		rm_rf(dst);
		cr_assert_eq(mkdir(dst, 0700), 0);
		seg_path(p1, sizeof(p1), dst, 1);
		seg_path(p2, sizeof(p2), dst, PER_SEG + 1);
		write_file(p1, seg1, len1);
		write_file(p2, seg2, cut);

		sp = open_ok(&o, &rep);
		cr_assert_eq(rep.truncated_bytes, cut - last_off, "cut %zu",
			     cut);
		cr_assert_eq(rep.records, CRASH_N - 1, "cut %zu", cut);
		cr_assert_eq(rep.quarantined, 0, "cut %zu", cut);
		cr_assert(spool_last(sp, &seq, c));
		cr_assert_eq(seq, CRASH_N - 1, "cut %zu", cut);
		chain_of(CRASH_N - 1, want);
		cr_assert_arr_eq(c, want, 32);
		cr_assert_eq(spool_reader_open(sp, "r", &r), 0);
		for (uint64_t i = 1; i < CRASH_N; i++)
			expect_next(r, i, i <= PER_SEG ? PL : CRASH_PL + i);
		expect_end(r);
		append_ok(sp, CRASH_N, CRASH_PL + CRASH_N);
		expect_next(r, CRASH_N, CRASH_PL + CRASH_N);
		spool_reader_close(r);
		spool_close(sp);

		/* the repaired file is whole again */
		sp = open_ok(&o, &rep);
		cr_assert_eq(rep.truncated_bytes, 0);
		cr_assert_eq(rep.records, CRASH_N);
		spool_close(sp);
	}
	free(seg1);
	free(seg2);
	rm_rf(src);
	rm_rf(dst);
	free(src);
	free(dst);
}

/* a crash between creating a segment and writing its header */
Test(spool, crash_empty_newest_segment)
{
	struct spool_open_report rep;
	struct spool_opts o;
	struct spool *sp;
	char path[256];
	uint64_t seq;
	char *dir = mktmp();

	o = opts(dir, 1 << 20, SEG, SPOOL_FULL_DROP_NEW, 100);
	sp = open_ok(&o, NULL);
	for (uint64_t i = 1; i <= 3; i++)
		append_ok(sp, i, PL);
	spool_close(sp);
	seg_path(path, sizeof(path), dir, 4);
	write_file(path, "CDSPO", 5);
	sp = open_ok(&o, &rep);
	cr_assert_eq(rep.truncated_bytes, 5);
	cr_assert_eq(rep.quarantined, 0);
	cr_assert_eq(rep.segments, 1);
	cr_assert(spool_last(sp, &seq, NULL));
	cr_assert_eq(seq, 3);
	cr_assert_eq(access(path, F_OK), -1);
	append_ok(sp, 4, PL);
	spool_close(sp);
	rm_rf(dir);
	free(dir);
}

/* CR 3.9 */
Test(spool, corrupt_older_segment_is_quarantined)
{
	struct spool_open_report rep;
	struct spool_opts o;
	struct spool_reader *r;
	struct spool_stats st;
	struct spool *sp;
	char path[256], q[300], want[128];
	uint8_t *img;
	size_t len, bad_off;
	char *dir = mktmp();

	o = opts(dir, 1 << 20, SEG, SPOOL_FULL_DROP_NEW, 100);
	sp = open_ok(&o, NULL);
	for (uint64_t i = 1; i <= 4 * PER_SEG; i++)
		append_ok(sp, i, PL);
	spool_close(sp);

	/* one byte in the payload of the fourth record of segment 2 */
	seg_path(path, sizeof(path), dir, PER_SEG + 1);
	img = read_file(path, &len);
	bad_off = 16 + 3 * 500;
	img[bad_off + 48 + 100] ^= 0x20;
	write_file(path, img, len);
	free(img);

	sp = open_ok(&o, &rep);
	cr_assert_eq(rep.quarantined, 1);
	cr_assert_eq(rep.segments, 3);
	cr_assert_eq(rep.records, 3 * PER_SEG);
	cr_assert_eq(rep.truncated_bytes, 0);
	cr_assert_str_eq(rep.quarantine_first, "seg-0000000000000009.cds");
	snprintf(want, sizeof(want), "bad crc at offset %zu", bad_off);
	cr_assert_str_eq(rep.quarantine_reason, want);
	cr_assert_eq(rep.quarantined_records, PER_SEG);
	snprintf(q, sizeof(q), "%s.corrupt", path);
	cr_assert_eq(access(q, F_OK), 0);
	cr_assert_eq(access(path, F_OK), -1);

	spool_stats(sp, &st);
	cr_assert_eq(st.records, 3 * PER_SEG);
	cr_assert_eq(spool_reader_open(sp, "r", &r), 0);
	for (uint64_t i = 1; i <= PER_SEG; i++)
		expect_next(r, i, PL);
	for (uint64_t i = 2 * PER_SEG + 1; i <= 4 * PER_SEG; i++)
		expect_next(r, i, PL);
	expect_end(r);
	spool_reader_close(r);
	spool_close(sp);

	/* reported once: the next open finds a clean spool */
	sp = open_ok(&o, &rep);
	cr_assert_eq(rep.quarantined, 0);
	spool_close(sp);
	rm_rf(dir);
	free(dir);
}

/* CR 3.9 */
Test(spool, bad_header_of_older_segment_is_quarantined)
{
	struct spool_open_report rep;
	struct spool_opts o;
	struct spool_reader *r;
	struct spool *sp;
	char path[256];
	uint8_t *img;
	size_t len;
	char *dir = mktmp();

	o = opts(dir, 1 << 20, SEG, SPOOL_FULL_DROP_NEW, 100);
	sp = open_ok(&o, NULL);
	for (uint64_t i = 1; i <= 2 * PER_SEG + 2; i++)
		append_ok(sp, i, PL);
	spool_close(sp);
	seg_path(path, sizeof(path), dir, 1);
	img = read_file(path, &len);
	img[8] = 2; /* version 2 */
	write_file(path, img, len);
	free(img);

	sp = open_ok(&o, &rep);
	cr_assert_eq(rep.quarantined, 1);
	cr_assert_str_eq(rep.quarantine_first, "seg-0000000000000001.cds");
	cr_assert_str_eq(rep.quarantine_reason, "bad header at offset 0");
	cr_assert_eq(rep.records, PER_SEG + 2);
	cr_assert_eq(spool_reader_open(sp, "r", &r), 0);
	expect_next(r, PER_SEG + 1, PL);
	spool_reader_close(r);
	spool_close(sp);
	rm_rf(dir);
	free(dir);
}

/* ---- disk full ----------------------------------------------------------- */

/*
 * Fills a 64 KiB tmpfs until -ENOSPC: with seg_size 40 KiB the disk fills
 * in the middle of the second segment, with 16 KiB when the fifth one is
 * created.
 */
static char enospc_mnt[64];

/* also after a failed assertion: no tmpfs stays mounted */
static void enospc_fini(void)
{
	if (enospc_mnt[0] != '\0') {
		umount2(enospc_mnt, MNT_DETACH); /* fds may be open */
		rm_rf(enospc_mnt);
	}
}

static void enospc_scenario(uint64_t seg_size)
{
	struct spool_open_report rep;
	struct spool_opts o;
	struct spool_reader *r;
	struct spool_stats st, st2;
	struct spool *sp;
	char p[1000], path[512];
	uint8_t c[32];
	uint64_t seq = 0, ok;
	struct dirent *de;
	DIR *d;
	int rc = 0;
	char *mnt = mktmp();

	if (geteuid() != 0 ||
	    mount("tmpfs", mnt, "tmpfs", 0, "size=64k,mode=0700") != 0) {
		rmdir(mnt);
		free(mnt);
		cr_skip_test("needs root to mount a 64 KiB tmpfs");
	}
	snprintf(enospc_mnt, sizeof(enospc_mnt), "%s", mnt);
	o = opts(mnt, 1 << 20, seg_size, SPOOL_FULL_DROP_NEW, 0);
	sp = open_ok(&o, NULL);
	cr_assert_eq(spool_reader_open(sp, "c", &r), 0);
	while (seq < 1000) {
		spool_stats(sp, &st);
		chain_of(seq + 1, c);
		payload_of(seq + 1, 900 + seq % 50, p);
		rc = spool_append(sp, seq + 1, c, p, 900 + seq % 50);
		if (rc != 0)
			break;
		seq++;
	}
	cr_assert_eq(rc, -ENOSPC, "append %" PRIu64 ": %d", seq + 1, rc);
	cr_assert_gt(seq, 20);
	ok = seq;
	spool_stats(sp, &st2);
	cr_assert_eq(st2.bytes, st.bytes);
	cr_assert_eq(st2.segments, st.segments);
	cr_assert_eq(st2.segments, seg_size > 20000 ? 2 : 4);
	/* a second try fails the same way and leaves nothing either */
	chain_of(seq + 1, c);
	cr_assert_eq(spool_append(sp, seq + 1, c, p, 900), -ENOSPC);

	/* every file holds whole records only, and no more than counted */
	d = opendir(mnt);
	cr_assert_not_null(d);
	st.bytes = 0;
	while ((de = readdir(d)) != NULL) {
		uint8_t *img;
		size_t len;

		if (strncmp(de->d_name, "seg-", 4) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", mnt, de->d_name);
		img = read_file(path, &len);
		cr_assert_eq(spool_segment_scan(img, len, NULL, NULL, NULL),
			     (long)len, "%s has a partial record", path);
		st.bytes += len;
		free(img);
	}
	closedir(d);
	cr_assert_eq(st.bytes, st2.bytes);

	for (uint64_t i = 1; i <= ok; i++)
		expect_next(r, i, 900 + (i - 1) % 50);
	expect_end(r);
	/* delivering frees segments (even the cursor file finds room) */
	cr_assert_eq(spool_reader_ack(r, ok), 0);
	for (uint64_t i = ok + 1; i <= ok + 5; i++)
		append_ok(sp, i, 900);
	for (uint64_t i = ok + 1; i <= ok + 5; i++)
		expect_next(r, i, 900);
	spool_reader_close(r);
	spool_close(sp);

	sp = open_ok(&o, &rep);
	cr_assert_eq(rep.truncated_bytes, 0);
	cr_assert_eq(rep.quarantined, 0);
	cr_assert(spool_last(sp, &seq, NULL));
	cr_assert_eq(seq, ok + 5);
	cr_assert_eq(spool_reader_open(sp, "c", &r), 0);
	cr_assert_eq(spool_reader_acked(r), ok);
	spool_reader_close(r);
	spool_close(sp);
	free(mnt);
}

/* CR 2.10 */
Test(spool, enospc_mid_segment, .fini = enospc_fini)
{
	enospc_scenario(40 << 10);
}

/* CR 2.10 */
Test(spool, enospc_at_rotation, .fini = enospc_fini)
{
	enospc_scenario(16 << 10);
}

/* ---- threads ------------------------------------------------------------- */

#define THREAD_N 3000

static void *writer(void *arg)
{
	struct spool *sp = arg;

	for (uint64_t i = 1; i <= THREAD_N; i++)
		append_ok(sp, i, 40 + i % 200);
	return NULL;
}

Test(spool, writer_and_reader_threads)
{
	struct spool_opts o;
	struct spool_reader *r;
	struct spool *sp;
	pthread_t t;
	char buf[SPOOL_RECORD_MAX];
	uint64_t next = 1, seq;
	size_t len;
	char *dir = mktmp();

	o = opts(dir, 1 << 20, 16 << 10, SPOOL_FULL_DROP_NEW, 100);
	sp = open_ok(&o, NULL);
	cr_assert_eq(spool_reader_open(sp, "c", &r), 0);
	cr_assert_eq(pthread_create(&t, NULL, writer, sp), 0);
	while (next <= THREAD_N) {
		int rc = spool_reader_next(r, buf, sizeof(buf), &len, &seq);

		cr_assert_geq(rc, 0);
		if (rc == 0) {
			usleep(100);
			continue;
		}
		cr_assert_eq(seq, next);
		cr_assert_eq(len, 40 + next % 200);
		if (next % 100 == 0)
			cr_assert_eq(spool_reader_ack(r, next), 0);
		next++;
	}
	pthread_join(t, NULL);
	cr_assert_eq(spool_reader_ack(r, THREAD_N), 0);
	cr_assert_eq(count_files(dir, ".cds"), 1);
	spool_reader_close(r);
	spool_close(sp);
	rm_rf(dir);
	free(dir);
}
