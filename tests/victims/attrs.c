/*
 * attrs: crest integration-test victim for per-process and per-thread attributes that a
 * restore could silently lose: scheduling, oom_score_adj, loginuid, the child-subreaper
 * flag, PR_SET_THP_DISABLE, membarrier registrations, the parent-death signal and file
 * owners (F_SETOWN_EX / F_SETSIG).
 *
 * Usage: attrs OUTDIR            (OUTDIR: absolute path of a writable directory; run as root)
 *
 * Setup, in the parent P: SCHED_BATCH with nice 7; oom_score_adj 300; loginuid 4242;
 * PR_SET_CHILD_SUBREAPER; PR_SET_THP_DISABLE; membarrier
 * MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED; a pipe (fds 10 and 11) whose read end is owned
 * by P (F_SETOWN_EX F_OWNER_PID) with F_SETSIG SIGUSR2. Then fork() of the child C, which
 * sets PR_SET_PDEATHSIG SIGUSR2, SCHED_IDLE with nice 3, and makes the write end's owner
 * itself as a thread (F_OWNER_TID) with F_SETSIG SIGRTMIN+1, and writes a byte, which P
 * reads; C also ignores SIGTRAP. P then ignores SIGUSR2, handles SIGTRAP, sets O_ASYNC on
 * the read end and writes ready. (The restorer's last trap must not reset SIGTRAP.)
 *
 * On SIGTERM P checks each of its attributes and the read end's owner, signal and O_ASYNC; then
 * SIGUSR1 to C, which checks its policy, nice value, parent-death signal, the write end's
 * owner and signal and that SIGTRAP is still ignored, and reports. P raises SIGTRAP, which
 * its handler must see once. Verdict: OUTDIR/verdict holds "PASS" or "FAIL: " and the
 * failed checks.
 *
 * Build: gcc -O1 -static -Wall -Wextra -o attrs attrs.c
 */
#define _GNU_SOURCE
#define VICTIM_TREE
#include "victim.h"

#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#define MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED (1 << 4)
#define MEMBARRIER_CMD_GET_REGISTRATIONS (1 << 9)

static volatile sig_atomic_t traps;

static void on_trap(int sig)
{
	(void)sig;
	traps++;
}

/* SIGTRAP's disposition is `want`, and for a handler raise() reaches it */
static void check_sigtrap(void (*want)(int), const char *who)
{
	struct sigaction sa;

	if (sigaction(SIGTRAP, NULL, &sa) || sa.sa_handler != want) {
		fail("%s: SIGTRAP's disposition lost", who);
		return;
	}
	if (want == on_trap && (raise(SIGTRAP) || traps != 1))
		fail("%s: SIGTRAP reached its handler %d times, want 1", who, (int)traps);
}

static int read_int(const char *path)
{
	char buf[32] = { 0 };
	int fd = open(path, O_RDONLY);

	if (fd < 0 || read(fd, buf, sizeof(buf) - 1) < 0) {
		if (fd >= 0)
			close(fd);
		return -99999;
	}
	close(fd);
	return (int)strtol(buf, NULL, 10);
}

static int write_str(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	int r;

	if (fd < 0)
		return -1;
	r = write_all(fd, text, strlen(text));
	close(fd);
	return r;
}

static void check_sched(int policy, int nice, const char *who)
{
	int p = sched_getscheduler(0);
	int n;

	errno = 0;
	n = getpriority(PRIO_PROCESS, 0);
	if (p != policy)
		fail("%s: policy %d, want %d", who, p, policy);
	if (n != nice || errno)
		fail("%s: nice %d, want %d", who, n, nice);
}

static void check_owner(int fd, int type, pid_t pid, int sig, const char *who)
{
	struct f_owner_ex ex = { 0 };
	int s = fcntl(fd, F_GETSIG);

	if (fcntl(fd, F_GETOWN_EX, &ex))
		fail("%s: F_GETOWN_EX: %s", who, strerror(errno));
	else if ((int)ex.type != type || ex.pid != pid)
		fail("%s: owner type %d pid %d, want %d %d", who, ex.type, ex.pid, type, (int)pid);
	if (s != sig)
		fail("%s: F_GETSIG %d, want %d", who, s, sig);
}

static void set_sched(int policy, int nice)
{
	struct sched_param sp = { 0 };

	if (sched_setscheduler(0, policy, &sp) || setpriority(PRIO_PROCESS, 0, nice))
		setup_failed("scheduling");
}

static void child_main(void)
{
	struct f_owner_ex ex = { F_OWNER_TID, 0 };
	int sig = -1;

	ex.pid = gettid();
	if (prctl(PR_SET_PDEATHSIG, SIGUSR2) || signal(SIGTRAP, SIG_IGN) == SIG_ERR)
		_exit(2);
	set_sched(SCHED_IDLE, 3);
	if (fcntl(11, F_SETOWN_EX, &ex) || fcntl(11, F_SETSIG, SIGRTMIN + 1))
		_exit(2);
	if (write(11, "c", 1) != 1)
		_exit(2);
	while (child_waiting())
		nap();
	check_child_ids();
	check_sched(SCHED_IDLE, 3, "child");
	if (prctl(PR_GET_PDEATHSIG, &sig) || sig != SIGUSR2)
		fail("child: parent-death signal %d, want %d", sig, SIGUSR2);
	check_owner(11, F_OWNER_TID, gettid(), SIGRTMIN + 1, "child: write end");
	check_sigtrap(SIG_IGN, "child");
	child_report_exit();
}

int main(int argc, char **argv)
{
	struct f_owner_ex ex = { F_OWNER_PID, 0 };
	int p[2], v = -1;
	char c;

	victim_start(argc, argv);
	install_term_handler();
	install_usr1_handler();
	set_sched(SCHED_BATCH, 7);
	if (write_str("/proc/self/oom_score_adj", "300") || write_str("/proc/self/loginuid", "4242"))
		setup_failed("oom_score_adj or loginuid");
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) || prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0))
		setup_failed("prctl");
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0))
		setup_failed("membarrier");
	if (pipe(p) || dup2(p[0], 10) != 10 || dup2(p[1], 11) != 11)
		setup_failed("pipe");
	close(p[0]);
	close(p[1]);
	ex.pid = getpid();
	if (fcntl(10, F_SETOWN_EX, &ex) || fcntl(10, F_SETSIG, SIGUSR2))
		setup_failed("F_SETOWN_EX");
	if (fork_child())
		child_main();
	if (read(10, &c, 1) != 1)
		parent_setup_failed("child setup");
	signal(SIGUSR2, SIG_IGN);
	signal(SIGTRAP, on_trap);
	if (fcntl(10, F_SETFL, O_ASYNC))
		parent_setup_failed("O_ASYNC");
	write_ready();
	while (!got_term)
		nap();

	check_pid();
	check_sched(SCHED_BATCH, 7, "parent");
	if ((v = read_int("/proc/self/oom_score_adj")) != 300)
		fail("oom_score_adj %d, want 300", v);
	if ((v = read_int("/proc/self/loginuid")) != 4242)
		fail("loginuid %d, want 4242", v);
	if (prctl(PR_GET_CHILD_SUBREAPER, &v) || v != 1)
		fail("child subreaper %d, want 1", v);
	if ((v = prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0)) != 1)
		fail("PR_GET_THP_DISABLE %d, want 1", v);
	v = syscall(SYS_membarrier, MEMBARRIER_CMD_GET_REGISTRATIONS, 0, 0);
	if (v < 0 || !(v & MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED))
		fail("membarrier registrations %#x, want %#x", v, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED);
	check_owner(10, F_OWNER_PID, getpid(), SIGUSR2, "parent: read end");
	if (!(fcntl(10, F_GETFL) & O_ASYNC))
		fail("parent: read end lost O_ASYNC");
	check_sigtrap(on_trap, "parent");
	collect_child();
	return finish_verdict();
}
