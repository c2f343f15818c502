/*
 * threadcreds: crest integration-test victim for threads of one process with credentials
 * of their own (CRIU's different_creds).
 *
 * Usage: threadcreds OUTDIR      (OUTDIR: absolute path of a writable directory; as root)
 *
 * Setup: a second thread T sets its own uids and gids to 1000 (the raw setresuid and
 * setresgid system calls change only the calling thread; glibc's would change all); the
 * main thread stays root. Then OUTDIR/ready and a wait for SIGTERM.
 *
 * On SIGTERM the main thread checks that its uids and gids are still 0, and T, told through
 * a flag, that its own are still 1000, and reports into a flag the main thread waits for.
 * Verdict: OUTDIR/verdict holds "PASS" or "FAIL: " and the failed checks.
 *
 * Build: gcc -O1 -static -Wall -Wextra -pthread -o threadcreds threadcreds.c
 */
#define _GNU_SOURCE
#include "victim.h"

#include <pthread.h>

static volatile int t_ready, t_check, t_result = -1;

/* 1 when the calling thread's real, effective and saved uids and gids are all `id` */
static int creds_are(unsigned int id)
{
	unsigned int r = 1, e = 1, s = 1, gr = 1, ge = 1, gs = 1;

	syscall(SYS_getresuid, &r, &e, &s);
	syscall(SYS_getresgid, &gr, &ge, &gs);
	return r == id && e == id && s == id && gr == id && ge == id && gs == id;
}

static void *thread_main(void *arg)
{
	(void)arg;
	if (syscall(SYS_setresgid, 1000, 1000, 1000) || syscall(SYS_setresuid, 1000, 1000, 1000))
		t_ready = -1;
	else
		t_ready = 1;
	while (!t_check)
		nap();
	t_result = creds_are(1000);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t;

	victim_start(argc, argv);
	install_term_handler();
	if (pthread_create(&t, NULL, thread_main, NULL))
		setup_failed("pthread_create");
	while (!t_ready)
		nap();
	if (t_ready < 0)
		setup_failed("the thread's setresuid");
	write_ready();
	while (!got_term)
		nap();

	check_pid();
	if (!creds_are(0))
		fail("the main thread is not root any more");
	t_check = 1;
	for (int i = 0; i < 200 && t_result < 0; i++)
		nap();
	if (t_result != 1)
		fail("the thread's credentials are not its own 1000 any more (%d)", t_result);
	return finish_verdict();
}
