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

/*
 * A Modbus rule with action reject and an exception code answers the
 * refused request at protocol level instead: the client gets, as if from
 * the server, a segment carrying the exception response (seq = the
 * segment's ack, ack = its seq + payload length, PSH|ACK, window
 * RESET_MB_WINDOW), and only the server gets a reset (to_receiver of
 * reset_pair), so it never sees the request.
 */
#define RESET_MB_EXC_LEN 9 /* MBAP (7) + function | 0x80 + code */
#define RESET_MB_WINDOW 1024
#define RESET_EXC_PKT_MAX (RESET_PKT_MAX + RESET_MB_EXC_LEN)

struct reset_modbus {
	uint16_t transaction_id; /* of the request, echoed */
	uint8_t unit_id;
	uint8_t function;  /* of the request, without the 0x80 bit */
	uint8_t exception; /* exception code, 1..255 */
	size_t pdu_len;	   /* the request's ADU length (MBAP length + 6) */
};

struct reset_exception {
	uint8_t family;			      /* 4 or 6 */
	uint8_t to_client[RESET_EXC_PKT_MAX]; /* the exception response */
	size_t to_client_len;
	uint8_t to_server[RESET_PKT_MAX]; /* RST, as reset_pair.to_receiver */
	size_t to_server_len;
	const char *error; /* static reason when the build fails */
};

/*
 * Build both for the refused client segment p. 0 on success; the
 * reset_build errors; -EINVAL when p has SYN or FIN or no ACK, when its
 * payload is not exactly the one request (payload_len != m->pdu_len) or
 * the code is 0. `error` says which. Pure, like reset_build.
 */
int reset_build_exception(const struct pkt *p, const struct reset_modbus *m,
			  struct reset_exception *out);

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

/*
 * Send the exception response to the client, then the reset to the
 * server. When reset_build_exception refuses p (more than the one
 * request in the segment, ...), fall back to reset_send: then 1 when both
 * resets went out. 0 when the exception and reset went out; else -errno
 * of the first failure.
 */
int reset_send_exception(const struct reset_sock *s, const struct pkt *p,
			 const struct reset_modbus *m);

#endif
