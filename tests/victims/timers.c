/*
 * timers: crest dump/restore integration-test victim for POSIX timers and the real itimer
 * (one process, one thread).
 *
 * Usage: timers OUTDIR           (OUTDIR: absolute path of a writable directory)
 *
 * The victim does not daemonize. At start it closes every inherited fd above 2, then sets up:
 *   - a SIGTERM handler (sets a flag; no SA_RESTART);
 *   - SIGRTMIN+2: SA_SIGINFO|SA_RESTART handler that counts deliveries and counts every
 *     delivery whose si_code is not SI_TIMER, si_value.sival_int not 0xa11ce or
 *     si_timerid not timer A's id as a mismatch; SIGRTMIN+3 ignored (SIG_IGN);
 *   - POSIX timer A: timer_create(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN+2, sival_int
 *     0xa11ce), armed periodic: first expiry 20 ms, interval 20 ms;
 *   - POSIX timer B: timer_create(CLOCK_REALTIME, SIGEV_NONE), armed once: value 1000 s,
 *     interval 0 (still pending at check time);
 *   - POSIX timer C: timer_create(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN+3), left
 *     disarmed;
 *   - the kernel ids of A, B and C are recorded (small integers; nothing printed);
 *   - SIGALRM: SA_RESTART handler that counts; setitimer(ITIMER_REAL) with value and
 *     interval 50 ms.
 * Main loop: counter++, nanosleep(10 ms) (EINTR ignored); after 10 iterations (all setup
 * done, both timers have fired a few times) it writes OUTDIR/ready containing the pid (no
 * newline; via ready.tmp + rename).
 *
 * On SIGTERM the loop ends and it checks:
 *   - getpid() equals the pid written to ready;
 *   - timer_gettime(A) succeeds (a wrong id gives EINVAL: this is how ids surviving a
 *     restore are checked), interval exactly 20 ms, value armed (0 < value <= 20 ms);
 *   - timer_gettime(B) succeeds, interval 0, 900 s <= value <= 1000 s;
 *   - timer_gettime(C) succeeds, value and interval both zero (disarmed);
 *   - getitimer(ITIMER_REAL) reports interval exactly 50 ms;
 *   - over a 200 ms sleep (clock_nanosleep to an absolute CLOCK_MONOTONIC deadline, EINTR
 *     tolerated), A's delivery count grows by at least 5 and the SIGALRM count by at
 *     least 2 (both timers still fire after a restore); no siginfo mismatch ever;
 *   - a fourth timer_create (CLOCK_MONOTONIC, SIGEV_NONE) succeeds and gets an id that is
 *     none of A's, B's, C's (then it is deleted).
 * Verdict: OUTDIR/verdict (via verdict.tmp + rename) holds exactly "PASS" (exit 0) or
 * "FAIL: " followed by every failed check, separated by "; " (exit 1). A setup error
 * writes "FAIL: setup: ..." and exits 2 without writing ready.
 *
 * Self test: -DCREST_SELFTEST_BREAK=N breaks one thing right before the checks (bare
 * -DCREST_SELFTEST_BREAK means N=1): 1 timer A deleted, 2 the itimer disarmed.
 *
 * Build: gcc -O1 -static -Wall -Wextra -pthread -o timers timers.c -lm
 */
#define _GNU_SOURCE
#define VICTIM_FAILURES_BYTES 2048
#include "victim.h"

#include <stdint.h>
#include <sys/time.h>
#include <time.h>

#define READY_AT 10
#define A_VALUE 0xa11ce
#define A_INTERVAL_NS (20 * 1000 * 1000L)
#define B_SECONDS 1000
#define B_MIN_SECONDS 900
#define ITIMER_US 50000
#define WATCH_NS (200 * 1000 * 1000L)
#define MIN_A_GROWTH 5
#define MIN_ALRM_GROWTH 2

static volatile uint64_t counter;
static volatile sig_atomic_t a_count, a_mismatches, alrm_count;
static volatile int bad_code, bad_value, bad_tid; /* the last mismatching siginfo */
static timer_t tim_a, tim_b, tim_c;
static volatile int id_a = -1, id_b = -1, id_c = -1;

/* glibc hands out the kernel id itself as timer_t for SIGEV_SIGNAL/SIGEV_NONE timers */
static int kernel_id(timer_t t)
{
	return (int)(intptr_t)t;
}

static void on_timer_a(int sig, siginfo_t *info, void *uc)
{
	(void)sig;
	(void)uc;
	a_count++;
	if (info->si_code != SI_TIMER || info->si_value.sival_int != A_VALUE || info->si_timerid != id_a) {
		a_mismatches++;
		bad_code = info->si_code;
		bad_value = info->si_value.sival_int;
		bad_tid = info->si_timerid;
	}
}

static void on_alrm(int sig)
{
	(void)sig;
	alrm_count++;
}

static void handle(int sig, void (*handler)(int), void (*action)(int, siginfo_t *, void *), int flags,
		   const char *what)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	if (action)
		sa.sa_sigaction = action;
	else
		sa.sa_handler = handler;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL))
		setup_failed(what);
}

static void setup(void)
{
	struct itimerspec its;
	struct itimerval itv;
	struct sigevent sev;

	install_term_handler();
	handle(SIGRTMIN + 2, NULL, on_timer_a, SA_SIGINFO | SA_RESTART, "sigaction SIGRTMIN+2");
	handle(SIGRTMIN + 3, SIG_IGN, NULL, 0, "sigaction SIGRTMIN+3");
	handle(SIGALRM, on_alrm, NULL, SA_RESTART, "sigaction SIGALRM");

	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGRTMIN + 2;
	sev.sigev_value.sival_int = A_VALUE;
	if (timer_create(CLOCK_MONOTONIC, &sev, &tim_a))
		setup_failed("timer_create A");
	id_a = kernel_id(tim_a);

	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_NONE;
	if (timer_create(CLOCK_REALTIME, &sev, &tim_b))
		setup_failed("timer_create B");
	id_b = kernel_id(tim_b);

	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGRTMIN + 3;
	if (timer_create(CLOCK_MONOTONIC, &sev, &tim_c))
		setup_failed("timer_create C");
	id_c = kernel_id(tim_c);

	memset(&its, 0, sizeof(its));
	its.it_value.tv_nsec = A_INTERVAL_NS;
	its.it_interval.tv_nsec = A_INTERVAL_NS;
	if (timer_settime(tim_a, 0, &its, NULL))
		setup_failed("timer_settime A");

	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = B_SECONDS;
	if (timer_settime(tim_b, 0, &its, NULL))
		setup_failed("timer_settime B");

	memset(&itv, 0, sizeof(itv));
	itv.it_value.tv_usec = ITIMER_US;
	itv.it_interval.tv_usec = ITIMER_US;
	if (setitimer(ITIMER_REAL, &itv, NULL))
		setup_failed("setitimer ITIMER_REAL");
}

static long long ts_ns(const struct timespec *ts)
{
	return (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

/* timer_gettime(t) into *its; fails (and returns -1) with the errno otherwise */
static int get_timer(const char *name, timer_t t, int id, struct itimerspec *its)
{
	if (timer_gettime(t, its) == 0)
		return 0;
	fail("timer_gettime %s (id %d): %s", name, id, strerror(errno));
	return -1;
}

/* sleep until WATCH_NS from now on CLOCK_MONOTONIC, whatever signals arrive meanwhile */
static void watch_sleep(void)
{
	struct timespec deadline;
	int err;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_nsec += WATCH_NS;
	deadline.tv_sec += deadline.tv_nsec / 1000000000L;
	deadline.tv_nsec %= 1000000000L;
	do
		err = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL);
	while (err == EINTR);
	if (err)
		fail("clock_nanosleep: %s", strerror(err));
}

static void verify(void)
{
	struct itimerspec its;
	struct itimerval itv;
	struct sigevent sev;
	timer_t tim_d;
	int a0, alrm0, a1, alrm1;

#ifdef CREST_SELFTEST_BREAK
	if (CREST_SELFTEST_BREAK == 1)
		timer_delete(tim_a);
	if (CREST_SELFTEST_BREAK == 2) {
		memset(&itv, 0, sizeof(itv));
		setitimer(ITIMER_REAL, &itv, NULL);
	}
#endif
	check_pid();

	if (get_timer("A", tim_a, id_a, &its) == 0) {
		if (ts_ns(&its.it_interval) != A_INTERVAL_NS)
			fail("timer A interval %lld ns, want %ld", ts_ns(&its.it_interval), A_INTERVAL_NS);
		if (ts_ns(&its.it_value) <= 0 || ts_ns(&its.it_value) > A_INTERVAL_NS)
			fail("timer A value %lld ns, want armed, at most %ld", ts_ns(&its.it_value), A_INTERVAL_NS);
	}
	if (get_timer("B", tim_b, id_b, &its) == 0) {
		if (ts_ns(&its.it_interval) != 0)
			fail("timer B interval %lld ns, want 0", ts_ns(&its.it_interval));
		if (ts_ns(&its.it_value) < B_MIN_SECONDS * 1000000000LL || ts_ns(&its.it_value) > B_SECONDS * 1000000000LL)
			fail("timer B value %lld ns, want %d..%d s", ts_ns(&its.it_value), B_MIN_SECONDS, B_SECONDS);
	}
	if (get_timer("C", tim_c, id_c, &its) == 0 && (ts_ns(&its.it_value) || ts_ns(&its.it_interval)))
		fail("timer C value %lld ns, interval %lld ns, want disarmed", ts_ns(&its.it_value),
		     ts_ns(&its.it_interval));

	if (getitimer(ITIMER_REAL, &itv))
		fail("getitimer ITIMER_REAL: %s", strerror(errno));
	else if (itv.it_interval.tv_sec != 0 || itv.it_interval.tv_usec != ITIMER_US)
		fail("ITIMER_REAL interval %lld.%06ld s, want 0.%06d", (long long)itv.it_interval.tv_sec,
		     (long)itv.it_interval.tv_usec, ITIMER_US);

	a0 = a_count;
	alrm0 = alrm_count;
	watch_sleep();
	a1 = a_count;
	alrm1 = alrm_count;
	if (a1 - a0 < MIN_A_GROWTH)
		fail("timer A delivered %d signals in %ld ms, want >= %d", a1 - a0, WATCH_NS / 1000000, MIN_A_GROWTH);
	if (alrm1 - alrm0 < MIN_ALRM_GROWTH)
		fail("SIGALRM delivered %d times in %ld ms, want >= %d", alrm1 - alrm0, WATCH_NS / 1000000,
		     MIN_ALRM_GROWTH);
	if (a_mismatches)
		fail("%d of %d timer A signals had the wrong siginfo (last: si_code %d, sival_int %#x, "
		     "si_timerid %d; want %d, %#x, %d)",
		     (int)a_mismatches, (int)a_count, bad_code, bad_value, bad_tid, SI_TIMER, A_VALUE, id_a);

	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_NONE;
	if (timer_create(CLOCK_MONOTONIC, &sev, &tim_d)) {
		fail("timer_create of a fourth timer: %s", strerror(errno));
	} else {
		int id_d = kernel_id(tim_d);

		if (id_d == id_a || id_d == id_b || id_d == id_c)
			fail("fourth timer got id %d, already one of A/B/C (%d, %d, %d)", id_d, id_a, id_b, id_c);
		timer_delete(tim_d);
	}
}

int main(int argc, char **argv)
{
	victim_start(argc, argv);

	setup();

	run_until_term(&counter, READY_AT);

	verify();
	return finish_verdict();
}
