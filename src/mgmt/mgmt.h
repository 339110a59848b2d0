/*
 * The management core (FR1, FR2): who is asking, may they, and the record
 * of it. It sits between the server (server.h: connections, frames, TLS)
 * and the command table (commands.h): every request goes
 *
 *   connection -> session (session.h) -> authentication (auth.h, totp.h)
 *   -> RBAC check (rbac.h) -> command -> audit record (MGMT_*)
 *
 * Local (control socket): the peer's uid (SO_PEERCRED) is looked up by
 * Unix user name in the store's unix-user column; an unmapped peer is
 * refused (permission-denied, MGMT_LOGIN_FAIL). Bootstrap: while the
 * store holds no active admin, root (uid 0) unmapped gets a session that
 * may run only hello, status, user.list and user.add with role admin
 * (the documented first-run step).
 *
 * Remote (TLS endpoint): a session starts unauthenticated; only hello and
 * auth.login work. Login needs user + password + TOTP code, or a client
 * certificate (verified by the server against management-tls-client-ca;
 * its subject CN must equal the user name) + password. The password
 * hash is checked on a worker thread (the poll loop never runs yescrypt
 * on remote input); unknown users, disabled users and locked users take
 * the same path against a dummy hash and get the same answer
 * ("authentication failed", CR 1.10). Lockout per user (CR 1.11) and per
 * source address (spraying across users). Three failed logins on one
 * connection close it.
 *
 * Protocol additions (requests as in control.h; results are JSON
 * objects; every one is in rbac.c's table):
 *
 *   hello                 {protocol, version, commands[], banner,
 *                          session:{id, state, user, role, method,
 *                          channel} , auth:{required: bool, methods: [..],
 *                          certificate: bool (the TLS peer presented a
 *                          verified certificate)}}
 *   auth.login  {user, password, totp?}    -> {session, user, role,
 *                          method, idle_lock}      (errors: authentication-failed)
 *   auth.unlock {password, totp?}          -> {session, state:"active"}
 *   auth.logout                            -> {} and the connection closes
 *   auth.passwd {old, new}                 -> {} (own password, any role)
 *   user.add    {name, role, unix?, password?} -> {name}   ("!" without password)
 *   user.del    {name}
 *   user.passwd {name, password}
 *   user.lock   {name}   (state disabled; its sessions are killed)
 *   user.unlock {name}   (state active, failure lockout cleared)
 *   user.list              -> {users:[{name, role, state, unix, totp,
 *                             locked, locked_until, failures}]}
 *   user.totp-enroll {name} -> {name, secret, uri}
 *   session.list           -> {sessions:[{id, user, role, state, method,
 *                             channel, source, opened, idle, current}]}
 *                             (wall-clock seconds; non-admins see only
 *                             their own sessions)
 *   session.kill {id}      -> {id, user}
 *   policy.apply  with approval-required: -> {pending:{id, author,
 *                             expires, sha256, diff}} instead of applying
 *   policy.pending         -> {pending:[{id, author, created, expires,
 *                             sha256, name, diff}]}
 *   policy.approve {id}    -> what policy.apply returns (applied)
 *   policy.withdraw {id}   -> {id}
 *   conf.show              -> {file, keys:{...}} (no secrets)
 *
 * New error codes: authentication-required (no session yet),
 * authentication-failed, session-locked, approval (dual-approval
 * refusals: self-approval, unknown id), and permission-denied for RBAC.
 */
#ifndef CONDUIT_MGMT_MGMT_H
#define CONDUIT_MGMT_MGMT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "mgmt/auth.h"
#include "mgmt/server.h"
#include "mgmt/session.h"
#include "mgmt/totp.h"

struct audit;
struct cmd_daemon;
struct conf;
struct diag_list;

#define CTL_ERR_AUTH_REQUIRED "authentication-required"
#define CTL_ERR_AUTH_FAILED "authentication-failed"
#define CTL_ERR_SESSION_LOCKED "session-locked"
#define CTL_ERR_APPROVAL "approval"

#define MGMT_CONN_FAILURES_MAX 3      /* failed logins before a close */
#define MGMT_LOGIN_TIMEOUT_DEFAULT 30 /* s to authenticate after accept */
#define MGMT_BANNER_DEFAULT                                                 \
	"This is a restricted industrial control system device. Access is " \
	"limited to authorised personnel; every action is recorded and "    \
	"audited."
#define MGMT_BANNER_MAX 4096

struct mgmt_opts {
	const char *users_file;
	uid_t users_owner; /* may own the file besides root; 0 = euid */
	unsigned cost;	   /* yescrypt cost */
	struct auth_pw_policy pw;
	struct lockout_policy lockout;	   /* per user */
	struct lockout_policy src_lockout; /* per source address (spraying):
					      default 20 failures / 15 min */
	unsigned idle_lock_s;		   /* SESS_IDLE_OFF = off */
	unsigned max_sessions;		   /* 0 = default */
	unsigned max_per_user;		   /* 0 = default */
	unsigned login_timeout_s;	   /* 0 = default */
	bool approval_required;
	unsigned approval_ttl_s;
	const char *banner; /* NULL = MGMT_BANNER_DEFAULT */
	const char *issuer; /* otpauth issuer; NULL = "conduitd" */
};

/* Defaults for everything; users_file = the conf default. */
void mgmt_opts_default(struct mgmt_opts *o);
/* The options from the daemon configuration (banner-file is read:
 * -errno with the reason in dl). Strings point into c (and *banner_buf,
 * which the caller frees). */
int mgmt_opts_from_conf(const struct conf *c, struct mgmt_opts *o,
			char **banner_buf, struct diag_list *dl);

struct mgmt;

/* Loads the user store (auth_store_load's checks; errors in dl) and
 * starts the hashing thread. NULL + errno. */
struct mgmt *mgmt_new(const struct mgmt_opts *o, struct diag_list *dl);
void mgmt_free(struct mgmt *m);
void mgmt_set_audit(struct mgmt *m, struct audit *a);
void mgmt_set_server(struct mgmt *m, struct srv *s);
/* SIGHUP: re-reads the store; on error the old one stays (dl says why). */
int mgmt_reload_users(struct mgmt *m, struct diag_list *dl);

/* Readable when the hashing thread finished a job: call mgmt_on_event. */
int mgmt_event_fd(const struct mgmt *m);
void mgmt_on_event(struct mgmt *m, struct cmd_daemon *d);

/* The server's request fn body (conduitd.c's on_request calls it). */
json_t *mgmt_request(struct mgmt *m, struct cmd_daemon *d, const json_t *req,
		     struct srv_peer *peer);
/* The server's close fn body. */
void mgmt_on_close(struct mgmt *m, struct srv_peer *peer,
		   enum srv_close_reason why, const char *error);
/* Once a second: idle locks, login timeouts, expired approvals. */
void mgmt_tick(struct mgmt *m, int64_t now);

/* Dual approval is on (policy.apply in commands.c asks). */
bool mgmt_approval_required(const struct mgmt *m);
/* policy.apply under dual approval: queues content (copied) and returns
 * the response ({pending:{...}}), audited. */
json_t *mgmt_policy_submit(struct mgmt *m, struct cmd_daemon *d, uint64_t id,
			   const char *name, const char *content, size_t len,
			   json_t *diff);

/* Command handlers for cmd_table (commands.c); they use d->mgmt and the
 * session of the request being served. */
json_t *mgmt_cmd_auth_login(struct cmd_daemon *d, const json_t *a, uint64_t id);
json_t *mgmt_cmd_auth_unlock(struct cmd_daemon *d, const json_t *a,
			     uint64_t id);
json_t *mgmt_cmd_auth_logout(struct cmd_daemon *d, const json_t *a,
			     uint64_t id);
json_t *mgmt_cmd_auth_passwd(struct cmd_daemon *d, const json_t *a,
			     uint64_t id);
json_t *mgmt_cmd_user_add(struct cmd_daemon *d, const json_t *a, uint64_t id);
json_t *mgmt_cmd_user_del(struct cmd_daemon *d, const json_t *a, uint64_t id);
json_t *mgmt_cmd_user_passwd(struct cmd_daemon *d, const json_t *a,
			     uint64_t id);
json_t *mgmt_cmd_user_lock(struct cmd_daemon *d, const json_t *a, uint64_t id);
json_t *mgmt_cmd_user_unlock(struct cmd_daemon *d, const json_t *a,
			     uint64_t id);
json_t *mgmt_cmd_user_list(struct cmd_daemon *d, const json_t *a, uint64_t id);
json_t *mgmt_cmd_user_totp(struct cmd_daemon *d, const json_t *a, uint64_t id);
json_t *mgmt_cmd_session_list(struct cmd_daemon *d, const json_t *a,
			      uint64_t id);
json_t *mgmt_cmd_session_kill(struct cmd_daemon *d, const json_t *a,
			      uint64_t id);
json_t *mgmt_cmd_policy_pending(struct cmd_daemon *d, const json_t *a,
				uint64_t id);
json_t *mgmt_cmd_policy_approve(struct cmd_daemon *d, const json_t *a,
				uint64_t id);
json_t *mgmt_cmd_policy_withdraw(struct cmd_daemon *d, const json_t *a,
				 uint64_t id);

/* `status`'s management members: users, sessions (by state), pending
 * approvals, and the endpoint counters (srv_get_stats) (new reference). */
json_t *mgmt_status_json(struct mgmt *m);

/* `hello`'s session and auth members for the request being served (new
 * reference; JSON null outside a request). */
json_t *mgmt_hello_json(struct mgmt *m);

#endif
