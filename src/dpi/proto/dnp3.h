/*
 * DNP3 (IEEE 1815) parser: link layer frames with every CRC checked,
 * transport reassembly into a caller-provided per-direction state, and the
 * application layer header with its object headers walked. TCP and UDP
 * carry the same link frames. Pure: no I/O, no allocation, no global state.
 */
#ifndef CONDUIT_DPI_PROTO_DNP3_H
#define CONDUIT_DPI_PROTO_DNP3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpi/proto/proto.h"

#define DNP3_LINK_HDR_LEN 10	/* start, len, ctrl, dst, src, crc */
#define DNP3_LINK_MIN_LEN 5	/* LEN counts ctrl + dst + src + user data */
#define DNP3_LINK_MAX_USER 250	/* user data bytes of one frame */
#define DNP3_LINK_MAX_FRAME 292 /* 10 + 250 + 16 block CRCs */
#define DNP3_TP_MAX_PAYLOAD 249 /* user data minus the transport header */
#define DNP3_APDU_MAX 2048	/* largest application fragment accepted */
#define DNP3_MAX_OBJECTS 32	/* object headers decoded per fragment */

/* Link control byte. */
#define DNP3_LINK_DIR 0x80 /* set: from master */
#define DNP3_LINK_PRM 0x40 /* set: primary (initiating) frame */
#define DNP3_LINK_FCV 0x10 /* primary: frame count valid */
#define DNP3_LINK_FUNC_MASK 0x0f
#define DNP3_LINK_CONFIRMED_DATA 3   /* primary functions carrying */
#define DNP3_LINK_UNCONFIRMED_DATA 4 /* transport segments */

/* Transport header. */
#define DNP3_TP_FIN 0x80
#define DNP3_TP_FIR 0x40
#define DNP3_TP_SEQ_MASK 0x3f

/* Application control byte. */
#define DNP3_APP_FIR 0x80
#define DNP3_APP_FIN 0x40
#define DNP3_APP_CON 0x20
#define DNP3_APP_UNS 0x10
#define DNP3_APP_SEQ_MASK 0x0f

/* Application function codes this module gives a meaning to. */
enum dnp3_func {
	DNP3_FC_CONFIRM = 0,
	DNP3_FC_READ = 1,
	DNP3_FC_WRITE = 2,
	DNP3_FC_SELECT = 3,
	DNP3_FC_OPERATE = 4,
	DNP3_FC_DIRECT_OPERATE = 5,
	DNP3_FC_DIRECT_OPERATE_NR = 6,
	DNP3_FC_IMMED_FREEZE = 7,
	DNP3_FC_IMMED_FREEZE_NR = 8,
	DNP3_FC_FREEZE_CLEAR = 9,
	DNP3_FC_FREEZE_CLEAR_NR = 10,
	DNP3_FC_FREEZE_AT_TIME = 11,
	DNP3_FC_FREEZE_AT_TIME_NR = 12,
	DNP3_FC_COLD_RESTART = 13,
	DNP3_FC_WARM_RESTART = 14,
	DNP3_FC_INITIALIZE_DATA = 15,
	DNP3_FC_INITIALIZE_APPL = 16,
	DNP3_FC_START_APPL = 17,
	DNP3_FC_STOP_APPL = 18,
	DNP3_FC_SAVE_CONFIG = 19,
	DNP3_FC_ENABLE_UNSOLICITED = 20,
	DNP3_FC_DISABLE_UNSOLICITED = 21,
	DNP3_FC_ASSIGN_CLASS = 22,
	DNP3_FC_DELAY_MEASURE = 23,
	DNP3_FC_RECORD_CURRENT_TIME = 24,
	DNP3_FC_OPEN_FILE = 25,
	DNP3_FC_CLOSE_FILE = 26,
	DNP3_FC_DELETE_FILE = 27,
	DNP3_FC_GET_FILE_INFO = 28,
	DNP3_FC_AUTHENTICATE_FILE = 29,
	DNP3_FC_ABORT_FILE = 30,
	DNP3_FC_ACTIVATE_CONFIG = 31,
	DNP3_FC_AUTH_REQUEST = 32,
	DNP3_FC_AUTH_REQUEST_NR = 33,
	DNP3_FC_RESPONSE = 129,
	DNP3_FC_UNSOLICITED_RESPONSE = 130,
	DNP3_FC_AUTH_RESPONSE = 131,
};

/* What a function does to the outstation, for policy presets. */
enum dnp3_func_class {
	DNP3_FCLASS_UNKNOWN,	 /* not defined by IEEE 1815-2012 */
	DNP3_FCLASS_READ,	 /* confirm, read, delay measurement, auth */
	DNP3_FCLASS_RESPONSE,	 /* outstation responses */
	DNP3_FCLASS_CONTROL,	 /* select, operate, direct operate (nr) */
	DNP3_FCLASS_WRITE,	 /* write */
	DNP3_FCLASS_FREEZE,	 /* immediate / clear / at-time freezes */
	DNP3_FCLASS_RESTART,	 /* cold and warm restart */
	DNP3_FCLASS_APPLICATION, /* initialize / start / stop application */
	DNP3_FCLASS_CONFIG,	 /* save/activate config, (un)solicited, class,
				 * record current time */
	DNP3_FCLASS_FILE,	 /* file transfer functions */
};

enum dnp3_preset {
	DNP3_PRESET_READ_ONLY, /* READ, RESPONSE, and the (un)solicited
				 * enables a polling master needs */
	DNP3_PRESET_OPERATE,   /* read-only plus CONTROL */
	DNP3_PRESET_ALL,
};

/* One decoded link frame; user data with the block CRCs stripped. */
struct dnp3_link {
	uint8_t len; /* LEN field */
	uint8_t ctrl;
	uint16_t dst;
	uint16_t src;
	uint8_t user_len;
	uint8_t user[DNP3_LINK_MAX_USER];
};

/*
 * Transport reassembly state, one per flow direction (and link address
 * pair). Fixed size; the caller owns it. Initialise with dnp3_tp_init().
 */
struct dnp3_tp {
	bool active; /* a FIR segment started a fragment */
	uint8_t next_seq;
	size_t len;
	uint8_t buf[DNP3_APDU_MAX];
};

enum dnp3_tp_status {
	DNP3_TP_MORE,  /* segment accepted, fragment not finished */
	DNP3_TP_DONE,  /* tp->buf[0 .. tp->len) holds a fragment */
	DNP3_TP_ERROR, /* segment rejected; state reset */
};

/* Object header qualifier: index prefix code (bits 6-4), range (3-0). */
#define DNP3_QUAL_PREFIX(q) (((q) >> 4) & 0x07)
#define DNP3_QUAL_RANGE(q) ((q)&0x0f)

struct dnp3_object {
	uint8_t group;
	uint8_t variation;
	uint8_t qualifier; /* raw byte */
	bool ranged;	   /* start/stop are meaningful */
	uint32_t start;	   /* range start, or lowest index prefix */
	uint32_t stop;	   /* range stop, or highest index prefix */
	uint32_t count;	   /* objects in this header (0 for "all") */
};

struct dnp3_apdu {
	uint8_t ctrl;
	uint8_t func;
	bool has_iin; /* responses (129, 130, 131) */
	uint16_t iin; /* IIN1 << 8 | IIN2 */
	uint8_t n_objects;
	bool objects_truncated; /* walk stopped: unknown object size or
				 * more than DNP3_MAX_OBJECTS headers */
	struct dnp3_object objects[DNP3_MAX_OBJECTS];
};

/* CRC-16/DNP over buf[0 .. n). */
uint16_t dnp3_crc(const uint8_t *buf, size_t n);

/* Total bytes on the wire of a frame whose LEN field is `len`. */
size_t dnp3_link_frame_size(uint8_t len);

/*
 * Decode one link frame at the start of buf. DPI_NEED_MORE with `needed`
 * set to the frame size (10 until the header is in); DPI_ERROR with
 * `consumed` = 1 for a bad start or header (resynchronise), the frame size
 * for a bad data block CRC. Returns r->status.
 */
enum dpi_status dnp3_link_parse(const uint8_t *buf, size_t len,
				struct dnp3_link *lk, struct dpi_result *r);

/* True when the frame carries a transport segment (primary user data). */
bool dnp3_link_has_data(const struct dnp3_link *lk);

void dnp3_tp_init(struct dnp3_tp *tp);

/*
 * Feed the user data of one link frame (transport header + payload).
 * A FIR segment always restarts; a non-FIR one must continue the sequence.
 * On DNP3_TP_ERROR, *why says what was wrong.
 */
enum dnp3_tp_status dnp3_tp_push(struct dnp3_tp *tp, const uint8_t *seg,
				 size_t len, const char **why);

/*
 * Decode one complete application fragment: header, IIN for responses and
 * the object headers. Object sizes come from a table of the common
 * groups/variations; an unknown size ends the walk with objects_truncated
 * set (not an error). Returns r->status; DPI_COMPLETE consumes all of buf.
 */
enum dpi_status dnp3_app_parse(const uint8_t *buf, size_t len,
			       struct dnp3_apdu *a, struct dpi_result *r);

enum dnp3_func_class dnp3_func_class(uint8_t func);
bool dnp3_func_is_control(uint8_t func);
bool dnp3_func_is_write(uint8_t func);
bool dnp3_func_is_restart_or_stop(uint8_t func);
bool dnp3_preset_allows(enum dnp3_preset p, uint8_t func);

/* Lower-case name ("direct-operate"), or NULL for undefined codes. */
const char *dnp3_func_name(uint8_t func);
/* Inverse of dnp3_func_name; -1 when unknown. */
int dnp3_func_from_name(const char *name);

#endif
