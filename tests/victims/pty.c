/*
 * pty: crest integration-test victim for pseudoterminals and controlling terminals.
 *
 * Usage: pty OUTDIR            (OUTDIR: absolute path of a writable directory)
 *
 * Setup, in the parent P (not a session leader):
 *   - pair A: its master at fd 10; its slave at fd 11 (O_NOCTTY) and again at fd 12
 *     (O_NONBLOCK, a second open file); on the slave: ECHO off, VINTR = ^A, CLOCAL locked
 *     (TIOCSLCKTRMIOS), a 33x111 window; "to-slave\n" written into the master (queued for
 *     the slave to read) and "to-master\n" into the slave (queued for the master);
 *   - pair B: only its master, at fd 14: locked (TIOCSPTLCK), packet mode, exclusive.
 * Then the child C: setsid(), pair A's slave as its controlling terminal (TIOCSCTTY on fd 11),
 * /dev/tty opened at fd 13, and a grandchild G in a process group of its own, made the
 * terminal's foreground group. C tells P over a pipe, P writes OUTDIR/ready and waits for
 * SIGTERM.
 *
 * On SIGTERM P checks: both pty indices are the ones they had; pair A's slave settings,
 * lock mask and window size; the flags of fds 11 and 12; fd 12 reads "to-slave\n" and
 * fd 10 "to-master\n"; pair B's lock, packet and exclusive modes. Then SIGUSR1 to C, which
 * checks that the terminal is its controlling one (TIOCGSID is C, /proc/self/stat's tty_nr is
 * it, fd 13 is the same device), that G's group is the foreground one, then kills G.
 * Verdict: OUTDIR/verdict holds "PASS" or "FAIL: " and the failed checks.
 *
 * Build: gcc -O1 -static -Wall -Wextra -o pty pty.c
 */
#define _GNU_SOURCE
#define VICTIM_TREE
#include "victim.h"

#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>

/* the kernel's struct termios, which TIOCGLCKTRMIOS and TIOCSLCKTRMIOS take */
struct ktermios {
	unsigned int c_iflag, c_oflag, c_cflag, c_lflag;
	unsigned char c_line, c_cc[19];
};

static int index_of(int fd)
{
	unsigned int n;

	return ioctl(fd, TIOCGPTN, &n) ? -1 : (int)n;
}

static int open_master(int to)
{
	int fd = posix_openpt(O_RDWR | O_NOCTTY);

	if (fd < 0 || unlockpt(fd) || dup2(fd, to) != to)
		setup_failed("open master");
	close(fd);
	return to;
}

static void open_slave(int master, int flags, int to)
{
	char name[64];
	int fd;

	snprintf(name, sizeof(name), "/dev/pts/%d", index_of(master));
	fd = open(name, O_RDWR | O_NOCTTY | flags);
	if (fd < 0 || dup2(fd, to) != to)
		setup_failed("open slave");
	close(fd);
}

static int get_int(int fd, unsigned long req)
{
	int v = -1;

	return ioctl(fd, req, &v) ? -1 : v;
}

static void expect_read(int fd, const char *want, const char *what)
{
	char buf[64] = "";
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n = -1;

	if (poll(&p, 1, 1000) == 1)
		n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0 || strcmp(buf, want))
		fail("%s read %zd bytes \"%s\", not \"%s\"", what, n, buf, want);
}

static void child(int ready_w)
{
	int one = 1, tty_nr = 0;
	pid_t g, sid = -1, fg = -1;
	struct stat a;
	char stat[512];
	FILE *f;

	if (setsid() < 0 || ioctl(11, TIOCSCTTY, 0))
		setup_failed("setsid/TIOCSCTTY");
	tty_nr = open("/dev/tty", O_RDWR);
	if (tty_nr < 0 || dup2(tty_nr, 13) != 13)
		setup_failed("open /dev/tty at fd 13");
	close(tty_nr);
	tty_nr = 0;
	g = fork();
	if (g < 0)
		setup_failed("fork");
	if (g == 0) {
		setpgid(0, 0);
		for (;;)
			pause();
	}
	setpgid(g, g);
	if (tcsetpgrp(11, g))
		setup_failed("tcsetpgrp");
	if (write(ready_w, &one, 1) != 1)
		setup_failed("ready pipe");
	close(ready_w);
	while (child_waiting())
		nap();
	check_child_ids();
	if (ioctl(11, TIOCGSID, &sid) || sid != getpid())
		fail("the terminal's session is %d, not C's %d", sid, getpid());
	fg = tcgetpgrp(11);
	if (fg != g)
		fail("the foreground group is %d, not G's %d", fg, g);
	f = fopen("/proc/self/stat", "r");
	if (f && fgets(stat, sizeof(stat), f))
		sscanf(strrchr(stat, ')') + 2, "%*c %*d %*d %*d %d", &tty_nr);
	if (f)
		fclose(f);
	sid = -1;
	if (ioctl(13, TIOCGSID, &sid) || sid != getpid())
		fail("fd 13 (/dev/tty) is not C's terminal (session %d)", sid);
	if (fstat(11, &a))
		fail("fstat fd 11");
	else if ((unsigned int)tty_nr != ((minor(a.st_rdev) & 0xff) | (major(a.st_rdev) << 8)))
		fail("tty_nr %#x is not the slave %d:%d", tty_nr, major(a.st_rdev), minor(a.st_rdev));
	kill(g, SIGKILL);
	waitpid(g, NULL, 0);
	child_report_exit();
}

int main(int argc, char **argv)
{
	int pipefd[2], one, a_index, b_index;
	struct termios t;
	struct ktermios lock = { .c_cflag = CLOCAL };
	struct winsize ws = { .ws_row = 33, .ws_col = 111 };

	victim_start(argc, argv);
	install_term_handler();
	install_usr1_handler();
	open_master(10);
	open_slave(10, 0, 11);
	open_slave(10, O_NONBLOCK, 12);
	if (tcgetattr(11, &t))
		setup_failed("tcgetattr");
	t.c_lflag &= ~(ECHO | ECHOE | ECHOK | ECHONL);
	t.c_cc[VINTR] = 1;
	if (tcsetattr(11, TCSANOW, &t) || ioctl(11, TIOCSLCKTRMIOS, &lock) ||
	    ioctl(11, TIOCSWINSZ, &ws))
		setup_failed("slave settings");
	if (write_all(10, "to-slave\n", 9) || write_all(11, "to-master\n", 10))
		setup_failed("queued data");
	open_master(14);
	one = 1;
	if (ioctl(14, TIOCSPTLCK, &one) || ioctl(14, TIOCPKT, &one) || ioctl(14, TIOCEXCL))
		setup_failed("pair B modes");
	a_index = index_of(10);
	b_index = index_of(14);
	if (pipe(pipefd))
		setup_failed("pipe");
	if (fork_child()) {
		close(pipefd[0]);
		child(pipefd[1]);
	}
	close(pipefd[1]);
	if (read(pipefd[0], &one, 1) != 1)
		parent_setup_failed("child setup");
	close(pipefd[0]);
	write_ready();
	while (!got_term)
		nap();
	check_pid();

	if (index_of(10) != a_index || index_of(14) != b_index)
		fail("pty indices %d/%d, not %d/%d", index_of(10), index_of(14), a_index, b_index);
	memset(&t, 0, sizeof(t));
	if (tcgetattr(11, &t) || (t.c_lflag & ECHO) || t.c_cc[VINTR] != 1)
		fail("slave settings lost (lflag %#x, VINTR %d)", t.c_lflag, t.c_cc[VINTR]);
	memset(&lock, 0, sizeof(lock));
	if (ioctl(11, TIOCGLCKTRMIOS, &lock) || lock.c_cflag != CLOCAL)
		fail("locked cflag %#x, not CLOCAL", lock.c_cflag);
	memset(&ws, 0, sizeof(ws));
	if (ioctl(11, TIOCGWINSZ, &ws) || ws.ws_row != 33 || ws.ws_col != 111)
		fail("window %dx%d, not 33x111", ws.ws_row, ws.ws_col);
	if (fcntl(11, F_GETFL) & O_NONBLOCK || !(fcntl(12, F_GETFL) & O_NONBLOCK))
		fail("O_NONBLOCK of fds 11/12 wrong");
	expect_read(12, "to-slave\n", "fd 12 (slave)");
	expect_read(10, "to-master\r\n", "fd 10 (master, after ONLCR)");
	if (get_int(14, TIOCGPTLCK) != 1 || get_int(14, TIOCGPKT) != 1 || get_int(14, TIOCGEXCL) != 1)
		fail("pair B: lock %d, packet %d, exclusive %d", get_int(14, TIOCGPTLCK),
		     get_int(14, TIOCGPKT), get_int(14, TIOCGEXCL));
	collect_child();
	{
		int fds[] = { 10, 11, 12, 14 };

		check_open_fds(fds, 4);
	}
	return finish_verdict();
}
