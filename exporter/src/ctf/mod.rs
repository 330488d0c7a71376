//! Converts a dump into a CTF 1.8 trace (a directory that babeltrace2 and Trace Compass read).
//!
//! The directory holds a TSDL `metadata` file and one stream file per vCPU
//! (`vm<id>_vcpu<n>`). Each dump chunk becomes one packet of its vCPU's stream, written as it is
//! read (memory holds one packet). The packet context carries `timestamp_begin`/`_end`, the
//! sizes, `events_discarded` (the stream's running total of the drops its chunks report — CTF
//! counts it cumulatively; babeltrace2 reports the difference between packets), `cpu_id` (the
//! ring), `vm_id` and `vcpu_id`.
//!
//! Event classes, one per record kind: `vm_exit` (id 1: `vm_id`, `vcpu_id`, `pcpu_id`,
//! `exit_reason` as an enumeration of the dump's own reason names, `duration_ns` = exit→entry,
//! `addr`) and `axtrace_record` (id 0: any other event id, its raw fields). Timestamps are ns on
//! the `axtrace` clock (the dump's clock); a record earlier than the previous one of its vCPU is
//! moved forward to it (CTF streams are in time order) and counted in [`Stats::reordered`].
//! Integers are little-endian and byte-aligned (no padding), so a `vm_exit` event is 32 bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::Path;

use axebpf_core::record::{Record, event};

use crate::dump::{DumpMetadata, DumpReader, Stop};

/// CTF packet magic.
const MAGIC: u32 = 0xC1FC_1FC1;
/// Packet header (magic, stream id) + context (2 timestamps, 3 counters, cpu, vm, vcpu), bytes.
const PACKET_PREAMBLE: usize = 4 + 4 + 8 * 5 + 4 + 2 + 2;
/// The `vm_exit` class id.
const VM_EXIT_ID: u16 = 1;
/// The `axtrace_record` class id.
const RECORD_ID: u16 = 0;

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events written.
    pub events: u64,
    /// `vm_exit` events written.
    pub exits: u64,
    /// Packets written (one per dump chunk).
    pub packets: u64,
    /// Records the dump says were dropped (the streams' `events_discarded` add up to this).
    pub discarded: u64,
    /// Stream files written.
    pub streams: Vec<String>,
    /// Records moved forward in time to keep their stream in order.
    pub reordered: u64,
    /// Where and why the dump reader stopped early, if it did; what it read was converted.
    pub stop: Option<Stop>,
}

/// Why the conversion failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing failed.
    #[error("writing the CTF trace: {0}")]
    Io(#[from] std::io::Error),
    /// The output directory holds files that are not an earlier CTF output.
    #[error(
        "{0} is in the CTF output directory and is not part of an axtrace CTF trace; give an empty \
         or new directory"
    )]
    NotEmpty(String),
}

/// A TSDL string literal's contents.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The exit-reason mappings: the dump's table (first name per code, first code per name).
fn reason_mappings(meta: &DumpMetadata) -> Vec<(u32, String)> {
    let mut out: Vec<(u32, String)> = Vec::new();
    for (code, name) in &meta.reasons {
        if !out.iter().any(|(c, n)| c == code || n == name) {
            out.push((*code, name.clone()));
        }
    }
    out
}

/// The TSDL metadata of a trace of `meta`'s dump.
pub fn metadata(meta: &DumpMetadata) -> String {
    let mut text = String::from("/* CTF 1.8 */\n\n");
    for bits in [8, 16, 32, 64] {
        let _ = writeln!(
            text,
            "typealias integer {{ size = {bits}; align = 8; signed = false; }} := uint{bits}_t;"
        );
    }
    text += "typealias integer { size = 64; align = 8; signed = false; map = clock.axtrace.value; } \
             := axtrace_clock_t;\n\n";
    text += "trace {\n\tmajor = 1;\n\tminor = 8;\n\tbyte_order = le;\n\
             \tpacket.header := struct {\n\t\tuint32_t magic;\n\t\tuint32_t stream_id;\n\t};\n};\n\n";
    let _ = write!(
        text,
        "env {{\n\tdomain = \"axtrace\";\n\ttracer_name = \"axtrace\";\n\
         \thostname = \"{}\";\n\tprogram = \"{}\";\n\tdump_clock = \"{}\";\n}};\n\n",
        escape(&meta.host),
        escape(&meta.programs.join(", ")),
        escape(&meta.clock),
    );
    let _ = write!(
        text,
        "clock {{\n\tname = axtrace;\n\tdescription = \"the dump's clock ({}), ns\";\n\
         \tfreq = 1000000000;\n\toffset = 0;\n\tprecision = 1;\n\tabsolute = false;\n}};\n\n",
        escape(&meta.clock)
    );
    text += "stream {\n\tid = 0;\n\tpacket.context := struct {\n\
             \t\taxtrace_clock_t timestamp_begin;\n\t\taxtrace_clock_t timestamp_end;\n\
             \t\tuint64_t content_size;\n\t\tuint64_t packet_size;\n\
             \t\tuint64_t events_discarded;\n\t\tuint32_t cpu_id;\n\
             \t\tuint16_t vm_id;\n\t\tuint16_t vcpu_id;\n\t};\n\
             \tevent.header := struct {\n\t\tuint16_t id;\n\t\taxtrace_clock_t timestamp;\n\t};\n};\n\n";
    text += "enum exit_reason_t : uint32_t {\n";
    let mappings = reason_mappings(meta);
    for (i, (code, name)) in mappings.iter().enumerate() {
        let comma = if i + 1 < mappings.len() { "," } else { "" };
        let _ = writeln!(text, "\t\"{}\" = {code}{comma}", escape(name));
    }
    text += "};\n\n";
    let _ = write!(
        text,
        "event {{\n\tname = \"vm_exit\";\n\tid = {VM_EXIT_ID};\n\tstream_id = 0;\n\
         \tfields := struct {{\n\t\tuint16_t vm_id;\n\t\tuint16_t vcpu_id;\n\t\tuint16_t pcpu_id;\n\
         \t\tenum exit_reason_t exit_reason;\n\t\tuint32_t duration_ns;\n\t\tuint64_t addr;\n\t}};\n}};\n\n"
    );
    let _ = write!(
        text,
        "event {{\n\tname = \"axtrace_record\";\n\tid = {RECORD_ID};\n\tstream_id = 0;\n\
         \tfields := struct {{\n\t\tuint16_t event_id;\n\t\tuint16_t vm_id;\n\t\tuint16_t vcpu_id;\n\
         \t\tuint16_t pcpu_id;\n\t\tuint32_t code;\n\t\tuint32_t aux;\n\t\tuint64_t data;\n\t}};\n}};\n"
    );
    text
}

/// One vCPU's stream.
struct Stream<W: Write> {
    out: W,
    ring: u16,
    vm: u16,
    vcpu: u16,
    /// Running total of drops (CTF's `events_discarded` is cumulative).
    discarded: u64,
    /// No event may be earlier than this.
    floor: u64,
    /// Whether a packet was written.
    written: bool,
}

/// Appends one event of `record` (at `ts`) to `packet`.
fn push_event(packet: &mut Vec<u8>, record: &Record, ts: u64) {
    let vm_exit = record.event == event::VM_EXIT;
    let id = if vm_exit { VM_EXIT_ID } else { RECORD_ID };
    packet.extend_from_slice(&id.to_le_bytes());
    packet.extend_from_slice(&ts.to_le_bytes());
    // `axtrace_record` carries the event id first; `vm_exit` is known by its class.
    if !vm_exit {
        packet.extend_from_slice(&record.event.to_le_bytes());
    }
    packet.extend_from_slice(&record.vm.to_le_bytes());
    packet.extend_from_slice(&record.vcpu.to_le_bytes());
    packet.extend_from_slice(&record.pcpu.to_le_bytes());
    packet.extend_from_slice(&record.code.to_le_bytes());
    packet.extend_from_slice(&record.aux.to_le_bytes());
    packet.extend_from_slice(&record.data.to_le_bytes());
}

/// Fills in `packet`'s header and context (its first [`PACKET_PREAMBLE`] bytes, added if
/// missing) and writes it to `stream`; `packet` is left empty.
fn write_packet<W: Write>(
    stream: &mut Stream<W>,
    packet: &mut Vec<u8>,
    begin: u64,
    end: u64,
) -> std::io::Result<()> {
    if packet.len() < PACKET_PREAMBLE {
        packet.resize(PACKET_PREAMBLE, 0);
    }
    let bits = (packet.len() as u64) * 8;
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        packet[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    put(&MAGIC.to_le_bytes());
    put(&0u32.to_le_bytes()); // stream class 0
    put(&begin.to_le_bytes());
    put(&end.to_le_bytes());
    put(&bits.to_le_bytes()); // content_size
    put(&bits.to_le_bytes()); // packet_size: no padding
    put(&stream.discarded.to_le_bytes());
    put(&u32::from(stream.ring).to_le_bytes());
    put(&stream.vm.to_le_bytes());
    put(&stream.vcpu.to_le_bytes());
    debug_assert_eq!(at, PACKET_PREAMBLE);
    stream.out.write_all(packet)?;
    packet.clear();
    Ok(())
}

/// The stream file name of vCPU `vcpu` of VM `vm`.
pub fn stream_name(vm: u16, vcpu: u16) -> String {
    format!("vm{vm}_vcpu{vcpu}")
}

/// Converts the dump `reader` reads into a CTF trace whose files `open` creates by name
/// (`metadata` first, then each stream as its first chunk is read).
///
/// A cut or damaged dump converts up to its last whole chunk; [`Stats::stop`] says where the
/// reader stopped. Only the outputs' errors fail the conversion.
pub fn convert_to<R: Read, W: Write>(
    mut reader: DumpReader<R>,
    mut open: impl FnMut(&str) -> std::io::Result<W>,
) -> Result<Stats, Error> {
    let meta = reader.metadata().clone();
    let mut metadata_out = open("metadata")?;
    metadata_out.write_all(metadata(&meta).as_bytes())?;
    metadata_out.flush()?;
    drop(metadata_out);
    let mut stats = Stats::default();
    let mut streams: BTreeMap<u16, Stream<W>> = BTreeMap::new();
    let mut packet = Vec::new();
    while let Some(chunk) = reader.next_chunk() {
        let stream = match streams.entry(chunk.ring) {
            std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::btree_map::Entry::Vacant(entry) => {
                let (vm, vcpu) = chunk.vcpu(&meta);
                // Two rings claiming one vCPU get distinct files.
                let mut name = stream_name(vm, vcpu);
                if stats.streams.contains(&name) {
                    name = format!("{name}_ring{}", chunk.ring);
                }
                stats.streams.push(name.clone());
                entry.insert(Stream {
                    out: open(&name)?,
                    ring: chunk.ring,
                    vm,
                    vcpu,
                    discarded: 0,
                    floor: 0,
                    written: false,
                })
            }
        };
        if stream.discarded == 0 && chunk.dropped > 0 && !stream.written {
            // CTF counts discarded events between packets: without an earlier packet, a reader
            // cannot tell how many the first one's count covers. An empty packet gives it one.
            let ts = chunk.records.first().map_or(0, |r| r.timestamp_ns);
            write_packet(stream, &mut packet, ts, ts)?;
            stats.packets += 1;
        }
        stream.written = true;
        stream.discarded = stream.discarded.saturating_add(chunk.dropped);
        stats.discarded = stats.discarded.saturating_add(chunk.dropped);
        packet.resize(PACKET_PREAMBLE, 0);
        let begin = chunk
            .records
            .first()
            .map_or(stream.floor, |r| r.timestamp_ns.max(stream.floor));
        stream.floor = begin;
        for record in &chunk.records {
            let ts = record.timestamp_ns.max(stream.floor);
            if ts != record.timestamp_ns {
                stats.reordered += 1;
            }
            stream.floor = ts;
            push_event(&mut packet, record, ts);
            stats.events += 1;
            stats.exits += u64::from(record.event == event::VM_EXIT);
        }
        let end = stream.floor.max(begin);
        stream.floor = end;
        write_packet(stream, &mut packet, begin, end)?;
        stats.packets += 1;
    }
    for stream in streams.values_mut() {
        stream.out.flush()?;
    }
    stats.stop = reader.stop().cloned();
    Ok(stats)
}

/// Whether `name` is a file this module writes.
fn is_ours(name: &str) -> bool {
    name == "metadata"
        || name
            .strip_prefix("vm")
            .is_some_and(|rest| rest.contains("_vcpu"))
}

/// Converts the dump `reader` reads into a CTF trace in directory `dir`: created if missing; an
/// earlier CTF output of axtrace there is replaced (its stream files would otherwise be read as
/// part of the new trace); any other file there is an error.
pub fn convert_dir<R: Read>(reader: DumpReader<R>, dir: &Path) -> Result<Stats, Error> {
    std::fs::create_dir_all(dir)?;
    let mut stale = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !is_ours(&name) || !entry.file_type()?.is_file() {
            return Err(Error::NotEmpty(dir.join(name).display().to_string()));
        }
        stale.push(entry.path());
    }
    for path in stale {
        std::fs::remove_file(path)?;
    }
    convert_to(reader, |name| {
        Ok(std::io::BufWriter::with_capacity(
            1 << 16,
            std::fs::File::create(dir.join(name))?,
        ))
    })
}
