/*
 * nDPI glue: protocol identification on the first packets of a flow.
 * One `struct classify` per engine/thread (the nDPI detection module and
 * a preallocated pool of nDPI flow structs); a flow holds a slot only
 * while it is being identified and gives it back at once when nDPI is
 * done, gives up, or CLASSIFY_MAX_PACKETS packets went by.
 *
 * Only real detections count: nDPI's guesses by port (what
 * ndpi_detection_giveup would return) are never reported as identified.
 */
#ifndef CONDUIT_DPI_CLASSIFY_H
#define CONDUIT_DPI_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpi/engine.h"
#include "dpi/pkt.h"

#define CLASSIFY_NO_SLOT UINT32_MAX
#define CLASSIFY_MAX_PACKETS 12 /* packets (both directions) looked at */
#define CLASSIFY_DEFAULT_SLOTS 1024

struct classify;

enum classify_status {
	CLASSIFY_MORE,	   /* not yet: give the next packet of the flow */
	CLASSIFY_DONE,	   /* *out holds the identification */
	CLASSIFY_UNKNOWN,  /* nDPI found nothing within the packet budget */
	CLASSIFY_NO_SLOT_, /* pool exhausted: not identified (exception) */
};

struct classify_result {
	uint16_t master;   /* nDPI master protocol id (0: none) */
	uint16_t app;	   /* nDPI app protocol id */
	uint16_t category; /* ndpi_protocol_category_t */
	/* "Modbus", "TLS.Google": nDPI's own name of the pair */
	char name[48];
	/* our parser for what nDPI found (NONE: not an ICS protocol) */
	enum engine_proto proto;
};

/* slots 0: CLASSIFY_DEFAULT_SLOTS. NULL with errno. */
struct classify *classify_alloc(size_t slots);
void classify_free(struct classify *c);

/*
 * One packet of a flow. *slot is the flow's slot index (start with
 * CLASSIFY_NO_SLOT); *seen counts the packets looked at (start 0).
 * `now_us` the packet time. On DONE, UNKNOWN and NO_SLOT_ the slot is
 * released and *slot reset. Allocates nothing (nDPI may, inside its own
 * dissectors, for a few protocols' reassembly buffers; they are freed
 * with the slot).
 */
enum classify_status classify_packet(struct classify *c, uint32_t *slot,
				     uint8_t *seen, const struct pkt *p,
				     uint64_t now_us,
				     struct classify_result *out);

/* nDPI's name of a master/app pair ("Modbus", "TLS.Google"); buf. */
const char *classify_name(struct classify *c, uint16_t master, uint16_t app,
			  char *buf, size_t len);

/* Give a slot back early (flow ended while being identified). */
void classify_release(struct classify *c, uint32_t *slot);

/*
 * Whether r is one of the names (case-insensitive; "modbus", "http",
 * "tls", ...): matches nDPI's name of the master or of the app protocol.
 */
bool classify_result_is(const struct classify *c,
			const struct classify_result *r, const char *name);

/* nDPI protocol id of a name, -1 when nDPI does not know it (the policy
 * validator uses these through a classify instance of its own). */
int classify_proto_id(struct classify *c, const char *name);
/* Category id of a policy name ("mail", "chat", "file-sharing",
 * "social-network", "remote-access", "voip", ...: nDPI's category name,
 * lower case, spaces as '-'); -1 when unknown. No nDPI instance needed. */
int classify_category_id(const char *name);
/* Policy name of a category id ("file-sharing"); "unspecified". */
const char *classify_category_name(int id);

/* Packets seen, detections, unknowns, pool-full events. */
struct classify_stats {
	uint64_t packets, done, unknown, no_slot;
};
const struct classify_stats *classify_get_stats(const struct classify *c);

#endif
