/*
 * cgroups: crest integration-test victim in cgroups of its own.
 *
 * Usage: cgroups OUTDIR NAME   (OUTDIR: absolute path of a writable directory; run as root)
 *
 * Setup: in the pids hierarchy (/sys/fs/cgroup/pids on cgroup v1, else the v2 root
 * /sys/fs/cgroup), P makes cgroup NAME with pids.max 9 and NAME/inner below it, moves itself
 * into NAME, then forks C, which moves itself into NAME/inner and waits (it dies with P).
 * P records its own and C's /proc/PID/cgroup. Then OUTDIR/ready and a wait for SIGTERM.
 *
 * On SIGTERM P checks that both cgroup files read as before, that NAME's pids.max is 9 and
 * NAME/inner exists, and that the pids are the dumped ones; then kills and reaps C.
 * Verdict: OUTDIR/verdict holds "PASS" or "FAIL: " and the failed checks.
 *
 * Build: gcc -O1 -static -Wall -Wextra -o cgroups cgroups.c
 */
#define _GNU_SOURCE
#define VICTIM_TREE
#include "victim.h"

#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char base[512];

static int put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY), ok;

	if (fd < 0)
		return -1;
	ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	close(fd);
	return ok ? 0 : -1;
}

static void slurp(const char *path, char *buf, size_t n)
{
	FILE *f = fopen(path, "r");
	size_t got = f ? fread(buf, 1, n - 1, f) : 0;

	if (f)
		fclose(f);
	buf[got] = 0;
}

int main(int argc, char **argv)
{
	char path[1024], own[2048], inner[2048], now[2048], max[64];
	struct stat st;

	victim_start(argc, argv);
	install_term_handler();
	if (argc < 3)
		setup_failed("usage: cgroups OUTDIR NAME");
	snprintf(base, sizeof(base), "%s/%s",
		 stat("/sys/fs/cgroup/pids", &st) == 0 ? "/sys/fs/cgroup/pids" : "/sys/fs/cgroup", argv[2]);
	snprintf(path, sizeof(path), "%s/inner", base);
	if (mkdir(base, 0755) < 0 || mkdir(path, 0755) < 0)
		setup_failed("mkdir");
	snprintf(path, sizeof(path), "%s/pids.max", base);
	if (put(path, "9"))
		setup_failed("pids.max");
	snprintf(path, sizeof(path), "%s/cgroup.procs", base);
	if (put(path, "0"))
		setup_failed("joining NAME");
	if (fork_child()) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		snprintf(path, sizeof(path), "%s/inner/cgroup.procs", base);
		if (put(path, "0"))
			_exit(3);
		for (;;)
			pause();
	}
	/* Until C is in its cgroup. */
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)child_pid);
	for (int i = 0; i < 200; i++) {
		slurp(path, inner, sizeof(inner));
		if (strstr(inner, "/inner\n"))
			break;
		usleep(5000);
	}
	if (!strstr(inner, "/inner\n"))
		parent_setup_failed("C joining NAME/inner");
	slurp("/proc/self/cgroup", own, sizeof(own));
	write_ready();
	while (!got_term)
		nap();

	check_pid();
	slurp("/proc/self/cgroup", now, sizeof(now));
	if (strcmp(now, own))
		fail("P's cgroups: before\n%s\nafter\n%s", own, now);
	slurp(path, now, sizeof(now));
	if (strcmp(now, inner))
		fail("C's cgroups: before\n%s\nafter\n%s", inner, now);
	snprintf(path, sizeof(path), "%s/pids.max", base);
	slurp(path, max, sizeof(max));
	if (strcmp(max, "9\n"))
		fail("pids.max %s", max);
	snprintf(path, sizeof(path), "%s/inner", base);
	if (stat(path, &st) < 0)
		fail("NAME/inner: %s", strerror(errno));
	kill_child();
	return finish_verdict();
}
