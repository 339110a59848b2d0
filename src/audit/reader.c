/*
 * The spool seen from outside its writer: segment listing, whole-file
 * snapshots, chain verification with the newest segment's torn-tail rule,
 * and the last records (reader.h). Used by conduitctl and by the daemon's
 * audit commands, so both judge a spool the same way.
 */
#include "config.h"

#include "audit/reader.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/rfc5424.h"
#include "audit/spool.h"

static int seg_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool seg_name_ok(const char *s)
{
	if (strlen(s) != READER_SEG_NAME_LEN || strncmp(s, "seg-", 4) ||
	    strcmp(s + 20, ".cds"))
		return false;
	for (int i = 4; i < 20; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f') ||
		      (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	return true;
}

/* The first seq a segment name announces. */
static uint64_t seg_first_seq(const char *name)
{
	return strtoull(name + 4, NULL, 16);
}

int reader_list_segments(const char *dir, char ***names, char *err,
			 size_t errlen)
{
	struct dirent *e;
	char **v = NULL;
	int n = 0, cap = 0, rc = 0;
	DIR *dp = opendir(dir);

	*names = NULL;
	if (dp == NULL) {
		rc = -errno;
		snprintf(err, errlen, "spool %s: %s", dir, strerror(-rc));
		return rc;
	}
	while ((e = readdir(dp)) != NULL) {
		if (!seg_name_ok(e->d_name))
			continue;
		if (n == cap) {
			char **nv;

			cap = cap ? cap * 2 : 16;
			nv = realloc(v, (size_t)cap * sizeof(*v));
			if (nv == NULL) {
				rc = -ENOMEM;
				break;
			}
			v = nv;
		}
		v[n] = strdup(e->d_name);
		if (v[n] == NULL) {
			rc = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(dp);
	if (rc < 0) {
		reader_names_free(v, n);
		snprintf(err, errlen, "spool %s: out of memory", dir);
		return rc;
	}
	if (n > 0)
		qsort(v, (size_t)n, sizeof(*v), seg_name_cmp);
	*names = v;
	return n;
}

void reader_names_free(char **names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int reader_slurp(const char *path, uint8_t **out, size_t *len, char *err,
		 size_t errlen)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	int rc, fd = open(path, O_RDONLY | O_CLOEXEC);

	*out = NULL;
	*len = 0;
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		close(fd);
		return -ENOMEM;
	}
	/* the size at fstat: what the writer appends later is the next
	 * scan's */
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: %s", path, strerror(-rc));
			free(buf);
			close(fd);
			return rc;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	*out = buf;
	*len = got;
	return 0;
}

/* --- verification ------------------------------------------------------- */

int reader_verify_init(struct reader_verify *rv, unsigned pen, const void *key,
		       size_t key_len)
{
	memset(rv, 0, sizeof(*rv));
	snprintf(rv->sd_id, sizeof(rv->sd_id), "conduitd@%u", pen);
	if (key != NULL && key_len > 0) {
		if (key_len > CHAIN_KEY_MAX)
			key_len = CHAIN_KEY_MAX;
		memcpy(rv->key, key, key_len);
		rv->key_len = key_len;
	}
	return 0;
}

/* The seq of a record, for the choice of the anchor: seq 1 is the first
 * record ever, so its predecessor must be zeros. 0 when unknown. */
static uint64_t record_seq(const char *rec, size_t len, const char *sd_id)
{
	const size_t scap = R5424_MAX_LEN + R5424_MAX_PARAMS * 2 + 16;
	const struct r5424_elem *e;
	struct r5424_msg *m;
	const char *s;
	uint64_t seq = 0;
	char *scratch;

	if (len > R5424_MAX_LEN)
		return 0;
	m = malloc(sizeof(*m));
	scratch = malloc(scap);
	if (m != NULL && scratch != NULL &&
	    r5424_parse(rec, len, m, scratch, scap, NULL) == 0) {
		e = r5424_find_elem(m, sd_id);
		s = e ? r5424_find_param(m, e, "seq") : NULL;
		seq = s ? strtoull(s, NULL, 10) : 0;
	}
	free(scratch);
	free(m);
	return seq;
}

int reader_verify_feed(struct reader_verify *rv, const char *rec, size_t len)
{
	static const uint8_t zeros[CHAIN_LEN];

	if (rv->v == NULL) {
		const uint8_t *anchor = rv->anchored ? rv->anchor :
					record_seq(rec, len, rv->sd_id) == 1 ?
						       zeros :
						       NULL;

		rv->v = chain_verify_new(rv->sd_id, anchor,
					 rv->key_len ? rv->key : NULL,
					 rv->key_len);
		if (rv->v == NULL)
			return -ENOMEM;
	}
	if (rv->last_rec == NULL) {
		rv->last_rec = malloc(R5424_MAX_LEN);
		if (rv->last_rec == NULL)
			return -ENOMEM;
	}
	rv->last_len = len < R5424_MAX_LEN ? len : R5424_MAX_LEN;
	memcpy(rv->last_rec, rec, rv->last_len);
	rv->fed++;
	if (chain_verify_feed(rv->v, rec, len) == CHAIN_BROKEN &&
	    rv->broken_pos == 0) {
		rv->broken_pos = rv->pos;
		snprintf(rv->broken_where, sizeof(rv->broken_where), "%s",
			 rv->where ? rv->where : "");
	}
	return 0;
}

struct verify_scan {
	struct reader_verify *rv;
	int rc;
};

static int verify_rec(uint64_t seq, const uint8_t chain[32], const void *rec,
		      size_t len, void *arg)
{
	struct verify_scan *vs = arg;
	struct reader_verify *rv = vs->rv;

	(void)chain;
	if (seq <= rv->after_seq)
		return 0;
	if (rv->max_records && rv->fed >= rv->max_records) {
		rv->limited = true;
		return 1;
	}
	rv->pos++;
	vs->rc = reader_verify_feed(rv, rec, len);
	return vs->rc < 0 ? 1 : 0;
}

int reader_verify_spool(struct reader_verify *rv, const char *dir, char *err,
			size_t errlen)
{
	char path[4096];
	char **names;
	int n, rc = 0;

	n = reader_list_segments(dir, &names, err, errlen);
	if (n < 0)
		return n;
	for (int i = 0; i < n && !rv->stop[0] && !rv->limited; i++) {
		struct verify_scan vs = { rv, 0 };
		const char *why = NULL;
		bool newest = i == n - 1;
		size_t len = 0;
		uint8_t *img;
		long end;

		/* the next segment starts at or before after_seq + 1: this
		 * one holds nothing to verify */
		if (rv->after_seq && !newest &&
		    seg_first_seq(names[i + 1]) <= rv->after_seq + 1)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		rc = reader_slurp(path, &img, &len, err, errlen);
		if (rc == -ENOENT && rv->fed == 0)
			continue; /* delivered and deleted since the listing */
		if (rc < 0)
			break;
		rv->where = names[i];
		rv->pos = 0;
		end = spool_segment_scan(img, len, verify_rec, &vs, &why);
		rv->where = NULL;
		if (vs.rc < 0) {
			free(img);
			rc = vs.rc;
			snprintf(err, errlen, "%s: out of memory", path);
			break;
		}
		if (rv->limited) {
			/* stopped before this record: not a fault */
		} else if (end < 0 && newest && len < SPOOL_HEADER_LEN) {
			/* created, its header not yet written */
			rv->torn_bytes = len;
			rv->torn_offset = 0;
			rv->torn_why = why ? why : "short header";
			snprintf(rv->torn_segment, sizeof(rv->torn_segment),
				 "%s", names[i]);
		} else if (end < 0) {
			snprintf(rv->stop, sizeof(rv->stop),
				 "%s: bad segment header", names[i]);
			snprintf(rv->stop_segment, sizeof(rv->stop_segment),
				 "%s", names[i]);
		} else if ((size_t)end < len && newest &&
			   spool_torn_tail(img, len, (size_t)end)) {
			/* a record being appended or the torn tail the
			 * daemon cuts at its next start */
			rv->torn_bytes = len - (size_t)end;
			rv->torn_offset = end;
			rv->torn_why = why ? why : "incomplete record";
			snprintf(rv->torn_segment, sizeof(rv->torn_segment),
				 "%s", names[i]);
		} else if ((size_t)end < len) {
			snprintf(rv->stop, sizeof(rv->stop),
				 "%s: stops at offset %ld of %zu: %s", names[i],
				 end, len, why ? why : "bad record");
			snprintf(rv->stop_segment, sizeof(rv->stop_segment),
				 "%s", names[i]);
		}
		free(img);
	}
	reader_names_free(names, n);
	return rc;
}

const struct chain_verify_report *
reader_verify_report(const struct reader_verify *rv)
{
	static const struct chain_verify_report none;

	return rv->v ? chain_verify_report(rv->v) : &none;
}

bool reader_verify_intact(const struct reader_verify *rv)
{
	return !reader_verify_report(rv)->broken && !rv->stop[0];
}

bool reader_verify_last_chain(struct reader_verify *rv)
{
	const size_t scap = R5424_MAX_LEN + R5424_MAX_PARAMS * 2 + 16;
	const struct r5424_elem *e;
	struct r5424_msg *m;
	const char *s = NULL;
	char *scratch;
	bool ok = false;

	if (rv->last_rec == NULL)
		return false;
	m = malloc(sizeof(*m));
	scratch = malloc(scap);
	if (m != NULL && scratch != NULL &&
	    r5424_parse(rv->last_rec, rv->last_len, m, scratch, scap, NULL) ==
		    0) {
		e = r5424_find_elem(m, rv->sd_id);
		s = e ? r5424_find_param(m, e, "chain") : NULL;
		ok = s != NULL && chain_unhex(s, rv->last_chain) == 0;
	}
	free(scratch);
	free(m);
	return ok;
}

void reader_verify_free(struct reader_verify *rv)
{
	chain_verify_free(rv->v);
	rv->v = NULL;
	free(rv->last_rec);
	rv->last_rec = NULL;
	explicit_bzero(rv->key, sizeof(rv->key));
	rv->key_len = 0;
}

/* --- tail --------------------------------------------------------------- */

int reader_tail_init(struct reader_tail *t, unsigned n)
{
	memset(t, 0, sizeof(*t));
	t->n = n;
	if (n > 0) {
		t->ring = calloc(n, sizeof(*t->ring));
		if (t->ring == NULL)
			return -ENOMEM;
	}
	return 0;
}

struct tail_scan {
	struct reader_tail *t;
	uint64_t count; /* counting pass: records after last_seq */
	int rc;
};

static int tail_count_rec(uint64_t seq, const uint8_t chain[32],
			  const void *rec, size_t len, void *arg)
{
	struct tail_scan *ts = arg;

	(void)chain;
	(void)rec;
	(void)len;
	if (seq > ts->t->last_seq)
		ts->count++;
	return 0;
}

static int tail_rec(uint64_t seq, const uint8_t chain[32], const void *rec,
		    size_t len, void *arg)
{
	struct tail_scan *ts = arg;
	struct reader_tail *t = ts->t;
	struct reader_rec *r;
	char *p;

	(void)chain;
	if (seq <= t->last_seq)
		return 0;
	if (t->fn != NULL) {
		t->last_seq = seq;
		t->fn(seq, rec, len, t->arg);
		return 0;
	}
	if (t->n == 0) {
		t->last_seq = seq;
		return 0;
	}
	r = &t->ring[t->head];
	p = realloc(r->rec, len);
	if (p == NULL) {
		ts->rc = -ENOMEM;
		return 1;
	}
	memcpy(p, rec, len);
	r->rec = p;
	r->len = len;
	r->seq = seq;
	t->last_seq = seq;
	t->head = (t->head + 1) % t->n;
	if (t->count < t->n)
		t->count++;
	return 0;
}

/* Segment i holds nothing after last_seq when the next one starts at or
 * before last_seq + 1. */
static bool tail_skip(const struct reader_tail *t, char **names, int n, int i)
{
	return i + 1 < n && seg_first_seq(names[i + 1]) <= t->last_seq + 1;
}

/* Scans segment dir/name with fn; a segment gone since the listing is
 * skipped (the writer deletes delivered ones). */
static int tail_one(const char *dir, const char *name, spool_record_fn fn,
		    struct tail_scan *ts, char *err, size_t errlen)
{
	char path[4096];
	uint8_t *img;
	size_t len;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (reader_slurp(path, &img, &len, err, errlen) < 0)
		return 0;
	(void)spool_segment_scan(img, len, fn, ts, NULL);
	free(img);
	if (ts->rc < 0)
		snprintf(err, errlen, "%s: out of memory", path);
	return ts->rc;
}

int reader_tail_scan(struct reader_tail *t, const char *dir, char *err,
		     size_t errlen)
{
	struct tail_scan ts = { t, 0, 0 };
	char **names;
	int n, start = 0, rc = 0;

	n = reader_list_segments(dir, &names, err, errlen);
	if (n < 0)
		return n;
	if (t->fn == NULL) {
		/* ring: only the newest segments that hold n new records
		 * (one, to find last_seq, when nothing is kept) */
		uint64_t want = t->n ? t->n : 1;

		for (start = n; start > 0 && ts.count < want; start--) {
			if (tail_skip(t, names, n, start - 1))
				break;
			rc = tail_one(dir, names[start - 1], tail_count_rec,
				      &ts, err, errlen);
			if (rc < 0)
				goto out;
		}
	}
	for (int i = start; i < n; i++) {
		if (tail_skip(t, names, n, i))
			continue;
		rc = tail_one(dir, names[i], tail_rec, &ts, err, errlen);
		if (rc < 0)
			break;
	}
out:
	reader_names_free(names, n);
	return rc;
}

const struct reader_rec *reader_tail_at(const struct reader_tail *t, unsigned i)
{
	if (i >= t->count)
		return NULL;
	return &t->ring[(t->head + t->n - t->count + i) % t->n];
}

void reader_tail_free(struct reader_tail *t)
{
	for (unsigned i = 0; t->ring != NULL && i < t->n; i++)
		free(t->ring[i].rec);
	free(t->ring);
	t->ring = NULL;
	t->n = 0;
	t->count = 0;
	t->head = 0;
}
