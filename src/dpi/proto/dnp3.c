/*
 * DNP3 link layer, transport reassembly and application layer decoding.
 * Every read goes through the shared cursor; every length is checked
 * against the buffer and the protocol maxima of IEEE 1815-2012 before use.
 */
#include <string.h>

#include "dpi/proto/cursor.h"
#include "dpi/proto/dnp3.h"

#define DNP3_START0 0x05
#define DNP3_START1 0x64
#define DNP3_BLOCK 16

/*
 * CRC-16/DNP: poly 0x3D65 reflected (0xA6BC), init 0, xorout 0xFFFF. One
 * table step per byte instead of eight shifts: the CRC covers every link
 * header and data block, so it is most of the cost of a DNP3 frame.
 * crc_table[i] is the bitwise CRC register after shifting the byte i in.
 */
static const uint16_t crc_table[256] = {
	0x0000, 0x365e, 0x6cbc, 0x5ae2, 0xd978, 0xef26, 0xb5c4, 0x839a, 0xff89,
	0xc9d7, 0x9335, 0xa56b, 0x26f1, 0x10af, 0x4a4d, 0x7c13, 0xb26b, 0x8435,
	0xded7, 0xe889, 0x6b13, 0x5d4d, 0x07af, 0x31f1, 0x4de2, 0x7bbc, 0x215e,
	0x1700, 0x949a, 0xa2c4, 0xf826, 0xce78, 0x29af, 0x1ff1, 0x4513, 0x734d,
	0xf0d7, 0xc689, 0x9c6b, 0xaa35, 0xd626, 0xe078, 0xba9a, 0x8cc4, 0x0f5e,
	0x3900, 0x63e2, 0x55bc, 0x9bc4, 0xad9a, 0xf778, 0xc126, 0x42bc, 0x74e2,
	0x2e00, 0x185e, 0x644d, 0x5213, 0x08f1, 0x3eaf, 0xbd35, 0x8b6b, 0xd189,
	0xe7d7, 0x535e, 0x6500, 0x3fe2, 0x09bc, 0x8a26, 0xbc78, 0xe69a, 0xd0c4,
	0xacd7, 0x9a89, 0xc06b, 0xf635, 0x75af, 0x43f1, 0x1913, 0x2f4d, 0xe135,
	0xd76b, 0x8d89, 0xbbd7, 0x384d, 0x0e13, 0x54f1, 0x62af, 0x1ebc, 0x28e2,
	0x7200, 0x445e, 0xc7c4, 0xf19a, 0xab78, 0x9d26, 0x7af1, 0x4caf, 0x164d,
	0x2013, 0xa389, 0x95d7, 0xcf35, 0xf96b, 0x8578, 0xb326, 0xe9c4, 0xdf9a,
	0x5c00, 0x6a5e, 0x30bc, 0x06e2, 0xc89a, 0xfec4, 0xa426, 0x9278, 0x11e2,
	0x27bc, 0x7d5e, 0x4b00, 0x3713, 0x014d, 0x5baf, 0x6df1, 0xee6b, 0xd835,
	0x82d7, 0xb489, 0xa6bc, 0x90e2, 0xca00, 0xfc5e, 0x7fc4, 0x499a, 0x1378,
	0x2526, 0x5935, 0x6f6b, 0x3589, 0x03d7, 0x804d, 0xb613, 0xecf1, 0xdaaf,
	0x14d7, 0x2289, 0x786b, 0x4e35, 0xcdaf, 0xfbf1, 0xa113, 0x974d, 0xeb5e,
	0xdd00, 0x87e2, 0xb1bc, 0x3226, 0x0478, 0x5e9a, 0x68c4, 0x8f13, 0xb94d,
	0xe3af, 0xd5f1, 0x566b, 0x6035, 0x3ad7, 0x0c89, 0x709a, 0x46c4, 0x1c26,
	0x2a78, 0xa9e2, 0x9fbc, 0xc55e, 0xf300, 0x3d78, 0x0b26, 0x51c4, 0x679a,
	0xe400, 0xd25e, 0x88bc, 0xbee2, 0xc2f1, 0xf4af, 0xae4d, 0x9813, 0x1b89,
	0x2dd7, 0x7735, 0x416b, 0xf5e2, 0xc3bc, 0x995e, 0xaf00, 0x2c9a, 0x1ac4,
	0x4026, 0x7678, 0x0a6b, 0x3c35, 0x66d7, 0x5089, 0xd313, 0xe54d, 0xbfaf,
	0x89f1, 0x4789, 0x71d7, 0x2b35, 0x1d6b, 0x9ef1, 0xa8af, 0xf24d, 0xc413,
	0xb800, 0x8e5e, 0xd4bc, 0xe2e2, 0x6178, 0x5726, 0x0dc4, 0x3b9a, 0xdc4d,
	0xea13, 0xb0f1, 0x86af, 0x0535, 0x336b, 0x6989, 0x5fd7, 0x23c4, 0x159a,
	0x4f78, 0x7926, 0xfabc, 0xcce2, 0x9600, 0xa05e, 0x6e26, 0x5878, 0x029a,
	0x34c4, 0xb75e, 0x8100, 0xdbe2, 0xedbc, 0x91af, 0xa7f1, 0xfd13, 0xcb4d,
	0x48d7, 0x7e89, 0x246b, 0x1235,
};

uint16_t dnp3_crc(const uint8_t *buf, size_t n)
{
	uint16_t crc = 0;

	for (size_t i = 0; i < n; i++)
		crc = (uint16_t)((crc >> 8) ^ crc_table[(crc ^ buf[i]) & 0xff]);
	return (uint16_t)~crc;
}

/* The CRC is sent low byte first after the bytes it covers. */
static bool crc_ok(struct cur *c, size_t n)
{
	const uint8_t *p = cur_peek(c, n);
	uint16_t want;

	if (p == NULL)
		return false;
	want = dnp3_crc(p, n);
	cur_skip(c, n);
	return cur_le16(c) == want && cur_ok(c);
}

size_t dnp3_link_frame_size(uint8_t len)
{
	size_t user = len >= DNP3_LINK_MIN_LEN ? (size_t)len - 5 : 0;

	return DNP3_LINK_HDR_LEN + user +
	       2 * ((user + DNP3_BLOCK - 1) / DNP3_BLOCK);
}

/* NULL when the control octet fits the frame, else what is wrong. */
static const char *link_func_check(uint8_t ctrl, uint8_t user_len)
{
	uint8_t fc = ctrl & DNP3_LINK_FUNC_MASK;
	bool ok;

	if (ctrl & DNP3_LINK_PRM) {
		/* FCV: set exactly for test link (2) and confirmed data */
		bool fcv = (ctrl & DNP3_LINK_FCV) != 0;

		if (fcv != (fc == 2 || fc == DNP3_LINK_CONFIRMED_DATA))
			return "dnp3: link FCV bit does not fit the function";
		if (fc == DNP3_LINK_CONFIRMED_DATA ||
		    fc == DNP3_LINK_UNCONFIRMED_DATA)
			ok = user_len > 0;
		else /* reset link states, reset user process, test, status */
			ok = (fc <= 2 || fc == 9) && user_len == 0;
	} else {
		/* ACK, NACK, link status, not supported */
		ok = (fc <= 1 || fc == 11 || fc == 15) && user_len == 0;
	}
	return ok ? NULL : "dnp3: link function and length disagree";
}

enum dpi_status dnp3_link_parse(const uint8_t *buf, size_t len,
				struct dnp3_link *lk, struct dpi_result *r)
{
	struct cur c = cur_init(buf, len);
	uint8_t s0 = cur_u8(&c), s1 = cur_u8(&c);
	struct cur hdr;
	size_t size;
	uint8_t flen;
	const char *why;

	/* Reject a wrong start as soon as its first byte is in. */
	if ((len >= 1 && s0 != DNP3_START0) ||
	    (len >= 2 && s1 != DNP3_START1)) {
		dpi_error(r, 1, "dnp3: bad link start bytes");
		return r->status;
	}
	if (len < DNP3_LINK_HDR_LEN) {
		dpi_need_more(r, DNP3_LINK_HDR_LEN);
		return r->status;
	}
	flen = cur_u8(&c);
	if (flen < DNP3_LINK_MIN_LEN) {
		dpi_error(r, 1, "dnp3: link length out of range");
		return r->status;
	}
	hdr = cur_init(buf, len);
	if (!crc_ok(&hdr, 8)) {
		dpi_error(r, 1, "dnp3: bad link header CRC");
		return r->status;
	}
	size = dnp3_link_frame_size(flen);
	if (len < size) {
		dpi_need_more(r, size);
		return r->status;
	}

	memset(lk, 0, offsetof(struct dnp3_link, user));
	lk->len = flen;
	lk->ctrl = cur_u8(&c);
	lk->dst = cur_le16(&c);
	lk->src = cur_le16(&c);
	lk->user_len = (uint8_t)(flen - 5);
	cur_skip(&c, 2);
	why = link_func_check(lk->ctrl, lk->user_len);
	if (why != NULL) {
		dpi_error(r, size, why);
		return r->status;
	}

	for (size_t done = 0; done < lk->user_len;) {
		size_t n = lk->user_len - done;
		const uint8_t *p;

		if (n > DNP3_BLOCK)
			n = DNP3_BLOCK;
		p = cur_peek(&c, n);
		if (p == NULL || !crc_ok(&c, n)) {
			dpi_error(r, size, "dnp3: bad link data block CRC");
			return r->status;
		}
		memcpy(lk->user + done, p, n);
		done += n;
	}
	dpi_complete(r, size);
	return r->status;
}

bool dnp3_link_has_data(const struct dnp3_link *lk)
{
	uint8_t fc = lk->ctrl & DNP3_LINK_FUNC_MASK;

	return (lk->ctrl & DNP3_LINK_PRM) && lk->user_len > 0 &&
	       (fc == DNP3_LINK_CONFIRMED_DATA ||
		fc == DNP3_LINK_UNCONFIRMED_DATA);
}

void dnp3_tp_init(struct dnp3_tp *tp)
{
	tp->active = false;
	tp->next_seq = 0;
	tp->len = 0;
}

static enum dnp3_tp_status tp_fail(struct dnp3_tp *tp, const char **why,
				   const char *msg)
{
	dnp3_tp_init(tp);
	*why = msg;
	return DNP3_TP_ERROR;
}

enum dnp3_tp_status dnp3_tp_push(struct dnp3_tp *tp, const uint8_t *seg,
				 size_t len, const char **why)
{
	struct cur c = cur_init(seg, len);
	uint8_t th = cur_u8(&c);
	uint8_t seq = th & DNP3_TP_SEQ_MASK;
	size_t n = cur_left(&c);

	*why = NULL;
	if (!cur_ok(&c))
		return tp_fail(tp, why, "dnp3: empty transport segment");
	if (n > DNP3_TP_MAX_PAYLOAD)
		return tp_fail(tp, why, "dnp3: transport segment too long");
	if (th & DNP3_TP_FIR) {
		/* A new first segment always restarts reassembly. */
		tp->active = true;
		tp->len = 0;
	} else if (!tp->active) {
		return tp_fail(tp, why, "dnp3: transport segment without FIR");
	} else if (seq != tp->next_seq) {
		return tp_fail(tp, why, "dnp3: transport sequence gap");
	}
	if (n > sizeof(tp->buf) - tp->len)
		return tp_fail(tp, why,
			       "dnp3: application fragment exceeds 2048 bytes");
	memcpy(tp->buf + tp->len, cur_peek(&c, n), n);
	tp->len += n;
	tp->next_seq = (uint8_t)((seq + 1) & DNP3_TP_SEQ_MASK);
	if (th & DNP3_TP_FIN) {
		tp->active = false;
		return DNP3_TP_DONE;
	}
	return DNP3_TP_MORE;
}

/*
 * Size of one object in bits when packed without a size prefix; 0 for
 * objects that never carry data (class objects); -1 when unknown here.
 */
static int obj_bits(uint8_t g, uint8_t v)
{
	static const uint8_t counter[] = { 0, 40, 24, 40, 24, 88, 72, 88, 72 };
	static const uint8_t frozen_counter[] = { 0,  40, 24, 40, 24, 88, 72,
						  88, 72, 32, 16, 32, 16 };
	static const uint8_t analog_event[] = { 0,  40, 24, 88, 72,
						40, 72, 88, 120 };

	switch (g) {
	case 1:	 /* binary input */
	case 10: /* binary output */
		return v == 1 ? 1 : v == 2 ? 8 : -1;
	case 3: /* double-bit input */
		return v == 1 ? 2 : v == 2 ? 8 : -1;
	case 2: /* binary input event */
	case 4: /* double-bit event */
		return v == 1 ? 8 : v == 2 ? 56 : v == 3 ? 24 : -1;
	case 11: /* binary output event */
	case 13: /* binary output command event */
		return v == 1 ? 8 : v == 2 ? 56 : -1;
	case 12: /* CROB, pattern control block, pattern mask */
		return v == 1 || v == 2 ? 88 : v == 3 ? 1 : -1;
	case 20: /* counter */
		return v >= 1 && v <= 4 ? counter[v] :
		       v == 5 || v == 7 ? 32 :
		       v == 6 || v == 8 ? 16 :
					  -1;
	case 21: /* frozen counter */
		return v >= 1 && v <= 12 ? frozen_counter[v] : -1;
	case 22: /* counter event */
	case 23: /* frozen counter event */
		return v >= 1 && v <= 8 ? counter[v] : -1;
	case 30: /* analog input */
		return v == 1 || v == 5 ? 40 :
		       v == 2		? 24 :
		       v == 3		? 32 :
		       v == 4		? 16 :
		       v == 6		? 72 :
					  -1;
	case 31: /* frozen analog input */
		return v == 1 || v == 7 ? 40 :
		       v == 2		? 24 :
		       v == 3		? 88 :
		       v == 4 || v == 8 ? 72 :
		       v == 5		? 32 :
		       v == 6		? 16 :
					  -1;
	case 32: /* analog input event */
	case 33: /* frozen analog event */
	case 42: /* analog output event */
	case 43: /* analog output command event */
		return v >= 1 && v <= 8 ? analog_event[v] : -1;
	case 34: /* analog input deadband */
		return v == 1 ? 16 : v == 2 || v == 3 ? 32 : -1;
	case 40: /* analog output status */
	case 41: /* analog output block */
		return v == 1 || v == 3 ? 40 : v == 2 ? 24 : v == 4 ? 72 : -1;
	case 50: /* time and date */
		return v == 1 || v == 3 ? 48 : v == 2 ? 80 : v == 4 ? 88 : -1;
	case 51: /* common time of occurrence */
		return v == 1 || v == 2 ? 48 : -1;
	case 52: /* time delay */
		return v == 1 || v == 2 ? 16 : -1;
	case 60: /* class data */
		return v >= 1 && v <= 4 ? 0 : -1;
	case 80: /* internal indications */
		return v == 1 ? 1 : -1;
	case 120: /* authentication: fixed-size variations only */
		return v == 3 ? 48 : v == 4 ? 16 : -1;
	case 110: /* octet string: the variation is the length */
	case 111:
	case 112: /* virtual terminal */
	case 113:
		return v > 0 ? v * 8 : -1;
	default:
		return -1;
	}
}

/* Requests of these functions name objects but carry no object values. */
static bool func_headers_only(uint8_t func)
{
	switch (func) {
	case DNP3_FC_READ:
	case DNP3_FC_IMMED_FREEZE:
	case DNP3_FC_IMMED_FREEZE_NR:
	case DNP3_FC_FREEZE_CLEAR:
	case DNP3_FC_FREEZE_CLEAR_NR:
	case DNP3_FC_ENABLE_UNSOLICITED:
	case DNP3_FC_DISABLE_UNSOLICITED:
	case DNP3_FC_ASSIGN_CLASS:
		return true;
	default:
		return false;
	}
}

static uint32_t cur_uint(struct cur *c, unsigned width)
{
	switch (width) {
	case 1:
		return cur_u8(c);
	case 2:
		return cur_le16(c);
	default:
		return cur_le32(c);
	}
}

enum obj_walk {
	OBJ_OK,
	OBJ_STOP, /* size unknown: stop walking, not an error */
	OBJ_ERROR,
};

/*
 * Decode one object header and step over its objects. `hdr_only` is set
 * for requests whose objects have no values.
 */
static enum obj_walk obj_walk(struct cur *c, bool hdr_only,
			      struct dnp3_object *o, const char **why)
{
	static const uint8_t width[] = { 1, 2, 4, 1, 2, 4 };
	unsigned prefix, range, pw = 0;
	bool size_prefix = false;
	uint64_t count = 0;
	int bits;

	memset(o, 0, sizeof(*o));
	o->group = cur_u8(c);
	o->variation = cur_u8(c);
	o->qualifier = cur_u8(c);
	if (!cur_ok(c)) {
		*why = "dnp3: object header truncated";
		return OBJ_ERROR;
	}
	prefix = DNP3_QUAL_PREFIX(o->qualifier);
	range = DNP3_QUAL_RANGE(o->qualifier);
	if (o->qualifier & 0x80) {
		*why = "dnp3: reserved qualifier bit 7 set";
		return OBJ_ERROR;
	}
	if (prefix == 7) {
		*why = "dnp3: reserved qualifier prefix code";
		return OBJ_ERROR;
	}
	if (prefix >= 1 && prefix <= 3)
		pw = prefix == 3 ? 4 : prefix;
	else if (prefix >= 4) {
		pw = prefix == 6 ? 4 : prefix - 3;
		size_prefix = true;
	}

	if (range <= 5) {
		uint32_t start = cur_uint(c, width[range]);
		uint32_t stop = cur_uint(c, width[range]);

		if (!cur_ok(c)) {
			*why = "dnp3: object header truncated";
			return OBJ_ERROR;
		}
		if (stop < start) {
			*why = "dnp3: object range stop below start";
			return OBJ_ERROR;
		}
		o->ranged = true;
		o->start = start;
		o->stop = stop;
		count = (uint64_t)stop - start + 1;
	} else if (range == 6) {
		if (prefix != 0) {
			*why = "dnp3: prefix with all-objects qualifier";
			return OBJ_ERROR;
		}
		return OBJ_OK; /* "all objects": no range, no data */
	} else if (range >= 7 && range <= 9) {
		count = cur_uint(c, range == 7 ? 1 : range == 8 ? 2 : 4);
	} else if (range == 0xb) {
		count = cur_u8(c);
		if (!size_prefix) {
			*why = "dnp3: free-format qualifier without size prefix";
			return OBJ_ERROR;
		}
	} else {
		*why = "dnp3: reserved qualifier range code";
		return OBJ_ERROR;
	}
	if (!cur_ok(c)) {
		*why = "dnp3: object header truncated";
		return OBJ_ERROR;
	}
	o->count = count > UINT32_MAX ? UINT32_MAX : (uint32_t)count;

	/* A size prefix says how long each object is, even in a read. */
	bits = obj_bits(o->group, o->variation);
	if (hdr_only)
		bits = 0;

	if (pw == 0) {
		uint64_t bytes;

		if (bits < 0)
			return OBJ_STOP;
		/* Packed objects: bit-sized ones share octets. */
		bytes = (count * (uint64_t)bits + 7) / 8;
		if (bytes > cur_left(c)) {
			*why = "dnp3: object data truncated";
			return OBJ_ERROR;
		}
		cur_skip(c, (size_t)bytes);
		return OBJ_OK;
	}

	/* Every object carries a prefix: at least pw bytes each. */
	if (count * pw > cur_left(c)) {
		*why = "dnp3: object data truncated";
		return OBJ_ERROR;
	}
	if (!size_prefix && (bits < 0 || bits % 8 != 0))
		return OBJ_STOP; /* unknown, or bit objects with an index */
	for (uint64_t i = 0; i < count; i++) {
		uint32_t v = cur_uint(c, pw);

		if (!cur_ok(c)) {
			*why = "dnp3: object data truncated";
			return OBJ_ERROR;
		}
		if (size_prefix) {
			if (v > cur_left(c)) {
				*why = "dnp3: object data truncated";
				return OBJ_ERROR;
			}
			cur_skip(c, v);
			continue;
		}
		if (!o->ranged || v < o->start)
			o->start = v;
		if (!o->ranged || v > o->stop)
			o->stop = v;
		o->ranged = true;
		if ((size_t)bits / 8 > cur_left(c)) {
			*why = "dnp3: object data truncated";
			return OBJ_ERROR;
		}
		cur_skip(c, (size_t)bits / 8);
	}
	return OBJ_OK;
}

static bool func_is_response(uint8_t func)
{
	return func == DNP3_FC_RESPONSE ||
	       func == DNP3_FC_UNSOLICITED_RESPONSE ||
	       func == DNP3_FC_AUTH_RESPONSE;
}

enum dpi_status dnp3_app_parse(const uint8_t *buf, size_t len,
			       struct dnp3_apdu *a, struct dpi_result *r)
{
	struct cur c = cur_init(buf, len);
	bool hdr_only;

	memset(a, 0, offsetof(struct dnp3_apdu, objects));
	if (len > DNP3_APDU_MAX) {
		dpi_error(r, len, "dnp3: application fragment too long");
		return r->status;
	}
	a->ctrl = cur_u8(&c);
	a->func = cur_u8(&c);
	if (!cur_ok(&c)) {
		dpi_error(r, len, "dnp3: application header truncated");
		return r->status;
	}
	if (func_is_response(a->func)) {
		a->has_iin = true;
		a->iin = cur_be16(&c);
		if (!cur_ok(&c)) {
			dpi_error(r, len, "dnp3: IIN truncated");
			return r->status;
		}
	}
	hdr_only = func_headers_only(a->func);

	while (cur_left(&c) > 0) {
		struct dnp3_object o;
		const char *why = NULL;
		enum obj_walk w = obj_walk(&c, hdr_only, &o, &why);

		if (w == OBJ_ERROR) {
			dpi_error(r, len, why);
			return r->status;
		}
		if (a->n_objects == DNP3_MAX_OBJECTS) {
			a->objects_truncated = true;
			break;
		}
		a->objects[a->n_objects++] = o;
		if (w == OBJ_STOP) {
			a->objects_truncated = true;
			break;
		}
	}
	dpi_complete(r, len);
	return r->status;
}

enum dnp3_func_class dnp3_func_class(uint8_t func)
{
	switch (func) {
	case DNP3_FC_CONFIRM:
	case DNP3_FC_READ:
	case DNP3_FC_DELAY_MEASURE:
	case DNP3_FC_AUTH_REQUEST:
	case DNP3_FC_AUTH_REQUEST_NR:
		return DNP3_FCLASS_READ;
	case DNP3_FC_WRITE:
		return DNP3_FCLASS_WRITE;
	case DNP3_FC_SELECT:
	case DNP3_FC_OPERATE:
	case DNP3_FC_DIRECT_OPERATE:
	case DNP3_FC_DIRECT_OPERATE_NR:
		return DNP3_FCLASS_CONTROL;
	case DNP3_FC_IMMED_FREEZE:
	case DNP3_FC_IMMED_FREEZE_NR:
	case DNP3_FC_FREEZE_CLEAR:
	case DNP3_FC_FREEZE_CLEAR_NR:
	case DNP3_FC_FREEZE_AT_TIME:
	case DNP3_FC_FREEZE_AT_TIME_NR:
		return DNP3_FCLASS_FREEZE;
	case DNP3_FC_COLD_RESTART:
	case DNP3_FC_WARM_RESTART:
		return DNP3_FCLASS_RESTART;
	case DNP3_FC_INITIALIZE_DATA:
	case DNP3_FC_INITIALIZE_APPL:
	case DNP3_FC_START_APPL:
	case DNP3_FC_STOP_APPL:
		return DNP3_FCLASS_APPLICATION;
	case DNP3_FC_SAVE_CONFIG:
	case DNP3_FC_ENABLE_UNSOLICITED:
	case DNP3_FC_DISABLE_UNSOLICITED:
	case DNP3_FC_ASSIGN_CLASS:
	case DNP3_FC_RECORD_CURRENT_TIME:
	case DNP3_FC_ACTIVATE_CONFIG:
		return DNP3_FCLASS_CONFIG;
	case DNP3_FC_OPEN_FILE:
	case DNP3_FC_CLOSE_FILE:
	case DNP3_FC_DELETE_FILE:
	case DNP3_FC_GET_FILE_INFO:
	case DNP3_FC_AUTHENTICATE_FILE:
	case DNP3_FC_ABORT_FILE:
		return DNP3_FCLASS_FILE;
	case DNP3_FC_RESPONSE:
	case DNP3_FC_UNSOLICITED_RESPONSE:
	case DNP3_FC_AUTH_RESPONSE:
		return DNP3_FCLASS_RESPONSE;
	default:
		return DNP3_FCLASS_UNKNOWN;
	}
}

bool dnp3_func_is_control(uint8_t func)
{
	return dnp3_func_class(func) == DNP3_FCLASS_CONTROL;
}

bool dnp3_func_is_write(uint8_t func)
{
	return func == DNP3_FC_WRITE;
}

bool dnp3_func_is_restart_or_stop(uint8_t func)
{
	return func == DNP3_FC_COLD_RESTART || func == DNP3_FC_WARM_RESTART ||
	       func == DNP3_FC_STOP_APPL;
}

bool dnp3_preset_allows(enum dnp3_preset p, uint8_t func)
{
	enum dnp3_func_class fc = dnp3_func_class(func);
	bool ro = fc == DNP3_FCLASS_READ || fc == DNP3_FCLASS_RESPONSE ||
		  func == DNP3_FC_ENABLE_UNSOLICITED ||
		  func == DNP3_FC_DISABLE_UNSOLICITED;

	switch (p) {
	case DNP3_PRESET_READ_ONLY:
		return ro;
	case DNP3_PRESET_OPERATE:
		return ro || fc == DNP3_FCLASS_CONTROL;
	case DNP3_PRESET_ALL:
		return true;
	}
	return false;
}

static const char *const func_names[] = {
	[DNP3_FC_CONFIRM] = "confirm",
	[DNP3_FC_READ] = "read",
	[DNP3_FC_WRITE] = "write",
	[DNP3_FC_SELECT] = "select",
	[DNP3_FC_OPERATE] = "operate",
	[DNP3_FC_DIRECT_OPERATE] = "direct-operate",
	[DNP3_FC_DIRECT_OPERATE_NR] = "direct-operate-no-ack",
	[DNP3_FC_IMMED_FREEZE] = "immediate-freeze",
	[DNP3_FC_IMMED_FREEZE_NR] = "immediate-freeze-no-ack",
	[DNP3_FC_FREEZE_CLEAR] = "freeze-clear",
	[DNP3_FC_FREEZE_CLEAR_NR] = "freeze-clear-no-ack",
	[DNP3_FC_FREEZE_AT_TIME] = "freeze-at-time",
	[DNP3_FC_FREEZE_AT_TIME_NR] = "freeze-at-time-no-ack",
	[DNP3_FC_COLD_RESTART] = "cold-restart",
	[DNP3_FC_WARM_RESTART] = "warm-restart",
	[DNP3_FC_INITIALIZE_DATA] = "initialize-data",
	[DNP3_FC_INITIALIZE_APPL] = "initialize-application",
	[DNP3_FC_START_APPL] = "start-application",
	[DNP3_FC_STOP_APPL] = "stop-application",
	[DNP3_FC_SAVE_CONFIG] = "save-configuration",
	[DNP3_FC_ENABLE_UNSOLICITED] = "enable-unsolicited",
	[DNP3_FC_DISABLE_UNSOLICITED] = "disable-unsolicited",
	[DNP3_FC_ASSIGN_CLASS] = "assign-class",
	[DNP3_FC_DELAY_MEASURE] = "delay-measurement",
	[DNP3_FC_RECORD_CURRENT_TIME] = "record-current-time",
	[DNP3_FC_OPEN_FILE] = "open-file",
	[DNP3_FC_CLOSE_FILE] = "close-file",
	[DNP3_FC_DELETE_FILE] = "delete-file",
	[DNP3_FC_GET_FILE_INFO] = "get-file-info",
	[DNP3_FC_AUTHENTICATE_FILE] = "authenticate-file",
	[DNP3_FC_ABORT_FILE] = "abort-file",
	[DNP3_FC_ACTIVATE_CONFIG] = "activate-configuration",
	[DNP3_FC_AUTH_REQUEST] = "authentication-request",
	[DNP3_FC_AUTH_REQUEST_NR] = "authentication-request-no-ack",
	[DNP3_FC_RESPONSE] = "response",
	[DNP3_FC_UNSOLICITED_RESPONSE] = "unsolicited-response",
	[DNP3_FC_AUTH_RESPONSE] = "authentication-response",
};

const char *dnp3_func_name(uint8_t func)
{
	return func < sizeof(func_names) / sizeof(func_names[0]) ?
		       func_names[func] :
		       NULL;
}

int dnp3_func_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof(func_names) / sizeof(func_names[0]); i++)
		if (func_names[i] != NULL && strcmp(func_names[i], name) == 0)
			return (int)i;
	return -1;
}
