// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Commit targets: what a target is, the refusals made before anything is
 * written (mounted, in use, holding a filesystem, a running Xen domain's
 * disk), and how it is written: an image file as a temporary beside it,
 * renamed into place once synced; a block device in place, held O_EXCL,
 * its old signatures wiped first so that an interrupted commit leaves
 * nothing that looks like a filesystem.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/atomic.h"
#include "common/cleanup.h"
#include "common/io.h"
#include "common/path.h"
#include "common/sysfs.h"
#include "image/img-internal.h"

#define PROBE_LEN (72u * 1024u)
#define TAIL_LEN (128u * 1024u) /* md 0.90 sits up to 128 KiB from the end */

static bool at(const uint8_t *buf, size_t len, size_t off, const void *magic,
	       size_t mlen)
{
	return off + mlen <= len && memcmp(buf + off, magic, mlen) == 0;
}

const char *img_probe_signature(const uint8_t *buf, size_t len)
{
	static const uint8_t ext_magic[] = { 0x53, 0xef };
	static const uint8_t luks[] = { 'L', 'U', 'K', 'S', 0xba, 0xbe };
	static const uint8_t md[] = { 0xfc, 0x4e, 0x2b, 0xa9 };
	static const uint8_t f2fs[] = { 0x10, 0x20, 0xf5, 0xf2 };
	static const uint8_t mbr[] = { 0x55, 0xaa };

	if (at(buf, len, 1024 + 56, ext_magic, 2))
		return "an ext2/ext3/ext4 filesystem";
	if (at(buf, len, 0, "XFSB", 4))
		return "an XFS filesystem";
	if (at(buf, len, 65536 + 64, "_BHRfS_M", 8))
		return "a btrfs filesystem";
	if (at(buf, len, 4096 - 10, "SWAPSPACE2", 10) ||
	    at(buf, len, 4096 - 10, "SWAP-SPACE", 10))
		return "swap space";
	for (size_t s = 0; s < 4; s++)
		if (at(buf, len, s * 512, "LABELONE", 8))
			return "an LVM physical volume";
	if (at(buf, len, 0, luks, sizeof(luks)))
		return "a LUKS volume";
	if (at(buf, len, 0, md, 4) || at(buf, len, 4096, md, 4))
		return "a RAID member";
	if (at(buf, len, 0, "hsqs", 4))
		return "a squashfs filesystem";
	if (at(buf, len, 1024, f2fs, 4))
		return "an F2FS filesystem";
	if (at(buf, len, 32769, "CD001", 5))
		return "an ISO 9660 filesystem";
	if (at(buf, len, 512, "EFI PART", 8))
		return "a GPT partition table";
	if (at(buf, len, 3, "NTFS    ", 8))
		return "an NTFS filesystem";
	if (at(buf, len, 510, mbr, 2))
		return "a partition table or boot sector";
	return NULL;
}

const char *img_probe_archive(const uint8_t *buf, size_t len)
{
	static const uint8_t gzip[] = { 0x1f, 0x8b };
	static const uint8_t zstd[] = { 0x28, 0xb5, 0x2f, 0xfd };
	static const uint8_t xz[] = { 0xfd, '7', 'z', 'X', 'Z', 0x00 };

	if (at(buf, len, 257, "ustar", 5))
		return "a tar archive";
	if (at(buf, len, 0, gzip, sizeof(gzip)))
		return "gzip-compressed data";
	if (at(buf, len, 0, zstd, sizeof(zstd)))
		return "zstd-compressed data";
	if (at(buf, len, 0, xz, sizeof(xz)))
		return "xz-compressed data";
	if (at(buf, len, 0, "BZh", 3) && len > 3 && buf[3] >= '1' &&
	    buf[3] <= '9')
		return "bzip2-compressed data";
	return NULL;
}

static uint64_t le(const uint8_t *p, int bytes)
{
	uint64_t v = 0;

	while (bytes-- > 0)
		v = v << 8 | p[bytes];
	return v;
}

/* The GPT's partitions whose entries lie within @buf. */
static size_t gpt_starts(const uint8_t *buf, size_t len, uint64_t *ret,
			 size_t max)
{
	static const uint8_t unused[16];
	uint64_t lba = le(buf + 512 + 72, 8);
	uint64_t nent = le(buf + 512 + 80, 4), esize = le(buf + 512 + 84, 4);
	size_t n = 0;

	if (esize < 128 || lba == 0 || lba > len / 512)
		return 0;
	for (uint64_t i = 0; i < nent && n < max; i++) {
		uint64_t off = lba * 512 + i * esize;

		if (off + 40 > len)
			break;
		if (memcmp(buf + off, unused, 16) && le(buf + off + 32, 8))
			ret[n++] = le(buf + off + 32, 8) * 512;
	}
	return n;
}

size_t img_probe_partitions(const uint8_t *buf, size_t len, uint64_t *ret,
			    size_t max)
{
	size_t n = 0;

	if (len < 1024 || buf[510] != 0x55 || buf[511] != 0xaa)
		return 0;
	if (!memcmp(buf + 512, "EFI PART", 8))
		return gpt_starts(buf, len, ret, max);
	for (int i = 0; i < 4 && n < max; i++) {
		const uint8_t *e = buf + 446 + 16 * i;

		/* a boot sector's code is not a table: flags 0 or 0x80 */
		if ((e[0] & 0x7f) || e[4] == 0 || e[4] == 0xee ||
		    !le(e + 8, 4) || !le(e + 12, 4))
			continue;
		ret[n++] = le(e + 8, 4) * 512;
	}
	return n;
}

/* True when the last @len bytes of a @size-byte target, @buf, hold @magic. */
static bool at_end(const uint8_t *buf, size_t len, uint64_t size, uint64_t pos,
		   const void *magic, size_t mlen)
{
	return pos >= size - len &&
	       at(buf, len, pos - (size - len), magic, mlen);
}

const char *img_probe_tail(const uint8_t *buf, size_t len, uint64_t size)
{
	static const uint8_t md_le[] = { 0xfc, 0x4e, 0x2b, 0xa9 };
	static const uint8_t md_be[] = { 0xa9, 0x2b, 0x4e, 0xfc };
	uint64_t sectors = size / 512;

	if (len > size)
		return NULL;
	/* 0.90: in the last 64 KiB-aligned 64 KiB; host byte order */
	if (size >= (128u << 10)) {
		uint64_t pos = (size & ~(uint64_t)0xffff) - 0x10000;

		if (at_end(buf, len, size, pos, md_le, 4) ||
		    at_end(buf, len, size, pos, md_be, 4))
			return "a RAID member";
	}
	/* 1.0: 8 to 12 KiB from the end, 4 KiB-aligned; little-endian */
	if (sectors >= 24 &&
	    at_end(buf, len, size, ((sectors - 16) & ~(uint64_t)7) * 512, md_le,
		   4))
		return "a RAID member";
	if (sectors >= 2 &&
	    at_end(buf, len, size, (sectors - 1) * 512, "EFI PART", 8))
		return "a GPT partition table (backup header)";
	return NULL;
}

/* Reads up to @want bytes at @off; the count read in *@len. */
static int read_probe(int fd, uint8_t *buf, size_t want, uint64_t off,
		      size_t *len)
{
	size_t o = 0;

	while (o < want) {
		ssize_t n = pread(fd, buf + o, want - o, (off_t)(off + o));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		o += (size_t)n;
	}
	*len = o;
	return 0;
}

/* sysfs directory of a block device, resolved ("" when unknown). */
static void sysfs_dir(dev_t dev, char *buf, size_t size)
{
	char p[64];

	snprintf(p, sizeof(p), "/sys/dev/block/%u:%u", major(dev), minor(dev));
	if (!realpath(p, buf))
		buf[0] = '\0';
	(void)size;
}

/* True when @dev is @disk or one of its partitions. */
static bool dev_on_disk(dev_t dev, dev_t disk, const char *disk_sys)
{
	char sys[PATH_MAX], parent[PATH_MAX];
	char *slash;

	if (dev == disk)
		return true;
	if (!disk_sys[0])
		return false;
	sysfs_dir(dev, sys, sizeof(sys));
	if (!sys[0])
		return false;
	snprintf(parent, sizeof(parent), "%s", sys);
	slash = strrchr(parent, '/');
	if (!slash)
		return false;
	*slash = '\0';
	return strcmp(parent, disk_sys) == 0;
}

/*
 * Finds a mount of @disk or one of its partitions in mountinfo; fills
 * @where with the mountpoint. 1 when mounted, 0 when not.
 */
static int find_mount(dev_t disk, char *where, size_t size)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	char disk_sys[PATH_MAX];
	char *line = NULL;
	size_t cap = 0;
	int found = 0;

	if (!f)
		return 0;
	sysfs_dir(disk, disk_sys, sizeof(disk_sys));
	while (!found && getline(&line, &cap, f) > 0) {
		unsigned maj, mnr;
		char mp[PATH_MAX];

		if (sscanf(line, "%*s %*s %u:%u %*s %4095s", &maj, &mnr, mp) !=
		    3)
			continue;
		if (maj == 0)
			continue; /* virtual filesystems */
		if (dev_on_disk(makedev(maj, mnr), disk, disk_sys)) {
			dm_path_unescape_octal(mp);
			snprintf(where, size, "%s", mp);
			found = 1;
		}
	}
	free(line);
	return found;
}

/* Reads the first line of a small (sysfs) file; 0 or -errno. */
static void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

/* True when the loop device @rdev is backed by @st (a file or a device). */
static bool loop_backed_by(dev_t rdev, const struct stat *st)
{
	struct stat bst;

	if (!dm_loop_backing(rdev, &bst))
		return false;
	if (S_ISBLK(st->st_mode))
		return S_ISBLK(bst.st_mode) && bst.st_rdev == st->st_rdev;
	return S_ISREG(bst.st_mode) && bst.st_dev == st->st_dev &&
	       bst.st_ino == st->st_ino;
}

/*
 * Whether the loop device /dev/@name (@rdev) is in use: 1 with its
 * mountpoint in @where, or "" when something else holds it exclusively.
 */
static int loop_in_use(const char *name, dev_t rdev, char *where, size_t wsize)
{
	char dev[64];
	int fd;

	if (find_mount(rdev, where, wsize))
		return 1;
	snprintf(dev, sizeof(dev), "/dev/%.32s", name);
	fd = open(dev, O_RDONLY | O_EXCL | O_CLOEXEC | O_NOCTTY);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno != EBUSY)
		return 0;
	where[0] = '\0';
	return 1;
}

/*
 * The next loop device in /sys/block @d: its name in @name, its number
 * in *@rdev; false after the last.
 */
static bool next_loop(DIR *d, char *name, size_t size, dev_t *rdev)
{
	struct dirent *de;

	while ((de = readdir(d))) {
		char p[PATH_MAX], devs[32];
		unsigned maj, mnr;

		if (strncmp(de->d_name, "loop", 4))
			continue;
		snprintf(p, sizeof(p), "/sys/block/%s/dev", de->d_name);
		if (dm_read_line(p, devs, sizeof(devs)) < 0 ||
		    sscanf(devs, "%u:%u", &maj, &mnr) != 2)
			continue;
		snprintf(name, size, "%s", de->d_name);
		*rdev = makedev(maj, mnr);
		return true;
	}
	return false;
}

#define LOOP_DEPTH 8 /* loop devices stacked on loop devices, at most */

/*
 * A target (@st: an image file or a block device) that backs a loop
 * device in use, directly or through loop devices stacked on it: 1 and
 * that loop device's name in @loop, its mountpoint in @where ("" when it
 * is held but not mounted).
 */
static int find_loop_user(const struct stat *st, int depth, dev_t skip,
			  char *loop, size_t lsize, char *where, size_t wsize)
{
	_cleanup_(closedirp) DIR *d = opendir("/sys/block");
	char name[256];
	struct stat lst = { .st_mode = S_IFBLK };

	if (!d || depth >= LOOP_DEPTH)
		return 0;
	while (next_loop(d, name, sizeof(name), &lst.st_rdev)) {
		if (lst.st_rdev == skip || !loop_backed_by(lst.st_rdev, st))
			continue;
		if (loop_in_use(name, lst.st_rdev, where, wsize)) {
			snprintf(loop, lsize, "/dev/%.32s", name);
			return 1;
		}
		if (find_loop_user(&lst, depth + 1, skip, loop, lsize, where,
				   wsize))
			return 1;
	}
	return 0;
}

/* Refuses a target that backs a loop device in use (see find_loop_user()). */
static int check_loops(const char *path, const struct stat *st,
		       struct dm_err *err)
{
	char where[PATH_MAX], loop[64];

	if (!find_loop_user(st, 0, 0, loop, sizeof(loop), where, sizeof(where)))
		return 0;
	if (!where[0])
		return dm_err_set(err, EBUSY,
				  "%s: in use: backs %s, which is in use", path,
				  loop);
	return dm_err_set(err, EBUSY, "%s: in use: backs %s, mounted on %s",
			  path, loop, where);
}

/* The backing file of the loop device @rdev, by name; "" when none. */
static void loop_backing_name(dev_t rdev, char *buf, size_t size)
{
	char p[96];

	snprintf(p, sizeof(p), "/sys/dev/block/%u:%u/loop/backing_file",
		 major(rdev), minor(rdev));
	if (dm_read_line(p, buf, size) < 0)
		buf[0] = '\0';
}

/*
 * A loop device target @st whose backing (a file or a device, and so on
 * down a stack of loop devices) backs another loop device that is in use,
 * or is a mounted device: refused like the target itself (the other loop
 * device reads the blocks the commit would write).
 */
static int check_shared_backing(const char *path, const struct stat *st,
				struct dm_err *err)
{
	char where[PATH_MAX], loop[64], file[PATH_MAX];
	dev_t rdev = st->st_rdev;
	struct stat bst;

	for (int depth = 0; depth < LOOP_DEPTH; depth++) {
		if (!dm_loop_backing(rdev, &bst))
			return 0;
		loop_backing_name(rdev, file, sizeof(file));
		if (S_ISBLK(bst.st_mode) &&
		    find_mount(bst.st_rdev, where, sizeof(where)))
			return dm_err_set(err, EBUSY,
					  "%s: in use: backed by %s, mounted "
					  "on %s",
					  path, file, where);
		/* the target itself and what is stacked on it: above */
		if (find_loop_user(&bst, 0, st->st_rdev, loop, sizeof(loop),
				   where, sizeof(where))) {
			if (!where[0])
				return dm_err_set(err, EBUSY,
						  "%s: in use: its backing %s "
						  "also backs %s, which is in "
						  "use",
						  path, file, loop);
			return dm_err_set(err, EBUSY,
					  "%s: in use: its backing %s also "
					  "backs %s, mounted on %s",
					  path, file, loop, where);
		}
		if (!S_ISBLK(bst.st_mode))
			return 0;
		rdev = bst.st_rdev;
	}
	return 0;
}

/*
 * A block device @st backed through loop devices (stacked ones too) by a
 * file in @o->protect (the template): refused even with --force, naming
 * both (the commit would overwrite what it reads).
 */
static int check_protected(const char *path, const struct stat *st,
			   const struct img_commit_opts *o, struct dm_err *err)
{
	for (size_t i = 0; i < IMG_PROTECT_MAX; i++) {
		const struct img_protect *pr = &o->protect[i];
		dev_t rdev = st->st_rdev;
		struct stat pst, bst;

		if (!pr->path || stat(pr->path, &pst) < 0)
			continue;
		for (int depth = 0; depth < LOOP_DEPTH; depth++) {
			if (!dm_loop_backing(rdev, &bst))
				break;
			if (S_ISREG(bst.st_mode) && bst.st_dev == pst.st_dev &&
			    bst.st_ino == pst.st_ino)
				return dm_err_set(err, EINVAL,
						  "%s: backed by %s, %s: a "
						  "filesystem would replace it",
						  path, pr->path, pr->what);
			if (!S_ISBLK(bst.st_mode))
				break;
			rdev = bst.st_rdev;
		}
	}
	return 0;
}

/*
 * An image file @st that backs an attached loop device, even one not in
 * use: the loop device would go on reading the old image, deleted, once
 * the new one is renamed into place. Refused unless --force; with it, a
 * warning.
 */
static int check_attached(const char *path, const struct stat *st,
			  const struct img_commit_opts *o, struct dm_err *err)
{
	_cleanup_(closedirp) DIR *d = opendir("/sys/block");
	char name[256];
	dev_t rdev;

	while (d && next_loop(d, name, sizeof(name), &rdev)) {
		if (!loop_backed_by(rdev, st))
			continue;
		if (!o->force)
			return dm_err_set(err, EBUSY,
					  "%s: backs /dev/%.32s, which would "
					  "go on reading the old image; detach "
					  "it, or use --force",
					  path, name);
		dm_warn(o->warn, o->warn_ctx,
			"%s: backs /dev/%.32s, which goes on reading the old "
			"image (deleted): detach it",
			path, name);
	}
	return 0;
}

/* The caller's check (a running Xen domain's disk), when there is one. */
static int check_target(const char *path, const struct img_commit_opts *o,
			struct dm_err *err)
{
	return o->check_target ? o->check_target(o->check_ctx, path, err) : 0;
}

/* What the first PROBE_LEN and the last TAIL_LEN bytes of @fd show. */
static int probe(int fd, uint64_t size, bool archives, const char **ret)
{
	_cleanup_free_ uint8_t *buf = malloc(TAIL_LEN);
	size_t len = 0, tail = size < TAIL_LEN ? (size_t)size : TAIL_LEN;
	int r;

	if (!buf)
		return -ENOMEM;
	r = read_probe(fd, buf, PROBE_LEN, 0, &len);
	if (r < 0)
		return r;
	*ret = img_probe_signature(buf, len);
	if (!*ret && archives)
		*ret = img_probe_archive(buf, len);
	if (*ret)
		return 0;
	r = read_probe(fd, buf, tail, size - tail, &len);
	if (r < 0)
		return r;
	*ret = len == tail ? img_probe_tail(buf, len, size) : NULL;
	return 0;
}

/*
 * Refuses (unless @force) a @size-byte target holding a signature at its
 * start or end; with @archives also one holding a tarball or a compressed
 * stream (an image target named where the template was meant: a tarball
 * export replaces one).
 */
static int check_signature(const char *path, int fd, uint64_t size, bool force,
			   bool archives, struct dm_err *err)
{
	const char *what = NULL;
	int r;

	r = probe(fd, size, archives, &what);
	if (r < 0)
		return dm_err_set(err, -r, "%s: %s", path, strerror(-r));
	if (what && !force)
		return dm_err_set(err, EEXIST,
				  "%s: holds %s; use --force to overwrite it",
				  path, what);
	return 0;
}

/*
 * The refusals for an existing regular file @path (@st: its stat);
 * @archives: see check_signature().
 */
static int check_file(const char *path, const struct stat *st,
		      const struct img_commit_opts *o, bool archives,
		      struct dm_err *err)
{
	_cleanup_close_ int fd = -1;
	int r;

	r = check_loops(path, st, err);
	/* domains have file-backed disks too */
	if (r == 0)
		r = check_target(path, o, err);
	/* last of the refusals: with --force it warns */
	if (r == 0)
		r = check_attached(path, st, o, err);
	if (r < 0)
		return r;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return dm_err_set(err, errno, "%s: %s", path, strerror(errno));
	return check_signature(path, fd, (uint64_t)st->st_size, o->force,
			       archives, err);
}

int img_target_check_file(const char *path, const struct img_commit_opts *o,
			  struct dm_err *err)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return dm_err_set(err, errno, "%s: %s", path, strerror(errno));
	}
	if (!S_ISREG(st.st_mode))
		return dm_err_set(err, EINVAL,
				  "%s: not a regular file (a tarball is "
				  "written as a new file)",
				  path);
	return check_file(path, &st, o, false, err);
}

/* Notes where the partitions of the block device's old table start. */
static int read_old_partitions(struct img_target *t, struct dm_err *err)
{
	_cleanup_free_ uint8_t *buf = malloc(PROBE_LEN);
	size_t len = 0;
	int r;

	if (!buf)
		return -ENOMEM;
	r = read_probe(t->fd, buf, PROBE_LEN, 0, &len);
	if (r < 0)
		return dm_err_set(err, -r, "%s: %s", t->path, strerror(-r));
	t->nold_parts =
		img_probe_partitions(buf, len, t->old_parts, IMG_OLD_PARTS_MAX);
	return 0;
}

int img_target_open(const char *path, const struct img_commit_opts *o,
		    struct img_target *ret, struct dm_err *err)
{
	char where[PATH_MAX];
	struct stat st;
	int r;

	memset(ret, 0, sizeof(*ret));
	ret->fd = -1;
	if (strlen(path) >= sizeof(ret->path) - 32)
		return dm_err_set(err, ENAMETOOLONG, "%s: name too long", path);
	strcpy(ret->path, path);
	if (stat(path, &st) < 0) {
		if (errno != ENOENT)
			return dm_err_set(err, errno, "%s: %s", path,
					  strerror(errno));
		return 0; /* a new image file */
	}
	ret->exists = true;
	ret->dev = st.st_dev;
	ret->ino = st.st_ino;
	if (S_ISREG(st.st_mode))
		return check_file(path, &st, o, true, err);
	if (!S_ISBLK(st.st_mode))
		return dm_err_set(err, EINVAL,
				  "%s: not a regular file or block device",
				  path);
	ret->block_device = true;
	ret->discard = !o->no_discard;
	if (find_mount(st.st_rdev, where, sizeof(where)))
		return dm_err_set(err, EBUSY, "%s: mounted on %s", path, where);
	r = check_loops(path, &st, err);
	if (r == 0)
		r = check_shared_backing(path, &st, err);
	if (r == 0)
		r = check_protected(path, &st, o, err);
	if (r < 0)
		return r;
	r = check_target(path, o, err);
	if (r < 0)
		return r;
	ret->fd = open(path, O_RDWR | O_EXCL | O_CLOEXEC | O_NOCTTY);
	if (ret->fd < 0) {
		r = -errno;
		if (r == -EBUSY)
			return dm_err_set(err, EBUSY,
					  "%s: in use (mounted, swap, or held "
					  "by another program)",
					  path);
		return dm_err_set(err, -r, "%s: %s", path, strerror(-r));
	}
	if (ioctl(ret->fd, BLKGETSIZE64, &ret->device_size) < 0) {
		r = -errno;
		img_target_close(ret);
		return dm_err_set(err, -r, "%s: reading its size: %s", path,
				  strerror(-r));
	}
	r = check_signature(path, ret->fd, ret->device_size, o->force, true,
			    err);
	if (r == 0)
		r = read_old_partitions(ret, err);
	if (r < 0)
		img_target_close(ret);
	return r;
}

static int zero_range(int fd, uint64_t off, uint64_t len, uint64_t dev_size)
{
	static const uint8_t zeros[64 * 1024];

	if (off >= dev_size)
		return 0;
	if (len > dev_size - off)
		len = dev_size - off;
	while (len > 0) {
		size_t n = len > sizeof(zeros) ? sizeof(zeros) : (size_t)len;
		int r = dm_pwrite_all(fd, zeros, n, off);

		if (r < 0)
			return r;
		off += n;
		len -= n;
	}
	return 0;
}

/* The backup superblocks of an ext2 filesystem at @base, any block size. */
static int wipe_backups(int fd, uint64_t base, uint64_t dev_size)
{
	int r = 0;

	for (uint64_t bs = 1024; r == 0 && bs <= 65536; bs *= 2) {
		uint64_t blk = bs * 8 + (bs == 1024 ? 1 : 0);

		r = zero_range(fd, base + blk * bs, 1024, dev_size);
	}
	return r;
}

/*
 * Wipes what probes look at: every place e2fsck looks for a backup ext2
 * superblock (group 1 for each block size) of the new filesystem, of the
 * whole device and of each partition the old table listed; the start of
 * each of those partitions (what blkid -O finds there, as wipefs would
 * erase it) and the new filesystem's first 64 KiB; the first MiB (boot
 * sector, partition tables, primary superblocks), the last MiB (GPT
 * backup, RAID superblocks). In that order: a commit killed half way
 * through the wipe leaves the old filesystem whole but for a backup
 * superblock, or nothing.
 */
static int wipe(const struct img_target *t, uint64_t fs_offset)
{
	uint64_t size = t->device_size;
	int r = wipe_backups(t->fd, fs_offset, size);

	if (r == 0)
		r = wipe_backups(t->fd, 0, size);
	for (size_t i = 0; r == 0 && i < t->nold_parts; i++)
		r = wipe_backups(t->fd, t->old_parts[i], size);
	for (size_t i = 0; r == 0 && i < t->nold_parts; i++)
		r = zero_range(t->fd, t->old_parts[i], PROBE_LEN, size);
	if (r == 0)
		r = zero_range(t->fd, fs_offset, 64u << 10, size);
	if (r == 0)
		r = zero_range(t->fd, 0, 1u << 20, size);
	if (r == 0 && size > (1u << 20))
		r = zero_range(t->fd, size - (1u << 20), 1u << 20, size);
	if (r == 0 && fsync(t->fd) < 0)
		r = -errno;
	return r;
}

/*
 * Discards the whole block device, after the wipe (a commit killed
 * during a long discard leaves nothing that looks like a filesystem): a
 * thin volume gets its space back, and the last domain's data does not
 * stay readable in the new filesystem's free blocks. 1 when discarded, 0
 * when not wanted or the device cannot (EOPNOTSUPP), or -errno.
 */
static int discard(const struct img_target *t)
{
	uint64_t range[2] = { 0, t->device_size };

	if (!t->discard)
		return 0;
	if (ioctl(t->fd, BLKDISCARD, range) == 0)
		return 1;
	if (errno == EOPNOTSUPP || errno == ENOTTY)
		return 0;
	return -errno;
}

int img_target_prepare(struct img_target *t, uint64_t size, uint64_t fs_offset,
		       struct dm_err *err)
{
	int r;

	if (t->block_device) {
		r = wipe(t, fs_offset);
		if (r < 0)
			return dm_err_set(err, -r, "%s: wiping: %s", t->path,
					  strerror(-r));
		r = discard(t);
		if (r < 0)
			return dm_err_set(err, -r, "%s: discarding: %s",
					  t->path, strerror(-r));
		/* a device may read discarded blocks back as they were */
		if (r > 0)
			r = wipe(t, fs_offset);
		if (r < 0)
			return dm_err_set(err, -r, "%s: wiping: %s", t->path,
					  strerror(-r));
		return 0;
	}
	/* 0600 when new (a domain's root holds its /etc/shadow and SSH keys);
	   a replaced image keeps its own mode (dm_atomic_create()) */
	r = dm_atomic_create(t->path, 0600 & dm_file_mode(), t->tmp_path,
			     sizeof(t->tmp_path), err);
	if (r < 0)
		return r;
	t->fd = r;
	if (ftruncate(t->fd, (off_t)size) < 0) {
		r = -errno;
		return dm_err_set(err, -r, "%s: %s", t->path, strerror(-r));
	}
	return 0;
}

int img_target_commit(struct img_target *t, struct dm_err *err)
{
	/* in place only if it is still what was checked (or still none) */
	struct dm_atomic_expect ex = { t->exists, t->dev, t->ino };

	if (!t->block_device)
		return dm_atomic_commit_expect(t->fd, t->tmp_path, t->path, &ex,
					       err);
	if (fsync(t->fd) < 0)
		return dm_err_set(err, errno, "%s: syncing: %s", t->path,
				  strerror(errno));
	return 0;
}

void img_target_close(struct img_target *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	if (t->tmp_path[0])
		unlink(t->tmp_path);
	t->tmp_path[0] = '\0';
}
