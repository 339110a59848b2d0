/* Diagnostic records: formatting and collection of many records. */
#include <criterion/criterion.h>
#include <string.h>

#include "common/diag.h"

/* CR 3.5 */
Test(diag, formats_file_line_col)
{
	struct diag_list dl;
	char buf[256];

	diag_list_init(&dl);
	diag_add(&dl, "plant.yaml", 12, 7, "expected %s, found %s", "a port",
		 "\"x\"");
	diag_add(&dl, "plant.yaml", 3, 0, "line only");
	diag_add(&dl, NULL, 0, 0, "no location");
	cr_assert_eq(dl.n, 3);
	cr_assert_str_eq(diag_format(&dl.v[0], buf, sizeof(buf)),
			 "plant.yaml:12:7: expected a port, found \"x\"");
	cr_assert_str_eq(diag_format(&dl.v[1], buf, sizeof(buf)),
			 "plant.yaml:3: line only");
	cr_assert_str_eq(diag_format(&dl.v[2], buf, sizeof(buf)),
			 "-: no location");
	diag_list_free(&dl);
	cr_assert_eq(dl.n, 0);
}

Test(diag, collects_many)
{
	struct diag_list dl;

	diag_list_init(&dl);
	for (int i = 1; i <= 100; i++)
		diag_add(&dl, "f", i, 1, "error %d", i);
	cr_assert_eq(dl.n, 100);
	cr_assert_eq(dl.v[99].line, 100);
	cr_assert_str_eq(dl.v[42].msg, "error 43");
	diag_list_free(&dl);
}
