/*
 * orphans: crest integration-test victim for a process group whose leader is gone.
 *
 * Usage: orphans OUTDIR          (OUTDIR: absolute path of a writable directory)
 *
 * Setup: the parent P makes itself a child subreaper and forks C, which leads a process
 * group of its own (setpgid(0, 0)) and forks G (runs, in C's group) and Z (exits at once
 * with status 7, in C's group); then C exits. G and Z are reparented to P: the group has
 * no leader any more, only G and the zombie Z. P reaps C only, then writes OUTDIR/ready.
 *
 * On SIGTERM P checks: G is alive, P's child, in group C (C's pid, which no process has
 * now); Z is still an unreaped zombie of P, in group C, that exited with status 7
 * (waitid WNOWAIT). Then P kills and reaps G and reaps Z.
 * Verdict: OUTDIR/verdict holds "PASS" or "FAIL: " and the failed checks.
 *
 * Build: gcc -O1 -static -Wall -Wextra -o orphans orphans.c
 */
#define _GNU_SOURCE
#include "victim.h"

#include <sys/prctl.h>
#include <sys/wait.h>

/* field n (1-based, after the comm) of /proc/PID/stat */
static long stat_field(pid_t pid, int n)
{
	char path[64], buf[512], *p;
	int fd, i;
	ssize_t len;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return -1;
	buf[len] = 0;
	p = strrchr(buf, ')');
	for (i = 2; p && i < n; i++)
		p = strchr(p + 1, ' ');
	return p ? strtol(p + 1, NULL, 10) : -1;
}

int main(int argc, char **argv)
{
	int sync[2], status;
	pid_t c, g = 0, z = 0;
	siginfo_t si;
	char buf[2 * sizeof(pid_t)];

	victim_start(argc, argv);
	install_term_handler();
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) || pipe(sync))
		setup_failed("subreaper");
	c = fork();
	if (c < 0)
		setup_failed("fork");
	if (c == 0) {
		if (setpgid(0, 0))
			_exit(2);
		g = fork();
		if (g == 0) {
			for (;;)
				pause();
		}
		z = fork();
		if (z == 0)
			_exit(7);
		memcpy(buf, &g, sizeof(g));
		memcpy(buf + sizeof(g), &z, sizeof(z));
		/* Z has ended before C goes: it is handed to P as a zombie */
		if (waitid(P_PID, z, &si, WEXITED | WNOWAIT) || write_all(sync[1], buf, sizeof(buf)))
			_exit(2);
		_exit(0);
	}
	close(sync[1]);
	if (read(sync[0], buf, sizeof(buf)) != sizeof(buf))
		setup_failed("child setup");
	memcpy(&g, buf, sizeof(g));
	memcpy(&z, buf + sizeof(g), sizeof(z));
	if (waitpid(c, &status, 0) != c)
		setup_failed("reap C");
	/* both are P's once C is gone */
	while (stat_field(g, 4) != getpid() || stat_field(z, 4) != getpid())
		nap();
	write_ready();
	while (!got_term)
		nap();

	check_pid();
	if (stat_field(g, 4) != getpid() || stat_field(g, 5) != c)
		fail("G: parent %ld group %ld, want %d and %d", stat_field(g, 4), stat_field(g, 5),
		     (int)getpid(), (int)c);
	if (stat_field(z, 4) != getpid() || stat_field(z, 5) != c)
		fail("Z: parent %ld group %ld, want %d and %d", stat_field(z, 4), stat_field(z, 5),
		     (int)getpid(), (int)c);
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, z, &si, WEXITED | WNOHANG | WNOWAIT) || si.si_pid != z ||
	    si.si_code != CLD_EXITED || si.si_status != 7)
		fail("Z is not a zombie that exited with 7 (code %d status %d)", si.si_code, si.si_status);
	kill(g, SIGKILL);
	waitpid(g, &status, 0);
	waitpid(z, &status, 0);
	return finish_verdict();
}
