/*
 * Kernel feature probe and the NFQUEUE verdict encodings: both encodings
 * are serialised and parsed back (no kernel), the probe runs in a fresh
 * network namespace and must agree with direct check batches, and the
 * encoding the features select is accepted by a real check batch.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/xt_NFQUEUE.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>

#include "nft/internal.h"
#include "nft/nft.h"

static void enter_netns(void)
{
	cr_assert_eq(unshare(CLONE_NEWNET), 0, "unshare: %s", strerror(errno));
}

static struct nftnl_rule *rule_in(const char *table, const char *chain)
{
	struct nftnl_rule *r = nftnl_rule_alloc();

	cr_assert_not_null(r);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFT_CD_FAMILY);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	return r;
}

/* serialise r into a NEWRULE message and parse it back */
static struct nftnl_rule *roundtrip(struct nftnl_rule *r)
{
	static char buf[8192];
	struct nlmsghdr *nlh;
	struct nftnl_rule *back = nftnl_rule_alloc();

	cr_assert_not_null(back);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWRULE, NFT_CD_FAMILY,
				    NLM_F_CREATE, 1);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	cr_assert_eq(nftnl_rule_nlmsg_parse(nlh, back), 0);
	return back;
}

static struct nftnl_expr *only_expr(struct nftnl_rule *r)
{
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
	struct nftnl_expr *e, *first;

	cr_assert_not_null(it);
	first = nftnl_expr_iter_next(it);
	cr_assert_not_null(first);
	e = nftnl_expr_iter_next(it);
	cr_assert_null(e, "more than one expression");
	nftnl_expr_iter_destroy(it);
	return first;
}

/* CR 3.5 */
Test(nft_queue, native_encoding_balances_by_flow_without_bypass)
{
	struct nftnl_rule *r = rule_in("t", "c"), *back;
	struct nftnl_expr *e;

	cr_assert_eq(nft_rule_add_queue_native(r, 4, 2), 0);
	back = roundtrip(r);
	e = only_expr(back);
	cr_assert_str_eq(nftnl_expr_get_str(e, NFTNL_EXPR_NAME), "queue");
	cr_assert_eq(nftnl_expr_get_u16(e, NFTNL_EXPR_QUEUE_NUM), 4);
	cr_assert_eq(nftnl_expr_get_u16(e, NFTNL_EXPR_QUEUE_TOTAL), 2);
	/* no CPU fanout (a flow must stay on one worker: each owns its flow
	 * table; the default balance hashes the addresses, both directions
	 * alike) and no bypass (no consumer: drop) */
	cr_assert_eq(nftnl_expr_get_u16(e, NFTNL_EXPR_QUEUE_FLAGS), 0);
	nftnl_rule_free(back);
	nftnl_rule_free(r);
}

/* CR 3.5 */
Test(nft_queue, xt_encoding_balances_by_flow_without_bypass)
{
	struct nftnl_rule *r = rule_in("t", "c"), *back;
	const struct xt_NFQ_info_v3 *info;
	struct nftnl_expr *e;
	uint32_t len = 0;

	cr_assert_eq(nft_rule_add_queue_xt(r, 4, 2), 0);
	back = roundtrip(r);
	e = only_expr(back);
	cr_assert_str_eq(nftnl_expr_get_str(e, NFTNL_EXPR_NAME), "target");
	cr_assert_str_eq(nftnl_expr_get_str(e, NFTNL_EXPR_TG_NAME), "NFQUEUE");
	cr_assert_eq(nftnl_expr_get_u32(e, NFTNL_EXPR_TG_REV), 3);
	info = nftnl_expr_get(e, NFTNL_EXPR_TG_INFO, &len);
	cr_assert_not_null(info);
	cr_assert_eq(len, sizeof(*info));
	cr_assert_eq(info->queuenum, 4);
	cr_assert_eq(info->queues_total, 2);
	cr_assert_eq(info->flags, 0); /* neither CPU fanout nor bypass */
	nftnl_rule_free(back);
	nftnl_rule_free(r);
}

Test(nft_queue, selection_follows_the_features)
{
	struct nft_features f = { 0 };
	struct nftnl_rule *r = rule_in("t", "c");

	cr_assert_eq(nft_rule_add_queue(r, &f, 0, 1), -EOPNOTSUPP);
	f.xt_nfqueue = true;
	cr_assert_eq(nft_rule_add_queue(r, &f, 0, 1), 0);
	cr_assert_str_eq(nftnl_expr_get_str(only_expr(r), NFTNL_EXPR_NAME),
			 "target");
	nftnl_rule_free(r);
	r = rule_in("t", "c");
	f.native_queue = true;
	cr_assert_eq(nft_rule_add_queue(r, &f, 0, 1), 0);
	cr_assert_str_eq(nftnl_expr_get_str(only_expr(r), NFTNL_EXPR_NAME),
			 "queue");
	nftnl_rule_free(r);
}

Test(nft_probe, features_string)
{
	struct nft_features f = { .native_queue = false,
				  .xt_nfqueue = true,
				  .flowtable = false,
				  .ct_mark = true,
				  .objref_map = true };
	char buf[160];

	cr_assert_str_eq(nft_features_str(&f, buf, sizeof(buf)),
			 "native-queue=no xt-nfqueue=yes flowtable=no "
			 "ct-mark=yes objref-map=yes");
}

/* CR 3.5 */
Test(nft_probe, agrees_with_direct_checks)
{
	struct nft_features f;
	struct nft_ctx *c;

	enter_netns();
	cr_assert_eq(nft_probe(&f), 0);
	c = nft_open();
	cr_assert_not_null(c);
	/* environment-dependent (CONFIG_NFT_QUEUE, nf_flow_table): compare
	 * with a direct check rather than a constant */
	cr_assert_eq(f.native_queue,
		     nft_probe_one(c, NFT_PROBE_NATIVE_QUEUE) == 0);
	cr_assert_eq(f.xt_nfqueue, nft_probe_one(c, NFT_PROBE_XT_NFQUEUE) == 0);
	cr_assert_eq(f.flowtable, nft_probe_one(c, NFT_PROBE_FLOWTABLE) == 0);
	/* what the ruleset itself needs must be there */
	cr_assert(f.ct_mark);
	cr_assert(f.objref_map);
	/* a check batch leaves nothing behind */
	cr_assert_eq(system("nft list tables | grep -q conduitd_probe"), 256);
	nft_close(c);
}

/* CR 3.5 */
Test(nft_probe, selected_queue_encoding_passes_a_check_batch)
{
	struct nft_features f;
	struct nft_ctx *c;
	struct nft_batch *b;
	struct nftnl_chain *ch;
	struct nftnl_rule *r;
	int ret;

	enter_netns();
	cr_assert_eq(nft_probe(&f), 0);
	if (!f.native_queue && !f.xt_nfqueue)
		cr_skip_test("no NFQUEUE verdict in this kernel");
	c = nft_open();
	cr_assert_not_null(c);
	b = nft_batch_new(NULL);
	cr_assert_not_null(b);
	cr_assert_eq(nft_batch_add_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE,
					 NFT_TABLE_NAME, NULL),
		     0);
	ch = nftnl_chain_alloc();
	nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, NFT_TABLE_NAME);
	nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, "forward");
	nftnl_chain_set_u32(ch, NFTNL_CHAIN_FAMILY, NFT_CD_FAMILY);
	nftnl_chain_set_u32(ch, NFTNL_CHAIN_HOOKNUM, NF_INET_FORWARD);
	nftnl_chain_set_s32(ch, NFTNL_CHAIN_PRIO, 0);
	nftnl_chain_set_u32(ch, NFTNL_CHAIN_POLICY, NF_DROP);
	nftnl_chain_set_str(ch, NFTNL_CHAIN_TYPE, "filter");
	cr_assert_eq(nft_batch_add_chain(b, ch, NULL, "chain forward"), 0);
	nftnl_chain_free(ch);
	r = rule_in(NFT_TABLE_NAME, "forward");
	cr_assert_eq(nft_rule_add_queue(r, &f, 0, 2), 0);
	cr_assert_eq(nft_batch_add_rule(b, r, NULL, "queue rule"), 0);
	nftnl_rule_free(r);
	ret = nft_batch_check(c, b, nft_batch_msgs(b) - 1);
	cr_assert_eq(ret, 0, "queue rule rejected: %s", strerror(-ret));
	/* and the other encoding, when the kernel lacks it, is refused */
	if (!f.native_queue) {
		struct nft_batch *b2 = nft_batch_new(NULL);

		nft_batch_add_table(b2, NFT_MSG_NEWTABLE, NLM_F_CREATE,
				    NFT_TABLE_NAME, NULL);
		ch = nftnl_chain_alloc();
		nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, NFT_TABLE_NAME);
		nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, "x");
		nftnl_chain_set_u32(ch, NFTNL_CHAIN_FAMILY, NFT_CD_FAMILY);
		nft_batch_add_chain(b2, ch, NULL, "chain x");
		nftnl_chain_free(ch);
		r = rule_in(NFT_TABLE_NAME, "x");
		nft_rule_add_queue_native(r, 0, 1);
		nft_batch_add_rule(b2, r, NULL, "native queue rule");
		nftnl_rule_free(r);
		cr_assert_lt(nft_batch_check(c, b2, nft_batch_msgs(b2) - 1), 0);
		nft_batch_free(b2);
	}
	cr_assert_eq(nft_table_exists(c), 0, "check batch created the table");
	nft_batch_free(b);
	nft_close(c);
}
