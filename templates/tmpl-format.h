/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The on-disk cache format, private to templates/. An index file is
 * immutable once renamed into place and is mapped read-only:
 *
 *   header | nodes[] | dirents[] | extents[] | strings | xattrs
 *
 * All sections start 8-byte aligned; integers are host-endian (the cache
 * is local to a machine; the version field changes with the layout).
 * A directory's dirents are contiguous and sorted by name (memcmp, then
 * length), so lookup is a binary search and readdir offsets are stable.
 * Extents of a regular file are sorted by logical offset and do not
 * overlap; bytes outside every extent are holes. Extent positions are in
 * the template itself (uncompressed tar, in_place) or in the data file
 * (compressed templates), which begins with a TMPL_DATA_HDR_SIZE header.
 */
#ifndef TMPL_FORMAT_H
#define TMPL_FORMAT_H

#include <stdint.h>

#define TMPL_INDEX_MAGIC "DOMUFSIX"
#define TMPL_DATA_MAGIC "DOMUFSDT"
/*
 * Part of every cache key: raised whenever the builder gives a template a
 * different tree (2: ACLs naming users, members below symbolic links,
 * symbolic links' modes; 3: global pax headers), so that an index built
 * before is built again rather than served.
 */
#define TMPL_FORMAT_VERSION 3u
#define TMPL_DATA_HDR_SIZE 4096u

struct tmpl_dheader {
	char magic[8];
	uint32_t version;
	uint32_t in_place; /* 1: extents point into the template file */
	/* identity of the template this index describes */
	uint64_t tpl_dev, tpl_ino, tpl_size;
	int64_t tpl_mtime_sec, tpl_ctime_sec;
	uint32_t tpl_mtime_nsec, tpl_ctime_nsec;
	uint64_t build_id; /* also in the data file's header */
	uint64_t data_size; /* expected size of the data file (0: none) */
	uint64_t n_nodes, nodes_off;
	uint64_t n_dirents, dirents_off;
	uint64_t n_extents, extents_off;
	uint64_t strings_size, strings_off;
	uint64_t xattrs_size, xattrs_off;
	uint64_t file_size;
	uint64_t entries, bytes;
	uint64_t checksum; /* dm_hash64 of the file from sizeof(header) on */
	uint64_t hdr_checksum; /* dm_hash64 of the header up to this field */
};

struct tmpl_dnode {
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	uint32_t nlink;
	uint64_t size;
	uint64_t rdev;
	int64_t mtime_sec, atime_sec, ctime_sec;
	uint32_t mtime_nsec, atime_nsec, ctime_nsec;
	uint32_t parent; /* directories: the parent's id */
	uint64_t first; /* dir: first dirent; reg: first extent; lnk: string */
	uint32_t count; /* dir: dirents; reg: extents; lnk: target length */
	uint32_t xattr_count;
	uint64_t xattr_off; /* records: u32 name_len, u32 value_len, name\0, value */
	uint64_t blocks; /* 512-byte units of data actually stored */
};

struct tmpl_ddirent {
	uint64_t name_off; /* NUL-terminated, in strings */
	uint32_t name_len;
	uint32_t node;
};

struct tmpl_dextent {
	uint64_t logical;
	uint64_t length;
	uint64_t pos;
};

struct tmpl_ddata_header {
	char magic[8];
	uint32_t version;
	uint32_t pad;
	uint64_t build_id;
};

#endif
