/*
 * notify: crest integration-test victim for inotify and fanotify.
 *
 * Usage: notify OUTDIR            (OUTDIR: absolute path of a writable directory)
 *
 * Setup: directories OUTDIR/a, OUTDIR/b, OUTDIR/c and OUTDIR/f.
 *   - fd 10: an inotify instance (IN_NONBLOCK) watching a (IN_CREATE, wd 1), b (wd 2, then
 *     removed) and c (IN_DELETE | IN_CREATE, wd 3): the watch numbers have a gap;
 *   - fd 11: a fanotify instance (FAN_CLASS_NOTIF, FAN_NONBLOCK) with a mark on f for
 *     FAN_CLOSE_WRITE | FAN_EVENT_ON_CHILD.
 * Its events are read out; then OUTDIR/ready and a wait for SIGTERM.
 *
 * On SIGTERM it checks: creating a/x gives an IN_CREATE event of watch 1 named "x";
 * creating and deleting c/y gives IN_CREATE then IN_DELETE of watch 3; nothing else is
 * queued (b is not watched); writing and closing f/z gives one FAN_CLOSE_WRITE event;
 * fd 11 is O_NONBLOCK as it was made.
 * Verdict: OUTDIR/verdict holds "PASS" or "FAIL: " and the failed checks.
 *
 * Build: gcc -O1 -static -Wall -Wextra -o notify notify.c
 */
#define _GNU_SOURCE
#include "victim.h"

#include <poll.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/stat.h>

static char dir[4][PATH_MAX + 8];

static void touch(int d, const char *name, int keep)
{
	char p[PATH_MAX + 32];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir[d], name);
	fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd < 0 || write(fd, "x", 1) != 1)
		fail("create %s", p);
	if (fd >= 0)
		close(fd);
	if (!keep)
		unlink(p);
}

/* the next inotify event of fd 10 (waiting up to a second for a read), or -1; a read may
 * return several events, kept for the next calls */
static int next_event(struct inotify_event *ev, char *name)
{
	static char buf[4096] __attribute__((aligned(8)));
	static ssize_t have, at;
	struct pollfd p = { .fd = 10, .events = POLLIN };
	struct inotify_event *e;

	if (at >= have) {
		at = have = 0;
		if (poll(&p, 1, 1000) != 1)
			return -1;
		have = read(10, buf, sizeof(buf));
		if (have < (ssize_t)sizeof(*e)) {
			have = 0;
			return -1;
		}
	}
	e = (struct inotify_event *)(buf + at);
	at += sizeof(*e) + e->len;
	*ev = *e;
	snprintf(name, NAME_MAX + 1, "%s", e->len ? e->name : "");
	return 0;
}

static void expect_event(int wd, uint32_t mask, const char *name)
{
	struct inotify_event ev;
	char got[NAME_MAX + 1];

	if (next_event(&ev, got))
		fail("no inotify event (want wd %d mask %#x %s)", wd, mask, name);
	else if (ev.wd != wd || !(ev.mask & mask) || strcmp(got, name))
		fail("inotify event wd %d mask %#x \"%s\", want wd %d mask %#x \"%s\"", ev.wd, ev.mask,
		     got, wd, mask, name);
}

static void drain(int fd)
{
	char buf[4096];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

int main(int argc, char **argv)
{
	const char *names[] = { "a", "b", "c", "f" };
	struct inotify_event ev;
	char got[NAME_MAX + 1];
	int fd, i, n;

	victim_start(argc, argv);
	install_term_handler();
	for (i = 0; i < 4; i++) {
		snprintf(dir[i], sizeof(dir[i]), "%s/%s", outdir, names[i]);
		if (mkdir(dir[i], 0755) && errno != EEXIST)
			setup_failed("mkdir");
	}
	fd = inotify_init1(IN_NONBLOCK);
	if (fd < 0 || dup2(fd, 10) != 10)
		setup_failed("inotify_init1");
	close(fd);
	if (inotify_add_watch(10, dir[0], IN_CREATE) != 1 || inotify_add_watch(10, dir[1], IN_CREATE) != 2 ||
	    inotify_add_watch(10, dir[2], IN_CREATE | IN_DELETE) != 3 || inotify_rm_watch(10, 2))
		setup_failed("inotify watches");
	fd = fanotify_init(FAN_CLASS_NOTIF | FAN_NONBLOCK, O_RDONLY);
	if (fd < 0 || dup2(fd, 11) != 11)
		setup_failed("fanotify_init");
	close(fd);
	if (fanotify_mark(11, FAN_MARK_ADD, FAN_CLOSE_WRITE | FAN_EVENT_ON_CHILD, AT_FDCWD, dir[3]))
		setup_failed("fanotify_mark");
	drain(10);
	drain(11);
	write_ready();
	while (!got_term)
		nap();
	check_pid();

	touch(0, "x", 1);
	expect_event(1, IN_CREATE, "x");
	touch(1, "x", 1);
	touch(2, "y", 0);
	expect_event(3, IN_CREATE, "y");
	expect_event(3, IN_DELETE, "y");
	if (!next_event(&ev, got))
		fail("an extra inotify event: wd %d mask %#x \"%s\"", ev.wd, ev.mask, got);
	touch(3, "z", 1);
	{
		char buf[4096] __attribute__((aligned(8)));
		struct fanotify_event_metadata *m = (void *)buf;
		struct pollfd p = { .fd = 11, .events = POLLIN };

		n = poll(&p, 1, 1000) == 1 ? read(11, buf, sizeof(buf)) : -1;
		if (n < (int)sizeof(*m) || !(m->mask & FAN_CLOSE_WRITE))
			fail("no fanotify FAN_CLOSE_WRITE event (read %d)", n);
		else if (m->fd >= 0)
			close(m->fd);
	}
	if (!(fcntl(11, F_GETFL) & O_NONBLOCK))
		fail("the fanotify descriptor lost O_NONBLOCK");
	{
		int fds[] = { 10, 11 };

		check_open_fds(fds, 2);
	}
	return finish_verdict();
}
