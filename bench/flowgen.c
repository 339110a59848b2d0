/*
 * flowgen: IPv4 UDP generator for bench/inline.sh with a payload of our
 * choice (a DNP3 request, so the inspection path parses and decides every
 * datagram) and many flows: NSRC source addresses x NPORT source ports,
 * sent round robin (flow k: address SRC + k % NSRC, port SPORT + k / NSRC)
 * from one raw socket (IPPROTO_RAW, so any source port without a socket
 * per flow), sendmmsg bursts of 64. The UDP checksum is computed. Bounded
 * by SECONDS, and by COUNT datagrams when given; -r paces to PPS.
 *
 *   flowgen [-s SRC] [-n NSRC] [-p SPORT] [-P NPORT] [-x HEX] [-r PPS]
 *           [-c COUNT] DST DPORT SECONDS
 *
 * Prints "sent N pkts flows F tx_pps X". Root (raw socket); run it only
 * inside a network namespace. Build: gcc -O2 -Wall -o flowgen flowgen.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FG_BURST 64
#define FG_MAX_PAYLOAD 1024
#define FG_HDR 28 /* IPv4 20 + UDP 8 */

static volatile sig_atomic_t fg_stop;

static void fg_on_signal(int sig)
{
	(void)sig;
	fg_stop = 1;
}

static double fg_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fg_sleep(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

static int fg_hex(const char *s, uint8_t *out, size_t max)
{
	size_t n = 0;

	while (s[0] != '\0') {
		unsigned int b;

		if (s[1] == '\0' || n == max || sscanf(s, "%2x", &b) != 1)
			return -1;
		out[n++] = (uint8_t)b;
		s += 2;
	}
	return (int)n;
}

static uint32_t fg_sum(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t fg_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* IPv4 + UDP header of flow (src, sport) in front of the payload at p+28 */
static void fg_build(uint8_t *p, uint32_t src, uint32_t dst, uint16_t sport,
		     unsigned long dport, size_t plen, uint32_t payload_sum)
{
	uint16_t ulen = (uint16_t)(8 + plen), ck;
	uint32_t sum;

	memset(p, 0, FG_HDR);
	p[0] = 0x45;
	p[2] = (uint8_t)((FG_HDR + plen) >> 8);
	p[3] = (uint8_t)(FG_HDR + plen);
	p[8] = 64;
	p[9] = IPPROTO_UDP;
	/* id and header checksum: filled in by the kernel (IPPROTO_RAW) */
	memcpy(p + 12, &src, 4);
	memcpy(p + 16, &dst, 4);
	p[20] = (uint8_t)(sport >> 8);
	p[21] = (uint8_t)sport;
	p[22] = (uint8_t)(dport >> 8);
	p[23] = (uint8_t)dport;
	p[24] = (uint8_t)(ulen >> 8);
	p[25] = (uint8_t)ulen;
	/* pseudo header + UDP header (checksum 0) + payload */
	sum = fg_sum(p + 12, 8, payload_sum) + IPPROTO_UDP + ulen;
	sum = fg_sum(p + 20, 8, sum);
	ck = fg_fold(sum);
	if (ck == 0)
		ck = 0xffff;
	p[26] = (uint8_t)(ck >> 8);
	p[27] = (uint8_t)ck;
}

static void fg_usage(void)
{
	fprintf(stderr,
		"usage: flowgen [-s SRC] [-n NSRC] [-p SPORT] [-P NPORT] "
		"[-x HEX] [-r PPS] [-c COUNT] DST DPORT SECONDS\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static uint8_t pkt[FG_BURST][FG_HDR + FG_MAX_PAYLOAD];
	uint8_t payload[FG_MAX_PAYLOAD];
	struct mmsghdr m[FG_BURST];
	struct iovec iov[FG_BURST];
	struct sockaddr_in dsa = { .sin_family = AF_INET };
	struct in_addr src = { 0 };
	struct sigaction sa;
	unsigned long nsrc = 1, nport = 1, sport = 40000, flows;
	unsigned long long count = 0, sent = 0, k = 0;
	double pps = 0, secs, start, end, t;
	int plen = 18, opt, fd, sb = 4 << 20;
	uint32_t psum;
	unsigned long dport;

	/* default: DNP3 read class 0 (a link frame with valid CRCs) */
	plen = fg_hex("05640bc4050064006f36d0c3013c0106344d", payload,
		      sizeof(payload));
	while ((opt = getopt(argc, argv, "s:n:p:P:x:r:c:")) != -1) {
		switch (opt) {
		case 's':
			if (inet_pton(AF_INET, optarg, &src) != 1)
				fg_usage();
			break;
		case 'n':
			nsrc = strtoul(optarg, NULL, 10);
			break;
		case 'p':
			sport = strtoul(optarg, NULL, 10);
			break;
		case 'P':
			nport = strtoul(optarg, NULL, 10);
			break;
		case 'x':
			plen = fg_hex(optarg, payload, sizeof(payload));
			if (plen < 0) {
				fprintf(stderr, "flowgen: bad hex payload\n");
				return 2;
			}
			break;
		case 'r':
			pps = strtod(optarg, NULL);
			break;
		case 'c':
			count = strtoull(optarg, NULL, 10);
			break;
		default:
			fg_usage();
		}
	}
	if (argc - optind != 3 ||
	    inet_pton(AF_INET, argv[optind], &dsa.sin_addr) != 1)
		fg_usage();
	dport = strtoul(argv[optind + 1], NULL, 10);
	secs = strtod(argv[optind + 2], NULL);
	if (nsrc < 1 || nport < 1 || dport < 1 || dport > 65535 || sport < 1 ||
	    sport + nport - 1 > 65535 || secs <= 0) {
		fprintf(stderr, "flowgen: bad -n, -p/-P or SECONDS\n");
		return 2;
	}
	if (src.s_addr == 0) {
		fprintf(stderr, "flowgen: -s SRC is required\n");
		return 2;
	}
	flows = nsrc * nport;
	fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (fd < 0) {
		perror("flowgen: raw socket");
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sb, sizeof(sb));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fg_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	psum = fg_sum(payload, (size_t)plen, 0);
	memset(m, 0, sizeof(m));
	for (int i = 0; i < FG_BURST; i++) {
		memcpy(pkt[i] + FG_HDR, payload, (size_t)plen);
		iov[i].iov_base = pkt[i];
		iov[i].iov_len = FG_HDR + (size_t)plen;
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
		m[i].msg_hdr.msg_name = &dsa;
		m[i].msg_hdr.msg_namelen = sizeof(dsa);
	}
	start = fg_now();
	end = start + secs;
	while (!fg_stop && (t = fg_now()) < end) {
		unsigned int want = FG_BURST;
		int r;

		if (count && count - sent < want)
			want = (unsigned int)(count - sent);
		if (want == 0)
			break;
		if (pps > 0) {
			double due = start + (double)sent / pps;

			if (due > t)
				fg_sleep(due - t);
		}
		for (unsigned int i = 0; i < want; i++) {
			unsigned long f = (unsigned long)((k + i) % flows);
			uint32_t a =
				htonl(ntohl(src.s_addr) + (uint32_t)(f % nsrc));

			fg_build(pkt[i], a, dsa.sin_addr.s_addr,
				 (uint16_t)(sport + f / nsrc), dport,
				 (size_t)plen, psum);
		}
		r = sendmmsg(fd, m, want, 0);
		if (r < 0) {
			if (errno == EINTR || errno == ENOBUFS ||
			    errno == EAGAIN)
				continue;
			perror("flowgen: sendmmsg");
			break;
		}
		sent += (unsigned long long)r;
		k += (unsigned long long)r;
	}
	t = fg_now() - start;
	printf("sent %llu pkts flows %lu tx_pps %.0f\n", sent,
	       flows < sent ? flows : (unsigned long)sent,
	       t > 0 ? (double)sent / t : 0.0);
	close(fd);
	return 0;
}
