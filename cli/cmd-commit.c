// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * domufs commit: the view into a new ext2/3/4 filesystem (image file or
 * block device) or a new template tarball. Options, the progress display
 * (a line on a terminal, JSON lines on request) and the one error line;
 * the work is image/'s.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/cleanup.h"
#include "image/img.h"
#include "templates/tmpl.h"
#include "xen/profile.h"
#include "xen/xs.h"

static const char help[] =
	"Usage: domufs commit [OPTIONS] TEMPLATE TARGET\n"
	"       domufs commit --domain FILE [OPTIONS] TARGET\n"
	"       domufs commit [OPTIONS] --format tar|tar.gz|tar.zst TEMPLATE OUT\n"
	"\n"
	"Writes exactly the tree that 'domufs mount' shows into a new ext2/3/4\n"
	"filesystem on TARGET (an image file, replaced atomically, or a block\n"
	"device written in place), or into a new template tarball OUT.\n"
	"\n"
	"  --overlay DIR        the domain's overlay directory (its changes)\n"
	"  --domain FILE        the domain profile: the Xen fixups are applied;\n"
	"                       its `template`/`overlay` keys give defaults\n"
	"  --cache-dir DIR      cache location (default $XDG_CACHE_HOME/domufs,\n"
	"                       /var/cache/domufs for root)\n"
	"  --fs ext2|ext3|ext4  filesystem type (default ext4)\n"
	"  --size SIZE          image size, K/M/G/T suffixes (default: a block\n"
	"                       device's size; for an image, computed from the tree)\n"
	"  --label LABEL        volume label (at most 16 bytes)\n"
	"  --uuid UUID          filesystem UUID (default random, or derived from\n"
	"                       SOURCE_DATE_EPOCH, the domain, the overlay and\n"
	"                       the template when SOURCE_DATE_EPOCH is set)\n"
	"  --partition none|msdos  msdos: an MBR with one bootable Linux partition\n"
	"                       from 1 MiB on holding the filesystem (default none)\n"
	"  --force              overwrite a target that holds a filesystem or\n"
	"                       partition table\n"
	"  --no-discard         do not discard a block device before writing it\n"
	"                       (default: BLKDISCARD of the whole device)\n"
	"  --progress[=json|none]  a progress line on stderr (default: when stderr\n"
	"                       is a terminal), or one JSON object per line\n"
	"  --format FORMAT      write a template tarball: tar, tar.gz or tar.zst\n"
	"\n"
	"SOURCE_DATE_EPOCH fixes times, UUID and hash seed: equal views committed\n"
	"with the same epoch, domain, overlay and template give bit-identical\n"
	"images. Refused before anything is written: a mounted or\n"
	"busy target, the disk of a running Xen domain (asked of xenstore when\n"
	"there is one), one holding a filesystem (without --force), one too\n"
	"small.\n";

enum progress_mode { PROGRESS_NONE, PROGRESS_LINE, PROGRESS_JSON };

struct progress_ui {
	enum progress_mode mode;
	double t0, last;
	const char *last_phase;
	bool drawn;
	struct img_progress at; /* the last report */
};

static volatile sig_atomic_t cancelled;

static void on_signal(int sig)
{
	(void)sig;
	cancelled = 1;
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fmt_eta(char *buf, size_t size, double s)
{
	long t = s < 0 ? 0 : (long)(s + 0.5);

	if (t >= 3600)
		snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60,
			 t % 60);
	else
		snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
}

static int on_progress(void *ctx, const struct img_progress *p)
{
	struct progress_ui *ui = ctx;
	double now = now_seconds(), el = now - ui->t0;
	double rate = el > 0 ? (double)p->bytes / el : 0;
	double eta = rate > 0 && p->bytes_total > p->bytes ?
			     (double)(p->bytes_total - p->bytes) / rate :
			     0;
	bool phase_changed = ui->last_phase != p->phase;

	ui->at = *p;
	if (cancelled)
		return -ECANCELED;
	if (ui->mode == PROGRESS_NONE)
		return 0;
	if (!phase_changed &&
	    now - ui->last < (ui->mode == PROGRESS_JSON ? 0.5 : 0.1))
		return 0;
	ui->last = now;
	ui->last_phase = p->phase;
	if (ui->mode == PROGRESS_JSON) {
		fprintf(stderr,
			"{\"phase\":\"%s\",\"entries\":%" PRIu64
			",\"entries_total\":%" PRIu64 ",\"bytes\":%" PRIu64
			",\"bytes_total\":%" PRIu64
			",\"elapsed\":%.3f,\"rate\":%.0f,\"eta\":%.1f}\n",
			p->phase, p->entries, p->entries_total, p->bytes,
			p->bytes_total, el, rate, eta);
		fflush(stderr);
		return 0;
	}
	if (p->entries_total) {
		char e[32];

		fmt_eta(e, sizeof(e), eta);
		fprintf(stderr,
			"\r%s: %" PRIu64 "/%" PRIu64
			" entries, %.1f/%.1f MiB, %.1f MiB/s, ETA %s\033[K",
			p->phase, p->entries, p->entries_total,
			(double)p->bytes / (1 << 20),
			(double)p->bytes_total / (1 << 20), rate / (1 << 20),
			e);
	} else
		fprintf(stderr, "\r%s: %" PRIu64 " entries\033[K", p->phase,
			p->entries);
	ui->drawn = true;
	return 0;
}

static void progress_end(struct progress_ui *ui,
			 const struct img_commit_result *res, bool ok)
{
	if (ui->mode == PROGRESS_LINE && ui->drawn)
		fputs("\r\033[K", stderr);
	/* the fields of every other line, so that one parser reads them all */
	if (ui->mode == PROGRESS_JSON && ok)
		fprintf(stderr,
			"{\"phase\":\"done\",\"entries\":%" PRIu64
			",\"entries_total\":%" PRIu64 ",\"bytes\":%" PRIu64
			",\"bytes_total\":%" PRIu64
			",\"elapsed\":%.3f,\"rate\":%.0f,\"eta\":0.0}\n",
			res->entries, res->entries, res->bytes, res->bytes,
			res->seconds,
			res->seconds > 0 ? (double)res->bytes / res->seconds :
					   0);
	fflush(stderr);
}

/* @s as a JSON string's contents: escaped, invalid UTF-8 as U+FFFD. */
static void json_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		size_t n = *p < 0x80	       ? 1 :
			   (*p & 0xe0) == 0xc0 ? 2 :
			   (*p & 0xf0) == 0xe0 ? 3 :
			   (*p & 0xf8) == 0xf0 ? 4 :
						 0;
		size_t i = 1;

		while (i < n && (p[i] & 0xc0) == 0x80)
			i++;
		if (n == 0 || i < n || (n == 2 && *p < 0xc2)) {
			fputs("\\ufffd", f);
			p += i;
		} else if (n > 1) {
			fwrite(p, 1, n, f);
			p += n;
		} else if (*p == '"' || *p == '\\') {
			fprintf(f, "\\%c", *p++);
		} else if (*p < 0x20) {
			fprintf(f, "\\u%04x", *p++);
		} else {
			fputc(*p++, f);
		}
	}
}

/*
 * The one error line on stderr; with --progress=json a last JSON object
 * before it, phase "error", with the line as its "message" (and the
 * fields of every other line, as far as the commit got).
 */
static void __attribute__((format(printf, 2, 3)))
commit_error(struct progress_ui *ui, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ui->mode == PROGRESS_JSON) {
		fprintf(stderr,
			"{\"phase\":\"error\",\"entries\":%" PRIu64
			",\"entries_total\":%" PRIu64 ",\"bytes\":%" PRIu64
			",\"bytes_total\":%" PRIu64
			",\"elapsed\":%.3f,\"rate\":0,\"eta\":0.0,"
			"\"message\":\"",
			ui->at.entries, ui->at.entries_total, ui->at.bytes,
			ui->at.bytes_total, now_seconds() - ui->t0);
		json_string(stderr, msg);
		fputs("\"}\n", stderr);
	}
	cli_error("%s", msg);
}

static int epoch_from_env(struct img_commit_opts *o)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	char *end;
	long long v;

	if (!s || !*s)
		return 0;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < 0)
		return -EINVAL;
	o->have_epoch = true;
	o->epoch = v;
	return 0;
}

/* image/'s target check: refuse the disk of a running Xen domain. */
static int check_xen_target(void *ctx, const char *target, struct dm_err *err)
{
	return xen_xs_check_target(target, err);
}

static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/*
 * What tells this commit from another domain's, for the UUID derived from
 * SOURCE_DATE_EPOCH: the profile's name and hostname, the overlay's and
 * the template's real paths. Equal views committed with the same epoch,
 * domain, overlay and template give equal images.
 */
static char *commit_identity(const struct cli_view_opts *vo,
			     const struct cli_view *cv)
{
	const char *ovl = vo->overlay_dir;
	_cleanup_free_ char *ro = NULL, *rt = NULL;
	char *ret = NULL;

	if (!ovl && cv->profile)
		ovl = cv->profile->overlay_dir;
	if (ovl)
		ro = realpath(ovl, NULL);
	rt = realpath(cv->template_path, NULL);
	if (asprintf(&ret, "domain=%s\nhostname=%s\noverlay=%s\ntemplate=%s",
		     cv->profile && cv->profile->name ? cv->profile->name : "",
		     cv->profile && cv->profile->hostname ?
			     cv->profile->hostname :
			     "",
		     ro	 ? ro :
		     ovl ? ovl :
			   "",
		     rt ? rt : cv->template_path) < 0)
		return NULL;
	return ret;
}

/* The cache data file beside the index (KEY.idx: KEY.data). */
static bool cache_data_path(const struct tmpl_info *info, char *buf,
			    size_t size)
{
	size_t len = strlen(info->index_path);

	if (len < 4 || strcmp(info->index_path + len - 4, ".idx") ||
	    len + 2 >= size)
		return false;
	snprintf(buf, size, "%.*s.data", (int)(len - 4), info->index_path);
	return true;
}

static void fmt_mib(char *buf, size_t size, uint64_t bytes)
{
	snprintf(buf, size, "%.1f MiB", (double)bytes / (1 << 20));
}

int cli_cmd_commit(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_VIEW_LONGOPTS,
		{ "fs", required_argument, NULL, 't' },
		{ "size", required_argument, NULL, 's' },
		{ "label", required_argument, NULL, 'L' },
		{ "uuid", required_argument, NULL, 'U' },
		{ "partition", required_argument, NULL, 'p' },
		{ "force", no_argument, NULL, 'F' },
		{ "no-discard", no_argument, NULL, 'N' },
		{ "progress", optional_argument, NULL, 'P' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct img_commit_opts o = { .fs = IMG_FS_EXT4 };
	struct img_commit_result res = { 0 };
	struct cli_view_opts vo = { 0 };
	struct cli_view cv;
	struct progress_ui ui = { .mode = isatty(STDERR_FILENO) ?
						  PROGRESS_LINE :
						  PROGRESS_NONE };
	struct dm_err err = { 0 };
	_cleanup_free_ char *identity = NULL;
	struct tmpl_info info;
	char data[sizeof(info.index_path)];
	struct sigaction sa = { .sa_handler = on_signal };
	const char *format = NULL, *target;
	enum img_tar_compression comp = IMG_TAR_NONE;
	bool image_opts = false;
	int c, r;

	while ((c = cli_getopt("commit", argc, argv, "h", longopts)) != -1) {
		switch (c) {
		case CLI_OPT_CACHE_DIR:
		case CLI_OPT_OVERLAY:
		case CLI_OPT_DOMAIN:
			cli_view_opt(c, optarg, &vo);
			break;
		case 't':
			image_opts = true;
			if (!strcmp(optarg, "ext2"))
				o.fs = IMG_FS_EXT2;
			else if (!strcmp(optarg, "ext3"))
				o.fs = IMG_FS_EXT3;
			else if (!strcmp(optarg, "ext4"))
				o.fs = IMG_FS_EXT4;
			else
				return cli_usage_error(
					"commit",
					"bad --fs '%s' (ext2, ext3 or ext4)",
					optarg);
			break;
		case 's':
			image_opts = true;
			if (img_parse_size(optarg, &o.size) < 0 || !o.size)
				return cli_usage_error(
					"commit", "bad --size '%s'", optarg);
			break;
		case 'L':
			image_opts = true;
			if (strlen(optarg) > 16)
				return cli_usage_error(
					"commit",
					"--label '%s' is longer than 16 bytes",
					optarg);
			o.label = optarg;
			break;
		case 'U':
			image_opts = true;
			if (img_parse_uuid(optarg, o.uuid) < 0)
				return cli_usage_error(
					"commit", "bad --uuid '%s'", optarg);
			o.have_uuid = true;
			break;
		case 'p':
			image_opts = true;
			if (!strcmp(optarg, "none"))
				o.partition = IMG_PART_NONE;
			else if (!strcmp(optarg, "msdos"))
				o.partition = IMG_PART_MSDOS;
			else
				return cli_usage_error(
					"commit",
					"bad --partition '%s' (none or msdos)",
					optarg);
			break;
		case 'F':
			o.force = true;
			break;
		case 'N':
			image_opts = true;
			o.no_discard = true;
			break;
		case 'P':
			if (!optarg)
				ui.mode = PROGRESS_LINE;
			else if (!strcmp(optarg, "json"))
				ui.mode = PROGRESS_JSON;
			else if (!strcmp(optarg, "none"))
				ui.mode = PROGRESS_NONE;
			else
				return cli_usage_error("commit",
						       "bad --progress '%s'",
						       optarg);
			break;
		case 'f':
			format = optarg;
			if (!strcmp(optarg, "tar"))
				comp = IMG_TAR_NONE;
			else if (!strcmp(optarg, "tar.gz"))
				comp = IMG_TAR_GZIP;
			else if (!strcmp(optarg, "tar.zst"))
				comp = IMG_TAR_ZSTD;
			else
				return cli_usage_error(
					"commit",
					"bad --format '%s' (tar, tar.gz or tar.zst)",
					optarg);
			break;
		case 'h':
			fputs(help, stdout);
			return CLI_EXIT_OK;
		default:
			return CLI_EXIT_USAGE;
		}
	}
	if (argc - optind == 1 && vo.domain_path) {
		/* TEMPLATE from the profile's `template` */
	} else if (argc - optind != 2) {
		return cli_usage_error("commit", "expected TEMPLATE TARGET");
	}
	if (format && image_opts)
		return cli_usage_error(
			"commit", "--format writes a tarball: --fs, --size, "
				  "--label, --uuid, --partition and "
				  "--no-discard do not apply");
	if (epoch_from_env(&o) < 0)
		return cli_usage_error("commit", "bad SOURCE_DATE_EPOCH '%s'",
				       getenv("SOURCE_DATE_EPOCH"));
	if (argc - optind == 2)
		vo.template_path = argv[optind++];
	target = argv[optind];
	if (!format) {
		/* for the fixups that depend on what is written (fstab) */
		static const char *const fsname[] = { "ext2", "ext3", "ext4" };

		vo.fs_type = fsname[o.fs];
		vo.partitioned = o.partition == IMG_PART_MSDOS;
	}

	/* from here on a signal cancels: the commit cleans up after itself */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* a reader of the output gone (`| head`): cancelled too, cleaned up */
	sigaction(SIGPIPE, &sa, NULL);
	ui.t0 = now_seconds();
	r = cli_view_open(&vo, &cv);
	if (r != CLI_EXIT_OK)
		return r;
	/* (a tarball may replace its own template: the next version) */
	if (!format && same_file(target, cv.template_path)) {
		commit_error(
			&ui,
			"%s: is the template: a filesystem would replace it",
			target);
		cli_view_close(&cv);
		return CLI_EXIT_RUNTIME;
	}
	if (!format && o.have_epoch && !o.have_uuid) {
		identity = commit_identity(&vo, &cv);
		if (!identity) {
			commit_error(&ui, "%s: %s", target, strerror(ENOMEM));
			cli_view_close(&cv);
			return CLI_EXIT_RUNTIME;
		}
		o.identity = identity;
	}
	/* a block device backed by what the commit reads: never written */
	o.protect[0] = (struct img_protect){ cv.template_path, "the template" };
	tmpl_index_info(cv.tmpl, &info);
	if (!info.in_place && cache_data_path(&info, data, sizeof(data)))
		o.protect[1] = (struct img_protect){
			data, "the template's cache data file"
		};
	o.progress = on_progress;
	o.progress_ctx = &ui;
	o.check_target = check_xen_target;
	o.warn = cli_warn;
	if (format)
		r = img_export_tar(cv.view, target, comp, &o, &res, &err);
	else
		r = img_commit(cv.view, target, &o, &res, &err);
	cli_view_close(&cv);
	progress_end(&ui, &res, r == 0);
	if (r == -ECANCELED && res.wiped) {
		commit_error(&ui,
			     "%s: commit cancelled: %s no longer holds a "
			     "filesystem (its old one was wiped)",
			     target, target);
		return CLI_EXIT_RUNTIME;
	}
	if (r == -ECANCELED) {
		commit_error(&ui, "%s: commit cancelled (nothing written)",
			     target);
		return CLI_EXIT_RUNTIME;
	}
	if (r < 0) {
		commit_error(&ui, "%s", err.msg[0] ? err.msg : strerror(-r));
		return CLI_EXIT_RUNTIME;
	}
	if (format) {
		printf("%s: %s, %" PRIu64 " entries, %" PRIu64
		       " bytes, written in %.3f s\n",
		       target, format, res.entries, res.bytes, res.seconds);
	} else {
		static const char *const fsname[] = { "ext2", "ext3", "ext4" };
		char total[32], fs[32];

		fmt_mib(total, sizeof(total), res.size);
		fmt_mib(fs, sizeof(fs), res.fs_size);
		printf("%s: %s%s, %s (%" PRIu64
		       " bytes%s), filesystem %s, %" PRIu64 " entries, %" PRIu64
		       " bytes, written in %.3f s\n",
		       target, fsname[o.fs],
		       o.partition == IMG_PART_MSDOS ?
			       " in an msdos partition" :
			       "",
		       total, res.size,
		       res.size_computed ? ", computed from the tree" : "", fs,
		       res.entries, res.bytes, res.seconds);
	}
	return CLI_EXIT_OK;
}
