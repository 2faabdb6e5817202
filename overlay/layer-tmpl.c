// SPDX-License-Identifier: LGPL-2.1-or-later
/* The template layer's ops table: a thin adapter over templates/tmpl.h. */
#include "overlay/layer.h"

#include "templates/tmpl.h"

static int t_lookup(void *l, uint32_t dir, const char *name, size_t len,
		    uint32_t *ret_id)
{
	return tmpl_dir_lookup(l, dir, name, len, ret_id);
}

static int t_getattr(void *l, uint32_t id, struct stat *ret)
{
	return tmpl_node_stat(l, id, ret);
}

static int64_t t_dir_count(void *l, uint32_t dir)
{
	return tmpl_dir_count(l, dir);
}

static int t_dir_entry(void *l, uint32_t dir, uint64_t i, const char **ret_name,
		       size_t *ret_len, uint32_t *ret_id)
{
	return tmpl_dir_entry(l, dir, i, ret_name, ret_len, ret_id);
}

static uint32_t t_dir_parent(void *l, uint32_t dir)
{
	return tmpl_dir_parent(l, dir);
}

static int t_readlink(void *l, uint32_t id, const char **ret, size_t *ret_len)
{
	return tmpl_node_readlink(l, id, ret, ret_len);
}

static ssize_t t_read(void *l, uint32_t id, void *buf, size_t size,
		      uint64_t off)
{
	return tmpl_node_read(l, id, buf, size, off);
}

static int t_map(void *l, uint32_t id, uint64_t off, int *ret_fd,
		 uint64_t *ret_pos, uint64_t *ret_len)
{
	return tmpl_node_map(l, id, off, ret_fd, ret_pos, ret_len);
}

static int t_lseek(void *l, uint32_t id, int64_t off, int whence, int64_t *ret)
{
	return tmpl_node_lseek(l, id, off, whence, ret);
}

static ssize_t t_listxattr(void *l, uint32_t id, char *buf, size_t size)
{
	return tmpl_node_listxattr(l, id, buf, size);
}

static ssize_t t_getxattr(void *l, uint32_t id, const char *name, void *buf,
			  size_t size)
{
	return tmpl_node_getxattr(l, id, name, buf, size);
}

static const struct ovl_layer_ops template_ops = {
	.lookup = t_lookup,
	.getattr = t_getattr,
	.dir_count = t_dir_count,
	.dir_entry = t_dir_entry,
	.dir_parent = t_dir_parent,
	.readlink = t_readlink,
	.read = t_read,
	.map = t_map,
	.lseek = t_lseek,
	.listxattr = t_listxattr,
	.getxattr = t_getxattr,
};

void ovl_layer_template(struct tmpl_index *idx, struct ovl_layer *ret)
{
	ret->ops = &template_ops;
	ret->data = idx;
	ret->nodes = tmpl_index_nodes(idx);
}
