/*
 * Diagnostic records with a source location. Parsers, validators and the
 * ruleset compiler collect them instead of stopping at the first error,
 * so one run reports everything (like nftables' erec.c).
 */
#ifndef CONDUIT_COMMON_DIAG_H
#define CONDUIT_COMMON_DIAG_H

#include <stddef.h>
#include <stdio.h>

struct diag {
	char *file; /* owned copy; may be NULL for "no file" */
	int line;   /* 1-based; 0 when unknown */
	int col;    /* 1-based; 0 when unknown */
	char *msg;  /* owned */
};

struct diag_list {
	struct diag *v;
	size_t n;
	size_t cap;
};

void diag_list_init(struct diag_list *dl);
void diag_list_free(struct diag_list *dl); /* frees records, keeps dl usable */
/* Appends one record; out of memory is fatal (start-up/config path only). */
void diag_add(struct diag_list *dl, const char *file, int line, int col,
	      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* "file:line:col: msg" per record, one per line; without line/col parts when 0. */
void diag_print(const struct diag_list *dl, FILE *out);
/* Formats record i into buf like diag_print; returns buf. */
const char *diag_format(const struct diag *d, char *buf, size_t len);

#endif
