// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Opens the view every subcommand reads: the template through its cache,
 * then the layers above it. Reports errors itself (the CLI's job).
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "overlay/layer.h"
#include "overlay/view.h"
#include "fixups/fix.h"
#include "templates/tmpl.h"
#include "xen/profile.h"

void cli_view_opt(int opt, const char *arg, struct cli_view_opts *vo)
{
	switch (opt) {
	case CLI_OPT_CACHE_DIR:
		vo->cache_dir = arg;
		break;
	case CLI_OPT_OVERLAY:
		vo->overlay_dir = arg;
		break;
	case CLI_OPT_DOMAIN:
		vo->domain_path = arg;
		break;
	}
}

int cli_view_open(const struct cli_view_opts *o, struct cli_view *ret)
{
	struct tmpl_open_opts to = { .warn = cli_warn, .flags = o->tmpl_flags };
	struct ovl_view_opts vo = { .upper_dir = o->overlay_dir,
				    .fs_type = o->fs_type,
				    .partitioned = o->partitioned };
	struct fix_profile fp;
	struct ovl_layer lower;
	struct dm_err err = { 0 };
	char cache_dir[4096];
	const char *tpl = o->template_path;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (o->domain_path) {
		if (xen_profile_load(o->domain_path, &ret->profile, &err,
				     cli_warn, NULL) < 0) {
			cli_error("%s", err.msg);
			return CLI_EXIT_RUNTIME;
		}
		struct stat pst;

		xen_profile_fix(ret->profile, &fp);
		vo.profile = &fp;
		/* what the fixups create is as new as the profile */
		if (stat(o->domain_path, &pst) == 0)
			vo.fix_time = pst.st_mtim;
		if (!tpl)
			tpl = ret->profile->template_path;
		if (!vo.upper_dir)
			vo.upper_dir = ret->profile->overlay_dir;
	}
	if (!tpl) {
		cli_error(
			"no TEMPLATE given (and no `template` in the profile)");
		cli_view_close(ret);
		return CLI_EXIT_USAGE;
	}
	ret->template_path = tpl;
	if (cli_cache_dir(o->cache_dir, cache_dir, sizeof(cache_dir)) < 0) {
		cli_error("cache directory name too long");
		cli_view_close(ret);
		return CLI_EXIT_USAGE;
	}
	to.cache_dir = cache_dir;
	if (tmpl_index_open(tpl, &to, &ret->tmpl, &err) < 0) {
		if (tpl != o->template_path) /* the profile's `template` */
			cli_error("%s: template %s", o->domain_path, err.msg);
		else
			cli_error("%s", err.msg);
		cli_view_close(ret);
		return CLI_EXIT_RUNTIME;
	}
	ovl_layer_template(ret->tmpl, &lower);
	r = ovl_view_new(&lower, &vo, &ret->view, &err);
	if (r < 0) {
		if (err.code)
			cli_error("%s", err.msg);
		else
			cli_error("%s: %s", tpl, strerror(-r));
		cli_view_close(ret);
		return CLI_EXIT_RUNTIME;
	}
	return CLI_EXIT_OK;
}

void cli_view_close(struct cli_view *v)
{
	v->view = ovl_view_free(v->view);
	v->tmpl = tmpl_index_free(v->tmpl);
	v->profile = xen_profile_free(v->profile);
}
