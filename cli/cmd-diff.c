// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * domufs diff: what the overlay changes relative to the template, as a
 * unified diff. Exit status as every subcommand's: 0 success (changes or
 * not), 1 runtime error, 2 usage error; with --exit-code as diff(1)'s: 0
 * no change, 1 changes, 2 trouble.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "diff/tree.h"
#include "overlay/layer.h"
#include "overlay/view.h"

static const char help[] =
	"Usage: domufs diff [--overlay DIR] [--domain FILE] [--cache-dir DIR]\n"
	"                   [--exit-code] TEMPLATE\n"
	"       domufs diff --domain FILE [OPTIONS]\n"
	"\n"
	"Prints a unified diff of everything the overlay and the fixups change\n"
	"relative to TEMPLATE: contents, modes, owners, devices, xattrs, added\n"
	"and deleted entries. Each hunk is labelled with what changed it: the\n"
	"fixup's name, \"overlay\", or \"overlay+NAME\" for a file changed in\n"
	"the overlay that the fixup NAME changes on top.\n"
	"Exit status: 0 success, 1 runtime error, 2 usage error; with\n"
	"--exit-code: 0 no change, 1 changes, 2 error (as diff(1)).\n"
	"\n"
	"  --overlay DIR    the per-domain overlay directory\n"
	"  --domain FILE    the domain profile: show the fixups too; its\n"
	"                   `template`/`overlay` keys give defaults for\n"
	"                   TEMPLATE and --overlay\n"
	"  --fs FS          ext2, ext3 or ext4 (default), and\n"
	"  --partition PT   none (default) or msdos: with --domain, the fixups\n"
	"                   as a commit with these writes them (fstab, the\n"
	"                   boot menu's root=)\n"
	"  --cache-dir DIR  cache location (default $XDG_CACHE_HOME/domufs,\n"
	"                   /var/cache/domufs for root)\n"
	"  --exit-code      exit 1 when there are changes, 0 when none\n";

static int emit_stdout(void *ctx, const char *data, size_t len)
{
	return fwrite(data, 1, len, stdout) == len ? 0 :
						     cli_stdout_failed(errno);
}

struct labels {
	struct ovl_view *view;
	char buf[64];
};

/*
 * The fixup that changes @path, else the overlay; both ("overlay+fstab")
 * for a file the overlay changed too, the fixup applied on top of it.
 */
static const char *label_of(void *ctx, const char *path, const struct stat *st)
{
	struct labels *l = ctx;
	const char *rule = ovl_view_fixup_rule(l->view, path);

	if (!rule)
		return "overlay";
	if (st && !S_ISDIR(st->st_mode) &&
	    ovl_view_in_upper(l->view, st->st_ino)) {
		snprintf(l->buf, sizeof(l->buf), "overlay+%s", rule);
		return l->buf;
	}
	return rule;
}

int cli_cmd_diff(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_VIEW_LONGOPTS,
		CLI_LAYOUT_LONGOPTS,
		{ "exit-code", no_argument, NULL, 'E' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct cli_view_opts vo = { 0 };
	struct dif_tree_opts dopts = {
		.emit = emit_stdout,
		.label = label_of,
		.context = 3,
	};
	struct labels labels = { 0 };
	struct cli_view cv, base = { 0 };
	struct ovl_layer lower;
	struct dm_err err = { 0 };
	bool exit_code = false;
	int c, r;

	while ((c = cli_getopt("diff", argc, argv, "h", longopts)) != -1) {
		switch (c) {
		case CLI_OPT_CACHE_DIR:
		case CLI_OPT_OVERLAY:
		case CLI_OPT_DOMAIN:
			cli_view_opt(c, optarg, &vo);
			break;
		case CLI_OPT_LAYOUT_FS:
		case CLI_OPT_LAYOUT_PARTITION:
			r = cli_layout_opt("diff", c, optarg, &vo);
			if (r)
				return r;
			break;
		case 'E':
			exit_code = true;
			break;
		case 'h':
			fputs(help, stdout);
			return CLI_EXIT_OK;
		default:
			return CLI_EXIT_USAGE;
		}
	}
	if (argc - optind == 1)
		vo.template_path = argv[optind];
	else if (argc - optind != 0 || !vo.domain_path)
		return cli_usage_error(
			"diff", "expected one TEMPLATE (or --domain FILE)");
	r = cli_view_open(&vo, &cv);
	if (r != CLI_EXIT_OK)
		return exit_code ? CLI_EXIT_USAGE : r; /* trouble, as diff(1) */
	labels.view = cv.view;
	dopts.label_ctx = &labels;
	ovl_layer_template(cv.tmpl, &lower);
	r = ovl_view_new(&lower, NULL, &base.view, &err);
	if (r == 0)
		r = dif_tree(base.view, cv.view, &dopts, &err);
	ovl_view_free(base.view);
	cli_view_close(&cv);
	/* a failed write is stdout's, reported as such once it is closed */
	if (r < 0 && !ferror(stdout))
		cli_error("%s", err.msg);
	if (cli_stdout_close() < 0 && r >= 0)
		r = -EIO;
	if (r < 0)
		return exit_code ? CLI_EXIT_USAGE : CLI_EXIT_RUNTIME;
	return exit_code && r > 0 ? 1 : CLI_EXIT_OK;
}
