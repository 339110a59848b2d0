/*
 * Per-conduit counters read back from the kernel: one NFT_MSG_GETOBJ dump
 * of the counter objects of table inet conduitd, matched by name
 * (c_<conduit>_acc, c_<conduit>_deny) to the policy's conduits.
 */
#include "config.h"

#include "nft/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <libnftnl/object.h>

#define NFT_DUMP_BUF 32768

struct cnt_ctx {
	const struct pol_conduit **by_name; /* sorted by name */
	size_t n;
	struct nft_conduit_counters *out;
	int err;
};

static int by_name_cmp(const void *a, const void *b)
{
	const struct pol_conduit *x = *(const struct pol_conduit *const *)a;
	const struct pol_conduit *y = *(const struct pol_conduit *const *)b;

	return strcmp(x->name, y->name);
}

static const struct pol_conduit *find(const struct cnt_ctx *cx,
				      const char *name, size_t len)
{
	size_t lo = 0, hi = cx->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *m = cx->by_name[mid]->name;
		int c = strncmp(m, name, len);

		if (c == 0 && m[len] != '\0')
			c = 1;
		if (c == 0)
			return cx->by_name[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int obj_cb(const struct nlmsghdr *nlh, void *data)
{
	struct cnt_ctx *cx = data;
	struct nftnl_obj *o = nftnl_obj_alloc();
	const struct pol_conduit *c;
	const char *name;
	size_t len;
	bool acc;

	if (o == NULL) {
		cx->err = -ENOMEM;
		return MNL_CB_ERROR;
	}
	if (nftnl_obj_nlmsg_parse(nlh, o) < 0)
		goto out;
	if (nftnl_obj_get_u32(o, NFTNL_OBJ_TYPE) != NFT_OBJECT_COUNTER)
		goto out;
	name = nftnl_obj_get_str(o, NFTNL_OBJ_NAME);
	if (name == NULL || strncmp(name, "c_", 2) != 0)
		goto out;
	len = strlen(name);
	if (len > 6 && strcmp(name + len - 4, "_acc") == 0) {
		acc = true;
		len -= 4;
	} else if (len > 7 && strcmp(name + len - 5, "_deny") == 0) {
		acc = false;
		len -= 5;
	} else {
		goto out;
	}
	c = find(cx, name + 2, len - 2);
	if (c == NULL || c->id == 0)
		goto out;
	if (acc) {
		cx->out[c->id - 1].accept_packets =
			nftnl_obj_get_u64(o, NFTNL_OBJ_CTR_PKTS);
		cx->out[c->id - 1].accept_bytes =
			nftnl_obj_get_u64(o, NFTNL_OBJ_CTR_BYTES);
	} else {
		cx->out[c->id - 1].deny_packets =
			nftnl_obj_get_u64(o, NFTNL_OBJ_CTR_PKTS);
		cx->out[c->id - 1].deny_bytes =
			nftnl_obj_get_u64(o, NFTNL_OBJ_CTR_BYTES);
	}
out:
	nftnl_obj_free(o);
	return MNL_CB_OK;
}

int nft_read_counters(struct nft_ctx *c, const struct pol_policy *p,
		      struct nft_conduit_counters *out)
{
	char *buf = NULL;
	struct nftnl_obj *o = NULL;
	struct nlmsghdr *nlh;
	struct cnt_ctx cx = { 0 };
	uint32_t seq = (uint32_t)time(NULL);
	int ret;

	memset(out, 0, p->n_conduits * sizeof(*out));
	if (p->n_conduits == 0)
		return 0;
	cx.out = out;
	cx.n = p->n_conduits;
	cx.by_name = calloc(p->n_conduits, sizeof(*cx.by_name));
	buf = calloc(1, NFT_DUMP_BUF);
	o = nftnl_obj_alloc();
	if (cx.by_name == NULL || buf == NULL || o == NULL) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < p->n_conduits; i++)
		cx.by_name[i] = &p->conduits[i];
	qsort(cx.by_name, cx.n, sizeof(*cx.by_name), by_name_cmp);

	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETOBJ, NFT_CD_FAMILY,
				    NLM_F_DUMP | NLM_F_ACK, seq);
	nftnl_obj_set_str(o, NFTNL_OBJ_TABLE, NFT_TABLE_NAME);
	nftnl_obj_set_u32(o, NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
	nftnl_obj_nlmsg_build_payload(nlh, o);
	if (mnl_socket_sendto(c->nl, nlh, nlh->nlmsg_len) < 0) {
		ret = -errno;
		goto out;
	}
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(c->nl, buf, NFT_DUMP_BUF);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			goto out;
		}
		ret = mnl_cb_run(buf, (size_t)n, seq, c->portid, obj_cb, &cx);
		if (ret <= MNL_CB_STOP)
			break;
	}
	if (ret < 0)
		ret = cx.err ? cx.err : -errno;
	else
		ret = cx.err;
	/* no table (island or never applied): all zero, not an error */
	if (ret == -ENOENT)
		ret = 0;
out:
	if (o)
		nftnl_obj_free(o);
	free(buf);
	free(cx.by_name);
	return ret;
}
