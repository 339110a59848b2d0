/*
 * conduitctl replay: reads captures with libpcap (pcap and pcapng), strips
 * the link layer, and runs each packet through one engine and one verdict
 * instance per capture, the same decision path the NFQUEUE workers run.
 * Every application PDU is printed with its decision as a line of text or
 * a JSON object (JSON Lines), events as they are emitted (--events), then
 * a summary. Output keys: conduitctl(8) REPLAY, docs/dev/replay-output.md.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <pcap/pcap.h>

#include "common/diag.h"
#include "dpi/engine.h"
#include "dpi/event.h"
#include "dpi/proto/cursor.h"
#include "dpi/replay.h"
#include "dpi/verdict.h"
#include "policy/model.h"

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
	struct cur c;
	uint16_t type;

	p->n_vlan = 0;
	p->error = NULL;
	/* Fast path, nearly every frame: untagged Ethernet with IPv4/IPv6. */
	if (dlt == DLT_EN10MB && len >= 14) {
		type = (uint16_t)(buf[12] << 8 | buf[13]);
		if (type == ETH_P_IP || type == ETH_P_IPV6)
			return pkt_decode_ip(p, buf + 14, len - 14);
	}
	c = cur_init(buf, len);
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

#define REPLAY_NACT 3 /* enum pol_action values */

struct replay_out {
	bool json;
	bool events;	     /* --events */
	const char *capture; /* set when more than one capture is given */
	FILE *f;
	struct engine_conf conf;
	struct verdict_conf vconf;
	const struct pol_policy *pol; /* NULL: decode only */
	/* summary: PDUs per conduit (0: none, else id), proto and verdict */
	uint64_t *counts;
	size_t n_counts;
};

static size_t count_index(size_t conduit, int proto, int act)
{
	return (conduit * ENGINE_PROTO_MAX + (size_t)proto) * REPLAY_NACT +
	       (size_t)act;
}

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

static void set_str(json_t *o, const char *k, const char *v)
{
	json_object_set_new(o, k, json_string(v));
}

static void set_addr(json_t *o, const char *k, const struct pkt_addr *a,
		     uint16_t port)
{
	char buf[PKT_ADDR_PORT_STRLEN];

	set_str(o, k, pkt_addr_port_str(a, port, buf, sizeof(buf)));
}

static const char *how_name(enum engine_class_how how)
{
	switch (how) {
	case ENGINE_CLASS_DPI:
		return "dpi";
	case ENGINE_CLASS_POLICY:
		return "policy";
	default:
		return "port";
	}
}

/* Keys printed before the generic key=value list, in the text forms. */
static const char *const pdu_fixed[] = {
	"capture", "frame",   "src",  "dst",	   "dir",	"proto",
	"verdict", "conduit", "rule", "rule_line", "zone_from", "zone_to",
};
static const char *const event_fixed[] = {
	"capture", "frame", "event", "src", "dst", "proto", "action",
};

static const char *get_str(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void print_rest(FILE *f, json_t *o, const char *const *fixed,
		       size_t n_fixed)
{
	const char *k;
	json_t *x;

	json_object_foreach(o, k, x)
	{
		bool skip = false;

		for (size_t i = 0; i < n_fixed; i++)
			skip |= strcmp(k, fixed[i]) == 0;
		if (skip)
			continue;
		fprintf(f, " %s=", k);
		print_text_value(f, x);
	}
	fputc('\n', f);
}

/*
 * Text: "FRAME SRC -> DST DIR PROTO [VERDICT [conduit=C] [rule=R[@LINE]]
 * [zones=FROM->TO]] key=value ..." from the same object.
 */
static void print_text(FILE *f, json_t *o)
{
	const char *verdict = get_str(o, "verdict");

	if (json_object_get(o, "capture"))
		fprintf(f, "%s ", get_str(o, "capture"));
	fprintf(f, "%" JSON_INTEGER_FORMAT " %s -> %s %s %s",
		json_integer_value(json_object_get(o, "frame")),
		get_str(o, "src"), get_str(o, "dst"), get_str(o, "dir"),
		get_str(o, "proto"));
	if (verdict != NULL) {
		const char *zf = get_str(o, "zone_from");
		const char *zt = get_str(o, "zone_to");

		fprintf(f, " %s", verdict);
		if (json_object_get(o, "conduit"))
			fprintf(f, " conduit=%s", get_str(o, "conduit"));
		if (json_object_get(o, "rule"))
			fprintf(f, " rule=%s", get_str(o, "rule"));
		if (json_object_get(o, "rule_line"))
			fprintf(f, "@%" JSON_INTEGER_FORMAT,
				json_integer_value(
					json_object_get(o, "rule_line")));
		if (zf != NULL || zt != NULL)
			fprintf(f, " zones=%s->%s", zf ? zf : "-",
				zt ? zt : "-");
	}
	print_rest(f, o, pdu_fixed, sizeof(pdu_fixed) / sizeof(pdu_fixed[0]));
}

static void emit(struct replay_out *out, json_t *o, bool event)
{
	if (out->json) {
		json_dumpf(o, out->f, JSON_COMPACT);
		fputc('\n', out->f);
	} else if (event) {
		if (json_object_get(o, "capture"))
			fprintf(out->f, "%s ", get_str(o, "capture"));
		if (json_object_get(o, "frame"))
			fprintf(out->f, "%" JSON_INTEGER_FORMAT,
				json_integer_value(
					json_object_get(o, "frame")));
		else
			fputc('-', out->f);
		fprintf(out->f, " event %s %s -> %s %s %s", get_str(o, "event"),
			get_str(o, "src"), get_str(o, "dst"),
			json_object_get(o, "proto") ? get_str(o, "proto") : "-",
			get_str(o, "action"));
		print_rest(out->f, o, event_fixed,
			   sizeof(event_fixed) / sizeof(event_fixed[0]));
	} else {
		print_text(out->f, o);
	}
}

static void add_decision(json_t *o, const struct verdict_decision *d)
{
	set_str(o, "verdict", pol_action_name(d->action));
	if (d->conduit != NULL)
		set_str(o, "conduit", d->conduit->name);
	if (d->rule != NULL)
		set_str(o, "rule", d->rule);
	if (d->loc.line > 0)
		set_int(o, "rule_line", d->loc.line);
	if (d->zone_from != NULL)
		set_str(o, "zone_from", d->zone_from->name);
	if (d->zone_to != NULL)
		set_str(o, "zone_to", d->zone_to->name);
}

static void count_decision(struct replay_out *out, const struct engine_pdu *pdu,
			   const struct verdict_decision *d)
{
	size_t c = d->conduit != NULL ? d->conduit->id : 0;
	size_t i;

	if (out->counts == NULL || pdu->proto <= ENGINE_PROTO_NONE ||
	    pdu->proto >= ENGINE_PROTO_MAX ||
	    (unsigned)d->action >= REPLAY_NACT)
		return;
	i = count_index(c, pdu->proto, d->action);
	if (i < out->n_counts)
		out->counts[i]++;
}

static void on_pdu(const struct engine_pdu *pdu,
		   const struct verdict_decision *d, void *arg)
{
	struct replay_out *out = arg;
	json_t *o = json_object();

	if (d->bound)
		count_decision(out, pdu, d);
	if (o == NULL)
		return;
	if (out->capture)
		set_str(o, "capture", out->capture);
	set_int(o, "frame", (json_int_t)pdu->tag);
	set_addr(o, "src", pdu->src, pdu->sport);
	set_addr(o, "dst", pdu->dst, pdu->dport);
	set_str(o, "dir", pdu->dir == DPI_DIR_REQUEST ? "request" : "response");
	set_str(o, "proto", engine_proto_name(pdu->proto));
	if (d->bound)
		add_decision(o, d);
	set_str(o, "transport", pdu->l4proto == 17 ? "udp" : "tcp");
	set_str(o, "identified_by", how_name(pdu->how));
	if (d->app != NULL && d->app[0] != '\0')
		set_str(o, "app", d->app);
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
		set_str(o, "error", pdu->error);
	if (pdu->broken)
		json_object_set_new(o, "stream_broken", json_true());
	emit(out, o, false);
	json_decref(o);
}

static void on_event(const struct dpi_event *ev, void *arg)
{
	struct replay_out *out = arg;
	json_t *o = json_object();

	if (o == NULL)
		return;
	if (out->capture)
		set_str(o, "capture", out->capture);
	set_str(o, "event", dpi_event_kind_name(ev->kind));
	if (ev->tag > 0) /* 0: raised where no frame is known */
		set_int(o, "frame", (json_int_t)ev->tag);
	set_addr(o, "src", &ev->src, ev->sport);
	set_addr(o, "dst", &ev->dst, ev->dport);
	if (ev->proto != NULL)
		set_str(o, "proto", ev->proto);
	set_str(o, "action", pol_action_name(ev->action));
	set_int(o, "count", ev->count);
	set_int(o, "first_us", (json_int_t)ev->first_us);
	set_int(o, "last_us", (json_int_t)ev->last_us);
	if (ev->conduit != NULL)
		set_str(o, "conduit", ev->conduit->name);
	if (ev->zone_from != NULL)
		set_str(o, "zone_from", ev->zone_from->name);
	if (ev->zone_to != NULL)
		set_str(o, "zone_to", ev->zone_to->name);
	set_str(o, "transport", ev->l4proto == 17 ? "udp" : "tcp");
	if (ev->function >= 0)
		set_int(o, "function", ev->function);
	if (ev->detail[0] != '\0')
		set_str(o, "detail", ev->detail);
	if (ev->rule != NULL)
		set_str(o, "rule", ev->rule);
	if (ev->loc.line > 0)
		set_int(o, "rule_line", ev->loc.line);
	emit(out, o, true);
	json_decref(o);
}

/* --- summary --------------------------------------------------------------- */

struct replay_totals {
	const char *capture;
	uint64_t frames;
	const struct engine_stats *es;
	const struct verdict_stats *vs;
	const struct classify_stats *cs; /* NULL: no nDPI */
};

static const char *conduit_name(const struct replay_out *out, size_t c)
{
	return c == 0 ? "-" : out->pol->conduits[c - 1].name;
}

static uint64_t total_pdus(const struct replay_out *out, size_t c, int proto,
			   uint64_t *v)
{
	uint64_t sum = 0;

	for (int a = 0; a < REPLAY_NACT; a++) {
		v[a] = out->counts[count_index(c, proto, a)];
		sum += v[a];
	}
	return sum;
}

static void summary_text(FILE *f, const struct replay_out *out,
			 const struct replay_totals *t)
{
	const struct engine_stats *s = t->es;
	const struct verdict_stats *vs = t->vs;

	fprintf(f,
		"summary %s: %llu frames, %llu flows, %llu not IP, "
		"%llu malformed headers, %llu IP fragments, %llu other L4, "
		"%llu unclassified, %llu stream events, %llu pool exhaustions\n",
		t->capture, (unsigned long long)t->frames,
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
	fprintf(f,
		"  flows: %llu bound to a conduit, %llu unbound; events: %llu "
		"emitted, %llu repeats aggregated; rate buckets full: %llu\n",
		(unsigned long long)vs->flows_bound,
		(unsigned long long)vs->flows_unbound,
		(unsigned long long)vs->events,
		(unsigned long long)vs->events_suppressed,
		(unsigned long long)vs->bucket_full);
	if (t->cs != NULL)
		fprintf(f,
			"  classify: %llu packets looked at, %llu flows "
			"identified, %llu unknown, %llu without a slot\n",
			(unsigned long long)t->cs->packets,
			(unsigned long long)t->cs->done,
			(unsigned long long)t->cs->unknown,
			(unsigned long long)t->cs->no_slot);
	if (out->pol == NULL)
		return;
	fprintf(f, "  packets: %llu allowed, %llu denied, %llu rejected\n",
		(unsigned long long)s->verdicts[ENGINE_ALLOW],
		(unsigned long long)s->verdicts[ENGINE_DENY],
		(unsigned long long)s->verdicts[ENGINE_REJECT]);
	fprintf(f, "  %-32s %-8s %10s %10s %10s\n", "conduit", "proto", "allow",
		"deny", "reject");
	for (size_t c = 0; c <= out->pol->n_conduits; c++)
		for (int p = 1; p < ENGINE_PROTO_MAX; p++) {
			uint64_t v[REPLAY_NACT];

			if (total_pdus(out, c, p, v) == 0)
				continue;
			fprintf(f, "  %-32s %-8s %10llu %10llu %10llu\n",
				conduit_name(out, c),
				engine_proto_name((enum engine_proto)p),
				(unsigned long long)v[POL_ACT_ALLOW],
				(unsigned long long)v[POL_ACT_DENY],
				(unsigned long long)v[POL_ACT_REJECT]);
		}
}

static json_t *summary_json(const struct replay_out *out,
			    const struct replay_totals *t)
{
	const struct engine_stats *s = t->es;
	const struct verdict_stats *vs = t->vs;
	json_t *o = json_object(), *protos = json_object(), *vd;

	json_object_set_new(o, "summary", json_true());
	set_str(o, "capture", t->capture);
	set_int(o, "frames", (json_int_t)t->frames);
	set_int(o, "flows", (json_int_t)s->flows);
	set_int(o, "not_ip", (json_int_t)s->not_ip);
	set_int(o, "malformed_headers", (json_int_t)s->bad_packets);
	set_int(o, "fragments", (json_int_t)s->fragments);
	set_int(o, "other_l4", (json_int_t)s->other_l4);
	set_int(o, "unclassified", (json_int_t)s->unclassified);
	set_int(o, "stream_events", (json_int_t)s->stream_events);
	set_int(o, "pool_exhaustions",
		(json_int_t)(s->flow_pool_full + s->state_pool_full));
	for (int i = 1; i < ENGINE_PROTO_MAX; i++) {
		if (s->pdus[i] == 0)
			continue;
		json_object_set_new(
			protos, engine_proto_name((enum engine_proto)i),
			json_pack("{s:I, s:I, s:I, s:I, s:I}", "pdus",
				  (json_int_t)s->pdus[i], "requests",
				  (json_int_t)s->requests[i], "responses",
				  (json_int_t)s->responses[i], "errors",
				  (json_int_t)s->errors[i], "broken",
				  (json_int_t)s->broken[i]));
	}
	json_object_set_new(o, "protocols", protos);
	set_int(o, "flows_bound", (json_int_t)vs->flows_bound);
	set_int(o, "flows_unbound", (json_int_t)vs->flows_unbound);
	set_int(o, "events", (json_int_t)vs->events);
	set_int(o, "events_suppressed", (json_int_t)vs->events_suppressed);
	set_int(o, "rate_buckets_full", (json_int_t)vs->bucket_full);
	if (t->cs != NULL)
		json_object_set_new(
			o, "classify",
			json_pack("{s:I, s:I, s:I, s:I}", "packets",
				  (json_int_t)t->cs->packets, "identified",
				  (json_int_t)t->cs->done, "unknown",
				  (json_int_t)t->cs->unknown, "no_slot",
				  (json_int_t)t->cs->no_slot));
	if (out->pol == NULL)
		return o;
	json_object_set_new(
		o, "packets",
		json_pack("{s:I, s:I, s:I}", "allow",
			  (json_int_t)s->verdicts[ENGINE_ALLOW], "deny",
			  (json_int_t)s->verdicts[ENGINE_DENY], "reject",
			  (json_int_t)s->verdicts[ENGINE_REJECT]));
	vd = json_array();
	for (size_t c = 0; c <= out->pol->n_conduits; c++)
		for (int p = 1; p < ENGINE_PROTO_MAX; p++) {
			uint64_t v[REPLAY_NACT];

			if (total_pdus(out, c, p, v) == 0)
				continue;
			json_array_append_new(
				vd,
				json_pack(
					"{s:s, s:s, s:I, s:I, s:I}", "conduit",
					conduit_name(out, c), "proto",
					engine_proto_name((enum engine_proto)p),
					"allow", (json_int_t)v[POL_ACT_ALLOW],
					"deny", (json_int_t)v[POL_ACT_DENY],
					"reject",
					(json_int_t)v[POL_ACT_REJECT]));
		}
	json_object_set_new(o, "verdicts", vd);
	return o;
}

static void print_summary(struct replay_out *out, const struct replay_totals *t)
{
	if (out->json) {
		json_t *o = summary_json(out, t);

		emit(out, o, false);
		json_decref(o);
	} else {
		summary_text(out->f, out, t);
	}
}

/* --- the command ------------------------------------------------------------ */

static int replay_file(const char *path, struct replay_out *out)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	struct engine_conf conf = out->conf;
	struct replay_totals t = { .capture = path };
	struct pcap_pkthdr *h;
	const u_char *data;
	struct verdict *v = NULL;
	struct engine *e = NULL;
	int dlt, rc = 1, r;
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
		goto out;
	}
	v = verdict_alloc(out->pol, &out->vconf);
	if (v == NULL) {
		fprintf(stderr, "conduitctl: replay: verdict module: %s\n",
			strerror(errno));
		goto out;
	}
	conf.hook_user_size = verdict_flow_size();
	e = engine_alloc(&conf);
	if (e == NULL) {
		fprintf(stderr, "conduitctl: replay: engine: %s\n",
			strerror(errno));
		goto out;
	}
	verdict_attach(v, e);
	verdict_set_pdu_cb(v, on_pdu, out);
	if (out->events)
		verdict_set_event_cb(v, on_event, out);
	if (out->counts != NULL)
		memset(out->counts, 0, out->n_counts * sizeof(*out->counts));
	rc = 0;
	while ((r = pcap_next_ex(pc, &h, &data)) == 1) {
		struct pkt p = { 0 };
		uint64_t now_us;
		int d;

		t.frames++;
		now_us = (uint64_t)h->ts.tv_sec * 1000000 +
			 (uint64_t)h->ts.tv_usec;
		verdict_tick(v, now_us);
		d = replay_link_decode(dlt, data, h->caplen, &p);
		if (d < 0) {
			engine_count_undecoded(e, d);
			continue;
		}
		engine_process(e, &p, now_us, t.frames);
	}
	if (r == -1) {
		fprintf(stderr, "conduitctl: replay: %s: frame %llu: %s\n",
			path, (unsigned long long)t.frames + 1,
			pcap_geterr(pc));
		rc = 1;
	}
	verdict_flush(v);
	t.es = engine_get_stats(e);
	t.vs = verdict_get_stats(v);
	t.cs = verdict_classify_stats(v);
	print_summary(out, &t);
	fflush(out->f);
out:
	engine_free(e); /* flow-end hooks still reach v */
	verdict_free(v);
	pcap_close(pc);
	return rc;
}

static void replay_usage(FILE *f)
{
	fprintf(f, "usage: conduitctl replay [--policy FILE] "
		   "[--classify port|ndpi] [--events] [--json]\n"
		   "                         [--strict-stream] CAPTURE...\n");
}

/* Load FILE; diagnostics as `policy check` prints them (file:line:col). */
static int load_policy(const char *file, struct pol_policy **p)
{
	struct diag_list dl;
	int rc;

	diag_list_init(&dl);
	rc = policy_load_file(file, 0, p, &dl);
	if (rc < 0 && dl.n == 0)
		diag_add(&dl, file, 0, 0, "%s", strerror(-rc));
	if (rc < 0)
		diag_print(&dl, stderr);
	diag_list_free(&dl);
	return rc;
}

int replay_main(int argc, char **argv, int json)
{
	static const struct option lopts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "classify", required_argument, NULL, 'c' },
		{ "events", no_argument, NULL, 'e' },
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
	struct pol_policy *pol = NULL;
	const char *policy = NULL;
	int ch, rc = 0;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "p:c:ejsh", lopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			policy = optarg;
			break;
		case 'c':
			if (strcmp(optarg, "port") == 0) {
				out.vconf.port_only = true;
			} else if (strcmp(optarg, "ndpi") == 0) {
				out.vconf.port_only = false;
			} else {
				fprintf(stderr,
					"conduitctl: replay: --classify: "
					"expected port or ndpi, found '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'e':
			out.events = true;
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
	if (policy != NULL) {
		if (load_policy(policy, &pol) < 0)
			return 2;
		out.pol = pol;
		out.n_counts = count_index(pol->n_conduits + 1, 0, 0);
		out.counts = calloc(out.n_counts, sizeof(*out.counts));
		if (out.counts == NULL) {
			fprintf(stderr, "conduitctl: replay: %s\n",
				strerror(errno));
			policy_free(pol);
			return 1;
		}
	}
	for (int i = optind; i < argc; i++) {
		out.capture = argc - optind > 1 ? argv[i] : NULL;
		rc |= replay_file(argv[i], &out);
	}
	free(out.counts);
	policy_free(pol);
	return rc;
}
