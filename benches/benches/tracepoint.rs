//! Tracepoint overhead, each against its baseline in the same run:
//!
//! * `tracepoint_disabled`: a loop with a disabled `trace_vmm_irq_inject!` site against the same
//!   loop uninstrumented (goal: ≤ 0.5 ns added — the site is a NOP).
//! * `tracepoint_enabled`: the site enabled with no program (the fixed cost: CPU id, hit count,
//!   the lock-free read of the attachments — no context is built), and with a program attached
//!   whose filter rejects the event (context with timestamp built, filter evaluated).
//! * `host_clock`: the host platform's clock sources, for the calibration note in the README.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use axebpf_core::exit_reason::ExitReason;
use axebpf_core::filter::Filter;
use axebpf_core::object::LoadedObject;
use axebpf_core::platform::host::HostPlatform;
use axebpf_core::runtime::ExecMode;
use axebpf_core::tracepoint::{self, AttachedProgram};
use axebpf_core::{trace_vmm_hypercall, trace_vmm_irq_inject, trace_vmm_vcpu_run_exit};
use criterion::{Criterion, criterion_group, criterion_main};

const EXIT_COUNT: &[u8] = include_bytes!("../../axebpf-core/bpf/exit_count.bpf.o");

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

criterion_group!(benches, disabled, enabled, clocks);
criterion_main!(benches);
