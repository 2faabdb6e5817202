// SPDX-License-Identifier: LGPL-2.1-or-later
/* main(): subcommand dispatch, shared reporting helpers, --help text. */
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "templates/tmpl.h"

#ifndef DOMUFS_VERSION
#define DOMUFS_VERSION "unknown"
#endif

static const char usage[] =
	"Usage: domufs COMMAND [OPTIONS] ARGS\n"
	"\n"
	"Presents a template tarball as a Xen domU root filesystem.\n"
	"\n"
	"Commands:\n"
	"  mount [--overlay DIR] [--domain FILE] [--cache-dir DIR] [-f] [-o FUSEOPTS]\n"
	"        [--ready-fd FD] TEMPLATE MOUNTPOINT\n"
	"        Mount TEMPLATE at MOUNTPOINT, read-only or writable over an\n"
	"        overlay directory (unmount: fusermount3 -u).\n"
	"  index [--cache-dir DIR] [--rebuild] TEMPLATE\n"
	"        Build or verify TEMPLATE's cached index; print a summary.\n"
	"  commit [--overlay DIR] [--domain FILE] [--fs ext2|ext3|ext4] [--size SIZE]\n"
	"         [--label L] [--uuid U]\n"
	"         [--partition none|msdos] [--force] [--progress[=json]] TEMPLATE TARGET\n"
	"  commit [--overlay DIR] [--domain FILE] --format tar|tar.gz|tar.zst\n"
	"         TEMPLATE OUT\n"
	"        Write the mounted view into a new filesystem on TARGET (image\n"
	"        file or block device), or into a new template tarball.\n"
	"  diff [--overlay DIR] [--domain FILE] [--cache-dir DIR] TEMPLATE\n"
	"        Print a unified diff of what the overlay and the fixups change.\n"
	"  wait [--timeout SECONDS] [--quiet] DOMAIN\n"
	"        Wait for the first boot of a running Xen domain to finish.\n"
	"  xl-config --domain FILE [--target PATH] [--partition none|msdos]\n"
	"            [--seed ISO] [-o OUT]\n"
	"        Print the domain's xl.cfg (root disk, vifs, boot) from its profile.\n"
	"  seed-iso --domain FILE OUT.iso\n"
	"        Write a cloud-init NoCloud seed image (label cidata) for the domain.\n"
	"\n"
	"TEMPLATE is a .tar, .tar.gz, .tar.xz, .tar.zst or .tar.bz2 file.\n"
	"The index cache defaults to $XDG_CACHE_HOME/domufs (root: /var/cache/domufs).\n"
	"Exit status: 0 success, 1 runtime error, 2 usage error.\n"
	"Run 'domufs COMMAND --help' for a command's options.\n";

void cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("domufs: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("domufs: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'domufs %s --help')\n", cmd);
	return CLI_EXIT_USAGE;
}

void cli_warn(void *ctx, const char *msg)
{
	fprintf(stderr, "domufs: warning: %s\n", msg);
}

int cli_cache_dir(const char *opt, char *buf, size_t size)
{
	if (opt) {
		if (strlen(opt) >= size)
			return -1;
		strcpy(buf, opt);
		return 0;
	}
	return tmpl_cache_default_dir(buf, size) < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "commit", cli_cmd_commit },
		{ "index", cli_cmd_index },
		{ "mount", cli_cmd_mount },
		{ "diff", cli_cmd_diff },
		{ "wait", cli_cmd_wait },
		{ "xl-config", cli_cmd_xl_config },
		{ "seed-iso", cli_cmd_seed_iso },
	};

	/*
	 * Member names are bytes; a UTF-8 locale lets libarchive hand pax
	 * names (stored as UTF-8) through unchanged whatever the caller's
	 * locale is.
	 */
	if (!setlocale(LC_CTYPE, "C.UTF-8"))
		setlocale(LC_CTYPE, "");
	if (argc < 2) {
		fputs(usage, stderr);
		return CLI_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		fputs(usage, stdout);
		return CLI_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("domufs %s\n", DOMUFS_VERSION);
		return CLI_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "domufs: unknown command '%s' (see 'domufs --help')\n",
		argv[1]);
	return CLI_EXIT_USAGE;
}
