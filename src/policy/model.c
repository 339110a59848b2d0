/*
 * The policy model's memory and read side: the per-load arena, policy_free,
 * lookups by name, classification of an address/interface into a zone, and
 * the text forms (protocol, prefix, port, ICMP type, rate unit) that the
 * diff, JSON and the compiler share so a value prints the same everywhere.
 */
#include "policy/model.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "policy/internal.h"

/* --- arena --------------------------------------------------------------- */

#define ARENA_CHUNK 16384
#define ARENA_ALIGN 16

struct arena_chunk {
	struct arena_chunk *next;
	size_t size;
	size_t used;
	_Alignas(ARENA_ALIGN) unsigned char data[];
};

struct pol_arena {
	struct arena_chunk *head;
};

struct pol_arena *pol_arena_new(void)
{
	return calloc(1, sizeof(struct pol_arena));
}

void pol_arena_free(struct pol_arena *a)
{
	struct arena_chunk *c, *next;

	if (a == NULL)
		return;
	for (c = a->head; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	free(a);
}

void *pol_arena_alloc(struct pol_arena *a, size_t size)
{
	struct arena_chunk *c = a->head;
	size_t need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	void *p;

	if (need < size)
		return NULL;
	if (c == NULL || c->size - c->used < need) {
		size_t csize = need > ARENA_CHUNK ? need : ARENA_CHUNK;

		if (csize > SIZE_MAX - sizeof(*c))
			return NULL;
		c = malloc(sizeof(*c) + csize);
		if (c == NULL)
			return NULL;
		c->size = csize;
		c->used = 0;
		/* A big one-off block goes behind the current chunk so the
		 * current chunk's free space is not wasted. */
		if (a->head != NULL && csize > ARENA_CHUNK) {
			c->next = a->head->next;
			a->head->next = c;
		} else {
			c->next = a->head;
			a->head = c;
		}
	}
	p = c->data + c->used;
	c->used += need;
	memset(p, 0, size);
	return p;
}

void *pol_arena_calloc(struct pol_arena *a, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size)
		return NULL;
	return pol_arena_alloc(a, n * size != 0 ? n * size : 1);
}

char *pol_arena_strndup(struct pol_arena *a, const char *s, size_t n)
{
	char *d;

	if (n == SIZE_MAX)
		return NULL;
	d = pol_arena_alloc(a, n + 1);
	if (d != NULL) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

void policy_free(struct pol_policy *p)
{
	/* The policy struct itself lives in its arena. */
	if (p != NULL)
		pol_arena_free(p->arena);
}

/* --- lookups ------------------------------------------------------------- */

const struct pol_zone *policy_zone_by_name(const struct pol_policy *p,
					   const char *name)
{
	for (size_t i = 0; i < p->n_zones; i++)
		if (strcmp(p->zones[i].name, name) == 0)
			return &p->zones[i];
	return NULL;
}

const struct pol_conduit *policy_conduit_by_name(const struct pol_policy *p,
						 const char *name)
{
	for (size_t i = 0; i < p->n_conduits; i++)
		if (strcmp(p->conduits[i].name, name) == 0)
			return &p->conduits[i];
	return NULL;
}

const struct pol_zone *policy_management_zone(const struct pol_policy *p)
{
	for (size_t i = 0; i < p->n_zones; i++)
		if (p->zones[i].management)
			return &p->zones[i];
	return NULL;
}

bool pol_prefix_contains(const struct pol_prefix *pfx, int family,
			 const uint8_t *addr)
{
	unsigned int full, rest;

	if (pfx->family != family)
		return false;
	full = pfx->len / 8;
	rest = pfx->len % 8;
	if (memcmp(pfx->addr, addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((pfx->addr[full] ^ addr[full]) & (0xff00u >> rest) & 0xff) == 0;
}

/*
 * The validator guarantees that no two zones' networks overlap and no two
 * zones' interface patterns overlap, so the first match is the only one.
 */
const struct pol_zone *policy_classify(const struct pol_policy *p, int family,
				       const uint8_t *addr, const char *ifname)
{
	if (addr != NULL && (family == AF_INET || family == AF_INET6)) {
		for (size_t i = 0; i < p->n_zones; i++) {
			const struct pol_zone *z = &p->zones[i];

			for (size_t j = 0; j < z->n_nets; j++)
				if (pol_prefix_contains(&z->nets[j], family,
							addr))
					return z;
		}
	}
	if (ifname == NULL)
		return NULL;
	for (size_t i = 0; i < p->n_zones; i++) {
		const struct pol_zone *z = &p->zones[i];

		for (size_t j = 0; j < z->n_ifaces; j++) {
			const struct pol_iface *f = &z->ifaces[j];

			if (f->wildcard ? strncmp(ifname, f->name,
						  strlen(f->name)) == 0 :
					  strcmp(ifname, f->name) == 0)
				return z;
		}
	}
	return NULL;
}

/* --- text forms ---------------------------------------------------------- */

const char *pol_proto_name(enum pol_proto proto)
{
	switch (proto) {
	case POL_PROTO_ICMP:
		return "icmp";
	case POL_PROTO_TCP:
		return "tcp";
	case POL_PROTO_UDP:
		return "udp";
	case POL_PROTO_ICMPV6:
		return "icmpv6";
	case POL_PROTO_SCTP:
		return "sctp";
	}
	return "unknown";
}

const char *pol_prefix_format(const struct pol_prefix *pfx, char *buf,
			      size_t len)
{
	char a[INET6_ADDRSTRLEN];
	unsigned int full = pfx->family == AF_INET ? 32 : 128;

	if (inet_ntop(pfx->family, pfx->addr, a, sizeof(a)) == NULL)
		snprintf(a, sizeof(a), "?");
	if (pfx->len == full)
		snprintf(buf, len, "%s", a);
	else
		snprintf(buf, len, "%s/%u", a, pfx->len);
	return buf;
}

const char *pol_port_format(const struct pol_port_range *r, char *buf,
			    size_t len)
{
	if (r->lo == r->hi)
		snprintf(buf, len, "%u", r->lo);
	else
		snprintf(buf, len, "%u-%u", r->lo, r->hi);
	return buf;
}

struct icmp_name {
	int type;
	const char *name;
};

/* Names as nftables spells them, so a policy reads like the ruleset. */
static const struct icmp_name icmp4_names[] = {
	{ 0, "echo-reply" },	       { 3, "destination-unreachable" },
	{ 4, "source-quench" },	       { 5, "redirect" },
	{ 8, "echo-request" },	       { 9, "router-advertisement" },
	{ 10, "router-solicitation" }, { 11, "time-exceeded" },
	{ 12, "parameter-problem" },   { 13, "timestamp-request" },
	{ 14, "timestamp-reply" },     { 15, "info-request" },
	{ 16, "info-reply" },	       { 17, "address-mask-request" },
	{ 18, "address-mask-reply" },
};

static const struct icmp_name icmp6_names[] = {
	{ 1, "destination-unreachable" }, { 2, "packet-too-big" },
	{ 3, "time-exceeded" },		  { 4, "parameter-problem" },
	{ 128, "echo-request" },	  { 129, "echo-reply" },
	{ 130, "mld-listener-query" },	  { 131, "mld-listener-report" },
	{ 132, "mld-listener-done" },	  { 133, "nd-router-solicit" },
	{ 134, "nd-router-advert" },	  { 135, "nd-neighbor-solicit" },
	{ 136, "nd-neighbor-advert" },	  { 137, "nd-redirect" },
	{ 138, "router-renumbering" },	  { 141, "ind-neighbor-solicit" },
	{ 142, "ind-neighbor-advert" },	  { 143, "mld2-listener-report" },
};

static const struct icmp_name *icmp_table(enum pol_proto proto, size_t *n)
{
	if (proto == POL_PROTO_ICMP) {
		*n = sizeof(icmp4_names) / sizeof(icmp4_names[0]);
		return icmp4_names;
	}
	if (proto == POL_PROTO_ICMPV6) {
		*n = sizeof(icmp6_names) / sizeof(icmp6_names[0]);
		return icmp6_names;
	}
	*n = 0;
	return NULL;
}

const char *pol_icmp_type_name(enum pol_proto proto, int type)
{
	size_t n;
	const struct icmp_name *t = icmp_table(proto, &n);

	for (size_t i = 0; i < n; i++)
		if (t[i].type == type)
			return t[i].name;
	return NULL;
}

int pol_icmp_type_parse(enum pol_proto proto, const char *name)
{
	size_t n;
	const struct icmp_name *t = icmp_table(proto, &n);

	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].name, name) == 0)
			return t[i].type;
	return -1;
}

const char *pol_rate_unit_name(enum pol_rate_unit unit)
{
	switch (unit) {
	case POL_RATE_SECOND:
		return "second";
	case POL_RATE_MINUTE:
		return "minute";
	case POL_RATE_HOUR:
		return "hour";
	case POL_RATE_DAY:
		return "day";
	}
	return "unknown";
}

/* --- protocol rules ------------------------------------------------------- */

bool pol_ranges_has(const struct pol_ranges *r, uint32_t v)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) { /* sorted, merged: binary search */
		size_t mid = lo + (hi - lo) / 2;

		if (v < r->v[mid].lo)
			hi = mid;
		else if (v > r->v[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

bool pol_ranges_cover(const struct pol_ranges *r, uint32_t lo, uint32_t hi)
{
	/* merged ranges never touch, so one range must hold all of [lo, hi] */
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].lo <= lo && hi <= r->v[i].hi)
			return true;
	return false;
}

bool pol_ranges_overlap(const struct pol_ranges *r, uint32_t lo, uint32_t hi)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].lo <= hi && lo <= r->v[i].hi)
			return true;
	return false;
}

const char *pol_action_name(enum pol_action a)
{
	switch (a) {
	case POL_ACT_ALLOW:
		return "allow";
	case POL_ACT_DENY:
		return "deny";
	case POL_ACT_REJECT:
		return "reject";
	}
	return "deny";
}

const char *pol_app_name(enum pol_app app)
{
	static const char *const names[POL_APP_N] = {
		"none", "modbus", "dnp3", "iec104", "s7comm", "enip",
	};

	return (unsigned)app < POL_APP_N ? names[app] : "none";
}

bool policy_needs_dpi(const struct pol_policy *p)
{
	for (size_t z = 0; z < p->n_zones; z++)
		if (p->zones[z].n_deny_categories > 0)
			return true;
	for (size_t c = 0; c < p->n_conduits; c++)
		for (size_t i = 0; i < p->conduits[c].n_allow; i++)
			if (p->conduits[c].allow[i].dpi != NULL ||
			    p->conduits[c].allow[i].n_apps > 0)
				return true;
	return false;
}
