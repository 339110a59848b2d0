/*
 * IP/TCP/UDP header decoding: IPv4 with and without options, IPv6 with
 * extension headers, fragments, every truncation and bad length, and the
 * trimming of link padding.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "dpi/pkt.h"

static uint8_t buf[256];
static struct pkt p;

static size_t hex(const char *h)
{
	size_t n = 0;

	for (const char *s = h; *s;) {
		unsigned v;

		if (*s == ' ') {
			s++;
			continue;
		}
		cr_assert(sscanf(s, "%2x", &v) == 1);
		buf[n++] = (uint8_t)v;
		s += 2;
	}
	return n;
}

#define V4_TCP_HDR "45000030 0001 0000 4006 0000 c0000201 c0000202"
#define TCP_HDR "c350 01f6 00000064 000000c8 5018 ffff 0000 0000"
#define MBAP "0001 0000 0006 01 03 0000 000a"

/* CR 3.5 */
Test(pkt, ipv4_tcp)
{
	/* total length 0x30 = 48 = 20 + 20 + 8: the last 6 bytes are padding */
	size_t n = hex(V4_TCP_HDR " " TCP_HDR " " MBAP "0000");
	char s[PKT_ADDR_PORT_STRLEN];

	cr_assert_eq(pkt_decode_ip(&p, buf, n), 0);
	cr_assert_eq(p.ip_version, 4);
	cr_assert_eq(p.l4proto, IPPROTO_TCP);
	cr_assert_eq(p.sport, 50000);
	cr_assert_eq(p.dport, 502);
	cr_assert_eq(p.seq, 100);
	cr_assert_eq(p.ack, 200);
	cr_assert_eq(p.tcp_flags, PKT_TCP_ACK | PKT_TCP_PSH);
	cr_assert_eq(p.payload_len, 8);
	cr_assert_eq(p.payload[0], 0x00);
	cr_assert_eq(p.payload[7], 0x03);
	cr_assert_str_eq(pkt_addr_port_str(&p.src, p.sport, s, sizeof(s)),
			 "192.0.2.1:50000");
	cr_assert_str_eq(pkt_addr_port_str(&p.dst, p.dport, s, sizeof(s)),
			 "192.0.2.2:502");
}

/* CR 3.5 */
Test(pkt, ipv4_options_are_skipped)
{
	/* IHL 6: one NOP/NOP/NOP/EOL option word */
	size_t n = hex("46000024 0001 0000 4011 0000 c0000201 c0000202 01010100"
		       " 4e20 4e20 000c 0000 05640000");

	cr_assert_eq(pkt_decode_ip(&p, buf, n), 0);
	cr_assert_eq(p.l4proto, IPPROTO_UDP);
	cr_assert_eq(p.dport, 20000);
	cr_assert_eq(p.payload_len, 4);
	cr_assert_eq(p.payload[0], 0x05);
}

/* NDR 5.2 */
Test(pkt, ipv4_errors)
{
	size_t n;

	n = hex("4500");
	cr_assert_eq(pkt_decode_ip(&p, buf, n), -EBADMSG);
	cr_assert_str_eq(p.error, "IPv4 header truncated");
	n = hex("44000030 0001 0000 4006 0000 c0000201 c0000202");
	cr_assert_eq(pkt_decode_ip(&p, buf, n), -EBADMSG);
	cr_assert_str_eq(p.error, "IPv4 header length below 20");
	n = hex("45000010 0001 0000 4006 0000 c0000201 c0000202");
	cr_assert_eq(pkt_decode_ip(&p, buf, n), -EBADMSG);
	cr_assert_str_eq(p.error, "IPv4 total length below header length");
	n = hex("45000100 0001 0000 4006 0000 c0000201 c0000202");
	cr_assert_eq(pkt_decode_ip(&p, buf, n), -EBADMSG);
	cr_assert_str_eq(p.error, "IPv4 total length beyond captured data");
	n = hex("4f000030 0001 0000 4006 0000 c0000201 c0000202 " TCP_HDR);
	cr_assert_eq(pkt_decode_ip(&p, buf, n), -EBADMSG);
	cr_assert_str_eq(p.error, "IPv4 total length below header length");
	n = hex("48000028 0001 0000 4006 0000 c0000201 c0000202 " TCP_HDR);
	cr_assert_eq(pkt_decode_ip(&p, buf, 28), -EBADMSG);
	(void)n;
	cr_assert_str_eq(p.error, "IPv4 total length beyond captured data");
	n = hex("00");
	cr_assert_eq(pkt_decode_ip(&p, buf, n), -EPROTONOSUPPORT);
	cr_assert_eq(pkt_decode_ip(&p, buf, 0), -EBADMSG);
}

/* NDR 5.2 */
Test(pkt, tcp_errors)
{
	size_t n;

	/* total 30: only 10 bytes of TCP header */
	n = hex("4500001e 0001 0000 4006 0000 c0000201 c0000202 c350 01f6 00000064 0000");
	cr_assert_eq(pkt_decode_ip(&p, buf, n), -EBADMSG);
	cr_assert_str_eq(p.error, "TCP header truncated");
	/* the fields before the cut are set (the slow path of FIXED_HDR) */
	cr_assert_eq(p.sport, 50000);
	cr_assert_eq(p.dport, 502);
	cr_assert_eq(p.seq, 100);
	cr_assert_eq(p.ack, 0);
	n = hex("45000028 0001 0000 4006 0000 c0000201 c0000202 c350 01f6 00000064 000000c8 4018 ffff 0000 0000");
	cr_assert_eq(pkt_decode_ip(&p, buf, n), -EBADMSG);
	cr_assert_str_eq(p.error, "TCP data offset below 5");
	n = hex("45000028 0001 0000 4006 0000 c0000201 c0000202 c350 01f6 00000064 000000c8 6018 ffff 0000 0000");
	cr_assert_eq(pkt_decode_ip(&p, buf, n), -EBADMSG);
	cr_assert_str_eq(p.error, "TCP options truncated");
	/* with a 4-byte option: payload starts after it */
	n = hex("4500002e 0001 0000 4006 0000 c0000201 c0000202 c350 01f6 00000064 000000c8 6018 ffff 0000 0000 01010101 aabb");
	cr_assert_eq(pkt_decode_ip(&p, buf, n), 0);
	cr_assert_eq(p.payload_len, 2);
	cr_assert_eq(p.payload[0], 0xaa);
}

/* NDR 5.2 */
Test(pkt, udp_errors)
{
	size_t n;

	n = hex("45000018 0001 0000 4011 0000 c0000201 c0000202 4e20 4e20");
	cr_assert_eq(pkt_decode_ip(&p, buf, n), -EBADMSG);
	cr_assert_str_eq(p.error, "UDP header truncated");
	cr_assert_eq(p.sport, 20000);
	cr_assert_eq(p.dport, 20000);
	n = hex("4500001c 0001 0000 4011 0000 c0000201 c0000202 4e20 4e20 0004 0000");
	cr_assert_eq(pkt_decode_ip(&p, buf, n), -EBADMSG);
	cr_assert_str_eq(p.error, "UDP length below 8");
	n = hex("4500001c 0001 0000 4011 0000 c0000201 c0000202 4e20 4e20 0010 0000");
	cr_assert_eq(pkt_decode_ip(&p, buf, n), -EBADMSG);
	cr_assert_str_eq(p.error, "UDP length beyond captured data");
	/* UDP length shorter than the IP payload: trimmed to it */
	n = hex("45000020 0001 0000 4011 0000 c0000201 c0000202 4e20 4e20 000a 0000 0564 ffff");
	cr_assert_eq(pkt_decode_ip(&p, buf, n), 0);
	cr_assert_eq(p.payload_len, 2);
}

/* CR 3.5 */
Test(pkt, ipv4_fragments)
{
	size_t n;

	n = hex("45000020 0001 2000 4011 0000 c0000201 c0000202 4e20 4e20 000c 0000 0564 ffff");
	cr_assert_eq(pkt_decode_ip(&p, buf, n), 0);
	cr_assert(p.fragment); /* MF */
	cr_assert_eq(p.payload, NULL);
	n = hex("45000020 0001 0001 4011 0000 c0000201 c0000202 4e20 4e20 000c 0000 0564 ffff");
	cr_assert_eq(pkt_decode_ip(&p, buf, n), 0);
	cr_assert(p.fragment); /* offset 8 */
	n = hex("45000020 0001 4000 4011 0000 c0000201 c0000202 4e20 4e20 000c 0000 0564 ffff");
	cr_assert_eq(pkt_decode_ip(&p, buf, n), 0);
	cr_assert(!p.fragment); /* DF only */
	cr_assert_eq(p.payload_len, 4);
}

#define V6_SRC "20010db8000000000000000000000001"
#define V6_DST "20010db8000000000000000000000002"

/* CR 3.5 */
Test(pkt, ipv6_tcp)
{
	size_t n = hex("60000000 001a 06 40 " V6_SRC " " V6_DST " " TCP_HDR
		       " aabbccddeeff");
	char s[PKT_ADDR_PORT_STRLEN];

	cr_assert_eq(pkt_decode_ip(&p, buf, n), 0);
	cr_assert_eq(p.ip_version, 6);
	cr_assert_eq(p.l4proto, IPPROTO_TCP);
	cr_assert_eq(p.payload_len, 6);
	cr_assert_str_eq(pkt_addr_port_str(&p.src, p.sport, s, sizeof(s)),
			 "[2001:db8::1]:50000");
}

/* CR 3.5 */
Test(pkt, ipv6_extension_headers)
{
	/* hop-by-hop (8) -> destination options (8) -> UDP */
	size_t n = hex(
		"60000000 0020 00 40 " V6_SRC " " V6_DST
		" 3c00 010400000000 1100 010400000000 4e20 4e20 0010 0000 05640000 00000000");

	cr_assert_eq(pkt_decode_ip(&p, buf, n), 0);
	cr_assert_eq(p.l4proto, IPPROTO_UDP);
	cr_assert_eq(p.dport, 20000);
	cr_assert_eq(p.payload_len, 8);

	/* routing header, then TCP */
	n = hex("60000000 0020 2b 40 " V6_SRC " " V6_DST
		" 0600 0000 00000000 " TCP_HDR " aabbccdd");
	cr_assert_eq(pkt_decode_ip(&p, buf, n), 0);
	cr_assert_eq(p.l4proto, IPPROTO_TCP);
	cr_assert_eq(p.payload_len, 4);

	/* first fragment (offset 0, M set): flagged, not decoded */
	n = hex("60000000 0010 2c 40 " V6_SRC " " V6_DST
		" 1100 0001 00000001 4e20 4e20 0010 0000");
	cr_assert_eq(pkt_decode_ip(&p, buf, n), 0);
	cr_assert(p.fragment);
	cr_assert_eq(p.l4proto, IPPROTO_UDP);
	/* atomic fragment (offset 0, no M): decoded */
	n = hex("60000000 0014 2c 40 " V6_SRC " " V6_DST
		" 1100 0000 00000001 4e20 4e20 000c 0000 aabbccdd");
	cr_assert_eq(pkt_decode_ip(&p, buf, n), 0);
	cr_assert(!p.fragment);
	cr_assert_eq(p.payload_len, 4);
}

/* NDR 5.2 */
Test(pkt, ipv6_errors)
{
	size_t n;

	n = hex("60000000 0008 06 40 " V6_SRC);
	cr_assert_eq(pkt_decode_ip(&p, buf, n), -EBADMSG);
	cr_assert_str_eq(p.error, "IPv6 header truncated");
	n = hex("60000000 0000 06 40 " V6_SRC " " V6_DST);
	cr_assert_eq(pkt_decode_ip(&p, buf, n), -EBADMSG);
	cr_assert_str_eq(p.error, "IPv6 jumbogram or zero payload length");
	n = hex("60000000 0100 06 40 " V6_SRC " " V6_DST " " TCP_HDR);
	cr_assert_eq(pkt_decode_ip(&p, buf, n), -EBADMSG);
	cr_assert_str_eq(p.error, "IPv6 payload length beyond captured data");
	/* hop-by-hop claiming 16 bytes in an 8-byte payload */
	n = hex("60000000 0008 00 40 " V6_SRC " " V6_DST " 1101 000000000000");
	cr_assert_eq(pkt_decode_ip(&p, buf, n), -EBADMSG);
	cr_assert_str_eq(p.error, "IPv6 extension header truncated");
	/* nine chained destination options headers */
	n = hex("60000000 0048 3c 40 " V6_SRC " " V6_DST
		" 3c00000000000000 3c00000000000000 3c00000000000000"
		" 3c00000000000000 3c00000000000000 3c00000000000000"
		" 3c00000000000000 3c00000000000000 3c00000000000000");
	cr_assert_eq(pkt_decode_ip(&p, buf, n), -EBADMSG);
	cr_assert_str_eq(p.error, "too many IPv6 extension headers");
}

/* CR 3.5 */
Test(pkt, vlan_fields_survive_decode)
{
	size_t n = hex(V4_TCP_HDR " " TCP_HDR " " MBAP);

	memset(&p, 0, sizeof(p));
	p.n_vlan = 2;
	p.vlan[0] = 100;
	p.vlan[1] = 200;
	cr_assert_eq(pkt_decode_ip(&p, buf, n), 0);
	cr_assert_eq(p.n_vlan, 2);
	cr_assert_eq(p.vlan[1], 200);
}
