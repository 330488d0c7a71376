/* BTF-defined maps of every supported type, used by one program. */
#include "bpf_test.h"

struct flow_key {
	__u32 vm;
	__u16 vcpu;
	__u16 reason;
	__u64 gpa;
};

struct exit_stat {
	__u64 count;
	__u64 total_ns;
	__u64 max_ns;
};

typedef const volatile struct exit_stat exit_stat_t;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, struct exit_stat);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct flow_key);
	__type(value, exit_stat_t);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 8);
	__type(key, int);
	__type(value, __u64[4]);
} hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 256);
	__uint(key_size, 4);
	__uint(value_size, 16);
} recent SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(int));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

struct record {
	__u64 ts;
	__u32 reason;
	__u32 aux;
};

SEC("tracepoint/vmm/vcpu_run_exit")
int on_exit(void *ctx)
{
	__u32 key = 0;
	__u64 one = 1, *n;
	struct flow_key fk = { .vm = 1, .vcpu = 2, .reason = 3, .gpa = 4 };
	struct exit_stat *s;
	int idx = 0;
	__u64 *h;
	char r[16] = {};
	struct record rec;

	n = bpf_map_lookup_elem(&counts, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST);
	s = bpf_map_lookup_elem(&stats, &key);
	if (s)
		s->count++;
	s = bpf_map_lookup_elem(&flows, &fk);
	if (s)
		s->max_ns = bpf_ktime_get_ns();
	h = bpf_map_lookup_elem(&hist, &idx);
	if (h)
		h[1]++;
	bpf_map_update_elem(&recent, &key, r, BPF_ANY);
	rec.ts = bpf_ktime_get_ns();
	rec.reason = bpf_get_smp_processor_id();
	rec.aux = 0;
	bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &rec, sizeof(rec));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
