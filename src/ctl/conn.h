/*
 * One connection of conduitctl to a management endpoint: the local
 * control socket or the remote TLS endpoint, behind the same call. It
 * owns the socket, the TLS state and the frame decoder; every wait has a
 * deadline (connect, handshake, reply) so that a dead or slow daemon
 * never hangs the client. Errors are texts in c->err for the caller to
 * print with c->name ("198.18.1.1:8443: certificate verify failed: ...").
 */
#ifndef CONDUIT_CTL_CONN_H
#define CONDUIT_CTL_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mgmt/control.h"

#define CTL_CONNECT_TIMEOUT 10 /* s: TCP connect and TLS handshake */
#define CTL_REPLY_TIMEOUT 300  /* s: an apply of a huge policy takes a while */
#define CTL_HOST_MAX 256
#define CTL_PORT_MAX 8

struct ssl_st;
struct ssl_ctx_st;

struct ctl_conn {
	int fd; /* -1: not connected */
	struct ssl_ctx_st *ctx;
	struct ssl_st *ssl;
	char name[CTL_HOST_MAX + 80]; /* socket path or "host:port" */
	char err[512];
	bool dead; /* the stream is unusable: closed, timed out, broken */
	uint64_t next_id;
	struct ctl_decoder dec;
	uint8_t *rbuf; /* received, not yet decoded */
	size_t roff, rlen;
};

struct ctl_tls_opts {
	const char *host; /* IPv4/IPv6 literal (no brackets) or a name */
	const char *port;
	const char *ca;		 /* required: the endpoint's CA (PEM) */
	const char *cert;	 /* client certificate chain, or NULL */
	const char *key;	 /* its key (required with cert) */
	const char *server_name; /* name or IP to verify; NULL: host */
};

/*
 * Splits "HOST:PORT", "[V6]:PORT" into host (brackets removed) and port
 * (1..65535). Returns 0 or -EINVAL with *why (a static text).
 */
int ctl_parse_hostport(const char *s, char *host, size_t hostlen, char *port,
		       size_t portlen, const char **why);

void ctl_conn_init(struct ctl_conn *c);
/* 0, or a negative errno with c->err set. */
int ctl_conn_open_unix(struct ctl_conn *c, const char *path);
/* TCP connect (every address of the name in turn), then TLS 1.2+ with the
 * peer's chain verified against o->ca and its name or IP checked. */
int ctl_conn_open_tls(struct ctl_conn *c, const struct ctl_tls_opts *o);
/*
 * Sends one request (args borrowed, may be NULL) and waits up to
 * timeout_s for its response. Returns the response message (new
 * reference) or NULL with c->err set (and c->dead when the stream is
 * gone). The encoded frame is wiped before it is freed (it may carry a
 * password).
 */
json_t *ctl_conn_call(struct ctl_conn *c, const char *cmd, const json_t *args,
		      unsigned timeout_s);
bool ctl_conn_is_open(const struct ctl_conn *c);
bool ctl_conn_is_tls(const struct ctl_conn *c);
/* Closes (TLS close_notify first) and frees; c can be opened again. */
void ctl_conn_close(struct ctl_conn *c);

#endif
