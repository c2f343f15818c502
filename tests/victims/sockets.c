/*
 * sockets: crest integration-test victim for unix and inet sockets, a parent P and a
 * child C. Meant to run in a network namespace the test made (it binds 127.0.0.1).
 *
 * Usage: sockets OUTDIR [tcp]     (OUTDIR: absolute path of a writable directory; with
 *                                  "tcp", P also holds an established loopback TCP
 *                                  connection, dumped only with --tcp-established)
 *
 * Setup, in P before the fork (C inherits and keeps only its end of the first pair):
 *   1. a stream socketpair: P keeps end 0, C end 1; P writes "from-parent" and C writes
 *      "from-child", and neither reads before the checks;
 *   2. a seqpacket socketpair with "a", "bb", "ccc" queued on one end (boundaries);
 *   3. a datagram socketpair with "d1", "d2" queued;
 *   4. a stream listener bound to OUTDIR/l.sock (mode 0640, backlog 4) and a client
 *      connected to it but not accepted;
 *   5. a datagram socket bound to the abstract name "\0crest-sockets-PID", with "x1" and
 *      "x2" sent to it from an unbound socket closed since;
 *   6. a stream socketpair whose other end wrote "last words" and was closed;
 *   7. a stream socketpair whose end s was shut down for writing (SHUT_WR);
 *   8. SO_RCVBUF 65536 and SO_RCVTIMEO 2.5 s on pair 1's end 0; O_NONBLOCK on the listener;
 *   9. a TCP listener on 127.0.0.1 (ephemeral port, SO_REUSEADDR);
 *  10. a UDP socket bound to 127.0.0.1 (ephemeral port);
 *  11. a second stream socketpair, P keeping end 0 and C end 1, with a pipe's read end in
 *      flight on it (SCM_RIGHTS, one byte "F"): the pipe holds "piped" and P closed both
 *      its ends, so the pipe lives only in the queue;
 *  12. with "tcp": a TCP connection to the listener of 9, both ends held, "est" queued on
 *      the accepted end and "ack" on the client end.
 * Then P forks C, writes ready, and waits for SIGTERM; C waits for SIGUSR1.
 *
 * On SIGTERM P checks each object: the queued data arrives in order with its boundaries
 * and nothing more; the listener's pending connection is accepted and carries data both
 * ways; the names (getsockname), the file's mode, the options and flags are as set; the
 * orphan reads "last words" then end of file; the shut down pair reads end of file on
 * one side and still carries data the other way; the TCP listener accepts a new
 * connection on its port; the UDP socket receives a datagram sent to itself; with "tcp",
 * both queued strings arrive and a reply goes through. Then C
 * (on SIGUSR1) checks its end of pair 1 ("from-parent" queued, a reply goes through) and
 * receives the pipe from pair 2: "F" with one descriptor, which reads "piped", then end of
 * file.
 * Verdict: OUTDIR/verdict holds "PASS" or "FAIL: " and the failed checks.
 *
 * Build: gcc -O1 -static -Wall -Wextra -o sockets sockets.c
 */
#define _GNU_SOURCE
#define VICTIM_TREE
#include "victim.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

static int pair1[2], seqp[2], dgp[2], lsn, client, abst, orphan, shut[2], tcpl, udp, pair2[2];
static int with_tcp, tcp_c = -1, tcp_a = -1;
static struct sockaddr_un lsn_addr, abst_addr;
static socklen_t abst_len;
static struct sockaddr_in tcp_addr, udp_addr;

/* one non-blocking receive, exactly `want` (NULL: expect nothing queued) */
static void expect(int fd, const char *want, const char *what)
{
	char buf[256];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	if (!want) {
		if (n >= 0)
			fail("%s: %zd more bytes queued", what, n);
		else if (errno != EAGAIN)
			fail("%s: recv: %s", what, strerror(errno));
		return;
	}
	if (n < 0) {
		fail("%s: recv: %s", what, strerror(errno));
		return;
	}
	buf[n] = 0;
	if (strcmp(buf, want))
		fail("%s: got \"%s\", want \"%s\"", what, buf, want);
}

static void send_str(int fd, const char *s, const char *what)
{
	if (send(fd, s, strlen(s), MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)strlen(s))
		fail("%s: send: %s", what, strerror(errno));
}

static void setup(void)
{
	int one = 1, buf = 65536, tmp, x[2];
	struct timeval tv = { 2, 500000 };
	socklen_t len;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair1) || socketpair(AF_UNIX, SOCK_SEQPACKET, 0, seqp) ||
	    socketpair(AF_UNIX, SOCK_DGRAM, 0, dgp) || socketpair(AF_UNIX, SOCK_STREAM, 0, shut))
		setup_failed("socketpair");
	if (setsockopt(pair1[0], SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf)) ||
	    setsockopt(pair1[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)))
		setup_failed("setsockopt");
	send(pair1[0], "from-parent", 11, 0);
	send(seqp[0], "a", 1, 0);
	send(seqp[0], "bb", 2, 0);
	send(seqp[0], "ccc", 3, 0);
	send(dgp[0], "d1", 2, 0);
	send(dgp[0], "d2", 2, 0);

	lsn = socket(AF_UNIX, SOCK_STREAM, 0);
	lsn_addr.sun_family = AF_UNIX;
	snprintf(lsn_addr.sun_path, sizeof(lsn_addr.sun_path), "%.96s/l.sock", outdir);
	if (lsn < 0 || bind(lsn, (struct sockaddr *)&lsn_addr, sizeof(lsn_addr)) || listen(lsn, 4) ||
	    chmod(lsn_addr.sun_path, 0640))
		setup_failed("unix listener");
	client = socket(AF_UNIX, SOCK_STREAM, 0);
	if (client < 0 || connect(client, (struct sockaddr *)&lsn_addr, sizeof(lsn_addr)))
		setup_failed("connect to the listener");
	if (fcntl(lsn, F_SETFL, O_NONBLOCK))
		setup_failed("O_NONBLOCK");

	abst = socket(AF_UNIX, SOCK_DGRAM, 0);
	abst_addr.sun_family = AF_UNIX;
	abst_len = offsetof(struct sockaddr_un, sun_path) + 1 +
		   snprintf(abst_addr.sun_path + 1, sizeof(abst_addr.sun_path) - 1, "crest-sockets-%d", getpid());
	if (abst < 0 || bind(abst, (struct sockaddr *)&abst_addr, abst_len))
		setup_failed("abstract bind");
	tmp = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (sendto(tmp, "x1", 2, 0, (struct sockaddr *)&abst_addr, abst_len) != 2 ||
	    sendto(tmp, "x2", 2, 0, (struct sockaddr *)&abst_addr, abst_len) != 2)
		setup_failed("sendto abstract");
	close(tmp);

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, x))
		setup_failed("socketpair");
	send(x[1], "last words", 10, 0);
	close(x[1]);
	orphan = x[0];
	if (shutdown(shut[0], SHUT_WR))
		setup_failed("shutdown");

	tcpl = socket(AF_INET, SOCK_STREAM, 0);
	tcp_addr.sin_family = AF_INET;
	tcp_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	len = sizeof(tcp_addr);
	if (tcpl < 0 || setsockopt(tcpl, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(tcpl, (struct sockaddr *)&tcp_addr, sizeof(tcp_addr)) || listen(tcpl, 8) ||
	    getsockname(tcpl, (struct sockaddr *)&tcp_addr, &len))
		setup_failed("tcp listener");
	udp = socket(AF_INET, SOCK_DGRAM, 0);
	udp_addr = tcp_addr;
	udp_addr.sin_port = 0;
	len = sizeof(udp_addr);
	if (udp < 0 || bind(udp, (struct sockaddr *)&udp_addr, sizeof(udp_addr)) ||
	    getsockname(udp, (struct sockaddr *)&udp_addr, &len))
		setup_failed("udp bind");
	{
		int q[2];
		char c = 'F';
		struct iovec iov = { &c, 1 };
		char cbuf[CMSG_SPACE(sizeof(int))];
		struct msghdr m = { 0 };
		struct cmsghdr *ch;

		if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair2) || pipe(q) || write(q[1], "piped", 5) != 5)
			setup_failed("pair 2");
		memset(cbuf, 0, sizeof(cbuf));
		m.msg_iov = &iov;
		m.msg_iovlen = 1;
		m.msg_control = cbuf;
		m.msg_controllen = sizeof(cbuf);
		ch = CMSG_FIRSTHDR(&m);
		ch->cmsg_level = SOL_SOCKET;
		ch->cmsg_type = SCM_RIGHTS;
		ch->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(ch), &q[0], sizeof(int));
		if (sendmsg(pair2[0], &m, 0) != 1)
			setup_failed("sendmsg SCM_RIGHTS");
		close(q[0]);
		close(q[1]);
	}
	if (!with_tcp)
		return;
	tcp_c = socket(AF_INET, SOCK_STREAM, 0);
	if (tcp_c < 0 || connect(tcp_c, (struct sockaddr *)&tcp_addr, sizeof(tcp_addr)))
		setup_failed("tcp connect");
	tcp_a = accept(tcpl, NULL, NULL);
	if (tcp_a < 0 || send(tcp_c, "est", 3, 0) != 3 || send(tcp_a, "ack", 3, 0) != 3)
		setup_failed("tcp accept");
}

static void check_unix(void)
{
	struct sockaddr_un a;
	socklen_t len = sizeof(a);
	struct stat st;
	struct timeval tv;
	int v, acc;
	char buf[64];

	expect(pair1[0], "from-child", "pair 1 (P)");
	expect(pair1[0], NULL, "pair 1 (P)");
	len = sizeof(v);
	if (getsockopt(pair1[0], SOL_SOCKET, SO_RCVBUF, &v, &len) || v != 2 * 65536)
		fail("SO_RCVBUF %d, want %d", v, 2 * 65536);
	len = sizeof(tv);
	if (getsockopt(pair1[0], SOL_SOCKET, SO_RCVTIMEO, &tv, &len) || tv.tv_sec != 2 || tv.tv_usec != 500000)
		fail("SO_RCVTIMEO %ld.%06ld", (long)tv.tv_sec, (long)tv.tv_usec);

	expect(seqp[1], "a", "seqpacket 1");
	expect(seqp[1], "bb", "seqpacket 2");
	expect(seqp[1], "ccc", "seqpacket 3");
	expect(seqp[1], NULL, "seqpacket");
	expect(dgp[1], "d1", "dgram pair 1");
	expect(dgp[1], "d2", "dgram pair 2");
	expect(dgp[1], NULL, "dgram pair");

	len = sizeof(a);
	if (getsockname(lsn, (struct sockaddr *)&a, &len) || strcmp(a.sun_path, lsn_addr.sun_path))
		fail("listener name \"%s\"", a.sun_path);
	if (stat(lsn_addr.sun_path, &st) || !S_ISSOCK(st.st_mode) || (st.st_mode & 07777) != 0640)
		fail("listener file mode %o", st.st_mode);
	if (!(fcntl(lsn, F_GETFL) & O_NONBLOCK))
		fail("listener lost O_NONBLOCK");
	acc = accept(lsn, NULL, NULL);
	if (acc < 0) {
		fail("accept the pending connection: %s", strerror(errno));
	} else {
		send_str(client, "hello", "client");
		expect(acc, "hello", "accepted");
		send_str(acc, "olleh", "accepted");
		expect(client, "olleh", "client");
		close(acc);
	}
	if (accept(lsn, NULL, NULL) >= 0 || errno != EAGAIN)
		fail("a second pending connection");

	len = sizeof(a);
	if (getsockname(abst, (struct sockaddr *)&a, &len) || len != abst_len ||
	    memcmp(&a, &abst_addr, abst_len))
		fail("abstract name lost (length %u)", len);
	expect(abst, "x1", "abstract 1");
	expect(abst, "x2", "abstract 2");
	expect(abst, NULL, "abstract");

	expect(orphan, "last words", "orphan");
	if (recv(orphan, buf, sizeof(buf), MSG_DONTWAIT) != 0)
		fail("orphan: no end of file after its queue");

	if (recv(shut[1], buf, sizeof(buf), MSG_DONTWAIT) != 0)
		fail("shut down pair: no end of file");
	send_str(shut[1], "still", "shut down pair");
	expect(shut[0], "still", "shut down pair");
}

/* C: the pipe in flight on pair 2 arrives with its data */
static void check_in_flight(void)
{
	char c = 0, buf[16], cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &c, 1 };
	struct msghdr m = { 0 };
	struct cmsghdr *ch;
	int fd = -1;
	ssize_t n;

	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = cbuf;
	m.msg_controllen = sizeof(cbuf);
	if (recvmsg(pair2[1], &m, MSG_DONTWAIT) != 1 || c != 'F') {
		fail("pair 2: no \"F\" (%s)", strerror(errno));
		return;
	}
	ch = CMSG_FIRSTHDR(&m);
	if (!ch || ch->cmsg_type != SCM_RIGHTS) {
		fail("pair 2: no descriptor in flight");
		return;
	}
	memcpy(&fd, CMSG_DATA(ch), sizeof(int));
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	if (n != 5 || strcmp(buf, "piped"))
		fail("pipe in flight: read \"%s\" (%zd)", buf, n);
	else if (read(fd, buf, sizeof(buf)) != 0)
		fail("pipe in flight: no end of file after its data");
	close(fd);
}

static void check_inet(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int c, s;

	if (getsockname(tcpl, (struct sockaddr *)&a, &len) || a.sin_port != tcp_addr.sin_port)
		fail("TCP listener port %d, want %d", ntohs(a.sin_port), ntohs(tcp_addr.sin_port));
	c = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(c, (struct sockaddr *)&tcp_addr, sizeof(tcp_addr))) {
		fail("connect to the TCP listener: %s", strerror(errno));
	} else {
		s = accept(tcpl, NULL, NULL);
		if (s < 0) {
			fail("TCP accept: %s", strerror(errno));
		} else {
			struct pollfd p = { s, POLLIN, 0 };

			send_str(c, "tcp", "tcp client");
			poll(&p, 1, 1000);
			expect(s, "tcp", "tcp accepted");
			close(s);
		}
	}
	close(c);
	len = sizeof(a);
	if (getsockname(udp, (struct sockaddr *)&a, &len) || a.sin_port != udp_addr.sin_port)
		fail("UDP port %d, want %d", ntohs(a.sin_port), ntohs(udp_addr.sin_port));
	if (sendto(udp, "udp", 3, 0, (struct sockaddr *)&udp_addr, sizeof(udp_addr)) != 3) {
		fail("UDP sendto: %s", strerror(errno));
	} else {
		struct pollfd p = { udp, POLLIN, 0 };

		poll(&p, 1, 1000);
		expect(udp, "udp", "UDP");
	}
	if (with_tcp) {
		struct pollfd p = { tcp_a, POLLIN, 0 };

		poll(&p, 1, 1000);
		expect(tcp_a, "est", "tcp connection");
		p.fd = tcp_c;
		poll(&p, 1, 1000);
		expect(tcp_c, "ack", "tcp connection");
		send_str(tcp_a, "back", "tcp connection");
		p.fd = tcp_c;
		poll(&p, 1, 1000);
		expect(tcp_c, "back", "tcp connection");
	}
}

int main(int argc, char **argv)
{
	victim_start(argc, argv);
	install_term_handler();
	install_usr1_handler();
	with_tcp = argc > 2 && !strcmp(argv[2], "tcp");
	setup();
	if (fork_child()) {
		close(pair1[0]);
		close(pair2[0]);
		send(pair1[1], "from-child", 10, 0);
		while (child_waiting())
			nap();
		check_child_ids();
		expect(pair1[1], "from-parent", "pair 1 (C)");
		expect(pair1[1], NULL, "pair 1 (C)");
		check_in_flight();
		child_report_exit();
	}
	close(pair1[1]);
	close(pair2[1]);
	/* C has written into pair 1 before it is dumped */
	for (int i = 0; i < 200; i++) {
		int n = 0;

		if (recv(pair1[0], &n, 1, MSG_PEEK | MSG_DONTWAIT) == 1)
			break;
		nap();
	}
	write_ready();
	while (!got_term)
		nap();
	check_pid();
	check_unix();
	check_inet();
	collect_child();
	return finish_verdict();
}
