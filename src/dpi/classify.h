/*
 * nDPI glue: protocol identification on the first packets of a flow.
 * One `struct classify` per engine/thread (the nDPI detection module and
 * a preallocated pool of nDPI flow structs); a flow holds a slot only
 * while it is being identified and gives it back at once when nDPI is
 * done, gives up, or CLASSIFY_MAX_PACKETS packets went by.
 *
 * Only real detections count: nDPI's guesses by port (what
 * ndpi_detection_giveup would return) are never reported as identified.
 * A result counts when nDPI reached it by content (flow confidence DPI or
 * DPI_CACHE), never MATCH_BY_PORT or MATCH_BY_IP; and 4.2's HTTP
 * dissector, which makes the port guess the master of what it found
 * ("Modbus.HTTP" for HTTP on TCP/502), has that master dropped ("HTTP").
 * (nDPI may still name the app part of a content detection from the
 * server address, "HTTP.Google": the master is what DPI found.)
 *
 * What nDPI 4.2 detects of the protocols we parse (classify_result.proto):
 *   Modbus    "Modbus" (TCP, port 502 and an MBAP length that fits)
 *   DNP3      "DNP3" (TCP only: DNP3 over UDP stays UNKNOWN)
 *   IEC 104   "IEC60870" (TCP)
 *   S7comm    "s7comm" (TPKT/COTP on 102; S7comm-plus is "s7comm" too)
 *   EtherNet/IP "EthernetIP": never. 4.2 ships the dissector but does not
 *             register it, so it only ever guesses by port 44818, which we
 *             reject. The mapping is kept for a later nDPI.
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

/*
 * slots 0: CLASSIFY_DEFAULT_SLOTS (each slot ~700 B; the detection module
 * ~7 MB and 10-12 ms). NULL with errno: EINVAL (slots too large), EPROTO
 * (the nDPI header does not match the library), ENOMEM. nDPI forbids
 * initialising two modules at the same time: call it from one thread at a
 * time (workers at start-up); the instances then run in parallel.
 */
struct classify *classify_alloc(size_t slots);
void classify_free(struct classify *c);

/*
 * One packet of a flow (p->l3, p->l3_len: the IP packet). *slot is the
 * flow's slot index (start with CLASSIFY_NO_SLOT); a call with
 * CLASSIFY_NO_SLOT takes a free slot, or returns NO_SLOT_ when there is
 * none (the caller may try again with a later packet; nDPI then starts
 * midstream). *seen counts the packets looked at (start 0; it grows on
 * every call, NO_SLOT_ included) and the answer is UNKNOWN once it reaches
 * CLASSIFY_MAX_PACKETS. `now_us` the packet time in microseconds (nDPI is
 * given milliseconds). *out is always written (zeroed unless DONE). On
 * DONE, UNKNOWN and NO_SLOT_ no slot is held any more and *slot is
 * CLASSIFY_NO_SLOT. Allocates nothing (nDPI may, inside its own
 * dissectors, for a few protocols' reassembly buffers and strings; they
 * are freed with the slot).
 */
enum classify_status classify_packet(struct classify *c, uint32_t *slot,
				     uint8_t *seen, const struct pkt *p,
				     uint64_t now_us,
				     struct classify_result *out);

/* nDPI's name of a master/app pair ("Modbus", "TLS.Google",
 * ndpi_protocol2name); returns buf. */
const char *classify_name(struct classify *c, uint16_t master, uint16_t app,
			  char *buf, size_t len);

/* Give a slot back early (flow ended while being identified). */
void classify_release(struct classify *c, uint32_t *slot);

/*
 * Whether r is one of the names (case-insensitive; "modbus", "http",
 * "tls", ...): matches nDPI's name of the master or of the app protocol,
 * or the combined name classify_packet wrote ("tls.google"). Id 0
 * (unknown) matches nothing.
 */
bool classify_result_is(const struct classify *c,
			const struct classify_result *r, const char *name);

/* nDPI protocol id of a name (case-insensitive, ndpi_get_protocol_id:
 * "modbus", "HTTP", "s7comm"), -1 when nDPI does not know it (the policy
 * validator uses these through a classify instance of its own). */
int classify_proto_id(struct classify *c, const char *name);
/*
 * Category id (ndpi_protocol_category_t) of a policy name, -1 when
 * unknown; case-insensitive; no nDPI instance needed (a static table from
 * the 4.2 header). Policy names: the enum constant without its prefix,
 * lower case, '_' as '-': "mail", "chat", "file-sharing",
 * "social-network", "remote-access", "voip", "vpn", "web", "streaming",
 * "game", "download-ft", "data-transfer", "media", "cloud", "iot-scada",
 * "malware", ... nDPI 4.2's own display names ("Email", "SocialNetwork",
 * "Download", "RemoteAccess": ndpi_category_get_name) are accepted too.
 * The five user custom categories have no name.
 */
int classify_category_id(const char *name);
/* Policy name of a category id ("file-sharing"); "unspecified" for an id
 * without one. */
const char *classify_category_name(int id);

/* Packets seen, detections, unknowns, pool-full events. */
struct classify_stats {
	uint64_t packets, done, unknown, no_slot;
};
const struct classify_stats *classify_get_stats(const struct classify *c);

#endif
