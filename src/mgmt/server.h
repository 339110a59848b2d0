/*
 * The management endpoints: the local control socket (a non-blocking Unix
 * stream listener, peer check by SO_PEERCRED: root or a member of the
 * control group) and, optionally, TLS listeners on addresses of the
 * management zone (OpenSSL, TLS 1.2+; client certificates verified
 * against a CA when one is configured). Both carry the same framed
 * protocol (control.h) and hand every request to one callback; the
 * server knows nothing about the commands, users or sessions.
 *
 * Resource limits of the management plane (CR 7.1): a global client cap
 * per channel, a cap of TLS connections per source address, a cap of
 * unauthenticated TLS connections (when it is reached the oldest
 * unauthenticated one is evicted, so that a flood of half-open
 * connections cannot keep a legitimate administrator out), a TLS
 * handshake timeout, the partial-frame timeout and the idle timeout.
 */
#ifndef CONDUIT_MGMT_SERVER_H
#define CONDUIT_MGMT_SERVER_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

#define SRV_MAX_CLIENTS_DEFAULT 16
#define SRV_FRAME_TIMEOUT_DEFAULT 10 /* s to finish a started frame */
#define SRV_IDLE_TIMEOUT_DEFAULT 120 /* s without any traffic */

#define SRV_TLS_LISTEN_MAX 4
#define SRV_TLS_MAX_CLIENTS_DEFAULT 64
#define SRV_TLS_MAX_UNAUTH_DEFAULT 32
#define SRV_TLS_MAX_PER_SOURCE_DEFAULT 8
#define SRV_TLS_HANDSHAKE_TIMEOUT_DEFAULT \
	5 /* s from accept to handshake done */
/* Frame payload limit of a TLS client until srv_set_authenticated (the
 * full CTL_MAX_PAYLOAD afterwards: policies are large). */
#define SRV_UNAUTH_MAX_PAYLOAD (64u * 1024)

enum srv_channel {
	SRV_CH_UNIX,
	SRV_CH_TLS,
};

/* Why a connection ended (the close callback's argument). */
enum srv_close_reason {
	SRV_CLOSE_PEER,	    /* the client closed or reset it */
	SRV_CLOSE_TIMEOUT,  /* idle, partial-frame or handshake timeout */
	SRV_CLOSE_PROTOCOL, /* malformed frame, TLS error */
	SRV_CLOSE_KILLED,   /* srv_kill (session kill) */
	SRV_CLOSE_REQUEST,  /* the request fn set close_after (logout) */
	SRV_CLOSE_EVICTED,  /* unauthenticated, evicted by a newer one */
	SRV_CLOSE_SHUTDOWN, /* srv_close */
};

/* One connection as the request fn sees it. The server fills everything
 * but `session` and `close_after`, which belong to the request fn. */
struct srv_peer {
	uint64_t client; /* unique per connection in the server's life, 1.. */
	enum srv_channel channel;
	/* unix: SO_PEERCRED */
	pid_t pid;
	uid_t uid;
	gid_t gid;
	/* tls */
	char host[48]; /* peer address without port: "198.18.1.2", "2001:db8::2" */
	char addr[64]; /* with port: "198.18.1.2:40312", "[2001:db8::2]:40312";
			  unix: "uid 0 pid 42" */
	bool cert;     /* a client certificate verified against the CA */
	char cert_cn[65];     /* its subject CN ("" without) */
	char tls_version[16]; /* "TLSv1.3" */
	/* request fn's per-connection state (the mgmt session); the server
	 * never touches it except to pass it back */
	void *session;
	/* set by the request fn: close once the current response is out */
	bool close_after;
};

/*
 * Returns the response to one request (new reference; NULL = out of
 * memory, the client is dropped), or SRV_DEFERRED: the answer will come
 * through srv_reply (for work done on another thread, a login's password
 * hash); until then nothing more is read from that client. Called from
 * srv_dispatch.
 */
typedef json_t *(*srv_request_fn)(const json_t *request, struct srv_peer *peer,
				  void *arg);
extern json_t srv_deferred_marker;
#define SRV_DEFERRED (&srv_deferred_marker)

/* Called once for every connection that reached the request fn's
 * attention (a unix client after the peer check, a TLS client after its
 * handshake) when it ends, and for TLS handshakes that failed on a
 * certificate (peer->cert false, error says why), so that the mgmt layer
 * ends sessions and audits. error: a short text or "". */
typedef void (*srv_close_fn)(struct srv_peer *peer, enum srv_close_reason why,
			     const char *error, void *arg);

struct srv_opts {
	const char *path;	/* socket path */
	const char *group;	/* control group; NULL or unknown: root only */
	unsigned max_clients;	/* 0 = default */
	unsigned frame_timeout; /* 0 = default */
	unsigned idle_timeout;	/* 0 = default */
};

struct srv;

/*
 * Creates the directory of the socket when missing (0750, root:group),
 * removes a stale socket (nothing listening), refuses to start when a
 * live one answers (-EADDRINUSE) or the path is not a socket (-EEXIST),
 * binds, then sets mode 0660 and owner root:group. NULL + errno.
 */
struct srv *srv_open(const struct srv_opts *o, srv_request_fn fn, void *arg);
/* Whether a live daemon answers on path: -EADDRINUSE when one does, 0
 * when the path is free or holds a stale socket (left in place), -EEXIST
 * when it is not a socket. Lets start-up refuse before touching the
 * kernel. */
int srv_check_free(const char *path);
/* The socket's directory when srv_open created it, else NULL: the daemon
 * hands it to its own user before dropping root, so that it can remove
 * its socket at exit. */
const char *srv_made_dir(const struct srv *s);
/* TLS listeners, added after srv_open and before the privilege drop
 * (binding a port below 1024 may need root). */
struct srv_tls_opts {
	const char *
		listen[SRV_TLS_LISTEN_MAX]; /* addresses (no port); NULL ends */
	uint16_t port;
	const char *cert;	    /* server certificate chain (PEM) */
	const char *key;	    /* its private key (PEM) */
	const char *client_ca;	    /* NULL: no client certificate is requested;
				  else one is requested (optional) and
				  verified: a wrong one fails the handshake */
	unsigned max_clients;	    /* 0 = default */
	unsigned max_unauth;	    /* 0 = default */
	unsigned max_per_source;    /* 0 = default */
	unsigned handshake_timeout; /* s; 0 = default */
	unsigned idle_timeout;	    /* s without traffic; 0 = 3600 (the
				       session's idle lock comes first) */
};

/* Binds and listens on every address (IPV6_V6ONLY for v6); loads and
 * checks the certificate and key (and CA). 0 or negative errno, with the
 * reason logged (log_warnx) naming the file or address. */
int srv_add_tls(struct srv *s, const struct srv_tls_opts *o);
void srv_set_close_fn(struct srv *s, srv_close_fn fn);
/* The port TLS listener i (in srv_tls_opts.listen order) is bound to:
 * what the kernel chose when port 0 was asked for; 0 when there is no
 * listener i. */
uint16_t srv_tls_port(const struct srv *s, size_t i);
/* The deferred answer to client's pending request (steals resp, which may
 * be NULL: the client is dropped). -ENOENT when the client is gone (resp
 * freed). */
int srv_reply(struct srv *s, uint64_t client, json_t *resp);
/* Closes the connection (SRV_CLOSE_KILLED, close fn called). -ENOENT. */
int srv_kill(struct srv *s, uint64_t client);
/* The request fn says a TLS client authenticated: it no longer counts
 * against max_unauth and cannot be evicted. */
void srv_set_authenticated(struct srv *s, uint64_t client);

struct srv_stats {
	size_t unix_clients, tls_clients, tls_unauth, tls_handshaking;
	uint64_t tls_accepted;	       /* TCP connections accepted */
	uint64_t tls_handshakes;       /* completed */
	uint64_t tls_handshake_failed; /* TLS errors, bad certificates */
	uint64_t tls_handshake_timeout;
	uint64_t refused_cap;	 /* over max_clients (both channels) */
	uint64_t refused_source; /* over max_per_source */
	uint64_t evicted;	 /* unauthenticated ones closed for newer */
};
void srv_get_stats(const struct srv *s, struct srv_stats *st);

/* Closes every client and the listener; unlinks the socket when asked. */
void srv_close(struct srv *s, bool unlink_path);

/* Upper bound of pollfds srv_pollfds can fill. */
size_t srv_pollfd_max(const struct srv *s);
/* Fills pfd[0..n) with the listener and the clients; returns the count. */
size_t srv_pollfds(struct srv *s, struct pollfd *pfd, size_t n);
/* Handles the revents of the pollfds srv_pollfds filled. */
void srv_dispatch(struct srv *s, const struct pollfd *pfd, size_t n,
		  time_t now);
/* Drops clients whose frame or idle timeout expired (call every second). */
void srv_tick(struct srv *s, time_t now);
/* The daemon was busy for `seconds` (a long apply or reload): no client
 * is blamed for that time, so every client's timers move on by it. */
void srv_stalled(struct srv *s, time_t seconds);
size_t srv_clients(const struct srv *s);

/* Whether uid may use the control socket: 0, or a member (primary or
 * supplementary) of group gid. */
bool srv_peer_allowed(uid_t uid, gid_t group, bool have_group);

#endif
