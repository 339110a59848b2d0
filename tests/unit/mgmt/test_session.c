/*
 * The session table with a made-up clock: the idle lock of remote
 * sessions to the second, the global and per-user caps, unlock by the
 * owner only, ids that are never handed out twice, look-ups and names.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "mgmt/session.h"

#define T0 1000 /* an arbitrary monotonic start */

struct locked {
	size_t calls;
	struct sess *seen[8];
	uint32_t ids[8];
};

static void on_lock(struct sess *s, void *arg)
{
	struct locked *l = arg;

	cr_assert_eq(s->state, SESS_LOCKED, "fn sees the new state");
	if (l->calls < 8) {
		l->seen[l->calls] = s;
		l->ids[l->calls] = s->id;
	}
	l->calls++;
}

static struct sess *open_tls(struct sess_table *t, uint64_t client, int64_t now)
{
	struct sess *s =
		sess_open(t, client, SESS_CH_TLS, "198.18.1.2:4031", now);

	cr_assert_not_null(s, "sess_open client %llu: errno %d",
			   (unsigned long long)client, errno);
	return s;
}

static struct sess *login_tls(struct sess_table *t, uint64_t client,
			      const char *user, int64_t now)
{
	struct sess *s = open_tls(t, client, now);

	cr_assert_eq(sess_authenticate(t, s, user, AUTH_ROLE_OPERATOR,
				       SESS_M_PASSWORD_TOTP, now),
		     0, "login %s", user);
	return s;
}

static struct sess *login_unix(struct sess_table *t, uint64_t client,
			       const char *user, int64_t now)
{
	struct sess *s =
		sess_open(t, client, SESS_CH_UNIX, "uid 1000 pid 42", now);

	cr_assert_not_null(s);
	cr_assert_eq(sess_authenticate(t, s, user, AUTH_ROLE_ADMIN,
				       SESS_M_PEERCRED, now),
		     0);
	return s;
}

Test(session, init_defaults_and_idle_off)
{
	struct sess_table t;

	cr_assert_eq(sess_table_init(&t, 0, 0, 0), 0);
	cr_assert_eq(t.max_total, SESS_MAX_TOTAL_DEFAULT);
	cr_assert_eq(t.max_per_user, SESS_MAX_PER_USER_DEFAULT);
	cr_assert_eq(t.idle_lock_s, SESS_IDLE_LOCK_DEFAULT);
	cr_assert_geq(t.cap, t.max_total);
	cr_assert_eq(t.n, 0);
	sess_table_free(&t);
	cr_assert_null(t.v);

	cr_assert_eq(sess_table_init(&t, 7, 2, SESS_IDLE_OFF), 0);
	cr_assert_eq(t.max_total, 7);
	cr_assert_eq(t.max_per_user, 2);
	cr_assert_eq(t.idle_lock_s, 0, "SESS_IDLE_OFF stores 0 (off)");
	sess_table_free(&t);
}

Test(session, open_fills_the_session)
{
	struct sess_table t;
	char longsrc[200];
	struct sess *s;

	cr_assert_eq(sess_table_init(&t, 4, 0, 60), 0);
	s = sess_open(&t, 77, SESS_CH_TLS, "[2001:db8::1]:4031", T0);
	cr_assert_not_null(s);
	cr_assert_eq(s->client, 77);
	cr_assert_eq(s->channel, SESS_CH_TLS);
	cr_assert_eq(s->state, SESS_UNAUTH);
	cr_assert_eq(s->method, SESS_M_NONE);
	cr_assert_str_empty(s->user);
	cr_assert_str_eq(s->source, "[2001:db8::1]:4031");
	cr_assert_eq(s->opened, T0);
	cr_assert_eq(s->last, T0);
	cr_assert_eq(s->authenticated, 0);
	cr_assert_eq(s->failures, 0);
	cr_assert(s->in_use);
	cr_assert_eq(t.n, 1);

	/* An over-long source is cut, never overflows. */
	memset(longsrc, 'x', sizeof(longsrc) - 1);
	longsrc[sizeof(longsrc) - 1] = '\0';
	s = sess_open(&t, 78, SESS_CH_UNIX, longsrc, T0);
	cr_assert_not_null(s);
	cr_assert_eq(strlen(s->source), SESS_SOURCE_MAX - 1);
	cr_assert_eq(strncmp(s->source, longsrc, SESS_SOURCE_MAX - 1), 0);

	s = sess_open(&t, 79, SESS_CH_UNIX, NULL, T0);
	cr_assert_not_null(s);
	cr_assert_str_empty(s->source);
	sess_table_free(&t);
}

/* CR 2.5 */
Test(session, idle_lock_after_exactly_idle_lock_s)
{
	struct sess_table t;
	struct locked l = { 0 };
	struct sess *s;

	cr_assert_eq(sess_table_init(&t, 4, 0, 60), 0);
	s = login_tls(&t, 1, "alice", T0);

	cr_assert_eq(sess_idle_lock(&t, T0 + 59, on_lock, &l), 0);
	cr_assert_eq(s->state, SESS_ACTIVE, "not locked at idle_lock_s - 1");
	cr_assert_eq(l.calls, 0);

	cr_assert_eq(sess_idle_lock(&t, T0 + 60, on_lock, &l), 1);
	cr_assert_eq(s->state, SESS_LOCKED, "locked at idle_lock_s");
	cr_assert_eq(l.calls, 1);
	cr_assert_eq(l.seen[0], s);

	/* Still authenticated (counted) and still the same user. */
	cr_assert_str_eq(s->user, "alice");
	cr_assert_eq(sess_count_user(&t, "alice"), 1);
	sess_table_free(&t);
}

/* CR 2.5 */
Test(session, idle_lock_only_active_tls_never_unix)
{
	struct sess_table t;
	struct locked l = { 0 };
	struct sess *unauth, *ux, *a, *b;

	cr_assert_eq(sess_table_init(&t, 8, 0, 60), 0);
	unauth = open_tls(&t, 1, T0);
	ux = login_unix(&t, 2, "root", T0);
	a = login_tls(&t, 3, "alice", T0);
	b = login_tls(&t, 4, "bob", T0 + 10);

	cr_assert_eq(sess_idle_lock(&t, T0 + 100000, on_lock, &l), 2);
	cr_assert_eq(a->state, SESS_LOCKED);
	cr_assert_eq(b->state, SESS_LOCKED);
	cr_assert_eq(unauth->state, SESS_UNAUTH, "unauthenticated stays");
	cr_assert_eq(ux->state, SESS_ACTIVE, "unix is never idle-locked");

	cr_assert_eq(l.calls, 2, "fn once per locked session");
	cr_assert_neq(l.ids[0], l.ids[1]);
	cr_assert(l.ids[0] == a->id || l.ids[0] == b->id);
	cr_assert(l.ids[1] == a->id || l.ids[1] == b->id);

	/* Already locked ones are not locked (nor reported) again. */
	cr_assert_eq(sess_idle_lock(&t, T0 + 200000, on_lock, &l), 0);
	cr_assert_eq(l.calls, 2);
	cr_assert_eq(ux->state, SESS_ACTIVE);

	/* fn is optional. */
	cr_assert_eq(sess_authenticate(&t, a, "alice", AUTH_ROLE_OPERATOR,
				       SESS_M_PASSWORD_TOTP, T0 + 200000),
		     0);
	cr_assert_eq(sess_idle_lock(&t, T0 + 200060, NULL, NULL), 1);
	cr_assert_eq(a->state, SESS_LOCKED);
	sess_table_free(&t);
}

/* CR 2.5 */
Test(session, touched_session_is_not_locked)
{
	struct sess_table t;
	struct locked l = { 0 };
	struct sess *s;

	cr_assert_eq(sess_table_init(&t, 4, 0, 60), 0);
	s = login_tls(&t, 1, "alice", T0);
	sess_touch(s, T0 + 50);
	cr_assert_eq(s->last, T0 + 50);

	cr_assert_eq(sess_idle_lock(&t, T0 + 60, on_lock, &l), 0);
	cr_assert_eq(sess_idle_lock(&t, T0 + 109, on_lock, &l), 0);
	cr_assert_eq(s->state, SESS_ACTIVE);
	cr_assert_eq(l.calls, 0);
	cr_assert_eq(sess_idle_lock(&t, T0 + 110, on_lock, &l), 1);
	cr_assert_eq(s->state, SESS_LOCKED);

	/* A request on a locked session (hello) does not restart the
	 * clock nor unlock it. */
	sess_touch(s, T0 + 500);
	cr_assert_eq(s->state, SESS_LOCKED);
	cr_assert_eq(s->last, T0 + 50);
	sess_table_free(&t);
}

/* CR 2.5 */
Test(session, idle_off_never_locks)
{
	struct sess_table t;
	struct locked l = { 0 };
	struct sess *s;

	cr_assert_eq(sess_table_init(&t, 4, 0, SESS_IDLE_OFF), 0);
	s = login_tls(&t, 1, "alice", T0);
	cr_assert_eq(sess_idle_lock(&t, T0 + 100000000, on_lock, &l), 0);
	cr_assert_eq(s->state, SESS_ACTIVE);
	cr_assert_eq(l.calls, 0);
	cr_assert_eq(sess_next_lock_in(&t, T0), -1);
	sess_table_free(&t);
}

/* CR 2.5 */
Test(session, next_lock_in)
{
	struct sess_table t;
	struct sess *a, *b;

	cr_assert_eq(sess_table_init(&t, 4, 0, 60), 0);
	cr_assert_eq(sess_next_lock_in(&t, T0), -1, "empty table");
	login_unix(&t, 1, "root", T0);
	open_tls(&t, 2, T0);
	cr_assert_eq(sess_next_lock_in(&t, T0), -1, "nothing lockable");

	a = login_tls(&t, 3, "alice", T0);
	b = login_tls(&t, 4, "bob", T0 + 20);
	cr_assert_eq(sess_next_lock_in(&t, T0 + 30), 30, "alice first");
	sess_touch(a, T0 + 30);
	cr_assert_eq(sess_next_lock_in(&t, T0 + 30), 50, "now bob first");
	cr_assert_eq(sess_next_lock_in(&t, T0 + 1000), 0, "overdue: 0");

	cr_assert_eq(sess_idle_lock(&t, T0 + 80, NULL, NULL), 1);
	cr_assert_eq(b->state, SESS_LOCKED);
	cr_assert_eq(sess_next_lock_in(&t, T0 + 80), 10, "alice remains");
	cr_assert_eq(sess_idle_lock(&t, T0 + 90, NULL, NULL), 1);
	cr_assert_eq(sess_next_lock_in(&t, T0 + 90), -1, "all locked");
	sess_table_free(&t);
}

/* CR 2.5 */
Test(session, unlock_by_owner_restarts_the_idle_clock)
{
	struct sess_table t;
	struct sess *s;
	uint32_t id;

	cr_assert_eq(sess_table_init(&t, 4, 0, 60), 0);
	s = login_tls(&t, 1, "alice", T0);
	id = s->id;
	cr_assert_eq(sess_idle_lock(&t, T0 + 60, NULL, NULL), 1);
	cr_assert_eq(sess_authenticate(&t, s, "alice", AUTH_ROLE_OPERATOR,
				       SESS_M_CERT_PASSWORD, T0 + 100),
		     0);
	cr_assert_eq(s->state, SESS_ACTIVE);
	cr_assert_eq(s->id, id, "same session");
	cr_assert_eq(s->method, SESS_M_CERT_PASSWORD);
	cr_assert_eq(s->authenticated, T0 + 100);
	cr_assert_eq(s->last, T0 + 100);
	cr_assert_eq(sess_idle_lock(&t, T0 + 159, NULL, NULL), 0);
	cr_assert_eq(sess_idle_lock(&t, T0 + 160, NULL, NULL), 1);
	sess_table_free(&t);
}

/* CR 2.7 */
Test(session, global_cap)
{
	struct sess_table t;
	struct sess *s[3];
	int i;

	cr_assert_eq(sess_table_init(&t, 3, 0, 60), 0);
	/* Any state counts: two unauthenticated, one active. */
	s[0] = open_tls(&t, 1, T0);
	s[1] = open_tls(&t, 2, T0);
	s[2] = login_unix(&t, 3, "root", T0);
	for (i = 0; i < 3; i++) {
		errno = 0;
		cr_assert_null(sess_open(&t, 10 + i, SESS_CH_TLS, "x", T0));
		cr_assert_eq(errno, EUSERS);
	}
	cr_assert_eq(t.n, 3);

	sess_close(&t, s[0]);
	cr_assert_eq(t.n, 2);
	s[0] = sess_open(&t, 20, SESS_CH_TLS, "x", T0);
	cr_assert_not_null(s[0], "a closed slot is free again");
	errno = 0;
	cr_assert_null(sess_open(&t, 21, SESS_CH_TLS, "x", T0));
	cr_assert_eq(errno, EUSERS);
	sess_table_free(&t);
}

/* CR 2.7 */
Test(session, per_user_cap)
{
	struct sess_table t;
	struct sess *a1, *a2, *s;

	cr_assert_eq(sess_table_init(&t, 8, 2, 60), 0);
	a1 = login_tls(&t, 1, "alice", T0);
	a2 = login_unix(&t, 2, "alice", T0);
	cr_assert_eq(sess_count_user(&t, "alice"), 2);

	s = open_tls(&t, 3, T0);
	s->role = AUTH_ROLE_AUDITOR; /* a marker: must stay as it is */
	cr_assert_eq(sess_authenticate(&t, s, "alice", AUTH_ROLE_ADMIN,
				       SESS_M_PASSWORD_TOTP, T0 + 5),
		     -EUSERS);
	cr_assert_eq(s->state, SESS_UNAUTH, "slot unchanged");
	cr_assert_eq(s->method, SESS_M_NONE);
	cr_assert_eq(s->role, AUTH_ROLE_AUDITOR);
	cr_assert_str_empty(s->user);
	cr_assert_eq(s->authenticated, 0);
	cr_assert_eq(s->last, T0);
	cr_assert_eq(sess_count_user(&t, "alice"), 2);

	/* The cap is per user: bob gets in on the same connection. */
	cr_assert_eq(sess_authenticate(&t, s, "bob", AUTH_ROLE_VIEWER,
				       SESS_M_PASSWORD_TOTP, T0 + 5),
		     0);
	cr_assert_str_eq(s->user, "bob");

	/* A locked session still counts against the cap. */
	cr_assert_eq(sess_idle_lock(&t, T0 + 60, NULL, NULL), 1);
	cr_assert_eq(a1->state, SESS_LOCKED);
	s = open_tls(&t, 4, T0 + 60);
	cr_assert_eq(sess_authenticate(&t, s, "alice", AUTH_ROLE_OPERATOR,
				       SESS_M_PASSWORD_TOTP, T0 + 60),
		     -EUSERS);

	/* Closing one frees its place. */
	sess_close(&t, a2);
	cr_assert_eq(sess_count_user(&t, "alice"), 1);
	cr_assert_eq(sess_authenticate(&t, s, "alice", AUTH_ROLE_OPERATOR,
				       SESS_M_PASSWORD_TOTP, T0 + 61),
		     0);
	cr_assert_eq(sess_count_user(&t, "alice"), 2);
	sess_table_free(&t);
}

/* CR 2.7 */
Test(session, unlock_is_not_counted_twice)
{
	struct sess_table t;
	struct sess *a1;

	cr_assert_eq(sess_table_init(&t, 8, 2, 60), 0);
	a1 = login_tls(&t, 1, "alice", T0);
	login_tls(&t, 2, "alice", T0 + 30);
	cr_assert_eq(sess_idle_lock(&t, T0 + 60, NULL, NULL), 1);
	cr_assert_eq(a1->state, SESS_LOCKED);
	cr_assert_eq(sess_count_user(&t, "alice"), 2, "at the cap");

	cr_assert_eq(sess_authenticate(&t, a1, "alice", AUTH_ROLE_OPERATOR,
				       SESS_M_PASSWORD_TOTP, T0 + 70),
		     0, "unlock at the cap");
	cr_assert_eq(a1->state, SESS_ACTIVE);
	cr_assert_eq(sess_count_user(&t, "alice"), 2);
	sess_table_free(&t);
}

/* CR 2.7 */
Test(session, other_user_cannot_take_a_session)
{
	struct sess_table t;
	struct sess *s;

	cr_assert_eq(sess_table_init(&t, 8, 4, 60), 0);
	s = login_tls(&t, 1, "alice", T0);
	cr_assert_eq(sess_idle_lock(&t, T0 + 60, NULL, NULL), 1);

	cr_assert_eq(sess_authenticate(&t, s, "mallory", AUTH_ROLE_ADMIN,
				       SESS_M_PASSWORD_TOTP, T0 + 61),
		     -EPERM);
	cr_assert_eq(s->state, SESS_LOCKED, "still locked");
	cr_assert_str_eq(s->user, "alice");
	cr_assert_eq(s->role, AUTH_ROLE_OPERATOR);
	cr_assert_eq(sess_count_user(&t, "mallory"), 0);

	/* Nor an active one. */
	cr_assert_eq(sess_authenticate(&t, s, "alice", AUTH_ROLE_OPERATOR,
				       SESS_M_PASSWORD_TOTP, T0 + 62),
		     0);
	cr_assert_eq(sess_authenticate(&t, s, "mallory", AUTH_ROLE_ADMIN,
				       SESS_M_PASSWORD_TOTP, T0 + 63),
		     -EPERM);
	cr_assert_str_eq(s->user, "alice");
	cr_assert_eq(s->role, AUTH_ROLE_OPERATOR);
	sess_table_free(&t);
}

Test(session, authenticate_rejects_bad_arguments)
{
	struct sess_table t;
	char longname[AUTH_NAME_MAX + 2];
	struct sess *s;

	cr_assert_eq(sess_table_init(&t, 4, 0, 60), 0);
	s = open_tls(&t, 1, T0);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	cr_assert_eq(sess_authenticate(&t, s, longname, AUTH_ROLE_VIEWER,
				       SESS_M_PASSWORD_TOTP, T0),
		     -EINVAL);
	cr_assert_eq(sess_authenticate(&t, s, "", AUTH_ROLE_VIEWER,
				       SESS_M_PASSWORD_TOTP, T0),
		     -EINVAL);
	cr_assert_eq(sess_authenticate(&t, s, NULL, AUTH_ROLE_VIEWER,
				       SESS_M_PASSWORD_TOTP, T0),
		     -EINVAL);
	cr_assert_eq(sess_authenticate(&t, s, "alice", AUTH_ROLE_VIEWER,
				       SESS_M_NONE, T0),
		     -EINVAL);
	cr_assert_eq(sess_authenticate(&t, s, "alice", AUTH_ROLE_COUNT,
				       SESS_M_PASSWORD_TOTP, T0),
		     -EINVAL);
	cr_assert_eq(s->state, SESS_UNAUTH);
	cr_assert_str_empty(s->user);

	/* The longest allowed name fits. */
	longname[AUTH_NAME_MAX] = '\0';
	cr_assert_eq(sess_authenticate(&t, s, longname, AUTH_ROLE_VIEWER,
				       SESS_M_PASSWORD_TOTP, T0),
		     0);
	cr_assert_str_eq(s->user, longname);

	sess_close(&t, s);
	cr_assert_eq(sess_authenticate(&t, s, "alice", AUTH_ROLE_VIEWER,
				       SESS_M_PASSWORD_TOTP, T0),
		     -EINVAL, "a closed session");
	sess_table_free(&t);
}

Test(session, ids_increase_and_are_never_reused)
{
	struct sess_table t;
	struct sess *a, *b, *c, *d;
	uint32_t prev = 0;
	int i;

	cr_assert_eq(sess_table_init(&t, 4, 0, 60), 0);
	a = open_tls(&t, 1, T0);
	b = open_tls(&t, 2, T0);
	c = open_tls(&t, 3, T0);
	cr_assert_eq(a->id, 1);
	cr_assert_eq(b->id, 2);
	cr_assert_eq(c->id, 3);
	sess_close(&t, b);
	d = open_tls(&t, 4, T0);
	cr_assert_eq(d->id, 4, "not the closed session's 2");
	cr_assert_null(sess_find(&t, 2));

	/* Slots are recycled, ids are not. */
	sess_close(&t, a);
	sess_close(&t, c);
	sess_close(&t, d);
	cr_assert_eq(t.n, 0);
	prev = 4;
	for (i = 0; i < 100; i++) {
		struct sess *s = open_tls(&t, 100 + i, T0);

		cr_assert_eq(s->id, prev + 1);
		prev = s->id;
		sess_close(&t, s);
	}

	/* At the end of the id space the table refuses. */
	t.next_id = UINT32_MAX;
	a = open_tls(&t, 500, T0);
	cr_assert_eq(a->id, UINT32_MAX);
	errno = 0;
	cr_assert_null(sess_open(&t, 501, SESS_CH_TLS, "x", T0));
	cr_assert_eq(errno, EOVERFLOW);
	sess_table_free(&t);
}

Test(session, find_and_by_client)
{
	struct sess_table t;
	struct sess *a, *b;

	cr_assert_eq(sess_table_init(&t, 4, 0, 60), 0);
	a = open_tls(&t, 0x1000000001ULL, T0);
	b = login_unix(&t, 42, "root", T0);

	cr_assert_eq(sess_find(&t, a->id), a);
	cr_assert_eq(sess_find(&t, b->id), b);
	cr_assert_null(sess_find(&t, 0));
	cr_assert_null(sess_find(&t, 99));
	cr_assert_eq(sess_by_client(&t, 0x1000000001ULL), a);
	cr_assert_eq(sess_by_client(&t, 42), b);
	cr_assert_null(sess_by_client(&t, 1), "only the low bits match");

	sess_close(&t, a);
	cr_assert_null(sess_find(&t, 1));
	cr_assert_null(sess_by_client(&t, 0x1000000001ULL));
	cr_assert_eq(sess_find(&t, b->id), b);

	/* Closing twice or NULL is harmless. */
	sess_close(&t, a);
	sess_close(&t, NULL);
	cr_assert_eq(t.n, 1);
	sess_table_free(&t);
}

Test(session, count_user)
{
	struct sess_table t;
	struct sess *s;

	cr_assert_eq(sess_table_init(&t, 8, 0, 60), 0);
	cr_assert_eq(sess_count_user(&t, "alice"), 0);
	open_tls(&t, 1, T0); /* unauthenticated: not counted */
	login_tls(&t, 2, "alice", T0);
	login_unix(&t, 3, "alice", T0 + 30);
	login_tls(&t, 4, "bob", T0);
	cr_assert_eq(sess_count_user(&t, "alice"), 2);
	cr_assert_eq(sess_idle_lock(&t, T0 + 60, NULL, NULL), 2);
	cr_assert_eq(sess_count_user(&t, "alice"), 2, "locked counts");
	cr_assert_eq(sess_count_user(&t, "bob"), 1);
	cr_assert_eq(sess_count_user(&t, "alic"), 0, "whole names only");
	cr_assert_eq(sess_count_user(&t, ""), 0);
	cr_assert_eq(sess_count_user(&t, NULL), 0);

	s = sess_by_client(&t, 2);
	sess_close(&t, s);
	cr_assert_eq(sess_count_user(&t, "alice"), 1);
	sess_table_free(&t);
}

Test(session, names)
{
	cr_assert_str_eq(sess_state_name(SESS_UNAUTH), "unauthenticated");
	cr_assert_str_eq(sess_state_name(SESS_ACTIVE), "active");
	cr_assert_str_eq(sess_state_name(SESS_LOCKED), "locked");
	cr_assert_str_eq(sess_state_name((enum sess_state)42), "unknown");

	cr_assert_str_eq(sess_method_name(SESS_M_NONE), "none");
	cr_assert_str_eq(sess_method_name(SESS_M_PEERCRED), "peercred");
	cr_assert_str_eq(sess_method_name(SESS_M_BOOTSTRAP), "bootstrap");
	cr_assert_str_eq(sess_method_name(SESS_M_PASSWORD_TOTP),
			 "password+totp");
	cr_assert_str_eq(sess_method_name(SESS_M_CERT_PASSWORD),
			 "certificate+password");
	cr_assert_str_eq(sess_method_name((enum sess_method)42), "unknown");
}
