/*
 * conduitctl: the command line client of conduitd's management endpoints,
 * the local control socket or (--remote) the TLS endpoint, with one
 * connection per run (ctl/client.h). `policy check`, `replay` and `audit`
 * run locally without a daemon; `user ... --offline` edits the users
 * file as root. Without COMMAND in remote mode it is a shell reading one
 * command per line. Human output is tables and "key: value" lines;
 * --json prints the response's result (or error) object with the field
 * names documented in conduitctl(8).
 *
 * Exit: 0 success, 1 rejected or failed, 2 usage, 3 daemon unreachable,
 * 4 authentication failed.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "audit/chain.h"
#include "audit/reader.h"
#include "audit/rfc5424.h"
#include "common/conf.h"
#include "common/diag.h"
#include "dpi/replay.h"
#include "ctl/client.h"
#include "ctl/manage.h"
#include "ctl/prompt.h"
#include "mgmt/control.h"
#include "policy/diff.h"
#include "policy/model.h"

#define EXIT_REJECTED CTL_EXIT_REJECTED
#define EXIT_USAGE CTL_EXIT_USAGE

static void usage(FILE *out)
{
	fprintf(out,
		"usage: conduitctl [-s SOCKET] [-c CONF] [--json]\n"
		"         [--remote HOST:PORT --user NAME --ca FILE\n"
		"          [--cert FILE --key FILE] [--server-name NAME]\n"
		"          [--password-file FILE]] [COMMAND]\n"
		"commands:\n"
		"  status               daemon, policy and kernel state\n"
		"  policy check FILE    validate FILE locally (no daemon needed)\n"
		"  policy diff FILE     what applying FILE would change\n"
		"  policy apply FILE    validate, commit and persist FILE (or\n"
		"                       queue it for approval)\n"
		"  policy show          running policy with per-conduit counters\n"
		"  policy pending       changes waiting for a second approver\n"
		"  policy approve ID [--yes]\n"
		"                       show and approve (apply) a pending change\n"
		"  policy withdraw ID   drop a pending change\n"
		"  stats                inspection counters per worker and\n"
		"                       conduit, the last violations\n"
		"  reload               re-read the daemon's configured policy\n"
		"  island on|off        isolate every zone / restore the policy\n"
		"  user list            users, roles, states, lockouts\n"
		"  user add NAME --role ROLE [--unix UNIXUSER] [--no-password]\n"
		"                       [--password-file FILE]\n"
		"  user del NAME | user lock NAME | user unlock NAME\n"
		"  user passwd NAME [--password-file FILE]\n"
		"  user totp-enroll NAME\n"
		"                       a new TOTP secret, its otpauth:// URI and\n"
		"                       a QR code (with qrencode)\n"
		"  user add|del|passwd|lock|unlock|list ... --offline\n"
		"                       edit the users file directly (root, no\n"
		"                       daemon needed: the first admin)\n"
		"  passwd [--password-file FILE]\n"
		"                       change the own password (FILE: old, new)\n"
		"  session list         management sessions (* = this one)\n"
		"  session kill ID      end a session\n"
		"  replay [--policy FILE] [--classify port|ndpi] [--events]\n"
		"         [--strict-stream] CAPTURE...\n"
		"                       decode and decide captures offline\n"
		"  audit verify [FILE | --spool [DIR]] [--key FILE] [--pen N]\n"
		"                       check the hash chain of audit records\n"
		"                       (--remote without FILE: the daemon's\n"
		"                       spool, with its key)\n"
		"  audit tail [-n N] [-f] [--spool DIR]\n"
		"                       the last audit records of the spool\n"
		"                       (--remote: the daemon's, N <= 1000)\n"
		"  conf show            the daemon's running configuration\n"
		"  (remote, no COMMAND) a shell: one command per line from stdin,\n"
		"                       until EOF, exit or logout\n"
		"options:\n"
		"  -s SOCKET   control socket (default $CONDUITCTL_SOCKET or %s)\n"
		"  -c CONF     conduitd.conf for audit-dir, audit-hmac-key,\n"
		"              audit-pen, users-file and the password policy\n"
		"              (default %s when readable)\n"
		"  --json      machine-readable output\n"
		"  --remote HOST:PORT  the TLS endpoint (IPv6: [ADDR]:PORT)\n"
		"  --user NAME         who logs in (remote)\n"
		"  --ca FILE           CA of the endpoint's certificate (remote)\n"
		"  --cert FILE --key FILE\n"
		"                      client certificate (then no TOTP code)\n"
		"  --server-name NAME  name or IP the certificate must carry\n"
		"                      (default: HOST)\n"
		"  --password-file FILE\n"
		"                      line 1 the password, line 2 the TOTP code\n"
		"                      (re-read at each re-authentication);\n"
		"                      locally: the new password of user add/passwd\n"
		"exit: 0 ok, 1 rejected, 2 usage, 3 unreachable, 4 authentication "
		"failed\n",
		CONF_CONTROL_SOCKET_DEFAULT, CONF_PATH_DEFAULT);
}

/* --- human output --------------------------------------------------------- */

/* Joins a JSON array of strings (or numbers) with sep; "-" when empty. */
static const char *join(const json_t *a, const char *sep, char *buf, size_t len)
{
	size_t i, off = 0;
	json_t *v;

	buf[0] = '\0';
	json_array_foreach(a, i, v)
	{
		char tmp[64];
		const char *s = json_string_value(v);

		if (s == NULL && json_is_integer(v)) {
			snprintf(tmp, sizeof(tmp), "%lld",
				 (long long)json_integer_value(v));
			s = tmp;
		}
		if (s == NULL)
			continue;
		off += (size_t)snprintf(buf + off, off < len ? len - off : 0,
					"%s%s", off ? sep : "", s);
	}
	if (off == 0)
		snprintf(buf, len, "-");
	return buf;
}

static long long jint2(const json_t *o, const char *a, const char *b)
{
	return ctl_jint(json_object_get(o, a), b);
}

static void print_inspection(const json_t *i)
{
	if (!json_is_object(i))
		return;
	if (!json_is_true(json_object_get(i, "active"))) {
		printf("inspection:  not running\n");
		return;
	}
	printf("inspection:  %lld workers on queues %lld-%lld%s, %lld packets, "
	       "%lld PDUs denied, %lld malformed, %lld queue drops\n",
	       ctl_jint(i, "workers"), ctl_jint(i, "queue_first"),
	       ctl_jint(i, "queue_first") + ctl_jint(i, "queue_n") - 1,
	       ctl_jint(i, "stalled") ? " (stalled)" : "",
	       ctl_jint(i, "packets"), ctl_jint(i, "pdus_denied"),
	       ctl_jint(i, "malformed"), ctl_jint(i, "queue_drops"));
	printf("flows:       %lld of %lld, %lld violations\n",
	       ctl_jint(i, "flows_active"), ctl_jint(i, "flows_max"),
	       ctl_jint(i, "violations"));
}

static void print_audit(const json_t *a)
{
	const json_t *sp = json_object_get(a, "spool");
	const json_t *c;
	size_t i;

	if (!json_is_object(a))
		return;
	printf("audit:       spool %lld%% full (%lld records, %lld segments), "
	       "last seq %lld, %lld queue drops\n",
	       ctl_jint(sp, "fill_pct"), ctl_jint(sp, "records"),
	       ctl_jint(sp, "segments"), ctl_jint(a, "last_seq"),
	       ctl_jint(a, "queue_drops"));
	json_array_foreach(json_object_get(a, "collectors"), i, c)
	{
		const char *e = ctl_jstr(c, "last_error", "");

		printf("collector:   %s %s, backlog %lld, delivered %lld%s%s\n",
		       ctl_jstr(c, "name", "?"),
		       json_is_true(json_object_get(c, "up")) ? "up" : "down",
		       ctl_jint(c, "backlog"), ctl_jint(c, "delivered"),
		       e[0] ? ", last error: " : "", e);
	}
}

static void print_status(const json_t *r)
{
	const json_t *p = json_object_get(r, "policy");
	const json_t *n = json_object_get(r, "nflog");
	const json_t *m = json_object_get(r, "management");
	char b[64];

	printf("version:     %s (protocol %lld)\n", ctl_jstr(r, "version", "?"),
	       ctl_jint(r, "protocol"));
	printf("pid:         %lld\n", ctl_jint(r, "pid"));
	printf("uptime:      %s\n",
	       ctl_fmt_duration(ctl_jint(r, "uptime"), b, sizeof(b)));
	printf("user:        %s%s\n", ctl_jstr(r, "user", "?"),
	       json_is_true(json_object_get(r, "privileged")) ?
		       " (not dropped: development only)" :
		       "");
	if (json_is_object(p)) {
		printf("policy:      %s (from %s)\n", ctl_jstr(p, "file", "-"),
		       ctl_jstr(p, "source", "?"));
		printf("sha256:      %s\n", ctl_jstr(p, "sha256", "-"));
		printf("zones:       %lld\n", ctl_jint(p, "zones"));
		printf("conduits:    %lld\n", ctl_jint(p, "conduits"));
	} else {
		printf("policy:      none\n");
	}
	printf("island:      %s\n",
	       json_is_true(json_object_get(r, "island")) ? "on" : "off");
	printf("generation:  %lld\n", ctl_jint(r, "generation"));
	printf("last apply:  %s\n",
	       ctl_fmt_time(ctl_jint(r, "last_apply"), b, sizeof(b)));
	printf("features:    %s\n", ctl_jstr(r, "features_text", "-"));
	if (json_is_object(m))
		printf("management:  zone %s, port %lld\n",
		       ctl_jstr(m, "zone", "-"), ctl_jint(m, "port"));
	print_inspection(json_object_get(r, "inspection"));
	if (json_is_object(n)) {
		if (json_is_true(json_object_get(n, "active")))
			printf("nflog:       group %lld, %lld packets, %lld events, %lld lost\n",
			       ctl_jint(n, "group"), ctl_jint(n, "packets"),
			       ctl_jint(n, "events"), ctl_jint(n, "lost"));
		else
			printf("nflog:       group %lld, not active\n",
			       ctl_jint(n, "group"));
	}
	print_audit(json_object_get(r, "audit"));
}

static void fmt_service(const json_t *s, char *buf, size_t len)
{
	char tmp[1024];
	size_t off;
	const json_t *v;

	off = (size_t)snprintf(buf, len, "%s", ctl_jstr(s, "proto", "?"));
	v = json_object_get(s, "ports");
	if (json_array_size(v) > 0)
		off += (size_t)snprintf(buf + off, off < len ? len - off : 0,
					" %s", join(v, ",", tmp, sizeof(tmp)));
	v = json_object_get(s, "icmp_type");
	if (json_is_string(v))
		off += (size_t)snprintf(buf + off, off < len ? len - off : 0,
					" %s", json_string_value(v));
	else if (json_is_integer(v) && json_integer_value(v) >= 0)
		off += (size_t)snprintf(buf + off, off < len ? len - off : 0,
					" type %lld",
					(long long)json_integer_value(v));
	v = json_object_get(s, "from_hosts");
	if (json_array_size(v) > 0)
		off += (size_t)snprintf(buf + off, off < len ? len - off : 0,
					" from %s",
					join(v, ",", tmp, sizeof(tmp)));
	v = json_object_get(s, "to_hosts");
	if (json_array_size(v) > 0)
		off += (size_t)snprintf(buf + off, off < len ? len - off : 0,
					" to %s",
					join(v, ",", tmp, sizeof(tmp)));
	v = json_object_get(s, "rate");
	if (json_is_string(v))
		off += (size_t)snprintf(buf + off, off < len ? len - off : 0,
					" rate %s", json_string_value(v));
	else if (json_is_object(v))
		off += (size_t)snprintf(buf + off, off < len ? len - off : 0,
					" rate %lld/%s", ctl_jint(v, "count"),
					ctl_jstr(v, "unit", "?"));
}

static void print_policy_show(const json_t *r)
{
	const json_t *zones = json_object_get(r, "zones");
	const json_t *conduits = json_object_get(r, "conduits");
	char a[1024], b[1024];
	size_t i, j;
	int wz = 4, wc = 7, wft = 9;
	json_t *z, *c, *s;

	json_array_foreach(zones, i, z)
	{
		int l = (int)strlen(ctl_jstr(z, "name", ""));

		if (l > wz)
			wz = l;
	}
	json_array_foreach(conduits, i, c)
	{
		int l = (int)strlen(ctl_jstr(c, "name", ""));
		int ft = (int)(strlen(ctl_jstr(c, "from", "")) +
			       strlen(ctl_jstr(c, "to", "")) + 4);

		if (l > wc)
			wc = l;
		if (ft > wft)
			wft = ft;
	}
	printf("policy %s (from %s)  sha256 %.16s  generation %lld  island %s\n\n",
	       ctl_jstr(r, "file", "-"), ctl_jstr(r, "source", "?"),
	       ctl_jstr(r, "sha256", "-"), ctl_jint(r, "generation"),
	       json_is_true(json_object_get(r, "island")) ? "on" : "off");
	printf("%-*s  %-2s  %-4s  %-20s  %s\n", wz, "ZONE", "SL", "MGMT",
	       "INTERFACES", "NETWORKS");
	json_array_foreach(zones, i, z)
	{
		long long sl = ctl_jint(z, "security_level");
		char slb[8];

		snprintf(slb, sizeof(slb), "%lld", sl);
		printf("%-*s  %-2s  %-4s  %-20s  %s\n", wz,
		       ctl_jstr(z, "name", "?"), sl > 0 ? slb : "-",
		       json_is_true(json_object_get(z, "management")) ? "yes" :
									"-",
		       join(json_object_get(z, "interfaces"), ",", a,
			    sizeof(a)),
		       join(json_object_get(z, "networks"), ", ", b,
			    sizeof(b)));
	}
	printf("\n%-*s  %-*s  %21s  %21s\n", wc, "CONDUIT", wft, "FROM -> TO",
	       "ACCEPT packets/bytes", "DENY packets/bytes");
	json_array_foreach(conduits, i, c)
	{
		const json_t *k = json_object_get(c, "counters");
		char ft[128], acc[48], den[48];

		snprintf(ft, sizeof(ft), "%s -> %s", ctl_jstr(c, "from", "?"),
			 ctl_jstr(c, "to", "?"));
		if (json_is_object(k)) {
			snprintf(acc, sizeof(acc), "%lld/%lld",
				 ctl_jint(k, "accept_packets"),
				 ctl_jint(k, "accept_bytes"));
			snprintf(den, sizeof(den), "%lld/%lld",
				 ctl_jint(k, "deny_packets"),
				 ctl_jint(k, "deny_bytes"));
		} else {
			snprintf(acc, sizeof(acc), "-");
			snprintf(den, sizeof(den), "-");
		}
		printf("%-*s  %-*s  %21s  %21s%s\n", wc,
		       ctl_jstr(c, "name", "?"), wft, ft, acc, den,
		       json_is_true(json_object_get(c, "log")) ? "  (log)" :
								 "");
		k = json_object_get(c, "inspection");
		if (json_is_object(k))
			printf("    inspected: %lld flows (%lld denied), PDUs "
			       "allow %lld deny %lld reject %lld, %lld "
			       "malformed\n",
			       jint2(k, "flows", "admitted"),
			       jint2(k, "flows", "denied"),
			       jint2(k, "pdus", "allow"),
			       jint2(k, "pdus", "deny"),
			       jint2(k, "pdus", "reject"),
			       ctl_jint(k, "malformed"));
		json_array_foreach(json_object_get(c, "allow"), j, s)
		{
			fmt_service(s, a, sizeof(a));
			printf("    allow %s\n", a);
		}
	}
}

static void print_stats(const json_t *r)
{
	const json_t *in = json_object_get(r, "inspection");
	const json_t *t = json_object_get(r, "totals");
	const json_t *v = json_object_get(r, "violations");
	const json_t *w, *c;
	char fill[16], when[64];
	size_t i;

	if (json_is_true(json_object_get(in, "active")))
		printf("inspection: %lld workers on queues %lld-%lld\n",
		       ctl_jint(in, "workers"), ctl_jint(in, "queue_first"),
		       ctl_jint(in, "queue_first") + ctl_jint(in, "queue_n") -
			       1);
	else
		printf("inspection: not running\n");
	printf("\n%-6s %10s %10s %8s %8s %8s %9s %7s %9s %6s\n", "QUEUE",
	       "PACKETS", "ACCEPT", "DROP", "PDU-DENY", "MALFORM", "DROPS",
	       "FLOWS", "FILL", "IDLE");
	json_array_foreach(json_object_get(r, "workers"), i, w)
	{
		snprintf(fill, sizeof(fill), "%.1f%%",
			 100.0 * json_real_value(json_object_get(
					 json_object_get(w, "flows"), "fill")));
		printf("%-6lld %10lld %10lld %8lld %8lld %8lld %9lld %7lld "
		       "%9s %5lldms%s\n",
		       ctl_jint(w, "queue"), ctl_jint(w, "packets"),
		       jint2(w, "verdicts", "allow"),
		       jint2(w, "verdicts", "deny") +
			       jint2(w, "verdicts", "reject"),
		       jint2(w, "pdus", "deny") + jint2(w, "pdus", "reject"),
		       ctl_jint(w, "malformed"), ctl_jint(w, "queue_drops"),
		       jint2(w, "flows", "active"), fill,
		       ctl_jint(w, "idle_ms"),
		       json_is_true(json_object_get(w, "stalled")) ?
			       "  STALLED" :
			       "");
	}
	printf("%-6s %10lld %10lld %8lld %8lld %8lld %9lld %7lld %9lld\n",
	       "total", ctl_jint(t, "packets"), jint2(t, "verdicts", "allow"),
	       jint2(t, "verdicts", "deny") + jint2(t, "verdicts", "reject"),
	       jint2(t, "pdus", "deny") + jint2(t, "pdus", "reject"),
	       ctl_jint(t, "malformed"), ctl_jint(t, "queue_drops"),
	       jint2(t, "flows", "active"), jint2(t, "flows", "max"));
	printf("\n%-24s %-24s %9s %9s %9s %9s %9s\n", "CONDUIT", "FROM -> TO",
	       "FLOWS", "ALLOW", "DENY", "REJECT", "MALFORMED");
	json_array_foreach(json_object_get(r, "conduits"), i, c)
	{
		char ft[128];

		snprintf(ft, sizeof(ft), "%s -> %s", ctl_jstr(c, "from", "?"),
			 ctl_jstr(c, "to", "?"));
		printf("%-24s %-24s %9lld %9lld %9lld %9lld %9lld%s\n",
		       ctl_jstr(c, "name", "?"), ft,
		       jint2(c, "flows", "admitted"), jint2(c, "pdus", "allow"),
		       jint2(c, "pdus", "deny"), jint2(c, "pdus", "reject"),
		       ctl_jint(c, "malformed"),
		       json_is_true(json_object_get(c, "inspected")) ?
			       "" :
			       "  (kernel only)");
	}
	printf("\nviolations: %lld (%lld records)\n", ctl_jint(v, "total"),
	       ctl_jint(v, "records"));
	json_array_foreach(json_object_get(v, "recent"), i, w)
	{
		const json_t *fn = json_object_get(w, "function");
		char fb[16] = "-";

		if (json_is_integer(fn))
			snprintf(fb, sizeof(fb), "%lld",
				 (long long)json_integer_value(fn));
		printf("  %s %s %s conduit %s %s -> %s %s function %s rule %s "
		       "(line %lld) x%lld \"%s\"\n",
		       ctl_fmt_time(ctl_jint(w, "time"), when, sizeof(when)),
		       ctl_jstr(w, "kind", "?"), ctl_jstr(w, "action", "?"),
		       ctl_jstr(w, "conduit", "-"), ctl_jstr(w, "src", "-"),
		       ctl_jstr(w, "dst", "-"), ctl_jstr(w, "proto", "-"), fb,
		       ctl_jstr(w, "rule", "-"), ctl_jint(w, "line"),
		       ctl_jint(w, "count"), ctl_jstr(w, "detail", ""));
	}
}

/* --- commands --------------------------------------------------------------- */

/* Reads a policy file for sending; NULL after printing why. */
static char *read_file(const char *path, size_t *len)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "%s: %s: %s\n", ctl_prog, path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > POL_SIZE_MAX_DEFAULT) {
		fprintf(stderr, "%s: %s: %s\n", ctl_prog, path,
			S_ISREG(st.st_mode) ?
				"larger than the 32 MiB policy limit" :
				"not a regular file");
		close(fd);
		return NULL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		close(fd);
		return NULL;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*len = got;
	return buf;
}

static int cmd_check_local(const char *file)
{
	struct pol_policy *p = NULL;
	struct diag_list dl;
	int rc;

	diag_list_init(&dl);
	rc = policy_load_file(file, 0, &p, &dl);
	if (rc < 0 && dl.n == 0)
		diag_add(&dl, file, 0, 0, "%s", strerror(-rc));
	if (ctl_json) {
		json_t *o;

		if (rc == 0) {
			o = json_pack("{s:b, s:s, s:I, s:I, s:o}", "ok", 1,
				      "file", file, "zones",
				      (json_int_t)p->n_zones, "conduits",
				      (json_int_t)p->n_conduits, "policy",
				      policy_to_json(p));
		} else {
			json_t *e = ctl_response_error(0,
						       CTL_ERR_POLICY_INVALID,
						       "policy rejected", &dl);

			o = json_pack(
				"{s:b, s:s, s:O}", "ok", 0, "file", file,
				"diagnostics",
				json_object_get(json_object_get(e, "error"),
						"diagnostics"));
			json_decref(e);
		}
		ctl_print_json(o);
		json_decref(o);
	} else if (rc == 0) {
		printf("%s: policy OK (%zu zones, %zu conduits)\n", file,
		       p->n_zones, p->n_conduits);
	} else {
		diag_print(&dl, stderr);
	}
	policy_free(p);
	diag_list_free(&dl);
	return rc == 0 ? 0 : EXIT_REJECTED;
}

/* Sends FILE's content with cmd. A file that is not UTF-8 cannot travel
 * in JSON; the local check then reports where it breaks. */
static int cmd_send_policy(struct ctl_client *cl, const char *cmd,
			   const char *file)
{
	const json_t *r;
	json_t *args, *content, *resp = NULL;
	size_t len;
	char *buf;
	int ec;

	buf = read_file(file, &len);
	if (buf == NULL)
		return EXIT_REJECTED;
	content = json_stringn(buf, len);
	free(buf);
	if (content == NULL)
		return cmd_check_local(file) == 0 ? EXIT_REJECTED :
						    EXIT_REJECTED;
	args = json_pack("{s:s, s:o}", "name", file, "content", content);
	r = ctl_run(cl, cmd, args, &resp, &ec);
	if (r != NULL) {
		if (ctl_json)
			ctl_print_json(r);
		else if (strcmp(cmd, "policy.diff") == 0)
			fputs(ctl_jstr(r, "text", ""), stdout);
		else
			ctl_print_install("policy apply", r);
	}
	json_decref(resp);
	return ec;
}

static int cmd_simple(struct ctl_client *cl, const char *cmd, json_t *args,
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

static void print_reload(const json_t *r)
{
	ctl_print_install("reload", r);
}

static void print_island(const json_t *r)
{
	bool on = json_is_true(json_object_get(r, "island"));

	printf("island mode %s%s\n", on ? "on" : "off",
	       json_is_true(json_object_get(r, "changed")) ? "" :
							     " (unchanged)");
	if (on)
		printf("every inter-zone packet is dropped; the management zone keeps its access\n");
	else
		printf("the policy is enforced again\n");
}

/* --- audit verify / tail (read the spool or a collector's file locally) -- */

struct audit_cli {
	const char *spool; /* directory */
	const char *key_path;
	unsigned pen;
	uint8_t key[CONF_AUDIT_KEY_MAX];
	size_t key_len;
};

/* Defaults from -c CONF (or the default file when it exists). */
static int audit_cli_init(struct audit_cli *a, const char *conf_path,
			  char *dirbuf, size_t dirlen, struct conf *c)
{
	struct diag_list dl;
	int rc;

	memset(a, 0, sizeof(*a));
	a->pen = CONF_AUDIT_PEN_DEFAULT;
	if (conf_init(c) < 0)
		return -ENOMEM;
	if (conf_path == NULL && access(CONF_PATH_DEFAULT, R_OK) == 0)
		conf_path = CONF_PATH_DEFAULT;
	if (conf_path != NULL) {
		diag_list_init(&dl);
		rc = conf_load(c, conf_path, &dl);
		if (rc < 0) {
			diag_print(&dl, stderr);
			diag_list_free(&dl);
			return rc;
		}
		diag_list_free(&dl);
	}
	a->spool = conf_audit_dir(c, dirbuf, dirlen);
	a->key_path = c->audit_hmac_key;
	a->pen = c->audit_pen;
	return 0;
}

static int audit_cli_key(struct audit_cli *a)
{
	char err[512];

	if (a->key_path == NULL)
		return 0;
	if (conf_read_hmac_key(a->key_path, a->key, &a->key_len, err,
			       sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", ctl_prog, err);
		return -1;
	}
	return 0;
}

/* Prints the outcome; returns the exit code. */
static int verify_report(const struct reader_verify *rv, const char *input,
			 uint64_t skipped_lines)
{
	const struct chain_verify_report *r = reader_verify_report(rv);
	const char *stop_error = rv->stop[0] ? rv->stop : NULL;
	bool broken = !reader_verify_intact(rv);

	if (ctl_json) {
		json_t *o = json_pack(
			"{s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:b}",
			"input", input, "intact", !broken, "records",
			(json_int_t)r->records, "first_seq",
			(json_int_t)r->first_seq, "last_seq",
			(json_int_t)r->last_seq, "duplicates",
			(json_int_t)r->duplicates, "not_ours",
			(json_int_t)r->skipped, "skipped_lines",
			(json_int_t)skipped_lines, "hmac", rv->key_len > 0);

		if (o != NULL && broken)
			json_object_set_new(
				o, "broken",
				r->broken ?
					json_pack("{s:I, s:I, s:s, s:s}", "seq",
						  (json_int_t)r->broken_seq,
						  "line",
						  (json_int_t)rv->broken_pos,
						  "segment", rv->broken_where,
						  "reason", r->reason) :
					json_pack("{s:s}", "reason",
						  stop_error));
		ctl_print_json(o);
		json_decref(o);
	} else if (r->broken) {
		if (rv->broken_where[0])
			printf("%s: seq %llu (%s, record %llu): %s\n", input,
			       (unsigned long long)r->broken_seq,
			       rv->broken_where,
			       (unsigned long long)rv->broken_pos, r->reason);
		else
			printf("%s: seq %llu (line %llu): %s\n", input,
			       (unsigned long long)r->broken_seq,
			       (unsigned long long)rv->broken_pos, r->reason);
	} else if (stop_error != NULL) {
		printf("%s: %s\n", input, stop_error);
	} else {
		printf("%llu records, seq %llu..%llu, %llu duplicates: chain "
		       "intact\n",
		       (unsigned long long)r->records,
		       (unsigned long long)r->first_seq,
		       (unsigned long long)r->last_seq,
		       (unsigned long long)r->duplicates);
		if (skipped_lines || r->skipped)
			fprintf(stderr,
				"%s: %llu lines skipped (not RFC 5424), %llu "
				"records of other senders\n",
				ctl_prog, (unsigned long long)skipped_lines,
				(unsigned long long)r->skipped);
	}
	return broken ? EXIT_REJECTED : 0;
}

static int verify_file(struct reader_verify *rv, const char *file)
{
	uint64_t skipped = 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f = strcmp(file, "-") ? fopen(file, "re") : stdin;
	int ec;

	if (f == NULL) {
		fprintf(stderr, "%s: %s: %s\n", ctl_prog, file,
			strerror(errno));
		return EXIT_USAGE;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		size_t len = (size_t)n;

		rv->pos++;
		while (len > 0 &&
		       (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		if (len == 0 || line[0] != '<') {
			skipped++;
			continue;
		}
		if (reader_verify_feed(rv, line, len) < 0) {
			fprintf(stderr, "%s: out of memory\n", ctl_prog);
			free(line);
			if (f != stdin)
				fclose(f);
			return EXIT_USAGE;
		}
	}
	ec = ferror(f) ? EXIT_USAGE : 0;
	if (ec)
		fprintf(stderr, "%s: %s: read error\n", ctl_prog, file);
	free(line);
	if (f != stdin)
		fclose(f);
	if (ec == 0)
		ec = verify_report(rv, file, skipped);
	return ec;
}

static int verify_spool(struct reader_verify *rv, const char *dir)
{
	char err[4200];

	if (reader_verify_spool(rv, dir, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", ctl_prog, err);
		return EXIT_USAGE;
	}
	if (rv->torn_bytes)
		/* the newest segment: a record being appended or the torn
		 * tail the daemon cuts at its next start */
		fprintf(stderr,
			"%s: %s: %llu bytes after offset %ld ignored (%s: "
			"torn or being written)\n",
			ctl_prog, rv->torn_segment,
			(unsigned long long)rv->torn_bytes, rv->torn_offset,
			rv->torn_why);
	return verify_report(rv, dir, 0);
}

/*
 * audit.verify on the daemon's spool (remote): the same output as a local
 * `audit verify --spool`. The daemon verifies a bounded batch per call;
 * each next call continues the chain from the last one's end.
 */
static int verify_remote(struct ctl_client *cl)
{
	long long records = 0, dups = 0, not_ours = 0, first = 0;
	json_t *resp = NULL, *args = NULL, *sum;
	const json_t *r, *b;
	const char *dir;
	int ec;

	for (;;) {
		r = ctl_run(cl, "audit.verify", args, &resp, &ec);
		if (r == NULL) {
			json_decref(resp);
			return ec;
		}
		if (records == 0)
			first = ctl_jint(r, "first_seq");
		records += ctl_jint(r, "records");
		dups += ctl_jint(r, "duplicates");
		not_ours += ctl_jint(r, "not_ours");
		if (!json_is_true(json_object_get(r, "limited")) ||
		    json_object_get(r, "broken") != NULL ||
		    ctl_jint(r, "records") == 0 ||
		    !json_is_string(json_object_get(r, "last_chain")))
			break;
		args = json_pack("{s:I, s:s}", "after_seq",
				 (json_int_t)ctl_jint(r, "last_seq"), "anchor",
				 ctl_jstr(r, "last_chain", ""));
		json_decref(resp);
		resp = NULL;
		if (args == NULL) {
			fprintf(stderr, "%s: out of memory\n", ctl_prog);
			return EXIT_USAGE;
		}
	}
	/* the whole run: the last answer with the sums */
	sum = json_deep_copy(r);
	if (sum != NULL) {
		json_object_set_new(sum, "records", json_integer(records));
		json_object_set_new(sum, "first_seq", json_integer(first));
		json_object_set_new(sum, "duplicates", json_integer(dups));
		json_object_set_new(sum, "not_ours", json_integer(not_ours));
		json_object_del(sum, "last_chain");
		r = sum;
	}
	b = json_object_get(r, "broken");
	dir = ctl_jstr(r, "dir", "spool");
	if (ctl_json) {
		ctl_print_json(r);
	} else if (json_is_integer(json_object_get(b, "seq"))) {
		printf("%s: seq %lld (%s, record %lld): %s\n", dir,
		       ctl_jint(b, "seq"), ctl_jstr(b, "segment", "?"),
		       ctl_jint(b, "record"), ctl_jstr(b, "reason", "?"));
	} else if (b != NULL) {
		printf("%s: %s\n", dir, ctl_jstr(b, "reason", "?"));
	} else {
		if (ctl_jint(r, "torn_tail_bytes"))
			fprintf(stderr,
				"%s: %lld bytes at the end of the newest "
				"segment ignored (torn or being written)\n",
				ctl_prog, ctl_jint(r, "torn_tail_bytes"));
		printf("%lld records, seq %lld..%lld, %lld duplicates: chain "
		       "intact\n",
		       records, first, ctl_jint(r, "last_seq"), dups);
	}
	ec = b != NULL || !json_is_true(json_object_get(r, "intact")) ?
		     EXIT_REJECTED :
		     0;
	json_decref(sum);
	json_decref(resp);
	return ec;
}

static int audit_verify_main(struct ctl_client *cl, int argc, char **argv,
			     const char *conf_path)
{
	static const struct option lopts[] = {
		{ "spool", no_argument, NULL, 'S' },
		{ "key", required_argument, NULL, 'k' },
		{ "pen", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	struct reader_verify rv;
	struct audit_cli a;
	struct conf c;
	char dir[PATH_MAX];
	const char *file = NULL, *dir_arg = NULL, *key = NULL, *pen = NULL;
	bool spool = false;
	int ch, ec;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "+", lopts, NULL)) != -1) {
		switch (ch) {
		case 'S':
			spool = true;
			/* optional DIR: the next word unless it is an option */
			if (optind < argc && argv[optind][0] != '-')
				dir_arg = argv[optind++];
			break;
		case 'k':
			key = optarg;
			break;
		case 'p':
			pen = optarg;
			break;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		file = argv[optind++];
	/* options may follow FILE: verify FILE --key K */
	while (file != NULL && optind < argc && argv[optind][0] == '-') {
		int o0 = optind;

		ch = getopt_long(argc, argv, "+", lopts, NULL);
		if (ch == 'k')
			key = optarg;
		else if (ch == 'p')
			pen = optarg;
		else if (ch == 'S')
			spool = true;
		else
			break;
		if (optind == o0)
			break;
	}
	if (ctl_client_remote(cl) && optind == argc && file == NULL &&
	    dir_arg == NULL) {
		/* the daemon's spool, with the daemon's key */
		if (key != NULL || pen != NULL) {
			fprintf(stderr,
				"%s: audit verify: --key and --pen are for "
				"local files; the daemon uses its own\n",
				ctl_prog);
			return EXIT_USAGE;
		}
		return verify_remote(cl);
	}
	if (optind != argc || (file != NULL) == spool) {
		fprintf(stderr,
			"%s: audit verify: give FILE or --spool [DIR]\n",
			ctl_prog);
		return EXIT_USAGE;
	}
	if (audit_cli_init(&a, conf_path, dir, sizeof(dir), &c) < 0) {
		conf_free(&c);
		return EXIT_USAGE;
	}
	if (dir_arg)
		a.spool = dir_arg;
	if (key)
		a.key_path = key;
	if (pen) {
		char *end;
		unsigned long v = strtoul(pen, &end, 10);

		if (*pen == '\0' || *end || v == 0 || v > 4294967294ul) {
			fprintf(stderr,
				"%s: --pen %s: expected 1..4294967294\n",
				ctl_prog, pen);
			conf_free(&c);
			return EXIT_USAGE;
		}
		a.pen = (unsigned)v;
	}
	if (audit_cli_key(&a) < 0) {
		conf_free(&c);
		return EXIT_USAGE;
	}
	reader_verify_init(&rv, a.pen, a.key, a.key_len);
	explicit_bzero(a.key, sizeof(a.key));
	ec = spool ? verify_spool(&rv, a.spool) : verify_file(&rv, file);
	reader_verify_free(&rv);
	conf_free(&c);
	return ec;
}

/* --- tail --------------------------------------------------------------- */

static json_t *record_json(uint64_t seq, const char *rec, size_t len)
{
	static char scratch[R5424_MAX_LEN + R5424_MAX_PARAMS * 2 + 16];
	struct r5424_error err = { 0 };
	struct r5424_msg m;
	json_t *o, *sd;

	if (r5424_parse(rec, len, &m, scratch, sizeof(scratch), &err) < 0)
		return json_pack("{s:I, s:s%, s:s, s:I}", "seq",
				 (json_int_t)seq, "raw", rec, len,
				 "parse_error", err.reason ? err.reason : "?",
				 "offset", (json_int_t)err.offset);
	sd = json_object();
	for (unsigned i = 0; sd != NULL && i < m.nelems; i++) {
		json_t *e = json_object();

		for (unsigned j = 0; e != NULL && j < m.elems[i].nparams; j++) {
			const struct r5424_param *p =
				&m.params[m.elems[i].first + j];

			json_object_set_new(e, p->name,
					    json_stringn(p->value,
							 p->value_len));
		}
		json_object_set_new(sd, m.elems[i].id, e);
	}
	o = json_pack("{s:I, s:i, s:i, s:i, s:s?, s:s?, s:s?, s:s?, s:s?, "
		      "s:o, s:s%}",
		      "seq", (json_int_t)seq, "pri", m.pri, "facility",
		      m.pri / 8, "severity", m.pri % 8, "timestamp",
		      m.timestamp, "hostname", m.hostname, "app", m.app,
		      "procid", m.procid, "msgid", m.msgid, "sd", sd, "msg",
		      m.msg ? m.msg : "", m.msg ? m.msg_len : 0);
	return o;
}

static void tail_print(uint64_t seq, const char *rec, size_t len, void *arg)
{
	(void)arg;
	if (ctl_json) {
		json_t *o = record_json(seq, rec, len);

		/* json_dumpf: jansson's allocator is not malloc here */
		if (o != NULL && json_dumpf(o, stdout, JSON_COMPACT) == 0)
			putchar('\n');
		json_decref(o);
	} else {
		printf("%.*s\n", (int)len, rec);
	}
}

/* Scans dir for what is new; returns 0 or -1 after printing why. */
static int tail_scan(struct reader_tail *t, const char *dir)
{
	char err[4200];

	if (reader_tail_scan(t, dir, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", ctl_prog, err);
		return -1;
	}
	fflush(stdout);
	return 0;
}

/* audit.tail on the daemon's spool (remote), printed like a local tail. */
static int tail_remote(struct ctl_client *cl, unsigned long n)
{
	const json_t *r, *rec;
	json_t *resp = NULL;
	size_t i;
	int ec;

	r = ctl_run(cl, "audit.tail",
		    json_pack("{s:I}", "count", (json_int_t)n), &resp, &ec);
	json_array_foreach(json_object_get(r, "records"), i, rec)
	{
		const json_t *text = json_object_get(rec, "text");

		tail_print((uint64_t)ctl_jint(rec, "seq"),
			   json_string_value(text) ? json_string_value(text) :
						     "",
			   json_string_length(text), NULL);
	}
	fflush(stdout);
	json_decref(resp);
	return ec;
}

static int audit_tail_main(struct ctl_client *cl, int argc, char **argv,
			   const char *conf_path)
{
	static const struct option lopts[] = {
		{ "spool", required_argument, NULL, 'S' },
		{ "follow", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	struct reader_tail t;
	struct audit_cli a;
	struct conf c;
	char dir[PATH_MAX];
	const char *dir_arg = NULL;
	unsigned long n = 10;
	bool follow = false;
	int ch, ec = 0;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "+n:f", lopts, NULL)) != -1) {
		char *end;

		switch (ch) {
		case 'n':
			n = strtoul(optarg, &end, 10);
			if (*optarg == '\0' || *end || n > 1000000) {
				fprintf(stderr,
					"%s: -n %s: expected 0..1000000\n",
					ctl_prog, optarg);
				return EXIT_USAGE;
			}
			break;
		case 'f':
			follow = true;
			break;
		case 'S':
			dir_arg = optarg;
			break;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (ctl_client_remote(cl) && dir_arg == NULL) {
		if (follow) {
			fprintf(stderr,
				"%s: audit tail -f: only on the box (--spool "
				"DIR or without --remote)\n",
				ctl_prog);
			return EXIT_USAGE;
		}
		return tail_remote(cl, n);
	}
	if (audit_cli_init(&a, conf_path, dir, sizeof(dir), &c) < 0) {
		conf_free(&c);
		return EXIT_USAGE;
	}
	if (dir_arg)
		a.spool = dir_arg;
	/* n 0: nothing of the past, only last_seq (start after the newest) */
	if (reader_tail_init(&t, (unsigned)n) < 0) {
		fprintf(stderr, "%s: out of memory\n", ctl_prog);
		conf_free(&c);
		return EXIT_USAGE;
	}
	if (tail_scan(&t, a.spool) < 0)
		ec = EXIT_USAGE;
	for (unsigned i = 0; i < t.count; i++) {
		const struct reader_rec *r = reader_tail_at(&t, i);

		tail_print(r->seq, r->rec, r->len, NULL);
	}
	reader_tail_free(&t);
	fflush(stdout);
	t.fn = tail_print;
	while (follow && ec == 0) {
		struct timespec ts = { 0, 200 * 1000000L };

		nanosleep(&ts, NULL);
		if (tail_scan(&t, a.spool) < 0)
			ec = EXIT_USAGE;
	}
	conf_free(&c);
	return ec;
}

/* conf.show: one "key value" line per key, as conduitd.conf spells it
 * (lists: one line per element). */
static void print_conf_show(const json_t *r)
{
	const char *key;
	json_t *v;

	printf("# %s\n", ctl_jstr(r, "file", "(defaults only)"));
	json_object_foreach(json_object_get(r, "keys"), key, v)
	{
		size_t i;
		json_t *e;

		if (json_is_array(v)) {
			json_array_foreach(v, i, e)
			{
				if (json_is_string(e)) {
					printf("%s %s\n", key,
					       json_string_value(e));
					continue;
				}
				printf("%s %s %s %s %s", key,
				       ctl_jstr(e, "name", "?"),
				       ctl_jstr(e, "proto", "?"),
				       ctl_jstr(e, "host", "?"),
				       ctl_jstr(e, "port", "?"));
				if (json_is_string(json_object_get(e, "ca")))
					printf(" ca %s", ctl_jstr(e, "ca", ""));
				if (json_is_string(json_object_get(e, "cert")))
					printf(" cert %s",
					       ctl_jstr(e, "cert", ""));
				if (json_is_string(json_object_get(e, "key")))
					printf(" key %s",
					       ctl_jstr(e, "key", ""));
				putchar('\n');
			}
		} else if (json_is_string(v)) {
			printf("%s %s\n", key, json_string_value(v));
		} else if (json_is_integer(v)) {
			printf("%s %lld\n", key,
			       (long long)json_integer_value(v));
		} else if (json_is_boolean(v)) {
			printf("%s %s\n", key, json_is_true(v) ? "yes" : "no");
		} else {
			printf("# %s (not set)\n", key);
		}
	}
}

static int audit_main(struct ctl_client *cl, int nargs, char **a,
		      const char *conf_path)
{
	if (nargs >= 2 && strcmp(a[1], "verify") == 0)
		return audit_verify_main(cl, nargs - 1, a + 1, conf_path);
	if (nargs >= 2 && strcmp(a[1], "tail") == 0)
		return audit_tail_main(cl, nargs - 1, a + 1, conf_path);
	usage(stderr);
	return EXIT_USAGE;
}

static bool in_shell;

/* Runs one command (a[0..nargs)); returns its exit code. */
static int run_command(struct ctl_client *cl, int nargs, char **a,
		       const char *conf_path)
{
	int ec;

	if (nargs >= 1 && strcmp(a[0], "replay") == 0)
		return replay_main(nargs, a, ctl_json);
	if (nargs >= 1 && strcmp(a[0], "audit") == 0)
		return audit_main(cl, nargs, a, conf_path);
	if (nargs >= 1 && strcmp(a[0], "user") == 0)
		return ctl_user_main(cl, nargs, a, conf_path);
	if (nargs >= 1 && strcmp(a[0], "passwd") == 0)
		return ctl_passwd_main(cl, nargs, a);
	if (nargs >= 1 && strcmp(a[0], "session") == 0)
		return ctl_session_main(cl, nargs, a);
	if (nargs == 1 && strcmp(a[0], "status") == 0)
		return cmd_simple(cl, "status", NULL, print_status);
	if (nargs == 1 && strcmp(a[0], "stats") == 0)
		return cmd_simple(cl, "stats", NULL, print_stats);
	if (nargs == 2 && strcmp(a[0], "conf") == 0 &&
	    strcmp(a[1], "show") == 0)
		return cmd_simple(cl, "conf.show", NULL, print_conf_show);
	if (nargs == 1 && strcmp(a[0], "reload") == 0)
		return cmd_simple(cl, "reload", NULL, print_reload);
	if (nargs == 2 && strcmp(a[0], "island") == 0 &&
	    (strcmp(a[1], "on") == 0 || strcmp(a[1], "off") == 0))
		return cmd_simple(cl, "island",
				  json_pack("{s:b}", "on",
					    strcmp(a[1], "on") == 0),
				  print_island);
	if (nargs >= 2 && strcmp(a[0], "policy") == 0) {
		if (nargs == 2 && strcmp(a[1], "show") == 0)
			return cmd_simple(cl, "policy.show", NULL,
					  print_policy_show);
		if (nargs == 3 && strcmp(a[1], "check") == 0)
			return cmd_check_local(a[2]);
		if (nargs == 3 && strcmp(a[1], "diff") == 0)
			return cmd_send_policy(cl, "policy.diff", a[2]);
		if (nargs == 3 && strcmp(a[1], "apply") == 0)
			return cmd_send_policy(cl, "policy.apply", a[2]);
		ec = ctl_approval_main(cl, nargs, a);
		if (ec >= 0)
			return ec;
	}
	if (in_shell) {
		fprintf(stderr,
			"%s: %s: unknown command or arguments (help "
			"lists them)\n",
			ctl_prog, a[0]);
		return EXIT_USAGE;
	}
	usage(stderr);
	return EXIT_USAGE;
}

#define SHELL_WORDS_MAX 64

/*
 * Splits line into words in place: blanks separate, '...' and "..."
 * quote, a backslash escapes the next character. Returns the count, or
 * -1 with *why.
 */
static int shell_split(char *line, char **w, int max, const char **why)
{
	char *in = line, *out = line;
	int n = 0;

	for (;;) {
		char q = 0;

		while (*in == ' ' || *in == '\t' || *in == '\n' || *in == '\r')
			in++;
		if (*in == '\0' || *in == '#')
			return n;
		if (n == max) {
			*why = "too many words";
			return -1;
		}
		w[n++] = out;
		while (*in != '\0') {
			if (q == 0 && (*in == ' ' || *in == '\t' ||
				       *in == '\n' || *in == '\r'))
				break;
			if (q == 0 && (*in == '\'' || *in == '"')) {
				q = *in++;
			} else if (q != 0 && *in == q) {
				q = 0;
				in++;
			} else if (*in == '\\' && q != '\'' && in[1] != '\0') {
				*out++ = in[1];
				in += 2;
			} else {
				*out++ = *in++;
			}
		}
		if (q != 0) {
			*why = "unterminated quote";
			return -1;
		}
		if (*in != '\0')
			in++;
		*out++ = '\0';
	}
}

/*
 * The remote shell: one command per line over the same session, output
 * flushed after each, until EOF, `exit` or `logout`. Returns the exit
 * code of the last command (or 3/4 when the session is gone).
 */
static int shell_main(struct ctl_client *cl, const char *conf_path)
{
	bool tty = isatty(STDIN_FILENO);
	char *line = NULL, *w[SHELL_WORDS_MAX];
	size_t cap = 0;
	int ec;

	ec = ctl_client_open(cl);
	if (ec != 0)
		return ec;
	in_shell = true;
	while (ec != CTL_EXIT_UNREACHABLE && ec != CTL_EXIT_AUTH) {
		const char *why;
		int n;

		if (tty) {
			fputs("conduitd> ", stdout);
			fflush(stdout);
		}
		if (getline(&line, &cap, stdin) < 0)
			break;
		n = shell_split(line, w, SHELL_WORDS_MAX, &why);
		if (n < 0) {
			fprintf(stderr, "%s: %s\n", ctl_prog, why);
			ec = EXIT_USAGE;
			continue;
		}
		if (n == 0)
			continue;
		if (strcmp(w[0], "exit") == 0 || strcmp(w[0], "logout") == 0 ||
		    strcmp(w[0], "quit") == 0)
			break;
		if (strcmp(w[0], "help") == 0) {
			usage(stdout);
			ec = 0;
		} else {
			ec = run_command(cl, n, w, conf_path);
		}
		fflush(stdout);
		fflush(stderr);
	}
	if (tty && ec == 0)
		fputs("\n", stdout);
	free(line);
	return ec;
}

int main(int argc, char **argv)
{
	enum {
		OPT_REMOTE = 256,
		OPT_USER,
		OPT_CA,
		OPT_CERT,
		OPT_KEY,
		OPT_SERVER_NAME,
		OPT_PASSWORD_FILE,
	};
	static const struct option lopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "conf", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "remote", required_argument, NULL, OPT_REMOTE },
		{ "user", required_argument, NULL, OPT_USER },
		{ "ca", required_argument, NULL, OPT_CA },
		{ "cert", required_argument, NULL, OPT_CERT },
		{ "key", required_argument, NULL, OPT_KEY },
		{ "server-name", required_argument, NULL, OPT_SERVER_NAME },
		{ "password-file", required_argument, NULL, OPT_PASSWORD_FILE },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = getenv("CONDUITCTL_SOCKET");
	const char *conf_path = NULL, *remote = NULL, *why;
	char host[CTL_HOST_MAX], port[CTL_PORT_MAX];
	struct ctl_client cl;
	int ch, nargs, ec;
	char **a;

	ctl_secure_json_alloc();
	if (sock == NULL || *sock == '\0')
		sock = CONF_CONTROL_SOCKET_DEFAULT;
	ctl_client_init(&cl, sock);
	while ((ch = getopt_long(argc, argv, "+s:c:jhV", lopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			cl.sock = optarg;
			break;
		case 'c':
			conf_path = optarg;
			break;
		case 'j':
			ctl_json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("conduitctl %s\n", PACKAGE_VERSION);
			return 0;
		case OPT_REMOTE:
			remote = optarg;
			break;
		case OPT_USER:
			cl.user = optarg;
			break;
		case OPT_CA:
			cl.ca = optarg;
			break;
		case OPT_CERT:
			cl.cert = optarg;
			break;
		case OPT_KEY:
			cl.key = optarg;
			break;
		case OPT_SERVER_NAME:
			cl.server_name = optarg;
			break;
		case OPT_PASSWORD_FILE:
			cl.password_file = optarg;
			break;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (remote != NULL) {
		if (ctl_parse_hostport(remote, host, sizeof(host), port,
				       sizeof(port), &why) < 0) {
			fprintf(stderr, "%s: --remote %s: %s\n", ctl_prog,
				remote, why);
			return EXIT_USAGE;
		}
		cl.host = host;
		cl.port = port;
		if (cl.user == NULL || cl.ca == NULL) {
			fprintf(stderr, "%s: --remote needs --user and --ca\n",
				ctl_prog);
			return EXIT_USAGE;
		}
		if ((cl.cert == NULL) != (cl.key == NULL)) {
			fprintf(stderr, "%s: --cert and --key go together\n",
				ctl_prog);
			return EXIT_USAGE;
		}
	} else if (cl.user || cl.ca || cl.cert || cl.key || cl.server_name) {
		fprintf(stderr,
			"%s: --user, --ca, --cert, --key and --server-name "
			"need --remote\n",
			ctl_prog);
		return EXIT_USAGE;
	}
	a = argv + optind;
	nargs = argc - optind;
	/* Allow --json after the command too ("conduitctl status --json"). */
	for (int i = 0; i < nargs; i++)
		if (strcmp(a[i], "--json") == 0) {
			ctl_json = true;
			memmove(&a[i], &a[i + 1],
				(size_t)(nargs - i - 1) * sizeof(*a));
			nargs--;
			i--;
		}
	if (nargs == 0 && remote != NULL)
		ec = shell_main(&cl, conf_path);
	else
		ec = run_command(&cl, nargs, a, conf_path);
	ctl_client_close(&cl);
	return ec;
}
