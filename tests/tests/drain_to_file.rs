//! Producers on vCPU threads, the idle-priority drain thread writing a dump file, the exporter
//! reading it back: every record offered is in the file or counted as dropped.

use std::io::BufWriter;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axebpf_core::drain::Drain;
use axebpf_core::dump::{DumpWriter, Metadata};
use axebpf_core::record::Record;
use axebpf_core::ring::RingSet;
use axtrace_exporter::dump::DumpReader;
use axtrace_tools::drain_thread::{self, FileSink};

#[test]
fn the_drain_thread_writes_every_record_or_its_drop_to_the_file() {
    const VCPUS: usize = 3;
    const PER: u64 = 50_000;
    let path = std::env::temp_dir().join(format!("axtrace-drain-{}.axdump", std::process::id()));
    let set = RingSet::<Record>::new(VCPUS, 64).unwrap();
    let (producers, consumers) = set.split().unwrap();
    let meta = Metadata {
        vcpus: (0..VCPUS as u16).map(|i| (i, 0, i)).collect(),
        clock: "tsc".into(),
        host: "test".into(),
        programs: vec![],
    };
    let file = FileSink(BufWriter::new(std::fs::File::create(&path).unwrap()));
    let drain = Drain::new(consumers, DumpWriter::new(file, &meta).unwrap(), 256);
    let stop = AtomicBool::new(false);
    let finished = AtomicUsize::new(0);
    let drain = std::thread::scope(|scope| {
        let drainer = scope.spawn(|| drain_thread::run(drain, Duration::from_micros(200), &stop));
        for (vcpu, mut producer) in producers.into_iter().enumerate() {
            let finished = &finished;
            scope.spawn(move || {
                for seq in 0..PER {
                    let record = Record {
                        vcpu: vcpu as u16,
                        data: seq,
                        timestamp_ns: seq,
                        ..Record::default()
                    };
                    let _ = producer.push(record);
                }
                finished.fetch_add(1, Ordering::Release);
            });
        }
        while finished.load(Ordering::Acquire) < VCPUS {
            std::thread::sleep(Duration::from_millis(1));
        }
        stop.store(true, Ordering::Release);
        drainer.join().unwrap().unwrap()
    });
    let mut sink = drain.finish().into_sink();
    sink.flush().unwrap();
    drop(sink);

    let mut reader = DumpReader::open(std::fs::File::open(&path).unwrap()).unwrap();
    let mut in_file = [0u64; VCPUS];
    let mut dropped = [0u64; VCPUS];
    while let Some(chunk) = reader.next_chunk() {
        in_file[chunk.ring as usize] += chunk.records.len() as u64;
        dropped[chunk.ring as usize] += chunk.dropped;
        assert!(chunk.records.iter().all(|r| r.vcpu == chunk.ring));
    }
    assert_eq!(reader.stop(), None);
    for (vcpu, stats) in set.stats().enumerate() {
        assert_eq!(in_file[vcpu] + dropped[vcpu], PER, "vCPU {vcpu}");
        assert_eq!(
            (in_file[vcpu], dropped[vcpu]),
            (stats.consumed, stats.dropped),
            "vCPU {vcpu}"
        );
    }
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_ring_past_the_watermark_wakes_the_drain_before_its_period() {
    // A one-hour period: only the watermark can make the drain take these records while the
    // producer is still waiting for it.
    let set = RingSet::<Record>::new(1, 64).unwrap();
    let (mut producers, consumers) = set.split().unwrap();
    let drain = Drain::new(
        consumers,
        DumpWriter::new(Vec::new(), &Metadata::default()).unwrap(),
        256,
    );
    let stop = AtomicBool::new(false);
    let drained_early = std::thread::scope(|scope| {
        let drainer = scope.spawn(|| drain_thread::run(drain, Duration::from_secs(3600), &stop));
        // Let the drain go idle, then fill the ring to 3/4 (past the 1/4 watermark).
        std::thread::sleep(Duration::from_millis(20));
        for seq in 0..48 {
            producers[0]
                .push(Record {
                    data: seq,
                    ..Record::default()
                })
                .unwrap();
        }
        // Wait (bounded, so a broken watermark fails instead of hanging) for the drain.
        let mut drained_early = false;
        for _ in 0..10_000 {
            if set.stats().next().unwrap().consumed == 48 {
                drained_early = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        stop.store(true, Ordering::Release);
        drainer.join().unwrap().unwrap();
        drained_early
    });
    assert!(drained_early, "the drain slept through a ring at 75 %");
}
