//! The shipped C handlers (`bpf/*.bpf.c`, compiled by clang, objects committed) loaded and run
//! on tracepoint contexts in both modes: maps, records and helpers end to end.

use axebpf_core::context::{ContextHeader, VcpuRunEnter, VcpuRunExit};
use axebpf_core::object::LoadedObject;
use axebpf_core::platform::host::HostPlatform;
use axebpf_core::record::{Record, event};
use axebpf_core::ring::RingSet;
use axebpf_core::runtime::ExecMode;

const EXIT_LATENCY: &[u8] = include_bytes!("../bpf/exit_latency.bpf.o");
const EXIT_COUNT: &[u8] = include_bytes!("../bpf/exit_count.bpf.o");

fn header(timestamp_ns: u64, vm_id: u16, vcpu_id: u16) -> ContextHeader {
    ContextHeader {
        timestamp_ns,
        vm_id,
        vcpu_id,
        pcpu_id: 0,
        reserved: 0,
    }
}

fn key(vm: u32, reason: u32) -> Vec<u8> {
    [vm.to_le_bytes(), reason.to_le_bytes()].concat()
}

fn u64_at(bytes: &[u8], index: usize) -> u64 {
    u64::from_le_bytes(bytes[index * 8..index * 8 + 8].try_into().unwrap())
}

/// Per-CPU `latency_stats` folded the way a reader must: counts summed, min/max combined.
fn fold_stats(per_cpu: &[Vec<u8>]) -> (u64, u64, u64, u64, Vec<u64>) {
    let mut count = 0;
    let mut sum = 0;
    let mut min = u64::MAX;
    let mut max = 0;
    let mut buckets = vec![0; 32];
    for value in per_cpu {
        let c = u64_at(value, 0);
        if c == 0 {
            continue;
        }
        count += c;
        sum += u64_at(value, 1);
        min = min.min(u64_at(value, 2));
        max = max.max(u64_at(value, 3));
        for (i, bucket) in buckets.iter_mut().enumerate() {
            *bucket += u64_at(value, 4 + i);
        }
    }
    (count, sum, min, max, buckets)
}

#[test]
fn exit_latency_measures_every_exit_and_emits_a_record_each() {
    HostPlatform::install();
    let rings: &'static RingSet<Record> = Box::leak(Box::new(RingSet::new(2, 1024).unwrap()));
    let (mut producers, mut drain) = rings.split().unwrap();
    HostPlatform::attach_ring(producers.remove(0));

    for (vm, mode) in [(1u16, ExecMode::Jit), (2u16, ExecMode::Interpreter)] {
        let object = LoadedObject::load(EXIT_LATENCY, mode).unwrap();
        let on_exit = object.program("tracepoint/vmm/vcpu_run_exit").unwrap();
        let on_enter = object.program("tracepoint/vmm/vcpu_run_enter").unwrap();
        // 300 exits: reasons 1..=3, latency 100 + i ns.
        for i in 0..300u64 {
            let exit_ns = 1_000_000 + i * 10_000;
            let mut exit = VcpuRunExit {
                header: header(exit_ns, vm, 3),
                exit_reason: (i % 3 + 1) as u32,
                addr: 0xfee0_0000 + i,
                ..Default::default()
            };
            let mut enter = VcpuRunEnter {
                header: header(exit_ns + 100 + i, vm, 3),
            };
            assert_eq!(on_exit.run(bytemuck::bytes_of_mut(&mut exit)).unwrap(), 0);
            assert_eq!(on_enter.run(bytemuck::bytes_of_mut(&mut enter)).unwrap(), 0);
        }
        // An entry without a preceding exit changes nothing.
        let mut stray = VcpuRunEnter {
            header: header(5, vm, 4),
        };
        on_enter.run(bytemuck::bytes_of_mut(&mut stray)).unwrap();

        let latency = object.map("latency").unwrap();
        for reason in 1..=3u32 {
            let per_cpu = latency.read_per_cpu(&key(vm.into(), reason)).unwrap();
            let (count, sum, min, max, buckets) = fold_stats(&per_cpu);
            let latencies: Vec<u64> = (0..300)
                .filter(|i| i % 3 + 1 == u64::from(reason))
                .map(|i| 100 + i)
                .collect();
            assert_eq!(count, 100, "{mode} reason {reason}");
            assert_eq!(sum, latencies.iter().sum::<u64>(), "{mode}");
            assert_eq!(min, latencies[0], "{mode}");
            assert_eq!(max, *latencies.last().unwrap(), "{mode}");
            let mut expected = vec![0u64; 32];
            for l in &latencies {
                expected[63 - l.leading_zeros() as usize] += 1;
            }
            assert_eq!(buckets, expected, "{mode}");
        }
        assert!(latency.read_per_cpu(&key(vm.into(), 4)).is_none());

        let mut records = Vec::new();
        drain.drain_once(usize::MAX, |_, batch| records.extend_from_slice(batch));
        assert_eq!(records.len(), 300, "{mode}");
        for (i, record) in records.iter().enumerate() {
            let i = i as u64;
            assert_eq!(
                *record,
                Record {
                    timestamp_ns: 1_000_000 + i * 10_000,
                    event: event::VM_EXIT,
                    vm,
                    vcpu: 3,
                    pcpu: 0,
                    code: (i % 3 + 1) as u32,
                    aux: (100 + i) as u32,
                    data: 0xfee0_0000 + i,
                },
                "{mode}"
            );
        }
    }
    let stats = rings.ring(0).unwrap().stats();
    assert_eq!((stats.produced, stats.dropped), (600, 0));
}

#[test]
fn exit_count_counts_per_vm_and_reason() {
    HostPlatform::install();
    for mode in [ExecMode::Jit, ExecMode::Interpreter] {
        let object = LoadedObject::load(EXIT_COUNT, mode).unwrap();
        let program = object.program("count_exit").unwrap();
        for i in 0..1000u32 {
            let mut exit = VcpuRunExit {
                header: header(u64::from(i), (i % 2) as u16, 0),
                exit_reason: i % 5 + 1,
                ..Default::default()
            };
            program.run(bytemuck::bytes_of_mut(&mut exit)).unwrap();
        }
        let counts = object.map("exit_counts").unwrap();
        let mut total = 0;
        for vm in 0..2 {
            for reason in 1..=5 {
                let sum: u64 = counts
                    .read_per_cpu(&key(vm, reason))
                    .unwrap()
                    .iter()
                    .map(|v| u64_at(v, 0))
                    .sum();
                assert_eq!(sum, 100, "{mode} vm {vm} reason {reason}");
                total += sum;
            }
        }
        assert_eq!(total, 1000);
    }
}
