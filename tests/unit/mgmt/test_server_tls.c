/*
 * The TLS management endpoint of the server, driven in-process on
 * 127.0.0.1 (and ::1) with port 0: real OpenSSL on both sides, the test's
 * own poll loop runs the server while clients run in threads. A throwaway
 * PKI is made once per run with the openssl CLI: a CA, a server
 * certificate (RSA, so that static-RSA and CBC suites could be offered),
 * a client certificate CN alice, an expired one, one from another CA and
 * one with a 1024-bit key.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "mgmt/control.h"
#include "mgmt/server.h"

#define PKI_ENV "TEST_SERVER_TLS_PKI"

static const char pki_script[] =
	"set -e; cd \"$1\"; umask 077\n"
	"ec() { openssl genpkey -algorithm EC -pkeyopt "
	"ec_paramgen_curve:P-256 -out \"$1\" 2>/dev/null; }\n"
	"rsa() { openssl genpkey -algorithm RSA -pkeyopt "
	"rsa_keygen_bits:\"$2\" -out \"$1\" 2>/dev/null; }\n"
	"mkca() { ec \"$1.key\"; openssl req -x509 -new -key \"$1.key\" "
	"-sha256 -days 30 -subj \"/O=conduitd test/CN=$2\" "
	"-addext basicConstraints=critical,CA:TRUE "
	"-addext keyUsage=critical,keyCertSign,cRLSign -out \"$1.pem\"; }\n"
	"ext() { printf 'basicConstraints=critical,CA:FALSE\\n"
	"keyUsage=critical,digitalSignature,keyEncipherment\\n"
	"extendedKeyUsage=%s\\nsubjectAltName=%s\\n' \"$2\" \"$3\" "
	">\"$1.ext\"; }\n"
	"csr() { openssl req -new -key \"$1.key\" "
	"-subj \"/O=conduitd test/CN=$2\" -out \"$1.csr\"; }\n"
	"leaf() { csr \"$1\" \"$2\"; ext \"$1\" \"$3\" \"$4\"; "
	"openssl x509 -req -in \"$1.csr\" -CA \"$5.pem\" -CAkey \"$5.key\" "
	"-CAcreateserial -sha256 -days 30 -extfile \"$1.ext\" "
	"-out \"$1.pem\" 2>/dev/null; }\n"
	"mkca ca 'management test CA'\n"
	"mkca rogue 'rogue test CA'\n"
	"rsa server.key 2048\n"
	"leaf server localhost serverAuth "
	"'DNS:localhost,IP:127.0.0.1,IP:::1' ca\n"
	"ec alice.key; leaf alice alice clientAuth DNS:alice ca\n"
	"ec stranger.key; leaf stranger alice clientAuth DNS:alice rogue\n"
	"rsa weak.key 1024; leaf weak alice clientAuth DNS:alice ca\n"
	/* `openssl x509 -req` (3.0) cannot back-date; `openssl ca` can */
	"ec expired.key; csr expired alice; "
	"ext expired clientAuth DNS:alice\n"
	"mkdir db; : >db/index.txt; echo 1000 >db/serial\n"
	"printf '[ca]\\ndefault_ca=t\\n[t]\\ndatabase=db/index.txt\\n"
	"serial=db/serial\\nnew_certs_dir=db\\ndefault_md=sha256\\n"
	"policy=p\\nunique_subject=no\\n[p]\\ncommonName=supplied\\n"
	"organizationName=optional\\n' >db/ca.cnf\n"
	"openssl ca -batch -notext -config db/ca.cnf -cert ca.pem "
	"-keyfile ca.key -startdate 20200101000000Z -enddate "
	"20200102000000Z -extfile expired.ext -in expired.csr "
	"-out expired.pem 2>/dev/null\n"
	"openssl verify -CAfile ca.pem server.pem alice.pem >/dev/null\n"
	"! openssl verify -CAfile ca.pem stranger.pem >/dev/null 2>&1\n"
	"! openssl verify -CAfile ca.pem expired.pem >/dev/null 2>&1\n";

static char pki_dir[64];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Made once in the runner; the test processes find it in the environment. */
ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	char script[96];
	FILE *f;

	(void)set;
	strcpy(pki_dir, "/tmp/test_server_tls.XXXXXX");
	if (mkdtemp(pki_dir) == NULL)
		return;
	snprintf(script, sizeof(script), "%s/pki.sh", pki_dir);
	f = fopen(script, "w");
	if (f == NULL)
		return;
	fputs(pki_script, f);
	fclose(f);
	if (sh("sh %s %s >%s/pki.log 2>&1", script, pki_dir, pki_dir) == 0)
		setenv(PKI_ENV, pki_dir, 1);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	if (pki_dir[0] && strncmp(pki_dir, "/tmp/test_server_tls.", 21) == 0)
		sh("rm -rf %s", pki_dir);
}

static char pki[64];
static char sockdir[64];
static char sockpath[128];

static const char *pem(const char *name)
{
	static char buf[8][128];
	static int k;
	char *p = buf[k++ % 8];

	snprintf(p, 128, "%s/%s", pki, name);
	return p;
}

/* --- the server side ----------------------------------------------------- */

struct close_ev {
	uint64_t client;
	enum srv_close_reason why;
	char error[128];
	bool cert;
	enum srv_channel channel;
};

static struct srv *g_srv;
static time_t g_now = 1000;
static int calls;
static uint64_t deferred_client;
static struct close_ev evs[64];
static int n_evs;

static json_t *handler(const json_t *req, struct srv_peer *peer, void *arg)
{
	const json_t *args;
	const char *cmd, *why;
	uint64_t id;

	(void)arg;
	calls++;
	if (ctl_request_parse(req, &id, &cmd, &args, &why) < 0)
		return ctl_response_error(id, CTL_ERR_BAD_REQUEST, why, NULL);
	if (strcmp(cmd, "auth") == 0) {
		srv_set_authenticated(g_srv, peer->client);
	} else if (strcmp(cmd, "defer") == 0) {
		deferred_client = peer->client;
		return SRV_DEFERRED;
	} else if (strcmp(cmd, "logout") == 0) {
		peer->close_after = true;
	} else if (strcmp(cmd, "killme") == 0) {
		cr_expect_eq(srv_kill(g_srv, peer->client), 0);
	} else if (strcmp(cmd, "big") == 0) {
		const char *d =
			json_string_value(json_object_get(args, "data"));

		return ctl_response_ok(
			id, json_pack("{s:I}", "len",
				      (json_int_t)(d ? strlen(d) : 0)));
	}
	return ctl_response_ok(
		id, json_pack("{s:s, s:I, s:i, s:s, s:s, s:b, s:s, s:s}",
			      "echo", cmd, "client", (json_int_t)peer->client,
			      "channel", (int)peer->channel, "host", peer->host,
			      "addr", peer->addr, "cert", peer->cert, "cn",
			      peer->cert_cn, "version", peer->tls_version));
}

static void on_close(struct srv_peer *peer, enum srv_close_reason why,
		     const char *error, void *arg)
{
	struct close_ev *e;

	(void)arg;
	cr_assert_lt(n_evs, 64);
	e = &evs[n_evs++];
	e->client = peer->client;
	e->why = why;
	e->cert = peer->cert;
	e->channel = peer->channel;
	snprintf(e->error, sizeof(e->error), "%s", error);
}

static const struct close_ev *ev_for(uint64_t client)
{
	for (int i = 0; i < n_evs; i++)
		if (evs[i].client == client)
			return &evs[i];
	return NULL;
}

static void setup(void)
{
	const char *p = getenv(PKI_ENV);

	cr_assert_not_null(p, "test PKI not generated (see /tmp/%s)",
			   "test_server_tls.*/pki.log");
	snprintf(pki, sizeof(pki), "%s", p);
	/* the clients write to sockets the server may have closed already;
	 * the server itself never needs this (MSG_NOSIGNAL) */
	signal(SIGPIPE, SIG_IGN);
	strcpy(sockdir, "/tmp/test_srvtls.XXXXXX");
	cr_assert_not_null(mkdtemp(sockdir));
	snprintf(sockpath, sizeof(sockpath), "%s/ctl.sock", sockdir);
	calls = 0;
	n_evs = 0;
	deferred_client = 0;
	g_now = 1000;
	g_srv = NULL;
}

static void log_stop_quiet(void);

static void teardown(void)
{
	srv_close(g_srv, true);
	g_srv = NULL;
	log_stop_quiet(); /* an assertion may have left it capturing */
	rmdir(sockdir);
}

static void default_tls(struct srv_tls_opts *t)
{
	memset(t, 0, sizeof(*t));
	t->listen[0] = "127.0.0.1";
	t->cert = pem("server.pem");
	t->key = pem("server.key");
}

static struct srv *open_tls(const struct srv_tls_opts *t)
{
	struct srv_opts o = { .path = sockpath };

	g_srv = srv_open(&o, handler, NULL);
	cr_assert_not_null(g_srv, "srv_open: %s", strerror(errno));
	srv_set_close_fn(g_srv, on_close);
	cr_assert_eq(srv_add_tls(g_srv, t), 0);
	cr_assert_neq(srv_tls_port(g_srv, 0), 0);
	return g_srv;
}

static int64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pump_once(struct srv *s, int timeout_ms)
{
	size_t max = srv_pollfd_max(s);
	struct pollfd *pfd = calloc(max, sizeof(*pfd));
	size_t n;

	cr_assert_not_null(pfd);
	n = srv_pollfds(s, pfd, max);
	if (poll(pfd, n, timeout_ms) > 0)
		srv_dispatch(s, pfd, n, g_now);
	free(pfd);
}

static void pump_ms(struct srv *s, int ms)
{
	int64_t end = ms_now() + ms;

	while (ms_now() < end)
		pump_once(s, 5);
}

/* --- the client side (a thread, blocking OpenSSL) ------------------------ */

enum { JOB_RUNNING, JOB_HOLDING, JOB_DONE };

struct job {
	/* in */
	int family;
	uint16_t port;
	int min_v, max_v;	/* 0 = library default */
	const char *ciphers;	/* TLS 1.2 list */
	int seclevel;		/* -1 = library default */
	const char *cert, *key; /* client certificate */
	const char *cmds[4];	/* requests, ids 1.. */
	json_t *args[4];	/* stolen */
	bool pipelined;		/* all requests in one SSL_write */
	bool hold;		/* after the responses wait for release */
	bool expect_close;	/* then read until the server closes */
	SSL_SESSION *resume;	/* offer this session */
	bool keep_session;	/* keep the session in job.session */
	/* out */
	bool connected;
	bool handshake;
	char err[256];
	char version[16];
	char cipher[64];
	bool reused;
	SSL_SESSION *session;
	json_t *resp[4];
	int nresp;
	bool closed;
	atomic_int state;
	atomic_bool release;
	atomic_bool hello; /* the ClientHello is out */
	pthread_t th;
};

static void job_err(struct job *j, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[200];

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "%s", strerror(errno));
	if (j->err[0] == '\0')
		snprintf(j->err, sizeof(j->err), "%s: %s", what, buf);
	ERR_clear_error();
}

static int job_read_frame(struct job *j, SSL *ssl, struct ctl_decoder *d)
{
	static __thread uint8_t buf[16384];
	int before = j->nresp;

	for (;;) {
		size_t n = 0, off = 0, used;
		struct ctl_frame f;

		if (SSL_read_ex(ssl, buf, sizeof(buf), &n) != 1) {
			job_err(j, "read");
			return -1;
		}
		while (off < n) {
			enum ctl_result r =
				ctl_decode(d, buf + off, n - off, &used, &f);

			off += used;
			if (r == CTL_ERROR)
				return -1;
			if (r == CTL_FRAME && j->nresp < 4)
				j->resp[j->nresp++] = f.msg;
			else if (r == CTL_FRAME)
				json_decref(f.msg);
		}
		if (j->nresp > before)
			return 0;
	}
}

static int job_send(struct job *j, SSL *ssl, int i, uint8_t **acc,
		    size_t *acclen)
{
	json_t *r = ctl_request_new((uint64_t)i + 1, j->cmds[i], j->args[i]);
	uint8_t *f;
	size_t n, w;

	j->args[i] = NULL;
	if (r == NULL || ctl_encode(CTL_TYPE_REQUEST, r, &f, &n) < 0)
		return -1;
	json_decref(r);
	if (acc != NULL) {
		*acc = realloc(*acc, *acclen + n);
		memcpy(*acc + *acclen, f, n);
		*acclen += n;
		free(f);
		return 0;
	}
	if (SSL_write_ex(ssl, f, n, &w) != 1) {
		job_err(j, "write");
		free(f);
		return -1;
	}
	free(f);
	return 0;
}

/* Notes that the ClientHello went out. */
static void job_msg(int write_p, int version, int content_type, const void *buf,
		    size_t len, SSL *ssl, void *arg)
{
	struct job *j = arg;

	(void)version;
	(void)content_type;
	(void)buf;
	(void)len;
	(void)ssl;
	if (write_p)
		atomic_store(&j->hello, true);
}

static void *job_run(void *arg)
{
	struct job *j = arg;
	struct sockaddr_storage ss = { 0 };
	struct timeval tv = { .tv_sec = 5 };
	struct ctl_decoder d;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	socklen_t sl;
	int fd, ncmds = 0;

	ctl_decoder_init(&d, 0);
	while (ncmds < 4 && j->cmds[ncmds])
		ncmds++;
	if (j->family == AF_INET6) {
		struct sockaddr_in6 *a = (void *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(j->port);
		a->sin6_addr = in6addr_loopback;
		sl = sizeof(*a);
	} else {
		struct sockaddr_in *a = (void *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(j->port);
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sl = sizeof(*a);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* everything slow before connect: the ClientHello follows at once */
	ctx = SSL_CTX_new(TLS_client_method());
	if (j->seclevel >= 0)
		SSL_CTX_set_security_level(ctx, j->seclevel);
	if (j->min_v)
		SSL_CTX_set_min_proto_version(ctx, j->min_v);
	if (j->max_v)
		SSL_CTX_set_max_proto_version(ctx, j->max_v);
	if (j->ciphers && !SSL_CTX_set_cipher_list(ctx, j->ciphers)) {
		job_err(j, "cipher list");
		goto out;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_load_verify_locations(ctx, pem("ca.pem"), NULL) != 1) {
		job_err(j, "ca");
		goto out;
	}
	if (j->cert &&
	    (SSL_CTX_use_certificate_file(ctx, j->cert, SSL_FILETYPE_PEM) !=
		     1 ||
	     SSL_CTX_use_PrivateKey_file(ctx, j->key, SSL_FILETYPE_PEM) != 1)) {
		job_err(j, "client certificate");
		goto out;
	}
	ssl = SSL_new(ctx);
	SSL_set_msg_callback(ssl, job_msg);
	SSL_set_msg_callback_arg(ssl, j);
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
		job_err(j, "connect");
		goto out;
	}
	j->connected = true;
	X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
				      j->family == AF_INET6 ? "::1" :
							      "127.0.0.1");
	if (j->resume)
		SSL_set_session(ssl, j->resume);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1) {
		job_err(j, "handshake");
		goto out;
	}
	j->handshake = true;
	snprintf(j->version, sizeof(j->version), "%s", SSL_get_version(ssl));
	snprintf(j->cipher, sizeof(j->cipher), "%s", SSL_get_cipher_name(ssl));
	j->reused = SSL_session_reused(ssl);
	if (j->pipelined) {
		uint8_t *acc = NULL;
		size_t len = 0, w;
		int rc = 0;

		for (int i = 0; i < ncmds && rc == 0; i++)
			rc = job_send(j, ssl, i, &acc, &len);
		if (rc == 0 && SSL_write_ex(ssl, acc, len, &w) != 1)
			job_err(j, "write");
		free(acc);
		while (j->nresp < ncmds && job_read_frame(j, ssl, &d) == 0)
			;
	} else {
		for (int i = 0; i < ncmds; i++)
			if (job_send(j, ssl, i, NULL, NULL) < 0 ||
			    job_read_frame(j, ssl, &d) < 0)
				break;
	}
	if (j->keep_session)
		j->session = SSL_get1_session(ssl);
	if (j->hold) {
		int64_t end = ms_now() + 20000;

		atomic_store(&j->state, JOB_HOLDING);
		while (!atomic_load(&j->release) && ms_now() < end)
			usleep(2000);
	}
	if (j->expect_close) {
		uint8_t b;
		size_t n;
		int e;

		errno = 0;
		e = SSL_read_ex(ssl, &b, 1, &n) == 1 ? SSL_ERROR_NONE :
						       SSL_get_error(ssl, 0);
		/* EOF or close_notify, not our own receive timeout */
		j->closed = e == SSL_ERROR_ZERO_RETURN ||
			    (e != SSL_ERROR_NONE && errno != EAGAIN);
		ERR_clear_error();
	}
out:
	ctl_decoder_free(&d);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	for (int i = 0; i < 4; i++)
		json_decref(j->args[i]);
	ERR_clear_error();
	atomic_store(&j->state, JOB_DONE);
	return NULL;
}

static void job_init(struct job *j, uint16_t port)
{
	memset(j, 0, sizeof(*j));
	j->family = AF_INET;
	j->port = port;
	j->seclevel = -1;
	atomic_init(&j->state, JOB_RUNNING);
	atomic_init(&j->release, false);
	atomic_init(&j->hello, false);
}

static void job_start(struct job *j)
{
	cr_assert_eq(pthread_create(&j->th, NULL, job_run, j), 0);
}

/* Pumps the server until the job reaches state (or ms pass). */
static bool job_wait(struct srv *s, struct job *j, int state, int ms)
{
	int64_t end = ms_now() + ms;

	while (atomic_load(&j->state) < state && ms_now() < end)
		pump_once(s, 5);
	return atomic_load(&j->state) >= state;
}

static void job_finish(struct srv *s, struct job *j)
{
	atomic_store(&j->release, true);
	cr_assert(job_wait(s, j, JOB_DONE, 15000), "client thread stuck");
	pthread_join(j->th, NULL);
	pump_ms(s, 20); /* let the server see the close */
}

static void job_free(struct job *j)
{
	for (int i = 0; i < j->nresp; i++)
		json_decref(j->resp[i]);
	j->nresp = 0;
	SSL_SESSION_free(j->session);
	j->session = NULL;
}

static const json_t *result(const struct job *j, int i)
{
	cr_assert_lt(i, j->nresp, "response %d missing (%s)", i, j->err);
	return json_object_get(j->resp[i], "result");
}

static const char *rstr(const struct job *j, int i, const char *key)
{
	return json_string_value(json_object_get(result(j, i), key));
}

static uint64_t rclient(const struct job *j, int i)
{
	return (uint64_t)json_integer_value(
		json_object_get(result(j, i), "client"));
}

/* One client: connect, run cmds, done. */
static void run_client(struct srv *s, struct job *j)
{
	job_start(j);
	job_finish(s, j);
}

/* A raw TCP connection that never speaks TLS. */
static int tcp_connect(int family, uint16_t port)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (void *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		a->sin6_addr = in6addr_loopback;
		sl = sizeof(*a);
	} else {
		struct sockaddr_in *a = (void *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sl = sizeof(*a);
	}
	cr_assert(connect(fd, (struct sockaddr *)&ss, sl) == 0 ||
			  errno == EINPROGRESS,
		  "connect: %s", strerror(errno));
	return fd;
}

/* 1 when the server closed fd, 0 when it is still open. */
static int tcp_closed(int fd)
{
	uint8_t b;
	ssize_t n = recv(fd, &b, 1, MSG_DONTWAIT);

	if (n == 0 || (n < 0 && errno == ECONNRESET))
		return 1;
	return 0;
}

static struct srv_stats stats(struct srv *s)
{
	struct srv_stats st;

	srv_get_stats(s, &st);
	return st;
}

/* Captures stderr (the log in the foreground) into a file. */
static int saved_stderr = -1;
static char logpath[160];

static void log_start(void)
{
	int fd;

	snprintf(logpath, sizeof(logpath), "%s/log", sockdir);
	fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	fflush(stderr);
	saved_stderr = dup(2);
	dup2(fd, 2);
	close(fd);
}

static void log_stop_quiet(void)
{
	if (saved_stderr < 0)
		return;
	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	saved_stderr = -1;
	unlink(logpath);
}

/* Restores stderr; returns how many captured lines hold what. */
static int log_stop(const char *what)
{
	char line[1024];
	int n = 0;
	FILE *f;

	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	saved_stderr = -1;
	f = fopen(logpath, "r");
	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, what)) {
			n++;
			fputs(line, stderr);
		}
	fclose(f);
	unlink(logpath);
	return n;
}

/* --- tests --------------------------------------------------------------- */

/* CR 3.1, CR 4.1 */
Test(server_tls, request_over_tls13, .init = setup, .fini = teardown,
     .timeout = 60)
{
	struct srv_tls_opts t;
	struct srv *s;
	struct job j;

	default_tls(&t);
	s = open_tls(&t);
	job_init(&j, srv_tls_port(s, 0));
	j.cmds[0] = "status";
	j.cmds[1] = "peer";
	run_client(s, &j);
	cr_assert(j.handshake, "%s", j.err);
	cr_expect_str_eq(j.version, "TLSv1.3");
	cr_assert_eq(j.nresp, 2, "%s", j.err);
	cr_expect_str_eq(rstr(&j, 0, "echo"), "status");
	cr_expect_str_eq(rstr(&j, 1, "version"), "TLSv1.3");
	cr_expect_str_eq(rstr(&j, 1, "host"), "127.0.0.1");
	cr_expect_eq(strncmp(rstr(&j, 1, "addr"), "127.0.0.1:", 10), 0);
	cr_expect_eq(
		json_integer_value(json_object_get(result(&j, 1), "channel")),
		SRV_CH_TLS);
	cr_expect(json_is_false(json_object_get(result(&j, 1), "cert")),
		  "no client CA: no certificate requested");
	cr_expect_eq(stats(s).tls_handshakes, 1);
	/* the client went away: the close fn heard of it */
	cr_assert_eq(n_evs, 1);
	cr_expect_eq(evs[0].client, rclient(&j, 1));
	cr_expect_eq(evs[0].why, SRV_CLOSE_PEER);
	cr_expect_eq(srv_clients(s), 0);
	job_free(&j);
}

/* CR 3.1, CR 4.1 */
Test(server_tls, tls12_ecdhe_aead_only, .init = setup, .fini = teardown,
     .timeout = 60)
{
	static const char *const refused[] = {
		"AES128-GCM-SHA256",	   /* static RSA: no forward secrecy */
		"ECDHE-RSA-AES128-SHA256", /* CBC */
		"ECDHE-RSA-AES256-SHA",	   /* CBC, SHA-1 MAC */
	};
	struct srv_tls_opts t;
	struct srv *s;
	struct job j;

	default_tls(&t);
	s = open_tls(&t);
	job_init(&j, srv_tls_port(s, 0));
	j.max_v = TLS1_2_VERSION;
	j.cmds[0] = "peer";
	run_client(s, &j);
	cr_assert(j.handshake, "%s", j.err);
	cr_expect_str_eq(j.version, "TLSv1.2");
	cr_expect_str_eq(rstr(&j, 0, "version"), "TLSv1.2");
	cr_expect_not_null(strstr(j.cipher, "ECDHE"), "%s", j.cipher);
	cr_expect(strstr(j.cipher, "GCM") || strstr(j.cipher, "CHACHA20"), "%s",
		  j.cipher);
	job_free(&j);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		job_init(&j, srv_tls_port(s, 0));
		j.max_v = TLS1_2_VERSION;
		j.seclevel = 0;
		j.ciphers = refused[i];
		j.cmds[0] = "peer";
		run_client(s, &j);
		cr_expect_not(j.handshake, "%s accepted", refused[i]);
		cr_expect_not_null(strstr(j.err, "handshake failure"), "%s: %s",
				   refused[i], j.err);
		job_free(&j);
	}
	cr_expect_eq(stats(s).tls_handshake_failed, 3);
	cr_expect_eq(n_evs, 1, "only the served client reached the close fn");
}

/* CR 3.1 */
Test(server_tls, tls11_refused, .init = setup, .fini = teardown, .timeout = 60)
{
	struct srv_tls_opts t;
	struct srv *s;
	struct job j;

	default_tls(&t);
	s = open_tls(&t);
	job_init(&j, srv_tls_port(s, 0));
	j.min_v = TLS1_1_VERSION;
	j.max_v = TLS1_1_VERSION;
	j.seclevel = 0;
	j.ciphers = "DEFAULT:@SECLEVEL=0";
	j.cmds[0] = "peer";
	run_client(s, &j);
	cr_expect(j.connected);
	cr_expect_not(j.handshake);
	cr_expect_not_null(strstr(j.err, "protocol version"),
			   "the server's alert: %s", j.err);
	cr_expect_eq(stats(s).tls_handshake_failed, 1);
	cr_expect_eq(stats(s).tls_handshakes, 0);
	cr_expect_eq(calls, 0);
	cr_expect_eq(n_evs, 0, "not a certificate failure: no close fn");
	job_free(&j);
}

/* Each connection authenticates afresh: nothing to resume. */
/* CR 3.1 */
Test(server_tls, no_session_resumption, .init = setup, .fini = teardown,
     .timeout = 60)
{
	static const int versions[] = { TLS1_2_VERSION, TLS1_3_VERSION };
	struct srv_tls_opts t;
	struct srv *s;
	struct job a, b;

	default_tls(&t);
	s = open_tls(&t);
	for (size_t i = 0; i < 2; i++) {
		job_init(&a, srv_tls_port(s, 0));
		a.max_v = versions[i];
		a.cmds[0] = "peer";
		a.keep_session = true;
		run_client(s, &a);
		cr_assert_eq(a.nresp, 1, "%s", a.err);
		cr_assert_not_null(a.session);
		job_init(&b, srv_tls_port(s, 0));
		b.max_v = versions[i];
		b.resume = a.session;
		b.cmds[0] = "peer";
		run_client(s, &b);
		cr_assert_eq(b.nresp, 1, "%s", b.err);
		cr_expect_not(b.reused, "%s session resumed", b.version);
		job_free(&a);
		job_free(&b);
	}
}

/* CR 1.2, CR 1.9 */
Test(server_tls, client_certificate_cn, .init = setup, .fini = teardown,
     .timeout = 60)
{
	struct srv_tls_opts t;
	struct srv *s;
	struct job j;

	default_tls(&t);
	t.client_ca = pem("ca.pem");
	s = open_tls(&t);
	job_init(&j, srv_tls_port(s, 0));
	j.cert = pem("alice.pem");
	j.key = pem("alice.key");
	j.cmds[0] = "peer";
	run_client(s, &j);
	cr_assert_eq(j.nresp, 1, "%s", j.err);
	cr_expect(json_is_true(json_object_get(result(&j, 0), "cert")));
	cr_expect_str_eq(rstr(&j, 0, "cn"), "alice");
	cr_assert_eq(n_evs, 1);
	cr_expect(evs[0].cert, "the close fn sees the same peer");
	job_free(&j);

	/* the certificate is optional: without one the client is served */
	job_init(&j, srv_tls_port(s, 0));
	j.cmds[0] = "peer";
	run_client(s, &j);
	cr_assert_eq(j.nresp, 1, "%s", j.err);
	cr_expect(json_is_false(json_object_get(result(&j, 0), "cert")));
	cr_expect_str_eq(rstr(&j, 0, "cn"), "");
	job_free(&j);
}

/* Without a client CA nothing is requested, so nothing is trusted. */
/* CR 1.2 */
Test(server_tls, no_client_ca_no_certificate, .init = setup, .fini = teardown,
     .timeout = 60)
{
	struct srv_tls_opts t;
	struct srv *s;
	struct job j;

	default_tls(&t);
	s = open_tls(&t);
	job_init(&j, srv_tls_port(s, 0));
	j.cert = pem("alice.pem");
	j.key = pem("alice.key");
	j.cmds[0] = "peer";
	run_client(s, &j);
	cr_assert_eq(j.nresp, 1, "%s", j.err);
	cr_expect(json_is_false(json_object_get(result(&j, 0), "cert")));
	cr_expect_str_eq(rstr(&j, 0, "cn"), "");
	job_free(&j);
}

/* A presented certificate that does not verify fails the handshake; the
 * close fn hears why (for the audit), the request fn never runs. */
static void expect_cert_refused(const char *name, int seclevel,
				const char *reason)
{
	struct srv_tls_opts t;
	char crt[32], key[32];
	struct srv *s;
	struct job j;

	default_tls(&t);
	t.client_ca = pem("ca.pem");
	s = open_tls(&t);
	snprintf(crt, sizeof(crt), "%s.pem", name);
	snprintf(key, sizeof(key), "%s.key", name);
	job_init(&j, srv_tls_port(s, 0));
	j.cert = pem(crt);
	j.key = pem(key);
	j.seclevel = seclevel;
	j.cmds[0] = "peer";
	run_client(s, &j);
	/* TLS 1.3: the client may finish first and hear the alert later */
	cr_expect_eq(j.nresp, 0, "%s served", name);
	cr_expect_neq(j.err[0], '\0');
	cr_expect_eq(calls, 0);
	cr_assert_eq(n_evs, 1, "%s: the close fn was not called", name);
	cr_expect_str_eq(evs[0].error, reason);
	cr_expect_not(evs[0].cert);
	cr_expect_eq(evs[0].channel, SRV_CH_TLS);
	cr_expect_eq(evs[0].why, SRV_CLOSE_PROTOCOL);
	cr_expect_eq(stats(s).tls_handshake_failed, 1);
	cr_expect_eq(stats(s).tls_handshakes, 0);
	cr_expect_eq(srv_clients(s), 0);
	job_free(&j);
}

/* CR 1.2, CR 1.9 */
Test(server_tls, wrong_ca_refused, .init = setup, .fini = teardown,
     .timeout = 60)
{
	expect_cert_refused("stranger", -1,
			    "unable to get local issuer certificate");
}

/* CR 1.2, CR 1.9 */
Test(server_tls, expired_certificate_refused, .init = setup, .fini = teardown,
     .timeout = 60)
{
	expect_cert_refused("expired", -1, "certificate has expired");
}

/* CR 1.9 */
Test(server_tls, weak_client_key_refused, .init = setup, .fini = teardown,
     .timeout = 60)
{
	expect_cert_refused("weak", 0, "EE certificate key too weak");
}

/* CR 7.1 */
Test(server_tls, handshake_timeout, .init = setup, .fini = teardown,
     .timeout = 60)
{
	struct srv_tls_opts t;
	struct srv *s;
	int fd;

	default_tls(&t);
	t.handshake_timeout = 1;
	s = open_tls(&t);
	fd = tcp_connect(AF_INET, srv_tls_port(s, 0));
	pump_ms(s, 50);
	cr_assert_eq(stats(s).tls_handshaking, 1);
	srv_tick(s, g_now);
	cr_expect_eq(srv_clients(s), 1, "not yet");
	srv_tick(s, g_now + 1);
	cr_expect_eq(srv_clients(s), 0, "closed after 1 s");
	cr_expect_eq(stats(s).tls_handshake_timeout, 1);
	cr_expect_eq(stats(s).tls_unauth, 0);
	cr_expect_eq(n_evs, 0, "never reached the request fn");
	cr_expect_eq(tcp_closed(fd), 1);
	close(fd);
}

/* The daemon's own busy time does not count against a handshake. */
/* CR 7.1 */
Test(server_tls, stall_shifts_handshake_timer, .init = setup, .fini = teardown,
     .timeout = 60)
{
	struct srv_tls_opts t;
	struct srv *s;
	int fd;

	default_tls(&t);
	t.handshake_timeout = 2;
	s = open_tls(&t);
	fd = tcp_connect(AF_INET, srv_tls_port(s, 0));
	pump_ms(s, 50);
	srv_stalled(s, 30);
	srv_tick(s, g_now + 31);
	cr_expect_eq(srv_clients(s), 1);
	srv_tick(s, g_now + 32);
	cr_expect_eq(srv_clients(s), 0);
	close(fd);
}

/* CR 7.1 */
Test(server_tls, idle_timeout, .init = setup, .fini = teardown, .timeout = 60)
{
	struct srv_tls_opts t;
	struct srv *s;
	struct job j;

	default_tls(&t);
	t.idle_timeout = 50;
	s = open_tls(&t);
	job_init(&j, srv_tls_port(s, 0));
	j.cmds[0] = "peer";
	j.hold = true;
	j.expect_close = true;
	job_start(&j);
	cr_assert(job_wait(s, &j, JOB_HOLDING, 10000), "%s", j.err);
	srv_tick(s, g_now + 49);
	cr_expect_eq(n_evs, 0);
	srv_tick(s, g_now + 50);
	cr_assert_eq(n_evs, 1);
	cr_expect_eq(evs[0].why, SRV_CLOSE_TIMEOUT);
	cr_expect_eq(evs[0].client, rclient(&j, 0));
	job_finish(s, &j);
	cr_expect(j.closed, "the client saw the close");
	job_free(&j);
}

/* CR 7.1 */
Test(server_tls, per_source_cap, .init = setup, .fini = teardown, .timeout = 60)
{
	struct srv_tls_opts t;
	struct srv *s;
	struct job j;
	int fd[5];

	default_tls(&t);
	t.listen[1] = "::1";
	t.max_per_source = 3;
	s = open_tls(&t);
	cr_assert_neq(srv_tls_port(s, 1), 0);
	for (int i = 0; i < 5; i++)
		fd[i] = tcp_connect(AF_INET, srv_tls_port(s, 0));
	pump_ms(s, 100);
	cr_expect_eq(stats(s).refused_source, 2);
	cr_expect_eq(stats(s).tls_clients, 3);
	cr_expect_eq(tcp_closed(fd[3]) + tcp_closed(fd[4]), 2,
		     "refused at once");
	cr_expect_eq(tcp_closed(fd[0]), 0);

	/* the same host is refused, another one (::1) is served */
	job_init(&j, srv_tls_port(s, 0));
	j.cmds[0] = "peer";
	run_client(s, &j);
	cr_expect_not(j.handshake);
	cr_expect_eq(stats(s).refused_source, 3);
	job_free(&j);
	job_init(&j, srv_tls_port(s, 1));
	j.family = AF_INET6;
	j.cmds[0] = "peer";
	run_client(s, &j);
	cr_assert_eq(j.nresp, 1, "%s", j.err);
	cr_expect_str_eq(rstr(&j, 0, "host"), "::1");
	cr_expect_eq(strncmp(rstr(&j, 0, "addr"), "[::1]:", 6), 0);
	job_free(&j);
	for (int i = 0; i < 5; i++)
		close(fd[i]);
}

/* CR 7.1 */
Test(server_tls, total_cap, .init = setup, .fini = teardown, .timeout = 60)
{
	struct srv_tls_opts t;
	struct srv *s;
	int fd[4];

	default_tls(&t);
	t.max_clients = 3;
	t.max_unauth = 10; /* above the cap: the cap decides */
	s = open_tls(&t);
	for (int i = 0; i < 4; i++)
		fd[i] = tcp_connect(AF_INET, srv_tls_port(s, 0));
	pump_ms(s, 100);
	cr_expect_eq(stats(s).tls_clients, 3);
	cr_expect_eq(stats(s).refused_cap, 1);
	cr_expect_eq(tcp_closed(fd[3]), 1);
	cr_expect_eq(stats(s).evicted, 0);
	for (int i = 0; i < 4; i++)
		close(fd[i]);
}

/* CR 7.1 */
Test(server_tls, evicts_oldest_unauthenticated, .init = setup, .fini = teardown,
     .timeout = 60)
{
	struct srv_tls_opts t;
	struct job j[4];
	struct srv *s;

	default_tls(&t);
	t.max_unauth = 2;
	s = open_tls(&t);
	for (int i = 0; i < 4; i++) {
		job_init(&j[i], srv_tls_port(s, 0));
		j[i].cmds[0] = i == 0 ? "auth" : "peer";
		j[i].cmds[1] = "peer";
		j[i].hold = true;
		j[i].expect_close = i == 1;
		job_start(&j[i]);
		cr_assert(job_wait(s, &j[i], JOB_HOLDING, 10000), "%d: %s", i,
			  j[i].err);
		cr_assert_eq(j[i].nresp, 2, "%d: %s", i, j[i].err);
	}
	/* 0 authenticated, 1 and 2 waiting for a login; 3 evicted 1 */
	cr_expect_eq(stats(s).evicted, 1);
	cr_expect_eq(stats(s).tls_clients, 3);
	cr_expect_eq(stats(s).tls_unauth, 2);
	cr_assert_eq(n_evs, 1);
	cr_expect_eq(evs[0].client, rclient(&j[1], 0));
	cr_expect_eq(evs[0].why, SRV_CLOSE_EVICTED);
	cr_expect_null(ev_for(rclient(&j[0], 0)), "authenticated survives");
	for (int i = 0; i < 4; i++)
		job_finish(s, &j[i]);
	cr_expect(j[1].closed, "the evicted client saw the close");
	for (int i = 0; i < 4; i++)
		job_free(&j[i]);
}

/* Pipelined requests behind a deferred one wait for its reply. */
Test(server_tls, deferred_reply_resumes, .init = setup, .fini = teardown,
     .timeout = 60)
{
	struct srv_tls_opts t;
	struct srv *s;
	struct job j;

	default_tls(&t);
	s = open_tls(&t);
	job_init(&j, srv_tls_port(s, 0));
	j.cmds[0] = "defer";
	j.cmds[1] = "peer";
	j.cmds[2] = "status";
	j.pipelined = true;
	job_start(&j);
	for (int i = 0; i < 200 && deferred_client == 0; i++)
		pump_once(s, 5);
	cr_assert_neq(deferred_client, 0, "%s", j.err);
	pump_ms(s, 100);
	cr_expect_eq(calls, 1, "nothing more read while deferred");
	cr_expect_eq(srv_reply(s, deferred_client + 100,
			       ctl_response_ok(1, NULL)),
		     -ENOENT);
	cr_expect_eq(
		srv_reply(s, deferred_client,
			  ctl_response_ok(1, json_pack("{s:b}", "late", 1))),
		0);
	cr_expect_eq(srv_reply(s, deferred_client, ctl_response_ok(1, NULL)),
		     -EINVAL, "no request pending any more");
	cr_assert(job_wait(s, &j, JOB_DONE, 10000));
	pthread_join(j.th, NULL);
	cr_assert_eq(j.nresp, 3, "%s", j.err);
	cr_expect_eq(json_integer_value(json_object_get(j.resp[0], "id")), 1);
	cr_expect(json_is_true(json_object_get(result(&j, 0), "late")));
	cr_expect_eq(json_integer_value(json_object_get(j.resp[1], "id")), 2);
	cr_expect_eq(json_integer_value(json_object_get(j.resp[2], "id")), 3);
	cr_expect_eq(calls, 3);
	job_free(&j);
}

/* A frame larger than a TLS record (16 KiB) arrives in pieces, once the
 * client authenticated: before, frames are limited to 64 KiB (CR 7.1). */
Test(server_tls, large_frame, .init = setup, .fini = teardown, .timeout = 60)
{
	struct srv_tls_opts t;
	struct srv *s;
	struct job j;
	char *big = malloc(200001);

	memset(big, 'x', 200000);
	big[200000] = '\0';
	default_tls(&t);
	s = open_tls(&t);
	job_init(&j, srv_tls_port(s, 0));
	j.cmds[0] = "auth";
	j.cmds[1] = "big";
	j.args[1] = json_pack("{s:s}", "data", big);
	j.cmds[2] = "peer";
	run_client(s, &j);
	cr_assert_eq(j.nresp, 3, "%s", j.err);
	cr_expect_eq(json_integer_value(json_object_get(result(&j, 1), "len")),
		     200000);
	job_free(&j);

	/* the same frame before the login: a protocol error and a close */
	job_init(&j, srv_tls_port(s, 0));
	j.cmds[0] = "big";
	j.args[0] = json_pack("{s:s}", "data", big);
	j.cmds[1] = "peer";
	run_client(s, &j);
	cr_expect_lt(j.nresp, 2, "an unauthenticated 200 KB frame was served");
	if (j.nresp == 1)
		cr_expect(json_is_false(json_object_get(j.resp[0], "ok")));
	free(big);
	job_free(&j);
}

/* CR 3.5 */
Test(server_tls, malformed_frame_closes, .init = setup, .fini = teardown,
     .timeout = 60)
{
	struct srv_tls_opts t;
	struct srv *s;

	default_tls(&t);
	s = open_tls(&t);
	/* raw bytes over a TLS session: openssl s_client */
	{
		char cmd[512];
		pid_t pid;
		int st;

		snprintf(
			cmd, sizeof(cmd),
			"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | openssl s_client "
			"-quiet -connect 127.0.0.1:%u -CAfile %s "
			">%s/out 2>/dev/null",
			srv_tls_port(s, 0), pem("ca.pem"), sockdir);
		pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
			_exit(127);
		}
		for (int i = 0; i < 2000 && waitpid(pid, &st, WNOHANG) == 0;
		     i++)
			pump_once(s, 5);
		cr_assert(WIFEXITED(st));
	}
	pump_ms(s, 20);
	cr_assert_eq(n_evs, 1);
	cr_expect_eq(evs[0].why, SRV_CLOSE_PROTOCOL);
	cr_expect_eq(calls, 0, "the bad frame never reached the request fn");
	{
		char path[128];
		struct stat st;

		snprintf(path, sizeof(path), "%s/out", sockdir);
		cr_expect_eq(stat(path, &st), 0);
		cr_expect_gt(st.st_size, CTL_HDR_LEN,
			     "an error frame came back");
		unlink(path);
	}
}

/* CR 2.6 */
Test(server_tls, kill_closes_with_reason, .init = setup, .fini = teardown,
     .timeout = 60)
{
	struct srv_tls_opts t;
	struct srv *s;
	struct job j, k;
	uint64_t id;

	default_tls(&t);
	s = open_tls(&t);
	job_init(&j, srv_tls_port(s, 0));
	j.cmds[0] = "peer";
	j.hold = true;
	j.expect_close = true;
	job_start(&j);
	cr_assert(job_wait(s, &j, JOB_HOLDING, 10000), "%s", j.err);
	id = rclient(&j, 0);
	cr_expect_eq(srv_kill(s, id), 0);
	cr_assert_eq(n_evs, 1, "the close fn runs within srv_kill");
	cr_expect_eq(evs[0].client, id);
	cr_expect_eq(evs[0].why, SRV_CLOSE_KILLED);
	cr_expect_eq(srv_kill(s, id), -ENOENT);
	job_finish(s, &j);
	cr_expect(j.closed);
	job_free(&j);

	/* from inside the request fn, the connection it serves */
	job_init(&k, srv_tls_port(s, 0));
	k.cmds[0] = "killme";
	k.expect_close = true;
	run_client(s, &k);
	cr_expect_eq(k.nresp, 0, "no response after the kill");
	cr_assert_eq(n_evs, 2);
	cr_expect_eq(evs[1].why, SRV_CLOSE_KILLED);
	job_free(&k);
}

Test(server_tls, close_after_response, .init = setup, .fini = teardown,
     .timeout = 60)
{
	struct srv_tls_opts t;
	struct srv *s;
	struct job j;

	default_tls(&t);
	s = open_tls(&t);
	job_init(&j, srv_tls_port(s, 0));
	j.cmds[0] = "logout";
	j.expect_close = true;
	run_client(s, &j);
	cr_assert_eq(j.nresp, 1, "the response comes first: %s", j.err);
	cr_expect(j.closed, "then the close");
	cr_assert_eq(n_evs, 1);
	cr_expect_eq(evs[0].client, rclient(&j, 0));
	cr_expect_eq(evs[0].why, SRV_CLOSE_REQUEST);
	job_free(&j);
}

Test(server_tls, shutdown_tells_close_fn, .init = setup, .fini = teardown,
     .timeout = 60)
{
	struct srv_tls_opts t;
	struct srv *s;
	struct job j;

	default_tls(&t);
	s = open_tls(&t);
	job_init(&j, srv_tls_port(s, 0));
	j.cmds[0] = "peer";
	j.hold = true;
	j.expect_close = true;
	job_start(&j);
	cr_assert(job_wait(s, &j, JOB_HOLDING, 10000), "%s", j.err);
	srv_close(s, true);
	g_srv = NULL;
	cr_assert_eq(n_evs, 1);
	cr_expect_eq(evs[0].why, SRV_CLOSE_SHUTDOWN);
	atomic_store(&j.release, true);
	pthread_join(j.th, NULL);
	cr_expect(j.closed);
	job_free(&j);
}

Test(server_tls, bad_files_named, .init = setup, .fini = teardown,
     .timeout = 60)
{
	struct srv_opts o = { .path = sockpath };
	struct srv_tls_opts t;

	g_srv = srv_open(&o, handler, NULL);
	cr_assert_not_null(g_srv);
	default_tls(&t);
	t.cert = pem("missing.pem");
	cr_expect_eq(srv_add_tls(g_srv, &t), -ENOENT);
	default_tls(&t);
	t.key = pem("alice.key"); /* not the certificate's key */
	cr_expect_eq(srv_add_tls(g_srv, &t), -EINVAL);
	default_tls(&t);
	t.listen[0] = "not-an-address";
	cr_expect_eq(srv_add_tls(g_srv, &t), -EINVAL);
	default_tls(&t);
	cr_expect_eq(srv_add_tls(g_srv, &t), 0);
	cr_expect_eq(srv_add_tls(g_srv, &t), -EALREADY);
}

/* A flood of half-open connections: caps hold, the log is not flooded,
 * and a legitimate client still gets in. */
/* CR 7.1 */
Test(server_tls, flood_of_half_open_connections, .init = setup,
     .fini = teardown, .timeout = 60)
{
	enum { FLOOD = 400 };
	struct srv_tls_opts t;
	struct srv_stats st;
	int *fd = calloc(FLOOD, sizeof(*fd));
	int64_t t0;
	struct srv *s;
	struct job j;

	default_tls(&t);
	t.max_unauth = 16;
	t.max_clients = 64;
	t.max_per_source = 10000; /* all from 127.0.0.1: eviction decides */
	s = open_tls(&t);
	log_start();
	for (int i = 0; i < FLOOD / 2; i++) {
		fd[i] = tcp_connect(AF_INET, srv_tls_port(s, 0));
		if (i % 20 == 19)
			pump_once(s, 0);
	}
	job_init(&j, srv_tls_port(s, 0));
	j.cmds[0] = "peer";
	t0 = ms_now();
	job_start(&j);
	/* from its ClientHello on, the legitimate client is no longer the
	 * cheapest to evict; the flood goes on while it logs in */
	while (!atomic_load(&j.hello) && ms_now() - t0 < 10000)
		pump_once(s, 1);
	cr_assert(atomic_load(&j.hello), "%s", j.err);
	for (int i = FLOOD / 2; i < FLOOD; i++) {
		fd[i] = tcp_connect(AF_INET, srv_tls_port(s, 0));
		if (i % 10 == 9)
			pump_once(s, 0);
		st = stats(s);
		cr_assert_leq(st.tls_unauth, 16);
		cr_assert_leq(st.tls_clients, 64);
	}
	job_finish(s, &j);
	cr_assert_eq(j.nresp, 1, "the legitimate client: %s", j.err);
	cr_expect_lt(ms_now() - t0, 10000, "served in bounded time");
	pump_ms(s, 200);
	srv_tick(s, g_now + 1); /* the summary of the rest of the second */
	cr_expect_leq(log_stop("TLS endpoint:"), 2,
		      "one summary line a second at most");
	st = stats(s);
	cr_expect_leq(st.tls_unauth, 16);
	cr_expect_geq(st.tls_accepted, FLOOD / 2);
	cr_expect_geq(st.evicted, st.tls_accepted - 1 - 16 - 1);
	cr_expect_eq(st.tls_handshakes, 1);
	for (int i = 0; i < n_evs; i++)
		cr_expect_neq(evs[i].why, SRV_CLOSE_EVICTED,
			      "silent ones never reach the close fn");
	for (int i = 0; i < FLOOD; i++)
		close(fd[i]);
	free(fd);
	job_free(&j);
}
