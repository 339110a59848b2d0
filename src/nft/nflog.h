/*
 * Denied packets from the kernel: the NFLOG group socket (nfnetlink_log
 * through libmnl), a pure parser of one NFULNL_MSG_PACKET message, and the
 * aggregation of logged packets into the "deny ..." lines of
 * docs/dev/CONTRACTS.md. Events leave this module only through the
 * callback; it never logs by itself and does not allocate per packet.
 */
#ifndef CONDUIT_NFT_NFLOG_H
#define CONDUIT_NFT_NFLOG_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "policy/model.h"

#define NFLOG_COPY_RANGE 256u /* packet bytes copied to us per log */
#define NFLOG_MAX_ENTRIES_LIMIT (1u << 20)
#define NFLOG_LINE_MAX 320 /* always enough for nflog_event_format */

enum nflog_action {
	NFLOG_ACTION_DENY = 1, /* prefix cd:deny:... */
	NFLOG_ACTION_ACCEPT,   /* prefix cd:accept:<conduit> (log: true) */
};

enum nflog_reason {
	NFLOG_REASON_NONE = 0, /* accept events */
	NFLOG_REASON_NO_CONDUIT,
	NFLOG_REASON_CONDUIT,
	NFLOG_REASON_NO_ZONE,
	NFLOG_REASON_REVOKED,
	NFLOG_REASON_INVALID,
	NFLOG_REASON_ISLAND,
	NFLOG_REASON_INPUT,
	NFLOG_REASON_OVERFLOW, /* never in a prefix: aggregation table full */
};

/* "no-conduit", ... as written in prefixes and log lines; "-" for NONE. */
const char *nflog_reason_name(enum nflog_reason reason);

/* One logged packet as the pure parser sees it. */
struct nflog_pkt {
	enum nflog_action action;
	enum nflog_reason reason;
	char conduit[POL_NAME_MAX + 1]; /* "" when the prefix names none */
	uint32_t indev;			/* ifindex, 0 = absent */
	uint32_t outdev;
	char indev_name[IF_NAMESIZE]; /* "" unless resolved (not by the parser) */
	char outdev_name[IF_NAMESIZE];
	uint16_t hw_protocol; /* host order, 0 = absent */
	uint8_t hook;
	bool has_seq;
	uint32_t seq;	   /* NFULA_SEQ, instance-local */
	int family;	   /* AF_INET or AF_INET6 */
	uint8_t proto;	   /* upper layer after IPv6 ext headers */
	uint8_t saddr[16]; /* 4 or 16 bytes used, by family */
	uint8_t daddr[16];
	bool has_ports; /* tcp/udp/sctp header captured */
	uint16_t sport;
	uint16_t dport;
	int icmp_type; /* -1 when not icmp or not captured */
	int icmp_code;
	bool fragment;	   /* a non-first fragment: no L4 header */
	bool l4_truncated; /* L4 header beyond the copy range */
	uint32_t caplen;   /* NFULA_PAYLOAD bytes */
};

/*
 * Parse one netlink message (len bytes at buf, the whole message).
 * Returns 0 and fills *out; -ENOMSG for a well-formed message that is not
 * an NFLOG packet (NLMSG_DONE, acks, other subsystems); -EINVAL for a
 * malformed netlink message or attribute; -EPROTO when the prefix is
 * missing or is not one of conduitd's; -EBADMSG when the packet bytes are
 * not a parseable IPv4/IPv6 header. A captured packet whose L4 header was
 * cut off is not an error (l4_truncated). buf must be 4-byte aligned, as
 * netlink delivers it. No I/O, no allocation.
 */
int nflog_parse_msg(const void *buf, size_t len, struct nflog_pkt *out);

/* Parse a prefix "cd:deny:<reason>[:<conduit>]" / "cd:accept:<conduit>"
 * into pkt->action, reason and conduit. 0 or -EPROTO. */
int nflog_parse_prefix(const char *prefix, struct nflog_pkt *pkt);

/*
 * A deny (or accept) line in typed form. The strings are borrowed from the
 * reader and valid only during the callback.
 */
struct deny_event {
	enum nflog_action action;
	enum nflog_reason reason; /* NONE for accept events */
	const char *conduit;	  /* NULL when none */
	const char *zone_from;	  /* NULL when unclassified */
	const char *zone_to;
	int family; /* AF_INET, AF_INET6; 0 for overflow */
	uint8_t proto;
	uint8_t saddr[16];
	uint8_t daddr[16];
	bool has_sport; /* false when aggregated ports varied */
	uint16_t sport;
	bool has_dport;
	uint16_t dport;
	int icmp_type; /* -1 when none or when it varied */
	uint64_t packets;
	bool aggregated; /* end-of-interval sum */
};

typedef void (*nflog_cb)(const struct deny_event *ev, void *arg);

struct nflog_reader;

/*
 * Bind NFLOG group `group` (exclusive in the kernel: EPERM or EBUSY when
 * another socket owns it) and prepare aggregation with `interval_sec` (the
 * deny-log-interval, > 0) and room for `max_entries` distinct keys
 * (1..NFLOG_MAX_ENTRIES_LIMIT). Returns NULL and sets errno on failure.
 * Needs CAP_NET_ADMIN in the socket's network namespace.
 */
struct nflog_reader *nflog_open(uint16_t group, unsigned interval_sec,
				size_t max_entries);
/* A reader without a socket: only nflog_ingest/nflog_feed/nflog_tick work
 * (tests, fuzzing, replay). NULL + errno. */
struct nflog_reader *nflog_alloc(unsigned interval_sec, size_t max_entries);
/* Frees the reader and closes its socket; NULL is a no-op. Pending
 * aggregated counts are dropped (call nflog_flush first to keep them). */
void nflog_close(struct nflog_reader *r);

/* The socket to poll for reading; -1 for a reader from nflog_alloc. */
int nflog_fd(const struct nflog_reader *r);

/*
 * Read every pending datagram without blocking (at most a bounded number
 * per call so that a flood cannot starve the event loop; poll again), and
 * parse, classify and aggregate each packet. Packets are stamped with the
 * time of the last nflog_tick. p may be NULL (no zone names). Returns the
 * number of packet messages processed, or -errno on a socket error.
 * cb must not call back into this reader.
 */
int nflog_dispatch(struct nflog_reader *r, const struct pol_policy *p,
		   nflog_cb cb, void *arg);

/* As nflog_dispatch on one datagram already read (several netlink
 * messages), with interface names left unresolved. Returns the number of
 * packet messages processed. */
int nflog_feed(struct nflog_reader *r, const void *buf, size_t len,
	       const struct pol_policy *p, time_t now, nflog_cb cb, void *arg);

/*
 * Aggregate one parsed packet: a new key emits its first line at once
 * (packets=1); a known key is counted for the end of its interval; when
 * the table is full the packet is counted as unitemised. Zones come from
 * policy_classify (source: saddr + indev_name, destination: daddr +
 * outdev_name); p may be NULL. Returns 1 when an event was emitted, 0 when
 * the packet was counted, -EINVAL on bad arguments.
 */
int nflog_ingest(struct nflog_reader *r, const struct nflog_pkt *pkt,
		 const struct pol_policy *p, time_t now, nflog_cb cb,
		 void *arg);

/*
 * Call every second with a clock of the caller's choice (the same one for
 * every call): emits the aggregated line of each key whose interval ended
 * with packets counted, forgets keys silent for a whole interval, and
 * emits one "reason=overflow" line per interval for unitemised packets.
 */
void nflog_tick(struct nflog_reader *r, time_t now, nflog_cb cb, void *arg);

/* Emit every pending aggregated count now (shutdown, reload) and forget
 * all keys. */
void nflog_flush(struct nflog_reader *r, nflog_cb cb, void *arg);

/*
 * Write the log line of docs/dev/CONTRACTS.md, e.g.
 * "deny reason=no-conduit conduit=- from=enterprise to=control proto=tcp
 *  src=198.18.10.2:40000 dst=198.18.30.10:502 packets=1".
 * Accept events read "accept conduit=NAME from=... packets=N". Returns buf,
 * or NULL when len is too small (buf then holds a truncated line);
 * NFLOG_LINE_MAX always suffices.
 */
const char *nflog_event_format(const struct deny_event *ev, char *buf,
			       size_t len);

struct nflog_stats {
	uint64_t packets;    /* NFLOG packet messages parsed and ingested */
	uint64_t events;     /* lines emitted through the callback */
	uint64_t malformed;  /* netlink messages/datagrams skipped (-EINVAL) */
	uint64_t bad_packet; /* packet bytes not IPv4/IPv6 (-EBADMSG) */
	uint64_t bad_prefix; /* prefix missing or not ours (-EPROTO) */
	uint64_t truncated;  /* logged without ports: L4 beyond copy range */
	uint64_t unitemised; /* packets counted under reason=overflow */
	uint64_t enobufs;    /* socket overruns reported by recv */
	uint64_t lost;	  /* NFULA_SEQ gaps: logged by the kernel, never read */
	uint64_t entries; /* keys in the table now */
};

void nflog_get_stats(const struct nflog_reader *r, struct nflog_stats *out);

#endif
