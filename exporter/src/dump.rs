//! Reads a dump written by `axebpf_core::dump::DumpWriter`, chunk by chunk, from any
//! `std::io::Read` — memory does not grow with the dump.
//!
//! A dump cut or damaged anywhere reads up to its last whole, intact chunk; [`DumpReader::stop`]
//! then says at which byte offset and why the reading stopped.

use std::io::Read;

use axebpf_core::dump::{
    CHUNK_HEADER_LEN, ChunkHeader, FILL_UNKNOWN, HEADER_LEN, KIND_METADATA, KIND_RECORDS, MAGIC,
    VERSION,
};
use axebpf_core::record::{RECORD_SIZE, Record};

/// Why a dump cannot be opened at all.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Reading failed.
    #[error("reading the dump: {0}")]
    Io(#[from] std::io::Error),
    /// Not an axtrace dump.
    #[error("not an axtrace dump (no `AXTRACE` magic at offset 0)")]
    NotADump,
    /// Written by a newer axtrace.
    #[error(
        "dump format version {0} is newer than this axtrace reads ({VERSION}) (the version field \
         at byte 8); use a newer axtrace"
    )]
    NewerVersion(u16),
    /// The header or metadata chunk is cut or damaged.
    #[error("the dump's header or metadata is damaged at byte {offset}: {reason}")]
    Damaged {
        /// Where.
        offset: u64,
        /// What.
        reason: StopReason,
    },
}

/// Why reading stopped before the end of the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StopReason {
    /// The input ended inside a chunk.
    #[error("the dump ends inside a chunk ({missing} more bytes were expected)")]
    Truncated {
        /// Bytes missing.
        missing: u64,
    },
    /// No chunk magic where a chunk should start.
    #[error("expected a chunk header starting with `AXCK` here (bad magic)")]
    BadMagic,
    /// The checksum does not match.
    #[error("the chunk's checksum does not match its contents")]
    BadChecksum,
    /// The header's lengths disagree.
    #[error("the chunk's record count and payload length disagree")]
    BadLength,
    /// A chunk of a kind this version does not know.
    #[error("unknown chunk kind {0}")]
    UnknownKind(u16),
    /// Reading failed.
    #[error("read error: {0}")]
    Io(String),
}

/// Where and why reading stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    /// Byte offset of the chunk that could not be read.
    pub offset: u64,
    /// Why.
    pub reason: StopReason,
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stopped at byte {}: {}", self.offset, self.reason)
    }
}

/// The dump's metadata, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DumpMetadata {
    /// `(code, name)` of every exit reason the writer knew.
    pub reasons: Vec<(u32, String)>,
    /// `(ring, vm, vcpu)`.
    pub vcpus: Vec<(u16, u16, u16)>,
    /// The clock source.
    pub clock: String,
    /// Host description.
    pub host: String,
    /// Programs that produced the records.
    pub programs: Vec<String>,
    /// Event lines as written (`event <id> <name> <field meanings>`).
    pub events: Vec<String>,
}

impl DumpMetadata {
    fn parse(text: &str) -> Self {
        let mut meta = Self::default();
        for line in text.lines() {
            let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "event" => meta.events.push(rest.to_string()),
                "reason" => {
                    if let Some((code, name)) = rest.split_once(' ')
                        && let Ok(code) = code.parse()
                    {
                        meta.reasons.push((code, name.to_string()));
                    }
                }
                "vcpu" => {
                    let n: Vec<u16> = rest.split(' ').filter_map(|v| v.parse().ok()).collect();
                    if let [ring, vm, vcpu] = n[..] {
                        meta.vcpus.push((ring, vm, vcpu));
                    }
                }
                "clock" => meta.clock = rest.to_string(),
                "host" => meta.host = rest.to_string(),
                "program" => meta.programs.push(rest.to_string()),
                _ => {} // newer keys are skipped, not refused
            }
        }
        if meta.reasons.is_empty() {
            // A writer that listed no reasons used the core's table; name them all from it.
            meta.reasons = axebpf_core::exit_reason::ExitReason::ALL
                .iter()
                .map(|r| (r.code(), r.name().to_string()))
                .collect();
        }
        meta
    }

    /// The name of exit reason `code` as the writer named it.
    pub fn reason_name(&self, code: u32) -> &str {
        self.reasons
            .iter()
            .find(|(c, _)| *c == code)
            .map_or("Other", |(_, name)| name.as_str())
    }
}

/// One chunk of records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The ring (vCPU slot).
    pub ring: u16,
    /// Its records, in order.
    pub records: Vec<Record>,
    /// Records the ring dropped since its previous chunk.
    pub dropped: u64,
    /// How full the ring was when the drain took these records, per mille of its capacity
    /// (`None` when the writer did not sample it, and in version-1 dumps).
    pub ring_fill_per_mille: Option<u16>,
}

impl Chunk {
    /// The `(vm, vcpu)` this chunk's ring belongs to: from the metadata's vCPU table, else from
    /// its first record, else `(u16::MAX, ring)`.
    pub fn vcpu(&self, meta: &DumpMetadata) -> (u16, u16) {
        meta.vcpus
            .iter()
            .find(|(ring, _, _)| *ring == self.ring)
            .map(|&(_, vm, vcpu)| (vm, vcpu))
            .or_else(|| self.records.first().map(|r| (r.vm, r.vcpu)))
            .unwrap_or((u16::MAX, self.ring))
    }
}

/// Reads a dump chunk by chunk.
pub struct DumpReader<R: Read> {
    input: R,
    /// The dump's format version (1..=[`VERSION`]).
    version: u16,
    offset: u64,
    metadata: DumpMetadata,
    stop: Option<Stop>,
    done: bool,
}

/// Reads exactly `buf.len()` bytes, or reports how many were missing.
fn read_exact_or_missing(input: &mut impl Read, buf: &mut [u8]) -> Result<(), StopReason> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => {
                return Err(StopReason::Truncated {
                    missing: (buf.len() - filled) as u64,
                });
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(StopReason::Io(e.to_string())),
        }
    }
    Ok(())
}

impl<R: Read> DumpReader<R> {
    /// Reads the header and the metadata.
    pub fn open(mut input: R) -> Result<Self, OpenError> {
        let mut header = [0u8; HEADER_LEN];
        if let Err(reason) = read_exact_or_missing(&mut input, &mut header) {
            return Err(match reason {
                StopReason::Truncated { .. } if header[..] != [0; HEADER_LEN] => {
                    OpenError::Damaged { offset: 0, reason }
                }
                StopReason::Truncated { .. } => OpenError::NotADump,
                reason => OpenError::Damaged { offset: 0, reason },
            });
        }
        if header[0..8] != MAGIC {
            return Err(OpenError::NotADump);
        }
        let version = u16::from_le_bytes([header[8], header[9]]);
        if version > VERSION {
            return Err(OpenError::NewerVersion(version));
        }
        let mut reader = Self {
            input,
            version,
            offset: HEADER_LEN as u64,
            metadata: DumpMetadata::default(),
            stop: None,
            done: false,
        };
        match reader.read_chunk() {
            Ok(Some((header, payload))) if header.kind == KIND_METADATA => {
                reader.metadata = DumpMetadata::parse(&String::from_utf8_lossy(&payload));
                Ok(reader)
            }
            Ok(_) => Err(OpenError::Damaged {
                offset: HEADER_LEN as u64,
                reason: StopReason::UnknownKind(0),
            }),
            Err(stop) => Err(OpenError::Damaged {
                offset: stop.offset,
                reason: stop.reason,
            }),
        }
    }

    /// The dump's format version.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// The metadata.
    pub fn metadata(&self) -> &DumpMetadata {
        &self.metadata
    }

    /// Reads one whole chunk; `Ok(None)` at a clean end of input.
    fn read_chunk(&mut self) -> Result<Option<(ChunkHeader, Vec<u8>)>, Stop> {
        let at = self.offset;
        let stop = |reason| Stop { offset: at, reason };
        let mut bytes = [0u8; CHUNK_HEADER_LEN];
        // A clean end is an end exactly at a chunk boundary.
        match self.input.read(&mut bytes[..1]) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e) => return Err(stop(StopReason::Io(e.to_string()))),
        }
        read_exact_or_missing(&mut self.input, &mut bytes[1..]).map_err(stop)?;
        let header = ChunkHeader::from_bytes(&bytes).ok_or(stop(StopReason::BadMagic))?;
        if header.kind == KIND_RECORDS
            && u64::from(header.payload_len) != u64::from(header.record_count) * RECORD_SIZE as u64
        {
            return Err(stop(StopReason::BadLength));
        }
        // Grown as the bytes arrive: a damaged length must not allocate gigabytes up front.
        let len = u64::from(header.payload_len);
        let mut payload = Vec::with_capacity(len.min(1 << 20) as usize);
        match (&mut self.input).take(len).read_to_end(&mut payload) {
            Ok(read) if read as u64 == len => {}
            Ok(read) => {
                return Err(stop(StopReason::Truncated {
                    missing: len - read as u64,
                }));
            }
            Err(e) => return Err(stop(StopReason::Io(e.to_string()))),
        }
        if header.checksum(&payload) != header.crc {
            return Err(stop(StopReason::BadChecksum));
        }
        self.offset += (CHUNK_HEADER_LEN + payload.len()) as u64;
        Ok(Some((header, payload)))
    }

    /// The next chunk of records; `None` at the end or at the first unreadable chunk (see
    /// [`stop`](Self::stop)).
    pub fn next_chunk(&mut self) -> Option<Chunk> {
        while !self.done {
            match self.read_chunk() {
                Ok(None) => self.done = true,
                Ok(Some((header, payload))) => match header.kind {
                    KIND_RECORDS => {
                        let records = payload
                            .chunks_exact(RECORD_SIZE)
                            .map(bytemuck::pod_read_unaligned::<Record>)
                            .collect();
                        return Some(Chunk {
                            ring: header.ring,
                            records,
                            dropped: header.dropped,
                            ring_fill_per_mille: (self.version >= 2
                                && header.ring_fill != FILL_UNKNOWN)
                                .then_some(header.ring_fill),
                        });
                    }
                    KIND_METADATA => {} // a repeated metadata chunk is allowed and skipped
                    other => {
                        self.stop = Some(Stop {
                            offset: self.offset - (CHUNK_HEADER_LEN + payload.len()) as u64,
                            reason: StopReason::UnknownKind(other),
                        });
                        self.done = true;
                    }
                },
                Err(stop) => {
                    self.stop = Some(stop);
                    self.done = true;
                }
            }
        }
        None
    }

    /// Where and why reading stopped early; `None` if the dump ended cleanly (so far).
    pub fn stop(&self) -> Option<&Stop> {
        self.stop.as_ref()
    }

    /// Bytes consumed so far (the end of the last whole chunk).
    pub fn offset(&self) -> u64 {
        self.offset
    }
}
