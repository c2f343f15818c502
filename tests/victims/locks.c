/*
 * locks: crest integration-test victim for file locks (dumped with --file-locks).
 *
 * Usage: locks OUTDIR            (OUTDIR: absolute path of a writable directory)
 *
 * Setup, on files OUTDIR/posix, OUTDIR/flock, OUTDIR/ofd and OUTDIR/lease (each 64 bytes):
 *   - fd 10 (posix, read-write): POSIX write lock on bytes 0-9, read lock from 20 to EOF;
 *   - fd 11 (flock): flock LOCK_EX, the open file then shared with a child C by fork;
 *   - fd 12 (ofd, read-write): OFD read lock on bytes 5-14;
 *   - fd 13 (lease, read-only): a read lease (F_SETLEASE F_RDLCK).
 * C holds fd 11 (the same open file) and waits. Then OUTDIR/ready and a wait for SIGTERM.
 *
 * On SIGTERM the parent P checks, through a fresh child of its own (a process with no lock,
 * opening each file anew): F_GETLK sees P's write lock on byte 5 and read lock on byte 30
 * (a write probe), and no lock on byte 15; flock LOCK_EX|LOCK_NB fails with EWOULDBLOCK;
 * F_OFD_GETLK sees the read lock on byte 10 and none on byte 20. P itself checks
 * F_GETLEASE on fd 13 is F_RDLCK. Then SIGUSR1 to C, which checks fd 11 is still the locked
 * open file (a flock LOCK_EX|LOCK_NB through it succeeds: the lock is its own).
 * Verdict: OUTDIR/verdict holds "PASS" or "FAIL: " and the failed checks.
 *
 * Build: gcc -O1 -static -Wall -Wextra -o locks locks.c
 */
#define _GNU_SOURCE
#define VICTIM_TREE
#include "victim.h"

#include <sys/file.h>
#include <sys/wait.h>

static char path[4][PATH_MAX + 16];

static int open_file(int n, int flags, int to)
{
	static const char zeros[64];
	int fd = open(path[n], flags | O_CREAT, 0644);

	if (fd < 0)
		setup_failed("open");
	if ((flags & O_ACCMODE) != O_RDONLY && write_all(fd, zeros, sizeof(zeros)))
		setup_failed("write");
	if (dup2(fd, to) != to)
		setup_failed("dup2");
	close(fd);
	return to;
}

static void lock(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };

	if (fcntl(fd, cmd, &fl))
		setup_failed("fcntl lock");
}

/* what a write lock probe at `at` of file n finds: F_UNLCK, or the holder's type */
static int probe(int n, int cmd, off_t at, pid_t *holder)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = at, .l_len = 1 };
	int fd = open(path[n], O_RDWR);
	int r = -1;

	if (fd >= 0 && !fcntl(fd, cmd, &fl)) {
		r = fl.l_type;
		if (holder)
			*holder = fl.l_pid;
	}
	if (fd >= 0)
		close(fd);
	return r;
}

/* the checks of a lock-free process, as its exit status: a bit per failed check */
static int outsider(pid_t owner)
{
	pid_t who = 0;
	int bad = 0, fd;

	if (probe(0, F_GETLK, 5, &who) != F_WRLCK || who != owner)
		bad |= 1;
	if (probe(0, F_GETLK, 30, &who) != F_RDLCK || who != owner)
		bad |= 2;
	if (probe(0, F_GETLK, 15, NULL) != F_UNLCK)
		bad |= 4;
	fd = open(path[1], O_RDONLY);
	if (fd < 0 || !flock(fd, LOCK_EX | LOCK_NB) || errno != EWOULDBLOCK)
		bad |= 8;
	if (probe(2, F_OFD_GETLK, 10, NULL) != F_RDLCK)
		bad |= 16;
	if (probe(2, F_OFD_GETLK, 20, NULL) != F_UNLCK)
		bad |= 32;
	return bad;
}

int main(int argc, char **argv)
{
	static const char *const names[] = { "posix", "flock", "ofd", "lease" };
	int i, status = -1;
	pid_t helper;

	victim_start(argc, argv);
	install_term_handler();
	install_usr1_handler();
	for (i = 0; i < 4; i++)
		snprintf(path[i], sizeof(path[i]), "%.4000s/%s", outdir, names[i]);
	open_file(0, O_RDWR, 10);
	lock(10, F_SETLK, F_WRLCK, 0, 10);
	lock(10, F_SETLK, F_RDLCK, 20, 0);
	open_file(1, O_RDWR, 11);
	if (flock(11, LOCK_EX))
		setup_failed("flock");
	open_file(2, O_RDWR, 12);
	lock(12, F_OFD_SETLK, F_RDLCK, 5, 10);
	open_file(3, O_RDWR, 13);
	close(13);
	/* no writer may be left for a read lease: read-only, and the only open */
	open_file(3, O_RDONLY, 13);
	if (fcntl(13, F_SETLEASE, F_RDLCK))
		setup_failed("lease");
	if (fork_child()) {
		close(10);
		close(12);
		close(13);
		while (child_waiting())
			nap();
		check_child_ids();
		if (flock(11, LOCK_EX | LOCK_NB))
			fail("child: flock through the shared open file: %s", strerror(errno));
		child_report_exit();
	}
	write_ready();
	while (!got_term)
		nap();

	check_pid();
	helper = fork();
	if (helper == 0)
		_exit(outsider(getppid()));
	if (helper < 0 || waitpid(helper, &status, 0) != helper || !WIFEXITED(status))
		fail("the lock-free helper did not finish");
	else if (WEXITSTATUS(status))
		fail("locks seen from outside: failed checks %#x (1, 2: POSIX held, 4: POSIX free, "
		     "8: flock, 16, 32: OFD)",
		     WEXITSTATUS(status));
	if ((i = fcntl(13, F_GETLEASE)) != F_RDLCK)
		fail("lease %d, want F_RDLCK", i);
	collect_child();
	return finish_verdict();
}
