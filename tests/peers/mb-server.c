/*
 * mb-server: a small libmodbus Modbus/TCP server (the "PLC") for the inline
 * inspection scenarios. It serves sequential and concurrent clients from one
 * select loop and prints one line per request it handled, so a test can
 * assert what actually reached the PLC through the gateway:
 *
 *   req peer=198.18.30.1:40312 unit=1 fc=3 op=read-hr addr=0 qty=10
 *
 * Holding register i holds i, input register i holds 1000 + i, coil and
 * discrete input i hold i & 1. Exits 0 on SIGTERM or SIGINT.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/select.h>
#include <sys/socket.h>

#include <modbus.h>

#define MBS_MAX_CONN 512
#define MBS_UNIT_ANY -1

/* MBAP header up to and including the unit id. */
#define MBS_HDR 7

struct mbs_conn {
	int fd;
	char peer[64];
	uint8_t buf[MODBUS_TCP_MAX_ADU_LENGTH];
	size_t len;
};

static volatile sig_atomic_t mbs_stop;
static FILE *mbs_log;

static void mbs_on_signal(int sig)
{
	(void)sig;
	mbs_stop = 1;
}

static void __attribute__((format(printf, 1, 2))) mbs_logf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(mbs_log, fmt, ap);
	va_end(ap);
	fputc('\n', mbs_log);
	fflush(mbs_log);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: mb-server [--unit N|any] [--size N] [--log FILE] "
		"[--ready FILE]\n"
		"                 [--max-conn N] ADDR PORT\n"
		"  ADDR is IPv4 or IPv6 (127.0.0.1, ::1, 0.0.0.0, ::); PORT 0 "
		"picks one,\n"
		"  written to --ready FILE once listening.\n");
	exit(2);
}

static long parse_num(const char *what, const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 0);
	if (errno || *s == '\0' || *end != '\0' || v < min || v > max) {
		fprintf(stderr,
			"mb-server: %s: '%s' is not a number in %ld..%ld\n",
			what, s, min, max);
		exit(2);
	}
	return v;
}

static void sockaddr_str(const struct sockaddr_storage *ss, char *buf,
			 size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned int port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		port = ntohs(sin->sin_port);
		snprintf(buf, len, "%s:%u", host, port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		port = ntohs(sin6->sin6_port);
		snprintf(buf, len, "[%s]:%u", host, port);
	} else {
		snprintf(buf, len, "?");
	}
}

static const char *fc_op(int fc)
{
	switch (fc) {
	case 1:
		return "read-coils";
	case 2:
		return "read-di";
	case 3:
		return "read-hr";
	case 4:
		return "read-ir";
	case 5:
		return "write-coil";
	case 6:
		return "write-hr";
	case 15:
		return "write-coils";
	case 16:
		return "write-hrs";
	case 22:
		return "mask-write-hr";
	case 23:
		return "read-write-hrs";
	default:
		return "other";
	}
}

static unsigned int get16(const uint8_t *p)
{
	return (unsigned int)p[0] << 8 | p[1];
}

/* One line describing the request in req (MBAP header at 0, PDU at hdr). */
static void log_request(const struct mbs_conn *c, const uint8_t *req, int len,
			int hdr, const char *note)
{
	int unit = req[hdr - 1], fc = req[hdr];
	const uint8_t *p = req + hdr + 1;
	int plen = len - hdr - 1;
	char body[96];

	if ((fc >= 1 && fc <= 4) || fc == 15 || fc == 16) {
		if (plen >= 4)
			snprintf(body, sizeof(body), "addr=%u qty=%u", get16(p),
				 get16(p + 2));
		else
			snprintf(body, sizeof(body), "len=%d", plen);
	} else if (fc == 5 && plen >= 4) {
		snprintf(body, sizeof(body), "addr=%u qty=1 value=%u", get16(p),
			 get16(p + 2) == 0xff00 ? 1u : 0u);
	} else if (fc == 6 && plen >= 4) {
		snprintf(body, sizeof(body), "addr=%u qty=1 value=%u", get16(p),
			 get16(p + 2));
	} else if (fc == 23 && plen >= 8) {
		snprintf(body, sizeof(body),
			 "addr=%u qty=%u write-addr=%u write-qty=%u", get16(p),
			 get16(p + 2), get16(p + 4), get16(p + 6));
	} else {
		snprintf(body, sizeof(body), "len=%d", plen);
	}
	mbs_logf("req peer=%s unit=%d fc=%d op=%s %s%s%s", c->peer, unit, fc,
		 fc_op(fc), body, note ? " " : "", note ? note : "");
}

static void conn_close(struct mbs_conn *c, const char *why)
{
	mbs_logf("close peer=%s %s", c->peer, why);
	close(c->fd);
	c->fd = -1;
}

static int fc_known(int fc)
{
	return (fc >= 1 && fc <= 6) || fc == 15 || fc == 16 || fc == 17 ||
	       fc == 22 || fc == 23;
}

/* Answer the complete ADU req of len bytes; -1 if the connection broke. */
static int conn_reply(modbus_t *ctx, modbus_mapping_t *map, struct mbs_conn *c,
		      uint8_t *req, int len, int unit)
{
	int fc = req[MBS_HDR], rc;

	modbus_set_socket(ctx, c->fd);
	if (unit != MBS_UNIT_ANY && req[MBS_HDR - 1] != unit) {
		log_request(c, req, len, MBS_HDR, "reply=exception-11-unit");
		rc = modbus_reply_exception(ctx, req,
					    MODBUS_EXCEPTION_GATEWAY_TARGET);
	} else if (!fc_known(fc)) {
		/* modbus_reply would flush the socket: pipelined requests. */
		log_request(c, req, len, MBS_HDR, "reply=exception-1");
		rc = modbus_reply_exception(ctx, req,
					    MODBUS_EXCEPTION_ILLEGAL_FUNCTION);
	} else {
		log_request(c, req, len, MBS_HDR, NULL);
		rc = modbus_reply(ctx, req, len, map);
	}
	if (rc < 0) {
		char why[128];

		snprintf(why, sizeof(why), "error=\"reply: %s\"",
			 modbus_strerror(errno));
		conn_close(c, why);
		return -1;
	}
	return 0;
}

/*
 * Read what c has and answer every complete request in it. Framing follows
 * the MBAP length field, so a request split over several segments and
 * several requests in one segment are both served as sent; anything that is
 * not MBAP (protocol id not 0, length out of range) closes the connection.
 */
static void conn_serve(modbus_t *ctx, modbus_mapping_t *map, struct mbs_conn *c,
		       int unit)
{
	ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
	size_t off = 0;

	if (n <= 0) {
		char why[128];

		if (n == 0)
			snprintf(why, sizeof(why), "eof%s",
				 c->len ? " partial-request" : "");
		else
			snprintf(why, sizeof(why), "error=\"recv: %s\"",
				 strerror(errno));
		conn_close(c, why);
		return;
	}
	c->len += (size_t)n;
	while (c->len - off >= MBS_HDR) {
		const uint8_t *h = c->buf + off;
		unsigned int proto = get16(h + 2), mlen = get16(h + 4);
		char why[128];

		if (proto != 0 || mlen < 2 ||
		    mlen > MODBUS_MAX_PDU_LENGTH + 1) {
			snprintf(why, sizeof(why),
				 "error=\"not Modbus/TCP: protocol id %u, "
				 "length %u\"",
				 proto, mlen);
			conn_close(c, why);
			return;
		}
		if (c->len - off < 6 + mlen)
			break;
		if (conn_reply(ctx, map, c, c->buf + off, (int)(6 + mlen),
			       unit) < 0)
			return;
		off += 6 + mlen;
	}
	memmove(c->buf, c->buf + off, c->len - off);
	c->len -= off;
}

static int write_ready(const char *path, int lfd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char tmp[4096];
	unsigned int port;
	FILE *f;

	if (getsockname(lfd, (struct sockaddr *)&ss, &sl) < 0) {
		fprintf(stderr, "mb-server: getsockname: %s\n",
			strerror(errno));
		return -1;
	}
	port = ss.ss_family == AF_INET6 ?
		       ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) :
		       ntohs(((struct sockaddr_in *)&ss)->sin_port);
	fprintf(stderr, "mb-server: listening on port %u\n", port);
	if (!path)
		return 0;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f || fprintf(f, "%u\n", port) < 0 || fclose(f) != 0 ||
	    rename(tmp, path) < 0) {
		fprintf(stderr, "mb-server: --ready %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *log_path = NULL, *ready = NULL, *addr, *port;
	static struct mbs_conn conns[MBS_MAX_CONN];
	int unit = MBS_UNIT_ANY, size = 10000, max_conn = 64;
	modbus_mapping_t *map;
	struct sigaction sa;
	sigset_t block, orig;
	modbus_t *ctx;
	int lfd, i;

	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
		const char *o = argv[i];

		if (i + 1 >= argc)
			usage();
		if (!strcmp(o, "--unit"))
			unit = !strcmp(argv[i + 1], "any") ?
				       MBS_UNIT_ANY :
				       (int)parse_num("--unit", argv[i + 1], 0,
						      255);
		else if (!strcmp(o, "--size"))
			size = (int)parse_num("--size", argv[i + 1], 1, 65536);
		else if (!strcmp(o, "--log"))
			log_path = argv[i + 1];
		else if (!strcmp(o, "--ready"))
			ready = argv[i + 1];
		else if (!strcmp(o, "--max-conn"))
			max_conn = (int)parse_num("--max-conn", argv[i + 1], 1,
						  MBS_MAX_CONN);
		else
			usage();
		i++;
	}
	if (argc - i != 2)
		usage();
	addr = argv[i];
	port = argv[i + 1];

	mbs_log = stdout;
	if (log_path) {
		mbs_log = fopen(log_path, "a");
		if (!mbs_log) {
			fprintf(stderr, "mb-server: --log %s: %s\n", log_path,
				strerror(errno));
			return 1;
		}
	}

	map = modbus_mapping_new(size, size, size, size);
	if (!map) {
		fprintf(stderr, "mb-server: mapping of %d entries: %s\n", size,
			modbus_strerror(errno));
		return 1;
	}
	for (i = 0; i < size; i++) {
		map->tab_registers[i] = (uint16_t)i;
		map->tab_input_registers[i] = (uint16_t)(1000 + i);
		map->tab_bits[i] = (uint8_t)(i & 1);
		map->tab_input_bits[i] = (uint8_t)(i & 1);
	}

	ctx = modbus_new_tcp_pi(addr, port);
	if (!ctx) {
		fprintf(stderr, "mb-server: %s port %s: %s\n", addr, port,
			modbus_strerror(errno));
		return 1;
	}
	lfd = modbus_tcp_pi_listen(ctx, max_conn);
	if (lfd < 0) {
		fprintf(stderr, "mb-server: listen on %s port %s: %s\n", addr,
			port, modbus_strerror(errno));
		return 1;
	}
	if (write_ready(ready, lfd) < 0)
		return 1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = mbs_on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &orig);

	for (i = 0; i < MBS_MAX_CONN; i++)
		conns[i].fd = -1;

	while (!mbs_stop) {
		fd_set rfds;
		int maxfd = lfd, n;

		FD_ZERO(&rfds);
		FD_SET(lfd, &rfds);
		for (i = 0; i < max_conn; i++) {
			if (conns[i].fd < 0)
				continue;
			FD_SET(conns[i].fd, &rfds);
			if (conns[i].fd > maxfd)
				maxfd = conns[i].fd;
		}
		/* pselect: SIGTERM is only delivered while waiting here. */
		n = pselect(maxfd + 1, &rfds, NULL, NULL, NULL, &orig);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "mb-server: select: %s\n",
				strerror(errno));
			break;
		}
		if (FD_ISSET(lfd, &rfds)) {
			struct sockaddr_storage ss;
			socklen_t sl = sizeof(ss);
			int fd = accept(lfd, (struct sockaddr *)&ss, &sl);

			for (i = 0; fd >= 0 && i < max_conn; i++)
				if (conns[i].fd < 0)
					break;
			if (fd < 0) {
				fprintf(stderr, "mb-server: accept: %s\n",
					strerror(errno));
			} else if (i == max_conn || fd >= FD_SETSIZE) {
				char peer[64];

				sockaddr_str(&ss, peer, sizeof(peer));
				mbs_logf("refuse peer=%s max-conn=%d", peer,
					 max_conn);
				close(fd);
			} else {
				conns[i].fd = fd;
				conns[i].len = 0;
				sockaddr_str(&ss, conns[i].peer,
					     sizeof(conns[i].peer));
				mbs_logf("accept peer=%s", conns[i].peer);
			}
		}
		for (i = 0; i < max_conn; i++)
			if (conns[i].fd >= 0 && FD_ISSET(conns[i].fd, &rfds))
				conn_serve(ctx, map, &conns[i], unit);
	}

	for (i = 0; i < max_conn; i++)
		if (conns[i].fd >= 0)
			close(conns[i].fd);
	/* modbus_close() closes the listening socket through ctx->s. */
	modbus_set_socket(ctx, lfd);
	modbus_close(ctx);
	modbus_free(ctx);
	modbus_mapping_free(map);
	if (mbs_log != stdout)
		fclose(mbs_log);
	return 0;
}
