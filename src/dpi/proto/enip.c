/*
 * EtherNet/IP encapsulation, Common Packet Format and CIP message decoding
 * (ODVA CIP Vol. 1 and 2). Every read goes through the shared cursor; every
 * length, count and offset is checked against the enclosing item before
 * use. Embedded CIP messages are decoded by recursion with a fixed depth.
 */
#include <string.h>

#include "dpi/proto/cursor.h"
#include "dpi/proto/enip.h"

#define CIP_MAX_DEPTH 3 /* MSP in Unconnected Send in MSP is enough */

bool enip_command_known(uint16_t command)
{
	return enip_command_name(command) != NULL;
}

const char *enip_command_name(uint16_t command)
{
	switch (command) {
	case ENIP_CMD_NOP:
		return "nop";
	case ENIP_CMD_LIST_SERVICES:
		return "list-services";
	case ENIP_CMD_LIST_IDENTITY:
		return "list-identity";
	case ENIP_CMD_LIST_INTERFACES:
		return "list-interfaces";
	case ENIP_CMD_REGISTER_SESSION:
		return "register-session";
	case ENIP_CMD_UNREGISTER_SESSION:
		return "unregister-session";
	case ENIP_CMD_SEND_RR_DATA:
		return "send-rr-data";
	case ENIP_CMD_SEND_UNIT_DATA:
		return "send-unit-data";
	case ENIP_CMD_INDICATE_STATUS:
		return "indicate-status";
	case ENIP_CMD_CANCEL:
		return "cancel";
	default:
		return NULL;
	}
}

static void skip_pad(struct cur *c, size_t seglen)
{
	if (seglen & 1)
		cur_skip(c, 1);
}

/* Logical segment value: 8-bit, or pad byte + 16/32-bit (padded EPATH). */
static bool logical_value(struct cur *c, unsigned fmt, uint32_t *v)
{
	switch (fmt) {
	case 0:
		*v = cur_u8(c);
		break;
	case 1:
		cur_skip(c, 1);
		*v = cur_le16(c);
		break;
	case 2:
		cur_skip(c, 1);
		*v = cur_le32(c);
		break;
	default:
		return false;
	}
	return true;
}

/* Decode a request path; the first class, instance and attribute win. */
static const char *epath_parse(struct cur *c, struct enip_cip *m)
{
	while (cur_left(c) > 0 && cur_ok(c)) {
		uint8_t seg = cur_u8(c);
		uint32_t v = 0;
		size_t n;

		switch (seg >> 5) {
		case 0: /* port segment */
			if (seg & 0x10) {
				n = cur_u8(c);
				if ((seg & 0x0f) == 0x0f)
					cur_skip(c, 2);
				cur_skip(c, n);
				skip_pad(
					c,
					2 + n + ((seg & 0x0f) == 0x0f ? 2 : 0));
			} else {
				if ((seg & 0x0f) == 0x0f)
					cur_skip(c, 2);
				cur_skip(c, 1);
			}
			break;
		case 1: { /* logical segment */
			unsigned ltype = (seg >> 2) & 0x07, fmt = seg & 0x03;

			if (ltype == 5) { /* special: electronic key */
				if (fmt != 0 || cur_u8(c) != 4)
					return "cip: unsupported electronic key";
				cur_skip(c, 8);
				break;
			}
			if (ltype == 7 || !logical_value(c, fmt, &v))
				return "cip: reserved logical segment";
			if ((ltype == 0 && m->has_class) ||
			    ((ltype == 1 || ltype == 3) && m->has_instance))
				m->path_repeats = true;
			if (ltype == 0 && !m->has_class) {
				m->has_class = true;
				m->class_id = v;
			} else if ((ltype == 1 || ltype == 3) &&
				   !m->has_instance) {
				/* a connection point addresses an instance */
				m->has_instance = true;
				m->instance = v;
			} else if (ltype == 4 && !m->has_attribute) {
				m->has_attribute = true;
				m->attribute = v;
			}
			break;
		}
		case 2: /* network segment */
			if (seg & 0x10)
				cur_skip(c, 2 * (size_t)cur_u8(c));
			else
				cur_skip(c, 1);
			break;
		case 3: /* symbolic segment */
			m->symbolic = true;
			n = seg & 0x1f;
			if (n == 0) {
				uint8_t f = cur_u8(c);
				unsigned k = f & 0x1f;

				switch (f >> 5) {
				case 1:
					n = 2 * (size_t)k;
					break;
				case 2:
					n = 3 * (size_t)k;
					break;
				case 6:
					if (k < 6 || k > 8)
						return "cip: bad numeric symbol";
					n = k == 6 ? 1 : k == 7 ? 2 : 4;
					break;
				default:
					return "cip: bad extended symbol";
				}
				cur_skip(c, n);
				skip_pad(c, 2 + n);
			} else {
				cur_skip(c, n);
				skip_pad(c, 1 + n);
			}
			break;
		case 4: /* data segment */
			if (seg == 0x80) {
				cur_skip(c, 2 * (size_t)cur_u8(c));
			} else if (seg == 0x91) { /* ANSI extended symbol */
				m->symbolic = true;
				n = cur_u8(c);
				cur_skip(c, n);
				skip_pad(c, n);
			} else {
				return "cip: unsupported data segment";
			}
			break;
		default:
			return "cip: unsupported EPATH segment";
		}
	}
	return cur_ok(c) ? NULL : "cip: EPATH truncated";
}

static const char *cip_parse(struct cur *c, struct enip_pdu *e, unsigned depth);

static struct enip_cip *cip_add(struct enip_pdu *e)
{
	if (e->n_cip == ENIP_MAX_CIP) {
		e->cip_truncated = true;
		return NULL;
	}
	memset(&e->cip[e->n_cip], 0, sizeof(e->cip[0]));
	return &e->cip[e->n_cip++];
}

/*
 * Multiple Service Packet body: count, offset table (relative to the
 * count field), then the embedded messages in offset order.
 */
static const char *msp_parse(struct cur *data, struct enip_pdu *e,
			     unsigned depth)
{
	struct cur body = cur_slice(data, data->off, cur_left(data));
	size_t len = cur_left(&body);
	uint16_t count = cur_le16(&body);
	struct cur tab;
	size_t off, prev;

	if (!cur_ok(&body))
		return "cip: multiple service packet truncated";
	tab = cur_sub(&body, 2 * (size_t)count);
	if (count == 0 || !cur_ok(&body))
		return "cip: multiple service packet count out of range";
	prev = body.off;
	off = cur_le16(&tab);
	for (uint16_t i = 0; i < count; i++) {
		size_t end = i + 1 < count ? cur_le16(&tab) : len;
		struct cur m;
		const char *why;

		if (off < prev || end <= off)
			return "cip: multiple service packet offset out of range";
		m = cur_slice(&body, off, end - off);
		if (!cur_ok(&m))
			return "cip: multiple service packet offset out of range";
		why = cip_parse(&m, e, depth + 1);
		if (why != NULL)
			return why;
		prev = end;
		off = end;
	}
	cur_skip(data, len);
	return NULL;
}

/* Unconnected Send request body: the embedded request and the route. */
static const char *ucs_parse(struct cur *c, struct enip_pdu *e, unsigned depth)
{
	struct cur m;
	uint16_t size;
	uint8_t route;
	const char *why;

	cur_skip(c, 2); /* priority/time tick, timeout ticks */
	size = cur_le16(c);
	m = cur_sub(c, size);
	if (!cur_ok(c) || !cur_ok(&m))
		return "cip: unconnected send message truncated";
	why = cip_parse(&m, e, depth + 1);
	if (why != NULL)
		return why;
	skip_pad(c, size);
	route = cur_u8(c);
	cur_skip(c, 1);
	cur_skip(c, 2 * (size_t)route);
	if (!cur_ok(c))
		return "cip: unconnected send route path truncated";
	if (cur_left(c) != 0)
		return "cip: unconnected send trailing bytes";
	return NULL;
}

/*
 * Forward Open, Large Forward Open (the network connection parameters are
 * 2 or 4 bytes wide) and Forward Close: fixed parameters, then the
 * connection path (after a reserved byte in Forward Close).
 */
static const char *conn_path_parse(struct cur *c, struct enip_cip *m)
{
	struct enip_cip t;
	struct cur path;
	const char *why;
	size_t fixed = m->service == CIP_SVC_LARGE_FORWARD_OPEN ? 39 :
		       m->service == CIP_SVC_FORWARD_OPEN	? 35 :
								  10;
	uint8_t words;

	memset(&t, 0, sizeof(t));
	cur_skip(c, fixed);
	words = cur_u8(c);
	if (m->service == CIP_SVC_FORWARD_CLOSE)
		cur_skip(c, 1);
	path = cur_sub(c, 2 * (size_t)words);
	if (!cur_ok(c))
		return "cip: connection path truncated";
	if (cur_left(c) != 0)
		return "cip: bytes after the connection path";
	why = epath_parse(&path, &t);
	if (why != NULL)
		return why;
	m->has_conn_class = t.has_class;
	m->conn_class = t.class_id;
	m->has_conn_instance = t.has_instance;
	m->conn_instance = t.instance;
	return NULL;
}

static const char *cip_parse(struct cur *c, struct enip_pdu *e, unsigned depth)
{
	struct enip_cip tmp, *m;
	uint8_t svc;

	if (depth > CIP_MAX_DEPTH)
		return "cip: embedded messages nested too deep";
	m = cip_add(e);
	if (m == NULL) {
		memset(&tmp, 0, sizeof(tmp));
		m = &tmp;
	}
	svc = cur_u8(c);
	if (!cur_ok(c))
		return "cip: message truncated";
	m->service = svc & CIP_SERVICE_MASK;
	m->response = (svc & CIP_SERVICE_RESPONSE) != 0;
	m->depth = (uint8_t)depth;

	if (m->response) {
		uint8_t ext;

		cur_skip(c, 1); /* reserved */
		m->general_status = cur_u8(c);
		ext = cur_u8(c);
		if (!cur_ok(c))
			return "cip: response header truncated";
		if (ext > 0) {
			struct cur x = cur_sub(c, 2 * (size_t)ext);

			m->ext_status = cur_le16(&x);
			if (!cur_ok(c))
				return "cip: extended status truncated";
		}
		/* Embedded replies exist only when the MSP itself answered. */
		if (m->service == CIP_SVC_MULTIPLE_SERVICE &&
		    (m->general_status == 0 || m->general_status == 0x1e) &&
		    cur_left(c) > 0)
			return msp_parse(c, e, depth);
		return NULL;
	}

	uint8_t words = cur_u8(c);
	struct cur path = cur_sub(c, 2 * (size_t)words);
	const char *why;

	if (!cur_ok(c))
		return "cip: EPATH truncated";
	why = epath_parse(&path, m);
	if (why != NULL)
		return why;
	if (m->service == CIP_SVC_MULTIPLE_SERVICE)
		return msp_parse(c, e, depth);
	if (!m->has_class || m->class_id != CIP_CLASS_CONNECTION_MANAGER)
		return NULL;
	if (m->service == CIP_SVC_UNCONNECTED_SEND)
		return ucs_parse(c, e, depth);
	if (m->service == CIP_SVC_FORWARD_OPEN ||
	    m->service == CIP_SVC_LARGE_FORWARD_OPEN ||
	    m->service == CIP_SVC_FORWARD_CLOSE)
		return conn_path_parse(c, m);
	return NULL;
}

const char *enip_cip_parse(const uint8_t *buf, size_t len, struct enip_pdu *e)
{
	struct cur c = cur_init(buf, len);

	return cip_parse(&c, e, 0);
}

static bool addr_item_len_ok(uint16_t type, uint16_t len)
{
	switch (type) {
	case ENIP_ITEM_NULL_ADDR:
		return len == 0;
	case ENIP_ITEM_CONN_ADDR:
		return len == 4;
	case ENIP_ITEM_SEQ_ADDR:
		return len == 8;
	case ENIP_ITEM_SOCKADDR_OT:
	case ENIP_ITEM_SOCKADDR_TO:
		return len == 16;
	default:
		return true;
	}
}

/*
 * Common Packet Format item list filling the rest of `c`. With `cip` set
 * (SendRRData/SendUnitData) the data item must match the command and its
 * CIP message is decoded.
 */
static const char *cpf_parse(struct cur *c, struct enip_pdu *e, bool cip)
{
	uint16_t n = cur_le16(c);
	bool seen_data = false;

	if (!cur_ok(c))
		return "enip: CPF item count truncated";
	if (n > ENIP_MAX_ITEMS)
		return "enip: too many CPF items";
	if (cip && n < 2)
		return "enip: CPF needs an address and a data item";
	e->has_cpf = true;
	e->n_items = n;
	for (uint16_t i = 0; i < n; i++) {
		uint16_t type = cur_le16(c), len = cur_le16(c);
		struct cur d = cur_sub(c, len);
		const char *why;

		if (!cur_ok(c))
			return "enip: CPF item length exceeds data";
		e->items[i].type = type;
		e->items[i].len = len;
		if (!addr_item_len_ok(type, len))
			return "enip: CPF address item length invalid";
		if (type == ENIP_ITEM_CONN_ADDR || type == ENIP_ITEM_SEQ_ADDR) {
			e->has_conn_id = true;
			e->conn_id = cur_le32(&d);
		}
		if (!cip || (type != ENIP_ITEM_CONN_DATA &&
			     type != ENIP_ITEM_UNCONN_DATA))
			continue;
		if (seen_data)
			return "enip: more than one CPF data item";
		seen_data = true;
		if (type != (e->command == ENIP_CMD_SEND_UNIT_DATA ?
				     ENIP_ITEM_CONN_DATA :
				     ENIP_ITEM_UNCONN_DATA))
			return "enip: CPF data item does not match command";
		if (type == ENIP_ITEM_CONN_DATA) {
			e->has_cip_seq = true;
			e->cip_seq = cur_le16(&d);
			if (!cur_ok(&d))
				return "enip: connected data item truncated";
		}
		why = cip_parse(&d, e, 0);
		if (why != NULL)
			return why;
	}
	if (cur_left(c) != 0)
		return "enip: bytes after the last CPF item";
	if (cip && !seen_data)
		return "enip: CPF without a data item";
	return NULL;
}

static const char *body_parse(struct cur *c, enum dpi_dir dir,
			      struct enip_pdu *e)
{
	switch (e->command) {
	case ENIP_CMD_NOP:
	case ENIP_CMD_INDICATE_STATUS:
	case ENIP_CMD_CANCEL:
		return NULL;
	case ENIP_CMD_LIST_SERVICES:
	case ENIP_CMD_LIST_IDENTITY:
	case ENIP_CMD_LIST_INTERFACES:
		if (dir == DPI_DIR_REQUEST)
			return cur_left(c) == 0 ?
				       NULL :
				       "enip: list request carries data";
		/* an error reply has no item list */
		return cur_left(c) == 0 && e->status != 0 ?
			       NULL :
			       cpf_parse(c, e, false);
	case ENIP_CMD_REGISTER_SESSION:
		if (cur_left(c) == 0 && e->status != 0 &&
		    dir == DPI_DIR_RESPONSE)
			return NULL;
		if (cur_left(c) != 4)
			return "enip: register session length is not 4";
		if (cur_le16(c) != 1)
			return "enip: unsupported protocol version";
		return NULL;
	case ENIP_CMD_UNREGISTER_SESSION:
		return cur_left(c) == 0 ?
			       NULL :
			       "enip: unregister session carries data";
	case ENIP_CMD_SEND_RR_DATA:
	case ENIP_CMD_SEND_UNIT_DATA:
		if (cur_left(c) == 0 && e->status != 0 &&
		    dir == DPI_DIR_RESPONSE)
			return NULL;
		e->interface_handle = cur_le32(c);
		e->timeout = cur_le16(c);
		if (!cur_ok(c))
			return "enip: send data header truncated";
		if (e->interface_handle != 0)
			return "enip: interface handle is not CIP";
		return cpf_parse(c, e, true);
	default:
		return "enip: unknown encapsulation command";
	}
}

enum dpi_status enip_parse(const uint8_t *buf, size_t len, enum dpi_dir dir,
			   struct enip_pdu *e, struct dpi_result *r)
{
	struct cur c = cur_init(buf, len);
	struct cur body;
	size_t total;
	const char *why;

	if (len < ENIP_HDR_LEN) {
		dpi_need_more(r, ENIP_HDR_LEN);
		return r->status;
	}
	memset(e, 0, offsetof(struct enip_pdu, cip));
	e->command = cur_le16(&c);
	e->length = cur_le16(&c);
	e->session = cur_le32(&c);
	e->status = cur_le32(&c);
	memcpy(e->context, cur_peek(&c, 8), 8);
	cur_skip(&c, 8);
	e->options = cur_le32(&c);

	/* Header errors: the stream cannot be resynchronised past them. */
	if (!enip_command_known(e->command)) {
		dpi_error(r, ENIP_HDR_LEN,
			  "enip: unknown encapsulation command");
		return r->status;
	}
	if (e->length > ENIP_MAX_DATA) {
		dpi_error(r, ENIP_HDR_LEN, "enip: length out of range");
		return r->status;
	}
	if (e->options != 0) {
		dpi_error(r, ENIP_HDR_LEN, "enip: options field not zero");
		return r->status;
	}
	total = ENIP_HDR_LEN + (size_t)e->length;
	if (len < total) {
		dpi_need_more(r, total);
		return r->status;
	}
	body = cur_sub(&c, e->length);
	why = body_parse(&body, dir, e);
	if (why != NULL)
		dpi_error(r, total, why);
	else
		dpi_complete(r, total);
	return r->status;
}

bool enip_io_recognise(const uint8_t *buf, size_t len)
{
	struct cur c = cur_init(buf, len);
	uint16_t n = cur_le16(&c);
	uint16_t t0 = cur_le16(&c), l0 = cur_le16(&c);
	uint16_t t1, l1;

	cur_skip(&c, l0);
	t1 = cur_le16(&c);
	l1 = cur_le16(&c);
	cur_skip(&c, l1);
	return cur_ok(&c) && n >= 2 && n <= ENIP_MAX_ITEMS &&
	       t0 == ENIP_ITEM_SEQ_ADDR && l0 == 8 &&
	       t1 == ENIP_ITEM_CONN_DATA && (n > 2 || cur_left(&c) == 0);
}

bool cip_request_is_read(const struct enip_cip *m)
{
	if (m->response)
		return true;
	switch (m->service) {
	case CIP_SVC_GET_ATTRIBUTES_ALL:
	case CIP_SVC_GET_ATTRIBUTE_LIST:
	case CIP_SVC_MULTIPLE_SERVICE:
	case CIP_SVC_GET_ATTRIBUTE_SINGLE:
	case 0x11: /* find next object instance */
		return true;
	default:
		break;
	}
	if (m->service < 0x4b || m->service > 0x63)
		return false;
	if (m->has_class && m->class_id == CIP_CLASS_CONNECTION_MANAGER)
		/* forward close, unconnected send, forward open, large FO */
		return m->service == 0x4e || m->service == 0x52 ||
		       m->service == 0x54 || m->service == 0x5b;
	if (m->symbolic || (m->has_class && (m->class_id == 0x6b)))
		/* Logix read tag, read tag fragmented, get instance attr list */
		return m->service == 0x4c || m->service == 0x52 ||
		       m->service == 0x55;
	return false;
}
