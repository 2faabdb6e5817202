/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fixup layer: a view stacked on a view. It asks fixups/ what a domU
 * of this template and profile needs (fix_detect, fix_plan) and applies the
 * answer on the fly: edited files read with their fixed content and size,
 * hidden entries vanish, created entries appear. Private to overlay/;
 * view.c dispatches here when the view has a profile.
 *
 * Identifiers: names are matched by (parent inode, name); edited files keep
 * their own inode numbers; entries the fixups create get numbers from
 * OVL_FX_INO_BASE up, beyond anything the layers below hand out.
 */
#ifndef OVL_FIXLAYER_H
#define OVL_FIXLAYER_H

#include "overlay/view.h"

#define OVL_FX_INO_BASE (UINT64_C(1) << 62)

struct ovl_fx;
struct fix_profile;

int ovl_fx_new(struct ovl_view *base, const struct ovl_view_opts *opts,
	       struct ovl_fx **ret, struct dm_err *err);
struct ovl_fx *ovl_fx_free(struct ovl_fx *fx);

/* The rule that changes @path ("etc/fstab" or "/etc/fstab"), or NULL. */
const char *ovl_fx_rule(struct ovl_fx *fx, const char *path);
/* One line: "debian 12, systemd, ..." for messages. */
void ovl_fx_describe(struct ovl_fx *fx, char *buf, size_t size);

bool ovl_fx_pristine(struct ovl_fx *fx, uint64_t ino);
bool ovl_fx_touched(struct ovl_fx *fx, uint64_t ino);
int ovl_fx_lookup(struct ovl_fx *fx, uint64_t dir, const char *name,
		  struct stat *ret);
int ovl_fx_getattr(struct ovl_fx *fx, uint64_t ino, struct stat *ret);
ssize_t ovl_fx_readlink(struct ovl_fx *fx, uint64_t ino, char *buf,
			size_t size);
/* Directory listing with the fixups' names added and hidden ones removed. */
int ovl_fx_list(struct ovl_fx *fx, uint64_t ino, char ***ret_names,
		uint64_t *ret_count);
int ovl_fx_open(struct ovl_fx *fx, uint64_t ino, int flags,
		struct ovl_file **ret);
ssize_t ovl_fx_read(struct ovl_fx *fx, uint64_t ino, void *buf, size_t size,
		    uint64_t off);
ssize_t ovl_fx_listxattr(struct ovl_fx *fx, uint64_t ino, char *buf,
			 size_t size);
ssize_t ovl_fx_getxattr(struct ovl_fx *fx, uint64_t ino, const char *name,
			void *buf, size_t size);
/* Before a change through @dir: materializes a created directory. */
int ovl_fx_prepare_dir(struct ovl_fx *fx, uint64_t *dir);
/*
 * Before creating @name in @dir: a name the fixups hide is written again
 * through the mount, so the hidden copy goes and the new one shows.
 */
int ovl_fx_unhide(struct ovl_fx *fx, uint64_t dir, const char *name);

/*
 * Before a change of @ino itself (metadata, a new link, a rename): one of
 * the fixups' own entries becomes a node of the layer below, with the
 * action's content, owner and mode. *ino becomes the layer-below inode.
 */
int ovl_fx_materialize(struct ovl_fx *fx, uint64_t *ino);
/*
 * After a rename replaced @name in @dir: if the fixups create that name,
 * their entry now stands for the new node (the fix applies on top of it).
 */
void ovl_fx_name_gone(struct ovl_fx *fx, uint64_t dir, const char *name);

/*
 * The layer-below inode behind @ino (itself unless it is a materialized
 * entry of the fixups; 0 for one not materialized).
 */
uint64_t ovl_fx_real(struct ovl_fx *fx, uint64_t ino);
/* Attributes from the layer below: a materialized entry's number shown. */
void ovl_fx_present(struct ovl_fx *fx, struct stat *st);

/* Does an EDIT or CREATE action give @name in @dir its content? */
bool ovl_fx_rewrites(struct ovl_fx *fx, uint64_t dir, const char *name);

/* Is @ino one of the fixups' own entries (not materialized)? */
bool ovl_fx_virtual(struct ovl_fx *fx, uint64_t ino);

#endif
