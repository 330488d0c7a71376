//! A reference model of the eBPF instruction set, written from RFC 9669 (ALU, ALU64, JMP, JMP32
//! with the ISA v4 additions — signed division and modulo, sign-extending moves and loads,
//! `bswap`, `gotol` —, LD_IMM64, LDX/ST/STX in MEM mode, the atomic operations, program-local
//! calls and EXIT), independent of any VM.
//!
//! Memory: eight 512-byte stack frames (the program's and one per nested local call; R10 points
//! at the top of the current one, a call's frame lies right below its caller's), and one buffer
//! R1 points at (R1 is 0 when the buffer is empty). Addresses are fictitious but consistent, so
//! programs may move pointers around; any access outside the buffer and the frames of the calls
//! in progress is an error, and so is a load of stack bytes the current run has not written (RFC
//! 9669 gives the stack no initial contents, and a call's frame does not keep a previous call's).

use super::asm::{
    ATOMIC, CALL_LOCAL, Insn, MEM, MEMSX, MODE_MASK, X, alu, atomic, class, jmp, size,
};

/// Bytes of one stack frame.
pub const STACK_SIZE: usize = 512;
/// Frames, the program's included (a 9th is an error).
pub const MAX_FRAMES: usize = 8;
/// Address of the first byte of the program's frame (R10 = `STACK_BASE + STACK_SIZE`; the frame
/// of call depth `d` starts at `STACK_BASE - d * STACK_SIZE`).
pub const STACK_BASE: u64 = 0x0000_1000_0000_0000;
/// Address of the first byte of the deepest frame.
const STACK_LOW: u64 = STACK_BASE + STACK_SIZE as u64 - (MAX_FRAMES * STACK_SIZE) as u64;
/// Address of the first byte of the buffer R1 points at.
pub const MEM_BASE: u64 = 0x0000_2000_0000_0000;
/// Instructions executed before the model gives up (forward-only programs stay far below).
const STEP_LIMIT: usize = 1_000_000;

/// Why the model stopped without reaching the final `exit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelError {
    /// An opcode (or a field of it) outside what RFC 9669 defines, or that the model does not
    /// implement (helper calls, legacy packet loads, pseudo LD_IMM64), or a write to R10.
    Unsupported { pc: usize, opc: u8 },
    /// A memory access outside the buffer and the live stack frames.
    OutOfBounds { pc: usize, addr: u64, len: usize },
    /// A load of stack bytes not written since their frame was entered.
    Uninitialized { pc: usize, addr: u64, len: usize },
    /// An atomic operation on an address that is not a multiple of its size.
    Misaligned { pc: usize, addr: u64, len: usize },
    /// A local call from the 8th frame.
    CallDepth { pc: usize },
    /// The program counter left the program.
    BadPc(usize),
    /// More than `STEP_LIMIT` instructions.
    StepLimit,
}

/// What a local call saves: where to return, and the caller's R6–R9 (callee-saved in the BPF
/// calling convention, which RFC 9669's companion ABI document defines) and R10.
#[derive(Debug, Clone, Copy)]
struct Frame {
    return_pc: usize,
    saved: [u64; 5],
}

/// Registers and stack after a run (the buffer is the caller's), with counters showing what the
/// run exercised.
#[derive(Debug, Clone)]
pub struct Machine {
    pub regs: [u64; 11],
    /// All frames, the deepest first (byte `i` is at address `STACK_LOW + i`).
    pub stack: Vec<u8>,
    /// Which stack bytes were written since their frame was entered.
    written: Vec<bool>,
    frames: Vec<Frame>,
    /// Instructions executed (LD_IMM64 counts once).
    pub steps: usize,
    /// Conditional jumps taken and not taken (to check the generator's programs branch both ways).
    pub taken: usize,
    pub not_taken: usize,
    /// Local calls made, and the most frames in use at once.
    pub calls: usize,
    pub max_frames: usize,
    /// `cmpxchg`s that found R0's value (and stored) and that did not.
    pub cmpxchg_hits: usize,
    pub cmpxchg_misses: usize,
    /// Instructions executed by opcode and [`variant`].
    pub coverage: Box<[[u32; 16]; 256]>,
}

/// What distinguishes instructions sharing an opcode: the atomic operation (index in
/// `atomic::ALL`), the `off` of ALU operations (0, 1, 8, 16, 32 → 0–4), the `src` of a call.
pub fn variant(insn: &Insn) -> usize {
    match insn.opc & 0x07 {
        class::STX if insn.opc & MODE_MASK == ATOMIC => atomic::ALL
            .iter()
            .position(|&op| op == insn.imm)
            .unwrap_or(15),
        class::ALU | class::ALU64 => match insn.off {
            0 => 0,
            1 => 1,
            8 => 2,
            16 => 3,
            32 => 4,
            _ => 15,
        },
        class::JMP if insn.opc & 0xf0 == jmp::CALL => usize::from(insn.src.min(15)),
        _ => 0,
    }
}

/// The top (R10) of the frame of call depth `depth`.
fn frame_top(depth: usize) -> u64 {
    STACK_BASE + STACK_SIZE as u64 - (depth * STACK_SIZE) as u64
}

impl Machine {
    /// The stack bytes (as indices into `stack`) or buffer bytes `addr..addr + len`.
    fn locate(
        &self,
        mem_len: usize,
        addr: u64,
        len: usize,
    ) -> Option<(bool, std::ops::Range<usize>)> {
        let within = |base: u64, region: u64| {
            let start = addr.checked_sub(base)?;
            let end = start.checked_add(len as u64)?;
            (end <= region).then_some(start as usize..end as usize)
        };
        // Live frames: from the bottom of the current one to the top of the program's.
        let low = frame_top(self.frames.len()) - STACK_SIZE as u64;
        if let Some(range) = within(low, frame_top(0) - low) {
            let shift = (low - STACK_LOW) as usize;
            return Some((true, range.start + shift..range.end + shift));
        }
        within(MEM_BASE, mem_len as u64).map(|range| (false, range))
    }

    fn load(
        &mut self,
        mem: &mut [u8],
        pc: usize,
        addr: u64,
        len: usize,
    ) -> Result<u64, ModelError> {
        let (in_stack, range) = self
            .locate(mem.len(), addr, len)
            .ok_or(ModelError::OutOfBounds { pc, addr, len })?;
        let bytes = if in_stack {
            if !self.written[range.clone()].iter().all(|&w| w) {
                return Err(ModelError::Uninitialized { pc, addr, len });
            }
            &self.stack[range]
        } else {
            &mem[range]
        };
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
        let (in_stack, range) = self
            .locate(mem.len(), addr, len)
            .ok_or(ModelError::OutOfBounds { pc, addr, len })?;
        let bytes = if in_stack {
            self.written[range.clone()].fill(true);
            &mut self.stack[range]
        } else {
            &mut mem[range]
        };
        bytes.copy_from_slice(&value.to_le_bytes()[..len]);
        Ok(())
    }
}

/// `imm` sign-extended to 64 bits (RFC 9669 §3.3: ALU64 and JMP operands).
fn sext(imm: i32) -> u64 {
    i64::from(imm) as u64
}

/// RFC 9669 §4.1, 64-bit; `off` 1 selects SDIV/SMOD, 8/16/32 MOVSX, anything else nonzero is
/// undefined.
fn alu64(op: u8, off: i16, dst: u64, src: u64) -> Option<u64> {
    Some(match (op, off) {
        (alu::ADD, 0) => dst.wrapping_add(src),
        (alu::SUB, 0) => dst.wrapping_sub(src),
        (alu::MUL, 0) => dst.wrapping_mul(src),
        (alu::DIV, 0) => dst.checked_div(src).unwrap_or(0),
        // "dst = (src != 0) ? (dst s/ src) : 0", overflow wrapping (INT_MIN / -1 = INT_MIN).
        (alu::DIV, 1) if src == 0 => 0,
        (alu::DIV, 1) => (dst as i64).wrapping_div(src as i64) as u64,
        (alu::OR, 0) => dst | src,
        (alu::AND, 0) => dst & src,
        (alu::LSH, 0) => dst << (src & 63),
        (alu::RSH, 0) => dst >> (src & 63),
        (alu::NEG, 0) => dst.wrapping_neg(),
        (alu::MOD, 0) => dst.checked_rem(src).unwrap_or(dst),
        // "dst = (src != 0) ? (dst s% src) : dst", truncated (C) modulo; INT_MIN % -1 = 0.
        (alu::MOD, 1) if src == 0 => dst,
        (alu::MOD, 1) => (dst as i64).wrapping_rem(src as i64) as u64,
        (alu::XOR, 0) => dst ^ src,
        (alu::MOV, 0) => src,
        (alu::MOV, 8) => i64::from(src as i8) as u64,
        (alu::MOV, 16) => i64::from(src as i16) as u64,
        (alu::MOV, 32) => i64::from(src as i32) as u64,
        (alu::ARSH, 0) => ((dst as i64) >> (src & 63)) as u64,
        _ => return None,
    })
}

/// RFC 9669 §4.1, 32-bit: operands are the low 32 bits, the result is zero-extended (so modulo
/// by zero leaves the low 32 bits of dst and clears the upper half); MOVSX exists for 8 and 16
/// bits only (sign-extended to 32, then zero-extended).
fn alu32(op: u8, off: i16, dst: u32, src: u32) -> Option<u32> {
    Some(match (op, off) {
        (alu::ADD, 0) => dst.wrapping_add(src),
        (alu::SUB, 0) => dst.wrapping_sub(src),
        (alu::MUL, 0) => dst.wrapping_mul(src),
        (alu::DIV, 0) => dst.checked_div(src).unwrap_or(0),
        (alu::DIV, 1) if src == 0 => 0,
        (alu::DIV, 1) => (dst as i32).wrapping_div(src as i32) as u32,
        (alu::OR, 0) => dst | src,
        (alu::AND, 0) => dst & src,
        (alu::LSH, 0) => dst << (src & 31),
        (alu::RSH, 0) => dst >> (src & 31),
        (alu::NEG, 0) => dst.wrapping_neg(),
        (alu::MOD, 0) => dst.checked_rem(src).unwrap_or(dst),
        (alu::MOD, 1) if src == 0 => dst,
        (alu::MOD, 1) => (dst as i32).wrapping_rem(src as i32) as u32,
        (alu::XOR, 0) => dst ^ src,
        (alu::MOV, 0) => src,
        (alu::MOV, 8) => i32::from(src as i8) as u32,
        (alu::MOV, 16) => i32::from(src as i16) as u32,
        (alu::ARSH, 0) => ((dst as i32) >> (src & 31)) as u32,
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

/// RFC 9669 §4.1.1 byte swaps (host is little-endian: `le` only truncates; ALU64 swaps
/// unconditionally, its source bit reserved).
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

/// RFC 9669 §5.3: the new memory value of a simple atomic `op` (without `FETCH`).
fn atomic_result(op: i32, old: u64, src: u64) -> Option<u64> {
    Some(match op {
        atomic::ADD => old.wrapping_add(src),
        atomic::OR => old | src,
        atomic::AND => old & src,
        atomic::XOR => old ^ src,
        _ => return None,
    })
}

/// The slot `offset` slots after the one following `pc`, if it is inside the program.
fn target(pc: usize, offset: i64, count: usize) -> Result<usize, ModelError> {
    let next = pc as i64 + 1 + offset;
    if (0..count as i64).contains(&next) {
        Ok(next as usize)
    } else {
        Err(ModelError::BadPc(next.max(0) as usize))
    }
}

/// Runs `code` with R1 pointing at `mem`; returns R0 at the program's `exit` and the final
/// machine.
pub fn run(code: &[u8], mem: &mut [u8]) -> Result<(u64, Machine), ModelError> {
    let count = code.len() / 8;
    let mut m = Machine {
        regs: [0; 11],
        stack: vec![0; MAX_FRAMES * STACK_SIZE],
        written: vec![false; MAX_FRAMES * STACK_SIZE],
        frames: Vec::new(),
        steps: 0,
        taken: 0,
        not_taken: 0,
        calls: 0,
        max_frames: 1,
        cmpxchg_hits: 0,
        cmpxchg_misses: 0,
        coverage: Box::new([[0; 16]; 256]),
    };
    m.regs[1] = if mem.is_empty() { 0 } else { MEM_BASE };
    m.regs[10] = frame_top(0);
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
        m.coverage[usize::from(opc)][variant(&insn)] += 1;
        let (d, s) = (usize::from(dst), usize::from(src));
        if d > 10 || s > 10 {
            return Err(unsupported);
        }
        let op = opc & 0xf0;
        let mut next = pc + 1;
        match opc & 0x07 {
            class::ALU64 | class::ALU => {
                let is64 = opc & 0x07 == class::ALU64;
                let by_reg = opc & X != 0;
                // R10 is read-only; NEG has no register form, MOVSX no immediate form (§4.1).
                if d == 10 || (op == alu::NEG && by_reg) || (op == alu::MOV && off != 0 && !by_reg)
                {
                    return Err(unsupported);
                }
                m.regs[d] = if op == alu::END {
                    if off != 0 {
                        return Err(unsupported);
                    }
                    end(opc, m.regs[d], imm).ok_or(unsupported)?
                } else if is64 {
                    let operand = if by_reg { m.regs[s] } else { sext(imm) };
                    alu64(op, off, m.regs[d], operand).ok_or(unsupported)?
                } else {
                    let operand = if by_reg { m.regs[s] as u32 } else { imm as u32 };
                    u64::from(alu32(op, off, m.regs[d] as u32, operand).ok_or(unsupported)?)
                };
            }
            class::JMP | class::JMP32 => {
                let is64 = opc & 0x07 == class::JMP;
                match op {
                    jmp::EXIT if opc == class::JMP | jmp::EXIT => match m.frames.pop() {
                        None => return Ok((m.regs[0], m)),
                        Some(frame) => {
                            m.regs[6..=10].copy_from_slice(&frame.saved);
                            next = frame.return_pc;
                        }
                    },
                    jmp::CALL if opc == class::JMP | jmp::CALL && src == CALL_LOCAL => {
                        // "referenced by offset from the call instruction, similar to JA".
                        next = target(pc, i64::from(imm), count)?;
                        if m.frames.len() + 1 >= MAX_FRAMES {
                            return Err(ModelError::CallDepth { pc });
                        }
                        let mut saved = [0; 5];
                        saved.copy_from_slice(&m.regs[6..=10]);
                        m.frames.push(Frame {
                            return_pc: pc + 1,
                            saved,
                        });
                        let depth = m.frames.len();
                        m.regs[10] = frame_top(depth);
                        // A fresh frame: nothing in it has been written by this call.
                        let low = (frame_top(depth) - STACK_SIZE as u64 - STACK_LOW) as usize;
                        m.written[low..low + STACK_SIZE].fill(false);
                        m.calls += 1;
                        m.max_frames = m.max_frames.max(depth + 1);
                    }
                    jmp::JA if opc == class::JMP | jmp::JA => {
                        next = target(pc, i64::from(off), count)?;
                    }
                    jmp::JA if opc == class::JMP32 | jmp::JA => {
                        next = target(pc, i64::from(imm), count)?;
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
                            next = target(pc, i64::from(off), count)?;
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
            class::LDX if opc & MODE_MASK == MEM && d < 10 => {
                let addr = m.regs[s].wrapping_add(sext(off.into()));
                m.regs[d] = m.load(mem, pc, addr, size::bytes(opc & 0x18))?;
            }
            // §5.2: B, H and W only.
            class::LDX if opc & MODE_MASK == MEMSX && opc & 0x18 != size::DW && d < 10 => {
                let addr = m.regs[s].wrapping_add(sext(off.into()));
                let len = size::bytes(opc & 0x18);
                let value = m.load(mem, pc, addr, len)?;
                let unused = 64 - 8 * len as u32;
                m.regs[d] = (((value << unused) as i64) >> unused) as u64;
            }
            class::ST if opc & MODE_MASK == MEM => {
                let addr = m.regs[d].wrapping_add(sext(off.into()));
                m.store(mem, pc, addr, size::bytes(opc & 0x18), sext(imm))?;
            }
            class::STX if opc & MODE_MASK == MEM => {
                let addr = m.regs[d].wrapping_add(sext(off.into()));
                let value = m.regs[s];
                m.store(mem, pc, addr, size::bytes(opc & 0x18), value)?;
            }
            // §5.3: W and DW only.
            class::STX if opc & MODE_MASK == ATOMIC && matches!(opc & 0x18, size::W | size::DW) => {
                let len = size::bytes(opc & 0x18);
                let mask = if len == 4 {
                    u64::from(u32::MAX)
                } else {
                    u64::MAX
                };
                let addr = m.regs[d].wrapping_add(sext(off.into()));
                // Writes to src (FETCH) or R0 (CMPXCHG, src untouched); R10 is read-only.
                let fetch = imm & atomic::FETCH != 0;
                if fetch && imm != atomic::CMPXCHG && s == 10 {
                    return Err(unsupported);
                }
                let src_value = m.regs[s] & mask;
                let old = m.load(mem, pc, addr, len)?;
                if !addr.is_multiple_of(len as u64) {
                    return Err(ModelError::Misaligned { pc, addr, len });
                }
                match imm {
                    atomic::XCHG => {
                        m.store(mem, pc, addr, len, src_value)?;
                        m.regs[s] = old;
                    }
                    atomic::CMPXCHG => {
                        // Compared with R0 at the operation's width; the old value, zero-extended,
                        // goes to R0 either way.
                        if old == m.regs[0] & mask {
                            m.cmpxchg_hits += 1;
                            m.store(mem, pc, addr, len, src_value)?;
                        } else {
                            m.cmpxchg_misses += 1;
                        }
                        m.regs[0] = old;
                    }
                    _ => {
                        let new = atomic_result(imm & !atomic::FETCH, old, src_value)
                            .ok_or(unsupported)?;
                        m.store(mem, pc, addr, len, new & mask)?;
                        if fetch {
                            m.regs[s] = old;
                        }
                    }
                }
            }
            _ => return Err(unsupported),
        }
        pc = next;
        if pc >= count {
            return Err(ModelError::BadPc(pc));
        }
    }
    Err(ModelError::StepLimit)
}
