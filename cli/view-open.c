// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Opens the view every subcommand reads: the template through its cache,
 * then the layers above it. Reports errors itself (the CLI's job).
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "common/cleanup.h"
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

int cli_layout_opt(const char *cmd, int opt, const char *arg,
		   struct cli_view_opts *vo)
{
	if (opt == CLI_OPT_LAYOUT_FS) {
		if (strcmp(arg, "ext2") && strcmp(arg, "ext3") &&
		    strcmp(arg, "ext4"))
			return cli_usage_error(
				cmd, "bad --fs '%s' (ext2, ext3 or ext4)", arg);
		vo->fs_type = arg;
		return 0;
	}
	if (strcmp(arg, "none") && strcmp(arg, "msdos"))
		return cli_usage_error(
			cmd, "bad --partition '%s' (none or msdos)", arg);
	vo->partitioned = !strcmp(arg, "msdos");
	return 0;
}

/* The signal that interrupted an index build (0: none); see below. */
static volatile sig_atomic_t open_signal;

static void on_open_signal(int sig)
{
	open_signal = sig;
}

int cli_template_open(const char *path, const char *cache_opt, unsigned flags,
		      const char *profile, struct tmpl_index **ret)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa = { .sa_handler = on_open_signal };
	struct sigaction old[DM_ARRAY_SIZE(sigs)];
	bool caught[DM_ARRAY_SIZE(sigs)] = { false };
	struct tmpl_open_opts to = { .flags = flags,
				     .warn = cli_warn,
				     .cancel = &open_signal };
	struct dm_err err = { 0 };
	char cache_dir[PATH_MAX];
	int r, sig;

	if (cache_opt && !*cache_opt) {
		cli_error("--cache-dir: empty directory name");
		return CLI_EXIT_USAGE;
	}
	if (cache_opt && strlen(cache_opt) >= sizeof(cache_dir)) {
		cli_error("--cache-dir: name too long");
		return CLI_EXIT_USAGE;
	}
	if (cache_opt)
		strcpy(cache_dir, cache_opt);
	else if (tmpl_cache_default_dir(cache_dir, sizeof(cache_dir)) < 0) {
		cli_error(
			"no cache directory: HOME is not set and this user has no home directory (give --cache-dir DIR or set XDG_CACHE_HOME)");
		return CLI_EXIT_RUNTIME;
	}
	to.cache_dir = cache_dir;

	/*
	 * A signal that would end the process stops a build instead, which
	 * removes what it wrote; then the signal does what it would have done
	 * (the caller's handler, or the end of the process). Signals ignored
	 * (nohup) stay ignored.
	 */
	open_signal = 0;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < DM_ARRAY_SIZE(sigs); i++) {
		sigaction(sigs[i], NULL, &old[i]);
		if (old[i].sa_handler != SIG_IGN)
			caught[i] = sigaction(sigs[i], &sa, NULL) == 0;
	}
	r = tmpl_index_open(path, &to, ret, &err);
	for (size_t i = 0; i < DM_ARRAY_SIZE(sigs); i++)
		if (caught[i])
			sigaction(sigs[i], &old[i], NULL);
	sig = open_signal;
	if (r < 0) {
		if (profile) /* the profile's `template` */
			cli_error("%s: template %s", profile, err.msg);
		else
			cli_error("%s", err.msg);
	}
	if (sig)
		raise(sig);
	if (r < 0)
		return CLI_EXIT_RUNTIME;
	return CLI_EXIT_OK;
}

int cli_view_open(const struct cli_view_opts *o, struct cli_view *ret)
{
	struct ovl_view_opts vo = { .upper_dir = o->overlay_dir,
				    .fs_type = o->fs_type,
				    .partitioned = o->partitioned,
				    .warn = cli_warn };
	struct fix_profile fp;
	struct ovl_layer lower;
	struct dm_err err = { 0 };
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
	r = cli_template_open(tpl, o->cache_dir, o->tmpl_flags,
			      tpl != o->template_path ? o->domain_path : NULL,
			      &ret->tmpl);
	if (r != CLI_EXIT_OK) {
		cli_view_close(ret);
		return r;
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
