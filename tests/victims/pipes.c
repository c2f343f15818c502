/*
 * pipes: crest dump/restore integration-test victim for pipes shared by a small process
 * tree: a parent P and one child C, both dumped and restored (same pids).
 *
 * Usage: pipes OUTDIR            (OUTDIR: absolute path of a writable directory)
 *
 * The victim does not daemonize. At start P closes every inherited fd above 2, then sets up:
 *   - a SIGTERM handler (sets a flag; no SA_RESTART) and a SIGUSR1 handler (sets a flag;
 *     no SA_RESTART), both before the fork, so C inherits them (C ignores its SIGTERM flag);
 *   - pipe A, moved with dup2 to fd 12 (read end) and fd 10 (write end); pipe B, moved to
 *     fd 11 (read end) and fd 13 (write end); originals closed, FD_CLOEXEC clear;
 *   - F_SETPIPE_SZ of 128 KiB on pipe A;
 *   - a third (sync) pipe; then fork() of the child C.
 * P closes fds 12 and 13 and keeps A-write (fd 10) and B-read (fd 11); C closes fds 10 and
 * 11 and keeps A-read (fd 12) and B-write (fd 13, which it sets O_NONBLOCK).
 * P writes 3000 bytes into A (byte i = (i*13+7) & 0xff), which C leaves unread; C writes
 * 100 bytes into B (byte i = (i*29+3) & 0xff), which P leaves unread. C then writes one
 * byte 'R' into the sync pipe and closes it; P reads that byte, closes the sync pipe and
 * writes OUTDIR/ready containing P's pid (no newline; via ready.tmp + rename). So at dump
 * time both pipes hold unread data and the sync pipe is gone in both processes. If C
 * cannot set up, it closes the sync pipe without writing and P (after killing and reaping
 * C) writes "FAIL: setup: ..." and exits 2 without writing ready.
 * Main loops (both): nanosleep(10 ms), EINTR ignored. P loops until SIGTERM; C loops until
 * SIGUSR1, or exits 2 (writing nothing) as soon as getppid() is no longer P's pid.
 *
 * On SIGTERM P's loop ends and P checks:
 *   - getpid() equals the pid written to ready; the only fds above 2 are 10 and 11;
 *   - fd 11 is read-only without O_NONBLOCK; FIONREAD on it says 100; exactly 100 bytes
 *     are read from it (each read after a 500 ms poll, so lost data fails instead of
 *     hanging) and they carry the B pattern;
 *   - fd 10 is write-only, and F_GETPIPE_SZ on it is >= 128 KiB;
 * then P closes fd 10 (A's only write end) and sends SIGUSR1 to C, which checks:
 *   - getpid() is still C's pid, getppid() is P's pid; the only fds above 2 are 12 and 13;
 *   - fd 13 is write-only with O_NONBLOCK, fd 12 read-only without it;
 *   - FIONREAD on fd 12 says 3000; 3000 bytes read from it (500 ms polls) carry the A
 *     pattern, and the next read sees end of file (no stray write end of A survived);
 * then C writes one byte 'c' on fd 13 (B still connected after the restore), publishes
 * OUTDIR/child (via child.tmp + rename): "P" when all its checks passed, else "F" followed
 * by its failed checks, and exits 0 or 1. P waits for C (waitpid WNOHANG every 10 ms, at
 * most 2 s; C is killed with SIGKILL and reaped on timeout) and checks: C exited with
 * status 0, OUTDIR/child is exactly "P", and fd 11 then yields exactly the byte 'c' and
 * end of file (C's write end was B's only one).
 * Verdict: OUTDIR/verdict (via verdict.tmp + rename), written by P, holds exactly "PASS"
 * (exit 0) or "FAIL: " followed by every failed check, separated by "; " (exit 1).
 *
 * Self test: -DCREST_SELFTEST_BREAK=N breaks one thing right before the checks (bare
 * -DCREST_SELFTEST_BREAK means N=1): 1 P drains 10 bytes of B, 2 C drains 10 bytes of A.
 *
 * Build: gcc -O1 -static -Wall -Wextra -pthread -o pipes pipes.c -lm
 */
#define _GNU_SOURCE
#define VICTIM_FAILURES_BYTES 2048
#define VICTIM_TREE
#include "victim.h"

#include <poll.h>
#include <sys/ioctl.h>

#define FD_A_WRITE 10 /* in P */
#define FD_B_READ 11  /* in P */
#define FD_A_READ 12  /* in C */
#define FD_B_WRITE 13 /* in C */
#define A_BYTES 3000
#define B_BYTES 100
#define A_PIPE_SIZE (128 * 1024)
#define POLL_MS 500

static unsigned char a_byte(int i)
{
	return (unsigned char)((i * 13 + 7) & 0xff);
}

static unsigned char b_byte(int i)
{
	return (unsigned char)((i * 29 + 3) & 0xff);
}

/* read up to len bytes, polling POLL_MS before each read; returns the count (stops at EOF) */
static size_t read_polled(int fd, unsigned char *buf, size_t len, const char *name)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;
		int r = poll(&pfd, 1, POLL_MS);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fail("poll %s: %s", name, strerror(errno));
			break;
		}
		if (r == 0)
			break; /* nothing more within POLL_MS */
		n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fail("read %s: %s", name, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		got += n;
	}
	return got;
}

/* fails unless fd's access mode is want_acc and O_NONBLOCK is set iff want_nonblock */
static void check_flags(int fd, int want_acc, int want_nonblock, const char *name)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0) {
		fail("F_GETFL %s (fd %d): %s", name, fd, strerror(errno));
		return;
	}
	if ((fl & O_ACCMODE) != want_acc)
		fail("%s (fd %d) access mode %#x, want %#x", name, fd, fl & O_ACCMODE, want_acc);
	if (!!(fl & O_NONBLOCK) != want_nonblock)
		fail("%s (fd %d) O_NONBLOCK %s, want %s", name, fd, fl & O_NONBLOCK ? "set" : "clear",
		     want_nonblock ? "set" : "clear");
}

static void check_fionread(int fd, int want, const char *name)
{
	int n;

	if (ioctl(fd, FIONREAD, &n))
		fail("FIONREAD %s: %s", name, strerror(errno));
	else if (n != want)
		fail("FIONREAD %s: %d bytes queued, want %d", name, n, want);
}

/* the next read on fd (after a POLL_MS poll) must be end of file */
static void check_eof(int fd, const char *name)
{
	unsigned char c;

	if (read_polled(fd, &c, 1, name))
		fail("%s: extra byte %#x where end of file was expected", name, c);
	else {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLHUP))
			fail("%s: no end of file (write end still open somewhere)", name);
	}
}

/* ---- child ---- */

static void child_verify(void)
{
	static const int allowed[] = { FD_A_READ, FD_B_WRITE };
	static unsigned char buf[A_BYTES];
	size_t got, i, bad = 0, first_bad = 0;

#ifdef CREST_SELFTEST_BREAK
	if (CREST_SELFTEST_BREAK == 2)
		read_polled(FD_A_READ, buf, 10, "A (self test drain)");
#endif
	check_child_ids();
	check_open_fds(allowed, 2);
	check_flags(FD_B_WRITE, O_WRONLY, 1, "B write end");
	check_flags(FD_A_READ, O_RDONLY, 0, "A read end");

	check_fionread(FD_A_READ, A_BYTES, "A read end");
	got = read_polled(FD_A_READ, buf, A_BYTES, "A read end");
	if (got != A_BYTES)
		fail("A: read %zu bytes, want %d", got, A_BYTES);
	for (i = 0; i < got; i++)
		if (buf[i] != a_byte(i) && !bad++)
			first_bad = i;
	if (bad)
		fail("A: %zu of %zu bytes differ from the pattern (first at %zu: %#x, want %#x)", bad, got,
		     first_bad, buf[first_bad], a_byte(first_bad));
	if (got == A_BYTES)
		check_eof(FD_A_READ, "A read end");

	if (write(FD_B_WRITE, "c", 1) != 1)
		fail("write 'c' on B: %s", strerror(errno));

	child_report_exit();
}

static void child_main(int sync_w)
{
	static unsigned char buf[B_BYTES];
	int i, fl;

	if (close(FD_A_WRITE) || close(FD_B_READ))
		_exit(2);
	fl = fcntl(FD_B_WRITE, F_GETFL);
	if (fl < 0 || fcntl(FD_B_WRITE, F_SETFL, fl | O_NONBLOCK))
		_exit(2);
	for (i = 0; i < B_BYTES; i++)
		buf[i] = b_byte(i);
	if (write_all(FD_B_WRITE, (const char *)buf, B_BYTES))
		_exit(2);
	if (write_all(sync_w, "R", 1) || close(sync_w))
		_exit(2);

	while (child_waiting())
		nap();
	child_verify();
}

/* ---- parent ---- */

static void parent_verify(void)
{
	static const int allowed[] = { FD_A_WRITE, FD_B_READ };
	unsigned char buf[B_BYTES];
	size_t got, i, bad = 0, first_bad = 0;
	int size;

#ifdef CREST_SELFTEST_BREAK
	if (CREST_SELFTEST_BREAK == 1)
		read_polled(FD_B_READ, buf, 10, "B (self test drain)");
#endif
	check_pid();
	check_open_fds(allowed, 2);

	check_flags(FD_B_READ, O_RDONLY, 0, "B read end");
	check_fionread(FD_B_READ, B_BYTES, "B read end");
	got = read_polled(FD_B_READ, buf, B_BYTES, "B read end");
	if (got != B_BYTES)
		fail("B: read %zu bytes, want %d", got, B_BYTES);
	for (i = 0; i < got; i++)
		if (buf[i] != b_byte(i) && !bad++)
			first_bad = i;
	if (bad)
		fail("B: %zu of %zu bytes differ from the pattern (first at %zu: %#x, want %#x)", bad, got,
		     first_bad, buf[first_bad], b_byte(first_bad));

	check_flags(FD_A_WRITE, O_WRONLY, 0, "A write end");
	size = fcntl(FD_A_WRITE, F_GETPIPE_SZ);
	if (size < 0)
		fail("F_GETPIPE_SZ A: %s", strerror(errno));
	else if (size < A_PIPE_SIZE)
		fail("A pipe size %d, want >= %d", size, A_PIPE_SIZE);
}

/* SIGUSR1 to C, wait for it (at most VICTIM_WAIT_CHILD_MS), then check its report and B's tail */
static void parent_collect(void)
{
	unsigned char c;

	if (close(FD_A_WRITE))
		fail("close A write end: %s", strerror(errno));
	if (collect_child())
		return;

	if (read_polled(FD_B_READ, &c, 1, "B read end (after child)") != 1)
		fail("B: no byte from the child after SIGUSR1");
	else if (c != 'c')
		fail("B: byte %#x from the child after SIGUSR1, want 'c'", c);
	check_eof(FD_B_READ, "B read end (after child)");
}

static void move_fd(int from, int to, const char *what)
{
	if (dup2(from, to) != to)
		setup_failed(what);
	close(from);
}

int main(int argc, char **argv)
{
	static unsigned char abuf[A_BYTES];
	int pa[2], pb[2], ps[2], i;
	char c;
	ssize_t n;

	victim_start(argc, argv);
	install_term_handler();
	install_usr1_handler();

	if (pipe(pa) || pipe(pb))
		setup_failed("pipe");
	move_fd(pa[0], FD_A_READ, "dup2 A read end");
	move_fd(pa[1], FD_A_WRITE, "dup2 A write end");
	move_fd(pb[0], FD_B_READ, "dup2 B read end");
	move_fd(pb[1], FD_B_WRITE, "dup2 B write end");
	if (fcntl(FD_A_WRITE, F_SETPIPE_SZ, A_PIPE_SIZE) < A_PIPE_SIZE)
		setup_failed("F_SETPIPE_SZ A");
	if (pipe(ps))
		setup_failed("sync pipe");

	if (fork_child()) {
		close(ps[0]);
		child_main(ps[1]);
	}

	close(ps[1]);
	if (close(FD_A_READ) || close(FD_B_WRITE))
		parent_setup_failed("close child ends");
	for (i = 0; i < A_BYTES; i++)
		abuf[i] = a_byte(i);
	if (write_all(FD_A_WRITE, (const char *)abuf, A_BYTES))
		parent_setup_failed("write A");
	do
		n = read(ps[0], &c, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1 || c != 'R') {
		if (n >= 0)
			errno = EPIPE;
		parent_setup_failed("child setup (sync pipe)");
	}
	close(ps[0]);

	write_ready();

	while (!got_term)
		nap();

	parent_verify();
	parent_collect();
	return finish_verdict();
}
