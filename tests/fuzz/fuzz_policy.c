/*
 * libFuzzer harness for the policy loader: any bytes -> parse, validate,
 * diagnostics; a policy that loads is also diffed against a plant-like
 * reference both ways, turned into JSON and classified against, so the
 * consumers of a model see the same odd inputs. Seeds: tests/fuzz/corpus/
 * policy/ (the examples and the invalid cases of the unit tests).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>

#include "common/diag.h"
#include "policy/diff.h"
#include "policy/model.h"

/* Small enough to keep each run fast, big enough for every seed. */
#define FUZZ_MAX_SIZE (64 * 1024)

static const char reference[] =
	"version: 1\n"
	"zones:\n"
	"  enterprise: {security-level: 1, interfaces: [ent0]}\n"
	"  dmz: {security-level: 2, networks: [198.18.20.0/24, 2001:db8:20::/64]}\n"
	"  control: {security-level: 3, interfaces: [ctl0], management: true}\n"
	"conduits:\n"
	"  - name: ops-to-historian\n"
	"    from: enterprise\n"
	"    to: dmz\n"
	"    allow:\n"
	"      - {proto: tcp, port: [443, 8443, 5201], to-hosts: [198.18.20.5]}\n"
	"      - {proto: icmp, type: echo-request}\n"
	"      - {proto: udp, port: 20000-20010, from-hosts: [198.18.10.0/28], rate: 200/second}\n"
	"  - name: historian-poll\n"
	"    from: dmz\n"
	"    to: control\n"
	"    allow: [{proto: tcp, port: 502, to-hosts: [198.18.30.10]}]\n";

static struct pol_policy *ref;

static void ref_free(void)
{
	policy_free(ref);
	ref = NULL;
}

static struct pol_policy *ref_policy(void)
{
	struct diag_list dl;

	if (ref != NULL)
		return ref;
	diag_list_init(&dl);
	if (policy_load_buffer("reference.yaml", reference,
			       sizeof(reference) - 1, 0, &ref, &dl) != 0) {
		diag_print(&dl, stderr);
		abort();
	}
	diag_list_free(&dl);
	atexit(ref_free);
	return ref;
}

static void use_diff(const struct pol_policy *a, const struct pol_policy *b)
{
	struct pol_diff d;
	json_t *j;
	FILE *devnull;

	if (policy_diff(a, b, &d) != 0)
		return;
	j = policy_diff_json(&d);
	json_decref(j);
	devnull = fopen("/dev/null", "w");
	if (devnull != NULL) {
		policy_diff_print(&d, devnull);
		fclose(devnull);
	}
	policy_diff_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* CR 3.5 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t v4[4] = { 198, 18, 20, 5 };
	static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0x20 };
	struct pol_policy *r = ref_policy(), *p = NULL;
	struct diag_list dl;
	char buf[1024];

	diag_list_init(&dl);
	if (policy_load_buffer("fuzz.yaml", (const char *)data, size,
			       FUZZ_MAX_SIZE, &p, &dl) == 0) {
		json_t *j = policy_to_json(p);

		json_decref(j);
		use_diff(r, p);
		use_diff(p, r);
		use_diff(NULL, p);
		(void)policy_classify(p, AF_INET, v4, "ent0");
		(void)policy_classify(p, AF_INET6, v6, "vlan100");
		(void)policy_management_zone(p);
		for (size_t i = 0; i < p->n_conduits; i++)
			(void)policy_conduit_by_name(p, p->conduits[i].name);
	}
	for (size_t i = 0; i < dl.n; i++)
		diag_format(&dl.v[i], buf, sizeof(buf));
	diag_list_free(&dl);
	policy_free(p);
	return 0;
}
