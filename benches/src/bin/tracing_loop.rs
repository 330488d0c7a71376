//! The LTTng comparison's axtrace side (`cargo xtask bench --peer lttng` runs it): N simulated
//! VM exits (default 10,000,000) through the run loop's two tracepoints (`vcpu_run_exit`, then
//! `vcpu_run_enter`) with the `exit_latency` handler attached (JIT) — one 32-byte record per exit
//! into the vCPU's ring — on one thread pinned to CPU 0, while the drain empties the ring into a
//! dump writer (checksummed chunks, bytes discarded) on CPU 1. The loop has the shape of
//! `benches/lttng/driver.c`: one traced exit per iteration, fields from the loop counter, timed
//! around the loop only.
//!
//! With the second argument `exit_record` it attaches `benches/bpf/exit_record.bpf.o` instead
//! and fires only `vcpu_run_exit`: one tracepoint whose handler writes a record of the VM, vCPU,
//! exit reason and timestamp — the same work as the LTTng event, field for field.
//!
//! Usage: `tracing_loop [EVENTS] [exit_latency|exit_record]`.
//! Output: one line, `events=N elapsed_ns=T ns_per_event=X drained=D dropped=P`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axebpf_core::drain::Drain;
use axebpf_core::dump::{DumpError, DumpWriter, Metadata, Sink};
use axebpf_core::exit_reason::ExitReason;
use axebpf_core::object::LoadedObject;
use axebpf_core::platform::host::HostPlatform;
use axebpf_core::record::Record;
use axebpf_core::ring::RingSet;
use axebpf_core::runtime::ExecMode;
use axebpf_core::tracepoint::{self, AttachedProgram};
use axebpf_core::{trace_vmm_vcpu_run_enter, trace_vmm_vcpu_run_exit};
use axtrace_benches::pin_to_cpu;

const EXIT_LATENCY: &[u8] = include_bytes!("../../../axebpf-core/bpf/exit_latency.bpf.o");
const EXIT_RECORD: &[u8] = include_bytes!("../../bpf/exit_record.bpf.o");
/// The vCPU's ring: 2 MiB of records, as LTTng's default per-CPU buffers hold about as much.
const RING_CAPACITY: usize = 1 << 16;
const DRAIN_BATCH: usize = 4096;

/// Takes the dump's bytes and keeps only their count (the comparison times the producer).
#[derive(Default)]
struct Discard {
    bytes: u64,
}

impl Sink for Discard {
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), DumpError> {
        self.bytes += bytes.len() as u64;
        Ok(())
    }
}

fn main() {
    let events: u64 = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 10_000_000,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("tracing_loop: the argument must be a positive event count");
            std::process::exit(2);
        }
    };
    let record_only = match std::env::args().nth(2).as_deref() {
        None | Some("exit_latency") => false,
        Some("exit_record") => true,
        Some(other) => {
            eprintln!("tracing_loop: unknown handler `{other}` (exit_latency or exit_record)");
            std::process::exit(2);
        }
    };
    HostPlatform::install();
    let image = if record_only {
        EXIT_RECORD
    } else {
        EXIT_LATENCY
    };
    let object = Arc::new(LoadedObject::load(image, ExecMode::Jit).expect("the handler loads"));
    for (index, program) in object.programs().iter().enumerate() {
        let tp =
            tracepoint::for_section(&program.section).expect("the handler's tracepoints exist");
        let attached = AttachedProgram::new(program.name.clone(), object.clone(), index)
            .expect("index is in range");
        tp.attach(Arc::new(attached));
        tp.set_enabled(true)
            .expect("the host platform is installed");
    }
    let rings: &'static RingSet<Record> = Box::leak(Box::new(
        RingSet::new(1, RING_CAPACITY).expect("ring size is a power of 2"),
    ));
    let (mut producers, consumers) = rings.split().expect("split once");
    let done = AtomicBool::new(false);
    let (elapsed, drained) = std::thread::scope(|scope| {
        let drainer = scope.spawn(|| {
            pin_to_cpu(1);
            let writer = DumpWriter::new(Discard::default(), &Metadata::default())
                .expect("a discarding sink accepts the header");
            let mut drain = Drain::new(consumers, writer, DRAIN_BATCH);
            loop {
                let finished = done.load(Ordering::Acquire);
                let moved = drain
                    .drain_once()
                    .expect("a discarding sink accepts everything");
                if finished && moved == 0 {
                    return drain.records_written();
                }
                if moved < DRAIN_BATCH {
                    std::thread::sleep(Duration::from_micros(100));
                }
            }
        });
        pin_to_cpu(0);
        HostPlatform::set_current_vcpu(1, 0);
        HostPlatform::attach_ring(producers.remove(0));
        let start = Instant::now();
        if record_only {
            for i in 0..events {
                trace_vmm_vcpu_run_exit!(1u16, 0u16, ExitReason::from_code((i % 7 + 1) as u32));
            }
        } else {
            for i in 0..events {
                trace_vmm_vcpu_run_exit!(1u16, 0u16, ExitReason::from_code((i % 7 + 1) as u32));
                trace_vmm_vcpu_run_enter!(1u16, 0u16);
            }
        }
        let elapsed = start.elapsed();
        done.store(true, Ordering::Release);
        (
            elapsed,
            drainer.join().expect("the drain thread does not panic"),
        )
    });
    let dropped: u64 = rings.stats().map(|s| s.dropped).sum();
    println!(
        "events={events} elapsed_ns={} ns_per_event={:.3} drained={drained} dropped={dropped}",
        elapsed.as_nanos(),
        elapsed.as_nanos() as f64 / events as f64
    );
}
