/*
 * Protocol rules of allow entries (modbus, dnp3, iec104, s7comm, enip
 * blocks), `app`, `deny-app-categories` and the action words: syntax tree
 * -> the "protocol rules" part of the model. Presets are resolved here, so
 * that no consumer ever interprets a preset name, and every range list is
 * sorted and merged (pol_ranges_has and friends rely on it).
 *
 * Messages follow validate.c ("expected X, found Y"); the list lives in
 * conduit-policy(5), keep them in step.
 */
#include "policy/model.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dpi/classify.h"
#include "dpi/proto/modbus.h"
#include "dpi/proto/dnp3.h"
#include "dpi/proto/iec104.h"
#include "dpi/proto/s7comm.h"
#include "policy/internal.h"

#define DESC(n) pol_describe((n), dbuf, sizeof(dbuf))

/* --- range lists ---------------------------------------------------------- */

/* A growing list of ranges while one key is read (malloc'd, freed at once). */
struct rl {
	struct pol_range *v;
	size_t n, cap;
	bool nomem;
};

static void rl_add(struct rl *l, uint32_t lo, uint32_t hi)
{
	if (l->nomem)
		return;
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 16;
		struct pol_range *nv = realloc(l->v, ncap * sizeof(*nv));

		if (nv == NULL) {
			l->nomem = true;
			return;
		}
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n].lo = lo;
	l->v[l->n].hi = hi;
	l->n++;
}

static void rl_free(struct rl *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int range_cmp(const void *a, const void *b)
{
	const struct pol_range *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return x->hi < y->hi ? -1 : x->hi > y->hi;
}

/* Sorted and merged (touching ranges too) into the policy arena. */
static void rl_to_ranges(struct pol_ctx *c, struct rl *l, struct pol_ranges *r)
{
	struct pol_range *v;
	size_t n = 0;

	r->v = NULL;
	r->n = 0;
	if (l->nomem) {
		c->nomem = true;
		return;
	}
	if (l->n == 0)
		return;
	qsort(l->v, l->n, sizeof(*l->v), range_cmp);
	for (size_t i = 0; i < l->n; i++) {
		if (n > 0 &&
		    (uint64_t)l->v[i].lo <= (uint64_t)l->v[n - 1].hi + 1) {
			if (l->v[i].hi > l->v[n - 1].hi)
				l->v[n - 1].hi = l->v[i].hi;
			continue;
		}
		l->v[n++] = l->v[i];
	}
	v = pol_ctx_alloc(c, c->arena, n, sizeof(*v));
	if (v == NULL)
		return;
	memcpy(v, l->v, n * sizeof(*v));
	r->v = v;
	r->n = n;
}

static void rl_to_set(const struct rl *l, struct pol_set256 *s)
{
	for (size_t i = 0; i < l->n; i++)
		for (uint32_t x = l->v[i].lo; x <= l->v[i].hi && x < 256; x++)
			pol_set_add(s, x);
}

static void set_add_range(struct pol_set256 *s, unsigned int lo,
			  unsigned int hi)
{
	for (unsigned int x = lo; x <= hi; x++)
		pol_set_add(s, x);
}

static void set_del(struct pol_set256 *s, unsigned int v)
{
	s->w[v >> 6] &= ~((uint64_t)1 << (v & 63));
}

static void set_union(struct pol_set256 *a, const struct pol_set256 *b)
{
	for (int i = 0; i < 4; i++)
		a->w[i] |= b->w[i];
}

/* --- numbers and names ------------------------------------------------------ */

/* What one key's values are. */
struct nspec {
	const char *noun; /* "unit id", in "unit id 300 is out of range" */
	const char *what; /* "a unit id", in "expected ..." */
	uint32_t min, max;
	/* a name: appends its values and returns true */
	bool (*name)(const char *s, struct rl *out);
	const char *example; /* a name for the message */
	bool empty_ok; /* an empty sequence: an empty list, not an error */
	bool single;   /* one value, no range */
};

/* Decimal, or hex with 0x; *v saturates above UINT32_MAX (reported as out
 * of range by the caller). */
static bool parse_num(const char *s, size_t n, uint64_t *v)
{
	uint64_t x = 0;
	unsigned int base = 10;
	size_t i = 0;

	if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		i = 2;
	}
	if (i == n)
		return false;
	for (; i < n; i++) {
		unsigned int d;

		if (s[i] >= '0' && s[i] <= '9')
			d = (unsigned int)(s[i] - '0');
		else if (base == 16 && s[i] >= 'a' && s[i] <= 'f')
			d = (unsigned int)(s[i] - 'a' + 10);
		else if (base == 16 && s[i] >= 'A' && s[i] <= 'F')
			d = (unsigned int)(s[i] - 'A' + 10);
		else
			return false;
		x = x * base + d;
		if (x > (uint64_t)UINT32_MAX + 1)
			x = (uint64_t)UINT32_MAX + 1;
	}
	*v = x;
	return true;
}

static void spec_hint(const struct nspec *sp, char *buf, size_t len)
{
	if (sp->single && sp->name != NULL)
		snprintf(buf, len, "%s (%u..%u or a name like %s)", sp->what,
			 sp->min, sp->max, sp->example);
	else if (sp->single)
		snprintf(buf, len, "%s %u..%u", sp->what, sp->min, sp->max);
	else if (sp->name != NULL)
		snprintf(buf, len,
			 "%s (%u..%u, a range lo-hi or a name like %s)",
			 sp->what, sp->min, sp->max, sp->example);
	else
		snprintf(buf, len, "%s (%u..%u or a range lo-hi)", sp->what,
			 sp->min, sp->max);
}

/* One item: a name, a number or "lo-hi". */
static bool parse_item(struct pol_ctx *c, const struct pn *n,
		       const struct nspec *sp, struct rl *out)
{
	char dbuf[64], hint[160];
	const char *s, *dash;
	uint64_t a, b;

	spec_hint(sp, hint, sizeof(hint));
	s = pol_want_scalar(c, n, hint);
	if (s == NULL)
		return false;
	if (sp->name != NULL && sp->name(s, out))
		return true;
	dash = sp->single ? NULL : strchr(s, '-');
	if (dash == NULL) {
		if (!parse_num(s, strlen(s), &a))
			goto bad;
		b = a;
	} else if (!parse_num(s, (size_t)(dash - s), &a) ||
		   !parse_num(dash + 1, strlen(dash + 1), &b)) {
		goto bad;
	}
	if (a < sp->min || a > sp->max || b < sp->min || b > sp->max) {
		uint64_t bad = a < sp->min || a > sp->max ? a : b;

		if (bad > UINT32_MAX)
			pol_err(c, n->loc,
				"%s %s is out of range (expected %u..%u)",
				sp->noun, s, sp->min, sp->max);
		else
			pol_err(c, n->loc,
				"%s %llu is out of range (expected %u..%u)",
				sp->noun, (unsigned long long)bad, sp->min,
				sp->max);
		return false;
	}
	if (a > b) {
		pol_err(c, n->loc,
			"range %s is out of order (expected low-high, like "
			"%llu-%llu)",
			s, (unsigned long long)b, (unsigned long long)a);
		return false;
	}
	rl_add(out, (uint32_t)a, (uint32_t)b);
	return true;
bad:
	pol_err(c, n->loc, "expected %s, found %s", hint, DESC(n));
	return false;
}

/* An item or a sequence of items into out; false after an error (the
 * values that were valid are in out anyway). */
static bool parse_list(struct pol_ctx *c, const struct pn *n,
		       const struct nspec *sp, struct rl *out)
{
	char dbuf[64], hint[160];
	bool ok = true;

	if (n->type == PN_SCALAR)
		return parse_item(c, n, sp, out);
	if (n->type == PN_MAP) {
		spec_hint(sp, hint, sizeof(hint));
		pol_err(c, n->loc,
			"expected %s or a sequence of them, found %s", hint,
			DESC(n));
		return false;
	}
	if (n->n == 0 && !sp->empty_ok) {
		pol_err(c, n->loc, "expected at least one %s, found %s",
			sp->noun, DESC(n));
		return false;
	}
	for (const struct pn *it = n->child; it; it = it->next)
		ok &= parse_item(c, it, sp, out);
	return ok;
}

static void want_ranges(struct pol_ctx *c, const struct pn *n,
			const struct nspec *sp, struct pol_ranges *r)
{
	struct rl l = { 0 };

	if (parse_list(c, n, sp, &l))
		rl_to_ranges(c, &l, r);
	rl_free(&l);
}

static void want_set(struct pol_ctx *c, const struct pn *n,
		     const struct nspec *sp, struct pol_set256 *s)
{
	struct rl l = { 0 };

	if (parse_list(c, n, sp, &l))
		rl_to_set(&l, s);
	if (l.nomem)
		c->nomem = true;
	rl_free(&l);
}

/* Looks s up in a table indexed by value; case-sensitive unless icase. */
static int table_lookup(const char *const *t, size_t n, const char *s,
			bool icase)
{
	for (size_t i = 0; i < n; i++)
		if (t[i] != NULL &&
		    (icase ? strcasecmp(t[i], s) : strcmp(t[i], s)) == 0)
			return (int)i;
	return -1;
}

static bool name_one(int v, struct rl *out)
{
	if (v < 0)
		return false;
	rl_add(out, (uint32_t)v, (uint32_t)v);
	return true;
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* modbus */
static const uint8_t mb_reads[] = { 1, 2, 3, 4, 7, 11, 12, 17, 20, 24 };
static const uint8_t mb_writes[] = { 5, 6, 15, 16, 21, 22, 23 };

static bool mb_fc_name(const char *s, struct rl *out)
{
	if (strcmp(s, "reads") == 0 || strcmp(s, "writes") == 0) {
		bool r = s[0] == 'r';
		const uint8_t *v = r ? mb_reads : mb_writes;
		size_t n = r ? NELEM(mb_reads) : NELEM(mb_writes);

		for (size_t i = 0; i < n; i++)
			rl_add(out, v[i], v[i]);
		return true;
	}
	return name_one(modbus_fc_from_name(s), out);
}

/* dnp3: IEEE 1815 names; the parser's longer forms are accepted too */
static const char *const dnp3_names[256] = {
	[0] = "confirm",
	[1] = "read",
	[2] = "write",
	[3] = "select",
	[4] = "operate",
	[5] = "direct-operate",
	[6] = "direct-operate-nr",
	[7] = "immediate-freeze",
	[8] = "immediate-freeze-nr",
	[9] = "freeze-clear",
	[10] = "freeze-clear-nr",
	[11] = "freeze-at-time",
	[12] = "freeze-at-time-nr",
	[13] = "cold-restart",
	[14] = "warm-restart",
	[15] = "initialize-data",
	[16] = "initialize-application",
	[17] = "start-application",
	[18] = "stop-application",
	[19] = "save-configuration",
	[20] = "enable-unsolicited",
	[21] = "disable-unsolicited",
	[22] = "assign-class",
	[23] = "delay-measure",
	[24] = "record-current-time",
	[25] = "open-file",
	[26] = "close-file",
	[27] = "delete-file",
	[28] = "get-file-info",
	[29] = "authenticate-file",
	[30] = "abort-file",
	[31] = "activate-configuration",
	[32] = "authenticate-request",
	[33] = "authenticate-request-nr",
	[129] = "response",
	[130] = "unsolicited-response",
	[131] = "authenticate-response",
};

static bool dnp3_fc_name(const char *s, struct rl *out)
{
	int v = table_lookup(dnp3_names, NELEM(dnp3_names), s, false);

	return name_one(v >= 0 ? v : dnp3_func_from_name(s), out);
}

/* iec104 */
static bool iec104_type_by_name(const char *s, struct rl *out)
{
	for (unsigned int t = 1; t < 256; t++) {
		const char *n = iec104_type_name((uint8_t)t);

		if (n != NULL && strcasecmp(n, s) == 0)
			return name_one((int)t, out);
	}
	return false;
}

static const char *const cot_names[64] = {
	[1] = "per/cyc",
	[2] = "back",
	[3] = "spont",
	[4] = "init",
	[5] = "req",
	[6] = "act",
	[7] = "actcon",
	[8] = "deact",
	[9] = "deactcon",
	[10] = "actterm",
	[11] = "retrem",
	[12] = "retloc",
	[13] = "file",
	[20] = "inrogen",
	[37] = "reqcogen",
	[44] = "unknown-type",
	[45] = "unknown-cause",
	[46] = "unknown-ca",
	[47] = "unknown-ioa",
};

static bool cot_name(const char *s, struct rl *out)
{
	return name_one(table_lookup(cot_names, NELEM(cot_names), s, false),
			out);
}

/* s7comm */
static bool s7_fc_name(const char *s, struct rl *out)
{
	return name_one(s7comm_func_from_name(s), out);
}

static bool s7_group_name(const char *s, struct rl *out)
{
	for (unsigned int g = 0; g < 16; g++) {
		const char *n = s7comm_ud_group_name((uint8_t)g);

		if (n != NULL && strcmp(n, s) == 0)
			return name_one((int)g, out);
	}
	return false;
}

/* enip */
static const struct {
	const char *name;
	uint16_t v;
} enip_cmds[] = {
	{ "nop", 0x00 },
	{ "list-services", 0x04 },
	{ "list-identity", 0x63 },
	{ "list-interfaces", 0x64 },
	{ "register-session", 0x65 },
	{ "unregister-session", 0x66 },
	{ "send-rr-data", 0x6f },
	{ "send-unit-data", 0x70 },
	{ "indicate-status", 0x72 },
	{ "cancel", 0x73 },
};

static bool enip_cmd_name(const char *s, struct rl *out)
{
	for (size_t i = 0; i < NELEM(enip_cmds); i++)
		if (strcmp(enip_cmds[i].name, s) == 0)
			return name_one(enip_cmds[i].v, out);
	return false;
}

static const struct {
	const char *name;
	uint8_t v;
} cip_svcs[] = {
	{ "get-attributes-all", 0x01 },
	{ "get-attribute-list", 0x03 },
	{ "set-attribute-list", 0x04 },
	{ "reset", 0x05 },
	{ "start", 0x06 },
	{ "stop", 0x07 },
	{ "multiple-service-packet", 0x0a },
	{ "get-attribute-single", 0x0e },
	{ "set-attribute-single", 0x10 },
	{ "forward-close", 0x4e },
	{ "unconnected-send", 0x52 },
	{ "forward-open", 0x54 },
	{ "large-forward-open", 0x5b },
	{ "read-tag", 0x4c },
	{ "write-tag", 0x4d },
	{ "read-tag-fragmented", 0x52 },
	{ "write-tag-fragmented", 0x53 },
	{ "get-instance-attribute-list", 0x55 },
};

static bool cip_svc_name(const char *s, struct rl *out)
{
	for (size_t i = 0; i < NELEM(cip_svcs); i++)
		if (strcmp(cip_svcs[i].name, s) == 0)
			return name_one(cip_svcs[i].v, out);
	return false;
}

static const struct nspec sp_mb_fc = {
	.noun = "Modbus function code",
	.what = "a Modbus function code",
	.min = 1,
	.max = 127,
	.name = mb_fc_name,
	.example = "read-coils",
	.empty_ok = true,
};
static const struct nspec sp_mb_unit = {
	.noun = "unit id",
	.what = "a unit id",
	.min = 0,
	.max = 255,
};
static const struct nspec sp_mb_addr = {
	.noun = "address",
	.what = "an address",
	.min = 0,
	.max = 65535,
	.empty_ok = true,
};
static const struct nspec sp_mb_pdu = {
	.noun = "max-pdu",
	.what = "a PDU length",
	.min = 1,
	.max = 253,
	.single = true,
};
static const struct nspec sp_dnp3_fc = {
	.noun = "DNP3 function code",
	.what = "a DNP3 function code",
	.min = 0,
	.max = 255,
	.name = dnp3_fc_name,
	.example = "read",
	.empty_ok = true,
};
static const struct nspec sp_dnp3_addr = {
	.noun = "outstation address",
	.what = "an outstation address",
	.min = 0,
	.max = 65535,
};
static const struct nspec sp_dnp3_group = {
	.noun = "object group",
	.what = "an object group",
	.min = 0,
	.max = 255,
	.single = true,
};
static const struct nspec sp_dnp3_var = {
	.noun = "object variation",
	.what = "an object variation",
	.min = 0,
	.max = 255,
	.single = true,
};
static const struct nspec sp_dnp3_index = {
	.noun = "index",
	.what = "an index",
	.min = 0,
	.max = UINT32_MAX,
};
static const struct nspec sp_iec_type = {
	.noun = "type id",
	.what = "a type id",
	.min = 1,
	.max = 255,
	.name = iec104_type_by_name,
	.example = "C_SC_NA_1",
	.empty_ok = true,
};
static const struct nspec sp_iec_cot = {
	.noun = "cause of transmission",
	.what = "a cause of transmission",
	.min = 0,
	.max = 63,
	.name = cot_name,
	.example = "spont",
};
static const struct nspec sp_iec_ca = {
	.noun = "common address",
	.what = "a common address",
	.min = 0,
	.max = 65535,
};
static const struct nspec sp_iec_ioa = {
	.noun = "IOA",
	.what = "an IOA",
	.min = 0,
	.max = 16777215,
};
static const struct nspec sp_s7_fc = {
	.noun = "S7 function code",
	.what = "an S7 function code",
	.min = 0,
	.max = 255,
	.name = s7_fc_name,
	.example = "read-var",
	.empty_ok = true,
};
static const struct nspec sp_s7_group = {
	.noun = "userdata group",
	.what = "a userdata group",
	.min = 0,
	.max = 15,
	.name = s7_group_name,
	.example = "cpu",
	.single = true,
};
static const struct nspec sp_s7_sub = {
	.noun = "subfunction",
	.what = "a subfunction",
	.min = 0,
	.max = 255,
};
static const struct nspec sp_enip_cmd = {
	.noun = "encapsulation command",
	.what = "an encapsulation command",
	.min = 0,
	.max = 65535,
	.name = enip_cmd_name,
	.example = "list-identity",
};
static const struct nspec sp_cip_svc = {
	.noun = "CIP service",
	.what = "a CIP service",
	.min = 0,
	.max = 127,
	.name = cip_svc_name,
	.example = "get-attribute-single",
	.empty_ok = true,
};
static const struct nspec sp_cip_class = {
	.noun = "class id",
	.what = "a class id",
	.min = 0,
	.max = UINT32_MAX,
};
static const struct nspec sp_cip_instance = {
	.noun = "instance id",
	.what = "an instance id",
	.min = 0,
	.max = UINT32_MAX,
};
static const struct nspec sp_cip_attribute = {
	.noun = "attribute id",
	.what = "an attribute id",
	.min = 0,
	.max = UINT32_MAX,
};

/* A single number of sp (one value, no range or list). */
static bool want_one(struct pol_ctx *c, const struct pn *n,
		     const struct nspec *sp, uint32_t *v)
{
	struct rl l = { 0 };
	char dbuf[64], hint[160];
	bool ok = false;

	if (parse_item(c, n, sp, &l)) {
		if (l.n == 1 && l.v[0].lo == l.v[0].hi) {
			*v = l.v[0].lo;
			ok = true;
		} else {
			snprintf(hint, sizeof(hint), "%s %u..%u", sp->what,
				 sp->min, sp->max);
			pol_err(c, n->loc, "expected %s, found %s", hint,
				DESC(n));
		}
	}
	if (l.nomem)
		c->nomem = true;
	rl_free(&l);
	return ok;
}

/* --- actions ------------------------------------------------------------------ */

bool pol_parse_action(struct pol_ctx *c, const struct pn *n, bool allow_ok,
		      enum pol_action *a)
{
	const char *what = allow_ok ? "allow, deny or reject" :
				      "deny or reject";
	char dbuf[64];
	const char *s = pol_want_scalar(c, n, what);

	if (s == NULL)
		return false;
	if (allow_ok && strcmp(s, "allow") == 0)
		*a = POL_ACT_ALLOW;
	else if (strcmp(s, "deny") == 0)
		*a = POL_ACT_DENY;
	else if (strcmp(s, "reject") == 0)
		*a = POL_ACT_REJECT;
	else {
		pol_err(c, n->loc, "expected %s, found %s", what, DESC(n));
		return false;
	}
	return true;
}

/* --- match keys, per protocol ------------------------------------------------ */

#define MATCH_MAX 8 /* match keys of one protocol, at most */

static const char *const mb_keys[] = {
	"functions",	     "unit-ids",	"coils", "discrete-inputs",
	"holding-registers", "input-registers", NULL,
};
static const char *const dnp3_keys[] = { "functions", "outstations", "objects",
					 NULL };
static const char *const iec_keys[] = { "type-ids", "causes",
					"common-addresses", "ioas", NULL };
static const char *const s7_keys[] = { "functions", "userdata", NULL };
static const char *const enip_keys[] = { "commands",  "services",   "classes",
					 "instances", "attributes", NULL };

/* `{read: RANGES, write: RANGES}` of one Modbus table */
static void mb_table(struct pol_ctx *c, const struct pn *key,
		     const struct pn *val, enum pol_mb_table t,
		     struct pol_modbus_match *m)
{
	static const char *const rw[] = { "read", "write", NULL };
	const struct pn *v[2], *k[2];
	bool ro = t == POL_MB_DISCRETE_INPUTS || t == POL_MB_INPUT_REGISTERS;
	char in[64];

	if (!pol_want_type(c, val, PN_MAP,
			   ro ? "a mapping with read" :
				"a mapping with read and write"))
		return;
	snprintf(in, sizeof(in), "%s", key->str);
	pol_map_fields(c, val, rw, in, v, k);
	m->has_table[t] = true;
	if (v[0] != NULL)
		want_ranges(c, v[0], &sp_mb_addr, &m->read[t]);
	if (v[1] != NULL && ro)
		pol_err(c, k[1]->loc,
			"'write' is not allowed in %s (a read-only table)",
			key->str);
	else if (v[1] != NULL)
		want_ranges(c, v[1], &sp_mb_addr, &m->write[t]);
}

static void mb_match(struct pol_ctx *c, const struct pn *const *v,
		     const struct pn *const *k, union pol_dpi_match *u)
{
	struct pol_modbus_match *m = &u->modbus;

	if (v[0] != NULL) {
		m->has_functions = true;
		want_set(c, v[0], &sp_mb_fc, &m->functions);
	}
	if (v[1] != NULL)
		want_ranges(c, v[1], &sp_mb_unit, &m->unit_ids);
	for (int t = 0; t < POL_MB_TABLES; t++)
		if (v[2 + t] != NULL)
			mb_table(c, k[2 + t], v[2 + t], (enum pol_mb_table)t,
				 m);
}

static void dnp3_objects(struct pol_ctx *c, const struct pn *n,
			 struct pol_dnp3_match *m)
{
	static const char *const ok[] = { "group", "variation", "indexes",
					  NULL };
	struct pol_dnp3_object *o;

	if (!pol_want_type(c, n, PN_SEQ, "a sequence of objects"))
		return;
	if (n->n == 0) {
		pol_err(c, n->loc,
			"expected at least one object, found an empty "
			"sequence");
		return;
	}
	o = pol_ctx_alloc(c, c->arena, n->n, sizeof(*o));
	if (o == NULL)
		return;
	m->objects = o;
	for (const struct pn *it = n->child; it; it = it->next) {
		const struct pn *v[3], *k[3];
		struct pol_dnp3_object *x = &o[m->n_objects];
		uint32_t g, var;

		if (!pol_want_type(c, it, PN_MAP,
				   "a mapping with group, variation and "
				   "indexes"))
			continue;
		memset(x, 0, sizeof(*x));
		x->loc = it->loc;
		pol_map_fields(c, it, ok, "object", v, k);
		if (v[0] == NULL)
			pol_missing(c, it, "group", "object");
		else if (want_one(c, v[0], &sp_dnp3_group, &g))
			x->group = (uint8_t)g;
		if (v[1] != NULL && want_one(c, v[1], &sp_dnp3_var, &var)) {
			x->has_variation = true;
			x->variation = (uint8_t)var;
		}
		if (v[2] != NULL)
			want_ranges(c, v[2], &sp_dnp3_index, &x->indexes);
		m->n_objects++;
	}
}

static void dnp3_match(struct pol_ctx *c, const struct pn *const *v,
		       const struct pn *const *k, union pol_dpi_match *u)
{
	struct pol_dnp3_match *m = &u->dnp3;

	(void)k;
	if (v[0] != NULL) {
		m->has_functions = true;
		want_set(c, v[0], &sp_dnp3_fc, &m->functions);
	}
	if (v[1] != NULL)
		want_ranges(c, v[1], &sp_dnp3_addr, &m->outstations);
	if (v[2] != NULL)
		dnp3_objects(c, v[2], m);
}

static void iec_match(struct pol_ctx *c, const struct pn *const *v,
		      const struct pn *const *k, union pol_dpi_match *u)
{
	struct pol_iec104_match *m = &u->iec104;

	(void)k;
	if (v[0] != NULL) {
		m->has_types = true;
		want_set(c, v[0], &sp_iec_type, &m->types);
	}
	if (v[1] != NULL)
		want_ranges(c, v[1], &sp_iec_cot, &m->causes);
	if (v[2] != NULL)
		want_ranges(c, v[2], &sp_iec_ca, &m->common_addresses);
	if (v[3] != NULL)
		want_ranges(c, v[3], &sp_iec_ioa, &m->ioas);
}

static void s7_userdata(struct pol_ctx *c, const struct pn *n,
			struct pol_s7_match *m)
{
	static const char *const ok[] = { "group", "subfunctions", NULL };
	struct pol_s7_userdata *u;

	if (!pol_want_type(c, n, PN_SEQ, "a sequence of userdata groups"))
		return;
	if (n->n == 0) {
		pol_err(c, n->loc,
			"expected at least one userdata group, found an empty "
			"sequence");
		return;
	}
	u = pol_ctx_alloc(c, c->arena, n->n, sizeof(*u));
	if (u == NULL)
		return;
	m->userdata = u;
	for (const struct pn *it = n->child; it; it = it->next) {
		const struct pn *v[2], *k[2];
		struct pol_s7_userdata *x = &u[m->n_userdata];
		uint32_t g;

		if (!pol_want_type(c, it, PN_MAP,
				   "a mapping with group and subfunctions"))
			continue;
		memset(x, 0, sizeof(*x));
		x->loc = it->loc;
		pol_map_fields(c, it, ok, "userdata group", v, k);
		if (v[0] == NULL)
			pol_missing(c, it, "group", "userdata group");
		else if (want_one(c, v[0], &sp_s7_group, &g))
			x->group = (uint8_t)g;
		if (v[1] != NULL)
			want_ranges(c, v[1], &sp_s7_sub, &x->subfunctions);
		m->n_userdata++;
	}
}

static void s7_match(struct pol_ctx *c, const struct pn *const *v,
		     const struct pn *const *k, union pol_dpi_match *u)
{
	struct pol_s7_match *m = &u->s7comm;

	(void)k;
	if (v[0] != NULL) {
		m->has_functions = true;
		want_set(c, v[0], &sp_s7_fc, &m->functions);
	}
	if (v[1] != NULL) {
		m->has_userdata = true;
		s7_userdata(c, v[1], m);
	}
}

static void enip_match(struct pol_ctx *c, const struct pn *const *v,
		       const struct pn *const *k, union pol_dpi_match *u)
{
	struct pol_enip_match *m = &u->enip;

	(void)k;
	if (v[0] != NULL)
		want_ranges(c, v[0], &sp_enip_cmd, &m->commands);
	if (v[1] != NULL) {
		m->has_services = true;
		want_set(c, v[1], &sp_cip_svc, &m->services);
	}
	if (v[2] != NULL)
		want_ranges(c, v[2], &sp_cip_class, &m->classes);
	if (v[3] != NULL)
		want_ranges(c, v[3], &sp_cip_instance, &m->instances);
	if (v[4] != NULL)
		want_ranges(c, v[4], &sp_cip_attribute, &m->attributes);
}

/* --- protocols ---------------------------------------------------------------- */

static const char *const mb_presets[] = { "read-only", "read-write",
					  "programming", "all", NULL };
static const char *const dnp3_presets[] = { "read-only", "operate", "all",
					    NULL };
static const char *const iec_presets[] = { "monitor-only", "all", NULL };
static const char *const s7_presets[] = { "read-only", "all", NULL };
static const char *const enip_presets[] = { "read-only", "all", NULL };

/* Block-only keys besides preset, rules and rate-limits. */
static const char *const mb_extra[] = { "max-pdu", "umas", "mei", NULL };
static const char *const s7_extra[] = { "s7plus", NULL };
static const char *const no_extra[] = { NULL };

struct proto_def {
	const char *name;
	uint16_t port;
	bool udp;
	const char *const *presets;
	const char *const *match_keys;
	const char *const *extra_keys;
	void (*match)(struct pol_ctx *c, const struct pn *const *v,
		      const struct pn *const *k, union pol_dpi_match *m);
};

static const struct proto_def protos[POL_APP_N] = {
	[POL_APP_MODBUS] = { "modbus", 502, false, mb_presets, mb_keys,
			     mb_extra, mb_match },
	[POL_APP_DNP3] = { "dnp3", 20000, true, dnp3_presets, dnp3_keys,
			   no_extra, dnp3_match },
	[POL_APP_IEC104] = { "iec104", 2404, false, iec_presets, iec_keys,
			     no_extra, iec_match },
	[POL_APP_S7COMM] = { "s7comm", 102, false, s7_presets, s7_keys,
			     s7_extra, s7_match },
	[POL_APP_ENIP] = { "enip", 44818, true, enip_presets, enip_keys,
			   no_extra, enip_match },
};

enum pol_app pol_dpi_app_of_key(const char *key)
{
	for (int a = POL_APP_MODBUS; a < POL_APP_N; a++)
		if (strcmp(protos[a].name, key) == 0)
			return (enum pol_app)a;
	return POL_APP_NONE;
}

uint16_t pol_dpi_default_port(enum pol_app app)
{
	return app > POL_APP_NONE && app < POL_APP_N ? protos[app].port : 0;
}

bool pol_dpi_udp_ok(enum pol_app app)
{
	return app > POL_APP_NONE && app < POL_APP_N && protos[app].udp;
}

const char *pol_dpi_preset_name(enum pol_app app, int preset)
{
	if (app <= POL_APP_NONE || app >= POL_APP_N || preset < 0)
		return NULL;
	for (int i = 0; protos[app].presets[i] != NULL; i++)
		if (i == preset)
			return protos[app].presets[i];
	return NULL;
}

static size_t keys_count(const char *const *k)
{
	size_t n = 0;

	while (k[n] != NULL)
		n++;
	return n;
}

static size_t keys_list(const char *const *k, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; k[i] != NULL && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "",
				      k[i]);
	return o;
}

/* table = head keys + the protocol's match keys + tail keys */
static size_t build_keys(const char **table, const char *const *head,
			 const struct proto_def *d, const char *const *tail)
{
	size_t n = 0;

	for (size_t i = 0; head[i] != NULL; i++)
		table[n++] = head[i];
	for (size_t i = 0; d->match_keys[i] != NULL; i++)
		table[n++] = d->match_keys[i];
	for (size_t i = 0; tail[i] != NULL; i++)
		table[n++] = tail[i];
	table[n] = NULL;
	return n;
}

static bool any_of(const struct pn *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] != NULL)
			return true;
	return false;
}

/* exception: a Modbus exception code answering a rejected request. */
static void parse_exception(struct pol_ctx *c, const struct pn *n,
			    struct pol_dpi_rule *r)
{
	static const char *const names[] = { "illegal-function",
					     "illegal-data-address",
					     "illegal-data-value", NULL };
	char dbuf[64];
	const char *s;
	uint64_t code;

	if (r->action != POL_ACT_REJECT) {
		pol_err(c, n->loc,
			"exception needs action: reject (the rule's action is "
			"%s)",
			pol_action_name(r->action));
		return;
	}
	s = pol_want_scalar(c, n,
			    "illegal-function, illegal-data-address, "
			    "illegal-data-value or an exception code 1..255");
	if (s == NULL)
		return;
	for (size_t i = 0; names[i] != NULL; i++)
		if (strcmp(s, names[i]) == 0) {
			r->exception = (uint16_t)(i + 1);
			return;
		}
	if (parse_num(s, strlen(s), &code) && code >= 1 && code <= 255) {
		r->exception = (uint16_t)code;
		return;
	}
	pol_err(c, n->loc,
		"expected illegal-function, illegal-data-address, "
		"illegal-data-value or an exception code 1..255, found %s",
		DESC(n));
}

static void parse_rules(struct pol_ctx *c, const struct proto_def *d,
			const struct pn *n, struct pol_dpi *dpi)
{
	static const char *const head[] = { "action", NULL };
	/* exception: Modbus rules only (elsewhere an unknown key) */
	static const char *const mb_tail[] = { "exception", NULL };
	const bool mb = d == &protos[POL_APP_MODBUS];
	const char *table[MATCH_MAX + 8];
	size_t nm = keys_count(d->match_keys);
	char list[200];

	build_keys(table, head, d, mb ? mb_tail : mb_tail + 1);
	if (!pol_want_type(c, n, PN_SEQ, "a sequence of rules"))
		return;
	dpi->rules = pol_ctx_alloc(c, c->arena, n->n ? n->n : 1,
				   sizeof(*dpi->rules));
	if (dpi->rules == NULL)
		return;
	keys_list(d->match_keys, list, sizeof(list));
	for (const struct pn *it = n->child; it; it = it->next) {
		const struct pn *v[MATCH_MAX + 8], *k[MATCH_MAX + 8];
		struct pol_dpi_rule *r = &dpi->rules[dpi->n_rules];

		if (!pol_want_type(c, it, PN_MAP, "a mapping for a rule"))
			continue;
		memset(r, 0, sizeof(*r));
		r->loc = it->loc;
		r->action = POL_ACT_DENY;
		pol_map_fields(c, it, table, "rule", v, k);
		if (v[0] == NULL)
			pol_missing(c, it, "action", "rule");
		else
			pol_parse_action(c, v[0], true, &r->action);
		if (!any_of(v + 1, nm))
			pol_err(c, it->loc,
				"rule has no match keys (expected at least one "
				"of: %s)",
				list);
		d->match(c, v + 1, k + 1, &r->m);
		if (mb && v[1 + nm] != NULL)
			parse_exception(c, v[1 + nm], r);
		dpi->n_rules++;
	}
}

static void parse_limits(struct pol_ctx *c, const struct proto_def *d,
			 const struct pn *n, struct pol_dpi *dpi)
{
	static const char *const tail[] = { "rate", "burst", "per", "action",
					    NULL };
	const char *table[MATCH_MAX + 8];
	size_t nm = keys_count(d->match_keys);

	build_keys(table, (const char *const[]){ NULL }, d, tail);
	if (!pol_want_type(c, n, PN_SEQ, "a sequence of rate limits"))
		return;
	dpi->limits = pol_ctx_alloc(c, c->arena, n->n ? n->n : 1,
				    sizeof(*dpi->limits));
	if (dpi->limits == NULL)
		return;
	for (const struct pn *it = n->child; it; it = it->next) {
		const struct pn *v[MATCH_MAX + 8], *k[MATCH_MAX + 8];
		const struct pn *const *t = v + nm;
		struct pol_rate_limit *l = &dpi->limits[dpi->n_limits];
		char dbuf[64];
		const char *s;

		if (!pol_want_type(c, it, PN_MAP, "a mapping for a rate limit"))
			continue;
		memset(l, 0, sizeof(*l));
		l->loc = it->loc;
		l->action = POL_ACT_DENY;
		l->per = POL_PER_SOURCE;
		pol_map_fields(c, it, table, "rate limit", v, k);
		d->match(c, v, k, &l->m);
		if (t[0] == NULL)
			pol_missing(c, it, "rate", "rate limit");
		else
			pol_parse_rate(c, t[0], &l->rate);
		if (t[1] != NULL) {
			uint64_t b;

			s = pol_want_scalar(c, t[1], "a burst 1..4294967295");
			if (s != NULL &&
			    (!pol_parse_uint(s, UINT32_MAX, &b) || b == 0))
				pol_err(c, t[1]->loc,
					"expected a burst 1..4294967295, found "
					"%s",
					DESC(t[1]));
			else if (s != NULL)
				l->rate.burst = (uint32_t)b;
		}
		if (t[2] != NULL &&
		    (s = pol_want_scalar(c, t[2], "source, flow or conduit")) !=
			    NULL) {
			if (strcmp(s, "source") == 0)
				l->per = POL_PER_SOURCE;
			else if (strcmp(s, "flow") == 0)
				l->per = POL_PER_FLOW;
			else if (strcmp(s, "conduit") == 0)
				l->per = POL_PER_CONDUIT;
			else
				pol_err(c, t[2]->loc,
					"expected source, flow or conduit, "
					"found %s",
					DESC(t[2]));
		}
		if (t[3] != NULL)
			pol_parse_action(c, t[3], false, &l->action);
		dpi->n_limits++;
	}
}

/* --- presets ------------------------------------------------------------------ */

static void set_of(struct pol_set256 *s, const uint8_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pol_set_add(s, v[i]);
}

/* The read-only preset's userdata groups, then those listed. */
static void s7_preset_userdata(struct pol_ctx *c, struct pol_s7_match *m,
			       struct pol_loc loc)
{
	static const struct {
		uint8_t group, n;
		uint8_t sub[3];
	} ro[] = {
		{ S7COMM_UD_CPU, 1, { 1 } },
		{ S7COMM_UD_BLOCK, 3, { 1, 2, 3 } },
		{ S7COMM_UD_TIME, 2, { 1, 3 } },
		{ S7COMM_UD_CYCLIC, 0, { 0 } },
	};
	size_t n = NELEM(ro) + m->n_userdata;
	struct pol_s7_userdata *u = pol_ctx_alloc(c, c->arena, n, sizeof(*u));

	if (u == NULL)
		return;
	for (size_t i = 0; i < NELEM(ro); i++) {
		struct rl l = { 0 };

		u[i].group = ro[i].group;
		u[i].loc = loc;
		for (size_t j = 0; j < ro[i].n; j++)
			rl_add(&l, ro[i].sub[j], ro[i].sub[j]);
		rl_to_ranges(c, &l, &u[i].subfunctions);
		rl_free(&l);
	}
	if (m->n_userdata > 0)
		memcpy(u + NELEM(ro), m->userdata, m->n_userdata * sizeof(*u));
	m->userdata = u;
	m->n_userdata = n;
}

static void resolve_modbus(struct pol_ctx *c, struct pol_dpi *dpi,
			   const struct pn *umas, const struct pn *mei)
{
	struct pol_modbus_match *m = &dpi->allow.modbus;
	bool listed90 = pol_set_has(&m->functions, 90);
	bool listed43 = pol_set_has(&m->functions, 43);
	struct pol_set256 p = { { 0 } };

	switch (dpi->preset) {
	case POL_MODBUS_ALL:
		set_add_range(&p, 1, 127);
		break;
	case POL_MODBUS_PROGRAMMING:
		pol_set_add(&p, 8);
		pol_set_add(&p, 43);
		/* fall through */
	case POL_MODBUS_READ_WRITE:
		set_of(&p, mb_writes, NELEM(mb_writes));
		/* fall through */
	case POL_MODBUS_READ_ONLY:
		set_of(&p, mb_reads, NELEM(mb_reads));
		break;
	}
	set_union(&m->functions, &p);
	m->has_functions = true;
	dpi->umas = dpi->preset == POL_MODBUS_ALL || listed90 ? POL_ACT_ALLOW :
								POL_ACT_DENY;
	dpi->mei = dpi->preset == POL_MODBUS_ALL ||
				   dpi->preset == POL_MODBUS_PROGRAMMING ||
				   listed43 ?
			   POL_ACT_ALLOW :
			   POL_ACT_DENY;
	if (umas != NULL)
		pol_parse_action(c, umas, true, &dpi->umas);
	if (mei != NULL)
		pol_parse_action(c, mei, true, &dpi->mei);
	if (dpi->umas == POL_ACT_ALLOW)
		pol_set_add(&m->functions, 90);
	else
		set_del(&m->functions, 90);
	if (dpi->mei == POL_ACT_ALLOW)
		pol_set_add(&m->functions, 43);
	else
		set_del(&m->functions, 43);
}

static void resolve(struct pol_ctx *c, struct pol_dpi *dpi, struct pol_loc loc)
{
	static const uint8_t dnp3_ro[] = { 0,  1,  20,	21,  23, 24,
					   32, 33, 129, 130, 131 };
	static const uint8_t dnp3_op[] = { 3, 4, 5, 6 };
	static const uint8_t iec_mon[] = { 70, 100, 101, 102, 104 };
	static const uint8_t cip_ro[] = { 0x01, 0x03, 0x0a, 0x0e, 0x4c,
					  0x4e, 0x52, 0x54, 0x55, 0x5b };
	union pol_dpi_match *m = &dpi->allow;

	switch (dpi->app) {
	case POL_APP_DNP3:
		m->dnp3.has_functions = true;
		if (dpi->preset == POL_DNP3_ALL)
			set_add_range(&m->dnp3.functions, 0, 255);
		if (dpi->preset == POL_DNP3_OPERATE)
			set_of(&m->dnp3.functions, dnp3_op, NELEM(dnp3_op));
		if (dpi->preset == POL_DNP3_OPERATE ||
		    dpi->preset == POL_DNP3_READ_ONLY)
			set_of(&m->dnp3.functions, dnp3_ro, NELEM(dnp3_ro));
		break;
	case POL_APP_IEC104:
		m->iec104.has_types = true;
		if (dpi->preset == POL_IEC104_ALL)
			set_add_range(&m->iec104.types, 1, 255);
		if (dpi->preset == POL_IEC104_MONITOR_ONLY) {
			set_add_range(&m->iec104.types, 1, 44);
			set_of(&m->iec104.types, iec_mon, NELEM(iec_mon));
		}
		break;
	case POL_APP_S7COMM:
		m->s7comm.has_functions = true;
		/* no userdata list given and no preset: no userdata allowed */
		m->s7comm.has_userdata = dpi->preset != POL_S7_ALL;
		if (dpi->preset == POL_S7_ALL) {
			set_add_range(&m->s7comm.functions, 0, 255);
			m->s7comm.userdata = NULL; /* any group */
			m->s7comm.n_userdata = 0;
		}
		if (dpi->preset == POL_S7_READ_ONLY) {
			pol_set_add(&m->s7comm.functions, 0xf0);
			pol_set_add(&m->s7comm.functions, 0x04);
			s7_preset_userdata(c, &m->s7comm, loc);
		}
		break;
	case POL_APP_ENIP:
		m->enip.has_services = true;
		if (dpi->preset == POL_ENIP_ALL) {
			set_add_range(&m->enip.services, 0, 127);
			m->enip.commands.v = NULL; /* any command */
			m->enip.commands.n = 0;
		}
		if (dpi->preset == POL_ENIP_READ_ONLY ||
		    (dpi->preset < 0 && m->enip.commands.n == 0)) {
			struct rl l = { 0 };

			if (dpi->preset == POL_ENIP_READ_ONLY)
				set_of(&m->enip.services, cip_ro,
				       NELEM(cip_ro));
			for (size_t i = 0; i < NELEM(enip_cmds); i++)
				rl_add(&l, enip_cmds[i].v, enip_cmds[i].v);
			for (size_t i = 0; i < m->enip.commands.n; i++)
				rl_add(&l, m->enip.commands.v[i].lo,
				       m->enip.commands.v[i].hi);
			rl_to_ranges(c, &l, &m->enip.commands);
			rl_free(&l);
		}
		break;
	default:
		break;
	}
}

/* --- blocks ------------------------------------------------------------------- */

static int want_preset(struct pol_ctx *c, const struct proto_def *d,
		       const struct pn *n)
{
	char dbuf[64], list[128], what[64];
	const char *s;
	int i;

	keys_list(d->presets, list, sizeof(list));
	snprintf(what, sizeof(what), "a %s preset", d->name);
	s = pol_want_scalar(c, n, what);
	if (s == NULL)
		return -1;
	for (i = 0; d->presets[i] != NULL; i++)
		if (strcmp(d->presets[i], s) == 0)
			return i;
	pol_err(c, n->loc, "unknown %s preset %s (expected one of: %s)",
		d->name, DESC(n), list);
	return -1;
}

struct pol_dpi *pol_dpi_parse(struct pol_ctx *c, enum pol_app app,
			      const struct pn *key, const struct pn *val)
{
	static const char *const head[] = { "preset", "rules", "rate-limits",
					    NULL };
	const struct proto_def *d = &protos[app];
	const char *table[MATCH_MAX + 8];
	const struct pn *v[MATCH_MAX + 8] = { 0 }, *k[MATCH_MAX + 8] = { 0 };
	const struct pn *const *x; /* the extra keys' values */
	size_t nm = keys_count(d->match_keys);
	struct pol_dpi *dpi;
	char what[128];
	int nerr = c->nerr;

	dpi = pol_ctx_alloc(c, c->arena, 1, sizeof(*dpi));
	if (dpi == NULL)
		return NULL;
	dpi->app = app;
	dpi->preset = -1;
	dpi->loc = key->loc;
	dpi->max_pdu = 253;
	dpi->umas = POL_ACT_DENY;
	dpi->mei = POL_ACT_DENY;
	dpi->s7plus = POL_ACT_DENY;
	build_keys(table, head, d, d->extra_keys);
	x = v + 3 + nm;
	if (val->type == PN_SCALAR && !pn_is_null(val)) {
		dpi->preset = want_preset(c, d, val);
	} else {
		snprintf(what, sizeof(what),
			 "a mapping of %s settings or a preset name", d->name);
		if (pn_is_null(val)) {
			pol_err(c, key->loc,
				"expected %s, found an empty value", what);
			return NULL;
		}
		if (!pol_want_type(c, val, PN_MAP, what))
			return NULL;
		pol_map_fields(c, val, table, d->name, v, k);
		if (v[0] != NULL)
			dpi->preset = want_preset(c, d, v[0]);
		d->match(c, v + 3, k + 3, &dpi->allow);
		if (v[1] != NULL)
			parse_rules(c, d, v[1], dpi);
		if (v[2] != NULL)
			parse_limits(c, d, v[2], dpi);
	}
	if (app == POL_APP_MODBUS) {
		uint32_t mp;

		if (x[0] != NULL && want_one(c, x[0], &sp_mb_pdu, &mp))
			dpi->max_pdu = (uint16_t)mp;
		resolve_modbus(c, dpi, x[1], x[2]);
	} else {
		resolve(c, dpi, key->loc);
	}
	if (app == POL_APP_S7COMM) {
		dpi->s7plus = dpi->preset == POL_S7_ALL ? POL_ACT_ALLOW :
							  POL_ACT_DENY;
		if (x[0] != NULL)
			pol_parse_action(c, x[0], true, &dpi->s7plus);
	}
	return c->nerr == nerr ? dpi : NULL;
}

/* --- app, deny-app-categories ------------------------------------------------- */

/*
 * nDPI knows the protocol names: one classify instance (one nDPI module),
 * made on the first `app` of a load and freed when validation ends. When
 * nDPI cannot be set up every name is refused: a name we cannot check
 * must not pass.
 */
static const char *check_app(struct pol_ctx *c, const struct pn *n,
			     const char *name)
{
	if (c->classify == NULL && !c->classify_failed) {
		c->classify = classify_alloc(1);
		if (c->classify == NULL) {
			c->classify_failed = true;
			pol_err(c, n->loc,
				"cannot check application protocol names: "
				"nDPI failed to start (%s)",
				strerror(errno));
		}
	}
	if (c->classify == NULL)
		return "";
	return classify_proto_id(c->classify, name) < 0 ? NULL : name;
}

/* The policy spelling of a category (nDPI's own, "Email", is accepted). */
static const char *check_category(struct pol_ctx *c, const struct pn *n,
				  const char *name)
{
	int id = classify_category_id(name);

	(void)c;
	(void)n;
	return id < 0 ? NULL : classify_category_name(id);
}

void pol_dpi_ctx_done(struct pol_ctx *c)
{
	classify_free(c->classify);
	c->classify = NULL;
}

/* A scalar or a sequence of names, lower-cased into the arena, duplicates
 * refused; check returns false for an unknown name. */
static const char *const *name_list(struct pol_ctx *c, const struct pn *n,
				    const char *what, const char *kind,
				    const char *(*check)(struct pol_ctx *,
							 const struct pn *,
							 const char *),
				    size_t *count)
{
	const char **v;
	const struct pn **nodes;
	size_t cap = n->type == PN_SEQ ? n->n : 1;
	char dbuf[64];

	*count = 0;
	if (n->type == PN_MAP || (n->type == PN_SEQ && n->n == 0)) {
		pol_err(c, n->loc,
			"expected %s or a sequence of them, found %s", what,
			DESC(n));
		return NULL;
	}
	v = pol_ctx_alloc(c, c->arena, cap, sizeof(*v));
	nodes = pol_ctx_alloc(c, c->tmp, cap, sizeof(*nodes));
	if (v == NULL || nodes == NULL)
		return NULL;
	for (const struct pn *it = n->type == PN_SEQ ? n->child : n; it;
	     it = n->type == PN_SEQ ? it->next : NULL) {
		const char *s = pol_want_scalar(c, it, what), *name;
		char *low;
		size_t i;

		if (s == NULL)
			continue;
		name = check(c, it, s);
		if (name == NULL) {
			pol_err(c, it->loc, "unknown %s %s (nDPI)", kind,
				DESC(it));
			continue;
		}
		if (*name == '\0')
			continue; /* could not be checked, reported */
		low = pol_ctx_strdup(c, c->arena, name, strlen(name));
		if (low == NULL)
			return NULL;
		for (char *p = low; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		for (i = 0; i < *count; i++)
			if (strcmp(v[i], low) == 0)
				break;
		if (i < *count) {
			pol_err(c, it->loc,
				"duplicate name %s (first at %d:%d)", DESC(it),
				nodes[i]->loc.line, nodes[i]->loc.col);
			continue;
		}
		nodes[*count] = it;
		v[(*count)++] = low;
	}
	return v;
}

void pol_dpi_parse_apps(struct pol_ctx *c, const struct pn *n,
			struct pol_service *s)
{
	s->apps = name_list(c, n, "an nDPI protocol name",
			    "application protocol", check_app, &s->n_apps);
}

void pol_dpi_parse_categories(struct pol_ctx *c, const struct pn *n,
			      struct pol_zone *z)
{
	z->deny_categories = name_list(c, n, "an nDPI category name",
				       "application category", check_category,
				       &z->n_deny_categories);
}
