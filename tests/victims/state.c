/*
 * state: crest dump/restore integration-test victim (one process, one thread).
 *
 * Usage: state OUTDIR            (OUTDIR: absolute path of a writable directory)
 *
 * The victim does not daemonize: it stays the harness's direct child until the dump.
 * At start it closes every inherited fd above 2, then sets up:
 *   - heap: M_MMAP_THRESHOLD raised to 1 MiB, then a 256 KiB malloc'ed buffer (so it sits
 *     on the brk heap, below sbrk(0)), every 64-bit word i = pat(1, i);
 *   - anonymous memory: a 2 MiB MAP_PRIVATE|MAP_ANONYMOUS mapping, every word patterned
 *     (pat(2 + page, word in page)), then its middle page (page 256 of 512) mprotect'ed
 *     PROT_READ, which splits it into 3 VMAs: rw-p / r--p (1 page) / rw-p;
 *   - a loop counter placed in .data (section attribute), incremented once per main-loop
 *     iteration, with a shadow copy (~counter) in a local variable of main() (on the stack);
 *   - FPU: rounding mode FE_UPWARD (fesetround: both MXCSR and the x87 control word); the
 *     resulting MXCSR (minus the sticky exception flags) and x87 CW are recorded;
 *   - live vector registers: every main-loop iteration is one inline-asm block that loads
 *     per-iteration values (derived from the counter) into xmm8, xmm9 and, if
 *     __builtin_cpu_supports("avx"), the full 256 bits of ymm10 (vmovdqu), issues the raw
 *     nanosleep(10 ms) syscall (rax=35, rdi=&ts, rsi=0) inside the same block, stores the
 *     registers back and compares; mismatching iterations are counted. The dump therefore
 *     normally catches the task inside that syscall with those values live in the
 *     registers. Without AVX only xmm8/xmm9 are checked (ymm10 is skipped);
 *   - TLS: a __thread uint64_t set to a pattern; its address and the FS base
 *     (arch_prctl ARCH_GET_FS) are recorded;
 *   - signals: SIGUSR1 handler with SA_SIGINFO|SA_RESTART|SA_ONSTACK and sa_mask {SIGINT};
 *     a 64 KiB static sigaltstack; SIGUSR2 has an SA_SIGINFO handler, is blocked, and one
 *     SIGUSR2 is queued with sigqueue(value 0x5eed), so it is pending at dump time;
 *     SIGHUP ignored; SIGTERM handler (sets a flag; no SA_RESTART). The blocked mask is
 *     exactly {SIGUSR2}. The dispositions as read back by sigaction() (handler, flags,
 *     restorer, mask) are recorded;
 *   - umask 027; cwd OUTDIR (chdir; getcwd() and dev/inode of "." recorded);
 *   - RLIMIT_NOFILE soft limit 512, hard limit unchanged (recorded);
 *   - OUTDIR/data.bin: 10000 bytes, byte i = (i * 7) & 0xff, held open O_RDWR (no
 *     O_CLOEXEC, no O_APPEND) on fd 7 (dup2, original closed), offset 1234;
 *     afterwards the open fds are exactly 0, 1, 2 (as inherited; their /proc/self/fd links
 *     are recorded) and 7;
 *   - comm (PR_SET_NAME) "crest-state".
 * Then the main loop runs; after 10 iterations (all setup done, FPU loop warmed up) it
 * writes OUTDIR/ready containing the pid (no newline; via ready.tmp + rename).
 *
 * On SIGTERM the loop ends and everything is checked:
 *   - getpid() equals the pid written to ready;
 *   - counter > 10 (the value at ready time: the .data page came from the dump and the
 *     loop ran on after ready) and the stack shadow agrees with it; 3 more loop
 *     iterations (with the register check) advance it by exactly 3;
 *   - the whole heap pattern, and that the buffer still ends below sbrk(0);
 *   - the whole 2 MiB pattern; /proc/self/maps clipped to the 2 MiB range shows exactly
 *     3 VMAs: [start, ro) rw-p, [ro, ro + page) r--p, [ro + page, end) rw-p (neighbours
 *     merged into the outer two are tolerated); a write to the middle page raises
 *     SIGSEGV (temporary handler + sigsetjmp/siglongjmp, old handler put back after)
 *     and leaves the page unchanged;
 *   - no register mismatch in any loop iteration; MXCSR (minus sticky flags) and the x87
 *     CW equal the recorded values and both encode round-up; fegetround() == FE_UPWARD;
 *   - TLS value, its address and the FS base unchanged;
 *   - SIGUSR1/SIGUSR2/SIGHUP/SIGTERM dispositions equal the recorded ones (SIGUSR1
 *     flags include SA_SIGINFO|SA_RESTART|SA_ONSTACK, mask exactly {SIGINT}; SIGHUP is
 *     SIG_IGN); sigaltstack(NULL, &ss) gives the buffer, 64 KiB, flags 0; the blocked
 *     mask is exactly {SIGUSR2}; SIGUSR2 is pending (sigpending) and its handler has not
 *     run; raise(SIGUSR1) runs the handler once, on the alt stack (a local's address lies
 *     in the buffer, SS_ONSTACK reported), with SIGINT and SIGUSR1 blocked inside, si_code
 *     SI_TKILL and si_pid == getpid(); unblocking SIGUSR2 delivers it exactly once with
 *     si_code SI_QUEUE and si_value 0x5eed;
 *   - umask 027; getcwd() equals the recorded cwd (realpath of OUTDIR) and "." has the
 *     recorded dev/inode;
 *   - RLIMIT_NOFILE soft 512 and hard as recorded;
 *   - fd 7: same dev/inode as stat(OUTDIR/data.bin), size 10000, F_GETFL access mode
 *     O_RDWR without O_APPEND, FD_CLOEXEC clear, offset 1234, and read() of 16 bytes
 *     returns bytes 1234..1249 of the pattern;
 *   - the open fds are exactly 0, 1, 2, 7 and 0-2 point where they did at start;
 *   - comm "crest-state".
 * Verdict: OUTDIR/verdict (via verdict.tmp + rename) holds exactly "PASS" (exit 0) or
 * "FAIL: " followed by every failed check, separated by "; " (exit 1). A setup error
 * writes "FAIL: setup: ..." and exits 2 without writing ready. Every syscall tolerates
 * EINTR (the loop's nanosleep result is ignored).
 *
 * Self test: -DCREST_SELFTEST_BREAK=N corrupts one piece of state right before the checks
 * (N=5: inside the loop), to prove that the checks can fail. A bare -DCREST_SELFTEST_BREAK
 * means N=1; N=100 breaks all of them:
 *    1 heap word          2 anonymous-map word     3 middle page made writable
 *    4 .data counter      5 xmm9 (+ ymm10 upper half) clobbered after the syscall
 *    6 rounding mode      7 TLS value              8 SIGUSR1 without SA_ONSTACK, empty mask
 *    9 altstack disabled  10 pending SIGUSR2 consumed  11 SIGHUP back to SIG_DFL
 *   12 umask 022         13 cwd /                 14 RLIMIT_NOFILE soft 256
 *   15 fd 7 offset 0     16 comm                  17 an extra open fd
 *
 * Build: gcc -O1 -static -Wall -Wextra -pthread -o state state.c -lm
 */
#define _GNU_SOURCE
#define VICTIM_FAILURES_BYTES 8192
#include "victim.h"

#include <asm/prctl.h>
#include <fenv.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <xmmintrin.h>

#ifdef CREST_SELFTEST_BREAK
#define BREAKS(n) (CREST_SELFTEST_BREAK == (n) || CREST_SELFTEST_BREAK == 100)
#else
#define BREAKS(n) 0
#endif

#define HEAP_BYTES (256UL << 10)
#define MAP_BYTES (2UL << 20)
#define READY_AT 10 /* loop iterations before ready is written */
#define SLEEP_NS (10 * 1000 * 1000L)
#define ALTSTACK_BYTES (64 * 1024)
#define NOFILE_SOFT 512
#define USR2_VALUE 0x5eed
#define DATA_FD 7
#define DATA_BYTES 10000
#define DATA_OFFSET 1234
#define COMM "crest-state"
#define TLS_PATTERN 0x7e57ab1ec0ffee42ULL
#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif

/* ---- state ---- */

static uint64_t pat(uint64_t seed, uint64_t idx)
{
	uint64_t x = (seed + 0x632be59bd9b4e019ULL) * 0x9e3779b97f4a7c15ULL + idx * 0xd6e8feb86659fd93ULL;

	x ^= x >> 32;
	x *= 0xd6e8feb86659fd93ULL;
	x ^= x >> 32;
	return x;
}

static long page_size;
static uint64_t *heap_buf;
static uint64_t *anon_map;
static char *ro_page;

static volatile uint64_t counter __attribute__((section(".data"))) = 0;

/* FPU */
static int have_avx;
static uint64_t reg_bad_iters;   /* loop iterations whose registers came back wrong */
static unsigned reg_bad_which;   /* 1 xmm8, 2 xmm9, 4 ymm10 low, 8 ymm10 high */
static unsigned start_mxcsr;     /* minus sticky flags */
static unsigned short start_x87cw;

/* TLS */
static __thread uint64_t tls_word;
static uint64_t *start_tls_addr;
static unsigned long start_fs_base;

/* signals */
static char altstack[ALTSTACK_BYTES] __attribute__((aligned(64)));
static struct sigaction start_usr1, start_usr2, start_hup, start_term;
static volatile int usr1_runs, usr1_on_altstack, usr1_ss_onstack, usr1_mask_ok, usr1_code, usr1_pid;
static volatile int usr2_runs, usr2_code, usr2_value;

/* process attributes */
static char start_cwd[PATH_MAX];
static struct stat start_cwd_st;
static rlim_t start_nofile_hard;
static char data_path[PATH_MAX + 16];
static char start_stdio[3][PATH_MAX];

static void on_usr1(int sig, siginfo_t *si, void *ctx)
{
	volatile char here = 0;
	stack_t ss;
	sigset_t inside;

	(void)ctx;
	usr1_runs++;
	usr1_on_altstack = (const char *)&here >= altstack && (const char *)&here < altstack + ALTSTACK_BYTES;
	usr1_ss_onstack = sigaltstack(NULL, &ss) == 0 && (ss.ss_flags & SS_ONSTACK);
	sigprocmask(SIG_BLOCK, NULL, &inside);
	usr1_mask_ok = sigismember(&inside, SIGINT) == 1 && sigismember(&inside, sig) == 1;
	usr1_code = si->si_code;
	usr1_pid = si->si_pid;
}

static void on_usr2(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)ctx;
	usr2_runs++;
	usr2_code = si->si_code;
	usr2_value = si->si_value.sival_int;
}

static sigjmp_buf segv_env;

static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(segv_env, 1);
}

static unsigned read_mxcsr(void)
{
	return _mm_getcsr() & ~0x3fU; /* drop the sticky exception flags */
}

static unsigned short read_x87cw(void)
{
	unsigned short cw;

	__asm__ volatile("fnstcw %0" : "=m"(cw));
	return cw;
}

static unsigned long read_fs_base(void)
{
	unsigned long fs = 0;

	syscall(SYS_arch_prctl, ARCH_GET_FS, &fs);
	return fs;
}

#if BREAKS(5)
#define BREAK_XMM "pxor %%xmm9, %%xmm9\n\t"
#define BREAK_YMM "vmovdqa %%xmm10, %%xmm10\n\t" /* VEX.128 zeroes bits 255:128 */
#else
#define BREAK_XMM ""
#define BREAK_YMM ""
#endif

/*
 * One main-loop iteration: xmm8 = in[0..1], xmm9 = in[2..3], ymm10 = in[4..7] are live
 * across a raw nanosleep(10 ms) syscall, then compared. The result of the syscall (0,
 * -EINTR, whatever a restore leaves there) is ignored.
 */
static void sleep_with_live_registers(void)
{
	uint64_t in[8] __attribute__((aligned(32)));
	uint64_t out[8] __attribute__((aligned(32)));
	struct timespec ts = { 0, SLEEP_NS };
	unsigned bad = 0;
	long ret;
	int i;

	for (i = 0; i < 8; i++) {
		in[i] = pat(1000 + counter, i);
		out[i] = ~in[i];
	}
	if (have_avx) {
		__asm__ volatile("movdqu 0(%[in]), %%xmm8\n\t"
				 "movdqu 16(%[in]), %%xmm9\n\t"
				 "vmovdqu 32(%[in]), %%ymm10\n\t"
				 "syscall\n\t"
				 BREAK_XMM BREAK_YMM
				 "movdqu %%xmm8, 0(%[out])\n\t"
				 "movdqu %%xmm9, 16(%[out])\n\t"
				 "vmovdqu %%ymm10, 32(%[out])\n\t"
				 "vzeroupper\n\t"
				 : "=a"(ret)
				 : "0"((long)SYS_nanosleep), "D"(&ts), "S"(0L), [in] "r"(in), [out] "r"(out)
				 : "rcx", "r11", "memory", "xmm8", "xmm9", "xmm10");
	} else {
		__asm__ volatile("movdqu 0(%[in]), %%xmm8\n\t"
				 "movdqu 16(%[in]), %%xmm9\n\t"
				 "syscall\n\t"
				 BREAK_XMM
				 "movdqu %%xmm8, 0(%[out])\n\t"
				 "movdqu %%xmm9, 16(%[out])\n\t"
				 : "=a"(ret)
				 : "0"((long)SYS_nanosleep), "D"(&ts), "S"(0L), [in] "r"(in), [out] "r"(out)
				 : "rcx", "r11", "memory", "xmm8", "xmm9");
		for (i = 4; i < 8; i++)
			out[i] = in[i];
	}
	(void)ret;
	if (out[0] != in[0] || out[1] != in[1])
		bad |= 1;
	if (out[2] != in[2] || out[3] != in[3])
		bad |= 2;
	if (out[4] != in[4] || out[5] != in[5])
		bad |= 4;
	if (out[6] != in[6] || out[7] != in[7])
		bad |= 8;
	if (bad) {
		reg_bad_iters++;
		reg_bad_which |= bad;
	}
}

static void fill_data_pattern(unsigned char *buf, size_t from, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)(((from + i) * 7) & 0xff);
}

static int fd_link(int fd, char *buf, size_t size)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, buf, size - 1);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return 0;
}

/* ---- setup ---- */

static void setup(void)
{
	struct sigaction sa;
	struct rlimit rl;
	sigset_t blocked;
	stack_t ss;
	union sigval sv;
	unsigned char data[DATA_BYTES];
	size_t i, words_per_page;
	int fd;

	page_size = sysconf(_SC_PAGESIZE);
	words_per_page = page_size / 8;
	have_avx = __builtin_cpu_supports("avx");

	for (i = 0; i < 3; i++)
		if (fd_link(i, start_stdio[i], sizeof(start_stdio[i])))
			strcpy(start_stdio[i], "(closed)");

	/* heap on brk */
	if (mallopt(M_MMAP_THRESHOLD, 1 << 20) != 1)
		setup_failed("mallopt M_MMAP_THRESHOLD");
	heap_buf = malloc(HEAP_BYTES);
	if (!heap_buf)
		setup_failed("malloc");
	if ((char *)heap_buf + HEAP_BYTES > (char *)sbrk(0)) {
		errno = 0;
		setup_failed("heap buffer is not below sbrk(0)");
	}
	for (i = 0; i < HEAP_BYTES / 8; i++)
		heap_buf[i] = pat(1, i);

	/* 2 MiB anonymous mapping with a read-only page in the middle */
	anon_map = mmap(NULL, MAP_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (anon_map == MAP_FAILED)
		setup_failed("mmap");
	for (i = 0; i < MAP_BYTES / 8; i++)
		anon_map[i] = pat(2 + i / words_per_page, i % words_per_page);
	ro_page = (char *)anon_map + MAP_BYTES / 2;
	if (mprotect(ro_page, page_size, PROT_READ))
		setup_failed("mprotect");

	/* FPU control state */
	if (fesetround(FE_UPWARD))
		setup_failed("fesetround");
	start_mxcsr = read_mxcsr();
	start_x87cw = read_x87cw();

	/* TLS */
	tls_word = TLS_PATTERN;
	start_tls_addr = &tls_word;
	start_fs_base = read_fs_base();

	/* signals */
	ss.ss_sp = altstack;
	ss.ss_size = ALTSTACK_BYTES;
	ss.ss_flags = 0;
	if (sigaltstack(&ss, NULL))
		setup_failed("sigaltstack");

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_usr1;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGINT);
	if (sigaction(SIGUSR1, &sa, NULL))
		setup_failed("sigaction SIGUSR1");

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_usr2;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR2, &sa, NULL))
		setup_failed("sigaction SIGUSR2");

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGHUP, &sa, NULL))
		setup_failed("sigaction SIGHUP");

	install_term_handler();

	if (sigaction(SIGUSR1, NULL, &start_usr1) || sigaction(SIGUSR2, NULL, &start_usr2) ||
	    sigaction(SIGHUP, NULL, &start_hup) || sigaction(SIGTERM, NULL, &start_term))
		setup_failed("sigaction read-back");

	sigemptyset(&blocked);
	sigaddset(&blocked, SIGUSR2);
	if (sigprocmask(SIG_SETMASK, &blocked, NULL))
		setup_failed("sigprocmask");
	sv.sival_int = USR2_VALUE;
	if (sigqueue(getpid(), SIGUSR2, sv))
		setup_failed("sigqueue SIGUSR2");

	/* process attributes */
	umask(027);
	if (chdir(outdir))
		setup_failed("chdir OUTDIR");
	if (!getcwd(start_cwd, sizeof(start_cwd)) || stat(".", &start_cwd_st))
		setup_failed("getcwd");

	if (getrlimit(RLIMIT_NOFILE, &rl))
		setup_failed("getrlimit");
	start_nofile_hard = rl.rlim_max;
	rl.rlim_cur = NOFILE_SOFT;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		setup_failed("setrlimit RLIMIT_NOFILE");

	/* the data file on fd 7 */
	snprintf(data_path, sizeof(data_path), "%s/data.bin", outdir);
	fill_data_pattern(data, 0, DATA_BYTES);
	do
		fd = open(data_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		setup_failed("open data.bin");
	if (write_all(fd, (const char *)data, DATA_BYTES))
		setup_failed("write data.bin");
	if (fd != DATA_FD) {
		if (dup2(fd, DATA_FD) != DATA_FD)
			setup_failed("dup2 data.bin");
		close(fd);
	}
	if (lseek(DATA_FD, DATA_OFFSET, SEEK_SET) != DATA_OFFSET)
		setup_failed("lseek data.bin");

	if (prctl(PR_SET_NAME, COMM, 0, 0, 0))
		setup_failed("PR_SET_NAME");
}

/* ---- self-test corruption ---- */

static void selftest_break(void)
{
#ifdef CREST_SELFTEST_BREAK
	struct sigaction sa;
	struct rlimit rl;
	stack_t ss;
	sigset_t set;
	siginfo_t si;
	struct timespec zero = { 0, 0 };

	if (BREAKS(1))
		heap_buf[HEAP_BYTES / 16] ^= 1;
	if (BREAKS(2))
		anon_map[12345] ^= 1ULL << 40;
	if (BREAKS(3))
		mprotect(ro_page, page_size, PROT_READ | PROT_WRITE);
	if (BREAKS(4))
		counter = 0;
	if (BREAKS(6))
		fesetround(FE_TONEAREST);
	if (BREAKS(7))
		tls_word++;
	if (BREAKS(8)) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_usr1;
		sa.sa_flags = SA_SIGINFO | SA_RESTART;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGUSR1, &sa, NULL);
	}
	if (BREAKS(9)) {
		memset(&ss, 0, sizeof(ss));
		ss.ss_flags = SS_DISABLE;
		sigaltstack(&ss, NULL);
	}
	if (BREAKS(10)) {
		sigemptyset(&set);
		sigaddset(&set, SIGUSR2);
		sigtimedwait(&set, &si, &zero);
	}
	if (BREAKS(11))
		signal(SIGHUP, SIG_DFL);
	if (BREAKS(12))
		umask(022);
	if (BREAKS(13))
		if (chdir("/"))
			perror("chdir");
	if (BREAKS(14)) {
		getrlimit(RLIMIT_NOFILE, &rl);
		rl.rlim_cur = 256;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (BREAKS(15))
		lseek(DATA_FD, 0, SEEK_SET);
	if (BREAKS(16))
		prctl(PR_SET_NAME, "crest-broken", 0, 0, 0);
	if (BREAKS(17))
		open("/dev/null", O_RDONLY);
#endif
}

/* ---- checks ---- */

static void check_maps(void)
{
	uintptr_t start = (uintptr_t)anon_map, end = start + MAP_BYTES;
	uintptr_t ro = (uintptr_t)ro_page, ro_end = ro + page_size;
	struct {
		uintptr_t s, e;
		char perm[8];
	} got[8];
	int n = 0, ok;
	char line[512];
	FILE *f = fopen("/proc/self/maps", "re");

	if (!f) {
		fail("open /proc/self/maps: %s", strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		char perm[8];

		if (sscanf(line, "%lx-%lx %7s", &s, &e, perm) != 3 || e <= start || s >= end)
			continue;
		if (n < 8) {
			got[n].s = s < start ? start : s;
			got[n].e = e > end ? end : e;
			strcpy(got[n].perm, perm);
		}
		n++;
	}
	fclose(f);
	ok = n == 3 && got[0].s == start && got[0].e == ro && !strcmp(got[0].perm, "rw-p") &&
	     got[1].s == ro && got[1].e == ro_end && !strcmp(got[1].perm, "r--p") && got[2].s == ro_end &&
	     got[2].e == end && !strcmp(got[2].perm, "rw-p");
	if (!ok) {
		char desc[512] = "";
		size_t used = 0;
		int i;

		for (i = 0; i < n && i < 8 && used < sizeof(desc) - 64; i++)
			used += snprintf(desc + used, sizeof(desc) - used, "%s+%#lx-%#lx %s", i ? ", " : "",
					 (unsigned long)(got[i].s - start), (unsigned long)(got[i].e - start),
					 got[i].perm);
		fail("2 MiB mapping: %d VMAs in /proc/self/maps [%s], want 3 (rw-p, r--p page at +%#lx, rw-p)",
		     n, desc, (unsigned long)(ro - start));
	}
}

static void check_memory(void)
{
	size_t i, bad, words_per_page = page_size / 8;
	struct sigaction sa, old;
	fenv_t fenv;
	volatile uint64_t *target = (volatile uint64_t *)ro_page;
	uint64_t before = *target;

	for (i = 0, bad = 0; i < HEAP_BYTES / 8; i++)
		if (heap_buf[i] != pat(1, i))
			bad++;
	if (bad)
		fail("heap: %zu of %lu words differ", bad, HEAP_BYTES / 8);
	if ((char *)heap_buf + HEAP_BYTES > (char *)sbrk(0))
		fail("heap buffer no longer below sbrk(0)");

	for (i = 0, bad = 0; i < MAP_BYTES / 8; i++)
		if (anon_map[i] != pat(2 + i / words_per_page, i % words_per_page))
			bad++;
	if (bad)
		fail("anonymous 2 MiB mapping: %zu of %lu words differ", bad, MAP_BYTES / 8);

	check_maps();

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_segv;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &old)) {
		fail("sigaction SIGSEGV: %s", strerror(errno));
		return;
	}
	/* the handler runs with a fresh FPU state and is left by siglongjmp, not sigreturn */
	fegetenv(&fenv);
	if (!sigsetjmp(segv_env, 1)) {
		*target = ~before;
		fail("write to the read-only page did not fault");
	}
	fesetenv(&fenv);
	sigaction(SIGSEGV, &old, NULL);
	if (*target != before)
		fail("read-only page changed by a write");
}

static void check_fpu(void)
{
	unsigned mx = read_mxcsr();
	unsigned short cw = read_x87cw();

	if (reg_bad_iters)
		fail("vector registers changed across nanosleep in %llu iterations (%s%s%s%s)",
		     (unsigned long long)reg_bad_iters, reg_bad_which & 1 ? "xmm8 " : "",
		     reg_bad_which & 2 ? "xmm9 " : "", reg_bad_which & 4 ? "ymm10[127:0] " : "",
		     reg_bad_which & 8 ? "ymm10[255:128] " : "");
	if (mx != start_mxcsr || (mx & 0x6000) != 0x4000)
		fail("MXCSR %#x, want %#x (round up)", mx, start_mxcsr);
	if (cw != start_x87cw || (cw & 0x0c00) != 0x0800)
		fail("x87 control word %#x, want %#x (round up)", cw, start_x87cw);
	if (fegetround() != FE_UPWARD)
		fail("fegetround() %#x, want FE_UPWARD", fegetround());
}

static void check_tls(void)
{
	unsigned long fs = read_fs_base();

	if (tls_word != TLS_PATTERN)
		fail("TLS word %#llx, want %#llx", (unsigned long long)tls_word, TLS_PATTERN);
	if (&tls_word != start_tls_addr)
		fail("TLS word moved from %p to %p", (void *)start_tls_addr, (void *)&tls_word);
	if (fs != start_fs_base)
		fail("FS base %#lx, want %#lx", fs, start_fs_base);
}

static int same_mask(const sigset_t *a, const sigset_t *b)
{
	int sig;

	for (sig = 1; sig < 65; sig++)
		if (sigismember(a, sig) != sigismember(b, sig))
			return 0;
	return 1;
}

static int mask_is_only(const sigset_t *set, int only)
{
	int sig;

	for (sig = 1; sig < 65; sig++)
		if (sigismember(set, sig) != (sig == only))
			return 0;
	return 1;
}

static void check_disposition(int sig, const char *name, const struct sigaction *want)
{
	struct sigaction now;

	if (sigaction(sig, NULL, &now)) {
		fail("sigaction(%s) read: %s", name, strerror(errno));
		return;
	}
	if ((want->sa_flags & SA_SIGINFO ? (void *)now.sa_sigaction != (void *)want->sa_sigaction
					 : now.sa_handler != want->sa_handler))
		fail("%s handler changed", name);
	if (now.sa_flags != want->sa_flags)
		fail("%s sa_flags %#x, want %#x", name, (unsigned)now.sa_flags, (unsigned)want->sa_flags);
	if ((now.sa_flags & SA_RESTORER) && now.sa_restorer != want->sa_restorer)
		fail("%s sa_restorer changed", name);
	if (!same_mask(&now.sa_mask, &want->sa_mask))
		fail("%s sa_mask changed", name);
}

static void check_signals(void)
{
	struct sigaction now;
	sigset_t cur, pending, usr2;
	stack_t ss;
	unsigned want_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;

	check_disposition(SIGUSR1, "SIGUSR1", &start_usr1);
	if (sigaction(SIGUSR1, NULL, &now) == 0) {
		if ((now.sa_flags & want_flags) != want_flags || (now.sa_flags & (SA_NODEFER | SA_RESETHAND)))
			fail("SIGUSR1 flags %#x lack SA_SIGINFO|SA_RESTART|SA_ONSTACK", (unsigned)now.sa_flags);
		if (!mask_is_only(&now.sa_mask, SIGINT))
			fail("SIGUSR1 sa_mask is not {SIGINT}");
	}
	check_disposition(SIGUSR2, "SIGUSR2", &start_usr2);
	check_disposition(SIGHUP, "SIGHUP", &start_hup);
	if (sigaction(SIGHUP, NULL, &now) == 0 && now.sa_handler != SIG_IGN)
		fail("SIGHUP not SIG_IGN");
	check_disposition(SIGTERM, "SIGTERM", &start_term);

	if (sigaltstack(NULL, &ss))
		fail("sigaltstack read: %s", strerror(errno));
	else if (ss.ss_sp != altstack || ss.ss_size != ALTSTACK_BYTES || ss.ss_flags != 0)
		fail("sigaltstack sp %p size %zu flags %#x, want %p %d 0", ss.ss_sp, ss.ss_size,
		     (unsigned)ss.ss_flags, (void *)altstack, ALTSTACK_BYTES);

	if (sigprocmask(SIG_BLOCK, NULL, &cur) || !mask_is_only(&cur, SIGUSR2))
		fail("blocked mask is not exactly {SIGUSR2}%s",
		     sigismember(&cur, SIGUSR2) == 1 ? "" : " (SIGUSR2 not blocked)");
	if (sigpending(&pending) || sigismember(&pending, SIGUSR2) != 1)
		fail("SIGUSR2 no longer pending");
	if (usr2_runs)
		fail("SIGUSR2 handler ran before the unblock (%d times)", usr2_runs);

	/* SIGUSR1 on the alternate stack */
	if (usr1_runs)
		fail("SIGUSR1 handler ran before the raise (%d times)", usr1_runs);
	raise(SIGUSR1);
	if (usr1_runs != 1)
		fail("raise(SIGUSR1) ran the handler %d times", usr1_runs);
	else {
		if (!usr1_on_altstack || !usr1_ss_onstack)
			fail("SIGUSR1 handler not on the alt stack (local in buffer %d, SS_ONSTACK %d)",
			     usr1_on_altstack, usr1_ss_onstack);
		if (!usr1_mask_ok)
			fail("SIGINT/SIGUSR1 not blocked inside the SIGUSR1 handler");
		if (usr1_code != SI_TKILL || usr1_pid != getpid())
			fail("SIGUSR1 si_code %d si_pid %d, want %d %d", usr1_code, usr1_pid, SI_TKILL,
			     (int)getpid());
	}

	/* the queued SIGUSR2 comes out with its value */
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	sigprocmask(SIG_UNBLOCK, &usr2, NULL);
	if (usr2_runs != 1)
		fail("unblocking SIGUSR2 ran its handler %d times, want 1", usr2_runs);
	else if (usr2_code != SI_QUEUE || usr2_value != USR2_VALUE)
		fail("SIGUSR2 si_code %d si_value %#x, want SI_QUEUE (%d) %#x", usr2_code, usr2_value, SI_QUEUE,
		     USR2_VALUE);
}

static ssize_t read_retry(int fd, void *buf, size_t len)
{
	ssize_t n;

	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n;
}

static void check_fds(void)
{
	struct stat fst, pst;
	unsigned char want[16], got[16];
	char link[PATH_MAX];
	off_t off;
	int fl, fdfl, i;
	static const int data_fd = DATA_FD;

	if (fstat(DATA_FD, &fst)) {
		fail("fd %d: fstat: %s", DATA_FD, strerror(errno));
	} else {
		if (stat(data_path, &pst))
			fail("stat %s: %s", data_path, strerror(errno));
		else if (fst.st_dev != pst.st_dev || fst.st_ino != pst.st_ino)
			fail("fd %d is not %s (inode %lu, want %lu)", DATA_FD, data_path,
			     (unsigned long)fst.st_ino, (unsigned long)pst.st_ino);
		if (fst.st_size != DATA_BYTES)
			fail("fd %d size %lld, want %d", DATA_FD, (long long)fst.st_size, DATA_BYTES);
	}
	fl = fcntl(DATA_FD, F_GETFL);
	if (fl < 0 || (fl & O_ACCMODE) != O_RDWR || (fl & O_APPEND))
		fail("fd %d F_GETFL %#x, want O_RDWR without O_APPEND", DATA_FD, (unsigned)fl);
	fdfl = fcntl(DATA_FD, F_GETFD);
	if (fdfl < 0 || (fdfl & FD_CLOEXEC))
		fail("fd %d F_GETFD %d, want FD_CLOEXEC clear", DATA_FD, fdfl);
	off = lseek(DATA_FD, 0, SEEK_CUR);
	if (off != DATA_OFFSET)
		fail("fd %d offset %lld, want %d", DATA_FD, (long long)off, DATA_OFFSET);
	fill_data_pattern(want, DATA_OFFSET, sizeof(want));
	if (read_retry(DATA_FD, got, sizeof(got)) != (ssize_t)sizeof(got) || memcmp(got, want, sizeof(got)))
		fail("fd %d: read of 16 bytes does not return bytes %d..%d", DATA_FD, DATA_OFFSET,
		     DATA_OFFSET + 15);

	for (i = 0; i < 3; i++)
		if (fd_link(i, link, sizeof(link)) ? strcmp(start_stdio[i], "(closed)")
						   : strcmp(start_stdio[i], link))
			fail("fd %d now points elsewhere than %s", i, start_stdio[i]);

	if (check_open_fds(&data_fd, 1) == 0)
		fail("fd %d is not open", DATA_FD);
}

static void check_attributes(void)
{
	char cwd[PATH_MAX], comm[32] = "";
	struct stat st;
	struct rlimit rl;
	mode_t mask = umask(0);

	umask(mask);
	if (mask != 027)
		fail("umask %03o, want 027", (unsigned)mask);
	if (!getcwd(cwd, sizeof(cwd)))
		fail("getcwd: %s", strerror(errno));
	else if (strcmp(cwd, start_cwd))
		fail("cwd %s, want %s", cwd, start_cwd);
	if (stat(".", &st) || st.st_dev != start_cwd_st.st_dev || st.st_ino != start_cwd_st.st_ino)
		fail("cwd is not the OUTDIR inode");
	if (getrlimit(RLIMIT_NOFILE, &rl))
		fail("getrlimit: %s", strerror(errno));
	else if (rl.rlim_cur != NOFILE_SOFT || rl.rlim_max != start_nofile_hard)
		fail("RLIMIT_NOFILE %llu/%llu, want %d/%llu", (unsigned long long)rl.rlim_cur,
		     (unsigned long long)rl.rlim_max, NOFILE_SOFT, (unsigned long long)start_nofile_hard);
	if (prctl(PR_GET_NAME, comm, 0, 0, 0) || strcmp(comm, COMM))
		fail("comm '%s', want '%s'", comm, COMM);
}

static void verify(uint64_t shadow)
{
	uint64_t before;
	int i;

	selftest_break();

	check_pid();

	if (counter <= READY_AT)
		fail(".data counter %llu, want > %d", (unsigned long long)counter, READY_AT);
	if (shadow != ~counter)
		fail("stack shadow of the counter disagrees (counter %llu, shadow says %llu)",
		     (unsigned long long)counter, (unsigned long long)~shadow);

	/* the loop machinery still works; check_fpu() covers these iterations too */
	before = counter;
	for (i = 0; i < 3; i++) {
		counter++;
		sleep_with_live_registers();
	}
	if (counter != before + 3)
		fail("counter did not advance by 3 (%llu -> %llu)", (unsigned long long)before,
		     (unsigned long long)counter);

	check_fpu(); /* first: the SIGSEGV probe in check_memory() leaves its handler by siglongjmp */
	check_memory();
	check_tls();
	check_signals();
	check_attributes();
	check_fds();
}

int main(int argc, char **argv)
{
	uint64_t shadow = ~(uint64_t)0;

	victim_start(argc, argv);

	setup();

	while (!got_term) {
		counter++;
		shadow = ~counter;
		sleep_with_live_registers();
		if (counter == READY_AT)
			write_ready();
	}
	if (!ready_pid) {
		/* SIGTERM before ready: still report, but this cannot be a pass */
		fail("SIGTERM before ready was written (counter %llu)", (unsigned long long)counter);
		ready_pid = getpid();
	}

	verify(shadow);
	return finish_verdict();
}
