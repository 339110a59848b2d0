/*
 * conduitctl's connection: a non-blocking socket (Unix or TCP+TLS) driven
 * with poll() against a deadline, and the frame decoder of control.h.
 * See conn.h.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "ctl/conn.h"

#define CONN_RBUF 65536

static int64_t conn_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void conn_err(struct ctl_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void conn_err(struct ctl_conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
}

int ctl_parse_hostport(const char *s, char *host, size_t hostlen, char *port,
		       size_t portlen, const char **why)
{
	const char *colon, *h = s;
	size_t hl;
	char *end;
	unsigned long p;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb[1] != ':') {
			*why = "expected [IPV6]:PORT";
			return -EINVAL;
		}
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL) {
			*why = "expected HOST:PORT";
			return -EINVAL;
		}
		if (memchr(s, ':', (size_t)(colon - s)) != NULL) {
			*why = "an IPv6 address needs brackets: [ADDR]:PORT";
			return -EINVAL;
		}
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= hostlen) {
		*why = hl == 0 ? "empty host" : "host name too long";
		return -EINVAL;
	}
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end || errno || p == 0 ||
	    p > 65535 || strlen(colon + 1) >= portlen) {
		*why = "port must be 1..65535";
		return -EINVAL;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (s[0] == '[') {
		struct in6_addr a6;

		if (inet_pton(AF_INET6, host, &a6) != 1) {
			*why = "not an IPv6 address inside the brackets";
			return -EINVAL;
		}
	}
	snprintf(port, portlen, "%lu", p);
	return 0;
}

void ctl_conn_init(struct ctl_conn *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->next_id = 1;
}

bool ctl_conn_is_open(const struct ctl_conn *c)
{
	return c->fd >= 0 && !c->dead;
}

bool ctl_conn_is_tls(const struct ctl_conn *c)
{
	return c->ssl != NULL;
}

/* Waits for events on fd until deadline (ms): 0, -ETIMEDOUT or -errno. */
static int conn_wait(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int64_t left = deadline - conn_now_ms();
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n > 0)
			return 0;
	}
}

static int conn_setup(struct ctl_conn *c)
{
	int fl = fcntl(c->fd, F_GETFL);

	if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		conn_err(c, "fcntl: %s", strerror(errno));
		return -errno;
	}
	c->rbuf = malloc(CONN_RBUF);
	if (c->rbuf == NULL) {
		conn_err(c, "out of memory");
		return -ENOMEM;
	}
	c->roff = c->rlen = 0;
	c->dead = false;
	ctl_decoder_init(&c->dec, 0);
	return 0;
}

int ctl_conn_open_unix(struct ctl_conn *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int rc;

	ctl_conn_close(c);
	c->err[0] = '\0';
	snprintf(c->name, sizeof(c->name), "%s", path);
	if (strlen(path) >= sizeof(sa.sun_path)) {
		conn_err(c, "socket path too long");
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 ||
	    connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		conn_err(c, "%s", strerror(errno));
		ctl_conn_close(c);
		return rc;
	}
	rc = conn_setup(c);
	if (rc < 0)
		ctl_conn_close(c);
	return rc;
}

/* The first OpenSSL error as text ("" when the queue is empty). */
static const char *conn_ssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	buf[0] = '\0';
	if (e != 0)
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

/* Non-blocking connect to one address within the deadline. */
static int conn_tcp_one(struct ctl_conn *c, const struct addrinfo *ai,
			int64_t deadline)
{
	int err = 0;
	socklen_t elen = sizeof(err);
	int rc;

	c->fd = socket(ai->ai_family,
		       ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
		       ai->ai_protocol);
	if (c->fd < 0)
		return -errno;
	if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return -errno;
	rc = conn_wait(c->fd, POLLOUT, deadline);
	if (rc < 0)
		return rc;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		return -errno;
	return -err;
}

static int conn_tcp(struct ctl_conn *c, const struct ctl_tls_opts *o,
		    int64_t deadline)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res, *ai;
	int rc = -EHOSTUNREACH;
	int g = getaddrinfo(o->host, o->port, &hints, &res);

	if (g != 0) {
		conn_err(c, "cannot resolve %s: %s", o->host, gai_strerror(g));
		return -EHOSTUNREACH;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		rc = conn_tcp_one(c, ai, deadline);
		if (rc == 0)
			break;
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
	}
	freeaddrinfo(res);
	if (rc < 0)
		conn_err(c, "connect: %s",
			 rc == -ETIMEDOUT ? "timed out" : strerror(-rc));
	return rc;
}

static int conn_tls_ctx(struct ctl_conn *c, const struct ctl_tls_opts *o)
{
	char r[256];

	c->ctx = SSL_CTX_new(TLS_client_method());
	if (c->ctx == NULL) {
		conn_err(c, "TLS: %s", conn_ssl_reason(r, sizeof(r)));
		return -ENOMEM;
	}
	SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	if (o->ca == NULL ||
	    SSL_CTX_load_verify_locations(c->ctx, o->ca, NULL) != 1) {
		conn_err(c, "--ca %s: %s", o->ca ? o->ca : "(none)",
			 o->ca ? conn_ssl_reason(r, sizeof(r)) :
				 "a CA file is required");
		return -EINVAL;
	}
	if (o->cert != NULL &&
	    SSL_CTX_use_certificate_chain_file(c->ctx, o->cert) != 1) {
		conn_err(c, "--cert %s: %s", o->cert,
			 conn_ssl_reason(r, sizeof(r)));
		return -EINVAL;
	}
	if (o->cert != NULL &&
	    (o->key == NULL ||
	     SSL_CTX_use_PrivateKey_file(c->ctx, o->key, SSL_FILETYPE_PEM) !=
		     1 ||
	     SSL_CTX_check_private_key(c->ctx) != 1)) {
		conn_err(c, "--key %s: %s", o->key ? o->key : "(none)",
			 o->key ? conn_ssl_reason(r, sizeof(r)) :
				  "required with --cert");
		return -EINVAL;
	}
	return 0;
}

/* What the peer's name must match: an IP literal or a DNS name. */
static int conn_tls_peer_name(struct ctl_conn *c, const char *name)
{
	struct in6_addr a6;
	struct in_addr a4;
	char r[256];
	int ok;

	if (inet_pton(AF_INET, name, &a4) == 1 ||
	    inet_pton(AF_INET6, name, &a6) == 1)
		ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl),
						   name);
	else
		ok = SSL_set1_host(c->ssl, name) &&
		     SSL_set_tlsext_host_name(c->ssl, name);
	if (!ok) {
		conn_err(c, "TLS: cannot check the name %s: %s", name,
			 conn_ssl_reason(r, sizeof(r)));
		return -EINVAL;
	}
	return 0;
}

/* Runs an SSL I/O step to completion within the deadline. fn returns the
 * OpenSSL result; 1 or more is progress. Returns it, 0 at a clean EOF, or
 * a negative errno with c->err set (what names the step). */
static int conn_ssl_step(struct ctl_conn *c, int (*fn)(SSL *, void *, int),
			 void *buf, int len, int64_t deadline, const char *what)
{
	char r[256];

	for (;;) {
		int n, e, rc;

		ERR_clear_error();
		n = fn(c->ssl, buf, len);
		if (n > 0)
			return n;
		e = SSL_get_error(c->ssl, n);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			rc = conn_wait(c->fd,
				       e == SSL_ERROR_WANT_READ ? POLLIN :
								  POLLOUT,
				       deadline);
			if (rc == 0)
				continue;
			conn_err(c, "%s: %s", what,
				 rc == -ETIMEDOUT ? "timed out" :
						    strerror(-rc));
			return rc;
		}
		if (e == SSL_ERROR_ZERO_RETURN)
			return 0;
		if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
			if (errno == 0 || n == 0)
				return 0;
			conn_err(c, "%s: %s", what, strerror(errno));
			return -EIO;
		}
		conn_ssl_reason(r, sizeof(r));
		conn_err(c, "%s: %s", what, r);
		return -EPROTO;
	}
}

static int conn_ssl_connect(SSL *s, void *buf, int len)
{
	(void)buf;
	(void)len;
	return SSL_connect(s);
}

static int conn_ssl_read(SSL *s, void *buf, int len)
{
	return SSL_read(s, buf, len);
}

static int conn_ssl_write(SSL *s, void *buf, int len)
{
	return SSL_write(s, buf, len);
}

int ctl_conn_open_tls(struct ctl_conn *c, const struct ctl_tls_opts *o)
{
	int64_t deadline = conn_now_ms() + CTL_CONNECT_TIMEOUT * 1000;
	bool v6 = strchr(o->host, ':') != NULL;
	int rc;

	ctl_conn_close(c);
	c->err[0] = '\0';
	snprintf(c->name, sizeof(c->name), v6 ? "[%s]:%s" : "%s:%s", o->host,
		 o->port);
	rc = conn_tls_ctx(c, o);
	if (rc == 0)
		rc = conn_tcp(c, o, deadline);
	if (rc == 0) {
		c->ssl = SSL_new(c->ctx);
		if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
			conn_err(c, "TLS: out of memory");
			rc = -ENOMEM;
		}
	}
	if (rc == 0)
		rc = conn_tls_peer_name(c, o->server_name ? o->server_name :
							    o->host);
	if (rc == 0) {
		rc = conn_ssl_step(c, conn_ssl_connect, NULL, 0, deadline,
				   "TLS handshake");
		if (rc == 0) {
			conn_err(c, "TLS handshake: connection closed by the "
				    "peer");
			rc = -ECONNRESET;
		} else if (rc > 0) {
			rc = 0;
		}
		if (rc < 0) {
			long vr = SSL_get_verify_result(c->ssl);

			if (vr != X509_V_OK)
				conn_err(c, "certificate verify failed: %s",
					 X509_verify_cert_error_string(vr));
		}
	}
	if (rc == 0)
		rc = conn_setup(c);
	if (rc < 0)
		ctl_conn_close(c);
	return rc;
}

static int conn_write(struct ctl_conn *c, uint8_t *p, size_t len,
		      int64_t deadline)
{
	while (len > 0) {
		ssize_t w;
		int rc;

		if (c->ssl != NULL) {
			int chunk = len > 1 << 30 ? 1 << 30 : (int)len;

			rc = conn_ssl_step(c, conn_ssl_write, p, chunk,
					   deadline, "send");
			if (rc <= 0) {
				if (rc == 0)
					conn_err(c, "send: connection closed "
						    "by conduitd");
				return rc < 0 ? rc : -EPIPE;
			}
			w = rc;
		} else {
			w = send(c->fd, p, len, MSG_NOSIGNAL);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0 && errno == EAGAIN) {
				rc = conn_wait(c->fd, POLLOUT, deadline);
				if (rc == 0)
					continue;
				conn_err(c, "send: %s",
					 rc == -ETIMEDOUT ? "timed out" :
							    strerror(-rc));
				return rc;
			}
			if (w < 0) {
				conn_err(c, "send: %s", strerror(errno));
				return -errno;
			}
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Reads more bytes into rbuf (which is empty): > 0, 0 at EOF, -errno. */
static int conn_fill(struct ctl_conn *c, int64_t deadline)
{
	c->roff = c->rlen = 0;
	for (;;) {
		ssize_t n;
		int rc;

		if (c->ssl != NULL) {
			rc = conn_ssl_step(c, conn_ssl_read, c->rbuf, CONN_RBUF,
					   deadline, "receive");
			if (rc > 0)
				c->rlen = (size_t)rc;
			return rc;
		}
		n = recv(c->fd, c->rbuf, CONN_RBUF, 0);
		if (n >= 0) {
			c->rlen = (size_t)n;
			return (int)n;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			conn_err(c, "receive: %s", strerror(errno));
			return -errno;
		}
		rc = conn_wait(c->fd, POLLIN, deadline);
		if (rc < 0) {
			conn_err(c, "no reply within the timeout");
			return rc;
		}
	}
}

/* The next response frame: a new reference, or NULL with c->err. */
static json_t *conn_read_frame(struct ctl_conn *c, int64_t deadline)
{
	struct ctl_frame f = { 0 };

	for (;;) {
		size_t used = 0;
		enum ctl_result r;
		int rc;

		if (c->roff == c->rlen) {
			rc = conn_fill(c, deadline);
			if (rc == 0)
				conn_err(c, "connection closed by conduitd");
			if (rc <= 0)
				return NULL;
		}
		r = ctl_decode(&c->dec, c->rbuf + c->roff, c->rlen - c->roff,
			       &used, &f);
		c->roff += used;
		if (r == CTL_ERROR) {
			conn_err(c, "bad reply: %s",
				 ctl_decoder_reason(&c->dec));
			return NULL;
		}
		if (r == CTL_FRAME) {
			if (f.type == CTL_TYPE_RESPONSE)
				return f.msg;
			json_decref(f.msg);
			conn_err(c, "bad reply: not a response frame");
			return NULL;
		}
	}
}

json_t *ctl_conn_call(struct ctl_conn *c, const char *cmd, const json_t *args,
		      unsigned timeout_s)
{
	int64_t deadline = conn_now_ms() + (int64_t)timeout_s * 1000;
	uint64_t id = c->next_id++;
	json_t *req, *resp;
	uint8_t *frame;
	size_t flen;
	int rc;

	if (!ctl_conn_is_open(c)) {
		if (c->err[0] == '\0')
			conn_err(c, "not connected");
		return NULL;
	}
	req = ctl_request_new(id, cmd,
			      args ? json_incref((json_t *)args) : NULL);
	if (req == NULL) {
		conn_err(c, "out of memory");
		return NULL;
	}
	rc = ctl_encode(CTL_TYPE_REQUEST, req, &frame, &flen);
	json_decref(req);
	if (rc < 0) {
		conn_err(c, "cannot encode %s: %s", cmd,
			 rc == -EMSGSIZE ? "request over the frame limit" :
					   strerror(-rc));
		return NULL;
	}
	rc = conn_write(c, frame, flen, deadline);
	explicit_bzero(frame, flen);
	free(frame);
	if (rc < 0) {
		c->dead = true;
		return NULL;
	}
	resp = conn_read_frame(c, deadline);
	if (resp == NULL) {
		c->dead = true;
		return NULL;
	}
	if (json_integer_value(json_object_get(resp, "id")) != (json_int_t)id) {
		conn_err(c, "bad reply: id %lld, expected %llu",
			 (long long)json_integer_value(
				 json_object_get(resp, "id")),
			 (unsigned long long)id);
		json_decref(resp);
		c->dead = true;
		return NULL;
	}
	return resp;
}

void ctl_conn_close(struct ctl_conn *c)
{
	if (c->ssl != NULL) {
		if (!c->dead)
			(void)SSL_shutdown(
				c->ssl); /* non-blocking: best effort */
		SSL_free(c->ssl);
	}
	SSL_CTX_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
	if (c->rbuf != NULL) {
		explicit_bzero(c->rbuf, CONN_RBUF);
		ctl_decoder_free(&c->dec);
	}
	free(c->rbuf);
	c->ssl = NULL;
	c->ctx = NULL;
	c->fd = -1;
	c->rbuf = NULL;
	c->roff = c->rlen = 0;
}
