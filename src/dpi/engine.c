/*
 * The engine: flow lookup (flow.c), classification through a hook, TCP
 * reassembly (stream.c) and the protocol parsers, with one PDU record per
 * application PDU handed to the caller's callback. Owns the per-flow
 * parser state: a small struct in the flow's user area, and for DNP3 a
 * slot of transport reassembly state from a preallocated pool, held only
 * while a multi-fragment message is in progress (a message in one
 * transport segment, the common case, is decoded without one). A COTP TSDU
 * split over several DT TPDUs stays in the stream buffer (unconsumed)
 * until its last DT arrives and is gathered into the engine's scratch, so
 * S7comm needs no per-flow buffer of its own.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "dpi/engine.h"
#include "dpi/flow.h"
#include "dpi/stream.h"

#define ENGINE_DEFAULT_FLOWS 16384
#define ENGINE_DEFAULT_DNP3 256
#define ENGINE_NO_SLOT UINT32_MAX
#define S7_GATHER_MAX STREAM_BUF_MAX

/* Per-flow state in the flow's user area (FLOW_DEFAULT_USER_SIZE). */
struct eflow {
	uint8_t classified; /* a parser was chosen (or DONE with NONE) */
	uint8_t asking;	    /* the classifier wants more packets */
	uint8_t verdict;    /* sticky flow verdict, enum engine_verdict */
	uint8_t proto;	    /* enum engine_proto */
	uint8_t how;	    /* enum engine_class_how */
	uint8_t req_dir;    /* enum flow_dir carrying requests */
	uint8_t broken[2];  /* by enum dpi_dir: reported, no more parsing */
	uint8_t resync[2];  /* DNP3: inside a junk run already reported */
	uint32_t dnp3_slot; /* index into the DNP3 pool, or ENGINE_NO_SLOT */
};

struct dnp3_slot {
	struct dnp3_tp tp[2]; /* by enum dpi_dir */
};

struct engine {
	struct flow_table *flows;
	engine_classify_fn classify;
	void *classify_ctx;
	engine_pdu_fn pdu_cb;
	void *pdu_arg;
	engine_flow_end_fn end_cb;
	void *end_arg;
	size_t hook_off; /* offset of the hook area in the user area */
	size_t hook_size;
	enum engine_verdict last_verdict;
	bool resync_on_gap;
	struct engine_stats st;

	struct dnp3_slot *dnp3;
	uint32_t *dnp3_free; /* stack of free slot indices */
	uint32_t n_dnp3, n_dnp3_free;

	/* decode scratch: one PDU at a time per engine */
	union {
		struct modbus_pdu modbus;
		struct iec104_apdu iec104;
		struct s7comm_pdu s7comm;
		struct enip_pdu enip;
		struct dnp3_apdu dnp3;
	} u;
	struct dnp3_link link;
	struct dnp3_tp tp; /* a transport segment of a flow without a slot */
	uint8_t gather[S7_GATHER_MAX];
};

/* What the stream callback needs to know about the current packet. */
struct ctx {
	struct engine *e;
	struct eflow *ef;
	const struct pkt *p;
	enum dpi_dir dir;
	uint64_t tag;
	uint64_t now_us;
	enum engine_verdict verdict; /* of this packet so far */
};

static void *hook_area(const struct engine *e, struct eflow *ef)
{
	return e->hook_size ? (uint8_t *)ef + e->hook_off : NULL;
}

static const char *const proto_names[ENGINE_PROTO_MAX] = {
	[ENGINE_PROTO_NONE] = "none",	  [ENGINE_PROTO_MODBUS] = "modbus",
	[ENGINE_PROTO_DNP3] = "dnp3",	  [ENGINE_PROTO_IEC104] = "iec104",
	[ENGINE_PROTO_S7COMM] = "s7comm", [ENGINE_PROTO_ENIP] = "enip",
};

const char *engine_proto_name(enum engine_proto proto)
{
	if ((unsigned)proto < ENGINE_PROTO_MAX)
		return proto_names[proto];
	return "none";
}

/* --- classification -------------------------------------------------------- */

static enum engine_proto port_proto(uint8_t l4, uint16_t port)
{
	switch (port) {
	case 502:
		return l4 == IPPROTO_TCP ? ENGINE_PROTO_MODBUS :
					   ENGINE_PROTO_NONE;
	case 20000:
		return ENGINE_PROTO_DNP3;
	case 2404:
		return l4 == IPPROTO_TCP ? ENGINE_PROTO_IEC104 :
					   ENGINE_PROTO_NONE;
	case 102:
		return l4 == IPPROTO_TCP ? ENGINE_PROTO_S7COMM :
					   ENGINE_PROTO_NONE;
	case 44818:
		return ENGINE_PROTO_ENIP;
	case 2222:
		return l4 == IPPROTO_UDP ? ENGINE_PROTO_ENIP :
					   ENGINE_PROTO_NONE;
	default:
		return ENGINE_PROTO_NONE;
	}
}

enum engine_class_result engine_classify_port(void *ctx, const struct pkt *p,
					      void *fuser,
					      struct engine_class *out)
{
	enum engine_proto pr;

	(void)ctx;
	(void)fuser;
	out->how = ENGINE_CLASS_PORT;
	out->server_is_dst = true;
	pr = port_proto(p->l4proto, p->dport);
	if (pr == ENGINE_PROTO_NONE) {
		pr = port_proto(p->l4proto, p->sport);
		out->server_is_dst = pr == ENGINE_PROTO_NONE;
	}
	out->proto = pr;
	return ENGINE_CLASS_DONE;
}

/* --- lifetime -------------------------------------------------------------- */

static void slot_put(struct engine *e, struct eflow *ef)
{
	if (ef->dnp3_slot == ENGINE_NO_SLOT)
		return;
	e->dnp3_free[e->n_dnp3_free++] = ef->dnp3_slot;
	ef->dnp3_slot = ENGINE_NO_SLOT;
}

/* Give the slot back when neither direction has a fragment in progress. */
static void slot_put_idle(struct engine *e, struct eflow *ef)
{
	struct dnp3_slot *s;

	if (ef->dnp3_slot == ENGINE_NO_SLOT)
		return;
	s = &e->dnp3[ef->dnp3_slot];
	if (!s->tp[0].active && !s->tp[1].active)
		slot_put(e, ef);
}

static struct dnp3_slot *slot_get(struct engine *e, struct eflow *ef)
{
	if (ef->dnp3_slot != ENGINE_NO_SLOT)
		return &e->dnp3[ef->dnp3_slot];
	if (e->n_dnp3_free == 0)
		return NULL;
	ef->dnp3_slot = e->dnp3_free[--e->n_dnp3_free];
	dnp3_tp_init(&e->dnp3[ef->dnp3_slot].tp[0]);
	dnp3_tp_init(&e->dnp3[ef->dnp3_slot].tp[1]);
	return &e->dnp3[ef->dnp3_slot];
}

static void on_flow_end(struct flow *f, void *user, enum flow_end why,
			void *arg)
{
	struct engine *e = arg;

	(void)f;
	(void)why;
	if (e->end_cb != NULL && e->hook_size)
		e->end_cb(hook_area(e, user), e->end_arg);
	slot_put(e, user);
}

struct engine *engine_alloc(const struct engine_conf *conf)
{
	struct engine_conf c = { 0 };
	struct flow_conf fc;
	struct engine *e;

	if (conf != NULL)
		c = *conf;
	if (c.max_flows == 0)
		c.max_flows = ENGINE_DEFAULT_FLOWS;
	if (c.max_dnp3 == 0)
		c.max_dnp3 = ENGINE_DEFAULT_DNP3;
	if (c.max_flows > UINT32_MAX || c.max_dnp3 > UINT32_MAX) {
		errno = EINVAL;
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	e->classify = engine_classify_port;
	e->resync_on_gap = c.resync_on_gap;
	e->n_dnp3 = (uint32_t)c.max_dnp3;
	e->dnp3 = calloc(e->n_dnp3, sizeof(*e->dnp3));
	e->dnp3_free = calloc(e->n_dnp3, sizeof(*e->dnp3_free));
	if (e->dnp3 == NULL || e->dnp3_free == NULL)
		goto fail;
	for (uint32_t i = 0; i < e->n_dnp3; i++)
		e->dnp3_free[i] = e->n_dnp3 - 1 - i;
	e->n_dnp3_free = e->n_dnp3;

	flow_conf_defaults(&fc, (uint32_t)c.max_flows);
	e->hook_off = (sizeof(struct eflow) + 7) & ~(size_t)7;
	e->hook_size = c.hook_user_size;
	fc.user_size = (uint32_t)(e->hook_off + c.hook_user_size);
	if (c.stream_bytes != 0)
		fc.stream.large_size =
			(uint32_t)(c.stream_bytes < STREAM_BUF_MAX ?
					   c.stream_bytes :
					   STREAM_BUF_MAX);
	if (c.tcp_timeout != 0)
		fc.timeout_tcp_established = c.tcp_timeout;
	if (c.udp_timeout != 0)
		fc.timeout_udp = c.udp_timeout;
	e->flows = flow_table_alloc(&fc, on_flow_end, e);
	if (e->flows == NULL)
		goto fail;
	return e;
fail:
	engine_free(e);
	if (errno == 0)
		errno = ENOMEM;
	return NULL;
}

void engine_free(struct engine *e)
{
	if (e == NULL)
		return;
	flow_table_free(e->flows); /* ends every flow: slots come back */
	free(e->dnp3);
	free(e->dnp3_free);
	free(e);
}

void engine_set_classifier(struct engine *e, engine_classify_fn fn, void *ctx)
{
	e->classify = fn != NULL ? fn : engine_classify_port;
	e->classify_ctx = fn != NULL ? ctx : NULL;
}

void engine_set_pdu_cb(struct engine *e, engine_pdu_fn fn, void *arg)
{
	e->pdu_cb = fn;
	e->pdu_arg = arg;
}

void engine_set_flow_end_cb(struct engine *e, engine_flow_end_fn fn, void *arg)
{
	e->end_cb = fn;
	e->end_arg = arg;
}

static void rebind_one(struct flow *f, void *user, void *arg)
{
	struct engine *e = arg;
	struct eflow *ef = user;

	(void)f;
	if (e->end_cb != NULL && e->hook_size)
		e->end_cb(hook_area(e, ef), e->end_arg);
	if (e->hook_size)
		memset(hook_area(e, ef), 0, e->hook_size);
	ef->classified = 0;
	ef->asking = 0;
	/* the parser may change with the entry: its state starts over */
	slot_put(e, ef);
	ef->resync[0] = ef->resync[1] = 0;
}

void engine_rebind(struct engine *e)
{
	flow_table_foreach(e->flows, rebind_one, e);
}

enum engine_verdict engine_packet_verdict(const struct engine *e)
{
	return e->last_verdict;
}

const struct engine_stats *engine_get_stats(const struct engine *e)
{
	return &e->st;
}

void engine_count_undecoded(struct engine *e, int rc)
{
	e->st.packets++;
	if (rc == -EPROTONOSUPPORT)
		e->st.not_ip++;
	else
		e->st.bad_packets++;
}

/* --- PDU records ----------------------------------------------------------- */

static void emit(struct ctx *x, struct engine_pdu *r, const char *error,
		 bool broken)
{
	struct engine *e = x->e;
	enum engine_proto pr = (enum engine_proto)x->ef->proto;

	r->tag = x->tag;
	r->now_us = x->now_us;
	r->proto = pr;
	r->dir = x->dir;
	r->l4proto = x->p->l4proto;
	r->src = &x->p->src;
	r->dst = &x->p->dst;
	r->sport = x->p->sport;
	r->dport = x->p->dport;
	r->how = (enum engine_class_how)x->ef->how;
	r->error = error;
	r->broken = broken;
	e->st.pdus[pr]++;
	if (x->dir == DPI_DIR_REQUEST)
		e->st.requests[pr]++;
	else
		e->st.responses[pr]++;
	if (error != NULL)
		e->st.errors[pr]++;
	if (broken) {
		e->st.broken[pr]++;
		x->ef->broken[x->dir] = 1;
	}
	if (e->pdu_cb != NULL) {
		enum engine_verdict v =
			e->pdu_cb(r, hook_area(e, x->ef), e->pdu_arg);

		if (v > x->verdict)
			x->verdict = v;
		/* a TCP PDU refused: its bytes are consumed, so a
		 * retransmission would pass as a duplicate; block the flow */
		if (v > x->ef->verdict && x->p->l4proto == IPPROTO_TCP)
			x->ef->verdict = (uint8_t)v;
	}
}

/* A record with no protocol fields: the direction lost its framing. */
static void emit_broken(struct ctx *x, const char *why)
{
	struct engine_pdu r;

	memset(&r, 0, sizeof(r));
	emit(x, &r, why, true);
}

/* --- per protocol: one call per run of contiguous bytes -------------------- */

/* The framed parsers (Modbus, IEC 104, ENIP) share one loop; each adapter
 * decodes one PDU into the engine's scratch union and points r at it. */
typedef void (*run_parse_fn)(struct ctx *x, const uint8_t *d, size_t len,
			     struct engine_pdu *r, struct dpi_result *res);

static void parse_modbus(struct ctx *x, const uint8_t *d, size_t len,
			 struct engine_pdu *r, struct dpi_result *res)
{
	modbus_parse(d, len, x->dir, &x->e->u.modbus, res);
	r->u.modbus = &x->e->u.modbus;
}

static void parse_iec104(struct ctx *x, const uint8_t *d, size_t len,
			 struct engine_pdu *r, struct dpi_result *res)
{
	iec104_parse(d, len, x->dir, &x->e->u.iec104, res);
	r->u.iec104 = &x->e->u.iec104;
}

static void parse_enip(struct ctx *x, const uint8_t *d, size_t len,
		       struct engine_pdu *r, struct dpi_result *res)
{
	enip_parse(d, len, x->dir, &x->e->u.enip, res);
	r->u.enip = &x->e->u.enip;
}

/* Returns bytes consumed, or -1 when the framing is lost. */
static int run_framed(struct ctx *x, const uint8_t *d, size_t len,
		      run_parse_fn parse)
{
	size_t off = 0;

	while (off < len) {
		struct engine_pdu r = { 0 };
		struct dpi_result res;

		parse(x, d + off, len - off, &r, &res);
		if (res.status == DPI_NEED_MORE)
			break;
		if (res.status == DPI_ERROR && res.consumed == 0) {
			emit_broken(x, res.error);
			return -1;
		}
		emit(x, &r, res.status == DPI_ERROR ? res.error : NULL, false);
		off += res.consumed;
	}
	return (int)off;
}

/*
 * The transport state a segment of x's direction goes into: the flow's
 * slot when it has one, else the engine's scratch, reset (no fragment in
 * progress: exactly the state a fresh slot would have).
 */
static struct dnp3_tp *dnp3_tp_of(struct ctx *x, struct dnp3_slot **slot)
{
	struct engine *e = x->e;

	if (x->ef->dnp3_slot != ENGINE_NO_SLOT) {
		*slot = &e->dnp3[x->ef->dnp3_slot];
		return &(*slot)->tp[x->dir];
	}
	*slot = NULL;
	dnp3_tp_init(&e->tp);
	return &e->tp;
}

/*
 * DNP3 link frames; transport segments go into the direction's
 * reassembly state, a finished fragment is decoded and reported. A bad
 * start or header skips one byte (the parser's resync rule); one record
 * per run of junk, not per byte.
 */
static int run_dnp3(struct ctx *x, const uint8_t *d, size_t len)
{
	struct engine *e = x->e;
	struct dnp3_link *lk = &e->link;
	size_t off = 0;

	while (off < len) {
		struct engine_pdu r = { .u.dnp3.link = lk };
		struct dnp3_slot *slot;
		struct dnp3_tp *tp;
		enum dnp3_tp_status st;
		struct dpi_result res;
		const char *why;

		dnp3_link_parse(d + off, len - off, lk, &res);
		if (res.status == DPI_NEED_MORE)
			break;
		if (res.status == DPI_ERROR) {
			if (res.consumed == 0) {
				emit_broken(x, res.error);
				return -1;
			}
			if (res.consumed > 1 || !x->ef->resync[x->dir]) {
				r.u.dnp3.link = res.consumed > 1 ? lk : NULL;
				emit(x, &r, res.error, false);
			}
			x->ef->resync[x->dir] = res.consumed == 1;
			off += res.consumed;
			continue;
		}
		x->ef->resync[x->dir] = 0;
		off += res.consumed;
		if (!dnp3_link_has_data(lk))
			continue; /* link-layer service only */
		tp = dnp3_tp_of(x, &slot);
		st = dnp3_tp_push(tp, lk->user, lk->user_len, &why);
		if (st == DNP3_TP_MORE && slot == NULL) {
			/* a fragment starts: it needs state of its own now */
			slot = slot_get(e, x->ef);
			if (slot == NULL) {
				e->st.state_pool_full++;
				emit_broken(
					x,
					"dnp3: transport state pool exhausted");
				return -1;
			}
			slot->tp[x->dir].active = tp->active;
			slot->tp[x->dir].next_seq = tp->next_seq;
			slot->tp[x->dir].len = tp->len;
			memcpy(slot->tp[x->dir].buf, tp->buf, tp->len);
		}
		switch (st) {
		case DNP3_TP_MORE:
			break;
		case DNP3_TP_ERROR:
			emit(x, &r, why, false);
			break;
		case DNP3_TP_DONE:
			r.u.dnp3.app = &e->u.dnp3;
			dnp3_app_parse(tp->buf, tp->len, &e->u.dnp3, &res);
			emit(x, &r, res.status == DPI_ERROR ? res.error : NULL,
			     false);
			break;
		}
		if (st != DNP3_TP_MORE)
			slot_put_idle(e, x->ef);
	}
	return (int)off;
}

static void s7_emit(struct ctx *x, struct s7comm_pdu *m, const char *err)
{
	struct engine_pdu r = { .u.s7comm = m };

	emit(x, &r, err, false);
}

/*
 * TPKT/COTP. A DT without end-of-TSDU is left in the stream buffer until
 * the DT that ends the TSDU arrives; then the pieces are gathered and the
 * S7 PDU decoded, reported in the frame of its last piece (as tshark does).
 */
static int run_s7comm(struct ctx *x, const uint8_t *d, size_t len)
{
	struct s7comm_pdu *m = &x->e->u.s7comm;
	size_t off = 0;

	while (off < len) {
		struct dpi_result res;
		size_t end = off, glen = 0;
		bool done = false;
		const char *err = NULL;

		/* walk DTs from off until one ends the TSDU */
		while (!done) {
			s7comm_parse_tpkt(d + end, len - end, m, &res);
			if (res.status == DPI_NEED_MORE)
				return (int)off;
			if (res.status == DPI_ERROR && res.consumed == 0) {
				emit_broken(x, res.error);
				return -1;
			}
			if (res.status == DPI_ERROR) {
				if (end > off)
					err = "cotp: bad TPDU inside a fragmented TSDU";
				s7_emit(x, m, err ? err : res.error);
				end += res.consumed;
				glen = 0;
				break;
			}
			if (m->cotp_type != S7COMM_COTP_DT) {
				if (end > off) {
					s7_emit(x, m,
						"cotp: TPDU inside a fragmented TSDU");
					glen = 0;
				} else {
					s7_emit(x, m, NULL);
				}
				end += res.consumed;
				break;
			}
			if (end == off && m->cotp_eot) {
				/* a TSDU in one DT: decode it in place */
				if (m->payload_len > 0) {
					err = s7comm_parse_payload(
						d + end + m->payload_off,
						m->payload_len, x->dir, m);
					s7_emit(x, m, err);
				}
				end += res.consumed;
				break;
			}
			if (glen + m->payload_len > sizeof(x->e->gather)) {
				s7_emit(x, m,
					"cotp: TSDU exceeds the reassembly buffer");
				end += res.consumed;
				glen = 0;
				break;
			}
			memcpy(x->e->gather + glen, d + end + m->payload_off,
			       m->payload_len);
			glen += m->payload_len;
			end += res.consumed;
			done = m->cotp_eot;
			if (end >= len && !done)
				return (int)off; /* wait for the rest */
		}
		if (done && glen > 0) {
			err = s7comm_parse_payload(x->e->gather, glen, x->dir,
						   m);
			s7_emit(x, m, err);
		}
		off = end;
	}
	return (int)off;
}

static int run_proto(struct ctx *x, const uint8_t *d, size_t len)
{
	switch (x->ef->proto) {
	case ENGINE_PROTO_MODBUS:
		return run_framed(x, d, len, parse_modbus);
	case ENGINE_PROTO_DNP3:
		return run_dnp3(x, d, len);
	case ENGINE_PROTO_IEC104:
		return run_framed(x, d, len, parse_iec104);
	case ENGINE_PROTO_S7COMM:
		return run_s7comm(x, d, len);
	case ENGINE_PROTO_ENIP:
		return run_framed(x, d, len, parse_enip);
	default:
		return (int)len;
	}
}

static int on_stream_data(const uint8_t *data, size_t len, void *arg)
{
	struct ctx *x = arg;

	if (!x->ef->classified)
		return 0; /* hold until the classifier decides */
	return run_proto(x, data, len);
}

/* A datagram is parsed whole; a PDU cut short by its end is malformed. */
static void on_datagram(struct ctx *x)
{
	const uint8_t *d = x->p->payload;
	size_t len = x->p->payload_len;
	int n;

	if (len == 0)
		return;
	if (x->ef->proto == ENGINE_PROTO_ENIP &&
	    (x->p->sport == 2222 || x->p->dport == 2222)) {
		struct engine_pdu r = { .u.enip = &x->e->u.enip,
					.enip_io = true };

		memset(&x->e->u.enip, 0, sizeof(x->e->u.enip));
		emit(x, &r,
		     enip_io_recognise(d, len) ?
			     NULL :
			     "enip: not a CIP class 0/1 I/O datagram",
		     false);
		return;
	}
	n = run_proto(x, d, len);
	/* framing lost inside one datagram does not break the next one */
	x->ef->broken[x->dir] = 0;
	x->ef->resync[x->dir] = 0;
	if (n >= 0 && (size_t)n < len) {
		struct engine_pdu r;

		memset(&r, 0, sizeof(r));
		emit(x, &r, "PDU truncated at the end of the datagram", false);
	}
}

/*
 * A direction of f broke with anomaly st. The record goes out with that
 * direction's addresses (an ACK of bytes never seen breaks the other
 * direction). Returns true when it was reset for a retry (resync_on_gap).
 */
static bool stream_anomaly(struct ctx *x, struct flow *f, enum flow_dir d,
			   enum stream_status st)
{
	struct engine *e = x->e;
	struct ctx y = *x;
	struct pkt rp;
	enum dpi_dir dd = d == x->ef->req_dir ? DPI_DIR_REQUEST :
						DPI_DIR_RESPONSE;
	bool resync = st == STREAM_GAP && e->resync_on_gap;

	e->st.stream_events++;
	if (st == STREAM_NOBUF)
		e->st.state_pool_full++;
	if (dd != x->dir) {
		rp = *x->p;
		rp.src = x->p->dst;
		rp.dst = x->p->src;
		rp.sport = x->p->dport;
		rp.dport = x->p->sport;
		y.p = &rp;
		y.dir = dd;
	}
	if (x->ef->proto != ENGINE_PROTO_NONE && !x->ef->broken[dd]) {
		if (resync) {
			struct engine_pdu r;

			memset(&r, 0, sizeof(r));
			emit(&y, &r,
			     "tcp: bytes missing (capture loss); resynchronised",
			     false);
		} else {
			emit_broken(&y, stream_status_str(st));
		}
	}
	if (!resync)
		return false;
	stream_release(flow_table_stream_pool(e->flows), &f->stream[d]);
	stream_init(&f->stream[d]);
	x->ef->broken[dd] = 0;
	x->ef->resync[dd] = 0;
	if (x->ef->dnp3_slot != ENGINE_NO_SLOT) {
		dnp3_tp_init(&e->dnp3[x->ef->dnp3_slot].tp[dd]);
		slot_put_idle(e, x->ef);
	}
	return true;
}

/* After a segment: report each direction that broke just now. */
static void tcp_segment(struct ctx *x, struct flow *f, enum flow_dir fdir)
{
	const struct pkt *p = x->p;
	struct stream_seg seg = {
		.seq = p->seq,
		.ack = p->ack,
		.flags = p->tcp_flags,
		.data = p->payload,
		.len = p->payload_len,
	};
	bool was[2] = {
		(f->stream[0].flags & STREAM_F_BROKEN) != 0,
		(f->stream[1].flags & STREAM_F_BROKEN) != 0,
	};

	for (int attempt = 0; attempt < 2; attempt++) {
		enum stream_status st;
		bool retry = false;

		st = flow_tcp_segment(x->e->flows, f, fdir, &seg,
				      on_stream_data, x);
		/* replay: a hole in a capture is loss far more often than
		 * reordering; tshark dissects what follows the hole at once */
		if (st == STREAM_HELD && x->e->resync_on_gap && attempt == 0) {
			retry = stream_anomaly(x, f, fdir, STREAM_GAP);
			continue;
		}
		if (!stream_status_is_anomaly(st) || st == STREAM_ABORTED ||
		    st == STREAM_BROKEN)
			return;
		for (int d = 0; d < 2; d++) {
			if (was[d] || !(f->stream[d].flags & STREAM_F_BROKEN))
				continue;
			retry |= stream_anomaly(x, f, (enum flow_dir)d, st);
		}
		if (!retry)
			return;
		was[0] = was[1] = false;
	}
}

int engine_process(struct engine *e, const struct pkt *p, uint64_t now_us,
		   uint64_t tag)
{
	struct flow_key k;
	struct flow *f;
	enum flow_dir fdir;
	struct ctx x = { .e = e, .p = p, .tag = tag, .now_us = now_us };
	uint16_t vlan = p->n_vlan ? p->vlan[p->n_vlan - 1] : 0;
	uint8_t flags = p->l4proto == IPPROTO_TCP ? p->tcp_flags : 0;

	e->st.packets++;
	e->last_verdict = ENGINE_DENY;
	if (p->fragment) {
		e->st.fragments++;
		e->st.verdicts[ENGINE_DENY]++;
		return 0;
	}
	if (p->l4proto != IPPROTO_TCP && p->l4proto != IPPROTO_UDP) {
		e->st.other_l4++;
		e->st.verdicts[ENGINE_DENY]++;
		return 0;
	}
	if (p->ip_version == 4)
		flow_key_v4(&k, p->src.a, p->dst.a, p->sport, p->dport,
			    p->l4proto, vlan);
	else
		flow_key_v6(&k, p->src.a, p->dst.a, p->sport, p->dport,
			    p->l4proto, vlan);
	switch (flow_lookup(e->flows, &k, flags, now_us, &f, &fdir)) {
	case FLOW_FULL:
		e->st.flow_pool_full++;
		e->st.verdicts[ENGINE_DENY]++;
		return -ENOBUFS;
	case FLOW_CREATED:
		e->st.flows++;
		x.ef = flow_user(e->flows, f);
		x.ef->dnp3_slot = ENGINE_NO_SLOT;
		break;
	case FLOW_FOUND:
		x.ef = flow_user(e->flows, f);
		break;
	}
	if (!x.ef->classified || x.ef->asking) {
		struct engine_class c = { .now_us = now_us, .tag = tag };
		enum engine_class_result cr;

		cr = e->classify(e->classify_ctx, p, hook_area(e, x.ef), &c);
		x.ef->asking = cr == ENGINE_CLASS_MORE;
		if (!x.ef->classified &&
		    (cr == ENGINE_CLASS_DONE || c.proto != ENGINE_PROTO_NONE)) {
			x.ef->classified = 1;
			x.ef->proto = (uint8_t)c.proto;
			x.ef->req_dir =
				(uint8_t)(c.server_is_dst ? fdir : !fdir);
		}
		if (x.ef->classified)
			x.ef->how = (uint8_t)c.how;
		if (c.verdict > x.ef->verdict)
			x.ef->verdict = (uint8_t)c.verdict;
	}
	x.dir = fdir == x.ef->req_dir ? DPI_DIR_REQUEST : DPI_DIR_RESPONSE;
	if (x.ef->classified && x.ef->proto == ENGINE_PROTO_NONE)
		e->st.unclassified++;

	if (p->l4proto == IPPROTO_TCP)
		tcp_segment(&x, f, fdir);
	else if (x.ef->classified && x.ef->proto != ENGINE_PROTO_NONE) {
		on_datagram(&x);
	}
	if (x.ef->verdict > x.verdict)
		x.verdict = (enum engine_verdict)x.ef->verdict;
	e->last_verdict = x.verdict;
	e->st.verdicts[x.verdict]++;
	flow_table_sweep(e->flows, now_us, 4);
	return 0;
}
