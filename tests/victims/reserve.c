/*
 * reserve: crest dump/restore integration-test victim (one process, one thread).
 *
 * Usage: reserve OUTDIR
 *
 * Sets up:
 *   - a 64 GiB PROT_NONE MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE reservation (as garbage
 *     collected runtimes make), with its middle 1 MiB made read-write and filled with a
 *     pattern (so the reservation is split in three);
 *   - OUTDIR/ro.bin, 8192 bytes (byte i = (i * 17 + 1) & 0xff), mapped PROT_READ and
 *     MAP_SHARED from a read-only descriptor that is closed right after.
 * Then loops in a 10 ms nanosleep and writes OUTDIR/ready.
 * On SIGTERM it checks that /proc/self/maps still shows the three pieces of the
 * reservation with perms ---p / rw-p / ---p and their sizes, the pattern in the middle
 * MiB, the file mapping as r--s of the right size, and its bytes; writes PASS or
 * FAIL: ... to OUTDIR/verdict, exits 0 or 1.
 * Self-test: -DCREST_SELFTEST_BREAK=1 makes the middle MiB read-only before the checks.
 */
#define _GNU_SOURCE
#include "victim.h"

#include <stdint.h>
#include <sys/mman.h>

#define RESERVE (64ULL << 30)
#define MIDDLE (1ULL << 20)
#define FILE_LEN 8192

/* the maps line starting at addr: perms and length; 0 if none */
static int maps_entry(uintptr_t addr, char perms[5], uint64_t *len)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	unsigned long s, e;
	int found = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx %4s", &s, &e, perms) == 3 && s == addr) {
			*len = e - s;
			found = 1;
			break;
		}
	}
	fclose(f);
	return found;
}

static void expect_entry(const char *what, uintptr_t addr, const char *perms, uint64_t len)
{
	char p[5] = "";
	uint64_t l = 0;

	if (!maps_entry(addr, p, &l))
		fail("%s: no mapping at %#lx", what, (unsigned long)addr);
	else if (strcmp(p, perms) || l != len)
		fail("%s: %s %llu bytes, want %s %llu", what, p, (unsigned long long)l, perms,
		     (unsigned long long)len);
}

int main(int argc, char **argv)
{
	char path[PATH_MAX + 16], buf[FILE_LEN];
	uint8_t *res, *ro;
	uint64_t *mid, i;
	int fd, bad = 0;

	victim_start(argc, argv);
	install_term_handler();
	res = mmap(NULL, RESERVE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		setup_failed("mmap reservation");
	mid = (uint64_t *)(res + RESERVE / 2);
	if (mprotect(mid, MIDDLE, PROT_READ | PROT_WRITE))
		setup_failed("mprotect middle");
	for (i = 0; i < MIDDLE / 8; i++)
		mid[i] = i * 0x9e3779b97f4a7c15ULL;

	for (i = 0; i < FILE_LEN; i++)
		buf[i] = (char)((i * 17 + 1) & 0xff);
	snprintf(path, sizeof(path), "%s/ro.bin", outdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write_all(fd, buf, FILE_LEN))
		setup_failed("writing ro.bin");
	close(fd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		setup_failed("open ro.bin");
	ro = mmap(NULL, FILE_LEN, PROT_READ, MAP_SHARED, fd, 0);
	if (ro == MAP_FAILED)
		setup_failed("mmap ro.bin");
	close(fd);

	write_ready();
	while (!got_term)
		nap();

#ifdef CREST_SELFTEST_BREAK
	mprotect(mid, MIDDLE, PROT_READ);
#endif
	expect_entry("reservation head", (uintptr_t)res, "---p", RESERVE / 2);
	expect_entry("middle", (uintptr_t)mid, "rw-p", MIDDLE);
	expect_entry("reservation tail", (uintptr_t)mid + MIDDLE, "---p", RESERVE / 2 - MIDDLE);
	for (i = 0; i < MIDDLE / 8; i++)
		bad += mid[i] != i * 0x9e3779b97f4a7c15ULL;
	if (bad)
		fail("middle MiB: %d bad words", bad);
	expect_entry("ro.bin mapping", (uintptr_t)ro, "r--s", FILE_LEN);
	if (memcmp(ro, buf, FILE_LEN))
		fail("ro.bin mapping: bytes differ");
	check_pid();
	return finish_verdict();
}
