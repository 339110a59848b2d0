/*
 * Private to src/nft: the serialized batch (a growing buffer of netlink
 * messages plus, per sequence number, the policy location and a short
 * description of the object it carries), the netlink socket context, and
 * the small expression builders compile.c and probe.c share.
 *
 * Messages are built straight into the batch buffer with libnftnl; every
 * object message carries NLM_F_ACK so the kernel answers each one and an
 * error can be mapped back to the policy line that produced the object.
 */
#ifndef CONDUIT_NFT_INTERNAL_H
#define CONDUIT_NFT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nft/nft.h"
#include "policy/model.h"

struct nlmsghdr;
struct nftnl_table;
struct nftnl_chain;
struct nftnl_set;
struct nftnl_rule;
struct nftnl_obj;
struct nftnl_flowtable;

/* The family of everything conduitd creates. */
#define NFT_CD_FAMILY 1 /* NFPROTO_INET */

/* Room reserved in the buffer for one message; element messages are cut
 * well below this (see NFT_ELEMS_PER_MSG). */
#define NFT_MSG_RESERVE (64u * 1024)
#define NFT_ELEMS_PER_MSG 128

/* One message of the batch. */
struct nft_msgref {
	struct pol_loc loc; /* 0:0 when no policy line produced it */
	char *what;	    /* "chain z_dmz", owned */
	int err;	    /* kernel answer: 0 ack, -errno, 1 not answered */
};

struct nft_batch {
	char *buf;
	size_t len;
	size_t cap;
	size_t zeroed;		 /* buf[0..zeroed) has been zeroed */
	uint32_t seq0;		 /* sequence number of refs[0] (the BEGIN) */
	struct nft_msgref *refs; /* refs[seq - seq0] */
	size_t n_refs;
	size_t cap_refs;
	size_t end_off; /* offset of the END message; 0 while open */
	char *file;	/* policy file named in diagnostics, owned */
};

struct nft_ctx {
	struct mnl_socket *nl;
	uint32_t portid;
};

/* batch.c: building */
struct nft_batch *nft_batch_new(const char *file); /* BEGIN included */
/* Each add serialises the object into the batch (the object stays the
 * caller's) and records loc and what (printf format) for its seq. */
int nft_batch_add_table(struct nft_batch *b, uint16_t type, uint16_t flags,
			const char *name, const struct pol_loc *loc);
int nft_batch_add_chain(struct nft_batch *b, struct nftnl_chain *c,
			const struct pol_loc *loc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int nft_batch_add_set(struct nft_batch *b, struct nftnl_set *s,
		      const struct pol_loc *loc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int nft_batch_add_elems(struct nft_batch *b, struct nftnl_set *s,
			const struct pol_loc *loc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int nft_batch_add_rule(struct nft_batch *b, struct nftnl_rule *r,
		       const struct pol_loc *loc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int nft_batch_add_obj(struct nft_batch *b, struct nftnl_obj *o,
		      const struct pol_loc *loc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int nft_batch_add_flowtable(struct nft_batch *b, struct nftnl_flowtable *ft,
			    const struct pol_loc *loc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Appends END; nft_batch_reopen removes it again (test hook support). */
int nft_batch_close(struct nft_batch *b);
void nft_batch_reopen(struct nft_batch *b);
/* Number of messages the kernel is asked to acknowledge. */
size_t nft_batch_acks(const struct nft_batch *b);

/* batch.c: talking. Sends b in one sendmsg and reads every answer into
 * b->refs[].err. Returns 0 when every message was acknowledged, the first
 * kernel error (negative errno) otherwise, or a socket error. */
int nft_batch_send(struct nft_ctx *c, struct nft_batch *b);

/* compile.c: expression builders (append to r; 0 or -ENOMEM). */
int nft_rule_add_queue(struct nftnl_rule *r, const struct nft_features *f,
		       uint16_t qnum, uint16_t qtotal);
/* The two encodings, selectable directly for tests and the probe. */
int nft_rule_add_queue_native(struct nftnl_rule *r, uint16_t qnum,
			      uint16_t qtotal);
int nft_rule_add_queue_xt(struct nftnl_rule *r, uint16_t qnum, uint16_t qtotal);
/* The same with the bypass flag (no consumer: accept) when `bypass`; only
 * for conduits that chose `fail: open`. */
int nft_rule_add_queue_ex(struct nftnl_rule *r, const struct nft_features *f,
			  uint16_t qnum, uint16_t qtotal, bool bypass);

/* compile.c: atoms (exposed for tests). */
#define NFT_ATOM_ID_BITS 30
#define NFT_ATOM_ID_MASK ((1u << NFT_ATOM_ID_BITS) - 1)

struct nft_atom {
	char *text;  /* canonical text, owned */
	uint32_t id; /* 1..2^30-1 */
	const struct pol_conduit *conduit;
	const struct pol_service *svc;
	size_t svc_index; /* index in conduit->allow */
	int port_index;	  /* index in svc->ports; -1 any */
};

struct nft_atoms {
	struct nft_atom *v; /* sorted by text */
	size_t n;
};

/* Expand every allow entry of p into atoms and give them ids. */
int nft_atoms_build(const struct pol_policy *p, struct nft_atoms *out);
void nft_atoms_free(struct nft_atoms *a);
/* id of the atom with this canonical text, 0 when absent. */
uint32_t nft_atoms_find(const struct nft_atoms *a, const char *text);
/* The 30-bit hash an atom id starts probing from (never 0). */
uint32_t nft_atom_hash(const char *text);

/* probe.c: one check-only batch for one feature; 0 when the kernel
 * accepted it, else its -errno. */
enum nft_probe_kind {
	NFT_PROBE_NATIVE_QUEUE,
	NFT_PROBE_XT_NFQUEUE,
	NFT_PROBE_FLOWTABLE,
	NFT_PROBE_CT_MARK,
	NFT_PROBE_OBJREF_MAP,
};
int nft_probe_one(struct nft_ctx *c, enum nft_probe_kind k);
/* Sends b (no END: the kernel validates every message, then aborts) and
 * returns the answer to message index idx. */
int nft_batch_check(struct nft_ctx *c, struct nft_batch *b, size_t idx);

/* Test hook: appends (before END) a chain whose name exceeds the kernel's
 * limit, attributed to loc, so a kernel rejection can be provoked. */
int nft_batch_inject_bad_chain(struct nft_batch *b, const struct pol_loc *loc);

#endif
