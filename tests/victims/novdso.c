/*
 * novdso: crest integration-test victim for a task that unmapped its vdso and vvar (CRIU's
 * vdso02): the dump must inject its system calls through a syscall instruction of the
 * task's own code, and the restore must not map a vdso back.
 *
 * Usage: novdso OUTDIR           (OUTDIR: absolute path of a writable directory)
 *
 * Setup: every [vdso], [vvar] and [vvar_vclock] mapping of /proc/self/maps is unmapped (the
 * victim then only makes plain system calls: nanosleep, open, read, write). Then
 * OUTDIR/ready and a wait for SIGTERM.
 *
 * On SIGTERM it checks: the pid; /proc/self/maps names no vdso or vvar mapping; a counter
 * kept in memory kept counting.
 * Verdict: OUTDIR/verdict holds "PASS" or "FAIL: " and the failed checks.
 *
 * Build: gcc -O1 -static -Wall -Wextra -o novdso novdso.c
 */
#define _GNU_SOURCE
#include "victim.h"

#include <sys/mman.h>

static char maps[65536];

static ssize_t read_maps(void)
{
	int fd = open("/proc/self/maps", O_RDONLY);
	ssize_t n = 0, r;

	if (fd < 0)
		return -1;
	while ((r = read(fd, maps + n, sizeof(maps) - 1 - n)) > 0)
		n += r;
	close(fd);
	maps[n] = 0;
	return n;
}

int main(int argc, char **argv)
{
	volatile unsigned long counter = 0;
	unsigned long at_ready;
	char *line, *save = NULL;

	victim_start(argc, argv);
	install_term_handler();
	if (read_maps() <= 0)
		setup_failed("maps");
	for (line = strtok_r(maps, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long start, end;

		if ((strstr(line, "[vdso]") || strstr(line, "[vvar")) &&
		    sscanf(line, "%lx-%lx", &start, &end) == 2 && munmap((void *)start, end - start))
			setup_failed("munmap");
	}
	write_ready();
	at_ready = counter;
	while (!got_term) {
		counter++;
		nap();
	}

	check_pid();
	if (read_maps() <= 0)
		fail("reading /proc/self/maps");
	else if (strstr(maps, "[vdso]") || strstr(maps, "[vvar"))
		fail("a vdso or vvar mapping is back");
	if (counter <= at_ready)
		fail("the counter stopped");
	return finish_verdict();
}
