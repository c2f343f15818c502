/*
 * cow: crest integration-test victim for private memory a parent and its child share
 * copy-on-write (CRIU's cow00/cow01), anonymous and file-backed.
 *
 * Usage: cow OUTDIR       (OUTDIR: absolute path of a writable directory)
 *
 * Setup: P maps A, 8 pages MAP_PRIVATE|MAP_ANONYMOUS, and F, 8 pages MAP_PRIVATE of the file
 * OUTDIR/file (8 pages, page i filled with the byte 'a' + i). Before the fork P writes
 * pages 0-3 of A (page i filled with 0x10 + i) and pages 0-3 of F (0x30 + i). Then it forks
 * C. After the fork:
 *   - page 1 of A and F: P writes it again (0x50 + i): P's differs from C's;
 *   - page 2 of A and F: C writes it again (0x70 + i);
 *   - pages 0 and 3 of A and F: nobody writes them (one page, shared);
 *   - page 4 of A and F: P writes it (0x90 + i), C never touched it: C still reads zeroes
 *     in A and the file's bytes in F.
 * Then OUTDIR/ready and a wait for SIGTERM.
 *
 * On SIGTERM P checks its own pages, then that pages 0 and 3 of A and F are one physical
 * page in P and C (same frame in /proc/PID/pagemap; needs root), then sends SIGUSR1 to C,
 * which checks its pages and exits 0, or 10 + the number of the first page that is wrong
 * (A), 20 + it (F).
 * Verdict: OUTDIR/verdict holds "PASS" or "FAIL: " and the failed checks.
 *
 * Build: gcc -O1 -static -Wall -Wextra -o cow cow.c
 */
#define _GNU_SOURCE
#include "victim.h"

#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define PAGES 8
#define PG 4096

static volatile sig_atomic_t got_usr1;
static unsigned char *A, *F;

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

static int filled(const unsigned char *p, unsigned char b)
{
	for (int i = 0; i < PG; i++)
		if (p[i] != b)
			return 0;
	return 1;
}

/* The byte page i of region r (0: A, 1: F) holds in the process `who` (0: P, 1: C). */
static unsigned char expected(int r, int i, int who)
{
	unsigned char before = (r ? 0x30 : 0x10) + i, file = 'a' + i;

	switch (i) {
	case 0:
	case 3:
		return before;
	case 1:
		return who ? before : 0x50 + i;
	case 2:
		return who ? 0x70 + i : before;
	case 4:
		return who ? (r ? file : 0) : 0x90 + i;
	default:
		return r ? file : 0;
	}
}

static uint64_t frame(pid_t pid, const void *addr)
{
	char path[64];
	uint64_t e = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	if (pread(fd, &e, 8, (uintptr_t)addr / PG * 8) != 8)
		e = 0;
	close(fd);
	/* Present, and its frame number. */
	return (e >> 63) ? (e & ((1ULL << 55) - 1)) : 0;
}

static int child_main(pid_t parent)
{
	memset(A + 2 * PG, 0x70 + 2, PG);
	memset(F + 2 * PG, 0x70 + 2, PG);
	while (!got_usr1) {
		if (getppid() != parent)
			_exit(9);
		nap();
	}
	for (int i = 0; i < PAGES; i++) {
		if (!filled(A + i * PG, expected(0, i, 1)))
			_exit(10 + i);
		if (!filled(F + i * PG, expected(1, i, 1)))
			_exit(20 + i);
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_usr1};
	unsigned char page[PG];
	pid_t parent, c;
	int fd, status;

	victim_start(argc, argv);
	install_term_handler();
	sigaction(SIGUSR1, &sa, NULL);
	if (chdir(outdir) < 0)
		setup_failed("chdir");
	fd = open("file", O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		setup_failed("file");
	for (int i = 0; i < PAGES; i++) {
		memset(page, 'a' + i, PG);
		if (write(fd, page, PG) != PG)
			setup_failed("writing the file");
	}
	A = mmap(NULL, PAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	F = mmap(NULL, PAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	close(fd);
	if (A == MAP_FAILED || F == MAP_FAILED)
		setup_failed("mmap");
	for (int i = 0; i < 4; i++) {
		memset(A + i * PG, 0x10 + i, PG);
		memset(F + i * PG, 0x30 + i, PG);
	}
	parent = getpid();
	c = fork();
	if (c < 0)
		setup_failed("fork");
	if (c == 0)
		child_main(parent);
	memset(A + 1 * PG, 0x50 + 1, PG);
	memset(F + 1 * PG, 0x50 + 1, PG);
	memset(A + 4 * PG, 0x90 + 4, PG);
	memset(F + 4 * PG, 0x90 + 4, PG);
	/* Until C has written its page 2. */
	for (int i = 0; frame(c, A + 2 * PG) == frame(parent, A + 2 * PG); i++) {
		if (i == 200) {
			kill(c, SIGKILL);
			setup_failed("the child's write");
		}
		nap();
	}
	nap();
	write_ready();
	while (!got_term)
		nap();

	check_pid();
	for (int i = 0; i < PAGES; i++) {
		if (!filled(A + i * PG, expected(0, i, 0)))
			fail("anonymous page %d is wrong in the parent", i);
		if (!filled(F + i * PG, expected(1, i, 0)))
			fail("file page %d is wrong in the parent", i);
	}
	for (int i = 0; i < 4; i += 3) {
		uint64_t a = frame(parent, A + i * PG), b = frame(c, A + i * PG);
		uint64_t fa = frame(parent, F + i * PG), fb = frame(c, F + i * PG);

		if (!a || a != b)
			fail("anonymous page %d is not shared (frames %#llx, %#llx)", i,
			     (unsigned long long)a, (unsigned long long)b);
		if (!fa || fa != fb)
			fail("file page %d is not shared (frames %#llx, %#llx)", i,
			     (unsigned long long)fa, (unsigned long long)fb);
	}
	kill(c, SIGUSR1);
	if (waitpid(c, &status, 0) != c)
		fail("waitpid: %s", strerror(errno));
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail("the child ended with status %#x", status);
	return finish_verdict();
}
