/*
 * conduitd.conf reader: every key, the defaults, and the diagnostics
 * (file:line:col) for each kind of bad input, all reported in one run.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/diag.h"

static char conf_path[64];

static void write_conf(const char *text)
{
	int fd;
	FILE *f;

	strcpy(conf_path, "/tmp/test_conf.XXXXXX");
	fd = mkstemp(conf_path);
	cr_assert(fd >= 0);
	f = fdopen(fd, "w");
	cr_assert(f != NULL);
	fputs(text, f);
	fclose(f);
}

static void cleanup(void)
{
	if (conf_path[0])
		unlink(conf_path);
	conf_path[0] = '\0';
}

/* Loads text; returns conf_load's result with c and dl filled. */
static int load(const char *text, struct conf *c, struct diag_list *dl)
{
	write_conf(text);
	cr_assert_eq(conf_init(c), 0);
	diag_list_init(dl);
	return conf_load(c, conf_path, dl);
}

static void assert_diag(const struct diag_list *dl, size_t i, int line, int col,
			const char *substr)
{
	cr_assert(i < dl->n, "only %zu diagnostics", dl->n);
	cr_expect_str_eq(dl->v[i].file, conf_path);
	cr_expect_eq(dl->v[i].line, line, "line %d, want %d (%s)",
		     dl->v[i].line, line, dl->v[i].msg);
	cr_expect_eq(dl->v[i].col, col, "col %d, want %d (%s)", dl->v[i].col,
		     col, dl->v[i].msg);
	cr_expect(strstr(dl->v[i].msg, substr) != NULL, "\"%s\" lacks \"%s\"",
		  dl->v[i].msg, substr);
}

/* CR 7.6 */
Test(conf, defaults, .fini = cleanup)
{
	struct conf c;

	cr_assert_eq(conf_init(&c), 0);
	cr_expect_str_eq(c.policy, SYSCONFDIR "/conduitd/policy.yaml");
	cr_expect_null(c.management_zone);
	cr_expect_eq(c.management_port, 0);
	cr_expect_eq(c.nflog_group, 7);
	cr_expect_eq(c.log_rate, 10);
	cr_expect_eq(c.deny_log_interval, 10);
	cr_expect_str_eq(c.control_socket,
			 RUNSTATEDIR "/conduitd/control.sock");
	cr_expect_str_eq(c.control_group, "conduitd");
	cr_expect_str_eq(c.state_dir, LOCALSTATEDIR "/lib/conduitd");
	cr_expect_str_eq(c.pidfile, RUNSTATEDIR "/conduitd/conduitd.pid");
	cr_expect_eq(c.log_level, LOG_LEVEL_INFO);
	cr_expect_str_eq(c.user, "conduitd");
	cr_expect_not(conf_user_is_none(&c));
	conf_free(&c);
}

/* CR 2.8 */
Test(conf, audit_defaults, .fini = cleanup)
{
	char dir[256];
	struct conf c;

	cr_assert_eq(conf_init(&c), 0);
	cr_expect_null(c.audit_dir);
	cr_expect_str_eq(conf_audit_dir(&c, dir, sizeof(dir)),
			 LOCALSTATEDIR "/lib/conduitd/audit");
	cr_expect_eq(c.audit_capacity, 64ull << 20);
	cr_expect_eq(c.audit_segment_size, 4ull << 20);
	cr_expect_eq(c.audit_fsync_ms, 100);
	cr_expect_eq(c.audit_warn_pct, 80);
	cr_expect_eq(c.audit_full, CONF_AUDIT_OVERWRITE_OLDEST);
	cr_expect_null(c.audit_hmac_key);
	cr_expect_eq(c.audit_pen, 32473);
	cr_expect_eq(c.audit_facility, 13);
	cr_expect_null(c.audit_hostname);
	cr_expect_null(c.audit_jsonl);
	cr_expect_eq(c.audit_health_interval, 300);
	cr_expect_eq(c.n_collectors, 0);
	conf_free(&c);
}

/* CR 2.8 */
Test(conf, audit_every_key, .fini = cleanup)
{
	char dir[256];
	struct diag_list dl;
	struct conf c;
	const struct conf_collector *k;
	int rc;

	rc = load("state-dir /var/lib/cd\n"
		  "audit-dir spool\n"
		  "audit-capacity 1G\n"
		  "audit-segment-size 512k\n"
		  "audit-fsync record\n"
		  "audit-warn-percent 90\n"
		  "audit-full drop-new\n"
		  "audit-hmac-key /etc/cd/audit.key\n"
		  "audit-pen 99999\n"
		  "audit-facility local4\n"
		  "audit-hostname gw-17.plant\n"
		  "audit-jsonl /var/log/cd/audit.jsonl\n"
		  "audit-health-interval 0\n"
		  "audit-collector siem tls siem.plant 6514 ca ca.pem "
		  "cert gw.pem key gw.key server-name siem.example "
		  "settle-ms 250 backoff-max-ms 60000\n"
		  "audit-collector relay udp ::1 514\n"
		  "audit-collector backup tcp 127.0.0.1 syslog\n"
		  "audit-collector anon tls 10.0.0.1 6514 ca /ca.pem "
		  "no-client-cert\n",
		  &c, &dl);
	cr_assert_eq(rc, 0, "rc %d, %zu diags: %s", rc, dl.n,
		     dl.n ? dl.v[0].msg : "");
	cr_expect_str_eq(c.audit_dir, "/tmp/spool");
	cr_expect_str_eq(conf_audit_dir(&c, dir, sizeof(dir)), "/tmp/spool");
	cr_expect_eq(c.audit_capacity, 1ull << 30);
	cr_expect_eq(c.audit_segment_size, 512ull << 10);
	cr_expect_eq(c.audit_fsync_ms, 0);
	cr_expect_eq(c.audit_warn_pct, 90);
	cr_expect_eq(c.audit_full, CONF_AUDIT_DROP_NEW);
	cr_expect_str_eq(c.audit_hmac_key, "/etc/cd/audit.key");
	cr_expect_eq(c.audit_pen, 99999);
	cr_expect_eq(c.audit_facility, 20);
	cr_expect_str_eq(c.audit_hostname, "gw-17.plant");
	cr_expect_str_eq(c.audit_jsonl, "/var/log/cd/audit.jsonl");
	cr_expect_eq(c.audit_health_interval, 0);
	cr_assert_eq(c.n_collectors, 4);
	k = &c.collectors[0];
	cr_expect_str_eq(k->name, "siem");
	cr_expect_eq(k->proto, CONF_AUDIT_TLS);
	cr_expect_str_eq(k->host, "siem.plant");
	cr_expect_str_eq(k->port, "6514");
	cr_expect_str_eq(k->ca, "/tmp/ca.pem");
	cr_expect_str_eq(k->cert, "/tmp/gw.pem");
	cr_expect_str_eq(k->key, "/tmp/gw.key");
	cr_expect_str_eq(k->server_name, "siem.example");
	cr_expect_not(k->no_client_cert);
	cr_expect_eq(k->settle_ms, 250);
	cr_expect_eq(k->backoff_max_ms, 60000);
	cr_expect_eq(k->line, 14);
	k = &c.collectors[1];
	cr_expect_str_eq(k->name, "relay");
	cr_expect_eq(k->proto, CONF_AUDIT_UDP);
	cr_expect_str_eq(k->host, "::1");
	cr_expect_str_eq(k->port, "514");
	cr_expect_null(k->ca);
	cr_expect_eq(k->settle_ms, 0);
	k = &c.collectors[2];
	cr_expect_eq(k->proto, CONF_AUDIT_TCP);
	cr_expect_str_eq(k->port, "syslog");
	k = &c.collectors[3];
	cr_expect(k->no_client_cert);
	cr_expect_null(k->cert);
	cr_expect_str_eq(k->ca, "/ca.pem");
	conf_free(&c);
	diag_list_free(&dl);
}

/* CR 2.8 */
Test(conf, audit_sizes_and_facilities, .fini = cleanup)
{
	struct diag_list dl;
	struct conf c;

	cr_assert_eq(load("audit-capacity 262144\n"
			  "audit-segment-size 64K\n"
			  "audit-fsync 5000\n"
			  "audit-facility 0\n",
			  &c, &dl),
		     0);
	cr_expect_eq(c.audit_capacity, 262144);
	cr_expect_eq(c.audit_segment_size, 65536);
	cr_expect_eq(c.audit_fsync_ms, 5000);
	cr_expect_eq(c.audit_facility, 0);
	conf_free(&c);
	diag_list_free(&dl);
	cr_expect_eq(conf_facility_parse("audit"), 13);
	cr_expect_eq(conf_facility_parse("authpriv"), 10);
	cr_expect_eq(conf_facility_parse("local0"), 16);
	cr_expect_eq(conf_facility_parse("local7"), 23);
	cr_expect_eq(conf_facility_parse("23"), 23);
	cr_expect_eq(conf_facility_parse("24"), -1);
	cr_expect_eq(conf_facility_parse("local8"), -1);
	cr_expect_eq(conf_facility_parse(""), -1);
}

/* CR 2.8 */
Test(conf, audit_value_errors, .fini = cleanup)
{
	struct diag_list dl;
	struct conf c;

	cr_expect_eq(load("audit-capacity 64X\n"
			  "audit-segment-size 1G\n"
			  "audit-fsync sometimes\n"
			  "audit-warn-percent 100\n"
			  "audit-full block\n"
			  "audit-pen 0\n"
			  "audit-facility local9\n"
			  "audit-hostname two words\n"
			  "audit-health-interval 1d\n"
			  "audit-capacity 99999999999999999G\n",
			  &c, &dl),
		     -EINVAL);
	cr_assert_eq(dl.n, 10, "%zu diags", dl.n);
	assert_diag(&dl, 0, 1, 16, "expected a size");
	assert_diag(&dl, 1, 3, 13, "expected \"record\" or milliseconds");
	assert_diag(&dl, 2, 4, 20, "100 is out of range 1..99");
	assert_diag(&dl, 3, 5, 12,
		    "expected overwrite-oldest or drop-new, got \"block\"");
	assert_diag(&dl, 4, 6, 11, "0 is out of range");
	assert_diag(&dl, 5, 7, 16, "expected a facility name");
	assert_diag(&dl, 6, 8, 16, "expected one word");
	assert_diag(&dl, 7, 9, 23, "expected a decimal number");
	assert_diag(&dl, 8, 10, 1, "duplicate key (first set on line 1)");
	/* 1G segments do not fit twice into the default 64M */
	assert_diag(&dl, 9, 2, 0, "less than two segments");
	cr_expect_eq(c.audit_segment_size, 1ull << 30);
	cr_expect_eq(c.audit_capacity, 64ull << 20,
		     "failed values keep the default");
	conf_free(&c);
	diag_list_free(&dl);
}

/* CR 2.8 */
Test(conf, audit_collector_errors, .fini = cleanup)
{
	struct diag_list dl;
	struct conf c;

	cr_expect_eq(
		load("audit-collector a tcp 127.0.0.1 6514\n"
		     "audit-collector b smtp 127.0.0.1 25\n"
		     "audit-collector c tls siem 6514 cert c.pem key c.key\n"
		     "audit-collector d tls siem 6514 ca ca.pem cert c.pem\n"
		     "audit-collector e tls siem 6514 ca ca.pem\n"
		     "audit-collector a udp 127.0.0.1 514\n"
		     "audit-collector f tcp 127.0.0.1 70000\n"
		     "audit-collector g tcp 127.0.0.1 514 settle-ms 1s\n"
		     "audit-collector h tcp 127.0.0.1 514 ca ca.pem\n"
		     "audit-collector i tcp 127.0.0.1\n"
		     "audit-collector j tcp 127.0.0.1 514 frobnicate 1\n"
		     "audit-collector k/x tcp 127.0.0.1 514\n"
		     "audit-collector l tls siem 6514 ca ca.pem key c.key\n",
		     &c, &dl),
		-EINVAL);
	cr_assert_eq(dl.n, 12, "%zu diags", dl.n);
	assert_diag(&dl, 0, 2, 19, "unknown protocol \"smtp\"");
	assert_diag(&dl, 1, 3, 19, "tls needs \"ca FILE\"");
	assert_diag(&dl, 2, 4, 19, "cert without key");
	assert_diag(&dl, 3, 5, 19, "mutual authentication needs");
	assert_diag(&dl, 4, 6, 17, "duplicate name \"a\" (first on line 1)");
	assert_diag(&dl, 5, 7, 33, "expected 1..65535");
	assert_diag(&dl, 6, 8, 47, "settle-ms: expected a decimal number");
	assert_diag(&dl, 7, 9, 19, "for tls only");
	assert_diag(&dl, 8, 10, 17, "expected NAME PROTO HOST PORT");
	assert_diag(&dl, 9, 11, 37, "unknown option \"frobnicate\"");
	assert_diag(&dl, 10, 12, 17, "name \"k/x\"");
	assert_diag(&dl, 11, 13, 19, "key without cert");
	cr_expect_eq(c.n_collectors, 1, "only the good line is kept");
	conf_free(&c);
	diag_list_free(&dl);
}

/* CR 2.8 */
Test(conf, audit_collector_limit, .fini = cleanup)
{
	char text[2048];
	size_t off = 0;
	struct diag_list dl;
	struct conf c;

	for (int i = 0; i < 9; i++)
		off += (size_t)snprintf(
			text + off, sizeof(text) - off,
			"audit-collector c%d udp 127.0.0.1 %d\n", i, 5140 + i);
	cr_expect_eq(load(text, &c, &dl), -EINVAL);
	cr_assert_eq(dl.n, 1);
	assert_diag(&dl, 0, 9, 17, "more than 8 collectors");
	cr_expect_eq(c.n_collectors, 8);
	conf_free(&c);
	diag_list_free(&dl);
}

static void write_key(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	fclose(f);
}

/* CR 3.9 */
Test(conf, hmac_key_file, .fini = cleanup)
{
	const char *path = "/tmp/test_conf.key";
	uint8_t key[CONF_AUDIT_KEY_MAX], raw[40];
	char hex[200], err[256];
	size_t len;

	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)(0xf0 + i);
	write_key(path, raw, sizeof(raw));
	cr_assert_eq(conf_read_hmac_key(path, key, &len, err, sizeof(err)), 0,
		     "%s", err);
	cr_expect_eq(len, 40);
	cr_expect_arr_eq(key, raw, 40);

	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02X", 0xa0 + i);
	strcat(hex, "\n");
	write_key(path, hex, strlen(hex));
	cr_assert_eq(conf_read_hmac_key(path, key, &len, err, sizeof(err)), 0,
		     "%s", err);
	cr_expect_eq(len, 32);
	cr_expect_eq(key[0], 0xa0);
	cr_expect_eq(key[31], 0xbf);

	write_key(path, raw, 31);
	cr_expect_eq(conf_read_hmac_key(path, key, &len, err, sizeof(err)),
		     -EINVAL);
	cr_expect(strstr(err, path) && strstr(err, "got 31 bytes"), "%s", err);

	write_key(path, hex, 63); /* odd number of hex digits: raw, too long */
	cr_expect_eq(conf_read_hmac_key(path, key, &len, err, sizeof(err)),
		     -EINVAL);
	cr_expect(strstr(err, "expected 32..64 raw bytes"), "%s", err);
	unlink(path);
	cr_expect_eq(conf_read_hmac_key(path, key, &len, err, sizeof(err)),
		     -ENOENT);
	cr_expect(strstr(err, "No such file"), "%s", err);
}

/* CR 7.6 */
Test(conf, every_key, .fini = cleanup)
{
	struct diag_list dl;
	struct conf c;
	int rc;

	rc = load("# a comment\n"
		  "\n"
		  "policy /etc/conduitd/plant.yaml\n"
		  "management-zone control\n"
		  "management-port 8443\n"
		  "nflog-group 42\n"
		  "log-rate 250\n"
		  "deny-log-interval 30\n"
		  "control-socket /run/cd/ctl.sock\n"
		  "control-group ops\n"
		  "state-dir /var/lib/cd\n"
		  "pidfile /run/cd/cd.pid\n"
		  "log-level debug\n"
		  "user _conduit\n",
		  &c, &dl);
	cr_assert_eq(rc, 0, "rc %d, %zu diags", rc, dl.n);
	cr_expect_eq(dl.n, 0);
	cr_expect_str_eq(c.policy, "/etc/conduitd/plant.yaml");
	cr_expect_str_eq(c.management_zone, "control");
	cr_expect_eq(c.management_zone_line, 4);
	cr_expect_eq(c.management_port, 8443);
	cr_expect_eq(c.nflog_group, 42);
	cr_expect_eq(c.log_rate, 250);
	cr_expect_eq(c.deny_log_interval, 30);
	cr_expect_str_eq(c.control_socket, "/run/cd/ctl.sock");
	cr_expect_str_eq(c.control_group, "ops");
	cr_expect_str_eq(c.state_dir, "/var/lib/cd");
	cr_expect_str_eq(c.pidfile, "/run/cd/cd.pid");
	cr_expect_eq(c.log_level, LOG_LEVEL_DEBUG);
	cr_expect_str_eq(c.user, "_conduit");
	cr_expect_str_eq(c.file, conf_path);
	conf_free(&c);
	diag_list_free(&dl);
}

/* CR 7.6 */
Test(conf, comments_whitespace_crlf, .fini = cleanup)
{
	struct diag_list dl;
	struct conf c;

	cr_assert_eq(load("   # indented comment\n"
			  "\tnflog-group\t 9   # trailing comment\r\n"
			  "log-level warn\r\n"
			  "user -\n"
			  "management-port 0", /* no final newline */
			  &c, &dl),
		     0);
	cr_expect_eq(c.nflog_group, 9);
	cr_expect_eq(c.log_level, LOG_LEVEL_WARN);
	cr_expect(conf_user_is_none(&c));
	cr_expect_eq(c.management_port, 0);
	conf_free(&c);
	diag_list_free(&dl);
}

/* CR 7.6 */
Test(conf, relative_paths_follow_the_conf_file, .fini = cleanup)
{
	struct diag_list dl;
	struct conf c;

	cr_assert_eq(load("policy plant.yaml\nstate-dir state\n", &c, &dl), 0);
	cr_expect_str_eq(c.policy, "/tmp/plant.yaml");
	cr_expect_str_eq(c.state_dir, "/tmp/state");
	conf_free(&c);
	diag_list_free(&dl);
}

/* CR 7.6 */
Test(conf, unknown_key, .fini = cleanup)
{
	struct diag_list dl;
	struct conf c;

	cr_expect_eq(load("nflog-group 7\n  polcy /x.yaml\n", &c, &dl),
		     -EINVAL);
	cr_assert_eq(dl.n, 1);
	assert_diag(&dl, 0, 2, 3, "unknown key \"polcy\"");
	conf_free(&c);
	diag_list_free(&dl);
}

/* CR 7.6 */
Test(conf, bad_numbers, .fini = cleanup)
{
	struct diag_list dl;
	struct conf c;

	cr_expect_eq(load("nflog-group 65536\n"
			  "management-port -1\n"
			  "log-rate 0\n"
			  "deny-log-interval 10s\n"
			  "log-rate 99999999999999999999999\n"
			  "management-port +22\n"
			  "deny-log-interval 0x10\n",
			  &c, &dl),
		     -EINVAL);
	cr_assert_eq(dl.n, 7, "%zu diags", dl.n);
	assert_diag(&dl, 0, 1, 13, "65536 is out of range 0..65535");
	assert_diag(&dl, 1, 2, 17, "expected a decimal number, got \"-1\"");
	assert_diag(&dl, 2, 3, 10, "0 is out of range 1..1000000");
	assert_diag(&dl, 3, 4, 19, "expected a decimal number, got \"10s\"");
	assert_diag(&dl, 4, 5, 1, "duplicate key (first set on line 3)");
	assert_diag(&dl, 5, 6, 1, "duplicate key (first set on line 2)");
	assert_diag(&dl, 6, 7, 1, "duplicate key (first set on line 4)");
	/* Values that failed leave the defaults in place. */
	cr_expect_eq(c.nflog_group, 7);
	cr_expect_eq(c.log_rate, 10);
	conf_free(&c);
	diag_list_free(&dl);
}

/* CR 7.6 */
Test(conf, number_overflow_and_junk, .fini = cleanup)
{
	struct diag_list dl;
	struct conf c;

	cr_expect_eq(load("log-rate 99999999999999999999999\n"
			  "management-port +22\n"
			  "deny-log-interval 0x10\n",
			  &c, &dl),
		     -EINVAL);
	cr_assert_eq(dl.n, 3);
	assert_diag(&dl, 0, 1, 10, "out of range");
	assert_diag(&dl, 1, 2, 17, "expected a decimal number");
	assert_diag(&dl, 2, 3, 19, "expected a decimal number");
	conf_free(&c);
	diag_list_free(&dl);
}

/* CR 7.6 */
Test(conf, every_error_in_one_run, .fini = cleanup)
{
	struct diag_list dl;
	struct conf c;

	cr_expect_eq(load("policy\n"
			  "log-level loud\n"
			  "control-group \"ops\"\n"
			  "policy two words\n"
			  "user ro ot\n"
			  "nflog-group 7\n"
			  "nflog-group 8\n",
			  &c, &dl),
		     -EINVAL);
	cr_assert_eq(dl.n, 6, "%zu diags", dl.n);
	assert_diag(&dl, 0, 1, 1, "policy: missing value");
	assert_diag(&dl, 1, 2, 11, "expected err, warn, info or debug");
	assert_diag(&dl, 2, 3, 15, "control-group: expected a name");
	assert_diag(&dl, 3, 4, 8, "expected one path");
	assert_diag(&dl, 4, 5, 6, "user: expected a name");
	assert_diag(&dl, 5, 7, 1,
		    "nflog-group: duplicate key (first set on line 6)");
	conf_free(&c);
	diag_list_free(&dl);
}

/* CR 7.6 */
Test(conf, long_line_and_nul, .fini = cleanup)
{
	char *big = malloc(CONF_LINE_MAX + 64);
	struct diag_list dl;
	struct conf c;
	FILE *f;
	int fd;

	cr_assert_not_null(big);
	memset(big, 'a', CONF_LINE_MAX + 10);
	big[CONF_LINE_MAX + 10] = '\0';
	strcpy(conf_path, "/tmp/test_conf.XXXXXX");
	fd = mkstemp(conf_path);
	f = fdopen(fd, "w");
	fprintf(f, "policy /%s\n", big);
	fwrite("nflog-group 1\0\n", 1, 15, f);
	fprintf(f, "log-rate 5\n");
	fclose(f);
	free(big);
	cr_assert_eq(conf_init(&c), 0);
	diag_list_init(&dl);
	cr_expect_eq(conf_load(&c, conf_path, &dl), -EINVAL);
	cr_assert_eq(dl.n, 2);
	assert_diag(&dl, 0, 1, 0, "line longer than");
	assert_diag(&dl, 1, 2, 0, "NUL byte");
	cr_expect_eq(c.log_rate, 5, "the scan goes on after errors");
	conf_free(&c);
	diag_list_free(&dl);
}

/* CR 7.6 */
Test(conf, missing_file, .fini = cleanup)
{
	struct diag_list dl;
	struct conf c;

	cr_assert_eq(conf_init(&c), 0);
	diag_list_init(&dl);
	cr_expect_eq(conf_load(&c, "/nonexistent/conduitd.conf", &dl), -ENOENT);
	cr_assert_eq(dl.n, 1);
	cr_expect(strstr(dl.v[0].msg, "cannot open") != NULL);
	cr_expect_str_eq(dl.v[0].file, "/nonexistent/conduitd.conf");
	conf_free(&c);
	diag_list_free(&dl);
}

Test(conf, free_twice_is_safe)
{
	struct conf c;

	cr_assert_eq(conf_init(&c), 0);
	conf_free(&c);
	conf_free(&c);
}
