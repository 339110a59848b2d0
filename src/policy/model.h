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
	struct pol_loc loc; /* of the entry ("- {" or its first key) */
};

struct pol_conduit {
	const char *name;
	const char *description;     /* may be NULL */
	const struct pol_zone *from; /* borrowed from the same policy */
	const struct pol_zone *to;   /* never equal to from */
	bool log;		     /* NFLOG accepted new flows too */
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
