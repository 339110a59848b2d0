/*
 * Ruleset compiler and transaction: batch shape (no kernel), atom ids, and
 * in a fresh network namespace per test: golden rulesets read back with
 * the nft CLI, atomic replacement, kernel errors mapped to policy lines,
 * island mode, counters, persistence without the daemon.
 *
 * UPDATE_GOLDEN=1 rewrites tests/unit/golden/nft-*.{json,txt}.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>

#include "common/diag.h"
#include "nft/internal.h"
#include "nft/nft.h"
#include "policy/model.h"

#define GOLDEN_DIR TEST_SRCDIR "/tests/unit/golden/"
#define PLANT TEST_SRCDIR "/policy/examples/plant.yaml"
#define SMALL GOLDEN_DIR "nft-small.yaml"

static const struct nft_opts OPTS = {
	.mgmt_port = 8443,
	.nflog_group = 7,
	.log_rate = 10,
	.island = false,
};

static void enter_netns(void)
{
	/* Criterion runs each test in its own process: the namespace goes
	 * away with it and the host's ruleset is never touched. */
	cr_assert_eq(unshare(CLONE_NEWNET), 0, "unshare: %s", strerror(errno));
}

static struct pol_policy *load(const char *path)
{
	struct diag_list d;
	struct pol_policy *p = NULL;
	int ret;

	diag_list_init(&d);
	ret = policy_load_file(path, 0, &p, &d);
	if (ret)
		diag_print(&d, stderr);
	diag_list_free(&d);
	cr_assert_eq(ret, 0, "policy_load_file(%s) = %d", path, ret);
	return p;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

/* plant.yaml with one substring replaced */
static struct pol_policy *load_plant_edit(const char *from, const char *to)
{
	char *src = slurp(PLANT);
	char *at, *out;
	struct diag_list d;
	struct pol_policy *p = NULL;
	int ret;

	cr_assert_not_null(src);
	at = strstr(src, from);
	cr_assert_not_null(at, "plant.yaml lacks '%s'", from);
	out = calloc(1, strlen(src) + strlen(to) + 1);
	cr_assert_not_null(out);
	memcpy(out, src, (size_t)(at - src));
	strcat(out, to);
	strcat(out, at + strlen(from));
	diag_list_init(&d);
	ret = policy_load_buffer("plant-edit.yaml", out, strlen(out), 0, &p,
				 &d);
	if (ret)
		diag_print(&d, stderr);
	cr_assert_eq(ret, 0);
	diag_list_free(&d);
	free(src);
	free(out);
	return p;
}

static char *run(const char *cmd)
{
	FILE *f = popen(cmd, "r");
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	size_t n;

	cr_assert_not_null(f);
	cr_assert_not_null(buf);
	while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len < 2) {
			cap *= 2;
			buf = realloc(buf, cap);
			cr_assert_not_null(buf);
		}
	}
	buf[len] = '\0';
	cr_assert_eq(pclose(f), 0, "%s failed", cmd);
	return buf;
}

static void apply_ok(struct nft_ctx *c, const struct pol_policy *p,
		     const struct nft_opts *o)
{
	struct diag_list d;
	int ret;

	diag_list_init(&d);
	ret = nft_apply(c, p, o, &d);
	if (ret)
		diag_print(&d, stderr);
	cr_assert_eq(ret, 0, "nft_apply = %d (%s)", ret, strerror(-ret));
	diag_list_free(&d);
}

/* --- golden files ------------------------------------------------------ */

static int elem_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Drop handles and metainfo; sort set elements (a hash set lists in the
 * kernel's per-boot random order). */
static void normalise(json_t *j)
{
	const char *key;
	json_t *v;
	void *tmp;
	size_t i;

	if (json_is_object(j)) {
		json_object_del(j, "handle");
		json_object_foreach_safe(j, tmp, key, v)
		{
			if (strcmp(key, "elem") == 0 && json_is_array(v)) {
				size_t n = json_array_size(v);
				char **s = calloc(n ? n : 1, sizeof(*s));
				json_t *sorted = json_array();

				for (i = 0; i < n; i++)
					s[i] = json_dumps(
						json_array_get(v, i),
						JSON_COMPACT | JSON_SORT_KEYS);
				qsort(s, n, sizeof(*s), elem_cmp);
				for (i = 0; i < n; i++) {
					json_array_append_new(
						sorted,
						json_loads(s[i], 0, NULL));
					free(s[i]);
				}
				free(s);
				json_object_set_new(j, key, sorted);
			} else {
				normalise(v);
			}
		}
	} else if (json_is_array(j)) {
		for (i = json_array_size(j); i-- > 0;) {
			json_t *e = json_array_get(j, i);

			if (json_is_object(e) && json_object_get(e, "metainfo"))
				json_array_remove(j, i);
			else
				normalise(e);
		}
	}
}

static char *listing_json(void)
{
	char *raw = run("nft -j list table inet conduitd");
	json_error_t err;
	json_t *j = json_loads(raw, 0, &err);
	char *out;

	cr_assert_not_null(j, "nft -j output: %s", err.text);
	normalise(j);
	out = json_dumps(j, JSON_INDENT(1));
	json_decref(j);
	free(raw);
	cr_assert_not_null(out);
	out = realloc(out, strlen(out) + 2);
	strcat(out, "\n");
	return out;
}

static char *listing_text(void)
{
	return run("nft list table inet conduitd");
}

static void golden(const char *name, const char *actual)
{
	char path[512];
	char *want;

	snprintf(path, sizeof(path), GOLDEN_DIR "%s", name);
	if (getenv("UPDATE_GOLDEN")) {
		FILE *f = fopen(path, "w");

		cr_assert_not_null(f, "%s: %s", path, strerror(errno));
		fputs(actual, f);
		fclose(f);
		return;
	}
	want = slurp(path);
	cr_assert_not_null(want, "missing golden file %s (UPDATE_GOLDEN=1)",
			   path);
	if (strcmp(want, actual) != 0) {
		char got[600];
		FILE *f;

		snprintf(got, sizeof(got), "/tmp/%s.actual", name);
		f = fopen(got, "w");
		if (f) {
			fputs(actual, f);
			fclose(f);
		}
		cr_assert_fail(
			"%s differs from the golden file; see diff -u %s "
			"%s",
			name, path, got);
	}
	free(want);
}

static void golden_policy(const char *path, const char *name,
			  const struct nft_opts *o)
{
	struct pol_policy *p = load(path);
	struct nft_ctx *c;
	char fname[128];
	char *s;

	enter_netns();
	c = nft_open();
	cr_assert_not_null(c);
	apply_ok(c, p, o);
	s = listing_json();
	snprintf(fname, sizeof(fname), "nft-%s.json", name);
	golden(fname, s);
	free(s);
	s = listing_text();
	snprintf(fname, sizeof(fname), "nft-%s.txt", name);
	golden(fname, s);
	free(s);
	nft_close(c);
	policy_free(p);
}

/* CR 5.1 */
Test(nft_golden, plant)
{
	golden_policy(PLANT, "plant", &OPTS);
}

/* CR 5.1 */
Test(nft_golden, small)
{
	golden_policy(SMALL, "small", &OPTS);
}

/* NDR 5.2 RE(2) */
Test(nft_golden, island)
{
	struct nft_opts o = OPTS;

	o.island = true;
	golden_policy(PLANT, "island", &o);
}

/* NDR 5.2: inspected entries queue their flows (new and established, no
 * bypass) and carry the inspection bit in their mark; the rest stays in
 * the kernel. The xt NFQUEUE encoding (what this kernel has). */
Test(nft_golden, inspect)
{
	struct nft_opts o = OPTS;

	o.inspect = true;
	o.queue_first = 3;
	o.queue_n = 2;
	o.feat.xt_nfqueue = true;
	golden_policy(GOLDEN_DIR "nft-inspect.yaml", "inspect", &o);
}

/* NDR 5.2: without the workers a policy with protocol rules is refused
 * at its entries, never compiled to a plain accept */
Test(nft_batch, protocol_rules_refused_without_inspection)
{
	struct pol_policy *p = load(GOLDEN_DIR "nft-inspect.yaml");
	struct nft_batch *b = NULL;
	struct diag_list d;

	diag_list_init(&d);
	cr_assert_eq(nft_compile(p, &OPTS, &b, &d), -EINVAL);
	cr_assert_null(b);
	cr_assert_geq(d.n, 2);
	cr_expect_eq(d.v[0].line, 19);
	cr_expect(strstr(d.v[0].msg, "has modbus rules") != NULL, "%s",
		  d.v[0].msg);
	cr_expect(strstr(d.v[d.n - 1].msg, "zone office") != NULL, "%s",
		  d.v[d.n - 1].msg);
	diag_list_free(&d);
	policy_free(p);
}

/* --- batch shape, no kernel --------------------------------------------- */

/* NDR 5.2 RE(1) */
Test(nft_batch, shape_of_the_transaction)
{
	struct pol_policy *p = load(PLANT);
	struct diag_list d;
	struct nft_batch *b = NULL;
	const struct nlmsghdr *nlh;
	size_t n = 0, total = 0;
	int left;
	uint16_t types[4] = { 0 };
	bool forward_drop = false;

	diag_list_init(&d);
	cr_assert_eq(nft_compile(p, &OPTS, &b, &d), 0);
	left = (int)nft_batch_len(b);
	for (nlh = nft_batch_data(b); mnl_nlmsg_ok(nlh, left);
	     nlh = mnl_nlmsg_next(nlh, &left)) {
		uint16_t t = nlh->nlmsg_type;
		bool edge = t == NFNL_MSG_BATCH_BEGIN ||
			    t == NFNL_MSG_BATCH_END;

		if (n < 4)
			types[n] = t;
		if (n == 0)
			cr_assert_eq(t, NFNL_MSG_BATCH_BEGIN);
		if (!edge)
			cr_assert(nlh->nlmsg_flags & NLM_F_ACK,
				  "message %zu without NLM_F_ACK", n);
		/* a table replace, never an exclusive create */
		if ((t & 0xff) == NFT_MSG_NEWTABLE && !edge)
			cr_assert_eq(nlh->nlmsg_flags & NLM_F_EXCL, 0);
		if ((t & 0xff) == NFT_MSG_NEWCHAIN && !edge &&
		    memmem(nlh, nlh->nlmsg_len, "forward", 8))
			forward_drop = true;
		total += nlh->nlmsg_len;
		n++;
		if (left == 0)
			cr_assert_eq(t, NFNL_MSG_BATCH_END);
	}
	cr_assert_eq(left, 0);
	cr_assert_eq(n, nft_batch_msgs(b));
	cr_assert_eq(total, nft_batch_len(b));
	cr_assert_eq(types[1] & 0xff, NFT_MSG_NEWTABLE);
	cr_assert_eq(types[2] & 0xff, NFT_MSG_DELTABLE);
	cr_assert_eq(types[3] & 0xff, NFT_MSG_NEWTABLE);
	cr_assert(forward_drop);
	nft_batch_free(b);
	diag_list_free(&d);
	policy_free(p);
}

/* CR 3.5 */
Test(nft_batch, two_conduits_for_one_zone_pair_are_rejected)
{
	struct pol_policy *p = load(PLANT);
	struct diag_list d;
	struct nft_batch *b = (struct nft_batch *)1;
	char buf[512];

	/* plc-to-historian now claims enterprise -> dmz as well */
	p->conduits[2].from = p->conduits[0].from;
	p->conduits[2].to = p->conduits[0].to;
	diag_list_init(&d);
	cr_assert_eq(nft_compile(p, &OPTS, &b, &d), -EINVAL);
	cr_assert_null(b);
	cr_assert_eq(d.n, 1);
	cr_assert_eq(d.v[0].line, p->conduits[2].loc.line);
	diag_format(&d.v[0], buf, sizeof(buf));
	cr_assert(strstr(buf, "same zones") != NULL, "%s", buf);
	diag_list_free(&d);
	policy_free(p);
}

/* --- atoms ------------------------------------------------------------- */

static uint32_t atom_id(const struct nft_atoms *a, const char *text)
{
	return nft_atoms_find(a, text);
}

/* CR 5.1 */
Test(nft_atoms, ids_are_stable_and_unique)
{
	struct pol_policy *p1 = load(PLANT), *p2 = load(PLANT);
	struct nft_atoms a1, a2;

	cr_assert_eq(nft_atoms_build(p1, &a1), 0);
	cr_assert_eq(nft_atoms_build(p2, &a2), 0);
	cr_assert_eq(
		a1.n,
		11); /* 3 tcp ports + icmp + icmpv6 + udp; 1 + icmp + icmpv6; 2 */
	cr_assert_eq(a1.n, a2.n);
	for (size_t i = 0; i < a1.n; i++) {
		cr_assert_str_eq(a1.v[i].text, a2.v[i].text);
		cr_assert_eq(a1.v[i].id, a2.v[i].id);
		cr_assert_neq(a1.v[i].id, 0);
		cr_assert_eq(a1.v[i].id & ~NFT_ATOM_ID_MASK, 0);
		for (size_t j = 0; j < i; j++)
			cr_assert_neq(a1.v[i].id, a1.v[j].id);
		/* no collisions here: the id is the hash of the text */
		cr_assert_eq(a1.v[i].id, nft_atom_hash(a1.v[i].text));
	}
	cr_assert_neq(atom_id(&a1,
			      "enterprise>dmz udp port=20000-20010 "
			      "from=198.18.10.0/28 to=any rate=200/second"),
		      0);
	cr_assert_neq(atom_id(&a1, "enterprise>dmz tcp port=443 from=any "
				   "to=198.18.20.5/32,2001:db8:20::5/128"),
		      0);
	nft_atoms_free(&a1);
	nft_atoms_free(&a2);
	policy_free(p1);
	policy_free(p2);
}

/* CR 5.1 */
Test(nft_atoms, unrelated_change_and_narrowing_keep_ids)
{
	struct pol_policy *base = load(PLANT);
	struct pol_policy *more = load_plant_edit(
		"conduits:\n",
		"conduits:\n"
		"  - name: ent-to-ctl\n    from: enterprise\n    to: control\n"
		"    allow:\n      - { proto: tcp, port: 22 }\n\n");
	struct pol_policy *narrow =
		load_plant_edit("port: [443, 8443, 5201]", "port: [443, 8443]");
	struct nft_atoms a, m, n;
	size_t found = 0;

	cr_assert_eq(nft_atoms_build(base, &a), 0);
	cr_assert_eq(nft_atoms_build(more, &m), 0);
	cr_assert_eq(nft_atoms_build(narrow, &n), 0);
	cr_assert_eq(m.n, a.n + 1);
	cr_assert_eq(n.n, a.n - 1);
	for (size_t i = 0; i < a.n; i++) {
		uint32_t in_n = atom_id(&n, a.v[i].text);

		cr_assert_eq(atom_id(&m, a.v[i].text), a.v[i].id, "%s",
			     a.v[i].text);
		if (strstr(a.v[i].text, "port=5201 from=any to=198.18.20.5")) {
			cr_assert_eq(in_n, 0); /* removed: revoked */
			continue;
		}
		cr_assert_eq(in_n, a.v[i].id, "%s", a.v[i].text);
		found++;
	}
	cr_assert_eq(found, a.n - 1);
	nft_atoms_free(&a);
	nft_atoms_free(&m);
	nft_atoms_free(&n);
	policy_free(base);
	policy_free(more);
	policy_free(narrow);
}

/* --- kernel: replace, errors, persistence -------------------------------- */

/* CR 5.1 */
Test(nft_kernel, apply_replaces_atomically)
{
	struct pol_policy *a = load(PLANT), *b = load(SMALL);
	struct nft_ctx *c;
	struct diag_list d;
	struct nft_batch *bad = NULL;
	char *before, *after;
	char want[128];
	int ret;

	enter_netns();
	c = nft_open();
	cr_assert_not_null(c);
	cr_assert_eq(nft_table_exists(c), 0);
	apply_ok(c, a, &OPTS);
	cr_assert_eq(nft_table_exists(c), 1);
	apply_ok(c, b, &OPTS);
	before = listing_text();
	cr_assert(strstr(before, "chain c_office-to-servers") != NULL);
	cr_assert(strstr(before, "ops-to-historian") == NULL,
		  "objects of the old policy left behind");

	/* a batch the kernel rejects half way leaves B as it was */
	diag_list_init(&d);
	cr_assert_eq(nft_compile(a, &OPTS, &bad, &d), 0);
	cr_assert_eq(nft_batch_inject_bad_chain(bad, &a->conduits[1].loc), 0);
	ret = nft_batch_commit(c, bad, &d);
	cr_assert_lt(ret, 0);
	cr_assert_eq(d.n, 1);
	snprintf(want, sizeof(want), "%s:%d:%d: kernel rejected chain ",
		 a->file, a->conduits[1].loc.line, a->conduits[1].loc.col);
	{
		char buf[512];

		diag_format(&d.v[0], buf, sizeof(buf));
		cr_assert(strncmp(buf, want, strlen(want)) == 0, "%s", buf);
		cr_assert(strstr(buf, strerror(-ret)) != NULL, "%s", buf);
	}
	after = listing_text();
	cr_assert_str_eq(before, after);
	nft_batch_free(bad);
	diag_list_free(&d);
	free(before);
	free(after);
	nft_close(c);
	policy_free(a);
	policy_free(b);
}

/* NDR 5.2 RE(3) */
Test(nft_kernel, table_outlives_the_process_that_loaded_it)
{
	struct nft_ctx *c;
	pid_t pid;
	int st;

	enter_netns();
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		struct pol_policy *p = load(PLANT);
		struct nft_ctx *cc = nft_open();
		struct diag_list d;

		int ret;

		diag_list_init(&d);
		ret = cc && nft_apply(cc, p, &OPTS, &d) == 0 ? 0 : 1;
		/* no nft_flush: the table must stay when its loader is gone */
		nft_close(cc);
		diag_list_free(&d);
		policy_free(p);
		_exit(ret);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	c = nft_open();
	cr_assert_not_null(c);
	cr_assert_eq(nft_table_exists(c), 1);
	cr_assert_eq(nft_flush(c), 0);
	cr_assert_eq(nft_table_exists(c), 0);
	cr_assert_eq(nft_flush(c), 0, "flush of an absent table");
	nft_close(c);
}

/* NDR 5.2 RE(1) */
Test(nft_kernel, narrowed_service_leaves_the_live_map)
{
	struct pol_policy *base = load(PLANT);
	struct pol_policy *narrow =
		load_plant_edit("port: [443, 8443, 5201]", "port: [443, 8443]");
	struct nft_atoms a;
	struct nft_ctx *c;
	uint32_t gone = 0, kept = 0;
	char *s, hex[16];

	cr_assert_eq(nft_atoms_build(base, &a), 0);
	for (size_t i = 0; i < a.n; i++) {
		if (strstr(a.v[i].text, "tcp port=5201 from=any to=198"))
			gone = a.v[i].id;
		if (strstr(a.v[i].text, "tcp port=443 from=any to=198"))
			kept = a.v[i].id;
	}
	cr_assert(gone && kept);
	enter_netns();
	c = nft_open();
	cr_assert_not_null(c);
	apply_ok(c, base, &OPTS);
	s = run("nft list map inet conduitd live");
	snprintf(hex, sizeof(hex), "0x%08x", gone);
	cr_assert(strstr(s, hex) != NULL);
	free(s);
	apply_ok(c, narrow, &OPTS);
	s = run("nft list map inet conduitd live");
	cr_assert(strstr(s, hex) == NULL, "revoked atom still live");
	snprintf(hex, sizeof(hex), "0x%08x", kept);
	cr_assert(strstr(s, hex) != NULL, "kept atom lost its id");
	free(s);
	nft_atoms_free(&a);
	nft_close(c);
	policy_free(base);
	policy_free(narrow);
}

/* CR 5.1 */
Test(nft_kernel, counters_are_read_by_conduit)
{
	struct pol_policy *p = load(PLANT);
	struct nft_conduit_counters cnt[3];
	struct sockaddr_in sin;
	struct nft_ctx *c;
	int fd;

	enter_netns();
	cr_assert_eq(system("ip link set lo up"), 0);
	c = nft_open();
	cr_assert_not_null(c);
	apply_ok(c, p, &OPTS);
	cr_assert_eq(nft_read_counters(c, p, cnt), 0);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(cnt[i].accept_packets, 0);
		cr_assert_eq(cnt[i].deny_packets, 0);
	}
	/* make the kernel count something: route our own datagrams through
	 * the named counters from the output chain */
	cr_assert_eq(system("nft add rule inet conduitd output udp dport 9 "
			    "counter name c_historian-poll_acc && "
			    "nft add rule inet conduitd output udp dport 9 "
			    "counter name c_plc-to-historian_deny"),
		     0);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(fd, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(9);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(sendto(fd, "x", 1, 0, (struct sockaddr *)&sin,
				    sizeof(sin)),
			     1);
	close(fd);
	cr_assert_eq(nft_read_counters(c, p, cnt), 0);
	cr_assert_eq(cnt[0].accept_packets, 0);
	cr_assert_eq(cnt[1].accept_packets, 3); /* historian-poll: id 2 */
	cr_assert_eq(cnt[1].accept_bytes, 3 * 29);
	cr_assert_eq(cnt[2].deny_packets, 3);
	cr_assert_eq(cnt[2].accept_packets, 0);
	nft_close(c);
	policy_free(p);
}

/* NDR 5.2 RE(2) */
Test(nft_kernel, island_drops_everything_forwarded)
{
	struct pol_policy *p = load(PLANT);
	struct nft_opts o = OPTS;
	struct nft_ctx *c;
	char *s, *fwd;

	o.island = true;
	enter_netns();
	c = nft_open();
	cr_assert_not_null(c);
	apply_ok(c, p, &OPTS);
	apply_ok(c, p, &o);
	s = run("nft list chain inet conduitd forward");
	fwd = strstr(s, "policy drop;");
	cr_assert_not_null(fwd);
	cr_assert(strstr(fwd, "established") == NULL,
		  "island must not keep established flows");
	cr_assert(strstr(fwd, "cd:deny:island") != NULL);
	free(s);
	s = run("nft list chain inet conduitd in_mgmt");
	cr_assert(strstr(s, "tcp dport 8443 accept") != NULL,
		  "management must stay reachable in island mode");
	free(s);
	nft_close(c);
	policy_free(p);
}

/* CR 3.5 */
Test(nft_kernel, management_port_zero_opens_nothing)
{
	struct pol_policy *p = load(PLANT);
	struct nft_opts o = OPTS;
	struct nft_ctx *c;
	char *s;

	o.mgmt_port = 0;
	enter_netns();
	c = nft_open();
	cr_assert_not_null(c);
	apply_ok(c, p, &o);
	s = run("nft list chain inet conduitd in_mgmt");
	cr_assert(strstr(s, "dport") == NULL, "%s", s);
	free(s);
	nft_close(c);
	policy_free(p);
}

/* --- representation of a conduit's services: inline rules or maps ------- */

/* a -> b with tcp ports 1001..1000+nports, no host restriction */
static struct pol_policy *load_ports(int nports)
{
	char buf[2048], ports[512] = "";
	struct diag_list d;
	struct pol_policy *p = NULL;
	int ret;

	for (int i = 0; i < nports; i++)
		snprintf(ports + strlen(ports), sizeof(ports) - strlen(ports),
			 "%s%d", i ? ", " : "", 1001 + i);
	snprintf(buf, sizeof(buf),
		 "version: 1\nzones:\n"
		 "  a:\n    networks: [198.18.60.0/24, 2001:db8:60::/64]\n"
		 "  b:\n    networks: [198.18.61.0/24, 2001:db8:61::/64]\n"
		 "conduits:\n  - name: a-to-b\n    from: a\n    to: b\n"
		 "    allow:\n      - { proto: tcp, port: [%s] }\n",
		 ports);
	diag_list_init(&d);
	ret = policy_load_buffer("ports.yaml", buf, strlen(buf), 0, &p, &d);
	if (ret)
		diag_print(&d, stderr);
	cr_assert_eq(ret, 0);
	diag_list_free(&d);
	return p;
}

/* NEWSET messages of a batch whose set name starts with prefix */
static size_t count_sets(const struct pol_policy *p, const char *prefix)
{
	struct diag_list d;
	struct nft_batch *b = NULL;
	const struct nlmsghdr *nlh;
	size_t n = 0;
	int left;

	diag_list_init(&d);
	cr_assert_eq(nft_compile(p, &OPTS, &b, &d), 0);
	left = (int)nft_batch_len(b);
	for (nlh = nft_batch_data(b); mnl_nlmsg_ok(nlh, left);
	     nlh = mnl_nlmsg_next(nlh, &left)) {
		if (nlh->nlmsg_type !=
		    ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSET))
			continue;
		if (memmem(nlh, nlh->nlmsg_len, prefix, strlen(prefix)))
			n++;
	}
	nft_batch_free(b);
	diag_list_free(&d);
	return n;
}

static uint32_t atom_id_of(const struct pol_policy *p, const char *text)
{
	struct nft_atoms a;
	uint32_t id;

	cr_assert_eq(nft_atoms_build(p, &a), 0);
	id = nft_atoms_find(&a, text);
	nft_atoms_free(&a);
	cr_assert_neq(id, 0, "no atom %s", text);
	return id;
}

/* CR 5.1: a small conduit's services are plain rules, no sets */
Test(nft_shape, small_conduit_is_inline)
{
	struct pol_policy *p = load(PLANT);
	uint32_t id = atom_id_of(p, "dmz>control tcp port=502 from=any "
				    "to=198.18.30.10/32");
	struct nft_ctx *c;
	char *s, want[160];

	/* historian-poll: tcp 502 to one v4 host, icmp, icmpv6 = 3 rules;
	 * plc-to-historian: udp 514, tcp 5201 with no hosts = 2 rules */
	cr_assert_eq(count_sets(p, "_historian-poll"), 0);
	cr_assert_eq(count_sets(p, "_plc-to-historian"), 0);
	enter_netns();
	c = nft_open();
	cr_assert_not_null(c);
	apply_ok(c, p, &OPTS);
	s = run("nft list chain inet conduitd c_historian-poll");
	snprintf(want, sizeof(want),
		 "ip daddr 198.18.30.10 tcp dport 502 "
		 "ct mark set 0x%08x counter name \"c_historian-poll_acc\" "
		 "accept",
		 id);
	cr_assert(strstr(s, want) != NULL, "%s", s);
	/* the host is IPv4 only: no IPv6 rule for tcp 502 */
	cr_assert(strstr(s, "ip6 daddr") == NULL, "%s", s);
	free(s);
	/* no host restriction: one family-agnostic rule per service */
	s = run("nft list chain inet conduitd c_plc-to-historian");
	cr_assert(strstr(s, "udp dport 514 ct mark set") != NULL, "%s", s);
	cr_assert(strstr(s, "ip saddr") == NULL && strstr(s, "ip6 ") == NULL,
		  "%s", s);
	free(s);
	nft_close(c);
	policy_free(p);
}

/* CR 5.1: a large conduit keeps maps; pipapo only for hosts or ranges */
Test(nft_shape, large_conduit_has_maps)
{
	struct pol_policy *p = load(PLANT), *h = load_ports(8);
	struct nft_ctx *c;
	char *s;

	/* ops-to-historian: 3 ports x (v4 + v6 host) + icmp + icmpv6 +
	 * rated udp = 9 rules > K: interval maps keyed on the hosts */
	cr_assert_eq(count_sets(p, "svc4_ops-to-historian"), 1);
	cr_assert_eq(count_sets(p, "svc6_ops-to-historian"), 1);
	cr_assert_eq(count_sets(p, "rsvc4_4_ops-to-historian"), 1);
	/* 8 single ports, no hosts: one hash map for both families */
	cr_assert_eq(count_sets(h, "svc_a-to-b"), 1);
	cr_assert_eq(count_sets(h, "svc4_"), 0);
	cr_assert_eq(count_sets(h, "svc6_"), 0);
	enter_netns();
	c = nft_open();
	cr_assert_not_null(c);
	apply_ok(c, h, &OPTS);
	s = run("nft list map inet conduitd svc_a-to-b");
	cr_assert(strstr(s, "type inet_proto . inet_service : mark") != NULL,
		  "%s", s);
	cr_assert(strstr(s, "interval") == NULL, "%s", s);
	cr_assert(strstr(s, "tcp . 1008 : 0x") != NULL, "%s", s);
	free(s);
	s = run("nft list chain inet conduitd c_a-to-b");
	cr_assert(strstr(s, "ct mark set meta l4proto . th dport map "
			    "@svc_a-to-b") != NULL,
		  "%s", s);
	free(s);
	nft_close(c);
	policy_free(p);
	policy_free(h);
}

/* CR 5.1: K rules inline, K + 1 in a map */
Test(nft_shape, inline_limit_boundary)
{
	struct pol_policy *k = load_ports(4), *k1 = load_ports(5);
	struct diag_list d;
	struct nft_batch *b = NULL;
	const struct nlmsghdr *nlh;
	size_t rules_k = 0, rules_k1 = 0;
	int left;

	cr_assert_eq(count_sets(k, "svc"), 0);
	cr_assert_eq(count_sets(k1, "svc_a-to-b"), 1);
	/* c_a-to-b: 4 service rules + deny + drop, or 1 map rule + 2 */
	for (int pass = 0; pass < 2; pass++) {
		diag_list_init(&d);
		cr_assert_eq(nft_compile(pass ? k1 : k, &OPTS, &b, &d), 0);
		left = (int)nft_batch_len(b);
		for (nlh = nft_batch_data(b); mnl_nlmsg_ok(nlh, left);
		     nlh = mnl_nlmsg_next(nlh, &left)) {
			if (nlh->nlmsg_type == ((NFNL_SUBSYS_NFTABLES << 8) |
						NFT_MSG_NEWRULE) &&
			    memmem(nlh, nlh->nlmsg_len, "c_a-to-b\0", 9))
				(*(pass ? &rules_k1 : &rules_k))++;
		}
		nft_batch_free(b);
		diag_list_free(&d);
	}
	cr_assert_eq(rules_k, 4 + 2);
	cr_assert_eq(rules_k1, 1 + 2);
	policy_free(k);
	policy_free(k1);
}

/* NDR 5.2 RE(1): the representation switch keeps every atom id, so flows
 * of a conduit that grows past K (or shrinks below it) stay live */
Test(nft_shape, revocation_ids_survive_the_switch)
{
	struct pol_policy *k = load_ports(4), *k1 = load_ports(5);
	const char *text = "a>b tcp port=1003 from=any to=any";
	uint32_t id = atom_id_of(k, text);
	struct nft_ctx *c;
	char *s, hex[16];

	cr_assert_eq(atom_id_of(k1, text), id);
	snprintf(hex, sizeof(hex), "0x%08x", id);
	enter_netns();
	c = nft_open();
	cr_assert_not_null(c);
	apply_ok(c, k, &OPTS);
	s = run("nft list chain inet conduitd c_a-to-b");
	cr_assert(strstr(s, hex) != NULL, "inline rule lacks %s: %s", hex, s);
	free(s);
	s = run("nft list map inet conduitd live");
	cr_assert(strstr(s, hex) != NULL);
	free(s);
	apply_ok(c, k1, &OPTS);
	s = run("nft list map inet conduitd live");
	cr_assert(strstr(s, hex) != NULL, "id lost in the switch to a map");
	free(s);
	s = run("nft list map inet conduitd svc_a-to-b");
	cr_assert(strstr(s, hex) != NULL, "%s", s);
	free(s);
	apply_ok(c, k, &OPTS);
	s = run("nft list map inet conduitd live");
	cr_assert(strstr(s, hex) != NULL, "id lost in the switch back");
	free(s);
	nft_close(c);
	policy_free(k);
	policy_free(k1);
}
