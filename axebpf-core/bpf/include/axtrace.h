/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * axtrace.h — what an eBPF handler for axtrace needs, in the style of libbpf's bpf_helpers.h:
 * section and map-definition macros, helper prototypes (Linux numbering, plus the hypervisor's
 * own), the VMM tracepoint context structs, the exit-reason codes and the 32-byte record.
 *
 * Compile handlers with stock clang:  clang -O2 -g -target bpf -c handler.bpf.c
 *
 * The context structs and exit codes mirror axebpf-core's `context` and `exit_reason` modules;
 * a test compiles this header's offsetof()s against the Rust layout.
 */
#ifndef AXTRACE_H
#define AXTRACE_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed long long __s64;

/* ---- sections and map definitions (libbpf conventions) ---- */
#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define __always_inline inline __attribute__((always_inline))
#define __noinline __attribute__((noinline))

enum {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERF_EVENT_ARRAY = 4,
	BPF_MAP_TYPE_PERCPU_HASH = 5,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_LRU_HASH = 9,
};

enum { BPF_ANY = 0, BPF_NOEXIST = 1, BPF_EXIST = 2 };
#define BPF_F_CURRENT_CPU 0xffffffffULL

/* ---- helpers: Linux ids where Linux has the helper ---- */
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value, __u64 flags) = (void *)2;
static long (*bpf_map_delete_elem)(void *map, const void *key) = (void *)3;
static __u64 (*bpf_ktime_get_ns)(void) = (void *)5;
static long (*bpf_trace_printk)(const char *fmt, __u32 fmt_size, ...) = (void *)6;
static __u32 (*bpf_get_smp_processor_id)(void) = (void *)8;
static long (*bpf_perf_event_output)(void *ctx, void *map, __u64 flags, void *data, __u64 size) = (void *)25;
/* the hypervisor's own, above Linux's helper range */
static __u32 (*bpf_get_current_vm_id)(void) = (void *)0x10000001;
static __u32 (*bpf_get_current_vcpu_id)(void) = (void *)0x10000002;

/* ---- exit reasons: AxVCpuExitReason::to_trace_code ---- */
#define AXTRACE_EXIT_HYPERCALL 1
#define AXTRACE_EXIT_MMIO_READ 2
#define AXTRACE_EXIT_MMIO_WRITE 3
#define AXTRACE_EXIT_SYS_REG_READ 4
#define AXTRACE_EXIT_SYS_REG_WRITE 5
#define AXTRACE_EXIT_IO_READ 6
#define AXTRACE_EXIT_IO_WRITE 7
#define AXTRACE_EXIT_EXTERNAL_INTERRUPT 8
#define AXTRACE_EXIT_NESTED_PAGE_FAULT 9
#define AXTRACE_EXIT_HALT 10
#define AXTRACE_EXIT_CPU_UP 11
#define AXTRACE_EXIT_CPU_DOWN 12
#define AXTRACE_EXIT_SYSTEM_DOWN 13
#define AXTRACE_EXIT_NOTHING 14
#define AXTRACE_EXIT_FAIL_ENTRY 15
#define AXTRACE_EXIT_SEND_IPI 16
#define AXTRACE_EXIT_OTHER 0xffff

/* ---- tracepoint contexts (SEC("tracepoint/vmm/<name>")) ---- */
struct axtrace_header {
	__u64 timestamp_ns;
	__u16 vm_id;
	__u16 vcpu_id;
	__u16 pcpu_id;
	__u16 reserved;
};

struct axtrace_vcpu_run_enter {
	struct axtrace_header header;
};

struct axtrace_vcpu_run_exit {
	struct axtrace_header header;
	__u32 exit_reason;
	__u32 width;
	__u64 addr;
	__u64 value;
	__u64 aux;
};

struct axtrace_hypercall {
	struct axtrace_header header;
	__u64 nr;
	__u64 args[4];
};

struct axtrace_mmio_read {
	struct axtrace_header header;
	__u64 gpa;
	__u64 value;
	__u32 width;
	__u32 reserved;
};

struct axtrace_mmio_write {
	struct axtrace_header header;
	__u64 gpa;
	__u64 value;
	__u32 width;
	__u32 reserved;
};

struct axtrace_ept_violation {
	struct axtrace_header header;
	__u64 gpa;
	__u32 access;
	__u32 reserved;
};

struct axtrace_irq_inject {
	struct axtrace_header header;
	__u32 vector;
	__u32 reserved;
};

struct axtrace_vcpu_sched {
	struct axtrace_header header;
	__u32 sched_in;
	__u32 target_pcpu;
};

/* ---- the 32-byte record handlers emit with bpf_perf_event_output ---- */
/* event ids (stable; the dump lists them) */
#define AXTRACE_EVENT_VM_EXIT 1 /* code = exit reason, aux = exit->entry ns (saturating), data = addr */

struct axtrace_record {
	__u64 timestamp_ns;
	__u16 event;
	__u16 vm;
	__u16 vcpu;
	__u16 pcpu;
	__u32 code;
	__u32 aux;
	__u64 data;
};

#endif /* AXTRACE_H */
