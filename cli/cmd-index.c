// SPDX-License-Identifier: LGPL-2.1-or-later
/* domufs index: build or verify a template's cache entry, print a summary. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "templates/tmpl.h"

static const char help[] =
	"Usage: domufs index [--cache-dir DIR] [--rebuild] TEMPLATE\n"
	"\n"
	"Builds TEMPLATE's index in the cache, or verifies the cached one\n"
	"(checksums, identity of the template), and prints one line:\n"
	"  TEMPLATE: ENTRIES entries, BYTES bytes, indexed|verified in SECONDS s (cache FILE)\n"
	"\n"
	"  --cache-dir DIR  cache location (default $XDG_CACHE_HOME/domufs,\n"
	"                   /var/cache/domufs for root)\n"
	"  --rebuild        ignore an existing cache entry and index again\n";

int cli_cmd_index(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "cache-dir", required_argument, NULL, 'C' },
		{ "rebuild", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *cache_opt = NULL;
	unsigned flags = 0;
	struct tmpl_index *idx = NULL;
	struct tmpl_info info;
	int c, r;

	while ((c = cli_getopt("index", argc, argv, "h", longopts)) != -1) {
		switch (c) {
		case 'C':
			cache_opt = optarg;
			break;
		case 'R':
			flags |= TMPL_OPEN_REBUILD;
			break;
		case 'h':
			fputs(help, stdout);
			return CLI_EXIT_OK;
		default:
			return CLI_EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("index", "expected one TEMPLATE");
	r = cli_template_open(argv[optind], cache_opt, flags, NULL, &idx);
	if (r != CLI_EXIT_OK)
		return r;
	tmpl_index_info(idx, &info);
	printf("%s: %llu entries, %llu bytes, %s in %.3f s (cache %s)\n",
	       argv[optind], (unsigned long long)info.entries,
	       (unsigned long long)info.bytes,
	       info.built ? "indexed" : "verified", info.seconds,
	       info.index_path);
	tmpl_index_free(idx);
	return CLI_EXIT_OK;
}
