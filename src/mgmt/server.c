/*
 * The management endpoints: the control socket (Unix, peer credentials)
 * and the TLS listeners (OpenSSL). Fixed tables of clients, each with its
 * own incremental decoder and output buffer; everything is non-blocking
 * and driven by the daemon's poll loop. A client that sends a malformed
 * frame gets one error response and is closed (CR 3.5). TLS clients go
 * handshake -> open; the resource limits of server.h (CR 7.1) are
 * enforced at accept and in srv_tick, and what they refuse is counted in
 * srv_stats and logged as one summary line a second at most, so that a
 * flood cannot flood the log.
 */
#include "config.h"

#include "mgmt/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "mgmt/control.h"

json_t srv_deferred_marker;

#define SRV_READ_CHUNK 65536
#define SRV_ACCEPT_BURST 8
#define SRV_TLS_ACCEPT_BURST 256 /* a flood is drained, not queued */
#define SRV_TLS_BACKLOG 128
#define SRV_TLS_IDLE_DEFAULT 3600
#define SRV_ROUNDS 16 /* reads per client and wake-up: fairness */
/* TLS 1.2: forward secret AEAD only; TLS 1.3 suites are all AEAD. */
#define SRV_TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL"

struct srv_client {
	int fd; /* -1 = free slot */
	struct srv_peer peer;
	struct ctl_decoder dec;
	SSL *ssl;	 /* TLS only */
	bool hs;	 /* TLS handshake not done yet */
	short hs_events; /* what SSL_accept waits for */
	bool rx;       /* TLS: bytes received (eviction prefers silent ones) */
	bool ssl_dead; /* fatal TLS error: no close_notify */
	bool read_wants_write;
	bool write_wants_read;
	bool seen;	    /* reached the request fn: the close fn is owed */
	bool authenticated; /* srv_set_authenticated (unix: always) */
	bool deferred;	    /* a request awaits srv_reply */
	bool killed;	    /* srv_kill inside srv_dispatch: close at its end */
	bool closing;	    /* close once out is written */
	enum srv_close_reason why;
	char err[128];
	uint8_t *in; /* bytes read but not decoded: a deferred request came
			first */
	size_t in_len;
	uint8_t *out; /* encoded responses not yet written */
	size_t out_len;
	size_t out_off;
	time_t accepted;
	time_t last;	    /* last progress in either direction */
	time_t frame_start; /* 0 unless a frame is half read */
};

struct srv_listener {
	int fd;
	uint16_t port;
	char addr[64];
};

/* What is logged as one summary line a second at most. */
enum srv_rl_kind {
	SRV_RL_CAP,
	SRV_RL_SOURCE,
	SRV_RL_EVICTED,
	SRV_RL_HS_TIMEOUT,
	SRV_RL_HS_FAILED,
	SRV_RL_ACCEPT,
	SRV_RL_N,
};

struct srv_ratelog {
	bool logged;
	time_t last; /* the second of the last line */
	unsigned n[SRV_RL_N];
	char example[192]; /* the latest one, for the line */
};

struct srv {
	int lfd;
	char *path;
	char *made_dir; /* the socket's directory if we created it */
	gid_t gid;
	bool have_group;
	char group[64];
	unsigned max_clients;
	unsigned frame_timeout;
	unsigned idle_timeout;
	struct srv_client *c;
	size_t n_clients;
	struct srv_client **pollmap; /* pollfd index - first -> client */
	srv_request_fn fn;
	srv_close_fn close_fn;
	void *arg;
	uint64_t next_client;
	bool busy; /* in srv_dispatch or srv_close: srv_kill only marks */
	/* tls */
	SSL_CTX *ctx;
	BIO_METHOD *bio;
	struct srv_listener l[SRV_TLS_LISTEN_MAX];
	size_t n_listen;
	struct srv_client *t;
	unsigned tls_max;
	size_t n_tls;
	size_t n_unauth;
	unsigned max_unauth;
	unsigned max_per_source;
	unsigned hs_timeout;
	unsigned tls_idle;
	struct srv_stats st;
	struct srv_ratelog rl;
};

bool srv_peer_allowed(uid_t uid, gid_t group, bool have_group)
{
	gid_t stackv[64], *groups = stackv;
	struct passwd *pw;
	int ng = 64;
	bool ok = false;

	if (uid == 0)
		return true;
	if (!have_group)
		return false;
	pw = getpwuid(uid);
	if (pw == NULL)
		return false;
	if (pw->pw_gid == group)
		return true;
	if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &ng) < 0) {
		if (ng <= 0 || ng > 65536)
			return false;
		groups = calloc((size_t)ng, sizeof(*groups));
		if (groups == NULL)
			return false;
		if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &ng) < 0)
			ng = 0;
	}
	for (int i = 0; i < ng; i++)
		if (groups[i] == group)
			ok = true;
	if (groups != stackv)
		free(groups);
	return ok;
}

/* Connects to path to learn whether a daemon still listens there; 1 when
 * a stale socket is there, 0 when nothing is. */
static int srv_probe(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	strcpy(sa.sun_path, path);
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (rc == 0)
		return -EADDRINUSE;
	if (errno != ECONNREFUSED && errno != ENOENT)
		return -errno;
	return 1;
}

int srv_check_free(const char *path)
{
	int rc = srv_probe(path);

	return rc > 0 ? 0 : rc;
}

static int srv_probe_stale(const char *path)
{
	int rc = srv_probe(path);

	if (rc <= 0)
		return rc;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	log_info("control: removed stale socket %s", path);
	return 0;
}

/* Creates the socket's directory when missing; returns 1 when it did. */
static int srv_make_dir(const char *path, gid_t gid, char **made)
{
	char dir[PATH_MAX];
	char *slash;
	int fd;

	*made = NULL;
	if (strlen(path) >= sizeof(dir))
		return -ENAMETOOLONG;
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0750) < 0)
		return errno == EEXIST ? 0 : -errno;
	/* The group must reach the socket; nobody else needs to. */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, 0750) < 0 || fchown(fd, 0, gid) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	close(fd);
	*made = strdup(dir);
	return *made ? 1 : -ENOMEM;
}

struct srv *srv_open(const struct srv_opts *o, srv_request_fn fn, void *arg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct srv *s;
	struct group *gr;
	mode_t old;
	int rc;

	if (strlen(o->path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->lfd = -1;
	s->fn = fn;
	s->arg = arg;
	s->max_clients = o->max_clients ? o->max_clients :
					  SRV_MAX_CLIENTS_DEFAULT;
	s->frame_timeout = o->frame_timeout ? o->frame_timeout :
					      SRV_FRAME_TIMEOUT_DEFAULT;
	s->idle_timeout = o->idle_timeout ? o->idle_timeout :
					    SRV_IDLE_TIMEOUT_DEFAULT;
	s->path = strdup(o->path);
	s->c = calloc(s->max_clients, sizeof(*s->c));
	s->pollmap = calloc(s->max_clients, sizeof(*s->pollmap));
	if (s->path == NULL || s->c == NULL || s->pollmap == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < s->max_clients; i++)
		s->c[i].fd = -1;
	if (o->group != NULL) {
		errno = 0;
		gr = getgrnam(o->group);
		if (gr != NULL) {
			s->gid = gr->gr_gid;
			s->have_group = true;
			snprintf(s->group, sizeof(s->group), "%s", o->group);
		} else {
			log_warnx(
				"control: group \"%s\" does not exist: socket is root-only",
				o->group);
		}
	}

	rc = srv_make_dir(o->path, s->have_group ? s->gid : 0, &s->made_dir);
	if (rc < 0)
		goto fail;
	rc = srv_probe_stale(o->path);
	if (rc < 0)
		goto fail;
	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->lfd < 0) {
		rc = -errno;
		goto fail;
	}
	strcpy(sa.sun_path, o->path);
	/* The umask closes the window between bind and chmod. */
	old = umask(0177);
	rc = bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0) {
		rc = -errno;
		goto fail;
	}
	if (s->have_group) {
		if (chown(o->path, 0, s->gid) < 0 || chmod(o->path, 0660) < 0) {
			rc = -errno;
			unlink(o->path);
			goto fail;
		}
	}
	if (listen(s->lfd, 16) < 0) {
		rc = -errno;
		unlink(o->path);
		goto fail;
	}
	return s;
fail:
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->made_dir)
		rmdir(s->made_dir);
	free(s->made_dir);
	free(s->path);
	free(s->c);
	free(s->pollmap);
	free(s);
	errno = -rc;
	return NULL;
}

/* --- rate-limited summary log -------------------------------------------- */

static const char *const srv_rl_names[SRV_RL_N] = {
	[SRV_RL_CAP] = "refused (management-max-clients)",
	[SRV_RL_SOURCE] = "refused (management-max-per-source)",
	[SRV_RL_EVICTED] = "unauthenticated evicted (management-max-unauth)",
	[SRV_RL_HS_TIMEOUT] = "handshake timeouts",
	[SRV_RL_HS_FAILED] = "failed handshakes",
	[SRV_RL_ACCEPT] = "accept errors",
};

/* Writes the pending counts as one line, unless one went out this second. */
static void srv_rl_flush(struct srv *s, time_t now)
{
	struct srv_ratelog *rl = &s->rl;
	char line[512];
	size_t len = 0;

	if (rl->logged && rl->last == now)
		return;
	for (int k = 0; k < SRV_RL_N; k++) {
		int w;

		if (rl->n[k] == 0)
			continue;
		w = snprintf(line + len, sizeof(line) - len, "%s%u %s",
			     len ? ", " : "", rl->n[k], srv_rl_names[k]);
		if (w > 0 && (size_t)w < sizeof(line) - len)
			len += (size_t)w;
		rl->n[k] = 0;
	}
	if (len == 0)
		return;
	log_warnx("management: TLS endpoint: %s (latest: %s)", line,
		  rl->example);
	rl->logged = true;
	rl->last = now;
}

static void srv_rl_note(struct srv *s, time_t now, enum srv_rl_kind k,
			const char *who, const char *what)
{
	s->rl.n[k]++;
	snprintf(s->rl.example, sizeof(s->rl.example), "%s: %s", who, what);
	srv_rl_flush(s, now);
}

/* --- OpenSSL helpers ----------------------------------------------------- */

/* The reason of OpenSSL's oldest queued error, then clears the queue. */
static const char *srv_ssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();
	const char *r;

	if (e == 0)
		snprintf(buf, len, "no OpenSSL error queued");
	else if ((r = ERR_reason_error_string(e)) != NULL)
		snprintf(buf, len, "%s", r);
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

/* A socket BIO that never raises SIGPIPE and notes received bytes. */
static int srv_bio_write(BIO *b, const char *buf, int len)
{
	struct srv_client *c = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	do
		n = send(c->fd, buf, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		BIO_set_retry_write(b);
	return (int)n;
}

static int srv_bio_read(BIO *b, char *buf, int len)
{
	struct srv_client *c = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	do
		n = recv(c->fd, buf, (size_t)len, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		BIO_set_retry_read(b);
	if (n > 0)
		c->rx = true;
	return (int)n;
}

static long srv_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	return cmd == BIO_CTRL_FLUSH; /* every write goes to the socket */
}

static int srv_bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static BIO_METHOD *srv_bio_method(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
				     "conduitd management socket");

	if (m == NULL)
		return NULL;
	if (!BIO_meth_set_write(m, srv_bio_write) ||
	    !BIO_meth_set_read(m, srv_bio_read) ||
	    !BIO_meth_set_ctrl(m, srv_bio_ctrl) ||
	    !BIO_meth_set_create(m, srv_bio_create)) {
		BIO_meth_free(m);
		return NULL;
	}
	return m;
}

/* The subject CN of a verified certificate; "" when there is none, more
 * than one, or it does not fit (or holds control characters). */
static void srv_cert_cn(X509 *x, char *cn, size_t cap)
{
	X509_NAME *nm = X509_get_subject_name(x);
	unsigned char *u = NULL;
	ASN1_STRING *d;
	int i, len;

	cn[0] = '\0';
	if (nm == NULL)
		return;
	i = X509_NAME_get_index_by_NID(nm, NID_commonName, -1);
	if (i < 0 || X509_NAME_get_index_by_NID(nm, NID_commonName, i) >= 0)
		return;
	d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(nm, i));
	len = d ? ASN1_STRING_to_UTF8(&u, d) : -1;
	if (len > 0 && (size_t)len < cap) {
		bool ok = true;

		for (int k = 0; k < len; k++)
			if (u[k] < 0x20 || u[k] == 0x7f)
				ok = false;
		if (ok) {
			memcpy(cn, u, (size_t)len);
			cn[len] = '\0';
		}
	}
	OPENSSL_free(u);
}

/* --- clients ------------------------------------------------------------- */

static const char *srv_who(const struct srv_client *c)
{
	return c->peer.channel == SRV_CH_TLS ? "management" : "control";
}

static void srv_set_closing(struct srv_client *c, enum srv_close_reason why,
			    const char *err)
{
	size_t len;

	if (c->closing)
		return;
	c->closing = true;
	c->why = why;
	len = err ? strnlen(err, sizeof(c->err) - 1) : 0;
	memcpy(c->err, err ? err : "", len);
	c->err[len] = '\0';
}

static void srv_drop_output(struct srv_client *c)
{
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = 0;
}

/* Closes the connection; the close fn hears of it when it is owed. */
static void srv_end(struct srv *s, struct srv_client *c,
		    enum srv_close_reason why, const char *err)
{
	bool notify = c->seen;

	if (c->fd < 0)
		return;
	log_debug("%s: client %llu (%s) closed: %s", srv_who(c),
		  (unsigned long long)c->peer.client, c->peer.addr,
		  err && *err ? err : "-");
	if (c->ssl != NULL) {
		if (!c->hs && !c->ssl_dead) {
			ERR_clear_error();
			(void)SSL_shutdown(c->ssl); /* best effort */
		}
		SSL_free(c->ssl);
		ERR_clear_error();
		c->ssl = NULL;
	}
	close(c->fd);
	c->fd = -1;
	ctl_decoder_free(&c->dec);
	srv_drop_output(c);
	free(c->in);
	c->in = NULL;
	c->in_len = 0;
	c->closing = false;
	c->seen = false;
	if (c->peer.channel == SRV_CH_TLS) {
		s->n_tls--;
		if (!c->authenticated)
			s->n_unauth--;
	} else {
		s->n_clients--;
	}
	if (notify && s->close_fn)
		s->close_fn(&c->peer, why, err ? err : "", s->arg);
}

static struct srv_client *srv_find(struct srv *s, uint64_t client)
{
	for (unsigned i = 0; i < s->max_clients; i++)
		if (s->c[i].fd >= 0 && s->c[i].peer.client == client)
			return &s->c[i];
	for (unsigned i = 0; i < s->tls_max; i++)
		if (s->t[i].fd >= 0 && s->t[i].peer.client == client)
			return &s->t[i];
	return NULL;
}

void srv_close(struct srv *s, bool unlink_path)
{
	if (s == NULL)
		return;
	s->busy = true;
	for (unsigned i = 0; i < s->max_clients; i++)
		srv_end(s, &s->c[i], SRV_CLOSE_SHUTDOWN, "shutdown");
	for (unsigned i = 0; i < s->tls_max; i++)
		srv_end(s, &s->t[i], SRV_CLOSE_SHUTDOWN, "shutdown");
	for (size_t i = 0; i < s->n_listen; i++)
		close(s->l[i].fd);
	if (s->lfd >= 0)
		close(s->lfd);
	if (unlink_path && unlink(s->path) < 0 && errno != ENOENT)
		log_debug("control: cannot remove %s: %s", s->path,
			  strerror(errno));
	SSL_CTX_free(s->ctx);
	BIO_meth_free(s->bio);
	free(s->made_dir);
	free(s->path);
	free(s->c);
	free(s->t);
	free(s->pollmap);
	free(s);
}

const char *srv_made_dir(const struct srv *s)
{
	return s->made_dir;
}

size_t srv_clients(const struct srv *s)
{
	return s->n_clients + s->n_tls;
}

void srv_set_close_fn(struct srv *s, srv_close_fn fn)
{
	s->close_fn = fn;
}

uint16_t srv_tls_port(const struct srv *s, size_t i)
{
	return i < s->n_listen ? s->l[i].port : 0;
}

void srv_get_stats(const struct srv *s, struct srv_stats *st)
{
	*st = s->st;
	st->unix_clients = s->n_clients;
	st->tls_clients = s->n_tls;
	st->tls_unauth = s->n_unauth;
	st->tls_handshaking = 0;
	for (unsigned i = 0; i < s->tls_max; i++)
		if (s->t[i].fd >= 0 && s->t[i].hs)
			st->tls_handshaking++;
}

void srv_set_authenticated(struct srv *s, uint64_t client)
{
	struct srv_client *c = srv_find(s, client);

	if (c == NULL || c->authenticated)
		return;
	c->authenticated = true;
	if (c->peer.channel == SRV_CH_TLS) {
		s->n_unauth--;
		c->dec.max_payload = CTL_MAX_PAYLOAD;
	}
}

int srv_kill(struct srv *s, uint64_t client)
{
	struct srv_client *c = srv_find(s, client);

	if (c == NULL || c->killed)
		return -ENOENT;
	if (s->busy) {
		/* maybe the very client whose request is running: the end
		 * of srv_dispatch closes it */
		c->killed = true;
		srv_drop_output(c);
		return 0;
	}
	srv_end(s, c, SRV_CLOSE_KILLED, "killed");
	return 0;
}

size_t srv_pollfd_max(const struct srv *s)
{
	return 1 + s->n_listen + s->max_clients + s->tls_max;
}

static short srv_events(const struct srv_client *c)
{
	if (c->hs)
		return c->hs_events;
	if (c->out_len > c->out_off)
		return c->write_wants_read ? POLLIN : POLLOUT;
	if (c->killed || c->closing)
		return POLLOUT; /* to be finished at once */
	if (c->deferred)
		return 0;
	/* Input already read (stashed or decrypted inside OpenSSL): the
	 * socket may never become readable for it, so wake at once. */
	if (c->in != NULL || (c->ssl != NULL && SSL_has_pending(c->ssl)))
		return POLLOUT;
	return c->read_wants_write ? POLLOUT : POLLIN;
}

size_t srv_pollfds(struct srv *s, struct pollfd *pfd, size_t n)
{
	size_t k = 0, first = 1 + s->n_listen;

	if (n < first)
		return 0;
	pfd[k].fd = s->lfd;
	pfd[k].events = POLLIN;
	pfd[k].revents = 0;
	k++;
	for (size_t i = 0; i < s->n_listen; i++, k++) {
		pfd[k].fd = s->l[i].fd;
		pfd[k].events = POLLIN;
		pfd[k].revents = 0;
	}
	for (unsigned i = 0; i < s->max_clients + s->tls_max && k < n; i++) {
		struct srv_client *c = i < s->max_clients ?
					       &s->c[i] :
					       &s->t[i - s->max_clients];

		if (c->fd < 0)
			continue;
		pfd[k].fd = c->fd;
		/* One request at a time per client: read again only after
		 * the previous response is out (back-pressure). */
		pfd[k].events = srv_events(c);
		pfd[k].revents = 0;
		s->pollmap[k - first] = c;
		k++;
	}
	return k;
}

/* Appends one encoded response to the client's output. */
static void srv_queue(struct srv_client *c, json_t *resp)
{
	uint8_t *frame = NULL, *n;
	size_t len = 0;
	int rc;

	if (resp == NULL) {
		srv_set_closing(c, SRV_CLOSE_PROTOCOL,
				"no response (out of memory)");
		return;
	}
	rc = ctl_encode(CTL_TYPE_RESPONSE, resp, &frame, &len);
	if (rc == -EMSGSIZE) {
		json_t *id = json_object_get(resp, "id");
		json_t *e = ctl_response_error(
			json_is_integer(id) ? (uint64_t)json_integer_value(id) :
					      0,
			CTL_ERR_INTERNAL,
			"response exceeds the frame size limit", NULL);

		rc = e ? ctl_encode(CTL_TYPE_RESPONSE, e, &frame, &len) :
			 -ENOMEM;
		json_decref(e);
	}
	json_decref(resp);
	if (rc < 0) {
		srv_set_closing(c, SRV_CLOSE_PROTOCOL,
				"cannot encode the response");
		return;
	}
	if (c->out_off == c->out_len) {
		free(c->out);
		c->out = frame;
		c->out_len = len;
		c->out_off = 0;
		return;
	}
	n = realloc(c->out, c->out_len + len);
	if (n == NULL) {
		free(frame);
		srv_set_closing(c, SRV_CLOSE_PROTOCOL, "out of memory");
		return;
	}
	memcpy(n + c->out_len, frame, len);
	free(frame);
	c->out = n;
	c->out_len += len;
}

static void srv_queue_error(struct srv_client *c, enum srv_close_reason why,
			    const char *code, const char *msg)
{
	srv_queue(c, ctl_response_error(0, code, msg, NULL));
	srv_set_closing(c, why, msg);
}

/* A fatal TLS error on c: no close_notify, nothing more to deliver. */
static void srv_tls_broken(struct srv_client *c, enum srv_close_reason why,
			   const char *err)
{
	c->ssl_dead = true;
	srv_drop_output(c);
	srv_set_closing(c, why, err);
}

/* Writes what the socket takes now: 0, or -1 when the connection broke
 * (closing set). A refused unix client gets this too. */
static int srv_flush(struct srv_client *c)
{
	char why[128];

	while (c->out_off < c->out_len) {
		size_t len = c->out_len - c->out_off, w = 0;
		int e;

		if (c->ssl == NULL) {
			ssize_t r = send(c->fd, c->out + c->out_off, len,
					 MSG_NOSIGNAL | MSG_DONTWAIT);

			if (r < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK ||
				    errno == EINTR)
					return 0;
				srv_drop_output(c);
				srv_set_closing(c, SRV_CLOSE_PEER,
						strerror(errno));
				return -1;
			}
			c->out_off += (size_t)r;
			continue;
		}
		ERR_clear_error();
		errno = 0;
		c->write_wants_read = false;
		/* Partial writes and a moving buffer are enabled: a retry
		 * after WANT_WRITE may come with more bytes appended. */
		if (SSL_write_ex(c->ssl, c->out + c->out_off, len, &w) == 1) {
			c->out_off += w;
			continue;
		}
		e = SSL_get_error(c->ssl, 0);
		if (e == SSL_ERROR_WANT_WRITE)
			return 0;
		if (e == SSL_ERROR_WANT_READ) {
			c->write_wants_read = true;
			return 0;
		}
		if (e == SSL_ERROR_SYSCALL)
			srv_tls_broken(c, SRV_CLOSE_PEER,
				       errno ? strerror(errno) :
					       "connection closed");
		else
			srv_tls_broken(c, SRV_CLOSE_PROTOCOL,
				       srv_ssl_reason(why, sizeof(why)));
		return -1;
	}
	srv_drop_output(c);
	return 0;
}

/* Bytes from the client: > 0, 0 when none now, -1 when the connection
 * ended (closing set). */
static ssize_t srv_recv(struct srv_client *c, uint8_t *buf, size_t len)
{
	char why[128];
	size_t got = 0;
	int e;

	if (c->ssl == NULL) {
		ssize_t n = recv(c->fd, buf, len, MSG_DONTWAIT);

		if (n > 0)
			return n;
		if (n == 0) {
			srv_set_closing(c, SRV_CLOSE_PEER,
					"closed by the peer");
			return -1;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		/* Reset or similar: nothing more can be delivered. */
		srv_drop_output(c);
		srv_set_closing(c, SRV_CLOSE_PEER, strerror(errno));
		return -1;
	}
	ERR_clear_error();
	errno = 0;
	c->read_wants_write = false;
	if (SSL_read_ex(c->ssl, buf, len, &got) == 1)
		return (ssize_t)got;
	e = SSL_get_error(c->ssl, 0);
	switch (e) {
	case SSL_ERROR_WANT_READ:
		return 0;
	case SSL_ERROR_WANT_WRITE:
		c->read_wants_write = true;
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		srv_set_closing(c, SRV_CLOSE_PEER, "closed by the peer");
		return -1;
	case SSL_ERROR_SYSCALL:
		srv_tls_broken(c, SRV_CLOSE_PEER,
			       errno ? strerror(errno) : "closed by the peer");
		return -1;
	default:
		if (ERR_GET_REASON(ERR_peek_error()) ==
		    SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			ERR_clear_error();
			srv_tls_broken(
				c, SRV_CLOSE_PEER,
				"closed by the peer without close_notify");
		} else {
			srv_tls_broken(c, SRV_CLOSE_PROTOCOL,
				       srv_ssl_reason(why, sizeof(why)));
		}
		return -1;
	}
}

static void srv_refuse(int fd, const char *code, const char *msg)
{
	struct srv_client tmp = { .fd = fd };

	srv_queue_error(&tmp, SRV_CLOSE_PROTOCOL, code, msg);
	(void)srv_flush(&tmp);
	free(tmp.out);
	close(fd);
}

static void srv_accept(struct srv *s, time_t now)
{
	for (int burst = 0; burst < SRV_ACCEPT_BURST; burst++) {
		struct ucred cred;
		socklen_t cl = sizeof(cred);
		struct srv_client *c = NULL;
		char msg[160];
		int fd;

		fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				log_warn("control: accept");
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0) {
			log_warn("control: SO_PEERCRED");
			close(fd);
			continue;
		}
		if (!srv_peer_allowed(cred.uid, s->gid, s->have_group)) {
			log_warnx(
				"control: refused uid %u (pid %ld): not root and not in group %s",
				(unsigned)cred.uid, (long)cred.pid,
				s->have_group ? s->group : "(none)");
			snprintf(msg, sizeof(msg),
				 "uid %u is not allowed: root or group %s only",
				 (unsigned)cred.uid,
				 s->have_group ? s->group : "(none)");
			srv_refuse(fd, CTL_ERR_PERMISSION, msg);
			continue;
		}
		for (unsigned i = 0; i < s->max_clients; i++)
			if (s->c[i].fd < 0) {
				c = &s->c[i];
				break;
			}
		if (c == NULL) {
			log_warnx(
				"control: refused uid %u (pid %ld): %u clients connected",
				(unsigned)cred.uid, (long)cred.pid,
				s->max_clients);
			s->st.refused_cap++;
			srv_refuse(fd, CTL_ERR_BUSY,
				   "too many control clients");
			continue;
		}
		memset(c, 0, sizeof(*c));
		c->fd = fd;
		c->peer.client = ++s->next_client;
		c->peer.channel = SRV_CH_UNIX;
		c->peer.pid = cred.pid;
		c->peer.uid = cred.uid;
		c->peer.gid = cred.gid;
		snprintf(c->peer.addr, sizeof(c->peer.addr), "uid %u pid %ld",
			 (unsigned)cred.uid, (long)cred.pid);
		c->seen = true;
		c->authenticated = true;
		c->accepted = c->last = now;
		ctl_decoder_init(&c->dec, CTL_MAX_PAYLOAD);
		s->n_clients++;
		log_debug("control: client %llu fd %d uid %u pid %ld",
			  (unsigned long long)c->peer.client, fd,
			  (unsigned)cred.uid, (long)cred.pid);
	}
}

/* --- TLS connections ----------------------------------------------------- */

static void srv_sockaddr_str(const struct sockaddr_storage *ss, char *host,
			     size_t hlen, char *addr, size_t alen,
			     uint16_t *port)
{
	unsigned p = 0;

	host[0] = '\0';
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)ss;

		inet_ntop(AF_INET6, &a->sin6_addr, host, (socklen_t)hlen);
		p = ntohs(a->sin6_port);
		snprintf(addr, alen, "[%s]:%u", host, p);
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;

		inet_ntop(AF_INET, &a->sin_addr, host, (socklen_t)hlen);
		p = ntohs(a->sin_port);
		snprintf(addr, alen, "%s:%u", host, p);
	} else {
		snprintf(host, hlen, "?");
		snprintf(addr, alen, "?");
	}
	if (port)
		*port = (uint16_t)p;
}

static unsigned srv_count_source(const struct srv *s, const char *host)
{
	unsigned n = 0;

	for (unsigned i = 0; i < s->tls_max; i++)
		if (s->t[i].fd >= 0 && strcmp(s->t[i].peer.host, host) == 0)
			n++;
	return n;
}

/* How much an unauthenticated connection has invested: the cheapest go
 * first (silent TCP, then a handshake under way, then one waiting for
 * its login, and a login being checked last), so that a flood of
 * half-open connections cannot push out an administrator halfway in. */
static int srv_evict_class(const struct srv_client *c)
{
	if (c->hs)
		return c->rx ? 1 : 0;
	return c->deferred ? 3 : 2;
}

static struct srv_client *srv_evict_pick(struct srv *s)
{
	struct srv_client *v = NULL;

	for (unsigned i = 0; i < s->tls_max; i++) {
		struct srv_client *c = &s->t[i];

		if (c->fd < 0 || c->authenticated || c->killed)
			continue;
		if (v == NULL || srv_evict_class(c) < srv_evict_class(v) ||
		    (srv_evict_class(c) == srv_evict_class(v) &&
		     c->peer.client < v->peer.client))
			v = c;
	}
	return v;
}

/* Evicts the oldest unauthenticated TLS connection of the lowest class. */
static void srv_evict(struct srv *s, time_t now)
{
	struct srv_client *v;
	uint8_t b;

	/* A "silent" one whose ClientHello is already queued (accepted in
	 * this burst, not read yet) is not silent: look before evicting. */
	while ((v = srv_evict_pick(s)) != NULL && v->hs && !v->rx &&
	       recv(v->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0)
		v->rx = true;
	if (v == NULL)
		return;
	s->st.evicted++;
	srv_rl_note(s, now, SRV_RL_EVICTED, v->peer.addr,
		    v->hs ? "evicted during the handshake" :
			    "evicted before its login");
	srv_end(s, v, SRV_CLOSE_EVICTED,
		"evicted by a newer unauthenticated connection");
}

static void srv_tls_accept(struct srv *s, struct srv_listener *l, time_t now)
{
	for (int burst = 0; burst < SRV_TLS_ACCEPT_BURST; burst++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct srv_client *c = NULL;
		char host[48], addr[64];
		BIO *bio;
		int fd;

		fd = accept4(l->fd, (struct sockaddr *)&ss, &sl,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				srv_rl_note(s, now, SRV_RL_ACCEPT, l->addr,
					    strerror(errno));
			return;
		}
		s->st.tls_accepted++;
		srv_sockaddr_str(&ss, host, sizeof(host), addr, sizeof(addr),
				 NULL);
		if (srv_count_source(s, host) >= s->max_per_source) {
			s->st.refused_source++;
			srv_rl_note(s, now, SRV_RL_SOURCE, addr,
				    "too many connections from this address");
			close(fd);
			continue;
		}
		if (s->n_unauth >= s->max_unauth)
			srv_evict(s, now);
		for (unsigned i = 0; i < s->tls_max && s->n_tls < s->tls_max;
		     i++)
			if (s->t[i].fd < 0) {
				c = &s->t[i];
				break;
			}
		if (c == NULL) {
			s->st.refused_cap++;
			srv_rl_note(s, now, SRV_RL_CAP, addr,
				    "too many management connections");
			close(fd);
			continue;
		}
		memset(c, 0, sizeof(*c));
		c->fd = fd;
		ERR_clear_error();
		c->ssl = SSL_new(s->ctx);
		bio = c->ssl ? BIO_new(s->bio) : NULL;
		if (bio == NULL) {
			log_warnx("management: %s: SSL_new: out of memory",
				  addr);
			SSL_free(c->ssl);
			c->ssl = NULL;
			ERR_clear_error();
			close(fd);
			c->fd = -1;
			continue;
		}
		BIO_set_data(bio, c);
		SSL_set_bio(c->ssl, bio, bio);
		c->peer.client = ++s->next_client;
		c->peer.channel = SRV_CH_TLS;
		snprintf(c->peer.host, sizeof(c->peer.host), "%s", host);
		snprintf(c->peer.addr, sizeof(c->peer.addr), "%s", addr);
		c->hs = true;
		c->hs_events = POLLIN;
		c->accepted = c->last = now;
		/* small frames until the login: an unauthenticated peer must not
		 * make the daemon buffer 40 MiB (CR 7.1) */
		ctl_decoder_init(&c->dec, SRV_UNAUTH_MAX_PAYLOAD);
		s->n_tls++;
		s->n_unauth++;
		log_debug("management: client %llu from %s on %s",
			  (unsigned long long)c->peer.client, addr, l->addr);
	}
}

/* Handshake failed: counted and logged in the summary; the close fn hears
 * of certificate failures only (the mgmt layer audits them). */
static void srv_tls_hs_fail(struct srv *s, struct srv_client *c, time_t now,
			    const char *why, bool cert)
{
	s->st.tls_handshake_failed++;
	srv_rl_note(s, now, SRV_RL_HS_FAILED, c->peer.addr, why);
	c->ssl_dead = true;
	if (cert && s->close_fn) {
		c->peer.cert = false;
		s->close_fn(&c->peer, SRV_CLOSE_PROTOCOL, why, s->arg);
	}
	if (cert) {
		/* TLS 1.3: the client's first request may already be here
		 * behind its Finished; closing with unread bytes would send a
		 * reset that can overtake the alert, and the client would
		 * see "connection reset" instead of the reason */
		char junk[4096];

		for (int i = 0; i < 16 && recv(c->fd, junk, sizeof(junk),
					       MSG_DONTWAIT) > 0;
		     i++)
			;
		(void)shutdown(c->fd, SHUT_WR);
	}
	srv_end(s, c, SRV_CLOSE_PROTOCOL, why);
}

static void srv_tls_handshake(struct srv *s, struct srv_client *c, time_t now)
{
	char why[128];
	long vr;
	X509 *x;
	int r, e;

	ERR_clear_error();
	errno = 0;
	r = SSL_accept(c->ssl);
	if (r == 1) {
		c->hs = false;
		c->seen = true;
		c->last = now;
		s->st.tls_handshakes++;
		snprintf(c->peer.tls_version, sizeof(c->peer.tls_version), "%s",
			 SSL_get_version(c->ssl));
		x = SSL_get0_peer_certificate(c->ssl);
		if (x != NULL && SSL_get_verify_result(c->ssl) == X509_V_OK) {
			c->peer.cert = true;
			srv_cert_cn(x, c->peer.cert_cn,
				    sizeof(c->peer.cert_cn));
		}
		log_debug("management: client %llu %s: %s %s%s%s",
			  (unsigned long long)c->peer.client, c->peer.addr,
			  c->peer.tls_version, SSL_get_cipher_name(c->ssl),
			  c->peer.cert ? ", certificate CN=" : "",
			  c->peer.cert_cn);
		return;
	}
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ) {
		c->hs_events = POLLIN;
		return;
	}
	if (e == SSL_ERROR_WANT_WRITE) {
		c->hs_events = POLLOUT;
		return;
	}
	vr = SSL_get_verify_result(c->ssl);
	if (vr != X509_V_OK) {
		ERR_clear_error();
		srv_tls_hs_fail(s, c, now, X509_verify_cert_error_string(vr),
				true);
		return;
	}
	if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
		snprintf(why, sizeof(why), "%s",
			 errno ? strerror(errno) :
				 "closed by the peer in the handshake");
	else
		srv_ssl_reason(why, sizeof(why));
	ERR_clear_error();
	srv_tls_hs_fail(s, c, now, why, false);
}

/* --- requests ------------------------------------------------------------ */

static void srv_frame_run(struct srv *s, struct srv_client *c,
			  struct ctl_frame *f)
{
	json_t *resp;

	if (f->type != CTL_TYPE_REQUEST) {
		log_warnx("%s: %s sent a non-request frame", srv_who(c),
			  c->peer.addr);
		srv_queue_error(c, SRV_CLOSE_PROTOCOL, CTL_ERR_PROTOCOL,
				"expected a request frame");
		return;
	}
	resp = s->fn(f->msg, &c->peer, s->arg);
	if (c->killed) {
		if (resp != SRV_DEFERRED)
			json_decref(resp);
		return;
	}
	if (resp == SRV_DEFERRED) {
		c->deferred = true;
		return;
	}
	srv_queue(c, resp);
	if (c->peer.close_after)
		srv_set_closing(c, SRV_CLOSE_REQUEST, "closed on request");
}

static time_t srv_elapsed_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return t1.tv_sec - t0->tv_sec;
}

/* A command may run for a long time (a large apply): *now moves on by the
 * time it took, so the response's write timeout starts when it is queued. */
static void srv_frame(struct srv *s, struct srv_client *c, struct ctl_frame *f,
		      time_t *now)
{
	struct timespec t0;
	time_t took;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	srv_frame_run(s, c, f);
	took = srv_elapsed_since(&t0);
	*now += took;
	srv_stalled(s, took);
	c->last = *now;
}

void srv_stalled(struct srv *s, time_t seconds)
{
	if (seconds <= 0)
		return;
	for (unsigned i = 0; i < s->max_clients + s->tls_max; i++) {
		struct srv_client *c = i < s->max_clients ?
					       &s->c[i] :
					       &s->t[i - s->max_clients];

		if (c->fd < 0)
			continue;
		c->last += seconds;
		c->accepted += seconds;
		if (c->frame_start)
			c->frame_start += seconds;
	}
}

/* Decodes p[0..n): every whole frame is served, until a request is
 * deferred; what follows it waits in c->in. */
static void srv_input(struct srv *s, struct srv_client *c, const uint8_t *p,
		      size_t n, time_t *now)
{
	size_t off = 0, used;
	struct ctl_frame f;

	while (off < n && !c->closing && !c->deferred && !c->killed) {
		enum ctl_result r =
			ctl_decode(&c->dec, p + off, n - off, &used, &f);

		off += used;
		if (r == CTL_FRAME) {
			srv_frame(s, c, &f, now);
			json_decref(f.msg);
			c->frame_start = 0;
		} else if (r == CTL_ERROR) {
			log_warnx("%s: %s: %s; closing", srv_who(c),
				  c->peer.addr, ctl_decoder_reason(&c->dec));
			srv_queue_error(c, SRV_CLOSE_PROTOCOL, CTL_ERR_PROTOCOL,
					ctl_decoder_reason(&c->dec));
		}
	}
	if (off < n && c->deferred && !c->closing && !c->killed) {
		c->in = malloc(n - off);
		if (c->in == NULL) {
			srv_set_closing(c, SRV_CLOSE_PROTOCOL, "out of memory");
		} else {
			memcpy(c->in, p + off, n - off);
			c->in_len = n - off;
		}
	}
	if (ctl_decoder_partial(&c->dec)) {
		if (c->frame_start == 0)
			c->frame_start = *now;
	} else {
		c->frame_start = 0;
	}
}

/* Everything c can do now: handshake, write, serve what was read, read. */
static void srv_run(struct srv *s, struct srv_client *c, time_t *now)
{
	static uint8_t buf[SRV_READ_CHUNK];

	if (c->hs) {
		srv_tls_handshake(s, c, *now);
		if (c->fd < 0 || c->hs)
			return;
	}
	for (int round = 0; round < SRV_ROUNDS && !c->killed; round++) {
		ssize_t n;

		if (c->out_len > c->out_off) {
			size_t before = c->out_off;

			if (srv_flush(c) < 0)
				break;
			if (c->out_off != before || c->out == NULL)
				c->last = *now;
			if (c->out != NULL)
				break; /* the socket is full */
		}
		if (c->closing || c->deferred)
			break;
		if (c->in != NULL) {
			uint8_t *p = c->in;
			size_t len = c->in_len;

			c->in = NULL;
			c->in_len = 0;
			srv_input(s, c, p, len, now);
			free(p);
			continue;
		}
		n = srv_recv(c, buf, sizeof(buf));
		if (n <= 0)
			break;
		c->last = *now;
		srv_input(s, c, buf, (size_t)n, now);
	}
	if (c->killed)
		srv_end(s, c, SRV_CLOSE_KILLED, "killed");
	else if (c->closing && c->out == NULL)
		srv_end(s, c, c->why, c->err);
}

int srv_reply(struct srv *s, uint64_t client, json_t *resp)
{
	struct srv_client *c = srv_find(s, client);

	if (c == NULL || c->killed) {
		if (resp != SRV_DEFERRED)
			json_decref(resp);
		return -ENOENT;
	}
	if (!c->deferred || resp == SRV_DEFERRED) {
		if (resp != SRV_DEFERRED)
			json_decref(resp);
		return -EINVAL;
	}
	/* Queued only: the next srv_pollfds asks for POLLOUT and
	 * srv_dispatch writes it and goes on with what was read. */
	c->deferred = false;
	srv_queue(c, resp);
	if (c->peer.close_after)
		srv_set_closing(c, SRV_CLOSE_REQUEST, "closed on request");
	return 0;
}

void srv_dispatch(struct srv *s, const struct pollfd *pfd, size_t n, time_t now)
{
	size_t first = 1 + s->n_listen;

	if (n < first)
		return;
	s->busy = true;
	for (size_t k = first; k < n; k++) {
		struct srv_client *c = s->pollmap[k - first];
		short re = pfd[k].revents;

		if (c->fd < 0 || c->fd != pfd[k].fd || re == 0)
			continue;
		if (((re & (POLLERR | POLLNVAL)) && !(re & POLLIN)) ||
		    ((re & POLLHUP) && !(re & (POLLIN | POLLOUT)))) {
			if (c->hs)
				srv_tls_hs_fail(s, c, now,
						"connection reset in the "
						"handshake",
						false);
			else
				srv_end(s, c, SRV_CLOSE_PEER,
					"connection reset");
			continue;
		}
		srv_run(s, c, &now);
	}
	/* srv_kill from a request fn or a close fn */
	for (unsigned i = 0; i < s->max_clients + s->tls_max; i++) {
		struct srv_client *c = i < s->max_clients ?
					       &s->c[i] :
					       &s->t[i - s->max_clients];

		if (c->fd >= 0 && c->killed)
			srv_end(s, c, SRV_CLOSE_KILLED, "killed");
	}
	if (pfd[0].revents & POLLIN)
		srv_accept(s, now);
	for (size_t i = 0; i < s->n_listen; i++)
		if (pfd[1 + i].fd == s->l[i].fd &&
		    (pfd[1 + i].revents & POLLIN))
			srv_tls_accept(s, &s->l[i], now);
	s->busy = false;
}

/* The frame, write and idle timeouts of one open client. */
static void srv_tick_client(struct srv *s, struct srv_client *c, time_t now,
			    unsigned idle)
{
	if (c->frame_start &&
	    now - c->frame_start >= (time_t)s->frame_timeout) {
		log_warnx("%s: %s: frame not completed in %u s; closing",
			  srv_who(c), c->peer.addr, s->frame_timeout);
		srv_queue_error(c, SRV_CLOSE_TIMEOUT, CTL_ERR_TIMEOUT,
				"frame not completed in time");
		(void)srv_flush(c);
		srv_end(s, c, SRV_CLOSE_TIMEOUT, "frame not completed in time");
	} else if (c->out_len > c->out_off &&
		   now - c->last >= (time_t)s->frame_timeout) {
		log_warnx("%s: %s: not reading its response; closing",
			  srv_who(c), c->peer.addr);
		srv_end(s, c, SRV_CLOSE_TIMEOUT, "not reading its response");
	} else if (!c->deferred && now - c->last >= (time_t)idle) {
		log_debug("%s: %s idle; closing", srv_who(c), c->peer.addr);
		srv_end(s, c, SRV_CLOSE_TIMEOUT, "idle");
	}
}

void srv_tick(struct srv *s, time_t now)
{
	for (unsigned i = 0; i < s->max_clients; i++)
		if (s->c[i].fd >= 0)
			srv_tick_client(s, &s->c[i], now, s->idle_timeout);
	for (unsigned i = 0; i < s->tls_max; i++) {
		struct srv_client *c = &s->t[i];

		if (c->fd < 0)
			continue;
		if (!c->hs) {
			srv_tick_client(s, c, now, s->tls_idle);
		} else if (now - c->accepted >= (time_t)s->hs_timeout) {
			s->st.tls_handshake_timeout++;
			srv_rl_note(s, now, SRV_RL_HS_TIMEOUT, c->peer.addr,
				    c->rx ? "handshake not completed in time" :
					    "no TLS handshake (silent)");
			srv_end(s, c, SRV_CLOSE_TIMEOUT, "handshake timeout");
		}
	}
	srv_rl_flush(s, now);
}

/* --- srv_add_tls --------------------------------------------------------- */

static int srv_tls_file(const char *what, const char *path)
{
	if (path == NULL || *path == '\0') {
		log_warnx("management: no %s configured", what);
		return -EINVAL;
	}
	if (access(path, R_OK) < 0) {
		int e = errno;

		log_warnx("management: %s %s: %s", what, path, strerror(e));
		return -e;
	}
	return 0;
}

static SSL_CTX *srv_tls_ctx(const struct srv_tls_opts *o, int *rc)
{
	char why[160];
	SSL_CTX *ctx;

	*rc = srv_tls_file("management-tls-cert", o->cert);
	if (*rc == 0)
		*rc = srv_tls_file("management-tls-key", o->key);
	if (*rc == 0 && o->client_ca)
		*rc = srv_tls_file("management-tls-client-ca", o->client_ca);
	if (*rc < 0)
		return NULL;
	*rc = -EINVAL;
	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		log_warnx("management: SSL_CTX_new: %s",
			  srv_ssl_reason(why, sizeof(why)));
		*rc = -ENOMEM;
		return NULL;
	}
	/* 112-bit security at least: RSA/DH >= 2048, no SHA-1 signatures
	 * (a weak client key fails the handshake: CR 1.9). */
	SSL_CTX_set_security_level(ctx, 2);
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx, SRV_TLS12_CIPHERS)) {
		log_warnx("management: TLS settings: %s",
			  srv_ssl_reason(why, sizeof(why)));
		goto fail;
	}
	/* Each connection authenticates afresh: no tickets, no cache. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
					 SSL_OP_NO_RENEGOTIATION |
					 SSL_OP_NO_TICKET |
					 SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
				      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				      SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1) {
		log_warnx("management: management-tls-cert %s: %s", o->cert,
			  srv_ssl_reason(why, sizeof(why)));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1) {
		log_warnx("management: management-tls-key %s: %s", o->key,
			  srv_ssl_reason(why, sizeof(why)));
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		log_warnx(
			"management: management-tls-key %s does not match the certificate %s",
			o->key, o->cert);
		goto fail;
	}
	if (X509_cmp_current_time(
		    X509_get0_notAfter(SSL_CTX_get0_certificate(ctx))) < 0)
		log_warnx(
			"management: management-tls-cert %s has expired: clients will refuse it",
			o->cert);
	if (o->client_ca != NULL) {
		STACK_OF(X509_NAME) * names;

		if (SSL_CTX_load_verify_locations(ctx, o->client_ca, NULL) !=
		    1) {
			log_warnx("management: management-tls-client-ca %s: %s",
				  o->client_ca,
				  srv_ssl_reason(why, sizeof(why)));
			goto fail;
		}
		names = SSL_load_client_CA_file(o->client_ca);
		if (names == NULL) {
			ERR_clear_error();
			log_warnx(
				"management: management-tls-client-ca %s: no CA certificate in it",
				o->client_ca);
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		/* optional; a presented one must verify */
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	*rc = 0;
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static int srv_tls_listen(struct srv_listener *l, const char *addr,
			  uint16_t port)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV |
					      AI_PASSIVE,
				  .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM };
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct addrinfo *ai = NULL;
	char ps[8], host[48];
	int one = 1, rc;

	snprintf(ps, sizeof(ps), "%u", (unsigned)port);
	rc = getaddrinfo(addr, ps, &hints, &ai);
	if (rc != 0 || ai == NULL) {
		log_warnx(
			"management: management-listen %s: not an IPv4 or IPv6 address (%s)",
			addr, gai_strerror(rc));
		if (ai)
			freeaddrinfo(ai);
		return -EINVAL;
	}
	l->fd = socket(ai->ai_family,
		       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0) {
		rc = -errno;
		log_warn("management: management-listen %s: socket", addr);
		goto out;
	}
	if (setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) <
		    0 ||
	    (ai->ai_family == AF_INET6 &&
	     setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) <
		     0)) {
		rc = -errno;
		log_warn("management: management-listen %s: setsockopt", addr);
		goto out;
	}
	if (bind(l->fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		rc = -errno;
		log_warn("management: management-listen %s port %u: bind", addr,
			 (unsigned)port);
		goto out;
	}
	if (listen(l->fd, SRV_TLS_BACKLOG) < 0 ||
	    getsockname(l->fd, (struct sockaddr *)&ss, &sl) < 0) {
		rc = -errno;
		log_warn("management: management-listen %s port %u: listen",
			 addr, (unsigned)port);
		goto out;
	}
	srv_sockaddr_str(&ss, host, sizeof(host), l->addr, sizeof(l->addr),
			 &l->port);
	rc = 0;
out:
	if (rc < 0 && l->fd >= 0) {
		close(l->fd);
		l->fd = -1;
	}
	freeaddrinfo(ai);
	return rc;
}

int srv_add_tls(struct srv *s, const struct srv_tls_opts *o)
{
	struct srv_listener l[SRV_TLS_LISTEN_MAX];
	struct srv_client **pm = NULL, *t = NULL;
	BIO_METHOD *bio = NULL;
	SSL_CTX *ctx = NULL;
	size_t nl = 0;
	unsigned max;
	int rc;

	if (s->ctx != NULL) {
		log_warnx("management: the TLS endpoint is already set up");
		return -EALREADY;
	}
	if (o->listen[0] == NULL) {
		log_warnx("management: no management-listen address");
		return -EINVAL;
	}
	ctx = srv_tls_ctx(o, &rc);
	if (ctx == NULL)
		return rc;
	max = o->max_clients ? o->max_clients : SRV_TLS_MAX_CLIENTS_DEFAULT;
	bio = srv_bio_method();
	t = calloc(max, sizeof(*t));
	pm = calloc(s->max_clients + max, sizeof(*pm));
	if (bio == NULL || t == NULL || pm == NULL) {
		log_warnx("management: TLS endpoint: out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < max; i++)
		t[i].fd = -1;
	for (; nl < SRV_TLS_LISTEN_MAX && o->listen[nl] != NULL; nl++) {
		l[nl].fd = -1;
		rc = srv_tls_listen(&l[nl], o->listen[nl], o->port);
		if (rc < 0)
			goto fail;
		log_info("management: TLS endpoint on %s%s", l[nl].addr,
			 o->client_ca ? " (client certificates accepted)" : "");
	}
	s->ctx = ctx;
	s->bio = bio;
	free(s->pollmap);
	s->pollmap = pm;
	s->t = t;
	s->tls_max = max;
	memcpy(s->l, l, nl * sizeof(l[0]));
	s->n_listen = nl;
	s->max_unauth = o->max_unauth ? o->max_unauth :
					SRV_TLS_MAX_UNAUTH_DEFAULT;
	s->max_per_source = o->max_per_source ? o->max_per_source :
						SRV_TLS_MAX_PER_SOURCE_DEFAULT;
	s->hs_timeout = o->handshake_timeout ?
				o->handshake_timeout :
				SRV_TLS_HANDSHAKE_TIMEOUT_DEFAULT;
	s->tls_idle = o->idle_timeout ? o->idle_timeout : SRV_TLS_IDLE_DEFAULT;
	return 0;
fail:
	for (size_t i = 0; i < nl; i++)
		close(l[i].fd);
	SSL_CTX_free(ctx);
	BIO_meth_free(bio);
	free(t);
	free(pm);
	return rc;
}
