/*
 * nsfile: crest integration-test victim for descriptors of namespace files.
 *
 * Usage: nsfile OUTDIR            (OUTDIR: absolute path of a writable directory)
 *
 * Setup: fd 10 is /proc/self/ns/net, fd 11 /proc/self/ns/uts (O_NONBLOCK), fd 12
 * /proc/self/ns/ipc. Then OUTDIR/ready and a wait for SIGTERM.
 *
 * On SIGTERM it checks: each descriptor is a file of the namespace the task is in (the same
 * inode as a fresh open of /proc/self/ns/...), fd 11 kept O_NONBLOCK, and setns through fd 10
 * into the network namespace it names works.
 * Verdict: OUTDIR/verdict holds "PASS" or "FAIL: " and the failed checks.
 *
 * Build: gcc -O1 -static -Wall -Wextra -o nsfile nsfile.c
 */
#define _GNU_SOURCE
#include "victim.h"

#include <sched.h>
#include <sys/stat.h>

static const char *kinds[] = { "net", "uts", "ipc" };

int main(int argc, char **argv)
{
	char path[64];
	struct stat a, b;
	int i, fd;

	victim_start(argc, argv);
	install_term_handler();
	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "/proc/self/ns/%s", kinds[i]);
		fd = open(path, O_RDONLY | (i == 1 ? O_NONBLOCK : 0));
		if (fd < 0 || dup2(fd, 10 + i) != 10 + i)
			setup_failed("open a namespace file");
		close(fd);
	}
	write_ready();
	while (!got_term)
		nap();
	check_pid();

	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "/proc/self/ns/%s", kinds[i]);
		if (fstat(10 + i, &a) || stat(path, &b) || a.st_ino != b.st_ino || a.st_dev != b.st_dev)
			fail("fd %d is not a file of the task's %s namespace", 10 + i, kinds[i]);
	}
	if (!(fcntl(11, F_GETFL) & O_NONBLOCK))
		fail("fd 11 lost O_NONBLOCK");
	if (setns(10, CLONE_NEWNET))
		fail("setns through fd 10: %s", strerror(errno));
	{
		int fds[] = { 10, 11, 12 };

		check_open_fds(fds, 3);
	}
	return finish_verdict();
}
