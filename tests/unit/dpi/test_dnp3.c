/* DNP3 parser: link frames and CRCs, transport reassembly, application. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "dpi/proto/dnp3.h"

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

/* Build a link frame around `user`, with correct CRCs. */
static size_t frame(uint8_t ctrl, uint16_t dst, uint16_t src,
		    const uint8_t *user, size_t n, uint8_t *out)
{
	size_t o = 0;
	uint16_t crc;

	out[o++] = 0x05;
	out[o++] = 0x64;
	out[o++] = (uint8_t)(n + 5);
	out[o++] = ctrl;
	out[o++] = dst & 0xff;
	out[o++] = dst >> 8;
	out[o++] = src & 0xff;
	out[o++] = src >> 8;
	crc = dnp3_crc(out, 8);
	out[o++] = crc & 0xff;
	out[o++] = crc >> 8;
	for (size_t i = 0; i < n; i += 16) {
		size_t k = n - i < 16 ? n - i : 16;

		memcpy(out + o, user + i, k);
		crc = dnp3_crc(user + i, k);
		o += k;
		out[o++] = crc & 0xff;
		out[o++] = crc >> 8;
	}
	return o;
}

/* Parse an application fragment wrapped as one FIR|FIN segment. */
static enum dpi_status app(const char *hex, struct dnp3_apdu *a,
			   struct dpi_result *r)
{
	uint8_t b[DNP3_APDU_MAX + 16];
	size_t n = unhex(hex, b);

	return dnp3_app_parse(b, n, a, r);
}

/* Read request from zeek dnp3_read.pcap, frame 4 (CRCs as captured). */
static const char *read_req =
	"056414c4020003004503c7c8013c02063c03063c04063c010642ac";
/* Its response, frame 6: g1v2, g10v2, g30v1 with a range qualifier. */
static const char *read_rsp =
	"05647444030002006854f4c88100000102000008810181010101d3740101010a"
	"02000006000000000000011e6ca40100000e01ef030000010300000001ed2178"
	"030000012bd1ffff01ed03000001e62e41c9000001170d0200000000000001b5"
	"0c02c650000000000000018a0d02000000000000069300000000000000000000"
	"0000000000ffff";

Test(dnp3_crc, check_value_and_known_frames)
{
	uint8_t b[300];
	size_t n;

	cr_assert_eq(dnp3_crc((const uint8_t *)"123456789", 9), 0xEA82);
	n = unhex(read_req, b);
	cr_assert_eq(dnp3_crc(b, 8), b[8] | b[9] << 8);
	cr_assert_eq(dnp3_crc(b + 10, 15), b[25] | b[26] << 8);
	n = unhex(read_rsp, b);
	cr_assert_eq(n, 135);
	cr_assert_eq(dnp3_crc(b + 10, 16), b[26] | b[27] << 8);
}

/* The definition: eight shifts per byte, as IEEE 1815 describes it. */
static uint16_t crc_bitwise(const uint8_t *buf, size_t n)
{
	uint16_t crc = 0;

	for (size_t i = 0; i < n; i++) {
		crc ^= buf[i];
		for (int b = 0; b < 8; b++)
			crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xA6BC) :
					  (uint16_t)(crc >> 1);
	}
	return (uint16_t)~crc;
}

/* CR 3.5 */
Test(dnp3_crc, table_equals_the_bitwise_definition)
{
	uint8_t b[300];
	uint32_t x = 12345;

	/* every byte value alone, then pseudo-random blocks of every length */
	for (int v = 0; v < 256; v++) {
		b[0] = (uint8_t)v;
		cr_assert_eq(dnp3_crc(b, 1), crc_bitwise(b, 1), "byte %d", v);
	}
	for (size_t n = 0; n <= sizeof(b); n++) {
		for (size_t i = 0; i < n; i++) {
			x = x * 1103515245u + 12345u;
			b[i] = (uint8_t)(x >> 16);
		}
		cr_assert_eq(dnp3_crc(b, n), crc_bitwise(b, n), "length %zu",
			     n);
	}
}

/* NDR 5.2 */
Test(dnp3_link, decodes_captured_read_request)
{
	uint8_t b[300];
	size_t n = unhex(read_req, b);
	struct dnp3_link lk;
	struct dpi_result r;

	cr_assert_eq(dnp3_link_parse(b, n, &lk, &r), DPI_COMPLETE);
	cr_assert_eq(r.consumed, n);
	cr_assert_eq(lk.len, 0x14);
	cr_assert_eq(lk.ctrl, 0xc4);
	cr_assert_eq(lk.dst, 2);
	cr_assert_eq(lk.src, 3);
	cr_assert_eq(lk.user_len, 15);
	cr_assert_eq(lk.user[0], 0xc7);
	cr_assert(dnp3_link_has_data(&lk));
	cr_assert_eq(dnp3_link_frame_size(255), DNP3_LINK_MAX_FRAME);
	cr_assert_eq(dnp3_link_frame_size(5), 10);
}

/* CR 3.5 */
Test(dnp3_link, bad_start_bytes)
{
	uint8_t b[300];
	size_t n = unhex(read_req, b);
	struct dnp3_link lk;
	struct dpi_result r;

	b[1] = 0x65;
	cr_assert_eq(dnp3_link_parse(b, n, &lk, &r), DPI_ERROR);
	cr_assert_eq(r.consumed, 1);
	cr_assert_str_eq(r.error, "dnp3: bad link start bytes");
	b[0] = 0x06;
	cr_assert_eq(dnp3_link_parse(b, 1, &lk, &r), DPI_ERROR);
}

/* CR 3.5 */
Test(dnp3_link, bad_header_crc)
{
	uint8_t b[300];
	size_t n = unhex(read_req, b);
	struct dnp3_link lk;
	struct dpi_result r;

	b[8] ^= 1;
	cr_assert_eq(dnp3_link_parse(b, n, &lk, &r), DPI_ERROR);
	cr_assert_str_eq(r.error, "dnp3: bad link header CRC");
	cr_assert_eq(r.consumed, 1);
}

/* CR 3.5 */
Test(dnp3_link, bad_data_block_crc)
{
	uint8_t b[300];
	size_t n = unhex(read_rsp, b);
	struct dnp3_link lk;
	struct dpi_result r;

	b[100] ^= 0x40; /* inside the 6th data block */
	cr_assert_eq(dnp3_link_parse(b, n, &lk, &r), DPI_ERROR);
	cr_assert_str_eq(r.error, "dnp3: bad link data block CRC");
	cr_assert_eq(r.consumed, n);
	n = unhex(read_rsp, b);
	b[n - 1] ^= 1; /* the CRC of the last, partial block */
	cr_assert_eq(dnp3_link_parse(b, n, &lk, &r), DPI_ERROR);
}

/* CR 3.5 */
Test(dnp3_link, length_out_of_range)
{
	uint8_t b[16] = { 0x05, 0x64, 0x04, 0xc4, 0, 0, 0, 0, 0, 0 };
	struct dnp3_link lk;
	struct dpi_result r;
	uint16_t crc = dnp3_crc(b, 8);

	b[8] = crc & 0xff;
	b[9] = crc >> 8;
	cr_assert_eq(dnp3_link_parse(b, 10, &lk, &r), DPI_ERROR);
	cr_assert_str_eq(r.error, "dnp3: link length out of range");
}

/* CR 3.5 */
Test(dnp3_link, function_and_length_must_agree)
{
	uint8_t u[4] = { 0xc0, 0xc0, 0x01, 0x00 }, b[64];
	struct dnp3_link lk;
	struct dpi_result r;
	size_t n;

	/* request link status (9) carrying user data */
	n = frame(0xc9, 1, 2, u, sizeof(u), b);
	cr_assert_eq(dnp3_link_parse(b, n, &lk, &r), DPI_ERROR);
	cr_assert_eq(r.consumed, n);
	/* unconfirmed user data without any */
	n = frame(0xc4, 1, 2, u, 0, b);
	cr_assert_eq(dnp3_link_parse(b, n, &lk, &r), DPI_ERROR);
	/* reserved primary function 5 */
	n = frame(0xc5, 1, 2, u, 0, b);
	cr_assert_eq(dnp3_link_parse(b, n, &lk, &r), DPI_ERROR);
	/* link status request and secondary ACK are fine */
	n = frame(0xc9, 1, 2, u, 0, b);
	cr_assert_eq(dnp3_link_parse(b, n, &lk, &r), DPI_COMPLETE);
	cr_assert_not(dnp3_link_has_data(&lk));
	n = frame(0x00, 2, 1, u, 0, b);
	cr_assert_eq(dnp3_link_parse(b, n, &lk, &r), DPI_COMPLETE);
}

/* CR 3.5 */
Test(dnp3_link, frame_count_valid_bit_must_fit_the_function)
{
	uint8_t u[4] = { 0xc0, 0xc0, 0x01, 0x00 }, b[64];
	struct dnp3_link lk;
	struct dpi_result r;
	size_t n;

	/* confirmed user data (3) needs FCV: 0xd3 fine, 0xc3 not */
	n = frame(0xd3, 1, 2, u, sizeof(u), b);
	cr_assert_eq(dnp3_link_parse(b, n, &lk, &r), DPI_COMPLETE);
	n = frame(0xc3, 1, 2, u, sizeof(u), b);
	cr_assert_eq(dnp3_link_parse(b, n, &lk, &r), DPI_ERROR);
	cr_assert_str_eq(r.error,
			 "dnp3: link FCV bit does not fit the function");
	cr_assert_eq(r.consumed, n);
	/* unconfirmed user data (4) must not have it */
	n = frame(0xd4, 1, 2, u, sizeof(u), b);
	cr_assert_eq(dnp3_link_parse(b, n, &lk, &r), DPI_ERROR);
	/* test link states (2) needs it, reset link (0) must not */
	n = frame(0xd2, 1, 2, u, 0, b);
	cr_assert_eq(dnp3_link_parse(b, n, &lk, &r), DPI_COMPLETE);
	n = frame(0xc2, 1, 2, u, 0, b);
	cr_assert_eq(dnp3_link_parse(b, n, &lk, &r), DPI_ERROR);
	n = frame(0xd0, 1, 2, u, 0, b);
	cr_assert_eq(dnp3_link_parse(b, n, &lk, &r), DPI_ERROR);
	/* secondary frames: bit 4 is DFC, either value is fine */
	n = frame(0x10, 2, 1, u, 0, b);
	cr_assert_eq(dnp3_link_parse(b, n, &lk, &r), DPI_COMPLETE);
}

/* NDR 5.2 */
Test(dnp3_link, streaming_split_and_back_to_back)
{
	uint8_t b[600];
	size_t n1 = unhex(read_req, b);
	size_t n2 = unhex(read_rsp, b + n1);
	struct dnp3_link lk;
	struct dpi_result r;

	/* header incomplete, then frame incomplete */
	cr_assert_eq(dnp3_link_parse(b, 3, &lk, &r), DPI_NEED_MORE);
	cr_assert_eq(r.needed, 10);
	cr_assert_eq(dnp3_link_parse(b + n1, 40, &lk, &r), DPI_NEED_MORE);
	cr_assert_eq(r.needed, n2);
	/* two frames in one buffer: consumed walks from one to the next */
	cr_assert_eq(dnp3_link_parse(b, n1 + n2, &lk, &r), DPI_COMPLETE);
	cr_assert_eq(r.consumed, n1);
	cr_assert_eq(dnp3_link_parse(b + n1, n2, &lk, &r), DPI_COMPLETE);
	cr_assert_eq(lk.user_len, 111);
}

/* NDR 5.2 */
Test(dnp3_tp, single_segment_then_application)
{
	uint8_t b[300];
	size_t n = unhex(read_rsp, b);
	struct dnp3_link lk;
	struct dnp3_tp tp;
	struct dnp3_apdu a;
	struct dpi_result r;
	const char *why;

	dnp3_tp_init(&tp);
	cr_assert_eq(dnp3_link_parse(b, n, &lk, &r), DPI_COMPLETE);
	cr_assert_eq(dnp3_tp_push(&tp, lk.user, lk.user_len, &why),
		     DNP3_TP_DONE);
	cr_assert_eq(tp.len, 110);
	cr_assert_eq(dnp3_app_parse(tp.buf, tp.len, &a, &r), DPI_COMPLETE);
	cr_assert_eq(a.func, DNP3_FC_RESPONSE);
	cr_assert(a.has_iin);
	cr_assert_eq(a.iin, 0x0000);
	cr_assert_eq(a.n_objects, 3);
	cr_assert_not(a.objects_truncated);
	cr_assert_eq(a.objects[0].group, 1);
	cr_assert_eq(a.objects[0].variation, 2);
	cr_assert_eq(a.objects[0].qualifier, 0x00);
	cr_assert_eq(a.objects[0].start, 0);
	cr_assert_eq(a.objects[0].stop, 8);
	cr_assert_eq(a.objects[0].count, 9);
	cr_assert_eq(a.objects[1].group, 10);
	cr_assert_eq(a.objects[2].group, 30);
	cr_assert_eq(a.objects[2].variation, 1);
}

/* Segments carrying `total` bytes of payload 0..255 repeating. */
static enum dnp3_tp_status push(struct dnp3_tp *tp, uint8_t th, size_t n,
				uint8_t fill, const char **why)
{
	uint8_t seg[1 + DNP3_TP_MAX_PAYLOAD];

	seg[0] = th;
	memset(seg + 1, fill, n);
	return dnp3_tp_push(tp, seg, n + 1, why);
}

/* NDR 5.2 */
Test(dnp3_tp, reassembles_three_segments_across_sequence_wrap)
{
	struct dnp3_tp tp;
	const char *why;

	dnp3_tp_init(&tp);
	cr_assert_eq(push(&tp, DNP3_TP_FIR | 62, 249, 0xaa, &why),
		     DNP3_TP_MORE);
	cr_assert_eq(push(&tp, 63, 249, 0xbb, &why), DNP3_TP_MORE);
	cr_assert_eq(push(&tp, DNP3_TP_FIN | 0, 10, 0xcc, &why), DNP3_TP_DONE);
	cr_assert_eq(tp.len, 508);
	cr_assert_eq(tp.buf[0], 0xaa);
	cr_assert_eq(tp.buf[249], 0xbb);
	cr_assert_eq(tp.buf[507], 0xcc);
}

/* CR 3.5 */
Test(dnp3_tp, sequence_gap_is_an_error)
{
	struct dnp3_tp tp;
	const char *why;

	dnp3_tp_init(&tp);
	cr_assert_eq(push(&tp, DNP3_TP_FIR | 5, 100, 1, &why), DNP3_TP_MORE);
	cr_assert_eq(push(&tp, 7, 100, 1, &why), DNP3_TP_ERROR);
	cr_assert_str_eq(why, "dnp3: transport sequence gap");
	/* the state was reset: a continuation now lacks its FIR */
	cr_assert_eq(push(&tp, DNP3_TP_FIN | 8, 10, 1, &why), DNP3_TP_ERROR);
	cr_assert_str_eq(why, "dnp3: transport segment without FIR");
}

/* CR 3.5 */
Test(dnp3_tp, fir_restarts_and_empty_segment)
{
	struct dnp3_tp tp;
	const char *why;

	dnp3_tp_init(&tp);
	cr_assert_eq(push(&tp, DNP3_TP_FIR | 1, 100, 1, &why), DNP3_TP_MORE);
	cr_assert_eq(push(&tp, DNP3_TP_FIR | DNP3_TP_FIN | 9, 20, 2, &why),
		     DNP3_TP_DONE);
	cr_assert_eq(tp.len, 20);
	cr_assert_eq(tp.buf[0], 2);
	cr_assert_eq(dnp3_tp_push(&tp, NULL, 0, &why), DNP3_TP_ERROR);
	cr_assert_str_eq(why, "dnp3: empty transport segment");
}

/* CR 3.5 */
Test(dnp3_tp, reassembly_overflow_is_an_error)
{
	struct dnp3_tp tp;
	const char *why = NULL;
	enum dnp3_tp_status st = DNP3_TP_MORE;
	int i;

	dnp3_tp_init(&tp);
	cr_assert_eq(push(&tp, DNP3_TP_FIR, 249, 0, &why), DNP3_TP_MORE);
	for (i = 1; i < 12 && st == DNP3_TP_MORE; i++)
		st = push(&tp, (uint8_t)i, 249, 0, &why);
	cr_assert_eq(st, DNP3_TP_ERROR);
	cr_assert_eq(i, 9); /* 9 * 249 > 2048 */
	cr_assert_str_eq(why, "dnp3: application fragment exceeds 2048 bytes");
	cr_assert_not(tp.active);
}

/* NDR 5.2 */
Test(dnp3_app, read_request_class_objects)
{
	struct dnp3_apdu a;
	struct dpi_result r;

	cr_assert_eq(app("c8013c02063c03063c04063c0106", &a, &r), DPI_COMPLETE);
	cr_assert_eq(a.func, DNP3_FC_READ);
	cr_assert_eq(a.ctrl & DNP3_APP_FIR, DNP3_APP_FIR);
	cr_assert_not(a.has_iin);
	cr_assert_eq(a.n_objects, 4);
	cr_assert_eq(a.objects[3].group, 60);
	cr_assert_eq(a.objects[3].variation, 1);
	cr_assert_eq(a.objects[3].qualifier, 0x06);
	cr_assert_not(a.objects[3].ranged);
	cr_assert_eq(a.objects[3].count, 0);
}

/* NDR 5.2 */
Test(dnp3_app, crob_select_with_index_prefix)
{
	struct dnp3_apdu a;
	struct dpi_result r;

	/* select g12v1 q0x28 count 2, indexes 7 and 3 */
	cr_assert_eq(app("c303"
			 "0c0128"
			 "0200"
			 "0700"
			 "0301640000006400000000"
			 "0300"
			 "0401c8000000c800000000",
			 &a, &r),
		     DPI_COMPLETE);
	cr_assert(dnp3_func_is_control(a.func));
	cr_assert_eq(a.n_objects, 1);
	cr_assert_eq(a.objects[0].group, 12);
	cr_assert_eq(a.objects[0].qualifier, 0x28);
	cr_assert_eq(a.objects[0].count, 2);
	cr_assert(a.objects[0].ranged);
	cr_assert_eq(a.objects[0].start, 3);
	cr_assert_eq(a.objects[0].stop, 7);
}

/* NDR 5.2 */
Test(dnp3_app, packed_bits_and_analog_output)
{
	struct dnp3_apdu a;
	struct dpi_result r;

	/* response: g1v1 0..9 (2 octets), g80v1 7..7 (1 octet), g41v2 */
	cr_assert_eq(app("c0818000"
			 "010100"
			 "0009"
			 "ff03"
			 "500100"
			 "0707"
			 "00"
			 "290217"
			 "01"
			 "05"
			 "3412"
			 "00",
			 &a, &r),
		     DPI_COMPLETE);
	cr_assert_eq(a.iin, 0x8000);
	cr_assert_eq(a.n_objects, 3);
	cr_assert_eq(a.objects[0].count, 10);
	cr_assert_eq(a.objects[1].group, 80);
	cr_assert_eq(a.objects[2].group, 41);
	cr_assert_eq(a.objects[2].start, 5);
}

/* NDR 5.2 */
Test(dnp3_app, size_prefixed_file_object_in_read)
{
	struct dnp3_apdu a;
	struct dpi_result r;

	/* read g70v5 q0x5b count 1, size 4 */
	cr_assert_eq(app("c101"
			 "46055b"
			 "01"
			 "0400"
			 "01020304",
			 &a, &r),
		     DPI_COMPLETE);
	cr_assert_eq(a.n_objects, 1);
	cr_assert_eq(a.objects[0].group, 70);
	cr_assert_eq(a.objects[0].count, 1);
	/* size prefix pointing past the end */
	cr_assert_eq(app("c101"
			 "46055b"
			 "01"
			 "0900"
			 "01020304",
			 &a, &r),
		     DPI_ERROR);
}

/* NDR 5.2 */
Test(dnp3_app, index_prefixed_read_has_no_values)
{
	struct dnp3_apdu a;
	struct dpi_result r;

	/* read g30v1 q0x17 count 3, indexes 4, 1, 9; then g50v1 q07 1 */
	cr_assert_eq(app("c201"
			 "1e0117"
			 "03"
			 "040109"
			 "320107"
			 "01",
			 &a, &r),
		     DPI_COMPLETE);
	cr_assert_eq(a.n_objects, 2);
	cr_assert_eq(a.objects[0].start, 1);
	cr_assert_eq(a.objects[0].stop, 9);
	cr_assert_eq(a.objects[1].group, 50);
}

/* CR 3.5 */
Test(dnp3_app, object_header_truncated)
{
	struct dnp3_apdu a;
	struct dpi_result r;

	cr_assert_eq(app("c1023201", &a, &r), DPI_ERROR);
	cr_assert_str_eq(r.error, "dnp3: object header truncated");
	cr_assert_eq(app("c102320100"
			 "05",
			 &a, &r),
		     DPI_ERROR);
	cr_assert_str_eq(r.error, "dnp3: object header truncated");
	cr_assert_eq(app("c1", &a, &r), DPI_ERROR);
	cr_assert_str_eq(r.error, "dnp3: application header truncated");
	cr_assert_eq(app("c081"
			 "00",
			 &a, &r),
		     DPI_ERROR);
	cr_assert_str_eq(r.error, "dnp3: IIN truncated");
}

/* CR 3.5 */
Test(dnp3_app, object_data_truncated)
{
	struct dnp3_apdu a;
	struct dpi_result r;

	/* direct operate g12v1 q0x28 count 3 with data for one CROB */
	cr_assert_eq(app("c105"
			 "0c0128"
			 "0300"
			 "0000"
			 "0301640000006400000000",
			 &a, &r),
		     DPI_ERROR);
	cr_assert_str_eq(r.error, "dnp3: object data truncated");
	/* write g50v1 q07 count 1 with 3 of 6 time octets */
	cr_assert_eq(app("c102"
			 "320107"
			 "01"
			 "010203",
			 &a, &r),
		     DPI_ERROR);
	/* an outrageous 32-bit count */
	cr_assert_eq(app("c102"
			 "0a0209"
			 "ffffffff"
			 "00",
			 &a, &r),
		     DPI_ERROR);
}

/* CR 3.5 */
Test(dnp3_app, bad_ranges_and_qualifiers)
{
	struct dnp3_apdu a;
	struct dpi_result r;

	cr_assert_eq(app("c101"
			 "1e0100"
			 "0904",
			 &a, &r),
		     DPI_ERROR);
	cr_assert_str_eq(r.error, "dnp3: object range stop below start");
	cr_assert_eq(app("c101"
			 "1e010c"
			 "00",
			 &a, &r),
		     DPI_ERROR);
	cr_assert_str_eq(r.error, "dnp3: reserved qualifier range code");
	cr_assert_eq(app("c101"
			 "1e0177"
			 "01"
			 "00",
			 &a, &r),
		     DPI_ERROR);
	cr_assert_str_eq(r.error, "dnp3: reserved qualifier prefix code");
	cr_assert_eq(app("c101"
			 "3c01ed",
			 &a, &r),
		     DPI_ERROR);
	cr_assert_str_eq(r.error, "dnp3: reserved qualifier bit 7 set");
	cr_assert_eq(app("c101"
			 "3c0116"
			 "01",
			 &a, &r),
		     DPI_ERROR);
	cr_assert_str_eq(r.error, "dnp3: prefix with all-objects qualifier");
	cr_assert_eq(app("c102"
			 "46050b"
			 "01"
			 "00",
			 &a, &r),
		     DPI_ERROR);
}

/* NDR 5.2 */
Test(dnp3_app, unknown_size_stops_the_walk)
{
	struct dnp3_apdu a;
	struct dpi_result r;

	/* response g0v240 (device attribute): size unknown here */
	cr_assert_eq(app("c0810000"
			 "010200"
			 "0000"
			 "01"
			 "00f000"
			 "0000"
			 "deadbeef",
			 &a, &r),
		     DPI_COMPLETE);
	cr_assert_eq(a.n_objects, 2);
	cr_assert(a.objects_truncated);
	cr_assert_eq(a.objects[1].group, 0);
	cr_assert_eq(a.objects[1].variation, 240);
}

/* CR 3.5 */
Test(dnp3_app, object_list_bounded)
{
	char hex[4 + 40 * 6 + 1];
	struct dnp3_apdu a;
	struct dpi_result r;

	strcpy(hex, "c101");
	for (int i = 0; i < 40; i++)
		strcat(hex, "3c0106");
	cr_assert_eq(app(hex, &a, &r), DPI_COMPLETE);
	cr_assert_eq(a.n_objects, DNP3_MAX_OBJECTS);
	cr_assert(a.objects_truncated);
}

/* CR 3.5 */
Test(dnp3_app, fragment_longer_than_2048)
{
	static uint8_t b[DNP3_APDU_MAX + 1];
	struct dnp3_apdu a;
	struct dpi_result r;

	b[1] = DNP3_FC_WRITE;
	cr_assert_eq(dnp3_app_parse(b, sizeof(b), &a, &r), DPI_ERROR);
	cr_assert_str_eq(r.error, "dnp3: application fragment too long");
}

Test(dnp3_func, classes_presets_and_names)
{
	for (int f = 3; f <= 6; f++)
		cr_assert(dnp3_func_is_control((uint8_t)f));
	cr_assert_not(dnp3_func_is_control(DNP3_FC_WRITE));
	cr_assert(dnp3_func_is_write(DNP3_FC_WRITE));
	cr_assert(dnp3_func_is_restart_or_stop(DNP3_FC_COLD_RESTART));
	cr_assert(dnp3_func_is_restart_or_stop(DNP3_FC_WARM_RESTART));
	cr_assert(dnp3_func_is_restart_or_stop(DNP3_FC_STOP_APPL));
	cr_assert_eq(dnp3_func_class(99), DNP3_FCLASS_UNKNOWN);
	cr_assert_eq(dnp3_func_class(DNP3_FC_OPEN_FILE), DNP3_FCLASS_FILE);

	cr_assert(dnp3_preset_allows(DNP3_PRESET_READ_ONLY, DNP3_FC_READ));
	cr_assert(dnp3_preset_allows(DNP3_PRESET_READ_ONLY, DNP3_FC_RESPONSE));
	cr_assert(dnp3_preset_allows(DNP3_PRESET_READ_ONLY, DNP3_FC_CONFIRM));
	cr_assert_not(dnp3_preset_allows(DNP3_PRESET_READ_ONLY, DNP3_FC_WRITE));
	cr_assert_not(dnp3_preset_allows(DNP3_PRESET_READ_ONLY,
					 DNP3_FC_DIRECT_OPERATE));
	cr_assert(dnp3_preset_allows(DNP3_PRESET_OPERATE, DNP3_FC_SELECT));
	cr_assert(dnp3_preset_allows(DNP3_PRESET_OPERATE, DNP3_FC_OPERATE));
	cr_assert_not(
		dnp3_preset_allows(DNP3_PRESET_OPERATE, DNP3_FC_COLD_RESTART));
	cr_assert_not(dnp3_preset_allows(DNP3_PRESET_OPERATE, DNP3_FC_WRITE));
	cr_assert(dnp3_preset_allows(DNP3_PRESET_ALL, 200));

	cr_assert_str_eq(dnp3_func_name(5), "direct-operate");
	cr_assert_null(dnp3_func_name(100));
	cr_assert_null(dnp3_func_name(255));
	cr_assert_eq(dnp3_func_from_name("stop-application"), 18);
	cr_assert_eq(dnp3_func_from_name("nonsense"), -1);
}
