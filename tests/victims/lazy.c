/*
 * lazy: victim for --lazy-pages. It touches its memory in every way that can go wrong while
 * pages are still missing after a lazy restore.
 *
 * Usage: lazy OUTDIR MIB
 *
 * Setup: a MIB MiB MAP_PRIVATE|MAP_ANONYMOUS buffer, every 64-bit word written (word i =
 * pattern(i)); a 4-page hole in the middle is dropped again (MADV_DONTNEED) so that the
 * dump has no pages there; the page at 1/4 made read-only and the buffer from 3/8 on mapped
 * anew with MAP_NORESERVE (adjacent VMAs whose pages follow each other); OUTDIR/ready. Then it loops (10 ms naps) until SIGUSR1 or SIGTERM.
 *
 * On SIGUSR1 (sent right after the restore, while the helper still fills the buffer) it does,
 * in this order (the pages the helper fills last first), recording each failure:
 *   1. MADV_DONTNEED of the last MiB: it must read as zeroes, not as dumped data; then the
 *      pattern is written there again;
 *   2. mremap the MiB at 3/4 of the buffer to a new place: its words must follow it there; moved
 *      back (MREMAP_FIXED) afterwards;
 *   3. munmap of the MiB at 5/8, then mmap of fresh anonymous memory there: zeroes, then the
 *      pattern again;
 *   4. the hole reads as zeroes;
 *   5. fork: the child checks every word of the buffer and exits 0 or 1.
 * On SIGTERM: every word of the buffer (but the hole) equals its pattern, and the SIGUSR1
 * steps ran. Verdict in OUTDIR/verdict: "PASS" or "FAIL: ...".
 *
 * Build: gcc -O1 -static -Wall -Wextra -pthread -o lazy lazy.c -lm
 */
#define _GNU_SOURCE
#define VICTIM_FAILURES_BYTES 2048
#include "victim.h"

#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#define MIB_WORDS ((size_t)1 << 17)
#define PAGE_WORDS 512

static uint64_t *buf;
static size_t buf_words, hole_at;
static volatile sig_atomic_t got_usr1;

static uint64_t pattern(uint64_t i)
{
	uint64_t x = i * 0x9e3779b97f4a7c15ULL;

	return x ^ (x >> 29) ^ 0x5a5a0f0f3c3cc3c3ULL;
}

static int in_hole(size_t i)
{
	return i >= hole_at && i < hole_at + 4 * PAGE_WORDS;
}

/* words [from, to) of buf: how many differ from the pattern (or from 0 in the hole) */
static size_t count_bad(const uint64_t *at, size_t from, size_t to)
{
	size_t i, bad = 0;

	for (i = from; i < to; i++)
		if (at[i - from] != (in_hole(i) ? 0 : pattern(i)))
			bad++;
	return bad;
}

static size_t count_nonzero(const uint64_t *at, size_t n)
{
	size_t i, bad = 0;

	for (i = 0; i < n; i++)
		if (at[i])
			bad++;
	return bad;
}

static void refill(size_t from, size_t to)
{
	size_t i;

	for (i = from; i < to; i++)
		buf[i] = pattern(i);
}

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

static void while_lazy(void)
{
	size_t bad;
	/* MiBs the helper's address-order pass reaches late */
	size_t move_at = buf_words / MIB_WORDS * 3 / 4 * MIB_WORDS;
	size_t unmap_at = buf_words / MIB_WORDS * 5 / 8 * MIB_WORDS;
	uint64_t *moved, *second = buf + move_at, *third = buf + unmap_at;
	uint64_t *last = buf + buf_words - MIB_WORDS;
	pid_t child;
	int st;

	/* 1. emptied memory reads as zeroes */
	if (madvise(last, MIB_WORDS * 8, MADV_DONTNEED))
		fail("madvise: %s", strerror(errno));
	bad = count_nonzero(last, MIB_WORDS);
	if (bad)
		fail("last MiB after MADV_DONTNEED: %zu words not zero", bad);
	refill(buf_words - MIB_WORDS, buf_words);
	/* 2. a moved range keeps its words */
	moved = mmap(NULL, MIB_WORDS * 8, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (moved == MAP_FAILED ||
	    mremap(second, MIB_WORDS * 8, MIB_WORDS * 8, MREMAP_MAYMOVE | MREMAP_FIXED, moved) != moved) {
		fail("mremap away: %s", strerror(errno));
	} else {
		bad = count_bad(moved, move_at, move_at + MIB_WORDS);
		if (bad)
			fail("moved MiB: %zu words differ", bad);
		if (mremap(moved, MIB_WORDS * 8, MIB_WORDS * 8, MREMAP_MAYMOVE | MREMAP_FIXED, second) !=
		    second)
			fail("mremap back: %s", strerror(errno));
	}
	/* 3. unmapped and mapped again: zeroes */
	if (munmap(third, MIB_WORDS * 8) ||
	    mmap(third, MIB_WORDS * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
		 0) != third) {
		fail("munmap/mmap: %s", strerror(errno));
	} else {
		bad = count_nonzero(third, MIB_WORDS);
		if (bad)
			fail("MiB at 5/8 mapped anew: %zu words not zero", bad);
		refill(unmap_at, unmap_at + MIB_WORDS);
	}
	/* 4. never-dumped pages are zeroes */
	bad = count_nonzero(buf + hole_at, 4 * PAGE_WORDS);
	if (bad)
		fail("hole: %zu words not zero", bad);
	/* 5. a child sees all of it (last: it touches every page) */
	child = fork();
	if (child == 0)
		_exit(count_bad(buf, 0, buf_words) ? 1 : 0);
	if (child < 0 || waitpid(child, &st, 0) != child)
		fail("fork: %s", strerror(errno));
	else if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail("the forked child saw a buffer that differs (status %#x)", st);
}

int main(int argc, char **argv)
{
	struct timespec ts = { 0, 10 * 1000 * 1000L };
	struct sigaction sa;
	unsigned long mib;
	int lazy_done = 0;
	size_t bad;

	victim_start(argc, argv);
	mib = argc > 2 ? strtoul(argv[2], NULL, 10) : 0;
	if (mib < 4 || mib > 65536) {
		errno = EINVAL;
		setup_failed("MIB argument (4..65536)");
	}
	install_term_handler();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL))
		setup_failed("sigaction SIGUSR1");

	buf_words = (size_t)mib * MIB_WORDS;
	buf = mmap(NULL, buf_words * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		setup_failed("mmap");
	/* the buffer from 3/8 on a VMA of its own (MAP_NORESERVE), right after the rest */
	if (mmap(buf + buf_words / 8 * 3, buf_words / 8 * 5 * 8, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) != buf + buf_words / 8 * 3)
		setup_failed("mmap from 3/8 on");
	refill(0, buf_words);
	hole_at = buf_words / 2;
	if (madvise(buf + hole_at, 4 * PAGE_WORDS * 8, MADV_DONTNEED))
		setup_failed("madvise hole");
	/* one read-only page at 1/4: three adjacent VMAs whose pages follow each other */
	if (mprotect(buf + buf_words / 4, PAGE_WORDS * 8, PROT_READ))
		setup_failed("mprotect");

	write_ready();
	while (!got_term) {
		if (got_usr1 && !lazy_done) {
			while_lazy();
			lazy_done = 1;
			publish("lazy-done", "1");
		}
		nanosleep(&ts, NULL);
	}
	check_pid();
	if (!lazy_done)
		fail("SIGUSR1 never came");
	bad = count_bad(buf, 0, buf_words);
	if (bad)
		fail("buffer at SIGTERM: %zu of %zu words differ", bad, buf_words);
	return finish_verdict();
}
