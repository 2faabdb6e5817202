/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Subcommands of the domufs binary; each returns an exit status (0, 1, 2). */
#ifndef CLI_H
#define CLI_H

#include <stdbool.h>

#include "common/err.h"

enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_RUNTIME = 1,
	CLI_EXIT_USAGE = 2,
};

int cli_cmd_commit(int argc, char **argv);
int cli_cmd_index(int argc, char **argv);
int cli_cmd_mount(int argc, char **argv);
int cli_cmd_diff(int argc, char **argv);
int cli_cmd_wait(int argc, char **argv);
int cli_cmd_xl_config(int argc, char **argv);
int cli_cmd_seed_iso(int argc, char **argv);

struct tmpl_index;
struct ovl_view;
struct xen_profile;

struct cli_view_opts {
	const char *template_path; /* NULL: the profile's `template` */
	const char *cache_dir; /* NULL: the default */
	const char *overlay_dir; /* NULL: the profile's `overlay`, or none */
	const char *domain_path; /* --domain: fixups apply; NULL: none */
	const char *fs_type; /* what a commit writes (fstab fixup) */
	bool partitioned; /* a commit with a partition table */
	unsigned tmpl_flags; /* TMPL_OPEN_* */
};

struct cli_view {
	struct tmpl_index *tmpl;
	struct ovl_view *view;
	struct xen_profile *profile; /* with --domain */
	const char *template_path; /* the one used */
};

/* The options of every subcommand that reads a view, for getopt_long. */
enum {
	CLI_OPT_CACHE_DIR = 'C',
	CLI_OPT_OVERLAY = 'O',
	CLI_OPT_DOMAIN = 'D',
};

/* clang-format off */
#define CLI_VIEW_LONGOPTS \
	{ "cache-dir", required_argument, NULL, CLI_OPT_CACHE_DIR }, \
	{ "overlay", required_argument, NULL, CLI_OPT_OVERLAY }, \
	{ "domain", required_argument, NULL, CLI_OPT_DOMAIN }
/* clang-format on */

/* Stores one of the CLI_OPT_* options into @vo. */
void cli_view_opt(int opt, const char *arg, struct cli_view_opts *vo);

/*
 * diff and mount: --fs and --partition as commit takes them, so that the
 * fixups show what a commit with them writes (fstab's root device and
 * type, the boot menu's root=).
 */
enum {
	CLI_OPT_LAYOUT_FS = 0x100,
	CLI_OPT_LAYOUT_PARTITION,
};

/* clang-format off */
#define CLI_LAYOUT_LONGOPTS \
	{ "fs", required_argument, NULL, CLI_OPT_LAYOUT_FS }, \
	{ "partition", required_argument, NULL, CLI_OPT_LAYOUT_PARTITION }
/* clang-format on */

/* Stores --fs or --partition into @vo; a usage error (exit status) or 0. */
int cli_layout_opt(const char *cmd, int opt, const char *arg,
		   struct cli_view_opts *vo);

/*
 * Opens the template (indexing it if needed) and the view over it.
 * Reports errors on stderr; returns an exit status (CLI_EXIT_OK on success).
 */
int cli_view_open(const struct cli_view_opts *o, struct cli_view *ret);
void cli_view_close(struct cli_view *v);

struct option;

/*
 * getopt_long() for subcommand @cmd, options and operands in any order
 * ("--" ends the options). @shortopts without getopt's leading '+' or
 * ':'. Returns the option, -1 after the last, or '?' once it has printed
 * the one usage error line (an unknown option, a missing or unwanted
 * value): the caller then returns CLI_EXIT_USAGE.
 */
int cli_getopt(const char *cmd, int argc, char **argv, const char *shortopts,
	       const struct option *longopts);

/* One error line on stderr: "domufs: MESSAGE". */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * Prints a usage error and a hint to see `domufs @cmd --help` (@cmd NULL:
 * domufs itself), returns CLI_EXIT_USAGE.
 */
int cli_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/*
 * stdout, where subcommands print their results. cli_stdout_failed() notes
 * why a write to it failed (@errnum, the first one counts) and returns
 * -@errnum. cli_stdout_close() flushes and closes it, once: a failure, now
 * or noted earlier, is reported as "domufs: stdout: REASON" and returned
 * as -errno (0: all was written). main() calls it after every subcommand
 * (a success then exits 1); a subcommand with exit statuses of its own
 * calls it first.
 */
int cli_stdout_failed(int errnum);
int cli_stdout_close(void);
/* The warning sink handed to library modules. */
void cli_warn(void *ctx, const char *msg);
/*
 * Opens template @path through the cache @cache_opt (--cache-dir; NULL: the
 * default) with TMPL_OPEN_* @flags. A build that SIGINT, SIGTERM or SIGHUP
 * interrupts cleans up before the signal takes its course. Reports errors
 * itself (naming @profile when the template came from it); returns an exit
 * status.
 */
int cli_template_open(const char *path, const char *cache_opt, unsigned flags,
		      const char *profile, struct tmpl_index **ret);

#endif
