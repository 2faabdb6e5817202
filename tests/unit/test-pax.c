// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for templates/tmpl-pax.c: header chains assembled here block
 * by block (ustar headers with their checksums, pax records), walked for
 * global and per-member keywords.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "templates/tmpl-pax.h"

struct chain {
	unsigned char buf[16 * 512];
	size_t len;
};

/* Appends a header block of @type whose body is @body (NULL: none). */
static void add(struct chain *c, char type, const char *body)
{
	unsigned char *h = c->buf + c->len;
	size_t blen = body ? strlen(body) : 0;
	unsigned sum = 0;

	assert_true(c->len + 512 + ((blen + 511) & ~(size_t)511) <=
		    sizeof(c->buf));
	memset(h, 0, 512);
	snprintf((char *)h, 100, "%s", type == 'g' ? "pax_global_header" : "f");
	snprintf((char *)h + 100, 8, "%07o", 0644);
	snprintf((char *)h + 124, 12, "%011o", (unsigned)blen);
	snprintf((char *)h + 136, 12, "%011o", 0);
	h[156] = (unsigned char)type;
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memset(h + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	c->len += 512;
	if (blen) {
		memset(c->buf + c->len, 0, (blen + 511) & ~(size_t)511);
		memcpy(c->buf + c->len, body, blen);
		c->len += (blen + 511) & ~(size_t)511;
	}
}

/* "LEN key=value\n" with LEN counting itself. */
static char *rec(const char *kv)
{
	static char out[8][256];
	static int n;
	char *o = out[n++ % 8];
	size_t l = strlen(kv) + 2, total = l + 1, next;

	while ((next = l + (size_t)snprintf(NULL, 0, "%zu", total)) != total)
		total = next;
	snprintf(o, 256, "%zu %s\n", total, kv);
	assert_int_equal(strlen(o), total);
	return o;
}

static char warnings[4096];

static void warn(void *ctx, const char *msg)
{
	(void)ctx;
	strncat(warnings, msg, sizeof(warnings) - strlen(warnings) - 2);
	strcat(warnings, "\n");
}

static int scan(struct tmpl_pax_global *g, struct chain *c, unsigned *local,
		struct dm_err *err)
{
	return tmpl_pax_scan(g, c->buf, c->len, 1024, "t.tar", local, warn,
			     NULL, err);
}

static void test_global_applies_until_changed(void **state)
{
	struct tmpl_pax_global g = { 0 };
	struct dm_err err = { 0 };
	struct chain c = { .len = 0 };
	char body[512];
	unsigned local = 99;

	(void)state;
	warnings[0] = 0;
	snprintf(body, sizeof(body), "%s%s%s%s%s", rec("uid=4321"),
		 rec("gid=765"), rec("mtime=1700000000.25"),
		 rec("comment=made by hand"), rec("SCHILY.xattr.user.k=v1"));
	add(&c, 'g', body);
	add(&c, '0', NULL);
	assert_int_equal(scan(&g, &c, &local, &err), 0);
	assert_int_equal(local, 0);
	assert_int_equal(g.set, TMPL_PAX_UID | TMPL_PAX_GID | TMPL_PAX_MTIME);
	assert_int_equal(g.uid, 4321);
	assert_int_equal(g.gid, 765);
	assert_int_equal(g.mtime.sec, 1700000000);
	assert_int_equal(g.mtime.nsec, 250000000);
	assert_int_equal(g.nxattrs, 1);
	assert_string_equal(g.xattrs[0].name, "user.k");
	assert_int_equal(g.xattrs[0].len, 2);
	assert_memory_equal(g.xattrs[0].value, "v1", 2);
	assert_string_equal(warnings, "");

	/* the next member sets uid itself; a later global drops gid */
	c.len = 0;
	snprintf(body, sizeof(body), "%s%s", rec("gid="),
		 rec("SCHILY.xattr.user.k=v2"));
	add(&c, 'g', body);
	add(&c, 'x', rec("uid=0"));
	add(&c, '0', NULL);
	assert_int_equal(scan(&g, &c, &local, &err), 0);
	assert_int_equal(local, TMPL_PAX_UID);
	assert_int_equal(g.set, TMPL_PAX_UID | TMPL_PAX_MTIME);
	assert_int_equal(g.nxattrs, 1);
	assert_memory_equal(g.xattrs[0].value, "v2", 2);

	/* an empty value deletes an attribute */
	c.len = 0;
	add(&c, 'g', rec("SCHILY.xattr.user.k="));
	add(&c, '5', NULL);
	assert_int_equal(scan(&g, &c, &local, &err), 0);
	assert_int_equal(local, 0);
	assert_int_equal(g.nxattrs, 0);
	tmpl_pax_global_free(&g);
	assert_true(tmpl_pax_global_empty(&g));
}

static void test_global_path_is_refused(void **state)
{
	static const char *const keys[] = { "path=x", "linkpath=y", "size=9" };
	struct tmpl_pax_global g = { 0 };

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		struct dm_err err = { 0 };
		struct chain c = { .len = 0 };
		unsigned local;

		add(&c, 'g', rec(keys[i]));
		add(&c, '0', NULL);
		assert_int_equal(scan(&g, &c, &local, &err), -EINVAL);
		assert_non_null(strstr(
			err.msg, "t.tar: global pax header at byte 1024 sets"));
		assert_non_null(strstr(err.msg, "not supported"));
	}
	tmpl_pax_global_free(&g);
}

static void test_unknown_and_bad_values_warn(void **state)
{
	struct tmpl_pax_global g = { 0 };
	struct dm_err err = { 0 };
	struct chain c = { .len = 0 };
	char body[512];
	unsigned local;

	(void)state;
	warnings[0] = 0;
	snprintf(body, sizeof(body), "%s%s%s", rec("SCHILY.acl.access=u::rw-"),
		 rec("uid=-1"), rec("mtime=1.2.3"));
	add(&c, 'L', "a-long-name");
	add(&c, 'g', body);
	add(&c, '0', NULL);
	assert_int_equal(scan(&g, &c, &local, &err), 0);
	assert_int_equal(g.set, 0);
	assert_non_null(strstr(
		warnings,
		"t.tar: global pax header at byte 2048: keyword 'SCHILY.acl.access' ignored"));
	assert_non_null(strstr(warnings, "bad value for 'uid'"));
	assert_non_null(strstr(warnings, "bad value for 'mtime'"));

	/* a malformed record: a warning, what came before it stays */
	warnings[0] = 0;
	c.len = 0;
	snprintf(body, sizeof(body), "%s%s", rec("gid=5"), "99 gid=6\n");
	add(&c, 'g', body);
	add(&c, '0', NULL);
	assert_int_equal(scan(&g, &c, &local, &err), 0);
	assert_int_equal(g.set, TMPL_PAX_GID);
	assert_int_equal(g.gid, 5);
	assert_non_null(strstr(warnings, "malformed record"));
	tmpl_pax_global_free(&g);
}

static void test_walk_stops_at_what_is_no_header(void **state)
{
	struct tmpl_pax_global g = { 0 };
	struct dm_err err = { 0 };
	struct chain c = { .len = 0 };
	unsigned local;

	(void)state;
	/* a damaged checksum: not read, nothing applies */
	add(&c, 'g', rec("uid=7"));
	c.buf[148] ^= 1;
	add(&c, '0', NULL);
	assert_int_equal(scan(&g, &c, &local, &err), 0);
	assert_int_equal(g.set, 0);
	/* a body longer than the chain */
	c.len = 0;
	add(&c, 'g', rec("uid=7"));
	assert_int_equal(tmpl_pax_scan(&g, c.buf, 512, 0, "t", &local, warn,
				       NULL, &err),
			 0);
	assert_int_equal(g.set, 0);
	/* base-256 sizes are read too */
	c.len = 0;
	add(&c, 'g', rec("uid=7"));
	{
		unsigned sum = 0;
		unsigned char *h = c.buf;
		size_t blen = strlen(rec("uid=7"));

		memset(h + 124, 0, 12);
		h[124] = 0x80;
		h[135] = (unsigned char)blen;
		memset(h + 148, ' ', 8);
		for (int i = 0; i < 512; i++)
			sum += h[i];
		snprintf((char *)h + 148, 8, "%06o", sum);
	}
	add(&c, '0', NULL);
	assert_int_equal(scan(&g, &c, &local, &err), 0);
	assert_int_equal(g.set, TMPL_PAX_UID);
	assert_int_equal(g.uid, 7);
	tmpl_pax_global_free(&g);
}

static void test_times(void **state)
{
	static const struct {
		const char *s;
		bool ok;
		int64_t sec;
		uint32_t nsec;
	} cases[] = {
		{ "0", true, 0, 0 },
		{ "1700000000", true, 1700000000, 0 },
		{ "1.5", true, 1, 500000000 },
		{ "1.1234567891", true, 1, 123456789 },
		{ "-1", true, -1, 0 },
		{ "-1.5", true, -2, 500000000 },
		{ "-0.25", true, -1, 750000000 },
		{ "", false, 0, 0 },
		{ "-", false, 0, 0 },
		{ ".5", false, 0, 0 },
		{ "1x", false, 0, 0 },
		{ "99999999999999999999", false, 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tmpl_pax_time t = { 0 };
		bool ok =
			tmpl_pax_parse_time(cases[i].s, strlen(cases[i].s), &t);

		assert_int_equal(ok, cases[i].ok);
		if (ok) {
			assert_int_equal(t.sec, cases[i].sec);
			assert_int_equal(t.nsec, cases[i].nsec);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_global_applies_until_changed),
		cmocka_unit_test(test_global_path_is_refused),
		cmocka_unit_test(test_unknown_and_bad_values_warn),
		cmocka_unit_test(test_walk_stops_at_what_is_no_header),
		cmocka_unit_test(test_times),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
