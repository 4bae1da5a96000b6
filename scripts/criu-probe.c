/*
 * criu-probe: checks that a program built on this host against the libcriu
 * chosen by scripts/setup-criu (pkg-config module "criu") can drive CRIU
 * through libcriu's RPC: libcriu forks and execs "<service binary> swrk <fd>"
 * with one end of a socketpair, so this also proves that the service binary
 * keeps that fd and its pid across the exec.
 *
 * Usage: criu-probe SERVICE_BINARY [MIN_VERSION]   (MIN_VERSION default 40200)
 * Prints one line; exits 0 when criu_local_get_version() >= MIN_VERSION and
 * criu_local_check() == 0, 1 otherwise.
 *
 * Built and run by scripts/setup-criu:
 *   cc -o probe scripts/criu-probe.c $(pkg-config --cflags --libs criu)
 */
#include <criu/criu.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	criu_opts *opts = NULL;
	int min = 40200, version, check, ret;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s SERVICE_BINARY [MIN_VERSION]\n", argv[0]);
		return 2;
	}
	if (argc == 3)
		min = atoi(argv[2]);

	ret = criu_local_init_opts(&opts);
	if (ret < 0) {
		fprintf(stderr, "criu_local_init_opts: %d (%s)\n", ret, strerror(-ret));
		return 1;
	}
	ret = criu_local_set_service_binary(opts, argv[1]);
	if (ret < 0) {
		fprintf(stderr, "criu_local_set_service_binary: %d (%s)\n", ret, strerror(-ret));
		criu_local_free_opts(opts);
		return 1;
	}

	version = criu_local_get_version(opts);
	check = criu_local_check(opts);
	criu_local_free_opts(opts);

	printf("libcriu headers %s: criu_local_get_version()=%d criu_local_check()=%d%s%s\n",
	       CRIU_VERSION, version, check, check < 0 ? " " : "", check < 0 ? strerror(-check) : "");

	return (version >= min && check == 0) ? 0 : 1;
}
