// SPDX-License-Identifier: LGPL-2.1-or-later
/* Unit tests for diff/udiff.c: hunks as diff -u prints them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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

/* A text cut into lines, each with its newline if it has one. */
struct text {
	const char **p;
	size_t *len;
	size_t n;
};

static void cut(const char *s, size_t len, struct text *t)
{
	t->p = malloc((len + 1) * sizeof(*t->p));
	t->len = malloc((len + 1) * sizeof(*t->len));
	assert_non_null(t->p);
	assert_non_null(t->len);
	t->n = 0;
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(s + i, '\n', len - i);
		size_t l = nl ? (size_t)(nl - s) + 1 - i : len - i;

		t->p[t->n] = s + i;
		t->len[t->n++] = l;
		i += l;
	}
}

static void uncut(struct text *t)
{
	free(t->p);
	free(t->len);
}

static size_t number(const char **q)
{
	char *end;
	unsigned long v = strtoul(*q, &end, 10);

	assert_true(end != *q);
	*q = end;
	return v;
}

/* "START[,COUNT]": the index of the first line, its count. */
static void parse_range(const char **q, size_t *start, size_t *count)
{
	*start = number(q);
	*count = 1;
	if (**q == ',') {
		++*q;
		*count = number(q);
	}
	/* with a count of 0 START is the line before the hunk */
	if (*count)
		--*start;
}

/*
 * Applies the hunks @d (as dif_unified() gives them, label-less) to @a the
 * way patch would, checking every context and deleted line against @a, the
 * counts in the headers, that hunks are in order and apart and carry at
 * most 3 lines of context before and after. Returns the new text
 * (malloc'ed, length in *ret_len), the hunks in *ret_hunks, the deleted and
 * added lines in *ret_del and *ret_add.
 */
static char *apply(const char *a, size_t alen, const char *d, size_t dlen,
		   size_t *ret_len, int *ret_hunks, size_t *ret_del,
		   size_t *ret_add)
{
	char *out = malloc(alen + dlen + 1);
	const char *q = d, *end = d + dlen;
	size_t olen = 0, pos = 0, nout = 0, del = 0, add = 0;
	int hunks = 0;
	struct text t;

	assert_non_null(out);
	cut(a, alen, &t);
	while (q < end) {
		size_t os, oc, ns, nc, o = 0, n = 0, lead = 0, trail = 0;
		bool changed = false;

		assert_memory_equal(q, "@@ -", 4);
		q += 4;
		parse_range(&q, &os, &oc);
		assert_memory_equal(q, " +", 2);
		q += 2;
		parse_range(&q, &ns, &nc);
		assert_memory_equal(q, " @@\n", 4);
		q += 4;
		/* apart: merged unless more than 2 * 3 lines in between */
		assert_true(os >= pos + (hunks ? 1 : 0));
		for (; pos < os; pos++) {
			memcpy(out + olen, t.p[pos], t.len[pos]);
			olen += t.len[pos];
			nout++;
		}
		assert_int_equal(ns, nout);
		while (q < end && *q != '@') {
			const char *nl = memchr(q, '\n', (size_t)(end - q));
			size_t l;

			assert_non_null(nl);
			l = (size_t)(nl - q); /* tag and content */
			/* "\ No newline at end of file": the line had none */
			if (nl + 1 < end && nl[1] == '\\') {
				const char *m =
					"\\ No newline at end of file\n";

				assert_true((size_t)(end - nl - 1) >=
					    strlen(m));
				assert_memory_equal(nl + 1, m, strlen(m));
				nl += strlen(m);
			} else {
				l++; /* the newline is part of the line */
			}
			if (*q == ' ' || *q == '-') {
				assert_true(pos < t.n);
				assert_int_equal(t.len[pos], l - 1);
				assert_memory_equal(t.p[pos], q + 1, l - 1);
				pos++;
				o++;
			}
			if (*q == ' ' || *q == '+') {
				memcpy(out + olen, q + 1, l - 1);
				olen += l - 1;
				nout++;
				n++;
			}
			assert_true(*q == ' ' || *q == '-' || *q == '+');
			if (*q == ' ') {
				if (changed)
					trail++;
				else
					lead++;
			} else {
				changed = true;
				trail = 0;
				del += *q == '-';
				add += *q == '+';
			}
			q = nl + 1;
		}
		assert_true(changed);
		assert_true(lead <= 3);
		assert_true(trail <= 3);
		assert_int_equal(o, oc);
		assert_int_equal(n, nc);
		hunks++;
	}
	for (; pos < t.n; pos++) {
		memcpy(out + olen, t.p[pos], t.len[pos]);
		olen += t.len[pos];
	}
	uncut(&t);
	*ret_len = olen;
	*ret_hunks = hunks;
	*ret_del = del;
	*ret_add = add;
	return out;
}

static size_t count_lines(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += s[i] == '\n';
	return n + (len && s[len - 1] != '\n');
}

/* The longest common subsequence of lines, by dynamic programming. */
static size_t lcs(const char *a, size_t alen, const char *b, size_t blen)
{
	struct text x, y;
	size_t *row, *prev, r;

	cut(a, alen, &x);
	cut(b, blen, &y);
	row = calloc(y.n + 1, sizeof(*row));
	prev = calloc(y.n + 1, sizeof(*prev));
	assert_non_null(row);
	assert_non_null(prev);
	for (size_t i = 1; i <= x.n; i++) {
		size_t *tmp;

		for (size_t j = 1; j <= y.n; j++) {
			if (x.len[i - 1] == y.len[j - 1] &&
			    !memcmp(x.p[i - 1], y.p[j - 1], x.len[i - 1]))
				row[j] = prev[j - 1] + 1;
			else
				row[j] = row[j - 1] > prev[j] ? row[j - 1] :
								prev[j];
		}
		tmp = prev;
		prev = row;
		row = tmp;
	}
	r = prev[y.n];
	free(row);
	free(prev);
	uncut(&x);
	uncut(&y);
	return r;
}

/*
 * Diffs @a and @b, checks the hunks turn @a into @b and returns how many,
 * with the deleted and added lines in *del and *add.
 */
static int diff_and_apply(const char *a, size_t alen, const char *b,
			  size_t blen, size_t *del, size_t *add)
{
	struct dif_buf out = { 0 };
	size_t nlen;
	int hunks, r;
	char *n;

	r = dif_unified(a, alen, b, blen, 3, NULL, &out);
	assert_true(r >= 0);
	n = apply(a, alen, out.p ? out.p : "", out.len, &nlen, &hunks, del,
		  add);
	assert_int_equal(hunks, r);
	assert_int_equal(nlen, blen);
	assert_memory_equal(n, b, blen);
	free(n);
	dif_buf_free(&out);
	return r;
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

/* seq 1 10000 | sed 's/^/line /', and then sed '0~10s/$/ changed/' */
static char *numbered(size_t n, size_t every, size_t *len)
{
	char *s = malloc(n * 32 + 1);

	assert_non_null(s);
	*len = 0;
	for (size_t i = 1; i <= n; i++)
		*len += (size_t)sprintf(s + *len, "line %zu%s\n", i,
					every && i % every == 0 ? " changed" :
								  "");
	return s;
}

static void every_tenth_line_changed_is_a_hunk_each(void **state)
{
	/* GNU diff -u: 1000 hunks, 1000 lines out and 1000 in */
	static const char head[] =
		"@@ -7,7 +7,7 @@\n line 7\n line 8\n line 9\n-line 10\n"
		"+line 10 changed\n line 11\n line 12\n line 13\n"
		"@@ -17,7 +17,7 @@\n line 17\n";
	size_t alen, blen, del, add;
	char *a = numbered(10000, 0, &alen), *b = numbered(10000, 10, &blen);
	struct dif_buf out = { 0 };

	assert_int_equal(diff_and_apply(a, alen, b, blen, &del, &add), 1000);
	assert_int_equal(del, 1000);
	assert_int_equal(add, 1000);
	/* and hunk by hunk as diff -u prints them */
	assert_int_equal(dif_unified(a, alen, b, blen, 3, NULL, &out), 1000);
	assert_memory_equal(out.p, head, sizeof(head) - 1);
	assert_non_null(strstr(out.p, "@@ -9997,4 +9997,4 @@\n line 9997\n"
				      " line 9998\n line 9999\n-line 10000\n"
				      "+line 10000 changed\n"));
	dif_buf_free(&out);
	free(a);
	free(b);
}

static void changes_seven_lines_apart_share_a_hunk(void **state)
{
	/* 6 unchanged lines between: one hunk; 7: a hunk each (diff -u) */
	size_t alen, blen, del, add;
	char *a = numbered(30, 0, &alen), *b = numbered(30, 7, &blen);

	assert_int_equal(diff_and_apply(a, alen, b, blen, &del, &add), 1);
	assert_int_equal(del, 4);
	free(b);
	b = numbered(30, 8, &blen);
	assert_int_equal(diff_and_apply(a, alen, b, blen, &del, &add), 3);
	assert_int_equal(add, 3);
	free(a);
	free(b);
}

static uint64_t rnd_state;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 0x2545f4914f6cdd1dULL;
}

static size_t rnd_below(size_t n)
{
	return n ? (size_t)(rnd() % n) : 0;
}

/* @n lines drawn from @alphabet values; the last newline maybe missing */
static size_t random_text(char *s, size_t n, size_t alphabet)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(s + len, "%zu\n", rnd_below(alphabet));
	if (len && rnd_below(4) == 0)
		len--;
	return len;
}

/* @a edited at random (lines deleted, inserted, changed) into @b */
static size_t random_edit(const char *a, size_t alen, char *b, size_t alphabet)
{
	size_t len = 0, edits = rnd_below(4) ? rnd_below(30) : 0;

	for (size_t i = 0; i < alen;) {
		const char *nl = memchr(a + i, '\n', alen - i);
		size_t l = nl ? (size_t)(nl - a) + 1 - i : alen - i;
		size_t dice = rnd_below(alen / 2 + 1);

		if (edits && dice == 0) { /* delete */
			edits--;
		} else if (edits && dice == 1) { /* insert */
			edits--;
			len += (size_t)sprintf(b + len, "%zu\n",
					       rnd_below(alphabet));
			memcpy(b + len, a + i, l);
			len += l;
		} else if (edits && dice == 2) { /* change */
			edits--;
			len += (size_t)sprintf(b + len, "x%zu\n",
					       rnd_below(alphabet));
		} else {
			memcpy(b + len, a + i, l);
			len += l;
		}
		i += l;
	}
	if (len && rnd_below(5) == 0)
		len -= b[len - 1] == '\n' ? 1 : 0;
	else if (len && b[len - 1] != '\n' && rnd_below(2))
		b[len++] = '\n';
	return len;
}

/*
 * Many random pairs of texts (empty ones, identical ones, edits of each
 * other, unrelated ones, with and without a final newline, from 2 to 1000
 * distinct lines): the hunks must turn the first into the second, and
 * delete and add no more lines than a minimal script does.
 */
static void random_texts_diff_minimally_and_apply(void **state)
{
	static const size_t sizes[] = { 0, 1, 2, 5, 20, 100, 300 };
	static const size_t alphabets[] = { 2, 3, 5, 20, 1000 };
	char *a = malloc(300 * 8 + 1), *b = malloc(2 * 300 * 8 + 64);

	assert_non_null(a);
	assert_non_null(b);
	rnd_state = 0x5eed;
	for (int i = 0; i < 3000; i++) {
		size_t alphabet = alphabets[rnd_below(5)];
		size_t alen = random_text(a, sizes[rnd_below(7)], alphabet);
		size_t blen, del, add, common;
		int hunks;

		switch (rnd_below(5)) {
		case 0: /* unrelated */
			blen = random_text(b, sizes[rnd_below(7)], alphabet);
			break;
		case 1: /* the same */
			memcpy(b, a, alen);
			blen = alen;
			break;
		default:
			blen = random_edit(a, alen, b, alphabet);
		}
		hunks = diff_and_apply(a, alen, b, blen, &del, &add);
		common = lcs(a, alen, b, blen);
		/* lines the texts have, less those kept */
		assert_int_equal(del + common, count_lines(a, alen));
		assert_int_equal(add + common, count_lines(b, blen));
		assert_int_equal(hunks == 0,
				 blen == alen && !memcmp(a, b, alen));
	}
	free(a);
	free(b);
}

/* Lines "PREFIXi" for i < n. */
static char *distinct(const char *prefix, size_t n, size_t *len)
{
	char *s = malloc(n * (strlen(prefix) + 24) + 1);

	assert_non_null(s);
	*len = 0;
	for (size_t i = 0; i < n; i++)
		*len += (size_t)sprintf(s + *len, "%s%zu\n", prefix, i);
	return s;
}

static void big_unrelated_texts_are_quick(void **state)
{
	/*
	 * 200,000 lines against 200,000 others: one hunk replacing all, in
	 * linear memory (a kept V vector per edit would be 400,000 of them)
	 */
	size_t alen, blen, del, add;
	char *a = distinct("old ", 200000, &alen);
	char *b = distinct("new ", 200000, &blen);

	assert_int_equal(diff_and_apply(a, alen, b, blen, &del, &add), 1);
	assert_int_equal(del, 200000);
	assert_int_equal(add, 200000);
	free(a);
	free(b);
}

static void far_apart_texts_stay_correct_past_the_cost_limit(void **state)
{
	/*
	 * 20,000 lines of 10 values each, unrelated: a minimal script has
	 * some 21,000 lines in it, the middle of it over 10,000 edits from
	 * either end, past the search's limit (4096): the script may not
	 * be minimal, but it must be right
	 */
	char *a = malloc(20000 * 2 + 1), *b = malloc(20000 * 2 + 1);
	size_t alen, blen, del, add;

	assert_non_null(a);
	assert_non_null(b);
	rnd_state = 42;
	alen = random_text(a, 20000, 10);
	blen = random_text(b, 20000, 10);
	assert_true(diff_and_apply(a, alen, b, blen, &del, &add) > 0);
	assert_int_equal(del + count_lines(b, blen),
			 add + count_lines(a, alen));
	free(a);
	free(b);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif

static void memory_stays_linear(void **state)
{
	/*
	 * The 10,000 lines with every tenth changed and 200,000 unrelated
	 * ones: some MiB of lines and hunks (a kept V vector per edit took
	 * 256 MiB and gave up). A sanitizer's shadow memory would count too.
	 */
	size_t alen, blen, del, add;
	struct rusage ru;
	char *a, *b;

#ifdef SANITIZED
	skip();
#endif
	a = numbered(10000, 0, &alen);
	b = numbered(10000, 10, &blen);
	assert_int_equal(diff_and_apply(a, alen, b, blen, &del, &add), 1000);
	free(a);
	free(b);
	a = distinct("old ", 200000, &alen);
	b = distinct("new ", 200000, &blen);
	assert_int_equal(diff_and_apply(a, alen, b, blen, &del, &add), 1);
	free(a);
	free(b);
	assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
	assert_true(ru.ru_maxrss < 128 * 1024); /* KiB */
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
		cmocka_unit_test(every_tenth_line_changed_is_a_hunk_each),
		cmocka_unit_test(changes_seven_lines_apart_share_a_hunk),
		cmocka_unit_test(random_texts_diff_minimally_and_apply),
		cmocka_unit_test(big_unrelated_texts_are_quick),
		cmocka_unit_test(
			far_apart_texts_stay_correct_past_the_cost_limit),
		cmocka_unit_test(memory_stays_linear),
		cmocka_unit_test(binary_data_is_not_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
