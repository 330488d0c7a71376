//! The eBPF runtime's per-call cost, JIT against interpreter in the same run:
//!
//! * `runtime_empty`: `r0 = 0; exit` — the call overhead of each mode.
//! * `runtime_exit_latency`: the shipped `exit_latency` handler's two programs for one VM exit
//!   (`vcpu_run_exit`, then `vcpu_run_enter`: map lookups, a per-CPU hash update in place, a
//!   record into the ring) — the cost per traced exit. Goal: JIT ≥ 5× faster.

use std::hint::black_box;

use axebpf_core::context::{ContextHeader, VcpuRunEnter, VcpuRunExit};
use axebpf_core::object::LoadedObject;
use axebpf_core::platform::host::HostPlatform;
use axebpf_core::record::Record;
use axebpf_core::ring::RingSet;
use axebpf_core::runtime::{ExecMode, Program};
use axtrace_benches::pin_to_cpu;
use criterion::{Criterion, criterion_group, criterion_main};

const EXIT_LATENCY: &[u8] = include_bytes!("../../axebpf-core/bpf/exit_latency.bpf.o");
const MODES: [(&str, ExecMode); 2] = [
    ("jit", ExecMode::Jit),
    ("interpreter", ExecMode::Interpreter),
];

fn empty(c: &mut Criterion) {
    HostPlatform::install();
    let mut group = c.benchmark_group("runtime_empty");
    let code = [0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
    for (name, mode) in MODES {
        let program = Program::load(&code, mode, &[]).unwrap();
        group.bench_function(name, |b| {
            b.iter(|| black_box(program.run(&mut []).unwrap()))
        });
    }
    group.finish();
}

fn exit_latency(c: &mut Criterion) {
    HostPlatform::install();
    pin_to_cpu(0);
    // A ring the drain never reads: once full, records are dropped and counted, which costs the
    // same as storing them.
    let rings: &'static RingSet<Record> = Box::leak(Box::new(RingSet::new(1, 1 << 16).unwrap()));
    let (mut producers, _drain) = rings.split().unwrap();
    HostPlatform::attach_ring(producers.remove(0));
    let mut group = c.benchmark_group("runtime_exit_latency");
    for (name, mode) in MODES {
        let object = LoadedObject::load(EXIT_LATENCY, mode).unwrap();
        let on_exit = object.program("on_exit").unwrap();
        let on_enter = object.program("on_enter").unwrap();
        let mut t = 0u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                t += 1_000;
                let header = |timestamp_ns| ContextHeader {
                    timestamp_ns,
                    vm_id: 1,
                    vcpu_id: 0,
                    pcpu_id: 0,
                    reserved: 0,
                };
                let mut exit = VcpuRunExit {
                    header: header(t),
                    exit_reason: (t % 7 + 1) as u32,
                    addr: 0x3f8,
                    ..Default::default()
                };
                let mut enter = VcpuRunEnter {
                    header: header(t + 400),
                };
                black_box(on_exit.run(bytemuck::bytes_of_mut(&mut exit)).unwrap());
                black_box(on_enter.run(bytemuck::bytes_of_mut(&mut enter)).unwrap());
            })
        });
    }
    group.finish();
}

criterion_group!(benches, empty, exit_latency);
criterion_main!(benches);
