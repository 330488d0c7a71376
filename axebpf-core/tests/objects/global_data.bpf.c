/* A reference to a global variable (.bss): a relocation the loader does not support. */
#include "bpf_test.h"

__u64 counter;

SEC("tracepoint/vmm/vcpu_run_exit")
int on_exit(void *ctx)
{
	counter++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
