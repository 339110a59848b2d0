/*
 * Modbus/TCP: MBAP framing, then one PDU whose layout depends on function
 * code and direction. Every length is checked against the frame and every
 * quantity against the limits of the specification, so that a rule on an
 * address range sees exactly the range the server would act on.
 */
#include <string.h>

#include "dpi/proto/cursor.h"
#include "dpi/proto/modbus.h"

static const char *const fc_names[128] = {
	[MODBUS_FC_READ_COILS] = "read-coils",
	[MODBUS_FC_READ_DISCRETE_INPUTS] = "read-discrete-inputs",
	[MODBUS_FC_READ_HOLDING_REGISTERS] = "read-holding-registers",
	[MODBUS_FC_READ_INPUT_REGISTERS] = "read-input-registers",
	[MODBUS_FC_WRITE_SINGLE_COIL] = "write-single-coil",
	[MODBUS_FC_WRITE_SINGLE_REGISTER] = "write-single-register",
	[MODBUS_FC_READ_EXCEPTION_STATUS] = "read-exception-status",
	[MODBUS_FC_DIAGNOSTICS] = "diagnostics",
	[MODBUS_FC_GET_COMM_EVENT_COUNTER] = "get-comm-event-counter",
	[MODBUS_FC_GET_COMM_EVENT_LOG] = "get-comm-event-log",
	[MODBUS_FC_WRITE_MULTIPLE_COILS] = "write-multiple-coils",
	[MODBUS_FC_WRITE_MULTIPLE_REGISTERS] = "write-multiple-registers",
	[MODBUS_FC_REPORT_SERVER_ID] = "report-server-id",
	[MODBUS_FC_READ_FILE_RECORD] = "read-file-record",
	[MODBUS_FC_WRITE_FILE_RECORD] = "write-file-record",
	[MODBUS_FC_MASK_WRITE_REGISTER] = "mask-write-register",
	[MODBUS_FC_READ_WRITE_REGISTERS] = "read-write-registers",
	[MODBUS_FC_READ_FIFO_QUEUE] = "read-fifo-queue",
	[MODBUS_FC_ENCAPSULATED_INTERFACE] = "encapsulated-interface-transport",
	[MODBUS_FC_UMAS] = "umas",
};

static const char *const exc_names[] = {
	[1] = "illegal-function",
	[2] = "illegal-data-address",
	[3] = "illegal-data-value",
	[4] = "server-device-failure",
	[5] = "acknowledge",
	[6] = "server-device-busy",
	[8] = "memory-parity-error",
	[10] = "gateway-path-unavailable",
	[11] = "gateway-target-failed",
};

const char *modbus_fc_name(uint8_t fc)
{
	return fc < 128 ? fc_names[fc] : NULL;
}

int modbus_fc_from_name(const char *name)
{
	for (int i = 0; i < 128; i++)
		if (fc_names[i] != NULL && strcmp(fc_names[i], name) == 0)
			return i;
	return -1;
}

bool modbus_fc_writes(uint8_t fc)
{
	switch (fc) {
	case MODBUS_FC_WRITE_SINGLE_COIL:
	case MODBUS_FC_WRITE_SINGLE_REGISTER:
	case MODBUS_FC_WRITE_MULTIPLE_COILS:
	case MODBUS_FC_WRITE_MULTIPLE_REGISTERS:
	case MODBUS_FC_WRITE_FILE_RECORD:
	case MODBUS_FC_MASK_WRITE_REGISTER:
	case MODBUS_FC_READ_WRITE_REGISTERS:
		return true;
	default:
		return false;
	}
}

const char *modbus_exception_name(uint8_t code)
{
	if (code < sizeof(exc_names) / sizeof(exc_names[0]))
		return exc_names[code];
	return NULL;
}

/* The PDU must end exactly where the function's layout ends. */
static const char *pdu_end(const struct cur *p)
{
	if (!cur_ok(p))
		return "PDU too short for its function";
	if (cur_left(p) != 0)
		return "PDU longer than its function allows";
	return NULL;
}

static const char *check_range(uint16_t address, uint16_t quantity,
			       unsigned max)
{
	if (quantity < 1 || quantity > max)
		return "quantity out of range";
	if ((uint32_t)address + quantity > 0x10000)
		return "address range beyond 65535";
	return NULL;
}

/* address + quantity, nothing else: read requests, FC 15/16 responses. */
static const char *range_only(struct cur *p, struct modbus_pdu *m, unsigned max)
{
	const char *why;

	m->address = cur_be16(p);
	m->quantity = cur_be16(p);
	m->has_range = cur_ok(p);
	if ((why = pdu_end(p)) != NULL)
		return why;
	return check_range(m->address, m->quantity, max);
}

/* byte count + exactly that many bytes: read responses and friends. */
static const char *counted_data(struct cur *p, struct modbus_pdu *m,
				unsigned min, unsigned max, bool even)
{
	m->byte_count = cur_u8(p);
	if (!cur_ok(p))
		return "PDU too short for its function";
	m->has_byte_count = true;
	if (m->byte_count != cur_left(p))
		return "byte count does not match data length";
	if (m->byte_count < min || m->byte_count > max)
		return "byte count out of range";
	if (even && (m->byte_count & 1))
		return "odd byte count for register data";
	return NULL;
}

static const char *write_multiple_req(struct cur *p, struct modbus_pdu *m,
				      bool coils)
{
	unsigned max = coils ? MODBUS_MAX_WRITE_BITS : MODBUS_MAX_WRITE_REGS;
	unsigned want;
	const char *why;

	m->address = cur_be16(p);
	m->quantity = cur_be16(p);
	m->byte_count = cur_u8(p);
	if (!cur_ok(p))
		return "PDU too short for its function";
	m->has_range = true;
	m->has_byte_count = true;
	if (m->byte_count != cur_left(p))
		return "byte count does not match data length";
	if ((why = check_range(m->address, m->quantity, max)) != NULL)
		return why;
	want = coils ? (m->quantity + 7u) / 8u : m->quantity * 2u;
	if (m->byte_count != want)
		return "byte count does not match quantity";
	return NULL;
}

static const char *read_write_req(struct cur *p, struct modbus_pdu *m)
{
	const char *why;

	m->address = cur_be16(p);
	m->quantity = cur_be16(p);
	m->write_address = cur_be16(p);
	m->write_quantity = cur_be16(p);
	m->byte_count = cur_u8(p);
	if (!cur_ok(p))
		return "PDU too short for its function";
	m->has_range = true;
	m->has_write_range = true;
	m->has_byte_count = true;
	if (m->byte_count != cur_left(p))
		return "byte count does not match data length";
	if ((why = check_range(m->address, m->quantity,
			       MODBUS_MAX_READ_REGS)) != NULL)
		return why;
	if ((why = check_range(m->write_address, m->write_quantity,
			       MODBUS_MAX_RW_WRITE_REGS)) != NULL)
		return why;
	if (m->byte_count != m->write_quantity * 2u)
		return "byte count does not match write quantity";
	return NULL;
}

/* FC 20 request: sub-requests of 7 bytes, reference type 6 each. */
static const char *file_record_req(struct cur *p, struct modbus_pdu *m)
{
	const char *why = counted_data(p, m, 7, 0xf5, false);

	if (why != NULL)
		return why;
	if (m->byte_count % 7 != 0)
		return "file record request not a multiple of 7 bytes";
	while (cur_left(p) > 0) {
		uint8_t ref = cur_u8(p);

		cur_skip(p, 6);
		if (ref != 6)
			return "file record reference type is not 6";
	}
	return NULL;
}

/* FC 21 request and response: sub-requests with their own lengths. */
static const char *write_file_record(struct cur *p, struct modbus_pdu *m)
{
	const char *why = counted_data(p, m, 7, 0xfb, false);

	if (why != NULL)
		return why;
	while (cur_left(p) > 0) {
		uint8_t ref = cur_u8(p);
		uint16_t words;

		cur_skip(p, 4);
		words = cur_be16(p);
		cur_skip(p, words * 2u);
		if (!cur_ok(p))
			return "file record sub-request overruns the PDU";
		if (ref != 6)
			return "file record reference type is not 6";
	}
	return NULL;
}

/* FC 20 response: sub-responses of (length, reference type, data). */
static const char *file_record_resp(struct cur *p, struct modbus_pdu *m)
{
	const char *why = counted_data(p, m, 2, 0xf5, false);

	if (why != NULL)
		return why;
	while (cur_left(p) > 0) {
		uint8_t n = cur_u8(p);
		uint8_t ref = cur_u8(p);

		if (n < 1 || !cur_ok(p))
			return "file record sub-response length invalid";
		cur_skip(p, n - 1u);
		if (!cur_ok(p))
			return "file record sub-response overruns the PDU";
		if (ref != 6)
			return "file record reference type is not 6";
	}
	return NULL;
}

static const char *fifo_resp(struct cur *p, struct modbus_pdu *m)
{
	uint16_t bc = cur_be16(p);
	uint16_t count = cur_be16(p);

	if (!cur_ok(p))
		return "PDU too short for its function";
	if (bc != cur_left(p) + 2)
		return "byte count does not match data length";
	if (count > 31)
		return "FIFO count above 31";
	if (bc != 2u + count * 2u)
		return "byte count does not match FIFO count";
	m->quantity = count;
	return NULL;
}

/* FC 43 / MEI 14 response: a list of (id, length, value) objects. */
static const char *device_id_resp(struct cur *p)
{
	uint8_t n;

	cur_skip(p, 4); /* read code, conformity, more, next id */
	n = cur_u8(p);
	if (!cur_ok(p))
		return "PDU too short for its function";
	for (unsigned i = 0; i < n; i++) {
		uint8_t olen;

		cur_skip(p, 1);
		olen = cur_u8(p);
		cur_skip(p, olen);
		if (!cur_ok(p))
			return "device identification object overruns the PDU";
	}
	if (cur_left(p) != 0)
		return "PDU longer than its function allows";
	return NULL;
}

static const char *mei(struct cur *p, enum dpi_dir dir, struct modbus_pdu *m)
{
	m->mei_type = cur_u8(p);
	if (!cur_ok(p))
		return "PDU too short for its function";
	if (m->mei_type != MODBUS_MEI_READ_DEVICE_ID)
		return NULL;
	if (dir == DPI_DIR_RESPONSE)
		return device_id_resp(p);
	cur_skip(p, 2); /* read device id code, object id */
	return pdu_end(p);
}

static const char *request(struct cur *p, struct modbus_pdu *m)
{
	switch (m->function) {
	case MODBUS_FC_READ_COILS:
	case MODBUS_FC_READ_DISCRETE_INPUTS:
		return range_only(p, m, MODBUS_MAX_READ_BITS);
	case MODBUS_FC_READ_HOLDING_REGISTERS:
	case MODBUS_FC_READ_INPUT_REGISTERS:
		return range_only(p, m, MODBUS_MAX_READ_REGS);
	case MODBUS_FC_WRITE_MULTIPLE_COILS:
		return write_multiple_req(p, m, true);
	case MODBUS_FC_WRITE_MULTIPLE_REGISTERS:
		return write_multiple_req(p, m, false);
	case MODBUS_FC_READ_WRITE_REGISTERS:
		return read_write_req(p, m);
	case MODBUS_FC_READ_FILE_RECORD:
		return file_record_req(p, m);
	case MODBUS_FC_WRITE_FILE_RECORD:
		return write_file_record(p, m);
	case MODBUS_FC_READ_FIFO_QUEUE:
		m->address = cur_be16(p);
		m->has_range = cur_ok(p);
		m->quantity = 1;
		return pdu_end(p);
	case MODBUS_FC_READ_EXCEPTION_STATUS:
	case MODBUS_FC_GET_COMM_EVENT_COUNTER:
	case MODBUS_FC_GET_COMM_EVENT_LOG:
	case MODBUS_FC_REPORT_SERVER_ID:
		return pdu_end(p);
	default:
		return NULL;
	}
}

static const char *response(struct cur *p, struct modbus_pdu *m)
{
	switch (m->function) {
	case MODBUS_FC_READ_COILS:
	case MODBUS_FC_READ_DISCRETE_INPUTS:
		return counted_data(p, m, 1, (MODBUS_MAX_READ_BITS + 7) / 8,
				    false);
	case MODBUS_FC_READ_HOLDING_REGISTERS:
	case MODBUS_FC_READ_INPUT_REGISTERS:
	case MODBUS_FC_READ_WRITE_REGISTERS:
		return counted_data(p, m, 2, MODBUS_MAX_READ_REGS * 2, true);
	case MODBUS_FC_WRITE_MULTIPLE_COILS:
		return range_only(p, m, MODBUS_MAX_WRITE_BITS);
	case MODBUS_FC_WRITE_MULTIPLE_REGISTERS:
		return range_only(p, m, MODBUS_MAX_WRITE_REGS);
	case MODBUS_FC_READ_FILE_RECORD:
		return file_record_resp(p, m);
	case MODBUS_FC_WRITE_FILE_RECORD:
		return write_file_record(p, m);
	case MODBUS_FC_READ_FIFO_QUEUE:
		return fifo_resp(p, m);
	case MODBUS_FC_READ_EXCEPTION_STATUS:
		cur_skip(p, 1);
		return pdu_end(p);
	case MODBUS_FC_GET_COMM_EVENT_COUNTER:
		cur_skip(p, 4);
		return pdu_end(p);
	case MODBUS_FC_GET_COMM_EVENT_LOG:
		return counted_data(p, m, 6, 70, false);
	case MODBUS_FC_REPORT_SERVER_ID:
		return counted_data(p, m, 1, 251, false);
	default:
		return NULL;
	}
}

static const char *pdu(struct cur *p, enum dpi_dir dir, struct modbus_pdu *m)
{
	const char *why;
	uint8_t fc = cur_u8(p);

	m->function = fc & (uint8_t)~MODBUS_EXCEPTION_BIT;
	if (fc & MODBUS_EXCEPTION_BIT) {
		m->exception = true;
		if (dir == DPI_DIR_REQUEST)
			return "exception function code in a request";
		m->exception_code = cur_u8(p);
		if ((why = pdu_end(p)) != NULL)
			return why;
		if (m->exception_code == 0)
			return "exception code 0";
		return NULL;
	}
	if (fc == 0)
		return "function code 0";
	if (dir == DPI_DIR_REQUEST)
		m->writes = modbus_fc_writes(fc);

	switch (fc) {
	case MODBUS_FC_READ_COILS:
	case MODBUS_FC_WRITE_SINGLE_COIL:
	case MODBUS_FC_WRITE_MULTIPLE_COILS:
		m->table = MODBUS_TABLE_COILS;
		break;
	case MODBUS_FC_READ_DISCRETE_INPUTS:
		m->table = MODBUS_TABLE_DISCRETE_INPUTS;
		break;
	case MODBUS_FC_READ_HOLDING_REGISTERS:
	case MODBUS_FC_WRITE_SINGLE_REGISTER:
	case MODBUS_FC_WRITE_MULTIPLE_REGISTERS:
	case MODBUS_FC_MASK_WRITE_REGISTER:
	case MODBUS_FC_READ_WRITE_REGISTERS:
	case MODBUS_FC_READ_FIFO_QUEUE:
		m->table = MODBUS_TABLE_HOLDING_REGISTERS;
		break;
	case MODBUS_FC_READ_INPUT_REGISTERS:
		m->table = MODBUS_TABLE_INPUT_REGISTERS;
		break;
	default:
		break;
	}

	/* Layouts shared by both directions (the response is an echo). */
	switch (fc) {
	case MODBUS_FC_WRITE_SINGLE_COIL:
	case MODBUS_FC_WRITE_SINGLE_REGISTER:
		m->address = cur_be16(p);
		m->value = cur_be16(p);
		m->has_range = cur_ok(p);
		m->quantity = 1;
		if ((why = pdu_end(p)) != NULL)
			return why;
		if (fc == MODBUS_FC_WRITE_SINGLE_COIL && m->value != 0 &&
		    m->value != 0xff00)
			return "coil value neither 0x0000 nor 0xff00";
		return NULL;
	case MODBUS_FC_MASK_WRITE_REGISTER:
		m->address = cur_be16(p);
		m->value = cur_be16(p);
		m->or_mask = cur_be16(p);
		m->has_range = cur_ok(p);
		m->quantity = 1;
		return pdu_end(p);
	case MODBUS_FC_DIAGNOSTICS:
		m->subfunction = cur_be16(p);
		return cur_ok(p) ? NULL : "PDU too short for its function";
	case MODBUS_FC_ENCAPSULATED_INTERFACE:
		return mei(p, dir, m);
	case MODBUS_FC_UMAS:
		/* Proprietary: session key, then the UMAS code (request) or
		 * status (response); the rest is opaque to us. */
		cur_skip(p, 1);
		m->umas_code = cur_u8(p);
		if (!cur_ok(p))
			return "PDU too short for its function";
		m->has_umas_code = true;
		return NULL;
	default:
		break;
	}
	return dir == DPI_DIR_REQUEST ? request(p, m) : response(p, m);
}

void modbus_parse(const uint8_t *buf, size_t len, enum dpi_dir dir,
		  struct modbus_pdu *out, struct dpi_result *res)
{
	struct cur body;
	const char *why;
	size_t adu;

	memset(out, 0, sizeof(*out));
	if (len < MODBUS_MBAP_LEN) {
		dpi_need_more(res, MODBUS_MBAP_LEN);
		return;
	}
	/* The fixed MBAP is known to be there: no cursor needed for it. */
	out->transaction_id = (uint16_t)(buf[0] << 8 | buf[1]);
	out->protocol_id = (uint16_t)(buf[2] << 8 | buf[3]);
	out->length = (uint16_t)(buf[4] << 8 | buf[5]);
	out->unit_id = buf[6];
	if (out->protocol_id != 0) {
		dpi_error(res, 0, "MBAP protocol id is not 0");
		return;
	}
	if (out->length == MODBUS_LEN_UMAS_MAX) {
		/* Unity Pro sends UMAS PDUs one byte over the spec limit. */
		if (len < MODBUS_MBAP_LEN + 1) {
			dpi_need_more(res, MODBUS_MBAP_LEN + 1);
			return;
		}
		if (buf[MODBUS_MBAP_LEN] != MODBUS_FC_UMAS) {
			dpi_error(res, 0, "MBAP length out of range 2..254");
			return;
		}
	} else if (out->length < MODBUS_LEN_MIN ||
		   out->length > MODBUS_LEN_MAX) {
		dpi_error(res, 0, "MBAP length out of range 2..254");
		return;
	}
	adu = 6u + out->length;
	if (len < adu) {
		dpi_need_more(res, adu);
		return;
	}
	body = cur_init(buf + MODBUS_MBAP_LEN, out->length - 1u);
	if ((why = pdu(&body, dir, out)) != NULL)
		dpi_error(res, adu, why);
	else
		dpi_complete(res, adu);
}
