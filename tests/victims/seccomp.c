/*
 * seccomp: crest dump/restore integration-test victim for seccomp filters and no_new_privs
 * (one process, one thread).
 *
 * Usage: seccomp OUTDIR          (OUTDIR: absolute path of a writable directory)
 *
 * The victim does not daemonize. At start it closes every inherited fd above 2, then sets up:
 *   - a SIGTERM handler (sets a flag; no SA_RESTART);
 *   - prctl(PR_SET_NO_NEW_PRIVS, 1);
 *   - two stacked seccomp filters, each installed with the raw syscall
 *     seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog); each first checks seccomp_data.arch ==
 *     AUDIT_ARCH_X86_64 (any other arch: SECCOMP_RET_ALLOW), then:
 *       filter 1: getppid -> SECCOMP_RET_ERRNO | 77, everything else SECCOMP_RET_ALLOW;
 *       filter 2: uname   -> SECCOMP_RET_ERRNO | 78, everything else SECCOMP_RET_ALLOW;
 *     no other syscall is affected (the victim and a restore of it need nothing more).
 * Main loop: counter++, nanosleep(10 ms) (EINTR ignored); after 10 iterations (all setup
 * done) it writes OUTDIR/ready containing the pid (no newline; via ready.tmp + rename).
 *
 * On SIGTERM the loop ends and it checks:
 *   - getpid() equals the pid written to ready;
 *   - /proc/self/status: "Seccomp:" is 2 (filter mode), "NoNewPrivs:" is 1, and
 *     "Seccomp_filters:" is 2 when the kernel has that line;
 *   - prctl(PR_GET_NO_NEW_PRIVS) returns 1;
 *   - syscall(SYS_getppid) returns -1 with errno 77 (filter 1 still installed);
 *   - uname() returns -1 with errno 78 (filter 2 still installed).
 * Verdict: OUTDIR/verdict (via verdict.tmp + rename) holds exactly "PASS" (exit 0) or
 * "FAIL: " followed by every failed check, separated by "; " (exit 1). A setup error
 * writes "FAIL: setup: ..." and exits 2 without writing ready.
 *
 * Self test: -DCREST_SELFTEST_BREAK (any value) skips installing filter 2 at setup, so
 * the Seccomp_filters and uname checks fail.
 *
 * Build: gcc -O1 -static -Wall -Wextra -pthread -o seccomp seccomp.c -lm
 */
#define _GNU_SOURCE
#define VICTIM_FAILURES_BYTES 2048
#include "victim.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/utsname.h>

#define READY_AT 10
#define GETPPID_ERRNO 77
#define UNAME_ERRNO 78
#define WANT_FILTERS 2

static volatile uint64_t counter;

/* install a filter: on x86_64, syscall nr -> SECCOMP_RET_ERRNO | err; everything else allowed */
static void install_filter(int nr, int err, const char *what)
{
	struct sock_filter insns[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {
		.len = sizeof(insns) / sizeof(insns[0]),
		.filter = insns,
	};

	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
		setup_failed(what);
}

static void setup(void)
{
	install_term_handler();
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		setup_failed("prctl PR_SET_NO_NEW_PRIVS");
	install_filter(SYS_getppid, GETPPID_ERRNO, "seccomp filter 1 (getppid)");
#ifndef CREST_SELFTEST_BREAK
	install_filter(SYS_uname, UNAME_ERRNO, "seccomp filter 2 (uname)");
#endif
}

/* the three /proc/self/status fields; -1 where a line is missing */
static void check_status(void)
{
	char line[256];
	long seccomp = -1, nnp = -1, filters = -1;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f) {
		fail("fopen /proc/self/status: %s", strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "Seccomp:", 8))
			seccomp = strtol(line + 8, NULL, 10);
		else if (!strncmp(line, "NoNewPrivs:", 11))
			nnp = strtol(line + 11, NULL, 10);
		else if (!strncmp(line, "Seccomp_filters:", 16))
			filters = strtol(line + 16, NULL, 10);
	}
	fclose(f);
	if (seccomp != SECCOMP_MODE_FILTER)
		fail("/proc/self/status Seccomp: %ld, want %d", seccomp, SECCOMP_MODE_FILTER);
	if (nnp != 1)
		fail("/proc/self/status NoNewPrivs: %ld, want 1", nnp);
	if (filters != -1 && filters != WANT_FILTERS)
		fail("/proc/self/status Seccomp_filters: %ld, want %d", filters, WANT_FILTERS);
}

static void verify(void)
{
	struct utsname uts;
	long ret;
	int r, err;

	check_pid();
	check_status();

	r = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
	if (r != 1)
		fail("prctl PR_GET_NO_NEW_PRIVS: %d (%s), want 1", r, r < 0 ? strerror(errno) : "ok");

	errno = 0;
	ret = syscall(SYS_getppid);
	err = errno;
	if (ret != -1 || err != GETPPID_ERRNO)
		fail("getppid: returned %ld, errno %d, want -1 with errno %d", ret, err, GETPPID_ERRNO);

	errno = 0;
	r = uname(&uts);
	err = errno;
	if (r != -1 || err != UNAME_ERRNO)
		fail("uname: returned %d, errno %d, want -1 with errno %d", r, err, UNAME_ERRNO);
}

int main(int argc, char **argv)
{
	victim_start(argc, argv);

	setup();

	run_until_term(&counter, READY_AT);

	verify();
	return finish_verdict();
}
