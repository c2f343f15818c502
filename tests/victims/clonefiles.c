/*
 * clonefiles: crest integration-test victim for descriptor tables shared between processes
 * (clone with CLONE_FILES, not threads), as CRIU's fdt_shared.
 *
 * Usage: clonefiles OUTDIR       (OUTDIR: absolute path of a writable directory)
 *
 * Setup: the parent P opens OUTDIR/data at fd 100, writes "hello" and seeks to 2. It clones C
 * with CLONE_FILES | SIGCHLD; C clones G with CLONE_FILES | SIGCHLD (so P, C and G have one
 * table). P then forks D with a table of its own, where D opens OUTDIR/data again at fd 120.
 * After setup P opens a pipe at fd 130 (after the sharers were cloned: it is theirs too, not
 * D's). Then OUTDIR/ready and a wait for SIGTERM.
 *
 * On SIGTERM P checks its own table (fd 100 at offset 2, fd 130 a pipe, no fd 120), puts a
 * new pipe at fd 150, and sends SIGUSR1 to C and then D, each of which checks and exits with
 * 0 (pass) or a failure code that P names:
 *   - C and G: kcmp says their table is their parent's; fd 150 (made after the restore) and
 *     fd 130 exist; G writes one byte into fd 150, which P reads;
 *   - D: kcmp says its table is not P's; fd 120 is open at offset 0, fd 130 and 150 are not.
 * Verdict: OUTDIR/verdict holds "PASS" or "FAIL: " and the failed checks.
 *
 * Build: gcc -O1 -static -Wall -Wextra -o clonefiles clonefiles.c
 */
#define _GNU_SOURCE
#include "victim.h"

#include <linux/kcmp.h>
#include <sched.h>
#include <sys/wait.h>

static char stack_c[64 * 1024] __attribute__((aligned(16)));
static char stack_g[64 * 1024] __attribute__((aligned(16)));
static volatile sig_atomic_t got_usr1;
static pid_t parent;

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

static int same_table(pid_t a, pid_t b)
{
	return syscall(SYS_kcmp, a, b, KCMP_FILES, 0, 0) == 0;
}

static int is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* Waits for SIGUSR1; exits 9 if the parent goes (a refused or failed restore). */
static void wait_usr1(pid_t ppid)
{
	while (!got_usr1) {
		if (getppid() != ppid)
			_exit(9);
		nap();
	}
}

static int grandchild_main(void *arg)
{
	pid_t c = *(pid_t *)arg;

	wait_usr1(c);
	if (!same_table(getpid(), c))
		_exit(21);
	if (!is_open(130) || !is_open(150))
		_exit(22);
	if (write(150, "g", 1) != 1)
		_exit(23);
	_exit(0);
}

static int child_main(void *arg)
{
	static pid_t me;
	pid_t g;
	int status;

	(void)arg;
	me = getpid();
	g = clone(grandchild_main, stack_g + sizeof(stack_g), CLONE_FILES | SIGCHLD, &me);
	if (g < 0)
		_exit(10);
	wait_usr1(parent);
	if (!same_table(getpid(), parent))
		status = 11 << 8;
	else if (!is_open(130) || !is_open(150))
		status = 12 << 8;
	else {
		kill(g, SIGUSR1);
		if (waitpid(g, &status, 0) != g)
			_exit(13);
	}
	kill(g, SIGKILL);
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 14);
}

static int other_main(void)
{
	int fd = open("data", O_RDONLY);

	if (fd < 0 || dup2(fd, 120) != 120)
		_exit(30);
	close(fd);
	wait_usr1(parent);
	if (same_table(getpid(), parent))
		_exit(31);
	if (!is_open(120) || lseek(120, 0, SEEK_CUR) != 0)
		_exit(32);
	if (is_open(130) || is_open(150))
		_exit(33);
	_exit(0);
}

static void collect(const char *who, pid_t pid)
{
	int status;

	kill(pid, SIGUSR1);
	if (waitpid(pid, &status, 0) != pid)
		fail("%s: waitpid: %s", who, strerror(errno));
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail("%s ended with status %#x", who, status);
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_usr1};
	int fd, p[2];
	pid_t c, d;
	char b;

	victim_start(argc, argv);
	install_term_handler();
	sigaction(SIGUSR1, &sa, NULL);
	if (chdir(outdir) < 0)
		setup_failed("chdir");
	parent = getpid();
	fd = open("data", O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || dup2(fd, 100) != 100 || write(100, "hello", 5) != 5 || lseek(100, 2, SEEK_SET) != 2)
		setup_failed("data file");
	close(fd);
	c = clone(child_main, stack_c + sizeof(stack_c), CLONE_FILES | SIGCHLD, NULL);
	if (c < 0)
		setup_failed("clone");
	d = fork();
	if (d < 0)
		setup_failed("fork");
	if (d == 0)
		other_main();
	if (pipe(p) < 0 || dup2(p[0], 130) != 130)
		setup_failed("pipe");
	close(p[0]);
	close(p[1]);
	/* Until D has opened its fd 120 (in its own table). */
	for (int i = 0;; i++) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/fd/120", (int)d);
		if (access(path, F_OK) == 0)
			break;
		if (i == 200) {
			kill(c, SIGKILL);
			kill(d, SIGKILL);
			setup_failed("the other child's fd 120");
		}
		nap();
	}
	write_ready();
	while (!got_term)
		nap();

	check_pid();
	if (!is_open(100) || lseek(100, 0, SEEK_CUR) != 2)
		fail("fd 100 is not at offset 2");
	if (!is_open(130))
		fail("fd 130 is not open");
	if (is_open(120))
		fail("fd 120 of the other child's own table is open here");
	if (pipe(p) < 0 || dup2(p[1], 150) != 150)
		fail("pipe: %s", strerror(errno));
	close(p[1]);
	collect("the CLONE_FILES child", c);
	if (read(p[0], &b, 1) != 1 || b != 'g')
		fail("no byte from the CLONE_FILES grandchild");
	collect("the child with its own table", d);
	return finish_verdict();
}
