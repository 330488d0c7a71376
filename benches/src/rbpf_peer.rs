//! rbpf 0.4.1 as a benchmark peer: the same programs, with the same helpers and maps, in its
//! JIT and its interpreter.
//!
//! rbpf calls helpers through the Rust ABI (its interpreter) or with the System V argument
//! registers and RSP misaligned by 8 (its JIT). So each helper gets a Rust-ABI wrapper for the
//! interpreter and, for the JIT, a naked entry that aligns the stack before calling our C-ABI
//! helper — the cost rbpf's design imposes, kept here with the peer rather than in the runtime.

use std::ops::Range;

use axebpf_core::helpers::{
    Helper, MAP_LOOKUP_ELEM_HELPER, MAP_UPDATE_ELEM_HELPER, PERF_EVENT_OUTPUT_HELPER,
};
use axebpf_core::platform::{self, ExecRegion};

/// The Rust-ABI and JIT entry points of one helper for rbpf.
struct RbpfHelper {
    id: u32,
    interpreter: rbpf::ebpf::Helper,
    jit: rbpf::ebpf::Helper,
}

/// Defines the rbpf entries of a `static` [`Helper`].
macro_rules! rbpf_helper {
    ($helper:path) => {{
        fn rust_abi(a: u64, b: u64, c: u64, d: u64, e: u64) -> u64 {
            ($helper.call)(a, b, c, d, e)
        }
        extern "C" fn c_abi(a: u64, b: u64, c: u64, d: u64, e: u64) -> u64 {
            ($helper.call)(a, b, c, d, e)
        }
        #[unsafe(naked)]
        extern "sysv64" fn aligned_entry() {
            // The argument registers pass through untouched; rbp is saved because rbpf's JIT
            // keeps eBPF state in it.
            core::arch::naked_asm!(
                "push rbp",
                "mov rbp, rsp",
                "and rsp, -16",
                "call {target}",
                "mov rsp, rbp",
                "pop rbp",
                "ret",
                target = sym c_abi,
            );
        }
        RbpfHelper {
            id: $helper.id,
            interpreter: rust_abi,
            // SAFETY: only the address is used: rbpf's JIT emits a direct call to it with the
            // System V argument registers, which `aligned_entry` passes on to a C-ABI function.
            jit: unsafe {
                core::mem::transmute::<extern "sysv64" fn(), rbpf::ebpf::Helper>(aligned_entry)
            },
        }
    }};
}

fn helpers() -> [RbpfHelper; 3] {
    [
        rbpf_helper!(MAP_LOOKUP_ELEM_HELPER),
        rbpf_helper!(MAP_UPDATE_ELEM_HELPER),
        rbpf_helper!(PERF_EVENT_OUTPUT_HELPER),
    ]
}

/// The helpers a program may call through this peer.
pub const PEER_HELPERS: [&Helper; 3] = [
    &MAP_LOOKUP_ELEM_HELPER,
    &MAP_UPDATE_ELEM_HELPER,
    &PERF_EVENT_OUTPUT_HELPER,
];

/// One program loaded into rbpf, in its JIT or its interpreter.
pub struct RbpfProgram {
    /// Borrows `code` and the JIT region: declared first so it is dropped first.
    vm: rbpf::EbpfVmRaw<'static>,
    jit: Option<ExecRegion>,
    _code: Box<[u8]>,
}

impl RbpfProgram {
    /// Loads `code` (helper ids as the program names them; only [`PEER_HELPERS`]) into rbpf;
    /// `memory` is what its interpreter may touch besides the context and stack.
    pub fn load(code: &[u8], jit: bool, memory: &[Range<u64>]) -> Self {
        let code: Box<[u8]> = code.into();
        // SAFETY: `code` is owned by the program together with the VM, never changed, and
        // dropped after it (field order); boxed data does not move.
        let code_ref: &'static [u8] = unsafe { &*(&*code as *const [u8]) };
        let mut vm = rbpf::EbpfVmRaw::new(Some(code_ref)).expect("rbpf accepts the program");
        for helper in helpers() {
            let entry = if jit { helper.jit } else { helper.interpreter };
            vm.register_helper(helper.id, entry)
                .expect("helper registered");
        }
        for range in memory {
            vm.register_allowed_memory(range.clone());
        }
        let region = jit.then(|| {
            let platform = platform::installed().expect("a platform is installed");
            let region = platform
                .alloc_exec(512 + code.len() / 8 * 96)
                .expect("executable memory");
            // SAFETY: the region stays ours (and unused by anything else) until the process
            // ends: benchmark programs are never freed.
            let memory: &'static mut [u8] =
                unsafe { std::slice::from_raw_parts_mut(region.ptr.as_ptr(), region.len) };
            vm.set_jit_exec_memory(memory).expect("JIT memory");
            vm.jit_compile().expect("rbpf's JIT compiles the program");
            platform.seal_exec(&region).expect("sealed r-x");
            region
        });
        Self {
            vm,
            jit: region,
            _code: code,
        }
    }

    /// Runs the program once with R1 = `ctx`; returns R0.
    #[inline]
    pub fn run(&self, ctx: &mut [u8]) -> u64 {
        // SAFETY: rbpf types `mem` as living as long as the VM but uses it during this call only.
        let ctx: &'static mut [u8] = unsafe { &mut *(ctx as *mut [u8]) };
        if self.jit.is_some() {
            // SAFETY: compiled from a program our verifier accepted (the benchmarks load the
            // same bytes through `LoadedObject` first), into sealed memory that lives as long
            // as the process.
            unsafe { self.vm.execute_program_jit(ctx) }.expect("rbpf JIT run")
        } else {
            self.vm.execute_program(ctx).expect("rbpf interpreter run")
        }
    }
}
