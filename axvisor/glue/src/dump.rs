//! The drain task and the dump out of the hypervisor.
//!
//! A lowest-priority AxVisor task (nice 19) moves records from every vCPU's ring into dump
//! chunks and hands each chunk to the host through semihosting ([`HostFile`]): QEMU writes it
//! to a file in its working directory before the call returns, so the host file is always a
//! valid dump up to its last whole chunk, whatever happens to the hypervisor afterwards, and
//! the bytes arrive exactly as written (no console framing or escaping). `trace dump start
//! [FILE]` opens it (the metadata names the programs loaded at that moment), `trace dump
//! stop` drains what is left and closes it; records wait in the rings (or are dropped and
//! counted, when full) while no dump is open.

use alloc::format;
use alloc::string::String;
use std::sync::Mutex;
use std::time::Duration;

use axebpf_core::Record;
use axebpf_core::drain::Drain;
use axebpf_core::dump::{DumpError, DumpWriter, Metadata, Sink};
use axtrace_ring::SetConsumer;

use crate::semihosting::HostFile;

/// Records per ring and pass.
const BATCH: usize = 1024;
/// The drain's sleep when a pass found nothing.
const IDLE: Duration = Duration::from_millis(5);
/// What the dump calls this host.
pub const HOST: &str = "AxVisor 0.8.2 on QEMU aarch64, QEMU TCG (emulated timing)";

/// A host file as a dump sink, timing its writes (the channel's measured throughput).
struct HostSink {
    file: HostFile,
    bytes: u64,
    write_ticks: u64,
}

impl Sink for HostSink {
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), DumpError> {
        let start = crate::clock::ticks();
        self.file.write_all(bytes).map_err(DumpError::Sink)?;
        self.write_ticks += crate::clock::ticks() - start;
        self.bytes += bytes.len() as u64;
        Ok(())
    }
}

struct OpenDump {
    path: String,
    drain: Drain<'static, HostSink>,
}

/// The drain's state: the consumers while no dump is open, the open dump otherwise.
pub struct Dumper {
    state: Mutex<State>,
    vcpus: alloc::vec::Vec<(u16, u16, u16)>,
}

enum State {
    Idle(SetConsumer<'static, Record>),
    Open(OpenDump),
    /// A dump failed to write: the consumers went with it, nothing drains any more.
    Broken(String),
}

impl Dumper {
    /// A dumper over `consumers`; ring `i` is `vcpus[i]` = `(ring, vm, vcpu)`.
    pub fn new(
        consumers: SetConsumer<'static, Record>,
        vcpus: alloc::vec::Vec<(u16, u16, u16)>,
    ) -> Self {
        Self {
            state: Mutex::new(State::Idle(consumers)),
            vcpus,
        }
    }

    /// Opens host file `path` and starts draining into it.
    pub fn start(&self, path: &str, programs: alloc::vec::Vec<String>) -> Result<String, String> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let consumers = match core::mem::replace(&mut *state, State::Broken(String::new())) {
            State::Idle(consumers) => consumers,
            other => {
                let message = match &other {
                    State::Open(open) => format!("a dump is already open: {}", open.path),
                    State::Broken(why) => format!("the drain stopped earlier: {why}"),
                    State::Idle(_) => unreachable!(),
                };
                *state = other;
                return Err(message);
            }
        };
        let metadata = Metadata {
            vcpus: self.vcpus.clone(),
            clock: format!(
                "arm_generic_timer cntpct {} Hz",
                crate::clock::frequency_hz()
            ),
            host: String::from(HOST),
            programs,
        };
        let sink = match HostFile::create(path) {
            Ok(file) => HostSink {
                file,
                bytes: 0,
                write_ticks: 0,
            },
            Err(why) => {
                *state = State::Idle(consumers);
                return Err(why);
            }
        };
        match DumpWriter::new(sink, &metadata) {
            Ok(writer) => {
                *state = State::Open(OpenDump {
                    path: String::from(path),
                    drain: Drain::new(consumers, writer, BATCH),
                });
                Ok(format!("dump {path}: started ({} rings)", self.vcpus.len()))
            }
            Err(why) => {
                // The consumers were moved into nothing yet: keep them.
                *state = State::Idle(consumers);
                Err(format!(
                    "could not write the dump's header to {path}: {why}"
                ))
            }
        }
    }

    /// Drains everything left, closes the dump and says what it holds. One dump per boot: the
    /// rings' consumers (and their drop accounting) stay with the closed dump.
    pub fn stop(&self) -> Result<String, String> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let State::Open(open) = &mut *state else {
            return Err(String::from("no dump is open (trace dump start [FILE])"));
        };
        if let Err(why) = open.drain.drain_all() {
            let message = format!("draining into {} failed: {why}", open.path);
            *state = State::Broken(message.clone());
            return Err(message);
        }
        let summary = summary(open);
        *state = State::Broken(format!("the dump {} was closed", open.path));
        Ok(format!("{summary}; closed"))
    }

    /// What the drain has written so far (`trace dump`); with `sync`, after draining every
    /// ring first.
    pub fn status(&self, sync: bool) -> String {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *state {
            State::Idle(_) => String::from("no dump open (trace dump start [FILE])"),
            State::Broken(why) => format!("no dump open: {why}"),
            State::Open(open) => {
                if sync && let Err(why) = open.drain.drain_all() {
                    return format!("draining into {} failed: {why}", open.path);
                }
                summary(open)
            }
        }
    }

    /// One pass of the drain task; the records it moved.
    fn pass(&self) -> usize {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let State::Open(open) = &mut *state else {
            return 0;
        };
        match open.drain.drain_once() {
            Ok(moved) => moved,
            Err(why) => {
                let message = format!("draining into {} failed: {why}", open.path);
                std::println!("axtrace: {message}");
                *state = State::Broken(message);
                0
            }
        }
    }

    /// The drain task: lowest priority, sleeps whenever a pass found nothing.
    pub fn spawn(&'static self) {
        let spawned = std::thread::Builder::new()
            .name("axtrace-drain".into())
            .spawn(move || {
                // Nice 19: vCPUs and the shell always go first.
                let _ = ax_std::os::arceos::api::task::ax_set_current_priority(19);
                loop {
                    if self.pass() == 0 {
                        std::thread::sleep(IDLE);
                    }
                }
            });
        if let Err(why) = spawned {
            std::println!("axtrace: the drain task did not start: {why}");
        }
    }
}

fn summary(open: &OpenDump) -> String {
    let records = open.drain.records_written();
    let drops = open.drain.drops_written();
    let sink = open.drain.writer().sink();
    let (bytes, ticks) = (sink.bytes, sink.write_ticks);
    let secs = ticks as f64 / crate::clock::frequency_hz().max(1) as f64;
    let rate = if secs > 0.0 {
        bytes as f64 / secs / 1e6
    } else {
        0.0
    };
    let mut line = format!(
        "dump {}: {records} records, {drops} dropped, {bytes} bytes, host writes {:.1} ms \
         ({rate:.1} MB/s)",
        open.path,
        secs * 1e3
    );
    // Records a ring refused because a second writer held it (never seen; see `platform`):
    // not in the ring's own drop count, so said here.
    let contended = crate::contended_records();
    if contended > 0 {
        line.push_str(&format!(", {contended} more refused while a ring was busy"));
    }
    line
}
