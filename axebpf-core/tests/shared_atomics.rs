//! Atomic semantics are real: two threads (two vCPUs on two CPUs) each run a clang-compiled
//! handler a million times, doing `__sync_fetch_and_add` on the same ARRAY value and the same
//! HASH value, and no increment is lost — in the JIT and in the interpreter.

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
