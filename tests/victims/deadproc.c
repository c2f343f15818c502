/*
 * deadproc: crest integration-test victim for the /proc directory of a process that has ended
 * (CRIU's unhashed_proc and its PROCFS remaps), held as the cwd and through a descriptor.
 *
 * Usage: deadproc OUTDIR       (OUTDIR: absolute path of a writable directory)
 *
 * Setup: P forks C, which pauses; P opens /proc/C/stat at fd 50 and chdir()s into /proc/C,
 * then kills and reaps C. Then OUTDIR/ready and a wait for SIGTERM.
 *
 * On SIGTERM P checks that getcwd() fails with ENOENT, that /proc/self/cwd still reads
 * "/proc/C (deleted)", that reading fd 50 fails with ESRCH (the process it names is gone),
 * and that no process has C's pid (no helper of the restore is left).
 * Verdict: OUTDIR/verdict holds "PASS" or "FAIL: " and the failed checks.
 *
 * Build: gcc -O1 -static -Wall -Wextra -o deadproc deadproc.c
 */
#define _GNU_SOURCE
#include "victim.h"

#include <sys/wait.h>

int main(int argc, char **argv)
{
	char path[64], want[80], got[256], buf[64];
	pid_t c;
	ssize_t n;
	int fd;

	victim_start(argc, argv);
	install_term_handler();
	c = fork();
	if (c < 0)
		setup_failed("fork");
	if (c == 0)
		for (;;)
			pause();
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)c);
	fd = open(path, O_RDONLY);
	if (fd < 0 || dup2(fd, 50) != 50) {
		kill(c, SIGKILL);
		setup_failed("open /proc/C/stat");
	}
	close(fd);
	snprintf(path, sizeof(path), "/proc/%d", (int)c);
	if (chdir(path) < 0) {
		kill(c, SIGKILL);
		setup_failed("chdir /proc/C");
	}
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
	write_ready();
	while (!got_term)
		nap();

	check_pid();
	if (getcwd(got, sizeof(got)) != NULL)
		fail("getcwd() gives %s", got);
	else if (errno != ENOENT)
		fail("getcwd(): %s, not ENOENT", strerror(errno));
	n = readlink("/proc/self/cwd", got, sizeof(got) - 1);
	snprintf(want, sizeof(want), "/proc/%d (deleted)", (int)c);
	if (n < 0)
		fail("readlink cwd: %s", strerror(errno));
	else if (got[n] = 0, strcmp(got, want))
		fail("cwd is %s, not %s", got, want);
	n = read(50, buf, sizeof(buf));
	if (n >= 0)
		fail("fd 50 reads %zd bytes of a process that has ended", n);
	else if (errno != ESRCH)
		fail("fd 50: %s, not ESRCH", strerror(errno));
	if (kill(c, 0) == 0 || errno != ESRCH)
		fail("a process has pid %d", (int)c);
	return finish_verdict();
}
