/*
 * The command table without a kernel: request and argument validation
 * (no side effects), the commands that only read (hello, status,
 * policy.diff, stats) through cmd_dispatch, the management-zone agreement
 * between configuration and policy, and the atomic state file writer.
 * The inspection counters come from a made-up worker snapshot
 * (cmd_stats_json), so no NFQUEUE is needed.
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
					     "island",	    "stats" };

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
	/* the 8 control commands, the 16 of the management issue and
	 * audit.verify, audit.tail, conf.show */
	cr_expect_eq(json_array_size(json_object_get(res, "commands")), 27);
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

/* --- stats: inspection counters and the last violations ------------------ */

static const char inspect_text[] = "version: 1\n"
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
				   "      - { modbus: { preset: read-only } }\n"
				   "  - name: plant-to-office\n"
				   "    from: plant\n"
				   "    to: office\n"
				   "    allow:\n"
				   "      - { proto: tcp, port: 443 }\n";

static void inspect_setup(void)
{
	struct diag_list dl;

	daemon_setup();
	policy_free(daemon_state.policy);
	daemon_state.policy = NULL;
	diag_list_init(&dl);
	cr_assert_eq(policy_load_buffer("inspect.yaml", inspect_text,
					sizeof(inspect_text) - 1, 0,
					&daemon_state.policy, &dl),
		     0, "inspect.yaml: %s", dl.n ? dl.v[0].msg : "?");
	diag_list_free(&dl);
	conf.watchdog_stall_ms = 1000;
}

static const json_t *at(const json_t *o, const char *a, const char *b)
{
	return json_object_get(json_object_get(o, a), b);
}

static long long num(const json_t *o, const char *a, const char *b)
{
	return (long long)json_integer_value(b ? at(o, a, b) :
						 json_object_get(o, a));
}

/* A denied Modbus write of office-to-plant, as a worker reports it. */
static void fake_event(struct dpi_event *ev, int function, uint32_t count)
{
	const struct pol_conduit *c = &daemon_state.policy->conduits[0];

	memset(ev, 0, sizeof(*ev));
	ev->kind = DPI_EV_DENIED;
	ev->action = POL_ACT_DENY;
	ev->count = count;
	ev->conduit = c;
	ev->zone_from = c->from;
	ev->zone_to = c->to;
	ev->proto = "modbus";
	ev->function = function;
	ev->rule = "allow[0].modbus.functions";
	ev->loc.line = 13;
	ev->src.family = 4;
	memcpy(ev->src.a, (uint8_t[]){ 10, 0, 0, 1 }, 4);
	ev->dst.family = 4;
	memcpy(ev->dst.a, (uint8_t[]){ 10, 0, 1, 2 }, 4);
	ev->sport = 40000;
	ev->dport = 502;
	snprintf(ev->detail, sizeof(ev->detail),
		 "holding-registers write 100-100");
}

Test(commands, stats_without_workers, .init = inspect_setup,
     .fini = daemon_teardown)
{
	json_t *r = dispatch("{\"id\":9,\"cmd\":\"stats\"}");
	const json_t *res = json_object_get(r, "result"), *cs, *c0, *c1;

	cr_assert(json_is_true(json_object_get(r, "ok")));
	cr_expect(json_is_false(at(res, "inspection", "active")));
	cr_expect_eq(num(res, "inspection", "workers"), 0);
	cr_expect_eq(json_array_size(json_object_get(res, "workers")), 0);
	cr_expect_eq(num(res, "totals", "packets"), 0);
	cr_expect_eq(num(res, "violations", "total"), 0);
	cr_expect_eq(json_array_size(at(res, "violations", "recent")), 0);
	cs = json_object_get(res, "conduits");
	cr_assert_eq(json_array_size(cs), 2);
	c0 = json_array_get(cs, 0);
	c1 = json_array_get(cs, 1);
	cr_expect_str_eq(json_string_value(json_object_get(c0, "name")),
			 "office-to-plant");
	cr_expect_str_eq(json_string_value(json_object_get(c0, "from")),
			 "office");
	cr_expect(json_is_true(json_object_get(c0, "inspected")));
	cr_expect(json_is_false(json_object_get(c1, "inspected")),
		  "a plain tcp entry stays in the kernel");
	cr_expect_eq(num(c0, "pdus", "deny"), 0);
	json_decref(r);

	/* status and policy.show: inspection not running */
	r = dispatch("{\"id\":10,\"cmd\":\"status\"}");
	res = json_object_get(r, "result");
	cr_expect(json_is_false(at(res, "inspection", "active")));
	json_decref(r);
	r = dispatch("{\"id\":11,\"cmd\":\"policy.show\"}");
	res = json_object_get(r, "result");
	cr_assert(json_is_true(json_object_get(r, "ok")));
	cr_expect(json_is_null(json_object_get(
		json_array_get(json_object_get(res, "conduits"), 0),
		"inspection")));
	json_decref(r);
}

Test(commands, violations_ring_keeps_the_newest_copied, .init = inspect_setup,
     .fini = daemon_teardown)
{
	struct pol_conduit gone;
	char name[32] = "temporary";
	struct dpi_event ev;
	json_t *r;
	const json_t *rec, *v0, *vl;
	long long sum = 0;

	/* arg NULL: a log line only */
	fake_event(&ev, 6, 1);
	cmd_dpi_event(&ev, NULL);
	cr_expect_eq(daemon_state.violations.records, 0);

	for (int i = 0; i < CMD_VIOLATIONS_MAX + 4; i++) {
		fake_event(&ev, i, (uint32_t)i + 1);
		sum += i + 1;
		cmd_dpi_event(&ev, &daemon_state);
	}
	/* a conduit whose policy is freed after the event: the ring keeps
	 * its own copy of the name */
	gone = daemon_state.policy->conduits[0];
	gone.name = name;
	fake_event(&ev, 99, 2);
	ev.conduit = &gone;
	ev.zone_from = NULL;
	ev.function = -1;
	cmd_dpi_event(&ev, &daemon_state);
	sum += 2;
	snprintf(name, sizeof(name), "overwritten");

	r = dispatch("{\"id\":12,\"cmd\":\"stats\"}");
	rec = at(json_object_get(r, "result"), "violations", "recent");
	cr_expect_eq(num(json_object_get(r, "result"), "violations", "total"),
		     sum);
	cr_expect_eq(num(json_object_get(r, "result"), "violations", "records"),
		     CMD_VIOLATIONS_MAX + 5);
	cr_assert_eq(json_array_size(rec), CMD_VIOLATIONS_MAX);
	v0 = json_array_get(rec, 0); /* newest first */
	cr_expect_str_eq(json_string_value(json_object_get(v0, "conduit")),
			 "temporary");
	cr_expect(json_is_null(json_object_get(v0, "function")));
	cr_expect(json_is_null(json_object_get(v0, "zone_from")));
	cr_expect_eq(num(v0, "count", NULL), 2);
	vl = json_array_get(rec, 1);
	cr_expect_eq(num(vl, "function", NULL), CMD_VIOLATIONS_MAX + 3);
	cr_expect_str_eq(json_string_value(json_object_get(vl, "kind")),
			 "denied");
	cr_expect_str_eq(json_string_value(json_object_get(vl, "action")),
			 "deny");
	cr_expect_str_eq(json_string_value(json_object_get(vl, "rule")),
			 "allow[0].modbus.functions");
	cr_expect_str_eq(json_string_value(json_object_get(vl, "zone_to")),
			 "plant");
	cr_expect_str_eq(json_string_value(json_object_get(vl, "src")),
			 "10.0.0.1:40000");
	cr_expect_str_eq(json_string_value(json_object_get(vl, "dst")),
			 "10.0.1.2:502");
	cr_expect_eq(num(vl, "line", NULL), 13);
	/* the oldest kept: the first 5 fell out */
	vl = json_array_get(rec, CMD_VIOLATIONS_MAX - 1);
	cr_expect_eq(num(vl, "function", NULL), 5);
	json_decref(r);

	r = dispatch("{\"id\":13,\"cmd\":\"status\"}");
	cr_expect_eq(num(json_object_get(r, "result"), "inspection",
			 "violations"),
		     sum);
	json_decref(r);
}

Test(commands, stats_sum_workers_and_conduits, .init = inspect_setup,
     .fini = daemon_teardown)
{
	struct queue_worker_stats w[2] = { 0 };
	struct verdict_counts c[2] = { 0 };
	struct cmd_stats_snap s = {
		.n_workers = 2, .workers = w, .conduits = c, .now_us = 10000000
	};
	const json_t *ws, *w1, *c0, *t;
	json_t *j;

	w[0].queue = 4;
	w[0].packets = 100;
	w[0].verdicts[ENGINE_ALLOW] = 97;
	w[0].verdicts[ENGINE_DENY] = 3;
	w[0].counts.pdus[POL_ACT_ALLOW] = 40;
	w[0].counts.pdus[POL_ACT_DENY] = 2;
	w[0].counts.malformed = 1;
	w[0].counts.flows = 5;
	w[0].flows_active = 4;
	w[0].flows_max = 16;
	w[0].kernel_drops = 7;
	w[0].last_progress_us = s.now_us - 200000; /* 200 ms: fine */
	w[1].queue = 5;
	w[1].packets = 10;
	w[1].verdicts[ENGINE_REJECT] = 10;
	w[1].counts.pdus[POL_ACT_REJECT] = 3;
	w[1].flows_active = 0;
	w[1].flows_max = 16;
	w[1].flow_table_full = 2;
	w[1].last_progress_us = s.now_us - 3000000; /* 3 s > 1 s: stalled */
	w[1].policy_gen = 3;
	c[0].flows = 5;
	c[0].pdus[POL_ACT_DENY] = 2;
	c[0].malformed = 1;

	j = cmd_stats_json(&daemon_state, &s);
	cr_assert_not_null(j);
	t = json_object_get(j, "totals");
	cr_expect_eq(num(t, "packets", NULL), 110);
	cr_expect_eq(num(t, "verdicts", "allow"), 97);
	cr_expect_eq(num(t, "verdicts", "deny"), 3);
	cr_expect_eq(num(t, "verdicts", "reject"), 10);
	cr_expect_eq(num(t, "pdus", "reject"), 3);
	cr_expect_eq(num(t, "queue_drops", NULL), 7);
	cr_expect_eq(num(t, "flows", "max"), 32);
	cr_expect_eq(num(t, "flows", "table_full"), 2);
	ws = json_object_get(j, "workers");
	cr_assert_eq(json_array_size(ws), 2);
	cr_expect_eq(num(json_array_get(ws, 0), "queue", NULL), 4);
	cr_expect_eq(
		json_real_value(at(json_array_get(ws, 0), "flows", "fill")),
		0.25);
	cr_expect(json_is_false(
		json_object_get(json_array_get(ws, 0), "stalled")));
	cr_expect_eq(num(json_array_get(ws, 0), "idle_ms", NULL), 200);
	w1 = json_array_get(ws, 1);
	cr_expect(json_is_true(json_object_get(w1, "stalled")));
	cr_expect_eq(num(w1, "policy_generation", NULL), 3);
	c0 = json_array_get(json_object_get(j, "conduits"), 0);
	cr_expect_str_eq(json_string_value(json_object_get(c0, "name")),
			 "office-to-plant");
	cr_expect_eq(num(c0, "flows", "admitted"), 5);
	cr_expect_eq(num(c0, "pdus", "deny"), 2);
	cr_expect_eq(num(c0, "malformed", NULL), 1);
	cr_expect_eq(num(json_array_get(json_object_get(j, "conduits"), 1),
			 "pdus", "deny"),
		     0);
	cr_expect(json_is_true(at(j, "inspection", "active")),
		  "workers in the snapshot: inspection runs");
	json_decref(j);
}

/* --- audit.verify, audit.tail, conf.show (the auditor's remote tools) ---- */

#include <dirent.h>

#include "audit/audit.h"
#include "audit/event.h"
#include "audit/spool.h"
#include "mgmt/cmd_audit.h"

#define AUDIT_RECORDS 50
static const char audit_key_hex[] =
	"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
static char audit_dir[64];

static void rm_tree(const char *d)
{
	char path[512];
	struct dirent *e;
	DIR *dp = opendir(d);

	while (dp != NULL && (e = readdir(dp)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", d, e->d_name);
		if (unlink(path) < 0)
			rm_tree(path);
	}
	if (dp != NULL)
		closedir(dp);
	rmdir(d);
}

/* The daemon's set-up: a key file named by the conf, the real audit
 * pipeline writing AUDIT_RECORDS records into the conf's spool. */
static void audit_setup(void)
{
	uint8_t key[CONF_AUDIT_KEY_MAX];
	struct audit_stats st;
	struct audit_opts o;
	char path[128], err[512];
	size_t key_len;
	FILE *f;

	daemon_setup();
	snprintf(audit_dir, sizeof(audit_dir), "/tmp/test_cmd_audit.XXXXXX");
	cr_assert_not_null(mkdtemp(audit_dir));
	snprintf(path, sizeof(path), "%s/hmac.key", audit_dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "%s\n", audit_key_hex);
	fclose(f);
	conf.audit_hmac_key = strdup(path);
	snprintf(path, sizeof(path), "%s/spool", audit_dir);
	conf.audit_dir = strdup(path);
	cr_assert_eq(conf_read_hmac_key(conf.audit_hmac_key, key, &key_len, err,
					sizeof(err)),
		     0, "%s", err);

	memset(&o, 0, sizeof(o));
	o.pen = conf.audit_pen;
	o.facility = 13;
	o.hostname = "gw1.test";
	o.spool.dir = conf.audit_dir;
	o.spool.capacity = 4u << 20;
	o.spool.segment_size = 64u << 10;
	o.spool.fsync_ms = 50;
	o.warn_pct = 80;
	o.hmac_key = key;
	o.hmac_key_len = key_len;
	cr_assert_eq(audit_open(&o, &daemon_state.audit, err, sizeof(err)), 0,
		     "%s", err);
	explicit_bzero(key, sizeof(key));
	cr_assert_eq(audit_start(daemon_state.audit), 0);
	for (unsigned i = 0; i < AUDIT_RECORDS; i++) {
		struct audit_event ev;

		audit_event_init(&ev, AUDIT_MGMT_COMMAND);
		audit_event_add(&ev, "cmd", "status");
		audit_event_add_u64(&ev, "i", i);
		audit_event_msgf(&ev, "test command %u", i);
		audit_emit(daemon_state.audit, &ev);
	}
	for (int i = 0; i < 1000; i++) {
		audit_get_stats(daemon_state.audit, &st);
		if (st.written >= AUDIT_RECORDS)
			break;
		usleep(10000);
	}
	cr_assert_geq(st.written, AUDIT_RECORDS);
}

static void audit_teardown(void)
{
	audit_close(daemon_state.audit, 0);
	daemon_state.audit = NULL;
	rm_tree(audit_dir);
	daemon_teardown();
}

static const json_t *result_of(const json_t *resp)
{
	cr_assert(json_is_true(json_object_get(resp, "ok")), "error %s: %s",
		  code_of(resp),
		  json_string_value(json_object_get(
			  json_object_get(resp, "error"), "message")));
	return json_object_get(resp, "result");
}

static long long jnum(const json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

/* CR 6.1 */
Test(commands, audit_verify_runs_on_the_daemons_spool_with_its_key,
     .init = audit_setup, .fini = audit_teardown)
{
	struct audit *a = daemon_state.audit;
	struct audit_stats st;
	const json_t *res;
	json_t *r;

	/* each command is audited too: the spool may grow meanwhile */
	audit_get_stats(a, &st);
	r = dispatch("{\"id\":1,\"cmd\":\"audit.verify\"}");
	res = result_of(r);
	cr_expect(json_is_true(json_object_get(res, "intact")));
	cr_expect(json_is_true(json_object_get(res, "hmac")));
	cr_expect_geq(jnum(res, "records"), AUDIT_RECORDS);
	cr_expect_eq(jnum(res, "first_seq"), 1);
	cr_expect_geq(jnum(res, "last_seq"), (long long)st.last_seq);
	cr_expect_eq(jnum(res, "torn_tail_bytes"), 0);
	cr_expect_null(json_object_get(res, "broken"));
	cr_expect_str_eq(json_string_value(json_object_get(res, "dir")),
			 conf.audit_dir);
	json_decref(r);

	/* without the daemon's key the HMAC chain does not verify */
	daemon_state.audit = NULL;
	r = dispatch("{\"id\":2,\"cmd\":\"audit.verify\"}");
	daemon_state.audit = a;
	res = result_of(r);
	cr_expect(json_is_false(json_object_get(res, "intact")));
	cr_expect(json_is_false(json_object_get(res, "hmac")));
	cr_expect_eq(jnum(json_object_get(res, "broken"), "seq"), 1);
	json_decref(r);

	/* the work is bounded; the next call continues the chain */
	r = dispatch("{\"id\":3,\"cmd\":\"audit.verify\","
		     "\"args\":{\"max_records\":10}}");
	res = result_of(r);
	cr_expect(json_is_true(json_object_get(res, "limited")));
	cr_expect_eq(jnum(res, "records"), 10);
	cr_expect_eq(jnum(res, "last_seq"), 10);
	cr_expect(json_is_true(json_object_get(res, "intact")));
	{
		char req[256];
		json_t *r2;

		snprintf(req, sizeof(req),
			 "{\"id\":4,\"cmd\":\"audit.verify\",\"args\":"
			 "{\"after_seq\":10,\"anchor\":\"%s\"}}",
			 json_string_value(json_object_get(res, "last_chain")));
		r2 = dispatch(req);
		cr_expect(
			json_is_true(json_object_get(result_of(r2), "intact")));
		cr_expect_eq(jnum(result_of(r2), "first_seq"), 11);
		cr_expect_geq(jnum(result_of(r2), "last_seq"), AUDIT_RECORDS);
		json_decref(r2);
		/* a forged anchor does not verify */
		r2 = dispatch("{\"id\":5,\"cmd\":\"audit.verify\",\"args\":"
			      "{\"after_seq\":10,\"anchor\":\"000000000000"
			      "0000000000000000000000000000000000000000000000"
			      "000000\"}}");
		cr_expect(json_is_false(
			json_object_get(result_of(r2), "intact")));
		cr_expect_eq(jnum(json_object_get(result_of(r2), "broken"),
				  "seq"),
			     11);
		json_decref(r2);
	}
	json_decref(r);
}

static uint32_t crc32c_sw(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = crc & 1 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
	}
	return ~crc;
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* CR 3.9 */
Test(commands, audit_verify_detects_a_changed_byte, .init = audit_setup,
     .fini = audit_teardown)
{
	char path[256];
	uint8_t *img;
	size_t len, off = SPOOL_HEADER_LEN;
	struct stat sb;
	const json_t *res, *b;
	json_t *r;
	int fd;

	/* record seq 20: one digit of its message changed, the (unkeyed)
	 * record CRC recomputed, as a tamperer who knows the format would */
	snprintf(path, sizeof(path), "%s/seg-0000000000000001.cds",
		 conf.audit_dir);
	fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0, "%s", path);
	cr_assert_eq(fstat(fd, &sb), 0);
	len = (size_t)sb.st_size;
	img = malloc(len);
	cr_assert_eq(pread(fd, img, len, 0), (ssize_t)len);
	for (;;) {
		uint32_t rlen;

		cr_assert_leq(off + SPOOL_REC_OVERHEAD, len,
			      "seq 20 not found");
		rlen = get_le32(img + off);
		if (get_le32(img + off + 4) == 20) {
			uint8_t *p = img + off + SPOOL_REC_OVERHEAD;

			p[rlen - 1] = p[rlen - 1] == '7' ? '8' : '7';
			{
				uint32_t crc = crc32c_sw(
					crc32c_sw(0, img + off, 44), p, rlen);

				for (int i = 0; i < 4; i++)
					img[off + 44 + (size_t)i] =
						(uint8_t)(crc >> (8 * i));
			}
			cr_assert_eq(pwrite(fd, img + off,
					    SPOOL_REC_OVERHEAD + rlen,
					    (off_t)off),
				     (ssize_t)(SPOOL_REC_OVERHEAD + rlen));
			break;
		}
		off += SPOOL_REC_OVERHEAD + rlen;
	}
	close(fd);
	free(img);

	r = dispatch("{\"id\":4,\"cmd\":\"audit.verify\"}");
	res = result_of(r);
	b = json_object_get(res, "broken");
	cr_expect(json_is_false(json_object_get(res, "intact")));
	cr_assert_not_null(b);
	cr_expect_eq(jnum(b, "seq"), 20);
	cr_expect_eq(jnum(b, "record"), 20);
	cr_expect_str_eq(json_string_value(json_object_get(b, "segment")),
			 "seg-0000000000000001.cds");
	cr_expect_str_eq(json_string_value(json_object_get(b, "reason")),
			 "chain value differs");
	json_decref(r);
}

/* CR 6.1 */
Test(commands, audit_tail_returns_the_last_records, .init = audit_setup,
     .fini = audit_teardown)
{
	struct audit_stats st;
	const json_t *res, *recs, *rec;
	long long first;
	json_t *r;
	size_t i;

	/* each command is audited too: the spool may grow meanwhile */
	audit_get_stats(daemon_state.audit, &st);
	r = dispatch(
		"{\"id\":5,\"cmd\":\"audit.tail\",\"args\":{\"count\":5}}");
	res = result_of(r);
	recs = json_object_get(res, "records");
	cr_assert_eq(json_array_size(recs), 5);
	first = jnum(json_array_get(recs, 0), "seq");
	cr_expect_geq(first + 4, (long long)st.last_seq, "the newest ones");
	json_array_foreach(recs, i, rec)
	{
		const char *text =
			json_string_value(json_object_get(rec, "text"));
		char want[64];

		cr_expect_eq(jnum(rec, "seq"), first + (long long)i);
		cr_expect_str_eq(
			json_string_value(json_object_get(rec, "msgid")),
			"MGMT_COMMAND");
		cr_expect(
			strncmp(json_string_value(json_object_get(rec, "time")),
				"20", 2) == 0);
		cr_assert_not_null(text);
		cr_expect_eq(text[0], '<');
		snprintf(want, sizeof(want), " seq=\"%lld\"",
			 first + (long long)i);
		cr_expect(strstr(text, want) != NULL, "%s", text);
	}
	json_decref(r);

	audit_get_stats(daemon_state.audit, &st);
	r = dispatch("{\"id\":6,\"cmd\":\"audit.tail\"}");
	recs = json_object_get(result_of(r), "records");
	cr_expect_eq(json_array_size(recs), CMD_AUDIT_TAIL_DEFAULT);
	cr_expect_geq(jnum(json_array_get(recs, CMD_AUDIT_TAIL_DEFAULT - 1),
			   "seq"),
		      (long long)st.last_seq);
	json_decref(r);
}

/* CR 3.5 */
Test(commands, audit_tail_count_validated, .init = audit_setup,
     .fini = audit_teardown)
{
	json_t *r = dispatch(
		"{\"id\":7,\"cmd\":\"audit.tail\",\"args\":{\"count\":1001}}");

	cr_expect_str_eq(code_of(r), CTL_ERR_INVALID_ARGS);
	cr_expect(strstr(json_string_value(json_object_get(
				 json_object_get(r, "error"), "message")),
			 "1001") != NULL);
	json_decref(r);
	r = dispatch(
		"{\"id\":8,\"cmd\":\"audit.tail\",\"args\":{\"count\":\"9\"}}");
	cr_expect_str_eq(code_of(r), CTL_ERR_INVALID_ARGS);
	json_decref(r);
	r = dispatch("{\"id\":9,\"cmd\":\"audit.verify\","
		     "\"args\":{\"max_records\":-1}}");
	cr_expect_str_eq(code_of(r), CTL_ERR_INVALID_ARGS);
	json_decref(r);
	r = dispatch("{\"id\":9,\"cmd\":\"audit.verify\","
		     "\"args\":{\"after_seq\":3}}");
	cr_expect_str_eq(code_of(r), CTL_ERR_INVALID_ARGS, "without anchor");
	json_decref(r);
	r = dispatch("{\"id\":9,\"cmd\":\"audit.verify\","
		     "\"args\":{\"after_seq\":3,\"anchor\":\"xyz\"}}");
	cr_expect_str_eq(code_of(r), CTL_ERR_INVALID_ARGS);
	json_decref(r);
}

Test(commands, audit_commands_name_a_missing_spool, .init = daemon_setup,
     .fini = daemon_teardown)
{
	json_t *r;

	free(conf.audit_dir);
	conf.audit_dir = strdup("/nonexistent/conduitd-spool");
	r = dispatch("{\"id\":10,\"cmd\":\"audit.verify\"}");
	cr_expect_str_eq(code_of(r), CTL_ERR_IO);
	cr_expect(strstr(json_string_value(json_object_get(
				 json_object_get(r, "error"), "message")),
			 "/nonexistent/conduitd-spool") != NULL);
	json_decref(r);
	r = dispatch("{\"id\":11,\"cmd\":\"audit.tail\"}");
	cr_expect_str_eq(code_of(r), CTL_ERR_IO);
	json_decref(r);
}

/* The keys conduitd.conf(5) documents (.TP items of its KEYS sections,
 * not the collector options inside .RS/.RE). */
static size_t doc_keys(char keys[][64], size_t max)
{
	char line[512];
	bool in_keys = false, nested = false, next = false;
	size_t n = 0;
	FILE *f = fopen(TEST_SRCDIR "/docs/conduitd.conf.5", "r");

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, ".SH ", 4) == 0)
			in_keys = strstr(line, "KEYS") != NULL;
		else if (strncmp(line, ".RS", 3) == 0)
			nested = true;
		else if (strncmp(line, ".RE", 3) == 0)
			nested = false;
		if (next && n < max &&
		    sscanf(line, ".%*s %63[a-z-]", keys[n]) == 1)
			n++;
		next = in_keys && !nested && strncmp(line, ".TP", 3) == 0;
	}
	fclose(f);
	return n;
}

Test(commands, conf_show_lists_every_documented_key_without_secrets,
     .init = audit_setup, .fini = audit_teardown)
{
	static char keys[128][64];
	size_t n = doc_keys(keys, 128);
	const json_t *res, *k;
	json_t *r;
	char *dump;

	cr_assert_geq(n, 50, "keys found in conduitd.conf(5): %zu", n);
	free(conf.mgmt_listen[0]);
	conf.mgmt_listen[0] = strdup("198.51.100.1");
	conf.n_mgmt_listen = 1;
	conf.session_idle_lock = 0;
	conf.session_idle_lock_set = true;
	r = dispatch("{\"id\":12,\"cmd\":\"conf.show\"}");
	res = result_of(r);
	k = json_object_get(res, "keys");
	for (size_t i = 0; i < n; i++)
		cr_expect_not_null(json_object_get(k, keys[i]),
				   "conf.show lacks %s", keys[i]);
	cr_expect(json_is_null(json_object_get(res, "file")));
	cr_expect_str_eq(json_string_value(json_object_get(k, "audit-dir")),
			 conf.audit_dir);
	cr_expect_str_eq(
		json_string_value(json_object_get(k, "audit-hmac-key")),
		conf.audit_hmac_key);
	cr_expect_str_eq(json_string_value(json_object_get(k, "audit-full")),
			 "overwrite-oldest");
	cr_expect_eq(jnum(k, "audit-pen"), 32473);
	cr_expect_eq(jnum(k, "password-cost"), 5, "the effective default");
	cr_expect_eq(jnum(k, "lockout-time"), 900);
	cr_expect_eq(jnum(k, "session-idle-lock"), 0, "set to 0: off");
	cr_expect(json_is_false(json_object_get(k, "approval-required")));
	cr_expect(json_is_null(json_object_get(k, "management-zone")));
	cr_expect(json_is_array(json_object_get(k, "audit-collector")));
	cr_expect_str_eq(json_string_value(json_array_get(
				 json_object_get(k, "management-listen"), 0)),
			 "198.51.100.1");
	dump = json_dumps(r, 0);
	cr_assert_not_null(dump);
	cr_expect(strstr(dump, audit_key_hex) == NULL, "the key's content");
	cr_expect(strstr(dump, "00112233") == NULL);
	free(dump);
	json_decref(r);
}
