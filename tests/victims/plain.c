/*
 * plain: minimal crest integration-test victim, for --leave-running and timing tests.
 *
 * Usage: plain OUTDIR [MIB]       (OUTDIR: absolute path of a writable directory;
 *                                  MIB: buffer size in MiB, 1..65536, default 1)
 *
 * The victim does not daemonize. At start it closes every inherited fd above 2, then sets up:
 *   - a SIGTERM handler (sets a flag; no SA_RESTART);
 *   - a MIB MiB MAP_PRIVATE|MAP_ANONYMOUS read-write mapping; every 64-bit word is
 *     written (word i = pattern(i)), so every page is present before the dump;
 *   - OUTDIR/ready containing the pid (no newline; via ready.tmp + rename), written
 *     after the buffer is filled.
 * Main loop: counter++ (a global), nanosleep(10 ms) (EINTR ignored), with a shadow copy
 * of the counter on the stack.
 *
 * On SIGTERM the loop ends and it checks: getpid() equals the pid written to ready; every
 * word of the buffer; counter >= 5 and the stack shadow agrees with it.
 * Verdict: OUTDIR/verdict (via verdict.tmp + rename) holds exactly "PASS" (exit 0) or
 * "FAIL: " followed by every failed check, separated by "; " (exit 1). A setup error
 * (bad arguments, mmap failure) writes "FAIL: setup: ..." when OUTDIR is usable and
 * exits 2 without writing ready.
 *
 * Self test: -DCREST_SELFTEST_BREAK=N breaks one thing right before the checks (bare
 * -DCREST_SELFTEST_BREAK means N=1): 1 one buffer word in the last page, 2 the counter.
 *
 * Build: gcc -O1 -static -Wall -Wextra -pthread -o plain plain.c -lm
 */
#define _GNU_SOURCE
#define VICTIM_FAILURES_BYTES 2048
#include "victim.h"

#include <stdint.h>
#include <sys/mman.h>
#include <time.h>

#define MIN_COUNT 5
#define MAX_MIB 65536
#define SLEEP_NS (10 * 1000 * 1000L)

static volatile uint64_t counter;
static uint64_t *buf;
static size_t buf_words;

/* cheap (a benchmark may fill GiBs) but position-dependent in every bit */
static uint64_t pattern(uint64_t i)
{
	uint64_t x = i * 0x9e3779b97f4a7c15ULL;

	return x ^ (x >> 29) ^ 0x5a5a0f0f3c3cc3c3ULL;
}

static void verify(uint64_t shadow)
{
	size_t i, bad = 0, first_bad = 0;

#ifdef CREST_SELFTEST_BREAK
	if (CREST_SELFTEST_BREAK == 1)
		buf[buf_words - 3] ^= 0x100;
	if (CREST_SELFTEST_BREAK == 2)
		counter = 0;
#endif
	check_pid();
	for (i = 0; i < buf_words; i++)
		if (buf[i] != pattern(i) && !bad++)
			first_bad = i;
	if (bad)
		fail("buffer: %zu of %zu words differ (first at byte offset %#zx)", bad, buf_words, first_bad * 8);
	if (counter < MIN_COUNT)
		fail("counter %llu, want >= %d", (unsigned long long)counter, MIN_COUNT);
	if (shadow != ~counter)
		fail("stack shadow of the counter disagrees (counter %llu, shadow says %llu)",
		     (unsigned long long)counter, (unsigned long long)~shadow);
}

int main(int argc, char **argv)
{
	struct timespec ts = { 0, SLEEP_NS };
	uint64_t shadow = ~(uint64_t)0;
	unsigned long mib = 1;
	size_t i;
	char *end;

	victim_start(argc, argv);
	if (argc > 2) {
		errno = 0;
		mib = strtoul(argv[2], &end, 10);
		if (errno || end == argv[2] || *end || mib < 1 || mib > MAX_MIB) {
			errno = EINVAL;
			setup_failed("MIB argument");
		}
	}

	install_term_handler();

	buf_words = (size_t)mib << 17; /* MiB / 8 bytes */
	buf = mmap(NULL, buf_words * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		setup_failed("mmap");
	for (i = 0; i < buf_words; i++)
		buf[i] = pattern(i);

	write_ready();

	while (!got_term) {
		counter++;
		shadow = ~counter;
		nanosleep(&ts, NULL); /* EINTR (SIGTERM, a ptrace stop, a restore) is fine */
	}

	verify(shadow);
	return finish_verdict();
}
