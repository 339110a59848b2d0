/*
 * The syslog transports against a real rsyslog collector
 * (tests/collector/collector.sh, 127.0.0.1 only): every protocol lands the
 * exact message in the collector's received.log; the TLS failures (wrong
 * CA, wrong name, a client certificate the collector refuses) fail with
 * the reason and deliver nothing; a restarted collector breaks the old
 * connection and accepts the new one; SIOCOUTQ drains to 0.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit/transport.h"

#define COLLECTOR TEST_SRCDIR "/tests/collector"

static char dir[64];
static char pki[128];
static bool started;

struct ports {
	char udp[8], tcp[8], anon[8], mtls[8], ossl[8];
};

static struct ports port;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static void setup(void)
{
	strcpy(dir, "/tmp/test_transport.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(pki, sizeof(pki), "%s/pki", dir);
	cr_assert_eq(sh(COLLECTOR "/gen-certs.sh %s >/dev/null", pki), 0,
		     "gen-certs.sh failed");
	started = false;
}

static void teardown(void)
{
	/* never leave an rsyslogd behind, whatever the test did */
	if (started)
		sh(COLLECTOR "/collector.sh stop %s", dir);
	sh("rm -rf %s", dir);
}

static void read_ports(void)
{
	char path[128], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/ports.env", dir);
	f = fopen(path, "r");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	memset(&port, 0, sizeof(port));
	while (fgets(line, sizeof(line), f)) {
		static const struct {
			const char *key;
			size_t off;
		} keys[] = {
			{ "SYSLOG_UDP_PORT=", offsetof(struct ports, udp) },
			{ "SYSLOG_TCP_PORT=", offsetof(struct ports, tcp) },
			{ "SYSLOG_TLS_ANON_PORT=",
			  offsetof(struct ports, anon) },
			{ "SYSLOG_TLS_MTLS_PORT=",
			  offsetof(struct ports, mtls) },
			{ "SYSLOG_TLS_OSSL_PORT=",
			  offsetof(struct ports, ossl) },
		};

		line[strcspn(line, "\n")] = '\0';
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			size_t kl = strlen(keys[i].key);

			if (strncmp(line, keys[i].key, kl) == 0)
				snprintf((char *)&port + keys[i].off,
					 sizeof(port.udp), "%s", line + kl);
		}
	}
	fclose(f);
	cr_assert(port.udp[0] && port.tcp[0] && port.anon[0] && port.mtls[0] &&
			  port.ossl[0],
		  "ports.env incomplete");
}

static void collector(const char *cmd)
{
	cr_assert_eq(sh(COLLECTOR "/collector.sh %s %s %s >%s/collector.out "
				  "2>&1",
			cmd, dir, strcmp(cmd, "start") == 0 ? pki : "", dir),
		     0, "collector.sh %s failed (see %s/collector.out)", cmd,
		     dir);
	started = true;
	read_ports();
}

/* A distinct RFC 5424 record as conduitd would send it. */
static size_t make_msg(char *buf, size_t cap, const char *tag)
{
	int n = snprintf(buf, cap,
			 "<110>1 2026-01-02T03:04:05.123456+01:00 gw01.test "
			 "conduitd 4242 TEST [conduitd@32473 seq=\"1\" "
			 "case=\"%s\" q=\"a\\\"b\\\\c\\]d\"] "
			 "\xEF\xBB\xBF"
			 "transport test %s %d",
			 tag, tag, (int)getpid());

	cr_assert(n > 0 && (size_t)n < cap);
	return (size_t)n;
}

/* Whether received.log holds exactly this line. */
static bool landed_now(const char *line)
{
	char path[128];
	size_t ll = strlen(line);
	bool found = false;
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/received.log", dir);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (!found && (n = getline(&buf, &cap, f)) > 0)
		found = (size_t)n == ll + 1 && memcmp(buf, line, ll) == 0 &&
			buf[ll] == '\n';
	free(buf);
	fclose(f);
	return found;
}

static bool landed(const char *line, unsigned wait_ms)
{
	for (unsigned i = 0; i <= wait_ms / 10; i++) {
		if (landed_now(line))
			return true;
		sleep_ms(10);
	}
	return false;
}

static struct transport *new_transport(enum transport_proto proto,
				       const char *p, const char *ca,
				       const char *cert, const char *name)
{
	char ca_file[160], cert_file[160], key_file[160], err[512];
	struct transport_opts o = { .proto = proto,
				    .host = "127.0.0.1",
				    .port = p,
				    .server_name = name };
	struct transport *t;

	if (ca) {
		snprintf(ca_file, sizeof(ca_file), "%s/%s.pem", pki, ca);
		o.ca_file = ca_file;
	}
	if (cert) {
		snprintf(cert_file, sizeof(cert_file), "%s/%s.pem", pki, cert);
		snprintf(key_file, sizeof(key_file), "%s/%s.key", pki, cert);
		o.cert_file = cert_file;
		o.key_file = key_file;
	}
	t = transport_new(&o, err, sizeof(err));
	cr_assert_not_null(t, "transport_new: %s", err);
	return t;
}

/* Connects, sends one record, asserts it arrived byte for byte. */
static void send_and_land(struct transport *t, const char *tag)
{
	char msg[512];
	size_t len = make_msg(msg, sizeof(msg), tag);
	int rc;

	rc = transport_connect(t);
	cr_assert_eq(rc, 0, "%s: connect: %d %s", tag, rc, transport_error(t));
	cr_assert(transport_is_up(t));
	rc = transport_write(t, msg, len);
	cr_assert_eq(rc, 0, "%s: write: %d %s", tag, rc, transport_error(t));
	cr_assert_eq(transport_flush(t), 0);
	cr_assert(landed(msg, 3000), "%s: not in %s/received.log: %s", tag, dir,
		  msg);
	cr_assert_eq(transport_check(t, NULL), 0, "%s: check: %s", tag,
		     transport_error(t));
}

TestSuite(transport, .init = setup, .fini = teardown, .timeout = 60);

Test(transport, proto_names)
{
	cr_assert_eq(transport_proto_parse("udp"), TRANSPORT_UDP);
	cr_assert_eq(transport_proto_parse("tcp"), TRANSPORT_TCP);
	cr_assert_eq(transport_proto_parse("tls"), TRANSPORT_TLS);
	cr_assert_eq(transport_proto_parse("TLS"), -1);
	cr_assert_eq(transport_proto_parse("relp"), -1);
	cr_assert_eq(transport_proto_parse(NULL), -1);
	cr_assert_str_eq(transport_proto_name(TRANSPORT_TLS), "tls");
}

/* CR 2.8 */
Test(transport, udp_lands)
{
	struct transport *t;

	collector("start");
	t = new_transport(TRANSPORT_UDP, port.udp, NULL, NULL, NULL);
	send_and_land(t, "udp");
	transport_free(t);
}

/* CR 2.8 */
Test(transport, udp_datagram_too_big)
{
	struct transport *t;
	char *big = malloc(70000);
	int rc;

	collector("start");
	t = new_transport(TRANSPORT_UDP, port.udp, NULL, NULL, NULL);
	cr_assert_eq(transport_connect(t), 0, "%s", transport_error(t));
	memset(big, 'x', 70000);
	rc = transport_write(t, big, 70000);
	cr_assert_eq(rc, -EMSGSIZE, "rc %d", rc);
	cr_assert(strstr(transport_error(t), "70000"), "%s",
		  transport_error(t));
	free(big);
	transport_free(t);
}

/* CR 2.8 */
Test(transport, tcp_octet_counted_lands)
{
	struct transport *t;
	char big[6000];
	size_t len;

	collector("start");
	t = new_transport(TRANSPORT_TCP, port.tcp, NULL, NULL, NULL);
	send_and_land(t, "tcp");
	/* a second, long frame on the same connection: octet counting
   * keeps it whole (LF framing would split it at the LF) */
	len = make_msg(big, sizeof(big), "tcp-long");
	memset(big + len, 'y', sizeof(big) - len - 1);
	big[len + 100] = '\n';
	big[sizeof(big) - 1] = '\0';
	cr_assert_eq(transport_write(t, big, strlen(big)), 0, "%s",
		     transport_error(t));
	/* frames are coalesced until a flush */
	cr_assert_eq(transport_flush(t), 0, "%s", transport_error(t));
	big[len + 100] = '\0';
	{
		char line[sizeof(big) + 8];

		snprintf(line, sizeof(line), "%s#012%s", big, big + len + 101);
		cr_assert(landed(line, 3000), "long frame not received whole");
	}
	transport_free(t);
}

/* CR 3.1, CR 4.1 */
Test(transport, tls_server_auth_only_lands)
{
	struct transport *t;

	collector("start");
	/* no client certificate; server name: the address literal */
	t = new_transport(TRANSPORT_TLS, port.anon, "ca", NULL, NULL);
	send_and_land(t, "tls-anon");
	transport_free(t);
}

/* CR 3.1, CR 4.1 */
Test(transport, tls_mutual_gtls_lands)
{
	struct transport *t;

	collector("start");
	t = new_transport(TRANSPORT_TLS, port.mtls, "ca", "client",
			  "syslog.test");
	send_and_land(t, "tls-mtls-gtls");
	transport_free(t);
}

/* CR 3.1, CR 4.1 */
Test(transport, tls_mutual_ossl_lands)
{
	struct transport *t;

	collector("start");
	t = new_transport(TRANSPORT_TLS, port.ossl, "ca", "client",
			  "localhost");
	send_and_land(t, "tls-mtls-ossl");
	transport_free(t);
}

/* CR 2.8 */
Test(transport, collector_down_refused)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	struct transport *t;
	char p[8];
	int fd, rc;

	/* a port nobody listens on: bound once by us, then released */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(fd >= 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	close(fd);
	snprintf(p, sizeof(p), "%u", ntohs(sa.sin_port));

	t = new_transport(TRANSPORT_TCP, p, NULL, NULL, NULL);
	rc = transport_connect(t);
	cr_assert_eq(rc, -ECONNREFUSED, "rc %d: %s", rc, transport_error(t));
	cr_assert(strstr(transport_error(t), "refused"), "%s",
		  transport_error(t));
	cr_assert(strstr(transport_error(t), p), "%s", transport_error(t));
	cr_assert_not(transport_is_up(t));
	cr_assert_eq(transport_write(t, "x", 1), -ENOTCONN);
	transport_free(t);

	t = new_transport(TRANSPORT_TLS, p, "ca", "client", NULL);
	cr_assert_eq(transport_connect(t), -ECONNREFUSED, "%s",
		     transport_error(t));
	transport_free(t);
}

/* CR 3.1 */
Test(transport, tls_wrong_ca)
{
	struct transport *t;
	int rc;

	collector("start");
	/* the collector's certificate does not chain to the rogue CA */
	t = new_transport(TRANSPORT_TLS, port.ossl, "rogue-ca", "client",
			  "syslog.test");
	rc = transport_connect(t);
	cr_assert_eq(rc, -EPROTO, "rc %d: %s", rc, transport_error(t));
	/* rsyslog's ossl driver sends the CA along: either text is right */
	cr_assert(strstr(transport_error(t), "certificate verify failed: ") &&
			  (strstr(transport_error(t), "local issuer") ||
			   strstr(transport_error(t), "self-signed")),
		  "%s", transport_error(t));
	cr_assert_not(transport_is_up(t));
	transport_free(t);
}

/* CR 3.1 */
Test(transport, tls_wrong_server_name)
{
	struct transport *t;
	int rc;

	collector("start");
	t = new_transport(TRANSPORT_TLS, port.anon, "ca", NULL, "siem.example");
	rc = transport_connect(t);
	cr_assert_eq(rc, -EPROTO, "rc %d: %s", rc, transport_error(t));
	cr_assert(strstr(transport_error(t), "server name siem.example does "
					     "not match"),
		  "%s", transport_error(t));
	transport_free(t);

	/* an address literal is checked against the SAN iPAddress */
	t = new_transport(TRANSPORT_TLS, port.anon, "ca", NULL, "127.0.0.2");
	rc = transport_connect(t);
	cr_assert_eq(rc, -EPROTO, "rc %d: %s", rc, transport_error(t));
	cr_assert(strstr(transport_error(t), "does not match"), "%s",
		  transport_error(t));
	transport_free(t);
}

/*
 * Connects with a client certificate the collector refuses: either
 * transport_connect fails (alert or EOF within probe_ms) or the first
 * check after a write does; the record never arrives.
 */
static void refused(const char *p, const char *cert, const char *tag)
{
	struct transport *t =
		new_transport(TRANSPORT_TLS, p, "ca", cert, "syslog.test");
	char msg[512];
	size_t len = make_msg(msg, sizeof(msg), tag);
	int rc;

	rc = transport_connect(t);
	if (rc == 0) {
		/* the refusal may already have reset the connection: then
		 * the write itself fails, which is just as good */
		rc = transport_write(t, msg, len);
		if (rc == -ECONNRESET)
			rc = -EPIPE;
		for (int i = 0; rc == 0 && i < 200; i++) {
			sleep_ms(10);
			rc = transport_check(t, NULL);
		}
	}
	cr_assert(rc == -EPROTO || rc == -EPIPE, "%s: rc %d: %s", tag, rc,
		  transport_error(t));
	cr_assert(transport_error(t)[0], "%s: no error text", tag);
	cr_assert_not(transport_is_up(t));
	cr_log_info("%s: %s", tag, transport_error(t));
	cr_assert_not(landed(msg, 500), "%s: refused record was received", tag);
	transport_free(t);
}

/* CR 3.1, CR 2.8 */
Test(transport, tls_client_cert_rejected_gtls_name)
{
	collector("start");
	refused(port.mtls, "badclient", "gtls-badclient");
	refused(port.mtls, NULL, "gtls-nocert");
}

/* CR 3.1, CR 2.8 */
Test(transport, tls_client_cert_rejected_ossl)
{
	collector("start");
	refused(port.ossl, "rogue", "ossl-rogue");
	refused(port.ossl, "expired", "ossl-expired");
	refused(port.ossl, NULL, "ossl-nocert");
}

/* CR 3.1 */
Test(transport, tls_rejected_alert_is_named)
{
	struct transport *t;
	int rc;

	collector("start");
	/* rsyslog's ossl driver answers an untrusted client certificate with
   * an alert after our TLS 1.3 handshake: the probe must name it */
	t = new_transport(TRANSPORT_TLS, port.ossl, "ca", "rogue",
			  "syslog.test");
	rc = transport_connect(t);
	cr_assert_eq(rc, -EPROTO, "rc %d: %s", rc, transport_error(t));
	cr_assert(strstr(transport_error(t), "the collector rejected our "
					     "certificate: "),
		  "%s", transport_error(t));
	transport_free(t);
}

Test(transport, bad_files_refused_by_new)
{
	char cert[160], key[160], ca[160], err[512];
	struct transport_opts o = { .proto = TRANSPORT_TLS,
				    .host = "127.0.0.1",
				    .port = "6514",
				    .ca_file = ca,
				    .cert_file = cert,
				    .key_file = key };

	snprintf(ca, sizeof(ca), "%s/ca.pem", pki);
	snprintf(cert, sizeof(cert), "%s/client.pem", pki);
	snprintf(key, sizeof(key), "%s/badclient.key", pki);
	err[0] = '\0';
	cr_assert_null(transport_new(&o, err, sizeof(err)));
	cr_assert(strstr(err, "do not match"), "%s", err);
	cr_assert(strstr(err, key), "%s", err);

	snprintf(key, sizeof(key), "%s/client.key", pki);
	snprintf(ca, sizeof(ca), "%s/missing.pem", pki);
	cr_assert_null(transport_new(&o, err, sizeof(err)));
	cr_assert(strstr(err, "missing.pem: No such file or directory"), "%s",
		  err);

	/* a key is not a CA certificate */
	snprintf(ca, sizeof(ca), "%s/ca.key", pki);
	cr_assert_null(transport_new(&o, err, sizeof(err)));
	cr_assert(strstr(err, "ca.key"), "%s", err);

	o.ca_file = NULL;
	cr_assert_null(transport_new(&o, err, sizeof(err)));
	cr_assert(strstr(err, "ca-file is required"), "%s", err);

	snprintf(ca, sizeof(ca), "%s/ca.pem", pki);
	o.ca_file = ca;
	o.key_file = NULL;
	cr_assert_null(transport_new(&o, err, sizeof(err)));
	cr_assert(strstr(err, "go together"), "%s", err);

	o.proto = TRANSPORT_TCP;
	o.host = "";
	cr_assert_null(transport_new(&o, err, sizeof(err)));
	cr_assert(strstr(err, "host and port"), "%s", err);
}

/* Waits until the collector's restart shows on the old connection. */
static int broken_after_restart(struct transport *t)
{
	int rc = 0;

	for (int i = 0; rc == 0 && i < 300; i++) {
		rc = transport_check(t, NULL);
		if (rc == 0)
			sleep_ms(10);
	}
	return rc;
}

/* CR 2.8, CR 3.1 */
Test(transport, collector_restart_breaks_and_reconnects)
{
	struct transport *tcp, *tls;
	char msg[512];
	size_t len;
	int rc;

	collector("start");
	tcp = new_transport(TRANSPORT_TCP, port.tcp, NULL, NULL, NULL);
	tls = new_transport(TRANSPORT_TLS, port.mtls, "ca", "client",
			    "syslog.test");
	send_and_land(tcp, "restart-tcp-1");
	send_and_land(tls, "restart-tls-1");

	collector("restart");
	rc = broken_after_restart(tcp);
	cr_assert_eq(rc, -EPIPE, "tcp: rc %d: %s", rc, transport_error(tcp));
	cr_assert_not(transport_is_up(tcp));
	rc = broken_after_restart(tls);
	cr_assert(rc == -EPIPE || rc == -EPROTO, "tls: rc %d: %s", rc,
		  transport_error(tls));
	cr_assert_not(transport_is_up(tls));
	len = make_msg(msg, sizeof(msg), "restart-dead");
	cr_assert_eq(transport_write(tls, msg, len), -ENOTCONN);

	/* the same transports reconnect to the same ports */
	send_and_land(tcp, "restart-tcp-2");
	send_and_land(tls, "restart-tls-2");
	transport_free(tcp);
	transport_free(tls);
}

/* CR 2.8 */
Test(transport, send_queue_drains)
{
	static const char *const protos[] = { "tcp", "tls" };

	collector("start");
	for (unsigned i = 0; i < 2; i++) {
		struct transport *t =
			i == 0 ? new_transport(TRANSPORT_TCP, port.tcp, NULL,
					       NULL, NULL) :
				 new_transport(TRANSPORT_TLS, port.ossl, "ca",
					       "client", NULL);
		char msg[4096];
		size_t len = make_msg(msg, sizeof(msg), protos[i]), unacked = 1;
		int rc;

		cr_assert_eq(transport_connect(t), 0, "%s", transport_error(t));
		memset(msg + len, 'z', sizeof(msg) - len);
		rc = transport_write(t, msg, sizeof(msg));
		cr_assert_eq(rc, 0, "%s", transport_error(t));
		for (int j = 0; j < 200 && unacked; j++) {
			cr_assert_eq(transport_check(t, &unacked), 0, "%s",
				     transport_error(t));
			if (unacked)
				sleep_ms(5);
		}
		cr_assert_eq(unacked, 0, "%s: %zu bytes never acknowledged",
			     protos[i], unacked);
		transport_free(t);
	}
}
