/*
 * Packet descriptor of the DPI path: an IPv4 or IPv6 packet (as NFQUEUE
 * hands it over, or as replay finds it under a link header) decoded down to
 * TCP or UDP, every header bounded with the shared cursor. The descriptor
 * borrows the caller's bytes; nothing is copied or allocated.
 */
#ifndef CONDUIT_DPI_PKT_H
#define CONDUIT_DPI_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PKT_MAX_VLAN 2 /* 802.1Q, QinQ: outer first */

/* TCP flags, as in the header's flags octet. */
#define PKT_TCP_FIN 0x01
#define PKT_TCP_SYN 0x02
#define PKT_TCP_RST 0x04
#define PKT_TCP_PSH 0x08
#define PKT_TCP_ACK 0x10
#define PKT_TCP_URG 0x20

/* IPv4 as ::ffff:a.b.c.d would be ambiguous with real mapped addresses,
 * so the family is kept; v4 addresses use the first four octets. */
struct pkt_addr {
	uint8_t family; /* 4 or 6 */
	uint8_t a[16];
};

struct pkt {
	/* set by the link layer (replay) or left 0 (NFQUEUE) */
	uint8_t n_vlan;
	uint16_t vlan[PKT_MAX_VLAN];

	uint8_t ip_version; /* 4 or 6 */
	uint8_t ttl;	    /* IPv4 TTL / IPv6 hop limit */
	uint8_t l4proto;    /* IPPROTO_TCP, IPPROTO_UDP, or what was found */
	bool fragment;	    /* IP fragment: L4 not decoded */
	struct pkt_addr src, dst;
	uint16_t sport, dport;

	/* TCP */
	uint32_t seq, ack;
	uint8_t tcp_flags;
	uint16_t window;

	/* L4 payload (TCP segment data, UDP datagram data), trimmed to the
	 * IP and UDP lengths so Ethernet padding never reaches a parser */
	const uint8_t *payload;
	size_t payload_len;

	/* interface names (NFQUEUE metadata; NULL in replay), for zones
	 * defined by interfaces */
	const char *iifname, *oifname;

	/* the IP packet itself (for nDPI), from the IP header on */
	const uint8_t *l3;
	size_t l3_len;

	const char *error; /* static reason, set with -EBADMSG */
};

/*
 * Decode an IP packet at buf (no link header). 0: IP and, unless
 * `fragment` is set or l4proto is neither TCP nor UDP, L4 decoded.
 * -EBADMSG: malformed or truncated, `error` says what. -EPROTONOSUPPORT:
 * not IPv4 or IPv6. Fields set before the error stay set. n_vlan and vlan
 * are left as they are, so a link layer can fill them first.
 */
int pkt_decode_ip(struct pkt *p, const uint8_t *buf, size_t len);

/* "192.0.2.1:502" or "[2001:db8::1]:502"; returns buf. len >= 56. */
#define PKT_ADDR_PORT_STRLEN 56
char *pkt_addr_port_str(const struct pkt_addr *a, uint16_t port, char *buf,
			size_t len);

#endif
