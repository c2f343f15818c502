/*
 * anonfds: crest dump/restore integration-test victim for anonymous-inode fds (eventfd,
 * signalfd, timerfd) held by a small process tree: a parent P and one child C, both dumped
 * and restored (same pids).
 *
 * Usage: anonfds OUTDIR          (OUTDIR: absolute path of a writable directory)
 *
 * The victim does not daemonize. At start P closes every inherited fd above 2, then sets up:
 *   - a SIGTERM handler (sets a flag; no SA_RESTART) and a SIGUSR1 handler (sets a flag;
 *     no SA_RESTART), both before the fork, so C inherits them (C ignores its SIGTERM flag);
 *   - SIGUSR2 blocked with sigprocmask (C inherits the mask);
 *   - fd 20: eventfd(7, EFD_NONBLOCK);
 *   - fd 21: signalfd(-1, {SIGUSR2}, SFD_NONBLOCK);
 *   - fd 22: timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK), armed periodic: first expiry
 *     20 ms, interval 20 ms;
 *   - fd 23: timerfd_create(CLOCK_REALTIME, 0), armed once: 1000 s, interval 0 (still
 *     pending at check time);
 *   (each created at a free fd, moved with dup2 and the original closed, FD_CLOEXEC clear);
 *   - raise(SIGUSR2) once, so one SIGUSR2 is pending in P and readable from fd 21;
 *   then fork() of the child C, which closes fds 21, 22 and 23 and keeps the eventfd (fd 20,
 *   the same open file as P's).
 * Main loops (both): nanosleep(10 ms), EINTR ignored. P writes OUTDIR/ready containing its
 * pid (no newline; via ready.tmp + rename) after 10 iterations and loops until SIGTERM; C
 * loops until SIGUSR1, or exits 2 (writing nothing) as soon as getppid() is no longer P's
 * pid. Neither reads fd 20, 21 or 22 before the checks: at dump time the eventfd counter is
 * 7, SIGUSR2 is pending and the periodic timerfd has unread expirations.
 *
 * On SIGTERM P's loop ends and P checks:
 *   - getpid() equals the pid written to ready; the only fds above 2 are 20, 21, 22 and 23;
 *     /proc/self/fd/N links to anon_inode:[eventfd], [signalfd], [timerfd], [timerfd];
 *   - SIGUSR2 is still blocked;
 *   - fd 21 has O_NONBLOCK; one struct signalfd_siginfo is read from it with ssi_signo
 *     SIGUSR2, and a second read fails with EAGAIN;
 *   - fd 22: a read gives an expiration count >= 1; timerfd_gettime reports an interval of
 *     exactly 20 ms; after a 100 ms sleep (clock_nanosleep to an absolute CLOCK_MONOTONIC
 *     deadline, EINTR tolerated) a second read gives >= 3 more expirations;
 *   - fd 23: timerfd_gettime reports interval 0 and 900 s <= remaining <= 1000 s; O_NONBLOCK
 *     is clear;
 *   - fd 20 has O_NONBLOCK;
 * then P writes 1 to fd 20 (counter 7 -> 8) and sends SIGUSR1 to C, which checks:
 *   - getpid() is still C's pid, getppid() is P's pid; the only fd above 2 is 20, which links
 *     to anon_inode:[eventfd] and has O_NONBLOCK;
 *   - a read of fd 20 (non-blocking; EAGAIN retried every 10 ms for at most 1 s) gives
 *     exactly 8: the eventfd is one object shared by P and C, with the dumped counter;
 * then C publishes OUTDIR/child (via child.tmp + rename): "P" when all its checks passed,
 * else "F" followed by its failed checks, and exits 0 or 1. P waits for C (waitpid WNOHANG
 * every 10 ms, at most 2 s; C is killed with SIGKILL and reaped on timeout) and checks: C
 * exited with status 0 and OUTDIR/child is exactly "P".
 * Verdict: OUTDIR/verdict (via verdict.tmp + rename), written by P, holds exactly "PASS"
 * (exit 0) or "FAIL: " followed by every failed check, separated by "; " (exit 1). A setup
 * error writes "FAIL: setup: ..." and exits 2 without writing ready.
 *
 * Self test: -DCREST_SELFTEST_BREAK=N breaks one thing right before the checks (bare
 * -DCREST_SELFTEST_BREAK means N=1): 1 P reads (drains) fd 20 before writing 1, so C reads
 * 1 instead of 8.
 *
 * Build: gcc -O1 -static -Wall -Wextra -pthread -o anonfds anonfds.c -lm
 */
#define _GNU_SOURCE
#define VICTIM_FAILURES_BYTES 2048
#define VICTIM_TREE
#include "victim.h"

#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>

#define FD_EVENT 20     /* in P and C */
#define FD_SIGNAL 21    /* in P */
#define FD_TIMER_MONO 22 /* in P */
#define FD_TIMER_REAL 23 /* in P */
#define EVENT_INITIAL 7
#define TIMER_MONO_NS (20 * 1000 * 1000L)
#define TIMER_REAL_SECONDS 1000
#define TIMER_REAL_MIN_SECONDS 900
#define TIMER_SLEEP_MS 100
#define TIMER_MIN_MORE 3
#define READY_AT 10
#define CHILD_READ_MS 1000

/* sleep ms milliseconds of CLOCK_MONOTONIC, however often interrupted */
static void sleep_ms(long ms)
{
	struct timespec deadline;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += ms / 1000;
	deadline.tv_nsec += (ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL) == EINTR)
		;
}

/* fails unless O_NONBLOCK is set on fd iff want_nonblock */
static void check_nonblock(int fd, int want_nonblock, const char *name)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		fail("F_GETFL %s (fd %d): %s", name, fd, strerror(errno));
	else if (!!(fl & O_NONBLOCK) != want_nonblock)
		fail("%s (fd %d) O_NONBLOCK %s, want %s", name, fd, fl & O_NONBLOCK ? "set" : "clear",
		     want_nonblock ? "set" : "clear");
}

/* fails unless /proc/self/fd/<fd> links to want (e.g. "anon_inode:[eventfd]") */
static void check_link(int fd, const char *want)
{
	char path[64], target[256];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0) {
		fail("readlink %s: %s", path, strerror(errno));
		return;
	}
	target[n] = 0;
	if (strcmp(target, want))
		fail("fd %d is \"%s\", want \"%s\"", fd, target, want);
}

/* one uint64 read (eventfd counter or timerfd expirations); -1 (errno set) on failure */
static int read_u64(int fd, uint64_t *v)
{
	ssize_t n;

	do
		n = read(fd, v, sizeof(*v));
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(*v))
		return 0;
	if (n >= 0)
		errno = EIO; /* short read: impossible for these fds */
	return -1;
}

/* ---- child ---- */

static void child_verify(void)
{
	static const int allowed[] = { FD_EVENT };
	uint64_t v = 0;
	int waited, got = 0;

	check_child_ids();
	check_open_fds(allowed, 1);
	check_link(FD_EVENT, "anon_inode:[eventfd]");
	check_nonblock(FD_EVENT, 1, "eventfd (child)");

	for (waited = 0; waited <= CHILD_READ_MS; waited += VICTIM_NAP_NS / 1000000) {
		if (read_u64(FD_EVENT, &v) == 0) {
			got = 1;
			break;
		}
		if (errno != EAGAIN) {
			fail("read eventfd (child): %s", strerror(errno));
			break;
		}
		nap();
	}
	if (got && v != EVENT_INITIAL + 1)
		fail("eventfd (child) read %llu, want %d", (unsigned long long)v, EVENT_INITIAL + 1);
	else if (!got && waited > CHILD_READ_MS)
		fail("eventfd (child): still EAGAIN after %d ms", CHILD_READ_MS);

	child_report_exit();
}

static void child_main(void)
{
	if (close(FD_SIGNAL) || close(FD_TIMER_MONO) || close(FD_TIMER_REAL))
		_exit(2);
	while (child_waiting())
		nap();
	child_verify();
}

/* ---- parent ---- */

static void check_signalfd(void)
{
	struct signalfd_siginfo si;
	ssize_t n;

	check_nonblock(FD_SIGNAL, 1, "signalfd");
	do
		n = read(FD_SIGNAL, &si, sizeof(si));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		fail("signalfd: first read: %s (the pending SIGUSR2 is lost)", strerror(errno));
	else if (n != (ssize_t)sizeof(si))
		fail("signalfd: first read gave %zd bytes, want %zu", n, sizeof(si));
	else if (si.ssi_signo != SIGUSR2)
		fail("signalfd: ssi_signo %u, want SIGUSR2 (%d)", si.ssi_signo, SIGUSR2);
	do
		n = read(FD_SIGNAL, &si, sizeof(si));
	while (n < 0 && errno == EINTR);
	if (n >= 0)
		fail("signalfd: second read gave %zd bytes (signo %u), want EAGAIN", n,
		     n == (ssize_t)sizeof(si) ? si.ssi_signo : 0);
	else if (errno != EAGAIN)
		fail("signalfd: second read: %s, want EAGAIN", strerror(errno));
}

static void check_timerfds(void)
{
	struct itimerspec its;
	uint64_t v;

	if (read_u64(FD_TIMER_MONO, &v))
		fail("timerfd mono: first read: %s", strerror(errno));
	else if (v < 1)
		fail("timerfd mono: first read gave %llu expirations, want >= 1", (unsigned long long)v);
	if (timerfd_gettime(FD_TIMER_MONO, &its))
		fail("timerfd_gettime mono: %s", strerror(errno));
	else if (its.it_interval.tv_sec != 0 || its.it_interval.tv_nsec != TIMER_MONO_NS)
		fail("timerfd mono: interval %lld.%09ld s, want 0.%09ld s", (long long)its.it_interval.tv_sec,
		     its.it_interval.tv_nsec, TIMER_MONO_NS);
	sleep_ms(TIMER_SLEEP_MS);
	if (read_u64(FD_TIMER_MONO, &v))
		fail("timerfd mono: read after %d ms: %s", TIMER_SLEEP_MS, strerror(errno));
	else if (v < TIMER_MIN_MORE)
		fail("timerfd mono: %llu expirations in %d ms, want >= %d", (unsigned long long)v,
		     TIMER_SLEEP_MS, TIMER_MIN_MORE);

	if (timerfd_gettime(FD_TIMER_REAL, &its))
		fail("timerfd_gettime real: %s", strerror(errno));
	else {
		if (its.it_interval.tv_sec || its.it_interval.tv_nsec)
			fail("timerfd real: interval %lld.%09ld s, want 0", (long long)its.it_interval.tv_sec,
			     its.it_interval.tv_nsec);
		if (its.it_value.tv_sec < TIMER_REAL_MIN_SECONDS ||
		    its.it_value.tv_sec > TIMER_REAL_SECONDS ||
		    (its.it_value.tv_sec == TIMER_REAL_SECONDS && its.it_value.tv_nsec))
			fail("timerfd real: %lld.%09ld s remaining, want %d..%d s",
			     (long long)its.it_value.tv_sec, its.it_value.tv_nsec, TIMER_REAL_MIN_SECONDS,
			     TIMER_REAL_SECONDS);
	}
	check_nonblock(FD_TIMER_REAL, 0, "timerfd real");
}

static void parent_verify(void)
{
	static const int allowed[] = { FD_EVENT, FD_SIGNAL, FD_TIMER_MONO, FD_TIMER_REAL };
	sigset_t mask;
	int seen;

	check_pid();
	seen = check_open_fds(allowed, 4);
	if (seen >= 0 && seen != 0xf)
		fail("expected fds 20..23 open, seen mask %#x", seen);
	check_link(FD_EVENT, "anon_inode:[eventfd]");
	check_link(FD_SIGNAL, "anon_inode:[signalfd]");
	check_link(FD_TIMER_MONO, "anon_inode:[timerfd]");
	check_link(FD_TIMER_REAL, "anon_inode:[timerfd]");
	if (sigprocmask(SIG_BLOCK, NULL, &mask))
		fail("sigprocmask: %s", strerror(errno));
	else if (!sigismember(&mask, SIGUSR2))
		fail("SIGUSR2 no longer blocked");

	check_signalfd();
	check_timerfds();
	check_nonblock(FD_EVENT, 1, "eventfd");
}

/* eventfd += 1, SIGUSR1 to C, wait for it (at most VICTIM_WAIT_CHILD_MS), then check its
 * report */
static void parent_collect(void)
{
	uint64_t one = 1;
	ssize_t n = 0;

#ifdef CREST_SELFTEST_BREAK
	if (CREST_SELFTEST_BREAK == 1) {
		uint64_t drained;

		read_u64(FD_EVENT, &drained);
	}
#endif
	do
		n = write(FD_EVENT, &one, sizeof(one));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(one))
		fail("write 1 to eventfd: %s", n < 0 ? strerror(errno) : "short write");
	collect_child();
}

static void move_fd(int from, int to, const char *what)
{
	if (from < 0 || dup2(from, to) != to)
		setup_failed(what);
	close(from);
}

int main(int argc, char **argv)
{
	struct itimerspec mono = { { 0, TIMER_MONO_NS }, { 0, TIMER_MONO_NS } };
	struct itimerspec real = { { 0, 0 }, { TIMER_REAL_SECONDS, 0 } };
	sigset_t usr2;
	int i;

	victim_start(argc, argv);
	install_term_handler();
	install_usr1_handler();
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	if (sigprocmask(SIG_BLOCK, &usr2, NULL))
		setup_failed("sigprocmask block SIGUSR2");

	move_fd(eventfd(EVENT_INITIAL, EFD_NONBLOCK), FD_EVENT, "eventfd");
	move_fd(signalfd(-1, &usr2, SFD_NONBLOCK), FD_SIGNAL, "signalfd");
	move_fd(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK), FD_TIMER_MONO, "timerfd mono");
	move_fd(timerfd_create(CLOCK_REALTIME, 0), FD_TIMER_REAL, "timerfd real");
	if (timerfd_settime(FD_TIMER_MONO, 0, &mono, NULL))
		setup_failed("timerfd_settime mono");
	if (timerfd_settime(FD_TIMER_REAL, 0, &real, NULL))
		setup_failed("timerfd_settime real");
	if (raise(SIGUSR2))
		setup_failed("raise SIGUSR2");

	if (fork_child())
		child_main();

	for (i = 0; !got_term; i++) {
		if (i == READY_AT)
			write_ready();
		nap();
	}
	if (i <= READY_AT) { /* SIGTERM before ready: still reap C, but no valid run */
		errno = EINTR;
		parent_setup_failed("SIGTERM before ready");
	}

	parent_verify();
	parent_collect();
	return finish_verdict();
}
