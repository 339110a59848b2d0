/* IEC 60870-5-104 parser: real and hand-built APDUs, every error path. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "dpi/proto/iec104.h"

static uint8_t buf[512];
static struct iec104_apdu a;
static struct dpi_result r;

static size_t parse(const char *hex)
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
	iec104_parse(buf, n, DPI_DIR_REQUEST, &a, &r);
	return n;
}

static void assert_error(const char *hex, const char *why)
{
	size_t n = parse(hex);

	cr_assert_eq(r.status, DPI_ERROR, "%s: not an error", hex);
	cr_assert_str_eq(r.error, why);
	cr_assert_eq(r.consumed, n);
}

/* NDR 5.2 */
Test(iec104, u_frames)
{
	static const struct {
		const char *hex;
		uint8_t utype;
		const char *name;
	} u[] = {
		{ "68 04 07 00 00 00", IEC104_U_STARTDT_ACT, "STARTDT act" },
		{ "68 04 0b 00 00 00", IEC104_U_STARTDT_CON, "STARTDT con" },
		{ "68 04 13 00 00 00", IEC104_U_STOPDT_ACT, "STOPDT act" },
		{ "68 04 23 00 00 00", IEC104_U_STOPDT_CON, "STOPDT con" },
		{ "68 04 43 00 00 00", IEC104_U_TESTFR_ACT, "TESTFR act" },
		{ "68 04 83 00 00 00", IEC104_U_TESTFR_CON, "TESTFR con" },
	};

	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		parse(u[i].hex);
		cr_assert_eq(r.status, DPI_COMPLETE);
		cr_assert_eq(r.consumed, 6);
		cr_assert_eq(a.apci, IEC104_APCI_U);
		cr_assert_eq(a.utype, u[i].utype);
		cr_assert_str_eq(iec104_utype_name(a.utype), u[i].name);
		cr_assert_not(a.has_asdu);
	}
	cr_assert_str_eq(iec104_apci_name(IEC104_APCI_U), "U");
}

/* CR 3.5 */
Test(iec104, u_frame_errors)
{
	/* ndpi__iec60780-5-104.pcap has a U frame with utype 0x05 */
	assert_error("68 04 17 00 00 00",
		     "U frame without exactly one function");
	cr_assert_eq(a.utype, 0x05);
	assert_error("68 04 03 00 00 00",
		     "U frame without exactly one function");
	assert_error("68 04 07 00 01 00",
		     "U frame with reserved control bits set");
	assert_error("68 05 07 00 00 00 00", "U frame longer than its APCI");
}

/* NDR 5.2 */
Test(iec104, s_frame)
{
	parse("68 04 01 00 02 00");
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(a.apci, IEC104_APCI_S);
	cr_assert_eq(a.recv_seq, 1);
	assert_error("68 04 01 01 02 00",
		     "S frame with reserved control bits set");
	assert_error("68 04 01 00 03 00",
		     "S frame with reserved control bits set");
	assert_error("68 05 01 00 02 00 00", "S frame longer than its APCI");
}

/* NDR 5.2 */
Test(iec104, interrogation_command)
{
	/* iti__JavaRMI_and_IEC_Misc.pcap: C_IC_NA_1, activation */
	parse("680e 0000 0000 64 01 06 01 0d91 000000 14");
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(r.consumed, 16);
	cr_assert_eq(a.apci, IEC104_APCI_I);
	cr_assert_eq(a.send_seq, 0);
	cr_assert_eq(a.recv_seq, 0);
	cr_assert(a.has_asdu);
	cr_assert_eq(a.type_id, 100);
	cr_assert_str_eq(iec104_type_name(a.type_id), "C_IC_NA_1");
	cr_assert_eq(a.cot, 6);
	cr_assert_not(a.negative);
	cr_assert_not(a.test);
	cr_assert_eq(a.originator, 1);
	cr_assert_eq(a.ca, 0x910d);
	cr_assert(a.objects_parsed);
	cr_assert_eq(a.n_ioa, 1);
	cr_assert_eq(a.ioa[0], 0);
	cr_assert(iec104_type_is_command(a.type_id));
}

/* NDR 5.2 */
Test(iec104, sequence_of_objects)
{
	/* SQ=1, ten single points from IOA 10010 */
	parse("6817 0400 0200 01 8a 14 01 0d91 1a2700 00008000000000000000");
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(a.send_seq, 2);
	cr_assert_eq(a.recv_seq, 1);
	cr_assert(a.sq);
	cr_assert_eq(a.num_objects, 10);
	cr_assert_eq(a.cot, 20);
	cr_assert_eq(a.n_ioa, 10);
	cr_assert_eq(a.ioa[0], 10010);
	cr_assert_eq(a.ioa[9], 10019);
	cr_assert_not(iec104_type_is_command(a.type_id));
}

/* NDR 5.2 */
Test(iec104, list_of_objects_with_time)
{
	/* ndpi__IEC104.pcap: M_ME_TF_1, float + quality + CP56Time2a */
	parse("6819 2c7e 42b9 24 01 03 00 1429 cbb202 cdcc2c3e00 94dc028a230a0b");
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(a.type_id, 36);
	cr_assert_eq(a.cot, 3);
	cr_assert_eq(a.originator, 0);
	cr_assert_eq(a.ca, 0x2914);
	cr_assert_eq(a.n_ioa, 1);
	cr_assert_eq(a.ioa[0], 0x02b2cb);
	/* two objects, SQ=0: each has its IOA */
	parse("6812 0000 0000 2d 02 06 00 0100 010000 81 020000 00");
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(a.n_ioa, 2);
	cr_assert_eq(a.ioa[0], 1);
	cr_assert_eq(a.ioa[1], 2);
}

/* CR 3.5 */
Test(iec104, framing_errors)
{
	parse("");
	cr_assert_eq(r.status, DPI_NEED_MORE);
	cr_assert_eq(r.needed, 2);
	parse("68");
	cr_assert_eq(r.status, DPI_NEED_MORE);
	cr_assert_eq(r.needed, 2);
	parse("680e 0000 0000 64 01");
	cr_assert_eq(r.status, DPI_NEED_MORE);
	cr_assert_eq(r.needed, 16);
	parse("69 04 07 00 00 00");
	cr_assert_eq(r.status, DPI_ERROR);
	cr_assert_str_eq(r.error, "APCI start byte is not 0x68");
	cr_assert_eq(r.consumed, 0);
	parse("68 03 07 00 00");
	cr_assert_eq(r.status, DPI_ERROR);
	cr_assert_str_eq(r.error, "APDU length out of range 4..253");
	cr_assert_eq(r.consumed, 0);
	parse("68 fe");
	cr_assert_eq(r.status, DPI_ERROR);
	cr_assert_eq(r.consumed, 0);
}

/* CR 3.5 */
Test(iec104, asdu_errors)
{
	assert_error("68 04 00 00 00 00", "I frame without ASDU");
	assert_error("68 0a 00 00 01 00 64 01 06 01 0d 91",
		     "I frame with bit 0 of control octet 3 set");
	assert_error("68 08 00 00 00 00 64 01 06 01", "ASDU header truncated");
	assert_error("680e 0000 0000 00 01 06 01 0d91 000000 14",
		     "ASDU type id 0");
	assert_error("680e 0000 0000 64 01 00 01 0d91 000000 14",
		     "cause of transmission 0");
	assert_error("680e 0000 0000 64 00 06 01 0d91 000000 14",
		     "ASDU without information objects");
	/* two objects announced, one present */
	assert_error("680e 0000 0000 64 02 06 01 0d91 000000 14",
		     "information objects overrun the ASDU");
	assert_error("680f 0000 0000 64 01 06 01 0d91 000000 14 00",
		     "ASDU longer than its information objects");
	/* SQ=1 run from IOA 0xfffffe, three objects */
	assert_error("6810 0000 0000 01 83 03 01 0100 feffff 00 00 00",
		     "IOA run beyond 16777215");
	/* SQ=1 with the base IOA cut short */
	assert_error("680c 0000 0000 01 81 03 01 0100 feff",
		     "information objects overrun the ASDU");
}

/* NDR 5.2 */
Test(iec104, cause_flags_and_unknown_type)
{
	/* negative confirm in test mode */
	parse("680e 0000 0000 64 01 c7 01 0d91 000000 14");
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(a.cot, 7);
	cr_assert(a.negative);
	cr_assert(a.test);
	/* type 24 is reserved: header decoded, objects left to the policy */
	parse("680e 0000 0000 18 01 03 01 0d91 000000 14");
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert_eq(a.type_id, 24);
	cr_assert_not(a.objects_parsed);
	cr_assert_eq(a.n_ioa, 0);
	cr_assert_eq(iec104_element_size(24), -1);
	cr_assert_null(iec104_type_name(24));
}

/* NDR 5.2 */
Test(iec104, file_segment_has_its_own_length)
{
	parse("6813 0000 0000 7d 01 0d 01 0100 000000 0100 01 02 aabb");
	cr_assert_eq(r.status, DPI_COMPLETE);
	cr_assert(a.objects_parsed);
	cr_assert_eq(a.ioa[0], 0);
	assert_error("6813 0000 0000 7d 01 0d 01 0100 000000 0100 01 03 aabb",
		     "information objects overrun the ASDU");
}

/* NDR 5.2 */
Test(iec104, several_apdus_in_one_buffer)
{
	/* ndpi__iec60780-5-104.pcap: S frame + I frame + I frame */
	size_t n = parse("680401000200 680e02000200640107000d9100000014 "
			 "681006000200038314000d912a4e00808080");
	size_t off = 0;
	unsigned seen = 0;

	while (off < n) {
		iec104_parse(buf + off, n - off, DPI_DIR_RESPONSE, &a, &r);
		cr_assert_eq(r.status, DPI_COMPLETE);
		off += r.consumed;
		seen++;
	}
	cr_assert_eq(seen, 3);
	cr_assert_eq(a.type_id, 3);
	cr_assert_eq(a.n_ioa, 3);
	cr_assert_eq(a.ioa[2], 0x004e2a + 2);
}

Test(iec104, classification)
{
	cr_assert_eq(iec104_type_class(1), IEC104_CLASS_MONITOR);
	cr_assert_eq(iec104_type_class(45), IEC104_CLASS_CONTROL);
	cr_assert_eq(iec104_type_class(70), IEC104_CLASS_SYSTEM_MONITOR);
	cr_assert_eq(iec104_type_class(103), IEC104_CLASS_SYSTEM_CONTROL);
	cr_assert_eq(iec104_type_class(112), IEC104_CLASS_PARAMETER);
	cr_assert_eq(iec104_type_class(122), IEC104_CLASS_FILE);
	cr_assert_eq(iec104_type_class(0), IEC104_CLASS_UNKNOWN);
	cr_assert_eq(iec104_type_class(200), IEC104_CLASS_UNKNOWN);
	for (int t = 45; t <= 69; t++)
		cr_assert(iec104_type_is_command((uint8_t)t));
	for (int t = 100; t <= 113; t++)
		cr_assert(iec104_type_is_command((uint8_t)t));
	cr_assert_not(iec104_type_is_command(36));
	cr_assert_not(iec104_type_is_command(70));
	cr_assert_not(iec104_type_is_command(120));
	cr_assert_eq(iec104_element_size(1), 1);
	cr_assert_eq(iec104_element_size(36), 12);
	cr_assert_eq(iec104_element_size(58), 8);
	cr_assert_eq(iec104_element_size(102), 0);
	cr_assert_eq(iec104_element_size(103), 7);
}
