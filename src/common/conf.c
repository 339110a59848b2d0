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
#include <sys/types.h>

#include "common/diag.h"

enum conf_type {
	CONF_T_PATH, /* absolute, or relative to the conf file's directory */
	CONF_T_NAME, /* one word */
	CONF_T_USER, /* one word or "-" */
	CONF_T_U16,
	CONF_T_U32,
	CONF_T_LEVEL,
};

struct conf_key {
	const char *name;
	enum conf_type type;
	size_t off;	   /* offset of the field in struct conf */
	unsigned long min; /* numbers only */
	unsigned long max;
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
	if (!c->policy || !c->control_socket || !c->control_group ||
	    !c->state_dir || !c->pidfile || !c->user) {
		conf_free(c);
		return -ENOMEM;
	}
	return 0;
}

void conf_free(struct conf *c)
{
	free(c->file);
	free(c->policy);
	free(c->management_zone);
	free(c->control_socket);
	free(c->control_group);
	free(c->state_dir);
	free(c->pidfile);
	free(c->user);
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
static int conf_parse_ulong(const char *s, unsigned long *out)
{
	unsigned long v = 0;

	if (*s == '\0')
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (~0UL - 9) / 10)
			return -ERANGE;
		v = v * 10 + (unsigned long)(*s - '0');
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

/* Applies one key; returns 0 or -EINVAL/-ENOMEM after adding a diagnostic. */
static int conf_apply(struct conf *c, const struct conf_key *k, const char *v,
		      const char *file, int line, int col, struct diag_list *d)
{
	unsigned long n;
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
				 "%s: %s is out of range %lu..%lu", k->name, v,
				 k->min, k->max);
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
	if (seen[k - conf_keys]) {
		diag_add(d, file, line, kcol,
			 "%s: duplicate key (first set on line %d)", key,
			 seen[k - conf_keys]);
		return -EINVAL;
	}
	seen[k - conf_keys] = line;
	rc = conf_apply(c, k, val, file, line, vcol, d);
	if (rc == 0 && k->off == OFF(management_zone))
		c->management_zone_line = line;
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
	if (ferror(f) && rc == 0) {
		rc = errno ? -errno : -EIO;
		diag_add(d, path, 0, 0, "read error: %s", strerror(-rc));
	}
	free(buf);
	fclose(f);
	return rc;
}
