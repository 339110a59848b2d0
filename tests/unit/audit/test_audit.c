/*
 * The audit event schema and the pipeline core: event builder limits,
 * record formatting (escaping, parameter order, timestamps, chain), and the
 * whole path events -> queue -> writer -> spool -> sender -> a real TCP
 * collector in this process (octet counting on 127.0.0.1), with outages,
 * restarts, queue overflow and a full spool.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "audit/chain.h"
#include "audit/rfc5424.h"
#include "audit/spool.h"

#define SD_ID "conduitd@32473"

/* --- helpers ------------------------------------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static char *make_dir(void)
{
	/* per-test watchdog (criterion's .timeout leaks in its runner) */
	alarm(120);
	char *d = strdup("/tmp/test_audit.XXXXXX");

	cr_assert(d != NULL && mkdtemp(d) != NULL);
	return d;
}

static void drop_dir(char *d)
{
	nftw(d, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(d);
}

/* One parsed record: the raw bytes and what the tests look at. */
struct rec {
	char *raw;
	size_t len;
	uint64_t seq;
	char msgid[R5424_MSGID_MAX + 1];
};

struct recs {
	struct rec *v;
	size_t n, cap;
};

static void recs_add(struct recs *rs, const char *raw, size_t len)
{
	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? rs->cap * 2 : 256;
		rs->v = realloc(rs->v, rs->cap * sizeof(*rs->v));
		cr_assert(rs->v != NULL);
	}
	rs->v[rs->n].raw = malloc(len + 1);
	cr_assert(rs->v[rs->n].raw != NULL);
	memcpy(rs->v[rs->n].raw, raw, len);
	rs->v[rs->n].raw[len] = '\0';
	rs->v[rs->n].len = len;
	rs->v[rs->n].seq = 0;
	rs->v[rs->n].msgid[0] = '\0';
	rs->n++;
}

static void recs_free(struct recs *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		free(rs->v[i].raw);
	free(rs->v);
	memset(rs, 0, sizeof(*rs));
}

/* Value of a conduitd@32473 parameter of raw into out; false if absent. */
static bool rec_param(const struct rec *r, const char *name, char *out,
		      size_t outlen)
{
	static char scratch[R5424_MAX_LEN * 2];
	struct r5424_msg m;
	const struct r5424_elem *e;
	const char *v;

	if (r5424_parse(r->raw, r->len, &m, scratch, sizeof(scratch), NULL))
		return false;
	e = r5424_find_elem(&m, SD_ID);
	if (e == NULL)
		return false;
	v = r5424_find_param(&m, e, name);
	if (v == NULL)
		return false;
	snprintf(out, outlen, "%s", v);
	return true;
}

/* Parses every record (each must parse) and fills seq and msgid. */
static void recs_parse(struct recs *rs)
{
	static char scratch[R5424_MAX_LEN * 2];
	struct r5424_error err;
	struct r5424_msg m;
	char v[32];

	for (size_t i = 0; i < rs->n; i++) {
		struct rec *r = &rs->v[i];

		cr_assert_eq(r5424_parse(r->raw, r->len, &m, scratch,
					 sizeof(scratch), &err),
			     0, "record %zu does not parse (%s at %zu): %s", i,
			     err.reason, err.offset, r->raw);
		cr_assert(m.msgid != NULL);
		snprintf(r->msgid, sizeof(r->msgid), "%s", m.msgid);
		cr_assert(rec_param(r, "seq", v, sizeof(v)), "no seq: %s",
			  r->raw);
		r->seq = strtoull(v, NULL, 10);
	}
}

static uint64_t rec_u64(const struct rec *r, const char *name)
{
	char v[64];

	cr_assert(rec_param(r, name, v, sizeof(v)), "no %s in %s", name,
		  r->raw);
	return strtoull(v, NULL, 10);
}

/* Runs the chain verifier over rs (anchor zeros unless from_mid). */
static void verify(const struct recs *rs, bool from_mid,
		   struct chain_verify_report *out)
{
	static const uint8_t zeros[CHAIN_LEN];
	struct chain_verifier *v;

	v = chain_verify_new(SD_ID, from_mid ? NULL : zeros, NULL, 0);
	cr_assert(v != NULL);
	for (size_t i = 0; i < rs->n; i++)
		chain_verify_feed(v, rs->v[i].raw, rs->v[i].len);
	*out = *chain_verify_report(v);
	chain_verify_free(v);
}

/* --- an in-process TCP collector (RFC 6587 octet counting) ---------------- */

struct coll {
	pthread_t th;
	pthread_mutex_t mu;
	int lfd;
	int port;
	char portstr[8];
	bool down; /* refuse connections, drop the current one */
	bool quit;
	unsigned slow_us; /* > 0: read 512 bytes, then sleep this long */
	uint64_t conns;
	struct recs rs;
};

static int listen_on(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	cr_assert(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 16) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Records the whole frames of buf[0..*have) and keeps the partial tail. */
static void coll_frames(struct coll *c, char *buf, size_t *have)
{
	for (;;) {
		size_t i = 0, len = 0;

		while (i < *have && buf[i] >= '0' && buf[i] <= '9')
			len = len * 10 + (size_t)(buf[i++] - '0');
		if (i == *have)
			return;
		cr_assert(buf[i] == ' ' && i > 0, "bad frame");
		i++;
		if (*have - i < len)
			return;
		pthread_mutex_lock(&c->mu);
		recs_add(&c->rs, buf + i, len);
		pthread_mutex_unlock(&c->mu);
		/* (a loop: valgrind flags a fortified memmove here) */
		for (size_t k = 0; k + i + len < *have; k++)
			buf[k] = buf[k + i + len];
		*have -= i + len;
	}
}

static void *coll_main(void *arg)
{
	static char buf[1 << 17];
	struct coll *c = arg;
	int cfd = -1;
	size_t have = 0;
	ssize_t n;

	for (;;) {
		struct pollfd p[2];
		bool down, quit;
		int np = 0;

		pthread_mutex_lock(&c->mu);
		down = c->down;
		quit = c->quit;
		pthread_mutex_unlock(&c->mu);
		if (quit)
			break;
		if (down) {
			/*
			 * Like a collector that stops: what its TCP already
			 * acknowledged is processed, the rest is reset.
			 * (Delivery is proven at the TCP level: bytes acked
			 * and then thrown away by the peer are beyond it.)
			 */
			if (cfd >= 0) {
				int q = 0;

				/* only what is queued now, not the stream */
				if (ioctl(cfd, FIONREAD, &q) < 0)
					q = 0;
				while (q > 0 && have < sizeof(buf)) {
					size_t want = sizeof(buf) - have;

					if (want > (size_t)q)
						want = (size_t)q;
					n = recv(cfd, buf + have, want,
						 MSG_DONTWAIT);
					if (n <= 0)
						break;
					q -= (int)n;
					have += (size_t)n;
					coll_frames(c, buf, &have);
				}
				close(cfd);
			}
			if (c->lfd >= 0)
				close(c->lfd);
			cfd = c->lfd = -1;
			have = 0;
		} else if (c->lfd < 0) {
			c->lfd = listen_on(c->port);
		}
		if (c->lfd >= 0) {
			p[np].fd = c->lfd;
			p[np++].events = POLLIN;
		}
		if (cfd >= 0) {
			p[np].fd = cfd;
			p[np++].events = POLLIN;
		}
		if (poll(p, (nfds_t)np, 10) <= 0)
			continue;
		if (c->lfd >= 0 && (p[0].revents & POLLIN)) {
			int fd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC);

			if (fd >= 0) {
				int rb = 4096;

				/* slow: a small window, so the sender's
				 * kernel holds what we did not read */
				pthread_mutex_lock(&c->mu);
				if (c->slow_us)
					setsockopt(fd, SOL_SOCKET, SO_RCVBUF,
						   &rb, sizeof(rb));
				pthread_mutex_unlock(&c->mu);
				/* the sender has one connection: a new one
				 * replaces the old */
				if (cfd >= 0)
					close(cfd);
				cfd = fd;
				have = 0;
				pthread_mutex_lock(&c->mu);
				c->conns++;
				pthread_mutex_unlock(&c->mu);
			}
			continue;
		}
		if (cfd < 0)
			continue;
		pthread_mutex_lock(&c->mu);
		unsigned slow = c->slow_us;
		pthread_mutex_unlock(&c->mu);
		n = read(cfd, buf + have,
			 slow && sizeof(buf) - have > 512 ? 512 :
							    sizeof(buf) - have);
		if (slow)
			usleep(slow);
		if (n <= 0) {
			close(cfd);
			cfd = -1;
			have = 0;
			continue;
		}
		have += (size_t)n;
		coll_frames(c, buf, &have);
	}
	if (cfd >= 0)
		close(cfd);
	if (c->lfd >= 0)
		close(c->lfd);
	return NULL;
}

static void coll_start(struct coll *c, bool down)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
	c->lfd = listen_on(0);
	cr_assert(c->lfd >= 0);
	cr_assert_eq(getsockname(c->lfd, (struct sockaddr *)&sa, &sl), 0);
	c->port = ntohs(sa.sin_port);
	snprintf(c->portstr, sizeof(c->portstr), "%d", c->port);
	c->down = down;
	cr_assert_eq(pthread_create(&c->th, NULL, coll_main, c), 0);
}

static void coll_set_down(struct coll *c, bool down)
{
	pthread_mutex_lock(&c->mu);
	c->down = down;
	pthread_mutex_unlock(&c->mu);
}

static size_t coll_count(struct coll *c)
{
	size_t n;

	pthread_mutex_lock(&c->mu);
	n = c->rs.n;
	pthread_mutex_unlock(&c->mu);
	return n;
}

/* Records whose raw text contains s. */
static size_t coll_count_str(struct coll *c, const char *s)
{
	size_t n = 0;

	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->rs.n; i++)
		n += strstr(c->rs.v[i].raw, s) != NULL;
	pthread_mutex_unlock(&c->mu);
	return n;
}

static void coll_stop(struct coll *c)
{
	pthread_mutex_lock(&c->mu);
	c->quit = true;
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->th, NULL);
	pthread_mutex_destroy(&c->mu);
}

/* --- pipeline set-up ------------------------------------------------------ */

static void base_opts(struct audit_opts *o, const char *dir)
{
	memset(o, 0, sizeof(*o));
	o->pen = 32473;
	o->facility = 13;
	o->hostname = "gw1.test";
	o->spool.dir = dir;
	o->spool.capacity = 4u << 20;
	o->spool.segment_size = 256u << 10;
	o->spool.full = SPOOL_FULL_OVERWRITE_OLDEST;
	o->spool.fsync_ms = 50;
	o->warn_pct = 80;
}

static void add_coll(struct audit_opts *o, struct coll *c)
{
	struct audit_collector_opts *co = &o->collectors[o->ncollectors++];

	snprintf(co->name, sizeof(co->name), "c%u", o->ncollectors);
	co->t.proto = TRANSPORT_TCP;
	co->t.host = "127.0.0.1";
	co->t.port = c->portstr;
	co->t.connect_timeout_ms = 1000;
	co->backoff_min_ms = 20;
	co->backoff_max_ms = 200;
	co->settle_ms = 200;
}

static void emit_cmd(struct audit *a, unsigned i)
{
	struct audit_event ev;

	audit_event_init(&ev, AUDIT_MGMT_COMMAND);
	audit_event_add(&ev, "cmd", "policy apply");
	audit_event_add_u64(&ev, "i", i);
	audit_event_msgf(&ev, "test command %u", i);
	audit_emit(a, &ev);
}

/*
 * Until the writer has gone quiet (nothing written, failed or refused for
 * 200 ms) and cond holds; st gets the last stats.
 */
static void wait_quiet(struct audit *a, struct audit_stats *st,
		       bool (*cond)(const struct audit_stats *))
{
	uint64_t end = now_ms() + 60000, key = UINT64_MAX, since = now_ms();

	while (now_ms() < end) {
		uint64_t k;

		audit_get_stats(a, st);
		k = st->written * 31 + st->write_failures * 7 +
		    st->spool.dropped_new + st->spool.overwritten * 3;
		if (k != key) {
			key = k;
			since = now_ms();
		} else if (now_ms() - since >= 200 && (!cond || cond(st))) {
			return;
		}
		sleep_ms(10);
	}
	cr_assert_fail("the writer never went quiet");
}

static bool has_dropped(const struct audit_stats *st)
{
	return st->spool.dropped_new > 0;
}

static bool has_overwritten(const struct audit_stats *st)
{
	return st->spool.overwritten > 0;
}

static bool has_failures(const struct audit_stats *st)
{
	return st->write_failures > 0;
}

static void wait_for_str(struct coll *c, const char *s, size_t n,
			 unsigned timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;

	while (coll_count_str(c, s) < n && now_ms() < end)
		sleep_ms(10);
	cr_assert_geq(coll_count_str(c, s), n, "only %zu of %zu \"%s\"",
		      coll_count_str(c, s), n, s);
}

/*
 * Dedups by seq (first copy kept): asserts that copies of one seq are
 * byte-identical and that seq runs from first without a gap. Returns the
 * number of duplicates.
 */
static size_t check_seqs(const struct recs *all, uint64_t first,
			 struct recs *uniq)
{
	uint64_t want = first;
	size_t dups = 0;

	for (size_t i = 0; i < all->n; i++) {
		const struct rec *r = &all->v[i];
		bool seen = false;

		for (size_t j = 0; j < uniq->n; j++) {
			if (uniq->v[j].seq != r->seq)
				continue;
			cr_assert(uniq->v[j].len == r->len &&
					  !memcmp(uniq->v[j].raw, r->raw,
						  r->len),
				  "seq %llu resent with other bytes",
				  (unsigned long long)r->seq);
			seen = true;
			dups++;
			break;
		}
		if (seen)
			continue;
		/* a resend may go back, never past the next new record */
		cr_assert_eq(r->seq, want, "got seq %llu, want %llu",
			     (unsigned long long)r->seq,
			     (unsigned long long)want);
		want++;
		recs_add(uniq, r->raw, r->len);
		uniq->v[uniq->n - 1].seq = r->seq;
		memcpy(uniq->v[uniq->n - 1].msgid, r->msgid, sizeof(r->msgid));
	}
	return dups;
}

/* MGMT_COMMAND records carry i = 0, 1, ... in order; returns how many. */
static unsigned check_cmd_order(const struct recs *uniq)
{
	unsigned want = 0;

	for (size_t i = 0; i < uniq->n; i++) {
		if (strcmp(uniq->v[i].msgid, "MGMT_COMMAND"))
			continue;
		cr_assert_eq(rec_u64(&uniq->v[i], "i"), want,
			     "command %u out of order (seq %llu)", want,
			     (unsigned long long)uniq->v[i].seq);
		want++;
	}
	return want;
}

/* Records of the spool directory, in seq order (segment names sort). */
static int scan_cb(uint64_t seq, const uint8_t chain[32], const void *rec,
		   size_t len, void *arg)
{
	(void)seq;
	(void)chain;
	recs_add(arg, rec, len);
	return 0;
}

static int name_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

static void read_spool(const char *dir, struct recs *rs)
{
	char *names[256], path[512];
	size_t nn = 0;
	struct dirent *de;
	DIR *d = opendir(dir);

	cr_assert(d != NULL);
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);

		if (strncmp(de->d_name, "seg-", 4) || l < 8 ||
		    strcmp(de->d_name + l - 4, ".cds"))
			continue;
		cr_assert(nn < 256);
		names[nn++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, nn, sizeof(names[0]), name_cmp);
	for (size_t i = 0; i < nn; i++) {
		static char img[8u << 20];
		ssize_t n;
		int fd;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		fd = open(path, O_RDONLY);
		cr_assert(fd >= 0);
		n = read(fd, img, sizeof(img));
		close(fd);
		cr_assert(n >= 0);
		cr_assert_eq(spool_segment_scan(img, (size_t)n, scan_cb, rs,
						NULL),
			     n, "segment %s has a bad record", path);
		free(names[i]);
	}
}

/* --- the schema and the builder ------------------------------------------ */

/* CR 2.8 */
Test(audit_event, schema_table_complete)
{
	for (int t = 0; t < AUDIT_TYPE_COUNT; t++) {
		const struct audit_type_info *ti = audit_type_info(t);

		cr_assert(ti != NULL);
		cr_assert(ti->msgid && strlen(ti->msgid) > 0 &&
			  strlen(ti->msgid) <= R5424_MSGID_MAX);
		for (const char *p = ti->msgid; *p; p++)
			cr_assert(*p > 32 && *p < 127, "msgid %s", ti->msgid);
		cr_assert(!strncmp(ti->req, "CR ", 3) ||
				  !strncmp(ti->req, "NDR ", 4),
			  "%s: req \"%s\"", ti->msgid, ti->req);
		cr_assert(ti->what && ti->what[0]);
		cr_assert((unsigned)ti->severity <= AUDIT_SEV_DEBUG);
		cr_assert_eq(audit_type_by_msgid(ti->msgid), t,
			     "msgid %s not unique", ti->msgid);
	}
	cr_assert_null(audit_type_info(AUDIT_TYPE_COUNT));
	cr_assert_eq(audit_type_by_msgid("NO_SUCH"), -1);
	cr_assert_eq(audit_type_by_msgid(NULL), -1);
	cr_assert_str_eq(audit_type_info(AUDIT_SPOOL_THRESHOLD)->req, "CR 2.9");
	cr_assert_eq(audit_type_info(AUDIT_AUDIT_LOSS)->severity,
		     AUDIT_SEV_ERR);
}

Test(audit_event, builder_keeps_order_and_counts_what_does_not_fit)
{
	static struct audit_event ev;
	char big[AUDIT_EVENT_BUF + 100];

	audit_event_init(&ev, AUDIT_POLICY_APPLY);
	cr_assert_eq(ev.severity, AUDIT_SEV_NOTICE);
	audit_event_add(&ev, "file", "/etc/conduitd/plant.yaml");
	audit_event_add_u64(&ev, "rules", 18446744073709551615ull);
	audit_event_addf(&ev, "sha256", "%08x", 0xdeadbeefu);
	audit_event_add(&ev, "empty", "");
	cr_assert_eq(ev.nparams, 4);
	cr_assert_str_eq(audit_event_name(&ev, 0), "file");
	cr_assert_str_eq(audit_event_value(&ev, 1), "18446744073709551615");
	cr_assert_str_eq(audit_event_value(&ev, 2), "deadbeef");
	cr_assert_str_eq(audit_event_value(&ev, 3), "");
	cr_assert_null(audit_event_name(&ev, 4));
	cr_assert_eq(ev.truncated, 0);

	/* bad names are programming errors: dropped and counted */
	audit_event_add(&ev, "Upper", "x");
	audit_event_add(&ev, "with space", "x");
	audit_event_add(&ev, "", "x");
	audit_event_add(&ev, NULL, "x");
	audit_event_add(&ev, "a23456789012345678901234567890123", "x");
	cr_assert_eq(ev.nparams, 4);
	cr_assert_eq(ev.truncated, 5);
	audit_event_add(&ev, "a2345678901234567890123456789012", "x");
	cr_assert_eq(ev.nparams, 5);

	/* too many parameters */
	for (int i = ev.nparams; i < AUDIT_EVENT_PARAMS; i++)
		audit_event_add(&ev, "p", "v");
	cr_assert_eq(ev.nparams, AUDIT_EVENT_PARAMS);
	audit_event_add(&ev, "one_more", "v");
	cr_assert_eq(ev.nparams, AUDIT_EVENT_PARAMS);
	cr_assert_eq(ev.truncated, 6);

	/* a value longer than the room left is cut on a UTF-8 boundary */
	audit_event_init(&ev, AUDIT_MGMT_COMMAND);
	memset(big, 'a', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	/* "\xc3\xbc" (u umlaut) straddles the cut */
	big[AUDIT_EVENT_BUF - 4] = '\xc3';
	big[AUDIT_EVENT_BUF - 3] = '\xbc';
	audit_event_add(&ev, "v", big);
	cr_assert_eq(ev.nparams, 1);
	cr_assert_eq(ev.truncated, 1);
	cr_assert_leq(ev.used, AUDIT_EVENT_BUF);
	cr_assert_eq(strlen(audit_event_value(&ev, 0)), AUDIT_EVENT_BUF - 4,
		     "cut at %zu", strlen(audit_event_value(&ev, 0)));
	/* full now: the next parameter is dropped */
	audit_event_add(&ev, "w", "x");
	cr_assert_eq(ev.nparams, 1);
	cr_assert_eq(ev.truncated, 2);

	/* the message is cut too, counted, never mid-character */
	audit_event_init(&ev, AUDIT_MGMT_COMMAND);
	memset(big, 'b', AUDIT_EVENT_MSG + 10);
	big[AUDIT_EVENT_MSG - 2] = '\xe2'; /* euro sign, 3 bytes */
	big[AUDIT_EVENT_MSG - 1] = '\x82';
	big[AUDIT_EVENT_MSG] = '\xac';
	big[AUDIT_EVENT_MSG + 10] = '\0';
	audit_event_msgf(&ev, "%s", big);
	cr_assert_eq(strlen(ev.msg), AUDIT_EVENT_MSG - 2);
	cr_assert_eq(ev.truncated, 1);
}

/* --- record formatting --------------------------------------------------- */

static const char *find(const struct r5424_msg *m, const char *id,
			const char *name)
{
	const struct r5424_elem *e = r5424_find_elem(m, id);

	return e ? r5424_find_param(m, e, name) : NULL;
}

/* CR 2.8: control characters in values and the text become '?': a record
 * stays one line and verifies at a collector that rewrites them */
Test(audit_event, control_characters_are_replaced)
{
	struct audit_event ev;

	audit_event_init(&ev, AUDIT_POLICY_REJECT);
	audit_event_add(&ev, "file",
			"a\nb\tc\x7f\x01"
			"d");
	audit_event_msgf(&ev, "line one\nline two");
	cr_assert_str_eq(audit_event_value(&ev, 0), "a?b?c??d");
	cr_assert_str_eq(ev.msg, "line one?line two");
	cr_assert_eq(ev.truncated, 0);
}

/* CR 3.9: the record (canonical bytes with the chain spliced in) is exactly
 * what the formatter makes of its parsed fields, for plain, escaped, empty
 * and near-limit events */
Test(audit_format, spliced_record_equals_the_formatter)
{
	static struct audit_event ev;
	static char buf[R5424_MAX_LEN], again[R5424_MAX_LEN];
	static char scratch[R5424_MAX_LEN * 2], big[2900];
	struct audit_opts o;
	struct r5424_msg m;
	struct chain c;
	uint8_t cv[32];
	size_t len, len2;

	base_opts(&o, "/nonexistent");
	chain_init(&c, NULL, NULL, 0);
	for (int k = 0; k < 4; k++) {
		audit_event_init(&ev, AUDIT_POLICY_APPLY);
		if (k == 1) {
			audit_event_add(&ev, "v", "q\" b\\ ] [x] \\\"");
			audit_event_msgf(&ev, "text ] with \" and \\");
		} else if (k == 2) {
			audit_event_add(&ev, "empty", "");
		} else if (k == 3) {
			memset(big, ']', sizeof(big) - 1);
			big[sizeof(big) - 1] = '\0';
			audit_event_add(&ev, "big",
					big); /* escapes double it */
			audit_event_msgf(&ev, "%s", "long one");
		} else {
			audit_event_add(&ev, "name", "plant.yaml");
			audit_event_msgf(&ev, "policy applied");
		}
		ev.time_us = 1764590433123456ll + k;
		cr_assert_eq(audit_format_record(&o, "gw", 7, (uint64_t)k + 1,
						 &c, &ev, buf, sizeof(buf),
						 &len, cv),
			     0, "event %d", k);
		cr_assert_eq(r5424_parse(buf, len, &m, scratch, sizeof(scratch),
					 NULL),
			     0, "event %d: %.*s", k, (int)len, buf);
		cr_assert_eq(r5424_format(&m, again, sizeof(again), &len2), 0);
		cr_assert_eq(len2, len, "event %d", k);
		cr_assert(memcmp(again, buf, len) == 0, "event %d:\n%s\n%s", k,
			  buf, again);
	}
}

/* CR 2.8 */
Test(audit_format, record_with_every_special_character)
{
	static struct audit_event ev;
	static char buf[R5424_MAX_LEN], scratch[R5424_MAX_LEN * 2];
	static const char *const vals[] = {
		"quote\" backslash\\ bracket] end",
		"[open = equals; 'single' `tick`",
		"UTF-8: \xc3\xbc \xe2\x82\xac \xf0\x9f\x98\x80",
		"line\nfeed\ttab",
		"\\\\\"\"]]",
	};
	struct audit_opts o;
	struct r5424_msg m;
	struct chain c;
	struct chain_verifier *v;
	uint8_t cv[32], cv2[32];
	size_t len;
	unsigned i;

	base_opts(&o, "/nonexistent");
	audit_event_init(&ev, AUDIT_MGMT_LOGIN_FAIL);
	for (i = 0; i < 5; i++)
		audit_event_add(&ev,
				(const char *[]){ "a", "b", "c", "d", "e" }[i],
				vals[i]);
	audit_event_add(&ev, "Bad Name", "dropped");
	audit_event_msgf(&ev, "user \"root\" ] \\ failed: \xc3\xbc");
	ev.time_us = 1764590433123456ll;
	chain_init(&c, NULL, NULL, 0);
	cr_assert_eq(audit_format_record(&o, "gw1.test", 4242, 7, &c, &ev, buf,
					 sizeof(buf), &len, cv),
		     0);
	cr_assert_lt(len, sizeof(buf));
	cr_assert_eq(r5424_parse(buf, len, &m, scratch, sizeof(scratch), NULL),
		     0, "does not parse: %s", buf);
	cr_assert_eq(m.pri, 13 * 8 + AUDIT_SEV_WARNING);
	cr_assert_str_eq(m.hostname, "gw1.test");
	cr_assert_str_eq(m.app, "conduitd");
	cr_assert_str_eq(m.procid, "4242");
	cr_assert_str_eq(m.msgid, "MGMT_LOGIN_FAIL");
	cr_assert(m.bom);
	cr_assert_eq(m.msg_len, strlen(ev.msg));
	cr_assert(!memcmp(m.msg, ev.msg, m.msg_len));

	/* order: seq, req, the event's, truncated, chain */
	cr_assert_eq(m.nelems, 2);
	cr_assert_str_eq(m.elems[0].id, SD_ID);
	cr_assert_eq(m.elems[0].nparams, 2 + 5 + 2);
	cr_assert_str_eq(m.params[0].name, "seq");
	cr_assert_str_eq(m.params[0].value, "7");
	cr_assert_str_eq(m.params[1].name, "req");
	cr_assert_str_eq(m.params[1].value, "CR 1.11");
	for (i = 0; i < 5; i++) {
		cr_assert_str_eq(m.params[2 + i].name,
				 audit_event_name(&ev, i));
		/* control characters arrive as '?' (audit_event_add) */
		cr_assert_str_eq(m.params[2 + i].value,
				 i == 3 ? "line?feed?tab" : vals[i]);
	}
	cr_assert_str_eq(m.params[7].name, "truncated");
	cr_assert_str_eq(m.params[7].value, "1");
	cr_assert_str_eq(m.params[8].name, "chain");
	cr_assert_eq(chain_unhex(m.params[8].value, cv2), 0);
	cr_assert(!memcmp(cv, cv2, 32));
	cr_assert(!memcmp(c.prev, cv, 32), "chain state not advanced");
	cr_assert_str_eq(m.elems[1].id, "timeQuality");
	cr_assert_str_eq(find(&m, "timeQuality", "tzKnown"), "1");
	cr_assert(!strcmp(find(&m, "timeQuality", "isSynced"), "0") ||
		  !strcmp(find(&m, "timeQuality", "isSynced"), "1"));
	/* the raw text escapes exactly '"', '\' and ']' */
	cr_assert(strstr(buf, "a=\"quote\\\" backslash\\\\ bracket\\] end\""));
	cr_assert(strstr(buf, "b=\"[open = equals; 'single' `tick`\""));

	/* the chain value is what a verifier recomputes */
	v = chain_verify_new(SD_ID, NULL, NULL, 0);
	cr_assert(v != NULL);
	cr_assert_neq(chain_verify_feed(v, buf, len), CHAIN_BROKEN);
	chain_verify_free(v);
	/* and every byte is covered: change one character of a value */
	buf[strstr(buf, "bracket") - buf] = 'B';
	v = chain_verify_new(SD_ID, (const uint8_t[CHAIN_LEN]){ 0 }, NULL, 0);
	cr_assert(v != NULL);
	cr_assert_eq(chain_verify_feed(v, buf, len), CHAIN_BROKEN);
	chain_verify_free(v);
}

/* CR 3.9 */
Test(audit_format, hmac_chain_needs_the_key)
{
	static struct audit_event ev;
	static char buf[R5424_MAX_LEN];
	static const uint8_t key[32] = { 1, 2, 3, 4, 5 };
	static const uint8_t zeros[CHAIN_LEN];
	struct audit_opts o;
	struct chain c;
	struct chain_verifier *v;
	uint8_t cv[32];
	size_t len;

	base_opts(&o, "/nonexistent");
	audit_event_init(&ev, AUDIT_DAEMON_START);
	audit_event_add(&ev, "version", "1.0");
	chain_init(&c, NULL, key, sizeof(key));
	cr_assert_eq(audit_format_record(&o, "gw", 1, 1, &c, &ev, buf,
					 sizeof(buf), &len, cv),
		     0);
	v = chain_verify_new(SD_ID, zeros, key, sizeof(key));
	cr_assert_neq(chain_verify_feed(v, buf, len), CHAIN_BROKEN);
	chain_verify_free(v);
	v = chain_verify_new(SD_ID, zeros, NULL, 0);
	cr_assert_eq(chain_verify_feed(v, buf, len), CHAIN_BROKEN);
	chain_verify_free(v);
}

static void ts_of(const char *tz, int64_t us, char *out, size_t outlen)
{
	static struct audit_event ev;
	static char buf[R5424_MAX_LEN], scratch[R5424_MAX_LEN * 2];
	struct audit_opts o;
	struct r5424_msg m;
	struct chain c;
	uint8_t cv[32];
	size_t len;

	setenv("TZ", tz, 1);
	tzset();
	base_opts(&o, "/nonexistent");
	audit_event_init(&ev, AUDIT_TIME_CHANGE);
	ev.time_us = us;
	chain_init(&c, NULL, NULL, 0);
	cr_assert_eq(audit_format_record(&o, "gw", 1, 1, &c, &ev, buf,
					 sizeof(buf), &len, cv),
		     0);
	cr_assert_eq(r5424_parse(buf, len, &m, scratch, sizeof(scratch), NULL),
		     0);
	snprintf(out, outlen, "%s", m.timestamp);
}

/* CR 2.11 */
Test(audit_format, timestamps_have_microseconds_and_an_offset)
{
	const int64_t us = 1764590433000042ll; /* 2025-12-01T12:00:33.000042Z */
	regex_t re;
	char ts[64];
	int64_t back;
	int off;

	cr_assert_eq(regcomp(&re,
			     "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"
			     "[0-9]{2}\\.[0-9]{6}(Z|[+-][0-9]{2}:[0-9]{2})$",
			     REG_EXTENDED | REG_NOSUB),
		     0);
	ts_of("UTC0", us, ts, sizeof(ts));
	cr_assert_str_eq(ts, "2025-12-01T12:00:33.000042Z");
	ts_of("IST-5:30", us, ts, sizeof(ts));
	cr_assert_str_eq(ts, "2025-12-01T17:30:33.000042+05:30");
	cr_assert_eq(regexec(&re, ts, 0, NULL, 0), 0, "%s", ts);
	cr_assert_eq(r5424_timestamp_parse(ts, strlen(ts), &back, &off), 0);
	cr_assert_eq(back, us);
	cr_assert_eq(off, 5 * 3600 + 1800);
	ts_of("EST5", us, ts, sizeof(ts));
	cr_assert_str_eq(ts, "2025-12-01T07:00:33.000042-05:00");
	/* time_us 0 is "now" */
	ts_of("UTC0", 0, ts, sizeof(ts));
	cr_assert_eq(regexec(&re, ts, 0, NULL, 0), 0, "%s", ts);
	cr_assert_eq(r5424_timestamp_parse(ts, strlen(ts), &back, &off), 0);
	cr_assert(llabs(back - (int64_t)time(NULL) * 1000000) < 5000000);
	regfree(&re);
}

/* --- the pipeline -------------------------------------------------------- */

/* CR 2.8 */
Test(audit_pipeline, thousand_events_arrive_in_order_and_verify)
{
	char *dir = make_dir(), err[256];
	struct audit_opts o;
	struct audit_stats st;
	struct audit *a;
	struct coll c;
	struct recs uniq = { 0 };
	struct chain_verify_report rep;

	coll_start(&c, false);
	base_opts(&o, dir);
	add_coll(&o, &c);
	cr_assert_eq(audit_open(&o, &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(audit_start(a), 0);
	for (unsigned i = 0; i < 1000; i++)
		emit_cmd(a, i);
	wait_for_str(&c, "MGMT_COMMAND", 1000, 30000);
	audit_get_stats(a, &st);
	cr_assert_geq(st.emitted, 1000);
	cr_assert_eq(st.queue_drops, 0);
	cr_assert_eq(st.ncollectors, 1);
	cr_assert_str_eq(st.c[0].name, "c1");
	cr_assert(st.c[0].up);
	audit_close(a, 5000);
	coll_stop(&c);

	recs_parse(&c.rs);
	cr_assert_eq(check_seqs(&c.rs, 1, &uniq), 0, "duplicates");
	cr_assert_eq(check_cmd_order(&uniq), 1000);
	cr_assert(strstr(c.rs.v[0].raw, "MGMT_COMMAND") ||
		  strstr(c.rs.v[0].raw, "COLLECTOR_UP"));
	cr_assert_eq(coll_count_str(&c, "COLLECTOR_UP"), 1);
	verify(&c.rs, false, &rep);
	cr_assert(!rep.broken, "chain broken at %llu: %s",
		  (unsigned long long)rep.broken_seq, rep.reason);
	cr_assert_eq(rep.records, uniq.n);
	cr_assert_eq(rep.duplicates, 0);
	cr_assert_eq(rep.first_seq, 1);
	recs_free(&uniq);
	recs_free(&c.rs);
	drop_dir(dir);
}

/* CR 2.8 */
Test(audit_pipeline, collector_outage_loses_nothing)
{
	char *dir = make_dir(), err[256];
	struct audit_opts o;
	struct audit_stats st;
	struct audit *a;
	struct coll c;
	struct recs uniq = { 0 };
	struct chain_verify_report rep;
	unsigned i;
	size_t downs = 0, ups = 0;

	coll_start(&c, false);
	base_opts(&o, dir);
	add_coll(&o, &c);
	cr_assert_eq(audit_open(&o, &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(audit_start(a), 0);
	for (i = 0; i < 500; i++)
		emit_cmd(a, i);
	wait_for_str(&c, "MGMT_COMMAND", 200, 30000);
	coll_set_down(&c, true); /* mid-stream: connection closed, refused */
	for (; i < 1000; i++) {
		emit_cmd(a, i);
		if (i % 100 == 0)
			sleep_ms(20);
	}
	sleep_ms(300);
	audit_get_stats(a, &st);
	cr_assert(!st.c[0].up);
	cr_assert_gt(st.c[0].failures, 0);
	cr_assert_gt(st.c[0].backlog, 0);
	cr_assert_neq(st.c[0].last_error[0], '\0');
	coll_set_down(&c, false);
	wait_for_str(&c, "test command 999", 1, 30000);
	audit_get_stats(a, &st);
	cr_assert_geq(st.c[0].connects, 2);
	audit_close(a, 5000);
	coll_stop(&c);

	recs_parse(&c.rs);
	check_seqs(&c.rs, 1, &uniq);
	cr_assert_eq(check_cmd_order(&uniq), 1000);
	for (size_t j = 0; j < uniq.n; j++) {
		downs += !strcmp(uniq.v[j].msgid, "COLLECTOR_DOWN");
		ups += !strcmp(uniq.v[j].msgid, "COLLECTOR_UP");
	}
	cr_assert_geq(downs, 1);
	cr_assert_geq(ups, 2);
	verify(&c.rs, false, &rep);
	cr_assert(!rep.broken, "chain broken at %llu: %s",
		  (unsigned long long)rep.broken_seq, rep.reason);
	cr_assert_eq(rep.records, uniq.n);
	cr_assert_eq(rep.records + rep.duplicates, c.rs.n);
	recs_free(&uniq);
	recs_free(&c.rs);
	drop_dir(dir);
}

/* CR 2.8, CR 2.10: a slow collector (256 KB/s) slows nothing else: every
 * event is accepted and spooled at once while the backlog waits for the
 * collector, nothing is dropped, and all of it arrives in order once the
 * collector catches up */
Test(audit_pipeline, slow_collector_blocks_nothing_and_loses_nothing)
{
	char *dir = make_dir(), err[256];
	struct audit_opts o;
	struct audit_stats st;
	struct audit *a;
	struct coll c;
	struct recs uniq = { 0 };
	struct chain_verify_report rep;
	unsigned i;

	coll_start(&c, false);
	pthread_mutex_lock(&c.mu);
	c.slow_us = 2000;
	pthread_mutex_unlock(&c.mu);
	base_opts(&o, dir);
	add_coll(&o, &c);
	o.queue_len = 4096;
	cr_assert_eq(audit_open(&o, &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(audit_start(a), 0);
	for (i = 0; i < 3000; i++)
		emit_cmd(a, i);
	/* the writer keeps up with the emitter; the collector does not */
	for (int w = 0; w < 500; w++) {
		audit_get_stats(a, &st);
		if (st.written >= 3000)
			break;
		sleep_ms(10);
	}
	cr_assert_geq(st.written, 3000, "spooled %llu",
		      (unsigned long long)st.written);
	cr_assert_eq(st.queue_drops, 0);
	cr_assert_gt(st.c[0].backlog, 1000, "backlog %llu",
		     (unsigned long long)st.c[0].backlog);
	pthread_mutex_lock(&c.mu);
	c.slow_us = 0;
	pthread_mutex_unlock(&c.mu);
	wait_for_str(&c, "test command 2999", 1, 60000);
	audit_close(a, 5000);
	coll_stop(&c);

	recs_parse(&c.rs);
	check_seqs(&c.rs, 1, &uniq);
	cr_assert_eq(check_cmd_order(&uniq), 3000);
	verify(&c.rs, false, &rep);
	cr_assert(!rep.broken, "chain broken at %llu: %s",
		  (unsigned long long)rep.broken_seq, rep.reason);
	recs_free(&uniq);
	recs_free(&c.rs);
	drop_dir(dir);
}

/* CR 3.9 */
Test(audit_pipeline, reopen_continues_seq_and_chain)
{
	char *dir = make_dir(), err[256];
	struct audit_opts o;
	struct audit *a;
	struct coll c;
	struct recs uniq = { 0 };
	struct chain_verify_report rep;
	uint64_t run1_last;

	coll_start(&c, false);
	base_opts(&o, dir);
	add_coll(&o, &c);
	cr_assert_eq(audit_open(&o, &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(audit_start(a), 0);
	for (unsigned i = 0; i < 10; i++)
		emit_cmd(a, i);
	audit_close(a, 5000);
	cr_assert_geq(coll_count_str(&c, "MGMT_COMMAND"), 10,
		      "close did not drain");
	run1_last = coll_count(&c);

	cr_assert_eq(audit_open(&o, &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(audit_start(a), 0);
	for (unsigned i = 10; i < 20; i++)
		emit_cmd(a, i);
	audit_close(a, 5000);
	coll_stop(&c);

	recs_parse(&c.rs);
	cr_assert_eq(check_seqs(&c.rs, 1, &uniq), 0);
	cr_assert_eq(check_cmd_order(&uniq), 20);
	cr_assert_gt(uniq.v[run1_last].seq, uniq.v[run1_last - 1].seq);
	verify(&c.rs, false, &rep);
	cr_assert(!rep.broken, "chain broken at %llu: %s",
		  (unsigned long long)rep.broken_seq, rep.reason);
	cr_assert_eq(rep.records, uniq.n);
	recs_free(&uniq);
	recs_free(&c.rs);
	drop_dir(dir);
}

/* CR 2.10 */
Test(audit_pipeline, queue_overflow_is_recorded_with_the_exact_count)
{
	char *dir = make_dir(), err[256], jpath[512], line[R5424_MAX_LEN * 2];
	struct audit_opts o;
	struct audit_stats st;
	struct audit *a;
	struct recs rs = { 0 };
	struct chain_verify_report rep;
	FILE *f;
	unsigned n = 0;

	snprintf(jpath, sizeof(jpath), "%s/audit.jsonl", dir);
	base_opts(&o, dir);
	o.queue_len = 8;
	o.jsonl_path = jpath;
	cr_assert_eq(audit_open(&o, &a, err, sizeof(err)), 0, "%s", err);
	/* the writer is not running yet: 8 fit, 992 are dropped */
	for (unsigned i = 0; i < 1000; i++)
		emit_cmd(a, i);
	audit_get_stats(a, &st);
	cr_assert_eq(st.emitted, 8);
	cr_assert_eq(st.queue_drops, 992);
	cr_assert_eq(audit_start(a), 0);
	audit_close(a, 0);

	read_spool(dir, &rs);
	recs_parse(&rs);
	cr_assert_eq(rs.n, 9);
	for (unsigned i = 0; i < 8; i++) {
		cr_assert_str_eq(rs.v[i].msgid, "MGMT_COMMAND");
		cr_assert_eq(rec_u64(&rs.v[i], "i"), i);
	}
	cr_assert_str_eq(rs.v[8].msgid, "AUDIT_LOSS");
	cr_assert_eq(rec_u64(&rs.v[8], "count"), 992);
	cr_assert(strstr(rs.v[8].raw, "cause=\"queue-overflow\""));
	cr_assert(strstr(rs.v[8].raw, "req=\"CR 2.10\""));
	verify(&rs, false, &rep);
	cr_assert(!rep.broken, "%s", rep.reason);
	cr_assert_eq(rep.records, 9);

	/* the JSON Lines copy has the same records */
	f = fopen(jpath, "r");
	cr_assert(f != NULL);
	while (fgets(line, sizeof(line), f)) {
		json_error_t je;
		json_t *j = json_loads(line, 0, &je), *p;
		char chain[CHAIN_HEX_LEN];

		cr_assert(j != NULL, "line %u: %s", n + 1, je.text);
		cr_assert_eq(
			(uint64_t)json_integer_value(json_object_get(j, "seq")),
			rs.v[n].seq);
		cr_assert_str_eq(json_string_value(json_object_get(j, "msgid")),
				 rs.v[n].msgid);
		cr_assert_str_eq(json_string_value(json_object_get(j, "host")),
				 "gw1.test");
		cr_assert_str_eq(json_string_value(json_object_get(j, "app")),
				 "conduitd");
		cr_assert_eq(json_integer_value(json_object_get(j, "facility")),
			     13);
		cr_assert(rec_param(&rs.v[n], "chain", chain, sizeof(chain)));
		cr_assert_str_eq(json_string_value(json_object_get(j, "chain")),
				 chain);
		p = json_object_get(j, "params");
		cr_assert(json_is_object(p));
		cr_assert_null(json_object_get(p, "seq"));
		if (n == 8) {
			cr_assert_str_eq(
				json_string_value(json_object_get(p, "count")),
				"992");
			cr_assert_str_eq(
				json_string_value(json_object_get(j, "req")),
				"CR 2.10");
			cr_assert_str_eq(json_string_value(json_object_get(
						 j, "severity")),
					 "err");
		}
		json_decref(j);
		n++;
	}
	fclose(f);
	cr_assert_eq(n, 9);
	recs_free(&rs);
	drop_dir(dir);
}

static bool is_internal(const struct rec *r)
{
	return !strcmp(r->msgid, "SPOOL_FULL") ||
	       !strcmp(r->msgid, "AUDIT_LOSS") ||
	       !strcmp(r->msgid, "SPOOL_THRESHOLD");
}

/* CR 2.9, CR 2.9 RE(1), CR 2.10 */
Test(audit_pipeline, drop_new_full_spool_counts_the_refused)
{
	char *dir = make_dir(), err[256];
	struct audit_opts o;
	struct audit_stats st;
	struct audit *a;
	struct coll c;
	struct recs uniq = { 0 };
	struct chain_verify_report rep;
	uint64_t lost = 0, full = 0, queued = 0, thresholds = 0;
	unsigned cmds;

	coll_start(&c, true); /* collector refusing from the start */
	base_opts(&o, dir);
	o.spool.capacity = 24576;
	o.spool.segment_size = 4096;
	o.spool.full = SPOOL_FULL_DROP_NEW;
	add_coll(&o, &c);
	cr_assert_eq(audit_open(&o, &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(audit_start(a), 0);
	for (unsigned i = 0; i < 200; i++)
		emit_cmd(a, i);
	wait_quiet(a, &st, has_dropped);
	cr_assert_gt(st.spool.dropped_new, 0);
	cr_assert_geq(st.spool.fill_pct, 80);
	coll_set_down(&c, false);
	wait_for_str(&c, "cause=\"drop-new\"", 1, 30000);
	audit_get_stats(a, &st);
	audit_close(a, 5000);
	coll_stop(&c);

	recs_parse(&c.rs);
	check_seqs(&c.rs, 1, &uniq);
	cmds = check_cmd_order(&uniq);
	cr_assert_lt(cmds, 200);
	for (size_t j = 0; j < uniq.n; j++) {
		const struct rec *r = &uniq.v[j];

		if (!strcmp(r->msgid, "AUDIT_LOSS")) {
			cr_assert(strstr(r->raw, "cause=\"drop-new\""));
			lost += rec_u64(r, "count");
		} else if (!strcmp(r->msgid, "SPOOL_FULL")) {
			cr_assert(strstr(r->raw, "policy=\"drop-new\""));
			full += rec_u64(r, "dropped");
		} else if (!strcmp(r->msgid, "SPOOL_THRESHOLD")) {
			cr_assert_geq(rec_u64(r, "fill_pct"), 80);
			thresholds++;
		}
		if (!is_internal(r))
			queued++;
	}
	/* every event accepted into the queue is either delivered or in
	 * the loss count: exactly */
	cr_assert_eq(lost, st.emitted - queued,
		     "lost %llu, emitted %llu, "
		     "delivered %llu",
		     (unsigned long long)lost, (unsigned long long)st.emitted,
		     (unsigned long long)queued);
	cr_assert_geq(lost, 200 - cmds);
	cr_assert_eq(full, lost);
	cr_assert_geq(thresholds, 1); /* CR 2.9 on the way up */
	verify(&c.rs, false, &rep);
	cr_assert(!rep.broken, "%s", rep.reason);
	recs_free(&uniq);
	recs_free(&c.rs);
	drop_dir(dir);
}

/* CR 2.10 */
Test(audit_pipeline, overwrite_oldest_records_the_lost_range)
{
	char *dir = make_dir(), err[256];
	struct audit_opts o;
	struct audit *a;
	struct coll c;
	struct recs uniq = { 0 };
	struct chain_verify_report rep;
	uint64_t lost = 0, first = 0, last = 0;
	struct audit_stats st;

	coll_start(&c, true);
	base_opts(&o, dir);
	o.spool.capacity = 24576;
	o.spool.segment_size = 4096;
	add_coll(&o, &c);
	cr_assert_eq(audit_open(&o, &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(audit_start(a), 0);
	for (unsigned i = 0; i < 200; i++)
		emit_cmd(a, i);
	wait_quiet(a, &st, has_overwritten);
	coll_set_down(&c, false);
	wait_for_str(&c, "test command 199", 1, 30000);
	audit_close(a, 5000);
	coll_stop(&c);

	recs_parse(&c.rs);
	cr_assert_gt(c.rs.n, 0);
	check_seqs(&c.rs, c.rs.v[0].seq, &uniq);
	cr_assert_gt(uniq.v[0].seq, 1, "nothing was overwritten");
	for (size_t j = 0; j < uniq.n; j++) {
		const struct rec *r = &uniq.v[j];

		if (strcmp(r->msgid, "AUDIT_LOSS"))
			continue;
		cr_assert(strstr(r->raw, "cause=\"overwrite-oldest\""));
		if (first == 0)
			first = rec_u64(r, "first_seq");
		cr_assert(rec_u64(r, "first_seq") == last + 1 || last == 0);
		last = rec_u64(r, "last_seq");
		lost += rec_u64(r, "count");
	}
	/*
	 * The loss records name exactly the records that never arrived: the
	 * ranges are contiguous and end just before the first survivor (an
	 * early loss record can itself be overwritten: a later one then
	 * covers it).
	 */
	cr_assert_geq(first, 1);
	cr_assert_gt(lost, 0);
	cr_assert_eq(lost, last - first + 1);
	cr_assert_eq(last, uniq.v[0].seq - 1);
	verify(&c.rs, true, &rep);
	cr_assert(!rep.broken, "%s", rep.reason);
	recs_free(&uniq);
	recs_free(&c.rs);
	drop_dir(dir);
}

/* CR 2.10 */
Test(audit_pipeline, spool_write_failure_keeps_what_it_can_and_counts_the_rest)
{
	char *dir = make_dir(), err[256];
	struct audit_opts o;
	struct audit_stats st;
	struct audit *a;
	struct recs rs = { 0 };
	struct chain_verify_report rep;
	struct rlimit rl;
	size_t fail_at = 0, cmds = 0, loss_at = 0;
	uint64_t lost = 0;

	base_opts(&o, dir);
	o.spool.segment_size = 1u << 20;
	cr_assert_eq(audit_open(&o, &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(audit_start(a), 0);
	/* a file size limit: the segment's writes fail with EFBIG */
	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
	rl.rlim_cur = 8192;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	for (unsigned i = 0; i < 100; i++)
		emit_cmd(a, i);
	wait_quiet(a, &st, has_failures);
	cr_assert_lt(st.written, 100);
	rl.rlim_cur = rl.rlim_max;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	/* the writer retries on its own (every 500 ms) */
	sleep_ms(600);
	wait_quiet(a, &st, NULL);
	audit_close(a, 0);

	read_spool(dir, &rs);
	recs_parse(&rs);
	for (size_t j = 0; j < rs.n; j++) {
		if (!strcmp(rs.v[j].msgid, "MGMT_COMMAND")) {
			cmds++;
		} else if (!strcmp(rs.v[j].msgid, "SPOOL_FAILURE")) {
			cr_assert_eq(fail_at, 0, "two SPOOL_FAILURE records");
			fail_at = j + 1;
			cr_assert(strstr(rs.v[j].raw, "File too large"), "%s",
				  rs.v[j].raw);
			cr_assert(strstr(rs.v[j].raw, "req=\"CR 2.10\""));
		} else if (!strcmp(rs.v[j].msgid, "AUDIT_LOSS")) {
			cr_assert(
				strstr(rs.v[j].raw, "cause=\"spool-failure\""));
			lost += rec_u64(&rs.v[j], "count");
			loss_at = j + 1;
		}
	}
	cr_assert_gt(fail_at, 0, "no SPOOL_FAILURE record");
	/* the failure record comes first, then the kept events, then the
	 * count of those that did not fit in memory */
	cr_assert_gt(loss_at, fail_at);
	cr_assert_gt(lost, 0);
	cr_assert_eq(cmds + lost, 100, "%zu commands + %llu lost", cmds,
		     (unsigned long long)lost);
	/* kept in memory: in order, no gap before the loss */
	cr_assert_eq(check_cmd_order(&rs), cmds);
	verify(&rs, false, &rep);
	cr_assert(!rep.broken, "%s", rep.reason);
	recs_free(&rs);
	drop_dir(dir);
}

Test(audit_pipeline, open_rejects_bad_options)
{
	char *dir = make_dir(), err[256];
	struct audit_opts o;
	struct audit *a;

	base_opts(&o, dir);
	o.facility = 24;
	cr_assert_eq(audit_open(&o, &a, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "24"), "%s", err);
	cr_assert_null(a);
	base_opts(&o, dir);
	o.jsonl_path = "/nonexistent/dir/audit.jsonl";
	cr_assert_lt(audit_open(&o, &a, err, sizeof(err)), 0);
	cr_assert(strstr(err, "/nonexistent/dir/audit.jsonl"), "%s", err);
	/* emit and close on NULL are no-ops */
	audit_emit(NULL, NULL);
	audit_close(NULL, 0);
	drop_dir(dir);
}
