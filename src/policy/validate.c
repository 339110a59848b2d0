/*
 * Syntax tree -> validated model. Every check records its problem at the
 * offending node and carries on, so one run reports everything; the model
 * is only handed out when no problem was found. Checks across nodes (name
 * uniqueness, overlapping networks and interfaces, zone references) run
 * after the tree walk over the partly built model, sorted so that large
 * policies stay O(n log n).
 *
 * Messages say "expected X, found Y" where that fits; the list lives in
 * conduit-policy(5), keep them in step.
 */
#include "policy/model.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "policy/internal.h"

#define PORT_HINT "a port 1..65535 or a range like 20000-20010"
#define RATE_HINT "a rate like 200/second (N/second, N/minute, N/hour or N/day)"
#define NAME_HINT \
	"1-32 characters of a-z 0-9 _ -, starting with a letter or digit"
#define IFACE_HINT \
	"1-15 characters of A-Z a-z 0-9 . _ - with an optional trailing *"

/* --- small helpers ------------------------------------------------------- */

static bool valid_name(const char *s);

/* Drops a UTF-8 sequence cut short at the end of buf[0..*o). */
static void utf8_trim(const char *buf, size_t *o)
{
	size_t i = *o, need;
	unsigned char lead;

	while (i > 0 && ((unsigned char)buf[i - 1] & 0xc0) == 0x80 &&
	       *o - i < 3)
		i--;
	if (i == 0)
		return;
	lead = (unsigned char)buf[i - 1];
	if (lead < 0xc0)
		return;
	need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
	if (*o - (i - 1) < need)
		*o = i - 1;
}

/* Printable copy of s for messages: control characters become '?', long
 * text is cut (on a character boundary) and marked "...". */
static size_t printable(char *buf, size_t len, const char *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 4 < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (i == 40) {
			utf8_trim(buf, &o);
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		buf[o++] = ch >= 0x20 && ch != 0x7f ? (char)ch : '?';
	}
	buf[o] = '\0';
	return o;
}

/* Names go into messages and logs verbatim once valid; an invalid one is
 * kept in printable form so that later messages about it stay readable. */
static const char *safe_name(struct pol_ctx *c, const char *s)
{
	char buf[64];
	size_t n;

	if (valid_name(s))
		return pol_ctx_strdup(c, c->arena, s, strlen(s));
	n = printable(buf, sizeof(buf), s, strlen(s));
	return pol_ctx_strdup(c, c->arena, buf, n);
}

const char *pol_describe(const struct pn *n, char *buf, size_t len)
{
	size_t o = 0;

	if (n->type == PN_SEQ)
		return n->n ? "a sequence" : "an empty sequence";
	if (n->type == PN_MAP)
		return n->n ? "a mapping" : "an empty mapping";
	if (pn_is_null(n))
		return "an empty value";
	buf[0] = '\'';
	o = 1 + printable(buf + 1, len - 2, n->str, n->len);
	buf[o++] = '\'';
	buf[o] = '\0';
	return buf;
}

#define DESC(n) pol_describe((n), dbuf, sizeof(dbuf))

/* Scalar text, or NULL after recording "expected <what>, found ...". */
const char *pol_want_scalar(struct pol_ctx *c, const struct pn *n,
			    const char *what)
{
	char dbuf[64];

	if (n->type != PN_SCALAR || pn_is_null(n)) {
		pol_err(c, n->loc, "expected %s, found %s", what, DESC(n));
		return NULL;
	}
	if (strlen(n->str) != n->len) {
		pol_err(c, n->loc,
			"expected %s, found a string with a NUL "
			"character",
			what);
		return NULL;
	}
	return n->str;
}

bool pol_want_type(struct pol_ctx *c, const struct pn *n, enum pn_type t,
		   const char *what)
{
	char dbuf[64];

	if (n->type == t)
		return true;
	pol_err(c, n->loc, "expected %s, found %s", what, DESC(n));
	return false;
}

/* Decimal digits only, value 0..max. */
bool pol_parse_uint(const char *s, uint64_t max, uint64_t *v)
{
	uint64_t x = 0;

	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return false;
		x = x * 10 + (uint64_t)(*s - '0');
		if (x > max)
			return false;
	}
	*v = x;
	return true;
}

static bool parse_bool(const char *s, bool *v)
{
	if (strcmp(s, "true") == 0) {
		*v = true;
		return true;
	}
	if (strcmp(s, "false") == 0) {
		*v = false;
		return true;
	}
	return false;
}

static void want_bool(struct pol_ctx *c, const struct pn *n, bool *v)
{
	char dbuf[64];
	const char *s = pol_want_scalar(c, n, "true or false");

	if (s != NULL && !parse_bool(s, v))
		pol_err(c, n->loc, "expected true or false, found %s", DESC(n));
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > POL_NAME_MAX)
		return false;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '-'))
			return false;
	return true;
}

/*
 * Reads a mapping against its table of keys: vals[i]/keys[i] get the value
 * and key node of keys_allowed[i], NULL when absent. Unknown, duplicate and
 * non-scalar keys are recorded.
 */
void pol_map_fields(struct pol_ctx *c, const struct pn *map,
		    const char *const *allowed, const char *in,
		    const struct pn **vals, const struct pn **keys)
{
	char list[256], dbuf[64];
	size_t nallowed = 0, o = 0;

	for (; allowed[nallowed] != NULL; nallowed++) {
		vals[nallowed] = NULL;
		keys[nallowed] = NULL;
		o += (size_t)snprintf(list + o,
				      o < sizeof(list) ? sizeof(list) - o : 0,
				      "%s%s", nallowed ? ", " : "",
				      allowed[nallowed]);
	}
	for (const struct pn *k = map->child; k && k->next; k = k->next->next) {
		const struct pn *v = k->next;
		size_t i;

		if (k->type != PN_SCALAR) {
			pol_err(c, k->loc, "expected a key name, found %s",
				DESC(k));
			continue;
		}
		for (i = 0; i < nallowed; i++)
			if (strcmp(k->str, allowed[i]) == 0 &&
			    strlen(k->str) == k->len)
				break;
		if (i == nallowed) {
			pol_err(c, k->loc,
				"unknown key %s in %s (expected one of: %s)",
				DESC(k), in, list);
			continue;
		}
		if (keys[i] != NULL) {
			pol_err(c, k->loc,
				"duplicate key '%s' (first at %d:%d)",
				allowed[i], keys[i]->loc.line,
				keys[i]->loc.col);
			continue;
		}
		keys[i] = k;
		vals[i] = v;
	}
}

void pol_missing(struct pol_ctx *c, const struct pn *map, const char *key,
		 const char *in)
{
	pol_err(c, map->loc, "missing required key '%s' in %s", key, in);
}

/*
 * Open-addressing index from a key (bytes owned by the caller, alive for the
 * whole validation) to a pointer, so that name and pair checks stay linear
 * in policies with many zones and conduits.
 */
struct name_index {
	struct name_slot {
		const void *key;
		size_t len;
		const void *val;
	} * v;
	size_t cap, n;
};

static uint64_t key_hash(const void *key, size_t len)
{
	const unsigned char *k = key;
	uint64_t h = 14695981039346656037ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ k[i]) * 1099511628211ull;
	return h;
}

static const void *index_get(const struct name_index *ix, const void *key,
			     size_t len)
{
	if (ix->cap == 0)
		return NULL;
	for (size_t i = key_hash(key, len) & (ix->cap - 1);;
	     i = (i + 1) & (ix->cap - 1)) {
		const struct name_slot *s = &ix->v[i];

		if (s->key == NULL)
			return NULL;
		if (s->len == len && memcmp(s->key, key, len) == 0)
			return s->val;
	}
}

/* Adds key unless present; returns the value already there, else NULL. */
static const void *index_put(struct pol_ctx *c, struct name_index *ix,
			     const void *key, size_t len, const void *val)
{
	const void *old = index_get(ix, key, len);
	size_t i;

	if (old != NULL)
		return old;
	if (2 * (ix->n + 1) > ix->cap) {
		struct name_index nx = { 0 };

		nx.cap = ix->cap ? ix->cap * 2 : 64;
		nx.v = calloc(nx.cap, sizeof(*nx.v));
		if (nx.v == NULL) {
			c->nomem = true;
			return NULL;
		}
		for (size_t j = 0; j < ix->cap; j++)
			if (ix->v[j].key != NULL) {
				for (i = key_hash(ix->v[j].key, ix->v[j].len) &
					 (nx.cap - 1);
				     nx.v[i].key != NULL;
				     i = (i + 1) & (nx.cap - 1))
					;
				nx.v[i] = ix->v[j];
			}
		nx.n = ix->n;
		free(ix->v);
		*ix = nx;
	}
	for (i = key_hash(key, len) & (ix->cap - 1); ix->v[i].key != NULL;
	     i = (i + 1) & (ix->cap - 1))
		;
	ix->v[i].key = key;
	ix->v[i].len = len;
	ix->v[i].val = val;
	ix->n++;
	return NULL;
}

static void index_free(struct name_index *ix)
{
	free(ix->v);
	memset(ix, 0, sizeof(*ix));
}

/* --- addresses ----------------------------------------------------------- */

/*
 * "addr" or "addr/len"; a bare address is a host (/32, /128). Host bits
 * set is an error rather than silently masked: it usually means a typo.
 */
static bool parse_prefix(struct pol_ctx *c, const struct pn *n,
			 const char *what, struct pol_prefix *out)
{
	char dbuf[64], abuf[INET6_ADDRSTRLEN + 8];
	const char *s = pol_want_scalar(c, n, what), *slash;
	size_t alen;
	uint64_t plen;
	unsigned int full;

	if (s == NULL)
		return false;
	memset(out, 0, sizeof(*out));
	out->loc = n->loc;
	slash = strchr(s, '/');
	alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen == 0 || alen >= sizeof(abuf))
		goto bad;
	memcpy(abuf, s, alen);
	abuf[alen] = '\0';
	if (inet_pton(AF_INET, abuf, out->addr) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, abuf, out->addr) == 1)
		out->family = AF_INET6;
	else
		goto bad;
	full = out->family == AF_INET ? 32 : 128;
	if (slash == NULL) {
		plen = full;
	} else if (!pol_parse_uint(slash + 1, 255, &plen) ||
		   (slash[1] == '0' && slash[2] != '\0')) {
		goto bad;
	} else if (plen > full) {
		pol_err(c, n->loc,
			"prefix length %u is out of range for %s (expected "
			"0..%u)",
			(unsigned int)plen,
			out->family == AF_INET ? "IPv4" : "IPv6", full);
		return false;
	}
	out->len = (uint8_t)plen;
	{
		struct pol_prefix net = *out;
		char want[POL_PREFIX_STRLEN];
		unsigned int i;

		for (i = 0; i < 16; i++) {
			unsigned int bits =
				i * 8 >= plen	  ? 0 :
				plen - i * 8 >= 8 ? 8 :
						    (unsigned int)plen - i * 8;

			net.addr[i] &= (uint8_t)(0xff00u >> bits);
		}
		if (memcmp(net.addr, out->addr, 16) != 0) {
			pol_err(c, n->loc, "host bits set in %s (expected %s)",
				s, pol_prefix_format(&net, want, sizeof(want)));
			return false;
		}
	}
	return true;
bad:
	pol_err(c, n->loc, "expected %s, found %s", what, DESC(n));
	return false;
}

static int prefix_cmp(const struct pol_prefix *a, const struct pol_prefix *b)
{
	int r;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	r = memcmp(a->addr, b->addr, 16);
	if (r != 0)
		return r;
	return (int)a->len - (int)b->len;
}

static bool loc_before(struct pol_loc a, struct pol_loc b)
{
	return a.line < b.line || (a.line == b.line && a.col < b.col);
}

struct pfx_ref {
	const struct pol_prefix *p;
	const char *owner; /* zone name, or NULL inside one list */
};

static int pfx_ref_cmp(const void *a, const void *b)
{
	return prefix_cmp(((const struct pfx_ref *)a)->p,
			  ((const struct pfx_ref *)b)->p);
}

/*
 * Prefixes either nest or are disjoint, so after sorting one running
 * "cover" (the widest recent prefix) finds every overlap. The later one in
 * the file is reported, naming the earlier.
 */
static void check_overlaps(struct pol_ctx *c, struct pfx_ref *v, size_t n,
			   const char *what)
{
	const struct pfx_ref *cover = NULL;

	qsort(v, n, sizeof(*v), pfx_ref_cmp);
	for (size_t i = 0; i < n; i++) {
		const struct pfx_ref *cur = &v[i], *first, *second;
		char a[POL_PREFIX_STRLEN], b[POL_PREFIX_STRLEN];

		if (cover == NULL ||
		    !pol_prefix_contains(cover->p, cur->p->family,
					 cur->p->addr)) {
			cover = cur;
			continue;
		}
		first = loc_before(cover->p->loc, cur->p->loc) ? cover : cur;
		second = first == cover ? cur : cover;
		pol_prefix_format(second->p, a, sizeof(a));
		pol_prefix_format(first->p, b, sizeof(b));
		if (second->owner != NULL)
			pol_err(c, second->p->loc,
				"%s %s of zone '%s' overlaps %s of zone '%s'",
				what, a, second->owner, b, first->owner);
		else
			pol_err(c, second->p->loc,
				"%s %s overlaps %s in the same list", what, a,
				b);
	}
}

/* A sequence of prefixes into an arena array; *fam gets a bit per family. */
static struct pol_prefix *prefix_list(struct pol_ctx *c, const struct pn *seq,
				      const char *what, size_t *count,
				      unsigned int *fam)
{
	struct pol_prefix *v;
	size_t n = 0;

	*count = 0;
	if (fam)
		*fam = 0;
	if (!pol_want_type(c, seq, PN_SEQ,
			   "a sequence of addresses or prefixes"))
		return NULL;
	v = pol_ctx_alloc(c, c->arena, seq->n, sizeof(*v));
	if (v == NULL)
		return NULL;
	for (const struct pn *it = seq->child; it; it = it->next) {
		if (!parse_prefix(c, it, what, &v[n]))
			continue;
		if (fam)
			*fam |= v[n].family == AF_INET ? 1u : 2u;
		n++;
	}
	*count = n;
	return v;
}

static void check_list_overlaps(struct pol_ctx *c, const struct pol_prefix *v,
				size_t n, const char *what)
{
	struct pfx_ref *r;

	if (n < 2)
		return;
	r = malloc(n * sizeof(*r));
	if (r == NULL) {
		c->nomem = true;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		r[i].p = &v[i];
		r[i].owner = NULL;
	}
	check_overlaps(c, r, n, what);
	free(r);
}

/* --- zones --------------------------------------------------------------- */

enum {
	ZK_DESCRIPTION,
	ZK_SL,
	ZK_IFACES,
	ZK_NETS,
	ZK_MGMT,
	ZK_INTRA,
	ZK_DENY_CATS,
	ZK_N,
};

static const char *const zone_keys[ZK_N + 1] = {
	"description", "security-level", "interfaces",		"networks",
	"management",  "intra-zone",	 "deny-app-categories", NULL,
};

static bool parse_iface(struct pol_ctx *c, const struct pn *n,
			struct pol_iface *f)
{
	char dbuf[64];
	const char *s = pol_want_scalar(c, n, "an interface name");
	size_t len;

	if (s == NULL)
		return false;
	len = strlen(s);
	memset(f, 0, sizeof(*f));
	f->loc = n->loc;
	if (len == 0 || len >= POL_IFNAME_MAX)
		goto bad;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (ch == '*' && i == len - 1 && i > 0) {
			f->wildcard = true;
			break;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
		      ch == '-'))
			goto bad;
	}
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		goto bad;
	memcpy(f->name, s, f->wildcard ? len - 1 : len);
	return true;
bad:
	pol_err(c, n->loc,
		"invalid interface name %s (expected " IFACE_HINT ")", DESC(n));
	return false;
}

static void parse_zone(struct pol_ctx *c, const struct pn *key,
		       const struct pn *val, struct pol_zone *z)
{
	const struct pn *v[ZK_N], *k[ZK_N];
	char in[64], dbuf[64];
	const char *s;

	z->loc = key->loc;
	snprintf(in, sizeof(in), "zone '%s'", z->name);
	if (pn_is_null(val)) {
		pol_err(c, key->loc,
			"expected a mapping of settings for zone "
			"'%s', found an empty value",
			z->name);
		return;
	}
	if (!pol_want_type(c, val, PN_MAP, "a mapping of zone settings"))
		return;
	pol_map_fields(c, val, zone_keys, in, v, k);

	if (v[ZK_DESCRIPTION] && !pn_is_null(v[ZK_DESCRIPTION]) &&
	    (s = pol_want_scalar(c, v[ZK_DESCRIPTION], "a description")) !=
		    NULL)
		z->description = pol_ctx_strdup(c, c->arena, s, strlen(s));
	if (v[ZK_SL] != NULL) {
		uint64_t sl;

		s = pol_want_scalar(c, v[ZK_SL], "a security level 1..4");
		if (s != NULL && (!pol_parse_uint(s, 4, &sl) || sl == 0))
			pol_err(c, v[ZK_SL]->loc,
				"expected a security level 1..4, found %s",
				DESC(v[ZK_SL]));
		else if (s != NULL)
			z->security_level = (int)sl;
	}
	if (v[ZK_IFACES] != NULL &&
	    pol_want_type(c, v[ZK_IFACES], PN_SEQ,
			  "a sequence of interface names")) {
		z->ifaces = pol_ctx_alloc(c, c->arena, v[ZK_IFACES]->n,
					  sizeof(*z->ifaces));
		if (z->ifaces == NULL)
			return;
		for (const struct pn *it = v[ZK_IFACES]->child; it;
		     it = it->next)
			if (parse_iface(c, it, &z->ifaces[z->n_ifaces]))
				z->n_ifaces++;
	}
	if (v[ZK_NETS] != NULL)
		z->nets = prefix_list(c, v[ZK_NETS],
				      "a network like 198.18.20.0/24 or "
				      "2001:db8:20::/64",
				      &z->n_nets, NULL);
	if (v[ZK_MGMT] != NULL)
		want_bool(c, v[ZK_MGMT], &z->management);
	if (v[ZK_INTRA] != NULL) {
		s = pol_want_scalar(c, v[ZK_INTRA], "allow or deny");
		if (s != NULL && strcmp(s, "allow") == 0)
			z->intra_zone_allow = true;
		else if (s != NULL && strcmp(s, "deny") != 0)
			pol_err(c, v[ZK_INTRA]->loc,
				"expected allow or deny, found %s",
				DESC(v[ZK_INTRA]));
	}
	if (v[ZK_DENY_CATS] != NULL)
		pol_dpi_parse_categories(c, v[ZK_DENY_CATS], z);
	/* A list of the wrong type was reported already. */
	if ((v[ZK_IFACES] == NULL ||
	     (v[ZK_IFACES]->type == PN_SEQ && v[ZK_IFACES]->n == 0)) &&
	    (v[ZK_NETS] == NULL ||
	     (v[ZK_NETS]->type == PN_SEQ && v[ZK_NETS]->n == 0)))
		pol_err(c, key->loc,
			"zone '%s' has no interfaces or networks (expected at "
			"least one)",
			z->name);
}

struct iface_ref {
	const struct pol_iface *f;
	const char *zone;
};

static int iface_ref_cmp(const void *a, const void *b)
{
	const struct pol_iface *x = ((const struct iface_ref *)a)->f;
	const struct pol_iface *y = ((const struct iface_ref *)b)->f;
	int r = strcmp(x->name, y->name);

	if (r != 0)
		return r;
	return (int)y->wildcard - (int)x->wildcard; /* wildcard first */
}

static bool iface_covers(const struct pol_iface *w, const struct pol_iface *f)
{
	size_t n = strlen(w->name);

	return w->wildcard ? strncmp(f->name, w->name, n) == 0 :
			     !f->wildcard && strcmp(f->name, w->name) == 0;
}

static void iface_overlap(struct pol_ctx *c, const struct iface_ref *x,
			  const struct iface_ref *y)
{
	const struct iface_ref *first = loc_before(x->f->loc, y->f->loc) ? x :
									   y;
	const struct iface_ref *second = first == x ? y : x;

	if (!first->f->wildcard && !second->f->wildcard)
		pol_err(c, second->f->loc,
			"interface '%s' of zone '%s' is already in zone '%s'",
			second->f->name, second->zone, first->zone);
	else
		pol_err(c, second->f->loc,
			"interface '%s%s' of zone '%s' overlaps '%s%s' of "
			"zone '%s'",
			second->f->name, second->f->wildcard ? "*" : "",
			second->zone, first->f->name,
			first->f->wildcard ? "*" : "", first->zone);
}

/*
 * Names sharing a wildcard's prefix sort right after it, so each wildcard
 * scans only the names it covers.
 */
static void check_zone_ifaces(struct pol_ctx *c, const struct pol_policy *p)
{
	struct iface_ref *r;
	size_t n = 0;

	for (size_t i = 0; i < p->n_zones; i++)
		n += p->zones[i].n_ifaces;
	if (n < 2)
		return;
	r = malloc(n * sizeof(*r));
	if (r == NULL) {
		c->nomem = true;
		return;
	}
	n = 0;
	for (size_t i = 0; i < p->n_zones; i++)
		for (size_t j = 0; j < p->zones[i].n_ifaces; j++) {
			r[n].f = &p->zones[i].ifaces[j];
			r[n++].zone = p->zones[i].name;
		}
	qsort(r, n, sizeof(*r), iface_ref_cmp);
	for (size_t i = 0; i < n; i++) {
		if (!r[i].f->wildcard) {
			if (i + 1 < n && iface_covers(r[i].f, r[i + 1].f))
				iface_overlap(c, &r[i], &r[i + 1]);
			continue;
		}
		for (size_t j = i + 1; j < n && iface_covers(r[i].f, r[j].f);
		     j++)
			iface_overlap(c, &r[i], &r[j]);
	}
	free(r);
}

static void check_zone_nets(struct pol_ctx *c, const struct pol_policy *p)
{
	struct pfx_ref *r;
	size_t n = 0;

	for (size_t i = 0; i < p->n_zones; i++)
		n += p->zones[i].n_nets;
	if (n < 2)
		return;
	r = malloc(n * sizeof(*r));
	if (r == NULL) {
		c->nomem = true;
		return;
	}
	n = 0;
	for (size_t i = 0; i < p->n_zones; i++)
		for (size_t j = 0; j < p->zones[i].n_nets; j++) {
			r[n].p = &p->zones[i].nets[j];
			r[n++].owner = p->zones[i].name;
		}
	check_overlaps(c, r, n, "network");
	free(r);
}

static void parse_zones(struct pol_ctx *c, const struct pn *map,
			struct pol_policy *p, struct name_index *zix)
{
	const struct pol_zone *mgmt = NULL;
	const struct pn **mgmt_val;
	char dbuf[64];

	if (!pol_want_type(c, map, PN_MAP, "a mapping of zone names"))
		return;
	if (map->n == 0) {
		pol_err(c, map->loc,
			"expected at least one zone, found an "
			"empty mapping");
		return;
	}
	p->zones = pol_ctx_alloc(c, c->arena, map->n, sizeof(*p->zones));
	mgmt_val = calloc(map->n, sizeof(*mgmt_val));
	if (p->zones == NULL || mgmt_val == NULL) {
		c->nomem = true;
		free(mgmt_val);
		return;
	}
	for (const struct pn *k = map->child; k && k->next; k = k->next->next) {
		struct pol_zone *z = &p->zones[p->n_zones];
		const struct pol_zone *dup;
		const char *name = pol_want_scalar(c, k, "a zone name");

		if (name == NULL)
			continue;
		if (!valid_name(name))
			pol_err(c, k->loc,
				"invalid zone name %s (expected " NAME_HINT ")",
				DESC(k));
		name = safe_name(c, name);
		if (name == NULL)
			break;
		dup = index_get(zix, name, strlen(name));
		if (dup != NULL) {
			pol_err(c, k->loc,
				"duplicate zone '%s' (first defined at %d:%d)",
				name, dup->loc.line, dup->loc.col);
			continue;
		}
		memset(z, 0, sizeof(*z));
		z->name = name;
		z->id = (uint32_t)p->n_zones + 1;
		index_put(c, zix, z->name, strlen(z->name), z);
		parse_zone(c, k, k->next, z);
		if (k->next->type == PN_MAP) {
			for (const struct pn *f = k->next->child; f && f->next;
			     f = f->next->next)
				if (f->type == PN_SCALAR &&
				    strcmp(f->str, "management") == 0)
					mgmt_val[p->n_zones] = f->next;
		}
		p->n_zones++;
	}
	for (size_t i = 0; i < p->n_zones; i++) {
		if (!p->zones[i].management)
			continue;
		if (mgmt == NULL) {
			mgmt = &p->zones[i];
			continue;
		}
		pol_err(c, mgmt_val[i] ? mgmt_val[i]->loc : p->zones[i].loc,
			"zone '%s' is marked management but zone '%s' already "
			"is (expected at most one management zone)",
			p->zones[i].name, mgmt->name);
	}
	free(mgmt_val);
	check_zone_ifaces(c, p);
	check_zone_nets(c, p);
}

/* --- allow entries ------------------------------------------------------- */

enum {
	SK_PROTO,
	SK_PORT,
	SK_TYPE,
	SK_FROM,
	SK_TO,
	SK_RATE,
	SK_BURST,
	SK_MODBUS, /* the protocol blocks, in enum pol_app order */
	SK_DNP3,
	SK_IEC104,
	SK_S7COMM,
	SK_ENIP,
	SK_APP,
	SK_N,
};

static const char *const service_keys[SK_N + 1] = {
	"proto",  "port", "type",   "from-hosts", "to-hosts", "rate", "burst",
	"modbus", "dnp3", "iec104", "s7comm",	  "enip",     "app",  NULL,
};

static bool parse_port(struct pol_ctx *c, const struct pn *n,
		       struct pol_port_range *r)
{
	char dbuf[64], lo[8], hi[8];
	const char *s = pol_want_scalar(c, n, PORT_HINT), *dash;
	uint64_t a, b;

	if (s == NULL)
		return false;
	r->loc = n->loc;
	dash = strchr(s, '-');
	if (dash == NULL) {
		if (!pol_parse_uint(s, UINT64_MAX / 10, &a))
			goto bad;
		b = a;
	} else {
		size_t la = (size_t)(dash - s);

		if (la == 0 || la >= sizeof(lo) ||
		    strlen(dash + 1) >= sizeof(hi))
			goto bad;
		memcpy(lo, s, la);
		lo[la] = '\0';
		strcpy(hi, dash + 1);
		if (!pol_parse_uint(lo, UINT64_MAX / 10, &a) ||
		    !pol_parse_uint(hi, UINT64_MAX / 10, &b))
			goto bad;
	}
	if (a == 0 || b == 0) {
		pol_err(c, n->loc, "port 0 is not allowed (expected 1..65535)");
		return false;
	}
	if (a > 65535 || b > 65535) {
		pol_err(c, n->loc,
			"port %llu is out of range (expected "
			"1..65535)",
			(unsigned long long)(a > 65535 ? a : b));
		return false;
	}
	if (a > b) {
		pol_err(c, n->loc,
			"port range %s is out of order (expected "
			"low-high, like %u-%u)",
			s, (unsigned int)b, (unsigned int)a);
		return false;
	}
	r->lo = (uint16_t)a;
	r->hi = (uint16_t)b;
	return true;
bad:
	pol_err(c, n->loc, "expected " PORT_HINT ", found %s", DESC(n));
	return false;
}

static int port_cmp(const void *a, const void *b)
{
	const struct pol_port_range *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return (int)x->hi - (int)y->hi;
}

static void parse_ports(struct pol_ctx *c, const struct pn *n,
			struct pol_service *s)
{
	struct pol_port_range *sorted;
	size_t count = n->type == PN_SEQ ? n->n : 1;

	if (n->type == PN_MAP) {
		pol_want_type(c, n, PN_SEQ, PORT_HINT " or a sequence of them");
		return;
	}
	if (n->type == PN_SEQ && n->n == 0) {
		pol_err(c, n->loc,
			"expected at least one port, found an empty "
			"sequence");
		return;
	}
	s->ports = pol_ctx_alloc(c, c->arena, count, sizeof(*s->ports));
	if (s->ports == NULL)
		return;
	if (n->type == PN_SCALAR) {
		if (parse_port(c, n, &s->ports[0]))
			s->n_ports = 1;
		return;
	}
	for (const struct pn *it = n->child; it; it = it->next)
		if (parse_port(c, it, &s->ports[s->n_ports]))
			s->n_ports++;
	if (s->n_ports < 2)
		return;
	sorted = malloc(s->n_ports * sizeof(*sorted));
	if (sorted == NULL) {
		c->nomem = true;
		return;
	}
	memcpy(sorted, s->ports, s->n_ports * sizeof(*sorted));
	qsort(sorted, s->n_ports, sizeof(*sorted), port_cmp);
	for (size_t i = 1, cover = 0; i < s->n_ports; i++) {
		const struct pol_port_range *a = &sorted[cover],
					    *b = &sorted[i];
		char x[16], y[16];

		if (b->lo > a->hi) {
			cover = i;
			continue;
		}
		if (loc_before(b->loc, a->loc)) {
			const struct pol_port_range *t = a;

			a = b;
			b = t;
		}
		pol_err(c, b->loc, "port %s overlaps %s in the same entry",
			pol_port_format(b, x, sizeof(x)),
			pol_port_format(a, y, sizeof(y)));
		if (sorted[i].hi > sorted[cover].hi)
			cover = i;
	}
	free(sorted);
}

bool pol_parse_rate(struct pol_ctx *c, const struct pn *n, struct pol_rate *r)
{
	static const char *const units[] = { "second", "minute", "hour",
					     "day" };
	char dbuf[64], num[16];
	const char *str = pol_want_scalar(c, n, RATE_HINT), *slash;
	uint64_t v;
	size_t la, u;

	if (str == NULL)
		return false;
	slash = strchr(str, '/');
	if (slash == NULL || (la = (size_t)(slash - str)) >= sizeof(num))
		goto bad;
	memcpy(num, str, la);
	num[la] = '\0';
	for (u = 0; u < 4; u++)
		if (strcmp(slash + 1, units[u]) == 0)
			break;
	if (u == 4 || !pol_parse_uint(num, UINT32_MAX, &v))
		goto bad;
	if (v == 0) {
		pol_err(c, n->loc,
			"rate 0/%s is not allowed (expected at "
			"least 1)",
			units[u]);
		return false;
	}
	r->count = (uint32_t)v;
	r->unit = (enum pol_rate_unit)u;
	return true;
bad:
	pol_err(c, n->loc, "expected " RATE_HINT ", found %s", DESC(n));
	return false;
}

static void check_host_family(struct pol_ctx *c, const struct pol_prefix *v,
			      size_t n, enum pol_proto proto)
{
	int bad = proto == POL_PROTO_ICMP ? AF_INET6 : AF_INET;
	char a[POL_PREFIX_STRLEN];

	for (size_t i = 0; i < n; i++)
		if (v[i].family == bad)
			pol_err(c, v[i].loc,
				"proto %s is %s only, found %s host %s (use %s)",
				pol_proto_name(proto),
				bad == AF_INET6 ? "IPv4" : "IPv6",
				bad == AF_INET6 ? "IPv6" : "IPv4",
				pol_prefix_format(&v[i], a, sizeof(a)),
				bad == AF_INET6 ? "icmpv6" : "icmp");
}

static void parse_service(struct pol_ctx *c, const struct pn *n,
			  struct pol_service *s, bool *ok)
{
	const struct pn *v[SK_N], *k[SK_N];
	char dbuf[64];
	const char *str;
	unsigned int ffam = 0, tfam = 0;
	bool have_proto = false, icmp = false;
	enum pol_app app = POL_APP_NONE;
	int blk = -1; /* key index of the protocol block */

	/* The slot is reused when an entry is dropped, so start clean. */
	memset(s, 0, sizeof(*s));
	*ok = false;
	s->icmp_type = -1;
	s->loc = n->loc;
	if (!pol_want_type(c, n, PN_MAP, "a mapping for an allow entry"))
		return;
	*ok = true;
	pol_map_fields(c, n, service_keys, "allow entry", v, k);
	for (int i = SK_MODBUS; i <= SK_ENIP; i++)
		if (k[i] != NULL &&
		    (blk < 0 || loc_before(k[i]->loc, k[blk]->loc)))
			blk = i;
	for (int i = SK_MODBUS; i <= SK_ENIP; i++)
		if (k[i] != NULL && i != blk)
			pol_err(c, k[i]->loc,
				"'%s' after '%s' at %d:%d (expected at most "
				"one protocol block per allow entry)",
				service_keys[i], service_keys[blk],
				k[blk]->loc.line, k[blk]->loc.col);
	if (blk >= 0)
		app = (enum pol_app)(POL_APP_MODBUS + (blk - SK_MODBUS));
	if (v[SK_PROTO] == NULL && blk >= 0) {
		s->proto = POL_PROTO_TCP; /* the protocols' usual transport */
		have_proto = true;
	} else if (v[SK_PROTO] == NULL) {
		pol_missing(c, n, "proto", "allow entry");
	} else if ((str = pol_want_scalar(c, v[SK_PROTO], "a protocol")) !=
		   NULL) {
		static const struct {
			const char *name;
			enum pol_proto proto;
		} protos[] = {
			{ "tcp", POL_PROTO_TCP },
			{ "udp", POL_PROTO_UDP },
			{ "sctp", POL_PROTO_SCTP },
			{ "icmp", POL_PROTO_ICMP },
			{ "icmpv6", POL_PROTO_ICMPV6 },
		};

		for (size_t i = 0; i < 5; i++)
			if (strcmp(str, protos[i].name) == 0) {
				s->proto = protos[i].proto;
				have_proto = true;
			}
		if (!have_proto)
			pol_err(c, v[SK_PROTO]->loc,
				"expected tcp, udp, sctp, icmp or icmpv6, "
				"found %s",
				DESC(v[SK_PROTO]));
		icmp = s->proto == POL_PROTO_ICMP ||
		       s->proto == POL_PROTO_ICMPV6;
	}
	if (blk >= 0 && have_proto && s->proto != POL_PROTO_TCP &&
	    (s->proto != POL_PROTO_UDP || !pol_dpi_udp_ok(app)))
		pol_err(c, k[blk]->loc,
			"'%s' is not allowed with proto %s (expected %s)",
			service_keys[blk], pol_proto_name(s->proto),
			pol_dpi_udp_ok(app) ? "tcp or udp" : "tcp");
	if (v[SK_PORT] == NULL && blk >= 0) {
		s->ports = pol_ctx_alloc(c, c->arena, 1, sizeof(*s->ports));
		if (s->ports != NULL) {
			s->ports[0].lo = pol_dpi_default_port(app);
			s->ports[0].hi = s->ports[0].lo;
			s->ports[0].loc = k[blk]->loc;
			s->n_ports = 1;
		}
	}
	if (v[SK_PORT] != NULL) {
		if (have_proto && icmp)
			pol_err(c, k[SK_PORT]->loc,
				"'port' is not allowed with proto %s (use "
				"'type')",
				pol_proto_name(s->proto));
		else
			parse_ports(c, v[SK_PORT], s);
	}
	if (v[SK_TYPE] != NULL && have_proto && !icmp) {
		pol_err(c, k[SK_TYPE]->loc,
			"'type' is not allowed with proto %s (only with icmp "
			"or icmpv6)",
			pol_proto_name(s->proto));
	} else if (v[SK_TYPE] != NULL &&
		   (str = pol_want_scalar(c, v[SK_TYPE], "an ICMP type")) !=
			   NULL &&
		   have_proto) {
		uint64_t t;

		if (pol_parse_uint(str, 255, &t))
			s->icmp_type = (int)t;
		else if ((s->icmp_type = pol_icmp_type_parse(s->proto, str)) <
			 0)
			pol_err(c, v[SK_TYPE]->loc,
				"expected an %s type name like echo-request or "
				"a number 0..255, found %s",
				pol_proto_name(s->proto), DESC(v[SK_TYPE]));
	}
	if (v[SK_FROM] != NULL) {
		s->from_hosts = prefix_list(c, v[SK_FROM],
					    "an address or prefix",
					    &s->n_from_hosts, &ffam);
		check_list_overlaps(c, s->from_hosts, s->n_from_hosts, "host");
	}
	if (v[SK_TO] != NULL) {
		s->to_hosts = prefix_list(c, v[SK_TO], "an address or prefix",
					  &s->n_to_hosts, &tfam);
		check_list_overlaps(c, s->to_hosts, s->n_to_hosts, "host");
	}
	if (have_proto && icmp) {
		check_host_family(c, s->from_hosts, s->n_from_hosts, s->proto);
		check_host_family(c, s->to_hosts, s->n_to_hosts, s->proto);
	} else if (ffam && tfam && (ffam & tfam) == 0) {
		pol_err(c, k[SK_TO]->loc,
			"from-hosts are %s only but to-hosts are %s only "
			"(expected a common address family)",
			ffam == 1 ? "IPv4" : "IPv6",
			tfam == 1 ? "IPv4" : "IPv6");
	}
	if (v[SK_RATE] != NULL)
		s->has_rate = pol_parse_rate(c, v[SK_RATE], &s->rate);
	if (v[SK_BURST] != NULL) {
		uint64_t b;

		str = pol_want_scalar(c, v[SK_BURST], "a burst 1..4294967295");
		if (v[SK_RATE] == NULL)
			pol_err(c, k[SK_BURST]->loc,
				"'burst' needs 'rate' in the same entry");
		else if (str != NULL &&
			 (!pol_parse_uint(str, UINT32_MAX, &b) || b == 0))
			pol_err(c, v[SK_BURST]->loc,
				"expected a burst 1..4294967295, found %s",
				DESC(v[SK_BURST]));
		else if (str != NULL)
			s->rate.burst = (uint32_t)b;
	}
	if (blk >= 0)
		s->dpi = pol_dpi_parse(c, app, k[blk], v[blk]);
	if (v[SK_APP] != NULL)
		pol_dpi_parse_apps(c, v[SK_APP], s);
}

/* --- conduits ------------------------------------------------------------ */

enum {
	CK_NAME,
	CK_DESCRIPTION,
	CK_FROM,
	CK_TO,
	CK_LOG,
	CK_ALLOW,
	CK_MALFORMED,
	CK_FAIL,
	CK_N,
};

static const char *const conduit_keys[CK_N + 1] = {
	"name",	 "description", "from", "to", "log",
	"allow", "malformed",	"fail", NULL,
};

static const struct pol_zone *zone_ref(struct pol_ctx *c,
				       const struct pol_policy *p,
				       const struct name_index *zix,
				       const struct pn *n)
{
	char list[200], dbuf[64];
	const char *s = pol_want_scalar(c, n, "a zone name");
	const struct pol_zone *z;
	size_t o = 0;

	if (s == NULL)
		return NULL;
	z = index_get(zix, s, strlen(s));
	if (z != NULL || p->n_zones == 0)
		return z;
	list[0] = '\0';
	for (size_t i = 0; i < p->n_zones && o < sizeof(list); i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
				      i ? ", " : "", p->zones[i].name);
	pol_err(c, n->loc, "unknown zone %s (expected one of: %s)", DESC(n),
		list);
	return NULL;
}

static void parse_conduit(struct pol_ctx *c, const struct pn *n,
			  struct pol_policy *p, const struct name_index *zix,
			  struct pol_conduit *cd)
{
	const struct pn *v[CK_N], *k[CK_N];
	char in[64];
	const char *s;

	memset(cd, 0, sizeof(*cd));
	cd->loc = n->loc;
	/* explicit: POL_ACT_ALLOW is 0, and malformed input fails closed */
	cd->malformed = POL_ACT_DENY;
	pol_map_fields(c, n, conduit_keys, "conduit", v, k);
	if (v[CK_NAME] == NULL) {
		pol_missing(c, n, "name", "conduit");
	} else if ((s = pol_want_scalar(c, v[CK_NAME], "a conduit name")) !=
		   NULL) {
		char dbuf[64];

		if (!valid_name(s))
			pol_err(c, v[CK_NAME]->loc,
				"invalid conduit name %s "
				"(expected " NAME_HINT ")",
				DESC(v[CK_NAME]));
		cd->name = safe_name(c, s);
	}
	if (cd->name != NULL)
		snprintf(in, sizeof(in), "conduit '%s'", cd->name);
	else
		snprintf(in, sizeof(in), "conduit");
	if (v[CK_DESCRIPTION] && !pn_is_null(v[CK_DESCRIPTION]) &&
	    (s = pol_want_scalar(c, v[CK_DESCRIPTION], "a description")) !=
		    NULL)
		cd->description = pol_ctx_strdup(c, c->arena, s, strlen(s));
	if (v[CK_FROM] == NULL)
		pol_missing(c, n, "from", in);
	else
		cd->from = zone_ref(c, p, zix, v[CK_FROM]);
	if (v[CK_TO] == NULL)
		pol_missing(c, n, "to", in);
	else
		cd->to = zone_ref(c, p, zix, v[CK_TO]);
	if (cd->from != NULL && cd->from == cd->to)
		pol_err(c, v[CK_TO]->loc,
			"%s goes from zone '%s' to itself (expected "
			"two different zones; see intra-zone)",
			in, cd->from->name);
	if (v[CK_LOG] != NULL)
		want_bool(c, v[CK_LOG], &cd->log);
	if (v[CK_MALFORMED] != NULL)
		pol_parse_action(c, v[CK_MALFORMED], true, &cd->malformed);
	if (v[CK_FAIL] != NULL) {
		const char *f = pol_want_scalar(c, v[CK_FAIL], "close or open");

		if (f != NULL && strcmp(f, "open") == 0)
			cd->fail_open = true;
		else if (f != NULL && strcmp(f, "close") != 0)
			pol_err(c, v[CK_FAIL]->loc,
				"expected close or open, found '%s'", f);
	}
	if (v[CK_ALLOW] == NULL) {
		pol_missing(c, n, "allow", in);
		return;
	}
	if (!pol_want_type(c, v[CK_ALLOW], PN_SEQ,
			   "a sequence of allow entries"))
		return;
	if (v[CK_ALLOW]->n == 0) {
		pol_err(c, v[CK_ALLOW]->loc,
			"%s has no allow entries (expected at least "
			"one; without the conduit its traffic is denied "
			"anyway)",
			in);
		return;
	}
	cd->allow =
		pol_ctx_alloc(c, c->arena, v[CK_ALLOW]->n, sizeof(*cd->allow));
	if (cd->allow == NULL)
		return;
	for (const struct pn *it = v[CK_ALLOW]->child; it; it = it->next) {
		bool ok;

		parse_service(c, it, &cd->allow[cd->n_allow], &ok);
		if (ok)
			cd->n_allow++;
	}
}

static void parse_conduits(struct pol_ctx *c, const struct pn *seq,
			   struct pol_policy *p, const struct name_index *zix)
{
	struct name_index names = { 0 }, pairs = { 0 };
	uint32_t(*pair_keys)[2];
	size_t i = 0;

	if (!pol_want_type(c, seq, PN_SEQ, "a sequence of conduits"))
		return;
	p->conduits = pol_ctx_alloc(c, c->arena, seq->n, sizeof(*p->conduits));
	pair_keys = pol_ctx_alloc(c, c->tmp, seq->n, sizeof(*pair_keys));
	if (p->conduits == NULL || pair_keys == NULL)
		return;
	for (const struct pn *it = seq->child; it; it = it->next, i++) {
		struct pol_conduit *cd = &p->conduits[p->n_conduits];
		const struct pol_conduit *dup = NULL, *pair = NULL;

		if (!pol_want_type(c, it, PN_MAP, "a mapping for a conduit"))
			continue;
		parse_conduit(c, it, p, zix, cd);
		if (cd->name != NULL)
			dup = index_get(&names, cd->name, strlen(cd->name));
		if (cd->from && cd->to) {
			pair_keys[i][0] = cd->from->id;
			pair_keys[i][1] = cd->to->id;
			pair = index_get(&pairs, pair_keys[i],
					 sizeof(pair_keys[i]));
		}
		if (dup != NULL) {
			pol_err(c, cd->loc,
				"duplicate conduit '%s' (first "
				"defined at %d:%d)",
				cd->name, dup->loc.line, dup->loc.col);
			continue;
		}
		if (pair != NULL)
			pol_err(c, cd->loc,
				"conduit '%s' repeats zone pair %s -> %s of "
				"conduit '%s' (expected one conduit per "
				"direction)",
				cd->name ? cd->name : "?", cd->from->name,
				cd->to->name, pair->name);
		if (cd->name == NULL)
			continue;
		cd->id = (uint32_t)p->n_conduits + 1;
		p->n_conduits++;
		/* Entries point into p->conduits, which does not move. */
		index_put(c, &names, cd->name, strlen(cd->name), cd);
		if (cd->from && cd->to && pair == NULL)
			index_put(c, &pairs, pair_keys[i], sizeof(pair_keys[i]),
				  cd);
	}
	index_free(&names);
	index_free(&pairs);
}

/* --- top level ----------------------------------------------------------- */

enum {
	TK_VERSION,
	TK_ZONES,
	TK_CONDUITS,
	TK_N,
};

static const char *const top_keys[TK_N + 1] = {
	"version",
	"zones",
	"conduits",
	NULL,
};

int pol_validate(struct pol_ctx *c, const struct pn *root, struct pol_policy *p)
{
	const struct pn *v[TK_N], *k[TK_N];
	struct name_index zix = { 0 };
	char dbuf[64];

	if (root == NULL || pn_is_null(root)) {
		struct pol_loc l = root ? root->loc : (struct pol_loc){ 1, 1 };

		pol_err(c, l,
			"empty policy (expected a mapping with version, "
			"zones and conduits)");
		return -EINVAL;
	}
	if (!pol_want_type(c, root, PN_MAP,
			   "a mapping with version, zones and conduits"))
		return -EINVAL;
	pol_map_fields(c, root, top_keys, "policy", v, k);
	if (v[TK_VERSION] == NULL) {
		pol_missing(c, root, "version", "policy");
	} else {
		const char *s = pol_want_scalar(c, v[TK_VERSION], "version 1");
		uint64_t ver;

		if (s != NULL && pol_parse_uint(s, INT_MAX, &ver) && ver == 1)
			p->version = 1;
		else if (s != NULL && pol_parse_uint(s, INT_MAX, &ver))
			pol_err(c, v[TK_VERSION]->loc,
				"unsupported version %llu (expected 1)",
				(unsigned long long)ver);
		else if (s != NULL)
			pol_err(c, v[TK_VERSION]->loc,
				"expected version 1, found %s",
				DESC(v[TK_VERSION]));
	}
	if (v[TK_ZONES] == NULL)
		pol_missing(c, root, "zones", "policy");
	else
		parse_zones(c, v[TK_ZONES], p, &zix);
	if (v[TK_CONDUITS] != NULL)
		parse_conduits(c, v[TK_CONDUITS], p, &zix);
	index_free(&zix);
	pol_dpi_ctx_done(c);
	if (c->nomem)
		return -ENOMEM;
	return c->nerr ? -EINVAL : 0;
}
