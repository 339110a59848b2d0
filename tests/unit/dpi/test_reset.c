/*
 * The TCP resets of `reject`. Builder: every header field and checksum of
 * both packets, IPv4 and IPv6, against bytes computed by an independent
 * implementation (a Python script, each packet checked "good" by tshark
 * with checksum validation on) plus a checksum check of this file's own.
 * Kernel: in a private network namespace, a real TCP connection on
 * loopback is reset from outside through the raw sockets, and the sockets
 * see ECONNRESET. The kernel tests need root and skip otherwise.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dpi/pkt.h"
#include "dpi/reset.h"

static uint8_t buf[256];
static struct pkt p;
static struct reset_pair r;

static size_t hex(uint8_t *out, const char *h)
{
	size_t n = 0;

	for (const char *s = h; *s;) {
		unsigned v;

		if (*s == ' ') {
			s++;
			continue;
		}
		cr_assert(sscanf(s, "%2x", &v) == 1);
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return n;
}

static void decode(const char *h)
{
	size_t n = hex(buf, h);

	memset(&p, 0, sizeof(p));
	cr_assert_eq(pkt_decode_ip(&p, buf, n), 0, "%s", p.error);
}

static void assert_bytes(const uint8_t *got, size_t len, const char *h)
{
	uint8_t want[RESET_PKT_MAX];
	size_t n = hex(want, h);

	cr_assert_eq(len, n, "length %zu, want %zu", len, n);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(got[i], want[i], "octet %zu: %02x, want %02x", i,
			     got[i], want[i]);
}

/* One's-complement sum over the pseudo-header and TCP header: a correct
 * checksum makes it 0xffff. Written apart from the builder's. */
static uint16_t verify(const uint8_t *b, size_t len)
{
	uint8_t ps[40 + 4 + 4 + RESET_PKT_MAX];
	size_t n = 0, ip = (b[0] >> 4) == 4 ? 20 : 40;
	size_t tcp = len - ip;
	uint32_t s = 0;

	if (ip == 20) {
		memcpy(ps, b + 12, 8);
		ps[8] = 0;
		ps[9] = 6;
		ps[10] = (uint8_t)(tcp >> 8);
		ps[11] = (uint8_t)tcp;
		n = 12;
	} else {
		memcpy(ps, b + 8, 32);
		memset(ps + 32, 0, 8);
		ps[34] = (uint8_t)(tcp >> 8);
		ps[35] = (uint8_t)tcp;
		ps[39] = 6;
		n = 40;
	}
	memcpy(ps + n, b + ip, tcp);
	n += tcp;
	for (size_t i = 0; i < n; i += 2)
		s += (uint32_t)(ps[i] << 8 | ps[i + 1]);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static void assert_checksums(const uint8_t *b, size_t len)
{
	cr_assert_eq(verify(b, len), 0xffff, "TCP checksum wrong");
	if ((b[0] >> 4) == 4) {
		uint32_t s = 0;

		for (size_t i = 0; i < 20; i += 2)
			s += (uint32_t)(b[i] << 8 | b[i + 1]);
		while (s >> 16)
			s = (s & 0xffff) + (s >> 16);
		cr_assert_eq(s, 0xffff, "IPv4 header checksum wrong");
	}
}

/* 192.0.2.1:50000 -> 192.0.2.2:502, seq 100, ack 200, PSH|ACK, a
 * 12-octet Modbus write single register: refused. */
#define V4_WRITE                                          \
	"45000034 0001 0000 4006 0000 c0000201 c0000202"  \
	"c350 01f6 00000064 000000c8 5018 ffff 0000 0000" \
	"0001 0000 0006 01 06 0001 0003"

/* NDR 5.2 */
Test(reset, ipv4_fields_and_checksums)
{
	decode(V4_WRITE);
	cr_assert_eq(reset_build(&p, &r), 0, "%s", r.error);
	cr_assert_eq(r.family, 4);
	/* 192.0.2.2:502 -> 192.0.2.1:50000, TTL 64, DF, seq 200 (the ack),
	 * ack 112 (100 + 12), RST|ACK, window 0 */
	assert_bytes(r.to_sender, r.to_sender_len,
		     "45000028000040004006b6ccc0000202c0000201"
		     "01f6c350000000c80000007050140000654e0000");
	/* 192.0.2.1:50000 -> 192.0.2.2:502, seq 100, RST */
	assert_bytes(r.to_receiver, r.to_receiver_len,
		     "45000028000040004006b6ccc0000201c0000202"
		     "c35001f600000064000000005004000066320000");
	assert_checksums(r.to_sender, r.to_sender_len);
	assert_checksums(r.to_receiver, r.to_receiver_len);
}

/* 2001:db8::1:50000 -> 2001:db8::2:20000, FIN|PSH|ACK with 3 octets,
 * seq 0xfffffffe (the ack wraps: + 3 + FIN = 2), ack 0x01020304. */
#define V6_FIN                                                              \
	"60000000 0017 06 40"                                               \
	"20010db8000000000000000000000001 20010db8000000000000000000000002" \
	"c350 4e20 fffffffe 01020304 5019 ffff 0000 0000 616263"

/* NDR 5.2 */
Test(reset, ipv6_fin_wraps_and_checksums)
{
	decode(V6_FIN);
	cr_assert_eq(reset_build(&p, &r), 0, "%s", r.error);
	cr_assert_eq(r.family, 6);
	assert_bytes(r.to_sender, r.to_sender_len,
		     "6000000000140640"
		     "20010db8000000000000000000000002"
		     "20010db8000000000000000000000001"
		     "4e20c3500102030400000002501400003ee30000");
	assert_bytes(r.to_receiver, r.to_receiver_len,
		     "6000000000140640"
		     "20010db8000000000000000000000001"
		     "20010db8000000000000000000000002"
		     "c3504e20fffffffe000000005004000042fc0000");
	assert_checksums(r.to_sender, r.to_sender_len);
	assert_checksums(r.to_receiver, r.to_receiver_len);
}

/* CR 3.6 */
Test(reset, bare_syn_answered_with_seq_zero)
{
	/* SYN, no ACK flag, a stray value in the ack field: the reset to
	 * the sender takes seq 0 and acks the SYN (seq + 1) */
	decode("45000028 0001 0000 4006 0000 c0000201 c0000202"
	       "c350 01f6 00008000 deadbeef 5002 ffff 0000 0000");
	cr_assert_eq(reset_build(&p, &r), 0, "%s", r.error);
	assert_bytes(r.to_sender, r.to_sender_len,
		     "45000028000040004006b6ccc0000202c0000201"
		     "01f6c350000000000000800150140000e6840000");
	assert_checksums(r.to_receiver, r.to_receiver_len);
	cr_assert_eq(r.to_receiver[24] << 24 | r.to_receiver[25] << 16 |
			     r.to_receiver[26] << 8 | r.to_receiver[27],
		     0x8000, "receiver reset carries the segment's seq");
	cr_assert_eq(r.to_receiver[33], PKT_TCP_RST);
}

/* CR 3.6 */
Test(reset, same_segment_same_bytes)
{
	struct reset_pair r2;

	decode(V4_WRITE);
	memset(&r, 0xa5, sizeof(r));
	memset(&r2, 0x5a, sizeof(r2));
	cr_assert_eq(reset_build(&p, &r), 0);
	cr_assert_eq(reset_build(&p, &r2), 0);
	cr_assert_eq(r.to_sender_len, r2.to_sender_len);
	cr_assert_eq(r.to_receiver_len, r2.to_receiver_len);
	cr_assert_eq(memcmp(r.to_sender, r2.to_sender, r.to_sender_len), 0);
	cr_assert_eq(memcmp(r.to_receiver, r2.to_receiver, r.to_receiver_len),
		     0);
	cr_assert_null(r.error);
}

/* CR 3.6 */
Test(reset, refuses_what_it_cannot_answer)
{
	/* a reset is never answered */
	decode("45000028 0001 0000 4006 0000 c0000201 c0000202"
	       "c350 01f6 00000064 000000c8 5014 0000 0000 0000");
	cr_assert_eq(reset_build(&p, &r), -EINVAL);
	cr_assert_str_eq(r.error,
			 "reset: the refused segment is itself a reset");
	cr_assert_eq(r.to_sender_len, 0);
	cr_assert_eq(r.to_receiver_len, 0);

	/* UDP */
	decode("4500001e 0001 0000 4011 0000 c0000201 c0000202"
	       "c350 13a5 000a 0000 6869");
	cr_assert_eq(reset_build(&p, &r), -EPROTONOSUPPORT);
	cr_assert_str_eq(r.error, "reset: not TCP (only TCP is reset)");

	/* a non-first fragment has no TCP header */
	decode("45000028 0001 0001 4006 0000 c0000201 c0000202"
	       "c350 01f6 00000064 000000c8 5018 ffff 0000 0000");
	cr_assert(p.fragment);
	cr_assert_eq(reset_build(&p, &r), -EINVAL);
	cr_assert_str_eq(r.error,
			 "reset: IP fragment, no TCP header to answer");

	memset(&p, 0, sizeof(p));
	cr_assert_eq(reset_build(&p, &r), -EPROTONOSUPPORT);
	cr_assert_str_eq(r.error, "reset: not an IPv4 or IPv6 packet");
}

Test(reset, close_of_zeroed_set_is_noop)
{
	struct reset_sock s = { 0 };

	if (fcntl(0, F_GETFD) < 0)
		cr_assert_eq(open("/dev/null", O_RDONLY), 0);
	reset_close(&s); /* fd 0 is not the set's */
	cr_assert_neq(fcntl(0, F_GETFD), -1, "reset_close closed fd 0");
}

/* --- kernel ------------------------------------------------------------- */

#define PORT 5020

static void netns_up(void)
{
	struct ifreq ifr = { 0 };
	int fd;

	if (geteuid() != 0)
		cr_skip_test("needs root (network namespace, raw sockets)");
	if (unshare(CLONE_NEWNET) < 0)
		cr_skip_test("unshare(CLONE_NEWNET): %s", strerror(errno));
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	cr_assert_eq(ioctl(fd, SIOCGIFFLAGS, &ifr), 0, "SIOCGIFFLAGS lo: %s",
		     strerror(errno));
	ifr.ifr_flags |= IFF_UP;
	cr_assert_eq(ioctl(fd, SIOCSIFFLAGS, &ifr), 0, "SIOCSIFFLAGS lo: %s",
		     strerror(errno));
	close(fd);
}

struct conn {
	int family;
	int lfd, cfd, sfd; /* listener, client, accepted server side */
	uint16_t cport;
};

static void sa_make(int family, const char *addr, uint16_t port,
		    struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;

		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		cr_assert_eq(inet_pton(AF_INET, addr, &s->sin_addr), 1);
		*len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons(port);
		cr_assert_eq(inet_pton(AF_INET6, addr, &s->sin6_addr), 1);
		*len = sizeof(*s);
	}
}

static void xfer(int from, int to, const char *msg)
{
	char rb[16];
	size_t n = strlen(msg);

	cr_assert_eq(send(from, msg, n, 0), (ssize_t)n, "send: %s",
		     strerror(errno));
	cr_assert_eq(recv(to, rb, sizeof(rb), 0), (ssize_t)n, "recv: %s",
		     strerror(errno));
}

/* client (caddr) -> server (saddr):PORT, established, "ping" and "pong"
 * exchanged so both sequence spaces have moved */
static void conn_up(struct conn *c, int family, const char *caddr,
		    const char *saddr)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1;

	c->family = family;
	c->lfd = socket(family, SOCK_STREAM, 0);
	cr_assert_geq(c->lfd, 0);
	setsockopt(c->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa_make(family, saddr, PORT, &ss, &len);
	if (bind(c->lfd, (struct sockaddr *)&ss, len) < 0 && family == AF_INET6)
		cr_skip_test("no IPv6 on lo: %s", strerror(errno));
	cr_assert_eq(listen(c->lfd, 1), 0, "listen: %s", strerror(errno));
	c->cfd = socket(family, SOCK_STREAM, 0);
	cr_assert_geq(c->cfd, 0);
	sa_make(family, caddr, 0, &ss, &len);
	cr_assert_eq(bind(c->cfd, (struct sockaddr *)&ss, len), 0,
		     "bind client: %s", strerror(errno));
	sa_make(family, saddr, PORT, &ss, &len);
	cr_assert_eq(connect(c->cfd, (struct sockaddr *)&ss, len), 0,
		     "connect: %s", strerror(errno));
	c->sfd = accept(c->lfd, NULL, NULL);
	cr_assert_geq(c->sfd, 0, "accept: %s", strerror(errno));
	len = sizeof(ss);
	cr_assert_eq(getsockname(c->cfd, (struct sockaddr *)&ss, &len), 0);
	c->cport = ntohs(family == AF_INET ?
				 ((struct sockaddr_in *)&ss)->sin_port :
				 ((struct sockaddr_in6 *)&ss)->sin6_port);
	xfer(c->cfd, c->sfd, "ping");
	xfer(c->sfd, c->cfd, "pong");
}

static void conn_down(struct conn *c)
{
	close(c->cfd);
	close(c->sfd);
	close(c->lfd);
}

/* The socket's pending error after a reset arrived (waits up to 2 s). */
static int reset_seen(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char rb[16];

	if (poll(&pfd, 1, 2000) <= 0)
		return 0;
	if (recv(fd, rb, sizeof(rb), MSG_DONTWAIT) < 0)
		return errno;
	return 0;
}

/* Both sequence numbers of a socket, read in repair mode. */
static void tcp_seqs(int fd, uint32_t *snd_nxt, uint32_t *rcv_nxt)
{
	int on = 1, off = TCP_REPAIR_OFF_NO_WP, q;
	socklen_t len = sizeof(*snd_nxt);

	cr_assert_eq(setsockopt(fd, SOL_TCP, TCP_REPAIR, &on, sizeof(on)), 0,
		     "TCP_REPAIR: %s", strerror(errno));
	q = TCP_SEND_QUEUE;
	cr_assert_eq(setsockopt(fd, SOL_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)),
		     0);
	cr_assert_eq(getsockopt(fd, SOL_TCP, TCP_QUEUE_SEQ, snd_nxt, &len), 0);
	q = TCP_RECV_QUEUE;
	cr_assert_eq(setsockopt(fd, SOL_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)),
		     0);
	cr_assert_eq(getsockopt(fd, SOL_TCP, TCP_QUEUE_SEQ, rcv_nxt, &len), 0);
	cr_assert_eq(setsockopt(fd, SOL_TCP, TCP_REPAIR, &off, sizeof(off)), 0,
		     "TCP_REPAIR off: %s", strerror(errno));
}

/*
 * The segment the client would send next (PSH|ACK, 12 octets), refused
 * before the server saw it: built from the client's own sequence numbers.
 */
static void next_segment(const struct conn *c, const char *caddr,
			 const char *saddr)
{
	int af = c->family;

	memset(&p, 0, sizeof(p));
	p.ip_version = af == AF_INET ? 4 : 6;
	p.src.family = p.dst.family = p.ip_version;
	cr_assert_eq(inet_pton(af, caddr, p.src.a), 1);
	cr_assert_eq(inet_pton(af, saddr, p.dst.a), 1);
	p.l4proto = IPPROTO_TCP;
	p.sport = c->cport;
	p.dport = PORT;
	tcp_seqs(c->cfd, &p.seq, &p.ack);
	p.tcp_flags = PKT_TCP_PSH | PKT_TCP_ACK;
	p.payload_len = 12;
}

static void reset_both(int family, const char *caddr, const char *saddr)
{
	struct reset_sock s;
	struct conn c;
	int ret;

	netns_up();
	conn_up(&c, family, caddr, saddr);
	next_segment(&c, caddr, saddr);
	cr_assert_eq(reset_open(&s), 0);
	ret = reset_send(&s, &p);
	if (ret == -EAFNOSUPPORT)
		cr_skip_test("no raw IPv6 socket");
	cr_assert_eq(ret, 0, "reset_send: %s", strerror(-ret));
	cr_assert_eq(reset_seen(c.cfd), ECONNRESET, "client not reset");
	cr_assert_eq(reset_seen(c.sfd), ECONNRESET, "server not reset");
	reset_close(&s);
	conn_down(&c);
}

/* NDR 5.2 */
Test(reset, kernel_ipv4_both_ends)
{
	reset_both(AF_INET, "127.0.0.1", "127.0.0.2");
}

/* NDR 5.2 */
Test(reset, kernel_ipv6_both_ends)
{
	reset_both(AF_INET6, "::1", "::1");
}

/*
 * The reset to the receiver alone, through the worker's socket: the
 * server is reset, the client (which is sent nothing) is not. With both
 * sent, the client's own reset to the server's challenge ACK would hide a
 * wrong receiver packet.
 */
static void receiver_only(int family, const char *caddr, const char *saddr)
{
	struct sockaddr_storage ss;
	struct reset_sock s;
	struct pollfd w;
	struct conn c;
	socklen_t len;
	ssize_t n;
	int fd;

	netns_up();
	conn_up(&c, family, caddr, saddr);
	w = (struct pollfd){ .fd = c.cfd, .events = POLLIN };
	next_segment(&c, caddr, saddr);
	cr_assert_eq(reset_build(&p, &r), 0, "%s", r.error);
	cr_assert_eq(reset_open(&s), 0);
	fd = family == AF_INET ? s.fd4 : s.fd6;
	if (fd < 0)
		cr_skip_test("no raw IPv6 socket");
	sa_make(family, saddr, 0, &ss, &len);
	n = sendto(fd, r.to_receiver, r.to_receiver_len, 0,
		   (struct sockaddr *)&ss, len);
	cr_assert_eq(n, (ssize_t)r.to_receiver_len, "sendto: %s",
		     strerror(errno));
	cr_assert_eq(reset_seen(c.sfd), ECONNRESET, "server not reset");
	cr_assert_eq(poll(&w, 1, 200), 0, "the client was sent something");
	reset_close(&s);
	conn_down(&c);
}

/* NDR 5.2 */
Test(reset, kernel_ipv4_receiver_alone)
{
	receiver_only(AF_INET, "127.0.0.1", "127.0.0.2");
}

/* NDR 5.2 */
Test(reset, kernel_ipv6_receiver_alone)
{
	receiver_only(AF_INET6, "::1", "::1");
}

/*
 * A segment captured on lo (the client's "data" after ping/pong): the
 * server already has it, so only the reset to the sender is exact; the
 * client must see ECONNRESET. The bytes go through pkt_decode_ip as they
 * would in a worker.
 */
/* CR 3.6 */
Test(reset, kernel_captured_segment_resets_sender)
{
	struct sockaddr_ll sll = { 0 };
	struct reset_sock s;
	struct conn c;
	uint8_t cap[256];
	int pfd, ret;
	bool found = false;

	netns_up();
	pfd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK, htons(ETH_P_IP));
	cr_assert_geq(pfd, 0, "AF_PACKET: %s", strerror(errno));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_IP);
	sll.sll_ifindex = (int)if_nametoindex("lo");
	cr_assert_eq(bind(pfd, (struct sockaddr *)&sll, sizeof(sll)), 0);
	conn_up(&c, AF_INET, "127.0.0.1", "127.0.0.2");
	xfer(c.cfd, c.sfd, "data");
	for (int i = 0; i < 64 && !found; i++) {
		ssize_t n = recv(pfd, cap, sizeof(cap), 0);

		if (n < 0) {
			struct pollfd w = { .fd = pfd, .events = POLLIN };

			cr_assert_eq(errno, EAGAIN);
			cr_assert_eq(poll(&w, 1, 1000), 1, "nothing captured");
			continue;
		}
		memset(&p, 0, sizeof(p));
		if (pkt_decode_ip(&p, cap, (size_t)n) == 0 &&
		    p.l4proto == IPPROTO_TCP && p.sport == c.cport &&
		    p.payload_len == 4 && memcmp(p.payload, "data", 4) == 0)
			found = true;
	}
	cr_assert(found, "the client's data segment was not captured");
	cr_assert_eq(reset_open(&s), 0);
	ret = reset_send(&s, &p);
	cr_assert_eq(ret, 0, "reset_send: %s", strerror(-ret));
	cr_assert_eq(reset_seen(c.cfd), ECONNRESET, "client not reset");
	reset_close(&s);
	conn_down(&c);
	close(pfd);
}
