/*
 * The control commands: ONE table (name, argument spec, handler; later the
 * roles allowed) used by the Unix socket today and the TLS endpoint
 * later, and the daemon actions behind them (install a policy, reload,
 * island), which SIGHUP and start-up share with the commands.
 *
 * Request validation (cmd_check) is separate from execution and has no
 * side effects, so the fuzzer can drive it.
 */
#ifndef CONDUIT_MGMT_COMMANDS_H
#define CONDUIT_MGMT_COMMANDS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "common/conf.h"
#include "dpi/event.h"
#include "dpi/pkt.h"
#include "dpi/queue.h"
#include "dpi/verdict.h"
#include "nft/nft.h"
#include "policy/model.h"

struct audit;
struct diag_list;
struct mgmt;
struct sess;
struct srv_peer;
struct nflog_reader;

#define CMD_PROTOCOL_VERSION 1

/* Where the running policy came from. */
enum cmd_source {
	CMD_SOURCE_CONFIG, /* the conf's `policy` path (start-up, reload) */
	CMD_SOURCE_STATE,  /* state-dir/active-policy.yaml at start-up */
	CMD_SOURCE_APPLY,  /* a policy.apply */
};

#define CMD_VIOLATIONS_MAX 16

/* One violation as the main loop received it, copied: the policy its
 * conduit and zone pointers came from may be gone when `stats` shows it.
 * Empty strings stand for none. */
struct cmd_violation {
	time_t at; /* wall clock of its arrival in the main loop */
	enum dpi_event_kind kind;
	enum pol_action action;
	uint32_t count; /* occurrences the aggregated record stands for */
	int function;	/* -1 none */
	int line;	/* of the deciding rule, 0 none */
	char conduit[64], zone_from[64], zone_to[64];
	char proto[48];
	char rule[96];
	char src[PKT_ADDR_PORT_STRLEN], dst[PKT_ADDR_PORT_STRLEN];
	char detail[DPI_EVENT_DETAIL_MAX];
};

/* The last CMD_VIOLATIONS_MAX violations (a ring, main thread only). */
struct cmd_violations {
	struct cmd_violation v[CMD_VIOLATIONS_MAX];
	uint64_t records; /* received; the newest is v[(records-1) % MAX] */
	uint64_t total;	  /* occurrences: the sum of their counts */
};

/* The daemon state the commands act on; owned by conduitd.c. */
struct cmd_daemon {
	const struct conf *conf;
	struct nft_ctx *nft; /* NULL only in tests */
	struct nft_features features;
	struct nflog_reader *nflog; /* NULL when deny logging is off */
	/* inline inspection: NFQUEUE workers (NULL: not running yet or not
	 * available); queue_n > 0 makes the compiler queue inspected
	 * entries to queue_first .. queue_first + queue_n - 1 */
	struct queue_set *queues;
	uint16_t queue_first, queue_n;
	struct pol_policy *policy; /* running model; owned */
	char *policy_name;	   /* name shown in status; owned */
	enum cmd_source source;
	bool island;
	uint64_t generation; /* policies accepted as running */
	time_t started;	     /* wall clock */
	time_t last_apply;   /* wall clock; 0 = never */
	bool privileged;     /* still root (development) */
	const char *user;    /* the user we run as */
	/* filled by cmd_dpi_event when it is given the daemon as arg */
	struct cmd_violations violations;
	/* the audit pipeline (borrowed; NULL: no audit records, tests) */
	struct audit *audit;
	/* who asks for the current action, for audit records: "user alice
	 * (unix uid 0 pid 42)" during a control command, "SIGHUP",
	 * "startup"; "" = unknown */
	char actor[160];
	/* the management core (NULL in tests: no authentication) and, while
	 * a request is served, its session and connection */
	struct mgmt *mgmt;
	struct sess *sess;
	struct srv_peer *peer;
	bool approved; /* policy.approve runs policy.apply past the queue */
};

/* One argument of a command. */
enum cmd_arg_type {
	CMD_ARG_STRING,
	CMD_ARG_BOOL,
	CMD_ARG_INT, /* 0 .. 2^32-1 */
};

struct cmd_arg {
	const char *name;
	enum cmd_arg_type type;
	bool required;
	size_t max_len; /* strings; 0 = no limit beyond the frame */
};

/* Arguments never logged or audited: password, old, new, totp. */
bool cmd_arg_secret(const char *name);

#define CMD_MAX_ARGS 4

struct cmd_def {
	const char *name;
	json_t *(*handler)(struct cmd_daemon *d, const json_t *args,
			   uint64_t id);
	struct cmd_arg args[CMD_MAX_ARGS];
	const char *summary;
};

/* The table, terminated by a NULL name. */
extern const struct cmd_def cmd_table[];

const struct cmd_def *cmd_lookup(const char *name);

/*
 * Validates a request without side effects: shape, command name and its
 * arguments. Returns 0 with *def, *id and *args (borrowed, may be NULL);
 * or -EINVAL with *error set to a complete error response (new
 * reference).
 */
int cmd_check(const json_t *req, const struct cmd_def **def, uint64_t *id,
	      const json_t **args, json_t **error);

/* An error response with a formatted message (new reference). */
json_t *cmd_err(uint64_t id, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* policy.apply's handler (policy.approve calls it with d->approved). */
json_t *cmd_policy_apply(struct cmd_daemon *d, const json_t *args, uint64_t id);
/* The arguments of a request as audit text: "name=x role=y", secret ones
 * and policy content left out (content: its byte count). */
void cmd_args_audit(const struct cmd_def *c, const json_t *args, char *buf,
		    size_t len);

/* Validates and runs one request; returns the response (new reference). */
json_t *cmd_dispatch(struct cmd_daemon *d, const json_t *req,
		     const struct srv_peer *peer);

/* Policy checks that need the daemon configuration (management zone);
 * appends diagnostics, returns 0 or -EINVAL. */
int cmd_check_policy_conf(const struct conf *c, const struct pol_policy *p,
			  struct diag_list *dl);

/* nft_opts from the configuration and the island flag. */
void cmd_nft_opts(const struct cmd_daemon *d, bool island, struct nft_opts *o);

/*
 * Makes p (owned by the call from now on) the running policy: commits it
 * to the kernel unless island mode is on (then it waits for island off;
 * *deferred says so), persists content as state-dir/active-policy.yaml
 * when content is not NULL, or removes that file when clear_state is set.
 * On failure the running policy and kernel are unchanged, diagnostics are
 * in dl and a negative errno is returned. summary (may be NULL) receives
 * the diff against the previous policy as JSON (new reference).
 */
int cmd_install(struct cmd_daemon *d, struct pol_policy *p, const char *name,
		enum cmd_source src, const char *content, size_t content_len,
		bool clear_state, bool *deferred, json_t **summary,
		struct diag_list *dl);

/* SIGHUP and the `reload` command: re-reads the configured policy path.
 * Returns 0 or negative errno with diagnostics in dl. */
int cmd_reload(struct cmd_daemon *d, json_t **summary, bool *deferred,
	       struct diag_list *dl);

/* Island on/off with one atomic swap and the state file. */
int cmd_island(struct cmd_daemon *d, bool on, struct diag_list *dl);

/* nflog callback: writes the "deny ..." line through log_info; with arg =
 * the struct cmd_daemon, a deny also becomes a FLOW_DENIED audit record. */
struct deny_event;
void cmd_nflog_event(const struct deny_event *ev, void *arg);
/* One log line per (aggregated) protocol violation of the DPI path; with
 * arg = the struct cmd_daemon, the violation also goes into its ring of
 * the last ones and becomes a PROTO_VIOLATION audit record (arg NULL: only
 * the log line). */
void cmd_dpi_event(const struct dpi_event *ev, void *arg);

/*
 * Audit records of the policy life cycle (no-ops without d->audit).
 * POLICY_LOAD of p (named name, from src); POLICY_REJECT naming the first
 * diagnostic of dl (or rc's text); FAIL_OPEN for every conduit of p that
 * passes inspected traffic uninspected while no worker runs, with a
 * log_warnx each (start-up and every apply).
 */
void cmd_audit_policy_load(struct cmd_daemon *d, const struct pol_policy *p,
			   const char *name, enum cmd_source src);
void cmd_audit_policy_reject(struct cmd_daemon *d, const char *name,
			     enum cmd_source src, int rc,
			     const struct diag_list *dl);
void cmd_warn_fail_open(struct cmd_daemon *d, const struct pol_policy *p);
/* "config", "state", "apply". */
const char *cmd_source_name(enum cmd_source s);

/* The audit part of `status` and `stats`: spool and collectors (new
 * reference; JSON null without audit). */
json_t *cmd_audit_json(struct audit *a);

/*
 * What `stats` (and the inspection part of `status` and `policy.show`)
 * report: a snapshot of the workers' counters, read by cmd_stats_read or
 * made up by tests. The daemon's ring of violations is read at output.
 */
struct cmd_stats_snap {
	size_t n_workers;
	struct queue_worker_stats *workers; /* n_workers, owned */
	/* by index of d->policy->conduits, owned; NULL: no policy */
	struct verdict_counts *conduits;
	uint64_t now_us; /* CLOCK_MONOTONIC when read (worker idle times) */
};

/* 0, or -ENOMEM (nothing to free then). Without workers: zero counters. */
int cmd_stats_read(const struct cmd_daemon *d, struct cmd_stats_snap *s);
void cmd_stats_snap_free(struct cmd_stats_snap *s);
/* The `stats` result (new reference, NULL out of memory). */
json_t *cmd_stats_json(const struct cmd_daemon *d,
		       const struct cmd_stats_snap *s);

/* Paths under state-dir; return buf. */
const char *cmd_state_path(const struct conf *c, const char *leaf, char *buf,
			   size_t len);
#define CMD_STATE_POLICY "active-policy.yaml"
#define CMD_STATE_ISLAND "island"

/* Writes data to path atomically (tmp + fsync + rename + dir fsync). */
int cmd_write_atomic(const char *path, const void *data, size_t len);

/* The lowercase hex sha256 of p into buf (65 bytes). */
const char *cmd_sha256_hex(const struct pol_policy *p, char *buf, size_t len);

#endif
