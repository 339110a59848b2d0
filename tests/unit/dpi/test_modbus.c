/* Modbus/TCP parser: real and hand-built ADUs, every error path. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "dpi/proto/modbus.h"

static uint8_t buf[512];
static struct modbus_pdu m;
static struct dpi_result r;

/* Parse an ADU written as hex ("0001 0000 0006 ff 03 0000 000a"). */
static size_t parse(const char *hex, enum dpi_dir dir)
{
	size_t n = 0;

	for (const char *s = hex; *s;) {
		unsigned v;

		if (*s == ' ') {
			s++;
			continue;
		}
		cr_assert(sscanf(s, "%2x", &v) == 1);
		buf[n++] = (uint8_t)v;
		s += 2;
	}
	modbus_parse(buf, n, dir, &m, &r);
	return n;
}

static void assert_error(const char *hex, enum dpi_dir dir, const char *why)
{
	size_t n = parse(hex, dir);

	cr_assert_eq(r.status, DPI_ERROR, "%s: not an error", hex);
	cr_assert_str_eq(r.error, why);
	cr_assert_eq(r.consumed, n);
}

/* NDR 5.2 */
Test(modbus, read_input_registers_request_from_capture)
{
	/* iti__ModbusTCP.pcap: FC 4, unit 255 */
	size_t n = parse("2978 0000 0006 ff 04 0000 0004", DPI_DIR_REQUEST);

	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(r.consumed, n);
	cr_assert_eq(m.transaction_id, 0x2978);
	cr_assert_eq(m.unit_id, 255);
	cr_assert_eq(m.function, MODBUS_FC_READ_INPUT_REGISTERS);
	cr_assert(m.has_range);
	cr_assert_eq(m.table, MODBUS_TABLE_INPUT_REGISTERS);
	cr_assert_eq(m.address, 0);
	cr_assert_eq(m.quantity, 4);
	cr_assert_not(m.writes);
	cr_assert_not(m.exception);
}

/* NDR 5.2 */
Test(modbus, read_response_byte_count)
{
	parse("2978 0000 000b ff 04 08 0000 0000 0000 0000", DPI_DIR_RESPONSE);
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert(m.has_byte_count);
	cr_assert_eq(m.byte_count, 8);
	cr_assert_not(m.has_range);
	parse("2979 0000 0007 ff 02 04 7ca3c801", DPI_DIR_RESPONSE);
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(m.function, MODBUS_FC_READ_DISCRETE_INPUTS);
}

/* CR 3.5 */
Test(modbus, short_buffer_needs_exact_length)
{
	parse("0001 0000 00", DPI_DIR_REQUEST);
	cr_assert_eq(r.status, DPI_NEED_MORE);
	cr_assert_eq(r.needed, MODBUS_MBAP_LEN);
	parse("0001 0000 0006 01 03 00", DPI_DIR_REQUEST);
	cr_assert_eq(r.status, DPI_NEED_MORE);
	cr_assert_eq(r.needed, 12);
	parse("", DPI_DIR_REQUEST);
	cr_assert_eq(r.status, DPI_NEED_MORE);
	cr_assert_eq(r.needed, MODBUS_MBAP_LEN);
}

/* CR 3.5 */
Test(modbus, every_prefix_needs_more)
{
	/* FC 15, 4 coils from address 1 */
	static const uint8_t adu[] = {
		0x00, 0x0d, 0x00, 0x00, 0x00, 0x08, 0x07,
		0x0f, 0x00, 0x01, 0x00, 0x04, 0x01, 0x0f
	};

	for (size_t n = 0; n < sizeof(adu); n++) {
		modbus_parse(adu, n, DPI_DIR_REQUEST, &m, &r);
		cr_assert_eq(r.status, DPI_NEED_MORE, "prefix %zu", n);
		cr_assert_eq(r.needed, n < 7 ? 7 : sizeof(adu));
	}
	modbus_parse(adu, sizeof(adu), DPI_DIR_REQUEST, &m, &r);
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(r.consumed, sizeof(adu));
	cr_assert_eq(m.quantity, 4);
}

/* CR 3.5 */
Test(modbus, bad_protocol_id)
{
	parse("0001 0001 0006 01 03 0000 0001", DPI_DIR_REQUEST);
	cr_assert_eq(r.status, DPI_ERROR);
	cr_assert_str_eq(r.error, "MBAP protocol id is not 0");
	cr_assert_eq(r.consumed, 0);
}

/* CR 3.5 */
Test(modbus, bad_length)
{
	parse("0001 0000 0001 01", DPI_DIR_REQUEST);
	cr_assert_eq(r.status, DPI_ERROR);
	cr_assert_str_eq(r.error, "MBAP length out of range 2..254");
	cr_assert_eq(r.consumed, 0);
	parse("0001 0000 0100 01 03", DPI_DIR_REQUEST);
	cr_assert_eq(r.status, DPI_ERROR);
	cr_assert_eq(r.consumed, 0);
	/* 255 only for UMAS */
	parse("0001 0000 00ff 01 03", DPI_DIR_REQUEST);
	cr_assert_eq(r.status, DPI_ERROR);
	cr_assert_str_eq(r.error, "MBAP length out of range 2..254");
	parse("0001 0000 00ff 01", DPI_DIR_REQUEST);
	cr_assert_eq(r.status, DPI_NEED_MORE);
	cr_assert_eq(r.needed, 8);
	parse("0001 0000 00ff 01 5a", DPI_DIR_REQUEST);
	cr_assert_eq(r.status, DPI_NEED_MORE);
	cr_assert_eq(r.needed, 261);
}

/* CR 3.5 */
Test(modbus, pdu_length_must_match_function)
{
	assert_error("0001 0000 0005 01 03 0000 00", DPI_DIR_REQUEST,
		     "PDU too short for its function");
	assert_error("0001 0000 0007 01 03 0000 0001 00", DPI_DIR_REQUEST,
		     "PDU longer than its function allows");
	assert_error("0001 0000 0003 01 07 00", DPI_DIR_REQUEST,
		     "PDU longer than its function allows");
	assert_error("0001 0000 0002 01 07", DPI_DIR_RESPONSE,
		     "PDU too short for its function");
}

/* CR 3.5 */
Test(modbus, quantity_limits)
{
	assert_error("0001 0000 0006 01 03 0000 0000", DPI_DIR_REQUEST,
		     "quantity out of range");
	assert_error("0001 0000 0006 01 03 0000 007e", DPI_DIR_REQUEST,
		     "quantity out of range");
	parse("0001 0000 0006 01 03 0000 007d", DPI_DIR_REQUEST);
	cr_assert_eq(r.status, DPI_COMPLETE);
	parse("0001 0000 0006 01 01 0000 07d0", DPI_DIR_REQUEST);
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(m.quantity, 2000);
	assert_error("0001 0000 0006 01 02 0000 07d1", DPI_DIR_REQUEST,
		     "quantity out of range");
	/* FC 16 response echoes the quantity: same limit as the request */
	assert_error("0001 0000 0006 01 10 0000 007c", DPI_DIR_RESPONSE,
		     "quantity out of range");
	assert_error("0001 0000 0006 01 0f 0000 07b1", DPI_DIR_RESPONSE,
		     "quantity out of range");
}

/* CR 3.5 */
Test(modbus, address_range_beyond_65535)
{
	assert_error("0001 0000 0006 01 03 ffff 0002", DPI_DIR_REQUEST,
		     "address range beyond 65535");
	parse("0001 0000 0006 01 03 ffff 0001", DPI_DIR_REQUEST);
	cr_assert_eq(r.status, DPI_COMPLETE);
}

/* CR 3.5 */
Test(modbus, write_multiple_byte_count)
{
	parse("0001 0000 000b 01 10 0010 0002 04 0001 0002", DPI_DIR_REQUEST);
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert(m.writes);
	cr_assert_eq(m.table, MODBUS_TABLE_HOLDING_REGISTERS);
	cr_assert_eq(m.address, 0x10);
	cr_assert_eq(m.quantity, 2);
	/* byte count says 4, quantity 3 needs 6 */
	assert_error("0001 0000 000b 01 10 0010 0003 04 0001 0002",
		     DPI_DIR_REQUEST, "byte count does not match quantity");
	/* byte count says 4, 3 data bytes follow */
	assert_error("0001 0000 000a 01 10 0010 0002 04 0001 00",
		     DPI_DIR_REQUEST, "byte count does not match data length");
	assert_error("0001 0000 0008 01 0f 0000 000a 01 ff", DPI_DIR_REQUEST,
		     "byte count does not match quantity");
	parse("0001 0000 0009 01 0f 0000 000a 02 ff03", DPI_DIR_REQUEST);
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(m.table, MODBUS_TABLE_COILS);
	assert_error("0001 0000 0009 01 10 0000 007c f8 0000", DPI_DIR_REQUEST,
		     "byte count does not match data length");
	assert_error("0001 0000 0004 01 03 03 00", DPI_DIR_RESPONSE,
		     "byte count does not match data length");
	assert_error("0001 0000 0006 01 03 03 000000", DPI_DIR_RESPONSE,
		     "odd byte count for register data");
	assert_error("0001 0000 0003 01 01 00", DPI_DIR_RESPONSE,
		     "byte count out of range");
}

/* NDR 5.2 */
Test(modbus, read_write_registers_two_ranges)
{
	/* icsnpp__modbus_example.pcap frame 84 */
	parse("0015 0000 0011 06 17 0001 0004 0002 0003 06 000a 000b 000c",
	      DPI_DIR_REQUEST);
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert(m.has_range && m.has_write_range);
	cr_assert_eq(m.address, 1);
	cr_assert_eq(m.quantity, 4);
	cr_assert_eq(m.write_address, 2);
	cr_assert_eq(m.write_quantity, 3);
	cr_assert(m.writes);
	assert_error("0015 0000 000b 06 17 0001 0004 0002 007a 00",
		     DPI_DIR_REQUEST, "quantity out of range");
	assert_error("0015 0000 000f 06 17 0001 0004 0002 0003 04 000a 000b",
		     DPI_DIR_REQUEST,
		     "byte count does not match write quantity");
	parse("0015 0000 0007 06 17 04 0001 0002", DPI_DIR_RESPONSE);
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_not(m.has_write_range);
}

/* NDR 5.2 */
Test(modbus, mask_write_and_single_writes)
{
	parse("0001 0000 0008 01 16 0004 00f2 0025", DPI_DIR_REQUEST);
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(m.address, 4);
	cr_assert_eq(m.quantity, 1);
	cr_assert_eq(m.value, 0xf2);
	cr_assert_eq(m.or_mask, 0x25);
	parse("0001 0000 0006 01 05 00ac ff00", DPI_DIR_REQUEST);
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(m.table, MODBUS_TABLE_COILS);
	cr_assert_eq(m.address, 0xac);
	cr_assert_eq(m.value, 0xff00);
	assert_error("0001 0000 0006 01 05 00ac 1234", DPI_DIR_REQUEST,
		     "coil value neither 0x0000 nor 0xff00");
	parse("0001 0000 0006 01 06 0001 0003", DPI_DIR_RESPONSE);
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_not(m.writes); /* a response changes nothing */
	cr_assert(m.has_range);
}

/* CR 3.5 */
Test(modbus, exceptions)
{
	parse("0001 0000 0003 01 83 02", DPI_DIR_RESPONSE);
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert(m.exception);
	cr_assert_eq(m.function, 3);
	cr_assert_eq(m.exception_code, 2);
	cr_assert_str_eq(modbus_exception_name(2), "illegal-data-address");
	assert_error("0001 0000 0003 01 83 02", DPI_DIR_REQUEST,
		     "exception function code in a request");
	assert_error("0001 0000 0004 0a 81 06 00", DPI_DIR_RESPONSE,
		     "PDU longer than its function allows");
	assert_error("0001 0000 0002 0a 81", DPI_DIR_RESPONSE,
		     "PDU too short for its function");
	assert_error("0001 0000 0003 0a 81 00", DPI_DIR_RESPONSE,
		     "exception code 0");
	assert_error("0001 0000 0002 0a 00", DPI_DIR_REQUEST,
		     "function code 0");
}

/* NDR 5.2 */
Test(modbus, mei_and_umas)
{
	parse("0001 0000 0005 0a 2b 0e 01 00", DPI_DIR_REQUEST);
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(m.function, MODBUS_FC_ENCAPSULATED_INTERFACE);
	cr_assert_eq(m.mei_type, MODBUS_MEI_READ_DEVICE_ID);
	assert_error("0001 0000 0006 0a 2b 0e 03 01 00", DPI_DIR_REQUEST,
		     "PDU longer than its function allows");
	parse("0001 0000 000d 0a 2b 0e 01 01 00 00 01 00 03 414243",
	      DPI_DIR_RESPONSE);
	cr_assert_eq(r.status, DPI_COMPLETE);
	assert_error("0001 0000 000d 0a 2b 0e 01 01 00 00 01 00 05 414243",
		     DPI_DIR_RESPONSE,
		     "device identification object overruns the PDU");
	parse("0001 0000 0004 0a 2b 0d 01", DPI_DIR_REQUEST);
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(m.mei_type, MODBUS_MEI_CANOPEN);
	/* ndpi__umas.pcap frame 17: UMAS 0x01 (read id) */
	parse("0006 0000 0005 00 5a 00 01 00", DPI_DIR_REQUEST);
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(m.function, MODBUS_FC_UMAS);
	cr_assert(m.has_umas_code);
	cr_assert_eq(m.umas_code, 0x01);
	assert_error("0006 0000 0003 00 5a 00", DPI_DIR_REQUEST,
		     "PDU too short for its function");
}

/* CR 3.5 */
Test(modbus, file_record_and_fifo)
{
	parse("0001 0000 000a 01 14 07 06 0004 0001 0002", DPI_DIR_REQUEST);
	cr_assert_eq(r.status, DPI_COMPLETE);
	assert_error("0001 0000 000a 01 14 07 05 0004 0001 0002",
		     DPI_DIR_REQUEST, "file record reference type is not 6");
	/* icsnpp__modbus_example.pcap frame 64: byte count 0 */
	assert_error("0010 0000 0003 08 14 00", DPI_DIR_REQUEST,
		     "byte count out of range");
	parse("0001 0000 000c 01 15 09 06 0004 0001 0001 1234",
	      DPI_DIR_REQUEST);
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert(m.writes);
	assert_error("0001 0000 000c 01 15 09 06 0004 0001 0002 1234",
		     DPI_DIR_REQUEST,
		     "file record sub-request overruns the PDU");
	parse("0001 0000 0004 01 18 04de", DPI_DIR_REQUEST);
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(m.address, 0x04de);
	parse("0001 0000 000a 01 18 0006 0002 01b8 1284", DPI_DIR_RESPONSE);
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(m.quantity, 2);
	assert_error("0001 0000 000a 01 18 0006 0003 01b8 1284",
		     DPI_DIR_RESPONSE, "byte count does not match FIFO count");
	assert_error("0001 0000 0006 01 18 0002 0020", DPI_DIR_RESPONSE,
		     "FIFO count above 31");
	assert_error("0001 0000 0006 01 18 0004 0000", DPI_DIR_RESPONSE,
		     "byte count does not match data length");
}

/* NDR 5.2 */
Test(modbus, diagnostics_and_unknown_functions)
{
	parse("0001 0000 0006 01 08 0000 a537", DPI_DIR_REQUEST);
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(m.subfunction, 0);
	assert_error("0001 0000 0003 01 08 00", DPI_DIR_REQUEST,
		     "PDU too short for its function");
	/* an unknown code decodes its header: the policy decides */
	parse("0001 0000 0004 01 41 1234", DPI_DIR_REQUEST);
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(m.function, 0x41);
	cr_assert_not(m.has_range);
}

/* NDR 5.2 */
Test(modbus, several_adus_in_one_buffer)
{
	/* iti__ModbusTCP.pcap frame 42: two FC 15 responses in a segment */
	size_t n = parse("6e36 0000 0006 ff 0f 0007 0003 "
			 "6e37 0000 0006 ff 0f 0005 0001",
			 DPI_DIR_RESPONSE);

	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(r.consumed, 12);
	cr_assert_eq(m.transaction_id, 0x6e36);
	modbus_parse(buf + r.consumed, n - r.consumed, DPI_DIR_RESPONSE, &m,
		     &r);
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(m.transaction_id, 0x6e37);
	cr_assert_eq(m.address, 5);
	cr_assert_eq(m.quantity, 1);
}

Test(modbus, names)
{
	cr_assert_str_eq(modbus_fc_name(1), "read-coils");
	cr_assert_str_eq(modbus_fc_name(23), "read-write-registers");
	cr_assert_str_eq(modbus_fc_name(90), "umas");
	cr_assert_null(modbus_fc_name(0));
	cr_assert_null(modbus_fc_name(200));
	for (int fc = 0; fc < 128; fc++)
		if (modbus_fc_name((uint8_t)fc) != NULL)
			cr_assert_eq(modbus_fc_from_name(
					     modbus_fc_name((uint8_t)fc)),
				     fc);
	cr_assert_eq(modbus_fc_from_name("write-coils"), -1);
	cr_assert(modbus_fc_writes(MODBUS_FC_WRITE_SINGLE_COIL));
	cr_assert(modbus_fc_writes(MODBUS_FC_MASK_WRITE_REGISTER));
	cr_assert_not(modbus_fc_writes(MODBUS_FC_READ_COILS));
	cr_assert_null(modbus_exception_name(0));
	cr_assert_null(modbus_exception_name(99));
}
