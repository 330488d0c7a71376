//! Runs eBPF programs with rbpf 0.4.1: JIT-compiled on x86_64, interpreted elsewhere or on
//! request, with identical results in both modes.
//!
//! Before rbpf sees a program, [`rewrite`] replaces the instructions rbpf gets wrong with
//! equivalent ones and refuses what neither mode runs. JIT code goes into memory the
//! [`Platform`](crate::platform::Platform) provides, sized for the program (rbpf's own std path
//! uses one writable+executable 4 KiB page and panics on ~800-instruction programs): writable
//! while compiling, read+execute after (W^X).

pub mod rewrite;

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use core::mem::ManuallyDrop;

use crate::helpers::Helper;
#[cfg(target_arch = "x86_64")]
use crate::platform;
use crate::platform::{ExecMemoryError, ExecRegion, Platform};

pub use rewrite::RewriteError;

/// Most instructions a program may have (after rewriting).
pub const MAX_INSNS: usize = 4096;
/// Upper bound of x86-64 bytes rbpf's JIT emits for one eBPF instruction (checked by a test that
/// JIT-compiles every opcode), plus room for the prologue and epilogue.
#[cfg(target_arch = "x86_64")]
const JIT_BYTES_PER_INSN: usize = 96;
#[cfg(target_arch = "x86_64")]
const JIT_FIXED_BYTES: usize = 512;

/// How a program runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecMode {
    /// Compiled to x86-64 by rbpf's JIT.
    Jit,
    /// rbpf's interpreter.
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
    /// The program cannot be run correctly (see [`RewriteError`]).
    #[error(transparent)]
    Rewrite(#[from] RewriteError),
    /// Too many instructions.
    #[error("program has {0} instructions after rewriting; the limit is {MAX_INSNS}")]
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
        /// Index of the call in the original program.
        index: usize,
        /// The helper id it names.
        id: u32,
    },
    /// rbpf's JIT runs a BPF-to-BPF callee on its caller's stack frame (r10 is not moved), so a
    /// program with local calls would compute something else than in the interpreter.
    #[error(
        "instruction {index}: BPF-to-BPF calls run in the interpreter only (rbpf's JIT gives the \
         callee its caller's stack frame); load with the interpreter or inline the function"
    )]
    LocalCallsNeedInterpreter {
        /// Index of the first local call in the original program.
        index: usize,
    },
    /// rbpf refused the program or failed while running it.
    #[error("rbpf: {0}")]
    Rbpf(String),
}

/// rbpf's no_std `Error` has private fields and only `Debug`
/// (`Error { kind: Other, error: "…" }`): keep just the message.
fn rbpf_error(error: rbpf::lib::Error) -> RuntimeError {
    let debug = alloc::format!("{error:?}");
    let message = debug
        .split_once("error: \"")
        .and_then(|(_, rest)| rest.rsplit_once('"'))
        .map_or(debug.as_str(), |(message, _)| message);
    RuntimeError::Rbpf(message.replace("\\n", "; ").to_string())
}

/// A loaded program, ready to run.
pub struct Program {
    /// Borrows `code` and `exec`: declared first so it is dropped first.
    vm: ManuallyDrop<rbpf::EbpfVmRaw<'static>>,
    code: Box<[u8]>,
    exec: Option<(ExecRegion, &'static dyn Platform)>,
    mode: ExecMode,
}

// SAFETY: `EbpfVmRaw` is not Send/Sync only because it holds raw pointers (helper table, JIT
// code). After loading, `run` only reads it: the JIT code is sealed read+execute, the code buffer
// is immutable, and the interpreter keeps its state on the caller's stack.
unsafe impl Send for Program {}
// SAFETY: as above.
unsafe impl Sync for Program {}

impl Program {
    /// Rewrites, checks and prepares `code` (raw eBPF instructions) to run in `mode` with
    /// `helpers` callable. This does NOT run the verifier: programs from users are loaded
    /// through [`LoadedObject`](crate::object::LoadedObject), which verifies them first (see
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
        let rewritten = rewrite::rewrite(code)?;
        // rbpf's interpreter finds unknown helpers only when it reaches the call; refuse them at
        // load time in both modes.
        for (index, insn) in
            (0..code.len() / 8).filter_map(|i| Some((i, crate::insn::Insn::decode(code, i)?)))
        {
            let id = insn.imm as u32;
            if insn.opcode == crate::insn::op::CALL
                && insn.src == 0
                && !helpers.iter().any(|h| h.id == id)
            {
                return Err(RuntimeError::UnknownHelper { index, id });
            }
            if insn.is_local_call() && mode == ExecMode::Jit {
                return Err(RuntimeError::LocalCallsNeedInterpreter { index });
            }
        }
        let insns = rewritten.code.len() / 8;
        if insns > MAX_INSNS {
            return Err(RuntimeError::TooLarge(insns));
        }
        let code: Box<[u8]> = rewritten.code.into_boxed_slice();
        // SAFETY: `code` is owned by the `Program` together with the VM and is never moved out
        // or changed; the VM is dropped before it (see `Drop`). Boxed data does not move when the
        // `Program` does.
        let code_ref: &'static [u8] = unsafe { &*(&*code as *const [u8]) };
        let mut vm = rbpf::EbpfVmRaw::new(Some(code_ref)).map_err(rbpf_error)?;
        for helper in helpers {
            let entry = match mode {
                #[cfg(target_arch = "x86_64")]
                ExecMode::Jit => helper.jit_entry,
                _ => helper.call,
            };
            vm.register_helper(helper.id, entry).map_err(rbpf_error)?;
        }
        for range in memory {
            vm.register_allowed_memory(range.clone());
        }
        let exec = match mode {
            ExecMode::Interpreter => None,
            ExecMode::Jit => Some(Self::compile(&mut vm, insns)?),
        };
        Ok(Self {
            vm: ManuallyDrop::new(vm),
            code,
            exec,
            mode,
        })
    }

    #[cfg(target_arch = "x86_64")]
    fn compile(
        vm: &mut rbpf::EbpfVmRaw<'static>,
        insns: usize,
    ) -> Result<(ExecRegion, &'static dyn Platform), RuntimeError> {
        let platform = platform::installed().ok_or(RuntimeError::NoPlatform)?;
        let region = platform.alloc_exec(JIT_FIXED_BYTES + insns * JIT_BYTES_PER_INSN)?;
        // SAFETY: the region is ours until `free_exec` in `Drop`, which runs after the VM (the
        // only user of this slice) is dropped.
        let memory: &'static mut [u8] =
            unsafe { core::slice::from_raw_parts_mut(region.ptr.as_ptr(), region.len) };
        let compiled = vm
            .set_jit_exec_memory(memory)
            .and_then(|()| vm.jit_compile())
            .map_err(rbpf_error)
            .and_then(|()| platform.seal_exec(&region).map_err(RuntimeError::from));
        match compiled {
            Ok(()) => Ok((region, platform)),
            Err(error) => {
                // SAFETY: compilation failed, so no code in the region can run.
                unsafe { platform.free_exec(region) };
                Err(error)
            }
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn compile(
        _vm: &mut rbpf::EbpfVmRaw<'static>,
        _insns: usize,
    ) -> Result<(ExecRegion, &'static dyn Platform), RuntimeError> {
        Err(RuntimeError::NoJit)
    }

    /// Runs the program once with R1 pointing at `ctx` (null when `ctx` is empty); returns R0.
    pub fn run(&self, ctx: &mut [u8]) -> Result<u64, RuntimeError> {
        // SAFETY: rbpf needs `mem` for the VM's lifetime only because of how its API is typed; it
        // uses the slice during this call and keeps no reference to it afterwards.
        let ctx: &'static mut [u8] = unsafe { &mut *(ctx as *mut [u8]) };
        match self.mode {
            ExecMode::Interpreter => self.vm.execute_program(ctx).map_err(rbpf_error),
            // SAFETY: the code was JIT-compiled from a program the rewrite pass and rbpf's
            // verifier accepted, into sealed memory that lives as long as `self`. Memory safety
            // of the program's own loads and stores is the verifier's job (rbpf's JIT has no
            // bounds checks).
            ExecMode::Jit => unsafe { self.vm.execute_program_jit(ctx) }.map_err(rbpf_error),
        }
    }

    /// How this program runs.
    pub fn mode(&self) -> ExecMode {
        self.mode
    }

    /// Where the JIT code lives (start, length), for diagnostics; `None` in the interpreter.
    pub fn jit_region(&self) -> Option<(usize, usize)> {
        self.exec
            .as_ref()
            .map(|(region, _)| (region.ptr.as_ptr() as usize, region.len))
    }

    /// Instructions after rewriting.
    pub fn insn_count(&self) -> usize {
        self.code.len() / 8
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        // SAFETY: dropped exactly once, here, before `code` and the exec region it borrows.
        unsafe { ManuallyDrop::drop(&mut self.vm) };
        if let Some((region, platform)) = self.exec.take() {
            // SAFETY: the VM is gone, so nothing can run the code any more.
            unsafe { platform.free_exec(region) };
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
