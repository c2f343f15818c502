/*
 * chroot: crest integration-test victim for a task in a chroot, with its cwd inside it.
 *
 * Usage: chroot OUTDIR           (OUTDIR: absolute path of a writable directory; as root)
 *
 * Setup: OUTDIR/root/sub/file holding "inside"; fd 20 is OUTDIR (O_PATH|O_DIRECTORY), fd 21
 * OUTDIR/root/sub/file opened read-only; then chroot(OUTDIR/root), chdir("/sub"), and
 * OUTDIR/ready written (before the chroot it is written through its path; after it, the
 * victim only reaches OUTDIR through fd 20).
 *
 * On SIGTERM it checks: getcwd() is "/sub"; "/" is OUTDIR/root (same device and inode as
 * recorded before the chroot); "file" (relative to the cwd) and "/sub/file" read "inside";
 * fd 21 reads "inside". The verdict is written through fd 20 (verdict.tmp, then renamed):
 * "PASS" or "FAIL: " and the failed checks.
 *
 * Build: gcc -O1 -static -Wall -Wextra -o chroot chroot.c
 */
#define _GNU_SOURCE
#include "victim.h"

#include <sys/stat.h>

static void check_reads(const char *path, int fd, const char *what)
{
	char buf[16] = { 0 };
	int f = fd >= 0 ? fd : open(path, O_RDONLY);

	if (f < 0 || pread(f, buf, sizeof(buf) - 1, 0) != 6 || strcmp(buf, "inside"))
		fail("%s: reads \"%s\" (%s), want \"inside\"", what, buf, strerror(errno));
	if (fd < 0 && f >= 0)
		close(f);
}

int main(int argc, char **argv)
{
	char path[PATH_MAX + 32], cwd[PATH_MAX] = { 0 };
	struct stat root, now;
	int fd;

	victim_start(argc, argv);
	install_term_handler();
	snprintf(path, sizeof(path), "%.4000s/root", outdir);
	if (mkdir(path, 0755) || stat(path, &root))
		setup_failed("root");
	snprintf(path, sizeof(path), "%.4000s/root/sub", outdir);
	if (mkdir(path, 0755))
		setup_failed("sub");
	snprintf(path, sizeof(path), "%.4000s/root/sub/file", outdir);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	if (fd < 0 || write_all(fd, "inside", 6))
		setup_failed("file");
	close(fd);
	if ((fd = open(outdir, O_PATH | O_DIRECTORY)) < 0 || dup2(fd, 20) != 20)
		setup_failed("outdir");
	close(fd);
	if ((fd = open(path, O_RDONLY)) < 0 || dup2(fd, 21) != 21)
		setup_failed("fd 21");
	close(fd);
	snprintf(path, sizeof(path), "%.4000s/root", outdir);
	if (chroot(path) || chdir("/sub"))
		setup_failed("chroot");
	/* ready through fd 20: OUTDIR is outside the root now */
	snprintf(path, sizeof(path), "%d", (int)getpid());
	ready_pid = getpid();
	fd = openat(20, "ready.tmp", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write_all(fd, path, strlen(path)) || close(fd) ||
	    renameat(20, "ready.tmp", 20, "ready"))
		_exit(2);
	while (!got_term)
		nap();

	check_pid();
	if (!getcwd(cwd, sizeof(cwd)) || strcmp(cwd, "/sub"))
		fail("cwd \"%s\", want \"/sub\"", cwd);
	if (stat("/", &now) || now.st_dev != root.st_dev || now.st_ino != root.st_ino)
		fail("/ is not OUTDIR/root");
	check_reads("file", -1, "file (relative)");
	check_reads("/sub/file", -1, "/sub/file");
	check_reads(NULL, 21, "fd 21");
	fd = openat(20, "verdict.tmp", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return 2;
	if (nfailures)
		write_all(fd, "FAIL: ", 6), write_all(fd, failures, strlen(failures));
	else
		write_all(fd, "PASS", 4);
	close(fd);
	renameat(20, "verdict.tmp", 20, "verdict");
	return nfailures ? 1 : 0;
}
