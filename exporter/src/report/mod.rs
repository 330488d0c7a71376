//! The model behind `axtrace-report`: exit latencies from a dump, streamed chunk by chunk into
//! [`Latencies`] histograms per (VM, vCPU, exit reason) — memory grows with the number of
//! vCPUs, reasons and (when asked for) distinct addresses, never with the number of records —
//! then grouped into table rows by reason, VM, vCPU, port, guest-physical address, MSR or
//! hypercall number.
//!
//! What a `VM_EXIT` record holds (`axebpf_core::record::event::VM_EXIT`): `code` = exit reason,
//! `aux` = exit→entry latency in ns (saturating at `u32::MAX`), `data` = the exit's address —
//! the port for `IoRead`/`IoWrite` (the direction is the reason), the guest-physical address for
//! `MmioRead`/`MmioWrite`/`NestedPageFault`, the MSR index for `SysRegRead`/`SysRegWrite`, the
//! hypercall number for `Hypercall`. The access width and the value are not in the record.
//!
//! Latencies are recorded raw: exits are observed, not driven at a fixed rate, so there is no
//! coordinated-omission correction.

pub mod diff;
pub mod hlog;
pub mod render;
pub mod svg;

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use axebpf_core::exit_reason::ExitReason;
use axebpf_core::record::{Record, event};

use crate::dump::{DumpMetadata, DumpReader, Stop};
use crate::hist::Latencies;

/// How table rows are grouped (`--by`: with the `clap` feature, a `clap::ValueEnum` whose values
/// are [`By::name`]s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum By {
    /// One row per exit reason (all VMs and vCPUs).
    #[default]
    Reason,
    /// One row per (VM, exit reason).
    Vm,
    /// One row per (VM, vCPU, exit reason).
    Vcpu,
    /// `IoRead`/`IoWrite` exits, one row per (port, direction).
    Port,
    /// `MmioRead`/`MmioWrite`/`NestedPageFault` exits, one row per (address, reason), grouped
    /// by the device window holding the address.
    Gpa,
    /// `SysRegRead`/`SysRegWrite` exits, one row per (MSR, direction).
    Msr,
    /// `Hypercall` exits, one row per hypercall number.
    Hypercall,
}

impl By {
    /// Every grouping.
    pub const ALL: [By; 7] = [
        By::Reason,
        By::Vm,
        By::Vcpu,
        By::Port,
        By::Gpa,
        By::Msr,
        By::Hypercall,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            By::Reason => "reason",
            By::Vm => "vm",
            By::Vcpu => "vcpu",
            By::Port => "port",
            By::Gpa => "gpa",
            By::Msr => "msr",
            By::Hypercall => "hypercall",
        }
    }

    /// Whether rows are per address (`data`) rather than per reason.
    pub fn is_per_address(self) -> bool {
        matches!(self, By::Port | By::Gpa | By::Msr | By::Hypercall)
    }

    /// The exit reasons whose `data` this grouping breaks down.
    fn reasons(self) -> &'static [ExitReason] {
        match self {
            By::Port => &[ExitReason::IoRead, ExitReason::IoWrite],
            By::Gpa => &[
                ExitReason::MmioRead,
                ExitReason::MmioWrite,
                ExitReason::NestedPageFault,
            ],
            By::Msr => &[ExitReason::SysRegRead, ExitReason::SysRegWrite],
            By::Hypercall => &[ExitReason::Hypercall],
            By::Reason | By::Vm | By::Vcpu => &[],
        }
    }
}

/// A named range of guest-physical addresses (a device's MMIO window).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// The name rows are grouped under.
    pub name: String,
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
}

impl Window {
    /// Parses `NAME=START-END` (hex with `0x`, or decimal; END exclusive).
    pub fn parse(spec: &str) -> Result<Self, String> {
        let expected =
            || format!("`{spec}`: expected NAME=START-END, e.g. uart=0x9000000-0x9001000");
        let (name, range) = spec.split_once('=').ok_or_else(expected)?;
        let (start, end) = range.split_once('-').ok_or_else(expected)?;
        let number = |text: &str| {
            let text = text.trim();
            match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => text.parse(),
            }
            .map_err(|_| format!("`{spec}`: `{text}` is not an address"))
        };
        let (start, end) = (number(start)?, number(end)?);
        if name.trim().is_empty() || end <= start {
            return Err(format!(
                "`{spec}`: the name must not be empty and END must exceed START"
            ));
        }
        Ok(Window {
            name: name.trim().to_string(),
            start,
            end,
        })
    }
}

/// What to collect.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Row grouping; per-address groupings also collect per-address histograms.
    pub by: By,
    /// Only this VM.
    pub vm: Option<u16>,
    /// Only this vCPU (of every VM, or of `vm`).
    pub vcpu: Option<u16>,
    /// Device windows for `--by gpa`.
    pub windows: Vec<Window>,
    /// Interval length for the interval log (`--log`), ns; `None` collects no intervals.
    pub log_interval_ns: Option<u64>,
}

/// Distinct addresses kept per report; exits at further addresses are folded into one
/// "(other addresses)" row per reason, and the report says so.
pub const MAX_ADDRESSES: usize = 4096;

/// Latencies of one (VM, vCPU, exit reason).
#[derive(Debug, Clone)]
pub struct Cell {
    /// VM id.
    pub vm: u16,
    /// vCPU id.
    pub vcpu: u16,
    /// Exit reason code.
    pub reason: u32,
    /// Its latencies.
    pub latencies: Latencies,
}

/// Records and losses of one ring (one vCPU).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RingLoss {
    /// Ring index.
    pub ring: u16,
    /// VM id (from the dump's metadata; `None` if the metadata does not list the ring).
    pub vm: Option<u16>,
    /// vCPU id.
    pub vcpu: Option<u16>,
    /// Records read from the ring's chunks.
    pub records: u64,
    /// Records the ring dropped.
    pub lost: u64,
    /// The fullest the drain found the ring, per mille of its capacity (`None`: the dump does
    /// not say, e.g. a version-1 dump).
    pub peak_fill_per_mille: Option<u16>,
}

/// An address-keyed cell (per-address groupings).
#[derive(Debug, Clone)]
pub struct AddressCell {
    /// Exit reason code.
    pub reason: u32,
    /// The address (`None`: the "(other addresses)" overflow).
    pub address: Option<u64>,
    /// Its latencies.
    pub latencies: Latencies,
}

/// One closed interval of one (VM, vCPU, reason), for the interval log. Kept as the V2+DEFLATE
/// bytes the log holds (tens to hundreds of bytes), not as a histogram (kilobytes), so a long
/// run's intervals fit in memory.
#[derive(Debug, Clone)]
pub struct Interval {
    /// Index into [`Report::cells`].
    pub cell: usize,
    /// Start, ns on the dump's clock.
    pub start_ns: u64,
    /// The interval's histogram, V2+DEFLATE serialized.
    pub encoded: Vec<u8>,
}

impl Interval {
    fn close(cell: usize, start_ns: u64, latencies: &Latencies) -> Self {
        use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
        let mut encoded = Vec::new();
        // Serializing into memory fails only for counts that do not fit the format (> i64).
        if V2DeflateSerializer::new()
            .serialize(latencies.histogram(), &mut encoded)
            .is_err()
        {
            encoded.clear();
        }
        Self {
            cell,
            start_ns,
            encoded,
        }
    }

    /// The interval's histogram, deserialized.
    pub fn histogram(&self) -> Option<hdrhistogram::Histogram<u64>> {
        hdrhistogram::serialization::Deserializer::new()
            .deserialize(&mut self.encoded.as_slice())
            .ok()
    }
}

/// Per-vCPU cell index: codes 0..=16 directly, others in a map.
#[derive(Debug)]
struct VcpuSlots {
    known: [u32; 17],
    other: HashMap<u32, usize>,
}

const NO_CELL: u32 = u32::MAX;

/// Builds a [`Report`] from chunks, one at a time.
pub struct Collector {
    options: Options,
    metadata: DumpMetadata,
    cells: Vec<Cell>,
    vcpu_slots: Vec<VcpuSlots>,
    vcpu_index: HashMap<(u16, u16), usize>,
    /// The last vCPU looked up: a chunk holds one vCPU's records, so this nearly always hits.
    last_vcpu: Option<((u16, u16), usize)>,
    addresses: HashMap<(u32, u64), usize>,
    address_cells: Vec<AddressCell>,
    overflow: BTreeMap<u32, usize>,
    rings: BTreeMap<u16, RingLoss>,
    open_intervals: Vec<Option<(u64, Latencies)>>,
    closed_intervals: Vec<Interval>,
    records: u64,
    other_events: u64,
    filtered_out: u64,
    first_ns: u64,
    last_ns: u64,
}

impl Collector {
    /// A collector for a dump with this metadata.
    pub fn new(metadata: DumpMetadata, options: Options) -> Self {
        let mut rings = BTreeMap::new();
        for &(ring, vm, vcpu) in &metadata.vcpus {
            rings.insert(
                ring,
                RingLoss {
                    ring,
                    vm: Some(vm),
                    vcpu: Some(vcpu),
                    ..RingLoss::default()
                },
            );
        }
        Self {
            options,
            metadata,
            cells: Vec::new(),
            vcpu_slots: Vec::new(),
            vcpu_index: HashMap::new(),
            last_vcpu: None,
            addresses: HashMap::new(),
            address_cells: Vec::new(),
            overflow: BTreeMap::new(),
            rings,
            open_intervals: Vec::new(),
            closed_intervals: Vec::new(),
            records: 0,
            other_events: 0,
            filtered_out: 0,
            first_ns: u64::MAX,
            last_ns: 0,
        }
    }

    fn ring_selected(&self, loss: &RingLoss) -> bool {
        self.options.vm.is_none_or(|vm| loss.vm == Some(vm))
            && self.options.vcpu.is_none_or(|vcpu| loss.vcpu == Some(vcpu))
    }

    /// Adds one chunk of one ring: its records and its drop count.
    pub fn add_chunk(&mut self, ring: u16, records: &[Record], dropped: u64) {
        let loss = self.rings.entry(ring).or_insert(RingLoss {
            ring,
            ..RingLoss::default()
        });
        loss.records += records.len() as u64;
        loss.lost += dropped;
        self.add_records(records);
    }

    /// Notes that the drain found ring `ring` `per_mille` full when it took a chunk.
    pub fn note_ring_fill(&mut self, ring: u16, per_mille: u16) {
        let loss = self.rings.entry(ring).or_insert(RingLoss {
            ring,
            ..RingLoss::default()
        });
        loss.peak_fill_per_mille = Some(
            loss.peak_fill_per_mille
                .map_or(per_mille, |p| p.max(per_mille)),
        );
    }

    /// Adds records (any vCPUs, any order).
    pub fn add_records(&mut self, records: &[Record]) {
        let per_address = self.options.by.is_per_address();
        for record in records {
            if record.event != event::VM_EXIT {
                self.other_events += 1;
                continue;
            }
            if self.options.vm.is_some_and(|vm| vm != record.vm)
                || self.options.vcpu.is_some_and(|vcpu| vcpu != record.vcpu)
            {
                self.filtered_out += 1;
                continue;
            }
            self.records += 1;
            self.first_ns = self.first_ns.min(record.timestamp_ns);
            self.last_ns = self.last_ns.max(record.timestamp_ns);
            let latency = u64::from(record.aux);
            let cell = self.cell_index(record.vm, record.vcpu, record.code);
            self.cells[cell].latencies.record(latency);
            if let Some(interval_ns) = self.options.log_interval_ns {
                self.record_interval(cell, record.timestamp_ns, latency, interval_ns);
            }
            if per_address
                && self
                    .options
                    .by
                    .reasons()
                    .iter()
                    .any(|r| r.code() == record.code)
            {
                self.record_address(record.code, record.data, latency);
            }
        }
    }

    #[inline]
    fn cell_index(&mut self, vm: u16, vcpu: u16, code: u32) -> usize {
        let slot = match self.last_vcpu {
            Some((key, slot)) if key == (vm, vcpu) => slot,
            _ => {
                let next = self.vcpu_slots.len();
                let slot = *self.vcpu_index.entry((vm, vcpu)).or_insert(next);
                if slot == next {
                    self.vcpu_slots.push(VcpuSlots {
                        known: [NO_CELL; 17],
                        other: HashMap::new(),
                    });
                }
                self.last_vcpu = Some(((vm, vcpu), slot));
                slot
            }
        };
        let slots = &mut self.vcpu_slots[slot];
        let existing = match slots.known.get(code as usize) {
            Some(&index) if index != NO_CELL => Some(index as usize),
            Some(_) => None,
            None => slots.other.get(&code).copied(),
        };
        if let Some(index) = existing {
            return index;
        }
        let index = self.cells.len();
        if (code as usize) < slots.known.len() {
            slots.known[code as usize] = index as u32;
        } else {
            slots.other.insert(code, index);
        }
        self.cells.push(Cell {
            vm,
            vcpu,
            reason: code,
            latencies: Latencies::new(),
        });
        index
    }

    fn record_interval(&mut self, cell: usize, timestamp_ns: u64, latency: u64, interval_ns: u64) {
        if self.open_intervals.len() <= cell {
            self.open_intervals.resize_with(cell + 1, || None);
        }
        let start = timestamp_ns - timestamp_ns % interval_ns;
        let slot = &mut self.open_intervals[cell];
        // A vCPU's records come in time order; one that is earlier than its open interval
        // (which a damaged dump could hold) is counted in the open interval.
        if let Some((open_start, latencies)) = slot.as_mut()
            && start > *open_start
        {
            let closed = Interval::close(cell, *open_start, latencies);
            *latencies = Latencies::new();
            *open_start = start;
            self.closed_intervals.push(closed);
        }
        slot.get_or_insert_with(|| (start, Latencies::new()))
            .1
            .record(latency);
    }

    fn record_address(&mut self, code: u32, address: u64, latency: u64) {
        let index = match self.addresses.get(&(code, address)) {
            Some(&index) => index,
            None if self.addresses.len() < MAX_ADDRESSES => {
                let index = self.address_cells.len();
                self.address_cells.push(AddressCell {
                    reason: code,
                    address: Some(address),
                    latencies: Latencies::new(),
                });
                self.addresses.insert((code, address), index);
                index
            }
            None => *self.overflow.entry(code).or_insert_with(|| {
                self.address_cells.push(AddressCell {
                    reason: code,
                    address: None,
                    latencies: Latencies::new(),
                });
                self.address_cells.len() - 1
            }),
        };
        self.address_cells[index].latencies.record(latency);
    }

    /// The report; `stop` is where and why the dump's reading stopped early, if it did.
    pub fn finish(mut self, stop: Option<Stop>) -> Report {
        for (cell, open) in std::mem::take(&mut self.open_intervals)
            .into_iter()
            .enumerate()
        {
            if let Some((start_ns, latencies)) = open {
                self.closed_intervals
                    .push(Interval::close(cell, start_ns, &latencies));
            }
        }
        self.closed_intervals
            .sort_by_key(|interval| (interval.start_ns, interval.cell));
        let selected: Vec<RingLoss> = self
            .rings
            .values()
            .filter(|loss| self.ring_selected(loss))
            .copied()
            .collect();
        Report {
            metadata: self.metadata,
            options: self.options,
            stop,
            records: self.records,
            other_events: self.other_events,
            filtered_out: self.filtered_out,
            first_ns: (self.records > 0).then_some(self.first_ns),
            last_ns: (self.records > 0).then_some(self.last_ns),
            cells: self.cells,
            address_cells: self.address_cells,
            addresses_overflowed: !self.overflow.is_empty(),
            rings: selected,
            intervals: self.closed_intervals,
        }
    }
}

/// Everything `axtrace-report` shows, collected from one dump.
#[derive(Debug, Clone)]
pub struct Report {
    /// The dump's metadata.
    pub metadata: DumpMetadata,
    /// What was collected.
    pub options: Options,
    /// Where and why reading stopped early (a cut or damaged dump), if it did.
    pub stop: Option<Stop>,
    /// VM_EXIT records counted (after the VM/vCPU filters).
    pub records: u64,
    /// Records of other events (skipped).
    pub other_events: u64,
    /// VM_EXIT records the VM/vCPU filters left out.
    pub filtered_out: u64,
    /// Earliest exit timestamp, ns.
    pub first_ns: Option<u64>,
    /// Latest exit timestamp, ns.
    pub last_ns: Option<u64>,
    /// Per (VM, vCPU, reason).
    pub cells: Vec<Cell>,
    /// Per (reason, address), for per-address groupings.
    pub address_cells: Vec<AddressCell>,
    /// Whether more than [`MAX_ADDRESSES`] addresses were seen.
    pub addresses_overflowed: bool,
    /// Records and losses per ring, for the selected vCPUs.
    pub rings: Vec<RingLoss>,
    /// Interval histograms (when `log_interval_ns` was set), by start time.
    pub intervals: Vec<Interval>,
}

/// Why a dump could not be reported on at all.
pub type OpenError = crate::dump::OpenError;

/// Reads a whole dump and collects its report; a cut or damaged dump is reported up to its last
/// whole chunk, with [`Report::stop`] saying where it stopped.
pub fn collect<R: Read>(input: R, options: Options) -> Result<Report, OpenError> {
    let mut reader = DumpReader::open(input)?;
    let mut collector = Collector::new(reader.metadata().clone(), options);
    while let Some(chunk) = reader.next_chunk() {
        collector.add_chunk(chunk.ring, &chunk.records, chunk.dropped);
        if let Some(fill) = chunk.ring_fill_per_mille {
            collector.note_ring_fill(chunk.ring, fill);
        }
    }
    Ok(collector.finish(reader.stop().cloned()))
}

/// What a row is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum RowKey {
    /// An exit reason (code).
    Reason(u32),
    /// A VM and reason.
    VmReason(u16, u32),
    /// A vCPU and reason.
    VcpuReason(u16, u16, u32),
    /// An address and reason (`None`: other addresses).
    Address(u32, Option<u64>),
}

/// One table row.
#[derive(Debug, Clone)]
pub struct Row {
    /// What the row is keyed by.
    pub key: RowKey,
    /// The group it is shown under ("" when rows are not grouped): `VM 1`, `vCPU 1.0`, a
    /// device window's name.
    pub group: String,
    /// The row's label: a reason name, `0x3f8 in`, `0x10000040 MmioWrite` …
    pub label: String,
    /// Its latencies.
    pub latencies: Latencies,
}

/// A column rows can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortColumn {
    /// The row label, ascending.
    Name,
    /// Samples (the default), descending.
    Samples,
    /// Total time, descending.
    Time,
    /// Minimum, descending.
    Min,
    /// Median.
    P50,
    /// 90th percentile.
    P90,
    /// 99th percentile.
    P99,
    /// 99.9th percentile.
    P999,
    /// Maximum.
    Max,
    /// Mean.
    Mean,
    /// Standard deviation.
    Stddev,
}

impl SortColumn {
    /// Every column with its command-line names.
    pub const ALL: [(SortColumn, &'static [&'static str]); 11] = [
        (SortColumn::Name, &["name", "reason", "key"]),
        (SortColumn::Samples, &["samples", "samples%", "count"]),
        (SortColumn::Time, &["time", "time%"]),
        (SortColumn::Min, &["min"]),
        (SortColumn::P50, &["p50", "median"]),
        (SortColumn::P90, &["p90"]),
        (SortColumn::P99, &["p99"]),
        (SortColumn::P999, &["p99.9", "p999"]),
        (SortColumn::Max, &["max"]),
        (SortColumn::Mean, &["mean"]),
        (SortColumn::Stddev, &["stddev"]),
    ];

    /// Parses a column name.
    pub fn parse(name: &str) -> Result<Self, String> {
        let lower = name.to_ascii_lowercase();
        SortColumn::ALL
            .iter()
            .find(|(_, names)| names.contains(&lower.as_str()))
            .map(|(column, _)| *column)
            .ok_or_else(|| {
                format!(
                    "unknown column `{name}` for --sort (name, samples, time, min, p50, p90, \
                     p99, p99.9, max, mean, stddev)"
                )
            })
    }
}

fn sort_value(latencies: &Latencies, column: SortColumn) -> f64 {
    match column {
        SortColumn::Name => 0.0,
        SortColumn::Samples => latencies.count() as f64,
        SortColumn::Time => latencies.sum_ns() as f64,
        SortColumn::Min => latencies.min_ns() as f64,
        SortColumn::P50 => latencies.quantile_ns(0.5) as f64,
        SortColumn::P90 => latencies.quantile_ns(0.9) as f64,
        SortColumn::P99 => latencies.quantile_ns(0.99) as f64,
        SortColumn::P999 => latencies.quantile_ns(0.999) as f64,
        SortColumn::Max => latencies.max_ns() as f64,
        SortColumn::Mean => latencies.mean_ns(),
        SortColumn::Stddev => latencies.stddev_ns(),
    }
}

impl Report {
    /// The name of reason `code`, as the dump's metadata names it.
    pub fn reason_name(&self, code: u32) -> String {
        match self.metadata.reasons.iter().find(|(c, _)| *c == code) {
            Some((_, name)) => name.clone(),
            None => format!("Other ({code})"),
        }
    }

    /// Records the rings dropped (selected vCPUs).
    pub fn lost(&self) -> u64 {
        self.rings.iter().map(|r| r.lost).sum()
    }

    /// The window holding `address`, by name.
    pub fn window_of(&self, address: u64) -> Option<&Window> {
        self.options
            .windows
            .iter()
            .find(|w| (w.start..w.end).contains(&address))
    }

    /// All exits of one reason merged (every VM and vCPU selected).
    pub fn by_reason(&self) -> BTreeMap<u32, Latencies> {
        let mut merged: BTreeMap<u32, Latencies> = BTreeMap::new();
        for cell in &self.cells {
            merged
                .entry(cell.reason)
                .or_default()
                .merge(&cell.latencies);
        }
        merged
    }

    /// The table rows for `by`, sorted by `sort` within each group (groups in key order).
    pub fn rows(&self, by: By, sort: SortColumn) -> Vec<Row> {
        let mut merged: BTreeMap<RowKey, Latencies> = BTreeMap::new();
        match by {
            By::Reason => {
                for (code, latencies) in self.by_reason() {
                    merged.insert(RowKey::Reason(code), latencies);
                }
            }
            By::Vm | By::Vcpu => {
                for cell in &self.cells {
                    let key = if by == By::Vm {
                        RowKey::VmReason(cell.vm, cell.reason)
                    } else {
                        RowKey::VcpuReason(cell.vm, cell.vcpu, cell.reason)
                    };
                    merged.entry(key).or_default().merge(&cell.latencies);
                }
            }
            By::Port | By::Gpa | By::Msr | By::Hypercall => {
                for cell in &self.address_cells {
                    merged
                        .entry(RowKey::Address(cell.reason, cell.address))
                        .or_default()
                        .merge(&cell.latencies);
                }
            }
        }
        let mut rows: Vec<Row> = merged
            .into_iter()
            .map(|(key, latencies)| {
                let (group, label) = self.describe(by, &key);
                Row {
                    key,
                    group,
                    label,
                    latencies,
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            let group = group_order(by, a, self).cmp(&group_order(by, b, self));
            group.then_with(|| match sort {
                SortColumn::Name => a.key.cmp(&b.key),
                column => sort_value(&b.latencies, column)
                    .total_cmp(&sort_value(&a.latencies, column))
                    .then_with(|| a.key.cmp(&b.key)),
            })
        });
        rows
    }

    fn describe(&self, by: By, key: &RowKey) -> (String, String) {
        match *key {
            RowKey::Reason(code) => (String::new(), self.reason_name(code)),
            RowKey::VmReason(vm, code) => (format!("VM {vm}"), self.reason_name(code)),
            RowKey::VcpuReason(vm, vcpu, code) => {
                (format!("vCPU {vm}.{vcpu}"), self.reason_name(code))
            }
            RowKey::Address(code, None) => (
                "(other addresses)".into(),
                format!("(other addresses) {}", self.reason_name(code)),
            ),
            RowKey::Address(code, Some(address)) => {
                let reason = ExitReason::from_code(code);
                match by {
                    By::Port | By::Msr => {
                        let direction = match reason {
                            ExitReason::IoRead => "in",
                            ExitReason::IoWrite => "out",
                            ExitReason::SysRegRead => "read",
                            ExitReason::SysRegWrite => "write",
                            _ => "?",
                        };
                        (String::new(), format!("{address:#x} {direction}"))
                    }
                    By::Gpa => (
                        self.window_of(address)
                            .map_or_else(|| "(no window)".to_string(), |w| w.name.clone()),
                        format!("{address:#x} {}", self.reason_name(code)),
                    ),
                    _ => (String::new(), format!("{address:#x}")),
                }
            }
        }
    }
}

/// Groups sort by key: VMs and vCPUs by id, windows in the order given, "(no window)" and
/// "(other addresses)" last.
fn group_order(by: By, row: &Row, report: &Report) -> (usize, u64, u64) {
    match (&row.key, by) {
        (RowKey::VmReason(vm, _), _) => (0, u64::from(*vm), 0),
        (RowKey::VcpuReason(vm, vcpu, _), _) => (0, u64::from(*vm), u64::from(*vcpu)),
        (RowKey::Address(_, Some(address)), By::Gpa) => {
            match report
                .options
                .windows
                .iter()
                .position(|w| (w.start..w.end).contains(address))
            {
                Some(position) => (0, position as u64, 0),
                None => (1, 0, 0),
            }
        }
        (RowKey::Address(_, None), _) => (2, 0, 0),
        _ => (0, 0, 0),
    }
}
