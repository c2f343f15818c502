/*
 * fifo: crest integration-test victim for a named pipe (FIFO) opened by path, with bytes
 * buffered in it at dump time.
 *
 * Usage: fifo OUTDIR             (OUTDIR: absolute path of a writable directory)
 *
 * Setup: mkfifo OUTDIR/f (mode 0600); a reader opened O_RDONLY | O_NONBLOCK, then a writer
 * O_WRONLY; F_SETPIPE_SZ 64 KiB on the writer; "fifo data" written and left unread.
 * Then OUTDIR/ready (the pid) and a wait for SIGTERM.
 *
 * On SIGTERM it checks: both descriptors are FIFOs and the same inode as OUTDIR/f; the
 * reader is O_RDONLY with O_NONBLOCK, the writer O_WRONLY without it; F_GETPIPE_SZ is at
 * least 64 KiB; the reader reads exactly "fifo data" and then nothing (EAGAIN); "more"
 * written now arrives on the reader.
 * Verdict: OUTDIR/verdict holds "PASS" or "FAIL: " and the failed checks.
 *
 * Build: gcc -O1 -static -Wall -Wextra -o fifo fifo.c
 */
#define _GNU_SOURCE
#include "victim.h"

#include <sys/stat.h>

#define PIPE_SIZE (64 * 1024)

static char path[PATH_MAX];
static int rd, wr;

static void expect(const char *want, const char *what)
{
	char buf[64];
	ssize_t n = read(rd, buf, sizeof(buf) - 1);

	if (!want) {
		if (n >= 0 || errno != EAGAIN)
			fail("%s: read %zd (%s), want nothing queued", what, n, n < 0 ? strerror(errno) : "");
		return;
	}
	if (n < 0) {
		fail("%s: read: %s", what, strerror(errno));
		return;
	}
	buf[n] = 0;
	if (strcmp(buf, want))
		fail("%s: read \"%s\", want \"%s\"", what, buf, want);
}

static void check_fd(int fd, int acc, int nonblock, const struct stat *want, const char *what)
{
	struct stat st;
	int fl = fcntl(fd, F_GETFL);

	if (fstat(fd, &st) || !S_ISFIFO(st.st_mode) || st.st_ino != want->st_ino || st.st_dev != want->st_dev)
		fail("%s: not the FIFO at %s", what, path);
	if (fl < 0 || (fl & O_ACCMODE) != acc || !!(fl & O_NONBLOCK) != nonblock)
		fail("%s: flags %#x", what, fl);
}

int main(int argc, char **argv)
{
	struct stat st;
	int size;

	victim_start(argc, argv);
	install_term_handler();
	snprintf(path, sizeof(path), "%.4000s/f", outdir);
	if (mkfifo(path, 0600))
		setup_failed("mkfifo");
	rd = open(path, O_RDONLY | O_NONBLOCK);
	wr = open(path, O_WRONLY);
	if (rd < 0 || wr < 0)
		setup_failed("open the FIFO");
	if (fcntl(wr, F_SETPIPE_SZ, PIPE_SIZE) < 0)
		setup_failed("F_SETPIPE_SZ");
	if (write_all(wr, "fifo data", 9))
		setup_failed("write");
	write_ready();
	while (!got_term)
		nap();

	check_pid();
	if (stat(path, &st))
		fail("stat %s: %s", path, strerror(errno));
	check_fd(rd, O_RDONLY, 1, &st, "reader");
	check_fd(wr, O_WRONLY, 0, &st, "writer");
	size = fcntl(wr, F_GETPIPE_SZ);
	if (size < PIPE_SIZE)
		fail("F_GETPIPE_SZ %d, want at least %d", size, PIPE_SIZE);
	expect("fifo data", "buffered bytes");
	expect(NULL, "after them");
	if (write_all(wr, "more", 4))
		fail("write after restore: %s", strerror(errno));
	expect("more", "a new write");
	return finish_verdict();
}
