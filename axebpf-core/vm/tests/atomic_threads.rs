//! Atomics through the interpreter are real atomics: two threads each running a million
//! `lock *(u64 *)(r1 + 0) += 1` (as `atomic_fetch_add` and as the plain form) on the same u64
//! lose no increment.

use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use axebpf_vm::insn::{Insn, LdImm64, alu, atomic, class, jmp, mode, size, source};
use axebpf_vm::{Region, Vm};

const PER_THREAD: i32 = 1_000_000;

/// `r1 = counter; r2 = PER_THREAD; r3 = 1; loop: lock *(u64 *)(r1) += r3; r2 -= 1;
/// if r2 != 0 goto loop; exit`
fn program(counter: u64, op: i32) -> Vec<u8> {
    let [lo, hi] = LdImm64::split(1, counter);
    [
        lo,
        hi,
        Insn::new(class::ALU64 | alu::MOV | source::K, 2, 0, 0, PER_THREAD),
        Insn::new(class::ALU64 | alu::MOV | source::K, 3, 0, 0, 1),
        Insn::new(class::STX | mode::ATOMIC | size::DW, 1, 3, 0, op),
        // A fetch overwrote r3 with the old value; reset it.
        Insn::new(class::ALU64 | alu::MOV | source::K, 3, 0, 0, 1),
        Insn::new(class::ALU64 | alu::SUB | source::K, 2, 0, 0, 1),
        Insn::new(class::JMP | jmp::JNE | source::K, 2, 0, -4, 0),
        Insn::new(class::ALU64 | alu::MOV | source::K, 0, 0, 0, 0),
        Insn::new(class::JMP | jmp::EXIT, 0, 0, 0, 0),
    ]
    .iter()
    .flat_map(|i| i.to_bytes())
    .collect()
}

fn hammer(op: i32) {
    let counter: &'static AtomicU64 = Box::leak(Box::new(AtomicU64::new(0)));
    let addr = counter.as_ptr().expose_provenance() as u64;
    let code = program(addr, op);
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
