/*
 * JSON forms of a policy (`policy show`, `policy check --json`) and of a
 * diff (`policy diff --json`). Field names are a stable interface,
 * documented in conduit-policy(5) section JSON; add fields, never rename.
 * Values print exactly as the diff's text does (pol_prefix_format, ...).
 */
#include "policy/diff.h"

#include <stdio.h>

#include "dpi/proto/s7comm.h"
#include "policy/internal.h"

/* jansson's *_set_new/append_new steal the reference even on failure. */
static int put(json_t *o, const char *k, json_t *v)
{
	return v == NULL || json_object_set_new(o, k, v) < 0 ? -1 : 0;
}

static int push(json_t *a, json_t *v)
{
	return v == NULL || json_array_append_new(a, v) < 0 ? -1 : 0;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *prefixes(const struct pol_prefix *v, size_t n)
{
	json_t *a = json_array();
	char buf[POL_PREFIX_STRLEN];

	for (size_t i = 0; a && i < n; i++)
		if (push(a, json_string(pol_prefix_format(&v[i], buf,
							  sizeof(buf)))) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *strings(const char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		if (push(a, json_string(v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/* --- protocol blocks ------------------------------------------------------ */

/* [1, 2, 3, 4, 7]: the members of a set */
static json_t *set_json(const struct pol_set256 *s)
{
	json_t *a = json_array();

	for (unsigned int v = 0; a && v < 256; v++)
		if (pol_set_has(s, v) && push(a, json_integer(v)) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/* [[lo, hi], ...] */
static json_t *ranges_json(const struct pol_ranges *r)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < r->n; i++)
		if (push(a, json_pack("[II]", (json_int_t)r->v[i].lo,
				      (json_int_t)r->v[i].hi)) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/* a range criterion: only when present */
static int put_ranges(json_t *o, const char *k, const struct pol_ranges *r)
{
	return r->n ? put(o, k, ranges_json(r)) : 0;
}

static json_t *match_json(enum pol_app app, const union pol_dpi_match *m)
{
	static const char *const tables[POL_MB_TABLES] = {
		"coils",
		"discrete_inputs",
		"holding_registers",
		"input_registers",
	};
	json_t *o = json_object(), *a, *t;
	int err = o == NULL;

	switch (app) {
	case POL_APP_MODBUS:
		if (!err && m->modbus.has_functions)
			err |= put(o, "functions",
				   set_json(&m->modbus.functions));
		err |= put_ranges(o, "unit_ids", &m->modbus.unit_ids);
		for (int i = 0; !err && i < POL_MB_TABLES; i++) {
			if (!m->modbus.has_table[i])
				continue;
			t = json_object();
			err |= t == NULL;
			if (!err) {
				err |= put(t, "read",
					   ranges_json(&m->modbus.read[i]));
				err |= put(t, "write",
					   ranges_json(&m->modbus.write[i]));
			}
			err |= put(o, tables[i], t);
		}
		break;
	case POL_APP_DNP3:
		if (!err && m->dnp3.has_functions)
			err |= put(o, "functions",
				   set_json(&m->dnp3.functions));
		err |= put_ranges(o, "outstations", &m->dnp3.outstations);
		if (err || m->dnp3.n_objects == 0)
			break;
		a = json_array();
		for (size_t i = 0; a && !err && i < m->dnp3.n_objects; i++) {
			const struct pol_dnp3_object *x = &m->dnp3.objects[i];

			t = json_object();
			err |= t == NULL;
			err |= !err && put(t, "group", json_integer(x->group));
			err |= !err && put(t, "variation",
					   x->has_variation ?
						   json_integer(x->variation) :
						   json_null());
			err |= !err &&
			       put(t, "indexes",
				   x->indexes.n ? ranges_json(&x->indexes) :
						  json_null());
			err |= push(a, t);
		}
		err |= put(o, "objects", a);
		break;
	case POL_APP_IEC104:
		if (!err && m->iec104.has_types)
			err |= put(o, "type_ids", set_json(&m->iec104.types));
		err |= put_ranges(o, "causes", &m->iec104.causes);
		err |= put_ranges(o, "common_addresses",
				  &m->iec104.common_addresses);
		err |= put_ranges(o, "ioas", &m->iec104.ioas);
		break;
	case POL_APP_S7COMM:
		if (!err && m->s7comm.has_functions)
			err |= put(o, "functions",
				   set_json(&m->s7comm.functions));
		if (err || !m->s7comm.has_userdata)
			break;
		a = json_array();
		for (size_t i = 0; a && !err && i < m->s7comm.n_userdata; i++) {
			const struct pol_s7_userdata *u =
				&m->s7comm.userdata[i];
			const char *g = s7comm_ud_group_name(u->group);

			t = json_object();
			err |= t == NULL;
			err |= !err &&
			       put(t, "group",
				   g ? json_string(g) : json_integer(u->group));
			err |= !err &&
			       put(t, "subfunctions",
				   u->subfunctions.n ?
					   ranges_json(&u->subfunctions) :
					   json_null());
			err |= push(a, t);
		}
		err |= put(o, "userdata", a);
		break;
	case POL_APP_ENIP:
		err |= put_ranges(o, "commands", &m->enip.commands);
		if (!err && m->enip.has_services)
			err |= put(o, "services", set_json(&m->enip.services));
		err |= put_ranges(o, "classes", &m->enip.classes);
		err |= put_ranges(o, "instances", &m->enip.instances);
		err |= put_ranges(o, "attributes", &m->enip.attributes);
		break;
	default:
		break;
	}
	if (err) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *rate_json(const struct pol_rate *r)
{
	return json_pack("{sIsssI}", "count", (json_int_t)r->count, "unit",
			 pol_rate_unit_name(r->unit), "burst",
			 (json_int_t)r->burst);
}

static json_t *dpi_json(const struct pol_dpi *d)
{
	static const char *const per[] = { "source", "flow", "conduit" };
	json_t *o = json_object(), *rules = json_array(),
	       *limits = json_array();
	const char *preset = pol_dpi_preset_name(d->app, d->preset);
	int err = o == NULL || rules == NULL || limits == NULL;

	for (size_t i = 0; !err && i < d->n_rules; i++) {
		const struct pol_dpi_rule *r = &d->rules[i];
		json_t *ro = json_pack("{sssosisi}", "action",
				       pol_action_name(r->action), "match",
				       match_json(d->app, &r->m), "line",
				       r->loc.line, "col", r->loc.col);

		/* only rules that have one: older output stays the same */
		if (ro != NULL && r->exception != 0)
			err |= put(ro, "exception", json_integer(r->exception));
		err |= push(rules, ro);
	}
	for (size_t i = 0; !err && i < d->n_limits; i++) {
		const struct pol_rate_limit *l = &d->limits[i];

		err |= push(limits,
			    json_pack("{sosssssosisi}", "rate",
				      rate_json(&l->rate), "per",
				      per[l->per % 3], "action",
				      pol_action_name(l->action), "match",
				      match_json(d->app, &l->m), "line",
				      l->loc.line, "col", l->loc.col));
	}
	if (err) {
		json_decref(o);
		json_decref(rules);
		json_decref(limits);
		return NULL;
	}
	err |= put(o, "protocol", json_string(pol_app_name(d->app)));
	err |= put(o, "preset", str_or_null(preset));
	err |= put(o, "allow", match_json(d->app, &d->allow));
	err |= put(o, "rules", rules);
	err |= put(o, "rate_limits", limits);
	if (d->app == POL_APP_MODBUS) {
		err |= put(o, "max_pdu", json_integer(d->max_pdu));
		err |= put(o, "umas", json_string(pol_action_name(d->umas)));
		err |= put(o, "mei", json_string(pol_action_name(d->mei)));
	}
	if (d->app == POL_APP_S7COMM)
		err |= put(o, "s7plus",
			   json_string(pol_action_name(d->s7plus)));
	if (err) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *zone_json(const struct pol_zone *z)
{
	json_t *o = json_object(), *ifs = json_array();
	int err = o == NULL || ifs == NULL;

	for (size_t i = 0; !err && i < z->n_ifaces; i++) {
		char buf[POL_IFNAME_MAX + 1];

		snprintf(buf, sizeof(buf), "%s%s", z->ifaces[i].name,
			 z->ifaces[i].wildcard ? "*" : "");
		err = push(ifs, json_string(buf));
	}
	if (err) {
		json_decref(o);
		json_decref(ifs);
		return NULL;
	}
	err |= put(o, "name", json_string(z->name));
	err |= put(o, "description", str_or_null(z->description));
	err |= put(o, "security_level",
		   z->security_level ? json_integer(z->security_level) :
				       json_null());
	err |= put(o, "management", json_boolean(z->management));
	err |= put(o, "intra_zone",
		   json_string(z->intra_zone_allow ? "allow" : "deny"));
	err |= put(o, "interfaces", ifs);
	err |= put(o, "networks", prefixes(z->nets, z->n_nets));
	err |= put(o, "deny_app_categories",
		   strings(z->deny_categories, z->n_deny_categories));
	if (err) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *service_json(const struct pol_service *s)
{
	json_t *o = json_object(), *ports = json_array(), *type, *rate;
	int err = o == NULL || ports == NULL;
	char buf[32];

	for (size_t i = 0; !err && i < s->n_ports; i++)
		err = push(ports, json_string(pol_port_format(&s->ports[i], buf,
							      sizeof(buf))));
	if (err) {
		json_decref(o);
		json_decref(ports);
		return NULL;
	}
	if (s->icmp_type < 0) {
		type = json_null();
	} else {
		const char *name = pol_icmp_type_name(s->proto, s->icmp_type);

		snprintf(buf, sizeof(buf), "%d", s->icmp_type);
		type = json_string(name ? name : buf);
	}
	if (s->has_rate) {
		rate = json_object();
		if (rate != NULL &&
		    (put(rate, "count", json_integer(s->rate.count)) < 0 ||
		     put(rate, "unit",
			 json_string(pol_rate_unit_name(s->rate.unit))) < 0 ||
		     put(rate, "burst", json_integer(s->rate.burst)) < 0)) {
			json_decref(rate);
			rate = NULL;
		}
	} else {
		rate = json_null();
	}
	err |= put(o, "proto", json_string(pol_proto_name(s->proto)));
	err |= put(o, "ports", ports);
	err |= put(o, "icmp_type", type);
	err |= put(o, "from_hosts", prefixes(s->from_hosts, s->n_from_hosts));
	err |= put(o, "to_hosts", prefixes(s->to_hosts, s->n_to_hosts));
	err |= put(o, "rate", rate);
	err |= put(o, "dpi", s->dpi ? dpi_json(s->dpi) : json_null());
	err |= put(o, "app", strings(s->apps, s->n_apps));
	if (err) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *conduit_json(const struct pol_conduit *c)
{
	json_t *o = json_object(), *allow = json_array();
	int err = o == NULL || allow == NULL;

	for (size_t i = 0; !err && i < c->n_allow; i++)
		err = push(allow, service_json(&c->allow[i]));
	if (err) {
		json_decref(o);
		json_decref(allow);
		return NULL;
	}
	err |= put(o, "name", json_string(c->name));
	err |= put(o, "description", str_or_null(c->description));
	err |= put(o, "from", json_string(c->from->name));
	err |= put(o, "to", json_string(c->to->name));
	err |= put(o, "log", json_boolean(c->log));
	err |= put(o, "malformed", json_string(pol_action_name(c->malformed)));
	err |= put(o, "fail", json_string(c->fail_open ? "open" : "close"));
	err |= put(o, "allow", allow);
	if (err) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *policy_to_json(const struct pol_policy *p)
{
	json_t *o = json_object(), *zones = json_array(),
	       *conduits = json_array();
	int err = o == NULL || zones == NULL || conduits == NULL;
	char hex[65];

	for (size_t i = 0; !err && i < p->n_zones; i++)
		err = push(zones, zone_json(&p->zones[i]));
	for (size_t i = 0; !err && i < p->n_conduits; i++)
		err = push(conduits, conduit_json(&p->conduits[i]));
	if (err) {
		json_decref(o);
		json_decref(zones);
		json_decref(conduits);
		return NULL;
	}
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", p->sha256[i]);
	err |= put(o, "file", str_or_null(p->file));
	err |= put(o, "sha256", json_string(hex));
	err |= put(o, "version", json_integer(p->version));
	err |= put(o, "zones", zones);
	err |= put(o, "conduits", conduits);
	if (err) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* {"added":["name",..],"removed":[..],"changed":[{"name","details"}]} */
static json_t *kind_json(const struct pol_diff *d, enum pol_diff_kind kind)
{
	json_t *o = json_object(), *added = json_array(),
	       *removed = json_array(), *changed = json_array();
	int err = !o || !added || !removed || !changed;

	for (size_t i = 0; !err && i < d->n; i++) {
		const struct pol_diff_item *it = &d->v[i];
		json_t *c, *det;

		if (it->kind != kind)
			continue;
		if (it->change == POL_DIFF_ADDED) {
			err = push(added, json_string(it->name));
			continue;
		}
		if (it->change == POL_DIFF_REMOVED) {
			err = push(removed, json_string(it->name));
			continue;
		}
		c = json_object();
		det = json_array();
		for (size_t j = 0; c && det && !err && j < it->n_details; j++)
			err = push(det, json_string(it->details[j]));
		if (c == NULL || det == NULL || err) {
			json_decref(c);
			json_decref(det);
			err = 1;
			break;
		}
		err |= put(c, "name", json_string(it->name));
		err |= put(c, "details", det);
		err |= push(changed, c);
	}
	if (err) {
		json_decref(o);
		json_decref(added);
		json_decref(removed);
		json_decref(changed);
		return NULL;
	}
	err |= put(o, "added", added);
	err |= put(o, "removed", removed);
	err |= put(o, "changed", changed);
	if (err) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *policy_diff_json(const struct pol_diff *d)
{
	json_t *o = json_object();

	if (o == NULL || put(o, "zones", kind_json(d, POL_DIFF_ZONE)) < 0 ||
	    put(o, "conduits", kind_json(d, POL_DIFF_CONDUIT)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}
