/*
 * The role table against a matrix written out here (a change of the table
 * must change this file), its coverage of the control protocol's command
 * table, and the dual-approval state machine with a made-up clock and
 * payloads whose frees are counted.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgmt/commands.h"
#include "mgmt/rbac.h"

/* Column order of the matrix: viewer operator engineer auditor admin. */
struct expect {
	const char *command;
	bool allowed[AUTH_ROLE_COUNT];
	const char *roles;
};

static const struct expect matrix[] = {
	/* command             V  O  E  U  A */
	{ "hello", { 1, 1, 1, 1, 1 }, "viewer,operator,engineer,auditor,admin" },
	{ "status",
	  { 1, 1, 1, 1, 1 },
	  "viewer,operator,engineer,auditor,admin" },
	{ "auth.login",
	  { 1, 1, 1, 1, 1 },
	  "viewer,operator,engineer,auditor,admin" },
	{ "auth.unlock",
	  { 1, 1, 1, 1, 1 },
	  "viewer,operator,engineer,auditor,admin" },
	{ "auth.logout",
	  { 1, 1, 1, 1, 1 },
	  "viewer,operator,engineer,auditor,admin" },
	{ "auth.passwd",
	  { 1, 1, 1, 1, 1 },
	  "viewer,operator,engineer,auditor,admin" },
	{ "stats", { 1, 1, 1, 0, 1 }, "viewer,operator,engineer,admin" },
	{ "policy.show", { 1, 1, 1, 0, 1 }, "viewer,operator,engineer,admin" },
	{ "session.list", { 1, 1, 1, 0, 1 }, "viewer,operator,engineer,admin" },
	{ "island", { 0, 1, 1, 0, 1 }, "operator,engineer,admin" },
	{ "policy.check", { 0, 0, 1, 0, 1 }, "engineer,admin" },
	{ "policy.diff", { 0, 0, 1, 0, 1 }, "engineer,admin" },
	{ "policy.apply", { 0, 0, 1, 0, 1 }, "engineer,admin" },
	{ "policy.approve", { 0, 0, 1, 0, 1 }, "engineer,admin" },
	{ "policy.withdraw", { 0, 0, 1, 0, 1 }, "engineer,admin" },
	{ "policy.pending", { 0, 0, 1, 0, 1 }, "engineer,admin" },
	{ "reload", { 0, 0, 1, 0, 1 }, "engineer,admin" },
	{ "audit.tail", { 0, 0, 0, 1, 1 }, "auditor,admin" },
	{ "audit.verify", { 0, 0, 0, 1, 1 }, "auditor,admin" },
	{ "session.kill", { 0, 0, 0, 0, 1 }, "admin" },
	{ "user.add", { 0, 0, 0, 0, 1 }, "admin" },
	{ "user.del", { 0, 0, 0, 0, 1 }, "admin" },
	{ "user.passwd", { 0, 0, 0, 0, 1 }, "admin" },
	{ "user.lock", { 0, 0, 0, 0, 1 }, "admin" },
	{ "user.unlock", { 0, 0, 0, 0, 1 }, "admin" },
	{ "user.list", { 0, 0, 0, 0, 1 }, "admin" },
	{ "user.totp-enroll", { 0, 0, 0, 0, 1 }, "admin" },
	{ "conf.show", { 0, 0, 0, 0, 1 }, "admin" },
};

#define NMATRIX (sizeof(matrix) / sizeof(matrix[0]))

static const char *const role_label[AUTH_ROLE_COUNT] = { "viewer", "operator",
							 "engineer", "auditor",
							 "admin" };

/* CR 2.1 RE(1) */
Test(rbac, every_command_times_every_role)
{
	for (size_t i = 0; i < NMATRIX; i++)
		for (int r = 0; r < AUTH_ROLE_COUNT; r++)
			cr_expect_eq(
				rbac_allowed((enum auth_role)r,
					     matrix[i].command),
				matrix[i].allowed[r], "%s for %s: expected %s",
				matrix[i].command, role_label[r],
				matrix[i].allowed[r] ? "allowed" : "denied");
}

/* CR 2.1 RE(1) */
Test(rbac, table_is_exactly_the_matrix)
{
	size_t n = 0;

	for (const struct rbac_rule *r = rbac_table; r->command; r++, n++) {
		size_t i;

		for (i = 0; i < NMATRIX; i++)
			if (strcmp(matrix[i].command, r->command) == 0)
				break;
		cr_expect_lt(i, NMATRIX, "%s in the table but not the matrix",
			     r->command);
		for (const struct rbac_rule *q = rbac_table; q != r; q++)
			cr_expect_str_neq(q->command, r->command,
					  "%s twice in the table", r->command);
	}
	cr_expect_eq(n, NMATRIX, "table has %zu commands, matrix %zu", n,
		     NMATRIX);
}

/* CR 2.1 RE(1) */
Test(rbac, every_control_command_has_a_rule)
{
	size_t n = 0;

	for (const struct cmd_def *c = cmd_table; c->name; c++, n++) {
		const struct rbac_rule *r;

		for (r = rbac_table; r->command; r++)
			if (strcmp(r->command, c->name) == 0)
				break;
		cr_expect_not_null(r->command, "%s of cmd_table has no rule",
				   c->name);
	}
	cr_assert_gt(n, 0, "cmd_table is empty");
}

/* CR 2.1 */
Test(rbac, unknown_commands_refused_even_for_admin)
{
	static const char *const unknown[] = {
		"", "user", "user.", "USER.ADD", "policy.apply ", "shell"
	};

	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		for (int r = 0; r < AUTH_ROLE_COUNT; r++)
			cr_expect(!rbac_allowed((enum auth_role)r, unknown[i]),
				  "'%s' allowed for %s", unknown[i],
				  role_label[r]);
	cr_expect(!rbac_allowed(AUTH_ROLE_ADMIN, NULL));
	cr_expect(!rbac_allowed(AUTH_ROLE_COUNT, "hello"),
		  "an out-of-range role must be denied");
	cr_expect(!rbac_allowed((enum auth_role) - 1, "hello"));
}

Test(rbac, roles_str)
{
	char buf[128], small[10];

	for (size_t i = 0; i < NMATRIX; i++)
		cr_expect_str_eq(
			rbac_roles_str(matrix[i].command, buf, sizeof(buf)),
			matrix[i].roles, "roles of %s", matrix[i].command);
	cr_expect_str_eq(rbac_roles_str("nope", buf, sizeof(buf)), "");
	/* truncated at a role boundary, always terminated */
	cr_expect_str_eq(rbac_roles_str("island", small, sizeof(small)),
			 "operator");
	cr_expect_str_eq(rbac_roles_str("audit.tail", small, sizeof(small)),
			 "auditor");
}

/* --- dual approval -------------------------------------------------------- */

static int freed;

static void count_free(void *p)
{
	freed++;
	free(p);
}

static const char sha_a[] =
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static void setup(void)
{
	freed = 0;
}

static char *payload(const char *s)
{
	char *p = strdup(s);

	cr_assert_not_null(p);
	return p;
}

/* CR 2.1 RE(4) */
Test(rbac, two_person_apply, .init = setup)
{
	struct rbac_approvals a;
	void *got = (void *)1;
	char *text = payload("version: 1\n");
	int id;

	rbac_approvals_init(&a, 600, count_free);
	id = rbac_submit(&a, "eve", AUTH_ROLE_ENGINEER, sha_a, text, 1000);
	cr_assert_gt(id, 0, "submit: %d", id);
	cr_expect_eq(a.n, 1);
	cr_expect_str_eq(a.v[0].author, "eve");
	cr_expect_str_eq(a.v[0].sha256, sha_a);
	cr_expect_eq(a.v[0].created, 1000);
	cr_expect_eq(a.v[0].expires, 1600);

	cr_expect_eq(rbac_approve(&a, id, "eve", AUTH_ROLE_ENGINEER, 1001,
				  &got),
		     -EPERM, "the author approved their own change");
	cr_expect_null(got);
	cr_expect_eq(rbac_approve(&a, id, "eve", AUTH_ROLE_ADMIN, 1001, &got),
		     -EPERM, "the author approved as admin");
	cr_expect_eq(rbac_approve(&a, id, "vic", AUTH_ROLE_VIEWER, 1001, &got),
		     -EPERM, "a viewer approved");
	cr_expect_eq(rbac_approve(&a, id, "ops", AUTH_ROLE_OPERATOR, 1001,
				  &got),
		     -EPERM, "an operator approved");
	cr_expect_eq(rbac_approve(&a, id, "aud", AUTH_ROLE_AUDITOR, 1001, &got),
		     -EPERM, "an auditor approved");
	cr_expect_eq(a.n, 1, "a refused approval removed the entry");
	cr_expect_eq(rbac_approve(&a, (uint32_t)id + 1, "bob",
				  AUTH_ROLE_ENGINEER, 1001, &got),
		     -ENOENT);

	cr_expect_eq(
		rbac_approve(&a, id, "bob", AUTH_ROLE_ENGINEER, 1001, &got), 0);
	cr_expect_eq(got, text, "the payload is handed to the approver");
	cr_expect_eq(a.n, 0);
	cr_expect_eq(freed, 0, "the approved payload was freed by rbac");
	free(got);
	cr_expect_eq(rbac_approve(&a, id, "ann", AUTH_ROLE_ADMIN, 1002, &got),
		     -ENOENT, "approved twice");
	cr_expect_null(got);
	rbac_approvals_free(&a);
	cr_expect_eq(freed, 0);
}

/* CR 2.1 RE(4) */
Test(rbac, admin_may_approve, .init = setup)
{
	struct rbac_approvals a;
	void *got = NULL;
	int id;

	rbac_approvals_init(&a, 0, count_free);
	cr_expect_eq(a.ttl_s, RBAC_PENDING_TTL_DEFAULT);
	id = rbac_submit(&a, "eve", AUTH_ROLE_ENGINEER, sha_a, payload("p"), 0);
	cr_assert_gt(id, 0);
	cr_expect_eq(rbac_approve(&a, id, "ann", AUTH_ROLE_ADMIN, 1, &got), 0);
	cr_expect_str_eq(got, "p");
	free(got);
	rbac_approvals_free(&a);
	cr_expect_eq(freed, 0);
}

/* CR 2.1 RE(4) */
Test(rbac, only_engineer_or_admin_submits, .init = setup)
{
	struct rbac_approvals a;
	static const enum auth_role denied[] = { AUTH_ROLE_VIEWER,
						 AUTH_ROLE_OPERATOR,
						 AUTH_ROLE_AUDITOR };

	rbac_approvals_init(&a, 60, count_free);
	for (size_t i = 0; i < 3; i++)
		cr_expect_eq(rbac_submit(&a, "x", denied[i], sha_a,
					 payload("p"), 0),
			     -EPERM, "%s submitted", role_label[denied[i]]);
	cr_expect_eq(a.n, 0);
	cr_expect_eq(freed, 3, "refused payloads are taken and freed");
	cr_expect_gt(rbac_submit(&a, "ann", AUTH_ROLE_ADMIN, sha_a,
				 payload("p"), 0),
		     0);
	/* malformed input: named as invalid, payload still taken */
	cr_expect_eq(rbac_submit(&a, "", AUTH_ROLE_ENGINEER, sha_a,
				 payload("p"), 0),
		     -EINVAL);
	cr_expect_eq(rbac_submit(&a, "eve", AUTH_ROLE_ENGINEER, "abc",
				 payload("p"), 0),
		     -EINVAL);
	cr_expect_eq(rbac_submit(&a, "eve", AUTH_ROLE_ENGINEER,
				 "0123456789ABCDEF0123456789abcdef"
				 "0123456789abcdef0123456789abcdef",
				 payload("p"), 0),
		     -EINVAL);
	cr_expect_eq(rbac_submit(&a, "a-name-that-is-longer-than-32-chars",
				 AUTH_ROLE_ENGINEER, sha_a, payload("p"), 0),
		     -EINVAL);
	cr_expect_eq(freed, 7);
	cr_expect_eq(a.n, 1);
	rbac_approvals_free(&a);
	cr_expect_eq(freed, 8, "free() released the pending payload");
}

/* CR 2.1 RE(4) */
Test(rbac, expired_entries_are_gone_and_freed, .init = setup)
{
	struct rbac_approvals a;
	void *got = (void *)1;
	int id1, id2, id3;

	rbac_approvals_init(&a, 100, count_free);
	id1 = rbac_submit(&a, "eve", AUTH_ROLE_ENGINEER, sha_a, payload("1"),
			  0);
	id2 = rbac_submit(&a, "eve", AUTH_ROLE_ENGINEER, sha_a, payload("2"),
			  50);
	id3 = rbac_submit(&a, "eve", AUTH_ROLE_ENGINEER, sha_a, payload("3"),
			  90);
	cr_assert(id1 > 0 && id2 > id1 && id3 > id2);

	cr_expect_eq(rbac_expire(&a, 99), 0, "expired before its time");
	cr_expect_eq(freed, 0);
	cr_expect_eq(rbac_expire(&a, 100), 1, "not expired at created+ttl");
	cr_expect_eq(freed, 1);
	cr_expect_eq(rbac_approve(&a, id1, "bob", AUTH_ROLE_ENGINEER, 100,
				  &got),
		     -ENOENT);
	cr_expect_null(got);

	/* approve sweeps by itself: id2 expired at 150, never approvable */
	cr_expect_eq(rbac_approve(&a, id2, "bob", AUTH_ROLE_ENGINEER, 150,
				  &got),
		     -ENOENT);
	cr_expect_null(got);
	cr_expect_eq(freed, 2, "approve left an expired payload allocated");
	cr_expect_eq(a.n, 1);
	cr_expect_eq(a.v[0].id, (uint32_t)id3);

	cr_expect_eq(
		rbac_approve(&a, id3, "bob", AUTH_ROLE_ENGINEER, 189, &got), 0);
	cr_expect_str_eq(got, "3");
	free(got);
	cr_expect_eq(rbac_expire(&a, 1000), 0);
	rbac_approvals_free(&a);
	cr_expect_eq(freed, 2);
}

/* CR 2.1 RE(4) */
Test(rbac, ids_increase_and_are_never_reused, .init = setup)
{
	struct rbac_approvals a;
	void *got;
	int last = 0, id;

	rbac_approvals_init(&a, 10, count_free);
	for (int i = 0; i < 3 * RBAC_PENDING_MAX; i++) {
		id = rbac_submit(&a, "eve", AUTH_ROLE_ENGINEER, sha_a,
				 payload("p"), i);
		cr_assert_gt(id, last, "id %d after %d", id, last);
		last = id;
		/* empty the table in turn by approval, withdrawal, expiry */
		if (i % 3 == 0) {
			cr_assert_eq(rbac_approve(&a, (uint32_t)id, "bob",
						  AUTH_ROLE_ENGINEER, i, &got),
				     0);
			free(got);
		} else if (i % 3 == 1) {
			cr_assert_eq(rbac_withdraw(&a, (uint32_t)id, "eve",
						   AUTH_ROLE_ENGINEER),
				     0);
		}
	}
	cr_expect_eq(last, 3 * RBAC_PENDING_MAX, "ids are not 1, 2, ...");
	rbac_approvals_free(&a);
	cr_expect_eq(freed, 2 * RBAC_PENDING_MAX);
}

/* CR 2.1 RE(4) */
Test(rbac, withdraw_by_author_or_admin, .init = setup)
{
	struct rbac_approvals a;
	int id1, id2;

	rbac_approvals_init(&a, 60, count_free);
	id1 = rbac_submit(&a, "eve", AUTH_ROLE_ENGINEER, sha_a, payload("1"),
			  0);
	id2 = rbac_submit(&a, "eve", AUTH_ROLE_ENGINEER, sha_a, payload("2"),
			  0);
	cr_assert(id1 > 0 && id2 > 0);

	cr_expect_eq(rbac_withdraw(&a, id1, "bob", AUTH_ROLE_ENGINEER), -EPERM,
		     "another engineer withdrew");
	cr_expect_eq(rbac_withdraw(&a, id1, "vic", AUTH_ROLE_VIEWER), -EPERM);
	cr_expect_eq(freed, 0);
	cr_expect_eq(rbac_withdraw(&a, id1, "eve", AUTH_ROLE_ENGINEER), 0);
	cr_expect_eq(freed, 1, "the withdrawn payload was not freed");
	cr_expect_eq(rbac_withdraw(&a, id1, "eve", AUTH_ROLE_ENGINEER), -ENOENT,
		     "withdrawn twice");
	cr_expect_eq(rbac_withdraw(&a, id2, "ann", AUTH_ROLE_ADMIN), 0);
	cr_expect_eq(freed, 2);
	cr_expect_eq(rbac_withdraw(&a, 999, "ann", AUTH_ROLE_ADMIN), -ENOENT);
	cr_expect_eq(a.n, 0);
	rbac_approvals_free(&a);
	cr_expect_eq(freed, 2);
}

/* CR 2.1 RE(4) */
Test(rbac, full_table_is_enospc, .init = setup)
{
	struct rbac_approvals a;
	int id;

	rbac_approvals_init(&a, 60, count_free);
	for (int i = 0; i < RBAC_PENDING_MAX; i++)
		cr_assert_gt(rbac_submit(&a, "eve", AUTH_ROLE_ENGINEER, sha_a,
					 payload("p"), 0),
			     0, "submit %d", i);
	cr_expect_eq(rbac_submit(&a, "eve", AUTH_ROLE_ENGINEER, sha_a,
				 payload("over"), 59),
		     -ENOSPC);
	cr_expect_eq(freed, 1, "the refused payload leaked");
	cr_expect_eq(a.n, RBAC_PENDING_MAX);
	/* once they expire there is room again */
	id = rbac_submit(&a, "eve", AUTH_ROLE_ENGINEER, sha_a, payload("p"),
			 60);
	cr_expect_eq(id, RBAC_PENDING_MAX + 1, "id %d, not the next one", id);
	cr_expect_eq(a.n, 1);
	cr_expect_eq(freed, 1 + RBAC_PENDING_MAX);
	rbac_approvals_free(&a);
	cr_expect_eq(freed, 2 + RBAC_PENDING_MAX);
	rbac_approvals_free(&a); /* a second free is harmless */
	cr_expect_eq(freed, 2 + RBAC_PENDING_MAX);
}

/*
 * conduitctl(8)'s ROLES table is the documentation of this table: every
 * command appears in exactly one of its rows, with an "x" in the columns
 * (viewer operator engineer auditor admin) of exactly the roles allowed.
 */
/* CR 2.1 RE(2) */
Test(rbac, man_page_roles_table_matches)
{
	FILE *f = fopen(TEST_SRCDIR "/docs/conduitctl.8", "r");
	bool in_roles = false, in_table = false;
	unsigned seen[64] = { 0 };
	char line[512];
	size_t n = 0;

	cr_assert_not_null(f, "docs/conduitctl.8");
	for (const struct rbac_rule *r = rbac_table; r->command; r++)
		n++;
	cr_assert_lt(n, 64);
	while (fgets(line, sizeof(line), f)) {
		char *tab, *cmds, *cols, *save = NULL;
		bool x[AUTH_ROLE_COUNT] = { 0 };

		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, ".SH", 3) == 0)
			in_roles = strcmp(line, ".SH ROLES") == 0;
		if (!in_roles)
			continue;
		if (strcmp(line, ".TS") == 0 || strcmp(line, ".TE") == 0) {
			in_table = line[2] == 'S';
			continue;
		}
		tab = strchr(line, '\t');
		if (!in_table || tab == NULL ||
		    strncmp(line, "command", 7) == 0)
			continue;
		*tab = '\0';
		cmds = line;
		cols = tab + 1;
		/* five columns, then the note */
		for (int c = 0; c < AUTH_ROLE_COUNT; c++) {
			char *next = strchr(cols, '\t');

			cr_assert_not_null(next, "row \"%s\": %d columns", cmds,
					   c);
			*next = '\0';
			x[c] = strcmp(cols, "x") == 0;
			cols = next + 1;
		}
		for (char *cmd = strtok_r(cmds, ", ", &save); cmd;
		     cmd = strtok_r(NULL, ", ", &save)) {
			size_t i = 0;
			const struct rbac_rule *r;

			for (r = rbac_table; r->command; r++, i++)
				if (strcmp(r->command, cmd) == 0)
					break;
			cr_assert_not_null(
				r->command,
				"conduitctl.8 lists \"%s\", which is not in rbac_table",
				cmd);
			seen[i]++;
			for (int c = 0; c < AUTH_ROLE_COUNT; c++)
				cr_expect_eq(
					rbac_allowed((enum auth_role)c, cmd),
					x[c],
					"%s for %s: table %d, conduitctl.8 %d",
					cmd, role_label[c],
					rbac_allowed((enum auth_role)c, cmd),
					x[c]);
		}
	}
	fclose(f);
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(seen[i], 1, "%s appears %u times in conduitctl.8",
			     rbac_table[i].command, seen[i]);
}
