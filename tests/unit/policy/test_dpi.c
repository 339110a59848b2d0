/*
 * Protocol rules in the policy: every key of every protocol block lands in
 * the model as conduit-policy(5) says, presets resolve to the documented
 * sets, defaults (proto, port, umas/mei, s7plus, malformed) hold, range
 * lists come out sorted and merged, every bad value is rejected at its
 * line:col with its message, and the diff and JSON show the blocks.
 */
#include <jansson.h>
#include <stdlib.h>

#include "helpers.h"
#include "policy/diff.h"

/* Lines 1-9; the entry starts at 10:9. */
#define HEAD                        \
	"version: 1\n"              \
	"zones:\n"                  \
	"  a: {interfaces: [a0]}\n" \
	"  b: {interfaces: [b0]}\n" \
	"conduits:\n"               \
	"  - name: x\n"             \
	"    from: a\n"             \
	"    to: b\n"               \
	"    allow:\n"
#define ENTRY(e) HEAD "      - " e "\n"
#define ENTRY_LINE 10
#define ENTRY_COL 9

static const struct pol_service *entry0(const struct pol_policy *p)
{
	cr_assert_eq(p->n_conduits, 1);
	cr_assert_geq(p->conduits[0].n_allow, 1);
	return &p->conduits[0].allow[0];
}

static const struct pol_dpi *dpi0(const struct pol_policy *p, enum pol_app app)
{
	const struct pol_dpi *d = entry0(p)->dpi;

	cr_assert_not_null(d);
	cr_assert_eq(d->app, app);
	return d;
}

/* The members of s as "1,2,5-7". */
static void set_text(const struct pol_set256 *s, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (unsigned int v = 0; v < 256; v++) {
		unsigned int hi = v;

		if (!pol_set_has(s, v))
			continue;
		while (hi + 1 < 256 && pol_set_has(s, hi + 1))
			hi++;
		o += (size_t)snprintf(buf + o, len - o,
				      hi == v ? "%s%u" : "%s%u-%u",
				      o ? "," : "", v, hi);
		v = hi;
	}
}

static void expect_set(const struct pol_set256 *s, const char *want)
{
	char buf[1024];

	set_text(s, buf, sizeof(buf));
	cr_expect_str_eq(buf, want);
}

static void expect_ranges(const struct pol_ranges *r, const char *want)
{
	char buf[1024];
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < r->n; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%u-%u",
				      i ? "," : "", r->v[i].lo, r->v[i].hi);
	cr_expect_str_eq(buf, want);
}

/* --- modbus ---------------------------------------------------------------- */

static const struct {
	const char *block;
	const char *functions;
	enum pol_action umas, mei;
} mb_presets[] = {
	{ "read-only", "1-4,7,11-12,17,20,24", POL_ACT_DENY, POL_ACT_DENY },
	{ "read-write", "1-7,11-12,15-17,20-24", POL_ACT_DENY, POL_ACT_DENY },
	{ "programming", "1-8,11-12,15-17,20-24,43", POL_ACT_DENY,
	  POL_ACT_ALLOW },
	{ "all", "1-127", POL_ACT_ALLOW, POL_ACT_ALLOW },
	/* umas/mei defaults follow the listed functions, keys override */
	{ "{functions: [90, 3]}", "3,90", POL_ACT_ALLOW, POL_ACT_DENY },
	{ "{functions: [encapsulated-interface-transport]}", "43", POL_ACT_DENY,
	  POL_ACT_ALLOW },
	{ "{preset: read-only, umas: allow, mei: reject}",
	  "1-4,7,11-12,17,20,24,90", POL_ACT_ALLOW, POL_ACT_REJECT },
	{ "{preset: all, umas: deny, mei: deny}", "1-42,44-89,91-127",
	  POL_ACT_DENY, POL_ACT_DENY },
	{ "{preset: programming, mei: deny}", "1-8,11-12,15-17,20-24",
	  POL_ACT_DENY, POL_ACT_DENY },
	{ "{functions: [reads, writes, 0x2b]}", "1-7,11-12,15-17,20-24,43",
	  POL_ACT_DENY, POL_ACT_ALLOW },
	/* no preset, no functions: allows no function (legal) */
	{ "{}", "", POL_ACT_DENY, POL_ACT_DENY },
	{ "{preset: read-only, functions: [8]}", "1-4,7-8,11-12,17,20,24",
	  POL_ACT_DENY, POL_ACT_DENY },
};

/* NDR 5.2 */
Test(modbus, presets_and_umas_mei_resolve)
{
	char yaml[1024];

	for (size_t i = 0; i < sizeof(mb_presets) / sizeof(mb_presets[0]);
	     i++) {
		struct pol_policy *p;
		const struct pol_dpi *d;

		snprintf(yaml, sizeof(yaml), ENTRY("{ modbus: %s }"),
			 mb_presets[i].block);
		cr_log_info("block %s", mb_presets[i].block);
		p = load_ok(yaml);
		d = dpi0(p, POL_APP_MODBUS);
		cr_expect(d->allow.modbus.has_functions);
		expect_set(&d->allow.modbus.functions, mb_presets[i].functions);
		cr_expect_eq(d->umas, mb_presets[i].umas, "%s",
			     mb_presets[i].block);
		cr_expect_eq(d->mei, mb_presets[i].mei, "%s",
			     mb_presets[i].block);
		cr_expect_eq(d->max_pdu, 253);
		policy_free(p);
	}
}

/* NDR 5.2 */
Test(modbus, defaults_proto_port_and_preset_number)
{
	struct pol_policy *p = load_ok(ENTRY("modbus: read-only"));
	const struct pol_service *s = entry0(p);

	cr_expect_eq(s->proto, POL_PROTO_TCP);
	cr_assert_eq(s->n_ports, 1);
	cr_expect_eq(s->ports[0].lo, 502);
	cr_expect_eq(s->ports[0].hi, 502);
	cr_expect_eq(s->dpi->preset, POL_MODBUS_READ_ONLY);
	cr_expect_eq(s->dpi->loc.line, ENTRY_LINE);
	cr_expect_eq(s->dpi->loc.col, ENTRY_COL);
	cr_expect_eq(s->dpi->n_rules, 0);
	cr_expect_eq(s->dpi->n_limits, 0);
	cr_expect_eq(s->n_apps, 0);
	policy_free(p);
	/* an explicit port wins */
	p = load_ok(ENTRY("{ modbus: all, port: 1502 }"));
	cr_expect_eq(entry0(p)->ports[0].lo, 1502);
	cr_expect_eq(entry0(p)->n_ports, 1);
	policy_free(p);
}

/* NDR 5.2 */
Test(modbus, every_key)
{
	struct pol_policy *p = load_ok(
		HEAD
		"      - proto: tcp\n"				       /* 10 */
		"        modbus:\n"				       /* 11 */
		"          functions: [read-coils, 0x10, 5-6]\n"       /* 12 */
		"          unit-ids: [7, 1-3, 4, 0x20-0x2f]\n"	       /* 13 */
		"          coils: {read: [0-99, 100-199], write: 5}\n" /* 14 */
		"          discrete-inputs: {read: 10-20}\n"	       /* 15 */
		"          holding-registers: {write: [40-49]}\n"      /* 16 */
		"          input-registers: {}\n"		       /* 17 */
		"          max-pdu: 100\n"			       /* 18 */
		"          umas: reject\n"			       /* 19 */
		"          mei: allow\n"			       /* 20 */
		"          rules:\n"				       /* 21 */
		"            - {action: reject, functions: writes,\n"
		"               unit-ids: 9}\n" /* 23 */
		"            - action: allow\n" /* 24 */
		"              holding-registers: {read: 0-9}\n"
		"          rate-limits:\n" /* 26 */
		"            - {functions: [6, 16], rate: 10/minute,\n"
		"               burst: 3, per: conduit, action: reject}\n"
		"            - {rate: 5/second}\n"); /* 29 */
	const struct pol_dpi *d = dpi0(p, POL_APP_MODBUS);
	const struct pol_modbus_match *m = &d->allow.modbus;

	cr_expect_eq(d->preset, -1);
	expect_set(&m->functions, "1,5-6,16,43");
	expect_ranges(&m->unit_ids, "1-4,7-7,32-47");
	cr_expect(m->has_table[POL_MB_COILS]);
	expect_ranges(&m->read[POL_MB_COILS], "0-199");
	expect_ranges(&m->write[POL_MB_COILS], "5-5");
	cr_expect(m->has_table[POL_MB_DISCRETE_INPUTS]);
	expect_ranges(&m->read[POL_MB_DISCRETE_INPUTS], "10-20");
	cr_expect(m->has_table[POL_MB_HOLDING_REGISTERS]);
	cr_expect_eq(m->read[POL_MB_HOLDING_REGISTERS].n, 0);
	expect_ranges(&m->write[POL_MB_HOLDING_REGISTERS], "40-49");
	/* present but empty: none allowed (not "any") */
	cr_expect(m->has_table[POL_MB_INPUT_REGISTERS]);
	cr_expect_eq(m->read[POL_MB_INPUT_REGISTERS].n, 0);
	cr_expect_eq(d->max_pdu, 100);
	cr_expect_eq(d->umas, POL_ACT_REJECT);
	cr_expect_eq(d->mei, POL_ACT_ALLOW);

	cr_assert_eq(d->n_rules, 2);
	cr_expect_eq(d->rules[0].action, POL_ACT_REJECT);
	cr_expect(d->rules[0].m.modbus.has_functions);
	expect_set(&d->rules[0].m.modbus.functions, "5-6,15-16,21-23");
	expect_ranges(&d->rules[0].m.modbus.unit_ids, "9-9");
	cr_expect_eq(d->rules[0].loc.line, 22);
	cr_expect_eq(d->rules[0].loc.col, 15);
	cr_expect_eq(d->rules[1].action, POL_ACT_ALLOW);
	cr_expect_not(d->rules[1].m.modbus.has_functions);
	cr_expect(d->rules[1].m.modbus.has_table[POL_MB_HOLDING_REGISTERS]);
	cr_expect_not(d->rules[1].m.modbus.has_table[POL_MB_COILS]);
	expect_ranges(&d->rules[1].m.modbus.read[POL_MB_HOLDING_REGISTERS],
		      "0-9");
	cr_expect_eq(d->rules[1].loc.line, 24);

	cr_assert_eq(d->n_limits, 2);
	expect_set(&d->limits[0].m.modbus.functions, "6,16");
	cr_expect_eq(d->limits[0].rate.count, 10);
	cr_expect_eq(d->limits[0].rate.unit, POL_RATE_MINUTE);
	cr_expect_eq(d->limits[0].rate.burst, 3);
	cr_expect_eq(d->limits[0].per, POL_PER_CONDUIT);
	cr_expect_eq(d->limits[0].action, POL_ACT_REJECT);
	cr_expect_eq(d->limits[0].loc.line, 27);
	cr_expect_eq(d->limits[1].rate.count, 5);
	cr_expect_eq(d->limits[1].rate.unit, POL_RATE_SECOND);
	cr_expect_eq(d->limits[1].per, POL_PER_SOURCE);
	cr_expect_eq(d->limits[1].action, POL_ACT_DENY);
	cr_expect_not(d->limits[1].m.modbus.has_functions);
	policy_free(p);
}

/* NDR 5.2 */
Test(modbus, rule_exception_codes)
{
	static const struct {
		const char *value;
		uint16_t code;
	} ok[] = {
		{ "illegal-function", 1 },
		{ "illegal-data-address", 2 },
		{ "illegal-data-value", 3 },
		{ "4", 4 },
		{ "0x0b", 11 },
		{ "255", 255 },
	};
	char yaml[1024];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct pol_policy *p;
		const struct pol_dpi *d;

		snprintf(yaml, sizeof(yaml),
			 ENTRY("{ modbus: {preset: read-write, rules: "
			       "[{action: reject, exception: %s, functions: "
			       "6}, {action: reject, functions: 16}]} }"),
			 ok[i].value);
		p = load_ok(yaml);
		d = dpi0(p, POL_APP_MODBUS);
		cr_assert_eq(d->n_rules, 2);
		cr_expect_eq(d->rules[0].action, POL_ACT_REJECT);
		cr_expect_eq(d->rules[0].exception, ok[i].code, "%s -> %u",
			     ok[i].value, d->rules[0].exception);
		/* a reject rule without the key answers with resets */
		cr_expect_eq(d->rules[1].exception, 0);
		policy_free(p);
	}
}

/* NDR 5.2 */
Test(ranges, sorted_and_merged)
{
	struct pol_policy *p = load_ok(ENTRY(
		"{ dnp3: {outstations: [30-40, 5, 1-3, 4, 0x0a-12, 11-20, "
		"41, 0xffff, 100-200, 150-160]} }"));
	const struct pol_dpi *d = dpi0(p, POL_APP_DNP3);

	/* touching ranges merge too: 1-3 + 4 + 5, 10-12 + 11-20, 30-40 + 41 */
	expect_ranges(&d->allow.dnp3.outstations,
		      "1-5,10-20,30-41,100-200,65535-65535");
	cr_expect(pol_ranges_has(&d->allow.dnp3.outstations, 41));
	cr_expect_not(pol_ranges_has(&d->allow.dnp3.outstations, 42));
	cr_expect(pol_ranges_cover(&d->allow.dnp3.outstations, 2, 5));
	policy_free(p);
	p = load_ok(ENTRY("{ enip: {classes: [0xfffffffe-0xffffffff, 0, "
			  "0xfffffff0-0xfffffffd]} }"));
	expect_ranges(&dpi0(p, POL_APP_ENIP)->allow.enip.classes,
		      "0-0,4294967280-4294967295");
	policy_free(p);
}

/* --- dnp3 ------------------------------------------------------------------ */

/* NDR 5.2 */
Test(dnp3, presets_and_keys)
{
	static const struct {
		const char *block, *functions;
	} t[] = {
		{ "read-only", "0-1,20-21,23-24,32-33,129-131" },
		{ "operate", "0-1,3-6,20-21,23-24,32-33,129-131" },
		{ "all", "0-255" },
		{ "{}", "" },
		{ "{functions: [confirm, read, write, select, operate, "
		  "direct-operate, direct-operate-nr, immediate-freeze, "
		  "immediate-freeze-nr, freeze-clear, freeze-clear-nr, "
		  "freeze-at-time, freeze-at-time-nr, cold-restart, "
		  "warm-restart, initialize-data, initialize-application, "
		  "start-application, stop-application, save-configuration, "
		  "enable-unsolicited, disable-unsolicited, assign-class, "
		  "delay-measure, record-current-time, open-file, close-file, "
		  "delete-file, get-file-info, authenticate-file, abort-file, "
		  "activate-configuration, authenticate-request, "
		  "authenticate-request-nr, response, unsolicited-response, "
		  "authenticate-response]}",
		  "0-33,129-131" },
		/* the parser's long names are accepted too */
		{ "{functions: [direct-operate-no-ack, delay-measurement]}",
		  "6,23" },
	};
	char yaml[2048];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct pol_policy *p;
		const struct pol_dpi *d;

		snprintf(yaml, sizeof(yaml), ENTRY("{ dnp3: %s }"), t[i].block);
		p = load_ok(yaml);
		d = dpi0(p, POL_APP_DNP3);
		cr_expect(d->allow.dnp3.has_functions);
		expect_set(&d->allow.dnp3.functions, t[i].functions);
		cr_expect_eq(entry0(p)->ports[0].lo, 20000);
		policy_free(p);
	}
}

/* NDR 5.2 */
Test(dnp3, objects_udp_and_rules)
{
	struct pol_policy *p = load_ok(
		HEAD
		"      - proto: udp\n"	      /* 10 */
		"        dnp3:\n"	      /* 11 */
		"          preset: operate\n" /* 12 */
		"          outstations: 10\n" /* 13 */
		"          objects:\n"	      /* 14 */
		"            - {group: 12, variation: 1, indexes: 0-7}\n" /* 15 */
		"            - {group: 41}\n" /* 16 */
		"          rules:\n"	      /* 17 */
		"            - {action: deny, functions: cold-restart}\n"
		"            - {action: deny, objects: [{group: 80}]}\n");
	const struct pol_service *s = entry0(p);
	const struct pol_dpi *d = dpi0(p, POL_APP_DNP3);

	cr_expect_eq(s->proto, POL_PROTO_UDP);
	cr_expect_eq(s->ports[0].lo, 20000);
	cr_expect_eq(d->preset, POL_DNP3_OPERATE);
	expect_ranges(&d->allow.dnp3.outstations, "10-10");
	cr_assert_eq(d->allow.dnp3.n_objects, 2);
	cr_expect_eq(d->allow.dnp3.objects[0].group, 12);
	cr_expect(d->allow.dnp3.objects[0].has_variation);
	cr_expect_eq(d->allow.dnp3.objects[0].variation, 1);
	expect_ranges(&d->allow.dnp3.objects[0].indexes, "0-7");
	cr_expect_eq(d->allow.dnp3.objects[0].loc.line, 15);
	cr_expect_eq(d->allow.dnp3.objects[0].loc.col, 15);
	cr_expect_eq(d->allow.dnp3.objects[1].group, 41);
	cr_expect_not(d->allow.dnp3.objects[1].has_variation);
	cr_expect_eq(d->allow.dnp3.objects[1].indexes.n, 0);
	cr_assert_eq(d->n_rules, 2);
	expect_set(&d->rules[0].m.dnp3.functions, "13");
	cr_expect_not(d->rules[1].m.dnp3.has_functions);
	cr_expect_eq(d->rules[1].m.dnp3.n_objects, 1);
	cr_expect_eq(d->rules[1].m.dnp3.objects[0].group, 80);
	policy_free(p);
}

/* --- iec104 ---------------------------------------------------------------- */

/* NDR 5.2 */
Test(iec104, presets_and_keys)
{
	struct pol_policy *p = load_ok(ENTRY("iec104: monitor-only"));
	const struct pol_dpi *d = dpi0(p, POL_APP_IEC104);

	cr_expect(d->allow.iec104.has_types);
	expect_set(&d->allow.iec104.types, "1-44,70,100-102,104");
	cr_expect_eq(entry0(p)->ports[0].lo, 2404);
	cr_expect_eq(entry0(p)->proto, POL_PROTO_TCP);
	policy_free(p);

	p = load_ok(ENTRY("{ iec104: all }"));
	expect_set(&dpi0(p, POL_APP_IEC104)->allow.iec104.types, "1-255");
	policy_free(p);

	p = load_ok(ENTRY(
		"{ iec104: {type-ids: [c_sc_na_1, C_IC_NA_1, 1-2], causes: "
		"[per/cyc, back, spont, init, req, act, actcon, deact, "
		"deactcon, actterm, retrem, retloc, file, inrogen, reqcogen, "
		"unknown-type, unknown-cause, unknown-ca, unknown-ioa, 63], "
		"common-addresses: [1, 0xffff], ioas: 0-16777215, "
		"rules: [{action: deny, type-ids: 45, ioas: 100-200}]} }"));
	d = dpi0(p, POL_APP_IEC104);
	expect_set(&d->allow.iec104.types, "1-2,45,100");
	expect_ranges(&d->allow.iec104.causes, "1-13,20-20,37-37,44-47,63-63");
	expect_ranges(&d->allow.iec104.common_addresses, "1-1,65535-65535");
	expect_ranges(&d->allow.iec104.ioas, "0-16777215");
	cr_assert_eq(d->n_rules, 1);
	expect_set(&d->rules[0].m.iec104.types, "45");
	expect_ranges(&d->rules[0].m.iec104.ioas, "100-200");
	cr_expect_eq(d->rules[0].m.iec104.causes.n, 0);
	policy_free(p);
}

/* --- s7comm ---------------------------------------------------------------- */

/* NDR 5.2 */
Test(s7comm, presets)
{
	struct pol_policy *p = load_ok(ENTRY("s7comm: read-only"));
	const struct pol_dpi *d = dpi0(p, POL_APP_S7COMM);
	const struct pol_s7_match *m = &d->allow.s7comm;

	expect_set(&m->functions, "4,240");
	cr_assert_eq(m->n_userdata, 4);
	cr_expect_eq(m->userdata[0].group, 4); /* cpu */
	expect_ranges(&m->userdata[0].subfunctions, "1-1");
	cr_expect_eq(m->userdata[1].group, 3); /* block */
	expect_ranges(&m->userdata[1].subfunctions, "1-3");
	cr_expect_eq(m->userdata[2].group, 7); /* time */
	expect_ranges(&m->userdata[2].subfunctions, "1-1,3-3");
	cr_expect_eq(m->userdata[3].group, 2); /* cyclic, any subfunction */
	cr_expect_eq(m->userdata[3].subfunctions.n, 0);
	cr_expect_eq(d->s7plus, POL_ACT_DENY);
	cr_expect_eq(entry0(p)->ports[0].lo, 102);
	policy_free(p);

	p = load_ok(ENTRY("s7comm: all"));
	d = dpi0(p, POL_APP_S7COMM);
	expect_set(&d->allow.s7comm.functions, "0-255");
	cr_expect_not(d->allow.s7comm.has_userdata); /* any group */
	cr_expect_eq(d->s7plus, POL_ACT_ALLOW);
	policy_free(p);

	/* no preset, no userdata list: no userdata request is allowed */
	p = load_ok(ENTRY("{ s7comm: {functions: [read-var]} }"));
	d = dpi0(p, POL_APP_S7COMM);
	cr_expect(d->allow.s7comm.has_userdata);
	cr_expect_eq(d->allow.s7comm.n_userdata, 0);
	policy_free(p);
}

/* NDR 5.2 */
Test(s7comm, keys)
{
	struct pol_policy *p = load_ok(ENTRY(
		"{ s7comm: {functions: [cpu-services, read-var, write-var, "
		"request-download, download-block, download-ended, "
		"start-upload, upload, end-upload, pi-service, plc-stop, "
		"setup-communication, 0x01], userdata: [{group: cpu, "
		"subfunctions: [1, 2]}, {group: 1}, {group: mode-transition}, "
		"{group: programmer}, {group: cyclic}, {group: block}, "
		"{group: security}, {group: pbc}, {group: time}, "
		"{group: nc-programming}], s7plus: reject} }"));
	const struct pol_dpi *d = dpi0(p, POL_APP_S7COMM);
	const struct pol_s7_match *m = &d->allow.s7comm;
	static const uint8_t groups[] = { 4, 1, 0, 1, 2, 3, 5, 6, 7, 15 };

	expect_set(&m->functions, "0-1,4-5,26-31,40-41,240");
	cr_assert_eq(m->n_userdata, 10);
	for (size_t i = 0; i < 10; i++)
		cr_expect_eq(m->userdata[i].group, groups[i], "entry %zu", i);
	expect_ranges(&m->userdata[0].subfunctions, "1-2");
	cr_expect_eq(m->userdata[1].subfunctions.n, 0);
	cr_expect_eq(d->s7plus, POL_ACT_REJECT);
	policy_free(p);
}

/* --- enip ------------------------------------------------------------------ */

/* NDR 5.2 */
Test(enip, presets_and_keys)
{
	struct pol_policy *p = load_ok(ENTRY("enip: read-only"));
	const struct pol_dpi *d = dpi0(p, POL_APP_ENIP);

	expect_ranges(&d->allow.enip.commands,
		      "0-0,4-4,99-102,111-112,114-115");
	cr_expect(d->allow.enip.has_services);
	expect_set(&d->allow.enip.services, "1,3,10,14,76,78,82,84-85,91");
	cr_expect_eq(entry0(p)->ports[0].lo, 44818);
	policy_free(p);

	p = load_ok(ENTRY("{ enip: all, proto: udp }"));
	d = dpi0(p, POL_APP_ENIP);
	cr_expect_eq(d->allow.enip.commands.n, 0); /* any command */
	expect_set(&d->allow.enip.services, "0-127");
	cr_expect_eq(entry0(p)->proto, POL_PROTO_UDP);
	policy_free(p);

	/* no preset, no commands: the ten specified commands only */
	p = load_ok(ENTRY("{ enip: {services: [get-attribute-single]} }"));
	d = dpi0(p, POL_APP_ENIP);
	expect_ranges(&d->allow.enip.commands,
		      "0-0,4-4,99-102,111-112,114-115");
	expect_set(&d->allow.enip.services, "14");
	policy_free(p);

	p = load_ok(ENTRY(
		"{ enip: {commands: [nop, list-services, list-identity, "
		"list-interfaces, register-session, unregister-session, "
		"send-rr-data, send-unit-data, indicate-status, cancel, "
		"0x1000-0x1001], services: [get-attributes-all, "
		"get-attribute-list, set-attribute-list, reset, start, stop, "
		"multiple-service-packet, get-attribute-single, "
		"set-attribute-single, forward-close, unconnected-send, "
		"forward-open, large-forward-open, read-tag, write-tag, "
		"read-tag-fragmented, write-tag-fragmented, "
		"get-instance-attribute-list], classes: [1, 0x6b], instances: "
		"1-10, attributes: [3]} }"));
	d = dpi0(p, POL_APP_ENIP);
	expect_ranges(&d->allow.enip.commands,
		      "0-0,4-4,99-102,111-112,114-115,4096-4097");
	expect_set(&d->allow.enip.services, "1,3-7,10,14,16,76-78,82-85,91");
	expect_ranges(&d->allow.enip.classes, "1-1,107-107");
	expect_ranges(&d->allow.enip.instances, "1-10");
	expect_ranges(&d->allow.enip.attributes, "3-3");
	policy_free(p);
}

/* --- app, categories, malformed -------------------------------------------- */

/* NDR 5.2 */
Test(conduit, malformed_defaults_to_deny)
{
	static const struct {
		const char *key;
		enum pol_action want;
	} t[] = {
		{ "", POL_ACT_DENY },
		{ "    malformed: deny\n", POL_ACT_DENY },
		{ "    malformed: reject\n", POL_ACT_REJECT },
		{ "    malformed: allow\n", POL_ACT_ALLOW },
	};
	char yaml[1024];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct pol_policy *p;

		snprintf(yaml, sizeof(yaml),
			 "version: 1\nzones:\n  a: {interfaces: [a0]}\n"
			 "  b: {interfaces: [b0]}\nconduits:\n  - name: x\n"
			 "    from: a\n    to: b\n%s    allow:\n"
			 "      - modbus: read-only\n",
			 t[i].key);
		p = load_ok(yaml);
		cr_expect_eq(p->conduits[0].malformed, t[i].want, "'%s'",
			     t[i].key);
		policy_free(p);
	}
}

/* NDR 5.2 */
Test(app, names_lower_cased)
{
	struct pol_policy *p =
		load_ok(HEAD "      - { proto: tcp, port: 502, app: Modbus }\n"
			     "      - { proto: tcp, app: [HTTP, tls] }\n");
	const struct pol_service *s = &p->conduits[0].allow[0];

	cr_assert_eq(s->n_apps, 1);
	cr_expect_str_eq(s->apps[0], "modbus");
	cr_expect_null(s->dpi);
	s = &p->conduits[0].allow[1];
	cr_assert_eq(s->n_apps, 2);
	cr_expect_str_eq(s->apps[0], "http");
	cr_expect_str_eq(s->apps[1], "tls");
	cr_expect(policy_needs_dpi(p));
	policy_free(p);
}

/* NDR 5.3 */
Test(zone, deny_app_categories)
{
	struct pol_policy *p = load_ok(
		"version: 1\nzones:\n"
		"  a: {interfaces: [a0], deny-app-categories: [mail, chat, "
		"file-sharing, social-network, remote-access]}\n"
		"  b: {interfaces: [b0], deny-app-categories: VoIP}\n"
		"  c: {interfaces: [c0], deny-app-categories: [Email, "
		"FileSharing]}\n");

	cr_assert_eq(p->zones[0].n_deny_categories, 5);
	cr_expect_str_eq(p->zones[0].deny_categories[0], "mail");
	cr_expect_str_eq(p->zones[0].deny_categories[4], "remote-access");
	cr_assert_eq(p->zones[1].n_deny_categories, 1);
	cr_expect_str_eq(p->zones[1].deny_categories[0], "voip");
	/* nDPI's own spelling is accepted and stored as the policy name */
	cr_assert_eq(p->zones[2].n_deny_categories, 2);
	cr_expect_str_eq(p->zones[2].deny_categories[0], "mail");
	cr_expect_str_eq(p->zones[2].deny_categories[1], "file-sharing");
	cr_expect(policy_needs_dpi(p));
	policy_free(p);
}

Test(policy, l4_only_needs_no_dpi)
{
	struct pol_policy *p = load_ok(ENTRY("{ proto: tcp, port: 502 }"));

	cr_expect_null(entry0(p)->dpi);
	cr_expect_eq(p->conduits[0].malformed, POL_ACT_DENY);
	cr_expect_not(policy_needs_dpi(p));
	policy_free(p);
}

/* --- errors ------------------------------------------------------------------ */

/* An entry and, for each expected error, the text at which it points
 * (its first occurrence in the entry) and the message. */
static const struct {
	const char *entry;
	const char *at;
	const char *msg;
} bad[] = {
	{ "{ modbus: read-everything }", "read-every",
	  "unknown modbus preset 'read-everything' (expected one of: "
	  "read-only, read-write, programming, all)" },
	{ "{ modbus: all, dnp3: all }", "dnp3",
	  "'dnp3' after 'modbus' at 10:11 (expected at most one protocol "
	  "block per allow entry)" },
	{ "{ modbus: all, proto: udp }", "modbus",
	  "'modbus' is not allowed with proto udp (expected tcp)" },
	{ "{ iec104: all, proto: udp }", "iec104",
	  "'iec104' is not allowed with proto udp (expected tcp)" },
	{ "{ s7comm: all, proto: sctp }", "s7comm",
	  "'s7comm' is not allowed with proto sctp (expected tcp)" },
	{ "{ dnp3: all, proto: icmp }", "dnp3",
	  "'dnp3' is not allowed with proto icmp (expected tcp or udp)" },
	{ "{ enip: all, proto: icmpv6 }", "enip",
	  "'enip' is not allowed with proto icmpv6 (expected tcp or udp)" },
	{ "{ modbus: }", "modbus",
	  "expected a mapping of modbus settings or a preset name, found an "
	  "empty value" },
	{ "{ modbus: [all] }", "[all]",
	  "expected a mapping of modbus settings or a preset name, found a "
	  "sequence" },
	{ "{ modbus: {colour: red} }", "colour",
	  "unknown key 'colour' in modbus (expected one of: preset, rules, "
	  "rate-limits, functions, unit-ids, coils, discrete-inputs, "
	  "holding-registers, input-registers, max-pdu, umas, mei)" },
	{ "{ modbus: {functions: [foo]} }", "foo",
	  "expected a Modbus function code (1..127, a range lo-hi or a name "
	  "like read-coils), found 'foo'" },
	{ "{ modbus: {functions: [0]} }", "0]",
	  "Modbus function code 0 is out of range (expected 1..127)" },
	{ "{ modbus: {functions: 128} }", "128",
	  "Modbus function code 128 is out of range (expected 1..127)" },
	{ "{ modbus: {functions: 5-2} }", "5-2",
	  "range 5-2 is out of order (expected low-high, like 2-5)" },
	{ "{ modbus: {functions: {a: 1}} }", "{a",
	  "expected a Modbus function code (1..127, a range lo-hi or a name "
	  "like read-coils) or a sequence of them, found a mapping" },
	{ "{ modbus: {unit-ids: 256} }", "256",
	  "unit id 256 is out of range (expected 0..255)" },
	{ "{ modbus: {unit-ids: []} }", "[]",
	  "expected at least one unit id, found an empty sequence" },
	{ "{ modbus: {unit-ids: 0x} }", "0x",
	  "expected a unit id (0..255 or a range lo-hi), found '0x'" },
	{ "{ modbus: {coils: 1} }", "1}",
	  "expected a mapping with read and write, found '1'" },
	{ "{ modbus: {coils: {read: 65536}} }", "65536",
	  "address 65536 is out of range (expected 0..65535)" },
	{ "{ modbus: {coils: {reed: 1}} }", "reed",
	  "unknown key 'reed' in coils (expected one of: read, write)" },
	{ "{ modbus: {input-registers: {write: 1}} }", "write",
	  "'write' is not allowed in input-registers (a read-only table)" },
	{ "{ modbus: {discrete-inputs: {write: 1}} }", "write",
	  "'write' is not allowed in discrete-inputs (a read-only table)" },
	{ "{ modbus: {max-pdu: 254} }", "254",
	  "max-pdu 254 is out of range (expected 1..253)" },
	{ "{ modbus: {max-pdu: 1-2} }", "1-2",
	  "expected a PDU length 1..253, found '1-2'" },
	{ "{ modbus: {umas: maybe} }", "maybe",
	  "expected allow, deny or reject, found 'maybe'" },
	{ "{ modbus: {rules: {action: deny}} }", "{action",
	  "expected a sequence of rules, found a mapping" },
	{ "{ modbus: {rules: [{functions: 5}]} }", "{functions",
	  "missing required key 'action' in rule" },
	{ "{ modbus: {rules: [{action: deny}]} }", "{action",
	  "rule has no match keys (expected at least one of: functions, "
	  "unit-ids, coils, discrete-inputs, holding-registers, "
	  "input-registers)" },
	{ "{ modbus: {rules: [{action: drop, functions: 5}]} }", "drop",
	  "expected allow, deny or reject, found 'drop'" },
	{ "{ modbus: {rules: [{action: deny, unit-ids: 1, max-pdu: 5}]} }",
	  "max-pdu",
	  "unknown key 'max-pdu' in rule (expected one of: action, functions, "
	  "unit-ids, coils, discrete-inputs, holding-registers, "
	  "input-registers, exception)" },
	{ "{ modbus: {rules: [{action: deny, exception: illegal-function, "
	  "functions: 6}]} }",
	  "illegal-function",
	  "exception needs action: reject (the rule's action is deny)" },
	{ "{ modbus: {rules: [{action: allow, functions: 6, exception: 1}]} }",
	  "1}", "exception needs action: reject (the rule's action is allow)" },
	{ "{ modbus: {rules: [{action: reject, exception: 256, functions: "
	  "6}]} }",
	  "256",
	  "expected illegal-function, illegal-data-address, "
	  "illegal-data-value or an exception code 1..255, found '256'" },
	{ "{ modbus: {rules: [{action: reject, exception: 0, functions: 6}]} "
	  "}",
	  "0,",
	  "expected illegal-function, illegal-data-address, "
	  "illegal-data-value or an exception code 1..255, found '0'" },
	{ "{ modbus: {rules: [{action: reject, exception: server-busy, "
	  "functions: 6}]} }",
	  "server-busy",
	  "expected illegal-function, illegal-data-address, "
	  "illegal-data-value or an exception code 1..255, found "
	  "'server-busy'" },
	{ "{ modbus: {rules: [{action: reject, exception: [1], functions: "
	  "6}]} }",
	  "[1]",
	  "expected illegal-function, illegal-data-address, "
	  "illegal-data-value or an exception code 1..255, found a "
	  "sequence" },
	{ "{ modbus: {rate-limits: [{rate: 5/second, action: reject, "
	  "exception: 1}]} }",
	  "exception",
	  "unknown key 'exception' in rate limit (expected one of: functions, "
	  "unit-ids, coils, discrete-inputs, holding-registers, "
	  "input-registers, rate, burst, per, action)" },
	{ "{ dnp3: {rules: [{action: reject, exception: 1, functions: "
	  "read}]} }",
	  "exception",
	  "unknown key 'exception' in rule (expected one of: action, "
	  "functions, outstations, objects)" },
	{ "{ modbus: {rate-limits: [{functions: 5}]} }", "{functions",
	  "missing required key 'rate' in rate limit" },
	{ "{ modbus: {rate-limits: [{rate: 5/fortnight}]} }", "5/fort",
	  "expected a rate like 200/second (N/second, N/minute, N/hour or "
	  "N/day), found '5/fortnight'" },
	{ "{ modbus: {rate-limits: [{rate: 5/second, burst: 0}]} }", "0}",
	  "expected a burst 1..4294967295, found '0'" },
	{ "{ modbus: {rate-limits: [{rate: 5/second, per: host}]} }", "host",
	  "expected source, flow or conduit, found 'host'" },
	{ "{ modbus: {rate-limits: [{rate: 5/second, action: allow}]} }",
	  "allow}", "expected deny or reject, found 'allow'" },
	{ "{ dnp3: {functions: [read, bogus]} }", "bogus",
	  "expected a DNP3 function code (0..255, a range lo-hi or a name "
	  "like read), found 'bogus'" },
	{ "{ dnp3: {outstations: 65536} }", "65536",
	  "outstation address 65536 is out of range (expected 0..65535)" },
	{ "{ dnp3: {objects: [{variation: 1}]} }", "{variation",
	  "missing required key 'group' in object" },
	{ "{ dnp3: {objects: [{group: 256}]} }", "256",
	  "object group 256 is out of range (expected 0..255)" },
	{ "{ dnp3: {objects: [{group: 1, indexes: 0x100000000}]} }",
	  "0x100000000",
	  "index 0x100000000 is out of range (expected 0..4294967295)" },
	{ "{ dnp3: {objects: []} }", "[]",
	  "expected at least one object, found an empty sequence" },
	{ "{ dnp3: {objects: [7]} }", "7]",
	  "expected a mapping with group, variation and indexes, found '7'" },
	{ "{ iec104: {type-ids: [0]} }", "0]",
	  "type id 0 is out of range (expected 1..255)" },
	{ "{ iec104: {type-ids: [C_XX_NA_1]} }", "C_XX",
	  "expected a type id (1..255, a range lo-hi or a name like "
	  "C_SC_NA_1), found 'C_XX_NA_1'" },
	{ "{ iec104: {causes: 64} }", "64",
	  "cause of transmission 64 is out of range (expected 0..63)" },
	{ "{ iec104: {ioas: 16777216} }", "16777216",
	  "IOA 16777216 is out of range (expected 0..16777215)" },
	{ "{ iec104: {common-addresses: 65536} }", "65536",
	  "common address 65536 is out of range (expected 0..65535)" },
	{ "{ iec104: {preset: operate} }", "operate",
	  "unknown iec104 preset 'operate' (expected one of: monitor-only, "
	  "all)" },
	{ "{ s7comm: {functions: [read]} }", "read",
	  "expected an S7 function code (0..255, a range lo-hi or a name "
	  "like read-var), found 'read'" },
	{ "{ s7comm: {userdata: [{group: nope}]} }", "nope",
	  "expected a userdata group (0..15 or a name like cpu), found "
	  "'nope'" },
	{ "{ s7comm: {userdata: [{group: 16}]} }", "16",
	  "userdata group 16 is out of range (expected 0..15)" },
	{ "{ s7comm: {userdata: [{group: 1, subfunctions: 256}]} }", "256",
	  "subfunction 256 is out of range (expected 0..255)" },
	{ "{ s7comm: {s7plus: yes} }", "yes",
	  "expected allow, deny or reject, found 'yes'" },
	{ "{ enip: {commands: 0x10000} }", "0x10000",
	  "encapsulation command 65536 is out of range (expected 0..65535)" },
	{ "{ enip: {services: 128} }", "128",
	  "CIP service 128 is out of range (expected 0..127)" },
	{ "{ enip: {classes: 4294967296} }", "4294967296",
	  "class id 4294967296 is out of range (expected 0..4294967295)" },
	{ "{ enip: {instances: x} }", "x}",
	  "expected an instance id (0..4294967295 or a range lo-hi), found "
	  "'x'" },
	{ "{ proto: tcp, app: 'bad name' }", "'bad",
	  "unknown application protocol 'bad name' (nDPI)" },
	{ "{ proto: tcp, app: modbusx }", "modbusx",
	  "unknown application protocol 'modbusx' (nDPI)" },
	{ "{ proto: tcp, app: [http, HTTP] }", "HTTP",
	  "duplicate name 'HTTP' (first at 10:29)" },
	{ "{ proto: tcp, app: [] }", "[]",
	  "expected an nDPI protocol name or a sequence of them, found an "
	  "empty sequence" },
};

/* CR 3.5 */
Test(invalid, each_bad_value_at_its_place)
{
	char yaml[2048], want[1024];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *at = strstr(bad[i].entry, bad[i].at);

		cr_assert_not_null(at, "'%s' not in '%s'", bad[i].at,
				   bad[i].entry);
		snprintf(yaml, sizeof(yaml), ENTRY("%s"), bad[i].entry);
		snprintf(want, sizeof(want), "%d:%d: %s", ENTRY_LINE,
			 ENTRY_COL + (int)(at - bad[i].entry), bad[i].msg);
		cr_log_info("entry %s", bad[i].entry);
		expect_str_invalid(yaml, WANT(want));
	}
}

/* CR 3.5 */
Test(invalid, conduit_and_zone_keys)
{
	expect_str_invalid(
		"version: 1\nzones:\n"
		"  a: {interfaces: [a0], deny-app-categories: [chatting]}\n"
		"  b: {interfaces: [b0], deny-app-categories: {a: b}}\n"
		"conduits:\n  - name: x\n    from: a\n    to: b\n"
		"    malformed: drop\n    allow: [{proto: tcp}]\n",
		WANT("3:47: unknown application category 'chatting' (nDPI)",
		     "4:46: expected an nDPI category name or a sequence of "
		     "them, found a mapping",
		     "9:16: expected allow, deny or reject, found 'drop'"));
}

/* --- diff and JSON ---------------------------------------------------------- */

static void expect_details(const struct pol_diff_item *it,
			   const char *const *want)
{
	size_t n = 0;

	while (want[n] != NULL)
		n++;
	for (size_t i = 0; i < it->n_details; i++)
		cr_log_info("detail %s", it->details[i]);
	cr_assert_eq(it->n_details, n);
	for (size_t i = 0; i < n; i++)
		cr_expect_str_eq(it->details[i], want[i]);
}

/* NDR 5.2 */
Test(diff, rules_change_is_a_changed_entry)
{
	struct pol_policy *a = load_ok(
		HEAD
		"      - { proto: tcp, port: 443 }\n"
		"      - { modbus: {preset: read-only, unit-ids: 1, rules: "
		"[{action: deny, functions: 3, holding-registers: "
		"{read: 100-199}}]} }\n");
	struct pol_policy *b = load_ok(
		HEAD
		"      - { proto: tcp, port: 443 }\n"
		"      - { modbus: {preset: read-only, unit-ids: 1, rules: "
		"[{action: reject, functions: 3, holding-registers: "
		"{read: 100-199}, exception: illegal-data-address}]} }\n"
		"    malformed: reject\n");
	struct pol_diff d;

	cr_assert_eq(policy_diff(a, b, &d), 0);
	cr_assert_eq(d.n, 1);
	cr_expect_eq(d.v[0].kind, POL_DIFF_CONDUIT);
	cr_expect_eq(d.v[0].change, POL_DIFF_CHANGED);
	/* the L4-only entry is unchanged, so not listed */
	expect_details(
		&d.v[0],
		WANT("malformed deny -> reject",
		     "- allow tcp 502 modbus read-only "
		     "functions=1-4,7,11-12,17,20,24 unit-ids=1 umas=deny "
		     "mei=deny max-pdu=253 rule[deny functions=3 "
		     "holding-registers=read:100-199/write:none]",
		     "+ allow tcp 502 modbus read-only "
		     "functions=1-4,7,11-12,17,20,24 unit-ids=1 umas=deny "
		     "mei=deny max-pdu=253 rule[reject functions=3 "
		     "holding-registers=read:100-199/write:none "
		     "exception=2]"));
	policy_diff_free(&d);
	policy_free(a);
	policy_free(b);
}

/* NDR 5.2 */
Test(diff, every_block_has_a_text)
{
	struct pol_policy *b = load_ok(
		"version: 1\nzones:\n"
		"  a: {interfaces: [a0], deny-app-categories: [chat]}\n"
		"  b: {interfaces: [b0]}\n"
		"conduits:\n  - name: x\n    from: a\n    to: b\n    allow:\n"
		"      - { dnp3: {functions: read, outstations: 4, objects: "
		"[{group: 12, variation: 1, indexes: 0-3}, {group: 1}]}, "
		"proto: udp }\n"
		"      - { iec104: {type-ids: 45, causes: act, "
		"common-addresses: 1, ioas: 7} }\n"
		"      - { s7comm: {functions: read-var, userdata: [{group: "
		"cpu, subfunctions: 1}, {group: 9}]} }\n"
		"      - { enip: {commands: send-rr-data, services: 0x0e, "
		"classes: 1, instances: 2, attributes: 3, rate-limits: "
		"[{services: 0x10, rate: 1/hour, burst: 2, per: flow}]} }\n"
		"      - { proto: tcp, port: 80, app: [http] }\n");
	struct pol_diff d;

	cr_assert_eq(policy_diff(NULL, b, &d), 0);
	cr_assert_eq(d.n, 3); /* zones a and b, conduit x */
	expect_details(&d.v[0],
		       WANT("interfaces + a0", "deny-app-categories + chat"));
	expect_details(
		&d.v[2],
		WANT("from a to b",
		     "+ allow udp 20000 dnp3 functions=1 outstations=4 "
		     "objects=g12v1:0-3,g1",
		     "+ allow tcp 2404 iec104 type-ids=45 causes=6 "
		     "common-addresses=1 ioas=7",
		     "+ allow tcp 102 s7comm functions=4 userdata=cpu:1,9 "
		     "s7plus=deny",
		     "+ allow tcp 44818 enip commands=111 services=14 classes=1 "
		     "instances=2 attributes=3 limit[ rate 1/hour burst 2 per "
		     "flow deny services=16]",
		     "+ allow tcp 80 app http"));
	policy_diff_free(&d);
	policy_free(b);
}

static json_t *get(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	cr_assert_not_null(v, "missing field '%s'", key);
	return v;
}

/* NDR 5.2 */
Test(json, block_rules_limits_app_malformed)
{
	struct pol_policy *p = load_ok(
		"version: 1\nzones:\n"
		"  a: {interfaces: [a0], deny-app-categories: [chat]}\n"
		"  b: {interfaces: [b0]}\n"
		"conduits:\n  - name: x\n    from: a\n    to: b\n"
		"    malformed: reject\n    allow:\n"
		"      - { modbus: {preset: read-only, unit-ids: [1, 2], "
		"coils: {read: 0-9}, rules: [{action: deny, functions: 3}, "
		"{action: reject, functions: 6, exception: 3}], "
		"rate-limits: [{functions: 1, rate: 10/minute}]}, "
		"app: Modbus }\n"
		"      - { proto: tcp, port: 443 }\n");
	json_t *j = policy_to_json(p), *z, *c, *s, *d, *m, *r;
	char *txt;

	cr_assert_not_null(j);
	z = json_array_get(get(j, "zones"), 0);
	cr_expect_str_eq(json_string_value(json_array_get(
				 get(z, "deny_app_categories"), 0)),
			 "chat");
	z = json_array_get(get(j, "zones"), 1);
	cr_expect_eq(json_array_size(get(z, "deny_app_categories")), 0);
	c = json_array_get(get(j, "conduits"), 0);
	cr_expect_str_eq(json_string_value(get(c, "malformed")), "reject");
	s = json_array_get(get(c, "allow"), 0);
	cr_expect_str_eq(json_string_value(json_array_get(get(s, "app"), 0)),
			 "modbus");
	d = get(s, "dpi");
	cr_expect_str_eq(json_string_value(get(d, "protocol")), "modbus");
	cr_expect_str_eq(json_string_value(get(d, "preset")), "read-only");
	cr_expect_eq(json_integer_value(get(d, "max_pdu")), 253);
	cr_expect_str_eq(json_string_value(get(d, "umas")), "deny");
	cr_expect_str_eq(json_string_value(get(d, "mei")), "deny");
	m = get(d, "allow");
	txt = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
	cr_expect_str_eq(txt, "{\"coils\":{\"read\":[[0,9]],\"write\":[]},"
			      "\"functions\":[1,2,3,4,7,11,12,17,20,24],"
			      "\"unit_ids\":[[1,2]]}");
	free(txt);
	r = json_array_get(get(d, "rules"), 0);
	txt = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
	cr_expect_str_eq(txt, "{\"action\":\"deny\",\"col\":85,\"line\":11,"
			      "\"match\":{\"functions\":[3]}}");
	free(txt);
	/* exception only on the rules that have one */
	r = json_array_get(get(d, "rules"), 1);
	txt = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
	cr_expect_str_eq(txt, "{\"action\":\"reject\",\"col\":115,"
			      "\"exception\":3,\"line\":11,"
			      "\"match\":{\"functions\":[6]}}");
	free(txt);
	r = json_array_get(get(d, "rate_limits"), 0);
	txt = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
	cr_expect_str_eq(txt, "{\"action\":\"deny\",\"col\":176,\"line\":11,"
			      "\"match\":{\"functions\":[1]},\"per\":"
			      "\"source\",\"rate\":{\"burst\":0,\"count\":10,"
			      "\"unit\":\"minute\"}}");
	free(txt);
	s = json_array_get(get(c, "allow"), 1);
	cr_expect(json_is_null(get(s, "dpi")));
	cr_expect_eq(json_array_size(get(s, "app")), 0);
	json_decref(j);
	policy_free(p);
}
