/*
 * Daemon settings from conduitd.conf: one "key value" per line, '#'
 * comments. conf_load reports every error of a file (file:line:col) in one
 * run, like relayd's parse.y, so `conduitd -n` lists them all.
 */
#ifndef CONDUIT_COMMON_CONF_H
#define CONDUIT_COMMON_CONF_H

#include <stdint.h>

#include "common/log.h"

struct diag_list;

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif
#ifndef RUNSTATEDIR
#define RUNSTATEDIR "/run"
#endif

#define CONF_PATH_DEFAULT SYSCONFDIR "/conduitd/conduitd.conf"
#define CONF_POLICY_DEFAULT SYSCONFDIR "/conduitd/policy.yaml"
#define CONF_CONTROL_SOCKET_DEFAULT RUNSTATEDIR "/conduitd/control.sock"
#define CONF_STATE_DIR_DEFAULT LOCALSTATEDIR "/lib/conduitd"
#define CONF_PIDFILE_DEFAULT RUNSTATEDIR "/conduitd/conduitd.pid"
#define CONF_CONTROL_GROUP_DEFAULT "conduitd"
#define CONF_USER_DEFAULT "conduitd"
#define CONF_NFLOG_GROUP_DEFAULT 7
#define CONF_LOG_RATE_DEFAULT 10
#define CONF_DENY_INTERVAL_DEFAULT 10
#define CONF_MGMT_PORT_DEFAULT 0
#define CONF_INSPECT_QUEUES_DEFAULT 0	 /* 0: online CPUs */
#define CONF_INSPECT_FLOWS_DEFAULT 65536 /* per worker */
#define CONF_WATCHDOG_STALL_DEFAULT 2000 /* ms */

#define CONF_LINE_MAX 4096 /* longer lines are an error, not truncated */

struct conf {
	char *file; /* the file read; NULL for defaults only */
	char *policy; /* absolute (relative values resolved against the conf dir) */
	char *management_zone; /* NULL: not configured */
	int management_zone_line; /* line of the key, for diagnostics; 0 if absent */
	uint16_t management_port; /* 0 = closed */
	uint16_t nflog_group;
	uint32_t log_rate; /* NFLOG'd packets per second per deny point */
	uint32_t deny_log_interval; /* seconds */
	uint16_t inspect_queues;    /* NFQUEUE workers; 0 = online CPUs */
	uint16_t queue_first;	    /* first queue number */
	uint32_t inspect_flows;	    /* flow table entries per worker */
	uint32_t watchdog_stall_ms; /* a worker silent this long is stalled */
	char *control_socket;
	char *control_group;
	char *state_dir;
	char *pidfile;
	enum log_level log_level;
	char *user; /* "-" = do not drop privileges */
};

/* Fills c with the defaults; strings are owned by c. Returns 0 or -ENOMEM. */
int conf_init(struct conf *c);
/*
 * Reads path over the defaults already in c (conf_init first). Returns 0,
 * -EINVAL when the file has errors (each appended to d with its location;
 * c then holds a mix and should be freed), or another negative errno when
 * the file cannot be read (also appended to d).
 */
int conf_load(struct conf *c, const char *path, struct diag_list *d);
void conf_free(struct conf *c);

/* True when privileges must not be dropped ("user -"). */
int conf_user_is_none(const struct conf *c);

#endif
