/*
 * IPv4 / IPv6 / TCP / UDP header decoding into struct pkt. Lengths in the
 * headers are checked against the captured bytes and used to trim, so link
 * padding is never mistaken for payload. IP fragments are flagged, not
 * reassembled: inline, conntrack defragments before NFQUEUE.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "dpi/pkt.h"
#include "dpi/proto/cursor.h"

#define IPV6_HDR_LEN 40
#define IPV6_MAX_EXT 8 /* extension headers walked before giving up */

static int bad(struct pkt *p, const char *why)
{
	p->error = why;
	return -EBADMSG;
}

/* Copy the next n bytes out (addresses); zeroes when short. */
static void take(struct cur *c, uint8_t *dst, size_t n)
{
	struct cur s = cur_sub(c, n);

	if (cur_ok(&s))
		memcpy(dst, s.p, n);
}

/*
 * A fixed-size header is read through a cursor of exactly its size when
 * the packet holds it (the common case: every bounds check folds to a
 * constant), else through the packet's cursor, so that a truncated
 * header still sets the fields before the cut and fails the same way.
 */
#define FIXED_HDR(c, n, read)                              \
	do {                                               \
		if (cur_left(c) >= (n)) {                  \
			struct cur h_ = cur_sub((c), (n)); \
			read(&h_);                         \
		} else {                                   \
			read(c);                           \
		}                                          \
	} while (0)

static inline __attribute__((always_inline)) uint8_t tcp_fields(struct pkt *p,
								struct cur *c)
{
	uint8_t off;

	p->sport = cur_be16(c);
	p->dport = cur_be16(c);
	p->seq = cur_be32(c);
	p->ack = cur_be32(c);
	off = cur_u8(c);
	p->tcp_flags = cur_u8(c);
	p->window = cur_be16(c);
	cur_skip(c, 4); /* checksum, urgent pointer */
	return off;
}

static inline __attribute__((always_inline)) uint16_t udp_fields(struct pkt *p,
								 struct cur *c)
{
	uint16_t ulen;

	p->sport = cur_be16(c);
	p->dport = cur_be16(c);
	ulen = cur_be16(c);
	cur_skip(c, 2);
	return ulen;
}

struct v4_fixed {
	uint8_t vihl, proto;
	uint16_t total, frag;
};

static inline __attribute__((always_inline)) void
v4_fields(struct pkt *p, struct cur *c, struct v4_fixed *h)
{
	h->vihl = cur_u8(c);
	cur_skip(c, 1); /* DSCP/ECN */
	h->total = cur_be16(c);
	cur_skip(c, 2); /* identification */
	h->frag = cur_be16(c);
	p->ttl = cur_u8(c);
	h->proto = cur_u8(c);
	cur_skip(c, 2); /* checksum: tshark does not check it either */
	p->src.family = p->dst.family = 4;
	take(c, p->src.a, 4);
	take(c, p->dst.a, 4);
}

static int decode_l4(struct pkt *p, struct cur *c)
{
	if (p->fragment)
		return 0;
	if (p->l4proto == IPPROTO_TCP) {
		uint8_t off = 0;

#define READ_TCP(cc) (off = tcp_fields(p, (cc)))
		FIXED_HDR(c, 20, READ_TCP);
#undef READ_TCP
		if (!cur_ok(c))
			return bad(p, "TCP header truncated");
		if ((off >> 4) < 5)
			return bad(p, "TCP data offset below 5");
		cur_skip(c, (size_t)((off >> 4) - 5) * 4);
		if (!cur_ok(c))
			return bad(p, "TCP options truncated");
	} else if (p->l4proto == IPPROTO_UDP) {
		uint16_t ulen = 0;

#define READ_UDP(cc) (ulen = udp_fields(p, (cc)))
		FIXED_HDR(c, 8, READ_UDP);
#undef READ_UDP
		if (!cur_ok(c))
			return bad(p, "UDP header truncated");
		if (ulen < 8)
			return bad(p, "UDP length below 8");
		if ((size_t)ulen - 8 > cur_left(c))
			return bad(p, "UDP length beyond captured data");
		c->len = c->off + (ulen - 8u);
	} else {
		return 0;
	}
	p->payload = c->p + c->off;
	p->payload_len = cur_left(c);
	return 0;
}

static int decode_v4(struct pkt *p, struct cur *c)
{
	struct v4_fixed h = { 0 };
	uint8_t vihl, proto;
	uint16_t total, frag;
	size_t hlen;

#define READ_V4(cc) v4_fields(p, (cc), &h)
	FIXED_HDR(c, 20, READ_V4);
#undef READ_V4
	vihl = h.vihl;
	proto = h.proto;
	total = h.total;
	frag = h.frag;
	if (!cur_ok(c))
		return bad(p, "IPv4 header truncated");
	p->l4proto = proto;
	hlen = (size_t)(vihl & 0x0f) * 4;
	if (hlen < 20)
		return bad(p, "IPv4 header length below 20");
	if (total < hlen)
		return bad(p, "IPv4 total length below header length");
	if (total > c->len)
		return bad(p, "IPv4 total length beyond captured data");
	c->len = total; /* drop link padding */
	p->l3_len = total;
	cur_skip(c, hlen - 20); /* options */
	if (!cur_ok(c))
		return bad(p, "IPv4 options truncated");
	p->fragment = (frag & 0x3fff) != 0; /* MF or an offset */
	return decode_l4(p, c);
}

static int decode_v6(struct pkt *p, struct cur *c)
{
	uint16_t plen;
	uint8_t nh;

	cur_skip(c, 4); /* version, class, flow label */
	plen = cur_be16(c);
	nh = cur_u8(c);
	p->ttl = cur_u8(c);
	p->src.family = p->dst.family = 6;
	take(c, p->src.a, 16);
	take(c, p->dst.a, 16);
	if (!cur_ok(c))
		return bad(p, "IPv6 header truncated");
	if (plen == 0)
		return bad(p, "IPv6 jumbogram or zero payload length");
	if (plen > cur_left(c))
		return bad(p, "IPv6 payload length beyond captured data");
	c->len = c->off + plen;
	p->l3_len = c->len;
	for (int i = 0;; i++) {
		uint8_t next, hl;
		uint16_t fo;

		p->l4proto = nh;
		switch (nh) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			next = cur_u8(c);
			hl = cur_u8(c);
			cur_skip(c, (size_t)hl * 8 + 6);
			break;
		case IPPROTO_AH:
			next = cur_u8(c);
			hl = cur_u8(c);
			cur_skip(c, (size_t)(hl + 2) * 4 - 2);
			break;
		case IPPROTO_FRAGMENT:
			next = cur_u8(c);
			cur_skip(c, 1);
			fo = cur_be16(c);
			cur_skip(c, 4);
			if ((fo & 0xfff9) != 0) /* offset or M set */
				p->fragment = true;
			break;
		default:
			return decode_l4(p, c);
		}
		if (!cur_ok(c))
			return bad(p, "IPv6 extension header truncated");
		if (i == IPV6_MAX_EXT)
			return bad(p, "too many IPv6 extension headers");
		nh = next;
		if (p->fragment) {
			p->l4proto = nh;
			return 0;
		}
	}
}

int pkt_decode_ip(struct pkt *p, const uint8_t *buf, size_t len)
{
	struct cur c = cur_init(buf, len);
	uint8_t n_vlan = p->n_vlan;
	uint16_t vlan[PKT_MAX_VLAN];

	memcpy(vlan, p->vlan, sizeof(vlan));
	memset(p, 0, sizeof(*p));
	p->n_vlan = n_vlan;
	memcpy(p->vlan, vlan, sizeof(vlan));
	p->l3 = buf;
	p->l3_len = len;
	if (len < 1)
		return bad(p, "empty packet");
	p->ip_version = buf[0] >> 4;
	if (p->ip_version == 4)
		return decode_v4(p, &c);
	if (p->ip_version == 6)
		return decode_v6(p, &c);
	p->error = "not IPv4 or IPv6";
	return -EPROTONOSUPPORT;
}

char *pkt_addr_port_str(const struct pkt_addr *a, uint16_t port, char *buf,
			size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (a->family == 6) {
		inet_ntop(AF_INET6, a->a, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, port);
	} else {
		inet_ntop(AF_INET, a->a, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, port);
	}
	return buf;
}
