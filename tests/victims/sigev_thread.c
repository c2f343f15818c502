/*
 * sigev_thread: crest integration-test victim for glibc's SIGEV_THREAD timers. glibc runs
 * them with a helper thread that waits for signal 32 (its SIGTIMER, blocked in every thread
 * but never blockable through sigprocmask) and starts a thread per expiry. With a 1 ms
 * interval, a dump that holds the task for a few milliseconds finds an expiry queued on
 * the helper thread, which the restore queues again: it must not be taken, with its
 * default action (death), before the dumped masks are back.
 *
 * Usage: sigev_thread OUTDIR     (OUTDIR: absolute path of a writable directory)
 *
 * Setup: signal 32's action the default; a CLOCK_MONOTONIC SIGEV_THREAD timer, 1 ms interval, whose function counts its
 * calls and those made on the main thread. Once it ran 20 times, OUTDIR/ready.
 *
 * On SIGTERM the main thread checks: the timer still exists with its 1 ms interval; over
 * 200 ms it runs at least 20 more times; it never ran on the main thread.
 * Verdict: OUTDIR/verdict holds "PASS" or "FAIL: " and the failed checks.
 *
 * Build: gcc -O1 -static -Wall -Wextra -pthread -o sigev_thread sigev_thread.c
 */
#define _GNU_SOURCE
#include "victim.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>

static atomic_int calls, on_main;
static pid_t main_tid;

static void on_expiry(union sigval v)
{
	(void)v;
	if (gettid() == main_tid)
		atomic_fetch_add(&on_main, 1);
	atomic_fetch_add(&calls, 1);
}

int main(int argc, char **argv)
{
	struct sigevent sev = { 0 };
	struct itimerspec its = { { 0, 1000000 }, { 0, 1000000 } }, now;
	timer_t id;
	int before;

	victim_start(argc, argv);
	install_term_handler();
	/* Signal 32 as a program started from a shell has it: default action (a harness may
	 * pass it on ignored). By system call: glibc's sigaction refuses its own signals. */
	unsigned long dfl[4] = { 0 };
	if (syscall(SYS_rt_sigaction, 32, dfl, NULL, 8))
		setup_failed("rt_sigaction(32)");
	main_tid = gettid();
	sev.sigev_notify = SIGEV_THREAD;
	sev.sigev_notify_function = on_expiry;
	if (timer_create(CLOCK_MONOTONIC, &sev, &id) || timer_settime(id, 0, &its, NULL))
		setup_failed("timer");
	while (atomic_load(&calls) < 20)
		nap();
	write_ready();
	while (!got_term)
		nap();

	check_pid();
	if (timer_gettime(id, &now) || now.it_interval.tv_nsec != 1000000)
		fail("the timer is gone or changed: %s", strerror(errno));
	before = atomic_load(&calls);
	for (int i = 0; i < 20; i++)
		nap();
	if (atomic_load(&calls) - before < 20)
		fail("the timer ran %d times in 200 ms, want at least 20", atomic_load(&calls) - before);
	if (atomic_load(&on_main))
		fail("the timer ran %d times on the main thread", atomic_load(&on_main));
	return finish_verdict();
}
