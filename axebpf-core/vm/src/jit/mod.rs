//! The JIT compiler's backend-independent half: it checks a program, decodes it into [`Op`]s,
//! works out its subprograms and the frames they need, and drives a [`Backend`] that emits
//! machine code for one target, resolving jumps through [`Labels`].
//!
//! # What the compiled code does (and does not) check
//!
//! Compilation accepts exactly the instructions the interpreter runs (same decoding, same
//! [`ErrorKind`](crate::ErrorKind)-style reasons, each [`JitError`] naming the slot), and refuses
//! statically what the interpreter would only fail on when reached: jumps and calls outside the
//! program (or out of their subprogram, or onto the second slot of an `LD_IMM64`), a last
//! instruction that can fall off a subprogram's end, unknown helpers, recursion and call chains
//! deeper than [`MAX_FRAMES`].
//!
//! The compiled code itself checks nothing: **loads, stores and atomics are not bounds-checked,
//! atomics are not alignment-checked and there is no step budget.** Proving that a program only
//! touches memory it may, and terminates, is the verifier's job; run only verified programs.
//! For such programs the compiled code computes what the interpreter computes, with differences
//! a verified program cannot observe: the stack frames start with unspecified contents (not
//! zero); `r1`–`r5` are unspecified after a helper call (the interpreter keeps them; the
//! verifier refuses to read them, `uninit_reg`); and the stack lives on the native stack of the
//! calling thread (x86-64: the frames plus at most 48 bytes, and at most 48 more per nested
//! local call; helpers need their own).
//!
//! Calling conventions (the eBPF ABI, as Linux's JIT): the entry point is a [`JitFn`], `r1` is
//! its argument, `r0` and `r2`–`r9` start at zero (those the program names, [`Op::registers`];
//! the others cannot be observed) and `r10` points at the top of frame 0. Helpers get `r1`–`r5`
//! as their five arguments and return `r0`; `r1`–`r5` are caller-saved (clobbered), `r6`–`r10`
//! survive. A local call gives the callee the next 512-byte frame below its caller's and
//! restores `r6`–`r10` when it returns; `r1`–`r5` are the callee's to clobber too. Frames live
//! in one area of `frames × 512` bytes reserved by the prologue (only if the program uses
//! `r10`), where `frames` is the deepest call chain the program can make ([`Program::frames`]).
//!
//! The code is position-independent: copy it anywhere executable (after writing it, make the
//! memory read+execute and not writable) and call offset 0.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::insn::{Insn, LdImm64, alu, atomic, class, jmp, mode, pseudo, size};
use crate::{Helper, MAX_FRAMES, STACK_SIZE};

#[cfg(target_arch = "x86_64")]
pub mod x86_64;

/// The signature of compiled code: `r1 = ctx`, returns `r0` at the final `exit`.
///
/// # Safety
/// The code must be compiled from a program that only accesses memory it may (the JIT does not
/// bounds-check) and terminates, with helpers that are sound to call with the arguments the
/// program passes.
pub type JitFn = unsafe extern "C" fn(ctx: *mut u8) -> u64;

/// Why a program cannot be compiled. Every variant names the slot (`pc`) at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JitError {
    /// The program is empty or its length is not a multiple of 8 (`pc`: the partial slot).
    CodeLength {
        /// The slot at fault.
        pc: usize,
        /// The program's length in bytes.
        len: usize,
    },
    /// An opcode the ISA does not define.
    UnknownOpcode {
        /// The slot at fault.
        pc: usize,
        /// Its opcode.
        opcode: u8,
    },
    /// A defined opcode with an invalid `off`, `imm`, `src`, or second `LD_IMM64` slot.
    BadEncoding {
        /// The slot at fault.
        pc: usize,
        /// Its opcode.
        opcode: u8,
    },
    /// A register number past r10, or a write to the read-only r10.
    BadRegister {
        /// The slot at fault.
        pc: usize,
        /// The register.
        reg: u8,
    },
    /// The legacy packet loads `LD_ABS`/`LD_IND`.
    LegacyPacketAccess {
        /// The slot at fault.
        pc: usize,
        /// Its opcode.
        opcode: u8,
    },
    /// An `LD_IMM64` pseudo kind other than 0 (map references and the like), or a `CALL` pseudo
    /// kind other than helper and local calls (kfuncs...).
    UnsupportedPseudo {
        /// The slot at fault.
        pc: usize,
        /// The `src` field naming the pseudo kind.
        src: u8,
    },
    /// A helper call to an id the table does not hold.
    UnknownHelper {
        /// The slot at fault.
        pc: usize,
        /// The helper id (the call's `imm`).
        id: i32,
    },
    /// A jump or local call to a slot outside the program, a jump out of its subprogram, or
    /// either onto the second slot of an `LD_IMM64`.
    JumpOutOfRange {
        /// The slot at fault.
        pc: usize,
        /// The slot it would continue at.
        target: i64,
    },
    /// The last instruction of the program or of a subprogram can fall through its end (it is
    /// not an `exit` or an unconditional jump).
    FallsThrough {
        /// The slot at fault.
        pc: usize,
    },
    /// A local call that can (indirectly) call its own subprogram again.
    Recursion {
        /// The call closing the cycle.
        pc: usize,
    },
    /// A chain of local calls needing more than [`MAX_FRAMES`] frames.
    CallDepth {
        /// The call in the chain that needs too many frames.
        pc: usize,
        /// Frames the chain through it needs.
        frames: usize,
    },
}

impl JitError {
    /// The slot at fault.
    pub const fn pc(&self) -> usize {
        match *self {
            Self::CodeLength { pc, .. }
            | Self::UnknownOpcode { pc, .. }
            | Self::BadEncoding { pc, .. }
            | Self::BadRegister { pc, .. }
            | Self::LegacyPacketAccess { pc, .. }
            | Self::UnsupportedPseudo { pc, .. }
            | Self::UnknownHelper { pc, .. }
            | Self::JumpOutOfRange { pc, .. }
            | Self::FallsThrough { pc }
            | Self::Recursion { pc }
            | Self::CallDepth { pc, .. } => pc,
        }
    }
}

impl fmt::Display for JitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pc {}: ", self.pc())?;
        match *self {
            Self::CodeLength { len, .. } => {
                write!(f, "program of {len} bytes (not a nonzero multiple of 8)")
            }
            Self::UnknownOpcode { opcode, .. } => write!(f, "unknown opcode {opcode:#04x}"),
            Self::BadEncoding { opcode, .. } => {
                write!(f, "invalid fields for opcode {opcode:#04x}")
            }
            Self::BadRegister { reg, .. } => write!(f, "invalid register r{reg}"),
            Self::LegacyPacketAccess { opcode, .. } => {
                write!(
                    f,
                    "legacy packet access (opcode {opcode:#04x}) is not supported"
                )
            }
            Self::UnsupportedPseudo { src, .. } => write!(f, "unsupported pseudo kind {src}"),
            Self::UnknownHelper { id, .. } => write!(f, "unknown helper {id}"),
            Self::JumpOutOfRange { target, .. } => {
                write!(f, "jump to slot {target}, outside its subprogram")
            }
            Self::FallsThrough { .. } => write!(f, "the last instruction can fall through"),
            Self::Recursion { .. } => write!(f, "recursive local call"),
            Self::CallDepth { frames, .. } => {
                write!(f, "call chain of {frames} frames (at most {MAX_FRAMES})")
            }
        }
    }
}

impl core::error::Error for JitError {}

/// An operand: a register (0–10) or the instruction's immediate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operand {
    /// A register.
    Reg(u8),
    /// The immediate, as encoded (each [`Op`] says how it is extended).
    Imm(i32),
}

/// One decoded, checked instruction, in the form the backends emit. Registers are eBPF
/// register numbers (0–10); `wide` means 64-bit (ALU64, JMP, DW) rather than 32-bit.
#[derive(Debug, Clone, Copy)]
pub enum Op {
    /// `dst = dst op src` for `op` one of [`alu`]'s `ADD`, `SUB`, `MUL`, `OR`, `AND`, `LSH`,
    /// `RSH`, `ARSH`, `XOR`, `MOV`. 64-bit forms sign-extend an immediate; 32-bit forms work on
    /// the low halves and zero-extend the result; shift counts are masked to the width.
    Alu {
        /// 64-bit.
        wide: bool,
        /// The [`alu`] operation.
        op: u8,
        /// Destination.
        dst: u8,
        /// Source.
        src: Operand,
    },
    /// `dst = -dst`.
    Neg {
        /// 64-bit.
        wide: bool,
        /// Destination.
        dst: u8,
    },
    /// Division or modulo: by zero gives 0 (division) or leaves `dst` (modulo); signed
    /// `MIN / -1` gives `MIN` and `MIN % -1` gives 0.
    DivMod {
        /// 64-bit.
        wide: bool,
        /// Signed (`off = 1`).
        signed: bool,
        /// Modulo rather than division.
        modulo: bool,
        /// Destination (and dividend).
        dst: u8,
        /// Divisor.
        src: Operand,
    },
    /// `dst = (sign-extended) low `bits` of src`, then zero-extended from 32 bits unless `wide`.
    MovSx {
        /// 64-bit.
        wide: bool,
        /// 8, 16 or 32 (32 only when `wide`).
        bits: u8,
        /// Destination.
        dst: u8,
        /// Source register.
        src: u8,
    },
    /// `dst = low `bits` of dst`, byte-reversed when `swap` (to big endian on this
    /// little-endian host, or the unconditional `bswap`), zero-extended.
    Endian {
        /// 16, 32 or 64.
        bits: u8,
        /// Reverse the bytes.
        swap: bool,
        /// Destination.
        dst: u8,
    },
    /// `dst = value` (`LD_IMM64`, two slots).
    LdImm64 {
        /// Destination.
        dst: u8,
        /// The constant.
        value: u64,
    },
    /// `dst = *(size *)(base + off)`, zero- or sign-extended.
    Load {
        /// 1, 2, 4 or 8.
        bytes: u8,
        /// Sign-extending (`MEMSX`).
        signed: bool,
        /// Destination.
        dst: u8,
        /// Address register.
        base: u8,
        /// Displacement.
        off: i16,
    },
    /// `*(size *)(base + off) = src` (an immediate is sign-extended, then truncated).
    Store {
        /// 1, 2, 4 or 8.
        bytes: u8,
        /// Address register.
        base: u8,
        /// Displacement.
        off: i16,
        /// The value.
        src: Operand,
    },
    /// An atomic read-modify-write of 4 or 8 bytes at `base + off` with `src`; `op` is one of
    /// [`atomic`]'s operations (the instruction's `imm`, checked).
    Atomic {
        /// 8 bytes rather than 4.
        wide: bool,
        /// The [`atomic`] operation, `FETCH` flag included.
        op: i32,
        /// Address register.
        base: u8,
        /// Displacement.
        off: i16,
        /// Operand (and, with `FETCH` or `XCHG`, destination of the old value).
        src: u8,
    },
    /// Unconditional jump to slot `target` (`ja` or `gotol`).
    Jump {
        /// The slot.
        target: usize,
    },
    /// Jump to slot `target` when `dst cond src` holds; `cond` is one of [`jmp`]'s conditions.
    /// 64-bit forms sign-extend an immediate; 32-bit forms compare the low halves.
    Branch {
        /// 64-bit.
        wide: bool,
        /// The [`jmp`] condition.
        cond: u8,
        /// Left operand.
        dst: u8,
        /// Right operand.
        src: Operand,
        /// The slot.
        target: usize,
    },
    /// `r0 = helper(r1, ..., r5)`.
    CallHelper {
        /// The helper's id.
        id: i32,
        /// The function.
        helper: Helper,
    },
    /// `r0 = *(u32 *)r2 < entries ? base + key * stride : 0`: a lookup helper call on an ARRAY
    /// map the runtime described ([`ArrayLayout`]), compiled in place as Linux's
    /// `map_gen_lookup` does. Like the call it replaces, it leaves r1–r5 undefined.
    ArrayLookup {
        /// Address of value 0.
        base: u64,
        /// Bytes from one value to the next.
        stride: u32,
        /// Values in the array.
        entries: u32,
    },
    /// A BPF-to-BPF call of the subprogram at slot `target`.
    CallLocal {
        /// The slot.
        target: usize,
    },
    /// Return from the subprogram (or the program) with `r0`.
    Exit,
    /// The second slot of an `LD_IMM64`: nothing to emit, and never a jump target.
    Hole,
}

impl Op {
    /// Whether execution can continue at the next slot.
    const fn falls_through(&self) -> bool {
        !matches!(self, Self::Exit | Self::Jump { .. })
    }

    /// The registers the op reads or writes, as a set (bit `r` for `rr`), implicit operands
    /// included: r0 for `exit`, `CMPXCHG` and helper calls (the result), r1–r5 for helper
    /// calls (the arguments, which the call clobbers).
    pub const fn registers(&self) -> u16 {
        const fn operand(src: Operand) -> u16 {
            match src {
                Operand::Reg(r) => 1 << r,
                Operand::Imm(_) => 0,
            }
        }
        match *self {
            Self::Alu { dst, src, .. } | Self::DivMod { dst, src, .. } => 1 << dst | operand(src),
            Self::Neg { dst, .. } | Self::Endian { dst, .. } | Self::LdImm64 { dst, .. } => {
                1 << dst
            }
            Self::MovSx { dst, src, .. } => 1 << dst | 1 << src,
            Self::Load { dst, base, .. } => 1 << dst | 1 << base,
            Self::Store { base, src, .. } => 1 << base | operand(src),
            Self::Atomic { op, base, src, .. } => {
                let r0 = if op == atomic::CMPXCHG { 1 } else { 0 };
                r0 | 1 << base | 1 << src
            }
            Self::Branch { dst, src, .. } => 1 << dst | operand(src),
            Self::CallHelper { .. } | Self::ArrayLookup { .. } => 0b11_1111,
            Self::Exit => 1,
            Self::Jump { .. } | Self::CallLocal { .. } | Self::Hole => 0,
        }
    }
}

/// A checked program: its ops (one per slot) and the frames its deepest call chain needs.
#[derive(Debug, Clone)]
pub struct Program {
    /// One op per slot (the second slot of an `LD_IMM64` is [`Op::Hole`]).
    pub ops: Vec<Op>,
    /// The slots where subprograms start (slot 0 first, ascending).
    pub entries: Vec<usize>,
    /// Frames the deepest call chain uses (1 without local calls, at most [`MAX_FRAMES`]).
    pub frames: usize,
}

impl Program {
    /// Bytes of the stack area holding all frames.
    pub const fn stack_size(&self) -> usize {
        self.frames * STACK_SIZE
    }

    /// The registers some op reads or writes ([`Op::registers`] over the whole program): a
    /// register outside this set cannot be observed, so it needs no initial value.
    pub fn registers(&self) -> u16 {
        self.ops.iter().fold(0, |set, op| set | op.registers())
    }

    /// Whether some op calls a helper.
    pub fn calls_helpers(&self) -> bool {
        self.ops
            .iter()
            .any(|op| matches!(op, Op::CallHelper { .. }))
    }

    /// Whether the program has BPF-to-BPF calls (subprograms besides the main one).
    pub fn calls_locally(&self) -> bool {
        self.entries.len() > 1
    }

    /// The slot where the main program ends (the first subprogram's entry, or the end).
    pub fn main_end(&self) -> usize {
        self.entries.get(1).copied().unwrap_or(self.ops.len())
    }
}

/// A place in the code that must be patched with the address of slot `target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fixup {
    /// Offset in the code of whatever the backend patches (a displacement field, say).
    pub at: usize,
    /// The slot whose code it refers to.
    pub target: usize,
    /// A short reference (x86-64: an 8-bit displacement) that [`Labels::near`] allowed.
    pub short: bool,
}

/// Code offsets of the slots and the references to them still to patch, and the layout of the
/// previous pass, if any.
#[derive(Debug, Clone, Default)]
pub struct Labels {
    offsets: Vec<Option<usize>>,
    fixups: Vec<Fixup>,
    /// The previous pass's offset of every slot, and the code's end.
    previous: Option<Vec<usize>>,
}

impl Labels {
    /// Labels for a program of `slots` slots.
    pub fn new(slots: usize) -> Self {
        Self {
            offsets: vec![None; slots],
            fixups: Vec::new(),
            previous: None,
        }
    }

    /// Labels for a second pass over the same program, knowing where the first pass (`self`,
    /// every slot bound) put every slot and that its code ended at `end`.
    pub fn next_pass(self, end: usize) -> Self {
        let slots = self.offsets.len();
        let mut previous: Vec<usize> = self
            .offsets
            .into_iter()
            .map(|offset| offset.expect("the first pass binds every slot"))
            .collect();
        previous.push(end);
        Self {
            offsets: vec![None; slots],
            fixups: Vec::new(),
            previous: Some(previous),
        }
    }

    /// Whether a jump ending slot `pc`'s code can reach slot `target` with a signed 8-bit
    /// displacement (from the jump's end), judging by the previous pass: the code of every
    /// slot is no longer in this pass than in the previous one (only jumps shrink), so distances
    /// only shrink. Always false in the first pass.
    pub fn near(&self, pc: usize, target: usize) -> bool {
        let Some(previous) = &self.previous else {
            return false;
        };
        let (start, end, to) = (previous[pc], previous[pc + 1], previous[target]);
        if target > pc {
            // From the jump's end, at least 2 bytes after the slot's start.
            to - start <= 127 + 2
        } else {
            // Back from the jump's end, at most the slot's end.
            end - to <= 128
        }
    }

    /// Records that slot `pc`'s code starts at code offset `offset`.
    pub fn bind(&mut self, pc: usize, offset: usize) {
        self.offsets[pc] = Some(offset);
    }

    /// The code offset of slot `pc`, once bound.
    pub fn offset(&self, pc: usize) -> Option<usize> {
        self.offsets.get(pc).copied().flatten()
    }

    /// Asks for the reference at code offset `at` to be patched with slot `target`'s offset.
    pub fn refer(&mut self, at: usize, target: usize) {
        self.fixups.push(Fixup {
            at,
            target,
            short: false,
        });
    }

    /// [`refer`](Self::refer) for a short reference, which [`near`](Self::near) allowed.
    pub fn refer_short(&mut self, at: usize, target: usize) {
        self.fixups.push(Fixup {
            at,
            target,
            short: true,
        });
    }

    /// The references recorded so far.
    pub fn fixups(&self) -> &[Fixup] {
        &self.fixups
    }
}

/// One target's code generator, driven by [`compile_with`]: `new`, `prologue`, then `emit` for
/// every slot in order (after binding the slot's label at [`position`](Self::position)), then
/// `patch` for every recorded [`Fixup`], then `finish`. All of it twice: the second pass's
/// [`Labels`] know the first pass's layout ([`Labels::near`]), so jumps can take short forms;
/// the code of a slot must depend only on the op and on what `near` answers, and must not grow
/// when `near` says yes.
pub trait Backend: Sized {
    /// A generator for `program` (its stack area is [`Program::stack_size`] bytes).
    fn new(program: &Program) -> Self;
    /// Emits the entry sequence (at code offset 0). Slot 0's code follows it: the backend runs
    /// the main program in place (its `exit`s return from the entry point) or calls it.
    fn prologue(&mut self, labels: &mut Labels);
    /// The current code offset.
    fn position(&self) -> usize;
    /// Emits slot `pc`'s op, recording references to other slots in `labels`.
    fn emit(&mut self, pc: usize, op: &Op, labels: &mut Labels);
    /// Makes the reference `fixup` point at code offset `target`.
    fn patch(&mut self, fixup: Fixup, target: usize);
    /// The finished code.
    fn finish(self) -> Vec<u8>;
}

/// Compiles `code` for this machine: position-independent code whose entry point, at offset 0,
/// is a [`JitFn`]. Helper `id` is `helpers[id]`, called directly.
///
/// Copy the code into executable memory to run it; see the [module documentation](self) for
/// what the compiled code does not check.
///
/// Available on x86-64 targets whose `extern "C"` is the System V ABI (not Windows or UEFI,
/// whose helpers would expect their arguments elsewhere).
#[cfg(all(
    target_arch = "x86_64",
    not(any(target_os = "windows", target_os = "uefi"))
))]
pub fn compile(code: &[u8], helpers: &[Option<Helper>]) -> Result<Vec<u8>, JitError> {
    compile_with::<x86_64::X86_64>(code, helpers, None)
}

/// [`compile`], with the ARRAY lookups `inline` describes compiled in place.
#[cfg(all(
    target_arch = "x86_64",
    not(any(target_os = "windows", target_os = "uefi"))
))]
pub fn compile_inlining(
    code: &[u8],
    helpers: &[Option<Helper>],
    inline: &Inline<'_>,
) -> Result<Vec<u8>, JitError> {
    compile_with::<x86_64::X86_64>(code, helpers, Some(inline))
}

/// Compiles `code` with backend `B` (see [`compile`] and [`compile_inlining`]).
pub fn compile_with<B: Backend>(
    code: &[u8],
    helpers: &[Option<Helper>],
    inline: Option<&Inline<'_>>,
) -> Result<Vec<u8>, JitError> {
    let mut program = analyse(code, helpers)?;
    if let Some(inline) = inline {
        inline_lookups(&mut program.ops, inline);
    }
    let emit = |mut labels: Labels| {
        let mut backend = B::new(&program);
        backend.prologue(&mut labels);
        for (pc, op) in program.ops.iter().enumerate() {
            labels.bind(pc, backend.position());
            backend.emit(pc, op, &mut labels);
        }
        (backend, labels)
    };
    // The first pass only measures: where every slot lands with long jumps.
    let (first, labels) = emit(Labels::new(program.ops.len()));
    let (mut backend, labels) = emit(labels.next_pass(first.position()));
    for &fixup in labels.fixups() {
        let target = labels
            .offset(fixup.target)
            .expect("analyse checked every jump target");
        backend.patch(fixup, target);
    }
    Ok(backend.finish())
}

/// Where an ARRAY map keeps its values, so that a lookup in it can be compiled in place: value
/// `i` is at `base + i * stride` for `i < entries`. The VM knows nothing else of maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArrayLayout {
    /// What `lddw r1, …` loads for this map (the runtime's handle).
    pub handle: u64,
    /// Address of value 0.
    pub base: u64,
    /// Bytes from one value to the next.
    pub stride: u32,
    /// Values in the array.
    pub entries: u32,
}

/// Lookups to compile in place: a call of helper `lookup_helper` (its index in the helper table)
/// right after `lddw r1, handle` of one of `arrays`, when no jump lands on the call.
#[derive(Debug, Clone, Copy)]
pub struct Inline<'a> {
    /// The lookup helper's index in the helper table.
    pub lookup_helper: i32,
    /// The ARRAY maps whose lookups may be inlined.
    pub arrays: &'a [ArrayLayout],
}

/// Replaces the lookup calls `inline` describes by [`Op::ArrayLookup`].
fn inline_lookups(ops: &mut [Op], inline: &Inline<'_>) {
    let mut landed_on = vec![false; ops.len()];
    for op in ops.iter() {
        match *op {
            Op::Jump { target } | Op::Branch { target, .. } | Op::CallLocal { target } => {
                landed_on[target] = true;
            }
            _ => {}
        }
    }
    for pc in 2..ops.len() {
        let (Op::LdImm64 { dst: 1, value }, Op::CallHelper { id, .. }) = (ops[pc - 2], ops[pc])
        else {
            continue;
        };
        let Some(array) = inline.arrays.iter().find(|a| a.handle == value) else {
            continue;
        };
        if id == inline.lookup_helper && !landed_on[pc] {
            ops[pc] = Op::ArrayLookup {
                base: array.base,
                stride: array.stride,
                entries: array.entries,
            };
        }
    }
}

/// Checks and decodes `code`, finds its subprograms and sizes its frames.
pub fn analyse(code: &[u8], helpers: &[Option<Helper>]) -> Result<Program, JitError> {
    let count = code.len() / 8;
    if count == 0 || !code.len().is_multiple_of(8) {
        return Err(JitError::CodeLength {
            pc: count,
            len: code.len(),
        });
    }
    let mut ops = Vec::with_capacity(count);
    let mut pc = 0;
    while pc < count {
        let insn = Insn::decode(code, pc).expect("pc < count");
        let op = decode(code, pc, insn, helpers)?;
        ops.push(op);
        if let Op::LdImm64 { .. } = op {
            ops.push(Op::Hole);
            pc += 1;
        }
        pc += 1;
    }
    let entries = subprogram_entries(&ops)?;
    check_control_flow(&ops, &entries)?;
    let frames = frames_needed(&ops, &entries)?;
    Ok(Program {
        ops,
        entries,
        frames,
    })
}

/// Slot `pc + 1 + offset`, if it is inside the program.
fn target(pc: usize, offset: i64, count: usize) -> Result<usize, JitError> {
    let target = pc as i64 + 1 + offset;
    if (0..count as i64).contains(&target) {
        Ok(target as usize)
    } else {
        Err(JitError::JumpOutOfRange { pc, target })
    }
}

/// Decodes one instruction, accepting exactly what the interpreter runs.
fn decode(code: &[u8], pc: usize, insn: Insn, helpers: &[Option<Helper>]) -> Result<Op, JitError> {
    let count = code.len() / 8;
    let opcode = insn.opcode;
    let (dst, src) = (insn.dst, insn.src);
    let unknown = JitError::UnknownOpcode { pc, opcode };
    let bad = JitError::BadEncoding { pc, opcode };
    let writes_r10 = JitError::BadRegister { pc, reg: 10 };
    if dst > 10 {
        return Err(JitError::BadRegister { pc, reg: dst });
    }
    if src > 10 {
        return Err(JitError::BadRegister { pc, reg: src });
    }
    let x = insn.uses_src_reg();
    match insn.class() {
        class::ALU64 | class::ALU => {
            if dst == 10 {
                return Err(writes_r10);
            }
            let wide = insn.class() == class::ALU64;
            let op = insn.operation();
            if op == alu::END {
                // Only SDIV, SMOD and MOVSX have a nonzero `off` (RFC 9669 §4.1).
                if insn.off != 0 {
                    return Err(bad);
                }
                // `ALU|END|K`: to little endian; `ALU|END|X`: to big endian; `ALU64|END|K`:
                // unconditional swap.
                let to_be = match (insn.class(), x) {
                    (class::ALU, false) => false,
                    (class::ALU, true) | (_, false) => true,
                    _ => return Err(bad),
                };
                let bits = match insn.imm {
                    16 => 16,
                    32 => 32,
                    64 => 64,
                    _ => return Err(bad),
                };
                let swap = to_be == cfg!(target_endian = "little") || wide;
                return Ok(Op::Endian { bits, swap, dst });
            }
            // 0xe0 and 0xf0 are the only undefined operations; others fail on their fields.
            if op >= 0xe0 {
                return Err(unknown);
            }
            if (op == alu::NEG && x) || (op == alu::MOV && insn.off != 0 && !x) {
                // NEG has no register form; MOVSX no immediate form.
                return Err(bad);
            }
            let operand = if x {
                Operand::Reg(src)
            } else {
                Operand::Imm(insn.imm)
            };
            Ok(match (op, insn.off) {
                (alu::DIV | alu::MOD, 0 | 1) => Op::DivMod {
                    wide,
                    signed: insn.off == 1,
                    modulo: op == alu::MOD,
                    dst,
                    src: operand,
                },
                (alu::MOV, 8 | 16) | (alu::MOV, 32) if wide || insn.off != 32 => Op::MovSx {
                    wide,
                    bits: insn.off as u8,
                    dst,
                    src,
                },
                (alu::NEG, 0) => Op::Neg { wide, dst },
                (_, 0) => Op::Alu {
                    wide,
                    op,
                    dst,
                    src: operand,
                },
                _ => return Err(bad),
            })
        }
        class::JMP | class::JMP32 => {
            let wide = insn.class() == class::JMP;
            match (insn.operation(), x) {
                (jmp::JA, false) => {
                    let offset = if wide {
                        insn.off.into()
                    } else {
                        insn.imm.into()
                    };
                    Ok(Op::Jump {
                        target: target(pc, offset, count)?,
                    })
                }
                (jmp::EXIT, false) if wide => Ok(Op::Exit),
                (jmp::CALL, false) if wide => match src {
                    0 => {
                        let helper = usize::try_from(insn.imm)
                            .ok()
                            .and_then(|id| helpers.get(id).copied().flatten())
                            .ok_or(JitError::UnknownHelper { pc, id: insn.imm })?;
                        Ok(Op::CallHelper {
                            id: insn.imm,
                            helper,
                        })
                    }
                    pseudo::CALL_LOCAL => Ok(Op::CallLocal {
                        target: target(pc, insn.imm.into(), count)?,
                    }),
                    other => Err(JitError::UnsupportedPseudo { pc, src: other }),
                },
                (jmp::JA | jmp::EXIT | jmp::CALL, _) => Err(unknown),
                (0xe0 | 0xf0, _) => Err(unknown),
                (cond, _) => Ok(Op::Branch {
                    wide,
                    cond,
                    dst,
                    src: if x {
                        Operand::Reg(src)
                    } else {
                        Operand::Imm(insn.imm)
                    },
                    target: target(pc, insn.off.into(), count)?,
                }),
            }
        }
        class::LD => {
            if !insn.is_ld_imm64() {
                return Err(match opcode & mode::MASK {
                    mode::ABS | mode::IND => JitError::LegacyPacketAccess { pc, opcode },
                    _ => unknown,
                });
            }
            let second = Insn::decode(code, pc + 1).ok_or(bad)?;
            let wide = LdImm64::join(insn, second).ok_or(bad)?;
            if wide.src != 0 {
                return Err(JitError::UnsupportedPseudo { pc, src: wide.src });
            }
            if dst == 10 {
                return Err(writes_r10);
            }
            Ok(Op::LdImm64 {
                dst,
                value: wide.value,
            })
        }
        class::LDX => {
            let bytes = size::bytes(opcode) as u8;
            let signed = match opcode & mode::MASK {
                mode::MEM => false,
                mode::MEMSX if bytes < 8 => true,
                _ => return Err(unknown),
            };
            if dst == 10 {
                return Err(writes_r10);
            }
            Ok(Op::Load {
                bytes,
                signed,
                dst,
                base: src,
                off: insn.off,
            })
        }
        class::ST => {
            if opcode & mode::MASK != mode::MEM {
                return Err(unknown);
            }
            Ok(Op::Store {
                bytes: size::bytes(opcode) as u8,
                base: dst,
                off: insn.off,
                src: Operand::Imm(insn.imm),
            })
        }
        _ => {
            // class::STX
            let bytes = size::bytes(opcode) as u8;
            match opcode & mode::MASK {
                mode::MEM => Ok(Op::Store {
                    bytes,
                    base: dst,
                    off: insn.off,
                    src: Operand::Reg(src),
                }),
                mode::ATOMIC if bytes >= 4 => {
                    let op = insn.imm;
                    if op != atomic::CMPXCHG && op & atomic::FETCH != 0 && src == 10 {
                        return Err(writes_r10);
                    }
                    let valid = op == atomic::XCHG
                        || op == atomic::CMPXCHG
                        || matches!(
                            op & !atomic::FETCH,
                            atomic::ADD | atomic::OR | atomic::AND | atomic::XOR
                        );
                    if !valid {
                        return Err(bad);
                    }
                    Ok(Op::Atomic {
                        wide: bytes == 8,
                        op,
                        base: dst,
                        off: insn.off,
                        src,
                    })
                }
                _ => Err(unknown),
            }
        }
    }
}

/// Slot 0 and every local call's target, ascending; targets must not be `LD_IMM64` holes.
fn subprogram_entries(ops: &[Op]) -> Result<Vec<usize>, JitError> {
    let mut entries = vec![0];
    for (pc, op) in ops.iter().enumerate() {
        if let Op::CallLocal { target } = *op {
            if matches!(ops[target], Op::Hole) {
                return Err(JitError::JumpOutOfRange {
                    pc,
                    target: target as i64,
                });
            }
            entries.push(target);
        }
    }
    entries.sort_unstable();
    entries.dedup();
    Ok(entries)
}

/// The subprogram (index into `entries`) holding slot `pc`.
fn subprogram_of(entries: &[usize], pc: usize) -> usize {
    entries.partition_point(|&entry| entry <= pc) - 1
}

/// Jumps stay inside their subprogram and land on an instruction; no subprogram's last
/// instruction falls through its end.
fn check_control_flow(ops: &[Op], entries: &[usize]) -> Result<(), JitError> {
    for (pc, op) in ops.iter().enumerate() {
        if let Op::Jump { target } | Op::Branch { target, .. } = *op
            && (subprogram_of(entries, pc) != subprogram_of(entries, target)
                || matches!(ops[target], Op::Hole))
        {
            return Err(JitError::JumpOutOfRange {
                pc,
                target: target as i64,
            });
        }
    }
    for (i, &entry) in entries.iter().enumerate() {
        let end = entries.get(i + 1).copied().unwrap_or(ops.len());
        // The last instruction: the slot before `end`, or the `LD_IMM64` owning it.
        let mut last = end - 1;
        if matches!(ops[last], Op::Hole) && last > entry {
            last -= 1;
        }
        if ops[last].falls_through() {
            return Err(JitError::FallsThrough { pc: last });
        }
    }
    Ok(())
}

/// Frames the deepest call chain from slot 0 uses; refuses recursion and chains past
/// [`MAX_FRAMES`].
fn frames_needed(ops: &[Op], entries: &[usize]) -> Result<usize, JitError> {
    // calls[i]: (call slot, callee subprogram) of subprogram i.
    let mut calls: Vec<Vec<(usize, usize)>> = vec![Vec::new(); entries.len()];
    for (pc, op) in ops.iter().enumerate() {
        if let Op::CallLocal { target } = *op {
            let callee = subprogram_of(entries, target);
            calls[subprogram_of(entries, pc)].push((pc, callee));
        }
    }
    // Depth-first from every subprogram (so that recursion is refused even where slot 0 cannot
    // reach it), iteratively; `height[i]`: frames a call of `i` uses, itself included.
    const UNSEEN: usize = 0;
    const ACTIVE: usize = usize::MAX;
    let mut height = vec![UNSEEN; entries.len()];
    for root in 0..entries.len() {
        if height[root] != UNSEEN {
            continue;
        }
        // (subprogram, index of its next call to visit, frames needed so far)
        let mut stack = vec![(root, 0usize, 1usize)];
        height[root] = ACTIVE;
        while let Some(&mut (sub, ref mut next, ref mut frames)) = stack.last_mut() {
            if let Some(&(call_pc, callee)) = calls[sub].get(*next) {
                *next += 1;
                match height[callee] {
                    ACTIVE => return Err(JitError::Recursion { pc: call_pc }),
                    UNSEEN => {
                        height[callee] = ACTIVE;
                        stack.push((callee, 0, 1));
                    }
                    h => {
                        *frames = (*frames).max(h + 1);
                        if *frames > MAX_FRAMES {
                            return Err(JitError::CallDepth {
                                pc: call_pc,
                                frames: *frames,
                            });
                        }
                    }
                }
            } else {
                let done = *frames;
                height[sub] = done;
                stack.pop();
                if let Some((parent, next, frames)) = stack.last_mut() {
                    *frames = (*frames).max(done + 1);
                    if *frames > MAX_FRAMES {
                        let (call_pc, _) = calls[*parent][*next - 1];
                        return Err(JitError::CallDepth {
                            pc: call_pc,
                            frames: *frames,
                        });
                    }
                }
            }
        }
    }
    Ok(height[0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insn::source;

    fn code(insns: &[Insn]) -> Vec<u8> {
        insns.iter().flat_map(|i| i.to_bytes()).collect()
    }
    const EXIT: Insn = Insn::new(class::JMP | jmp::EXIT, 0, 0, 0, 0);
    const fn call(rel: i32) -> Insn {
        Insn::new(class::JMP | jmp::CALL, 0, pseudo::CALL_LOCAL, 0, rel)
    }

    #[test]
    fn subprograms_and_frames() {
        // main: call f; exit. f: call g; exit. g: exit.
        let p = analyse(&code(&[call(1), EXIT, call(1), EXIT, EXIT]), &[]).unwrap();
        assert_eq!(p.entries, [0, 2, 4]);
        assert_eq!(p.frames, 3);
        assert_eq!(p.stack_size(), 3 * STACK_SIZE);
        let p = analyse(&code(&[EXIT]), &[]).unwrap();
        assert_eq!(p.frames, 1);
    }

    #[test]
    fn recursion_and_fallthrough_are_refused() {
        // main: call f; exit. f: call f; exit.
        assert_eq!(
            analyse(&code(&[call(1), EXIT, call(-1), EXIT]), &[]).unwrap_err(),
            JitError::Recursion { pc: 2 }
        );
        // main (call f; r0 = 1) falls into f (exit).
        let mov = Insn::new(class::ALU64 | alu::MOV | source::K, 0, 0, 0, 1);
        assert_eq!(
            analyse(&code(&[call(1), mov, EXIT]), &[]).unwrap_err(),
            JitError::FallsThrough { pc: 1 }
        );
        assert_eq!(
            analyse(&code(&[mov]), &[]).unwrap_err(),
            JitError::FallsThrough { pc: 0 }
        );
    }

    #[test]
    fn jumps_stay_in_their_subprogram() {
        let ja = |off| Insn::new(class::JMP | jmp::JA, 0, 0, off, 0);
        // main: call f; ja +1 (into f); exit. f: exit
        assert_eq!(
            analyse(&code(&[call(2), ja(1), EXIT, EXIT]), &[]).unwrap_err(),
            JitError::JumpOutOfRange { pc: 1, target: 3 }
        );
        let [lo, hi] = LdImm64::split(0, 5);
        assert_eq!(
            analyse(&code(&[ja(1), lo, hi, EXIT]), &[]).unwrap_err(),
            JitError::JumpOutOfRange { pc: 0, target: 2 }
        );
        assert_eq!(
            analyse(&code(&[ja(-2), EXIT]), &[]).unwrap_err(),
            JitError::JumpOutOfRange { pc: 0, target: -1 }
        );
    }
}
