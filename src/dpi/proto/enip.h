/*
 * EtherNet/IP encapsulation and CIP explicit messaging parser: the 24-byte
 * encapsulation header, the Common Packet Format item list of SendRRData /
 * SendUnitData, and the CIP message inside with its EPATH decoded to
 * class/instance/attribute. Multiple Service Packet and Unconnected Send
 * are unpacked so every embedded request is reported. UDP 2222 class 0/1
 * I/O is only recognised. Pure: no I/O, no allocation, no global state.
 */
#ifndef CONDUIT_DPI_PROTO_ENIP_H
#define CONDUIT_DPI_PROTO_ENIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpi/proto/proto.h"

#define ENIP_HDR_LEN 24
#define ENIP_MAX_DATA 65511 /* largest encapsulated data length */
#define ENIP_MAX_ITEMS 4    /* CPF items decoded (more: error) */
#define ENIP_MAX_CIP 32	    /* CIP messages reported per PDU */

enum enip_command {
	ENIP_CMD_NOP = 0x0000,
	ENIP_CMD_LIST_SERVICES = 0x0004,
	ENIP_CMD_LIST_IDENTITY = 0x0063,
	ENIP_CMD_LIST_INTERFACES = 0x0064,
	ENIP_CMD_REGISTER_SESSION = 0x0065,
	ENIP_CMD_UNREGISTER_SESSION = 0x0066,
	ENIP_CMD_SEND_RR_DATA = 0x006f,
	ENIP_CMD_SEND_UNIT_DATA = 0x0070,
	ENIP_CMD_INDICATE_STATUS = 0x0072,
	ENIP_CMD_CANCEL = 0x0073,
};

enum enip_item_type {
	ENIP_ITEM_NULL_ADDR = 0x0000,
	ENIP_ITEM_LIST_IDENTITY = 0x000c,
	ENIP_ITEM_CONN_ADDR = 0x00a1,
	ENIP_ITEM_CONN_DATA = 0x00b1,
	ENIP_ITEM_UNCONN_DATA = 0x00b2,
	ENIP_ITEM_LIST_SERVICES = 0x0100,
	ENIP_ITEM_SOCKADDR_OT = 0x8000,
	ENIP_ITEM_SOCKADDR_TO = 0x8001,
	ENIP_ITEM_SEQ_ADDR = 0x8002,
};

#define CIP_SERVICE_RESPONSE 0x80
#define CIP_SERVICE_MASK 0x7f

/* CIP services this module looks into. */
enum cip_service {
	CIP_SVC_GET_ATTRIBUTES_ALL = 0x01,
	CIP_SVC_GET_ATTRIBUTE_LIST = 0x03,
	CIP_SVC_SET_ATTRIBUTE_LIST = 0x04,
	CIP_SVC_RESET = 0x05,
	CIP_SVC_START = 0x06,
	CIP_SVC_STOP = 0x07,
	CIP_SVC_MULTIPLE_SERVICE = 0x0a,
	CIP_SVC_GET_ATTRIBUTE_SINGLE = 0x0e,
	CIP_SVC_SET_ATTRIBUTE_SINGLE = 0x10,
	CIP_SVC_UNCONNECTED_SEND = 0x52, /* to the Connection Manager */
	CIP_SVC_FORWARD_CLOSE = 0x4e,
	CIP_SVC_FORWARD_OPEN = 0x54,
	CIP_SVC_LARGE_FORWARD_OPEN = 0x5b,
};

#define CIP_CLASS_MESSAGE_ROUTER 0x02
#define CIP_CLASS_CONNECTION_MANAGER 0x06

/* One CIP message: a request (with its path) or a response (status). */
struct enip_cip {
	uint8_t service; /* without the response bit */
	bool response;
	uint8_t depth; /* 0: top level; 1+: inside MSP/Unconnected Send */
	bool has_class, has_instance, has_attribute;
	bool symbolic;	   /* request path names a symbol (tag) */
	bool path_repeats; /* a second class or instance segment follows:
				 * the target is ambiguous for allow-lists */
	uint32_t class_id;
	uint32_t instance;
	uint32_t attribute;
	/* Forward Open / Large Forward Open / Forward Close: the target */
	bool has_conn_class, has_conn_instance;
	uint32_t conn_class;
	uint32_t conn_instance; /* instance or connection point */
	uint8_t general_status; /* responses */
	uint16_t ext_status;	/* first extended status word, if any */
};

struct enip_item {
	uint16_t type;
	uint16_t len;
};

struct enip_pdu {
	/* encapsulation header */
	uint16_t command;
	uint16_t length;
	uint32_t session;
	uint32_t status;
	uint8_t context[8];
	uint32_t options;
	/* SendRRData / SendUnitData */
	bool has_cpf;
	uint32_t interface_handle;
	uint16_t timeout;
	uint16_t n_items;
	struct enip_item items[ENIP_MAX_ITEMS];
	bool has_conn_id;
	uint32_t conn_id; /* connected or sequenced address item */
	bool has_cip_seq;
	uint16_t cip_seq; /* connected data item sequence count */
	/* CIP messages: the outer one first, embedded ones after it */
	uint8_t n_cip;
	bool cip_truncated; /* more than ENIP_MAX_CIP messages */
	struct enip_cip cip[ENIP_MAX_CIP];
};

/*
 * Decode one encapsulation PDU at the start of buf (a TCP stream or a UDP
 * datagram). DPI_NEED_MORE with `needed` = 24 until the header is in, then
 * 24 + length. DPI_ERROR consumes the whole PDU when its length is known.
 * `dir` selects the request/response checks of the List* commands.
 */
enum dpi_status enip_parse(const uint8_t *buf, size_t len, enum dpi_dir dir,
			   struct enip_pdu *e, struct dpi_result *r);

/*
 * Decode one CIP message (service, path, data) as found in a data item,
 * appending it and anything it embeds to e->cip. Exposed for tests and
 * for callers holding a bare CIP message. Returns NULL or an error string.
 */
const char *enip_cip_parse(const uint8_t *buf, size_t len, struct enip_pdu *e);

/* True when a UDP datagram looks like CIP class 0/1 I/O (port 2222). */
bool enip_io_recognise(const uint8_t *buf, size_t len);

bool enip_command_known(uint16_t command);
/* Lower-case name of an encapsulation command, NULL when unknown. */
const char *enip_command_name(uint16_t command);
/*
 * True for requests that only read (get attribute(s), Logix read tag) or
 * that only carry other requests or manage connections (Multiple Service
 * Packet, Unconnected Send, Forward Open/Close: their embedded requests are
 * reported and checked on their own), for the read-only preset. Services
 * 0x4b-0x63 are class specific, so the class decides.
 */
bool cip_request_is_read(const struct enip_cip *c);

#endif
