//! `cargo xtask axvisor bench` (also `cargo xtask bench --axvisor`): the cost of tracing inside
//! AxVisor, in instructions per VM exit, traced and untraced.
//!
//! QEMU runs with `-icount shift=0`: the virtual clock advances one ns per instruction
//! executed, and the generic timer follows it. The two bench VMs (`guest::bench_scripts`) run
//! the same guest with 100 and 700 hypercalls on vCPU 0, which reads the virtual counter around
//! them and prints the ticks on its UART (`vm console N` replays it). The difference of the two
//! counts over the difference of their exits is what one hypercall exit costs, guest and
//! hypervisor together, constant costs cancelling out. Measured once with the tracepoints off
//! (NOP sites) and once with the shipped `exit_count` and `exit_latency` handlers on
//! `vcpu_run_exit` / `vcpu_run_enter` (interpreter). Emulated: instruction counts of QEMU's
//! TCG, not time on hardware.

use std::fmt;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};

use super::{Layout, Options, guest, qemu};

const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// QEMU's instruction-counting mode: 2^0 ns of virtual time per instruction.
const ICOUNT: [&str; 2] = ["-icount", "shift=0"];

/// Instructions per hypercall exit, measured in one run of both modes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExitCost {
    /// Tracepoint sites are NOPs.
    pub(crate) untraced: f64,
    /// `exit_count` + `exit_latency` attached.
    pub(crate) traced: f64,
}

impl ExitCost {
    /// Traced ÷ untraced.
    pub(crate) fn ratio(&self) -> f64 {
        self.traced / self.untraced
    }

    /// Adds the figures to a bench summary (BMF).
    pub(crate) fn add_to(&self, summary: &mut Value) {
        let metric = |v: f64| crate::bench::metric(v, v, v);
        summary["axvisor_exit/untraced [emulated (QEMU TCG icount)]"] =
            json!({ "instructions": metric(self.untraced) });
        summary["axvisor_exit/exit_count+exit_latency [emulated (QEMU TCG icount)]"] =
            json!({ "instructions": metric(self.traced), "ratio": metric(self.ratio()) });
    }
}

impl fmt::Display for ExitCost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "AxVisor 0.8.2, QEMU TCG -icount (emulated), instructions per hypercall exit: \
             untraced {:.0}, traced (exit_count + exit_latency, interpreter) {:.0} \
             (+{:.0}, {:.2}x)",
            self.untraced,
            self.traced,
            self.traced - self.untraced,
            self.ratio()
        )
    }
}

/// `cargo xtask axvisor bench`.
pub(crate) fn run(layout: &Layout, options: &Options) -> Result<()> {
    let cost = measure(layout, options)?;
    println!("{cost}");
    Ok(())
}

/// Builds (cached), then boots twice under `-icount`.
pub(crate) fn measure(layout: &Layout, options: &Options) -> Result<ExitCost> {
    let built = super::build_all(layout, options)?;
    let untraced = per_exit(layout, &built, false)?;
    let traced = per_exit(layout, &built, true)?;
    Ok(ExitCost { untraced, traced })
}

/// One boot: both bench VMs one after the other; instructions per exit.
fn per_exit(layout: &Layout, built: &super::Built, traced: bool) -> Result<f64> {
    let name = if traced {
        "bench-traced"
    } else {
        "bench-untraced"
    };
    let extra: Vec<String> = ICOUNT.iter().map(|s| s.to_string()).collect();
    let console = qemu::Console::boot_named(layout, built, &extra, name)?;
    let run = |command: &str| console.command(command, COMMAND_TIMEOUT);
    if traced {
        run("trace load ec builtin:exit_count")?;
        run("trace load el builtin:exit_latency")?;
        run("trace enable vmm:vcpu_run_exit")?;
        run("trace enable vmm:vcpu_run_enter")?;
    }
    let frequency = counter_hz(&console.transcript())?;
    let mut runs = Vec::new();
    for script in guest::bench_scripts() {
        let id = script.vm_id;
        run(&format!("vm start {id}"))?;
        console.wait_for(
            &format!("VM[{id}] state changed to Stopped"),
            COMMAND_TIMEOUT,
        )?;
        let output = run(&format!("vm console {id}"))?;
        let ticks = banner_ticks(&output, &script.banner())?;
        // shift=0: one instruction per ns of virtual time.
        runs.push((script, ticks as f64 * 1e9 / frequency));
    }
    if traced {
        let stat = run("trace stat")?;
        ensure!(
            stat.contains("Hypercall"),
            "the traced bench counted no hypercall:\n{stat}"
        );
    }
    let _ = console.shutdown(Duration::from_secs(5));
    let [(few, few_ns), (many, many_ns)] = &runs[..] else {
        anyhow::bail!("expected two bench VMs");
    };
    let exits = f64::from(many.vcpus[0].hypercalls - few.vcpus[0].hypercalls);
    // 1 ns of virtual time = 1 instruction at shift=0.
    Ok((many_ns - few_ns) / exits)
}

/// The counter frequency the glue printed at boot (`axtrace: … clock 62500000 Hz; …`).
fn counter_hz(lines: &[String]) -> Result<f64> {
    lines
        .iter()
        .filter(|l| l.contains("axtrace:"))
        .find_map(|l| {
            l.split("clock ")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .context("no `axtrace: … clock N Hz` line at boot")
}

/// The ticks the guest printed after its banner (16 hex digits).
fn banner_ticks(console: &str, banner: &str) -> Result<u64> {
    let digits = console
        .split(banner)
        .nth(1)
        .and_then(|rest| rest.get(..16))
        .with_context(|| format!("no `{banner}` line in the guest's console:\n{console}"))?;
    u64::from_str_radix(digits, 16).with_context(|| format!("`{digits}` is not 16 hex digits"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_and_frequency_parse() {
        let console = "axtrace-guest vm3 done 00000000000012ab\n";
        assert_eq!(
            banner_ticks(console, "axtrace-guest vm3 done ").unwrap(),
            0x12ab
        );
        assert!(banner_ticks(console, "axtrace-guest vm4 done ").is_err());
        let boot = vec!["axtrace: 8 vCPU ring(s) of 1024 records; clock 62500000 Hz; dump".into()];
        assert_eq!(counter_hz(&boot).unwrap(), 62_500_000.0);
    }
}
