/*
 * clonefiles: crest integration-test victim for a child that shares its parent's descriptor
 * table (clone with CLONE_FILES, not a thread), which crest refuses to dump by name.
 *
 * Usage: clonefiles OUTDIR       (OUTDIR: absolute path of a writable directory)
 *
 * Setup: the parent P clones a child C with CLONE_FILES | SIGCHLD on a stack of its own; C
 * waits until P's flag says to end. Then OUTDIR/ready and a wait for SIGTERM.
 *
 * On SIGTERM P checks that C is still its child and running (a refused dump left the tree as
 * it was), ends C (kill and wait) and writes its verdict.
 * Verdict: OUTDIR/verdict holds "PASS" or "FAIL: " and the failed checks.
 *
 * Build: gcc -O1 -static -Wall -Wextra -o clonefiles clonefiles.c
 */
#define _GNU_SOURCE
#include "victim.h"

#include <sched.h>
#include <sys/wait.h>

static char stack[64 * 1024] __attribute__((aligned(16)));

static int child_main(void *arg)
{
	(void)arg;
	for (;;)
		nap();
	return 0;
}

int main(int argc, char **argv)
{
	pid_t c;
	int status;

	victim_start(argc, argv);
	install_term_handler();
	c = clone(child_main, stack + sizeof(stack), CLONE_FILES | SIGCHLD, NULL);
	if (c < 0)
		setup_failed("clone");
	write_ready();
	while (!got_term)
		nap();

	check_pid();
	if (waitpid(c, &status, WNOHANG) != 0)
		fail("the CLONE_FILES child %d is not running", (int)c);
	kill(c, SIGKILL);
	waitpid(c, &status, 0);
	return finish_verdict();
}
