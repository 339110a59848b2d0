/*
 * Private to src/policy/: the arena every policy load allocates from, the
 * YAML syntax tree that parse.c hands to validate.c, and the load context
 * that collects diagnostics. Nothing outside src/policy/ includes this.
 */
#ifndef CONDUIT_POLICY_INTERNAL_H
#define CONDUIT_POLICY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/model.h"

struct diag_list;
struct classify;

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
	/* nDPI names for `app`: made on the first `app` key of a load,
	 * freed at the end of pol_validate */
	struct classify *classify;
	bool classify_failed; /* reported once */
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

/* --- validation helpers shared by validate.c and validate_dpi.c ------- */

/* "'text'", "a mapping", "an empty value", ... into buf, for messages. */
const char *pol_describe(const struct pn *n, char *buf, size_t len);
/* Scalar text, or NULL after recording "expected <what>, found ...". */
const char *pol_want_scalar(struct pol_ctx *c, const struct pn *n,
			    const char *what);
bool pol_want_type(struct pol_ctx *c, const struct pn *n, enum pn_type t,
		   const char *what);
/* Decimal digits only, value 0..max. */
bool pol_parse_uint(const char *s, uint64_t max, uint64_t *v);
/* Reads a mapping against a NULL-terminated table of keys: vals[i] and
 * keys[i] get the value and key node of allowed[i], NULL when absent.
 * Unknown, duplicate and non-scalar keys are recorded. */
void pol_map_fields(struct pol_ctx *c, const struct pn *map,
		    const char *const *allowed, const char *in,
		    const struct pn **vals, const struct pn **keys);
void pol_missing(struct pol_ctx *c, const struct pn *map, const char *key,
		 const char *in);
/* "N/unit" into r (count, unit; burst untouched); false after an error. */
bool pol_parse_rate(struct pol_ctx *c, const struct pn *n, struct pol_rate *r);

/* --- protocol rules (validate_dpi.c) ------------------------------------ */

/* The protocol a key of an allow entry names ("modbus", ...), or
 * POL_APP_NONE. */
enum pol_app pol_dpi_app_of_key(const char *key);
/* Default destination port of a protocol block (502, 20000, ...). */
uint16_t pol_dpi_default_port(enum pol_app app);
/* Whether the protocol runs over UDP too (dnp3, enip). */
bool pol_dpi_udp_ok(enum pol_app app);
/* A protocol block (mapping or preset name) into a new pol_dpi from the
 * policy arena; NULL after recording its errors. */
struct pol_dpi *pol_dpi_parse(struct pol_ctx *c, enum pol_app app,
			      const struct pn *key, const struct pn *val);
/* `app` of an allow entry into s->apps. */
void pol_dpi_parse_apps(struct pol_ctx *c, const struct pn *n,
			struct pol_service *s);
/* `deny-app-categories` of a zone into z->deny_categories. */
void pol_dpi_parse_categories(struct pol_ctx *c, const struct pn *n,
			      struct pol_zone *z);
/* "allow", "deny", "reject" into *a; allow_ok false refuses allow. */
bool pol_parse_action(struct pol_ctx *c, const struct pn *n, bool allow_ok,
		      enum pol_action *a);
/* Name of a block's preset ("read-only"); NULL for -1 or unknown. */
const char *pol_dpi_preset_name(enum pol_app app, int preset);
/* Releases what validate_dpi.c kept in c (the classify instance). */
void pol_dpi_ctx_done(struct pol_ctx *c);

/* Tree -> model in p (allocated by the caller from c->arena); records every
 * problem found. 0, -EINVAL or -ENOMEM. */
int pol_validate(struct pol_ctx *c, const struct pn *root,
		 struct pol_policy *p);

#endif
