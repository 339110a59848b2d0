/*
 * Management sessions (CR 2.5, 2.6, 2.7): one per connection of the
 * control socket or the TLS endpoint, from accept to close. Pure logic
 * with an injected clock (seconds, CLOCK_MONOTONIC in the daemon); no I/O.
 *
 *   unix: authenticated at open by the peer's credentials (SO_PEERCRED
 *         mapped to a user); never idle-locked (the server's idle timeout
 *         closes it).
 *   tls:  SESS_UNAUTH until auth.login; then SESS_ACTIVE; idle for
 *         idle_lock_s -> SESS_LOCKED (only hello, auth.unlock, auth.logout
 *         work until the same user re-authenticates).
 *
 * Caps: max_total sessions of any state (CR 2.7 global), max_per_user
 * authenticated sessions of one user (CR 2.7 per user).
 */
#ifndef CONDUIT_MGMT_SESSION_H
#define CONDUIT_MGMT_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mgmt/auth.h"

#define SESS_MAX_TOTAL_DEFAULT 32
#define SESS_MAX_PER_USER_DEFAULT 4
#define SESS_IDLE_LOCK_DEFAULT 900 /* s */
#define SESS_SOURCE_MAX 64

enum sess_state {
	SESS_UNAUTH, /* tls, before a successful auth.login */
	SESS_ACTIVE,
	SESS_LOCKED, /* idle lock: re-authentication needed */
};

enum sess_method {
	SESS_M_NONE,	      /* not authenticated */
	SESS_M_PEERCRED,      /* unix: SO_PEERCRED mapping */
	SESS_M_BOOTSTRAP,     /* unix: root while no admin exists */
	SESS_M_PASSWORD_TOTP, /* tls: password + TOTP */
	SESS_M_CERT_PASSWORD, /* tls: client certificate + password */
};

enum sess_channel {
	SESS_CH_UNIX,
	SESS_CH_TLS,
};

struct sess {
	uint32_t id;	 /* 1.., never reused in the table's life */
	uint64_t client; /* the server's connection id */
	enum sess_channel channel;
	enum sess_state state;
	enum sess_method method;
	char user[AUTH_NAME_MAX + 1]; /* "" until authenticated */
	enum auth_role role;
	char source[SESS_SOURCE_MAX]; /* "uid 1000 pid 42", "198.18.1.2:4031" */
	int64_t opened;		      /* clock of sess_open */
	int64_t last;		      /* last request (sess_touch) */
	int64_t authenticated;	      /* clock of the login; 0 = never */
	unsigned failures;	      /* failed logins on this connection */
	bool in_use;
};

struct sess_table {
	struct sess *v; /* cap slots */
	size_t cap;
	size_t n; /* in use */
	uint32_t next_id;
	unsigned max_total;    /* <= cap */
	unsigned max_per_user; /* 0 = no per-user cap */
	unsigned idle_lock_s;  /* 0 = no idle lock */
};

/* 0 = the default for each of max_total, max_per_user and idle_lock_s;
 * SESS_IDLE_OFF turns the idle lock off. Returns 0 or -ENOMEM. */
#define SESS_IDLE_OFF UINT32_MAX
int sess_table_init(struct sess_table *t, unsigned max_total,
		    unsigned max_per_user, unsigned idle_lock_s);
void sess_table_free(struct sess_table *t);

/* A new session (SESS_UNAUTH, method NONE) for connection client; NULL
 * with errno EUSERS when max_total sessions exist. */
struct sess *sess_open(struct sess_table *t, uint64_t client,
		       enum sess_channel ch, const char *source, int64_t now);
/* Marks s authenticated as user/role by method (state ACTIVE, last =
 * now). -EUSERS when user already has max_per_user authenticated
 * sessions (s unchanged). Re-authentication of a LOCKED session of the
 * same user (unlock) does not count twice; another user: -EPERM. */
int sess_authenticate(struct sess_table *t, struct sess *s, const char *user,
		      enum auth_role role, enum sess_method m, int64_t now);
/* A request was served at now (resets the idle clock of ACTIVE ones). */
void sess_touch(struct sess *s, int64_t now);
/* Locks every ACTIVE tls session idle for idle_lock_s or more; calls
 * fn(s, arg) for each one it locked (for the audit record). Returns how
 * many. */
size_t sess_idle_lock(struct sess_table *t, int64_t now,
		      void (*fn)(struct sess *s, void *arg), void *arg);
/* Seconds until the next idle lock could happen (for poll), or -1. */
int64_t sess_next_lock_in(const struct sess_table *t, int64_t now);
void sess_close(struct sess_table *t, struct sess *s);
struct sess *sess_find(struct sess_table *t, uint32_t id);
struct sess *sess_by_client(struct sess_table *t, uint64_t client);
/* Authenticated sessions of user (ACTIVE or LOCKED). */
unsigned sess_count_user(const struct sess_table *t, const char *user);
/* Iterate with: for (size_t i = 0; i < t->cap; i++) if (t->v[i].in_use) */

const char *
sess_state_name(enum sess_state s); /* "unauthenticated", "active", "locked" */
const char *sess_method_name(
	enum sess_method
		m); /* "none", "peercred", "bootstrap", "password+totp", "certificate+password" */

#endif
