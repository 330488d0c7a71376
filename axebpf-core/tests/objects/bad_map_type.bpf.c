/* A map of a type the loader does not support (BPF_MAP_TYPE_RINGBUF = 27). */
#include "bpf_test.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} rb SEC(".maps");

SEC("tracepoint/vmm/vcpu_run_exit")
int on_exit(void *ctx)
{
	return bpf_map_lookup_elem(&rb, 0) != 0;
}

char LICENSE[] SEC("license") = "GPL";
