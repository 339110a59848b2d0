/*
 * Policy loading: the pipeline (size limit -> encoding check -> YAML ->
 * syntax tree -> validate into the model -> hash) lives in
 * policy_load_buffer, and the YAML-to-tree step lives here too.
 *
 * libyaml's event API is used rather than its document API so that an
 * alias can never build a cycle or an exponential tree, nesting depth stays
 * bounded, and every node keeps the 1-based line:col of its first
 * character. A parser does no I/O: policy_load_file only reads the bytes.
 */
#include "policy/model.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <yaml.h>

#include "common/diag.h"
#include "policy/internal.h"

/* --- context ------------------------------------------------------------- */

void pol_err(struct pol_ctx *c, struct pol_loc loc, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (c->nerr++ >= POL_ERRORS_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	diag_add(c->diags, c->file, loc.line, loc.col, "%s", buf);
}

void *pol_ctx_alloc(struct pol_ctx *c, struct pol_arena *a, size_t n,
		    size_t size)
{
	void *p = pol_arena_calloc(a, n, size);

	if (p == NULL)
		c->nomem = true;
	return p;
}

char *pol_ctx_strdup(struct pol_ctx *c, struct pol_arena *a, const char *s,
		     size_t n)
{
	char *p = pol_arena_strndup(a, s, n);

	if (p == NULL)
		c->nomem = true;
	return p;
}

bool pn_is_null(const struct pn *n)
{
	if (n->type != PN_SCALAR || !n->plain)
		return false;
	return n->len == 0 || strcmp(n->str, "~") == 0 ||
	       strcmp(n->str, "null") == 0 || strcmp(n->str, "Null") == 0 ||
	       strcmp(n->str, "NULL") == 0;
}

/* --- encoding ------------------------------------------------------------ */

/*
 * YAML allows only printable characters (YAML 1.1 section 5.1); libyaml
 * reports a violation with a byte offset only, so check first and say
 * where, counting columns in characters as libyaml's marks do.
 */
static int check_text(struct pol_ctx *c, const unsigned char *s, size_t len)
{
	struct pol_loc loc = { 1, 1 };
	size_t i = 0;

	while (i < len) {
		unsigned int b = s[i];
		uint32_t cp;
		size_t n;

		if (b < 0x80) {
			n = 1;
			cp = b;
		} else if ((b & 0xe0) == 0xc0) {
			n = 2;
			cp = b & 0x1f;
		} else if ((b & 0xf0) == 0xe0) {
			n = 3;
			cp = b & 0x0f;
		} else if ((b & 0xf8) == 0xf0) {
			n = 4;
			cp = b & 0x07;
		} else {
			goto bad;
		}
		if (n > len - i)
			goto bad;
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				goto bad;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
		    (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			goto bad;
		if (!(cp == 0x09 || cp == 0x0a || cp == 0x0d ||
		      (cp >= 0x20 && cp <= 0x7e) || cp == 0x85 ||
		      (cp >= 0xa0 && cp <= 0xd7ff) ||
		      (cp >= 0xe000 && cp <= 0xfffd) || cp >= 0x10000)) {
			pol_err(c, loc,
				"control character U+%04X is not allowed "
				"(expected printable UTF-8 text)",
				(unsigned int)cp);
			return -EINVAL;
		}
		if (cp == '\n' ||
		    (cp == '\r' && (i + 1 == len || s[i + 1] != '\n'))) {
			loc.line++;
			loc.col = 1;
		} else if (cp != '\r' && !(i == 0 && cp == 0xfeff)) {
			loc.col++;
		}
		i += n;
	}
	return 0;
bad:
	pol_err(c, loc,
		"invalid UTF-8 byte 0x%02X (expected the policy as UTF-8 text)",
		s[i]);
	return -EINVAL;
}

/* --- YAML events -> tree ------------------------------------------------- */

static struct pol_loc mark_loc(yaml_mark_t m)
{
	struct pol_loc l = { (int)m.line + 1, (int)m.column + 1 };

	return l;
}

/* Whether the indentation of line (1-based) contains a tab. */
static bool tab_indent(const char *buf, size_t len, int line)
{
	size_t i = 0;

	for (int l = 1; l < line && i < len; i++)
		if (buf[i] == '\n')
			l++;
	for (; i < len && (buf[i] == ' ' || buf[i] == '\t'); i++)
		if (buf[i] == '\t')
			return true;
	return false;
}

static void syntax_error(struct pol_ctx *c, const yaml_parser_t *yp,
			 const char *buf, size_t len)
{
	struct pol_loc loc = mark_loc(yp->problem_mark);
	const char *problem = yp->problem ? yp->problem : "unknown error";
	const char *hint = "";

	if (yp->error == YAML_SCANNER_ERROR && tab_indent(buf, len, loc.line))
		hint = "; tabs are not allowed for indentation";

	if (yp->error == YAML_READER_ERROR) {
		/* Only an offset; check_text() normally catches these. */
		struct pol_loc l0 = { 0, 0 };

		pol_err(c, l0, "invalid input at byte %zu: %s",
			yp->problem_offset, problem);
	} else if (yp->context != NULL) {
		struct pol_loc cl = mark_loc(yp->context_mark);

		pol_err(c, loc, "YAML syntax error: %s (%s at %d:%d%s)",
			problem, yp->context, cl.line, cl.col, hint);
	} else {
		pol_err(c, loc, "YAML syntax error: %s%s", problem, hint);
	}
}

struct frame {
	struct pn *node;
	bool want_value; /* mapping: next child is a value */
};

static struct pn *new_node(struct pol_ctx *c, enum pn_type t, yaml_mark_t m)
{
	struct pn *n = pol_ctx_alloc(c, c->tmp, 1, sizeof(*n));

	if (n != NULL) {
		n->type = t;
		n->loc = mark_loc(m);
	}
	return n;
}

static void attach(struct frame *st, int depth, struct pn *n, struct pn **root)
{
	struct pn *parent;

	if (depth == 0) {
		*root = n;
		return;
	}
	parent = st[depth - 1].node;
	if (parent->last == NULL)
		parent->child = n;
	else
		parent->last->next = n;
	parent->last = n;
	if (parent->type == PN_SEQ) {
		parent->n++;
	} else {
		if (!st[depth - 1].want_value)
			parent->n++;
		st[depth - 1].want_value = !st[depth - 1].want_value;
	}
}

int pol_parse_yaml(struct pol_ctx *c, const char *buf, size_t len,
		   struct pn **root)
{
	struct frame st[POL_DEPTH_MAX];
	yaml_parser_t yp;
	yaml_event_t ev;
	int depth = 0, ndocs = 0, rc = 0;
	bool done = false;

	*root = NULL;
	rc = check_text(c, (const unsigned char *)buf, len);
	if (rc < 0)
		return rc;
	if (!yaml_parser_initialize(&yp))
		return -ENOMEM;
	yaml_parser_set_input_string(&yp, (const unsigned char *)buf, len);
	yaml_parser_set_encoding(&yp, YAML_UTF8_ENCODING);

	while (!done) {
		struct pn *n = NULL;

		if (!yaml_parser_parse(&yp, &ev)) {
			if (yp.error == YAML_MEMORY_ERROR) {
				rc = -ENOMEM;
			} else {
				syntax_error(c, &yp, buf, len);
				rc = -EINVAL;
			}
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++ndocs > 1) {
				pol_err(c, mark_loc(ev.start_mark),
					"expected a single YAML document, "
					"found a second one");
				rc = -EINVAL;
				done = true;
			}
			break;
		case YAML_ALIAS_EVENT:
			pol_err(c, mark_loc(ev.start_mark),
				"YAML aliases are not supported (expected "
				"every value written out)");
			rc = -EINVAL;
			done = true;
			break;
		case YAML_SCALAR_EVENT:
			n = new_node(c, PN_SCALAR, ev.start_mark);
			if (n == NULL)
				break;
			n->str = pol_ctx_strdup(
				c, c->tmp, (const char *)ev.data.scalar.value,
				ev.data.scalar.length);
			n->len = ev.data.scalar.length;
			n->plain = ev.data.scalar.style ==
				   YAML_PLAIN_SCALAR_STYLE;
			if (n->str != NULL)
				attach(st, depth, n, root);
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (depth == POL_DEPTH_MAX) {
				pol_err(c, mark_loc(ev.start_mark),
					"nesting deeper than %d levels",
					POL_DEPTH_MAX);
				rc = -EINVAL;
				done = true;
				break;
			}
			n = new_node(c,
				     ev.type == YAML_SEQUENCE_START_EVENT ?
					     PN_SEQ :
					     PN_MAP,
				     ev.start_mark);
			if (n == NULL)
				break;
			attach(st, depth, n, root);
			st[depth].node = n;
			st[depth].want_value = false;
			depth++;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (depth > 0)
				depth--;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
		if (c->nomem) {
			rc = -ENOMEM;
			break;
		}
	}
	yaml_parser_delete(&yp);
	if (rc < 0)
		*root = NULL;
	return rc;
}

/* --- the pipeline -------------------------------------------------------- */

/* Errors in file order, whatever order the checks found them in. */
static void sort_diags(struct diag_list *dl, size_t start)
{
	for (size_t i = start + 1; i < dl->n; i++) {
		struct diag d = dl->v[i];
		size_t j = i;

		while (j > start && (dl->v[j - 1].line > d.line ||
				     (dl->v[j - 1].line == d.line &&
				      dl->v[j - 1].col > d.col))) {
			dl->v[j] = dl->v[j - 1];
			j--;
		}
		dl->v[j] = d;
	}
}

int policy_load_buffer(const char *name, const char *buf, size_t len,
		       size_t max_size, struct pol_policy **out,
		       struct diag_list *diags)
{
	struct pol_ctx c = { 0 };
	struct pol_policy *p = NULL;
	struct pn *root = NULL;
	unsigned int mdlen = 0;
	int rc;

	*out = NULL;
	if (max_size == 0)
		max_size = POL_SIZE_MAX_DEFAULT;
	c.file = name ? name : "-";
	c.diags = diags;
	c.diag_start = diags->n;
	if (len > max_size) {
		struct pol_loc l0 = { 0, 0 };

		pol_err(&c, l0,
			"policy is %zu bytes, over the limit of %zu bytes", len,
			max_size);
		return -EINVAL;
	}
	c.tmp = pol_arena_new();
	c.arena = pol_arena_new();
	if (c.tmp == NULL || c.arena == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	p = pol_ctx_alloc(&c, c.arena, 1, sizeof(*p));
	if (p == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	p->arena = c.arena;
	p->file = pol_ctx_strdup(&c, c.arena, c.file, strlen(c.file));

	rc = pol_parse_yaml(&c, buf, len, &root);
	if (rc == 0)
		rc = pol_validate(&c, root, p);
	if (rc == 0 && c.nomem)
		rc = -ENOMEM;
	if (rc == 0 && c.nerr > 0)
		rc = -EINVAL;
	if (rc == 0 &&
	    !EVP_Digest(buf, len, p->sha256, &mdlen, EVP_sha256(), NULL))
		rc = -ENOMEM;
out:
	sort_diags(diags, c.diag_start);
	if (c.nerr > POL_ERRORS_MAX)
		diag_add(diags, c.file, 0, 0,
			 "too many errors, stopped after %d", POL_ERRORS_MAX);
	pol_arena_free(c.tmp);
	if (rc < 0) {
		pol_arena_free(c.arena);
		return rc;
	}
	*out = p;
	return 0;
}

int policy_load_file(const char *path, size_t max_size, struct pol_policy **out,
		     struct diag_list *diags)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0, cap;
	int fd, rc;

	*out = NULL;
	if (max_size == 0)
		max_size = POL_SIZE_MAX_DEFAULT;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = -EISDIR;
		goto out;
	}
	if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > max_size) {
		diag_add(diags, path, 0, 0,
			 "policy is %jd bytes, over the limit of %zu bytes",
			 (intmax_t)st.st_size, max_size);
		rc = -EINVAL;
		goto out;
	}
	/* Read one byte past the limit so a growing or special file is
	 * still caught by the size check in policy_load_buffer. */
	cap = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size + 1 :
						      4096;
	if (cap > max_size + 1)
		cap = max_size + 1;
	buf = malloc(cap);
	if (buf == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t r;

		if (len == cap) {
			size_t ncap = cap * 2 > max_size + 1 ? max_size + 1 :
							       cap * 2;
			char *nb;

			if (ncap == cap)
				break;
			nb = realloc(buf, ncap);
			if (nb == NULL) {
				rc = -ENOMEM;
				goto out;
			}
			buf = nb;
			cap = ncap;
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len > max_size) {
		/* A pipe or device: its size is known only up to the limit. */
		diag_add(diags, path, 0, 0,
			 "policy is over the limit of %zu bytes", max_size);
		rc = -EINVAL;
		goto out;
	}
	rc = policy_load_buffer(path, buf, len, max_size, out, diags);
out:
	free(buf);
	close(fd);
	return rc;
}
