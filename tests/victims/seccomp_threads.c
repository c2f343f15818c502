/*
 * seccomp_threads: crest integration-test victim for threads of one process under seccomp
 * filters of their own (CRIU's seccomp_filter_threads).
 *
 * Usage: seccomp_threads OUTDIR       (OUTDIR: absolute path of a writable directory; run as
 * root: the filters are installed without no_new_privs)
 *
 * Setup: thread B is started with no filter. Then the main thread M installs filter P
 * (getpgrp fails with errno 11), and starts thread C, which inherits P and adds filter Q
 * (getsid fails with errno 22). Then OUTDIR/ready and a wait for SIGTERM.
 *
 * On SIGTERM every thread checks its own filters: M has P only, C has P and Q, B none (each
 * call that no filter stops succeeds), and /proc/self/task/TID/status shows Seccomp 2 for M
 * and C, 0 for B.
 * Verdict: OUTDIR/verdict holds "PASS" or "FAIL: " and the failed checks.
 *
 * Build: gcc -O1 -static -Wall -Wextra -pthread -o seccomp_threads seccomp_threads.c
 */
#define _GNU_SOURCE
#include "victim.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/prctl.h>

static volatile int go, ready_b, ready_c;
static char result_b[128], result_c[128];

static int deny(int nr, int err)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | err),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = 4, .filter = f};

	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

static int mode_of(pid_t tid)
{
	char path[64], line[128];
	int mode = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Seccomp: %d", &mode) == 1)
			break;
	fclose(f);
	return mode;
}

/* Empty when getpgrp and getsid fail (or not) as `pgrp_err` and `sid_err` (0: succeed) say. */
static void check(char *out, size_t len, const char *who, int pgrp_err, int sid_err, int mode)
{
	long r;

	out[0] = 0;
	errno = 0;
	r = syscall(SYS_getpgrp);
	if (pgrp_err ? (r != -1 || errno != pgrp_err) : r < 0) {
		snprintf(out, len, "%s: getpgrp gave %ld (errno %d)", who, r, errno);
		return;
	}
	errno = 0;
	r = syscall(SYS_getsid, 0);
	if (sid_err ? (r != -1 || errno != sid_err) : r < 0) {
		snprintf(out, len, "%s: getsid gave %ld (errno %d)", who, r, errno);
		return;
	}
	if (mode_of(gettid()) != mode)
		snprintf(out, len, "%s: seccomp mode %d, not %d", who, mode_of(gettid()), mode);
}

static void *thread_b(void *arg)
{
	(void)arg;
	ready_b = 1;
	while (!__atomic_load_n(&go, __ATOMIC_SEQ_CST))
		nap();
	check(result_b, sizeof(result_b), "thread B", 0, 0, 0);
	return NULL;
}

static void *thread_c(void *arg)
{
	(void)arg;
	if (deny(SYS_getsid, 22) < 0)
		snprintf(result_c, sizeof(result_c), "thread C: seccomp: %s", strerror(errno));
	ready_c = 1;
	while (!__atomic_load_n(&go, __ATOMIC_SEQ_CST))
		nap();
	if (!result_c[0])
		check(result_c, sizeof(result_c), "thread C", 11, 22, 2);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t b, c;
	char mine[128];

	victim_start(argc, argv);
	install_term_handler();
	if (pthread_create(&b, NULL, thread_b, NULL))
		setup_failed("pthread_create");
	while (!ready_b)
		nap();
	if (deny(SYS_getpgrp, 11) < 0)
		setup_failed("seccomp");
	if (pthread_create(&c, NULL, thread_c, NULL))
		setup_failed("pthread_create");
	while (!ready_c)
		nap();
	write_ready();
	while (!got_term)
		nap();

	check_pid();
	__atomic_store_n(&go, 1, __ATOMIC_SEQ_CST);
	check(mine, sizeof(mine), "main thread", 11, 0, 2);
	pthread_join(b, NULL);
	pthread_join(c, NULL);
	if (mine[0])
		fail("%s", mine);
	if (result_b[0])
		fail("%s", result_b);
	if (result_c[0])
		fail("%s", result_c);
	return finish_verdict();
}
