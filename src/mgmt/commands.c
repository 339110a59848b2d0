/*
 * The command table and the daemon actions behind it. A request is first
 * checked against the table (cmd_check: no side effects), then run. Every
 * change of the kernel ruleset goes through cmd_install or cmd_island, so
 * start-up, SIGHUP and the socket share one path, and a rejected policy
 * never touches the running one.
 */
#include "config.h"

#include "common/clock.h"

#include "mgmt/commands.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "common/diag.h"
#include "common/log.h"
#include "dpi/event.h"
#include "dpi/pkt.h"
#include "dpi/queue.h"
#include "mgmt/cmd_audit.h"
#include "mgmt/control.h"
#include "mgmt/mgmt.h"
#include "mgmt/server.h"
#include "nft/nflog.h"
#include "policy/diff.h"

#define CMD_NAME_MAX 4096

static json_t *cmd_hello(struct cmd_daemon *d, const json_t *args, uint64_t id);
static json_t *cmd_status(struct cmd_daemon *d, const json_t *args,
			  uint64_t id);
static json_t *cmd_policy_diff(struct cmd_daemon *d, const json_t *args,
			       uint64_t id);
static json_t *cmd_policy_show(struct cmd_daemon *d, const json_t *args,
			       uint64_t id);
static json_t *cmd_reload_h(struct cmd_daemon *d, const json_t *args,
			    uint64_t id);
static json_t *cmd_island_h(struct cmd_daemon *d, const json_t *args,
			    uint64_t id);
static json_t *cmd_stats_h(struct cmd_daemon *d, const json_t *args,
			   uint64_t id);

const struct cmd_def cmd_table[] = {
	{ "hello", cmd_hello, { { 0 } }, "protocol version and commands" },
	{ "status", cmd_status, { { 0 } }, "daemon and policy state" },
	{ "policy.diff",
	  cmd_policy_diff,
	  { { "name", CMD_ARG_STRING, false, CMD_NAME_MAX },
	    { "content", CMD_ARG_STRING, true, POL_SIZE_MAX_DEFAULT } },
	  "what applying a policy would change" },
	{ "policy.apply",
	  cmd_policy_apply,
	  { { "name", CMD_ARG_STRING, false, CMD_NAME_MAX },
	    { "content", CMD_ARG_STRING, true, POL_SIZE_MAX_DEFAULT } },
	  "validate, commit and persist a policy" },
	{ "policy.show",
	  cmd_policy_show,
	  { { 0 } },
	  "the running policy with per-conduit counters" },
	{ "reload",
	  cmd_reload_h,
	  { { 0 } },
	  "re-read the configured policy file" },
	{ "island",
	  cmd_island_h,
	  { { "on", CMD_ARG_BOOL, true, 0 } },
	  "isolate every zone (on) or restore the policy (off)" },
	{ "stats",
	  cmd_stats_h,
	  { { 0 } },
	  "inspection counters per worker and conduit, last violations" },
	{ "auth.login",
	  mgmt_cmd_auth_login,
	  { { "user", CMD_ARG_STRING, true, 64 },
	    { "password", CMD_ARG_STRING, true, 1024 },
	    { "totp", CMD_ARG_STRING, false, 16 } },
	  "authenticate a remote session" },
	{ "auth.unlock",
	  mgmt_cmd_auth_unlock,
	  { { "password", CMD_ARG_STRING, true, 1024 },
	    { "totp", CMD_ARG_STRING, false, 16 } },
	  "re-authenticate a session locked after idle time" },
	{ "auth.logout", mgmt_cmd_auth_logout, { { 0 } }, "end the session" },
	{ "auth.passwd",
	  mgmt_cmd_auth_passwd,
	  { { "old", CMD_ARG_STRING, true, 1024 },
	    { "new", CMD_ARG_STRING, true, 1024 } },
	  "change one's own password" },
	{ "user.add",
	  mgmt_cmd_user_add,
	  { { "name", CMD_ARG_STRING, true, 64 },
	    { "role", CMD_ARG_STRING, true, 16 },
	    { "unix", CMD_ARG_STRING, false, 64 },
	    { "password", CMD_ARG_STRING, false, 1024 } },
	  "create a user" },
	{ "user.del",
	  mgmt_cmd_user_del,
	  { { "name", CMD_ARG_STRING, true, 64 } },
	  "delete a user" },
	{ "user.passwd",
	  mgmt_cmd_user_passwd,
	  { { "name", CMD_ARG_STRING, true, 64 },
	    { "password", CMD_ARG_STRING, true, 1024 } },
	  "set a user's password" },
	{ "user.lock",
	  mgmt_cmd_user_lock,
	  { { "name", CMD_ARG_STRING, true, 64 } },
	  "disable a user and end its sessions" },
	{ "user.unlock",
	  mgmt_cmd_user_unlock,
	  { { "name", CMD_ARG_STRING, true, 64 } },
	  "enable a user and clear its failed-login lockout" },
	{ "user.list", mgmt_cmd_user_list, { { 0 } }, "the users" },
	{ "user.totp-enroll",
	  mgmt_cmd_user_totp,
	  { { "name", CMD_ARG_STRING, true, 64 } },
	  "give a user a new TOTP secret" },
	{ "session.list",
	  mgmt_cmd_session_list,
	  { { 0 } },
	  "management sessions (non-admins: their own)" },
	{ "session.kill",
	  mgmt_cmd_session_kill,
	  { { "id", CMD_ARG_INT, true, 0 } },
	  "end a session" },
	{ "policy.pending",
	  mgmt_cmd_policy_pending,
	  { { 0 } },
	  "policy changes waiting for a second approval" },
	{ "policy.approve",
	  mgmt_cmd_policy_approve,
	  { { "id", CMD_ARG_INT, true, 0 } },
	  "approve and apply a pending policy change" },
	{ "policy.withdraw",
	  mgmt_cmd_policy_withdraw,
	  { { "id", CMD_ARG_INT, true, 0 } },
	  "withdraw a pending policy change" },
	{ "audit.verify",
	  cmd_audit_verify,
	  { { "max_records", CMD_ARG_INT, false, 0 },
	    { "after_seq", CMD_ARG_INT, false, 0 },
	    { "anchor", CMD_ARG_STRING, false, 64 } },
	  "verify the hash chain of the daemon's audit spool" },
	{ "audit.tail",
	  cmd_audit_tail,
	  { { "count", CMD_ARG_INT, false, 0 } },
	  "the last audit records of the spool" },
	{ "conf.show",
	  cmd_conf_show,
	  { { 0 } },
	  "the running configuration (no secrets)" },
	{ NULL, NULL, { { 0 } }, NULL },
};

const struct cmd_def *cmd_lookup(const char *name)
{
	for (const struct cmd_def *c = cmd_table; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

json_t *cmd_err(uint64_t id, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ctl_response_error(id, code, msg, NULL);
}

static const char *cmd_type_name(enum cmd_arg_type t)
{
	return t == CMD_ARG_BOOL ? "a boolean" :
	       t == CMD_ARG_INT	 ? "an integer 0..4294967295" :
				   "a string";
}

int cmd_check(const json_t *req, const struct cmd_def **def, uint64_t *id,
	      const json_t **args, json_t **error)
{
	const struct cmd_def *c;
	const char *cmd, *why, *key;
	json_t *v;

	*def = NULL;
	*error = NULL;
	if (ctl_request_parse(req, id, &cmd, args, &why) < 0) {
		*error = cmd_err(*id, CTL_ERR_BAD_REQUEST, "%s", why);
		return -EINVAL;
	}
	c = cmd_lookup(cmd);
	if (c == NULL) {
		*error = cmd_err(*id, CTL_ERR_UNKNOWN_COMMAND,
				 "unknown command \"%.64s\"", cmd);
		return -EINVAL;
	}
	if (*args != NULL) {
		json_object_foreach((json_t *)*args, key, v)
		{
			const struct cmd_arg *a = NULL;

			for (int i = 0; i < CMD_MAX_ARGS && c->args[i].name;
			     i++)
				if (strcmp(c->args[i].name, key) == 0)
					a = &c->args[i];
			if (a == NULL) {
				*error = cmd_err(
					*id, CTL_ERR_INVALID_ARGS,
					"%s: unknown argument \"%.64s\"",
					c->name, key);
				return -EINVAL;
			}
			if ((a->type == CMD_ARG_STRING && !json_is_string(v)) ||
			    (a->type == CMD_ARG_BOOL && !json_is_boolean(v)) ||
			    (a->type == CMD_ARG_INT &&
			     (!json_is_integer(v) ||
			      json_integer_value(v) < 0 ||
			      json_integer_value(v) > 4294967295LL))) {
				*error = cmd_err(
					*id, CTL_ERR_INVALID_ARGS,
					"%s: argument \"%s\" must be %s",
					c->name, a->name,
					cmd_type_name(a->type));
				return -EINVAL;
			}
			if (a->type == CMD_ARG_STRING && a->max_len &&
			    json_string_length(v) > a->max_len) {
				*error = cmd_err(
					*id, CTL_ERR_INVALID_ARGS,
					"%s: argument \"%s\" longer than %zu bytes",
					c->name, a->name, a->max_len);
				return -EINVAL;
			}
		}
	}
	for (int i = 0; i < CMD_MAX_ARGS && c->args[i].name; i++)
		if (c->args[i].required &&
		    json_object_get(*args, c->args[i].name) == NULL) {
			*error = cmd_err(*id, CTL_ERR_INVALID_ARGS,
					 "%s: missing argument \"%s\"", c->name,
					 c->args[i].name);
			return -EINVAL;
		}
	*def = c;
	return 0;
}

static const char *cmd_jstr(const json_t *j)
{
	const char *s = json_string_value(j);

	return s ? s : "";
}

bool cmd_arg_secret(const char *name)
{
	static const char *const secret[] = { "password", "old", "new",
					      "totp" };

	for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
		if (strcmp(name, secret[i]) == 0)
			return true;
	return false;
}

void cmd_args_audit(const struct cmd_def *c, const json_t *args, char *buf,
		    size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; c && i < CMD_MAX_ARGS && c->args[i].name; i++) {
		const struct cmd_arg *a = &c->args[i];
		const json_t *v = json_object_get(args, a->name);
		int n;

		if (v == NULL || cmd_arg_secret(a->name))
			continue;
		if (strcmp(a->name, "content") == 0)
			n = snprintf(buf + off, len - off, "%s%s=(%zu bytes)",
				     off ? " " : "", a->name,
				     json_string_length(v));
		else if (json_is_string(v))
			n = snprintf(buf + off, len - off, "%s%s=%.64s",
				     off ? " " : "", a->name,
				     json_string_value(v));
		else if (json_is_integer(v))
			n = snprintf(buf + off, len - off, "%s%s=%lld",
				     off ? " " : "", a->name,
				     (long long)json_integer_value(v));
		else
			n = snprintf(buf + off, len - off, "%s%s=%s",
				     off ? " " : "", a->name,
				     json_is_true(v) ? "true" : "false");
		if (n < 0 || (size_t)n >= len - off) {
			buf[off] = '\0';
			return;
		}
		off += (size_t)n;
	}
}

json_t *cmd_dispatch(struct cmd_daemon *d, const json_t *req,
		     const struct srv_peer *peer)
{
	const struct cmd_def *c;
	const json_t *args;
	json_t *err, *resp;
	uint64_t id;

	if (cmd_check(req, &c, &id, &args, &err) < 0) {
		log_warnx("control: uid %u pid %ld: %s",
			  peer ? (unsigned)peer->uid : 0u,
			  peer ? (long)peer->pid : 0L,
			  json_string_value(json_object_get(
				  json_object_get(err, "error"), "message")));
		return err;
	}
	if (strcmp(c->name, "hello") && strcmp(c->name, "status") &&
	    strcmp(c->name, "stats"))
		log_info("control: uid %u pid %ld: %s",
			 peer ? (unsigned)peer->uid : 0u,
			 peer ? (long)peer->pid : 0L, c->name);
	else
		log_debug("control: uid %u pid %ld: %s",
			  peer ? (unsigned)peer->uid : 0u,
			  peer ? (long)peer->pid : 0L, c->name);
	snprintf(d->actor, sizeof(d->actor), "uid %u pid %ld",
		 peer ? (unsigned)peer->uid : 0u, peer ? (long)peer->pid : 0L);
	resp = c->handler(d, args, id);
	if (resp == NULL)
		resp = ctl_response_error(id, CTL_ERR_INTERNAL, "out of memory",
					  NULL);
	if (d->audit && strcmp(c->name, "hello") && strcmp(c->name, "status") &&
	    strcmp(c->name, "stats")) {
		const json_t *e = json_object_get(resp, "error");
		struct audit_event ev;

		audit_event_init(&ev, AUDIT_MGMT_COMMAND);
		audit_event_add(&ev, "command", c->name);
		audit_event_add_u64(&ev, "uid", peer ? peer->uid : 0);
		audit_event_add_u64(&ev, "pid", peer ? (uint64_t)peer->pid : 0);
		audit_event_add(&ev, "channel", "unix");
		audit_event_add(&ev, "outcome", e ? "error" : "ok");
		if (e != NULL)
			audit_event_add(
				&ev, "error",
				cmd_jstr(json_object_get(e, "message")));
		audit_event_msgf(&ev, "control command %s by uid %u: %s",
				 c->name, peer ? (unsigned)peer->uid : 0u,
				 e ? "error" : "ok");
		audit_emit(d->audit, &ev);
	}
	d->actor[0] = '\0';
	return resp;
}

/* --- state files ----------------------------------------------------- */

const char *cmd_state_path(const struct conf *c, const char *leaf, char *buf,
			   size_t len)
{
	snprintf(buf, len, "%s/%s", c->state_dir, leaf);
	return buf;
}

static int cmd_fsync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	int fd, rc = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* Writes path.tmp and fsyncs it; the rename comes later (cmd_state_commit)
 * so that the kernel commit can sit between the two. */
static int cmd_state_prepare(const char *path, const void *data, size_t len)
{
	char tmp[PATH_MAX + 8];
	const char *p = data;
	int fd, rc = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0640);
	if (fd < 0)
		return -errno;
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		p += w;
		len -= (size_t)w;
	}
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}

static int cmd_state_commit(const char *path)
{
	char tmp[PATH_MAX + 8];

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (rename(tmp, path) < 0) {
		int rc = -errno;

		unlink(tmp);
		return rc;
	}
	return cmd_fsync_dir_of(path);
}

static void cmd_state_abort(const char *path)
{
	char tmp[PATH_MAX + 8];

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(tmp);
}

static int cmd_state_remove(const char *path)
{
	if (unlink(path) < 0)
		return errno == ENOENT ? 0 : -errno;
	return cmd_fsync_dir_of(path);
}

int cmd_write_atomic(const char *path, const void *data, size_t len)
{
	int rc = cmd_state_prepare(path, data, len);

	return rc < 0 ? rc : cmd_state_commit(path);
}

/* --- helpers ----------------------------------------------------------- */

const char *cmd_sha256_hex(const struct pol_policy *p, char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	if (len < 65) {
		if (len)
			buf[0] = '\0';
		return buf;
	}
	for (int i = 0; i < 32; i++) {
		buf[2 * i] = hex[p->sha256[i] >> 4];
		buf[2 * i + 1] = hex[p->sha256[i] & 15];
	}
	buf[64] = '\0';
	return buf;
}

const char *cmd_source_name(enum cmd_source s)
{
	switch (s) {
	case CMD_SOURCE_CONFIG:
		return "config";
	case CMD_SOURCE_STATE:
		return "state";
	case CMD_SOURCE_APPLY:
		return "apply";
	}
	return "?";
}

void cmd_nft_opts(const struct cmd_daemon *d, bool island, struct nft_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->mgmt_port = d->conf->management_port;
	o->nflog_group = d->conf->nflog_group;
	o->log_rate = d->conf->log_rate;
	o->island = island;
	if (d->queue_n > 0) {
		o->inspect = true;
		o->queue_first = d->queue_first;
		o->queue_n = d->queue_n;
		o->feat = d->features;
	}
}

int cmd_check_policy_conf(const struct conf *c, const struct pol_policy *p,
			  struct diag_list *dl)
{
	const struct pol_zone *mz = policy_management_zone(p);

	if (c->management_zone == NULL)
		return 0;
	if (mz == NULL || strcmp(mz->name, c->management_zone) != 0) {
		diag_add(
			dl, c->file, c->management_zone_line, 0,
			"management-zone %s does not match the policy %s (its management zone is %s)",
			c->management_zone, p->file ? p->file : "-",
			mz ? mz->name : "not declared");
		return -EINVAL;
	}
	return 0;
}

static void cmd_count_diff(const struct pol_diff *df, enum pol_diff_kind k,
			   int n[3])
{
	n[0] = n[1] = n[2] = 0;
	for (size_t i = 0; i < df->n; i++)
		if (df->v[i].kind == k)
			n[df->v[i].change]++;
}

/* Diff as JSON plus its text form; "changed" tells whether it is empty. */
static json_t *cmd_diff_json(const struct pol_diff *df)
{
	json_t *j = policy_diff_json(df);
	char *text = NULL;
	size_t tlen = 0;
	FILE *f;

	if (j == NULL)
		return NULL;
	f = open_memstream(&text, &tlen);
	if (f != NULL) {
		policy_diff_print(df, f);
		fclose(f);
	}
	json_object_set_new(j, "text", json_string(text ? text : ""));
	json_object_set_new(j, "changed", json_boolean(df->n > 0));
	free(text);
	return j;
}

static const char *cmd_l4_name(uint8_t p, char *buf, size_t len)
{
	switch (p) {
	case 6:
		return "tcp";
	case 17:
		return "udp";
	case 1:
		return "icmp";
	case 58:
		return "icmpv6";
	case 132:
		return "sctp";
	}
	snprintf(buf, len, "%u", p);
	return buf;
}

static void cmd_audit_deny(struct cmd_daemon *d, const struct deny_event *ev)
{
	char a[INET6_ADDRSTRLEN], b[16];
	struct audit_event ae;

	audit_event_init(&ae, AUDIT_FLOW_DENIED);
	audit_event_add(&ae, "reason", nflog_reason_name(ev->reason));
	audit_event_add(&ae, "conduit", ev->conduit ? ev->conduit : "-");
	audit_event_add(&ae, "zone_from", ev->zone_from ? ev->zone_from : "-");
	audit_event_add(&ae, "zone_to", ev->zone_to ? ev->zone_to : "-");
	if (ev->family == AF_INET || ev->family == AF_INET6) {
		audit_event_add(&ae, "proto",
				cmd_l4_name(ev->proto, b, sizeof(b)));
		inet_ntop(ev->family, ev->saddr, a, sizeof(a));
		audit_event_add(&ae, "src", a);
		if (ev->has_sport)
			audit_event_add_u64(&ae, "sport", ev->sport);
		inet_ntop(ev->family, ev->daddr, a, sizeof(a));
		audit_event_add(&ae, "dst", a);
		if (ev->has_dport)
			audit_event_add_u64(&ae, "dport", ev->dport);
		if (ev->icmp_type >= 0)
			audit_event_add_u64(&ae, "icmp_type",
					    (uint64_t)ev->icmp_type);
	}
	audit_event_add_u64(&ae, "packets", ev->packets);
	audit_event_add(&ae, "aggregated", ev->aggregated ? "1" : "0");
	audit_event_add_u64(&ae, "interval",
			    d->conf ? d->conf->deny_log_interval : 0);
	audit_event_msgf(&ae, "%llu packet%s denied (%s) %s -> %s",
			 (unsigned long long)ev->packets,
			 ev->packets == 1 ? "" : "s",
			 nflog_reason_name(ev->reason),
			 ev->zone_from ? ev->zone_from : "-",
			 ev->zone_to ? ev->zone_to : "-");
	audit_emit(d->audit, &ae);
}

void cmd_nflog_event(const struct deny_event *ev, void *arg)
{
	char line[NFLOG_LINE_MAX];
	struct cmd_daemon *d = arg;

	if (nflog_event_format(ev, line, sizeof(line)) != NULL)
		log_info("%s", line);
	if (d != NULL && d->audit != NULL && ev->action == NFLOG_ACTION_DENY)
		cmd_audit_deny(d, ev);
}

/* Into the ring of the last violations (main thread: no lock). */
static void cmd_violation_add(struct cmd_violations *r,
			      const struct dpi_event *ev, const char *src,
			      const char *dst)
{
	struct cmd_violation *v = &r->v[r->records % CMD_VIOLATIONS_MAX];

	memset(v, 0, sizeof(*v));
	v->at = time(NULL);
	v->kind = ev->kind;
	v->action = ev->action;
	v->count = ev->count;
	v->function = ev->function;
	v->line = ev->loc.line;
	snprintf(v->conduit, sizeof(v->conduit), "%s",
		 ev->conduit ? ev->conduit->name : "");
	snprintf(v->zone_from, sizeof(v->zone_from), "%s",
		 ev->zone_from ? ev->zone_from->name : "");
	snprintf(v->zone_to, sizeof(v->zone_to), "%s",
		 ev->zone_to ? ev->zone_to->name : "");
	snprintf(v->proto, sizeof(v->proto), "%s", ev->proto ? ev->proto : "");
	snprintf(v->rule, sizeof(v->rule), "%s", ev->rule ? ev->rule : "");
	snprintf(v->src, sizeof(v->src), "%s", src);
	snprintf(v->dst, sizeof(v->dst), "%s", dst);
	snprintf(v->detail, sizeof(v->detail), "%s", ev->detail);
	r->records++;
	r->total += ev->count;
}

void cmd_dpi_event(const struct dpi_event *ev, void *arg)
{
	char s[PKT_ADDR_PORT_STRLEN], t[PKT_ADDR_PORT_STRLEN], fn[16] = "-";
	struct cmd_daemon *d = arg;

	pkt_addr_port_str(&ev->src, ev->sport, s, sizeof(s));
	pkt_addr_port_str(&ev->dst, ev->dport, t, sizeof(t));
	if (d != NULL)
		cmd_violation_add(&d->violations, ev, s, t);
	if (ev->function >= 0)
		snprintf(fn, sizeof(fn), "%d", ev->function);
	if (d != NULL && d->audit != NULL) {
		struct audit_event ae;

		audit_event_init(&ae, AUDIT_PROTO_VIOLATION);
		audit_event_add(&ae, "kind", dpi_event_kind_name(ev->kind));
		audit_event_add(&ae, "action", pol_action_name(ev->action));
		audit_event_add(&ae, "conduit",
				ev->conduit ? ev->conduit->name : "-");
		audit_event_add(&ae, "zone_from",
				ev->zone_from ? ev->zone_from->name : "-");
		audit_event_add(&ae, "zone_to",
				ev->zone_to ? ev->zone_to->name : "-");
		audit_event_add(&ae, "proto", ev->proto ? ev->proto : "-");
		audit_event_add(&ae, "function", fn);
		audit_event_add(&ae, "rule", ev->rule ? ev->rule : "-");
		audit_event_add_u64(&ae, "line",
				    ev->loc.line > 0 ? (uint64_t)ev->loc.line :
						       0);
		audit_event_add(&ae, "src", s);
		audit_event_add(&ae, "dst", t);
		audit_event_add_u64(&ae, "count", ev->count);
		audit_event_add(&ae, "detail", ev->detail);
		audit_event_msgf(&ae, "%s %s %s %s -> %s: %s",
				 ev->proto ? ev->proto : "-",
				 dpi_event_kind_name(ev->kind),
				 pol_action_name(ev->action), s, t, ev->detail);
		audit_emit(d->audit, &ae);
	}
	log_info(
		"violation kind=%s action=%s conduit=%s zones=%s->%s proto=%s "
		"function=%s rule=%s line=%d src=%s dst=%s count=%u detail=\"%s\"",
		dpi_event_kind_name(ev->kind), pol_action_name(ev->action),
		ev->conduit ? ev->conduit->name : "-",
		ev->zone_from ? ev->zone_from->name : "-",
		ev->zone_to ? ev->zone_to->name : "-",
		ev->proto ? ev->proto : "-", fn, ev->rule ? ev->rule : "-",
		ev->loc.line, s, t, ev->count, ev->detail);
}

/* --- audit records of the policy life cycle ---------------------------- */

static const char *cmd_actor(const struct cmd_daemon *d)
{
	return d->actor[0] ? d->actor : "-";
}

void cmd_audit_policy_load(struct cmd_daemon *d, const struct pol_policy *p,
			   const char *name, enum cmd_source src)
{
	struct audit_event ev;
	char sha[65];

	if (d->audit == NULL)
		return;
	audit_event_init(&ev, AUDIT_POLICY_LOAD);
	audit_event_add(&ev, "name", name ? name : "-");
	audit_event_add(&ev, "source", cmd_source_name(src));
	audit_event_add(&ev, "sha256", cmd_sha256_hex(p, sha, sizeof(sha)));
	audit_event_add_u64(&ev, "zones", p->n_zones);
	audit_event_add_u64(&ev, "conduits", p->n_conduits);
	audit_event_add(&ev, "who", cmd_actor(d));
	audit_event_msgf(&ev, "policy %s loaded (%s): %zu zones, %zu conduits",
			 name ? name : "-", cmd_source_name(src), p->n_zones,
			 p->n_conduits);
	audit_emit(d->audit, &ev);
}

void cmd_audit_policy_reject(struct cmd_daemon *d, const char *name,
			     enum cmd_source src, int rc,
			     const struct diag_list *dl)
{
	const struct diag *g = dl && dl->n ? &dl->v[0] : NULL;
	struct audit_event ev;

	if (d->audit == NULL)
		return;
	audit_event_init(&ev, AUDIT_POLICY_REJECT);
	audit_event_add(&ev, "file",
			g && g->file ? g->file :
			name	     ? name :
				       "-");
	audit_event_add_u64(&ev, "line",
			    g && g->line > 0 ? (uint64_t)g->line : 0);
	audit_event_add_u64(&ev, "col", g && g->col > 0 ? (uint64_t)g->col : 0);
	audit_event_add(&ev, "error", g ? g->msg : strerror(rc < 0 ? -rc : rc));
	audit_event_add_u64(&ev, "errors", dl ? dl->n : 0);
	audit_event_add(&ev, "name", name ? name : "-");
	audit_event_add(&ev, "source", cmd_source_name(src));
	audit_event_add(&ev, "who", cmd_actor(d));
	audit_event_msgf(&ev, "policy %s rejected: %s", name ? name : "-",
			 g ? g->msg : strerror(rc < 0 ? -rc : rc));
	audit_emit(d->audit, &ev);
}

void cmd_warn_fail_open(struct cmd_daemon *d, const struct pol_policy *p)
{
	for (size_t i = 0; i < p->n_conduits; i++) {
		const struct pol_conduit *cd = &p->conduits[i];
		bool insp = false;

		for (size_t j = 0; j < cd->n_allow; j++)
			insp |= nft_service_inspected(cd, &cd->allow[j]);
		if (!cd->fail_open || !insp)
			continue;
		log_warnx("conduit %s: fail open: while no inspection "
			  "worker runs, its inspected traffic passes "
			  "uninspected",
			  cd->name);
		if (d->audit != NULL) {
			struct audit_event ev;

			audit_event_init(&ev, AUDIT_FAIL_OPEN);
			audit_event_add(&ev, "conduit", cd->name);
			audit_event_add(&ev, "zone_from", cd->from->name);
			audit_event_add(&ev, "zone_to", cd->to->name);
			audit_event_add_u64(&ev, "generation", d->generation);
			audit_event_msgf(&ev,
					 "conduit %s fails open: inspected "
					 "traffic passes uninspected while no "
					 "inspection worker runs",
					 cd->name);
			audit_emit(d->audit, &ev);
		}
	}
}

/* --- actions ------------------------------------------------------------ */

int cmd_install(struct cmd_daemon *d, struct pol_policy *p, const char *name,
		enum cmd_source src, const char *content, size_t content_len,
		bool clear_state, bool *deferred, json_t **summary,
		struct diag_list *dl)
{
	char path[PATH_MAX], sha[65];
	struct pol_diff df = { 0 };
	struct nft_opts o;
	struct nft_batch *b = NULL;
	bool have_diff = false;
	char *nname = NULL;
	int rc, zn[3] = { 0 }, cn[3] = { 0 };

	*deferred = false;
	if (summary)
		*summary = NULL;
	cmd_state_path(d->conf, CMD_STATE_POLICY, path, sizeof(path));
	rc = cmd_check_policy_conf(d->conf, p, dl);
	if (rc < 0)
		goto fail;
	nname = strdup(name ? name : "-");
	if (nname == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	if (policy_diff(d->policy, p, &df) == 0) {
		have_diff = true;
		cmd_count_diff(&df, POL_DIFF_ZONE, zn);
		cmd_count_diff(&df, POL_DIFF_CONDUIT, cn);
	}
	if (content != NULL) {
		rc = cmd_state_prepare(path, content, content_len);
		if (rc < 0) {
			diag_add(dl, path, 0, 0, "cannot store the policy: %s",
				 strerror(-rc));
			goto fail;
		}
	}
	cmd_nft_opts(d, false, &o);
	if (d->island) {
		/* The kernel keeps the island ruleset; compile anyway so that
		 * island off cannot fail on this policy. */
		rc = nft_compile(p, &o, &b, dl);
		nft_batch_free(b);
		*deferred = true;
	} else {
		rc = nft_apply(d->nft, p, &o, dl);
	}
	if (rc < 0) {
		if (content != NULL)
			cmd_state_abort(path);
		goto fail;
	}
	if (content != NULL) {
		int r = cmd_state_commit(path);

		if (r < 0)
			log_warnx(
				"cannot store %s: %s (a restart will load the previous policy)",
				path, strerror(-r));
	} else if (clear_state) {
		int r = cmd_state_remove(path);

		if (r < 0)
			log_warnx("cannot remove %s: %s", path, strerror(-r));
	}
	if (d->nflog)
		nflog_flush(d->nflog, cmd_nflog_event, d);
	if (d->queues != NULL) {
		int qr = queue_set_policy(d->queues, p);

		/* buffered events point into the old policy */
		queue_drain_events(d->queues, cmd_dpi_event, d);
		if (qr < 0) {
			/* a worker may still use the old policy: keep it */
			log_warnx(
				"inspection workers did not switch to the new "
				"policy (%s): they keep the previous rules",
				strerror(-qr));
			d->policy = NULL;
		} else if (!*deferred && have_diff) {
			unsigned nre = 0;
			int r = nft_ct_recheck(p, &df, &nre);

			/* handed-back flows of changed entries: to the
			 * workers again, which now hold the new rules */
			if (r < 0)
				log_warnx(
					"handed-back flows of changed conduits "
					"could not be sent back to inspection: "
					"%s",
					strerror(-r));
			else if (nre)
				log_info("%u handed-back flows of changed "
					 "conduits sent back to inspection",
					 nre);
		}
	}
	policy_free(d->policy);
	d->policy = p;
	free(d->policy_name);
	d->policy_name = nname;
	d->source = src;
	d->generation++;
	d->last_apply = time(NULL);
	log_info(
		"policy %s (%s): %s sha256=%.16s generation=%llu zones +%d -%d ~%d conduits +%d -%d ~%d%s",
		*deferred ? "stored" : "applied", cmd_source_name(src), nname,
		cmd_sha256_hex(p, sha, sizeof(sha)),
		(unsigned long long)d->generation, zn[0], zn[1], zn[2], cn[0],
		cn[1], cn[2],
		*deferred ?
			"; island mode is on: it takes effect at island off" :
			"");
	if (d->audit != NULL) {
		struct audit_event ev;

		audit_event_init(&ev, AUDIT_POLICY_APPLY);
		audit_event_add(&ev, "name", nname);
		audit_event_add(&ev, "source", cmd_source_name(src));
		audit_event_add(&ev, "sha256", sha);
		audit_event_add_u64(&ev, "generation", d->generation);
		audit_event_add(&ev, "deferred", *deferred ? "1" : "0");
		audit_event_addf(&ev, "zones", "+%d -%d ~%d", zn[0], zn[1],
				 zn[2]);
		audit_event_addf(&ev, "conduits", "+%d -%d ~%d", cn[0], cn[1],
				 cn[2]);
		audit_event_add_u64(&ev, "zones_added", (uint64_t)zn[0]);
		audit_event_add_u64(&ev, "zones_removed", (uint64_t)zn[1]);
		audit_event_add_u64(&ev, "zones_changed", (uint64_t)zn[2]);
		audit_event_add_u64(&ev, "conduits_added", (uint64_t)cn[0]);
		audit_event_add_u64(&ev, "conduits_removed", (uint64_t)cn[1]);
		audit_event_add_u64(&ev, "conduits_changed", (uint64_t)cn[2]);
		audit_event_add(&ev, "who", cmd_actor(d));
		audit_event_msgf(&ev, "policy %s %s (%s), generation %llu",
				 nname, *deferred ? "stored" : "applied",
				 cmd_source_name(src),
				 (unsigned long long)d->generation);
		audit_emit(d->audit, &ev);
	}
	cmd_warn_fail_open(d, p);
	if (summary && have_diff)
		*summary = cmd_diff_json(&df);
	if (have_diff)
		policy_diff_free(&df);
	return 0;
fail:
	cmd_audit_policy_reject(d, name, src, rc, dl);
	if (have_diff)
		policy_diff_free(&df);
	free(nname);
	policy_free(p);
	return rc;
}

int cmd_reload(struct cmd_daemon *d, json_t **summary, bool *deferred,
	       struct diag_list *dl)
{
	struct pol_policy *p = NULL;
	int rc;

	*deferred = false;
	if (summary)
		*summary = NULL;
	rc = policy_load_file(d->conf->policy, 0, &p, dl);
	if (rc < 0) {
		log_warnx(
			"reload: %s rejected (%zu error%s); the running policy stays",
			d->conf->policy, dl->n, dl->n == 1 ? "" : "s");
		cmd_audit_policy_reject(d, d->conf->policy, CMD_SOURCE_CONFIG,
					rc, dl);
		return rc;
	}
	cmd_audit_policy_load(d, p, d->conf->policy, CMD_SOURCE_CONFIG);
	rc = cmd_install(d, p, d->conf->policy, CMD_SOURCE_CONFIG, NULL, 0,
			 true, deferred, summary, dl);
	if (rc < 0)
		log_warnx("reload: %s rejected; the running policy stays",
			  d->conf->policy);
	return rc;
}

int cmd_island(struct cmd_daemon *d, bool on, struct diag_list *dl)
{
	char path[PATH_MAX];
	struct nft_opts o;
	int rc;

	cmd_state_path(d->conf, CMD_STATE_ISLAND, path, sizeof(path));
	/* The state file changes on the safe side of the swap: a crash in
	 * between restarts in island mode, never out of it. */
	if (on) {
		rc = cmd_write_atomic(path, "on\n", 3);
		if (rc < 0) {
			diag_add(dl, path, 0, 0,
				 "cannot store island state: %s",
				 strerror(-rc));
			return rc;
		}
	}
	cmd_nft_opts(d, on, &o);
	rc = nft_apply(d->nft, d->policy, &o, dl);
	if (rc < 0) {
		if (on && !d->island)
			(void)cmd_state_remove(path);
		log_warnx("island %s failed; the ruleset is unchanged",
			  on ? "on" : "off");
		return rc;
	}
	if (!on) {
		int r = cmd_state_remove(path);

		if (r < 0)
			log_warnx(
				"cannot remove %s: %s (a restart will be in island mode)",
				path, strerror(-r));
	}
	if (d->audit != NULL) {
		struct audit_event ev;

		audit_event_init(&ev, on ? AUDIT_ISLAND_ON : AUDIT_ISLAND_OFF);
		audit_event_add(&ev, "who", cmd_actor(d));
		audit_event_add(&ev, "changed", d->island != on ? "1" : "0");
		audit_event_add(&ev, "policy",
				d->policy_name ? d->policy_name : "-");
		audit_event_msgf(&ev, "island mode %s by %s",
				 on ? "on: every inter-zone packet is dropped" :
				      "off: the policy is enforced again",
				 cmd_actor(d));
		audit_emit(d->audit, &ev);
	}
	d->island = on;
	if (on)
		log_info("island mode on: every inter-zone packet is dropped");
	else
		log_info("island mode off: policy %s enforced again",
			 d->policy_name ? d->policy_name : "-");
	return 0;
}

/* --- handlers ----------------------------------------------------------- */

/* "what (N errors); tail" or "what: strerror; tail". */
static json_t *cmd_diag_error(uint64_t id, const char *code, const char *what,
			      int rc, const struct diag_list *dl)
{
	const char *tail = strcmp(code, CTL_ERR_APPLY_FAILED) == 0 &&
					   strncmp(what, "island", 6) == 0 ?
				   "the ruleset is unchanged" :
				   "the running policy stays";
	char msg[512];

	if (rc == -EINVAL || dl->n > 0)
		snprintf(msg, sizeof(msg), "%s (%zu error%s); %s", what, dl->n,
			 dl->n == 1 ? "" : "s", tail);
	else
		snprintf(msg, sizeof(msg), "%s: %s; %s", what, strerror(-rc),
			 tail);
	return ctl_response_error(id, code, msg, dl);
}

static json_t *cmd_hello(struct cmd_daemon *d, const json_t *args, uint64_t id)
{
	json_t *cmds = json_array();

	json_t *r;

	(void)args;
	for (const struct cmd_def *c = cmd_table; c->name; c++)
		json_array_append_new(cmds, json_string(c->name));
	r = json_pack("{s:i, s:s, s:s, s:o}", "protocol", CMD_PROTOCOL_VERSION,
		      "server", "conduitd", "version", PACKAGE_VERSION,
		      "commands", cmds);
	if (r != NULL && d->mgmt != NULL)
		json_object_update_new(r, mgmt_hello_json(d->mgmt));
	return ctl_response_ok(id, r);
}

static json_t *cmd_features_json(const struct nft_features *f)
{
	return json_pack("{s:b, s:b, s:b, s:b, s:b}", "native_queue",
			 f->native_queue, "xt_nfqueue", f->xt_nfqueue,
			 "flowtable", f->flowtable, "ct_mark", f->ct_mark,
			 "objref_map", f->objref_map);
}

static json_t *cmd_policy_summary(const struct cmd_daemon *d)
{
	char sha[65];

	if (d->policy == NULL)
		return json_null();
	return json_pack("{s:s, s:s, s:s, s:I, s:I}", "file",
			 d->policy_name ? d->policy_name : "-", "source",
			 cmd_source_name(d->source), "sha256",
			 cmd_sha256_hex(d->policy, sha, sizeof(sha)), "zones",
			 (json_int_t)d->policy->n_zones, "conduits",
			 (json_int_t)d->policy->n_conduits);
}

/* --- inspection counters (stats, status, policy.show) ------------------- */

int cmd_stats_read(const struct cmd_daemon *d, struct cmd_stats_snap *s)
{
	size_t nc = d->policy ? d->policy->n_conduits : 0;

	memset(s, 0, sizeof(*s));
	s->now_us = clock_mono_us();
	if (d->policy != NULL) {
		s->conduits = calloc(nc + 1, sizeof(*s->conduits));
		if (s->conduits == NULL)
			return -ENOMEM;
	}
	if (d->queues == NULL)
		return 0;
	s->n_workers = queue_workers(d->queues);
	s->workers = calloc(s->n_workers + 1, sizeof(*s->workers));
	if (s->workers == NULL) {
		cmd_stats_snap_free(s);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->n_workers; i++)
		queue_worker_stats(d->queues, i, &s->workers[i]);
	if (d->policy != NULL)
		queue_conduit_counts(d->queues, d->policy, s->conduits);
	return 0;
}

void cmd_stats_snap_free(struct cmd_stats_snap *s)
{
	free(s->workers);
	free(s->conduits);
	s->workers = NULL;
	s->conduits = NULL;
	s->n_workers = 0;
}

static json_t *cmd_actions_json(const uint64_t a[3])
{
	return json_pack("{s:I, s:I, s:I}", pol_action_name(POL_ACT_ALLOW),
			 (json_int_t)a[POL_ACT_ALLOW],
			 pol_action_name(POL_ACT_DENY),
			 (json_int_t)a[POL_ACT_DENY],
			 pol_action_name(POL_ACT_REJECT),
			 (json_int_t)a[POL_ACT_REJECT]);
}

/* The counters of a worker, or (w->queue unused) of the sum of them. */
static json_t *cmd_worker_json(const struct queue_worker_stats *w,
			       bool per_worker, uint64_t now_us,
			       uint32_t stall_ms)
{
	const struct verdict_counts *k = &w->counts;
	uint64_t idle;
	json_t *j;

	j = json_pack(
		"{s:I, s:o, s:o, s:I, s:{s:I, s:I, s:f, s:I, s:I, s:I}, s:I, "
		"s:I, s:I, s:I, s:I, s:I}",
		"packets", (json_int_t)w->packets, "verdicts",
		cmd_actions_json(w->verdicts), "pdus",
		cmd_actions_json(k->pdus), "malformed",
		(json_int_t)k->malformed, "flows", "active",
		(json_int_t)w->flows_active, "max", (json_int_t)w->flows_max,
		"fill",
		w->flows_max ? (double)w->flows_active / (double)w->flows_max :
			       0.0,
		"admitted", (json_int_t)k->flows, "denied",
		(json_int_t)k->flows_denied, "table_full",
		(json_int_t)w->flow_table_full, "queue_drops",
		(json_int_t)w->kernel_drops, "untracked",
		(json_int_t)w->untracked, "recv_errors",
		(json_int_t)w->recv_errors, "send_errors",
		(json_int_t)w->send_errors, "events_dropped",
		(json_int_t)w->events_dropped, "batches",
		(json_int_t)w->batches);
	if (j != NULL) {
		json_object_set_new(j, "resets",
				    json_integer((json_int_t)w->resets));
		json_object_set_new(j, "reset_errors",
				    json_integer((json_int_t)w->reset_errors));
		json_object_set_new(j, "handed_back",
				    json_integer((json_int_t)w->handed_back));
	}
	if (j == NULL || !per_worker)
		return j;
	idle = now_us > w->last_progress_us ?
		       (now_us - w->last_progress_us) / 1000 :
		       0;

	json_object_set_new(j, "queue", json_integer(w->queue));
	json_object_set_new(j, "idle_ms", json_integer((json_int_t)idle));
	json_object_set_new(j, "stalled",
			    json_boolean(stall_ms && idle > stall_ms));
	json_object_set_new(j, "policy_generation",
			    json_integer((json_int_t)w->policy_gen));
	return j;
}

static void cmd_worker_sum(const struct cmd_stats_snap *s,
			   struct queue_worker_stats *t)
{
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < s->n_workers; i++) {
		const struct queue_worker_stats *w = &s->workers[i];

		t->packets += w->packets;
		for (int k = 0; k < 3; k++) {
			t->verdicts[k] += w->verdicts[k];
			t->counts.pdus[k] += w->counts.pdus[k];
		}
		t->counts.malformed += w->counts.malformed;
		t->counts.flows += w->counts.flows;
		t->counts.flows_denied += w->counts.flows_denied;
		t->flows_active += w->flows_active;
		t->flows_max += w->flows_max;
		t->flow_table_full += w->flow_table_full;
		t->kernel_drops += w->kernel_drops;
		t->untracked += w->untracked;
		t->recv_errors += w->recv_errors;
		t->send_errors += w->send_errors;
		t->resets += w->resets;
		t->reset_errors += w->reset_errors;
		t->handed_back += w->handed_back;
		t->events_dropped += w->events_dropped;
		t->batches += w->batches;
	}
}

/* Whether the kernel sends any of c's traffic to the workers. */
static bool cmd_conduit_inspected(const struct pol_conduit *c)
{
	for (size_t i = 0; i < c->n_allow; i++)
		if (nft_service_inspected(c, &c->allow[i]))
			return true;
	return false;
}

static json_t *cmd_conduit_counts_json(const struct verdict_counts *k)
{
	return json_pack("{s:{s:I, s:I}, s:o, s:I}", "flows", "admitted",
			 (json_int_t)k->flows, "denied",
			 (json_int_t)k->flows_denied, "pdus",
			 cmd_actions_json(k->pdus), "malformed",
			 (json_int_t)k->malformed);
}

static json_t *cmd_str_or_null(const char *s)
{
	return s[0] ? json_string(s) : json_null();
}

/* The ring, newest first. */
static json_t *cmd_violations_json(const struct cmd_violations *r)
{
	uint64_t n = r->records < CMD_VIOLATIONS_MAX ? r->records :
						       CMD_VIOLATIONS_MAX;
	json_t *a = json_array();

	for (uint64_t i = 0; a != NULL && i < n; i++) {
		const struct cmd_violation *v =
			&r->v[(r->records - 1 - i) % CMD_VIOLATIONS_MAX];
		json_t *o = json_pack(
			"{s:I, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:i, "
			"s:s, s:s, s:I, s:s}",
			"time", (json_int_t)v->at, "kind",
			dpi_event_kind_name(v->kind), "action",
			pol_action_name(v->action), "conduit",
			cmd_str_or_null(v->conduit), "zone_from",
			cmd_str_or_null(v->zone_from), "zone_to",
			cmd_str_or_null(v->zone_to), "proto",
			cmd_str_or_null(v->proto), "function",
			v->function >= 0 ? json_integer(v->function) :
					   json_null(),
			"rule", cmd_str_or_null(v->rule), "line", v->line,
			"src", v->src, "dst", v->dst, "count",
			(json_int_t)v->count, "detail", v->detail);

		if (o == NULL || json_array_append_new(a, o) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

json_t *cmd_stats_json(const struct cmd_daemon *d,
		       const struct cmd_stats_snap *s)
{
	uint32_t stall = d->conf ? d->conf->watchdog_stall_ms : 0;
	struct queue_worker_stats tot;
	json_t *j, *ws, *cs;

	cmd_worker_sum(s, &tot);
	ws = json_array();
	cs = json_array();
	j = json_pack("{s:{s:b, s:I, s:I, s:I}, s:o, s:o, s:o, s:{s:I, s:I, "
		      "s:o}}",
		      "inspection", "active", d->queues != NULL || s->n_workers,
		      "queue_first", (json_int_t)d->queue_first, "queue_n",
		      (json_int_t)d->queue_n, "workers",
		      (json_int_t)s->n_workers, "totals",
		      cmd_worker_json(&tot, false, 0, 0), "workers",
		      json_incref(ws), "conduits", json_incref(cs),
		      "violations", "total", (json_int_t)d->violations.total,
		      "records", (json_int_t)d->violations.records, "recent",
		      cmd_violations_json(&d->violations));
	if (j == NULL)
		goto fail;
	for (size_t i = 0; i < s->n_workers; i++)
		if (json_array_append_new(ws, cmd_worker_json(&s->workers[i],
							      true, s->now_us,
							      stall)) < 0)
			goto fail;
	for (size_t i = 0; d->policy != NULL && i < d->policy->n_conduits;
	     i++) {
		const struct pol_conduit *c = &d->policy->conduits[i];
		static const struct verdict_counts zero;
		json_t *o = cmd_conduit_counts_json(
			s->conduits ? &s->conduits[i] : &zero);

		if (o == NULL || json_array_append_new(cs, o) < 0)
			goto fail;
		json_object_set_new(o, "name", json_string(c->name));
		json_object_set_new(o, "from", json_string(c->from->name));
		json_object_set_new(o, "to", json_string(c->to->name));
		json_object_set_new(o, "inspected",
				    json_boolean(cmd_conduit_inspected(c)));
	}
	json_decref(ws);
	json_decref(cs);
	return j;
fail:
	json_decref(ws);
	json_decref(cs);
	json_decref(j);
	return NULL;
}

json_t *cmd_audit_json(struct audit *a)
{
	struct audit_stats *st;
	json_t *j, *cs;

	if (a == NULL)
		return json_null();
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return NULL;
	audit_get_stats(a, st);
	cs = json_array();
	j = json_pack("{s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I, "
		      "s:I, s:I, s:I, s:I}, s:O}",
		      "emitted", (json_int_t)st->emitted, "queue_drops",
		      (json_int_t)st->queue_drops, "written",
		      (json_int_t)st->written, "write_failures",
		      (json_int_t)st->write_failures, "last_seq",
		      (json_int_t)st->last_seq, "spool", "fill_pct",
		      (json_int_t)st->spool.fill_pct, "bytes",
		      (json_int_t)st->spool.bytes, "capacity",
		      (json_int_t)st->spool.capacity, "records",
		      (json_int_t)st->spool.records, "segments",
		      (json_int_t)st->spool.segments, "first_seq",
		      (json_int_t)st->spool.first_seq, "last_seq",
		      (json_int_t)st->spool.last_seq, "dropped_new",
		      (json_int_t)st->spool.dropped_new, "overwritten",
		      (json_int_t)st->spool.overwritten, "collectors", cs);
	for (unsigned i = 0; j != NULL && cs != NULL && i < st->ncollectors &&
			     i < AUDIT_COLLECTORS_MAX;
	     i++) {
		const struct audit_collector_stats *c = &st->c[i];

		json_array_append_new(
			cs, json_pack("{s:s, s:b, s:I, s:I, s:I, s:I, s:I, "
				      "s:I, s:s}",
				      "name", c->name, "up", c->up, "backlog",
				      (json_int_t)c->backlog, "sent",
				      (json_int_t)c->sent, "delivered",
				      (json_int_t)c->delivered, "resent",
				      (json_int_t)c->resent, "connects",
				      (json_int_t)c->connects, "failures",
				      (json_int_t)c->failures, "last_error",
				      c->last_error));
	}
	json_decref(cs);
	free(st);
	return j;
}

/* The short inspection part of `status`. */
static json_t *cmd_inspection_summary(const struct cmd_daemon *d,
				      const struct cmd_stats_snap *s)
{
	uint32_t stall = d->conf ? d->conf->watchdog_stall_ms : 0;
	struct queue_worker_stats tot;
	size_t stalled = 0;

	cmd_worker_sum(s, &tot);
	for (size_t i = 0; i < s->n_workers; i++) {
		uint64_t t = s->workers[i].last_progress_us;

		if (stall && s->now_us > t &&
		    (s->now_us - t) / 1000 > (uint64_t)stall)
			stalled++;
	}
	return json_pack(
		"{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		"active", d->queues != NULL || s->n_workers, "workers",
		(json_int_t)s->n_workers, "stalled", (json_int_t)stalled,
		"queue_first", (json_int_t)d->queue_first, "queue_n",
		(json_int_t)d->queue_n, "packets", (json_int_t)tot.packets,
		"pdus_denied",
		(json_int_t)(tot.counts.pdus[POL_ACT_DENY] +
			     tot.counts.pdus[POL_ACT_REJECT]),
		"malformed", (json_int_t)tot.counts.malformed, "queue_drops",
		(json_int_t)tot.kernel_drops, "flows_active",
		(json_int_t)tot.flows_active, "flows_max",
		(json_int_t)tot.flows_max, "violations",
		(json_int_t)d->violations.total);
}

static json_t *cmd_stats_h(struct cmd_daemon *d, const json_t *args,
			   uint64_t id)
{
	struct cmd_stats_snap s;
	json_t *r;

	(void)args;
	if (cmd_stats_read(d, &s) < 0)
		return NULL;
	r = cmd_stats_json(d, &s);
	cmd_stats_snap_free(&s);
	if (r != NULL)
		json_object_set_new(r, "audit", cmd_audit_json(d->audit));
	return r ? ctl_response_ok(id, r) : NULL;
}

static json_t *cmd_status(struct cmd_daemon *d, const json_t *args, uint64_t id)
{
	char feat[256];
	json_t *r, *nfl;
	time_t now = time(NULL);

	(void)args;
	if (d->nflog) {
		struct nflog_stats st;

		nflog_get_stats(d->nflog, &st);
		nfl = json_pack("{s:b, s:i, s:I, s:I, s:I, s:I, s:I}", "active",
				1, "group", d->conf->nflog_group, "packets",
				(json_int_t)st.packets, "events",
				(json_int_t)st.events, "malformed",
				(json_int_t)(st.malformed + st.bad_packet +
					     st.bad_prefix),
				"lost", (json_int_t)(st.lost + st.enobufs),
				"unitemised", (json_int_t)st.unitemised);
	} else {
		nfl = json_pack("{s:b, s:i}", "active", 0, "group",
				d->conf->nflog_group);
	}
	r = json_pack(
		"{s:s, s:i, s:I, s:I, s:I, s:o, s:b, s:o, s:s, s:I, s:I, s:s, s:b, s:o, s:{s:s?, s:i}}",
		"version", PACKAGE_VERSION, "protocol", CMD_PROTOCOL_VERSION,
		"pid", (json_int_t)getpid(), "uptime",
		(json_int_t)(now - d->started), "started",
		(json_int_t)d->started, "policy", cmd_policy_summary(d),
		"island", d->island, "features",
		cmd_features_json(&d->features), "features_text",
		nft_features_str(&d->features, feat, sizeof(feat)),
		"generation", (json_int_t)d->generation, "last_apply",
		(json_int_t)d->last_apply, "user", d->user ? d->user : "root",
		"privileged", d->privileged, "nflog", nfl, "management", "zone",
		d->policy && policy_management_zone(d->policy) ?
			policy_management_zone(d->policy)->name :
			NULL,
		"port", d->conf->management_port);
	if (r != NULL) {
		struct cmd_stats_snap s;

		if (cmd_stats_read(d, &s) < 0) {
			json_decref(r);
			return NULL;
		}
		json_object_set_new(r, "inspection",
				    cmd_inspection_summary(d, &s));
		cmd_stats_snap_free(&s);
		json_object_set_new(r, "audit", cmd_audit_json(d->audit));
		if (d->mgmt)
			json_object_update_new(json_object_get(r, "management"),
					       mgmt_status_json(d->mgmt));
	}
	return ctl_response_ok(id, r);
}

/* Parses args.content as a policy named args.name (default "-"). */
static int cmd_load_arg(const json_t *args, struct pol_policy **p,
			const char **name, struct diag_list *dl)
{
	const json_t *c = json_object_get(args, "content");
	const json_t *n = json_object_get(args, "name");

	*name = json_is_string(n) ? json_string_value(n) : "-";
	return policy_load_buffer(*name, json_string_value(c),
				  json_string_length(c), 0, p, dl);
}

static json_t *cmd_policy_diff(struct cmd_daemon *d, const json_t *args,
			       uint64_t id)
{
	struct pol_policy *p = NULL;
	struct pol_diff df = { 0 };
	struct diag_list dl;
	const char *name;
	json_t *r;
	int rc;

	diag_list_init(&dl);
	rc = cmd_load_arg(args, &p, &name, &dl);
	if (rc == 0)
		rc = cmd_check_policy_conf(d->conf, p, &dl);
	if (rc < 0) {
		r = cmd_diag_error(id, CTL_ERR_POLICY_INVALID,
				   "policy rejected", rc, &dl);
		goto out;
	}
	rc = policy_diff(d->policy, p, &df);
	if (rc < 0) {
		r = cmd_err(id, CTL_ERR_INTERNAL, "diff: %s", strerror(-rc));
		goto out;
	}
	r = ctl_response_ok(id, cmd_diff_json(&df));
	policy_diff_free(&df);
out:
	policy_free(p);
	diag_list_free(&dl);
	return r;
}

static json_t *cmd_install_result(const struct cmd_daemon *d, bool deferred,
				  json_t *summary)
{
	char sha[65];
	json_t *r = json_pack("{s:b, s:b, s:I, s:s, s:s, s:I, s:I}", "applied",
			      !deferred, "deferred", deferred, "generation",
			      (json_int_t)d->generation, "file",
			      d->policy_name ? d->policy_name : "-", "sha256",
			      cmd_sha256_hex(d->policy, sha, sizeof(sha)),
			      "zones", (json_int_t)d->policy->n_zones,
			      "conduits", (json_int_t)d->policy->n_conduits);

	if (r == NULL) {
		json_decref(summary);
		return NULL;
	}
	json_object_set_new(r, "diff", summary ? summary : json_null());
	json_object_set_new(
		r, "message",
		json_string(
			deferred ?
				"island mode is on: the policy is stored and takes effect at island off" :
				"policy applied"));
	return r;
}

json_t *cmd_policy_apply(struct cmd_daemon *d, const json_t *args, uint64_t id)
{
	const json_t *c = json_object_get(args, "content");
	struct pol_policy *p = NULL;
	struct diag_list dl;
	json_t *summary = NULL, *r;
	const char *name;
	bool deferred;
	int rc;

	diag_list_init(&dl);
	rc = cmd_load_arg(args, &p, &name, &dl);
	if (rc < 0) {
		log_warnx(
			"policy.apply: %s rejected (%zu error%s); the running policy stays",
			name, dl.n, dl.n == 1 ? "" : "s");
		cmd_audit_policy_reject(d, name, CMD_SOURCE_APPLY, rc, &dl);
		r = cmd_diag_error(id, CTL_ERR_POLICY_INVALID,
				   "policy rejected", rc, &dl);
		goto out;
	}
	if (d->mgmt && mgmt_approval_required(d->mgmt) && !d->approved) {
		/* dual approval (CR 2.1 RE(4)): a valid change waits for a
		 * second engineer; an invalid one is rejected right away */
		struct pol_diff df = { 0 };

		rc = cmd_check_policy_conf(d->conf, p, &dl);
		if (rc < 0) {
			cmd_audit_policy_reject(d, name, CMD_SOURCE_APPLY, rc,
						&dl);
			r = cmd_diag_error(id, CTL_ERR_POLICY_INVALID,
					   "policy rejected", rc, &dl);
			goto out;
		}
		rc = policy_diff(d->policy, p, &df);
		if (rc < 0) {
			r = cmd_err(id, CTL_ERR_INTERNAL, "diff: %s",
				    strerror(-rc));
			goto out;
		}
		r = mgmt_policy_submit(d->mgmt, d, id, name,
				       json_string_value(c),
				       json_string_length(c),
				       cmd_diff_json(&df));
		policy_diff_free(&df);
		policy_free(p);
		goto out;
	}
	rc = cmd_install(d, p, name, CMD_SOURCE_APPLY, json_string_value(c),
			 json_string_length(c), false, &deferred, &summary,
			 &dl);
	if (rc < 0) {
		log_warnx(
			"policy.apply: %s not applied; the running policy stays",
			name);
		r = cmd_diag_error(id,
				   rc == -EINVAL ? CTL_ERR_POLICY_INVALID :
						   CTL_ERR_APPLY_FAILED,
				   "policy not applied", rc, &dl);
		goto out;
	}
	r = ctl_response_ok(id, cmd_install_result(d, deferred, summary));
out:
	diag_list_free(&dl);
	return r;
}

static json_t *cmd_policy_show(struct cmd_daemon *d, const json_t *args,
			       uint64_t id)
{
	struct nft_conduit_counters *cnt = NULL;
	struct cmd_stats_snap ss;
	json_t *j, *conduits, *cj;
	size_t i;
	int rc = -ENOENT;

	(void)args;
	if (d->policy == NULL)
		return cmd_err(id, CTL_ERR_INTERNAL, "no policy loaded");
	if (cmd_stats_read(d, &ss) < 0)
		return NULL;
	j = policy_to_json(d->policy);
	if (j == NULL) {
		cmd_stats_snap_free(&ss);
		return NULL;
	}
	if (d->policy->n_conduits > 0) {
		cnt = calloc(d->policy->n_conduits, sizeof(*cnt));
		/* no kernel context (tests): the counters are unknown */
		rc = cnt == NULL ? -ENOMEM :
		     d->nft	 ? nft_read_counters(d->nft, d->policy, cnt) :
				   -ENOTCONN;
	}
	conduits = json_object_get(j, "conduits");
	json_array_foreach(conduits, i, cj)
	{
		const char *n = json_string_value(json_object_get(cj, "name"));
		const struct pol_conduit *pc =
			n ? policy_conduit_by_name(d->policy, n) : NULL;
		const struct nft_conduit_counters *k;

		/* what the workers saw (null: no inspection running) */
		json_object_set_new(
			cj, "inspection",
			d->queues != NULL && pc != NULL && pc->id >= 1 &&
					pc->id <= d->policy->n_conduits ?
				cmd_conduit_counts_json(
					&ss.conduits[pc->id - 1]) :
				json_null());
		if (rc < 0 || pc == NULL || pc->id == 0 ||
		    pc->id > d->policy->n_conduits) {
			json_object_set_new(cj, "counters", json_null());
			continue;
		}
		k = &cnt[pc->id - 1];
		json_object_set_new(
			cj, "counters",
			json_pack("{s:I, s:I, s:I, s:I}", "accept_packets",
				  (json_int_t)k->accept_packets, "accept_bytes",
				  (json_int_t)k->accept_bytes, "deny_packets",
				  (json_int_t)k->deny_packets, "deny_bytes",
				  (json_int_t)k->deny_bytes));
	}
	if (rc < 0 && d->policy->n_conduits > 0)
		log_debug("policy.show: counters unavailable: %s",
			  strerror(-rc));
	free(cnt);
	cmd_stats_snap_free(&ss);
	json_object_set_new(j, "island", json_boolean(d->island));
	json_object_set_new(j, "generation",
			    json_integer((json_int_t)d->generation));
	json_object_set_new(j, "source",
			    json_string(cmd_source_name(d->source)));
	return ctl_response_ok(id, j);
}

static json_t *cmd_reload_h(struct cmd_daemon *d, const json_t *args,
			    uint64_t id)
{
	struct diag_list dl;
	json_t *summary = NULL, *r;
	bool deferred;
	int rc;

	(void)args;
	diag_list_init(&dl);
	rc = cmd_reload(d, &summary, &deferred, &dl);
	if (rc < 0)
		r = cmd_diag_error(id,
				   rc == -EINVAL ? CTL_ERR_POLICY_INVALID :
						   CTL_ERR_APPLY_FAILED,
				   "reload rejected", rc, &dl);
	else
		r = ctl_response_ok(id,
				    cmd_install_result(d, deferred, summary));
	diag_list_free(&dl);
	return r;
}

static json_t *cmd_island_h(struct cmd_daemon *d, const json_t *args,
			    uint64_t id)
{
	bool on = json_is_true(json_object_get(args, "on"));
	bool was = d->island;
	struct diag_list dl;
	json_t *r;
	int rc;

	diag_list_init(&dl);
	rc = cmd_island(d, on, &dl);
	if (rc < 0)
		r = cmd_diag_error(
			id, CTL_ERR_APPLY_FAILED,
			on ? "island on failed" : "island off failed", rc, &dl);
	else
		r = ctl_response_ok(id, json_pack("{s:b, s:b}", "island", on,
						  "changed", was != on));
	diag_list_free(&dl);
	return r;
}
