//! Converts a dump into a Perfetto trace (`.pftrace`, open it at <https://ui.perfetto.dev>).
//!
//! The output is a binary `perfetto.protos.Trace`: a stream of length-delimited `TracePacket`s,
//! written chunk by chunk as the dump is read, so memory does not grow with the dump (the writer
//! keeps one pending record and the interned names per vCPU ring).
//!
//! Layout: a root track per VM (`VM <id>`) with a child track per vCPU (`vCPU <n>`), each
//! described before its first event. Every VM-exit record becomes a slice on its vCPU's track
//! from the exit to the next entry (`timestamp_ns + aux`), named by the exit reason, with the
//! debug annotations `addr` (`data`) and `duration_ns` (`aux`). A slice's end is clamped to the
//! next exit on the same vCPU so slices never overlap; a record whose timestamp goes back in time
//! is moved forward to the previous one, so every sequence's timestamps are non-decreasing.
//! Each ring is one packet sequence (`trusted_packet_sequence_id` = ring + 1) with its own
//! interned names. Drops become an instant `records dropped` with a `count` annotation at the
//! next record (or after the last one); drops reported by consecutive chunks without records in
//! between are merged into one instant. With [`Options::guest_slices`], the time between an
//! entry and the next exit is a `guest` slice (none across drops).

pub mod proto;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufWriter, Read, Write};

use axebpf_core::record::{Record, event};
use prost::Message;

use crate::dump::{DumpMetadata, DumpReader, Stop};
use proto::{
    DebugAnnotation, InternedData, InternedString, TracePacket, TrackDescriptor, TrackEvent,
    event_type, seq_flags,
};

/// What to write besides the exit slices.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Also write `guest` slices from each entry to the next exit.
    pub guest_slices: bool,
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
    /// Where and why the dump reader stopped early, if it did; what it read was converted.
    pub stop: Option<Stop>,
}

/// Why the conversion failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing the trace failed.
    #[error("writing the Perfetto trace: {0}")]
    Io(#[from] std::io::Error),
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

/// One vCPU ring's packet sequence.
struct Sequence {
    id: u32,
    track: u64,
    started: bool,
    names: HashMap<String, u64>,
    annotations: [bool; ANNOTATIONS.len()],
    /// The last record read, written once the next one (or the end) bounds it.
    pending: Option<Record>,
    pending_drops: u64,
    /// No packet of this sequence may be earlier than this.
    floor: u64,
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

struct Writer<'m, W: Write> {
    out: BufWriter<W>,
    buf: Vec<u8>,
    meta: &'m DumpMetadata,
    options: Options,
    vms: HashSet<u16>,
    stats: Stats,
}

impl<W: Write> Writer<'_, W> {
    /// Writes `packet` on `seq` as one `Trace.packet` (field 1, length-delimited).
    fn packet(&mut self, seq: &mut Sequence, mut packet: TracePacket) -> Result<(), Error> {
        packet.trusted_packet_sequence_id = Some(seq.id);
        packet.sequence_flags = Some(if seq.started {
            seq_flags::NEEDS_INCREMENTAL_STATE
        } else {
            seq_flags::INCREMENTAL_STATE_CLEARED | seq_flags::NEEDS_INCREMENTAL_STATE
        });
        seq.started = true;
        if let Some(ts) = packet.timestamp {
            seq.floor = seq.floor.max(ts);
        }
        self.buf.clear();
        self.buf.push(0x0a);
        prost::encoding::encode_varint(packet.encoded_len() as u64, &mut self.buf);
        packet.encode(&mut self.buf).expect("a Vec grows");
        self.out.write_all(&self.buf)?;
        self.stats.packets += 1;
        Ok(())
    }

    fn descriptor(&mut self, seq: &mut Sequence, desc: TrackDescriptor) -> Result<(), Error> {
        let packet = TracePacket {
            track_descriptor: Some(desc),
            ..Default::default()
        };
        self.packet(seq, packet)
    }

    /// Starts ring `ring`'s sequence: describes its VM (once) and vCPU tracks.
    fn start(&mut self, ring: u16, (vm, vcpu): (u16, u16)) -> Result<Sequence, Error> {
        let mut seq = Sequence {
            id: u32::from(ring) + 1,
            track: vcpu_track_uuid(vm, vcpu),
            started: false,
            names: HashMap::new(),
            annotations: [false; ANNOTATIONS.len()],
            pending: None,
            pending_drops: 0,
            floor: 0,
        };
        if self.vms.insert(vm) {
            let name = format!("VM {vm}");
            self.descriptor(&mut seq, track(vm_track_uuid(vm), name, None))?;
        }
        let desc = track(seq.track, format!("vCPU {vcpu}"), Some(vm_track_uuid(vm)));
        self.descriptor(&mut seq, desc)?;
        Ok(seq)
    }

    /// A track event at `ts` on `seq`'s track.
    fn event(
        &mut self,
        seq: &mut Sequence,
        ts: u64,
        kind: i32,
        name: Option<u64>,
        annotations: Vec<DebugAnnotation>,
        interned: InternedData,
    ) -> Result<(), Error> {
        let empty = interned.event_names.is_empty() && interned.debug_annotation_names.is_empty();
        let packet = TracePacket {
            timestamp: Some(ts),
            track_event: Some(TrackEvent {
                debug_annotations: annotations,
                name_iid: name,
                r#type: Some(kind),
                track_uuid: Some(seq.track),
            }),
            interned_data: (!empty).then_some(interned),
            ..Default::default()
        };
        self.packet(seq, packet)
    }

    /// A named slice from `begin` to `end`.
    fn slice(
        &mut self,
        seq: &mut Sequence,
        (begin, end): (u64, u64),
        name: &str,
        annotations: &[(usize, u64)],
    ) -> Result<(), Error> {
        let mut interned = InternedData::default();
        let iid = seq.name(name, &mut interned);
        let annotations = annotations
            .iter()
            .map(|&(index, value)| seq.annotation(index, value, &mut interned))
            .collect();
        self.event(
            seq,
            begin,
            event_type::SLICE_BEGIN,
            Some(iid),
            annotations,
            interned,
        )?;
        self.event(
            seq,
            end,
            event_type::SLICE_END,
            None,
            Vec::new(),
            InternedData::default(),
        )
    }

    /// Writes `seq`'s pending record, if any, ending no later than `next` (the next exit).
    fn flush_pending(&mut self, seq: &mut Sequence, next: Option<u64>) -> Result<(), Error> {
        let Some(record) = seq.pending.take() else {
            return Ok(());
        };
        let begin = record.timestamp_ns;
        let full = begin.saturating_add(u64::from(record.aux));
        let end = next.map_or(full, |next| full.min(next));
        let name = self.meta.reason_name(record.code);
        let annotations = [(ADDR, record.data), (DURATION, u64::from(record.aux))];
        self.slice(seq, (begin, end), name, &annotations)?;
        self.stats.slices += 1;
        if let Some(next) = next
            && self.options.guest_slices
            && seq.pending_drops == 0
        {
            self.slice(seq, (end, next), "guest", &[])?;
            self.stats.guest_slices += 1;
        }
        Ok(())
    }

    /// Writes the `records dropped` instant for `seq`'s accumulated drops, if any.
    fn flush_drops(&mut self, seq: &mut Sequence) -> Result<(), Error> {
        if seq.pending_drops == 0 {
            return Ok(());
        }
        let mut interned = InternedData::default();
        let iid = seq.name("records dropped", &mut interned);
        let count = seq.annotation(COUNT, seq.pending_drops, &mut interned);
        let ts = seq.floor;
        self.event(
            seq,
            ts,
            event_type::INSTANT,
            Some(iid),
            vec![count],
            interned,
        )?;
        self.stats.dropped_instants += 1;
        seq.pending_drops = 0;
        Ok(())
    }

    /// Takes one VM-exit record of `seq`.
    fn record(&mut self, seq: &mut Sequence, mut record: Record) -> Result<(), Error> {
        let floor = seq
            .pending
            .map_or(seq.floor, |p| p.timestamp_ns.max(seq.floor));
        record.timestamp_ns = record.timestamp_ns.max(floor);
        self.flush_pending(seq, Some(record.timestamp_ns))?;
        seq.floor = seq.floor.max(record.timestamp_ns);
        self.flush_drops(seq)?;
        seq.pending = Some(record);
        Ok(())
    }
}

fn track(uuid: u64, name: String, parent: Option<u64>) -> TrackDescriptor {
    TrackDescriptor {
        uuid: Some(uuid),
        name: Some(name),
        parent_uuid: parent,
    }
}

/// Converts the dump `reader` reads into a Perfetto trace written to `out`, chunk by chunk.
///
/// A cut or damaged dump converts up to its last whole chunk; [`Stats::stop`] says where the
/// reader stopped. Only `out`'s errors fail the conversion.
pub fn convert<R: Read>(
    mut reader: DumpReader<R>,
    out: impl Write,
    options: Options,
) -> Result<Stats, Error> {
    let meta = reader.metadata().clone();
    let mut writer = Writer {
        out: BufWriter::new(out),
        buf: Vec::new(),
        meta: &meta,
        options,
        vms: HashSet::new(),
        stats: Stats::default(),
    };
    let mut sequences: BTreeMap<u16, Sequence> = BTreeMap::new();
    while let Some(chunk) = reader.next_chunk() {
        let seq = match sequences.entry(chunk.ring) {
            std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::btree_map::Entry::Vacant(entry) => {
                let ids = meta
                    .vcpus
                    .iter()
                    .find(|(ring, _, _)| *ring == chunk.ring)
                    .map(|&(_, vm, vcpu)| (vm, vcpu))
                    .or_else(|| chunk.records.first().map(|r| (r.vm, r.vcpu)))
                    .unwrap_or((u16::MAX, chunk.ring));
                entry.insert(writer.start(chunk.ring, ids)?)
            }
        };
        seq.pending_drops += chunk.dropped;
        writer.stats.dropped_records += chunk.dropped;
        for record in chunk.records.iter().filter(|r| r.event == event::VM_EXIT) {
            writer.record(seq, *record)?;
        }
    }
    for seq in sequences.values_mut() {
        writer.flush_pending(seq, None)?;
        writer.flush_drops(seq)?;
    }
    writer.out.flush()?;
    let mut stats = writer.stats;
    stats.stop = reader.stop().cloned();
    Ok(stats)
}
