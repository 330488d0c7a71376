//! `axtrace convert DUMP --perfetto OUT`: writes the dump as a Perfetto trace
//! ([`axtrace_exporter::perfetto`]) and says what was written and how to open it.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use anyhow::{Context, Result};
use axtrace_exporter::dump::DumpReader;
use axtrace_exporter::perfetto::{self, Options};

/// Converts `dump` into the Perfetto trace `output` and returns the summary to print. A cut or
/// damaged dump converts up to its last whole chunk, and the summary says where it stopped.
pub fn run(dump: &Path, output: &Path, guest_slices: bool) -> Result<String> {
    let input = File::open(dump).with_context(|| format!("opening {}", dump.display()))?;
    let reader = DumpReader::open(BufReader::new(input))
        .with_context(|| format!("reading {}", dump.display()))?;
    let out = File::create(output).with_context(|| format!("creating {}", output.display()))?;
    let stats = perfetto::convert(reader, out, Options { guest_slices })
        .with_context(|| format!("writing {}", output.display()))?;
    let mut text = String::new();
    if let Some(stop) = &stats.stop {
        text += &format!(
            "warning: {} is cut or damaged ({stop}); converted what was read before that\n",
            dump.display()
        );
    }
    text += &format!(
        "{}: {} packets, {} exit slices, {} guest slices, {} drop markers ({} records dropped)\n",
        output.display(),
        stats.packets,
        stats.slices,
        stats.guest_slices,
        stats.dropped_instants,
        stats.dropped_records
    );
    text += "open it at https://ui.perfetto.dev (\"Open trace file\")\n";
    Ok(text)
}
