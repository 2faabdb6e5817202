// SPDX-License-Identifier: LGPL-2.1-or-later
/* main(): subcommand dispatch, shared reporting helpers, --help text. */
#include <errno.h>
#include <getopt.h>
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
	"       domufs --help | --version\n"
	"\n"
	"Presents a template tarball as a Xen domU root filesystem.\n"
	"\n"
	"Commands:\n"
	"  mount [--overlay DIR] [--domain FILE] [--cache-dir DIR] [-f] [-d]\n"
	"        [-o FUSEOPTS] [--ready-fd FD] [--poll-us N] [--io-uring]\n"
	"        [--no-pm-qos] TEMPLATE MOUNTPOINT\n"
	"  mount --domain FILE [OPTIONS] MOUNTPOINT\n"
	"        Mount TEMPLATE at MOUNTPOINT, read-only or writable over an\n"
	"        overlay directory (unmount: fusermount3 -u).\n"
	"  index [--cache-dir DIR] [--rebuild] TEMPLATE\n"
	"        Build or verify TEMPLATE's cached index; print a summary.\n"
	"  commit [--overlay DIR] [--domain FILE] [--cache-dir DIR]\n"
	"         [--fs ext2|ext3|ext4] [--size SIZE] [--label L] [--uuid U]\n"
	"         [--partition none|msdos] [--force] [--progress[=json|none]]\n"
	"         TEMPLATE TARGET\n"
	"  commit --domain FILE [OPTIONS] TARGET\n"
	"  commit [--overlay DIR] [--domain FILE] [--cache-dir DIR] [--force]\n"
	"         [--progress[=json|none]] --format tar|tar.gz|tar.zst\n"
	"         TEMPLATE OUT\n"
	"        Write the mounted view into a new filesystem on TARGET (image\n"
	"        file or block device), or into a new template tarball.\n"
	"  diff [--overlay DIR] [--domain FILE] [--cache-dir DIR] [--exit-code]\n"
	"       TEMPLATE\n"
	"  diff --domain FILE [OPTIONS]\n"
	"        Print a unified diff of what the overlay and the fixups change.\n"
	"  wait [--timeout SECONDS] [--quiet] DOMAIN\n"
	"        Wait for the first boot of a running Xen domain to finish.\n"
	"  xl-config --domain FILE [--target PATH] [--partition none|msdos]\n"
	"            [--seed ISO] [-o OUT]\n"
	"        Print the domain's xl.cfg (root disk, vifs, boot) from its profile.\n"
	"  seed-iso --domain FILE OUT.iso\n"
	"        Write a cloud-init NoCloud seed image (label cidata) for the domain.\n"
	"\n"
	"TEMPLATE is a .tar, .tar.gz, .tar.xz, .tar.zst or .tar.bz2 file; with\n"
	"--domain it defaults to the profile's `template`.\n"
	"The index cache defaults to $XDG_CACHE_HOME/domufs or ~/.cache/domufs\n"
	"(root: /var/cache/domufs).\n"
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
	fprintf(stderr, " (see 'domufs %s%s--help')\n", cmd ? cmd : "",
		cmd ? " " : "");
	return CLI_EXIT_USAGE;
}

/*
 * How many of @longopts the long option @arg ("--name" or "--name=value")
 * may name: the exact match, or each one it is a prefix of. *@ret: the one
 * it names, or NULL; *@len: the length of its name.
 */
static size_t long_option(const struct option *longopts, const char *arg,
			  const struct option **ret, size_t *len)
{
	const char *name = arg + 2;
	size_t n = 0;

	*ret = NULL;
	*len = strcspn(name, "=");
	for (const struct option *o = longopts; o->name; o++) {
		if (strncmp(o->name, name, *len))
			continue;
		if (strlen(o->name) == *len) {
			*ret = o;
			return 1;
		}
		*ret = o;
		n++;
	}
	if (n != 1)
		*ret = NULL;
	return n;
}

int cli_getopt(const char *cmd, int argc, char **argv, const char *shortopts,
	       const struct option *longopts)
{
	const struct option *lo = NULL;
	const char *arg = "";
	char opts[64];
	size_t n = 0, len = 0;
	int c;

	/* ':': a missing value is told apart from an unknown option */
	snprintf(opts, sizeof(opts), ":%s", shortopts);
	opterr = 0;
	optopt = 0;
	c = getopt_long(argc, argv, opts, longopts, NULL);
	if (c != '?' && c != ':')
		return c;
	/*
	 * A long option failed when the argument before optind is one and
	 * getopt's optopt agrees (0, or that option's value); otherwise the
	 * short option optopt did.
	 */
	if (optind > 0 && optind <= argc)
		arg = argv[optind - 1];
	if (!strncmp(arg, "--", 2) && arg[2]) {
		n = long_option(longopts, arg, &lo, &len);
		if (optopt && !(lo && !lo->flag && lo->val == optopt)) {
			n = 0;
			arg = "";
		}
	} else {
		arg = "";
	}
	if (!*arg && c == ':')
		cli_usage_error(cmd, "option '-%c' needs a value", optopt);
	else if (!*arg)
		cli_usage_error(cmd, "unknown option '-%c'", optopt);
	else if (lo && c == ':')
		cli_usage_error(cmd, "option '--%s' needs a value", lo->name);
	else if (lo && lo->has_arg == no_argument)
		cli_usage_error(cmd, "option '--%s' takes no value", lo->name);
	else if (n > 1)
		cli_usage_error(cmd, "ambiguous option '%.*s'", (int)len + 2,
				arg);
	else
		cli_usage_error(cmd, "unknown option '%.*s'", (int)len + 2,
				arg);
	return '?';
}

static int stdout_errno; /* why a write to stdout failed, 0 */

int cli_stdout_failed(int errnum)
{
	if (!stdout_errno)
		stdout_errno = errnum ? errnum : EIO;
	return -stdout_errno;
}

int cli_stdout_close(void)
{
	static bool closed;

	if (closed)
		return -stdout_errno;
	closed = true;
	/* ferror() alone: a write lost earlier, its errno with it */
	if (fflush(stdout) != 0)
		cli_stdout_failed(errno);
	else if (ferror(stdout))
		cli_stdout_failed(EIO);
	/* EBADF once all was flushed: no stdout at all, nothing lost */
	if (fclose(stdout) != 0 && errno != EBADF)
		cli_stdout_failed(errno);
	if (stdout_errno)
		cli_error("stdout: %s", strerror(stdout_errno));
	return -stdout_errno;
}

/* --help, --version or a subcommand, with its exit status. */
static int run(int argc, char **argv)
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
	const char *arg = argv[1];
	bool help = !strcmp(arg, "--help") || !strcmp(arg, "-h") ||
		    !strcmp(arg, "help");

	if (help || !strcmp(arg, "--version")) {
		if (argc > 2)
			return cli_usage_error(NULL, "unexpected argument '%s'",
					       argv[2]);
		if (help)
			fputs(usage, stdout);
		else
			printf("domufs %s\n", DOMUFS_VERSION);
		return CLI_EXIT_OK;
	}
	if (arg[0] == '-')
		return cli_usage_error(NULL, "unknown option '%.*s'",
				       (int)strcspn(arg, "="), arg);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(arg, cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	return cli_usage_error(NULL, "unknown command '%s'", arg);
}

void cli_warn(void *ctx, const char *msg)
{
	fprintf(stderr, "domufs: warning: %s\n", msg);
}

int main(int argc, char **argv)
{
	int status;

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
	status = run(argc, argv);
	/* what was printed must have reached stdout */
	if (cli_stdout_close() < 0 && status == CLI_EXIT_OK)
		status = CLI_EXIT_RUNTIME;
	return status;
}
