/*
 * Use control (FR2): which role may run which command (CR 2.1 RE(1),
 * RE(2)), in one table, and dual approval of policy changes (CR 2.1
 * RE(4)). Pure logic with an injected clock; no I/O.
 *
 *   viewer    status, stats, policy.show, hello, session.list (own)
 *   operator  + island
 *   engineer  + policy.check, policy.diff, policy.apply, reload,
 *             policy.approve
 *   auditor   audit.tail, audit.verify, status, hello (only these)
 *   admin     everything, incl. user.*, session.kill, conf
 */
#ifndef CONDUIT_MGMT_RBAC_H
#define CONDUIT_MGMT_RBAC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mgmt/auth.h"

#define RBAC_ROLE_BIT(r) (1u << (r))

struct rbac_rule {
	const char *command; /* control protocol name: "policy.apply" */
	unsigned roles;	     /* RBAC_ROLE_BIT mask */
};

/* The table, NULL-terminated; every command of the control protocol
 * (commands.c cmd_table) and of the management issue appears once. */
extern const struct rbac_rule rbac_table[];

/* True when role may run command; unknown commands: false (admin too). */
bool rbac_allowed(enum auth_role role, const char *command);
/* Comma-separated role names allowed for command ("engineer,admin"), for
 * conduitctl(8) and denials. */
const char *rbac_roles_str(const char *command, char *buf, size_t len);

/* --- dual approval -------------------------------------------------------- */

#define RBAC_PENDING_MAX 16
#define RBAC_PENDING_TTL_DEFAULT 3600 /* s */

struct rbac_pending {
	uint32_t id; /* 1.., never reused within a daemon's life */
	char author[AUTH_NAME_MAX + 1];
	int64_t created, expires;
	char sha256[65]; /* of the policy content awaiting approval */
	void *payload;	 /* the caller's (policy text); freed by free_fn */
};

struct rbac_approvals {
	struct rbac_pending v[RBAC_PENDING_MAX];
	size_t n;
	uint32_t next_id;
	unsigned ttl_s;
	void (*free_fn)(void *payload);
};

void rbac_approvals_init(struct rbac_approvals *a, unsigned ttl_s,
			 void (*free_fn)(void *));
void rbac_approvals_free(struct rbac_approvals *a);
/* A change by author (must be engineer or admin) waits: its id, or
 * -EPERM (role), -ENOSPC (too many pending). Takes payload. */
int rbac_submit(struct rbac_approvals *a, const char *author,
		enum auth_role role, const char *sha256, void *payload,
		int64_t now);
/*
 * Approval of id by approver: -ENOENT (no such id or expired), -EPERM
 * (approver is the author, or not engineer/admin). On 0 the pending entry
 * is removed and its payload handed to *payload (the caller applies and
 * frees it).
 */
int rbac_approve(struct rbac_approvals *a, uint32_t id, const char *approver,
		 enum auth_role role, int64_t now, void **payload);
/* Drops expired entries (payloads freed); returns how many. */
size_t rbac_expire(struct rbac_approvals *a, int64_t now);
/* Withdrawn by its author or an admin: 0, -ENOENT, -EPERM. */
int rbac_withdraw(struct rbac_approvals *a, uint32_t id, const char *who,
		  enum auth_role role);

#endif
