/*
 * mgmt_drive: a client of conduitd's management endpoints for
 * bench/mgmt.sh: OpenSSL TLS (or the local Unix socket) + the framed
 * protocol of src/mgmt/control.h (ctl_encode, ctl_decoder), TOTP codes by
 * src/mgmt/totp.h. Every wait is bounded (10 s per I/O step).
 *
 *   mgmt_drive login  TLS -U USERS -N COUNT
 *   mgmt_drive cmds   (TLS -U USERS | -x SOCKET) -T SECONDS [-c CMD]
 *   mgmt_drive hold   TLS -U USERS -N COUNT -T SECONDS
 *   mgmt_drive flood  -h HOST -p PORT -N COUNT -T SECONDS [-r RATE] [-s SRC,..]
 *
 *   TLS = -h HOST -p PORT -C CA [-n SERVER_NAME] [-s SRC,SRC,...]
 *
 * USERS: a file, one user a line: "NAME PASSWORD TOTP_SECRET CERT KEY",
 * "-" for an absent field (a user with a certificate logs in with it and
 * the password, else with the password and the TOTP code of now). Logins
 * take users in turn; a TOTP user is skipped while the current 30 s step
 * was already used for it (the server refuses a replayed step), and the
 * driver waits for the next step (outside the timed part) when all are.
 * Sources (-s) are taken in turn for each new connection (bind before
 * connect); default: the kernel's choice.
 *
 * login: COUNT logins, each connect + TLS handshake + hello + auth.login
 *   (timed: one line "login I USER ms_total ms_tcp ms_tls ms_hello
 *   ms_login ok|FAIL:why"), then auth.logout and the wait for the close
 *   (untimed). At the end: "logins=N ok=K median_ms=.. p95_ms=..".
 * cmds: one session (TLS: the first user logs in; unix: the peer's own
 *   credentials), CMD requests (default status; no arguments) one after
 *   another for SECONDS: prints
 *   "cmds=N seconds=S rate=R errors=E".
 * hold: opens COUNT authenticated sessions (users and sources in turn),
 *   prints "held K failed F" and keeps them until stdin reaches EOF,
 *   SIGTERM or SECONDS; then logs them out.
 * flood: COUNT plain TCP connections that never send a byte (half-open
 *   from the TLS endpoint's point of view), at most RATE new connections
 *   a second (default 500), sources in turn; a connection the server
 *   closes is reopened (within the same rate) until SECONDS, SIGTERM or
 *   stdin EOF. Prints "opened K" once COUNT connections were attempted,
 *   then a line a second "t=.. open=.. connecting=.. closed_fast=..
 *   closed_slow=.. connect_failed=..": closed_fast = closed by the server
 *   within 200 ms of the TCP handshake (refused at accept: a cap),
 *   closed_slow = later (evicted or timed out). A summary at the end.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "mgmt/control.h"
#include "mgmt/totp.h"

#define DRV_IO_TIMEOUT 10 /* s per blocking I/O step */
#define DRV_USERS_MAX 256
#define DRV_SRC_MAX 64
#define DRV_COUNT_MAX 100000
#define DRV_FLOOD_FAST 0.2 /* s: a close sooner than this is a refusal */

struct drv_user {
	char name[64];
	char password[128];
	char secret[TOTP_B32_MAX + 1]; /* "" = none */
	char cert[512];		       /* "" = none */
	char key[512];
	int64_t last_step; /* of the last TOTP code used */
	SSL_CTX *ctx;	   /* with its certificate, or the shared one */
};

struct drv {
	const char *host, *port, *ca, *server_name, *sock;
	const char *cmd; /* of cmds mode */
	const char *users_file;
	struct drv_user users[DRV_USERS_MAX];
	size_t nusers, next_user;
	char srcs[DRV_SRC_MAX][64];
	size_t nsrcs, next_src;
	long count;
	double seconds;
	long rate;
	SSL_CTX *ctx; /* no client certificate */
};

struct drv_conn {
	int fd;
	SSL *ssl; /* NULL: the Unix socket */
	struct ctl_decoder dec;
	uint64_t next_id;
	uint8_t buf[16384];
	size_t off, len; /* unread bytes buf[off..len) */
	char err[256];
};

static volatile sig_atomic_t drv_stop;

static void drv_on_signal(int sig)
{
	(void)sig;
	drv_stop = 1;
}

static double drv_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void drv_sleep(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

static const char *drv_ssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (e == 0)
		snprintf(buf, len, "%s", errno ? strerror(errno) : "no reason");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

/* --- users and sources ---------------------------------------------------- */

static int drv_load_users(struct drv *d)
{
	char line[1600], f[5][512];
	unsigned lineno = 0;
	FILE *fp = fopen(d->users_file, "r");

	if (fp == NULL) {
		fprintf(stderr, "mgmt_drive: -U %s: %s\n", d->users_file,
			strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), fp)) {
		struct drv_user *u;

		lineno++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "%511s %511s %511s %511s %511s", f[0], f[1],
			   f[2], f[3], f[4]) != 5 ||
		    strlen(f[0]) >= sizeof(u->name) ||
		    strlen(f[1]) >= sizeof(u->password) ||
		    strlen(f[2]) >= sizeof(u->secret)) {
			fprintf(stderr,
				"mgmt_drive: %s:%u: expected NAME PASSWORD "
				"TOTP_SECRET CERT KEY ('-' when absent)\n",
				d->users_file, lineno);
			fclose(fp);
			return -1;
		}
		if (d->nusers == DRV_USERS_MAX) {
			fprintf(stderr, "mgmt_drive: %s:%u: over %d users\n",
				d->users_file, lineno, DRV_USERS_MAX);
			fclose(fp);
			return -1;
		}
		u = &d->users[d->nusers++];
		snprintf(u->name, sizeof(u->name), "%s", f[0]);
		snprintf(u->password, sizeof(u->password), "%s", f[1]);
		snprintf(u->secret, sizeof(u->secret), "%s",
			 strcmp(f[2], "-") ? f[2] : "");
		snprintf(u->cert, sizeof(u->cert), "%s",
			 strcmp(f[3], "-") ? f[3] : "");
		snprintf(u->key, sizeof(u->key), "%s",
			 strcmp(f[4], "-") ? f[4] : "");
		u->last_step = -1;
		if (!u->secret[0] && !u->cert[0]) {
			fprintf(stderr,
				"mgmt_drive: %s:%u: user %s has neither a TOTP "
				"secret nor a certificate: cannot log in\n",
				d->users_file, lineno, u->name);
			fclose(fp);
			return -1;
		}
	}
	fclose(fp);
	if (d->nusers == 0) {
		fprintf(stderr, "mgmt_drive: -U %s: no users\n", d->users_file);
		return -1;
	}
	return 0;
}

static int drv_parse_srcs(struct drv *d, const char *arg)
{
	char tmp[DRV_SRC_MAX * 64], *tok, *save;

	snprintf(tmp, sizeof(tmp), "%s", arg);
	for (tok = strtok_r(tmp, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		struct in6_addr a;

		if (d->nsrcs == DRV_SRC_MAX) {
			fprintf(stderr, "mgmt_drive: -s: over %d sources\n",
				DRV_SRC_MAX);
			return -1;
		}
		if (inet_pton(AF_INET, tok, &a) != 1 &&
		    inet_pton(AF_INET6, tok, &a) != 1) {
			fprintf(stderr,
				"mgmt_drive: -s %s: not an IP address\n", tok);
			return -1;
		}
		snprintf(d->srcs[d->nsrcs++], sizeof(d->srcs[0]), "%s", tok);
	}
	return 0;
}

static const char *drv_next_src(struct drv *d)
{
	if (d->nsrcs == 0)
		return NULL;
	return d->srcs[d->next_src++ % d->nsrcs];
}

/* --- TLS contexts --------------------------------------------------------- */

static SSL_CTX *drv_ctx_new(const struct drv *d, const char *cert,
			    const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char r[256];

	if (ctx == NULL) {
		fprintf(stderr, "mgmt_drive: SSL_CTX_new: %s\n",
			drv_ssl_reason(r, sizeof(r)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_load_verify_locations(ctx, d->ca, NULL) != 1) {
		fprintf(stderr, "mgmt_drive: -C %s: %s\n", d->ca,
			drv_ssl_reason(r, sizeof(r)));
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (cert &&
	    (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	     SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	     SSL_CTX_check_private_key(ctx) != 1)) {
		fprintf(stderr, "mgmt_drive: certificate %s / key %s: %s\n",
			cert, key, drv_ssl_reason(r, sizeof(r)));
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static int drv_tls_setup(struct drv *d)
{
	d->ctx = drv_ctx_new(d, NULL, NULL);
	if (d->ctx == NULL)
		return -1;
	for (size_t i = 0; i < d->nusers; i++) {
		struct drv_user *u = &d->users[i];

		if (!u->cert[0]) {
			u->ctx = d->ctx;
			continue;
		}
		u->ctx = drv_ctx_new(d, u->cert, u->key);
		if (u->ctx == NULL)
			return -1;
	}
	return 0;
}

static void drv_tls_free(struct drv *d)
{
	for (size_t i = 0; i < d->nusers; i++)
		if (d->users[i].ctx && d->users[i].ctx != d->ctx)
			SSL_CTX_free(d->users[i].ctx);
	SSL_CTX_free(d->ctx);
}

/* --- connections ---------------------------------------------------------- */

/* A TCP socket to host:port from src (NULL: any). nonblock: returns at
 * once with the connect in progress. -1 with the reason in err. */
static int drv_tcp(const struct drv *d, const char *src, bool nonblock,
		   char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct timeval tv = { DRV_IO_TIMEOUT, 0 };
	struct addrinfo *res = NULL, *sa = NULL;
	int fd = -1, one = 1, rc;

	rc = getaddrinfo(d->host, d->port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "%s port %s: %s", d->host, d->port,
			 gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto fail;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (src) {
		hints.ai_family = res->ai_family;
		hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
		rc = getaddrinfo(src, "0", &hints, &sa);
		if (rc != 0 || bind(fd, sa->ai_addr, sa->ai_addrlen) < 0) {
			snprintf(err, errlen, "bind %s: %s", src,
				 rc ? gai_strerror(rc) : strerror(errno));
			goto fail;
		}
	}
	if (nonblock && fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		snprintf(err, errlen, "O_NONBLOCK: %s", strerror(errno));
		goto fail;
	}
	if (connect(fd, res->ai_addr, res->ai_addrlen) < 0 &&
	    !(nonblock && errno == EINPROGRESS)) {
		snprintf(err, errlen, "connect %s:%s%s%s: %s", d->host, d->port,
			 src ? " from " : "", src ? src : "", strerror(errno));
		goto fail;
	}
	freeaddrinfo(res);
	if (sa)
		freeaddrinfo(sa);
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(res);
	if (sa)
		freeaddrinfo(sa);
	return -1;
}

static void drv_conn_init(struct drv_conn *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->next_id = 1;
	ctl_decoder_init(&c->dec, 0);
}

static void drv_conn_close(struct drv_conn *c)
{
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	ctl_decoder_free(&c->dec);
}

static int drv_open_unix(struct drv_conn *c, const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { DRV_IO_TIMEOUT, 0 };

	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(c->err, sizeof(c->err), "-x %s: path too long", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 ||
	    connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		snprintf(c->err, sizeof(c->err), "connect %s: %s", path,
			 strerror(errno));
		return -1;
	}
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return 0;
}

/* TCP connect (t_tcp set) then the TLS handshake (t_tls set). */
static int drv_open_tls(struct drv *d, struct drv_conn *c, SSL_CTX *ctx,
			double *t_tcp, double *t_tls)
{
	const char *name = d->server_name ? d->server_name : d->host;
	struct in6_addr a;
	char r[256];
	int ok;

	c->fd = drv_tcp(d, drv_next_src(d), false, c->err, sizeof(c->err));
	if (c->fd < 0)
		return -1;
	*t_tcp = drv_now();
	c->ssl = SSL_new(ctx);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
		snprintf(c->err, sizeof(c->err), "SSL_new: %s",
			 drv_ssl_reason(r, sizeof(r)));
		return -1;
	}
	if (inet_pton(AF_INET, name, &a) == 1 ||
	    inet_pton(AF_INET6, name, &a) == 1)
		ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl),
						   name);
	else
		ok = SSL_set1_host(c->ssl, name) &&
		     SSL_set_tlsext_host_name(c->ssl, name);
	if (!ok) {
		snprintf(c->err, sizeof(c->err), "server name %s: %s", name,
			 drv_ssl_reason(r, sizeof(r)));
		return -1;
	}
	ERR_clear_error();
	errno = 0;
	if (SSL_connect(c->ssl) != 1) {
		snprintf(c->err, sizeof(c->err), "TLS handshake: %s",
			 drv_ssl_reason(r, sizeof(r)));
		return -1;
	}
	*t_tls = drv_now();
	return 0;
}

static int drv_write(struct drv_conn *c, const uint8_t *p, size_t n)
{
	char r[256];

	while (n > 0) {
		ssize_t w;

		if (c->ssl) {
			ERR_clear_error();
			w = SSL_write(c->ssl, p,
				      n > INT32_MAX ? INT32_MAX : (int)n);
			if (w <= 0) {
				snprintf(c->err, sizeof(c->err),
					 "TLS write: %s",
					 drv_ssl_reason(r, sizeof(r)));
				return -1;
			}
		} else {
			w = write(c->fd, p, n);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				snprintf(c->err, sizeof(c->err), "write: %s",
					 strerror(errno));
				return -1;
			}
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Fills c->buf. 1 with bytes, 0 at EOF, -1 on an error or timeout. */
static int drv_fill(struct drv_conn *c)
{
	ssize_t n;
	char r[256];

	c->off = 0;
	c->len = 0;
	if (c->ssl) {
		int e;

		ERR_clear_error();
		errno = 0;
		n = SSL_read(c->ssl, c->buf, sizeof(c->buf));
		if (n > 0) {
			c->len = (size_t)n;
			return 1;
		}
		e = SSL_get_error(c->ssl, (int)n);
		if (e == SSL_ERROR_ZERO_RETURN ||
		    (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 &&
		     (errno == 0 || errno == ECONNRESET)))
			return 0;
		snprintf(c->err, sizeof(c->err), "TLS read: %s",
			 errno == EAGAIN ? "timed out" :
					   drv_ssl_reason(r, sizeof(r)));
		return -1;
	}
	do
		n = read(c->fd, c->buf, sizeof(c->buf));
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		c->len = (size_t)n;
		return 1;
	}
	if (n == 0 || errno == ECONNRESET)
		return 0;
	snprintf(c->err, sizeof(c->err), "read: %s",
		 errno == EAGAIN ? "timed out" : strerror(errno));
	return -1;
}

/* The next frame's message (new reference) or NULL with c->err. */
static json_t *drv_recv(struct drv_conn *c)
{
	for (;;) {
		struct ctl_frame f;
		size_t used = 0;
		enum ctl_result res;
		int rc;

		if (c->off == c->len) {
			rc = drv_fill(c);
			if (rc == 0)
				snprintf(c->err, sizeof(c->err),
					 "the server closed the connection");
			if (rc <= 0)
				return NULL;
		}
		res = ctl_decode(&c->dec, c->buf + c->off, c->len - c->off,
				 &used, &f);
		c->off += used;
		if (res == CTL_FRAME)
			return f.msg;
		if (res == CTL_ERROR) {
			snprintf(c->err, sizeof(c->err), "bad frame: %s",
				 ctl_decoder_reason(&c->dec));
			return NULL;
		}
	}
}

/*
 * One request and its response. Returns the response (new reference) or
 * NULL (c->err). *ok says whether it was {"ok":true}; on an error reply
 * c->err holds its code and message.
 */
static json_t *drv_call(struct drv_conn *c, const char *cmd, json_t *args,
			bool *ok)
{
	uint64_t id = c->next_id++, rid;
	const json_t *result, *error;
	json_t *req = ctl_request_new(id, cmd, args), *resp;
	const char *why;
	uint8_t *frame = NULL;
	size_t flen;
	int rc;

	*ok = false;
	if (req == NULL) {
		snprintf(c->err, sizeof(c->err), "%s: out of memory", cmd);
		return NULL;
	}
	rc = ctl_encode(CTL_TYPE_REQUEST, req, &frame, &flen);
	json_decref(req);
	if (rc < 0) {
		snprintf(c->err, sizeof(c->err), "%s: encode: %s", cmd,
			 strerror(-rc));
		return NULL;
	}
	rc = drv_write(c, frame, flen);
	free(frame);
	if (rc < 0)
		return NULL;
	resp = drv_recv(c);
	if (resp == NULL)
		return NULL;
	if (ctl_response_parse(resp, &rid, ok, &result, &error, &why) < 0 ||
	    rid != id) {
		snprintf(c->err, sizeof(c->err), "%s: bad response: %s", cmd,
			 rid != id ? "wrong id" : why);
		json_decref(resp);
		*ok = false;
		return NULL;
	}
	if (!*ok)
		snprintf(c->err, sizeof(c->err), "%s: %s: %s", cmd,
			 json_string_value(json_object_get(error, "code")),
			 json_string_value(json_object_get(error, "message")));
	return resp;
}

/* A call whose response only matters as ok / not ok. */
static bool drv_call_ok(struct drv_conn *c, const char *cmd, json_t *args)
{
	bool ok;
	json_t *r = drv_call(c, cmd, args, &ok);

	json_decref(r);
	return r != NULL && ok;
}

/* --- login ---------------------------------------------------------------- */

/* The next user that may log in now; waits for the next TOTP step when
 * every TOTP user used the current one. */
static struct drv_user *drv_pick_user(struct drv *d, int64_t *step)
{
	for (;;) {
		int64_t now = (int64_t)time(NULL);

		*step = now / TOTP_STEP;
		for (size_t k = 0; k < d->nusers; k++) {
			struct drv_user *u =
				&d->users[(d->next_user + k) % d->nusers];

			if (u->cert[0] || u->last_step < *step) {
				d->next_user =
					(d->next_user + k + 1) % d->nusers;
				return u;
			}
		}
		if (drv_stop)
			return NULL;
		drv_sleep((double)((*step + 1) * TOTP_STEP - now) + 0.05);
	}
}

static int drv_totp(const struct drv_user *u, int64_t t, char *out,
		    size_t outlen)
{
	uint8_t key[TOTP_B32_MAX];
	uint32_t code;
	int n = totp_b32_decode(u->secret, key, sizeof(key));

	if (n < 0 || totp_code(key, (size_t)n, t, TOTP_DIGITS, &code) < 0)
		return -1;
	snprintf(out, outlen, "%06" PRIu32, code);
	return 0;
}

/* One login on a fresh connection c (left open and authenticated on
 * success). t[0..4]: start, tcp, tls, hello, login. */
static int drv_login(struct drv *d, struct drv_user *u, struct drv_conn *c,
		     double t[5])
{
	char code[16];
	int64_t step;
	json_t *args;

	drv_conn_init(c);
	t[0] = drv_now();
	if (drv_open_tls(d, c, u->ctx, &t[1], &t[2]) < 0)
		return -1;
	if (!drv_call_ok(c, "hello", NULL))
		return -1;
	t[3] = drv_now();
	if (u->cert[0]) {
		args = json_pack("{s:s, s:s}", "user", u->name, "password",
				 u->password);
	} else {
		step = (int64_t)time(NULL) / TOTP_STEP;
		if (drv_totp(u, step * TOTP_STEP, code, sizeof(code)) < 0) {
			snprintf(c->err, sizeof(c->err),
				 "user %s: bad TOTP secret", u->name);
			return -1;
		}
		u->last_step = step;
		args = json_pack("{s:s, s:s, s:s}", "user", u->name, "password",
				 u->password, "totp", code);
	}
	if (!drv_call_ok(c, "auth.login", args))
		return -1;
	t[4] = drv_now();
	return 0;
}

/* auth.logout and the server's close (bounded by the I/O timeout). */
static void drv_logout(struct drv_conn *c)
{
	bool ok;
	json_t *r;

	if (c->fd < 0)
		return;
	r = drv_call(c, "auth.logout", NULL, &ok);
	json_decref(r);
	while (r != NULL && drv_fill(c) > 0)
		;
	drv_conn_close(c);
}

static int drv_dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int drv_mode_login(struct drv *d)
{
	double *ms = calloc((size_t)d->count, sizeof(*ms));
	long ok = 0;

	if (ms == NULL) {
		fprintf(stderr, "mgmt_drive: out of memory\n");
		return 1;
	}
	for (long i = 0; i < d->count && !drv_stop; i++) {
		struct drv_conn c;
		struct drv_user *u;
		double t[5] = { 0 };
		int64_t step;

		u = drv_pick_user(d, &step);
		if (u == NULL)
			break;
		if (drv_login(d, u, &c, t) < 0) {
			printf("login\t%ld\t%s\t%.2f\t-\t-\t-\t-\tFAIL:%s\n", i,
			       u->name, (drv_now() - t[0]) * 1e3, c.err);
			drv_conn_close(&c);
			fflush(stdout);
			continue;
		}
		ms[ok++] = (t[4] - t[0]) * 1e3;
		printf("login\t%ld\t%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\tok\n", i,
		       u->name, (t[4] - t[0]) * 1e3, (t[1] - t[0]) * 1e3,
		       (t[2] - t[1]) * 1e3, (t[3] - t[2]) * 1e3,
		       (t[4] - t[3]) * 1e3);
		fflush(stdout);
		drv_logout(&c);
	}
	qsort(ms, (size_t)ok, sizeof(*ms), drv_dcmp);
	if (ok > 0)
		printf("logins=%ld ok=%ld median_ms=%.2f p95_ms=%.2f\n",
		       d->count, ok, ms[ok / 2], ms[(ok * 95 + 99) / 100 - 1]);
	else
		printf("logins=%ld ok=0 median_ms=- p95_ms=-\n", d->count);
	free(ms);
	return ok == d->count ? 0 : 1;
}

/* --- commands/s ----------------------------------------------------------- */

static int drv_mode_cmds(struct drv *d)
{
	struct drv_conn c;
	double t[5], t0, el;
	long n = 0, errors = 0;
	int64_t step;

	if (d->sock) {
		drv_conn_init(&c);
		if (drv_open_unix(&c, d->sock) < 0) {
			fprintf(stderr, "mgmt_drive: %s\n", c.err);
			drv_conn_close(&c);
			return 1;
		}
	} else if (drv_login(d, drv_pick_user(d, &step), &c, t) < 0) {
		fprintf(stderr, "mgmt_drive: login: %s\n", c.err);
		drv_conn_close(&c);
		return 1;
	}
	t0 = drv_now();
	while ((el = drv_now() - t0) < d->seconds && !drv_stop) {
		bool ok;
		json_t *r = drv_call(&c, d->cmd, NULL, &ok);

		if (r == NULL) {
			fprintf(stderr, "mgmt_drive: %s: %s\n", d->cmd, c.err);
			errors++;
			break;
		}
		json_decref(r);
		if (ok)
			n++;
		else if (errors++ == 0)
			fprintf(stderr, "mgmt_drive: %s\n", c.err);
	}
	el = drv_now() - t0;
	printf("cmds=%ld seconds=%.3f rate=%.1f errors=%ld\n", n, el,
	       (double)n / el, errors);
	if (d->sock)
		drv_conn_close(&c);
	else
		drv_logout(&c);
	return errors ? 1 : 0;
}

/* --- held sessions -------------------------------------------------------- */

static int drv_mode_hold(struct drv *d)
{
	struct drv_conn *c = calloc((size_t)d->count, sizeof(*c));
	long held = 0, failed = 0;
	double t0 = drv_now();
	struct pollfd pfd = { .fd = 0, .events = POLLIN };

	if (c == NULL) {
		fprintf(stderr, "mgmt_drive: out of memory\n");
		return 1;
	}
	for (long i = 0; i < d->count && !drv_stop; i++) {
		double t[5];
		int64_t step;
		struct drv_user *u = drv_pick_user(d, &step);

		if (u == NULL)
			break;
		if (drv_login(d, u, &c[held], t) < 0) {
			fprintf(stderr, "mgmt_drive: hold login %ld (%s): %s\n",
				i, u->name, c[held].err);
			drv_conn_close(&c[held]);
			failed++;
			continue;
		}
		held++;
	}
	printf("held %ld failed %ld\n", held, failed);
	fflush(stdout);
	while (!drv_stop && drv_now() - t0 < d->seconds) {
		char b[64];

		if (poll(&pfd, 1, 200) > 0 && read(0, b, sizeof(b)) <= 0)
			break;
	}
	for (long i = 0; i < held; i++)
		drv_logout(&c[i]);
	free(c);
	return failed ? 1 : 0;
}

/* --- flood ---------------------------------------------------------------- */

enum fl_state { FL_FREE, FL_CONNECTING, FL_OPEN };

struct fl_conn {
	int fd;
	enum fl_state st;
	double t; /* connect started / completed */
};

struct fl_count {
	long attempts, connect_failed, closed_fast, closed_slow;
};

static void fl_close(struct fl_conn *f)
{
	close(f->fd);
	f->fd = -1;
	f->st = FL_FREE;
}

static int drv_mode_flood(struct drv *d)
{
	struct fl_conn *fc = calloc((size_t)d->count, sizeof(*fc));
	struct pollfd *pfd = calloc((size_t)d->count, sizeof(*pfd));
	size_t *idx = calloc((size_t)d->count, sizeof(*idx));
	struct pollfd in = { .fd = 0, .events = POLLIN };
	struct fl_count k = { 0 };
	double t0 = drv_now(), next_report = t0 + 1, budget = 0, last = t0;
	bool announced = false;
	char err[256];

	if (fc == NULL || pfd == NULL || idx == NULL) {
		fprintf(stderr, "mgmt_drive: out of memory\n");
		free(fc);
		free(pfd);
		free(idx);
		return 1;
	}
	for (long i = 0; i < d->count; i++)
		fc[i].fd = -1;
	while (!drv_stop && drv_now() - t0 < d->seconds) {
		double now = drv_now();
		long open = 0, connecting = 0;
		size_t n = 0;

		/* new connections within the rate */
		budget += (now - last) * (double)d->rate;
		if (budget > (double)d->rate / 10)
			budget = (double)d->rate / 10;
		last = now;
		for (long i = 0; i < d->count && budget >= 1; i++) {
			if (fc[i].st != FL_FREE)
				continue;
			budget -= 1;
			k.attempts++;
			fc[i].fd = drv_tcp(d, drv_next_src(d), true, err,
					   sizeof(err));
			if (fc[i].fd < 0) {
				if (k.connect_failed++ == 0)
					fprintf(stderr,
						"mgmt_drive: flood: %s\n", err);
				continue;
			}
			fc[i].st = FL_CONNECTING;
			fc[i].t = now;
		}
		if (!announced && k.attempts >= d->count) {
			printf("opened %ld\n", k.attempts);
			fflush(stdout);
			announced = true;
		}
		for (long i = 0; i < d->count; i++) {
			if (fc[i].st == FL_FREE)
				continue;
			pfd[n].fd = fc[i].fd;
			pfd[n].events = fc[i].st == FL_CONNECTING ? POLLOUT :
								    POLLIN;
			pfd[n].revents = 0;
			idx[n++] = (size_t)i;
			if (fc[i].st == FL_OPEN)
				open++;
			else
				connecting++;
		}
		if (now >= next_report) {
			printf("t=%.1f open=%ld connecting=%ld closed_fast=%ld "
			       "closed_slow=%ld connect_failed=%ld\n",
			       now - t0, open, connecting, k.closed_fast,
			       k.closed_slow, k.connect_failed);
			fflush(stdout);
			next_report += 1;
		}
		if (poll(pfd, n, 10) < 0 && errno != EINTR) {
			fprintf(stderr, "mgmt_drive: poll: %s\n",
				strerror(errno));
			break;
		}
		if (poll(&in, 1, 0) > 0) {
			char b[64];

			if (read(0, b, sizeof(b)) <= 0)
				break;
		}
		now = drv_now();
		for (size_t j = 0; j < n; j++) {
			struct fl_conn *f = &fc[idx[j]];
			int soerr = 0;
			socklen_t sl = sizeof(soerr);
			char b[256];

			if (pfd[j].revents == 0)
				continue;
			if (f->st == FL_CONNECTING) {
				if (getsockopt(f->fd, SOL_SOCKET, SO_ERROR,
					       &soerr, &sl) < 0 ||
				    soerr != 0) {
					if (k.connect_failed++ == 0)
						fprintf(stderr,
							"mgmt_drive: flood: "
							"connect: %s\n",
							strerror(soerr));
					fl_close(f);
					continue;
				}
				f->st = FL_OPEN;
				f->t = now;
				continue;
			}
			/* anything readable on a connection that never sent
			 * a byte: the server closed it (EOF, RST, an alert) */
			if (read(f->fd, b, sizeof(b)) > 0 &&
			    !(pfd[j].revents & (POLLHUP | POLLERR)))
				continue;
			if (now - f->t < DRV_FLOOD_FAST)
				k.closed_fast++;
			else
				k.closed_slow++;
			fl_close(f);
		}
	}
	{
		long open = 0;

		for (long i = 0; i < d->count; i++) {
			if (fc[i].st == FL_OPEN)
				open++;
			if (fc[i].st != FL_FREE)
				fl_close(&fc[i]);
		}
		printf("flood attempts=%ld open_at_end=%ld closed_fast=%ld "
		       "closed_slow=%ld connect_failed=%ld seconds=%.1f\n",
		       k.attempts, open, k.closed_fast, k.closed_slow,
		       k.connect_failed, drv_now() - t0);
	}
	free(fc);
	free(pfd);
	free(idx);
	return 0;
}

/* --- main ----------------------------------------------------------------- */

static void drv_usage(void)
{
	fprintf(stderr,
		"usage: mgmt_drive login TLS -U USERS -N COUNT\n"
		"       mgmt_drive cmds (TLS -U USERS | -x SOCKET) -T SECONDS "
		"[-c CMD]\n"
		"       mgmt_drive hold TLS -U USERS -N COUNT -T SECONDS\n"
		"       mgmt_drive flood -h HOST -p PORT -N COUNT -T SECONDS "
		"[-r RATE] [-s SRC,...]\n"
		"  TLS = -h HOST -p PORT -C CA [-n SERVER_NAME] [-s SRC,...]\n");
}

static int drv_num(const char *opt, const char *v, long lo, long hi, long *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || n < lo || n > hi) {
		fprintf(stderr, "mgmt_drive: %s '%s': expected %ld..%ld\n", opt,
			v, lo, hi);
		return -1;
	}
	*out = n;
	return 0;
}

int main(int argc, char **argv)
{
	static struct drv d;
	struct sigaction sa = { .sa_handler = drv_on_signal };
	struct rlimit rl = { 65536, 65536 };
	const char *mode;
	long v;
	int opt, rc;

	if (argc < 2) {
		drv_usage();
		return 2;
	}
	mode = argv[1];
	d.rate = 500;
	d.cmd = "status";
	d.seconds = 30;
	optind = 2;
	while ((opt = getopt(argc, argv, "h:p:C:n:s:U:N:T:r:x:c:")) != -1) {
		switch (opt) {
		case 'h':
			d.host = optarg;
			break;
		case 'p':
			d.port = optarg;
			break;
		case 'C':
			d.ca = optarg;
			break;
		case 'n':
			d.server_name = optarg;
			break;
		case 's':
			if (drv_parse_srcs(&d, optarg) < 0)
				return 2;
			break;
		case 'U':
			d.users_file = optarg;
			break;
		case 'N':
			if (drv_num("-N", optarg, 1, DRV_COUNT_MAX, &d.count))
				return 2;
			break;
		case 'T':
			if (drv_num("-T", optarg, 1, 3600, &v))
				return 2;
			d.seconds = (double)v;
			break;
		case 'r':
			if (drv_num("-r", optarg, 1, 100000, &d.rate))
				return 2;
			break;
		case 'x':
			d.sock = optarg;
			break;
		case 'c':
			d.cmd = optarg;
			break;
		default:
			drv_usage();
			return 2;
		}
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* the flood's sockets: as many as the hard limit allows */
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 &&
	    getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (strcmp(mode, "flood") == 0) {
		if (!d.host || !d.port || d.count == 0) {
			fprintf(stderr, "mgmt_drive: flood needs -h, -p, -N\n");
			return 2;
		}
		return drv_mode_flood(&d);
	}
	if (strcmp(mode, "cmds") == 0 && d.sock)
		return drv_mode_cmds(&d);
	if (strcmp(mode, "login") && strcmp(mode, "cmds") &&
	    strcmp(mode, "hold")) {
		fprintf(stderr, "mgmt_drive: unknown mode '%s'\n", mode);
		drv_usage();
		return 2;
	}
	if (!d.host || !d.port || !d.ca || !d.users_file ||
	    (strcmp(mode, "cmds") && d.count == 0)) {
		fprintf(stderr, "mgmt_drive: %s needs -h, -p, -C, -U%s\n", mode,
			strcmp(mode, "cmds") ? " and -N" : "");
		return 2;
	}
	if (drv_load_users(&d) < 0 || drv_tls_setup(&d) < 0) {
		drv_tls_free(&d);
		return 1;
	}
	if (strcmp(mode, "login") == 0)
		rc = drv_mode_login(&d);
	else if (strcmp(mode, "cmds") == 0)
		rc = drv_mode_cmds(&d);
	else
		rc = drv_mode_hold(&d);
	drv_tls_free(&d);
	return rc;
}
