/*
 * The clocks every module reads: CLOCK_MONOTONIC for timeouts and rates,
 * CLOCK_REALTIME for timestamps. Header-only (one vDSO call each).
 */
#ifndef CONDUIT_COMMON_CLOCK_H
#define CONDUIT_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static inline uint64_t clock_mono_ms(void)
{
	return clock_mono_us() / 1000u;
}

static inline int64_t clock_real_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#endif
