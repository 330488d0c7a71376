/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Fires N axtrace_peer:vm_exit events (default 10,000,000) from one thread pinned to CPU 0 and
 * prints the time per event, timed with clock_gettime(CLOCK_MONOTONIC) around the loop only.
 * The loop has the shape of axtrace's `tracing_loop`: one event per simulated VM exit, the
 * fields computed from the loop counter (LTTng adds its own clock reading to every event).
 * Output: one line, `events=N elapsed_ns=T ns_per_event=X`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tp.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	uint64_t events = 10000000;
	if (argc > 1) {
		char *end;
		errno = 0;
		events = strtoull(argv[1], &end, 10);
		if (errno || *end || events == 0) {
			fprintf(stderr, "driver: bad event count `%s` (want a positive integer)\n", argv[1]);
			return 2;
		}
	}
	cpu_set_t cpus;
	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	if (sched_setaffinity(0, sizeof(cpus), &cpus) != 0)
		fprintf(stderr, "driver: could not pin to CPU 0: %s\n", strerror(errno));

	uint64_t start = now_ns();
	for (uint64_t i = 0; i < events; i++)
		lttng_ust_tracepoint(axtrace_peer, vm_exit, 1, 0, (uint32_t)(i % 7 + 1), i);
	uint64_t elapsed = now_ns() - start;

	printf("events=%llu elapsed_ns=%llu ns_per_event=%.3f\n", (unsigned long long)events,
	       (unsigned long long)elapsed, (double)elapsed / (double)events);
	return 0;
}
