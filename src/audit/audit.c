/*
 * The audit pipeline: a bounded in-memory queue of events fed by any
 * thread, one writer thread that numbers, chains, formats and spools each
 * event (and copies it to the optional JSON Lines file), and one sender
 * thread per collector that reads the spool through its own reader and
 * delivers at least once: a batch is acknowledged in the spool only after
 * the collector's TCP has acknowledged every byte and the connection stayed
 * healthy for settle_ms (transport.h). Failures of the spool itself (full,
 * disk full, I/O errors) become records of their own (CR 2.10) as soon as
 * the spool accepts records again.
 */
#include "common/clock.h"
#include "audit/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

#include "audit/chain.h"
#include "audit/rfc5424.h"
#include "common/log.h"

#define AUDIT_RETRY_MAX 32	 /* events kept while the spool fails */
#define AUDIT_RETRY_MS 500	 /* how often a failing spool is retried */
#define AUDIT_IDLE_MS 1000	 /* idle sender: health check period */
#define AUDIT_ACK_STALL_MS 30000 /* no TCP progress: give up the link */
#define AUDIT_BATCH_MIN 512	 /* records per batch (more with backlog) */
#define AUDIT_BATCH_MAX 65536
#define AUDIT_CKPTS 64 /* batches written, not yet proven delivered */
#define AUDIT_BATCH_BYTES (256u << 10)
#define AUDIT_BATCH_BYTES_MAX (16u << 20)

struct audit;

struct audit_sender {
	struct audit *a;
	struct audit_collector_opts o;
	struct transport *t;
	struct spool_reader *r;
	pthread_t th;
	bool running;
	uint64_t rng;
	char buf[SPOOL_RECORD_MAX];
	/* delivery proof (sender thread only): pending batches, oldest at
	 * ck0; the last seq written and the last one TCP-acknowledged on
	 * this connection */
	struct audit_ckpt {
		uint64_t seq, n, at;
	} ck[AUDIT_CKPTS];
	unsigned ck0, nck;
	uint64_t written, tcp_acked;
	uint64_t progress; /* when the send queue last moved */
	size_t unacked;
	unsigned settle; /* ms */
	/* under a->mu */
	struct audit_collector_stats st;
};

struct audit {
	struct audit_opts o;
	char hostname[R5424_HOSTNAME_MAX + 1];
	char sd_id[32];
	char spool_dir[4096];
	char jsonl_path[4096];
	int pid;
	struct spool *sp;
	int jsonl_fd;

	pthread_mutex_t mu;
	pthread_cond_t wcond; /* writer: events queued, stop */
	pthread_cond_t scond; /* senders: records appended, stop */
	bool wwaiting;	      /* the writer sleeps on wcond */
	unsigned swaiting;    /* senders idle on scond for new records */

	/* queue (under mu) */
	struct audit_event *ring;
	unsigned qlen, qhead, qcount;
	uint64_t enq, deq;	/* events ever queued / taken */
	uint64_t qdrop_pending; /* dropped, not yet recorded */
	uint64_t qdrop_at;	/* the drops follow event number qdrop_at */
	bool closing;		/* audit_emit refuses */
	bool wstop;		/* writer: drain and leave */
	bool sstop;		/* senders: drain until sdeadline */
	uint64_t sdeadline;	/* monotonic ms */
	uint64_t gen;		/* appends, wakes the senders */
	bool started;
	pthread_t writer;

	/* statistics (under mu) */
	uint64_t emitted, queue_drops, written, write_failures, last_seq;

	/* writer-only state */
	struct audit_event cur, aux;
	struct chain chain;
	uint64_t seq;
	char rec[R5424_MAX_LEN];
	bool dirty;
	uint64_t last_sync;
	bool warn_armed;
	uint64_t dropnew_pending; /* refused under drop-new, not recorded */
	bool dropnew_full_done;	  /* its SPOOL_FULL record is written */
	bool failing;		  /* the spool refuses writes (I/O) */
	int fail_err;
	uint64_t fail_count, fail_lost, fail_since_us, last_retry;
	struct audit_event *retry;
	unsigned nretry;

	unsigned nsenders;
	struct audit_sender s[AUDIT_COLLECTORS_MAX];
};

/* --- time ---------------------------------------------------------------- */

/* Waits on cv (CLOCK_MONOTONIC) until the absolute monotonic ms. */
static void cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu,
			    uint64_t until_ms)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(until_ms / 1000);
	ts.tv_nsec = (long)(until_ms % 1000) * 1000000;
	pthread_cond_timedwait(cv, mu, &ts);
}

/* The kernel's NTP state, asked at most once a second per thread (a
 * syscall per record was a visible share of the writer's time). */
static bool clock_synced(void)
{
	static __thread uint64_t checked;
	static __thread bool synced;
	struct timex tx;
	uint64_t now = clock_mono_ms();
	int st;

	if (checked != 0 && now - checked < 1000)
		return synced;
	memset(&tx, 0, sizeof(tx));
	st = ntp_adjtime(&tx);
	synced = st != -1 && st != TIME_ERROR && !(tx.status & STA_UNSYNC);
	checked = now ? now : 1;
	return synced;
}

/*
 * canon: "<PRI>1 TS HOST APP PROCID MSGID [id p=".." ...] BOM MSG" (chain.h)
 * -> the same with ' chain="hex"' before the first element's ']' and the
 * timeQuality element after it. -ENOSPC when the record would not fit
 * whole (then MSG would be cut differently: the caller formats instead).
 */
static int splice_record(const char *canon, size_t clen, const char *hex,
			 const char *synced, char *buf, size_t cap, size_t *len)
{
	char tail[64];
	size_t i = 0, end, hl, tl;
	int spaces = 0, tn;
	bool quoted = false;

	/* six header fields, each without spaces, then the SD */
	for (; i < clen && spaces < 6; i++)
		if (canon[i] == ' ')
			spaces++;
	if (spaces < 6 || i >= clen || canon[i] != '[')
		return -EINVAL;
	for (end = i + 1; end < clen; end++) {
		if (quoted && canon[end] == '\\')
			end++;
		else if (canon[end] == '"')
			quoted = !quoted;
		else if (!quoted && canon[end] == ']')
			break;
	}
	if (end >= clen)
		return -EINVAL;
	tn = snprintf(tail, sizeof(tail),
		      "][timeQuality tzKnown=\"1\" isSynced=\"%s\"]", synced);
	if (tn < 0 || (size_t)tn >= sizeof(tail))
		return -EINVAL;
	hl = sizeof(" chain=\"\"") - 1 + CHAIN_HEX_LEN - 1;
	tl = (size_t)tn;
	if (clen + hl + tl >= cap || clen + hl + tl > R5424_MAX_LEN)
		return -ENOSPC;
	memcpy(buf, canon, end);
	memcpy(buf + end, " chain=\"", 8);
	memcpy(buf + end + 8, hex, CHAIN_HEX_LEN - 1);
	buf[end + 8 + CHAIN_HEX_LEN - 1] = '"';
	memcpy(buf + end + hl, tail, tl);
	memcpy(buf + end + hl + tl, canon + end + 1, clen - end - 1);
	*len = clen + hl + tl - 1;
	buf[*len] = '\0';
	return 0;
}

/* --- formatting ---------------------------------------------------------- */

size_t audit_hmac_key(const struct audit *a, uint8_t *key, size_t cap)
{
	/* set once by audit_open, never written after: no lock */
	if (a == NULL || a->chain.key_len == 0 || cap < a->chain.key_len)
		return 0;
	memcpy(key, a->chain.key, a->chain.key_len);
	return a->chain.key_len;
}

const char *audit_sd_id(unsigned pen, char *buf, size_t len)
{
	snprintf(buf, len, "conduitd@%u", pen);
	return buf;
}

static unsigned opt_pen(const struct audit_opts *o)
{
	return o->pen ? o->pen : AUDIT_PEN_DEFAULT;
}

static int opt_facility(const struct audit_opts *o)
{
	return o->facility > 0 && o->facility <= 23 ? o->facility : 13;
}

int audit_format_record(const struct audit_opts *o, const char *hostname,
			int pid, uint64_t seq, struct chain *c,
			const struct audit_event *ev, char *buf, size_t cap,
			size_t *len, uint8_t chain_out[32])
{
	const struct audit_type_info *ti = audit_type_info(ev->type);
	char ts[R5424_TS_LEN], sd_id[32], procid[16], seqs[24], truncs[16];
	char hex[CHAIN_HEX_LEN];
	char canon[R5424_MAX_LEN];
	struct r5424_msg m;
	struct chain next;
	size_t clen;
	unsigned n = 0, k;
	int64_t t = ev->time_us ? ev->time_us : clock_real_us();
	int rc;

	if (ti == NULL || (unsigned)ev->severity > AUDIT_SEV_DEBUG)
		return -EINVAL;
	rc = r5424_timestamp_local(t, ts);
	if (rc < 0)
		return rc;
	audit_sd_id(opt_pen(o), sd_id, sizeof(sd_id));
	snprintf(procid, sizeof(procid), "%d", pid);
	snprintf(seqs, sizeof(seqs), "%" PRIu64, seq);

	memset(&m, 0, sizeof(m));
	m.pri = opt_facility(o) * 8 + (int)ev->severity;
	m.timestamp = ts;
	m.hostname = hostname && hostname[0] ? hostname : NULL;
	m.app = "conduitd";
	m.procid = procid;
	m.msgid = ti->msgid;
	m.params[n].name = "seq";
	m.params[n++].value = seqs;
	m.params[n].name = "req";
	m.params[n++].value = ti->req;
	for (unsigned i = 0; i < ev->nparams; i++) {
		m.params[n].name = audit_event_name(ev, i);
		m.params[n++].value = audit_event_value(ev, i);
	}
	if (ev->truncated) {
		snprintf(truncs, sizeof(truncs), "%u", ev->truncated);
		m.params[n].name = "truncated";
		m.params[n++].value = truncs;
	}
	k = n; /* the chain parameter, filled in below */
	m.params[n].name = "chain";
	m.params[n++].value = "";
	m.elems[0].id = sd_id;
	m.elems[0].first = 0;
	m.elems[0].nparams = n;
	m.elems[1].id = "timeQuality";
	m.elems[1].first = n;
	m.elems[1].nparams = 2;
	m.params[n].name = "tzKnown";
	m.params[n++].value = "1";
	m.params[n].name = "isSynced";
	m.params[n++].value = clock_synced() ? "1" : "0";
	m.nelems = 2;
	m.nparams = n;
	m.msg = ev->msg[0] ? ev->msg : NULL;
	m.msg_len = strlen(ev->msg);
	m.bom = true;
	for (unsigned i = 0; i < m.nparams; i++)
		m.params[i].value_len = strlen(m.params[i].value);

	rc = chain_canonical(&m, sd_id, canon, sizeof(canon), &clen);
	if (rc < 0)
		return rc;
	next = *c;
	chain_next(&next, canon, clen, chain_out);
	chain_hex(chain_out, hex);
	m.params[k].value = hex;
	m.params[k].value_len = CHAIN_HEX_LEN - 1;
	/* the record is the canonical bytes with the chain parameter and the
	 * timeQuality element spliced in after the conduitd@PEN element:
	 * exactly what r5424_format gives for m, without formatting twice */
	if (splice_record(canon, clen, hex, m.params[n - 1].value, buf, cap,
			  len) == 0) {
		*c = next;
		return 0;
	}
	rc = r5424_format(&m, buf, cap, len);
	if (rc < 0)
		return rc;
	*c = next;
	return 0;
}

/* --- JSON Lines ---------------------------------------------------------- */

struct jbuf {
	char *p;
	size_t len, cap;
	bool over;
};

static void jput(struct jbuf *j, const char *s, size_t n)
{
	if (j->len + n >= j->cap) {
		j->over = true;
		return;
	}
	memcpy(j->p + j->len, s, n);
	j->len += n;
}

static void jraw(struct jbuf *j, const char *s)
{
	jput(j, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t need;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		need = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		need = 4;
	else
		return 0;
	if (n < need)
		return 0;
	cp = s[0] & (0x7f >> need);
	for (size_t i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need;
}

static void jstr(struct jbuf *j, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, l;
	char esc[8];

	jput(j, "\"", 1);
	while (i < n) {
		if (u[i] == '"' || u[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)u[i];
			jput(j, esc, 2);
			i++;
		} else if (u[i] < 0x20 || u[i] == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", u[i]);
			jput(j, esc, 6);
			i++;
		} else if ((l = utf8_seq(u + i, n - i)) > 0) {
			jput(j, s + i, l);
			i += l;
		} else {
			jput(j, "?", 1);
			i++;
		}
	}
	jput(j, "\"", 1);
}

static void jkey(struct jbuf *j, const char *k, bool first)
{
	if (!first)
		jput(j, ",", 1);
	jstr(j, k);
	jput(j, ":", 1);
}

/* One JSON object per record, built from the parsed record so that the
 * file says exactly what the collectors got. */
static void jsonl_write(struct audit *a, const char *rec, size_t len)
{
	static const char *const sevs[] = {
		"emerg",   "alert",  "crit", "err",
		"warning", "notice", "info", "debug"
	};
	char scratch[R5424_MAX_LEN + R5424_MAX_PARAMS * 2 + 16];
	char out[R5424_MAX_LEN * 6 + 512]; /* \u00XX for control bytes */
	char num[24];
	struct jbuf j = { out, 0, sizeof(out), false };
	struct r5424_msg m;
	const struct r5424_elem *e;
	const char *v;
	bool first = true;
	ssize_t w;

	if (r5424_parse(rec, len, &m, scratch, sizeof(scratch), NULL) < 0)
		return;
	e = r5424_find_elem(&m, a->sd_id);
	if (e == NULL)
		return;
	jraw(&j, "{");
	v = r5424_find_param(&m, e, "seq");
	jkey(&j, "seq", true);
	jraw(&j, v ? v : "0");
	jkey(&j, "ts", false);
	jstr(&j, m.timestamp ? m.timestamp : "");
	jkey(&j, "host", false);
	jstr(&j, m.hostname ? m.hostname : "");
	jkey(&j, "app", false);
	jstr(&j, m.app ? m.app : "");
	jkey(&j, "procid", false);
	jstr(&j, m.procid ? m.procid : "");
	jkey(&j, "msgid", false);
	jstr(&j, m.msgid ? m.msgid : "");
	jkey(&j, "severity", false);
	jstr(&j, sevs[m.pri % 8]);
	jkey(&j, "facility", false);
	snprintf(num, sizeof(num), "%d", m.pri / 8);
	jraw(&j, num);
	v = r5424_find_param(&m, e, "req");
	jkey(&j, "req", false);
	jstr(&j, v ? v : "");
	jkey(&j, "params", false);
	jraw(&j, "{");
	for (unsigned i = e->first; i < e->first + e->nparams; i++) {
		const struct r5424_param *p = &m.params[i];

		if (!strcmp(p->name, "seq") || !strcmp(p->name, "req") ||
		    !strcmp(p->name, "chain"))
			continue;
		jkey(&j, p->name, first);
		jstr(&j, p->value);
		first = false;
	}
	jraw(&j, "}");
	jkey(&j, "msg", false);
	if (m.msg) {
		char msg[R5424_MAX_LEN + 1];
		size_t ml = m.msg_len < R5424_MAX_LEN ? m.msg_len :
							R5424_MAX_LEN;

		memcpy(msg, m.msg, ml);
		msg[ml] = '\0';
		jstr(&j, msg);
	} else {
		jstr(&j, "");
	}
	v = r5424_find_param(&m, e, "chain");
	jkey(&j, "chain", false);
	jstr(&j, v ? v : "");
	jraw(&j, "}\n");
	if (j.over) {
		log_warnx("audit: jsonl %s: record seq %s too long, skipped",
			  a->jsonl_path, r5424_find_param(&m, e, "seq"));
		return;
	}
	/* O_APPEND: one write per line keeps lines whole */
	w = write(a->jsonl_fd, out, j.len);
	if (w != (ssize_t)j.len)
		log_warn("audit: jsonl %s: write of seq %s", a->jsonl_path,
			 r5424_find_param(&m, e, "seq"));
}

/* --- queue --------------------------------------------------------------- */

/* Queues ev (mu held); false when full. */
static bool queue_put(struct audit *a, const struct audit_event *ev)
{
	struct audit_event *slot;

	if (a->qcount == a->qlen)
		return false;
	slot = &a->ring[(a->qhead + a->qcount) % a->qlen];
	*slot = *ev;
	if (slot->time_us == 0)
		slot->time_us = clock_real_us();
	a->qcount++;
	a->enq++;
	return true;
}

void audit_emit(struct audit *a, const struct audit_event *ev)
{
	if (a == NULL || ev == NULL)
		return;
	pthread_mutex_lock(&a->mu);
	if (a->closing) {
		pthread_mutex_unlock(&a->mu);
		return;
	}
	if (queue_put(a, ev)) {
		a->emitted++;
		/* a futex wake per event only when the writer sleeps */
		if (a->wwaiting)
			pthread_cond_signal(&a->wcond);
	} else {
		if (a->qdrop_pending == 0)
			a->qdrop_at = a->enq;
		a->qdrop_pending++;
		a->queue_drops++;
	}
	pthread_mutex_unlock(&a->mu);
}

/* --- writer -------------------------------------------------------------- */

/* Numbers, chains, formats and appends one event; 0 or spool_append's
 * error (nothing consumed then: the next try reuses the seq). */
static int write_one(struct audit *a, const struct audit_event *ev)
{
	struct chain c = a->chain;
	uint8_t cv[32];
	size_t len;
	int rc;

	rc = audit_format_record(&a->o, a->hostname, a->pid, a->seq + 1, &c, ev,
				 a->rec, sizeof(a->rec), &len, cv);
	if (rc < 0) {
		log_warnx("audit: cannot format a %s record: %s",
			  audit_type_info(ev->type) ?
				  audit_type_info(ev->type)->msgid :
				  "?",
			  strerror(-rc));
		return -EBADMSG;
	}
	rc = spool_append(a->sp, a->seq + 1, cv, a->rec, len);
	if (rc < 0)
		return rc;
	a->chain = c;
	a->seq++;
	a->dirty = true;
	if (a->jsonl_fd >= 0)
		jsonl_write(a, a->rec, len);
	pthread_mutex_lock(&a->mu);
	a->written++;
	a->last_seq = a->seq;
	a->gen++;
	if (a->swaiting)
		pthread_cond_broadcast(&a->scond);
	pthread_mutex_unlock(&a->mu);
	return 0;
}

static void note_failure(struct audit *a, int rc)
{
	pthread_mutex_lock(&a->mu);
	a->write_failures++;
	pthread_mutex_unlock(&a->mu);
	if (!a->failing) {
		log_warnx("audit: spool %s: append of seq %" PRIu64
			  " failed: %s; keeping up to %d events in memory",
			  a->spool_dir, a->seq + 1, strerror(-rc),
			  AUDIT_RETRY_MAX);
		a->failing = true;
		a->fail_since_us = clock_real_us();
		a->fail_count = 0;
		a->fail_lost = 0;
	}
	a->fail_err = rc;
	a->fail_count++;
	a->last_retry = clock_mono_ms();
}

static void loss_event(struct audit_event *ev, uint64_t count,
		       const char *cause)
{
	audit_event_init(ev, AUDIT_AUDIT_LOSS);
	audit_event_add_u64(ev, "count", count);
	audit_event_add(ev, "cause", cause);
}

/*
 * Writes an internal record (the writer's own: loss, full, threshold,
 * failure). Returns 0 or the append error.
 */
static int write_internal(struct audit *a, struct audit_event *ev)
{
	ev->time_us = clock_real_us();
	return write_one(a, ev);
}

/* Drop-new refusals are recorded once the spool accepts again. */
static int flush_dropnew(struct audit *a)
{
	uint64_t n = a->dropnew_pending;
	int rc;

	if (n == 0)
		return 0;
	if (a->dropnew_full_done)
		goto loss;
	audit_event_init(&a->aux, AUDIT_SPOOL_FULL);
	audit_event_add(&a->aux, "policy", "drop-new");
	audit_event_add_u64(&a->aux, "dropped", n);
	audit_event_add_u64(&a->aux, "capacity", a->o.spool.capacity);
	audit_event_msgf(&a->aux,
			 "audit spool was full: %" PRIu64
			 " records refused (drop-new)",
			 n);
	rc = write_internal(a, &a->aux);
	if (rc < 0)
		return rc;
	a->dropnew_full_done = true;
loss:
	loss_event(&a->aux, n, "drop-new");
	audit_event_msgf(&a->aux,
			 "%" PRIu64
			 " audit records lost: spool full (drop-new)",
			 n);
	rc = write_internal(a, &a->aux);
	if (rc < 0)
		return rc;
	a->dropnew_pending = 0;
	a->dropnew_full_done = false;
	return 0;
}

/* A failing spool: tries the SPOOL_FAILURE record, then the kept events,
 * then the loss record. Returns 0 once everything is written. */
static int recover(struct audit *a)
{
	char since[R5424_TS_LEN];
	int rc;

	a->last_retry = clock_mono_ms();
	if (a->fail_count) {
		audit_event_init(&a->aux, AUDIT_SPOOL_FAILURE);
		audit_event_add(&a->aux, "error", strerror(-a->fail_err));
		audit_event_add_u64(&a->aux, "failures", a->fail_count);
		if (r5424_timestamp_local(a->fail_since_us, since) == 0)
			audit_event_add(&a->aux, "since", since);
		audit_event_add(&a->aux, "dir", a->spool_dir);
		audit_event_msgf(&a->aux, "audit spool write failed: %s",
				 strerror(-a->fail_err));
		rc = write_internal(a, &a->aux);
		if (rc < 0)
			return rc;
		a->fail_count = 0;
	}
	while (a->nretry > 0) {
		rc = write_one(a, &a->retry[0]);
		if (rc < 0)
			return rc;
		a->nretry--;
		memmove(&a->retry[0], &a->retry[1],
			a->nretry * sizeof(a->retry[0]));
	}
	if (a->fail_lost) {
		loss_event(&a->aux, a->fail_lost, "spool-failure");
		audit_event_msgf(&a->aux,
				 "%" PRIu64
				 " audit records lost: spool write failed",
				 a->fail_lost);
		rc = write_internal(a, &a->aux);
		if (rc < 0)
			return rc;
		a->fail_lost = 0;
	}
	a->failing = false;
	log_info("audit: spool %s writes again", a->spool_dir);
	return 0;
}

/* After an accepted append: overwrite losses and the fill threshold. */
static void after_append(struct audit *a)
{
	struct spool_stats st;
	uint64_t count, first, last;
	unsigned warn = a->o.warn_pct ? a->o.warn_pct : 80;

	/* bounded: a loss record can itself overwrite more */
	for (int i = 0; i < 4; i++) {
		if (!spool_take_loss(a->sp, &count, &first, &last))
			break;
		loss_event(&a->aux, count, "overwrite-oldest");
		audit_event_add_u64(&a->aux, "first_seq", first);
		audit_event_add_u64(&a->aux, "last_seq", last);
		audit_event_msgf(&a->aux,
				 "%" PRIu64 " undelivered audit records "
				 "overwritten (seq %" PRIu64 "..%" PRIu64 ")",
				 count, first, last);
		if (write_internal(a, &a->aux) < 0)
			break;
	}
	spool_stats(a->sp, &st);
	if (a->warn_armed && st.fill_pct >= warn) {
		audit_event_init(&a->aux, AUDIT_SPOOL_THRESHOLD);
		audit_event_add_u64(&a->aux, "fill_pct", st.fill_pct);
		audit_event_add_u64(&a->aux, "warn_pct", warn);
		audit_event_add_u64(&a->aux, "bytes", st.bytes);
		audit_event_add_u64(&a->aux, "capacity", st.capacity);
		audit_event_msgf(&a->aux,
				 "audit spool %u%% full (warning at %u%%)",
				 st.fill_pct, warn);
		if (write_internal(a, &a->aux) == 0)
			a->warn_armed = false;
	} else if (!a->warn_armed && st.fill_pct + 5 < warn) {
		a->warn_armed = true;
	}
}

static void keep_for_retry(struct audit *a, const struct audit_event *ev)
{
	if (a->nretry < AUDIT_RETRY_MAX)
		a->retry[a->nretry++] = *ev;
	else
		a->fail_lost++;
}

/* The writer's step for one event taken from the queue. */
static void process(struct audit *a, const struct audit_event *ev)
{
	int rc;

	if (a->failing) {
		/* keep order: kept events go first, retried at a slow pace */
		if (clock_mono_ms() - a->last_retry < AUDIT_RETRY_MS ||
		    recover(a) < 0) {
			keep_for_retry(a, ev);
			return;
		}
	}
	if (a->dropnew_pending && flush_dropnew(a) == -ENOBUFS) {
		a->dropnew_pending++;
		return;
	}
	rc = write_one(a, ev);
	if (rc == 0) {
		after_append(a);
	} else if (rc == -ENOBUFS) {
		if (a->dropnew_pending == 0)
			log_warnx("audit: spool %s full (capacity %" PRIu64
				  " bytes, drop-new): refusing records",
				  a->spool_dir, a->o.spool.capacity);
		a->dropnew_pending++;
	} else if (rc == -EBADMSG || rc == -EINVAL) {
		/* a record nobody can spool (a bug): say it was lost */
		loss_event(&a->aux, 1, "invalid-record");
		audit_event_msgf(&a->aux, "1 audit record lost: invalid");
		if (write_internal(a, &a->aux) == 0)
			after_append(a);
	} else {
		note_failure(a, rc);
		keep_for_retry(a, ev);
	}
}

/* Timed work: periodic sync, retries of a refusing spool. */
static void writer_timers(struct audit *a, uint64_t now)
{
	if (a->dirty && a->o.spool.fsync_ms > 0 &&
	    now - a->last_sync >= a->o.spool.fsync_ms) {
		int rc = spool_sync(a->sp);

		if (rc < 0)
			log_warnx("audit: spool %s: sync failed: %s",
				  a->spool_dir, strerror(-rc));
		a->dirty = false;
		a->last_sync = now;
	}
	if (now - a->last_retry >= AUDIT_RETRY_MS) {
		if (a->failing) {
			if (recover(a) == 0)
				after_append(a);
		} else if (a->dropnew_pending) {
			a->last_retry = now;
			if (flush_dropnew(a) == 0)
				after_append(a);
		}
	}
}

static uint64_t writer_deadline(struct audit *a, uint64_t now)
{
	uint64_t d = now + AUDIT_IDLE_MS;

	if (a->dirty && a->o.spool.fsync_ms > 0 &&
	    a->last_sync + a->o.spool.fsync_ms < d)
		d = a->last_sync + a->o.spool.fsync_ms;
	if ((a->failing || a->dropnew_pending) &&
	    a->last_retry + AUDIT_RETRY_MS < d)
		d = a->last_retry + AUDIT_RETRY_MS;
	return d;
}

/* Takes the queue-overflow count when its position has been reached. */
static uint64_t take_qdrops(struct audit *a)
{
	uint64_t n = 0;

	if (a->qdrop_pending && a->deq >= a->qdrop_at) {
		n = a->qdrop_pending;
		a->qdrop_pending = 0;
	}
	return n;
}

static void *writer_main(void *arg)
{
	struct audit *a = arg;
	uint64_t drops, now;
	bool have;

	pthread_mutex_lock(&a->mu);
	for (;;) {
		drops = take_qdrops(a);
		have = false;
		if (drops == 0 && a->qcount > 0) {
			a->cur = a->ring[a->qhead];
			a->qhead = (a->qhead + 1) % a->qlen;
			a->qcount--;
			a->deq++;
			have = true;
		}
		if (!have && drops == 0) {
			now = clock_mono_ms();
			pthread_mutex_unlock(&a->mu);
			writer_timers(a, now);
			pthread_mutex_lock(&a->mu);
			if (a->wstop && a->qcount == 0 && !a->qdrop_pending)
				break;
			if (a->qcount == 0 && a->qdrop_pending == 0) {
				a->wwaiting = true;
				cond_wait_until(
					&a->wcond, &a->mu,
					writer_deadline(a, clock_mono_ms()));
				a->wwaiting = false;
			}
			continue;
		}
		pthread_mutex_unlock(&a->mu);
		if (drops) {
			/* aux is the writer's own scratch: use cur */
			loss_event(&a->cur, drops, "queue-overflow");
			audit_event_msgf(&a->cur,
					 "%" PRIu64 " audit events dropped: "
					 "queue full",
					 drops);
			a->cur.time_us = clock_real_us();
		}
		process(a, &a->cur);
		writer_timers(a, clock_mono_ms());
		pthread_mutex_lock(&a->mu);
	}
	pthread_mutex_unlock(&a->mu);
	/* last chance for pending failure and refusal records */
	if (a->failing)
		recover(a);
	if (a->dropnew_pending)
		flush_dropnew(a);
	if (a->failing && (a->nretry || a->fail_lost))
		log_warnx("audit: spool %s: %u events could not be written "
			  "and %" PRIu64 " were lost: %s",
			  a->spool_dir, a->nretry, a->fail_lost,
			  strerror(-a->fail_err));
	if (a->dropnew_pending)
		log_warnx("audit: spool %s full: %" PRIu64
			  " records refused (drop-new)",
			  a->spool_dir, a->dropnew_pending);
	spool_sync(a->sp);
	a->dirty = false;
	return NULL;
}

/* --- senders ------------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* True when the sender should leave (mu held). */
static bool sender_done(struct audit_sender *s)
{
	struct audit *a = s->a;

	if (!a->sstop)
		return false;
	return clock_mono_ms() >= a->sdeadline ||
	       spool_reader_backlog(s->r) == 0;
}

/*
 * Sleeps until the monotonic ms; wakes early only when stopping and done
 * (or past the drain deadline). True: leave now.
 */
static bool sender_sleep(struct audit_sender *s, uint64_t until)
{
	struct audit *a = s->a;
	bool stop = false;
	uint64_t wake;

	pthread_mutex_lock(&a->mu);
	for (;;) {
		if (a->sstop && sender_done(s)) {
			stop = true;
			break;
		}
		if (clock_mono_ms() >= until)
			break;
		wake = until;
		if (a->sstop && a->sdeadline < wake)
			wake = a->sdeadline;
		cond_wait_until(&a->scond, &a->mu, wake);
	}
	pthread_mutex_unlock(&a->mu);
	return stop;
}

static void sender_event(struct audit_sender *s, enum audit_type type,
			 const char *why)
{
	struct audit_event ev;

	audit_event_init(&ev, type);
	audit_event_add(&ev, "collector", s->o.name);
	audit_event_add(&ev, "proto", transport_proto_name(s->o.t.proto));
	audit_event_add(&ev, "host", s->o.t.host);
	audit_event_add(&ev, "port", s->o.t.port);
	if (why) {
		audit_event_add(&ev, "reason", why);
		audit_event_msgf(&ev, "collector %s (%s:%s) down: %s",
				 s->o.name, s->o.t.host, s->o.t.port, why);
	} else {
		audit_event_msgf(&ev, "collector %s (%s:%s) up", s->o.name,
				 s->o.t.host, s->o.t.port);
	}
	audit_emit(s->a, &ev);
}

/*
 * Delivery proof, pipelined: every batch written is a pending checkpoint
 * (its last seq, its records, when it was written). The kernel's send
 * queue empty (SIOCOUTQ 0) means the collector's TCP acknowledged every
 * byte written so far; a checkpoint whose bytes were acknowledged, written
 * settle_ms ago, on a connection still healthy now, is proven: the reader
 * is acked up to it. Writing goes on meanwhile. block: the checkpoint ring
 * is full, wait until the oldest is proven. Returns 0, or a negative errno
 * (link failed, or no TCP progress for AUDIT_ACK_STALL_MS), or 1 when told
 * to stop while blocked.
 */
static int settle(struct audit_sender *s, bool block)
{
	struct audit *a = s->a;
	uint64_t now, ack = 0, delivered = 0;
	size_t unacked = 0;
	int rc;

	for (;;) {
		if (s->o.t.proto != TRANSPORT_UDP) {
			rc = transport_check(s->t, &unacked);
			if (rc < 0)
				return rc;
		}
		now = clock_mono_ms();
		if (unacked != s->unacked || unacked == 0)
			s->progress = now;
		s->unacked = unacked;
		if (unacked == 0)
			s->tcp_acked = s->written;
		else if (now - s->progress >= AUDIT_ACK_STALL_MS)
			return -ETIMEDOUT;
		while (s->nck > 0) {
			const struct audit_ckpt *k = &s->ck[s->ck0];

			if (s->o.t.proto != TRANSPORT_UDP &&
			    (k->seq > s->tcp_acked || now < k->at + s->settle))
				break;
			ack = k->seq;
			delivered += k->n;
			s->ck0 = (s->ck0 + 1) % AUDIT_CKPTS;
			s->nck--;
		}
		if (!block || s->nck < AUDIT_CKPTS)
			break;
		if (sender_sleep(s, now + (unacked ? 5 : 20)))
			return 1;
	}
	if (ack) {
		rc = spool_reader_ack(s->r, ack);
		if (rc < 0)
			log_warnx("audit: collector %s: cursor of seq %" PRIu64
				  " in %s: %s",
				  s->o.name, ack, a->spool_dir, strerror(-rc));
		pthread_mutex_lock(&a->mu);
		s->st.delivered += delivered;
		pthread_mutex_unlock(&a->mu);
	}
	return 0;
}

static void sender_fail(struct audit_sender *s, const char *why, bool *was_up,
			uint64_t *last_down)
{
	struct audit *a = s->a;
	unsigned bmax = s->o.backoff_max_ms ? s->o.backoff_max_ms : 30000;
	uint64_t now = clock_mono_ms();
	bool report;

	transport_close(s->t);
	spool_reader_rewind(s->r);
	/* nothing pending is proven: all of it is resent */
	s->nck = 0;
	s->written = s->tcp_acked = 0;
	pthread_mutex_lock(&a->mu);
	s->st.up = false;
	s->st.failures++;
	snprintf(s->st.last_error, sizeof(s->st.last_error), "%s", why);
	pthread_mutex_unlock(&a->mu);
	report = *was_up || *last_down == 0 || now - *last_down >= bmax;
	if (report) {
		log_warnx("audit: collector %s (%s %s:%s): %s", s->o.name,
			  transport_proto_name(s->o.t.proto), s->o.t.host,
			  s->o.t.port, why);
		sender_event(s, AUDIT_COLLECTOR_DOWN, why);
		*last_down = now;
	}
	*was_up = false;
}

static void *sender_main(void *arg)
{
	struct audit_sender *s = arg;
	struct audit *a = s->a;
	unsigned bmin = s->o.backoff_min_ms ? s->o.backoff_min_ms : 500;
	unsigned bmax = s->o.backoff_max_ms ? s->o.backoff_max_ms : 30000;
	uint64_t backoff = bmin, last_down = 0, max_sent = 0, gen;
	uint64_t seq, last_seq, last_write, limit, bytes, n, wait;
	bool was_up = false, stop, link_err;
	char why[200];
	size_t len;
	int rc;

	if (bmax < bmin)
		bmax = bmin;
	for (;;) {
		pthread_mutex_lock(&a->mu);
		stop = sender_done(s);
		gen = a->gen;
		pthread_mutex_unlock(&a->mu);
		if (stop)
			break;
		if (!transport_is_up(s->t)) {
			rc = transport_connect(s->t);
			if (rc < 0) {
				snprintf(why, sizeof(why), "%s",
					 transport_error(s->t)[0] ?
						 transport_error(s->t) :
						 strerror(-rc));
				sender_fail(s, why, &was_up, &last_down);
				/* equal jitter: backoff/2 .. backoff */
				wait = backoff / 2 +
				       rng_next(&s->rng) % (backoff / 2 + 1);
				if (sender_sleep(s, clock_mono_ms() + wait))
					break;
				backoff = backoff * 2 > bmax ? bmax :
							       backoff * 2;
				continue;
			}
			spool_reader_rewind(s->r);
			backoff = bmin;
			was_up = true;
			pthread_mutex_lock(&a->mu);
			s->st.up = true;
			s->st.connects++;
			pthread_mutex_unlock(&a->mu);
			log_info("audit: collector %s (%s %s:%s) up", s->o.name,
				 transport_proto_name(s->o.t.proto),
				 s->o.t.host, s->o.t.port);
			sender_event(s, AUDIT_COLLECTOR_UP, NULL);
		}

		/* a batch: as much as is there, more when behind */
		limit = spool_reader_backlog(s->r);
		if (limit < AUDIT_BATCH_MIN)
			limit = AUDIT_BATCH_MIN;
		if (limit > AUDIT_BATCH_MAX)
			limit = AUDIT_BATCH_MAX;
		n = 0;
		bytes = 0;
		last_seq = 0;
		last_write = 0;
		rc = 0;
		link_err = false;
		while (n < limit && bytes < (limit > AUDIT_BATCH_MIN ?
						     AUDIT_BATCH_BYTES_MAX :
						     AUDIT_BATCH_BYTES)) {
			rc = spool_reader_next(s->r, s->buf, sizeof(s->buf),
					       &len, &seq);
			if (rc <= 0)
				break;
			rc = transport_write(s->t, s->buf, len);
			if (rc < 0) {
				link_err = true;
				break;
			}
			last_write = clock_mono_ms();
			n++;
			bytes += len;
			last_seq = seq;
			pthread_mutex_lock(&a->mu);
			s->st.sent++;
			if (seq <= max_sent)
				s->st.resent++;
			pthread_mutex_unlock(&a->mu);
			if (seq > max_sent)
				max_sent = seq;
		}
		if (rc < 0 && !link_err) {
			/* the spool reader failed, not the link */
			log_warnx("audit: collector %s: spool read: %s",
				  s->o.name, strerror(-rc));
			spool_reader_rewind(s->r);
			s->nck = 0;
			if (sender_sleep(s, clock_mono_ms() + AUDIT_RETRY_MS))
				break;
			continue;
		}
		if (rc >= 0 && n > 0) {
			rc = transport_flush(s->t);
			if (rc >= 0) {
				/* pending until proven; writing goes on */
				struct audit_ckpt *k =
					&s->ck[(s->ck0 + s->nck) % AUDIT_CKPTS];

				k->seq = last_seq;
				k->n = n;
				k->at = last_write;
				s->nck++;
				s->written = last_seq;
			}
		}
		if (rc >= 0 && (s->nck > 0 || n == 0))
			rc = settle(s, s->nck == AUDIT_CKPTS);
		if (rc < 0) {
			snprintf(why, sizeof(why), "%s",
				 transport_error(s->t)[0] ?
					 transport_error(s->t) :
					 strerror(-rc));
			sender_fail(s, why, &was_up, &last_down);
			continue;
		}
		if (n > 0)
			continue;
		/* nothing new to write: wait for new records, or until the
		 * oldest pending batch is due */
		pthread_mutex_lock(&a->mu);
		if (a->gen == gen) {
			uint64_t until = clock_mono_ms() +
					 (a->sstop ? 50 : AUDIT_IDLE_MS);

			if (s->nck > 0) {
				uint64_t due = s->ck[s->ck0].at + s->settle;

				if (s->unacked || due < clock_mono_ms() + 5)
					due = clock_mono_ms() + 5;
				if (due < until)
					until = due;
			}
			if (a->sstop && sender_done(s) && s->nck == 0) {
				pthread_mutex_unlock(&a->mu);
				break;
			}
			a->swaiting++;
			cond_wait_until(&a->scond, &a->mu, until);
			a->swaiting--;
		}
		pthread_mutex_unlock(&a->mu);
	}
	transport_close(s->t);
	pthread_mutex_lock(&a->mu);
	s->st.up = false;
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

/* --- open / start / close ------------------------------------------------ */

static void report_open(struct audit *a, const struct spool_open_report *rep)
{
	struct audit_event ev;

	if (rep->truncated_bytes) {
		audit_event_init(&ev, AUDIT_SPOOL_CORRUPT);
		audit_event_add(&ev, "kind", "torn-tail");
		audit_event_add_u64(&ev, "bytes", rep->truncated_bytes);
		audit_event_add(&ev, "dir", a->spool_dir);
		audit_event_msgf(&ev,
				 "incomplete last spool record cut (%" PRIu64
				 " bytes): an unclean stop",
				 rep->truncated_bytes);
		queue_put(a, &ev);
	}
	if (rep->quarantined) {
		audit_event_init(&ev, AUDIT_SPOOL_CORRUPT);
		audit_event_add(&ev, "kind", "quarantine");
		audit_event_add_u64(&ev, "segments", rep->quarantined);
		audit_event_add(&ev, "file", rep->quarantine_first);
		audit_event_add(&ev, "reason", rep->quarantine_reason);
		audit_event_add(&ev, "dir", a->spool_dir);
		audit_event_msgf(&ev,
				 "%u corrupt spool segment(s) quarantined, "
				 "first %s: %s",
				 rep->quarantined, rep->quarantine_first,
				 rep->quarantine_reason);
		queue_put(a, &ev);
		log_warnx("audit: spool %s: %u corrupt segment(s) quarantined, "
			  "first %s: %s",
			  a->spool_dir, rep->quarantined, rep->quarantine_first,
			  rep->quarantine_reason);
		if (rep->quarantined_records) {
			loss_event(&ev, rep->quarantined_records, "quarantine");
			audit_event_add(&ev, "file", rep->quarantine_first);
			audit_event_msgf(&ev,
					 "%" PRIu64 " spooled audit records "
					 "quarantined undelivered",
					 rep->quarantined_records);
			queue_put(a, &ev);
		}
	}
}

static void audit_free(struct audit *a)
{
	for (unsigned i = 0; i < a->nsenders; i++) {
		spool_reader_close(a->s[i].r);
		transport_free(a->s[i].t);
	}
	if (a->sp)
		spool_close(a->sp);
	if (a->jsonl_fd >= 0)
		close(a->jsonl_fd);
	pthread_cond_destroy(&a->scond);
	pthread_cond_destroy(&a->wcond);
	pthread_mutex_destroy(&a->mu);
	free(a->retry);
	free(a->ring);
	free(a);
}

int audit_open(const struct audit_opts *o, struct audit **out, char *err,
	       size_t errlen)
{
	struct spool_open_report rep;
	pthread_condattr_t ca;
	struct audit *a;
	uint8_t last[32];
	char serr[256];
	int rc;

	*out = NULL;
	if (o->ncollectors > AUDIT_COLLECTORS_MAX) {
		snprintf(err, errlen, "audit: %u collectors, at most %d",
			 o->ncollectors, AUDIT_COLLECTORS_MAX);
		return -EINVAL;
	}
	if (o->facility < 0 || o->facility > 23) {
		snprintf(err, errlen, "audit: facility %d not in 0..23",
			 o->facility);
		return -EINVAL;
	}
	if (o->hmac_key_len > CHAIN_KEY_MAX ||
	    (o->hmac_key_len && o->hmac_key == NULL)) {
		snprintf(err, errlen,
			 "audit: hmac key of %zu bytes, at most %d",
			 o->hmac_key_len, CHAIN_KEY_MAX);
		return -EINVAL;
	}
	if (o->spool.dir == NULL) {
		snprintf(err, errlen, "audit: no spool directory");
		return -EINVAL;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		snprintf(err, errlen, "audit: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	a->jsonl_fd = -1;
	a->o = *o;
	a->o.hostname = NULL;
	pthread_mutex_init(&a->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->wcond, &ca);
	pthread_cond_init(&a->scond, &ca);
	pthread_condattr_destroy(&ca);
	snprintf(a->spool_dir, sizeof(a->spool_dir), "%s", o->spool.dir);
	a->o.spool.dir = a->spool_dir;
	a->o.jsonl_path = NULL;
	a->o.hmac_key = NULL; /* chain_init keeps its own copy */
	a->pid = (int)getpid();
	audit_sd_id(opt_pen(o), a->sd_id, sizeof(a->sd_id));
	if (o->hostname && o->hostname[0])
		snprintf(a->hostname, sizeof(a->hostname), "%s", o->hostname);
	else if (gethostname(a->hostname, sizeof(a->hostname) - 1) < 0)
		a->hostname[0] = '\0';
	a->qlen = o->queue_len ? o->queue_len : AUDIT_QUEUE_DEFAULT;
	a->ring = calloc(a->qlen, sizeof(*a->ring));
	a->retry = calloc(AUDIT_RETRY_MAX, sizeof(*a->retry));
	if (a->ring == NULL || a->retry == NULL) {
		snprintf(err, errlen, "audit: queue of %u events: %s", a->qlen,
			 strerror(ENOMEM));
		rc = -ENOMEM;
		goto fail;
	}
	a->warn_armed = true;

	memset(&rep, 0, sizeof(rep));
	serr[0] = '\0';
	rc = spool_open(&a->o.spool, &a->sp, &rep, serr, sizeof(serr));
	if (rc < 0) {
		a->sp = NULL;
		if (serr[0])
			snprintf(err, errlen, "audit: %s", serr);
		else
			snprintf(err, errlen, "audit: spool %s: %s",
				 a->spool_dir, strerror(-rc));
		goto fail;
	}
	spool_last(a->sp, &a->seq, last);
	chain_init(&a->chain, a->seq ? last : NULL, o->hmac_key,
		   o->hmac_key_len);
	a->last_seq = a->seq;
	report_open(a, &rep);

	if (o->jsonl_path) {
		snprintf(a->jsonl_path, sizeof(a->jsonl_path), "%s",
			 o->jsonl_path);
		a->jsonl_fd = open(o->jsonl_path,
				   O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
				   0640);
		if (a->jsonl_fd < 0) {
			rc = -errno;
			snprintf(err, errlen, "audit: jsonl %s: %s",
				 o->jsonl_path, strerror(errno));
			goto fail;
		}
	}

	for (unsigned i = 0; i < o->ncollectors; i++) {
		struct audit_sender *s = &a->s[i];
		char terr[256];

		s->a = a;
		s->o = o->collectors[i];
		s->settle = s->o.settle_ms ? s->o.settle_ms : 1000;
		s->rng = (uint64_t)clock_real_us() ^
			 ((uint64_t)i + 1) * 0x9e3779b97f4a7c15ull;
		if (s->rng == 0)
			s->rng = 1;
		memcpy(s->st.name, s->o.name, sizeof(s->st.name));
		s->st.name[sizeof(s->st.name) - 1] = '\0';
		terr[0] = '\0';
		s->t = transport_new(&s->o.t, terr, sizeof(terr));
		if (s->t == NULL) {
			snprintf(err, errlen, "audit: collector %s: %s",
				 s->o.name, terr[0] ? terr : "invalid");
			rc = -EINVAL;
			goto fail;
		}
		a->nsenders = i + 1;
		rc = spool_reader_open(a->sp, s->o.name, &s->r);
		if (rc < 0) {
			s->r = NULL;
			snprintf(err, errlen,
				 "audit: collector %s: spool reader in %s: %s",
				 s->o.name, a->spool_dir, strerror(-rc));
			goto fail;
		}
	}
	*out = a;
	return 0;
fail:
	audit_free(a);
	return rc;
}

int audit_start(struct audit *a)
{
	int rc;

	if (a->started)
		return -EALREADY;
	/* after daemon_detach's fork: the records name the daemon's pid */
	a->pid = (int)getpid();
	a->last_sync = clock_mono_ms();
	rc = pthread_create(&a->writer, NULL, writer_main, a);
	if (rc) {
		log_warnx("audit: writer thread: %s", strerror(rc));
		return -rc;
	}
	a->started = true;
	for (unsigned i = 0; i < a->nsenders; i++) {
		rc = pthread_create(&a->s[i].th, NULL, sender_main, &a->s[i]);
		if (rc) {
			log_warnx("audit: sender thread of collector %s: %s",
				  a->s[i].o.name, strerror(rc));
			return -rc;
		}
		a->s[i].running = true;
	}
	return 0;
}

void audit_close(struct audit *a, unsigned drain_ms)
{
	if (a == NULL)
		return;
	pthread_mutex_lock(&a->mu);
	a->closing = true;
	a->wstop = true;
	pthread_cond_broadcast(&a->wcond);
	pthread_mutex_unlock(&a->mu);
	if (a->started)
		pthread_join(a->writer, NULL);
	else
		writer_main(a); /* never started: write what is queued */

	pthread_mutex_lock(&a->mu);
	a->sstop = true;
	a->sdeadline = clock_mono_ms() + drain_ms;
	pthread_cond_broadcast(&a->scond);
	pthread_mutex_unlock(&a->mu);
	for (unsigned i = 0; i < a->nsenders; i++)
		if (a->s[i].running)
			pthread_join(a->s[i].th, NULL);
	audit_free(a);
}

void audit_get_stats(struct audit *a, struct audit_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (a == NULL)
		return;
	spool_stats(a->sp, &st->spool);
	pthread_mutex_lock(&a->mu);
	st->emitted = a->emitted;
	st->queue_drops = a->queue_drops;
	st->written = a->written;
	st->write_failures = a->write_failures;
	st->last_seq = a->last_seq;
	st->ncollectors = a->nsenders;
	for (unsigned i = 0; i < a->nsenders; i++)
		st->c[i] = a->s[i].st;
	pthread_mutex_unlock(&a->mu);
	for (unsigned i = 0; i < a->nsenders; i++)
		st->c[i].backlog = spool_reader_backlog(a->s[i].r);
}
