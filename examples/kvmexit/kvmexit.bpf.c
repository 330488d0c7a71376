/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * kvmexit: VM exits per (VM, reason) and a log2 histogram of exit -> entry latency per VM,
 * written the way bcc's kvmexit and libbpf-tools' runqlat are: struct keys, a shared (not
 * per-CPU) hash updated with __sync_fetch_and_add from every vCPU at once, a `static
 * __noinline` helper function (a real BPF-to-BPF call) holding a bounded loop, and a log2
 * histogram in a map value.
 *
 *   clang -O2 -g -target bpf -I axebpf-core/bpf/include -c kvmexit.bpf.c
 *   axtrace inspect kvmexit.bpf.o
 *   trace load kvmexit kvmexit.bpf.o; trace enable vmm:vcpu_run_exit; trace enable vmm:vcpu_run_enter
 */
#include "axtrace.h"

#define MAX_VMS 64
#define MAX_SLOTS 32

struct exit_key {
	__u32 vm_id;
	__u32 reason;
};

struct vcpu_key {
	__u32 vm_id;
	__u32 vcpu_id;
};

struct hist {
	__u64 slots[MAX_SLOTS];
};

/* Exits per (VM, reason): one value shared by every vCPU of the VM, so increments are atomic. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct exit_key);
	__type(value, __u64);
} exits SEC(".maps");

/* When each vCPU last exited (0: no exit pending). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct vcpu_key);
	__type(value, __u64);
} start SEC(".maps");

/* Exit -> entry latency per VM: slot i counts latencies in [2^i, 2^(i+1)) ns (slot 0 also 0). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_VMS);
	__type(key, __u32);
	__type(value, struct hist);
} hists SEC(".maps");

/* floor(log2(v)), clamped to the last slot: a loop with a constant bound. */
static __noinline __u32 log2_slot(__u64 v)
{
	__u32 slot = 0;

#pragma clang loop unroll(disable)
	for (int i = 0; i < 63; i++) {
		if (v <= 1)
			break;
		v >>= 1;
		slot++;
	}
	return slot < MAX_SLOTS ? slot : MAX_SLOTS - 1;
}

SEC("tracepoint/vmm/vcpu_run_exit")
int on_exit(struct axtrace_vcpu_run_exit *ctx)
{
	struct exit_key key = { .vm_id = ctx->header.vm_id, .reason = ctx->exit_reason };
	struct vcpu_key vcpu = { .vm_id = ctx->header.vm_id, .vcpu_id = ctx->header.vcpu_id };
	__u64 zero = 0, now = ctx->header.timestamp_ns;
	__u64 *count;

	count = bpf_map_lookup_elem(&exits, &key);
	if (!count) {
		/* Two vCPUs may race to create the entry: BPF_NOEXIST lets exactly one win. */
		bpf_map_update_elem(&exits, &key, &zero, BPF_NOEXIST);
		count = bpf_map_lookup_elem(&exits, &key);
		if (!count)
			return 0;
	}
	__sync_fetch_and_add(count, 1);
	bpf_map_update_elem(&start, &vcpu, &now, BPF_ANY);
	return 0;
}

SEC("tracepoint/vmm/vcpu_run_enter")
int on_enter(struct axtrace_vcpu_run_enter *ctx)
{
	struct vcpu_key vcpu = { .vm_id = ctx->header.vm_id, .vcpu_id = ctx->header.vcpu_id };
	__u32 vm = ctx->header.vm_id % MAX_VMS;
	__u64 *exited, delta;
	struct hist *hist;

	exited = bpf_map_lookup_elem(&start, &vcpu);
	if (!exited || *exited == 0)
		return 0;
	delta = ctx->header.timestamp_ns - *exited;
	*exited = 0;
	hist = bpf_map_lookup_elem(&hists, &vm);
	if (!hist)
		return 0;
	__sync_fetch_and_add(&hist->slots[log2_slot(delta)], 1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
