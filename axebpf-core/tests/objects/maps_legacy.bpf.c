/* Legacy `struct bpf_map_def SEC("maps")` map definitions. */
#include "bpf_test.h"

struct bpf_map_def SEC("maps") exit_counts = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 512,
	.map_flags = 0,
};

struct bpf_map_def SEC("maps") per_cpu = {
	.type = BPF_MAP_TYPE_PERCPU_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = 24,
	.max_entries = 4,
	.map_flags = 0,
};

struct bpf_map_def SEC("maps") lru = {
	.type = BPF_MAP_TYPE_LRU_HASH,
	.key_size = 8,
	.value_size = 8,
	.max_entries = 128,
	.map_flags = BPF_F_NO_PREALLOC,
};

SEC("kprobe/handle_exit")
int count_exit(void *ctx)
{
	__u32 key = 7;
	__u64 one = 1, *v;

	v = bpf_map_lookup_elem(&exit_counts, &key);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&exit_counts, &key, &one, BPF_ANY);
	v = bpf_map_lookup_elem(&per_cpu, &key);
	if (v)
		*v += 1;
	__u64 k = bpf_ktime_get_ns();
	bpf_map_delete_elem(&lru, &k);
	return 0;
}

char _license[] SEC("license") = "Dual MIT/GPL";
