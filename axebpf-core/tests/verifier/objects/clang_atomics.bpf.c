/* C as clang compiles it, for the verifier: __sync_fetch_and_add on map values (BPF_ATOMIC
 * add). Must verify; the runtime in this tree (rbpf) refuses atomics at load. */
#include "../../../bpf/include/axtrace.h"
struct counts { __u64 exits; __u64 bytes; __u32 last; __u32 pad; };
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4); __type(key, __u32); __type(value, struct counts); } totals SEC(".maps");

SEC("tracepoint/vmm/vcpu_run_exit")
int count(struct axtrace_vcpu_run_exit *ctx)
{
	__u32 k = ctx->exit_reason & 3;
	struct counts *c = bpf_map_lookup_elem(&totals, &k);
	if (!c) return 0;
	__sync_fetch_and_add(&c->exits, 1);
	__sync_fetch_and_add(&c->bytes, ctx->width);
	__sync_fetch_and_add(&c->last, 1);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
