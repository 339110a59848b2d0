/*
 * The users store (round trip, a diagnostic per bad field, owner and mode
 * checks), yescrypt hash/verify, the dummy hash and the password policy.
 * Hashes use cost 1 so the suite stays fast; the cost test checks that the
 * cost reaches the hash string.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/diag.h"
#include "mgmt/auth.h"

#define COST 1
#define TOTP_OK "JBSWY3DPEHPK3PXPJBSWY3DP"

static char dir[64], path[96];

static void setup(void)
{
	strcpy(dir, "/tmp/test_auth.XXXXXX");
	cr_assert(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/users", dir);
}

static void teardown(void)
{
	char p[128];

	unlink(path);
	snprintf(p, sizeof(p), "%s/other", dir);
	unlink(p);
	rmdir(dir);
}

TestSuite(auth, .init = setup, .fini = teardown);

static void write_file(const char *p, const char *text, mode_t mode)
{
	FILE *f = fopen(p, "w");

	cr_assert(f != NULL);
	fputs(text, f);
	cr_assert(fclose(f) == 0);
	cr_assert(chmod(p, mode) == 0);
}

static void mkuser(struct auth_user *u, const char *name, enum auth_role r,
		   const char *unix_user, const char *pw)
{
	memset(u, 0, sizeof(*u));
	strcpy(u->name, name);
	u->role = r;
	u->state = AUTH_STATE_ACTIVE;
	strcpy(u->unix_user, unix_user);
	if (pw)
		cr_assert(auth_hash(pw, COST, u->hash, sizeof(u->hash)) == 0);
	else
		strcpy(u->hash, "!");
}

static void assert_user_eq(const struct auth_user *a, const struct auth_user *b)
{
	unsigned i;

	cr_assert_str_eq(a->name, b->name);
	cr_assert_eq(a->role, b->role);
	cr_assert_eq(a->state, b->state);
	cr_assert_str_eq(a->unix_user, b->unix_user);
	cr_assert_str_eq(a->hash, b->hash);
	cr_assert_str_eq(a->totp, b->totp);
	cr_assert_eq(a->nhistory, b->nhistory);
	for (i = 0; i < a->nhistory; i++)
		cr_assert_str_eq(a->history[i], b->history[i]);
}

/* CR 1.1 */
Test(auth, store_round_trip)
{
	struct auth_store s = { 0 }, l1, l2;
	struct auth_user u;
	struct diag_list dl;
	char other[128];
	struct stat st;
	size_t i;

	diag_list_init(&dl);
	mkuser(&u, "alice", AUTH_ROLE_ADMIN, "root", "Corr3ct-Horse!");
	strcpy(u.totp, TOTP_OK);
	cr_assert(auth_hash("Old-Passw0rd-1", COST, u.history[0],
			    sizeof(u.history[0])) == 0);
	cr_assert(auth_hash("Old-Passw0rd-2", COST, u.history[1],
			    sizeof(u.history[1])) == 0);
	u.nhistory = 2;
	cr_assert(auth_store_add(&s, &u) == 0);
	mkuser(&u, "bob.eng", AUTH_ROLE_ENGINEER, "", NULL);
	u.state = AUTH_STATE_DISABLED;
	cr_assert(auth_store_add(&s, &u) == 0);
	mkuser(&u, "_view-1", AUTH_ROLE_VIEWER, "op", "Viewer-Pass-99");
	cr_assert(auth_store_add(&s, &u) == 0);

	cr_assert(auth_store_save(path, &s) == 0);
	cr_assert(stat(path, &st) == 0);
	cr_assert_eq(st.st_mode & 07777, 0600);
	cr_assert(auth_store_load(path, &l1, &dl) == 0);
	cr_assert_eq(dl.n, 0);
	cr_assert_eq(l1.n, 3);
	snprintf(other, sizeof(other), "%s/other", dir);
	cr_assert(auth_store_save(other, &l1) == 0);
	cr_assert(auth_store_load(other, &l2, &dl) == 0);
	cr_assert_eq(l2.n, 3);
	for (i = 0; i < 3; i++) {
		assert_user_eq(&s.v[i], &l1.v[i]);
		assert_user_eq(&l1.v[i], &l2.v[i]);
	}
	cr_assert_eq(l1.v[2].line, 4); /* after the header comment */
	auth_store_free(&s);
	auth_store_free(&l1);
	auth_store_free(&l2);
	auth_store_free(&l2); /* freeing twice is harmless */
	diag_list_free(&dl);
}

Test(auth, missing_file_is_empty)
{
	struct auth_store s;
	struct diag_list dl;

	diag_list_init(&dl);
	cr_assert(auth_store_load(path, &s, &dl) == 0);
	cr_assert_eq(s.n, 0);
	cr_assert_eq(dl.n, 0);
	auth_store_free(&s);
	diag_list_free(&dl);
}

struct want {
	int line, col;
	const char *msg;
};

/* CR 1.1 */
Test(auth, every_bad_field_reported)
{
	char h[AUTH_HASH_MAX + 1], text[4096];
	struct auth_store s;
	struct diag_list dl;
	size_t i, j;
	struct want w[] = {
		{ 3, 1, "name: \"Bad\"" },
		{ 4, 4, "role: unknown role \"boss\"" },
		{ 5, 11, "state: unknown state \"on\"" },
		{ 6, 18, "unix-user: \"ROOT\"" },
		{ 7, 20, "hash: not a yescrypt string" },
		{ 8, 22, "totp: not a base32 secret" },
		{ 9, 0, "history: entry 2 is not a yescrypt" },
		{ 10, 12, "expected 7 ':'-separated fields" },
		{ 11, 1, "name: \"ok\" already defined on line 2" },
		{ 12, 18, "unix-user: \"root\" already mapped to \"ok\"" },
		{ 13, 25, "expected 7 ':'-separated fields" },
		/* two bad fields on one line: both reported */
		{ 14, 5, "role: unknown role \"x\"" },
		{ 14, 7, "state: unknown state \"y\"" },
	};

	cr_assert(auth_hash("Some-Passw0rd!", COST, h, sizeof(h)) == 0);
	w[6].col = 24 + (int)strlen(h) + 1; /* the entry after the comma */
	/* The full file, one problem per line from line 3 on. */
	snprintf(text, sizeof(text),
		 "# comment\n"
		 "ok:admin:active:root:%s:-:-\n"
		 "Bad:viewer:active:-:!:-:-\n"
		 "u1:boss:active:-:!:-:-\n"
		 "u2:viewer:on:-:!:-:-\n"
		 "u3:viewer:active:ROOT:!:-:-\n"
		 "u4:viewer:active:-:secret-hash:-:-\n"
		 "u5:viewer:active:-:!:jbswy3dp:-\n"
		 "u6:viewer:active:-:!:-:%s,nope\n"
		 "u7:viewer:-\n"
		 "ok:viewer:active:-:!:-:-\n"
		 "u8:viewer:active:root:!:-:-\n"
		 "u9:viewer:active:-:!:-:-:extra\n"
		 "u10:x:y:-:!:-:-\n"
		 "\n   \t\n",
		 h, h);
	write_file(path, text, 0600);
	diag_list_init(&dl);
	cr_assert_eq(auth_store_load(path, &s, &dl), -EINVAL);
	cr_assert_eq(s.n, 0);
	cr_assert_eq(s.v, NULL);
	for (i = 0; i < dl.n; i++)
		cr_log_info("%d:%d: %s", dl.v[i].line, dl.v[i].col,
			    dl.v[i].msg);
	cr_assert_eq(dl.n, sizeof(w) / sizeof(w[0]));
	for (i = 0; i < dl.n; i++) {
		cr_assert_str_eq(dl.v[i].file, path);
		cr_assert_eq(dl.v[i].line, w[i].line, "record %zu", i);
		cr_assert_eq(dl.v[i].col, w[i].col, "record %zu: col %d", i,
			     dl.v[i].col);
		cr_assert(strstr(dl.v[i].msg, w[i].msg) != NULL,
			  "record %zu: %s", i, dl.v[i].msg);
	}
	/* No hash, bad or good, and no TOTP secret in any message. */
	for (j = 0; j < dl.n; j++) {
		cr_assert(strstr(dl.v[j].msg, "secret-hash") == NULL);
		cr_assert(strstr(dl.v[j].msg, h + 3) == NULL);
		cr_assert(strstr(dl.v[j].msg, "jbswy3dp") == NULL);
	}
	diag_list_free(&dl);
}

static void assert_mode_refused(mode_t mode, const char *want)
{
	struct auth_store s;
	struct diag_list dl;

	write_file(path, "ok:admin:active:-:!:-:-\n", mode);
	diag_list_init(&dl);
	cr_assert_eq(auth_store_load(path, &s, &dl), -EPERM);
	cr_assert_eq(s.n, 0);
	cr_assert_eq(dl.n, 1);
	cr_assert(strstr(dl.v[0].msg, want) != NULL, "%s", dl.v[0].msg);
	diag_list_free(&dl);
}

/* CR 1.1 */
Test(auth, group_or_other_mode_refused)
{
	assert_mode_refused(0644, "mode 0644: must not be readable by group");
	assert_mode_refused(0640, "mode 0640");
	assert_mode_refused(0604, "mode 0604");
}

Test(auth, owner_only_modes_accepted)
{
	struct auth_store s;
	struct diag_list dl;

	diag_list_init(&dl);
	write_file(path, "ok:admin:active:-:!:-:-\n", 0400);
	cr_assert_eq(auth_store_load(path, &s, &dl), 0);
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(auth_store_find(&s, "ok")->hash, "!");
	auth_store_free(&s);
	diag_list_free(&dl);
}

/* CR 1.1 */
Test(auth, wrong_owner_refused)
{
	struct auth_store s;
	struct diag_list dl;

	if (geteuid() != 0)
		cr_skip_test("needs root to chown the file");
	write_file(path, "ok:admin:active:-:!:-:-\n", 0600);
	cr_assert(chown(path, 65534, 65534) == 0);
	diag_list_init(&dl);
	cr_assert_eq(auth_store_load(path, &s, &dl), -EPERM);
	cr_assert_eq(dl.n, 1);
	cr_assert(strstr(dl.v[0].msg, "owned by uid 65534") != NULL, "%s",
		  dl.v[0].msg);
	diag_list_free(&dl);
}

Test(auth, symlink_and_directory_refused)
{
	struct auth_store s;
	struct diag_list dl;
	char other[128];

	diag_list_init(&dl);
	snprintf(other, sizeof(other), "%s/other", dir);
	write_file(other, "ok:admin:active:-:!:-:-\n", 0600);
	cr_assert(symlink(other, path) == 0);
	cr_assert_eq(auth_store_load(path, &s, &dl), -ELOOP);
	cr_assert_eq(dl.n, 1);
	cr_assert_eq(auth_store_load(dir, &s, &dl), -EPERM);
	cr_assert(strstr(dl.v[1].msg, "not a regular file") != NULL);
	diag_list_free(&dl);
}

/* CR 1.1 */
Test(auth, add_find_del_by_unix)
{
	struct auth_store s = { 0 };
	struct auth_user u;

	mkuser(&u, "alice", AUTH_ROLE_ADMIN, "root", NULL);
	cr_assert_eq(auth_store_add(&s, &u), 0);
	cr_assert_eq(auth_store_add(&s, &u), -EEXIST);
	mkuser(&u, "bob", AUTH_ROLE_VIEWER, "root", NULL);
	cr_assert_eq(auth_store_add(&s, &u), -EEXIST); /* unix user taken */
	strcpy(u.unix_user, "bob");
	cr_assert_eq(auth_store_add(&s, &u), 0);
	mkuser(&u, "carol", AUTH_ROLE_AUDITOR, "", NULL);
	cr_assert_eq(auth_store_add(&s, &u), 0);

	mkuser(&u, "Dave", AUTH_ROLE_VIEWER, "", NULL);
	cr_assert_eq(auth_store_add(&s, &u), -EINVAL);
	mkuser(&u, "dave", AUTH_ROLE_COUNT, "", NULL);
	cr_assert_eq(auth_store_add(&s, &u), -EINVAL);
	mkuser(&u, "dave", AUTH_ROLE_VIEWER, "", NULL);
	strcpy(u.hash, "plain");
	cr_assert_eq(auth_store_add(&s, &u), -EINVAL);
	cr_assert_eq(s.n, 3);

	cr_assert_str_eq(auth_store_by_unix(&s, "root")->name, "alice");
	cr_assert_str_eq(auth_store_by_unix(&s, "bob")->name, "bob");
	cr_assert_null(auth_store_by_unix(&s, "nobody"));
	cr_assert_null(auth_store_by_unix(&s, "")); /* unmapped users */
	cr_assert_eq(auth_store_find(&s, "carol")->role, AUTH_ROLE_AUDITOR);
	cr_assert_null(auth_store_find(&s, "dave"));

	cr_assert_eq(auth_store_del(&s, "alice"), 0);
	cr_assert_eq(auth_store_del(&s, "alice"), -ENOENT);
	cr_assert_null(auth_store_find(&s, "alice"));
	cr_assert_null(auth_store_by_unix(&s, "root"));
	cr_assert_eq(s.n, 2);
	cr_assert_str_eq(s.v[0].name, "bob");
	cr_assert_str_eq(s.v[1].name, "carol");
	auth_store_free(&s);
}

Test(auth, names_and_roles)
{
	char longname[AUTH_NAME_MAX + 2];
	int i;

	cr_assert(auth_name_ok("a"));
	cr_assert(auth_name_ok("_svc.x-1"));
	cr_assert_not(auth_name_ok(""));
	cr_assert_not(auth_name_ok("1abc"));
	cr_assert_not(auth_name_ok("a:b"));
	memset(longname, 'a', AUTH_NAME_MAX);
	longname[AUTH_NAME_MAX] = '\0';
	cr_assert(auth_name_ok(longname));
	longname[AUTH_NAME_MAX] = 'a';
	longname[AUTH_NAME_MAX + 1] = '\0';
	cr_assert_not(auth_name_ok(longname));
	for (i = 0; i < AUTH_ROLE_COUNT; i++)
		cr_assert_eq(auth_role_parse(auth_role_name(i)), i);
	cr_assert_eq(auth_role_parse("root"), -1);
	cr_assert_eq(auth_role_parse("Admin"), -1);
}

/* CR 1.5 */
Test(auth, hash_and_verify)
{
	char h[AUTH_HASH_MAX + 1];

	cr_assert_eq(auth_hash("Corr3ct-Horse!", COST, h, sizeof(h)), 0);
	cr_assert_eq(strncmp(h, "$y$", 3), 0);
	cr_assert(auth_verify("Corr3ct-Horse!", h));
	cr_assert_not(auth_verify("corr3ct-Horse!", h));
	cr_assert_not(auth_verify("Corr3ct-Horse", h));
	cr_assert_not(auth_verify("", h));
	cr_assert_not(auth_verify("Corr3ct-Horse!", "!"));
	cr_assert_not(auth_verify("Corr3ct-Horse!", "$y$garbage"));
	cr_assert_not(auth_verify("Corr3ct-Horse!", ""));
	cr_assert_eq(auth_hash("x", COST, h, 10), -ENOSPC);
	cr_assert_eq(auth_hash("x", 0, h, sizeof(h)), -EINVAL);
	cr_assert_eq(auth_hash("x", 12, h, sizeof(h)), -EINVAL);
}

/* CR 1.5 */
Test(auth, salt_makes_hashes_differ)
{
	char a[AUTH_HASH_MAX + 1], b[AUTH_HASH_MAX + 1];

	cr_assert_eq(auth_hash("Same-Passw0rd!", COST, a, sizeof(a)), 0);
	cr_assert_eq(auth_hash("Same-Passw0rd!", COST, b, sizeof(b)), 0);
	cr_assert_str_neq(a, b);
	cr_assert(auth_verify("Same-Passw0rd!", a));
	cr_assert(auth_verify("Same-Passw0rd!", b));
}

/* The yescrypt parameter field: "$y$<params>$salt$hash". */
static void params(const char *h, char *out, size_t len)
{
	const char *end = strchr(h + 3, '$');

	cr_assert(end != NULL);
	snprintf(out, len, "%.*s", (int)(end - (h + 3)), h + 3);
}

/* CR 1.5 */
Test(auth, cost_reaches_the_hash)
{
	char h1[AUTH_HASH_MAX + 1], h1b[AUTH_HASH_MAX + 1];
	char h3[AUTH_HASH_MAX + 1];
	char p1[32], p1b[32], p3[32];

	cr_assert_eq(auth_hash("Cost-Passw0rd!", 1, h1, sizeof(h1)), 0);
	cr_assert_eq(auth_hash("Cost-Passw0rd!", 1, h1b, sizeof(h1b)), 0);
	cr_assert_eq(auth_hash("Cost-Passw0rd!", 3, h3, sizeof(h3)), 0);
	params(h1, p1, sizeof(p1));
	params(h1b, p1b, sizeof(p1b));
	params(h3, p3, sizeof(p3));
	cr_assert_str_eq(p1, p1b);
	cr_assert_str_neq(p1, p3);
	cr_assert(auth_verify("Cost-Passw0rd!", h3));
}

/* CR 1.10 */
Test(auth, dummy_hash_never_verifies)
{
	const char *d = auth_dummy_hash(COST);
	const char *tries[] = { "", "!", "password", "Corr3ct-Horse!", d };
	size_t i;

	cr_assert_eq(strncmp(d, "$y$", 3), 0);
	cr_assert_eq(auth_dummy_hash(COST), d); /* computed once */
	cr_assert_str_neq(auth_dummy_hash(2), d);
	for (i = 0; i < sizeof(tries) / sizeof(tries[0]); i++)
		cr_assert_not(auth_verify(tries[i], d), "%zu", i);
	/* An out-of-range cost falls back to the default, still a hash. */
	cr_assert_eq(strncmp(auth_dummy_hash(99), "$y$", 3), 0);
}

static struct auth_pw_policy pol;
static struct auth_user alice;

static void pw_setup(void)
{
	setup();
	auth_pw_policy_default(&pol);
	mkuser(&alice, "alice", AUTH_ROLE_ADMIN, "ops", NULL);
}

static void refused(const char *pw, const char *want)
{
	const char *why = NULL;

	cr_assert_eq(auth_pw_check(&pol, &alice, pw, &why), -EINVAL, "%s",
		     want);
	cr_assert_not_null(why);
	cr_assert_str_eq(why, want);
}

/* CR 1.7 */
Test(auth, policy_defaults)
{
	auth_pw_policy_default(&pol);
	cr_assert_eq(pol.min_len, 12);
	cr_assert_eq(pol.min_classes, 3);
	cr_assert_eq(pol.history, 5);
	cr_assert_null(pol.common_file);
}

/* CR 1.7 */
Test(auth, policy_each_rule, .init = pw_setup, .fini = teardown)
{
	const char *why = "unset";

	refused("Short-1a", "shorter than 12 characters");
	/* 11 code points, 22 bytes: counted as characters, not bytes */
	refused("Ab1\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		"\xc3\xa9",
		"shorter than 12 characters");
	refused("alllowercaseletters", "needs 3 of: lower case, upper case, "
				       "digits, other");
	refused("lowercase123456", "needs 3 of: lower case, upper case, "
				   "digits, other");
	refused("My-ALICE-Pass-1", "contains the user name");
	refused("xx-Ops-rule-9X", "contains the user name");
	refused("PASSWORD1234!", "is a commonly used password");
	refused("1qaz2WSX3edc", "is a commonly used password");
	refused("Bad-utf8-\xc3\x28-Pass1", "is not valid UTF-8");
	refused("Overlong-\xc0\xaf-Pass1", "is not valid UTF-8");
	refused("Tab\there-Pass-1", "contains a control character");

	pol.min_len = 16;
	refused("Corr3ct-Horse!", "shorter than 16 characters");
	pol.min_len = 12;
	pol.min_classes = 4;
	refused("Correct-Horse-Battery",
		"needs 4 of: lower case, upper case, digits, other");
	pol.min_classes = 3;

	cr_assert_eq(auth_pw_check(&pol, &alice, "Corr3ct-Horse!", &why), 0);
	cr_assert_null(why);
	/* 12 code points of which 9 are non-ASCII: long enough */
	cr_assert_eq(auth_pw_check(&pol, &alice,
				   "Ab1\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3"
				   "\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
				   &why),
		     0);
	/* A one-letter fragment of a name is not the name. */
	mkuser(&alice, "al", AUTH_ROLE_ADMIN, "", NULL);
	cr_assert_eq(auth_pw_check(&pol, &alice, "Royal-Blue-77", &why), 0);
}

/* CR 1.7 */
Test(auth, policy_common_file, .init = pw_setup, .fini = teardown)
{
	const char *why;

	write_file(path, "# not special\nSite-Specific-9\nOther-One-77\r\n",
		   0600);
	pol.common_file = path;
	refused("site-specific-9", "is a commonly used password");
	refused("Other-One-77", "is a commonly used password");
	refused("PASSWORD1234!", "is a commonly used password"); /* built-in */
	cr_assert_eq(auth_pw_check(&pol, &alice, "Corr3ct-Horse!", &why), 0);
	unlink(path);
	cr_assert_eq(auth_pw_check(&pol, &alice, "Corr3ct-Horse!", &why),
		     -ENOENT);
	cr_assert_str_eq(why, "the list of common passwords cannot be read");
}

/* CR 1.7 */
Test(auth, history_refuses_reuse_and_trims, .init = pw_setup, .fini = teardown)
{
	const char *pw[] = { "First-Passw0rd", "Second-Passw0rd",
			     "Third-Passw0rd", "Fourth-Passw0rd" };
	const char *why;
	char first_hash[AUTH_HASH_MAX + 1];
	size_t i;

	pol.history = 2;
	cr_assert_eq(auth_set_password(&pol, &alice, pw[0], COST, &why), 0);
	cr_assert(auth_verify(pw[0], alice.hash));
	cr_assert_eq(alice.nhistory, 0); /* "!" is no previous password */
	strcpy(first_hash, alice.hash);
	/* The current password is one of the previous ones. */
	refused(pw[0], "was used before");
	cr_assert_eq(auth_set_password(&pol, &alice, pw[1], COST, &why), 0);
	cr_assert_eq(alice.nhistory, 1);
	cr_assert_str_eq(alice.history[0], first_hash);
	refused(pw[0], "was used before");
	cr_assert_eq(auth_set_password(&pol, &alice, pw[0], COST, &why),
		     -EINVAL);
	cr_assert_str_eq(why, "was used before");
	cr_assert(auth_verify(pw[1], alice.hash)); /* unchanged */

	for (i = 2; i < 4; i++)
		cr_assert_eq(auth_set_password(&pol, &alice, pw[i], COST, &why),
			     0);
	/* Trimmed to 2: newest first, the first password forgotten. */
	cr_assert_eq(alice.nhistory, 2);
	cr_assert(auth_verify(pw[2], alice.history[0]));
	cr_assert(auth_verify(pw[1], alice.history[1]));
	cr_assert(auth_verify(pw[3], alice.hash));
	refused(pw[1], "was used before");
	refused(pw[2], "was used before");
	refused(pw[3], "was used before");
	cr_assert_eq(auth_pw_check(&pol, &alice, pw[0], &why), 0);

	/* A lower limit trims an existing history on the next change. */
	pol.history = 1;
	cr_assert_eq(auth_set_password(&pol, &alice, pw[0], COST, &why), 0);
	cr_assert_eq(alice.nhistory, 1);
	cr_assert(auth_verify(pw[3], alice.history[0]));
	/* A policy failure leaves the user untouched. */
	cr_assert_eq(auth_set_password(&pol, &alice, "short", COST, &why),
		     -EINVAL);
	cr_assert(auth_verify(pw[0], alice.hash));
}
