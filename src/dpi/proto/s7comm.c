/*
 * S7comm over ISO-on-TCP: TPKT framing (RFC 1006), the COTP class 0 TPDU
 * (ISO 8073) and the S7comm PDU of a DT TPDU with end-of-TSDU: header with
 * its parameter and data lengths, the parameter block of jobs and acks
 * (function, variable items) and of userdata (group, subfunction). Every
 * length field is checked against the TPDU it lives in.
 */
#include <stddef.h>
#include <string.h>

#include "dpi/proto/cursor.h"
#include "dpi/proto/s7comm.h"

#define S7_HDR_LEN 10
#define S7_HDR_ERR_LEN 12 /* Ack and Ack_Data carry error class/code */
#define S7_ITEM_SPEC 0x12
#define S7_SYNTAX_S7ANY 0x10
#define S7P_HDR_LEN 4 /* 0x72, version, data length */

static const char *const func_names[256] = {
	[S7COMM_FN_CPU_SERVICES] = "cpu-services",
	[S7COMM_FN_READ_VAR] = "read-var",
	[S7COMM_FN_WRITE_VAR] = "write-var",
	[S7COMM_FN_REQUEST_DOWNLOAD] = "request-download",
	[S7COMM_FN_DOWNLOAD_BLOCK] = "download-block",
	[S7COMM_FN_DOWNLOAD_ENDED] = "download-ended",
	[S7COMM_FN_START_UPLOAD] = "start-upload",
	[S7COMM_FN_UPLOAD] = "upload",
	[S7COMM_FN_END_UPLOAD] = "end-upload",
	[S7COMM_FN_PI_SERVICE] = "pi-service",
	[S7COMM_FN_PLC_STOP] = "plc-stop",
	[S7COMM_FN_SETUP_COMM] = "setup-communication",
};

static const char *const group_names[16] = {
	[S7COMM_UD_MODE_TRANSITION] = "mode-transition",
	[S7COMM_UD_PROGRAMMER] = "programmer",
	[S7COMM_UD_CYCLIC] = "cyclic",
	[S7COMM_UD_BLOCK] = "block",
	[S7COMM_UD_CPU] = "cpu",
	[S7COMM_UD_SECURITY] = "security",
	[S7COMM_UD_PBC] = "pbc",
	[S7COMM_UD_TIME] = "time",
	[S7COMM_UD_NC_PROGRAMMING] = "nc-programming",
};

const char *s7comm_func_name(uint8_t func)
{
	return func_names[func];
}

int s7comm_func_from_name(const char *name)
{
	for (int i = 0; i < 256; i++)
		if (func_names[i] != NULL && strcmp(func_names[i], name) == 0)
			return i;
	return -1;
}

const char *s7comm_rosctr_name(uint8_t rosctr)
{
	switch (rosctr) {
	case S7COMM_ROSCTR_JOB:
		return "job";
	case S7COMM_ROSCTR_ACK:
		return "ack";
	case S7COMM_ROSCTR_ACK_DATA:
		return "ack-data";
	case S7COMM_ROSCTR_USERDATA:
		return "userdata";
	default:
		return NULL;
	}
}

const char *s7comm_ud_group_name(uint8_t group)
{
	return group < 16 ? group_names[group] : NULL;
}

/* Variable specifications of a read/write var job. */
static const char *var_specs(struct cur *p, struct s7comm_pdu *m)
{
	for (unsigned i = 0; i < m->item_count; i++) {
		struct s7comm_item it = { 0 };
		uint8_t spec = cur_u8(p);
		uint8_t n = cur_u8(p);
		struct cur s = cur_sub(p, n);

		if (!cur_ok(p))
			return "variable specification overruns the parameter";
		if (spec != S7_ITEM_SPEC)
			return "variable specification type is not 0x12";
		if (n < 1)
			return "empty variable specification";
		it.syntax_id = s.p[0]; /* n >= 1 bytes are in s */
		if (it.syntax_id == S7_SYNTAX_S7ANY) {
			const uint8_t *a = s.p;

			if (n != 10)
				return "S7ANY specification length is not 10";
			it.transport_size = a[1];
			it.length = (uint16_t)(a[2] << 8 | a[3]);
			it.db = (uint16_t)(a[4] << 8 | a[5]);
			it.area = a[6];
			it.address = (uint32_t)a[7] << 16 |
				     (uint32_t)a[8] << 8 | a[9];
		}
		if (m->n_items < S7COMM_MAX_ITEMS)
			m->items[m->n_items++] = it;
		else
			m->items_truncated = true;
	}
	if (cur_left(p) != 0)
		return "parameter longer than its variable specifications";
	return NULL;
}

/* Data items of a read var response or a write var job: return code (or
 * reserved), transport size, length, value, fill byte between items. An
 * item whose return code is an error carries no value, whatever its
 * length says (as PLCs send it). */
static const char *data_items(struct cur *d, unsigned count)
{
	for (unsigned i = 0; i < count; i++) {
		const uint8_t *h = cur_peek(d, 4);
		uint8_t ret, ts;
		size_t n;

		if (h == NULL)
			return "data item overruns the data";
		cur_skip(d, 4);
		ret = h[0];
		ts = h[1];
		n = (size_t)h[2] << 8 | h[3];
		/* bit, byte/word/dword and integer count bits */
		if (ts == 0x03 || ts == 0x04 || ts == 0x05)
			n = (n + 7) / 8;
		if (ret != 0x00 && ret != 0xff)
			n = 0;
		cur_skip(d, n);
		if (!cur_ok(d))
			return "data item overruns the data";
		if ((n & 1) && i + 1 < count)
			cur_skip(d, 1);
	}
	if (!cur_ok(d))
		return "data item overruns the data";
	if (cur_left(d) != 0)
		return "data longer than its items";
	return NULL;
}

static const char *job_or_ack(struct cur *p, struct cur *d,
			      struct s7comm_pdu *m)
{
	bool job = m->rosctr == S7COMM_ROSCTR_JOB;

	if (m->param_len == 0) {
		if (job || m->rosctr == S7COMM_ROSCTR_ACK_DATA)
			return "job or ack-data without parameter";
		return NULL;
	}
	m->has_function = true;
	m->function = cur_u8(p);
	switch (m->function) {
	case S7COMM_FN_READ_VAR:
	case S7COMM_FN_WRITE_VAR:
		m->item_count = cur_u8(p);
		if (!cur_ok(p))
			return "parameter too short for its function";
		if (m->rosctr == S7COMM_ROSCTR_ACK)
			return cur_left(p) ? "parameter too long" : NULL;
		if (m->item_count == 0)
			return "read/write var without items";
		if (job) {
			const char *why = var_specs(p, m);

			if (why != NULL)
				return why;
			if (m->function == S7COMM_FN_READ_VAR)
				return m->data_len ? "read var job with data" :
						     NULL;
			return data_items(d, m->item_count);
		}
		if (cur_left(p) != 0)
			return "parameter too long for its function";
		if (m->data_len == 0 && m->error_class != 0)
			return NULL;
		if (m->function == S7COMM_FN_READ_VAR)
			return data_items(d, m->item_count);
		/* write var response: one return code per item */
		if (m->data_len != m->item_count)
			return "write var response data does not match items";
		return NULL;
	case S7COMM_FN_SETUP_COMM:
		cur_skip(p, 5);
		m->pdu_size = cur_be16(p);
		if (!cur_ok(p))
			return "parameter too short for its function";
		if (cur_left(p) != 0)
			return "parameter too long for its function";
		if (m->pdu_size == 0)
			return "setup communication with PDU size 0";
		return NULL;
	default:
		return NULL;
	}
}

static const char *userdata(struct cur *p, struct cur *d, struct s7comm_pdu *m)
{
	uint8_t h0 = cur_u8(p), h1 = cur_u8(p), h2 = cur_u8(p);
	uint8_t plen = cur_u8(p);
	uint8_t tg;

	m->ud_method = cur_u8(p);
	tg = cur_u8(p);
	m->ud_subfunction = cur_u8(p);
	m->ud_seq = cur_u8(p);
	if (!cur_ok(p))
		return "userdata parameter too short";
	m->has_userdata = true;
	m->ud_type = tg >> 4;
	m->ud_group = tg & 0x0f;
	/* A mode-transition push (CPU going to STOP...) has its own head
	 * 01 00 10 and a length octet of 16 that does not count the bytes
	 * sent; byte 6 is the new mode (step7_s300_stop.pcapng). */
	if (h0 == 0x01 && h1 == 0x00 && h2 == 0x10 && tg == 0x00 &&
	    m->param_len == 8)
		return NULL;
	if (h0 != 0x00 || h1 != 0x01 || h2 != 0x12)
		return "userdata parameter head is not 00 01 12";
	if (plen != 4 && plen != 8)
		return "userdata parameter length is not 4 or 8";
	if ((size_t)plen + 4 != m->param_len)
		return "userdata parameter length does not match header";
	if (m->data_len > 0) {
		uint16_t n;

		cur_skip(d, 2);
		n = cur_be16(d);
		if (!cur_ok(d))
			return "userdata data too short";
		if (n != cur_left(d))
			return "userdata data length does not match header";
	}
	return NULL;
}

static const char *s7plus(struct cur *c, struct s7comm_pdu *m)
{
	m->s7p_version = cur_u8(c);
	m->s7p_data_len = cur_be16(c);
	if (!cur_ok(c))
		return "S7comm-plus header truncated";
	if (m->s7p_data_len > cur_left(c))
		return "S7comm-plus data length beyond the TPDU";
	if (m->s7p_version != 1 && m->s7p_version != 2)
		return NULL; /* v3 carries an integrity part first */
	if (m->s7p_data_len < 1)
		return NULL;
	m->s7p_opcode = cur_u8(c);
	m->s7p_has_opcode = true;
	if ((m->s7p_opcode == 0x31 || m->s7p_opcode == 0x32) &&
	    m->s7p_data_len >= 5) {
		cur_skip(c, 2);
		m->s7p_function = cur_be16(c);
		m->s7p_has_function = true;
	}
	return NULL;
}

const char *s7comm_parse_payload(const uint8_t *buf, size_t len,
				 enum dpi_dir dir, struct s7comm_pdu *m)
{
	struct cur c = cur_init(buf, len);
	struct cur p, d;
	size_t hdr;

	(void)dir;
	memset(&m->has_s7, 0,
	       offsetof(struct s7comm_pdu, items) -
		       offsetof(struct s7comm_pdu, has_s7));
	m->protocol_id = cur_u8(&c);
	if (!cur_ok(&c))
		return "empty S7 PDU";
	if (m->protocol_id == S7COMM_PLUS_PROTO_ID) {
		m->s7plus = true;
		m->has_s7 = true;
		return s7plus(&c, m);
	}
	if (m->protocol_id != S7COMM_PROTO_ID)
		return "protocol id is neither 0x32 nor 0x72";
	if (len < S7_HDR_LEN) {
		/* the fields before the cut, as a cursor would leave them */
		m->rosctr = cur_u8(&c);
		cur_skip(&c, 2); /* redundancy identification */
		m->pdu_ref = cur_be16(&c);
		m->param_len = cur_be16(&c);
		m->has_error = m->rosctr == S7COMM_ROSCTR_ACK ||
			       m->rosctr == S7COMM_ROSCTR_ACK_DATA;
		return "S7 header truncated";
	}
	/* fixed header, known to be there: read it without the cursor */
	m->rosctr = buf[1];
	m->pdu_ref = (uint16_t)(buf[4] << 8 | buf[5]);
	m->param_len = (uint16_t)(buf[6] << 8 | buf[7]);
	m->data_len = (uint16_t)(buf[8] << 8 | buf[9]);
	hdr = S7_HDR_LEN;
	if (m->rosctr == S7COMM_ROSCTR_ACK ||
	    m->rosctr == S7COMM_ROSCTR_ACK_DATA) {
		m->has_error = true;
		if (len < S7_HDR_ERR_LEN) {
			if (len > S7_HDR_LEN)
				m->error_class = buf[S7_HDR_LEN];
			return "S7 header truncated";
		}
		m->error_class = buf[10];
		m->error_code = buf[11];
		hdr = S7_HDR_ERR_LEN;
	}
	cur_skip(&c, hdr - 1);
	m->has_s7 = true;
	if (s7comm_rosctr_name(m->rosctr) == NULL)
		return "unknown ROSCTR";
	if (hdr + m->param_len + m->data_len != len)
		return "S7 parameter and data lengths do not match the TPDU";
	p = cur_sub(&c, m->param_len);
	d = cur_sub(&c, m->data_len);
	if (m->rosctr == S7COMM_ROSCTR_USERDATA)
		return userdata(&p, &d, m);
	return job_or_ack(&p, &d, m);
}

/* CR and CC: references, class, then parameters in (code, length) form. */
static const char *cotp_connect(struct cur *h, struct s7comm_pdu *m)
{
	m->cotp_dst_ref = cur_be16(h);
	m->cotp_src_ref = cur_be16(h);
	m->cotp_class = cur_u8(h);
	if (!cur_ok(h))
		return "COTP connection TPDU too short";
	if ((m->cotp_class >> 4) != 0)
		return "COTP class is not 0";
	while (cur_left(h) > 0) {
		uint8_t n;

		cur_skip(h, 1);
		n = cur_u8(h);
		cur_skip(h, n);
		if (!cur_ok(h))
			return "COTP parameter overruns the header";
	}
	return NULL;
}

static const char *cotp(struct cur *t, struct s7comm_pdu *m)
{
	struct cur h;
	uint8_t code;

	m->cotp_li = cur_u8(t);
	h = cur_sub(t, m->cotp_li);
	if (!cur_ok(t))
		return "COTP length indicator beyond the TPKT";
	code = cur_u8(&h);
	if (!cur_ok(&h))
		return "COTP header without TPDU code";
	m->cotp_type = code >> 4;
	switch (m->cotp_type) {
	case S7COMM_COTP_CR:
	case S7COMM_COTP_CC:
		return cotp_connect(&h, m);
	case S7COMM_COTP_DR:
		m->cotp_dst_ref = cur_be16(&h);
		m->cotp_src_ref = cur_be16(&h);
		cur_skip(&h, 1); /* reason */
		return cur_ok(&h) ? NULL : "COTP DR too short";
	case S7COMM_COTP_DC:
		m->cotp_dst_ref = cur_be16(&h);
		m->cotp_src_ref = cur_be16(&h);
		return cur_ok(&h) ? NULL : "COTP DC too short";
	case S7COMM_COTP_ER:
		m->cotp_dst_ref = cur_be16(&h);
		cur_skip(&h, 1); /* cause */
		return cur_ok(&h) ? NULL : "COTP ER too short";
	case S7COMM_COTP_DT:
		break;
	default:
		return "COTP TPDU type not valid in class 0";
	}
	if (m->cotp_li != 2)
		return "COTP DT length indicator is not 2";
	code = cur_u8(&h);
	m->cotp_eot = (code & 0x80) != 0;
	m->cotp_tpdu_nr = code & 0x7f;
	m->payload_off = t->off;
	m->payload_len = cur_left(t);
	if (!m->cotp_eot) {
		m->fragment = m->payload_len > 0;
		return NULL;
	}
	if (m->payload_len == 0)
		return "COTP DT with end of TSDU but no data";
	return NULL;
}

void s7comm_parse_tpkt(const uint8_t *buf, size_t len, struct s7comm_pdu *out,
		       struct dpi_result *res)
{
	struct cur c = cur_init(buf, len);
	struct cur t;
	const char *why;
	uint8_t version, reserved;

	memset(out, 0, offsetof(struct s7comm_pdu, items)); /* see items */
	if (len < S7COMM_TPKT_HDR_LEN) {
		dpi_need_more(res, S7COMM_TPKT_HDR_LEN);
		return;
	}
	version = cur_u8(&c);
	reserved = cur_u8(&c);
	out->tpkt_length = cur_be16(&c);
	if (version != S7COMM_TPKT_VERSION) {
		dpi_error(res, 0, "TPKT version is not 3");
		return;
	}
	if (reserved != 0) {
		dpi_error(res, 0, "TPKT reserved octet is not 0");
		return;
	}
	if (out->tpkt_length < S7COMM_TPKT_MIN) {
		dpi_error(res, 0, "TPKT length below 7");
		return;
	}
	if (len < out->tpkt_length) {
		dpi_need_more(res, out->tpkt_length);
		return;
	}
	/* Offsets in *out are relative to buf, so keep the TPKT's base. */
	t = cur_init(buf, out->tpkt_length);
	cur_skip(&t, S7COMM_TPKT_HDR_LEN);
	if ((why = cotp(&t, out)) != NULL)
		dpi_error(res, out->tpkt_length, why);
	else
		dpi_complete(res, out->tpkt_length);
}

void s7comm_parse(const uint8_t *buf, size_t len, enum dpi_dir dir,
		  struct s7comm_pdu *out, struct dpi_result *res)
{
	const char *why;

	s7comm_parse_tpkt(buf, len, out, res);
	if (res->status != DPI_COMPLETE || out->cotp_type != S7COMM_COTP_DT ||
	    !out->cotp_eot)
		return;
	why = s7comm_parse_payload(buf + out->payload_off, out->payload_len,
				   dir, out);
	if (why != NULL)
		dpi_error(res, out->tpkt_length, why);
}
