/*
 * The audit event schema: every security-relevant thing conduitd does or
 * sees, listed once here (AUDIT_EVENTS), each with its RFC 5424 MSGID, its
 * syslog severity and the IEC 62443-4-2 requirement it evidences. An event
 * is a type, a time and a small set of typed-by-name parameters; audit.c
 * turns it into a chained RFC 5424 record. No I/O here.
 */
#ifndef CONDUIT_AUDIT_EVENT_H
#define CONDUIT_AUDIT_EVENT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* syslog severities (RFC 5424 table 2) */
enum audit_sev {
	AUDIT_SEV_EMERG = 0,
	AUDIT_SEV_ALERT,
	AUDIT_SEV_CRIT,
	AUDIT_SEV_ERR,
	AUDIT_SEV_WARNING,
	AUDIT_SEV_NOTICE,
	AUDIT_SEV_INFO,
	AUDIT_SEV_DEBUG,
};

/*  X(enum suffix, MSGID, severity, requirement, what it records) */
#define AUDIT_EVENTS(X)                                                       \
	X(DAEMON_START, "DAEMON_START", NOTICE, "CR 2.8", "conduitd started") \
	X(DAEMON_STOP, "DAEMON_STOP", NOTICE, "CR 2.8", "conduitd stopped")   \
	X(DAEMON_RECOVER, "DAEMON_RECOVER", WARNING, "CR 2.8",                \
	  "started after an unclean end (crash, kill -9, power loss)")        \
	X(POLICY_LOAD, "POLICY_LOAD", NOTICE, "CR 2.8",                       \
	  "policy loaded at start or reload")                                 \
	X(POLICY_APPLY, "POLICY_APPLY", NOTICE, "CR 2.8",                     \
	  "policy applied (sha256, change summary)")                          \
	X(POLICY_REJECT, "POLICY_REJECT", WARNING, "CR 3.5",                  \
	  "policy refused (file:line:col of the first error)")                \
	X(ISLAND_ON, "ISLAND_ON", WARNING, "NDR 5.2 RE(2)", "island mode on") \
	X(ISLAND_OFF, "ISLAND_OFF", NOTICE, "NDR 5.2 RE(2)",                  \
	  "island mode off")                                                  \
	X(FLOW_DENIED, "FLOW_DENIED", WARNING, "NDR 5.2",                     \
	  "denied packets of a flow, aggregated per interval")                \
	X(PROTO_VIOLATION, "PROTO_VIOLATION", WARNING, "NDR 5.2",             \
	  "protocol rule violation, aggregated per flow and interval")        \
	X(FAIL_OPEN, "FAIL_OPEN", WARNING, "NDR 5.2 RE(3)",                   \
	  "a conduit passes traffic uninspected when inspection is down")     \
	X(QUEUE_OVERLOAD, "QUEUE_OVERLOAD", ERR, "CR 7.1",                    \
	  "inspection queue drops (kernel or worker)")                        \
	X(WORKER_STALL, "WORKER_STALL", ERR, "NDR 5.2 RE(3)",                 \
	  "an inspection worker stopped reading its queue")                   \
	X(RESOURCE, "RESOURCE", WARNING, "CR 7.2",                            \
	  "a resource crossed its threshold (flow table, memory)")            \
	X(SPOOL_THRESHOLD, "SPOOL_THRESHOLD", WARNING, "CR 2.9",              \
	  "audit spool fill crossed the warning threshold")                   \
	X(SPOOL_FULL, "SPOOL_FULL", ERR, "CR 2.10",                           \
	  "audit spool full: overwrite-oldest or drop-new applied")           \
	X(AUDIT_LOSS, "AUDIT_LOSS", ERR, "CR 2.10",                           \
	  "audit records lost (overwritten, dropped, queue overflow)")        \
	X(SPOOL_FAILURE, "SPOOL_FAILURE", ERR, "CR 2.10",                     \
	  "audit spool write failed (disk full, I/O error)")                  \
	X(SPOOL_CORRUPT, "SPOOL_CORRUPT", ERR, "CR 3.9",                      \
	  "corrupt spool segment found at start and quarantined")             \
	X(COLLECTOR_DOWN, "COLLECTOR_DOWN", WARNING, "CR 2.8",                \
	  "connection to a collector lost or refused (reason)")               \
	X(COLLECTOR_UP, "COLLECTOR_UP", NOTICE, "CR 2.8",                     \
	  "connection to a collector (re-)established")                       \
	X(MGMT_LOGIN, "MGMT_LOGIN", NOTICE, "CR 1.1", "management login")     \
	X(MGMT_LOGOUT, "MGMT_LOGOUT", NOTICE, "CR 1.1", "management logout")  \
	X(MGMT_LOGIN_FAIL, "MGMT_LOGIN_FAIL", WARNING, "CR 1.11",             \
	  "failed management login")                                          \
	X(MGMT_LOCKOUT, "MGMT_LOCKOUT", WARNING, "CR 1.11",                   \
	  "account locked after failed logins")                               \
	X(MGMT_COMMAND, "MGMT_COMMAND", NOTICE, "CR 2.8",                     \
	  "a management command and its outcome")                             \
	X(MGMT_DENIED, "MGMT_DENIED", WARNING, "CR 2.1",                      \
	  "a management command refused (role, session state)")               \
	X(MGMT_SESSION, "MGMT_SESSION", NOTICE, "CR 2.5",                     \
	  "a management session locked, unlocked, killed or timed out")       \
	X(MGMT_USER, "MGMT_USER", NOTICE, "CR 1.3",                           \
	  "a user added, deleted, changed, locked or unlocked")               \
	X(MGMT_APPROVAL, "MGMT_APPROVAL", NOTICE, "CR 2.1 RE(4)",             \
	  "a policy change submitted, approved, withdrawn or expired")        \
	X(TIME_CHANGE, "TIME_CHANGE", WARNING, "CR 2.11",                     \
	  "the system clock was set (step detected)")                         \
	X(HEALTH, "HEALTH", INFO, "CR 6.2",                                   \
	  "periodic health: counters, drops, spool fill, policy hash")

enum audit_type {
#define AUDIT_X_ENUM(e, msgid, sev, req, what) AUDIT_##e,
	AUDIT_EVENTS(AUDIT_X_ENUM)
#undef AUDIT_X_ENUM
		AUDIT_TYPE_COUNT
};

struct audit_type_info {
	const char *msgid; /* RFC 5424 MSGID (<= 32 chars) */
	enum audit_sev severity;
	const char *req;  /* "CR 2.8" */
	const char *what; /* one line for docs and `audit tail` */
};

/* Never NULL for a valid type. */
const struct audit_type_info *audit_type_info(enum audit_type t);
/* MSGID -> type; -1 when unknown. */
int audit_type_by_msgid(const char *msgid);

#define AUDIT_EVENT_PARAMS 24 /* parameters per event */
#define AUDIT_EVENT_BUF 3072  /* bytes of names + values per event */
#define AUDIT_EVENT_MSG 256   /* the human-readable text */

/*
 * One event. Fixed size, no pointers to the outside: safe to copy into the
 * audit queue from any thread. Parameters keep their insertion order;
 * names are SD-NAMEs ([a-z0-9_-], <= 32), values UTF-8.
 */
struct audit_event {
	enum audit_type type;
	enum audit_sev severity; /* audit_event_init sets the type's default */
	int64_t time_us;	 /* CLOCK_REALTIME; 0 = "now" when emitted */
	unsigned nparams;
	uint16_t name_off[AUDIT_EVENT_PARAMS];
	uint16_t value_off[AUDIT_EVENT_PARAMS];
	uint16_t used; /* bytes of buf used */
	char buf[AUDIT_EVENT_BUF];
	char msg[AUDIT_EVENT_MSG];
	unsigned truncated; /* parameters or bytes that did not fit */
};

void audit_event_init(struct audit_event *ev, enum audit_type type);
/* Adds name=value; when the event is full the parameter is dropped and
 * counted in ->truncated (the record then says truncated="N"). */
void audit_event_add(struct audit_event *ev, const char *name,
		     const char *value);
void audit_event_addf(struct audit_event *ev, const char *name, const char *fmt,
		      ...) __attribute__((format(printf, 3, 4)));
void audit_event_add_u64(struct audit_event *ev, const char *name, uint64_t v);
void audit_event_msgf(struct audit_event *ev, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
const char *audit_event_name(const struct audit_event *ev, unsigned i);
const char *audit_event_value(const struct audit_event *ev, unsigned i);

#endif
