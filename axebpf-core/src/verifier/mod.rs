//! The eBPF verifier: proves, before a program loads, that it cannot harm the hypervisor it
//! runs in — static abstract interpretation over every path, like the Linux verifier, lighter.
//!
//! **Control flow** ([`cfg`]): jumps land on instructions of their own function (never on the
//! second half of an `lddw`); no recursion; every instruction is reachable; no path falls off
//! the end of a function; at most [`MAX_INSNS`] instructions; every opcode is one of the ISA
//! (atomics and ISA v4 included) but for what the verifier leaves out: legacy packet loads,
//! tail calls, kfuncs and `lddw` pseudos other than a map.
//!
//! **Values** (the interpretation): each register is uninitialised, a scalar (unsigned and
//! signed ranges plus known bits, see [`scalar`]), or a pointer into the context, a stack
//! frame, a map (from `lddw rX, map`), or a map value (maybe NULL) — with a range of offsets.
//! Every stack byte is uninitialised, data, or part of a spilled register. Rules:
//! * registers are read only when initialised; R10 is never written; R0 holds a scalar at the
//!   program's exit; a helper call clobbers R1–R5;
//! * the context is read-only, read at constant, aligned offsets inside the tracepoint's
//!   context struct; the stack within its frame, aligned, never reading uninitialised bytes;
//!   map values inside `value_size` for every possible offset; a possibly-NULL pointer is
//!   dereferenced only after a `jeq`/`jne` against 0 (both edges refine every copy);
//! * pointer arithmetic is `add`/`sub` of a bounded scalar on a non-NULL, non-map pointer;
//!   pointers never reach memory other than the stack (as whole 8-byte spills), helpers, R0 at
//!   exit, or a comparison other than against 0 (NULL checks) or another pointer into the
//!   same region (that reveals an offset, not an address);
//! * helpers: only registered ids with a prototype ([`proto`]); every argument is checked;
//! * division and modulo by a constant zero are refused; so are shifts by the width or more;
//! * atomics work on initialised stack bytes or map values, aligned, with number operands;
//! * loops end: every iteration is interpreted, within the budget ([`Rule::LoopBudget`]).
//!
//! Paths are explored separately (each keeps what its branches learnt) until more than
//! [`MAX_STATES_PER_INSN`] states reach one instruction; they are then joined into one. States
//! another state covers are dropped. A budget of explored states bounds the work.
//!
//! Each refusal names the instruction index, its disassembly and the [`Rule`]; with
//! [`Options::log`] the report carries a Linux-verifier-like log of every step.

pub mod cfg;
pub mod disasm;
mod interp;
pub mod proto;
pub mod scalar;
pub mod state;

use alloc::string::String;
use alloc::vec::Vec;

use crate::insn::Insn;
use crate::maps::MapSpec;

/// Most instructions a program may have (the runtime's limit).
pub const MAX_INSNS: usize = crate::runtime::MAX_INSNS;
/// States whose every path ended kept per instruction of a function with loops, for pruning.
pub const MAX_LOOP_STATES_PER_INSN: usize = 64;
/// States kept apart at one instruction before they are joined.
pub const MAX_STATES_PER_INSN: usize = 8;
/// Default budget of (instruction, state) steps.
pub const DEFAULT_MAX_STEPS: usize = 1_000_000;
/// Deepest call chain (frames, the program's included), as the VM allows; each frame has its
/// own 512 bytes of stack.
pub const MAX_FRAMES: usize = axebpf_vm::MAX_FRAMES;
/// Largest pointer offset range the verifier accepts (as Linux's `BPF_MAX_VAR_OFF`).
pub const MAX_VAR_OFF: i64 = 1 << 29;

/// Which rule a program broke. [`Rule::id`] is the stable name the corpus labels use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// Empty, not a multiple of 8 bytes, or more than [`MAX_INSNS`] instructions.
    Size,
    /// An opcode that does not exist, is not supported by the runtime, or has bad fields.
    BadInsn,
    /// A jump or call target outside the program or outside the jump's function.
    JumpRange,
    /// A jump or call target in the middle of an `lddw`.
    JumpIntoLddw,
    /// An instruction no path reaches.
    Unreachable,
    /// A recursive call, or a loop whose state repeats unchanged (it never ends).
    Loop,
    /// A path runs past the last instruction of its function.
    FallThrough,
    /// A read of an uninitialised register.
    UninitReg,
    /// A write to R10.
    R10Write,
    /// A context access outside the tracepoint's context struct.
    CtxOob,
    /// A write to the context.
    CtxWrite,
    /// A misaligned context or stack access.
    Misaligned,
    /// A context access at a variable offset.
    CtxVarOffset,
    /// A stack access outside the frame.
    StackOob,
    /// A read of uninitialised stack bytes.
    StackUninit,
    /// A stack write at a variable offset.
    StackVarOffset,
    /// A map value access outside `value_size`.
    MapValueOob,
    /// A dereference of a pointer that may be NULL.
    NullCheck,
    /// A dereference of something that is not a pointer to memory (a scalar, a map).
    NotMemory,
    /// Pointer arithmetic that is not `add`/`sub` of a bounded scalar on a checked pointer.
    PtrArith,
    /// A pointer (or part of one) stored where it could be read back as a number: maps,
    /// records, helper arguments, R0 at exit, partial spills.
    PtrLeak,
    /// A comparison that would reveal an address.
    PtrCompare,
    /// A call to a helper that is not registered or has no prototype.
    UnknownHelper,
    /// A helper argument that does not match the prototype.
    HelperArg,
    /// Division or modulo by a constant zero.
    DivByZero,
    /// A shift by the operand width or more.
    BadShift,
    /// Too deep a call chain, or a stack pointer into a returning frame escaping it.
    CallFrame,
    /// The exploration budget ran out.
    TooComplex,
    /// A loop not proven to end within the budget of explored states.
    LoopBudget,
    /// An atomic operation of 1 or 2 bytes (only 4 and 8 exist).
    AtomicSize,
    /// An atomic operation at an offset not (provably) aligned to its size.
    AtomicMisaligned,
    /// An atomic operation on memory other than the stack or a map value (the context).
    AtomicRegion,
}

impl Rule {
    /// Every rule.
    pub const ALL: [Rule; 32] = [
        Rule::Size,
        Rule::BadInsn,
        Rule::JumpRange,
        Rule::JumpIntoLddw,
        Rule::Unreachable,
        Rule::Loop,
        Rule::FallThrough,
        Rule::UninitReg,
        Rule::R10Write,
        Rule::CtxOob,
        Rule::CtxWrite,
        Rule::Misaligned,
        Rule::CtxVarOffset,
        Rule::StackOob,
        Rule::StackUninit,
        Rule::StackVarOffset,
        Rule::MapValueOob,
        Rule::NullCheck,
        Rule::NotMemory,
        Rule::PtrArith,
        Rule::PtrLeak,
        Rule::PtrCompare,
        Rule::UnknownHelper,
        Rule::HelperArg,
        Rule::DivByZero,
        Rule::BadShift,
        Rule::CallFrame,
        Rule::TooComplex,
        Rule::LoopBudget,
        Rule::AtomicSize,
        Rule::AtomicMisaligned,
        Rule::AtomicRegion,
    ];

    /// The rule's stable name.
    pub fn id(self) -> &'static str {
        match self {
            Rule::Size => "size",
            Rule::BadInsn => "bad_insn",
            Rule::JumpRange => "jump_range",
            Rule::JumpIntoLddw => "jump_into_lddw",
            Rule::Unreachable => "unreachable",
            Rule::Loop => "loop",
            Rule::FallThrough => "fall_through",
            Rule::UninitReg => "uninit_reg",
            Rule::R10Write => "r10_write",
            Rule::CtxOob => "ctx_oob",
            Rule::CtxWrite => "ctx_write",
            Rule::Misaligned => "misaligned",
            Rule::CtxVarOffset => "ctx_var_offset",
            Rule::StackOob => "stack_oob",
            Rule::StackUninit => "stack_uninit",
            Rule::StackVarOffset => "stack_var_offset",
            Rule::MapValueOob => "map_value_oob",
            Rule::NullCheck => "null_check",
            Rule::NotMemory => "not_memory",
            Rule::PtrArith => "ptr_arith",
            Rule::PtrLeak => "ptr_leak",
            Rule::PtrCompare => "ptr_compare",
            Rule::UnknownHelper => "unknown_helper",
            Rule::HelperArg => "helper_arg",
            Rule::DivByZero => "div_by_zero",
            Rule::BadShift => "bad_shift",
            Rule::CallFrame => "call_frame",
            Rule::TooComplex => "too_complex",
            Rule::LoopBudget => "loop_budget",
            Rule::AtomicSize => "atomic_size",
            Rule::AtomicMisaligned => "atomic_misaligned",
            Rule::AtomicRegion => "atomic_region",
        }
    }

    /// The rule named `id`.
    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|rule| rule.id() == id)
    }
}

impl core::fmt::Display for Rule {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.id())
    }
}

/// A map the program may reference, by the handle its `lddw` carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapInfo {
    /// The handle in the relocated `lddw` (64-bit immediate).
    pub handle: u64,
    /// Its name, for messages.
    pub name: String,
    /// Type and sizes.
    pub spec: MapSpec,
}

/// What the program is verified for.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// Size of the context struct R1 points at (the tracepoint's).
    pub context_size: usize,
    /// The maps its `lddw`s may name.
    pub maps: &'a [MapInfo],
    /// Ids of the helpers it may call.
    pub helpers: &'a [u32],
}

/// How to verify.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Keep a log of every step (as `trace load -v` prints).
    pub log: bool,
    /// Budget of (instruction, state) steps before giving up with [`Rule::TooComplex`].
    pub max_steps: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            log: false,
            max_steps: DEFAULT_MAX_STEPS,
        }
    }
}

/// A verified program's statistics and log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Instructions (8-byte slots).
    pub insns: usize,
    /// (instruction, state) steps explored.
    pub steps: usize,
    /// The log ([`Options::log`]), else empty.
    pub log: String,
}

/// Why a program was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("verifier: insn {index} `{insn}`: {rule}: {message}")]
pub struct VerifyError {
    /// Index of the offending instruction (slot).
    pub index: usize,
    /// The instruction, disassembled.
    pub insn: String,
    /// The rule it breaks.
    pub rule: Rule,
    /// What exactly is wrong.
    pub message: String,
    /// The log up to the refusal ([`Options::log`]), else empty.
    pub log: String,
}

/// Verifies `code` (raw little-endian eBPF, maps relocated) for `target`.
pub fn verify(code: &[u8], target: &Target<'_>, options: &Options) -> Result<Report, VerifyError> {
    let insns = cfg::decode(code)?;
    let graph = cfg::check(&insns, target)?;
    interp::run(&insns, &graph, target, options)
}

/// Disassembles instruction `index` of `insns` for messages (names maps of `target`).
pub fn disassemble_at(insns: &[Insn], index: usize, target: &Target<'_>) -> String {
    let Some(insn) = insns.get(index) else {
        return String::from("<none>");
    };
    disasm::disassemble(
        insn,
        insns.get(index + 1),
        &|handle| {
            target
                .maps
                .iter()
                .find(|m| m.handle == handle)
                .map(|m| m.name.clone())
        },
        &proto::helper_name,
    )
}

/// The whole program as text, one numbered line per instruction.
pub fn disassemble_program(code: &[u8], target: &Target<'_>) -> String {
    use core::fmt::Write;
    let insns: Vec<Insn> = (0..code.len() / 8)
        .filter_map(|i| Insn::decode(code, i))
        .collect();
    let mut out = String::new();
    let mut i = 0;
    while i < insns.len() {
        let _ = writeln!(out, "{i:4}: {}", disassemble_at(&insns, i, target));
        i += if insns[i].opcode == crate::insn::op::LD_IMM64 {
            2
        } else {
            1
        };
    }
    out
}
