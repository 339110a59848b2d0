/*
 * Identities for the management plane (FR1): the local user store, password
 * hashing and the password policy. Pure logic plus the store's file I/O;
 * no network, no global state.
 *
 * Store: /etc/conduitd/auth/users (conduitd.conf `users-file`), one user per
 * line, '#' comments, fields separated by ':' (none may contain ':'):
 *
 *   name:role:state:unix-user:hash:totp:history
 *
 *   name       [a-z_][a-z0-9_.-]{0,31}, unique
 *   role       viewer | operator | engineer | auditor | admin (rbac.h)
 *   state      active | disabled
 *   unix-user  the local Unix account mapped to it for the control socket
 *              (SO_PEERCRED), or "-" (none: remote login only)
 *   hash       crypt(3) string: yescrypt "$y$..." (libxcrypt), or "!" (no
 *              password set: login impossible)
 *   totp       base32 TOTP secret (RFC 4648, no padding), or "-"
 *   history    the previous hashes, ',' separated, newest first, or "-"
 *
 * The file must be a regular file owned by root (or by the daemon's user)
 * with no group or other permission bits (0600 or 0400): auth_store_load
 * refuses it otherwise. Errors carry file:line:col.
 *
 * Why yescrypt: memory-hard like argon2id, the default of Debian's own
 * shadow passwords, in libcrypt (libxcrypt, part of every Debian system:
 * no new dependency), and its cost is one small integer that scales memory
 * and time together (cost 5 ≈ 16 MiB), which fits a 256 MiB gateway where
 * logins are rare and serialised.
 */
#ifndef CONDUIT_MGMT_AUTH_H
#define CONDUIT_MGMT_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct diag_list;

#define AUTH_NAME_MAX 32
#define AUTH_HASH_MAX 160 /* a yescrypt string is ~73 bytes */
#define AUTH_TOTP_SECRET_MAX 64
#define AUTH_HISTORY_MAX 24
#define AUTH_COST_DEFAULT 5 /* yescrypt cost factor (1..11) */
#define AUTH_USERS_MAX 1024

enum auth_role {
	AUTH_ROLE_VIEWER,
	AUTH_ROLE_OPERATOR,
	AUTH_ROLE_ENGINEER,
	AUTH_ROLE_AUDITOR,
	AUTH_ROLE_ADMIN,
	AUTH_ROLE_COUNT
};

enum auth_state {
	AUTH_STATE_ACTIVE,
	AUTH_STATE_DISABLED,
};

/* "viewer" ... <-> enum; -1 when unknown. */
int auth_role_parse(const char *s);
const char *auth_role_name(enum auth_role r);

struct auth_user {
	char name[AUTH_NAME_MAX + 1];
	enum auth_role role;
	enum auth_state state;
	char unix_user[AUTH_NAME_MAX + 1];   /* "" = none */
	char hash[AUTH_HASH_MAX + 1];	     /* "!" = no password */
	char totp[AUTH_TOTP_SECRET_MAX + 1]; /* "" = none */
	unsigned nhistory;
	char history[AUTH_HISTORY_MAX][AUTH_HASH_MAX + 1];
	unsigned line; /* in the file, for diagnostics */
};

struct auth_store {
	struct auth_user *v;
	size_t n;
};

/*
 * Loads path. Returns 0; -EPERM when the file's owner or mode is unsafe
 * (diag names them: "users: mode 0644: must not be readable by group or
 * others"); -EINVAL with every bad line in dl (file:line:col); other
 * negative errno when unreadable. A missing file is an empty store (0).
 */
int auth_store_load(const char *path, struct auth_store *out,
		    struct diag_list *dl);
/* The same with the second allowed owner given (the daemon loads as root
 * the file its own user will rewrite). */
int auth_store_load_owner(const char *path, uid_t owner, struct auth_store *out,
			  struct diag_list *dl);
/* Writes the store atomically (tmp file 0600, fsync, rename). */
int auth_store_save(const char *path, const struct auth_store *s);
void auth_store_free(struct auth_store *s);
struct auth_user *auth_store_find(struct auth_store *s, const char *name);
/* The user mapped to a Unix user name, or NULL. */
struct auth_user *auth_store_by_unix(struct auth_store *s,
				     const char *unix_user);
/* Adds a user (unique name, valid fields): 0, -EEXIST, -EINVAL, -E2BIG. */
int auth_store_add(struct auth_store *s, const struct auth_user *u);
int auth_store_del(struct auth_store *s, const char *name);
/* Valid user name? */
bool auth_name_ok(const char *name);

/* --- hashing ------------------------------------------------------------ */

/* yescrypt hash of password with a fresh salt (getrandom) at cost; out
 * holds AUTH_HASH_MAX + 1. Returns 0 or a negative errno. */
int auth_hash(const char *password, unsigned cost, char *out, size_t outlen);
/* Constant-time comparison of crypt(password, hash) with hash. false for
 * "!" or a malformed hash. */
bool auth_verify(const char *password, const char *hash);
/* A hash to verify against when the user does not exist, so that a
 * failed login takes the same time either way (CR 1.10). Computed once. */
const char *auth_dummy_hash(unsigned cost);

/* --- password policy (CR 1.7) --------------------------------------------- */

struct auth_pw_policy {
	unsigned min_len;	 /* characters (UTF-8 code points); 12 */
	unsigned min_classes;	 /* of lower, upper, digit, other; 3 */
	unsigned history;	 /* previous passwords refused; 5 */
	const char *common_file; /* one password per line; NULL: built-in
				    list of the most common ones */
};

void auth_pw_policy_default(struct auth_pw_policy *p);
/*
 * Checks a new password for user u (its name and history). Returns 0, or
 * -EINVAL with why (a static, user-facing text: "shorter than 12
 * characters", "needs 3 of: lower case, upper case, digits, other",
 * "contains the user name", "is a commonly used password", "was used
 * before").
 */
int auth_pw_check(const struct auth_pw_policy *p, const struct auth_user *u,
		  const char *password, const char **why);
/* Sets u's password: policy check, new hash, old hash into the history
 * (trimmed to p->history). Returns 0 or -EINVAL (why) / errno. */
int auth_set_password(const struct auth_pw_policy *p, struct auth_user *u,
		      const char *password, unsigned cost, const char **why);

#endif
