/*
 * IEC 60870-5-104: APCI framing (start byte, length, I/S/U control octets)
 * and the ASDU of I frames with the information object list walked by the
 * element size of each type id (IEC 60870-5-101 clause 7.3, 104 clause 8).
 */
#include <string.h>

#include "dpi/proto/cursor.h"
#include "dpi/proto/iec104.h"

/* Element sizes without the IOA, stored + 1 so that 0 means unknown. */
#define SZ(n) ((uint8_t)((n) + 1))
static const uint8_t element_size[256] = {
	[1] = SZ(1),	[2] = SZ(4),	[3] = SZ(1),   [4] = SZ(4),
	[5] = SZ(2),	[6] = SZ(5),	[7] = SZ(5),   [8] = SZ(8),
	[9] = SZ(3),	[10] = SZ(6),	[11] = SZ(3),  [12] = SZ(6),
	[13] = SZ(5),	[14] = SZ(8),	[15] = SZ(5),  [16] = SZ(8),
	[17] = SZ(6),	[18] = SZ(7),	[19] = SZ(7),  [20] = SZ(5),
	[21] = SZ(2),	[30] = SZ(8),	[31] = SZ(8),  [32] = SZ(9),
	[33] = SZ(12),	[34] = SZ(10),	[35] = SZ(10), [36] = SZ(12),
	[37] = SZ(12),	[38] = SZ(10),	[39] = SZ(11), [40] = SZ(11),
	[45] = SZ(1),	[46] = SZ(1),	[47] = SZ(1),  [48] = SZ(3),
	[49] = SZ(3),	[50] = SZ(5),	[51] = SZ(4),  [58] = SZ(8),
	[59] = SZ(8),	[60] = SZ(8),	[61] = SZ(10), [62] = SZ(10),
	[63] = SZ(12),	[64] = SZ(11),	[70] = SZ(1),  [100] = SZ(1),
	[101] = SZ(1),	[102] = SZ(0),	[103] = SZ(7), [104] = SZ(2),
	[105] = SZ(1),	[106] = SZ(2),	[107] = SZ(9), [110] = SZ(3),
	[111] = SZ(3),	[112] = SZ(5),	[113] = SZ(1), [120] = SZ(6),
	[121] = SZ(7),	[122] = SZ(4),	[123] = SZ(5), [124] = SZ(4),
	[126] = SZ(13), [127] = SZ(16),
};
#undef SZ

#define F_SG_NA_1 125 /* file segment: its own length octet */

static const char *const type_names[256] = {
	[1] = "M_SP_NA_1",   [2] = "M_SP_TA_1",	  [3] = "M_DP_NA_1",
	[4] = "M_DP_TA_1",   [5] = "M_ST_NA_1",	  [6] = "M_ST_TA_1",
	[7] = "M_BO_NA_1",   [8] = "M_BO_TA_1",	  [9] = "M_ME_NA_1",
	[10] = "M_ME_TA_1",  [11] = "M_ME_NB_1",  [12] = "M_ME_TB_1",
	[13] = "M_ME_NC_1",  [14] = "M_ME_TC_1",  [15] = "M_IT_NA_1",
	[16] = "M_IT_TA_1",  [17] = "M_EP_TA_1",  [18] = "M_EP_TB_1",
	[19] = "M_EP_TC_1",  [20] = "M_PS_NA_1",  [21] = "M_ME_ND_1",
	[30] = "M_SP_TB_1",  [31] = "M_DP_TB_1",  [32] = "M_ST_TB_1",
	[33] = "M_BO_TB_1",  [34] = "M_ME_TD_1",  [35] = "M_ME_TE_1",
	[36] = "M_ME_TF_1",  [37] = "M_IT_TB_1",  [38] = "M_EP_TD_1",
	[39] = "M_EP_TE_1",  [40] = "M_EP_TF_1",  [45] = "C_SC_NA_1",
	[46] = "C_DC_NA_1",  [47] = "C_RC_NA_1",  [48] = "C_SE_NA_1",
	[49] = "C_SE_NB_1",  [50] = "C_SE_NC_1",  [51] = "C_BO_NA_1",
	[58] = "C_SC_TA_1",  [59] = "C_DC_TA_1",  [60] = "C_RC_TA_1",
	[61] = "C_SE_TA_1",  [62] = "C_SE_TB_1",  [63] = "C_SE_TC_1",
	[64] = "C_BO_TA_1",  [70] = "M_EI_NA_1",  [100] = "C_IC_NA_1",
	[101] = "C_CI_NA_1", [102] = "C_RD_NA_1", [103] = "C_CS_NA_1",
	[104] = "C_TS_NA_1", [105] = "C_RP_NA_1", [106] = "C_CD_NA_1",
	[107] = "C_TS_TA_1", [110] = "P_ME_NA_1", [111] = "P_ME_NB_1",
	[112] = "P_ME_NC_1", [113] = "P_AC_NA_1", [120] = "F_FR_NA_1",
	[121] = "F_SR_NA_1", [122] = "F_SC_NA_1", [123] = "F_LS_NA_1",
	[124] = "F_AF_NA_1", [125] = "F_SG_NA_1", [126] = "F_DR_TA_1",
	[127] = "F_SC_NB_1",
};

int iec104_element_size(uint8_t type_id)
{
	return (int)element_size[type_id] - 1;
}

const char *iec104_type_name(uint8_t type_id)
{
	return type_names[type_id];
}

enum iec104_type_class iec104_type_class(uint8_t t)
{
	if (t >= 1 && t <= 44)
		return IEC104_CLASS_MONITOR;
	if (t >= 45 && t <= 69)
		return IEC104_CLASS_CONTROL;
	if (t >= 70 && t <= 99)
		return IEC104_CLASS_SYSTEM_MONITOR;
	if (t >= 100 && t <= 109)
		return IEC104_CLASS_SYSTEM_CONTROL;
	if (t >= 110 && t <= 119)
		return IEC104_CLASS_PARAMETER;
	if (t >= 120 && t <= 127)
		return IEC104_CLASS_FILE;
	return IEC104_CLASS_UNKNOWN;
}

bool iec104_type_is_command(uint8_t t)
{
	switch (iec104_type_class(t)) {
	case IEC104_CLASS_CONTROL:
	case IEC104_CLASS_SYSTEM_CONTROL:
	case IEC104_CLASS_PARAMETER:
		return true;
	default:
		return false;
	}
}

const char *iec104_utype_name(uint8_t utype)
{
	switch (utype) {
	case IEC104_U_STARTDT_ACT:
		return "STARTDT act";
	case IEC104_U_STARTDT_CON:
		return "STARTDT con";
	case IEC104_U_STOPDT_ACT:
		return "STOPDT act";
	case IEC104_U_STOPDT_CON:
		return "STOPDT con";
	case IEC104_U_TESTFR_ACT:
		return "TESTFR act";
	case IEC104_U_TESTFR_CON:
		return "TESTFR con";
	default:
		return NULL;
	}
}

const char *iec104_apci_name(enum iec104_apci apci)
{
	switch (apci) {
	case IEC104_APCI_I:
		return "I";
	case IEC104_APCI_S:
		return "S";
	default:
		return "U";
	}
}

/* File segment: NOF (2), NOS (1), LOS (1), then LOS octets. */
static void file_segment(struct cur *a)
{
	uint8_t los;

	cur_skip(a, 3);
	los = cur_u8(a);
	cur_skip(a, los);
}

static const char *objects(struct cur *a, struct iec104_apdu *m)
{
	int size = iec104_element_size(m->type_id);
	bool segment = m->type_id == F_SG_NA_1;

	if (size < 0 && !segment)
		return NULL; /* header only; the policy decides on type id */
	m->objects_parsed = true;
	if (m->sq) {
		uint32_t base = cur_le24(a);

		if (!cur_ok(a))
			return "information objects overrun the ASDU";
		if (base + m->num_objects - 1u > 0xffffffu)
			return "IOA run beyond 16777215";
		for (unsigned i = 0; i < m->num_objects; i++) {
			m->ioa[m->n_ioa++] = base + i;
			if (segment)
				file_segment(a);
			else
				cur_skip(a, (size_t)size);
		}
	} else {
		for (unsigned i = 0; i < m->num_objects; i++) {
			uint32_t ioa = cur_le24(a);

			if (segment)
				file_segment(a);
			else
				cur_skip(a, (size_t)size);
			if (!cur_ok(a))
				break;
			m->ioa[m->n_ioa++] = ioa;
		}
	}
	if (!cur_ok(a))
		return "information objects overrun the ASDU";
	if (cur_left(a) != 0)
		return "ASDU longer than its information objects";
	return NULL;
}

static const char *asdu(struct cur *a, struct iec104_apdu *m)
{
	uint8_t vsq, cot;

	m->type_id = cur_u8(a);
	vsq = cur_u8(a);
	cot = cur_u8(a);
	m->originator = cur_u8(a);
	m->ca = cur_le16(a);
	if (!cur_ok(a))
		return "ASDU header truncated";
	m->has_asdu = true;
	m->sq = (vsq & 0x80) != 0;
	m->num_objects = vsq & 0x7f;
	m->cot = cot & 0x3f;
	m->negative = (cot & 0x40) != 0;
	m->test = (cot & 0x80) != 0;
	if (m->type_id == 0)
		return "ASDU type id 0";
	if (m->cot == 0)
		return "cause of transmission 0";
	if (m->num_objects == 0)
		return "ASDU without information objects";
	return objects(a, m);
}

static const char *apci(struct cur *c, struct iec104_apdu *m)
{
	uint8_t c1 = cur_u8(c), c2 = cur_u8(c), c3 = cur_u8(c), c4 = cur_u8(c);
	struct cur a;

	if ((c1 & 0x01) == 0) {
		m->apci = IEC104_APCI_I;
		m->send_seq = (uint16_t)((c1 | c2 << 8) >> 1);
		m->recv_seq = (uint16_t)((c3 | c4 << 8) >> 1);
		if (c3 & 0x01)
			return "I frame with bit 0 of control octet 3 set";
		if (m->length == IEC104_LEN_MIN)
			return "I frame without ASDU";
		a = cur_sub(c, cur_left(c));
		return asdu(&a, m);
	}
	if ((c1 & 0x03) == 0x01) {
		m->apci = IEC104_APCI_S;
		m->recv_seq = (uint16_t)((c3 | c4 << 8) >> 1);
		if (c1 != 0x01 || c2 != 0 || (c3 & 0x01))
			return "S frame with reserved control bits set";
		if (m->length != IEC104_LEN_MIN)
			return "S frame longer than its APCI";
		return NULL;
	}
	m->apci = IEC104_APCI_U;
	m->utype = c1 >> 2;
	if (c2 != 0 || c3 != 0 || c4 != 0)
		return "U frame with reserved control bits set";
	if (iec104_utype_name(m->utype) == NULL)
		return "U frame without exactly one function";
	if (m->length != IEC104_LEN_MIN)
		return "U frame longer than its APCI";
	return NULL;
}

void iec104_parse(const uint8_t *buf, size_t len, enum dpi_dir dir,
		  struct iec104_apdu *out, struct dpi_result *res)
{
	struct cur c = cur_init(buf, len);
	struct cur body;
	const char *why;
	size_t total;

	(void)dir;
	memset(out, 0, sizeof(*out));
	if (len < 2) {
		dpi_need_more(res, 2);
		return;
	}
	if (cur_u8(&c) != IEC104_START) {
		dpi_error(res, 0, "APCI start byte is not 0x68");
		return;
	}
	out->length = cur_u8(&c);
	if (out->length < IEC104_LEN_MIN || out->length > IEC104_LEN_MAX) {
		dpi_error(res, 0, "APDU length out of range 4..253");
		return;
	}
	total = 2u + out->length;
	if (len < total) {
		dpi_need_more(res, total);
		return;
	}
	body = cur_sub(&c, out->length);
	if ((why = apci(&body, out)) != NULL)
		dpi_error(res, total, why);
	else
		dpi_complete(res, total);
}
