//! Makes rbpf 0.4.1 compute what RFC 9669 says, in both modes, by rewriting instructions it gets
//! wrong into equivalent ones it gets right — and refusing, with the reason, what it cannot run.
//!
//! Measured defects this pass exists for (each has a test in `tests/runtime_isa.rs`):
//! * JIT: `mov32 dst, src` keeps the upper 32 bits (it emits a 64-bit move) →
//!   `mov64 dst, src; lsh64 dst, 32; rsh64 dst, 32`.
//! * JIT: `le16` / `le32` are no-ops instead of truncating → `and64 dst, 0xffff` /
//!   `lsh64 dst, 32; rsh64 dst, 32`.
//! * Both modes: `mod32` by zero leaves the upper half of `dst` instead of clearing it →
//!   `lsh64 dst, 32; rsh64 dst, 32` before a register `mod32`, and instead of `mod32 dst, 0`.
//! * Interpreter: `neg64` negates through `i64` and overflows on `i64::MIN` (a panic in a debug
//!   build) → `xor64 dst, -1; add64 dst, 1`.
//! * Interpreter: 64-bit unsigned jumps against an immediate (`jeq jne jgt jge jlt jle`) zero-extend
//!   a negative `imm` instead of sign-extending it → complement `dst`, compare against the
//!   complemented (now non-negative) immediate with the order reversed, and complement `dst` back
//!   on both edges.
//!
//! Refused (neither mode runs them): atomics, ISA v4 (sign-extending loads and moves, signed
//! division, `bswap`, 32-bit `ja`), tail calls, kfunc calls, legacy packet loads.
//!
//! Jumps and BPF-to-BPF calls are re-targeted after expansion; a target that would not fit the
//! 16-bit offset is refused.

use alloc::string::String;
use alloc::vec::Vec;

use crate::insn::{Insn, class, describe, op};

/// Why a program cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RewriteError {
    /// The code is not a whole number of 8-byte instructions.
    #[error("program length {0} is not a multiple of 8 bytes")]
    Length(usize),
    /// The program has no instruction.
    #[error("empty program")]
    Empty,
    /// An instruction neither mode can run correctly.
    #[error("instruction {index} ({insn}): {reason}")]
    Unsupported {
        /// Index of the instruction in the original program.
        index: usize,
        /// The instruction, disassembled.
        insn: String,
        /// What it is and why it is refused.
        reason: &'static str,
    },
    /// A jump or call whose target is outside the program or inside an LD_IMM64 pair.
    #[error(
        "instruction {index} ({insn}): jump target {target} is not an instruction of the program"
    )]
    BadTarget {
        /// Index of the jump.
        index: usize,
        /// The jump, disassembled.
        insn: String,
        /// The target index it names.
        target: i64,
    },
    /// An LD_IMM64 at the end of the program, without its second slot.
    #[error("instruction {0}: LD_IMM64 lacks its second slot")]
    TruncatedLdImm64(usize),
    /// After expansion a jump no longer fits a 16-bit offset.
    #[error("instruction {0}: after rewriting, the jump is too far for a 16-bit offset")]
    JumpTooFar(usize),
}

/// Where an emitted instruction jumps.
#[derive(Clone, Copy)]
enum Target {
    /// Not a jump (or a helper call).
    None,
    /// An instruction of the original program (its old index).
    Original(usize),
    /// Slot `k` of the current expansion (`k` may equal the expansion's length: the next
    /// original instruction).
    Local(usize),
}

struct Emitted {
    insn: Insn,
    target: Target,
}

/// The rewritten program, ready for rbpf, plus how its indices relate to the original's.
#[derive(Debug, Clone)]
pub struct Rewritten {
    /// The instructions, encoded.
    pub code: Vec<u8>,
    /// For each original instruction, its index in `code`.
    pub new_index: Vec<usize>,
}

fn unsupported(index: usize, insn: &Insn, reason: &'static str) -> RewriteError {
    RewriteError::Unsupported {
        index,
        insn: describe(insn),
        reason,
    }
}

/// Reverses an unsigned comparison for complemented operands (`a > b` ⇔ `!a < !b`).
fn reversed(operation: u8) -> u8 {
    match operation {
        0x20 => 0xa0, // jgt -> jlt
        0xa0 => 0x20,
        0x30 => 0xb0, // jge -> jle
        0xb0 => 0x30,
        same => same, // jeq, jne
    }
}

/// Why the runtime cannot run `insn`, if it cannot: what rbpf 0.4.1 lacks (ISA v4, atomics,
/// legacy packet loads, tail calls, kfuncs) and backward local calls. The rewrite refuses these
/// at load and the verifier reports them as `bad_insn`: one list for both.
pub(crate) fn unsupported_by_runtime(insn: &Insn) -> Option<&'static str> {
    let operation = insn.operation();
    match insn.class() {
        class::LD if insn.opcode != op::LD_IMM64 => {
            return Some("legacy packet loads are not supported");
        }
        class::LDX if insn.opcode & 0xe0 == 0x80 => {
            return Some("sign-extending loads (ISA v4) are not supported");
        }
        class::STX if insn.opcode & 0xe0 == 0xc0 => {
            return Some(
                "atomic operations are not supported by the runtime (rbpf 0.4.1 runs none)",
            );
        }
        class::ALU | class::ALU64 => {
            if matches!(operation, 0x30 | 0x90) && insn.off != 0 {
                return Some("signed division and modulo (ISA v4) are not supported");
            }
            if operation == 0xb0 && insn.off != 0 {
                return Some("sign-extending moves (ISA v4) are not supported");
            }
            // 0xd7 is bswap; 0xdf is no instruction at all.
            if insn.class() == class::ALU64 && operation == 0xd0 {
                return Some("bswap (ISA v4) is not supported");
            }
        }
        class::JMP32 if insn.opcode == op::JA32 => {
            return Some("32-bit ja (ISA v4) is not supported");
        }
        _ => {}
    }
    if insn.opcode == op::TAIL_CALL {
        return Some("tail calls are not supported");
    }
    if insn.opcode == op::CALL && insn.src > 1 {
        return Some("kfunc calls are not supported");
    }
    if insn.is_local_call() && insn.imm < 0 {
        // rbpf's interpreter adds `imm as usize` to its instruction pointer, which overflows
        // (a panic in debug builds) for a negative offset. Our loader lays callees out after
        // their callers, so this only refuses hand-written code.
        return Some("backward BPF-to-BPF calls are not supported (lay callees after callers)");
    }
    None
}

/// The expansion of one instruction (its `Target::Original` must be filled by the caller).
fn expand(
    index: usize,
    insn: Insn,
    original_target: Option<usize>,
) -> Result<Vec<Emitted>, RewriteError> {
    let plain = |insn: Insn| Emitted {
        insn,
        target: Target::None,
    };
    let d = insn.dst;
    let class = insn.class();
    let operation = insn.operation();
    let refuse = |reason| Err(unsupported(index, &insn, reason));

    if let Some(reason) = unsupported_by_runtime(&insn) {
        return refuse(reason);
    }

    let jump_to_original = |insn: Insn| Emitted {
        insn,
        target: original_target.map_or(Target::None, Target::Original),
    };
    let zero_extend = |reg: u8| {
        [
            plain(Insn::new(op::LSH64_IMM, reg, 0, 0, 32)),
            plain(Insn::new(op::RSH64_IMM, reg, 0, 0, 32)),
        ]
    };

    let out = match insn.opcode {
        op::MOV32_REG => {
            let mut out = Vec::from([plain(Insn::new(op::MOV64_REG, d, insn.src, 0, 0))]);
            out.extend(zero_extend(d));
            out
        }
        op::LE if insn.imm == 16 => Vec::from([plain(Insn::new(op::AND64_IMM, d, 0, 0, 0xffff))]),
        op::LE if insn.imm == 32 => Vec::from(zero_extend(d)),
        op::LE | 0xdc if !matches!(insn.imm, 16 | 32 | 64) => {
            return refuse("byte swap width must be 16, 32 or 64");
        }
        // mod32 by zero must zero-extend dst (RFC 9669 §4.1); rbpf leaves it whole. Zero-extending
        // first is harmless when the divisor is not zero (mod32 reads the low halves only).
        op::MOD32_REG => {
            let mut out = Vec::from(zero_extend(d));
            out.push(plain(insn));
            out
        }
        op::MOD32_IMM if insn.imm == 0 => Vec::from(zero_extend(d)),
        op::NEG64 => Vec::from([
            plain(Insn::new(op::XOR64_IMM, d, 0, 0, -1)),
            plain(Insn::new(op::ADD64_IMM, d, 0, 0, 1)),
        ]),
        _ if class == class::JMP
            && !insn.uses_src_reg()
            && matches!(operation, 0x10 | 0x20 | 0x30 | 0x50 | 0xa0 | 0xb0)
            && insn.imm < 0 =>
        {
            let not = || plain(Insn::new(op::XOR64_IMM, d, 0, 0, -1));
            let compare = Insn::new(class::JMP | reversed(operation), d, 0, 0, !insn.imm);
            Vec::from([
                not(),
                Emitted {
                    insn: compare,
                    target: Target::Local(4),
                },
                not(),
                Emitted {
                    insn: Insn::new(op::JA, 0, 0, 0, 0),
                    target: Target::Local(6),
                },
                not(),
                jump_to_original(Insn::new(op::JA, 0, 0, 0, 0)),
            ])
        }
        _ if insn.is_jump_with_offset() || insn.is_local_call() => {
            Vec::from([jump_to_original(insn)])
        }
        _ => Vec::from([plain(insn)]),
    };
    Ok(out)
}

/// Rewrites `code` (raw little-endian eBPF) into code rbpf runs per RFC 9669 in both modes.
pub fn rewrite(code: &[u8]) -> Result<Rewritten, RewriteError> {
    if !code.len().is_multiple_of(8) {
        return Err(RewriteError::Length(code.len()));
    }
    let count = code.len() / 8;
    if count == 0 {
        return Err(RewriteError::Empty);
    }
    let insns: Vec<Insn> = (0..count).filter_map(|i| Insn::decode(code, i)).collect();

    // Which slots start an instruction (the second half of LD_IMM64 does not).
    let mut starts = alloc::vec![true; count];
    let mut i = 0;
    while i < count {
        if insns[i].opcode == op::LD_IMM64 {
            if i + 1 >= count {
                return Err(RewriteError::TruncatedLdImm64(i));
            }
            starts[i + 1] = false;
            i += 2;
        } else {
            i += 1;
        }
    }

    // Expand, remembering where each original slot starts in the new program.
    let mut new_index = Vec::with_capacity(count + 1);
    let mut expansions: Vec<(usize, Vec<Emitted>)> = Vec::with_capacity(count);
    let mut position = 0usize;
    for (index, insn) in insns.iter().copied().enumerate() {
        new_index.push(position);
        if !starts[index] {
            // The second slot of LD_IMM64 travels with its first, unchanged.
            let emitted = Vec::from([Emitted {
                insn,
                target: Target::None,
            }]);
            position += 1;
            expansions.push((index, emitted));
            continue;
        }
        let target = if insn.is_jump_with_offset() || insn.is_local_call() {
            let relative = if insn.is_local_call() {
                i64::from(insn.imm)
            } else {
                i64::from(insn.off)
            };
            let target = index as i64 + relative + 1;
            if target < 0 || target >= count as i64 || !starts[target as usize] {
                return Err(RewriteError::BadTarget {
                    index,
                    insn: describe(&insn),
                    target,
                });
            }
            Some(target as usize)
        } else {
            None
        };
        let emitted = expand(index, insn, target)?;
        position += emitted.len();
        expansions.push((index, emitted));
    }
    new_index.push(position);

    // Resolve targets now that every new index is known.
    let mut code_out = Vec::with_capacity(position * 8);
    for (index, emitted) in expansions {
        let start = new_index[index];
        for (k, Emitted { mut insn, target }) in emitted.into_iter().enumerate() {
            let here = start + k;
            let destination = match target {
                Target::None => None,
                Target::Original(old) => Some(new_index[old]),
                Target::Local(slot) => Some(start + slot),
            };
            if let Some(destination) = destination {
                let relative = destination as i64 - here as i64 - 1;
                if insn.is_local_call() {
                    insn.imm =
                        i32::try_from(relative).map_err(|_| RewriteError::JumpTooFar(index))?;
                } else {
                    insn.off =
                        i16::try_from(relative).map_err(|_| RewriteError::JumpTooFar(index))?;
                }
            }
            code_out.extend_from_slice(&insn.to_bytes());
        }
    }
    new_index.truncate(count);
    Ok(Rewritten {
        code: code_out,
        new_index,
    })
}
