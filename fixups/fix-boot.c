// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The bootloader rule: with bootloader = "pygrub" the domU boots the kernel
 * in its own /boot, through a GRUB configuration that PyGRUB reads (it
 * prefers grub.cfg over extlinux over menu.lst). The file is written whole
 * from the facts and the profile, so the edit is trivially idempotent.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fixups/fix-internal.h"

static int boot_entry(const struct fix_ctx *ctx, char *title, size_t tsize,
		      char *args, size_t asize)
{
	const struct fix_facts *f = ctx->facts;
	const char *ver = strrchr(f->kernel, '/');
	char root[64];
	int r;

	r = fix_root_device(ctx, root, sizeof(root));
	if (r < 0)
		return r;
	ver = ver ? ver + 1 : f->kernel;
	if (!strncmp(ver, "vmlinuz-", 8))
		ver += 8;
	snprintf(title, tsize, "%s, Linux %s", f->id[0] ? f->id : "Linux", ver);
	/* PyGRUB appends the profile's extra= itself (its --args). */
	snprintf(args, asize, "root=%s ro console=%s", root,
		 fix_console_name(ctx));
	return 0;
}

static const char header[] =
	"# Written by domufs for PyGRUB: the kernel and initrd in /boot.\n";

int fix_edit_menu_lst(const struct fix_ctx *ctx, const char *arg,
		      const char *in, size_t len, struct fix_buf *out)
{
	char title[320], args[160];
	int r = boot_entry(ctx, title, sizeof(title), args, sizeof(args));

	if (r < 0)
		return r;
	fix_buf_puts(out, header);
	fix_buf_printf(out,
		       "default 0\n"
		       "timeout 1\n"
		       "\n"
		       "title %s\n"
		       "\troot (hd0%s)\n"
		       "\tkernel %s %s\n",
		       title, ctx->partitioned ? ",0" : "", ctx->facts->kernel,
		       args);
	if (ctx->facts->initrd[0])
		fix_buf_printf(out, "\tinitrd %s\n", ctx->facts->initrd);
	return 0;
}

int fix_edit_grub_cfg(const struct fix_ctx *ctx, const char *arg,
		      const char *in, size_t len, struct fix_buf *out)
{
	char title[320], args[160];
	int r = boot_entry(ctx, title, sizeof(title), args, sizeof(args));

	if (r < 0)
		return r;
	fix_buf_puts(out, header);
	fix_buf_printf(out,
		       "set default=0\n"
		       "set timeout=1\n"
		       "\n"
		       "menuentry '%s' {\n"
		       "\tlinux %s %s\n",
		       title, ctx->facts->kernel, args);
	if (ctx->facts->initrd[0])
		fix_buf_printf(out, "\tinitrd %s\n", ctx->facts->initrd);
	fix_buf_puts(out, "}\n");
	return 0;
}

int fix_rule_bootloader(struct fix_planner *p)
{
	const struct fix_facts *f = p->ctx->facts;

	if (!p->ctx->profile->pygrub || !f->kernel[0] || !f->grub_cfg[0])
		return 0;
	return fix_plan_file(p, f->grub_cfg,
			     f->grub == FIX_GRUB2 ? FIX_OP_GRUB_CFG :
						    FIX_OP_MENU_LST,
			     NULL, FIX_MAY_CREATE, 0644, 0, 0);
}
