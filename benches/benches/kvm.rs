//! Real KVM exits per second, untraced against traced with the shipped `exit_latency` handler
//! (JIT, records into a ring the benchmark drains), in the same run. One iteration = one VM with
//! one vCPU running 2,000 scripted exits (VM creation included in both). Timings on `kvm_pvm`
//! are emulated; the ratio is what matters. Skipped, saying why, without a usable /dev/kvm.
//!
//! `kvm_handling` times the VMM's side of each exit in the same runs' shape: from `KVM_RUN`
//! returning to the next `KVM_RUN` call (exit decoding, the reply, the tracepoints when enabled),
//! summed by the run loop (`axtrace_kvm::vcpu::handling_totals`); per element = per exit.
//!
//! Criterion measures the untraced and traced cases seconds apart, so on a shared host their
//! ratio moves with the load. After the groups, [`paired`] therefore runs [`PAIRS`] pairs of one
//! untraced and one traced run back to back (which goes first alternates) and reports the median
//! of the pairs' ratios, with its quartiles — on stderr, and as a Bencher Metric Format fragment
//! in `$AXTRACE_BENCH_PAIRED_DIR/kvm.json` when `cargo xtask bench` sets that folder.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axebpf_core::object::LoadedObject;
use axebpf_core::platform::host::HostPlatform;
use axebpf_core::record::Record;
use axebpf_core::ring::{Producer, RingSet};
use axebpf_core::runtime::ExecMode;
use axebpf_core::tracepoint::{self, AttachedProgram};
use axtrace_kvm::{Config, Mix, RunReport};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};

const EXIT_LATENCY: &[u8] = include_bytes!("../../axebpf-core/bpf/exit_latency.bpf.o");
const EXITS: u32 = 2000;
/// Untraced/traced run pairs of the paired ratio.
const PAIRS: usize = 15;

fn config() -> Config {
    let mix = Mix {
        io_out: 600,
        io_in: 400,
        mmio_write: 300,
        mmio_read: 300,
        hlt: 200,
        doorbell: [200, 0, 0, 0, 0, 0],
        ..Mix::default()
    };
    assert_eq!(
        mix.io_out + mix.io_in + mix.mmio_write + mix.mmio_read + mix.hlt + mix.doorbell[0],
        EXITS
    );
    Config {
        vms: 1,
        vcpus: 1,
        mix,
        working_set: 16,
        deadline: Duration::from_secs(60),
        first_vm_id: 1,
    }
}

/// A fresh record ring for one traced run (the drain's cost is measured elsewhere; 4096 slots
/// hold every record of a run). Made before the timing starts: it is set-up, not per-exit cost.
/// Every slot is written once first: a hypervisor allocates its rings at start-up and reuses
/// them, while a fresh 128 KiB mapping takes a page fault per 128 records during the run, and
/// faults are expensive under kvm_pvm.
fn fresh_ring() -> Producer<'static, Record> {
    const SLOTS: usize = 4096;
    let set: &'static RingSet<Record> = Box::leak(Box::new(RingSet::new(1, SLOTS).unwrap()));
    let (producers, mut consumer) = set.split().unwrap();
    let mut producer = producers.into_iter().next().unwrap();
    for _ in 0..SLOTS {
        producer.push(Record::default()).unwrap();
    }
    consumer.drain_once(usize::MAX, |_, _| {});
    producer
}

/// One run of `config` with `ring` handed to its vCPU thread.
fn traced_run(config: &Config, ring: Producer<'static, Record>) -> RunReport {
    let producer = std::sync::Mutex::new(Some(ring));
    axtrace_kvm::run_with(config, &|_, _| {
        if let Some(p) = producer.lock().unwrap().take() {
            HostPlatform::attach_ring(p);
        }
    })
    .unwrap()
}

/// `iters` runs (traced or not), timed by the run loop's handling clock; checks every exit but
/// each run's last was timed.
fn handling(config: &Config, traced: bool, iters: u64) -> Duration {
    let (exits_before, before) = axtrace_kvm::vcpu::handling_totals();
    for _ in 0..iters {
        let report = if traced {
            traced_run(config, fresh_ring())
        } else {
            axtrace_kvm::run(config).unwrap()
        };
        assert!(report.ok());
    }
    let (exits_after, after) = axtrace_kvm::vcpu::handling_totals();
    assert_eq!(exits_after - exits_before, iters * u64::from(EXITS));
    after - before
}

fn set_tracing(on: bool) {
    for tp in [&tracepoint::VCPU_RUN_EXIT, &tracepoint::VCPU_RUN_ENTER] {
        tp.set_enabled(on).unwrap();
    }
}

fn kvm(c: &mut Criterion) {
    if let Err(why) = axtrace_kvm::kvm_usable() {
        eprintln!("skipped kvm benchmarks: /dev/kvm not usable: {why}");
        return;
    }
    HostPlatform::install();
    let label = axtrace_kvm::Backend::detect().label();
    let mut group = c.benchmark_group(format!("kvm_exits [{label}]"));
    group
        .throughput(Throughput::Elements(u64::from(EXITS)))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10);
    let config = config();
    let run = |iters: u64| {
        let start = Instant::now();
        for _ in 0..iters {
            assert!(axtrace_kvm::run(&config).unwrap().ok());
        }
        start.elapsed()
    };
    group.bench_function("untraced", |b| b.iter_custom(run));

    let object = Arc::new(LoadedObject::load(EXIT_LATENCY, ExecMode::Jit).unwrap());
    for (index, program) in object.programs().iter().enumerate() {
        let tp = tracepoint::for_section(&program.section).unwrap();
        tp.attach(Arc::new(
            AttachedProgram::new(program.name.clone(), object.clone(), index).unwrap(),
        ));
    }
    set_tracing(true);
    group.bench_function("traced_exit_latency_jit", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let ring = fresh_ring();
                let start = Instant::now();
                let report = traced_run(&config, ring);
                total += start.elapsed();
                assert!(report.ok());
            }
            total
        })
    });
    set_tracing(false);
    group.finish();

    let mut group = c.benchmark_group(format!("kvm_handling [{label}]"));
    group
        .throughput(Throughput::Elements(u64::from(EXITS)))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10);
    group.bench_function("untraced", |b| {
        b.iter_custom(|iters| handling(&config, false, iters))
    });
    set_tracing(true);
    group.bench_function("traced_exit_latency_jit", |b| {
        b.iter_custom(|iters| handling(&config, true, iters))
    });
    set_tracing(false);
    group.finish();

    if !std::env::args().any(|a| a == "--list") {
        paired(&config, &label);
    }
}

/// One run, traced or not, timed whole.
fn timed_run(config: &Config, traced: bool) -> Duration {
    set_tracing(traced);
    let ring = traced.then(fresh_ring);
    let start = Instant::now();
    let report = if let Some(ring) = ring {
        traced_run(config, ring)
    } else {
        axtrace_kvm::run(config).unwrap()
    };
    let elapsed = start.elapsed();
    set_tracing(false);
    assert!(report.ok());
    elapsed
}

/// The traced ÷ untraced ratio of back-to-back run pairs: median and quartiles.
fn paired(config: &Config, label: &str) {
    let mut ratios: Vec<f64> = (0..PAIRS)
        .map(|pair| {
            let (untraced, traced) = if pair % 2 == 0 {
                let untraced = timed_run(config, false);
                (untraced, timed_run(config, true))
            } else {
                let traced = timed_run(config, true);
                (timed_run(config, false), traced)
            };
            traced.as_secs_f64() / untraced.as_secs_f64()
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    let quantile = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize];
    let (low, median, high) = (quantile(0.25), quantile(0.5), quantile(0.75));
    let name = format!("kvm_exits [{label}]/traced_paired");
    eprintln!(
        "{name}: traced/untraced over {PAIRS} pairs: median {median:.4} (quartiles {low:.4}..{high:.4})"
    );
    if let Some(dir) = std::env::var_os("AXTRACE_BENCH_PAIRED_DIR") {
        let dir = std::path::PathBuf::from(dir);
        let fragment = format!(
            "{{\"{name}\": {{\"ratio\": {{\"value\": {median}, \"lower_value\": {low}, \"upper_value\": {high}}}}}}}\n"
        );
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(dir.join("kvm.json"), fragment))
            .unwrap_or_else(|e| panic!("writing {}: {e}", dir.join("kvm.json").display()));
    }
}

criterion_group!(benches, kvm);
criterion_main!(benches);
