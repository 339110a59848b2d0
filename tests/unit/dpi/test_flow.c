/*
 * Flow table: both directions of a flow, VLAN and protocol separation,
 * client choice, idle timeouts on an injected clock, eviction order,
 * refusal when full, bounded sweeps, end callbacks and buffer return.
 */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>

#include "dpi/flow.h"

#define S 1000000ULL /* one second in the table's microseconds */

static struct flow_table *t;
static int ends[FLOW_END_SHUTDOWN + 1];
static uint64_t last_end_id;

static void on_end(struct flow *f, void *user, enum flow_end why, void *arg)
{
	(void)user;
	(void)arg;
	ends[why]++;
	last_end_id = f->id;
}

static struct flow_table *table(uint32_t max)
{
	struct flow_conf c;

	flow_conf_defaults(&c, max);
	c.fixed_seed = true;
	memcpy(c.seed, "0123456789abcdef", 16);
	return flow_table_alloc(&c, on_end, NULL);
}

static void setup(void)
{
	memset(ends, 0, sizeof(ends));
	t = table(8);
	cr_assert_not_null(t);
}

static void teardown(void)
{
	flow_table_free(t);
}

TestSuite(flow, .init = setup, .fini = teardown);

static const uint8_t cli4[4] = { 10, 0, 0, 1 }, srv4[4] = { 10, 0, 0, 2 };

static struct flow_key key(uint16_t sport, uint16_t dport, uint8_t proto,
			   uint16_t vlan, int reverse)
{
	struct flow_key k;

	if (reverse)
		flow_key_v4(&k, srv4, cli4, dport, sport, proto, vlan);
	else
		flow_key_v4(&k, cli4, srv4, sport, dport, proto, vlan);
	return k;
}

static struct flow *look(struct flow_key k, uint8_t flags, uint64_t now,
			 enum flow_status want, enum flow_dir *dir)
{
	struct flow *f = NULL;
	enum flow_dir d;

	cr_assert_eq(flow_lookup(t, &k, flags, now, &f, &d), want);
	if (dir != NULL)
		*dir = d;
	return f;
}

Test(flow, both_directions_find_one_flow)
{
	enum flow_dir d;
	struct flow *f, *g;

	f = look(key(40000, 502, IPPROTO_TCP, 0, 0), STREAM_TCP_SYN, 1 * S,
		 FLOW_CREATED, &d);
	cr_assert_eq(d, FLOW_DIR_C2S);
	cr_assert(f->flags & FLOW_F_SYN_SEEN);
	cr_assert_eq(f->state, FLOW_STATE_NEW);
	g = look(key(40000, 502, IPPROTO_TCP, 0, 1),
		 STREAM_TCP_SYN | STREAM_TCP_ACK, 1 * S, FLOW_FOUND, &d);
	cr_assert_eq(g, f);
	cr_assert_eq(d, FLOW_DIR_S2C);
	g = look(key(40000, 502, IPPROTO_TCP, 0, 0), STREAM_TCP_ACK, 2 * S,
		 FLOW_FOUND, &d);
	cr_assert_eq(g, f);
	cr_assert_eq(d, FLOW_DIR_C2S);
	cr_assert_eq(f->state, FLOW_STATE_ESTABLISHED);
	cr_assert_eq(f->key.sport, 40000);
	cr_assert_eq(f->key.dport, 502);
	cr_assert_eq(f->last_seen, 2 * S);
	cr_assert_eq(flow_find(t, &(struct flow_key){ 0 }, NULL), NULL);
	struct flow_key r = key(40000, 502, IPPROTO_TCP, 0, 1);
	cr_assert_eq(flow_find(t, &r, &d), f);
	cr_assert_eq(d, FLOW_DIR_S2C);
}

Test(flow, client_from_syn_ack_when_syn_missed)
{
	enum flow_dir d;
	struct flow *f;

	/* The server's SYN-ACK is the first packet: the receiver is client. */
	f = look(key(40000, 502, IPPROTO_TCP, 0, 1),
		 STREAM_TCP_SYN | STREAM_TCP_ACK, 1 * S, FLOW_CREATED, &d);
	cr_assert_eq(d, FLOW_DIR_S2C);
	cr_assert_eq(f->key.sport, 40000);
	cr_assert_eq(f->key.dport, 502);
}

Test(flow, client_guessed_without_syn)
{
	enum flow_dir d;
	struct flow *f;

	/* Midstream: the response comes first; higher port is the client. */
	f = look(key(40000, 502, IPPROTO_TCP, 0, 1), STREAM_TCP_ACK, 1 * S,
		 FLOW_CREATED, &d);
	cr_assert_eq(d, FLOW_DIR_S2C);
	cr_assert(f->flags & FLOW_F_CLIENT_GUESS);
	cr_assert_eq(f->state, FLOW_STATE_ESTABLISHED);
	cr_assert_eq(f->key.dport, 502);

	/* DNP3 over UDP, 20000 both sides: the first sender is client. */
	f = look(key(20000, 20000, IPPROTO_UDP, 0, 1), 0, 1 * S, FLOW_CREATED,
		 &d);
	cr_assert_eq(d, FLOW_DIR_C2S);
	cr_assert_eq(memcmp(f->key.src + 12, srv4, 4), 0);
	cr_assert_eq(f->state, FLOW_STATE_UDP);
	look(key(20000, 20000, IPPROTO_UDP, 0, 0), 0, 1 * S, FLOW_FOUND, &d);
	cr_assert_eq(d, FLOW_DIR_S2C);
}

Test(flow, reverse_when_the_engine_knows_better)
{
	enum flow_dir d;
	struct flow *f;

	/* ENIP client on port 3000 talks to 44818: the guess is wrong. */
	f = look(key(3000, 44818, IPPROTO_TCP, 0, 0), STREAM_TCP_ACK, 1 * S,
		 FLOW_CREATED, &d);
	cr_assert_eq(d, FLOW_DIR_S2C);
	flow_reverse(f);
	cr_assert_eq(f->key.dport, 44818);
	cr_assert_not(f->flags & FLOW_F_CLIENT_GUESS);
	look(key(3000, 44818, IPPROTO_TCP, 0, 0), STREAM_TCP_ACK, 1 * S,
	     FLOW_FOUND, &d);
	cr_assert_eq(d, FLOW_DIR_C2S);
}

Test(flow, vlan_protocol_and_family_separate_flows)
{
	struct flow *a, *b, *c, *e;
	struct flow_key k6;
	uint8_t s6[16] = { 0 }, d6[16] = { 0 };

	a = look(key(40000, 502, IPPROTO_TCP, 0, 0), STREAM_TCP_SYN, S,
		 FLOW_CREATED, NULL);
	b = look(key(40000, 502, IPPROTO_TCP, 10, 0), STREAM_TCP_SYN, S,
		 FLOW_CREATED, NULL);
	c = look(key(40000, 502, IPPROTO_UDP, 0, 0), 0, S, FLOW_CREATED, NULL);
	memcpy(s6 + 12, cli4, 4);
	memcpy(d6 + 12, srv4, 4);
	flow_key_v6(&k6, s6, d6, 40000, 502, IPPROTO_TCP, 0);
	cr_assert_not(flow_key_is_v4(&k6));
	cr_assert(flow_key_is_v4(&a->key));
	e = look(k6, STREAM_TCP_SYN, S, FLOW_CREATED, NULL);
	cr_assert(a != b && a != c && b != c && e != a);
	cr_assert_eq(look(key(40000, 502, IPPROTO_TCP, 10, 1), STREAM_TCP_ACK,
			  S, FLOW_FOUND, NULL),
		     b);
	cr_assert_eq(b->key.vlan, 10);
}

/* CR 7.1 */
Test(flow, timeouts_per_protocol_on_injected_clock)
{
	struct flow *f;
	struct flow_stats st;

	look(key(5000, 20000, IPPROTO_UDP, 0, 0), 0, 0, FLOW_CREATED, NULL);
	f = look(key(40000, 502, IPPROTO_TCP, 0, 0), STREAM_TCP_ACK, 0,
		 FLOW_CREATED, NULL);
	cr_assert_eq(flow_timeout(t, f), 3600);
	look(key(40001, 502, IPPROTO_TCP, 0, 0), STREAM_TCP_SYN, 0,
	     FLOW_CREATED, NULL);
	look(key(0, 0, IPPROTO_ICMP, 0, 0), 0, 0, FLOW_CREATED, NULL);

	cr_assert_eq(flow_table_sweep(t, 29 * S, 100), 0);
	/* Half-open TCP (30 s) goes first, then ICMP (60 s), UDP (120 s). */
	cr_assert_eq(flow_table_sweep(t, 30 * S, 100), 1);
	cr_assert_eq(flow_table_sweep(t, 119 * S, 100), 1);
	cr_assert_eq(flow_table_sweep(t, 120 * S, 100), 1);
	cr_assert_eq(ends[FLOW_END_EXPIRED], 3);
	/* Keep the TCP flow alive; it expires 3600 s after its last packet. */
	look(key(40000, 502, IPPROTO_TCP, 0, 1), STREAM_TCP_ACK, 3000 * S,
	     FLOW_FOUND, NULL);
	cr_assert_eq(flow_table_sweep(t, 3601 * S, 100), 0);
	cr_assert_eq(flow_table_sweep(t, 6600 * S, 100), 1);
	flow_table_stats(t, &st);
	cr_assert_eq(st.active, 0);
	cr_assert_eq(st.expired, 4);
	cr_assert_eq(st.created, 4);
}

/* CR 7.1 */
Test(flow, sweep_after_an_empty_table_still_expires)
{
	/* nothing listed: the sweep finds nothing due ... */
	cr_assert_eq(flow_table_sweep(t, 1 * S, 10), 0);
	/* ... and a flow listed afterwards is still expired on time */
	look(key(5000, 20000, IPPROTO_UDP, 0, 0), 0, 10 * S, FLOW_CREATED,
	     NULL);
	cr_assert_eq(flow_table_sweep(t, 129 * S, 10), 0);
	cr_assert_eq(flow_table_sweep(t, 130 * S, 10), 1);
	cr_assert_eq(ends[FLOW_END_EXPIRED], 1);
}

/* The one-entry cache of the last flow never answers for another key. */
Test(flow, last_flow_cache_never_returns_another_flow)
{
	struct flow *a, *b, *c;
	enum flow_dir d;
	uint32_t ida;

	a = look(key(40000, 502, IPPROTO_TCP, 0, 0), STREAM_TCP_SYN, 0,
		 FLOW_CREATED, NULL);
	ida = a->id;
	b = look(key(40001, 502, IPPROTO_TCP, 0, 0), STREAM_TCP_SYN, 0,
		 FLOW_CREATED, NULL);
	cr_assert_neq(a, b);
	cr_assert_eq(look(key(40000, 502, IPPROTO_TCP, 0, 1), STREAM_TCP_ACK, 0,
			  FLOW_FOUND, &d),
		     a);
	cr_assert_eq(d, FLOW_DIR_S2C);
	flow_remove(t, a);
	/* another flow takes a's memory and becomes the cached one */
	c = look(key(40002, 502, IPPROTO_TCP, 0, 0), STREAM_TCP_SYN, 0,
		 FLOW_CREATED, NULL);
	cr_assert_eq(c, a, "the freed flow is reused first");
	/* a's key is not c's: a new flow, not the cached one */
	a = look(key(40000, 502, IPPROTO_TCP, 0, 0), STREAM_TCP_SYN, 0,
		 FLOW_CREATED, NULL);
	cr_assert_neq(a, c);
	cr_assert_neq(a->id, ida);
	cr_assert_eq(look(key(40001, 502, IPPROTO_TCP, 0, 1), STREAM_TCP_ACK, 0,
			  FLOW_FOUND, NULL),
		     b);
	cr_assert_eq(look(key(40002, 502, IPPROTO_TCP, 0, 0), STREAM_TCP_ACK, 0,
			  FLOW_FOUND, NULL),
		     c);
}

/* Without the cache (flow_find), the hash is the same both ways. */
Test(flow, hash_is_the_same_in_both_directions)
{
	static const uint8_t c6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	static const uint8_t s6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };
	struct flow_key k, r;
	struct flow *f;
	enum flow_dir d;

	for (uint16_t i = 0; i < 6; i++) {
		/* port order and address order disagree for half of them */
		uint16_t sp = (uint16_t)(i % 2 ? 40000 + i : 100 + i);

		if (i < 3) {
			flow_key_v6(&k, c6, s6, sp, 502, IPPROTO_TCP, 7);
			flow_key_v6(&r, s6, c6, 502, sp, IPPROTO_TCP, 7);
		} else {
			flow_key_v4(&k, srv4, cli4, sp, 502, IPPROTO_UDP, 0);
			flow_key_v4(&r, cli4, srv4, 502, sp, IPPROTO_UDP, 0);
		}
		cr_assert_eq(flow_lookup(t, &k, 0, 0, &f, &d), FLOW_CREATED);
		cr_assert_eq(flow_find(t, &r, &d), f, "flow %u", i);
		cr_assert_eq(flow_find(t, &k, NULL), f);
	}
}

/* CR 7.1 */
Test(flow, closing_uses_the_short_timeout)
{
	struct flow *f;

	f = look(key(40000, 502, IPPROTO_TCP, 0, 0), STREAM_TCP_ACK, 0,
		 FLOW_CREATED, NULL);
	look(key(40000, 502, IPPROTO_TCP, 0, 1),
	     STREAM_TCP_ACK | STREAM_TCP_FIN, 10 * S, FLOW_FOUND, NULL);
	cr_assert_eq(f->state, FLOW_STATE_CLOSING);
	cr_assert(f->flags & FLOW_F_FIN_S2C);
	cr_assert_eq(flow_timeout(t, f), 30);
	cr_assert_eq(flow_table_sweep(t, 39 * S, 10), 0);
	cr_assert_eq(flow_table_sweep(t, 40 * S, 10), 1);
}

Test(flow, clock_never_goes_back)
{
	struct flow *f;

	f = look(key(5000, 20000, IPPROTO_UDP, 0, 0), 0, 100 * S, FLOW_CREATED,
		 NULL);
	look(key(5000, 20000, IPPROTO_UDP, 0, 1), 0, 50 * S, FLOW_FOUND, NULL);
	cr_assert_eq(f->last_seen, 100 * S);
	cr_assert_eq(flow_table_sweep(t, 10 * S, 10), 0);
}

/* CR 7.1 */
Test(flow, full_table_evicts_oldest_expired)
{
	struct flow *f;
	struct flow_stats st;

	/* Eight UDP flows at t = 0..7 s fill the table. */
	for (uint16_t i = 0; i < 8; i++)
		look(key((uint16_t)(6000 + i), 20000, IPPROTO_UDP, 0, 0), 0,
		     i * S, FLOW_CREATED, NULL);
	/* Refresh the first: the second is now the oldest. */
	look(key(6000, 20000, IPPROTO_UDP, 0, 0), 0, 8 * S, FLOW_FOUND, NULL);
	/* 121 s: flows 1..? past 120 s idle: the oldest (6001) goes. */
	f = look(key(7000, 20000, IPPROTO_UDP, 0, 0), 0, 121 * S, FLOW_CREATED,
		 NULL);
	cr_assert_not_null(f);
	cr_assert_eq(last_end_id, 2, "flow 6001 (id 2) evicted first");
	look(key(7001, 20000, IPPROTO_UDP, 0, 0), 0, 122 * S, FLOW_CREATED,
	     NULL);
	cr_assert_eq(last_end_id, 3);
	cr_assert_null(flow_find(t, &(struct flow_key){ 0 }, NULL));
	struct flow_key k = key(6000, 20000, IPPROTO_UDP, 0, 0);
	cr_assert_not_null(flow_find(t, &k, NULL), "refreshed flow kept");
	flow_table_stats(t, &st);
	cr_assert_eq(st.evicted, 2);
	cr_assert_eq(st.active, 8);
	cr_assert_eq(ends[FLOW_END_EVICTED], 2);
}

/* CR 7.1 */
Test(flow, full_table_refuses_when_nothing_expired)
{
	struct flow *f = (struct flow *)1;
	struct flow_stats st;
	enum flow_dir d;

	for (uint16_t i = 0; i < 8; i++)
		look(key((uint16_t)(6000 + i), 502, IPPROTO_TCP, 0, 0),
		     STREAM_TCP_ACK, i * S, FLOW_CREATED, NULL);
	struct flow_key k = key(9999, 502, IPPROTO_TCP, 0, 0);
	cr_assert_eq(flow_lookup(t, &k, STREAM_TCP_SYN, 100 * S, &f, &d),
		     FLOW_FULL);
	cr_assert_null(f);
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(flow_lookup(t, &k, STREAM_TCP_SYN, 100 * S, &f,
					 &d),
			     FLOW_FULL);
	/* Existing flows still work. */
	look(key(6003, 502, IPPROTO_TCP, 0, 1), STREAM_TCP_ACK, 100 * S,
	     FLOW_FOUND, NULL);
	flow_table_stats(t, &st);
	cr_assert_eq(st.refused, 1001);
	cr_assert_eq(st.active, 8);
	cr_assert_eq(st.evicted, 0);
}

/* CR 7.1 */
Test(flow, sweep_work_is_bounded)
{
	for (uint16_t i = 0; i < 8; i++)
		look(key((uint16_t)(6000 + i), 20000, IPPROTO_UDP, 0, 0), 0, 0,
		     FLOW_CREATED, NULL);
	cr_assert_eq(flow_table_sweep(t, 1000 * S, 3), 3);
	cr_assert_eq(flow_table_sweep(t, 1000 * S, 3), 3);
	cr_assert_eq(flow_table_sweep(t, 1000 * S, 3), 2);
	cr_assert_eq(flow_table_sweep(t, 1000 * S, 3), 0);
	cr_assert_eq(flow_table_sweep(t, 1000 * S, 0), 0);
}

Test(flow, syn_on_closing_flow_starts_a_new_one)
{
	struct flow *f;
	uint64_t id;

	f = look(key(40000, 502, IPPROTO_TCP, 0, 0), STREAM_TCP_SYN, 0,
		 FLOW_CREATED, NULL);
	id = f->id;
	look(key(40000, 502, IPPROTO_TCP, 0, 1), STREAM_TCP_RST, S, FLOW_FOUND,
	     NULL);
	cr_assert_eq(f->state, FLOW_STATE_CLOSING);
	f = look(key(40000, 502, IPPROTO_TCP, 0, 0), STREAM_TCP_SYN, 2 * S,
		 FLOW_CREATED, NULL);
	cr_assert_neq(f->id, id);
	cr_assert_eq(f->state, FLOW_STATE_NEW);
	cr_assert_eq(ends[FLOW_END_REUSED], 1);
}

Test(flow, user_area_zeroed_and_ended)
{
	struct flow *f;
	uint8_t *u;

	f = look(key(40000, 502, IPPROTO_TCP, 0, 0), STREAM_TCP_SYN, 0,
		 FLOW_CREATED, NULL);
	u = flow_user(t, f);
	cr_assert_not_null(u);
	cr_assert_eq((uintptr_t)u % 16, 0);
	for (int i = 0; i < FLOW_DEFAULT_USER_SIZE; i++)
		cr_assert_eq(u[i], 0);
	memset(u, 0xee, FLOW_DEFAULT_USER_SIZE);
	flow_remove(t, f);
	cr_assert_eq(ends[FLOW_END_REMOVED], 1);
	f = look(key(40000, 502, IPPROTO_TCP, 0, 0), STREAM_TCP_SYN, 0,
		 FLOW_CREATED, NULL);
	u = flow_user(t, f);
	for (int i = 0; i < FLOW_DEFAULT_USER_SIZE; i++)
		cr_assert_eq(u[i], 0, "reused slot zeroed");
}

static int take_all(const uint8_t *d, size_t n, void *arg)
{
	(void)d;
	(void)arg;
	return n > 4 ? (int)n - 4 : 0; /* leave a partial PDU waiting */
}

/* CR 7.1 */
Test(flow, stream_buffers_return_to_pool_at_flow_end)
{
	struct flow *f;
	enum flow_dir d;
	struct stream_stats st;
	static const uint8_t data[20] = { 1 };
	struct stream_seg seg = { .seq = 1,
				  .flags = STREAM_TCP_ACK,
				  .data = data,
				  .len = sizeof(data) };

	f = look(key(40000, 502, IPPROTO_TCP, 0, 0), STREAM_TCP_ACK, 0,
		 FLOW_CREATED, &d);
	cr_assert_eq(flow_tcp_segment(t, f, d, &seg, take_all, NULL),
		     STREAM_OK);
	cr_assert_eq(stream_pending(&f->stream[d]), 4);
	stream_pool_stats(flow_table_stream_pool(t), &st);
	cr_assert_eq(st.small_used, 1);
	cr_assert_eq(flow_table_sweep(t, 4000 * S, 10), 1);
	stream_pool_stats(flow_table_stream_pool(t), &st);
	cr_assert_eq(st.small_used, 0);
}

Test(flow, shutdown_ends_every_flow)
{
	for (uint16_t i = 0; i < 5; i++)
		look(key((uint16_t)(6000 + i), 502, IPPROTO_TCP, 0, 0),
		     STREAM_TCP_SYN, 0, FLOW_CREATED, NULL);
	flow_table_free(t);
	t = NULL;
	cr_assert_eq(ends[FLOW_END_SHUTDOWN], 5);
}

/* CR 7.1 */
Test(flow_big, many_flows_found_and_evicted)
{
	struct flow_conf c;
	struct flow_table *b;
	struct flow_stats st;

	flow_conf_defaults(&c, 20000);
	b = flow_table_alloc(&c, NULL, NULL);
	cr_assert_not_null(b);
	for (uint32_t i = 0; i < 20000; i++) {
		struct flow_key k;
		uint8_t a[4] = { 10, 1, (uint8_t)(i >> 8), (uint8_t)i };
		struct flow *f;
		enum flow_dir d;

		flow_key_v4(&k, a, srv4, (uint16_t)(1024 + i % 7), 502,
			    IPPROTO_TCP, 0);
		cr_assert_eq(flow_lookup(b, &k, STREAM_TCP_SYN, i, &f, &d),
			     FLOW_CREATED);
	}
	for (uint32_t i = 0; i < 20000; i += 97) {
		struct flow_key k;
		uint8_t a[4] = { 10, 1, (uint8_t)(i >> 8), (uint8_t)i };
		enum flow_dir d;

		flow_key_v4(&k, srv4, a, 502, (uint16_t)(1024 + i % 7),
			    IPPROTO_TCP, 0);
		cr_assert_not_null(flow_find(b, &k, &d));
		cr_assert_eq(d, FLOW_DIR_S2C);
	}
	flow_table_stats(b, &st);
	cr_assert_eq(st.active, 20000);
	cr_assert_gt(flow_table_memory(b), 20000 * sizeof(struct flow));
	flow_table_free(b);
}

Test(flow_conf, bad_configuration)
{
	struct flow_conf c;

	flow_conf_defaults(&c, 0);
	cr_assert_null(flow_table_alloc(&c, NULL, NULL));
	flow_conf_defaults(&c, 10);
	c.user_size = FLOW_USER_MAX + 1;
	cr_assert_null(flow_table_alloc(&c, NULL, NULL));
	flow_conf_defaults(&c, 10);
	c.stream.large_size = 100000;
	cr_assert_null(flow_table_alloc(&c, NULL, NULL));
	flow_table_free(NULL);
}
