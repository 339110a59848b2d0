/*
 * Fuzz harness for the management core (mgmt.c): the command parser
 * (cmd_check), the session and authentication state machine, the RBAC
 * gate, the user, session and approval commands, driven through
 * mgmt_request() as the server would, without a server (no socket: the
 * peers below are made up) and without a kernel (nft NULL).
 *
 * Input: byte 0 chooses the set-up (bit 0: the store has an active admin,
 * else root bootstraps; bit 1: approval-required). The rest is lines; the
 * first byte of each line says what happens, the remainder is a JSON
 * request (or garbage, which the frame decoder would have refused: then
 * the line is dropped, as the server would have closed the connection):
 *
 *   '0'..'7'  a request of that peer (see peers[] below)
 *   'c' N     peer N's connection closes (mgmt_on_close), a new one opens
 *   't'       mgmt_tick
 *   'w'       wait for the hashing thread (bounded) and mgmt_on_event
 *   'r'       mgmt_reload_users (SIGHUP)
 *   other     a request of peer (byte % 8)
 *
 * A request of a peer whose login is still being hashed first waits for
 * it (the server reads nothing from such a client), and a response with
 * close_after set closes that connection, as the server does.
 *
 * Users (a users file written fresh for every input, password-cost 1):
 *   alice admin (unix daemon, uid 1; disabled in the bootstrap set-up),
 *   bob engineer (unix bin, uid 2; TOTP), carol viewer (unix sys, uid 3),
 *   dave operator (TOTP, remote only), erin auditor (disabled), frank
 *   engineer (no password). Every password is PASSWORD below.
 *
 * Not safe with nft NULL, hence never called (by command name, before
 * mgmt_request): `island` (cmd_island always commits to the kernel). The
 * daemon state runs in island mode, so that policy.apply, policy.approve
 * and reload only compile and store the policy (cmd_install's deferred
 * path) and never reach nft_apply. TOTP codes cannot be guessed by the
 * fuzzer: logins with password + TOTP fail after the hash (still the whole
 * job path); certificate + password logins (peer 5, CN bob) succeed with
 * the right password.
 *
 * Without a server, srv_kill does not happen: a session killed by
 * session.kill, user.lock or user.del stays until its peer's 'c' line
 * (or the end of the input) closes it, as the server would right away.
 *
 * State is reset between inputs: a fresh mgmt (store, sessions, lockouts,
 * approvals, its hashing thread) and a fresh daemon state (policy) per
 * input; the temporary directory (in /dev/shm when it exists: the store
 * is fsynced on every change) is made once and removed at exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/diag.h"
#include "common/log.h"
#include "mgmt/auth.h"
#include "mgmt/commands.h"
#include "mgmt/control.h"
#include "mgmt/mgmt.h"
#include "policy/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PASSWORD "Correct-Horse-42"
#define NPEERS 8
#define WAIT_MS 5000

static const char policy_text[] = "version: 1\n"
				  "zones:\n"
				  "  office:\n"
				  "    interfaces: [eth0]\n"
				  "  plant:\n"
				  "    interfaces: [eth1]\n"
				  "    management: true\n"
				  "conduits:\n"
				  "  - name: office-to-plant\n"
				  "    from: office\n"
				  "    to: plant\n"
				  "    allow:\n"
				  "      - { proto: tcp, port: 502 }\n";

static struct {
	bool ready;
	char dir[64];
	char users[128];
	char policy[128];
	char store[2][4096]; /* the two set-ups' users files */
	struct conf conf;
} g;

struct fpeer {
	struct srv_peer p;
	bool busy; /* a deferred login is being hashed */
	/* its session when the login was deferred */
	enum sess_state state;
	unsigned failures;
};

static uint64_t next_client;

static void peer_open(struct fpeer *f, int i)
{
	memset(f, 0, sizeof(*f));
	f->p.client = ++next_client;
	switch (i) {
	case 0: /* daemon -> alice (admin) */
	case 1: /* bin -> bob (engineer) */
	case 2: /* sys -> carol (viewer) */
		f->p.channel = SRV_CH_UNIX;
		f->p.uid = (uid_t)(i + 1);
		break;
	case 3: /* root, unmapped: bootstrap while no admin exists */
		f->p.channel = SRV_CH_UNIX;
		f->p.uid = 0;
		break;
	case 6: /* nobody, unmapped */
		f->p.channel = SRV_CH_UNIX;
		f->p.uid = 65534;
		break;
	default:
		f->p.channel = SRV_CH_TLS;
		break;
	}
	f->p.pid = 100 + i;
	f->p.gid = f->p.uid;
	if (f->p.channel == SRV_CH_UNIX) {
		snprintf(f->p.addr, sizeof(f->p.addr), "uid %u pid %d",
			 (unsigned)f->p.uid, (int)f->p.pid);
		return;
	}
	snprintf(f->p.host, sizeof(f->p.host), "%s",
		 i == 5 ? "::1" :
		 i == 7 ? "127.0.0.2" :
			  "127.0.0.1");
	snprintf(f->p.addr, sizeof(f->p.addr), i == 5 ? "[%s]:%d" : "%s:%d",
		 f->p.host, 40000 + i);
	snprintf(f->p.tls_version, sizeof(f->p.tls_version), "TLSv1.3");
	if (i == 5 || i == 7) { /* a verified client certificate */
		f->p.cert = true;
		snprintf(f->p.cert_cn, sizeof(f->p.cert_cn), "%s",
			 i == 5 ? "bob" : "mallory");
	}
}

static int write_file(const char *path, const char *s, mode_t mode)
{
	size_t len = strlen(s);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	if (fd < 0)
		return -1;
	if (write(fd, s, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	fchmod(fd, mode);
	return close(fd);
}

static void cleanup(void)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/" CMD_STATE_POLICY, g.dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/" CMD_STATE_POLICY ".tmp", g.dir);
	unlink(p);
	unlink(g.users);
	snprintf(p, sizeof(p), "%s.tmp", g.users);
	unlink(p);
	unlink(g.policy);
	rmdir(g.dir);
	conf_free(&g.conf);
}

static void die(const char *what)
{
	fprintf(stderr, "fuzz_mgmt: set-up: %s: %s\n", what, strerror(errno));
	abort();
}

static void init_once(void)
{
	char h[AUTH_HASH_MAX + 1];
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

	if (g.ready)
		return;
	/* FUZZ_MGMT_LOG=1: the core's log lines on stderr (seed work) */
	log_init("fuzz_mgmt", 0,
		 getenv("FUZZ_MGMT_LOG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERR);
	snprintf(g.dir, sizeof(g.dir), "%s/fuzz_mgmt.XXXXXX", base);
	if (mkdtemp(g.dir) == NULL)
		die("mkdtemp");
	snprintf(g.users, sizeof(g.users), "%s/users", g.dir);
	snprintf(g.policy, sizeof(g.policy), "%s/policy.yaml", g.dir);
	if (auth_hash(PASSWORD, 1, h, sizeof(h)) < 0)
		die("auth_hash");
	for (int v = 0; v < 2; v++)
		snprintf(
			g.store[v], sizeof(g.store[v]),
			"# fuzz_mgmt\n"
			"alice:admin:%s:daemon:%s:-:-\n"
			"bob:engineer:active:bin:%s:JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP:-\n"
			"carol:viewer:active:sys:%s:-:-\n"
			"dave:operator:active:-:%s:JBSWY3DPEHPK3PXP:-\n"
			"erin:auditor:disabled:-:%s:-:-\n"
			"frank:engineer:active:-:!:-:-\n",
			v ? "active" : "disabled", h, h, h, h, h);
	if (write_file(g.policy, policy_text, 0600) < 0)
		die(g.policy);
	if (conf_init(&g.conf) < 0)
		die("conf_init");
	free(g.conf.state_dir);
	free(g.conf.policy);
	free(g.conf.users_file);
	g.conf.state_dir = strdup(g.dir);
	g.conf.policy = strdup(g.policy);
	g.conf.users_file = strdup(g.users);
	if (!g.conf.state_dir || !g.conf.policy || !g.conf.users_file)
		die("strdup");
	atexit(cleanup);
	g.ready = true;
}

static void peer_close(struct mgmt *m, struct fpeer *peers, int i,
		       enum srv_close_reason why);

/* Whether peer f's deferred login was judged: its session left the state
 * it had, or counted one more failure (job_done does one or the other
 * for a session that is still open). */
static bool job_judged(const struct fpeer *f)
{
	const struct sess *s = f->p.session;

	return s == NULL || s->state != f->state || s->failures != f->failures;
}

/* Waits (bounded) for the hashing thread to finish every pending login
 * and judges them (mgmt_on_event); closes the connections the verdict
 * closes (three failures). */
static void wait_jobs(struct mgmt *m, struct cmd_daemon *d, struct fpeer *peers)
{
	for (;;) {
		struct pollfd pfd = { .fd = mgmt_event_fd(m),
				      .events = POLLIN };
		bool any = false;

		for (int i = 0; i < NPEERS; i++) {
			if (!peers[i].busy || !job_judged(&peers[i]))
				continue;
			peers[i].busy = false;
			if (peers[i].p.close_after)
				peer_close(m, peers, i, SRV_CLOSE_REQUEST);
		}
		for (int i = 0; i < NPEERS; i++)
			any |= peers[i].busy;
		if (!any)
			return;
		if (poll(&pfd, 1, WAIT_MS) <= 0)
			abort(); /* a login job that never finishes */
		mgmt_on_event(m, d);
	}
}

static void peer_close(struct mgmt *m, struct fpeer *peers, int i,
		       enum srv_close_reason why)
{
	mgmt_on_close(m, &peers[i].p, why, "");
	if (peers[i].p.session != NULL)
		abort(); /* the close fn must end the session */
	peer_open(&peers[i], i);
}

static void request(struct mgmt *m, struct cmd_daemon *d, struct fpeer *peers,
		    int i, const char *text, size_t len)
{
	const char *cmd;
	json_error_t jerr;
	json_t *req, *resp;

	req = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
			 &jerr);
	if (req == NULL)
		return;
	cmd = json_string_value(json_object_get(req, "cmd"));
	if (cmd != NULL && strcmp(cmd, "island") == 0) {
		json_decref(req); /* would commit to the kernel: nft NULL */
		return;
	}
	if (peers[i].busy)
		wait_jobs(m, d, peers);
	resp = mgmt_request(m, d, req, &peers[i].p);
	json_decref(req);
	if (resp == NULL)
		abort(); /* out of memory is not expected here */
	if (resp == SRV_DEFERRED) {
		const struct sess *s = peers[i].p.session;

		if (s == NULL)
			abort(); /* deferred without a session */
		peers[i].busy = true;
		peers[i].state = s->state;
		peers[i].failures = s->failures;
		return;
	}
	if (!json_is_object(resp) ||
	    !json_is_boolean(json_object_get(resp, "ok")))
		abort(); /* every answer is a response object */
	if (json_is_false(json_object_get(resp, "ok")) &&
	    !json_is_string(
		    json_object_get(json_object_get(resp, "error"), "code")))
		abort(); /* every error names its code */
	json_decref(resp);
	if (peers[i].p.close_after)
		peer_close(m, peers, i, SRV_CLOSE_REQUEST);
}

/* CR 3.5 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fpeer peers[NPEERS];
	struct cmd_daemon d;
	struct mgmt_opts o;
	struct diag_list dl;
	struct mgmt *m;
	size_t off = 1;

	if (size == 0)
		return 0;
	init_once();
	if (write_file(g.users, g.store[data[0] & 1], 0600) < 0)
		die(g.users);
	mgmt_opts_default(&o);
	o.users_file = g.users;
	o.cost = 1;
	o.approval_required = (data[0] & 2) != 0;
	diag_list_init(&dl);
	m = mgmt_new(&o, &dl);
	if (m == NULL) {
		diag_print(&dl, stderr);
		die("mgmt_new");
	}
	diag_list_free(&dl);
	memset(&d, 0, sizeof(d));
	d.conf = &g.conf;
	d.started = time(NULL);
	d.generation = 1;
	d.user = "conduitd";
	d.island = true; /* cmd_install compiles, never commits (nft NULL) */
	d.mgmt = m;
	d.policy_name = strdup("office.yaml");
	diag_list_init(&dl);
	if (d.policy_name == NULL ||
	    policy_load_buffer("office.yaml", policy_text,
			       sizeof(policy_text) - 1, 0, &d.policy, &dl) < 0)
		die("policy");
	diag_list_free(&dl);
	for (int i = 0; i < NPEERS; i++)
		peer_open(&peers[i], i);

	while (off < size) {
		const uint8_t *nl = memchr(data + off, '\n', size - off);
		size_t end = nl ? (size_t)(nl - data) : size;
		const char *line = (const char *)data + off;
		size_t len = end - off;

		off = end + 1;
		if (len == 0)
			continue;
		if (line[0] >= '0' && line[0] < '0' + NPEERS) {
			request(m, &d, peers, line[0] - '0', line + 1, len - 1);
		} else if (line[0] == 'c') {
			int i = len > 1 ? (unsigned char)line[1] % NPEERS : 0;

			peer_close(m, peers, i, SRV_CLOSE_PEER);
			peers[i].busy = false;
		} else if (line[0] == 't') {
			mgmt_tick(m, 0);
		} else if (line[0] == 'w') {
			wait_jobs(m, &d, peers);
		} else if (line[0] == 'r') {
			diag_list_init(&dl);
			(void)mgmt_reload_users(m, &dl);
			diag_list_free(&dl);
		} else {
			request(m, &d, peers, (unsigned char)line[0] % NPEERS,
				line + 1, len - 1);
		}
	}
	wait_jobs(m, &d, peers);
	for (int i = 0; i < NPEERS; i++)
		mgmt_on_close(m, &peers[i].p, SRV_CLOSE_SHUTDOWN, "");
	mgmt_free(m);
	policy_free(d.policy);
	free(d.policy_name);
	return 0;
}
