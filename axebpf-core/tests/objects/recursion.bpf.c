/* A recursive BPF-to-BPF call, which the loader rejects. */
#include "bpf_test.h"

static __attribute__((noinline)) __u64 fib(__u64 n)
{
	if (n < 2)
		return n;
	return fib(n - 1) + fib(n - 2);
}

SEC("tracepoint/vmm/hypercall")
int on_hypercall(__u64 *ctx)
{
	return (int)fib(ctx[0]);
}

char LICENSE[] SEC("license") = "GPL";
