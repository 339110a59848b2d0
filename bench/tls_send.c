/*
 * tls_send: the baseline of bench/audit.sh, a minimal RFC 5425 sender of
 * ours with OpenSSL: one mutually authenticated TLS connection, COUNT
 * octet-counted frames of a fixed RFC 5424 message (only its seq and the
 * run id change), close_notify. No spool, no chain, no delivery proof.
 *
 *   tls_send HOST PORT CA CERT KEY SERVER_NAME COUNT RUN
 *
 * Prints "sent N in S s, R msg/s". Build: gcc -O2 -Wall -o tls_send
 * tls_send.c -lssl -lcrypto
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

static double ts_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int die(const char *what)
{
	fprintf(stderr, "tls_send: %s: ", what);
	ERR_print_errors_fp(stderr);
	fputc('\n', stderr);
	return 1;
}

int main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	char msg[1024], frame[1100];
	SSL_CTX *ctx;
	SSL *ssl;
	long count;
	double t0, t1;
	int fd;

	if (argc != 9) {
		fprintf(stderr, "usage: tls_send HOST PORT CA CERT KEY "
				"SERVER_NAME COUNT RUN\n");
		return 2;
	}
	count = atol(argv[7]);
	if (getaddrinfo(argv[1], argv[2], &hints, &ai) != 0)
		return die("getaddrinfo");
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
		return die("connect");
	freeaddrinfo(ai);
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_load_verify_locations(ctx, argv[3], NULL) ||
	    SSL_CTX_use_certificate_chain_file(ctx, argv[4]) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, argv[5], SSL_FILETYPE_PEM) != 1)
		return die("tls context");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, argv[6]);
	SSL_set1_host(ssl, argv[6]);
	if (SSL_connect(ssl) != 1)
		return die("handshake");
	t0 = ts_now();
	for (long i = 1; i <= count; i++) {
		/* the size and shape of a FLOW_DENIED record of conduitd */
		int n = snprintf(
			msg, sizeof(msg),
			"<180>1 2026-01-02T03:04:05.678901Z gw01.test conduitd "
			"4242 FLOW_DENIED [conduitd@32473 seq=\"%ld\" "
			"req=\"NDR 5.2\" run=\"%s\" reason=\"no-conduit\" "
			"conduit=\"-\" zone_from=\"enterprise\" "
			"zone_to=\"control\" proto=\"udp\" src=\"198.18.10.2\" "
			"sport=\"40000\" dst=\"198.18.30.10\" dport=\"30000\" "
			"packets=\"1\" chain=\"%064d\"][timeQuality "
			"tzKnown=\"1\" isSynced=\"1\"] \xef\xbb\xbf"
			"denied udp 198.18.10.2 -> 198.18.30.10:30000",
			i, argv[8], 0);
		int f = snprintf(frame, sizeof(frame), "%d %s", n, msg);

		if (SSL_write(ssl, frame, f) != f)
			return die("write");
	}
	SSL_shutdown(ssl);
	t1 = ts_now();
	printf("sent %ld in %.3f s, %.0f msg/s\n", count, t1 - t0,
	       (double)count / (t1 - t0));
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	return 0;
}
