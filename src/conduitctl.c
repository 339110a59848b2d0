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

#include <errno.h>
#include <fcntl.h>
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
		"options:\n"
		"  -s SOCKET   control socket (default $CONDUITCTL_SOCKET or %s)\n"
		"  --json      machine-readable output\n",
		CONF_CONTROL_SOCKET_DEFAULT);
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

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = getenv("CONDUITCTL_SOCKET");
	int ch, nargs;
	char **a;

	if (sock == NULL || *sock == '\0')
		sock = CONF_CONTROL_SOCKET_DEFAULT;
	while ((ch = getopt_long(argc, argv, "+s:jhV", lopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			sock = optarg;
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
