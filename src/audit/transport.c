/*
 * Syslog transports (transport.h): UDP datagrams, TCP and TLS with RFC
 * 6587 / RFC 5425 octet counting. The socket is non-blocking from the
 * start; every wait is a poll() against a deadline, so no call blocks for
 * longer than its timeout. Nothing here raises SIGPIPE: plain writes use
 * send(MSG_NOSIGNAL) and OpenSSL talks to the socket through our own BIO
 * (sock_bio_*) that does the same, instead of the stock socket BIO's
 * write(2). Each transport owns its SSL_CTX, BIO method and frame buffer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/clock.h"
#include "audit/transport.h"

#define TRANSPORT_TIMEOUT_DEFAULT 5000
#define TRANSPORT_PROBE_DEFAULT 200
#define TRANSPORT_UDP_MAX 65507	    /* IPv4: 65535 - IP and UDP headers */
#define TRANSPORT_CLOSE_WAIT_MS 200 /* wait for the collector's FIN */
#define TRANSPORT_FRAME_HDR 24	    /* "18446744073709551615 " */
#define TRANSPORT_COALESCE 16000 /* pending bytes per write: one TLS record */

/* TLS 1.2: forward secret AEAD only (RFC 9662 mandates
 * TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, included); TLS 1.3 defaults. */
#define TRANSPORT_TLS12_CIPHERS \
	"ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL"

struct transport {
	enum transport_proto proto;
	char *host, *port, *ca_file, *cert_file, *key_file, *server_name;
	bool name_is_ip;
	unsigned connect_timeout_ms, io_timeout_ms, probe_ms;
	SSL_CTX *ctx;
	BIO_METHOD *bio_meth;
	SSL *ssl;
	bool ssl_broken; /* fatal TLS error: no close_notify any more */
	int fd;
	bool up;
	char *wbuf; /* frames not yet written: up to TRANSPORT_COALESCE
		       bytes go out in one TLS record / one send */
	size_t wcap;
	size_t wlen;
	char peer[320]; /* "tls 127.0.0.1:6514" for error texts */
	char err[512];
};

static const char *const proto_names[] = {
	[TRANSPORT_UDP] = "udp",
	[TRANSPORT_TCP] = "tcp",
	[TRANSPORT_TLS] = "tls",
};

int transport_proto_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(proto_names) / sizeof(proto_names[0]);
	     i++)
		if (s && strcmp(s, proto_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *transport_proto_name(enum transport_proto p)
{
	if ((unsigned)p >= sizeof(proto_names) / sizeof(proto_names[0]))
		return "?";
	return proto_names[p];
}

static void set_err(struct transport *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_err(struct transport *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->err, sizeof(t->err), fmt, ap);
	va_end(ap);
}

/*
 * The reason of OpenSSL's oldest queued error ("tlsv13 alert certificate
 * required", "unexpected eof while reading"), then clears the queue.
 */
static const char *ssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();
	const char *r;

	if (e == 0) {
		snprintf(buf, len, "no OpenSSL error queued");
	} else if ((r = ERR_reason_error_string(e)) != NULL) {
		snprintf(buf, len, "%s", r);
	} else {
		ERR_error_string_n(e, buf, len);
	}
	ERR_clear_error();
	return buf;
}

/* An OpenSSL reason that means the peer sent us an alert. */
static bool reason_is_alert(const char *r)
{
	return strstr(r, "alert") != NULL;
}

/* An alert by which a server refuses a client certificate (RFC 8446 6.2). */
static bool alert_is_cert(const char *r)
{
	return reason_is_alert(r) &&
	       (strstr(r, "certificate") || strstr(r, "unknown ca") ||
		strstr(r, "access denied"));
}

/* Waits for events on fd until deadline: 1 ready, 0 timed out, -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		int64_t left = deadline - (int64_t)clock_mono_ms();
		int n;

		if (left < 0)
			left = 0;
		n = poll(&p, 1, (int)(left > INT32_MAX ? INT32_MAX : left));
		if (n > 0)
			return 1;
		if (n == 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

/* --- a socket BIO that never raises SIGPIPE ------------------------------ */

static int sock_bio_write(BIO *b, const char *buf, int len)
{
	int fd = (int)(intptr_t)BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	do
		n = send(fd, buf, (size_t)len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		BIO_set_retry_write(b);
	return (int)n;
}

static int sock_bio_read(BIO *b, char *buf, int len)
{
	int fd = (int)(intptr_t)BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	do
		n = recv(fd, buf, (size_t)len, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		BIO_set_retry_read(b);
	return (int)n;
}

static long sock_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1; /* every write goes straight to the socket */
	default:
		return 0;
	}
}

static int sock_bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static BIO_METHOD *sock_bio_method(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
				     "conduitd socket");

	if (!m)
		return NULL;
	if (!BIO_meth_set_write(m, sock_bio_write) ||
	    !BIO_meth_set_read(m, sock_bio_read) ||
	    !BIO_meth_set_ctrl(m, sock_bio_ctrl) ||
	    !BIO_meth_set_create(m, sock_bio_create)) {
		BIO_meth_free(m);
		return NULL;
	}
	return m;
}

/* --- construction -------------------------------------------------------- */

static bool is_ip_literal(const char *s)
{
	struct in6_addr a;

	return inet_pton(AF_INET, s, &a) == 1 ||
	       inet_pton(AF_INET6, s, &a) == 1;
}

static int dup_opt(char **dst, const char *src)
{
	if (!src) {
		*dst = NULL;
		return 0;
	}
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

/* A readable file, or err says why not (OpenSSL's texts do not). */
static int check_file(const char *what, const char *path, char *err,
		      size_t errlen)
{
	if (access(path, R_OK) < 0) {
		snprintf(err, errlen, "tls: %s %s: %s", what, path,
			 strerror(errno));
		return -1;
	}
	return 0;
}

static SSL_CTX *tls_ctx_new(const struct transport *t, char *err, size_t errlen)
{
	char why[256];
	SSL_CTX *ctx;

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		snprintf(err, errlen, "tls: SSL_CTX_new: %s",
			 ssl_reason(why, sizeof(why)));
		return NULL;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx, TRANSPORT_TLS12_CIPHERS)) {
		snprintf(err, errlen, "tls: setting versions and ciphers: %s",
			 ssl_reason(why, sizeof(why)));
		goto fail;
	}
	/* No renegotiation, no compression; SSL_write reports partial
   * progress only through WANT_WRITE (we retry with the same buffer). */
	SSL_CTX_set_options(ctx,
			    SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (check_file("ca-file", t->ca_file, err, errlen) < 0)
		goto fail;
	if (SSL_CTX_load_verify_locations(ctx, t->ca_file, NULL) != 1) {
		snprintf(err, errlen, "tls: ca-file %s: no usable CA: %s",
			 t->ca_file, ssl_reason(why, sizeof(why)));
		goto fail;
	}
	if (!t->cert_file)
		return ctx;
	if (check_file("cert", t->cert_file, err, errlen) < 0 ||
	    check_file("key", t->key_file, err, errlen) < 0)
		goto fail;
	if (SSL_CTX_use_certificate_chain_file(ctx, t->cert_file) != 1) {
		snprintf(err, errlen, "tls: cert %s: %s", t->cert_file,
			 ssl_reason(why, sizeof(why)));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, t->key_file, SSL_FILETYPE_PEM) !=
	    1) {
		/* OpenSSL 3 already refuses a key of another type or curve
     * here; the same-type mismatch is caught below */
		ssl_reason(why, sizeof(why));
		snprintf(err, errlen,
			 "tls: key %s: %s (certificate %s and key do not "
			 "match?)",
			 t->key_file, why, t->cert_file);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		snprintf(err, errlen,
			 "tls: certificate %s and key %s do not match",
			 t->cert_file, t->key_file);
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

struct transport *transport_new(const struct transport_opts *o, char *err,
				size_t errlen)
{
	struct transport *t;

	if ((unsigned)o->proto > TRANSPORT_TLS) {
		snprintf(err, errlen, "transport: protocol %d unknown",
			 (int)o->proto);
		return NULL;
	}
	if (!o->host || !*o->host || !o->port || !*o->port) {
		snprintf(err, errlen, "%s: host and port are required",
			 transport_proto_name(o->proto));
		return NULL;
	}
	if (o->proto == TRANSPORT_TLS) {
		if (!o->ca_file || !*o->ca_file) {
			snprintf(err, errlen,
				 "tls %s:%s: ca-file is required (the "
				 "collector's certificate must be verified)",
				 o->host, o->port);
			return NULL;
		}
		if (!o->cert_file != !o->key_file) {
			snprintf(err, errlen,
				 "tls %s:%s: client cert and key go together "
				 "(got only the %s)",
				 o->host, o->port,
				 o->cert_file ? "cert" : "key");
			return NULL;
		}
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "transport: %s", strerror(ENOMEM));
		return NULL;
	}
	t->fd = -1;
	t->proto = o->proto;
	t->connect_timeout_ms = o->connect_timeout_ms ?
					o->connect_timeout_ms :
					TRANSPORT_TIMEOUT_DEFAULT;
	t->io_timeout_ms = o->io_timeout_ms ? o->io_timeout_ms :
					      TRANSPORT_TIMEOUT_DEFAULT;
	t->probe_ms = o->probe_ms ? o->probe_ms : TRANSPORT_PROBE_DEFAULT;
	if (dup_opt(&t->host, o->host) || dup_opt(&t->port, o->port) ||
	    (o->proto == TRANSPORT_TLS &&
	     (dup_opt(&t->ca_file, o->ca_file) ||
	      dup_opt(&t->cert_file, o->cert_file) ||
	      dup_opt(&t->key_file, o->key_file) ||
	      dup_opt(&t->server_name,
		      o->server_name ? o->server_name : o->host)))) {
		snprintf(err, errlen, "transport: %s", strerror(ENOMEM));
		goto fail;
	}
	snprintf(t->peer, sizeof(t->peer), "%s %s%s%s:%s",
		 transport_proto_name(t->proto),
		 strchr(t->host, ':') ? "[" : "", t->host,
		 strchr(t->host, ':') ? "]" : "", t->port);
	if (t->proto == TRANSPORT_TLS) {
		t->name_is_ip = is_ip_literal(t->server_name);
		t->ctx = tls_ctx_new(t, err, errlen);
		if (!t->ctx)
			goto fail;
		t->bio_meth = sock_bio_method();
		if (!t->bio_meth) {
			snprintf(err, errlen, "tls: BIO_meth_new: %s",
				 strerror(ENOMEM));
			goto fail;
		}
	}
	return t;
fail:
	transport_free(t);
	return NULL;
}

void transport_free(struct transport *t)
{
	if (!t)
		return;
	transport_close(t);
	SSL_CTX_free(t->ctx);
	BIO_meth_free(t->bio_meth);
	free(t->host);
	free(t->port);
	free(t->ca_file);
	free(t->cert_file);
	free(t->key_file);
	free(t->server_name);
	free(t->wbuf);
	free(t);
}

/* --- connect ------------------------------------------------------------- */

/* Tears the connection down without close_notify (after a failure). */
static void drop(struct transport *t)
{
	t->ssl_broken = true;
	transport_close(t);
}

/* Connects one address, non-blocking, until deadline; fd or -errno. */
static int connect_one(const struct addrinfo *ai, int64_t deadline)
{
	int fd, e, one = 1;
	socklen_t elen = sizeof(e);

	fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
	if (fd < 0)
		return -errno;
	if (ai->ai_socktype == SOCK_STREAM)
		setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		e = -errno;
		goto fail;
	}
	e = wait_fd(fd, POLLOUT, deadline);
	if (e == 0) {
		e = -ETIMEDOUT;
		goto fail;
	}
	if (e < 0)
		goto fail;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0) {
		e = -errno;
		goto fail;
	}
	if (e != 0) {
		e = -e;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return e;
}

static int tcp_connect(struct transport *t, int64_t deadline)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC }, *res, *ai;
	int rc, fd = -ENOENT;

	hints.ai_socktype = t->proto == TRANSPORT_UDP ? SOCK_DGRAM :
							SOCK_STREAM;
	rc = getaddrinfo(t->host, t->port, &hints, &res);
	if (rc != 0) {
		set_err(t, "%s: cannot resolve: %s", t->peer,
			rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return rc == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = connect_one(ai, deadline);
		if (fd >= 0 || fd == -ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		set_err(t, "%s: connect: %s", t->peer, strerror(-fd));
		return fd;
	}
	t->fd = fd;
	return 0;
}

/* Why the handshake failed, in words; returns the errno to report. */
static int handshake_error(struct transport *t, int sslerr)
{
	long vr = SSL_get_verify_result(t->ssl);
	char why[256];

	if (vr == X509_V_ERR_HOSTNAME_MISMATCH ||
	    vr == X509_V_ERR_IP_ADDRESS_MISMATCH) {
		ERR_clear_error();
		set_err(t,
			"%s: tls: server name %s does not match the "
			"collector's certificate (%s)",
			t->peer, t->server_name,
			X509_verify_cert_error_string(vr));
		return -EPROTO;
	}
	if (vr != X509_V_OK) {
		ERR_clear_error();
		set_err(t, "%s: tls: certificate verify failed: %s", t->peer,
			X509_verify_cert_error_string(vr));
		return -EPROTO;
	}
	if (sslerr == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
		set_err(t, "%s: tls handshake: %s", t->peer,
			errno ? strerror(errno) :
				"connection closed by the collector");
		return -EPROTO;
	}
	ssl_reason(why, sizeof(why));
	if (alert_is_cert(why))
		set_err(t,
			"%s: tls: the collector rejected our certificate: %s",
			t->peer, why);
	else if (reason_is_alert(why))
		set_err(t, "%s: tls handshake: the collector refused: %s",
			t->peer, why);
	else
		set_err(t, "%s: tls handshake: %s", t->peer, why);
	return -EPROTO;
}

/*
 * After a TLS 1.3 handshake the server may still refuse our certificate:
 * its alert (OpenSSL's ossl driver) or its FIN (GnuTLS, x509/name) comes
 * after the client finished. Read until probe_ms passed; session tickets
 * are consumed on the way.
 */
static int tls_probe(struct transport *t)
{
	int64_t deadline = (int64_t)clock_mono_ms() + t->probe_ms;
	char buf[512], why[256];

	for (;;) {
		size_t n;
		int rc, e;

		ERR_clear_error();
		errno = 0;
		if (SSL_read_ex(t->ssl, buf, sizeof(buf), &n) == 1)
			continue; /* a collector has nothing to tell us */
		e = SSL_get_error(t->ssl, 0);
		if (e == SSL_ERROR_WANT_READ) {
			rc = wait_fd(t->fd, POLLIN, deadline);
			if (rc == 0)
				return 0;
			if (rc < 0)
				return rc;
			continue;
		}
		/* OpenSSL 3 reports a FIN without close_notify as an SSL
		 * error "unexpected eof while reading" */
		if (e == SSL_ERROR_ZERO_RETURN ||
		    (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) ||
		    (e == SSL_ERROR_SSL &&
		     ERR_GET_REASON(ERR_peek_error()) ==
			     SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
			ERR_clear_error();
			set_err(t,
				"%s: tls: the collector closed the connection "
				"right after the handshake (our certificate "
				"rejected?)",
				t->peer);
			return -EPROTO;
		}
		ssl_reason(why, sizeof(why));
		if (alert_is_cert(why))
			set_err(t,
				"%s: tls: the collector rejected our "
				"certificate: %s",
				t->peer, why);
		else if (reason_is_alert(why))
			set_err(t, "%s: tls: the collector sent an alert: %s",
				t->peer, why);
		else
			set_err(t, "%s: tls: after the handshake: %s", t->peer,
				why);
		return -EPROTO;
	}
}

static int tls_connect(struct transport *t, int64_t deadline)
{
	BIO *bio;
	int rc;

	ERR_clear_error();
	t->ssl = SSL_new(t->ctx);
	bio = t->ssl ? BIO_new(t->bio_meth) : NULL;
	if (!bio) {
		set_err(t, "%s: tls: SSL_new: %s", t->peer, strerror(ENOMEM));
		return -ENOMEM;
	}
	BIO_set_data(bio, (void *)(intptr_t)t->fd);
	SSL_set_bio(t->ssl, bio, bio);
	if (t->name_is_ip) {
		/* an address literal: match SAN iPAddress, no SNI (RFC 6066
     * forbids literals in server_name) */
		rc = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl),
						   t->server_name);
	} else {
		rc = SSL_set1_host(t->ssl, t->server_name) &&
		     SSL_set_tlsext_host_name(t->ssl, t->server_name);
	}
	if (rc != 1) {
		set_err(t, "%s: tls: server name %s not usable", t->peer,
			t->server_name);
		ERR_clear_error();
		return -EINVAL;
	}
	for (;;) {
		int e;

		errno = 0;
		if (SSL_connect(t->ssl) == 1)
			break;
		e = SSL_get_error(t->ssl, 0);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			rc = wait_fd(t->fd,
				     e == SSL_ERROR_WANT_READ ? POLLIN :
								POLLOUT,
				     deadline);
			if (rc > 0)
				continue;
			set_err(t, "%s: tls handshake: %s", t->peer,
				rc == 0 ? "timed out" : strerror(-rc));
			return rc == 0 ? -ETIMEDOUT : rc;
		}
		return handshake_error(t, e);
	}
	return tls_probe(t);
}

int transport_connect(struct transport *t)
{
	int64_t deadline = (int64_t)clock_mono_ms() + t->connect_timeout_ms;
	int rc;

	transport_close(t);
	t->err[0] = '\0';
	rc = tcp_connect(t, deadline);
	if (rc == 0 && t->proto == TRANSPORT_TLS)
		rc = tls_connect(t, deadline);
	if (rc < 0) {
		drop(t);
		return rc;
	}
	t->up = true;
	return 0;
}

bool transport_is_up(const struct transport *t)
{
	return t->up;
}

/* --- write, check, close ------------------------------------------------- */

static int fail(struct transport *t, int rc, const char *what)
{
	set_err(t, "%s: %s: %s", t->peer, what, strerror(-rc));
	drop(t);
	return rc;
}

/* Appends the frame "LEN SP MSG" to the pending buffer. */
static int frame(struct transport *t, const void *msg, size_t len)
{
	char hdr[TRANSPORT_FRAME_HDR];
	int h = snprintf(hdr, sizeof(hdr), "%zu ", len);
	size_t need = t->wlen + (size_t)h + len;

	if (t->wcap < need) {
		size_t cap = need < TRANSPORT_COALESCE ? TRANSPORT_COALESCE :
							 need;
		char *p = realloc(t->wbuf, cap);

		if (!p)
			return -ENOMEM;
		t->wbuf = p;
		t->wcap = cap;
	}
	memcpy(t->wbuf + t->wlen, hdr, (size_t)h);
	memcpy(t->wbuf + t->wlen + h, msg, len);
	t->wlen = need;
	return 0;
}

static int plain_write(struct transport *t, const char *p, size_t len,
		       int64_t deadline)
{
	while (len > 0) {
		ssize_t n = send(t->fd, p, len, MSG_NOSIGNAL);
		int rc;

		if (n >= 0) {
			if (t->proto == TRANSPORT_UDP && (size_t)n != len)
				return -EMSGSIZE;
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		rc = wait_fd(t->fd, POLLOUT, deadline);
		if (rc <= 0)
			return rc == 0 ? -ETIMEDOUT : rc;
	}
	return 0;
}

static int tls_write(struct transport *t, const char *p, size_t len,
		     int64_t deadline)
{
	char why[256];

	for (;;) {
		size_t n;
		int e, rc;

		ERR_clear_error();
		errno = 0;
		if (SSL_write_ex(t->ssl, p, len, &n) == 1)
			return 0; /* no partial writes: all of it went */
		e = SSL_get_error(t->ssl, 0);
		if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
			rc = wait_fd(t->fd,
				     e == SSL_ERROR_WANT_READ ? POLLIN :
								POLLOUT,
				     deadline);
			if (rc > 0)
				continue;
			return rc == 0 ? -ETIMEDOUT : rc;
		}
		if (e == SSL_ERROR_ZERO_RETURN)
			return -EPIPE;
		if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
			return errno ? -errno : -EPIPE;
		ssl_reason(why, sizeof(why));
		set_err(t, "%s: tls write: %s", t->peer, why);
		drop(t);
		return -EPROTO;
	}
}

/* Writes the pending frames (TCP, TLS); on error the link is dropped. */
static int write_pending(struct transport *t)
{
	int64_t deadline = (int64_t)clock_mono_ms() + t->io_timeout_ms;
	size_t n = t->wlen;
	int rc;

	if (n == 0)
		return 0;
	t->wlen = 0;
	if (t->proto == TRANSPORT_TLS) {
		rc = tls_write(t, t->wbuf, n, deadline);
		if (rc == -EPROTO)
			return rc; /* text set, dropped */
	} else {
		rc = plain_write(t, t->wbuf, n, deadline);
	}
	if (rc < 0)
		return fail(t, rc, "write");
	return 0;
}

int transport_write(struct transport *t, const void *msg, size_t len)
{
	int64_t deadline = (int64_t)clock_mono_ms() + t->io_timeout_ms;
	int rc;

	if (!t->up) {
		set_err(t, "%s: not connected", t->peer);
		return -ENOTCONN;
	}
	if (t->proto == TRANSPORT_UDP) {
		if (len > TRANSPORT_UDP_MAX) {
			set_err(t,
				"%s: message of %zu bytes exceeds a datagram "
				"(%d)",
				t->peer, len, TRANSPORT_UDP_MAX);
			drop(t);
			return -EMSGSIZE;
		}
		rc = plain_write(t, msg, len, deadline);
		return rc < 0 ? fail(t, rc, "write") : 0;
	}
	/* coalesce: frames wait until TRANSPORT_COALESCE bytes are pending
	 * or the caller flushes (transport_flush, _check, _close) */
	if (t->wlen > 0 &&
	    t->wlen + TRANSPORT_FRAME_HDR + len > TRANSPORT_COALESCE &&
	    (rc = write_pending(t)) < 0)
		return rc;
	rc = frame(t, msg, len);
	if (rc < 0)
		return fail(t, rc, "write");
	if (t->wlen >= TRANSPORT_COALESCE)
		return write_pending(t);
	return 0;
}

int transport_flush(struct transport *t)
{
	if (!t->up) {
		set_err(t, "%s: not connected", t->peer);
		return -ENOTCONN;
	}
	/* our BIO does not buffer: every TLS record is on the socket once
	 * SSL_write returned */
	return write_pending(t);
}

static int plain_check(struct transport *t)
{
	char buf[512];

	for (;;) {
		ssize_t n = recv(t->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n > 0)
			continue; /* a collector has nothing to say: discard */
		if (n == 0) {
			set_err(t, "%s: the collector closed the connection",
				t->peer);
			drop(t);
			return -EPIPE;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		set_err(t, "%s: %s", t->peer, strerror(errno));
		drop(t);
		return -EPIPE;
	}
}

static int tls_check(struct transport *t)
{
	char buf[512], why[256];

	for (;;) {
		size_t n;
		int e;

		ERR_clear_error();
		errno = 0;
		if (SSL_read_ex(t->ssl, buf, sizeof(buf), &n) == 1)
			continue;
		e = SSL_get_error(t->ssl, 0);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			return 0;
		if (e == SSL_ERROR_ZERO_RETURN) {
			set_err(t,
				"%s: the collector closed the connection "
				"(close_notify)",
				t->peer);
			transport_close(t); /* answer with ours */
			return -EPIPE;
		}
		if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
			set_err(t,
				"%s: the collector closed the connection%s%s",
				t->peer, errno ? ": " : "",
				errno ? strerror(errno) : "");
			drop(t);
			return -EPIPE;
		}
		ssl_reason(why, sizeof(why));
		if (reason_is_alert(why))
			set_err(t, "%s: tls: the collector sent an alert: %s",
				t->peer, why);
		else
			set_err(t, "%s: tls: %s", t->peer, why);
		/* an EOF without close_notify is a closed connection, not
     * a protocol violation by the collector */
		if (strstr(why, "unexpected eof")) {
			drop(t);
			return -EPIPE;
		}
		drop(t);
		return -EPROTO;
	}
}

int transport_check(struct transport *t, size_t *unacked)
{
	struct pollfd p;
	int rc, q = 0;

	if (unacked)
		*unacked = 0;
	if (!t->up) {
		set_err(t, "%s: not connected", t->peer);
		return -ENOTCONN;
	}
	/* pending frames first: what was written is what is checked */
	if (t->wlen > 0) {
		rc = write_pending(t);
		if (rc < 0)
			return rc == -EPROTO ? rc : -EPIPE;
	}
	if (t->proto == TRANSPORT_UDP) {
		/* a connected UDP socket reports ICMP port unreachable */
		int e = 0;
		socklen_t elen = sizeof(e);

		if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &e, &elen) == 0 &&
		    e != 0) {
			set_err(t, "%s: %s", t->peer, strerror(e));
			drop(t);
			return -e;
		}
		return 0;
	}
	p = (struct pollfd){ .fd = t->fd, .events = POLLIN };
	if (poll(&p, 1, 0) > 0 ||
	    (t->proto == TRANSPORT_TLS && SSL_pending(t->ssl) > 0)) {
		rc = t->proto == TRANSPORT_TLS ? tls_check(t) : plain_check(t);
		if (rc < 0)
			return rc;
	}
	if (unacked && ioctl(t->fd, SIOCOUTQ, &q) == 0 && q > 0)
		*unacked = (size_t)q;
	return 0;
}

void transport_close(struct transport *t)
{
	/* an orderly close delivers what is pending first */
	if (t->up && !t->ssl_broken && t->wlen > 0)
		(void)write_pending(t);
	t->wlen = 0;
	if (t->ssl) {
		if (t->up && !t->ssl_broken) {
			int64_t deadline = (int64_t)clock_mono_ms() +
					   TRANSPORT_CLOSE_WAIT_MS;

			/* send close_notify; do not wait for the peer's */
			for (;;) {
				int r, e;

				ERR_clear_error();
				r = SSL_shutdown(t->ssl);
				if (r >= 0)
					break;
				e = SSL_get_error(t->ssl, r);
				if ((e != SSL_ERROR_WANT_WRITE &&
				     e != SSL_ERROR_WANT_READ) ||
				    wait_fd(t->fd, POLLOUT, deadline) <= 0)
					break;
			}
			ERR_clear_error();
		}
		SSL_free(t->ssl); /* frees the BIO too */
		t->ssl = NULL;
	}
	if (t->fd >= 0) {
		if (t->proto != TRANSPORT_UDP && t->up) {
			int64_t deadline = (int64_t)clock_mono_ms() +
					   TRANSPORT_CLOSE_WAIT_MS;
			char buf[512];

			/*
       * FIN, then read until the collector's FIN: closing
       * with unread bytes (its close_notify) would send an
       * RST, which may make its kernel drop what it has
       * not read yet.
       */
			shutdown(t->fd, SHUT_WR);
			while (wait_fd(t->fd, POLLIN, deadline) > 0 &&
			       recv(t->fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
				;
		}
		close(t->fd);
		t->fd = -1;
	}
	t->up = false;
	t->ssl_broken = false;
}

const char *transport_error(const struct transport *t)
{
	return t->err;
}
