/*
 * fanout: crest dump/restore integration-test victim (and bench subject) for a tree of N
 * processes: a parent P and N-1 children, all dumped and restored with their pids.
 *
 * Usage: fanout OUTDIR [N]        (OUTDIR: absolute path of a writable directory;
 *                                  N: processes in all, 2..64, default 10)
 *
 * The victim does not daemonize. P closes every inherited fd above 2, installs a SIGTERM
 * handler and a SIGUSR1 handler (both set a flag; no SA_RESTART; inherited by the
 * children), then forks the N-1 children one after the other. Child k (1-based) writes
 * its index into a 64 KiB private buffer (every page), then loops in nanosleep(10 ms)
 * until SIGUSR1, or exits 2 as soon as getppid() is no longer P's pid. Once every child
 * has filled its buffer (each writes one byte into a pipe, which P reads N-1 times), P
 * closes that pipe and writes OUTDIR/ready containing its pid (no newline; via ready.tmp +
 * rename). P loops in nanosleep(10 ms) until SIGTERM.
 *
 * On SIGTERM P checks that getpid() equals the pid written to ready and that no fd above 2
 * is open, then sends SIGUSR1 to every child. Each child checks that getpid() is the pid P
 * forked it with, that getppid() is P, and its buffer; it exits 0 when all passed, else 1.
 * P waits for each (at most 2 s; killed and reaped on timeout), fails unless each exited
 * 0, and checks that no child is left (ECHILD).
 * Verdict: OUTDIR/verdict (via verdict.tmp + rename) holds exactly "PASS" (exit 0) or
 * "FAIL: " followed by every failed check, separated by "; " (exit 1).
 *
 * Self test: -DCREST_SELFTEST_BREAK makes the last child corrupt its buffer before the
 * checks.
 *
 * Build: gcc -O1 -static -Wall -Wextra -pthread -o fanout fanout.c -lm
 */
#define _GNU_SOURCE
#include "victim.h"

#include <sys/wait.h>

#define MAX_N 64
#define BUF_BYTES (64 * 1024)

static volatile sig_atomic_t got_usr1;
static unsigned char buf[BUF_BYTES];

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

static void child(int k, int n, pid_t me, pid_t parent, int ready_fd)
{
	int i;

	memset(buf, k, sizeof(buf));
	if (write_all(ready_fd, "c", 1))
		_exit(3);
	close(ready_fd);
	while (!got_usr1) {
		if (getppid() != parent)
			_exit(2);
		nap();
	}
#ifdef CREST_SELFTEST_BREAK
	if (k == n - 1)
		buf[BUF_BYTES - 1] ^= 1;
#endif
	(void)n;
	if (getpid() != me || getppid() != parent)
		_exit(1);
	for (i = 0; i < BUF_BYTES; i++)
		if (buf[i] != (unsigned char)k)
			_exit(1);
	_exit(0);
}

int main(int argc, char **argv)
{
	pid_t kids[MAX_N], parent;
	struct sigaction sa;
	int n = 10, sync[2], k, st;
	char byte;

	victim_start(argc, argv);
	if (argc > 2)
		n = atoi(argv[2]);
	if (n < 2 || n > MAX_N) {
		errno = EINVAL;
		setup_failed("N");
	}
	install_term_handler();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	if (sigaction(SIGUSR1, &sa, NULL))
		setup_failed("sigaction SIGUSR1");
	if (pipe(sync))
		setup_failed("pipe");
	parent = getpid();
	for (k = 1; k < n; k++) {
		kids[k] = fork();
		if (kids[k] < 0) {
			while (--k >= 1) {
				kill(kids[k], SIGKILL);
				waitpid(kids[k], &st, 0);
			}
			setup_failed("fork");
		}
		if (kids[k] == 0) {
			close(sync[0]);
			child(k, n, getpid(), parent, sync[1]);
		}
	}
	close(sync[1]);
	for (k = 1; k < n; k++)
		if (read(sync[0], &byte, 1) != 1)
			setup_failed("a child did not start");
	close(sync[0]);
	write_ready();
	while (!got_term)
		nap();

	check_pid();
	check_open_fds(NULL, 0);
	for (k = 1; k < n; k++)
		kill(kids[k], SIGUSR1);
	for (k = 1; k < n; k++) {
		int waited = 0;
		pid_t r;

		while ((r = waitpid(kids[k], &st, WNOHANG)) == 0 && waited < VICTIM_WAIT_CHILD_MS) {
			nap();
			waited += 10;
		}
		if (r == 0) {
			kill(kids[k], SIGKILL);
			waitpid(kids[k], &st, 0);
			fail("child %d: no exit within 2 s", k);
		} else if (r < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			fail("child %d: wait status %#x", k, st);
	}
	if (waitpid(-1, &st, WNOHANG) != -1 || errno != ECHILD)
		fail("children left");
	return finish_verdict();
}
