/*
 * udpgen: small-packet UDP generator (sendmmsg) and sink (recvmmsg), both
 * bounded in time, for bench/forward.sh and the integration scenarios.
 *
 *   udpgen send [-l LEN] [-t THREADS] [-c COUNT] [-r PPS] DST PORT SECONDS
 *   udpgen recv [-w WAIT] PORT SECONDS
 *
 * send: each thread owns one connected socket (one source port, one flow)
 *       and sends bursts until SECONDS elapse or COUNT datagrams are out
 *       (COUNT and PPS are totals, split across threads). Prints
 *       "sent N pkts tx_pps X".
 * recv: counts datagrams on [::]:PORT (v4 and v6) for SECONDS from the
 *       first one, stops early 1 s after the last one, or after WAIT
 *       seconds (default SECONDS + 5) when nothing arrives. Prints
 *       "recv N pkts in T s rx_pps X".
 * SIGINT/SIGTERM end either mode early; the summary line is still printed.
 * Build: gcc -O2 -Wall -pthread -o udpgen udpgen.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define UG_BURST 64
#define UG_MAX_THREADS 16
#define UG_MAX_LEN 1472

struct ug_sender {
	struct sockaddr_storage dst;
	socklen_t dst_len;
	double secs;
	size_t len;
	uint64_t count; /* 0 = unbounded */
	double pps;	/* 0 = as fast as possible */
	uint64_t sent;
	int err;
};

static volatile sig_atomic_t ug_stop;

static void ug_on_signal(int sig)
{
	(void)sig;
	ug_stop = 1;
}

static void ug_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler =
		ug_on_signal; /* no SA_RESTART: recvmmsg returns EINTR */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static double ug_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void ug_sleep(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

static void *ug_send_thread(void *arg)
{
	struct ug_sender *s = arg;
	static __thread char buf[UG_BURST][UG_MAX_LEN];
	struct mmsghdr m[UG_BURST];
	struct iovec iov[UG_BURST];
	int fd, sb = 4 << 20;
	double start, end;

	fd = socket(s->dst.ss_family, SOCK_DGRAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&s->dst, s->dst_len) < 0) {
		s->err = errno;
		perror("udpgen: socket/connect");
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sb, sizeof(sb));
	memset(m, 0, sizeof(m));
	for (int i = 0; i < UG_BURST; i++) {
		memset(buf[i], 'u', s->len);
		iov[i].iov_base = buf[i];
		iov[i].iov_len = s->len;
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	start = ug_now();
	end = start + s->secs;
	while (!ug_stop) {
		unsigned int want = UG_BURST;
		double t;
		int r;

		if (s->count && s->count - s->sent < want)
			want = (unsigned int)(s->count - s->sent);
		if (s->pps > 0) {
			/* pace: never ahead of sent/pps; small bursts */
			double due = start + s->sent / s->pps;

			if (want > 8)
				want = 8;
			t = ug_now();
			if (due > t)
				ug_sleep(due - t);
		}
		if (want == 0)
			break;
		r = sendmmsg(fd, m, want, 0);
		if (r > 0) {
			s->sent += (uint64_t)r;
		} else if (r < 0 && errno != ENOBUFS && errno != EAGAIN &&
			   errno != ECONNREFUSED && errno != EINTR) {
			s->err = errno;
			perror("udpgen: sendmmsg");
			break;
		}
		if (s->count && s->sent >= s->count)
			break;
		if (((s->sent & 1023) < UG_BURST || s->pps > 0) &&
		    ug_now() >= end)
			break;
	}
	close(fd);
	return NULL;
}

static int ug_parse_dst(const char *ip, const char *port,
			struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)atoi(port));
		*len = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)atoi(port));
		*len = sizeof(*s6);
		return 0;
	}
	return -1;
}

static int ug_send(int argc, char **argv)
{
	struct ug_sender s[UG_MAX_THREADS];
	pthread_t t[UG_MAX_THREADS];
	int threads = 1, opt;
	size_t len = 64;
	uint64_t count = 0, tot = 0;
	double pps = 0, secs, t0, el;

	while ((opt = getopt(argc, argv, "l:t:c:r:")) != -1) {
		switch (opt) {
		case 'l':
			len = (size_t)atoi(optarg);
			break;
		case 't':
			threads = atoi(optarg);
			break;
		case 'c':
			count = strtoull(optarg, NULL, 10);
			break;
		case 'r':
			pps = atof(optarg);
			break;
		default:
			return 2;
		}
	}
	if (argc - optind != 3 || threads < 1 || threads > UG_MAX_THREADS ||
	    len < 1 || len > UG_MAX_LEN)
		return 2;
	secs = atof(argv[optind + 2]);
	t0 = ug_now();
	for (int i = 0; i < threads; i++) {
		memset(&s[i], 0, sizeof(s[i]));
		if (ug_parse_dst(argv[optind], argv[optind + 1], &s[i].dst,
				 &s[i].dst_len) < 0) {
			fprintf(stderr, "udpgen: bad address %s\n",
				argv[optind]);
			return 2;
		}
		s[i].secs = secs;
		s[i].len = len;
		s[i].pps = pps / threads;
		s[i].count = count / threads + ((uint64_t)i < count % threads);
		if (count && s[i].count == 0)
			s[i].count = 0, s[i].secs = 0;
		pthread_create(&t[i], NULL, ug_send_thread, &s[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		tot += s[i].sent;
	}
	el = ug_now() - t0;
	printf("sent %llu pkts tx_pps %.0f\n", (unsigned long long)tot,
	       el > 0 ? tot / el : 0.0);
	return s[0].err ? 1 : 0;
}

static int ug_recv(int argc, char **argv)
{
	static char buf[UG_BURST][2048];
	struct mmsghdr m[UG_BURST];
	struct iovec iov[UG_BURST];
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6 };
	struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 };
	int fd, z = 0, rb = 32 << 20, opt;
	double secs, wait = -1, first = 0, last = 0, start, span;
	uint64_t n = 0;

	while ((opt = getopt(argc, argv, "w:")) != -1) {
		if (opt != 'w')
			return 2;
		wait = atof(optarg);
	}
	if (argc - optind != 2)
		return 2;
	secs = atof(argv[optind + 1]);
	if (wait < 0)
		wait = secs + 5;
	fd = socket(AF_INET6, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("udpgen: socket");
		return 1;
	}
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &z, sizeof(z));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rb, sizeof(rb)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof(rb));
	sa.sin6_port = htons((uint16_t)atoi(argv[optind]));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("udpgen: bind");
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(m, 0, sizeof(m));
	for (int i = 0; i < UG_BURST; i++) {
		iov[i].iov_base = buf[i];
		iov[i].iov_len = sizeof(buf[i]);
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	/* ready marker for scripts that wait for the sink */
	fprintf(stderr, "udpgen: listening on port %s\n", argv[optind]);
	start = ug_now();
	while (!ug_stop) {
		double t = ug_now();
		int r;

		if (first == 0 && t - start > wait)
			break;
		if (first != 0 && (t - first > secs || t - last > 1.0))
			break;
		r = recvmmsg(fd, m, UG_BURST, 0, NULL);
		if (r > 0) {
			if (first == 0)
				first = ug_now();
			n += (uint64_t)r;
			last = ug_now();
		}
	}
	close(fd);
	span = last - first;
	printf("recv %llu pkts in %.3f s rx_pps %.0f\n", (unsigned long long)n,
	       span, span > 0 ? n / span : 0.0);
	return 0;
}

int main(int argc, char **argv)
{
	int rc = 2;

	ug_signals();
	if (argc >= 2 && strcmp(argv[1], "send") == 0)
		rc = ug_send(argc - 1, argv + 1);
	else if (argc >= 2 && strcmp(argv[1], "recv") == 0)
		rc = ug_recv(argc - 1, argv + 1);
	if (rc == 2)
		fprintf(stderr,
			"usage: udpgen send [-l LEN] [-t THREADS] [-c COUNT] [-r PPS] DST PORT SECONDS\n"
			"       udpgen recv [-w WAIT] PORT SECONDS\n");
	return rc;
}
