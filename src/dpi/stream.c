/*
 * TCP stream reassembly per direction, and the pool of buffers it borrows
 * from. A buffer holds the bytes [base_seq, next_seq) of a direction: a
 * consumed prefix kept for comparison with retransmissions until the peer
 * acknowledges it, then the bytes the parser has not consumed, then up to
 * STREAM_OOO_MAX ranges received beyond a hole. When the bytes are
 * consumed and acknowledged the buffer goes back to the pool.
 */
#include "dpi/stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BUF_LARGE 0x800000u /* buffer id (24 bits): class bit */
#define BUF_NIL UINT32_MAX
/* A segment longer than this is never a real TCP segment (GSO <= 64 KiB). */
#define SEG_MAX (1u << 20)

/* Metadata of a buffer; the out-of-order ranges are offsets from base_seq. */
struct stream_bufhdr {
	uint32_t next_free;
	uint16_t nooo;
	uint16_t ooo_off[STREAM_OOO_MAX];
	uint16_t ooo_len[STREAM_OOO_MAX];
};

struct stream_class {
	uint8_t *mem;
	struct stream_bufhdr *hdr;
	uint32_t nbufs;
	uint32_t size;
	uint32_t free_head;
	uint32_t *used;
	uint32_t *peak;
};

struct stream_pool {
	struct stream_class cls[2]; /* 0 small, 1 large */
	struct stream_stats stats;
	size_t memory;
};

static const char *const status_names[] = {
	[STREAM_OK] = "ok",
	[STREAM_NODATA] = "nodata",
	[STREAM_DUP] = "duplicate",
	[STREAM_HELD] = "held",
	[STREAM_OVERLAP_MISMATCH] = "overlap-mismatch",
	[STREAM_UNVERIFIABLE] = "overlap-unverifiable",
	[STREAM_GAP] = "gap",
	[STREAM_OVERFLOW] = "overflow",
	[STREAM_NOBUF] = "no-buffer",
	[STREAM_AFTER_CLOSE] = "data-after-close",
	[STREAM_ABORTED] = "aborted",
	[STREAM_BROKEN] = "broken",
};

const char *stream_status_str(enum stream_status st)
{
	if ((unsigned)st >= sizeof(status_names) / sizeof(status_names[0]) ||
	    status_names[st] == NULL)
		return "unknown";
	return status_names[st];
}

void stream_conf_defaults(struct stream_conf *c, uint32_t max_flows)
{
	/* A direction holds a buffer only while it has bytes in flight
	 * (unconsumed, or not acknowledged yet): a fraction of the flows at
	 * any instant. Running out is not fatal: in-order bytes are then
	 * parsed straight from the packet (see direct()). */
	c->small_size = 256;
	c->small_bufs = max_flows / 16 > 64 ? max_flows / 16 : 64;
	c->large_size = 4096;
	c->large_bufs = max_flows / 256 > 16 ? max_flows / 256 : 16;
}

static int class_alloc(struct stream_class *c, uint32_t n, uint32_t size,
		       size_t *memory)
{
	c->nbufs = n;
	c->size = size;
	c->free_head = BUF_NIL;
	if (n == 0)
		return 0;
	c->mem = malloc((size_t)n * size);
	c->hdr = calloc(n, sizeof(*c->hdr));
	if (c->mem == NULL || c->hdr == NULL)
		return -ENOMEM;
	for (uint32_t i = n; i-- > 0;) {
		c->hdr[i].next_free = c->free_head;
		c->free_head = i;
	}
	*memory += (size_t)n * (size + sizeof(*c->hdr));
	return 0;
}

struct stream_pool *stream_pool_alloc(const struct stream_conf *conf)
{
	struct stream_pool *p = NULL;
	int err = -EINVAL;

	if (conf->small_size == 0 || conf->large_size < conf->small_size ||
	    conf->large_size > STREAM_BUF_MAX ||
	    (uint64_t)conf->small_bufs * conf->small_size > SIZE_MAX / 2 ||
	    (uint64_t)conf->large_bufs * conf->large_size > SIZE_MAX / 2 ||
	    conf->small_bufs >= BUF_LARGE || conf->large_bufs >= BUF_LARGE)
		goto out;
	err = -ENOMEM;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		goto out;
	p->memory = sizeof(*p);
	p->cls[0].used = &p->stats.small_used;
	p->cls[0].peak = &p->stats.small_peak;
	p->cls[1].used = &p->stats.large_used;
	p->cls[1].peak = &p->stats.large_peak;
	if (class_alloc(&p->cls[0], conf->small_bufs, conf->small_size,
			&p->memory) < 0 ||
	    class_alloc(&p->cls[1], conf->large_bufs, conf->large_size,
			&p->memory) < 0)
		goto out;
	err = 0;
out:
	if (err < 0) {
		stream_pool_free(p);
		errno = -err;
		return NULL;
	}
	return p;
}

void stream_pool_free(struct stream_pool *p)
{
	if (p == NULL)
		return;
	for (int i = 0; i < 2; i++) {
		free(p->cls[i].mem);
		free(p->cls[i].hdr);
	}
	free(p);
}

size_t stream_pool_memory(const struct stream_pool *p)
{
	return p->memory;
}

void stream_pool_stats(const struct stream_pool *p, struct stream_stats *st)
{
	*st = p->stats;
}

static struct stream_class *buf_class(struct stream_pool *p, uint32_t id)
{
	return &p->cls[(id & BUF_LARGE) ? 1 : 0];
}

static uint8_t *buf_data(struct stream_pool *p, uint32_t id)
{
	struct stream_class *c = buf_class(p, id);

	return c->mem + (size_t)(id & ~BUF_LARGE) * c->size;
}

static struct stream_bufhdr *buf_hdr(struct stream_pool *p, uint32_t id)
{
	return &buf_class(p, id)->hdr[id & ~BUF_LARGE];
}

static uint32_t buf_cap(struct stream_pool *p, uint32_t id)
{
	return buf_class(p, id)->size;
}

static uint32_t buf_get(struct stream_pool *p, int large)
{
	struct stream_class *c = &p->cls[large];
	uint32_t i = c->free_head;

	if (i == BUF_NIL)
		return BUF_NIL;
	c->free_head = c->hdr[i].next_free;
	c->hdr[i].nooo = 0;
	if (++*c->used > *c->peak)
		*c->peak = *c->used;
	return large ? i | BUF_LARGE : i;
}

static void buf_put(struct stream_pool *p, uint32_t id)
{
	struct stream_class *c = buf_class(p, id);
	uint32_t i = id & ~BUF_LARGE;

	c->hdr[i].next_free = c->free_head;
	c->free_head = i;
	--*c->used;
}

void stream_init(struct stream *s)
{
	memset(s, 0, sizeof(*s));
	s->buf = STREAM_NO_BUF;
}

void stream_release(struct stream_pool *p, struct stream *s)
{
	if (s->buf != STREAM_NO_BUF)
		buf_put(p, s->buf);
	s->buf = STREAM_NO_BUF;
	s->len = 0;
	s->cons = 0;
}

static enum stream_status broken(struct stream_pool *p, struct stream *s,
				 enum stream_status st)
{
	s->flags |= STREAM_F_BROKEN;
	stream_release(p, s);
	p->stats.anomalies[st - STREAM_ANOMALY]++;
	return st;
}

/* End of what the buffer holds: contiguous bytes or the last held range. */
static uint32_t buf_used(const struct stream *s, const struct stream_bufhdr *h)
{
	uint32_t used = s->len;

	if (h->nooo > 0) {
		uint32_t e = (uint32_t)h->ooo_off[h->nooo - 1] +
			     h->ooo_len[h->nooo - 1];
		if (e > used)
			used = e;
	}
	return used;
}

/* Drop the first n buffered bytes (all consumed). */
static void buf_drop(struct stream_pool *p, struct stream *s, uint32_t n)
{
	struct stream_bufhdr *h = buf_hdr(p, s->buf);
	uint8_t *d = buf_data(p, s->buf);
	uint32_t used = buf_used(s, h);

	if (!(s->flags & STREAM_F_ACKED) ||
	    stream_seq_lt(s->acked, stream_base_seq(s) + n))
		p->stats.retain_dropped += n;
	memmove(d, d + n, used - n);
	for (unsigned i = 0; i < h->nooo; i++)
		h->ooo_off[i] = (uint16_t)(h->ooo_off[i] - n);
	s->len = (uint16_t)(s->len - n);
	s->cons = (uint16_t)(s->cons - n);
}

/* Release the buffer when nothing in it is needed any more. */
static inline void maybe_release(struct stream_pool *p, struct stream *s)
{
	if (s->buf == STREAM_NO_BUF || s->cons != s->len ||
	    buf_hdr(p, s->buf)->nooo != 0)
		return;
	if ((s->flags & STREAM_F_ACKED) &&
	    stream_seq_leq(s->next_seq, s->acked))
		stream_release(p, s);
}

/* Move the bytes of a small buffer to a large one. */
static bool upgrade(struct stream_pool *p, struct stream *s)
{
	uint32_t id = buf_get(p, 1), used;

	if (id == BUF_NIL)
		return false;
	used = buf_used(s, buf_hdr(p, s->buf));
	memcpy(buf_data(p, id), buf_data(p, s->buf), used);
	*buf_hdr(p, id) = *buf_hdr(p, s->buf);
	buf_put(p, s->buf);
	s->buf = id;
	p->stats.upgrades++;
	return true;
}

/*
 * Make the buffer hold `need` bytes from base_seq (base_seq may move
 * forward by dropping consumed bytes, so callers recompute offsets). Bytes
 * kept for comparison go in order of value: acknowledged ones first, then
 * a larger buffer is tried, and only then unacknowledged ones (a later
 * retransmission of those is STREAM_UNVERIFIABLE). Returns STREAM_OK,
 * STREAM_NOBUF, or STREAM_OVERFLOW when even the largest buffer is too
 * small.
 */
static enum stream_status make_room(struct stream_pool *p, struct stream *s,
				    uint32_t need)
{
	uint32_t id, n;

	if (s->buf == STREAM_NO_BUF) {
		if (need > p->cls[1].size)
			return STREAM_OVERFLOW;
		id = need <= p->cls[0].size ? buf_get(p, 0) : BUF_NIL;
		if (id == BUF_NIL)
			id = buf_get(p, 1);
		if (id == BUF_NIL)
			return STREAM_NOBUF;
		s->buf = id;
		s->len = 0;
		s->cons = 0;
		return STREAM_OK;
	}
	if (need <= buf_cap(p, s->buf))
		return STREAM_OK;
	n = 0;
	if ((s->flags & STREAM_F_ACKED) &&
	    stream_seq_lt(stream_base_seq(s), s->acked))
		n = s->acked - stream_base_seq(s) < s->cons ?
			    s->acked - stream_base_seq(s) :
			    s->cons;
	if (n > 0) {
		buf_drop(p, s, n);
		need -= n;
		if (need <= buf_cap(p, s->buf))
			return STREAM_OK;
	}
	if (!(s->buf & BUF_LARGE) && need <= p->cls[1].size && upgrade(p, s))
		return STREAM_OK;
	if (s->cons > 0) {
		n = s->cons;
		buf_drop(p, s, n);
		need -= n;
		if (need <= buf_cap(p, s->buf))
			return STREAM_OK;
	}
	if (need > p->cls[1].size)
		return STREAM_OVERFLOW;
	if (!(s->buf & BUF_LARGE) && upgrade(p, s))
		return STREAM_OK;
	return (s->buf & BUF_LARGE) ? STREAM_OVERFLOW : STREAM_NOBUF;
}

/*
 * Deliver [d, d + n) to the consumer: how many bytes it took, or -1 when
 * it aborted (STREAM_ABORTED). A value, not an out-parameter, so that the
 * packet path keeps its locals in registers.
 */
static inline long deliver(const uint8_t *d, size_t n, stream_data_cb cb,
			   void *arg)
{
	size_t used = 0;

	if (cb == NULL)
		return (long)n;
	while (used < n) {
		int r = cb(d + used, n - used, arg);

		if (r < 0 || (size_t)r > n - used)
			return -1;
		if (r == 0)
			break;
		used += (size_t)r;
	}
	return (long)used;
}

/* Peer acknowledgement of s's bytes up to ack. */
static enum stream_status stream_ack(struct stream_pool *p, struct stream *s,
				     uint32_t ack)
{
	uint32_t limit = s->next_seq;

	if ((s->flags & STREAM_F_FIN) && s->fin_seq == s->next_seq)
		limit++;
	if (stream_seq_lt(limit, ack) && !(s->flags & STREAM_F_BROKEN))
		return broken(p, s, STREAM_GAP);
	if (!(s->flags & STREAM_F_ACKED) || stream_seq_lt(s->acked, ack)) {
		s->acked = ack;
		s->flags |= STREAM_F_ACKED;
		maybe_release(p, s);
	}
	return STREAM_OK;
}

/* Compare seg bytes [from, to) with what the buffer holds there. */
static bool same_bytes(struct stream_pool *p, const struct stream *s,
		       uint32_t seq, const uint8_t *data, uint32_t from,
		       uint32_t to)
{
	return memcmp(buf_data(p, s->buf) + (from - stream_base_seq(s)),
		      data + (from - seq), to - from) == 0;
}

/* Insert [off, off + len) into the sorted held ranges, merging. */
static bool ooo_insert(struct stream_bufhdr *h, uint32_t off, uint32_t len)
{
	uint16_t o[STREAM_OOO_MAX + 1], l[STREAM_OOO_MAX + 1];
	uint32_t s = off, e = off + len;
	unsigned n = 0, i = 0;

	for (; i < h->nooo && (uint32_t)h->ooo_off[i] + h->ooo_len[i] < s;
	     i++) {
		o[n] = h->ooo_off[i];
		l[n++] = h->ooo_len[i];
	}
	for (; i < h->nooo && h->ooo_off[i] <= e; i++) {
		uint32_t re = (uint32_t)h->ooo_off[i] + h->ooo_len[i];

		if (h->ooo_off[i] < s)
			s = h->ooo_off[i];
		if (re > e)
			e = re;
	}
	o[n] = (uint16_t)s;
	l[n++] = (uint16_t)(e - s);
	for (; i < h->nooo; i++) {
		o[n] = h->ooo_off[i];
		l[n++] = h->ooo_len[i];
	}
	if (n > STREAM_OOO_MAX)
		return false;
	memcpy(h->ooo_off, o, n * sizeof(o[0]));
	memcpy(h->ooo_len, l, n * sizeof(l[0]));
	h->nooo = (uint16_t)n;
	return true;
}

/* Absorb held ranges that the contiguous bytes now reach. */
static void ooo_absorb(struct stream_bufhdr *h, struct stream *s)
{
	uint32_t base = stream_base_seq(s);
	unsigned k = 0;

	while (k < h->nooo && h->ooo_off[k] <= s->len) {
		uint32_t e = (uint32_t)h->ooo_off[k] + h->ooo_len[k];

		if (e > s->len)
			s->len = (uint16_t)e;
		k++;
	}
	if (k == 0)
		return;
	memmove(h->ooo_off, h->ooo_off + k, (h->nooo - k) * sizeof(uint16_t));
	memmove(h->ooo_len, h->ooo_len + k, (h->nooo - k) * sizeof(uint16_t));
	h->nooo = (uint16_t)(h->nooo - k);
	s->next_seq = base + s->len;
}

/*
 * In-order bytes with nothing pending and no buffer room (pool empty or
 * segment larger than a buffer): parse straight from the packet, keep
 * only the unconsumed tail.
 */
static enum stream_status direct(struct stream_pool *p, struct stream *s,
				 const uint8_t *data, uint32_t len,
				 stream_data_cb cb, void *arg)
{
	enum stream_status st;
	long used;
	uint32_t rest;

	if (s->buf != STREAM_NO_BUF)
		p->stats.retain_dropped += s->len;
	stream_release(p, s);
	used = deliver(data, len, cb, arg);
	if (used < 0)
		return STREAM_ABORTED;
	p->stats.retain_dropped += (uint64_t)used;
	s->next_seq += len;
	rest = len - (uint32_t)used;
	if (rest == 0)
		return STREAM_OK;
	st = make_room(p, s, rest);
	if (st != STREAM_OK)
		return st;
	memcpy(buf_data(p, s->buf), data + used, rest);
	s->len = (uint16_t)rest;
	return STREAM_OK;
}

static enum stream_status stream_data(struct stream_pool *p, struct stream *s,
				      uint32_t seq, const uint8_t *data,
				      uint32_t len, stream_data_cb cb,
				      void *arg)
{
	uint32_t end = seq + len, off;
	struct stream_bufhdr *h;
	enum stream_status st;
	long used;

	/* Bytes before next_seq were seen: they must be identical. */
	if (stream_seq_lt(seq, s->next_seq)) {
		uint32_t ov = stream_seq_lt(end, s->next_seq) ? end :
								s->next_seq;
		uint32_t from = seq;

		if (stream_seq_lt(seq, stream_base_seq(s))) {
			uint32_t lo = stream_seq_lt(ov, stream_base_seq(s)) ?
					      ov :
					      stream_base_seq(s);

			if (!(s->flags & STREAM_F_ACKED) ||
			    stream_seq_lt(s->acked, lo))
				return STREAM_UNVERIFIABLE;
			from = lo;
		}
		if (stream_seq_lt(from, ov) &&
		    !same_bytes(p, s, seq, data, from, ov))
			return STREAM_OVERLAP_MISMATCH;
		if (stream_seq_leq(end, s->next_seq)) {
			p->stats.dup++;
			return STREAM_DUP;
		}
		data += s->next_seq - seq;
		len = end - s->next_seq;
		seq = s->next_seq;
	}

	/* ... and so must bytes overlapping a held range. */
	if (s->buf != STREAM_NO_BUF) {
		h = buf_hdr(p, s->buf);
		for (unsigned i = 0; i < h->nooo; i++) {
			uint32_t rs = stream_base_seq(s) + h->ooo_off[i];
			uint32_t re = rs + h->ooo_len[i];
			uint32_t a = stream_seq_lt(seq, rs) ? rs : seq;
			uint32_t b = stream_seq_lt(end, re) ? end : re;

			if (stream_seq_lt(a, b) &&
			    !same_bytes(p, s, seq, data, a, b))
				return STREAM_OVERLAP_MISMATCH;
		}
	}

	if (seq != s->next_seq) {
		/* Beyond a hole: hold it if it fits in the largest buffer. */
		if (stream_seq_lt(end, seq) || end - s->next_seq > SEG_MAX)
			return STREAM_GAP;
		st = make_room(p, s, end - stream_base_seq(s));
		if (st == STREAM_OVERFLOW)
			return STREAM_GAP;
		if (st != STREAM_OK)
			return st;
		h = buf_hdr(p, s->buf);
		off = seq - stream_base_seq(s);
		if (!ooo_insert(h, off, len))
			return STREAM_GAP;
		memcpy(buf_data(p, s->buf) + off, data, len);
		p->stats.held++;
		return STREAM_HELD;
	}

	p->stats.bytes += len; /* new bytes, whatever happens to them */
	if (stream_pending(s) == 0 &&
	    (s->buf == STREAM_NO_BUF || buf_hdr(p, s->buf)->nooo == 0)) {
		st = make_room(p, s, end - stream_base_seq(s));
		if (st == STREAM_NOBUF || st == STREAM_OVERFLOW)
			return direct(p, s, data, len, cb, arg);
	} else {
		st = make_room(p, s, end - stream_base_seq(s));
	}
	if (st != STREAM_OK)
		return st;
	h = buf_hdr(p, s->buf);
	memcpy(buf_data(p, s->buf) + s->len, data, len);
	s->len = (uint16_t)(s->len + len);
	s->next_seq = end;
	ooo_absorb(h, s);

	used = deliver(buf_data(p, s->buf) + s->cons, stream_pending(s), cb,
		       arg);
	if (used < 0)
		return STREAM_ABORTED;
	s->cons = (uint16_t)(s->cons + used);
	maybe_release(p, s);
	return STREAM_OK;
}

enum stream_status stream_segment(struct stream_pool *p, struct stream *s,
				  struct stream *rev,
				  const struct stream_seg *seg,
				  stream_data_cb cb, void *arg)
{
	enum stream_status st = STREAM_NODATA;
	uint32_t seq = seg->seq;

	if ((seg->flags & STREAM_TCP_ACK) && (rev->flags & STREAM_F_INIT)) {
		st = stream_ack(p, rev, seg->ack);
		if (st != STREAM_OK)
			return st;
		st = STREAM_NODATA;
	}

	if (seg->flags & STREAM_TCP_SYN) {
		if (!(s->flags & STREAM_F_INIT)) {
			s->isn = seq;
			s->next_seq = seq + 1;
			s->flags |= STREAM_F_INIT | STREAM_F_SYN;
		} else if (s->isn != seq || !(s->flags & STREAM_F_SYN)) {
			if (!(s->flags & STREAM_F_BROKEN))
				return broken(p, s, STREAM_OVERLAP_MISMATCH);
		}
		seq++;
	} else if (!(s->flags & STREAM_F_INIT)) {
		s->isn = seq;
		s->next_seq = seq;
		s->flags |= STREAM_F_INIT | STREAM_F_MIDSTREAM;
	}

	if (seg->flags & STREAM_TCP_RST) {
		s->flags |= STREAM_F_RST;
		stream_release(p, s);
		return STREAM_NODATA;
	}

	if (seg->len > 0) {
		uint32_t end = seq + (uint32_t)seg->len;

		if (s->flags & STREAM_F_BROKEN) {
			p->stats.anomalies[STREAM_BROKEN - STREAM_ANOMALY]++;
			return STREAM_BROKEN;
		}
		p->stats.segments++;
		if (seg->len > SEG_MAX)
			return broken(p, s, STREAM_OVERFLOW);
		if ((s->flags & STREAM_F_RST) ||
		    ((s->flags & STREAM_F_FIN) &&
		     stream_seq_lt(s->fin_seq, end)) ||
		    ((seg->flags & STREAM_TCP_FIN) &&
		     (s->flags & STREAM_F_FIN) && s->fin_seq != end))
			return broken(p, s, STREAM_AFTER_CLOSE);
		st = stream_data(p, s, seq, seg->data, (uint32_t)seg->len, cb,
				 arg);
		if (stream_status_is_anomaly(st))
			return broken(p, s, st);
		seq = end;
	}

	if (seg->flags & STREAM_TCP_FIN) {
		if (!(s->flags & STREAM_F_FIN)) {
			if (stream_seq_lt(seq, s->next_seq) &&
			    !(s->flags & STREAM_F_BROKEN))
				return broken(p, s, STREAM_AFTER_CLOSE);
			s->fin_seq = seq;
			s->flags |= STREAM_F_FIN;
		} else if (s->fin_seq != seq && !(s->flags & STREAM_F_BROKEN)) {
			return broken(p, s, STREAM_AFTER_CLOSE);
		}
	}
	return st;
}
