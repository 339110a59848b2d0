/*
 * audit.verify, audit.tail and conf.show (cmd_audit.h): what an auditor
 * reads remotely. The spool is read through audit/reader.c like
 * `conduitctl audit` does on the box, while the writer thread appends;
 * conf.show lists every key of the running struct conf, never a secret's
 * content (key files appear as paths).
 */
#include "config.h"

#include "mgmt/cmd_audit.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "audit/reader.h"
#include "audit/rfc5424.h"
#include "common/conf.h"
#include "mgmt/commands.h"
#include "mgmt/control.h"
#include "mgmt/mgmt.h"
#include "mgmt/rbac.h"
#include "mgmt/server.h"
#include "mgmt/session.h"

/* --- audit.verify --------------------------------------------------------- */

static json_t *verify_json(struct reader_verify *rv, const char *dir, bool hmac)
{
	const struct chain_verify_report *r = reader_verify_report(rv);
	bool intact = reader_verify_intact(rv);
	json_t *j;

	j = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:b, s:b, s:b, s:I}",
		      "dir", dir, "records", (json_int_t)r->records,
		      "first_seq", (json_int_t)r->first_seq, "last_seq",
		      (json_int_t)r->last_seq, "duplicates",
		      (json_int_t)r->duplicates, "not_ours",
		      (json_int_t)r->skipped, "intact", intact, "hmac", hmac,
		      "limited", rv->limited, "torn_tail_bytes",
		      (json_int_t)rv->torn_bytes);
	if (j != NULL && intact && r->records > 0 &&
	    reader_verify_last_chain(rv)) {
		char hex[CHAIN_HEX_LEN];

		chain_hex(rv->last_chain, hex);
		json_object_set_new(j, "last_chain", json_string(hex));
	}
	if (j == NULL || intact)
		return j;
	if (r->broken)
		json_object_set_new(j, "broken",
				    json_pack("{s:I, s:s, s:I, s:s}", "seq",
					      (json_int_t)r->broken_seq,
					      "segment", rv->broken_where,
					      "record",
					      (json_int_t)rv->broken_pos,
					      "reason", r->reason));
	else
		json_object_set_new(j, "broken",
				    json_pack("{s:n, s:s, s:n, s:s}", "seq",
					      "segment", rv->stop_segment,
					      "record", "reason", rv->stop));
	return j;
}

json_t *cmd_audit_verify(struct cmd_daemon *d, const json_t *args, uint64_t id)
{
	const json_t *mr = json_object_get(args, "max_records");
	const json_t *after = json_object_get(args, "after_seq");
	const char *anchor = json_string_value(json_object_get(args, "anchor"));
	uint8_t key[CHAIN_KEY_MAX];
	char dir[PATH_MAX], err[512];
	struct reader_verify rv;
	size_t key_len;
	json_t *r;
	int rc;

	if ((after != NULL) != (anchor != NULL))
		return ctl_response_error(
			id, CTL_ERR_INVALID_ARGS,
			"after_seq and anchor go together (a continuation)",
			NULL);
	conf_audit_dir(d->conf, dir, sizeof(dir));
	key_len = audit_hmac_key(d->audit, key, sizeof(key));
	reader_verify_init(&rv, d->conf->audit_pen, key, key_len);
	explicit_bzero(key, sizeof(key));
	rv.max_records = json_is_integer(mr) ?
				 (uint64_t)json_integer_value(mr) :
				 CMD_AUDIT_VERIFY_BATCH;
	if (anchor != NULL) {
		if (chain_unhex(anchor, rv.anchor) < 0) {
			reader_verify_free(&rv);
			snprintf(err, sizeof(err),
				 "anchor \"%.70s\": expected 64 hex digits",
				 anchor);
			return ctl_response_error(id, CTL_ERR_INVALID_ARGS, err,
						  NULL);
		}
		rv.anchored = true;
		rv.after_seq = (uint64_t)json_integer_value(after);
	}
	rc = reader_verify_spool(&rv, dir, err, sizeof(err));
	if (rc < 0)
		r = ctl_response_error(id, CTL_ERR_IO, err, NULL);
	else
		r = ctl_response_ok(id, verify_json(&rv, dir, key_len > 0));
	reader_verify_free(&rv);
	return r;
}

/* --- audit.tail ----------------------------------------------------------- */

/* The stored text as a JSON string; a record that is not UTF-8 (only a
 * damaged one: the formatter writes none) gets '?' for bytes >= 0x80. */
static json_t *text_json(const char *rec, size_t len)
{
	json_t *s = json_stringn(rec, len);
	char *copy;

	if (s != NULL)
		return s;
	copy = malloc(len ? len : 1);
	if (copy == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++)
		copy[i] = (unsigned char)rec[i] >= 0x80 ? '?' : rec[i];
	s = json_stringn(copy, len);
	free(copy);
	return s;
}

static json_t *tail_rec_json(const struct reader_rec *rr, char *scratch,
			     size_t scap, struct r5424_msg *m)
{
	bool ok = r5424_parse(rr->rec, rr->len, m, scratch, scap, NULL) == 0;

	return json_pack("{s:I, s:s?, s:s?, s:o?}", "seq", (json_int_t)rr->seq,
			 "msgid", ok ? m->msgid : NULL, "time",
			 ok ? m->timestamp : NULL, "text",
			 text_json(rr->rec, rr->len));
}

json_t *cmd_audit_tail(struct cmd_daemon *d, const json_t *args, uint64_t id)
{
	const size_t scap = R5424_MAX_LEN + R5424_MAX_PARAMS * 2 + 16;
	const json_t *cj = json_object_get(args, "count");
	json_int_t count = CMD_AUDIT_TAIL_DEFAULT;
	char dir[PATH_MAX], err[512];
	struct reader_tail t;
	struct r5424_msg *m = NULL;
	char *scratch = NULL;
	json_t *recs = NULL, *r = NULL;
	int rc;

	if (json_is_integer(cj))
		count = json_integer_value(cj);
	if (count < 0 || count > CMD_AUDIT_TAIL_MAX) {
		snprintf(err, sizeof(err), "count %lld: expected 0..%d",
			 (long long)count, CMD_AUDIT_TAIL_MAX);
		return ctl_response_error(id, CTL_ERR_INVALID_ARGS, err, NULL);
	}
	conf_audit_dir(d->conf, dir, sizeof(dir));
	if (reader_tail_init(&t, (unsigned)count) < 0)
		return NULL;
	rc = reader_tail_scan(&t, dir, err, sizeof(err));
	if (rc < 0) {
		r = ctl_response_error(id, CTL_ERR_IO, err, NULL);
		goto out;
	}
	m = malloc(sizeof(*m));
	scratch = malloc(scap);
	recs = json_array();
	if (m == NULL || scratch == NULL || recs == NULL)
		goto out;
	for (unsigned i = 0; i < t.count; i++)
		if (json_array_append_new(recs,
					  tail_rec_json(reader_tail_at(&t, i),
							scratch, scap, m)) < 0)
			goto out;
	r = ctl_response_ok(id, json_pack("{s:O}", "records", recs));
out:
	json_decref(recs);
	free(scratch);
	free(m);
	reader_tail_free(&t);
	return r;
}

/* --- conf.show ------------------------------------------------------------ */

enum show_type {
	SHOW_STR,
	SHOW_U16,
	SHOW_U32,
	SHOW_U64,
	SHOW_BOOL,
	SHOW_LEVEL,
	SHOW_FSYNC,
	SHOW_FULL,
	SHOW_FACILITY,
	SHOW_COLLECTORS,
	SHOW_LISTEN,
	SHOW_AUDIT_DIR, /* audit-dir: its effective value */
};

/*
 * Every key of conduitd.conf (conf.c's table; test_commands checks this
 * one against conduitd.conf(5)). dflt: the module's default shown for a
 * value of 0 (mgmt keys where 0 means "the default"), or, with set_off,
 * when the key was not given.
 */
struct show_key {
	const char *name;
	enum show_type type;
	size_t off;
	unsigned dflt;
	size_t set_off; /* offset of its bool *_set field; 0: none */
};

#define OFF(f) offsetof(struct conf, f)

static const struct show_key show_keys[] = {
	{ "policy", SHOW_STR, OFF(policy), 0, 0 },
	{ "management-zone", SHOW_STR, OFF(management_zone), 0, 0 },
	{ "management-port", SHOW_U16, OFF(management_port), 0, 0 },
	{ "nflog-group", SHOW_U16, OFF(nflog_group), 0, 0 },
	{ "log-rate", SHOW_U32, OFF(log_rate), 0, 0 },
	{ "deny-log-interval", SHOW_U32, OFF(deny_log_interval), 0, 0 },
	{ "inspect-queues", SHOW_U16, OFF(inspect_queues), 0, 0 },
	{ "queue-first", SHOW_U16, OFF(queue_first), 0, 0 },
	{ "inspect-flows", SHOW_U32, OFF(inspect_flows), 0, 0 },
	{ "watchdog-stall-ms", SHOW_U32, OFF(watchdog_stall_ms), 0, 0 },
	{ "control-socket", SHOW_STR, OFF(control_socket), 0, 0 },
	{ "control-group", SHOW_STR, OFF(control_group), 0, 0 },
	{ "state-dir", SHOW_STR, OFF(state_dir), 0, 0 },
	{ "pidfile", SHOW_STR, OFF(pidfile), 0, 0 },
	{ "log-level", SHOW_LEVEL, OFF(log_level), 0, 0 },
	{ "user", SHOW_STR, OFF(user), 0, 0 },
	{ "audit-dir", SHOW_AUDIT_DIR, 0, 0, 0 },
	{ "audit-capacity", SHOW_U64, OFF(audit_capacity), 0, 0 },
	{ "audit-segment-size", SHOW_U64, OFF(audit_segment_size), 0, 0 },
	{ "audit-fsync", SHOW_FSYNC, OFF(audit_fsync_ms), 0, 0 },
	{ "audit-warn-percent", SHOW_U32, OFF(audit_warn_pct), 0, 0 },
	{ "audit-full", SHOW_FULL, OFF(audit_full), 0, 0 },
	{ "audit-hmac-key", SHOW_STR, OFF(audit_hmac_key), 0, 0 },
	{ "audit-pen", SHOW_U32, OFF(audit_pen), 0, 0 },
	{ "audit-facility", SHOW_FACILITY, OFF(audit_facility), 0, 0 },
	{ "audit-hostname", SHOW_STR, OFF(audit_hostname), 0, 0 },
	{ "audit-jsonl", SHOW_STR, OFF(audit_jsonl), 0, 0 },
	{ "audit-health-interval", SHOW_U32, OFF(audit_health_interval), 0, 0 },
	{ "audit-collector", SHOW_COLLECTORS, 0, 0, 0 },
	{ "users-file", SHOW_STR, OFF(users_file), 0, 0 },
	{ "password-cost", SHOW_U32, OFF(password_cost), AUTH_COST_DEFAULT, 0 },
	{ "password-min-length", SHOW_U32, OFF(password_min_length), 12, 0 },
	{ "password-min-classes", SHOW_U32, OFF(password_min_classes), 3, 0 },
	{ "password-history", SHOW_U32, OFF(password_history), 5,
	  OFF(password_history_set) },
	{ "password-common-file", SHOW_STR, OFF(password_common_file), 0, 0 },
	{ "lockout-failures", SHOW_U32, OFF(lockout_failures), 5, 0 },
	{ "lockout-window", SHOW_U32, OFF(lockout_window), 900, 0 },
	{ "lockout-time", SHOW_U32, OFF(lockout_time), 900,
	  OFF(lockout_time_set) },
	{ "banner-file", SHOW_STR, OFF(banner_file), 0, 0 },
	{ "session-idle-lock", SHOW_U32, OFF(session_idle_lock),
	  SESS_IDLE_LOCK_DEFAULT, OFF(session_idle_lock_set) },
	{ "session-max", SHOW_U32, OFF(session_max), SESS_MAX_TOTAL_DEFAULT,
	  0 },
	{ "session-max-per-user", SHOW_U32, OFF(session_max_per_user),
	  SESS_MAX_PER_USER_DEFAULT, 0 },
	{ "approval-required", SHOW_BOOL, OFF(approval_required), 0, 0 },
	{ "approval-ttl", SHOW_U32, OFF(approval_ttl), RBAC_PENDING_TTL_DEFAULT,
	  0 },
	{ "management-listen", SHOW_LISTEN, 0, 0, 0 },
	{ "management-tls-cert", SHOW_STR, OFF(mgmt_tls_cert), 0, 0 },
	{ "management-tls-key", SHOW_STR, OFF(mgmt_tls_key), 0, 0 },
	{ "management-tls-client-ca", SHOW_STR, OFF(mgmt_tls_client_ca), 0, 0 },
	{ "management-max-clients", SHOW_U32, OFF(mgmt_max_clients),
	  SRV_TLS_MAX_CLIENTS_DEFAULT, 0 },
	{ "management-max-unauth", SHOW_U32, OFF(mgmt_max_unauth),
	  SRV_TLS_MAX_UNAUTH_DEFAULT, 0 },
	{ "management-max-per-source", SHOW_U32, OFF(mgmt_max_per_source),
	  SRV_TLS_MAX_PER_SOURCE_DEFAULT, 0 },
	{ "management-handshake-timeout", SHOW_U32, OFF(mgmt_handshake_timeout),
	  SRV_TLS_HANDSHAKE_TIMEOUT_DEFAULT, 0 },
	{ "management-login-timeout", SHOW_U32, OFF(mgmt_login_timeout),
	  MGMT_LOGIN_TIMEOUT_DEFAULT, 0 },
};

static const char *const proto_names[] = {
	[CONF_AUDIT_UDP] = "udp",
	[CONF_AUDIT_TCP] = "tcp",
	[CONF_AUDIT_TLS] = "tls",
};

static const char *const level_names[] = {
	[LOG_LEVEL_ERR] = "err",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *collectors_json(const struct conf *c)
{
	json_t *a = json_array();

	for (unsigned i = 0; a != NULL && i < c->n_collectors; i++) {
		const struct conf_collector *k = &c->collectors[i];
		json_t *o = json_pack(
			"{s:s?, s:s, s:s?, s:s?, s:o, s:o, s:o, s:o, s:b, s:I, "
			"s:I}",
			"name", k->name, "proto",
			(unsigned)k->proto < 3 ? proto_names[k->proto] : "?",
			"host", k->host, "port", k->port, "ca",
			str_or_null(k->ca), "cert", str_or_null(k->cert), "key",
			str_or_null(k->key), "server_name",
			str_or_null(k->server_name), "no_client_cert",
			k->no_client_cert, "settle_ms",
			(json_int_t)k->settle_ms, "backoff_max_ms",
			(json_int_t)k->backoff_max_ms);

		if (json_array_append_new(a, o) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *listen_json(const struct conf *c)
{
	json_t *a = json_array();

	for (unsigned i = 0; a != NULL && i < c->n_mgmt_listen; i++)
		if (json_array_append_new(a, json_string(c->mgmt_listen[i])) <
		    0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *show_value(const struct conf *c, const struct show_key *k)
{
	const char *p = (const char *)c + k->off;
	char dir[PATH_MAX];
	uint64_t v = 0;

	switch (k->type) {
	case SHOW_STR:
		return str_or_null(*(char *const *)(const void *)p);
	case SHOW_AUDIT_DIR:
		return json_string(conf_audit_dir(c, dir, sizeof(dir)));
	case SHOW_BOOL:
		return json_boolean(*(const bool *)(const void *)p);
	case SHOW_LEVEL: {
		unsigned l = *(const enum log_level *)(const void *)p;

		return json_string(l <= LOG_LEVEL_DEBUG ? level_names[l] : "?");
	}
	case SHOW_FSYNC:
		v = *(const uint32_t *)(const void *)p;
		return v ? json_integer((json_int_t)v) : json_string("record");
	case SHOW_FULL:
		return json_string(
			*(const enum conf_audit_full *)(const void *)p ==
					CONF_AUDIT_DROP_NEW ?
				"drop-new" :
				"overwrite-oldest");
	case SHOW_FACILITY:
		return json_integer(*(const int *)(const void *)p);
	case SHOW_COLLECTORS:
		return collectors_json(c);
	case SHOW_LISTEN:
		return listen_json(c);
	case SHOW_U16:
		v = *(const uint16_t *)(const void *)p;
		break;
	case SHOW_U32:
		v = *(const uint32_t *)(const void *)p;
		break;
	case SHOW_U64:
		v = *(const uint64_t *)(const void *)p;
		break;
	}
	if (k->set_off ? !*(const bool *)(const void *)((const char *)c +
							k->set_off) :
			 v == 0 && k->dflt)
		v = k->dflt;
	return json_integer((json_int_t)v);
}

json_t *cmd_conf_show(struct cmd_daemon *d, const json_t *args, uint64_t id)
{
	json_t *keys = json_object();

	(void)args;
	if (keys == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(show_keys) / sizeof(show_keys[0]); i++) {
		json_t *v = show_value(d->conf, &show_keys[i]);

		if (v == NULL ||
		    json_object_set_new(keys, show_keys[i].name, v) < 0) {
			json_decref(keys);
			return NULL;
		}
	}
	return ctl_response_ok(id, json_pack("{s:o, s:o}", "file",
					     str_or_null(d->conf->file), "keys",
					     keys));
}
