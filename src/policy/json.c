/*
 * JSON forms of a policy (`policy show`, `policy check --json`) and of a
 * diff (`policy diff --json`). Field names are a stable interface,
 * documented in conduit-policy(5) section JSON; add fields, never rename.
 * Values print exactly as the diff's text does (pol_prefix_format, ...).
 */
#include "policy/diff.h"

#include <stdio.h>

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
