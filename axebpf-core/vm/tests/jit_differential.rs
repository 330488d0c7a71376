//! The JIT against the interpreter and the RFC 9669 reference model of `axebpf-core/tests/isa`
//! (included, not copied) on the same seeded random programs as `differential.rs`, then against
//! the interpreter alone on those programs with ISA v4 and atomic chunks spliced in (which the
//! model does not implement).
//!
//! The JIT runs only programs the interpreter completes (it has no bounds checks); it must
//! compile every one of them. Rerun one program with
//! `ISA_SEED=<seed> cargo test -p axebpf-vm --test jit_differential`.

#![cfg(target_arch = "x86_64")]

#[path = "../../tests/isa/asm.rs"]
mod asm;
#[path = "../../tests/isa/generate.rs"]
mod generate;
#[path = "../../tests/isa/model.rs"]
#[allow(dead_code)]
mod model;
mod support;

use asm::Insn;
use axebpf_vm::Vm;
use generate::{Chunk, Program, Rng};

type Outcome = Result<(u64, Vec<u8>), String>;

/// Body chunks of a program, as `differential.rs` picks them.
fn chunks(seed: u64) -> usize {
    8 + (seed % 64) as usize
}

fn interpreter(code: &[u8], mem: &[u8]) -> Outcome {
    let mut mem = mem.to_vec();
    let mut vm = Vm::new(&[]);
    let r0 = vm.run(code, &mut mem).map_err(|e| e.to_string())?;
    Ok((r0, mem))
}

fn reference(code: &[u8], mem: &[u8]) -> Outcome {
    let mut mem = mem.to_vec();
    let (r0, _) = model::run(code, &mut mem).map_err(|e| format!("{e:?}"))?;
    Ok((r0, mem))
}

/// The JIT; only for programs the interpreter completes (they stay inside the buffer and the
/// stack).
fn jit(code: &[u8], mem: &[u8]) -> Outcome {
    let mut mem = mem.to_vec();
    let exe = support::load(code, &[]).map_err(|e| format!("compile: {e}"))?;
    // SAFETY: the interpreter ran this program on the same buffer without an out-of-bounds
    // access, and the compiled code computes the same accesses.
    let r0 = unsafe { exe.run(&mut mem) };
    Ok((r0, mem))
}

fn show(outcome: &Outcome) -> String {
    match outcome {
        Ok((r0, mem)) => format!(
            "Ok(r0 = {r0:#018x}, mem = {})",
            mem.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
        Err(e) => format!("Err({e})"),
    }
}

/// Drops body chunks while the JIT still disagrees with the interpreter (on programs the
/// interpreter still completes).
fn shrink(mut program: Program, mem: &[u8]) -> Program {
    let disagrees = |p: &Program| {
        let code = p.code();
        let expected = interpreter(&code, mem);
        expected.is_ok() && jit(&code, mem) != expected
    };
    let mut index = 0;
    while index < program.body.len() {
        let candidate = program.without_chunk(index);
        if disagrees(&candidate) {
            program = candidate;
        } else {
            index += 1;
        }
    }
    program
}

fn failure(seed: u64, program: &Program, mem: &[u8], expected: &Outcome, got: &Outcome) -> String {
    let small = shrink(program.clone(), mem);
    format!(
        "seed {seed:#x} (rerun: ISA_SEED={seed:#x})\n  interpreter: {}\n  jit:         {}\n\
         shrunk to {} chunks:\n{}",
        show(expected),
        show(got),
        small.body.len(),
        asm::disassemble(&small.code())
    )
}

#[test]
fn random_programs_match_the_interpreter_and_the_model() {
    let seeds = generate::program_seeds();
    let mut failures = Vec::new();
    let mut agree = 0;
    for &seed in &seeds {
        let (program, mem) = generate::program(seed, chunks(seed));
        let code = program.code();
        let expected = reference(&code, &mem);
        assert!(expected.is_ok(), "the model fails on seed {seed:#x}");
        let interpreted = interpreter(&code, &mem);
        assert_eq!(interpreted, expected, "seed {seed:#x}: see differential.rs");
        let got = jit(&code, &mem);
        if got == expected {
            agree += 1;
        } else {
            failures.push(failure(seed, &program, &mem, &expected, &got));
            if failures.len() == 3 {
                break;
            }
        }
    }
    println!(
        "{} programs: jit = interpreter = model on {agree}",
        seeds.len()
    );
    assert!(
        failures.is_empty(),
        "{} program(s) where the JIT disagrees (stopped after 3):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

// --- ISA v4 and atomics, against the interpreter alone -------------------------------------

const STX: u8 = 0x03;
const ALU: u8 = 0x04;
const ALU64: u8 = 0x07;
const X: u8 = 0x08;
const ATOMIC: u8 = 0xc0;
const MEMSX: u8 = 0x80;
const LDX: u8 = 0x01;
/// Every atomic operation (`imm`): ADD, OR, AND, XOR with and without FETCH, XCHG, CMPXCHG.
const ATOMIC_OPS: [i32; 10] = [0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1];

fn reg(rng: &mut Rng) -> u8 {
    rng.below(10) as u8
}

/// A stack slot the generator's prologue stored (slots 2–17), at an offset aligned for `width`.
fn slot(rng: &mut Rng, width: usize) -> i16 {
    let slot = 2 + rng.below(16) as i16;
    -8 * slot + (rng.below(8 / width) * width) as i16
}

/// One chunk of the instructions the base generator leaves out.
fn v4_chunk(rng: &mut Rng) -> Chunk {
    let d = reg(rng);
    let s = reg(rng);
    let cls = if rng.chance(50) { ALU64 } else { ALU };
    let insn = match rng.below(6) {
        // Signed and unsigned division and modulo, both operand kinds, edge divisors.
        0 => {
            let op = if rng.chance(50) {
                asm::alu::DIV
            } else {
                asm::alu::MOD
            };
            let off = i16::from(rng.chance(60));
            if rng.chance(50) {
                Insn::new(cls | op | X, d, s, off, 0)
            } else {
                let imm = rng.pick(&[0, 1, -1, 2, -2, 3, 7, -7, i32::MIN, i32::MAX]);
                Insn::new(cls | op, d, 0, off, imm)
            }
        }
        // Sign-extending moves.
        1 => {
            let off = if cls == ALU64 {
                rng.pick(&[8, 16, 32])
            } else {
                rng.pick(&[8, 16])
            };
            Insn::new(cls | asm::alu::MOV | X, d, s, off, 0)
        }
        // Unconditional byte swaps.
        2 => Insn::new(ALU64 | asm::alu::END, d, 0, 0, rng.pick(&[16, 32, 64])),
        // Sign-extending loads from the stack.
        3 => {
            let sz = rng.pick(&[asm::size::B, asm::size::H, asm::size::W]);
            Insn::new(LDX | MEMSX | sz, d, 10, slot(rng, asm::size::bytes(sz)), 0)
        }
        // Atomics on the stack (FETCH forms write back to `s`, CMPXCHG to r0).
        _ => {
            let sz = if rng.chance(50) {
                asm::size::DW
            } else {
                asm::size::W
            };
            let op = rng.pick(&ATOMIC_OPS);
            Insn::new(
                STX | ATOMIC | sz,
                10,
                s,
                slot(rng, asm::size::bytes(sz)),
                op,
            )
        }
    };
    Chunk::Plain(vec![insn])
}

/// The base program of `seed` with ISA v4 and atomic chunks spliced in.
fn extended(seed: u64) -> (Program, Vec<u8>) {
    let (mut program, mem) = generate::program(seed, chunks(seed));
    let mut rng = Rng::new(seed ^ 0x4a17_0000_0000_0000);
    let extra = 4 + rng.below(program.body.len());
    for _ in 0..extra {
        let at = rng.below(program.body.len() + 1);
        program.body.insert(at, v4_chunk(&mut rng));
    }
    (program, mem)
}

#[test]
fn random_v4_and_atomic_programs_match_the_interpreter() {
    let seeds = generate::program_seeds();
    let mut failures = Vec::new();
    let (mut agree, mut skipped) = (0, 0);
    for &seed in &seeds {
        let (program, mem) = extended(seed);
        let code = program.code();
        let expected = interpreter(&code, &mem);
        if expected.is_err() {
            skipped += 1;
            continue;
        }
        let got = jit(&code, &mem);
        if got == expected {
            agree += 1;
        } else {
            failures.push(failure(seed, &program, &mem, &expected, &got));
            if failures.len() == 3 {
                break;
            }
        }
    }
    println!(
        "{} extended programs: jit = interpreter on {agree}, interpreter error on {skipped}",
        seeds.len()
    );
    assert!(
        agree >= seeds.len() * 9 / 10,
        "too few programs ran: {agree}"
    );
    assert!(
        failures.is_empty(),
        "{} program(s) where the JIT disagrees (stopped after 3):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
