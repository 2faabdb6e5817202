// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * img_commit(): the order of a commit. Inspect the target (refusals come
 * before anything is written), scan the view into a plan, size the
 * filesystem, prepare the target, build, put the partition table in front,
 * sync and rename.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/hash.h"
#include "common/io.h"
#include "image/img-internal.h"

/* 16 bytes that depend only on @what and @seed. */
static void derive(uint8_t out[16], const char *what, uint64_t seed)
{
	uint64_t h1 = dm_hash64(what, strlen(what), seed ^ 0x646f6d756673ULL);
	uint64_t h2 = dm_hash_mix(h1, seed + 0x9e3779b97f4a7c15ULL);

	memcpy(out, &h1, 8);
	memcpy(out + 8, &h2, 8);
}

static void uuid_v4_bits(uint8_t u[16])
{
	u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
}

static int random_bytes(uint8_t *out, size_t len)
{
	while (len > 0) {
		ssize_t n = getrandom(out, len, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		out += n;
		len -= (size_t)n;
	}
	return 0;
}

static void fmt_size(char *buf, size_t size, uint64_t bytes)
{
	if (bytes >= (1ULL << 30))
		snprintf(buf, size, "%.1f GiB", (double)bytes / (1ULL << 30));
	else
		snprintf(buf, size, "%.1f MiB", (double)bytes / (1ULL << 20));
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int too_small(const struct img_geom_in *gi, const char *target,
		     uint64_t have, uint64_t fs_offset, struct dm_err *err)
{
	struct img_geom min;
	char a[32], b[32];

	if (img_size_min(gi, &min) < 0)
		return dm_err_set(err, EFBIG, "%s: the tree is too large",
				  target);
	fmt_size(a, sizeof(a), have);
	fmt_size(b, sizeof(b), min.blocks * IMG_BLOCK_SIZE + fs_offset);
	return dm_err_set(err, ENOSPC,
			  "%s: too small: %s (%" PRIu64
			  " bytes); the tree needs at least %s (%" PRIu64
			  " bytes)",
			  target, a, have, b,
			  min.blocks * IMG_BLOCK_SIZE + fs_offset);
}

/* Says in @err that the block device @target holds no filesystem now. */
static void no_filesystem_now(struct dm_err *err, const char *target)
{
	size_t len;

	if (!err)
		return;
	len = strlen(err->msg);
	if (len < sizeof(err->msg))
		(void)!snprintf(err->msg + len, sizeof(err->msg) - len,
				" (%s holds no filesystem now: its old one "
				"was wiped)",
				target);
}

int img_commit(struct ovl_view *v, const char *target,
	       const struct img_commit_opts *o, struct img_commit_result *ret,
	       struct dm_err *err)
{
	struct img_target t = { .fd = -1 };
	struct img_plan plan = { 0 };
	struct img_geom_in gi = { .fs = o->fs };
	struct img_geom g;
	struct img_build_opts bo = { .fs = o->fs, .geom = &g };
	uint64_t fs_offset = o->partition == IMG_PART_MSDOS ? IMG_PART_OFFSET :
							      0;
	uint64_t total;
	bool computed = false;
	double t0 = now_seconds();
	int r;

	memset(ret, 0, sizeof(*ret));
	if (o->label && strlen(o->label) > 16)
		return dm_err_set(err, EINVAL,
				  "label '%s' is longer than 16 bytes",
				  o->label);
	r = img_target_open(target, o, &t, err);
	if (r < 0)
		return r;
	r = img_plan_build(v, o->fs, target, o->progress, o->progress_ctx,
			   &plan, err);
	if (r < 0)
		goto out;
	gi.tree_inodes = img_plan_inodes(&plan);
	gi.tree_blocks = img_plan_blocks(&plan);

	if (t.block_device || o->size) {
		uint64_t have = t.block_device ? t.device_size : o->size;

		if (t.block_device && o->size) {
			if (o->size > t.device_size) {
				char a[32], b[32];

				fmt_size(a, sizeof(a), t.device_size);
				fmt_size(b, sizeof(b), o->size);
				r = dm_err_set(err, ENOSPC,
					       "%s: too small: %s, smaller "
					       "than --size %s",
					       target, a, b);
				goto out;
			}
			have = o->size;
		}
		total = have;
		if (have <= fs_offset + 64 * IMG_BLOCK_SIZE ||
		    img_size_fit(&gi, (have - fs_offset) / IMG_BLOCK_SIZE, &g) <
			    0) {
			r = too_small(&gi, target, have, fs_offset, err);
			goto out;
		}
	} else {
		r = img_size_auto(&gi, &g);
		if (r < 0) {
			r = dm_err_set(err, -r, "%s: the tree is too large",
				       target);
			goto out;
		}
		total = g.blocks * IMG_BLOCK_SIZE + fs_offset;
		computed = true;
	}
	/*
	 * The partition runs to the end of the target: its last sector must
	 * have a 32-bit number, so a target of exactly 2 TiB still fits.
	 */
	if (o->partition == IMG_PART_MSDOS &&
	    total / 512 > IMG_MBR_MAX_SECTORS) {
		r = dm_err_set(err, EFBIG,
			       "%s: an msdos partition table describes at most "
			       "2 TiB",
			       target);
		goto out;
	}

	if (o->have_uuid)
		memcpy(bo.uuid, o->uuid, 16);
	else if (o->have_epoch) {
		/* the epoch alone would give every domain one UUID */
		_cleanup_free_ char *what = NULL;

		if (asprintf(&what, "uuid\n%s",
			     o->identity ? o->identity : "") < 0) {
			r = dm_err_set(err, ENOMEM, "%s: %s", target,
				       strerror(ENOMEM));
			goto out;
		}
		derive(bo.uuid, what, (uint64_t)o->epoch);
		uuid_v4_bits(bo.uuid);
	} else {
		r = random_bytes(bo.uuid, 16);
		if (r < 0)
			goto random_failed;
		uuid_v4_bits(bo.uuid);
	}
	if (o->have_epoch) {
		uint64_t u;

		memcpy(&u, bo.uuid, 8);
		derive(bo.hash_seed, "hash seed", u ^ (uint64_t)o->epoch);
	} else {
		r = random_bytes(bo.hash_seed, 16);
		if (r < 0)
			goto random_failed;
	}
	bo.now = o->have_epoch ? o->epoch : (int64_t)time(NULL);
	bo.label = o->label;
	bo.fs_offset = fs_offset;
	bo.zero_itable = t.block_device;
	bo.progress = o->progress;
	bo.progress_ctx = o->progress_ctx;

	/* from here on a block device's old filesystem may be gone */
	ret->wiped = t.block_device;
	r = img_target_prepare(&t, total, fs_offset, err);
	if (r < 0)
		goto out;
	r = img_ext_build(v, &plan, &t, &bo, err);
	if (r < 0)
		goto out;
	if (o->partition == IMG_PART_MSDOS) {
		uint8_t mbr[IMG_MBR_SIZE];
		uint32_t disk_id;

		memcpy(&disk_id, bo.uuid + 12, 4);
		r = img_mbr_encode(mbr, fs_offset / 512,
				   (total - fs_offset) / 512, disk_id);
		if (r == 0)
			r = dm_pwrite_all(t.fd, mbr, sizeof(mbr), 0);
		if (r < 0) {
			r = dm_err_set(err, -r,
				       "%s: writing the partition table: %s",
				       target, strerror(-r));
			goto out;
		}
	}
	r = img_target_commit(&t, err);
	if (r < 0)
		goto out;

	ret->wiped = t.block_device;
	ret->size = total;
	ret->fs_size = g.blocks * IMG_BLOCK_SIZE;
	ret->size_computed = computed;
	ret->block_device = t.block_device;
	/* the view's, without the lost+found the commit added */
	ret->entries = plan.nents + 1 - (plan.add_lost_found ? 1 : 0);
	ret->inodes = plan.nnodes - (plan.add_lost_found ? 1 : 0);
	ret->bytes = plan.bytes;
	ret->seconds = now_seconds() - t0;
	goto out;
random_failed:
	r = dm_err_set(err, -r, "reading random bytes: %s", strerror(-r));
out:
	if (r < 0 && r != -ECANCELED && ret->wiped)
		no_filesystem_now(err, target);
	img_target_close(&t);
	img_plan_free(&plan);
	return r;
}
