//! What [`run`](crate::run) returns: per vCPU, the exits counted by the VMM next to the script's
//! expected counts, the result-area check and the timings — always with the backend's label.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use axebpf_core::exit_reason::ExitReason;

use crate::script::ResultCheck;

/// One vCPU's results.
#[derive(Debug, Clone)]
pub struct VcpuReport {
    /// VM id.
    pub vm: u16,
    /// vCPU id.
    pub vcpu: u16,
    /// Exits the VMM counted, by reason.
    pub counted: BTreeMap<ExitReason, u64>,
    /// Exits the script makes, by reason.
    pub expected: BTreeMap<ExitReason, u64>,
    /// The result area's check.
    pub results: ResultCheck,
    /// vCPU creation and set-up.
    pub startup: Duration,
    /// First `KVM_RUN` to the end of the script.
    pub wall: Duration,
    /// KVM's own counters (`exits`, `io_exits`, `mmio_exits`, `halt_exits`) for this vCPU, if
    /// KVM offers binary statistics.
    pub kvm_stats: Option<BTreeMap<&'static str, u64>>,
}

impl VcpuReport {
    /// Total exits counted.
    pub fn exits(&self) -> u64 {
        self.counted.values().sum()
    }

    /// The counted exits equal the expected ones, reason by reason.
    pub fn counts_match(&self) -> bool {
        self.counted == self.expected
    }

    /// Exits per second of this vCPU's wall time.
    pub fn exits_per_second(&self) -> f64 {
        self.exits() as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// A run's results.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The backend's label (`emulated (pvm)`, `hardware (kvm_intel)` …).
    pub backend: String,
    /// Whether MSR exits could be forwarded to user space.
    pub msr_forwarding: bool,
    /// What was left out, and why.
    pub warnings: Vec<String>,
    /// Opening KVM and creating every VM (memory, filter).
    pub vm_startup: Duration,
    /// All vCPU threads, start to join.
    pub wall: Duration,
    /// Per vCPU, VM by VM.
    pub vcpus: Vec<VcpuReport>,
}

impl RunReport {
    /// Every vCPU's counts match and its results check.
    pub fn ok(&self) -> bool {
        self.vcpus
            .iter()
            .all(|v| v.counts_match() && v.results.ok())
    }

    /// Exits counted by every vCPU for `vm`, by reason.
    pub fn counted_for_vm(&self, vm: u16) -> BTreeMap<ExitReason, u64> {
        let mut sum = BTreeMap::new();
        for v in self.vcpus.iter().filter(|v| v.vm == vm) {
            for (reason, n) in &v.counted {
                *sum.entry(*reason).or_insert(0) += n;
            }
        }
        sum
    }

    /// A printable summary; every timing line names the backend.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let backend = &self.backend;
        let _ = writeln!(
            out,
            "backend: {backend}; VM start-up {:.2} ms; wall {:.2} ms; MSR forwarding {}",
            self.vm_startup.as_secs_f64() * 1e3,
            self.wall.as_secs_f64() * 1e3,
            if self.msr_forwarding { "yes" } else { "no" }
        );
        for warning in &self.warnings {
            let _ = writeln!(out, "warning: {warning}");
        }
        for v in &self.vcpus {
            let _ = writeln!(
                out,
                "VM {} vCPU {}: {} exits in {:.2} ms = {:.0} exits/s [{backend}], vCPU set-up {:.3} ms, counts {}, results {} ({} checked)",
                v.vm,
                v.vcpu,
                v.exits(),
                v.wall.as_secs_f64() * 1e3,
                v.exits_per_second(),
                v.startup.as_secs_f64() * 1e3,
                if v.counts_match() { "match" } else { "DIFFER" },
                if v.results.ok() { "ok" } else { "WRONG" },
                v.results.checked,
            );
            for reason in v
                .expected
                .keys()
                .chain(v.counted.keys())
                .collect::<std::collections::BTreeSet<_>>()
            {
                let _ = writeln!(
                    out,
                    "  {:<18} counted {:>6}  expected {:>6}",
                    reason.name(),
                    v.counted.get(reason).unwrap_or(&0),
                    v.expected.get(reason).unwrap_or(&0)
                );
            }
        }
        out
    }
}
