/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Lexical path normalization for archive member names, and the unescaping of
 * mount points as mountinfo lists them; no file system access.
 */
#ifndef DM_PATH_H
#define DM_PATH_H

enum {
	DM_PATH_ABSOLUTE = 1 << 0, /* had leading '/' (removed) */
	DM_PATH_DOTDOT = 1
			 << 1, /* had a '..' component (kept, caller decides) */
	DM_PATH_ROOT = 1 << 2, /* names the root itself ("", ".", "/", "./") */
};

/*
 * Normalizes @in: drops leading '/', empty and '.' components and trailing
 * '/'. The result has no leading or trailing '/' and is "" for the root.
 * Returns 0 and a malloc'd string in *ret (flags in *ret_flags, may be NULL),
 * or -ENOMEM.
 */
int dm_path_normalize(const char *in, char **ret, unsigned *ret_flags);

/*
 * Undoes the octal escapes of a path as /proc/self/mountinfo writes it
 * (\040 for a space, \011 a tab, \012 a newline, \134 a backslash), in
 * place. A backslash not followed by three octal digits (at most \377) is
 * kept as it is.
 */
void dm_path_unescape_octal(char *s);

#endif
