//! Atomics in compiled code are real atomics: two threads each running a JIT-compiled loop of a
//! million `lock *(u64 *)(r1 + 0) += 1` (as `atomic_fetch_add`, i.e. `lock xadd`, and as the
//! plain form, `lock add`) on one shared u64 lose no increment.

#![cfg(target_arch = "x86_64")]

mod builders;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use axebpf_vm::insn::{Insn, LdImm64, alu, atomic, class, jmp, mode, size, source};

const PER_THREAD: i32 = 1_000_000;

fn hammer(op: i32) {
    let counter = Arc::new(AtomicU64::new(0));
    let code = builders::increment_loop(counter.as_ptr() as u64, PER_THREAD, op);
    let exe = Arc::new(support::load(&code, &[]).expect("compiles"));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (exe, counter) = (Arc::clone(&exe), Arc::clone(&counter));
            thread::spawn(move || {
                // SAFETY: the program touches only the counter, which `counter` keeps alive, and
                // every other access to it meanwhile is atomic.
                let r0 = unsafe { exe.run(&mut []) };
                drop(counter);
                r0
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 0);
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

/// Runs `code_of(thread)` compiled in two threads at once; returns their r0s.
fn race(code_of: impl Fn(u64) -> Vec<u8>) -> Vec<u64> {
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let exe = support::load(&code_of(t), &[]).expect("compiles");
            // SAFETY: the programs touch only the shared word, which the caller keeps alive
            // until both threads are joined, and every access to it meanwhile is atomic.
            thread::spawn(move || unsafe { exe.run(&mut []) })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

fn insns(program: &[Insn]) -> Vec<u8> {
    program.iter().flat_map(|i| i.to_bytes()).collect()
}

/// A counter incremented through a compare-and-exchange retry loop (`lock cmpxchg`).
#[test]
fn two_threads_lose_no_cmpxchg_increment() {
    let counter = AtomicU64::new(0);
    let addr = counter.as_ptr() as u64;
    let r0s = race(|_| {
        let [lo, hi] = LdImm64::split(1, addr);
        insns(&[
            lo,
            hi,
            Insn::new(class::ALU64 | alu::MOV | source::K, 2, 0, 0, PER_THREAD),
            // loop (pc 3): r0 = *r1
            Insn::new(class::LDX | mode::MEM | size::DW, 0, 1, 0, 0),
            // retry (pc 4): r4 = r0; r3 = r0 + 1; r0 = cmpxchg(r1, r0, r3)
            Insn::new(class::ALU64 | alu::MOV | source::X, 4, 0, 0, 0),
            Insn::new(class::ALU64 | alu::MOV | source::X, 3, 0, 0, 0),
            Insn::new(class::ALU64 | alu::ADD | source::K, 3, 0, 0, 1),
            Insn::new(
                class::STX | mode::ATOMIC | size::DW,
                1,
                3,
                0,
                atomic::CMPXCHG,
            ),
            Insn::new(class::JMP | jmp::JNE | source::X, 0, 4, -5, 0), // -> retry
            Insn::new(class::ALU64 | alu::SUB | source::K, 2, 0, 0, 1),
            Insn::new(class::JMP | jmp::JNE | source::K, 2, 0, -8, 0), // -> loop
            Insn::new(class::ALU64 | alu::MOV | source::K, 0, 0, 0, 0),
            Insn::new(class::JMP | jmp::EXIT, 0, 0, 0, 0),
        ])
    });
    assert_eq!(r0s, [0, 0]);
    assert_eq!(counter.load(Ordering::SeqCst), 2 * PER_THREAD as u64);
}

/// The cmpxchg loops of FETCH_OR/AND and FETCH_XOR: each thread sets and clears its own bit of a
/// shared word a million times, checking the fetched old value each time; a lost update of the
/// other thread's bit would show up in that thread's next fetch (r0 = 1).
#[test]
fn two_threads_lose_no_fetch_or_and_xor() {
    for (set, clear) in [
        (atomic::OR | atomic::FETCH, atomic::AND | atomic::FETCH),
        (atomic::XOR | atomic::FETCH, atomic::XOR | atomic::FETCH),
    ] {
        let word = AtomicU64::new(0);
        let addr = word.as_ptr() as u64;
        let r0s = race(|t| {
            let bit = 1i32 << (t * 8);
            let clear_mask = if clear == atomic::AND | atomic::FETCH {
                !bit
            } else {
                bit
            };
            let [lo, hi] = LdImm64::split(1, addr);
            insns(&[
                lo,
                hi,
                Insn::new(class::ALU64 | alu::MOV | source::K, 2, 0, 0, PER_THREAD),
                // loop (pc 3): the bit must have been clear, then set.
                Insn::new(class::ALU64 | alu::MOV | source::K, 3, 0, 0, bit),
                Insn::new(class::STX | mode::ATOMIC | size::DW, 1, 3, 0, set),
                Insn::new(class::JMP | jmp::JSET | source::K, 3, 0, 8, bit), // -> fail
                Insn::new(class::ALU64 | alu::MOV | source::K, 3, 0, 0, clear_mask),
                Insn::new(class::STX | mode::ATOMIC | size::DW, 1, 3, 0, clear),
                Insn::new(class::JMP32 | jmp::JSET | source::K, 3, 0, 1, bit),
                Insn::new(class::JMP | jmp::JA, 0, 0, 4, 0), // -> fail
                Insn::new(class::ALU64 | alu::SUB | source::K, 2, 0, 0, 1),
                Insn::new(class::JMP | jmp::JNE | source::K, 2, 0, -9, 0), // -> loop
                Insn::new(class::ALU64 | alu::MOV | source::K, 0, 0, 0, 0),
                Insn::new(class::JMP | jmp::EXIT, 0, 0, 0, 0),
                // fail (pc 14)
                Insn::new(class::ALU64 | alu::MOV | source::K, 0, 0, 0, 1),
                Insn::new(class::JMP | jmp::EXIT, 0, 0, 0, 0),
            ])
        });
        assert_eq!(r0s, [0, 0], "set {set:#x}, clear {clear:#x}");
        assert_eq!(word.load(Ordering::SeqCst), 0);
    }
}
