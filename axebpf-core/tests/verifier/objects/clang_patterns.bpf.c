/* C as clang compiles it, for the verifier: clamped and masked indices, a switch, an unrolled
 * loop, a memset record, lookups in a per-CPU array and a hash, a bounded loop (not unrolled)
 * and a masked index into a stack buffer. Must verify and run. */
#include "../../../bpf/include/axtrace.h"
struct hist { __u64 b[16]; __u64 total; };
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 4); __type(key, __u32); __type(value, struct hist); } hists SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 64); __type(key, __u64); __type(value, __u64); } seen SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY); __uint(key_size, 4); __uint(value_size, 4); } events SEC(".maps");

SEC("tracepoint/vmm/vcpu_run_exit")
int h1(struct axtrace_vcpu_run_exit *ctx)
{
	__u32 k = ctx->exit_reason & 3;
	struct hist *h = bpf_map_lookup_elem(&hists, &k);
	if (!h) return 0;
	__u32 idx = ctx->width;
	if (idx > 15) idx = 15;
	h->b[idx]++;
	h->total += ctx->value;
	return 0;
}

SEC("tracepoint/vmm/hypercall")
int h2(struct axtrace_hypercall *ctx)
{
	__u64 key = ctx->nr;
	__u64 *v = bpf_map_lookup_elem(&seen, &key);
	__u64 sum = 0;
	#pragma unroll
	for (int i = 0; i < 4; i++) sum += ctx->args[i];
	if (v) { *v += sum; return 1; }
	bpf_map_update_elem(&seen, &key, &sum, BPF_ANY);
	struct axtrace_record rec;
	__builtin_memset(&rec, 0, sizeof rec);
	rec.timestamp_ns = ctx->header.timestamp_ns;
	rec.data = sum;
	bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &rec, sizeof rec);
	return 0;
}

SEC("tracepoint/vmm/mmio_write")
int h3(struct axtrace_mmio_write *ctx)
{
	__u32 k = 0;
	struct hist *h = bpf_map_lookup_elem(&hists, &k);
	if (!h) return 0;
	__u32 w = ctx->width;
	switch (w) { case 1: h->b[0]++; break; case 2: h->b[1]++; break; case 4: h->b[2]++; break; default: h->b[3]++; }
	__u64 gpa = ctx->gpa;
	__u32 slot = (gpa >> 12) % 16;
	h->b[slot] += 1;
	return 0;
}
SEC("tracepoint/vmm/vcpu_run_exit")
int h4(struct axtrace_vcpu_run_exit *ctx)
{
	__u8 buf[16];
	__builtin_memset(buf, 0, sizeof buf);
	buf[ctx->addr & 15] = (__u8)ctx->value;
	__u32 k = 1;
	struct hist *h = bpf_map_lookup_elem(&hists, &k);
	if (!h) return 0;
	__u64 sum = 0;
	#pragma clang loop unroll(disable)
	for (int i = 0; i < 16; i++) sum += h->b[i] + buf[i];
	h->total = sum;
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
