/*
 * `conduitctl replay`: the DPI decision path over pcap/pcapng captures,
 * no daemon, no root. Link layers (Ethernet with 802.1Q/QinQ tags, Linux
 * SLL and SLL2, raw IP, BSD loopback) are stripped here; the rest is the
 * decision path the NFQUEUE workers use (engine + verdict). Output: one
 * line (or JSON object) per application PDU with its verdict, events, then
 * a summary; keys in conduitctl(8), notes in docs/dev/replay-output.md.
 */
#ifndef CONDUIT_DPI_REPLAY_H
#define CONDUIT_DPI_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "dpi/pkt.h"

/*
 * Strip the link header of DLT `dlt` (pcap_datalink) and decode the IP
 * packet under it into *p (VLAN tags into p->vlan). Returns what
 * pkt_decode_ip returns; -EPROTONOSUPPORT also for a link type or
 * ethertype that carries no IP, with p->error set.
 */
int replay_link_decode(int dlt, const uint8_t *buf, size_t len, struct pkt *p);

/* True when replay_link_decode knows the link type. */
int replay_link_supported(int dlt);

/*
 * The command: argv[0] is "replay". Options --policy FILE, --classify
 * port|ndpi, --events, --json (the caller may have consumed --json already
 * and passes json=1), --strict-stream; conduitctl(8) REPLAY. Returns the
 * process exit status: 0, 1 (a capture could not be read), 2 (usage, or
 * the policy was rejected: its diagnostics went to stderr).
 */
int replay_main(int argc, char **argv, int json);

#endif
