/*
 * conduitd.conf reader. One table of keys drives parsing, so adding a key
 * is one line here plus its documentation in conduitd.conf(5). Every
 * problem in a file is reported with file:line:col; the first error does
 * not stop the scan.
 */
#include "config.h"

#include "common/conf.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "common/diag.h"

enum conf_type {
	CONF_T_PATH, /* absolute, or relative to the conf file's directory */
	CONF_T_NAME, /* one word */
	CONF_T_USER, /* one word or "-" */
	CONF_T_U16,
	CONF_T_U32,
	CONF_T_LEVEL,
	CONF_T_SIZE,	  /* u64 bytes, K/M/G suffix (binary) */
	CONF_T_FSYNC,	  /* "record" (0) or milliseconds */
	CONF_T_FULL,	  /* overwrite-oldest | drop-new */
	CONF_T_FACILITY,  /* name or 0..23 */
	CONF_T_HOST,	  /* printable ASCII without blanks */
	CONF_T_COLLECTOR, /* audit-collector line (may repeat) */
	CONF_T_BOOL,	  /* yes | no */
	CONF_T_LISTEN,	  /* management-listen: an IP literal (may repeat) */
};

struct conf_key {
	const char *name;
	enum conf_type type;
	size_t off;		/* offset of the field in struct conf */
	unsigned long long min; /* numbers only */
	unsigned long long max;
};

#define OFF(f) offsetof(struct conf, f)

static const struct conf_key conf_keys[] = {
	{ "policy", CONF_T_PATH, OFF(policy), 0, 0 },
	{ "management-zone", CONF_T_NAME, OFF(management_zone), 0, 0 },
	{ "management-port", CONF_T_U16, OFF(management_port), 0, 65535 },
	{ "nflog-group", CONF_T_U16, OFF(nflog_group), 0, 65535 },
	{ "log-rate", CONF_T_U32, OFF(log_rate), 1, 1000000 },
	{ "deny-log-interval", CONF_T_U32, OFF(deny_log_interval), 1, 86400 },
	{ "inspect-queues", CONF_T_U16, OFF(inspect_queues), 0, 64 },
	{ "queue-first", CONF_T_U16, OFF(queue_first), 0, 65471 },
	{ "inspect-flows", CONF_T_U32, OFF(inspect_flows), 1024, 4194304 },
	{ "watchdog-stall-ms", CONF_T_U32, OFF(watchdog_stall_ms), 100,
	  600000 },
	{ "control-socket", CONF_T_PATH, OFF(control_socket), 0, 0 },
	{ "control-group", CONF_T_NAME, OFF(control_group), 0, 0 },
	{ "state-dir", CONF_T_PATH, OFF(state_dir), 0, 0 },
	{ "pidfile", CONF_T_PATH, OFF(pidfile), 0, 0 },
	{ "log-level", CONF_T_LEVEL, OFF(log_level), 0, 0 },
	{ "user", CONF_T_USER, OFF(user), 0, 0 },
	{ "audit-dir", CONF_T_PATH, OFF(audit_dir), 0, 0 },
	{ "audit-capacity", CONF_T_SIZE, OFF(audit_capacity), 128ull << 10,
	  1ull << 40 },
	{ "audit-segment-size", CONF_T_SIZE, OFF(audit_segment_size),
	  64ull << 10, 1ull << 30 },
	{ "audit-fsync", CONF_T_FSYNC, OFF(audit_fsync_ms), 1, 60000 },
	{ "audit-warn-percent", CONF_T_U32, OFF(audit_warn_pct), 1, 99 },
	{ "audit-full", CONF_T_FULL, OFF(audit_full), 0, 0 },
	{ "audit-hmac-key", CONF_T_PATH, OFF(audit_hmac_key), 0, 0 },
	{ "audit-pen", CONF_T_U32, OFF(audit_pen), 1, 4294967294ul },
	{ "audit-facility", CONF_T_FACILITY, OFF(audit_facility), 0, 23 },
	{ "audit-hostname", CONF_T_HOST, OFF(audit_hostname), 1, 255 },
	{ "audit-jsonl", CONF_T_PATH, OFF(audit_jsonl), 0, 0 },
	{ "audit-health-interval", CONF_T_U32, OFF(audit_health_interval), 0,
	  86400 },
	{ "audit-collector", CONF_T_COLLECTOR, 0, 0, 0 },
	{ "users-file", CONF_T_PATH, OFF(users_file), 0, 0 },
	{ "password-cost", CONF_T_U32, OFF(password_cost), 1, 11 },
	{ "password-min-length", CONF_T_U32, OFF(password_min_length), 8, 256 },
	{ "password-min-classes", CONF_T_U32, OFF(password_min_classes), 1, 4 },
	{ "password-history", CONF_T_U32, OFF(password_history), 0, 24 },
	{ "password-common-file", CONF_T_PATH, OFF(password_common_file), 0,
	  0 },
	{ "lockout-failures", CONF_T_U32, OFF(lockout_failures), 1, 1000 },
	{ "lockout-window", CONF_T_U32, OFF(lockout_window), 1, 86400 },
	{ "lockout-time", CONF_T_U32, OFF(lockout_time), 0, 604800 },
	{ "banner-file", CONF_T_PATH, OFF(banner_file), 0, 0 },
	{ "session-idle-lock", CONF_T_U32, OFF(session_idle_lock), 0, 86400 },
	{ "session-max", CONF_T_U32, OFF(session_max), 1, 1024 },
	{ "session-max-per-user", CONF_T_U32, OFF(session_max_per_user), 1,
	  1024 },
	{ "approval-required", CONF_T_BOOL, OFF(approval_required), 0, 0 },
	{ "approval-ttl", CONF_T_U32, OFF(approval_ttl), 60, 604800 },
	{ "management-listen", CONF_T_LISTEN, 0, 0, 0 },
	{ "management-tls-cert", CONF_T_PATH, OFF(mgmt_tls_cert), 0, 0 },
	{ "management-tls-key", CONF_T_PATH, OFF(mgmt_tls_key), 0, 0 },
	{ "management-tls-client-ca", CONF_T_PATH, OFF(mgmt_tls_client_ca), 0,
	  0 },
	{ "management-max-clients", CONF_T_U32, OFF(mgmt_max_clients), 1,
	  4096 },
	{ "management-max-unauth", CONF_T_U32, OFF(mgmt_max_unauth), 1, 4096 },
	{ "management-max-per-source", CONF_T_U32, OFF(mgmt_max_per_source), 1,
	  4096 },
	{ "management-handshake-timeout", CONF_T_U32,
	  OFF(mgmt_handshake_timeout), 1, 300 },
	{ "management-login-timeout", CONF_T_U32, OFF(mgmt_login_timeout), 1,
	  3600 },
};

#define N_KEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))

int conf_init(struct conf *c)
{
	memset(c, 0, sizeof(*c));
	c->policy = strdup(CONF_POLICY_DEFAULT);
	c->control_socket = strdup(CONF_CONTROL_SOCKET_DEFAULT);
	c->control_group = strdup(CONF_CONTROL_GROUP_DEFAULT);
	c->state_dir = strdup(CONF_STATE_DIR_DEFAULT);
	c->pidfile = strdup(CONF_PIDFILE_DEFAULT);
	c->user = strdup(CONF_USER_DEFAULT);
	c->management_port = CONF_MGMT_PORT_DEFAULT;
	c->nflog_group = CONF_NFLOG_GROUP_DEFAULT;
	c->log_rate = CONF_LOG_RATE_DEFAULT;
	c->deny_log_interval = CONF_DENY_INTERVAL_DEFAULT;
	c->inspect_queues = CONF_INSPECT_QUEUES_DEFAULT;
	c->inspect_flows = CONF_INSPECT_FLOWS_DEFAULT;
	c->watchdog_stall_ms = CONF_WATCHDOG_STALL_DEFAULT;
	c->log_level = LOG_LEVEL_INFO;
	c->audit_capacity = CONF_AUDIT_CAPACITY_DEFAULT;
	c->audit_segment_size = CONF_AUDIT_SEGMENT_DEFAULT;
	c->audit_fsync_ms = CONF_AUDIT_FSYNC_DEFAULT;
	c->audit_warn_pct = CONF_AUDIT_WARN_DEFAULT;
	c->audit_full = CONF_AUDIT_OVERWRITE_OLDEST;
	c->audit_pen = CONF_AUDIT_PEN_DEFAULT;
	c->audit_facility = CONF_AUDIT_FACILITY_DEFAULT;
	c->audit_health_interval = CONF_AUDIT_HEALTH_DEFAULT;
	c->users_file = strdup(CONF_USERS_FILE_DEFAULT);
	if (!c->users_file || !c->policy || !c->control_socket ||
	    !c->control_group || !c->state_dir || !c->pidfile || !c->user) {
		conf_free(c);
		return -ENOMEM;
	}
	return 0;
}

static void conf_collector_free(struct conf_collector *k)
{
	free(k->name);
	free(k->host);
	free(k->port);
	free(k->ca);
	free(k->cert);
	free(k->key);
	free(k->server_name);
	memset(k, 0, sizeof(*k));
}

void conf_free(struct conf *c)
{
	free(c->file);
	free(c->policy);
	free(c->management_zone);
	free(c->users_file);
	free(c->password_common_file);
	free(c->banner_file);
	for (unsigned i = 0; i < c->n_mgmt_listen; i++)
		free(c->mgmt_listen[i]);
	free(c->mgmt_tls_cert);
	free(c->mgmt_tls_key);
	free(c->mgmt_tls_client_ca);
	free(c->control_socket);
	free(c->control_group);
	free(c->state_dir);
	free(c->pidfile);
	free(c->user);
	free(c->audit_dir);
	free(c->audit_hmac_key);
	free(c->audit_hostname);
	free(c->audit_jsonl);
	for (unsigned i = 0; i < c->n_collectors; i++)
		conf_collector_free(&c->collectors[i]);
	memset(c, 0, sizeof(*c));
}

int conf_user_is_none(const struct conf *c)
{
	return c->user == NULL || strcmp(c->user, "-") == 0;
}

static const struct conf_key *conf_key_find(const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(conf_keys[i].name, name) == 0)
			return &conf_keys[i];
	return NULL;
}

/* Strict decimal: no sign, no leading '+', no trailing junk. */
static int conf_parse_ulong(const char *s, unsigned long long *out)
{
	unsigned long long v = 0;

	if (*s == '\0')
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (~0ULL - 9) / 10)
			return -ERANGE;
		v = v * 10 + (unsigned long long)(*s - '0');
	}
	*out = v;
	return 0;
}

static int conf_name_ok(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' &&
		    *s != '.')
			return 0;
	return 1;
}

/* Relative values are taken relative to the directory of the conf file, so
 * a configuration tree can be moved as a whole; the result is absolute
 * because the daemon chdirs to "/". */
static char *conf_resolve_path(const char *conf_file, const char *v)
{
	char *real, *slash, *out;
	size_t dlen;

	if (v[0] == '/' || conf_file == NULL)
		return strdup(v);
	real = realpath(conf_file, NULL);
	if (real == NULL)
		return strdup(v);
	slash = strrchr(real, '/');
	dlen = slash ? (size_t)(slash - real) : 0;
	out = malloc(dlen + 1 + strlen(v) + 1);
	if (out != NULL) {
		memcpy(out, real, dlen);
		out[dlen] = '/';
		strcpy(out + dlen + 1, v);
	}
	free(real);
	return out;
}

static void conf_set_str(struct conf *c, const struct conf_key *k, char *v)
{
	char **field = (char **)((char *)c + k->off);

	free(*field);
	*field = v;
}

static const struct {
	const char *name;
	int code;
} conf_facilities[] = {
	{ "kern", 0 },	  { "user", 1 },      { "mail", 2 },
	{ "daemon", 3 },  { "auth", 4 },      { "syslog", 5 },
	{ "lpr", 6 },	  { "news", 7 },      { "uucp", 8 },
	{ "cron", 9 },	  { "authpriv", 10 }, { "ftp", 11 },
	{ "ntp", 12 },	  { "audit", 13 },    { "alert", 14 },
	{ "clock", 15 },  { "local0", 16 },   { "local1", 17 },
	{ "local2", 18 }, { "local3", 19 },   { "local4", 20 },
	{ "local5", 21 }, { "local6", 22 },   { "local7", 23 },
};

int conf_facility_parse(const char *s)
{
	unsigned long long n;

	for (size_t i = 0;
	     i < sizeof(conf_facilities) / sizeof(conf_facilities[0]); i++)
		if (strcmp(s, conf_facilities[i].name) == 0)
			return conf_facilities[i].code;
	if (conf_parse_ulong(s, &n) == 0 && n <= 23)
		return (int)n;
	return -1;
}

/* "64M" -> 64 MiB; K, M, G binary (upper or lower case); no suffix: bytes. */
static int conf_parse_size(const char *s, unsigned long long *out)
{
	char num[32];
	size_t len = strlen(s);
	unsigned shift = 0;
	unsigned long long v;
	int rc;

	if (len == 0 || len >= sizeof(num))
		return -EINVAL;
	switch (s[len - 1]) {
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	}
	memcpy(num, s, len + 1);
	if (shift)
		num[len - 1] = '\0';
	rc = conf_parse_ulong(num, &v);
	if (rc < 0)
		return rc;
	if (shift && v > (~0ULL >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

static int conf_host_ok(const char *s, size_t max)
{
	size_t n = 0;

	for (; *s; s++, n++)
		if ((unsigned char)*s < 33 || (unsigned char)*s > 126)
			return 0;
	return n > 0 && n <= max;
}

static int conf_collector_name_ok(const char *s)
{
	return conf_name_ok(s) && strlen(s) <= CONF_AUDIT_NAME_MAX;
}

/* Numeric option of a collector line. */
static int conf_collector_num(const char *opt, const char *v, uint32_t min,
			      uint32_t max, uint32_t *out, const char *file,
			      int line, int col, struct diag_list *d)
{
	unsigned long long n;
	int rc = conf_parse_ulong(v, &n);

	if (rc == 0 && (n < min || n > max))
		rc = -ERANGE;
	if (rc == -ERANGE) {
		diag_add(d, file, line, col,
			 "audit-collector: %s: %s is out of range %u..%u", opt,
			 v, min, max);
		return -EINVAL;
	}
	if (rc < 0) {
		diag_add(
			d, file, line, col,
			"audit-collector: %s: expected a decimal number, got \"%s\"",
			opt, v);
		return -EINVAL;
	}
	*out = (uint32_t)n;
	return 0;
}

#define CONF_TOKENS_MAX 24

/*
 * audit-collector NAME PROTO HOST PORT [ca FILE] [cert FILE] [key FILE]
 *                 [server-name NAME] [no-client-cert] [settle-ms N]
 *                 [backoff-max-ms N]
 */
static int conf_collector(struct conf *c, char *v, const char *file, int line,
			  int vcol, struct diag_list *d)
{
	struct conf_collector k = { 0 };
	char *tok[CONF_TOKENS_MAX];
	int col[CONF_TOKENS_MAX];
	int ntok = 0, rc = 0, i;
	char *p = v;

	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		if (ntok == CONF_TOKENS_MAX) {
			diag_add(d, file, line, vcol + (int)(p - v),
				 "audit-collector: more than %d words",
				 CONF_TOKENS_MAX);
			return -EINVAL;
		}
		tok[ntok] = p;
		col[ntok++] = vcol + (int)(p - v);
		while (*p && *p != ' ' && *p != '\t')
			p++;
		if (*p)
			*p++ = '\0';
	}
	if (ntok < 4) {
		diag_add(
			d, file, line, vcol,
			"audit-collector: expected NAME PROTO HOST PORT [options], got %d word%s",
			ntok, ntok == 1 ? "" : "s");
		return -EINVAL;
	}
	k.line = line;
	if (!conf_collector_name_ok(tok[0])) {
		diag_add(
			d, file, line, col[0],
			"audit-collector: name \"%s\": expected 1..%d letters, digits, '-', '_' or '.'",
			tok[0], CONF_AUDIT_NAME_MAX);
		rc = -EINVAL;
	}
	for (unsigned j = 0; rc == 0 && j < c->n_collectors; j++)
		if (strcmp(c->collectors[j].name, tok[0]) == 0) {
			diag_add(
				d, file, line, col[0],
				"audit-collector: duplicate name \"%s\" (first on line %d)",
				tok[0], c->collectors[j].line);
			rc = -EINVAL;
		}
	if (strcmp(tok[1], "udp") == 0) {
		k.proto = CONF_AUDIT_UDP;
	} else if (strcmp(tok[1], "tcp") == 0) {
		k.proto = CONF_AUDIT_TCP;
	} else if (strcmp(tok[1], "tls") == 0) {
		k.proto = CONF_AUDIT_TLS;
	} else {
		diag_add(
			d, file, line, col[1],
			"audit-collector: unknown protocol \"%s\" (expected udp, tcp or tls)",
			tok[1]);
		rc = -EINVAL;
	}
	if (!conf_host_ok(tok[2], 255)) {
		diag_add(d, file, line, col[2],
			 "audit-collector: bad host \"%s\"", tok[2]);
		rc = -EINVAL;
	}
	{
		unsigned long long port;
		int prc = conf_parse_ulong(tok[3], &port);

		if ((prc == 0 && (port < 1 || port > 65535)) ||
		    (prc < 0 && !conf_name_ok(tok[3]))) {
			diag_add(
				d, file, line, col[3],
				"audit-collector: port \"%s\": expected 1..65535 or a service name",
				tok[3]);
			rc = -EINVAL;
		}
	}
	k.name = strdup(tok[0]);
	k.host = strdup(tok[2]);
	k.port = strdup(tok[3]);
	if (k.name == NULL || k.host == NULL || k.port == NULL) {
		conf_collector_free(&k);
		return -ENOMEM;
	}
	for (i = 4; i < ntok; i++) {
		const char *o = tok[i];
		char **path = NULL;

		if (strcmp(o, "no-client-cert") == 0) {
			k.no_client_cert = true;
			continue;
		}
		if (i + 1 >= ntok) {
			diag_add(
				d, file, line, col[i],
				strcmp(o, "ca") && strcmp(o, "cert") &&
						strcmp(o, "key") &&
						strcmp(o, "server-name") &&
						strcmp(o, "settle-ms") &&
						strcmp(o, "backoff-max-ms") ?
					"audit-collector: unknown option \"%s\"" :
					"audit-collector: %s: missing value",
				o);
			rc = -EINVAL;
			break;
		}
		if (strcmp(o, "ca") == 0)
			path = &k.ca;
		else if (strcmp(o, "cert") == 0)
			path = &k.cert;
		else if (strcmp(o, "key") == 0)
			path = &k.key;
		if (path != NULL) {
			if (*path != NULL) {
				diag_add(d, file, line, col[i],
					 "audit-collector: %s given twice", o);
				rc = -EINVAL;
			}
			free(*path);
			*path = conf_resolve_path(c->file, tok[i + 1]);
			if (*path == NULL) {
				conf_collector_free(&k);
				return -ENOMEM;
			}
		} else if (strcmp(o, "server-name") == 0) {
			if (!conf_host_ok(tok[i + 1], 255)) {
				diag_add(
					d, file, line, col[i + 1],
					"audit-collector: bad server-name \"%s\"",
					tok[i + 1]);
				rc = -EINVAL;
			}
			free(k.server_name);
			k.server_name = strdup(tok[i + 1]);
			if (k.server_name == NULL) {
				conf_collector_free(&k);
				return -ENOMEM;
			}
		} else if (strcmp(o, "settle-ms") == 0) {
			if (conf_collector_num(o, tok[i + 1], 1, 60000,
					       &k.settle_ms, file, line,
					       col[i + 1], d) < 0)
				rc = -EINVAL;
		} else if (strcmp(o, "backoff-max-ms") == 0) {
			if (conf_collector_num(o, tok[i + 1], 100, 3600000,
					       &k.backoff_max_ms, file, line,
					       col[i + 1], d) < 0)
				rc = -EINVAL;
		} else {
			diag_add(d, file, line, col[i],
				 "audit-collector: unknown option \"%s\"", o);
			rc = -EINVAL;
			break;
		}
		i++;
	}
	if (rc == 0 && k.proto != CONF_AUDIT_TLS &&
	    (k.ca || k.cert || k.key || k.server_name || k.no_client_cert)) {
		diag_add(
			d, file, line, col[1],
			"audit-collector %s: ca, cert, key, server-name and no-client-cert are for tls only",
			k.name);
		rc = -EINVAL;
	}
	if (rc == 0 && k.proto == CONF_AUDIT_TLS) {
		if (k.ca == NULL) {
			diag_add(
				d, file, line, col[1],
				"audit-collector %s: tls needs \"ca FILE\" to verify the collector",
				k.name);
			rc = -EINVAL;
		} else if ((k.cert == NULL) != (k.key == NULL)) {
			diag_add(d, file, line, col[1],
				 "audit-collector %s: %s without %s", k.name,
				 k.cert ? "cert" : "key",
				 k.cert ? "key" : "cert");
			rc = -EINVAL;
		} else if (k.cert == NULL && !k.no_client_cert) {
			diag_add(
				d, file, line, col[1],
				"audit-collector %s: mutual authentication needs \"cert FILE key FILE\" (or no-client-cert)",
				k.name);
			rc = -EINVAL;
		} else if (k.cert != NULL && k.no_client_cert) {
			diag_add(
				d, file, line, col[1],
				"audit-collector %s: no-client-cert together with cert",
				k.name);
			rc = -EINVAL;
		}
	}
	if (rc == 0 && c->n_collectors == CONF_AUDIT_COLLECTORS_MAX) {
		diag_add(d, file, line, col[0],
			 "audit-collector: more than %d collectors",
			 CONF_AUDIT_COLLECTORS_MAX);
		rc = -EINVAL;
	}
	if (rc < 0) {
		conf_collector_free(&k);
		return rc;
	}
	c->collectors[c->n_collectors++] = k;
	return 0;
}

/* Applies one key; returns 0 or -EINVAL/-ENOMEM after adding a diagnostic. */
static int conf_apply(struct conf *c, const struct conf_key *k, char *v,
		      const char *file, int line, int col, struct diag_list *d)
{
	unsigned long long n;
	char *s;
	int lvl, rc;

	switch (k->type) {
	case CONF_T_PATH:
		if (strchr(v, ' ') || strchr(v, '\t')) {
			diag_add(d, file, line, col,
				 "%s: expected one path, got \"%s\"", k->name,
				 v);
			return -EINVAL;
		}
		s = conf_resolve_path(c->file, v);
		if (s == NULL)
			return -ENOMEM;
		conf_set_str(c, k, s);
		return 0;
	case CONF_T_USER:
		if (strcmp(v, "-") == 0) {
			s = strdup(v);
			if (s == NULL)
				return -ENOMEM;
			conf_set_str(c, k, s);
			return 0;
		}
		/* fall through */
	case CONF_T_NAME:
		if (!conf_name_ok(v)) {
			diag_add(
				d, file, line, col,
				"%s: expected a name of letters, digits, '-', '_' or '.', got \"%s\"",
				k->name, v);
			return -EINVAL;
		}
		s = strdup(v);
		if (s == NULL)
			return -ENOMEM;
		conf_set_str(c, k, s);
		return 0;
	case CONF_T_U16:
	case CONF_T_U32:
		rc = conf_parse_ulong(v, &n);
		if (rc == 0 && (n < k->min || n > k->max))
			rc = -ERANGE;
		if (rc == -ERANGE) {
			diag_add(d, file, line, col,
				 "%s: %s is out of range %llu..%llu", k->name,
				 v, k->min, k->max);
			return -EINVAL;
		}
		if (rc < 0) {
			diag_add(d, file, line, col,
				 "%s: expected a decimal number, got \"%s\"",
				 k->name, v);
			return -EINVAL;
		}
		if (k->type == CONF_T_U16)
			*(uint16_t *)((char *)c + k->off) = (uint16_t)n;
		else
			*(uint32_t *)((char *)c + k->off) = (uint32_t)n;
		return 0;
	case CONF_T_LEVEL:
		lvl = log_level_parse(v);
		if (lvl < 0) {
			diag_add(
				d, file, line, col,
				"%s: expected err, warn, info or debug, got \"%s\"",
				k->name, v);
			return -EINVAL;
		}
		*(enum log_level *)((char *)c + k->off) = (enum log_level)lvl;
		return 0;
	case CONF_T_SIZE:
		rc = conf_parse_size(v, &n);
		if (rc == 0 && (n < k->min || n > k->max))
			rc = -ERANGE;
		if (rc == -ERANGE) {
			diag_add(d, file, line, col,
				 "%s: %s is out of range %lluK..%lluG", k->name,
				 v, k->min >> 10, k->max >> 30);
			return -EINVAL;
		}
		if (rc < 0) {
			diag_add(
				d, file, line, col,
				"%s: expected a size (bytes, or a number with K, M or G), got \"%s\"",
				k->name, v);
			return -EINVAL;
		}
		*(uint64_t *)((char *)c + k->off) = n;
		return 0;
	case CONF_T_FSYNC:
		if (strcmp(v, "record") == 0) {
			*(uint32_t *)((char *)c + k->off) = 0;
			return 0;
		}
		rc = conf_parse_ulong(v, &n);
		if (rc < 0 || n < k->min || n > k->max) {
			diag_add(
				d, file, line, col,
				"%s: expected \"record\" or milliseconds %llu..%llu, got \"%s\"",
				k->name, k->min, k->max, v);
			return -EINVAL;
		}
		*(uint32_t *)((char *)c + k->off) = (uint32_t)n;
		return 0;
	case CONF_T_FULL:
		if (strcmp(v, "overwrite-oldest") == 0) {
			c->audit_full = CONF_AUDIT_OVERWRITE_OLDEST;
		} else if (strcmp(v, "drop-new") == 0) {
			c->audit_full = CONF_AUDIT_DROP_NEW;
		} else {
			diag_add(
				d, file, line, col,
				"%s: expected overwrite-oldest or drop-new, got \"%s\"",
				k->name, v);
			return -EINVAL;
		}
		return 0;
	case CONF_T_FACILITY:
		lvl = conf_facility_parse(v);
		if (lvl < 0) {
			diag_add(
				d, file, line, col,
				"%s: expected a facility name (audit, authpriv, local0..local7, ...) or 0..23, got \"%s\"",
				k->name, v);
			return -EINVAL;
		}
		*(int *)((char *)c + k->off) = lvl;
		return 0;
	case CONF_T_HOST:
		if (!conf_host_ok(v, (size_t)k->max)) {
			diag_add(
				d, file, line, col,
				"%s: expected one word of printable ASCII (at most %llu), got \"%s\"",
				k->name, k->max, v);
			return -EINVAL;
		}
		s = strdup(v);
		if (s == NULL)
			return -ENOMEM;
		conf_set_str(c, k, s);
		return 0;
	case CONF_T_COLLECTOR:
		return conf_collector(c, v, file, line, col, d);
	case CONF_T_BOOL:
		if (strcmp(v, "yes") && strcmp(v, "no")) {
			diag_add(d, file, line, col,
				 "%s: expected yes or no, got \"%s\"", k->name,
				 v);
			return -EINVAL;
		}
		*(bool *)((char *)c + k->off) = strcmp(v, "yes") == 0;
		return 0;
	case CONF_T_LISTEN: {
		unsigned char a[16];

		if (inet_pton(AF_INET, v, a) != 1 &&
		    inet_pton(AF_INET6, v, a) != 1) {
			diag_add(
				d, file, line, col,
				"%s: expected an IPv4 or IPv6 address (the port is management-port), got \"%s\"",
				k->name, v);
			return -EINVAL;
		}
		if (c->n_mgmt_listen == CONF_MGMT_LISTEN_MAX) {
			diag_add(d, file, line, col, "%s: at most %d addresses",
				 k->name, CONF_MGMT_LISTEN_MAX);
			return -EINVAL;
		}
		s = strdup(v);
		if (s == NULL)
			return -ENOMEM;
		c->mgmt_listen_line[c->n_mgmt_listen] = line;
		c->mgmt_listen[c->n_mgmt_listen++] = s;
		return 0;
	}
	}
	return -EINVAL;
}

static int conf_line(struct conf *c, char *p, const char *file, int line,
		     int seen[N_KEYS], struct diag_list *d)
{
	const struct conf_key *k;
	char *start = p, *key, *val, *end;
	int kcol, vcol, rc;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	key = p;
	kcol = (int)(p - start) + 1;
	while (*p && *p != ' ' && *p != '\t')
		p++;
	if (*p)
		*p++ = '\0';
	while (*p == ' ' || *p == '\t')
		p++;
	val = p;
	vcol = (int)(p - start) + 1;
	/* A '#' after whitespace starts a comment; inside a value it does not. */
	for (end = val; *end; end++)
		if (*end == '#' && end > val &&
		    (end[-1] == ' ' || end[-1] == '\t')) {
			*end = '\0';
			break;
		}
	end = val + strlen(val);
	while (end > val && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';

	k = conf_key_find(key);
	if (k == NULL) {
		diag_add(d, file, line, kcol, "unknown key \"%s\"", key);
		return -EINVAL;
	}
	if (*val == '\0') {
		diag_add(d, file, line, kcol, "%s: missing value", key);
		return -EINVAL;
	}
	if (k->type != CONF_T_COLLECTOR && k->type != CONF_T_LISTEN &&
	    seen[k - conf_keys]) {
		diag_add(d, file, line, kcol,
			 "%s: duplicate key (first set on line %d)", key,
			 seen[k - conf_keys]);
		return -EINVAL;
	}
	seen[k - conf_keys] = line;
	rc = conf_apply(c, k, val, file, line, vcol, d);
	if (rc == 0 && k->off == OFF(management_zone))
		c->management_zone_line = line;
	if (rc == 0 && k->off == OFF(password_history))
		c->password_history_set = true;
	if (rc == 0 && k->off == OFF(lockout_time))
		c->lockout_time_set = true;
	if (rc == 0 && k->off == OFF(session_idle_lock))
		c->session_idle_lock_set = true;
	return rc;
}

int conf_load(struct conf *c, const char *path, struct diag_list *d)
{
	int seen[N_KEYS] = { 0 };
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;
	int line = 0, rc = 0, r;
	FILE *f;

	free(c->file);
	c->file = strdup(path);
	if (c->file == NULL)
		return -ENOMEM;
	f = fopen(path, "re");
	if (f == NULL) {
		rc = -errno;
		diag_add(d, path, 0, 0, "cannot open: %s", strerror(errno));
		return rc;
	}
	errno = 0;
	while ((n = getline(&buf, &cap, f)) >= 0) {
		size_t len = (size_t)n;

		line++;
		if (len > 0 && buf[len - 1] == '\n')
			buf[--len] = '\0';
		if (len > 0 && buf[len - 1] == '\r')
			buf[--len] = '\0';
		if (len > CONF_LINE_MAX) {
			diag_add(d, path, line, 0, "line longer than %d bytes",
				 CONF_LINE_MAX);
			rc = -EINVAL;
			continue;
		}
		if (memchr(buf, '\0', len) != NULL) {
			diag_add(d, path, line, 0, "NUL byte in line");
			rc = -EINVAL;
			continue;
		}
		r = conf_line(c, buf, path, line, seen, d);
		if (r == -ENOMEM) {
			rc = r;
			break;
		}
		if (r < 0)
			rc = -EINVAL;
	}
	if (c->audit_capacity < 2 * c->audit_segment_size) {
		size_t ki =
			(size_t)(conf_key_find("audit-capacity") - conf_keys);
		size_t si = (size_t)(conf_key_find("audit-segment-size") -
				     conf_keys);

		diag_add(
			d, path, seen[si] ? seen[si] : seen[ki], 0,
			"audit-capacity %llu is less than two segments of audit-segment-size %llu",
			(unsigned long long)c->audit_capacity,
			(unsigned long long)c->audit_segment_size);
		rc = rc == 0 ? -EINVAL : rc;
	}
	if (c->n_mgmt_listen > 0) {
		int l = c->mgmt_listen_line[0];

		if (c->management_port == 0) {
			diag_add(
				d, path, l, 0,
				"management-listen needs management-port (the port the kernel ruleset opens from the management zone)");
			rc = rc == 0 ? -EINVAL : rc;
		}
		if (c->mgmt_tls_cert == NULL || c->mgmt_tls_key == NULL) {
			diag_add(
				d, path, l, 0,
				"management-listen needs management-tls-cert and management-tls-key");
			rc = rc == 0 ? -EINVAL : rc;
		}
	}
	if (ferror(f) && rc == 0) {
		rc = errno ? -errno : -EIO;
		diag_add(d, path, 0, 0, "read error: %s", strerror(-rc));
	}
	free(buf);
	fclose(f);
	return rc;
}

const char *conf_audit_dir(const struct conf *c, char *buf, size_t len)
{
	if (c->audit_dir != NULL)
		snprintf(buf, len, "%s", c->audit_dir);
	else
		snprintf(buf, len, "%s/audit", c->state_dir);
	return buf;
}

static int conf_hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int conf_read_hmac_key(const char *path, uint8_t key[CONF_AUDIT_KEY_MAX],
		       size_t *len, char *err, size_t errlen)
{
	/* room for 128 hex digits + CR LF, and one more to see "too long" */
	unsigned char buf[2 * CONF_AUDIT_KEY_MAX + 3];
	size_t n = 0, hex = 0;
	bool is_hex = true;
	int fd, rc = 0;

	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "audit-hmac-key %s: %s", path,
			 strerror(errno));
		return rc;
	}
	while (n < sizeof(buf)) {
		ssize_t r = read(fd, buf + n, sizeof(buf) - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			snprintf(err, errlen, "audit-hmac-key %s: %s", path,
				 strerror(errno));
			close(fd);
			return rc;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	hex = n;
	if (hex > 0 && buf[hex - 1] == '\n')
		hex--;
	if (hex > 0 && buf[hex - 1] == '\r')
		hex--;
	for (size_t i = 0; i < hex; i++)
		if (conf_hexval(buf[i]) < 0)
			is_hex = false;
	if (is_hex && hex >= 2 * CONF_AUDIT_KEY_MIN &&
	    hex <= 2 * CONF_AUDIT_KEY_MAX && hex % 2 == 0) {
		for (size_t i = 0; i < hex / 2; i++)
			key[i] = (uint8_t)(conf_hexval(buf[2 * i]) << 4 |
					   conf_hexval(buf[2 * i + 1]));
		*len = hex / 2;
	} else if (!is_hex && n >= CONF_AUDIT_KEY_MIN &&
		   n <= CONF_AUDIT_KEY_MAX) {
		memcpy(key, buf, n);
		*len = n;
	} else {
		snprintf(
			err, errlen,
			"audit-hmac-key %s: expected %d..%d raw bytes or %d..%d hex digits, got %s%zu %s",
			path, CONF_AUDIT_KEY_MIN, CONF_AUDIT_KEY_MAX,
			2 * CONF_AUDIT_KEY_MIN, 2 * CONF_AUDIT_KEY_MAX,
			n == sizeof(buf) ? "more than " : "", is_hex ? hex : n,
			is_hex ? "hex digits" : "bytes");
		rc = -EINVAL;
	}
	memset(buf, 0, sizeof(buf));
	return rc;
}
