//! The dump: one append-only file of checksummed chunks, written by the drain (no_std) and read
//! by the host tools (`axtrace-exporter`).
//!
//! ```text
//! file   = header chunk*
//! header = "AXTRACE\0" (8) | version u16 | header length u16 | reserved u32      (16 bytes)
//! chunk  = chunk header (48 bytes) | payload
//! chunk header = "AXCK" | kind u16 | ring u16 | payload length u32 | record count u32
//!              | first timestamp u64 | last timestamp u64 | dropped u64 | crc32c u32
//!              | ring fill u16 | 0 u16
//! ```
//!
//! Everything is little-endian (records are copied as they are in memory: every target AxVisor
//! runs on is little-endian). The first chunk is the metadata (kind 1: UTF-8 lines, see
//! [`Metadata`]); then record chunks (kind 2: `record count` 32-byte [`Record`]s of one ring,
//! with the records that ring dropped since its previous chunk). The CRC-32C covers the chunk
//! header (with the CRC field zero) and the payload. Because chunks are only ever appended, a
//! dump cut at any byte is readable up to its last whole chunk.
//!
//! `ring fill` (version 2) is how full the ring was, in per mille of its capacity, when the
//! drain took the chunk's records ([`FILL_UNKNOWN`] when the writer did not sample it); in
//! version 1 those bytes were zero and mean "not recorded". Readers accept every version up to
//! [`VERSION`].

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use crate::exit_reason::ExitReason;
use crate::record::{RECORD_SIZE, Record, event};

/// File magic.
pub const MAGIC: [u8; 8] = *b"AXTRACE\0";
/// Format version this code writes (and the newest it reads). 2 added the chunk's ring fill.
pub const VERSION: u16 = 2;
/// [`ChunkHeader::ring_fill`] when the writer did not sample the ring's fill level.
pub const FILL_UNKNOWN: u16 = u16::MAX;
/// Size of the file header.
pub const HEADER_LEN: usize = 16;
/// Chunk magic.
pub const CHUNK_MAGIC: [u8; 4] = *b"AXCK";
/// Size of a chunk header.
pub const CHUNK_HEADER_LEN: usize = 48;
/// Chunk kind: metadata.
pub const KIND_METADATA: u16 = 1;
/// Chunk kind: records of one ring.
pub const KIND_RECORDS: u16 = 2;

/// Slice-by-16 tables (16 KiB): ~4x the bytewise table's speed; the drain checksums every record.
const CRC: crc::Crc<u32, crc::Table<16>> = crc::Crc::<u32, crc::Table<16>>::new(&crc::CRC_32_ISCSI);

/// What the dump says about itself: which events and reasons it holds, which vCPUs, which
/// clock, which host and program. Written as `key value…` lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// `(ring, vm, vcpu)`: which vCPU each ring belongs to.
    pub vcpus: Vec<(u16, u16, u16)>,
    /// The clock the timestamps come from (`tsc`, `clock_monotonic`, `synthetic` …).
    pub clock: String,
    /// Where the dump was recorded (`hostname, backend`).
    pub host: String,
    /// The eBPF programs that produced the records.
    pub programs: Vec<String>,
}

impl Metadata {
    /// The metadata chunk's payload: the event and exit-reason tables (so old dumps stay
    /// readable when the tables grow) and the fields above.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(
            text,
            "event {} vm_exit code=exit_reason aux=latency_ns data=addr timestamp=exit",
            event::VM_EXIT
        );
        for reason in ExitReason::ALL {
            let _ = writeln!(text, "reason {} {}", reason.code(), reason.name());
        }
        for (ring, vm, vcpu) in &self.vcpus {
            let _ = writeln!(text, "vcpu {ring} {vm} {vcpu}");
        }
        let _ = writeln!(text, "clock {}", self.clock);
        let _ = writeln!(text, "host {}", self.host);
        for program in &self.programs {
            let _ = writeln!(text, "program {program}");
        }
        text
    }
}

/// Where the dump goes (a file on the host, a memory region in AxVisor).
pub trait Sink {
    /// Appends `bytes` whole, or fails.
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), DumpError>;
}

impl Sink for Vec<u8> {
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), DumpError> {
        self.extend_from_slice(bytes);
        Ok(())
    }
}

/// Why writing failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DumpError {
    /// The sink refused the bytes.
    #[error("writing the dump failed: {0}")]
    Sink(String),
    /// A chunk would be larger than the format allows.
    #[error("{0} records do not fit one chunk")]
    TooManyRecords(usize),
}

/// The chunk header fields, as written and read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkHeader {
    /// [`KIND_METADATA`] or [`KIND_RECORDS`].
    pub kind: u16,
    /// The ring (vCPU slot) the records come from.
    pub ring: u16,
    /// Payload bytes that follow.
    pub payload_len: u32,
    /// Records in the payload.
    pub record_count: u32,
    /// Timestamp of the first record.
    pub first_ts: u64,
    /// Timestamp of the last record.
    pub last_ts: u64,
    /// Records the ring dropped since its previous chunk.
    pub dropped: u64,
    /// CRC-32C of the header (this field zero) and the payload.
    pub crc: u32,
    /// The ring's fill level when the drain took these records, per mille of its capacity
    /// ([`FILL_UNKNOWN`] if not sampled; always 0 in version-1 dumps).
    pub ring_fill: u16,
}

impl ChunkHeader {
    /// The 48 header bytes.
    pub fn to_bytes(&self) -> [u8; CHUNK_HEADER_LEN] {
        let mut out = [0u8; CHUNK_HEADER_LEN];
        out[0..4].copy_from_slice(&CHUNK_MAGIC);
        out[4..6].copy_from_slice(&self.kind.to_le_bytes());
        out[6..8].copy_from_slice(&self.ring.to_le_bytes());
        out[8..12].copy_from_slice(&self.payload_len.to_le_bytes());
        out[12..16].copy_from_slice(&self.record_count.to_le_bytes());
        out[16..24].copy_from_slice(&self.first_ts.to_le_bytes());
        out[24..32].copy_from_slice(&self.last_ts.to_le_bytes());
        out[32..40].copy_from_slice(&self.dropped.to_le_bytes());
        out[40..44].copy_from_slice(&self.crc.to_le_bytes());
        out[44..46].copy_from_slice(&self.ring_fill.to_le_bytes());
        out
    }

    /// Parses 48 header bytes; `None` if the magic is wrong.
    pub fn from_bytes(bytes: &[u8; CHUNK_HEADER_LEN]) -> Option<Self> {
        let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
        let u32_at =
            |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[i..i + 8]);
            u64::from_le_bytes(b)
        };
        (bytes[0..4] == CHUNK_MAGIC).then(|| Self {
            kind: u16_at(4),
            ring: u16_at(6),
            payload_len: u32_at(8),
            record_count: u32_at(12),
            first_ts: u64_at(16),
            last_ts: u64_at(24),
            dropped: u64_at(32),
            crc: u32_at(40),
            ring_fill: u16_at(44),
        })
    }

    /// The CRC this header (its CRC field taken as zero) and `payload` should carry.
    pub fn checksum(&self, payload: &[u8]) -> u32 {
        let header = Self { crc: 0, ..*self }.to_bytes();
        let mut digest = CRC.digest();
        digest.update(&header);
        digest.update(payload);
        digest.finalize()
    }
}

/// The 16-byte file header.
pub fn file_header() -> [u8; HEADER_LEN] {
    let mut out = [0u8; HEADER_LEN];
    out[0..8].copy_from_slice(&MAGIC);
    out[8..10].copy_from_slice(&VERSION.to_le_bytes());
    out[10..12].copy_from_slice(&(HEADER_LEN as u16).to_le_bytes());
    out
}

/// Appends chunks to a [`Sink`].
pub struct DumpWriter<S: Sink> {
    sink: S,
    records_written: u64,
    bytes_written: u64,
}

impl<S: Sink> DumpWriter<S> {
    /// Writes the file header and the metadata chunk.
    pub fn new(mut sink: S, metadata: &Metadata) -> Result<Self, DumpError> {
        sink.write_all(&file_header())?;
        let mut writer = Self {
            sink,
            records_written: 0,
            bytes_written: HEADER_LEN as u64,
        };
        let payload = metadata.encode();
        writer.chunk(
            KIND_METADATA,
            0,
            payload.as_bytes(),
            0,
            (0, 0),
            (0, FILL_UNKNOWN),
        )?;
        Ok(writer)
    }

    fn chunk(
        &mut self,
        kind: u16,
        ring: u16,
        payload: &[u8],
        record_count: u32,
        (first_ts, last_ts): (u64, u64),
        (dropped, ring_fill): (u64, u16),
    ) -> Result<(), DumpError> {
        let mut header = ChunkHeader {
            kind,
            ring,
            payload_len: u32::try_from(payload.len())
                .map_err(|_| DumpError::TooManyRecords(record_count as usize))?,
            record_count,
            first_ts,
            last_ts,
            dropped,
            crc: 0,
            ring_fill,
        };
        header.crc = header.checksum(payload);
        self.sink.write_all(&header.to_bytes())?;
        self.sink.write_all(payload)?;
        self.bytes_written += (CHUNK_HEADER_LEN + payload.len()) as u64;
        Ok(())
    }

    /// Appends one chunk with `records` of `ring` and the records it dropped since its previous
    /// chunk, without a fill sample. An empty `records` with drops still writes a chunk, so
    /// losses are never silent.
    pub fn write_records(
        &mut self,
        ring: u16,
        records: &[Record],
        dropped: u64,
    ) -> Result<(), DumpError> {
        self.write_records_sampled(ring, records, dropped, FILL_UNKNOWN)
    }

    /// [`write_records`](Self::write_records) with the ring's fill level when the records were
    /// taken, in per mille of its capacity (clamped to 1000).
    pub fn write_records_sampled(
        &mut self,
        ring: u16,
        records: &[Record],
        dropped: u64,
        fill_per_mille: u16,
    ) -> Result<(), DumpError> {
        if records.is_empty() && dropped == 0 {
            return Ok(());
        }
        let count =
            u32::try_from(records.len()).map_err(|_| DumpError::TooManyRecords(records.len()))?;
        if records.len() > (u32::MAX as usize) / RECORD_SIZE {
            return Err(DumpError::TooManyRecords(records.len()));
        }
        let span = (
            records.first().map_or(0, |r| r.timestamp_ns),
            records.last().map_or(0, |r| r.timestamp_ns),
        );
        let fill = if fill_per_mille == FILL_UNKNOWN {
            FILL_UNKNOWN
        } else {
            fill_per_mille.min(1000)
        };
        self.chunk(
            KIND_RECORDS,
            ring,
            bytemuck::cast_slice(records),
            count,
            span,
            (dropped, fill),
        )?;
        self.records_written += records.len() as u64;
        Ok(())
    }

    /// Records written so far.
    pub fn records_written(&self) -> u64 {
        self.records_written
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    /// The sink.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// The sink back.
    pub fn into_sink(self) -> S {
        self.sink
    }
}
