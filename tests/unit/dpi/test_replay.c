/*
 * replay: link types written to real pcap files with libpcap (Ethernet with
 * 802.1Q and QinQ, Linux SLL and SLL2, raw IP, BSD loopback in both byte
 * orders), read back and decoded; the command's exit codes; with --policy
 * the decisions in the records, the summary object, the events and the
 * policy diagnostics.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dpi/replay.h"

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif

/* IPv4/TCP 192.0.2.1:40000 -> 192.0.2.2:502 with a 12-byte Modbus request */
static const uint8_t ip4[] = {
	0x45, 0x00, 0x00, 0x34, 0x00, 0x01, 0x00, 0x00, 0x40, 0x06, 0x00,
	0x00, 0xc0, 0x00, 0x02, 0x01, 0xc0, 0x00, 0x02, 0x02, 0x9c, 0x40,
	0x01, 0xf6, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x50,
	0x18, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
	0x00, 0x06, 0x01, 0x03, 0x00, 0x00, 0x00, 0x0a,
};

static char path[64];
static uint8_t frame[256], back[256];

/* Write one frame (hdr + ip4) to a pcap file of link type dlt, read it
 * back with libpcap and decode it. */
static int roundtrip(int dlt, const uint8_t *hdr, size_t hlen, struct pkt *p)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr h = { .ts = { 1, 0 } };
	const u_char *data;
	struct pcap_pkthdr *rh;
	pcap_dumper_t *d;
	pcap_t *pc;
	int fd, rc;

	strcpy(path, "/tmp/test_replay.XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
	if (hlen > 0)
		memcpy(frame, hdr, hlen);
	memcpy(frame + hlen, ip4, sizeof(ip4));
	h.caplen = h.len = (bpf_u_int32)(hlen + sizeof(ip4));
	pc = pcap_open_dead(dlt, 65535);
	cr_assert_not_null(pc);
	d = pcap_dump_open(pc, path);
	cr_assert_not_null(d, "%s", pcap_geterr(pc));
	pcap_dump((u_char *)d, &h, frame);
	pcap_dump_close(d);
	pcap_close(pc);

	pc = pcap_open_offline(path, err);
	cr_assert_not_null(pc, "%s", err);
	cr_assert_eq(pcap_datalink(pc), dlt);
	cr_assert(replay_link_supported(dlt));
	cr_assert_eq(pcap_next_ex(pc, &rh, &data), 1);
	cr_assert_eq(rh->caplen, h.caplen);
	memcpy(back, data, rh->caplen); /* p borrows it after close */
	pcap_close(pc);
	memset(p, 0, sizeof(*p));
	rc = replay_link_decode(dlt, back, h.caplen, p);
	return rc;
}

static void assert_modbus(const struct pkt *p)
{
	cr_assert_eq(p->ip_version, 4);
	cr_assert_eq(p->dport, 502);
	cr_assert_eq(p->payload_len, 12);
	cr_assert_eq(p->payload[7], 0x03);
}

static void fini(void)
{
	if (path[0])
		unlink(path);
	path[0] = '\0';
}

#define MACS 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11

/* CR 3.5 */
Test(replay, ethernet, .fini = fini)
{
	const uint8_t h[] = { MACS, 0x08, 0x00 };
	struct pkt p;

	cr_assert_eq(roundtrip(DLT_EN10MB, h, sizeof(h), &p), 0);
	assert_modbus(&p);
	cr_assert_eq(p.n_vlan, 0);
}

/* CR 3.5 */
Test(replay, ethernet_8021q_and_qinq, .fini = fini)
{
	const uint8_t q[] = { MACS, 0x81, 0x00, 0x20, 0x64, 0x08, 0x00 };
	const uint8_t qq[] = { MACS, 0x88, 0xa8, 0x00, 0x0a, 0x81,
			       0x00, 0x00, 0xc8, 0x08, 0x00 };
	const uint8_t q3[] = { MACS, 0x81, 0x00, 0x00, 0x01, 0x81, 0x00, 0x00,
			       0x02, 0x81, 0x00, 0x00, 0x03, 0x08, 0x00 };
	struct pkt p;

	cr_assert_eq(roundtrip(DLT_EN10MB, q, sizeof(q), &p), 0);
	assert_modbus(&p);
	cr_assert_eq(p.n_vlan, 1);
	cr_assert_eq(p.vlan[0], 100); /* priority bits masked */
	fini();
	cr_assert_eq(roundtrip(DLT_EN10MB, qq, sizeof(qq), &p), 0);
	assert_modbus(&p);
	cr_assert_eq(p.n_vlan, 2);
	cr_assert_eq(p.vlan[0], 10);
	cr_assert_eq(p.vlan[1], 200);
	fini();
	cr_assert_eq(roundtrip(DLT_EN10MB, q3, sizeof(q3), &p), -EBADMSG);
	cr_assert_str_eq(p.error, "more than two VLAN tags");
}

/* CR 3.5 */
Test(replay, linux_sll_and_sll2, .fini = fini)
{
	const uint8_t sll[] = { 0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 1,	  2,
				3,    4,    5,	  6,	0,    0,    0x08, 0x00 };
	const uint8_t sll2[] = { 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
				 0x02, 0x00, 0x01, 0x00, 0x06, 1,    2,
				 3,    4,    5,	   6,	 0,    0 };
	struct pkt p;

	cr_assert_eq(roundtrip(DLT_LINUX_SLL, sll, sizeof(sll), &p), 0);
	assert_modbus(&p);
	fini();
	cr_assert_eq(roundtrip(DLT_LINUX_SLL2, sll2, sizeof(sll2), &p), 0);
	assert_modbus(&p);
}

/* CR 3.5 */
Test(replay, raw_ip_and_loopback, .fini = fini)
{
	const uint8_t le[] = { 2, 0, 0, 0 }, be[] = { 0, 0, 0, 2 };
	const uint8_t v6bsd[] = { 24, 0, 0, 0 }, bad[] = { 7, 0, 0, 0 };
	struct pkt p;

	cr_assert_eq(roundtrip(DLT_RAW, NULL, 0, &p), 0);
	assert_modbus(&p);
	fini();
	cr_assert_eq(roundtrip(DLT_NULL, le, 4, &p), 0);
	assert_modbus(&p);
	fini();
	cr_assert_eq(roundtrip(DLT_NULL, be, 4, &p), 0);
	assert_modbus(&p);
	fini();
	cr_assert_eq(roundtrip(DLT_LOOP, be, 4, &p), 0);
	assert_modbus(&p);
	fini();
	/* AF_INET6 header over a v4 packet: the IP version decides */
	cr_assert_eq(roundtrip(DLT_NULL, v6bsd, 4, &p), 0);
	fini();
	cr_assert_eq(roundtrip(DLT_NULL, bad, 4, &p), -EPROTONOSUPPORT);
}

/* NDR 5.2 */
Test(replay, link_errors)
{
	const uint8_t arp[] = { MACS, 0x08, 0x06, 0, 0 };
	const uint8_t shortq[] = { MACS, 0x81, 0x00, 0x00 };
	struct pkt p;

	memset(&p, 0, sizeof(p));
	cr_assert_eq(replay_link_decode(DLT_EN10MB, arp, 10, &p), -EBADMSG);
	cr_assert_str_eq(p.error, "Ethernet header truncated");
	cr_assert_eq(replay_link_decode(DLT_EN10MB, arp, sizeof(arp), &p),
		     -EPROTONOSUPPORT);
	cr_assert_eq(replay_link_decode(DLT_EN10MB, shortq, sizeof(shortq), &p),
		     -EBADMSG);
	cr_assert_str_eq(p.error, "VLAN tag truncated");
	cr_assert_eq(replay_link_decode(DLT_LINUX_SLL, arp, 8, &p), -EBADMSG);
	cr_assert_eq(replay_link_decode(DLT_LINUX_SLL2, arp, 8, &p), -EBADMSG);
	cr_assert_eq(replay_link_decode(DLT_NULL, arp, 3, &p), -EBADMSG);
	cr_assert(!replay_link_supported(DLT_IEEE802_11));
	cr_assert_eq(replay_link_decode(DLT_IEEE802_11, arp, sizeof(arp), &p),
		     -EPROTONOSUPPORT);
}

/* CR 3.5 */
Test(replay, command_exit_codes, .fini = fini)
{
	const uint8_t h[] = { MACS, 0x08, 0x00 };
	char *usage[] = { "replay", NULL };
	char *missing[] = { "replay", "/nonexistent/x.pcap", NULL };
	char *ok[] = { "replay", "--json", path, NULL };
	struct pkt p;
	FILE *saved;

	cr_assert_eq(roundtrip(DLT_EN10MB, h, sizeof(h), &p), 0);
	saved = stdout;
	stdout = fopen("/dev/null", "w");
	cr_assert_eq(replay_main(1, usage, 0), 2);
	cr_assert_eq(replay_main(2, missing, 0), 1);
	cr_assert_eq(replay_main(3, ok, 0), 0);
	fclose(stdout);
	stdout = saved;
}

/* --- replay --policy: decisions, summary, events, diagnostics ------------- */

static char cap_path[64], pol_path[64], out_path[64], err_path[64];

static void make_temp(char *buf)
{
	int fd;

	strcpy(buf, "/tmp/test_replay.XXXXXX");
	fd = mkstemp(buf);
	cr_assert_geq(fd, 0);
	close(fd);
}

static void fini_cmd(void)
{
	char *v[] = { cap_path, pol_path, out_path, err_path };

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		if (v[i][0])
			unlink(v[i]);
		v[i][0] = '\0';
	}
}

/*
 * Two Ethernet frames of one TCP stream 192.0.2.1:40000 -> 192.0.2.2:502:
 * a Modbus read (FC 3) and then a write (FC 6) of unit 1.
 */
static void write_capture(void)
{
	const uint8_t eth[] = { MACS, 0x08, 0x00 };
	struct pcap_pkthdr h = { .ts = { 1, 0 } };
	uint8_t f[sizeof(eth) + sizeof(ip4)];
	pcap_dumper_t *d;
	pcap_t *pc;

	make_temp(cap_path);
	memcpy(f, eth, sizeof(eth));
	memcpy(f + sizeof(eth), ip4, sizeof(ip4));
	h.caplen = h.len = sizeof(f);
	pc = pcap_open_dead(DLT_EN10MB, 65535);
	cr_assert_not_null(pc);
	d = pcap_dump_open(pc, cap_path);
	cr_assert_not_null(d, "%s", pcap_geterr(pc));
	pcap_dump((u_char *)d, &h, f);
	/* next segment: seq + 12, FC 6 write register 0 := 10 */
	f[sizeof(eth) + 27] = 13;
	f[sizeof(eth) + 40 + 1] = 2; /* transaction id */
	f[sizeof(eth) + 40 + 7] = 0x06;
	f[sizeof(eth) + 40 + 11] = 0x0a;
	h.ts.tv_usec = 1000;
	pcap_dump((u_char *)d, &h, f);
	pcap_dump_close(d);
	pcap_close(pc);
}

static void write_policy(const char *text)
{
	FILE *f;

	make_temp(pol_path);
	f = fopen(pol_path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

static const char read_only_policy[] = "version: 1\n"
				       "zones:\n"
				       "  hmi: { networks: [192.0.2.1/32] }\n"
				       "  plc: { networks: [192.0.2.2/32] }\n"
				       "conduits:\n"
				       "  - name: hmi-plc\n"
				       "    from: hmi\n"
				       "    to: plc\n"
				       "    allow:\n"
				       "      - modbus: read-only\n";

/* Run replay with stdout and stderr into files; returns the exit status. */
static int run(int argc, char **argv)
{
	FILE *so = stdout, *se = stderr;
	int rc;

	if (!out_path[0])
		make_temp(out_path);
	if (!err_path[0])
		make_temp(err_path);
	stdout = fopen(out_path, "w");
	stderr = fopen(err_path, "w");
	cr_assert(stdout != NULL && stderr != NULL);
	rc = replay_main(argc, argv, 0);
	fclose(stdout);
	fclose(stderr);
	stdout = so;
	stderr = se;
	return rc;
}

/* Line n (0-based) of the output as JSON; NULL past the end. */
static json_t *out_line(int n)
{
	char line[4096];
	json_error_t jerr;
	json_t *j = NULL;
	FILE *f = fopen(out_path, "r");

	cr_assert_not_null(f);
	for (int i = 0; i <= n; i++)
		if (fgets(line, sizeof(line), f) == NULL) {
			fclose(f);
			return NULL;
		}
	fclose(f);
	j = json_loads(line, 0, &jerr);
	cr_assert_not_null(j, "line %d is not JSON: %s: %s", n, jerr.text,
			   line);
	return j;
}

static const char *jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static json_int_t jint(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

static char *read_file(const char *p)
{
	static char buf[4096];
	FILE *f = fopen(p, "r");
	size_t n;

	cr_assert_not_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* NDR 5.2 */
Test(replay, policy_verdicts_in_json_records, .fini = fini_cmd)
{
	char *argv[] = { "replay", "--json", "--policy",
			 pol_path, cap_path, NULL };
	json_t *a, *b, *s, *v;

	write_capture();
	write_policy(read_only_policy);
	cr_assert_eq(run(5, argv), 0, "stderr: %s", read_file(err_path));
	a = out_line(0);
	b = out_line(1);
	s = out_line(2);
	cr_assert_not_null(a);
	cr_assert_not_null(b);
	cr_assert_not_null(s, "no summary object");
	cr_assert_null(out_line(3));

	cr_assert_eq(jint(a, "frame"), 1);
	cr_assert_eq(jint(a, "function"), 3);
	cr_assert_str_eq(jstr(a, "verdict"), "allow");
	cr_assert_str_eq(jstr(a, "conduit"), "hmi-plc");
	cr_assert_str_eq(jstr(a, "rule"), "allow[0].modbus");
	cr_assert_str_eq(jstr(a, "zone_from"), "hmi");
	cr_assert_str_eq(jstr(a, "zone_to"), "plc");
	cr_assert_str_eq(jstr(a, "identified_by"), "policy");

	cr_assert_eq(jint(b, "frame"), 2);
	cr_assert_eq(jint(b, "function"), 6);
	cr_assert_str_eq(jstr(b, "verdict"), "deny");
	cr_assert_str_eq(jstr(b, "rule"), "allow[0].modbus.functions");
	cr_assert_eq(jint(b, "rule_line"), 10); /* "modbus: read-only" */

	cr_assert(json_is_true(json_object_get(s, "summary")));
	cr_assert_eq(jint(s, "frames"), 2);
	cr_assert_eq(jint(s, "flows"), 1);
	cr_assert_eq(jint(s, "flows_bound"), 1);
	v = json_array_get(json_object_get(s, "verdicts"), 0);
	cr_assert_not_null(v);
	cr_assert_str_eq(jstr(v, "conduit"), "hmi-plc");
	cr_assert_str_eq(jstr(v, "proto"), "modbus");
	cr_assert_eq(jint(v, "allow"), 1);
	cr_assert_eq(jint(v, "deny"), 1);
	cr_assert_eq(jint(v, "reject"), 0);
	cr_assert_eq(
		jint(json_object_get(json_object_get(s, "protocols"), "modbus"),
		     "pdus"),
		2);
	json_decref(a);
	json_decref(b);
	json_decref(s);
}

/* NDR 5.2 */
Test(replay, events_and_text_form, .fini = fini_cmd)
{
	char *jargv[] = { "replay", "--json", "--events", "--policy",
			  pol_path, cap_path, NULL };
	char *targv[] = { "replay", "--policy", pol_path, cap_path, NULL };
	bool denied = false;
	json_t *o;
	char *text;

	write_capture();
	write_policy(read_only_policy);
	cr_assert_eq(run(6, jargv), 0, "stderr: %s", read_file(err_path));
	for (int i = 0; (o = out_line(i)) != NULL; i++) {
		if (json_object_get(o, "event") &&
		    strcmp(jstr(o, "event"), "denied") == 0) {
			denied = true;
			cr_assert_eq(jint(o, "frame"), 2);
			cr_assert_str_eq(jstr(o, "action"), "deny");
			cr_assert_str_eq(jstr(o, "conduit"), "hmi-plc");
			cr_assert_str_eq(jstr(o, "rule"),
					 "allow[0].modbus.functions");
			cr_assert_eq(jint(o, "function"), 6);
			cr_assert_eq(jint(o, "count"), 1);
		}
		json_decref(o);
	}
	cr_assert(denied, "no 'denied' event for the write");

	cr_assert_eq(run(4, targv), 0);
	text = read_file(out_path);
	cr_assert(strstr(text, "2 192.0.2.1:40000 -> 192.0.2.2:502 request "
			       "modbus deny conduit=hmi-plc "
			       "rule=allow[0].modbus.functions@10 "
			       "zones=hmi->plc ") != NULL,
		  "%s", text);
	cr_assert(strstr(text, "  hmi-plc") != NULL, "no summary row: %s",
		  text);
}

/* CR 3.6 */
Test(replay, without_policy_no_decision_keys, .fini = fini_cmd)
{
	char *argv[] = { "replay", "--json", "--classify",
			 "port",   cap_path, NULL };
	json_t *a, *s;

	write_capture();
	cr_assert_eq(run(5, argv), 0, "stderr: %s", read_file(err_path));
	a = out_line(0);
	cr_assert_not_null(a);
	cr_assert_null(json_object_get(a, "verdict"));
	cr_assert_null(json_object_get(a, "conduit"));
	cr_assert_null(json_object_get(a, "rule"));
	cr_assert_str_eq(jstr(a, "identified_by"), "port");
	cr_assert_str_eq(jstr(a, "proto"), "modbus");
	s = out_line(2);
	cr_assert_not_null(s);
	cr_assert(json_is_true(json_object_get(s, "summary")));
	cr_assert_null(json_object_get(s, "verdicts"));
	json_decref(a);
	json_decref(s);
}

/* CR 3.5 */
Test(replay, policy_errors_exit_2_with_location, .fini = fini_cmd)
{
	char *argv[] = { "replay", "--policy", pol_path, cap_path, NULL };
	char *missing[] = { "replay", "--policy", "/nonexistent/p.yaml",
			    cap_path, NULL };
	char *badcls[] = { "replay", "--classify", "dpi", cap_path, NULL };
	char want[128];
	char *err;

	write_capture();
	write_policy("version: 1\n"
		     "zones:\n"
		     "  a: { networks: [192.0.2.1/32], colour: red }\n");
	cr_assert_eq(run(4, argv), 2);
	err = read_file(err_path);
	snprintf(want, sizeof(want), "%s:3:", pol_path);
	cr_assert(strstr(err, want) != NULL, "no %s in: %s", want, err);
	cr_assert(strstr(err, "colour") != NULL, "%s", err);
	cr_assert_str_eq(read_file(out_path), "", "records despite the error");

	cr_assert_eq(run(4, missing), 2);
	err = read_file(err_path);
	cr_assert(strstr(err, "/nonexistent/p.yaml: No such file") != NULL,
		  "%s", err);

	cr_assert_eq(run(4, badcls), 2);
	err = read_file(err_path);
	cr_assert(strstr(err, "--classify: expected port or ndpi, found "
			      "'dpi'") != NULL,
		  "%s", err);
}
