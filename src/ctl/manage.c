/*
 * conduitctl's management commands: see manage.h. Online, each verb is
 * one request of mgmt.h's protocol; --offline (root only) edits the users
 * file through auth.h with the password policy and cost of conduitd.conf,
 * for the first admin and for recovery when no admin can log in.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/diag.h"
#include "ctl/client.h"
#include "ctl/manage.h"
#include "ctl/prompt.h"
#include "mgmt/auth.h"

extern char **environ;

/* --- small helpers --------------------------------------------------------- */

static int usage_err(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static int usage_err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", ctl_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see conduitctl --help)\n");
	return CTL_EXIT_USAGE;
}

/* "12" -> 12 (1..UINT32_MAX); 0 when not a number. */
static unsigned long parse_id(const char *s)
{
	char *end;
	unsigned long v;

	if (s[0] < '0' || s[0] > '9')
		return 0;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end || errno || v > UINT32_MAX)
		return 0;
	return v;
}

/* Runs cmd and prints the result with print (or as JSON). */
static int run_print(struct ctl_client *cl, const char *cmd, json_t *args,
		     void (*print)(const json_t *))
{
	json_t *resp = NULL;
	const json_t *r;
	int ec;

	r = ctl_run(cl, cmd, args, &resp, &ec);
	if (r != NULL) {
		if (ctl_json)
			ctl_print_json(r);
		else
			print(r);
	}
	json_decref(resp);
	return ec;
}

/*
 * A new password: from file (the subcommand's --password-file, line 1),
 * else asked twice on the terminal. Returns an exit code.
 */
static int new_password(const char *file, const char *who, char *pw, size_t len)
{
	char again[CTL_SECRET_MAX], err[512], prompt[96];
	int rc;

	if (file != NULL) {
		rc = ctl_secret_file(file, pw, len, NULL, 0, err, sizeof(err));
		if (rc < 0) {
			fprintf(stderr, "%s: --password-file %s\n", ctl_prog,
				err);
			return CTL_EXIT_USAGE;
		}
		return 0;
	}
	snprintf(prompt, sizeof(prompt), "New password for %s: ", who);
	rc = ctl_prompt_secret(prompt, pw, len);
	if (rc == 0)
		rc = ctl_prompt_secret("Retype the new password: ", again,
				       sizeof(again));
	if (rc < 0) {
		explicit_bzero(pw, len);
		fprintf(stderr, "%s: cannot read the new password: %s\n",
			ctl_prog,
			rc == -ENOTTY ? "no terminal (use --password-file)" :
					strerror(-rc));
		return CTL_EXIT_USAGE;
	}
	rc = strcmp(pw, again);
	explicit_bzero(again, sizeof(again));
	if (rc != 0) {
		explicit_bzero(pw, len);
		fprintf(stderr, "%s: the two passwords differ\n", ctl_prog);
		return CTL_EXIT_REJECTED;
	}
	return 0;
}

/* Options after the words of a user verb. */
struct user_args {
	const char *name;
	const char *role;
	const char *unix_user;
	const char *password_file;
	bool no_password;
	bool offline;
};

static int user_parse(int nargs, char **a, bool want_name, struct user_args *u)
{
	memset(u, 0, sizeof(*u));
	for (int i = 2; i < nargs; i++) {
		const char *o = a[i];
		bool has_val = i + 1 < nargs;

		if (strcmp(o, "--offline") == 0) {
			u->offline = true;
		} else if (strcmp(o, "--no-password") == 0) {
			u->no_password = true;
		} else if (strcmp(o, "--role") == 0 && has_val) {
			u->role = a[++i];
		} else if (strcmp(o, "--unix") == 0 && has_val) {
			u->unix_user = a[++i];
		} else if (strcmp(o, "--password-file") == 0 && has_val) {
			u->password_file = a[++i];
		} else if (o[0] == '-' || !want_name || u->name != NULL) {
			return usage_err("user %s: unexpected argument", o);
		} else {
			u->name = o;
		}
	}
	if (want_name && u->name == NULL)
		return usage_err("user %s: NAME missing", a[1]);
	if (u->name != NULL && !auth_name_ok(u->name))
		return usage_err("user: \"%s\" is not a valid user name "
				 "([a-z_][a-z0-9_.-]{0,31})",
				 u->name);
	if (u->role != NULL && auth_role_parse(u->role) < 0)
		return usage_err("user: --role %s: expected viewer, operator, "
				 "engineer, auditor or admin",
				 u->role);
	if (u->unix_user != NULL && !auth_name_ok(u->unix_user))
		return usage_err("user: --unix %s: not a valid user name",
				 u->unix_user);
	return 0;
}

/* --- output ------------------------------------------------------------------ */

static const char *locked_text(const json_t *u, char *buf, size_t len)
{
	long long until = ctl_jint(u, "locked_until");
	char t[40];

	if (!json_is_true(json_object_get(u, "locked")))
		return "no";
	if (until <= 0)
		return "yes";
	if (until >= (long long)1 << 62)
		return "until unlocked";
	snprintf(buf, len, "until %s", ctl_fmt_time(until, t, sizeof(t)));
	return buf;
}

static void print_user_list(const json_t *r)
{
	const json_t *users = json_object_get(r, "users");
	int wn = 4, wu = 4;
	size_t i;
	json_t *u;

	json_array_foreach(users, i, u)
	{
		int ln = (int)strlen(ctl_jstr(u, "name", ""));
		int lu = (int)strlen(ctl_jstr(u, "unix", ""));

		wn = ln > wn ? ln : wn;
		wu = lu > wu ? lu : wu;
	}
	printf("%-*s  %-8s  %-8s  %-*s  %-4s  %s\n", wn, "NAME", "ROLE",
	       "STATE", wu, "UNIX", "TOTP", "LOCKED");
	json_array_foreach(users, i, u)
	{
		const char *ux = ctl_jstr(u, "unix", "");
		char lb[64];

		printf("%-*s  %-8s  %-8s  %-*s  %-4s  %s\n", wn,
		       ctl_jstr(u, "name", "?"), ctl_jstr(u, "role", "?"),
		       ctl_jstr(u, "state", "?"), wu, ux[0] ? ux : "-",
		       json_is_true(json_object_get(u, "totp")) ? "yes" : "no",
		       locked_text(u, lb, sizeof(lb)));
	}
}

static void print_session_list(const json_t *r)
{
	const json_t *ss = json_object_get(r, "sessions");
	int wu = 4, ws = 6;
	size_t i;
	json_t *s;

	json_array_foreach(ss, i, s)
	{
		int lu = (int)strlen(ctl_jstr(s, "user", ""));
		int ls = (int)strlen(ctl_jstr(s, "source", ""));

		wu = lu > wu ? lu : wu;
		ws = ls > ws ? ls : ws;
	}
	printf("  %-5s  %-*s  %-8s  %-15s  %-20s  %-7s  %-*s  %s\n", "ID", wu,
	       "USER", "ROLE", "STATE", "METHOD", "CHANNEL", ws, "SOURCE",
	       "IDLE");
	json_array_foreach(ss, i, s)
	{
		const char *user = ctl_jstr(s, "user", "");
		char idle[48];

		printf("%c %-5lld  %-*s  %-8s  %-15s  %-20s  %-7s  %-*s  %s\n",
		       json_is_true(json_object_get(s, "current")) ? '*' : ' ',
		       ctl_jint(s, "id"), wu, user[0] ? user : "-",
		       ctl_jstr(s, "role", "-"), ctl_jstr(s, "state", "?"),
		       ctl_jstr(s, "method", "?"), ctl_jstr(s, "channel", "?"),
		       ws, ctl_jstr(s, "source", "-"),
		       ctl_fmt_duration(ctl_jint(s, "idle"), idle,
					sizeof(idle)));
	}
}

/* "zones +1 -0 ~2, conduits +0 -1 ~0" from a diff object. */
static void print_diff_summary(const json_t *diff, const char *indent)
{
	static const char *const kinds[] = { "zones", "conduits" };
	const char *text = ctl_jstr(diff, "text", "");

	if (!json_is_object(diff)) {
		printf("%s(no diff)\n", indent);
		return;
	}
	printf("%s", indent);
	for (size_t k = 0; k < 2; k++) {
		const json_t *o = json_object_get(diff, kinds[k]);

		printf("%s%s +%zu -%zu ~%zu", k ? ", " : "", kinds[k],
		       json_array_size(json_object_get(o, "added")),
		       json_array_size(json_object_get(o, "removed")),
		       json_array_size(json_object_get(o, "changed")));
	}
	printf("\n");
	/* the text form, indented */
	while (*text) {
		const char *nl = strchr(text, '\n');
		int l = nl ? (int)(nl - text) : (int)strlen(text);

		printf("%s  %.*s\n", indent, l, text);
		text += l + (nl != NULL);
	}
}

static void print_pending_one(const json_t *p, bool header)
{
	char t[40];

	if (header)
		printf("%-5s  %-12s  %-20s  %-12s  %s\n", "ID", "AUTHOR",
		       "EXPIRES", "SHA256", "NAME");
	printf("%-5lld  %-12s  %-20s  %-12.12s  %s\n", ctl_jint(p, "id"),
	       ctl_jstr(p, "author", "?"),
	       ctl_fmt_time(ctl_jint(p, "expires"), t, sizeof(t)),
	       ctl_jstr(p, "sha256", "-"), ctl_jstr(p, "name", "-"));
	print_diff_summary(json_object_get(p, "diff"), "    ");
}

static void print_pending_list(const json_t *r)
{
	const json_t *v = json_object_get(r, "pending");
	size_t i;
	json_t *p;

	if (json_array_size(v) == 0) {
		printf("no pending changes\n");
		return;
	}
	json_array_foreach(v, i, p) print_pending_one(p, i == 0);
}

void ctl_print_install(const char *what, const json_t *r)
{
	const json_t *p = json_object_get(r, "pending");
	const json_t *diff = json_object_get(r, "diff");
	char t[40];

	if (json_is_object(p)) {
		printf("pending approval: id %lld (expires %s)\n",
		       ctl_jint(p, "id"),
		       ctl_fmt_time(ctl_jint(p, "expires"), t, sizeof(t)));
		return;
	}
	if (json_is_true(json_object_get(r, "deferred")))
		printf("%s: %s stored (generation %lld, %lld zones, %lld "
		       "conduits): %s\n",
		       what, ctl_jstr(r, "file", "-"),
		       ctl_jint(r, "generation"), ctl_jint(r, "zones"),
		       ctl_jint(r, "conduits"), ctl_jstr(r, "message", ""));
	else
		printf("%s: %s applied (generation %lld, %lld zones, %lld "
		       "conduits)\n",
		       what, ctl_jstr(r, "file", "-"),
		       ctl_jint(r, "generation"), ctl_jint(r, "zones"),
		       ctl_jint(r, "conduits"));
	if (json_is_object(diff))
		fputs(ctl_jstr(diff, "text", ""), stdout);
}

static void print_name_done(const json_t *r, const char *what)
{
	printf("user %s %s\n", ctl_jstr(r, "name", "?"), what);
}

static void print_added(const json_t *r)
{
	print_name_done(r, "added");
}

static void print_ok(const json_t *r)
{
	(void)r;
	printf("ok\n");
}

static void print_session_killed(const json_t *r)
{
	printf("session %lld of %s killed\n", ctl_jint(r, "id"),
	       ctl_jstr(r, "user", "?"));
}

static void print_withdrawn(const json_t *r)
{
	printf("pending change %lld withdrawn\n", ctl_jint(r, "id"));
}

/* qrencode on PATH? */
static bool have_qrencode(char *path, size_t len)
{
	const char *p = getenv("PATH");

	while (p != NULL && *p) {
		const char *colon = strchr(p, ':');
		int l = colon ? (int)(colon - p) : (int)strlen(p);

		if (l > 0) {
			snprintf(path, len, "%.*s/qrencode", l, p);
			if (access(path, X_OK) == 0)
				return true;
		}
		p = colon ? colon + 1 : NULL;
	}
	return false;
}

static void print_totp(const json_t *r)
{
	const char *uri = ctl_jstr(r, "uri", "");
	char qr[PATH_MAX];

	printf("user:   %s\nsecret: %s\nuri:    %s\n", ctl_jstr(r, "name", "?"),
	       ctl_jstr(r, "secret", "?"), uri);
	if (uri[0] && have_qrencode(qr, sizeof(qr))) {
		char *argv[] = { qr, "-t", "ANSIUTF8", (char *)uri, NULL };
		pid_t pid;
		int st;

		fflush(stdout);
		if (posix_spawn(&pid, qr, NULL, NULL, argv, environ) == 0)
			while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
				;
	}
	printf("enter the secret or scan the code in the authenticator app; "
	       "the next login needs a code\n");
}

/* --- offline (root, no daemon) ------------------------------------------------ */

struct offline {
	struct conf conf;
	struct auth_store st;
	struct auth_pw_policy pw;
	unsigned cost;
	const char *path;
	uid_t owner; /* the daemon's user, (uid_t)-1 when none */
	gid_t group;
};

static int offline_open(struct offline *o, const char *conf_path)
{
	struct diag_list dl;
	struct passwd *pw;
	int rc;

	memset(o, 0, sizeof(*o));
	o->owner = (uid_t)-1;
	if (geteuid() != 0) {
		fprintf(stderr,
			"%s: --offline edits the users file directly: run it "
			"as root\n",
			ctl_prog);
		return CTL_EXIT_REJECTED;
	}
	if (conf_init(&o->conf) < 0) {
		fprintf(stderr, "%s: out of memory\n", ctl_prog);
		return CTL_EXIT_REJECTED;
	}
	if (conf_path == NULL && access(CONF_PATH_DEFAULT, R_OK) == 0)
		conf_path = CONF_PATH_DEFAULT;
	diag_list_init(&dl);
	if (conf_path != NULL && conf_load(&o->conf, conf_path, &dl) < 0) {
		diag_print(&dl, stderr);
		diag_list_free(&dl);
		return CTL_EXIT_USAGE;
	}
	o->path = o->conf.users_file ? o->conf.users_file :
				       CONF_USERS_FILE_DEFAULT;
	auth_pw_policy_default(&o->pw);
	if (o->conf.password_min_length)
		o->pw.min_len = o->conf.password_min_length;
	if (o->conf.password_min_classes)
		o->pw.min_classes = o->conf.password_min_classes;
	if (o->conf.password_history_set)
		o->pw.history = o->conf.password_history;
	o->pw.common_file = o->conf.password_common_file;
	o->cost = o->conf.password_cost ? o->conf.password_cost :
					  AUTH_COST_DEFAULT;
	if (!conf_user_is_none(&o->conf) &&
	    (pw = getpwnam(o->conf.user)) != NULL) {
		o->owner = pw->pw_uid;
		o->group = pw->pw_gid;
	}
	/* a file the daemon's user owns (so that it can rewrite it) is as
	 * acceptable as one root owns */
	rc = auth_store_load_owner(
		o->path, o->owner != (uid_t)-1 ? o->owner : 0, &o->st, &dl);
	if (rc < 0) {
		if (dl.n == 0)
			fprintf(stderr, "%s: %s: %s\n", ctl_prog, o->path,
				strerror(-rc));
		diag_print(&dl, stderr);
		diag_list_free(&dl);
		return CTL_EXIT_REJECTED;
	}
	diag_list_free(&dl);
	return 0;
}

static void offline_free(struct offline *o)
{
	auth_store_free(&o->st);
	conf_free(&o->conf);
}

/* Saves the store (0600), owned by the daemon's user when it exists. */
static int offline_save(struct offline *o)
{
	char dir[PATH_MAX];
	char *slash;
	int rc;

	snprintf(dir, sizeof(dir), "%s", o->path);
	slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			fprintf(stderr, "%s: %s: %s\n", ctl_prog, dir,
				strerror(errno));
			return CTL_EXIT_REJECTED;
		}
	}
	rc = auth_store_save(o->path, &o->st);
	if (rc < 0) {
		fprintf(stderr, "%s: %s: cannot write: %s\n", ctl_prog, o->path,
			strerror(-rc));
		return CTL_EXIT_REJECTED;
	}
	if (o->owner != (uid_t)-1 && chown(o->path, o->owner, o->group) < 0) {
		fprintf(stderr, "%s: %s: chown to %s: %s\n", ctl_prog, o->path,
			o->conf.user, strerror(errno));
		return CTL_EXIT_REJECTED;
	}
	fprintf(stderr,
		"%s: %s written; a running conduitd re-reads it on SIGHUP\n",
		ctl_prog, o->path);
	return 0;
}

static void offline_list(struct offline *o)
{
	json_t *r = json_pack("{s:[]}", "users");

	for (size_t i = 0; r != NULL && i < o->st.n; i++) {
		const struct auth_user *u = &o->st.v[i];

		json_array_append_new(
			json_object_get(r, "users"),
			json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "name",
				  u->name, "role", auth_role_name(u->role),
				  "state",
				  u->state == AUTH_STATE_ACTIVE ? "active" :
								  "disabled",
				  "unix", u->unix_user, "totp",
				  u->totp[0] != '\0', "locked", 0));
	}
	if (ctl_json)
		ctl_print_json(r);
	else
		print_user_list(r);
	json_decref(r);
}

static int offline_set_password(struct offline *o, struct auth_user *u,
				const char *file)
{
	char pw[CTL_SECRET_MAX];
	const char *why = NULL;
	int ec, rc;

	ec = new_password(file, u->name, pw, sizeof(pw));
	if (ec != 0)
		return ec;
	rc = auth_set_password(&o->pw, u, pw, o->cost, &why);
	explicit_bzero(pw, sizeof(pw));
	if (rc < 0) {
		fprintf(stderr, "%s: password for %s rejected: %s\n", ctl_prog,
			u->name, why ? why : strerror(-rc));
		return CTL_EXIT_REJECTED;
	}
	return 0;
}

static int offline_main(const char *verb, const struct user_args *ua,
			const char *conf_path)
{
	struct offline o;
	struct auth_user *u = NULL, nu;
	int ec, rc;

	ec = offline_open(&o, conf_path);
	if (ec != 0) {
		offline_free(&o);
		return ec;
	}
	if (strcmp(verb, "list") == 0) {
		offline_list(&o);
		offline_free(&o);
		return 0;
	}
	if (strcmp(verb, "add") != 0) {
		u = auth_store_find(&o.st, ua->name);
		if (u == NULL) {
			fprintf(stderr, "%s: %s: no user %s\n", ctl_prog,
				o.path, ua->name);
			offline_free(&o);
			return CTL_EXIT_REJECTED;
		}
	}
	if (strcmp(verb, "add") == 0) {
		memset(&nu, 0, sizeof(nu));
		snprintf(nu.name, sizeof(nu.name), "%s", ua->name);
		nu.role = (enum auth_role)auth_role_parse(ua->role);
		nu.state = AUTH_STATE_ACTIVE;
		if (ua->unix_user != NULL)
			snprintf(nu.unix_user, sizeof(nu.unix_user), "%s",
				 ua->unix_user);
		if (ua->unix_user != NULL && getpwnam(ua->unix_user) == NULL)
			fprintf(stderr,
				"%s: warning: no Unix account %s on this "
				"system\n",
				ctl_prog, ua->unix_user);
		strcpy(nu.hash, "!");
		ec = ua->no_password ?
			     0 :
			     offline_set_password(&o, &nu, ua->password_file);
		if (ec == 0) {
			rc = auth_store_add(&o.st, &nu);
			if (rc < 0) {
				fprintf(stderr, "%s: user %s: %s\n", ctl_prog,
					nu.name,
					rc == -EEXIST ?
						"exists already (or its Unix "
						"user is mapped to another)" :
						strerror(-rc));
				ec = CTL_EXIT_REJECTED;
			}
		}
		explicit_bzero(&nu, sizeof(nu));
	} else if (strcmp(verb, "del") == 0) {
		ec = auth_store_del(&o.st, ua->name) < 0 ? CTL_EXIT_REJECTED :
							   0;
	} else if (strcmp(verb, "passwd") == 0) {
		ec = offline_set_password(&o, u, ua->password_file);
	} else if (strcmp(verb, "lock") == 0) {
		u->state = AUTH_STATE_DISABLED;
	} else { /* unlock */
		u->state = AUTH_STATE_ACTIVE;
	}
	if (ec == 0)
		ec = offline_save(&o);
	if (ec == 0)
		printf("user %s: %s done\n", ua->name, verb);
	offline_free(&o);
	return ec;
}

/* --- user -------------------------------------------------------------------- */

int ctl_user_main(struct ctl_client *cl, int nargs, char **a,
		  const char *conf_path)
{
	static const char *const offline_verbs[] = { "add",  "del",    "passwd",
						     "lock", "unlock", "list",
						     NULL };
	struct user_args ua;
	const char *verb = nargs >= 2 ? a[1] : "";
	bool list = strcmp(verb, "list") == 0;
	json_t *args;
	int ec;

	if (nargs < 2)
		return usage_err("user: a verb is missing");
	ec = user_parse(nargs, a, !list, &ua);
	if (ec != 0)
		return ec;
	if ((ua.role || ua.unix_user || ua.no_password || ua.password_file) &&
	    strcmp(verb, "add") != 0 &&
	    (strcmp(verb, "passwd") != 0 || ua.role || ua.unix_user ||
	     ua.no_password))
		return usage_err("user %s: unexpected option", verb);
	/* a new password from the subcommand's file, or locally from the
	 * global one (remotely that one holds the login's secrets) */
	if (ua.password_file == NULL && !ctl_client_remote(cl))
		ua.password_file = cl->password_file;
	if (ua.offline) {
		bool ok = false;

		for (size_t i = 0; offline_verbs[i]; i++)
			ok |= strcmp(verb, offline_verbs[i]) == 0;
		if (!ok)
			return usage_err("user %s: not available --offline",
					 verb);
		if (ctl_client_remote(cl))
			return usage_err("user %s: --offline and --remote "
					 "exclude each other",
					 verb);
		if (strcmp(verb, "add") == 0 && ua.role == NULL)
			return usage_err("user add %s: --role missing",
					 ua.name);
		return offline_main(verb, &ua, conf_path);
	}
	if (list)
		return run_print(cl, "user.list", NULL, print_user_list);
	if (strcmp(verb, "add") == 0) {
		char pw[CTL_SECRET_MAX] = "";

		if (ua.role == NULL)
			return usage_err("user add %s: --role missing",
					 ua.name);
		/* the banner and the login come before any other prompt */
		ec = ctl_client_open(cl);
		if (ec != 0)
			return ec;
		if (!ua.no_password) {
			ec = new_password(ua.password_file, ua.name, pw,
					  sizeof(pw));
			if (ec != 0)
				return ec;
		}
		/* absent members, not JSON null, for what is not given */
		args = json_pack("{s:s, s:s}", "name", ua.name, "role",
				 ua.role);
		if (args != NULL && ua.unix_user != NULL)
			json_object_set_new(args, "unix",
					    json_string(ua.unix_user));
		if (args != NULL && pw[0] != '\0')
			json_object_set_new(args, "password", json_string(pw));
		explicit_bzero(pw, sizeof(pw));
		return run_print(cl, "user.add", args, print_added);
	}
	if (strcmp(verb, "passwd") == 0) {
		char pw[CTL_SECRET_MAX];

		ec = ctl_client_open(cl);
		if (ec != 0)
			return ec;
		ec = new_password(ua.password_file, ua.name, pw, sizeof(pw));
		if (ec != 0)
			return ec;
		args = json_pack("{s:s, s:s}", "name", ua.name, "password", pw);
		explicit_bzero(pw, sizeof(pw));
		return run_print(cl, "user.passwd", args, print_ok);
	}
	args = json_pack("{s:s}", "name", ua.name);
	if (strcmp(verb, "del") == 0)
		return run_print(cl, "user.del", args, print_ok);
	if (strcmp(verb, "lock") == 0)
		return run_print(cl, "user.lock", args, print_ok);
	if (strcmp(verb, "unlock") == 0)
		return run_print(cl, "user.unlock", args, print_ok);
	if (strcmp(verb, "totp-enroll") == 0)
		return run_print(cl, "user.totp-enroll", args, print_totp);
	json_decref(args);
	return usage_err("user %s: unknown verb", verb);
}

/* passwd [--password-file FILE]: the own password; FILE line 1 the old,
 * line 2 the new one. */
int ctl_passwd_main(struct ctl_client *cl, int nargs, char **a)
{
	char old[CTL_SECRET_MAX], pw[CTL_SECRET_MAX], err[512];
	json_t *args;
	int ec = 0, rc;

	if (nargs == 3 && strcmp(a[1], "--password-file") == 0) {
		rc = ctl_secret_file(a[2], old, sizeof(old), pw, sizeof(pw),
				     err, sizeof(err));
		if (rc == 0 && pw[0] == '\0') {
			snprintf(err, sizeof(err),
				 "%s: line 2: the new password is missing",
				 a[2]);
			rc = -EINVAL;
		}
		if (rc < 0) {
			fprintf(stderr, "%s: --password-file %s\n", ctl_prog,
				err);
			ec = CTL_EXIT_USAGE;
		}
	} else if (nargs == 1) {
		ec = ctl_client_open(cl);
		if (ec != 0)
			return ec;
		rc = ctl_prompt_secret("Current password: ", old, sizeof(old));
		if (rc < 0) {
			fprintf(stderr, "%s: cannot read the password: %s\n",
				ctl_prog,
				rc == -ENOTTY ? "no terminal (use passwd "
						"--password-file FILE)" :
						strerror(-rc));
			return CTL_EXIT_USAGE;
		}
		ec = new_password(NULL, "you", pw, sizeof(pw));
	} else {
		return usage_err("usage: passwd [--password-file FILE]");
	}
	if (ec == 0) {
		args = json_pack("{s:s, s:s}", "old", old, "new", pw);
		ec = run_print(cl, "auth.passwd", args, print_ok);
	}
	explicit_bzero(old, sizeof(old));
	explicit_bzero(pw, sizeof(pw));
	return ec;
}

/* --- session ------------------------------------------------------------------ */

int ctl_session_main(struct ctl_client *cl, int nargs, char **a)
{
	unsigned long id;

	if (nargs == 2 && strcmp(a[1], "list") == 0)
		return run_print(cl, "session.list", NULL, print_session_list);
	if (nargs == 3 && strcmp(a[1], "kill") == 0) {
		id = parse_id(a[2]);
		if (id == 0)
			return usage_err("session kill %s: expected a session "
					 "id",
					 a[2]);
		return run_print(cl, "session.kill",
				 json_pack("{s:I}", "id", (json_int_t)id),
				 print_session_killed);
	}
	return usage_err("usage: session list | session kill ID");
}

/* --- dual approval ---------------------------------------------------------------- */

static void print_approved(const json_t *r)
{
	ctl_print_install("policy approve", r);
}

/* Shows the pending change id and asks unless told not to; exit code. */
static int approve_confirm(struct ctl_client *cl, unsigned long id, bool yes)
{
	const json_t *r, *p, *found = NULL;
	json_t *resp = NULL;
	char q[64];
	size_t i;
	int ec;

	r = ctl_run(cl, "policy.pending", NULL, &resp, &ec);
	if (r == NULL)
		return ec;
	json_array_foreach(json_object_get(r, "pending"), i,
			   p) if (ctl_jint(p, "id") == (long long)id) found = p;
	if (found == NULL) {
		/* the daemon's answer to the approval says why */
		json_decref(resp);
		return 0;
	}
	if (!ctl_json)
		print_pending_one(found, true);
	json_decref(resp);
	if (yes || !isatty(STDIN_FILENO))
		return 0;
	snprintf(q, sizeof(q), "approve pending change %lu?", id);
	if (!ctl_confirm(q)) {
		fprintf(stderr, "%s: not approved\n", ctl_prog);
		return CTL_EXIT_REJECTED;
	}
	return 0;
}

int ctl_approval_main(struct ctl_client *cl, int nargs, char **a)
{
	unsigned long id;
	bool yes = false;
	int ec;

	if (nargs < 2)
		return -1;
	if (strcmp(a[1], "pending") == 0) {
		if (nargs != 2)
			return usage_err("policy pending takes no argument");
		return run_print(cl, "policy.pending", NULL,
				 print_pending_list);
	}
	if (strcmp(a[1], "approve") != 0 && strcmp(a[1], "withdraw") != 0)
		return -1;
	for (int i = 3; i < nargs; i++) {
		if (strcmp(a[1], "approve") == 0 && strcmp(a[i], "--yes") == 0)
			yes = true;
		else
			return usage_err("policy: unexpected argument %s",
					 a[i]);
	}
	id = nargs >= 3 ? parse_id(a[2]) : 0;
	if (id == 0)
		return usage_err("policy %s: expected a pending change id",
				 a[1]);
	if (strcmp(a[1], "withdraw") == 0)
		return run_print(cl, "policy.withdraw",
				 json_pack("{s:I}", "id", (json_int_t)id),
				 print_withdrawn);
	ec = approve_confirm(cl, id, yes);
	if (ec != 0)
		return ec;
	return run_print(cl, "policy.approve",
			 json_pack("{s:I}", "id", (json_int_t)id),
			 print_approved);
}
