//! A reference model of the eBPF instruction set, written from RFC 9669 (the base ISA: ALU,
//! ALU64, JMP, JMP32, LD_IMM64, LDX/ST/STX in MEM mode, EXIT), independent of rbpf.
//!
//! Memory: a 512-byte stack whose top R10 points at, and one buffer R1 points at (R1 is 0 when the
//! buffer is empty). Addresses are fictitious but consistent, so programs may move pointers
//! around; any access outside the two regions is an error.

use super::asm::{Insn, MEM, X, alu, class, jmp, size};

pub const STACK_SIZE: usize = 512;
/// Address of the first byte of the stack (R10 = `STACK_BASE + STACK_SIZE`).
pub const STACK_BASE: u64 = 0x0000_1000_0000_0000;
/// Address of the first byte of the buffer R1 points at.
pub const MEM_BASE: u64 = 0x0000_2000_0000_0000;
/// Instructions executed before the model gives up (forward-only programs stay far below).
const STEP_LIMIT: usize = 1_000_000;

/// Why the model stopped without reaching `exit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelError {
    /// An opcode outside the subset the model implements.
    Unsupported { pc: usize, opc: u8 },
    /// A memory access outside the stack and the buffer.
    OutOfBounds { pc: usize, addr: u64, len: usize },
    /// The program counter left the program.
    BadPc(usize),
    /// More than `STEP_LIMIT` instructions.
    StepLimit,
}

/// Registers and stack after a run (the buffer is the caller's).
#[derive(Debug, Clone)]
pub struct Machine {
    pub regs: [u64; 11],
    pub stack: [u8; STACK_SIZE],
    /// Instructions executed (LD_IMM64 counts once).
    pub steps: usize,
    /// Conditional jumps taken and not taken (to check the generator's programs branch both ways).
    pub taken: usize,
    pub not_taken: usize,
}

impl Machine {
    fn addr<'a>(
        &'a mut self,
        mem: &'a mut [u8],
        pc: usize,
        addr: u64,
        len: usize,
    ) -> Result<&'a mut [u8], ModelError> {
        let oob = ModelError::OutOfBounds { pc, addr, len };
        let within = |base: u64, region: usize| {
            let start = addr.checked_sub(base)?;
            let end = start.checked_add(len as u64)?;
            (end <= region as u64).then_some(start as usize..end as usize)
        };
        if let Some(range) = within(STACK_BASE, STACK_SIZE) {
            return Ok(&mut self.stack[range]);
        }
        if let Some(range) = within(MEM_BASE, mem.len()) {
            return Ok(&mut mem[range]);
        }
        Err(oob)
    }

    fn load(
        &mut self,
        mem: &mut [u8],
        pc: usize,
        addr: u64,
        len: usize,
    ) -> Result<u64, ModelError> {
        let bytes = self.addr(mem, pc, addr, len)?;
        let mut value = [0u8; 8];
        value[..len].copy_from_slice(bytes);
        Ok(u64::from_le_bytes(value))
    }

    fn store(
        &mut self,
        mem: &mut [u8],
        pc: usize,
        addr: u64,
        len: usize,
        value: u64,
    ) -> Result<(), ModelError> {
        let bytes = self.addr(mem, pc, addr, len)?;
        bytes.copy_from_slice(&value.to_le_bytes()[..len]);
        Ok(())
    }
}

/// `imm` sign-extended to 64 bits (RFC 9669 §3.3: ALU64 and JMP operands).
fn sext(imm: i32) -> u64 {
    i64::from(imm) as u64
}

/// RFC 9669 §4.1, 64-bit.
fn alu64(op: u8, dst: u64, src: u64) -> Option<u64> {
    Some(match op {
        alu::ADD => dst.wrapping_add(src),
        alu::SUB => dst.wrapping_sub(src),
        alu::MUL => dst.wrapping_mul(src),
        alu::DIV => dst.checked_div(src).unwrap_or(0),
        alu::OR => dst | src,
        alu::AND => dst & src,
        alu::LSH => dst << (src & 63),
        alu::RSH => dst >> (src & 63),
        alu::NEG => dst.wrapping_neg(),
        alu::MOD => dst.checked_rem(src).unwrap_or(dst),
        alu::XOR => dst ^ src,
        alu::MOV => src,
        alu::ARSH => ((dst as i64) >> (src & 63)) as u64,
        _ => return None,
    })
}

/// RFC 9669 §4.1, 32-bit: operands are the low 32 bits, the result is zero-extended (so modulo
/// by zero leaves the low 32 bits of dst and clears the upper half).
fn alu32(op: u8, dst: u32, src: u32) -> Option<u32> {
    Some(match op {
        alu::ADD => dst.wrapping_add(src),
        alu::SUB => dst.wrapping_sub(src),
        alu::MUL => dst.wrapping_mul(src),
        alu::DIV => dst.checked_div(src).unwrap_or(0),
        alu::OR => dst | src,
        alu::AND => dst & src,
        alu::LSH => dst << (src & 31),
        alu::RSH => dst >> (src & 31),
        alu::NEG => dst.wrapping_neg(),
        alu::MOD => dst.checked_rem(src).unwrap_or(dst),
        alu::XOR => dst ^ src,
        alu::MOV => src,
        alu::ARSH => ((dst as i32) >> (src & 31)) as u32,
        _ => return None,
    })
}

/// RFC 9669 §4.2 conditions; `signed` operands are already sign-correct for the width.
fn condition(op: u8, a: u64, b: u64, sa: i64, sb: i64) -> Option<bool> {
    Some(match op {
        jmp::JEQ => a == b,
        jmp::JGT => a > b,
        jmp::JGE => a >= b,
        jmp::JSET => a & b != 0,
        jmp::JNE => a != b,
        jmp::JSGT => sa > sb,
        jmp::JSGE => sa >= sb,
        jmp::JLT => a < b,
        jmp::JLE => a <= b,
        jmp::JSLT => sa < sb,
        jmp::JSLE => sa <= sb,
        _ => return None,
    })
}

/// RFC 9669 §4.1.1 byte swaps (host is little-endian: `le` only truncates).
fn end(opc: u8, value: u64, width: i32) -> Option<u64> {
    let to_be = opc & X != 0;
    Some(match (opc & 0x07, to_be, width) {
        (class::ALU, false, 16) => u64::from(value as u16),
        (class::ALU, false, 32) => u64::from(value as u32),
        (class::ALU, false, 64) => value,
        (class::ALU, true, 16) | (class::ALU64, false, 16) => {
            u64::from((value as u16).swap_bytes())
        }
        (class::ALU, true, 32) | (class::ALU64, false, 32) => {
            u64::from((value as u32).swap_bytes())
        }
        (class::ALU, true, 64) | (class::ALU64, false, 64) => value.swap_bytes(),
        _ => return None,
    })
}

/// Runs `code` with R1 pointing at `mem`; returns R0 at `exit` and the final machine.
pub fn run(code: &[u8], mem: &mut [u8]) -> Result<(u64, Machine), ModelError> {
    let count = code.len() / 8;
    let mut m = Machine {
        regs: [0; 11],
        stack: [0; STACK_SIZE],
        steps: 0,
        taken: 0,
        not_taken: 0,
    };
    m.regs[1] = if mem.is_empty() { 0 } else { MEM_BASE };
    m.regs[10] = STACK_BASE + STACK_SIZE as u64;
    let mut pc = 0usize;
    for _ in 0..STEP_LIMIT {
        let insn = Insn::decode(code, pc).ok_or(ModelError::BadPc(pc))?;
        let Insn {
            opc,
            dst,
            src,
            off,
            imm,
        } = insn;
        let unsupported = ModelError::Unsupported { pc, opc };
        m.steps += 1;
        let (d, s) = (usize::from(dst), usize::from(src));
        if d > 10 || s > 10 {
            return Err(unsupported);
        }
        let op = opc & 0xf0;
        let mut next = pc + 1;
        match opc & 0x07 {
            class::ALU64 | class::ALU => {
                let is64 = opc & 0x07 == class::ALU64;
                // Signed division / sign-extending moves (ISA v4, `off != 0`) are not modelled.
                if d == 10 || (off != 0 && matches!(op, alu::DIV | alu::MOD | alu::MOV)) {
                    return Err(unsupported);
                }
                m.regs[d] = if op == alu::END {
                    end(opc, m.regs[d], imm).ok_or(unsupported)?
                } else if is64 {
                    let operand = if opc & X != 0 { m.regs[s] } else { sext(imm) };
                    alu64(op, m.regs[d], operand).ok_or(unsupported)?
                } else {
                    let operand = if opc & X != 0 {
                        m.regs[s] as u32
                    } else {
                        imm as u32
                    };
                    u64::from(alu32(op, m.regs[d] as u32, operand).ok_or(unsupported)?)
                };
            }
            class::JMP | class::JMP32 => {
                let is64 = opc & 0x07 == class::JMP;
                match op {
                    jmp::EXIT if opc == class::JMP | jmp::EXIT => return Ok((m.regs[0], m)),
                    jmp::JA if opc == class::JMP | jmp::JA => {
                        next = (next as i64 + i64::from(off)) as usize;
                    }
                    jmp::JA if opc == class::JMP32 | jmp::JA => {
                        next = (next as i64 + i64::from(imm)) as usize;
                    }
                    _ => {
                        let (a, b, sa, sb) = if is64 {
                            let b = if opc & X != 0 { m.regs[s] } else { sext(imm) };
                            (m.regs[d], b, m.regs[d] as i64, b as i64)
                        } else {
                            let a = m.regs[d] as u32;
                            let b = if opc & X != 0 {
                                m.regs[s] as u32
                            } else {
                                imm as u32
                            };
                            (
                                u64::from(a),
                                u64::from(b),
                                i64::from(a as i32),
                                i64::from(b as i32),
                            )
                        };
                        if condition(op, a, b, sa, sb).ok_or(unsupported)? {
                            m.taken += 1;
                            next = (next as i64 + i64::from(off)) as usize;
                        } else {
                            m.not_taken += 1;
                        }
                    }
                }
            }
            class::LD if opc == class::LD | size::DW && src == 0 && d < 10 => {
                let high = Insn::decode(code, pc + 1).ok_or(ModelError::BadPc(pc + 1))?;
                m.regs[d] = u64::from(imm as u32) | (u64::from(high.imm as u32) << 32);
                next = pc + 2;
            }
            class::LDX if opc & 0xe0 == MEM && d < 10 => {
                let addr = m.regs[s].wrapping_add(i64::from(off) as u64);
                m.regs[d] = m.load(mem, pc, addr, size::bytes(opc & 0x18))?;
            }
            class::ST if opc & 0xe0 == MEM => {
                let addr = m.regs[d].wrapping_add(i64::from(off) as u64);
                m.store(mem, pc, addr, size::bytes(opc & 0x18), sext(imm))?;
            }
            class::STX if opc & 0xe0 == MEM => {
                let addr = m.regs[d].wrapping_add(i64::from(off) as u64);
                let value = m.regs[s];
                m.store(mem, pc, addr, size::bytes(opc & 0x18), value)?;
            }
            _ => return Err(unsupported),
        }
        if next >= count {
            return Err(ModelError::BadPc(next));
        }
        pc = next;
    }
    Err(ModelError::StepLimit)
}
