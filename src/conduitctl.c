/*
 * conduitctl: the command line client of the control socket. `policy
 * check` runs locally without a daemon; every other command is one
 * request/response over the socket. Human output is tables and
 * "key: value" lines; --json prints the response's result (or error)
 * object with the field names documented in conduitctl(8).
 *
 * Exit: 0 success, 1 rejected or failed, 2 usage, 3 daemon unreachable.
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
#include "audit/rfc5424.h"
#include "audit/spool.h"
#include "common/conf.h"
#include "common/diag.h"
#include "dpi/replay.h"
#include "mgmt/control.h"
#include "policy/diff.h"
#include "policy/model.h"

#define EXIT_REJECTED 1
#define EXIT_USAGE 2
#define EXIT_UNREACHABLE 3

#define CTL_REPLY_TIMEOUT 300 /* s: an apply of a huge policy takes a while */

static const char *prog = "conduitctl";
static bool opt_json;

static void usage(FILE *out)
{
	fprintf(out,
		"usage: conduitctl [-s SOCKET] [--json] COMMAND\n"
		"commands:\n"
		"  status               daemon, policy and kernel state\n"
		"  policy check FILE    validate FILE locally (no daemon needed)\n"
		"  policy diff FILE     what applying FILE would change\n"
		"  policy apply FILE    validate, commit and persist FILE\n"
		"  policy show          running policy with per-conduit counters\n"
		"  stats                inspection counters per worker and\n"
		"                       conduit, the last violations\n"
		"  reload               re-read the daemon's configured policy\n"
		"  island on|off        isolate every zone / restore the policy\n"
		"  replay [--policy FILE] [--classify port|ndpi] [--events]\n"
		"         [--strict-stream] CAPTURE...\n"
		"                       decode and decide captures offline\n"
		"  audit verify [FILE | --spool [DIR]] [--key FILE] [--pen N]\n"
		"                       check the hash chain of audit records\n"
		"  audit tail [-n N] [-f] [--spool DIR]\n"
		"                       the last audit records of the spool\n"
		"options:\n"
		"  -s SOCKET   control socket (default $CONDUITCTL_SOCKET or %s)\n"
		"  -c CONF     conduitd.conf for audit-dir, audit-hmac-key and\n"
		"              audit-pen (default %s when readable)\n"
		"  --json      machine-readable output\n",
		CONF_CONTROL_SOCKET_DEFAULT, CONF_PATH_DEFAULT);
}

static void print_json(const json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);

	if (s != NULL) {
		printf("%s\n", s);
		free(s);
	}
}

static void print_diag_json(const json_t *diags, FILE *out)
{
	size_t i;
	json_t *d;

	json_array_foreach(diags, i, d)
	{
		const char *file =
			json_string_value(json_object_get(d, "file"));
		json_int_t line =
			json_integer_value(json_object_get(d, "line"));
		json_int_t col = json_integer_value(json_object_get(d, "col"));
		const char *msg =
			json_string_value(json_object_get(d, "message"));

		fprintf(out, "%s", file ? file : "-");
		if (line > 0)
			fprintf(out, ":%lld", (long long)line);
		if (line > 0 && col > 0)
			fprintf(out, ":%lld", (long long)col);
		fprintf(out, ": %s\n", msg ? msg : "");
	}
}

/* --- transport ----------------------------------------------------------- */

static int ctl_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = CTL_REPLY_TIMEOUT };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "%s: %s: socket path too long\n", prog, path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "%s: cannot reach conduitd at %s: %s\n", prog,
			path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Sends one request and returns the response message (new reference) or
 * NULL after printing why (daemon unreachable). */
static json_t *ctl_call(const char *sock, const char *cmd, json_t *args)
{
	static uint8_t buf[65536];
	struct ctl_decoder dec;
	struct ctl_frame f = { 0 };
	json_t *req, *resp = NULL;
	uint8_t *frame;
	size_t flen;
	int fd, rc;

	req = ctl_request_new(1, cmd, args);
	if (req == NULL) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return NULL;
	}
	rc = ctl_encode(CTL_TYPE_REQUEST, req, &frame, &flen);
	json_decref(req);
	if (rc < 0) {
		fprintf(stderr, "%s: cannot encode request: %s\n", prog,
			strerror(-rc));
		return NULL;
	}
	fd = ctl_connect(sock);
	if (fd < 0) {
		free(frame);
		return NULL;
	}
	rc = write_all(fd, frame, flen);
	free(frame);
	if (rc < 0) {
		fprintf(stderr, "%s: sending to %s: %s\n", prog, sock,
			strerror(-rc));
		close(fd);
		return NULL;
	}
	ctl_decoder_init(&dec, 0);
	while (resp == NULL) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		size_t off = 0, used;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "%s: %s: %s\n", prog, sock,
				n == 0 ? "connection closed before the reply" :
					 strerror(errno));
			break;
		}
		while (off < (size_t)n && resp == NULL) {
			enum ctl_result r = ctl_decode(
				&dec, buf + off, (size_t)n - off, &used, &f);

			off += used;
			if (r == CTL_FRAME) {
				if (f.type != CTL_TYPE_RESPONSE) {
					json_decref(f.msg);
					fprintf(stderr,
						"%s: unexpected frame type\n",
						prog);
					goto out;
				}
				resp = f.msg;
			} else if (r == CTL_ERROR) {
				fprintf(stderr, "%s: bad reply: %s\n", prog,
					ctl_decoder_reason(&dec));
				goto out;
			}
		}
	}
out:
	ctl_decoder_free(&dec);
	close(fd);
	return resp;
}

/* Runs one command; prints errors; returns the result (borrowed from
 * *resp, which the caller frees) or NULL with *exit_code set. */
static const json_t *ctl_run(const char *sock, const char *cmd, json_t *args,
			     json_t **resp, int *exit_code)
{
	const json_t *result, *error;
	const char *why;
	uint64_t id;
	bool ok;

	*resp = ctl_call(sock, cmd, args);
	if (*resp == NULL) {
		*exit_code = EXIT_UNREACHABLE;
		return NULL;
	}
	if (ctl_response_parse(*resp, &id, &ok, &result, &error, &why) < 0) {
		fprintf(stderr, "%s: bad reply: %s\n", prog, why);
		*exit_code = EXIT_UNREACHABLE;
		return NULL;
	}
	if (!ok) {
		if (opt_json) {
			print_json(error);
		} else {
			fprintf(stderr, "%s: %s: %s\n", prog,
				json_string_value(
					json_object_get(error, "code")),
				json_string_value(
					json_object_get(error, "message")));
			print_diag_json(json_object_get(error, "diagnostics"),
					stderr);
		}
		*exit_code = EXIT_REJECTED;
		return NULL;
	}
	*exit_code = 0;
	return result;
}

/* --- human output --------------------------------------------------------- */

static const char *jstr(const json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : dflt;
}

static long long jint(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static const char *fmt_time(long long t, char *buf, size_t len)
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

static const char *fmt_duration(long long s, char *buf, size_t len)
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
	return jint(json_object_get(o, a), b);
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
	       jint(i, "workers"), jint(i, "queue_first"),
	       jint(i, "queue_first") + jint(i, "queue_n") - 1,
	       jint(i, "stalled") ? " (stalled)" : "", jint(i, "packets"),
	       jint(i, "pdus_denied"), jint(i, "malformed"),
	       jint(i, "queue_drops"));
	printf("flows:       %lld of %lld, %lld violations\n",
	       jint(i, "flows_active"), jint(i, "flows_max"),
	       jint(i, "violations"));
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
	       jint(sp, "fill_pct"), jint(sp, "records"), jint(sp, "segments"),
	       jint(a, "last_seq"), jint(a, "queue_drops"));
	json_array_foreach(json_object_get(a, "collectors"), i, c)
	{
		const char *e = jstr(c, "last_error", "");

		printf("collector:   %s %s, backlog %lld, delivered %lld%s%s\n",
		       jstr(c, "name", "?"),
		       json_is_true(json_object_get(c, "up")) ? "up" : "down",
		       jint(c, "backlog"), jint(c, "delivered"),
		       e[0] ? ", last error: " : "", e);
	}
}

static void print_status(const json_t *r)
{
	const json_t *p = json_object_get(r, "policy");
	const json_t *n = json_object_get(r, "nflog");
	const json_t *m = json_object_get(r, "management");
	char b[64];

	printf("version:     %s (protocol %lld)\n", jstr(r, "version", "?"),
	       jint(r, "protocol"));
	printf("pid:         %lld\n", jint(r, "pid"));
	printf("uptime:      %s\n",
	       fmt_duration(jint(r, "uptime"), b, sizeof(b)));
	printf("user:        %s%s\n", jstr(r, "user", "?"),
	       json_is_true(json_object_get(r, "privileged")) ?
		       " (not dropped: development only)" :
		       "");
	if (json_is_object(p)) {
		printf("policy:      %s (from %s)\n", jstr(p, "file", "-"),
		       jstr(p, "source", "?"));
		printf("sha256:      %s\n", jstr(p, "sha256", "-"));
		printf("zones:       %lld\n", jint(p, "zones"));
		printf("conduits:    %lld\n", jint(p, "conduits"));
	} else {
		printf("policy:      none\n");
	}
	printf("island:      %s\n",
	       json_is_true(json_object_get(r, "island")) ? "on" : "off");
	printf("generation:  %lld\n", jint(r, "generation"));
	printf("last apply:  %s\n",
	       fmt_time(jint(r, "last_apply"), b, sizeof(b)));
	printf("features:    %s\n", jstr(r, "features_text", "-"));
	if (json_is_object(m))
		printf("management:  zone %s, port %lld\n",
		       jstr(m, "zone", "-"), jint(m, "port"));
	print_inspection(json_object_get(r, "inspection"));
	if (json_is_object(n)) {
		if (json_is_true(json_object_get(n, "active")))
			printf("nflog:       group %lld, %lld packets, %lld events, %lld lost\n",
			       jint(n, "group"), jint(n, "packets"),
			       jint(n, "events"), jint(n, "lost"));
		else
			printf("nflog:       group %lld, not active\n",
			       jint(n, "group"));
	}
	print_audit(json_object_get(r, "audit"));
}

static void fmt_service(const json_t *s, char *buf, size_t len)
{
	char tmp[1024];
	size_t off;
	const json_t *v;

	off = (size_t)snprintf(buf, len, "%s", jstr(s, "proto", "?"));
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
					" rate %lld/%s", jint(v, "count"),
					jstr(v, "unit", "?"));
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
		int l = (int)strlen(jstr(z, "name", ""));

		if (l > wz)
			wz = l;
	}
	json_array_foreach(conduits, i, c)
	{
		int l = (int)strlen(jstr(c, "name", ""));
		int ft = (int)(strlen(jstr(c, "from", "")) +
			       strlen(jstr(c, "to", "")) + 4);

		if (l > wc)
			wc = l;
		if (ft > wft)
			wft = ft;
	}
	printf("policy %s (from %s)  sha256 %.16s  generation %lld  island %s\n\n",
	       jstr(r, "file", "-"), jstr(r, "source", "?"),
	       jstr(r, "sha256", "-"), jint(r, "generation"),
	       json_is_true(json_object_get(r, "island")) ? "on" : "off");
	printf("%-*s  %-2s  %-4s  %-20s  %s\n", wz, "ZONE", "SL", "MGMT",
	       "INTERFACES", "NETWORKS");
	json_array_foreach(zones, i, z)
	{
		long long sl = jint(z, "security_level");
		char slb[8];

		snprintf(slb, sizeof(slb), "%lld", sl);
		printf("%-*s  %-2s  %-4s  %-20s  %s\n", wz,
		       jstr(z, "name", "?"), sl > 0 ? slb : "-",
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

		snprintf(ft, sizeof(ft), "%s -> %s", jstr(c, "from", "?"),
			 jstr(c, "to", "?"));
		if (json_is_object(k)) {
			snprintf(acc, sizeof(acc), "%lld/%lld",
				 jint(k, "accept_packets"),
				 jint(k, "accept_bytes"));
			snprintf(den, sizeof(den), "%lld/%lld",
				 jint(k, "deny_packets"),
				 jint(k, "deny_bytes"));
		} else {
			snprintf(acc, sizeof(acc), "-");
			snprintf(den, sizeof(den), "-");
		}
		printf("%-*s  %-*s  %21s  %21s%s\n", wc, jstr(c, "name", "?"),
		       wft, ft, acc, den,
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
			       jint(k, "malformed"));
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
		       jint(in, "workers"), jint(in, "queue_first"),
		       jint(in, "queue_first") + jint(in, "queue_n") - 1);
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
		       jint(w, "queue"), jint(w, "packets"),
		       jint2(w, "verdicts", "allow"),
		       jint2(w, "verdicts", "deny") +
			       jint2(w, "verdicts", "reject"),
		       jint2(w, "pdus", "deny") + jint2(w, "pdus", "reject"),
		       jint(w, "malformed"), jint(w, "queue_drops"),
		       jint2(w, "flows", "active"), fill, jint(w, "idle_ms"),
		       json_is_true(json_object_get(w, "stalled")) ?
			       "  STALLED" :
			       "");
	}
	printf("%-6s %10lld %10lld %8lld %8lld %8lld %9lld %7lld %9lld\n",
	       "total", jint(t, "packets"), jint2(t, "verdicts", "allow"),
	       jint2(t, "verdicts", "deny") + jint2(t, "verdicts", "reject"),
	       jint2(t, "pdus", "deny") + jint2(t, "pdus", "reject"),
	       jint(t, "malformed"), jint(t, "queue_drops"),
	       jint2(t, "flows", "active"), jint2(t, "flows", "max"));
	printf("\n%-24s %-24s %9s %9s %9s %9s %9s\n", "CONDUIT", "FROM -> TO",
	       "FLOWS", "ALLOW", "DENY", "REJECT", "MALFORMED");
	json_array_foreach(json_object_get(r, "conduits"), i, c)
	{
		char ft[128];

		snprintf(ft, sizeof(ft), "%s -> %s", jstr(c, "from", "?"),
			 jstr(c, "to", "?"));
		printf("%-24s %-24s %9lld %9lld %9lld %9lld %9lld%s\n",
		       jstr(c, "name", "?"), ft, jint2(c, "flows", "admitted"),
		       jint2(c, "pdus", "allow"), jint2(c, "pdus", "deny"),
		       jint2(c, "pdus", "reject"), jint(c, "malformed"),
		       json_is_true(json_object_get(c, "inspected")) ?
			       "" :
			       "  (kernel only)");
	}
	printf("\nviolations: %lld (%lld records)\n", jint(v, "total"),
	       jint(v, "records"));
	json_array_foreach(json_object_get(v, "recent"), i, w)
	{
		const json_t *fn = json_object_get(w, "function");
		char fb[16] = "-";

		if (json_is_integer(fn))
			snprintf(fb, sizeof(fb), "%lld",
				 (long long)json_integer_value(fn));
		printf("  %s %s %s conduit %s %s -> %s %s function %s rule %s "
		       "(line %lld) x%lld \"%s\"\n",
		       fmt_time(jint(w, "time"), when, sizeof(when)),
		       jstr(w, "kind", "?"), jstr(w, "action", "?"),
		       jstr(w, "conduit", "-"), jstr(w, "src", "-"),
		       jstr(w, "dst", "-"), jstr(w, "proto", "-"), fb,
		       jstr(w, "rule", "-"), jint(w, "line"), jint(w, "count"),
		       jstr(w, "detail", ""));
	}
}

static void print_install(const char *what, const json_t *r)
{
	const json_t *diff = json_object_get(r, "diff");

	if (json_is_true(json_object_get(r, "deferred")))
		printf("%s: %s stored (generation %lld, %lld zones, %lld conduits): %s\n",
		       what, jstr(r, "file", "-"), jint(r, "generation"),
		       jint(r, "zones"), jint(r, "conduits"),
		       jstr(r, "message", ""));
	else
		printf("%s: %s applied (generation %lld, %lld zones, %lld conduits)\n",
		       what, jstr(r, "file", "-"), jint(r, "generation"),
		       jint(r, "zones"), jint(r, "conduits"));
	if (json_is_object(diff))
		fputs(jstr(diff, "text", ""), stdout);
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
		fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > POL_SIZE_MAX_DEFAULT) {
		fprintf(stderr, "%s: %s: %s\n", prog, path,
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
	if (opt_json) {
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
		print_json(o);
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
static int cmd_send_policy(const char *sock, const char *cmd, const char *file)
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
	r = ctl_run(sock, cmd, args, &resp, &ec);
	if (r != NULL) {
		if (opt_json)
			print_json(r);
		else if (strcmp(cmd, "policy.diff") == 0)
			fputs(jstr(r, "text", ""), stdout);
		else
			print_install("policy apply", r);
	}
	json_decref(resp);
	return ec;
}

static int cmd_simple(const char *sock, const char *cmd, json_t *args,
		      void (*print)(const json_t *))
{
	json_t *resp = NULL;
	const json_t *r;
	int ec;

	r = ctl_run(sock, cmd, args, &resp, &ec);
	if (r != NULL) {
		if (opt_json)
			print_json(r);
		else
			print(r);
	}
	json_decref(resp);
	return ec;
}

static void print_reload(const json_t *r)
{
	print_install("reload", r);
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
	char sd_id[64];
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

	snprintf(a->sd_id, sizeof(a->sd_id), "conduitd@%u", a->pen);
	if (a->key_path == NULL)
		return 0;
	if (conf_read_hmac_key(a->key_path, a->key, &a->key_len, err,
			       sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return -1;
	}
	return 0;
}

/* Reads a whole file (a spool segment); NULL after printing why. */
static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		fprintf(stderr, "%s: %s: out of memory\n", prog, path);
		close(fd);
		return NULL;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "%s: %s: %s\n", prog, path,
				strerror(errno));
			free(buf);
			close(fd);
			return NULL;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	*len = got;
	return buf;
}

static int seg_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The segment files of dir in order (seg-<16 hex>.cds sorts by seq).
 * Returns the count (>= 0) with *names (free each and the array), or -1
 * after printing why. */
static int list_segments(const char *dir, char ***names)
{
	struct dirent *e;
	char **v = NULL;
	int n = 0, cap = 0;
	DIR *dp = opendir(dir);

	*names = NULL;
	if (dp == NULL) {
		fprintf(stderr, "%s: spool %s: %s\n", prog, dir,
			strerror(errno));
		return -1;
	}
	while ((e = readdir(dp)) != NULL) {
		size_t l = strlen(e->d_name);

		if (l != 24 || strncmp(e->d_name, "seg-", 4) ||
		    strcmp(e->d_name + 20, ".cds"))
			continue;
		if (n == cap) {
			char **nv;

			cap = cap ? cap * 2 : 16;
			nv = realloc(v, (size_t)cap * sizeof(*v));
			if (nv == NULL)
				break;
			v = nv;
		}
		v[n] = strdup(e->d_name);
		if (v[n] != NULL)
			n++;
	}
	closedir(dp);
	if (n > 0)
		qsort(v, (size_t)n, sizeof(*v), seg_name_cmp);
	*names = v;
	return n;
}

static void free_names(char **v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

struct verify_state {
	struct audit_cli *a;
	struct chain_verifier *v;
	uint64_t line;	      /* input line or spool record */
	uint64_t broken_line; /* where the first break was seen */
	const char *where;    /* segment file name (spool) */
	char broken_where[64];
};

/* The seq of a record, for the choice of the anchor: seq 1 is the first
 * record ever, so its predecessor must be zeros. */
static uint64_t record_seq(const char *rec, size_t len, const char *sd_id)
{
	static char scratch[R5424_MAX_LEN + R5424_MAX_PARAMS * 2 + 16];
	const struct r5424_elem *e;
	struct r5424_msg m;
	const char *s;

	if (len > R5424_MAX_LEN ||
	    r5424_parse(rec, len, &m, scratch, sizeof(scratch), NULL) < 0)
		return 0;
	e = r5424_find_elem(&m, sd_id);
	s = e ? r5424_find_param(&m, e, "seq") : NULL;
	return s ? strtoull(s, NULL, 10) : 0;
}

static int verify_feed(struct verify_state *st, const char *rec, size_t len)
{
	static const uint8_t zeros[CHAIN_LEN];
	enum chain_result r;

	if (st->v == NULL) {
		st->v = chain_verify_new(
			st->a->sd_id,
			record_seq(rec, len, st->a->sd_id) == 1 ? zeros : NULL,
			st->a->key_len ? st->a->key : NULL, st->a->key_len);
		if (st->v == NULL) {
			fprintf(stderr, "%s: out of memory\n", prog);
			return -1;
		}
	}
	r = chain_verify_feed(st->v, rec, len);
	if (r == CHAIN_BROKEN && st->broken_line == 0) {
		st->broken_line = st->line;
		snprintf(st->broken_where, sizeof(st->broken_where), "%s",
			 st->where ? st->where : "");
	}
	return 0;
}

static int verify_spool_rec(uint64_t seq, const uint8_t chain[32],
			    const void *rec, size_t len, void *arg)
{
	struct verify_state *st = arg;

	(void)seq;
	(void)chain;
	st->line++;
	return verify_feed(st, rec, len) < 0 ? -1 : 0;
}

/* Prints the outcome; returns the exit code. */
static int verify_report(struct verify_state *st, const char *input,
			 uint64_t skipped_lines, const char *stop_error)
{
	const struct chain_verify_report *r =
		st->v ? chain_verify_report(st->v) : NULL;
	static const struct chain_verify_report none;
	bool broken;

	if (r == NULL)
		r = &none;
	broken = r->broken || stop_error != NULL;
	if (opt_json) {
		json_t *o = json_pack(
			"{s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:b}",
			"input", input, "intact", !broken, "records",
			(json_int_t)r->records, "first_seq",
			(json_int_t)r->first_seq, "last_seq",
			(json_int_t)r->last_seq, "duplicates",
			(json_int_t)r->duplicates, "not_ours",
			(json_int_t)r->skipped, "skipped_lines",
			(json_int_t)skipped_lines, "hmac", st->a->key_len > 0);

		if (o != NULL && broken)
			json_object_set_new(
				o, "broken",
				r->broken ?
					json_pack("{s:I, s:I, s:s, s:s}", "seq",
						  (json_int_t)r->broken_seq,
						  "line",
						  (json_int_t)st->broken_line,
						  "segment", st->broken_where,
						  "reason", r->reason) :
					json_pack("{s:s}", "reason",
						  stop_error));
		print_json(o);
		json_decref(o);
	} else if (r->broken) {
		if (st->broken_where[0])
			printf("%s: seq %llu (%s, record %llu): %s\n", input,
			       (unsigned long long)r->broken_seq,
			       st->broken_where,
			       (unsigned long long)st->broken_line, r->reason);
		else
			printf("%s: seq %llu (line %llu): %s\n", input,
			       (unsigned long long)r->broken_seq,
			       (unsigned long long)st->broken_line, r->reason);
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
				prog, (unsigned long long)skipped_lines,
				(unsigned long long)r->skipped);
	}
	return broken ? EXIT_REJECTED : 0;
}

static int verify_file(struct audit_cli *a, const char *file)
{
	struct verify_state st = { .a = a };
	uint64_t skipped = 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f = strcmp(file, "-") ? fopen(file, "re") : stdin;
	int ec;

	if (f == NULL) {
		fprintf(stderr, "%s: %s: %s\n", prog, file, strerror(errno));
		return EXIT_USAGE;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		size_t len = (size_t)n;

		st.line++;
		while (len > 0 &&
		       (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		if (len == 0 || line[0] != '<') {
			skipped++;
			continue;
		}
		if (verify_feed(&st, line, len) < 0) {
			free(line);
			if (f != stdin)
				fclose(f);
			chain_verify_free(st.v);
			return EXIT_USAGE;
		}
	}
	ec = ferror(f) ? EXIT_USAGE : 0;
	if (ec)
		fprintf(stderr, "%s: %s: read error\n", prog, file);
	free(line);
	if (f != stdin)
		fclose(f);
	if (ec == 0)
		ec = verify_report(&st, file, skipped, NULL);
	chain_verify_free(st.v);
	return ec;
}

static int verify_spool(struct audit_cli *a)
{
	struct verify_state st = { .a = a };
	char path[PATH_MAX], stop[256] = "";
	char **names;
	int n, ec = 0;

	n = list_segments(a->spool, &names);
	if (n < 0)
		return EXIT_USAGE;
	for (int i = 0; i < n && !stop[0]; i++) {
		const char *why = NULL;
		size_t len = 0;
		uint8_t *img;
		long end;

		snprintf(path, sizeof(path), "%s/%s", a->spool, names[i]);
		img = slurp(path, &len);
		if (img == NULL) {
			ec = EXIT_USAGE;
			break;
		}
		st.where = names[i];
		st.line = 0;
		end = spool_segment_scan(img, len, verify_spool_rec, &st, &why);
		free(img);
		if (end < 0)
			snprintf(stop, sizeof(stop), "%s: bad segment header",
				 names[i]);
		else if ((size_t)end < len && i < n - 1)
			snprintf(stop, sizeof(stop),
				 "%s: stops at offset %ld of %zu: %s", names[i],
				 end, len, why ? why : "bad record");
		else if ((size_t)end < len)
			/* the newest segment: a record being appended or the
			 * torn tail the daemon cuts at its next start */
			fprintf(stderr,
				"%s: %s: %zu bytes after offset %ld ignored "
				"(%s: torn or being written)\n",
				prog, names[i], len - (size_t)end, end,
				why ? why : "incomplete record");
	}
	free_names(names, n);
	if (ec == 0)
		ec = verify_report(&st, a->spool, 0, stop[0] ? stop : NULL);
	chain_verify_free(st.v);
	return ec;
}

static int audit_verify_main(int argc, char **argv, const char *conf_path)
{
	static const struct option lopts[] = {
		{ "spool", no_argument, NULL, 'S' },
		{ "key", required_argument, NULL, 'k' },
		{ "pen", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
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
	if (optind != argc || (file != NULL) == spool) {
		fprintf(stderr,
			"%s: audit verify: give FILE or --spool [DIR]\n", prog);
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
				"%s: --pen %s: expected 1..4294967294\n", prog,
				pen);
			conf_free(&c);
			return EXIT_USAGE;
		}
		a.pen = (unsigned)v;
	}
	if (audit_cli_key(&a) < 0) {
		conf_free(&c);
		return EXIT_USAGE;
	}
	ec = spool ? verify_spool(&a) : verify_file(&a, file);
	explicit_bzero(a.key, sizeof(a.key));
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

struct tail_rec {
	uint64_t seq;
	size_t len;
	char *rec;
};

struct tail_state {
	struct tail_rec *ring; /* last n (n > 0), or NULL: print at once */
	unsigned n, count, head;
	uint64_t last_seq; /* printed up to */
};

static void tail_print(uint64_t seq, const char *rec, size_t len)
{
	if (opt_json) {
		json_t *o = record_json(seq, rec, len);
		char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

		if (s != NULL)
			printf("%s\n", s);
		free(s);
		json_decref(o);
	} else {
		printf("%.*s\n", (int)len, rec);
	}
}

static int tail_rec_cb(uint64_t seq, const uint8_t chain[32], const void *rec,
		       size_t len, void *arg)
{
	struct tail_state *t = arg;
	struct tail_rec *r;

	(void)chain;
	if (seq <= t->last_seq)
		return 0;
	t->last_seq = seq;
	if (t->ring == NULL) {
		tail_print(seq, rec, len);
		return 0;
	}
	r = &t->ring[t->head];
	free(r->rec);
	r->rec = malloc(len);
	if (r->rec == NULL)
		return -1;
	memcpy(r->rec, rec, len);
	r->len = len;
	r->seq = seq;
	t->head = (t->head + 1) % t->n;
	if (t->count < t->n)
		t->count++;
	return 0;
}

/* Scans the segments that may hold records after t->last_seq. */
static int tail_scan(const char *dir, struct tail_state *t)
{
	char path[PATH_MAX];
	char **names;
	int n = list_segments(dir, &names);

	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		uint8_t *img;
		size_t len;

		/* a later segment starts at or before last_seq + 1: this
		 * one holds nothing new */
		if (i + 1 < n &&
		    strtoull(names[i + 1] + 4, NULL, 16) <= t->last_seq + 1)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		img = slurp(path, &len);
		if (img == NULL)
			continue; /* deleted since the listing */
		(void)spool_segment_scan(img, len, tail_rec_cb, t, NULL);
		free(img);
	}
	free_names(names, n);
	fflush(stdout);
	return 0;
}

static int audit_tail_main(int argc, char **argv, const char *conf_path)
{
	static const struct option lopts[] = {
		{ "spool", required_argument, NULL, 'S' },
		{ "follow", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	struct tail_state t = { 0 };
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
					prog, optarg);
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
	if (audit_cli_init(&a, conf_path, dir, sizeof(dir), &c) < 0) {
		conf_free(&c);
		return EXIT_USAGE;
	}
	if (dir_arg)
		a.spool = dir_arg;
	if (n > 0) {
		t.n = (unsigned)n;
		t.ring = calloc(t.n, sizeof(*t.ring));
		if (t.ring == NULL) {
			conf_free(&c);
			return EXIT_USAGE;
		}
	} else {
		t.n = 0;
		t.ring = NULL;
	}
	if (n == 0) {
		/* nothing of the past: start after the newest record */
		struct tail_rec one = { 0 };

		t.ring = &one;
		t.n = 1;
		if (tail_scan(a.spool, &t) < 0)
			ec = EXIT_USAGE;
		free(one.rec);
		t.ring = NULL;
		t.n = 0;
	} else {
		if (tail_scan(a.spool, &t) < 0)
			ec = EXIT_USAGE;
		for (unsigned i = 0; i < t.count; i++) {
			struct tail_rec *r =
				&t.ring[(t.head + t.n - t.count + i) % t.n];

			tail_print(r->seq, r->rec, r->len);
		}
		for (unsigned i = 0; i < t.n; i++)
			free(t.ring[i].rec);
		free(t.ring);
		t.ring = NULL;
	}
	fflush(stdout);
	while (follow && ec == 0) {
		struct timespec ts = { 0, 200 * 1000000L };

		nanosleep(&ts, NULL);
		if (tail_scan(a.spool, &t) < 0)
			ec = EXIT_USAGE;
	}
	conf_free(&c);
	return ec;
}

static int audit_main(int nargs, char **a, const char *conf_path)
{
	if (nargs >= 2 && strcmp(a[1], "verify") == 0)
		return audit_verify_main(nargs - 1, a + 1, conf_path);
	if (nargs >= 2 && strcmp(a[1], "tail") == 0)
		return audit_tail_main(nargs - 1, a + 1, conf_path);
	usage(stderr);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "conf", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = getenv("CONDUITCTL_SOCKET");
	const char *conf_path = NULL;
	int ch, nargs;
	char **a;

	if (sock == NULL || *sock == '\0')
		sock = CONF_CONTROL_SOCKET_DEFAULT;
	while ((ch = getopt_long(argc, argv, "+s:c:jhV", lopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			sock = optarg;
			break;
		case 'c':
			conf_path = optarg;
			break;
		case 'j':
			opt_json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("conduitctl %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	a = argv + optind;
	nargs = argc - optind;
	/* Allow --json after the command too ("conduitctl status --json"). */
	for (int i = 0; i < nargs; i++)
		if (strcmp(a[i], "--json") == 0) {
			opt_json = true;
			memmove(&a[i], &a[i + 1],
				(size_t)(nargs - i - 1) * sizeof(*a));
			nargs--;
			i--;
		}
	if (nargs >= 1 && strcmp(a[0], "replay") == 0)
		return replay_main(nargs, a, opt_json);
	if (nargs >= 1 && strcmp(a[0], "audit") == 0)
		return audit_main(nargs, a, conf_path);
	if (nargs == 1 && strcmp(a[0], "status") == 0)
		return cmd_simple(sock, "status", NULL, print_status);
	if (nargs == 1 && strcmp(a[0], "stats") == 0)
		return cmd_simple(sock, "stats", NULL, print_stats);
	if (nargs == 1 && strcmp(a[0], "reload") == 0)
		return cmd_simple(sock, "reload", NULL, print_reload);
	if (nargs == 2 && strcmp(a[0], "island") == 0 &&
	    (strcmp(a[1], "on") == 0 || strcmp(a[1], "off") == 0))
		return cmd_simple(sock, "island",
				  json_pack("{s:b}", "on",
					    strcmp(a[1], "on") == 0),
				  print_island);
	if (nargs >= 2 && strcmp(a[0], "policy") == 0) {
		if (nargs == 2 && strcmp(a[1], "show") == 0)
			return cmd_simple(sock, "policy.show", NULL,
					  print_policy_show);
		if (nargs == 3 && strcmp(a[1], "check") == 0)
			return cmd_check_local(a[2]);
		if (nargs == 3 && strcmp(a[1], "diff") == 0)
			return cmd_send_policy(sock, "policy.diff", a[2]);
		if (nargs == 3 && strcmp(a[1], "apply") == 0)
			return cmd_send_policy(sock, "policy.apply", a[2]);
	}
	usage(stderr);
	return EXIT_USAGE;
}
