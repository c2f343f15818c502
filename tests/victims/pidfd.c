/*
 * pidfd: crest integration-test victim for pidfds of live and ended processes.
 *
 * Usage: pidfd OUTDIR            (OUTDIR: absolute path of a writable directory)
 *
 * Setup, in the parent P: fd 10 a pidfd of P itself; a child C that waits, fd 11 a pidfd
 * of C (PIDFD_NONBLOCK); a child D, fd 12 and fd 14 two pidfds of D (two pidfd_open), fd 13
 * a dup of fd 12; then D exits and is reaped, so fds 12-14 name an ended process. Then
 * OUTDIR/ready and a wait for SIGTERM.
 *
 * On SIGTERM P checks: fdinfo of fd 10 names P's pid and of fd 11 C's; signal 0 through
 * fds 10 and 11 is delivered, through 12 and 14 fails with ESRCH; fds 12, 13 and 14 are one
 * process (the same inode), fd 11 another; fd 11 is O_NONBLOCK. Then C is told to check
 * itself (SIGUSR1) and collected.
 * Verdict: OUTDIR/verdict holds "PASS" or "FAIL: " and the failed checks.
 *
 * Build: gcc -O1 -static -Wall -Wextra -o pidfd pidfd.c
 */
#define _GNU_SOURCE
#define VICTIM_TREE
#include "victim.h"

#include <sys/stat.h>
#include <sys/wait.h>

#ifndef PIDFD_NONBLOCK
#define PIDFD_NONBLOCK O_NONBLOCK
#endif

static int pidfd_open_(pid_t pid, unsigned int flags)
{
	return (int)syscall(SYS_pidfd_open, pid, flags);
}

static int send_(int pidfd, int sig)
{
	return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

static void place(int fd, int to)
{
	if (fd < 0 || dup2(fd, to) != to)
		setup_failed("pidfd");
	close(fd);
}

static long fdinfo_pid(int fd)
{
	char path[64], buf[512], *p;
	int f;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = open(path, O_RDONLY);
	if (f < 0)
		return -2;
	n = read(f, buf, sizeof(buf) - 1);
	close(f);
	buf[n > 0 ? n : 0] = 0;
	p = strstr(buf, "Pid:");
	return p ? strtol(p + 4, NULL, 10) : -2;
}

static ino_t ino(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? 0 : st.st_ino;
}

int main(int argc, char **argv)
{
	pid_t d;
	int status;

	victim_start(argc, argv);
	install_term_handler();
	install_usr1_handler();
	place(pidfd_open_(getpid(), 0), 10);
	if (fork_child()) {
		while (child_waiting())
			nap();
		check_child_ids();
		child_report_exit();
	}
	place(pidfd_open_(child_pid, PIDFD_NONBLOCK), 11);
	d = fork();
	if (d < 0)
		parent_setup_failed("fork D");
	if (d == 0) {
		pause();
		_exit(0);
	}
	place(pidfd_open_(d, 0), 12);
	if (dup2(12, 13) != 13)
		parent_setup_failed("dup");
	place(pidfd_open_(d, 0), 14);
	kill(d, SIGKILL);
	if (waitpid(d, &status, 0) != d)
		parent_setup_failed("reap D");
	write_ready();
	while (!got_term)
		nap();

	check_pid();
	if (fdinfo_pid(10) != getpid())
		fail("fd 10 names pid %ld, want %d", fdinfo_pid(10), (int)getpid());
	if (fdinfo_pid(11) != child_pid)
		fail("fd 11 names pid %ld, want %d", fdinfo_pid(11), (int)child_pid);
	if (send_(10, 0) || send_(11, 0))
		fail("signal 0 through the live pidfds: %s", strerror(errno));
	if (send_(12, 0) != -1 || errno != ESRCH || send_(14, 0) != -1 || errno != ESRCH)
		fail("the ended process's pidfds are not of an ended process (%s)", strerror(errno));
	if (!ino(12) || ino(12) != ino(13) || ino(12) != ino(14) || ino(12) == ino(11))
		fail("inodes %lu %lu %lu (11: %lu): fds 12-14 are not one ended process",
		     (unsigned long)ino(12), (unsigned long)ino(13), (unsigned long)ino(14),
		     (unsigned long)ino(11));
	if (!(fcntl(11, F_GETFL) & O_NONBLOCK))
		fail("fd 11 lost PIDFD_NONBLOCK");
	collect_child();
	return finish_verdict();
}
