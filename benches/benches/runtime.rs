//! The eBPF runtime's per-call cost: our JIT and our interpreter against rbpf 0.4.1's JIT and
//! interpreter and against the same logic written in Rust, same programs, same helpers and
//! maps, one run:
//!
//! * `runtime_empty`: `r0 = 0; exit` — the call overhead of each engine.
//! * `runtime_exit_record`: `benches/bpf/exit_record` — one 32-byte record into the ring.
//! * `runtime_exit_latency`: the shipped `exit_latency` handler's two programs for one VM exit
//!   (`vcpu_run_exit`, then `vcpu_run_enter`: map lookups, a per-CPU hash updated in place, a
//!   record into the ring) — the cost per traced exit.
//! * `runtime_atomic`: an uncontended `lock *(u64 *)(r1 + 0) += r2` against the plain
//!   load-add-store of the same word, in our JIT.
//!
//! Goals (issue 13): our JIT ≥ 1.5× faster than rbpf's JIT on each program and within 1.5× of
//! Rust; our interpreter ≥ 3× faster than rbpf's; the atomic add ≤ 1 ns more than the plain one.

use std::hint::black_box;

use axebpf_core::context::{ContextHeader, VcpuRunEnter, VcpuRunExit};
use axebpf_core::helpers::{
    BPF_F_CURRENT_CPU, MAP_LOOKUP_ELEM_HELPER, MAP_UPDATE_ELEM_HELPER, PERF_EVENT_OUTPUT_HELPER,
};
use axebpf_core::object::LoadedObject;
use axebpf_core::platform::host::HostPlatform;
use axebpf_core::record::Record;
use axebpf_core::ring::RingSet;
use axebpf_core::runtime::{ExecMode, Program};
use axtrace_benches::pin_to_cpu;
use axtrace_benches::rbpf_peer::RbpfProgram;
use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};

const EXIT_LATENCY: &[u8] = include_bytes!("../../axebpf-core/bpf/exit_latency.bpf.o");
const EXIT_RECORD: &[u8] = include_bytes!("../bpf/exit_record.bpf.o");

/// A ring the drain never reads: once full, records are dropped and counted, which costs the
/// same as storing them.
fn attach_ring() {
    HostPlatform::install();
    pin_to_cpu(0);
    let rings: &'static RingSet<Record> = Box::leak(Box::new(RingSet::new(1, 1 << 16).unwrap()));
    let (mut producers, drain) = rings.split().unwrap();
    std::mem::forget(drain);
    HostPlatform::attach_ring(producers.remove(0));
}

fn header(timestamp_ns: u64) -> ContextHeader {
    ContextHeader {
        timestamp_ns,
        vm_id: 1,
        vcpu_id: 0,
        pcpu_id: 0,
        reserved: 0,
    }
}

fn exit_context(t: u64) -> VcpuRunExit {
    VcpuRunExit {
        header: header(t),
        exit_reason: (t % 7 + 1) as u32,
        addr: 0x3f8,
        ..Default::default()
    }
}

/// The memory rbpf's interpreter must allow: the object's map storage.
fn storage(object: &LoadedObject) -> Vec<std::ops::Range<u64>> {
    object
        .maps()
        .iter()
        .flat_map(|m| m.map.storage_ranges())
        .map(|r| r.start as u64..r.end as u64)
        .collect()
}

/// Benchmarks `run(engine, t)` for our two modes and rbpf's two, on `object`'s programs.
fn engines(
    group: &mut BenchmarkGroup<'_, WallTime>,
    elf: &[u8],
    run_ours: fn(&LoadedObject, u64),
    run_rbpf: fn(&[RbpfProgram], u64),
) {
    for (name, mode) in [
        ("axebpf_jit", ExecMode::Jit),
        ("axebpf_interpreter", ExecMode::Interpreter),
    ] {
        let object = LoadedObject::load(elf, mode).unwrap();
        let mut t = 0u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                t += 1_000;
                run_ours(&object, t)
            })
        });
    }
    // rbpf runs the very bytes our verifier accepted, with the same maps.
    let object = LoadedObject::load(elf, ExecMode::Interpreter).unwrap();
    let memory = storage(&object);
    for (name, jit) in [("rbpf_jit", true), ("rbpf_interpreter", false)] {
        let programs: Vec<RbpfProgram> = object
            .programs()
            .iter()
            .map(|p| RbpfProgram::load(&p.code, jit, &memory))
            .collect();
        let mut t = 0u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                t += 1_000;
                run_rbpf(&programs, t)
            })
        });
    }
}

fn empty(c: &mut Criterion) {
    HostPlatform::install();
    let mut group = c.benchmark_group("runtime_empty");
    let code = [0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
    for (name, mode) in [
        ("axebpf_jit", ExecMode::Jit),
        ("axebpf_interpreter", ExecMode::Interpreter),
    ] {
        let program = Program::load(&code, mode, &[]).unwrap();
        group.bench_function(name, |b| {
            b.iter(|| black_box(program.run(&mut []).unwrap()))
        });
    }
    for (name, jit) in [("rbpf_jit", true), ("rbpf_interpreter", false)] {
        let program = RbpfProgram::load(&code, jit, &[]);
        group.bench_function(name, |b| b.iter(|| black_box(program.run(&mut []))));
    }
    extern "C" fn empty_rust(_ctx: *mut u8) -> u64 {
        0
    }
    let native: extern "C" fn(*mut u8) -> u64 = empty_rust;
    group.bench_function("rust", |b| {
        b.iter(|| black_box(black_box(native)(std::ptr::null_mut())))
    });
    group.finish();
}

fn exit_record(c: &mut Criterion) {
    attach_ring();
    let mut group = c.benchmark_group("runtime_exit_record");
    engines(
        &mut group,
        EXIT_RECORD,
        |object, t| {
            let mut exit = exit_context(t);
            let program = &object.programs()[0].program;
            black_box(program.run(bytemuck::bytes_of_mut(&mut exit)).unwrap());
        },
        |programs, t| {
            let mut exit = exit_context(t);
            black_box(programs[0].run(bytemuck::bytes_of_mut(&mut exit)));
        },
    );
    // The same record, built in Rust and emitted through the same helper and ring.
    let object = LoadedObject::load(EXIT_RECORD, ExecMode::Jit).unwrap();
    let events = u64::from(object.maps()[0].handle.raw());
    let mut t = 0u64;
    group.bench_function("rust", |b| {
        b.iter(|| {
            t += 1_000;
            let exit = black_box(exit_context(t));
            black_box(exit_record_rust(&exit, events))
        })
    });
    group.finish();
}

/// `exit_record.bpf.c` in Rust.
#[inline(never)]
fn exit_record_rust(ctx: &VcpuRunExit, events: u64) -> u64 {
    let record = Record {
        timestamp_ns: ctx.header.timestamp_ns,
        event: 1,
        vm: ctx.header.vm_id,
        vcpu: ctx.header.vcpu_id,
        pcpu: ctx.header.pcpu_id,
        code: ctx.exit_reason,
        aux: 0,
        data: 0,
    };
    (PERF_EVENT_OUTPUT_HELPER.call)(
        ctx as *const VcpuRunExit as u64,
        events,
        BPF_F_CURRENT_CPU,
        &record as *const Record as u64,
        32,
    );
    0
}

fn exit_latency(c: &mut Criterion) {
    attach_ring();
    let mut group = c.benchmark_group("runtime_exit_latency");
    engines(
        &mut group,
        EXIT_LATENCY,
        |object, t| {
            let (on_exit, on_enter) = (&object.programs()[0], &object.programs()[1]);
            let mut exit = exit_context(t);
            let mut enter = VcpuRunEnter {
                header: header(t + 400),
            };
            black_box(
                on_exit
                    .program
                    .run(bytemuck::bytes_of_mut(&mut exit))
                    .unwrap(),
            );
            black_box(
                on_enter
                    .program
                    .run(bytemuck::bytes_of_mut(&mut enter))
                    .unwrap(),
            );
        },
        |programs, t| {
            let mut exit = exit_context(t);
            let mut enter = VcpuRunEnter {
                header: header(t + 400),
            };
            black_box(programs[0].run(bytemuck::bytes_of_mut(&mut exit)));
            black_box(programs[1].run(bytemuck::bytes_of_mut(&mut enter)));
        },
    );
    let object = LoadedObject::load(EXIT_LATENCY, ExecMode::Jit).unwrap();
    let handle = |name: &str| {
        let map = object.maps().iter().find(|m| m.name == name).unwrap();
        u64::from(map.handle.raw())
    };
    let maps = LatencyMaps {
        exit_states: handle("exit_states"),
        latency: handle("latency"),
        events: handle("events"),
    };
    let mut t = 0u64;
    group.bench_function("rust", |b| {
        b.iter(|| {
            t += 1_000;
            let exit = black_box(exit_context(t));
            let enter = black_box(VcpuRunEnter {
                header: header(t + 400),
            });
            black_box(exit_latency_on_exit(&exit, &maps));
            black_box(exit_latency_on_enter(&enter, &maps));
        })
    });
    group.finish();
}

/// `exit_latency.bpf.c`'s maps, by handle.
struct LatencyMaps {
    exit_states: u64,
    latency: u64,
    events: u64,
}

/// `struct exit_state` of `exit_latency.bpf.c`.
#[repr(C)]
struct ExitState {
    exit_ns: u64,
    addr: u64,
    exit_reason: u32,
    pending: u32,
}

/// `struct latency_stats` of `exit_latency.bpf.c`.
#[repr(C)]
struct LatencyStats {
    count: u64,
    sum_ns: u64,
    min_ns: u64,
    max_ns: u64,
    buckets: [u64; 32],
}

fn lookup(map: u64, key: &[u8]) -> u64 {
    (MAP_LOOKUP_ELEM_HELPER.call)(map, key.as_ptr() as u64, 0, 0, 0)
}

fn vcpu_slot(header: &ContextHeader) -> u32 {
    u32::from(header.vm_id % 64) * 64 + u32::from(header.vcpu_id % 64)
}

/// `on_exit` of `exit_latency.bpf.c` in Rust, through the same helpers and maps.
#[inline(never)]
fn exit_latency_on_exit(ctx: &VcpuRunExit, maps: &LatencyMaps) -> u64 {
    let state = lookup(maps.exit_states, &vcpu_slot(&ctx.header).to_le_bytes()) as *mut ExitState;
    // SAFETY: a non-null lookup result points at the map's value, `value_size` bytes of
    // `struct exit_state`, which only this (pinned, single) thread touches.
    if let Some(state) = unsafe { state.as_mut() } {
        state.exit_ns = ctx.header.timestamp_ns;
        state.addr = ctx.addr;
        state.exit_reason = ctx.exit_reason;
        state.pending = 1;
    }
    0
}

/// `on_enter` of `exit_latency.bpf.c` in Rust, through the same helpers and maps.
#[inline(never)]
fn exit_latency_on_enter(ctx: &VcpuRunEnter, maps: &LatencyMaps) -> u64 {
    let state = lookup(maps.exit_states, &vcpu_slot(&ctx.header).to_le_bytes()) as *mut ExitState;
    // SAFETY: as in `exit_latency_on_exit`.
    let Some(state) = (unsafe { state.as_mut() }) else {
        return 0;
    };
    if state.pending == 0 {
        return 0;
    }
    state.pending = 0;
    let now = ctx.header.timestamp_ns;
    let latency_ns = now.saturating_sub(state.exit_ns);
    let mut key = [0u8; 8];
    key[..4].copy_from_slice(&u32::from(ctx.header.vm_id).to_le_bytes());
    key[4..].copy_from_slice(&state.exit_reason.to_le_bytes());
    let mut stats = lookup(maps.latency, &key) as *mut LatencyStats;
    if stats.is_null() {
        let fresh = LatencyStats {
            count: 0,
            sum_ns: 0,
            min_ns: u64::MAX,
            max_ns: 0,
            buckets: [0; 32],
        };
        (MAP_UPDATE_ELEM_HELPER.call)(
            maps.latency,
            key.as_ptr() as u64,
            &fresh as *const LatencyStats as u64,
            1,
            0,
        );
        stats = lookup(maps.latency, &key) as *mut LatencyStats;
    }
    // SAFETY: a non-null lookup result points at this CPU's `struct latency_stats`.
    let Some(stats) = (unsafe { stats.as_mut() }) else {
        return 0;
    };
    stats.count += 1;
    stats.sum_ns += latency_ns;
    stats.min_ns = stats.min_ns.min(latency_ns);
    stats.max_ns = stats.max_ns.max(latency_ns);
    let bucket = (63 - latency_ns.max(1).leading_zeros()).min(31) as usize;
    stats.buckets[bucket] += 1;
    let record = Record {
        timestamp_ns: state.exit_ns,
        event: 1,
        vm: ctx.header.vm_id,
        vcpu: ctx.header.vcpu_id,
        pcpu: ctx.header.pcpu_id,
        code: state.exit_reason,
        aux: latency_ns.min(u64::from(u32::MAX)) as u32,
        data: state.addr,
    };
    (PERF_EVENT_OUTPUT_HELPER.call)(
        ctx as *const VcpuRunEnter as u64,
        maps.events,
        BPF_F_CURRENT_CPU,
        &record as *const Record as u64,
        32,
    );
    0
}

fn atomic(c: &mut Criterion) {
    HostPlatform::install();
    let mut group = c.benchmark_group("runtime_atomic");
    let word: &'static mut u64 = Box::leak(Box::new(0));
    let address = word as *mut u64 as u64;
    let insn = |opc: u8, dst: u8, src: u8, off: i16, imm: i32| {
        let (o, i) = (off.to_le_bytes(), imm.to_le_bytes());
        [opc, (src << 4) | dst, o[0], o[1], i[0], i[1], i[2], i[3]]
    };
    let lddw_r1 = [
        insn(0x18, 1, 0, 0, address as u32 as i32),
        insn(0, 0, 0, 0, (address >> 32) as u32 as i32),
    ];
    let body: [(&str, Vec<[u8; 8]>); 2] = [
        // lock *(u64 *)(r1 + 0) += r2
        ("atomic_add", vec![insn(0xdb, 1, 2, 0, 0x00)]),
        // r3 = *(u64 *)(r1 + 0); r3 += r2; *(u64 *)(r1 + 0) = r3
        (
            "plain_add",
            vec![
                insn(0x79, 3, 1, 0, 0),
                insn(0x0f, 3, 2, 0, 0),
                insn(0x7b, 1, 3, 0, 0),
            ],
        ),
    ];
    for (name, body) in body {
        let code: Vec<u8> = lddw_r1
            .iter()
            .chain(&[insn(0xb7, 2, 0, 0, 1)])
            .chain(&body)
            .chain(&[insn(0xb7, 0, 0, 0, 0), insn(0x95, 0, 0, 0, 0)])
            .flatten()
            .copied()
            .collect();
        let program = Program::load(&code, ExecMode::Jit, &[]).unwrap();
        group.bench_function(name, |b| {
            b.iter(|| black_box(program.run(&mut []).unwrap()))
        });
    }
    group.finish();
}

criterion_group!(benches, empty, exit_record, exit_latency, atomic);
criterion_main!(benches);
