/*
 * thread_timer: crest integration-test victim for a POSIX timer that signals one given
 * thread (SIGEV_THREAD_ID), which the restore can only create once that thread exists.
 *
 * Usage: thread_timer OUTDIR     (OUTDIR: absolute path of a writable directory)
 *
 * Setup: a SIGRTMIN+4 handler counting deliveries, and those that arrive on another thread
 * than T; a second thread T (it sleeps in a loop); a timer (CLOCK_MONOTONIC, SIGEV_THREAD_ID
 * to T, SIGRTMIN+4) armed every 10 ms. The main thread blocks SIGRTMIN+4. Once T has seen
 * 5 deliveries, OUTDIR/ready.
 *
 * On SIGTERM the main thread checks: the timer still exists with its 10 ms interval; over
 * 200 ms T's count grows by at least 5; no delivery ever came to another thread.
 * Verdict: OUTDIR/verdict holds "PASS" or "FAIL: " and the failed checks.
 *
 * Build: gcc -O1 -static -Wall -Wextra -pthread -o thread_timer thread_timer.c
 */
#define _GNU_SOURCE
#include "victim.h"

#include <pthread.h>

static volatile sig_atomic_t hits, wrong;
static volatile pid_t t_tid;

static void on_tick(int sig)
{
	(void)sig;
	if (gettid() == t_tid)
		hits++;
	else
		wrong++;
}

static void *thread_main(void *arg)
{
	(void)arg;
	t_tid = gettid();
	for (;;)
		nap();
	return NULL;
}

int main(int argc, char **argv)
{
	struct sigevent sev = { 0 };
	struct itimerspec its = { { 0, 10000000 }, { 0, 10000000 } }, now;
	struct sigaction sa = { 0 };
	pthread_t t;
	sigset_t block;
	timer_t id;
	int before;

	victim_start(argc, argv);
	install_term_handler();
	sa.sa_handler = on_tick;
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGRTMIN + 4, &sa, NULL))
		setup_failed("sigaction");
	if (pthread_create(&t, NULL, thread_main, NULL))
		setup_failed("pthread_create");
	sigemptyset(&block);
	sigaddset(&block, SIGRTMIN + 4);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
	while (!t_tid)
		nap();
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SIGRTMIN + 4;
	sev._sigev_un._tid = t_tid;
	if (timer_create(CLOCK_MONOTONIC, &sev, &id) || timer_settime(id, 0, &its, NULL))
		setup_failed("timer");
	while (hits < 5)
		nap();
	write_ready();
	while (!got_term)
		nap();

	check_pid();
	if (timer_gettime(id, &now) || now.it_interval.tv_nsec != 10000000)
		fail("the timer is gone or changed: %s", strerror(errno));
	before = hits;
	for (int i = 0; i < 20; i++)
		nap();
	if (hits - before < 5)
		fail("T got %d ticks in 200 ms, want at least 5", hits - before);
	if (wrong)
		fail("%d ticks came to another thread than T", (int)wrong);
	return finish_verdict();
}
