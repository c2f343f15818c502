/*
 * shmem: crest dump/restore integration-test victim for shared anonymous memory in a small
 * process tree: a parent P and one child C, both dumped and restored (same pids).
 *
 * Usage: shmem OUTDIR            (OUTDIR: absolute path of a writable directory)
 *
 * The victim does not daemonize. At start P closes every inherited fd above 2, then sets up:
 *   - a SIGTERM handler (sets a flag; no SA_RESTART) and a SIGUSR1 handler (sets a flag;
 *     no SA_RESTART), both before the fork, so C inherits them (C ignores its SIGTERM flag);
 *   - region R: 1 MiB MAP_SHARED|MAP_ANONYMOUS, PROT_READ|PROT_WRITE; every 64-bit word i
 *     of its first 512 KiB is written (word i = (i * 0x9e3779b97f4a7c15) ^ 0x5a5a); its
 *     second 512 KiB are never touched before the dump (they read as zero);
 *   - region S: 64 KiB MAP_SHARED|MAP_ANONYMOUS, PROT_READ|PROT_WRITE, a page of shared
 *     counters (all updated with __atomic builtins): word 0 is C's loop counter, word 1 is
 *     P's loop counter, word 2 is C's "checked" counter (written once, after SIGUSR1);
 *   - then fork() of the child C, which inherits both mappings.
 * Main loops (both): counter++ in S (C: word 0, P: word 1; each also keeps a private copy),
 * then nanosleep(10 ms), EINTR ignored. C loops until SIGUSR1, or exits 2 (writing nothing)
 * as soon as getppid() is no longer P's pid. P writes OUTDIR/ready containing its pid (no
 * newline; via ready.tmp + rename) once S word 0 >= 5 and S word 1 >= 5 (so each process
 * has seen the other's writes through S), then loops until SIGTERM. If C exits before
 * that, or the counters do not get there within 5 s, P (after killing and reaping C) writes
 * "FAIL: setup: ..." and exits 2 without writing ready.
 *
 * On SIGTERM P's loop ends and P checks:
 *   - getpid() equals the pid written to ready; no fd above 2 is open;
 *   - every word of R's first half carries the pattern, every word of its second half is 0;
 *   - S word 1 equals P's private loop count and is >= 5;
 * then P writes the marker 0xC0FFEE into R's last word (byte offset 1 MiB - 8), records S
 * word 0 as A, and only then sends SIGUSR1 to C, which checks:
 *   - getpid() is still C's pid, getppid() is P's pid; no fd above 2 is open;
 *   - every word of R's first half carries the pattern; every word of its second half but
 *     the last is 0, and the last is 0xC0FFEE (P's write after the restore is visible to C:
 *     R is still one shared region, not two private copies);
 *   - S word 0 equals C's private loop count and is >= 5;
 * then C adds 1 to S word 2, publishes OUTDIR/child (via child.tmp + rename): "P" when all
 * its checks passed, else "F" followed by its failed checks, and exits 0 or 1. P waits for
 * C (waitpid WNOHANG every 10 ms, at most 2 s; C is killed with SIGKILL and reaped on
 * timeout) and checks: C exited with status 0; OUTDIR/child is exactly "P"; S word 2 is 1
 * (C's write after the restore is visible to P); S word 0 is >= 5 and >= A; and
 * /proc/self/maps shows R and S at their addresses, with their sizes (1 MiB, 64 KiB) and
 * permissions exactly "rw-s".
 * Verdict: OUTDIR/verdict (via verdict.tmp + rename), written by P, holds exactly "PASS"
 * (exit 0) or "FAIL: " followed by every failed check, separated by "; " (exit 1).
 *
 * Self test: -DCREST_SELFTEST_BREAK=N breaks one thing right before the checks (bare
 * -DCREST_SELFTEST_BREAK means N=1): 1 P does not write the marker into R (C misses it).
 *
 * Build: gcc -O1 -static -Wall -Wextra -pthread -o shmem shmem.c -lm
 */
#define _GNU_SOURCE
#define VICTIM_FAILURES_BYTES 2048
#define VICTIM_TREE
#include "victim.h"

#include <stdint.h>
#include <sys/mman.h>

#define R_BYTES (1024 * 1024)
#define R_WORDS (R_BYTES / 8)
#define R_HALF_WORDS (R_WORDS / 2)
#define S_BYTES (64 * 1024)
#define MARKER 0xC0FFEEULL
#define MIN_COUNT 5
#define READY_TIMEOUT_MS 5000

#define S_CHILD_COUNT 0  /* S word: C's loop counter */
#define S_PARENT_COUNT 1 /* S word: P's loop counter */
#define S_CHILD_DONE 2   /* S word: C adds 1 after its checks */

static uint64_t *r_map, *s_map;

static uint64_t pattern(uint64_t i)
{
	return (i * 0x9e3779b97f4a7c15ULL) ^ 0x5a5a;
}

static uint64_t s_load(int word)
{
	return __atomic_load_n(&s_map[word], __ATOMIC_SEQ_CST);
}

static void s_inc(int word)
{
	__atomic_fetch_add(&s_map[word], 1, __ATOMIC_SEQ_CST);
}

/* R's first half carries the pattern; its second half is 0 except the last word, which
 * must be last_want */
static void check_r(uint64_t last_want, const char *who)
{
	size_t i, bad = 0, first_bad = 0;
	uint64_t last;

	for (i = 0; i < R_HALF_WORDS; i++)
		if (r_map[i] != pattern(i) && !bad++)
			first_bad = i;
	if (bad)
		fail("%s: R first half: %zu of %d words differ from the pattern (first at byte offset %#zx)",
		     who, bad, R_HALF_WORDS, first_bad * 8);
	bad = 0;
	for (i = R_HALF_WORDS; i < R_WORDS - 1; i++)
		if (r_map[i] && !bad++)
			first_bad = i;
	if (bad)
		fail("%s: R second half: %zu words not zero (first at byte offset %#zx: %#llx)", who, bad,
		     first_bad * 8, (unsigned long long)r_map[first_bad]);
	last = __atomic_load_n(&r_map[R_WORDS - 1], __ATOMIC_SEQ_CST);
	if (last != last_want)
		fail("%s: R last word (byte offset %#x) is %#llx, want %#llx", who, R_BYTES - 8,
		     (unsigned long long)last, (unsigned long long)last_want);
}

/* the /proc/self/maps line starting at addr must span bytes and have permissions "rw-s" */
static void check_mapping(const void *addr, unsigned long bytes, const char *name)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512], perms[8];
	unsigned long start, end;
	int found = 0;

	if (!f) {
		fail("open /proc/self/maps: %s", strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) != 3 || start != (unsigned long)addr)
			continue;
		found = 1;
		if (end - start != bytes)
			fail("%s at %#lx: /proc/self/maps says %lu bytes, want %lu", name, start, end - start,
			     bytes);
		if (strcmp(perms, "rw-s"))
			fail("%s at %#lx: /proc/self/maps says permissions \"%s\", want \"rw-s\"", name,
			     start, perms);
		break;
	}
	fclose(f);
	if (!found)
		fail("%s: no /proc/self/maps line starts at %p", name, addr);
}

/* ---- child ---- */

static void child_verify(uint64_t count)
{
	uint64_t seen;

	check_child_ids();
	check_open_fds(NULL, 0);
	check_r(MARKER, "child");
	seen = s_load(S_CHILD_COUNT);
	if (seen != count)
		fail("child: S word 0 is %llu, but the child counted %llu", (unsigned long long)seen,
		     (unsigned long long)count);
	if (seen < MIN_COUNT)
		fail("child: S word 0 is %llu, want >= %d", (unsigned long long)seen, MIN_COUNT);

	s_inc(S_CHILD_DONE);

	child_report_exit();
}

static void child_main(void)
{
	uint64_t count = 0;

	while (child_waiting()) {
		s_inc(S_CHILD_COUNT);
		count++;
		nap();
	}
	child_verify(count);
}

/* ---- parent ---- */

static void parent_verify(uint64_t count)
{
	uint64_t seen;

	check_pid();
	check_open_fds(NULL, 0);
	check_r(0, "parent");
	seen = s_load(S_PARENT_COUNT);
	if (seen != count)
		fail("parent: S word 1 is %llu, but the parent counted %llu", (unsigned long long)seen,
		     (unsigned long long)count);
	if (seen < MIN_COUNT)
		fail("parent: S word 1 is %llu, want >= %d", (unsigned long long)seen, MIN_COUNT);
}

/* marker into R, SIGUSR1 to C, wait for it (at most VICTIM_WAIT_CHILD_MS), then check its
 * report, S and /proc/self/maps */
static void parent_collect(void)
{
	uint64_t a, w;

#if defined(CREST_SELFTEST_BREAK) && CREST_SELFTEST_BREAK == 1
	/* self test: no marker, so C must report it missing */
#else
	__atomic_store_n(&r_map[R_WORDS - 1], MARKER, __ATOMIC_SEQ_CST);
#endif
	a = s_load(S_CHILD_COUNT);
	collect_child();

	w = s_load(S_CHILD_DONE);
	if (w != 1)
		fail("S word 2 is %llu after the child exited, want 1 (child's write not shared)",
		     (unsigned long long)w);
	w = s_load(S_CHILD_COUNT);
	if (w < MIN_COUNT || w < a)
		fail("S word 0 is %llu after the child exited, want >= %d and >= %llu", (unsigned long long)w,
		     MIN_COUNT, (unsigned long long)a);

	check_mapping(r_map, R_BYTES, "R");
	check_mapping(s_map, S_BYTES, "S");
}

int main(int argc, char **argv)
{
	uint64_t count = 0;
	int waited, status;
	size_t i;

	victim_start(argc, argv);
	install_term_handler();
	install_usr1_handler();

	r_map = mmap(NULL, R_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (r_map == MAP_FAILED)
		setup_failed("mmap R");
	for (i = 0; i < R_HALF_WORDS; i++)
		r_map[i] = pattern(i);
	s_map = mmap(NULL, S_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (s_map == MAP_FAILED)
		setup_failed("mmap S");

	if (fork_child())
		child_main();

	for (waited = 0;; waited += VICTIM_NAP_NS / 1000000) {
		if (s_load(S_CHILD_COUNT) >= MIN_COUNT && s_load(S_PARENT_COUNT) >= MIN_COUNT)
			break;
		if (waited > READY_TIMEOUT_MS) {
			errno = ETIMEDOUT;
			parent_setup_failed("shared counters did not reach the minimum");
		}
		if (waitpid(child_pid, &status, WNOHANG) == child_pid) {
			errno = ECHILD;
			setup_failed("child exited during setup");
		}
		s_inc(S_PARENT_COUNT);
		count++;
		nap();
	}

	write_ready();

	while (!got_term) {
		s_inc(S_PARENT_COUNT);
		count++;
		nap();
	}

	parent_verify(count);
	parent_collect();
	return finish_verdict();
}
