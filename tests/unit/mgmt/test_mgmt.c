/*
 * The management core (mgmt.c) through mgmt_request, as the server calls
 * it, without a server (m->srv NULL: the peers are made up, a connection
 * "closes" when the test calls mgmt_on_close) and without a kernel (nft
 * NULL: the daemon state is in island mode, so that policy.apply and
 * policy.approve only compile and store the policy, cmd_install's
 * deferred path). A real users file in a mkdtemp directory (yescrypt cost
 * 1), a real hashing thread (auth.login and auth.unlock are deferred:
 * judged in mgmt_on_event once mgmt_event_fd is readable), a real audit
 * pipeline whose JSON Lines file the tests read back.
 *
 * The Unix peers are the system's own accounts (getpwuid): daemon (1),
 * bin (2), sys (3), sync (4), games (5), man (6), lp (7); nobody (65534)
 * is never mapped.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "common/conf.h"
#include "common/diag.h"
#include "common/log.h"
#include "mgmt/auth.h"
#include "mgmt/commands.h"
#include "mgmt/control.h"
#include "mgmt/mgmt.h"
#include "mgmt/totp.h"
#include "policy/model.h"

#define PW "Correct-Horse-42"
#define DAVE_TOTP "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
#define COMMON_PW "Summer-2024-Pass"

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

static const char policy_changed[] =
	"version: 1\n"
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
	"      - { proto: tcp, port: [502, 503] }\n";

/* The default store: one user per role mapped to a Unix account, dave
 * (operator, remote only, TOTP) and erin (auditor, remote only). */
static const char *const default_users[] = {
	"alice:admin:active:daemon:%H:-:-",
	"bob:engineer:active:bin:%H:-:-",
	"carol:viewer:active:sys:%H:-:-",
	"olga:operator:active:sync:%H:-:-",
	"audrey:auditor:active:games:%H:-:-",
	"bert:engineer:active:man:%H:-:-",
	"dave:operator:active:-:%H:" DAVE_TOTP ":-",
	"erin:auditor:active:-:%H:-:-",
	NULL,
};

static struct {
	char dir[64];
	char users[128];
	char jsonl[128];
	char common[128];
	char hash[AUTH_HASH_MAX + 1];
	struct conf conf;
	struct cmd_daemon d;
	struct mgmt_opts o;
	struct mgmt *m;
	struct audit *audit;
	json_t *records; /* after audit_records() */
	uint64_t next_client;
} t;

/* --- set-up ---------------------------------------------------------------- */

static void write_users(const char *const *lines)
{
	FILE *f = fopen(t.users, "w");

	cr_assert_not_null(f, "%s: %s", t.users, strerror(errno));
	for (size_t i = 0; lines[i]; i++) {
		const char *h = strstr(lines[i], "%H");

		if (h == NULL)
			fprintf(f, "%s\n", lines[i]);
		else
			fprintf(f, "%.*s%s%s\n", (int)(h - lines[i]), lines[i],
				t.hash, h + 2);
	}
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(chmod(t.users, 0600), 0);
}

static void start_mgmt(void)
{
	struct diag_list dl;
	struct audit_opts ao;
	char dir[128], e[256];

	diag_list_init(&dl);
	t.m = mgmt_new(&t.o, &dl);
	cr_assert_not_null(t.m, "mgmt_new: %s (%zu diagnostics)",
			   strerror(errno), dl.n);
	diag_list_free(&dl);
	memset(&ao, 0, sizeof(ao));
	snprintf(dir, sizeof(dir), "%s/audit", t.dir);
	ao.pen = AUDIT_PEN_DEFAULT;
	ao.facility = 13;
	ao.hostname = "gw1.test";
	ao.spool.dir = dir;
	ao.spool.capacity = 1u << 20;
	ao.spool.segment_size = 128u << 10;
	ao.spool.full = SPOOL_FULL_OVERWRITE_OLDEST;
	ao.spool.fsync_ms = 50;
	ao.warn_pct = 80;
	ao.jsonl_path = t.jsonl;
	cr_assert_eq(audit_open(&ao, &t.audit, e, sizeof(e)), 0, "%s", e);
	cr_assert_eq(audit_start(t.audit), 0);
	mgmt_set_audit(t.m, t.audit);
	t.d.audit = t.audit;
	t.d.mgmt = t.m;
}

/* Everything but the mgmt: the caller adjusts t.o, then start_mgmt. */
static void base_setup(void)
{
	struct diag_list dl;
	FILE *f;

	log_init("test_mgmt", 0, LOG_LEVEL_ERR);
	memset(&t, 0, sizeof(t));
	snprintf(t.dir, sizeof(t.dir), "/tmp/test_mgmt.XXXXXX");
	cr_assert_not_null(mkdtemp(t.dir));
	snprintf(t.users, sizeof(t.users), "%s/users", t.dir);
	snprintf(t.jsonl, sizeof(t.jsonl), "%s/audit.jsonl", t.dir);
	snprintf(t.common, sizeof(t.common), "%s/common", t.dir);
	f = fopen(t.common, "w");
	cr_assert_not_null(f);
	fprintf(f, "%s\n", COMMON_PW);
	fclose(f);
	cr_assert_eq(auth_hash(PW, 1, t.hash, sizeof(t.hash)), 0);
	write_users(default_users);

	cr_assert_eq(conf_init(&t.conf), 0);
	free(t.conf.state_dir);
	t.conf.state_dir = strdup(t.dir);
	cr_assert_not_null(t.conf.state_dir);
	t.d.conf = &t.conf;
	t.d.started = time(NULL);
	t.d.generation = 1;
	t.d.user = "conduitd";
	t.d.island = true; /* cmd_install compiles, never commits */
	t.d.policy_name = strdup("office.yaml");
	diag_list_init(&dl);
	cr_assert_eq(policy_load_buffer("office.yaml", policy_text,
					sizeof(policy_text) - 1, 0, &t.d.policy,
					&dl),
		     0);
	diag_list_free(&dl);

	mgmt_opts_default(&t.o);
	t.o.users_file = t.users;
	t.o.cost = 1;
	t.o.pw.common_file = t.common;
}

static void setup(void)
{
	base_setup();
	start_mgmt();
}

static void rm_tree(const char *dir)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}

static void teardown(void)
{
	if (t.m) {
		mgmt_set_audit(t.m, NULL);
		mgmt_free(t.m);
	}
	if (t.audit)
		audit_close(t.audit, 0);
	json_decref(t.records);
	policy_free(t.d.policy);
	free(t.d.policy_name);
	conf_free(&t.conf);
	rm_tree(t.dir);
}

/* --- peers and requests ---------------------------------------------------- */

static void peer_unix(struct srv_peer *p, uid_t uid)
{
	memset(p, 0, sizeof(*p));
	p->client = ++t.next_client;
	p->channel = SRV_CH_UNIX;
	p->uid = uid;
	p->gid = uid;
	p->pid = 1000 + (pid_t)t.next_client;
	snprintf(p->addr, sizeof(p->addr), "uid %u pid %d", (unsigned)uid,
		 (int)p->pid);
}

/* A TLS peer from host; cn: a verified client certificate of that CN. */
static void peer_tls(struct srv_peer *p, const char *host, const char *cn)
{
	memset(p, 0, sizeof(*p));
	p->client = ++t.next_client;
	p->channel = SRV_CH_TLS;
	snprintf(p->host, sizeof(p->host), "%s", host);
	snprintf(p->addr, sizeof(p->addr), "%s:%u", host,
		 40000u + (unsigned)t.next_client);
	snprintf(p->tls_version, sizeof(p->tls_version), "TLSv1.3");
	if (cn != NULL) {
		p->cert = true;
		snprintf(p->cert_cn, sizeof(p->cert_cn), "%s", cn);
	}
}

/* The server's close of a connection. */
static void peer_close(struct srv_peer *p, enum srv_close_reason why)
{
	mgmt_on_close(t.m, p, why, "");
	cr_assert_null(p->session);
}

/* One request (args stolen); the response, or SRV_DEFERRED. */
static json_t *req(struct srv_peer *p, const char *cmd, json_t *args)
{
	static uint64_t id;
	json_t *r = ctl_request_new(++id, cmd, args);
	json_t *resp;

	cr_assert_not_null(r);
	resp = mgmt_request(t.m, &t.d, r, p);
	json_decref(r);
	cr_assert_not_null(resp, "%s: no response", cmd);
	return resp;
}

static const char *code_of(const json_t *resp)
{
	const char *c = json_string_value(
		json_object_get(json_object_get(resp, "error"), "code"));

	return c ? c : "(ok)";
}

static const char *msg_of(const json_t *resp)
{
	const char *c = json_string_value(
		json_object_get(json_object_get(resp, "error"), "message"));

	return c ? c : "";
}

/* A request that must fail with code; returns its message (static). */
static const char *fails(struct srv_peer *p, const char *cmd, json_t *args,
			 const char *code)
{
	static char msg[512];
	json_t *r = req(p, cmd, args);

	cr_assert_neq(r, SRV_DEFERRED, "%s deferred", cmd);
	cr_assert(json_is_false(json_object_get(r, "ok")), "%s succeeded", cmd);
	cr_assert_str_eq(code_of(r), code, "%s: %s", cmd, msg_of(r));
	snprintf(msg, sizeof(msg), "%s", msg_of(r));
	json_decref(r);
	return msg;
}

/* A request that must succeed; its response (the caller frees it). */
static json_t *succeeds(struct srv_peer *p, const char *cmd, json_t *args)
{
	json_t *r = req(p, cmd, args);

	cr_assert_neq(r, SRV_DEFERRED, "%s deferred", cmd);
	cr_assert(json_is_true(json_object_get(r, "ok")), "%s: %s: %s", cmd,
		  code_of(r), msg_of(r));
	return r;
}

static void succeeds_free(struct srv_peer *p, const char *cmd, json_t *args)
{
	json_decref(succeeds(p, cmd, args));
}

static const json_t *result(const json_t *r)
{
	return json_object_get(r, "result");
}

/* auth.login or auth.unlock on p, then waits (up to 10 s) for the
 * hashing thread and the verdict; true when the session is active. */
static bool deferred_auth(struct srv_peer *p, const char *cmd, json_t *args)
{
	json_t *r = req(p, cmd, args);
	const struct sess *s;
	enum sess_state st;
	unsigned fails0;

	cr_assert_eq(r, SRV_DEFERRED, "%s answered at once: %s %s", cmd,
		     code_of(r), msg_of(r));
	s = p->session;
	cr_assert_not_null(s);
	st = s->state;
	fails0 = s->failures;
	for (int i = 0; i < 100; i++) {
		struct pollfd pfd = { .fd = mgmt_event_fd(t.m),
				      .events = POLLIN };

		if (poll(&pfd, 1, 100) > 0)
			mgmt_on_event(t.m, &t.d);
		s = p->session;
		if (s == NULL || s->state != st || s->failures != fails0)
			return s != NULL && s->state == SESS_ACTIVE;
	}
	cr_assert_fail("%s: no verdict within 10 s", cmd);
	return false;
}

static bool login(struct srv_peer *p, const char *user, const char *pw,
		  const char *code)
{
	json_t *a = json_pack("{s:s, s:s}", "user", user, "password", pw);

	if (code != NULL)
		json_object_set_new(a, "totp", json_string(code));
	return deferred_auth(p, "auth.login", a);
}

/* The TOTP code of a base32 secret now. */
static void code_now(const char *b32, char out[8])
{
	uint8_t key[64];
	uint32_t c;
	int n = totp_b32_decode(b32, key, sizeof(key));

	cr_assert_gt(n, 0);
	cr_assert_eq(totp_code(key, (size_t)n, time(NULL), 6, &c), 0);
	snprintf(out, 8, "%06u", (unsigned)c);
}

/* --- audit records ----------------------------------------------------------- */

/* Stops the pipeline and reads back every record (JSON Lines). */
static void audit_records(void)
{
	FILE *f;
	char line[16384];

	mgmt_set_audit(t.m, NULL);
	t.d.audit = NULL;
	audit_close(t.audit, 0);
	t.audit = NULL;
	t.records = json_array();
	f = fopen(t.jsonl, "r");
	cr_assert_not_null(f, "%s: %s", t.jsonl, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		json_t *j = json_loads(line, 0, NULL);

		cr_assert_not_null(j, "bad JSON Lines record: %s", line);
		json_array_append_new(t.records, j);
	}
	fclose(f);
}

/* Records of msgid whose params match the key=value pairs (NULL-ended). */
static size_t count_records(const char *msgid, ...)
{
	size_t i, n = 0;
	json_t *r;

	json_array_foreach(t.records, i, r)
	{
		const json_t *pm = json_object_get(r, "params");
		bool match = true;
		const char *k;
		va_list ap;

		if (strcmp(json_string_value(json_object_get(r, "msgid")),
			   msgid) != 0)
			continue;
		va_start(ap, msgid);
		while (match && (k = va_arg(ap, const char *)) != NULL) {
			const char *v = va_arg(ap, const char *);
			const char *got =
				json_string_value(json_object_get(pm, k));

			match = got != NULL && strcmp(got, v) == 0;
		}
		va_end(ap);
		n += match;
	}
	return n;
}

/* No record holds s anywhere (secrets). */
static void expect_nowhere(const char *s)
{
	size_t i;
	json_t *r;

	json_array_foreach(t.records, i, r)
	{
		char *text = json_dumps(r, 0);

		cr_expect_null(strstr(text, s), "a record holds \"%s\": %s", s,
			       text);
		free(text);
	}
}

static const json_t *list_user(const json_t *resp, const char *name)
{
	size_t i;
	const json_t *u;

	json_array_foreach(json_object_get(result(resp), "users"), i, u)
	{
		if (strcmp(json_string_value(json_object_get(u, "name")),
			   name) == 0)
			return u;
	}
	return NULL;
}

/* A refused connection: closed after the answer, and whatever session
 * slot it held is not authenticated (the close fn frees it). */
static void expect_refused(const struct srv_peer *p)
{
	const struct sess *s = p->session;

	cr_expect(p->close_after);
	if (s != NULL) {
		cr_expect_eq(s->state, SESS_UNAUTH);
		cr_expect_str_eq(s->user, "");
	}
}

/* --- tests --------------------------------------------------------------------- */

/* CR 1.1, CR 1.1 RE(1) */
Test(mgmt, unix_peer_mapped_gets_a_session_with_its_role, .init = setup,
     .fini = teardown)
{
	struct srv_peer a, c;
	const json_t *s;
	json_t *r;

	peer_unix(&a, 1); /* daemon -> alice */
	r = succeeds(&a, "hello", NULL);
	s = json_object_get(result(r), "session");
	cr_expect_str_eq(json_string_value(json_object_get(s, "user")),
			 "alice");
	cr_expect_str_eq(json_string_value(json_object_get(s, "role")),
			 "admin");
	cr_expect_str_eq(json_string_value(json_object_get(s, "method")),
			 "peercred");
	cr_expect_str_eq(json_string_value(json_object_get(s, "channel")),
			 "unix");
	cr_expect(json_is_false(json_object_get(
		json_object_get(result(r), "auth"), "required")));
	cr_expect_str_eq(
		json_string_value(json_object_get(result(r), "banner")),
		MGMT_BANNER_DEFAULT);
	json_decref(r);

	peer_unix(&c, 3); /* sys -> carol */
	r = succeeds(&c, "status", NULL);
	json_decref(r);
	cr_assert_not_null(c.session);
	cr_expect_str_eq(((struct sess *)c.session)->user, "carol");
	cr_expect_eq(((struct sess *)c.session)->role, AUTH_ROLE_VIEWER);
	peer_close(&a, SRV_CLOSE_PEER);
	peer_close(&c, SRV_CLOSE_PEER);

	audit_records();
	cr_expect_eq(count_records("MGMT_LOGIN", "user", "alice", "role",
				   "admin", "method", "peercred", NULL),
		     1);
	cr_expect_eq(count_records("MGMT_LOGIN", "user", "carol", NULL), 1);
	cr_expect_eq(count_records("MGMT_LOGOUT", "user", "carol", "reason",
				   "closed", NULL),
		     1);
	/* every command is audited, hello excepted */
	cr_expect_eq(count_records("MGMT_COMMAND", "command", "status", "user",
				   "carol", "outcome", "ok", NULL),
		     1);
}

/* CR 2.1 */
Test(mgmt, unmapped_unix_peer_refused_without_a_session, .init = setup,
     .fini = teardown)
{
	struct srv_peer p, r, a;
	json_t *resp;

	peer_unix(&p, 65534);
	fails(&p, "status", NULL, CTL_ERR_PERMISSION);
	expect_refused(&p);
	/* root is not mapped and an admin exists: no bootstrap either */
	peer_unix(&r, 0);
	fails(&r, "hello", NULL, CTL_ERR_PERMISSION);
	expect_refused(&r);
	peer_close(&p, SRV_CLOSE_REQUEST);
	peer_close(&r, SRV_CLOSE_REQUEST);
	/* nothing of them is left in the session table */
	peer_unix(&a, 1);
	resp = succeeds(&a, "session.list", NULL);
	cr_expect_eq(json_array_size(json_object_get(result(resp), "sessions")),
		     1);
	json_decref(resp);
	peer_close(&a, SRV_CLOSE_PEER);

	audit_records();
	cr_expect_eq(count_records("MGMT_LOGIN_FAIL", "reason",
				   "unix user not mapped to a conduitd user",
				   NULL),
		     2);
	cr_expect_eq(count_records("MGMT_LOGIN_FAIL", "user", "root", NULL), 1);
	cr_expect_eq(count_records("MGMT_LOGIN", NULL), 1); /* alice */
	/* unauthenticated: no session start or end is recorded */
	cr_expect_eq(count_records("MGMT_LOGOUT", "user", "-", NULL), 0);
}

static void bootstrap_setup(void)
{
	static const char *const no_admin[] = {
		"carol:viewer:active:sys:%H:-:-",
		"old:admin:disabled:-:%H:-:-",
		NULL,
	};

	base_setup();
	write_users(no_admin);
	start_mgmt();
}

/* CR 1.1, CR 1.3 */
Test(mgmt, bootstrap_only_while_no_admin_and_only_an_admin,
     .init = bootstrap_setup, .fini = teardown)
{
	struct srv_peer r, r2;
	const json_t *s;
	json_t *resp;

	peer_unix(&r, 0);
	resp = succeeds(&r, "hello", NULL);
	s = json_object_get(result(resp), "session");
	cr_expect_str_eq(json_string_value(json_object_get(s, "method")),
			 "bootstrap");
	json_decref(resp);
	succeeds_free(&r, "status", NULL);
	succeeds_free(&r, "user.list", NULL);
	fails(&r, "policy.show", NULL, CTL_ERR_PERMISSION);
	fails(&r, "session.list", NULL, CTL_ERR_PERMISSION);
	fails(&r, "user.del", json_pack("{s:s}", "name", "carol"),
	      CTL_ERR_PERMISSION);
	cr_expect_str_eq(fails(&r, "user.add",
			       json_pack("{s:s, s:s, s:s}", "name", "root1",
					 "role", "viewer", "unix", "root"),
			       CTL_ERR_PERMISSION),
			 "the first user must be an admin");
	fails(&r, "user.add",
	      json_pack("{s:s, s:s}", "name", "root1", "role", "admin"),
	      CTL_ERR_INVALID_ARGS);
	succeeds_free(&r, "user.add",
		      json_pack("{s:s, s:s, s:s, s:s}", "name", "root1", "role",
				"admin", "unix", "root", "password", PW));

	/* an admin exists: root is now root1 by its mapping */
	peer_unix(&r2, 0);
	resp = succeeds(&r2, "hello", NULL);
	s = json_object_get(result(resp), "session");
	cr_expect_str_eq(json_string_value(json_object_get(s, "user")),
			 "root1");
	cr_expect_str_eq(json_string_value(json_object_get(s, "method")),
			 "peercred");
	json_decref(resp);
	peer_close(&r, SRV_CLOSE_PEER);
	peer_close(&r2, SRV_CLOSE_PEER);

	audit_records();
	cr_expect_eq(count_records("MGMT_LOGIN", "method", "bootstrap", "role",
				   "bootstrap", NULL),
		     1);
	cr_expect_eq(count_records("MGMT_USER", "action", "add", "target",
				   "root1", "target-role", "admin", NULL),
		     1);
	cr_expect_eq(count_records("MGMT_DENIED", "reason", "bootstrap session",
				   NULL),
		     3);
	expect_nowhere(PW);
}

/* The bootstrap session ends with the first admin: the same root
 * connection cannot create a second one. */
/* CR 1.3 */
Test(mgmt, bootstrap_session_ends_with_the_first_admin, .init = bootstrap_setup,
     .fini = teardown)
{
	struct srv_peer r;

	peer_unix(&r, 0);
	succeeds_free(&r, "user.add",
		      json_pack("{s:s, s:s, s:s}", "name", "first", "role",
				"admin", "password", PW));
	/* the bootstrap right is "while no admin exists": the same
	 * connection must not create a second admin */
	fails(&r, "user.add",
	      json_pack("{s:s, s:s, s:s}", "name", "second", "role", "admin",
			"password", PW),
	      CTL_ERR_PERMISSION);
	peer_close(&r, SRV_CLOSE_PEER);
}

struct rbac_case {
	const char *cmd;
	const char *args; /* JSON or NULL */
	unsigned allowed; /* bit per enum auth_role */
	const char *code; /* when allowed: expected code, NULL = ok */
};

#define R(x) (1u << (x))

/* CR 2.1 RE(1) */
Test(mgmt, rbac_through_requests_for_every_role, .init = setup,
     .fini = teardown)
{
	static const struct {
		uid_t uid;
		enum auth_role role;
	} peers[] = {
		{ 3, AUTH_ROLE_VIEWER },   { 4, AUTH_ROLE_OPERATOR },
		{ 2, AUTH_ROLE_ENGINEER }, { 5, AUTH_ROLE_AUDITOR },
		{ 1, AUTH_ROLE_ADMIN },
	};
	const unsigned all = R(AUTH_ROLE_VIEWER) | R(AUTH_ROLE_OPERATOR) |
			     R(AUTH_ROLE_ENGINEER) | R(AUTH_ROLE_AUDITOR) |
			     R(AUTH_ROLE_ADMIN);
	const unsigned ea = R(AUTH_ROLE_ENGINEER) | R(AUTH_ROLE_ADMIN);
	const struct rbac_case cases[] = {
		{ "status", NULL, all, NULL },
		{ "stats", NULL, all & ~R(AUTH_ROLE_AUDITOR), NULL },
		{ "session.list", NULL, all & ~R(AUTH_ROLE_AUDITOR), NULL },
		{ "policy.show", NULL, all & ~R(AUTH_ROLE_AUDITOR), NULL },
		/* island is only ever refused here (nft NULL) */
		{ "island", "{\"on\":true}",
		  R(AUTH_ROLE_OPERATOR) | R(AUTH_ROLE_ENGINEER) |
			  R(AUTH_ROLE_ADMIN),
		  "skip" },
		{ "policy.diff", "{\"content\":\"version: 9\\n\"}", ea,
		  CTL_ERR_POLICY_INVALID },
		{ "policy.pending", NULL, ea, NULL },
		{ "user.list", NULL, R(AUTH_ROLE_ADMIN), NULL },
		{ "session.kill", "{\"id\":999}", R(AUTH_ROLE_ADMIN),
		  CTL_ERR_INVALID_ARGS },
		{ "user.lock", "{\"name\":\"nosuch\"}", R(AUTH_ROLE_ADMIN),
		  CTL_ERR_INVALID_ARGS },
	};
	size_t denied = 0;

	for (size_t i = 0; i < sizeof(peers) / sizeof(peers[0]); i++) {
		struct srv_peer p;

		peer_unix(&p, peers[i].uid);
		for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
			const struct rbac_case *c = &cases[k];
			bool ok = c->allowed & R(peers[i].role);
			json_t *args = c->args ? json_loads(c->args, 0, NULL) :
						 NULL;
			json_t *r;

			if (ok && c->code && strcmp(c->code, "skip") == 0) {
				json_decref(args);
				continue;
			}
			r = req(&p, c->cmd, args);
			cr_assert_neq(r, SRV_DEFERRED);
			if (!ok) {
				denied++;
				cr_expect_str_eq(code_of(r), CTL_ERR_PERMISSION,
						 "%s as %s", c->cmd,
						 auth_role_name(peers[i].role));
			} else {
				cr_expect_str_eq(code_of(r),
						 c->code ? c->code : "(ok)",
						 "%s as %s: %s", c->cmd,
						 auth_role_name(peers[i].role),
						 msg_of(r));
			}
			json_decref(r);
		}
		peer_close(&p, SRV_CLOSE_PEER);
	}
	cr_assert_eq(denied, 23);
	audit_records();
	/* every denial is audited, with the role and the allowed ones */
	cr_expect_eq(count_records("MGMT_DENIED", NULL), denied);
	cr_expect_eq(count_records("MGMT_DENIED", "user", "carol", "command",
				   "island", "reason",
				   "role viewer may not run island (allowed: "
				   "operator,engineer,admin)",
				   NULL),
		     1);
}

static bool file_has(const char *path, const char *s)
{
	char buf[16384];
	FILE *f = fopen(path, "r");
	size_t n;

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, s) != NULL;
}

static void expect_mode_0600(void)
{
	struct stat st;

	cr_assert_eq(stat(t.users, &st), 0);
	cr_expect_eq(st.st_mode & 07777, 0600, "users file mode %o",
		     (unsigned)(st.st_mode & 07777));
	cr_expect_eq(st.st_uid, geteuid());
}

/* CR 1.3, CR 1.5 */
Test(mgmt, user_add_del_list_and_the_file, .init = setup, .fini = teardown)
{
	struct auth_store st = { 0 };
	struct diag_list dl;
	struct srv_peer a;
	const json_t *u;
	json_t *r;

	peer_unix(&a, 1);
	cr_assert_eq(chmod(t.users, 0400), 0); /* the rewrite sets 0600 */
	succeeds_free(&a, "user.add",
		      json_pack("{s:s, s:s, s:s, s:s}", "name", "gina", "role",
				"operator", "unix", "lp", "password",
				"Tulip-Pass-Word-7x"));
	expect_mode_0600();
	cr_expect(file_has(t.users, "gina:operator:active:lp:$y$"));
	cr_expect(!file_has(t.users, "Tulip-Pass-Word-7x"));
	diag_list_init(&dl);
	cr_assert_eq(auth_store_load(t.users, &st, &dl), 0);
	diag_list_free(&dl);
	cr_assert_not_null(auth_store_find(&st, "gina"));
	cr_expect(auth_verify("Tulip-Pass-Word-7x",
			      auth_store_find(&st, "gina")->hash));
	auth_store_free(&st);

	cr_expect_not_null(strstr(
		fails(&a, "user.add",
		      json_pack("{s:s, s:s}", "name", "gina", "role", "viewer"),
		      CTL_ERR_INVALID_ARGS),
		"exists"));
	/* one Unix account maps to one user */
	cr_expect_str_eq(fails(&a, "user.add",
			       json_pack("{s:s, s:s, s:s}", "name", "hal",
					 "role", "viewer", "unix", "daemon"),
			       CTL_ERR_INVALID_ARGS),
			 "unix user daemon is already mapped to alice");
	cr_expect_not_null(strstr(
		fails(&a, "user.add",
		      json_pack("{s:s, s:s}", "name", "hal", "role", "boss"),
		      CTL_ERR_INVALID_ARGS),
		"role \"boss\""));
	cr_expect_not_null(
		strstr(fails(&a, "user.add",
			     json_pack("{s:s, s:s}", "name", "Hal Smith",
				       "role", "viewer"),
			     CTL_ERR_INVALID_ARGS),
		       "user name"));
	fails(&a, "user.add",
	      json_pack("{s:s, s:s, s:s}", "name", "hal", "role", "viewer",
			"unix", "a:b"),
	      CTL_ERR_INVALID_ARGS);
	/* without a password: "!" (local only) */
	succeeds_free(&a, "user.add",
		      json_pack("{s:s, s:s}", "name", "hal", "role", "viewer"));
	cr_expect(file_has(t.users, "hal:viewer:active:-:!:"));

	r = succeeds(&a, "user.list", NULL);
	u = list_user(r, "gina");
	cr_assert_not_null(u);
	cr_expect_str_eq(json_string_value(json_object_get(u, "role")),
			 "operator");
	cr_expect_str_eq(json_string_value(json_object_get(u, "unix")), "lp");
	cr_expect_str_eq(json_string_value(json_object_get(u, "state")),
			 "active");
	cr_expect(json_is_true(json_object_get(u, "password")));
	cr_expect(json_is_false(
		json_object_get(list_user(r, "hal"), "password")));
	cr_expect(json_is_true(json_object_get(list_user(r, "dave"), "totp")));
	cr_expect_eq(json_array_size(json_object_get(result(r), "users")), 10);
	{
		char *text = json_dumps(r, 0);

		cr_expect_null(strstr(text, "$y$"), "hashes listed: %s", text);
		cr_expect_null(strstr(text, DAVE_TOTP), "secret listed");
		free(text);
	}
	json_decref(r);

	succeeds_free(&a, "user.del", json_pack("{s:s}", "name", "gina"));
	cr_expect(!file_has(t.users, "gina:"));
	fails(&a, "user.del", json_pack("{s:s}", "name", "gina"),
	      CTL_ERR_INVALID_ARGS);
	expect_mode_0600();
	peer_close(&a, SRV_CLOSE_PEER);

	audit_records();
	cr_expect_eq(count_records("MGMT_USER", "action", "add", "target",
				   "gina", NULL),
		     1);
	cr_expect_eq(count_records("MGMT_USER", "action", "delete", "target",
				   "gina", NULL),
		     1);
	cr_expect_eq(count_records("MGMT_COMMAND", "command", "user.add",
				   "outcome", "error", NULL),
		     5);
	expect_nowhere("Tulip-Pass-Word-7x");
}

/* CR 1.3 */
Test(mgmt, last_active_admin_cannot_go_and_lock_ends_logins, .init = setup,
     .fini = teardown)
{
	struct srv_peer a, z, a2, a3;

	peer_unix(&a, 1);
	cr_expect_str_eq(fails(&a, "user.del",
			       json_pack("{s:s}", "name", "alice"),
			       CTL_ERR_INVALID_ARGS),
			 "alice is the last active admin");
	cr_expect_str_eq(fails(&a, "user.lock",
			       json_pack("{s:s}", "name", "alice"),
			       CTL_ERR_INVALID_ARGS),
			 "alice is the last active admin");
	succeeds_free(&a, "user.add",
		      json_pack("{s:s, s:s, s:s}", "name", "zoe", "role",
				"admin", "unix", "lp"));
	peer_unix(&z, 7);
	succeeds_free(&z, "user.lock", json_pack("{s:s}", "name", "alice"));
	cr_expect(file_has(t.users, "alice:admin:disabled:daemon:"));
	/* a new connection of alice's Unix account is refused now */
	peer_unix(&a2, 1);
	fails(&a2, "status", NULL, CTL_ERR_PERMISSION);
	/* zoe is the last active admin now */
	cr_expect_str_eq(fails(&z, "user.lock",
			       json_pack("{s:s}", "name", "zoe"),
			       CTL_ERR_INVALID_ARGS),
			 "zoe is the last active admin");
	succeeds_free(&z, "user.unlock", json_pack("{s:s}", "name", "alice"));
	peer_unix(&a3, 1);
	succeeds_free(&a3, "status", NULL);
	/* a user deleted in the middle of a session: that session ends */
	succeeds_free(&a3, "user.del", json_pack("{s:s}", "name", "zoe"));
	peer_close(&a, SRV_CLOSE_KILLED);
	peer_close(&z, SRV_CLOSE_KILLED);
	peer_close(&a3, SRV_CLOSE_PEER);

	audit_records();
	cr_expect_eq(count_records("MGMT_USER", "action", "lock", "target",
				   "alice", NULL),
		     1);
	/* the record names the Unix account that asked */
	cr_expect_eq(count_records("MGMT_LOGIN_FAIL", "user", "daemon",
				   "reason", "mapped user is disabled", NULL),
		     1);
	cr_expect_eq(count_records("MGMT_LOGOUT", "user", "alice", "reason",
				   "user locked", "by", "zoe", NULL),
		     1);
	cr_expect_eq(count_records("MGMT_LOGOUT", "user", "zoe", "reason",
				   "user deleted", NULL),
		     1);
}

/* CR 1.7 */
Test(mgmt, password_policy_reasons, .init = setup, .fini = teardown)
{
	struct srv_peer a, c;
	static const struct {
		const char *pw, *why;
	} bad[] = {
		{ "Sh0rt-pw", "shorter than 12 characters" },
		{ "onlylowercaseletters", "needs 3 of: lower case, upper case, "
					  "digits, other" },
		{ "Carol-Rules-2024", "contains the user name" },
		{ COMMON_PW, "is a commonly used password" },
		{ PW, "was used before" },
	};

	peer_unix(&a, 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char want[160];

		snprintf(want, sizeof(want), "password rejected: %s",
			 bad[i].why);
		cr_expect_str_eq(fails(&a, "user.passwd",
				       json_pack("{s:s, s:s}", "name", "carol",
						 "password", bad[i].pw),
				       CTL_ERR_INVALID_ARGS),
				 want, "%s", bad[i].pw);
	}
	cr_expect(file_has(t.users, t.hash)); /* nothing changed */
	succeeds_free(&a, "user.passwd",
		      json_pack("{s:s, s:s}", "name", "carol", "password",
				"Another-Good-Pass-1"));
	/* the previous one is in the history now */
	cr_expect_str_eq(
		fails(&a, "user.passwd",
		      json_pack("{s:s, s:s}", "name", "carol", "password", PW),
		      CTL_ERR_INVALID_ARGS),
		"password rejected: was used before");
	/* one's own password: the old one first */
	peer_unix(&c, 3);
	cr_expect_str_eq(fails(&c, "auth.passwd",
			       json_pack("{s:s, s:s}", "old", "wrong", "new",
					 "Third-Good-Pass-22"),
			       CTL_ERR_AUTH_FAILED),
			 "authentication failed");
	succeeds_free(&c, "auth.passwd",
		      json_pack("{s:s, s:s}", "old", "Another-Good-Pass-1",
				"new", "Third-Good-Pass-22"));
	cr_expect_str_eq(
		fails(&c, "user.passwd",
		      json_pack("{s:s, s:s}", "name", "carol", "password",
				"Fourth-Good-Pass-3"),
		      CTL_ERR_PERMISSION),
		"role viewer may not run user.passwd (allowed: admin)");
	expect_mode_0600();
	peer_close(&a, SRV_CLOSE_PEER);
	peer_close(&c, SRV_CLOSE_PEER);

	audit_records();
	cr_expect_eq(count_records("MGMT_USER", "action", "password", "target",
				   "carol", NULL),
		     2);
	expect_nowhere("Another-Good-Pass-1");
	expect_nowhere("Third-Good-Pass-22");
	expect_nowhere(COMMON_PW);
}

/* CR 1.1 RE(2) */
Test(mgmt, totp_enroll_then_remote_login_and_no_replay, .init = setup,
     .fini = teardown)
{
	struct srv_peer a, p1, p2, p3;
	char secret[TOTP_B32_MAX + 1], code[8];
	const json_t *res;
	json_t *r;

	peer_unix(&a, 1);
	r = succeeds(&a, "user.totp-enroll",
		     json_pack("{s:s}", "name", "erin"));
	res = result(r);
	snprintf(secret, sizeof(secret), "%s",
		 json_string_value(json_object_get(res, "secret")));
	cr_expect_geq(strlen(secret), 32); /* 160 bits */
	cr_expect_eq(strncmp(json_string_value(json_object_get(res, "uri")),
			     "otpauth://totp/", 15),
		     0);
	cr_expect_not_null(
		strstr(json_string_value(json_object_get(res, "uri")), secret));
	json_decref(r);
	cr_expect(file_has(t.users, secret));

	/* a remote session needs a login first */
	peer_tls(&p1, "127.0.0.1", NULL);
	r = succeeds(&p1, "hello", NULL);
	cr_expect(json_is_true(json_object_get(
		json_object_get(result(r), "auth"), "required")));
	cr_expect_str_eq(
		json_string_value(json_object_get(
			json_object_get(result(r), "session"), "state")),
		"unauthenticated");
	json_decref(r);
	fails(&p1, "status", NULL, CTL_ERR_AUTH_REQUIRED);
	/* the password alone is not enough */
	cr_expect(!login(&p1, "erin", PW, NULL));
	code_now(secret, code);
	cr_expect(!login(&p1, "erin", "Wrong-Password-1", code));
	cr_assert(login(&p1, "erin", PW, code));
	cr_expect_str_eq(((struct sess *)p1.session)->user, "erin");
	cr_expect_eq(((struct sess *)p1.session)->method, SESS_M_PASSWORD_TOTP);
	succeeds_free(&p1, "status", NULL);
	fails(&p1, "user.list", NULL, CTL_ERR_PERMISSION);
	fails(&p1, "auth.login",
	      json_pack("{s:s, s:s}", "user", "erin", "password", PW),
	      CTL_ERR_BAD_REQUEST);
	/* the same code again, on another connection: replay */
	peer_tls(&p2, "127.0.0.1", NULL);
	cr_expect(!login(&p2, "erin", PW, code));
	cr_expect_eq(((struct sess *)p2.session)->state, SESS_UNAUTH);
	/* the local socket does not take logins */
	fails(&a, "auth.login",
	      json_pack("{s:s, s:s}", "user", "alice", "password", PW),
	      CTL_ERR_BAD_REQUEST);
	/* a certificate of another user does not stand in for the TOTP */
	peer_tls(&p3, "127.0.0.1", "bob");
	cr_expect(!login(&p3, "erin", PW, NULL));
	succeeds_free(&p1, "auth.logout", NULL);
	cr_expect(p1.close_after);
	peer_close(&p1, SRV_CLOSE_REQUEST);
	peer_close(&p2, SRV_CLOSE_PEER);
	peer_close(&p3, SRV_CLOSE_PEER);
	peer_close(&a, SRV_CLOSE_PEER);

	audit_records();
	cr_expect_eq(count_records("MGMT_USER", "action", "totp-enroll",
				   "target", "erin", NULL),
		     1);
	cr_expect_eq(count_records("MGMT_LOGIN", "user", "erin", "method",
				   "password+totp", "channel", "tls", NULL),
		     1);
	/* no code, the replayed code, and a foreign certificate */
	cr_expect_eq(count_records("MGMT_LOGIN_FAIL", "user", "erin", "reason",
				   "wrong or reused TOTP code", NULL),
		     3);
	cr_expect_eq(count_records("MGMT_LOGIN_FAIL", "user", "erin", "reason",
				   "wrong password", NULL),
		     1);
	cr_expect_eq(count_records("MGMT_LOGOUT", "user", "erin", "reason",
				   "logout", NULL),
		     1);
	expect_nowhere(secret);
	expect_nowhere(PW);
}

static void lockout_setup(void)
{
	base_setup();
	t.o.lockout.max_failures = 3;
	t.o.lockout.window_s = 900;
	t.o.lockout.lock_s = 900;
	start_mgmt();
}

/* CR 1.10, CR 1.11 */
Test(mgmt, lockout_after_failures_and_one_answer_for_all, .init = lockout_setup,
     .fini = teardown)
{
	struct srv_peer p[6], a;
	char code[8];
	const json_t *u;
	json_t *r;

	/* an unknown user takes the same deferred path as a wrong
	 * password: the answer and its timing cannot tell them apart */
	peer_tls(&p[0], "127.0.0.1", NULL);
	cr_expect(!login(&p[0], "ghost", PW, "123456"));
	cr_expect_eq(((struct sess *)p[0].session)->failures, 1);
	cr_expect(!login(&p[0], "dave", "Wrong-Password-1", "123456"));
	cr_expect_eq(((struct sess *)p[0].session)->failures, 2);
	cr_expect(!login(&p[0], "dave", "Wrong-Password-2", "123456"));
	/* three failures on one connection close it */
	cr_expect(p[0].close_after);
	peer_close(&p[0], SRV_CLOSE_PEER);
	peer_tls(&p[1], "127.0.0.1", NULL);
	cr_expect(!login(&p[1], "dave", "Wrong-Password-3", "123456"));
	/* dave is locked: the right password and code fail too */
	code_now(DAVE_TOTP, code);
	cr_expect(!login(&p[1], "dave", PW, code));
	peer_unix(&a, 1);
	r = succeeds(&a, "user.list", NULL);
	u = list_user(r, "dave");
	cr_expect(json_is_true(json_object_get(u, "locked")));
	cr_expect(json_is_integer(json_object_get(u, "locked_until")));
	cr_expect_eq(json_integer_value(json_object_get(u, "failures")), 3);
	cr_expect(
		json_is_false(json_object_get(list_user(r, "erin"), "locked")));
	json_decref(r);
	/* an admin unlocks */
	succeeds_free(&a, "user.unlock", json_pack("{s:s}", "name", "dave"));
	peer_tls(&p[2], "127.0.0.1", NULL);
	cr_expect(login(&p[2], "dave", PW, code));
	peer_close(&p[1], SRV_CLOSE_PEER);
	peer_close(&p[2], SRV_CLOSE_PEER);
	peer_close(&a, SRV_CLOSE_PEER);

	audit_records();
	cr_expect_eq(count_records("MGMT_LOCKOUT", "user", "dave", "seconds",
				   "900", NULL),
		     1);
	cr_expect_eq(count_records("MGMT_LOGIN_FAIL", "user", "ghost", "reason",
				   "unknown user", NULL),
		     1);
	cr_expect_eq(count_records("MGMT_LOGIN_FAIL", "user", "dave", "reason",
				   "user locked out", NULL),
		     1);
	cr_expect_eq(count_records("MGMT_LOGIN_FAIL", "user", "dave", "reason",
				   "wrong password", NULL),
		     3);
	cr_expect_eq(count_records("MGMT_LOGIN", "user", "dave", NULL), 1);
	expect_nowhere("Wrong-Password-");
}

static void idle_setup(void)
{
	base_setup();
	t.o.idle_lock_s = 1;
	start_mgmt();
}

/* CR 2.5 */
Test(mgmt, idle_lock_needs_reauthentication, .init = idle_setup,
     .fini = teardown)
{
	struct srv_peer p, a;
	json_t *r;

	peer_tls(&p, "::1", "dave"); /* certificate + password */
	cr_assert(login(&p, "dave", PW, NULL));
	cr_expect_eq(((struct sess *)p.session)->method, SESS_M_CERT_PASSWORD);
	peer_unix(&a, 1);
	succeeds_free(&a, "status", NULL);
	sleep(2);
	mgmt_tick(t.m, 0);
	cr_assert_eq(((struct sess *)p.session)->state, SESS_LOCKED);
	/* local sessions are never idle-locked */
	cr_expect_eq(((struct sess *)a.session)->state, SESS_ACTIVE);
	fails(&p, "status", NULL, CTL_ERR_SESSION_LOCKED);
	r = succeeds(&p, "hello", NULL);
	cr_expect_str_eq(
		json_string_value(json_object_get(
			json_object_get(result(r), "session"), "state")),
		"locked");
	json_decref(r);
	cr_expect(
		!deferred_auth(&p, "auth.unlock",
			       json_pack("{s:s}", "password", "Nope-Nope-1")));
	cr_expect(deferred_auth(&p, "auth.unlock",
				json_pack("{s:s}", "password", PW)));
	succeeds_free(&p, "status", NULL);
	peer_close(&p, SRV_CLOSE_PEER);
	peer_close(&a, SRV_CLOSE_PEER);

	audit_records();
	cr_expect_eq(count_records("MGMT_SESSION", "user", "dave", "action",
				   "locked", "reason", "idle", NULL),
		     1);
	cr_expect_eq(count_records("MGMT_LOGIN", "user", "dave", "action",
				   "unlock", NULL),
		     1);
	cr_expect_eq(count_records("MGMT_DENIED", "user", "dave", "reason",
				   "session locked", NULL),
		     1);
}

static void caps_setup(void)
{
	base_setup();
	t.o.max_per_user = 2;
	start_mgmt();
}

/* CR 2.6 */
Test(mgmt, session_list_and_kill, .init = caps_setup, .fini = teardown)
{
	struct srv_peer a, c1, c2, b;
	uint32_t c1_id;
	const json_t *s;
	size_t i;
	json_t *r;

	peer_unix(&a, 1);
	peer_unix(&c1, 3);
	peer_unix(&c2, 3);
	peer_unix(&b, 2);
	succeeds_free(&a, "status", NULL);
	succeeds_free(&c1, "status", NULL);
	succeeds_free(&b, "status", NULL);
	r = succeeds(&c2, "session.list", NULL);
	/* a viewer sees only her own two sessions */
	cr_expect_eq(json_array_size(json_object_get(result(r), "sessions")),
		     2);
	json_array_foreach(json_object_get(result(r), "sessions"), i, s)
	{
		cr_expect_str_eq(json_string_value(json_object_get(s, "user")),
				 "carol");
		cr_expect_eq(json_is_true(json_object_get(s, "current")),
			     json_integer_value(json_object_get(s, "id")) ==
				     ((struct sess *)c2.session)->id);
	}
	json_decref(r);
	r = succeeds(&a, "session.list", NULL);
	cr_expect_eq(json_array_size(json_object_get(result(r), "sessions")),
		     4);
	json_decref(r);

	c1_id = ((struct sess *)c1.session)->id;
	fails(&c2, "session.kill", json_pack("{s:i}", "id", (int)c1_id),
	      CTL_ERR_PERMISSION);
	r = succeeds(&a, "session.kill", json_pack("{s:i}", "id", (int)c1_id));
	cr_expect_str_eq(json_string_value(json_object_get(result(r), "user")),
			 "carol");
	json_decref(r);
	peer_close(&c1, SRV_CLOSE_KILLED); /* what srv_kill does */
	fails(&a, "session.kill", json_pack("{s:i}", "id", (int)c1_id),
	      CTL_ERR_INVALID_ARGS);
	r = succeeds(&c2, "session.list", NULL);
	cr_expect_eq(json_array_size(json_object_get(result(r), "sessions")),
		     1);
	json_decref(r);
	/* killing one's own session closes it after the answer */
	r = succeeds(&a, "session.kill",
		     json_pack("{s:i}", "id",
			       (int)((struct sess *)a.session)->id));
	json_decref(r);
	cr_expect(a.close_after);
	peer_close(&a, SRV_CLOSE_REQUEST);
	peer_close(&c2, SRV_CLOSE_PEER);
	peer_close(&b, SRV_CLOSE_PEER);

	audit_records();
	cr_expect_eq(count_records("MGMT_SESSION", "user", "carol", "action",
				   "killed", NULL),
		     1);
	cr_expect_eq(count_records("MGMT_LOGOUT", "user", "carol", "reason",
				   "killed", "by", "alice", NULL),
		     1);
	cr_expect_eq(count_records("MGMT_LOGOUT", "user", "alice", "reason",
				   "killed", NULL),
		     1);
}

/* CR 2.7 */
Test(mgmt, per_user_session_cap, .init = caps_setup, .fini = teardown)
{
	struct srv_peer c[3];

	for (int i = 0; i < 3; i++)
		peer_unix(&c[i], 3);
	succeeds_free(&c[0], "status", NULL);
	succeeds_free(&c[1], "status", NULL);
	cr_expect_not_null(strstr(fails(&c[2], "status", NULL, CTL_ERR_BUSY),
				  "session-max-per-user 2"));
	expect_refused(&c[2]);
	peer_close(&c[2], SRV_CLOSE_REQUEST);
	peer_close(&c[0], SRV_CLOSE_PEER);
	peer_unix(&c[2], 3);
	succeeds_free(&c[2], "status", NULL);
	peer_close(&c[1], SRV_CLOSE_PEER);
	peer_close(&c[2], SRV_CLOSE_PEER);
}

static void approval_setup(void)
{
	base_setup();
	t.o.approval_required = true;
	start_mgmt();
}

/* CR 2.1 RE(4) */
Test(mgmt, dual_approval, .init = approval_setup, .fini = teardown)
{
	struct srv_peer b, b2, c, a;
	const json_t *pend;
	uint64_t gen = t.d.generation;
	json_int_t id1, id2;
	json_t *r;

	peer_unix(&b, 2);  /* bob, engineer */
	peer_unix(&b2, 6); /* bert, engineer */
	peer_unix(&c, 3);  /* carol, viewer */
	peer_unix(&a, 1);  /* alice, admin */
	r = succeeds(&b, "policy.apply",
		     json_pack("{s:s, s:s}", "name", "new.yaml", "content",
			       policy_changed));
	pend = json_object_get(result(r), "pending");
	cr_assert_not_null(pend);
	id1 = json_integer_value(json_object_get(pend, "id"));
	cr_expect_str_eq(json_string_value(json_object_get(pend, "author")),
			 "bob");
	cr_expect_eq(strlen(json_string_value(json_object_get(pend, "sha256"))),
		     64);
	cr_expect(json_is_object(json_object_get(pend, "diff")) ||
		  json_is_array(json_object_get(pend, "diff")));
	json_decref(r);
	cr_expect_eq(t.d.generation, gen, "applied before approval");
	/* an invalid policy is refused at once, not queued */
	fails(&b, "policy.apply", json_pack("{s:s}", "content", "version: 9\n"),
	      CTL_ERR_POLICY_INVALID);
	r = succeeds(&b2, "policy.pending", NULL);
	cr_expect_eq(json_array_size(json_object_get(result(r), "pending")), 1);
	json_decref(r);
	cr_expect_str_eq(fails(&b, "policy.approve",
			       json_pack("{s:I}", "id", id1), CTL_ERR_APPROVAL),
			 "a change needs a second person: its author cannot "
			 "approve it");
	fails(&c, "policy.approve", json_pack("{s:I}", "id", id1),
	      CTL_ERR_PERMISSION);
	succeeds_free(&b2, "policy.approve", json_pack("{s:I}", "id", id1));
	cr_expect_eq(t.d.generation, gen + 1);
	cr_expect_str_eq(t.d.policy_name, "new.yaml");
	fails(&b2, "policy.approve", json_pack("{s:I}", "id", id1),
	      CTL_ERR_APPROVAL);

	/* withdraw: the author or an admin */
	r = succeeds(&b, "policy.apply",
		     json_pack("{s:s}", "content", policy_text));
	id2 = json_integer_value(
		json_object_get(json_object_get(result(r), "pending"), "id"));
	json_decref(r);
	cr_expect_neq(id2, id1);
	fails(&b2, "policy.withdraw", json_pack("{s:I}", "id", id2),
	      CTL_ERR_APPROVAL);
	succeeds_free(&b, "policy.withdraw", json_pack("{s:I}", "id", id2));
	fails(&a, "policy.approve", json_pack("{s:I}", "id", id2),
	      CTL_ERR_APPROVAL);
	r = succeeds(&a, "policy.pending", NULL);
	cr_expect_eq(json_array_size(json_object_get(result(r), "pending")), 0);
	json_decref(r);
	cr_expect_eq(t.d.generation, gen + 1);
	peer_close(&b, SRV_CLOSE_PEER);
	peer_close(&b2, SRV_CLOSE_PEER);
	peer_close(&c, SRV_CLOSE_PEER);
	peer_close(&a, SRV_CLOSE_PEER);

	audit_records();
	cr_expect_eq(count_records("MGMT_APPROVAL", "action", "submitted",
				   "author", "bob", NULL),
		     2);
	cr_expect_eq(count_records("MGMT_APPROVAL", "action",
				   "approval refused", "outcome",
				   "self-approval", NULL),
		     1);
	cr_expect_eq(count_records("MGMT_APPROVAL", "action", "approved",
				   "outcome", "applied", NULL),
		     1);
	cr_expect_eq(
		count_records("MGMT_APPROVAL", "action", "withdrawn", NULL), 1);
	cr_expect_eq(count_records("POLICY_APPLY", "name", "new.yaml", NULL),
		     1);
}

/* CR 3.5 */
Test(mgmt, malformed_requests_answered_and_audited, .init = setup,
     .fini = teardown)
{
	static const char *const bad[] = {
		"[]",
		"{\"id\":1}",
		"{\"id\":1,\"cmd\":\"nope\"}",
		"{\"id\":1,\"cmd\":\"user.add\",\"args\":{\"name\":1}}",
		"{\"id\":1,\"cmd\":\"user.list\",\"args\":{\"x\":true}}",
		"{\"id\":1,\"cmd\":\"session.kill\",\"args\":{\"id\":-3}}",
	};
	struct srv_peer a;

	peer_unix(&a, 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *j = json_loads(bad[i], JSON_DECODE_ANY, NULL);
		json_t *r;

		cr_assert_not_null(j);
		r = mgmt_request(t.m, &t.d, j, &a);
		json_decref(j);
		cr_assert_not_null(r);
		cr_assert_neq(r, SRV_DEFERRED);
		cr_expect(json_is_false(json_object_get(r, "ok")), "%s",
			  bad[i]);
		json_decref(r);
	}
	cr_expect_not_null(a.session); /* the session stays */
	peer_close(&a, SRV_CLOSE_PEER);

	audit_records();
	cr_expect_eq(count_records("MGMT_COMMAND", "outcome", "rejected",
				   "user", "alice", NULL),
		     sizeof(bad) / sizeof(bad[0]));
}
