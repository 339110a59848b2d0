/*
 * What applying one policy over another changes, zone by zone and conduit
 * by conduit. Pure function of two models; used by `policy diff`, by the
 * apply log line and (later) by the audit record of an apply.
 */
#ifndef CONDUIT_POLICY_DIFF_H
#define CONDUIT_POLICY_DIFF_H

#include <stdio.h>
#include <jansson.h>

#include "policy/model.h"

enum pol_diff_change {
	POL_DIFF_ADDED,
	POL_DIFF_REMOVED,
	POL_DIFF_CHANGED,
};

enum pol_diff_kind {
	POL_DIFF_ZONE,
	POL_DIFF_CONDUIT,
};

struct pol_diff_item {
	enum pol_diff_kind kind;
	enum pol_diff_change change;
	char *name;	/* owned */
	char **details; /* owned; human-readable lines, e.g. "+ allow tcp 8443" */
	size_t n_details;
};

struct pol_diff {
	struct pol_diff_item
		*v; /* zones first, then conduits; each sorted by name */
	size_t n;
};

/* old may be NULL (everything is added). Returns 0 or -ENOMEM. */
int policy_diff(const struct pol_policy *old, const struct pol_policy *new_p,
		struct pol_diff *out);
void policy_diff_free(struct pol_diff *d);
/* Text form; prints "no changes" when empty. */
void policy_diff_print(const struct pol_diff *d, FILE *out);
/* {"zones":{"added":[..],"removed":[..],"changed":[{"name":..,"details":[..]}]},
 *  "conduits":{...same...}}  -- new reference. */
json_t *policy_diff_json(const struct pol_diff *d);

/* The model as JSON for `policy show`/`policy check --json` (new reference):
 * {"file","sha256","version","zones":[{"name","description","security_level",
 *  "management","intra_zone","interfaces":[..],"networks":[..]}],
 *  "conduits":[{"name","from","to","log","allow":[{"proto","ports":["443","20000-20010"],
 *  "icmp_type","from_hosts":[..],"to_hosts":[..],"rate"}]}]} */
json_t *policy_to_json(const struct pol_policy *p);

#endif
