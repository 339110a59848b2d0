/*
 * Policy model -> the objects of table `inet conduitd`, serialised into one
 * batch (batch.c). The layout is described in docs/dev/ruleset.md; in
 * short: the forward hook keeps established flows whose ct mark names a
 * live service atom, classifies new flows by source zone (address maps,
 * then interface map) into a per-zone chain, which classifies the
 * destination zone into a per-conduit chain, which sets the ct mark to the
 * id of the service atom that matches: with at most NFT_INLINE_RULES plain
 * rules for a small conduit (no sets), else from one map lookup per map
 * (hash on protocol and port, or pipapo when hosts or ranges need it).
 * Every packet costs a bounded number of rules and lookups whatever the
 * policy size, and named sets stay O(zones) + O(conduits over the limit):
 * the kernel finds a set by name with a list walk per message.
 *
 * Also the atoms (the revocation unit behind the ct mark) and the NFQUEUE
 * verdict expression for inline inspection.
 */
#include "config.h"

#include "nft/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/xt_NFQUEUE.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/udata.h>

#include "common/diag.h"

/* nftables' own datatype ids (src/datatype.h), stored in the set so the
 * nft CLI can print the elements. A concatenation is the ids shifted by
 * 6 bits each. */
enum {
	DT_IPADDR = 7,
	DT_IP6ADDR = 8,
	DT_INET_PROTO = 12,
	DT_INET_SERVICE = 13,
	DT_ICMP_TYPE = 14,
	DT_MARK = 19,
	DT_ICMP6_TYPE = 29,
	DT_IFNAME = 41,
};
#define DT_CONCAT(a, b) (((a) << 6) | (b))

/* nftables' udata byte order values. */
enum { BO_INVALID = 0, BO_HOST = 1, BO_BIG = 2 };

#define IFNAME_LEN 16
#define NAME_BUF 96
/* A guard against a policy whose overlapping services split into more
 * elements than a gateway should carry in one map. */
#define NFT_MAX_GROUP_ELEMS 200000
/* K: a conduit whose services take at most this many plain rules gets
 * them inline in its chain, without maps (docs/dev/ruleset.md, cost
 * model): a new flow then walks at most K rules, ~20 ns each here, which
 * is what one hash map lookup costs (+54..97 ns) and well under a pipapo
 * lookup (+327..481 ns); each map avoided is one named set less for the
 * kernel's by-name set lookup. */
#define NFT_INLINE_RULES 4

/* NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | ...(IP_CT_RELATED), invalid bit. */
#define CT_STATE_INVALID 0x01u
#define CT_STATE_EST_REL 0x06u

/* --- small helpers ---------------------------------------------------- */

static uint64_t rate_unit_secs(enum pol_rate_unit u)
{
	switch (u) {
	case POL_RATE_SECOND:
		return 1;
	case POL_RATE_MINUTE:
		return 60;
	case POL_RATE_HOUR:
		return 3600;
	case POL_RATE_DAY:
		return 86400;
	}
	return 1;
}

static bool is_icmp(enum pol_proto p)
{
	return p == POL_PROTO_ICMP || p == POL_PROTO_ICMPV6;
}

/* Big-endian keys of up to 16 bytes. */
static int key_cmp(const uint8_t *a, const uint8_t *b, size_t len)
{
	return memcmp(a, b, len);
}

static bool key_inc(uint8_t *k, size_t len) /* false on wrap */
{
	for (size_t i = len; i-- > 0;) {
		if (++k[i] != 0)
			return true;
	}
	return false;
}

static void key_dec(uint8_t *k, size_t len)
{
	for (size_t i = len; i-- > 0;) {
		if (k[i]-- != 0)
			return;
	}
}

static bool key_is_max(const uint8_t *k, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (k[i] != 0xff)
			return false;
	}
	return true;
}

static bool key_is_zero(const uint8_t *k, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (k[i] != 0)
			return false;
	}
	return true;
}

static size_t fam_alen(int family)
{
	return family == AF_INET ? 4 : 16;
}

/* lo/hi of a prefix. */
static void prefix_range(const struct pol_prefix *px, uint8_t *lo, uint8_t *hi)
{
	size_t alen = fam_alen(px->family);

	memset(lo, 0, 16);
	memset(hi, 0, 16);
	for (size_t i = 0; i < alen; i++) {
		unsigned bits = px->len > i * 8 ? px->len - i * 8 : 0;
		uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));

		if (bits == 0)
			mask = 0;
		lo[i] = px->addr[i] & mask;
		hi[i] = lo[i] | (uint8_t)~mask;
	}
}

/* --- atoms ------------------------------------------------------------ */

struct hostlist {
	const struct pol_prefix **v; /* normalised: sorted, none inside another */
	size_t n;
	bool any;
};

static int prefix_order(const void *a, const void *b)
{
	const struct pol_prefix *x = *(const struct pol_prefix *const *)a;
	const struct pol_prefix *y = *(const struct pol_prefix *const *)b;
	int c;

	if (x->family != y->family)
		return x->family == AF_INET ? -1 : 1;
	c = memcmp(x->addr, y->addr, fam_alen(x->family));
	if (c)
		return c;
	return (int)x->len - (int)y->len;
}

static bool prefix_contains(const struct pol_prefix *outer,
			    const struct pol_prefix *inner)
{
	uint8_t olo[16], ohi[16], ilo[16], ihi[16];
	size_t alen = fam_alen(outer->family);

	if (outer->family != inner->family || outer->len > inner->len)
		return false;
	prefix_range(outer, olo, ohi);
	prefix_range(inner, ilo, ihi);
	return key_cmp(olo, ilo, alen) <= 0 && key_cmp(ihi, ohi, alen) <= 0;
}

/* Sorted, duplicates and prefixes inside another one dropped: the same
 * address set gives the same atom whatever way it was written. */
static int hostlist_build(const struct pol_prefix *v, size_t n,
			  struct hostlist *out)
{
	const struct pol_prefix **tmp;
	size_t k = 0;

	out->v = NULL;
	out->n = 0;
	out->any = n == 0;
	if (n == 0)
		return 0;
	tmp = calloc(n, sizeof(*tmp));
	if (tmp == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		tmp[i] = &v[i];
	qsort(tmp, n, sizeof(*tmp), prefix_order);
	for (size_t i = 0; i < n; i++) {
		bool inside = false;

		for (size_t j = 0; j < n && !inside; j++) {
			if (j == i)
				continue;
			if (prefix_contains(tmp[j], tmp[i]) &&
			    (tmp[j]->len != tmp[i]->len || j < i))
				inside = true;
		}
		if (!inside)
			tmp[k++] = tmp[i];
	}
	out->v = tmp;
	out->n = k;
	return 0;
}

static bool hostlist_has(const struct hostlist *h, int family)
{
	if (h->any)
		return true;
	for (size_t i = 0; i < h->n; i++) {
		if (h->v[i]->family == family)
			return true;
	}
	return false;
}

/* appends to a growing string; returns false when out of memory */
struct sbuf {
	char *s;
	size_t len;
	size_t cap;
	bool oom;
};

static void sb_printf(struct sbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (sb->oom)
		return;
	for (;;) {
		size_t room = sb->cap - sb->len;

		va_start(ap, fmt);
		n = vsnprintf(sb->s ? sb->s + sb->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			sb->oom = true;
			return;
		}
		if ((size_t)n < room) {
			sb->len += (size_t)n;
			return;
		}
		{
			size_t ncap = (sb->cap ? sb->cap : 64) * 2 + (size_t)n;
			char *ns = realloc(sb->s, ncap);

			if (ns == NULL) {
				sb->oom = true;
				return;
			}
			sb->s = ns;
			sb->cap = ncap;
		}
	}
}

static void sb_hosts(struct sbuf *sb, const struct hostlist *h)
{
	char a[INET6_ADDRSTRLEN];

	if (h->any) {
		sb_printf(sb, "any");
		return;
	}
	for (size_t i = 0; i < h->n; i++) {
		inet_ntop(h->v[i]->family, h->v[i]->addr, a, sizeof(a));
		sb_printf(sb, "%s%s/%u", i ? "," : "", a, h->v[i]->len);
	}
}

/* "enterprise>dmz udp 20000-20010 from=198.18.10.0/28 to=any
 * rate=200/second" -- the identity of one allowed service. */
static char *atom_text(const struct pol_conduit *c, const struct pol_service *s,
		       int port_index, const struct hostlist *from,
		       const struct hostlist *to)
{
	struct sbuf sb = { 0 };

	sb_printf(&sb, "%s>%s %s ", c->from->name, c->to->name,
		  pol_proto_name(s->proto));
	if (is_icmp(s->proto)) {
		if (s->icmp_type < 0)
			sb_printf(&sb, "type=any");
		else
			sb_printf(&sb, "type=%d", s->icmp_type);
	} else if (port_index < 0) {
		sb_printf(&sb, "port=any");
	} else {
		const struct pol_port_range *pr = &s->ports[port_index];

		if (pr->lo == pr->hi)
			sb_printf(&sb, "port=%u", pr->lo);
		else
			sb_printf(&sb, "port=%u-%u", pr->lo, pr->hi);
	}
	sb_printf(&sb, " from=");
	sb_hosts(&sb, from);
	sb_printf(&sb, " to=");
	sb_hosts(&sb, to);
	if (s->has_rate) {
		sb_printf(&sb, " rate=%u/%s", s->rate.count,
			  pol_rate_unit_name(s->rate.unit));
		if (s->rate.burst)
			sb_printf(&sb, "/%u", s->rate.burst);
	}
	if (sb.oom) {
		free(sb.s);
		return NULL;
	}
	return sb.s;
}

uint32_t nft_atom_hash(const char *text)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 */
	uint32_t v;

	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ull;
	}
	v = (uint32_t)((h ^ (h >> 30) ^ (h >> 60)) & NFT_ATOM_ID_MASK);
	return v ? v : 1;
}

static int atom_order(const void *a, const void *b)
{
	const struct nft_atom *x = a, *y = b;
	int c = strcmp(x->text, y->text);

	if (c)
		return c;
	/* equal texts: keep policy order so the result is deterministic */
	if (x->conduit->id != y->conduit->id)
		return x->conduit->id < y->conduit->id ? -1 : 1;
	if (x->svc_index != y->svc_index)
		return x->svc_index < y->svc_index ? -1 : 1;
	return x->port_index - y->port_index;
}

/* open addressing set of used ids */
struct idset {
	uint32_t *v;
	size_t cap; /* power of two */
};

static int idset_init(struct idset *s, size_t n)
{
	s->cap = 16;
	while (s->cap < n * 2)
		s->cap *= 2;
	s->v = calloc(s->cap, sizeof(*s->v));
	return s->v ? 0 : -ENOMEM;
}

static bool idset_has(const struct idset *s, uint32_t id)
{
	for (size_t i = id & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
		if (s->v[i] == 0)
			return false;
		if (s->v[i] == id)
			return true;
	}
}

static void idset_add(struct idset *s, uint32_t id)
{
	size_t i = id & (s->cap - 1);

	while (s->v[i] != 0)
		i = (i + 1) & (s->cap - 1);
	s->v[i] = id;
}

int nft_atoms_build(const struct pol_policy *p, struct nft_atoms *out)
{
	struct nft_atom *v = NULL;
	size_t n = 0, cap = 0;
	struct idset used = { 0 };
	int ret = -ENOMEM;

	out->v = NULL;
	out->n = 0;
	for (size_t ci = 0; ci < p->n_conduits; ci++) {
		const struct pol_conduit *c = &p->conduits[ci];

		for (size_t si = 0; si < c->n_allow; si++) {
			const struct pol_service *s = &c->allow[si];
			struct hostlist from, to;
			int np = is_icmp(s->proto) || s->n_ports == 0 ?
					 1 :
					 (int)s->n_ports;
			int ret_inner = 0;

			if (hostlist_build(s->from_hosts, s->n_from_hosts,
					   &from) < 0)
				goto out;
			if (hostlist_build(s->to_hosts, s->n_to_hosts, &to) <
			    0) {
				free(from.v);
				goto out;
			}
			for (int pi = 0; pi < np; pi++) {
				struct nft_atom *a;

				if (n == cap) {
					size_t ncap = cap ? cap * 2 : 64;
					struct nft_atom *nv =
						realloc(v, ncap * sizeof(*nv));

					if (nv == NULL) {
						ret_inner = -ENOMEM;
						break;
					}
					v = nv;
					cap = ncap;
				}
				a = &v[n];
				a->conduit = c;
				a->svc = s;
				a->svc_index = si;
				a->port_index =
					is_icmp(s->proto) || s->n_ports == 0 ?
						-1 :
						pi;
				a->id = 0;
				a->text = atom_text(c, s, a->port_index, &from,
						    &to);
				if (a->text == NULL) {
					ret_inner = -ENOMEM;
					break;
				}
				n++;
			}
			free(from.v);
			free(to.v);
			if (ret_inner < 0)
				goto out;
		}
	}
	/* Sort, then hand out ids in text order: the probing sequence, and
	 * so the id of every atom, depends only on the set of atom texts. */
	if (n)
		qsort(v, n, sizeof(*v), atom_order);
	if (idset_init(&used, n) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		uint32_t id;

		if (i > 0 && strcmp(v[i].text, v[i - 1].text) == 0) {
			v[i].id = v[i - 1].id;
			continue;
		}
		id = nft_atom_hash(v[i].text);
		while (idset_has(&used, id))
			id = id == NFT_ATOM_ID_MASK ? 1 : id + 1;
		idset_add(&used, id);
		v[i].id = id;
	}
	out->v = v;
	out->n = n;
	v = NULL;
	n = 0;
	ret = 0;
out:
	free(used.v);
	for (size_t i = 0; i < n; i++)
		free(v[i].text);
	free(v);
	return ret;
}

void nft_atoms_free(struct nft_atoms *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i].text);
	free(a->v);
	a->v = NULL;
	a->n = 0;
}

uint32_t nft_atoms_find(const struct nft_atoms *a, const char *text)
{
	size_t lo = 0, hi = a->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(a->v[mid].text, text);

		if (c == 0)
			return a->v[mid].id;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* --- compile context and rule builder --------------------------------- */

struct cplan {			    /* what was emitted for one conduit */
	bool inl;		    /* services as plain rules, no maps */
	uint8_t main_mask;	    /* GRP_* bits of the unrated maps */
	uint8_t hash_mask;	    /* of those, the non-interval (hash) ones */
	uint8_t *svc_mask;	    /* per allow entry, rated maps */
	const struct nft_atom **at; /* the conduit's atoms (by_conduit) */
	size_t n_at;
};

enum {
	GRP_L4V4 = 1,
	GRP_L4V6 = 2,
	GRP_IC4 = 4,
	GRP_IC6 = 8,
	GRP_L4 = 16, /* family-agnostic meta l4proto . th dport */
};

struct cc {
	const struct pol_policy *p;
	const struct nft_opts *o;
	struct nft_batch *b;
	struct diag_list *d;
	struct nft_atoms atoms;
	const struct nft_atom **by_conduit; /* atoms sorted by conduit, text */
	int *pair; /* pair[from * nz + to] = conduit index or -1 */
	struct cplan *plan;
	const struct pol_zone *mgmt;
	uint32_t set_id;
	int err;
	bool fatal_diag;
};

struct rb {
	struct nftnl_rule *r;
	bool oom;
};

static void rb_init(struct rb *rb, const char *chain)
{
	rb->oom = false;
	rb->r = nftnl_rule_alloc();
	if (rb->r == NULL) {
		rb->oom = true;
		return;
	}
	nftnl_rule_set_u32(rb->r, NFTNL_RULE_FAMILY, NFT_CD_FAMILY);
	nftnl_rule_set_str(rb->r, NFTNL_RULE_TABLE, NFT_TABLE_NAME);
	nftnl_rule_set_str(rb->r, NFTNL_RULE_CHAIN, chain);
}

static struct nftnl_expr *rb_expr(struct rb *rb, const char *name)
{
	struct nftnl_expr *e;

	if (rb->oom)
		return NULL;
	e = nftnl_expr_alloc(name);
	if (e == NULL) {
		rb->oom = true;
		return NULL;
	}
	nftnl_rule_add_expr(rb->r, e);
	return e;
}

static void e_meta(struct rb *rb, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = rb_expr(rb, "meta");

	if (e == NULL)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
}

static void e_meta_set(struct rb *rb, uint32_t key, uint32_t sreg)
{
	struct nftnl_expr *e = rb_expr(rb, "meta");

	if (e == NULL)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, sreg);
}

static void e_cmp(struct rb *rb, uint32_t sreg, uint32_t op, const void *data,
		  uint32_t len)
{
	struct nftnl_expr *e = rb_expr(rb, "cmp");

	if (e == NULL)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, sreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
}

static void e_cmp_u8(struct rb *rb, uint32_t op, uint8_t v)
{
	e_cmp(rb, NFT_REG_1, op, &v, 1);
}

static void e_payload(struct rb *rb, uint32_t base, uint32_t off, uint32_t len,
		      uint32_t dreg)
{
	struct nftnl_expr *e = rb_expr(rb, "payload");

	if (e == NULL)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
}

/* dreg < 0: membership test only */
static void e_lookup(struct rb *rb, uint32_t sreg, const char *set, int dreg)
{
	struct nftnl_expr *e = rb_expr(rb, "lookup");

	if (e == NULL)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
	if (dreg >= 0)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, (uint32_t)dreg);
}

static void e_verdict(struct rb *rb, int verdict, const char *chain)
{
	struct nftnl_expr *e = rb_expr(rb, "immediate");

	if (e == NULL)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	if (chain)
		nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
}

static void e_ct_load(struct rb *rb, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = rb_expr(rb, "ct");

	if (e == NULL)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, dreg);
}

static void e_ct_set(struct rb *rb, uint32_t key, uint32_t sreg)
{
	struct nftnl_expr *e = rb_expr(rb, "ct");

	if (e == NULL)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_SREG, sreg);
}

static void e_bitwise(struct rb *rb, uint32_t mask, uint32_t xor)
{
	struct nftnl_expr *e = rb_expr(rb, "bitwise");

	if (e == NULL)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, sizeof(uint32_t));
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &mask, sizeof(mask));
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &xor, sizeof(xor));
}

static void e_objref(struct rb *rb, uint32_t type, const char *name)
{
	struct nftnl_expr *e = rb_expr(rb, "objref");

	if (e == NULL)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_OBJREF_IMM_TYPE, type);
	nftnl_expr_set_str(e, NFTNL_EXPR_OBJREF_IMM_NAME, name);
}

static void e_objref_map(struct rb *rb, uint32_t sreg, const char *set)
{
	struct nftnl_expr *e = rb_expr(rb, "objref");

	if (e == NULL)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_OBJREF_SET_SREG, sreg);
	nftnl_expr_set_str(e, NFTNL_EXPR_OBJREF_SET_NAME, set);
}

static void e_limit(struct rb *rb, uint64_t rate, uint64_t unit, uint32_t burst)
{
	struct nftnl_expr *e = rb_expr(rb, "limit");

	if (e == NULL)
		return;
	nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_RATE, rate);
	nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_UNIT, unit);
	if (burst)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_BURST, burst);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKTS);
}

static void e_log(struct rb *rb, const char *prefix, uint16_t group)
{
	struct nftnl_expr *e = rb_expr(rb, "log");

	if (e == NULL)
		return;
	nftnl_expr_set_str(e, NFTNL_EXPR_LOG_PREFIX, prefix);
	nftnl_expr_set_u16(e, NFTNL_EXPR_LOG_GROUP, group);
}

/* immediate: a 32-bit value into dreg */
static void e_imm_u32(struct rb *rb, uint32_t dreg, uint32_t v)
{
	struct nftnl_expr *e = rb_expr(rb, "immediate");

	if (e == NULL)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, dreg);
	nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, &v, sizeof(v));
}

/* range eq reg1 lo hi (big-endian data of len bytes) */
static void e_range(struct rb *rb, const void *lo, const void *hi, uint32_t len)
{
	struct nftnl_expr *e = rb_expr(rb, "range");

	if (e == NULL)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_RANGE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_RANGE_OP, NFT_RANGE_EQ);
	nftnl_expr_set(e, NFTNL_EXPR_RANGE_FROM_DATA, lo, len);
	nftnl_expr_set(e, NFTNL_EXPR_RANGE_TO_DATA, hi, len);
}

/* reg1 &= mask (len bytes) */
static void e_mask(struct rb *rb, const uint8_t *mask, uint32_t len)
{
	struct nftnl_expr *e = rb_expr(rb, "bitwise");
	uint8_t zero[16] = { 0 };

	if (e == NULL)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero, len);
}

/* meta nfproto <v> */
static void m_nfproto(struct rb *rb, uint8_t nfproto)
{
	e_meta(rb, NFT_META_NFPROTO, NFT_REG_1);
	e_cmp_u8(rb, NFT_CMP_EQ, nfproto);
}

/* meta l4proto <v> */
static void m_l4proto(struct rb *rb, uint8_t proto)
{
	e_meta(rb, NFT_META_L4PROTO, NFT_REG_1);
	e_cmp_u8(rb, NFT_CMP_EQ, proto);
}

static void m_ct_state(struct rb *rb, uint32_t bits)
{
	uint32_t zero = 0;

	e_ct_load(rb, NFT_CT_STATE, NFT_REG_1);
	e_bitwise(rb, bits, 0);
	e_cmp(rb, NFT_REG_1, NFT_CMP_NEQ, &zero, sizeof(zero));
}

/* limit rate R/second log group G prefix P (nothing when log_rate is 0) */
static void m_log(struct cc *cc, struct rb *rb, const char *prefix)
{
	e_limit(rb, cc->o->log_rate, 1, 0);
	e_log(rb, prefix, cc->o->nflog_group);
}

static int rb_commit(struct cc *cc, struct rb *rb, const struct pol_loc *loc,
		     const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int rb_commit(struct cc *cc, struct rb *rb, const struct pol_loc *loc,
		     const char *fmt, ...)
{
	char what[200];
	va_list ap;
	int ret;

	if (rb->oom) {
		if (rb->r)
			nftnl_rule_free(rb->r);
		return -ENOMEM;
	}
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	ret = nft_batch_add_rule(cc->b, rb->r, loc, "rule in chain %s: %s",
				 nftnl_rule_get_str(rb->r, NFTNL_RULE_CHAIN),
				 what);
	nftnl_rule_free(rb->r);
	rb->r = NULL;
	return ret;
}

/* --- NFQUEUE verdict (inline inspection) ------------------------------ */

static int queue_native(struct nftnl_rule *r, uint16_t qnum, uint16_t qtotal,
			bool bypass)
{
	struct nftnl_expr *e = nftnl_expr_alloc("queue");

	if (e == NULL)
		return -ENOMEM;
	nftnl_expr_set_u16(e, NFTNL_EXPR_QUEUE_NUM, qnum);
	nftnl_expr_set_u16(e, NFTNL_EXPR_QUEUE_TOTAL, qtotal ? qtotal : 1);
	/* Balance by the kernel's flow hash (both directions of a flow
	 * reach the same queue and worker: each worker owns its flow
	 * table), never bypass: no consumer means drop (fail closed). */
	nftnl_expr_set_u16(e, NFTNL_EXPR_QUEUE_FLAGS,
			   bypass ? NFT_QUEUE_FLAG_BYPASS : 0);
	nftnl_rule_add_expr(r, e);
	return 0;
}

int nft_rule_add_queue_native(struct nftnl_rule *r, uint16_t qnum,
			      uint16_t qtotal)
{
	return queue_native(r, qnum, qtotal, false);
}

static int queue_xt(struct nftnl_rule *r, uint16_t qnum, uint16_t qtotal,
		    bool bypass)
{
	struct nftnl_expr *e = nftnl_expr_alloc("target");
	struct xt_NFQ_info_v3 *info = calloc(1, sizeof(*info));

	if (e == NULL || info == NULL) {
		if (e)
			nftnl_expr_free(e);
		free(info);
		return -ENOMEM;
	}
	info->queuenum = qnum;
	info->queues_total = qtotal ? qtotal : 1;
	info->flags = bypass ? NFQ_FLAG_BYPASS : 0; /* hash balance */
	nftnl_expr_set_str(e, NFTNL_EXPR_TG_NAME, "NFQUEUE");
	nftnl_expr_set_u32(e, NFTNL_EXPR_TG_REV, 3);
	/* libnftnl keeps (and later frees) the info buffer itself */
	nftnl_expr_set(e, NFTNL_EXPR_TG_INFO, info, sizeof(*info));
	nftnl_rule_add_expr(r, e);
	return 0;
}

int nft_rule_add_queue_xt(struct nftnl_rule *r, uint16_t qnum, uint16_t qtotal)
{
	return queue_xt(r, qnum, qtotal, false);
}

int nft_rule_add_queue_ex(struct nftnl_rule *r, const struct nft_features *f,
			  uint16_t qnum, uint16_t qtotal, bool bypass)
{
	if (f->native_queue)
		return queue_native(r, qnum, qtotal, bypass);
	if (f->xt_nfqueue)
		return queue_xt(r, qnum, qtotal, bypass);
	return -EOPNOTSUPP;
}

int nft_rule_add_queue(struct nftnl_rule *r, const struct nft_features *f,
		       uint16_t qnum, uint16_t qtotal)
{
	return nft_rule_add_queue_ex(r, f, qnum, qtotal, false);
}

bool nft_service_inspected(const struct pol_conduit *c,
			   const struct pol_service *s)
{
	return s->dpi != NULL || s->n_apps > 0 ||
	       c->from->n_deny_categories > 0 || c->to->n_deny_categories > 0;
}

static bool atom_inspected(const struct cc *cc, const struct nft_atom *a)
{
	return cc->o->inspect && !is_icmp(a->svc->proto) &&
	       nft_service_inspected(a->conduit, a->svc);
}

/* The mark a flow admitted by atom a carries. */
static uint32_t atom_mark(const struct cc *cc, const struct nft_atom *a)
{
	if (!atom_inspected(cc, a))
		return a->id;
	return a->id | NFT_MARK_INSPECT |
	       (a->conduit->fail_open ? NFT_MARK_FAILOPEN : 0);
}

/* queue num first..first+n-1 (hash balanced); bypass only for `fail:
 * open` conduits */
static void e_queue(struct cc *cc, struct rb *rb, bool bypass)
{
	if (rb->oom)
		return;
	if (nft_rule_add_queue_ex(rb->r, &cc->o->feat, cc->o->queue_first,
				  cc->o->queue_n ? cc->o->queue_n : 1,
				  bypass) < 0)
		rb->oom = true;
}

/* --- objects, chains, sets --------------------------------------------- */

static int add_counter(struct cc *cc, const char *name,
		       const struct pol_loc *loc)
{
	struct nftnl_obj *o = nftnl_obj_alloc();
	int ret;

	if (o == NULL)
		return -ENOMEM;
	nftnl_obj_set_str(o, NFTNL_OBJ_TABLE, NFT_TABLE_NAME);
	nftnl_obj_set_str(o, NFTNL_OBJ_NAME, name);
	nftnl_obj_set_u32(o, NFTNL_OBJ_FAMILY, NFT_CD_FAMILY);
	nftnl_obj_set_u32(o, NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
	nftnl_obj_set_u64(o, NFTNL_OBJ_CTR_PKTS, 0);
	nftnl_obj_set_u64(o, NFTNL_OBJ_CTR_BYTES, 0);
	ret = nft_batch_add_obj(cc->b, o, loc, "counter %s", name);
	nftnl_obj_free(o);
	return ret;
}

static int add_limit_obj(struct cc *cc, const char *name,
			 const struct pol_rate *rt, const struct pol_loc *loc)
{
	struct nftnl_obj *o = nftnl_obj_alloc();
	int ret;

	if (o == NULL)
		return -ENOMEM;
	nftnl_obj_set_str(o, NFTNL_OBJ_TABLE, NFT_TABLE_NAME);
	nftnl_obj_set_str(o, NFTNL_OBJ_NAME, name);
	nftnl_obj_set_u32(o, NFTNL_OBJ_FAMILY, NFT_CD_FAMILY);
	nftnl_obj_set_u32(o, NFTNL_OBJ_TYPE, NFT_OBJECT_LIMIT);
	nftnl_obj_set_u64(o, NFTNL_OBJ_LIMIT_RATE, rt->count);
	nftnl_obj_set_u64(o, NFTNL_OBJ_LIMIT_UNIT, rate_unit_secs(rt->unit));
	/* burst 0 = the kernel default (5 packets) */
	nftnl_obj_set_u32(o, NFTNL_OBJ_LIMIT_BURST, rt->burst);
	nftnl_obj_set_u32(o, NFTNL_OBJ_LIMIT_TYPE, NFT_LIMIT_PKTS);
	nftnl_obj_set_u32(o, NFTNL_OBJ_LIMIT_FLAGS, 0);
	ret = nft_batch_add_obj(cc->b, o, loc, "limit %s", name);
	nftnl_obj_free(o);
	return ret;
}

/* hook < 0: a regular chain */
static int add_chain(struct cc *cc, const char *name, int hook, int policy,
		     const struct pol_loc *loc)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	int ret;

	if (c == NULL)
		return -ENOMEM;
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, NFT_TABLE_NAME);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFT_CD_FAMILY);
	if (hook >= 0) {
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, (uint32_t)hook);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, 0); /* filter */
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, (uint32_t)policy);
		nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
	}
	ret = nft_batch_add_chain(cc->b, c, loc, "chain %s", name);
	nftnl_chain_free(c);
	return ret;
}

struct setdef {
	const char *name;
	uint32_t flags;
	uint32_t key_type;
	uint32_t key_len;
	uint32_t key_bo;       /* BO_* for nft's printer */
	uint32_t data_type;    /* 0 none; NFT_DATA_VERDICT; DT_MARK */
	uint32_t obj_type;     /* for NFT_SET_OBJECT */
	const uint8_t *fields; /* concat field lengths */
	uint32_t n_fields;
};

static struct nftnl_set *set_handle(const char *name)
{
	struct nftnl_set *s = nftnl_set_alloc();

	if (s == NULL)
		return NULL;
	nftnl_set_set_str(s, NFTNL_SET_TABLE, NFT_TABLE_NAME);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFT_CD_FAMILY);
	return s;
}

static int add_set(struct cc *cc, const struct setdef *sd,
		   const struct pol_loc *loc)
{
	struct nftnl_set *s = set_handle(sd->name);
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(64);
	int ret = -ENOMEM;

	if (s == NULL || ud == NULL)
		goto out;
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, sd->flags);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, sd->key_type);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, sd->key_len);
	nftnl_set_set_u32(s, NFTNL_SET_ID, ++cc->set_id);
	if (sd->data_type == NFT_DATA_VERDICT) {
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, 0);
	} else if (sd->data_type) {
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, sd->data_type);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, sizeof(uint32_t));
	}
	if (sd->flags & NFT_SET_OBJECT)
		nftnl_set_set_u32(s, NFTNL_SET_OBJ_TYPE, sd->obj_type);
	if (sd->n_fields)
		nftnl_set_set_data(s, NFTNL_SET_DESC_CONCAT, sd->fields,
				   sd->n_fields);
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, sd->key_bo);
	if (sd->data_type == DT_MARK)
		nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_DATABYTEORDER, BO_HOST);
	nftnl_set_set_data(s, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud),
			   nftnl_udata_buf_len(ud));
	ret = nft_batch_add_set(cc->b, s, loc, "set %s", sd->name);
out:
	if (ud)
		nftnl_udata_buf_free(ud);
	if (s)
		nftnl_set_free(s);
	return ret;
}

/* Collects elements of one set and cuts them into messages: at most
 * NFT_ELEMS_PER_MSG each, and a new message whenever the policy location
 * changes so a rejected element still names its line. */
struct eb {
	struct cc *cc;
	const char *set;
	struct nftnl_set *s;
	size_t n;
	struct pol_loc loc;
	bool by_count; /* cut by count only: a message names the
				* line of its first element */
	int err;
};

static void eb_init(struct eb *eb, struct cc *cc, const char *set)
{
	eb->by_count = false;
	eb->cc = cc;
	eb->set = set;
	eb->s = NULL;
	eb->n = 0;
	eb->loc.line = 0;
	eb->loc.col = 0;
	eb->err = 0;
}

static void eb_flush(struct eb *eb)
{
	if (eb->s == NULL)
		return;
	if (eb->err == 0)
		eb->err = nft_batch_add_elems(eb->cc->b, eb->s, &eb->loc,
					      "elements of set %s", eb->set);
	nftnl_set_free(eb->s);
	eb->s = NULL;
	eb->n = 0;
}

/* takes e */
static void eb_add(struct eb *eb, struct nftnl_set_elem *e,
		   const struct pol_loc *loc)
{
	struct pol_loc l = { 0, 0 };

	if (loc)
		l = *loc;
	if (eb->by_count && eb->s)
		l = eb->loc;
	if (e == NULL) {
		eb->err = -ENOMEM;
		return;
	}
	if (eb->s && (eb->n >= NFT_ELEMS_PER_MSG || l.line != eb->loc.line ||
		      l.col != eb->loc.col))
		eb_flush(eb);
	if (eb->s == NULL) {
		eb->s = set_handle(eb->set);
		if (eb->s == NULL) {
			nftnl_set_elem_free(e);
			eb->err = -ENOMEM;
			return;
		}
		eb->loc = l;
	}
	nftnl_set_elem_add(eb->s, e);
	eb->n++;
}

/* --- verdicts of the zone maps ---------------------------------------- */

enum vkind { V_ACCEPT, V_ZONE, V_CONDUIT, V_DENY_NC, V_IN_MGMT, V_IN_DENY };

struct verdict {
	enum vkind kind;
	size_t idx;
};

static bool verdict_eq(const struct verdict *a, const struct verdict *b)
{
	return a->kind == b->kind && a->idx == b->idx;
}

static void zone_chain(const struct pol_zone *z, char *buf, size_t len)
{
	snprintf(buf, len, "z_%s", z->name);
}

static void conduit_chain(const struct pol_conduit *c, char *buf, size_t len)
{
	snprintf(buf, len, "c_%s", c->name);
}

static void elem_set_verdict(struct cc *cc, struct nftnl_set_elem *e,
			     const struct verdict *v)
{
	char chain[NAME_BUF];

	switch (v->kind) {
	case V_ACCEPT:
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, NF_ACCEPT);
		return;
	case V_ZONE:
		zone_chain(&cc->p->zones[v->idx], chain, sizeof(chain));
		break;
	case V_CONDUIT:
		conduit_chain(&cc->p->conduits[v->idx], chain, sizeof(chain));
		break;
	case V_DENY_NC:
		snprintf(chain, sizeof(chain), "deny_nc");
		break;
	case V_IN_MGMT:
		snprintf(chain, sizeof(chain), "in_mgmt");
		break;
	case V_IN_DENY:
		snprintf(chain, sizeof(chain), "in_deny");
		break;
	}
	nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, (uint32_t)NFT_GOTO);
	nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, chain);
}

/* --- one-dimensional interval maps (zones by address or name) ---------- */

struct ival {
	uint8_t lo[16];
	uint8_t hi[16];
	struct verdict v;
	const struct pol_loc *loc;
	size_t idx; /* input order, the tie-break */
};

static int ival_order(const void *a, const void *b, void *arg)
{
	const struct ival *x = a, *y = b;
	size_t klen = *(const size_t *)arg;
	int c = key_cmp(x->lo, y->lo, klen);

	if (c)
		return c;
	c = key_cmp(y->hi, x->hi, klen); /* wider first */
	if (c)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

struct ivec {
	struct ival *v;
	size_t n;
	size_t cap;
	bool oom;
};

static void ivec_push(struct ivec *iv, const struct ival *x)
{
	if (iv->oom)
		return;
	if (iv->n == iv->cap) {
		size_t ncap = iv->cap ? iv->cap * 2 : 32;
		struct ival *nv = realloc(iv->v, ncap * sizeof(*nv));

		if (nv == NULL) {
			iv->oom = true;
			return;
		}
		iv->v = nv;
		iv->cap = ncap;
	}
	iv->v[iv->n] = *x;
	iv->v[iv->n].idx = iv->n;
	iv->n++;
}

/* emit [lo, hi] with v into out, merging with an adjacent equal neighbour */
static void seg_emit(struct ivec *out, const uint8_t *lo, const uint8_t *hi,
		     const struct ival *src, size_t klen)
{
	struct ival s;

	if (out->n) {
		struct ival *last = &out->v[out->n - 1];
		uint8_t next[16];

		memcpy(next, last->hi, 16);
		if (key_inc(next, klen) && key_cmp(next, lo, klen) == 0 &&
		    verdict_eq(&last->v, &src->v)) {
			memcpy(last->hi, hi, 16);
			return;
		}
	}
	s = *src;
	memcpy(s.lo, lo, 16);
	memcpy(s.hi, hi, 16);
	ivec_push(out, &s);
}

/*
 * The inputs are prefixes and name wildcards: any two are nested or
 * disjoint. Sweep them in (lo, wider first) order with a stack of the
 * enclosing intervals; the innermost one (the most specific network or
 * name) owns each piece. The result is sorted and disjoint, as the
 * kernel's rbtree requires.
 */
static int ival_flatten(struct ivec *in, size_t klen, struct ivec *out)
{
	struct ival **stack = NULL;
	size_t sp = 0;
	uint8_t cur[16];
	bool cur_valid = false; /* false after the key space wrapped */

	memset(out, 0, sizeof(*out));
	if (in->n == 0)
		return 0;
	stack = calloc(in->n, sizeof(*stack));
	if (stack == NULL)
		return -ENOMEM;
	qsort_r(in->v, in->n, sizeof(*in->v), ival_order, &klen);
	for (size_t i = 0; i <= in->n; i++) {
		struct ival *x = i < in->n ? &in->v[i] : NULL;

		/* close intervals ending before x starts */
		while (sp > 0 && (x == NULL || key_cmp(stack[sp - 1]->hi, x->lo,
						       klen) < 0)) {
			struct ival *t = stack[--sp];

			if (cur_valid && key_cmp(cur, t->hi, klen) <= 0) {
				seg_emit(out, cur, t->hi, t, klen);
				memcpy(cur, t->hi, 16);
				cur_valid = key_inc(cur, klen);
			}
		}
		if (x == NULL)
			break;
		if (sp > 0) {
			struct ival *t = stack[sp - 1];

			if (key_cmp(t->lo, x->lo, klen) == 0 &&
			    key_cmp(t->hi, x->hi, klen) == 0)
				continue; /* same range twice: first wins */
			if (cur_valid && key_cmp(cur, x->lo, klen) < 0) {
				uint8_t end[16];

				memcpy(end, x->lo, 16);
				key_dec(end, klen);
				seg_emit(out, cur, end, t, klen);
			}
		}
		stack[sp++] = x;
		memcpy(cur, x->lo, 16);
		cur_valid = true;
	}
	free(stack);
	return out->oom ? -ENOMEM : 0;
}

/* rbtree encoding as nft writes it: an interval-end element at 0 when the
 * first interval does not start there, start elements carrying the
 * verdict, end elements at hi + 1 (none when hi is the maximum). */
static int emit_ival_map(struct cc *cc, const char *set, struct ivec *segs,
			 size_t klen, bool by_count)
{
	struct eb eb;

	eb_init(&eb, cc, set);
	eb.by_count = by_count;
	for (size_t i = 0; i < segs->n; i++) {
		const struct ival *s = &segs->v[i];
		struct nftnl_set_elem *e;
		uint8_t end[16];

		if (i == 0 && !key_is_zero(s->lo, klen)) {
			uint8_t zero[16] = { 0 };

			e = nftnl_set_elem_alloc();
			if (e) {
				nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, zero,
						   (uint32_t)klen);
				nftnl_set_elem_set_u32(
					e, NFTNL_SET_ELEM_FLAGS,
					NFT_SET_ELEM_INTERVAL_END);
			}
			eb_add(&eb, e, s->loc);
		}
		e = nftnl_set_elem_alloc();
		if (e) {
			nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, s->lo,
					   (uint32_t)klen);
			elem_set_verdict(cc, e, &s->v);
			if (key_is_max(s->hi, klen)) {
				struct nftnl_udata_buf *ud =
					nftnl_udata_buf_alloc(16);

				if (ud) {
					nftnl_udata_put_u32(
						ud, NFTNL_UDATA_SET_ELEM_FLAGS,
						NFTNL_SET_ELEM_F_INTERVAL_OPEN);
					nftnl_set_elem_set(
						e, NFTNL_SET_ELEM_USERDATA,
						nftnl_udata_buf_data(ud),
						nftnl_udata_buf_len(ud));
					nftnl_udata_buf_free(ud);
				}
			}
		}
		eb_add(&eb, e, s->loc);
		if (key_is_max(s->hi, klen))
			continue;
		memcpy(end, s->hi, 16);
		key_inc(end, klen);
		e = nftnl_set_elem_alloc();
		if (e) {
			nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, end,
					   (uint32_t)klen);
			nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS,
					       NFT_SET_ELEM_INTERVAL_END);
		}
		eb_add(&eb, e, s->loc);
	}
	eb_flush(&eb);
	return eb.err;
}

enum zkey { ZK_V4, ZK_V6, ZK_IF };

/* All zones' networks (or interfaces) with verdict vf(zone). */
static int zone_ivals(struct cc *cc, enum zkey k,
		      void (*vf)(struct cc *, size_t, size_t, struct verdict *),
		      size_t ctx, struct ivec *iv)
{
	memset(iv, 0, sizeof(*iv));
	for (size_t zi = 0; zi < cc->p->n_zones; zi++) {
		const struct pol_zone *z = &cc->p->zones[zi];
		struct ival x;

		memset(&x, 0, sizeof(x));
		vf(cc, ctx, zi, &x.v);
		if (k == ZK_IF) {
			for (size_t i = 0; i < z->n_ifaces; i++) {
				const struct pol_iface *f = &z->ifaces[i];
				size_t nl = strnlen(f->name, IFNAME_LEN);

				memset(x.lo, 0, 16);
				memcpy(x.lo, f->name, nl);
				memcpy(x.hi, x.lo, 16);
				if (f->wildcard)
					memset(x.hi + nl, 0xff, 16 - nl);
				x.loc = &f->loc;
				ivec_push(iv, &x);
			}
			continue;
		}
		for (size_t i = 0; i < z->n_nets; i++) {
			const struct pol_prefix *px = &z->nets[i];

			if (px->family != (k == ZK_V4 ? AF_INET : AF_INET6))
				continue;
			prefix_range(px, x.lo, x.hi);
			x.loc = &px->loc;
			ivec_push(iv, &x);
		}
	}
	return iv->oom ? -ENOMEM : 0;
}

static size_t zkey_len(enum zkey k)
{
	return k == ZK_V4 ? 4 : 16;
}

static const char *zkey_suffix(enum zkey k)
{
	return k == ZK_V4 ? "4" : k == ZK_V6 ? "6" : "if";
}

static void vf_zone_out(struct cc *cc, size_t ctx, size_t zi,
			struct verdict *v);

/* Creates the map name (when there is anything to put in it) and its
 * elements. *made tells whether it exists. Elements are cut into messages
 * by policy line (a rejected network names its line) except in the
 * destination maps zout*_<zone>: they repeat every zone's networks, which
 * zin* already attributes line by line, so they go NFT_ELEMS_PER_MSG to a
 * message (under the line of its first network) -- zones x networks
 * elements in zones x networks / 128 messages, not one per network. */
static int zone_map(struct cc *cc, const char *name, enum zkey k,
		    void (*vf)(struct cc *, size_t, size_t, struct verdict *),
		    size_t ctx, const struct pol_loc *loc, bool *made)
{
	struct ivec in, segs;
	struct setdef sd;
	int ret;

	*made = false;
	ret = zone_ivals(cc, k, vf, ctx, &in);
	if (ret == 0)
		ret = ival_flatten(&in, zkey_len(k), &segs);
	free(in.v);
	if (ret < 0)
		return ret;
	if (segs.n == 0) {
		free(segs.v);
		return 0;
	}
	memset(&sd, 0, sizeof(sd));
	sd.name = name;
	sd.flags = NFT_SET_MAP | NFT_SET_INTERVAL;
	sd.key_type = k == ZK_V4 ? DT_IPADDR :
		      k == ZK_V6 ? DT_IP6ADDR :
				   DT_IFNAME;
	sd.key_len = (uint32_t)zkey_len(k);
	sd.key_bo = k == ZK_IF ? BO_HOST : BO_BIG;
	sd.data_type = NFT_DATA_VERDICT;
	ret = add_set(cc, &sd, loc);
	if (ret == 0)
		ret = emit_ival_map(cc, name, &segs, zkey_len(k),
				    vf == vf_zone_out);
	free(segs.v);
	*made = ret == 0;
	return ret;
}

static void vf_zone_in(struct cc *cc, size_t ctx, size_t zi, struct verdict *v)
{
	(void)cc;
	(void)ctx;
	v->kind = V_ZONE;
	v->idx = zi;
}

/* From zone ctx to zone zi. */
static void vf_zone_out(struct cc *cc, size_t ctx, size_t zi, struct verdict *v)
{
	int ci = cc->pair[ctx * cc->p->n_zones + zi];

	v->idx = 0;
	if (zi == ctx) {
		v->kind = cc->p->zones[zi].intra_zone_allow ? V_ACCEPT :
							      V_DENY_NC;
	} else if (ci >= 0) {
		v->kind = V_CONDUIT;
		v->idx = (size_t)ci;
	} else {
		v->kind = V_DENY_NC;
	}
}

static void vf_input(struct cc *cc, size_t ctx, size_t zi, struct verdict *v)
{
	(void)ctx;
	v->idx = 0;
	v->kind = &cc->p->zones[zi] == cc->mgmt ? V_IN_MGMT : V_IN_DENY;
}

/* --- service maps (interval concatenations, pipapo) -------------------- */

/* dims: 0 source, 1 destination, 2 port (2 bytes) or icmp type (1 byte) */
struct box {
	uint8_t lo[3][16];
	uint8_t hi[3][16];
	uint8_t proto;
	uint32_t id;
	const struct pol_loc *loc;
};

struct bvec {
	struct box *v;
	size_t n;
	size_t cap;
	bool oom;
};

static void bvec_push(struct bvec *bv, const struct box *b)
{
	if (bv->oom)
		return;
	if (bv->n == bv->cap) {
		size_t ncap = bv->cap ? bv->cap * 2 : 16;
		struct box *nv = realloc(bv->v, ncap * sizeof(*nv));

		if (nv == NULL) {
			bv->oom = true;
			return;
		}
		bv->v = nv;
		bv->cap = ncap;
	}
	bv->v[bv->n++] = *b;
}

struct group {
	struct bvec elems; /* disjoint */
	size_t dlen[3];
	bool icmp;
	bool hashed; /* emitted as a hash map (group_hashable) */
	int family;
};

static bool box_meets(const struct group *g, const struct box *a,
		      const struct box *b)
{
	if (a->proto != b->proto)
		return false;
	for (int d = 0; d < 3; d++) {
		if (key_cmp(a->hi[d], b->lo[d], g->dlen[d]) < 0 ||
		    key_cmp(b->hi[d], a->lo[d], g->dlen[d]) < 0)
			return false;
	}
	return true;
}

/* a minus b (they meet) -> pieces appended to out */
static void box_subtract(const struct group *g, const struct box *a,
			 const struct box *b, struct bvec *out)
{
	struct box cur = *a;

	for (int d = 0; d < 3; d++) {
		size_t l = g->dlen[d];

		if (key_cmp(cur.lo[d], b->lo[d], l) < 0) {
			struct box piece = cur;

			memcpy(piece.hi[d], b->lo[d], 16);
			key_dec(piece.hi[d], l);
			bvec_push(out, &piece);
			memcpy(cur.lo[d], b->lo[d], 16);
		}
		if (key_cmp(cur.hi[d], b->hi[d], l) > 0) {
			struct box piece = cur;

			memcpy(piece.lo[d], b->hi[d], 16);
			key_inc(piece.lo[d], l);
			bvec_push(out, &piece);
			memcpy(cur.hi[d], b->hi[d], 16);
		}
	}
}

/*
 * Adds box e minus everything already in the group: elements of a pipapo
 * map must not overlap, so where two atoms overlap the one earlier in
 * canonical order keeps the overlap (a flow there is marked with it).
 */
static int group_add(struct group *g, const struct box *e)
{
	struct bvec pieces = { 0 }, next = { 0 };
	size_t existing = g->elems.n;
	int ret = 0;

	bvec_push(&pieces, e);
	for (size_t i = 0; i < existing && pieces.n; i++) {
		const struct box *r = &g->elems.v[i];

		next.n = 0;
		for (size_t j = 0; j < pieces.n; j++) {
			if (box_meets(g, &pieces.v[j], r))
				box_subtract(g, &pieces.v[j], r, &next);
			else
				bvec_push(&next, &pieces.v[j]);
		}
		{
			struct bvec t = pieces;

			pieces = next;
			next = t;
		}
		if (pieces.oom || next.oom)
			break;
	}
	for (size_t j = 0; j < pieces.n; j++)
		bvec_push(&g->elems, &pieces.v[j]);
	if (pieces.oom || next.oom || g->elems.oom)
		ret = -ENOMEM;
	else if (g->elems.n > NFT_MAX_GROUP_ELEMS)
		ret = -E2BIG;
	free(pieces.v);
	free(next.v);
	return ret;
}

static void group_init(struct group *g, int family, bool icmp)
{
	memset(g, 0, sizeof(*g));
	g->family = family;
	g->icmp = icmp;
	g->dlen[0] = g->dlen[1] = fam_alen(family);
	g->dlen[2] = icmp ? 1 : 2;
}

/* the boxes of one atom in one family */
static int group_add_atom(struct group *g, const struct nft_atom *a,
			  const struct hostlist *from,
			  const struct hostlist *to)
{
	const struct pol_service *s = a->svc;
	size_t nf = from->any ? 1 : from->n;
	size_t nt = to->any ? 1 : to->n;
	struct box b;

	memset(&b, 0, sizeof(b));
	b.proto = (uint8_t)s->proto;
	b.id = a->id;
	b.loc = &s->loc;
	if (g->icmp) {
		b.lo[2][0] = s->icmp_type < 0 ? 0 : (uint8_t)s->icmp_type;
		b.hi[2][0] = s->icmp_type < 0 ? 255 : (uint8_t)s->icmp_type;
	} else {
		uint16_t lo = 0, hi = 65535;

		if (a->port_index >= 0) {
			lo = s->ports[a->port_index].lo;
			hi = s->ports[a->port_index].hi;
		}
		b.lo[2][0] = (uint8_t)(lo >> 8);
		b.lo[2][1] = (uint8_t)lo;
		b.hi[2][0] = (uint8_t)(hi >> 8);
		b.hi[2][1] = (uint8_t)hi;
	}
	for (size_t i = 0; i < nf; i++) {
		if (!from->any && from->v[i]->family != g->family)
			continue;
		if (from->any) {
			memset(b.lo[0], 0, 16);
			memset(b.hi[0], 0, 16);
			memset(b.hi[0], 0xff, g->dlen[0]);
		} else {
			prefix_range(from->v[i], b.lo[0], b.hi[0]);
		}
		for (size_t j = 0; j < nt; j++) {
			int ret;

			if (!to->any && to->v[j]->family != g->family)
				continue;
			if (to->any) {
				memset(b.lo[1], 0, 16);
				memset(b.hi[1], 0, 16);
				memset(b.hi[1], 0xff, g->dlen[1]);
			} else {
				prefix_range(to->v[j], b.lo[1], b.hi[1]);
			}
			ret = group_add(g, &b);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

/* A group that needs no interval: every element any source, any
 * destination and a single port (or ICMP type). Its map is a hash keyed on
 * the port (or type) alone. */
static bool group_hashable(const struct group *g)
{
	for (size_t i = 0; i < g->elems.n; i++) {
		const struct box *b = &g->elems.v[i];

		for (int d = 0; d < 2; d++) {
			if (!key_is_zero(b->lo[d], g->dlen[d]) ||
			    !key_is_max(b->hi[d], g->dlen[d]))
				return false;
		}
		if (key_cmp(b->lo[2], b->hi[2], g->dlen[2]) != 0)
			return false;
	}
	return g->elems.n > 0;
}

/* the IPv4 and IPv6 groups hold the same (proto, port) -> id elements */
static bool groups_same_l4(const struct group *a, const struct group *b)
{
	if (a->elems.n != b->elems.n)
		return false;
	for (size_t i = 0; i < a->elems.n; i++) {
		const struct box *x = &a->elems.v[i], *y = &b->elems.v[i];

		if (x->proto != y->proto || x->id != y->id ||
		    memcmp(x->lo[2], y->lo[2], 2) != 0)
			return false;
	}
	return true;
}

/* key layout: src . dst . [proto pad3] . port pad2 | src . dst . type pad3;
 * hashed groups: [proto pad3] . port pad2 | type pad3 */
static size_t group_key(const struct group *g, const struct box *b, bool hi,
			uint8_t *k)
{
	size_t al = g->dlen[0];
	size_t off = 0;

	memset(k, 0, 64);
	if (g->hashed) {
		if (!g->icmp) {
			k[0] = b->proto;
			memcpy(k + 4, b->lo[2], 2);
			return 8;
		}
		k[0] = b->lo[2][0];
		return 4;
	}
	memcpy(k + off, hi ? b->hi[0] : b->lo[0], al);
	off += al;
	memcpy(k + off, hi ? b->hi[1] : b->lo[1], al);
	off += al;
	if (!g->icmp) {
		k[off] = b->proto;
		off += 4;
		memcpy(k + off, hi ? b->hi[2] : b->lo[2], 2);
		off += 4;
	} else {
		k[off] = hi ? b->hi[2][0] : b->lo[2][0];
		off += 4;
	}
	return off;
}

static int emit_group(struct cc *cc, const char *name, const struct group *g,
		      const struct pol_loc *loc)
{
	static const uint8_t f4[] = { 4, 4, 1, 2 }, f6[] = { 16, 16, 1, 2 };
	static const uint8_t fi4[] = { 4, 4, 1 }, fi6[] = { 16, 16, 1 };
	bool v4 = g->family == AF_INET;
	struct setdef sd;
	struct eb eb;
	uint8_t key[64];
	int ret;

	memset(&sd, 0, sizeof(sd));
	sd.name = name;
	sd.flags = NFT_SET_MAP | NFT_SET_INTERVAL | NFT_SET_CONCAT;
	sd.key_bo = BO_INVALID;
	sd.data_type = DT_MARK;
	if (g->hashed && !g->icmp) {
		/* meta l4proto . th dport: both families, no interval; no
		 * field description either (the kernel wants one only with
		 * NFT_SET_CONCAT, which would select pipapo) */
		sd.flags = NFT_SET_MAP;
		sd.key_type = DT_CONCAT(DT_INET_PROTO, DT_INET_SERVICE);
	} else if (g->hashed) {
		sd.flags = NFT_SET_MAP;
		sd.key_type = v4 ? DT_ICMP_TYPE : DT_ICMP6_TYPE;
		sd.key_bo = BO_BIG;
	} else if (!g->icmp) {
		uint32_t a = v4 ? DT_IPADDR : DT_IP6ADDR;

		sd.key_type =
			DT_CONCAT(DT_CONCAT(DT_CONCAT(a, a), DT_INET_PROTO),
				  DT_INET_SERVICE);
		sd.fields = v4 ? f4 : f6;
		sd.n_fields = 4;
	} else {
		uint32_t a = v4 ? DT_IPADDR : DT_IP6ADDR;

		sd.key_type = DT_CONCAT(DT_CONCAT(a, a),
					v4 ? DT_ICMP_TYPE : DT_ICMP6_TYPE);
		sd.fields = v4 ? fi4 : fi6;
		sd.n_fields = 3;
	}
	sd.key_len = (uint32_t)group_key(g, &g->elems.v[0], false, key);
	if (g->hashed && g->icmp)
		sd.key_len = 1;
	ret = add_set(cc, &sd, loc);
	if (ret < 0)
		return ret;
	eb_init(&eb, cc, name);
	for (size_t i = 0; i < g->elems.n; i++) {
		const struct box *b = &g->elems.v[i];
		struct nftnl_set_elem *e = nftnl_set_elem_alloc();
		size_t kl;

		if (e) {
			uint32_t id = b->id;

			kl = group_key(g, b, false, key);
			nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key,
					   g->hashed && g->icmp ? 1 :
								  (uint32_t)kl);
			if (!g->hashed) {
				kl = group_key(g, b, true, key);
				nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY_END,
						   key, (uint32_t)kl);
			}
			nftnl_set_elem_set(e, NFTNL_SET_ELEM_DATA, &id,
					   sizeof(id));
		}
		eb_add(&eb, e, b->loc);
	}
	eb_flush(&eb);
	return eb.err;
}

/* set names: svc4_<c>, svc6_<c>, icmp4_<c>, icmp6_<c> for the unrated
 * services; rsvc4_<n>_<c>... for rated entry n (1-based); the digits
 * before the second '_' keep the names of two conduits apart. */
static void group_name(char *buf, size_t len, int bit, size_t rated_n,
		       const struct pol_conduit *c)
{
	const char *k = bit == GRP_L4V4 ? "svc4" :
			bit == GRP_L4V6 ? "svc6" :
			bit == GRP_IC4	? "icmp4" :
			bit == GRP_IC6	? "icmp6" :
					  "svc";

	if (rated_n)
		snprintf(buf, len, "r%s_%zu_%s", k, rated_n, c->name);
	else
		snprintf(buf, len, "%s_%s", k, c->name);
}

static int cmp_atom_conduit(const void *a, const void *b)
{
	const struct nft_atom *x = *(const struct nft_atom *const *)a;
	const struct nft_atom *y = *(const struct nft_atom *const *)b;

	if (x->conduit->id != y->conduit->id)
		return x->conduit->id < y->conduit->id ? -1 : 1;
	return atom_order(x, y);
}

/* Whether a atom is the first of its text among the conduit's atoms in
 * the position the maps (and the inline rules) use it: unrated atoms are
 * deduplicated over the conduit, rated ones within their entry. */
static bool atom_first(const struct nft_atom **at, size_t i)
{
	if (i == 0 || strcmp(at[i - 1]->text, at[i]->text) != 0)
		return true;
	return at[i]->svc->has_rate && at[i - 1]->svc != at[i]->svc;
}

/* Which families a service's rules cover: 0 both at once (no host in
 * either list, not ICMP), else AF_INET / AF_INET6 bits (1 and 2). */
static unsigned svc_families(const struct pol_service *s,
			     const struct hostlist *from,
			     const struct hostlist *to)
{
	unsigned f = 0;

	if (s->proto == POL_PROTO_ICMP)
		return hostlist_has(from, AF_INET) &&
				       hostlist_has(to, AF_INET) ?
			       1 :
			       4; /* 4: nothing */
	if (s->proto == POL_PROTO_ICMPV6)
		return hostlist_has(from, AF_INET6) &&
				       hostlist_has(to, AF_INET6) ?
			       2 :
			       4;
	if (from->any && to->any)
		return 0;
	if (hostlist_has(from, AF_INET) && hostlist_has(to, AF_INET))
		f |= 1;
	if (hostlist_has(from, AF_INET6) && hostlist_has(to, AF_INET6))
		f |= 2;
	return f ? f : 4;
}

static size_t hosts_in(const struct hostlist *h, int family)
{
	size_t n = 0;

	if (h->any)
		return 1;
	for (size_t i = 0; i < h->n; i++)
		n += h->v[i]->family == family;
	return n;
}

/* Number of plain rules the atom takes inline: one per (source prefix,
 * destination prefix) pair of each family it covers; one in all when it
 * has no host restriction (meta l4proto + th dport serve both families). */
static size_t atom_inline_rules(const struct pol_service *s,
				const struct hostlist *from,
				const struct hostlist *to)
{
	unsigned f = svc_families(s, from, to);
	size_t n = 0;

	if (f == 0)
		return 1;
	if (f & 1)
		n += hosts_in(from, AF_INET) * hosts_in(to, AF_INET);
	if (f & 2)
		n += hosts_in(from, AF_INET6) * hosts_in(to, AF_INET6);
	return n;
}

/* Services of a conduit with at most NFT_INLINE_RULES rules go inline. */
static int conduit_inline_rules(const struct nft_atom **at, size_t n_at,
				size_t *out)
{
	size_t n = 0;

	for (size_t i = 0; i < n_at; i++) {
		const struct pol_service *s = at[i]->svc;
		struct hostlist from, to;

		if (!atom_first(at, i))
			continue;
		if (hostlist_build(s->from_hosts, s->n_from_hosts, &from) < 0)
			return -ENOMEM;
		if (hostlist_build(s->to_hosts, s->n_to_hosts, &to) < 0) {
			free(from.v);
			return -ENOMEM;
		}
		n += atom_inline_rules(s, &from, &to);
		free(from.v);
		free(to.v);
		if (n > NFT_INLINE_RULES)
			break;
	}
	*out = n;
	return 0;
}

/* The maps of one conduit; records in cc->plan what exists. */
static int conduit_maps(struct cc *cc, size_t ci, const struct nft_atom **at,
			size_t n_at)
{
	const struct pol_conduit *c = &cc->p->conduits[ci];
	struct cplan *pl = &cc->plan[ci];
	/* groups: [0..3] unrated by GRP bit index; rated ones built one
	 * entry at a time */
	struct group main[4];
	int ret = 0;
	char name[NAME_BUF];
	size_t n_inline;

	pl->at = at;
	pl->n_at = n_at;
	ret = conduit_inline_rules(at, n_at, &n_inline);
	if (ret < 0)
		return ret;
	if (n_inline <= NFT_INLINE_RULES) {
		pl->inl = true;
		return 0;
	}
	group_init(&main[0], AF_INET, false);
	group_init(&main[1], AF_INET6, false);
	group_init(&main[2], AF_INET, true);
	group_init(&main[3], AF_INET6, true);
	for (size_t i = 0; i < n_at && ret == 0; i++) {
		const struct nft_atom *a = at[i];
		const struct pol_service *s = a->svc;
		struct hostlist from, to;

		if (s->has_rate || atom_inspected(cc, a))
			continue;
		if (i > 0 && strcmp(at[i - 1]->text, a->text) == 0)
			continue;
		ret = hostlist_build(s->from_hosts, s->n_from_hosts, &from);
		if (ret < 0)
			break;
		ret = hostlist_build(s->to_hosts, s->n_to_hosts, &to);
		if (ret < 0) {
			free(from.v);
			break;
		}
		for (int f = 0; f < 2 && ret == 0; f++) {
			int fam = f == 0 ? AF_INET : AF_INET6;
			int gi = (is_icmp(s->proto) ? 2 : 0) + f;

			if (s->proto == POL_PROTO_ICMP && fam != AF_INET)
				continue;
			if (s->proto == POL_PROTO_ICMPV6 && fam != AF_INET6)
				continue;
			if (!hostlist_has(&from, fam) ||
			    !hostlist_has(&to, fam))
				continue;
			ret = group_add_atom(&main[gi], a, &from, &to);
		}
		free(from.v);
		free(to.v);
	}
	/* no host restriction and single ports only: one hash map for both
	 * families (meta l4proto . th dport); ICMP by type alone likewise */
	if (ret == 0 && group_hashable(&main[0]) && group_hashable(&main[1]) &&
	    groups_same_l4(&main[0], &main[1])) {
		main[0].hashed = true;
		group_name(name, sizeof(name), GRP_L4, 0, c);
		ret = emit_group(cc, name, &main[0], &c->loc);
		if (ret == 0) {
			pl->main_mask |= GRP_L4;
			pl->hash_mask |= GRP_L4;
		}
		main[0].elems.n = 0;
		main[1].elems.n = 0;
	}
	for (int gi = 2; gi < 4; gi++)
		main[gi].hashed = group_hashable(&main[gi]);
	for (int gi = 0; gi < 4 && ret == 0; gi++) {
		if (main[gi].elems.n == 0)
			continue;
		group_name(name, sizeof(name), 1 << gi, 0, c);
		ret = emit_group(cc, name, &main[gi], &c->loc);
		if (ret == 0) {
			pl->main_mask |= (uint8_t)(1 << gi);
			if (main[gi].hashed)
				pl->hash_mask |= (uint8_t)(1 << gi);
		}
	}
	for (int gi = 0; gi < 4; gi++)
		free(main[gi].elems.v);
	if (ret == -E2BIG)
		goto too_big;
	if (ret < 0)
		return ret;

	/* rated entries: one set of maps each, so each gets its own limit */
	for (size_t si = 0; si < c->n_allow && ret == 0; si++) {
		const struct pol_service *s = &c->allow[si];
		struct hostlist from, to;
		struct group g[2];

		if (!s->has_rate)
			continue;
		ret = hostlist_build(s->from_hosts, s->n_from_hosts, &from);
		if (ret < 0)
			break;
		ret = hostlist_build(s->to_hosts, s->n_to_hosts, &to);
		if (ret < 0) {
			free(from.v);
			break;
		}
		group_init(&g[0], AF_INET, is_icmp(s->proto));
		group_init(&g[1], AF_INET6, is_icmp(s->proto));
		for (size_t i = 0; i < n_at && ret == 0; i++) {
			const struct nft_atom *a = at[i];

			if (a->svc != s || atom_inspected(cc, a))
				continue;
			if (i > 0 && strcmp(at[i - 1]->text, a->text) == 0 &&
			    at[i - 1]->svc == s)
				continue;
			for (int f = 0; f < 2 && ret == 0; f++) {
				int fam = f == 0 ? AF_INET : AF_INET6;

				if (s->proto == POL_PROTO_ICMP && f != 0)
					continue;
				if (s->proto == POL_PROTO_ICMPV6 && f != 1)
					continue;
				if (!hostlist_has(&from, fam) ||
				    !hostlist_has(&to, fam))
					continue;
				ret = group_add_atom(&g[f], a, &from, &to);
			}
		}
		for (int f = 0; f < 2 && ret == 0; f++) {
			int bit = (is_icmp(s->proto) ? GRP_IC4 : GRP_L4V4) << f;

			if (g[f].elems.n == 0)
				continue;
			group_name(name, sizeof(name), bit, si + 1, c);
			ret = emit_group(cc, name, &g[f], &s->loc);
			if (ret == 0)
				pl->svc_mask[si] |= (uint8_t)bit;
		}
		free(g[0].elems.v);
		free(g[1].elems.v);
		free(from.v);
		free(to.v);
	}
	if (ret != -E2BIG)
		return ret;
too_big:
	diag_add(cc->d, cc->p->file, c->loc.line, c->loc.col,
		 "conduit %s: overlapping services split into more than %d "
		 "map elements",
		 c->name, NFT_MAX_GROUP_ELEMS);
	return -EINVAL;
}

/* --- rules ------------------------------------------------------------ */

/* register of a concatenation field at byte offset off (nft's choice:
 * 128-bit registers for 16-byte fields on a boundary, else 32-bit ones) */
static uint32_t concat_reg(size_t off, size_t len)
{
	if (off == 0)
		return NFT_REG_1;
	if (len == 16 && off % 16 == 0)
		return NFT_REG_1 + (uint32_t)(off / 16);
	return NFT_REG32_00 + (uint32_t)(off / 4);
}

/* the lookup key of a service group into the registers */
static void m_svc_key(struct rb *rb, int bit, bool hashed)
{
	bool v4 = bit == GRP_L4V4 || bit == GRP_IC4;
	bool icmp = bit == GRP_IC4 || bit == GRP_IC6;
	uint32_t al = v4 ? 4 : 16;
	uint32_t soff = v4 ? 12 : 8, doff = v4 ? 16 : 24;

	if (bit == GRP_L4) {
		/* meta l4proto . th dport, any family */
		e_meta(rb, NFT_META_L4PROTO, concat_reg(0, 1));
		e_payload(rb, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2,
			  concat_reg(4, 2));
		return;
	}
	if (hashed && icmp) {
		/* meta nfproto . meta l4proto, then the type alone */
		m_nfproto(rb, v4 ? NFPROTO_IPV4 : NFPROTO_IPV6);
		m_l4proto(rb, v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6);
		e_payload(rb, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1, NFT_REG_1);
		return;
	}
	m_nfproto(rb, v4 ? NFPROTO_IPV4 : NFPROTO_IPV6);
	if (icmp)
		m_l4proto(rb, v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6);
	e_payload(rb, NFT_PAYLOAD_NETWORK_HEADER, soff, al, concat_reg(0, al));
	e_payload(rb, NFT_PAYLOAD_NETWORK_HEADER, doff, al, concat_reg(al, al));
	if (icmp) {
		e_payload(rb, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1,
			  concat_reg(2 * al, 1));
	} else {
		e_meta(rb, NFT_META_L4PROTO, concat_reg(2 * al, 1));
		e_payload(rb, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2,
			  concat_reg(2 * al + 4, 2));
	}
}

/* <sel> <prefix>: payload at off, masked unless a host address */
static void m_prefix(struct rb *rb, const struct pol_prefix *px, uint32_t off)
{
	uint32_t al = (uint32_t)fam_alen(px->family);
	uint8_t lo[16], hi[16], mask[16];

	prefix_range(px, lo, hi);
	e_payload(rb, NFT_PAYLOAD_NETWORK_HEADER, off, al, NFT_REG_1);
	if (px->len < al * 8) {
		for (uint32_t i = 0; i < al; i++)
			mask[i] = (uint8_t) ~(lo[i] ^ hi[i]);
		e_mask(rb, mask, al);
	}
	e_cmp(rb, NFT_REG_1, NFT_CMP_EQ, lo, al);
}

/* One inline service rule: [meta nfproto F] [saddr] [daddr] meta l4proto
 * P [th dport | icmp type] ct mark set <id> [limit name] counter name
 * accept|goto l_<c>. from/to NULL = any. */
static int inline_rule(struct cc *cc, const struct nft_atom *a, int family,
		       const struct pol_prefix *from,
		       const struct pol_prefix *to, const char *chain,
		       const char *acc, const char *lchain)
{
	const struct pol_conduit *c = a->conduit;
	const struct pol_service *s = a->svc;
	bool v4 = family == AF_INET;
	char lim[NAME_BUF];
	struct rb rb;

	rb_init(&rb, chain);
	if (family) {
		m_nfproto(&rb, v4 ? NFPROTO_IPV4 : NFPROTO_IPV6);
		if (from)
			m_prefix(&rb, from, v4 ? 12 : 8);
		if (to)
			m_prefix(&rb, to, v4 ? 16 : 24);
	}
	m_l4proto(&rb, (uint8_t)s->proto);
	if (is_icmp(s->proto)) {
		if (s->icmp_type >= 0) {
			e_payload(&rb, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1,
				  NFT_REG_1);
			e_cmp_u8(&rb, NFT_CMP_EQ, (uint8_t)s->icmp_type);
		}
	} else if (a->port_index >= 0) {
		const struct pol_port_range *pr = &s->ports[a->port_index];
		uint16_t lo = htons(pr->lo), hi = htons(pr->hi);

		e_payload(&rb, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG_1);
		if (pr->lo == pr->hi)
			e_cmp(&rb, NFT_REG_1, NFT_CMP_EQ, &lo, sizeof(lo));
		else
			e_range(&rb, &lo, &hi, sizeof(lo));
	}
	e_imm_u32(&rb, NFT_REG_1, atom_mark(cc, a));
	e_ct_set(&rb, NFT_CT_MARK, NFT_REG_1);
	if (s->has_rate) {
		snprintf(lim, sizeof(lim), "rl_%zu_%s", a->svc_index + 1,
			 c->name);
		e_objref(&rb, NFT_OBJECT_LIMIT, lim);
	}
	e_objref(&rb, NFT_OBJECT_COUNTER, acc);
	if (atom_inspected(cc, a))
		e_queue(cc, &rb, c->fail_open); /* the workers decide, log */
	else if (c->log)
		e_verdict(&rb, NFT_GOTO, lchain);
	else
		e_verdict(&rb, NF_ACCEPT, NULL);
	return rb_commit(cc, &rb, &s->loc, "service %s of %s (inline)", a->text,
			 c->name);
}

static int inline_atom(struct cc *cc, const struct nft_atom *a,
		       const char *chain, const char *acc, const char *lchain)
{
	const struct pol_service *s = a->svc;
	struct hostlist from, to;
	unsigned fams;
	int ret = 0;

	if (hostlist_build(s->from_hosts, s->n_from_hosts, &from) < 0)
		return -ENOMEM;
	if (hostlist_build(s->to_hosts, s->n_to_hosts, &to) < 0) {
		free(from.v);
		return -ENOMEM;
	}
	fams = svc_families(s, &from, &to);
	if (fams == 0)
		ret = inline_rule(cc, a, 0, NULL, NULL, chain, acc, lchain);
	for (int f = 0; f < 2 && ret == 0 && fams != 0; f++) {
		int fam = f == 0 ? AF_INET : AF_INET6;
		size_t nf = from.any ? 1 : from.n, nt = to.any ? 1 : to.n;

		if (!(fams & (1u << f)))
			continue;
		for (size_t i = 0; i < nf && ret == 0; i++) {
			const struct pol_prefix *fp = from.any ? NULL :
								 from.v[i];

			if (fp && fp->family != fam)
				continue;
			for (size_t j = 0; j < nt && ret == 0; j++) {
				const struct pol_prefix *tp = to.any ? NULL :
								       to.v[j];

				if (tp && tp->family != fam)
					continue;
				ret = inline_rule(cc, a, fam, fp, tp, chain,
						  acc, lchain);
			}
		}
	}
	free(from.v);
	free(to.v);
	return ret;
}

/* Services as plain rules, in the order the maps would give precedence:
 * unrated atoms in canonical order (the first matching rule wins, as the
 * atom first in canonical order keeps an overlap), then each rated entry
 * in policy order. */
static int conduit_inline(struct cc *cc, size_t ci, const char *chain,
			  const char *acc, const char *lchain)
{
	const struct pol_conduit *c = &cc->p->conduits[ci];
	const struct cplan *pl = &cc->plan[ci];
	int ret = 0;

	for (size_t i = 0; i < pl->n_at && ret == 0; i++) {
		if (pl->at[i]->svc->has_rate || !atom_first(pl->at, i) ||
		    atom_inspected(cc, pl->at[i]))
			continue;
		ret = inline_atom(cc, pl->at[i], chain, acc, lchain);
	}
	for (size_t si = 0; si < c->n_allow && ret == 0; si++) {
		if (!c->allow[si].has_rate)
			continue;
		for (size_t i = 0; i < pl->n_at && ret == 0; i++) {
			if (pl->at[i]->svc != &c->allow[si] ||
			    !atom_first(pl->at, i) ||
			    atom_inspected(cc, pl->at[i]))
				continue;
			ret = inline_atom(cc, pl->at[i], chain, acc, lchain);
		}
	}
	return ret;
}

static int conduit_rules(struct cc *cc, size_t ci)
{
	const struct pol_conduit *c = &cc->p->conduits[ci];
	const struct cplan *pl = &cc->plan[ci];
	char chain[NAME_BUF], set[NAME_BUF], acc[NAME_BUF], lchain[NAME_BUF];
	char buf[NAME_BUF];
	struct rb rb;
	int ret = 0;

	conduit_chain(c, chain, sizeof(chain));
	snprintf(acc, sizeof(acc), "c_%s_acc", c->name);
	snprintf(lchain, sizeof(lchain), "l_%s", c->name);
	/* inspected entries: always plain rules, first (a stricter entry
	 * wins an overlap), each ending in the queue */
	for (size_t i = 0; i < pl->n_at && ret == 0; i++)
		if (atom_inspected(cc, pl->at[i]) && atom_first(pl->at, i))
			ret = inline_atom(cc, pl->at[i], chain, acc, lchain);
	if (ret == 0 && pl->inl)
		ret = conduit_inline(cc, ci, chain, acc, lchain);
	for (int gi = 0; gi < 5 && ret == 0; gi++) {
		int bit = 1 << gi;

		if (!(pl->main_mask & bit))
			continue;
		group_name(set, sizeof(set), bit, 0, c);
		rb_init(&rb, chain);
		m_svc_key(&rb, bit, (pl->hash_mask & bit) != 0);
		e_lookup(&rb, NFT_REG_1, set, NFT_REG_1);
		e_ct_set(&rb, NFT_CT_MARK, NFT_REG_1);
		e_objref(&rb, NFT_OBJECT_COUNTER, acc);
		if (c->log)
			e_verdict(&rb, NFT_GOTO, lchain);
		else
			e_verdict(&rb, NF_ACCEPT, NULL);
		ret = rb_commit(cc, &rb, &c->loc, "services of %s (map %s)",
				c->name, set);
	}
	for (size_t si = 0; si < c->n_allow && ret == 0; si++) {
		const struct pol_service *s = &c->allow[si];
		char lim[NAME_BUF];

		if (!pl->svc_mask[si])
			continue;
		snprintf(lim, sizeof(lim), "rl_%zu_%s", si + 1, c->name);
		for (int gi = 0; gi < 4 && ret == 0; gi++) {
			int bit = 1 << gi;

			if (!(pl->svc_mask[si] & bit))
				continue;
			group_name(set, sizeof(set), bit, si + 1, c);
			rb_init(&rb, chain);
			m_svc_key(&rb, bit, false);
			e_lookup(&rb, NFT_REG_1, set, NFT_REG_1);
			e_ct_set(&rb, NFT_CT_MARK, NFT_REG_1);
			e_objref(&rb, NFT_OBJECT_LIMIT, lim);
			e_objref(&rb, NFT_OBJECT_COUNTER, acc);
			if (c->log)
				e_verdict(&rb, NFT_GOTO, lchain);
			else
				e_verdict(&rb, NF_ACCEPT, NULL);
			ret = rb_commit(cc, &rb, &s->loc,
					"rated service of %s (map %s)", c->name,
					set);
		}
	}
	if (ret)
		return ret;
	/* end of the conduit: count, log (rate-limited), drop */
	snprintf(buf, sizeof(buf), "c_%s_deny", c->name);
	rb_init(&rb, chain);
	e_objref(&rb, NFT_OBJECT_COUNTER, buf);
	if (cc->o->log_rate) {
		char prefix[NAME_BUF];

		snprintf(prefix, sizeof(prefix), "cd:deny:conduit:%s", c->name);
		m_log(cc, &rb, prefix);
	}
	ret = rb_commit(cc, &rb, &c->loc, "deny of %s", c->name);
	if (ret)
		return ret;
	rb_init(&rb, chain);
	e_verdict(&rb, NF_DROP, NULL);
	ret = rb_commit(cc, &rb, &c->loc, "drop of %s", c->name);
	if (ret || !c->log)
		return ret;
	/* l_<conduit>: log accepted new flows, then accept (the limit only
	 * throttles the log, never the accept) */
	if (cc->o->log_rate) {
		char prefix[NAME_BUF];

		snprintf(prefix, sizeof(prefix), "cd:accept:%s", c->name);
		rb_init(&rb, lchain);
		m_log(cc, &rb, prefix);
		ret = rb_commit(cc, &rb, &c->loc, "accept log of %s", c->name);
		if (ret)
			return ret;
	}
	rb_init(&rb, lchain);
	e_verdict(&rb, NF_ACCEPT, NULL);
	return rb_commit(cc, &rb, &c->loc, "accept of %s", c->name);
}

/* "<limit> log <prefix>" then "drop" */
static int log_drop(struct cc *cc, const char *chain, const char *prefix,
		    const struct pol_loc *loc)
{
	struct rb rb;
	int ret;

	if (cc->o->log_rate) {
		rb_init(&rb, chain);
		m_log(cc, &rb, prefix);
		ret = rb_commit(cc, &rb, loc, "log %s", prefix);
		if (ret)
			return ret;
	}
	rb_init(&rb, chain);
	e_verdict(&rb, NF_DROP, NULL);
	return rb_commit(cc, &rb, loc, "drop");
}

/* <selector> vmap @set */
static int vmap_rule(struct cc *cc, const char *chain, enum zkey k, bool src,
		     const char *set, const struct pol_loc *loc)
{
	struct rb rb;

	rb_init(&rb, chain);
	if (k == ZK_IF) {
		e_meta(&rb, src ? NFT_META_IIFNAME : NFT_META_OIFNAME,
		       NFT_REG_1);
	} else {
		bool v4 = k == ZK_V4;

		m_nfproto(&rb, v4 ? NFPROTO_IPV4 : NFPROTO_IPV6);
		e_payload(&rb, NFT_PAYLOAD_NETWORK_HEADER,
			  v4 ? (src ? 12 : 16) : (src ? 8 : 24), v4 ? 4 : 16,
			  NFT_REG_1);
	}
	e_lookup(&rb, NFT_REG_1, set, NFT_REG_VERDICT);
	return rb_commit(cc, &rb, loc, "zone dispatch %s", set);
}

static int goto_rule(struct cc *cc, const char *chain, const char *target)
{
	struct rb rb;

	rb_init(&rb, chain);
	e_verdict(&rb, NFT_GOTO, target);
	return rb_commit(cc, &rb, NULL, "goto %s", target);
}

/* classification of input by the management zone */
static int input_chain(struct cc *cc)
{
	const uint32_t lo_idx = 1; /* LOOPBACK_IFINDEX, in every netns */
	const struct pol_loc *mloc = cc->mgmt ? &cc->mgmt->loc : NULL;
	struct rb rb;
	int ret;
	bool made[3] = { false, false, false };
	static const char *const names[3] = { "in4", "in6", "inif" };

	for (int k = 0; k < 3 && cc->mgmt; k++) {
		ret = zone_map(cc, names[k], (enum zkey)k, vf_input, 0, mloc,
			       &made[k]);
		if (ret)
			return ret;
	}
	/* iif lo accept */
	rb_init(&rb, "input");
	e_meta(&rb, NFT_META_IIF, NFT_REG_1);
	e_cmp(&rb, NFT_REG_1, NFT_CMP_EQ, &lo_idx, sizeof(lo_idx));
	e_verdict(&rb, NF_ACCEPT, NULL);
	if ((ret = rb_commit(cc, &rb, NULL, "loopback")))
		return ret;
	rb_init(&rb, "input");
	m_ct_state(&rb, CT_STATE_EST_REL);
	e_verdict(&rb, NF_ACCEPT, NULL);
	if ((ret = rb_commit(cc, &rb, NULL, "established")))
		return ret;
	rb_init(&rb, "input");
	m_ct_state(&rb, CT_STATE_INVALID);
	e_verdict(&rb, NF_DROP, NULL);
	if ((ret = rb_commit(cc, &rb, NULL, "invalid")))
		return ret;
	/* IPv6 neighbour discovery 133..136 (router/neighbour sol/adv) */
	rb_init(&rb, "input");
	m_nfproto(&rb, NFPROTO_IPV6);
	m_l4proto(&rb, IPPROTO_ICMPV6);
	e_payload(&rb, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1, NFT_REG_1);
	e_cmp_u8(&rb, NFT_CMP_GTE, 133);
	e_cmp_u8(&rb, NFT_CMP_LTE, 136);
	e_verdict(&rb, NF_ACCEPT, NULL);
	if ((ret = rb_commit(cc, &rb, NULL, "neighbour discovery")))
		return ret;
	for (int k = 0; k < 3; k++) {
		if (!made[k])
			continue;
		ret = vmap_rule(cc, "input", (enum zkey)k, true, names[k],
				mloc);
		if (ret)
			return ret;
	}
	if ((ret = goto_rule(cc, "input", "in_deny")))
		return ret;
	if (cc->mgmt) {
		if (cc->o->mgmt_port) {
			uint16_t port = htons(cc->o->mgmt_port);

			rb_init(&rb, "in_mgmt");
			m_l4proto(&rb, IPPROTO_TCP);
			e_payload(&rb, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2,
				  NFT_REG_1);
			e_cmp(&rb, NFT_REG_1, NFT_CMP_EQ, &port, sizeof(port));
			e_verdict(&rb, NF_ACCEPT, NULL);
			if ((ret = rb_commit(cc, &rb, mloc, "management port")))
				return ret;
		}
		rb_init(&rb, "in_mgmt");
		m_nfproto(&rb, NFPROTO_IPV4);
		m_l4proto(&rb, IPPROTO_ICMP);
		e_payload(&rb, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1, NFT_REG_1);
		e_cmp_u8(&rb, NFT_CMP_EQ, 8); /* echo-request */
		e_verdict(&rb, NF_ACCEPT, NULL);
		if ((ret = rb_commit(cc, &rb, mloc, "management ping")))
			return ret;
		rb_init(&rb, "in_mgmt");
		m_nfproto(&rb, NFPROTO_IPV6);
		m_l4proto(&rb, IPPROTO_ICMPV6);
		e_payload(&rb, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1, NFT_REG_1);
		e_cmp_u8(&rb, NFT_CMP_EQ, 128); /* echo-request */
		e_verdict(&rb, NF_ACCEPT, NULL);
		if ((ret = rb_commit(cc, &rb, mloc, "management ping6")))
			return ret;
		if ((ret = goto_rule(cc, "in_mgmt", "in_deny")))
			return ret;
	}
	return log_drop(cc, "in_deny", "cd:deny:input", NULL);
}

static int forward_policy(struct cc *cc)
{
	const struct pol_policy *p = cc->p;
	static const char *const zin[3] = { "zin4", "zin6", "zinif" };
	bool made[3];
	bool live = false;
	struct rb rb;
	int ret;
	char name[NAME_BUF], chain[NAME_BUF];

	/* @live: every atom id -> its conduit's accept counter */
	if (cc->atoms.n) {
		struct setdef sd;
		struct eb eb;

		memset(&sd, 0, sizeof(sd));
		sd.name = "live";
		sd.flags = NFT_SET_OBJECT;
		sd.key_type = DT_MARK;
		sd.key_len = sizeof(uint32_t);
		sd.key_bo = BO_HOST;
		sd.obj_type = NFT_OBJECT_COUNTER;
		if ((ret = add_set(cc, &sd, NULL)))
			return ret;
		eb_init(&eb, cc, "live");
		/* one element per atom: cut by count, not by line (a
		 * message per atom would be 100 000 messages at 100 000
		 * conduits, each one more by-name set lookup) */
		eb.by_count = true;
		for (size_t i = 0; i < cc->atoms.n; i++) {
			const struct nft_atom *a = &cc->atoms.v[i];
			struct nftnl_set_elem *e;

			if (i > 0 && a->id == cc->atoms.v[i - 1].id)
				continue;
			e = nftnl_set_elem_alloc();
			if (e) {
				uint32_t id = atom_mark(cc, a);

				snprintf(name, sizeof(name), "c_%s_acc",
					 a->conduit->name);
				nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, &id,
						   sizeof(id));
				nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_OBJREF,
						       name);
			}
			eb_add(&eb, e, &a->svc->loc);
			if (!atom_inspected(cc, a))
				continue;
			/* its flows once a worker handed them back */
			e = nftnl_set_elem_alloc();
			if (e) {
				uint32_t id = a->id | NFT_MARK_HANDBACK;

				nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, &id,
						   sizeof(id));
				nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_OBJREF,
						       name);
			}
			eb_add(&eb, e, &a->svc->loc);
		}
		eb_flush(&eb);
		if (eb.err)
			return eb.err;
		live = true;
	}
	for (int k = 0; k < 3; k++) {
		ret = zone_map(cc, zin[k], (enum zkey)k, vf_zone_in, 0, NULL,
			       &made[k]);
		if (ret)
			return ret;
	}
	for (size_t zi = 0; zi < p->n_zones; zi++) {
		const struct pol_zone *z = &p->zones[zi];
		bool zm[3];

		zone_chain(z, chain, sizeof(chain));
		for (int k = 0; k < 3; k++) {
			snprintf(name, sizeof(name), "zout%s_%s",
				 zkey_suffix((enum zkey)k), z->name);
			ret = zone_map(cc, name, (enum zkey)k, vf_zone_out, zi,
				       &z->loc, &zm[k]);
			if (ret)
				return ret;
		}
		for (int k = 0; k < 3; k++) {
			if (!zm[k])
				continue;
			snprintf(name, sizeof(name), "zout%s_%s",
				 zkey_suffix((enum zkey)k), z->name);
			ret = vmap_rule(cc, chain, (enum zkey)k, false, name,
					&z->loc);
			if (ret)
				return ret;
		}
		if ((ret = goto_rule(cc, chain, "deny_nc")))
			return ret;
	}

	/* forward */
	/* inspected flows, still live: every packet to the workers; first
	 * those of fail-open conduits (bypass), then the rest (no bypass).
	 * Each rule only when such atoms exist: every established packet
	 * passes these rules before the fast path. */
	bool queued[2] = { false, false }; /* by fail open */

	for (size_t i = 0; i < cc->atoms.n; i++)
		if (atom_inspected(cc, &cc->atoms.v[i]))
			queued[cc->atoms.v[i].conduit->fail_open] = true;
	/* hand-back: a worker accepted this packet with NF_REPEAT and the
	 * packet mark bit NFT_PKT_MARK_HANDBACK (its flow is settled):
	 * ct mark = id | HANDBACK, the packet mark bit is cleared again, and
	 * the packet goes. Only for flows still marked inspected. */
	if (live && (queued[0] || queued[1])) {
		uint32_t pm = NFT_PKT_MARK_HANDBACK, im = NFT_MARK_INSPECT;

		rb_init(&rb, "forward");
		e_meta(&rb, NFT_META_MARK, NFT_REG_1);
		e_bitwise(&rb, pm, 0);
		e_cmp(&rb, NFT_REG_1, NFT_CMP_EQ, &pm, sizeof(pm));
		e_ct_load(&rb, NFT_CT_MARK, NFT_REG_1);
		e_bitwise(&rb, im, 0);
		e_cmp(&rb, NFT_REG_1, NFT_CMP_EQ, &im, sizeof(im));
		e_ct_load(&rb, NFT_CT_MARK, NFT_REG_1);
		e_bitwise(&rb, NFT_ATOM_ID_MASK, NFT_MARK_HANDBACK);
		e_ct_set(&rb, NFT_CT_MARK, NFT_REG_1);
		e_meta(&rb, NFT_META_MARK, NFT_REG_1);
		e_bitwise(&rb, ~pm, 0);
		e_meta_set(&rb, NFT_META_MARK, NFT_REG_1);
		e_verdict(&rb, NF_ACCEPT, NULL);
		if ((ret = rb_commit(cc, &rb, NULL,
				     "inspected flow handed back")))
			return ret;
	}
	for (int fo = 1; live && fo >= 0; fo--) {
		uint32_t mask = NFT_MARK_INSPECT | (fo ? NFT_MARK_FAILOPEN : 0);

		if (!queued[fo])
			continue;

		rb_init(&rb, "forward");
		m_ct_state(&rb, CT_STATE_EST_REL);
		e_ct_load(&rb, NFT_CT_MARK, NFT_REG_1);
		e_bitwise(&rb, mask, 0);
		e_cmp(&rb, NFT_REG_1, NFT_CMP_EQ, &mask, sizeof(mask));
		e_ct_load(&rb, NFT_CT_MARK, NFT_REG_1);
		e_objref_map(&rb, NFT_REG_1, "live");
		e_queue(cc, &rb, fo != 0);
		if ((ret = rb_commit(cc, &rb, NULL,
				     fo ? "established, inspected, fail open" :
					  "established, inspected service")))
			return ret;
	}
	if (live) {
		rb_init(&rb, "forward");
		m_ct_state(&rb, CT_STATE_EST_REL);
		e_ct_load(&rb, NFT_CT_MARK, NFT_REG_1);
		e_objref_map(&rb, NFT_REG_1, "live");
		e_verdict(&rb, NF_ACCEPT, NULL);
		if ((ret = rb_commit(cc, &rb, NULL,
				     "established, live service")))
			return ret;
	}
	if (cc->o->log_rate) {
		rb_init(&rb, "forward");
		m_ct_state(&rb, CT_STATE_EST_REL);
		m_log(cc, &rb, "cd:deny:revoked");
		if ((ret = rb_commit(cc, &rb, NULL, "revoked log")))
			return ret;
	}
	rb_init(&rb, "forward");
	m_ct_state(&rb, CT_STATE_EST_REL);
	e_verdict(&rb, NF_DROP, NULL);
	if ((ret = rb_commit(cc, &rb, NULL, "revoked drop")))
		return ret;
	if (cc->o->log_rate) {
		rb_init(&rb, "forward");
		m_ct_state(&rb, CT_STATE_INVALID);
		m_log(cc, &rb, "cd:deny:invalid");
		if ((ret = rb_commit(cc, &rb, NULL, "invalid log")))
			return ret;
	}
	rb_init(&rb, "forward");
	m_ct_state(&rb, CT_STATE_INVALID);
	e_verdict(&rb, NF_DROP, NULL);
	if ((ret = rb_commit(cc, &rb, NULL, "invalid drop")))
		return ret;
	for (int k = 0; k < 3; k++) {
		if (!made[k])
			continue;
		ret = vmap_rule(cc, "forward", (enum zkey)k, true, zin[k],
				NULL);
		if (ret)
			return ret;
	}
	if ((ret = log_drop(cc, "forward", "cd:deny:no-zone", NULL)))
		return ret;
	if ((ret = log_drop(cc, "deny_nc", "cd:deny:no-conduit", NULL)))
		return ret;
	for (size_t ci = 0; ci < p->n_conduits; ci++) {
		if ((ret = conduit_rules(cc, ci)))
			return ret;
	}
	return 0;
}

/* policy checks the kernel layout depends on */
static int check_policy(struct cc *cc)
{
	const struct pol_policy *p = cc->p;
	size_t nz = p->n_zones;
	int ret = 0;

	cc->pair = malloc((nz ? nz * nz : 1) * sizeof(*cc->pair));
	if (cc->pair == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < nz * nz; i++)
		cc->pair[i] = -1;
	for (size_t zi = 0; zi < nz; zi++) {
		if (p->zones[zi].management && cc->mgmt == NULL)
			cc->mgmt = &p->zones[zi];
	}
	for (size_t ci = 0; ci < p->n_conduits; ci++) {
		const struct pol_conduit *c = &p->conduits[ci];
		size_t f = c->from->id - 1, t = c->to->id - 1;
		int *slot;

		if (c->from->id == 0 || c->to->id == 0 || f >= nz || t >= nz) {
			diag_add(cc->d, p->file, c->loc.line, c->loc.col,
				 "conduit %s: zone without id", c->name);
			ret = -EINVAL;
			continue;
		}
		slot = &cc->pair[f * nz + t];
		if (*slot >= 0) {
			const struct pol_conduit *o = &p->conduits[*slot];

			/* the zone chain can only dispatch to one */
			diag_add(cc->d, p->file, c->loc.line, c->loc.col,
				 "conduit %s has the same zones (%s to %s) as "
				 "conduit %s at line %d; merge them",
				 c->name, c->from->name, c->to->name, o->name,
				 o->loc.line);
			ret = -EINVAL;
			continue;
		}
		*slot = (int)ci;
	}
	/* Protocol rules need the NFQUEUE workers (not in this build):
	 * refuse rather than compile them to a plain L4 accept. */
	for (size_t ci = 0;
	     ci < p->n_conduits && !cc->o->island && !cc->o->inspect; ci++) {
		const struct pol_conduit *c = &p->conduits[ci];

		for (size_t i = 0; i < c->n_allow; i++) {
			const struct pol_service *s = &c->allow[i];

			if (s->dpi == NULL && s->n_apps == 0)
				continue;
			diag_add(cc->d, p->file, s->loc.line, s->loc.col,
				 "conduit %s: allow entry %zu has %s rules; "
				 "inline inspection is not available in this "
				 "version (check them offline with conduitctl "
				 "replay --policy)",
				 c->name, i,
				 s->dpi ? pol_app_name(s->dpi->app) : "app");
			ret = -EINVAL;
		}
	}
	for (size_t zi = 0; zi < nz && !cc->o->island && !cc->o->inspect;
	     zi++) {
		const struct pol_zone *z = &p->zones[zi];

		if (z->n_deny_categories == 0)
			continue;
		diag_add(cc->d, p->file, z->loc.line, z->loc.col,
			 "zone %s: deny-app-categories needs inline "
			 "inspection, not available in this version (check "
			 "it offline with conduitctl replay --policy)",
			 z->name);
		ret = -EINVAL;
	}
	return ret;
}

static int compile_all(struct cc *cc)
{
	const struct pol_policy *p = cc->p;
	char name[NAME_BUF];
	int ret;

	/* replace: create if absent, delete, create */
	if ((ret = nft_batch_add_table(cc->b, NFT_MSG_NEWTABLE, NLM_F_CREATE,
				       NFT_TABLE_NAME, NULL)))
		return ret;
	if ((ret = nft_batch_add_table(cc->b, NFT_MSG_DELTABLE, 0,
				       NFT_TABLE_NAME, NULL)))
		return ret;
	if ((ret = nft_batch_add_table(cc->b, NFT_MSG_NEWTABLE, NLM_F_CREATE,
				       NFT_TABLE_NAME, NULL)))
		return ret;

	/* objects */
	for (size_t ci = 0; ci < p->n_conduits && !cc->o->island; ci++) {
		const struct pol_conduit *c = &p->conduits[ci];

		snprintf(name, sizeof(name), "c_%s_acc", c->name);
		if ((ret = add_counter(cc, name, &c->loc)))
			return ret;
		snprintf(name, sizeof(name), "c_%s_deny", c->name);
		if ((ret = add_counter(cc, name, &c->loc)))
			return ret;
		for (size_t si = 0; si < c->n_allow; si++) {
			const struct pol_service *s = &c->allow[si];

			if (!s->has_rate)
				continue;
			snprintf(name, sizeof(name), "rl_%zu_%s", si + 1,
				 c->name);
			if ((ret = add_limit_obj(cc, name, &s->rate, &s->loc)))
				return ret;
		}
	}

	/* chains: the output hook accepts: the gateway's own traffic (syslog
	 * to the SIEM, NTP, DNS, management replies) is not a conduit, and
	 * replies of accepted input are established anyway. */
	if ((ret = add_chain(cc, "forward", NF_INET_FORWARD, NF_DROP, NULL)) ||
	    (ret = add_chain(cc, "input", NF_INET_LOCAL_IN, NF_DROP, NULL)) ||
	    (ret = add_chain(cc, "output", NF_INET_LOCAL_OUT, NF_ACCEPT, NULL)))
		return ret;
	if (cc->mgmt && (ret = add_chain(cc, "in_mgmt", -1, 0, &cc->mgmt->loc)))
		return ret;
	if ((ret = add_chain(cc, "in_deny", -1, 0, NULL)))
		return ret;
	if (!cc->o->island) {
		if ((ret = add_chain(cc, "deny_nc", -1, 0, NULL)))
			return ret;
		for (size_t zi = 0; zi < p->n_zones; zi++) {
			zone_chain(&p->zones[zi], name, sizeof(name));
			if ((ret = add_chain(cc, name, -1, 0,
					     &p->zones[zi].loc)))
				return ret;
		}
		for (size_t ci = 0; ci < p->n_conduits; ci++) {
			const struct pol_conduit *c = &p->conduits[ci];

			conduit_chain(c, name, sizeof(name));
			if ((ret = add_chain(cc, name, -1, 0, &c->loc)))
				return ret;
			if (!c->log)
				continue;
			snprintf(name, sizeof(name), "l_%s", c->name);
			if ((ret = add_chain(cc, name, -1, 0, &c->loc)))
				return ret;
		}
	}

	/* service maps, per conduit */
	if (!cc->o->island && cc->atoms.n) {
		size_t i = 0;

		while (i < cc->atoms.n) {
			size_t j = i;
			size_t ci = cc->by_conduit[i]->conduit->id - 1;

			while (j < cc->atoms.n &&
			       cc->by_conduit[j]->conduit ==
				       cc->by_conduit[i]->conduit)
				j++;
			if ((ret = conduit_maps(cc, ci, &cc->by_conduit[i],
						j - i)))
				return ret;
			i = j;
		}
	}

	if ((ret = input_chain(cc)))
		return ret;
	if (cc->o->island) {
		/* everything forwarded is dropped, established flows too */
		return log_drop(cc, "forward", "cd:deny:island", NULL);
	}
	return forward_policy(cc);
}

int nft_compile(const struct pol_policy *p, const struct nft_opts *o,
		struct nft_batch **out, struct diag_list *d)
{
	struct cc cc;
	int ret;

	*out = NULL;
	memset(&cc, 0, sizeof(cc));
	cc.p = p;
	cc.o = o;
	cc.d = d;
	cc.b = nft_batch_new(p->file);
	if (cc.b == NULL)
		return -ENOMEM;
	ret = check_policy(&cc);
	if (ret)
		goto out;
	if (o->inspect && !o->island && !o->feat.native_queue &&
	    !o->feat.xt_nfqueue && policy_needs_dpi(p)) {
		diag_add(d, p->file, 0, 0,
			 "inline inspection needs the nft queue expression or "
			 "the xt NFQUEUE target; this kernel has neither");
		ret = -EOPNOTSUPP;
		goto out;
	}
	cc.plan = calloc(p->n_conduits ? p->n_conduits : 1, sizeof(*cc.plan));
	if (cc.plan == NULL) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t ci = 0; ci < p->n_conduits; ci++) {
		size_t n = p->conduits[ci].n_allow;

		cc.plan[ci].svc_mask = calloc(n ? n : 1, 1);
		if (cc.plan[ci].svc_mask == NULL) {
			ret = -ENOMEM;
			goto out;
		}
	}
	if (!o->island) {
		ret = nft_atoms_build(p, &cc.atoms);
		if (ret)
			goto out;
		cc.by_conduit = calloc(cc.atoms.n ? cc.atoms.n : 1,
				       sizeof(*cc.by_conduit));
		if (cc.by_conduit == NULL) {
			ret = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < cc.atoms.n; i++)
			cc.by_conduit[i] = &cc.atoms.v[i];
		if (cc.atoms.n)
			qsort(cc.by_conduit, cc.atoms.n, sizeof(*cc.by_conduit),
			      cmp_atom_conduit);
	}
	ret = compile_all(&cc);
	if (ret == 0)
		ret = nft_batch_close(cc.b);
	if (ret == -ENOMEM && d)
		diag_add(d, p->file, 0, 0, "ruleset compiler: out of memory");
out:
	if (cc.plan) {
		for (size_t ci = 0; ci < p->n_conduits; ci++)
			free(cc.plan[ci].svc_mask);
	}
	free(cc.plan);
	free(cc.pair);
	free(cc.by_conduit);
	nft_atoms_free(&cc.atoms);
	if (ret == 0)
		*out = cc.b;
	else
		nft_batch_free(cc.b);
	return ret;
}
