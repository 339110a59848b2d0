/*
 * The persistent audit spool (spool.h): segment files, CRC32C-framed
 * records, rotation, capacity with the two full policies, the fsync
 * policy, readers with atomically replaced cursor files, and the recovery
 * at open (torn tail cut, corrupt segments quarantined). All state lives
 * in struct spool behind one mutex; segments are described in memory by
 * seq range and size, so only the newest one is open for writing and
 * readers open the file they read.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/spool.h"

#define SPOOL_MAGIC "CDSPOOL1"
#define SPOOL_VERSION 1u
#define SPOOL_SEG_MIN 4096u
#define SPOOL_REC_BIG (SPOOL_HEADER_LEN + SPOOL_REC_OVERHEAD + SPOOL_RECORD_MAX)
#define SPOOL_CURSOR_LEN 12u
#define SPOOL_READERS_MAX 16

/* --- CRC32C (Castagnoli, reflected 0x82f63b78) --------------------------- */

/* slicing-by-8: crc_table[k][b] is the CRC of byte b followed by k zero
 * bytes; eight input bytes per step instead of one */
static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	uint32_t i, j, c;

	for (i = 0; i < 256; i++) {
		c = i;
		for (j = 0; j < 8; j++)
			c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
		crc_table[0][i] = c;
	}
	for (i = 0; i < 256; i++)
		for (j = 1; j < 8; j++)
			crc_table[j][i] =
				(crc_table[j - 1][i] >> 8) ^
				crc_table[0][crc_table[j - 1][i] & 0xff];
}

static uint32_t crc32c(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;

	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	while (len >= 8) {
		uint32_t lo = crc ^
			      ((uint32_t)p[0] | (uint32_t)p[1] << 8 |
			       (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);

		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		      crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		      crc_table[3][p[4]] ^ crc_table[2][p[5]] ^
		      crc_table[1][p[6]] ^ crc_table[0][p[7]];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* crc of a record: header fields before the crc, then the payload */
static uint32_t rec_crc(const uint8_t *hdr, const void *payload, size_t len)
{
	return crc32c(crc32c(0, hdr, 44), payload, len);
}

/* --- pure segment scan ---------------------------------------------------- */

/* when fn stops the scan, the result is the offset of that record */

long spool_segment_scan(const void *img, size_t len, spool_record_fn fn,
			void *arg, const char **why)
{
	const uint8_t *p = img;
	uint64_t prev = 0;
	size_t off;

	if (why != NULL)
		*why = NULL;
	if (len < SPOOL_HEADER_LEN || memcmp(p, SPOOL_MAGIC, 8) != 0 ||
	    get32(p + 8) != SPOOL_VERSION || get32(p + 12) != 0) {
		if (why != NULL)
			*why = len < SPOOL_HEADER_LEN ? "short header" :
							"bad header";
		return -EINVAL;
	}
	off = SPOOL_HEADER_LEN;
	while (off < len) {
		const uint8_t *r = p + off;
		uint32_t rlen;
		uint64_t seq;

		if (len - off < SPOOL_REC_OVERHEAD) {
			if (why != NULL)
				*why = "incomplete record header";
			break;
		}
		rlen = get32(r);
		seq = get64(r + 4);
		if (rlen == 0 || rlen > SPOOL_RECORD_MAX) {
			if (why != NULL)
				*why = "bad record length";
			break;
		}
		if (len - off - SPOOL_REC_OVERHEAD < rlen) {
			if (why != NULL)
				*why = "incomplete record";
			break;
		}
		if (rec_crc(r, r + SPOOL_REC_OVERHEAD, rlen) != get32(r + 44)) {
			if (why != NULL)
				*why = "bad crc";
			break;
		}
		if (seq <= prev) {
			if (why != NULL)
				*why = "seq not increasing";
			break;
		}
		if (fn != NULL &&
		    fn(seq, r + 12, r + SPOOL_REC_OVERHEAD, rlen, arg) != 0) {
			if (why != NULL)
				*why = "stopped by the caller";
			break;
		}
		prev = seq;
		off += SPOOL_REC_OVERHEAD + rlen;
	}
	return (long)off;
}

/* --- the spool ------------------------------------------------------------ */

struct spool_seg {
	uint64_t first, last; /* seq range */
	uint64_t records;
	uint64_t bytes; /* file size: header + whole records */
};

struct spool_reader {
	struct spool *sp;
	char name[SPOOL_NAME_MAX + 1];
	uint64_t acked;	   /* delivered, persisted */
	uint64_t read_seq; /* last seq handed out */
	int fd;		   /* segment being read, -1 none */
	uint64_t fd_first; /* its first seq */
	uint64_t off;	   /* offset of the next record in it */
};

struct spool {
	pthread_mutex_t mu;
	struct spool_opts o;
	char *dir;
	int dfd;
	int wfd; /* newest segment, -1 when there is none */
	bool dirty;
	struct spool_seg *segs;
	unsigned nsegs, segs_cap;
	uint64_t bytes;
	uint64_t last_seq;
	uint8_t last_chain[32];
	bool ever;
	struct spool_reader *readers[SPOOL_READERS_MAX];
	unsigned nreaders;
	uint64_t appends, syncs, dropped_new, overwritten;
	uint64_t loss_count, loss_first, loss_last;
	uint8_t wbuf[SPOOL_REC_OVERHEAD + SPOOL_RECORD_MAX];
};

static void seg_name(char *buf, size_t len, uint64_t first)
{
	snprintf(buf, len, "seg-%016" PRIx64 ".cds", first);
}

static int fsync_dir(struct spool *sp)
{
	return fsync(sp->dfd) < 0 ? -errno : 0;
}

static int segs_insert(struct spool *sp, unsigned at, const struct spool_seg *s)
{
	if (sp->nsegs == sp->segs_cap) {
		unsigned ncap = sp->segs_cap ? sp->segs_cap * 2 : 16;
		void *p = realloc(sp->segs, ncap * sizeof(*sp->segs));

		if (p == NULL)
			return -ENOMEM;
		sp->segs = p;
		sp->segs_cap = ncap;
	}
	memmove(&sp->segs[at + 1], &sp->segs[at],
		(sp->nsegs - at) * sizeof(*sp->segs));
	sp->segs[at] = *s;
	sp->nsegs++;
	return 0;
}

static struct spool_seg *seg_find(struct spool *sp, uint64_t first)
{
	unsigned i;

	for (i = 0; i < sp->nsegs; i++)
		if (sp->segs[i].first == first)
			return &sp->segs[i];
	return NULL;
}

static uint64_t min_acked(const struct spool *sp)
{
	uint64_t m = UINT64_MAX;
	unsigned i;

	for (i = 0; i < sp->nreaders; i++)
		if (sp->readers[i]->acked < m)
			m = sp->readers[i]->acked;
	return sp->nreaders ? m : 0;
}

/*
 * Deletes the oldest segment. undelivered: count what some reader (or,
 * without readers, anyone) has not delivered as lost, and move the
 * readers past it.
 */
static int seg_delete_oldest(struct spool *sp, bool undelivered)
{
	struct spool_seg s = sp->segs[0];
	char name[64];
	unsigned i;

	seg_name(name, sizeof(name), s.first);
	if (unlinkat(sp->dfd, name, 0) < 0 && errno != ENOENT)
		return -errno;
	if (sp->nsegs == 1 && sp->wfd >= 0) {
		close(sp->wfd);
		sp->wfd = -1;
		sp->dirty = false;
	}
	memmove(&sp->segs[0], &sp->segs[1],
		(sp->nsegs - 1) * sizeof(*sp->segs));
	sp->nsegs--;
	sp->bytes -= s.bytes;
	if (undelivered) {
		uint64_t m = min_acked(sp), lost, from;

		if (s.last > m) {
			from = s.first > m ? s.first : m + 1;
			lost = s.first > m ? s.records : s.last - m;
			if (lost > s.records)
				lost = s.records;
			if (sp->loss_count == 0)
				sp->loss_first = from;
			sp->loss_last = s.last;
			sp->loss_count += lost;
			sp->overwritten += lost;
		}
		for (i = 0; i < sp->nreaders; i++) {
			struct spool_reader *r = sp->readers[i];

			if (r->acked < s.last)
				r->acked = s.last;
			if (r->read_seq < s.last)
				r->read_seq = s.last;
		}
	}
	return 0;
}

static int write_all(int fd, const void *buf, size_t len, off_t off)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ENOSPC;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

static int do_sync(struct spool *sp)
{
	if (sp->wfd < 0 || !sp->dirty)
		return 0;
	if (fdatasync(sp->wfd) < 0)
		return -errno;
	sp->dirty = false;
	sp->syncs++;
	return 0;
}

/* creates seg-<first>.cds with its header; returns the fd */
static int seg_create(struct spool *sp, uint64_t first)
{
	uint8_t hdr[SPOOL_HEADER_LEN];
	char name[64];
	int fd, rc;

	seg_name(name, sizeof(name), first);
	fd = openat(sp->dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0640);
	if (fd < 0)
		return -errno;
	memcpy(hdr, SPOOL_MAGIC, 8);
	put32(hdr + 8, SPOOL_VERSION);
	put32(hdr + 12, 0);
	rc = write_all(fd, hdr, sizeof(hdr), 0);
	if (rc < 0) {
		close(fd);
		unlinkat(sp->dfd, name, 0);
		return rc;
	}
	return fd;
}

int spool_append(struct spool *sp, uint64_t seq, const uint8_t chain[32],
		 const void *rec, size_t len)
{
	uint64_t need = SPOOL_REC_OVERHEAD + len;
	struct spool_seg *cur;
	bool rotate;
	int rc = 0, nfd = -1;
	char name[64];

	if (len == 0 || len > SPOOL_RECORD_MAX || rec == NULL || chain == NULL)
		return -EINVAL;
	pthread_mutex_lock(&sp->mu);
	if (seq == 0 || (sp->ever && seq <= sp->last_seq)) {
		rc = -EINVAL;
		goto out;
	}
	cur = sp->nsegs && sp->wfd >= 0 ? &sp->segs[sp->nsegs - 1] : NULL;
	rotate = cur == NULL || cur->bytes + need > sp->o.segment_size;
	if (rotate)
		need += SPOOL_HEADER_LEN;
	while (sp->bytes + need > sp->o.capacity) {
		/* when rotating every existing segment may go */
		unsigned deletable = rotate ? sp->nsegs : sp->nsegs - 1;

		if (sp->o.full == SPOOL_FULL_DROP_NEW || deletable == 0) {
			sp->dropped_new++;
			rc = -ENOBUFS;
			goto out;
		}
		rc = seg_delete_oldest(sp, true);
		if (rc < 0)
			goto out;
		rc = fsync_dir(sp);
		if (rc < 0)
			goto out;
	}
	/* deleting moved the array under cur */
	cur = sp->nsegs && sp->wfd >= 0 ? &sp->segs[sp->nsegs - 1] : NULL;
	if (!rotate && cur == NULL) {
		rc = -EIO; /* the current segment is never deleted here */
		goto out;
	}

	put32(sp->wbuf, (uint32_t)len);
	put64(sp->wbuf + 4, seq);
	memcpy(sp->wbuf + 12, chain, 32);
	memcpy(sp->wbuf + SPOOL_REC_OVERHEAD, rec, len);
	put32(sp->wbuf + 44, rec_crc(sp->wbuf, rec, len));

	if (rotate) {
		struct spool_seg s = {
			seq, seq, 1, SPOOL_HEADER_LEN + SPOOL_REC_OVERHEAD + len
		};

		nfd = seg_create(sp, seq);
		if (nfd < 0) {
			rc = nfd;
			goto out;
		}
		rc = write_all(nfd, sp->wbuf, SPOOL_REC_OVERHEAD + len,
			       SPOOL_HEADER_LEN);
		if (rc == 0 && sp->o.fsync_ms == 0 && fdatasync(nfd) < 0)
			rc = -errno;
		if (rc == 0)
			rc = segs_insert(sp, sp->nsegs, &s);
		if (rc < 0) {
			/* no segment without its first record */
			close(nfd);
			seg_name(name, sizeof(name), seq);
			unlinkat(sp->dfd, name, 0);
			fsync_dir(sp);
			goto out;
		}
		/* the old segment is complete: make it durable before the
		 * only handle that spool_sync knows moves on */
		if (sp->wfd >= 0) {
			do_sync(sp);
			close(sp->wfd);
		}
		sp->wfd = nfd;
		sp->dirty = sp->o.fsync_ms != 0;
		if (sp->o.fsync_ms == 0)
			sp->syncs++;
		sp->bytes += s.bytes;
		fsync_dir(sp);
	} else {
		rc = write_all(sp->wfd, sp->wbuf, SPOOL_REC_OVERHEAD + len,
			       (off_t)cur->bytes);
		if (rc == 0 && sp->o.fsync_ms == 0 && fdatasync(sp->wfd) < 0)
			rc = -errno;
		if (rc < 0) {
			/* nothing half-written stays behind */
			if (ftruncate(sp->wfd, (off_t)cur->bytes) == 0)
				fdatasync(sp->wfd);
			goto out;
		}
		if (sp->o.fsync_ms == 0)
			sp->syncs++;
		else
			sp->dirty = true;
		cur->last = seq;
		cur->records++;
		cur->bytes += need;
		sp->bytes += need;
	}
	sp->last_seq = seq;
	memcpy(sp->last_chain, chain, 32);
	sp->ever = true;
	sp->appends++;
out:
	pthread_mutex_unlock(&sp->mu);
	return rc;
}

int spool_sync(struct spool *sp)
{
	int rc;

	pthread_mutex_lock(&sp->mu);
	rc = do_sync(sp);
	pthread_mutex_unlock(&sp->mu);
	return rc;
}

bool spool_last(struct spool *sp, uint64_t *seq, uint8_t chain[32])
{
	bool ever;

	pthread_mutex_lock(&sp->mu);
	ever = sp->ever;
	if (seq != NULL)
		*seq = ever ? sp->last_seq : 0;
	if (chain != NULL) {
		if (ever)
			memcpy(chain, sp->last_chain, 32);
		else
			memset(chain, 0, 32);
	}
	pthread_mutex_unlock(&sp->mu);
	return ever;
}

bool spool_take_loss(struct spool *sp, uint64_t *count, uint64_t *first_seq,
		     uint64_t *last_seq)
{
	bool any;

	pthread_mutex_lock(&sp->mu);
	any = sp->loss_count > 0;
	if (count != NULL)
		*count = sp->loss_count;
	if (first_seq != NULL)
		*first_seq = any ? sp->loss_first : 0;
	if (last_seq != NULL)
		*last_seq = any ? sp->loss_last : 0;
	sp->loss_count = sp->loss_first = sp->loss_last = 0;
	pthread_mutex_unlock(&sp->mu);
	return any;
}

void spool_stats(struct spool *sp, struct spool_stats *st)
{
	unsigned i;

	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&sp->mu);
	st->bytes = sp->bytes;
	st->capacity = sp->o.capacity;
	for (i = 0; i < sp->nsegs; i++)
		st->records += sp->segs[i].records;
	st->segments = sp->nsegs;
	if (sp->nsegs) {
		st->first_seq = sp->segs[0].first;
		st->last_seq = sp->segs[sp->nsegs - 1].last;
	}
	st->appends = sp->appends;
	st->syncs = sp->syncs;
	st->dropped_new = sp->dropped_new;
	st->overwritten = sp->overwritten;
	st->fill_pct = sp->o.capacity ?
			       (unsigned)(sp->bytes * 100 / sp->o.capacity) :
			       0;
	pthread_mutex_unlock(&sp->mu);
}

/* --- open: recovery ------------------------------------------------------- */

struct scan_acc {
	uint64_t first, last, records;
	uint8_t chain[32];
};

static int scan_cb(uint64_t seq, const uint8_t chain[32], const void *rec,
		   size_t len, void *arg)
{
	struct scan_acc *a = arg;

	(void)rec;
	(void)len;
	if (a->records == 0)
		a->first = seq;
	a->last = seq;
	memcpy(a->chain, chain, 32);
	a->records++;
	return 0;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	while (len--)
		if (*p++)
			return false;
	return true;
}

/* a crash mid-append leaves a prefix of the last record (or, after a
 * power loss, zeros): nothing valid can follow the bad spot */
bool spool_torn_tail(const void *image, size_t len, size_t off)
{
	const uint8_t *img = image;
	uint32_t rlen;

	if (len - off < SPOOL_REC_OVERHEAD)
		return true;
	if (all_zero(img + off, len - off))
		return true;
	rlen = get32(img + off);
	return rlen == 0 || rlen > SPOOL_RECORD_MAX ||
	       (uint64_t)off + SPOOL_REC_OVERHEAD + rlen >= len;
}

static void quarantine(struct spool *sp, const char *name, const char *why,
		       uint64_t off, uint64_t est,
		       struct spool_open_report *rep)
{
	char to[96];

	snprintf(to, sizeof(to), "%s.corrupt", name);
	if (renameat(sp->dfd, name, sp->dfd, to) < 0)
		unlinkat(sp->dfd, name, 0); /* never read it again */
	if (rep->quarantined++ == 0) {
		snprintf(rep->quarantine_first, sizeof(rep->quarantine_first),
			 "%s", name);
		snprintf(rep->quarantine_reason, sizeof(rep->quarantine_reason),
			 "%s at offset %" PRIu64, why, off);
	}
	rep->quarantined_records += est;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* "seg-<16 lower-case hex>.cds", exactly what seg_name writes */
static bool parse_seg_name(const char *s, uint64_t *first)
{
	uint64_t v = 0;
	int i;

	if (strlen(s) != 24 || strncmp(s, "seg-", 4) != 0 ||
	    strcmp(s + 20, ".cds") != 0)
		return false;
	for (i = 4; i < 20; i++) {
		char c = s[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return false;
	}
	*first = v;
	return true;
}

/* the first seqs of seg-*.cds in the directory, sorted */
static int list_segments(struct spool *sp, uint64_t **out, unsigned *n)
{
	uint64_t *v = NULL;
	unsigned cnt = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int fd;

	fd = dup(sp->dfd);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d)) != NULL) {
		uint64_t first;

		if (!parse_seg_name(de->d_name, &first))
			continue;
		if (cnt == cap) {
			void *p;

			cap = cap ? cap * 2 : 16;
			p = realloc(v, cap * sizeof(*v));
			if (p == NULL) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = p;
		}
		v[cnt++] = first;
	}
	closedir(d);
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_u64);
	*out = v;
	*n = cnt;
	return 0;
}

/* scans one segment file; keeps, truncates, deletes or quarantines it */
static int recover_segment(struct spool *sp, uint64_t first, bool newest,
			   struct spool_open_report *rep, char *err,
			   size_t errlen)
{
	struct scan_acc a = { 0, 0, 0, { 0 } };
	struct spool_seg s;
	const char *why = NULL;
	void *img = NULL;
	struct stat st;
	char name[64];
	long end;
	int fd, rc = 0;

	seg_name(name, sizeof(name), first);
	fd = openat(sp->dfd, name, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s/%s: %s", sp->dir, name,
			 strerror(-rc));
		goto out;
	}
	if (st.st_size > 0) {
		img = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd,
			   0);
		if (img == MAP_FAILED) {
			img = NULL;
			rc = -errno;
			snprintf(err, errlen, "%s/%s: mmap: %s", sp->dir, name,
				 strerror(-rc));
			goto out;
		}
	}
	end = spool_segment_scan(img, (size_t)st.st_size, scan_cb, &a, &why);
	if (end < 0) {
		/* a crash between create and the header write */
		if (newest && st.st_size < SPOOL_HEADER_LEN &&
		    (st.st_size == 0 ||
		     memcmp(img, SPOOL_MAGIC "\1\0\0\0\0\0\0",
			    (size_t)st.st_size) == 0)) {
			rep->truncated_bytes += (uint64_t)st.st_size;
			unlinkat(sp->dfd, name, 0);
		} else {
			quarantine(sp, name, why, 0, 0, rep);
		}
		goto out;
	}
	if (a.records && a.first != first) {
		quarantine(sp, name, "first seq differs from the file name",
			   SPOOL_HEADER_LEN, a.records, rep);
		goto out;
	}
	if (a.records && sp->ever && a.first <= sp->last_seq) {
		quarantine(sp, name, "seq goes back", SPOOL_HEADER_LEN,
			   a.records, rep);
		goto out;
	}
	if ((uint64_t)end < (uint64_t)st.st_size) {
		if (!newest ||
		    !spool_torn_tail(img, (size_t)st.st_size, (size_t)end)) {
			uint64_t est = a.records;

			if (a.records && end > SPOOL_HEADER_LEN)
				est += ((uint64_t)st.st_size - (uint64_t)end) /
				       (((uint64_t)end - SPOOL_HEADER_LEN) /
					a.records);
			quarantine(sp, name, why, (uint64_t)end, est, rep);
			/* the newest keeps the writer's position: its valid
			 * prefix was written, seqs must not repeat */
			if (newest && a.records && a.last > sp->last_seq) {
				sp->last_seq = a.last;
				memcpy(sp->last_chain, a.chain, 32);
				sp->ever = true;
			}
			goto out;
		}
		rep->truncated_bytes += (uint64_t)st.st_size - (uint64_t)end;
		if (ftruncate(fd, end) < 0 || fdatasync(fd) < 0) {
			rc = -errno;
			snprintf(err, errlen,
				 "%s/%s: cutting the torn tail: %s", sp->dir,
				 name, strerror(-rc));
			goto out;
		}
	}
	if (a.records == 0) {
		/* header only: a crash before the first record */
		unlinkat(sp->dfd, name, 0);
		goto out;
	}
	s.first = a.first;
	s.last = a.last;
	s.records = a.records;
	s.bytes = (uint64_t)end;
	rc = segs_insert(sp, sp->nsegs, &s);
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", sp->dir, strerror(-rc));
		goto out;
	}
	sp->bytes += s.bytes;
	sp->last_seq = a.last;
	memcpy(sp->last_chain, a.chain, 32);
	sp->ever = true;
	rep->segments++;
	rep->records += a.records;
out:
	if (img != NULL)
		munmap(img, (size_t)st.st_size);
	if (fd >= 0)
		close(fd);
	return rc;
}

int spool_open(const struct spool_opts *o, struct spool **out,
	       struct spool_open_report *rep, char *err, size_t errlen)
{
	struct spool_open_report dummy;
	struct spool *sp = NULL;
	uint64_t *firsts = NULL;
	unsigned n = 0, i;
	char ebuf[8];
	int rc;

	if (err == NULL || errlen == 0) {
		err = ebuf;
		errlen = sizeof(ebuf);
	}
	err[0] = '\0';
	if (rep == NULL)
		rep = &dummy;
	memset(rep, 0, sizeof(*rep));
	*out = NULL;
	if (o == NULL || o->dir == NULL || o->dir[0] == '\0') {
		snprintf(err, errlen, "audit spool: no directory");
		return -EINVAL;
	}
	if (o->segment_size < SPOOL_SEG_MIN) {
		snprintf(err, errlen,
			 "audit spool %s: segment size %" PRIu64
			 " below the minimum %u",
			 o->dir, o->segment_size, SPOOL_SEG_MIN);
		return -EINVAL;
	}
	if (o->capacity < 2 * o->segment_size ||
	    o->capacity < 2 * (uint64_t)SPOOL_REC_BIG) {
		snprintf(err, errlen,
			 "audit spool %s: capacity %" PRIu64
			 " must hold two segments of %" PRIu64
			 " and two records of %u",
			 o->dir, o->capacity, o->segment_size,
			 (unsigned)SPOOL_REC_BIG);
		return -EINVAL;
	}
	if (o->full != SPOOL_FULL_OVERWRITE_OLDEST &&
	    o->full != SPOOL_FULL_DROP_NEW) {
		snprintf(err, errlen, "audit spool %s: bad full policy %d",
			 o->dir, (int)o->full);
		return -EINVAL;
	}
	if (mkdir(o->dir, 0750) < 0 && errno != EEXIST) {
		rc = -errno;
		snprintf(err, errlen, "audit spool %s: mkdir: %s", o->dir,
			 strerror(-rc));
		return rc;
	}
	sp = calloc(1, sizeof(*sp));
	if (sp == NULL) {
		snprintf(err, errlen, "audit spool %s: out of memory", o->dir);
		return -ENOMEM;
	}
	sp->dfd = sp->wfd = -1;
	sp->o = *o;
	sp->dir = strdup(o->dir);
	sp->o.dir = sp->dir;
	if (sp->dir == NULL) {
		rc = -ENOMEM;
		snprintf(err, errlen, "audit spool %s: out of memory", o->dir);
		goto fail;
	}
	pthread_mutex_init(&sp->mu, NULL);
	sp->dfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dfd < 0) {
		rc = -errno;
		snprintf(err, errlen, "audit spool %s: %s", o->dir,
			 strerror(-rc));
		goto fail;
	}
	rc = list_segments(sp, &firsts, &n);
	if (rc < 0) {
		snprintf(err, errlen, "audit spool %s: reading it: %s", o->dir,
			 strerror(-rc));
		goto fail;
	}
	for (i = 0; i < n; i++) {
		rc = recover_segment(sp, firsts[i], i + 1 == n, rep, err,
				     errlen);
		if (rc < 0)
			goto fail;
	}
	free(firsts);
	firsts = NULL;
	if (rep->quarantined || rep->truncated_bytes || n != sp->nsegs)
		fsync_dir(sp);
	if (sp->nsegs) {
		char name[64];

		seg_name(name, sizeof(name), sp->segs[sp->nsegs - 1].first);
		sp->wfd = openat(sp->dfd, name, O_WRONLY | O_CLOEXEC);
		if (sp->wfd < 0) {
			rc = -errno;
			snprintf(err, errlen, "audit spool %s/%s: %s", o->dir,
				 name, strerror(-rc));
			goto fail;
		}
	}
	*out = sp;
	return 0;
fail:
	free(firsts);
	if (sp->dfd >= 0)
		close(sp->dfd);
	if (sp->dir != NULL)
		pthread_mutex_destroy(&sp->mu);
	free(sp->segs);
	free(sp->dir);
	free(sp);
	return rc;
}

void spool_close(struct spool *sp)
{
	if (sp == NULL)
		return;
	pthread_mutex_lock(&sp->mu);
	do_sync(sp);
	if (sp->wfd >= 0)
		close(sp->wfd);
	close(sp->dfd);
	pthread_mutex_unlock(&sp->mu);
	pthread_mutex_destroy(&sp->mu);
	free(sp->segs);
	free(sp->dir);
	free(sp);
}

/* --- readers -------------------------------------------------------------- */

static bool name_ok(const char *s)
{
	size_t n = 0;

	if (s == NULL)
		return false;
	for (; s[n]; n++) {
		char c = s[n];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == '-'))
			return false;
	}
	return n > 0 && n <= SPOOL_NAME_MAX && strcmp(s, ".") != 0 &&
	       strcmp(s, "..") != 0;
}

/* the persisted delivered seq; -ENOENT when absent or unreadable */
static int cursor_load(struct spool *sp, const char *name, uint64_t *seq)
{
	uint8_t b[SPOOL_CURSOR_LEN + 1];
	char fn[64];
	ssize_t n;
	int fd;

	snprintf(fn, sizeof(fn), "cursor-%s", name);
	fd = openat(sp->dfd, fn, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, b, sizeof(b));
	close(fd);
	if (n != SPOOL_CURSOR_LEN || crc32c(0, b, 8) != get32(b + 8))
		return -EBADMSG;
	*seq = get64(b);
	return 0;
}

static int cursor_store(struct spool *sp, const char *name, uint64_t seq)
{
	uint8_t b[SPOOL_CURSOR_LEN];
	char fn[64], tmp[72];
	int fd, rc;

	snprintf(fn, sizeof(fn), "cursor-%s", name);
	snprintf(tmp, sizeof(tmp), "cursor-%s.tmp", name);
	put64(b, seq);
	put32(b + 8, crc32c(0, b, 8));
	fd = openat(sp->dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0640);
	if (fd < 0)
		return -errno;
	rc = write_all(fd, b, sizeof(b), 0);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	if (rc == 0 && renameat(sp->dfd, tmp, sp->dfd, fn) < 0)
		rc = -errno;
	if (rc < 0) {
		unlinkat(sp->dfd, tmp, 0);
		return rc;
	}
	return fsync_dir(sp);
}

int spool_reader_open(struct spool *sp, const char *name,
		      struct spool_reader **out)
{
	struct spool_reader *r;
	uint64_t seq = 0;
	unsigned i;
	int rc = 0;

	*out = NULL;
	if (!name_ok(name))
		return -EINVAL;
	pthread_mutex_lock(&sp->mu);
	for (i = 0; i < sp->nreaders; i++)
		if (strcmp(sp->readers[i]->name, name) == 0) {
			rc = -EBUSY;
			goto out;
		}
	if (sp->nreaders == SPOOL_READERS_MAX) {
		rc = -EMFILE;
		goto out;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	r->sp = sp;
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->fd = -1;
	/* a new reader (or one whose cursor was damaged: resend rather than
	 * lose) starts at the oldest record present */
	if (cursor_load(sp, name, &seq) < 0)
		seq = sp->nsegs ? sp->segs[0].first - 1 : sp->last_seq;
	if (seq > sp->last_seq)
		seq = sp->last_seq;
	r->acked = r->read_seq = seq;
	sp->readers[sp->nreaders++] = r;
	*out = r;
out:
	pthread_mutex_unlock(&sp->mu);
	return rc;
}

void spool_reader_close(struct spool_reader *r)
{
	struct spool *sp;
	unsigned i;

	if (r == NULL)
		return;
	sp = r->sp;
	pthread_mutex_lock(&sp->mu);
	for (i = 0; i < sp->nreaders; i++)
		if (sp->readers[i] == r) {
			sp->readers[i] = sp->readers[--sp->nreaders];
			break;
		}
	pthread_mutex_unlock(&sp->mu);
	if (r->fd >= 0)
		close(r->fd);
	free(r);
}

static int read_all(int fd, void *buf, size_t len, off_t off)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = pread(fd, p, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO; /* shorter than the spool says */
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* opens the segment holding the first record after read_seq and finds it;
 * 0 when there is no such record */
static int reader_locate(struct spool_reader *r)
{
	struct spool *sp = r->sp;
	struct spool_seg *s = NULL;
	uint8_t h[SPOOL_REC_OVERHEAD];
	char name[64];
	unsigned i;
	int rc;

	if (r->fd >= 0) {
		close(r->fd);
		r->fd = -1;
	}
	for (i = 0; i < sp->nsegs; i++)
		if (sp->segs[i].last > r->read_seq) {
			s = &sp->segs[i];
			break;
		}
	if (s == NULL)
		return 0;
	seg_name(name, sizeof(name), s->first);
	r->fd = openat(sp->dfd, name, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0)
		return -errno;
	r->fd_first = s->first;
	r->off = SPOOL_HEADER_LEN;
	while (r->off < s->bytes) {
		rc = read_all(r->fd, h, sizeof(h), (off_t)r->off);
		if (rc < 0)
			return rc;
		if (get64(h + 4) > r->read_seq)
			break;
		r->off += SPOOL_REC_OVERHEAD + get32(h);
	}
	return 1;
}

int spool_reader_next(struct spool_reader *r, void *buf, size_t cap,
		      size_t *len, uint64_t *seq)
{
	struct spool *sp = r->sp;
	uint8_t h[SPOOL_REC_OVERHEAD];
	struct spool_seg *s;
	uint32_t rlen;
	int rc;

	pthread_mutex_lock(&sp->mu);
	for (;;) {
		s = r->fd >= 0 ? seg_find(sp, r->fd_first) : NULL;
		if (s == NULL) {
			rc = reader_locate(r);
			if (rc <= 0)
				goto out;
			continue;
		}
		if (r->off >= s->bytes) {
			rc = 0;
			if (s == &sp->segs[sp->nsegs - 1])
				goto out;
			close(r->fd);
			r->fd = -1;
			continue;
		}
		rc = read_all(r->fd, h, sizeof(h), (off_t)r->off);
		if (rc < 0)
			goto out;
		rlen = get32(h);
		if (rlen == 0 || rlen > SPOOL_RECORD_MAX ||
		    r->off + SPOOL_REC_OVERHEAD + rlen > s->bytes) {
			rc = -EIO;
			goto out;
		}
		if (cap < rlen) {
			rc = -ENOBUFS;
			goto out;
		}
		rc = read_all(r->fd, buf, rlen,
			      (off_t)(r->off + SPOOL_REC_OVERHEAD));
		if (rc < 0)
			goto out;
		if (rec_crc(h, buf, rlen) != get32(h + 44)) {
			rc = -EIO; /* changed under us since open */
			goto out;
		}
		r->off += SPOOL_REC_OVERHEAD + rlen;
		if (get64(h + 4) <= r->read_seq)
			continue;
		r->read_seq = get64(h + 4);
		*seq = r->read_seq;
		*len = rlen;
		rc = 1;
		goto out;
	}
out:
	pthread_mutex_unlock(&sp->mu);
	return rc;
}

void spool_reader_rewind(struct spool_reader *r)
{
	struct spool *sp = r->sp;

	pthread_mutex_lock(&sp->mu);
	r->read_seq = r->acked;
	if (r->fd >= 0) {
		close(r->fd);
		r->fd = -1;
	}
	pthread_mutex_unlock(&sp->mu);
}

int spool_reader_ack(struct spool_reader *r, uint64_t seq)
{
	struct spool *sp = r->sp;
	bool deleted = false, stored;
	int rc = 0;

	pthread_mutex_lock(&sp->mu);
	if (seq > sp->last_seq) {
		rc = -EINVAL;
		goto out;
	}
	if (seq <= r->acked)
		goto out;
	/*
	 * A full disk must not keep the spool full: what was delivered may go
	 * even before the cursor says so (a cursor behind only resends), then
	 * the cursor is written into the room that made.
	 */
	rc = cursor_store(sp, r->name, seq);
	if (rc < 0 && rc != -ENOSPC)
		goto out;
	stored = rc == 0;
	r->acked = seq;
	if (r->read_seq < seq)
		r->read_seq = seq;
	while (sp->nsegs > 1 && sp->segs[0].last <= min_acked(sp)) {
		rc = seg_delete_oldest(sp, false);
		if (rc < 0)
			goto out;
		deleted = true;
	}
	rc = deleted ? fsync_dir(sp) : 0;
	if (rc == 0 && !stored)
		rc = cursor_store(sp, r->name, seq);
out:
	pthread_mutex_unlock(&sp->mu);
	return rc;
}

uint64_t spool_reader_acked(const struct spool_reader *r)
{
	struct spool *sp = r->sp;
	uint64_t v;

	pthread_mutex_lock(&sp->mu);
	v = r->acked;
	pthread_mutex_unlock(&sp->mu);
	return v;
}

uint64_t spool_reader_backlog(const struct spool_reader *r)
{
	struct spool *sp = r->sp;
	uint64_t n = 0, part;
	unsigned i;

	pthread_mutex_lock(&sp->mu);
	for (i = 0; i < sp->nsegs; i++) {
		const struct spool_seg *s = &sp->segs[i];

		if (s->last <= r->acked)
			continue;
		if (s->first > r->acked) {
			n += s->records;
			continue;
		}
		part = s->last - r->acked; /* seqs are dense in a segment */
		n += part < s->records ? part : s->records;
	}
	pthread_mutex_unlock(&sp->mu);
	return n;
}
