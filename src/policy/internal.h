/*
 * Private to src/policy/: the arena every policy load allocates from, the
 * YAML syntax tree that parse.c hands to validate.c, and the load context
 * that collects diagnostics. Nothing outside src/policy/ includes this.
 */
#ifndef CONDUIT_POLICY_INTERNAL_H
#define CONDUIT_POLICY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "policy/model.h"

struct diag_list;

/* Nesting deeper than this is refused (the parser keeps a fixed stack). */
#define POL_DEPTH_MAX 32
/* After this many errors one more record says so and the rest are dropped. */
#define POL_ERRORS_MAX 100

/* --- arena (model.c) ---------------------------------------------------- */
struct pol_arena;

struct pol_arena *pol_arena_new(void);
void pol_arena_free(struct pol_arena *a);
/* Zeroed, aligned for any type; NULL when out of memory. */
void *pol_arena_alloc(struct pol_arena *a, size_t size);
void *pol_arena_calloc(struct pol_arena *a, size_t n, size_t size);
char *pol_arena_strndup(struct pol_arena *a, const char *s, size_t n);

/* --- syntax tree (parse.c) --------------------------------------------- */
enum pn_type {
	PN_SCALAR,
	PN_SEQ,
	PN_MAP,
};

/*
 * One YAML node. Children are a singly linked list; in a mapping they
 * alternate key, value, key, value ... and n counts pairs, in a sequence
 * n counts items. Scalars keep their length because a double-quoted
 * "\0" puts a NUL inside.
 */
struct pn {
	enum pn_type type;
	struct pol_loc loc;
	const char *str; /* scalar text, NUL-terminated */
	size_t len;
	bool plain; /* plain (unquoted) scalar style */
	struct pn *child;
	struct pn *last;
	struct pn *next;
	size_t n;
};

/* A plain empty scalar, "~" or "null". */
bool pn_is_null(const struct pn *n);

/* --- load context ------------------------------------------------------- */
struct pol_ctx {
	const char *file;
	struct diag_list *diags;
	size_t diag_start; /* first record of this load */
	int nerr;
	bool nomem;
	struct pol_arena *tmp;	 /* syntax tree, freed after validation */
	struct pol_arena *arena; /* the policy's own */
};

void pol_err(struct pol_ctx *c, struct pol_loc loc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Allocation helpers that note out-of-memory in the context. */
void *pol_ctx_alloc(struct pol_ctx *c, struct pol_arena *a, size_t n,
		    size_t size);
char *pol_ctx_strdup(struct pol_ctx *c, struct pol_arena *a, const char *s,
		     size_t n);

/* YAML text -> tree. 0 with *root (NULL for an empty stream), -EINVAL after
 * a syntax or encoding error (recorded), -ENOMEM. */
int pol_parse_yaml(struct pol_ctx *c, const char *buf, size_t len,
		   struct pn **root);

/* Tree -> model in p (allocated by the caller from c->arena); records every
 * problem found. 0, -EINVAL or -ENOMEM. */
int pol_validate(struct pol_ctx *c, const struct pn *root,
		 struct pol_policy *p);

#endif
