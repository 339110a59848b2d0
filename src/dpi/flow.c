/*
 * Flow table: a preallocated array of flows, chained hash buckets of
 * 32-bit indexes, a free list, and one LRU list per timeout class. Every
 * flow of a class has the same timeout and lists are appended in time
 * order, so each list's head is the next flow of its class to expire:
 * expiry and eviction look at five heads, never scan; a lower bound of
 * the next expiry lets the per-packet sweep return at once when nothing
 * is due. Flows are taken from a free list, then from the never-used
 * tail of the array, so the pages of flows never used stay untouched.
 */
#include "dpi/flow.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define NIL UINT32_MAX
#define US_PER_S 1000000ULL

enum flow_tclass {
	TC_TCP_NEW,
	TC_TCP_EST,
	TC_TCP_CLOSING,
	TC_UDP,
	TC_OTHER,
	TC_MAX,
};

struct flow_lru {
	uint32_t head, tail;
};

struct flow_table {
	struct flow *flows;
	uint8_t *user;
	uint32_t *buckets;
	uint32_t nbuckets; /* power of two */
	uint32_t max_flows;
	uint32_t user_size;
	uint32_t free_head;
	uint32_t fresh;	   /* flows[fresh ..] never used yet */
	uint32_t last;	   /* the flow looked up last, or NIL */
	uint64_t clock;	   /* latest time seen */
	uint64_t next_due; /* no listed flow expires before this */
	uint64_t next_id;
	uint64_t timeout_us[TC_MAX];
	uint32_t timeout_s[TC_MAX];
	struct flow_lru lru[TC_MAX];
	uint64_t sipkey[2];
	struct stream_pool *pool;
	flow_end_cb end;
	void *end_arg;
	struct flow_stats stats;
	size_t memory;
};

/*
 * SipHash-1-3 (Aumasson, Bernstein): a keyed hash, so that nobody who
 * does not know the key can aim packets at one bucket. One compression
 * round per word and three finalisation rounds: the variant for hash
 * tables, still keyed. The state lives in four locals so that it stays in
 * registers; the message is whole 64-bit words (native order).
 */
static inline uint64_t rotl(uint64_t x, int b)
{
	return x << b | x >> (64 - b);
}

#define SIPROUND(v0, v1, v2, v3)        \
	do {                            \
		v0 += v1;               \
		v1 = rotl(v1, 13) ^ v0; \
		v0 = rotl(v0, 32);      \
		v2 += v3;               \
		v3 = rotl(v3, 16) ^ v2; \
		v0 += v3;               \
		v3 = rotl(v3, 21) ^ v0; \
		v2 += v1;               \
		v1 = rotl(v1, 17) ^ v2; \
		v2 = rotl(v2, 32);      \
	} while (0)

/* One message word: a compression round (c = 1). */
#define SIPWORD(v0, v1, v2, v3, m)        \
	do {                              \
		v3 ^= (m);                \
		SIPROUND(v0, v1, v2, v3); \
		v0 ^= (m);                \
	} while (0)

struct sip {
	uint64_t v0, v1, v2, v3;
};

static inline struct sip sip_init(const uint64_t k[2])
{
	return (struct sip){
		0x736f6d6570736575ULL ^ k[0],
		0x646f72616e646f6dULL ^ k[1],
		0x6c7967656e657261ULL ^ k[0],
		0x7465646279746573ULL ^ k[1],
	};
}

/* The length block (no partial word: len is whole words), d = 3. */
static inline uint64_t sip_final(struct sip s, size_t len)
{
	uint64_t b = (uint64_t)len << 56;

	SIPWORD(s.v0, s.v1, s.v2, s.v3, b);
	s.v2 ^= 0xff;
	SIPROUND(s.v0, s.v1, s.v2, s.v3);
	SIPROUND(s.v0, s.v1, s.v2, s.v3);
	SIPROUND(s.v0, s.v1, s.v2, s.v3);
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t load32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

void flow_key_v4(struct flow_key *k, const void *src4, const void *dst4,
		 uint16_t sport, uint16_t dport, uint8_t proto, uint16_t vlan)
{
	memset(k, 0, sizeof(*k));
	k->src[10] = k->src[11] = 0xff;
	k->dst[10] = k->dst[11] = 0xff;
	memcpy(k->src + 12, src4, 4);
	memcpy(k->dst + 12, dst4, 4);
	k->sport = sport;
	k->dport = dport;
	k->proto = proto;
	k->vlan = vlan;
}

void flow_key_v6(struct flow_key *k, const void *src6, const void *dst6,
		 uint16_t sport, uint16_t dport, uint8_t proto, uint16_t vlan)
{
	memset(k, 0, sizeof(*k));
	memcpy(k->src, src6, 16);
	memcpy(k->dst, dst6, 16);
	k->sport = sport;
	k->dport = dport;
	k->proto = proto;
	k->vlan = vlan;
}

static const uint8_t v4_mapped[12] = { [10] = 0xff, [11] = 0xff };

bool flow_key_is_v4(const struct flow_key *k)
{
	return memcmp(k->src, v4_mapped, 12) == 0;
}

void flow_conf_defaults(struct flow_conf *c, uint32_t max_flows)
{
	memset(c, 0, sizeof(*c));
	c->max_flows = max_flows;
	c->user_size = FLOW_DEFAULT_USER_SIZE;
	c->timeout_tcp_new = 30;
	c->timeout_tcp_established = 3600;
	c->timeout_tcp_closing = 30;
	c->timeout_udp = 120;
	c->timeout_other = 60;
	stream_conf_defaults(&c->stream, max_flows);
}

/*
 * Same value for both directions: the endpoints in canonical order. A key
 * with two v4-mapped addresses is hashed as 16 bytes (addresses, ports,
 * VLAN, protocol), any other as 40; the lengths keep the two apart.
 */
static uint32_t key_hash(const struct flow_table *t, const struct flow_key *k)
{
	uint64_t tail = (uint64_t)k->vlan << 8 | k->proto;
	struct sip h = sip_init(t->sipkey);
	const uint8_t *a1 = k->src, *a2 = k->dst;
	uint16_t p1 = k->sport, p2 = k->dport;
	int c;

	if (memcmp(k->src, v4_mapped, 12) == 0 &&
	    memcmp(k->dst, v4_mapped, 12) == 0) {
		/* (address, port) as 48-bit numbers, the smaller first */
		uint64_t x = (uint64_t)load32(k->src + 12) << 16 | k->sport;
		uint64_t y = (uint64_t)load32(k->dst + 12) << 16 | k->dport;

		if (x > y) {
			uint64_t z = x;

			x = y;
			y = z;
		}
		SIPWORD(h.v0, h.v1, h.v2, h.v3, x | y << 48);
		SIPWORD(h.v0, h.v1, h.v2, h.v3, y >> 16 | tail << 32);
		return (uint32_t)sip_final(h, 16);
	}
	c = memcmp(a1, a2, 16);
	if (c > 0 || (c == 0 && p1 > p2)) {
		a1 = k->dst;
		a2 = k->src;
		p1 = k->dport;
		p2 = k->sport;
	}
	SIPWORD(h.v0, h.v1, h.v2, h.v3, load64(a1));
	SIPWORD(h.v0, h.v1, h.v2, h.v3, load64(a1 + 8));
	SIPWORD(h.v0, h.v1, h.v2, h.v3, load64(a2));
	SIPWORD(h.v0, h.v1, h.v2, h.v3, load64(a2 + 8));
	SIPWORD(h.v0, h.v1, h.v2, h.v3,
		(uint64_t)p1 << 48 | (uint64_t)p2 << 32 | tail);
	return (uint32_t)sip_final(h, 40);
}

/*
 * Direction of k relative to f's key; -1 when k is not f's. Keys are
 * built by flow_key_v4/v6, so padding is zero and a whole-key compare is
 * the common case's test.
 */
static int key_match(const struct flow_key *fk, const struct flow_key *k)
{
	if (memcmp(fk, k, sizeof(*k)) == 0)
		return FLOW_DIR_C2S;
	if (fk->proto != k->proto || fk->vlan != k->vlan)
		return -1;
	if (fk->sport == k->dport && fk->dport == k->sport &&
	    memcmp(fk->src, k->dst, 16) == 0 &&
	    memcmp(fk->dst, k->src, 16) == 0)
		return FLOW_DIR_S2C;
	return -1;
}

static void key_reverse(struct flow_key *out, const struct flow_key *k)
{
	*out = *k;
	memcpy(out->src, k->dst, 16);
	memcpy(out->dst, k->src, 16);
	out->sport = k->dport;
	out->dport = k->sport;
}

static uint32_t fidx(const struct flow_table *t, const struct flow *f)
{
	return (uint32_t)(f - t->flows);
}

static enum flow_tclass state_class(uint8_t state)
{
	switch (state) {
	case FLOW_STATE_NEW:
		return TC_TCP_NEW;
	case FLOW_STATE_ESTABLISHED:
		return TC_TCP_EST;
	case FLOW_STATE_CLOSING:
		return TC_TCP_CLOSING;
	case FLOW_STATE_UDP:
		return TC_UDP;
	default:
		return TC_OTHER;
	}
}

static void lru_unlink(struct flow_table *t, struct flow *f)
{
	struct flow_lru *l = &t->lru[f->tclass];

	if (f->lprev != NIL)
		t->flows[f->lprev].lnext = f->lnext;
	else
		l->head = f->lnext;
	if (f->lnext != NIL)
		t->flows[f->lnext].lprev = f->lprev;
	else
		l->tail = f->lprev;
	f->lprev = f->lnext = NIL;
}

static void lru_append(struct flow_table *t, struct flow *f)
{
	struct flow_lru *l;
	uint32_t i = fidx(t, f);

	f->tclass = (uint8_t)state_class(f->state);
	l = &t->lru[f->tclass];
	/* a list's head expires first; a non-empty list keeps its head */
	if (l->tail == NIL &&
	    f->last_seen + t->timeout_us[f->tclass] < t->next_due)
		t->next_due = f->last_seen + t->timeout_us[f->tclass];
	f->lnext = NIL;
	f->lprev = l->tail;
	if (l->tail != NIL)
		t->flows[l->tail].lnext = i;
	else
		l->head = i;
	l->tail = i;
}

static bool expired(const struct flow_table *t, const struct flow *f,
		    uint64_t now)
{
	return now - f->last_seen >= t->timeout_us[f->tclass];
}

/* Unhash, unlist, hand to the end callback, return to the free list. */
static void flow_end(struct flow_table *t, struct flow *f, enum flow_end why)
{
	uint32_t i = fidx(t, f);
	uint32_t *pp = &t->buckets[f->hash & (t->nbuckets - 1)];

	if (t->last == i)
		t->last = NIL;
	if (t->end != NULL)
		t->end(f, flow_user(t, f), why, t->end_arg);
	while (*pp != NIL && *pp != i)
		pp = &t->flows[*pp].hnext;
	if (*pp == i)
		*pp = f->hnext;
	lru_unlink(t, f);
	stream_release(t->pool, &f->stream[0]);
	stream_release(t->pool, &f->stream[1]);
	f->in_use = 0;
	f->hnext = t->free_head;
	t->free_head = i;
	t->stats.active--;
}

struct flow_table *flow_table_alloc(const struct flow_conf *conf,
				    flow_end_cb end, void *arg)
{
	struct flow_table *t = NULL;
	uint32_t nb = 1;
	int err = -EINVAL;

	if (conf->max_flows == 0 || conf->max_flows >= NIL / 2 ||
	    conf->user_size > FLOW_USER_MAX)
		goto out;
	err = -ENOMEM;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		goto out;
	t->max_flows = conf->max_flows;
	t->user_size = (conf->user_size + 15) & ~15u;
	t->end = end;
	t->end_arg = arg;
	while (nb < conf->max_flows)
		nb <<= 1;
	t->nbuckets = nb;
	t->flows = calloc(conf->max_flows, sizeof(*t->flows));
	t->buckets = malloc((size_t)nb * sizeof(*t->buckets));
	if (t->flows == NULL || t->buckets == NULL)
		goto out;
	if (t->user_size > 0) {
		t->user =
			aligned_alloc(16, (size_t)t->max_flows * t->user_size);
		if (t->user == NULL)
			goto out;
	}
	t->pool = stream_pool_alloc(&conf->stream);
	if (t->pool == NULL) {
		err = -errno;
		goto out;
	}
	memset(t->buckets, 0xff, (size_t)nb * sizeof(*t->buckets));
	t->free_head = NIL;
	t->last = NIL;
	t->next_due = UINT64_MAX;
	for (int c = 0; c < TC_MAX; c++)
		t->lru[c].head = t->lru[c].tail = NIL;
	t->timeout_s[TC_TCP_NEW] = conf->timeout_tcp_new;
	t->timeout_s[TC_TCP_EST] = conf->timeout_tcp_established;
	t->timeout_s[TC_TCP_CLOSING] = conf->timeout_tcp_closing;
	t->timeout_s[TC_UDP] = conf->timeout_udp;
	t->timeout_s[TC_OTHER] = conf->timeout_other;
	for (int c = 0; c < TC_MAX; c++)
		t->timeout_us[c] = t->timeout_s[c] * US_PER_S;
	if (conf->fixed_seed) {
		t->sipkey[0] = le64(conf->seed);
		t->sipkey[1] = le64(conf->seed + 8);
	} else if (getrandom(t->sipkey, sizeof(t->sipkey), 0) !=
		   (ssize_t)sizeof(t->sipkey)) {
		err = -errno;
		goto out;
	}
	t->memory = sizeof(*t) + (size_t)conf->max_flows * sizeof(*t->flows) +
		    (size_t)nb * sizeof(*t->buckets) +
		    (size_t)t->max_flows * t->user_size +
		    stream_pool_memory(t->pool);
	err = 0;
out:
	if (err < 0) {
		if (t != NULL) {
			stream_pool_free(t->pool);
			free(t->user);
			free(t->buckets);
			free(t->flows);
			free(t);
		}
		errno = -err;
		return NULL;
	}
	return t;
}

void flow_table_free(struct flow_table *t)
{
	if (t == NULL)
		return;
	for (int c = 0; c < TC_MAX; c++)
		while (t->lru[c].head != NIL)
			flow_end(t, &t->flows[t->lru[c].head],
				 FLOW_END_SHUTDOWN);
	stream_pool_free(t->pool);
	free(t->user);
	free(t->buckets);
	free(t->flows);
	free(t);
}

static struct flow *find(struct flow_table *t, const struct flow_key *k,
			 uint32_t h, enum flow_dir *dir)
{
	for (uint32_t i = t->buckets[h & (t->nbuckets - 1)]; i != NIL;
	     i = t->flows[i].hnext) {
		int d;

		if (t->flows[i].hash != h)
			continue;
		d = key_match(&t->flows[i].key, k);
		if (d >= 0) {
			*dir = (enum flow_dir)d;
			return &t->flows[i];
		}
	}
	return NULL;
}

struct flow *flow_find(struct flow_table *t, const struct flow_key *k,
		       enum flow_dir *dir)
{
	enum flow_dir d = FLOW_DIR_C2S;
	struct flow *f = find(t, k, key_hash(t, k), &d);

	if (f != NULL && dir != NULL)
		*dir = d;
	return f;
}

/* The expired list head idle the longest; NULL when none has expired. */
static struct flow *oldest_expired(struct flow_table *t, uint64_t now)
{
	struct flow *best = NULL;

	for (int c = 0; c < TC_MAX; c++) {
		struct flow *f;

		if (t->lru[c].head == NIL)
			continue;
		f = &t->flows[t->lru[c].head];
		if (expired(t, f, now) &&
		    (best == NULL || f->last_seen < best->last_seen))
			best = f;
	}
	return best;
}

static void tcp_track(struct flow *f, enum flow_dir dir, uint8_t flags)
{
	if (f->key.proto != IPPROTO_TCP)
		return;
	if (flags & STREAM_TCP_RST) {
		f->flags |= FLOW_F_RST;
		f->state = FLOW_STATE_CLOSING;
	}
	if (flags & STREAM_TCP_FIN) {
		f->flags |= dir == FLOW_DIR_C2S ? FLOW_F_FIN_C2S :
						  FLOW_F_FIN_S2C;
		f->state = FLOW_STATE_CLOSING;
	}
	if (f->state == FLOW_STATE_NEW && (flags & STREAM_TCP_ACK) &&
	    !(flags & STREAM_TCP_SYN))
		f->state = FLOW_STATE_ESTABLISHED;
}

static struct flow *create(struct flow_table *t, const struct flow_key *k,
			   uint32_t h, uint8_t tcp_flags, enum flow_dir *dir)
{
	struct flow *f;
	uint32_t i = t->free_head;
	bool rev = false;

	if (i != NIL)
		t->free_head = t->flows[i].hnext;
	else
		i = t->fresh++;
	f = &t->flows[i];
	memset(f, 0, sizeof(*f));
	if (k->proto == IPPROTO_TCP && (tcp_flags & STREAM_TCP_SYN)) {
		rev = (tcp_flags & STREAM_TCP_ACK) != 0;
		f->flags = FLOW_F_SYN_SEEN;
		f->state = FLOW_STATE_NEW;
	} else {
		rev = k->sport < k->dport;
		f->flags = FLOW_F_CLIENT_GUESS;
		f->state = k->proto == IPPROTO_TCP ? FLOW_STATE_ESTABLISHED :
			   k->proto == IPPROTO_UDP ? FLOW_STATE_UDP :
						     FLOW_STATE_OTHER;
	}
	if (rev)
		key_reverse(&f->key, k);
	else
		f->key = *k;
	*dir = rev ? FLOW_DIR_S2C : FLOW_DIR_C2S;
	f->id = (uint32_t)++t->next_id;
	f->last_seen = t->clock;
	f->in_use = 1;
	stream_init(&f->stream[0]);
	stream_init(&f->stream[1]);
	f->hash = h;
	f->hnext = t->buckets[h & (t->nbuckets - 1)];
	t->buckets[h & (t->nbuckets - 1)] = i;
	lru_append(t, f);
	if (t->user_size > 0)
		memset(flow_user(t, f), 0, t->user_size);
	t->stats.active++;
	t->stats.created++;
	return f;
}

enum flow_status flow_lookup(struct flow_table *t, const struct flow_key *k,
			     uint8_t tcp_flags, uint64_t now, struct flow **fp,
			     enum flow_dir *dir)
{
	struct flow *f = NULL;
	enum flow_dir d = FLOW_DIR_C2S;
	uint32_t h;
	int m;

	if (now > t->clock)
		t->clock = now;
	if (t->last != NIL) {
		f = &t->flows[t->last];
		m = key_match(&f->key, k);
		if (m >= 0)
			d = (enum flow_dir)m;
		else
			f = NULL;
	}
	if (f != NULL) {
		h = f->hash;
	} else {
		h = key_hash(t, k);
		f = find(t, k, h, &d);
	}
	if (f != NULL && f->state == FLOW_STATE_CLOSING &&
	    (tcp_flags & (STREAM_TCP_SYN | STREAM_TCP_ACK)) == STREAM_TCP_SYN) {
		flow_end(t, f, FLOW_END_REUSED);
		t->stats.removed++;
		f = NULL;
	}
	if (f != NULL) {
		uint32_t i = fidx(t, f);

		tcp_track(f, d, tcp_flags);
		f->last_seen = t->clock;
		/* the tail of its list already: nothing to move */
		if (t->lru[f->tclass].tail != i ||
		    f->tclass != state_class(f->state)) {
			lru_unlink(t, f);
			lru_append(t, f);
		}
		t->last = i;
		*fp = f;
		*dir = d;
		return FLOW_FOUND;
	}
	if (t->free_head == NIL && t->fresh == t->max_flows) {
		struct flow *victim = oldest_expired(t, t->clock);

		if (victim == NULL) {
			t->stats.refused++;
			*fp = NULL;
			return FLOW_FULL;
		}
		flow_end(t, victim, FLOW_END_EVICTED);
		t->stats.evicted++;
	}
	f = create(t, k, h, tcp_flags, &d);
	t->last = fidx(t, f);
	tcp_track(f, d, tcp_flags);
	if (f->tclass != state_class(f->state)) {
		lru_unlink(t, f);
		lru_append(t, f);
	}
	*fp = f;
	*dir = d;
	return FLOW_CREATED;
}

void flow_reverse(struct flow *f)
{
	struct flow_key k = f->key;
	struct stream s = f->stream[0];
	uint8_t fin = f->flags & (FLOW_F_FIN_C2S | FLOW_F_FIN_S2C);

	key_reverse(&f->key, &k);
	f->stream[0] = f->stream[1];
	f->stream[1] = s;
	f->flags &= (uint8_t) ~(FLOW_F_FIN_C2S | FLOW_F_FIN_S2C |
				FLOW_F_CLIENT_GUESS);
	if (fin & FLOW_F_FIN_C2S)
		f->flags |= FLOW_F_FIN_S2C;
	if (fin & FLOW_F_FIN_S2C)
		f->flags |= FLOW_F_FIN_C2S;
}

void flow_remove(struct flow_table *t, struct flow *f)
{
	flow_end(t, f, FLOW_END_REMOVED);
	t->stats.removed++;
}

unsigned flow_table_sweep(struct flow_table *t, uint64_t now, unsigned budget)
{
	unsigned n = 0;

	if (now > t->clock)
		t->clock = now;
	if (t->clock < t->next_due || budget == 0)
		return 0;
	for (int c = 0; c < TC_MAX && n < budget; c++) {
		while (n < budget && t->lru[c].head != NIL) {
			struct flow *f = &t->flows[t->lru[c].head];

			if (!expired(t, f, t->clock))
				break;
			flow_end(t, f, FLOW_END_EXPIRED);
			t->stats.expired++;
			n++;
		}
	}
	t->next_due = UINT64_MAX;
	for (int c = 0; c < TC_MAX; c++) {
		uint64_t due;

		if (t->lru[c].head == NIL)
			continue;
		due = t->flows[t->lru[c].head].last_seen + t->timeout_us[c];
		if (due < t->next_due)
			t->next_due = due;
	}
	return n;
}

void *flow_user(struct flow_table *t, const struct flow *f)
{
	if (t->user_size == 0)
		return NULL;
	return t->user + (size_t)fidx(t, f) * t->user_size;
}

enum stream_status flow_tcp_segment(struct flow_table *t, struct flow *f,
				    enum flow_dir dir,
				    const struct stream_seg *seg,
				    stream_data_cb cb, void *arg)
{
	return stream_segment(t->pool, &f->stream[dir], &f->stream[!dir], seg,
			      cb, arg);
}

struct stream_pool *flow_table_stream_pool(struct flow_table *t)
{
	return t->pool;
}

uint32_t flow_timeout(const struct flow_table *t, const struct flow *f)
{
	return t->timeout_s[f->tclass];
}

void flow_table_stats(const struct flow_table *t, struct flow_stats *st)
{
	*st = t->stats;
}

size_t flow_table_memory(const struct flow_table *t)
{
	return t->memory;
}

/* Memory per flow is the flow table's budget: see struct flow. */
_Static_assert(sizeof(struct stream) == 24, "struct stream grew");
_Static_assert(sizeof(struct flow) <= 120, "struct flow grew");

void flow_table_foreach(struct flow_table *t,
			void (*fn)(struct flow *f, void *user, void *arg),
			void *arg)
{
	for (uint32_t i = 0; i < t->fresh && i < t->max_flows; i++)
		if (t->flows[i].in_use)
			fn(&t->flows[i], flow_user(t, &t->flows[i]), arg);
}
