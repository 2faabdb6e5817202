// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Opens the view every subcommand reads: the template through its cache,
 * then the layers above it. Reports errors itself (the CLI's job).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "overlay/layer.h"
#include "overlay/view.h"
#include "templates/tmpl.h"

int cli_view_open(const struct cli_view_opts *o, struct cli_view *ret)
{
	struct tmpl_open_opts to = { .warn = cli_warn, .flags = o->tmpl_flags };
	struct ovl_layer lower;
	struct dm_err err = { 0 };
	char cache_dir[4096];
	int r;

	memset(ret, 0, sizeof(*ret));
	if (cli_cache_dir(o->cache_dir, cache_dir, sizeof(cache_dir)) < 0) {
		cli_error("cache directory name too long");
		return CLI_EXIT_USAGE;
	}
	to.cache_dir = cache_dir;
	if (tmpl_index_open(o->template_path, &to, &ret->tmpl, &err) < 0) {
		cli_error("%s", err.msg);
		return CLI_EXIT_RUNTIME;
	}
	ovl_layer_template(ret->tmpl, &lower);
	r = ovl_view_new(&lower,
			 &(struct ovl_view_opts){ .upper_dir = o->overlay_dir },
			 &ret->view, &err);
	if (r < 0) {
		if (err.code)
			cli_error("%s", err.msg);
		else
			cli_error("%s: %s", o->template_path, strerror(-r));
		cli_view_close(ret);
		return CLI_EXIT_RUNTIME;
	}
	return CLI_EXIT_OK;
}

void cli_view_close(struct cli_view *v)
{
	v->view = ovl_view_free(v->view);
	v->tmpl = tmpl_index_free(v->tmpl);
}
