/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * exit_latency: how long the hypervisor spends handling each VM exit.
 *
 * On vmm:vcpu_run_exit it notes the exit (time, reason, address) for the vCPU; on the vCPU's next
 * vmm:vcpu_run_enter it computes exit -> entry latency, folds it into per-(VM, reason)
 * statistics (count, sum, min, max, log2 buckets) in a per-CPU hash, and emits one 32-byte
 * record per exit into the vCPU's ring.
 *
 * Every function is inlined: the runtime's JIT does not run BPF-to-BPF calls.
 */
#include "axtrace.h"

/* Local variables must not shadow map names: `&latency` would then be a stack address. */

#define MAX_VMS 64
#define MAX_VCPUS_PER_VM 64
#define LATENCY_BUCKETS 32

struct exit_state {
	__u64 exit_ns;
	__u64 addr;
	__u32 exit_reason;
	__u32 pending;
};

struct latency_key {
	__u32 vm_id;
	__u32 exit_reason;
};

struct latency_stats {
	__u64 count;
	__u64 sum_ns;
	__u64 min_ns;
	__u64 max_ns;
	/* bucket i counts latencies in [2^i, 2^(i+1)) ns; bucket 0 also holds 0 */
	__u64 buckets[LATENCY_BUCKETS];
};

/* One slot per (VM, vCPU): written only by that vCPU, so an array needs no lock. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_VMS * MAX_VCPUS_PER_VM);
	__type(key, __u32);
	__type(value, struct exit_state);
} exit_states SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 2048);
	__type(key, struct latency_key);
	__type(value, struct latency_stats);
} latency SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

static __always_inline __u32 vcpu_slot(const struct axtrace_header *h)
{
	return (h->vm_id % MAX_VMS) * MAX_VCPUS_PER_VM + (h->vcpu_id % MAX_VCPUS_PER_VM);
}

static __always_inline __u32 log2_bucket(__u64 v)
{
	__u32 r = 0;
	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) { r += 1; }
	return r < LATENCY_BUCKETS ? r : LATENCY_BUCKETS - 1;
}

SEC("tracepoint/vmm/vcpu_run_exit")
int on_exit(struct axtrace_vcpu_run_exit *ctx)
{
	__u32 slot = vcpu_slot(&ctx->header);
	struct exit_state *state = bpf_map_lookup_elem(&exit_states, &slot);
	if (!state)
		return 0;
	state->exit_ns = ctx->header.timestamp_ns;
	state->addr = ctx->addr;
	state->exit_reason = ctx->exit_reason;
	state->pending = 1;
	return 0;
}

SEC("tracepoint/vmm/vcpu_run_enter")
int on_enter(struct axtrace_vcpu_run_enter *ctx)
{
	__u32 slot = vcpu_slot(&ctx->header);
	struct exit_state *state = bpf_map_lookup_elem(&exit_states, &slot);
	if (!state || !state->pending)
		return 0;
	state->pending = 0;

	__u64 now = ctx->header.timestamp_ns;
	__u64 latency_ns = now > state->exit_ns ? now - state->exit_ns : 0;

	struct latency_key key = { .vm_id = ctx->header.vm_id, .exit_reason = state->exit_reason };
	struct latency_stats *stats = bpf_map_lookup_elem(&latency, &key);
	if (!stats) {
		struct latency_stats fresh = { .min_ns = ~0ULL };
		bpf_map_update_elem(&latency, &key, &fresh, BPF_NOEXIST);
		stats = bpf_map_lookup_elem(&latency, &key);
		if (!stats)
			return 0;
	}
	stats->count += 1;
	stats->sum_ns += latency_ns;
	if (latency_ns < stats->min_ns)
		stats->min_ns = latency_ns;
	if (latency_ns > stats->max_ns)
		stats->max_ns = latency_ns;
	stats->buckets[log2_bucket(latency_ns)] += 1;

	struct axtrace_record rec = {
		.timestamp_ns = state->exit_ns,
		.event = AXTRACE_EVENT_VM_EXIT,
		.vm = ctx->header.vm_id,
		.vcpu = ctx->header.vcpu_id,
		.pcpu = ctx->header.pcpu_id,
		.code = state->exit_reason,
		.aux = latency_ns > 0xffffffffULL ? 0xffffffffU : (__u32)latency_ns,
		.data = state->addr,
	};
	bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &rec, sizeof(rec));
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
