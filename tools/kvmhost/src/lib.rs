//! `axtrace-kvm`: a small KVM-backed VMM whose guests produce real, exactly countable VM exits,
//! traced through axebpf-core's `trace_vmm_*!` tracepoints like AxVisor's run loop.
//!
//! [`run`] creates N VMs × M vCPUs (one thread per vCPU, each with a deadline watchdog). Each
//! vCPU's guest is 64-bit code generated on the host ([`guest`]) that walks an exit script
//! generated from a [`Mix`] ([`script`]): one exit per entry. The VMM counts the exits by
//! reason through the one exit table ([`exits::exit_detail`]), supplies deterministic values for
//! reads, and the [`RunReport`] compares the counts and stored values with the script's.

pub mod backend;
pub mod exits;
pub mod guest;
pub mod kick;
pub mod layout;
pub mod report;
pub mod script;
pub mod stats;
pub mod synthetic;
pub mod vcpu;
pub mod vm;

use std::sync::mpsc;
use std::time::{Duration, Instant};

pub use backend::{Backend, kvm_usable};
pub use report::{RunReport, VcpuReport};
pub use script::Mix;

/// What [`run`] runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Number of VMs.
    pub vms: u16,
    /// vCPUs per VM.
    pub vcpus: u16,
    /// Exits per vCPU, by kind.
    pub mix: Mix,
    /// Distinct ports / MMIO addresses per kind (1..=[`layout::WORKING_SET_MAX`]).
    pub working_set: u32,
    /// A vCPU not done by then is kicked and the run fails.
    pub deadline: Duration,
    /// The first VM's id (VM `i` is `first_vm_id + i`), so runs in one process stay apart in
    /// process-wide maps.
    pub first_vm_id: u16,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            vms: 1,
            vcpus: 1,
            mix: Mix::small(),
            working_set: 16,
            deadline: Duration::from_secs(10),
            first_vm_id: 0,
        }
    }
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `/dev/kvm` cannot be used.
    #[error("/dev/kvm not usable: {0}")]
    Unusable(String),
    /// A KVM ioctl failed.
    #[error("{what} failed: {source}")]
    Kvm {
        /// The ioctl.
        what: &'static str,
        /// The error.
        source: kvm_ioctls::Error,
    },
    /// The configuration cannot be run.
    #[error("bad configuration: {0}")]
    Config(String),
    /// Generating the guest code failed.
    #[error("assembling the guest failed: {0}")]
    Assemble(#[from] iced_x86::IcedError),
    /// A vCPU missed its deadline and was kicked out.
    #[error("VM {vm} vCPU {vcpu} missed its deadline and was kicked")]
    Deadline {
        /// VM id.
        vm: u16,
        /// vCPU id.
        vcpu: u16,
    },
    /// The guest did something the VMM does not expect.
    #[error("VM {vm} vCPU {vcpu}: {what}")]
    Guest {
        /// VM id.
        vm: u16,
        /// vCPU id.
        vcpu: u16,
        /// What happened.
        what: String,
    },
    /// A vCPU thread panicked.
    #[error("VM {vm} vCPU {vcpu}: its thread panicked")]
    Panicked {
        /// VM id.
        vm: u16,
        /// vCPU id.
        vcpu: u16,
    },
}

/// Runs `config`: every vCPU's script to its end, counted and checked.
pub fn run(config: &Config) -> Result<RunReport, Error> {
    run_with(config, &|_, _| {})
}

/// [`run`], calling `on_start(vm, vcpu)` on each vCPU's thread before its first `KVM_RUN` —
/// where a tracer hands the vCPU its record ring
/// (`axebpf_core::platform::host::HostPlatform::attach_ring`).
pub fn run_with(config: &Config, on_start: &(dyn Fn(u16, u16) + Sync)) -> Result<RunReport, Error> {
    let backend = Backend::detect();
    backend.usable.clone().map_err(Error::Unusable)?;
    if config.vms == 0 || config.vcpus == 0 {
        return Err(Error::Config("at least one VM and one vCPU".into()));
    }
    if !(1..=layout::WORKING_SET_MAX).contains(&config.working_set) {
        return Err(Error::Config(format!(
            "working set {} outside 1..={}",
            config.working_set,
            layout::WORKING_SET_MAX
        )));
    }
    axebpf_core::platform::host::HostPlatform::install();
    kick::install_signal_handler();
    let kvm_err = |what| move |source| Error::Kvm { what, source };
    let started = Instant::now();
    let kvm = kvm_ioctls::Kvm::new().map_err(kvm_err("open /dev/kvm"))?;
    let mut mix = config.mix;
    let mut warnings = Vec::new();
    let msr_forwarding = vm::msr_forwarding_supported(&kvm);
    if mix.uses_msrs() && !msr_forwarding {
        warnings.push(
            "KVM lacks KVM_CAP_X86_USER_SPACE_MSR / MSR filters: MSR exits left out of the mix"
                .to_string(),
        );
        mix = mix.without_msrs();
    }
    let code = guest::code()?;
    let cpuid = kvm
        .get_supported_cpuid(kvm_bindings::KVM_MAX_CPUID_ENTRIES)
        .map_err(kvm_err("KVM_GET_SUPPORTED_CPUID"))?;
    let mut vms = Vec::with_capacity(usize::from(config.vms));
    for index in 0..config.vms {
        let id = config.first_vm_id.wrapping_add(index);
        let scripts = (0..config.vcpus)
            .map(|vcpu| script::generate(&mix, config.working_set, id, vcpu))
            .collect();
        vms.push(vm::create(&kvm, id, scripts, &code, mix.uses_msrs())?);
    }
    let vm_startup = started.elapsed();
    let run_start = Instant::now();
    let outcomes = run_threads(&vms, &cpuid, &code, &mix, config.deadline, on_start);
    let wall = run_start.elapsed();
    let mut vcpus = Vec::new();
    for (vm, vm_outcomes) in vms.iter().zip(outcomes) {
        for (index, outcome) in vm_outcomes.into_iter().enumerate() {
            let outcome = outcome?;
            let (entries, _, results_gpa) = &vm.scripts[index];
            let done = vm.memory.read_u64(*results_gpa);
            let stored: Vec<u64> = (0..entries.len() as u64)
                .map(|i| vm.memory.read_u64(results_gpa + 8 + 8 * i))
                .collect();
            vcpus.push(VcpuReport {
                vm: vm.id,
                vcpu: index as u16,
                expected: script::expected_counts(entries, mix.kicks),
                counted: outcome.counted,
                kvm_stats: outcome.kvm_stats,
                results: script::check_results(entries, done, &stored),
                startup: outcome.startup,
                wall: outcome.wall,
            });
        }
    }
    Ok(RunReport {
        backend: backend.label(),
        msr_forwarding,
        warnings,
        vm_startup,
        wall,
        vcpus,
    })
}

/// Runs every vCPU on its own thread with its own watchdog; outcomes per VM, per vCPU.
fn run_threads(
    vms: &[vm::Vm],
    cpuid: &kvm_bindings::CpuId,
    code: &[u8],
    mix: &Mix,
    deadline: Duration,
    on_start: &(dyn Fn(u16, u16) + Sync),
) -> Vec<Vec<Result<vcpu::VcpuOutcome, Error>>> {
    std::thread::scope(|scope| {
        let handles: Vec<Vec<_>> = vms
            .iter()
            .map(|vm| {
                let fd = &vm.fd;
                let id = vm.id;
                vm.scripts
                    .iter()
                    .enumerate()
                    .map(|(index, (entries, script_gpa, results_gpa))| {
                        let expected = script::expected_counts(entries, 0);
                        let job = vcpu::VcpuJob {
                            vm: id,
                            vcpu: index as u16,
                            fd,
                            cpuid,
                            code,
                            script: *script_gpa,
                            results: *results_gpa,
                            script_exits: expected.values().sum(),
                            kicks: mix.kicks,
                            on_start,
                        };
                        let kicker = std::sync::Arc::new(kick::Kicker::default());
                        let (done_tx, done_rx) = mpsc::channel::<()>();
                        let watch = kicker.clone();
                        scope.spawn(move || kick::watchdog(&watch, &done_rx, deadline));
                        let handle = scope.spawn(move || {
                            let result = vcpu::run(&job, &kicker);
                            drop(done_tx);
                            result
                        });
                        (id, index as u16, handle)
                    })
                    .collect()
            })
            .collect();
        handles
            .into_iter()
            .map(|vm| {
                vm.into_iter()
                    .map(|(vm, vcpu, handle)| {
                        handle.join().unwrap_or(Err(Error::Panicked { vm, vcpu }))
                    })
                    .collect()
            })
            .collect()
    })
}
