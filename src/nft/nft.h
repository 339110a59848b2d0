/*
 * The kernel side of conduitd: feature probe, compilation of a policy into
 * the one table `inet conduitd` (libnftnl), its atomic commit as a single
 * netlink batch (libmnl), counters read-back and removal.
 */
#ifndef CONDUIT_NFT_NFT_H
#define CONDUIT_NFT_NFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/model.h"

struct diag_list;

#define NFT_TABLE_NAME "conduitd"

/* What the running kernel supports; filled once at start-up by nft_probe
 * and kept for the inline-inspection path. */
struct nft_features {
	bool native_queue; /* nft "queue" expression (CONFIG_NFT_QUEUE) */
	bool xt_nfqueue;   /* xt NFQUEUE target through nft_compat */
	bool flowtable;	   /* flowtable offload objects */
	bool ct_mark;	   /* ct mark get/set */
	bool objref_map;   /* named counters selected through a map */
};

int nft_probe(struct nft_features *f); /* 0 or -errno (socket failure) */
void nft_features_log(const struct nft_features *f);
/* "native-queue=yes xt-nfqueue=yes ..." into buf. */
const char *nft_features_str(const struct nft_features *f, char *buf,
			     size_t len);

/* ct mark bit of flows admitted by an inspected entry (protocol rules,
 * app, or a zone with deny-app-categories): their packets go to NFQUEUE */
#define NFT_MARK_INSPECT (1u << 30)
/* ct mark bit of inspected flows of a `fail: open` conduit: their queue
 * rules bypass NFQUEUE when no worker listens */
#define NFT_MARK_FAILOPEN (1u << 31)
/* ct mark of an inspected flow handed back to the kernel once decided for
 * good (verdict_packet_settled): the atom id with bit 31 alone (never set
 * without bit 30 otherwise). Its later packets match the established fast
 * path (@live holds id | HANDBACK for every inspected atom) and skip the
 * queue. The worker asks for it with the verdict NF_REPEAT and the packet
 * mark bit NFT_PKT_MARK_HANDBACK (ctnetlink's NFQA_CT needs
 * CONFIG_NETFILTER_NETLINK_GLUE_CT, which kernels often lack); the first
 * rule of the forward chain rewrites the ct mark, clears that packet mark
 * bit and accepts. */
#define NFT_MARK_HANDBACK (1u << 31)
#define NFT_PKT_MARK_HANDBACK (1u << 30)
#define NFT_MARK_FLAGS (NFT_MARK_INSPECT | NFT_MARK_FAILOPEN)

/*
 * After an apply: every conntrack entry handed back (mark & FLAGS ==
 * HANDBACK) is offered to pick with its atom id; when pick returns true
 * the entry's mark becomes *newmark (id | INSPECT [| FAILOPEN]: its next
 * packet goes to a worker, which checks it against the new rules). Needs
 * CAP_NET_ADMIN. *updated gets the entries changed; 0 or a negative errno
 * (flows that ended meanwhile are not errors).
 */
typedef bool (*nft_ct_pick_fn)(uint32_t id, uint32_t *newmark, void *arg);
int nft_ct_requeue(nft_ct_pick_fn pick, void *arg, unsigned *updated);
/*
 * The apply step: handed-back flows of p's inspected entries whose conduit
 * (or one of its zones) the diff d shows as changed go back to the
 * workers (nft_ct_requeue). Flows of removed entries need nothing: their
 * ids left @live, the kernel refuses them. 0 or a negative errno.
 */
struct pol_diff;
int nft_ct_recheck(const struct pol_policy *p, const struct pol_diff *d,
		   unsigned *updated);

struct nft_opts {
	uint16_t mgmt_port; /* TCP port opened on input from the management zone; 0 none */
	uint16_t nflog_group; /* NFLOG group for denied packets */
	uint32_t log_rate; /* max NFLOG'd packets per second per deny point */
	bool island;	   /* build the island ruleset instead of the policy */
	/*
	 * Inline inspection: when set, inspected entries send their flows to
	 * NFQUEUE queues queue_first .. queue_first + queue_n - 1 (no bypass:
	 * no consumer means drop), encoded as `feat` allows (native queue,
	 * else xt NFQUEUE). When not set such policies are refused.
	 */
	bool inspect;
	uint16_t queue_first;
	uint16_t queue_n;
	struct nft_features feat;
};

/* Whether the flows an allow entry admits need the DPI path. */
bool nft_service_inspected(const struct pol_conduit *c,
			   const struct pol_service *s);

struct nft_batch; /* opaque: serialized netlink batch + seq->loc map */
struct nft_ctx;	  /* opaque: an open NETLINK_NETFILTER socket */

struct nft_ctx *nft_open(void); /* NULL and errno on failure */
void nft_close(struct nft_ctx *c);

/* Compile p with o into a batch that atomically replaces (or creates) the
 * table. Errors (for example limits exceeded) are appended to d with the
 * policy location that produced the object. Returns 0 or negative errno. */
int nft_compile(const struct pol_policy *p, const struct nft_opts *o,
		struct nft_batch **out, struct diag_list *d);
void nft_batch_free(struct nft_batch *b);
size_t nft_batch_len(const struct nft_batch *b);  /* bytes */
size_t nft_batch_msgs(const struct nft_batch *b); /* messages */
const void *nft_batch_data(const struct nft_batch *b);

/* Send the batch; all-or-nothing. On a kernel error the old table stays and
 * d gets "file:line:col: kernel rejected <object>: <strerror>". */
int nft_batch_commit(struct nft_ctx *c, struct nft_batch *b,
		     struct diag_list *d);
/* compile + commit */
int nft_apply(struct nft_ctx *c, const struct pol_policy *p,
	      const struct nft_opts *o, struct diag_list *d);

int nft_flush(struct nft_ctx *c); /* delete the table; 0 also if absent */
int nft_table_exists(struct nft_ctx *c); /* 1, 0, or negative errno */

struct nft_conduit_counters {
	uint64_t accept_packets;
	uint64_t accept_bytes;
	uint64_t deny_packets;
	uint64_t deny_bytes;
};

/* out has p->n_conduits entries, indexed by conduit id - 1. */
int nft_read_counters(struct nft_ctx *c, const struct pol_policy *p,
		      struct nft_conduit_counters *out);

#endif
