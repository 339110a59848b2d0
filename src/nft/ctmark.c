/*
 * Conntrack marks of handed-back flows (nft.h NFT_MARK_HANDBACK) after a
 * policy apply: a flow the workers handed back to the kernel under an
 * entry whose inspection rules changed must be checked again, so its ct
 * mark gets the inspect bit back and its next packet goes to a worker,
 * which binds it to the new rules. One ctnetlink dump filtered by mark
 * (kernel side), then one update per picked flow (libmnl).
 */
#include "config.h"

#include "nft/nft.h"
#include "nft/internal.h"
#include "policy/diff.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#define CT_BUF 32768 /* > one page: what a dump message may need */

struct ct_upd {
	uint8_t family;
	uint32_t mark;
	uint16_t tlen;
	uint8_t tuple[256]; /* CTA_TUPLE_ORIG payload */
};

struct ct_dump {
	nft_ct_pick_fn pick;
	void *arg;
	struct ct_upd *v;
	size_t n, cap;
	int err;
};

static int ct_attr(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);

	if (mnl_attr_type_valid(a, CTA_MAX) < 0)
		return MNL_CB_OK;
	tb[type] = a;
	return MNL_CB_OK;
}

static int ct_dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ct_dump *d = data;
	const struct nlattr *tb[CTA_MAX + 1] = { 0 };
	const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);
	uint32_t mark, nmark;
	struct ct_upd *u;

	if (mnl_attr_parse(nlh, sizeof(*g), ct_attr, tb) < 0)
		return MNL_CB_OK;
	if (tb[CTA_MARK] == NULL || tb[CTA_TUPLE_ORIG] == NULL ||
	    mnl_attr_validate(tb[CTA_MARK], MNL_TYPE_U32) < 0 ||
	    mnl_attr_get_payload_len(tb[CTA_TUPLE_ORIG]) > sizeof(u->tuple))
		return MNL_CB_OK;
	mark = ntohl(mnl_attr_get_u32(tb[CTA_MARK]));
	/* the kernel filtered by mark; check again all the same */
	if ((mark & NFT_MARK_FLAGS) != NFT_MARK_HANDBACK)
		return MNL_CB_OK;
	if (!d->pick(mark & ~NFT_MARK_FLAGS, &nmark, d->arg))
		return MNL_CB_OK;
	if (d->n == d->cap) {
		size_t nc = d->cap ? d->cap * 2 : 64;
		struct ct_upd *nv = realloc(d->v, nc * sizeof(*nv));

		if (nv == NULL) {
			d->err = -ENOMEM;
			return MNL_CB_STOP;
		}
		d->v = nv;
		d->cap = nc;
	}
	u = &d->v[d->n++];
	u->family = g->nfgen_family;
	u->mark = nmark;
	u->tlen = (uint16_t)mnl_attr_get_payload_len(tb[CTA_TUPLE_ORIG]);
	memcpy(u->tuple, mnl_attr_get_payload(tb[CTA_TUPLE_ORIG]), u->tlen);
	return MNL_CB_OK;
}

static struct nlmsghdr *ct_msg(char *buf, uint16_t type, uint16_t flags,
			       uint8_t family, uint32_t seq)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *g;

	nlh->nlmsg_type = (uint16_t)((NFNL_SUBSYS_CTNETLINK << 8) | type);
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = family;
	g->version = NFNETLINK_V0;
	g->res_id = 0;
	return nlh;
}

/* Runs one request and its answers through cb; 0 or a negative errno. */
static int ct_talk(struct mnl_socket *nl, struct nlmsghdr *nlh, mnl_cb_t cb,
		   void *data)
{
	char buf[CT_BUF];
	unsigned int port = mnl_socket_get_portid(nl);
	uint32_t seq = nlh->nlmsg_seq;
	ssize_t r;
	int ret;

	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		r = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (r < 0)
			return -errno;
		ret = mnl_cb_run(buf, (size_t)r, seq, port, cb, data);
		if (ret < 0)
			return -errno;
		if (ret == MNL_CB_STOP)
			return 0;
	}
}

int nft_ct_requeue(nft_ct_pick_fn pick, void *arg, unsigned *updated)
{
	char buf[CT_BUF];
	struct ct_dump d = { .pick = pick, .arg = arg };
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	uint32_t seq = (uint32_t)time(NULL);
	unsigned done = 0;
	int ret;

	*updated = 0;
	nl = mnl_socket_open(NETLINK_NETFILTER);
	if (nl == NULL)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		goto out;
	}
	nlh = ct_msg(buf, IPCTNL_MSG_CT_GET, NLM_F_DUMP, AF_UNSPEC, seq);
	mnl_attr_put_u32(nlh, CTA_MARK, htonl(NFT_MARK_HANDBACK));
	mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(NFT_MARK_FLAGS));
	ret = ct_talk(nl, nlh, ct_dump_cb, &d);
	if (ret == 0)
		ret = d.err;
	for (size_t i = 0; ret == 0 && i < d.n; i++) {
		const struct ct_upd *u = &d.v[i];
		int r;

		nlh = ct_msg(buf, IPCTNL_MSG_CT_NEW, NLM_F_ACK, u->family,
			     ++seq);
		mnl_attr_put(nlh, CTA_TUPLE_ORIG | NLA_F_NESTED, u->tlen,
			     u->tuple);
		mnl_attr_put_u32(nlh, CTA_MARK, htonl(u->mark));
		r = ct_talk(nl, nlh, NULL, NULL);
		/* a flow that ended meanwhile is not an error */
		if (r == 0)
			done++;
		else if (r != -ENOENT)
			ret = r;
	}
	*updated = done;
out:
	free(d.v);
	mnl_socket_close(nl);
	return ret;
}

/* --- the apply step ------------------------------------------------------- */

struct recheck {
	const struct pol_policy *p;
	const struct pol_diff *d;
	uint32_t *ids; /* sorted atom ids of changed inspected entries */
	uint32_t *marks;
	size_t n;
};

static bool diff_has(const struct pol_diff *d, enum pol_diff_kind kind,
		     const char *name)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->v[i].kind == kind &&
		    d->v[i].change == POL_DIFF_CHANGED &&
		    strcmp(d->v[i].name, name) == 0)
			return true;
	return false;
}

static bool recheck_pick(uint32_t id, uint32_t *newmark, void *arg)
{
	const struct recheck *r = arg;
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->ids[mid] == id) {
			*newmark = r->marks[mid];
			return true;
		}
		if (r->ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static int cmp_pair(const void *a, const void *b)
{
	const uint32_t *x = a, *y = b;

	return x[0] < y[0] ? -1 : x[0] > y[0];
}

int nft_ct_recheck(const struct pol_policy *p, const struct pol_diff *d,
		   unsigned *updated)
{
	struct nft_atoms at = { 0 };
	struct recheck r = { .p = p, .d = d };
	uint32_t(*pairs)[2] = NULL;
	size_t n = 0;
	int ret;

	*updated = 0;
	if (p == NULL || d == NULL || d->n == 0)
		return 0;
	if ((ret = nft_atoms_build(p, &at)) < 0)
		return ret;
	pairs = calloc(at.n ? at.n : 1, sizeof(*pairs));
	r.ids = calloc(at.n ? at.n : 1, sizeof(*r.ids));
	r.marks = calloc(at.n ? at.n : 1, sizeof(*r.marks));
	if (pairs == NULL || r.ids == NULL || r.marks == NULL) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < at.n; i++) {
		const struct nft_atom *a = &at.v[i];
		const struct pol_conduit *c = a->conduit;

		if (a->id == 0 || !nft_service_inspected(c, a->svc) ||
		    a->svc->proto == POL_PROTO_ICMP ||
		    a->svc->proto == POL_PROTO_ICMPV6)
			continue;
		if (!diff_has(d, POL_DIFF_CONDUIT, c->name) &&
		    !diff_has(d, POL_DIFF_ZONE, c->from->name) &&
		    !diff_has(d, POL_DIFF_ZONE, c->to->name))
			continue;
		pairs[n][0] = a->id;
		pairs[n][1] = a->id | NFT_MARK_INSPECT |
			      (c->fail_open ? NFT_MARK_FAILOPEN : 0);
		n++;
	}
	if (n == 0)
		goto out;
	qsort(pairs, n, sizeof(*pairs), cmp_pair);
	for (size_t i = 0; i < n; i++) {
		r.ids[i] = pairs[i][0];
		r.marks[i] = pairs[i][1];
	}
	r.n = n;
	ret = nft_ct_requeue(recheck_pick, &r, updated);
out:
	free(pairs);
	free(r.ids);
	free(r.marks);
	nft_atoms_free(&at);
	return ret;
}
