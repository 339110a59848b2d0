/*
 * What applying one policy over another changes. Zones and conduits are
 * matched by name; an allow entry is matched by its canonical text (ports
 * and hosts sorted), so a changed entry shows as one removed and one added
 * line. Output order is fixed: zones then conduits, each sorted by name;
 * inside an item, settings first, then removed, then added list members.
 */
#include "policy/diff.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dpi/proto/s7comm.h"
#include "policy/internal.h"

struct lines {
	char **v;
	size_t n, cap;
	int err;
};

static void lines_add(struct lines *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void lines_add(struct lines *l, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	if (l->err)
		return;
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 8;
		char **nv = realloc(l->v, ncap * sizeof(*nv));

		if (nv == NULL) {
			l->err = -ENOMEM;
			return;
		}
		l->v = nv;
		l->cap = ncap;
	}
	va_start(ap, fmt);
	r = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	s = r < 0 ? NULL : malloc((size_t)r + 1);
	if (s == NULL) {
		l->err = -ENOMEM;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(s, (size_t)r + 1, fmt, ap);
	va_end(ap);
	l->v[l->n++] = s;
}

static void lines_free(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* --- canonical text of list members -------------------------------------- */

static int prefix_cmp(const void *a, const void *b)
{
	const struct pol_prefix *x = a, *y = b;
	int r;

	if (x->family != y->family)
		return x->family == AF_INET ? -1 : 1;
	r = memcmp(x->addr, y->addr, 16);
	return r ? r : (int)x->len - (int)y->len;
}

static int port_cmp(const void *a, const void *b)
{
	const struct pol_port_range *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return (int)x->hi - (int)y->hi;
}

struct sbuf {
	char *s;
	size_t len, cap;
	int err;
};

static void sb_add(struct sbuf *b, const char *s)
{
	size_t n = strlen(s);

	if (b->err)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 64;
		char *ns;

		while (ncap < b->len + n + 1)
			ncap *= 2;
		ns = realloc(b->s, ncap);
		if (ns == NULL) {
			b->err = -ENOMEM;
			return;
		}
		b->s = ns;
		b->cap = ncap;
	}
	memcpy(b->s + b->len, s, n + 1);
	b->len += n;
}

static void sb_prefixes(struct sbuf *b, const char *label,
			const struct pol_prefix *v, size_t n)
{
	struct pol_prefix *sorted;
	char a[POL_PREFIX_STRLEN];

	if (n == 0)
		return;
	sorted = malloc(n * sizeof(*sorted));
	if (sorted == NULL) {
		b->err = -ENOMEM;
		return;
	}
	memcpy(sorted, v, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), prefix_cmp);
	sb_add(b, label);
	for (size_t i = 0; i < n; i++) {
		sb_add(b, i ? "," : " ");
		sb_add(b, pol_prefix_format(&sorted[i], a, sizeof(a)));
	}
	free(sorted);
}

/* --- protocol blocks ------------------------------------------------------ */

static void sb_fmt(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void sb_fmt(struct sbuf *b, const char *fmt, ...)
{
	char t[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t, sizeof(t), fmt, ap);
	va_end(ap);
	sb_add(b, t);
}

static void sb_range(struct sbuf *b, uint32_t lo, uint32_t hi)
{
	if (lo == hi)
		sb_fmt(b, "%u", lo);
	else
		sb_fmt(b, "%u-%u", lo, hi);
}

/* " functions=1-4,7"; "none" when empty */
static void sb_set(struct sbuf *b, const char *label,
		   const struct pol_set256 *s)
{
	bool any = false;

	sb_add(b, label);
	for (unsigned int v = 0; v < 256; v++) {
		unsigned int hi = v;

		if (!pol_set_has(s, v))
			continue;
		while (hi + 1 < 256 && pol_set_has(s, hi + 1))
			hi++;
		if (any)
			sb_add(b, ",");
		sb_range(b, v, hi);
		any = true;
		v = hi;
	}
	if (!any)
		sb_add(b, "none");
}

static void sb_ranges(struct sbuf *b, const char *label,
		      const struct pol_ranges *r, bool none_if_empty)
{
	if (r->n == 0 && !none_if_empty)
		return;
	sb_add(b, label);
	if (r->n == 0)
		sb_add(b, "none");
	for (size_t i = 0; i < r->n; i++) {
		if (i)
			sb_add(b, ",");
		sb_range(b, r->v[i].lo, r->v[i].hi);
	}
}

static void sb_match(struct sbuf *b, enum pol_app app,
		     const union pol_dpi_match *m)
{
	static const char *const tables[POL_MB_TABLES] = {
		"coils",
		"discrete-inputs",
		"holding-registers",
		"input-registers",
	};

	switch (app) {
	case POL_APP_MODBUS:
		if (m->modbus.has_functions)
			sb_set(b, " functions=", &m->modbus.functions);
		sb_ranges(b, " unit-ids=", &m->modbus.unit_ids, false);
		for (int t = 0; t < POL_MB_TABLES; t++) {
			if (!m->modbus.has_table[t])
				continue;
			sb_fmt(b, " %s=", tables[t]);
			sb_ranges(b, "read:", &m->modbus.read[t], true);
			sb_ranges(b, "/write:", &m->modbus.write[t], true);
		}
		break;
	case POL_APP_DNP3:
		if (m->dnp3.has_functions)
			sb_set(b, " functions=", &m->dnp3.functions);
		sb_ranges(b, " outstations=", &m->dnp3.outstations, false);
		for (size_t i = 0; i < m->dnp3.n_objects; i++) {
			const struct pol_dnp3_object *o = &m->dnp3.objects[i];

			sb_fmt(b, "%sg%u", i ? "," : " objects=", o->group);
			if (o->has_variation)
				sb_fmt(b, "v%u", o->variation);
			sb_ranges(b, ":", &o->indexes, false);
		}
		break;
	case POL_APP_IEC104:
		if (m->iec104.has_types)
			sb_set(b, " type-ids=", &m->iec104.types);
		sb_ranges(b, " causes=", &m->iec104.causes, false);
		sb_ranges(b, " common-addresses=", &m->iec104.common_addresses,
			  false);
		sb_ranges(b, " ioas=", &m->iec104.ioas, false);
		break;
	case POL_APP_S7COMM:
		if (m->s7comm.has_functions)
			sb_set(b, " functions=", &m->s7comm.functions);
		if (m->s7comm.has_userdata && m->s7comm.n_userdata == 0)
			sb_add(b, " userdata=none");
		for (size_t i = 0; i < m->s7comm.n_userdata; i++) {
			const struct pol_s7_userdata *u =
				&m->s7comm.userdata[i];
			const char *g = s7comm_ud_group_name(u->group);

			sb_add(b, i ? "," : " userdata=");
			if (g != NULL)
				sb_add(b, g);
			else
				sb_fmt(b, "%u", u->group);
			sb_ranges(b, ":", &u->subfunctions, false);
		}
		break;
	case POL_APP_ENIP:
		sb_ranges(b, " commands=", &m->enip.commands, false);
		if (m->enip.has_services)
			sb_set(b, " services=", &m->enip.services);
		sb_ranges(b, " classes=", &m->enip.classes, false);
		sb_ranges(b, " instances=", &m->enip.instances, false);
		sb_ranges(b, " attributes=", &m->enip.attributes, false);
		break;
	default:
		break;
	}
}

static void sb_rate(struct sbuf *b, const struct pol_rate *r)
{
	sb_fmt(b, " rate %u/%s", r->count, pol_rate_unit_name(r->unit));
	if (r->burst)
		sb_fmt(b, " burst %u", r->burst);
}

/*
 * " modbus read-only functions=1-4,7 umas=deny mei=deny max-pdu=253
 * rule[deny functions=5] limit[rate 10/minute per source deny ...]":
 * every resolved criterion, so that a changed rule set changes the text.
 */
static void sb_dpi(struct sbuf *b, const struct pol_dpi *d)
{
	static const char *const per[] = { "source", "flow", "conduit" };
	const char *preset = pol_dpi_preset_name(d->app, d->preset);

	sb_fmt(b, " %s", pol_app_name(d->app));
	if (preset != NULL)
		sb_fmt(b, " %s", preset);
	sb_match(b, d->app, &d->allow);
	if (d->app == POL_APP_MODBUS)
		sb_fmt(b, " umas=%s mei=%s max-pdu=%u",
		       pol_action_name(d->umas), pol_action_name(d->mei),
		       d->max_pdu);
	if (d->app == POL_APP_S7COMM)
		sb_fmt(b, " s7plus=%s", pol_action_name(d->s7plus));
	for (size_t i = 0; i < d->n_rules; i++) {
		sb_fmt(b, " rule[%s", pol_action_name(d->rules[i].action));
		sb_match(b, d->app, &d->rules[i].m);
		if (d->rules[i].exception != 0)
			sb_fmt(b, " exception=%u", d->rules[i].exception);
		sb_add(b, "]");
	}
	for (size_t i = 0; i < d->n_limits; i++) {
		const struct pol_rate_limit *l = &d->limits[i];

		sb_add(b, " limit[");
		sb_rate(b, &l->rate);
		sb_fmt(b, " per %s %s", per[l->per % 3],
		       pol_action_name(l->action));
		sb_match(b, d->app, &l->m);
		sb_add(b, "]");
	}
}

/*
 * "allow tcp 443,8443 from 198.18.10.0/28 to 198.18.20.5 rate 200/second
 * burst 10"; "allow icmp echo-request"; "allow udp" (any port).
 * Returns a malloc'd string or NULL.
 */
static char *service_text(const struct pol_service *s)
{
	struct sbuf b = { 0 };
	char t[64];

	sb_add(&b, "allow ");
	sb_add(&b, pol_proto_name(s->proto));
	if (s->n_ports > 0) {
		struct pol_port_range *sorted =
			malloc(s->n_ports * sizeof(*sorted));

		if (sorted == NULL) {
			free(b.s);
			return NULL;
		}
		memcpy(sorted, s->ports, s->n_ports * sizeof(*sorted));
		qsort(sorted, s->n_ports, sizeof(*sorted), port_cmp);
		for (size_t i = 0; i < s->n_ports; i++) {
			sb_add(&b, i ? "," : " ");
			sb_add(&b, pol_port_format(&sorted[i], t, sizeof(t)));
		}
		free(sorted);
	}
	if (s->icmp_type >= 0) {
		const char *name = pol_icmp_type_name(s->proto, s->icmp_type);

		if (name == NULL) {
			snprintf(t, sizeof(t), "%d", s->icmp_type);
			name = t;
		}
		sb_add(&b, " ");
		sb_add(&b, name);
	}
	sb_prefixes(&b, " from", s->from_hosts, s->n_from_hosts);
	sb_prefixes(&b, " to", s->to_hosts, s->n_to_hosts);
	if (s->has_rate) {
		snprintf(t, sizeof(t), " rate %u/%s", s->rate.count,
			 pol_rate_unit_name(s->rate.unit));
		sb_add(&b, t);
		if (s->rate.burst) {
			snprintf(t, sizeof(t), " burst %u", s->rate.burst);
			sb_add(&b, t);
		}
	}
	/* L4-only entries end here, their text unchanged by protocol rules */
	if (s->dpi != NULL)
		sb_dpi(&b, s->dpi);
	for (size_t i = 0; i < s->n_apps; i++) {
		sb_add(&b, i ? "," : " app ");
		sb_add(&b, s->apps[i]);
	}
	if (b.err) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

/* --- list differences ---------------------------------------------------- */

/* Sorts pointers to list slots by their text, ties by slot position. */
static int slot_cmp(const void *a, const void *b)
{
	char **x = *(char **const *)a, **y = *(char **const *)b;
	int r = strcmp(*x, *y);

	return r ? r : (x < y ? -1 : x > y);
}

/* Pointers to the slots of v, sorted by text; NULL when out of memory. */
static char ***sorted_slots(char **v, size_t n)
{
	char ***r = calloc(n + 1, sizeof(*r));

	if (r == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		r[i] = &v[i];
	qsort(r, n, sizeof(*r), slot_cmp);
	return r;
}

/*
 * Multiset difference of two string lists: "<label>- x" for members of a
 * missing from b (in a's order), then "<label>+ y" for members of b missing
 * from a (in b's order). Each member of b cancels one equal member of a.
 * Sorted merge, so long network lists stay cheap.
 */
static void list_diff(struct lines *out, const char *label, char **a, size_t na,
		      char **b, size_t nb)
{
	bool *used_a = calloc(na + 1, sizeof(bool));
	bool *used_b = calloc(nb + 1, sizeof(bool));
	char ***ra = sorted_slots(a, na), ***rb = sorted_slots(b, nb);
	size_t i = 0, j = 0;

	if (!used_a || !used_b || !ra || !rb) {
		out->err = -ENOMEM;
		goto out;
	}
	while (i < na && j < nb) {
		char **x = ra[i], **y = rb[j];
		int r = strcmp(*x, *y);

		if (r == 0) {
			used_a[x - a] = used_b[y - b] = true;
			i++;
			j++;
		} else if (r < 0) {
			i++;
		} else {
			j++;
		}
	}
	for (i = 0; i < na; i++)
		if (!used_a[i])
			lines_add(out, "%s- %s", label, a[i]);
	for (j = 0; j < nb; j++)
		if (!used_b[j])
			lines_add(out, "%s+ %s", label, b[j]);
out:
	free(used_a);
	free(used_b);
	free(ra);
	free(rb);
}

static void texts_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static char **iface_texts(const struct pol_zone *z, size_t *n, int *err)
{
	char **v;

	*n = z ? z->n_ifaces : 0;
	v = calloc(*n + 1, sizeof(*v));
	if (v == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < *n; i++) {
		v[i] = malloc(POL_IFNAME_MAX + 1);
		if (v[i] == NULL)
			*err = -ENOMEM;
		else
			snprintf(v[i], POL_IFNAME_MAX + 1, "%s%s",
				 z->ifaces[i].name,
				 z->ifaces[i].wildcard ? "*" : "");
	}
	return v;
}

static char **net_texts(const struct pol_zone *z, size_t *n, int *err)
{
	char **v, a[POL_PREFIX_STRLEN];

	*n = z ? z->n_nets : 0;
	v = calloc(*n + 1, sizeof(*v));
	if (v == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < *n; i++)
		if ((v[i] = strdup(pol_prefix_format(&z->nets[i], a,
						     sizeof(a)))) == NULL)
			*err = -ENOMEM;
	return v;
}

static char **category_texts(const struct pol_zone *z, size_t *n, int *err)
{
	char **v;

	*n = z ? z->n_deny_categories : 0;
	v = calloc(*n + 1, sizeof(*v));
	if (v == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < *n; i++)
		if ((v[i] = strdup(z->deny_categories[i])) == NULL)
			*err = -ENOMEM;
	return v;
}

static char **service_texts(const struct pol_conduit *c, size_t *n, int *err)
{
	char **v;

	*n = c ? c->n_allow : 0;
	v = calloc(*n + 1, sizeof(*v));
	if (v == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < *n; i++)
		if ((v[i] = service_text(&c->allow[i])) == NULL)
			*err = -ENOMEM;
	return v;
}

/* --- items --------------------------------------------------------------- */

static const char *or_none(const char *s)
{
	return s ? s : "";
}

/* Lists what differs between two text lists (unless building them failed)
 * and frees both. */
static void diff_texts_take(struct lines *out, const char *label, char **a,
			    size_t na, char **b, size_t nb, int err)
{
	if (!err)
		list_diff(out, label, a, na, b, nb);
	texts_free(a, na);
	texts_free(b, nb);
}

static void zone_details(struct lines *out, const struct pol_zone *o,
			 const struct pol_zone *n)
{
	char **a = NULL, **b = NULL;
	size_t na = 0, nb = 0;
	int err = 0;

	if (o && n) {
		if (strcmp(or_none(o->description), or_none(n->description)))
			lines_add(out, "description \"%s\" -> \"%s\"",
				  or_none(o->description),
				  or_none(n->description));
		if (o->security_level != n->security_level) {
			if (o->security_level == 0)
				lines_add(out, "security-level none -> %d",
					  n->security_level);
			else if (n->security_level == 0)
				lines_add(out, "security-level %d -> none",
					  o->security_level);
			else
				lines_add(out, "security-level %d -> %d",
					  o->security_level, n->security_level);
		}
		if (o->management != n->management)
			lines_add(out, "management %s -> %s",
				  o->management ? "true" : "false",
				  n->management ? "true" : "false");
		if (o->intra_zone_allow != n->intra_zone_allow)
			lines_add(out, "intra-zone %s -> %s",
				  o->intra_zone_allow ? "allow" : "deny",
				  n->intra_zone_allow ? "allow" : "deny");
	} else if (n) {
		if (n->security_level)
			lines_add(out, "security-level %d", n->security_level);
		if (n->management)
			lines_add(out, "management true");
		if (n->intra_zone_allow)
			lines_add(out, "intra-zone allow");
	}
	a = iface_texts(o, &na, &err);
	b = iface_texts(n, &nb, &err);
	diff_texts_take(out, "interfaces ", a, na, b, nb, err);
	a = net_texts(o, &na, &err);
	b = net_texts(n, &nb, &err);
	diff_texts_take(out, "networks ", a, na, b, nb, err);
	a = category_texts(o, &na, &err);
	b = category_texts(n, &nb, &err);
	diff_texts_take(out, "deny-app-categories ", a, na, b, nb, err);
	if (err)
		out->err = err;
}

static void conduit_details(struct lines *out, const struct pol_conduit *o,
			    const struct pol_conduit *n)
{
	char **a, **b;
	size_t na = 0, nb = 0;
	int err = 0;

	if (o && n) {
		if (strcmp(or_none(o->description), or_none(n->description)))
			lines_add(out, "description \"%s\" -> \"%s\"",
				  or_none(o->description),
				  or_none(n->description));
		if (strcmp(o->from->name, n->from->name))
			lines_add(out, "from %s -> %s", o->from->name,
				  n->from->name);
		if (strcmp(o->to->name, n->to->name))
			lines_add(out, "to %s -> %s", o->to->name, n->to->name);
		if (o->log != n->log)
			lines_add(out, "log %s -> %s",
				  o->log ? "true" : "false",
				  n->log ? "true" : "false");
		if (o->malformed != n->malformed)
			lines_add(out, "malformed %s -> %s",
				  pol_action_name(o->malformed),
				  pol_action_name(n->malformed));
		if (o->fail_open != n->fail_open)
			lines_add(out, "fail %s -> %s",
				  o->fail_open ? "open" : "close",
				  n->fail_open ? "open" : "close");
	} else if (n) {
		lines_add(out, "from %s to %s", n->from->name, n->to->name);
		if (n->log)
			lines_add(out, "log true");
		if (n->malformed != POL_ACT_DENY)
			lines_add(out, "malformed %s",
				  pol_action_name(n->malformed));
		if (n->fail_open)
			lines_add(out, "fail open");
	}
	a = service_texts(o, &na, &err);
	b = service_texts(n, &nb, &err);
	diff_texts_take(out, "", a, na, b, nb, err);
	if (err)
		out->err = err;
}

static int add_item(struct pol_diff *d, enum pol_diff_kind kind,
		    enum pol_diff_change change, const char *name,
		    struct lines *l)
{
	struct pol_diff_item *nv, *it;

	if (l->err)
		return l->err;
	nv = realloc(d->v, (d->n + 1) * sizeof(*nv));
	if (nv == NULL)
		return -ENOMEM;
	d->v = nv;
	it = &d->v[d->n];
	it->name = strdup(name);
	if (it->name == NULL)
		return -ENOMEM;
	it->kind = kind;
	it->change = change;
	it->details = l->v;
	it->n_details = l->n;
	memset(l, 0, sizeof(*l));
	d->n++;
	return 0;
}

/* Indices of names sorted by name. */
struct named {
	const char *name;
	size_t idx;
};

static int named_cmp(const void *a, const void *b)
{
	return strcmp(((const struct named *)a)->name,
		      ((const struct named *)b)->name);
}

/* The zones or conduits of p (NULL: none), sorted by name. */
static struct named *sorted_names(const struct pol_policy *p,
				  enum pol_diff_kind kind, size_t *n)
{
	bool zones = kind == POL_DIFF_ZONE;
	struct named *v;

	*n = p ? (zones ? p->n_zones : p->n_conduits) : 0;
	v = calloc(*n + 1, sizeof(*v));
	if (v == NULL)
		return NULL;
	for (size_t i = 0; i < *n; i++) {
		v[i].name = zones ? p->zones[i].name : p->conduits[i].name;
		v[i].idx = i;
	}
	qsort(v, *n, sizeof(*v), named_cmp);
	return v;
}

/* Merge walk over two name-sorted lists. */
static int diff_kind(struct pol_diff *d, enum pol_diff_kind kind,
		     const struct pol_policy *o, const struct pol_policy *n)
{
	struct named *a, *b;
	size_t na, nb, i = 0, j = 0;
	int rc = 0;

	a = sorted_names(o, kind, &na);
	b = sorted_names(n, kind, &nb);
	if (a == NULL || b == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	while (rc == 0 && (i < na || j < nb)) {
		struct lines l = { 0 };
		int cmp = i == na ? 1 :
			  j == nb ? -1 :
				    strcmp(a[i].name, b[j].name);
		const void *x = NULL, *y = NULL;
		enum pol_diff_change ch;
		const char *name;

		if (cmp < 0) {
			ch = POL_DIFF_REMOVED;
			name = a[i].name;
			x = kind == POL_DIFF_ZONE ?
				    (const void *)&o->zones[a[i].idx] :
				    (const void *)&o->conduits[a[i].idx];
			i++;
		} else if (cmp > 0) {
			ch = POL_DIFF_ADDED;
			name = b[j].name;
			y = kind == POL_DIFF_ZONE ?
				    (const void *)&n->zones[b[j].idx] :
				    (const void *)&n->conduits[b[j].idx];
			j++;
		} else {
			ch = POL_DIFF_CHANGED;
			name = b[j].name;
			x = kind == POL_DIFF_ZONE ?
				    (const void *)&o->zones[a[i].idx] :
				    (const void *)&o->conduits[a[i].idx];
			y = kind == POL_DIFF_ZONE ?
				    (const void *)&n->zones[b[j].idx] :
				    (const void *)&n->conduits[b[j].idx];
			i++;
			j++;
		}
		if (kind == POL_DIFF_ZONE)
			zone_details(&l, x, y);
		else
			conduit_details(&l, x, y);
		if (ch == POL_DIFF_CHANGED && l.n == 0 && l.err == 0)
			continue;
		rc = add_item(d, kind, ch, name, &l);
		lines_free(&l);
	}
out:
	free(a);
	free(b);
	return rc;
}

int policy_diff(const struct pol_policy *old, const struct pol_policy *new_p,
		struct pol_diff *out)
{
	int rc;

	out->v = NULL;
	out->n = 0;
	rc = diff_kind(out, POL_DIFF_ZONE, old, new_p);
	if (rc == 0)
		rc = diff_kind(out, POL_DIFF_CONDUIT, old, new_p);
	if (rc < 0)
		policy_diff_free(out);
	return rc;
}

void policy_diff_free(struct pol_diff *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n; i++) {
		for (size_t j = 0; j < d->v[i].n_details; j++)
			free(d->v[i].details[j]);
		free(d->v[i].details);
		free(d->v[i].name);
	}
	free(d->v);
	d->v = NULL;
	d->n = 0;
}

/*
 *   zone dmz: changed
 *     security-level 2 -> 3
 *   conduit ops-to-historian: changed
 *     - allow tcp 8443 to 198.18.20.5
 */
void policy_diff_print(const struct pol_diff *d, FILE *out)
{
	static const char *const change[] = { "added", "removed", "changed" };

	if (d->n == 0) {
		fprintf(out, "no changes\n");
		return;
	}
	for (size_t i = 0; i < d->n; i++) {
		const struct pol_diff_item *it = &d->v[i];

		fprintf(out, "%s %s: %s\n",
			it->kind == POL_DIFF_ZONE ? "zone" : "conduit",
			it->name, change[it->change]);
		for (size_t j = 0; j < it->n_details; j++)
			fprintf(out, "  %s\n", it->details[j]);
	}
}
