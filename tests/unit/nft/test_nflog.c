/*
 * nft/nflog: the NFULNL_MSG_PACKET parser on hand-built messages (good,
 * truncated, lying lengths), the aggregation with an injected clock, the
 * exact log line, the fuzz seeds, and one end-to-end run against the
 * kernel in a private network namespace.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>

#include "common/diag.h"
#include "nft/nflog.h"
#include "policy/model.h"

/* ---- builders ---------------------------------------------------------- */

struct msg {
	_Alignas(8) uint8_t buf[2048];
	size_t len;
};

struct pkt_opts {
	const char *prefix; /* NULL: no NFULA_PREFIX */
	uint8_t nfgen_family;
	uint16_t hw_protocol; /* 0: no NFULA_PACKET_HDR */
	uint32_t indev, outdev;
	int seq;	     /* < 0: no NFULA_SEQ */
	const void *payload; /* NULL: no NFULA_PAYLOAD */
	size_t plen;
};

static void build_msg(struct msg *m, const struct pkt_opts *o)
{
	struct nlmsghdr *nlh;
	struct nfgenmsg *nfg;

	memset(m->buf, 0, sizeof(m->buf));
	nlh = mnl_nlmsg_put_header(m->buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = o->nfgen_family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = htons(9);
	if (o->hw_protocol) {
		struct nfulnl_msg_packet_hdr ph = {
			.hw_protocol = htons(o->hw_protocol),
			.hook = 3,
		};

		mnl_attr_put(nlh, NFULA_PACKET_HDR, sizeof(ph), &ph);
	}
	if (o->prefix)
		mnl_attr_put_strz(nlh, NFULA_PREFIX, o->prefix);
	if (o->indev)
		mnl_attr_put_u32(nlh, NFULA_IFINDEX_INDEV, htonl(o->indev));
	if (o->outdev)
		mnl_attr_put_u32(nlh, NFULA_IFINDEX_OUTDEV, htonl(o->outdev));
	if (o->seq >= 0)
		mnl_attr_put_u32(nlh, NFULA_SEQ, htonl((uint32_t)o->seq));
	if (o->payload) /* last, as the kernel puts it */
		cr_assert(mnl_attr_put_check(nlh, sizeof(m->buf), NFULA_PAYLOAD,
					     o->plen, o->payload));
	m->len = nlh->nlmsg_len;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* IPv4 header + l4 bytes; returns the length. */
static size_t ip4(uint8_t *b, uint8_t proto, const char *src, const char *dst,
		  const uint8_t *l4, size_t l4len)
{
	memset(b, 0, 20);
	b[0] = 0x45;
	put16(b + 2, (uint16_t)(20 + l4len));
	b[8] = 64;
	b[9] = proto;
	cr_assert_eq(inet_pton(AF_INET, src, b + 12), 1);
	cr_assert_eq(inet_pton(AF_INET, dst, b + 16), 1);
	memcpy(b + 20, l4, l4len);
	return 20 + l4len;
}

/* IPv6 header + ext (already chained, first next header nh) + l4. */
static size_t ip6(uint8_t *b, uint8_t nh, const char *src, const char *dst,
		  const uint8_t *ext, size_t extlen, const uint8_t *l4,
		  size_t l4len)
{
	memset(b, 0, 40);
	b[0] = 0x60;
	put16(b + 4, (uint16_t)(extlen + l4len));
	b[6] = nh;
	b[7] = 64;
	cr_assert_eq(inet_pton(AF_INET6, src, b + 8), 1);
	cr_assert_eq(inet_pton(AF_INET6, dst, b + 24), 1);
	if (extlen)
		memcpy(b + 40, ext, extlen);
	if (l4len)
		memcpy(b + 40 + extlen, l4, l4len);
	return 40 + extlen + l4len;
}

static const uint8_t tcp_40000_502[20] = { 0x9c, 0x40, 0x01, 0xf6, 0, 0,
					   0,	 1,    0,    0,	   0, 0,
					   0x50, 0x02, 0xff, 0xff };
static const uint8_t udp_40000_20011[8] = { 0x9c, 0x40, 0x4e, 0x2b, 0, 8, 0, 0 };
static const uint8_t icmp_echo[8] = { 8, 0, 0, 0, 0x12, 0x34, 0, 1 };
static const uint8_t icmp6_echo[8] = { 128, 0, 0, 0, 0x12, 0x34, 0, 1 };

/* The seed messages, shared by the parser tests and the fuzz corpus. */
static void seed_v4_tcp(struct msg *m)
{
	uint8_t p[64];
	size_t n = ip4(p, IPPROTO_TCP, "198.18.10.2", "198.18.30.10",
		       tcp_40000_502, sizeof(tcp_40000_502));

	build_msg(m, &(struct pkt_opts){ .prefix = "cd:deny:no-conduit",
					 .nfgen_family = AF_INET,
					 .hw_protocol = 0x0800,
					 .indev = 3,
					 .outdev = 4,
					 .seq = 0,
					 .payload = p,
					 .plen = n });
}

static void seed_v4_udp_conduit(struct msg *m)
{
	uint8_t p[64];
	size_t n = ip4(p, IPPROTO_UDP, "198.18.10.2", "198.18.20.5",
		       udp_40000_20011, sizeof(udp_40000_20011));

	build_msg(m, &(struct pkt_opts){
			     .prefix = "cd:deny:conduit:ops-to-historian",
			     .nfgen_family = AF_INET,
			     .hw_protocol = 0x0800,
			     .indev = 3,
			     .outdev = 5,
			     .seq = 1,
			     .payload = p,
			     .plen = n });
}

static void seed_v4_icmp(struct msg *m)
{
	uint8_t p[64];
	size_t n = ip4(p, IPPROTO_ICMP, "198.18.10.2", "198.18.30.10",
		       icmp_echo, sizeof(icmp_echo));

	build_msg(m, &(struct pkt_opts){ .prefix = "cd:deny:no-zone",
					 .nfgen_family = AF_INET,
					 .hw_protocol = 0x0800,
					 .indev = 3,
					 .seq = -1,
					 .payload = p,
					 .plen = n });
}

/* hop-by-hop (8 bytes) -> destination options (16 bytes) -> TCP */
static void seed_v6_tcp_ext(struct msg *m)
{
	uint8_t ext[24] = { IPPROTO_DSTOPTS, 0, 1, 4, 0, 0, 0, 0,
			    IPPROTO_TCP,     1, 1, 12 };
	uint8_t p[128];
	size_t n = ip6(p, IPPROTO_HOPOPTS, "2001:db8:10::2", "2001:db8:30::10",
		       ext, sizeof(ext), tcp_40000_502, sizeof(tcp_40000_502));

	build_msg(m, &(struct pkt_opts){ .prefix = "cd:deny:no-conduit",
					 .nfgen_family = AF_INET6,
					 .hw_protocol = 0x86dd,
					 .indev = 3,
					 .outdev = 4,
					 .seq = 2,
					 .payload = p,
					 .plen = n });
}

static void seed_v6_udp(struct msg *m)
{
	uint8_t p[128];
	size_t n = ip6(p, IPPROTO_UDP, "2001:db8:10::2", "2001:db8:20::5", NULL,
		       0, udp_40000_20011, sizeof(udp_40000_20011));

	build_msg(m, &(struct pkt_opts){
			     .prefix = "cd:deny:conduit:ops-to-historian",
			     .nfgen_family = AF_INET6,
			     .hw_protocol = 0x86dd,
			     .indev = 3,
			     .outdev = 5,
			     .seq = 3,
			     .payload = p,
			     .plen = n });
}

/* a non-first fragment: no L4 header to read */
static void seed_v6_frag(struct msg *m)
{
	uint8_t ext[8] = { IPPROTO_UDP, 0, 0x05, 0xa9, 0, 0, 0, 7 };
	uint8_t p[128];
	size_t n = ip6(p, IPPROTO_FRAGMENT, "2001:db8:10::2", "2001:db8:20::5",
		       ext, sizeof(ext), udp_40000_20011,
		       sizeof(udp_40000_20011));

	build_msg(m, &(struct pkt_opts){ .prefix = "cd:deny:invalid",
					 .nfgen_family = AF_INET6,
					 .hw_protocol = 0x86dd,
					 .indev = 3,
					 .seq = -1,
					 .payload = p,
					 .plen = n });
}

static void seed_v6_icmpv6(struct msg *m)
{
	uint8_t p[128];
	size_t n = ip6(p, IPPROTO_ICMPV6, "2001:db8:10::2", "2001:db8:30::10",
		       NULL, 0, icmp6_echo, sizeof(icmp6_echo));

	build_msg(m, &(struct pkt_opts){ .prefix = "cd:deny:island",
					 .nfgen_family = AF_INET6,
					 .hw_protocol = 0x86dd,
					 .indev = 3,
					 .seq = -1,
					 .payload = p,
					 .plen = n });
}

static void seed_accept(struct msg *m)
{
	uint8_t p[64];
	size_t n = ip4(p, IPPROTO_TCP, "198.18.20.5", "198.18.30.10",
		       tcp_40000_502, sizeof(tcp_40000_502));

	build_msg(m, &(struct pkt_opts){ .prefix = "cd:accept:historian-poll",
					 .nfgen_family = AF_INET,
					 .hw_protocol = 0x0800,
					 .indev = 5,
					 .outdev = 4,
					 .seq = -1,
					 .payload = p,
					 .plen = n });
}

/* TCP header cut after 2 bytes, as a short copy range would */
static void seed_trunc_l4(struct msg *m)
{
	uint8_t p[64];
	size_t n = ip4(p, IPPROTO_TCP, "198.18.10.2", "198.18.30.10",
		       tcp_40000_502, sizeof(tcp_40000_502));

	build_msg(m, &(struct pkt_opts){ .prefix = "cd:deny:input",
					 .nfgen_family = AF_INET,
					 .hw_protocol = 0x0800,
					 .indev = 3,
					 .seq = -1,
					 .payload = p,
					 .plen = n - 18 });
}

/* the first attribute claims more bytes than the message has */
static void seed_bad_attr_len(struct msg *m)
{
	seed_v4_tcp(m);
	((struct nlattr *)(m->buf + MNL_NLMSG_HDRLEN +
			   MNL_ALIGN(sizeof(struct nfgenmsg))))
		->nla_len = 0x7ff0;
}

/* nlmsg_len above 2 GiB: passes a signed length check (found by fuzzing) */
static void seed_huge_len(struct msg *m)
{
	seed_v4_tcp(m);
	((struct nlmsghdr *)m->buf)->nlmsg_len = 0xdd860078u;
}

/* two packets and NLMSG_DONE in one datagram, as the kernel batches them */
static void seed_batch(struct msg *m)
{
	struct msg a, b;
	struct nlmsghdr *done;

	seed_v4_tcp(&a);
	seed_v6_udp(&b);
	memset(m->buf, 0, sizeof(m->buf));
	memcpy(m->buf, a.buf, a.len);
	((struct nlmsghdr *)m->buf)->nlmsg_flags = NLM_F_MULTI;
	memcpy(m->buf + a.len, b.buf, b.len);
	((struct nlmsghdr *)(m->buf + a.len))->nlmsg_flags = NLM_F_MULTI;
	done = (struct nlmsghdr *)(m->buf + a.len + b.len);
	done->nlmsg_len = MNL_NLMSG_HDRLEN;
	done->nlmsg_type = NLMSG_DONE;
	done->nlmsg_flags = NLM_F_MULTI;
	m->len = a.len + b.len + MNL_NLMSG_HDRLEN;
}

static const struct seed {
	const char *name;
	void (*build)(struct msg *m);
} seeds[] = {
	{ "v4-tcp", seed_v4_tcp },
	{ "v4-udp-conduit", seed_v4_udp_conduit },
	{ "v4-icmp", seed_v4_icmp },
	{ "v6-tcp-ext", seed_v6_tcp_ext },
	{ "v6-udp", seed_v6_udp },
	{ "v6-frag", seed_v6_frag },
	{ "v6-icmpv6", seed_v6_icmpv6 },
	{ "accept", seed_accept },
	{ "trunc-l4", seed_trunc_l4 },
	{ "bad-attr-len", seed_bad_attr_len },
	{ "huge-len", seed_huge_len },
	{ "batch", seed_batch },
};

/* ---- event sink -------------------------------------------------------- */

#define SINK_MAX 32

struct sink {
	int n;
	struct deny_event ev[SINK_MAX];
	char line[SINK_MAX][NFLOG_LINE_MAX];
	char names[SINK_MAX][3][POL_NAME_MAX + 1];
};

/* the event's strings are borrowed for the callback only: keep copies */
static const char *keep(char *dst, const char *src)
{
	if (src == NULL)
		return NULL;
	cr_assert_leq(strlen(src), POL_NAME_MAX);
	return strcpy(dst, src);
}

static void collect(const struct deny_event *ev, void *arg)
{
	struct sink *s = arg;
	struct deny_event *e;

	cr_assert_lt(s->n, SINK_MAX);
	e = &s->ev[s->n];
	*e = *ev;
	e->conduit = keep(s->names[s->n][0], ev->conduit);
	e->zone_from = keep(s->names[s->n][1], ev->zone_from);
	e->zone_to = keep(s->names[s->n][2], ev->zone_to);
	cr_assert_not_null(
		nflog_event_format(ev, s->line[s->n], sizeof(s->line[s->n])));
	s->n++;
}

static void pkt_from(void (*build)(struct msg *m), struct nflog_pkt *pkt)
{
	struct msg m;

	build(&m);
	cr_assert_eq(nflog_parse_msg(m.buf, m.len, pkt), 0);
}

static void addr(int family, const char *s, uint8_t *out)
{
	memset(out, 0, 16);
	cr_assert_eq(inet_pton(family, s, out), 1);
}

/* ---- parser: good messages --------------------------------------------- */

/* NDR 5.2 RE(1) */
Test(nflog_parse, ipv4_tcp)
{
	struct nflog_pkt pkt;
	uint8_t a[16];

	pkt_from(seed_v4_tcp, &pkt);
	cr_assert_eq(pkt.action, NFLOG_ACTION_DENY);
	cr_assert_eq(pkt.reason, NFLOG_REASON_NO_CONDUIT);
	cr_assert_str_empty(pkt.conduit);
	cr_assert_eq(pkt.family, AF_INET);
	cr_assert_eq(pkt.proto, IPPROTO_TCP);
	cr_assert_eq(pkt.indev, 3);
	cr_assert_eq(pkt.outdev, 4);
	cr_assert_str_empty(pkt.indev_name); /* the pure parser does no I/O */
	cr_assert_eq(pkt.hw_protocol, 0x0800);
	cr_assert(pkt.has_seq);
	cr_assert_eq(pkt.seq, 0);
	addr(AF_INET, "198.18.10.2", a);
	cr_assert_arr_eq(pkt.saddr, a, 4);
	addr(AF_INET, "198.18.30.10", a);
	cr_assert_arr_eq(pkt.daddr, a, 4);
	cr_assert(pkt.has_ports);
	cr_assert_eq(pkt.sport, 40000);
	cr_assert_eq(pkt.dport, 502);
	cr_assert_eq(pkt.icmp_type, -1);
	cr_assert_not(pkt.l4_truncated);
	cr_assert_not(pkt.fragment);
}

/* NDR 5.2 RE(1) */
Test(nflog_parse, ipv4_udp_conduit_prefix)
{
	struct nflog_pkt pkt;

	pkt_from(seed_v4_udp_conduit, &pkt);
	cr_assert_eq(pkt.reason, NFLOG_REASON_CONDUIT);
	cr_assert_str_eq(pkt.conduit, "ops-to-historian");
	cr_assert_eq(pkt.proto, IPPROTO_UDP);
	cr_assert_eq(pkt.sport, 40000);
	cr_assert_eq(pkt.dport, 20011);
}

/* NDR 5.2 RE(1) */
Test(nflog_parse, ipv4_icmp)
{
	struct nflog_pkt pkt;

	pkt_from(seed_v4_icmp, &pkt);
	cr_assert_eq(pkt.reason, NFLOG_REASON_NO_ZONE);
	cr_assert_eq(pkt.proto, IPPROTO_ICMP);
	cr_assert_not(pkt.has_ports);
	cr_assert_eq(pkt.icmp_type, 8);
	cr_assert_eq(pkt.icmp_code, 0);
	cr_assert_not(pkt.has_seq);
	cr_assert_eq(pkt.outdev, 0);
}

/* NDR 5.2 RE(1) */
Test(nflog_parse, ipv6_tcp_after_extension_headers)
{
	struct nflog_pkt pkt;
	uint8_t a[16];

	pkt_from(seed_v6_tcp_ext, &pkt);
	cr_assert_eq(pkt.family, AF_INET6);
	cr_assert_eq(pkt.proto, IPPROTO_TCP);
	cr_assert(pkt.has_ports);
	cr_assert_eq(pkt.sport, 40000);
	cr_assert_eq(pkt.dport, 502);
	addr(AF_INET6, "2001:db8:10::2", a);
	cr_assert_arr_eq(pkt.saddr, a, 16);
	addr(AF_INET6, "2001:db8:30::10", a);
	cr_assert_arr_eq(pkt.daddr, a, 16);
}

/* NDR 5.2 RE(1) */
Test(nflog_parse, ipv6_udp_and_icmpv6)
{
	struct nflog_pkt pkt;

	pkt_from(seed_v6_udp, &pkt);
	cr_assert_eq(pkt.proto, IPPROTO_UDP);
	cr_assert_eq(pkt.dport, 20011);
	pkt_from(seed_v6_icmpv6, &pkt);
	cr_assert_eq(pkt.reason, NFLOG_REASON_ISLAND);
	cr_assert_eq(pkt.proto, IPPROTO_ICMPV6);
	cr_assert_eq(pkt.icmp_type, 128);
	cr_assert_not(pkt.has_ports);
}

/* CR 3.5 */
Test(nflog_parse, fragments_have_no_ports)
{
	uint8_t p[64], ext[8] = { IPPROTO_UDP, 0, 0, 0, 0, 0, 0, 7 };
	struct nflog_pkt pkt;
	struct msg m;
	size_t n;

	pkt_from(seed_v6_frag, &pkt);
	cr_assert(pkt.fragment);
	cr_assert_eq(pkt.proto, IPPROTO_UDP);
	cr_assert_not(pkt.has_ports);

	/* the first fragment (offset 0) still carries the UDP header */
	n = ip6(p, IPPROTO_FRAGMENT, "2001:db8::1", "2001:db8::2", ext,
		sizeof(ext), udp_40000_20011, sizeof(udp_40000_20011));
	build_msg(&m, &(struct pkt_opts){ .prefix = "cd:deny:invalid",
					  .seq = -1,
					  .payload = p,
					  .plen = n });
	cr_assert_eq(nflog_parse_msg(m.buf, m.len, &pkt), 0);
	cr_assert_not(pkt.fragment);
	cr_assert(pkt.has_ports);
	cr_assert_eq(pkt.dport, 20011);

	/* an IPv4 non-first fragment */
	n = ip4(p, IPPROTO_UDP, "198.18.10.2", "198.18.20.5", udp_40000_20011,
		sizeof(udp_40000_20011));
	put16(p + 6, 0x00b9);
	build_msg(&m, &(struct pkt_opts){ .prefix = "cd:deny:invalid",
					  .seq = -1,
					  .payload = p,
					  .plen = n });
	cr_assert_eq(nflog_parse_msg(m.buf, m.len, &pkt), 0);
	cr_assert(pkt.fragment);
	cr_assert_not(pkt.has_ports);
}

/* NDR 5.2 RE(1) */
Test(nflog_parse, prefixes)
{
	static const struct {
		const char *prefix;
		int rc;
		enum nflog_action action;
		enum nflog_reason reason;
		const char *conduit;
	} cases[] = {
#define DENY(p, r, c) { p, 0, NFLOG_ACTION_DENY, NFLOG_REASON_##r, c }
#define BAD(p)                         \
	{                              \
		p, -EPROTO, 0, 0, NULL \
	}
		DENY("cd:deny:no-conduit", NO_CONDUIT, ""),
		DENY("cd:deny:conduit:ops-to-historian", CONDUIT,
		     "ops-to-historian"),
		DENY("cd:deny:no-zone", NO_ZONE, ""),
		DENY("cd:deny:revoked", REVOKED, ""),
		DENY("cd:deny:revoked:old_link", REVOKED, "old_link"),
		DENY("cd:deny:invalid", INVALID, ""),
		DENY("cd:deny:island", ISLAND, ""),
		DENY("cd:deny:input", INPUT, ""),
		{ "cd:accept:historian-poll", 0, NFLOG_ACTION_ACCEPT,
		  NFLOG_REASON_NONE, "historian-poll" },
		BAD("cd:deny:conduit"),
		BAD("cd:deny:conduit:"),
		BAD("cd:deny:conduit:Bad Name"),
		BAD("cd:deny:conduit:a-name-that-is-longer-than-32-chars"),
		BAD("cd:deny:overflow"),
		BAD("cd:deny:no-conduitx"),
		BAD("cd:deny:"),
		BAD("cd:accept:"),
		BAD("cd:accept"),
		BAD("DROP: "),
		BAD(""),
#undef DENY
#undef BAD
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nflog_pkt pkt;

		memset(&pkt, 0, sizeof(pkt));
		cr_assert_eq(nflog_parse_prefix(cases[i].prefix, &pkt),
			     cases[i].rc, "%s", cases[i].prefix);
		if (cases[i].rc != 0)
			continue;
		cr_assert_eq(pkt.action, cases[i].action, "%s",
			     cases[i].prefix);
		cr_assert_eq(pkt.reason, cases[i].reason, "%s",
			     cases[i].prefix);
		cr_assert_str_eq(pkt.conduit, cases[i].conduit);
	}
}

/* ---- parser: malformed input ------------------------------------------- */

/* CR 3.5 */
Test(nflog_malformed, netlink_lengths)
{
	struct nflog_pkt pkt;
	struct msg m;

	seed_v4_tcp(&m);
	cr_assert_eq(nflog_parse_msg(NULL, 64, &pkt), -EINVAL);
	/* every cut of a good message is rejected, none is read past */
	for (size_t len = 0; len < m.len; len++)
		cr_assert_eq(nflog_parse_msg(m.buf, len, &pkt), -EINVAL,
			     "len %zu", len);
	cr_assert_eq(nflog_parse_msg(m.buf, m.len, &pkt), 0);

	/* an unaligned nlmsg_len in a buffer of exactly that size: the last
	 * attribute overruns the message and nothing is read past it */
	{
		uint32_t *exact = malloc(m.len - 1);

		memcpy(exact, m.buf, m.len - 1);
		((struct nlmsghdr *)exact)->nlmsg_len = (uint32_t)m.len - 1;
		cr_assert_eq(nflog_parse_msg(exact, m.len - 1, &pkt), -EINVAL);
		free(exact);
	}

	((struct nlmsghdr *)m.buf)->nlmsg_len = 8;
	cr_assert_eq(nflog_parse_msg(m.buf, m.len, &pkt), -EINVAL);
	/* room for the header but not for struct nfgenmsg */
	((struct nlmsghdr *)m.buf)->nlmsg_len = MNL_NLMSG_HDRLEN + 2;
	cr_assert_eq(nflog_parse_msg(m.buf, m.len, &pkt), -EINVAL);
}

/* CR 3.5 */
Test(nflog_malformed, attribute_lengths)
{
	struct nflog_pkt pkt;
	struct msg m;
	struct nlattr *a;

	seed_bad_attr_len(&m);
	cr_assert_eq(nflog_parse_msg(m.buf, m.len, &pkt), -EINVAL);

	/* an attribute shorter than its own header */
	seed_v4_tcp(&m);
	a = (struct nlattr *)(m.buf + MNL_NLMSG_HDRLEN + 4);
	a->nla_len = 2;
	cr_assert_eq(nflog_parse_msg(m.buf, m.len, &pkt), -EINVAL);

	/* an ifindex of 2 bytes: find NFULA_IFINDEX_INDEV and shrink it */
	seed_v4_tcp(&m);
	mnl_attr_for_each(a, (struct nlmsghdr *)m.buf,
			  sizeof(struct nfgenmsg)) if (mnl_attr_get_type(a) ==
						       NFULA_IFINDEX_INDEV)
		a->nla_len = MNL_ATTR_HDRLEN + 2;
	cr_assert_eq(nflog_parse_msg(m.buf, m.len, &pkt), -EINVAL);

	/* a prefix without its NUL */
	seed_v4_tcp(&m);
	mnl_attr_for_each(a, (struct nlmsghdr *)m.buf,
			  sizeof(struct nfgenmsg)) if (mnl_attr_get_type(a) ==
						       NFULA_PREFIX)
		a->nla_len--;
	cr_assert_eq(nflog_parse_msg(m.buf, m.len, &pkt), -EINVAL);

	/* a packet header too short */
	seed_v4_tcp(&m);
	mnl_attr_for_each(a, (struct nlmsghdr *)m.buf,
			  sizeof(struct nfgenmsg)) if (mnl_attr_get_type(a) ==
						       NFULA_PACKET_HDR)
		a->nla_len = MNL_ATTR_HDRLEN + 2;
	cr_assert_eq(nflog_parse_msg(m.buf, m.len, &pkt), -EINVAL);

	/* unknown attribute types from a newer kernel are skipped */
	seed_v4_tcp(&m);
	mnl_attr_put_u32((struct nlmsghdr *)m.buf, NFULA_MAX + 5, 42);
	m.len = ((struct nlmsghdr *)m.buf)->nlmsg_len;
	cr_assert_eq(nflog_parse_msg(m.buf, m.len, &pkt), 0);
}

/* CR 3.5 */
Test(nflog_malformed, other_messages)
{
	struct nflog_pkt pkt;
	struct msg m;

	seed_v4_tcp(&m);
	((struct nlmsghdr *)m.buf)->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) |
						 NFULNL_MSG_CONFIG;
	cr_assert_eq(nflog_parse_msg(m.buf, m.len, &pkt), -ENOMSG);
	((struct nlmsghdr *)m.buf)->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) |
						 NFULNL_MSG_PACKET;
	cr_assert_eq(nflog_parse_msg(m.buf, m.len, &pkt), -ENOMSG);
	((struct nlmsghdr *)m.buf)->nlmsg_type = NLMSG_DONE;
	cr_assert_eq(nflog_parse_msg(m.buf, m.len, &pkt), -ENOMSG);
}

/* CR 3.5 */
Test(nflog_malformed, prefix_missing_or_foreign)
{
	uint8_t p[64];
	size_t n = ip4(p, IPPROTO_TCP, "198.18.10.2", "198.18.30.10",
		       tcp_40000_502, sizeof(tcp_40000_502));
	struct nflog_pkt pkt;
	struct msg m;

	build_msg(&m,
		  &(struct pkt_opts){
			  .prefix = NULL, .seq = 7, .payload = p, .plen = n });
	cr_assert_eq(nflog_parse_msg(m.buf, m.len, &pkt), -EPROTO);
	cr_assert(pkt.has_seq); /* still known: a skipped packet is no loss */
	build_msg(&m, &(struct pkt_opts){ .prefix = "IN=eth0 ",
					  .seq = -1,
					  .payload = p,
					  .plen = n });
	cr_assert_eq(nflog_parse_msg(m.buf, m.len, &pkt), -EPROTO);
}

/* CR 3.5 */
Test(nflog_malformed, packet_bytes)
{
	uint8_t p[128], q[128];
	size_t n = ip4(p, IPPROTO_TCP, "198.18.10.2", "198.18.30.10",
		       tcp_40000_502, sizeof(tcp_40000_502));
	struct nflog_pkt pkt;
	struct msg m;

#define EXPECT(rc_, payload_, plen_, ...)                                    \
	do {                                                                 \
		build_msg(&m, &(struct pkt_opts){ .prefix = "cd:deny:input", \
						  .seq = -1,                 \
						  .payload = (payload_),     \
						  .plen = (plen_),           \
						  __VA_ARGS__ });            \
		cr_assert_eq(nflog_parse_msg(m.buf, m.len, &pkt), (rc_),     \
			     "line %d", __LINE__);                           \
	} while (0)

	EXPECT(-EBADMSG, NULL, 0); /* no NFULA_PAYLOAD */
	EXPECT(-EBADMSG, p, 0);	   /* empty payload */
	EXPECT(-EBADMSG, p, 19);   /* short IPv4 header */
	memcpy(q, p, n);
	q[0] = 0x44; /* ihl 16 bytes */
	EXPECT(-EBADMSG, q, n);
	q[0] = 0x4f; /* ihl 60 bytes > captured 40 */
	EXPECT(-EBADMSG, q, n);
	memcpy(q, p, n);
	put16(q + 2, 12); /* tot_len below the header */
	EXPECT(-EBADMSG, q, n);
	q[0] = 0x55; /* version 5 */
	EXPECT(-EBADMSG, q, n);
	/* the hook family or L2 protocol says IPv6, the bytes say IPv4 */
	EXPECT(-EBADMSG, p, n, .nfgen_family = AF_INET6);
	EXPECT(-EBADMSG, p, n, .hw_protocol = 0x86dd);
	EXPECT(0, p, n, .nfgen_family = NFPROTO_BRIDGE, .hw_protocol = 0x0806);

	n = ip6(q, IPPROTO_TCP, "2001:db8::1", "2001:db8::2", NULL, 0,
		tcp_40000_502, sizeof(tcp_40000_502));
	EXPECT(-EBADMSG, q, 39); /* short IPv6 header */
	EXPECT(-EBADMSG, q, n, .hw_protocol = 0x0800);
	EXPECT(0, q, n);
#undef EXPECT
}

/* CR 3.5 */
Test(nflog_malformed, truncated_l4_is_logged_without_ports)
{
	uint8_t ext[64] = { 0 }, p[256];
	struct nflog_pkt pkt;
	struct msg m;
	size_t n;

	pkt_from(seed_trunc_l4, &pkt);
	cr_assert(pkt.l4_truncated);
	cr_assert_not(pkt.has_ports);
	cr_assert_eq(pkt.proto, IPPROTO_TCP);

	/* a destination-options header longer than the capture */
	ext[0] = IPPROTO_TCP;
	ext[1] = 7; /* 64 bytes */
	n = ip6(p, IPPROTO_DSTOPTS, "2001:db8::1", "2001:db8::2", ext, 64,
		tcp_40000_502, 4);
	build_msg(&m, &(struct pkt_opts){ .prefix = "cd:deny:input",
					  .seq = -1,
					  .payload = p,
					  .plen = 40 + 16 });
	cr_assert_eq(nflog_parse_msg(m.buf, m.len, &pkt), 0);
	cr_assert(pkt.l4_truncated);
	cr_assert_eq(pkt.proto, IPPROTO_TCP);

	/* more than eight extension headers: we stop walking, conservatively */
	memset(ext, 0, sizeof(ext));
	for (int i = 0; i < 8; i++)
		ext[i * 8] = IPPROTO_HOPOPTS;
	n = ip6(p, IPPROTO_HOPOPTS, "2001:db8::1", "2001:db8::2", ext, 64,
		tcp_40000_502, sizeof(tcp_40000_502));
	build_msg(&m, &(struct pkt_opts){ .prefix = "cd:deny:input",
					  .seq = -1,
					  .payload = p,
					  .plen = n });
	cr_assert_eq(nflog_parse_msg(m.buf, m.len, &pkt), 0);
	cr_assert(pkt.l4_truncated);
	cr_assert_not(pkt.has_ports);
}

/* CR 3.5 */
Test(nflog_malformed, every_payload_cut)
{
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		struct nlmsghdr *nlh;
		struct nlattr *a, *pl = NULL;
		struct msg m;

		seeds[i].build(&m);
		nlh = (struct nlmsghdr *)m.buf;
		if (strcmp(seeds[i].name, "batch") == 0 ||
		    strcmp(seeds[i].name, "bad-attr-len") == 0 ||
		    strcmp(seeds[i].name, "huge-len") == 0)
			continue;
		mnl_attr_for_each(
			a, nlh,
			sizeof(struct nfgenmsg)) if (mnl_attr_get_type(a) ==
						     NFULA_PAYLOAD) pl = a;
		cr_assert_not_null(pl, "%s", seeds[i].name);
		/* NFULA_PAYLOAD is last: shorten it and the message together,
		 * so each step is valid netlink around a shorter packet */
		for (;;) {
			struct nflog_pkt pkt;
			int rc = nflog_parse_msg(m.buf, nlh->nlmsg_len, &pkt);

			cr_assert(rc == 0 || rc == -EBADMSG, "%s: %u bytes: %d",
				  seeds[i].name, mnl_attr_get_payload_len(pl),
				  rc);
			if (mnl_attr_get_payload_len(pl) == 0)
				break;
			pl->nla_len--;
			nlh->nlmsg_len = (uint32_t)((uint8_t *)pl - m.buf) +
					 MNL_ALIGN(pl->nla_len);
		}
	}
}

/* ---- datagrams: batches, counters, sequence gaps ------------------------ */

/* CR 3.5 */
Test(nflog_feed, batch_and_trailing_garbage)
{
	struct nflog_reader *r = nflog_alloc(10, 16);
	struct nflog_stats st;
	struct sink s = { 0 };
	struct msg m;

	cr_assert_not_null(r);
	cr_assert_eq(nflog_fd(r), -1);
	cr_assert_eq(nflog_dispatch(r, NULL, collect, &s), -EBADF);
	seed_batch(&m);
	cr_assert_eq(nflog_feed(r, m.buf, m.len, NULL, 100, collect, &s), 2);
	cr_assert_eq(s.n, 2);
	nflog_get_stats(r, &st);
	cr_assert_eq(st.malformed, 0);
	cr_assert_eq(st.packets, 2);

	/* three stray bytes after the last message */
	cr_assert_eq(nflog_feed(r, m.buf, m.len + 3, NULL, 100, collect, &s),
		     2);
	nflog_get_stats(r, &st);
	cr_assert_eq(st.malformed, 1);
	cr_assert_eq(nflog_feed(r, NULL, 0, NULL, 100, collect, &s), 0);

	/* a length beyond the datagram, even one that is negative as int */
	seed_huge_len(&m);
	cr_assert_eq(nflog_feed(r, m.buf, m.len, NULL, 100, collect, &s), 0);
	nflog_get_stats(r, &st);
	cr_assert_eq(st.malformed, 2);
	nflog_close(r);
}

/* CR 3.5 */
Test(nflog_feed, skipped_messages_are_counted)
{
	struct nflog_reader *r = nflog_alloc(10, 16);
	struct nflog_stats st;
	struct msg m;
	uint8_t p[8] = { 0x45 };

	seed_bad_attr_len(&m);
	cr_assert_eq(nflog_feed(r, m.buf, m.len, NULL, 1, NULL, NULL), 0);
	build_msg(&m, &(struct pkt_opts){ .prefix = "x",
					  .seq = -1,
					  .payload = p,
					  .plen = sizeof(p) });
	cr_assert_eq(nflog_feed(r, m.buf, m.len, NULL, 1, NULL, NULL), 0);
	build_msg(&m, &(struct pkt_opts){ .prefix = "cd:deny:input",
					  .seq = -1,
					  .payload = p,
					  .plen = sizeof(p) });
	cr_assert_eq(nflog_feed(r, m.buf, m.len, NULL, 1, NULL, NULL), 0);
	nflog_get_stats(r, &st);
	cr_assert_eq(st.malformed, 1);
	cr_assert_eq(st.bad_prefix, 1);
	cr_assert_eq(st.bad_packet, 1);
	cr_assert_eq(st.packets, 0);
	cr_assert_eq(st.events, 0);
	nflog_close(r);
}

/* NDR 5.2 RE(1) */
Test(nflog_feed, sequence_gaps_count_as_lost)
{
	struct nflog_reader *r = nflog_alloc(10, 16);
	struct nflog_stats st;
	uint8_t p[64];
	size_t n = ip4(p, IPPROTO_TCP, "198.18.10.2", "198.18.30.10",
		       tcp_40000_502, sizeof(tcp_40000_502));
	static const int seqs[] = { 10, 11, 15, 16 };

	for (size_t i = 0; i < 4; i++) {
		struct msg m;

		build_msg(&m, &(struct pkt_opts){ .prefix = "cd:deny:input",
						  .seq = seqs[i],
						  .payload = p,
						  .plen = n });
		cr_assert_eq(nflog_feed(r, m.buf, m.len, NULL, 1, NULL, NULL),
			     1);
	}
	nflog_get_stats(r, &st);
	cr_assert_eq(st.lost, 3);
	cr_assert_eq(st.packets, 4);
	nflog_close(r);
}

/* ---- aggregation ------------------------------------------------------- */

static void v4_pkt(struct nflog_pkt *pkt, uint16_t sport, uint16_t dport)
{
	pkt_from(seed_v4_tcp, pkt);
	pkt->sport = sport;
	pkt->dport = dport;
}

/* NDR 5.2 RE(1) */
Test(nflog_agg, first_line_then_aggregated)
{
	struct nflog_reader *r = nflog_alloc(10, 16);
	struct nflog_pkt pkt;
	struct sink s = { 0 };

	cr_assert_not_null(r);
	nflog_tick(r, 1000, collect, &s);
	v4_pkt(&pkt, 40000, 502);
	cr_assert_eq(nflog_ingest(r, &pkt, NULL, 1000, collect, &s), 1);
	cr_assert_eq(s.n, 1);
	cr_assert_eq(s.ev[0].packets, 1);
	cr_assert_not(s.ev[0].aggregated);
	cr_assert_str_eq(
		s.line[0],
		"deny reason=no-conduit conduit=- from=- to=- proto=tcp "
		"src=198.18.10.2:40000 dst=198.18.30.10:502 packets=1");

	/* a port scan's worth of reconnects from one host: one key */
	for (uint16_t i = 1; i <= 4; i++) {
		v4_pkt(&pkt, (uint16_t)(40000 + i), 502);
		cr_assert_eq(nflog_ingest(r, &pkt, NULL, 1000 + i, collect, &s),
			     0);
	}
	nflog_tick(r, 1009, collect, &s);
	cr_assert_eq(s.n, 1);
	nflog_tick(r, 1010, collect, &s);
	cr_assert_eq(s.n, 2);
	cr_assert(s.ev[1].aggregated);
	cr_assert_eq(s.ev[1].packets, 4);
	cr_assert_not(s.ev[1].has_sport); /* the source ports varied */
	cr_assert_str_eq(
		s.line[1],
		"deny reason=no-conduit conduit=- from=- to=- proto=tcp "
		"src=198.18.10.2 dst=198.18.30.10:502 packets=4 "
		"aggregated=1");

	/* same source port throughout: the aggregated line shows it */
	for (int i = 0; i < 3; i++) {
		v4_pkt(&pkt, 41000, 502);
		nflog_ingest(r, &pkt, NULL, 1012, collect, &s);
	}
	nflog_tick(r, 1020, collect, &s);
	cr_assert_eq(s.n, 3);
	cr_assert_str_eq(
		s.line[2],
		"deny reason=no-conduit conduit=- from=- to=- proto=tcp "
		"src=198.18.10.2:41000 dst=198.18.30.10:502 packets=3 "
		"aggregated=1");
	nflog_close(r);
}

/* NDR 5.2 RE(1) */
Test(nflog_agg, silent_key_is_forgotten)
{
	struct nflog_reader *r = nflog_alloc(10, 16);
	struct nflog_stats st;
	struct nflog_pkt pkt;
	struct sink s = { 0 };

	nflog_tick(r, 0, collect, &s);
	v4_pkt(&pkt, 40000, 502);
	nflog_ingest(r, &pkt, NULL, 5, collect, &s);
	nflog_get_stats(r, &st);
	cr_assert_eq(st.entries, 1);
	nflog_tick(r, 14, collect, &s);
	nflog_get_stats(r, &st);
	cr_assert_eq(st.entries, 1);
	nflog_tick(r, 15, collect, &s); /* a full interval of silence */
	nflog_get_stats(r, &st);
	cr_assert_eq(st.entries, 0);
	cr_assert_eq(s.n, 1);

	/* the next packet is a new first line */
	cr_assert_eq(nflog_ingest(r, &pkt, NULL, 16, collect, &s), 1);
	cr_assert_eq(s.n, 2);
	cr_assert_eq(s.ev[1].packets, 1);
	cr_assert_not(s.ev[1].aggregated);

	/* after an aggregated line, a silent interval forgets the key too */
	nflog_ingest(r, &pkt, NULL, 17, collect, &s);
	nflog_tick(r, 26, collect, &s);
	cr_assert_eq(s.n, 3);
	nflog_tick(r, 35, collect, &s);
	cr_assert_eq(s.n, 3);
	nflog_tick(r, 36, collect, &s);
	nflog_get_stats(r, &st);
	cr_assert_eq(st.entries, 0);
	nflog_close(r);
}

/* NDR 5.2 RE(1) */
Test(nflog_agg, keys_separate_what_the_line_separates)
{
	struct nflog_reader *r = nflog_alloc(10, 16);
	struct nflog_pkt pkt;
	struct sink s = { 0 };

	nflog_tick(r, 1, collect, &s);
	v4_pkt(&pkt, 40000, 502);
	cr_assert_eq(nflog_ingest(r, &pkt, NULL, 1, collect, &s), 1);
	v4_pkt(&pkt, 40000, 503); /* other dst port */
	cr_assert_eq(nflog_ingest(r, &pkt, NULL, 1, collect, &s), 1);
	v4_pkt(&pkt, 40000, 502);
	pkt.saddr[3] = 3; /* other source */
	cr_assert_eq(nflog_ingest(r, &pkt, NULL, 1, collect, &s), 1);
	v4_pkt(&pkt, 40000, 502);
	pkt.reason = NFLOG_REASON_INPUT; /* other reason */
	cr_assert_eq(nflog_ingest(r, &pkt, NULL, 1, collect, &s), 1);
	v4_pkt(&pkt, 40000, 502);
	pkt.action = NFLOG_ACTION_ACCEPT; /* accept vs deny */
	pkt.reason = NFLOG_REASON_NONE;
	strcpy(pkt.conduit, "historian-poll");
	cr_assert_eq(nflog_ingest(r, &pkt, NULL, 1, collect, &s), 1);
	cr_assert_str_eq(
		s.line[4],
		"accept conduit=historian-poll from=- to=- proto=tcp "
		"src=198.18.10.2:40000 dst=198.18.30.10:502 packets=1");
	v4_pkt(&pkt, 40001, 502); /* only the sport */
	cr_assert_eq(nflog_ingest(r, &pkt, NULL, 1, collect, &s), 0);
	cr_assert_eq(s.n, 5);
	cr_assert_eq(nflog_ingest(NULL, &pkt, NULL, 1, collect, &s), -EINVAL);
	pkt.family = 0;
	cr_assert_eq(nflog_ingest(r, &pkt, NULL, 1, collect, &s), -EINVAL);
	nflog_close(r);
}

/* NDR 5.2 RE(1) */
Test(nflog_agg, overflow_is_one_line_per_interval)
{
	struct nflog_reader *r = nflog_alloc(10, 2);
	struct nflog_stats st;
	struct nflog_pkt pkt;
	struct sink s = { 0 };

	nflog_tick(r, 100, collect, &s);
	for (uint16_t port = 1; port <= 5; port++) {
		v4_pkt(&pkt, 40000, port);
		nflog_ingest(r, &pkt, NULL, 100, collect, &s);
	}
	cr_assert_eq(s.n, 2); /* ports 1 and 2 */
	nflog_get_stats(r, &st);
	cr_assert_eq(st.unitemised, 3);
	cr_assert_eq(st.entries, 2);
	nflog_tick(r, 110, collect, &s);
	cr_assert_eq(s.n, 3);
	cr_assert_eq(s.ev[2].reason, NFLOG_REASON_OVERFLOW);
	cr_assert_str_eq(s.line[2],
			 "deny reason=overflow conduit=- from=- to=- proto=- "
			 "src=- dst=- packets=3 aggregated=1");
	nflog_tick(r, 120, collect, &s); /* nothing more */
	cr_assert_eq(s.n, 3);
	/* the silent keys are gone: room again */
	v4_pkt(&pkt, 40000, 5);
	cr_assert_eq(nflog_ingest(r, &pkt, NULL, 121, collect, &s), 1);
	nflog_close(r);
}

/* NDR 5.2 RE(1) */
Test(nflog_agg, flush_and_clock_quirks)
{
	struct nflog_reader *r = nflog_alloc(10, 4);
	struct nflog_stats st;
	struct nflog_pkt pkt;
	struct sink s = { 0 };

	/* packets before the first tick start their window at that tick */
	v4_pkt(&pkt, 40000, 502);
	nflog_ingest(r, &pkt, NULL, 0, collect, &s);
	nflog_ingest(r, &pkt, NULL, 0, collect, &s);
	nflog_tick(r, 5000, collect, &s);
	cr_assert_eq(s.n, 1);
	/* a clock stepping back neither emits nor loses the key */
	nflog_tick(r, 10, collect, &s);
	cr_assert_eq(s.n, 1);
	nflog_tick(r, 20, collect, &s);
	cr_assert_eq(s.n, 2);
	cr_assert_eq(s.ev[1].packets, 1);

	nflog_ingest(r, &pkt, NULL, 21, collect, &s);
	nflog_ingest(r, &pkt, NULL, 21, collect, &s);
	nflog_flush(r, collect, &s);
	cr_assert_eq(s.n, 3);
	cr_assert_eq(s.ev[2].packets, 2);
	nflog_get_stats(r, &st);
	cr_assert_eq(st.entries, 0);
	cr_assert_eq(st.events, 3);
	nflog_flush(NULL, NULL, NULL);
	nflog_tick(NULL, 0, NULL, NULL);
	nflog_close(NULL);

	cr_assert_null(nflog_alloc(0, 4));
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(nflog_alloc(10, 0));
	cr_assert_null(nflog_alloc(10, NFLOG_MAX_ENTRIES_LIMIT + 1));
	nflog_close(r);
}

/* NDR 5.2 RE(1) */
Test(nflog_agg, table_reuse_under_churn)
{
	struct nflog_reader *r = nflog_alloc(2, 64);
	struct nflog_stats st;
	struct nflog_pkt pkt;
	uint64_t total = 0;

	/* many keys coming and going: chains and the free list stay sound */
	for (int t = 0; t < 200; t++) {
		nflog_tick(r, t, NULL, NULL);
		for (int i = 0; i < 50; i++) {
			v4_pkt(&pkt, 1, (uint16_t)((t * 7 + i * 13) % 97));
			nflog_ingest(r, &pkt, NULL, t, NULL, NULL);
			total++;
		}
	}
	nflog_get_stats(r, &st);
	cr_assert_eq(st.packets, total);
	cr_assert_leq(st.entries, 64);
	nflog_flush(r, NULL, NULL);
	nflog_get_stats(r, &st);
	cr_assert_eq(st.entries, 0);
	nflog_close(r);
}

/* ---- zones from the policy -------------------------------------------- */

static struct pol_policy *load_policy(const char *yaml, const char *path)
{
	struct pol_policy *p = NULL;
	struct diag_list dl;
	char buf[512];
	int rc;

	diag_list_init(&dl);
	rc = yaml ? policy_load_buffer("test.yaml", yaml, strlen(yaml), 0, &p,
				       &dl) :
		    policy_load_file(path, 0, &p, &dl);
	for (size_t i = 0; i < dl.n; i++)
		cr_log_error("%s", diag_format(&dl.v[i], buf, sizeof(buf)));
	diag_list_free(&dl);
	cr_assert_eq(rc, 0, "policy rejected (%d)", rc);
	return p;
}

static struct pol_policy *plant(void)
{
	return load_policy(NULL, TEST_SRCDIR "/policy/examples/plant.yaml");
}

/* NDR 5.2 RE(1) */
Test(nflog_zones, classified_by_interface_and_network)
{
	struct nflog_reader *r = nflog_alloc(10, 16);
	struct pol_policy *p = plant();
	struct nflog_pkt pkt;
	struct sink s = { 0 };

	/* enterprise by interface ent0, dmz by network 198.18.20.0/24 */
	pkt_from(seed_v4_udp_conduit, &pkt);
	strcpy(pkt.indev_name, "ent0");
	strcpy(pkt.outdev_name, "dmz0");
	cr_assert_eq(nflog_ingest(r, &pkt, p, 1, collect, &s), 1);
	cr_assert_str_eq(
		s.line[0],
		"deny reason=conduit conduit=ops-to-historian "
		"from=enterprise to=dmz proto=udp "
		"src=198.18.10.2:40000 dst=198.18.20.5:20011 packets=1");

	/* control by interface ctl0; IPv6 dmz source by network */
	pkt_from(seed_v6_udp, &pkt);
	memcpy(pkt.saddr, pkt.daddr, 16); /* 2001:db8:20::5 */
	addr(AF_INET6, "2001:db8:30::10", pkt.daddr);
	strcpy(pkt.indev_name, "dmz0");
	strcpy(pkt.outdev_name, "ctl0");
	pkt.reason = NFLOG_REASON_NO_CONDUIT;
	pkt.conduit[0] = '\0';
	cr_assert_eq(nflog_ingest(r, &pkt, p, 1, collect, &s), 1);
	cr_assert_str_eq(s.line[1],
			 "deny reason=no-conduit conduit=- from=dmz to=control "
			 "proto=udp src=[2001:db8:20::5]:40000 "
			 "dst=[2001:db8:30::10]:20011 packets=1");

	/* no interface (the output hook has no indev), no network: "-" */
	pkt_from(seed_v4_tcp, &pkt);
	strcpy(pkt.outdev_name, "ctl0");
	cr_assert_eq(nflog_ingest(r, &pkt, p, 1, collect, &s), 1);
	cr_assert_str_eq(s.line[2],
			 "deny reason=no-conduit conduit=- from=- to=control "
			 "proto=tcp src=198.18.10.2:40000 dst=198.18.30.10:502 "
			 "packets=1");

	/* the zones are part of the key */
	strcpy(pkt.indev_name, "ent0");
	cr_assert_eq(nflog_ingest(r, &pkt, p, 1, collect, &s), 1);
	cr_assert_str_eq(s.ev[3].zone_from, "enterprise");
	cr_assert_str_eq(s.ev[3].zone_to, "control");
	nflog_close(r);
	policy_free(p);
}

/* NDR 5.2 RE(1) */
Test(nflog_zones, names_outlive_a_policy_reload)
{
	struct nflog_reader *r = nflog_alloc(10, 16);
	struct pol_policy *p = plant();
	struct nflog_pkt pkt;
	struct sink s = { 0 };

	nflog_tick(r, 0, collect, &s);
	pkt_from(seed_v4_udp_conduit, &pkt);
	strcpy(pkt.indev_name, "ent0");
	nflog_ingest(r, &pkt, p, 1, collect, &s);
	nflog_ingest(r, &pkt, p, 2, collect, &s);
	policy_free(p); /* reload: the old one is gone */
	nflog_tick(r, 11, collect, &s);
	cr_assert_eq(s.n, 2);
	cr_assert_str_eq(
		s.line[1],
		"deny reason=conduit conduit=ops-to-historian "
		"from=enterprise to=dmz proto=udp "
		"src=198.18.10.2:40000 dst=198.18.20.5:20011 packets=1 "
		"aggregated=1");
	nflog_close(r);
}

/* ---- the line ---------------------------------------------------------- */

/* NDR 5.2 RE(1) */
Test(nflog_format, exact_lines)
{
	struct deny_event ev = {
		.action = NFLOG_ACTION_DENY,
		.reason = NFLOG_REASON_CONDUIT,
		.conduit = "ops-to-historian",
		.zone_from = "enterprise",
		.zone_to = "dmz",
		.family = AF_INET6,
		.proto = IPPROTO_UDP,
		.has_sport = true,
		.sport = 40000,
		.has_dport = true,
		.dport = 20011,
		.icmp_type = -1,
		.packets = 3,
		.aggregated = true,
	};
	char buf[NFLOG_LINE_MAX];

	addr(AF_INET6, "2001:db8:10::2", ev.saddr);
	addr(AF_INET6, "2001:db8:20::5", ev.daddr);
	cr_assert_str_eq(
		nflog_event_format(&ev, buf, sizeof(buf)),
		"deny reason=conduit conduit=ops-to-historian "
		"from=enterprise to=dmz proto=udp "
		"src=[2001:db8:10::2]:40000 dst=[2001:db8:20::5]:20011 "
		"packets=3 aggregated=1");

	/* ICMPv6: no ports, no brackets */
	ev.proto = IPPROTO_ICMPV6;
	ev.has_sport = ev.has_dport = false;
	ev.icmp_type = 128;
	ev.aggregated = false;
	ev.packets = 1;
	ev.reason = NFLOG_REASON_NO_CONDUIT;
	ev.conduit = NULL;
	cr_assert_str_eq(
		nflog_event_format(&ev, buf, sizeof(buf)),
		"deny reason=no-conduit conduit=- from=enterprise to=dmz "
		"proto=icmpv6 src=2001:db8:10::2 dst=2001:db8:20::5 "
		"packets=1");

	/* IPv4 ICMP, unclassified */
	ev.family = AF_INET;
	ev.proto = IPPROTO_ICMP;
	ev.zone_from = ev.zone_to = NULL;
	ev.reason = NFLOG_REASON_NO_ZONE;
	addr(AF_INET, "198.18.10.2", ev.saddr);
	addr(AF_INET, "198.18.30.10", ev.daddr);
	cr_assert_str_eq(nflog_event_format(&ev, buf, sizeof(buf)),
			 "deny reason=no-zone conduit=- from=- to=- proto=icmp "
			 "src=198.18.10.2 dst=198.18.30.10 packets=1");

	/* SCTP is a number; the port is shown */
	ev.proto = IPPROTO_SCTP;
	ev.has_sport = ev.has_dport = true;
	ev.sport = 0;
	ev.dport = 2905;
	ev.reason = NFLOG_REASON_ISLAND;
	ev.packets = 18446744073709551615ULL;
	cr_assert_str_eq(nflog_event_format(&ev, buf, sizeof(buf)),
			 "deny reason=island conduit=- from=- to=- proto=132 "
			 "src=198.18.10.2:0 dst=198.18.30.10:2905 "
			 "packets=18446744073709551615");
}

/* CR 3.5 */
Test(nflog_format, bounded)
{
	struct deny_event ev = {
		.action = NFLOG_ACTION_DENY,
		.reason = NFLOG_REASON_CONDUIT,
		.conduit = "abcdefghijklmnopqrstuvwxyz012345",
		.zone_from = "abcdefghijklmnopqrstuvwxyz012345",
		.zone_to = "abcdefghijklmnopqrstuvwxyz012345",
		.family = AF_INET6,
		.proto = 200,
		.has_sport = true,
		.sport = 65535,
		.has_dport = true,
		.dport = 65535,
		.packets = UINT64_MAX,
		.aggregated = true,
	};
	char buf[NFLOG_LINE_MAX], small[40];

	memset(ev.saddr, 0xfe, 16);
	memset(ev.daddr, 0xfe, 16);
	cr_assert_not_null(nflog_event_format(&ev, buf, sizeof(buf)));
	cr_assert_lt(strlen(buf), NFLOG_LINE_MAX - 1);
	cr_assert_null(nflog_event_format(&ev, small, sizeof(small)));
	cr_assert_eq(strlen(small), sizeof(small) - 1);
	cr_assert_null(nflog_event_format(&ev, buf, 0));
	cr_assert_str_eq(nflog_reason_name((enum nflog_reason)99), "-");
}

/* ---- fuzz corpus ------------------------------------------------------- */

/* The committed seeds are exactly what these builders produce; set
 * NFLOG_WRITE_SEEDS=DIR to (re)write them. */
/* CR 3.5 */
Test(nflog_seeds, corpus_matches_builders)
{
	const char *out = getenv("NFLOG_WRITE_SEEDS");

	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		char path[512], file[2048];
		struct msg m;
		FILE *f;
		size_t n;

		seeds[i].build(&m);
		if (out) {
			snprintf(path, sizeof(path), "%s/%s", out,
				 seeds[i].name);
			f = fopen(path, "wb");
			cr_assert_not_null(f, "%s", path);
			cr_assert_eq(fwrite(m.buf, 1, m.len, f), m.len);
			fclose(f);
			continue;
		}
		snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/nflog/%s",
			 TEST_SRCDIR, seeds[i].name);
		f = fopen(path, "rb");
		cr_assert_not_null(f, "%s: %s", path, strerror(errno));
		n = fread(file, 1, sizeof(file), f);
		fclose(f);
		cr_assert_eq(n, m.len, "%s", seeds[i].name);
		cr_assert_arr_eq(file, m.buf, m.len, "%s", seeds[i].name);
	}
}

/* ---- end to end: the kernel in a private network namespace -------------- */

static const char e2e_ruleset[] =
	"table inet cdtest {\n"
	"  chain output {\n"
	"    type filter hook output priority 0; policy accept;\n"
	"    ip daddr 127.0.0.1 udp dport 9\n"
	"      log group 9 prefix \"cd:deny:no-conduit\" drop\n"
	"  }\n"
	"}\n";

static const char e2e_policy[] = "version: 1\n"
				 "zones:\n"
				 "  host:\n"
				 "    interfaces: [lo]\n"
				 "  lab:\n"
				 "    networks: [198.18.0.0/15]\n"
				 "conduits: []\n";

/* NDR 5.2 RE(1) */
Test(nflog_netns, denied_udp_is_reported, .timeout = 30)
{
	struct sockaddr_in src = { .sin_family = AF_INET,
				   .sin_port = htons(40009) };
	struct sockaddr_in dst = { .sin_family = AF_INET,
				   .sin_port = htons(9) };
	struct nflog_reader *r, *other;
	struct pol_policy *pol;
	struct nflog_stats st;
	struct sink s = { 0 };
	uint8_t lo[16];
	int saved;
	FILE *f;
	int fd;

	if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0)
		cr_skip_test("needs root and unshare(CLONE_NEWNET)");
	/* from here on only the private namespace is touched */
	if (system("nft --version >/dev/null 2>&1") != 0)
		cr_skip_test("nft not installed");
	cr_assert_eq(system("ip link set lo up"), 0);
	f = popen("nft -f -", "w");
	cr_assert_not_null(f);
	fputs(e2e_ruleset, f);
	cr_assert_eq(pclose(f), 0);

	pol = load_policy(e2e_policy, NULL);
	r = nflog_open(9, 10, 64);
	cr_assert_not_null(r, "nflog_open: %s", strerror(errno));
	cr_assert_geq(nflog_fd(r), 0);
	nflog_tick(r, 1000, collect, &s);

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(fd, 0);
	inet_pton(AF_INET, "127.0.0.1", &src.sin_addr);
	inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
	cr_assert_eq(bind(fd, (struct sockaddr *)&src, sizeof(src)), 0);
	for (int i = 0; i < 3; i++) /* dropped: EPERM is expected */
		(void)sendto(fd, "x", 1, 0, (struct sockaddr *)&dst,
			     sizeof(dst));
	close(fd);

	for (int waited = 0; waited < 5000; waited += 100) {
		struct pollfd pfd = { .fd = nflog_fd(r), .events = POLLIN };

		if (poll(&pfd, 1, 100) > 0)
			cr_assert_geq(nflog_dispatch(r, pol, collect, &s), 0);
		nflog_get_stats(r, &st);
		if (st.packets >= 3)
			break;
	}
	nflog_get_stats(r, &st);
	cr_assert_eq(st.packets, 3);
	cr_assert_eq(st.lost, 0);
	cr_assert_eq(st.malformed + st.bad_packet + st.bad_prefix, 0);
	cr_assert_eq(s.n, 1);
	cr_assert_eq(s.ev[0].action, NFLOG_ACTION_DENY);
	cr_assert_eq(s.ev[0].reason, NFLOG_REASON_NO_CONDUIT);
	cr_assert_eq(s.ev[0].family, AF_INET);
	cr_assert_eq(s.ev[0].proto, IPPROTO_UDP);
	addr(AF_INET, "127.0.0.1", lo);
	cr_assert_arr_eq(s.ev[0].saddr, lo, 4);
	cr_assert_arr_eq(s.ev[0].daddr, lo, 4);
	cr_assert_eq(s.ev[0].sport, 40009);
	cr_assert_eq(s.ev[0].dport, 9);
	cr_assert_eq(s.ev[0].packets, 1);
	/* outdev lo, resolved to its name, classified by the policy */
	cr_assert_str_eq(
		s.line[0],
		"deny reason=no-conduit conduit=- from=- to=host "
		"proto=udp src=127.0.0.1:40009 dst=127.0.0.1:9 packets=1");

	nflog_tick(r, 1010, collect, &s);
	cr_assert_eq(s.n, 2);
	cr_assert_str_eq(
		s.line[1],
		"deny reason=no-conduit conduit=- from=- to=host "
		"proto=udp src=127.0.0.1:40009 dst=127.0.0.1:9 packets=2 "
		"aggregated=1");
	nflog_close(r);
	policy_free(pol);

	/* the group is exclusive: a second reader is refused while one lives */
	r = nflog_open(9, 10, 64);
	cr_assert_not_null(r);
	errno = 0;
	other = nflog_open(9, 10, 64);
	saved = errno;
	nflog_close(r);
	nflog_close(other);
	cr_assert_null(other);
	/* the kernel says EPERM (not the owner) or EBUSY (already bound) */
	cr_assert(saved == EPERM || saved == EBUSY, "%s", strerror(saved));
}
