/*
 * Modbus/TCP parser: one MBAP-framed ADU in, its header, function, exception
 * and the address ranges a conduit rule checks out. Request and response
 * layouts differ, so the caller says which direction the bytes travel.
 * Pure: no I/O, no allocation, no global state.
 */
#ifndef CONDUIT_DPI_PROTO_MODBUS_H
#define CONDUIT_DPI_PROTO_MODBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpi/proto/proto.h"

#define MODBUS_MBAP_LEN 7  /* transaction, protocol, length, unit id */
#define MODBUS_LEN_MIN 2   /* MBAP length field: unit id + function */
#define MODBUS_LEN_MAX 254 /* unit id + 253-byte PDU */
/* FC 90 (UMAS) only: Schneider's engineering tools fill the MBAP length
 * to 255, one over the limit of the spec (seen in real captures). */
#define MODBUS_LEN_UMAS_MAX 255
#define MODBUS_ADU_MAX (6 + MODBUS_LEN_UMAS_MAX)

/* Quantity limits of the Modbus application protocol v1.1b3. */
#define MODBUS_MAX_READ_BITS 2000
#define MODBUS_MAX_WRITE_BITS 1968
#define MODBUS_MAX_READ_REGS 125
#define MODBUS_MAX_WRITE_REGS 123
#define MODBUS_MAX_RW_WRITE_REGS 121

enum modbus_fc {
	MODBUS_FC_READ_COILS = 1,
	MODBUS_FC_READ_DISCRETE_INPUTS = 2,
	MODBUS_FC_READ_HOLDING_REGISTERS = 3,
	MODBUS_FC_READ_INPUT_REGISTERS = 4,
	MODBUS_FC_WRITE_SINGLE_COIL = 5,
	MODBUS_FC_WRITE_SINGLE_REGISTER = 6,
	MODBUS_FC_READ_EXCEPTION_STATUS = 7,
	MODBUS_FC_DIAGNOSTICS = 8,
	MODBUS_FC_GET_COMM_EVENT_COUNTER = 11,
	MODBUS_FC_GET_COMM_EVENT_LOG = 12,
	MODBUS_FC_WRITE_MULTIPLE_COILS = 15,
	MODBUS_FC_WRITE_MULTIPLE_REGISTERS = 16,
	MODBUS_FC_REPORT_SERVER_ID = 17,
	MODBUS_FC_READ_FILE_RECORD = 20,
	MODBUS_FC_WRITE_FILE_RECORD = 21,
	MODBUS_FC_MASK_WRITE_REGISTER = 22,
	MODBUS_FC_READ_WRITE_REGISTERS = 23,
	MODBUS_FC_READ_FIFO_QUEUE = 24,
	MODBUS_FC_ENCAPSULATED_INTERFACE = 43,
	MODBUS_FC_UMAS = 90, /* Schneider Electric, proprietary */
};

#define MODBUS_EXCEPTION_BIT 0x80
#define MODBUS_MEI_CANOPEN 13
#define MODBUS_MEI_READ_DEVICE_ID 14

/* The data table an address refers to, for per-table address rules. */
enum modbus_table {
	MODBUS_TABLE_NONE,
	MODBUS_TABLE_COILS,
	MODBUS_TABLE_DISCRETE_INPUTS,
	MODBUS_TABLE_HOLDING_REGISTERS,
	MODBUS_TABLE_INPUT_REGISTERS,
};

struct modbus_pdu {
	uint16_t transaction_id;
	uint16_t protocol_id;
	uint16_t length; /* MBAP length field */
	uint8_t unit_id;
	uint8_t function; /* without the exception bit */
	bool exception;
	uint8_t exception_code;
	enum modbus_table table; /* table of address/quantity */
	bool has_range;		 /* address/quantity are meaningful */
	uint16_t address;	 /* FC 23: the read range */
	uint16_t quantity;
	bool has_write_range; /* FC 23 request only */
	uint16_t write_address;
	uint16_t write_quantity;
	bool writes; /* the request changes server state */
	bool has_byte_count;
	uint8_t byte_count;   /* as sent, checked against the data */
	uint16_t value;	      /* FC 5/6 value, FC 22 AND mask */
	uint16_t or_mask;     /* FC 22 */
	uint16_t subfunction; /* FC 8 sub-function */
	uint8_t mei_type;     /* FC 43 */
	uint8_t umas_code;    /* FC 90: UMAS function code (byte 2) */
	bool has_umas_code;
};

/*
 * Decode one ADU from the front of buf. COMPLETE: `consumed` is the ADU
 * length. NEED_MORE: `needed` is the total length required (7 before the
 * MBAP length is known, 8 when a length of 255 needs the function code to
 * tell UMAS, then 6 + length). ERROR: a bad MBAP (protocol id,
 * length) reports consumed 0, since the stream cannot be resynchronised;
 * a framed ADU with a bad PDU reports its full length so that the caller
 * may skip it. On COMPLETE and on PDU errors the fields decoded so far are
 * set in *out.
 */
void modbus_parse(const uint8_t *buf, size_t len, enum dpi_dir dir,
		  struct modbus_pdu *out, struct dpi_result *res);

/* "read-coils", ...; NULL for a code without a name. */
const char *modbus_fc_name(uint8_t fc);
/* Function code for a name of modbus_fc_name(); -1 when unknown. */
int modbus_fc_from_name(const char *name);
/* true for function codes whose request changes server state. */
bool modbus_fc_writes(uint8_t fc);
const char *modbus_exception_name(uint8_t code);

#endif
