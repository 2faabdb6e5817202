// SPDX-License-Identifier: LGPL-2.1-or-later
/* Unit tests for diff/udiff.c: hunks as diff -u prints them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "diff/udiff.h"

static void check(const char *a, const char *b, const char *want, int hunks)
{
	struct dif_buf out = { 0 };

	assert_int_equal(dif_unified(a, strlen(a), b, strlen(b), 3, NULL, &out),
			 hunks);
	assert_string_equal(out.p ? out.p : "", want);
	dif_buf_free(&out);
}

static void equal_texts_have_no_hunk(void **state)
{
	check("a\nb\n", "a\nb\n", "", 0);
	check("", "", "", 0);
}

static void appended_line_is_one_hunk(void **state)
{
	check("template\n", "template\nx\n", "@@ -1 +1,2 @@\n template\n+x\n",
	      1);
}

static void change_in_the_middle_keeps_three_lines_of_context(void **state)
{
	check("1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\n3\n4\nFIVE\n6\n7\n8\n9\n",
	      "@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+FIVE\n 6\n 7\n 8\n", 1);
}

static void distant_changes_make_two_hunks(void **state)
{
	check("a\n1\n2\n3\n4\n5\n6\n7\n8\nb\n",
	      "A\n1\n2\n3\n4\n5\n6\n7\n8\nB\n",
	      "@@ -1,4 +1,4 @@\n-a\n+A\n 1\n 2\n 3\n"
	      "@@ -7,4 +7,4 @@\n 6\n 7\n 8\n-b\n+B\n",
	      2);
}

static void new_file_from_nothing(void **state)
{
	check("", "x\ny\n", "@@ -0,0 +1,2 @@\n+x\n+y\n", 1);
}

static void missing_final_newline_is_marked(void **state)
{
	check("a\n", "a", "@@ -1 +1 @@\n-a\n+a\n\\ No newline at end of file\n",
	      1);
}

static void label_follows_the_hunk_header(void **state)
{
	struct dif_buf out = { 0 };

	assert_int_equal(dif_unified("a\n", 2, "b\n", 2, 3, "fstab", &out), 1);
	assert_string_equal(out.p, "@@ -1 +1 @@ fstab\n-a\n+b\n");
	dif_buf_free(&out);
}

static void binary_data_is_not_text(void **state)
{
	assert_false(dif_is_text("a\0b", 3));
	assert_true(dif_is_text("abc\n", 4));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(equal_texts_have_no_hunk),
		cmocka_unit_test(appended_line_is_one_hunk),
		cmocka_unit_test(
			change_in_the_middle_keeps_three_lines_of_context),
		cmocka_unit_test(distant_changes_make_two_hunks),
		cmocka_unit_test(new_file_from_nothing),
		cmocka_unit_test(missing_final_newline_is_marked),
		cmocka_unit_test(label_follows_the_hunk_header),
		cmocka_unit_test(binary_data_is_not_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
