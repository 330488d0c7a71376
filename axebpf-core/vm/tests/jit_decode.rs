//! What the x86-64 JIT emits, read back by iced-x86's decoder: for programs using every opcode
//! form on every register, every byte decodes as a valid instruction, every relative branch and
//! call lands on an instruction boundary inside the code, read-modify-write atomics carry LOCK,
//! and helper calls load the helper's own address. Also: the entry sequence saves exactly the
//! callee-saved registers the program uses, and every exit of the main program undoes it.

#![cfg(target_arch = "x86_64")]

use std::collections::HashSet;

use axebpf_vm::Helper;
use axebpf_vm::insn::{Insn, LdImm64, alu, atomic, class, jmp, mode, size, source};
use axebpf_vm::jit;
use iced_x86::{Code, Decoder, DecoderOptions, Instruction, Mnemonic, OpKind, Register};

extern "C" fn helper(a: u64, b: u64, _: u64, _: u64, _: u64) -> u64 {
    a + b
}

const ALU_OPS: [(u8, i16); 18] = [
    (alu::ADD, 0),
    (alu::SUB, 0),
    (alu::MUL, 0),
    (alu::DIV, 0),
    (alu::DIV, 1),
    (alu::OR, 0),
    (alu::AND, 0),
    (alu::LSH, 0),
    (alu::RSH, 0),
    (alu::MOD, 0),
    (alu::MOD, 1),
    (alu::XOR, 0),
    (alu::MOV, 0),
    (alu::ARSH, 0),
    (alu::MOV, 8),
    (alu::MOV, 16),
    (alu::MOV, 32),
    (alu::NEG, 0),
];
const IMMS: [i32; 8] = [0, 1, -1, 0x7f, 0x80, -0x81, 0x1234_5678, i32::MIN];
const OFFS: [i16; 6] = [0, -8, 127, 128, -129, 0x7fff];
const CONDS: [u8; 11] = [
    jmp::JEQ,
    jmp::JGT,
    jmp::JGE,
    jmp::JSET,
    jmp::JNE,
    jmp::JSGT,
    jmp::JSGE,
    jmp::JLT,
    jmp::JLE,
    jmp::JSLT,
    jmp::JSLE,
];
const ATOMICS: [i32; 10] = [
    atomic::ADD,
    atomic::OR,
    atomic::AND,
    atomic::XOR,
    atomic::ADD | atomic::FETCH,
    atomic::OR | atomic::FETCH,
    atomic::AND | atomic::FETCH,
    atomic::XOR | atomic::FETCH,
    atomic::XCHG,
    atomic::CMPXCHG,
];

/// The arithmetic forms: every operation, both widths, every destination, register sources
/// r0–r10 and a spread of immediates.
fn arithmetic() -> Vec<Insn> {
    let mut p = Vec::new();
    for cls in [class::ALU64, class::ALU] {
        for (op, off) in ALU_OPS {
            if cls == class::ALU && off == 32 {
                continue;
            }
            for dst in 0..10 {
                if op != alu::NEG {
                    for src in 0..=10 {
                        p.push(Insn::new(cls | op | source::X, dst, src, off, 0));
                    }
                }
                if off <= 1 {
                    for imm in IMMS {
                        p.push(Insn::new(cls | op | source::K, dst, 0, off, imm));
                    }
                }
            }
        }
        for dst in 0..10 {
            for width in [16, 32, 64] {
                p.push(Insn::new(cls | alu::END | source::K, dst, 0, 0, width));
                if cls == class::ALU {
                    p.push(Insn::new(cls | alu::END | source::X, dst, 0, 0, width));
                }
            }
        }
    }
    for dst in 0..10 {
        for value in [0, 1, u64::from(u32::MAX), u64::MAX, 1 << 40, 0x8000_0000] {
            p.extend(LdImm64::split(dst, value));
        }
    }
    p
}

/// Loads, stores and atomics of every size, every base register r0–r10 and every value
/// register, with short and long displacements.
fn memory() -> Vec<Insn> {
    let mut p = Vec::new();
    for sz in [size::B, size::H, size::W, size::DW] {
        for base in 0..=10 {
            for off in OFFS {
                for reg in 0..=10 {
                    if reg < 10 {
                        p.push(Insn::new(class::LDX | mode::MEM | sz, reg, base, off, 0));
                        if sz != size::DW {
                            p.push(Insn::new(class::LDX | mode::MEMSX | sz, reg, base, off, 0));
                        }
                    }
                    p.push(Insn::new(class::STX | mode::MEM | sz, base, reg, off, 0));
                }
                for imm in IMMS {
                    p.push(Insn::new(class::ST | mode::MEM | sz, base, 0, off, imm));
                }
            }
        }
    }
    for sz in [size::W, size::DW] {
        for op in ATOMICS {
            for base in 0..=10 {
                for src in 0..=10 {
                    if src == 10 && op & atomic::FETCH != 0 && op != atomic::CMPXCHG {
                        continue;
                    }
                    for off in [0, -8, 4096] {
                        p.push(Insn::new(
                            class::STX | mode::ATOMIC | sz,
                            base,
                            src,
                            off,
                            op,
                        ));
                    }
                }
            }
        }
    }
    p
}

/// Every condition, both widths and source forms, every register pair; forward, backward and
/// zero-length jumps, `ja` and `gotol`.
fn jumps() -> Vec<Insn> {
    let mut p = vec![Insn::new(class::ALU64 | alu::MOV, 0, 0, 0, 0)];
    for cls in [class::JMP, class::JMP32] {
        for cond in CONDS {
            for dst in 0..=10 {
                for src in 0..=10 {
                    let off = [0, 1, -1][(dst + src) as usize % 3];
                    p.push(Insn::new(cls | cond | source::X, dst, src, off, 0));
                }
                for imm in IMMS {
                    p.push(Insn::new(cls | cond | source::K, dst, 0, -2, imm));
                }
            }
        }
    }
    p.push(Insn::new(class::JMP | jmp::JA, 0, 0, 1, 0));
    p.push(Insn::new(class::JMP | jmp::JA, 0, 0, -3, 0));
    p.push(Insn::new(class::JMP32 | jmp::JA, 0, 0, 0, -5));
    p.push(Insn::new(class::JMP32 | jmp::JA, 0, 0, 0, 2));
    p.push(Insn::new(class::JMP32 | jmp::JA, 0, 0, 0, 0));
    p
}

/// `body`; a helper call; a local call of a subprogram that calls the helper too; exit.
fn program(body: Vec<Insn>) -> Vec<u8> {
    let mut p = body;
    p.push(Insn::new(class::JMP | jmp::CALL, 0, 0, 0, 1));
    p.push(Insn::new(class::JMP | jmp::CALL, 0, 1, 0, 1));
    p.push(Insn::new(class::JMP | jmp::EXIT, 0, 0, 0, 0));
    p.push(Insn::new(class::JMP | jmp::CALL, 0, 0, 0, 1));
    p.push(Insn::new(class::JMP | jmp::EXIT, 0, 0, 0, 0));
    p.iter().flat_map(|i| i.to_bytes()).collect()
}

/// `body`, then three exits (the main program run in place, several exits, no calls).
fn without_calls(body: Vec<Insn>) -> Vec<u8> {
    let mut p = body;
    p.extend([Insn::new(class::JMP | jmp::EXIT, 0, 0, 0, 0); 3]);
    p.iter().flat_map(|i| i.to_bytes()).collect()
}

/// Decodes `code` whole; returns its instructions.
fn decode(code: &[u8]) -> Vec<Instruction> {
    let mut decoder = Decoder::with_ip(64, code, 0, DecoderOptions::NONE);
    let mut out = Vec::new();
    while decoder.can_decode() {
        let insn = decoder.decode();
        assert_ne!(
            insn.code(),
            Code::INVALID,
            "invalid instruction at {:#x}: {:02x?}",
            insn.ip(),
            &code[insn.ip() as usize..(insn.ip() as usize + 15).min(code.len())]
        );
        out.push(insn);
    }
    let end = out.last().map_or(0, |i| i.next_ip());
    assert_eq!(
        end,
        code.len() as u64,
        "the last instruction runs past the end"
    );
    out
}

/// Decodes what the JIT emits for `code` and checks it; returns how many atomics it found.
fn check(code: &[u8]) -> usize {
    let helpers: [Option<Helper>; 2] = [None, Some(helper)];
    let machine = jit::compile(code, &helpers).unwrap_or_else(|e| panic!("compile: {e}"));
    let insns = decode(&machine);
    let starts: HashSet<u64> = insns.iter().map(|i| i.ip()).collect();
    let mut atomics = 0;
    for (k, insn) in insns.iter().enumerate() {
        if insn.is_jcc_short_or_near() || insn.is_jmp_short_or_near() || insn.is_call_near() {
            let target = insn.near_branch_target();
            assert!(
                target < machine.len() as u64 && starts.contains(&target),
                "{:?} at {:#x} lands at {target:#x}, not on an instruction",
                insn.code(),
                insn.ip()
            );
        }
        let memory_destination = insn.op_count() > 0 && insn.op0_kind() == OpKind::Memory;
        if memory_destination {
            match insn.mnemonic() {
                Mnemonic::Add
                | Mnemonic::Or
                | Mnemonic::And
                | Mnemonic::Xor
                | Mnemonic::Xadd
                | Mnemonic::Cmpxchg => {
                    assert!(
                        insn.has_lock_prefix(),
                        "{:?} at {:#x} lacks LOCK",
                        insn.code(),
                        insn.ip()
                    );
                    atomics += 1;
                }
                // xchg with memory is locked without the prefix.
                Mnemonic::Xchg => atomics += 1,
                _ => {}
            }
        }
        if insn.is_call_near_indirect() {
            // movabs rax, helper; call rax
            let load = &insns[k - 1];
            assert_eq!(
                load.code(),
                Code::Mov_r64_imm64,
                "before the call at {:#x}",
                insn.ip()
            );
            assert_eq!(load.op0_register(), Register::RAX);
            assert_eq!(load.immediate64(), helper as Helper as usize as u64);
            assert_eq!(insn.op0_register(), Register::RAX);
        }
    }
    atomics
}

#[test]
fn arithmetic_decodes() {
    check(&program(arithmetic()));
}

#[test]
fn memory_and_atomics_decode_with_lock() {
    let body = memory();
    let expected = body
        .iter()
        .filter(|i| i.opcode & mode::MASK == mode::ATOMIC)
        .count();
    let atomics = check(&program(body));
    // Plain, FETCH_ADD and CMPXCHG are one locked instruction, XCHG one xchg; the FETCH
    // AND/OR/XOR loops have one locked cmpxchg each.
    assert_eq!(atomics, expected);
}

#[test]
fn jumps_and_calls_land_on_instructions() {
    check(&program(jumps()));
}

#[test]
fn everything_in_one_program_decodes() {
    // Everything together, in one program.
    let mut body = arithmetic();
    body.extend(memory());
    body.extend(jumps());
    check(&program(body));
}

#[test]
fn programs_without_calls_decode() {
    check(&without_calls(arithmetic()));
    check(&without_calls(memory()));
    check(&without_calls(jumps()));
}

/// What the entry sequence pushes before the first non-push, and checks that every `ret` in
/// the main program's code is preceded by the matching pops (an `add rsp` first when it
/// reserved stack).
fn entry_pushes(code: &[u8], main_rets: usize) -> (Vec<Register>, Option<u64>) {
    let helpers: [Option<Helper>; 2] = [None, Some(helper)];
    let machine = jit::compile(code, &helpers).unwrap_or_else(|e| panic!("compile: {e}"));
    let insns = decode(&machine);
    let pushes: Vec<Register> = insns
        .iter()
        .take_while(|i| i.mnemonic() == Mnemonic::Push)
        .map(|i| i.op0_register())
        .collect();
    let after = &insns[pushes.len()];
    let reserved = (after.mnemonic() == Mnemonic::Sub && after.op0_register() == Register::RSP)
        .then(|| after.immediate(1));
    let rets: Vec<usize> = insns
        .iter()
        .enumerate()
        .filter(|(_, i)| i.mnemonic() == Mnemonic::Ret)
        .map(|(k, _)| k)
        .take(main_rets)
        .collect();
    assert_eq!(rets.len(), main_rets);
    for k in rets {
        let pops: Vec<Register> = insns[k - pushes.len()..k]
            .iter()
            .rev()
            .map(|i| {
                assert_eq!(i.mnemonic(), Mnemonic::Pop, "at {:#x}", i.ip());
                i.op0_register()
            })
            .collect();
        assert_eq!(
            pops,
            pushes,
            "the pops before the ret at {:#x}",
            insns[k].ip()
        );
        if let Some(reserved) = reserved {
            let add = &insns[k - pushes.len() - 1];
            assert_eq!(add.mnemonic(), Mnemonic::Add);
            assert_eq!(add.op0_register(), Register::RSP);
            assert_eq!(add.immediate(1), reserved);
        }
    }
    (pushes, reserved)
}

#[test]
fn the_entry_saves_only_what_the_program_uses() {
    let insn =
        |op: u8, dst: u8, src: u8, off: i16, imm: i32| Insn::new(op, dst, src, off, imm).to_bytes();
    let mov_imm = class::ALU64 | alu::MOV | source::K;
    let exit = insn(class::JMP | jmp::EXIT, 0, 0, 0, 0);
    let helper_call = insn(class::JMP | jmp::CALL, 0, 0, 0, 1);
    let store_r10 = insn(class::ST | mode::MEM | size::DW, 10, 0, -8, 1);
    let jeq = |dst: u8, off: i16| insn(class::JMP | jmp::JEQ | source::K, dst, 0, off, 0);
    let p = |parts: &[[u8; 8]]| parts.concat();
    use Register::{R13, R14, R15, RBP, RBX};
    // r0 = 0; exit: nothing saved, nothing reserved.
    assert_eq!(
        entry_pushes(&p(&[insn(mov_imm, 0, 0, 0, 0), exit]), 1),
        (vec![], None)
    );
    // A helper call alone: no register, 8 bytes to align the call.
    assert_eq!(entry_pushes(&p(&[helper_call, exit]), 1), (vec![], Some(8)));
    // r6 and a helper call: one push aligns.
    assert_eq!(
        entry_pushes(&p(&[insn(mov_imm, 6, 0, 0, 1), helper_call, exit]), 1),
        (vec![RBX], None)
    );
    // r7, r9 and r10, two exits, no call: the frame only.
    let two_exits = p(&[
        insn(mov_imm, 7, 0, 0, 1),
        insn(mov_imm, 9, 0, 0, 1),
        store_r10,
        jeq(1, 1),
        exit,
        exit,
    ]);
    assert_eq!(
        entry_pushes(&two_exits, 2),
        (vec![RBP, R13, R15], Some(512))
    );
    // r6–r10 and a helper call: five pushes, the frame, no padding.
    let all: Vec<[u8; 8]> = (6..10)
        .map(|r| insn(mov_imm, r, 0, 0, 1))
        .chain([store_r10, helper_call, exit])
        .collect();
    assert_eq!(
        entry_pushes(&p(&all), 1),
        (vec![RBP, RBX, R13, R14, R15], Some(512))
    );
    // r8 and r10 and a helper call: the frame and 8 bytes of padding.
    assert_eq!(
        entry_pushes(
            &p(&[insn(mov_imm, 8, 0, 0, 1), store_r10, helper_call, exit]),
            1
        ),
        (vec![RBP, R14], Some(520))
    );
}

/// Jumps take the 8-bit form when the target is close and the 32-bit one when it is not.
#[test]
fn near_jumps_are_short_and_far_ones_long() {
    let insn = |op: u8, dst: u8, off: i16, imm: i32| Insn::new(op, dst, 0, off, imm).to_bytes();
    let add = insn(class::ALU64 | alu::ADD | source::K, 0, 0, 0x1000); // 7 bytes
    let exit = insn(class::JMP | jmp::EXIT, 0, 0, 0);
    let jumps = |n: usize| {
        let mut p = vec![
            insn(class::JMP | jmp::JEQ | source::K, 1, n as i16 + 1, 0),
            insn(class::JMP | jmp::JA, 0, n as i16, 0),
        ];
        p.extend(std::iter::repeat_n(add, n));
        p.push(exit);
        let machine = jit::compile(&p.concat(), &[]).unwrap();
        decode(&machine)
            .iter()
            .filter(|i| i.is_jcc_short_or_near() || i.is_jmp_short_or_near())
            .map(|i| i.code())
            .collect::<Vec<_>>()
    };
    assert_eq!(jumps(2), [Code::Je_rel8_64, Code::Jmp_rel8_64]);
    assert_eq!(jumps(40), [Code::Je_rel32_64, Code::Jmp_rel32_64]);
}
