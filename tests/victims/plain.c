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
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MIN_COUNT 5
#define MAX_MIB 65536
#define SLEEP_NS (10 * 1000 * 1000L)

static char outdir[PATH_MAX];
static char failures[2048];
static int nfailures;
static volatile sig_atomic_t got_term;
static volatile uint64_t counter;
static uint64_t *buf;
static size_t buf_words;
static pid_t ready_pid;

static void fail(const char *fmt, ...)
{
	size_t used = strlen(failures);
	va_list ap;

	if (used + 16 >= sizeof(failures))
		return;
	if (nfailures++)
		used += snprintf(failures + used, sizeof(failures) - used, "; ");
	va_start(ap, fmt);
	vsnprintf(failures + used, sizeof(failures) - used, fmt, ap);
	va_end(ap);
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

/* OUTDIR/name <- text, atomically through OUTDIR/name.tmp */
static int publish(const char *name, const char *text)
{
	char path[PATH_MAX + 64], tmp[PATH_MAX + 64];
	int fd, err;

	snprintf(path, sizeof(path), "%s/%s", outdir, name);
	snprintf(tmp, sizeof(tmp), "%s/%s.tmp", outdir, name);
	do
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -1;
	err = write_all(fd, text, strlen(text));
	close(fd);
	if (err || rename(tmp, path))
		return -1;
	return 0;
}

static void setup_failed(const char *what)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "FAIL: setup: %s: %s", what, strerror(errno));
	publish("verdict", msg);
	_exit(2);
}

static void on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

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
	if (getpid() != ready_pid)
		fail("getpid() %d, but ready said %d", (int)getpid(), (int)ready_pid);
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
	struct sigaction sa;
	struct timespec ts = { 0, SLEEP_NS };
	uint64_t shadow = ~(uint64_t)0;
	unsigned long mib = 1;
	size_t i;
	char text[32], *end;

	syscall(SYS_close_range, 3, ~0U, 0);
	if (argc < 2 || argv[1][0] != '/' || strlen(argv[1]) >= sizeof(outdir) - 64)
		return 2;
	strcpy(outdir, argv[1]);
	if (argc > 2) {
		errno = 0;
		mib = strtoul(argv[2], &end, 10);
		if (errno || end == argv[2] || *end || mib < 1 || mib > MAX_MIB) {
			errno = EINVAL;
			setup_failed("MIB argument");
		}
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL))
		setup_failed("sigaction SIGTERM");

	buf_words = (size_t)mib << 17; /* MiB / 8 bytes */
	buf = mmap(NULL, buf_words * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		setup_failed("mmap");
	for (i = 0; i < buf_words; i++)
		buf[i] = pattern(i);

	ready_pid = getpid();
	snprintf(text, sizeof(text), "%d", (int)ready_pid);
	if (publish("ready", text))
		setup_failed("write ready");

	while (!got_term) {
		counter++;
		shadow = ~counter;
		nanosleep(&ts, NULL); /* EINTR (SIGTERM, a ptrace stop, a restore) is fine */
	}

	verify(shadow);
	if (nfailures) {
		static char msg[sizeof(failures) + 16];

		snprintf(msg, sizeof(msg), "FAIL: %s", failures);
		publish("verdict", msg);
		return 1;
	}
	publish("verdict", "PASS");
	return 0;
}
