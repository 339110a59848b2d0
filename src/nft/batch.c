/*
 * The nftables transaction: a batch buffer built message by message, sent
 * in one sendmsg (nfnetlink only treats a batch atomically when it arrives
 * in one skb), and the answers read back into a per-sequence table so a
 * kernel rejection names the policy line of the object. Also the socket,
 * table removal and the existence check.
 */
#include "nft/internal.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/flowtable.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "common/diag.h"
#include "common/log.h"

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

/* Truesize the kernel charges per queued ack skb; generous. */
#define NFT_ACK_TRUESIZE 1024u
/* How long to wait for answers that are not queued yet. They normally are
 * by the time sendmsg returns (nfnetlink runs in the sender's context). */
#define NFT_ANSWER_TIMEOUT_MS 5000

static int buf_reserve(struct nft_batch *b, size_t need)
{
	size_t ncap;
	char *nb;

	if (b->cap - b->len < need) {
		ncap = b->cap ? b->cap : 256 * 1024;
		while (ncap - b->len < need)
			ncap *= 2;
		nb = realloc(b->buf, ncap);
		if (nb == NULL)
			return -ENOMEM;
		b->buf = nb;
		b->cap = ncap;
	}
	/* mnl pads attributes itself; zero anyway so the batch bytes are
	 * deterministic for tests that compare them -- but only the window
	 * about to be written, never the whole doubled capacity: untouched
	 * pages of a large buffer stay unallocated, so the process holds
	 * about len bytes, not cap (up to 2 x len) for a big batch. */
	if (b->zeroed < b->len + need) {
		memset(b->buf + b->zeroed, 0, b->len + need - b->zeroed);
		b->zeroed = b->len + need;
	}
	return 0;
}

static uint32_t ref_add(struct nft_batch *b, const struct pol_loc *loc,
			const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
static struct nlmsghdr *msg_open(struct nft_batch *b, uint16_t type,
				 uint16_t flags, const struct pol_loc *loc,
				 const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));

/* Records a new message; returns its sequence number or 0 on ENOMEM. */
static uint32_t ref_add(struct nft_batch *b, const struct pol_loc *loc,
			const char *fmt, va_list ap)
{
	struct nft_msgref *r;
	char what[256];

	if (b->n_refs == b->cap_refs) {
		size_t ncap = b->cap_refs ? b->cap_refs * 2 : 64;
		struct nft_msgref *nv = realloc(b->refs, ncap * sizeof(*nv));

		if (nv == NULL)
			return 0;
		b->refs = nv;
		b->cap_refs = ncap;
	}
	vsnprintf(what, sizeof(what), fmt, ap);
	r = &b->refs[b->n_refs];
	r->what = strdup(what);
	if (r->what == NULL)
		return 0;
	if (loc) {
		r->loc = *loc;
	} else {
		r->loc.line = 0;
		r->loc.col = 0;
	}
	r->err = 1;
	b->n_refs++;
	return b->seq0 + (uint32_t)(b->n_refs - 1);
}

static uint32_t ref_addf(struct nft_batch *b, const struct pol_loc *loc,
			 const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static uint32_t ref_addf(struct nft_batch *b, const struct pol_loc *loc,
			 const char *fmt, ...)
{
	va_list ap;
	uint32_t seq;

	va_start(ap, fmt);
	seq = ref_add(b, loc, fmt, ap);
	va_end(ap);
	return seq;
}

static void ref_drop_last(struct nft_batch *b)
{
	b->n_refs--;
	free(b->refs[b->n_refs].what);
}

static void msg_done(struct nft_batch *b, struct nlmsghdr *nlh)
{
	/* Element messages are cut at NFT_ELEMS_PER_MSG so this holds; a
	 * violation would already have written past the reserve. */
	if (nlh->nlmsg_len > NFT_MSG_RESERVE)
		fatalx("nft: message of %u bytes exceeds the reserve",
		       nlh->nlmsg_len);
	b->len += MNL_ALIGN(nlh->nlmsg_len);
}

struct nft_batch *nft_batch_new(const char *file)
{
	struct nft_batch *b = calloc(1, sizeof(*b));
	struct nlmsghdr *nlh;
	uint32_t seq;

	if (b == NULL)
		return NULL;
	b->seq0 = 1;
	if (file && (b->file = strdup(file)) == NULL)
		goto fail;
	if (buf_reserve(b, NFT_MSG_RESERVE) < 0)
		goto fail;
	seq = ref_addf(b, NULL, "batch");
	if (seq == 0)
		goto fail;
	nlh = nftnl_batch_begin(b->buf + b->len, seq);
	msg_done(b, nlh);
	return b;
fail:
	nft_batch_free(b);
	return NULL;
}

void nft_batch_free(struct nft_batch *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->n_refs; i++)
		free(b->refs[i].what);
	free(b->refs);
	free(b->buf);
	free(b->file);
	free(b);
}

size_t nft_batch_len(const struct nft_batch *b)
{
	return b->len;
}

size_t nft_batch_msgs(const struct nft_batch *b)
{
	return b->n_refs;
}

const void *nft_batch_data(const struct nft_batch *b)
{
	return b->buf;
}

size_t nft_batch_acks(const struct nft_batch *b)
{
	/* Every message but BEGIN and END asks for an ack. */
	return b->n_refs - 1 - (b->end_off ? 1 : 0);
}

static struct nlmsghdr *msg_start(struct nft_batch *b, uint16_t type,
				  uint16_t flags, uint32_t seq)
{
	return nftnl_nlmsg_build_hdr(b->buf + b->len, type, NFT_CD_FAMILY,
				     flags | NLM_F_ACK, seq);
}

/* Common prologue of the adders: reserve, record, header. */
static struct nlmsghdr *msg_open(struct nft_batch *b, uint16_t type,
				 uint16_t flags, const struct pol_loc *loc,
				 const char *fmt, va_list ap)
{
	uint32_t seq;

	if (b->end_off)
		fatalx("nft: object added to a closed batch");
	if (buf_reserve(b, NFT_MSG_RESERVE) < 0)
		return NULL;
	seq = ref_add(b, loc, fmt, ap);
	if (seq == 0)
		return NULL;
	return msg_start(b, type, flags, seq);
}

int nft_batch_add_table(struct nft_batch *b, uint16_t type, uint16_t flags,
			const char *name, const struct pol_loc *loc)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;
	uint32_t seq;

	if (t == NULL)
		return -ENOMEM;
	if (b->end_off)
		fatalx("nft: object added to a closed batch");
	if (buf_reserve(b, NFT_MSG_RESERVE) < 0 ||
	    (seq = ref_addf(b, loc, "table inet %s", name)) == 0) {
		nftnl_table_free(t);
		return -ENOMEM;
	}
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, name);
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFT_CD_FAMILY);
	nlh = msg_start(b, type, flags, seq);
	nftnl_table_nlmsg_build_payload(nlh, t);
	msg_done(b, nlh);
	nftnl_table_free(t);
	return 0;
}

int nft_batch_add_chain(struct nft_batch *b, struct nftnl_chain *c,
			const struct pol_loc *loc, const char *fmt, ...)
{
	struct nlmsghdr *nlh;
	va_list ap;

	va_start(ap, fmt);
	nlh = msg_open(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE, loc, fmt, ap);
	va_end(ap);
	if (nlh == NULL)
		return -ENOMEM;
	nftnl_chain_nlmsg_build_payload(nlh, c);
	msg_done(b, nlh);
	return 0;
}

int nft_batch_add_set(struct nft_batch *b, struct nftnl_set *s,
		      const struct pol_loc *loc, const char *fmt, ...)
{
	struct nlmsghdr *nlh;
	va_list ap;

	va_start(ap, fmt);
	nlh = msg_open(b, NFT_MSG_NEWSET, NLM_F_CREATE, loc, fmt, ap);
	va_end(ap);
	if (nlh == NULL)
		return -ENOMEM;
	nftnl_set_nlmsg_build_payload(nlh, s);
	msg_done(b, nlh);
	return 0;
}

int nft_batch_add_elems(struct nft_batch *b, struct nftnl_set *s,
			const struct pol_loc *loc, const char *fmt, ...)
{
	struct nlmsghdr *nlh;
	va_list ap;

	va_start(ap, fmt);
	nlh = msg_open(b, NFT_MSG_NEWSETELEM, NLM_F_CREATE, loc, fmt, ap);
	va_end(ap);
	if (nlh == NULL)
		return -ENOMEM;
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	msg_done(b, nlh);
	return 0;
}

int nft_batch_add_rule(struct nft_batch *b, struct nftnl_rule *r,
		       const struct pol_loc *loc, const char *fmt, ...)
{
	struct nlmsghdr *nlh;
	va_list ap;

	va_start(ap, fmt);
	nlh = msg_open(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, loc,
		       fmt, ap);
	va_end(ap);
	if (nlh == NULL)
		return -ENOMEM;
	nftnl_rule_nlmsg_build_payload(nlh, r);
	msg_done(b, nlh);
	return 0;
}

int nft_batch_add_obj(struct nft_batch *b, struct nftnl_obj *o,
		      const struct pol_loc *loc, const char *fmt, ...)
{
	struct nlmsghdr *nlh;
	va_list ap;

	va_start(ap, fmt);
	nlh = msg_open(b, NFT_MSG_NEWOBJ, NLM_F_CREATE, loc, fmt, ap);
	va_end(ap);
	if (nlh == NULL)
		return -ENOMEM;
	nftnl_obj_nlmsg_build_payload(nlh, o);
	msg_done(b, nlh);
	return 0;
}

int nft_batch_add_flowtable(struct nft_batch *b, struct nftnl_flowtable *ft,
			    const struct pol_loc *loc, const char *fmt, ...)
{
	struct nlmsghdr *nlh;
	va_list ap;

	va_start(ap, fmt);
	nlh = msg_open(b, NFT_MSG_NEWFLOWTABLE, NLM_F_CREATE, loc, fmt, ap);
	va_end(ap);
	if (nlh == NULL)
		return -ENOMEM;
	nftnl_flowtable_nlmsg_build_payload(nlh, ft);
	msg_done(b, nlh);
	return 0;
}

int nft_batch_close(struct nft_batch *b)
{
	struct nlmsghdr *nlh;
	uint32_t seq;

	if (b->end_off)
		return 0;
	if (buf_reserve(b, NFT_MSG_RESERVE) < 0)
		return -ENOMEM;
	seq = ref_addf(b, NULL, "batch end");
	if (seq == 0)
		return -ENOMEM;
	b->end_off = b->len;
	nlh = nftnl_batch_end(b->buf + b->len, seq);
	msg_done(b, nlh);
	return 0;
}

void nft_batch_reopen(struct nft_batch *b)
{
	if (b->end_off == 0)
		return;
	memset(b->buf + b->end_off, 0, b->len - b->end_off);
	b->len = b->end_off;
	b->end_off = 0;
	ref_drop_last(b);
}

int nft_batch_inject_bad_chain(struct nft_batch *b, const struct pol_loc *loc)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	bool was_closed = b->end_off != 0;
	char name[NFT_NAME_MAXLEN + 16];
	int ret;

	if (c == NULL)
		return -ENOMEM;
	nft_batch_reopen(b);
	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, NFT_TABLE_NAME);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFT_CD_FAMILY);
	ret = nft_batch_add_chain(b, c, loc, "chain %.16s...", name);
	nftnl_chain_free(c);
	if (ret == 0 && was_closed)
		ret = nft_batch_close(b);
	return ret;
}

/* --- socket --------------------------------------------------------- */

struct nft_ctx *nft_open(void)
{
	struct nft_ctx *c = calloc(1, sizeof(*c));
	int one = 1;
	int saved;

	if (c == NULL)
		return NULL;
	c->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (c->nl == NULL)
		goto fail;
	if (mnl_socket_bind(c->nl, 0, MNL_SOCKET_AUTOPID) < 0)
		goto fail;
	c->portid = mnl_socket_get_portid(c->nl);
	/* Acks without the echoed request: thousands of them must fit in
	 * the receive buffer. Extended acks are optional. */
	(void)mnl_socket_setsockopt(c->nl, NETLINK_CAP_ACK, &one, sizeof(one));
	(void)mnl_socket_setsockopt(c->nl, NETLINK_EXT_ACK, &one, sizeof(one));
	return c;
fail:
	saved = errno;
	nft_close(c);
	errno = saved;
	return NULL;
}

void nft_close(struct nft_ctx *c)
{
	if (c == NULL)
		return;
	if (c->nl)
		mnl_socket_close(c->nl);
	free(c);
}

static void sock_size(int fd, int force, int plain, size_t want)
{
	int cur = 0;
	int v;
	socklen_t sl = sizeof(cur);

	if (want > (size_t)(1 << 30))
		want = (size_t)1 << 30;
	if (getsockopt(fd, SOL_SOCKET, plain, &cur, &sl) == 0 &&
	    (size_t)cur >= want)
		return;
	v = (int)want;
	if (setsockopt(fd, SOL_SOCKET, force, &v, sizeof(v)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, plain, &v, sizeof(v));
}

/* Reads every queued answer; counts acks/errors into b->refs. */
static int read_answers(struct nft_ctx *c, struct nft_batch *b, size_t expected)
{
	int fd = mnl_socket_get_fd(c->nl);
	static const size_t rlen = 64 * 1024;
	char *rbuf = malloc(rlen);
	size_t got = 0;
	int first_err = 0;
	int ret = 0;

	if (rbuf == NULL)
		return -ENOMEM;
	for (;;) {
		ssize_t n = recv(fd, rbuf, rlen, MSG_DONTWAIT);
		const struct nlmsghdr *nlh;
		int left;

		if (n < 0) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			int pr;

			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				/* ENOBUFS: answers were lost; the outcome
				 * is unknown to us. */
				ret = -errno;
				break;
			}
			if (got >= expected || first_err)
				break;
			pr = poll(&pfd, 1, NFT_ANSWER_TIMEOUT_MS);
			if (pr < 0 && errno == EINTR)
				continue;
			if (pr <= 0) {
				ret = -ETIMEDOUT;
				break;
			}
			continue;
		}
		left = (int)n;
		for (nlh = (const struct nlmsghdr *)rbuf;
		     mnl_nlmsg_ok(nlh, left);
		     nlh = mnl_nlmsg_next(nlh, &left)) {
			const struct nlmsgerr *e;
			uint32_t idx;

			if (nlh->nlmsg_type != NLMSG_ERROR)
				continue;
			if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
				continue;
			e = mnl_nlmsg_get_payload(nlh);
			got++;
			idx = nlh->nlmsg_seq - b->seq0;
			if (nlh->nlmsg_seq >= b->seq0 && idx < b->n_refs)
				b->refs[idx].err = e->error;
			if (e->error < 0 && first_err == 0)
				first_err = e->error;
		}
	}
	free(rbuf);
	if (first_err)
		return first_err;
	return ret;
}

int nft_batch_send(struct nft_ctx *c, struct nft_batch *b)
{
	int fd = mnl_socket_get_fd(c->nl);
	size_t acks = nft_batch_acks(b);
	ssize_t n;

	for (size_t i = 0; i < b->n_refs; i++)
		b->refs[i].err = 1;
	sock_size(fd, SO_SNDBUFFORCE, SO_SNDBUF, b->len + 4096);
	sock_size(fd, SO_RCVBUFFORCE, SO_RCVBUF,
		  (acks + 16) * NFT_ACK_TRUESIZE + 65536);
	n = mnl_socket_sendto(c->nl, b->buf, b->len);
	if (n < 0)
		return -errno;
	if ((size_t)n != b->len)
		return -EMSGSIZE;
	return read_answers(c, b, acks);
}

int nft_batch_commit(struct nft_ctx *c, struct nft_batch *b,
		     struct diag_list *d)
{
	int ret;

	ret = nft_batch_close(b);
	if (ret < 0)
		return ret;
	ret = nft_batch_send(c, b);
	if (ret == 0)
		return 0;
	if (d == NULL)
		return ret;
	{
		bool named = false;

		for (size_t i = 0; i < b->n_refs; i++) {
			const struct nft_msgref *r = &b->refs[i];

			if (r->err >= 0)
				continue;
			diag_add(d, b->file, r->loc.line, r->loc.col,
				 "kernel rejected %s: %s", r->what,
				 strerror(-r->err));
			named = true;
		}
		if (!named)
			diag_add(d, b->file, 0, 0,
				 "nftables transaction failed: %s",
				 strerror(-ret));
	}
	return ret;
}

int nft_apply(struct nft_ctx *c, const struct pol_policy *p,
	      const struct nft_opts *o, struct diag_list *d)
{
	struct nft_batch *b = NULL;
	int ret;

	ret = nft_compile(p, o, &b, d);
	if (ret < 0)
		return ret;
	ret = nft_batch_commit(c, b, d);
	nft_batch_free(b);
	return ret;
}

int nft_flush(struct nft_ctx *c)
{
	struct nft_batch *b = nft_batch_new(NULL);
	int ret;

	if (b == NULL)
		return -ENOMEM;
	/* Create-if-absent then delete: removes the table whether or not it
	 * exists, in one transaction, without an ENOENT to tell apart. */
	ret = nft_batch_add_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE,
				  NFT_TABLE_NAME, NULL);
	if (ret == 0)
		ret = nft_batch_add_table(b, NFT_MSG_DELTABLE, 0,
					  NFT_TABLE_NAME, NULL);
	if (ret == 0)
		ret = nft_batch_commit(c, b, NULL);
	nft_batch_free(b);
	return ret;
}

int nft_table_exists(struct nft_ctx *c)
{
	char buf[8192];
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;
	uint32_t seq = 0x7ab1e000;
	int ret = -EIO;

	if (t == NULL)
		return -ENOMEM;
	memset(buf, 0, sizeof(buf));
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, NFT_CD_FAMILY,
				    NLM_F_ACK, seq);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, NFT_TABLE_NAME);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	if (mnl_socket_sendto(c->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(c->nl, buf, sizeof(buf));
		const struct nlmsghdr *r;
		int left;
		bool done = false;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		left = (int)n;
		for (r = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(r, left);
		     r = mnl_nlmsg_next(r, &left)) {
			if (r->nlmsg_seq != seq)
				continue;
			if (r->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e =
					mnl_nlmsg_get_payload(r);

				if (e->error == 0) {
					done = true; /* ack after the table */
				} else {
					ret = e->error == -ENOENT ? 0 :
								    e->error;
					done = true;
				}
			} else if ((r->nlmsg_type & 0xff) == NFT_MSG_NEWTABLE) {
				ret = 1;
			}
		}
		if (done)
			break;
	}
	return ret;
}
