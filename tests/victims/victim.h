/*
 * victim.h: plumbing shared by the crest integration-test victims (state.c, socket.c,
 * plain.c). Each victim is one translation unit that includes this header once, right
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
 *     and the accumulated failures (returns 1); main() returns its result.
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
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

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

#endif /* CREST_VICTIM_H */
