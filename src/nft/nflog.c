/*
 * The denied-packet reader: owns the nfnetlink_log socket of one NFLOG
 * group, parses each NFULNL_MSG_PACKET (the bytes are outside input: every
 * length is checked before use), and aggregates packets by flow key into
 * the lines of docs/dev/CONTRACTS.md. The aggregation table is allocated
 * once in nflog_alloc; exhaustion is counted, never fatal.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/if_ether.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>

#include "dpi/proto/cursor.h"
#include "nft/nflog.h"

#define NFLOG_RCVBUF (4 * 1024 * 1024) /* absorbs a burst of logs */
#define NFLOG_RECV_BUF 65536	       /* > the kernel's batch skb */
#define NFLOG_DISPATCH_MAX 256	       /* datagrams per dispatch call */
#define NFLOG_FLUSH_TIMEOUT 10	       /* 1/100 s: kernel batches <= 100 ms */
#define NFLOG_CFG_TIMEOUT_S 2	       /* waiting for a config ack */
#define NFLOG_V6_EXT_MAX 8	       /* extension headers we walk */
#define NFLOG_NIL UINT32_MAX

/* Everything that separates two lines. Zeroed before filling so that it
 * can be hashed and compared as bytes; names are copies because the
 * policy may be reloaded between a packet and the end of its interval. */
struct nflog_key {
	uint8_t action;
	uint8_t reason;
	uint8_t family;
	uint8_t proto;
	uint8_t has_ports;
	uint8_t pad;
	uint16_t dport;
	uint8_t saddr[16];
	uint8_t daddr[16];
	char conduit[POL_NAME_MAX + 1];
	char zone_from[POL_NAME_MAX + 1];
	char zone_to[POL_NAME_MAX + 1];
};

struct nflog_entry {
	struct nflog_key key;
	uint32_t hash;
	uint32_t next; /* bucket chain, or the free list */
	bool used;
	bool mixed;	/* sport / icmp type varied within the window */
	uint16_t sport; /* of the window's first packet */
	int16_t icmp_type;
	time_t start;	/* of the current window */
	uint64_t count; /* packets since this key's last line */
};

struct nflog_reader {
	struct mnl_socket *nl;
	uint32_t cfg_seq;
	uint8_t *buf;
	size_t buf_len;

	unsigned interval;
	uint32_t max_entries;
	uint32_t n_used;
	uint32_t bucket_mask;
	uint32_t *buckets;
	struct nflog_entry *entries;
	uint32_t free_head;
	uint64_t hash_seed;

	time_t now; /* of the last tick; stamps dispatched packets */
	bool clock_set;
	uint64_t ovf_count; /* unitemised packets of the current window */
	time_t ovf_start;

	bool seq_valid;
	uint32_t next_seq;

	struct nflog_stats st;
};

static const char *const reason_names[] = {
	[NFLOG_REASON_NONE] = "-",
	[NFLOG_REASON_NO_CONDUIT] = "no-conduit",
	[NFLOG_REASON_CONDUIT] = "conduit",
	[NFLOG_REASON_NO_ZONE] = "no-zone",
	[NFLOG_REASON_REVOKED] = "revoked",
	[NFLOG_REASON_INVALID] = "invalid",
	[NFLOG_REASON_ISLAND] = "island",
	[NFLOG_REASON_INPUT] = "input",
	[NFLOG_REASON_OVERFLOW] = "overflow",
};

const char *nflog_reason_name(enum nflog_reason reason)
{
	if ((unsigned)reason >= sizeof(reason_names) / sizeof(reason_names[0]))
		return "-";
	return reason_names[reason];
}

/* ---- prefix ------------------------------------------------------------ */

static bool name_ok(const char *s, size_t n)
{
	if (n == 0 || n > POL_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

int nflog_parse_prefix(const char *prefix, struct nflog_pkt *pkt)
{
	static const char deny[] = "cd:deny:", accept[] = "cd:accept:";
	const char *s, *colon;
	size_t n;

	pkt->conduit[0] = '\0';
	if (strncmp(prefix, accept, sizeof(accept) - 1) == 0) {
		s = prefix + sizeof(accept) - 1;
		n = strlen(s);
		if (!name_ok(s, n))
			return -EPROTO;
		memcpy(pkt->conduit, s, n + 1);
		pkt->action = NFLOG_ACTION_ACCEPT;
		pkt->reason = NFLOG_REASON_NONE;
		return 0;
	}
	if (strncmp(prefix, deny, sizeof(deny) - 1) != 0)
		return -EPROTO;
	s = prefix + sizeof(deny) - 1;
	colon = strchr(s, ':');
	n = colon ? (size_t)(colon - s) : strlen(s);
	pkt->reason = NFLOG_REASON_NONE;
	for (unsigned i = NFLOG_REASON_NO_CONDUIT; i <= NFLOG_REASON_INPUT;
	     i++) {
		if (strlen(reason_names[i]) == n &&
		    memcmp(reason_names[i], s, n) == 0) {
			pkt->reason = (enum nflog_reason)i;
			break;
		}
	}
	if (pkt->reason == NFLOG_REASON_NONE)
		return -EPROTO;
	if (colon) {
		s = colon + 1;
		n = strlen(s);
		if (!name_ok(s, n))
			return -EPROTO;
		memcpy(pkt->conduit, s, n + 1);
	} else if (pkt->reason == NFLOG_REASON_CONDUIT) {
		return -EPROTO;
	}
	pkt->action = NFLOG_ACTION_DENY;
	return 0;
}

/* ---- packet bytes (through the shared bounds-checked cursor) ---------- */

static void parse_l4(struct cur c, struct nflog_pkt *o)
{
	switch (o->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
	case IPPROTO_DCCP:
	case IPPROTO_UDPLITE:
		o->sport = cur_be16(&c);
		o->dport = cur_be16(&c);
		o->has_ports = cur_ok(&c);
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		o->icmp_type = cur_u8(&c);
		o->icmp_code = cur_u8(&c);
		if (!cur_ok(&c))
			o->icmp_type = o->icmp_code = -1;
		break;
	default:
		return;
	}
	if (!cur_ok(&c)) {
		o->sport = o->dport = 0;
		o->l4_truncated = true;
	}
}

static int parse_ip4(struct cur c, struct nflog_pkt *o)
{
	size_t ihl, tot, lim;
	uint16_t frag;

	ihl = (cur_u8(&c) & 0x0fu) * 4u;
	cur_skip(&c, 1); /* tos */
	tot = cur_be16(&c);
	cur_skip(&c, 2); /* id */
	frag = cur_be16(&c);
	cur_skip(&c, 1); /* ttl */
	o->proto = cur_u8(&c);
	cur_skip(&c, 2); /* checksum */
	if (cur_peek(&c, 8) == NULL)
		return -EBADMSG;
	memcpy(o->saddr, cur_peek(&c, 8), 4);
	memcpy(o->daddr, cur_peek(&c, 8) + 4, 4);
	/* tot_len 0: a GSO super-packet (BIG TCP) logged before segmentation */
	if (!cur_ok(&c) || ihl < 20 || ihl > c.len || (tot != 0 && tot < ihl))
		return -EBADMSG;
	o->family = AF_INET;
	if (frag & 0x1fffu) {
		o->fragment = true;
		return 0;
	}
	lim = tot != 0 && tot < c.len ? tot : c.len;
	parse_l4(cur_slice(&c, ihl, lim - ihl), o);
	return 0;
}

/* Walk only the extension headers whose length we know for certain; any
 * other next-header value is taken as the upper layer. */
static int parse_ip6(struct cur c, struct nflog_pkt *o)
{
	struct cur x;
	size_t plen, lim;
	uint8_t nh, next;

	cur_skip(&c, 4); /* version, class, flow */
	plen = cur_be16(&c);
	nh = cur_u8(&c);
	cur_skip(&c, 1); /* hop limit */
	if (cur_peek(&c, 32) == NULL)
		return -EBADMSG;
	memcpy(o->saddr, cur_peek(&c, 32), 16);
	memcpy(o->daddr, cur_peek(&c, 32) + 16, 16);
	o->family = AF_INET6;
	/* payload length 0: a jumbogram or BIG TCP; trust the capture */
	lim = plen != 0 && 40 + plen < c.len ? 40 + plen : c.len;
	x = cur_slice(&c, 40, lim - 40);

	for (unsigned i = 0;; i++) {
		switch (nh) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_FRAGMENT:
		case IPPROTO_AH:
		case IPPROTO_DSTOPTS:
			break;
		default:
			o->proto = nh;
			parse_l4(x, o);
			return 0;
		}
		if (i == NFLOG_V6_EXT_MAX || cur_peek(&x, 2) == NULL) {
			o->proto = nh;
			o->l4_truncated = true;
			return 0;
		}
		next = cur_u8(&x);
		if (nh == IPPROTO_FRAGMENT) {
			cur_skip(&x, 1);
			if (cur_be16(&x) & 0xfff8u) {
				o->proto = next;
				o->fragment = true;
				return 0;
			}
			cur_skip(&x, 4);
		} else {
			/* AH counts 4-byte words minus 2, the others 8-byte
			 * units minus 1; both lengths include these 2 bytes */
			size_t hl = nh == IPPROTO_AH ? (cur_u8(&x) + 2u) * 4u :
						       (cur_u8(&x) + 1u) * 8u;

			cur_skip(&x, hl - 2);
		}
		nh = next;
		if (!cur_ok(&x)) {
			o->proto = nh;
			o->l4_truncated = true;
			return 0;
		}
	}
}

/* ---- netlink message --------------------------------------------------- */

static int attr_check(const struct nlattr *a)
{
	switch (mnl_attr_get_type(a)) {
	case NFULA_PACKET_HDR:
		return mnl_attr_get_payload_len(a) >=
				       sizeof(struct nfulnl_msg_packet_hdr) ?
			       0 :
			       -1;
	case NFULA_IFINDEX_INDEV:
	case NFULA_IFINDEX_OUTDEV:
	case NFULA_SEQ:
		return mnl_attr_validate(a, MNL_TYPE_U32);
	case NFULA_PREFIX:
		return mnl_attr_validate(a, MNL_TYPE_NUL_STRING);
	default:
		return 0;
	}
}

int nflog_parse_msg(const void *buf, size_t len, struct nflog_pkt *out)
{
	const struct nlattr *tb[NFULA_MAX + 1] = { 0 };
	const struct nlmsghdr *nlh = buf;
	const struct nfgenmsg *nfg;
	const struct nlattr *a;
	const uint8_t *payload;
	size_t plen;
	int rem, rc;

	memset(out, 0, sizeof(*out));
	out->icmp_type = -1;
	out->icmp_code = -1;
	if (buf == NULL || len < sizeof(*nlh) ||
	    nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > len)
		return -EINVAL;
	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_ULOG ||
	    NFNL_MSG_TYPE(nlh->nlmsg_type) != NFULNL_MSG_PACKET)
		return -ENOMSG;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*nfg))
		return -EINVAL;
	nfg = mnl_nlmsg_get_payload(nlh);

	/* Our own walk instead of mnl_attr_parse: a length that overruns the
	 * message must reject it, not end the walk quietly. */
	a = mnl_nlmsg_get_payload_offset(nlh, sizeof(*nfg));
	/* from nlmsg_len itself: the aligned tail may lie past the buffer */
	rem = (int)(nlh->nlmsg_len - MNL_NLMSG_HDRLEN -
		    MNL_ALIGN(sizeof(*nfg)));
	while (mnl_attr_ok(a, rem)) {
		uint16_t type = mnl_attr_get_type(a);

		if (attr_check(a) < 0)
			return -EINVAL;
		if (type <= NFULA_MAX) /* newer kernels may add more */
			tb[type] = a;
		rem -= (int)MNL_ALIGN(a->nla_len);
		a = mnl_attr_next(a);
	}
	if (rem > 0)
		return -EINVAL;

	if (tb[NFULA_PACKET_HDR]) {
		const struct nfulnl_msg_packet_hdr *ph =
			mnl_attr_get_payload(tb[NFULA_PACKET_HDR]);

		out->hw_protocol = ntohs(ph->hw_protocol);
		out->hook = ph->hook;
	}
	if (tb[NFULA_IFINDEX_INDEV])
		out->indev = ntohl(mnl_attr_get_u32(tb[NFULA_IFINDEX_INDEV]));
	if (tb[NFULA_IFINDEX_OUTDEV])
		out->outdev = ntohl(mnl_attr_get_u32(tb[NFULA_IFINDEX_OUTDEV]));
	if (tb[NFULA_SEQ]) {
		out->has_seq = true;
		out->seq = ntohl(mnl_attr_get_u32(tb[NFULA_SEQ]));
	}
	if (tb[NFULA_PREFIX] == NULL)
		return -EPROTO;
	rc = nflog_parse_prefix(mnl_attr_get_str(tb[NFULA_PREFIX]), out);
	if (rc < 0)
		return rc;
	if (tb[NFULA_PAYLOAD] == NULL)
		return -EBADMSG;
	payload = mnl_attr_get_payload(tb[NFULA_PAYLOAD]);
	plen = mnl_attr_get_payload_len(tb[NFULA_PAYLOAD]);
	out->caplen = (uint32_t)plen;
	if (plen < 1)
		return -EBADMSG;
	switch (payload[0] >> 4) {
	case 4:
		rc = parse_ip4(cur_init(payload, plen), out);
		break;
	case 6:
		rc = parse_ip6(cur_init(payload, plen), out);
		break;
	default:
		rc = -EBADMSG;
		break;
	}
	if (rc < 0)
		return rc;
	/* The hook family and the L2 protocol, when they say IP, must agree
	 * with the version nibble. */
	if ((nfg->nfgen_family == AF_INET || nfg->nfgen_family == AF_INET6) &&
	    nfg->nfgen_family != out->family)
		return -EBADMSG;
	if ((out->hw_protocol == ETH_P_IP && out->family != AF_INET) ||
	    (out->hw_protocol == ETH_P_IPV6 && out->family != AF_INET6))
		return -EBADMSG;
	return 0;
}

/* ---- aggregation ------------------------------------------------------- */

struct nflog_reader *nflog_alloc(unsigned interval_sec, size_t max_entries)
{
	struct nflog_reader *r;
	uint32_t nb = 1;

	if (interval_sec == 0 || max_entries == 0 ||
	    max_entries > NFLOG_MAX_ENTRIES_LIMIT) {
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	while (nb < max_entries)
		nb <<= 1;
	r->interval = interval_sec;
	r->max_entries = (uint32_t)max_entries;
	r->bucket_mask = nb - 1;
	r->buckets = malloc(nb * sizeof(*r->buckets));
	r->entries = calloc(max_entries, sizeof(*r->entries));
	if (r->buckets == NULL || r->entries == NULL) {
		nflog_close(r);
		errno = ENOMEM;
		return NULL;
	}
	for (uint32_t i = 0; i < nb; i++)
		r->buckets[i] = NFLOG_NIL;
	for (uint32_t i = 0; i < r->max_entries; i++)
		r->entries[i].next = i + 1 < r->max_entries ? i + 1 : NFLOG_NIL;
	r->free_head = 0;
	/* A secret seed keeps spoofed sources from choosing their bucket. */
	if (getrandom(&r->hash_seed, sizeof(r->hash_seed), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(r->hash_seed))
		r->hash_seed = (uint64_t)time(NULL) ^
			       ((uint64_t)getpid() << 32) ^
			       (uint64_t)(uintptr_t)r;
	return r;
}

void nflog_close(struct nflog_reader *r)
{
	if (r == NULL)
		return;
	if (r->nl)
		mnl_socket_close(r->nl);
	free(r->buf);
	free(r->buckets);
	free(r->entries);
	free(r);
}

int nflog_fd(const struct nflog_reader *r)
{
	return r && r->nl ? mnl_socket_get_fd(r->nl) : -1;
}

void nflog_get_stats(const struct nflog_reader *r, struct nflog_stats *out)
{
	*out = r->st;
	out->entries = r->n_used;
}

static uint32_t key_hash(const struct nflog_reader *r,
			 const struct nflog_key *k)
{
	const uint8_t *b = (const uint8_t *)k;
	uint64_t h = 0xcbf29ce484222325ULL ^ r->hash_seed;

	for (size_t i = 0; i < sizeof(*k); i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (uint32_t)h;
}

static void copy_name(char *dst, const char *src)
{
	size_t n = src ? strnlen(src, POL_NAME_MAX) : 0;

	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
}

static void emit(struct nflog_reader *r, const struct nflog_entry *e,
		 uint64_t packets, bool aggregated, nflog_cb cb, void *arg)
{
	const struct nflog_key *k = &e->key;
	struct deny_event ev = {
		.action = (enum nflog_action)k->action,
		.reason = (enum nflog_reason)k->reason,
		.conduit = k->conduit[0] ? k->conduit : NULL,
		.zone_from = k->zone_from[0] ? k->zone_from : NULL,
		.zone_to = k->zone_to[0] ? k->zone_to : NULL,
		.family = k->family,
		.proto = k->proto,
		.has_sport = k->has_ports && !e->mixed,
		.sport = e->sport,
		.has_dport = k->has_ports,
		.dport = k->dport,
		.icmp_type = e->mixed ? -1 : e->icmp_type,
		.packets = packets,
		.aggregated = aggregated,
	};

	memcpy(ev.saddr, k->saddr, sizeof(ev.saddr));
	memcpy(ev.daddr, k->daddr, sizeof(ev.daddr));
	r->st.events++;
	if (cb)
		cb(&ev, arg);
}

static void emit_overflow(struct nflog_reader *r, nflog_cb cb, void *arg)
{
	struct deny_event ev = {
		.action = NFLOG_ACTION_DENY,
		.reason = NFLOG_REASON_OVERFLOW,
		.icmp_type = -1,
		.packets = r->ovf_count,
		.aggregated = true,
	};

	r->ovf_count = 0;
	r->st.events++;
	if (cb)
		cb(&ev, arg);
}

static void entry_remove(struct nflog_reader *r, uint32_t idx)
{
	struct nflog_entry *e = &r->entries[idx];
	uint32_t *link = &r->buckets[e->hash & r->bucket_mask];

	while (*link != idx)
		link = &r->entries[*link].next;
	*link = e->next;
	e->used = false;
	e->next = r->free_head;
	r->free_head = idx;
	r->n_used--;
}

int nflog_ingest(struct nflog_reader *r, const struct nflog_pkt *pkt,
		 const struct pol_policy *p, time_t now, nflog_cb cb, void *arg)
{
	struct nflog_key k;
	struct nflog_entry *e;
	uint32_t h, idx;
	size_t alen;

	if (r == NULL || pkt == NULL ||
	    (pkt->family != AF_INET && pkt->family != AF_INET6))
		return -EINVAL;
	alen = pkt->family == AF_INET ? 4 : 16;
	r->st.packets++;
	if (pkt->l4_truncated)
		r->st.truncated++;

	memset(&k, 0, sizeof(k));
	k.action = (uint8_t)pkt->action;
	k.reason = (uint8_t)pkt->reason;
	k.family = (uint8_t)pkt->family;
	k.proto = pkt->proto;
	k.has_ports = pkt->has_ports;
	k.dport = pkt->has_ports ? pkt->dport : 0;
	memcpy(k.saddr, pkt->saddr, alen);
	memcpy(k.daddr, pkt->daddr, alen);
	copy_name(k.conduit, pkt->conduit);
	if (p) {
		const struct pol_zone *zf, *zt;

		zf = policy_classify(p, pkt->family, pkt->saddr,
				     pkt->indev_name[0] ? pkt->indev_name :
							  NULL);
		zt = policy_classify(p, pkt->family, pkt->daddr,
				     pkt->outdev_name[0] ? pkt->outdev_name :
							   NULL);
		copy_name(k.zone_from, zf ? zf->name : NULL);
		copy_name(k.zone_to, zt ? zt->name : NULL);
	}

	h = key_hash(r, &k);
	for (idx = r->buckets[h & r->bucket_mask]; idx != NFLOG_NIL;
	     idx = r->entries[idx].next) {
		e = &r->entries[idx];
		if (e->hash != h || memcmp(&e->key, &k, sizeof(k)) != 0)
			continue;
		if (e->count == 0) {
			e->sport = pkt->sport;
			e->icmp_type = (int16_t)pkt->icmp_type;
			e->mixed = false;
		} else if (e->sport != pkt->sport ||
			   e->icmp_type != pkt->icmp_type) {
			e->mixed = true;
		}
		e->count++;
		return 0;
	}

	if (r->free_head == NFLOG_NIL) {
		if (r->ovf_count == 0)
			r->ovf_start = now;
		r->ovf_count++;
		r->st.unitemised++;
		return 0;
	}
	idx = r->free_head;
	e = &r->entries[idx];
	r->free_head = e->next;
	e->key = k;
	e->hash = h;
	e->used = true;
	e->mixed = false;
	e->sport = pkt->sport;
	e->icmp_type = (int16_t)pkt->icmp_type;
	e->start = now;
	e->count = 0;
	e->next = r->buckets[h & r->bucket_mask];
	r->buckets[h & r->bucket_mask] = idx;
	r->n_used++;
	emit(r, e, 1, false, cb, arg);
	return 1;
}

void nflog_tick(struct nflog_reader *r, time_t now, nflog_cb cb, void *arg)
{
	if (r == NULL)
		return;
	if (!r->clock_set) {
		/* keys ingested before the first tick begin their window now */
		for (uint32_t i = 0; i < r->max_entries; i++)
			if (r->entries[i].used)
				r->entries[i].start = now;
		if (r->ovf_count)
			r->ovf_start = now;
		r->clock_set = true;
	}
	r->now = now;
	for (uint32_t i = 0; i < r->max_entries; i++) {
		struct nflog_entry *e = &r->entries[i];

		if (!e->used)
			continue;
		if (now < e->start) /* the caller's clock stepped back */
			e->start = now;
		if (now - e->start < (time_t)r->interval)
			continue;
		if (e->count == 0) {
			entry_remove(r, i);
			continue;
		}
		emit(r, e, e->count, true, cb, arg);
		e->count = 0;
		e->mixed = false;
		e->start = now;
	}
	if (r->ovf_count) {
		if (now < r->ovf_start)
			r->ovf_start = now;
		if (now - r->ovf_start >= (time_t)r->interval)
			emit_overflow(r, cb, arg);
	}
}

void nflog_flush(struct nflog_reader *r, nflog_cb cb, void *arg)
{
	if (r == NULL)
		return;
	for (uint32_t i = 0; i < r->max_entries; i++) {
		struct nflog_entry *e = &r->entries[i];

		if (!e->used)
			continue;
		if (e->count)
			emit(r, e, e->count, true, cb, arg);
		entry_remove(r, i);
	}
	if (r->ovf_count)
		emit_overflow(r, cb, arg);
}

/* ---- datagrams and the socket ------------------------------------------ */

static void note_seq(struct nflog_reader *r, const struct nflog_pkt *pkt)
{
	if (!pkt->has_seq)
		return;
	if (r->seq_valid) {
		uint32_t gap = pkt->seq - r->next_seq;

		/* a "gap" of more than half the space is a reordering or a
		 * re-created instance, not a loss */
		if (gap != 0 && gap < UINT32_MAX / 2)
			r->st.lost += gap;
	}
	r->seq_valid = true;
	r->next_seq = pkt->seq + 1;
}

static void resolve_names(struct nflog_pkt *pkt)
{
	if (pkt->indev && if_indextoname(pkt->indev, pkt->indev_name) == NULL)
		pkt->indev_name[0] = '\0';
	if (pkt->outdev &&
	    if_indextoname(pkt->outdev, pkt->outdev_name) == NULL)
		pkt->outdev_name[0] = '\0';
}

/* Not mnl_nlmsg_ok: it compares a signed cast of nlmsg_len, so a length
 * above 2 GiB passes it and mnl_nlmsg_next then leaves the buffer. */
static bool msg_ok(const struct nlmsghdr *nlh, size_t rem)
{
	return rem >= sizeof(*nlh) && nlh->nlmsg_len >= sizeof(*nlh) &&
	       nlh->nlmsg_len <= rem;
}

static const struct nlmsghdr *msg_next(const struct nlmsghdr *nlh, size_t *rem)
{
	size_t step = MNL_ALIGN(nlh->nlmsg_len);

	if (step >= *rem) {
		*rem = 0;
		return nlh;
	}
	*rem -= step;
	return (const struct nlmsghdr *)((const uint8_t *)nlh + step);
}

static int walk(struct nflog_reader *r, const void *buf, size_t len,
		const struct pol_policy *p, time_t now, nflog_cb cb, void *arg,
		bool resolve)
{
	const struct nlmsghdr *nlh = buf;
	size_t rem = len;
	int n = 0;

	for (; msg_ok(nlh, rem); nlh = msg_next(nlh, &rem)) {
		struct nflog_pkt pkt;

		if (nlh->nlmsg_type < NLMSG_MIN_TYPE)
			continue; /* NLMSG_DONE ends a batch; stray acks */
		switch (nflog_parse_msg(nlh, rem, &pkt)) {
		case 0:
			note_seq(r, &pkt);
			if (resolve)
				resolve_names(&pkt);
			nflog_ingest(r, &pkt, p, now, cb, arg);
			n++;
			break;
		case -EPROTO:
			note_seq(r, &pkt);
			r->st.bad_prefix++;
			break;
		case -EBADMSG:
			note_seq(r, &pkt);
			r->st.bad_packet++;
			break;
		case -ENOMSG:
			break;
		default:
			r->st.malformed++;
			break;
		}
	}
	if (rem > 0)
		r->st.malformed++; /* bytes that are no message */
	return n;
}

int nflog_feed(struct nflog_reader *r, const void *buf, size_t len,
	       const struct pol_policy *p, time_t now, nflog_cb cb, void *arg)
{
	if (r == NULL || (buf == NULL && len != 0))
		return -EINVAL;
	return walk(r, buf, len, p, now, cb, arg, false);
}

/* Only the kernel (port 0) may speak to us: a local process can unicast
 * to any netlink port and must not be able to forge deny lines. */
static ssize_t recv_kernel(struct nflog_reader *r, int flags)
{
	struct sockaddr_nl sa;
	struct iovec iov = { .iov_base = r->buf, .iov_len = r->buf_len };
	struct msghdr msg = {
		.msg_name = &sa,
		.msg_namelen = sizeof(sa),
		.msg_iov = &iov,
		.msg_iovlen = 1,
	};
	ssize_t n;

	n = recvmsg(mnl_socket_get_fd(r->nl), &msg, flags);
	if (n < 0)
		return -errno;
	if (msg.msg_flags & MSG_TRUNC)
		return -ENOSPC;
	if (msg.msg_namelen != sizeof(sa) || sa.nl_family != AF_NETLINK ||
	    sa.nl_pid != 0)
		return -EPERM;
	return n;
}

int nflog_dispatch(struct nflog_reader *r, const struct pol_policy *p,
		   nflog_cb cb, void *arg)
{
	int total = 0;

	if (r == NULL)
		return -EINVAL;
	if (r->nl == NULL)
		return -EBADF;
	for (int i = 0; i < NFLOG_DISPATCH_MAX; i++) {
		ssize_t n = recv_kernel(r, MSG_DONTWAIT);

		switch (n) {
		case -EAGAIN:
#if EWOULDBLOCK != EAGAIN
		case -EWOULDBLOCK:
#endif
			return total;
		case -EINTR:
			continue;
		case -ENOBUFS:
			r->st.enobufs++;
			continue;
		case -ENOSPC:
		case -EPERM:
			r->st.malformed++;
			continue;
		default:
			if (n < 0)
				return (int)n;
			break;
		}
		total += walk(r, r->buf, (size_t)n, p, r->now, cb, arg, true);
	}
	return total;
}

/* Send one config message and wait for its ack; packets that race in
 * before the configuration is complete are counted as lost. */
static int cfg_send(struct nflog_reader *r, uint16_t res_id, uint16_t type,
		    const void *data, size_t dlen)
{
	uint32_t sbuf[64] = { 0 }; /* attribute padding goes out too */
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(sbuf);
	struct nfgenmsg *nfg;
	uint32_t seq = ++r->cfg_seq;

	nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_UNSPEC;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = htons(res_id);
	if (!mnl_attr_put_check(nlh, sizeof(sbuf), type, dlen, data))
		return -EMSGSIZE;
	if (mnl_socket_sendto(r->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;

	for (;;) {
		const struct nlmsghdr *m;
		ssize_t n = recv_kernel(r, 0);
		size_t rem;

		if (n == -EINTR || n == -ENOSPC || n == -EPERM)
			continue;
		if (n == -ENOBUFS) {
			r->st.enobufs++;
			continue;
		}
		if (n == -EAGAIN || n == -EWOULDBLOCK)
			return -ETIMEDOUT;
		if (n < 0)
			return (int)n;
		rem = (size_t)n;
		for (m = (const void *)r->buf; msg_ok(m, rem);
		     m = msg_next(m, &rem)) {
			const struct nlmsgerr *err;

			if (m->nlmsg_type != NLMSG_ERROR) {
				if (m->nlmsg_type >= NLMSG_MIN_TYPE)
					r->st.lost++;
				continue;
			}
			if (m->nlmsg_seq != seq ||
			    mnl_nlmsg_get_payload_len(m) < sizeof(*err))
				continue;
			err = mnl_nlmsg_get_payload(m);
			return err->error; /* 0 = ack, else -errno */
		}
	}
}

struct nflog_reader *nflog_open(uint16_t group, unsigned interval_sec,
				size_t max_entries)
{
	struct nfulnl_msg_config_cmd bind = { .command = NFULNL_CFG_CMD_BIND };
	struct nfulnl_msg_config_mode mode = {
		.copy_range = htonl(NFLOG_COPY_RANGE),
		.copy_mode = NFULNL_COPY_PACKET,
	};
	uint16_t flags = htons(NFULNL_CFG_F_SEQ);
	uint32_t timeout = htonl(NFLOG_FLUSH_TIMEOUT);
	struct timeval tv = { .tv_sec = NFLOG_CFG_TIMEOUT_S };
	struct nflog_reader *r;
	int fd, one = 1, size = NFLOG_RCVBUF, rc, fl;

	r = nflog_alloc(interval_sec, max_entries);
	if (r == NULL)
		return NULL;
	r->buf_len = NFLOG_RECV_BUF;
	r->buf = malloc(r->buf_len);
	if (r->buf == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	r->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (r->nl == NULL ||
	    mnl_socket_bind(r->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		rc = -errno;
		goto fail;
	}
	fd = mnl_socket_get_fd(r->nl);
	/* FORCE needs CAP_NET_ADMIN; without it the rmem_max cap applies */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size,
				 sizeof(size));
	/* Losses show up as NFULA_SEQ gaps; ENOBUFS would only repeat that. */
	(void)mnl_socket_setsockopt(r->nl, NETLINK_NO_ENOBUFS, &one,
				    sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		rc = -errno;
		goto fail;
	}

	/*
	 * No NFULNL_CFG_CMD_PF_UNBIND/PF_BIND: since Linux 3.17 nft's "log
	 * group" reaches nfnetlink_log by logger type, and rebinding the
	 * per-family default logger would change the host's nf_log setting
	 * for everyone. Kernels that needed it cannot load our ruleset.
	 */
	rc = cfg_send(r, group, NFULA_CFG_CMD, &bind, sizeof(bind));
	if (rc == 0)
		rc = cfg_send(r, group, NFULA_CFG_MODE, &mode, sizeof(mode));
	if (rc == 0)
		rc = cfg_send(r, group, NFULA_CFG_FLAGS, &flags, sizeof(flags));
	if (rc == 0)
		rc = cfg_send(r, group, NFULA_CFG_TIMEOUT, &timeout,
			      sizeof(timeout));
	if (rc < 0)
		goto fail;

	tv.tv_sec = 0;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    (fl = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		rc = -errno;
		goto fail;
	}
	return r;

fail:
	nflog_close(r);
	errno = -rc;
	return NULL;
}

/* ---- the line ---------------------------------------------------------- */

static int put_addr(char *buf, size_t len, int family, const uint8_t *addr,
		    bool has_port, uint16_t port)
{
	char a[INET6_ADDRSTRLEN];

	if (family != AF_INET && family != AF_INET6)
		return snprintf(buf, len, "-");
	if (inet_ntop(family, addr, a, sizeof(a)) == NULL)
		return snprintf(buf, len, "-");
	if (!has_port)
		return snprintf(buf, len, "%s", a);
	if (family == AF_INET6)
		return snprintf(buf, len, "[%s]:%u", a, port);
	return snprintf(buf, len, "%s:%u", a, port);
}

static const char *proto_name(const struct deny_event *ev, char *tmp,
			      size_t len)
{
	if (ev->family == 0)
		return "-";
	switch (ev->proto) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_ICMP:
		return "icmp";
	case IPPROTO_ICMPV6:
		return "icmpv6";
	default:
		snprintf(tmp, len, "%u", ev->proto);
		return tmp;
	}
}

const char *nflog_event_format(const struct deny_event *ev, char *buf,
			       size_t len)
{
	char src[INET6_ADDRSTRLEN + 8], dst[INET6_ADDRSTRLEN + 8], pn[4];
	int n;

	if (buf == NULL || len == 0)
		return NULL;
	put_addr(src, sizeof(src), ev->family, ev->saddr, ev->has_sport,
		 ev->sport);
	put_addr(dst, sizeof(dst), ev->family, ev->daddr, ev->has_dport,
		 ev->dport);
	if (ev->action == NFLOG_ACTION_ACCEPT)
		n = snprintf(buf, len, "accept conduit=%s",
			     ev->conduit ? ev->conduit : "-");
	else
		n = snprintf(buf, len, "deny reason=%s conduit=%s",
			     nflog_reason_name(ev->reason),
			     ev->conduit ? ev->conduit : "-");
	if (n < 0 || (size_t)n >= len)
		return NULL;
	n += snprintf(buf + n, len - (size_t)n,
		      " from=%s to=%s proto=%s src=%s dst=%s packets=%" PRIu64
		      "%s",
		      ev->zone_from ? ev->zone_from : "-",
		      ev->zone_to ? ev->zone_to : "-",
		      proto_name(ev, pn, sizeof(pn)), src, dst, ev->packets,
		      ev->aggregated ? " aggregated=1" : "");
	if (n < 0 || (size_t)n >= len)
		return NULL;
	return buf;
}
