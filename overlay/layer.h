/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The seam between the view's merge logic and each layer: a small ops
 * table, as fuse-overlayfs's data_source. A layer names its nodes with
 * uint32_t ids (0 is its root) and answers with the return conventions of
 * templates/tmpl.h (0 or a count, or -errno). Tests can supply an
 * in-memory layer; the template layer's table is ovl_layer_template().
 */
#ifndef OVL_LAYER_H
#define OVL_LAYER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#define OVL_LAYER_ROOT 0u

struct ovl_layer_ops {
	int (*lookup)(void *layer, uint32_t dir, const char *name, size_t len,
		      uint32_t *ret_id);
	int (*getattr)(void *layer, uint32_t id, struct stat *ret);
	int64_t (*dir_count)(void *layer, uint32_t dir);
	int (*dir_entry)(void *layer, uint32_t dir, uint64_t i,
			 const char **ret_name, size_t *ret_len,
			 uint32_t *ret_id);
	uint32_t (*dir_parent)(void *layer, uint32_t dir);
	int (*readlink)(void *layer, uint32_t id, const char **ret,
			size_t *ret_len);
	ssize_t (*read)(void *layer, uint32_t id, void *buf, size_t size,
			uint64_t off);
	int (*map)(void *layer, uint32_t id, uint64_t off, int *ret_fd,
		   uint64_t *ret_pos, uint64_t *ret_len);
	int (*lseek)(void *layer, uint32_t id, int64_t off, int whence,
		     int64_t *ret);
	ssize_t (*listxattr)(void *layer, uint32_t id, char *buf, size_t size);
	ssize_t (*getxattr)(void *layer, uint32_t id, const char *name,
			    void *buf, size_t size);
};

struct ovl_layer {
	const struct ovl_layer_ops *ops;
	void *data;
	uint32_t nodes; /* ids are 0 .. nodes-1 */
};

struct tmpl_index;

/* The read-only template layer over an opened index (borrowed). */
void ovl_layer_template(struct tmpl_index *idx, struct ovl_layer *ret);

#endif
