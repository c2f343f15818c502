/*
 * maps: crest integration-test victim for mappings whose flags /proc/PID/maps does not show,
 * and for memory a plain read of the task cannot reach.
 *
 * Usage: maps OUTDIR             (OUTDIR: absolute path of a writable directory)
 *
 * Setup (each region 4 pages, private anonymous unless said, written with a pattern):
 *   - A: madvise MADV_DONTFORK;  B: MADV_WIPEONFORK;  C: MADV_DONTDUMP and MADV_SEQUENTIAL;
 *   - D: mapped MAP_LOCKED;
 *   - E: written, then mprotect PROT_NONE (its pages are there, but process_vm_readv cannot
 *     read them);
 *   - F: OUTDIR/data (4 pages, pattern) opened O_RDWR, mapped MAP_SHARED with PROT_READ
 *     only, and the descriptor closed;
 *   - G: a guard region (MADV_GUARD_INSTALL) on its page 1.
 * Then OUTDIR/ready and a wait for SIGTERM.
 *
 * On SIGTERM it checks: the VmFlags of /proc/self/smaps still show dc on A, wf on B, dd and
 * sr on C, lo on D; A-D and E (after mprotect PROT_READ) hold their patterns; F can be made
 * writable (mprotect PROT_READ|PROT_WRITE, which needs the file opened for writing), holds
 * the file's bytes, and a byte written through it reaches the file; G's page 1 is still a
 * guard page (/proc/self/pagemap bit 58) and its other pages hold their pattern.
 * Verdict: OUTDIR/verdict holds "PASS" or "FAIL: " and the failed checks.
 *
 * Build: gcc -O1 -static -Wall -Wextra -o maps maps.c
 */
#define _GNU_SOURCE
#include "victim.h"

#include <sys/mman.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define PAGES 4
#define LEN (PAGES * 4096)

static unsigned char pattern(int region, size_t i)
{
	return (unsigned char)(i * 7 + region * 31 + 1);
}

static unsigned char *region(int n, int flags, int advice, int advice2)
{
	unsigned char *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
	size_t i;

	if (p == MAP_FAILED)
		setup_failed("mmap");
	for (i = 0; i < LEN; i++)
		p[i] = pattern(n, i);
	if ((advice >= 0 && madvise(p, LEN, advice)) || (advice2 >= 0 && madvise(p, LEN, advice2)))
		setup_failed("madvise");
	return p;
}

static void check_pattern(const unsigned char *p, int n, const char *what)
{
	size_t i;

	for (i = 0; i < LEN; i++)
		if (p[i] != pattern(n, i)) {
			fail("%s: byte %zu is %#x, want %#x", what, i, p[i], pattern(n, i));
			return;
		}
}

/* the VmFlags line of the VMA at p holds every two-letter flag of want (space separated) */
static void check_vmflags(const void *p, const char *want, const char *what)
{
	char line[1024], start[32], flag[3] = { 0 };
	FILE *f = fopen("/proc/self/smaps", "r");
	int in = 0, found = 0;
	const char *w;

	if (!f) {
		fail("%s: /proc/self/smaps: %s", what, strerror(errno));
		return;
	}
	snprintf(start, sizeof(start), "%lx-", (unsigned long)p);
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, start, strlen(start)))
			in = 1;
		else if (in && !strncmp(line, "VmFlags:", 8)) {
			found = 1;
			for (w = want; w[0] && w[1]; w += w[2] ? 3 : 2) {
				flag[0] = w[0];
				flag[1] = w[1];
				if (!strstr(line + 8, flag))
					fail("%s: VmFlags lack %s:%s", what, flag, line + 8);
			}
			break;
		}
	}
	fclose(f);
	if (!found)
		fail("%s: no VMA at %p in smaps", what, p);
}

/* whether the page at p is a guard page: bit 58 of its /proc/self/pagemap entry */
static int is_guard(const void *p)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);
	off_t at = (off_t)((uintptr_t)p / 4096) * 8;
	int ok = fd >= 0 && pread(fd, &e, sizeof(e), at) == sizeof(e);

	if (fd >= 0)
		close(fd);
	return ok && (e >> 58 & 1);
}

int main(int argc, char **argv)
{
	unsigned char *a, *b, *c, *d, *e, *f, *g;
	char path[PATH_MAX + 8];
	unsigned char file[LEN], back = 0;
	size_t i;
	int fd;

	victim_start(argc, argv);
	install_term_handler();
	a = region(0, 0, MADV_DONTFORK, -1);
	b = region(1, 0, MADV_WIPEONFORK, -1);
	c = region(2, 0, MADV_DONTDUMP, MADV_SEQUENTIAL);
	d = region(3, MAP_LOCKED, -1, -1);
	e = region(4, 0, -1, -1);
	if (mprotect(e, LEN, PROT_NONE))
		setup_failed("mprotect PROT_NONE");
	snprintf(path, sizeof(path), "%s/data", outdir);
	for (i = 0; i < LEN; i++)
		file[i] = pattern(5, i);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write_all(fd, (const char *)file, LEN))
		setup_failed("data file");
	f = mmap(NULL, LEN, PROT_READ, MAP_SHARED, fd, 0);
	if (f == MAP_FAILED)
		setup_failed("mmap the data file");
	close(fd);
	g = region(6, 0, -1, -1);
	if (madvise(g + 4096, 4096, MADV_GUARD_INSTALL) || !is_guard(g + 4096))
		setup_failed("MADV_GUARD_INSTALL");
	write_ready();
	while (!got_term)
		nap();

	check_pid();
	check_vmflags(a, "dc", "A (MADV_DONTFORK)");
	check_vmflags(b, "wf", "B (MADV_WIPEONFORK)");
	check_vmflags(c, "dd sr", "C (MADV_DONTDUMP, MADV_SEQUENTIAL)");
	check_vmflags(d, "lo", "D (MAP_LOCKED)");
	check_pattern(a, 0, "A");
	check_pattern(b, 1, "B");
	check_pattern(c, 2, "C");
	check_pattern(d, 3, "D");
	if (mprotect(e, LEN, PROT_READ))
		fail("mprotect E: %s", strerror(errno));
	else
		check_pattern(e, 4, "E (PROT_NONE when dumped)");
	if (mprotect(f, LEN, PROT_READ | PROT_WRITE)) {
		fail("F: mprotect to writable: %s", strerror(errno));
	} else {
		check_pattern(f, 5, "F");
		f[0] = 0xab;
		msync(f, LEN, MS_SYNC);
		fd = open(path, O_RDONLY);
		if (fd < 0 || read(fd, &back, 1) != 1 || back != 0xab)
			fail("F: the write did not reach the file (%#x)", back);
		if (fd >= 0)
			close(fd);
	}
	if (!is_guard(g + 4096))
		fail("G: page 1 is no longer a guard page");
	for (i = 0; i < LEN; i++)
		if ((i < 4096 || i >= 2 * 4096) && g[i] != pattern(6, i)) {
			fail("G: byte %zu is %#x, want %#x", i, g[i], pattern(6, i));
			break;
		}
	return finish_verdict();
}
