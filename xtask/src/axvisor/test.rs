//! `cargo xtask axvisor test`: axtrace inside the real AxVisor, checked end to end.
//!
//! 1. Build AxVisor with our integration and the two guests of `guest.rs`; read every
//!    tracepoint site from the ELF: each tracepoint has one, and each is a NOP as built.
//! 2. Boot it in QEMU. Through AxVisor's own shell: `trace sites` (the same sites, NOP),
//!    `trace load` the built-in `exit_count` and `exit_latency`, `trace enable` all eight
//!    tracepoints (the sites become jumps), `trace dump start`, `vm start` both VMs, wait
//!    until both stopped, `trace stat`, `trace list`, `trace dump stop`, `trace disable` all
//!    (the sites are NOPs again), `trace unload`.
//! 3. Check: per VM and exit reason, `exit_count`'s count equals the guest script's exactly
//!    (host interrupts, which no script controls, are reported, not compared); the
//!    tracepoints' hit counts agree with the exits; the dump the drain shipped through
//!    semihosting reads to its end with no record lost, one record per exit that was followed
//!    by an entry (every vCPU's last exit has none); it converts to Perfetto with a track per
//!    VM and vCPU (the perfetto-check test `an_axvisor_dump_has_a_track_per_vm_and_vcpu`) and
//!    into the report.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use axebpf_core::exit_reason::ExitReason;
use axtrace_exporter::dump::DumpReader;

use super::{Layout, Options, guest, qemu, rel, sites};

/// The tracepoints, as `trace enable` names them.
const TRACEPOINTS: [&str; 8] = [
    "vcpu_run_enter",
    "vcpu_run_exit",
    "hypercall",
    "mmio_read",
    "mmio_write",
    "ept_violation",
    "irq_inject",
    "vcpu_sched",
];
/// The dump's name in QEMU's working directory (`target/axvisor/run`).
const DUMP: &str = "axtrace.axdump";
/// Per shell command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// For the guests to run their scripts and stop.
const GUESTS_TIMEOUT: Duration = Duration::from_secs(180);

/// What the run produced, for the checks and the summary.
struct Observed {
    exit_counts: BTreeMap<(u16, String), u64>,
    stat: String,
    list: String,
    dump_summary: String,
}

/// Runs the whole test; `Err` names the failed step or check.
pub(crate) fn run(layout: &Layout, options: &Options) -> Result<()> {
    let built = super::build_all(layout, options)?;
    let linked = sites::read(&built.elf)?;
    sites::check_all_nop(&linked).context("the image as built")?;
    eprintln!(
        "xtask: axvisor test: {} tracepoint sites in the image, all NOP",
        linked.len()
    );

    let dump = layout.run_dir().join(DUMP);
    let _ = std::fs::remove_file(&dump);
    let started = Instant::now();
    let console = qemu::Console::boot(layout, &built, &[])?;
    let observed = drive(&console, &linked);
    let transcript = rel(layout, console.log_path());
    let _ = console.shutdown(Duration::from_secs(5));
    let observed = observed.with_context(|| format!("console transcript: {transcript}"))?;
    eprintln!(
        "xtask: axvisor test: guests ran and stopped, {:.1} s after boot began",
        started.elapsed().as_secs_f64()
    );

    check_exit_counts(&observed.exit_counts)?;
    check_hits(&observed)?;
    let records = check_dump(&dump, &observed.exit_counts)?;
    check_perfetto(layout, &dump)?;
    let report = report(layout, &dump)?;

    println!("axvisor:$ trace stat\n{}", observed.stat.trim_end());
    println!("axvisor:$ trace list\n{}", observed.list.trim_end());
    println!(
        "axvisor:$ trace dump stop\n{}",
        observed.dump_summary.trim_end()
    );
    println!("{}", report.trim_end());
    eprintln!(
        "xtask: axvisor test passed: exit counts per VM and reason as scripted, {records} \
         records in {}, sites NOP when disabled",
        rel(layout, &dump)
    );
    Ok(())
}

/// Types the session into AxVisor's shell.
fn drive(console: &qemu::Console, linked: &[sites::Site]) -> Result<Observed> {
    let run = |command: &str| console.command(command, COMMAND_TIMEOUT);
    let expect = |command: &str, wanted: &str| -> Result<String> {
        let output = run(command)?;
        ensure!(
            output.contains(wanted),
            "`{command}` printed no `{wanted}`:\n{output}"
        );
        Ok(output)
    };

    let at_boot = sites::parse_runtime(&run("trace sites")?);
    check_runtime_sites(&at_boot, linked, false).context("trace sites at boot")?;
    expect(
        "trace load ec builtin:exit_count",
        "attached to vmm:vcpu_run_exit",
    )?;
    expect(
        "trace load el builtin:exit_latency",
        "attached to vmm:vcpu_run_enter",
    )?;
    for tp in TRACEPOINTS {
        expect(&format!("trace enable vmm:{tp}"), "enabled")?;
    }
    let enabled = sites::parse_runtime(&run("trace sites")?);
    check_runtime_sites(&enabled, linked, true).context("trace sites, all enabled")?;
    expect(&format!("trace dump start {DUMP}"), "started")?;

    let scripts = guest::scripts();
    for script in &scripts {
        expect(
            &format!("vm start {}", script.vm_id),
            "started successfully",
        )?;
    }
    wait_until_stopped(console, &scripts)?;

    let stat = run("trace stat")?;
    let list = run("trace list")?;
    let dump_summary = expect("trace dump stop", "closed")?;
    ensure!(
        dump_summary.contains(" 0 dropped"),
        "the drain reports drops: {dump_summary}"
    );
    for tp in TRACEPOINTS {
        expect(&format!("trace disable vmm:{tp}"), "disabled")?;
    }
    let disabled = sites::parse_runtime(&run("trace sites")?);
    check_runtime_sites(&disabled, linked, false).context("trace sites, all disabled again")?;
    expect("trace unload ec", "unloaded")?;
    expect("trace unload el", "unloaded")?;

    Ok(Observed {
        exit_counts: parse_exit_counts(&stat)?,
        stat,
        list,
        dump_summary,
    })
}

/// Polls `vm list` until every scripted VM reports `stopped`.
fn wait_until_stopped(console: &qemu::Console, scripts: &[guest::GuestScript]) -> Result<()> {
    let deadline = Instant::now() + GUESTS_TIMEOUT;
    loop {
        let list = console.command("vm list", COMMAND_TIMEOUT)?;
        let stopped = scripts.iter().all(|script| {
            list.lines().any(|line| {
                let mut fields = line.split_whitespace();
                fields.next() == Some(&script.vm_id.to_string()) && line.contains("stopped")
            })
        });
        if stopped {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "the guests did not stop within {} s; last `vm list`:\n{list}",
                GUESTS_TIMEOUT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The runtime sites match the linked ones (same count per tracepoint) and are all jumps
/// (`enabled`) or all NOPs.
fn check_runtime_sites(
    runtime: &[(String, u64, u32)],
    linked: &[sites::Site],
    enabled: bool,
) -> Result<()> {
    let count = |names: &mut dyn Iterator<Item = String>| {
        let mut map: BTreeMap<String, usize> = BTreeMap::new();
        for name in names {
            *map.entry(name).or_default() += 1;
        }
        map
    };
    let at_runtime = count(&mut runtime.iter().map(|(tp, _, _)| tp.clone()));
    let as_linked = count(&mut linked.iter().map(|s| s.tracepoint.to_string()));
    ensure!(
        at_runtime == as_linked,
        "sites per tracepoint: {at_runtime:?} at run time, {as_linked:?} in the ELF"
    );
    for (tp, addr, word) in runtime {
        let is_nop = *word == sites::NOP;
        let is_branch = *word & 0xfc00_0000 == 0x1400_0000;
        ensure!(
            if enabled { is_branch } else { is_nop },
            "site of {tp} at {addr:#x} is {word:08x}, expected {}",
            if enabled { "a B" } else { "a NOP" }
        );
    }
    Ok(())
}

/// `exit_count`'s table from `trace stat`: `(vm, reason name) → count`.
fn parse_exit_counts(stat: &str) -> Result<BTreeMap<(u16, String), u64>> {
    let mut lines = stat
        .lines()
        .skip_while(|l| !l.starts_with("ec/exit_counts"));
    ensure!(
        lines.next().is_some(),
        "no ec/exit_counts map in `trace stat`:\n{stat}"
    );
    let mut counts = BTreeMap::new();
    for line in lines.skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [vm, reason, count] = fields[..] else {
            break;
        };
        let (Ok(vm), Ok(count)) = (vm.parse::<u16>(), count.parse::<u64>()) else {
            break;
        };
        counts.insert((vm, reason.to_string()), count);
    }
    Ok(counts)
}

/// Per VM and reason: the handler's count equals the script's; nothing unscripted appears
/// but host interrupts.
fn check_exit_counts(counts: &BTreeMap<(u16, String), u64>) -> Result<()> {
    let mut mismatches = Vec::new();
    let mut expected_keys = Vec::new();
    for script in guest::scripts() {
        for (code, expected) in guest::expected_exits(&script) {
            let reason = ExitReason::from_code(code).name().to_string();
            let got = counts
                .get(&(script.vm_id, reason.clone()))
                .copied()
                .unwrap_or(0);
            if got != expected {
                mismatches.push(format!(
                    "VM {} {reason}: exit_count counted {got}, the script made {expected}",
                    script.vm_id
                ));
            }
            expected_keys.push((script.vm_id, reason));
        }
    }
    for ((vm, reason), count) in counts {
        let unscripted = !expected_keys.contains(&(*vm, reason.clone()));
        if unscripted && reason.as_str() != ExitReason::ExternalInterrupt.name() {
            mismatches.push(format!("VM {vm} {reason}: {count} exits no script made"));
        }
    }
    ensure!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    let interrupts: u64 = counts
        .iter()
        .filter(|((_, r), _)| r.as_str() == ExitReason::ExternalInterrupt.name())
        .map(|(_, c)| c)
        .sum();
    eprintln!(
        "xtask: axvisor test: exit_count matches the scripts for every VM and reason \
         ({interrupts} host-interrupt exits besides)"
    );
    Ok(())
}

/// `trace list`'s hits agree with the exits: every exit fired `vcpu_run_exit` once, each `hvc`
/// (hypercall and PSCI) `hypercall` once, each SGI `irq_inject` once, each stage-2 fault
/// `ept_violation` once.
fn check_hits(observed: &Observed) -> Result<()> {
    let hits = |tp: &str| -> Result<u64> {
        observed
            .list
            .lines()
            .find(|l| l.starts_with(&format!("vmm:{tp} ")))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|h| h.parse().ok())
            .with_context(|| format!("no hit count for vmm:{tp} in `trace list`"))
    };
    let exits: u64 = observed.exit_counts.values().sum();
    ensure!(
        hits("vcpu_run_exit")? == exits,
        "vmm:vcpu_run_exit fired {} times, exit_count counted {exits} exits",
        hits("vcpu_run_exit")?
    );
    let hvc: u64 = observed
        .exit_counts
        .iter()
        .filter(|((_, r), _)| {
            [
                ExitReason::Hypercall,
                ExitReason::CpuUp,
                ExitReason::CpuDown,
                ExitReason::SystemDown,
            ]
            .iter()
            .any(|reason| reason.name() == r.as_str())
        })
        .map(|(_, c)| c)
        .sum();
    let reason_total = |name: &str| -> u64 {
        observed
            .exit_counts
            .iter()
            .filter(|((_, r), _)| r.as_str() == name)
            .map(|(_, c)| c)
            .sum()
    };
    // Each ICC_SGI1R_EL1 write queues one SGI in the vGIC.
    ensure!(
        hits("irq_inject")? == reason_total(ExitReason::SendIpi.name()),
        "vmm:irq_inject fired {} times for {} SendIPI exits",
        hits("irq_inject")?,
        reason_total(ExitReason::SendIpi.name())
    );
    // The stage-2 faults the scripts end with.
    let faults = guest::scripts()
        .iter()
        .filter(|s| s.ends_with == guest::GuestEnd::Stage2Fault)
        .count() as u64;
    ensure!(
        hits("ept_violation")? == faults,
        "vmm:ept_violation fired {} times, the guests make {faults} stage-2 fault(s)",
        hits("ept_violation")?
    );
    ensure!(
        hits("hypercall")? == hvc,
        "vmm:hypercall fired {} times for {hvc} hvc exits",
        hits("hypercall")?
    );
    Ok(())
}

/// The dump reads to its end, lost nothing, and holds one record per exit followed by an
/// entry: per VM, the exits minus the records are that VM's vCPUs (their last exits).
fn check_dump(dump: &Path, exit_counts: &BTreeMap<(u16, String), u64>) -> Result<u64> {
    let bytes = std::fs::read(dump)
        .with_context(|| format!("the dump {} did not reach the host", dump.display()))?;
    let mut reader =
        DumpReader::open(&bytes[..]).map_err(|e| anyhow::anyhow!("{}: {e}", dump.display()))?;
    let meta = reader.metadata().clone();
    ensure!(
        meta.host.contains("AxVisor") && meta.host.contains("emulated"),
        "the dump's host is `{}`",
        meta.host
    );
    let mut records: BTreeMap<u16, u64> = BTreeMap::new();
    let mut dropped = 0;
    while let Some(chunk) = reader.next_chunk() {
        dropped += chunk.dropped;
        for record in &chunk.records {
            *records.entry(record.vm).or_default() += 1;
        }
    }
    if let Some(stop) = reader.stop() {
        bail!("{} is damaged: {stop:?}", dump.display());
    }
    ensure!(dropped == 0, "the dump reports {dropped} dropped records");
    for script in guest::scripts() {
        let exits: u64 = exit_counts
            .iter()
            .filter(|((vm, _), _)| *vm == script.vm_id)
            .map(|(_, c)| c)
            .sum();
        let held = records.get(&script.vm_id).copied().unwrap_or(0);
        let vcpus = meta
            .vcpus
            .iter()
            .filter(|(_, vm, _)| *vm == script.vm_id)
            .count() as u64;
        ensure!(
            exits == held + vcpus,
            "VM {}: {exits} exits, {held} records in the dump, {vcpus} vCPUs (expected \
             exits = records + one final exit per vCPU)",
            script.vm_id
        );
    }
    Ok(records.values().sum())
}

/// The Perfetto check of the official protos, on this dump.
fn check_perfetto(layout: &Layout, dump: &Path) -> Result<()> {
    let log = super::start_log(layout, "perfetto-check")?;
    super::run_logged(
        super::Step::Command,
        Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .current_dir(&layout.root)
            .env("AXTRACE_AXVISOR_DUMP", dump)
            .args([
                "test",
                "-q",
                "-p",
                "axtrace-perfetto-check",
                "--test",
                "perfetto",
                "--",
                "--exact",
                "an_axvisor_dump_has_a_track_per_vm_and_vcpu",
            ]),
        &log,
        Duration::from_secs(900),
    )
}

/// `axtrace report` of the dump (its text, for the summary), and the Perfetto file beside it.
fn report(layout: &Layout, dump: &Path) -> Result<String> {
    let axtrace = |args: &[&std::ffi::OsStr]| {
        let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        command
            .current_dir(&layout.root)
            .args(["run", "-q", "-p", "axtrace-tools", "--bin", "axtrace", "--"])
            .args(args);
        command
    };
    let pftrace = dump.with_extension("pftrace");
    let converted = axtrace(&[
        "convert".as_ref(),
        dump.as_os_str(),
        "--perfetto".as_ref(),
        pftrace.as_os_str(),
    ])
    .output()
    .context("running axtrace convert")?;
    ensure!(
        converted.status.success(),
        "axtrace convert failed:\n{}",
        String::from_utf8_lossy(&converted.stderr)
    );
    let output = axtrace(&["report".as_ref(), dump.as_os_str()])
        .output()
        .context("running axtrace report")?;
    ensure!(
        output.status.success(),
        "axtrace report failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(format!(
        "{}\nPerfetto trace: {}",
        String::from_utf8_lossy(&output.stdout),
        rel(layout, &pftrace)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_counts_parse_from_trace_stat() {
        let stat = "ec/exit_counts (percpu_hash):\n    vm exit reason               count\n     \
                    1 Hypercall                     5\n     1 SystemDown                    1\n\
                    el/exit_states (array):\n  (empty)\n";
        let counts = parse_exit_counts(stat).unwrap();
        assert_eq!(counts[&(1, "Hypercall".to_string())], 5);
        assert_eq!(counts[&(1, "SystemDown".to_string())], 1);
        assert_eq!(counts.len(), 2);
        assert!(parse_exit_counts("nothing here").is_err());
    }
}
