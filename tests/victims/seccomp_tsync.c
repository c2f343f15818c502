/*
 * seccomp_tsync: crest integration-test victim for a seccomp filter shared by every thread
 * (SECCOMP_FILTER_FLAG_TSYNC) of a process that then dropped its privileges.
 *
 * Usage: seccomp_tsync OUTDIR            (OUTDIR: absolute path of a writable directory)
 *
 * Setup, as root and without no_new_privs: two threads W1 and W2 started; a filter
 * (getppid -> errno 77) installed with SECCOMP_FILTER_FLAG_TSYNC, so the three threads share
 * it; then every thread's uids and gids set to 1000 (all capabilities gone). Then OUTDIR/ready
 * and a wait for SIGTERM.
 *
 * On SIGTERM it checks: the uid is 1000 and no_new_privs still off; getppid fails with errno 77
 * in every thread (W1 and W2 check on request); then, with no_new_privs now set, a second
 * filter (uname -> errno 78) installed with TSYNC succeeds (it needs the three threads to
 * share the first one) and reaches W1 and W2.
 * Verdict: OUTDIR/verdict holds "PASS" or "FAIL: " and the failed checks.
 *
 * Build: gcc -O1 -static -Wall -Wextra -pthread -o seccomp_tsync seccomp_tsync.c
 */
#define _GNU_SOURCE
#include "victim.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>

static volatile int ask, answered[2], getppid_err[2], uname_err[2];

static int install(int nr, int err)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | err),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
}

/* the errno a raw syscall fails with (0 if it succeeds) */
static int err_of(long nr)
{
	struct utsname u;

	errno = 0;
	if (nr == SYS_uname)
		return syscall(nr, &u) < 0 ? errno : 0;
	return syscall(nr) < 0 ? errno : 0;
}

static void *worker(void *arg)
{
	int me = (int)(intptr_t)arg, seen = 0;

	for (;;) {
		if (ask != seen) {
			seen = ask;
			getppid_err[me] = err_of(SYS_getppid);
			uname_err[me] = err_of(SYS_uname);
			answered[me] = seen;
		}
		nap();
	}
	return NULL;
}

/* asks both workers for a round of checks; 0 once both answered */
static int ask_workers(void)
{
	int i;

	ask++;
	for (i = 0; i < 200; i++) {
		if (answered[0] == ask && answered[1] == ask)
			return 0;
		nap();
	}
	return -1;
}

int main(int argc, char **argv)
{
	pthread_t t[2];
	int i, r;

	victim_start(argc, argv);
	install_term_handler();
	if (chmod(outdir, 0777))
		setup_failed("chmod");
	for (i = 0; i < 2; i++)
		if (pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i))
			setup_failed("pthread_create");
	if (install(SYS_getppid, 77))
		setup_failed("seccomp TSYNC");
	/* glibc changes every thread's ids */
	if (setresgid(1000, 1000, 1000) || setresuid(1000, 1000, 1000))
		setup_failed("setresuid");
	write_ready();
	while (!got_term)
		nap();
	check_pid();

	if (getuid() != 1000 || prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 0)
		fail("uid %d, no_new_privs %d", getuid(), prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
	if (err_of(SYS_getppid) != 77)
		fail("main: getppid errno %d, not 77", err_of(SYS_getppid));
	if (ask_workers())
		fail("the threads do not answer");
	for (i = 0; i < 2; i++)
		if (getppid_err[i] != 77 || uname_err[i] != 0)
			fail("W%d: getppid errno %d, uname errno %d", i + 1, getppid_err[i], uname_err[i]);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		fail("no_new_privs: %s", strerror(errno));
	r = install(SYS_uname, 78);
	if (r)
		fail("a second TSYNC filter: %d (%s): the threads do not share the first", r,
		     r > 0 ? "thread out of sync" : strerror(errno));
	else if (ask_workers())
		fail("the threads do not answer after the second filter");
	else
		for (i = 0; i < 2; i++)
			if (uname_err[i] != 78)
				fail("W%d: uname errno %d, not 78", i + 1, uname_err[i]);
	return finish_verdict();
}
