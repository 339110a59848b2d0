/*
 * Use control: the one table mapping every management command to the
 * roles allowed to run it, and the dual-approval queue of pending policy
 * changes. No I/O, no clock of its own (callers pass now), no logging:
 * denials are reported by the caller through the audit stream.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "mgmt/rbac.h"

#define V RBAC_ROLE_BIT(AUTH_ROLE_VIEWER)
#define O RBAC_ROLE_BIT(AUTH_ROLE_OPERATOR)
#define E RBAC_ROLE_BIT(AUTH_ROLE_ENGINEER)
#define U RBAC_ROLE_BIT(AUTH_ROLE_AUDITOR)
#define A RBAC_ROLE_BIT(AUTH_ROLE_ADMIN)

/*
 * viewer < operator < engineer < admin each add to the one before; the
 * auditor is apart: it reads and verifies the audit trail and sees that
 * the daemon runs, nothing else (separation of duties, CR 2.1 RE(2)).
 */
const struct rbac_rule rbac_table[] = {
	{ "hello", V | O | E | U | A },
	/* the session's own authentication: any role (the session state
	 * decides when each is possible) */
	{ "auth.login", V | O | E | U | A },
	{ "auth.unlock", V | O | E | U | A },
	{ "auth.logout", V | O | E | U | A },
	{ "auth.passwd", V | O | E | U | A },
	{ "status", V | O | E | U | A },
	{ "stats", V | O | E | A },
	{ "policy.show", V | O | E | A },
	{ "session.list", V | O | E | A }, /* non-admins: own sessions */
	{ "island", O | E | A },
	{ "policy.check", E | A },
	{ "policy.diff", E | A },
	{ "policy.apply", E | A },
	{ "policy.approve", E | A },
	{ "policy.withdraw", E | A }, /* own changes; admin: any */
	{ "policy.pending", E | A },
	{ "reload", E | A },
	{ "audit.tail", U | A },
	{ "audit.verify", U | A },
	{ "session.kill", A },
	{ "user.add", A },
	{ "user.del", A },
	{ "user.passwd", A },
	{ "user.lock", A },
	{ "user.unlock", A },
	{ "user.list", A },
	{ "user.totp-enroll", A },
	{ "conf.show", A },
	{ NULL, 0 },
};

#undef V
#undef O
#undef E
#undef U
#undef A

/* Local names so this table module links without the user store. */
static const char *const rbac_role_names[AUTH_ROLE_COUNT] = {
	[AUTH_ROLE_VIEWER] = "viewer",	   [AUTH_ROLE_OPERATOR] = "operator",
	[AUTH_ROLE_ENGINEER] = "engineer", [AUTH_ROLE_AUDITOR] = "auditor",
	[AUTH_ROLE_ADMIN] = "admin",
};

static const struct rbac_rule *rbac_lookup(const char *command)
{
	if (command == NULL)
		return NULL;
	for (const struct rbac_rule *r = rbac_table; r->command; r++)
		if (strcmp(r->command, command) == 0)
			return r;
	return NULL;
}

static bool rbac_role_valid(enum auth_role role)
{
	return (unsigned)role < AUTH_ROLE_COUNT;
}

bool rbac_allowed(enum auth_role role, const char *command)
{
	const struct rbac_rule *r = rbac_lookup(command);

	if (r == NULL || !rbac_role_valid(role))
		return false;
	return (r->roles & RBAC_ROLE_BIT(role)) != 0;
}

/* An unknown command yields "" (no role may run it). */
const char *rbac_roles_str(const char *command, char *buf, size_t len)
{
	const struct rbac_rule *r = rbac_lookup(command);
	size_t off = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (r == NULL)
		return buf;
	for (unsigned i = 0; i < AUTH_ROLE_COUNT; i++) {
		int n;

		if (!(r->roles & RBAC_ROLE_BIT(i)))
			continue;
		n = snprintf(buf + off, len - off, "%s%s", off ? "," : "",
			     rbac_role_names[i]);
		if (n < 0 || (size_t)n >= len - off) {
			buf[off] = '\0'; /* cut at a role boundary */
			break;
		}
		off += (size_t)n;
	}
	return buf;
}

/* --- dual approval -------------------------------------------------------- */

static bool rbac_may_approve(enum auth_role role)
{
	return role == AUTH_ROLE_ENGINEER || role == AUTH_ROLE_ADMIN;
}

static bool rbac_name_ok(const char *name)
{
	size_t n;

	if (name == NULL)
		return false;
	n = strlen(name);
	return n > 0 && n <= AUTH_NAME_MAX;
}

static bool rbac_sha256_ok(const char *s)
{
	if (s == NULL || strlen(s) != 64)
		return false;
	for (size_t i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static void rbac_payload_free(struct rbac_approvals *a, void *payload)
{
	if (payload != NULL && a->free_fn != NULL)
		a->free_fn(payload);
}

/* Removes entry i keeping submission order (ids ascending). */
static void rbac_remove(struct rbac_approvals *a, size_t i)
{
	memmove(&a->v[i], &a->v[i + 1], (a->n - i - 1) * sizeof(a->v[0]));
	a->n--;
	memset(&a->v[a->n], 0, sizeof(a->v[0]));
}

static struct rbac_pending *rbac_find(struct rbac_approvals *a, uint32_t id,
				      size_t *idx)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].id == id) {
			*idx = i;
			return &a->v[i];
		}
	return NULL;
}

/* ttl_s 0 means RBAC_PENDING_TTL_DEFAULT. */
void rbac_approvals_init(struct rbac_approvals *a, unsigned ttl_s,
			 void (*free_fn)(void *))
{
	memset(a, 0, sizeof(*a));
	a->next_id = 1;
	a->ttl_s = ttl_s ? ttl_s : RBAC_PENDING_TTL_DEFAULT;
	a->free_fn = free_fn;
}

void rbac_approvals_free(struct rbac_approvals *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->n; i++)
		rbac_payload_free(a, a->v[i].payload);
	memset(a->v, 0, sizeof(a->v));
	a->n = 0;
}

/*
 * The payload is taken in every case: on failure it is freed here, so the
 * caller has one rule. -EINVAL: author name or sha256 malformed;
 * -EOVERFLOW: the id space is spent (ids are never reused).
 */
int rbac_submit(struct rbac_approvals *a, const char *author,
		enum auth_role role, const char *sha256, void *payload,
		int64_t now)
{
	struct rbac_pending *p;
	int rc;

	if (!rbac_may_approve(role)) {
		rc = -EPERM;
		goto out;
	}
	if (!rbac_name_ok(author) || !rbac_sha256_ok(sha256)) {
		rc = -EINVAL;
		goto out;
	}
	rbac_expire(a, now);
	if (a->n >= RBAC_PENDING_MAX) {
		rc = -ENOSPC;
		goto out;
	}
	if (a->next_id == 0 || a->next_id > INT_MAX) {
		rc = -EOVERFLOW;
		goto out;
	}
	p = &a->v[a->n++];
	memset(p, 0, sizeof(*p));
	p->id = a->next_id++;
	memcpy(p->author, author, strlen(author) + 1);
	memcpy(p->sha256, sha256, sizeof(p->sha256));
	p->created = now;
	p->expires = now + (int64_t)a->ttl_s;
	p->payload = payload;
	return (int)p->id;
out:
	rbac_payload_free(a, payload);
	return rc;
}

int rbac_approve(struct rbac_approvals *a, uint32_t id, const char *approver,
		 enum auth_role role, int64_t now, void **payload)
{
	struct rbac_pending *p;
	size_t i;

	*payload = NULL;
	/* the role first: a viewer learns nothing about which ids exist */
	if (!rbac_may_approve(role))
		return -EPERM;
	if (!rbac_name_ok(approver))
		return -EINVAL;
	rbac_expire(a, now);
	p = rbac_find(a, id, &i);
	if (p == NULL)
		return -ENOENT;
	if (strcmp(p->author, approver) == 0)
		return -EPERM;
	*payload = p->payload;
	rbac_remove(a, i);
	return 0;
}

size_t rbac_expire(struct rbac_approvals *a, int64_t now)
{
	size_t dropped = 0;

	for (size_t i = 0; i < a->n;) {
		if (now >= a->v[i].expires) {
			rbac_payload_free(a, a->v[i].payload);
			rbac_remove(a, i);
			dropped++;
		} else {
			i++;
		}
	}
	return dropped;
}

int rbac_withdraw(struct rbac_approvals *a, uint32_t id, const char *who,
		  enum auth_role role)
{
	struct rbac_pending *p;
	size_t i;

	if (!rbac_name_ok(who))
		return -EINVAL;
	p = rbac_find(a, id, &i);
	if (p == NULL)
		return -ENOENT;
	if (role != AUTH_ROLE_ADMIN && strcmp(p->author, who) != 0)
		return -EPERM;
	rbac_payload_free(a, p->payload);
	rbac_remove(a, i);
	return 0;
}
