//! Atomic semantics are real: two threads (two vCPUs on two CPUs) each run a clang-compiled
//! handler a million times, doing `__sync_fetch_and_add` on the same ARRAY value and the same
//! HASH value, and no increment is lost — in the JIT and in the interpreter; and per-CPU
//! values lose nothing either when two vCPU threads share one core.

use std::sync::Arc;
use std::thread;

use axebpf_core::context::VcpuRunExit;
use axebpf_core::object::LoadedObject;
use axebpf_core::platform::host::HostPlatform;
use axebpf_core::runtime::ExecMode;

const SHARED_COUNTERS: &[u8] = include_bytes!("verifier/objects/shared_counters.bpf.o");
const RUNS_PER_THREAD: u64 = 1_000_000;

fn counter(object: &LoadedObject, map: &str) -> u64 {
    let values = object
        .map(map)
        .expect("the map exists")
        .read_per_cpu(&0u32.to_le_bytes())
        .expect("key 0 is present");
    u64::from_le_bytes(values[0][..8].try_into().unwrap())
}

#[test]
fn two_threads_lose_no_increment_in_either_mode() {
    HostPlatform::install();
    for mode in [ExecMode::Jit, ExecMode::Interpreter] {
        let object = Arc::new(LoadedObject::load(SHARED_COUNTERS, mode).expect("verified"));
        let threads: Vec<_> = (0..2)
            .map(|vcpu| {
                let object = object.clone();
                thread::spawn(move || {
                    let program = &object.programs()[0].program;
                    let mut ctx = VcpuRunExit::default();
                    ctx.header.vcpu_id = vcpu;
                    for _ in 0..RUNS_PER_THREAD {
                        let r0 = program.run(bytemuck::bytes_of_mut(&mut ctx)).unwrap();
                        assert_eq!(r0, 0, "{mode}: the fetched value is below every run");
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(
            counter(&object, "array_counter"),
            2 * RUNS_PER_THREAD,
            "{mode}: array"
        );
        assert_eq!(
            counter(&object, "hash_counter"),
            2 * RUNS_PER_THREAD,
            "{mode}: hash"
        );
    }
}

/// Per-CPU maps update in place without atomics because one CPU runs one handler at a time. On
/// the host a "CPU" is a slot each thread holds (`platform::host`): two vCPU threads pinned to
/// one core, preempting each other mid-update, still lose no `exit_count` increment.
#[test]
fn per_cpu_counts_survive_threads_sharing_a_core() {
    const EXIT_COUNT: &[u8] = include_bytes!("../bpf/exit_count.bpf.o");
    const RUNS: u64 = 500_000;
    HostPlatform::install();
    for mode in [ExecMode::Jit, ExecMode::Interpreter] {
        let object = Arc::new(LoadedObject::load(EXIT_COUNT, mode).expect("verified"));
        let threads: Vec<_> = (0..2)
            .map(|vcpu| {
                let object = object.clone();
                thread::spawn(move || {
                    // SAFETY: a zeroed cpu_set_t is valid; CPU_SET and sched_setaffinity only
                    // read and write it.
                    unsafe {
                        let mut set: libc::cpu_set_t = std::mem::zeroed();
                        libc::CPU_SET(0, &mut set);
                        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
                    }
                    let program = &object.programs()[0].program;
                    let mut ctx = VcpuRunExit::default();
                    ctx.header.vm_id = 3;
                    ctx.header.vcpu_id = vcpu;
                    ctx.exit_reason = 1;
                    for _ in 0..RUNS {
                        program.run(bytemuck::bytes_of_mut(&mut ctx)).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let key = [3u32.to_le_bytes(), 1u32.to_le_bytes()].concat();
        let total: u64 = object
            .map("exit_counts")
            .unwrap()
            .read_per_cpu(&key)
            .expect("counted")
            .iter()
            .map(|v| u64::from_le_bytes(v[..8].try_into().unwrap()))
            .sum();
        assert_eq!(total, 2 * RUNS, "{mode}");
    }
}
