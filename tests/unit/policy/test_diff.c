/*
 * Policy diff and JSON: what an apply would change, item by item in a
 * fixed order, and the stable JSON field names conduitctl relies on.
 */
#include <jansson.h>
#include <stdlib.h>

#include "helpers.h"
#include "policy/diff.h"

static char *read_example(const char *name)
{
	char path[512];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), EXAMPLES_DIR "%s", name);
	f = fopen(path, "rb");
	cr_assert_not_null(f, "%s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

/* plant.yaml with one exact substring replaced (which must be there). */
static struct pol_policy *plant_with(const char *from, const char *to)
{
	char *text = read_example("plant.yaml"), *at, *out;
	struct pol_policy *p;

	at = strstr(text, from);
	cr_assert_not_null(at, "'%s' not in plant.yaml", from);
	out = malloc(strlen(text) + strlen(to) + 1);
	cr_assert_not_null(out);
	memcpy(out, text, (size_t)(at - text));
	strcpy(out + (at - text), to);
	strcat(out, at + strlen(from));
	p = load_ok(out);
	free(out);
	free(text);
	return p;
}

static char *print_diff(const struct pol_diff *d)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert_not_null(f);
	policy_diff_print(d, f);
	fclose(f);
	return buf;
}

static void expect_details(const struct pol_diff_item *it,
			   const char *const *want)
{
	size_t n = 0;

	while (want[n] != NULL)
		n++;
	for (size_t i = 0; i < it->n_details; i++)
		cr_log_info("%s: %s", it->name, it->details[i]);
	cr_assert_eq(it->n_details, n, "%s: %zu details, expected %zu",
		     it->name, it->n_details, n);
	for (size_t i = 0; i < n; i++)
		cr_expect_str_eq(it->details[i], want[i]);
}

Test(diff, same_policy_has_no_changes)
{
	struct pol_policy *a = load_example("plant.yaml");
	struct pol_policy *b = load_example("plant.yaml");
	struct pol_diff d;
	char *text;

	cr_assert_eq(policy_diff(a, b, &d), 0);
	cr_expect_eq(d.n, 0);
	text = print_diff(&d);
	cr_expect_str_eq(text, "no changes\n");
	free(text);
	policy_diff_free(&d);
	policy_free(a);
	policy_free(b);
}

Test(diff, from_nothing_everything_is_added_in_name_order)
{
	struct pol_policy *p = load_example("plant.yaml");
	struct pol_diff d;

	cr_assert_eq(policy_diff(NULL, p, &d), 0);
	cr_assert_eq(d.n, 6);
	cr_expect_str_eq(d.v[0].name, "control");
	cr_expect_str_eq(d.v[1].name, "dmz");
	cr_expect_str_eq(d.v[2].name, "enterprise");
	cr_expect_str_eq(d.v[3].name, "historian-poll");
	cr_expect_str_eq(d.v[4].name, "ops-to-historian");
	cr_expect_str_eq(d.v[5].name, "plc-to-historian");
	for (size_t i = 0; i < d.n; i++) {
		cr_expect_eq(d.v[i].change, POL_DIFF_ADDED);
		cr_expect_eq(d.v[i].kind,
			     i < 3 ? POL_DIFF_ZONE : POL_DIFF_CONDUIT);
	}
	expect_details(&d.v[0], WANT("security-level 3", "management true",
				     "interfaces + ctl0"));
	expect_details(&d.v[1],
		       WANT("security-level 2", "networks + 198.18.20.0/24",
			    "networks + 2001:db8:20::/64"));
	expect_details(
		&d.v[4],
		WANT("from enterprise to dmz", "log true",
		     "+ allow tcp 443,5201,8443 to 198.18.20.5,2001:db8:20::5",
		     "+ allow icmp echo-request", "+ allow icmpv6 echo-request",
		     "+ allow udp 20000-20010 from 198.18.10.0/28 rate 200/second"));
	policy_diff_free(&d);
	policy_free(p);
}

Test(diff, to_nothing_everything_is_removed)
{
	struct pol_policy *p = load_example("plant.yaml");
	struct pol_diff d;

	cr_assert_eq(policy_diff(p, NULL, &d), 0);
	cr_assert_eq(d.n, 6);
	for (size_t i = 0; i < d.n; i++)
		cr_expect_eq(d.v[i].change, POL_DIFF_REMOVED);
	expect_details(&d.v[5], WANT("- allow udp 514", "- allow tcp 5201"));
	policy_diff_free(&d);
	policy_free(p);
}

Test(diff, zone_settings_and_members)
{
	struct pol_policy *a = load_example("plant.yaml");
	struct pol_policy *b =
		plant_with("    security-level: 2\n"
			   "    networks: [198.18.20.0/24, 2001:db8:20::/64]\n",
			   "    security-level: 3\n"
			   "    intra-zone: allow\n"
			   "    networks: [2001:db8:20::/64, 198.18.21.0/24]\n"
			   "    interfaces: ['dmz*']\n");
	struct pol_diff d;

	cr_assert_eq(policy_diff(a, b, &d), 0);
	cr_assert_eq(d.n, 1);
	cr_expect_eq(d.v[0].kind, POL_DIFF_ZONE);
	cr_expect_eq(d.v[0].change, POL_DIFF_CHANGED);
	cr_expect_str_eq(d.v[0].name, "dmz");
	expect_details(&d.v[0],
		       WANT("security-level 2 -> 3", "intra-zone deny -> allow",
			    "interfaces + dmz*", "networks - 198.18.20.0/24",
			    "networks + 198.18.21.0/24"));
	policy_diff_free(&d);
	policy_free(a);
	policy_free(b);
}

/* NDR 5.2 RE(1) */
Test(diff, changed_entry_is_removed_and_added)
{
	struct pol_policy *a = load_example("plant.yaml");
	struct pol_policy *b =
		plant_with("port: [443, 8443, 5201]", "port: [443, 5201]");
	struct pol_diff d;
	char *text;

	cr_assert_eq(policy_diff(a, b, &d), 0);
	cr_assert_eq(d.n, 1);
	cr_expect_str_eq(d.v[0].name, "ops-to-historian");
	expect_details(
		&d.v[0],
		WANT("- allow tcp 443,5201,8443 to 198.18.20.5,2001:db8:20::5",
		     "+ allow tcp 443,5201 to 198.18.20.5,2001:db8:20::5"));
	text = print_diff(&d);
	cr_expect_str_eq(
		text,
		"conduit ops-to-historian: changed\n"
		"  - allow tcp 443,5201,8443 to 198.18.20.5,2001:db8:20::5\n"
		"  + allow tcp 443,5201 to 198.18.20.5,2001:db8:20::5\n");
	free(text);
	policy_diff_free(&d);
	policy_free(a);
	policy_free(b);
}

Test(diff, order_of_ports_hosts_and_entries_is_not_a_change)
{
	struct pol_policy *a = load_example("plant.yaml");
	struct pol_policy *b =
		plant_with("      - { proto: tcp, port: [443, 8443, 5201], "
			   "to-hosts: [198.18.20.5, 2001:db8:20::5] }\n"
			   "      - { proto: icmp, type: echo-request }\n",
			   "      - { proto: icmp, type: 8 }\n"
			   "      - { proto: tcp, port: [5201, 8443, 443], "
			   "to-hosts: [2001:db8:20::5, 198.18.20.5] }\n");
	struct pol_diff d;

	cr_assert_eq(policy_diff(a, b, &d), 0);
	cr_expect_eq(d.n, 0);
	policy_diff_free(&d);
	policy_free(a);
	policy_free(b);
}

Test(diff, conduit_settings_added_and_removed)
{
	struct pol_policy *a = load_example("plant.yaml");
	struct pol_policy *b = plant_with(
		"  - name: plc-to-historian\n"
		"    description: The PLC sends syslog and test traffic to the historian\n"
		"    from: control\n"
		"    to: dmz\n",
		"  - name: plc-to-enterprise\n"
		"    from: control\n"
		"    to: enterprise\n");
	struct pol_policy *c = plant_with(
		"    description: Operators read the historian\n"
		"    from: enterprise\n"
		"    to: dmz\n"
		"    log: true\n",
		"    description: Operators read the historian (quietly)\n"
		"    from: enterprise\n"
		"    to: control\n");
	struct pol_diff d;

	cr_assert_eq(policy_diff(a, b, &d), 0);
	cr_assert_eq(d.n, 2);
	cr_expect_str_eq(d.v[0].name, "plc-to-enterprise");
	cr_expect_eq(d.v[0].change, POL_DIFF_ADDED);
	cr_expect_str_eq(d.v[1].name, "plc-to-historian");
	cr_expect_eq(d.v[1].change, POL_DIFF_REMOVED);
	expect_details(&d.v[0], WANT("from control to enterprise",
				     "+ allow udp 514", "+ allow tcp 5201"));
	policy_diff_free(&d);

	cr_assert_eq(policy_diff(a, c, &d), 0);
	cr_assert_eq(d.n, 1);
	expect_details(&d.v[0],
		       WANT("description \"Operators read the historian\" -> "
			    "\"Operators read the historian (quietly)\"",
			    "to dmz -> control", "log true -> false"));
	policy_diff_free(&d);
	policy_free(a);
	policy_free(b);
	policy_free(c);
}

Test(diff, repeated_entries_count_as_a_multiset)
{
	struct pol_policy *a =
		plant_with("      - { proto: udp, port: 514 }\n",
			   "      - { proto: udp, port: 514 }\n"
			   "      - { proto: udp, port: 514 }\n");
	struct pol_policy *b = load_example("plant.yaml");
	struct pol_diff d;

	cr_assert_eq(policy_diff(a, b, &d), 0);
	cr_assert_eq(d.n, 1);
	expect_details(&d.v[0], WANT("- allow udp 514"));
	policy_diff_free(&d);
	policy_free(a);
	policy_free(b);
}

Test(diff, rates_and_icmp_numbers_print_in_full)
{
	struct pol_policy *a = load_example("plant.yaml");
	struct pol_policy *b = plant_with("rate: 200/second }",
					  "rate: 5/minute, burst: 10 }\n"
					  "      - { proto: icmp, type: 42 }");
	struct pol_diff d;

	cr_assert_eq(policy_diff(a, b, &d), 0);
	cr_assert_eq(d.n, 1);
	expect_details(
		&d.v[0],
		WANT("- allow udp 20000-20010 from 198.18.10.0/28 rate 200/second",
		     "+ allow udp 20000-20010 from 198.18.10.0/28 rate 5/minute "
		     "burst 10",
		     "+ allow icmp 42"));
	policy_diff_free(&d);
	policy_free(a);
	policy_free(b);
}

/* --- JSON ---------------------------------------------------------------- */

static json_t *get(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	cr_assert_not_null(v, "missing field '%s'", key);
	return v;
}

Test(json, policy_field_names)
{
	struct pol_policy *p = load_example("plant.yaml");
	json_t *j = policy_to_json(p), *z, *c, *s;

	cr_assert_not_null(j);
	cr_expect_str_eq(json_string_value(get(j, "file")), p->file);
	cr_expect_eq(strlen(json_string_value(get(j, "sha256"))), 64);
	cr_expect_eq(json_integer_value(get(j, "version")), 1);
	cr_assert_eq(json_array_size(get(j, "zones")), 3);
	cr_assert_eq(json_array_size(get(j, "conduits")), 3);

	z = json_array_get(get(j, "zones"), 1);
	cr_expect_str_eq(json_string_value(get(z, "name")), "dmz");
	cr_expect_str_eq(json_string_value(get(z, "description")),
			 "Plant DMZ with the process historian");
	cr_expect_eq(json_integer_value(get(z, "security_level")), 2);
	cr_expect(json_is_false(get(z, "management")));
	cr_expect_str_eq(json_string_value(get(z, "intra_zone")), "deny");
	cr_expect_eq(json_array_size(get(z, "interfaces")), 0);
	cr_expect_str_eq(
		json_string_value(json_array_get(get(z, "networks"), 1)),
		"2001:db8:20::/64");
	z = json_array_get(get(j, "zones"), 2);
	cr_expect(json_is_true(get(z, "management")));
	cr_expect_str_eq(
		json_string_value(json_array_get(get(z, "interfaces"), 0)),
		"ctl0");

	c = json_array_get(get(j, "conduits"), 0);
	cr_expect_str_eq(json_string_value(get(c, "name")), "ops-to-historian");
	cr_expect_str_eq(json_string_value(get(c, "from")), "enterprise");
	cr_expect_str_eq(json_string_value(get(c, "to")), "dmz");
	cr_expect(json_is_true(get(c, "log")));
	cr_expect_str_eq(json_string_value(get(c, "description")),
			 "Operators read the historian");
	cr_assert_eq(json_array_size(get(c, "allow")), 4);
	s = json_array_get(get(c, "allow"), 0);
	cr_expect_str_eq(json_string_value(get(s, "proto")), "tcp");
	cr_expect_str_eq(json_string_value(json_array_get(get(s, "ports"), 1)),
			 "8443");
	cr_expect(json_is_null(get(s, "icmp_type")));
	cr_expect_eq(json_array_size(get(s, "from_hosts")), 0);
	cr_expect_str_eq(
		json_string_value(json_array_get(get(s, "to_hosts"), 0)),
		"198.18.20.5");
	cr_expect(json_is_null(get(s, "rate")));
	s = json_array_get(get(c, "allow"), 1);
	cr_expect_str_eq(json_string_value(get(s, "icmp_type")),
			 "echo-request");
	s = json_array_get(get(c, "allow"), 2);
	cr_expect_str_eq(json_string_value(get(s, "proto")), "icmpv6");
	cr_expect_str_eq(json_string_value(get(s, "icmp_type")),
			 "echo-request");
	s = json_array_get(get(c, "allow"), 3);
	cr_expect_str_eq(json_string_value(json_array_get(get(s, "ports"), 0)),
			 "20000-20010");
	cr_expect_eq(json_integer_value(get(get(s, "rate"), "count")), 200);
	cr_expect_str_eq(json_string_value(get(get(s, "rate"), "unit")),
			 "second");
	cr_expect_eq(json_integer_value(get(get(s, "rate"), "burst")), 0);
	json_decref(j);
	policy_free(p);
}

Test(json, unset_values_are_null)
{
	struct pol_policy *p =
		load_ok("version: 1\nzones:\n  a: {interfaces: ['vlan*']}\n");
	json_t *j = policy_to_json(p), *z;

	cr_assert_not_null(j);
	z = json_array_get(get(j, "zones"), 0);
	cr_expect(json_is_null(get(z, "description")));
	cr_expect(json_is_null(get(z, "security_level")));
	cr_expect_str_eq(
		json_string_value(json_array_get(get(z, "interfaces"), 0)),
		"vlan*");
	cr_expect_eq(json_array_size(get(j, "conduits")), 0);
	json_decref(j);
	policy_free(p);
}

Test(json, diff_field_names)
{
	struct pol_policy *a = load_example("plant.yaml");
	struct pol_policy *b = plant_with("  - name: plc-to-historian\n",
					  "  - name: plc-to-historian-2\n");
	struct pol_policy *c =
		plant_with("security-level: 2", "security-level: 3");
	struct pol_diff d;
	json_t *j, *k, *ch;
	char *s;

	cr_assert_eq(policy_diff(a, b, &d), 0);
	j = policy_diff_json(&d);
	cr_assert_not_null(j);
	k = get(j, "conduits");
	cr_expect_str_eq(json_string_value(json_array_get(get(k, "added"), 0)),
			 "plc-to-historian-2");
	cr_expect_str_eq(
		json_string_value(json_array_get(get(k, "removed"), 0)),
		"plc-to-historian");
	cr_expect_eq(json_array_size(get(k, "changed")), 0);
	k = get(j, "zones");
	cr_expect_eq(json_array_size(get(k, "added")) +
			     json_array_size(get(k, "removed")) +
			     json_array_size(get(k, "changed")),
		     0);
	json_decref(j);
	policy_diff_free(&d);

	cr_assert_eq(policy_diff(a, c, &d), 0);
	j = policy_diff_json(&d);
	cr_assert_not_null(j);
	s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
	cr_expect_str_eq(s,
			 "{\"conduits\":{\"added\":[],\"changed\":[],"
			 "\"removed\":[]},\"zones\":{\"added\":[],\"changed\":"
			 "[{\"details\":[\"security-level 2 -> 3\"],\"name\":"
			 "\"dmz\"}],\"removed\":[]}}");
	ch = json_array_get(get(get(j, "zones"), "changed"), 0);
	cr_expect_str_eq(json_string_value(get(ch, "name")), "dmz");
	free(s);
	json_decref(j);
	policy_diff_free(&d);
	policy_free(a);
	policy_free(b);
	policy_free(c);
}
