//! Runs eBPF programs on our own VM, [`axebpf_vm`]: JIT-compiled to x86-64 on x86_64,
//! interpreted elsewhere or on request, with identical results in both modes.
//!
//! The VM runs the whole instruction set Linux-style C needs (atomics, BPF-to-BPF calls with a
//! frame each, ISA v4), so programs run as clang emitted them: no rewriting. Helper calls are
//! renumbered at load into a dense table of the helpers the program may call. JIT code goes
//! into memory the [`Platform`](crate::platform::Platform) provides, sized for the code the JIT
//! emitted: writable while it is copied in, read+execute before the first run (W^X). A run of
//! either mode allocates nothing.

use alloc::boxed::Box;
use alloc::vec::Vec;

use axebpf_vm::Region;
pub use axebpf_vm::jit::ArrayLayout;

use crate::helpers::Helper;
use crate::insn::{Insn, op};
#[cfg(target_arch = "x86_64")]
use crate::platform;
use crate::platform::{ExecMemoryError, ExecRegion, Platform};

/// `lddw`'s `src` for a map reference (Linux's `BPF_PSEUDO_MAP_FD`; our loader puts the map's
/// handle where Linux has the fd).
const PSEUDO_MAP_HANDLE: u8 = 1;

/// Most instructions a program may have.
pub const MAX_INSNS: usize = 4096;

/// How a program runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecMode {
    /// Compiled to x86-64 by our JIT ([`axebpf_vm::jit`]).
    Jit,
    /// Our interpreter ([`axebpf_vm::Vm`]).
    Interpreter,
}

impl ExecMode {
    /// The best mode this build offers: the JIT on x86_64, else the interpreter.
    pub const fn preferred() -> Self {
        if cfg!(target_arch = "x86_64") {
            Self::Jit
        } else {
            Self::Interpreter
        }
    }
}

impl core::fmt::Display for ExecMode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Jit => "jit",
            Self::Interpreter => "interpreter",
        })
    }
}

/// Why a program could not be loaded or run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// The program is empty or not a whole number of 8-byte instructions.
    #[error("program is {0} bytes long; it must be a non-empty multiple of 8")]
    CodeLength(usize),
    /// Too many instructions.
    #[error("program has {0} instructions; the limit is {MAX_INSNS}")]
    TooLarge(usize),
    /// The JIT needs a platform and none is installed.
    #[error("no platform installed: call axebpf_core::platform::install first")]
    NoPlatform,
    /// The JIT was asked for on a target without one.
    #[error("the JIT is available on x86_64 only; use the interpreter")]
    NoJit,
    /// Executable memory could not be provided.
    #[error(transparent)]
    ExecMemory(#[from] ExecMemoryError),
    /// A call to a helper that is not registered.
    #[error("instruction {index}: call to unknown helper {id} ({id:#x})")]
    UnknownHelper {
        /// Index of the call in the program.
        index: usize,
        /// The helper id it names.
        id: u32,
    },
    /// The JIT refused the program (an instruction it cannot compile, a jump out of range, a
    /// call chain too deep, ...).
    #[error("JIT: {0}")]
    Jit(axebpf_vm::jit::JitError),
    /// The interpreter stopped before the final `exit` (an access outside the allowed memory,
    /// an invalid instruction, the step budget, ...).
    #[error("{0}")]
    Run(axebpf_vm::Error),
}

/// JIT-compiled code: sealed read+execute in a region of the platform's.
struct JitCode {
    entry: axebpf_vm::jit::JitFn,
    region: ExecRegion,
    platform: &'static dyn Platform,
}

/// A loaded program, ready to run.
pub struct Program {
    /// The program as loaded, helper call ids replaced by indexes into `helpers`.
    code: Box<[u8]>,
    /// The program decoded once for the interpreter (empty when it runs JIT-compiled).
    slots: Box<[axebpf_vm::Slot]>,
    helpers: Box<[Option<axebpf_vm::Helper>]>,
    /// Memory besides the context and the stack the interpreter lets the program touch.
    regions: Box<[Region]>,
    jit: Option<JitCode>,
    mode: ExecMode,
}

// SAFETY: `JitCode` holds a raw pointer to sealed read+execute memory that nothing writes after
// loading; every other field is plain owned data. Runs only read the program.
unsafe impl Send for Program {}
// SAFETY: as above; a run keeps its state (registers, frames) on the caller's stack.
unsafe impl Sync for Program {}

impl Program {
    /// Checks and prepares `code` (raw eBPF instructions) to run in `mode` with `helpers`
    /// callable. This does NOT run the verifier: programs from users are loaded through
    /// [`LoadedObject`](crate::object::LoadedObject), which verifies them first (see
    /// [`verifier`](crate::verifier)); this raw entry serves the ISA conformance tests and runner.
    pub fn load(code: &[u8], mode: ExecMode, helpers: &[&Helper]) -> Result<Self, RuntimeError> {
        Self::load_with_memory(code, mode, helpers, &[])
    }

    /// [`load`](Self::load), telling the interpreter which memory besides the context and the
    /// stack the program may touch (map storage whose pointers helpers hand out). The JIT does
    /// not check accesses; that is the verifier's job.
    pub fn load_with_memory(
        code: &[u8],
        mode: ExecMode,
        helpers: &[&Helper],
        memory: &[core::ops::Range<u64>],
    ) -> Result<Self, RuntimeError> {
        Self::load_with_maps(code, mode, helpers, memory, &[])
    }

    /// [`load_with_memory`](Self::load_with_memory), also telling the JIT where `arrays` keep
    /// their values: a `bpf_map_lookup_elem` on one of them right after the `lddw r1` of its
    /// handle is then compiled in place (Linux's `map_gen_lookup`), no helper call. The maps
    /// must outlive the program (an object's do).
    pub fn load_with_maps(
        code: &[u8],
        mode: ExecMode,
        helpers: &[&Helper],
        memory: &[core::ops::Range<u64>],
        arrays: &[ArrayLayout],
    ) -> Result<Self, RuntimeError> {
        if code.is_empty() || !code.len().is_multiple_of(8) {
            return Err(RuntimeError::CodeLength(code.len()));
        }
        let insns = code.len() / 8;
        if insns > MAX_INSNS {
            return Err(RuntimeError::TooLarge(insns));
        }
        let mut code: Box<[u8]> = code.into();
        let (table, ids) = prepare(&mut code, helpers)?;
        let regions = memory
            .iter()
            .map(|range| Region {
                start: range.start,
                len: range.end.saturating_sub(range.start),
                writable: true,
            })
            .collect();
        let (jit, slots) = match mode {
            ExecMode::Interpreter => {
                // The interpreter finds a bad instruction only when it reaches it; refuse at load
                // what the JIT would refuse, so both modes load the same programs.
                axebpf_vm::jit::analyse(&code, &table).map_err(RuntimeError::Jit)?;
                let slots = axebpf_vm::decode(&code)
                    .map_err(|_| RuntimeError::CodeLength(code.len()))?
                    .collect();
                (None, slots)
            }
            ExecMode::Jit => {
                // The lookup helper's index in this program's table, if it calls it.
                let lookup = ids
                    .iter()
                    .position(|&id| id == crate::helpers::MAP_LOOKUP_ELEM);
                let inline = lookup.map(|index| axebpf_vm::jit::Inline {
                    lookup_helper: index as i32,
                    arrays,
                });
                (
                    Some(compile(&code, &table, inline.as_ref())?),
                    Box::default(),
                )
            }
        };
        Ok(Self {
            code,
            slots,
            helpers: table,
            regions,
            jit,
            mode,
        })
    }

    /// Runs the program once with R1 pointing at `ctx` (null when `ctx` is empty); returns R0.
    #[inline]
    pub fn run(&self, ctx: &mut [u8]) -> Result<u64, RuntimeError> {
        match &self.jit {
            // SAFETY: the code was compiled from this program into sealed memory that lives as
            // long as `self`, and takes R1 = `ctx`. Memory safety of the program's own loads
            // and stores is the verifier's job (JIT code has no bounds checks).
            Some(jit) => Ok(unsafe { (jit.entry)(ctx_pointer(ctx)) }),
            None => self.interpret(ctx),
        }
    }

    fn interpret(&self, ctx: &mut [u8]) -> Result<u64, RuntimeError> {
        let mut vm = axebpf_vm::Vm::new(&self.helpers);
        // SAFETY: the regions are map storage that lives as long as the maps of the object
        // this program belongs to (which outlives the program), accessed by programs and
        // helpers only through raw pointers and atomics.
        unsafe { vm.set_regions(&self.regions) };
        vm.run_decoded(&self.slots, ctx).map_err(RuntimeError::Run)
    }

    /// How this program runs.
    pub fn mode(&self) -> ExecMode {
        self.mode
    }

    /// Where the JIT code lives (start, length), for diagnostics; `None` in the interpreter.
    pub fn jit_region(&self) -> Option<(usize, usize)> {
        self.jit
            .as_ref()
            .map(|jit| (jit.region.ptr.as_ptr() as usize, jit.region.len))
    }

    /// The JIT-compiled entry point, `None` in the interpreter: a hot path may call it
    /// directly with R1 = the context (what [`run`](Self::run) does) and skip the match.
    pub fn jit_entry(&self) -> Option<axebpf_vm::jit::JitFn> {
        self.jit.as_ref().map(|jit| jit.entry)
    }

    /// Instructions.
    pub fn insn_count(&self) -> usize {
        self.code.len() / 8
    }
}

fn ctx_pointer(ctx: &mut [u8]) -> *mut u8 {
    if ctx.is_empty() {
        core::ptr::null_mut()
    } else {
        ctx.as_mut_ptr()
    }
}

/// The VM's helper table: entry `i` is what `call i` calls.
type HelperTable = Box<[Option<axebpf_vm::Helper>]>;

/// Prepares `code` for the VM, as Linux does after verification:
/// * every helper call's id becomes its index in the returned table (its id is at the same index
///   of the returned ids; the VM's helper table is
///   indexed by the call's immediate; ids such as `0x1000_0001` would make a dense table huge);
/// * `lddw rX, map` (`src` = 1, the loader already put the map's handle in the immediate)
///   becomes a plain 64-bit immediate: the verifier needed to know it is a map, the VM does not.
fn prepare(code: &mut [u8], helpers: &[&Helper]) -> Result<(HelperTable, Vec<u32>), RuntimeError> {
    let mut table: Vec<Option<axebpf_vm::Helper>> = Vec::new();
    let mut ids: Vec<u32> = Vec::new();
    let mut index = 0;
    while let Some(insn) = Insn::decode(code, index) {
        let width = if insn.opcode == op::LD_IMM64 { 2 } else { 1 };
        if insn.opcode == op::LD_IMM64 && insn.src == PSEUDO_MAP_HANDLE {
            code[index * 8 + 1] &= 0x0f;
        }
        if insn.opcode == op::CALL && insn.src == 0 {
            let id = insn.imm as u32;
            let helper = helpers
                .iter()
                .find(|h| h.id == id)
                .ok_or(RuntimeError::UnknownHelper { index, id })?;
            let slot = match ids.iter().position(|&known| known == id) {
                Some(slot) => slot,
                None => {
                    ids.push(id);
                    table.push(Some(helper.call));
                    ids.len() - 1
                }
            };
            let imm = index * 8 + 4;
            code[imm..imm + 4].copy_from_slice(&(slot as u32).to_le_bytes());
        }
        index += width;
    }
    Ok((table.into_boxed_slice(), ids))
}

#[cfg(target_arch = "x86_64")]
fn compile(
    code: &[u8],
    helpers: &[Option<axebpf_vm::Helper>],
    inline: Option<&axebpf_vm::jit::Inline<'_>>,
) -> Result<JitCode, RuntimeError> {
    let platform = platform::installed().ok_or(RuntimeError::NoPlatform)?;
    let machine_code = match inline {
        Some(inline) => axebpf_vm::jit::compile_inlining(code, helpers, inline),
        None => axebpf_vm::jit::compile(code, helpers),
    }
    .map_err(RuntimeError::Jit)?;
    let region = platform.alloc_exec(machine_code.len())?;
    // SAFETY: the region is ours, writable and at least `machine_code.len()` bytes long until
    // it is sealed; nothing runs it yet.
    unsafe {
        core::ptr::copy_nonoverlapping(
            machine_code.as_ptr(),
            region.ptr.as_ptr(),
            machine_code.len(),
        )
    };
    if let Err(error) = platform.seal_exec(&region) {
        // SAFETY: sealing failed, so no code in the region can run.
        unsafe { platform.free_exec(region) };
        return Err(error.into());
    }
    // SAFETY: the region now holds, sealed read+execute, the code the JIT emitted, whose entry
    // is at offset 0 with the `JitFn` ABI.
    let entry =
        unsafe { core::mem::transmute::<*mut u8, axebpf_vm::jit::JitFn>(region.ptr.as_ptr()) };
    Ok(JitCode {
        entry,
        region,
        platform,
    })
}

#[cfg(not(target_arch = "x86_64"))]
fn compile(
    _: &[u8],
    _: &[Option<axebpf_vm::Helper>],
    _: Option<&axebpf_vm::jit::Inline<'_>>,
) -> Result<JitCode, RuntimeError> {
    Err(RuntimeError::NoJit)
}

impl Drop for Program {
    fn drop(&mut self) {
        if let Some(jit) = self.jit.take() {
            // SAFETY: the program is going away, so nothing can run its code any more.
            unsafe { jit.platform.free_exec(jit.region) };
        }
    }
}

impl core::fmt::Debug for Program {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Program")
            .field("mode", &self.mode)
            .field("insns", &self.insn_count())
            .finish()
    }
}
