/*
 * The command table without a kernel: request and argument validation
 * (no side effects), the commands that only read (hello, status,
 * policy.diff) through cmd_dispatch, the management-zone agreement
 * between configuration and policy, and the atomic state file writer.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/diag.h"
#include "mgmt/commands.h"
#include "mgmt/control.h"
#include "policy/model.h"

static const char policy_text[] = "version: 1\n"
				  "zones:\n"
				  "  office:\n"
				  "    interfaces: [eth0]\n"
				  "  plant:\n"
				  "    interfaces: [eth1]\n"
				  "    management: true\n"
				  "conduits:\n"
				  "  - name: office-to-plant\n"
				  "    from: office\n"
				  "    to: plant\n"
				  "    allow:\n"
				  "      - { proto: tcp, port: 502 }\n";

static json_t *parse(const char *s)
{
	json_t *j = json_loads(s, 0, NULL);

	cr_assert_not_null(j, "bad test JSON: %s", s);
	return j;
}

static const char *code_of(const json_t *resp)
{
	return json_string_value(
		json_object_get(json_object_get(resp, "error"), "code"));
}

/* Runs cmd_check on text; returns the error code or NULL when accepted. */
static const char *check(const char *text, const struct cmd_def **def)
{
	static char code[64];
	const json_t *args;
	json_t *req = parse(text), *err = NULL;
	uint64_t id;
	int rc;

	rc = cmd_check(req, def, &id, &args, &err);
	if (rc == 0) {
		cr_expect_null(err);
		json_decref(req);
		return NULL;
	}
	cr_assert_not_null(err);
	snprintf(code, sizeof(code), "%s", code_of(err));
	cr_expect(json_is_false(json_object_get(err, "ok")));
	json_decref(err);
	json_decref(req);
	return code;
}

Test(commands, table_is_complete)
{
	static const char *const names[] = { "hello",	    "status",
					     "policy.diff", "policy.apply",
					     "policy.show", "reload",
					     "island" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct cmd_def *c = cmd_lookup(names[i]);

		cr_expect_not_null(c, "%s", names[i]);
		cr_expect_not_null(c ? c->handler : NULL);
	}
	cr_expect_null(cmd_lookup("policy"));
	cr_expect_null(cmd_lookup(""));
}

/* CR 3.5 */
Test(commands, requests_validated_without_side_effects)
{
	const struct cmd_def *def;

	cr_expect_null(check("{\"id\":1,\"cmd\":\"status\"}", &def));
	cr_expect_str_eq(def->name, "status");
	cr_expect_null(check(
		"{\"id\":1,\"cmd\":\"island\",\"args\":{\"on\":false}}", &def));
	cr_expect_null(check("{\"id\":1,\"cmd\":\"policy.apply\","
			     "\"args\":{\"content\":\"x\"}}",
			     &def));
	cr_expect_str_eq(check("{\"id\":1,\"cmd\":\"flush\"}", &def),
			 CTL_ERR_UNKNOWN_COMMAND);
	cr_expect_str_eq(check("{\"id\":1,\"cmd\":\"island\"}", &def),
			 CTL_ERR_INVALID_ARGS);
	cr_expect_str_eq(
		check("{\"id\":1,\"cmd\":\"island\",\"args\":{\"on\":\"yes\"}}",
		      &def),
		CTL_ERR_INVALID_ARGS);
	cr_expect_str_eq(
		check("{\"id\":1,\"cmd\":\"island\",\"args\":{\"on\":true,\"x\":1}}",
		      &def),
		CTL_ERR_INVALID_ARGS);
	cr_expect_str_eq(check("{\"id\":1,\"cmd\":\"policy.apply\"}", &def),
			 CTL_ERR_INVALID_ARGS);
	cr_expect_str_eq(check("{\"id\":1,\"cmd\":\"policy.diff\","
			       "\"args\":{\"content\":7}}",
			       &def),
			 CTL_ERR_INVALID_ARGS);
	cr_expect_str_eq(
		check("{\"id\":1,\"cmd\":\"status\",\"args\":{\"verbose\":true}}",
		      &def),
		CTL_ERR_INVALID_ARGS);
	cr_expect_str_eq(check("{\"cmd\":\"status\"}", &def),
			 CTL_ERR_BAD_REQUEST);
	cr_expect_str_eq(check("{\"id\":1,\"cmd\":\"status\",\"args\":\"x\"}",
			       &def),
			 CTL_ERR_BAD_REQUEST);
}

/* CR 3.5 */
Test(commands, oversized_name_argument_rejected)
{
	char *name = malloc(5000);
	const struct cmd_def *def;
	const json_t *args;
	json_t *req, *err = NULL;
	uint64_t id;

	memset(name, 'n', 4999);
	name[4999] = '\0';
	req = ctl_request_new(3, "policy.diff",
			      json_pack("{s:s, s:s}", "name", name, "content",
					"x"));
	cr_expect_eq(cmd_check(req, &def, &id, &args, &err), -EINVAL);
	cr_expect_eq(id, 3);
	cr_expect_str_eq(code_of(err), CTL_ERR_INVALID_ARGS);
	json_decref(err);
	json_decref(req);
	free(name);
}

static struct conf conf;
static struct cmd_daemon daemon_state;

static void daemon_setup(void)
{
	struct diag_list dl;

	cr_assert_eq(conf_init(&conf), 0);
	memset(&daemon_state, 0, sizeof(daemon_state));
	daemon_state.conf = &conf;
	daemon_state.started = time(NULL) - 5;
	daemon_state.generation = 1;
	daemon_state.policy_name = strdup("office.yaml");
	daemon_state.user = "conduitd";
	diag_list_init(&dl);
	cr_assert_eq(policy_load_buffer("office.yaml", policy_text,
					sizeof(policy_text) - 1, 0,
					&daemon_state.policy, &dl),
		     0);
	diag_list_free(&dl);
}

static void daemon_teardown(void)
{
	policy_free(daemon_state.policy);
	free(daemon_state.policy_name);
	conf_free(&conf);
}

static json_t *dispatch(const char *text)
{
	json_t *req = parse(text);
	json_t *resp = cmd_dispatch(&daemon_state, req, NULL);

	json_decref(req);
	cr_assert_not_null(resp);
	return resp;
}

Test(commands, hello_and_status, .init = daemon_setup, .fini = daemon_teardown)
{
	json_t *r = dispatch("{\"id\":5,\"cmd\":\"hello\"}");
	const json_t *res = json_object_get(r, "result");
	const json_t *pol;

	cr_expect_eq(json_integer_value(json_object_get(r, "id")), 5);
	cr_expect_eq(json_integer_value(json_object_get(res, "protocol")), 1);
	cr_expect_eq(json_array_size(json_object_get(res, "commands")), 7);
	json_decref(r);

	r = dispatch("{\"id\":6,\"cmd\":\"status\"}");
	res = json_object_get(r, "result");
	cr_assert(json_is_true(json_object_get(r, "ok")));
	cr_expect_eq(json_integer_value(json_object_get(res, "pid")), getpid());
	cr_expect_geq(json_integer_value(json_object_get(res, "uptime")), 5);
	cr_expect_eq(json_integer_value(json_object_get(res, "generation")), 1);
	cr_expect(json_is_false(json_object_get(res, "island")));
	cr_expect(json_is_object(json_object_get(res, "features")));
	cr_expect(json_is_string(json_object_get(res, "features_text")));
	pol = json_object_get(res, "policy");
	cr_expect_str_eq(json_string_value(json_object_get(pol, "file")),
			 "office.yaml");
	cr_expect_eq(json_integer_value(json_object_get(pol, "zones")), 2);
	cr_expect_eq(json_integer_value(json_object_get(pol, "conduits")), 1);
	cr_expect_eq(strlen(json_string_value(json_object_get(pol, "sha256"))),
		     64);
	cr_expect_str_eq(json_string_value(json_object_get(
				 json_object_get(res, "management"), "zone")),
			 "plant");
	json_decref(r);
}

Test(commands, policy_diff, .init = daemon_setup, .fini = daemon_teardown)
{
	json_t *args, *req, *r;
	const json_t *res;
	char *changed = malloc(sizeof(policy_text) + 16);

	/* Same policy: no changes. */
	args = json_pack("{s:s, s:s}", "name", "same.yaml", "content",
			 policy_text);
	req = ctl_request_new(1, "policy.diff", args);
	r = cmd_dispatch(&daemon_state, req, NULL);
	res = json_object_get(r, "result");
	cr_assert(json_is_true(json_object_get(r, "ok")));
	cr_expect(json_is_false(json_object_get(res, "changed")));
	cr_expect_str_eq(json_string_value(json_object_get(res, "text")),
			 "no changes\n");
	json_decref(r);
	json_decref(req);

	/* A port more: the conduit changed. */
	strcpy(changed, policy_text);
	strcpy(strstr(changed, "port: 502"), "port: [502, 503] }\n");
	args = json_pack("{s:s, s:s}", "name", "new.yaml", "content", changed);
	req = ctl_request_new(2, "policy.diff", args);
	r = cmd_dispatch(&daemon_state, req, NULL);
	res = json_object_get(r, "result");
	cr_assert(json_is_true(json_object_get(r, "ok")));
	cr_expect(json_is_true(json_object_get(res, "changed")));
	{
		const json_t *ch = json_object_get(
			json_object_get(res, "conduits"), "changed");

		cr_assert_eq(json_array_size(ch), 1);
		cr_expect_str_eq(json_string_value(json_object_get(
					 json_array_get(ch, 0), "name")),
				 "office-to-plant");
	}
	json_decref(r);
	json_decref(req);
	free(changed);
	cr_expect_eq(daemon_state.generation, 1, "diff changes nothing");
}

/* CR 7.6 */
Test(commands, invalid_policy_reported_with_locations, .init = daemon_setup,
     .fini = daemon_teardown)
{
	static const char bad[] =
		"version: 1\nzones:\n  a: {interfaces: [x]}\n"
		"conduits:\n  - {name: c, from: a, to: b, allow: []}\n";
	json_t *args =
		json_pack("{s:s, s:s}", "name", "bad.yaml", "content", bad);
	json_t *req = ctl_request_new(4, "policy.diff", args);
	json_t *r = cmd_dispatch(&daemon_state, req, NULL);
	const json_t *err = json_object_get(r, "error");
	const json_t *d0 =
		json_array_get(json_object_get(err, "diagnostics"), 0);

	cr_expect(json_is_false(json_object_get(r, "ok")));
	cr_expect_str_eq(code_of(r), CTL_ERR_POLICY_INVALID);
	cr_assert_not_null(d0);
	cr_expect_str_eq(json_string_value(json_object_get(d0, "file")),
			 "bad.yaml");
	cr_expect_gt(json_integer_value(json_object_get(d0, "line")), 0);
	cr_expect_gt(json_integer_value(json_object_get(d0, "col")), 0);
	cr_expect(strstr(json_string_value(json_object_get(err, "message")),
			 "the running policy stays") != NULL);
	json_decref(r);
	json_decref(req);
}

/* CR 7.6 */
Test(commands, management_zone_must_agree, .init = daemon_setup,
     .fini = daemon_teardown)
{
	struct diag_list dl;

	diag_list_init(&dl);
	cr_expect_eq(cmd_check_policy_conf(&conf, daemon_state.policy, &dl), 0,
		     "not configured: anything goes");
	conf.file = strdup("/etc/conduitd/conduitd.conf");
	conf.management_zone = strdup("plant");
	conf.management_zone_line = 3;
	cr_expect_eq(cmd_check_policy_conf(&conf, daemon_state.policy, &dl), 0);
	free(conf.management_zone);
	conf.management_zone = strdup("office");
	cr_expect_eq(cmd_check_policy_conf(&conf, daemon_state.policy, &dl),
		     -EINVAL);
	cr_assert_eq(dl.n, 1);
	cr_expect_str_eq(dl.v[0].file, "/etc/conduitd/conduitd.conf");
	cr_expect_eq(dl.v[0].line, 3);
	cr_expect(strstr(dl.v[0].msg, "management zone is plant") != NULL, "%s",
		  dl.v[0].msg);
	diag_list_free(&dl);
}

Test(commands, atomic_state_write)
{
	char dir[] = "/tmp/test_commands.XXXXXX", path[128], tmp[140], buf[64];
	int fd;
	ssize_t n;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/active-policy.yaml", dir);
	cr_assert_eq(cmd_write_atomic(path, "first\n", 6), 0);
	cr_assert_eq(cmd_write_atomic(path, "second\n", 7), 0);
	fd = open(path, O_RDONLY);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	cr_expect_eq(n, 7);
	cr_expect_eq(memcmp(buf, "second\n", 7), 0);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	cr_expect_neq(access(tmp, F_OK), 0, "no temporary file left");
	/* A directory that does not exist fails cleanly. */
	cr_expect_lt(cmd_write_atomic("/nonexistent/dir/x", "x", 1), 0);
	unlink(path);
	rmdir(dir);
}

Test(commands, sha256_hex)
{
	struct pol_policy p = { 0 };
	char buf[65];

	p.sha256[0] = 0xab;
	p.sha256[31] = 0x0f;
	cmd_sha256_hex(&p, buf, sizeof(buf));
	cr_expect_eq(strlen(buf), 64);
	cr_expect_eq(strncmp(buf, "ab00", 4), 0);
	cr_expect_str_eq(buf + 62, "0f");
}
