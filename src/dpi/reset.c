/*
 * TCP resets to both ends of a refused segment: the pure packet builder
 * (IPv4/IPv6 + TCP headers with their checksums) and the raw-socket
 * sender a worker owns. Everything is built on the caller's stack.
 */
#include "config.h"

#include "dpi/reset.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"

#define RESET_IP4_HLEN 20
#define RESET_IP6_HLEN 40
#define RESET_TCP_HLEN 20
#define RESET_IP4_DF 0x4000

static void put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static void put32(uint8_t *b, uint32_t v)
{
	put16(b, (uint16_t)(v >> 16));
	put16(b + 2, (uint16_t)v);
}

/* RFC 1071 sum of big-endian 16-bit words, not folded. */
static uint32_t sum16(uint32_t s, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)b[i] << 8 | b[i + 1];
	if (n & 1)
		s += (uint32_t)b[n - 1] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

struct reset_seg {
	const struct pkt_addr *src, *dst;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t window;
	const uint8_t *data; /* TCP payload, NULL with len 0 */
	size_t len;
};

static void put_tcp(uint8_t *t, const struct reset_seg *g)
{
	put16(t, g->sport);
	put16(t + 2, g->dport);
	put32(t + 4, g->seq);
	put32(t + 8, g->ack);
	t[12] = (RESET_TCP_HLEN / 4) << 4;
	t[13] = g->flags;
	put16(t + 14, g->window);
	put16(t + 16, 0); /* checksum, below */
	put16(t + 18, 0); /* urgent pointer */
}

static size_t build4(uint8_t *b, const struct reset_seg *g)
{
	uint8_t *t = b + RESET_IP4_HLEN;
	uint32_t s;

	b[0] = 0x45; /* version 4, 5 words */
	b[1] = 0;
	put16(b + 2, (uint16_t)(RESET_IP4_HLEN + RESET_TCP_HLEN + g->len));
	put16(b + 4, 0); /* id: the kernel picks one for 0 */
	put16(b + 6, RESET_IP4_DF);
	b[8] = RESET_TTL;
	b[9] = IPPROTO_TCP;
	put16(b + 10, 0);
	memcpy(b + 12, g->src->a, 4);
	memcpy(b + 16, g->dst->a, 4);
	put16(b + 10, fold(sum16(0, b, RESET_IP4_HLEN)));

	put_tcp(t, g);
	if (g->len)
		memcpy(t + RESET_TCP_HLEN, g->data, g->len);
	/* pseudo-header: addresses, zero + protocol, TCP length */
	s = sum16(0, b + 12, 8);
	s += IPPROTO_TCP + RESET_TCP_HLEN + (uint32_t)g->len;
	put16(t + 16, fold(sum16(s, t, RESET_TCP_HLEN + g->len)));
	return RESET_IP4_HLEN + RESET_TCP_HLEN + g->len;
}

static size_t build6(uint8_t *b, const struct reset_seg *g)
{
	uint8_t *t = b + RESET_IP6_HLEN;
	uint32_t s;

	put32(b, 6u << 28); /* version, traffic class 0, flow label 0 */
	put16(b + 4, (uint16_t)(RESET_TCP_HLEN + g->len));
	b[6] = IPPROTO_TCP;
	b[7] = RESET_TTL;
	memcpy(b + 8, g->src->a, 16);
	memcpy(b + 24, g->dst->a, 16);

	put_tcp(t, g);
	if (g->len)
		memcpy(t + RESET_TCP_HLEN, g->data, g->len);
	/* pseudo-header: addresses, upper-layer length, next header */
	s = sum16(0, b + 8, 32);
	s += RESET_TCP_HLEN + IPPROTO_TCP + (uint32_t)g->len;
	put16(t + 16, fold(sum16(s, t, RESET_TCP_HLEN + g->len)));
	return RESET_IP6_HLEN + RESET_TCP_HLEN + g->len;
}

static int fail(struct reset_pair *out, int err, const char *why)
{
	out->error = why;
	return err;
}

static int fail_exc(struct reset_exception *out, int err, const char *why)
{
	out->error = why;
	return err;
}

int reset_build(const struct pkt *p, struct reset_pair *out)
{
	struct reset_seg back, fwd;
	size_t (*build)(uint8_t *, const struct reset_seg *);
	uint32_t len;

	out->family = 0;
	out->to_sender_len = out->to_receiver_len = 0;
	out->error = NULL;
	if (p->ip_version != 4 && p->ip_version != 6)
		return fail(out, -EPROTONOSUPPORT,
			    "reset: not an IPv4 or IPv6 packet");
	if (p->fragment)
		return fail(out, -EINVAL,
			    "reset: IP fragment, no TCP header to answer");
	if (p->l4proto != IPPROTO_TCP)
		return fail(out, -EPROTONOSUPPORT,
			    "reset: not TCP (only TCP is reset)");
	if (p->tcp_flags & PKT_TCP_RST)
		return fail(out, -EINVAL,
			    "reset: the refused segment is itself a reset");

	/* sequence space the segment occupies: data, SYN and FIN */
	len = (uint32_t)p->payload_len;
	len += !!(p->tcp_flags & PKT_TCP_SYN) + !!(p->tcp_flags & PKT_TCP_FIN);

	back = (struct reset_seg){
		.src = &p->dst,
		.dst = &p->src,
		.sport = p->dport,
		.dport = p->sport,
		.seq = (p->tcp_flags & PKT_TCP_ACK) ? p->ack : 0,
		.ack = p->seq + len,
		.flags = PKT_TCP_RST | PKT_TCP_ACK,
	};
	fwd = (struct reset_seg){
		.src = &p->src,
		.dst = &p->dst,
		.sport = p->sport,
		.dport = p->dport,
		.seq = p->seq,
		.ack = 0,
		.flags = PKT_TCP_RST,
	};
	build = p->ip_version == 4 ? build4 : build6;
	out->family = p->ip_version;
	out->to_sender_len = build(out->to_sender, &back);
	out->to_receiver_len = build(out->to_receiver, &fwd);
	return 0;
}

int reset_build_exception(const struct pkt *p, const struct reset_modbus *m,
			  struct reset_exception *out)
{
	struct reset_pair r;
	struct reset_seg back;
	uint8_t adu[RESET_MB_EXC_LEN];
	int ret;

	out->family = 0;
	out->to_client_len = out->to_server_len = 0;
	out->error = NULL;
	ret = reset_build(p, &r);
	if (ret < 0) {
		out->error = r.error;
		return ret;
	}
	if (!(p->tcp_flags & PKT_TCP_ACK) ||
	    p->tcp_flags & (PKT_TCP_SYN | PKT_TCP_FIN))
		return fail_exc(out, -EINVAL,
				"modbus exception: the refused segment has "
				"SYN or FIN or no ACK (no server sequence "
				"to answer from)");
	if (m->exception == 0)
		return fail_exc(out, -EINVAL,
				"modbus exception: exception code 0");
	if (p->payload_len != m->pdu_len)
		return fail_exc(out, -EINVAL,
				"modbus exception: the refused segment does "
				"not hold exactly the one refused request");
	put16(adu, m->transaction_id);
	put16(adu + 2, 0); /* protocol */
	put16(adu + 4, 3); /* unit id, function, exception code */
	adu[6] = m->unit_id;
	adu[7] = (uint8_t)(m->function | 0x80);
	adu[8] = m->exception;
	back = (struct reset_seg){
		.src = &p->dst,
		.dst = &p->src,
		.sport = p->dport,
		.dport = p->sport,
		.seq = p->ack,
		.ack = p->seq + (uint32_t)p->payload_len,
		.flags = PKT_TCP_PSH | PKT_TCP_ACK,
		.window = RESET_MB_WINDOW,
		.data = adu,
		.len = sizeof(adu),
	};
	out->family = p->ip_version;
	out->to_client_len =
		(p->ip_version == 4 ? build4 : build6)(out->to_client, &back);
	memcpy(out->to_server, r.to_receiver, r.to_receiver_len);
	out->to_server_len = r.to_receiver_len;
	return 0;
}

/* --- sender ------------------------------------------------------------ */

int reset_open(struct reset_sock *s)
{
	int ret;

	s->open = false;
	s->fd6 = -1;
	s->fd4 = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
			IPPROTO_RAW);
	if (s->fd4 < 0) {
		ret = -errno;
		log_warn("reset: raw IPv4 socket (needs CAP_NET_RAW)");
		return ret;
	}
	s->fd6 = socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
			IPPROTO_RAW);
	if (s->fd6 < 0) {
		ret = -errno;
		if (ret == -EAFNOSUPPORT) {
			s->open = true;
			return 0;
		}
		log_warn("reset: raw IPv6 socket (needs CAP_NET_RAW)");
		close(s->fd4);
		s->fd4 = -1;
		return ret;
	}
	s->open = true;
	return 0;
}

void reset_close(struct reset_sock *s)
{
	if (!s->open)
		return;
	if (s->fd4 >= 0)
		close(s->fd4);
	if (s->fd6 >= 0)
		close(s->fd6);
	s->fd4 = s->fd6 = -1;
	s->open = false;
}

/* One raw packet to the address in its own header. */
static int send_one(const struct reset_sock *s, uint8_t family,
		    const uint8_t *b, size_t len)
{
	ssize_t n;

	if (family == 4) {
		struct sockaddr_in sin = { .sin_family = AF_INET };

		memcpy(&sin.sin_addr, b + 16, 4);
		n = sendto(s->fd4, b, len, MSG_DONTWAIT,
			   (const struct sockaddr *)&sin, sizeof(sin));
	} else {
		/* sin6_port 0: the protocol comes from the header */
		struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };

		if (s->fd6 < 0)
			return -EAFNOSUPPORT;
		memcpy(&sin6.sin6_addr, b + 24, 16);
		n = sendto(s->fd6, b, len, MSG_DONTWAIT,
			   (const struct sockaddr *)&sin6, sizeof(sin6));
	}
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EMSGSIZE;
}

int reset_send(const struct reset_sock *s, const struct pkt *p)
{
	struct reset_pair r;
	int ret, ret2;

	ret = reset_build(p, &r);
	if (ret < 0)
		return ret;
	ret = send_one(s, r.family, r.to_sender, r.to_sender_len);
	ret2 = send_one(s, r.family, r.to_receiver, r.to_receiver_len);
	return ret < 0 ? ret : ret2;
}

int reset_send_exception(const struct reset_sock *s, const struct pkt *p,
			 const struct reset_modbus *m)
{
	struct reset_exception x;
	int ret, ret2;

	if (reset_build_exception(p, m, &x) < 0) {
		ret = reset_send(s, p);
		return ret < 0 ? ret : 1;
	}
	/* the answer first: conntrack still sees an open flow */
	ret = send_one(s, x.family, x.to_client, x.to_client_len);
	ret2 = send_one(s, x.family, x.to_server, x.to_server_len);
	return ret < 0 ? ret : ret2;
}
