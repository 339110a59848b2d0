/*
 * conduitctl's session with conduitd: see client.h.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/client.h"
#include "ctl/prompt.h"
#include "mgmt/mgmt.h"

#define CTL_LOGOUT_TIMEOUT 5 /* s */

const char *ctl_prog = "conduitctl";
bool ctl_json;

void ctl_client_init(struct ctl_client *cl, const char *sock)
{
	memset(cl, 0, sizeof(*cl));
	cl->sock = sock;
	ctl_conn_init(&cl->conn);
}

bool ctl_client_remote(const struct ctl_client *cl)
{
	return cl->host != NULL;
}

static const char *resp_code(const json_t *resp)
{
	if (json_is_true(json_object_get(resp, "ok")))
		return NULL;
	return json_string_value(
		json_object_get(json_object_get(resp, "error"), "code"));
}

static void print_error(const json_t *error)
{
	if (ctl_json) {
		ctl_print_json(error);
		return;
	}
	fprintf(stderr, "%s: %s: %s\n", ctl_prog, ctl_jstr(error, "code", "?"),
		ctl_jstr(error, "message", ""));
	ctl_print_diag_json(json_object_get(error, "diagnostics"), stderr);
}

int ctl_client_secrets(const struct ctl_client *cl, char *pw, size_t pwlen,
		       char *totp, size_t totplen)
{
	char err[512];
	int rc;

	if (cl->password_file != NULL) {
		rc = ctl_secret_file(cl->password_file, pw, pwlen, totp,
				     totplen, err, sizeof(err));
		if (rc < 0) {
			fprintf(stderr, "%s: --password-file %s\n", ctl_prog,
				err);
			return CTL_EXIT_USAGE;
		}
		if (totp != NULL && totp[0] == '\0') {
			fprintf(stderr,
				"%s: --password-file %s: line 2: no TOTP code "
				"(this login needs one)\n",
				ctl_prog, cl->password_file);
			explicit_bzero(pw, pwlen);
			return CTL_EXIT_USAGE;
		}
		return 0;
	}
	rc = ctl_prompt_secret("Password: ", pw, pwlen);
	if (rc == 0 && totp != NULL)
		rc = ctl_prompt_secret("TOTP code: ", totp, totplen);
	if (rc < 0) {
		explicit_bzero(pw, pwlen);
		fprintf(stderr, "%s: cannot read the password: %s\n", ctl_prog,
			rc == -ENOTTY	 ? "no terminal (use --password-file)" :
			rc == -ECANCELED ? "end of input" :
			rc == -ENAMETOOLONG ? "too long" :
					      strerror(-rc));
		return CTL_EXIT_USAGE;
	}
	return 0;
}

/* Sends cmd with the user's secrets (auth.login or auth.unlock); returns
 * an exit code after printing why it failed. */
static int client_authenticate(struct ctl_client *cl, const char *cmd)
{
	char pw[CTL_SECRET_MAX], totp[64];
	bool need_totp = !cl->cert_auth;
	json_t *args, *resp;
	const char *code;
	int ec;

	ec = ctl_client_secrets(cl, pw, sizeof(pw), need_totp ? totp : NULL,
				sizeof(totp));
	if (ec != 0)
		return ec;
	args = json_pack("{s:s}", "password", pw);
	if (args != NULL && strcmp(cmd, "auth.login") == 0)
		json_object_set_new(args, "user", json_string(cl->user));
	if (args != NULL && need_totp)
		json_object_set_new(args, "totp", json_string(totp));
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(totp, sizeof(totp));
	if (args == NULL) {
		fprintf(stderr, "%s: out of memory\n", ctl_prog);
		return CTL_EXIT_REJECTED;
	}
	resp = ctl_conn_call(&cl->conn, cmd, args, CTL_REPLY_TIMEOUT);
	json_decref(args);
	if (resp == NULL) {
		fprintf(stderr, "%s: %s: %s\n", ctl_prog, cl->conn.name,
			cl->conn.err);
		return CTL_EXIT_UNREACHABLE;
	}
	code = resp_code(resp);
	if (code != NULL && strcmp(code, CTL_ERR_AUTH_FAILED) == 0) {
		fprintf(stderr, "%s: authentication failed\n", ctl_prog);
		ec = CTL_EXIT_AUTH;
	} else if (code != NULL) {
		print_error(json_object_get(resp, "error"));
		ec = CTL_EXIT_REJECTED;
	}
	json_decref(resp);
	return ec;
}

/* TLS, hello, banner, login. */
static int client_open_remote(struct ctl_client *cl)
{
	struct ctl_tls_opts o = {
		.host = cl->host,
		.port = cl->port,
		.ca = cl->ca,
		.cert = cl->cert,
		.key = cl->key,
		.server_name = cl->server_name,
	};
	const json_t *r, *auth;
	json_t *resp;
	const char *banner;
	int ec, rc;

	/* a peer that resets the connection must not kill us mid-write */
	signal(SIGPIPE, SIG_IGN);
	rc = ctl_conn_open_tls(&cl->conn, &o);
	if (rc < 0) {
		fprintf(stderr, "%s: %s: %s\n", ctl_prog, cl->conn.name,
			cl->conn.err);
		/* -EINVAL: our --ca, --cert or --key is unusable */
		return rc == -EINVAL ? CTL_EXIT_USAGE : CTL_EXIT_UNREACHABLE;
	}
	resp = ctl_conn_call(&cl->conn, "hello", NULL, CTL_CONNECT_TIMEOUT);
	if (resp == NULL) {
		fprintf(stderr, "%s: %s: hello: %s\n", ctl_prog, cl->conn.name,
			cl->conn.err);
		return CTL_EXIT_UNREACHABLE;
	}
	if (resp_code(resp) != NULL) {
		print_error(json_object_get(resp, "error"));
		json_decref(resp);
		return CTL_EXIT_REJECTED;
	}
	r = json_object_get(resp, "result");
	auth = json_object_get(r, "auth");
	/* CR 1.12: the notice comes before anything is asked */
	banner = ctl_jstr(r, "banner", "");
	if (banner[0] != '\0')
		fprintf(stderr, "%s%s", banner,
			banner[strlen(banner) - 1] == '\n' ? "" : "\n");
	fflush(stderr);
	cl->cert_auth = json_is_true(json_object_get(auth, "certificate"));
	if (json_is_false(json_object_get(auth, "required"))) {
		json_decref(resp);
		cl->logged_in = true;
		return 0;
	}
	json_decref(resp);
	ec = client_authenticate(cl, "auth.login");
	cl->logged_in = ec == 0;
	return ec;
}

int ctl_client_open(struct ctl_client *cl)
{
	/* Once only: a connection that broke is not silently replaced (a
	 * new session would need a new login). */
	if (cl->tried)
		return cl->open_ec		   ? cl->open_ec :
		       ctl_conn_is_open(&cl->conn) ? 0 :
						     CTL_EXIT_UNREACHABLE;
	cl->tried = true;
	if (ctl_client_remote(cl)) {
		cl->open_ec = client_open_remote(cl);
	} else if (ctl_conn_open_unix(&cl->conn, cl->sock) < 0) {
		fprintf(stderr, "%s: cannot reach conduitd at %s: %s\n",
			ctl_prog, cl->sock, cl->conn.err);
		cl->open_ec = CTL_EXIT_UNREACHABLE;
	}
	return cl->open_ec;
}

json_t *ctl_client_call(struct ctl_client *cl, const char *cmd,
			const json_t *args, unsigned timeout_s, int *ec)
{
	json_t *resp;
	const char *code;

	*ec = ctl_client_open(cl);
	if (*ec != 0)
		return NULL;
	resp = ctl_conn_call(&cl->conn, cmd, args, timeout_s);
	if (resp == NULL)
		goto unreachable;
	code = resp_code(resp);
	if (!ctl_client_remote(cl) || code == NULL ||
	    strcmp(code, CTL_ERR_SESSION_LOCKED) != 0)
		return resp;
	/* CR 2.5: the idle lock; the same user re-authenticates */
	json_decref(resp);
	fprintf(stderr, "session locked: re-authenticate\n");
	fflush(stderr);
	*ec = client_authenticate(cl, "auth.unlock");
	if (*ec != 0)
		return NULL;
	resp = ctl_conn_call(&cl->conn, cmd, args, timeout_s);
	if (resp != NULL)
		return resp;
unreachable:
	fprintf(stderr, "%s: %s: %s\n", ctl_prog, cl->conn.name, cl->conn.err);
	*ec = CTL_EXIT_UNREACHABLE;
	return NULL;
}

void ctl_client_close(struct ctl_client *cl)
{
	if (ctl_client_remote(cl) && cl->logged_in &&
	    ctl_conn_is_open(&cl->conn))
		json_decref(ctl_conn_call(&cl->conn, "auth.logout", NULL,
					  CTL_LOGOUT_TIMEOUT));
	ctl_conn_close(&cl->conn);
	cl->logged_in = false;
}

const json_t *ctl_run(struct ctl_client *cl, const char *cmd, json_t *args,
		      json_t **resp, int *ec)
{
	const json_t *result, *error;
	const char *why;
	uint64_t id;
	bool ok;

	*resp = ctl_client_call(cl, cmd, args, CTL_REPLY_TIMEOUT, ec);
	json_decref(args);
	if (*resp == NULL)
		return NULL;
	if (ctl_response_parse(*resp, &id, &ok, &result, &error, &why) < 0) {
		fprintf(stderr, "%s: bad reply: %s\n", ctl_prog, why);
		*ec = CTL_EXIT_UNREACHABLE;
		return NULL;
	}
	if (!ok) {
		/* CR 1.10: one message, whatever the daemon's reason */
		if (strcmp(ctl_jstr(error, "code", ""), CTL_ERR_AUTH_FAILED) ==
		    0) {
			fprintf(stderr, "%s: authentication failed\n",
				ctl_prog);
			*ec = CTL_EXIT_AUTH;
			return NULL;
		}
		print_error(error);
		*ec = CTL_EXIT_REJECTED;
		return NULL;
	}
	*ec = 0;
	return result;
}

/* --- output --------------------------------------------------------------- */

void ctl_print_json(const json_t *j)
{
	/* json_dumpf: no string to free (jansson's allocator is the wiping
	 * one of prompt.h, not malloc) */
	if (j != NULL &&
	    json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS) == 0)
		putchar('\n');
}

void ctl_print_diag_json(const json_t *diags, FILE *out)
{
	size_t i;
	json_t *d;

	json_array_foreach(diags, i, d)
	{
		const char *file = ctl_jstr(d, "file", "-");
		long long line = ctl_jint(d, "line");
		long long col = ctl_jint(d, "col");

		fprintf(out, "%s", file);
		if (line > 0)
			fprintf(out, ":%lld", line);
		if (line > 0 && col > 0)
			fprintf(out, ":%lld", col);
		fprintf(out, ": %s\n", ctl_jstr(d, "message", ""));
	}
}

const char *ctl_jstr(const json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : dflt;
}

long long ctl_jint(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

const char *ctl_fmt_time(long long t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL) {
		snprintf(buf, len, "never");
		return buf;
	}
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

const char *ctl_fmt_duration(long long s, char *buf, size_t len)
{
	if (s >= 86400)
		snprintf(buf, len, "%lldd %02lldh %02lldm %02llds", s / 86400,
			 s % 86400 / 3600, s % 3600 / 60, s % 60);
	else if (s >= 3600)
		snprintf(buf, len, "%lldh %02lldm %02llds", s / 3600,
			 s % 3600 / 60, s % 60);
	else if (s >= 60)
		snprintf(buf, len, "%lldm %02llds", s / 60, s % 60);
	else
		snprintf(buf, len, "%llds", s);
	return buf;
}
