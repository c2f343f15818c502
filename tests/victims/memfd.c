/*
 * memfd: crest integration-test victim for memfd objects held as descriptors and mappings.
 *
 * Usage: memfd OUTDIR            (OUTDIR: absolute path of a writable directory)
 *
 * Setup: memfd "crest-victim" (MFD_ALLOW_SEALING) holding the script "#!/bin/true\n" and
 * then 3 pages of a pattern after it (16 KiB in all), sealed F_SEAL_SHRINK | F_SEAL_GROW;
 * fd 10 is it (read-write, at offset 5), fd 11 a read-only reopen through /proc/self/fd
 * (at offset 0); mapped MAP_SHARED read-write (S) and MAP_PRIVATE (P), and P's second page
 * written (a private copy). Then OUTDIR/ready and a wait for SIGTERM.
 *
 * On SIGTERM it checks: the seals; the sizes; the offsets of fds 10 and 11; fd 11 is
 * read-only; S and the file hold the pattern, P's second page its own bytes and its third
 * the file's; a byte written through fd 10 shows in S but not in P's copied page; and the
 * memfd can be executed (fork, execveat(fd 10, "", AT_EMPTY_PATH), exit status 0: no
 * writer of it was left behind, which exec refuses with ETXTBSY).
 * Verdict: OUTDIR/verdict holds "PASS" or "FAIL: " and the failed checks.
 *
 * Build: gcc -O1 -static -Wall -Wextra -o memfd memfd.c
 */
#define _GNU_SOURCE
#include "victim.h"

#include <sys/mman.h>
#include <sys/wait.h>

#define SIZE 16384
#define SCRIPT "#!/bin/true\n"

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 11 + 3);
}

int main(int argc, char **argv)
{
	static const char *const no_args[] = { "true", NULL };
	unsigned char *s, *p, buf[SIZE];
	char path[64];
	int fd, ro, seals, status = -1;
	size_t i, bad = 0;
	pid_t child;

	victim_start(argc, argv);
	install_term_handler();
	fd = memfd_create("crest-victim", MFD_ALLOW_SEALING);
	for (i = 0; i < SIZE; i++)
		buf[i] = pattern(i);
	memcpy(buf, SCRIPT, strlen(SCRIPT));
	if (fd < 0 || write_all(fd, (const char *)buf, SIZE) || dup2(fd, 10) != 10)
		setup_failed("memfd");
	close(fd);
	if (fcntl(10, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) || lseek(10, 5, SEEK_SET) != 5)
		setup_failed("seals");
	snprintf(path, sizeof(path), "/proc/self/fd/10");
	ro = open(path, O_RDONLY);
	if (ro < 0 || dup2(ro, 11) != 11)
		setup_failed("reopen");
	close(ro);
	s = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, 10, 0);
	p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, 10, 0);
	if (s == MAP_FAILED || p == MAP_FAILED)
		setup_failed("mmap");
	memset(p + 4096, 0x77, 4096);
	write_ready();
	while (!got_term)
		nap();

	check_pid();
	seals = fcntl(10, F_GET_SEALS);
	if (seals != (F_SEAL_SHRINK | F_SEAL_GROW))
		fail("seals %#x, want %#x", seals, F_SEAL_SHRINK | F_SEAL_GROW);
	if (lseek(10, 0, SEEK_CUR) != 5 || lseek(11, 0, SEEK_CUR) != 0)
		fail("offsets %jd and %jd, want 5 and 0", (intmax_t)lseek(10, 0, SEEK_CUR),
		     (intmax_t)lseek(11, 0, SEEK_CUR));
	if ((fcntl(11, F_GETFL) & O_ACCMODE) != O_RDONLY)
		fail("fd 11 is not read-only");
	if (lseek(10, 0, SEEK_END) != SIZE || lseek(10, 5, SEEK_SET) != 5)
		fail("size is not %d", SIZE);
	for (i = strlen(SCRIPT); i < SIZE; i++)
		bad += s[i] != pattern(i);
	if (bad || memcmp(s, SCRIPT, strlen(SCRIPT)))
		fail("S: %zu bytes differ from the file's", bad);
	for (i = 0, bad = 0; i < 4096; i++)
		bad += p[4096 + i] != 0x77 || p[8192 + i] != pattern(8192 + i);
	if (bad)
		fail("P: %zu bytes differ", bad);
	if (pwrite(10, "Z", 1, 4096) != 1 || s[4096] != 'Z' || p[4096] != 0x77)
		fail("a write through fd 10: S %#x, P %#x", s[4096], p[4096]);
	child = fork();
	if (child == 0) {
		syscall(SYS_execveat, 10, "", no_args, no_args + 1, AT_EMPTY_PATH);
		_exit(100 + errno);
	}
	if (child < 0 || waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status))
		fail("exec of the memfd: status %#x (100 + errno when execveat failed)", status);
	return finish_verdict();
}
