/* EtherNet/IP + CIP parser: encapsulation, CPF, EPATH, MSP, Unconnected Send. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "dpi/proto/enip.h"

static uint8_t buf[4096];
static struct enip_pdu e;
static struct dpi_result r;

static size_t unhex(const char *h, uint8_t *out)
{
	size_t n = 0;

	for (; h[0] && h[1]; h += 2) {
		unsigned v;

		sscanf(h, "%2x", &v);
		out[n++] = (uint8_t)v;
	}
	return n;
}

static size_t put16(uint8_t *p, unsigned v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	return 2;
}

/* Encapsulation header (session 0x11223344) around `body`. */
static size_t encap(uint16_t cmd, const uint8_t *body, size_t n, uint8_t *out)
{
	memset(out, 0, 24);
	put16(out, cmd);
	put16(out + 2, (unsigned)n);
	out[4] = 0x44;
	out[5] = 0x33;
	out[6] = 0x22;
	out[7] = 0x11;
	if (n > 0)
		memcpy(out + 24, body, n);
	return 24 + n;
}

/* SendRRData: null address + unconnected data item holding `cip` (hex). */
static size_t rr(const char *cip, uint8_t *out)
{
	uint8_t body[2048], m[2048];
	size_t n = unhex(cip, m), o = 0;

	memset(body, 0, 6); /* interface handle, timeout */
	o = 6;
	o += put16(body + o, 2);
	o += put16(body + o, ENIP_ITEM_NULL_ADDR);
	o += put16(body + o, 0);
	o += put16(body + o, ENIP_ITEM_UNCONN_DATA);
	o += put16(body + o, (unsigned)n);
	memcpy(body + o, m, n);
	return encap(ENIP_CMD_SEND_RR_DATA, body, o + n, out);
}

static enum dpi_status parse_rr(const char *cip, enum dpi_dir dir)
{
	size_t n = rr(cip, buf);

	return enip_parse(buf, n, dir, &e, &r);
}

/* MSP captured in iti cip-multiple-1.pcap (SendUnitData, 11 requests). */
static const char *msp_capture =
	"7000ba0000010211000000000000000000000000000000000000000001000200"
	"a1000400010b7c00b100a60089070a02200224010b00180022002c0036004c00"
	"5800640072007c008a0094000302200124010100050003022069240001000b00"
	"03022073240101000200030220ac240107000100020003000500070009000a00"
	"0303206825002024010013000302207024010200120013000302208e24010300"
	"0300080010000302206924000100090003022068240003000f00180019000302"
	"20772401010002000302208b240101000600";

/* NDR 5.2 */
Test(enip, register_session_and_streaming)
{
	uint8_t body[4] = { 1, 0, 0, 0 };
	size_t n = encap(ENIP_CMD_REGISTER_SESSION, body, 4, buf);

	cr_assert_eq(enip_parse(buf, 10, DPI_DIR_REQUEST, &e, &r),
		     DPI_NEED_MORE);
	cr_assert_eq(r.needed, 24);
	cr_assert_eq(enip_parse(buf, 25, DPI_DIR_REQUEST, &e, &r),
		     DPI_NEED_MORE);
	cr_assert_eq(r.needed, 28);
	cr_assert_eq(enip_parse(buf, n, DPI_DIR_REQUEST, &e, &r), DPI_COMPLETE);
	cr_assert_eq(r.consumed, 28);
	cr_assert_eq(e.command, ENIP_CMD_REGISTER_SESSION);
	cr_assert_eq(e.session, 0x11223344);
	cr_assert_str_eq(enip_command_name(e.command), "register-session");
	/* two PDUs back to back */
	memcpy(buf + n, buf, n);
	cr_assert_eq(enip_parse(buf, 2 * n, DPI_DIR_REQUEST, &e, &r),
		     DPI_COMPLETE);
	cr_assert_eq(r.consumed, n);
	body[0] = 2;
	n = encap(ENIP_CMD_REGISTER_SESSION, body, 4, buf);
	cr_assert_eq(enip_parse(buf, n, DPI_DIR_REQUEST, &e, &r), DPI_ERROR);
	n = encap(ENIP_CMD_REGISTER_SESSION, body, 3, buf);
	cr_assert_eq(enip_parse(buf, n, DPI_DIR_REQUEST, &e, &r), DPI_ERROR);
}

/* CR 3.5 */
Test(enip, header_errors)
{
	size_t n = encap(0x0042, NULL, 0, buf);

	cr_assert_eq(enip_parse(buf, n, DPI_DIR_REQUEST, &e, &r), DPI_ERROR);
	cr_assert_str_eq(r.error, "enip: unknown encapsulation command");
	cr_assert_eq(r.consumed, 24);
	n = encap(ENIP_CMD_LIST_IDENTITY, NULL, 0, buf);
	buf[20] = 1;
	cr_assert_eq(enip_parse(buf, n, DPI_DIR_REQUEST, &e, &r), DPI_ERROR);
	cr_assert_str_eq(r.error, "enip: options field not zero");
	n = encap(ENIP_CMD_NOP, NULL, 0, buf);
	put16(buf + 2, 0xfff0);
	cr_assert_eq(enip_parse(buf, n, DPI_DIR_REQUEST, &e, &r), DPI_ERROR);
	cr_assert_str_eq(r.error, "enip: length out of range");
	cr_assert(enip_command_known(ENIP_CMD_SEND_UNIT_DATA));
	cr_assert_not(enip_command_known(0x0001));
}

/* CR 3.5 */
Test(enip, list_commands)
{
	uint8_t body[64];
	size_t n = encap(ENIP_CMD_LIST_IDENTITY, NULL, 0, buf);

	cr_assert_eq(enip_parse(buf, n, DPI_DIR_REQUEST, &e, &r), DPI_COMPLETE);
	n = encap(ENIP_CMD_LIST_IDENTITY, (const uint8_t *)"x", 1, buf);
	cr_assert_eq(enip_parse(buf, n, DPI_DIR_REQUEST, &e, &r), DPI_ERROR);
	cr_assert_str_eq(r.error, "enip: list request carries data");
	/* response: one identity item of 4 bytes */
	n = unhex("01000c000400aabbccdd", body);
	n = encap(ENIP_CMD_LIST_IDENTITY, body, n, buf);
	cr_assert_eq(enip_parse(buf, n, DPI_DIR_RESPONSE, &e, &r),
		     DPI_COMPLETE);
	cr_assert_eq(e.n_items, 1);
	cr_assert_eq(e.items[0].type, ENIP_ITEM_LIST_IDENTITY);
	cr_assert_eq(e.items[0].len, 4);
	n = encap(ENIP_CMD_UNREGISTER_SESSION, body, 2, buf);
	cr_assert_eq(enip_parse(buf, n, DPI_DIR_REQUEST, &e, &r), DPI_ERROR);
}

/* NDR 5.2 */
Test(enip, get_attribute_single_8bit_path)
{
	cr_assert_eq(parse_rr("0e03200124013007", DPI_DIR_REQUEST),
		     DPI_COMPLETE);
	cr_assert(e.has_cpf);
	cr_assert_eq(e.n_items, 2);
	cr_assert_eq(e.n_cip, 1);
	cr_assert_eq(e.cip[0].service, CIP_SVC_GET_ATTRIBUTE_SINGLE);
	cr_assert_not(e.cip[0].response);
	cr_assert(e.cip[0].has_class && e.cip[0].class_id == 1);
	cr_assert(e.cip[0].has_instance && e.cip[0].instance == 1);
	cr_assert(e.cip[0].has_attribute && e.cip[0].attribute == 7);
	cr_assert(cip_request_is_read(&e.cip[0]));
}

/* NDR 5.2 */
Test(enip, logical_16_and_32_bit_and_port_segments)
{
	/* set attribute single: class 0x0123, instance 0x00010002, attr 3 */
	cr_assert_eq(parse_rr("1006"
			      "21002301"
			      "2600020001003003"
			      "beef",
			      DPI_DIR_REQUEST),
		     DPI_COMPLETE);
	cr_assert_eq(e.cip[0].class_id, 0x123);
	cr_assert_eq(e.cip[0].instance, 0x10002);
	cr_assert_eq(e.cip[0].attribute, 3);
	cr_assert_not(cip_request_is_read(&e.cip[0]));
	/* port 1 link 0; port 2 with a 3-byte link address, then a pad */
	cr_assert_eq(parse_rr("0e06"
			      "0100"
			      "1203"
			      "31302e"
			      "00"
			      "2001"
			      "2401",
			      DPI_DIR_REQUEST),
		     DPI_COMPLETE);
	cr_assert(e.cip[0].has_instance);
	cr_assert_eq(e.cip[0].class_id, 1);
}

/* CR 3.5 */
Test(enip, epath_truncated)
{
	/* path size says 3 words, 2 present */
	cr_assert_eq(parse_rr("0e0320012401", DPI_DIR_REQUEST), DPI_ERROR);
	cr_assert_str_eq(r.error, "cip: EPATH truncated");
	/* 16-bit class segment cut inside the path */
	cr_assert_eq(parse_rr("0e01"
			      "2100",
			      DPI_DIR_REQUEST),
		     DPI_ERROR);
	cr_assert_str_eq(r.error, "cip: EPATH truncated");
	/* reserved segment type */
	cr_assert_eq(parse_rr("0e01"
			      "e000",
			      DPI_DIR_REQUEST),
		     DPI_ERROR);
	cr_assert_eq(parse_rr("0e01"
			      "2300",
			      DPI_DIR_REQUEST),
		     DPI_ERROR);
	/* no path at all */
	cr_assert_eq(parse_rr("", DPI_DIR_REQUEST), DPI_ERROR);
	cr_assert_str_eq(r.error, "cip: message truncated");
}

/* NDR 5.2 */
Test(enip, response_status)
{
	cr_assert_eq(parse_rr("8e00"
			      "0801"
			      "0500"
			      "ff",
			      DPI_DIR_RESPONSE),
		     DPI_COMPLETE);
	cr_assert(e.cip[0].response);
	cr_assert_eq(e.cip[0].service, 0x0e);
	cr_assert_eq(e.cip[0].general_status, 8);
	cr_assert_eq(e.cip[0].ext_status, 5);
	cr_assert_eq(parse_rr("8e00"
			      "0002"
			      "0500",
			      DPI_DIR_RESPONSE),
		     DPI_ERROR);
	cr_assert_str_eq(r.error, "cip: extended status truncated");
}

/* NDR 5.2 */
Test(enip, multiple_service_packet_from_capture)
{
	static const uint8_t cls[] = { 0x02, 0x01, 0x69, 0x73, 0xac, 0x68,
				       0x70, 0x8e, 0x69, 0x68, 0x77, 0x8b };
	size_t n = unhex(msp_capture, buf);

	cr_assert_eq(enip_parse(buf, n, DPI_DIR_REQUEST, &e, &r), DPI_COMPLETE);
	cr_assert_eq(e.command, ENIP_CMD_SEND_UNIT_DATA);
	cr_assert(e.has_conn_id);
	cr_assert(e.has_cip_seq);
	cr_assert_eq(e.n_cip, 12);
	cr_assert_eq(e.cip[0].service, CIP_SVC_MULTIPLE_SERVICE);
	for (int i = 0; i < 12; i++) {
		cr_assert_eq(e.cip[i].class_id, cls[i], "cip[%d]", i);
		cr_assert_eq(e.cip[i].depth, i ? 1 : 0);
		if (i)
			cr_assert_eq(e.cip[i].service,
				     CIP_SVC_GET_ATTRIBUTE_LIST);
	}
	cr_assert_eq(e.cip[5].instance, 0x2420);
}

/* CR 3.5 */
Test(enip, msp_offsets_validated)
{
	/* 2 services, offsets 6 and 10: ok */
	cr_assert_eq(parse_rr("0a02200224010200"
			      "0600"
			      "0a00"
			      "0e012001"
			      "0e012002",
			      DPI_DIR_REQUEST),
		     DPI_COMPLETE);
	cr_assert_eq(e.n_cip, 3);
	cr_assert_eq(e.cip[2].class_id, 2);
	/* second offset beyond the data */
	cr_assert_eq(parse_rr("0a02200224010200"
			      "0600"
			      "4000"
			      "0e012001"
			      "0e012002",
			      DPI_DIR_REQUEST),
		     DPI_ERROR);
	cr_assert_str_eq(r.error,
			 "cip: multiple service packet offset out of range");
	/* first offset points into the offset table */
	cr_assert_eq(parse_rr("0a02200224010200"
			      "0200"
			      "0a00"
			      "0e012001"
			      "0e012002",
			      DPI_DIR_REQUEST),
		     DPI_ERROR);
	/* decreasing offsets */
	cr_assert_eq(parse_rr("0a02200224010200"
			      "0a00"
			      "0600"
			      "0e012001"
			      "0e012002",
			      DPI_DIR_REQUEST),
		     DPI_ERROR);
	/* count larger than the table */
	cr_assert_eq(parse_rr("0a0220022401"
			      "ff00"
			      "0600",
			      DPI_DIR_REQUEST),
		     DPI_ERROR);
	cr_assert_str_eq(r.error,
			 "cip: multiple service packet count out of range");
	/* count zero */
	cr_assert_eq(parse_rr("0a0220022401"
			      "0000",
			      DPI_DIR_REQUEST),
		     DPI_ERROR);
	/* embedded request with a truncated path */
	cr_assert_eq(parse_rr("0a02200224010100"
			      "0400"
			      "0e032001",
			      DPI_DIR_REQUEST),
		     DPI_ERROR);
	cr_assert_str_eq(r.error, "cip: EPATH truncated");
}

/* NDR 5.2 */
Test(enip, msp_response_unpacked)
{
	cr_assert_eq(parse_rr("8a000000"
			      "0200"
			      "0600"
			      "0c00"
			      "8e000000aa00"
			      "8e000500",
			      DPI_DIR_RESPONSE),
		     DPI_COMPLETE);
	cr_assert_eq(e.n_cip, 3);
	cr_assert(e.cip[1].response);
	cr_assert_eq(e.cip[2].general_status, 5);
}

/* NDR 5.2 */
Test(enip, unconnected_send_unpacked)
{
	/* UCS to class 6 inst 1: embedded get attributes all class 1 inst 1,
	 * route path port 1 slot 0 */
	cr_assert_eq(parse_rr("5202200624010a05"
			      "0600"
			      "010220012401"
			      "0100"
			      "0100",
			      DPI_DIR_REQUEST),
		     DPI_COMPLETE);
	cr_assert_eq(e.n_cip, 2);
	cr_assert_eq(e.cip[0].service, CIP_SVC_UNCONNECTED_SEND);
	cr_assert_eq(e.cip[0].class_id, CIP_CLASS_CONNECTION_MANAGER);
	cr_assert_eq(e.cip[1].service, CIP_SVC_GET_ATTRIBUTES_ALL);
	cr_assert_eq(e.cip[1].class_id, 1);
	cr_assert_eq(e.cip[1].depth, 1);
	/* embedded size beyond the data */
	cr_assert_eq(parse_rr("5202200624010a05"
			      "2000"
			      "010220012401",
			      DPI_DIR_REQUEST),
		     DPI_ERROR);
	cr_assert_str_eq(r.error, "cip: unconnected send message truncated");
	/* odd embedded size: pad byte, then route */
	cr_assert_eq(parse_rr("5202200624010a05"
			      "0500"
			      "0e02200124"
			      "00"
			      "0100"
			      "0100",
			      DPI_DIR_REQUEST),
		     DPI_ERROR); /* embedded path cut: 2 words, 3 bytes */
	/* route path missing */
	cr_assert_eq(parse_rr("5202200624010a05"
			      "0600"
			      "010220012401",
			      DPI_DIR_REQUEST),
		     DPI_ERROR);
	cr_assert_str_eq(r.error, "cip: unconnected send route path truncated");
}

/* NDR 5.2 */
Test(enip, forward_open_connection_path)
{
	/* FO to CM: 35 fixed bytes, path 3 words: port 1/0, class 2 inst 1 */
	char hex[256] = "540220062401";

	for (int i = 0; i < 35; i++)
		strcat(hex, "00");
	strcat(hex, "03"
		    "0100"
		    "2002"
		    "2401");
	cr_assert_eq(parse_rr(hex, DPI_DIR_REQUEST), DPI_COMPLETE);
	cr_assert(e.cip[0].has_conn_class);
	cr_assert_eq(e.cip[0].conn_class, 2);
	cr_assert_eq(e.cip[0].conn_instance, 1);
	cr_assert(cip_request_is_read(&e.cip[0]));
	strcat(hex, "00");
	cr_assert_eq(parse_rr(hex, DPI_DIR_REQUEST), DPI_ERROR);
}

/* NDR 5.2 */
Test(enip, symbolic_tag_read_connected)
{
	uint8_t body[128];
	size_t n = unhex("00000000"
			 "0000"
			 "0200"
			 "a1000400"
			 "01020304"
			 "b1000e00"
			 "0700"
			 "4c04"
			 "91054d79546167"
			 "00"
			 "0100",
			 body);

	n = encap(ENIP_CMD_SEND_UNIT_DATA, body, n, buf);
	cr_assert_eq(enip_parse(buf, n, DPI_DIR_REQUEST, &e, &r), DPI_COMPLETE);
	cr_assert_eq(e.conn_id, 0x04030201);
	cr_assert_eq(e.cip_seq, 7);
	cr_assert_eq(e.cip[0].service, 0x4c);
	cr_assert(e.cip[0].symbolic);
	cr_assert_not(e.cip[0].has_class);
	cr_assert(cip_request_is_read(&e.cip[0]));
}

/* CR 3.5 */
Test(enip, cpf_count_and_length_mismatch)
{
	uint8_t body[128];
	size_t n;

	/* item count 3, only 2 items */
	n = unhex("00000000"
		  "0000"
		  "0300"
		  "00000000"
		  "b2000400"
		  "0e000000",
		  body);
	n = encap(ENIP_CMD_SEND_RR_DATA, body, n, buf);
	cr_assert_eq(enip_parse(buf, n, DPI_DIR_REQUEST, &e, &r), DPI_ERROR);
	cr_assert_str_eq(r.error, "enip: CPF item length exceeds data");
	/* item length beyond the encapsulation length */
	n = unhex("00000000"
		  "0000"
		  "0200"
		  "00000000"
		  "b2000900"
		  "0e000000",
		  body);
	n = encap(ENIP_CMD_SEND_RR_DATA, body, n, buf);
	cr_assert_eq(enip_parse(buf, n, DPI_DIR_REQUEST, &e, &r), DPI_ERROR);
	/* encapsulation length longer than the items */
	n = unhex("00000000"
		  "0000"
		  "0200"
		  "00000000"
		  "b2000400"
		  "0e012001"
		  "ffff",
		  body);
	n = encap(ENIP_CMD_SEND_RR_DATA, body, n, buf);
	cr_assert_eq(enip_parse(buf, n, DPI_DIR_REQUEST, &e, &r), DPI_ERROR);
	cr_assert_str_eq(r.error, "enip: bytes after the last CPF item");
	/* too many items */
	n = unhex("00000000"
		  "0000"
		  "0900",
		  body);
	n = encap(ENIP_CMD_SEND_RR_DATA, body, n, buf);
	cr_assert_eq(enip_parse(buf, n, DPI_DIR_REQUEST, &e, &r), DPI_ERROR);
	/* null address with a length */
	n = unhex("00000000"
		  "0000"
		  "0200"
		  "00000100"
		  "aa"
		  "b2000400"
		  "0e012001",
		  body);
	n = encap(ENIP_CMD_SEND_RR_DATA, body, n, buf);
	cr_assert_eq(enip_parse(buf, n, DPI_DIR_REQUEST, &e, &r), DPI_ERROR);
	cr_assert_str_eq(r.error, "enip: CPF address item length invalid");
	/* connected data item in SendRRData */
	n = unhex("00000000"
		  "0000"
		  "0200"
		  "00000000"
		  "b1000600"
		  "0000"
		  "0e012001",
		  body);
	n = encap(ENIP_CMD_SEND_RR_DATA, body, n, buf);
	cr_assert_eq(enip_parse(buf, n, DPI_DIR_REQUEST, &e, &r), DPI_ERROR);
	cr_assert_str_eq(r.error, "enip: CPF data item does not match command");
	/* nonzero interface handle */
	n = unhex("01000000"
		  "0000"
		  "0200"
		  "00000000"
		  "b2000400"
		  "0e012001",
		  body);
	n = encap(ENIP_CMD_SEND_RR_DATA, body, n, buf);
	cr_assert_eq(enip_parse(buf, n, DPI_DIR_REQUEST, &e, &r), DPI_ERROR);
	/* data item missing */
	n = unhex("00000000"
		  "0000"
		  "0200"
		  "00000000"
		  "00000000",
		  body);
	n = encap(ENIP_CMD_SEND_RR_DATA, body, n, buf);
	cr_assert_eq(enip_parse(buf, n, DPI_DIR_REQUEST, &e, &r), DPI_ERROR);
	cr_assert_str_eq(r.error, "enip: CPF without a data item");
	/* an error reply may omit the body */
	n = encap(ENIP_CMD_SEND_RR_DATA, body, 0, buf);
	buf[8] = 0x01;
	cr_assert_eq(enip_parse(buf, n, DPI_DIR_RESPONSE, &e, &r),
		     DPI_COMPLETE);
	cr_assert_eq(e.status, 1);
}

/* CR 3.5 */
Test(enip, nesting_and_message_count_bounded)
{
	char hex[2048];

	/* MSP in MSP in MSP in MSP: too deep */
	strcpy(hex, "0a0220022401"
		    "0100"
		    "0400"
		    "0a0220022401"
		    "0100"
		    "0400"
		    "0a0220022401"
		    "0100"
		    "0400"
		    "0a0220022401"
		    "0100"
		    "0400"
		    "0e012001");
	cr_assert_eq(parse_rr(hex, DPI_DIR_REQUEST), DPI_ERROR);
	cr_assert_str_eq(r.error, "cip: embedded messages nested too deep");
	/* 40 embedded requests: 32 reported, truncated flag set */
	strcpy(hex, "0a0220022401"
		    "2800");
	for (int i = 0; i < 40; i++) {
		char off[8];

		snprintf(off, sizeof(off), "%02x%02x", (82 + 4 * i) & 0xff,
			 (82 + 4 * i) >> 8);
		strcat(hex, off);
	}
	for (int i = 0; i < 40; i++)
		strcat(hex, "0e012001");
	cr_assert_eq(parse_rr(hex, DPI_DIR_REQUEST), DPI_COMPLETE);
	cr_assert_eq(e.n_cip, ENIP_MAX_CIP);
	cr_assert(e.cip_truncated);
}

/* NDR 5.2 */
Test(enip, repeated_path_segments_flagged)
{
	cr_assert_eq(parse_rr("4c04208e240120742401", DPI_DIR_REQUEST),
		     DPI_COMPLETE);
	cr_assert_eq(e.cip[0].class_id, 0x8e);
	cr_assert(e.cip[0].path_repeats);
	cr_assert_not(cip_request_is_read(&e.cip[0]));
}

Test(enip, io_recognised)
{
	uint8_t d[64];
	size_t n = unhex("0200"
			 "02800800"
			 "0100000002000000"
			 "b1000400"
			 "01000000",
			 d);

	cr_assert(enip_io_recognise(d, n));
	cr_assert_not(enip_io_recognise(d, n - 1));
	d[2] = 0;
	cr_assert_not(enip_io_recognise(d, n));
}

/* CR 3.5 */
Test(enip, bare_cip_parse_errors)
{
	uint8_t m[16];

	e.n_cip = 0;
	cr_assert_null(enip_cip_parse(m, unhex("0e03200124013007", m), &e));
	cr_assert_eq(e.n_cip, 1);
	e.n_cip = 0;
	cr_assert_not_null(enip_cip_parse(m, unhex("0e04200124013007", m), &e));
	e.n_cip = 0;
	cr_assert_not_null(enip_cip_parse(m, unhex("8e00", m), &e));
}
