/*
 * IEC 60870-5-104 parser: one APDU (APCI and, for I frames, the ASDU) in,
 * frame type, sequence numbers, type id, cause, addresses and the list of
 * information object addresses out. The object list is walked with the
 * element size of the type id, so its length is checked; type ids without
 * a known size decode the ASDU header only. Pure: no I/O, no allocation,
 * no global state.
 */
#ifndef CONDUIT_DPI_PROTO_IEC104_H
#define CONDUIT_DPI_PROTO_IEC104_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpi/proto/proto.h"

#define IEC104_START 0x68
#define IEC104_APCI_LEN 6 /* start, length, four control octets */
#define IEC104_LEN_MIN 4  /* APDU length field: control octets */
#define IEC104_LEN_MAX 253
#define IEC104_ASDU_HDR_LEN 6 /* type, VSQ, COT, originator, CA (2) */
#define IEC104_IOA_LEN 3
/* VSQ carries at most 127 objects, so the list below never truncates. */
#define IEC104_MAX_OBJECTS 127

enum iec104_apci {
	IEC104_APCI_I,
	IEC104_APCI_S,
	IEC104_APCI_U,
};

/* U frame functions, as the bits of control octet 1 shifted right by 2. */
enum iec104_utype {
	IEC104_U_STARTDT_ACT = 0x01,
	IEC104_U_STARTDT_CON = 0x02,
	IEC104_U_STOPDT_ACT = 0x04,
	IEC104_U_STOPDT_CON = 0x08,
	IEC104_U_TESTFR_ACT = 0x10,
	IEC104_U_TESTFR_CON = 0x20,
};

/* What a type id carries, per IEC 60870-5-101/104 table 8 onwards. */
enum iec104_type_class {
	IEC104_CLASS_UNKNOWN,	     /* reserved or private range */
	IEC104_CLASS_MONITOR,	     /* 1..44: process information */
	IEC104_CLASS_CONTROL,	     /* 45..69: process commands */
	IEC104_CLASS_SYSTEM_MONITOR, /* 70..99: end of initialisation */
	IEC104_CLASS_SYSTEM_CONTROL, /* 100..109: interrogation, clock... */
	IEC104_CLASS_PARAMETER,	     /* 110..119: parameter activation */
	IEC104_CLASS_FILE,	     /* 120..127: file transfer */
};

struct iec104_apdu {
	uint8_t length; /* APDU length field */
	enum iec104_apci apci;
	uint8_t utype;	   /* U frames: enum iec104_utype */
	uint16_t send_seq; /* I frames */
	uint16_t recv_seq; /* I and S frames */
	bool has_asdu;	   /* I frames */
	uint8_t type_id;
	bool sq; /* objects are one consecutive run */
	uint8_t num_objects;
	uint8_t cot; /* cause of transmission, 6 bits */
	bool negative;
	bool test;
	uint8_t originator;
	uint16_t ca;	     /* common address of the ASDU */
	bool objects_parsed; /* false: type id without known size */
	uint8_t n_ioa;	     /* == num_objects when parsed */
	uint32_t ioa[IEC104_MAX_OBJECTS];
};

/*
 * Decode one APDU from the front of buf. COMPLETE: `consumed` is 2 + the
 * length field. NEED_MORE: `needed` is the total length required. ERROR:
 * a bad start byte or length reports consumed 0 (no resynchronisation);
 * a well-framed APDU with bad contents reports its full length. Fields
 * decoded so far are set in *out. `dir` is accepted for symmetry with the
 * other parsers: 104 frames have the same layout both ways.
 */
void iec104_parse(const uint8_t *buf, size_t len, enum dpi_dir dir,
		  struct iec104_apdu *out, struct dpi_result *res);

/* Size of one information element (without IOA); -1 when unknown. */
int iec104_element_size(uint8_t type_id);
enum iec104_type_class iec104_type_class(uint8_t type_id);
/* Commands in control direction: process, system and parameter types. */
bool iec104_type_is_command(uint8_t type_id);
/* "C_SC_NA_1", ...; NULL for a type id without a name. */
const char *iec104_type_name(uint8_t type_id);
/* "STARTDT act", ...; NULL unless exactly one known bit is set. */
const char *iec104_utype_name(uint8_t utype);
/* "I", "S", "U" */
const char *iec104_apci_name(enum iec104_apci apci);

#endif
