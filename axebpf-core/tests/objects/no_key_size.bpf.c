/* A BTF map definition without any key size. */
#include "bpf_test.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(value, __u64);
} nokey SEC(".maps");

SEC("tracepoint/vmm/vcpu_run_exit")
int on_exit(void *ctx)
{
	__u32 k = 0;
	return bpf_map_lookup_elem(&nokey, &k) != 0;
}

char LICENSE[] SEC("license") = "GPL";
