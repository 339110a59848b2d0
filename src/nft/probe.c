/*
 * Kernel feature probe. Each feature is tried with a check-only batch
 * (BEGIN and the objects but no END), the way `nft -c` works: the kernel
 * validates every message, answers each one, then aborts the transaction,
 * so nothing is ever created. Runs in the caller's network namespace.
 */
#include "config.h"

#include "nft/internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/flowtable.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>

#include "common/log.h"

#define PROBE_TABLE "conduitd_probe"
#define PROBE_CHAIN "fwd"

int nft_batch_check(struct nft_ctx *c, struct nft_batch *b, size_t idx)
{
	int ret = nft_batch_send(c, b);

	if (idx >= b->n_refs)
		return -EINVAL;
	if (b->refs[idx].err <= 0)
		return b->refs[idx].err;
	/* not answered: the batch failed before reaching it */
	return ret < 0 ? ret : -EIO;
}

static int add_chain(struct nft_batch *b)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	int ret;

	if (c == NULL)
		return -ENOMEM;
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, PROBE_TABLE);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, PROBE_CHAIN);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFT_CD_FAMILY);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, NF_INET_FORWARD);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, 0);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
	ret = nft_batch_add_chain(b, c, NULL, "probe chain");
	nftnl_chain_free(c);
	return ret;
}

static struct nftnl_rule *probe_rule(void)
{
	struct nftnl_rule *r = nftnl_rule_alloc();

	if (r == NULL)
		return NULL;
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFT_CD_FAMILY);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, PROBE_TABLE);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, PROBE_CHAIN);
	return r;
}

static int add_expr(struct nftnl_rule *r, const char *name,
		    struct nftnl_expr **out)
{
	*out = nftnl_expr_alloc(name);
	if (*out == NULL)
		return -ENOMEM;
	nftnl_rule_add_expr(r, *out);
	return 0;
}

/* counter object + objref map (mark : counter) for the objref probe */
static int add_objref_setup(struct nft_batch *b)
{
	struct nftnl_obj *o = nftnl_obj_alloc();
	struct nftnl_set *s = nftnl_set_alloc();
	int ret = -ENOMEM;

	if (o == NULL || s == NULL)
		goto out;
	nftnl_obj_set_str(o, NFTNL_OBJ_TABLE, PROBE_TABLE);
	nftnl_obj_set_str(o, NFTNL_OBJ_NAME, "ctr");
	nftnl_obj_set_u32(o, NFTNL_OBJ_FAMILY, NFT_CD_FAMILY);
	nftnl_obj_set_u32(o, NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
	ret = nft_batch_add_obj(b, o, NULL, "probe counter");
	if (ret)
		goto out;
	nftnl_set_set_str(s, NFTNL_SET_TABLE, PROBE_TABLE);
	nftnl_set_set_str(s, NFTNL_SET_NAME, "m");
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFT_CD_FAMILY);
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_OBJECT);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, 19); /* mark */
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, sizeof(uint32_t));
	nftnl_set_set_u32(s, NFTNL_SET_OBJ_TYPE, NFT_OBJECT_COUNTER);
	nftnl_set_set_u32(s, NFTNL_SET_ID, 1);
	ret = nft_batch_add_set(b, s, NULL, "probe objref map");
out:
	if (o)
		nftnl_obj_free(o);
	if (s)
		nftnl_set_free(s);
	return ret;
}

static int add_flowtable(struct nft_batch *b)
{
	struct nftnl_flowtable *ft = nftnl_flowtable_alloc();
	int ret;

	if (ft == NULL)
		return -ENOMEM;
	nftnl_flowtable_set_str(ft, NFTNL_FLOWTABLE_TABLE, PROBE_TABLE);
	nftnl_flowtable_set_str(ft, NFTNL_FLOWTABLE_NAME, "ft");
	nftnl_flowtable_set_u32(ft, NFTNL_FLOWTABLE_FAMILY, NFT_CD_FAMILY);
	nftnl_flowtable_set_u32(ft, NFTNL_FLOWTABLE_HOOKNUM, NF_NETDEV_INGRESS);
	nftnl_flowtable_set_s32(ft, NFTNL_FLOWTABLE_PRIO, 0);
	ret = nft_batch_add_flowtable(b, ft, NULL, "probe flowtable");
	nftnl_flowtable_free(ft);
	return ret;
}

/* the rule that exercises kind k */
static int build_rule(struct nftnl_rule *r, enum nft_probe_kind k)
{
	struct nftnl_expr *e;
	uint32_t one = 1;
	int ret;

	switch (k) {
	case NFT_PROBE_NATIVE_QUEUE:
		return nft_rule_add_queue_native(r, 0, 1);
	case NFT_PROBE_XT_NFQUEUE:
		return nft_rule_add_queue_xt(r, 0, 1);
	case NFT_PROBE_CT_MARK:
		if ((ret = add_expr(r, "immediate", &e)))
			return ret;
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
		nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, &one, sizeof(one));
		if ((ret = add_expr(r, "ct", &e)))
			return ret;
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_MARK);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_SREG, NFT_REG_1);
		return 0;
	case NFT_PROBE_OBJREF_MAP:
		if ((ret = add_expr(r, "ct", &e)))
			return ret;
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_MARK);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
		if ((ret = add_expr(r, "objref", &e)))
			return ret;
		nftnl_expr_set_u32(e, NFTNL_EXPR_OBJREF_SET_SREG, NFT_REG_1);
		nftnl_expr_set_str(e, NFTNL_EXPR_OBJREF_SET_NAME, "m");
		return 0;
	case NFT_PROBE_FLOWTABLE:
		break;
	}
	return -EINVAL;
}

int nft_probe_one(struct nft_ctx *c, enum nft_probe_kind k)
{
	struct nft_batch *b = nft_batch_new(NULL);
	struct nftnl_rule *r = NULL;
	int ret;

	if (b == NULL)
		return -ENOMEM;
	ret = nft_batch_add_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE,
				  PROBE_TABLE, NULL);
	if (ret == 0)
		ret = add_chain(b);
	if (ret == 0 && k == NFT_PROBE_OBJREF_MAP)
		ret = add_objref_setup(b);
	if (ret)
		goto out;
	if (k == NFT_PROBE_FLOWTABLE) {
		ret = add_flowtable(b);
	} else {
		r = probe_rule();
		ret = r ? build_rule(r, k) : -ENOMEM;
		if (ret == 0)
			ret = nft_batch_add_rule(b, r, NULL, "probe rule");
	}
	if (ret)
		goto out;
	/* the last message is the one under test; no END: check only */
	ret = nft_batch_check(c, b, b->n_refs - 1);
	if (ret < 0 && b->refs[1].err < 0)
		ret = b->refs[1].err; /* even the table failed */
out:
	if (r)
		nftnl_rule_free(r);
	nft_batch_free(b);
	return ret;
}

int nft_probe(struct nft_features *f)
{
	struct nft_ctx *c = nft_open();
	int ret;

	memset(f, 0, sizeof(*f));
	if (c == NULL)
		return -errno;
	/* the table itself must pass, else this is no feature question */
	ret = nft_probe_one(c, NFT_PROBE_CT_MARK);
	if (ret == -EPERM || ret == -EACCES || ret == -ENOBUFS ||
	    ret == -ETIMEDOUT) {
		nft_close(c);
		return ret;
	}
	f->ct_mark = ret == 0;
	f->native_queue = nft_probe_one(c, NFT_PROBE_NATIVE_QUEUE) == 0;
	f->xt_nfqueue = nft_probe_one(c, NFT_PROBE_XT_NFQUEUE) == 0;
	f->flowtable = nft_probe_one(c, NFT_PROBE_FLOWTABLE) == 0;
	f->objref_map = nft_probe_one(c, NFT_PROBE_OBJREF_MAP) == 0;
	nft_close(c);
	return 0;
}

const char *nft_features_str(const struct nft_features *f, char *buf,
			     size_t len)
{
	snprintf(buf, len,
		 "native-queue=%s xt-nfqueue=%s flowtable=%s ct-mark=%s "
		 "objref-map=%s",
		 f->native_queue ? "yes" : "no", f->xt_nfqueue ? "yes" : "no",
		 f->flowtable ? "yes" : "no", f->ct_mark ? "yes" : "no",
		 f->objref_map ? "yes" : "no");
	return buf;
}

void nft_features_log(const struct nft_features *f)
{
	char buf[160];

	log_info("nftables features: %s",
		 nft_features_str(f, buf, sizeof(buf)));
	if (!f->native_queue && !f->xt_nfqueue)
		log_warnx("nftables: no NFQUEUE verdict available; inline "
			  "inspection cannot be enabled");
	if (!f->ct_mark || !f->objref_map)
		log_warnx("nftables: ct mark or objref maps missing; the "
			  "ruleset cannot be loaded");
}
