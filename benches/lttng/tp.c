/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The tracepoint provider: LTTng-UST's probes for tp.h, compiled into the driver. */
#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#define LTTNG_UST_TRACEPOINT_DEFINE
#include "tp.h"
