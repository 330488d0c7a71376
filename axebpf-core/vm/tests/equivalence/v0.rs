#![allow(dead_code, clippy::all)]
//! The interpreter as it was before slots were pre-decoded (commit 3a889a6), kept verbatim as
//! the reference the equivalence test holds the current one to: same results, same errors at
//! the same pcs, same memory.
//!
//! Original description: decodes one slot at a time from the program bytes and runs it on eleven
//! registers, a fixed array of stack frames and the memory regions the caller allowed.
//!
//! Every load, store and atomic is checked against the allowed regions before it touches memory,
//! so a wrong program ends with an [`Error`] naming the pc, never with undefined behaviour.

use core::fmt;
use core::mem::MaybeUninit;
use core::ptr;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use axebpf_vm::insn::{Insn, LdImm64, alu, atomic, class, jmp, mode, pseudo, size};

/// Bytes of stack each frame (the program and every local call) gets.
pub const STACK_SIZE: usize = 512;
/// Frames, the program's included: a chain of 7 nested local calls is the deepest allowed.
pub const MAX_FRAMES: usize = 8;
/// Instructions a run may execute unless [`Vm::set_budget`] says otherwise.
pub const DEFAULT_BUDGET: u64 = 1 << 20;

/// A helper: `r0 = helper(r1, r2, r3, r4, r5)`. Helper `id` is entry `id` of the table.
///
/// The C ABI, so that JIT-compiled code calls the very same function directly with the eBPF
/// argument registers already in the ABI's argument registers (no shim).
pub type Helper = extern "C" fn(u64, u64, u64, u64, u64) -> u64;

/// A last resort for accesses outside every region: `check(addr, len, write)` returns true to
/// allow it (for example, when `addr` lies inside a map value a helper returned).
pub type AccessCheck = fn(u64, u64, bool) -> bool;

/// Memory a program may access besides its context and its stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Region {
    /// Address of the first byte.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
    /// Whether stores and atomics may touch it.
    pub writable: bool,
}

impl Region {
    fn allows(&self, addr: u64, len: u64, write: bool) -> bool {
        let Some(offset) = addr.checked_sub(self.start) else {
            return false;
        };
        offset
            .checked_add(len)
            .is_some_and(|end| end <= self.len && (self.writable || !write))
    }
}

/// Why a run stopped without reaching the final `exit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The program is empty or its length is not a multiple of 8 bytes.
    CodeLength(usize),
    /// An opcode the ISA does not define (or one this interpreter does not run, like the legacy
    /// packet loads).
    UnknownOpcode(u8),
    /// A defined opcode with an invalid `off`, `imm` or second `LD_IMM64` slot.
    BadEncoding(u8),
    /// A register number past r10, or a write to the read-only r10.
    BadRegister(u8),
    /// A load, store or atomic outside every allowed region (or a store to a read-only one).
    OutOfBounds {
        /// First byte accessed.
        addr: u64,
        /// Bytes accessed.
        len: usize,
        /// Whether it was a store or an atomic.
        write: bool,
    },
    /// An atomic on an address that is not a multiple of its size.
    MisalignedAtomic {
        /// The address.
        addr: u64,
        /// The access size.
        len: usize,
    },
    /// A local call past [`MAX_FRAMES`] frames.
    CallDepth,
    /// A jump or call to a slot outside the program (or running past its last slot).
    JumpOutOfRange {
        /// The slot it would have continued at.
        target: i64,
    },
    /// A call to a helper id the table does not hold.
    UnknownHelper(i32),
    /// An `LD_IMM64` or `CALL` pseudo kind (map fds, kfuncs, ...) this interpreter refuses.
    UnsupportedPseudo(u8),
    /// The run executed more instructions than its budget.
    StepBudget(u64),
}

/// A run's failure: where and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error {
    /// The slot of the failing instruction.
    pub pc: usize,
    /// What went wrong.
    pub kind: ErrorKind,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pc {}: ", self.pc)?;
        match self.kind {
            ErrorKind::CodeLength(len) => {
                write!(f, "program of {len} bytes (not a nonzero multiple of 8)")
            }
            ErrorKind::UnknownOpcode(opc) => write!(f, "unknown opcode {opc:#04x}"),
            ErrorKind::BadEncoding(opc) => write!(f, "invalid fields for opcode {opc:#04x}"),
            ErrorKind::BadRegister(r) => write!(f, "invalid register r{r}"),
            ErrorKind::OutOfBounds { addr, len, write } => write!(
                f,
                "out-of-bounds {} of {len} bytes at {addr:#x}",
                if write { "store" } else { "load" }
            ),
            ErrorKind::MisalignedAtomic { addr, len } => {
                write!(f, "misaligned {len}-byte atomic at {addr:#x}")
            }
            ErrorKind::CallDepth => write!(f, "more than {MAX_FRAMES} call frames"),
            ErrorKind::JumpOutOfRange { target } => write!(f, "jump to slot {target}, outside"),
            ErrorKind::UnknownHelper(id) => write!(f, "unknown helper {id}"),
            ErrorKind::UnsupportedPseudo(src) => write!(f, "unsupported pseudo kind {src}"),
            ErrorKind::StepBudget(budget) => write!(f, "more than {budget} instructions"),
        }
    }
}

impl core::error::Error for Error {}

/// The frames' stack memory; frame `d` is the `d`-th block from the top (stacks grow down).
/// Left uninitialised until a frame is entered: zeroing all eight frames up front would cost a
/// 4 KiB memset per `Vm`, and the runtime builds one per run.
#[repr(C, align(16))]
struct Stacks(MaybeUninit<[u8; STACK_SIZE * MAX_FRAMES]>);

/// What a local call saves: where to return and the caller's r6-r10.
#[derive(Clone, Copy, Default)]
struct Frame {
    return_pc: usize,
    saved: [u64; 5],
}

/// An interpreter with its stack frames, helper table, allowed regions and step budget.
/// A run allocates nothing; the `Vm` is about 4.5 KiB (8 frames of 512 bytes).
pub struct Vm<'h> {
    stacks: Stacks,
    helpers: &'h [Option<Helper>],
    regions: &'h [Region],
    check: Option<AccessCheck>,
    budget: u64,
}

/// The memory a run may touch, fixed at its start.
struct Memory<'r> {
    /// Lowest byte of the deepest frame in use (moves with calls).
    stack_low: u64,
    /// One past the top of frame 0.
    stack_high: u64,
    ctx: Region,
    regions: &'r [Region],
    check: Option<AccessCheck>,
}

impl Memory<'_> {
    fn allow(&self, pc: usize, addr: u64, len: usize, write: bool) -> Result<(), Error> {
        let n = len as u64;
        let in_stack = addr >= self.stack_low
            && addr
                .checked_add(n)
                .is_some_and(|end| end <= self.stack_high);
        if in_stack
            || self.ctx.allows(addr, n, write)
            || self.regions.iter().any(|r| r.allows(addr, n, write))
            || self.check.is_some_and(|check| check(addr, n, write))
        {
            Ok(())
        } else {
            Err(Error {
                pc,
                kind: ErrorKind::OutOfBounds { addr, len, write },
            })
        }
    }

    fn load(&self, pc: usize, addr: u64, len: usize) -> Result<u64, Error> {
        self.allow(pc, addr, len, false)?;
        let p = ptr::with_exposed_provenance::<u8>(addr as usize);
        // SAFETY: `allow` found `addr..addr + len` inside the stack frames (our own array), the
        // context slice, or memory the caller vouched for in `set_regions`/`set_access_check`;
        // the reads are unaligned-tolerant.
        let value = unsafe {
            match len {
                1 => u64::from(p.read()),
                2 => u64::from(p.cast::<u16>().read_unaligned()),
                4 => u64::from(p.cast::<u32>().read_unaligned()),
                _ => p.cast::<u64>().read_unaligned(),
            }
        };
        Ok(value)
    }

    fn store(&self, pc: usize, addr: u64, len: usize, value: u64) -> Result<(), Error> {
        self.allow(pc, addr, len, true)?;
        let p = ptr::with_exposed_provenance_mut::<u8>(addr as usize);
        // SAFETY: as in `load`, and `allow` checked the region is writable.
        unsafe {
            match len {
                1 => p.write(value as u8),
                2 => p.cast::<u16>().write_unaligned(value as u16),
                4 => p.cast::<u32>().write_unaligned(value as u32),
                _ => p.cast::<u64>().write_unaligned(value),
            }
        }
        Ok(())
    }

    /// Runs atomic `op` on `len` bytes at `addr`; returns the old value (zero-extended).
    fn atomic(
        &self,
        pc: usize,
        insn: Insn,
        addr: u64,
        len: usize,
        operand: u64,
        expected: u64,
    ) -> Result<u64, Error> {
        self.allow(pc, addr, len, true)?;
        if !addr.is_multiple_of(len as u64) {
            return Err(Error {
                pc,
                kind: ErrorKind::MisalignedAtomic { addr, len },
            });
        }
        let op = insn.imm;
        let bad = Error {
            pc,
            kind: ErrorKind::BadEncoding(insn.opcode),
        };
        // One body for both widths: `$atomic` over `$u` at an address of that alignment.
        macro_rules! apply {
            ($atomic:ty, $u:ty) => {{
                let p = ptr::with_exposed_provenance_mut::<$u>(addr as usize);
                // SAFETY: in bounds and writable (`allow`), aligned to its size (checked
                // above); every access the interpreter makes to it concurrently with this one
                // is atomic too.
                let cell = unsafe { <$atomic>::from_ptr(p) };
                let (v, ord) = (operand as $u, Ordering::SeqCst);
                let old = match op & !atomic::FETCH {
                    _ if op == atomic::XCHG => cell.swap(v, ord),
                    _ if op == atomic::CMPXCHG => cell
                        .compare_exchange(expected as $u, v, ord, ord)
                        .unwrap_or_else(|current| current),
                    atomic::ADD => cell.fetch_add(v, ord),
                    atomic::OR => cell.fetch_or(v, ord),
                    atomic::AND => cell.fetch_and(v, ord),
                    atomic::XOR => cell.fetch_xor(v, ord),
                    _ => return Err(bad),
                };
                // 32-bit forms zero-extend.
                Ok(old as u64)
            }};
        }
        if len == 4 {
            apply!(AtomicU32, u32)
        } else {
            apply!(AtomicU64, u64)
        }
    }
}

/// `imm` sign-extended to 64 bits.
const fn sext(imm: i32) -> u64 {
    imm as i64 as u64
}

/// Defines `$name(op, off, dst, src)`: arithmetic on `$u` values (`None` for an invalid
/// `op`/`off` combination); `$off: $narrow` are the sign-extending `mov` widths at that size.
/// One body for both sizes, so ALU and ALU64 cannot drift apart.
macro_rules! alu_fn {
    ($name:ident, $u:ty, $i:ty, $($off:literal: $narrow:ty),+) => {
        fn $name(op: u8, off: i16, dst: $u, src: $u) -> Option<$u> {
            let shift = src & (<$u>::BITS as $u - 1);
            let signed = match (op, off) {
                (alu::DIV | alu::MOD, 1) => true,
                (alu::MOV, $($off)|+) => true,
                (_, 0) => false,
                _ => return None,
            };
            Some(match op {
                alu::ADD => dst.wrapping_add(src),
                alu::SUB => dst.wrapping_sub(src),
                alu::MUL => dst.wrapping_mul(src),
                alu::DIV if signed => match src {
                    0 => 0,
                    _ => (dst as $i).wrapping_div(src as $i) as $u,
                },
                alu::DIV => dst.checked_div(src).unwrap_or(0),
                alu::MOD if signed => match src {
                    0 => dst,
                    _ => (dst as $i).wrapping_rem(src as $i) as $u,
                },
                alu::MOD => dst.checked_rem(src).unwrap_or(dst),
                alu::OR => dst | src,
                alu::AND => dst & src,
                alu::LSH => dst << shift,
                alu::RSH => dst >> shift,
                alu::ARSH => ((dst as $i) >> shift) as $u,
                alu::NEG => dst.wrapping_neg(),
                alu::XOR => dst ^ src,
                alu::MOV => match off {
                    $($off => src as $narrow as $i as $u,)+
                    _ => src,
                },
                _ => return None,
            })
        }
    };
}

// 64-bit arithmetic.
alu_fn!(alu64, u64, i64, 8: i8, 16: i16, 32: i32);
// 32-bit arithmetic on the low halves (the caller zero-extends the result).
alu_fn!(alu32, u32, i32, 8: i8, 16: i16);

/// Byte-order instructions: `ALU|END|K` to little endian, `ALU|END|X` to big endian,
/// `ALU64|END|K` unconditional swap; the result is truncated to the width.
fn end(opc: u8, value: u64, width: i32) -> Option<u64> {
    Some(match (opc, width) {
        (0xd4, 16) => u64::from((value as u16).to_le()),
        (0xd4, 32) => u64::from((value as u32).to_le()),
        (0xd4, 64) => value.to_le(),
        (0xdc, 16) => u64::from((value as u16).to_be()),
        (0xdc, 32) => u64::from((value as u32).to_be()),
        (0xdc, 64) => value.to_be(),
        (0xd7, 16) => u64::from((value as u16).swap_bytes()),
        (0xd7, 32) => u64::from((value as u32).swap_bytes()),
        (0xd7, 64) => value.swap_bytes(),
        _ => return None,
    })
}

/// A jump condition; `None` for an operation that is not a condition.
fn condition(op: u8, a: u64, b: u64, sa: i64, sb: i64) -> Option<bool> {
    Some(match op {
        jmp::JEQ => a == b,
        jmp::JNE => a != b,
        jmp::JGT => a > b,
        jmp::JGE => a >= b,
        jmp::JLT => a < b,
        jmp::JLE => a <= b,
        jmp::JSET => a & b != 0,
        jmp::JSGT => sa > sb,
        jmp::JSGE => sa >= sb,
        jmp::JSLT => sa < sb,
        jmp::JSLE => sa <= sb,
        _ => return None,
    })
}

impl<'h> Vm<'h> {
    /// A VM calling helper `id` as `helpers[id]`, with no extra regions, no access check and
    /// the [`DEFAULT_BUDGET`].
    pub const fn new(helpers: &'h [Option<Helper>]) -> Self {
        Self {
            stacks: Stacks(MaybeUninit::uninit()),
            helpers,
            regions: &[],
            check: None,
            budget: DEFAULT_BUDGET,
        }
    }

    /// Instructions a run may execute before it fails with [`ErrorKind::StepBudget`].
    pub fn set_budget(&mut self, steps: u64) {
        self.budget = steps;
    }

    /// Allows programs to access `regions` (besides the context and the stack), replacing the
    /// regions set before.
    ///
    /// # Safety
    /// For as long as the regions stay set, every run may read their bytes (and write them, if
    /// `writable`) through raw pointers: the memory must stay allocated and valid for such
    /// accesses, and nothing else may hold a reference to it during a run (other threads may use
    /// it with atomics, as programs' atomics are real atomics). The pointers they were computed
    /// from must have had their provenance exposed (`<*const T>::expose_provenance`).
    pub unsafe fn set_regions(&mut self, regions: &'h [Region]) {
        self.regions = regions;
    }

    /// Consults `check` for accesses outside every region.
    ///
    /// # Safety
    /// Whenever `check` returns true, the access it was asked about must be valid as
    /// [`set_regions`](Self::set_regions) describes.
    pub unsafe fn set_access_check(&mut self, check: Option<AccessCheck>) {
        self.check = check;
    }

    /// Runs `code` (RFC 9669 encoding) with r1 pointing at `ctx` (0 when it is empty) and r10
    /// at the top of a 512-byte stack frame; returns r0 at the final `exit`.
    ///
    /// A local call's frame is the next 512 bytes below its caller's; a callee may access its
    /// callers' frames (pointers to their locals passed as arguments, as C does), never a frame
    /// that has returned. Each frame reads as zeros when it is entered.
    pub fn run(&mut self, code: &[u8], ctx: &mut [u8]) -> Result<u64, Error> {
        let Self {
            stacks,
            helpers,
            regions,
            check,
            budget,
        } = self;
        let count = code.len() / 8;
        if count == 0 || !code.len().is_multiple_of(8) {
            return Err(Error {
                pc: 0,
                kind: ErrorKind::CodeLength(code.len()),
            });
        }
        let stack_ptr = stacks.0.as_mut_ptr().cast::<u8>();
        let stack_base = stack_ptr.expose_provenance() as u64;
        // Zeroes frame `depth` as it is entered: the only frames `Memory` lets a program touch
        // are entered ones, so no uninitialised byte is ever read.
        let enter = |depth: usize| {
            // SAFETY: frame `depth < MAX_FRAMES` lies inside `stacks`, which this run borrows
            // mutably.
            unsafe {
                ptr::write_bytes(
                    stack_ptr.add((MAX_FRAMES - 1 - depth) * STACK_SIZE),
                    0,
                    STACK_SIZE,
                )
            }
        };
        enter(0);
        let ctx_start = if ctx.is_empty() {
            0
        } else {
            ctx.as_mut_ptr().expose_provenance() as u64
        };
        let top = |depth: usize| stack_base + ((MAX_FRAMES - depth) * STACK_SIZE) as u64;
        let mut mem = Memory {
            stack_low: top(1),
            stack_high: top(0),
            ctx: Region {
                start: ctx_start,
                len: ctx.len() as u64,
                writable: true,
            },
            regions,
            check: *check,
        };
        let mut regs = [0u64; 11];
        regs[1] = ctx_start;
        regs[10] = top(0);
        let mut frames = [Frame::default(); MAX_FRAMES];
        let mut depth = 0usize;
        let mut pc = 0usize;
        let mut steps = 0u64;
        loop {
            steps += 1;
            if steps > *budget {
                return Err(Error {
                    pc,
                    kind: ErrorKind::StepBudget(*budget),
                });
            }
            let Some(insn) = Insn::decode(code, pc) else {
                return Err(Error {
                    pc,
                    kind: ErrorKind::JumpOutOfRange { target: pc as i64 },
                });
            };
            let err = |kind| Error { pc, kind };
            let (opc, d, s) = (insn.opcode, usize::from(insn.dst), usize::from(insn.src));
            if d > 10 {
                return Err(err(ErrorKind::BadRegister(insn.dst)));
            }
            if s > 10 {
                return Err(err(ErrorKind::BadRegister(insn.src)));
            }
            let unknown = err(ErrorKind::UnknownOpcode(opc));
            let bad = err(ErrorKind::BadEncoding(opc));
            let writes_r10 = err(ErrorKind::BadRegister(10));
            // 0xe0 and 0xf0 are the only undefined ALU operations; others fail on their fields.
            let alu_error = if insn.operation() >= 0xe0 {
                unknown
            } else {
                bad
            };
            let jump = |offset: i64| -> Result<usize, Error> {
                let target = pc as i64 + 1 + offset;
                if (0..count as i64).contains(&target) {
                    Ok(target as usize)
                } else {
                    Err(err(ErrorKind::JumpOutOfRange { target }))
                }
            };
            let mut next = pc + 1;
            match insn.class() {
                class::ALU64 | class::ALU => {
                    if d == 10 {
                        return Err(writes_r10);
                    }
                    let op = insn.operation();
                    regs[d] = if op == alu::END {
                        // Only SDIV, SMOD and MOVSX have a nonzero `off` (RFC 9669 §4.1).
                        if insn.off != 0 {
                            return Err(bad);
                        }
                        end(opc, regs[d], insn.imm).ok_or(bad)?
                    } else if (op == alu::NEG && insn.uses_src_reg())
                        || (op == alu::MOV && insn.off != 0 && !insn.uses_src_reg())
                    {
                        // NEG has no register form; MOVSX no immediate form.
                        return Err(bad);
                    } else if insn.class() == class::ALU64 {
                        let operand = if insn.uses_src_reg() {
                            regs[s]
                        } else {
                            sext(insn.imm)
                        };
                        alu64(op, insn.off, regs[d], operand).ok_or(alu_error)?
                    } else {
                        let operand = if insn.uses_src_reg() {
                            regs[s] as u32
                        } else {
                            insn.imm as u32
                        };
                        u64::from(alu32(op, insn.off, regs[d] as u32, operand).ok_or(alu_error)?)
                    };
                }
                class::JMP | class::JMP32 => {
                    let wide = insn.class() == class::JMP;
                    match (insn.operation(), insn.uses_src_reg()) {
                        (jmp::JA, false) => {
                            next = jump(if wide {
                                i64::from(insn.off)
                            } else {
                                i64::from(insn.imm)
                            })?;
                        }
                        (jmp::EXIT, false) if wide => {
                            if depth == 0 {
                                return Ok(regs[0]);
                            }
                            depth -= 1;
                            let frame = frames[depth];
                            regs[6..=10].copy_from_slice(&frame.saved);
                            mem.stack_low = top(depth + 1);
                            next = frame.return_pc;
                        }
                        (jmp::CALL, false) if wide => match insn.src {
                            0 => {
                                let helper = usize::try_from(insn.imm)
                                    .ok()
                                    .and_then(|id| helpers.get(id).copied().flatten())
                                    .ok_or(err(ErrorKind::UnknownHelper(insn.imm)))?;
                                regs[0] = helper(regs[1], regs[2], regs[3], regs[4], regs[5]);
                            }
                            pseudo::CALL_LOCAL => {
                                next = jump(i64::from(insn.imm))?;
                                if depth + 1 >= MAX_FRAMES {
                                    return Err(err(ErrorKind::CallDepth));
                                }
                                let mut saved = [0; 5];
                                saved.copy_from_slice(&regs[6..=10]);
                                frames[depth] = Frame {
                                    return_pc: pc + 1,
                                    saved,
                                };
                                depth += 1;
                                enter(depth);
                                regs[10] = top(depth);
                                mem.stack_low = top(depth + 1);
                            }
                            other => return Err(err(ErrorKind::UnsupportedPseudo(other))),
                        },
                        (jmp::JA | jmp::EXIT | jmp::CALL, _) => return Err(unknown),
                        (op, x) => {
                            let (a, b, sa, sb) = if wide {
                                let b = if x { regs[s] } else { sext(insn.imm) };
                                (regs[d], b, regs[d] as i64, b as i64)
                            } else {
                                let a = regs[d] as u32;
                                let b = if x { regs[s] as u32 } else { insn.imm as u32 };
                                (
                                    u64::from(a),
                                    u64::from(b),
                                    i64::from(a as i32),
                                    i64::from(b as i32),
                                )
                            };
                            if condition(op, a, b, sa, sb).ok_or(unknown)? {
                                next = jump(i64::from(insn.off))?;
                            }
                        }
                    }
                }
                class::LD => {
                    if !insn.is_ld_imm64() {
                        return Err(unknown);
                    }
                    let second = Insn::decode(code, pc + 1).ok_or(bad)?;
                    let wide = LdImm64::join(insn, second).ok_or(bad)?;
                    if wide.src != 0 {
                        return Err(err(ErrorKind::UnsupportedPseudo(wide.src)));
                    }
                    if d == 10 {
                        return Err(writes_r10);
                    }
                    regs[d] = wide.value;
                    next = pc + 2;
                }
                class::LDX => {
                    let len = size::bytes(opc);
                    let addr = regs[s].wrapping_add(sext(insn.off.into()));
                    let value = match opc & mode::MASK {
                        mode::MEM => mem.load(pc, addr, len)?,
                        mode::MEMSX if len < 8 => {
                            let v = mem.load(pc, addr, len)?;
                            match len {
                                1 => v as i8 as i64 as u64,
                                2 => v as i16 as i64 as u64,
                                _ => v as i32 as i64 as u64,
                            }
                        }
                        _ => return Err(unknown),
                    };
                    if d == 10 {
                        return Err(writes_r10);
                    }
                    regs[d] = value;
                }
                class::ST => {
                    if opc & mode::MASK != mode::MEM {
                        return Err(unknown);
                    }
                    let addr = regs[d].wrapping_add(sext(insn.off.into()));
                    mem.store(pc, addr, size::bytes(opc), sext(insn.imm))?;
                }
                _ => {
                    // class::STX
                    let len = size::bytes(opc);
                    let addr = regs[d].wrapping_add(sext(insn.off.into()));
                    match opc & mode::MASK {
                        mode::MEM => mem.store(pc, addr, len, regs[s])?,
                        mode::ATOMIC if len >= 4 => {
                            let op = insn.imm;
                            let fetch = op & atomic::FETCH != 0;
                            if op == atomic::CMPXCHG {
                                regs[0] = mem.atomic(pc, insn, addr, len, regs[s], regs[0])?;
                            } else {
                                if fetch && s == 10 {
                                    return Err(writes_r10);
                                }
                                let old = mem.atomic(pc, insn, addr, len, regs[s], 0)?;
                                if fetch {
                                    regs[s] = old;
                                }
                            }
                        }
                        _ => return Err(unknown),
                    }
                }
            }
            pc = next;
        }
    }
}
