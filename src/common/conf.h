/*
 * Daemon settings from conduitd.conf: one "key value" per line, '#'
 * comments. conf_load reports every error of a file (file:line:col) in one
 * run, like relayd's parse.y, so `conduitd -n` lists them all.
 */
#ifndef CONDUIT_COMMON_CONF_H
#define CONDUIT_COMMON_CONF_H

#include <stdbool.h>
#include <stddef.h>
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

/* management (FR1, FR2) */
/* A directory of its own: the daemon rewrites the store (tmp + rename)
 * after dropping root, and ProtectSystem=strict leaves only listed
 * directories writable. */
#define CONF_USERS_DIR_DEFAULT SYSCONFDIR "/conduitd/auth"
#define CONF_USERS_FILE_DEFAULT CONF_USERS_DIR_DEFAULT "/users"
#define CONF_MGMT_LISTEN_MAX 4

#define CONF_LINE_MAX 4096 /* longer lines are an error, not truncated */

/* audit (FR6) */
#define CONF_AUDIT_CAPACITY_DEFAULT (64ull << 20)
#define CONF_AUDIT_SEGMENT_DEFAULT (4ull << 20)
#define CONF_AUDIT_FSYNC_DEFAULT 100 /* ms; 0 = every record */
#define CONF_AUDIT_WARN_DEFAULT 80   /* percent */
#define CONF_AUDIT_PEN_DEFAULT 32473
#define CONF_AUDIT_FACILITY_DEFAULT 13 /* log audit */
#define CONF_AUDIT_HEALTH_DEFAULT 300  /* s; 0 = off */
#define CONF_AUDIT_COLLECTORS_MAX 8
#define CONF_AUDIT_NAME_MAX 32 /* collector names: [A-Za-z0-9_.-] */
#define CONF_AUDIT_KEY_MIN 32  /* raw HMAC key bytes */
#define CONF_AUDIT_KEY_MAX 64

enum conf_audit_full {
	CONF_AUDIT_OVERWRITE_OLDEST,
	CONF_AUDIT_DROP_NEW,
};

/* The values of transport.h's enum transport_proto, kept apart so that
 * common/ does not depend on audit/. */
enum conf_audit_proto {
	CONF_AUDIT_UDP,
	CONF_AUDIT_TCP,
	CONF_AUDIT_TLS,
};

/* One audit-collector line; strings owned by the conf. */
struct conf_collector {
	char *name;
	enum conf_audit_proto proto;
	char *host;
	char *port;
	char *ca;   /* tls: required */
	char *cert; /* tls: required unless no_client_cert */
	char *key;
	char *server_name; /* NULL: host */
	bool no_client_cert;
	uint32_t settle_ms;	 /* 0: the transport's default */
	uint32_t backoff_max_ms; /* 0: the transport's default */
	int line;		 /* of the line, for diagnostics */
};

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

	/* audit (FR6) */
	char *audit_dir;	 /* NULL: <state-dir>/audit (conf_audit_dir) */
	uint64_t audit_capacity; /* bytes of spool */
	uint64_t audit_segment_size; /* bytes per segment */
	uint32_t audit_fsync_ms;     /* 0: fdatasync every record */
	uint32_t audit_warn_pct;
	enum conf_audit_full audit_full;
	char *audit_hmac_key; /* key file; NULL: plain SHA-256 chain */
	uint32_t audit_pen;
	int audit_facility;		/* 0..23 */
	char *audit_hostname;		/* NULL: gethostname */
	char *audit_jsonl;		/* NULL: none */
	uint32_t audit_health_interval; /* s; 0 = off */
	unsigned n_collectors;
	struct conf_collector collectors[CONF_AUDIT_COLLECTORS_MAX];

	/* management (FR1, FR2): 0 means the module's default */
	char *users_file;
	uint32_t password_cost;
	uint32_t password_min_length;
	uint32_t password_min_classes;
	uint32_t password_history;
	bool password_history_set;  /* 0 is a valid value */
	char *password_common_file; /* NULL: built-in list */
	uint32_t lockout_failures;
	uint32_t lockout_window;
	uint32_t lockout_time; /* 0: until an admin unlocks */
	bool lockout_time_set;
	char *banner_file;	    /* NULL: built-in notice */
	uint32_t session_idle_lock; /* s; 0: off */
	bool session_idle_lock_set;
	uint32_t session_max;
	uint32_t session_max_per_user;
	bool approval_required;
	uint32_t approval_ttl;
	unsigned n_mgmt_listen;
	char *mgmt_listen[CONF_MGMT_LISTEN_MAX]; /* IP literals */
	int mgmt_listen_line[CONF_MGMT_LISTEN_MAX];
	char *mgmt_tls_cert;
	char *mgmt_tls_key;
	char *mgmt_tls_client_ca; /* NULL: no client certificates */
	uint32_t mgmt_max_clients;
	uint32_t mgmt_max_unauth;
	uint32_t mgmt_max_per_source;
	uint32_t mgmt_handshake_timeout;
	uint32_t mgmt_login_timeout;
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

/* The spool directory: audit-dir, else <state-dir>/audit. Returns buf. */
const char *conf_audit_dir(const struct conf *c, char *buf, size_t len);

/*
 * Reads an audit HMAC key file: 32..64 raw bytes, or 64..128 hex digits
 * (an even number, optionally followed by one newline). Returns 0 with
 * key/len set, or a negative errno with err naming the file and reason.
 */
int conf_read_hmac_key(const char *path, uint8_t key[CONF_AUDIT_KEY_MAX],
		       size_t *len, char *err, size_t errlen);

/* "audit" -> 13, "local3" -> 19, "7" -> 7; -1 when unknown. */
int conf_facility_parse(const char *s);

#endif
