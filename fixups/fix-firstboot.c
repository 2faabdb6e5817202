// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The firstboot rule: a run-once script for what must happen inside the
 * guest (its own SSH host keys, machine-id), then the xenstore handshake
 * with dom0 (DESIGN.md, "xenstore"); hooked into the template's init system
 * and disabled by the script itself. Plan function and edit transforms
 * only, no I/O of their own.
 *
 * Once per domain. The script, when it has run, writes a marker holding
 * this domain's stamp ("domufs firstboot ran for HOSTNAME MAC", from the
 * profile) and removes its hooks; busybox's sysinit hook, a line of an
 * existing script, becomes a comment carrying the same stamp. A tree whose
 * marker carries this domain's stamp has had its first boot (the script ran
 * through the mount, in a chroot): the rule installs nothing. Any other
 * marker came with the template (a root captured from a booted guest): it
 * is hidden, and a sysinit hook disabled under another stamp is armed
 * again, so that this domain's first boot runs.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "fixups/fix-internal.h"

#define FB_NAME "domufs-firstboot"
#define FB_SCRIPT "/usr/lib/domufs/firstboot"
#define FB_MARKER_DIR "/var/lib/domufs"
#define FB_MARKER FB_MARKER_DIR "/firstboot.done"
#define FB_STAMP "domufs firstboot ran for"
/* What a sysinit script gets; the script turns it into "# STAMP". */
#define FB_HOOK "if [ -f " FB_SCRIPT " ]; then /bin/sh " FB_SCRIPT " || :; fi"
#define FB_UNIT "/etc/systemd/system/" FB_NAME ".service"
#define FB_WANTS \
	"/etc/systemd/system/multi-user.target.wants/" FB_NAME ".service"

static const char written_by[] = "Written by domufs (the \"firstboot\" fixup)";

/* "domufs firstboot ran for banquo 00:16:3e:12:34:56" */
static void stamp(const struct fix_ctx *ctx, struct fix_buf *out)
{
	const struct fix_profile *p = ctx->profile;
	const char *parts[2] = { NULL, NULL };
	bool any = false;

	if (p) {
		parts[0] = p->hostname;
		if (p->n_nics && p->nics)
			parts[1] = p->nics[0].mac;
	}
	fix_buf_puts(out, FB_STAMP);
	for (size_t i = 0; i < 2; i++) {
		if (!parts[i] || !*parts[i])
			continue;
		fix_buf_puts(out, " ");
		/* it goes between single quotes: only these characters */
		for (const char *s = parts[i]; *s && s - parts[i] < 256; s++) {
			bool ok = isalnum((unsigned char)*s) ||
				  strchr(".:-", *s);

			fix_buf_add(out, ok ? s : "_", 1);
		}
		any = true;
	}
	if (!any)
		fix_buf_puts(out, " this domain");
}

static char *stamp_str(const struct fix_ctx *ctx)
{
	struct fix_buf b = { 0 };
	char *s = NULL;
	size_t n;

	stamp(ctx, &b);
	return fix_buf_done(&b, &s, &n) < 0 ? NULL : s;
}

/* ---- The script ----------------------------------------------------------- */

static const char script_head[] =
	"#!/bin/sh\n"
	"# domufs-firstboot: the first boot of this domain, once.\n"
	"# %s; switch it off with\n"
	"# fixups = [ \"all\", \"-firstboot\" ] in the domain's profile.\n"
	"#\n"
	"# Makes what must be this guest's own (SSH host keys, "
	"machine-id), disables\n"
	"# itself, then tells dom0 through xenstore: data/domufs/firstboot, "
	"under this\n"
	"# domain's /local/domain/<domid>/, is \"done\" or \"failed: "
	"REASON\".\n"
	"\n"
	"umask 022\n"
	"PATH=\"${PATH:+$PATH:}/usr/local/sbin:/usr/local/bin:/usr/sbin:"
	"/usr/bin:/sbin:/bin\"\n"
	"export PATH\n"
	"\n"
	"marker=" FB_MARKER "\n"
	"stamp='%s'\n"
	"hook='" FB_HOOK "'\n"
	"failed=\n"
	"\n";

static const char script_body[] =
	"log() {\n"
	"\techo \"domufs-firstboot: $*\" >&2\n"
	"}\n"
	"\n"
	"have() {\n"
	"\tcommand -v \"$1\" >/dev/null 2>&1\n"
	"}\n"
	"\n"
	"fail() {\n"
	"\tlog \"FAILED: $*\"\n"
	"\t[ -n \"$failed\" ] || failed=$*\n"
	"}\n"
	"\n"
	"# The line of an init script that runs this one becomes \"# "
	"$stamp\". A new\n"
	"# file renamed over it: the shell running that script keeps "
	"reading the old.\n"
	"unhook() {\n"
	"\t[ -f \"$1\" ] || return 0\n"
	"\ttmp=$1.domufs-firstboot.$$\n"
	"\tcp -p \"$1\" \"$tmp\" || return 1\n"
	"\twhile IFS= read -r line || [ -n \"$line\" ]; do\n"
	"\t\tif [ \"$line\" = \"$hook\" ]; then\n"
	"\t\t\tprintf '# %s\\n' \"$stamp\"\n"
	"\t\telse\n"
	"\t\t\tprintf '%s\\n' \"$line\"\n"
	"\t\tfi\n"
	"\tdone <\"$1\" >\"$tmp\" && mv -f \"$tmp\" \"$1\" && return 0\n"
	"\trm -f \"$tmp\"\n"
	"\treturn 1\n"
	"}\n"
	"\n"
	"if [ -e \"$marker\" ]; then\n"
	"\tlog \"ran already ($marker): nothing to do\"\n"
	"\texit 0\n"
	"fi\n"
	"log \"first boot of this domain\"\n"
	"\n"
	"# SSH host keys: the template's were not copied into this guest.\n"
	"if have ssh-keygen; then\n"
	"\tlog \"making SSH host keys (ssh-keygen)\"\n"
	"\tif ! ssh-keygen -A >/dev/null 2>&1; then\n"
	"\t\t# OpenSSH before 5.8 has no -A: the types it knows\n"
	"\t\tfor t in rsa dsa; do\n"
	"\t\t\tf=/etc/ssh/ssh_host_${t}_key\n"
	"\t\t\t[ -f \"$f\" ] || ssh-keygen -q -t \"$t\" -N '' -f \"$f\" \\\n"
	"\t\t\t\t>/dev/null 2>&1 || fail \"ssh-keygen -t $t\"\n"
	"\t\tdone\n"
	"\tfi\n"
	"fi\n"
	"if have dropbearkey && { have dropbear || [ -d /etc/dropbear ]; }; "
	"then\n"
	"\tmkdir -p /etc/dropbear\n"
	"\tfor t in rsa ecdsa ed25519; do\n"
	"\t\tf=/etc/dropbear/dropbear_${t}_host_key\n"
	"\t\t[ -f \"$f\" ] && continue\n"
	"\t\tlog \"making the dropbear $t host key\"\n"
	"\t\t# an older dropbear knows rsa only\n"
	"\t\tdropbearkey -t \"$t\" -f \"$f\" >/dev/null 2>&1 ||\n"
	"\t\t\t[ \"$t\" != rsa ] || fail \"dropbearkey -t rsa\"\n"
	"\tdone\n"
	"fi\n"
	"\n"
	"# An empty machine-id (the identity fixup empties it): this "
	"guest's own.\n"
	"if [ -f /etc/machine-id ] && [ ! -s /etc/machine-id ]; then\n"
	"\tif have systemd-machine-id-setup; then\n"
	"\t\tlog \"making /etc/machine-id\"\n"
	"\t\tsystemd-machine-id-setup >/dev/null 2>&1 ||\n"
	"\t\t\tfail \"systemd-machine-id-setup\"\n"
	"\telif have dbus-uuidgen; then\n"
	"\t\tlog \"making /etc/machine-id\"\n"
	"\t\tdbus-uuidgen --ensure=/etc/machine-id || fail \"dbus-uuidgen\"\n"
	"\tfi\n"
	"fi\n"
	"\n"
	"# Never again: the marker, which every hook checks first, then the "
	"hooks.\n"
	"if mkdir -p " FB_MARKER_DIR " && echo \"$stamp\" >\"$marker\"; then\n"
	"\tlog \"wrote $marker\"\n"
	"else\n"
	"\tfail \"cannot write $marker\"\n"
	"fi\n";

static const char script_tail[] =
	"sync\n"
	"\n"
	"if [ -n \"$failed\" ]; then\n"
	"\tresult=\"failed: $failed\"\n"
	"else\n"
	"\tresult=\"done\"\n"
	"fi\n"
	"# a kernel whose /proc/xen needs xenfs for xenbus\n"
	"if [ -d /proc/xen ] && [ ! -e /proc/xen/xenbus ] &&\n"
	"\t[ ! -e /dev/xen/xenbus ]; then\n"
	"\tmount -t xenfs xenfs /proc/xen >/dev/null 2>&1 || :\n"
	"fi\n"
	"# relative: under this domain's own /local/domain/<domid>/\n"
	"if ! have xenstore-write; then\n"
	"\tlog \"no xenstore-write in this guest: dom0 is not told "
	"($result)\"\n"
	"elif xenstore-write data/domufs/firstboot \"$result\"; then\n"
	"\tlog \"told dom0: $result\"\n"
	"else\n"
	"\tlog \"xenstore-write failed: dom0 is not told ($result)\"\n"
	"fi\n"
	"if have logger; then\n"
	"\tlogger -t domufs-firstboot \"$result\" >/dev/null 2>&1 || :\n"
	"fi\n"
	"[ -z \"$failed\" ]\n";

/*
 * The script itself. @arg lists its hooks, blank-separated: "rm:PATH" (a
 * link or job file to remove) and "unhook:PATH" (a script whose hook line
 * becomes a comment). Paths are ours: no blanks, quotes or globs.
 */
int fix_edit_firstboot_script(const struct fix_ctx *ctx, const char *arg,
			      const char *in, size_t len, struct fix_buf *out)
{
	_cleanup_free_ char *st = stamp_str(ctx);
	struct fix_span w[16];
	size_t n;

	if (!st)
		return -ENOMEM;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	fix_buf_printf(out, script_head, written_by, st);
#pragma GCC diagnostic pop
	fix_buf_puts(out, script_body);
	n = arg ? fix_fields(arg, strlen(arg), w, 16) : 0;
	for (size_t i = 0; i < n; i++) {
		if (w[i].n > 3 && !memcmp(w[i].p, "rm:", 3)) {
			int pl = (int)(w[i].n - 3);
			const char *p = w[i].p + 3;

			fix_buf_printf(out,
				       "if rm -f %.*s; then\n"
				       "\tlog \"disabled: removed %.*s\"\n"
				       "else\n"
				       "\tlog \"could not remove %.*s (the "
				       "marker keeps it off)\"\n"
				       "fi\n",
				       pl, p, pl, p, pl, p);
		} else if (w[i].n > 7 && !memcmp(w[i].p, "unhook:", 7)) {
			int pl = (int)(w[i].n - 7);
			const char *p = w[i].p + 7;

			fix_buf_printf(out,
				       "if unhook %.*s; then\n"
				       "\tlog \"disabled: the hook in %.*s is "
				       "a comment now\"\n"
				       "else\n"
				       "\tlog \"could not rewrite %.*s (the "
				       "marker keeps it off)\"\n"
				       "fi\n",
				       pl, p, pl, p, pl, p);
		}
	}
	fix_buf_puts(out, script_tail);
	return 0;
}

/* ---- The hooks ------------------------------------------------------------ */

/* Debian (LSB, insserv) and Red Hat (chkconfig) alike. */
int fix_edit_firstboot_sysv(const struct fix_ctx *ctx, const char *arg,
			    const char *in, size_t len, struct fix_buf *out)
{
	fix_buf_printf(
		out,
		"#!/bin/sh\n"
		"### BEGIN INIT INFO\n"
		"# Provides:          " FB_NAME "\n"
		"# Required-Start:    $local_fs $remote_fs\n"
		"# Required-Stop:\n"
		"# X-Start-Before:    ssh sshd dropbear\n"
		"# Default-Start:     2 3 4 5\n"
		"# Default-Stop:\n"
		"# Short-Description: The first boot of this domain (domufs)\n"
		"# Description:       This guest's own SSH host keys, then "
		"the xenstore\n"
		"#                    handshake with dom0; runs once.\n"
		"### END INIT INFO\n"
		"#\n"
		"# chkconfig: 2345 01 99\n"
		"# description: The first boot of this domain (domufs): "
		"this guest's own \\\n"
		"#              SSH host keys, then the xenstore handshake "
		"with dom0; once.\n"
		"#\n"
		"# %s: runs " FB_SCRIPT ".\n"
		"\n"
		"case \"$1\" in\n"
		"start)\n"
		"\t[ -f " FB_SCRIPT " ] || exit 0\n"
		"\t/bin/sh " FB_SCRIPT "\n"
		"\t;;\n"
		"stop|status|restart|reload|force-reload)\n"
		"\t;;\n"
		"*)\n"
		"\techo \"Usage: $0 {start|stop}\" >&2\n"
		"\texit 3\n"
		"\t;;\n"
		"esac\n",
		written_by);
	return 0;
}

/* @arg: the interpreter, /sbin/openrc-run (or an older /sbin/runscript). */
int fix_edit_firstboot_openrc(const struct fix_ctx *ctx, const char *arg,
			      const char *in, size_t len, struct fix_buf *out)
{
	fix_buf_printf(out,
		       "#!%s\n"
		       "# %s: runs " FB_SCRIPT ".\n"
		       "\n"
		       "description=\"The first boot of this domain (domufs): "
		       "SSH host keys, xenstore handshake\"\n"
		       "\n"
		       "depend() {\n"
		       "\tneed localmount\n"
		       "\tafter bootmisc\n"
		       "\tbefore sshd dropbear\n"
		       "}\n"
		       "\n"
		       "start() {\n"
		       "\t[ -f " FB_SCRIPT " ] || return 0\n"
		       "\tebegin \"domufs first boot\"\n"
		       "\t/bin/sh " FB_SCRIPT "\n"
		       "\teend $?\n"
		       "}\n",
		       arg ? arg : "/sbin/openrc-run", written_by);
	return 0;
}

int fix_edit_firstboot_systemd(const struct fix_ctx *ctx, const char *arg,
			       const char *in, size_t len, struct fix_buf *out)
{
	fix_buf_printf(out,
		       "# %s: runs " FB_SCRIPT ".\n"
		       "[Unit]\n"
		       "Description=The first boot of this domain (domufs): "
		       "SSH host keys, xenstore handshake\n"
		       "ConditionPathExists=!" FB_MARKER "\n"
		       "After=local-fs.target\n"
		       "Before=ssh.service sshd.service dropbear.service\n"
		       "\n"
		       "[Service]\n"
		       "Type=oneshot\n"
		       "RemainAfterExit=no\n"
		       "ExecStart=/bin/sh " FB_SCRIPT "\n"
		       "StandardOutput=journal+console\n"
		       "StandardError=journal+console\n"
		       "\n"
		       "[Install]\n"
		       "WantedBy=multi-user.target\n",
		       written_by);
	return 0;
}

/*
 * Ubuntu's ssh job starts on runlevel: ours runs as ssh starts, holding it
 * until the keys are there; without an ssh job (RHEL 6 runs sshd from rc),
 * when rc is done. @arg: the event to run before ("ssh", or the identity
 * rule's keygen task, which itself holds ssh: one ssh-keygen at a time).
 */
int fix_edit_firstboot_upstart(const struct fix_ctx *ctx, const char *arg,
			       const char *in, size_t len, struct fix_buf *out)
{
	fix_buf_printf(
		out,
		"# " FB_NAME " - the first boot of this domain\n"
		"# %s: runs " FB_SCRIPT ".\n"
		"\n"
		"description \"the first boot of this domain (domufs)\"\n"
		"\n"
		"start on starting %s or stopped rc RUNLEVEL=[2345]\n"
		"task\n"
		"console output\n"
		"\n"
		"exec /bin/sh " FB_SCRIPT "\n",
		written_by, arg ? arg : "ssh");
	return 0;
}

/* "exit", "exit 0", "exec foo": the end of a script, nothing runs after. */
static bool ends_script(const char *s, size_t n)
{
	struct fix_span f[1];

	if (fix_fields(s, n, f, 1) != 1)
		return false;
	return fix_span_eq(f[0], "exit") || fix_span_eq(f[0], "exec");
}

static bool is_stamp_line(const char *s, size_t n)
{
	struct fix_span t = fix_span_trim(s, n);
	static const char pre[] = "# " FB_STAMP " ";

	return t.n > sizeof(pre) - 1 && !memcmp(t.p, pre, sizeof(pre) - 1);
}

/*
 * A busybox sysinit script (/etc/init.d/rcS): the hook line once, before a
 * final exit/exec, or at the end. The script, when it has run, makes the
 * line "# STAMP": kept for this domain, armed again for another.
 */
int fix_edit_firstboot_hook(const struct fix_ctx *ctx, const char *arg,
			    const char *in, size_t len, struct fix_buf *out)
{
	_cleanup_free_ char *st = stamp_str(ctx);
	_cleanup_free_ char *mine = NULL;
	const char *pos = in, *line;
	bool have = false, foreign = false, last_ends = false;
	size_t ll, last_start = 0;

	if (!st || asprintf(&mine, "# %s", st) < 0)
		return -ENOMEM;
	while (fix_line_next(&pos, in + len, &line, &ll)) {
		have |= fix_line_eq(line, ll, FB_HOOK) ||
			fix_line_eq(line, ll, mine);
		foreign |= is_stamp_line(line, ll);
	}
	if (have) {
		fix_buf_add(out, in, len);
		return 0;
	}
	if (!len) {
		fix_buf_puts(out, "#!/bin/sh\n" FB_HOOK "\n");
		return 0;
	}
	pos = in;
	while (fix_line_next(&pos, in + len, &line, &ll)) {
		if (foreign && is_stamp_line(line, ll)) {
			/* another domain's first boot: ours is to come */
			fix_buf_puts(out, FB_HOOK "\n");
			foreign = false;
			have = true;
			continue;
		}
		if (!fix_line_is_comment(line, ll)) {
			last_start = out->len;
			last_ends = ends_script(line, ll);
		}
		fix_buf_line(out, line, ll);
	}
	if (have)
		return 0;
	if (last_ends && !out->oom) {
		/* before the final exit: that line moves down by one */
		size_t hl = sizeof(FB_HOOK), tail = out->len - last_start;

		fix_buf_add(out, FB_HOOK "\n", hl);
		if (!out->oom) {
			memmove(out->p + last_start + hl, out->p + last_start,
				tail);
			memcpy(out->p + last_start, FB_HOOK "\n", hl);
		}
		return 0;
	}
	fix_buf_puts(out, FB_HOOK "\n");
	return 0;
}

/*
 * insserv's /etc/init.d/.depend.start, which startpar follows (CONCURRENCY=
 * makefile) instead of the link names: ours among the TARGETS, and the SSH
 * servers' lines depending on it.
 */
int fix_edit_firstboot_depend(const struct fix_ctx *ctx, const char *arg,
			      const char *in, size_t len, struct fix_buf *out)
{
	static const char *const servers[] = { "ssh", "sshd", "dropbear" };
	bool listed[3] = { false, false, false },
	     line_of[3] = { false, false, false };
	const char *pos = in, *line;
	size_t ll;

	while (fix_line_next(&pos, in + len, &line, &ll)) {
		struct fix_span f[2];
		size_t nf = fix_fields(line, ll, f, 2);
		bool targets = nf == 2 && fix_span_eq(f[0], "TARGETS") &&
			       fix_span_eq(f[1], "=");
		size_t k;

		fix_buf_add(out, line, ll);
		if (fix_line_is_comment(line, ll) || !nf) {
			fix_buf_add(out, "\n", 1);
			continue;
		}
		if (targets) {
			for (k = 0; k < 3; k++)
				listed[k] |=
					fix_line_has_word(line, ll, servers[k]);
			if (!fix_line_has_word(line, ll, FB_NAME))
				fix_buf_puts(out, " " FB_NAME);
		}
		for (k = 0; k < 3 && !targets; k++) {
			size_t sl = strlen(servers[k]);

			if (f[0].n != sl + 1 ||
			    memcmp(f[0].p, servers[k], sl) || f[0].p[sl] != ':')
				continue;
			line_of[k] = true;
			if (!fix_line_has_word(line, ll, FB_NAME))
				fix_buf_puts(out, " " FB_NAME);
		}
		fix_buf_add(out, "\n", 1);
	}
	for (size_t k = 0; k < 3; k++)
		if (listed[k] && !line_of[k])
			fix_buf_printf(out, "%s: " FB_NAME "\n", servers[k]);
	return 0;
}

/* ---- Planning ------------------------------------------------------------- */

/* The script's hooks, for its "disabled" part (fix_edit_firstboot_script). */
struct hooks {
	char list[1024];
	size_t n;
};

static void hooks_add(struct hooks *h, const char *kind, const char *path)
{
	size_t l = strlen(h->list);

	if (h->n >= 16)
		return;
	snprintf(h->list + l, sizeof(h->list) - l, "%s%s:%s", l ? " " : "",
		 kind, path);
	h->n++;
}

static int plan_systemd(struct fix_planner *p, struct hooks *h)
{
	int r = fix_plan_file(p, FB_UNIT, FIX_OP_FIRSTBOOT_SYSTEMD, NULL,
			      FIX_MAY_CREATE, 0644, 0, 0);

	if (r < 0)
		return r;
	hooks_add(h, "rm", FB_WANTS);
	return fix_plan_symlink(p, FB_WANTS, FB_UNIT);
}

/* The S link of ours already in @dir ("S20domufs-firstboot"), or S01. */
static int sysv_link_name(struct fix_planner *p, const char *dir, char name[64])
{
	char **names = NULL;
	int r = fix_list(p->rd, dir, &names);

	snprintf(name, 64, "S01" FB_NAME);
	if (fix_absent(r))
		return 0;
	if (r < 0)
		return r;
	for (char **n = names; *n; n++)
		if (strlen(*n) == 3 + strlen(FB_NAME) && (*n)[0] == 'S' &&
		    isdigit((unsigned char)(*n)[1]) &&
		    isdigit((unsigned char)(*n)[2]) &&
		    !strcmp(*n + 3, FB_NAME)) {
			snprintf(name, 64, "%s", *n);
			break;
		}
	fix_strv_free(names);
	return 0;
}

/*
 * Debian: /etc/init.d and /etc/rcN.d; Red Hat: /etc/rc.d/init.d and
 * /etc/rc.d/rcN.d. S01 in runlevels 2-5, before ssh (S16/S20 before
 * insserv, S01-S03 with it: "S01domufs-firstboot" sorts before "S01ssh").
 */
static int plan_sysv(struct fix_planner *p, struct hooks *h)
{
	bool rhel = p->ctx->facts->family == FIX_FAMILY_RHEL ||
		    fix_has(p->rd, "/etc/rc.d/init.d", S_IFDIR);
	const char *base = rhel ? "/etc/rc.d" : "/etc";
	char script[64], dir[64], link[128];
	int r;

	snprintf(script, sizeof(script), "%s/init.d/" FB_NAME, base);
	r = fix_plan_file(p, script, FIX_OP_FIRSTBOOT_SYSV, NULL,
			  FIX_MAY_CREATE, 0755, 0, 0);
	if (r < 0)
		return r;
	for (int level = 2; level <= 5; level++) {
		char name[64];

		snprintf(dir, sizeof(dir), "%s/rc%d.d", base, level);
		r = sysv_link_name(p, dir, name);
		if (r < 0)
			return r;
		snprintf(link, sizeof(link), "%s/%s", dir, name);
		hooks_add(h, "rm", link);
		r = fix_plan_symlink(p, link, "../init.d/" FB_NAME);
		if (r < 0)
			return r;
	}
	if (rhel)
		return 0;
	return fix_plan_file(p, "/etc/init.d/.depend.start",
			     FIX_OP_FIRSTBOOT_DEPEND, NULL, FIX_MUST_EXIST, 0,
			     0, 0);
}

static int plan_openrc(struct fix_planner *p, struct hooks *h)
{
	const char *run = "/sbin/openrc-run";
	int r;

	if (!fix_has(p->rd, run, 0) && fix_has(p->rd, "/sbin/runscript", 0))
		run = "/sbin/runscript";
	r = fix_plan_file(p, "/etc/init.d/" FB_NAME, FIX_OP_FIRSTBOOT_OPENRC,
			  run, FIX_MAY_CREATE, 0755, 0, 0);
	if (r < 0)
		return r;
	hooks_add(h, "rm", "/etc/runlevels/default/" FB_NAME);
	return fix_plan_symlink(p, "/etc/runlevels/default/" FB_NAME,
				"/etc/init.d/" FB_NAME);
}

static int plan_upstart(struct fix_planner *p, struct hooks *h)
{
	const char *before = "ssh";

	/* the task, planned by the identity rule or already there */
	if (fix_plan_find(p, "/etc/init/domufs-ssh-keygen.conf") ||
	    fix_has(p->rd, "/etc/init/domufs-ssh-keygen.conf", S_IFREG))
		before = "domufs-ssh-keygen";
	hooks_add(h, "rm", "/etc/init/" FB_NAME ".conf");
	return fix_plan_file(p, "/etc/init/" FB_NAME ".conf",
			     FIX_OP_FIRSTBOOT_UPSTART, before, FIX_MAY_CREATE,
			     0644, 0, 0);
}

/*
 * The script busybox init runs first: the inittab's first ::sysinit: (its
 * first word, or the second after a shell), /etc/init.d/rcS without an
 * inittab. False when the inittab names none or something else than an
 * absolute path.
 */
static bool sysinit_script(const char *tab, size_t len, char *buf, size_t size)
{
	const char *pos = tab, *line;
	size_t ll;

	if (!tab) {
		snprintf(buf, size, "/etc/init.d/rcS");
		return true;
	}
	while (fix_line_next(&pos, tab + len, &line, &ll)) {
		const char *c1, *c2, *c3, *end = line + ll;
		struct fix_span f[2];
		size_t nf, k = 0;

		if (fix_line_is_comment(line, ll))
			continue;
		c1 = memchr(line, ':', ll);
		c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
		c3 = c2 ? memchr(c2 + 1, ':', (size_t)(end - c2 - 1)) : NULL;
		if (!c3 || c3 - c2 - 1 != 7 || memcmp(c2 + 1, "sysinit", 7))
			continue;
		nf = fix_fields(c3 + 1, (size_t)(end - c3 - 1), f, 2);
		if (nf == 2 && f[0].n >= 3 &&
		    (!memcmp(f[0].p + f[0].n - 3, "/sh", 3) ||
		     (f[0].n >= 4 && !memcmp(f[0].p + f[0].n - 4, "/ash", 4))))
			k = 1;
		if (!nf || f[k].p[0] != '/' || f[k].n >= size)
			return false;
		snprintf(buf, size, "%.*s", (int)f[k].n, f[k].p);
		return true;
	}
	return false;
}

static int plan_busybox(struct fix_planner *p, struct hooks *h)
{
	_cleanup_free_ char *tab = NULL, *real = NULL, *data = NULL;
	char path[256];
	size_t len = 0;
	mode_t m;
	int r;

	r = fix_read(p->rd, "/etc/inittab", &tab, &len);
	if (r < 0 && !fix_absent(r))
		return r;
	if (!sysinit_script(r < 0 ? NULL : tab, len, path, sizeof(path)))
		return 0; /* nothing runs at boot that we could hook */
	r = fix_resolve(p->rd, path, true, &real);
	if (r < 0)
		return fix_absent(r) ? 0 : r;
	r = fix_stat(p->rd, real, false, &m);
	if (r == 0) {
		/* a shell script, which we can add a line to */
		if (!S_ISREG(m))
			return 0;
		r = fix_read(p->rd, real, &data, &len);
		if (r < 0)
			return fix_absent(r) ? 0 : r;
		{
			const char *nl = memchr(data, '\n', len);
			size_t fl = nl ? (size_t)(nl - data) : len;

			if (fl < 3 || memcmp(data, "#!", 2) ||
			    !memmem(data, fl, "sh", 2))
				return 0;
		}
	} else if (!fix_absent(r)) {
		return r;
	}
	r = fix_plan_file(p, real, FIX_OP_FIRSTBOOT_HOOK, NULL, FIX_MAY_CREATE,
			  0755, 0, 0);
	if (r < 0)
		return r;
	hooks_add(h, "unhook", real);
	return 0;
}

/* 1: the marker holds this domain's stamp (its first boot has been). */
static int marker_is_ours(struct fix_planner *p)
{
	_cleanup_free_ char *data = NULL, *st = NULL;
	size_t len = 0, n;
	int r = fix_read(p->rd, FB_MARKER, &data, &len);

	if (r < 0)
		return fix_absent(r) || r == -EISDIR || r == -EINVAL ? 0 : r;
	st = stamp_str(p->ctx);
	if (!st)
		return -ENOMEM;
	n = strcspn(data, "\r\n");
	while (n && (data[n - 1] == ' ' || data[n - 1] == '\t'))
		n--;
	return n == strlen(st) && !memcmp(data, st, n);
}

int fix_rule_firstboot(struct fix_planner *p)
{
	struct hooks h = { .list = "" };
	int r;

	r = marker_is_ours(p);
	if (r != 0)
		return r < 0 ? r : 0;
	switch (p->ctx->facts->init) {
	case FIX_INIT_SYSTEMD:
		r = plan_systemd(p, &h);
		break;
	case FIX_INIT_SYSVINIT:
		r = plan_sysv(p, &h);
		break;
	case FIX_INIT_OPENRC:
		r = plan_openrc(p, &h);
		break;
	case FIX_INIT_UPSTART:
		r = plan_upstart(p, &h);
		break;
	case FIX_INIT_BUSYBOX:
		r = plan_busybox(p, &h);
		break;
	case FIX_INIT_UNKNOWN:
		break;
	}
	if (r < 0)
		return r;
	if (!h.n)
		return 0; /* no way to run it */
	/* someone else's marker (the template's): this domain's boot runs */
	r = fix_plan_hide(p, FB_MARKER);
	if (r < 0)
		return r;
	return fix_plan_file(p, FB_SCRIPT, FIX_OP_FIRSTBOOT_SCRIPT, h.list,
			     FIX_MAY_CREATE, 0755, 0, 0);
}
