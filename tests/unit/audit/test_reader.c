/*
 * The spool read from outside its writer (audit/reader.h): segment order,
 * chain verification across segments with and without the HMAC key, the
 * newest segment's torn tail against real corruption, a changed byte with
 * a recomputed CRC (what a tamperer who knows the format does), the
 * max_records bound, and the tail of the last N records. Spools are made
 * by the real formatter and the real spool writer in a temporary
 * directory.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit.h"
#include "audit/chain.h"
#include "audit/event.h"
#include "audit/reader.h"
#include "audit/spool.h"

static const uint8_t test_key[32] = "0123456789abcdef0123456789abcdef";

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static char dir[64];

static void dir_setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_reader.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void dir_teardown(void)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * Appends records first..last (their seq) to the spool in d, formatted
 * like the writer does, chained on from prev (NULL: zeros) with key
 * (NULL: plain); small segments so that a few hundred records span
 * several. prev gets the last chain value.
 */
static void write_records(const char *d, uint64_t first, uint64_t last,
			  const uint8_t *key, uint8_t prev[CHAIN_LEN])
{
	static char buf[R5424_MAX_LEN];
	struct audit_opts o;
	struct spool *sp;
	struct chain c;
	char err[256];
	uint8_t cv[CHAIN_LEN];
	size_t len;

	memset(&o, 0, sizeof(o));
	o.pen = 32473;
	o.facility = 13;
	o.spool.dir = d;
	o.spool.capacity = 4u << 20;
	o.spool.segment_size = 64u << 10;
	o.spool.full = SPOOL_FULL_DROP_NEW;
	o.spool.fsync_ms = 1000;
	cr_assert_eq(spool_open(&o.spool, &sp, NULL, err, sizeof(err)), 0, "%s",
		     err);
	chain_init(&c, first > 1 ? prev : NULL, key, key ? 32 : 0);
	for (uint64_t s = first; s <= last; s++) {
		struct audit_event ev;

		audit_event_init(&ev, AUDIT_MGMT_COMMAND);
		audit_event_add(&ev, "cmd", "policy.apply");
		audit_event_add_u64(&ev, "i", s);
		audit_event_msgf(&ev, "test command %llu",
				 (unsigned long long)s);
		ev.time_us = 1764590433000000ll + (int64_t)s;
		cr_assert_eq(audit_format_record(&o, "gw1.test", 42, s, &c, &ev,
						 buf, sizeof(buf), &len, cv),
			     0);
		cr_assert_eq(spool_append(sp, s, cv, buf, len), 0, "seq %llu",
			     (unsigned long long)s);
	}
	memcpy(prev, c.prev, CHAIN_LEN);
	spool_close(sp);
}

static uint32_t crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = crc & 1 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
	}
	return ~crc;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint8_t *read_file(const char *path, size_t *len)
{
	uint8_t *buf;
	char err[256];

	cr_assert_eq(reader_slurp(path, &buf, len, err, sizeof(err)), 0, "%s",
		     err);
	return buf;
}

static void write_file(const char *path, const uint8_t *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_TRUNC);

	cr_assert_geq(fd, 0, "%s", path);
	cr_assert_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/*
 * Changes the last byte of record seq's text (a digit of its message),
 * recomputing the record CRC when fix_crc. Returns the segment name it is
 * in (static) and its 1-based position there in *pos.
 */
static const char *tamper(const char *d, uint64_t seq, bool fix_crc,
			  uint64_t *pos)
{
	static char name[64];
	char path[512], err[256], **names;
	int n = reader_list_segments(d, &names, err, sizeof(err));

	cr_assert_geq(n, 1, "%s", err);
	for (int i = 0; i < n; i++) {
		size_t len, off = SPOOL_HEADER_LEN;
		uint8_t *img;
		uint64_t k = 0;

		snprintf(path, sizeof(path), "%s/%s", d, names[i]);
		img = read_file(path, &len);
		while (off + SPOOL_REC_OVERHEAD <= len) {
			uint32_t rlen = le32(img + off);
			uint64_t s = le32(img + off + 4) |
				     (uint64_t)le32(img + off + 8) << 32;
			uint8_t *payload = img + off + SPOOL_REC_OVERHEAD;

			k++;
			if (s == seq) {
				payload[rlen - 1] =
					payload[rlen - 1] == '0' ? '1' : '0';
				if (fix_crc)
					put32(img + off + 44,
					      crc32c(crc32c(0, img + off, 44),
						     payload, rlen));
				write_file(path, img, len);
				snprintf(name, sizeof(name), "%s", names[i]);
				*pos = k;
				free(img);
				reader_names_free(names, n);
				return name;
			}
			off += SPOOL_REC_OVERHEAD + rlen;
		}
		free(img);
	}
	reader_names_free(names, n);
	cr_assert_fail("seq %llu not in the spool", (unsigned long long)seq);
	return NULL;
}

static int nsegments(const char *d, char last[64])
{
	char err[256], **names;
	int n = reader_list_segments(d, &names, err, sizeof(err));

	cr_assert_geq(n, 0, "%s", err);
	if (n > 0 && last != NULL)
		snprintf(last, 64, "%s", names[n - 1]);
	reader_names_free(names, n);
	return n;
}

/* Verifies the spool in d; returns what reader_verify_spool returned. */
static int verify(const char *d, const uint8_t *key, uint64_t max,
		  struct reader_verify *rv)
{
	char err[512] = "";

	reader_verify_init(rv, 32473, key, key ? 32 : 0);
	rv->max_records = max;
	return reader_verify_spool(rv, d, err, sizeof(err));
}

TestSuite(reader, .init = dir_setup, .fini = dir_teardown);

Test(reader, segments_listed_in_seq_order_other_files_ignored)
{
	uint8_t prev[CHAIN_LEN];
	char err[256], **names, path[512];
	int n;

	write_records(dir, 1, 700, NULL, prev);
	/* what else lives in a spool directory */
	snprintf(path, sizeof(path), "%s/cursor-c1", dir);
	fclose(fopen(path, "w"));
	snprintf(path, sizeof(path), "%s/seg-0000000000000001.cds.corrupt",
		 dir);
	fclose(fopen(path, "w"));
	snprintf(path, sizeof(path), "%s/seg-00000000000000zz.cds", dir);
	fclose(fopen(path, "w"));
	n = reader_list_segments(dir, &names, err, sizeof(err));
	cr_assert_geq(n, 3, "700 records in 64 KiB segments");
	cr_expect_str_eq(names[0], "seg-0000000000000001.cds");
	for (int i = 1; i < n; i++) {
		cr_expect_eq(strlen(names[i]), READER_SEG_NAME_LEN);
		cr_expect_lt(strcmp(names[i - 1], names[i]), 0);
	}
	reader_names_free(names, n);
}

Test(reader, missing_directory_named)
{
	char err[256], **names, missing[128];

	snprintf(missing, sizeof(missing), "%s/nope", dir);
	cr_expect_eq(reader_list_segments(missing, &names, err, sizeof(err)),
		     -ENOENT);
	cr_expect(strstr(err, missing) != NULL, "%s", err);
	cr_expect(strstr(err, "No such file") != NULL, "%s", err);
}

/* CR 3.9 */
Test(reader, intact_chain_across_segments)
{
	struct reader_verify rv;
	uint8_t prev[CHAIN_LEN];

	write_records(dir, 1, 700, NULL, prev);
	cr_assert_eq(verify(dir, NULL, 0, &rv), 0);
	cr_expect(reader_verify_intact(&rv));
	cr_expect_eq(reader_verify_report(&rv)->records, 700);
	cr_expect_eq(reader_verify_report(&rv)->first_seq, 1);
	cr_expect_eq(reader_verify_report(&rv)->last_seq, 700);
	cr_expect_eq(rv.torn_bytes, 0);
	cr_expect_not(rv.limited);
	reader_verify_free(&rv);
}

/* CR 3.9 */
Test(reader, hmac_chain_needs_the_key)
{
	struct reader_verify rv;
	uint8_t prev[CHAIN_LEN];

	write_records(dir, 1, 300, test_key, prev);
	cr_assert_eq(verify(dir, test_key, 0, &rv), 0);
	cr_expect(reader_verify_intact(&rv));
	cr_expect_eq(reader_verify_report(&rv)->records, 300);
	reader_verify_free(&rv);

	cr_assert_eq(verify(dir, NULL, 0, &rv), 0);
	cr_expect_not(reader_verify_intact(&rv));
	cr_expect_eq(reader_verify_report(&rv)->broken_seq, 1);
	cr_expect_str_eq(reader_verify_report(&rv)->reason,
			 "chain value differs");
	cr_expect_str_eq(rv.broken_where, "seg-0000000000000001.cds");
	cr_expect_eq(rv.broken_pos, 1);
	reader_verify_free(&rv);
}

/* CR 3.9 */
Test(reader, changed_byte_with_valid_crc_breaks_the_chain_there)
{
	struct reader_verify rv;
	uint8_t prev[CHAIN_LEN];
	const char *seg;
	uint64_t pos;

	write_records(dir, 1, 700, NULL, prev);
	seg = tamper(dir, 400, true, &pos);
	cr_assert_eq(verify(dir, NULL, 0, &rv), 0);
	cr_expect_not(reader_verify_intact(&rv));
	cr_expect_eq(reader_verify_report(&rv)->broken_seq, 400);
	cr_expect_str_eq(reader_verify_report(&rv)->reason,
			 "chain value differs");
	cr_expect_str_eq(rv.broken_where, seg);
	cr_expect_eq(rv.broken_pos, pos);
	cr_expect_eq(rv.stop[0], '\0', "%s", rv.stop);
	reader_verify_free(&rv);
}

/* CR 3.9 */
Test(reader, bad_crc_inside_a_segment_stops_verification)
{
	struct reader_verify rv;
	uint8_t prev[CHAIN_LEN];
	char last[64];
	uint64_t pos;

	write_records(dir, 1, 700, NULL, prev);
	/* in an older segment */
	tamper(dir, 10, false, &pos);
	cr_assert_eq(verify(dir, NULL, 0, &rv), 0);
	cr_expect_not(reader_verify_intact(&rv));
	cr_expect(strstr(rv.stop, "seg-0000000000000001.cds: stops at "
				  "offset") != NULL,
		  "%s", rv.stop);
	cr_expect(strstr(rv.stop, "bad crc") != NULL, "%s", rv.stop);
	cr_expect_str_eq(rv.stop_segment, "seg-0000000000000001.cds");
	cr_expect_eq(reader_verify_report(&rv)->last_seq, 9);
	reader_verify_free(&rv);

	/* in the newest segment, followed by good records: not a torn tail */
	dir_teardown();
	dir_setup();
	write_records(dir, 1, 700, NULL, prev);
	nsegments(dir, last);
	tamper(dir, 690, false, &pos);
	cr_assert_eq(verify(dir, NULL, 0, &rv), 0);
	cr_expect_not(reader_verify_intact(&rv));
	cr_expect_str_eq(rv.stop_segment, last);
	cr_expect_eq(rv.torn_bytes, 0);
	reader_verify_free(&rv);
}

Test(reader, torn_tail_of_the_newest_segment_is_no_break)
{
	struct reader_verify rv;
	uint8_t prev[CHAIN_LEN], *img;
	char last[64], path[512];
	size_t len;

	write_records(dir, 1, 700, NULL, prev);
	nsegments(dir, last);
	/* a record being appended: its first 100 bytes */
	snprintf(path, sizeof(path), "%s/%s", dir, last);
	img = read_file(path, &len);
	{
		FILE *f = fopen(path, "a");

		cr_assert_not_null(f);
		cr_assert_eq(fwrite(img + SPOOL_HEADER_LEN, 1, 100, f), 100);
		fclose(f);
	}
	free(img);
	cr_assert_eq(verify(dir, NULL, 0, &rv), 0);
	cr_expect(reader_verify_intact(&rv), "%s", rv.stop);
	cr_expect_eq(reader_verify_report(&rv)->last_seq, 700);
	cr_expect_eq(rv.torn_bytes, 100);
	cr_expect_str_eq(rv.torn_segment, last);
	cr_expect_eq(rv.torn_offset, (long)len);
	reader_verify_free(&rv);

	/* the same bytes at the end of an older segment are a break */
	snprintf(path, sizeof(path), "%s/seg-0000000000000001.cds", dir);
	{
		FILE *f = fopen(path, "a");

		cr_assert_not_null(f);
		cr_assert_eq(fwrite("\x10\0\0\0garbage", 1, 11, f), 11);
		fclose(f);
	}
	cr_assert_eq(verify(dir, NULL, 0, &rv), 0);
	cr_expect_not(reader_verify_intact(&rv));
	cr_expect_str_eq(rv.stop_segment, "seg-0000000000000001.cds");
	reader_verify_free(&rv);
}

Test(reader, bad_segment_header_is_a_break)
{
	struct reader_verify rv;
	uint8_t prev[CHAIN_LEN];
	char path[512];
	int fd;

	write_records(dir, 1, 700, NULL, prev);
	snprintf(path, sizeof(path), "%s/seg-0000000000000001.cds", dir);
	fd = open(path, O_WRONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "XDSPOOL1", 8), 8);
	close(fd);
	cr_assert_eq(verify(dir, NULL, 0, &rv), 0);
	cr_expect_not(reader_verify_intact(&rv));
	cr_expect_str_eq(rv.stop, "seg-0000000000000001.cds: bad segment "
				  "header");
	reader_verify_free(&rv);
}

Test(reader, spool_starting_mid_chain_verifies_from_its_first_record)
{
	struct reader_verify rv;
	uint8_t prev[CHAIN_LEN];
	char path[512], err[256], **names;
	int n;

	write_records(dir, 1, 700, NULL, prev);
	/* the oldest segment was delivered and deleted */
	n = reader_list_segments(dir, &names, err, sizeof(err));
	cr_assert_geq(n, 3);
	snprintf(path, sizeof(path), "%s/%s", dir, names[0]);
	cr_assert_eq(unlink(path), 0);
	reader_names_free(names, n);
	cr_assert_eq(verify(dir, NULL, 0, &rv), 0);
	cr_expect(reader_verify_intact(&rv));
	cr_expect_gt(reader_verify_report(&rv)->first_seq, 1);
	cr_expect_eq(reader_verify_report(&rv)->last_seq, 700);
	reader_verify_free(&rv);
}

Test(reader, max_records_bounds_the_work)
{
	struct reader_verify rv;
	uint8_t prev[CHAIN_LEN];

	write_records(dir, 1, 700, NULL, prev);
	cr_assert_eq(verify(dir, NULL, 250, &rv), 0);
	cr_expect(rv.limited);
	cr_expect(reader_verify_intact(&rv));
	cr_expect_eq(reader_verify_report(&rv)->records, 250);
	cr_expect_eq(reader_verify_report(&rv)->last_seq, 250);
	reader_verify_free(&rv);

	cr_assert_eq(verify(dir, NULL, 700, &rv), 0);
	cr_expect_not(rv.limited, "exactly all records is no limit");
	reader_verify_free(&rv);
}

/* CR 3.9 */
Test(reader, bounded_runs_continue_the_chain)
{
	struct reader_verify rv;
	uint8_t prev[CHAIN_LEN], anchor[CHAIN_LEN] = { 0 };
	uint64_t after = 0, pos, total = 0;
	bool anchored = false;
	int runs = 0;

	write_records(dir, 1, 700, test_key, prev);
	do {
		reader_verify_init(&rv, 32473, test_key, 32);
		rv.max_records = 250;
		rv.after_seq = after;
		rv.anchored = anchored;
		memcpy(rv.anchor, anchor, sizeof(anchor));
		cr_assert_eq(reader_verify_spool(&rv, dir, (char[256]){ 0 },
						 256),
			     0);
		cr_assert(reader_verify_intact(&rv), "run %d: %s", runs,
			  reader_verify_report(&rv)->reason);
		cr_expect_eq(reader_verify_report(&rv)->first_seq, after + 1);
		total += reader_verify_report(&rv)->records;
		after = reader_verify_report(&rv)->last_seq;
		cr_assert(reader_verify_last_chain(&rv));
		memcpy(anchor, rv.last_chain, sizeof(anchor));
		anchored = true;
		runs++;
		if (!rv.limited) {
			reader_verify_free(&rv);
			break;
		}
		reader_verify_free(&rv);
	} while (runs < 10);
	cr_expect_eq(runs, 3);
	cr_expect_eq(total, 700);
	cr_expect_eq(after, 700);
	cr_expect(memcmp(anchor, prev, CHAIN_LEN) == 0,
		  "the last chain value is the writer's");

	/* a wrong anchor, or a changed record after it, is a break */
	reader_verify_init(&rv, 32473, test_key, 32);
	rv.after_seq = 500;
	rv.anchored = true;
	memset(rv.anchor, 0x5a, CHAIN_LEN);
	cr_assert_eq(reader_verify_spool(&rv, dir, (char[256]){ 0 }, 256), 0);
	cr_expect_not(reader_verify_intact(&rv));
	cr_expect_eq(reader_verify_report(&rv)->broken_seq, 501);
	reader_verify_free(&rv);

	tamper(dir, 650, true, &pos);
	reader_verify_init(&rv, 32473, test_key, 32);
	rv.after_seq = 500;
	cr_assert_eq(reader_verify_spool(&rv, dir, (char[256]){ 0 }, 256), 0);
	cr_expect_not(reader_verify_intact(&rv));
	cr_expect_eq(reader_verify_report(&rv)->broken_seq, 650);
	reader_verify_free(&rv);
}

/* --- tail --------------------------------------------------------------- */

static uint64_t rec_seq_param(const struct reader_rec *r)
{
	char text[R5424_MAX_LEN + 1], *p;

	memcpy(text, r->rec, r->len);
	text[r->len] = '\0';
	p = strstr(text, " seq=\"");
	return p ? strtoull(p + 6, NULL, 10) : 0;
}

/* CR 6.1 */
Test(reader, tail_keeps_the_last_n_in_order)
{
	struct reader_tail t;
	uint8_t prev[CHAIN_LEN];
	char err[256];

	write_records(dir, 1, 700, NULL, prev);
	cr_assert_eq(reader_tail_init(&t, 5), 0);
	cr_assert_eq(reader_tail_scan(&t, dir, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(t.count, 5);
	for (unsigned i = 0; i < 5; i++) {
		const struct reader_rec *r = reader_tail_at(&t, i);

		cr_expect_eq(r->seq, 696 + i);
		cr_expect_eq(rec_seq_param(r), 696 + i, "the record's text");
	}
	cr_expect_null(reader_tail_at(&t, 5));
	cr_expect_eq(t.last_seq, 700);
	reader_tail_free(&t);

	/* more than a segment holds, fewer than the spool: exactly n */
	cr_assert_eq(reader_tail_init(&t, 400), 0);
	cr_assert_eq(reader_tail_scan(&t, dir, err, sizeof(err)), 0);
	cr_assert_eq(t.count, 400);
	cr_expect_eq(reader_tail_at(&t, 0)->seq, 301);
	cr_expect_eq(reader_tail_at(&t, 399)->seq, 700);
	reader_tail_free(&t);

	/* more than the spool holds: all */
	cr_assert_eq(reader_tail_init(&t, 1000), 0);
	cr_assert_eq(reader_tail_scan(&t, dir, err, sizeof(err)), 0);
	cr_expect_eq(t.count, 700);
	cr_expect_eq(reader_tail_at(&t, 0)->seq, 1);
	reader_tail_free(&t);
}

struct seen {
	uint64_t seqs[64];
	unsigned n;
};

static void on_rec(uint64_t seq, const char *rec, size_t len, void *arg)
{
	struct seen *s = arg;

	cr_assert_gt(len, 0);
	cr_assert_eq(rec[0], '<');
	if (s->n < 64)
		s->seqs[s->n] = seq;
	s->n++;
}

/* CR 6.1 */
Test(reader, tail_follow_sees_only_new_records)
{
	struct reader_tail t;
	struct seen s = { .n = 0 };
	uint8_t prev[CHAIN_LEN];
	char err[256];

	write_records(dir, 1, 700, NULL, prev);
	cr_assert_eq(reader_tail_init(&t, 0), 0);
	cr_assert_eq(reader_tail_scan(&t, dir, err, sizeof(err)), 0);
	cr_expect_eq(t.count, 0);
	cr_expect_eq(t.last_seq, 700, "n 0: starts after the newest");
	t.fn = on_rec;
	t.arg = &s;
	cr_assert_eq(reader_tail_scan(&t, dir, err, sizeof(err)), 0);
	cr_expect_eq(s.n, 0);
	write_records(dir, 701, 710, NULL, prev);
	cr_assert_eq(reader_tail_scan(&t, dir, err, sizeof(err)), 0);
	cr_assert_eq(s.n, 10);
	for (unsigned i = 0; i < 10; i++)
		cr_expect_eq(s.seqs[i], 701 + i);
	cr_assert_eq(reader_tail_scan(&t, dir, err, sizeof(err)), 0);
	cr_expect_eq(s.n, 10, "nothing twice");
	reader_tail_free(&t);
}

Test(reader, tail_of_an_empty_or_missing_spool)
{
	struct reader_tail t;
	char err[256], missing[128];

	cr_assert_eq(reader_tail_init(&t, 5), 0);
	cr_expect_eq(reader_tail_scan(&t, dir, err, sizeof(err)), 0);
	cr_expect_eq(t.count, 0);
	snprintf(missing, sizeof(missing), "%s/nope", dir);
	cr_expect_eq(reader_tail_scan(&t, missing, err, sizeof(err)), -ENOENT);
	cr_expect(strstr(err, missing) != NULL, "%s", err);
	reader_tail_free(&t);
}
