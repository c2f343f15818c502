/*
 * container: crest dump/restore integration-test victim for a small container: init (pid 1)
 * of new pid, UTS and IPC namespaces with children in two process groups, a zombie, System
 * V objects and a pipe between two members.
 *
 * Usage: container OUTDIR        (OUTDIR: absolute path of a writable directory)
 *
 * The launcher L closes every inherited fd above 2, calls
 * unshare(CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC) and forks INIT, pid 1 of the new pid
 * namespace. Once INIT has set up (it writes one byte into a pipe to L), L publishes INIT's
 * host pid as OUTDIR/ready and exits 0. If INIT fails to set up, it publishes
 * "FAIL: setup: ..." and L exits 2 without writing ready.
 *
 * INIT calls setsid(), sets the hostname "crest-container" and the domain name
 * "crest.container", installs a SIGTERM handler (no SA_RESTART), and creates in its IPC
 * namespace:
 *   - a message queue (key 0x63727351, mode 0640) holding, in this order: type 5 "first"
 *     (5 bytes), type 1 with 300 bytes (byte i = (i*7+1) & 0xff), type 5 "third" (5 bytes),
 *     type 9 with 1 byte 0x5a;
 *   - a set of 4 semaphores (key 0x63727353, mode 0600) with the values 1, 0, 7, 32767;
 *   - segment A (key 0x63727341, mode 0600, 8292 bytes, byte i = (i*3+11) & 0xff), attached
 *     in INIT;
 *   - segment B (IPC_PRIVATE, mode 0640, 5000 bytes, byte i = (i*5+2) & 0xff), not attached.
 * Then a pipe P, and the children, forked in this order:
 *   - C1 (ns pid 2) makes its own process group (setpgid(0, 0)), writes 64 bytes (byte
 *     i = (i*9+4) & 0xff) into P and keeps only P's write end;
 *   - C2 (ns pid 3) stays in INIT's group and keeps only P's read end (the 64 bytes stay
 *     unread until the check);
 *   - C3 (ns pid 4) joins C1's group 2;
 *   - Z (ns pid 5) exits with code 9 at once; INIT never reaps it before the checks, so it
 *     is a zombie.
 * INIT closes both ends of P. Children loop in nanosleep(10 ms) until SIGUSR1, or exit 2 as
 * soon as getppid() is no longer 1. INIT loops in nanosleep(10 ms) until SIGTERM.
 *
 * On SIGTERM INIT checks:
 *   - getpid() == 1, getppid() == 0, its pgid and sid are 1, both names;
 *   - each object by its key: the same id as created, mode and owner (uid/gid 0);
 *   - the queue: qnum 4 and cbytes 311, the four messages in order (msgrcv type 0), then
 *     ENOMSG;
 *   - the semaphore values (GETALL);
 *   - A: size, nattch 4 (INIT and its three children, which inherited the attachment),
 *     its pattern through the old attachment and through a new one, and
 *     that a write through one is seen through the other;
 *   - B: size, nattch 0, its pattern through a new attachment;
 *   - the zombie: waitid(P_PID, 5, WEXITED | WNOHANG | WNOWAIT) reports it exited with 9;
 *     then waitid without WNOWAIT reaps it;
 * then sends SIGUSR1 to C1, C2 and C3. Each checks its ns pid, getppid() == 1, its pgid
 * (C1 2, C2 1, C3 2), sid 1 and the hostname; C2 reads the 64 bytes from P (after a 500 ms
 * poll) and then end of file once C1 has exited (C1 closes its write end by exiting). Each
 * exits 0 when all its checks passed, else 1. INIT waits for them (at most 2 s each; killed
 * on timeout), fails unless each exited 0, and that it has no child left (ECHILD).
 * Verdict: OUTDIR/verdict (via verdict.tmp + rename), written by INIT: exactly "PASS" (exit
 * 0) or "FAIL: " and every failed check, separated by "; " (exit 1).
 *
 * Self test: -DCREST_SELFTEST_BREAK drains the queue's first message right before the
 * checks.
 *
 * Build: gcc -O1 -static -Wall -Wextra -pthread -o container container.c -lm
 */
#define _GNU_SOURCE
#include "victim.h"

#include <poll.h>
#include <sched.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>

#define KEY_MSG 0x63727351
#define KEY_SEM 0x63727353
#define KEY_SHM_A 0x63727341
#define SHM_A_SIZE 8292
#define SHM_B_SIZE 5000
#define PIPE_BYTES 64
#define HOSTNAME "crest-container"
#define DOMAIN "crest.container"

static volatile sig_atomic_t got_usr1;
static int msq, sem, shm_a, shm_b;
static unsigned char *att_a;

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

static unsigned char pat(int i, int mul, int add)
{
	return (unsigned char)((i * mul + add) & 0xff);
}

struct msg {
	long mtype;
	char text[400];
};

static void send(long type, const char *text, size_t len)
{
	struct msg m;

	m.mtype = type;
	memcpy(m.text, text, len);
	if (msgsnd(msq, &m, len, IPC_NOWAIT))
		setup_failed("msgsnd");
}

static void setup_ipc(void)
{
	char big[300];
	unsigned short vals[4] = { 1, 0, 7, 32767 };
	unsigned char *b;
	int i;

	msq = msgget(KEY_MSG, IPC_CREAT | IPC_EXCL | 0640);
	if (msq < 0)
		setup_failed("msgget");
	for (i = 0; i < 300; i++)
		big[i] = (char)pat(i, 7, 1);
	send(5, "first", 5);
	send(1, big, sizeof(big));
	send(5, "third", 5);
	send(9, "\x5a", 1);
	sem = semget(KEY_SEM, 4, IPC_CREAT | IPC_EXCL | 0600);
	if (sem < 0 || semctl(sem, 0, SETALL, vals))
		setup_failed("semget/SETALL");
	shm_a = shmget(KEY_SHM_A, SHM_A_SIZE, IPC_CREAT | IPC_EXCL | 0600);
	shm_b = shmget(IPC_PRIVATE, SHM_B_SIZE, IPC_CREAT | 0640);
	if (shm_a < 0 || shm_b < 0)
		setup_failed("shmget");
	att_a = shmat(shm_a, NULL, 0);
	b = shmat(shm_b, NULL, 0);
	if (att_a == (void *)-1 || b == (void *)-1)
		setup_failed("shmat");
	for (i = 0; i < SHM_A_SIZE; i++)
		att_a[i] = pat(i, 3, 11);
	for (i = 0; i < SHM_B_SIZE; i++)
		b[i] = pat(i, 5, 2);
	shmdt(b);
}

/* the id of the object with `key` must be `id`, owned by root with `mode` */
static void check_perm(const char *what, struct ipc_perm *p, unsigned int mode)
{
	if (p->uid != 0 || p->gid != 0 || (p->mode & 0777) != mode)
		fail("%s: owner %d:%d mode %o", what, (int)p->uid, (int)p->gid, p->mode & 0777);
}

static void check_pattern(const char *what, const unsigned char *at, int len, int mul, int add)
{
	int i;

	for (i = 0; i < len; i++)
		if (at[i] != pat(i, mul, add)) {
			fail("%s: byte %d is %d", what, i, at[i]);
			return;
		}
}

static void check_ipc(void)
{
	struct msqid_ds mq;
	struct semid_ds sd;
	struct shmid_ds sa, sb;
	unsigned short vals[4];
	struct msg m;
	unsigned char *a2, *b;
	ssize_t n;

	if (msgget(KEY_MSG, 0) != msq || msgctl(msq, IPC_STAT, &mq))
		fail("queue: not found with id %d", msq);
	else {
		check_perm("queue", &mq.msg_perm, 0640);
		if (mq.msg_qnum != 4 || mq.__msg_cbytes != 311)
			fail("queue: qnum %lu cbytes %lu", (unsigned long)mq.msg_qnum,
			     (unsigned long)mq.__msg_cbytes);
		n = msgrcv(msq, &m, sizeof(m.text), 0, IPC_NOWAIT);
		if (n != 5 || m.mtype != 5 || memcmp(m.text, "first", 5))
			fail("message 1: %zd bytes of type %ld", n, m.mtype);
		n = msgrcv(msq, &m, sizeof(m.text), 0, IPC_NOWAIT);
		if (n != 300 || m.mtype != 1)
			fail("message 2: %zd bytes of type %ld", n, m.mtype);
		else
			check_pattern("message 2", (unsigned char *)m.text, 300, 7, 1);
		n = msgrcv(msq, &m, sizeof(m.text), 0, IPC_NOWAIT);
		if (n != 5 || m.mtype != 5 || memcmp(m.text, "third", 5))
			fail("message 3: %zd bytes of type %ld", n, m.mtype);
		n = msgrcv(msq, &m, sizeof(m.text), 0, IPC_NOWAIT);
		if (n != 1 || m.mtype != 9 || m.text[0] != 0x5a)
			fail("message 4: %zd bytes of type %ld", n, m.mtype);
		if (msgrcv(msq, &m, sizeof(m.text), 0, IPC_NOWAIT) >= 0 || errno != ENOMSG)
			fail("queue: a fifth message, or not ENOMSG");
	}
	if (semget(KEY_SEM, 0, 0) != sem || semctl(sem, 0, IPC_STAT, &sd))
		fail("semaphores: not found with id %d", sem);
	else {
		check_perm("semaphores", &sd.sem_perm, 0600);
		if (sd.sem_nsems != 4 || semctl(sem, 0, GETALL, vals))
			fail("semaphores: %lu of them", (unsigned long)sd.sem_nsems);
		else if (vals[0] != 1 || vals[1] != 0 || vals[2] != 7 || vals[3] != 32767)
			fail("semaphores: %d %d %d %d", vals[0], vals[1], vals[2], vals[3]);
	}
	if (shmget(KEY_SHM_A, 0, 0) != shm_a || shmctl(shm_a, IPC_STAT, &sa))
		fail("segment A: not found with id %d", shm_a);
	else {
		check_perm("segment A", &sa.shm_perm, 0600);
		if (sa.shm_segsz != SHM_A_SIZE || sa.shm_nattch != 4)
			fail("segment A: size %zu nattch %lu", sa.shm_segsz,
			     (unsigned long)sa.shm_nattch);
		check_pattern("segment A (old attachment)", att_a, SHM_A_SIZE, 3, 11);
		a2 = shmat(shm_a, NULL, 0);
		if (a2 == (void *)-1)
			fail("segment A: shmat: %s", strerror(errno));
		else {
			check_pattern("segment A (new attachment)", a2, SHM_A_SIZE, 3, 11);
			att_a[100] ^= 0xff;
			if (a2[100] != (unsigned char)(pat(100, 3, 11) ^ 0xff))
				fail("segment A: the two attachments differ");
			shmdt(a2);
		}
	}
	if (shmctl(shm_b, IPC_STAT, &sb))
		fail("segment B: not found with id %d", shm_b);
	else {
		check_perm("segment B", &sb.shm_perm, 0640);
		if (sb.shm_segsz != SHM_B_SIZE || sb.shm_nattch != 0 || sb.shm_perm.__key != 0)
			fail("segment B: size %zu nattch %lu", sb.shm_segsz,
			     (unsigned long)sb.shm_nattch);
		b = shmat(shm_b, NULL, SHM_RDONLY);
		if (b == (void *)-1)
			fail("segment B: shmat: %s", strerror(errno));
		else {
			check_pattern("segment B", b, SHM_B_SIZE, 5, 2);
			shmdt(b);
		}
	}
}

static void check_names(void)
{
	char name[128];

	if (gethostname(name, sizeof(name)) || strcmp(name, HOSTNAME))
		fail("pid %d: hostname %s", (int)getpid(), name);
	if (getdomainname(name, sizeof(name)) || strcmp(name, DOMAIN))
		fail("pid %d: domainname %s", (int)getpid(), name);
}

/* a child's life: wait for SIGUSR1, check, exit 0 or 1 */
static void child(pid_t pid, pid_t pgid, int pipe_rd)
{
	unsigned char buf[PIPE_BYTES + 1];
	struct pollfd pfd;
	ssize_t n;
	int i;

	while (!got_usr1) {
		if (getppid() != 1)
			_exit(2);
		nap();
	}
	if (getpid() != pid || getppid() != 1 || getpgid(0) != pgid || getsid(0) != 1)
		fail("pid %d ppid %d pgid %d sid %d", (int)getpid(), (int)getppid(),
		     (int)getpgid(0), (int)getsid(0));
	check_names();
	if (pipe_rd >= 0) {
		pfd.fd = pipe_rd;
		pfd.events = POLLIN;
		n = poll(&pfd, 1, 500) == 1 ? read(pipe_rd, buf, PIPE_BYTES) : -1;
		if (n != PIPE_BYTES)
			fail("pipe: %zd bytes", n);
		for (i = 0; n == PIPE_BYTES && i < PIPE_BYTES; i++)
			if (buf[i] != pat(i, 9, 4)) {
				fail("pipe: byte %d", i);
				break;
			}
		n = poll(&pfd, 1, 2000) == 1 ? read(pipe_rd, buf, 1) : -1;
		if (n != 0)
			fail("pipe: no end of file (%zd)", n);
	}
	_exit(nfailures ? 1 : 0);
}

static pid_t fork_or_fail(void)
{
	pid_t p = fork();

	if (p < 0)
		setup_failed("fork");
	return p;
}

static int init_main(int ready_fd)
{
	struct sigaction sa;
	pid_t kids[3];
	siginfo_t si;
	int p[2], i, st;
	unsigned char data[PIPE_BYTES];

	if (setsid() < 0 || sethostname(HOSTNAME, strlen(HOSTNAME)) ||
	    setdomainname(DOMAIN, strlen(DOMAIN)))
		setup_failed("setsid/sethostname/setdomainname");
	install_term_handler();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	if (sigaction(SIGUSR1, &sa, NULL))
		setup_failed("sigaction SIGUSR1");
	setup_ipc();
	if (pipe(p))
		setup_failed("pipe");
	kids[0] = fork_or_fail();
	if (kids[0] == 0) {
		close(ready_fd);
		close(p[0]);
		for (i = 0; i < PIPE_BYTES; i++)
			data[i] = pat(i, 9, 4);
		/* the data first: INIT goes on once our group exists */
		if (write_all(p[1], (char *)data, PIPE_BYTES))
			_exit(3);
		setpgid(0, 0);
		child(2, 2, -1);
	}
	for (i = 0; i < 200 && getpgid(kids[0]) != kids[0]; i++)
		nap();
	if (getpgid(kids[0]) != kids[0])
		setup_failed("C1 made no process group");
	kids[1] = fork_or_fail();
	if (kids[1] == 0) {
		close(ready_fd);
		close(p[1]);
		child(3, 1, p[0]);
	}
	kids[2] = fork_or_fail();
	if (kids[2] == 0) {
		close(ready_fd);
		close(p[0]);
		close(p[1]);
		setpgid(0, 2);
		child(4, 2, -1);
	}
	if (fork_or_fail() == 0)
		_exit(9);
	close(p[0]);
	close(p[1]);
	/* the zombie has exited and C3 joined group 2 before we say ready */
	for (i = 0; i < 200 && getpgid(kids[2]) != 2; i++)
		nap();
	if (waitid(P_PID, 5, &si, WEXITED | WNOWAIT) || getpgid(kids[2]) != 2)
		setup_failed("waiting for the zombie and C3's group");
	if (write_all(ready_fd, "R", 1))
		setup_failed("telling the launcher");
	close(ready_fd);
	while (!got_term)
		nap();

	if (getpid() != 1 || getppid() != 0 || getpgid(0) != 1 || getsid(0) != 1)
		fail("init: pid %d ppid %d pgid %d sid %d", (int)getpid(), (int)getppid(),
		     (int)getpgid(0), (int)getsid(0));
	check_names();
#ifdef CREST_SELFTEST_BREAK
	{
		struct msg m;

		msgrcv(msq, &m, sizeof(m.text), 0, IPC_NOWAIT);
	}
#endif
	check_ipc();
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, 5, &si, WEXITED | WNOHANG | WNOWAIT) || si.si_pid != 5 ||
	    si.si_code != CLD_EXITED || si.si_status != 9)
		fail("zombie: pid %d code %d status %d", si.si_pid, si.si_code, si.si_status);
	else if (waitid(P_PID, 5, &si, WEXITED | WNOHANG))
		fail("zombie: not reaped: %s", strerror(errno));
	for (i = 0; i < 3; i++)
		kill(kids[i], SIGUSR1);
	for (i = 0; i < 3; i++) {
		int waited = 0;
		pid_t r;

		while ((r = waitpid(kids[i], &st, WNOHANG)) == 0 && waited < VICTIM_WAIT_CHILD_MS) {
			nap();
			waited += 10;
		}
		if (r == 0) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], &st, 0);
			fail("child %d: no exit within 2 s", (int)kids[i]);
		} else if (r < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			fail("child %d: wait status %#x", (int)kids[i], st);
	}
	if (waitpid(-1, &st, WNOHANG) != -1 || errno != ECHILD)
		fail("init: children left");
	return finish_verdict();
}

int main(int argc, char **argv)
{
	char text[32], byte;
	int sync[2];
	pid_t init;

	victim_start(argc, argv);
	if (unshare(CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC))
		setup_failed("unshare");
	if (pipe(sync))
		setup_failed("pipe");
	init = fork();
	if (init < 0)
		setup_failed("fork");
	if (init == 0) {
		close(sync[0]);
		return init_main(sync[1]);
	}
	close(sync[1]);
	if (read(sync[0], &byte, 1) != 1)
		return 2;
	snprintf(text, sizeof(text), "%d", (int)init);
	if (publish("ready", text))
		return 2;
	return 0;
}
