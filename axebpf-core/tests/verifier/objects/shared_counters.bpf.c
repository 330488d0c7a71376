/* Two counters every vCPU increments with __sync_fetch_and_add: an ARRAY value (the result
 * unused: clang emits `lock +=`) and a HASH value (the result used: `atomic_fetch_add`). The
 * runtime's atomics must lose no increment when vCPUs on two CPUs run it at once. */
#include "../../../bpf/include/axtrace.h"
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, __u64); } array_counter SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4); __type(key, __u32); __type(value, __u64); } hash_counter SEC(".maps");

SEC("tracepoint/vmm/vcpu_run_exit")
int count(struct axtrace_vcpu_run_exit *ctx)
{
	__u32 key = 0;
	__u64 zero = 0, *a, *h;

	a = bpf_map_lookup_elem(&array_counter, &key);
	if (a)
		__sync_fetch_and_add(a, 1);
	h = bpf_map_lookup_elem(&hash_counter, &key);
	if (!h) {
		bpf_map_update_elem(&hash_counter, &key, &zero, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&hash_counter, &key);
		if (!h)
			return 1;
	}
	/* The value before the increment: never above the runs so far. */
	return __sync_fetch_and_add(h, 1) >= 4000000;
}
char LICENSE[] SEC("license") = "GPL";
