/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * The LTTng-UST peer of axtrace's vcpu_run_exit record: one event with the same four fields
 * (vm_id, vcpu_id, exit_reason, timestamp). Built by `cargo xtask bench --peer lttng`.
 */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER axtrace_peer

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "./tp.h"

#if !defined(AXTRACE_PEER_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define AXTRACE_PEER_TP_H

#include <stdint.h>
#include <lttng/tracepoint.h>

LTTNG_UST_TRACEPOINT_EVENT(
	axtrace_peer,
	vm_exit,
	LTTNG_UST_TP_ARGS(
		uint16_t, vm_id,
		uint16_t, vcpu_id,
		uint32_t, exit_reason,
		uint64_t, timestamp
	),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint16_t, vm_id, vm_id)
		lttng_ust_field_integer(uint16_t, vcpu_id, vcpu_id)
		lttng_ust_field_integer(uint32_t, exit_reason, exit_reason)
		lttng_ust_field_integer(uint64_t, timestamp, timestamp)
	)
)

#endif /* AXTRACE_PEER_TP_H */

#include <lttng/tracepoint-event.h>
