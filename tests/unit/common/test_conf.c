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
