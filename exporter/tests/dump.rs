//! The dump end to end: rings → drain → writer → reader; cut and damaged dumps; concurrency.

use std::sync::atomic::{AtomicUsize, Ordering};

use axebpf_core::drain::Drain;
use axebpf_core::dump::{CHUNK_HEADER_LEN, DumpWriter, HEADER_LEN, Metadata};
use axebpf_core::record::Record;
use axebpf_core::ring::RingSet;
use axtrace_exporter::dump::{Chunk, DumpReader, OpenError, StopReason};

fn record(ring: u16, seq: u64) -> Record {
    Record {
        timestamp_ns: 1_000 + seq,
        event: 1,
        vm: 0,
        vcpu: ring,
        pcpu: 0,
        code: (seq % 16 + 1) as u32,
        aux: seq as u32,
        data: seq,
    }
}

fn metadata(rings: u16) -> Metadata {
    Metadata {
        vcpus: (0..rings).map(|r| (r, 0, r)).collect(),
        clock: "tsc".into(),
        host: "test".into(),
        programs: vec!["exit_latency".into()],
    }
}

fn read_all(bytes: &[u8]) -> (Vec<Chunk>, Option<axtrace_exporter::dump::Stop>) {
    let mut reader = DumpReader::open(bytes).unwrap();
    let mut chunks = Vec::new();
    while let Some(chunk) = reader.next_chunk() {
        chunks.push(chunk);
    }
    (chunks, reader.stop().cloned())
}

/// A small dump: 2 rings of 8; ring 0 gets 6 records, a drain pass takes 3 (batch 3), then 12
/// more find 5 free slots (7 dropped); ring 1 gets 5. Several chunks, some after a wrap.
fn small_dump() -> Vec<u8> {
    let set = RingSet::<Record>::new(2, 8).unwrap();
    let (mut producers, consumers) = set.split().unwrap();
    let writer = DumpWriter::new(Vec::new(), &metadata(2)).unwrap();
    let mut drain = Drain::new(consumers, writer, 3);
    for seq in 0..6 {
        let _ = producers[0].push(record(0, seq));
    }
    drain.drain_once().unwrap();
    for seq in 6..18 {
        let _ = producers[0].push(record(0, seq));
    }
    for seq in 0..5 {
        let _ = producers[1].push(record(1, seq));
    }
    drain.drain_all().unwrap();
    assert_eq!(
        drain.drops_written(),
        set.stats().map(|s| s.dropped).sum::<u64>()
    );
    drain.finish().into_sink()
}

#[test]
fn a_dump_reads_back_the_same_records_and_drops() {
    let bytes = small_dump();
    let reader = DumpReader::open(&bytes[..]).unwrap();
    let meta = reader.metadata().clone();
    assert_eq!(meta.clock, "tsc");
    assert_eq!(meta.vcpus, [(0, 0, 0), (1, 0, 1)]);
    assert_eq!(meta.reason_name(2), "MmioRead");
    assert_eq!(meta.reason_name(16), "SendIPI");
    let (chunks, stop) = read_all(&bytes);
    assert_eq!(stop, None, "a whole dump ends cleanly");
    let ring0: Vec<u64> = chunks
        .iter()
        .filter(|c| c.ring == 0)
        .flat_map(|c| c.records.iter().map(|r| r.data))
        .collect();
    let ring1: Vec<u64> = chunks
        .iter()
        .filter(|c| c.ring == 1)
        .flat_map(|c| c.records.iter().map(|r| r.data))
        .collect();
    assert_eq!(ring0, (0..11).collect::<Vec<_>>());
    assert_eq!(ring1, (0..5).collect::<Vec<_>>());
    let dropped: Vec<u64> = chunks.iter().map(|c| c.dropped).collect();
    assert_eq!(dropped.iter().sum::<u64>(), 7);
    assert!(
        chunks
            .iter()
            .all(|c| c.records.iter().all(|r| r.vcpu == c.ring))
    );
    assert_eq!(chunks.iter().map(|c| c.records.len()).sum::<usize>(), 16);
    // The drain samples each ring's fill before it takes records: ring 0 held 6 of 8, then
    // was full (3 left + 5 of 12); ring 1 held 5 of 8.
    let fills = |ring: u16| -> Vec<Option<u16>> {
        chunks
            .iter()
            .filter(|c| c.ring == ring)
            .map(|c| c.ring_fill_per_mille)
            .collect()
    };
    assert_eq!(fills(0)[0], Some(750));
    assert_eq!(fills(0)[1], Some(1000));
    assert_eq!(fills(1)[0], Some(625));
}

#[test]
fn a_version_1_dump_still_reads_without_fill_levels() {
    // Recorded by `axtrace record` before the format had the chunks' ring fill.
    let bytes = include_bytes!("../../fuzz/seeds/report/small.axdump");
    assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), 1);
    let mut reader = DumpReader::open(&bytes[..]).unwrap();
    assert_eq!(reader.version(), 1);
    let mut records = 0;
    while let Some(chunk) = reader.next_chunk() {
        assert_eq!(chunk.ring_fill_per_mille, None);
        records += chunk.records.len();
    }
    assert_eq!(reader.stop(), None);
    assert_eq!(records, 60);
}

#[test]
fn a_dump_cut_at_any_byte_reads_its_whole_chunks_and_says_where_it_stopped() {
    let bytes = small_dump();
    let (all, _) = read_all(&bytes);
    // Chunk boundaries: after the header and metadata, then after each chunk.
    let reader = DumpReader::open(&bytes[..]).unwrap();
    let first_chunk = reader.offset() as usize;
    let mut boundaries = vec![first_chunk];
    for chunk in &all {
        boundaries.push(boundaries.last().unwrap() + CHUNK_HEADER_LEN + chunk.records.len() * 32);
    }
    assert_eq!(*boundaries.last().unwrap(), bytes.len());
    for cut in 0..bytes.len() {
        let prefix = &bytes[..cut];
        match DumpReader::open(prefix) {
            Err(OpenError::NotADump) => assert!(cut < HEADER_LEN, "cut {cut}"),
            Err(OpenError::Damaged { offset, reason }) => {
                assert!(cut < first_chunk, "cut {cut}: {reason}");
                assert!(offset as usize <= cut, "cut {cut}");
            }
            Err(other) => panic!("cut {cut}: {other}"),
            Ok(mut reader) => {
                assert!(cut >= first_chunk, "cut {cut}");
                let mut read = 0;
                while let Some(chunk) = reader.next_chunk() {
                    assert_eq!(chunk, all[read], "cut {cut}");
                    read += 1;
                }
                let whole = boundaries.iter().filter(|&&b| b <= cut).count() - 1;
                assert_eq!(read, whole, "cut {cut}: every whole chunk, nothing more");
                if boundaries.contains(&cut) {
                    assert_eq!(reader.stop(), None, "cut {cut} at a boundary ends cleanly");
                } else {
                    let stop = reader.stop().expect("a cut inside a chunk is reported");
                    assert_eq!(stop.offset as usize, boundaries[whole], "cut {cut}");
                    assert!(
                        matches!(stop.reason, StopReason::Truncated { .. }),
                        "cut {cut}: {stop}"
                    );
                }
            }
        }
    }
}

#[test]
fn damage_is_found_by_the_checksum_and_reading_stops_there() {
    let bytes = small_dump();
    let (all, _) = read_all(&bytes);
    let first_chunk = DumpReader::open(&bytes[..]).unwrap().offset() as usize;
    let second_chunk = first_chunk + CHUNK_HEADER_LEN + all[0].records.len() * 32;
    let mut damaged = bytes.clone();
    damaged[second_chunk + CHUNK_HEADER_LEN + 5] ^= 0x40; // a byte inside chunk 2's records
    let (chunks, stop) = read_all(&damaged);
    assert_eq!(chunks, all[..1]);
    let stop = stop.unwrap();
    assert_eq!(
        (stop.offset as usize, stop.reason.clone()),
        (second_chunk, StopReason::BadChecksum)
    );
    assert!(stop.to_string().contains(&format!("byte {second_chunk}")));

    let mut bad_magic = bytes.clone();
    bad_magic[second_chunk] = b'X';
    assert_eq!(read_all(&bad_magic).1.unwrap().reason, StopReason::BadMagic);
}

#[test]
fn other_files_and_newer_versions_are_refused_clearly() {
    assert!(matches!(
        DumpReader::open(&b"hello world, not a dump"[..]),
        Err(OpenError::NotADump)
    ));
    assert!(matches!(
        DumpReader::open(&[][..]),
        Err(OpenError::NotADump)
    ));
    let mut newer = small_dump();
    newer[8] = 9;
    let error = DumpReader::open(&newer[..]).err().unwrap();
    assert!(matches!(error, OpenError::NewerVersion(9)));
    assert!(error.to_string().contains("version 9 is newer"));
}

#[test]
fn producers_drain_and_dump_agree_exactly_under_contention() {
    // 4 producers on 2 cores, tiny rings so drops happen, the drain running meanwhile.
    const PER: u64 = 100_000;
    let set = RingSet::<Record>::new(4, 16).unwrap();
    let (producers, consumers) = set.split().unwrap();
    let writer = DumpWriter::new(Vec::new(), &metadata(4)).unwrap();
    let mut drain = Drain::new(consumers, writer, 64);
    let finished = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for (ring, mut producer) in producers.into_iter().enumerate() {
            let finished = &finished;
            scope.spawn(move || {
                for seq in 0..PER {
                    let _ = producer.push(record(ring as u16, seq));
                }
                finished.fetch_add(1, Ordering::Release);
            });
        }
        while finished.load(Ordering::Acquire) < 4 {
            drain.drain_once().unwrap();
        }
        drain.drain_all().unwrap();
    });
    let bytes = drain.finish().into_sink();
    let (chunks, stop) = read_all(&bytes);
    assert_eq!(stop, None);
    for (ring, stats) in set.stats().enumerate() {
        let in_dump: u64 = chunks
            .iter()
            .filter(|c| c.ring as usize == ring)
            .map(|c| c.records.len() as u64)
            .sum();
        let dropped: u64 = chunks
            .iter()
            .filter(|c| c.ring as usize == ring)
            .map(|c| c.dropped)
            .sum();
        assert_eq!(stats.produced, PER);
        assert_eq!(
            in_dump + dropped,
            PER,
            "ring {ring}: produced = drained + dropped, from the dump"
        );
        assert_eq!(
            (in_dump, dropped),
            (stats.consumed, stats.dropped),
            "ring {ring}"
        );
        let seqs: Vec<u64> = chunks
            .iter()
            .filter(|c| c.ring as usize == ring)
            .flat_map(|c| c.records.iter().map(|r| r.data))
            .collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "ring {ring}: in order"
        );
    }
}
