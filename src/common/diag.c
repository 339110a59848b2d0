/* Diagnostic record list: append, print, free. */
#include "common/diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

void diag_list_init(struct diag_list *dl)
{
	dl->v = NULL;
	dl->n = 0;
	dl->cap = 0;
}

void diag_list_free(struct diag_list *dl)
{
	for (size_t i = 0; i < dl->n; i++) {
		free(dl->v[i].file);
		free(dl->v[i].msg);
	}
	free(dl->v);
	diag_list_init(dl);
}

void diag_add(struct diag_list *dl, const char *file, int line, int col,
	      const char *fmt, ...)
{
	struct diag *d;
	va_list ap;
	char buf[512];

	if (dl->n == dl->cap) {
		size_t ncap = dl->cap ? dl->cap * 2 : 8;
		struct diag *nv = realloc(dl->v, ncap * sizeof(*nv));

		if (nv == NULL)
			fatal("diag_add");
		dl->v = nv;
		dl->cap = ncap;
	}
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	d = &dl->v[dl->n++];
	d->file = file ? strdup(file) : NULL;
	d->line = line;
	d->col = col;
	d->msg = strdup(buf);
	if ((file && d->file == NULL) || d->msg == NULL)
		fatal("diag_add");
}

const char *diag_format(const struct diag *d, char *buf, size_t len)
{
	const char *f = d->file ? d->file : "-";

	if (d->line > 0 && d->col > 0)
		snprintf(buf, len, "%s:%d:%d: %s", f, d->line, d->col, d->msg);
	else if (d->line > 0)
		snprintf(buf, len, "%s:%d: %s", f, d->line, d->msg);
	else
		snprintf(buf, len, "%s: %s", f, d->msg);
	return buf;
}

void diag_print(const struct diag_list *dl, FILE *out)
{
	char buf[1024];

	for (size_t i = 0; i < dl->n; i++)
		fprintf(out, "%s\n", diag_format(&dl->v[i], buf, sizeof(buf)));
}
