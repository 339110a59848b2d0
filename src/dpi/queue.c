/*
 * NFQUEUE workers of inline inspection: per queue one thread, one netlink
 * socket bound to the queue, one engine and one verdict instance. The
 * packet path (receive batch -> decode -> engine -> verdict batch) takes
 * no lock and allocates nothing; what crosses threads does so through
 * atomics (counters, the policy generation, the watchdog timestamp) and
 * the per-worker single-producer event ring.
 */
#include "config.h"

#include "common/clock.h"

#include "dpi/queue.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#include "common/log.h"
#include "nft/nft.h"

#define QUEUE_POLL_MS 200 /* idle wake-up: watchdog progress, swaps */
#define QUEUE_SWAP_TIMEOUT_MS 5000
#define QUEUE_CFG_TIMEOUT_MS 1000
#define QUEUE_MSG_EXTRA 1024 /* attributes around the copied packet */
#define QUEUE_VERDICT_MSG 64 /* room for one verdict message */
#define QUEUE_IFCACHE 16
#define QUEUE_CFG_BUF 8192	  /* config messages and their answers */
#define QUEUE_FLOWS_DEFAULT 16384 /* flow entries per worker */

/* One buffered event: the strings the event borrows from the verdict
 * instance are copied, since the instance may be gone (policy swap) by
 * the time the main loop drains the ring. */
struct queue_ev {
	struct dpi_event ev;
	char rule[96];
	char proto[48];
};

struct queue_ring {
	struct queue_ev *v;
	size_t mask;
	_Atomic size_t head; /* written by the worker */
	_Atomic size_t tail; /* written by the draining thread */
};

struct queue_ifname {
	uint32_t index; /* 0: free */
	char name[IF_NAMESIZE];
};

/* Counters the worker writes (single writer) and the stats reader loads. */
struct queue_counters {
	_Atomic uint64_t packets;
	_Atomic uint64_t verdicts[3];
	_Atomic uint64_t batches;
	_Atomic uint64_t recv_errors;
	_Atomic uint64_t send_errors;
	_Atomic uint64_t resets, reset_errors;
	_Atomic uint64_t untracked;
	_Atomic uint64_t handed_back;
	_Atomic uint64_t flow_table_full;
	_Atomic uint64_t events_dropped;
	_Atomic uint64_t last_progress_us;
	_Atomic uint64_t policy_gen;
};

struct queue_worker {
	struct queue_set *q;
	size_t idx;
	uint16_t qnum;
	pthread_t th;
	bool running;
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;

	struct engine *e;
	struct verdict *v;
	const struct pol_policy *pol; /* the one e and v use */

	/* receive batch and verdict buffer, preallocated */
	size_t msg_size;
	char *rbuf;
	struct mmsghdr *mm;
	struct iovec *iov;
	char *vbuf;
	uint32_t *ids;
	uint8_t *vds;
	uint32_t *marks; /* packet marks (QVD_HANDBACK keeps them) */

	struct queue_ifname ifc[QUEUE_IFCACHE];
	unsigned int ifc_next;

	struct queue_ring ring;
	struct queue_counters c;
	_Atomic uint64_t ack_gen;  /* last generation handled */
	_Atomic int swap_err;	   /* result of handling ack_gen */
	_Atomic uint32_t stall_ms; /* test hook */
};

struct queue_set {
	struct queue_conf conf;
	size_t n;
	struct queue_worker *w;
	int efd;
	atomic_bool stop;
	/* policy publication: gen changes after pol under pub_lock */
	pthread_mutex_t pub_lock;
	pthread_mutex_t swap_lock; /* one queue_set_policy at a time */
	const struct pol_policy *pol;
	_Atomic uint64_t gen;
};

/* Single writer: a relaxed load + store is enough and costs no lock. */
static inline void cnt_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c,
			      atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static inline uint64_t cnt_get(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* --- event ring ----------------------------------------------------------- */

static int ring_init(struct queue_ring *r, size_t want)
{
	size_t cap = 1;

	while (cap < want)
		cap <<= 1;
	r->v = calloc(cap, sizeof(*r->v));
	if (r->v == NULL)
		return -ENOMEM;
	r->mask = cap - 1;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	return 0;
}

static void on_event(const struct dpi_event *ev, void *arg)
{
	struct queue_worker *w = arg;
	struct queue_ring *r = &w->ring;
	size_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	size_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
	struct queue_ev *s;
	uint64_t one = 1;

	if (h - t > r->mask) {
		cnt_add(&w->c.events_dropped, 1);
		return;
	}
	s = &r->v[h & r->mask];
	s->ev = *ev;
	snprintf(s->rule, sizeof(s->rule), "%s", ev->rule ? ev->rule : "");
	snprintf(s->proto, sizeof(s->proto), "%s", ev->proto ? ev->proto : "");
	s->ev.rule = ev->rule ? s->rule : NULL;
	s->ev.proto = ev->proto ? s->proto : NULL;
	/* seq_cst store then load, paired with the drain side: either the
	 * drainer sees this entry or this side sees the ring was empty */
	atomic_store(&r->head, h + 1);
	if (atomic_load(&r->tail) == h && w->q->efd >= 0 &&
	    write(w->q->efd, &one, sizeof(one)) < 0) {
		/* the counter cannot overflow at one write per empty ring */
	}
}

size_t queue_drain_events(struct queue_set *q, dpi_event_fn fn, void *arg)
{
	size_t n = 0;
	uint64_t cnt;

	if (q->efd >= 0 && read(q->efd, &cnt, sizeof(cnt)) < 0) {
		/* EAGAIN: nothing signalled; the rings are checked anyway */
	}
	for (size_t i = 0; i < q->n; i++) {
		struct queue_ring *r = &q->w[i].ring;
		size_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);

		for (;;) {
			size_t h = atomic_load(&r->head);

			if (t == h)
				break;
			while (t != h) {
				fn(&r->v[t & r->mask].ev, arg);
				t++;
				n++;
			}
			atomic_store(&r->tail, t);
		}
	}
	return n;
}

int queue_event_fd(const struct queue_set *q)
{
	return q ? q->efd : -1;
}

/* --- netlink setup ---------------------------------------------------------- */

static void drop_stray(struct queue_worker *w, const struct nlmsghdr *nlh)
{
	struct nlattr *attr[NFQA_MAX + 1] = { 0 };
	const struct nfqnl_msg_packet_hdr *ph;
	char buf[QUEUE_VERDICT_MSG];
	struct nlmsghdr *v;

	if (nfq_nlmsg_parse(nlh, attr) < 0 || attr[NFQA_PACKET_HDR] == NULL)
		return;
	ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	v = nfq_nlmsg_put(buf, NFQNL_MSG_VERDICT, w->qnum);
	nfq_nlmsg_verdict_put(v, (int)ntohl(ph->packet_id), NF_DROP);
	if (mnl_socket_sendto(w->nl, v, v->nlmsg_len) < 0)
		cnt_add(&w->c.send_errors, 1);
}

/* Send a config message with ACK and wait for the answer; packets that
 * arrive meanwhile (the queue is already bound) are dropped. */
static int cfg_send(struct queue_worker *w, struct nlmsghdr *nlh)
{
	char buf[QUEUE_CFG_BUF];
	int fd = mnl_socket_get_fd(w->nl);
	uint64_t deadline = clock_mono_us() + QUEUE_CFG_TIMEOUT_MS * 1000u;

	nlh->nlmsg_flags |= NLM_F_ACK;
	nlh->nlmsg_seq = ++w->seq;
	if (mnl_socket_sendto(w->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t now = clock_mono_us();
		struct nlmsghdr *m;
		ssize_t len;
		int n;

		if (now >= deadline)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)((deadline - now) / 1000) + 1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		len = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (len < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -errno;
		}
		n = (int)len;
		for (m = (struct nlmsghdr *)buf; mnl_nlmsg_ok(m, n);
		     m = mnl_nlmsg_next(m, &n)) {
			const struct nlmsgerr *err;

			if (m->nlmsg_type != NLMSG_ERROR) {
				drop_stray(w, m);
				continue;
			}
			if (m->nlmsg_seq != w->seq)
				continue;
			err = mnl_nlmsg_get_payload(m);
			return err->error; /* 0 or -errno */
		}
	}
}

static int worker_bind(struct queue_worker *w, const struct queue_conf *c)
{
	char buf[QUEUE_CFG_BUF];
	struct nlmsghdr *nlh;
	int one = 1, rb = (int)c->rcvbuf, fd, ret;

	memset(buf, 0, sizeof(buf)); /* attribute padding goes out too */
	w->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (w->nl == NULL) {
		ret = -errno;
		log_warn("queue %u: netlink socket", w->qnum);
		return ret;
	}
	if (mnl_socket_bind(w->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		log_warn("queue %u: netlink bind", w->qnum);
		return ret;
	}
	w->portid = mnl_socket_get_portid(w->nl);
	fd = mnl_socket_get_fd(w->nl);
	/* FORCE needs CAP_NET_ADMIN; without it rmem_max caps the size */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rb, sizeof(rb)) < 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof(rb)) < 0)
		log_warn("queue %u: receive buffer of %d bytes", w->qnum, rb);
	/* overload shows in the kernel's per-queue counters instead */
	if (mnl_socket_setsockopt(w->nl, NETLINK_NO_ENOBUFS, &one,
				  sizeof(one)) < 0)
		log_warn("queue %u: NETLINK_NO_ENOBUFS", w->qnum);

	/* bind, copy mode, length and flags in one message: the kernel
	 * applies the command first, so the queue never runs with defaults */
	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, w->qnum);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, (int)c->copy_range);
	nfq_nlmsg_cfg_put_qmaxlen(nlh, c->max_len);
	/* GSO on (large segments are not dropped or split), FAIL_OPEN off:
	 * a full queue drops (fail close) */
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(NFQA_CFG_F_GSO));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK,
			 htonl(NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN));
	ret = cfg_send(w, nlh);
	if (ret < 0) {
		log_warnx("queue %u: bind: %s%s", w->qnum, strerror(-ret),
			  ret == -EBUSY ? " (bound by another process)" : "");
		return ret;
	}
	return 0;
}

/* --- per worker engine ------------------------------------------------------ */

static int build(struct queue_set *q, struct queue_worker *w,
		 const struct pol_policy *p, struct engine **eo,
		 struct verdict **vo)
{
	struct engine_conf ec = q->conf.engine;
	struct verdict *v;
	struct engine *e;
	int ret;

	ec.hook_user_size = verdict_flow_size();
	v = verdict_alloc(p, &q->conf.verdict);
	if (v == NULL) {
		ret = errno ? -errno : -ENOMEM;
		log_warnx("queue %u: verdict instance: %s", w->qnum,
			  strerror(-ret));
		return ret;
	}
	e = engine_alloc(&ec);
	if (e == NULL) {
		ret = errno ? -errno : -ENOMEM;
		log_warnx("queue %u: engine: %s", w->qnum, strerror(-ret));
		verdict_free(v);
		return ret;
	}
	verdict_attach(v, e);
	verdict_set_event_cb(v, on_event, w);
	*eo = e;
	*vo = v;
	return 0;
}

/* engine first: ending its flows flushes events through the verdict */
static void unbuild(struct engine *e, struct verdict *v)
{
	engine_free(e);
	verdict_free(v);
}

/* Between two batches: take a newly published policy. */
static void check_policy(struct queue_worker *w)
{
	struct queue_set *q = w->q;
	const struct pol_policy *p;
	struct verdict *v;
	uint64_t gen;
	int ret = 0;

	if (atomic_load_explicit(&q->gen, memory_order_acquire) ==
	    atomic_load_explicit(&w->ack_gen, memory_order_relaxed))
		return;
	/* building under the lock: the publisher never frees a policy a
	 * worker is still building with */
	pthread_mutex_lock(&q->pub_lock);
	gen = atomic_load(&q->gen);
	p = q->pol;
	if (p != w->pol) {
		/* a new verdict instance; the engine and its flows stay: each
		 * flow keeps its reassembly and sticky verdict and is bound
		 * to p at its next packet (engine_rebind); counters carry on */
		v = verdict_alloc(p, &q->conf.verdict);
		if (v == NULL) {
			ret = errno ? -errno : -ENOMEM;
			log_warnx("queue %u: verdict instance: %s", w->qnum,
				  strerror(-ret));
		} else {
			verdict_carry_counts(v, w->v);
			engine_rebind(w->e); /* old hooks release their state */
			verdict_attach(v, w->e);
			verdict_set_event_cb(v, on_event, w);
			verdict_free(w->v);
			w->v = v;
			w->pol = p;
		}
	}
	if (ret == 0)
		atomic_store_explicit(&w->c.policy_gen, gen,
				      memory_order_relaxed);
	atomic_store(&w->swap_err, ret);
	atomic_store(&w->ack_gen, gen);
	pthread_mutex_unlock(&q->pub_lock);
}

/* --- packet path ------------------------------------------------------------ */

static const char *ifname(struct queue_worker *w, const struct nlattr *a)
{
	uint32_t idx;
	struct queue_ifname *s;

	if (a == NULL)
		return NULL;
	idx = ntohl(mnl_attr_get_u32(a));
	if (idx == 0)
		return NULL;
	for (size_t i = 0; i < QUEUE_IFCACHE; i++)
		if (w->ifc[i].index == idx)
			return w->ifc[i].name[0] ? w->ifc[i].name : NULL;
	/* first packet on this interface: one lookup, then cached, a
	 * failed one too (an interface renamed later keeps its old name
	 * here until evicted) */
	s = &w->ifc[w->ifc_next++ % QUEUE_IFCACHE];
	s->index = idx;
	if (if_indextoname(idx, s->name) == NULL)
		s->name[0] = '\0';
	return s->name[0] ? s->name : NULL;
}

/*
 * The answer to a rejected TCP segment: a Modbus exception response to
 * the client and a reset to the server when a rule with `exception`
 * refused this packet's one request (verdict_last_answer), else resets
 * to both ends (also the fallback when the segment holds more than it).
 */
static int reject_answer(struct queue_worker *w, const struct pkt *p)
{
	const struct verdict_answer *a = verdict_last_answer(w->v);
	struct reset_modbus m;

	if (!a->valid)
		return reset_send(w->q->conf.reset, p);
	m = (struct reset_modbus){
		.transaction_id = a->transaction_id,
		.unit_id = a->unit_id,
		.function = a->function,
		.exception = a->exception,
		.pdu_len = a->pdu_len,
	};
	return reset_send_exception(w->q->conf.reset, p, &m);
}

/* handle()'s answer for an accepted packet that settled its flow: accept
 * and rewrite the ct mark (one message of its own, not batched) */
#define QVD_HANDBACK 0x40

/* One queued packet: its verdict (NF_ACCEPT / NF_DROP / QVD_HANDBACK). */
static int handle(struct queue_worker *w, struct nlattr **attr, uint64_t now_us,
		  uint32_t id)
{
	const struct nlattr *pl = attr[NFQA_PAYLOAD];
	enum engine_verdict ev;
	struct pkt p;
	int rc;

	cnt_add(&w->c.packets, 1);
	memset(&p, 0, sizeof(p)); /* pkt_decode_ip keeps the VLAN fields */
	rc = pl ? pkt_decode_ip(&p, mnl_attr_get_payload(pl),
				mnl_attr_get_payload_len(pl)) :
		  -EBADMSG;
	if (rc < 0) {
		engine_count_undecoded(w->e, rc);
		goto untracked;
	}
	p.iifname = ifname(w, attr[NFQA_IFINDEX_INDEV]);
	p.oifname = ifname(w, attr[NFQA_IFINDEX_OUTDEV]);
	verdict_packet_begin(w->v);
	rc = engine_process(w->e, &p, now_us, id);
	if (rc < 0) {
		if (rc == -ENOBUFS)
			cnt_add(&w->c.flow_table_full, 1);
		goto untracked;
	}
	ev = engine_packet_verdict(w->e);
	cnt_add(&w->c.verdicts[ev], 1);
	/* reject: RSTs to both ends, sent before the batched drop (the
	 * refused segment is held in the queue, so the receiver's next
	 * expected sequence is exactly the segment's); later packets of the
	 * flow keep the sticky verdict and are dropped */
	if (ev == ENGINE_REJECT && p.l4proto == IPPROTO_TCP && !p.fragment &&
	    w->q->conf.reset != NULL && !(p.tcp_flags & PKT_TCP_RST))
		cnt_add(reject_answer(w, &p) < 0 ? &w->c.reset_errors :
						   &w->c.resets,
			1);
	if (ev != ENGINE_ALLOW)
		return NF_DROP;
	if (!w->q->conf.no_handback && verdict_packet_settled(w->v)) {
		cnt_add(&w->c.handed_back, 1);
		return QVD_HANDBACK;
	}
	return NF_ACCEPT;
untracked:
	cnt_add(&w->c.untracked, 1);
	cnt_add(&w->c.verdicts[ENGINE_DENY], 1);
	return NF_DROP;
}

static char *put_verdict(struct queue_worker *w, char *at, int type,
			 uint32_t id, int verdict, uint32_t mark)
{
	struct nlmsghdr *nlh = nfq_nlmsg_put(at, type, w->qnum);

	if (verdict == QVD_HANDBACK) {
		/* once more through the forward chain, whose first rule
		 * sees the packet mark bit, rewrites the ct mark and accepts
		 * (nft.h NFT_PKT_MARK_HANDBACK); the packet's other mark bits
		 * are kept */
		nfq_nlmsg_verdict_put(nlh, (int)id, NF_REPEAT);
		nfq_nlmsg_verdict_put_mark(nlh, mark | NFT_PKT_MARK_HANDBACK);
	} else {
		nfq_nlmsg_verdict_put(nlh, (int)id, verdict);
	}
	return at + NLMSG_ALIGN(nlh->nlmsg_len);
}

/*
 * All verdicts of a batch in one sendmsg. A run of equal verdicts becomes
 * one VERDICT_BATCH (it applies to every queued id up to the run's last
 * one, and everything before the run has been answered by the messages
 * before it); a single packet gets a plain VERDICT.
 */
static void send_verdicts(struct queue_worker *w, size_t n)
{
	char *at = w->vbuf;
	size_t i = 0;

	while (i < n) {
		size_t j = i + 1;

		while (j < n && w->vds[j] == w->vds[i] &&
		       w->vds[i] != QVD_HANDBACK)
			j++;
		if (j - i > 1)
			at = put_verdict(w, at, NFQNL_MSG_VERDICT_BATCH,
					 w->ids[j - 1], w->vds[i], 0);
		else
			at = put_verdict(w, at, NFQNL_MSG_VERDICT, w->ids[i],
					 w->vds[i], w->marks[i]);
		i = j;
	}
	if (mnl_socket_sendto(w->nl, w->vbuf, (size_t)(at - w->vbuf)) < 0)
		cnt_add(&w->c.send_errors, 1);
}

static void do_batch(struct queue_worker *w, int nmsg, uint64_t now_us)
{
	size_t n = 0;

	for (int i = 0; i < nmsg; i++) {
		int len = (int)w->mm[i].msg_len;
		struct nlmsghdr *nlh =
			(struct nlmsghdr *)(w->rbuf + (size_t)i * w->msg_size);

		for (; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			struct nlattr *attr[NFQA_MAX + 1] = { 0 };
			const struct nfqnl_msg_packet_hdr *ph;

			if (nlh->nlmsg_type == NLMSG_ERROR ||
			    nlh->nlmsg_type == NLMSG_DONE)
				continue;
			if (nfq_nlmsg_parse(nlh, attr) < 0 ||
			    attr[NFQA_PACKET_HDR] == NULL) {
				cnt_add(&w->c.recv_errors, 1);
				continue;
			}
			if (n == w->q->conf.batch)
				break; /* one packet per message: cannot happen */
			ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
			w->ids[n] = ntohl(ph->packet_id);
			w->marks[n] = attr[NFQA_MARK] ?
					      ntohl(mnl_attr_get_u32(
						      attr[NFQA_MARK])) :
					      0;
			w->vds[n] = (uint8_t)handle(w, attr, now_us, w->ids[n]);
			n++;
		}
	}
	if (n)
		send_verdicts(w, n);
	verdict_tick(w->v, now_us);
	cnt_add(&w->c.batches, 1);
}

static void test_stall(struct queue_worker *w)
{
	uint32_t ms = atomic_exchange(&w->stall_ms, 0);

	while (ms && !atomic_load(&w->q->stop)) {
		uint32_t d = ms < 10 ? ms : 10;
		struct timespec ts = { .tv_nsec = (long)d * 1000000 };

		nanosleep(&ts, NULL);
		ms -= d;
	}
}

static void *worker_run(void *arg)
{
	struct queue_worker *w = arg;
	struct queue_set *q = w->q;
	int fd = mnl_socket_get_fd(w->nl);

	if (q->conf.pin) {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		cpu_set_t cs;

		CPU_ZERO(&cs);
		CPU_SET((size_t)w->idx % (size_t)(ncpu > 0 ? ncpu : 1), &cs);
		if (pthread_setaffinity_np(pthread_self(), sizeof(cs), &cs))
			log_warnx("queue %u: cannot pin to a CPU", w->qnum);
	}
	while (!atomic_load_explicit(&q->stop, memory_order_relaxed)) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t now;
		int n;

		test_stall(w);
		check_policy(w);
		n = poll(&pfd, 1, QUEUE_POLL_MS);
		if (n < 0 && errno != EINTR)
			cnt_add(&w->c.recv_errors, 1);
		if (n > 0) {
			/* up to `batch` messages in one call, none waited
			 * for; the iovecs stay pointed at their slots */
			n = recvmmsg(fd, w->mm, q->conf.batch, MSG_DONTWAIT,
				     NULL);
			if (n < 0 && errno != EAGAIN && errno != EINTR &&
			    errno != ENOBUFS)
				cnt_add(&w->c.recv_errors, 1);
			if (n > 0)
				do_batch(w, n, clock_mono_us());
		}
		/* a batch, or an idle timeout: progress for the watchdog */
		now = clock_mono_us();
		if (n <= 0)
			verdict_tick(w->v, now);
		atomic_store_explicit(&w->c.last_progress_us, now,
				      memory_order_relaxed);
	}
	return NULL;
}

/* --- set ------------------------------------------------------------------- */

static int worker_init(struct queue_set *q, struct queue_worker *w, size_t i,
		       const struct pol_policy *p)
{
	const struct queue_conf *c = &q->conf;
	int ret;

	w->q = q;
	w->idx = i;
	w->qnum = (uint16_t)(c->first + i);
	/* each slot starts a netlink message: keep them aligned */
	w->msg_size = ((size_t)c->copy_range + QUEUE_MSG_EXTRA + 7) &
		      ~(size_t)7;
	w->rbuf = malloc(c->batch * w->msg_size);
	w->mm = calloc(c->batch, sizeof(*w->mm));
	w->iov = calloc(c->batch, sizeof(*w->iov));
	w->vbuf = malloc((size_t)c->batch * QUEUE_VERDICT_MSG);
	w->ids = calloc(c->batch, sizeof(*w->ids));
	w->vds = calloc(c->batch, sizeof(*w->vds));
	w->marks = calloc(c->batch, sizeof(*w->marks));
	if (w->rbuf == NULL || w->mm == NULL || w->iov == NULL ||
	    w->vbuf == NULL || w->ids == NULL || w->vds == NULL ||
	    w->marks == NULL || ring_init(&w->ring, c->event_ring) < 0) {
		log_warnx("queue %u: out of memory for %u-packet batches",
			  w->qnum, c->batch);
		return -ENOMEM;
	}
	for (size_t k = 0; k < c->batch; k++) {
		w->iov[k].iov_base = w->rbuf + k * w->msg_size;
		w->iov[k].iov_len = w->msg_size;
		w->mm[k].msg_hdr.msg_iov = &w->iov[k];
		w->mm[k].msg_hdr.msg_iovlen = 1;
	}
	ret = build(q, w, p, &w->e, &w->v);
	if (ret < 0)
		return ret;
	w->pol = p;
	atomic_init(&w->ack_gen, 1);
	atomic_init(&w->c.policy_gen, 1);
	atomic_init(&w->c.last_progress_us, clock_mono_us());
	return worker_bind(w, c);
}

static void worker_fini(struct queue_worker *w)
{
	if (w->q == NULL)
		return;
	/* closing the socket unbinds the queue: the kernel drops what is
	 * still queued (no bypass) */
	if (w->nl)
		mnl_socket_close(w->nl);
	if (w->e)
		unbuild(w->e, w->v);
	else
		verdict_free(w->v);
	free(w->rbuf);
	free(w->mm);
	free(w->iov);
	free(w->vbuf);
	free(w->ids);
	free(w->vds);
	free(w->marks);
	free(w->ring.v);
}

static void set_free(struct queue_set *q)
{
	for (size_t i = 0; i < q->n; i++)
		worker_fini(&q->w[i]);
	free(q->w);
	if (q->efd >= 0)
		close(q->efd);
	pthread_mutex_destroy(&q->pub_lock);
	pthread_mutex_destroy(&q->swap_lock);
	free(q);
}

static void conf_defaults(struct queue_conf *c)
{
	if (c->n == 0) {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

		c->n = (uint16_t)(ncpu > 0 ? ncpu : 1);
		if (c->n > QUEUE_MAX_WORKERS)
			c->n = QUEUE_MAX_WORKERS;
	}
	if (c->copy_range == 0 || c->copy_range > 65535)
		c->copy_range = 65535;
	if (c->max_len == 0)
		c->max_len = 4096;
	if (c->rcvbuf == 0 || c->rcvbuf > INT32_MAX)
		c->rcvbuf = 8u << 20;
	if (c->batch == 0)
		c->batch = 64;
	if (c->batch > 1024)
		c->batch = 1024;
	if (c->event_ring == 0)
		c->event_ring = 1024;
	/* set here, so the stats know the table size the engines got */
	if (c->engine.max_flows == 0)
		c->engine.max_flows = QUEUE_FLOWS_DEFAULT;
}

int queue_start(struct queue_set **out, const struct queue_conf *c,
		const struct pol_policy *p)
{
	struct queue_set *q;
	int ret;

	*out = NULL;
	if (c->n > QUEUE_MAX_WORKERS) {
		log_warnx("queue: %u workers: at most %d", c->n,
			  QUEUE_MAX_WORKERS);
		return -EINVAL;
	}
	q = calloc(1, sizeof(*q));
	if (q == NULL)
		return -ENOMEM;
	q->conf = *c;
	conf_defaults(&q->conf);
	pthread_mutex_init(&q->pub_lock, NULL);
	pthread_mutex_init(&q->swap_lock, NULL);
	atomic_init(&q->stop, false);
	atomic_init(&q->gen, 1);
	q->pol = p;
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->efd < 0) {
		ret = -errno;
		log_warn("queue: eventfd");
		goto fail;
	}
	q->w = calloc(q->conf.n, sizeof(*q->w));
	if (q->w == NULL) {
		ret = -ENOMEM;
		goto fail;
	}
	q->n = q->conf.n;
	if ((uint32_t)q->conf.first + q->n > 65536) {
		ret = -EINVAL;
		log_warnx("queue: %zu queues from %u end beyond 65535", q->n,
			  q->conf.first);
		goto fail;
	}
	for (size_t i = 0; i < q->n; i++) {
		ret = worker_init(q, &q->w[i], i, p);
		if (ret < 0)
			goto fail;
	}
	for (size_t i = 0; i < q->n; i++) {
		ret = -pthread_create(&q->w[i].th, NULL, worker_run, &q->w[i]);
		if (ret < 0) {
			log_warnx("queue %u: thread: %s", q->w[i].qnum,
				  strerror(-ret));
			queue_stop(q);
			return ret;
		}
		q->w[i].running = true;
	}
	*out = q;
	return 0;
fail:
	set_free(q);
	return ret;
}

void queue_stop(struct queue_set *q)
{
	if (q == NULL)
		return;
	atomic_store(&q->stop, true);
	for (size_t i = 0; i < q->n; i++)
		if (q->w[i].running)
			pthread_join(q->w[i].th, NULL);
	/* events flushed by engine_free here and not drained are lost */
	set_free(q);
}

/*
 * Publish p as a new generation and wait until the workers acknowledged
 * it: all of them, or (back != NULL) only those that were using `back`
 * when p was published (read under the lock, so no other worker can take
 * `back` any more). 0, -ETIMEDOUT, or the first build error.
 */
static int publish(struct queue_set *q, const struct pol_policy *p,
		   const struct pol_policy *back, uint64_t *gen_out)
{
	uint64_t gen,
		deadline = clock_mono_us() + QUEUE_SWAP_TIMEOUT_MS * 1000u;
	bool who[QUEUE_MAX_WORKERS];
	int err = 0;

	pthread_mutex_lock(&q->pub_lock);
	q->pol = p;
	gen = atomic_load(&q->gen) + 1;
	atomic_store(&q->gen, gen);
	for (size_t i = 0; i < q->n; i++)
		who[i] = back == NULL || q->w[i].pol == back;
	pthread_mutex_unlock(&q->pub_lock);
	*gen_out = gen;
	for (size_t i = 0; i < q->n; i++) {
		struct queue_worker *w = &q->w[i];

		if (!who[i])
			continue;
		while (atomic_load(&w->ack_gen) < gen) {
			struct timespec ts = { .tv_nsec = 1000000 };

			if (clock_mono_us() >= deadline)
				return -ETIMEDOUT;
			nanosleep(&ts, NULL);
		}
		if (err == 0)
			err = atomic_load(&w->swap_err);
	}
	return err;
}

int queue_set_policy(struct queue_set *q, const struct pol_policy *p)
{
	const struct pol_policy *old;
	uint64_t gen;
	int ret;

	pthread_mutex_lock(&q->swap_lock);
	old = q->pol;
	ret = publish(q, p, NULL, &gen);
	if (ret == 0 || p == old)
		goto out;
	/* back to the old policy everywhere: wait for the workers that took
	 * p; the others still use the old one */
	if (publish(q, old, p, &gen) != 0) {
		log_warnx("queue: a worker still uses the new policy (stalled, "
			  "or out of memory): it must stay allocated");
		ret = -EBUSY;
	}
	log_warnx("queue: policy swap failed (%s); the previous policy stays "
		  "in use",
		  strerror(-ret));
out:
	pthread_mutex_unlock(&q->swap_lock);
	return ret;
}

size_t queue_workers(const struct queue_set *q)
{
	return q->n;
}

/* /proc/net/netfilter/nfnetlink_queue (of the caller's netns): queue,
 * portid, waiting, copy mode, copy range, queue_dropped, user_dropped,
 * id sequence, 1. Both drop counters are overload. */
static uint64_t kernel_drops(uint16_t qnum)
{
	FILE *f = fopen("/proc/net/netfilter/nfnetlink_queue", "re");
	unsigned int num, mode, range;
	unsigned long long qd, ud;
	unsigned int portid, waiting;
	uint64_t drops = 0;
	char line[256];

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%u %u %u %u %u %llu %llu", &num, &portid,
			   &waiting, &mode, &range, &qd, &ud) == 7 &&
		    num == qnum) {
			drops = qd + ud;
			break;
		}
	fclose(f);
	return drops;
}

void queue_worker_stats(const struct queue_set *q, size_t i,
			struct queue_worker_stats *out)
{
	/* the lock is state, not value: taking it does not change q */
	pthread_mutex_t *lock = (pthread_mutex_t *)&q->pub_lock;
	const struct queue_worker *w;

	memset(out, 0, sizeof(*out));
	if (i >= q->n)
		return;
	w = &q->w[i];
	out->queue = w->qnum;
	out->packets = cnt_get(&w->c.packets);
	for (int k = 0; k < 3; k++)
		out->verdicts[k] = cnt_get(&w->c.verdicts[k]);
	out->batches = cnt_get(&w->c.batches);
	out->recv_errors = cnt_get(&w->c.recv_errors);
	out->send_errors = cnt_get(&w->c.send_errors);
	out->resets = cnt_get(&w->c.resets);
	out->reset_errors = cnt_get(&w->c.reset_errors);
	out->untracked = cnt_get(&w->c.untracked);
	out->handed_back = cnt_get(&w->c.handed_back);
	out->events_dropped = cnt_get(&w->c.events_dropped);
	out->kernel_drops = kernel_drops(w->qnum);
	out->last_progress_us = cnt_get(&w->c.last_progress_us);
	out->policy_gen = cnt_get(&w->c.policy_gen);
	out->flow_table_full = cnt_get(&w->c.flow_table_full);
	out->flows_max = q->conf.engine.max_flows;
	/* w->v is replaced (and the old one freed) only under the lock */
	pthread_mutex_lock(lock);
	if (w->v != NULL) {
		out->flows_active = verdict_active_flows(w->v);
		verdict_total_counts(w->v, &out->counts);
	}
	pthread_mutex_unlock(lock);
}

size_t queue_conduit_counts(struct queue_set *q, const struct pol_policy *p,
			    struct verdict_counts *out)
{
	size_t n = 0;

	if (p == NULL)
		return 0;
	memset(out, 0, p->n_conduits * sizeof(*out));
	pthread_mutex_lock(&q->pub_lock);
	for (size_t i = 0; i < q->n; i++) {
		const struct queue_worker *w = &q->w[i];
		size_t nc;

		if (w->v == NULL)
			continue;
		nc = verdict_conduits(w->v);
		for (size_t k = 0; k < nc; k++) {
			const struct pol_conduit *c =
				w->pol == p ?
					&p->conduits[k] :
					policy_conduit_by_name(
						p, w->pol->conduits[k].name);
			struct verdict_counts vc;
			struct verdict_counts *o;

			if (c == NULL || c->id < 1 || c->id > p->n_conduits)
				continue;
			o = &out[c->id - 1];
			verdict_conduit_counts(w->v, k, &vc);
			o->flows += vc.flows;
			o->flows_denied += vc.flows_denied;
			for (int a = 0; a < 3; a++)
				o->pdus[a] += vc.pdus[a];
			o->malformed += vc.malformed;
		}
		n++;
	}
	pthread_mutex_unlock(&q->pub_lock);
	return n;
}

bool queue_healthy(const struct queue_set *q, uint64_t now_us,
		   uint64_t stall_us)
{
	for (size_t i = 0; i < q->n; i++) {
		uint64_t t = cnt_get(&q->w[i].c.last_progress_us);

		if (now_us > t && now_us - t > stall_us)
			return false;
	}
	return true;
}

void queue_test_stall(struct queue_set *q, size_t i, uint32_t ms)
{
	if (i < q->n)
		atomic_store(&q->w[i].stall_ms, ms);
}
