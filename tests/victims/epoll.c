/*
 * epoll: crest dump/restore integration-test victim (one process, one thread).
 *
 * Usage: epoll OUTDIR
 *
 * Sets up, on fixed descriptors:
 *   - fd 40/41: a pipe (read/write end); one byte 'x' is written into it and left unread;
 *   - fd 42: an eventfd with counter 3, left unread;
 *   - fd 43: an epoll instance (EPOLL_CLOEXEC) watching fd 40 for EPOLLIN (level
 *     triggered, data 0x1111) and fd 42 for EPOLLIN|EPOLLET (data 0x2222);
 *   - fd 44: a second pipe read end that the epoll does NOT watch;
 *   - the first pipe's write end, dup'ed to fd 900, watched there for EPOLLOUT (data
 *     0x3333), and fd 900 closed: the watch lives on, keyed by a number no longer open.
 * Then loops in a 10 ms nanosleep and writes OUTDIR/ready.
 * On SIGTERM it checks:
 *   - fd 43 is an epoll with FD_CLOEXEC set;
 *   - epoll_wait(fd 43, timeout 0) reports exactly three events: data 0x1111 with EPOLLIN,
 *     data 0x2222 with EPOLLIN and data 0x3333 with EPOLLOUT (on the write end, not the
 *     read end of the same pipe), i.e. the watch list, its data words and the readiness
 *     of the targets survived;
 *   - fd 40 still holds 'x' and fd 42 still counts 3;
 *   - a second epoll_wait reports 0x1111 and 0x3333 again (level triggered) but not
 *     0x2222 (edge triggered, no new event);
 *   - only fds 40-44 are open above 2, and the pid is unchanged.
 * Writes PASS or FAIL: ... to OUTDIR/verdict and exits 0 or 1.
 * Self-test: -DCREST_SELFTEST_BREAK=1 removes fd 42 from the epoll before the checks.
 */
#define _GNU_SOURCE
#include "victim.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <stdint.h>
#include <time.h>

static void place(int fd, int want)
{
	if (fd == want)
		return;
	if (dup2(fd, want) < 0)
		setup_failed("dup2");
	close(fd);
}

static void wait_events(int want_level_only)
{
	struct epoll_event ev[8];
	int n, i, seen1 = 0, seen2 = 0, seen3 = 0;

	do
		n = epoll_wait(43, ev, 8, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		fail("epoll_wait: %s", strerror(errno));
		return;
	}
	for (i = 0; i < n; i++) {
		if (ev[i].data.u64 == 0x1111 && (ev[i].events & EPOLLIN))
			seen1++;
		else if (ev[i].data.u64 == 0x2222 && (ev[i].events & EPOLLIN))
			seen2++;
		else if (ev[i].data.u64 == 0x3333 && (ev[i].events & EPOLLOUT))
			seen3++;
		else
			fail("unexpected event data %llx events %x", (unsigned long long)ev[i].data.u64,
			     ev[i].events);
	}
	if (seen1 != 1)
		fail("%s wait: pipe event seen %d times, want 1", want_level_only ? "second" : "first",
		     seen1);
	if (seen3 != 1)
		fail("%s wait: closed-number write end event seen %d times, want 1",
		     want_level_only ? "second" : "first", seen3);
	if (seen2 != (want_level_only ? 0 : 1))
		fail("%s wait: eventfd event seen %d times, want %d",
		     want_level_only ? "second" : "first", seen2, want_level_only ? 0 : 1);
}

int main(int argc, char **argv)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	struct epoll_event ev;
	int p[2], q[2], efd, ep, iter = 0;
	static const int allowed[] = { 40, 41, 42, 43, 44 };
	uint64_t count = 0;
	char c = 0;

	victim_start(argc, argv);
	install_term_handler();

	if (pipe(p) || pipe(q))
		setup_failed("pipe");
	place(p[0], 40);
	place(p[1], 41);
	close(q[1]);
	place(q[0], 44);
	efd = eventfd(3, EFD_NONBLOCK);
	if (efd < 0)
		setup_failed("eventfd");
	place(efd, 42);
	if (write(41, "x", 1) != 1)
		setup_failed("write");
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		setup_failed("epoll_create1");
	if (ep != 43) {
		if (dup3(ep, 43, O_CLOEXEC) < 0)
			setup_failed("dup3");
		close(ep);
	}
	ev.events = EPOLLIN;
	ev.data.u64 = 0x1111;
	if (epoll_ctl(43, EPOLL_CTL_ADD, 40, &ev))
		setup_failed("epoll_ctl pipe");
	ev.events = EPOLLIN | EPOLLET;
	ev.data.u64 = 0x2222;
	if (epoll_ctl(43, EPOLL_CTL_ADD, 42, &ev))
		setup_failed("epoll_ctl eventfd");
	ev.events = EPOLLOUT;
	ev.data.u64 = 0x3333;
	if (dup2(41, 900) != 900 || epoll_ctl(43, EPOLL_CTL_ADD, 900, &ev) || close(900))
		setup_failed("epoll_ctl dup'ed write end");

	while (!got_term) {
		if (++iter == 10)
			write_ready();
		nanosleep(&ts, NULL);
	}
	if (!ready_pid)
		fail("SIGTERM before ready");

#ifdef CREST_SELFTEST_BREAK
	epoll_ctl(43, EPOLL_CTL_DEL, 42, NULL);
#endif
	if (!(fcntl(43, F_GETFD) & FD_CLOEXEC))
		fail("fd 43 lost FD_CLOEXEC");
	wait_events(0);
	if (read(40, &c, 1) != 1 || c != 'x')
		fail("pipe byte: got %d (%s)", c, strerror(errno));
	if (write(41, "y", 1) != 1)
		fail("refilling the pipe: %s", strerror(errno));
	if (read(42, &count, sizeof(count)) != sizeof(count) || count != 3)
		fail("eventfd count %llu, want 3", (unsigned long long)count);
	wait_events(1);
	check_open_fds(allowed, 5);
	check_pid();
	return finish_verdict();
}
