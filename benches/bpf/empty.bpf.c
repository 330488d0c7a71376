/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * empty: `r0 = 0; exit` on both run-loop tracepoints — what running any program at all costs
 * (benchmark `tracepoint_exit/empty_jit`).
 */
#define SEC(name) __attribute__((section(name), used))

SEC("tracepoint/vmm/vcpu_run_exit")
int on_exit(void *ctx)
{
	return 0;
}

SEC("tracepoint/vmm/vcpu_run_enter")
int on_enter(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
