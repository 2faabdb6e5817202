// SPDX-License-Identifier: LGPL-2.1-or-later
/* Unit tests for common/path.c: member-name normalization. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "common/path.h"

static void check(const char *in, const char *want, unsigned want_flags)
{
	char *out = NULL;
	unsigned flags = 0;

	assert_int_equal(dm_path_normalize(in, &out, &flags), 0);
	assert_string_equal(out, want);
	assert_int_equal(flags, want_flags);
	free(out);
}

static void dot_slash_prefix_is_dropped(void **state)
{
	check("./etc/passwd", "etc/passwd", 0);
	check("././a//b/./c/", "a/b/c", 0);
}

static void leading_slash_is_removed_and_flagged(void **state)
{
	check("/etc/shadow", "etc/shadow", DM_PATH_ABSOLUTE);
	check("///x", "x", DM_PATH_ABSOLUTE);
}

static void root_spellings_name_the_root(void **state)
{
	check("./", "", DM_PATH_ROOT);
	check(".", "", DM_PATH_ROOT);
	check("/", "", DM_PATH_ROOT | DM_PATH_ABSOLUTE);
	check("", "", DM_PATH_ROOT);
}

static void dotdot_is_flagged_not_resolved(void **state)
{
	check("../escape", "../escape", DM_PATH_DOTDOT);
	check("a/../../b", "a/../../b", DM_PATH_DOTDOT);
	check("/../x", "../x", DM_PATH_DOTDOT | DM_PATH_ABSOLUTE);
}

static void dots_inside_names_are_names(void **state)
{
	check("a/..b/c..", "a/..b/c..", 0);
	check("...", "...", 0);
	check("a/.hidden", "a/.hidden", 0);
}

static void odd_bytes_pass_through(void **state)
{
	check("a b/new\nline/\xc3\xa9t\xc3\xa9",
	      "a b/new\nline/\xc3\xa9t\xc3\xa9", 0);
}

static void unescape(const char *in, const char *want)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%s", in);
	dm_path_unescape_octal(buf);
	assert_string_equal(buf, want);
}

static void mountinfo_escapes_are_undone(void **state)
{
	unescape("/tmp/a\\040mount\\011point", "/tmp/a mount\tpoint");
	unescape("/x\\012y\\134z", "/x\ny\\z");
	unescape("/plain/path", "/plain/path");
	/* not an escape: kept */
	unescape("/a\\08b\\4", "/a\\08b\\4");
	unescape("/a\\400", "/a\\400");
	unescape("\\", "\\");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dot_slash_prefix_is_dropped),
		cmocka_unit_test(leading_slash_is_removed_and_flagged),
		cmocka_unit_test(root_spellings_name_the_root),
		cmocka_unit_test(dotdot_is_flagged_not_resolved),
		cmocka_unit_test(dots_inside_names_are_names),
		cmocka_unit_test(odd_bytes_pass_through),
		cmocka_unit_test(mountinfo_escapes_are_undone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
