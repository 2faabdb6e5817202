// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The rules that make a domU itself rather than a copy of its template:
 * identity (hostname, hosts, machine-id, SSH host keys) and accounts (root
 * password hash, authorized_keys). Plan functions and their idempotent
 * edit transforms; no I/O of their own.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "fixups/fix-internal.h"

/* ---- hostname ------------------------------------------------------------ */

static const char *hostname(const struct fix_ctx *ctx)
{
	return ctx->profile->hostname ? ctx->profile->hostname : "localhost";
}

int fix_edit_hostname(const struct fix_ctx *ctx, const char *arg,
		      const char *in, size_t len, struct fix_buf *out)
{
	fix_buf_printf(out, "%s\n", hostname(ctx));
	return 0;
}

int fix_edit_sysconfig_hostname(const struct fix_ctx *ctx, const char *arg,
				const char *in, size_t len, struct fix_buf *out)
{
	_cleanup_free_ char *h = NULL;
	const char *set[2];

	if (asprintf(&h, "HOSTNAME=%s", hostname(ctx)) < 0)
		return -ENOMEM;
	set[0] = "NETWORKING=yes";
	set[1] = h;
	fix_shell_vars(in, len, set, 2, NULL, out);
	return 0;
}

/*
 * /etc/hosts: one "127.0.1.1 FQDN SHORT" line (Debian's convention, which
 * the others accept), replacing any earlier 127.0.1.1 line.
 */
int fix_edit_hosts(const struct fix_ctx *ctx, const char *arg, const char *in,
		   size_t len, struct fix_buf *out)
{
	const char *name = hostname(ctx), *dot = strchr(name, '.');
	_cleanup_free_ char *mine = NULL;
	const char *pos = in, *line;
	bool placed = false;
	size_t ll, after_local = 0;
	int r;

	if (dot)
		r = asprintf(&mine, "127.0.1.1\t%s %.*s", name,
			     (int)(dot - name), name);
	else
		r = asprintf(&mine, "127.0.1.1\t%s", name);
	if (r < 0)
		return -ENOMEM;
	if (!len) {
		fix_buf_printf(out,
			       "127.0.0.1\tlocalhost\n%s\n"
			       "::1\tlocalhost ip6-localhost ip6-loopback\n",
			       mine);
		return 0;
	}
	while (fix_line_next(&pos, in + len, &line, &ll)) {
		struct fix_span f[1];

		if (!fix_line_is_comment(line, ll) &&
		    fix_fields(line, ll, f, 1) == 1 &&
		    fix_span_eq(f[0], "127.0.1.1")) {
			if (!placed)
				fix_buf_printf(out, "%s\n", mine);
			placed = true;
			continue;
		}
		fix_buf_line(out, line, ll);
		if (!fix_line_is_comment(line, ll) &&
		    fix_fields(line, ll, f, 1) == 1 &&
		    fix_span_eq(f[0], "127.0.0.1"))
			after_local = out->len;
	}
	if (!placed) {
		/* right after the last 127.0.0.1 line, or at the end */
		if (after_local && !out->oom) {
			size_t ml = strlen(mine), tail = out->len - after_local;

			fix_buf_add(out, mine, ml + 1); /* reserve */
			if (!out->oom) {
				memmove(out->p + after_local + ml + 1,
					out->p + after_local, tail);
				memcpy(out->p + after_local, mine, ml);
				out->p[after_local + ml] = '\n';
			}
		} else {
			if (out->len && out->p[out->len - 1] != '\n')
				fix_buf_add(out, "\n", 1);
			fix_buf_printf(out, "%s\n", mine);
		}
	}
	return 0;
}

/* ---- SSH host keys ------------------------------------------------------- */

static const char keygen_comment[] =
	"# domufs: make the SSH host keys the template does not carry";

static void keygen_loop(struct fix_buf *out, const char *types)
{
	fix_buf_printf(out,
		       "for t in %s; do [ -f /etc/ssh/ssh_host_${t}_key ] || "
		       "ssh-keygen -q -N '' -t $t -f /etc/ssh/ssh_host_${t}_key"
		       " >/dev/null 2>&1; done",
		       types);
}

/* /etc/default/ssh, which Debian's /etc/init.d/ssh sources at start. */
int fix_edit_ssh_keygen_sysv(const struct fix_ctx *ctx, const char *arg,
			     const char *in, size_t len, struct fix_buf *out)
{
	struct fix_buf want = { 0 };
	const char *pos = in, *line;
	bool have = false;
	size_t ll;

	keygen_loop(&want, arg ? arg : "rsa");
	if (want.oom) {
		fix_buf_clear(&want);
		return -ENOMEM;
	}
	while (fix_line_next(&pos, in + len, &line, &ll)) {
		if (fix_line_eq(line, ll, keygen_comment))
			continue;
		if (fix_line_eq(line, ll, want.p)) {
			have = true;
			fix_buf_printf(out, "%s\n", keygen_comment);
		}
		fix_buf_line(out, line, ll);
	}
	if (!have) {
		if (out->len && out->p[out->len - 1] != '\n')
			fix_buf_add(out, "\n", 1);
		fix_buf_printf(out, "%s\n%s\n", keygen_comment, want.p);
	}
	fix_buf_clear(&want);
	return 0;
}

/* A drop-in for Debian's ssh.service: keys before its `sshd -t`. */
int fix_edit_ssh_keygen_systemd(const struct fix_ctx *ctx, const char *arg,
				const char *in, size_t len, struct fix_buf *out)
{
	fix_buf_printf(out,
		       "%s\n"
		       "[Service]\n"
		       "ExecStartPre=\n"
		       "ExecStartPre=-/usr/bin/ssh-keygen -A\n"
		       "ExecStartPre=/usr/sbin/sshd -t\n",
		       keygen_comment);
	return 0;
}

/* An upstart task for Ubuntu's ssh job. */
int fix_edit_ssh_keygen_upstart(const struct fix_ctx *ctx, const char *arg,
				const char *in, size_t len, struct fix_buf *out)
{
	fix_buf_printf(out,
		       "%s\n"
		       "start on starting ssh\n"
		       "task\n"
		       "script\n\t",
		       keygen_comment);
	keygen_loop(out, arg ? arg : "rsa");
	fix_buf_puts(out, "\nend script\n");
	return 0;
}

/*
 * Hides /etc/ssh/ssh_host_* and, where the distribution would not make new
 * keys by itself (Debian and Ubuntu), arranges for sshd's start to do it.
 */
static int plan_ssh_keys(struct fix_planner *p)
{
	const struct fix_facts *f = p->ctx->facts;
	char types[128] = "";
	char **names = NULL;
	bool any = false;
	int r;

	r = fix_list(p->rd, "/etc/ssh", &names);
	if (fix_absent(r))
		return 0;
	if (r < 0)
		return r;
	for (char **n = names; *n; n++) {
		char path[300];
		size_t l = strlen(*n);

		if (strncmp(*n, "ssh_host_", 9))
			continue;
		if (!(l > 4 && !strcmp(*n + l - 4, "_key")) &&
		    !(l > 8 && !strcmp(*n + l - 8, "_key.pub")))
			continue;
		snprintf(path, sizeof(path), "/etc/ssh/%s", *n);
		r = fix_plan_hide(p, path);
		if (r < 0)
			goto out;
		any = true;
		/* ssh_host_TYPE_key: remember TYPE (not SSH1's ssh_host_key) */
		if (l > 13 && !strcmp(*n + l - 4, "_key")) {
			size_t tl = l - 13;
			const char *t = *n + 9;

			if (tl < 16 && strlen(types) + tl + 2 < sizeof(types) &&
			    strspn(t, "abcdefghijklmnopqrstuvwxyz0123456789") >=
				    tl) {
				if (types[0])
					strcat(types, " ");
				strncat(types, t, tl);
			}
		}
	}
	if (!any ||
	    (f->family != FIX_FAMILY_DEBIAN && f->family != FIX_FAMILY_UBUNTU))
		goto out;
	if (!types[0])
		snprintf(types, sizeof(types), "rsa");
	if (f->init == FIX_INIT_SYSTEMD)
		r = fix_plan_file(p,
				  "/etc/systemd/system/ssh.service.d/"
				  "domufs-hostkeys.conf",
				  FIX_OP_SSH_KEYGEN_SYSTEMD, NULL,
				  FIX_MAY_CREATE, 0644, 0, 0);
	else if (f->init == FIX_INIT_UPSTART)
		r = fix_plan_file(p, "/etc/init/domufs-ssh-keygen.conf",
				  FIX_OP_SSH_KEYGEN_UPSTART, types,
				  FIX_MAY_CREATE, 0644, 0, 0);
	else
		r = fix_plan_file(p, "/etc/default/ssh", FIX_OP_SSH_KEYGEN_SYSV,
				  types, FIX_MAY_CREATE, 0644, 0, 0);
out:
	fix_strv_free(names);
	return r;
}

int fix_rule_identity(struct fix_planner *p)
{
	const struct fix_facts *f = p->ctx->facts;
	int r;

	if (p->ctx->profile->hostname) {
		if (f->family == FIX_FAMILY_RHEL && f->init != FIX_INIT_SYSTEMD)
			r = fix_plan_file(p, "/etc/sysconfig/network",
					  FIX_OP_SYSCONFIG_HOSTNAME, NULL,
					  FIX_MAY_CREATE, 0644, 0, 0);
		else
			r = fix_plan_file(p, "/etc/hostname", FIX_OP_HOSTNAME,
					  NULL, FIX_MAY_CREATE, 0644, 0, 0);
		if (r < 0)
			return r;
		r = fix_plan_file(p, "/etc/hosts", FIX_OP_HOSTS, NULL,
				  FIX_MAY_CREATE, 0644, 0, 0);
		if (r < 0)
			return r;
	}
	/* An empty machine-id: systemd makes a new one at first boot. */
	r = fix_plan_file(p, "/etc/machine-id", FIX_OP_EMPTY, NULL,
			  FIX_MUST_EXIST, 0, 0, 0);
	if (r < 0)
		return r;
	{
		mode_t m;

		if (fix_stat(p->rd, "/var/lib/dbus/machine-id", false, &m) ==
			    0 &&
		    S_ISREG(m)) {
			r = fix_plan_hide(p, "/var/lib/dbus/machine-id");
			if (r < 0)
				return r;
		}
	}
	return plan_ssh_keys(p);
}

/* ---- accounts ------------------------------------------------------------ */

/* Sets field 2 of root's line in a passwd/shadow style file. */
static void set_root_password(const char *in, size_t len, const char *hash,
			      const char *missing_fmt, struct fix_buf *out)
{
	const char *pos = in, *line;
	bool have = false;
	size_t ll;

	while (fix_line_next(&pos, in + len, &line, &ll)) {
		const char *c1, *c2;

		if (have || ll < 5 || memcmp(line, "root:", 5)) {
			fix_buf_line(out, line, ll);
			continue;
		}
		have = true;
		c1 = line + 4;
		c2 = memchr(c1 + 1, ':', ll - 5);
		fix_buf_printf(out, "root:%s", hash);
		if (c2)
			fix_buf_add(out, c2, (size_t)(line + ll - c2));
		fix_buf_add(out, "\n", 1);
	}
	if (!have) {
		struct fix_buf rest = { 0 };

		/* root first, as every distribution has it */
		fix_buf_add(&rest, out->p ? out->p : "", out->len);
		out->len = 0;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		fix_buf_printf(out, missing_fmt, hash);
#pragma GCC diagnostic pop
		fix_buf_add(out, rest.p ? rest.p : "", rest.len);
		if (rest.oom)
			out->oom = true;
		fix_buf_clear(&rest);
	}
}

int fix_edit_shadow(const struct fix_ctx *ctx, const char *arg, const char *in,
		    size_t len, struct fix_buf *out)
{
	const char *hash = ctx->profile->root_password_hash;

	if (!hash)
		return -EINVAL;
	set_root_password(in, len, hash, "root:%s::0:99999:7:::\n", out);
	return 0;
}

int fix_edit_passwd(const struct fix_ctx *ctx, const char *arg, const char *in,
		    size_t len, struct fix_buf *out)
{
	const char *hash = ctx->profile->root_password_hash;

	if (!hash)
		return -EINVAL;
	set_root_password(in, len, hash, "root:%s:0:0:root:/root:/bin/sh\n",
			  out);
	return 0;
}

int fix_edit_authkeys(const struct fix_ctx *ctx, const char *arg,
		      const char *in, size_t len, struct fix_buf *out)
{
	const struct fix_profile *prof = ctx->profile;

	fix_buf_add(out, in, len);
	if (len && in[len - 1] != '\n')
		fix_buf_add(out, "\n", 1);
	for (size_t i = 0; i < prof->n_ssh_keys; i++) {
		const char *k = prof->ssh_keys[i], *pos = in, *line;
		struct fix_span key = fix_span_trim(k, strlen(k));
		bool have = !key.n;
		size_t ll;

		/* compared and written without blanks at either end */
		while (fix_line_next(&pos, in + len, &line, &ll)) {
			struct fix_span t = fix_span_trim(line, ll);

			have |= t.n == key.n && !memcmp(t.p, key.p, key.n);
		}
		/* a key twice in the profile is written once */
		for (size_t j = 0; j < i && !have; j++) {
			struct fix_span o = fix_span_trim(
				prof->ssh_keys[j], strlen(prof->ssh_keys[j]));

			have = o.n == key.n && !memcmp(o.p, key.p, key.n);
		}
		if (!have)
			fix_buf_line(out, key.p, key.n);
	}
	return 0;
}

/* Root's home from /etc/passwd ("/root" when it says nothing usable). */
static char *root_home(struct fix_planner *p)
{
	_cleanup_free_ char *data = NULL;
	const char *pos, *line;
	size_t len, ll;

	if (fix_read(p->rd, "/etc/passwd", &data, &len) == 0) {
		pos = data;
		while (fix_line_next(&pos, data + len, &line, &ll)) {
			const char *f = line;
			size_t k = 0, fl;

			if (ll < 5 || memcmp(line, "root:", 5))
				continue;
			/* the 6th field */
			while (k < 5 && f) {
				f = memchr(f, ':', (size_t)(line + ll - f));
				if (f)
					f++;
				k++;
			}
			if (!f)
				break;
			fl = strcspn(f, ":\n");
			if (f + fl > line + ll)
				fl = (size_t)(line + ll - f);
			if (fl > 1 && fl < 200 && f[0] == '/' &&
			    !memmem(f, fl, "..", 2))
				return strndup(f, fl);
			break;
		}
	}
	return strdup("/root");
}

int fix_rule_accounts(struct fix_planner *p)
{
	const struct fix_profile *prof = p->ctx->profile;
	int r;

	if (prof->root_password_hash) {
		if (fix_has(p->rd, "/etc/shadow", S_IFREG))
			r = fix_plan_file(p, "/etc/shadow", FIX_OP_SHADOW, NULL,
					  FIX_MUST_EXIST, 0, 0, 0);
		else
			r = fix_plan_file(p, "/etc/passwd", FIX_OP_PASSWD, NULL,
					  FIX_MUST_EXIST, 0, 0, 0);
		if (r < 0)
			return r;
	}
	if (prof->n_ssh_keys) {
		_cleanup_free_ char *home = root_home(p);
		char path[256];

		if (!home)
			return -ENOMEM;
		r = fix_plan_mkdir(p, home, 0700, 0, 0);
		if (r < 0)
			return r;
		snprintf(path, sizeof(path), "%s/.ssh", home);
		r = fix_plan_mkdir(p, path, 0700, 0, 0);
		if (r < 0)
			return r;
		snprintf(path, sizeof(path), "%s/.ssh/authorized_keys", home);
		r = fix_plan_file(p, path, FIX_OP_AUTHKEYS, NULL,
				  FIX_MAY_CREATE, 0600, 0, 0);
		if (r < 0)
			return r;
	}
	return 0;
}
