/*
 * libFuzzer harness for the flow table and TCP reassembly: the input is a
 * sequence of segments for four flows in a table of three, with a tiny
 * buffer pool, so that eviction, refusal, pool exhaustion, holes,
 * overlaps and wraparound are all reachable. Each record:
 *
 *   u8  flow (bits 0-1), direction (bit 2), seconds to advance (bits 3-7)
 *   u8  TCP flags
 *   be16 seq, relative to the direction's next expected seq (signed)
 *   i8  ack, relative to the other direction's next expected seq
 *   u8  payload length, then the payload
 *
 * The consumer is the Modbus parser. After every segment the stream
 * invariants are checked; a violation aborts.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "dpi/flow.h"
#include "dpi/proto/modbus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int consume(const uint8_t *d, size_t n, void *arg)
{
	struct modbus_pdu m;
	struct dpi_result r;

	(void)arg;
	modbus_parse(d, n, DPI_DIR_REQUEST, &m, &r);
	if (r.status == DPI_NEED_MORE) {
		if (r.needed <= n)
			abort();
		return 0;
	}
	if (r.consumed > n)
		abort();
	if (r.status == DPI_ERROR && r.consumed == 0)
		return -1;
	return (int)r.consumed;
}

static void check(const struct stream *s)
{
	if (s->cons > s->len)
		abort();
	if (stream_base_seq(s) + s->len != s->next_seq)
		abort();
	if (s->buf == STREAM_NO_BUF && s->len != 0)
		abort();
	if ((s->flags & STREAM_F_BROKEN) && s->buf != STREAM_NO_BUF)
		abort();
}

/* CR 3.5 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t cli[4] = { 10, 0, 0, 1 }, srv[4] = { 10, 0, 0, 2 };
	static const uint32_t isn[4] = { 1000, 0xfffffff0u, 0x7ffffff0u, 0 };
	struct flow_conf c;
	struct flow_table *t;
	uint64_t now = 0;
	size_t off = 0;

	flow_conf_defaults(&c, 3);
	c.stream.small_bufs = 2;
	c.stream.small_size = 64;
	c.stream.large_bufs = 1;
	c.stream.large_size = 512;
	c.fixed_seed = true;
	t = flow_table_alloc(&c, NULL, NULL);
	if (t == NULL)
		abort();

	while (size - off >= 6) {
		const uint8_t *r = data + off;
		unsigned fl = r[0] & 3, rev = (r[0] >> 2) & 1;
		struct stream_seg seg = { .flags = r[1] };
		struct flow_key k;
		struct flow *f;
		enum flow_dir dir;
		struct stream *s, *o;
		size_t len = r[5];

		off += 6;
		if (len > size - off)
			len = size - off;
		seg.data = data + off;
		seg.len = len;
		off += len;
		now += (uint64_t)(r[0] >> 3) * 8 * 1000000;

		if (rev)
			flow_key_v4(&k, srv, cli, 502, (uint16_t)(40000 + fl),
				    IPPROTO_TCP, 0);
		else
			flow_key_v4(&k, cli, srv, (uint16_t)(40000 + fl), 502,
				    IPPROTO_TCP, 0);
		if (flow_lookup(t, &k, seg.flags, now, &f, &dir) == FLOW_FULL)
			continue;
		s = &f->stream[dir];
		o = &f->stream[!dir];
		seg.seq = ((s->flags & STREAM_F_INIT) ? s->next_seq :
							isn[fl] + 1000 * dir) +
			  (uint32_t)(int16_t)(r[2] << 8 | r[3]);
		seg.ack = ((o->flags & STREAM_F_INIT) ? o->next_seq :
							isn[fl] + 1000 * !dir) +
			  (uint32_t)(int8_t)r[4];
		(void)flow_tcp_segment(t, f, dir, &seg, consume, NULL);
		check(s);
		check(o);
		flow_table_sweep(t, now, 2);
	}
	flow_table_free(t);
	return 0;
}
