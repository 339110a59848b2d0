/*
 * conduitctl's connection (src/ctl/conn.c) against the real management
 * server (src/mgmt/server.c) on 127.0.0.1 with port 0, pumped by a thread:
 * real OpenSSL on both sides, a throwaway PKI made with the openssl CLI.
 * Also the HOST:PORT parser and the --password-file reader.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl/conn.h"
#include "ctl/prompt.h"
#include "mgmt/server.h"

static char dir[64];
static char sockpath[128];
static struct srv *g_srv;
static pthread_t pump;
static atomic_bool stop;

static const char pki_script[] =
	"set -e; cd \"$1\"; umask 077\n"
	"ec() { openssl genpkey -algorithm EC -pkeyopt "
	"ec_paramgen_curve:P-256 -out \"$1\" 2>/dev/null; }\n"
	"mkca() { ec \"$1.key\"; openssl req -x509 -new -key \"$1.key\" "
	"-sha256 -days 30 -subj \"/CN=$1\" "
	"-addext basicConstraints=critical,CA:TRUE "
	"-addext keyUsage=critical,keyCertSign -out \"$1.pem\"; }\n"
	"leaf() { ec \"$1.key\"; openssl req -new -key \"$1.key\" "
	"-subj \"/CN=$2\" -out \"$1.csr\"; printf 'subjectAltName=%s\\n' "
	"\"$3\" >\"$1.ext\"; openssl x509 -req -in \"$1.csr\" -CA ca.pem "
	"-CAkey ca.key -CAcreateserial -sha256 -days 30 -extfile "
	"\"$1.ext\" -out \"$1.pem\" 2>/dev/null; }\n"
	"mkca ca; mkca rogue\n"
	"leaf server gw 'DNS:gw.test,IP:127.0.0.1'\n"
	"leaf alice alice DNS:alice\n";

static const char *path(const char *name)
{
	static char buf[8][160];
	static int k;
	char *p = buf[k++ % 8];

	snprintf(p, 160, "%s/%s", dir, name);
	return p;
}

/* Echoes the command, the channel and the client certificate's CN. */
static json_t *handler(const json_t *req, struct srv_peer *peer, void *arg)
{
	const json_t *args;
	const char *cmd, *why;
	uint64_t id;

	(void)arg;
	if (ctl_request_parse(req, &id, &cmd, &args, &why) < 0)
		return ctl_response_error(id, CTL_ERR_BAD_REQUEST, why, NULL);
	return ctl_response_ok(id, json_pack("{s:s, s:b, s:s}", "cmd", cmd,
					     "tls", peer->channel == SRV_CH_TLS,
					     "cn", peer->cert_cn));
}

static void *pump_run(void *arg)
{
	struct pollfd pfd[64];

	(void)arg;
	while (!atomic_load(&stop)) {
		size_t n = srv_pollfds(g_srv, pfd, 64);

		if (poll(pfd, n, 10) > 0)
			srv_dispatch(g_srv, pfd, n, time(NULL));
	}
	return NULL;
}

static void setup(void)
{
	struct srv_opts o = { .path = NULL };
	struct srv_tls_opts t = { .listen = { "127.0.0.1" } };
	char cmd[256];
	FILE *f;

	strcpy(dir, "/tmp/test_conn.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	f = fopen(path("pki.sh"), "w");
	cr_assert_not_null(f);
	fputs(pki_script, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "sh %s %s >%s 2>&1", path("pki.sh"), dir,
		 path("pki.log"));
	cr_assert_eq(system(cmd), 0, "PKI: see %s", path("pki.log"));
	snprintf(sockpath, sizeof(sockpath), "%s/ctl.sock", dir);
	o.path = sockpath;
	g_srv = srv_open(&o, handler, NULL);
	cr_assert_not_null(g_srv, "srv_open: %s", strerror(errno));
	t.cert = path("server.pem");
	t.key = path("server.key");
	t.client_ca = path("ca.pem");
	cr_assert_eq(srv_add_tls(g_srv, &t), 0);
	atomic_store(&stop, false);
	cr_assert_eq(pthread_create(&pump, NULL, pump_run, NULL), 0);
}

static void teardown(void)
{
	char cmd[128];

	atomic_store(&stop, true);
	pthread_join(pump, NULL);
	srv_close(g_srv, true);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)!system(cmd);
}

static void tls_opts(struct ctl_tls_opts *o, char *port, size_t len)
{
	snprintf(port, len, "%u", (unsigned)srv_tls_port(g_srv, 0));
	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->port = port;
	o->ca = path("ca.pem");
}

/* CR 4.1 */
Test(conn, tls_verified_call_and_frames, .init = setup, .fini = teardown)
{
	struct ctl_tls_opts o;
	struct ctl_conn c;
	char port[8];
	json_t *r;

	tls_opts(&o, port, sizeof(port));
	ctl_conn_init(&c);
	cr_assert_eq(ctl_conn_open_tls(&c, &o), 0, "%s", c.err);
	cr_assert(ctl_conn_is_tls(&c));
	for (int i = 1; i <= 3; i++) {
		r = ctl_conn_call(&c, "hello", NULL, 5);
		cr_assert_not_null(r, "%s", c.err);
		cr_assert_eq(json_integer_value(json_object_get(r, "id")), i);
		cr_assert_str_eq(json_string_value(json_object_get(
					 json_object_get(r, "result"), "cmd")),
				 "hello");
		json_decref(r);
	}
	ctl_conn_close(&c);
}

/* CR 3.1 */
Test(conn, tls_wrong_ca_refused, .init = setup, .fini = teardown)
{
	struct ctl_tls_opts o;
	struct ctl_conn c;
	char port[8];

	tls_opts(&o, port, sizeof(port));
	o.ca = path("rogue.pem");
	ctl_conn_init(&c);
	cr_assert_lt(ctl_conn_open_tls(&c, &o), 0);
	cr_assert_not_null(strstr(c.err, "certificate verify failed"), "%s",
			   c.err);
	cr_assert_not(ctl_conn_is_open(&c));
	cr_assert_null(ctl_conn_call(&c, "hello", NULL, 1));
}

/* CR 3.1 */
Test(conn, tls_name_and_ip_checked, .init = setup, .fini = teardown)
{
	struct ctl_tls_opts o;
	struct ctl_conn c;
	char port[8];

	tls_opts(&o, port, sizeof(port));
	ctl_conn_init(&c);
	o.server_name = "other.test";
	cr_assert_lt(ctl_conn_open_tls(&c, &o), 0);
	cr_assert_not_null(strstr(c.err, "hostname mismatch"), "%s", c.err);
	o.server_name = "10.0.0.1";
	cr_assert_lt(ctl_conn_open_tls(&c, &o), 0);
	cr_assert_not_null(strstr(c.err, "IP address mismatch"), "%s", c.err);
	o.server_name = "gw.test";
	cr_assert_eq(ctl_conn_open_tls(&c, &o), 0, "%s", c.err);
	ctl_conn_close(&c);
}

/* CR 1.2 */
Test(conn, tls_client_certificate, .init = setup, .fini = teardown)
{
	struct ctl_tls_opts o;
	struct ctl_conn c;
	char port[8];
	json_t *r;

	tls_opts(&o, port, sizeof(port));
	o.cert = path("alice.pem");
	o.key = path("rogue.key");
	ctl_conn_init(&c);
	cr_assert_eq(ctl_conn_open_tls(&c, &o), -EINVAL);
	cr_assert_not_null(strstr(c.err, "--key"), "%s", c.err);
	o.key = path("alice.key");
	cr_assert_eq(ctl_conn_open_tls(&c, &o), 0, "%s", c.err);
	r = ctl_conn_call(&c, "hello", NULL, 5);
	cr_assert_not_null(r, "%s", c.err);
	cr_assert_str_eq(json_string_value(json_object_get(
				 json_object_get(r, "result"), "cn")),
			 "alice");
	json_decref(r);
	ctl_conn_close(&c);
}

Test(conn, unix_socket, .init = setup, .fini = teardown)
{
	struct ctl_conn c;
	json_t *r;

	ctl_conn_init(&c);
	cr_assert_lt(ctl_conn_open_unix(&c, path("nothing.sock")), 0);
	cr_assert_str_eq(c.err, "No such file or directory");
	cr_assert_eq(ctl_conn_open_unix(&c, sockpath), 0, "%s", c.err);
	r = ctl_conn_call(&c, "status", NULL, 5);
	cr_assert_not_null(r, "%s", c.err);
	cr_assert(json_is_false(
		json_object_get(json_object_get(r, "result"), "tls")));
	json_decref(r);
	ctl_conn_close(&c);
}

Test(conn, refused_port)
{
	struct ctl_tls_opts o = { .host = "127.0.0.1",
				  .port = "1",
				  .ca = "/dev/null" };
	struct ctl_conn c;

	ctl_conn_init(&c);
	/* no CA in the file: refused before any connect */
	cr_assert_eq(ctl_conn_open_tls(&c, &o), -EINVAL);
	cr_assert_not_null(strstr(c.err, "--ca /dev/null"), "%s", c.err);
	ctl_conn_close(&c);
}

/* CR 3.5 */
Test(conn, hostport_parse)
{
	static const struct {
		const char *in, *host, *port;
	} ok[] = {
		{ "198.18.1.1:8443", "198.18.1.1", "8443" },
		{ "[2001:db8::1]:8443", "2001:db8::1", "8443" },
		{ "gw.example:1", "gw.example", "1" },
		{ "[::1]:65535", "::1", "65535" },
	};
	static const char *const bad[] = {
		"198.18.1.1",
		"2001:db8::1:8443",
		"[2001:db8::1]8443",
		"[nothex]:80",
		":80",
		"h:0",
		"h:65536",
		"h:80x",
		"h:",
		"h:-1",
		"[::1:80",
	};
	char host[CTL_HOST_MAX], port[CTL_PORT_MAX];
	const char *why;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cr_assert_eq(ctl_parse_hostport(ok[i].in, host, sizeof(host),
						port, sizeof(port), &why),
			     0, "%s", ok[i].in);
		cr_assert_str_eq(host, ok[i].host);
		cr_assert_str_eq(port, ok[i].port);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(ctl_parse_hostport(bad[i], host, sizeof(host),
						port, sizeof(port), &why),
			     -EINVAL, "%s accepted", bad[i]);
}

Test(conn, secret_file)
{
	char p[] = "/tmp/test_conn_pw.XXXXXX";
	char l1[64], l2[16], err[256];
	int fd = mkstemp(p);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "s3cret pass\r\n123456\n", 20), 20);
	close(fd);
	cr_assert_eq(ctl_secret_file(p, l1, sizeof(l1), l2, sizeof(l2), err,
				     sizeof(err)),
		     0, "%s", err);
	cr_assert_str_eq(l1, "s3cret pass");
	cr_assert_str_eq(l2, "123456");
	/* line 2 longer than its buffer: refused, nothing half-copied */
	cr_assert_eq(ctl_secret_file(p, l1, sizeof(l1), l2, 4, err,
				     sizeof(err)),
		     -EINVAL);
	cr_assert_str_eq(l1, "");
	fd = open(p, O_WRONLY | O_TRUNC);
	cr_assert_eq(write(fd, "\nx\n", 3), 3);
	close(fd);
	cr_assert_eq(ctl_secret_file(p, l1, sizeof(l1), NULL, 0, err,
				     sizeof(err)),
		     -EINVAL);
	cr_assert_not_null(strstr(err, "line 1: empty"), "%s", err);
	unlink(p);
	cr_assert_eq(ctl_secret_file(p, l1, sizeof(l1), NULL, 0, err,
				     sizeof(err)),
		     -ENOENT);
	cr_assert_not_null(strstr(err, p), "%s", err);
}
