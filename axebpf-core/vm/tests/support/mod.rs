//! Shared by the JIT tests: W^X executable memory for compiled code, and running it.

#![allow(dead_code)]

use std::ptr::NonNull;

use axebpf_vm::Helper;
use axebpf_vm::jit::{self, JitError, JitFn};

/// Compiled code in its own mapping: written while read+write, then sealed read+execute before
/// it can run (never writable and executable at once).
pub struct Executable {
    map: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is immutable once sealed and owned by this value alone.
unsafe impl Send for Executable {}
// SAFETY: as above; running the code does not touch the mapping's own bytes.
unsafe impl Sync for Executable {}

impl Executable {
    /// Copies `code` into a fresh mapping and seals it read+execute.
    pub fn new(code: &[u8]) -> Self {
        let len = code.len().max(1);
        // SAFETY: a fresh anonymous private mapping; no existing memory is affected.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(map, libc::MAP_FAILED, "mmap failed");
        let map = NonNull::new(map.cast::<u8>()).expect("mmap returned null");
        // SAFETY: the mapping is `len >= code.len()` bytes, writable, and ours alone.
        unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), map.as_ptr(), code.len()) };
        // SAFETY: `map..map + len` is the mapping made above.
        let sealed =
            unsafe { libc::mprotect(map.as_ptr().cast(), len, libc::PROT_READ | libc::PROT_EXEC) };
        assert_eq!(sealed, 0, "mprotect failed");
        Self { map, len }
    }

    /// The entry point.
    pub fn entry(&self) -> JitFn {
        // SAFETY: the mapping holds code the JIT emitted with a `JitFn` entry at offset 0, and is
        // executable.
        unsafe { std::mem::transmute::<*mut u8, JitFn>(self.map.as_ptr()) }
    }

    /// Runs the code with `r1 = ctx` (0 when `ctx` is empty, as the interpreter does).
    ///
    /// # Safety
    /// The program must only access `ctx`, its stack and memory the test otherwise keeps valid.
    pub unsafe fn run(&self, ctx: &mut [u8]) -> u64 {
        let ptr = if ctx.is_empty() {
            std::ptr::null_mut()
        } else {
            ctx.as_mut_ptr()
        };
        // SAFETY: the caller vouches for the program's memory accesses.
        unsafe { self.entry()(ptr) }
    }
}

impl Drop for Executable {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `new` made; no entry point outlives `self` in use.
        unsafe { libc::munmap(self.map.as_ptr().cast(), self.len) };
    }
}

/// Compiles and loads `code`.
pub fn load(code: &[u8], helpers: &[Option<Helper>]) -> Result<Executable, JitError> {
    Ok(Executable::new(&jit::compile(code, helpers)?))
}
