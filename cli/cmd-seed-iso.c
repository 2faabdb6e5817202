// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * domufs seed-iso: a cloud-init NoCloud seed image (ISO9660, volume label
 * "cidata") for a domain, from its profile. The files' text is xen/'s
 * (xen_seed_render()), the image templates/'s (tmpl_iso_write()).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "templates/tmpl-iso.h"
#include "xen/profile.h"
#include "xen/seed.h"

static const char help[] =
	"Usage: domufs seed-iso --domain FILE OUT.iso\n"
	"\n"
	"Writes a cloud-init NoCloud seed for the domain of profile FILE: an\n"
	"ISO9660 image (Rock Ridge, Joliet) labelled \"cidata\" holding\n"
	"  meta-data       instance-id (stable, from the name), local-hostname\n"
	"  user-data       #cloud-config: hostname/fqdn, root's password hash\n"
	"                  and SSH keys, SSH host keys regenerated\n"
	"  network-config  version 2: each vif matched by its MAC, static\n"
	"                  (ip=, netmask, gateway, nameservers) or DHCP\n"
	"Vifs without a MAC get the one 'domufs xl-config' derives from the\n"
	"domain name. OUT is replaced atomically (mode 0600: it may carry a\n"
	"password hash). Attach it with 'domufs xl-config --seed OUT'.\n"
	"\n"
	"  --domain FILE  the domain profile (xl.cfg syntax)\n";

int cli_cmd_seed_iso(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "domain", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct xen_profile *p = NULL;
	struct xen_seed seed = { 0 };
	struct dm_err err = { 0 };
	const char *domain = NULL, *out;
	int c, r;

	while ((c = cli_getopt("seed-iso", argc, argv, "h", longopts)) != -1) {
		switch (c) {
		case 'D':
			domain = optarg;
			break;
		case 'h':
			fputs(help, stdout);
			return CLI_EXIT_OK;
		default:
			return CLI_EXIT_USAGE;
		}
	}
	if (!domain)
		return cli_usage_error("seed-iso", "--domain FILE is required");
	if (argc - optind != 1 || !*argv[optind])
		return cli_usage_error("seed-iso", "expected one OUT.iso");
	out = argv[optind];
	if (xen_profile_load(domain, &p, &err, cli_warn, NULL) < 0) {
		cli_error("%s", err.msg);
		return CLI_EXIT_RUNTIME;
	}
	r = xen_seed_render(p, &seed, &err);
	xen_profile_free(p);
	if (r < 0) {
		cli_error("%s", err.msg);
		return CLI_EXIT_RUNTIME;
	}
	{
		const struct tmpl_iso_file files[] = {
			{ "meta-data", seed.meta_data, strlen(seed.meta_data) },
			{ "user-data", seed.user_data, strlen(seed.user_data) },
			{ "network-config", seed.network_config,
			  strlen(seed.network_config) },
		};

		r = tmpl_iso_write(out, "cidata", files, 3, 0600, &err);
	}
	xen_seed_free(&seed);
	if (r < 0) {
		cli_error("%s", err.msg);
		return CLI_EXIT_RUNTIME;
	}
	return CLI_EXIT_OK;
}
