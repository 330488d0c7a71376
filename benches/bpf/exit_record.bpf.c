/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * exit_record: on vmm:vcpu_run_exit, one 32-byte record with the VM, vCPU, exit reason and the
 * tracepoint's timestamp into the vCPU's ring — the same work as the LTTng-UST peer's event
 * (four fields, no aggregation), for `cargo xtask bench --peer lttng`.
 */
#include "../../axebpf-core/bpf/include/axtrace.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

SEC("tracepoint/vmm/vcpu_run_exit")
int on_exit(struct axtrace_vcpu_run_exit *ctx)
{
	struct axtrace_record rec = {
		.timestamp_ns = ctx->header.timestamp_ns,
		.event = AXTRACE_EVENT_VM_EXIT,
		.vm = ctx->header.vm_id,
		.vcpu = ctx->header.vcpu_id,
		.pcpu = ctx->header.pcpu_id,
		.code = ctx->exit_reason,
	};
	bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &rec, sizeof(rec));
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
