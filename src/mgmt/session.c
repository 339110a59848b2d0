/*
 * Management sessions: the fixed table of every connection's session, its
 * state machine (unauthenticated -> active <-> locked), the global and
 * per-user concurrency caps (CR 2.7) and the idle lock of remote sessions
 * (CR 2.5). No I/O, no clock of its own (callers pass now), no logging:
 * the caller audits what this module reports.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgmt/session.h"

int sess_table_init(struct sess_table *t, unsigned max_total,
		    unsigned max_per_user, unsigned idle_lock_s)
{
	memset(t, 0, sizeof(*t));
	t->max_total = max_total ? max_total : SESS_MAX_TOTAL_DEFAULT;
	t->max_per_user = max_per_user ? max_per_user :
					 SESS_MAX_PER_USER_DEFAULT;
	if (idle_lock_s == SESS_IDLE_OFF)
		t->idle_lock_s = 0;
	else
		t->idle_lock_s = idle_lock_s ? idle_lock_s :
					       SESS_IDLE_LOCK_DEFAULT;
	t->cap = t->max_total;
	t->v = calloc(t->cap, sizeof(*t->v));
	if (!t->v) {
		t->cap = 0;
		return -ENOMEM;
	}
	t->next_id = 1;
	return 0;
}

void sess_table_free(struct sess_table *t)
{
	if (!t)
		return;
	free(t->v);
	memset(t, 0, sizeof(*t));
}

struct sess *sess_open(struct sess_table *t, uint64_t client,
		       enum sess_channel ch, const char *source, int64_t now)
{
	struct sess *s = NULL;
	size_t i;

	if (t->n >= t->max_total || t->n >= t->cap) {
		errno = EUSERS;
		return NULL;
	}
	/* Ids name sessions in session.kill and the audit trail: after
	 * 2^32 - 1 of them refuse rather than hand one out twice. */
	if (t->next_id == 0) {
		errno = EOVERFLOW;
		return NULL;
	}
	for (i = 0; i < t->cap; i++) {
		if (!t->v[i].in_use) {
			s = &t->v[i];
			break;
		}
	}
	if (!s) { /* n disagrees with the slots: cannot happen */
		errno = EUSERS;
		return NULL;
	}
	memset(s, 0, sizeof(*s));
	s->id = t->next_id++;
	s->client = client;
	s->channel = ch;
	s->state = SESS_UNAUTH;
	s->method = SESS_M_NONE;
	s->role = AUTH_ROLE_VIEWER;
	if (source) /* longer ones are cut: the text is for people only */
		snprintf(s->source, sizeof(s->source), "%s", source);
	s->opened = now;
	s->last = now;
	s->in_use = true;
	t->n++;
	return s;
}

int sess_authenticate(struct sess_table *t, struct sess *s, const char *user,
		      enum auth_role role, enum sess_method m, int64_t now)
{
	size_t len;

	if (!s || !s->in_use || !user || m == SESS_M_NONE ||
	    (unsigned)role >= AUTH_ROLE_COUNT)
		return -EINVAL;
	len = strlen(user);
	if (len == 0 || len > AUTH_NAME_MAX)
		return -EINVAL;
	if (s->state == SESS_UNAUTH) {
		if (t->max_per_user &&
		    sess_count_user(t, user) >= t->max_per_user)
			return -EUSERS;
	} else if (strcmp(s->user, user) != 0) {
		/* An authenticated connection never changes its identity:
		 * a locked screen is unlocked by its owner only. */
		return -EPERM;
	}
	/* Same user re-authenticating (unlock): already counted once. */
	memcpy(s->user, user, len + 1);
	s->role = role;
	s->method = m;
	s->state = SESS_ACTIVE;
	s->last = now;
	s->authenticated = now;
	return 0;
}

void sess_touch(struct sess *s, int64_t now)
{
	/* A locked session's hello or failed unlock is not activity. */
	if (s && s->in_use && s->state == SESS_ACTIVE && now > s->last)
		s->last = now;
}

static bool sess_lockable(const struct sess_table *t, const struct sess *s)
{
	return t->idle_lock_s && s->in_use && s->channel == SESS_CH_TLS &&
	       s->state == SESS_ACTIVE;
}

size_t sess_idle_lock(struct sess_table *t, int64_t now,
		      void (*fn)(struct sess *s, void *arg), void *arg)
{
	size_t i, n = 0;

	for (i = 0; i < t->cap; i++) {
		struct sess *s = &t->v[i];

		if (!sess_lockable(t, s) ||
		    now - s->last < (int64_t)t->idle_lock_s)
			continue;
		s->state = SESS_LOCKED;
		n++;
		if (fn)
			fn(s, arg);
	}
	return n;
}

int64_t sess_next_lock_in(const struct sess_table *t, int64_t now)
{
	int64_t best = -1;
	size_t i;

	for (i = 0; i < t->cap; i++) {
		const struct sess *s = &t->v[i];
		int64_t in;

		if (!sess_lockable(t, s))
			continue;
		in = s->last + (int64_t)t->idle_lock_s - now;
		if (in < 0)
			in = 0;
		if (best < 0 || in < best)
			best = in;
	}
	return best;
}

void sess_close(struct sess_table *t, struct sess *s)
{
	if (!s || !s->in_use)
		return;
	memset(s, 0, sizeof(*s));
	if (t->n > 0)
		t->n--;
}

struct sess *sess_find(struct sess_table *t, uint32_t id)
{
	size_t i;

	if (id == 0)
		return NULL;
	for (i = 0; i < t->cap; i++)
		if (t->v[i].in_use && t->v[i].id == id)
			return &t->v[i];
	return NULL;
}

struct sess *sess_by_client(struct sess_table *t, uint64_t client)
{
	size_t i;

	for (i = 0; i < t->cap; i++)
		if (t->v[i].in_use && t->v[i].client == client)
			return &t->v[i];
	return NULL;
}

unsigned sess_count_user(const struct sess_table *t, const char *user)
{
	unsigned n = 0;
	size_t i;

	if (!user || !*user)
		return 0;
	for (i = 0; i < t->cap; i++) {
		const struct sess *s = &t->v[i];

		if (s->in_use && s->state != SESS_UNAUTH &&
		    strcmp(s->user, user) == 0)
			n++;
	}
	return n;
}

const char *sess_state_name(enum sess_state s)
{
	switch (s) {
	case SESS_UNAUTH:
		return "unauthenticated";
	case SESS_ACTIVE:
		return "active";
	case SESS_LOCKED:
		return "locked";
	}
	return "unknown";
}

const char *sess_method_name(enum sess_method m)
{
	switch (m) {
	case SESS_M_NONE:
		return "none";
	case SESS_M_PEERCRED:
		return "peercred";
	case SESS_M_BOOTSTRAP:
		return "bootstrap";
	case SESS_M_PASSWORD_TOTP:
		return "password+totp";
	case SESS_M_CERT_PASSWORD:
		return "certificate+password";
	}
	return "unknown";
}
