/*
 * linkremap: crest integration-test victim for deleted files still linked elsewhere
 * (dumped with --link-remap).
 *
 * Usage: linkremap OUTDIR            (OUTDIR: absolute path of a writable directory)
 *
 * Setup: OUTDIR/d/gone holds "kept data", OUTDIR/other is a second link to it. fd 10 is
 * gone opened read-write at offset 5; fd 11 an inotify instance watching gone (IN_MODIFY).
 * Then OUTDIR/d/gone is unlinked, OUTDIR/ready written, and SIGTERM awaited.
 *
 * On SIGTERM it checks: fd 10 is at offset 5 and reads "data" there; it is the very inode
 * OUTDIR/other names (same st_dev and st_ino, one link), /proc/self/fd/10 shows
 * ".../d/gone (deleted)"; nothing else is in OUTDIR/d (no link_remap file left); a write
 * through OUTDIR/other gives an IN_MODIFY event of watch 1.
 * Verdict: OUTDIR/verdict holds "PASS" or "FAIL: " and the failed checks.
 *
 * Build: gcc -O1 -static -Wall -Wextra -o linkremap linkremap.c
 */
#define _GNU_SOURCE
#include "victim.h"

#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>

int main(int argc, char **argv)
{
	char d[PATH_MAX + 8], gone[PATH_MAX + 16], other[PATH_MAX + 16], shown[PATH_MAX + 32];
	char want[PATH_MAX + 32], buf[64] = "";
	struct stat a, b;
	struct dirent *e;
	DIR *dir;
	int fd, n;

	victim_start(argc, argv);
	install_term_handler();
	snprintf(d, sizeof(d), "%s/d", outdir);
	snprintf(gone, sizeof(gone), "%s/gone", d);
	snprintf(other, sizeof(other), "%s/other", outdir);
	if (mkdir(d, 0755))
		setup_failed("mkdir");
	fd = open(gone, O_CREAT | O_RDWR, 0644);
	if (fd < 0 || write_all(fd, "kept data", 9) || dup2(fd, 10) != 10)
		setup_failed("create");
	close(fd);
	if (link(gone, other) || lseek(10, 5, SEEK_SET) != 5)
		setup_failed("link");
	fd = inotify_init1(IN_NONBLOCK);
	if (fd < 0 || dup2(fd, 11) != 11 || inotify_add_watch(11, gone, IN_MODIFY) != 1)
		setup_failed("inotify");
	close(fd);
	if (unlink(gone))
		setup_failed("unlink");
	write_ready();
	while (!got_term)
		nap();
	check_pid();

	if (lseek(10, 0, SEEK_CUR) != 5)
		fail("fd 10 at offset %ld, not 5", (long)lseek(10, 0, SEEK_CUR));
	n = read(10, buf, sizeof(buf) - 1);
	if (n != 4 || strcmp(buf, "data"))
		fail("fd 10 read \"%s\" (%d bytes), not \"data\"", buf, n);
	if (fstat(10, &a) || stat(other, &b) || a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		fail("fd 10 is not the inode %s names", other);
	else if (a.st_nlink != 1)
		fail("the file has %ld links, not 1", (long)a.st_nlink);
	snprintf(want, sizeof(want), "%s (deleted)", gone);
	n = readlink("/proc/self/fd/10", shown, sizeof(shown) - 1);
	shown[n > 0 ? n : 0] = 0;
	if (strcmp(shown, want))
		fail("fd 10 shows %s, not %s", shown, want);
	dir = opendir(d);
	while (dir && (e = readdir(dir)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			fail("%s/%s is left", d, e->d_name);
	if (dir)
		closedir(dir);
	fd = open(other, O_WRONLY | O_APPEND);
	if (fd < 0 || write(fd, "!", 1) != 1)
		fail("write through %s", other);
	if (fd >= 0)
		close(fd);
	{
		char ev[sizeof(struct inotify_event) + NAME_MAX + 1] __attribute__((aligned(8)));
		struct inotify_event *ie = (struct inotify_event *)ev;
		struct pollfd p = { .fd = 11, .events = POLLIN };

		n = poll(&p, 1, 1000) == 1 ? read(11, ev, sizeof(ev)) : -1;
		if (n < (int)sizeof(*ie) || ie->wd != 1 || !(ie->mask & IN_MODIFY))
			fail("no IN_MODIFY event of watch 1 (read %d)", n);
	}
	{
		int fds[] = { 10, 11 };

		check_open_fds(fds, 2);
	}
	return finish_verdict();
}
