/* BPF-to-BPF calls: static non-inlined functions in .text, one calling another. */
#include "bpf_test.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} totals SEC(".maps");

static __attribute__((noinline)) __u64 square(__u64 x)
{
	return x * x;
}

static __attribute__((noinline)) __u64 add_square(__u32 key, __u64 x)
{
	__u64 *v = bpf_map_lookup_elem(&totals, &key);
	__u64 s = square(x);

	if (v)
		*v += s;
	return s;
}

/* 5 * 5 + 3 * 3 = 34 when the map has no entry. */
SEC("tracepoint/vmm/hypercall")
int on_hypercall(void *ctx)
{
	return (int)add_square(1, 5) + (int)square(3);
}

/* Calls square first, then add_square (which calls square too): callers still come first. */
SEC("tracepoint/vmm/mmio")
int on_mmio(__u64 *ctx)
{
	__u64 a = square(ctx[0]);

	return (int)(a + add_square(2, ctx[1]));
}

char LICENSE[] SEC("license") = "GPL";
