/* Two sections, one of which holds two programs, sharing one map. */
#include "bpf_test.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

static __attribute__((always_inline)) void bump(__u32 key)
{
	__u64 *v = bpf_map_lookup_elem(&hits, &key);
	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("tracepoint/vmm/vcpu_run_enter")
int on_enter(void *ctx)
{
	bump(0);
	return 0;
}

SEC("tracepoint/vmm/vcpu_run_exit")
int on_exit(void *ctx)
{
	bump(1);
	return 1;
}

SEC("tracepoint/vmm/vcpu_run_exit")
int on_exit_again(void *ctx)
{
	return 2;
}

char LICENSE[] SEC("license") = "GPL";
