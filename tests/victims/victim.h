/*
 * victim.h: plumbing shared by the crest integration-test victims (the .c files
 * next to it). Each victim is one translation unit that includes this header once, right
 * after "#define _GNU_SOURCE"; everything here is static.
 *
 * It provides:
 *   - outdir (OUTDIR from argv[1]), ready_pid (the pid written to ready), got_term (set by
 *     the SIGTERM handler);
 *   - failure accumulation: fail(fmt, ...) appends one failed check to failures[]
 *     (VICTIM_FAILURES_BYTES bytes, 4096 unless the victim defines it before the include),
 *     separated by "; ", and counts it in nfailures;
 *   - write_all(), publish(name, text) (OUTDIR/name written atomically through
 *     OUTDIR/name.tmp + rename) and setup_failed(what) (writes "FAIL: setup: what: strerror"
 *     as the verdict and exits 2);
 *   - victim_start(argc, argv): closes every inherited fd above 2 and takes OUTDIR from
 *     argv[1] (absolute path, else exit 2 with nothing written);
 *   - install_term_handler(): SIGTERM sets got_term (no SA_RESTART);
 *   - write_ready(): records getpid() in ready_pid and publishes it as OUTDIR/ready (no
 *     newline);
 *   - check_pid(): fails if getpid() differs from the pid written to ready;
 *   - check_open_fds(allowed, n): fails if any fd above 2 other than allowed[0..n-1] is
 *     open, and returns a bit mask of which allowed[] entries were seen open (-1 if
 *     /proc/self/fd could not be read, which is a failure too);
 *   - finish_verdict(): publishes OUTDIR/verdict, exactly "PASS" (returns 0) or "FAIL: "
 *     and the accumulated failures (returns 1); main() returns its result;
 *   - nap(): one nanosleep of VICTIM_NAP_NS (10 ms), EINTR ignored;
 *   - settled(record, before, after, size): reads OUTDIR/before, then runs record("after")
 *     and reads OUTDIR/after until both are equal (at most 40 times, 50 ms apart: carrier
 *     states settle a moment after a restore); 1 when they are, both left in the buffers;
 *   - run_until_term(&counter, ready_at): the single-process main loop: until SIGTERM,
 *     counter++ then nap(), publishing ready once counter reaches ready_at; a SIGTERM
 *     before that is a failure ("SIGTERM before ready was written (counter N)") and sets
 *     ready_pid to getpid() so that check_pid() still checks the rest.
 *
 * With VICTIM_TREE defined before the include (victims made of a parent P and one child C,
 * C forked after setup and told to run its checks by SIGUSR1), it also provides:
 *   - got_usr1 (set by the SIGUSR1 handler), parent_pid and child_pid;
 *   - install_usr1_handler(): SIGUSR1 sets got_usr1 (no SA_RESTART), installed before the
 *     fork so C inherits it;
 *   - fork_child(): sets parent_pid, forks (setup_failed("fork") on error) and returns 1 in
 *     C (where child_pid is then getpid()) and 0 in P (child_pid is C's pid);
 *   - kill_child(): SIGKILL to C and reap it (errno preserved); parent_setup_failed(what):
 *     kill_child() then setup_failed(what), so no child is left behind;
 *   - child_waiting(): C's main loop condition: 0 once SIGUSR1 arrived, exits 2 (writing
 *     nothing) as soon as getppid() is no longer parent_pid, else 1;
 *   - check_child_ids(): C's checks that getpid() is child_pid and getppid() parent_pid;
 *   - child_report_exit(): C publishes OUTDIR/child, "P" or "F" and its failures, and
 *     exits 0 or 1 (3 if child could not be written);
 *   - collect_child(): P sends SIGUSR1 to C and waits for it (waitpid WNOHANG after every
 *     nap(), at most VICTIM_WAIT_CHILD_MS = 2 s; killed with SIGKILL and reaped on timeout),
 *     fails unless C exited with status 0, then runs check_child_report(); returns 0 when
 *     C was reaped, -1 (and OUTDIR/child not read) when it timed out or waitpid failed;
 *   - check_child_report(): fails unless OUTDIR/child is "P" (an "F" report becomes the
 *     failure "child: <its failures>").
 *
 * The functions are static inline only so that a victim that does not use one of them
 * gets no -Wunused-function warning.
 */
#ifndef CREST_VICTIM_H
#define CREST_VICTIM_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#ifdef VICTIM_TREE
#include <sys/wait.h>
#endif

#define VICTIM_NAP_NS (10 * 1000 * 1000L)
#define VICTIM_WAIT_CHILD_MS 2000

#ifndef VICTIM_FAILURES_BYTES
#define VICTIM_FAILURES_BYTES 4096
#endif

static char outdir[PATH_MAX];
static char failures[VICTIM_FAILURES_BYTES];
static int nfailures;
static volatile sig_atomic_t got_term;
static pid_t ready_pid;

static inline void fail(const char *fmt, ...)
{
	size_t used = strlen(failures);
	va_list ap;

	if (used + 16 >= sizeof(failures))
		return;
	if (nfailures++)
		used += snprintf(failures + used, sizeof(failures) - used, "; ");
	va_start(ap, fmt);
	vsnprintf(failures + used, sizeof(failures) - used, fmt, ap);
	va_end(ap);
}

static inline int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= n;
	}
	return 0;
}

/* OUTDIR/name <- text, atomically through OUTDIR/name.tmp */
static inline int publish(const char *name, const char *text)
{
	char path[PATH_MAX + 64], tmp[PATH_MAX + 64];
	int fd, err;

	snprintf(path, sizeof(path), "%s/%s", outdir, name);
	snprintf(tmp, sizeof(tmp), "%s/%s.tmp", outdir, name);
	do
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -1;
	err = write_all(fd, text, strlen(text));
	close(fd);
	if (err || rename(tmp, path))
		return -1;
	return 0;
}

/* OUTDIR/name into buf (size bytes, NUL-terminated); its length, 0 if unreadable. */
static inline size_t read_out(const char *name, char *buf, size_t size)
{
	char path[PATH_MAX + 64];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", outdir, name);
	f = fopen(path, "r");
	n = f ? fread(buf, 1, size - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = 0;
	return n;
}

static inline int settled(int (*record)(const char *), char *before, char *after, size_t size)
{
	if (read_out("before", before, size) == 0)
		return 0;
	for (int i = 0; i < 40; i++) {
		if (record("after") == 0 && read_out("after", after, size) &&
		    !strcmp(before, after))
			return 1;
		usleep(50 * 1000);
	}
	return 0;
}

static inline void setup_failed(const char *what)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "FAIL: setup: %s: %s", what, strerror(errno));
	publish("verdict", msg);
	_exit(2);
}

/* close inherited fds above 2; OUTDIR <- argv[1] (exit 2 if missing or not absolute) */
static inline void victim_start(int argc, char **argv)
{
	syscall(SYS_close_range, 3, ~0U, 0);
	if (argc < 2 || argv[1][0] != '/' || strlen(argv[1]) >= sizeof(outdir) - 64)
		exit(2);
	strcpy(outdir, argv[1]);
}

static inline void on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

static inline void install_term_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL))
		setup_failed("sigaction SIGTERM");
}

static inline void write_ready(void)
{
	char text[32];

	ready_pid = getpid();
	snprintf(text, sizeof(text), "%d", (int)ready_pid);
	if (publish("ready", text))
		setup_failed("write ready");
}

static inline void check_pid(void)
{
	if (getpid() != ready_pid)
		fail("getpid() %d, but ready said %d", (int)getpid(), (int)ready_pid);
}

/* fail on any open fd above 2 not in allowed[]; bit i of the result: allowed[i] is open */
static inline int check_open_fds(const int *allowed, int n)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	char extra[256] = "";
	size_t used = 0;
	int seen = 0;

	if (!d) {
		fail("opendir /proc/self/fd: %s", strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		int fd, i;

		if (de->d_name[0] == '.')
			continue;
		fd = atoi(de->d_name);
		if (fd <= 2 || fd == dirfd(d))
			continue;
		for (i = 0; i < n && allowed[i] != fd; i++)
			;
		if (i < n)
			seen |= 1 << i;
		else if (used < sizeof(extra) - 16)
			used += snprintf(extra + used, sizeof(extra) - used, " %d", fd);
	}
	closedir(d);
	if (used)
		fail("unexpected open fds:%s", extra);
	return seen;
}

/* OUTDIR/verdict <- "PASS" or "FAIL: <failures>"; the exit code, 0 or 1 */
static inline int finish_verdict(void)
{
	static char msg[sizeof(failures) + 16];

	if (nfailures) {
		snprintf(msg, sizeof(msg), "FAIL: %s", failures);
		publish("verdict", msg);
		return 1;
	}
	publish("verdict", "PASS");
	return 0;
}

static inline void nap(void)
{
	struct timespec ts = { 0, VICTIM_NAP_NS };

	nanosleep(&ts, NULL); /* EINTR (SIGTERM, SIGUSR1, a timer, a ptrace stop, a restore) is fine */
}

/* single-process main loop: until SIGTERM, ++*counter and nap(); ready once *counter is ready_at */
static inline void run_until_term(volatile uint64_t *counter, uint64_t ready_at)
{
	while (!got_term) {
		++*counter;
		nap();
		if (*counter == ready_at)
			write_ready();
	}
	if (!ready_pid) {
		/* SIGTERM before ready: still report, but this cannot be a pass */
		fail("SIGTERM before ready was written (counter %llu)", (unsigned long long)*counter);
		ready_pid = getpid();
	}
}

#ifdef VICTIM_TREE
static volatile sig_atomic_t got_usr1;
static pid_t parent_pid, child_pid;

static inline void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

static inline void install_usr1_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL))
		setup_failed("sigaction SIGUSR1");
}

/* 1 in the child, 0 in the parent */
static inline int fork_child(void)
{
	parent_pid = getpid();
	child_pid = fork();
	if (child_pid < 0)
		setup_failed("fork");
	if (child_pid == 0) {
		child_pid = getpid();
		return 1;
	}
	return 0;
}

/* SIGKILL to C and reap it; errno is preserved */
static inline void kill_child(void)
{
	int saved = errno;

	kill(child_pid, SIGKILL);
	while (waitpid(child_pid, NULL, 0) < 0 && errno == EINTR)
		;
	errno = saved;
}

/* P's setup failure after the fork: no child may be left behind */
static inline void parent_setup_failed(const char *what)
{
	kill_child();
	setup_failed(what);
}

/* C's loop condition: 0 once SIGUSR1 came; exit 2 if P is gone */
static inline int child_waiting(void)
{
	if (got_usr1)
		return 0;
	if (getppid() != parent_pid)
		_exit(2);
	return 1;
}

static inline void check_child_ids(void)
{
	if (getpid() != child_pid)
		fail("child getpid() %d, want %d", (int)getpid(), (int)child_pid);
	if (getppid() != parent_pid)
		fail("child getppid() %d, want %d", (int)getppid(), (int)parent_pid);
}

/* OUTDIR/child <- "P" or "F<failures>"; exit 0 or 1 (3: child not written) */
static inline void child_report_exit(void)
{
	static char result[sizeof(failures) + 2];

	if (nfailures)
		snprintf(result, sizeof(result), "F%s", failures);
	else
		strcpy(result, "P");
	if (publish("child", result))
		_exit(3);
	_exit(nfailures ? 1 : 0);
}

/* OUTDIR/child must be "P"; "F..." becomes the failure "child: ..." */
static inline void check_child_report(void)
{
	char path[PATH_MAX + 64], text[1024];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/child", outdir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fail("open OUTDIR/child: %s", strerror(errno));
		return;
	}
	do
		n = read(fd, text, sizeof(text) - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0) {
		fail("read OUTDIR/child: %s", strerror(errno));
		return;
	}
	text[n] = 0;
	if (n > 0 && text[0] == 'F')
		fail("child: %s", text + 1);
	else if (strcmp(text, "P"))
		fail("OUTDIR/child is \"%s\", want \"P\" or \"F...\"", text);
}

/* SIGUSR1 to C, wait for it (at most VICTIM_WAIT_CHILD_MS), check its exit status and
 * report; 0 when C was reaped, -1 when not (timeout: killed and reaped; waitpid error) */
static inline int collect_child(void)
{
	int status = 0, waited;
	pid_t r = 0;

	if (kill(child_pid, SIGUSR1))
		fail("kill(child %d, SIGUSR1): %s", (int)child_pid, strerror(errno));
	for (waited = 0; waited <= VICTIM_WAIT_CHILD_MS; waited += VICTIM_NAP_NS / 1000000) {
		r = waitpid(child_pid, &status, WNOHANG);
		if (r != 0 && !(r < 0 && errno == EINTR))
			break;
		nap();
	}
	if (r == 0) {
		fail("child %d still running %d ms after SIGUSR1 (killed)", (int)child_pid,
		     VICTIM_WAIT_CHILD_MS);
		kill_child();
		return -1;
	}
	if (r < 0) {
		fail("waitpid(child %d): %s", (int)child_pid, strerror(errno));
		return -1;
	}
	if (!WIFEXITED(status))
		fail("child killed by signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : -1);
	else if (WEXITSTATUS(status))
		fail("child exit status %d, want 0", WEXITSTATUS(status));
	check_child_report();
	return 0;
}
#endif /* VICTIM_TREE */

#endif /* CREST_VICTIM_H */
