/*
 * S7comm parser: one TPKT (RFC 1006) in, its COTP TPDU (ISO 8073 class 0)
 * and, for a DT TPDU with end-of-TSDU, the S7comm header, the parameter
 * function, the read/write variable items and the userdata group and
 * subfunction out. S7comm-plus (protocol id 0x72) is recognised and flagged;
 * its opcode and function are decoded for protocol versions 1 and 2.
 * Pure: no I/O, no allocation, no global state.
 */
#ifndef CONDUIT_DPI_PROTO_S7COMM_H
#define CONDUIT_DPI_PROTO_S7COMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpi/proto/proto.h"

#define S7COMM_TPKT_VERSION 3
#define S7COMM_TPKT_HDR_LEN 4
#define S7COMM_TPKT_MIN 7 /* TPKT header + the shortest COTP DT */
#define S7COMM_MAX_ITEMS 32

#define S7COMM_PROTO_ID 0x32
#define S7COMM_PLUS_PROTO_ID 0x72

/* COTP TPDU codes (high nibble of the code octet, as tshark shows them). */
enum s7comm_cotp_type {
	S7COMM_COTP_ER = 0x7,
	S7COMM_COTP_DR = 0x8,
	S7COMM_COTP_DC = 0xc,
	S7COMM_COTP_CC = 0xd,
	S7COMM_COTP_CR = 0xe,
	S7COMM_COTP_DT = 0xf,
};

enum s7comm_rosctr {
	S7COMM_ROSCTR_JOB = 1,
	S7COMM_ROSCTR_ACK = 2,
	S7COMM_ROSCTR_ACK_DATA = 3,
	S7COMM_ROSCTR_USERDATA = 7,
};

enum s7comm_func {
	S7COMM_FN_CPU_SERVICES = 0x00,
	S7COMM_FN_READ_VAR = 0x04,
	S7COMM_FN_WRITE_VAR = 0x05,
	S7COMM_FN_REQUEST_DOWNLOAD = 0x1a,
	S7COMM_FN_DOWNLOAD_BLOCK = 0x1b,
	S7COMM_FN_DOWNLOAD_ENDED = 0x1c,
	S7COMM_FN_START_UPLOAD = 0x1d,
	S7COMM_FN_UPLOAD = 0x1e,
	S7COMM_FN_END_UPLOAD = 0x1f,
	S7COMM_FN_PI_SERVICE = 0x28,
	S7COMM_FN_PLC_STOP = 0x29,
	S7COMM_FN_SETUP_COMM = 0xf0,
};

/* Userdata function groups (low nibble of the type/group octet). */
enum s7comm_ud_group {
	S7COMM_UD_MODE_TRANSITION = 0,
	S7COMM_UD_PROGRAMMER = 1,
	S7COMM_UD_CYCLIC = 2,
	S7COMM_UD_BLOCK = 3,
	S7COMM_UD_CPU = 4,
	S7COMM_UD_SECURITY = 5,
	S7COMM_UD_PBC = 6,
	S7COMM_UD_TIME = 7,
	S7COMM_UD_NC_PROGRAMMING = 0xf,
};

/* One variable specification of a read/write var job. */
struct s7comm_item {
	uint8_t syntax_id; /* 0x10 S7ANY; other syntaxes: only this */
	uint8_t transport_size;
	uint16_t length; /* number of elements */
	uint16_t db;
	uint8_t area;	  /* 0x84 DB, 0x81 inputs, 0x82 outputs, ... */
	uint32_t address; /* bit address: byte * 8 + bit */
};

struct s7comm_pdu {
	uint16_t tpkt_length;
	uint8_t cotp_li;
	uint8_t cotp_type;     /* enum s7comm_cotp_type */
	uint16_t cotp_dst_ref; /* CR, CC, DR, DC, ER */
	uint16_t cotp_src_ref; /* CR, CC, DR, DC */
	uint8_t cotp_class;    /* CR, CC */
	bool cotp_eot;	       /* DT */
	uint8_t cotp_tpdu_nr;  /* DT */
	/* DT user data within the input buffer, for the caller's reassembly
	 * of a TSDU split over several DT TPDUs (see s7comm_parse_payload). */
	size_t payload_off;
	size_t payload_len;
	bool fragment; /* DT without end-of-TSDU: not decoded */

	bool has_s7; /* the S7 fields below are set */
	uint8_t protocol_id;
	bool s7plus;
	uint8_t rosctr;
	uint16_t pdu_ref;
	uint16_t param_len;
	uint16_t data_len;
	bool has_error; /* Ack and Ack_Data */
	uint8_t error_class;
	uint8_t error_code;
	bool has_function;    /* Job, Ack_Data (Ack when it has a param) */
	uint8_t function;     /* enum s7comm_func */
	uint8_t item_count;   /* read/write var, as sent */
	uint8_t n_items;      /* decoded into items[] */
	bool items_truncated; /* more than S7COMM_MAX_ITEMS */
	uint16_t pdu_size;    /* setup communication */
	bool has_userdata;
	uint8_t ud_method;	/* 0x11 request, 0x12 response */
	uint8_t ud_type;	/* 0 push, 4 request, 8 response */
	uint8_t ud_group;	/* enum s7comm_ud_group */
	uint8_t ud_subfunction; /* mode-transition push: the new mode */
	uint8_t ud_seq;

	uint8_t s7p_version;
	uint16_t s7p_data_len;
	bool s7p_has_opcode;
	uint8_t s7p_opcode; /* 0x31 request, 0x32 response, 0x33 notify */
	bool s7p_has_function;
	uint16_t s7p_function; /* 0x04ca create object, ... */

	/* Last, and not cleared by the parsers: only items[0 .. n_items)
	 * are meaningful (clearing 384 bytes per PDU was a third of the S7
	 * decode cost). */
	struct s7comm_item items[S7COMM_MAX_ITEMS];
};

/*
 * Decode one TPKT from the front of buf; a DT with end-of-TSDU is decoded
 * as a whole S7 PDU, a DT without it is flagged `fragment`. COMPLETE:
 * `consumed` is the TPKT length. NEED_MORE: `needed` is the total length
 * required (4 before the TPKT length is known). ERROR: a bad TPKT header reports consumed 0 (no
 * resynchronisation); a well-framed TPKT with bad contents reports its
 * full length. Fields decoded so far are set in *out.
 */
void s7comm_parse(const uint8_t *buf, size_t len, enum dpi_dir dir,
		  struct s7comm_pdu *out, struct dpi_result *res);

/*
 * TPKT and COTP only, same results as s7comm_parse: for a caller that
 * reassembles the user data of DT TPDUs (payload_off, payload_len) until
 * end-of-TSDU and then calls s7comm_parse_payload on the whole.
 */
void s7comm_parse_tpkt(const uint8_t *buf, size_t len, struct s7comm_pdu *out,
		       struct dpi_result *res);

/*
 * Decode a complete S7comm or S7comm-plus PDU (the user data of one or,
 * reassembled, several COTP DT TPDUs) into the S7 fields of *out (has_s7
 * onwards, cleared first but for items[] past n_items), leaving the
 * TPKT/COTP fields alone. Returns NULL or what was wrong.
 */
const char *s7comm_parse_payload(const uint8_t *p, size_t len, enum dpi_dir dir,
				 struct s7comm_pdu *out);

/* "read-var", ...; NULL for a code without a name. */
const char *s7comm_func_name(uint8_t func);
int s7comm_func_from_name(const char *name);
/* "job", "ack", "ack-data", "userdata"; NULL otherwise. */
const char *s7comm_rosctr_name(uint8_t rosctr);
/* "programmer", "cyclic", "block", "cpu", ...; NULL otherwise. */
const char *s7comm_ud_group_name(uint8_t group);

#endif
