// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * domufs mount: index (or find) the template in the foreground, so every
 * error is reported before anything is mounted, then serve the view.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "common/cleanup.h"
#include "fusefs/fll.h"

static const char help[] =
	"Usage: domufs mount [OPTIONS] TEMPLATE MOUNTPOINT\n"
	"       domufs mount --domain FILE [OPTIONS] MOUNTPOINT\n"
	"\n"
	"Mounts TEMPLATE at MOUNTPOINT: read-only, or writable with every change\n"
	"kept in the overlay directory. Returns once the mount is ready (or has\n"
	"failed, with status 1). Unmount with fusermount3 -u.\n"
	"\n"
	"  --overlay DIR    the per-domain overlay directory (writable mount)\n"
	"  --domain FILE    the domain profile (xl.cfg syntax): the Xen fixups\n"
	"                   apply on the fly; its `template`/`overlay` keys give\n"
	"                   defaults for TEMPLATE and --overlay\n"
	"  --fs FS          ext2, ext3 or ext4 (default), and\n"
	"  --partition PT   none (default) or msdos: with --domain, the fixups\n"
	"                   as a commit with these writes them (fstab, the\n"
	"                   boot menu's root=)\n"
	"  --cache-dir DIR  cache location (default $XDG_CACHE_HOME/domufs,\n"
	"                   /var/cache/domufs for root)\n"
	"  -f, --foreground stay in the foreground until unmounted\n"
	"  -o OPTS          FUSE mount options (allow_other, ...); repeatable\n"
	"  --ready-fd FD    write \"ready\\n\" to FD once mounted\n"
	"  --poll-us N      after a reply, the reading thread polls for the next\n"
	"                   request for up to N microseconds before it sleeps\n"
	"                   (default 100; 0: never); with --io-uring, every\n"
	"                   queue thread polls while requests came that recently\n"
	"                   (on more than 4 CPUs, only a queue that was busy)\n"
	"  --io-uring       serve requests through io_uring, one queue per CPU\n"
	"                   (also -o io_uring, as libfuse spells it)\n"
	"                   (Linux 6.14 or later with the fuse module parameter\n"
	"                   enable_uring=Y; otherwise a warning, and /dev/fuse)\n"
	"  --no-pm-qos      let idle CPUs sleep while requests come less than\n"
	"                   1 ms apart (by default a daemon run as root holds\n"
	"                   a PM QoS CPU latency request of 0 us meanwhile,\n"
	"                   and no thread polls)\n"
	"  --fakeroot       act as root in the mount, as fakeroot(1) does: no\n"
	"                   permission checks, new files owned by root (for an\n"
	"                   ordinary user's mount: edit root's files; not with\n"
	"                   -o allow_other; device nodes and file capabilities\n"
	"                   still need root; also -o fakeroot, as fuse2fs\n"
	"                   spells it)\n"
	"  -d, --debug      FUSE debug output on stderr; stays in the foreground\n"
	"                   (implies -f)\n";

/*
 * Takes option @name (libfuse's spelling of --io-uring, io_uring; fuse2fs's
 * of --fakeroot) out of a -o list, in place; true when it was there.
 */
static bool take_opt(char *opts, const char *name)
{
	size_t nlen = strlen(name);
	char *in = opts, *out = opts;
	bool found = false;

	while (*in) {
		size_t len = strcspn(in, ",");

		if (len == nlen && !strncmp(in, name, nlen)) {
			found = true;
		} else if (len) {
			if (out != opts)
				*out++ = ',';
			memmove(out, in, len);
			out += len;
		}
		in += len;
		if (*in == ',')
			in++;
	}
	*out = '\0';
	return found;
}

int cli_cmd_mount(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_VIEW_LONGOPTS,
		CLI_LAYOUT_LONGOPTS,
		{ "foreground", no_argument, NULL, 'f' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{ "poll-us", required_argument, NULL, 'p' },
		{ "io-uring", no_argument, NULL, 'u' },
		{ "no-pm-qos", no_argument, NULL, 'q' },
		{ "fakeroot", no_argument, NULL, 'R' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct cli_view_opts vo = { 0 };
	struct cli_view cv;
	const char *fuse_opts[64];
	size_t nopts = 0;
	struct fll_opts fo = { .ready_fd = -1,
			       .poll_us = FLL_POLL_US_DEFAULT,
			       .cpu_awake = true };
	_cleanup_free_ char *mountpoint = NULL;
	long poll_us, ready_fd;
	bool shared = false;
	struct dm_err err = { 0 };
	char *end;
	int c, r;

	while ((c = cli_getopt("mount", argc, argv, "fo:dh", longopts)) != -1) {
		switch (c) {
		case CLI_OPT_CACHE_DIR:
		case CLI_OPT_OVERLAY:
		case CLI_OPT_DOMAIN:
			cli_view_opt(c, optarg, &vo);
			break;
		case CLI_OPT_LAYOUT_FS:
		case CLI_OPT_LAYOUT_PARTITION:
			r = cli_layout_opt("mount", c, optarg, &vo);
			if (r)
				return r;
			break;
		case 'f':
			fo.foreground = true;
			break;
		case 'o':
			if (nopts + 1 >=
			    (sizeof(fuse_opts) / sizeof(fuse_opts[0])))
				return cli_usage_error("mount", "too many -o");
			if (take_opt(optarg, "io_uring"))
				fo.io_uring = true;
			if (take_opt(optarg, "fakeroot"))
				fo.fakeroot = true;
			if (strstr(optarg, "allow_"))
				shared = true;
			if (*optarg)
				fuse_opts[nopts++] = optarg;
			break;
		case 'r':
			errno = 0;
			ready_fd = strtol(optarg, &end, 10);
			if (*end || end == optarg || errno || ready_fd < 0 ||
			    ready_fd > INT_MAX)
				return cli_usage_error(
					"mount", "bad --ready-fd '%s'", optarg);
			fo.ready_fd = (int)ready_fd;
			/* found closed only once mounted, it would go unsaid */
			if (fcntl(fo.ready_fd, F_GETFD) < 0)
				return cli_usage_error(
					"mount",
					"--ready-fd %d: not an open file "
					"descriptor",
					fo.ready_fd);
			break;
		case 'p':
			poll_us = strtol(optarg, &end, 10);
			if (*end || end == optarg || poll_us < 0 ||
			    poll_us > 1000000)
				return cli_usage_error(
					"mount", "bad --poll-us '%s'", optarg);
			fo.poll_us = (unsigned)poll_us;
			break;
		case 'u':
			fo.io_uring = true;
			break;
		case 'R':
			fo.fakeroot = true;
			break;
		case 'q':
			fo.cpu_awake = false;
			break;
		case 'd':
			fo.debug = true;
			fo.foreground = true;
			break;
		case 'h':
			fputs(help, stdout);
			return CLI_EXIT_OK;
		default:
			return CLI_EXIT_USAGE;
		}
	}
	if (argc - optind == 1 && vo.domain_path) {
		/* the profile's `template` */
		fo.mountpoint = argv[optind];
	} else if (argc - optind == 2) {
		vo.template_path = argv[optind];
		fo.mountpoint = argv[optind + 1];
	} else {
		return cli_usage_error("mount", "expected TEMPLATE MOUNTPOINT");
	}
	if (fo.fakeroot && shared)
		return cli_usage_error("mount",
				       "--fakeroot would give every user of "
				       "the mount root's rights: not with "
				       "allow_other or allow_root");
	fuse_opts[nopts] = NULL;
	fo.fuse_opts = fuse_opts;
	/* going to the background points fds 0-2 at /dev/null: keep a copy */
	if (!fo.foreground && fo.ready_fd >= 0 && fo.ready_fd <= 2)
		fo.ready_fd = fcntl(fo.ready_fd, F_DUPFD_CLOEXEC, 3);

	/* Check the mountpoint first: no indexing for a mount that can't be. */
	if (fll_check_mountpoint(fo.mountpoint, &err) < 0) {
		cli_error("%s", err.msg);
		return CLI_EXIT_RUNTIME;
	}
	/*
	 * Absolute: the daemon unmounts by this name when a signal stops it,
	 * from the directory it moved to when it went to the background.
	 */
	mountpoint = realpath(fo.mountpoint, NULL);
	if (!mountpoint) {
		cli_error("%s: %s", fo.mountpoint, strerror(errno));
		return CLI_EXIT_RUNTIME;
	}
	fo.mountpoint = mountpoint;
	r = cli_view_open(&vo, &cv);
	if (r != CLI_EXIT_OK)
		return r;
	fo.fsname = cv.template_path;
	/*
	 * The daemon creates files with the modes its callers ask for, their
	 * umask applied by the view (or a default ACL deciding instead).
	 */
	umask(0);
	/* the writable view keeps directory fds open: room for them */
	{
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
		    rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	r = fll_run(cv.view, &fo, &err);
	cli_view_close(&cv);
	if (r < 0) {
		cli_error("%s", err.msg);
		return CLI_EXIT_RUNTIME;
	}
	return CLI_EXIT_OK;
}
