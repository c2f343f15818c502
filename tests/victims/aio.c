/*
 * aio: crest integration-test victim for AIO rings (io_setup).
 *
 * Usage: aio OUTDIR            (OUTDIR: absolute path of a writable directory)
 *
 * Setup: an AIO context for 8 requests; five 1-byte writes to OUTDIR/data submitted (aio_data
 * 1..5) and all five completed, two of them reaped with io_getevents: the ring holds three
 * completed events, its head and tail apart. Then OUTDIR/ready and a wait for SIGTERM.
 *
 * On SIGTERM it checks: the ring is at the same address, io_getevents gives the three events
 * left (aio_data 3, 4, 5, each a 1-byte result) and no more; a new write submitted then
 * completes as the only event (aio_data 6), so the kernel's view of the ring matches its
 * contents; the ring header's head and tail agree with that.
 * Verdict: OUTDIR/verdict holds "PASS" or "FAIL: " and the failed checks.
 *
 * Build: gcc -O1 -static -Wall -Wextra -o aio aio.c
 */
#define _GNU_SOURCE
#include "victim.h"

#include <linux/aio_abi.h>

struct ring {
	unsigned id, nr, head, tail, magic, compat, incompat, header_length;
};

static aio_context_t ctx;
static int fd;
static struct iocb cbs[8];

static long io_submit_one(int n)
{
	struct iocb *p = &cbs[n % 8];

	memset(p, 0, sizeof(*p));
	p->aio_data = n;
	p->aio_lio_opcode = IOCB_CMD_PWRITE;
	p->aio_fildes = fd;
	p->aio_buf = (uintptr_t) "x";
	p->aio_nbytes = 1;
	p->aio_offset = n;
	return syscall(SYS_io_submit, ctx, 1, &p);
}

/* up to max events, waiting at most a second for at least min */
static int get_events(struct io_event *ev, int min, int max)
{
	struct timespec t = { .tv_sec = 1 };

	return syscall(SYS_io_getevents, ctx, min, max, ev, &t);
}

int main(int argc, char **argv)
{
	char path[PATH_MAX + 8];
	struct io_event ev[8];
	aio_context_t before;
	struct ring *r;
	int i, n;

	victim_start(argc, argv);
	install_term_handler();
	snprintf(path, sizeof(path), "%s/data", outdir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || syscall(SYS_io_setup, 8, &ctx))
		setup_failed("io_setup");
	for (i = 1; i <= 5; i++)
		if (io_submit_one(i) != 1)
			setup_failed("io_submit");
	/* all five complete (writes to a file complete at once or soon) */
	r = (struct ring *)ctx;
	for (i = 0; i < 100 && r->tail != 5; i++)
		nap();
	if (r->tail != 5 || get_events(ev, 2, 2) != 2 || ev[0].data != 1 || ev[1].data != 2)
		setup_failed("the first two events");
	before = ctx;
	write_ready();
	while (!got_term)
		nap();
	check_pid();

	if (ctx != before)
		fail("the context changed");
	n = get_events(ev, 3, 8);
	if (n != 3)
		fail("%d events left, not 3", n);
	for (i = 0; i < n && i < 3; i++)
		if (ev[i].data != (uint64_t)(3 + i) || ev[i].res != 1)
			fail("event %d: data %llu res %lld", i, (unsigned long long)ev[i].data,
			     (long long)ev[i].res);
	if (io_submit_one(6) != 1)
		fail("io_submit after restore: %s", strerror(errno));
	n = get_events(ev, 1, 8);
	if (n != 1 || ev[0].data != 6 || ev[0].res != 1)
		fail("after a new write: %d events (data %llu)", n, (unsigned long long)ev[0].data);
	if (r->head != r->tail || r->tail != 6 % r->nr)
		fail("ring head %u tail %u (nr %u)", r->head, r->tail, r->nr);
	{
		int fds[] = { fd };

		check_open_fds(fds, 1);
	}
	return finish_verdict();
}
