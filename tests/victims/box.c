/*
 * box: crest integration-test victim for a whole container: init (pid 1) of new pid,
 * mount, network, UTS, IPC and cgroup namespaces, in a cgroup of its own with a pids limit.
 *
 * Usage: box OUTDIR [rootfs|veth]   (OUTDIR: absolute path of a writable directory; run
 * as root, with iproute2's `ip`, awk and sort on PATH)
 *
 * With "veth", L first makes veth pair crestbox0/crestin0 in its own network namespace,
 * and a helper left there moves crestin0 into INIT's; INIT waits for it and gives it
 * 198.18.0.1/24, up: a veth whose peer is outside (restored with
 * --external veth[crestin0]:crestbox0).
 *
 * The launcher L closes every inherited fd above 2, makes the cgroup
 * /sys/fs/cgroup/pids/crest-box-<L's pid> with pids.max 64 and joins it, calls
 * unshare(CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP)
 * (its cgroups the roots of the new cgroup namespace) and forks INIT, pid 1 of the new pid
 * namespace, which makes its own mount namespace (unshare(CLONE_NEWNS)). Once INIT has set up (one byte on a pipe), L
 * publishes INIT's host pid as OUTDIR/ready and exits 0; if INIT fails first, L exits 2.
 *
 * INIT calls setsid() and makes every mount private. Without "rootfs", its root stays the host's root file
 * system and its box directory B is OUTDIR/box. With "rootfs", it builds OUTDIR/rootfs
 * (a bind of itself, the host's /usr and /etc bound read-only, bin/lib/lib64/sbin symlinks
 * into usr, /dev bound from the host, a fresh sysfs, OUTDIR bound at /out, a copy of this
 * program at /box-bin), pivots into it, detaches the old root and executes /box-bin, so
 * that nothing of the host is left in the namespace but those mounts (its standard
 * descriptors reopened on /dev/null there); B is then /box.
 *
 * Then (in both modes) INIT mounts proc of its pid namespace on /proc and makes in B:
 *   - src/x ("from src"), src/file ("file bound"), an empty file filebind;
 *   - tmp: a tmpfs (size=2m, mode 0751) holding a (mode 0640, "alpha"), sub/b (100000
 *     bytes, byte i = (i*13+7) & 0xff), link -> a, empty directories pm and sm; made
 *     shared;
 *   - peer: a bind of tmp (its peer group); slave: a bind of tmp made a slave of it;
 *   - bind: a bind of src; ro: a bind of src remounted ro,nosuid,nodev; filebind: a bind
 *     of the file src/file;
 *   - mq: an mqueue file system of its IPC namespace.
 * It sets the hostname "crest-box", and with `ip`: lo up, veth pair eth0/eth1, bridge br0
 * with port eth1, all up, 192.0.2.1/24 on eth0, a route to 203.0.113.0/24 via 192.0.2.2.
 * It opens tmp/log (O_APPEND, mode 0600) and writes "one\n" into it, then forks C, which
 * holds that descriptor too and naps until INIT is gone. It records into OUTDIR/before its
 * mounts (/proc/self/mountinfo without ids and device numbers, roots on the root mount's
 * file system relative to its root, peer groups named by the least mount point in them,
 * sorted), links (without carrier), addresses (without IPv6
 * link-local ones, which come with carrier), routes, /proc/self/cgroup (as its cgroup
 * namespace shows it) and the hostname. Then it loops in nanosleep(10 ms) until SIGTERM.
 *
 * On SIGTERM INIT checks: getpid() is 1 and C (by the pid fork gave it) is alive; OUTDIR/after, recorded
 * the same way, equals before (within 2 s, while carrier states settle); that "two\n"
 * written to its tmp/log descriptor lands in the file at that path; the files in tmp,
 * bind, ro and filebind with their contents and modes; that ro refuses a new file with
 * EROFS; that a tmpfs mounted on tmp/pm shows up on peer/pm and slave/pm, and one mounted
 * on slave/sm does not on tmp/sm.
 * Verdict: OUTDIR/verdict holds "PASS" or "FAIL: " and the failed checks.
 *
 * Build: gcc -O1 -static -Wall -Wextra -o box box.c
 */
#define _GNU_SOURCE
#include "victim.h"

#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char box[PATH_MAX + 8];
static pid_t child;
static int logfd = -1;
static int veth_mode;

static int sh(const char *cmd)
{
	int r = system(cmd);

	return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

static const char norm_awk[] =
	"{ n++; line[n] = $0; if ($5 == \"/\") { rdev = $3; rroot = $4 }\n"
	"  for (i = 7; $i != \"-\"; i++) { split($i, t, \":\");\n"
	"    if (t[1] == \"shared\" && (!(t[2] in g) || $5 < g[t[2]])) g[t[2]] = $5 } }\n"
	"END { for (k = 1; k <= n; k++) { $0 = line[k]; r = $4;\n"
	"    if (rroot != \"/\" && $3 == rdev && index(r, rroot) == 1) {\n"
	"      r = substr(r, length(rroot) + 1); if (r == \"\") r = \"/\" }\n"
	"    out = r \" \" $5 \" \" $6;\n"
	"    for (i = 7; $i != \"-\"; i++) { split($i, t, \":\");\n"
	"      if (t[1] == \"shared\" || t[1] == \"master\")\n"
	"        out = out \" \" t[1] \":\" ((t[2] in g) ? g[t[2]] : \"outside\");\n"
	"      else out = out \" \" $i }\n"
	"    for (; i <= NF; i++) out = out \" \" $i; print out } }\n";

static int record(const char *name)
{
	char cmd[3 * PATH_MAX];

	snprintf(cmd, sizeof(cmd),
		 "{ awk -f %s/norm.awk /proc/self/mountinfo | sort; "
		 "ip -o link | sed -E 's/@if[0-9]+//; s/ state [A-Z]+//; s/ qdisc [a-z_]+//; s/ qlen [0-9]+//; "
		 "s/NO-CARRIER,//'; "
		 "ip -o addr | sed -E 's/ +valid_lft.*//; s/ tentative//; /inet6 fe80:/d'; ip route; "
		 "cat /proc/self/cgroup /proc/sys/kernel/hostname; } > %s/%s 2>&1",
		 outdir, outdir, name);
	return sh(cmd);
}

static int put(const char *rel, const char *data, size_t len, mode_t mode)
{
	char p[2 * PATH_MAX + 8];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", box, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0 || write_all(fd, data, len) < 0 || fchmod(fd, mode) < 0)
		return -1;
	return close(fd);
}

static int dir(const char *rel)
{
	char p[2 * PATH_MAX + 8];

	snprintf(p, sizeof(p), "%s/%s", box, rel);
	return mkdir(p, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

static int mnt(const char *src, const char *rel, const char *type, unsigned long flags,
	       const char *data)
{
	char s[2 * PATH_MAX + 8], t[2 * PATH_MAX + 8];

	snprintf(t, sizeof(t), "%s/%s", box, rel);
	if (src && src[0] != '/' && type == NULL)
		snprintf(s, sizeof(s), "%s/%s", box, src);
	else
		snprintf(s, sizeof(s), "%s", src ? src : "none");
	return mount(s, t, type, flags, data);
}

static char pattern[100000];

/* The mounts, files, names and links of the box (INIT, pid 1, in its namespaces). */
static void setup_box(void)
{
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (i * 13 + 7) & 0xff;
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		setup_failed("proc");
	if (dir("") || dir("src") || dir("tmp") || dir("peer") || dir("slave") || dir("bind") ||
	    dir("ro") || dir("mq") || put("src/x", "from src", 8, 0644) ||
	    put("src/file", "file bound", 10, 0644) || put("filebind", "", 0, 0644))
		setup_failed("box directories");
	if (mnt(NULL, "tmp", "tmpfs", 0, "size=2m,mode=0751") < 0)
		setup_failed("tmpfs");
	if (put("tmp/a", "alpha", 5, 0640) || dir("tmp/sub") || dir("tmp/pm") || dir("tmp/sm") ||
	    put("tmp/sub/b", pattern, sizeof(pattern), 0644))
		setup_failed("tmpfs files");
	{
		char a[2 * PATH_MAX];

		snprintf(a, sizeof(a), "%s/tmp/link", box);
		if (symlink("a", a) < 0)
			setup_failed("symlink");
	}
	if (mnt(NULL, "tmp", NULL, MS_SHARED, NULL) < 0 ||
	    mnt("tmp", "peer", NULL, MS_BIND, NULL) < 0 ||
	    mnt("tmp", "slave", NULL, MS_BIND, NULL) < 0 ||
	    mnt(NULL, "slave", NULL, MS_SLAVE, NULL) < 0)
		setup_failed("peer and slave");
	if (mnt("src", "bind", NULL, MS_BIND, NULL) < 0 ||
	    mnt("src", "ro", NULL, MS_BIND, NULL) < 0 ||
	    mnt(NULL, "ro", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0 ||
	    mnt("src/file", "filebind", NULL, MS_BIND, NULL) < 0)
		setup_failed("binds");
	if (mnt("mqueue", "mq", "mqueue", 0, NULL) < 0)
		setup_failed("mqueue");
	if (sethostname("crest-box", 9) < 0)
		setup_failed("sethostname");
	if (sh("ip link set lo up && ip link add eth0 type veth peer name eth1 && "
	       "ip link add br0 type bridge && ip link set eth1 master br0 && "
	       "ip link set eth0 up && ip link set eth1 up && ip link set br0 up && "
	       "ip addr add 192.0.2.1/24 dev eth0 && "
	       "ip route add 203.0.113.0/24 via 192.0.2.2 dev eth0") != 0)
		setup_failed("ip");
	/* With "veth": crestin0, whose peer crestbox0 is in the launcher's namespace. */
	for (int i = 0; veth_mode && sh("ip link show crestin0 >/dev/null 2>&1") != 0; i++) {
		if (i == 500)
			setup_failed("crestin0 never came");
		nap();
	}
	if (veth_mode && sh("ip addr add 198.18.0.1/24 dev crestin0 && ip link set crestin0 up") != 0)
		setup_failed("crestin0");
}

/* Copies the file at `from` to `to` (mode 0755). */
static int copy(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	ssize_t n;

	if (in < 0 || out < 0)
		return -1;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write_all(out, buf, n) < 0)
			return -1;
	close(in);
	return n < 0 ? -1 : close(out);
}

/* INIT with "rootfs": into a root file system of its own; does not return. */
static void enter_rootfs(int go)
{
	char r[PATH_MAX + 16], p[PATH_MAX + 64], fd[16];
	const char *dirs[] = {"usr", "etc", "proc", "sys", "dev", "out", "box"};
	const char *links[][2] = {{"usr/bin", "bin"}, {"usr/lib", "lib"}, {"usr/lib64", "lib64"},
				  {"usr/sbin", "sbin"}};

	snprintf(r, sizeof(r), "%s/rootfs", outdir);
	if (mkdir(r, 0755) < 0 && errno != EEXIST)
		setup_failed("rootfs");
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", r, dirs[i]);
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			setup_failed("rootfs directories");
	}
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", r, links[i][1]);
		if (symlink(links[i][0], p) < 0 && errno != EEXIST)
			setup_failed("rootfs links");
	}
	snprintf(p, sizeof(p), "%s/box-bin", r);
	if (copy("/proc/self/exe", p) < 0)
		setup_failed("copying the program");
	if (mount(r, r, NULL, MS_BIND, NULL) < 0 || chdir(r) < 0)
		setup_failed("rootfs bind");
	if (mount("/usr", "usr", NULL, MS_BIND, NULL) < 0 ||
	    mount(NULL, "usr", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0 ||
	    mount("/etc", "etc", NULL, MS_BIND, NULL) < 0 ||
	    mount(NULL, "etc", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0 ||
	    mount("/dev", "dev", NULL, MS_BIND, NULL) < 0 ||
	    mount("sysfs", "sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 ||
	    mount(outdir, "out", NULL, MS_BIND, NULL) < 0)
		setup_failed("rootfs mounts");
	if (syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		setup_failed("pivot_root");
	snprintf(fd, sizeof(fd), "%d", go);
	execl("/box-bin", "box", "/out", "inside", fd, (char *)NULL);
	setup_failed("exec /box-bin");
}

static void check_file(const char *rel, const char *want, size_t len, mode_t mode)
{
	static char got[sizeof(pattern) + 1];
	char p[2 * PATH_MAX + 8];
	struct stat st;
	int fd;
	ssize_t n = -1;

	snprintf(p, sizeof(p), "%s/%s", box, rel);
	fd = open(p, O_RDONLY);
	if (fd >= 0) {
		n = read(fd, got, sizeof(got));
		if (fstat(fd, &st) < 0)
			st.st_mode = 0;
		close(fd);
	}
	if (n != (ssize_t)len || memcmp(got, want, len))
		fail("%s: not its contents (%zd bytes)", rel, n);
	else if ((st.st_mode & 07777) != mode)
		fail("%s: mode %o, not %o", rel, st.st_mode & 07777, mode);
}

/* Whether B/rel is the root of a mount other than B/parent's. */
static int mounted(const char *rel, const char *parent)
{
	char a[2 * PATH_MAX + 8], b[2 * PATH_MAX + 8];
	struct stat sa, sb;

	snprintf(a, sizeof(a), "%s/%s", box, rel);
	snprintf(b, sizeof(b), "%s/%s", box, parent);
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev != sb.st_dev;
}

static void check_box(void)
{
	char a[PATH_MAX + 64], ca[16384], cb[16384], l[16];
	int fd;

	if (getpid() != 1)
		fail("getpid() is %d, not 1", (int)getpid());
	if (kill(child, 0) < 0)
		fail("pid %d: %s", (int)child, strerror(errno));
	if (!settled(record, ca, cb, sizeof(ca)))
		fail("the box differs (see before and after)");
	{
		struct stat by_fd, by_path;
		char p[2 * PATH_MAX];

		snprintf(p, sizeof(p), "%s/tmp/log", box);
		if (write_all(logfd, "two\n", 4) < 0 || fstat(logfd, &by_fd) < 0 ||
		    stat(p, &by_path) < 0 || by_fd.st_ino != by_path.st_ino ||
		    by_fd.st_dev != by_path.st_dev)
			fail("tmp/log: its descriptor is not the file at its path");
		else
			check_file("tmp/log", "one\ntwo\n", 8, 0600);
	}
	check_file("tmp/a", "alpha", 5, 0640);
	check_file("tmp/sub/b", pattern, sizeof(pattern), 0644);
	check_file("peer/a", "alpha", 5, 0640);
	check_file("bind/x", "from src", 8, 0644);
	check_file("ro/x", "from src", 8, 0644);
	check_file("filebind", "file bound", 10, 0644);
	snprintf(a, sizeof(a), "%s/tmp/link", box);
	if (readlink(a, l, sizeof(l)) != 1 || l[0] != 'a')
		fail("tmp/link is not a link to a");
	snprintf(a, sizeof(a), "%s/ro/new", box);
	fd = open(a, O_WRONLY | O_CREAT, 0644);
	if (fd >= 0 || errno != EROFS)
		fail("ro/new: created, or not EROFS (%s)", strerror(errno));
	if (fd >= 0)
		close(fd);
	if (mnt(NULL, "tmp/pm", "tmpfs", 0, "size=4k") < 0)
		fail("mounting on tmp/pm: %s", strerror(errno));
	else if (!mounted("peer/pm", "peer") || !mounted("slave/pm", "slave"))
		fail("a mount on tmp/pm did not reach peer/pm and slave/pm");
	if (mnt(NULL, "slave/sm", "tmpfs", 0, "size=4k") < 0)
		fail("mounting on slave/sm: %s", strerror(errno));
	else if (mounted("tmp/sm", "tmp"))
		fail("a mount on slave/sm reached tmp/sm");
}

static void init_main(int go)
{
	FILE *f;

	setup_box();
	{
		char p[2 * PATH_MAX];

		snprintf(p, sizeof(p), "%s/tmp/log", box);
		logfd = open(p, O_RDWR | O_CREAT | O_APPEND, 0600);
		if (logfd < 0 || write_all(logfd, "one\n", 4) < 0)
			setup_failed("tmp/log");
	}
	child = fork();
	if (child < 0)
		setup_failed("fork");
	if (child == 0) {
		close(go);
		while (getppid() == 1)
			nap();
		_exit(0);
	}
	if (record("before") != 0)
		setup_failed("recording");
	f = fdopen(go, "w");
	if (!f || fputc('g', f) == EOF || fclose(f) == EOF)
		setup_failed("telling the launcher");
	while (!got_term)
		nap();
	check_box();
	finish_verdict();
	_exit(nfailures ? 1 : 0);
}

int main(int argc, char **argv)
{
	char cg[PATH_MAX], p[PATH_MAX + 16], buf[16];
	int go[2], mv[2] = {-1, -1}, st;
	pid_t init, helper = -1;
	FILE *f;

	if (argc > 3 && !strcmp(argv[2], "inside")) {
		/* INIT again, in its own root (argv[3]: the pipe to L); its standard
		 * descriptors opened there. */
		int null = open("/dev/null", O_RDWR);

		if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
			_exit(2);
		close(null);
		snprintf(outdir, sizeof(outdir), "%s", argv[1]);
		snprintf(box, sizeof(box), "/box");
		install_term_handler();
		setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 1);
		init_main(atoi(argv[3]));
	}
	victim_start(argc, argv);
	setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 0);
	f = fopen(strcat(strcpy(p, outdir), "/norm.awk"), "w");
	if (!f || fputs(norm_awk, f) == EOF || fclose(f) == EOF)
		setup_failed("norm.awk");
	snprintf(cg, sizeof(cg), "/sys/fs/cgroup/pids/crest-box-%d", (int)getpid());
	if (mkdir(cg, 0755) < 0)
		setup_failed("cgroup");
	snprintf(p, sizeof(p), "%s/pids.max", cg);
	if (!(f = fopen(p, "w")) || fputs("64", f) == EOF || fclose(f) == EOF)
		setup_failed("pids.max");
	snprintf(p, sizeof(p), "%s/cgroup.procs", cg);
	if (!(f = fopen(p, "w")) || fprintf(f, "%d", (int)getpid()) < 0 || fclose(f) == EOF)
		setup_failed("joining the cgroup");
	veth_mode = argc > 2 && !strcmp(argv[2], "veth");
	if (veth_mode) {
		/* A helper H left in this network namespace moves crestin0 into INIT's. */
		if (sh("ip link add crestbox0 type veth peer name crestin0") != 0 || pipe(mv) < 0)
			setup_failed("outer veth");
		helper = fork();
		if (helper == 0) {
			char cmd[128];
			int pid;

			close(mv[1]);
			if (read(mv[0], &pid, sizeof(pid)) != sizeof(pid))
				_exit(2);
			snprintf(cmd, sizeof(cmd), "ip link set crestin0 netns %d", pid);
			_exit(sh(cmd));
		}
		if (helper < 0)
			setup_failed("fork");
		close(mv[0]);
	}
	if (pipe(go) < 0 ||
	    unshare(CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP) < 0)
		setup_failed("unshare");
	init = fork();
	if (init < 0)
		setup_failed("fork");
	if (init == 0) {
		close(go[0]);
		setsid();
		install_term_handler();
		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			setup_failed("private mounts");
		if (argc > 2 && !strcmp(argv[2], "rootfs"))
			enter_rootfs(go[1]);
		snprintf(box, sizeof(box), "%s/box", outdir);
		init_main(go[1]);
	}
	close(go[1]);
	if (veth_mode && (write(mv[1], &init, sizeof(init)) != sizeof(init) ||
			  waitpid(helper, &st, 0) != helper || st != 0)) {
		kill(init, SIGKILL);
		waitpid(init, &st, 0);
		setup_failed("moving crestin0 in");
	}
	if (read(go[0], buf, 1) != 1) {
		waitpid(init, &st, 0);
		return 2;
	}
	snprintf(buf, sizeof(buf), "%d", (int)init);
	publish("ready", buf);
	return 0;
}
