/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * exit_count: VM exits per (VM, reason), nothing else — the cheapest always-on mode.
 */
#include "axtrace.h"

struct count_key {
	__u32 vm_id;
	__u32 exit_reason;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 2048);
	__type(key, struct count_key);
	__type(value, __u64);
} exit_counts SEC(".maps");

SEC("tracepoint/vmm/vcpu_run_exit")
int count_exit(struct axtrace_vcpu_run_exit *ctx)
{
	struct count_key key = { .vm_id = ctx->header.vm_id, .exit_reason = ctx->exit_reason };
	__u64 *count = bpf_map_lookup_elem(&exit_counts, &key);
	if (count) {
		*count += 1;
	} else {
		__u64 one = 1;
		bpf_map_update_elem(&exit_counts, &key, &one, BPF_NOEXIST);
	}
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
