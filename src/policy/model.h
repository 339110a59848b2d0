/*
 * The validated conduit policy: zones, conduits and their allowed
 * services. This is the contract between the policy parser/validator
 * (producer), the diff, the nftables compiler and the daemon (consumers).
 *
 * One policy owns all its memory (an arena released by policy_free); every
 * pointer inside is borrowed from it. Locations point into the source file
 * so that later stages (compiler, kernel errors) can still name a line.
 */
#ifndef CONDUIT_POLICY_MODEL_H
#define CONDUIT_POLICY_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct diag_list;

#define POL_NAME_MAX 32	  /* zone and conduit names: [a-z0-9_-], 1..32 */
#define POL_IFNAME_MAX 16 /* IFNAMSIZ, including the NUL */
#define POL_SIZE_MAX_DEFAULT (32u * 1024 * 1024) /* policy file size limit */

struct pol_loc {
	int line; /* 1-based */
	int col;  /* 1-based */
};

/* An address prefix; family is AF_INET or AF_INET6; addr is the network
 * address with host bits cleared (the validator rejects set host bits). */
struct pol_prefix {
	int family;
	uint8_t addr[16];
	uint8_t len;
	struct pol_loc loc;
};

/* An interface name; wildcard means "name" is a prefix (written "vlan1*"). */
struct pol_iface {
	char name[POL_IFNAME_MAX];
	bool wildcard;
	struct pol_loc loc;
};

struct pol_zone {
	const char *name;
	const char *description; /* may be NULL */
	int security_level;	 /* SL-T 1..4; 0 when not given */
	bool management;	 /* the management zone (at most one) */
	bool intra_zone_allow; /* forward traffic between two members of this zone */
	struct pol_iface *ifaces;
	size_t n_ifaces;
	struct pol_prefix *nets;
	size_t n_nets;
	/* `deny-app-categories`: nDPI category names as classify.h spells
	 * them ("mail", "file-sharing": the enum constant without its
	 * prefix, lower case, '_' as '-') denied on every conduit from or
	 * to this zone (NDR 5.3) */
	const char *const *deny_categories;
	size_t n_deny_categories;
	uint32_t id; /* 1..n_zones, index + 1, stable within one policy */
	struct pol_loc loc; /* of the zone's key */
};

enum pol_proto {
	POL_PROTO_ICMP = 1,
	POL_PROTO_TCP = 6,
	POL_PROTO_UDP = 17,
	POL_PROTO_ICMPV6 = 58,
	POL_PROTO_SCTP = 132,
};

struct pol_port_range {
	uint16_t lo; /* 1..65535, lo <= hi */
	uint16_t hi;
	struct pol_loc loc;
};

enum pol_rate_unit {
	POL_RATE_SECOND,
	POL_RATE_MINUTE,
	POL_RATE_HOUR,
	POL_RATE_DAY,
};

struct pol_rate {
	uint32_t count; /* > 0 */
	enum pol_rate_unit unit;
	uint32_t burst; /* 0 = kernel default */
};

/*
 * One entry of a conduit's allow list. Matching is: proto AND (port in any
 * range, or any port when n_ports == 0) AND (source in from_hosts, or any)
 * AND (destination in to_hosts, or any). ICMP/ICMPv6 entries use icmp_type
 * (-1 = any) instead of ports. Host lists may mix families; an entry whose
 * host lists are all one family only applies to that family.
 */

/* --- protocol rules (deep inspection, conduit-policy(5) "PROTOCOL RULES") -
 *
 * An allow entry may carry one protocol block (modbus, dnp3, iec104,
 * s7comm, enip): the flows it admits are then parsed and every request PDU
 * is decided by the block. Presets are resolved by the validator into the
 * block's allow match, so consumers never interpret preset names.
 *
 * Decision for one PDU of an inspected flow (src/dpi/verdict.c):
 *  1. malformed (parser error, framing lost, limits such as max-pdu, a
 *     stream anomaly) -> the conduit's `malformed` action;
 *  2. requests: `rules` in order, the first whose criteria all match
 *     decides; responses are not matched against rules;
 *  3. requests: the block's allow match (preset + functions + ranges);
 *     the first criterion that fails denies and names itself;
 *  4. an allowed request that matches a rate limit takes a token of its
 *     bucket; an empty bucket -> the limit's action;
 *  5. allow.
 * Range criteria match conservatively: in an allow match (a rule with
 * action allow, or the block's allow match) every value of the PDU must lie
 * inside the listed ranges; in a deny or reject rule, any value inside
 * them is enough.
 */

/* Severity order: a packet carrying several PDUs gets the highest. */
enum pol_action {
	POL_ACT_ALLOW,
	POL_ACT_DENY,	/* drop */
	POL_ACT_REJECT, /* drop and reset the TCP connection */
};

/* Same numbering as enum engine_proto (dpi/engine.h). */
enum pol_app {
	POL_APP_NONE,
	POL_APP_MODBUS,
	POL_APP_DNP3,
	POL_APP_IEC104,
	POL_APP_S7COMM,
	POL_APP_ENIP,
	POL_APP_N,
};

/* Inclusive range of numbers (unit ids, addresses, indexes, ...). */
struct pol_range {
	uint32_t lo;
	uint32_t hi;
};

/* A list of ranges, sorted by lo and merged; n == 0: criterion absent. */
struct pol_ranges {
	const struct pol_range *v;
	size_t n;
};

/* A set of 0..255 (function codes, type ids, services). */
struct pol_set256 {
	uint64_t w[4];
};

static inline bool pol_set_has(const struct pol_set256 *s, unsigned int v)
{
	return v < 256 && (s->w[v >> 6] >> (v & 63) & 1) != 0;
}

static inline void pol_set_add(struct pol_set256 *s, unsigned int v)
{
	if (v < 256)
		s->w[v >> 6] |= (uint64_t)1 << (v & 63);
}

bool pol_ranges_has(const struct pol_ranges *r, uint32_t v);
/* [lo, hi] entirely inside the union of r / overlapping any range of r. */
bool pol_ranges_cover(const struct pol_ranges *r, uint32_t lo, uint32_t hi);
bool pol_ranges_overlap(const struct pol_ranges *r, uint32_t lo, uint32_t hi);

enum pol_mb_table {
	POL_MB_COILS,
	POL_MB_DISCRETE_INPUTS,
	POL_MB_HOLDING_REGISTERS,
	POL_MB_INPUT_REGISTERS,
	POL_MB_TABLES,
};

/* YAML: functions, unit-ids, coils/discrete-inputs/holding-registers/
 * input-registers: { read: RANGES, write: RANGES }. Reads are checked
 * against `read`, writes against `write` (FC 23: both ranges). */
struct pol_modbus_match {
	bool has_functions;
	struct pol_set256 functions; /* function codes without bit 0x80 */
	struct pol_ranges unit_ids;
	/* the table's key is present: then an absent read or write list
	 * inside it means none (allow match) rather than any */
	bool has_table[POL_MB_TABLES];
	struct pol_ranges read[POL_MB_TABLES];
	struct pol_ranges write[POL_MB_TABLES];
};

/* One entry of a DNP3 object list: group, optional variation, optional
 * index range (checked against the header's start/stop or prefixes). */
struct pol_dnp3_object {
	uint8_t group;
	bool has_variation;
	uint8_t variation;
	struct pol_ranges indexes; /* n == 0: any index */
	struct pol_loc loc;
};

/* YAML: functions, outstations (link destination addresses of requests),
 * objects. In the block's allow match the object list applies to write,
 * select, operate, direct-operate and direct-operate-nr only: every object
 * header of such a request must match an entry. In a rule it applies to
 * any function: allow needs every header to match, deny any header. */
struct pol_dnp3_match {
	bool has_functions;
	struct pol_set256 functions; /* application function codes */
	struct pol_ranges outstations;
	const struct pol_dnp3_object *objects;
	size_t n_objects; /* 0: criterion absent */
};

/* YAML: type-ids, causes, common-addresses, ioas. Only I-frames carry
 * these; S- and U-frames (STARTDT/STOPDT/TESTFR) are checked by the parser
 * and allowed. */
struct pol_iec104_match {
	bool has_types;
	struct pol_set256 types;  /* ASDU type identifications */
	struct pol_ranges causes; /* cause of transmission 0..63 */
	struct pol_ranges common_addresses;
	struct pol_ranges ioas;
};

struct pol_s7_userdata {
	uint8_t group;			/* enum s7comm_ud_group */
	struct pol_ranges subfunctions; /* n == 0: any */
	struct pol_loc loc;
};

/* YAML: functions (Job/Ack_Data parameter function codes), userdata
 * ([{group, subfunctions}]). COTP connection management and S7 Ack
 * frames are checked by the parser and allowed. */
struct pol_s7_match {
	bool has_functions;
	struct pol_set256 functions;
	/* criterion given: userdata requests must match an entry (an empty
	 * list then allows none); the block's allow match always has it
	 * except with preset all */
	bool has_userdata;
	const struct pol_s7_userdata *userdata;
	size_t n_userdata;
};

/* YAML: commands (encapsulation), services (CIP, 0..127), classes,
 * instances, attributes. In the block's allow match, commands absent
 * means the ten encapsulation commands of the specification (unknown and
 * vendor commands denied) unless the preset is all. Every CIP request of a PDU (Multiple Service
 * Packet and Unconnected Send unpacked) is checked on its own; the PDU's
 * verdict is the most severe. */
struct pol_enip_match {
	struct pol_ranges commands;
	bool has_services;
	struct pol_set256 services;
	struct pol_ranges classes;
	struct pol_ranges instances;
	struct pol_ranges attributes;
};

union pol_dpi_match {
	struct pol_modbus_match modbus;
	struct pol_dnp3_match dnp3;
	struct pol_iec104_match iec104;
	struct pol_s7_match s7comm;
	struct pol_enip_match enip;
};

struct pol_dpi_rule {
	enum pol_action action;
	union pol_dpi_match m; /* member by the block's app */
	/* Modbus rules with action reject only (YAML exception): answer the
	 * client with this Modbus exception code (1..255) instead of
	 * resets to both ends; 0 none */
	uint16_t exception;
	struct pol_loc loc;
};

enum pol_rate_per {
	POL_PER_SOURCE, /* one bucket per source address (default) */
	POL_PER_FLOW,
	POL_PER_CONDUIT, /* one bucket for the whole conduit entry */
};

/* YAML rate-limits: [{ <match keys>, rate: N/unit, burst, per, action }].
 * Applies to requests that would be allowed and match m. */
struct pol_rate_limit {
	enum pol_action action; /* default deny */
	union pol_dpi_match m;
	struct pol_rate rate; /* burst 0: burst = count */
	enum pol_rate_per per;
	struct pol_loc loc;
};

enum pol_modbus_preset {
	POL_MODBUS_READ_ONLY,	/* 1-4, 7, 11, 12, 17, 20, 24, 43/14 */
	POL_MODBUS_READ_WRITE,	/* read-only + 5, 6, 15, 16, 21, 22, 23 */
	POL_MODBUS_PROGRAMMING, /* read-write + 8, 43 (all MEI) */
	POL_MODBUS_ALL,		/* every function code, 90 included */
};
enum pol_dnp3_preset {
	POL_DNP3_READ_ONLY, /* confirm, read, delay measure, responses,
			     * enable/disable unsolicited, record time */
	POL_DNP3_OPERATE,   /* read-only + select, operate, direct operate */
	POL_DNP3_ALL,
};
enum pol_iec104_preset {
	POL_IEC104_MONITOR_ONLY, /* types 1..44, 70, 100, 101, 102, 104 */
	POL_IEC104_ALL,
};
enum pol_s7_preset {
	POL_S7_READ_ONLY, /* setup communication, read var, userdata
			   * groups cpu (read SZL), block (list), time read */
	POL_S7_ALL,
};
enum pol_enip_preset {
	POL_ENIP_READ_ONLY, /* encapsulation list/register commands, CIP
			     * get services, forward open/close, MSP */
	POL_ENIP_ALL,
};

struct pol_dpi {
	enum pol_app app;
	int preset; /* -1: none given; else the protocol's preset enum */
	struct pol_dpi_rule *rules;
	size_t n_rules;
	struct pol_rate_limit *limits;
	size_t n_limits;
	union pol_dpi_match allow; /* preset + functions + ranges */
	/* modbus */
	uint16_t max_pdu;     /* 1..253 bytes of PDU (fc + data); 253 */
	enum pol_action umas; /* FC 90; default deny (allow: preset all) */
	enum pol_action mei;  /* FC 43; default by preset */
	/* s7comm */
	enum pol_action s7plus; /* S7comm-plus as a whole; default deny */
	struct pol_loc loc;	/* of the block's key */
};

struct pol_service {
	enum pol_proto proto;
	struct pol_port_range *ports;
	size_t n_ports;
	int icmp_type; /* -1 any; else 0..255 */
	struct pol_prefix *from_hosts;
	size_t n_from_hosts;
	struct pol_prefix *to_hosts;
	size_t n_to_hosts;
	bool has_rate;
	struct pol_rate rate;
	/* deep inspection: NULL for a plain L4 entry */
	const struct pol_dpi *dpi;
	/* `app: [names]`: nDPI must identify the flow as one of these
	 * (protocol names as nDPI spells them, lower case); anything else,
	 * or nothing identified, is denied */
	const char *const *apps;
	size_t n_apps;
	struct pol_loc loc; /* of the entry ("- {" or its first key) */
};

struct pol_conduit {
	const char *name;
	const char *description;     /* may be NULL */
	const struct pol_zone *from; /* borrowed from the same policy */
	const struct pol_zone *to;   /* never equal to from */
	bool log;		     /* NFLOG accepted new flows too */
	enum pol_action malformed;   /* verdict for malformed PDUs; deny */
	/* `fail: open`: inspected traffic of this conduit passes uninspected
	 * while no inspection worker reads its queue (NFQUEUE bypass);
	 * default close: it is dropped */
	bool fail_open;
	struct pol_service *allow;
	size_t n_allow;
	uint32_t id;	    /* 1..n_conduits, index + 1 */
	struct pol_loc loc; /* of the conduit's "- " item */
};

struct pol_policy {
	const char *file;   /* name used in diagnostics */
	uint8_t sha256[32]; /* of the file's bytes */
	int version;	    /* 1 */
	struct pol_zone *zones;
	size_t n_zones;
	struct pol_conduit *conduits;
	size_t n_conduits;
	void *arena; /* private to policy/model.c */
};

/*
 * Parse and validate. On success returns 0 and stores a new policy in *out
 * (caller frees with policy_free). On failure returns -EINVAL (policy
 * errors; every error found appended to diags as file:line:col records),
 * or another negative errno for I/O; *out is then NULL.
 * max_size 0 means POL_SIZE_MAX_DEFAULT.
 */
int policy_load_file(const char *path, size_t max_size, struct pol_policy **out,
		     struct diag_list *diags);
int policy_load_buffer(const char *name, const char *buf, size_t len,
		       size_t max_size, struct pol_policy **out,
		       struct diag_list *diags);
void policy_free(struct pol_policy *p);

const struct pol_zone *policy_zone_by_name(const struct pol_policy *p,
					   const char *name);
const struct pol_conduit *policy_conduit_by_name(const struct pol_policy *p,
						 const char *name);
const struct pol_zone *policy_management_zone(const struct pol_policy *p);

/* Zone of an address/interface pair the way the kernel ruleset classifies:
 * a zone network containing addr wins; else the zone of ifname; else NULL.
 * addr is 4 or 16 bytes by family; ifname may be NULL. */
const struct pol_zone *policy_classify(const struct pol_policy *p, int family,
				       const uint8_t *addr, const char *ifname);

const char *pol_proto_name(enum pol_proto proto);
/* "allow", "deny", "reject". */
const char *pol_action_name(enum pol_action a);
/* "modbus", "dnp3", "iec104", "s7comm", "enip"; "none". */
const char *pol_app_name(enum pol_app app);
/* Whether any entry of the policy needs the DPI path (a protocol block,
 * `app`, or a zone with deny-app-categories). */
bool policy_needs_dpi(const struct pol_policy *p);

/* Text forms shared by the diff, JSON, the compiler and conduitctl. */
#define POL_PREFIX_STRLEN 50 /* INET6_ADDRSTRLEN + "/128" */
/* "198.18.20.0/24"; a full-length prefix prints as the bare address. */
const char *pol_prefix_format(const struct pol_prefix *pfx, char *buf,
			      size_t len);
/* "443" or "20000-20010". */
const char *pol_port_format(const struct pol_port_range *r, char *buf,
			    size_t len);
/* Name of an ICMP (proto POL_PROTO_ICMP) or ICMPv6 type, e.g.
 * "echo-request"; NULL when the type has no name. */
const char *pol_icmp_type_name(enum pol_proto proto, int type);
/* Type number of a name for proto; -1 when unknown. */
int pol_icmp_type_parse(enum pol_proto proto, const char *name);
/* "second", "minute", "hour", "day". */
const char *pol_rate_unit_name(enum pol_rate_unit unit);
/* Whether addr (4 or 16 bytes by family) lies inside pfx. */
bool pol_prefix_contains(const struct pol_prefix *pfx, int family,
			 const uint8_t *addr);

#endif
