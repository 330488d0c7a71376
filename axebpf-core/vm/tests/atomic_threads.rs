//! Atomics through the interpreter are real atomics: two threads each running a million
//! `lock *(u64 *)(r1 + 0) += 1` (as `atomic_fetch_add` and as the plain form) on the same u64
//! lose no increment.

mod builders;

use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use axebpf_vm::insn::atomic;
use axebpf_vm::{Region, Vm};

const PER_THREAD: i32 = 1_000_000;

fn hammer(op: i32) {
    let counter: &'static AtomicU64 = Box::leak(Box::new(AtomicU64::new(0)));
    let addr = counter.as_ptr().expose_provenance() as u64;
    let code = builders::increment_loop(addr, PER_THREAD, op);
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let code = code.clone();
            thread::spawn(move || {
                let region = [Region {
                    start: addr,
                    len: 8,
                    writable: true,
                }];
                let mut vm = Vm::new(&[]);
                vm.set_budget(10_000_000);
                // SAFETY: the counter is leaked (lives forever) and every other access to it
                // during the runs is atomic.
                unsafe { vm.set_regions(&region) };
                vm.run(&code, &mut [])
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), Ok(0));
    }
    assert_eq!(counter.load(Ordering::SeqCst), 2 * PER_THREAD as u64);
}

#[test]
fn two_threads_lose_no_fetch_add() {
    hammer(atomic::ADD | atomic::FETCH);
}

#[test]
fn two_threads_lose_no_plain_add() {
    hammer(atomic::ADD);
}
