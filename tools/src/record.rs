//! `axtrace record` and `axtrace demo`: trace real VM exits of the KVM-backed VMM with the
//! shipped `exit_latency` handler and write them to a dump.
//!
//! The handler's two programs are attached to `vmm:vcpu_run_exit` / `vmm:vcpu_run_enter` and
//! JIT-compiled; each vCPU thread gets its own ring; a `SCHED_IDLE` drain thread writes the dump
//! while the guests run. The handler emits a vCPU's record at its next entry, so each vCPU's
//! last exit (the script's final write to the exit port, after which the VMM stops the vCPU)
//! has no record: records = exits − 1 per vCPU, plus or minus nothing else.
//!
//! Without a usable `/dev/kvm` (or with `--synthetic`) the synthetic source of `axtrace-kvm`
//! drives the same tracepoints with the same mix, and every output says "synthetic".

use std::collections::BTreeMap;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use axebpf_core::drain::Drain;
use axebpf_core::dump::{DumpWriter, Metadata};
use axebpf_core::exit_reason::ExitReason;
use axebpf_core::object::LoadedObject;
use axebpf_core::platform::host::HostPlatform;
use axebpf_core::record::Record;
use axebpf_core::ring::{Producer, RingSet};
use axebpf_core::runtime::ExecMode;
use axebpf_core::tracepoint::{self, AttachedProgram};
use axtrace_kvm::{Config, Mix, RunReport};

use crate::drain_thread::{self, FileSink};

/// The shipped handler, compiled by `cargo xtask bpf`.
const EXIT_LATENCY: &[u8] = include_bytes!("../../axebpf-core/bpf/exit_latency.bpf.o");

/// What to record.
#[derive(Debug, Clone)]
pub struct RecordConfig {
    /// VMs.
    pub vms: u16,
    /// vCPUs per VM.
    pub vcpus: u16,
    /// Exits per vCPU, by kind.
    pub mix: Mix,
    /// Distinct ports / MMIO addresses per kind.
    pub working_set: u32,
    /// Records per vCPU ring.
    pub ring_capacity: usize,
    /// Where the dump goes.
    pub output: PathBuf,
    /// How the handler runs.
    pub mode: ExecMode,
    /// Drive the tracepoints from the synthetic source even if KVM works.
    pub synthetic: bool,
}

/// What a recording did.
#[derive(Debug)]
pub struct RecordSummary {
    /// The VMM's report (exits counted by the VMM, per vCPU; backend label).
    pub run: RunReport,
    /// Records in the dump.
    pub records: u64,
    /// Records the rings dropped (also in the dump).
    pub dropped: u64,
    /// Exits the handler measured, by (VM, reason): count and total ns.
    pub measured: BTreeMap<(u32, u32), (u64, u64)>,
    /// The dump.
    pub output: PathBuf,
    /// Why the synthetic source was used, if it was.
    pub synthetic_because: Option<String>,
}

/// Parses `io=40,mmio=30,hlt=10,msr=10,hypercall=10` (percentages of `exits`) into a mix.
/// Kinds: io, mmio, hole, hlt, msr, hypercall, cpuup, cpudown, ipi, systemdown, nothing, kick,
/// fail (an MMIO access KVM cannot emulate: `KVM_EXIT_INTERNAL_ERROR`, i.e. `FailEntry`).
pub fn parse_mix(spec: &str, exits: u32) -> Result<Mix> {
    let mut mix = Mix::default();
    let mut total = 0u32;
    for part in spec.split(',').filter(|p| !p.trim().is_empty()) {
        let (kind, percent) = part
            .split_once('=')
            .with_context(|| format!("`{part}` in --mix: expected KIND=PERCENT"))?;
        let percent: u32 = percent
            .trim()
            .parse()
            .with_context(|| format!("`{part}` in --mix: `{percent}` is not a whole percentage"))?;
        total += percent;
        let n = exits * percent / 100;
        let (half, rest) = (n / 2, n - n / 2);
        match kind.trim() {
            "io" => (mix.io_out, mix.io_in) = (rest, half),
            "mmio" => (mix.mmio_write, mix.mmio_read) = (rest, half),
            "hole" => mix.hole = n,
            "hlt" => mix.hlt = n,
            "msr" => (mix.msr_write, mix.msr_read) = (rest, half),
            "hypercall" => mix.doorbell[0] = n,
            "cpuup" => mix.doorbell[1] = n,
            "cpudown" => mix.doorbell[2] = n,
            "ipi" => mix.doorbell[3] = n,
            "systemdown" => mix.doorbell[4] = n,
            "nothing" => mix.doorbell[5] = n,
            "kick" => mix.kicks = n,
            "fail" => mix.unemulated = n,
            other => bail!(
                "unknown kind `{other}` in --mix (io, mmio, hole, hlt, msr, hypercall, cpuup, \
                 cpudown, ipi, systemdown, nothing, kick, fail)"
            ),
        }
    }
    if total != 100 {
        bail!("--mix percentages add up to {total}, not 100");
    }
    Ok(mix)
}

/// Parses `5s`, `500ms`, `2m` or `1.5` (seconds): positive and under a day.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let ns = crate::convert::parse_duration_ns(text, Some("s"))?;
    if ns >= 24 * 3600 * 1_000_000_000 {
        bail!("`{text}`: the duration must be positive and under a day");
    }
    Ok(Duration::from_nanos(ns))
}

/// Exits per vCPU that should take about `duration` with this mix: a short untraced run of the
/// same shape (1,000 exits per vCPU) measures each vCPU's rate from its first entry to its last
/// exit (start-up excluded) first.
pub fn exits_for(duration: Duration, config: &RecordConfig, mix_spec: &str) -> Result<u32> {
    const PROBE: u32 = 1000;
    let probe = Config {
        vms: config.vms,
        vcpus: config.vcpus,
        mix: parse_mix(mix_spec, PROBE)?,
        working_set: config.working_set,
        deadline: Duration::from_secs(30),
        first_vm_id: 1,
    };
    let report = if config.synthetic || axtrace_kvm::kvm_usable().is_err() {
        axtrace_kvm::synthetic::run_with(&probe, &|_, _| {})?
    } else {
        axtrace_kvm::run(&probe)?
    };
    let slowest = report
        .vcpus
        .iter()
        .map(|v| v.wall)
        .max()
        .unwrap_or(report.wall);
    let per_vcpu_per_s = f64::from(PROBE) / slowest.as_secs_f64().max(1e-6);
    Ok((per_vcpu_per_s * duration.as_secs_f64()).clamp(100.0, 50_000_000.0) as u32)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Records real VM exits into `config.output`. Recordings in one process run one at a time:
/// they attach to the process-wide tracepoints.
pub fn record(config: &RecordConfig) -> Result<RecordSummary> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _recording = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let synthetic_because = if config.synthetic {
        Some("--synthetic was given".to_string())
    } else {
        axtrace_kvm::kvm_usable()
            .err()
            .map(|why| format!("/dev/kvm not usable: {why}"))
    };
    HostPlatform::install();
    let object = Arc::new(
        LoadedObject::load(EXIT_LATENCY, config.mode).context("loading exit_latency.bpf.o")?,
    );
    let mut attached = Vec::new();
    for (index, program) in object.programs().iter().enumerate() {
        let tp = tracepoint::for_section(&program.section)?;
        let name = format!("record/{}", program.name);
        let program =
            AttachedProgram::new(name.clone(), object.clone(), index).context("program index")?;
        tp.attach(Arc::new(program));
        attached.push((tp, name));
    }

    let rings = usize::from(config.vms) * usize::from(config.vcpus);
    // The producers move into the vCPU threads' thread-locals, which need 'static: one leaked
    // set per recording (a CLI process makes one).
    let set: &'static RingSet<Record> = Box::leak(Box::new(
        RingSet::new(rings, config.ring_capacity).context("ring capacity")?,
    ));
    let (producers, consumers) = set.split().expect("a fresh set splits");
    let producers: Mutex<Vec<Option<Producer<'static, Record>>>> =
        Mutex::new(producers.into_iter().map(Some).collect());
    let first_vm = 1u16;
    let metadata = Metadata {
        vcpus: (0..rings)
            .map(|i| {
                let vm = first_vm + (i / usize::from(config.vcpus)) as u16;
                (i as u16, vm, (i % usize::from(config.vcpus)) as u16)
            })
            .collect(),
        clock: HostPlatform::clock_source().into(),
        host: format!(
            "{}, {}",
            hostname(),
            if synthetic_because.is_some() {
                axtrace_kvm::synthetic::LABEL.to_string()
            } else {
                axtrace_kvm::Backend::detect().label()
            }
        ),
        programs: vec![format!("exit_latency ({})", config.mode)],
    };
    let file = std::fs::File::create(&config.output)
        .with_context(|| format!("creating {}", config.output.display()))?;
    let writer = DumpWriter::new(FileSink(BufWriter::new(file)), &metadata)?;
    let drain = Drain::new(consumers, writer, 4096);

    let kvm_config = Config {
        vms: config.vms,
        vcpus: config.vcpus,
        mix: config.mix,
        working_set: config.working_set,
        deadline: Duration::from_secs(120),
        first_vm_id: first_vm,
    };
    let on_start = |vm: u16, vcpu: u16| {
        let index = usize::from(vm - first_vm) * usize::from(config.vcpus) + usize::from(vcpu);
        if let Some(producer) = producers.lock().ok().and_then(|mut p| p[index].take()) {
            HostPlatform::attach_ring(producer);
        }
    };
    for tp in [&tracepoint::VCPU_RUN_EXIT, &tracepoint::VCPU_RUN_ENTER] {
        tp.set_enabled(true)?;
    }
    let stop = AtomicBool::new(false);
    let (run, drain) = std::thread::scope(|scope| {
        let drainer = scope.spawn(|| drain_thread::run(drain, Duration::from_millis(2), &stop));
        let run = if synthetic_because.is_some() {
            axtrace_kvm::synthetic::run_with(&kvm_config, &on_start)
        } else {
            axtrace_kvm::run_with(&kvm_config, &on_start)
        };
        stop.store(true, std::sync::atomic::Ordering::Release);
        (
            run,
            drainer.join().expect("the drain thread does not panic"),
        )
    });
    for tp in [&tracepoint::VCPU_RUN_EXIT, &tracepoint::VCPU_RUN_ENTER] {
        tp.set_enabled(false)?;
    }
    for (tp, name) in &attached {
        let _ = tp.detach(name);
    }
    let run = run?;
    let drain = drain?;
    let (records, dropped) = (drain.records_written(), drain.drops_written());
    let mut sink = drain.finish().into_sink();
    sink.flush()
        .with_context(|| format!("writing {}", config.output.display()))?;

    let mut measured = BTreeMap::new();
    if let Some(latency) = object.map("latency") {
        for key in latency.keys() {
            let vm = u32::from_le_bytes(key[0..4].try_into().unwrap_or_default());
            let reason = u32::from_le_bytes(key[4..8].try_into().unwrap_or_default());
            let (mut count, mut sum) = (0, 0);
            for value in latency.read_per_cpu(&key).unwrap_or_default() {
                count += u64::from_le_bytes(value[0..8].try_into().unwrap_or_default());
                sum += u64::from_le_bytes(value[8..16].try_into().unwrap_or_default());
            }
            measured.insert((vm, reason), (count, sum));
        }
    }
    Ok(RecordSummary {
        run,
        records,
        dropped,
        measured,
        output: config.output.clone(),
        synthetic_because,
    })
}

/// The one-screen summary.
pub fn render(summary: &RecordSummary) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = match &summary.synthetic_because {
        None => writeln!(
            out,
            "recorded real VM exits on KVM — timings: {}",
            summary.run.backend
        ),
        Some(why) => writeln!(
            out,
            "SYNTHETIC exits, no VM ran ({why}) — source: {}",
            summary.run.backend
        ),
    };
    for warning in &summary.run.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    let _ = writeln!(
        out,
        "{:>4} {:<18} {:>10} {:>10} {:>14}",
        "vm", "exit reason", "VMM count", "handler", "avg exit→entry"
    );
    let mut vms: Vec<u16> = summary.run.vcpus.iter().map(|v| v.vm).collect();
    vms.dedup();
    for vm in vms {
        for (reason, count) in summary.run.counted_for_vm(vm) {
            let (handled, sum) = summary
                .measured
                .get(&(u32::from(vm), reason.code()))
                .copied()
                .unwrap_or((0, 0));
            let avg = sum.checked_div(handled).unwrap_or(0);
            let _ = writeln!(
                out,
                "{:>4} {:<18} {:>10} {:>10} {:>11} ns",
                vm,
                reason.name(),
                count,
                handled,
                avg
            );
        }
    }
    let exits: u64 = summary
        .run
        .vcpus
        .iter()
        .flat_map(|v| v.counted.values())
        .sum();
    let _ = writeln!(
        out,
        "{} exits on {} vCPUs in {:.2} s; {} records written, {} dropped (each vCPU's final exit \
         has no following entry, so no record); dump: {}",
        exits,
        summary.run.vcpus.len(),
        summary.run.wall.as_secs_f64(),
        summary.records,
        summary.dropped,
        summary.output.display()
    );
    out
}

/// Exits whose reason the handler saw per reason, all VMs.
pub fn measured_by_reason(summary: &RecordSummary) -> BTreeMap<ExitReason, u64> {
    let mut by_reason = BTreeMap::new();
    for ((_, reason), (count, _)) in &summary.measured {
        *by_reason.entry(ExitReason::from_code(*reason)).or_insert(0) += count;
    }
    by_reason
}
