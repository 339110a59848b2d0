/*
 * conduitctl replay: reads captures with libpcap (pcap and pcapng), strips
 * the link layer, and runs each packet through one engine instance per
 * capture; the engine reports every application PDU, which is printed as
 * a line of text or a JSON object (JSON Lines). Output keys are documented
 * in docs/dev/replay-output.md (to be merged into conduitctl(8)).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <pcap/pcap.h>

#include "dpi/engine.h"
#include "dpi/proto/cursor.h"
#include "dpi/replay.h"

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86dd
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88a8
#define ETH_P_QINQ1 0x9100 /* pre-802.1ad QinQ */

/* Address families a BSD loopback header may carry (any byte order). */
#define BSD_AF_INET 2
#define BSD_AF_INET6_BSD 24 /* NetBSD, OpenBSD, BSD/OS */
#define BSD_AF_INET6_FREEBSD 28
#define BSD_AF_INET6_DARWIN 30
#define BSD_AF_INET6_LINUX 10

static int not_ip(struct pkt *p, const char *why)
{
	p->error = why;
	return -EPROTONOSUPPORT;
}

/* From an ethertype on: VLAN tags, then IPv4 or IPv6. */
static int decode_ethertype(struct cur *c, uint16_t type, struct pkt *p)
{
	while (type == ETH_P_8021Q || type == ETH_P_8021AD ||
	       type == ETH_P_QINQ1) {
		uint16_t tci = cur_be16(c);

		type = cur_be16(c);
		if (!cur_ok(c)) {
			p->error = "VLAN tag truncated";
			return -EBADMSG;
		}
		if (p->n_vlan == PKT_MAX_VLAN) {
			p->error = "more than two VLAN tags";
			return -EBADMSG;
		}
		p->vlan[p->n_vlan++] = tci & 0x0fff;
	}
	if (type != ETH_P_IP && type != ETH_P_IPV6)
		return not_ip(p, "ethertype is not IP");
	return pkt_decode_ip(p, c->p + c->off, cur_left(c));
}

static int decode_null(struct cur *c, bool network_order, struct pkt *p)
{
	const uint8_t *h = cur_peek(c, 4);
	uint32_t af;

	if (h == NULL) {
		p->error = "loopback header truncated";
		return -EBADMSG;
	}
	cur_skip(c, 4);
	/* DLT_NULL is in the capturing host's byte order: accept both. */
	af = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 |
	     h[3];
	if (!network_order && (af & 0xffff) == 0)
		af = h[0] | (uint32_t)h[1] << 8;
	switch (af) {
	case BSD_AF_INET:
	case BSD_AF_INET6_BSD:
	case BSD_AF_INET6_FREEBSD:
	case BSD_AF_INET6_DARWIN:
	case BSD_AF_INET6_LINUX:
		return pkt_decode_ip(p, c->p + c->off, cur_left(c));
	default:
		return not_ip(p, "loopback family is not IP");
	}
}

int replay_link_supported(int dlt)
{
	switch (dlt) {
	case DLT_EN10MB:
	case DLT_LINUX_SLL:
	case DLT_LINUX_SLL2:
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
	case DLT_NULL:
	case DLT_LOOP:
		return 1;
	default:
		return 0;
	}
}

int replay_link_decode(int dlt, const uint8_t *buf, size_t len, struct pkt *p)
{
	struct cur c = cur_init(buf, len);
	uint16_t type;

	p->n_vlan = 0;
	p->error = NULL;
	switch (dlt) {
	case DLT_EN10MB:
		cur_skip(&c, 12);
		type = cur_be16(&c);
		if (!cur_ok(&c)) {
			p->error = "Ethernet header truncated";
			return -EBADMSG;
		}
		if (type < 0x0600)
			return not_ip(p,
				      "802.3 length field, not an ethertype");
		return decode_ethertype(&c, type, p);
	case DLT_LINUX_SLL:
		cur_skip(&c, 14); /* packet type, ARPHRD, address */
		type = cur_be16(&c);
		if (!cur_ok(&c)) {
			p->error = "Linux SLL header truncated";
			return -EBADMSG;
		}
		return decode_ethertype(&c, type, p);
	case DLT_LINUX_SLL2:
		type = cur_be16(&c);
		cur_skip(&c, 18); /* reserved, ifindex, ARPHRD, type, address */
		if (!cur_ok(&c)) {
			p->error = "Linux SLL2 header truncated";
			return -EBADMSG;
		}
		return decode_ethertype(&c, type, p);
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		return pkt_decode_ip(p, buf, len);
	case DLT_NULL:
		return decode_null(&c, false, p);
	case DLT_LOOP:
		return decode_null(&c, true, p);
	default:
		return not_ip(p, "unsupported link type");
	}
}

/* --- output ---------------------------------------------------------------- */

struct replay_out {
	bool json;
	const char *capture; /* set when more than one capture is given */
	FILE *f;
	struct engine_conf conf;
};

static void set_int(json_t *o, const char *k, json_int_t v)
{
	json_object_set_new(o, k, json_integer(v));
}

static void add_modbus(json_t *o, const struct modbus_pdu *m)
{
	set_int(o, "transaction_id", m->transaction_id);
	set_int(o, "unit_id", m->unit_id);
	set_int(o, "function", m->function);
	if (m->exception)
		set_int(o, "exception", m->exception_code);
	if (m->has_range) {
		set_int(o, "address", m->address);
		set_int(o, "quantity", m->quantity);
	}
	if (m->has_write_range) {
		set_int(o, "write_address", m->write_address);
		set_int(o, "write_quantity", m->write_quantity);
	}
	if (m->has_umas_code)
		set_int(o, "umas_code", m->umas_code);
}

static void add_dnp3(json_t *o, const struct dnp3_link *lk,
		     const struct dnp3_apdu *a)
{
	json_t *objs;

	if (lk != NULL) {
		set_int(o, "link_src", lk->src);
		set_int(o, "link_dst", lk->dst);
	}
	if (a == NULL)
		return;
	set_int(o, "function", a->func);
	objs = json_array();
	for (unsigned i = 0; i < a->n_objects; i++) {
		const struct dnp3_object *ob = &a->objects[i];
		json_t *j = json_object();

		set_int(j, "group", ob->group);
		set_int(j, "variation", ob->variation);
		set_int(j, "qualifier", ob->qualifier);
		if (ob->ranged) {
			set_int(j, "start", ob->start);
			set_int(j, "stop", ob->stop);
		}
		set_int(j, "count", ob->count);
		json_array_append_new(objs, j);
	}
	json_object_set_new(o, "objects", objs);
	if (a->objects_truncated)
		json_object_set_new(o, "objects_truncated", json_true());
}

static void add_iec104(json_t *o, const struct iec104_apdu *m)
{
	json_t *ioa;

	json_object_set_new(o, "apci", json_string(iec104_apci_name(m->apci)));
	if (m->apci == IEC104_APCI_U)
		set_int(o, "utype", m->utype);
	if (!m->has_asdu)
		return;
	set_int(o, "type_id", m->type_id);
	set_int(o, "cot", m->cot);
	set_int(o, "ca", m->ca);
	ioa = json_array();
	for (unsigned i = 0; i < m->n_ioa; i++)
		json_array_append_new(ioa, json_integer(m->ioa[i]));
	json_object_set_new(o, "ioa", ioa);
}

static const char *cotp_name(uint8_t t)
{
	switch (t) {
	case S7COMM_COTP_CR:
		return "CR";
	case S7COMM_COTP_CC:
		return "CC";
	case S7COMM_COTP_DR:
		return "DR";
	case S7COMM_COTP_DC:
		return "DC";
	case S7COMM_COTP_ER:
		return "ER";
	case S7COMM_COTP_DT:
		return "DT";
	default:
		return "other";
	}
}

static void add_s7comm(json_t *o, const struct s7comm_pdu *m)
{
	if (m->cotp_type != S7COMM_COTP_DT)
		json_object_set_new(o, "cotp",
				    json_string(cotp_name(m->cotp_type)));
	if (!m->has_s7)
		return;
	if (m->s7plus) {
		json_object_set_new(o, "s7plus", json_true());
		if (m->s7p_has_opcode)
			set_int(o, "s7plus_opcode", m->s7p_opcode);
		if (m->s7p_has_function)
			set_int(o, "s7plus_function", m->s7p_function);
		return;
	}
	set_int(o, "rosctr", m->rosctr);
	if (m->has_function)
		set_int(o, "function", m->function);
	if (m->has_userdata) {
		set_int(o, "group", m->ud_group);
		set_int(o, "subfunction", m->ud_subfunction);
	}
	if (m->has_error && (m->error_class || m->error_code))
		set_int(o, "error_code", m->error_class << 8 | m->error_code);
}

static void add_enip(json_t *o, const struct enip_pdu *e)
{
	json_t *cip;

	set_int(o, "command", e->command);
	set_int(o, "session", e->session);
	if (e->n_cip == 0)
		return;
	cip = json_array();
	for (unsigned i = 0; i < e->n_cip; i++) {
		const struct enip_cip *c = &e->cip[i];
		json_t *j = json_object();

		set_int(j, "service", c->service);
		if (c->response) {
			json_object_set_new(j, "response", json_true());
			set_int(j, "status", c->general_status);
		}
		if (c->has_class)
			set_int(j, "class", c->class_id);
		if (c->has_instance)
			set_int(j, "instance", c->instance);
		if (c->has_attribute)
			set_int(j, "attribute", c->attribute);
		if (c->symbolic)
			json_object_set_new(j, "symbolic", json_true());
		json_array_append_new(cip, j);
	}
	json_object_set_new(o, "cip", cip);
}

static void print_text_value(FILE *f, const json_t *v)
{
	size_t i;
	const char *k;
	json_t *x;

	if (json_is_array(v)) {
		fputc('[', f);
		json_array_foreach(v, i, x)
		{
			if (i)
				fputc(',', f);
			print_text_value(f, x);
		}
		fputc(']', f);
	} else if (json_is_object(v)) {
		bool first = true;

		fputc('{', f);
		json_object_foreach((json_t *)v, k, x)
		{
			fprintf(f, "%s%s=", first ? "" : " ", k);
			print_text_value(f, x);
			first = false;
		}
		fputc('}', f);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);

		fprintf(f, strchr(s, ' ') ? "\"%s\"" : "%s", s);
	} else if (json_is_integer(v)) {
		fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	} else {
		fputs(json_is_true(v) ? "true" : "false", f);
	}
}

/* Text: "FRAME SRC -> DST DIR PROTO key=value ..." from the same object. */
static void print_text(FILE *f, json_t *o)
{
	static const char *const fixed[] = { "capture", "frame", "src",
					     "dst",	"dir",	 "proto" };
	const char *k;
	json_t *x;

	if (json_object_get(o, "capture"))
		fprintf(f, "%s ",
			json_string_value(json_object_get(o, "capture")));
	fprintf(f, "%" JSON_INTEGER_FORMAT " %s -> %s %s %s",
		json_integer_value(json_object_get(o, "frame")),
		json_string_value(json_object_get(o, "src")),
		json_string_value(json_object_get(o, "dst")),
		json_string_value(json_object_get(o, "dir")),
		json_string_value(json_object_get(o, "proto")));
	json_object_foreach(o, k, x)
	{
		bool skip = false;

		for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
			skip |= strcmp(k, fixed[i]) == 0;
		if (skip)
			continue;
		fprintf(f, " %s=", k);
		print_text_value(f, x);
	}
	fputc('\n', f);
}

static enum engine_verdict on_pdu(const struct engine_pdu *pdu, void *fuser,
				  void *arg)
{
	(void)fuser;
	struct replay_out *out = arg;
	char a[PKT_ADDR_PORT_STRLEN];
	json_t *o = json_object();

	if (o == NULL)
		return ENGINE_ALLOW;
	if (out->capture)
		json_object_set_new(o, "capture", json_string(out->capture));
	set_int(o, "frame", (json_int_t)pdu->tag);
	json_object_set_new(o, "src",
			    json_string(pkt_addr_port_str(pdu->src, pdu->sport,
							  a, sizeof(a))));
	json_object_set_new(o, "dst",
			    json_string(pkt_addr_port_str(pdu->dst, pdu->dport,
							  a, sizeof(a))));
	json_object_set_new(o, "dir",
			    json_string(pdu->dir == DPI_DIR_REQUEST ?
						"request" :
						"response"));
	json_object_set_new(o, "proto",
			    json_string(engine_proto_name(pdu->proto)));
	json_object_set_new(o, "transport",
			    json_string(pdu->l4proto == 17 ? "udp" : "tcp"));
	if (pdu->how == ENGINE_CLASS_PORT)
		json_object_set_new(o, "identified_by", json_string("port"));
	else
		json_object_set_new(o, "identified_by", json_string("dpi"));
	/* A stream that lost framing has no trustworthy fields. */
	if (pdu->enip_io)
		json_object_set_new(o, "io", json_true());
	else if (!pdu->broken) {
		switch (pdu->proto) {
		case ENGINE_PROTO_MODBUS:
			if (pdu->u.modbus)
				add_modbus(o, pdu->u.modbus);
			break;
		case ENGINE_PROTO_DNP3:
			add_dnp3(o, pdu->u.dnp3.link, pdu->u.dnp3.app);
			break;
		case ENGINE_PROTO_IEC104:
			if (pdu->u.iec104)
				add_iec104(o, pdu->u.iec104);
			break;
		case ENGINE_PROTO_S7COMM:
			if (pdu->u.s7comm)
				add_s7comm(o, pdu->u.s7comm);
			break;
		case ENGINE_PROTO_ENIP:
			if (pdu->u.enip)
				add_enip(o, pdu->u.enip);
			break;
		default:
			break;
		}
	}
	if (pdu->error)
		json_object_set_new(o, "error", json_string(pdu->error));
	if (pdu->broken)
		json_object_set_new(o, "stream_broken", json_true());
	if (out->json) {
		json_dumpf(o, out->f, JSON_COMPACT);
		fputc('\n', out->f);
	} else {
		print_text(out->f, o);
	}
	json_decref(o);
	return ENGINE_ALLOW;
}

static void print_summary(FILE *f, const char *capture,
			  const struct engine_stats *s, uint64_t frames)
{
	fprintf(f,
		"summary %s: %llu frames, %llu flows, %llu not IP, "
		"%llu malformed headers, %llu IP fragments, %llu other L4, "
		"%llu unclassified, %llu stream events, %llu pool exhaustions\n",
		capture, (unsigned long long)frames,
		(unsigned long long)s->flows, (unsigned long long)s->not_ip,
		(unsigned long long)s->bad_packets,
		(unsigned long long)s->fragments,
		(unsigned long long)s->other_l4,
		(unsigned long long)s->unclassified,
		(unsigned long long)s->stream_events,
		(unsigned long long)(s->flow_pool_full + s->state_pool_full));
	fprintf(f, "  %-8s %10s %10s %10s %8s %8s\n", "proto", "pdus",
		"requests", "responses", "errors", "broken");
	for (int i = 1; i < ENGINE_PROTO_MAX; i++) {
		if (s->pdus[i] == 0)
			continue;
		fprintf(f, "  %-8s %10llu %10llu %10llu %8llu %8llu\n",
			engine_proto_name((enum engine_proto)i),
			(unsigned long long)s->pdus[i],
			(unsigned long long)s->requests[i],
			(unsigned long long)s->responses[i],
			(unsigned long long)s->errors[i],
			(unsigned long long)s->broken[i]);
	}
}

static int replay_file(const char *path, struct replay_out *out)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	struct engine *e;
	uint64_t frame = 0;
	int dlt, rc = 0, r;
	pcap_t *pc;

	pc = pcap_open_offline(path, errbuf);
	if (pc == NULL) {
		fprintf(stderr, "conduitctl: replay: %s\n", errbuf);
		return 1;
	}
	dlt = pcap_datalink(pc);
	if (!replay_link_supported(dlt)) {
		fprintf(stderr,
			"conduitctl: replay: %s: unsupported link type %s\n",
			path,
			pcap_datalink_val_to_name(dlt) ?
				pcap_datalink_val_to_name(dlt) :
				"?");
		pcap_close(pc);
		return 1;
	}
	e = engine_alloc(&out->conf);
	if (e == NULL) {
		fprintf(stderr, "conduitctl: replay: engine: %s\n",
			strerror(errno));
		pcap_close(pc);
		return 1;
	}
	engine_set_pdu_cb(e, on_pdu, out);
	while ((r = pcap_next_ex(pc, &h, &data)) == 1) {
		struct pkt p = { 0 };
		uint64_t now_us;
		int d;

		frame++;
		now_us = (uint64_t)h->ts.tv_sec * 1000000 +
			 (uint64_t)h->ts.tv_usec;
		d = replay_link_decode(dlt, data, h->caplen, &p);
		if (d < 0) {
			engine_count_undecoded(e, d);
			continue;
		}
		engine_process(e, &p, now_us, frame);
	}
	if (r == -1) {
		fprintf(stderr, "conduitctl: replay: %s: frame %llu: %s\n",
			path, (unsigned long long)frame + 1, pcap_geterr(pc));
		rc = 1;
	}
	fflush(out->f);
	print_summary(out->json ? stderr : out->f, path, engine_get_stats(e),
		      frame);
	engine_free(e);
	pcap_close(pc);
	return rc;
}

static void replay_usage(FILE *f)
{
	fprintf(f, "usage: conduitctl replay [--policy FILE] [--json] "
		   "[--strict-stream] CAPTURE...\n");
}

int replay_main(int argc, char **argv, int json)
{
	static const struct option lopts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "strict-stream", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct replay_out out = {
		.json = json != 0,
		.f = stdout,
		.conf = { .resync_on_gap = true },
	};
	const char *policy = NULL;
	int ch, rc = 0;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "p:jsh", lopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			policy = optarg;
			break;
		case 'j':
			out.json = true;
			break;
		case 's':
			out.conf.resync_on_gap = false;
			break;
		case 'h':
			replay_usage(stdout);
			return 0;
		default:
			replay_usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		replay_usage(stderr);
		return 2;
	}
	if (policy != NULL)
		fprintf(stderr,
			"conduitctl: replay: --policy %s: verdicts not "
			"implemented yet; decoding only\n",
			policy);
	for (int i = optind; i < argc; i++) {
		out.capture = argc - optind > 1 ? argv[i] : NULL;
		rc |= replay_file(argv[i], &out);
	}
	return rc;
}
