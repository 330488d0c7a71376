//! Cut, damaged and future-version dumps: the reader says at which byte offset it stopped and
//! what it expected there, both writers convert exactly the whole chunks before it, and nothing
//! panics.

use axebpf_core::dump::{CHUNK_HEADER_LEN, DumpWriter, HEADER_LEN, Metadata};
use axebpf_core::exit_reason::ExitReason;
use axebpf_core::record::Record;
use axtrace_exporter::dump::{DumpReader, OpenError, StopReason};
use axtrace_exporter::{ctf, perfetto};

/// A dump of 6 chunks of 10 exits, and the byte offset where each chunk starts (the last entry:
/// the end).
fn dump() -> (Vec<u8>, Vec<u64>) {
    let metadata = Metadata {
        vcpus: vec![(0, 1, 0), (1, 1, 1)],
        clock: "synthetic".into(),
        ..Metadata::default()
    };
    let mut writer = DumpWriter::new(Vec::new(), &metadata).unwrap();
    let mut starts = vec![writer.bytes_written()];
    for chunk in 0..6u64 {
        let ring = (chunk % 2) as u16;
        let records: Vec<Record> = (0..10u64)
            .map(|k| Record {
                timestamp_ns: 1_000 + chunk * 100_000 + k * 1_000,
                event: 1,
                vm: 1,
                vcpu: ring,
                code: ExitReason::IoRead.code(),
                aux: 300,
                data: k,
                ..Record::default()
            })
            .collect();
        writer.write_records(ring, &records, chunk).unwrap();
        starts.push(writer.bytes_written());
    }
    (writer.into_sink(), starts)
}

/// Converts `bytes` both ways; returns (Perfetto exit slices, CTF events, the stop both saw).
fn convert_both(bytes: &[u8]) -> (u64, u64, Option<axtrace_exporter::dump::Stop>) {
    let reader = DumpReader::open(bytes).unwrap();
    let p = perfetto::convert(reader, std::io::sink(), perfetto::Options::default()).unwrap();
    let reader = DumpReader::open(bytes).unwrap();
    let c = ctf::convert_to(reader, |_| Ok(std::io::sink())).unwrap();
    assert_eq!(p.stop, c.stop);
    (p.slices, c.events, p.stop)
}

#[test]
fn a_dump_cut_inside_a_chunk_converts_the_chunks_before_it() {
    let (bytes, starts) = dump();
    for chunk in 0..6 {
        let start = starts[chunk] as usize;
        for cut in [
            start + 1,
            start + CHUNK_HEADER_LEN + 5,
            starts[chunk + 1] as usize - 1,
        ] {
            let (slices, events, stop) = convert_both(&bytes[..cut]);
            assert_eq!((slices, events), (chunk as u64 * 10, chunk as u64 * 10));
            let stop = stop.expect("a cut dump stops early");
            assert_eq!(stop.offset, start as u64);
            let StopReason::Truncated { missing } = stop.reason else {
                panic!("{stop}");
            };
            // Inside the header only the header's bytes are known to be missing.
            let header_end = (start + CHUNK_HEADER_LEN) as u64;
            let expected_end = if (cut as u64) < header_end {
                header_end
            } else {
                starts[chunk + 1]
            };
            assert_eq!(missing, expected_end - cut as u64);
            let text = stop.to_string();
            assert!(text.contains(&format!("byte {start}")), "{text}");
            assert!(text.contains("more bytes were expected"), "{text}");
        }
    }
    // Cut exactly at a chunk boundary: a clean, shorter dump.
    let (slices, _, stop) = convert_both(&bytes[..starts[3] as usize]);
    assert_eq!((slices, stop), (30, None));
}

#[test]
fn a_damaged_chunk_stops_the_conversion_there_with_what_was_expected() {
    let (bytes, starts) = dump();
    // A flipped payload byte in chunk 2: its checksum fails.
    let mut damaged = bytes.clone();
    damaged[starts[2] as usize + CHUNK_HEADER_LEN + 7] ^= 0x40;
    let (slices, events, stop) = convert_both(&damaged);
    assert_eq!((slices, events), (20, 20));
    let stop = stop.unwrap();
    assert_eq!(
        (stop.offset, stop.reason.clone()),
        (starts[2], StopReason::BadChecksum)
    );
    assert!(stop.to_string().contains("checksum"));
    // Garbage where chunk 4 should start.
    let mut damaged = bytes.clone();
    damaged[starts[4] as usize..starts[4] as usize + 4].copy_from_slice(b"JUNK");
    let (slices, _, stop) = convert_both(&damaged);
    assert_eq!(slices, 40);
    let stop = stop.unwrap();
    assert_eq!(
        (stop.offset, stop.reason.clone()),
        (starts[4], StopReason::BadMagic)
    );
    assert!(
        stop.to_string().contains("expected a chunk header"),
        "{stop}"
    );
    // A huge payload length: refused as inconsistent, without allocating it.
    let mut damaged = bytes.clone();
    let at = starts[1] as usize + 8;
    damaged[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let (slices, _, stop) = convert_both(&damaged);
    assert_eq!(slices, 10);
    assert_eq!(stop.unwrap().reason, StopReason::BadLength);
}

#[test]
fn a_future_version_or_foreign_file_is_refused_by_name() {
    let (bytes, _) = dump();
    let mut future = bytes.clone();
    future[8..10].copy_from_slice(&9u16.to_le_bytes());
    let err = DumpReader::open(&future[..]).err().unwrap();
    assert!(matches!(err, OpenError::NewerVersion(9)));
    let text = err.to_string();
    assert!(text.contains("version 9") && text.contains("byte 8") && text.contains("newer"));

    let err = DumpReader::open(&b"PK\x03\x04 not a dump at all"[..])
        .err()
        .unwrap();
    assert!(matches!(err, OpenError::NotADump), "{err}");
    // A header cut short, and a metadata chunk cut short: damaged, with the offset.
    let err = DumpReader::open(&bytes[..HEADER_LEN - 3]).err().unwrap();
    assert!(err.to_string().contains("byte 0"), "{err}");
    let err = DumpReader::open(&bytes[..HEADER_LEN + 20]).err().unwrap();
    assert!(
        err.to_string().contains(&format!("byte {HEADER_LEN}")),
        "{err}"
    );
}
