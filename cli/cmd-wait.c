// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * domufs wait: waits for the first-boot handshake of a running domain
 * (DESIGN.md, "xenstore"): the guest's firstboot script writes `done` or
 * `failed: REASON` to data/domufs/firstboot under its domain path. Options
 * and messages here; the xenstore work is xen/xs.c's.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "xen/xs.h"

#define FIRSTBOOT_KEY "data/domufs/firstboot"
#define DEFAULT_TIMEOUT 600.0

static const char help[] =
	"Usage: domufs wait [--timeout SECONDS] [--quiet] DOMAIN\n"
	"\n"
	"Waits for the first boot of the running Xen domain named DOMAIN to\n"
	"finish: its firstboot script writes `done' or `failed: REASON' to\n"
	"/local/domain/<domid>/" FIRSTBOOT_KEY " in xenstore.\n"
	"\n"
	"  --timeout SECONDS  give up after this long (default 600; fractions\n"
	"                     allowed; 0 waits without a time limit)\n"
	"  -q, --quiet        print nothing on success\n"
	"\n"
	"Exit status: 0 when the first boot is done; 1 when it failed (the\n"
	"reason is printed), on timeout, when no running domain has that name\n"
	"or it goes away while waiting, and when there is no xenstore (not a\n"
	"Xen dom0); 2 on a usage error.\n";

static int accept_result(void *ctx, const char *value)
{
	if (!value)
		return 0;
	return strcmp(value, "done") == 0 ||
	       strncmp(value, "failed", strlen("failed")) == 0;
}

/*
 * The REASON of "failed: REASON" ("failed" alone has none), into @buf:
 * the guest wrote it, so control bytes are escaped ("\n", "\x1b") and the
 * length bounded: one line on dom0's terminal, and no escape sequences.
 */
static const char *failure_reason(const char *value, char *buf, size_t size)
{
	const char *r = value + strlen("failed");
	size_t n = 0;

	if (*r == ':')
		r++;
	r += strspn(r, " \t");
	if (!*r)
		return "no reason given";
	for (; *r && n + 5 < size; r++) {
		unsigned char c = (unsigned char)*r;

		if (c == '\n')
			n += (size_t)snprintf(buf + n, size - n, "\\n");
		else if (c < 0x20 || c == 0x7f || c == '\\')
			n += (size_t)snprintf(buf + n, size - n, "\\x%02x", c);
		else
			buf[n++] = (char)c;
	}
	if (*r)
		n += (size_t)snprintf(buf + n, size - n, "...");
	buf[n < size ? n : size - 1] = '\0';
	return buf;
}

/*
 * The line printed when the deadline passes inside a xenstore request:
 * libxenstore has no timeouts, and a xenstored that stops answering would
 * hold a request (and this command) forever. Written by the handler.
 */
static char stuck_line[512];

static void on_deadline(int sig)
{
	(void)!write(STDERR_FILENO, stuck_line, strlen(stuck_line));
	_exit(CLI_EXIT_RUNTIME);
}

/* Ends the process with stuck_line a second after @timeout_ms. */
static void arm_deadline(const char *name, const char *timeout_arg,
			 long timeout_ms)
{
	struct itimerval it = { 0 };
	struct sigaction sa = { .sa_handler = on_deadline };

	timeout_ms += 1000; /* the answer that came in time goes first */
	snprintf(
		stuck_line, sizeof(stuck_line),
		"domufs: %s: timed out after %s s: xenstore stopped answering\n",
		name, timeout_arg ? timeout_arg : "600");
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	it.it_value.tv_sec = timeout_ms / 1000;
	it.it_value.tv_usec = (timeout_ms % 1000) * 1000;
	setitimer(ITIMER_REAL, &it, NULL);
}

static int parse_timeout(const char *s, long *ret_ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < 0 || v > 1e9)
		return -EINVAL;
	*ret_ms = v == 0 ? -1 : (long)(v * 1000.0 + 0.5);
	return 0;
}

int cli_cmd_wait(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct dm_err err = { 0 };
	struct xen_xs *xs = NULL;
	const char *name, *timeout_arg = NULL;
	long timeout_ms = (long)(DEFAULT_TIMEOUT * 1000);
	bool quiet = false;
	char *value = NULL;
	unsigned domid;
	int c, r;

	while ((c = cli_getopt("wait", argc, argv, "hq", longopts)) != -1) {
		switch (c) {
		case 't':
			if (parse_timeout(optarg, &timeout_ms) < 0)
				return cli_usage_error(
					"wait",
					"bad --timeout '%s' (seconds, 0: no "
					"limit)",
					optarg);
			timeout_arg = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			fputs(help, stdout);
			return CLI_EXIT_OK;
		default:
			return CLI_EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("wait", "expected one DOMAIN");
	name = argv[optind];
	if (!*name)
		return cli_usage_error("wait", "empty DOMAIN name");

	if (timeout_ms >= 0)
		arm_deadline(name, timeout_arg, timeout_ms);
	r = xen_xs_open(&xs, &err);
	if (xen_xs_absent(r)) {
		cli_error("%s: %s; is this a Xen dom0?", name, err.msg);
		return CLI_EXIT_RUNTIME;
	}
	if (r < 0) {
		cli_error("%s: %s", name, err.msg);
		return CLI_EXIT_RUNTIME;
	}
	r = xen_xs_domain_find(xs, name, &domid, &err);
	if (r < 0) {
		xen_xs_close(xs);
		cli_error("%s", err.msg);
		return CLI_EXIT_RUNTIME;
	}
	r = xen_xs_wait_key(xs, domid, name, FIRSTBOOT_KEY, timeout_ms,
			    accept_result, NULL, &value, &err);
	xen_xs_close(xs);
	if (r == -ESRCH) {
		cli_error("%s: the domain (id %u) went away before its first "
			  "boot finished",
			  name, domid);
		return CLI_EXIT_RUNTIME;
	}
	if (r == -ETIMEDOUT) {
		cli_error("%s: timed out after %s s waiting for the first-boot "
			  "result (/local/domain/%u/" FIRSTBOOT_KEY ")",
			  name, timeout_arg ? timeout_arg : "600", domid);
		return CLI_EXIT_RUNTIME;
	}
	if (r < 0) {
		cli_error("%s", err.msg[0] ? err.msg : strerror(-r));
		return CLI_EXIT_RUNTIME;
	}
	if (strcmp(value, "done") != 0) {
		char reason[512];

		cli_error("%s: first boot failed: %s", name,
			  failure_reason(value, reason, sizeof(reason)));
		free(value);
		return CLI_EXIT_RUNTIME;
	}
	free(value);
	if (!quiet)
		printf("%s: first boot done\n", name);
	return CLI_EXIT_OK;
}
