//! `axtrace`: the command-line front end.

use std::io::Read;

use anyhow::{Context, Result, bail};
use axebpf_core::runtime::ExecMode;
use axtrace_tools::{bpf_run, record, ring_check};
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "axtrace",
    version,
    about = "eBPF VM-exit tracing for the AxVisor hypervisor"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    /// Our x86-64 JIT.
    Jit,
    /// Our interpreter.
    Interp,
}

impl From<Mode> for ExecMode {
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::Jit => ExecMode::Jit,
            Mode::Interp => ExecMode::Interpreter,
        }
    }
}

/// What `record` and `demo` share.
#[derive(clap::Args)]
struct RecordArgs {
    /// VMs.
    #[arg(long, default_value_t = 2)]
    vms: u16,
    /// vCPUs per VM (one thread each).
    #[arg(long, default_value_t = 2)]
    vcpus: u16,
    /// Exits each vCPU's guest performs.
    #[arg(long, default_value_t = 5000, conflicts_with = "duration")]
    exits: u32,
    /// Instead of --exits: size the scripts to run about this long (5s, 500ms, 2m), from a
    /// short calibration run of the same mix.
    #[arg(long)]
    duration: Option<String>,
    /// The mix of exits, in percent: io, mmio, hole, hlt, msr, hypercall, cpuup, cpudown, ipi,
    /// systemdown, nothing, kick, fail (an MMIO access KVM cannot emulate → FailEntry).
    #[arg(
        long,
        default_value = "io=30,mmio=20,hole=10,hlt=10,msr=10,hypercall=10,kick=10"
    )]
    mix: String,
    /// Distinct ports / MMIO addresses per kind.
    #[arg(long, default_value_t = 64)]
    working_set: u32,
    /// Records per vCPU ring (a power of two).
    #[arg(long, default_value_t = 1 << 16)]
    ring: usize,
    /// How the handler runs.
    #[arg(long, value_enum, default_value_t = Mode::Jit)]
    mode: Mode,
    /// Use the synthetic source (no VM runs; every output says so) even if KVM works; it is
    /// used anyway when /dev/kvm is not usable.
    #[arg(long)]
    synthetic: bool,
}

impl RecordArgs {
    fn config(&self, output: std::path::PathBuf) -> Result<record::RecordConfig> {
        let mut config = record::RecordConfig {
            vms: self.vms,
            vcpus: self.vcpus,
            mix: record::parse_mix(&self.mix, self.exits)?,
            working_set: self.working_set,
            ring_capacity: self.ring,
            output,
            mode: self.mode.into(),
            synthetic: self.synthetic,
        };
        if let Some(duration) = &self.duration {
            let duration = record::parse_duration(duration)?;
            let exits = record::exits_for(duration, &config, &self.mix)?;
            eprintln!("--duration {duration:?}: {exits} exits per vCPU (from a calibration run)");
            config.mix = record::parse_mix(&self.mix, exits)?;
        }
        Ok(config)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Record real VM exits of the KVM-backed VMM with the exit_latency handler into a dump.
    Record {
        #[command(flatten)]
        args: RecordArgs,
        /// The dump file to write.
        #[arg(short, long, default_value = "run.axdump")]
        output: std::path::PathBuf,
    },
    /// The main job: record real VM exits with sensible defaults, summarise them, and write the
    /// Perfetto trace.
    Demo {
        #[command(flatten)]
        args: RecordArgs,
        /// Where the demo's files go.
        #[arg(long, default_value = "target/axtrace-demo")]
        dir: std::path::PathBuf,
    },
    /// Run one raw eBPF program (hex on stdin) once and print R0 in hex: the plugin convention of
    /// the BPF ISA conformance runners. R1 = a copy of MEMORY_HEX, R2 = its length.
    BpfRun {
        /// Execution mode.
        #[arg(long, value_enum, default_value_t = Mode::Jit)]
        mode: Mode,
        /// The memory R1 points at, as hex bytes.
        memory_hex: Option<String>,
    },
    /// Drive the per-vCPU record rings with producer threads and one drain, verifying every
    /// record (sequence, checksum) and every counter (produced == drained + dropped).
    /// The `trace` commands (list, enable, disable, load, unload, stat, help): a REPL on a
    /// terminal, one command per line from a pipe, or the commands given with -c.
    Shell {
        /// Run this command (repeatable) instead of reading stdin.
        #[arg(short = 'c', long = "command")]
        commands: Vec<String>,
    },
    /// Load an eBPF object (clang -target bpf) as `trace load` will — maps created, programs
    /// relocated, rewritten and compiled — and print its maps and programs.
    Inspect {
        /// The object file.
        file: std::path::PathBuf,
        /// Execution mode to load the programs in.
        #[arg(long, value_enum, default_value_t = Mode::Jit)]
        mode: Mode,
    },
    /// Convert a dump into a Perfetto trace (open it at https://ui.perfetto.dev): a track per
    /// vCPU under its VM, a slice per VM exit named by its reason, markers where records dropped,
    /// exits/s and drop counters per VM; and/or into a CTF 1.8 trace (`--ctf DIR`).
    Convert {
        /// The dump to read.
        dump: std::path::PathBuf,
        /// The Perfetto trace file to write (.pftrace).
        #[arg(long, required_unless_present = "ctf")]
        perfetto: Option<std::path::PathBuf>,
        /// Also (or instead) write a CTF 1.8 trace into this directory (babeltrace2, Trace
        /// Compass).
        #[arg(long)]
        ctf: Option<std::path::PathBuf>,
        /// Also write `guest` slices from each entry to the next exit.
        #[arg(long)]
        guest_slices: bool,
        /// Write several traces: `vm` (one per VM, `OUT.vm<id>.pftrace`) or `window=DURATION`
        /// (one per window, e.g. `window=10s`: `OUT.w<k>.pftrace` covers [k·10 s, (k+1)·10 s)).
        #[arg(long, value_parser = axtrace_tools::convert::parse_split)]
        split: Option<axtrace_exporter::perfetto::Split>,
        /// The window of the exits/s and drop counters, e.g. `10ms`, `1s`.
        #[arg(long, default_value = "10ms", value_parser = axtrace_tools::convert::parse_duration)]
        counter_window: u64,
    },
    /// The VM-exit latency report of a dump (the same as `axtrace-report`): percentiles per
    /// exit reason, VM, vCPU, port, address, MSR or hypercall; HdrHistogram files; plots; diffs.
    Report(axtrace_tools::report::Cli),
    RingCheck {
        /// Producer threads, one ring each.
        #[arg(long, default_value_t = 2)]
        vcpus: usize,
        /// Slots per ring (a power of two); small rings make drops happen.
        #[arg(long, default_value_t = 1024)]
        capacity: usize,
        /// Records each producer offers.
        #[arg(long, default_value_t = 5_000_000)]
        records: u64,
        /// Most records the drain takes from one ring per visit.
        #[arg(long, default_value_t = 256)]
        batch: usize,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Record { args, output } => {
            let summary = record::record(&args.config(output)?)?;
            print!("{}", record::render(&summary));
            Ok(())
        }
        Command::Demo { args, dir } => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let dump = dir.join("run.axdump");
            let summary = record::record(&args.config(dump.clone())?)?;
            print!("{}", record::render(&summary));
            print!(
                "{}",
                axtrace_tools::convert::run(&dump, &dir.join("run.pftrace"), true)?
            );
            print!("\n{}", axtrace_tools::report::demo(&dump, &dir)?);
            Ok(())
        }
        Command::Shell { commands } => {
            let failures = axtrace_tools::shell::run(&commands)?;
            if failures > 0 {
                bail!("{failures} command(s) failed");
            }
            Ok(())
        }
        Command::Inspect { file, mode } => {
            let elf =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            print!(
                "{}",
                axtrace_tools::inspect::inspect(&file.display().to_string(), &elf, mode.into())?
            );
            Ok(())
        }
        Command::Convert {
            dump,
            perfetto,
            guest_slices,
            split,
            counter_window,
            ctf,
        } => {
            let request = axtrace_tools::convert::Request {
                perfetto,
                ctf,
                options: axtrace_exporter::perfetto::Options {
                    guest_slices,
                    split: split.unwrap_or_default(),
                    counter_window_ns: counter_window,
                },
            };
            print!("{}", axtrace_tools::convert::run_request(&dump, &request)?);
            Ok(())
        }
        Command::Report(cli) => {
            let code = axtrace_tools::report::run(
                &cli,
                &mut std::io::stdout().lock(),
                &mut std::io::stderr(),
            )?;
            if code != std::process::ExitCode::SUCCESS {
                std::process::exit(i32::from(axtrace_tools::report::REGRESSION_EXIT_STATUS));
            }
            Ok(())
        }
        Command::BpfRun { mode, memory_hex } => {
            let mut program = String::new();
            std::io::stdin()
                .read_to_string(&mut program)
                .context("reading the program from stdin")?;
            let program = bpf_run::parse_hex(&program, "program (stdin)")?;
            let memory = bpf_run::parse_hex(memory_hex.as_deref().unwrap_or(""), "memory")?;
            println!("{:x}", bpf_run::run(&program, &memory, mode.into())?);
            Ok(())
        }
        Command::RingCheck {
            vcpus,
            capacity,
            records,
            batch,
        } => {
            let config = ring_check::Config {
                vcpus,
                capacity,
                records_per_vcpu: records,
                batch,
            };
            let report = ring_check::run(config)?;
            print!("{}", ring_check::render(&config, &report));
            if !report.passed() {
                bail!("the ring check found lost, corrupted or reordered records");
            }
            Ok(())
        }
    }
}
