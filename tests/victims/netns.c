/*
 * netns: crest integration-test victim for a network namespace of its own: loopback, a veth
 * pair, a bridge, IPv4 and IPv6 addresses, routes and sysctls.
 *
 * Usage: netns OUTDIR [OUTER]   (OUTDIR: absolute path of a writable directory; run as root,
 * with iproute2's `ip` on PATH, which the setup uses)
 *
 * With OUTER (a link name), P first makes veth pair OUTER/crestin0 in its parent's network
 * namespace, and a helper left behind there moves crestin0 into P's new namespace, where it
 * gets 198.18.0.1/24 and goes up: a veth whose peer is outside (restored with --external
 * veth[crestin0]:OUTER).
 *
 * Setup: P calls unshare(CLONE_NEWNET) and, with `ip`, brings lo up, adds veth pair eth0/
 * eth1 and bridge br0 with eth1 as its port, all three up, addresses 192.0.2.1/24 and
 * 2001:db8::1/64 (nodad) on eth0 and 198.51.100.1/24 on br0, a route to 203.0.113.0/24 via
 * 192.0.2.2, mtu 1400 on eth0, and sets net.ipv4.conf.eth0.forwarding to 1. It records the
 * It binds a UDP socket to 192.0.2.1:5000 and a unix datagram socket to the abstract name
 * "crest-netns" (both of the namespace). It records the
 * links (`ip -o link`, without their state and qdisc words), the addresses (`ip -o addr`,
 * without lifetimes), the IPv4 routes (`ip route`) and the sysctl into OUTDIR/before. Then
 * OUTDIR/ready and a wait for SIGTERM.
 *
 * On SIGTERM P records the same into OUTDIR/after and checks that both are equal (within 2 s,
 * while carrier states settle), that a datagram sent from a new socket reaches each of the two
 * sockets, that lo is
 * up and 127.0.0.1 answers a UDP datagram sent to itself, and that P is still in a network
 * namespace other than its parent's.
 * Verdict: OUTDIR/verdict holds "PASS" or "FAIL: " and the failed checks.
 *
 * Build: gcc -O1 -static -Wall -Wextra -o netns netns.c
 */
#define _GNU_SOURCE
#include "victim.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>

static int sh(const char *cmd)
{
	int r = system(cmd);

	return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

/* What the restore must bring back, as `ip` shows it, into OUTDIR/name. */
static int record(const char *name)
{
	char cmd[5120];

	snprintf(cmd, sizeof(cmd),
		 "{ ip -o link | sed -E 's/@if[0-9]+//; s/ state [A-Z]+//; s/ qdisc [a-z_]+//; s/ qlen [0-9]+//'; "
		 "ip -o addr | sed -E 's/ +valid_lft.*//; s/ tentative//'; ip route; "
		 "cat /proc/sys/net/ipv4/conf/eth0/forwarding; } > %s/%s 2>&1",
		 outdir, name);
	return sh(cmd);
}

/* A datagram from a new socket reaches socket `s`, bound to `to` (len `n`). */
static int reaches(int s, int family, const void *to, socklen_t n)
{
	char b[8] = {0};
	int c = socket(family, SOCK_DGRAM, 0), ok;

	if (c < 0)
		return 0;
	ok = sendto(c, "dgram", 5, 0, to, n) == 5;
	close(c);
	for (int i = 0; ok && i < 100; i++) {
		if (recv(s, b, sizeof(b), MSG_DONTWAIT) == 5)
			return !memcmp(b, "dgram", 5);
		usleep(1000);
	}
	return 0;
}

static int loopback_echo(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	char b[8] = {0};
	int s = socket(AF_INET, SOCK_DGRAM, 0), ok;

	if (s < 0)
		return 0;
	ok = bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	     getsockname(s, (struct sockaddr *)&a, &len) == 0 &&
	     sendto(s, "ping", 4, 0, (struct sockaddr *)&a, sizeof(a)) == 4 &&
	     recv(s, b, sizeof(b), MSG_DONTWAIT) == 4 && !memcmp(b, "ping", 4);
	close(s);
	return ok;
}

int main(int argc, char **argv)
{
	char a[4200], ca[8192], cb[8192];
	struct stat self, parent;
	struct sockaddr_in udp_at = {.sin_family = AF_INET, .sin_port = htons(5000)};
	struct sockaddr_un unix_at = {.sun_family = AF_UNIX, .sun_path = "\0crest-netns"};
	socklen_t unix_len = offsetof(struct sockaddr_un, sun_path) + 12;
	int udp, unx;

	victim_start(argc, argv);
	install_term_handler();
	setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 0);
	if (argc > 2) {
		char cmd[256];
		int go[2];
		pid_t helper;

		snprintf(cmd, sizeof(cmd), "ip link add %s type veth peer name crestin0", argv[2]);
		if (pipe(go) < 0 || sh(cmd) != 0)
			setup_failed("outer veth");
		helper = fork();
		if (helper == 0) {
			char c;

			close(go[1]);
			if (read(go[0], &c, 1) != 1)
				_exit(2);
			snprintf(cmd, sizeof(cmd), "ip link set crestin0 netns %d", (int)getppid());
			_exit(sh(cmd));
		}
		if (helper < 0 || unshare(CLONE_NEWNET) < 0)
			setup_failed("unshare");
		if (write(go[1], "g", 1) != 1 || waitpid(helper, &go[0], 0) != helper || go[0] != 0)
			setup_failed("moving crestin0 in");
		if (sh("ip addr add 198.18.0.1/24 dev crestin0 && ip link set crestin0 up") != 0)
			setup_failed("crestin0");
	} else if (unshare(CLONE_NEWNET) < 0)
		setup_failed("unshare");
	if (sh("ip link set lo up && ip link add eth0 type veth peer name eth1 && "
	       "ip link add br0 type bridge && ip link set eth1 master br0 && "
	       "ip link set eth0 mtu 1400 && ip link set eth0 up && ip link set eth1 up && "
	       "ip link set br0 up && ip addr add 192.0.2.1/24 dev eth0 && "
	       "ip addr add 2001:db8::1/64 dev eth0 nodad && "
	       "ip addr add 198.51.100.1/24 dev br0 && "
	       "ip route add 203.0.113.0/24 via 192.0.2.2 dev eth0 && "
	       "echo 1 > /proc/sys/net/ipv4/conf/eth0/forwarding") != 0)
		setup_failed("ip");
	/* Sockets of the namespace: UDP on eth0's address, a unix one by an abstract name. */
	udp_at.sin_addr.s_addr = inet_addr("192.0.2.1");
	udp = socket(AF_INET, SOCK_DGRAM, 0);
	unx = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (udp < 0 || bind(udp, (struct sockaddr *)&udp_at, sizeof(udp_at)) < 0 || unx < 0 ||
	    bind(unx, (struct sockaddr *)&unix_at, unix_len) < 0)
		setup_failed("sockets");
	/* Until the bridge's port is forwarding and the links settle. */
	nap();
	if (record("before") != 0)
		setup_failed("recording");
	write_ready();
	while (!got_term)
		nap();

	check_pid();
	if (!settled(record, ca, cb, sizeof(ca)))
		fail("the namespace differs: before\n%s\nafter\n%s", ca, cb);
	if (!loopback_echo())
		fail("no datagram over lo");
	if (!reaches(udp, AF_INET, &udp_at, sizeof(udp_at)))
		fail("no datagram to the UDP socket on 192.0.2.1:5000");
	if (!reaches(unx, AF_UNIX, &unix_at, unix_len))
		fail("no datagram to the unix socket @crest-netns");
	snprintf(a, sizeof(a), "/proc/%d/ns/net", (int)getppid());
	if (stat("/proc/self/ns/net", &self) || stat(a, &parent))
		fail("stat of a network namespace: %s", strerror(errno));
	else if (self.st_ino == parent.st_ino)
		fail("in its parent's network namespace");
	return finish_verdict();
}
