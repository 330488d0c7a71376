//! A tiny eBPF encoder and disassembler following the RFC 9669 encoding (no parsing).
// Each test that includes this module uses its own subset of the builders.
#![allow(dead_code)]

use std::fmt::Write as _;

/// One 8-byte instruction slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub opc: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    pub const fn new(opc: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        Self {
            opc,
            dst,
            src,
            off,
            imm,
        }
    }

    pub fn encode(&self) -> [u8; 8] {
        let o = self.off.to_le_bytes();
        let i = self.imm.to_le_bytes();
        [
            self.opc,
            (self.src << 4) | (self.dst & 0x0f),
            o[0],
            o[1],
            i[0],
            i[1],
            i[2],
            i[3],
        ]
    }

    /// Decodes slot `index` of `code`.
    pub fn decode(code: &[u8], index: usize) -> Option<Self> {
        let b = code.get(index * 8..index * 8 + 8)?;
        Some(Self {
            opc: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        })
    }
}

/// Instruction classes (low 3 bits of the opcode).
pub mod class {
    pub const LD: u8 = 0x00;
    pub const LDX: u8 = 0x01;
    pub const ST: u8 = 0x02;
    pub const STX: u8 = 0x03;
    pub const ALU: u8 = 0x04;
    pub const JMP: u8 = 0x05;
    pub const JMP32: u8 = 0x06;
    pub const ALU64: u8 = 0x07;
}

/// Source bit: immediate (`K`) or register (`X`).
pub const K: u8 = 0x00;
pub const X: u8 = 0x08;

/// Arithmetic operations (high 4 bits).
pub mod alu {
    pub const ADD: u8 = 0x00;
    pub const SUB: u8 = 0x10;
    pub const MUL: u8 = 0x20;
    pub const DIV: u8 = 0x30;
    pub const OR: u8 = 0x40;
    pub const AND: u8 = 0x50;
    pub const LSH: u8 = 0x60;
    pub const RSH: u8 = 0x70;
    pub const NEG: u8 = 0x80;
    pub const MOD: u8 = 0x90;
    pub const XOR: u8 = 0xa0;
    pub const MOV: u8 = 0xb0;
    pub const ARSH: u8 = 0xc0;
    pub const END: u8 = 0xd0;

    /// Every binary operation (everything but NEG and END).
    pub const BINARY: [u8; 12] = [ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, MOD, XOR, MOV, ARSH];
}

/// Jump operations (high 4 bits).
pub mod jmp {
    pub const JA: u8 = 0x00;
    pub const JEQ: u8 = 0x10;
    pub const JGT: u8 = 0x20;
    pub const JGE: u8 = 0x30;
    pub const JSET: u8 = 0x40;
    pub const JNE: u8 = 0x50;
    pub const JSGT: u8 = 0x60;
    pub const JSGE: u8 = 0x70;
    pub const CALL: u8 = 0x80;
    pub const EXIT: u8 = 0x90;
    pub const JLT: u8 = 0xa0;
    pub const JLE: u8 = 0xb0;
    pub const JSLT: u8 = 0xc0;
    pub const JSLE: u8 = 0xd0;

    /// Every conditional jump.
    pub const CONDITIONAL: [u8; 11] = [JEQ, JGT, JGE, JSET, JNE, JSGT, JSGE, JLT, JLE, JSLT, JSLE];
}

/// Load/store sizes (bits 3–4).
pub mod size {
    pub const W: u8 = 0x00;
    pub const H: u8 = 0x08;
    pub const B: u8 = 0x10;
    pub const DW: u8 = 0x18;

    pub const ALL: [u8; 4] = [B, H, W, DW];

    /// Width in bytes.
    pub fn bytes(size: u8) -> usize {
        match size {
            B => 1,
            H => 2,
            W => 4,
            _ => 8,
        }
    }
}

/// The MEM mode (bits 5–7) of loads and stores.
pub const MEM: u8 = 0x60;
/// The MEMSX mode: sign-extending loads (LDX only; sizes B, H, W).
pub const MEMSX: u8 = 0x80;
/// The ATOMIC mode: atomic operations (STX only; sizes W, DW), the operation in `imm`.
pub const ATOMIC: u8 = 0xc0;
/// Bits 5–7 of a load/store opcode.
pub const MODE_MASK: u8 = 0xe0;

/// Atomic operations (the `imm` of an `ATOMIC` instruction).
pub mod atomic {
    pub const ADD: i32 = 0x00;
    pub const OR: i32 = 0x40;
    pub const AND: i32 = 0x50;
    pub const XOR: i32 = 0xa0;
    /// Modifier: the old value is written back into `src`.
    pub const FETCH: i32 = 0x01;
    pub const XCHG: i32 = 0xe0 | FETCH;
    pub const CMPXCHG: i32 = 0xf0 | FETCH;

    /// The simple operations (each with or without `FETCH`).
    pub const SIMPLE: [i32; 4] = [ADD, OR, AND, XOR];
    /// Every operation.
    pub const ALL: [i32; 10] = [
        ADD,
        ADD | FETCH,
        OR,
        OR | FETCH,
        AND,
        AND | FETCH,
        XOR,
        XOR | FETCH,
        XCHG,
        CMPXCHG,
    ];
}

/// `src` of a `CALL`: a program-local function (`imm` = slot offset from the next instruction).
pub const CALL_LOCAL: u8 = 1;

pub fn alu64_imm(op: u8, dst: u8, imm: i32) -> Insn {
    Insn::new(class::ALU64 | K | op, dst, 0, 0, imm)
}

pub fn alu64_reg(op: u8, dst: u8, src: u8) -> Insn {
    Insn::new(class::ALU64 | X | op, dst, src, 0, 0)
}

pub fn alu32_imm(op: u8, dst: u8, imm: i32) -> Insn {
    Insn::new(class::ALU | K | op, dst, 0, 0, imm)
}

pub fn alu32_reg(op: u8, dst: u8, src: u8) -> Insn {
    Insn::new(class::ALU | X | op, dst, src, 0, 0)
}

/// `op` with a nonzero `off`: `sdiv`/`smod` (`off` 1), `movsx` (`off` 8/16/32).
pub fn alu_off(cls: u8, op: u8, by_reg: bool, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    let source = if by_reg { X } else { K };
    Insn::new(cls | source | op, dst, src, off, imm)
}

/// `dst = (s<bits>) src` as 64 bits (`is64`), or as 32 bits zero-extended.
pub fn movsx(is64: bool, dst: u8, src: u8, bits: i16) -> Insn {
    let cls = if is64 { class::ALU64 } else { class::ALU };
    alu_off(cls, alu::MOV, true, dst, src, bits, 0)
}

/// `bswap16` / `bswap32` / `bswap64` (`width` in bits).
pub fn bswap(dst: u8, width: i32) -> Insn {
    Insn::new(class::ALU64 | K | alu::END, dst, 0, 0, width)
}

pub fn neg64(dst: u8) -> Insn {
    alu64_imm(alu::NEG, dst, 0)
}

pub fn neg32(dst: u8) -> Insn {
    alu32_imm(alu::NEG, dst, 0)
}

/// `le16` / `le32` / `le64` (`width` in bits).
pub fn le(dst: u8, width: i32) -> Insn {
    Insn::new(class::ALU | K | alu::END, dst, 0, 0, width)
}

/// `be16` / `be32` / `be64` (`width` in bits).
pub fn be(dst: u8, width: i32) -> Insn {
    Insn::new(class::ALU | X | alu::END, dst, 0, 0, width)
}

pub fn jmp_imm(op: u8, dst: u8, imm: i32, off: i16) -> Insn {
    Insn::new(class::JMP | K | op, dst, 0, off, imm)
}

pub fn jmp_reg(op: u8, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(class::JMP | X | op, dst, src, off, 0)
}

pub fn jmp32_imm(op: u8, dst: u8, imm: i32, off: i16) -> Insn {
    Insn::new(class::JMP32 | K | op, dst, 0, off, imm)
}

pub fn jmp32_reg(op: u8, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(class::JMP32 | X | op, dst, src, off, 0)
}

pub fn ja(off: i16) -> Insn {
    Insn::new(class::JMP | jmp::JA, 0, 0, off, 0)
}

/// `gotol +imm` (JMP32 | JA, the offset in `imm`).
pub fn gotol(imm: i32) -> Insn {
    Insn::new(class::JMP32 | jmp::JA, 0, 0, 0, imm)
}

/// A call of the program-local function `rel` slots after the next instruction.
pub fn call_local(rel: i32) -> Insn {
    Insn::new(class::JMP | jmp::CALL, 0, CALL_LOCAL, 0, rel)
}

pub fn exit() -> Insn {
    Insn::new(class::JMP | jmp::EXIT, 0, 0, 0, 0)
}

/// `lddw dst, value` (two slots).
pub fn ld_imm64(dst: u8, value: u64) -> [Insn; 2] {
    [
        Insn::new(class::LD | size::DW, dst, 0, 0, value as u32 as i32),
        Insn::new(0, 0, 0, 0, (value >> 32) as u32 as i32),
    ]
}

/// `dst = *(size *)(src + off)`.
pub fn ldx(sz: u8, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(class::LDX | MEM | sz, dst, src, off, 0)
}

/// `dst = *(signed size *)(src + off)`, sign-extended to 64 bits.
pub fn ldxsx(sz: u8, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(class::LDX | MEMSX | sz, dst, src, off, 0)
}

/// Atomic `op` (an [`atomic`] value) on `*(size *)(dst + off)` with `src`.
pub fn atomic_op(sz: u8, op: i32, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(class::STX | ATOMIC | sz, dst, src, off, op)
}

/// `*(size *)(dst + off) = imm`.
pub fn st(sz: u8, dst: u8, off: i16, imm: i32) -> Insn {
    Insn::new(class::ST | MEM | sz, dst, 0, off, imm)
}

/// `*(size *)(dst + off) = src`.
pub fn stx(sz: u8, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(class::STX | MEM | sz, dst, src, off, 0)
}

pub fn assemble(insns: &[Insn]) -> Vec<u8> {
    // A plain loop: the differential tests assemble ~50,000 programs in debug builds.
    let mut out = Vec::with_capacity(insns.len() * 8);
    for insn in insns {
        out.extend_from_slice(&insn.encode());
    }
    out
}

fn size_name(sz: u8) -> &'static str {
    match sz {
        size::B => "b",
        size::H => "h",
        size::W => "w",
        _ => "dw",
    }
}

fn alu_name(op: u8) -> &'static str {
    match op {
        alu::ADD => "add",
        alu::SUB => "sub",
        alu::MUL => "mul",
        alu::DIV => "div",
        alu::OR => "or",
        alu::AND => "and",
        alu::LSH => "lsh",
        alu::RSH => "rsh",
        alu::NEG => "neg",
        alu::MOD => "mod",
        alu::XOR => "xor",
        alu::MOV => "mov",
        alu::ARSH => "arsh",
        _ => "end",
    }
}

fn jmp_name(op: u8) -> &'static str {
    match op {
        jmp::JA => "ja",
        jmp::JEQ => "jeq",
        jmp::JGT => "jgt",
        jmp::JGE => "jge",
        jmp::JSET => "jset",
        jmp::JNE => "jne",
        jmp::JSGT => "jsgt",
        jmp::JSGE => "jsge",
        jmp::CALL => "call",
        jmp::EXIT => "exit",
        jmp::JLT => "jlt",
        jmp::JLE => "jle",
        jmp::JSLT => "jslt",
        _ => "jsle",
    }
}

fn signed_off(off: i16) -> String {
    if off < 0 {
        format!("-{}", -i32::from(off))
    } else {
        format!("+{off}")
    }
}

/// One instruction in a conventional assembler syntax (`next` is the following slot, for LD_IMM64).
pub fn describe(insn: &Insn, next: Option<&Insn>) -> String {
    let Insn {
        opc,
        dst,
        src,
        off,
        imm,
    } = *insn;
    let op = opc & 0xf0;
    let reg_src = opc & X != 0;
    match opc & 0x07 {
        class::ALU | class::ALU64 => {
            let suffix = if opc & 0x07 == class::ALU64 {
                "64"
            } else {
                "32"
            };
            if op == alu::END {
                let kind = match (opc & 0x07, reg_src) {
                    (class::ALU, false) => "le",
                    (class::ALU, true) => "be",
                    _ => "bswap",
                };
                format!("{kind}{imm} r{dst}")
            } else if op == alu::NEG {
                format!("neg{suffix} r{dst}")
            } else if op == alu::MOV && off != 0 {
                format!("movsx{suffix}_{off} r{dst}, r{src}")
            } else if matches!(op, alu::DIV | alu::MOD) && off != 0 {
                let name = if op == alu::DIV { "sdiv" } else { "smod" };
                if reg_src {
                    format!("{name}{suffix} r{dst}, r{src} (off {off})")
                } else {
                    format!("{name}{suffix} r{dst}, {imm} ({imm:#x}) (off {off})")
                }
            } else if reg_src {
                format!("{}{suffix} r{dst}, r{src}", alu_name(op))
            } else {
                format!("{}{suffix} r{dst}, {imm} ({:#x})", alu_name(op), imm)
            }
        }
        class::JMP | class::JMP32 => {
            let suffix = if opc & 0x07 == class::JMP32 { "32" } else { "" };
            match op {
                jmp::EXIT => "exit".to_string(),
                jmp::CALL if src == CALL_LOCAL => format!("call local {imm:+}"),
                jmp::CALL => format!("call {imm} (src {src})"),
                jmp::JA if opc & 0x07 == class::JMP32 => format!("gotol {imm:+}"),
                jmp::JA => format!("ja{suffix} {}", signed_off(off)),
                _ if reg_src => format!(
                    "{}{suffix} r{dst}, r{src}, {}",
                    jmp_name(op),
                    signed_off(off)
                ),
                _ => format!(
                    "{}{suffix} r{dst}, {imm} ({:#x}), {}",
                    jmp_name(op),
                    imm,
                    signed_off(off)
                ),
            }
        }
        class::LD if opc == (class::LD | size::DW) => {
            let high = next.map_or(0, |n| n.imm as u32);
            let value = u64::from(imm as u32) | (u64::from(high) << 32);
            format!("lddw r{dst}, {value:#x}")
        }
        class::LDX if opc & MODE_MASK == MEMSX => format!(
            "ldxs{} r{dst}, [r{src}{}]",
            size_name(opc & 0x18),
            signed_off(off)
        ),
        class::STX if opc & MODE_MASK == ATOMIC => {
            let name = match imm {
                atomic::XCHG => "xchg".to_string(),
                atomic::CMPXCHG => "cmpxchg".to_string(),
                _ => format!(
                    "{}{}",
                    if imm & atomic::FETCH != 0 {
                        "fetch_"
                    } else {
                        ""
                    },
                    alu_name((imm & !atomic::FETCH) as u8)
                ),
            };
            format!(
                "lock {name}{} [r{dst}{}], r{src}",
                size_name(opc & 0x18),
                signed_off(off)
            )
        }
        class::LDX => format!(
            "ldx{} r{dst}, [r{src}{}]",
            size_name(opc & 0x18),
            signed_off(off)
        ),
        class::ST => format!(
            "st{} [r{dst}{}], {imm}",
            size_name(opc & 0x18),
            signed_off(off)
        ),
        class::STX => format!(
            "stx{} [r{dst}{}], r{src}",
            size_name(opc & 0x18),
            signed_off(off)
        ),
        _ => format!("opcode {opc:#04x} dst r{dst} src r{src} off {off} imm {imm}"),
    }
}

/// The whole program, one numbered line per instruction (LD_IMM64 takes two slots, one line).
pub fn disassemble(code: &[u8]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while let Some(insn) = Insn::decode(code, i) {
        let next = Insn::decode(code, i + 1);
        let _ = writeln!(out, "{i:4}: {}", describe(&insn, next.as_ref()));
        i += if insn.opc == (class::LD | size::DW) {
            2
        } else {
            1
        };
    }
    out
}
