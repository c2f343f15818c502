/*
 * signals: crest dump integration-test victim for signals that arrive while it is dumped.
 *
 * Usage: signals OUTDIR          (OUTDIR: absolute path of a writable directory)
 *
 * The victim does not daemonize. At start it closes every inherited fd above 2, then sets up:
 *   - a SIGTERM handler (sets a flag; no SA_RESTART);
 *   - a SIGALRM handler (SA_RESTART) that counts, and setitimer(ITIMER_REAL) with value and
 *     interval 1 ms, so that a signal is due during any dump;
 *   - a SIGRTMIN+1 handler (SA_RESTART) that counts (a real-time signal: each one sent is
 *     queued, none merges with another);
 *   - OUTDIR/ready containing the pid (no newline; via ready.tmp + rename), once 20 SIGALRMs
 *     have arrived.
 * Main loop: nanosleep(10 ms) (EINTR ignored) until SIGTERM.
 *
 * On SIGTERM it publishes OUTDIR/rt (via rt.tmp + rename): the number of SIGRTMIN+1
 * received, in decimal; and checks: getpid() equals the pid written to ready; SIGALRMs kept
 * arriving (more than 20).
 * Verdict: OUTDIR/verdict (via verdict.tmp + rename) holds exactly "PASS" (exit 0) or
 * "FAIL: " followed by every failed check, separated by "; " (exit 1).
 *
 * Self test: -DCREST_SELFTEST_BREAK makes it report one SIGRTMIN+1 fewer than it received.
 *
 * Build: gcc -O1 -static -Wall -Wextra -pthread -o signals signals.c -lm
 */
#define _GNU_SOURCE
#include "victim.h"

#include <sys/time.h>

static volatile sig_atomic_t alarms, rts;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static void on_rt(int sig)
{
	(void)sig;
	rts++;
}

static void handle(int sig, void (*fn)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL))
		setup_failed("sigaction");
}

int main(int argc, char **argv)
{
	struct itimerval it = { { 0, 1000 }, { 0, 1000 } };
	char text[32];
	int n;

	victim_start(argc, argv);
	install_term_handler();
	handle(SIGALRM, on_alarm);
	handle(SIGRTMIN + 1, on_rt);
	if (setitimer(ITIMER_REAL, &it, NULL))
		setup_failed("setitimer");
	while (alarms < 20)
		nap();
	write_ready();
	while (!got_term)
		nap();

	n = rts;
#ifdef CREST_SELFTEST_BREAK
	n--;
#endif
	snprintf(text, sizeof(text), "%d", n);
	if (publish("rt", text))
		fail("publishing rt");
	check_pid();
	if (alarms <= 20)
		fail("SIGALRM stopped at %d", (int)alarms);
	return finish_verdict();
}
