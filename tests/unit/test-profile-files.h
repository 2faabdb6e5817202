/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Profile files for the unit tests of xen/: a scratch directory made per
 * run (cmocka group setup/teardown), files written into it by slot
 * ("t.cfg", "1.cfg"...), and the checked-in profiles of tests/data/profiles
 * (PROFILE_DATA). Include after <cmocka.h>.
 */
#ifndef TEST_PROFILE_FILES_H
#define TEST_PROFILE_FILES_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define SCRATCH_SLOTS 4

static char scratch[64];

static inline void slot_path(int slot, char *buf, size_t size)
{
	if (slot == 0)
		snprintf(buf, size, "%s/t.cfg", scratch);
	else
		snprintf(buf, size, "%s/%d.cfg", scratch, slot);
}

static inline int scratch_setup(void **state)
{
	snprintf(scratch, sizeof(scratch), "/tmp/domufs-test-XXXXXX");
	return mkdtemp(scratch) ? 0 : -1;
}

static inline int scratch_teardown(void **state)
{
	char path[128];

	for (int i = 0; i < SCRATCH_SLOTS; i++) {
		slot_path(i, path, sizeof(path));
		unlink(path);
	}
	return rmdir(scratch);
}

/* A profile of tests/data/profiles (static buffer). */
static inline const char *data_path(const char *name)
{
	static char path[512];
	const char *dir = getenv("PROFILE_DATA");

	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "tests/data/profiles",
		 name);
	return path;
}

/* Writes @text to scratch file @slot and returns its path (static). */
static inline const char *write_file(int slot, const char *text)
{
	static char path[SCRATCH_SLOTS][128];
	FILE *f;

	slot_path(slot, path[slot], sizeof(path[slot]));
	f = fopen(path[slot], "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	return path[slot];
}

static inline const char *write_profile(const char *text)
{
	return write_file(0, text);
}

#endif
