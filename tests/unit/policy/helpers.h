/*
 * Shared by the policy unit tests: load a policy from a string or a file
 * and compare the diagnostics it produced with an expected list.
 */
#ifndef CONDUIT_TEST_POLICY_HELPERS_H
#define CONDUIT_TEST_POLICY_HELPERS_H

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/diag.h"
#include "policy/model.h"

#define EXAMPLES_DIR TEST_SRCDIR "/policy/examples/"
#define INVALID_DIR TEST_SRCDIR "/tests/unit/policy/invalid/"

/* "line:col: msg", or just "msg" for a record without a location. */
static inline void diag_short(const struct diag *d, char *buf, size_t len)
{
	if (d->line > 0)
		snprintf(buf, len, "%d:%d: %s", d->line, d->col, d->msg);
	else
		snprintf(buf, len, "%s", d->msg);
}

static inline void expect_diags(const struct diag_list *dl, const char *file,
				const char *const *want)
{
	size_t n = 0;
	char buf[1024];

	while (want[n] != NULL)
		n++;
	for (size_t i = 0; i < dl->n; i++) {
		diag_short(&dl->v[i], buf, sizeof(buf));
		cr_log_info("got %s", buf);
	}
	cr_assert_eq(dl->n, n, "expected %zu diagnostics, got %zu", n, dl->n);
	for (size_t i = 0; i < n; i++) {
		diag_short(&dl->v[i], buf, sizeof(buf));
		cr_expect_str_eq(buf, want[i]);
		cr_expect_str_eq(dl->v[i].file, file);
	}
}

/* Loads a string that must be valid; fails the test with the diagnostics. */
static inline struct pol_policy *load_ok(const char *yaml)
{
	struct diag_list dl;
	struct pol_policy *p = NULL;
	char buf[1024];
	int rc;

	diag_list_init(&dl);
	rc = policy_load_buffer("test.yaml", yaml, strlen(yaml), 0, &p, &dl);
	for (size_t i = 0; i < dl.n; i++)
		cr_log_error("%s", diag_format(&dl.v[i], buf, sizeof(buf)));
	cr_assert_eq(rc, 0, "policy rejected (%d)", rc);
	cr_assert_eq(dl.n, 0);
	cr_assert_not_null(p);
	diag_list_free(&dl);
	return p;
}

static inline struct pol_policy *load_example(const char *name)
{
	char path[512];
	struct diag_list dl;
	struct pol_policy *p = NULL;
	char buf[1024];
	int rc;

	snprintf(path, sizeof(path), EXAMPLES_DIR "%s", name);
	diag_list_init(&dl);
	rc = policy_load_file(path, 0, &p, &dl);
	for (size_t i = 0; i < dl.n; i++)
		cr_log_error("%s", diag_format(&dl.v[i], buf, sizeof(buf)));
	cr_assert_eq(rc, 0, "%s rejected (%d)", name, rc);
	cr_assert_not_null(p);
	diag_list_free(&dl);
	return p;
}

/* A string that must be rejected with exactly these diagnostics. */
static inline void expect_str_invalid(const char *yaml, const char *const *want)
{
	struct diag_list dl;
	struct pol_policy *p = (struct pol_policy *)1;
	int rc;

	diag_list_init(&dl);
	rc = policy_load_buffer("test.yaml", yaml, strlen(yaml), 0, &p, &dl);
	cr_assert_eq(rc, -EINVAL);
	cr_assert_null(p);
	expect_diags(&dl, "test.yaml", want);
	diag_list_free(&dl);
}

/* A file of tests/unit/policy/invalid/ that must be rejected likewise. */
static inline void expect_file_invalid(const char *name,
				       const char *const *want)
{
	char path[512];
	struct diag_list dl;
	struct pol_policy *p = (struct pol_policy *)1;
	int rc;

	snprintf(path, sizeof(path), INVALID_DIR "%s", name);
	diag_list_init(&dl);
	rc = policy_load_file(path, 0, &p, &dl);
	cr_assert_eq(rc, -EINVAL, "%s: rc %d", name, rc);
	cr_assert_null(p);
	expect_diags(&dl, path, want);
	diag_list_free(&dl);
}

#define WANT(...) ((const char *const[]){ __VA_ARGS__, NULL })

#endif
