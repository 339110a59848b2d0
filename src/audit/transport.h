/*
 * Syslog transports to one collector: UDP (RFC 5426, one message per
 * datagram), TCP (RFC 6587 octet counting: "LEN SP MSG") and TLS (RFC 5425:
 * TLS 1.2+ with OpenSSL, same framing). Blocking I/O with timeouts, used by
 * one sender thread per collector (audit.c): no other thread touches a
 * transport.
 *
 * TLS: the server certificate is verified against ca_file and server_name
 * (SAN dNSName/IP, CN fallback as OpenSSL's X509_check_host does); the
 * client certificate (mutual authentication) is the documented default.
 * TLS 1.3 sends a rejected client certificate's alert after the handshake,
 * so transport_connect waits up to probe_ms for an alert or EOF before it
 * reports the connection healthy, and transport_check reads for it before
 * anything written is counted delivered.
 *
 * Delivered (audit.c): a record counts as delivered once it was written,
 * the socket's send queue has drained (SIOCOUTQ 0: the collector's TCP has
 * acknowledged every byte) and transport_check still says healthy after
 * that. UDP has no delivery proof: written = delivered.
 */
#ifndef CONDUIT_AUDIT_TRANSPORT_H
#define CONDUIT_AUDIT_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>

enum transport_proto {
	TRANSPORT_UDP,
	TRANSPORT_TCP,
	TRANSPORT_TLS,
};

struct transport_opts {
	enum transport_proto proto;
	const char *host; /* name or address literal */
	const char *port; /* number or service */
	/* TLS only */
	const char *ca_file;	     /* required */
	const char *cert_file;	     /* client certificate (PEM, chain ok) */
	const char *key_file;	     /* its key; both NULL: no client cert */
	const char *server_name;     /* NULL: host */
	unsigned connect_timeout_ms; /* connect + handshake; 0 = 5000 */
	unsigned io_timeout_ms;	     /* one write; 0 = 5000 */
	unsigned probe_ms;	     /* post-handshake alert wait; 0 = 200 */
};

struct transport;

/* "udp", "tcp", "tls" <-> enum; -1 when unknown. */
int transport_proto_parse(const char *s);
const char *transport_proto_name(enum transport_proto p);

/*
 * Validates the options and, for TLS, builds the SSL_CTX (reads CA,
 * certificate and key now: call before dropping privileges). Returns NULL
 * with err set ("tls: ca-file /x: No such file or directory", "tls:
 * certificate and key do not match", ...).
 */
struct transport *transport_new(const struct transport_opts *o, char *err,
				size_t errlen);
void transport_free(struct transport *t); /* closes (close_notify) */

/*
 * Resolves, connects, handshakes and verifies; waits probe_ms for a
 * post-handshake alert (TLS). Returns 0 when up, else a negative errno with
 * transport_error() saying why: -ECONNREFUSED, -ETIMEDOUT, -EPROTO (TLS
 * failure: "tls: certificate verify failed: unable to get local issuer
 * certificate", "tls: server name syslog.test does not match", "tls: the
 * collector rejected our certificate: alert certificate required", ...).
 */
int transport_connect(struct transport *t);
bool transport_is_up(const struct transport *t);

/*
 * Writes one message (framed as the protocol says); all or nothing from the
 * caller's view: on error the connection is closed and the caller must
 * treat everything since its last proven delivery as not delivered.
 * TCP/TLS frames are coalesced (up to about 16 KB, one TLS record) and go
 * out when that fills, or at transport_flush, transport_check or
 * transport_close; a write error may therefore surface there.
 * Returns 0 or a negative errno (-EPIPE, -ECONNRESET, -ETIMEDOUT, -EPROTO,
 * -EMSGSIZE for UDP datagrams above 65507 bytes).
 */
int transport_write(struct transport *t, const void *msg, size_t len);
/* Pushes buffered bytes (TLS records) to the socket. */
int transport_flush(struct transport *t);

/*
 * Non-blocking health check: reads (and discards) anything the collector
 * sent; 0 healthy, -EPIPE on EOF or reset, -EPROTO on a TLS alert (the
 * connection is then closed). *unacked (may be NULL) gets the bytes still
 * in the kernel send queue (SIOCOUTQ; 0 for UDP).
 */
int transport_check(struct transport *t, size_t *unacked);

/* Orderly close: TLS close_notify, then shutdown and close. */
void transport_close(struct transport *t);

/* The last error text ("" when none); valid until the next call. */
const char *transport_error(const struct transport *t);

#endif
