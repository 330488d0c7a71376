//! Tracepoint overhead, each against its baseline in the same run:
//!
//! * `tracepoint_disabled`: a loop with a disabled `trace_vmm_irq_inject!` site against the same
//!   loop uninstrumented (goal: ≤ 0.5 ns added — the site is a NOP).
//! * `tracepoint_enabled`: the site enabled with no program (the fixed cost: CPU id, hit count,
//!   the lock-free read of the attachments — no context is built), and with a program attached
//!   whose filter rejects the event (context with timestamp built, filter evaluated).
//! * `tracepoint_exit`: a loop of 1000 simulated VM exits, each passing the run loop's two sites
//!   (`vcpu_run_exit`, then `vcpu_run_enter`), against the same loop without the sites
//!   (`uninstrumented`): sites disabled; enabled with the `exit_latency` handler attached and a
//!   filter that rejects every event; enabled with an empty program (JIT); enabled with the
//!   `exit_latency` handler (a record per exit into the vCPU's ring) on the JIT and on the
//!   interpreter (goal: JIT ≥ 5× faster). The ring is emptied between iterations, outside the
//!   timing, so every record is stored, none dropped.
//! * `host_clock`: the host platform's clock sources, for the calibration note in the README.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axebpf_core::exit_reason::ExitReason;
use axebpf_core::filter::Filter;
use axebpf_core::object::LoadedObject;
use axebpf_core::platform::host::HostPlatform;
use axebpf_core::record::Record;
use axebpf_core::ring::Ring;
use axebpf_core::runtime::ExecMode;
use axebpf_core::tracepoint::{self, AttachedProgram, Tracepoint};
use axebpf_core::{
    trace_vmm_hypercall, trace_vmm_irq_inject, trace_vmm_vcpu_run_enter, trace_vmm_vcpu_run_exit,
};
use axtrace_benches::pin_to_cpu;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const EXIT_COUNT: &[u8] = include_bytes!("../../axebpf-core/bpf/exit_count.bpf.o");
const EXIT_LATENCY: &[u8] = include_bytes!("../../axebpf-core/bpf/exit_latency.bpf.o");
/// `r0 = 0; exit` for each run-loop site (`benches/bpf/empty.bpf.c`).
const EMPTY: &[u8] = include_bytes!("../bpf/empty.bpf.o");
/// Simulated exits per iteration of `tracepoint_exit`.
const EXITS: u64 = 1000;
/// The run loop's two sites, in the order each exit passes them.
const RUN_LOOP_SITES: [&Tracepoint; 2] = [&tracepoint::VCPU_RUN_EXIT, &tracepoint::VCPU_RUN_ENTER];

#[inline(never)]
fn uninstrumented(n: u64) -> u64 {
    let mut sum = 0u64;
    for i in 0..n {
        sum = sum.wrapping_add(black_box(i));
    }
    sum
}

#[inline(never)]
fn instrumented(n: u64) -> u64 {
    let mut sum = 0u64;
    for i in 0..n {
        trace_vmm_irq_inject!(i);
        sum = sum.wrapping_add(black_box(i));
    }
    sum
}

fn disabled(c: &mut Criterion) {
    HostPlatform::install();
    assert!(!tracepoint::IRQ_INJECT.is_enabled());
    let mut group = c.benchmark_group("tracepoint_disabled");
    group.bench_function("uninstrumented_1000", |b| {
        b.iter(|| uninstrumented(black_box(1000)))
    });
    group.bench_function("disabled_site_1000", |b| {
        b.iter(|| instrumented(black_box(1000)))
    });
    group.finish();
}

fn enabled(c: &mut Criterion) {
    HostPlatform::install();
    let mut group = c.benchmark_group("tracepoint_enabled");
    tracepoint::HYPERCALL.set_enabled(true).unwrap();
    group.bench_function("no_program", |b| {
        b.iter(|| trace_vmm_hypercall!(black_box(1u64), 0, 0, 0, 0))
    });
    tracepoint::HYPERCALL.set_enabled(false).unwrap();

    // With a program attached (the filter runs only then) that the filter keeps from running.
    let object = Arc::new(LoadedObject::load(EXIT_COUNT, ExecMode::Jit).unwrap());
    let exit = &tracepoint::VCPU_RUN_EXIT;
    exit.attach(Arc::new(
        AttachedProgram::new("count".into(), object, 0).unwrap(),
    ));
    exit.set_filter(Some(
        Filter::compile("vm_id == 99", "vcpu_run_exit").unwrap(),
    ));
    exit.set_enabled(true).unwrap();
    group.bench_function("filter_rejects", |b| {
        b.iter(|| trace_vmm_vcpu_run_exit!(black_box(1u16), 0u16, ExitReason::IoRead))
    });
    exit.set_enabled(false).unwrap();
    exit.set_filter(None);
    let _ = exit.detach("count");
    group.finish();
}

#[inline(never)]
fn uninstrumented_exits(n: u64) -> u64 {
    let mut sum = 0u64;
    for i in 0..n {
        sum = sum.wrapping_add(black_box(i));
    }
    sum
}

/// `n` simulated exits through the run loop's sites, as `tools/kvmhost`'s loop places them.
#[inline(never)]
fn instrumented_exits(n: u64) -> u64 {
    let mut sum = 0u64;
    for i in 0..n {
        trace_vmm_vcpu_run_exit!(1u16, 0u16, ExitReason::from_code((i % 7 + 1) as u32));
        sum = sum.wrapping_add(black_box(i));
        trace_vmm_vcpu_run_enter!(1u16, 0u16);
    }
    sum
}

/// Attaches program `index` of `object` to both run-loop sites (with `filter`, if any) and
/// enables them; `detach_all` undoes it.
fn attach_all(
    object: &Arc<LoadedObject>,
    index_for: impl Fn(&Tracepoint) -> usize,
    filter: Option<&str>,
) {
    for tp in RUN_LOOP_SITES {
        let program = AttachedProgram::new("bench".into(), object.clone(), index_for(tp)).unwrap();
        tp.attach(Arc::new(program));
        tp.set_filter(filter.map(|f| Filter::compile(f, tp.name).unwrap()));
        tp.set_enabled(true).unwrap();
    }
}

fn detach_all() {
    for tp in RUN_LOOP_SITES {
        tp.set_enabled(false).unwrap();
        tp.set_filter(None);
        let _ = tp.detach("bench");
    }
}

/// Which of `object`'s programs wants `tp` (by its section).
fn program_for_site(object: &LoadedObject) -> impl Fn(&Tracepoint) -> usize + '_ {
    move |tp| {
        object
            .programs()
            .iter()
            .position(|p| p.section == format!("tracepoint/vmm/{}", tp.name))
            .unwrap()
    }
}

fn exits(c: &mut Criterion) {
    HostPlatform::install();
    pin_to_cpu(0);
    // The vCPU's ring; emptied after each timed loop so the handler always stores its record.
    let ring: &'static Ring<Record> = Box::leak(Box::new(Ring::with_capacity(4096).unwrap()));
    let (producer, mut consumer) = ring.split().unwrap();
    HostPlatform::attach_ring(producer);
    let mut timed_exits = |iters: u64| {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let start = Instant::now();
            black_box(instrumented_exits(black_box(EXITS)));
            total += start.elapsed();
            while consumer.pop().is_some() {}
        }
        total
    };

    let mut group = c.benchmark_group("tracepoint_exit");
    group.throughput(Throughput::Elements(EXITS));
    group.bench_function("uninstrumented", |b| {
        b.iter(|| uninstrumented_exits(black_box(EXITS)))
    });
    // Timed like the baseline: with the sites disabled no record reaches the ring.
    group.bench_function("disabled", |b| {
        b.iter(|| instrumented_exits(black_box(EXITS)))
    });

    for mode in [ExecMode::Jit, ExecMode::Interpreter] {
        let object = Arc::new(LoadedObject::load(EXIT_LATENCY, mode).unwrap());
        if mode == ExecMode::Jit {
            attach_all(&object, program_for_site(&object), Some("vm_id == 99"));
            group.bench_function("filter_rejects", |b| b.iter_custom(&mut timed_exits));
            detach_all();

            let empty = Arc::new(LoadedObject::load(EMPTY, mode).unwrap());
            attach_all(&empty, program_for_site(&empty), None);
            group.bench_function("empty_jit", |b| b.iter_custom(&mut timed_exits));
            detach_all();
        }
        attach_all(&object, program_for_site(&object), None);
        let name = match mode {
            ExecMode::Jit => "exit_latency_jit",
            ExecMode::Interpreter => "exit_latency_interpreter",
        };
        group.bench_function(name, |b| b.iter_custom(&mut timed_exits));
        detach_all();
    }
    group.finish();
    let _ = HostPlatform::detach_ring();
}

fn clocks(c: &mut Criterion) {
    let platform = HostPlatform::install();
    let mut group = c.benchmark_group("host_clock");
    let start = Instant::now();
    group.bench_function("instant_elapsed", |b| b.iter(|| black_box(start.elapsed())));
    group.bench_function("platform_monotonic_ns", |b| {
        b.iter(|| black_box(platform.monotonic_ns()))
    });
    #[cfg(target_arch = "x86_64")]
    group.bench_function("rdtsc", |b| {
        // SAFETY: rdtsc has no preconditions on x86_64.
        b.iter(|| black_box(unsafe { core::arch::x86_64::_rdtsc() }))
    });
    group.bench_function("platform_current_cpu", |b| {
        b.iter(|| black_box(platform.current_cpu()))
    });
    group.finish();
}

criterion_group!(benches, disabled, enabled, exits, clocks);
criterion_main!(benches);
