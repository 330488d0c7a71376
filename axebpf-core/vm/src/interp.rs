//! The interpreter: runs a program on eleven registers, a fixed array of stack frames and the
//! memory regions the caller allowed.
//!
//! Each slot is decoded and validated into a [`Slot`] (one of ~140 operations, or the error the
//! slot gets when reached). [`Vm::run`] decodes the slot at `pc` at every step and allocates
//! nothing; [`Vm::run_decoded`] runs slots [`decode`] made once (the runtime keeps them with the
//! loaded program). Both are the same decoder and the same executor, so they cannot differ.
//!
//! The stack is not zeroed up front: bytes below a watermark are zeroed when an access (or a
//! pointer passed to a helper) first reaches them, and entering a frame raises the watermark to
//! the frame's top, so every frame reads as zeros when it is entered.
//!
//! Every load, store and atomic is checked against the allowed regions before it touches memory,
//! so a wrong program ends with an [`Error`] naming the pc, never with undefined behaviour.

use core::fmt;
use core::mem::MaybeUninit;
use core::ptr;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::insn::{Insn, LdImm64, alu, atomic, class, jmp, mode, pseudo, size};

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
    #[inline]
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
/// Left uninitialised: a run zeroes a frame's bytes lazily, the first time the program (or a
/// helper it passes a pointer to) may read them — see [`Memory::init_low`].
#[repr(C, align(16))]
struct Stacks(MaybeUninit<[u8; STACK_SIZE * MAX_FRAMES]>);

/// What a local call saves: where to return and the caller's r6-r9 (r10 is always the top of
/// the current frame: nothing can write it).
#[derive(Clone, Copy)]
struct Frame {
    return_pc: usize,
    saved: [u64; 4],
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

/// What a pre-decoded slot does. Decoding validates every field, so running a slot checks
/// nothing but what depends on the run (memory, jump targets, helpers, depth, budget); a slot
/// the ISA rejects decodes to a `Fail*` that reports it when reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Op {
    Add64K,
    Add64X,
    Sub64K,
    Sub64X,
    Mul64K,
    Mul64X,
    Div64K,
    Div64X,
    SDiv64K,
    SDiv64X,
    Mod64K,
    Mod64X,
    SMod64K,
    SMod64X,
    Or64K,
    Or64X,
    And64K,
    And64X,
    Lsh64K,
    Lsh64X,
    Rsh64K,
    Rsh64X,
    Arsh64K,
    Arsh64X,
    Xor64K,
    Xor64X,
    Mov64K,
    Mov64X,
    Neg64,
    MovSx64B,
    MovSx64H,
    MovSx64W,
    Add32K,
    Add32X,
    Sub32K,
    Sub32X,
    Mul32K,
    Mul32X,
    Div32K,
    Div32X,
    SDiv32K,
    SDiv32X,
    Mod32K,
    Mod32X,
    SMod32K,
    SMod32X,
    Or32K,
    Or32X,
    And32K,
    And32X,
    Lsh32K,
    Lsh32X,
    Rsh32K,
    Rsh32X,
    Arsh32K,
    Arsh32X,
    Xor32K,
    Xor32X,
    Mov32K,
    Mov32X,
    Neg32,
    MovSx32B,
    MovSx32H,
    /// Byte swap: the opcode in `aux`, the width in `imm`.
    End,
    LdImm64,
    Ldx1,
    Ldx2,
    Ldx4,
    Ldx8,
    Ldsx1,
    Ldsx2,
    Ldsx4,
    /// A load into r10: checks the access (the opcode in `aux`), then fails.
    LdxR10,
    St1,
    St2,
    St4,
    St8,
    Stx1,
    Stx2,
    Stx4,
    Stx8,
    /// The opcode in `aux`, the operation in `imm`.
    Atomic,
    Ja,
    /// The helper id in `off`.
    Call,
    CallLocal,
    Exit,
    Jeq64K,
    Jeq64X,
    Jne64K,
    Jne64X,
    Jgt64K,
    Jgt64X,
    Jge64K,
    Jge64X,
    Jlt64K,
    Jlt64X,
    Jle64K,
    Jle64X,
    Jset64K,
    Jset64X,
    Jsgt64K,
    Jsgt64X,
    Jsge64K,
    Jsge64X,
    Jslt64K,
    Jslt64X,
    Jsle64K,
    Jsle64X,
    Jeq32K,
    Jeq32X,
    Jne32K,
    Jne32X,
    Jgt32K,
    Jgt32X,
    Jge32K,
    Jge32X,
    Jlt32K,
    Jlt32X,
    Jle32K,
    Jle32X,
    Jset32K,
    Jset32X,
    Jsgt32K,
    Jsgt32X,
    Jsge32K,
    Jsge32X,
    Jslt32K,
    Jslt32X,
    Jsle32K,
    Jsle32X,
    /// [`ErrorKind::UnknownOpcode`]`(aux)`.
    FailUnknown,
    /// [`ErrorKind::BadEncoding`]`(aux)`.
    FailBad,
    /// [`ErrorKind::BadRegister`]`(aux)`.
    FailRegister,
    /// [`ErrorKind::UnsupportedPseudo`]`(aux)`.
    FailPseudo,
}

/// One instruction slot decoded and validated: what [`Vm::run_decoded`] runs. Build them with
/// [`decode`]; slot `i` is what running slot `i` of the program means (the second slot of an
/// `LD_IMM64` decodes to the error a jump into it gets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    op: Op,
    dst: u8,
    src: u8,
    aux: u8,
    /// Memory offset, jump offset (relative to the next slot) or helper id.
    off: i32,
    /// The immediate, sign-extended (the 64-bit value of an `LD_IMM64`).
    imm: u64,
}

impl Slot {
    const fn new(op: Op, insn: Insn) -> Self {
        Self {
            op,
            dst: insn.dst,
            src: insn.src,
            aux: insn.opcode,
            off: insn.off as i32,
            imm: sext(insn.imm),
        }
    }

    const fn fail(op: Op, byte: u8) -> Self {
        Self {
            op,
            dst: 0,
            src: 0,
            aux: byte,
            off: 0,
            imm: 0,
        }
    }

    /// Slot `pc` of `code` (which must exist), as running it means.
    #[inline(always)]
    fn decode(code: &[u8], pc: usize, insn: Insn) -> Self {
        let (opc, d, s) = (insn.opcode, insn.dst, insn.src);
        if d > 10 {
            return Self::fail(Op::FailRegister, d);
        }
        if s > 10 {
            return Self::fail(Op::FailRegister, s);
        }
        let unknown = Self::fail(Op::FailUnknown, opc);
        let bad = Self::fail(Op::FailBad, opc);
        let writes_r10 = Self::fail(Op::FailRegister, 10);
        let x = insn.uses_src_reg();
        let pick = |k: Op, r: Op| Self::new(if x { r } else { k }, insn);
        match insn.class() {
            class::ALU64 | class::ALU => {
                if d == 10 {
                    return writes_r10;
                }
                let wide = insn.class() == class::ALU64;
                let op = insn.operation();
                if op == alu::END {
                    // Only SDIV, SMOD and MOVSX have a nonzero `off` (RFC 9669 §4.1).
                    if insn.off != 0 || end(opc, 0, insn.imm).is_none() {
                        return bad;
                    }
                    return Self::new(Op::End, insn);
                }
                if (op == alu::NEG && x) || (op == alu::MOV && insn.off != 0 && !x) {
                    // NEG has no register form; MOVSX no immediate form.
                    return bad;
                }
                // 0xe0 and 0xf0 are the only undefined ALU operations; others fail on fields.
                let alu_error = if op >= 0xe0 { unknown } else { bad };
                use Op::*;
                let (k64, x64, k32, x32) = match (op, insn.off) {
                    (alu::DIV, 1) => (SDiv64K, SDiv64X, SDiv32K, SDiv32X),
                    (alu::MOD, 1) => (SMod64K, SMod64X, SMod32K, SMod32X),
                    (alu::MOV, 8) => (MovSx64B, MovSx64B, MovSx32B, MovSx32B),
                    (alu::MOV, 16) => (MovSx64H, MovSx64H, MovSx32H, MovSx32H),
                    (alu::MOV, 32) if wide => (MovSx64W, MovSx64W, MovSx64W, MovSx64W),
                    (_, 0) => match op {
                        alu::ADD => (Add64K, Add64X, Add32K, Add32X),
                        alu::SUB => (Sub64K, Sub64X, Sub32K, Sub32X),
                        alu::MUL => (Mul64K, Mul64X, Mul32K, Mul32X),
                        alu::DIV => (Div64K, Div64X, Div32K, Div32X),
                        alu::MOD => (Mod64K, Mod64X, Mod32K, Mod32X),
                        alu::OR => (Or64K, Or64X, Or32K, Or32X),
                        alu::AND => (And64K, And64X, And32K, And32X),
                        alu::LSH => (Lsh64K, Lsh64X, Lsh32K, Lsh32X),
                        alu::RSH => (Rsh64K, Rsh64X, Rsh32K, Rsh32X),
                        alu::ARSH => (Arsh64K, Arsh64X, Arsh32K, Arsh32X),
                        alu::NEG => (Neg64, Neg64, Neg32, Neg32),
                        alu::XOR => (Xor64K, Xor64X, Xor32K, Xor32X),
                        alu::MOV => (Mov64K, Mov64X, Mov32K, Mov32X),
                        _ => return alu_error,
                    },
                    _ => return alu_error,
                };
                if wide { pick(k64, x64) } else { pick(k32, x32) }
            }
            class::JMP | class::JMP32 => {
                let wide = insn.class() == class::JMP;
                match (insn.operation(), x) {
                    (jmp::JA, false) => Self {
                        off: if wide { i32::from(insn.off) } else { insn.imm },
                        ..Self::new(Op::Ja, insn)
                    },
                    (jmp::EXIT, false) if wide => Self::new(Op::Exit, insn),
                    (jmp::CALL, false) if wide => match s {
                        0 => Self {
                            off: insn.imm,
                            ..Self::new(Op::Call, insn)
                        },
                        pseudo::CALL_LOCAL => Self {
                            off: insn.imm,
                            ..Self::new(Op::CallLocal, insn)
                        },
                        other => Self::fail(Op::FailPseudo, other),
                    },
                    (jmp::JA | jmp::EXIT | jmp::CALL, _) => unknown,
                    (op, _) => {
                        use Op::*;
                        let (k64, x64, k32, x32) = match op {
                            jmp::JEQ => (Jeq64K, Jeq64X, Jeq32K, Jeq32X),
                            jmp::JNE => (Jne64K, Jne64X, Jne32K, Jne32X),
                            jmp::JGT => (Jgt64K, Jgt64X, Jgt32K, Jgt32X),
                            jmp::JGE => (Jge64K, Jge64X, Jge32K, Jge32X),
                            jmp::JLT => (Jlt64K, Jlt64X, Jlt32K, Jlt32X),
                            jmp::JLE => (Jle64K, Jle64X, Jle32K, Jle32X),
                            jmp::JSET => (Jset64K, Jset64X, Jset32K, Jset32X),
                            jmp::JSGT => (Jsgt64K, Jsgt64X, Jsgt32K, Jsgt32X),
                            jmp::JSGE => (Jsge64K, Jsge64X, Jsge32K, Jsge32X),
                            jmp::JSLT => (Jslt64K, Jslt64X, Jslt32K, Jslt32X),
                            jmp::JSLE => (Jsle64K, Jsle64X, Jsle32K, Jsle32X),
                            _ => return unknown,
                        };
                        if wide { pick(k64, x64) } else { pick(k32, x32) }
                    }
                }
            }
            class::LD => {
                if !insn.is_ld_imm64() {
                    return unknown;
                }
                let Some(second) = Insn::decode(code, pc + 1) else {
                    return bad;
                };
                let Some(wide) = LdImm64::join(insn, second) else {
                    return bad;
                };
                if wide.src != 0 {
                    return Self::fail(Op::FailPseudo, wide.src);
                }
                if d == 10 {
                    return writes_r10;
                }
                Self {
                    imm: wide.value,
                    ..Self::new(Op::LdImm64, insn)
                }
            }
            class::LDX => {
                let op = match (opc & mode::MASK, size::bytes(opc)) {
                    (mode::MEM, 1) => Op::Ldx1,
                    (mode::MEM, 2) => Op::Ldx2,
                    (mode::MEM, 4) => Op::Ldx4,
                    (mode::MEM, _) => Op::Ldx8,
                    (mode::MEMSX, 1) => Op::Ldsx1,
                    (mode::MEMSX, 2) => Op::Ldsx2,
                    (mode::MEMSX, 4) => Op::Ldsx4,
                    _ => return unknown,
                };
                // The access is checked before the destination (as the reference does).
                Self::new(if d == 10 { Op::LdxR10 } else { op }, insn)
            }
            class::ST => {
                if opc & mode::MASK != mode::MEM {
                    return unknown;
                }
                let op = match size::bytes(opc) {
                    1 => Op::St1,
                    2 => Op::St2,
                    4 => Op::St4,
                    _ => Op::St8,
                };
                Self::new(op, insn)
            }
            _ => {
                // class::STX
                let len = size::bytes(opc);
                match opc & mode::MASK {
                    mode::MEM => Self::new(
                        match len {
                            1 => Op::Stx1,
                            2 => Op::Stx2,
                            4 => Op::Stx4,
                            _ => Op::Stx8,
                        },
                        insn,
                    ),
                    mode::ATOMIC if len >= 4 => {
                        let fetch = insn.imm & atomic::FETCH != 0;
                        if insn.imm != atomic::CMPXCHG && fetch && s == 10 {
                            return writes_r10;
                        }
                        Self::new(Op::Atomic, insn)
                    }
                    _ => unknown,
                }
            }
        }
    }
}

/// Decodes `code` (RFC 9669 encoding) for [`Vm::run_decoded`]: one [`Slot`] per 8-byte slot,
/// the same checks as [`Vm::run`] makes (an invalid slot fails when reached, with its pc).
/// Fails with [`ErrorKind::CodeLength`] when `code` is empty or not a multiple of 8 bytes.
///
/// ```
/// # use axebpf_vm::{Slot, Vm};
/// let code = [0xb7, 0, 0, 0, 7, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]; // r0 = 7; exit
/// let slots: Vec<Slot> = axebpf_vm::decode(&code).unwrap().collect();
/// assert_eq!(Vm::new(&[]).run_decoded(&slots, &mut []), Ok(7));
/// ```
pub fn decode(code: &[u8]) -> Result<impl ExactSizeIterator<Item = Slot> + '_, Error> {
    check_length(code)?;
    Ok((0..code.len() / 8).map(|pc| decode_at(code, pc)))
}

fn check_length(code: &[u8]) -> Result<(), Error> {
    if code.is_empty() || !code.len().is_multiple_of(8) {
        return Err(Error {
            pc: 0,
            kind: ErrorKind::CodeLength(code.len()),
        });
    }
    Ok(())
}

/// Slot `pc < code.len() / 8` of `code`.
#[inline]
fn decode_at(code: &[u8], pc: usize) -> Slot {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&code[pc * 8..pc * 8 + 8]);
    Slot::decode(code, pc, Insn::from_bytes(bytes))
}

#[cold]
#[inline(never)]
fn fail(pc: usize, kind: ErrorKind) -> Error {
    Error { pc, kind }
}

/// The memory a run may touch, fixed at its start but for the live frames.
struct Memory<'r> {
    /// Lowest byte of the deepest frame in use (moves with calls).
    stack_low: u64,
    /// One past the top of frame 0.
    stack_high: u64,
    /// Bytes `init_low..stack_high` of the stack are initialised; the live frames' bytes below
    /// are zeroed before anything may read them (an access, or a pointer passed to a helper).
    /// Entering a frame raises it to the frame's top, so the frame reads as zeros.
    init_low: u64,
    /// The stack array's address (with its provenance) and that address as a number.
    stack_ptr: *mut u8,
    stack_base: u64,
    ctx_start: u64,
    ctx_len: u64,
    regions: &'r [Region],
    /// One of `regions` (or an empty one): the last that allowed an access.
    last_region: Region,
    check: Option<AccessCheck>,
}

impl Memory<'_> {
    /// Checks an access of `len <= 8` bytes; zeroes the stack bytes it exposes first.
    #[inline(always)]
    fn allow(&mut self, pc: usize, addr: u64, len: usize, write: bool) -> Result<(), Error> {
        let n = len as u64;
        // Frames are at least 512 bytes, so the spans never underflow; and neither the stack
        // nor the context wraps around the address space, so one wrapping compare is exact.
        if addr.wrapping_sub(self.stack_low) <= self.stack_high - self.stack_low - n {
            if addr < self.init_low {
                self.expose(addr);
            }
            return Ok(());
        }
        if self.ctx_len >= n && addr.wrapping_sub(self.ctx_start) <= self.ctx_len - n {
            return Ok(());
        }
        // Accesses to a map value come in runs: try the region that allowed the last one.
        if self.last_region.allows(addr, n, write) {
            return Ok(());
        }
        self.allow_other(pc, addr, len, write)
    }

    #[inline(never)]
    fn allow_other(&mut self, pc: usize, addr: u64, len: usize, write: bool) -> Result<(), Error> {
        let n = len as u64;
        if let Some(region) = self.regions.iter().find(|r| r.allows(addr, n, write)) {
            self.last_region = *region;
            return Ok(());
        }
        if self.check.is_some_and(|check| check(addr, n, write)) {
            return Ok(());
        }
        Err(fail(pc, ErrorKind::OutOfBounds { addr, len, write }))
    }

    /// Zeroes the stack from `addr` (in a live frame, below `init_low`) rounded down to 64
    /// bytes up to `init_low`, in few calls as a frame is filled downwards.
    #[cold]
    #[inline(never)]
    fn expose(&mut self, addr: u64) {
        // Frames start at multiples of 512 bytes from the base, so the rounding stays in the
        // frame of `addr`.
        let low = (addr - self.stack_base) & !63;
        // SAFETY: `stack_low <= stack_base + low <= addr < init_low <= stack_high`, all within
        // the stack array, which this run borrows mutably.
        unsafe {
            ptr::write_bytes(
                self.stack_ptr.add(low as usize),
                0,
                (self.init_low - self.stack_base - low) as usize,
            )
        };
        self.init_low = self.stack_base + low;
    }

    /// Before a helper call: every argument pointing into the live frames has its bytes up to
    /// the top of the stack initialised (a helper reads upwards from the pointers it is given).
    #[inline(always)]
    fn expose_args(&mut self, args: &[u64]) {
        for &a in args {
            if a.wrapping_sub(self.stack_low) < self.init_low.saturating_sub(self.stack_low) {
                self.expose(a);
            }
        }
    }

    #[inline(always)]
    fn load(&mut self, pc: usize, addr: u64, len: usize) -> Result<u64, Error> {
        self.allow(pc, addr, len, false)?;
        let p = ptr::with_exposed_provenance::<u8>(addr as usize);
        // SAFETY: `allow` found `addr..addr + len` inside the live stack frames (our own array,
        // initialised up to there), the context slice, or memory the caller vouched for in
        // `set_regions`/`set_access_check`; the reads are unaligned-tolerant.
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

    #[inline(always)]
    fn store(&mut self, pc: usize, addr: u64, len: usize, value: u64) -> Result<(), Error> {
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

    /// Runs atomic `op` (of the instruction `opc`) on `len` bytes at `addr`; returns the old
    /// value (zero-extended).
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn atomic(
        &mut self,
        pc: usize,
        opc: u8,
        op: i32,
        addr: u64,
        len: usize,
        operand: u64,
        expected: u64,
    ) -> Result<u64, Error> {
        self.allow(pc, addr, len, true)?;
        if !addr.is_multiple_of(len as u64) {
            return Err(fail(pc, ErrorKind::MisalignedAtomic { addr, len }));
        }
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
                    _ => return Err(fail(pc, ErrorKind::BadEncoding(opc))),
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
        check_length(code)?;
        let count = code.len() / 8;
        self.execute(count, ctx, |pc| decode_at(code, pc))
    }

    /// [`run`](Self::run) on the program [`decode`] made into `slots`: the same semantics
    /// (same results, same errors at the same pcs), without decoding a slot at every step.
    pub fn run_decoded(&mut self, slots: &[Slot], ctx: &mut [u8]) -> Result<u64, Error> {
        if slots.is_empty() {
            return Err(fail(0, ErrorKind::CodeLength(0)));
        }
        self.execute(slots.len(), ctx, |pc| slots[pc])
    }

    /// The interpreter proper, on a program of `count` slots whose slot `pc` is `fetch(pc)`
    /// (for `pc < count`).
    #[inline(always)]
    fn execute(
        &mut self,
        count: usize,
        ctx: &mut [u8],
        fetch: impl Fn(usize) -> Slot,
    ) -> Result<u64, Error> {
        let Self {
            stacks,
            helpers,
            regions,
            check,
            budget,
        } = self;
        let budget = *budget;
        let stack_ptr = stacks.0.as_mut_ptr().cast::<u8>();
        let stack_base = stack_ptr.expose_provenance() as u64;
        let ctx_start = if ctx.is_empty() {
            0
        } else {
            ctx.as_mut_ptr().expose_provenance() as u64
        };
        let top = |depth: usize| stack_base + ((MAX_FRAMES - depth) * STACK_SIZE) as u64;
        let mut mem = Memory {
            stack_low: top(1),
            stack_high: top(0),
            init_low: top(0),
            stack_ptr,
            stack_base,
            ctx_start,
            ctx_len: ctx.len() as u64,
            regions,
            last_region: Region::default(),
            check: *check,
        };
        // 16 registers so that a (validated) register number indexes without a bounds check.
        let mut regs = [0u64; 16];
        regs[1] = ctx_start;
        regs[10] = top(0);
        let mut frames = [MaybeUninit::<Frame>::uninit(); MAX_FRAMES];
        let mut depth = 0usize;
        let mut pc = 0usize;
        let mut left = budget;
        loop {
            if left == 0 {
                return Err(fail(pc, ErrorKind::StepBudget(budget)));
            }
            left -= 1;
            if pc >= count {
                return Err(fail(pc, ErrorKind::JumpOutOfRange { target: pc as i64 }));
            }
            let slot = fetch(pc);
            let d = usize::from(slot.dst & 15);
            let s = usize::from(slot.src & 15);
            let imm = slot.imm;
            // The address a load (`addr_s!()`) or a store (`addr_d!()`) accesses.
            macro_rules! addr_s {
                () => {
                    regs[s].wrapping_add(slot.off as i64 as u64)
                };
            }
            macro_rules! addr_d {
                () => {
                    regs[d].wrapping_add(slot.off as i64 as u64)
                };
            }
            // The slot a jump by `slot.off` lands on, if inside the program.
            let target = pc as i64 + 1 + i64::from(slot.off);
            let in_range = (target as u64) < count as u64;
            macro_rules! jump {
                () => {{
                    if !in_range {
                        return Err(fail(pc, ErrorKind::JumpOutOfRange { target }));
                    }
                    pc = target as usize;
                    continue;
                }};
            }
            macro_rules! alu64 {
                (|$a:ident, $b:ident| $e:expr, $operand:expr) => {{
                    let ($a, $b) = (regs[d], $operand);
                    regs[d] = $e;
                }};
            }
            macro_rules! alu32 {
                (|$a:ident, $b:ident| $e:expr, $operand:expr) => {{
                    let ($a, $b) = (regs[d] as u32, $operand as u32);
                    regs[d] = u64::from($e);
                }};
            }
            macro_rules! jmp64 {
                (|$a:ident, $b:ident| $e:expr, $operand:expr) => {{
                    let ($a, $b) = (regs[d], $operand);
                    if $e {
                        jump!();
                    }
                }};
            }
            macro_rules! jmp32 {
                (|$a:ident, $b:ident| $e:expr, $operand:expr) => {{
                    let ($a, $b) = (regs[d] as u32, $operand as u32);
                    if $e {
                        jump!();
                    }
                }};
            }
            match slot.op {
                Op::Add64K => alu64!(|a, b| a.wrapping_add(b), imm),
                Op::Add64X => alu64!(|a, b| a.wrapping_add(b), regs[s]),
                Op::Sub64K => alu64!(|a, b| a.wrapping_sub(b), imm),
                Op::Sub64X => alu64!(|a, b| a.wrapping_sub(b), regs[s]),
                Op::Mul64K => alu64!(|a, b| a.wrapping_mul(b), imm),
                Op::Mul64X => alu64!(|a, b| a.wrapping_mul(b), regs[s]),
                Op::Div64K => alu64!(|a, b| a.checked_div(b).unwrap_or(0), imm),
                Op::Div64X => alu64!(|a, b| a.checked_div(b).unwrap_or(0), regs[s]),
                Op::SDiv64K => alu64!(|a, b| sdiv64(a, b), imm),
                Op::SDiv64X => alu64!(|a, b| sdiv64(a, b), regs[s]),
                Op::Mod64K => alu64!(|a, b| a.checked_rem(b).unwrap_or(a), imm),
                Op::Mod64X => alu64!(|a, b| a.checked_rem(b).unwrap_or(a), regs[s]),
                Op::SMod64K => alu64!(|a, b| smod64(a, b), imm),
                Op::SMod64X => alu64!(|a, b| smod64(a, b), regs[s]),
                Op::Or64K => alu64!(|a, b| a | b, imm),
                Op::Or64X => alu64!(|a, b| a | b, regs[s]),
                Op::And64K => alu64!(|a, b| a & b, imm),
                Op::And64X => alu64!(|a, b| a & b, regs[s]),
                Op::Lsh64K => alu64!(|a, b| a << (b & 63), imm),
                Op::Lsh64X => alu64!(|a, b| a << (b & 63), regs[s]),
                Op::Rsh64K => alu64!(|a, b| a >> (b & 63), imm),
                Op::Rsh64X => alu64!(|a, b| a >> (b & 63), regs[s]),
                Op::Arsh64K => alu64!(|a, b| ((a as i64) >> (b & 63)) as u64, imm),
                Op::Arsh64X => alu64!(|a, b| ((a as i64) >> (b & 63)) as u64, regs[s]),
                Op::Xor64K => alu64!(|a, b| a ^ b, imm),
                Op::Xor64X => alu64!(|a, b| a ^ b, regs[s]),
                Op::Mov64K => regs[d] = imm,
                Op::Mov64X => regs[d] = regs[s],
                Op::Neg64 => regs[d] = regs[d].wrapping_neg(),
                Op::MovSx64B => regs[d] = regs[s] as i8 as i64 as u64,
                Op::MovSx64H => regs[d] = regs[s] as i16 as i64 as u64,
                Op::MovSx64W => regs[d] = regs[s] as i32 as i64 as u64,
                Op::Add32K => alu32!(|a, b| a.wrapping_add(b), imm),
                Op::Add32X => alu32!(|a, b| a.wrapping_add(b), regs[s]),
                Op::Sub32K => alu32!(|a, b| a.wrapping_sub(b), imm),
                Op::Sub32X => alu32!(|a, b| a.wrapping_sub(b), regs[s]),
                Op::Mul32K => alu32!(|a, b| a.wrapping_mul(b), imm),
                Op::Mul32X => alu32!(|a, b| a.wrapping_mul(b), regs[s]),
                Op::Div32K => alu32!(|a, b| a.checked_div(b).unwrap_or(0), imm),
                Op::Div32X => alu32!(|a, b| a.checked_div(b).unwrap_or(0), regs[s]),
                Op::SDiv32K => alu32!(|a, b| sdiv32(a, b), imm),
                Op::SDiv32X => alu32!(|a, b| sdiv32(a, b), regs[s]),
                Op::Mod32K => alu32!(|a, b| a.checked_rem(b).unwrap_or(a), imm),
                Op::Mod32X => alu32!(|a, b| a.checked_rem(b).unwrap_or(a), regs[s]),
                Op::SMod32K => alu32!(|a, b| smod32(a, b), imm),
                Op::SMod32X => alu32!(|a, b| smod32(a, b), regs[s]),
                Op::Or32K => alu32!(|a, b| a | b, imm),
                Op::Or32X => alu32!(|a, b| a | b, regs[s]),
                Op::And32K => alu32!(|a, b| a & b, imm),
                Op::And32X => alu32!(|a, b| a & b, regs[s]),
                Op::Lsh32K => alu32!(|a, b| a << (b & 31), imm),
                Op::Lsh32X => alu32!(|a, b| a << (b & 31), regs[s]),
                Op::Rsh32K => alu32!(|a, b| a >> (b & 31), imm),
                Op::Rsh32X => alu32!(|a, b| a >> (b & 31), regs[s]),
                Op::Arsh32K => alu32!(|a, b| ((a as i32) >> (b & 31)) as u32, imm),
                Op::Arsh32X => alu32!(|a, b| ((a as i32) >> (b & 31)) as u32, regs[s]),
                Op::Xor32K => alu32!(|a, b| a ^ b, imm),
                Op::Xor32X => alu32!(|a, b| a ^ b, regs[s]),
                Op::Mov32K => regs[d] = u64::from(imm as u32),
                Op::Mov32X => regs[d] = u64::from(regs[s] as u32),
                Op::Neg32 => regs[d] = u64::from((regs[d] as u32).wrapping_neg()),
                Op::MovSx32B => regs[d] = u64::from(regs[s] as i8 as i32 as u32),
                Op::MovSx32H => regs[d] = u64::from(regs[s] as i16 as i32 as u32),
                Op::End => match end(slot.aux, regs[d], imm as i32) {
                    Some(v) => regs[d] = v,
                    None => return Err(fail(pc, ErrorKind::BadEncoding(slot.aux))),
                },
                Op::LdImm64 => {
                    regs[d] = imm;
                    pc += 2;
                    continue;
                }
                Op::Ldx1 => regs[d] = mem.load(pc, addr_s!(), 1)?,
                Op::Ldx2 => regs[d] = mem.load(pc, addr_s!(), 2)?,
                Op::Ldx4 => regs[d] = mem.load(pc, addr_s!(), 4)?,
                Op::Ldx8 => regs[d] = mem.load(pc, addr_s!(), 8)?,
                Op::Ldsx1 => regs[d] = mem.load(pc, addr_s!(), 1)? as i8 as i64 as u64,
                Op::Ldsx2 => regs[d] = mem.load(pc, addr_s!(), 2)? as i16 as i64 as u64,
                Op::Ldsx4 => regs[d] = mem.load(pc, addr_s!(), 4)? as i32 as i64 as u64,
                Op::LdxR10 => {
                    mem.load(pc, addr_s!(), size::bytes(slot.aux))?;
                    return Err(fail(pc, ErrorKind::BadRegister(10)));
                }
                Op::St1 => mem.store(pc, addr_d!(), 1, imm)?,
                Op::St2 => mem.store(pc, addr_d!(), 2, imm)?,
                Op::St4 => mem.store(pc, addr_d!(), 4, imm)?,
                Op::St8 => mem.store(pc, addr_d!(), 8, imm)?,
                Op::Stx1 => mem.store(pc, addr_d!(), 1, regs[s])?,
                Op::Stx2 => mem.store(pc, addr_d!(), 2, regs[s])?,
                Op::Stx4 => mem.store(pc, addr_d!(), 4, regs[s])?,
                Op::Stx8 => mem.store(pc, addr_d!(), 8, regs[s])?,
                Op::Atomic => {
                    let (op, len) = (imm as i32, size::bytes(slot.aux));
                    if op == atomic::CMPXCHG {
                        regs[0] = mem.atomic(pc, slot.aux, op, addr_d!(), len, regs[s], regs[0])?;
                    } else {
                        let old = mem.atomic(pc, slot.aux, op, addr_d!(), len, regs[s], 0)?;
                        if op & atomic::FETCH != 0 {
                            regs[s] = old;
                        }
                    }
                }
                Op::Ja => jump!(),
                Op::Call => {
                    let id = slot.off;
                    let Some(helper) = usize::try_from(id)
                        .ok()
                        .and_then(|id| helpers.get(id).copied().flatten())
                    else {
                        return Err(fail(pc, ErrorKind::UnknownHelper(id)));
                    };
                    mem.expose_args(&regs[1..=5]);
                    regs[0] = helper(regs[1], regs[2], regs[3], regs[4], regs[5]);
                }
                Op::CallLocal => {
                    if !in_range {
                        return Err(fail(pc, ErrorKind::JumpOutOfRange { target }));
                    }
                    if depth + 1 >= MAX_FRAMES {
                        return Err(fail(pc, ErrorKind::CallDepth));
                    }
                    frames[depth].write(Frame {
                        return_pc: pc + 1,
                        saved: [regs[6], regs[7], regs[8], regs[9]],
                    });
                    depth += 1;
                    regs[10] = top(depth);
                    mem.stack_low = top(depth + 1);
                    // The new frame reads as zeros: none of its bytes counts as initialised.
                    mem.init_low = mem.init_low.max(top(depth));
                    pc = target as usize;
                    continue;
                }
                Op::Exit => {
                    if depth == 0 {
                        return Ok(regs[0]);
                    }
                    depth -= 1;
                    // SAFETY: the call that entered frame `depth + 1` wrote `frames[depth]`.
                    let frame = unsafe { frames[depth].assume_init() };
                    regs[6..10].copy_from_slice(&frame.saved);
                    regs[10] = top(depth);
                    mem.stack_low = top(depth + 1);
                    pc = frame.return_pc;
                    continue;
                }
                Op::Jeq64K => jmp64!(|a, b| a == b, imm),
                Op::Jeq64X => jmp64!(|a, b| a == b, regs[s]),
                Op::Jne64K => jmp64!(|a, b| a != b, imm),
                Op::Jne64X => jmp64!(|a, b| a != b, regs[s]),
                Op::Jgt64K => jmp64!(|a, b| a > b, imm),
                Op::Jgt64X => jmp64!(|a, b| a > b, regs[s]),
                Op::Jge64K => jmp64!(|a, b| a >= b, imm),
                Op::Jge64X => jmp64!(|a, b| a >= b, regs[s]),
                Op::Jlt64K => jmp64!(|a, b| a < b, imm),
                Op::Jlt64X => jmp64!(|a, b| a < b, regs[s]),
                Op::Jle64K => jmp64!(|a, b| a <= b, imm),
                Op::Jle64X => jmp64!(|a, b| a <= b, regs[s]),
                Op::Jset64K => jmp64!(|a, b| a & b != 0, imm),
                Op::Jset64X => jmp64!(|a, b| a & b != 0, regs[s]),
                Op::Jsgt64K => jmp64!(|a, b| (a as i64) > (b as i64), imm),
                Op::Jsgt64X => jmp64!(|a, b| (a as i64) > (b as i64), regs[s]),
                Op::Jsge64K => jmp64!(|a, b| (a as i64) >= (b as i64), imm),
                Op::Jsge64X => jmp64!(|a, b| (a as i64) >= (b as i64), regs[s]),
                Op::Jslt64K => jmp64!(|a, b| (a as i64) < (b as i64), imm),
                Op::Jslt64X => jmp64!(|a, b| (a as i64) < (b as i64), regs[s]),
                Op::Jsle64K => jmp64!(|a, b| (a as i64) <= (b as i64), imm),
                Op::Jsle64X => jmp64!(|a, b| (a as i64) <= (b as i64), regs[s]),
                Op::Jeq32K => jmp32!(|a, b| a == b, imm),
                Op::Jeq32X => jmp32!(|a, b| a == b, regs[s]),
                Op::Jne32K => jmp32!(|a, b| a != b, imm),
                Op::Jne32X => jmp32!(|a, b| a != b, regs[s]),
                Op::Jgt32K => jmp32!(|a, b| a > b, imm),
                Op::Jgt32X => jmp32!(|a, b| a > b, regs[s]),
                Op::Jge32K => jmp32!(|a, b| a >= b, imm),
                Op::Jge32X => jmp32!(|a, b| a >= b, regs[s]),
                Op::Jlt32K => jmp32!(|a, b| a < b, imm),
                Op::Jlt32X => jmp32!(|a, b| a < b, regs[s]),
                Op::Jle32K => jmp32!(|a, b| a <= b, imm),
                Op::Jle32X => jmp32!(|a, b| a <= b, regs[s]),
                Op::Jset32K => jmp32!(|a, b| a & b != 0, imm),
                Op::Jset32X => jmp32!(|a, b| a & b != 0, regs[s]),
                Op::Jsgt32K => jmp32!(|a, b| (a as i32) > (b as i32), imm),
                Op::Jsgt32X => jmp32!(|a, b| (a as i32) > (b as i32), regs[s]),
                Op::Jsge32K => jmp32!(|a, b| (a as i32) >= (b as i32), imm),
                Op::Jsge32X => jmp32!(|a, b| (a as i32) >= (b as i32), regs[s]),
                Op::Jslt32K => jmp32!(|a, b| (a as i32) < (b as i32), imm),
                Op::Jslt32X => jmp32!(|a, b| (a as i32) < (b as i32), regs[s]),
                Op::Jsle32K => jmp32!(|a, b| (a as i32) <= (b as i32), imm),
                Op::Jsle32X => jmp32!(|a, b| (a as i32) <= (b as i32), regs[s]),
                Op::FailUnknown => return Err(fail(pc, ErrorKind::UnknownOpcode(slot.aux))),
                Op::FailBad => return Err(fail(pc, ErrorKind::BadEncoding(slot.aux))),
                Op::FailRegister => return Err(fail(pc, ErrorKind::BadRegister(slot.aux))),
                Op::FailPseudo => return Err(fail(pc, ErrorKind::UnsupportedPseudo(slot.aux))),
            }
            pc += 1;
        }
    }
}

fn sdiv64(a: u64, b: u64) -> u64 {
    match b {
        0 => 0,
        _ => (a as i64).wrapping_div(b as i64) as u64,
    }
}

fn smod64(a: u64, b: u64) -> u64 {
    match b {
        0 => a,
        _ => (a as i64).wrapping_rem(b as i64) as u64,
    }
}

fn sdiv32(a: u32, b: u32) -> u32 {
    match b {
        0 => 0,
        _ => (a as i32).wrapping_div(b as i32) as u32,
    }
}

fn smod32(a: u32, b: u32) -> u32 {
    match b {
        0 => a,
        _ => (a as i32).wrapping_rem(b as i32) as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_division_edges() {
        let min = i64::MIN as u64;
        assert_eq!(sdiv64(min, u64::MAX), min);
        assert_eq!(smod64(min, u64::MAX), 0);
        assert_eq!(sdiv64(7, 0), 0);
        assert_eq!(smod64(7, 0), 7);
        assert_eq!(sdiv32(i32::MIN as u32, u32::MAX), i32::MIN as u32);
        assert_eq!(smod32((-7i32) as u32, 2), (-1i32) as u32);
    }

    #[test]
    fn slots_stay_small() {
        assert_eq!(core::mem::size_of::<Slot>(), 16);
    }

    #[test]
    fn regions_check_both_ends_and_permissions() {
        let r = Region {
            start: 100,
            len: 8,
            writable: false,
        };
        assert!(r.allows(100, 8, false));
        assert!(!r.allows(101, 8, false));
        assert!(!r.allows(99, 1, false));
        assert!(!r.allows(100, 1, true));
        assert!(!r.allows(u64::MAX, 2, false));
    }

    #[test]
    fn errors_display_pc_and_reason() {
        let e = Error {
            pc: 3,
            kind: ErrorKind::OutOfBounds {
                addr: 0x10,
                len: 8,
                write: true,
            },
        };
        let mut s = [0u8; 64];
        let mut w = Buf(&mut s, 0);
        fmt::write(&mut w, format_args!("{e}")).unwrap();
        let n = w.1;
        assert_eq!(&s[..n], b"pc 3: out-of-bounds store of 8 bytes at 0x10");
    }

    struct Buf<'a>(&'a mut [u8], usize);
    impl fmt::Write for Buf<'_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.0[self.1..self.1 + s.len()].copy_from_slice(s.as_bytes());
            self.1 += s.len();
            Ok(())
        }
    }
}
