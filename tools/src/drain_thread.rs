//! The host's drain task: a thread at `SCHED_IDLE` (it runs only when a CPU has nothing else to
//! do) that moves records from the rings into the dump file on a period, and everything left
//! when told to stop.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axebpf_core::drain::Drain;
use axebpf_core::dump::{DumpError, Sink};

/// A dump file (buffered).
pub struct FileSink(pub BufWriter<File>);

impl Sink for FileSink {
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), DumpError> {
        self.0
            .write_all(bytes)
            .map_err(|e| DumpError::Sink(e.to_string()))
    }
}

impl FileSink {
    /// Flushes the buffer to the file.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Lowers the calling thread to `SCHED_IDLE`; returns whether the kernel agreed.
pub fn lower_to_idle_priority() -> bool {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 is the calling thread; `param` is a valid sched_param for SCHED_IDLE.
    unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) == 0 }
}

/// A ring this full (per mille of its capacity) wakes the drain before its period is over.
pub const WATERMARK_PER_MILLE: u64 = 250;

/// How often an idle drain looks at the rings' fill.
const WATERMARK_CHECK: Duration = Duration::from_millis(1);

/// Runs the drain until `stop` is set, then drains what is left. After a pass that moved
/// nothing it waits up to `period`, checking the rings' fill every millisecond (counters only)
/// and waking early when one passes [`WATERMARK_PER_MILLE`]; a pass that moved records is
/// followed by another at once. Returns the drain (its writer holds the dump) or the first write
/// error.
pub fn run<'a, S: Sink>(
    mut drain: Drain<'a, S>,
    period: Duration,
    stop: &AtomicBool,
) -> Result<Drain<'a, S>, DumpError> {
    lower_to_idle_priority();
    while !stop.load(Ordering::Acquire) {
        if drain.drain_once()? > 0 {
            continue;
        }
        let idle_since = std::time::Instant::now();
        while idle_since.elapsed() < period
            && !stop.load(Ordering::Acquire)
            && drain.fullest_per_mille() < WATERMARK_PER_MILLE
        {
            std::thread::sleep(WATERMARK_CHECK.min(period));
        }
    }
    drain.drain_all()?;
    Ok(drain)
}
