//! `axtrace`: the command-line front end.

use anyhow::{Result, bail};
use axtrace_tools::ring_check;
use clap::{Parser, Subcommand};

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

#[derive(Subcommand)]
enum Command {
    /// Drive the per-vCPU record rings with producer threads and one drain, verifying every
    /// record (sequence, checksum) and every counter (produced == drained + dropped).
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
