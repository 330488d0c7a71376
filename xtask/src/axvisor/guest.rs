//! The guests AxVisor runs under test: `axvisor/guest/guest.S`, a bare-metal aarch64 program
//! that makes every kind of VM exit on purpose, a known number of times, built once per VM with
//! that VM's counts; its VM configurations; and the exits each will cause, per exit reason.
//!
//! Two VMs of two vCPUs each. vCPU 0 powers vCPU 1 on (PSCI CPU_ON); both run their scripted
//! actions; vCPU 1 powers itself off (CPU_OFF); vCPU 0 waits until it is off, prints one line
//! on the virtual UART and ends the VM: VM 1 with PSCI SYSTEM_OFF, VM 2 with a load from an
//! unbacked guest-physical address, which AxVisor answers by stopping the VM with a fault (the
//! stage-2 fault case). How each action becomes an AxVisor 0.8.2 exit (axvm 0.8.5's
//! `ArmVmExit`) is documented on [`VcpuActions`]; the guest's source says why it is
//! deterministic.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use axebpf_core::exit_reason::ExitReason;

/// Where the guest is loaded and entered (`guest.ld` links it there).
pub const GUEST_LOAD_ADDR: u64 = 0x8020_0000;
/// The guest's RAM: 16 MiB at 2 GiB, allocated by AxVisor (`MAP_ALLOC`), so the VMs do not
/// share it.
pub const GUEST_RAM: (u64, u64) = (0x8000_0000, 0x100_0000);
/// Where AxVisor puts the device tree it generates (the guest does not read it).
pub const GUEST_DTB_ADDR: u64 = 0x8000_0000;
/// The guest-physical address the fault-ending guest reads: no RAM, no device (`guest.S`'s
/// `UNBACKED_GPA`).
pub const UNBACKED_GPA: u64 = 0x6000_0000;
/// The line vCPU 0 prints before ending the VM is `BANNER_PREFIX`, the VM id (one digit),
/// `BANNER_SUFFIX`; each byte is one MMIO write to the UART.
pub const BANNER_PREFIX: &str = "axtrace-guest vm";
/// See [`BANNER_PREFIX`].
pub const BANNER_SUFFIX: &str = " done ";
/// After the banner: the virtual-counter ticks vCPU 0's actions took, as 16 hex digits, and a
/// newline — each byte one more MMIO write.
pub const TICKS_LINE_BYTES: u64 = 16 + 1;
/// MMIO writes every VM makes besides its scripted ones: each vCPU enables its virtual-timer
/// PPI in its redistributor (`GICR_ISENABLER0`).
const SETUP_MMIO_WRITES: u64 = 2;
/// Hypercalls every VM makes besides its scripted ones: vCPU 0's PSCI AFFINITY_INFO, which
/// confirms that vCPU 1 is off before the VM ends (repeated only if vCPU 1 were still on ~16 ms
/// after the flag it sets just before its CPU_OFF).
const SETUP_HYPERCALLS: u64 = 1;

/// What one vCPU does, one block per kind in this order, each `count` times. The exits are
/// those of AxVisor 0.8.2 (axvm 0.8.5) on QEMU 7.2's `virt` with GICv3, `-cpu max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VcpuActions {
    /// `hvc #0` with x0 = PSCI MIGRATE_INFO_TYPE (0x8400_0006): `Hypercall`, which AxVisor
    /// answers (2, "no trusted OS") without logging anything. Reason Hypercall.
    pub hypercalls: u32,
    /// `hvc #0` with x0 = PSCI_VERSION (0x8400_0000): answered in the trap layer, `Nothing`.
    /// Reason Nothing.
    pub psci_version: u32,
    /// Reads of `CNTP_CTL_EL0`: the physical timer traps (`CNTHCTL_EL2.EL1PCEN` = 0) and the
    /// trap layer emulates it, `Nothing`. Reason Nothing.
    pub timer_reads: u32,
    /// 32-bit reads of the emulated distributor's `GICD_IIDR` (0x0800_0008): `MmioRead`.
    /// Reason MmioRead.
    pub mmio_reads: u32,
    /// 32-bit writes of 0 to `GICD_CTLR` (0x0800_0000), which keep the virtual distributor
    /// disabled: `MmioWrite`. Reason MmioWrite.
    pub mmio_writes: u32,
    /// Reads of `ICC_PMR_EL1`: **no exit**. They read `ICV_PMR_EL1`; AxVisor traps the common
    /// GIC registers (`ICH_HCR_EL2.TC`, which would make them `GicCpuInterfaceRead`) only on
    /// CPUs without `ICH_VTR_EL2.TDS`, and QEMU has it. Any other trapped register read would
    /// be a `SysRegRead` no device handles, which stops the VM — so reason SysRegRead stays 0,
    /// and these reads check that nothing is counted for them.
    pub sysreg_reads: u32,
    /// Writes of SGI 15 (never active) to `ICC_DIR_EL1`, trapped by `ICH_HCR_EL2.TDIR`:
    /// `DeactivateInterrupt`, a no-op. Reason SysRegWrite.
    pub sysreg_writes: u32,
    /// `WFI` with the virtual timer armed ~1 ms ahead (`CNTFRQ >> 10` ticks), disarmed after:
    /// `WaitForInterrupt`. Reason Halt.
    pub wfi: u32,
    /// Writes to `ICC_SGI1R_EL1` sending an SGI to the other vCPU (SGI 1 from vCPU 0, 2 from
    /// vCPU 1), trapped by `HCR_EL2.IMO`: `SendIPI`. Reason SendIPI.
    pub sgis: u32,
}

impl VcpuActions {
    /// The `-D` macros for vCPU `index`, as `guest.S` names them.
    fn defines(&self, index: usize) -> Vec<(String, u64)> {
        [
            ("HVC", self.hypercalls),
            ("PSCI_VERSION", self.psci_version),
            ("TIMER_READS", self.timer_reads),
            ("MMIO_READS", self.mmio_reads),
            ("MMIO_WRITES", self.mmio_writes),
            ("SYSREG_READS", self.sysreg_reads),
            ("SYSREG_WRITES", self.sysreg_writes),
            ("WFI", self.wfi),
            ("SGIS", self.sgis),
        ]
        .into_iter()
        .map(|(name, count)| (format!("V{index}_{name}"), u64::from(count)))
        .collect()
    }

    /// The largest count: `guest.S` loads each into a register with one `mov` (16 bits).
    fn max_count(&self) -> u32 {
        [
            self.hypercalls,
            self.psci_version,
            self.timer_reads,
            self.mmio_reads,
            self.mmio_writes,
            self.sysreg_reads,
            self.sysreg_writes,
            self.wfi,
            self.sgis,
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
    }
}

/// How a guest ends its VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestEnd {
    /// vCPU 0 calls PSCI SYSTEM_OFF (`Hypercall { nr: 0x8400_0008 }`): reason SystemDown;
    /// AxVisor stops the VM (`SystemDown`).
    SystemOff,
    /// vCPU 0 reads [`UNBACKED_GPA`]: a stage-2 translation fault, the exit `MmioRead` (reason
    /// MmioRead) that no device claims, so AxVisor stops the VM with a fault.
    Stage2Fault,
}

/// One VM's guest: its id, name, vCPU placement, scripted actions and ending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestScript {
    /// AxVisor's VM id (1–9: the guest prints it as one digit).
    pub vm_id: u16,
    /// The VM's name, also the stem of its image and configuration files.
    pub name: &'static str,
    /// The physical CPU of each vCPU; AxVisor also makes it the vCPU's MPIDR (< 16 here, as the
    /// guest targets SGIs with a 16-bit target list).
    pub phys_cpu_ids: [usize; 2],
    /// What vCPU 0 and vCPU 1 do.
    pub vcpus: [VcpuActions; 2],
    /// How vCPU 0 ends the VM.
    pub ends_with: GuestEnd,
}

impl GuestScript {
    /// The line vCPU 0 prints on the UART.
    pub fn banner(&self) -> String {
        format!("{BANNER_PREFIX}{}{BANNER_SUFFIX}", self.vm_id)
    }

    /// The `-D` macros `guest.S` takes.
    fn defines(&self) -> Vec<(String, u64)> {
        let mut defines = vec![
            ("VM_ID".to_string(), u64::from(self.vm_id)),
            ("VCPU0_MPIDR".to_string(), self.phys_cpu_ids[0] as u64),
            ("VCPU1_MPIDR".to_string(), self.phys_cpu_ids[1] as u64),
            (
                "END_FAULT".to_string(),
                u64::from(self.ends_with == GuestEnd::Stage2Fault),
            ),
        ];
        for (index, actions) in self.vcpus.iter().enumerate() {
            defines.extend(actions.defines(index));
        }
        defines
    }

    /// What `guest.S` can express.
    fn validate(&self) -> Result<()> {
        ensure!(
            (1..=9).contains(&self.vm_id),
            "guest {}: VM id {} is not one digit",
            self.name,
            self.vm_id
        );
        ensure!(
            self.phys_cpu_ids.iter().all(|&id| id < 16)
                && self.phys_cpu_ids[0] != self.phys_cpu_ids[1],
            "guest {}: physical CPUs {:?} must differ and be < 16",
            self.name,
            self.phys_cpu_ids
        );
        for (index, actions) in self.vcpus.iter().enumerate() {
            ensure!(
                actions.max_count() <= u32::from(u16::MAX),
                "guest {}: vCPU {index} has a count above {}",
                self.name,
                u16::MAX
            );
        }
        Ok(())
    }
}

/// The two VMs, with different counts so their per-VM counts differ: VM 1 on pCPUs 0–1 ends
/// with SYSTEM_OFF, VM 2 on pCPUs 2–3 with a stage-2 fault.
pub fn scripts() -> Vec<GuestScript> {
    vec![
        GuestScript {
            vm_id: 1,
            name: "axtrace-guest-1",
            phys_cpu_ids: [0, 1],
            vcpus: [
                VcpuActions {
                    hypercalls: 24,
                    psci_version: 8,
                    timer_reads: 6,
                    mmio_reads: 30,
                    mmio_writes: 12,
                    sysreg_reads: 10,
                    sysreg_writes: 16,
                    wfi: 10,
                    sgis: 8,
                },
                VcpuActions {
                    hypercalls: 16,
                    psci_version: 4,
                    timer_reads: 10,
                    mmio_reads: 20,
                    mmio_writes: 18,
                    sysreg_reads: 6,
                    sysreg_writes: 8,
                    wfi: 14,
                    sgis: 12,
                },
            ],
            ends_with: GuestEnd::SystemOff,
        },
        GuestScript {
            vm_id: 2,
            name: "axtrace-guest-2",
            phys_cpu_ids: [2, 3],
            vcpus: [
                VcpuActions {
                    hypercalls: 40,
                    psci_version: 12,
                    timer_reads: 4,
                    mmio_reads: 45,
                    mmio_writes: 25,
                    sysreg_reads: 8,
                    sysreg_writes: 20,
                    wfi: 6,
                    sgis: 5,
                },
                VcpuActions {
                    hypercalls: 30,
                    psci_version: 6,
                    timer_reads: 8,
                    mmio_reads: 35,
                    mmio_writes: 10,
                    sysreg_reads: 12,
                    sysreg_writes: 14,
                    wfi: 20,
                    sgis: 9,
                },
            ],
            ends_with: GuestEnd::Stage2Fault,
        },
    ]
}

/// The tracing-cost VMs of `cargo xtask axvisor bench` (built into every image, started only
/// by the bench): the same guest doing nothing but [`BENCH_HYPERCALLS`] hypercalls on vCPU 0,
/// so the difference of their run times is the cost of that many hypercall exits.
pub fn bench_scripts() -> Vec<GuestScript> {
    BENCH_HYPERCALLS
        .iter()
        .zip([(3, "axtrace-bench-3"), (4, "axtrace-bench-4")])
        .map(|(&hypercalls, (vm_id, name))| GuestScript {
            vm_id,
            name,
            phys_cpu_ids: [0, 1],
            vcpus: [
                VcpuActions {
                    hypercalls,
                    ..VcpuActions::default()
                },
                VcpuActions::default(),
            ],
            ends_with: GuestEnd::SystemOff,
        })
        .collect()
}

/// vCPU 0's hypercalls in the two bench VMs: fewer than a ring holds (1024), so the traced run
/// never drops.
pub const BENCH_HYPERCALLS: [u32; 2] = [100, 700];

/// `axvisor/guest`: `guest.S` and `guest.ld`.
pub fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits inside the workspace")
        .join("axvisor")
        .join("guest")
}

/// Builds `script`'s guest into `out_dir` (`<name>.o`, `.elf`, `.bin`) and returns the flat
/// image, which AxVisor embeds. The image is rewritten only when its bytes change, so an
/// unchanged guest does not make AxVisor rebuild. Errors name the failed step and show the
/// end of its output.
pub fn build_guest(script: &GuestScript, out_dir: &Path) -> Result<PathBuf> {
    script.validate()?;
    let src = source_dir();
    fs::create_dir_all(out_dir)
        .with_context(|| format!("could not create {}", out_dir.display()))?;
    let object = out_dir.join(format!("{}.o", script.name));
    let elf = out_dir.join(format!("{}.elf", script.name));
    let image = out_dir.join(format!("{}.bin", script.name));
    let fresh = out_dir.join(format!("{}.bin.new", script.name));

    let mut assemble = Command::new("clang");
    assemble.args(["--target=aarch64-none-elf", "-c", "-Werror"]);
    for (name, value) in script.defines() {
        assemble.arg(format!("-D{name}={value}"));
    }
    assemble.arg(src.join("guest.S")).arg("-o").arg(&object);
    run_step(script, "assemble (clang)", &mut assemble)?;

    let mut link = Command::new("ld.lld");
    link.args([
        "--build-id=none",
        "--fatal-warnings",
        "-z",
        "max-page-size=4096",
        "-T",
    ])
    .arg(src.join("guest.ld"))
    .arg(&object)
    .arg("-o")
    .arg(&elf);
    run_step(script, "link (ld.lld)", &mut link)?;

    let mut flatten = Command::new("llvm-objcopy");
    flatten.args(["-O", "binary"]).arg(&elf).arg(&fresh);
    run_step(script, "flatten (llvm-objcopy)", &mut flatten)?;

    let bytes = fs::read(&fresh).with_context(|| format!("could not read {}", fresh.display()))?;
    ensure!(
        !bytes.is_empty(),
        "guest {}: llvm-objcopy wrote an empty image",
        script.name
    );
    if fs::read(&image).ok().as_deref() == Some(bytes.as_slice()) {
        fs::remove_file(&fresh).ok();
    } else {
        fs::rename(&fresh, &image)
            .with_context(|| format!("could not write {}", image.display()))?;
    }
    Ok(image)
}

/// Runs one build step; on failure, names it and shows the end of its output.
fn run_step(script: &GuestScript, step: &str, command: &mut Command) -> Result<()> {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command.output().with_context(|| {
        format!(
            "guest {}: {step}: could not run `{program}` (is it installed?)",
            script.name
        )
    })?;
    if !output.status.success() {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n  ");
        bail!(
            "guest {}: {step} failed ({}): {}\n  {tail}",
            script.name,
            output.status,
            super::describe(command)
        );
    }
    Ok(())
}

/// `script`'s VM configuration for AxVisor 0.8 (unknown fields are refused): a virtualized
/// guest (no physical devices; the GIC and the PL011 are AxVisor's emulated ones) with two
/// vCPUs on `phys_cpu_ids`, 16 MiB of allocated RAM and `image` embedded at build time.
pub fn vm_config(script: &GuestScript, image: &Path) -> String {
    let mut toml = String::new();
    let [cpu0, cpu1] = script.phys_cpu_ids;
    let (ram_base, ram_size) = GUEST_RAM;
    let end = match script.ends_with {
        GuestEnd::SystemOff => "PSCI SYSTEM_OFF",
        GuestEnd::Stage2Fault => &format!("a stage-2 fault at {UNBACKED_GPA:#x}"),
    };
    // `write!` into a String cannot fail.
    let _ = write!(
        toml,
        "# axtrace test guest (xtask/src/axvisor/guest.rs): 2 vCPUs, scripted exits, ends with {end}.\n\
         [base]\n\
         id = {id}\n\
         name = {name}\n\
         guest_type = \"virtualized\"\n\
         cpu_num = 2\n\
         phys_cpu_ids = [{cpu0}, {cpu1}]\n\
         \n\
         [kernel]\n\
         entry_point = {GUEST_LOAD_ADDR:#x}\n\
         image_location = \"memory\"\n\
         kernel_path = {path}\n\
         kernel_load_addr = {GUEST_LOAD_ADDR:#x}\n\
         dtb_load_addr = {GUEST_DTB_ADDR:#x}\n\
         # [base, size, flags (read | write | execute), map type (0: allocated)]\n\
         memory_regions = [[{ram_base:#x}, {ram_size:#x}, 0x7, 0]]\n\
         \n\
         [devices]\n\
         passthrough = []\n\
         disabled = []\n",
        id = script.vm_id,
        name = toml_string(script.name),
        path = toml_string(&image.display().to_string()),
    );
    toml
}

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The exits `script` causes, per exit-reason code, for every reason it controls (zero counts
/// included: they must stay zero). Host interrupts (ExternalInterrupt) are not scripted.
pub fn expected_exits(script: &GuestScript) -> Vec<(u32, u64)> {
    let sum = |count: fn(&VcpuActions) -> u32| -> u64 {
        script.vcpus.iter().map(|a| u64::from(count(a))).sum()
    };
    let fault = u64::from(script.ends_with == GuestEnd::Stage2Fault);
    let system_off = u64::from(script.ends_with == GuestEnd::SystemOff);
    let banner = script.banner().len() as u64 + TICKS_LINE_BYTES;
    vec![
        (
            ExitReason::Hypercall.code(),
            sum(|a| a.hypercalls) + SETUP_HYPERCALLS,
        ),
        (ExitReason::MmioRead.code(), sum(|a| a.mmio_reads) + fault),
        (
            ExitReason::MmioWrite.code(),
            sum(|a| a.mmio_writes) + SETUP_MMIO_WRITES + banner,
        ),
        (ExitReason::SysRegRead.code(), 0),
        (ExitReason::SysRegWrite.code(), sum(|a| a.sysreg_writes)),
        (ExitReason::Halt.code(), sum(|a| a.wfi)),
        (ExitReason::CpuUp.code(), 1),
        (ExitReason::CpuDown.code(), 1),
        (ExitReason::SystemDown.code(), system_off),
        (
            ExitReason::Nothing.code(),
            sum(|a| a.psci_version) + sum(|a| a.timer_reads),
        ),
        (ExitReason::SendIpi.code(), sum(|a| a.sgis)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUEST_S: &str = include_str!("../../../axvisor/guest/guest.S");
    const GUEST_LD: &str = include_str!("../../../axvisor/guest/guest.ld");

    fn count(script: &GuestScript, reason: ExitReason) -> u64 {
        expected_exits(script)
            .into_iter()
            .find(|(code, _)| *code == reason.code())
            .map(|(_, n)| n)
            .unwrap_or_else(|| panic!("no {reason} entry"))
    }

    fn script(actions: [VcpuActions; 2], ends_with: GuestEnd) -> GuestScript {
        GuestScript {
            vm_id: 7,
            name: "t",
            phys_cpu_ids: [4, 5],
            vcpus: actions,
            ends_with,
        }
    }

    #[test]
    fn an_empty_script_makes_only_the_fixed_exits() {
        let off = script(Default::default(), GuestEnd::SystemOff);
        let banner = "axtrace-guest vm7 done 0123456789abcdef\n".len() as u64;
        assert_eq!(
            expected_exits(&off),
            vec![
                (1, 1),          // AFFINITY_INFO
                (2, 0),          // no MMIO read
                (3, 2 + banner), // two GICR_ISENABLER0 writes, the banner
                (4, 0),
                (5, 0),
                (10, 0),
                (11, 1), // CPU_ON
                (12, 1), // CPU_OFF
                (13, 1), // SYSTEM_OFF
                (14, 0),
                (16, 0),
            ]
        );
        let fault = script(Default::default(), GuestEnd::Stage2Fault);
        assert_eq!(count(&fault, ExitReason::SystemDown), 0);
        assert_eq!(count(&fault, ExitReason::MmioRead), 1);
    }

    #[test]
    fn each_action_counts_once_under_its_reason_summed_over_vcpus() {
        let a = VcpuActions {
            hypercalls: 1,
            psci_version: 2,
            timer_reads: 3,
            mmio_reads: 4,
            mmio_writes: 5,
            sysreg_reads: 6,
            sysreg_writes: 7,
            wfi: 8,
            sgis: 9,
        };
        let b = VcpuActions {
            hypercalls: 100,
            psci_version: 200,
            timer_reads: 300,
            mmio_reads: 400,
            mmio_writes: 500,
            sysreg_reads: 600,
            sysreg_writes: 700,
            wfi: 800,
            sgis: 900,
        };
        let s = script([a, b], GuestEnd::Stage2Fault);
        let banner = s.banner().len() as u64 + TICKS_LINE_BYTES;
        assert_eq!(count(&s, ExitReason::Hypercall), 101 + 1);
        assert_eq!(count(&s, ExitReason::Nothing), 202 + 303);
        assert_eq!(count(&s, ExitReason::MmioRead), 404 + 1);
        assert_eq!(count(&s, ExitReason::MmioWrite), 505 + 2 + banner);
        assert_eq!(
            count(&s, ExitReason::SysRegRead),
            0,
            "ICC_PMR_EL1 does not trap"
        );
        assert_eq!(count(&s, ExitReason::SysRegWrite), 707);
        assert_eq!(count(&s, ExitReason::Halt), 808);
        assert_eq!(count(&s, ExitReason::SendIpi), 909);
        assert_eq!(count(&s, ExitReason::SystemDown), 0);
        let total: u64 = expected_exits(&s).iter().map(|(_, n)| n).sum();
        let scripted = 101 + 202 + 303 + 404 + 505 + 707 + 808 + 909;
        assert_eq!(total, scripted + 1 + 1 + 2 + banner + 1 + 1);
    }

    #[test]
    fn the_two_vms_differ_and_stay_modest() {
        let scripts = scripts();
        assert_eq!(scripts.iter().map(|s| s.vm_id).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(scripts[0].ends_with, GuestEnd::SystemOff);
        assert_eq!(scripts[1].ends_with, GuestEnd::Stage2Fault);
        let cpus: Vec<usize> = scripts.iter().flat_map(|s| s.phys_cpu_ids).collect();
        let mut unique = cpus.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), cpus.len(), "each VM has its own pCPUs");
        assert!(cpus.iter().all(|&c| c < 4), "QEMU runs with -smp 4");
        let (one, two) = (expected_exits(&scripts[0]), expected_exits(&scripts[1]));
        for ((code, a), (_, b)) in one.iter().zip(&two) {
            let always_one = [11, 12].contains(code);
            let one_or_other = [2, 13].contains(code);
            if *code != 4 && !always_one && !one_or_other {
                assert_ne!(a, b, "reason {code} counts the same in both VMs");
                assert!(*a > 0 && *b > 0, "reason {code} is not exercised");
            }
        }
        for script in &scripts {
            script.validate().unwrap();
            let total: u64 = expected_exits(script).iter().map(|(_, n)| n).sum();
            assert!(
                (100..1000).contains(&total),
                "{}: {total} exits",
                script.name
            );
        }
    }

    #[test]
    fn guest_s_takes_exactly_the_macros_we_pass() {
        let passed: Vec<String> = scripts()[0].defines().into_iter().map(|(n, _)| n).collect();
        // Every per-vCPU macro the source uses is passed, and every one passed is used.
        let mut used: Vec<String> = GUEST_S
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| {
                (w.starts_with("V0_") || w.starts_with("V1_"))
                    || ["VM_ID", "VCPU0_MPIDR", "VCPU1_MPIDR", "END_FAULT"].contains(w)
            })
            .map(str::to_string)
            .collect();
        used.sort();
        used.dedup();
        let mut passed_sorted = passed.clone();
        passed_sorted.sort();
        assert_eq!(used, passed_sorted);
    }

    #[test]
    fn guest_s_and_guest_ld_agree_with_our_constants() {
        assert!(GUEST_S.contains(&format!(".ascii  {BANNER_PREFIX:?}")));
        assert!(GUEST_S.contains(&format!(".ascii  {:?}", BANNER_SUFFIX)));
        assert!(GUEST_S.contains(&format!("#define UNBACKED_GPA     {UNBACKED_GPA:#010x}")));
        assert!(GUEST_LD.contains(&format!(". = {GUEST_LOAD_ADDR:#x};")));
        let (base, size) = GUEST_RAM;
        assert!(UNBACKED_GPA + 4 <= base || UNBACKED_GPA >= base + size);
        assert!((base..base + size).contains(&GUEST_LOAD_ADDR));
    }

    #[test]
    fn vm_config_names_everything_axvisor_needs() {
        let s = &scripts()[1];
        let toml = vm_config(s, Path::new("/x/a \"b\".bin"));
        for line in [
            "id = 2\n",
            "name = \"axtrace-guest-2\"\n",
            "guest_type = \"virtualized\"\n",
            "cpu_num = 2\n",
            "phys_cpu_ids = [2, 3]\n",
            "entry_point = 0x80200000\n",
            "image_location = \"memory\"\n",
            "kernel_path = \"/x/a \\\"b\\\".bin\"\n",
            "kernel_load_addr = 0x80200000\n",
            "dtb_load_addr = 0x80000000\n",
            "memory_regions = [[0x80000000, 0x1000000, 0x7, 0]]\n",
            "[devices]\n",
        ] {
            assert!(toml.contains(line), "no {line:?} in\n{toml}");
        }
    }

    #[test]
    fn scripts_out_of_range_are_refused() {
        let mut s = scripts()[0].clone();
        s.vm_id = 10;
        assert!(s.validate().is_err());
        let mut s = scripts()[0].clone();
        s.phys_cpu_ids = [3, 3];
        assert!(s.validate().is_err());
        let mut s = scripts()[0].clone();
        s.vcpus[1].wfi = 70_000;
        assert!(s.validate().is_err());
    }

    /// Assembles and links both guests when the LLVM tools are installed (`cargo xtask setup`
    /// installs them); the image starts at `_start` and holds the banner.
    #[test]
    fn the_guests_build() {
        let tools = ["clang", "ld.lld", "llvm-objcopy"];
        if tools
            .iter()
            .any(|t| Command::new(t).arg("--version").output().is_err())
        {
            eprintln!("skipped: {tools:?} not all installed");
            return;
        }
        let dir = std::env::temp_dir().join(format!("axtrace-guest-test-{}", std::process::id()));
        for script in scripts() {
            let image = build_guest(&script, &dir).unwrap();
            let bytes = fs::read(&image).unwrap();
            // _start's first instruction: msr icc_igrpen0_el1, xzr.
            assert_eq!(bytes[..4], 0xd518_ccdfu32.to_le_bytes());
            let banner = script.banner();
            assert!(
                bytes.windows(banner.len()).any(|w| w == banner.as_bytes()),
                "no banner in {}",
                image.display()
            );
            // Unchanged: not rewritten.
            let modified = fs::metadata(&image).unwrap().modified().unwrap();
            build_guest(&script, &dir).unwrap();
            assert_eq!(fs::metadata(&image).unwrap().modified().unwrap(), modified);
        }
        fs::remove_dir_all(&dir).ok();
    }
}
