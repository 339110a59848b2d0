/* S7comm parser: TPKT, COTP and S7 PDUs, real and hand-built, every
 * error path. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "dpi/proto/s7comm.h"

static uint8_t buf[2048];
static struct s7comm_pdu m;
static struct dpi_result r;

static size_t unhex(const char *hex, uint8_t *out)
{
	size_t n = 0;

	for (const char *s = hex; *s;) {
		unsigned v;

		if (*s == ' ') {
			s++;
			continue;
		}
		cr_assert(sscanf(s, "%2x", &v) == 1);
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return n;
}

/* A whole TPKT written as hex. */
static size_t parse(const char *hex)
{
	size_t n = unhex(hex, buf);

	s7comm_parse(buf, n, DPI_DIR_REQUEST, &m, &r);
	return n;
}

/* An S7 payload written as hex, wrapped in TPKT and a COTP DT with EOT. */
static size_t parse_s7(const char *hex)
{
	size_t n = unhex(hex, buf + 7) + 7;

	memcpy(buf, "\x03\x00\x00\x00\x02\xf0\x80", 7);
	buf[2] = (uint8_t)(n >> 8);
	buf[3] = (uint8_t)n;
	s7comm_parse(buf, n, DPI_DIR_REQUEST, &m, &r);
	return n;
}

static void assert_s7_error(const char *hex, const char *why)
{
	size_t n = parse_s7(hex);

	cr_assert_eq(r.status, DPI_ERROR, "%s: not an error", hex);
	cr_assert_str_eq(r.error, why);
	cr_assert_eq(r.consumed, n);
}

/* NDR 5.2 */
Test(s7comm, cotp_connect)
{
	/* icsnpp__s7ident.pcap: CR and CC with TSAPs and TPDU size */
	size_t n = parse("0300001611e00000000100c0010ac1020100c2020101");

	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(r.consumed, n);
	cr_assert_eq(m.cotp_li, 0x11);
	cr_assert_eq(m.cotp_type, S7COMM_COTP_CR);
	cr_assert_eq(m.cotp_dst_ref, 0);
	cr_assert_eq(m.cotp_src_ref, 1);
	cr_assert_eq(m.cotp_class, 0);
	cr_assert_not(m.has_s7);
	parse("0300001611d00001000100c0010ac1020100c2020101");
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(m.cotp_type, S7COMM_COTP_CC);
	cr_assert_eq(m.cotp_dst_ref, 1);
}

/* CR 3.5 */
Test(s7comm, cotp_errors)
{
	parse("0300001611e00000000120c0010ac1020100c2020101");
	cr_assert_eq(r.status, DPI_ERROR);
	cr_assert_str_eq(r.error, "COTP class is not 0");
	parse("0300001611e00000000100c0010ac1020100c2050101");
	cr_assert_str_eq(r.error, "COTP parameter overruns the header");
	parse("0300000a05e00000");
	cr_assert_eq(r.status, DPI_NEED_MORE);
	parse("0300000805e0000000");
	cr_assert_eq(r.status, DPI_ERROR);
	cr_assert_str_eq(r.error, "COTP length indicator beyond the TPKT");
	cr_assert_eq(r.consumed, 8);
	parse("0300000702108000");
	cr_assert_str_eq(r.error, "COTP TPDU type not valid in class 0");
	parse("0300000803f08000");
	cr_assert_str_eq(r.error, "COTP DT length indicator is not 2");
	parse("0300000702f080");
	cr_assert_str_eq(r.error, "COTP DT with end of TSDU but no data");
	parse("0300000a0680000100");
	cr_assert_eq(r.status, DPI_NEED_MORE);
	parse("0300000b068000010002aa");
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(m.cotp_type, S7COMM_COTP_DR);
	cr_assert_eq(m.cotp_src_ref, 2);
	parse("030000090480000100");
	cr_assert_str_eq(r.error, "COTP DR too short");
}

/* CR 3.5 */
Test(s7comm, tpkt_errors)
{
	parse("030000");
	cr_assert_eq(r.status, DPI_NEED_MORE);
	cr_assert_eq(r.needed, 4);
	parse("0300001f02f08032");
	cr_assert_eq(r.status, DPI_NEED_MORE);
	cr_assert_eq(r.needed, 0x1f);
	parse("0200000702f000");
	cr_assert_eq(r.status, DPI_ERROR);
	cr_assert_str_eq(r.error, "TPKT version is not 3");
	cr_assert_eq(r.consumed, 0);
	parse("0301000702f000");
	cr_assert_str_eq(r.error, "TPKT reserved octet is not 0");
	cr_assert_eq(r.consumed, 0);
	parse("0300000602f0");
	cr_assert_str_eq(r.error, "TPKT length below 7");
	cr_assert_eq(r.consumed, 0);
}

/* NDR 5.2 */
Test(s7comm, setup_communication)
{
	parse("0300001902f08032010000000000080000f0000001000101e0");
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(m.cotp_type, S7COMM_COTP_DT);
	cr_assert(m.cotp_eot);
	cr_assert(m.has_s7);
	cr_assert_not(m.s7plus);
	cr_assert_eq(m.rosctr, S7COMM_ROSCTR_JOB);
	cr_assert(m.has_function);
	cr_assert_eq(m.function, S7COMM_FN_SETUP_COMM);
	cr_assert_eq(m.pdu_size, 480);
	assert_s7_error("32 01 0000 0000 0007 0000 f0 00 0001 0001 01",
			"parameter too short for its function");
	assert_s7_error("32 01 0000 0000 0009 0000 f0 00 0001 0001 01e0 00",
			"parameter too long for its function");
	assert_s7_error("32 01 0000 0000 0008 0000 f0 00 0001 0001 0000",
			"setup communication with PDU size 0");
}

/* NDR 5.2 */
Test(s7comm, read_var_job_and_response)
{
	/* iti__snap7_s300_readVar.pcapng */
	parse("0300001f02f080320100000000000e00000401120a10020040000184000000");
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(m.function, S7COMM_FN_READ_VAR);
	cr_assert_eq(m.item_count, 1);
	cr_assert_eq(m.n_items, 1);
	cr_assert_eq(m.items[0].syntax_id, 0x10);
	cr_assert_eq(m.items[0].transport_size, 2);
	cr_assert_eq(m.items[0].length, 64);
	cr_assert_eq(m.items[0].db, 1);
	cr_assert_eq(m.items[0].area, 0x84);
	cr_assert_eq(m.items[0].address, 0);
	/* the response: one item, "object does not exist", no value */
	parse("0300001902f08032030000000000020004000004010a000000");
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(m.rosctr, S7COMM_ROSCTR_ACK_DATA);
	cr_assert(m.has_error);
	cr_assert_eq(m.error_class, 0);
	cr_assert_eq(m.item_count, 1);
	/* two items with values, a fill byte after the odd first one */
	parse_s7("32 03 0000 0001 0002 000c 0000 04 02 "
		 "ff 04 0008 aa 00 ff 04 0010 bbcc");
	cr_assert_eq(r.status, DPI_COMPLETE);
}

/* CR 3.5 */
Test(s7comm, read_var_errors)
{
	assert_s7_error("32 01 0000 0000 0002 0000 04 00",
			"read/write var without items");
	assert_s7_error(
		"32 01 0000 0000 000e 0000 04 01 110a10020040000184000000",
		"variable specification type is not 0x12");
	assert_s7_error(
		"32 01 0000 0000 000d 0000 04 01 1209100200400001840000",
		"S7ANY specification length is not 10");
	assert_s7_error(
		"32 01 0000 0000 000e 0000 04 02 120a10020040000184000000",
		"variable specification overruns the parameter");
	assert_s7_error(
		"32 01 0000 0000 000f 0000 04 01 120a10020040000184000000 00",
		"parameter longer than its variable specifications");
	assert_s7_error(
		"32 01 0000 0000 000e 0001 04 01 120a10020040000184000000 00",
		"read var job with data");
	assert_s7_error("32 01 0000 0000 0001 0000 04",
			"parameter too short for its function");
	assert_s7_error("32 03 0000 0001 0003 0004 0000 04 01 00 ff040008",
			"parameter too long for its function");
	assert_s7_error("32 03 0000 0001 0002 0005 0000 04 01 ff040010aa",
			"data item overruns the data");
	assert_s7_error("32 03 0000 0001 0002 0006 0000 04 01 ff040008aa00",
			"data longer than its items");
	/* an error in the header: no data needed */
	parse_s7("32 03 0000 0001 0002 0000 8104 04 01");
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(m.error_class, 0x81);
	cr_assert_eq(m.error_code, 0x04);
}

/* NDR 5.2 */
Test(s7comm, write_var_job_and_response)
{
	/* iti__s7comm_varservice_libnodavedemo.pcap */
	parse("0300002702f080320100000002000e00080501120a10020004000083000000"
	      "00040020a9100001");
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(m.function, S7COMM_FN_WRITE_VAR);
	cr_assert_eq(m.item_count, 1);
	cr_assert_eq(m.items[0].area, 0x83);
	cr_assert_eq(m.items[0].length, 4);
	parse("0300001602f0803203000000020002000100000501ff");
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(m.function, S7COMM_FN_WRITE_VAR);
	assert_s7_error("32 03 0000 0002 0002 0002 0000 05 01 ffff",
			"write var response data does not match items");
	assert_s7_error("32 01 0000 0002 000e 0007 0501 120a100200040000830000"
			"00 00040020a91000",
			"data item overruns the data");
}

/* CR 3.5 */
Test(s7comm, many_items_truncate)
{
	char hex[2048] = "32 01 0000 0000 019a 0000 04 22 ";

	/* 34 items: more than S7COMM_MAX_ITEMS, all walked */
	for (int i = 0; i < 34; i++)
		strcat(hex, "120a10020001000184000000");
	parse_s7(hex);
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(m.item_count, 34);
	cr_assert_eq(m.n_items, S7COMM_MAX_ITEMS);
	cr_assert(m.items_truncated);
}

/* NDR 5.2 */
Test(s7comm, block_and_control_functions)
{
	/* iti__snap7_s300_stop.pcapng: PLC stop and its ack */
	parse("0300002102f0803201000000020010000029000000000009505f50524f4752414d");
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(m.function, S7COMM_FN_PLC_STOP);
	cr_assert_str_eq(s7comm_func_name(m.function), "plc-stop");
	parse("0300001402f08032030000000200010000000029");
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(m.function, S7COMM_FN_PLC_STOP);
	/* iti__step7_s300_copyRamToRom.pcapng: PI service */
	parse("0300002302f080320100000a000012000028000000000000fd00024550055f4d4f4455");
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(m.function, S7COMM_FN_PI_SERVICE);
	/* an ack without parameter */
	parse_s7("32 02 0000 0005 0000 0000 0000");
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(m.rosctr, S7COMM_ROSCTR_ACK);
	cr_assert_not(m.has_function);
}

/* CR 3.5 */
Test(s7comm, header_errors)
{
	assert_s7_error("33 01 0000", "protocol id is neither 0x32 nor 0x72");
	assert_s7_error("32 01 0000 0000 00", "S7 header truncated");
	assert_s7_error("32 03 0000 0000 0000 0000 00", "S7 header truncated");
	assert_s7_error("32 05 0000 0000 0000 0000", "unknown ROSCTR");
	assert_s7_error("32 01 0000 0000 0002 0000 04",
			"S7 parameter and data lengths do not match the TPDU");
	assert_s7_error("32 01 0000 0000 0000 0001 04",
			"job or ack-data without parameter");
}

/* CR 3.5 */
Test(s7comm, truncated_header_keeps_fields_before_the_cut)
{
	/* ack-data cut after the error class: the fields up to the cut are
	 * decoded, the rest reads as 0 */
	assert_s7_error("32 03 0000 1234 0002 0000 85", "S7 header truncated");
	cr_assert_eq(m.rosctr, S7COMM_ROSCTR_ACK_DATA);
	cr_assert_eq(m.pdu_ref, 0x1234);
	cr_assert_eq(m.param_len, 2);
	cr_assert(m.has_error);
	cr_assert_eq(m.error_class, 0x85);
	cr_assert_eq(m.error_code, 0);
	cr_assert_not(m.has_s7);
	/* job cut inside the data length */
	assert_s7_error("32 01 0000 4321 0003 00", "S7 header truncated");
	cr_assert_eq(m.rosctr, S7COMM_ROSCTR_JOB);
	cr_assert_eq(m.pdu_ref, 0x4321);
	cr_assert_eq(m.param_len, 3);
	cr_assert_eq(m.data_len, 0);
	cr_assert_not(m.has_error);
	/* ack cut inside the PDU reference */
	assert_s7_error("32 02 0000 12", "S7 header truncated");
	cr_assert_eq(m.rosctr, S7COMM_ROSCTR_ACK);
	cr_assert_eq(m.pdu_ref, 0);
	cr_assert(m.has_error);
}

/* CR 3.6 */
Test(s7comm, items_past_n_items_are_not_reported)
{
	/* a read var job with one item, then an ack-data without items: the
	 * second decode reports no items although items[] is not cleared */
	parse("0300001f02f080320100000000000e00000401120a10020040000184000000");
	cr_assert_eq(m.n_items, 1);
	parse("0300001902f08032030000000000020004000004010a000000");
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(m.n_items, 0);
	cr_assert_not(m.items_truncated);
	/* a non-DT TPDU clears every S7 field */
	parse("0300001611e00000000100c0010ac1020100c2020101");
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_not(m.has_s7);
	cr_assert_eq(m.n_items, 0);
	cr_assert_eq(m.item_count, 0);
	cr_assert_eq(m.rosctr, 0);
}

/* NDR 5.2 */
Test(s7comm, userdata)
{
	/* iti__tia_s300_goOnline.pcapng: CPU functions, read SZL request */
	parse("0300002102f080320700000300000800080001120411440100ff09000401320004");
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(m.rosctr, S7COMM_ROSCTR_USERDATA);
	cr_assert_not(m.has_function);
	cr_assert(m.has_userdata);
	cr_assert_eq(m.ud_method, 0x11);
	cr_assert_eq(m.ud_type, 4);
	cr_assert_eq(m.ud_group, S7COMM_UD_CPU);
	cr_assert_eq(m.ud_subfunction, 1);
	cr_assert_str_eq(s7comm_ud_group_name(m.ud_group), "cpu");
	/* iti__step7_s300_stop.pcapng: mode-transition push to STOP */
	parse("0300001902f080320700000000000800000100101000000000");
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(m.ud_group, S7COMM_UD_MODE_TRANSITION);
	cr_assert_eq(m.ud_type, 0);
}

/* CR 3.5 */
Test(s7comm, userdata_errors)
{
	assert_s7_error("32 07 0000 0300 0008 0000 0001 13 04 11 44 01 00",
			"userdata parameter head is not 00 01 12");
	assert_s7_error("32 07 0000 0300 0008 0000 0001 12 05 11 44 01 00",
			"userdata parameter length is not 4 or 8");
	assert_s7_error(
		"32 07 0000 0300 000c 0000 0001 12 04 11 44 01 00 00000000",
		"userdata parameter length does not match header");
	assert_s7_error("32 07 0000 0300 0007 0000 0001 12 04 11 44 01",
			"userdata parameter too short");
	assert_s7_error("32 07 0000 0300 0008 0008 0001 12 04 11 44 01 00"
			" ff09 0005 01320004",
			"userdata data length does not match header");
	assert_s7_error("32 07 0000 0300 0008 0002 0001 12 04 11 44 01 00 ff09",
			"userdata data too short");
}

/* NDR 5.2 */
Test(s7comm, s7comm_plus_recognised)
{
	/* ndpi__s7comm-plus.pcap frame 17: V2 response to SetMultiVariables */
	parse("0300001f02f080720200103200000542000000023400000000000072020000");
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert(m.has_s7);
	cr_assert(m.s7plus);
	cr_assert_eq(m.protocol_id, S7COMM_PLUS_PROTO_ID);
	cr_assert_eq(m.s7p_version, 2);
	cr_assert_eq(m.s7p_data_len, 0x10);
	cr_assert(m.s7p_has_opcode);
	cr_assert_eq(m.s7p_opcode, 0x32);
	cr_assert(m.s7p_has_function);
	cr_assert_eq(m.s7p_function, 0x0542);
	/* V3: recognised, the integrity part is not decoded */
	parse_s7("72 03 0002 aabb 72030000");
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert(m.s7plus);
	cr_assert_not(m.s7p_has_opcode);
	assert_s7_error("72 02 0010 32",
			"S7comm-plus data length beyond the TPDU");
	assert_s7_error("72 02 00", "S7comm-plus header truncated");
}

/* NDR 5.2 */
Test(s7comm, cotp_fragments_reassembled_by_caller)
{
	/* a read var job split over two DT TPDUs */
	static const char *const part[] = {
		"0300001002f000 320100000000000e00",
		"0300001602f080 00 0401120a10020040000184000000",
	};
	uint8_t tsdu[64];
	size_t tlen = 0;
	const char *why;

	for (int i = 0; i < 2; i++) {
		size_t n = unhex(part[i], buf);

		s7comm_parse_tpkt(buf, n, &m, &r);
		cr_assert_eq(r.status, DPI_COMPLETE, "part %d", i);
		cr_assert_eq(r.consumed, n);
		if (i == 0) {
			cr_assert(m.fragment);
			cr_assert_not(m.cotp_eot);
			cr_assert_not(m.has_s7);
		}
		memcpy(tsdu + tlen, buf + m.payload_off, m.payload_len);
		tlen += m.payload_len;
	}
	/* the last part alone is not an S7 PDU ... */
	s7comm_parse(buf, 0x16, DPI_DIR_REQUEST, &m, &r);
	cr_assert_eq(r.status, DPI_ERROR);
	/* ... the reassembled TSDU is */
	s7comm_parse_tpkt(buf, 0x16, &m, &r);
	cr_assert_eq(r.status, DPI_COMPLETE);
	why = s7comm_parse_payload(tsdu, tlen, DPI_DIR_REQUEST, &m);
	cr_assert_null(why, "%s", why);
	cr_assert_eq(m.function, S7COMM_FN_READ_VAR);
	cr_assert_eq(m.items[0].length, 64);
	/* an empty DT without EOT is a keep-alive, not a fragment */
	parse("0300000702f000");
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_not(m.fragment);
}

/* NDR 5.2 */
Test(s7comm, several_tpkts_in_one_buffer)
{
	size_t n = parse("0300001402f08032030000000200010000000029"
			 "0300000702f000");

	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(r.consumed, 0x14);
	s7comm_parse(buf + r.consumed, n - r.consumed, DPI_DIR_RESPONSE, &m,
		     &r);
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(r.consumed, 7);
}

Test(s7comm, names)
{
	cr_assert_str_eq(s7comm_func_name(S7COMM_FN_READ_VAR), "read-var");
	cr_assert_str_eq(s7comm_func_name(S7COMM_FN_SETUP_COMM),
			 "setup-communication");
	cr_assert_null(s7comm_func_name(0x99));
	for (int f = 0; f < 256; f++)
		if (s7comm_func_name((uint8_t)f) != NULL)
			cr_assert_eq(s7comm_func_from_name(
					     s7comm_func_name((uint8_t)f)),
				     f);
	cr_assert_eq(s7comm_func_from_name("nope"), -1);
	cr_assert_str_eq(s7comm_rosctr_name(7), "userdata");
	cr_assert_null(s7comm_rosctr_name(4));
	cr_assert_str_eq(s7comm_ud_group_name(S7COMM_UD_BLOCK), "block");
	cr_assert_null(s7comm_ud_group_name(0x10));
}
