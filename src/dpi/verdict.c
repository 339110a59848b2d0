/*
 * Conduit rule evaluation: the classifier, PDU and flow-end hooks of an
 * engine. A flow is bound once, on its first packet, to the conduit entry
 * that admits it (zones from addresses and interfaces, then the first
 * matching allow entry in either orientation); its PDUs are then decided
 * in the order of policy/model.h. Everything the decision path needs is
 * built by verdict_alloc: rule names, the zone-pair index, nDPI category
 * ids, rate-limit buckets and the pending-event table. Per flow it keeps
 * only struct vflow in the engine's hook area.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dpi/verdict.h"

_Static_assert((int)POL_APP_NONE == (int)ENGINE_PROTO_NONE &&
		       (int)POL_APP_MODBUS == (int)ENGINE_PROTO_MODBUS &&
		       (int)POL_APP_DNP3 == (int)ENGINE_PROTO_DNP3 &&
		       (int)POL_APP_IEC104 == (int)ENGINE_PROTO_IEC104 &&
		       (int)POL_APP_S7COMM == (int)ENGINE_PROTO_S7COMM &&
		       (int)POL_APP_ENIP == (int)ENGINE_PROTO_ENIP &&
		       (int)POL_APP_N == (int)ENGINE_PROTO_MAX,
	       "enum pol_app and enum engine_proto share their numbering");
_Static_assert((int)POL_ACT_ALLOW == (int)ENGINE_ALLOW &&
		       (int)POL_ACT_DENY == (int)ENGINE_DENY &&
		       (int)POL_ACT_REJECT == (int)ENGINE_REJECT,
	       "enum pol_action and enum engine_verdict share their values");

#define VERDICT_AGG_S_DEFAULT 10
#define VERDICT_BUCKETS_DEFAULT 4096
#define VERDICT_EVENT_SLOTS 256
#define VERDICT_PROBE 8		/* rate buckets looked at per key */
#define VERDICT_PAIR_DIRECT 256 /* zones: n*n pointers (512 KiB) per instance */
#define VERDICT_MAX_IDS 65535	/* zones, conduits, entries (uint16) */

/* --- per-flow state (engine hook area) ------------------------------------ */

enum vf_state {
	VF_NEW,	 /* never seen by the classifier hook */
	VF_NDPI, /* nDPI identification under way */
	VF_DONE,
};

/* Why a flow has the verdict it has. */
enum vreason {
	VR_NONE,	  /* bound to vf->conduit / vf->service */
	VR_INTRA,	  /* same zone, intra-zone allowed */
	VR_NO_ZONE,	  /* an address in no zone */
	VR_NO_CONDUIT,	  /* no conduit between the zones */
	VR_NO_SERVICE,	  /* conduit, but no entry admits the flow */
	VR_APP,		  /* nDPI found a protocol `app` does not list */
	VR_APP_UNKNOWN,	  /* `app` given, nDPI identified nothing */
	VR_CATEGORY_FROM, /* category denied by the client's zone */
	VR_CATEGORY_TO,	  /* ... by the server's zone */
};

#define VF_CLIENT_FIRST 0x01 /* the first packet travelled client->server */
#define VF_IDENT 0x02	     /* master/app hold nDPI's identification */
#define VF_BLOCK 0x04	     /* the entry has a protocol block */
#define VF_PORT_PARSE 0x08   /* parsing by port while nDPI still looks */

struct vflow {
	uint32_t cls_slot;   /* nDPI slot, CLASSIFY_NO_SLOT */
	uint16_t conduit;    /* index + 1, 0 none */
	uint16_t service;    /* index + 1, 0 none */
	uint16_t zfrom, zto; /* zone ids, 0 none */
	uint16_t ev;	     /* pending event slot + 1, 0 none */
	uint16_t master, app;
	uint16_t first_sport; /* orientation of later packets */
	uint16_t src_hash;    /* ... when both ports are the same */
	uint8_t state;	      /* enum vf_state */
	uint8_t seen;	      /* packets given to nDPI */
	uint8_t reason;	      /* enum vreason */
	uint8_t flags;
	uint8_t verdict; /* flow-level, enum pol_action */
};

/* --- the instance --------------------------------------------------------- */

/* Live counters (struct verdict_counts): single writer, relaxed atomics. */
struct vcount {
	_Atomic uint64_t flows, flows_denied;
	_Atomic uint64_t pdus[3];
	_Atomic uint64_t malformed;
};

/* Criteria of the protocol blocks; each has a rule name per entry. */
enum vcrit {
	VC_FUNCTIONS,
	VC_UNIT_IDS,
	VC_MB_READ,				  /* + table */
	VC_MB_WRITE = VC_MB_READ + POL_MB_TABLES, /* + table */
	VC_UMAS = VC_MB_WRITE + POL_MB_TABLES,
	VC_MEI,
	VC_MAX_PDU,
	VC_OUTSTATIONS,
	VC_OBJECTS,
	VC_TYPES,
	VC_CAUSES,
	VC_CAS,
	VC_IOAS,
	VC_USERDATA,
	VC_S7PLUS,
	VC_COMMANDS,
	VC_SERVICES,
	VC_CLASSES,
	VC_INSTANCES,
	VC_ATTRIBUTES,
	VC_N,
};

static const char *const mb_tables[POL_MB_TABLES] = {
	"coils",
	"discrete-inputs",
	"holding-registers",
	"input-registers",
};

/* Criterion name and the protocol it belongs to (0: any). */
static const struct {
	const char *name;
	enum pol_app app;
} crit_names[VC_N] = {
	[VC_FUNCTIONS] = { "functions", POL_APP_NONE },
	[VC_UNIT_IDS] = { "unit-ids", POL_APP_MODBUS },
	[VC_UMAS] = { "umas", POL_APP_MODBUS },
	[VC_MEI] = { "mei", POL_APP_MODBUS },
	[VC_MAX_PDU] = { "max-pdu", POL_APP_MODBUS },
	[VC_OUTSTATIONS] = { "outstations", POL_APP_DNP3 },
	[VC_OBJECTS] = { "objects", POL_APP_DNP3 },
	[VC_TYPES] = { "type-ids", POL_APP_IEC104 },
	[VC_CAUSES] = { "causes", POL_APP_IEC104 },
	[VC_CAS] = { "common-addresses", POL_APP_IEC104 },
	[VC_IOAS] = { "ioas", POL_APP_IEC104 },
	[VC_USERDATA] = { "userdata", POL_APP_S7COMM },
	[VC_S7PLUS] = { "s7plus", POL_APP_S7COMM },
	[VC_COMMANDS] = { "commands", POL_APP_ENIP },
	[VC_SERVICES] = { "services", POL_APP_ENIP },
	[VC_CLASSES] = { "classes", POL_APP_ENIP },
	[VC_INSTANCES] = { "instances", POL_APP_ENIP },
	[VC_ATTRIBUTES] = { "attributes", POL_APP_ENIP },
};

/* Rule names of one allow entry, built once. */
struct ventry {
	const char *name;  /* "allow[N]" */
	const char *block; /* "allow[N].modbus" */
	const char *app;   /* "allow[N].app" */
	const char *crit[VC_N];
	const char **rules;  /* "allow[N].modbus.rules[K]" */
	const char **limits; /* "allow[N].modbus.rate-limits[K]" */
	uint32_t lim_base;   /* index of the first limit in verdict.lims */
};

/* A rate limit as a GCRA: emission interval and burst tolerance (ns). */
struct vlimit {
	const struct pol_rate_limit *l;
	uint64_t t_ns, tau_ns;
	uint64_t conduit_tat; /* per conduit, and the shared overflow one */
	uint64_t shared_tat;
};

struct bkey {
	uint8_t family, l4;
	uint16_t sport, dport;
	uint8_t src[16], dst[16];
};

struct vbucket {
	uint64_t tat;
	uint32_t lim; /* index + 1, 0 free */
	struct bkey k;
};

/* One flow's pending aggregated event. */
struct vpend {
	struct dpi_event ev; /* count = repeats since the one emitted */
	uint64_t start_us;   /* interval start */
	struct vflow *owner;
	uint16_t prev, next; /* age list, index + 1 */
	char proto[48];	     /* ev.proto when it is an nDPI name */
};

struct verdict {
	const struct pol_policy *p;
	struct verdict_answer answer; /* of the packet being processed */
	bool settled;		      /* ... and whether it settled its flow */
	struct verdict_conf conf;
	uint64_t agg_us;
	struct classify *cls; /* NULL: no nDPI */
	uint64_t cls_tag;     /* tag of the packet being classified */

	/* zone pair -> conduit */
	const struct pol_conduit **pair; /* n*n, or NULL */
	struct vpair {
		uint32_t from, to;
		const struct pol_conduit *c;
	} * pairs; /* sorted */
	size_t n_pairs;

	struct ventry **entries; /* by conduit index, then allow index */
	const char **zone_rule;	 /* "zone <name>.deny-app-categories" */
	int *cats;		 /* category ids of zone i: */
	size_t *cat_off;	 /* cats[cat_off[i] .. cat_off[i + 1]) */

	struct vlimit *lims;
	size_t n_lims;
	struct vbucket *buckets;
	size_t n_buckets;

	struct vpend *pend;
	uint16_t *pend_free;
	size_t n_pend_free;
	uint16_t head, tail; /* oldest / newest pending, index + 1 */

	char **strs; /* every name built above, freed with the instance */
	size_t n_strs, cap_strs;

	verdict_pdu_fn pdu_cb;
	void *pdu_arg;
	dpi_event_fn ev_cb;
	void *ev_arg;

	uint16_t name_master, name_app; /* appname caches this pair */
	bool name_valid;
	char appname[48];
	char evproto[48];

	struct verdict_stats st;
	struct vcount *cst; /* by conduit index */
	struct vcount tot;
	_Atomic uint64_t active; /* flows classified and not ended */
};

static const struct classify_stats no_classify_stats;

static inline void vc_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c,
			      atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static inline uint64_t vc_get(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* The counters of a flow's conduit, NULL when it has none. */
static struct vcount *vc_of(struct verdict *v, uint16_t conduit)
{
	return conduit && v->cst != NULL ? &v->cst[conduit - 1] : NULL;
}

/* --- set-up --------------------------------------------------------------- */

static const char *str_add(struct verdict *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static const char *str_add(struct verdict *v, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	if (v->n_strs == v->cap_strs) {
		size_t cap = v->cap_strs ? v->cap_strs * 2 : 64;
		char **ns = realloc(v->strs, cap * sizeof(*ns));

		if (ns == NULL)
			return NULL;
		v->strs = ns;
		v->cap_strs = cap;
	}
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (s = malloc((size_t)n + 1)) == NULL)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	v->strs[v->n_strs++] = s;
	return s;
}

static int pair_cmp(const void *a, const void *b)
{
	const struct vpair *x = a, *y = b;

	if (x->from != y->from)
		return x->from < y->from ? -1 : 1;
	if (x->to != y->to)
		return x->to < y->to ? -1 : 1;
	return 0;
}

static int build_pairs(struct verdict *v)
{
	const struct pol_policy *p = v->p;
	size_t n = p->n_zones;

	if (n <= VERDICT_PAIR_DIRECT) {
		v->pair = calloc(n ? n * n : 1, sizeof(*v->pair));
		if (v->pair == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < p->n_conduits; i++) {
			const struct pol_conduit *c = &p->conduits[i];
			size_t k = (c->from->id - 1) * n + (c->to->id - 1);

			if (v->pair[k] == NULL)
				v->pair[k] = c;
		}
		return 0;
	}
	v->pairs = calloc(p->n_conduits ? p->n_conduits : 1, sizeof(*v->pairs));
	if (v->pairs == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_conduits; i++) {
		v->pairs[i].from = p->conduits[i].from->id;
		v->pairs[i].to = p->conduits[i].to->id;
		v->pairs[i].c = &p->conduits[i];
	}
	v->n_pairs = p->n_conduits;
	/* stable for equal keys is not needed: the validator allows one
	 * conduit per ordered zone pair */
	qsort(v->pairs, v->n_pairs, sizeof(*v->pairs), pair_cmp);
	return 0;
}

static const struct pol_conduit *conduit_of(const struct verdict *v,
					    const struct pol_zone *from,
					    const struct pol_zone *to)
{
	struct vpair key = { .from = from->id, .to = to->id }, *hit;

	if (v->pair != NULL)
		return v->pair[(from->id - 1) * v->p->n_zones + (to->id - 1)];
	hit = bsearch(&key, v->pairs, v->n_pairs, sizeof(*v->pairs), pair_cmp);
	return hit ? hit->c : NULL;
}

static int build_entry(struct verdict *v, struct ventry *ve, size_t n,
		       const struct pol_service *s)
{
	const struct pol_dpi *d = s->dpi;
	const char *an;

	ve->name = str_add(v, "allow[%zu]", n);
	ve->app = str_add(v, "allow[%zu].app", n);
	if (ve->name == NULL || ve->app == NULL)
		return -ENOMEM;
	if (d == NULL)
		return 0;
	an = pol_app_name(d->app);
	ve->block = str_add(v, "allow[%zu].%s", n, an);
	if (ve->block == NULL)
		return -ENOMEM;
	for (int k = 0; k < VC_N; k++) {
		if (k >= VC_MB_READ && k < VC_UMAS) {
			int t = (k - VC_MB_READ) % POL_MB_TABLES;

			if (d->app != POL_APP_MODBUS)
				continue;
			ve->crit[k] = str_add(
				v, "allow[%zu].modbus.%s.%s", n, mb_tables[t],
				k < VC_MB_WRITE ? "read" : "write");
		} else if (crit_names[k].app == POL_APP_NONE ||
			   crit_names[k].app == d->app) {
			ve->crit[k] = str_add(v, "allow[%zu].%s.%s", n, an,
					      crit_names[k].name);
		} else {
			continue;
		}
		if (ve->crit[k] == NULL)
			return -ENOMEM;
	}
	ve->rules = calloc(d->n_rules + 1, sizeof(*ve->rules));
	ve->limits = calloc(d->n_limits + 1, sizeof(*ve->limits));
	if (ve->rules == NULL || ve->limits == NULL)
		return -ENOMEM;
	for (size_t k = 0; k < d->n_rules; k++)
		if ((ve->rules[k] = str_add(v, "allow[%zu].%s.rules[%zu]", n,
					    an, k)) == NULL)
			return -ENOMEM;
	for (size_t k = 0; k < d->n_limits; k++)
		if ((ve->limits[k] = str_add(v,
					     "allow[%zu].%s.rate-limits[%zu]",
					     n, an, k)) == NULL)
			return -ENOMEM;
	return 0;
}

static uint64_t unit_us(enum pol_rate_unit u)
{
	switch (u) {
	case POL_RATE_SECOND:
		return 1000000ull;
	case POL_RATE_MINUTE:
		return 60ull * 1000000;
	case POL_RATE_HOUR:
		return 3600ull * 1000000;
	case POL_RATE_DAY:
		return 86400ull * 1000000;
	}
	return 1000000ull;
}

static void limit_init(struct vlimit *vl, const struct pol_rate_limit *l)
{
	uint32_t count = l->rate.count ? l->rate.count : 1;
	uint32_t burst = l->rate.burst ? l->rate.burst : count;

	vl->l = l;
	vl->t_ns = unit_us(l->rate.unit) * 1000 / count;
	if (vl->t_ns == 0)
		vl->t_ns = 1;
	if ((uint64_t)(burst - 1) > UINT64_MAX / 4 / vl->t_ns)
		vl->tau_ns = UINT64_MAX / 4;
	else
		vl->tau_ns = (uint64_t)(burst - 1) * vl->t_ns;
}

static int build_policy(struct verdict *v)
{
	const struct pol_policy *p = v->p;
	bool keyed = false;
	size_t nl = 0, nc = 0;
	int rc;

	if (p->n_zones > VERDICT_MAX_IDS || p->n_conduits > VERDICT_MAX_IDS)
		return -E2BIG;
	rc = build_pairs(v);
	if (rc < 0)
		return rc;
	v->entries = calloc(p->n_conduits + 1, sizeof(*v->entries));
	v->cst = calloc(p->n_conduits + 1, sizeof(*v->cst));
	if (v->entries == NULL || v->cst == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_conduits; i++) {
		const struct pol_conduit *c = &p->conduits[i];

		if (c->n_allow > VERDICT_MAX_IDS)
			return -E2BIG;
		v->entries[i] = calloc(c->n_allow + 1, sizeof(**v->entries));
		if (v->entries[i] == NULL)
			return -ENOMEM;
		for (size_t j = 0; j < c->n_allow; j++) {
			rc = build_entry(v, &v->entries[i][j], j, &c->allow[j]);
			if (rc < 0)
				return rc;
			if (c->allow[j].dpi != NULL) {
				v->entries[i][j].lim_base = (uint32_t)nl;
				nl += c->allow[j].dpi->n_limits;
			}
		}
	}
	v->lims = calloc(nl + 1, sizeof(*v->lims));
	if (v->lims == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_conduits; i++)
		for (size_t j = 0; j < p->conduits[i].n_allow; j++) {
			const struct pol_dpi *d = p->conduits[i].allow[j].dpi;

			for (size_t k = 0; d != NULL && k < d->n_limits; k++) {
				limit_init(&v->lims[v->n_lims++],
					   &d->limits[k]);
				keyed |= d->limits[k].per != POL_PER_CONDUIT;
			}
		}
	if (keyed) {
		v->n_buckets = v->conf.rate_buckets;
		v->buckets = calloc(v->n_buckets, sizeof(*v->buckets));
		if (v->buckets == NULL)
			return -ENOMEM;
	}

	v->zone_rule = calloc(p->n_zones + 1, sizeof(*v->zone_rule));
	v->cat_off = calloc(p->n_zones + 1, sizeof(*v->cat_off));
	for (size_t z = 0; z < p->n_zones; z++)
		nc += p->zones[z].n_deny_categories;
	v->cats = calloc(nc + 1, sizeof(*v->cats));
	if (v->zone_rule == NULL || v->cat_off == NULL || v->cats == NULL)
		return -ENOMEM;
	nc = 0;
	for (size_t z = 0; z < p->n_zones; z++) {
		const struct pol_zone *zn = &p->zones[z];

		v->cat_off[z] = nc;
		v->zone_rule[z] =
			str_add(v, "zone %s.deny-app-categories", zn->name);
		if (v->zone_rule[z] == NULL)
			return -ENOMEM;
		for (size_t k = 0; k < zn->n_deny_categories; k++) {
			int id = classify_category_id(zn->deny_categories[k]);

			if (id < 0)
				return -EINVAL; /* the validator checks names */
			v->cats[nc++] = id;
		}
	}
	v->cat_off[p->n_zones] = nc;
	return 0;
}

struct verdict *verdict_alloc(const struct pol_policy *p,
			      const struct verdict_conf *conf)
{
	struct verdict *v = calloc(1, sizeof(*v));
	int rc = -ENOMEM;

	if (v == NULL)
		return NULL;
	v->p = p;
	if (conf != NULL)
		v->conf = *conf;
	if (v->conf.aggregate_s == 0)
		v->conf.aggregate_s = VERDICT_AGG_S_DEFAULT;
	if (v->conf.rate_buckets == 0)
		v->conf.rate_buckets = VERDICT_BUCKETS_DEFAULT;
	v->agg_us = (uint64_t)v->conf.aggregate_s * 1000000;

	v->pend = calloc(VERDICT_EVENT_SLOTS, sizeof(*v->pend));
	v->pend_free = calloc(VERDICT_EVENT_SLOTS, sizeof(*v->pend_free));
	if (v->pend == NULL || v->pend_free == NULL)
		goto fail;
	for (size_t i = 0; i < VERDICT_EVENT_SLOTS; i++)
		v->pend_free[i] = (uint16_t)(VERDICT_EVENT_SLOTS - 1 - i);
	v->n_pend_free = VERDICT_EVENT_SLOTS;

	if (p != NULL && (rc = build_policy(v)) < 0)
		goto fail;
	if (!v->conf.no_ndpi) {
		v->cls = classify_alloc(v->conf.ndpi_slots);
		if (v->cls == NULL) {
			rc = errno ? -errno : -ENOMEM;
			goto fail;
		}
	}
	return v;
fail:
	verdict_free(v);
	errno = -rc;
	return NULL;
}

void verdict_free(struct verdict *v)
{
	if (v == NULL)
		return;
	classify_free(v->cls);
	if (v->entries != NULL && v->p != NULL)
		for (size_t i = 0; i < v->p->n_conduits; i++) {
			if (v->entries[i] == NULL)
				continue;
			for (size_t j = 0; j < v->p->conduits[i].n_allow; j++) {
				free(v->entries[i][j].rules);
				free(v->entries[i][j].limits);
			}
			free(v->entries[i]);
		}
	free(v->entries);
	for (size_t i = 0; i < v->n_strs; i++)
		free(v->strs[i]);
	free(v->strs);
	free(v->pair);
	free(v->pairs);
	free(v->zone_rule);
	free(v->cats);
	free(v->cat_off);
	free(v->lims);
	free(v->buckets);
	free(v->pend);
	free(v->pend_free);
	free(v->cst);
	free(v);
}

size_t verdict_flow_size(void)
{
	return sizeof(struct vflow);
}

void verdict_set_pdu_cb(struct verdict *v, verdict_pdu_fn fn, void *arg)
{
	v->pdu_cb = fn;
	v->pdu_arg = arg;
}

void verdict_set_event_cb(struct verdict *v, dpi_event_fn fn, void *arg)
{
	v->ev_cb = fn;
	v->ev_arg = arg;
}

void verdict_packet_begin(struct verdict *v)
{
	v->answer.valid = false;
	v->settled = false;
}

bool verdict_packet_settled(const struct verdict *v)
{
	return v->settled;
}

const struct verdict_answer *verdict_last_answer(const struct verdict *v)
{
	return &v->answer;
}

const struct verdict_stats *verdict_get_stats(const struct verdict *v)
{
	return &v->st;
}

const struct classify_stats *verdict_classify_stats(const struct verdict *v)
{
	return v->cls ? classify_get_stats(v->cls) : &no_classify_stats;
}

static void vc_read(const struct vcount *c, struct verdict_counts *out)
{
	out->flows = vc_get(&c->flows);
	out->flows_denied = vc_get(&c->flows_denied);
	for (int k = 0; k < 3; k++)
		out->pdus[k] = vc_get(&c->pdus[k]);
	out->malformed = vc_get(&c->malformed);
}

static void vc_carry(struct vcount *to, const struct vcount *from)
{
	vc_add(&to->flows, vc_get(&from->flows));
	vc_add(&to->flows_denied, vc_get(&from->flows_denied));
	for (int k = 0; k < 3; k++)
		vc_add(&to->pdus[k], vc_get(&from->pdus[k]));
	vc_add(&to->malformed, vc_get(&from->malformed));
}

size_t verdict_conduits(const struct verdict *v)
{
	return v->p != NULL ? v->p->n_conduits : 0;
}

void verdict_conduit_counts(const struct verdict *v, size_t i,
			    struct verdict_counts *out)
{
	memset(out, 0, sizeof(*out));
	if (i < verdict_conduits(v))
		vc_read(&v->cst[i], out);
}

void verdict_total_counts(const struct verdict *v, struct verdict_counts *out)
{
	vc_read(&v->tot, out);
}

uint64_t verdict_active_flows(const struct verdict *v)
{
	return vc_get(&v->active);
}

void verdict_carry_counts(struct verdict *v, const struct verdict *old)
{
	if (old == NULL || old == v)
		return;
	vc_carry(&v->tot, &old->tot);
	for (size_t i = 0; i < verdict_conduits(old) && v->p != NULL; i++) {
		const struct pol_conduit *c =
			policy_conduit_by_name(v->p, old->p->conduits[i].name);

		if (c != NULL && c->id >= 1 && c->id <= v->p->n_conduits)
			vc_carry(&v->cst[c->id - 1], &old->cst[i]);
	}
}

const char *dpi_event_kind_name(enum dpi_event_kind k)
{
	switch (k) {
	case DPI_EV_DENIED:
		return "denied";
	case DPI_EV_MALFORMED:
		return "malformed";
	case DPI_EV_APP:
		return "app";
	case DPI_EV_CATEGORY:
		return "category";
	case DPI_EV_RATE:
		return "rate";
	case DPI_EV_NO_CONDUIT:
		return "no-conduit";
	case DPI_EV_EXHAUSTED:
		return "exhausted";
	}
	return "unknown";
}

/* --- flow state helpers --------------------------------------------------- */

static const struct pol_zone *zone_by_id(const struct verdict *v, uint16_t id)
{
	return id ? &v->p->zones[id - 1] : NULL;
}

static const struct pol_conduit *flow_conduit(const struct verdict *v,
					      const struct vflow *vf)
{
	return vf->conduit ? &v->p->conduits[vf->conduit - 1] : NULL;
}

static const struct pol_service *flow_service(const struct verdict *v,
					      const struct vflow *vf)
{
	const struct pol_conduit *c = flow_conduit(v, vf);

	return c && vf->service ? &c->allow[vf->service - 1] : NULL;
}

static const struct ventry *flow_entry(const struct verdict *v,
				       const struct vflow *vf)
{
	return vf->conduit && vf->service ?
		       &v->entries[vf->conduit - 1][vf->service - 1] :
		       NULL;
}

static uint16_t addr_hash(const struct pkt_addr *a)
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < (a->family == 6 ? 16 : 4); i++)
		h = (h ^ a->a[i]) * 16777619u;
	return (uint16_t)(h ^ h >> 16);
}

/* Whether p travels the way the flow's first packet did. */
static bool same_dir(const struct vflow *vf, const struct pkt *p)
{
	if (p->sport != p->dport)
		return p->sport == vf->first_sport;
	return addr_hash(&p->src) == vf->src_hash;
}

static bool server_is_dst(const struct vflow *vf, const struct pkt *p)
{
	return same_dir(vf, p) == ((vf->flags & VF_CLIENT_FIRST) != 0);
}

static int af_of(const struct pkt_addr *a)
{
	return a->family == 6 ? AF_INET6 : AF_INET;
}

static const char *reason_rule(const struct verdict *v, const struct vflow *vf)
{
	const struct ventry *ve = flow_entry(v, vf);

	switch ((enum vreason)vf->reason) {
	case VR_NONE:
		return ve ? ve->name : NULL;
	case VR_INTRA:
		return "intra-zone";
	case VR_NO_ZONE:
		return "no-zone";
	case VR_NO_CONDUIT:
		return "no-conduit";
	case VR_NO_SERVICE:
		return "no-service";
	case VR_APP:
	case VR_APP_UNKNOWN:
		return ve ? ve->app : "app";
	case VR_CATEGORY_FROM:
		return vf->zfrom ? v->zone_rule[vf->zfrom - 1] : "category";
	case VR_CATEGORY_TO:
		return vf->zto ? v->zone_rule[vf->zto - 1] : "category";
	}
	return NULL;
}

static struct pol_loc reason_loc(const struct verdict *v,
				 const struct vflow *vf)
{
	struct pol_loc none = { 0, 0 };
	const struct pol_service *s = flow_service(v, vf);
	const struct pol_conduit *c = flow_conduit(v, vf);

	switch ((enum vreason)vf->reason) {
	case VR_NONE:
	case VR_APP:
	case VR_APP_UNKNOWN:
		return s ? s->loc : none;
	case VR_INTRA:
	case VR_CATEGORY_FROM:
		return vf->zfrom ? zone_by_id(v, vf->zfrom)->loc : none;
	case VR_CATEGORY_TO:
		return vf->zto ? zone_by_id(v, vf->zto)->loc : none;
	case VR_NO_SERVICE:
		return c ? c->loc : none;
	case VR_NO_ZONE:
	case VR_NO_CONDUIT:
		break;
	}
	return none;
}

/* nDPI's name of the flow, cached for runs of PDUs of one protocol. */
static const char *app_name(struct verdict *v, const struct vflow *vf)
{
	if (vf == NULL || !(vf->flags & VF_IDENT) || v->cls == NULL)
		return "";
	if (!v->name_valid || v->name_master != vf->master ||
	    v->name_app != vf->app) {
		classify_name(v->cls, vf->master, vf->app, v->appname,
			      sizeof(v->appname));
		v->name_master = vf->master;
		v->name_app = vf->app;
		v->name_valid = true;
	}
	return v->appname;
}

/* --- events --------------------------------------------------------------- */

/* Where an event comes from: a PDU or (flow level) a packet. */
struct evsrc {
	const struct engine_pdu *pdu;
	const struct pkt *pkt;
	const char *proto;
	int cip;	  /* ENIP: the CIP message that decided, -1 none */
	int item;	  /* DNP3 object / IEC 104 IOA index, -1 none */
	int access;	  /* Modbus: 0 read, 1 write, -1 as the PDU says */
	const char *text; /* detail, when given as text */
};

static void ev_send(struct verdict *v, const struct dpi_event *ev)
{
	v->st.events++;
	if (v->ev_cb != NULL)
		v->ev_cb(ev, v->ev_arg);
}

static void detail_modbus(const struct modbus_pdu *m, int access, char *b,
			  size_t n)
{
	uint32_t lo = m->address, q = m->quantity;
	const char *rw;

	if (!m->has_range || m->table == MODBUS_TABLE_NONE) {
		snprintf(b, n, "unit %u", m->unit_id);
		return;
	}
	if (m->has_write_range && access == 1) {
		lo = m->write_address;
		q = m->write_quantity;
	}
	rw = access == 1 || (access < 0 && m->writes && !m->has_write_range) ?
		     "write" :
		     "read";
	if (access < 0 && m->has_write_range)
		rw = "read";
	snprintf(b, n, "%s %s %u-%u", mb_tables[m->table - 1], rw, lo,
		 lo + (q ? q - 1 : 0));
}

static void detail_dnp3(const struct engine_pdu *pdu, int item, char *b,
			size_t n)
{
	const struct dnp3_apdu *a = pdu->u.dnp3.app;
	const struct dnp3_object *o;

	if (a == NULL || a->n_objects == 0) {
		if (pdu->u.dnp3.link != NULL)
			snprintf(b, n, "outstation %u", pdu->u.dnp3.link->dst);
		return;
	}
	o = &a->objects[item >= 0 && item < a->n_objects ? item : 0];
	if (o->ranged)
		snprintf(b, n, "g%uv%u %u-%u", o->group, o->variation, o->start,
			 o->stop);
	else
		snprintf(b, n, "g%uv%u", o->group, o->variation);
}

static void detail_enip(const struct enip_pdu *e, int cip, char *b, size_t n)
{
	const struct enip_cip *c;
	int k;

	if (cip < 0 || cip >= e->n_cip) {
		snprintf(b, n, "command 0x%x", e->command);
		return;
	}
	c = &e->cip[cip];
	k = snprintf(b, n, "service 0x%x", c->service);
	if (c->symbolic && k >= 0 && (size_t)k < n)
		k += snprintf(b + k, n - (size_t)k, " symbolic");
	if (c->has_class && k >= 0 && (size_t)k < n)
		k += snprintf(b + k, n - (size_t)k, " class 0x%x", c->class_id);
	if (c->has_instance && k >= 0 && (size_t)k < n)
		k += snprintf(b + k, n - (size_t)k, " instance %u",
			      c->instance);
	if (c->has_attribute && k >= 0 && (size_t)k < n)
		snprintf(b + k, n - (size_t)k, " attribute %u", c->attribute);
}

static void detail_of(const struct evsrc *s, char *b, size_t n)
{
	const struct engine_pdu *pdu = s->pdu;

	b[0] = '\0';
	if (s->text != NULL) {
		snprintf(b, n, "%s", s->text);
		return;
	}
	if (pdu == NULL)
		return;
	switch (pdu->proto) {
	case ENGINE_PROTO_MODBUS:
		if (pdu->u.modbus)
			detail_modbus(pdu->u.modbus, s->access, b, n);
		break;
	case ENGINE_PROTO_DNP3:
		detail_dnp3(pdu, s->item, b, n);
		break;
	case ENGINE_PROTO_IEC104:
		if (pdu->u.iec104) {
			const struct iec104_apdu *a = pdu->u.iec104;

			if (a->n_ioa > 0)
				snprintf(
					b, n, "ca %u ioa %u", a->ca,
					a->ioa[s->item >= 0 && s->item <
								       a->n_ioa ?
						       s->item :
						       0]);
			else
				snprintf(b, n, "ca %u", a->ca);
		}
		break;
	case ENGINE_PROTO_S7COMM:
		if (pdu->u.s7comm) {
			const struct s7comm_pdu *m = pdu->u.s7comm;

			if (m->s7plus)
				snprintf(b, n, "s7comm-plus");
			else if (m->has_userdata)
				snprintf(b, n,
					 "userdata group %u subfunction %u",
					 m->ud_group, m->ud_subfunction);
			else if (m->has_function)
				snprintf(b, n, "function 0x%02x", m->function);
		}
		break;
	case ENGINE_PROTO_ENIP:
		if (pdu->u.enip)
			detail_enip(pdu->u.enip, s->cip, b, n);
		break;
	default:
		break;
	}
}

/* Everything but kind, rule, function and times. */
static void ev_fill(struct verdict *v, const struct vflow *vf,
		    struct dpi_event *ev, const struct evsrc *s,
		    enum pol_action act, struct pol_loc loc, char *protobuf,
		    size_t protolen)
{
	ev->action = act;
	ev->loc = loc;
	ev->conduit = vf ? flow_conduit(v, vf) : NULL;
	ev->zone_from = vf ? zone_by_id(v, vf->zfrom) : NULL;
	ev->zone_to = vf ? zone_by_id(v, vf->zto) : NULL;
	if (s->pdu != NULL) {
		ev->tag = s->pdu->tag;
		ev->l4proto = s->pdu->l4proto;
		ev->src = *s->pdu->src;
		ev->dst = *s->pdu->dst;
		ev->sport = s->pdu->sport;
		ev->dport = s->pdu->dport;
	} else if (s->pkt != NULL) {
		ev->tag = v->cls_tag;
		ev->l4proto = s->pkt->l4proto;
		ev->src = s->pkt->src;
		ev->dst = s->pkt->dst;
		ev->sport = s->pkt->sport;
		ev->dport = s->pkt->dport;
	}
	snprintf(protobuf, protolen, "%s", s->proto ? s->proto : "none");
	ev->proto = protobuf;
	detail_of(s, ev->detail, sizeof(ev->detail));
}

static void pend_unlink(struct verdict *v, uint16_t i)
{
	struct vpend *s = &v->pend[i - 1];

	if (s->prev)
		v->pend[s->prev - 1].next = s->next;
	else
		v->head = s->next;
	if (s->next)
		v->pend[s->next - 1].prev = s->prev;
	else
		v->tail = s->prev;
	s->prev = s->next = 0;
}

/* Emit what a pending slot counted and give the slot back. */
static void pend_flush(struct verdict *v, uint16_t i)
{
	struct vpend *s = &v->pend[i - 1];

	if (s->ev.count > 0)
		ev_send(v, &s->ev);
	pend_unlink(v, i);
	if (s->owner != NULL)
		s->owner->ev = 0;
	s->owner = NULL;
	v->pend_free[v->n_pend_free++] = (uint16_t)(i - 1);
}

static uint16_t pend_get(struct verdict *v)
{
	uint16_t i;

	if (v->n_pend_free == 0)
		pend_flush(v, v->head); /* the oldest */
	i = (uint16_t)(v->pend_free[--v->n_pend_free] + 1);
	v->pend[i - 1].prev = v->tail;
	v->pend[i - 1].next = 0;
	if (v->tail)
		v->pend[v->tail - 1].next = i;
	else
		v->head = i;
	v->tail = i;
	return i;
}

/*
 * One violation. The first of its kind (kind, rule, function) in the
 * flow goes out at once; repeats within the interval are only counted
 * (the detail is formatted for the first repeat only).
 */
static void ev_raise(struct verdict *v, struct vflow *vf,
		     enum dpi_event_kind kind, const char *rule, int function,
		     enum pol_action act, struct pol_loc loc, uint64_t now,
		     const struct evsrc *src)
{
	struct dpi_event ev;
	struct vpend *s;
	uint16_t i;

	if (vf != NULL && vf->ev) {
		s = &v->pend[vf->ev - 1];
		if (s->ev.kind == kind && s->ev.rule == rule &&
		    s->ev.function == function && now >= s->start_us &&
		    now - s->start_us < v->agg_us) {
			if (s->ev.count == 0) {
				ev_fill(v, vf, &s->ev, src, act, loc, s->proto,
					sizeof(s->proto));
				s->ev.first_us = now;
			}
			s->ev.count++;
			s->ev.last_us = now;
			if (src->pdu != NULL)
				s->ev.tag = src->pdu->tag;
			v->st.events_suppressed++;
			return;
		}
		pend_flush(v, vf->ev);
	}
	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.rule = rule;
	ev.function = function;
	ev.count = 1;
	ev.first_us = ev.last_us = now;
	ev_fill(v, vf, &ev, src, act, loc, v->evproto, sizeof(v->evproto));
	ev_send(v, &ev);
	if (vf == NULL)
		return;
	i = pend_get(v);
	s = &v->pend[i - 1];
	memset(&s->ev, 0, sizeof(s->ev));
	s->ev.kind = kind;
	s->ev.rule = rule;
	s->ev.function = function;
	s->start_us = now;
	s->owner = vf;
	vf->ev = i;
}

void verdict_flush(struct verdict *v)
{
	while (v->head)
		pend_flush(v, v->head);
}

void verdict_tick(struct verdict *v, uint64_t now_us)
{
	while (v->head) {
		struct vpend *s = &v->pend[v->head - 1];

		if (now_us < s->start_us || now_us - s->start_us < v->agg_us)
			return;
		pend_flush(v, v->head);
	}
}

/* --- binding a flow ------------------------------------------------------- */

static bool svc_match(const struct pol_service *s, uint8_t l4, uint16_t port,
		      int fam, const uint8_t *from, const uint8_t *to)
{
	bool ok;

	if ((unsigned)s->proto != l4)
		return false;
	ok = s->n_ports == 0;
	for (size_t i = 0; !ok && i < s->n_ports; i++)
		ok = s->ports[i].lo <= port && port <= s->ports[i].hi;
	if (!ok)
		return false;
	ok = s->n_from_hosts == 0;
	for (size_t i = 0; !ok && i < s->n_from_hosts; i++)
		ok = pol_prefix_contains(&s->from_hosts[i], fam, from);
	if (!ok)
		return false;
	ok = s->n_to_hosts == 0;
	for (size_t i = 0; !ok && i < s->n_to_hosts; i++)
		ok = pol_prefix_contains(&s->to_hosts[i], fam, to);
	return ok;
}

/* First entry of c admitting a client `from` talking to server `to`. */
static int entry_of(const struct pol_conduit *c, uint8_t l4, uint16_t port,
		    int fam, const uint8_t *from, const uint8_t *to)
{
	for (size_t i = 0; c != NULL && i < c->n_allow; i++)
		if (svc_match(&c->allow[i], l4, port, fam, from, to))
			return (int)i;
	return -1;
}

static bool zone_denies_cat(const struct verdict *v, uint16_t zid, int cat)
{
	if (zid == 0)
		return false;
	for (size_t k = v->cat_off[zid - 1]; k < v->cat_off[zid]; k++)
		if (v->cats[k] == cat)
			return true;
	return false;
}

static bool zone_has_cats(const struct verdict *v, uint16_t zid)
{
	return zid != 0 && v->cat_off[zid] > v->cat_off[zid - 1];
}

static void flow_event(struct verdict *v, struct vflow *vf,
		       enum dpi_event_kind kind, const struct pkt *p,
		       uint64_t now, const char *proto, const char *text)
{
	struct evsrc src = { .pkt = p,
			     .proto = proto,
			     .cip = -1,
			     .item = -1,
			     .access = -1,
			     .text = text };

	ev_raise(v, vf, kind, reason_rule(v, vf), -1,
		 (enum pol_action)vf->verdict, reason_loc(v, vf), now, &src);
}

/* A flow refused as a whole (at binding, or by nDPI's answer later). */
static void vc_flow_denied(struct verdict *v, const struct vflow *vf)
{
	struct vcount *c = vc_of(v, vf->conduit);

	vc_add(&v->tot.flows_denied, 1);
	if (c != NULL)
		vc_add(&c->flows_denied, 1);
}

static void bind_policy(struct verdict *v, struct vflow *vf,
			const struct pkt *p, uint64_t now)
{
	const struct pol_policy *pol = v->p;
	int fam = af_of(&p->src);
	const struct pol_zone *zf, *zt;
	const struct pol_conduit *c, *rc;
	int k;

	zf = policy_classify(pol, fam, p->src.a, p->iifname);
	zt = policy_classify(pol, fam, p->dst.a, p->oifname);
	vf->zfrom = zf ? (uint16_t)zf->id : 0;
	vf->zto = zt ? (uint16_t)zt->id : 0;
	vf->flags |= VF_CLIENT_FIRST;
	if (zf == NULL || zt == NULL) {
		vf->reason = VR_NO_ZONE;
	} else if (zf == zt) {
		vf->reason = zf->intra_zone_allow ? VR_INTRA : VR_NO_CONDUIT;
	} else {
		c = conduit_of(v, zf, zt);
		k = entry_of(c, p->l4proto, p->dport, fam, p->src.a, p->dst.a);
		if (k >= 0) {
			vf->conduit = (uint16_t)(c->id);
			vf->service = (uint16_t)(k + 1);
		} else {
			/* a reply first: the capture started mid-flow */
			rc = conduit_of(v, zt, zf);
			k = entry_of(rc, p->l4proto, p->sport, fam, p->dst.a,
				     p->src.a);
			if (k >= 0) {
				vf->conduit = (uint16_t)rc->id;
				vf->service = (uint16_t)(k + 1);
				vf->zfrom = (uint16_t)zt->id;
				vf->zto = (uint16_t)zf->id;
				vf->flags &= (uint8_t)~VF_CLIENT_FIRST;
			} else if (c != NULL || rc != NULL) {
				vf->reason = VR_NO_SERVICE;
				vf->conduit = (uint16_t)(c ? c->id : rc->id);
			} else {
				vf->reason = VR_NO_CONDUIT;
			}
		}
	}
	if (vf->reason == VR_NONE || vf->reason == VR_INTRA) {
		v->st.flows_bound++;
		vc_add(&v->tot.flows, 1);
		if (vc_of(v, vf->conduit) != NULL)
			vc_add(&vc_of(v, vf->conduit)->flows, 1);
		return;
	}
	v->st.flows_unbound++;
	vc_flow_denied(v, vf);
	vf->verdict = POL_ACT_DENY;
	flow_event(v, vf, DPI_EV_NO_CONDUIT, p, now, "none", NULL);
}

/* nDPI finished (or gave up) on a flow: the `app` and category checks. */
static void ident_done(struct verdict *v, struct vflow *vf,
		       enum classify_status st,
		       const struct classify_result *res, const struct pkt *p,
		       uint64_t now)
{
	const struct pol_service *s;
	char buf[96];

	if (st == CLASSIFY_DONE) {
		vf->master = res->master;
		vf->app = res->app;
		vf->flags |= VF_IDENT;
	}
	if (v->p == NULL || vf->verdict != POL_ACT_ALLOW)
		return;
	s = flow_service(v, vf);
	if (s != NULL && vf->reason == VR_NONE && s->n_apps > 0) {
		bool ok = false;

		for (size_t i = 0; st == CLASSIFY_DONE && i < s->n_apps; i++)
			ok = classify_result_is(v->cls, res, s->apps[i]);
		if (!ok) {
			vf->reason = st == CLASSIFY_DONE ? VR_APP :
							   VR_APP_UNKNOWN;
			vf->verdict = POL_ACT_DENY;
			vc_flow_denied(v, vf);
			flow_event(v, vf, DPI_EV_APP, p, now,
				   st == CLASSIFY_DONE ? res->name : "none",
				   st == CLASSIFY_DONE ? res->name :
							 "not identified");
			return;
		}
	}
	if (st != CLASSIFY_DONE)
		return;
	if (zone_denies_cat(v, vf->zfrom, res->category) ||
	    zone_denies_cat(v, vf->zto, res->category)) {
		vf->reason = zone_denies_cat(v, vf->zfrom, res->category) ?
				     VR_CATEGORY_FROM :
				     VR_CATEGORY_TO;
		vf->verdict = POL_ACT_DENY;
		vc_flow_denied(v, vf);
		snprintf(buf, sizeof(buf), "%s (%s)",
			 classify_category_name(res->category), res->name);
		flow_event(v, vf, DPI_EV_CATEGORY, p, now, res->name, buf);
	}
}

/* The parser for a flow without a block, once nDPI said what it knows. */
static void choose_parser(const struct vflow *vf, const struct pkt *p,
			  enum classify_status st,
			  const struct classify_result *res,
			  struct engine_class *out)
{
	if (st == CLASSIFY_DONE && res->proto != ENGINE_PROTO_NONE) {
		out->proto = res->proto;
		out->how = ENGINE_CLASS_DPI;
		out->server_is_dst = server_is_dst(vf, p);
		return;
	}
	engine_classify_port(NULL, p, NULL, out);
	out->how = ENGINE_CLASS_PORT;
}

static enum engine_class_result v_classify(void *ctx, const struct pkt *p,
					   void *fuser,
					   struct engine_class *out)
{
	struct verdict *v = ctx;
	struct vflow *vf = fuser;
	const struct pol_service *s;
	struct classify_result res;
	enum classify_status st = CLASSIFY_UNKNOWN;
	bool ndpi;

	v->cls_tag = out->tag;

	if (vf == NULL)
		return engine_classify_port(NULL, p, NULL, out);
	if (vf->state == VF_NEW) {
		struct engine_class port = { 0 };

		vc_add(&v->active, 1);
		vf->cls_slot = CLASSIFY_NO_SLOT;
		vf->first_sport = p->sport;
		vf->src_hash = addr_hash(&p->src);
		if (v->p != NULL) {
			bind_policy(v, vf, p, out->now_us);
		} else {
			engine_classify_port(NULL, p, NULL, &port);
			if (port.server_is_dst)
				vf->flags |= VF_CLIENT_FIRST;
		}
		s = flow_service(v, vf);
		if (s != NULL && vf->reason == VR_NONE && s->dpi != NULL) {
			vf->flags |= VF_BLOCK;
			ndpi = s->n_apps > 0 || zone_has_cats(v, vf->zfrom) ||
			       zone_has_cats(v, vf->zto);
		} else {
			ndpi = !v->conf.port_only;
		}
		if (ndpi && v->cls != NULL) {
			vf->state = VF_NDPI;
		} else {
			/* no nDPI here: `app` cannot be verified */
			vf->state = VF_DONE;
			if (s != NULL && s->n_apps > 0)
				ident_done(v, vf, CLASSIFY_NO_SLOT_, NULL, p,
					   out->now_us);
		}
	}
	s = flow_service(v, vf);
	out->verdict = (enum engine_verdict)vf->verdict;
	if (vf->state == VF_NDPI) {
		st = classify_packet(v->cls, &vf->cls_slot, &vf->seen, p,
				     out->now_us, &res);
		if (st == CLASSIFY_MORE && vf->seen >= CLASSIFY_MAX_PACKETS) {
			classify_release(v->cls, &vf->cls_slot);
			st = CLASSIFY_UNKNOWN;
		}
		if (st == CLASSIFY_MORE) {
			if (vf->flags & VF_BLOCK) {
				out->proto = (enum engine_proto)s->dpi->app;
				out->how = ENGINE_CLASS_POLICY;
				out->server_is_dst = server_is_dst(vf, p);
			} else {
				/* decode by the well-known port at once (a
				 * flow may end before nDPI decides); hold
				 * the data only where the port says nothing */
				engine_classify_port(NULL, p, NULL, out);
				out->how = ENGINE_CLASS_PORT;
				if (out->proto != ENGINE_PROTO_NONE) {
					vf->flags |= VF_PORT_PARSE;
					if (v->p != NULL)
						out->server_is_dst =
							server_is_dst(vf, p);
				}
			}
			return ENGINE_CLASS_MORE;
		}
		vf->state = VF_DONE;
		ident_done(v, vf, st, &res, p, out->now_us);
		out->verdict = (enum engine_verdict)vf->verdict;
	}
	if (vf->flags & VF_BLOCK) {
		out->proto = (enum engine_proto)s->dpi->app;
		out->how = ENGINE_CLASS_POLICY;
		out->server_is_dst = server_is_dst(vf, p);
	} else {
		struct engine_class port = { 0 };

		choose_parser(vf, p, st, &res, out);
		if (v->p != NULL && st != CLASSIFY_DONE)
			out->server_is_dst = server_is_dst(vf, p);
		/* an allowed flow with nothing left to parse or check */
		if (v->p != NULL && vf->reason == VR_NONE &&
		    vf->verdict == POL_ACT_ALLOW &&
		    out->proto == ENGINE_PROTO_NONE && s != NULL &&
		    (s->n_apps > 0 || zone_has_cats(v, vf->zfrom) ||
		     zone_has_cats(v, vf->zto)))
			v->settled = true;
		/* the parser was fixed by port earlier: "dpi" only when nDPI
		 * confirmed that very protocol */
		if ((vf->flags & VF_PORT_PARSE) &&
		    out->how == ENGINE_CLASS_DPI) {
			engine_classify_port(NULL, p, NULL, &port);
			if (port.proto != out->proto)
				out->how = ENGINE_CLASS_PORT;
		}
	}
	return ENGINE_CLASS_DONE;
}

static void v_flow_end(void *fuser, void *arg)
{
	struct verdict *v = arg;
	struct vflow *vf = fuser;

	if (vf == NULL || vf->state == VF_NEW)
		return;
	atomic_store_explicit(&v->active, vc_get(&v->active) - 1,
			      memory_order_relaxed);
	if (v->cls != NULL && vf->cls_slot != CLASSIFY_NO_SLOT)
		classify_release(v->cls, &vf->cls_slot);
	if (vf->ev)
		pend_flush(v, vf->ev);
}

/* --- matching ------------------------------------------------------------- */

/* What decided a PDU (or one CIP request of it). */
struct vres {
	enum pol_action act;
	const char *rule;
	struct pol_loc loc;
	enum dpi_event_kind kind;
	int cip, item, access; /* as in struct evsrc */
	uint16_t exception;    /* of the rule that decided, 0 none */
};

/* all: every value inside (allow); else any value inside (deny). */
static bool rng_ok(const struct pol_ranges *r, uint32_t lo, uint32_t hi,
		   bool all)
{
	return all ? pol_ranges_cover(r, lo, hi) :
		     pol_ranges_overlap(r, lo, hi);
}

/* The accesses of a Modbus request: [0] read, [1] write; n == 0 none. */
struct mb_access {
	bool has[2];
	uint32_t lo[2], hi[2];
};

static void mb_accesses(const struct modbus_pdu *m, struct mb_access *a)
{
	int w = m->writes ? 1 : 0;

	memset(a, 0, sizeof(*a));
	if (!m->has_range || m->table == MODBUS_TABLE_NONE ||
	    m->table > MODBUS_TABLE_INPUT_REGISTERS)
		return;
	if (m->has_write_range) { /* FC 23 */
		a->has[0] = a->has[1] = true;
		a->lo[0] = m->address;
		a->hi[0] = m->address + (m->quantity ? m->quantity - 1u : 0);
		a->lo[1] = m->write_address;
		a->hi[1] = m->write_address +
			   (m->write_quantity ? m->write_quantity - 1u : 0);
		return;
	}
	a->has[w] = true;
	a->lo[w] = m->address;
	a->hi[w] = m->address + (m->quantity ? m->quantity - 1u : 0);
}

static bool mb_has_addr_crit(const struct pol_modbus_match *mm)
{
	for (int t = 0; t < POL_MB_TABLES; t++)
		if (mm->has_table[t] || mm->read[t].n || mm->write[t].n)
			return true;
	return false;
}

/* A rule's address criterion (all table keys together). */
static bool mb_rule_addr(const struct pol_modbus_match *mm,
			 const struct modbus_pdu *m, bool all)
{
	struct mb_access a;
	bool any = false;
	int t;

	mb_accesses(m, &a);
	if (!a.has[0] && !a.has[1])
		return false; /* the request touches no table */
	t = m->table - 1;
	if (!mm->has_table[t] && !mm->read[t].n && !mm->write[t].n)
		return false;
	for (int rw = 0; rw < 2; rw++) {
		const struct pol_ranges *r = rw ? &mm->write[t] : &mm->read[t];
		bool ok;

		if (!a.has[rw])
			continue;
		ok = r->n > 0 && rng_ok(r, a.lo[rw], a.hi[rw], all);
		if (all && !ok)
			return false;
		any |= ok;
	}
	return all || any;
}

static bool mb_rule(const struct pol_modbus_match *mm,
		    const struct modbus_pdu *m, bool all)
{
	if (m == NULL)
		return false;
	if (mm->has_functions && !pol_set_has(&mm->functions, m->function))
		return false;
	if (mm->unit_ids.n && !pol_ranges_has(&mm->unit_ids, m->unit_id))
		return false;
	if (mb_has_addr_crit(mm) && !mb_rule_addr(mm, m, all))
		return false;
	return true;
}

/* The block's allow match; returns the failing criterion or -1. */
static int mb_allow(const struct pol_modbus_match *mm,
		    const struct modbus_pdu *m, bool fn_ok, int *access)
{
	struct mb_access a;
	int t;

	if (!fn_ok && mm->has_functions &&
	    !pol_set_has(&mm->functions, m->function))
		return VC_FUNCTIONS;
	if (mm->unit_ids.n && !pol_ranges_has(&mm->unit_ids, m->unit_id))
		return VC_UNIT_IDS;
	mb_accesses(m, &a);
	if (!a.has[0] && !a.has[1])
		return -1;
	t = m->table - 1;
	for (int rw = 0; rw < 2; rw++) {
		const struct pol_ranges *r = rw ? &mm->write[t] : &mm->read[t];

		if (!a.has[rw] || (!mm->has_table[t] && r->n == 0))
			continue;
		if (!pol_ranges_cover(r, a.lo[rw], a.hi[rw])) {
			*access = rw;
			return (rw ? VC_MB_WRITE : VC_MB_READ) + t;
		}
	}
	return -1;
}

/* Index range of an object header, false when it names none. */
static bool dnp3_obj_entry(const struct pol_dnp3_object *e,
			   const struct dnp3_object *o, bool all)
{
	if (e->group != o->group)
		return false;
	if (e->has_variation && e->variation != o->variation)
		return false;
	if (e->indexes.n == 0)
		return true;
	return o->ranged && rng_ok(&e->indexes, o->start, o->stop, all);
}

static bool dnp3_obj_listed(const struct pol_dnp3_match *dm,
			    const struct dnp3_object *o, bool all)
{
	for (size_t i = 0; i < dm->n_objects; i++)
		if (dnp3_obj_entry(&dm->objects[i], o, all))
			return true;
	return false;
}

static bool dnp3_rule(const struct pol_dnp3_match *dm,
		      const struct engine_pdu *pdu, bool all)
{
	const struct dnp3_apdu *a = pdu->u.dnp3.app;

	if (dm->has_functions && !pol_set_has(&dm->functions, a->func))
		return false;
	if (dm->outstations.n &&
	    (pdu->u.dnp3.link == NULL ||
	     !pol_ranges_has(&dm->outstations, pdu->u.dnp3.link->dst)))
		return false;
	if (dm->n_objects == 0)
		return true;
	if (all && a->objects_truncated)
		return false; /* cannot verify what was not decoded */
	for (int i = 0; i < a->n_objects; i++) {
		bool hit = dnp3_obj_listed(dm, &a->objects[i], all);

		if (all && !hit)
			return false;
		if (!all && hit)
			return true;
	}
	return all;
}

static int dnp3_allow(const struct pol_dnp3_match *dm,
		      const struct engine_pdu *pdu, int *item)
{
	const struct dnp3_apdu *a = pdu->u.dnp3.app;

	if (dm->has_functions && !pol_set_has(&dm->functions, a->func))
		return VC_FUNCTIONS;
	if (dm->outstations.n &&
	    (pdu->u.dnp3.link == NULL ||
	     !pol_ranges_has(&dm->outstations, pdu->u.dnp3.link->dst)))
		return VC_OUTSTATIONS;
	if (dm->n_objects == 0 || a->func < DNP3_FC_WRITE ||
	    a->func > DNP3_FC_DIRECT_OPERATE_NR)
		return -1;
	for (int i = 0; i < a->n_objects; i++)
		if (!dnp3_obj_listed(dm, &a->objects[i], true)) {
			*item = i;
			return VC_OBJECTS;
		}
	if (a->objects_truncated) {
		*item = a->n_objects;
		return VC_OBJECTS;
	}
	return -1;
}

static bool iec104_rule(const struct pol_iec104_match *im,
			const struct iec104_apdu *a, bool all)
{
	if (im->has_types && !pol_set_has(&im->types, a->type_id))
		return false;
	if (im->causes.n && !pol_ranges_has(&im->causes, a->cot))
		return false;
	if (im->common_addresses.n &&
	    !pol_ranges_has(&im->common_addresses, a->ca))
		return false;
	if (im->ioas.n == 0)
		return true;
	if (!a->objects_parsed)
		return false;
	for (int i = 0; i < a->n_ioa; i++) {
		bool hit = pol_ranges_has(&im->ioas, a->ioa[i]);

		if (all && !hit)
			return false;
		if (!all && hit)
			return true;
	}
	return all;
}

static int iec104_allow(const struct pol_iec104_match *im,
			const struct iec104_apdu *a, int *item)
{
	if (im->has_types && !pol_set_has(&im->types, a->type_id))
		return VC_TYPES;
	if (im->causes.n && !pol_ranges_has(&im->causes, a->cot))
		return VC_CAUSES;
	if (im->common_addresses.n &&
	    !pol_ranges_has(&im->common_addresses, a->ca))
		return VC_CAS;
	if (im->ioas.n == 0)
		return -1;
	if (!a->objects_parsed)
		return VC_IOAS;
	for (int i = 0; i < a->n_ioa; i++)
		if (!pol_ranges_has(&im->ioas, a->ioa[i])) {
			*item = i;
			return VC_IOAS;
		}
	return -1;
}

static bool s7_ud_listed(const struct pol_s7_match *sm,
			 const struct s7comm_pdu *m)
{
	for (size_t i = 0; i < sm->n_userdata; i++) {
		const struct pol_s7_userdata *u = &sm->userdata[i];

		if (u->group == m->ud_group &&
		    (u->subfunctions.n == 0 ||
		     pol_ranges_has(&u->subfunctions, m->ud_subfunction)))
			return true;
	}
	return false;
}

/* Jobs answer `functions`, userdata requests `userdata`; a rule naming
 * only the other kind's criterion does not match. */
static bool s7_rule(const struct pol_s7_match *sm, const struct s7comm_pdu *m)
{
	if (m->rosctr == S7COMM_ROSCTR_JOB) {
		if (!sm->has_functions)
			return !sm->has_userdata;
		return m->has_function &&
		       pol_set_has(&sm->functions, m->function);
	}
	if (!sm->has_userdata)
		return !sm->has_functions;
	return m->has_userdata && s7_ud_listed(sm, m);
}

static int s7_allow(const struct pol_s7_match *sm, const struct s7comm_pdu *m)
{
	if (m->rosctr == S7COMM_ROSCTR_JOB) {
		if (sm->has_functions &&
		    (!m->has_function ||
		     !pol_set_has(&sm->functions, m->function)))
			return VC_FUNCTIONS;
		return -1;
	}
	if (sm->has_userdata && (!m->has_userdata || !s7_ud_listed(sm, m)))
		return VC_USERDATA;
	return -1;
}

static bool enip_has_cip_crit(const struct pol_enip_match *em)
{
	return em->has_services || em->classes.n || em->instances.n ||
	       em->attributes.n;
}

/* A CIP request's path cannot name its target for an allow-list. */
static bool cip_vague(const struct enip_cip *c)
{
	return c->symbolic || c->path_repeats;
}

static int enip_cip_fail(const struct pol_enip_match *em,
			 const struct enip_cip *c)
{
	if (em->has_services && !pol_set_has(&em->services, c->service))
		return VC_SERVICES;
	if (em->classes.n && (!c->has_class || cip_vague(c) ||
			      !pol_ranges_has(&em->classes, c->class_id)))
		return VC_CLASSES;
	if (em->instances.n && (!c->has_instance || cip_vague(c) ||
				!pol_ranges_has(&em->instances, c->instance)))
		return VC_INSTANCES;
	if (em->attributes.n &&
	    (!c->has_attribute || cip_vague(c) ||
	     !pol_ranges_has(&em->attributes, c->attribute)))
		return VC_ATTRIBUTES;
	return -1;
}

static bool enip_rule(const struct pol_enip_match *em, const struct enip_pdu *e,
		      const struct enip_cip *c)
{
	if (em->commands.n && !pol_ranges_has(&em->commands, e->command))
		return false;
	if (!enip_has_cip_crit(em))
		return true;
	return c != NULL && enip_cip_fail(em, c) < 0;
}

static int enip_allow(const struct pol_enip_match *em, const struct enip_pdu *e,
		      const struct enip_cip *c)
{
	if (em->commands.n && !pol_ranges_has(&em->commands, e->command))
		return VC_COMMANDS;
	if (!enip_has_cip_crit(em))
		return -1;
	if (e->cip_truncated)
		return VC_SERVICES; /* requests we could not see */
	return c != NULL ? enip_cip_fail(em, c) : -1;
}

/* --- deciding a PDU ------------------------------------------------------- */

struct unit {
	const struct engine_pdu *pdu;
	const struct enip_cip *cip; /* ENIP: one CIP request, or NULL */
};

/* Whether a rule's (or a limit's) match holds for a unit. */
static bool match(enum pol_app app, const union pol_dpi_match *m,
		  const struct unit *u, bool all)
{
	const struct engine_pdu *pdu = u->pdu;

	switch (app) {
	case POL_APP_MODBUS:
		return mb_rule(&m->modbus, pdu->u.modbus, all);
	case POL_APP_DNP3:
		return dnp3_rule(&m->dnp3, pdu, all);
	case POL_APP_IEC104:
		return iec104_rule(&m->iec104, pdu->u.iec104, all);
	case POL_APP_S7COMM:
		return s7_rule(&m->s7comm, pdu->u.s7comm);
	case POL_APP_ENIP:
		return enip_rule(&m->enip, pdu->u.enip, u->cip);
	default:
		return false;
	}
}

/* Requests the block looks at; the rest (responses, S/U frames, COTP,
 * link-only DNP3, I/O datagrams) pass once they parsed. */
static bool unit_checked(const struct engine_pdu *pdu)
{
	switch (pdu->proto) {
	case ENGINE_PROTO_MODBUS:
		return pdu->u.modbus != NULL;
	case ENGINE_PROTO_DNP3:
		return pdu->u.dnp3.app != NULL;
	case ENGINE_PROTO_IEC104:
		return pdu->u.iec104 != NULL &&
		       pdu->u.iec104->apci == IEC104_APCI_I &&
		       pdu->u.iec104->has_asdu;
	case ENGINE_PROTO_S7COMM:
		return pdu->u.s7comm != NULL && pdu->u.s7comm->has_s7 &&
		       (pdu->u.s7comm->rosctr == S7COMM_ROSCTR_JOB ||
			pdu->u.s7comm->rosctr == S7COMM_ROSCTR_USERDATA);
	case ENGINE_PROTO_ENIP:
		return pdu->u.enip != NULL && !pdu->enip_io;
	default:
		return false;
	}
}

static void res_set(struct vres *r, enum pol_action act, const char *rule,
		    struct pol_loc loc, enum dpi_event_kind kind)
{
	r->act = act;
	r->rule = rule;
	r->loc = loc;
	r->kind = kind;
	r->exception = 0;
}

/* Steps 2 and 3 of model.h for one unit. */
static void decide_unit(const struct pol_dpi *d, const struct ventry *ve,
			const struct unit *u, struct vres *r)
{
	const struct engine_pdu *pdu = u->pdu;
	int crit = -1;
	bool fn_ok = false;

	for (size_t k = 0; k < d->n_rules; k++) {
		const struct pol_dpi_rule *rl = &d->rules[k];

		if (match(d->app, &rl->m, u, rl->action == POL_ACT_ALLOW)) {
			res_set(r, rl->action, ve->rules[k], rl->loc,
				DPI_EV_DENIED);
			r->exception = rl->exception;
			return;
		}
	}
	if (d->app == POL_APP_MODBUS) {
		const struct modbus_pdu *m = pdu->u.modbus;
		enum pol_action a = POL_ACT_ALLOW;

		if (m->function == MODBUS_FC_UMAS) {
			a = d->umas;
			crit = VC_UMAS;
			fn_ok = true;
		} else if (m->function == MODBUS_FC_ENCAPSULATED_INTERFACE) {
			a = d->mei;
			crit = VC_MEI;
			fn_ok = true;
		}
		if (a != POL_ACT_ALLOW) {
			res_set(r, a, ve->crit[crit], d->loc, DPI_EV_DENIED);
			return;
		}
		crit = mb_allow(&d->allow.modbus, m, fn_ok, &r->access);
	} else if (d->app == POL_APP_DNP3) {
		crit = dnp3_allow(&d->allow.dnp3, pdu, &r->item);
	} else if (d->app == POL_APP_IEC104) {
		crit = iec104_allow(&d->allow.iec104, pdu->u.iec104, &r->item);
	} else if (d->app == POL_APP_S7COMM) {
		crit = s7_allow(&d->allow.s7comm, pdu->u.s7comm);
	} else if (d->app == POL_APP_ENIP) {
		crit = enip_allow(&d->allow.enip, pdu->u.enip, u->cip);
	}
	if (crit >= 0)
		res_set(r, POL_ACT_DENY, ve->crit[crit], d->loc, DPI_EV_DENIED);
	else
		res_set(r, POL_ACT_ALLOW, ve->block, d->loc, DPI_EV_DENIED);
}

/* --- rate limits ---------------------------------------------------------- */

static bool gcra(uint64_t *tat, uint64_t now_ns, const struct vlimit *l)
{
	uint64_t t = *tat > now_ns ? *tat : now_ns;

	if (*tat > now_ns && *tat - now_ns > l->tau_ns)
		return false;
	*tat = t + l->t_ns;
	return true;
}

static uint64_t bkey_hash(uint32_t lim, const struct bkey *k)
{
	const uint8_t *b = (const uint8_t *)k;
	uint64_t h = 1469598103934665603ull ^ lim;

	for (size_t i = 0; i < sizeof(*k); i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h ^ h >> 29;
}

/* The bucket of (limit, key): found, a free or full-again one claimed,
 * or NULL when the window is taken. */
static uint64_t *bucket_of(struct verdict *v, uint32_t lim,
			   const struct bkey *k, uint64_t now_ns)
{
	size_t n = v->n_buckets, at = bkey_hash(lim, k) % n;
	size_t probe = n < VERDICT_PROBE ? n : VERDICT_PROBE;
	struct vbucket *spare = NULL;

	for (size_t i = 0; i < probe; i++) {
		struct vbucket *b = &v->buckets[(at + i) % n];

		if (b->lim == lim + 1 && memcmp(&b->k, k, sizeof(*k)) == 0)
			return &b->tat;
		if (spare == NULL && (b->lim == 0 || b->tat <= now_ns))
			spare = b;
	}
	if (spare == NULL)
		return NULL;
	spare->lim = lim + 1;
	spare->k = *k;
	spare->tat = 0; /* full */
	return &spare->tat;
}

static bool limit_take(struct verdict *v, uint32_t lim,
		       const struct engine_pdu *pdu)
{
	struct vlimit *vl = &v->lims[lim];
	uint64_t now_ns = pdu->now_us * 1000, *tat;
	struct bkey k;

	if (vl->l->per == POL_PER_CONDUIT)
		return gcra(&vl->conduit_tat, now_ns, vl);
	memset(&k, 0, sizeof(k));
	k.family = pdu->src->family;
	memcpy(k.src, pdu->src->a, sizeof(k.src));
	if (vl->l->per == POL_PER_FLOW) {
		k.l4 = pdu->l4proto;
		k.sport = pdu->sport;
		k.dport = pdu->dport;
		memcpy(k.dst, pdu->dst->a, sizeof(k.dst));
	}
	tat = bucket_of(v, lim, &k, now_ns);
	if (tat == NULL) {
		v->st.bucket_full++;
		tat = &vl->shared_tat;
	}
	return gcra(tat, now_ns, vl);
}

/* Step 4: an allowed request takes a token of each limit it matches. */
static void rate_check(struct verdict *v, const struct pol_dpi *d,
		       const struct ventry *ve, const struct unit *units,
		       int n_units, struct vres *r)
{
	for (size_t k = 0; k < d->n_limits; k++) {
		const struct pol_rate_limit *l = &d->limits[k];
		bool hit = false;

		for (int i = 0; !hit && i < n_units; i++)
			hit = match(d->app, &l->m, &units[i], false);
		if (!hit)
			continue;
		if (!limit_take(v, ve->lim_base + (uint32_t)k, units[0].pdu)) {
			res_set(r, l->action, ve->limits[k], l->loc,
				DPI_EV_RATE);
			return;
		}
	}
}

static int pdu_function(const struct engine_pdu *pdu, int cip)
{
	switch (pdu->proto) {
	case ENGINE_PROTO_MODBUS:
		return pdu->u.modbus ? pdu->u.modbus->function : -1;
	case ENGINE_PROTO_DNP3:
		return pdu->u.dnp3.app ? pdu->u.dnp3.app->func : -1;
	case ENGINE_PROTO_IEC104:
		return pdu->u.iec104 && pdu->u.iec104->has_asdu ?
			       pdu->u.iec104->type_id :
			       -1;
	case ENGINE_PROTO_S7COMM:
		return pdu->u.s7comm && pdu->u.s7comm->has_function ?
			       pdu->u.s7comm->function :
			       -1;
	case ENGINE_PROTO_ENIP:
		if (pdu->u.enip == NULL)
			return -1;
		if (cip >= 0 && cip < pdu->u.enip->n_cip)
			return pdu->u.enip->cip[cip].service;
		return pdu->u.enip->command;
	default:
		return -1;
	}
}

/* A request or response of a flow bound to an entry with a block. */
static void decide_block(struct verdict *v, const struct pol_conduit *c,
			 const struct pol_dpi *d, const struct ventry *ve,
			 const struct engine_pdu *pdu, struct vres *r)
{
	struct unit units[ENIP_MAX_CIP];
	int n = 0;

	res_set(r, POL_ACT_ALLOW, ve->block, d->loc, DPI_EV_DENIED);
	if (d->app == POL_APP_MODBUS && pdu->u.modbus != NULL &&
	    pdu->u.modbus->length > 0 &&
	    pdu->u.modbus->length - 1u > (d->max_pdu ? d->max_pdu : 253u)) {
		res_set(r, c->malformed, ve->crit[VC_MAX_PDU], d->loc,
			DPI_EV_MALFORMED);
		return;
	}
	if (pdu->dir != DPI_DIR_REQUEST)
		return;
	if (d->app == POL_APP_S7COMM && pdu->u.s7comm != NULL &&
	    pdu->u.s7comm->has_s7 && pdu->u.s7comm->s7plus) {
		res_set(r, d->s7plus, ve->crit[VC_S7PLUS], d->loc,
			DPI_EV_DENIED);
		return;
	}
	if (!unit_checked(pdu))
		return;
	if (d->app == POL_APP_ENIP) {
		const struct enip_pdu *e = pdu->u.enip;

		for (int i = 0; i < e->n_cip; i++)
			if (!e->cip[i].response)
				units[n++] = (struct unit){ pdu, &e->cip[i] };
	}
	if (n == 0)
		units[n++] = (struct unit){ pdu, NULL };
	for (int i = 0; i < n; i++) {
		struct vres ur = { .cip = -1, .item = -1, .access = -1 };

		decide_unit(d, ve, &units[i], &ur);
		if (units[i].cip != NULL)
			ur.cip = (int)(units[i].cip - pdu->u.enip->cip);
		if (i == 0 || ur.act > r->act)
			*r = ur;
	}
	if (r->act == POL_ACT_ALLOW && d->n_limits > 0)
		rate_check(v, d, ve, units, n, r);
}

static enum engine_verdict v_pdu(const struct engine_pdu *pdu, void *fuser,
				 void *arg)
{
	struct verdict *v = arg;
	struct vflow *vf = fuser;
	struct verdict_decision dd = { .action = POL_ACT_ALLOW, .service = -1 };
	struct vres r = {
		.act = POL_ACT_ALLOW, .cip = -1, .item = -1, .access = -1
	};
	const struct pol_service *s;
	const struct ventry *ve;
	bool event = false;

	dd.app = app_name(v, vf);
	if (v->p == NULL || vf == NULL || vf->state == VF_NEW) {
		v->st.pdus[POL_ACT_ALLOW]++;
		vc_add(&v->tot.pdus[POL_ACT_ALLOW], 1);
		if (v->pdu_cb != NULL)
			v->pdu_cb(pdu, &dd, v->pdu_arg);
		return ENGINE_ALLOW;
	}
	dd.bound = true;
	dd.conduit = flow_conduit(v, vf);
	dd.zone_from = zone_by_id(v, vf->zfrom);
	dd.zone_to = zone_by_id(v, vf->zto);
	dd.service = vf->service ? vf->service - 1 : -1;
	s = flow_service(v, vf);
	ve = flow_entry(v, vf);
	if (vf->verdict != POL_ACT_ALLOW || vf->reason != VR_NONE) {
		/* decided for the whole flow (no conduit, app, category) */
		res_set(&r, (enum pol_action)vf->verdict, reason_rule(v, vf),
			reason_loc(v, vf), DPI_EV_DENIED);
	} else if (s->dpi == NULL && s->n_apps > 0 &&
		   (pdu->error != NULL || pdu->broken)) {
		/* an `app` entry whose traffic the port's parser cannot read
		 * (nDPI still undecided, or unable to name it): whatever it
		 * is, it is not that protocol */
		res_set(&r, dd.conduit->malformed, ve->app, s->loc,
			DPI_EV_MALFORMED);
		event = true;
	} else if (s->dpi == NULL) {
		/* a plain entry: the kernel's verdict, nothing inspected */
		res_set(&r, POL_ACT_ALLOW, ve->name, s->loc, DPI_EV_DENIED);
	} else if (pdu->error != NULL || pdu->broken) {
		res_set(&r, dd.conduit->malformed, "malformed", dd.conduit->loc,
			DPI_EV_MALFORMED);
		event = true;
	} else {
		decide_block(v, dd.conduit, s->dpi, ve, pdu, &r);
		event = r.act != POL_ACT_ALLOW || r.kind == DPI_EV_MALFORMED;
	}
	if (r.act == POL_ACT_REJECT && r.exception != 0 &&
	    pdu->proto == ENGINE_PROTO_MODBUS && pdu->u.modbus != NULL) {
		const struct modbus_pdu *m = pdu->u.modbus;

		v->answer = (struct verdict_answer){
			.valid = true,
			.exception = (uint8_t)r.exception,
			.transaction_id = m->transaction_id,
			.unit_id = m->unit_id,
			.function = m->function,
			.pdu_len = (size_t)m->length + 6,
		};
	}
	dd.action = r.act;
	dd.rule = r.rule;
	dd.loc = r.loc;
	v->st.pdus[r.act]++;
	vc_add(&v->tot.pdus[r.act], 1);
	if (vc_of(v, vf->conduit) != NULL)
		vc_add(&vc_of(v, vf->conduit)->pdus[r.act], 1);
	if (event && r.kind == DPI_EV_MALFORMED) {
		vc_add(&v->tot.malformed, 1);
		if (vc_of(v, vf->conduit) != NULL)
			vc_add(&vc_of(v, vf->conduit)->malformed, 1);
	}
	if (event) {
		struct evsrc src = { .pdu = pdu,
				     .proto = engine_proto_name(pdu->proto),
				     .cip = r.cip,
				     .item = r.item,
				     .access = r.access,
				     .text = r.kind == DPI_EV_MALFORMED ?
						     pdu->error :
						     NULL };

		if (r.kind == DPI_EV_MALFORMED && src.text == NULL)
			src.text = "PDU longer than max-pdu";
		ev_raise(v, vf, r.kind, r.rule, pdu_function(pdu, r.cip), r.act,
			 r.loc, pdu->now_us, &src);
	}
	if (v->pdu_cb != NULL)
		v->pdu_cb(pdu, &dd, v->pdu_arg);
	return (enum engine_verdict)r.act;
}

void verdict_attach(struct verdict *v, struct engine *e)
{
	engine_set_classifier(e, v_classify, v);
	engine_set_pdu_cb(e, v_pdu, v);
	engine_set_flow_end_cb(e, v_flow_end, v);
}
