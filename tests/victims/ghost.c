/*
 * ghost: crest integration-test victim for deleted files it still holds (CRIU's ghost files).
 *
 * Usage: ghost OUTDIR            (OUTDIR: absolute path of a writable directory)
 *
 * Setup, each then unlinked or removed:
 *   - fd 10: OUTDIR/sparse, "head" at 0 and "tail" at 512 KiB (a hole between), at offset 2;
 *   - fd 11: OUTDIR/mapped, 8 KiB of a pattern, mapped MAP_SHARED read-write;
 *   - fd 12: an O_TMPFILE file in OUTDIR holding "tmp";
 *   - fd 13: FIFO OUTDIR/fifo opened O_RDWR with "fifo" buffered in it;
 *   - fd 14: directory OUTDIR/dir (O_DIRECTORY);
 *   - the cwd: directory OUTDIR/cwd;
 *   - fd 15: symlink OUTDIR/link -> "some/target" (dangling), opened O_PATH|O_NOFOLLOW;
 *   - fd 16: symlink OUTDIR/live -> "x/y", opened O_PATH|O_NOFOLLOW and left in place.
 * Then OUTDIR/ready and a wait for SIGTERM.
 *
 * On SIGTERM it checks: fds 10-12 have no links left and the sizes they had; fd 10 is at
 * offset 2 and reads "head", zeros in the hole, "tail"; the mapping holds its pattern, and
 * a byte written through fd 11 shows in it (one file); fd 12 reads "tmp"; fd 13 reads
 * "fifo"; fd 14 is a directory with no links; fds 15 and 16 still read their targets; /proc/self/fd/10, 11 and 14 and /proc/self/cwd
 * name their old paths, "(deleted)"; and none of the old paths (nor anything else but the
 * victim's own files) exists in OUTDIR: nothing of the restore is left behind.
 * Verdict: OUTDIR/verdict holds "PASS" or "FAIL: " and the failed checks.
 *
 * Build: gcc -O1 -static -Wall -Wextra -o ghost ghost.c
 */
#define _GNU_SOURCE
#include "victim.h"

#include <sys/mman.h>
#include <sys/stat.h>

#define TAIL_AT (512 * 1024)
#define MAPPED 8192

static char path[8][PATH_MAX + 16];

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 13 + 5);
}

static void check_gone(int fd, off_t size, const char *what)
{
	struct stat st;

	if (fstat(fd, &st))
		fail("%s: fstat: %s", what, strerror(errno));
	else if (st.st_nlink != 0 || (size >= 0 && st.st_size != size))
		fail("%s: %ju links, %jd bytes, want 0 links, %jd bytes", what, (uintmax_t)st.st_nlink,
		     (intmax_t)st.st_size, (intmax_t)size);
}

static void check_link(const char *link, const char *old, const char *what)
{
	char got[PATH_MAX + 16] = { 0 }, want[PATH_MAX + 16];

	snprintf(want, sizeof(want), "%s (deleted)", old);
	if (readlink(link, got, sizeof(got) - 1) < 0 || strcmp(got, want))
		fail("%s: %s is \"%s\", want \"%s\"", what, link, got, want);
}

static void check_read(int fd, off_t at, const char *want, const char *what)
{
	char buf[16] = { 0 };
	size_t n = strlen(want);

	if (pread(fd, buf, n, at) != (ssize_t)n || memcmp(buf, want, n))
		fail("%s: read \"%s\" at %jd, want \"%s\"", what, buf, (intmax_t)at, want);
}

/* only the victim's own files are left in OUTDIR */
static void check_outdir(void)
{
	static const char *const own[] = { ".", "..", "ready", "verdict.tmp", "live" };
	struct dirent *d;
	DIR *dir = opendir(outdir);
	size_t i;

	if (!dir) {
		fail("opendir OUTDIR: %s", strerror(errno));
		return;
	}
	while ((d = readdir(dir))) {
		for (i = 0; i < sizeof(own) / sizeof(own[0]); i++)
			if (!strcmp(d->d_name, own[i]))
				break;
		if (i == sizeof(own) / sizeof(own[0]))
			fail("OUTDIR holds %s after the restore", d->d_name);
	}
	closedir(dir);
}

int main(int argc, char **argv)
{
	static const char *const names[] = { "sparse", "mapped", "fifo", "dir", "cwd", "", "link", "live" };
	unsigned char *map, buf[MAPPED], c;
	char zeros[64] = { 0 }, hole[64];
	int fd, i;
	size_t j;

	victim_start(argc, argv);
	install_term_handler();
	for (i = 0; i < 8; i++)
		snprintf(path[i], sizeof(path[i]), "%.4000s/%s", outdir, names[i]);

	fd = open(path[0], O_RDWR | O_CREAT | O_EXCL, 0640);
	if (fd < 0 || pwrite(fd, "head", 4, 0) != 4 || pwrite(fd, "tail", 4, TAIL_AT) != 4 ||
	    dup2(fd, 10) != 10 || lseek(10, 2, SEEK_SET) != 2)
		setup_failed("sparse file");
	close(fd);
	for (j = 0; j < MAPPED; j++)
		buf[j] = pattern(j);
	fd = open(path[1], O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || write_all(fd, (const char *)buf, MAPPED) || dup2(fd, 11) != 11)
		setup_failed("mapped file");
	close(fd);
	map = mmap(NULL, MAPPED, PROT_READ | PROT_WRITE, MAP_SHARED, 11, 0);
	if (map == MAP_FAILED)
		setup_failed("mmap");
	fd = open(outdir, O_RDWR | O_TMPFILE, 0600);
	if (fd < 0 || write_all(fd, "tmp", 3) || dup2(fd, 12) != 12)
		setup_failed("O_TMPFILE");
	close(fd);
	if (mkfifo(path[2], 0600) || (fd = open(path[2], O_RDWR)) < 0 || write_all(fd, "fifo", 4) ||
	    dup2(fd, 13) != 13)
		setup_failed("FIFO");
	close(fd);
	if (mkdir(path[3], 0700) || (fd = open(path[3], O_RDONLY | O_DIRECTORY)) < 0 || dup2(fd, 14) != 14)
		setup_failed("directory");
	close(fd);
	if (symlink("some/target", path[6]) || (fd = open(path[6], O_PATH | O_NOFOLLOW)) < 0 ||
	    dup2(fd, 15) != 15)
		setup_failed("symlink");
	close(fd);
	if (symlink("x/y", path[7]) || (fd = open(path[7], O_PATH | O_NOFOLLOW)) < 0 || dup2(fd, 16) != 16)
		setup_failed("live symlink");
	close(fd);
	if (mkdir(path[4], 0700) || chdir(path[4]))
		setup_failed("cwd");
	if (unlink(path[0]) || unlink(path[1]) || unlink(path[2]) || rmdir(path[3]) || rmdir(path[4]) ||
	    unlink(path[6]))
		setup_failed("unlink");
	write_ready();
	while (!got_term)
		nap();

	check_pid();
	check_gone(10, TAIL_AT + 4, "sparse");
	check_gone(11, MAPPED, "mapped");
	check_gone(12, 3, "O_TMPFILE");
	check_gone(14, -1, "directory");
	if (lseek(10, 0, SEEK_CUR) != 2)
		fail("sparse: offset %jd, want 2", (intmax_t)lseek(10, 0, SEEK_CUR));
	check_read(10, 0, "head", "sparse");
	check_read(10, TAIL_AT, "tail", "sparse");
	if (pread(10, hole, sizeof(hole), TAIL_AT / 2) != sizeof(hole) || memcmp(hole, zeros, sizeof(hole)))
		fail("sparse: the hole is not zeros");
	for (j = 0; j < MAPPED; j++)
		if (map[j] != pattern(j)) {
			fail("mapped: byte %zu is %#x, want %#x", j, map[j], pattern(j));
			break;
		}
	c = 0x5a;
	if (pwrite(11, &c, 1, 100) != 1 || map[100] != 0x5a)
		fail("mapped: a write through fd 11 is not in the mapping");
	check_read(12, 0, "tmp", "O_TMPFILE");
	{
		char f[8] = { 0 };

		if (read(13, f, 4) != 4 || memcmp(f, "fifo", 4))
			fail("FIFO: read \"%s\", want \"fifo\"", f);
	}
	{
		char t[64] = { 0 }, u[64] = { 0 };

		if (readlinkat(15, "", t, sizeof(t) - 1) < 0 || strcmp(t, "some/target"))
			fail("deleted symlink: reads \"%s\", want \"some/target\"", t);
		if (readlinkat(16, "", u, sizeof(u) - 1) < 0 || strcmp(u, "x/y"))
			fail("symlink: reads \"%s\", want \"x/y\"", u);
	}
	check_link("/proc/self/fd/10", path[0], "sparse");
	check_link("/proc/self/fd/11", path[1], "mapped");
	check_link("/proc/self/fd/14", path[3], "directory");
	check_link("/proc/self/cwd", path[4], "cwd");
	check_outdir();
	return finish_verdict();
}
