/*
 * conduitctl's session with conduitd: one connection (conn.h) to the
 * local control socket or to the remote TLS endpoint, opened on the first
 * call; for the remote one the hello, the banner (CR 1.12), the login and,
 * when the idle lock struck, the re-authentication (auth.unlock) and one
 * retry. Also the output helpers every command shares.
 */
#ifndef CONDUIT_CTL_CLIENT_H
#define CONDUIT_CTL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "ctl/conn.h"

/* Exit codes of conduitctl (documented in conduitctl(8)). */
#define CTL_EXIT_OK 0
#define CTL_EXIT_REJECTED 1
#define CTL_EXIT_USAGE 2
#define CTL_EXIT_UNREACHABLE 3
#define CTL_EXIT_AUTH 4

extern const char *ctl_prog; /* "conduitctl", for messages */
extern bool ctl_json;	     /* --json */

struct ctl_client {
	const char *sock; /* local control socket */
	/* remote (--remote): NULL host = local */
	const char *host, *port;
	const char *user, *ca, *cert, *key, *server_name;
	const char *password_file; /* NULL: ask on the terminal */
	struct ctl_conn conn;
	bool tried;	/* ctl_client_open ran */
	int open_ec;	/* its exit code */
	bool cert_auth; /* hello: the endpoint verified our certificate */
	bool logged_in;
};

void ctl_client_init(struct ctl_client *cl, const char *sock);
bool ctl_client_remote(const struct ctl_client *cl);
/* Connects (and logs in, remote) unless done; returns an exit code. */
int ctl_client_open(struct ctl_client *cl);
/*
 * One request (args borrowed, may be NULL); the response message (new
 * reference) or NULL with *ec set after printing why. A remote
 * session-locked answer triggers the re-authentication and one retry.
 */
json_t *ctl_client_call(struct ctl_client *cl, const char *cmd,
			const json_t *args, unsigned timeout_s, int *ec);
/* Logs out (remote) and closes. */
void ctl_client_close(struct ctl_client *cl);

/*
 * Runs one command (args stolen) and prints an error answer; returns the
 * result (borrowed from *resp, which the caller frees) or NULL with *ec
 * set (1 rejected, 3 unreachable, 4 authentication failed).
 */
const json_t *ctl_run(struct ctl_client *cl, const char *cmd, json_t *args,
		      json_t **resp, int *ec);

/*
 * The secrets of cl's user for a login or an unlock: from --password-file
 * (re-read each time) or asked on the terminal ("Password: ", and
 * "TOTP code: " when totp is not NULL). Returns an exit code (0 or
 * CTL_EXIT_USAGE after printing why).
 */
int ctl_client_secrets(const struct ctl_client *cl, char *pw, size_t pwlen,
		       char *totp, size_t totplen);

/* --- output --------------------------------------------------------------- */

void ctl_print_json(const json_t *j);
void ctl_print_diag_json(const json_t *diags, FILE *out);
const char *ctl_jstr(const json_t *o, const char *key, const char *dflt);
long long ctl_jint(const json_t *o, const char *key);
const char *ctl_fmt_time(long long t, char *buf, size_t len);
const char *ctl_fmt_duration(long long s, char *buf, size_t len);

#endif
