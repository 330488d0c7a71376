//! Converts a dump into a Perfetto trace (`.pftrace`, open it at <https://ui.perfetto.dev>).
//!
//! The output is a binary `perfetto.protos.Trace`: a stream of length-delimited `TracePacket`s,
//! written chunk by chunk as the dump is read, so memory does not grow with the dump (the writer
//! keeps one pending record per vCPU ring, the interned names per sequence and the counter
//! windows not yet written).
//!
//! Layout: a root track per VM (`VM <id>`) with a child track per vCPU (`vCPU <n>`) and two
//! counter tracks, each described before its first event. Every VM-exit record becomes a slice on
//! its vCPU's track from the exit to the next entry (`timestamp_ns + aux`), named by the exit
//! reason, with the debug annotations `addr` (`data`) and `duration_ns` (`aux`). A slice's end is
//! clamped to the next exit on the same vCPU so slices never overlap; a record whose timestamp
//! goes back in time is moved forward to the previous one, so every sequence's timestamps are
//! non-decreasing. Each ring is one packet sequence (`trusted_packet_sequence_id` = ring + 1)
//! with its own interned names and a `TracePacketDefaults` naming its vCPU track, so its events
//! carry no track uuid. Drops become an instant `records dropped` with a `count` annotation at
//! the next record (or after the last one); drops reported by consecutive chunks without records
//! in between are merged into one instant. With [`Options::guest_slices`], the time between an
//! entry and the next exit is a `guest` slice (none across drops).
//!
//! Counters, per VM, on their own sequence ([`COUNTER_SEQUENCE_BASE`] + VM id): `exits/s` (the
//! VM's exits in each [`Options::counter_window_ns`] window, as a rate, sampled at the window's
//! start; `0` after an empty window) and `records dropped` (drops reported in each window). Rings
//! are drained one after another, so a window's counts are written once the VM's records have
//! moved [`COUNTER_LAG_NS`] past its end; an exit arriving later than that (its ring lagged the
//! others by over a second) is counted in [`Stats::late_exits`] instead. A third counter, `ring
//! fill %`, is the fullest of the VM's rings as the drain found them (each chunk of a version-2
//! dump carries its ring's fill level when the drain took it), the maximum per window, sampled
//! only for windows in which the drain took records of the VM (version-1 dumps have none).
//!
//! [`Split`] writes several traces: one per VM, or one per time window (a slice goes where it
//! begins).

pub mod proto;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{Read, Write};

use axebpf_core::record::{Record, event};
use prost::Message;

use crate::dump::{DumpMetadata, DumpReader, Stop};
use proto::{
    CounterDescriptor, DebugAnnotation, InternedData, InternedString, TracePacket,
    TracePacketDefaults, TrackDescriptor, TrackEvent, TrackEventDefaults, event_type, seq_flags,
};

/// How to split the output into several traces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Split {
    /// One trace.
    #[default]
    None,
    /// One trace per VM.
    Vm,
    /// One trace per window of this many ns (window `k` covers `[k·d, (k+1)·d)` of the dump's
    /// clock).
    Window(u64),
}

/// What to write besides the exit slices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Also write `guest` slices from each entry to the next exit.
    pub guest_slices: bool,
    /// One trace or several.
    pub split: Split,
    /// The counter tracks' window, ns.
    pub counter_window_ns: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            guest_slices: false,
            split: Split::None,
            counter_window_ns: DEFAULT_COUNTER_WINDOW_NS,
        }
    }
}

/// The default counter window: 10 ms (100 samples per second of trace at most, per VM).
pub const DEFAULT_COUNTER_WINDOW_NS: u64 = 10_000_000;
/// How far past a counter window's end a VM's records must have moved before it is written.
pub const COUNTER_LAG_NS: u64 = 1_000_000_000;
/// The counter sequence of VM `vm` is `COUNTER_SEQUENCE_BASE + vm` (vCPU rings use 1..=65536).
pub const COUNTER_SEQUENCE_BASE: u32 = 0x1_0000 + 1;
/// At most this many outputs when splitting (each is an open file until the end).
pub const MAX_OUTPUTS: usize = 512;

/// Which output of a split conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OutputKey {
    /// The only one ([`Split::None`]).
    Whole,
    /// VM `id`'s ([`Split::Vm`]).
    Vm(u16),
    /// Window `k`'s ([`Split::Window`]).
    Window(u64),
}

impl OutputKey {
    /// What `convert` inserts before the output file's extension: `""`, `".vm<id>"` or
    /// `".w<k>"` (`k` zero-padded to 6 digits).
    pub fn suffix(&self) -> String {
        match self {
            Self::Whole => String::new(),
            Self::Vm(vm) => format!(".vm{vm}"),
            Self::Window(k) => format!(".w{k:06}"),
        }
    }
}

/// What one output holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutputStats {
    /// Bytes written.
    pub bytes: u64,
    /// `TracePacket`s written.
    pub packets: u64,
    /// VM-exit slices written.
    pub slices: u64,
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// `TracePacket`s written.
    pub packets: u64,
    /// VM-exit slices written (one per VM-exit record).
    pub slices: u64,
    /// `guest` slices written.
    pub guest_slices: u64,
    /// `records dropped` instants written.
    pub dropped_instants: u64,
    /// Records the dump says were dropped (the instants' counts add up to this).
    pub dropped_records: u64,
    /// Counter samples written.
    pub counter_samples: u64,
    /// Exits not in the `exits/s` counter: their window was written before they arrived.
    pub late_exits: u64,
    /// Every output, in key order.
    pub outputs: BTreeMap<OutputKey, OutputStats>,
    /// Where and why the dump reader stopped early, if it did; what it read was converted.
    pub stop: Option<Stop>,
}

/// How far the conversion got, for a progress display.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Dump bytes read.
    pub dump_bytes: u64,
    /// Trace bytes written, all outputs.
    pub written_bytes: u64,
    /// The largest output so far, bytes.
    pub largest_output: u64,
}

/// Why the conversion failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing the trace failed.
    #[error("writing the Perfetto trace: {0}")]
    Io(#[from] std::io::Error),
    /// The split would make too many files.
    #[error("the split makes more than {MAX_OUTPUTS} traces; choose a longer window")]
    TooManyOutputs,
    /// A zero-length window.
    #[error("the split window and the counter window must be longer than 0 ns")]
    ZeroWindow,
}

/// Interned debug-annotation names: the same iids on every sequence.
const ANNOTATIONS: [&str; 3] = ["addr", "duration_ns", "count"];
const ADDR: usize = 0;
const DURATION: usize = 1;
const COUNT: usize = 2;

/// The track uuid of VM `vm`.
pub fn vm_track_uuid(vm: u16) -> u64 {
    0xA0_0000_0000 | u64::from(vm)
}

/// The track uuid of vCPU `vcpu` of VM `vm`.
pub fn vcpu_track_uuid(vm: u16, vcpu: u16) -> u64 {
    0xC0_0000_0000 | (u64::from(vm) << 16) | u64::from(vcpu)
}

/// The track uuid of VM `vm`'s `exits/s` counter.
pub fn exit_rate_track_uuid(vm: u16) -> u64 {
    0xE0_0000_0000 | u64::from(vm)
}

/// The track uuid of VM `vm`'s `ring fill %` counter.
pub fn ring_fill_track_uuid(vm: u16) -> u64 {
    0xF0_0000_0000 | u64::from(vm)
}

/// The track uuid of VM `vm`'s `records dropped` counter.
pub fn drop_counter_track_uuid(vm: u16) -> u64 {
    0xD0_0000_0000 | u64::from(vm)
}

/// A multiply-rotate hasher for the writer's small keys (ids, reason names): the maps are looked
/// up on every event, and SipHash's DoS resistance buys nothing for a dump's own names.
#[derive(Default)]
struct QuickHasher(u64);

impl Hasher for QuickHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }
    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

type QuickMap<K, V> = HashMap<K, V, BuildHasherDefault<QuickHasher>>;
type QuickSet<K> = HashSet<K, BuildHasherDefault<QuickHasher>>;

/// Output buffer size: written to the output's writer when this full.
const OUTPUT_BUFFER: usize = 1 << 16;

/// One vCPU ring: the record waiting for its end, drops waiting for their instant.
struct Ring {
    ring: u16,
    vm: u16,
    vcpu: u16,
    /// The last record read, written once the next one (or the end) bounds it.
    pending: Option<Record>,
    pending_drops: u64,
    /// No packet of this ring may be earlier than this.
    floor: u64,
    /// The output this ring's track was last described in (a shortcut past the lookups).
    described: Option<OutputKey>,
}

impl Ring {
    fn track(&self) -> u64 {
        vcpu_track_uuid(self.vm, self.vcpu)
    }
}

/// A packet sequence's incremental state within one output.
#[derive(Default)]
struct Sequence {
    started: bool,
    names: QuickMap<String, u64>,
    annotations: [bool; ANNOTATIONS.len()],
}

impl Sequence {
    /// The iid of event name `name`, interning it into `interned` the first time.
    fn name(&mut self, name: &str, interned: &mut InternedData) -> u64 {
        if let Some(&iid) = self.names.get(name) {
            return iid;
        }
        let iid = self.names.len() as u64 + 1;
        self.names.insert(name.to_string(), iid);
        interned.event_names.push(interned_string(iid, name));
        iid
    }

    /// Annotation `index` = `value`, interning its name into `interned` the first time.
    fn annotation(
        &mut self,
        index: usize,
        value: u64,
        interned: &mut InternedData,
    ) -> DebugAnnotation {
        let iid = index as u64 + 1;
        if !self.annotations[index] {
            self.annotations[index] = true;
            interned
                .debug_annotation_names
                .push(interned_string(iid, ANNOTATIONS[index]));
        }
        DebugAnnotation {
            name_iid: Some(iid),
            uint_value: Some(value),
        }
    }
}

fn interned_string(iid: u64, name: &str) -> InternedString {
    InternedString {
        iid: Some(iid),
        name: Some(name.to_string()),
    }
}

/// One trace file being written.
struct Output<W: Write> {
    out: W,
    /// Encoded packets not yet written to `out`.
    buffer: Vec<u8>,
    stats: OutputStats,
    /// Sequences by `trusted_packet_sequence_id`.
    sequences: QuickMap<u32, Sequence>,
    /// VMs whose tracks are described.
    vms: QuickSet<u16>,
    /// vCPU tracks described, by ring.
    rings: QuickSet<u16>,
}

/// One counter window's totals.
#[derive(Default, Clone, Copy)]
struct Window {
    exits: u64,
    drops: u64,
    /// The fullest ring fill (per mille) the drain found in the window, if it took any chunk.
    fill: Option<u16>,
}

/// A VM's counter windows not yet written.
#[derive(Default)]
struct VmCounters {
    /// Window index → its totals.
    windows: BTreeMap<u64, Window>,
    /// The latest timestamp seen on the VM.
    latest: u64,
    /// The last window written, if any.
    written: Option<u64>,
}

struct Writer<'m, W: Write, F> {
    open: F,
    outputs: QuickMap<OutputKey, Output<W>>,
    /// A debug-annotation list kept between events (no allocation per event).
    spare_annotations: Vec<DebugAnnotation>,
    meta: &'m DumpMetadata,
    options: Options,
    counters: BTreeMap<u16, VmCounters>,
    /// The VM's name (`VM <id>`), cached.
    vm_names: HashMap<u16, String>,
    stats: Stats,
    written_bytes: u64,
}

impl<W: Write, F: FnMut(&OutputKey) -> std::io::Result<W>> Writer<'_, W, F> {
    /// The output an event of `vm` at `ts` goes to.
    fn key(&self, vm: u16, ts: u64) -> OutputKey {
        match self.options.split {
            Split::None => OutputKey::Whole,
            Split::Vm => OutputKey::Vm(vm),
            Split::Window(ns) => OutputKey::Window(ts / ns),
        }
    }

    /// Output `key`, opened the first time.
    fn output(&mut self, key: OutputKey) -> Result<&mut Output<W>, Error> {
        if !self.outputs.contains_key(&key) {
            if self.outputs.len() >= MAX_OUTPUTS {
                return Err(Error::TooManyOutputs);
            }
            let out = (self.open)(&key)?;
            self.outputs.insert(
                key,
                Output {
                    out,
                    buffer: Vec::with_capacity(OUTPUT_BUFFER + 4096),
                    stats: OutputStats::default(),
                    sequences: QuickMap::default(),
                    vms: QuickSet::default(),
                    rings: QuickSet::default(),
                },
            );
        }
        Ok(self.outputs.get_mut(&key).expect("inserted above"))
    }

    /// Writes `packet` on sequence `id` of output `key` as one `Trace.packet` (field 1,
    /// length-delimited); `build` fills it in with the sequence's interning state.
    fn packet(
        &mut self,
        key: OutputKey,
        id: u32,
        build: impl FnOnce(&mut Sequence) -> TracePacket,
    ) -> Result<(), Error> {
        let output = self.outputs.get_mut(&key).expect("opened before use");
        let seq = output.sequences.entry(id).or_default();
        let mut packet = build(seq);
        packet.trusted_packet_sequence_id = Some(id);
        packet.sequence_flags = Some(if seq.started {
            seq_flags::NEEDS_INCREMENTAL_STATE
        } else {
            seq_flags::INCREMENTAL_STATE_CLEARED | seq_flags::NEEDS_INCREMENTAL_STATE
        });
        seq.started = true;
        let buffer = &mut output.buffer;
        let start = buffer.len();
        buffer.push(0x0a); // Trace.packet, field 1, length-delimited
        // One pass over the packet for its length (`encode` would compute it again).
        packet.encode_length_delimited(buffer).expect("a Vec grows");
        let len = (buffer.len() - start) as u64;
        if buffer.len() >= OUTPUT_BUFFER {
            output.out.write_all(buffer)?;
            buffer.clear();
        }
        output.stats.bytes += len;
        output.stats.packets += 1;
        self.written_bytes += len;
        self.stats.packets += 1;
        if let Some(event) = packet.track_event {
            self.spare_annotations = event.debug_annotations;
        }
        Ok(())
    }

    /// Opens output `key` and describes `vm`'s tracks in it (once), on the VM's counter sequence.
    fn describe_vm(&mut self, key: OutputKey, vm: u16) -> Result<(), Error> {
        if !self.output(key)?.vms.insert(vm) {
            return Ok(());
        }
        let name = self
            .vm_names
            .entry(vm)
            .or_insert_with(|| format!("VM {vm}"))
            .clone();
        let seq = COUNTER_SEQUENCE_BASE + u32::from(vm);
        let vm_track = vm_track_uuid(vm);
        let mut root = track(vm_track, name, None);
        root.child_ordering = Some(proto::child_ordering::LEXICOGRAPHIC);
        let rate = TrackDescriptor {
            counter: Some(CounterDescriptor {
                unit: None,
                unit_name: Some("exits/s".into()),
            }),
            ..track(exit_rate_track_uuid(vm), "exits/s".into(), Some(vm_track))
        };
        let drops = TrackDescriptor {
            counter: Some(CounterDescriptor {
                unit: Some(proto::counter_unit::COUNT),
                unit_name: None,
            }),
            ..track(
                drop_counter_track_uuid(vm),
                "records dropped".into(),
                Some(vm_track),
            )
        };
        let fill = TrackDescriptor {
            counter: Some(CounterDescriptor {
                unit: None,
                unit_name: Some("% full (fullest vCPU ring)".into()),
            }),
            ..track(
                ring_fill_track_uuid(vm),
                "ring fill %".into(),
                Some(vm_track),
            )
        };
        for desc in [root, rate, drops, fill] {
            self.packet(key, seq, |_| TracePacket {
                track_descriptor: Some(desc),
                ..Default::default()
            })?;
        }
        Ok(())
    }

    /// Opens output `key` and describes `ring`'s vCPU track in it (once), with the defaults that
    /// let its events omit the track.
    fn describe_ring(&mut self, key: OutputKey, ring: &Ring) -> Result<(), Error> {
        self.describe_vm(key, ring.vm)?;
        if !self.output(key)?.rings.insert(ring.ring) {
            return Ok(());
        }
        let desc = track(
            ring.track(),
            format!("vCPU {}", ring.vcpu),
            Some(vm_track_uuid(ring.vm)),
        );
        self.packet(key, u32::from(ring.ring) + 1, |_| TracePacket {
            track_descriptor: Some(desc),
            trace_packet_defaults: Some(TracePacketDefaults {
                track_event_defaults: Some(TrackEventDefaults {
                    track_uuid: Some(ring.track()),
                }),
            }),
            ..Default::default()
        })
    }

    /// A track event at `ts` on `ring`'s track in output `key`.
    fn event(
        &mut self,
        key: OutputKey,
        ring: &mut Ring,
        ts: u64,
        kind: i32,
        name: Option<&str>,
        annotations: &[(usize, u64)],
    ) -> Result<(), Error> {
        if ring.described != Some(key) {
            self.describe_ring(key, ring)?;
            ring.described = Some(key);
        }
        ring.floor = ring.floor.max(ts);
        let mut debug_annotations = std::mem::take(&mut self.spare_annotations);
        debug_annotations.clear();
        self.packet(key, u32::from(ring.ring) + 1, |seq| {
            let mut interned = InternedData::default();
            let name_iid = name.map(|name| seq.name(name, &mut interned));
            debug_annotations.extend(
                annotations
                    .iter()
                    .map(|&(index, value)| seq.annotation(index, value, &mut interned)),
            );
            let empty =
                interned.event_names.is_empty() && interned.debug_annotation_names.is_empty();
            TracePacket {
                timestamp: Some(ts),
                track_event: Some(TrackEvent {
                    debug_annotations,
                    name_iid,
                    r#type: Some(kind),
                    track_uuid: None, // the sequence's default: the vCPU track
                    counter_value: None,
                    double_counter_value: None,
                }),
                interned_data: (!empty).then_some(interned),
                ..Default::default()
            }
        })
    }

    /// A named slice from `begin` to `end`, in the output where it begins.
    fn slice(
        &mut self,
        ring: &mut Ring,
        (begin, end): (u64, u64),
        name: &str,
        annotations: &[(usize, u64)],
    ) -> Result<OutputKey, Error> {
        let key = self.key(ring.vm, begin);
        self.event(
            key,
            ring,
            begin,
            event_type::SLICE_BEGIN,
            Some(name),
            annotations,
        )?;
        self.event(key, ring, end, event_type::SLICE_END, None, &[])?;
        Ok(key)
    }

    /// Writes `ring`'s pending record, if any, ending no later than `next` (the next exit).
    fn flush_pending(&mut self, ring: &mut Ring, next: Option<u64>) -> Result<(), Error> {
        let Some(record) = ring.pending.take() else {
            return Ok(());
        };
        let begin = record.timestamp_ns;
        let full = begin.saturating_add(u64::from(record.aux));
        let end = next.map_or(full, |next| full.min(next));
        let name = self.meta.reason_name(record.code);
        let annotations = [(ADDR, record.data), (DURATION, u64::from(record.aux))];
        let key = self.slice(ring, (begin, end), name, &annotations)?;
        self.outputs.get_mut(&key).expect("written").stats.slices += 1;
        self.stats.slices += 1;
        if let Some(next) = next
            && self.options.guest_slices
            && ring.pending_drops == 0
        {
            self.slice(ring, (end, next), "guest", &[])?;
            self.stats.guest_slices += 1;
        }
        Ok(())
    }

    /// Writes the `records dropped` instant for `ring`'s accumulated drops, if any.
    fn flush_drops(&mut self, ring: &mut Ring) -> Result<(), Error> {
        if ring.pending_drops == 0 {
            return Ok(());
        }
        let ts = ring.floor;
        let key = self.key(ring.vm, ts);
        let count = [(COUNT, ring.pending_drops)];
        self.event(
            key,
            ring,
            ts,
            event_type::INSTANT,
            Some("records dropped"),
            &count,
        )?;
        self.count(ring.vm, ts, 0, ring.pending_drops)?;
        self.stats.dropped_instants += 1;
        ring.pending_drops = 0;
        Ok(())
    }

    /// Takes one VM-exit record of `ring`.
    fn record(&mut self, ring: &mut Ring, mut record: Record) -> Result<(), Error> {
        let floor = ring
            .pending
            .map_or(ring.floor, |p| p.timestamp_ns.max(ring.floor));
        record.timestamp_ns = record.timestamp_ns.max(floor);
        self.flush_pending(ring, Some(record.timestamp_ns))?;
        ring.floor = ring.floor.max(record.timestamp_ns);
        self.flush_drops(ring)?;
        self.count(ring.vm, record.timestamp_ns, 1, 0)?;
        ring.pending = Some(record);
        Ok(())
    }

    /// Counts `exits` and `drops` of `vm` at `ts`, then writes the windows now complete.
    fn count(&mut self, vm: u16, ts: u64, exits: u64, drops: u64) -> Result<(), Error> {
        let width = self.options.counter_window_ns;
        let window = ts / width;
        let counters = self.counters.entry(vm).or_default();
        if counters.written.is_some_and(|w| window <= w) {
            // Drops stay visible as the instant; only the exits/s count misses them.
            self.stats.late_exits = self.stats.late_exits.saturating_add(exits);
            return Ok(());
        }
        let entry = counters.windows.entry(window).or_default();
        entry.exits = entry.exits.saturating_add(exits);
        entry.drops = entry.drops.saturating_add(drops);
        if ts > counters.latest {
            counters.latest = ts;
            self.write_counters(vm, false)?;
        }
        Ok(())
    }

    /// Notes that the drain found one of `vm`'s rings `per_mille` full when it took a chunk
    /// ending at `ts` (ignored if that window is already written).
    fn note_fill(&mut self, vm: u16, ts: u64, per_mille: u16) {
        let window = ts / self.options.counter_window_ns;
        let counters = self.counters.entry(vm).or_default();
        if counters.written.is_some_and(|w| window <= w) {
            return;
        }
        let entry = counters.windows.entry(window).or_default();
        entry.fill = Some(entry.fill.map_or(per_mille, |f| f.max(per_mille)));
    }

    /// Writes `vm`'s complete counter windows (all of them when `all`).
    fn write_counters(&mut self, vm: u16, all: bool) -> Result<(), Error> {
        let width = self.options.counter_window_ns;
        loop {
            let counters = self.counters.get_mut(&vm).expect("counted before");
            let Some((&window, &totals)) = counters.windows.first_key_value() else {
                break;
            };
            let end = (window + 1).saturating_mul(width);
            if !all && end.saturating_add(COUNTER_LAG_NS) > counters.latest {
                break;
            }
            counters.windows.pop_first();
            let previous = counters.written.replace(window);
            // The rate falls to 0 after an empty window rather than holding the last value.
            if let Some(previous) = previous
                && previous + 1 < window
            {
                self.sample(vm, (previous + 1).saturating_mul(width), 0, 0, None)?;
            }
            let rate = exits_rate(totals.exits, width);
            self.sample(vm, window * width, rate, totals.drops, totals.fill)?;
        }
        if all && let Some(last) = self.counters[&vm].written {
            // Close the rate after the last window.
            self.sample(vm, (last + 1).saturating_mul(width), 0, 0, None)?;
        }
        Ok(())
    }

    /// One sample of `vm`'s counters at `ts`.
    fn sample(
        &mut self,
        vm: u16,
        ts: u64,
        rate: i64,
        drops: u64,
        fill_per_mille: Option<u16>,
    ) -> Result<(), Error> {
        let key = self.key(vm, ts);
        self.describe_vm(key, vm)?;
        let seq = COUNTER_SEQUENCE_BASE + u32::from(vm);
        let drops = i64::try_from(drops).unwrap_or(i64::MAX);
        let fill = fill_per_mille.map(|f| (ring_fill_track_uuid(vm), f64::from(f) / 10.0));
        let values = [
            (exit_rate_track_uuid(vm), Some(rate), None),
            (drop_counter_track_uuid(vm), Some(drops), None),
        ]
        .into_iter()
        .chain(fill.map(|(track, percent)| (track, None, Some(percent))));
        for (track, counter_value, double_counter_value) in values {
            self.packet(key, seq, |_| TracePacket {
                timestamp: Some(ts),
                track_event: Some(TrackEvent {
                    r#type: Some(event_type::COUNTER),
                    track_uuid: Some(track),
                    counter_value,
                    double_counter_value,
                    ..Default::default()
                }),
                ..Default::default()
            })?;
            self.stats.counter_samples += 1;
        }
        Ok(())
    }

    fn progress(&self, dump_bytes: u64) -> Progress {
        Progress {
            dump_bytes,
            written_bytes: self.written_bytes,
            largest_output: self
                .outputs
                .values()
                .map(|o| o.stats.bytes)
                .max()
                .unwrap_or(0),
        }
    }
}

/// `exits` in a window of `width` ns, per second.
fn exits_rate(exits: u64, width: u64) -> i64 {
    let rate = u128::from(exits) * 1_000_000_000 / u128::from(width);
    i64::try_from(rate).unwrap_or(i64::MAX)
}

fn track(uuid: u64, name: String, parent: Option<u64>) -> TrackDescriptor {
    TrackDescriptor {
        uuid: Some(uuid),
        name: Some(name),
        parent_uuid: parent,
        ..Default::default()
    }
}

/// Converts the dump `reader` reads into one Perfetto trace written to `out`, chunk by chunk
/// ([`Options::split`] must be [`Split::None`]; see [`convert_split`]).
///
/// A cut or damaged dump converts up to its last whole chunk; [`Stats::stop`] says where the
/// reader stopped. Only `out`'s errors fail the conversion.
pub fn convert<R: Read>(
    reader: DumpReader<R>,
    out: impl Write,
    options: Options,
) -> Result<Stats, Error> {
    let mut out = Some(out);
    let open = |_: &OutputKey| {
        out.take().ok_or_else(|| {
            std::io::Error::other("several outputs asked of `convert`; use `convert_split`")
        })
    };
    convert_split(reader, options, open, |_| {})
}

/// Converts the dump `reader` reads into one or several Perfetto traces ([`Options::split`]),
/// opening each with `open` when its first packet is written; `progress` is told how far the
/// conversion got after every chunk.
pub fn convert_split<R: Read, W: Write>(
    mut reader: DumpReader<R>,
    options: Options,
    open: impl FnMut(&OutputKey) -> std::io::Result<W>,
    mut progress: impl FnMut(&Progress),
) -> Result<Stats, Error> {
    if options.counter_window_ns == 0 || options.split == Split::Window(0) {
        return Err(Error::ZeroWindow);
    }
    let meta = reader.metadata().clone();
    let mut writer = Writer {
        open,
        outputs: QuickMap::default(),
        spare_annotations: Vec::new(),
        meta: &meta,
        options,
        counters: BTreeMap::new(),
        vm_names: HashMap::new(),
        stats: Stats::default(),
        written_bytes: 0,
    };
    let mut rings: BTreeMap<u16, Ring> = BTreeMap::new();
    while let Some(chunk) = reader.next_chunk() {
        let ring = rings.entry(chunk.ring).or_insert_with(|| {
            let (vm, vcpu) = chunk.vcpu(&meta);
            Ring {
                ring: chunk.ring,
                vm,
                vcpu,
                pending: None,
                pending_drops: 0,
                floor: 0,
                described: None,
            }
        });
        ring.pending_drops = ring.pending_drops.saturating_add(chunk.dropped);
        if let (Some(fill), Some(last)) = (chunk.ring_fill_per_mille, chunk.records.last()) {
            writer.note_fill(ring.vm, last.timestamp_ns, fill);
        }
        writer.stats.dropped_records = writer.stats.dropped_records.saturating_add(chunk.dropped);
        for record in chunk.records.iter().filter(|r| r.event == event::VM_EXIT) {
            writer.record(ring, *record)?;
        }
        progress(&writer.progress(reader.offset()));
    }
    for ring in rings.values_mut() {
        writer.flush_pending(ring, None)?;
        writer.flush_drops(ring)?;
    }
    let vms: Vec<u16> = writer.counters.keys().copied().collect();
    for vm in vms {
        writer.write_counters(vm, true)?;
    }
    for output in writer.outputs.values_mut() {
        output.out.write_all(&output.buffer)?;
        output.buffer.clear();
        output.out.flush()?;
    }
    progress(&writer.progress(reader.offset()));
    let mut stats = writer.stats;
    stats.outputs = writer
        .outputs
        .into_iter()
        .map(|(key, output)| (key, output.stats))
        .collect();
    stats.stop = reader.stop().cloned();
    Ok(stats)
}
