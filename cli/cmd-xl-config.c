// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * domufs xl-config: the xl.cfg of a domain from its profile, on stdout or
 * written atomically to a file (a temporary beside it, renamed). Options
 * and the one error line; the text is xen/'s (xen_xlcfg_render()).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/atomic.h"
#include "common/cleanup.h"
#include "xen/profile.h"
#include "xen/xlcfg.h"

static const char help[] =
	"Usage: domufs xl-config --domain FILE [--target PATH]\n"
	"                        [--partition none|msdos] [--seed ISO] [-o OUT]\n"
	"\n"
	"Prints a complete xl.cfg for the domain of profile FILE: name, memory\n"
	"(default 512), vcpus (default 1), the root disk, vifs and the boot\n"
	"method, with the xl keys of the profile that describe the domain\n"
	"(on_reboot, on_crash, uuid, ...). domufs's own provisioning keys are\n"
	"left out (listed as comments).\n"
	"\n"
	"  --domain FILE      the domain profile (xl.cfg syntax)\n"
	"  --target PATH      the root disk: the commit target, a block device\n"
	"                     (backendtype=phy) or an image file (default: the\n"
	"                     target of the profile's first non-CD-ROM disk)\n"
	"  --partition none|msdos  msdos: the commit wrote an MBR, so the\n"
	"                     kernel's root= is the first partition (xvda1)\n"
	"  --seed ISO         attach a NoCloud seed image ('domufs seed-iso')\n"
	"                     read-only as the next free xvdX\n"
	"  -o, --output OUT   write OUT (replaced atomically) instead of stdout\n"
	"\n"
	"Vifs without a MAC get a stable one in Xen's 00:16:3e range derived\n"
	"from the domain name. Without PyGRUB, the kernel command line gets\n"
	"root=/dev/xvda (xvda1 with --partition msdos) and console=hvc0 (the\n"
	"profile's console) where missing.\n";

/* @text into @path through a temporary file beside it, renamed over it. */
static int write_atomic(const char *path, const char *text)
{
	_cleanup_close_ int fd = -1;
	size_t len = strlen(text), off = 0;
	struct dm_err err = { 0 };
	char tmp[4096];
	struct stat st;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		cli_error("%s: is a directory", path);
		return CLI_EXIT_RUNTIME;
	}
	fd = dm_atomic_create(path, dm_file_mode(), tmp, sizeof(tmp), &err);
	if (fd < 0) {
		cli_error("%s", err.msg);
		return CLI_EXIT_RUNTIME;
	}
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			dm_err_set(&err, errno, "%s: %s", path,
				   strerror(errno));
			goto out_unlink;
		}
		off += (size_t)n;
	}
	if (dm_atomic_commit(fd, tmp, path, &err) == 0)
		return CLI_EXIT_OK;

out_unlink:
	cli_error("%s", err.msg);
	unlink(tmp);
	return CLI_EXIT_RUNTIME;
}

int cli_cmd_xl_config(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "domain", required_argument, NULL, 'D' },
		{ "target", required_argument, NULL, 't' },
		{ "partition", required_argument, NULL, 'p' },
		{ "seed", required_argument, NULL, 's' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct xen_xlcfg_opts xo = { 0 };
	struct xen_profile *p = NULL;
	struct dm_err err = { 0 };
	const char *domain = NULL, *out = NULL;
	_cleanup_free_ char *text = NULL;
	int c, r;

	while ((c = cli_getopt("xl-config", argc, argv, "ho:", longopts)) !=
	       -1) {
		switch (c) {
		case 'D':
			domain = optarg;
			break;
		case 't':
			xo.target = optarg;
			break;
		case 'p':
			if (!strcmp(optarg, "msdos"))
				xo.partitioned = true;
			else if (!strcmp(optarg, "none"))
				xo.partitioned = false;
			else
				return cli_usage_error(
					"xl-config",
					"--partition: `%s' is not none or msdos",
					optarg);
			break;
		case 's':
			xo.seed_iso = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'h':
			fputs(help, stdout);
			return CLI_EXIT_OK;
		default:
			return CLI_EXIT_USAGE;
		}
	}
	if (!domain)
		return cli_usage_error("xl-config",
				       "--domain FILE is required");
	if (optind != argc)
		return cli_usage_error("xl-config", "unexpected argument `%s'",
				       argv[optind]);
	if (xo.target && !*xo.target)
		return cli_usage_error("xl-config", "--target is empty");
	if (xen_profile_load(domain, &p, &err, cli_warn, NULL) < 0) {
		cli_error("%s", err.msg);
		return CLI_EXIT_RUNTIME;
	}
	r = xen_xlcfg_render(p, &xo, &text, &err);
	xen_profile_free(p);
	if (r < 0) {
		cli_error("%s", err.msg);
		return CLI_EXIT_RUNTIME;
	}
	if (out)
		return write_atomic(out, text);
	fputs(text, stdout); /* main() checks that it was written */
	return CLI_EXIT_OK;
}
