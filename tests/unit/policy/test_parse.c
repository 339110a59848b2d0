/*
 * Policy parsing: the shipped examples load into the model the contracts
 * describe, classification follows the kernel's order, and YAML-level
 * problems (syntax, encoding, size, aliases) are rejected with a location.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

static const char *const examples[] = {
	"plant.yaml",
	"small-office.yaml",
	"water-plant.yaml",
	"substation.yaml",
};

static void v4(const char *s, uint8_t *a)
{
	cr_assert_eq(inet_pton(AF_INET, s, a), 1);
}

static void v6(const char *s, uint8_t *a)
{
	cr_assert_eq(inet_pton(AF_INET6, s, a), 1);
}

static void expect_prefix(const struct pol_prefix *p, const char *text)
{
	char buf[POL_PREFIX_STRLEN];

	cr_expect_str_eq(pol_prefix_format(p, buf, sizeof(buf)), text);
}

/* CR 5.1 */
Test(examples, every_example_parses)
{
	for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
		struct pol_policy *p = load_example(examples[i]);

		cr_expect_eq(p->version, 1);
		cr_expect_gt(p->n_zones, 1, "%s", examples[i]);
		cr_expect_gt(p->n_conduits, 0, "%s", examples[i]);
		cr_expect_not_null(policy_management_zone(p), "%s",
				   examples[i]);
		for (size_t z = 0; z < p->n_zones; z++) {
			cr_expect_eq(p->zones[z].id, z + 1);
			cr_expect(p->zones[z].n_ifaces + p->zones[z].n_nets >
				  0);
		}
		for (size_t c = 0; c < p->n_conduits; c++) {
			const struct pol_conduit *cd = &p->conduits[c];

			cr_expect_eq(cd->id, c + 1);
			cr_expect_not_null(cd->from);
			cr_expect_not_null(cd->to);
			cr_expect_neq(cd->from, cd->to);
			cr_expect_gt(cd->n_allow, 0);
		}
		policy_free(p);
	}
}

/* CR 5.1 */
Test(examples, plant_zones_match_the_lab)
{
	struct pol_policy *p = load_example("plant.yaml");
	const struct pol_zone *ent, *dmz, *ctl;

	cr_assert_eq(p->n_zones, 3);
	ent = &p->zones[0];
	dmz = &p->zones[1];
	ctl = &p->zones[2];
	cr_expect_str_eq(ent->name, "enterprise");
	cr_expect_str_eq(dmz->name, "dmz");
	cr_expect_str_eq(ctl->name, "control");
	cr_expect_eq(ent->security_level, 1);
	cr_expect_eq(dmz->security_level, 2);
	cr_expect_eq(ctl->security_level, 3);

	cr_assert_eq(ent->n_ifaces, 1);
	cr_expect_str_eq(ent->ifaces[0].name, "ent0");
	cr_expect_not(ent->ifaces[0].wildcard);
	cr_expect_eq(ent->n_nets, 0);

	cr_expect_eq(dmz->n_ifaces, 0);
	cr_assert_eq(dmz->n_nets, 2);
	cr_expect_eq(dmz->nets[0].family, AF_INET);
	cr_expect_eq(dmz->nets[0].len, 24);
	expect_prefix(&dmz->nets[0], "198.18.20.0/24");
	cr_expect_eq(dmz->nets[1].family, AF_INET6);
	cr_expect_eq(dmz->nets[1].len, 64);
	expect_prefix(&dmz->nets[1], "2001:db8:20::/64");

	cr_assert_eq(ctl->n_ifaces, 1);
	cr_expect_str_eq(ctl->ifaces[0].name, "ctl0");
	cr_expect(ctl->management);
	cr_expect_not(ent->management);
	cr_expect_not(dmz->management);
	cr_expect_eq(policy_management_zone(p), ctl);
	cr_expect_eq(policy_zone_by_name(p, "dmz"), dmz);
	cr_expect_null(policy_zone_by_name(p, "plant"));
	policy_free(p);
}

/* NDR 5.2 RE(1) */
Test(examples, plant_conduits_allow_only_what_is_listed)
{
	struct pol_policy *p = load_example("plant.yaml");
	const struct pol_conduit *o, *h, *l;
	const struct pol_service *s;
	char buf[POL_PREFIX_STRLEN];

	cr_assert_eq(p->n_conduits, 3);
	o = policy_conduit_by_name(p, "ops-to-historian");
	h = policy_conduit_by_name(p, "historian-poll");
	l = policy_conduit_by_name(p, "plc-to-historian");
	cr_assert(o && h && l);
	cr_expect_null(policy_conduit_by_name(p, "enterprise-to-control"));

	cr_expect_str_eq(o->from->name, "enterprise");
	cr_expect_str_eq(o->to->name, "dmz");
	cr_expect(o->log);
	cr_assert_eq(o->n_allow, 4);
	s = &o->allow[0];
	cr_expect_eq(s->proto, POL_PROTO_TCP);
	cr_assert_eq(s->n_ports, 3);
	cr_expect_eq(s->ports[0].lo, 443);
	cr_expect_eq(s->ports[1].lo, 8443);
	cr_expect_eq(s->ports[2].lo, 5201);
	cr_expect_eq(s->ports[2].hi, 5201);
	cr_expect_eq(s->n_from_hosts, 0);
	cr_assert_eq(s->n_to_hosts, 2);
	cr_expect_str_eq(pol_prefix_format(&s->to_hosts[0], buf, sizeof(buf)),
			 "198.18.20.5");
	cr_expect_eq(s->to_hosts[0].len, 32);
	expect_prefix(&s->to_hosts[1], "2001:db8:20::5");
	cr_expect_eq(s->to_hosts[1].len, 128);
	cr_expect_not(s->has_rate);
	s = &o->allow[1];
	cr_expect_eq(s->proto, POL_PROTO_ICMP);
	cr_expect_eq(s->icmp_type, 8);
	cr_expect_eq(s->n_ports, 0);
	s = &o->allow[2];
	cr_expect_eq(s->proto, POL_PROTO_ICMPV6);
	cr_expect_eq(s->icmp_type, 128);
	s = &o->allow[3];
	cr_expect_eq(s->proto, POL_PROTO_UDP);
	cr_assert_eq(s->n_ports, 1);
	cr_expect_eq(s->ports[0].lo, 20000);
	cr_expect_eq(s->ports[0].hi, 20010);
	cr_assert_eq(s->n_from_hosts, 1);
	expect_prefix(&s->from_hosts[0], "198.18.10.0/28");
	cr_expect(s->has_rate);
	cr_expect_eq(s->rate.count, 200);
	cr_expect_eq(s->rate.unit, POL_RATE_SECOND);
	cr_expect_eq(s->rate.burst, 0);

	cr_expect_str_eq(h->from->name, "dmz");
	cr_expect_str_eq(h->to->name, "control");
	cr_expect_not(h->log);
	cr_assert_eq(h->n_allow, 3);
	cr_expect_eq(h->allow[0].ports[0].lo, 502);
	cr_assert_eq(h->allow[0].n_to_hosts, 1);
	expect_prefix(&h->allow[0].to_hosts[0], "198.18.30.10");
	cr_expect_eq(h->allow[1].proto, POL_PROTO_ICMP);
	cr_expect_eq(h->allow[1].icmp_type, 8);
	cr_expect_eq(h->allow[2].proto, POL_PROTO_ICMPV6);
	cr_expect_eq(h->allow[2].icmp_type, 128);

	cr_expect_str_eq(l->from->name, "control");
	cr_expect_str_eq(l->to->name, "dmz");
	cr_assert_eq(l->n_allow, 2);
	cr_expect_eq(l->allow[0].proto, POL_PROTO_UDP);
	cr_expect_eq(l->allow[0].ports[0].lo, 514);
	cr_expect_eq(l->allow[1].proto, POL_PROTO_TCP);
	cr_expect_eq(l->allow[1].ports[0].lo, 5201);

	/* No conduit for any other direction: those are denied. */
	for (size_t c = 0; c < p->n_conduits; c++) {
		const char *f = p->conduits[c].from->name;
		const char *t = p->conduits[c].to->name;

		cr_expect_not(!strcmp(f, "enterprise") &&
			      !strcmp(t, "control"));
		cr_expect_not(!strcmp(t, "enterprise"));
	}
	for (size_t z = 0; z < p->n_zones; z++)
		cr_expect_not(p->zones[z].intra_zone_allow);
	policy_free(p);
}

/* NDR 5.2 RE(1) */
Test(parse, omitted_settings_default_to_deny)
{
	struct pol_policy *p = load_ok(
		"version: 1\n"
		"zones:\n"
		"  a: {interfaces: [a0]}\n"
		"  b: {interfaces: [b0]}\n"
		"conduits:\n"
		"  - {name: x, from: a, to: b, allow: [{proto: tcp}]}\n");
	const struct pol_service *s;

	cr_expect_not(p->zones[0].intra_zone_allow);
	cr_expect_not(p->zones[0].management);
	cr_expect_eq(p->zones[0].security_level, 0);
	cr_expect_null(p->zones[0].description);
	cr_expect_null(policy_management_zone(p));
	cr_expect_not(p->conduits[0].log);
	s = &p->conduits[0].allow[0];
	cr_expect_eq(s->n_ports, 0);
	cr_expect_eq(s->icmp_type, -1);
	cr_expect_eq(s->n_from_hosts + s->n_to_hosts, 0);
	cr_expect_not(s->has_rate);
	policy_free(p);
}

/* CR 5.1 */
Test(classify, network_wins_over_interface)
{
	struct pol_policy *p = load_example("plant.yaml");
	uint8_t a[16];

	v4("198.18.20.5", a);
	cr_expect_str_eq(policy_classify(p, AF_INET, a, "ent0")->name, "dmz");
	cr_expect_str_eq(policy_classify(p, AF_INET, a, NULL)->name, "dmz");
	v6("2001:db8:20::5", a);
	cr_expect_str_eq(policy_classify(p, AF_INET6, a, "ctl0")->name, "dmz");
	v4("198.18.10.2", a);
	cr_expect_str_eq(policy_classify(p, AF_INET, a, "ent0")->name,
			 "enterprise");
	cr_expect_str_eq(policy_classify(p, AF_INET, a, "ctl0")->name,
			 "control");
	cr_expect_null(policy_classify(p, AF_INET, a, "eth9"));
	cr_expect_null(policy_classify(p, AF_INET, a, NULL));
	cr_expect_null(policy_classify(p, AF_INET, a, "ent00"));
	cr_expect_null(policy_classify(p, AF_INET, a, "ent"));
	/* 198.18.21.0 is just outside the dmz /24. */
	v4("198.18.21.0", a);
	cr_expect_null(policy_classify(p, AF_INET, a, NULL));
	v6("2001:db8:21::5", a);
	cr_expect_null(policy_classify(p, AF_INET6, a, NULL));
	policy_free(p);
}

/* CR 5.1 */
Test(classify, wildcard_interfaces_and_prefix_edges)
{
	struct pol_policy *p =
		load_ok("version: 1\n"
			"zones:\n"
			"  cells: {interfaces: ['vlan1*', eth0]}\n"
			"  wan: {networks: [198.18.0.0/15, 2001:db8::/33]}\n"
			"  lan: {networks: [2001:db8:8000::/33]}\n");
	uint8_t a[16];

	cr_expect_str_eq(p->zones[0].ifaces[0].name, "vlan1");
	cr_expect(p->zones[0].ifaces[0].wildcard);
	cr_expect_str_eq(policy_classify(p, AF_INET, NULL, "vlan100")->name,
			 "cells");
	cr_expect_str_eq(policy_classify(p, AF_INET, NULL, "vlan1")->name,
			 "cells");
	cr_expect_null(policy_classify(p, AF_INET, NULL, "vlan2"));
	cr_expect_null(policy_classify(p, AF_INET, NULL, "eth00"));
	v4("198.19.255.255", a);
	cr_expect_str_eq(policy_classify(p, AF_INET, a, "eth0")->name, "wan");
	v4("198.20.0.0", a);
	cr_expect_str_eq(policy_classify(p, AF_INET, a, "eth0")->name, "cells");
	v6("2001:db8:7fff::1", a);
	cr_expect_str_eq(policy_classify(p, AF_INET6, a, NULL)->name, "wan");
	v6("2001:db8:8000::1", a);
	cr_expect_str_eq(policy_classify(p, AF_INET6, a, NULL)->name, "lan");
	/* A v4 address never matches a v6 network with the same bytes. */
	memset(a, 0, sizeof(a));
	a[0] = 0x20;
	a[1] = 0x01;
	a[2] = 0x0d;
	a[3] = 0xb8;
	cr_expect_null(policy_classify(p, AF_INET, a, NULL));
	policy_free(p);
}

Test(parse, locations_are_one_based)
{
	struct pol_policy *p = load_example("plant.yaml");
	const struct pol_conduit *o =
		policy_conduit_by_name(p, "ops-to-historian");

	/* "  enterprise:" is line 11 of plant.yaml; the dmz networks line 18. */
	cr_expect_eq(p->zones[0].loc.line, 11);
	cr_expect_eq(p->zones[0].loc.col, 3);
	cr_expect_eq(p->zones[1].nets[0].loc.line, 18);
	cr_expect_eq(p->zones[1].nets[0].loc.col, 16);
	cr_expect_eq(o->loc.line, 26);
	cr_expect_eq(o->loc.col, 5);
	cr_expect_eq(o->allow[0].loc.line, 32);
	cr_expect_eq(o->allow[0].loc.col, 9);
	cr_expect_eq(o->allow[0].ports[1].loc.line, 32);
	cr_expect_eq(o->allow[0].ports[1].loc.col, 35);
	cr_expect_str_eq(p->file, EXAMPLES_DIR "plant.yaml");
	policy_free(p);
}

Test(parse, sha256_of_the_bytes)
{
	static const char text[] =
		"version: 1\nzones:\n  a: {interfaces: [a0]}\n";
	static const char hex[] =
		"63d0bbd45a1675eca9e5432835618cce2292873ee275866578339b63c1bacb50";
	struct pol_policy *p = load_ok(text);
	char got[65];

	for (int i = 0; i < 32; i++)
		snprintf(got + 2 * i, 3, "%02x", p->sha256[i]);
	cr_expect_str_eq(got, hex);
	cr_expect_str_eq(p->file, "test.yaml");
	policy_free(p);
}

Test(parse, values_quoted_or_plain_mean_the_same)
{
	struct pol_policy *p = load_ok(
		"version: \"1\"\n"
		"zones:\n"
		"  \"a\": {interfaces: [\"a0\"], security-level: '2', management: \"true\"}\n"
		"  b: {interfaces: [b0], intra-zone: allow, description: ~}\n"
		"conduits:\n"
		"  - name: x\n"
		"    from: a\n"
		"    to: 'b'\n"
		"    log: true\n"
		"    allow:\n"
		"      - {proto: tcp, port: \"443\"}\n"
		"      - {proto: sctp, port: [38412, '36412-36413']}\n"
		"      - {proto: icmp, type: 8}\n"
		"      - {proto: icmp, type: destination-unreachable}\n"
		"      - {proto: icmpv6, type: nd-neighbor-solicit}\n"
		"      - {proto: icmpv6, type: 128, rate: 10/minute, burst: 20}\n");
	const struct pol_conduit *c = &p->conduits[0];

	cr_expect_eq(p->zones[0].security_level, 2);
	cr_expect(p->zones[0].management);
	cr_expect(p->zones[1].intra_zone_allow);
	cr_expect_null(p->zones[1].description);
	cr_expect(c->log);
	cr_assert_eq(c->n_allow, 6);
	cr_expect_eq(c->allow[0].ports[0].lo, 443);
	cr_expect_eq(c->allow[1].proto, POL_PROTO_SCTP);
	cr_expect_eq(c->allow[1].ports[1].lo, 36412);
	cr_expect_eq(c->allow[1].ports[1].hi, 36413);
	cr_expect_eq(c->allow[2].icmp_type, 8);
	cr_expect_eq(c->allow[3].icmp_type, 3);
	cr_expect_eq(c->allow[4].icmp_type, 135);
	cr_expect_eq(c->allow[5].icmp_type, 128);
	cr_expect_eq(c->allow[5].rate.count, 10);
	cr_expect_eq(c->allow[5].rate.unit, POL_RATE_MINUTE);
	cr_expect_eq(c->allow[5].rate.burst, 20);
	policy_free(p);
}

Test(parse, conduits_are_optional)
{
	struct pol_policy *p = load_ok(
		"version: 1\nzones:\n  a: {networks: [198.18.0.0/16]}\n");

	cr_expect_eq(p->n_conduits, 0);
	policy_free(p);
}

Test(model, text_forms)
{
	struct pol_port_range r = { 20000, 20010, { 0, 0 } };
	char buf[32];

	cr_expect_str_eq(pol_proto_name(POL_PROTO_TCP), "tcp");
	cr_expect_str_eq(pol_proto_name(POL_PROTO_UDP), "udp");
	cr_expect_str_eq(pol_proto_name(POL_PROTO_SCTP), "sctp");
	cr_expect_str_eq(pol_proto_name(POL_PROTO_ICMP), "icmp");
	cr_expect_str_eq(pol_proto_name(POL_PROTO_ICMPV6), "icmpv6");
	cr_expect_str_eq(pol_port_format(&r, buf, sizeof(buf)), "20000-20010");
	r.hi = 20000;
	cr_expect_str_eq(pol_port_format(&r, buf, sizeof(buf)), "20000");
	cr_expect_str_eq(pol_icmp_type_name(POL_PROTO_ICMP, 8), "echo-request");
	cr_expect_str_eq(pol_icmp_type_name(POL_PROTO_ICMPV6, 128),
			 "echo-request");
	cr_expect_null(pol_icmp_type_name(POL_PROTO_ICMP, 128));
	cr_expect_null(pol_icmp_type_name(POL_PROTO_TCP, 8));
	cr_expect_eq(pol_icmp_type_parse(POL_PROTO_ICMPV6,
					 "nd-neighbor-advert"),
		     136);
	cr_expect_eq(pol_icmp_type_parse(POL_PROTO_ICMP, "nd-neighbor-advert"),
		     -1);
	cr_expect_str_eq(pol_rate_unit_name(POL_RATE_DAY), "day");
	policy_free(NULL);
}

/* --- YAML-level rejections ---------------------------------------------- */

/* CR 3.5 */
Test(reject, yaml_syntax_unclosed_flow)
{
	expect_file_invalid(
		"syntax-unclosed.yaml",
		WANT("4:1: YAML syntax error: did not find expected ',' or '}' "
		     "(while parsing a flow mapping at 3:6)"));
}

/* CR 3.5 */
Test(reject, yaml_syntax_tab_indent)
{
	expect_file_invalid(
		"syntax-tab.yaml",
		WANT("4:1: YAML syntax error: found character that cannot start "
		     "any token (while scanning for the next token at 4:1; tabs "
		     "are not allowed for indentation)"));
}

/* CR 3.5 */
Test(reject, yaml_syntax_bad_indent)
{
	expect_file_invalid(
		"syntax-indent.yaml",
		WANT("5:4: YAML syntax error: did not find expected key (while "
		     "parsing a block mapping at 3:3)"));
}

/* CR 3.5 */
Test(reject, not_utf8)
{
	expect_file_invalid(
		"not-utf8.yaml",
		WANT("4:21: invalid UTF-8 byte 0xE9 (expected the policy as "
		     "UTF-8 text)"));
}

/* CR 3.5 */
Test(reject, utf16_is_not_utf8)
{
	expect_file_invalid(
		"utf16.yaml",
		WANT("1:1: invalid UTF-8 byte 0xFF (expected the policy as "
		     "UTF-8 text)"));
}

/* CR 3.5 */
Test(reject, control_character)
{
	expect_file_invalid(
		"control-char.yaml",
		WANT("4:22: control character U+0007 is not allowed (expected "
		     "printable UTF-8 text)"));
}

/* CR 3.5 */
Test(reject, utf8_edge_cases)
{
	/* Overlong "/" (C0 AF), a surrogate (ED A0 80), a truncated tail;
	 * columns count characters, so the e-acute before it is one. */
	expect_str_invalid("a: \xc3\xa9\xc0\xaf\n",
			   WANT("1:5: invalid UTF-8 byte 0xC0 (expected the "
				"policy as UTF-8 text)"));
	expect_str_invalid("a: b\r\nc: \xed\xa0\x80\n",
			   WANT("2:4: invalid UTF-8 byte 0xED (expected the "
				"policy as UTF-8 text)"));
	expect_str_invalid("a: \xe2\x82",
			   WANT("1:4: invalid UTF-8 byte 0xE2 (expected the "
				"policy as UTF-8 text)"));
}

/* CR 3.5 */
Test(reject, nul_byte)
{
	static const char text[] = "version: 1\x00zones: {}\n";
	struct diag_list dl;
	struct pol_policy *p;

	diag_list_init(&dl);
	cr_assert_eq(policy_load_buffer("nul.yaml", text, sizeof(text) - 1, 0,
					&p, &dl),
		     -EINVAL);
	expect_diags(&dl, "nul.yaml",
		     WANT("1:11: control character U+0000 is not allowed "
			  "(expected printable UTF-8 text)"));
	diag_list_free(&dl);
}

/* CR 3.5 */
Test(reject, empty_file)
{
	expect_file_invalid(
		"empty.yaml",
		WANT("1:1: empty policy (expected a mapping with version, zones "
		     "and conduits)"));
	expect_str_invalid("", WANT("1:1: empty policy (expected a mapping "
				    "with version, zones and conduits)"));
}

/* CR 3.5 */
Test(reject, top_level_not_a_mapping)
{
	expect_file_invalid(
		"not-mapping.yaml",
		WANT("1:1: expected a mapping with version, zones and conduits, "
		     "found a sequence"));
}

/* CR 3.5 */
Test(reject, second_document)
{
	expect_file_invalid(
		"two-documents.yaml",
		WANT("4:1: expected a single YAML document, found a second one"));
}

/* CR 3.5 */
Test(reject, alias)
{
	expect_file_invalid(
		"alias.yaml",
		WANT("4:6: YAML aliases are not supported (expected every value "
		     "written out)"));
}

/* CR 3.5 */
Test(reject, nesting_depth)
{
	char text[128];

	memset(text, '[', 40);
	strcpy(text + 40, "\n");
	expect_str_invalid(text, WANT("1:33: nesting deeper than 32 levels"));
}

/* CR 3.5 */
Test(reject, nul_inside_a_quoted_string)
{
	expect_str_invalid("version: 1\nzones:\n  a: {interfaces: [a0], "
			   "description: \"x\\0y\"}\n",
			   WANT("3:38: expected a description, found a string "
				"with a NUL character"));
}

/* CR 3.5 */
Test(reject, buffer_over_the_size_limit)
{
	static const char text[] =
		"version: 1\nzones:\n  a: {interfaces: [a0]}\n";
	struct diag_list dl;
	struct pol_policy *p = (struct pol_policy *)1;

	diag_list_init(&dl);
	cr_assert_eq(policy_load_buffer("big.yaml", text, sizeof(text) - 1, 16,
					&p, &dl),
		     -EINVAL);
	cr_assert_null(p);
	expect_diags(&dl, "big.yaml",
		     WANT("policy is 42 bytes, over the limit of 16 bytes"));
	diag_list_free(&dl);
	/* Exactly at the limit is fine. */
	diag_list_init(&dl);
	cr_assert_eq(policy_load_buffer("big.yaml", text, sizeof(text) - 1,
					sizeof(text) - 1, &p, &dl),
		     0);
	policy_free(p);
	diag_list_free(&dl);
}

/* CR 3.5 */
Test(reject, file_over_the_size_limit)
{
	struct diag_list dl;
	struct pol_policy *p = (struct pol_policy *)1;
	char want[128];

	diag_list_init(&dl);
	cr_assert_eq(policy_load_file(EXAMPLES_DIR "plant.yaml", 100, &p, &dl),
		     -EINVAL);
	cr_assert_null(p);
	cr_assert_eq(dl.n, 1);
	cr_expect_eq(dl.v[0].line, 0);
	snprintf(want, sizeof(want), "over the limit of 100 bytes");
	cr_expect(strstr(dl.v[0].msg, want) != NULL, "%s", dl.v[0].msg);
	cr_expect(strncmp(dl.v[0].msg, "policy is ", 10) == 0);
	diag_list_free(&dl);
}

Test(reject, missing_file_is_an_io_error)
{
	struct diag_list dl;
	struct pol_policy *p = (struct pol_policy *)1;

	diag_list_init(&dl);
	cr_expect_eq(policy_load_file(INVALID_DIR "no-such-file.yaml", 0, &p,
				      &dl),
		     -ENOENT);
	cr_expect_null(p);
	cr_expect_eq(dl.n, 0);
	cr_expect_eq(policy_load_file(INVALID_DIR, 0, &p, &dl), -EISDIR);
	diag_list_free(&dl);
}

/* CR 3.5 */
Test(reject, too_many_errors_are_capped)
{
	char *text = malloc(64 * 1024);
	size_t o = 0;
	struct diag_list dl;
	struct pol_policy *p;

	cr_assert_not_null(text);
	o += (size_t)sprintf(text + o,
			     "version: 1\nzones:\n  a:\n    interfaces: [");
	for (int i = 0; i < 150; i++)
		o += (size_t)sprintf(text + o, "%s'bad name'", i ? ", " : "");
	strcpy(text + o, "]\n");
	diag_list_init(&dl);
	cr_assert_eq(policy_load_buffer("many.yaml", text, strlen(text), 0, &p,
					&dl),
		     -EINVAL);
	cr_assert_eq(dl.n, 101);
	cr_expect_str_eq(dl.v[100].msg, "too many errors, stopped after 100");
	cr_expect_eq(dl.v[0].line, 4);
	diag_list_free(&dl);
	free(text);
}

Test(reject, diagnostics_append_to_an_existing_list)
{
	struct diag_list dl;
	struct pol_policy *p;

	diag_list_init(&dl);
	diag_add(&dl, "other", 9, 9, "earlier");
	cr_assert_eq(policy_load_buffer("t.yaml", "version: 3\n", 11, 0, &p,
					&dl),
		     -EINVAL);
	cr_assert_eq(dl.n, 3);
	cr_expect_str_eq(dl.v[0].msg, "earlier");
	/* Sorted by location within this load only. */
	cr_expect_str_eq(dl.v[1].msg, "missing required key 'zones' in policy");
	cr_expect_str_eq(dl.v[2].msg, "unsupported version 3 (expected 1)");
	diag_list_free(&dl);
}

/* CR 3.5 */
Test(reject, pipe_over_the_size_limit)
{
	static const char text[] =
		"version: 1\nzones:\n  a: {interfaces: [a0]}\n";
	struct diag_list dl;
	struct pol_policy *p = (struct pol_policy *)1;
	char path[64];
	int fds[2];

	cr_assert_eq(pipe(fds), 0);
	cr_assert_eq(write(fds[1], text, sizeof(text) - 1),
		     (ssize_t)sizeof(text) - 1);
	close(fds[1]);
	snprintf(path, sizeof(path), "/dev/fd/%d", fds[0]);
	diag_list_init(&dl);
	cr_assert_eq(policy_load_file(path, 20, &p, &dl), -EINVAL);
	cr_assert_null(p);
	expect_diags(&dl, path, WANT("policy is over the limit of 20 bytes"));
	diag_list_free(&dl);
	close(fds[0]);
}
