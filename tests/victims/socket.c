/*
 * socket: crest integration-test victim holding a UNIX socketpair with a byte queued:
 * dumped and restored, it must find its pair, its queue and both directions working.
 *
 * Usage: socket OUTDIR            (OUTDIR: absolute path of a writable directory)
 *
 * The victim does not daemonize. At start it closes every inherited fd above 2, then sets up:
 *   - a SIGTERM handler (sets a flag; no SA_RESTART);
 *   - socketpair(AF_UNIX, SOCK_STREAM) moved to fds 5 and 6 (dup2, originals closed,
 *     FD_CLOEXEC clear);
 *   - one byte 'q' written on fd 5 and left unread in fd 6's receive queue;
 *   - OUTDIR/ready containing the pid (no newline; via ready.tmp + rename).
 * Main loop (about every 10 ms, nanosleep; EINTR ignored): counter++, and OUTDIR/alive
 * is rewritten with the counter value in decimal (no newline; via alive.tmp + rename),
 * so a harness can watch it keep increasing. The loop also
 * checks that the counter never stepped by anything but 1 (shadow copy on the stack).
 *
 * On SIGTERM the loop ends and it checks:
 *   - getpid() equals the pid written to ready;
 *   - the counter went up by exactly 1 per iteration, reached at least 5, and the last
 *     value written to alive equals it (every alive update succeeded);
 *   - fds 5 and 6 are still unix stream sockets and nothing else is open
 *     above fd 2;
 *   - the socketpair still works: the 'q' queued before is still in fd 6's queue, a byte
 *     'x' written on fd 5 arrives on fd 6 right after it ("qx"), and a byte 'y' written on
 *     fd 6 arrives on fd 5 (non-blocking reads, sends with MSG_NOSIGNAL: a broken pair
 *     gives a FAIL verdict instead of a hang or a SIGPIPE death).
 * Verdict: OUTDIR/verdict (via verdict.tmp + rename) holds exactly "PASS" (exit 0) or
 * "FAIL: " followed by every failed check, separated by "; " (exit 1). A setup error
 * writes "FAIL: setup: ..." and exits 2 without writing ready.
 *
 * Self test: -DCREST_SELFTEST_BREAK=N breaks one thing right before the checks, to prove
 * that they can fail (bare -DCREST_SELFTEST_BREAK means N=1): 1 the queued 'q' is read
 * away, 2 fd 6 is replaced by the end of a new socketpair (whose peer stays open on fd 3),
 * 3 the counter is set back to 0.
 *
 * Build: gcc -O1 -static -Wall -Wextra -pthread -o socket socket.c -lm
 */
#define _GNU_SOURCE
#define VICTIM_FAILURES_BYTES 4096
#include "victim.h"

#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#define FD_A 5
#define FD_B 6
#define MIN_COUNT 5
#define SLEEP_NS (10 * 1000 * 1000L)

static struct stat start_a, start_b;
static volatile uint64_t counter;
static uint64_t last_alive;  /* last value successfully written to alive */
static uint64_t alive_errors;
static uint64_t step_errors; /* iterations where the counter did not step by exactly 1 */

/* send without SIGPIPE: a broken pair must give a verdict, not kill the victim */
static int send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= n;
	}
	return 0;
}

/* non-blocking read of exactly len bytes that are expected to be queued already */
static int recv_now(int fd, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = recv(fd, buf + got, len - got, MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += n;
	}
	return 0;
}

/* a restored socket is a new inode: fd must still be a unix stream socket */
static void check_same_socket(int fd, const struct stat *want)
{
	struct stat st;
	int domain = 0, type = 0;
	socklen_t len = sizeof(int);

	(void)want;
	if (fstat(fd, &st))
		fail("fd %d: fstat: %s", fd, strerror(errno));
	else if (!S_ISSOCK(st.st_mode))
		fail("fd %d is no longer a socket", fd);
	else if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) ||
		 getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) || domain != AF_UNIX || type != SOCK_STREAM)
		fail("fd %d is no longer a unix stream socket (%d, %d)", fd, domain, type);
}

static void selftest_break(void)
{
#ifdef CREST_SELFTEST_BREAK
	char c;
	int other[2];

	if (CREST_SELFTEST_BREAK == 1)
		recv_now(FD_B, &c, 1);
	if (CREST_SELFTEST_BREAK == 2 && socketpair(AF_UNIX, SOCK_STREAM, 0, other) == 0) {
		dup2(other[1], FD_B);
		close(other[1]);
	}
	if (CREST_SELFTEST_BREAK == 3)
		counter = 0;
#endif
}

static void verify(uint64_t shadow)
{
	static const int sockets[] = { FD_A, FD_B };
	char buf[2];

	selftest_break();

	check_pid();
	if (step_errors || shadow != counter)
		fail("counter did not step by 1 (%llu bad steps, counter %llu, shadow %llu)",
		     (unsigned long long)step_errors, (unsigned long long)counter, (unsigned long long)shadow);
	if (counter < MIN_COUNT)
		fail("counter only reached %llu, want >= %d", (unsigned long long)counter, MIN_COUNT);
	if (alive_errors || last_alive != counter)
		fail("alive: %llu failed updates, last written %llu, counter %llu",
		     (unsigned long long)alive_errors, (unsigned long long)last_alive,
		     (unsigned long long)counter);

	check_same_socket(FD_A, &start_a);
	check_same_socket(FD_B, &start_b);
	check_open_fds(sockets, 2);

	if (send_all(FD_A, "x", 1))
		fail("send on fd %d: %s", FD_A, strerror(errno));
	else if (recv_now(FD_B, buf, 2))
		fail("fd %d: 'q' + 'x' not readable: %s", FD_B, strerror(errno));
	else if (buf[0] != 'q' || buf[1] != 'x')
		fail("fd %d read \"%.2s\", want \"qx\"", FD_B, buf);
	if (send_all(FD_B, "y", 1))
		fail("send on fd %d: %s", FD_B, strerror(errno));
	else if (recv_now(FD_A, buf, 1))
		fail("fd %d: 'y' not readable: %s", FD_A, strerror(errno));
	else if (buf[0] != 'y')
		fail("fd %d read '%c', want 'y'", FD_A, buf[0]);
}

int main(int argc, char **argv)
{
	struct timespec ts = { 0, SLEEP_NS };
	uint64_t shadow = 0;
	int sv[2];
	char text[32];

	victim_start(argc, argv);
	install_term_handler();

	/* fds above 2 are all closed, so socketpair() gives 3 and 4, distinct from 5 and 6 */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		setup_failed("socketpair");
	if (dup2(sv[0], FD_A) != FD_A || dup2(sv[1], FD_B) != FD_B)
		setup_failed("dup2");
	if (sv[0] != FD_A && sv[0] != FD_B)
		close(sv[0]);
	if (sv[1] != FD_A && sv[1] != FD_B)
		close(sv[1]);
	if (fstat(FD_A, &start_a) || fstat(FD_B, &start_b))
		setup_failed("fstat socket");
	if (send_all(FD_A, "q", 1))
		setup_failed("write q");

	write_ready();

	while (!got_term) {
		if (counter != shadow)
			step_errors++;
		counter++;
		shadow = counter;
		snprintf(text, sizeof(text), "%llu", (unsigned long long)counter);
		if (publish("alive", text))
			alive_errors++;
		else
			last_alive = counter;
		nanosleep(&ts, NULL); /* EINTR (SIGTERM, or a ptrace stop) is fine */
	}

	verify(shadow);
	return finish_verdict();
}
