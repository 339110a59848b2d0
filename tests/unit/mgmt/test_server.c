/*
 * The control socket server driven in-process: requests and pipelining,
 * malformed frames answered with an error and a close (CR 3.5), the
 * partial-frame timeout, the client cap, the peer credential check, the
 * socket's creation rules (stale socket, live socket, mode, group), and
 * what the management layer builds on: connection ids, deferred replies,
 * srv_kill, close_after and the close fn.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mgmt/control.h"
#include "mgmt/server.h"

static char dir[64];
static char path[128];

static void setup(void)
{
	strcpy(dir, "/tmp/test_server.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	chmod(dir, 0755);
	snprintf(path, sizeof(path), "%s/ctl.sock", dir);
}

static void teardown(void)
{
	unlink(path);
	rmdir(dir);
}

/* Echoes the command name; counts calls. */
static int calls;

static json_t *echo(const json_t *req, struct srv_peer *peer, void *arg)
{
	const json_t *args;
	const char *cmd, *why;
	uint64_t id;

	(void)peer;
	(void)arg;
	calls++;
	if (ctl_request_parse(req, &id, &cmd, &args, &why) < 0)
		return ctl_response_error(id, CTL_ERR_BAD_REQUEST, why, NULL);
	return ctl_response_ok(id, json_pack("{s:s}", "echo", cmd));
}

static struct srv *open_srv(unsigned max_clients, const char *group)
{
	struct srv_opts o = { .path = path,
			      .group = group,
			      .max_clients = max_clients };
	struct srv *s = srv_open(&o, echo, NULL);

	cr_assert_not_null(s, "srv_open: %s", strerror(errno));
	return s;
}

static void pump(struct srv *s, int rounds, time_t now)
{
	struct pollfd pfd[32];

	for (int i = 0; i < rounds; i++) {
		size_t n = srv_pollfds(s, pfd, 32);

		if (poll(pfd, n, 20) > 0)
			srv_dispatch(s, pfd, n, now);
	}
}

static int client(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	strcpy(sa.sun_path, path);
	cr_assert(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
		  "connect: %s", strerror(errno));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

static void send_raw(int fd, const void *p, size_t n)
{
	cr_assert_eq(write(fd, p, n), (ssize_t)n);
}

static void send_req(int fd, uint64_t id, const char *cmd)
{
	json_t *r = ctl_request_new(id, cmd, NULL);
	uint8_t *f;
	size_t n;

	cr_assert_eq(ctl_encode(CTL_TYPE_REQUEST, r, &f, &n), 0);
	send_raw(fd, f, n);
	free(f);
	json_decref(r);
}

/* Reads what the server sent so far: up to max responses into out[];
 * *closed tells whether the server closed the connection. */
static int read_responses(struct srv *s, int fd, json_t **out, int max,
			  bool *closed, time_t now)
{
	struct ctl_decoder d;
	uint8_t buf[8192];
	int got = 0;

	*closed = false;
	ctl_decoder_init(&d, 0);
	for (int round = 0; round < 50 && got < max && !*closed; round++) {
		ssize_t n;

		pump(s, 1, now);
		n = read(fd, buf, sizeof(buf));
		if (n == 0) {
			*closed = true;
		} else if (n > 0) {
			size_t off = 0, used;
			struct ctl_frame f;

			while (off < (size_t)n) {
				enum ctl_result r = ctl_decode(&d, buf + off,
							       (size_t)n - off,
							       &used, &f);

				off += used;
				cr_assert_neq(r, CTL_ERROR);
				if (r == CTL_FRAME) {
					cr_assert_eq(f.type, CTL_TYPE_RESPONSE);
					if (got < max)
						out[got++] = f.msg;
					else
						json_decref(f.msg);
				}
			}
		}
	}
	/* One more look for the close after the last response. */
	if (!*closed) {
		uint8_t b;

		pump(s, 2, now);
		*closed = read(fd, &b, 1) == 0;
	}
	ctl_decoder_free(&d);
	return got;
}

static const char *err_code(const json_t *resp)
{
	return json_string_value(
		json_object_get(json_object_get(resp, "error"), "code"));
}

Test(server, request_and_pipelining, .init = setup, .fini = teardown)
{
	struct srv *s = open_srv(0, NULL);
	json_t *r[3] = { 0 };
	bool closed;
	int fd = client();

	pump(s, 2, 1);
	cr_expect_eq(srv_clients(s), 1);
	send_req(fd, 11, "status");
	send_req(fd, 12, "hello"); /* two frames in one go */
	cr_assert_eq(read_responses(s, fd, r, 2, &closed, 1), 2);
	cr_expect_eq(json_integer_value(json_object_get(r[0], "id")), 11);
	cr_expect_str_eq(json_string_value(json_object_get(
				 json_object_get(r[0], "result"), "echo")),
			 "status");
	cr_expect_eq(json_integer_value(json_object_get(r[1], "id")), 12);
	cr_expect_not(closed, "a good client stays connected");
	json_decref(r[0]);
	json_decref(r[1]);
	close(fd);
	pump(s, 2, 1);
	cr_expect_eq(srv_clients(s), 0);
	srv_close(s, true);
	cr_expect_neq(access(path, F_OK), 0, "socket removed");
}

/* Sends raw bytes and expects one protocol error reply, then a close. */
static void expect_protocol_error(const void *bytes, size_t n, const char *code)
{
	struct srv *s = open_srv(0, NULL);
	json_t *r[1] = { 0 };
	bool closed;
	int fd = client();

	calls = 0;
	pump(s, 2, 1);
	send_raw(fd, bytes, n);
	cr_assert_eq(read_responses(s, fd, r, 1, &closed, 1), 1);
	cr_expect_eq(json_is_false(json_object_get(r[0], "ok")), 1);
	cr_expect_str_eq(err_code(r[0]), code);
	cr_expect(closed, "connection closed after a malformed frame");
	cr_expect_eq(calls, 0, "no request reached the handler");
	json_decref(r[0]);
	close(fd);
	srv_close(s, true);
}

/* CR 3.5 */
Test(server, bad_magic_closes, .init = setup, .fini = teardown)
{
	expect_protocol_error("GET / HTTP/1.1\r\n\r\n", 18, CTL_ERR_PROTOCOL);
}

/* CR 3.5 */
Test(server, oversize_length_closes, .init = setup, .fini = teardown)
{
	static const uint8_t h[] = { 'C', 'D', 1, 1, 0x7f, 0xff, 0xff, 0xff };

	expect_protocol_error(h, sizeof(h), CTL_ERR_PROTOCOL);
}

/* CR 3.5 */
Test(server, bad_version_closes, .init = setup, .fini = teardown)
{
	static const uint8_t h[] = { 'C', 'D', 9, 1, 0, 0, 0, 2, '{', '}' };

	expect_protocol_error(h, sizeof(h), CTL_ERR_PROTOCOL);
}

/* CR 3.5 */
Test(server, invalid_json_closes, .init = setup, .fini = teardown)
{
	static const uint8_t h[] = { 'C', 'D', 1, 1, 0, 0, 0, 3, '{', '"', '}' };

	expect_protocol_error(h, sizeof(h), CTL_ERR_PROTOCOL);
}

/* CR 3.5 */
Test(server, response_frame_from_client_closes, .init = setup, .fini = teardown)
{
	static const uint8_t h[] = { 'C', 'D', 1, 2, 0, 0, 0, 2, '{', '}' };

	expect_protocol_error(h, sizeof(h), CTL_ERR_PROTOCOL);
}

/* CR 3.5 */
Test(server, partial_frame_times_out, .init = setup, .fini = teardown)
{
	static const uint8_t h[] = { 'C', 'D', 1, 1, 0, 0, 0, 50, '{' };
	struct srv *s = open_srv(0, NULL);
	json_t *r[1] = { 0 };
	bool closed;
	int fd = client();

	pump(s, 2, 100);
	send_raw(fd, h, sizeof(h));
	pump(s, 3, 100);
	srv_tick(s, 100 + SRV_FRAME_TIMEOUT_DEFAULT - 1);
	cr_expect_eq(srv_clients(s), 1, "not yet");
	srv_tick(s, 100 + SRV_FRAME_TIMEOUT_DEFAULT);
	cr_expect_eq(srv_clients(s), 0, "dropped at the timeout");
	cr_assert_eq(read_responses(s, fd, r, 1, &closed, 200), 1);
	cr_expect_str_eq(err_code(r[0]), CTL_ERR_TIMEOUT);
	cr_expect(closed);
	json_decref(r[0]);
	close(fd);
	srv_close(s, true);
}

/* The daemon's own busy time (a long apply) is not the client's fault. */
Test(server, stall_does_not_time_out_clients, .init = setup, .fini = teardown)
{
	static const uint8_t h[] = { 'C', 'D', 1, 1, 0, 0, 0, 50, '{' };
	struct srv *s = open_srv(0, NULL);
	int fd = client();

	pump(s, 2, 100);
	send_raw(fd, h, sizeof(h));
	pump(s, 3, 100);
	srv_stalled(s, 60);
	srv_tick(s, 160 + SRV_FRAME_TIMEOUT_DEFAULT - 1);
	cr_expect_eq(srv_clients(s), 1, "the stall is not counted");
	srv_tick(s, 160 + SRV_FRAME_TIMEOUT_DEFAULT);
	cr_expect_eq(srv_clients(s), 0, "the client's own delay still is");
	close(fd);
	srv_close(s, true);
}

Test(server, idle_client_dropped, .init = setup, .fini = teardown)
{
	struct srv *s = open_srv(0, NULL);
	int fd = client();

	pump(s, 2, 100);
	cr_expect_eq(srv_clients(s), 1);
	srv_tick(s, 100 + SRV_IDLE_TIMEOUT_DEFAULT);
	cr_expect_eq(srv_clients(s), 0);
	close(fd);
	srv_close(s, true);
}

Test(server, client_cap, .init = setup, .fini = teardown)
{
	struct srv *s = open_srv(2, NULL);
	json_t *r[1] = { 0 };
	bool closed;
	int a = client(), b = client(), c;

	pump(s, 3, 1);
	cr_expect_eq(srv_clients(s), 2);
	c = client();
	cr_assert_eq(read_responses(s, c, r, 1, &closed, 1), 1);
	cr_expect_str_eq(err_code(r[0]), CTL_ERR_BUSY);
	cr_expect(closed);
	cr_expect_eq(srv_clients(s), 2);
	json_decref(r[0]);
	close(a);
	close(b);
	close(c);
	srv_close(s, true);
}

Test(server, peer_not_in_group_refused, .init = setup, .fini = teardown)
{
	struct srv *s = open_srv(0, "root");
	pid_t pid;
	int st;

	chmod(path, 0666); /* let the file mode pass so SO_PEERCRED decides */
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		struct ctl_decoder d;
		struct ctl_frame f;
		uint8_t buf[1024];
		size_t used;
		ssize_t n;
		int fd;

		srv_close(s, false); /* the parent's; the child is a client */
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 ||
		    setuid(65534) < 0)
			_exit(10);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		strcpy(sa.sun_path, path);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			_exit(11);
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			_exit(12);
		ctl_decoder_init(&d, 0);
		if (ctl_decode(&d, buf, (size_t)n, &used, &f) != CTL_FRAME)
			_exit(13);
		if (strcmp(err_code(f.msg) ? err_code(f.msg) : "",
			   CTL_ERR_PERMISSION) != 0)
			_exit(14);
		_exit(read(fd, buf, 1) == 0 ? 0 : 15);
	}
	for (int i = 0; i < 100; i++) {
		pump(s, 1, 1);
		if (waitpid(pid, &st, WNOHANG) == pid)
			break;
	}
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d",
		  WEXITSTATUS(st));
	cr_expect_eq(srv_clients(s), 0);
	srv_close(s, true);
}

Test(server, peer_allowed_rules)
{
	cr_expect(srv_peer_allowed(0, 12345, false), "root always");
	cr_expect_not(srv_peer_allowed(65534, 0, false), "no group: root only");
	cr_expect_not(srv_peer_allowed(65534, 0, true),
		      "nobody is not in root");
	cr_expect(srv_peer_allowed(65534, 65534, true) ||
			  getgrgid(65534) == NULL,
		  "primary group counts");
}

Test(server, socket_mode_and_group, .init = setup, .fini = teardown)
{
	struct srv *s = open_srv(0, "root");
	struct stat st;

	cr_assert_eq(stat(path, &st), 0);
	cr_expect(S_ISSOCK(st.st_mode));
	cr_expect_eq(st.st_mode & 0777, 0660);
	cr_expect_eq(st.st_gid, 0);
	srv_close(s, true);
}

Test(server, creates_its_directory, .init = setup, .fini = teardown)
{
	char sub[128];
	struct srv_opts o = { .group = "root" };
	struct stat st;
	struct srv *s;

	snprintf(sub, sizeof(sub), "%s/run/ctl.sock", dir);
	o.path = sub;
	s = srv_open(&o, echo, NULL);
	cr_assert_not_null(s);
	cr_assert_not_null(srv_made_dir(s));
	cr_assert_eq(stat(srv_made_dir(s), &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0750);
	srv_close(s, true);
	snprintf(sub, sizeof(sub), "%s/run", dir);
	rmdir(sub);
}

Test(server, stale_socket_replaced_live_one_refused, .init = setup,
     .fini = teardown)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct srv *s, *s2;
	struct srv_opts o = { .path = path };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	/* A socket file nobody listens on: what a killed daemon leaves. */
	strcpy(sa.sun_path, path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	cr_expect_eq(srv_check_free(path), 0);
	s = srv_open(&o, echo, NULL);
	cr_assert_not_null(s, "stale socket replaced");
	cr_expect_eq(srv_check_free(path), -EADDRINUSE);
	s2 = srv_open(&o, echo, NULL);
	cr_expect_null(s2);
	cr_expect_eq(errno, EADDRINUSE);
	srv_close(s, true);
}

Test(server, refuses_to_replace_a_regular_file, .init = setup, .fini = teardown)
{
	struct srv_opts o = { .path = path };
	int fd = open(path, O_CREAT | O_WRONLY, 0600);

	close(fd);
	cr_expect_null(srv_open(&o, echo, NULL));
	cr_expect_eq(errno, EEXIST);
	cr_expect_eq(access(path, F_OK), 0, "file left alone");
}

/* --- connection identity, deferred replies, kill, close fn (unix) -------- */

static struct srv *g_s;
static uint64_t pending_client;
static struct {
	uint64_t client;
	enum srv_close_reason why;
} closes[8];
static int n_closes;

static json_t *peer_fn(const json_t *req, struct srv_peer *peer, void *arg)
{
	const json_t *args;
	const char *cmd, *why;
	uint64_t id;

	(void)arg;
	calls++;
	if (ctl_request_parse(req, &id, &cmd, &args, &why) < 0)
		return ctl_response_error(id, CTL_ERR_BAD_REQUEST, why, NULL);
	if (strcmp(cmd, "defer") == 0) {
		pending_client = peer->client;
		return SRV_DEFERRED;
	}
	if (strcmp(cmd, "logout") == 0)
		peer->close_after = true;
	return ctl_response_ok(
		id, json_pack("{s:s, s:I, s:s, s:i}", "echo", cmd, "client",
			      (json_int_t)peer->client, "addr", peer->addr,
			      "channel", (int)peer->channel));
}

static void record_close(struct srv_peer *peer, enum srv_close_reason why,
			 const char *error, void *arg)
{
	(void)error;
	(void)arg;
	cr_assert_lt(n_closes, 8);
	closes[n_closes].client = peer->client;
	closes[n_closes].why = why;
	n_closes++;
}

static struct srv *open_peer_srv(void)
{
	struct srv_opts o = { .path = path };

	calls = 0;
	n_closes = 0;
	pending_client = 0;
	g_s = srv_open(&o, peer_fn, NULL);
	cr_assert_not_null(g_s, "srv_open: %s", strerror(errno));
	srv_set_close_fn(g_s, record_close);
	return g_s;
}

static uint64_t resp_client(const json_t *r)
{
	return (uint64_t)json_integer_value(
		json_object_get(json_object_get(r, "result"), "client"));
}

Test(server, peer_identity_and_close_fn, .init = setup, .fini = teardown)
{
	struct srv *s = open_peer_srv();
	json_t *r[1] = { 0 }, *q[1] = { 0 };
	char want[64];
	bool closed;
	int a = client(), b = client();

	pump(s, 2, 1);
	send_req(a, 1, "peer");
	cr_assert_eq(read_responses(s, a, r, 1, &closed, 1), 1);
	send_req(b, 1, "peer");
	cr_assert_eq(read_responses(s, b, q, 1, &closed, 1), 1);
	cr_expect_neq(resp_client(r[0]), 0);
	cr_expect_neq(resp_client(r[0]), resp_client(q[0]), "unique ids");
	snprintf(want, sizeof(want), "uid %u pid %ld", (unsigned)getuid(),
		 (long)getpid());
	cr_expect_str_eq(json_string_value(json_object_get(
				 json_object_get(r[0], "result"), "addr")),
			 want);
	cr_expect_eq(json_integer_value(json_object_get(
			     json_object_get(r[0], "result"), "channel")),
		     SRV_CH_UNIX);
	cr_expect_eq(n_closes, 0);
	close(a);
	pump(s, 3, 1);
	cr_assert_eq(n_closes, 1);
	cr_expect_eq(closes[0].client, resp_client(r[0]));
	cr_expect_eq(closes[0].why, SRV_CLOSE_PEER);
	/* srv_kill outside srv_dispatch: the close fn runs at once */
	cr_expect_eq(srv_kill(s, resp_client(q[0])), 0);
	cr_assert_eq(n_closes, 2);
	cr_expect_eq(closes[1].why, SRV_CLOSE_KILLED);
	cr_expect_eq(srv_kill(s, resp_client(q[0])), -ENOENT);
	cr_assert_eq(read_responses(s, b, q, 0, &closed, 1), 0);
	cr_expect(closed, "the killed client sees the close");
	json_decref(r[0]);
	json_decref(q[0]);
	close(b);
	srv_close(s, true);
	cr_expect_eq(n_closes, 2, "nobody left for the shutdown");
}

/* Requests pipelined behind a deferred one wait for srv_reply. */
Test(server, deferred_reply_then_pipelined, .init = setup, .fini = teardown)
{
	struct srv *s = open_peer_srv();
	json_t *r[3] = { 0 };
	bool closed;
	int fd = client();

	pump(s, 2, 1);
	send_req(fd, 1, "defer");
	send_req(fd, 2, "status");
	send_req(fd, 3, "logout");
	pump(s, 5, 1);
	cr_assert_neq(pending_client, 0);
	cr_expect_eq(calls, 1, "nothing more read while deferred");
	cr_expect_eq(srv_reply(s, pending_client,
			       ctl_response_ok(1, json_pack("{s:s}", "echo",
							    "late"))),
		     0);
	cr_assert_eq(read_responses(s, fd, r, 3, &closed, 1), 3);
	cr_expect_eq(json_integer_value(json_object_get(r[0], "id")), 1);
	cr_expect_eq(json_integer_value(json_object_get(r[1], "id")), 2);
	cr_expect_eq(json_integer_value(json_object_get(r[2], "id")), 3);
	cr_expect(closed, "logout: closed after its response");
	cr_assert_eq(n_closes, 1);
	cr_expect_eq(closes[0].why, SRV_CLOSE_REQUEST);
	cr_expect_eq(srv_reply(s, pending_client, ctl_response_ok(1, NULL)),
		     -ENOENT, "gone");
	for (int i = 0; i < 3; i++)
		json_decref(r[i]);
	close(fd);
	srv_close(s, true);
}
