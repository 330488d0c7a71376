//! One instruction as text, in the syntax the verifier's corpus is written in (and its
//! assembler reads): `add64 r1, 5`, `ldxw r2, [r1+16]`, `stxdw [r10-8], r2`, `jeq r0, 0, +3`,
//! `lddw r1, map:counts`, `call map_lookup_elem`, `exit`.

use alloc::format;
use alloc::string::String;

use crate::insn::{Insn, class};

/// Names of the ALU operations, by `operation >> 4`.
pub const ALU_NAMES: [&str; 14] = [
    "add", "sub", "mul", "div", "or", "and", "lsh", "rsh", "neg", "mod", "xor", "mov", "arsh",
    "end",
];

/// Names of the jump operations, by `operation >> 4`.
pub const JMP_NAMES: [&str; 14] = [
    "ja", "jeq", "jgt", "jge", "jset", "jne", "jsgt", "jsge", "call", "exit", "jlt", "jle", "jslt",
    "jsle",
];

/// Load/store width suffix by size bits.
pub fn size_suffix(opcode: u8) -> &'static str {
    match opcode & 0x18 {
        0x00 => "w",
        0x08 => "h",
        0x10 => "b",
        _ => "dw",
    }
}

fn signed(off: i64) -> String {
    if off < 0 {
        format!("-{}", off.unsigned_abs())
    } else {
        format!("+{off}")
    }
}

/// Disassembles `insn`; `next` is the following slot (the high half of an LD_IMM64);
/// `map_name` names a map handle, `helper_name` a helper id, when known.
pub fn disassemble(
    insn: &Insn,
    next: Option<&Insn>,
    map_name: &dyn Fn(u64) -> Option<String>,
    helper_name: &dyn Fn(u32) -> Option<&'static str>,
) -> String {
    let Insn {
        opcode,
        dst,
        src,
        off,
        imm,
    } = *insn;
    let operation = usize::from(opcode >> 4);
    let reg_source = opcode & 0x08 != 0;
    match insn.class() {
        class::ALU | class::ALU64 if operation < ALU_NAMES.len() => {
            let width = if insn.class() == class::ALU64 {
                "64"
            } else {
                "32"
            };
            match operation {
                13 if insn.class() == class::ALU64 && reg_source => {
                    format!(".insn {opcode:#04x}, r{dst}, r{src}, {off}, {imm}")
                }
                3 | 9 if off == 1 => {
                    let name = if operation == 3 { "sdiv" } else { "smod" };
                    if reg_source {
                        format!("{name}{width} r{dst}, r{src}")
                    } else {
                        format!("{name}{width} r{dst}, {imm}")
                    }
                }
                11 if off != 0 && reg_source && imm == 0 => {
                    format!("movsx{width} r{dst}, r{src}, {off}")
                }
                _ if off != 0 && operation != 13 => {
                    format!(".insn {opcode:#04x}, r{dst}, r{src}, {off}, {imm}")
                }
                8 => format!("neg{width} r{dst}"),
                13 => {
                    let kind = match (insn.class(), reg_source) {
                        (class::ALU, false) => "le",
                        (class::ALU, true) => "be",
                        _ => "bswap",
                    };
                    format!("{kind}{imm} r{dst}")
                }
                _ if reg_source => format!("{}{width} r{dst}, r{src}", ALU_NAMES[operation]),
                _ => format!("{}{width} r{dst}, {imm}", ALU_NAMES[operation]),
            }
        }
        class::JMP | class::JMP32 if operation < JMP_NAMES.len() => {
            let width = if insn.class() == class::JMP32 {
                "32"
            } else {
                ""
            };
            match operation {
                9 => String::from("exit"),
                8 if src == 1 => format!("call pc{}", signed(i64::from(imm))),
                8 => match helper_name(imm as u32) {
                    Some(name) => format!("call {name}"),
                    None => format!("call {imm}"),
                },
                0 if insn.class() == class::JMP32 && off == 0 => {
                    format!("ja32 {}", signed(i64::from(imm)))
                }
                0 if insn.class() == class::JMP32 => {
                    format!(".insn {opcode:#04x}, r{dst}, r{src}, {off}, {imm}")
                }
                0 => format!("ja {}", signed(i64::from(off))),
                _ if reg_source => format!(
                    "{}{width} r{dst}, r{src}, {}",
                    JMP_NAMES[operation],
                    signed(i64::from(off))
                ),
                _ => format!(
                    "{}{width} r{dst}, {imm}, {}",
                    JMP_NAMES[operation],
                    signed(i64::from(off))
                ),
            }
        }
        class::LD if opcode == crate::insn::op::LD_IMM64 && next.is_some() => {
            let high = next.map_or(0, |n| n.imm as u32);
            let value = u64::from(imm as u32) | (u64::from(high) << 32);
            if src == 1 {
                match map_name(value) {
                    Some(name) => format!("lddw r{dst}, map:{name}"),
                    None => format!("lddw r{dst}, map:#{value}"),
                }
            } else {
                format!("lddw r{dst}, {value:#x}")
            }
        }
        class::LDX if opcode & 0xe0 == 0x60 => format!(
            "ldx{} r{dst}, [r{src}{}]",
            size_suffix(opcode),
            signed(i64::from(off))
        ),
        class::LDX if opcode & 0xe0 == 0x80 && opcode & 0x18 != 0x18 => format!(
            "ldxs{} r{dst}, [r{src}{}]",
            size_suffix(opcode),
            signed(i64::from(off))
        ),
        class::STX
            if opcode & 0xe0 == 0xc0
                && matches!(opcode & 0x18, 0x00 | 0x18)
                && super::cfg::atomic_op(imm).is_some() =>
        {
            let (name, _) = super::cfg::atomic_op(imm).unwrap_or(("?", false));
            let width = if opcode & 0x18 == 0x18 { 64 } else { 32 };
            format!(
                "atomic_{name}{width} [r{dst}{}], r{src}",
                signed(i64::from(off))
            )
        }
        0x02 if opcode & 0xe0 == 0x60 => format!(
            "st{} [r{dst}{}], {imm}",
            size_suffix(opcode),
            signed(i64::from(off))
        ),
        class::STX if opcode & 0xe0 == 0x60 => format!(
            "stx{} [r{dst}{}], r{src}",
            size_suffix(opcode),
            signed(i64::from(off))
        ),
        _ => format!(".insn {opcode:#04x}, r{dst}, r{src}, {off}, {imm}"),
    }
}
