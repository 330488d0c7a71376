//! Instruction builders shared by the interpreter's and the JIT's targeted cases.

#![allow(dead_code)]

use axebpf_vm::insn::{Insn, LdImm64, alu, class, jmp, mode, size, source};

pub fn alu64_imm(op: u8, dst: u8, imm: i32) -> Insn {
    Insn::new(class::ALU64 | op | source::K, dst, 0, 0, imm)
}
pub fn alu64_reg(op: u8, dst: u8, src: u8) -> Insn {
    Insn::new(class::ALU64 | op | source::X, dst, src, 0, 0)
}
pub fn alu32_imm(op: u8, dst: u8, imm: i32) -> Insn {
    Insn::new(class::ALU | op | source::K, dst, 0, 0, imm)
}
pub fn alu32_reg(op: u8, dst: u8, src: u8) -> Insn {
    Insn::new(class::ALU | op | source::X, dst, src, 0, 0)
}
/// Signed division/modulo (`off = 1`) or sign-extending move (`off = 8/16/32`).
pub fn alu_off(cls: u8, op: u8, x: bool, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    let s = if x { source::X } else { source::K };
    Insn::new(cls | op | s, dst, src, off, imm)
}
pub fn lddw(dst: u8, value: u64) -> Vec<Insn> {
    LdImm64::split(dst, value).to_vec()
}
pub fn ldx(sz: u8, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(class::LDX | mode::MEM | sz, dst, src, off, 0)
}
pub fn ldsx(sz: u8, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(class::LDX | mode::MEMSX | sz, dst, src, off, 0)
}
pub fn st(sz: u8, dst: u8, off: i16, imm: i32) -> Insn {
    Insn::new(class::ST | mode::MEM | sz, dst, 0, off, imm)
}
pub fn stx(sz: u8, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(class::STX | mode::MEM | sz, dst, src, off, 0)
}
pub fn atomic_op(sz: u8, dst: u8, src: u8, off: i16, op: i32) -> Insn {
    Insn::new(class::STX | mode::ATOMIC | sz, dst, src, off, op)
}
pub fn jmp_imm(op: u8, dst: u8, imm: i32, off: i16) -> Insn {
    Insn::new(class::JMP | op | source::K, dst, 0, off, imm)
}
pub fn jmp_reg(op: u8, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(class::JMP | op | source::X, dst, src, off, 0)
}
pub fn jmp32_imm(op: u8, dst: u8, imm: i32, off: i16) -> Insn {
    Insn::new(class::JMP32 | op | source::K, dst, 0, off, imm)
}
pub fn jmp32_reg(op: u8, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(class::JMP32 | op | source::X, dst, src, off, 0)
}
pub fn ja(off: i16) -> Insn {
    Insn::new(class::JMP | jmp::JA, 0, 0, off, 0)
}
pub fn gotol(imm: i32) -> Insn {
    Insn::new(class::JMP32 | jmp::JA, 0, 0, 0, imm)
}
pub fn call(id: i32) -> Insn {
    Insn::new(class::JMP | jmp::CALL, 0, 0, 0, id)
}
pub fn call_local(rel: i32) -> Insn {
    Insn::new(class::JMP | jmp::CALL, 0, 1, 0, rel)
}
pub fn exit() -> Insn {
    Insn::new(class::JMP | jmp::EXIT, 0, 0, 0, 0)
}
pub fn mov0(src: u8) -> Insn {
    alu64_reg(alu::MOV, 0, src)
}

pub fn code(insns: &[Insn]) -> Vec<u8> {
    insns.iter().flat_map(|i| i.to_bytes()).collect()
}

/// `r1 = counter; r2 = times; r3 = 1; loop: <atomic op> *(u64 *)(r1 + 0), r3; r3 = 1
/// (a fetch overwrote it); r2 -= 1; if r2 != 0 goto loop; r0 = 0; exit`: what two threads run
/// at once to show no increment is lost.
pub fn increment_loop(counter: u64, times: i32, op: i32) -> Vec<u8> {
    let [lo, hi] = LdImm64::split(1, counter);
    code(&[
        lo,
        hi,
        alu64_imm(alu::MOV, 2, times),
        alu64_imm(alu::MOV, 3, 1),
        Insn::new(class::STX | mode::ATOMIC | size::DW, 1, 3, 0, op),
        alu64_imm(alu::MOV, 3, 1),
        alu64_imm(alu::SUB, 2, 1),
        jmp_imm(jmp::JNE, 2, 0, -4),
        alu64_imm(alu::MOV, 0, 0),
        exit(),
    ])
}
