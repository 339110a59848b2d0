/*
 * The answer of `reject` to a refused TCP segment: a reset to both ends.
 * reset_build is pure: from the decoded segment (struct pkt) it builds two
 * raw IP packets, headers and checksums complete. reset_send writes them
 * through raw sockets that a worker opens once with reset_open; neither
 * allocates, logs or blocks.
 *
 * The packets leave through the gateway's own routing (the raw sockets
 * live in the worker's network namespace), so they traverse the
 * firewall's `output` hook, whose base chain has policy accept: nothing
 * there queues or drops them. Conntrack sees them as packets of the
 * refused flow and closes it.
 */
#ifndef CONDUIT_DPI_RESET_H
#define CONDUIT_DPI_RESET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpi/pkt.h"

#define RESET_TTL 64	 /* IPv4 TTL and IPv6 hop limit of both packets */
#define RESET_PKT_MAX 60 /* IPv6 header + TCP header, no options */

struct reset_pair {
	uint8_t family; /* 4 or 6 */
	/*
	 * To the sender of the refused segment, from its peer: seq = the
	 * segment's ack (0 when the segment carries no ACK, RFC 9293), ack =
	 * seq + payload length (+1 each for SYN and FIN), flags RST|ACK.
	 */
	uint8_t to_sender[RESET_PKT_MAX];
	size_t to_sender_len;
	/* To its receiver, as if from the sender: seq = the segment's seq
	 * (the receiver never saw the segment, so this is exactly its
	 * rcv_nxt), flags RST. */
	uint8_t to_receiver[RESET_PKT_MAX];
	size_t to_receiver_len;
	const char *error; /* static reason when reset_build fails */
};

/*
 * Build both resets for the refused segment p (decoded by pkt_decode_ip).
 * IPv4: no options, DF, id 0; IPv6: no extension headers, traffic class
 * and flow label 0; TCP: no options, window 0. 0 on success;
 * -EPROTONOSUPPORT when p is not TCP over IPv4/IPv6; -EINVAL when p is a
 * fragment (no TCP header) or itself a reset (never answered, RFC 9293).
 * `error` says which.
 */
int reset_build(const struct pkt *p, struct reset_pair *out);

/* Raw sockets of one worker: IPPROTO_RAW, so the header is ours
 * (IP_HDRINCL implied, IPv6 too). */
struct reset_sock {
	bool open; /* false in a zeroed set: reset_close is a no-op */
	int fd4;
	int fd6; /* -1 when the kernel has no IPv6 */
};

/*
 * Open the raw sockets (needs CAP_NET_RAW), non-blocking. 0, or -errno
 * with both closed and the failing socket logged. A kernel without IPv6
 * is no failure: fd6 is then -1 and IPv6 resets fail with -EAFNOSUPPORT.
 */
int reset_open(struct reset_sock *s);

/* Close what reset_open opened; a zeroed or closed set is a no-op. */
void reset_close(struct reset_sock *s);

/*
 * Build and send both resets for p, to the sender first. 0 when both
 * went out; otherwise the reset_build error or the first send's -errno
 * (-EAGAIN: socket buffer full; the packets are not retried).
 */
int reset_send(const struct reset_sock *s, const struct pkt *p);

#endif
