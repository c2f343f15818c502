/*
 * shared: crest integration-test victim for open file descriptions shared between
 * descriptors and between tasks, and for several descriptions of one pipe end.
 *
 * Usage: shared OUTDIR           (OUTDIR: absolute path of a writable directory)
 *
 * Setup, in the parent P:
 *   - OUTDIR/data holds "0123456789abcdef"; fd 10 opens it read-write at offset 4, fd 11 is
 *     dup(10) (one description), fd 12 opens it again at offset 2 (a description of its own);
 *   - a pipe, read end fd 13, write end fd 14 (set O_NONBLOCK); fd 15 reopens the write end
 *     through /proc/self/fd/14 (O_WRONLY, blocking), fd 16 the read end (O_RDONLY |
 *     O_NONBLOCK);
 *   - then fork() of the child C, which inherits all of them and keeps them.
 *
 * On SIGTERM P checks: the offsets of fds 10, 11 and 12 are 4, 4 and 2; after lseek(10, 7)
 * fd 11 is at 7 and fd 12 still at 2; O_NONBLOCK is set on fds 14 and 16 and clear on 13
 * and 15; a byte written on fd 15 is read on fd 16. Then SIGUSR1 to C, which checks that
 * fd 10 is at 7 (P's seek: one description across fork), reads '7' from it, checks the
 * pipe flags the same way and reports. P then checks that fd 10 is at 8 (C's read).
 * Verdict: OUTDIR/verdict holds "PASS" or "FAIL: " and the failed checks.
 *
 * Build: gcc -O1 -static -Wall -Wextra -o shared shared.c
 */
#define _GNU_SOURCE
#define VICTIM_TREE
#include "victim.h"

static void check_offset(int fd, off_t want, const char *who)
{
	off_t at = lseek(fd, 0, SEEK_CUR);

	if (at != want)
		fail("%s: fd %d at offset %lld, want %lld", who, fd, (long long)at, (long long)want);
}

static void check_nonblock(int fd, int want, const char *who)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || !!(fl & O_NONBLOCK) != want)
		fail("%s: fd %d flags %#x, O_NONBLOCK %s", who, fd, fl, want ? "missing" : "added");
}

static void check_pipe_flags(const char *who)
{
	check_nonblock(13, 0, who);
	check_nonblock(14, 1, who);
	check_nonblock(15, 0, who);
	check_nonblock(16, 1, who);
}

static void child_main(void)
{
	char c = 0;

	while (child_waiting())
		nap();
	check_child_ids();
	check_offset(10, 7, "child");
	if (read(10, &c, 1) != 1 || c != '7')
		fail("child: read %#x from fd 10, want '7'", c);
	check_pipe_flags("child");
	child_report_exit();
}

static void reopen(int fd, int flags, int to)
{
	char path[64];
	int n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = open(path, flags);
	if (n < 0 || dup2(n, to) != to)
		setup_failed("reopen through /proc/self/fd");
	close(n);
}

int main(int argc, char **argv)
{
	char path[PATH_MAX + 8], c = 0;
	int fd, p[2];

	victim_start(argc, argv);
	install_term_handler();
	install_usr1_handler();
	snprintf(path, sizeof(path), "%s/data", outdir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write_all(fd, "0123456789abcdef", 16) || dup2(fd, 10) != 10)
		setup_failed("data file");
	close(fd);
	if (lseek(10, 4, SEEK_SET) != 4 || dup2(10, 11) != 11)
		setup_failed("seek and dup");
	fd = open(path, O_RDONLY);
	if (fd < 0 || dup2(fd, 12) != 12 || lseek(12, 2, SEEK_SET) != 2)
		setup_failed("second open");
	close(fd);
	if (pipe(p) || dup2(p[0], 13) != 13 || dup2(p[1], 14) != 14)
		setup_failed("pipe");
	close(p[0]);
	close(p[1]);
	reopen(14, O_WRONLY, 15);
	reopen(13, O_RDONLY | O_NONBLOCK, 16);
	if (fcntl(14, F_SETFL, O_NONBLOCK))
		setup_failed("O_NONBLOCK");
	if (fork_child())
		child_main();
	write_ready();
	while (!got_term)
		nap();

	check_pid();
	check_offset(10, 4, "parent");
	check_offset(11, 4, "parent");
	check_offset(12, 2, "parent");
	if (lseek(10, 7, SEEK_SET) != 7)
		fail("lseek(10, 7): %s", strerror(errno));
	check_offset(11, 7, "parent (dup of 10)");
	check_offset(12, 2, "parent (own open)");
	check_pipe_flags("parent");
	if (write(15, "x", 1) != 1 || read(16, &c, 1) != 1 || c != 'x')
		fail("pipe: fd 15 to fd 16 carried %#x, want 'x'", c);
	if (!collect_child())
		check_offset(10, 8, "parent (after the child's read)");
	return finish_verdict();
}
