//! `axebpf-vm`: an eBPF interpreter of our own, `no_std` and allocation-free, and a JIT compiler
//! to x86-64 computing exactly what the interpreter computes.
//!
//! It runs the RFC 9669 instruction set as Linux-style C compiled by clang needs it: ALU and
//! ALU64 (with the ISA v4 signed division, modulo and sign-extending moves), byte swaps, 64-bit
//! immediates, loads and stores of every size (with sign-extending loads), every `BPF_ATOMIC`
//! operation in 32 and 64 bits as real atomics, all jumps (`gotol` and JMP32 included), helper
//! calls through a table and BPF-to-BPF calls with a 512-byte frame each (at most
//! [`MAX_FRAMES`]).
//!
//! Nothing here trusts the program: every memory access is checked against the context, the
//! live stack frames and the regions the caller registered, jumps against the program's length,
//! and a step budget ends runaway loops — each failure an [`Error`] with the pc.
//!
//! A program runs from its bytes ([`Vm::run`]) or, faster, from the [`Slot`]s [`decode`] made of
//! it once ([`Vm::run_decoded`]; same decoder, same executor, same results and errors).
//!
//! Layout: [`insn`] is the one definition of the encoding, [`interp`] the interpreter, and (with
//! the `jit` feature, on by default) [`jit`] the JIT compiler: its backend-independent half (checks,
//! call graph, labels) in `jit` itself and one file per target backend (`jit::x86_64`).
//!
//! ```
//! use axebpf_vm::{Helper, Vm, insn::{Insn, alu, class, jmp, mode, size, source}};
//!
//! extern "C" fn double(a: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
//!     a * 2
//! }
//!
//! // r0 = *(u32 *)(r1 + 4); r1 = r0; r0 = double(r1); r0 += 1; exit
//! let program = [
//!     Insn::new(class::LDX | mode::MEM | size::W, 0, 1, 4, 0),
//!     Insn::new(class::ALU64 | alu::MOV | source::X, 1, 0, 0, 0),
//!     Insn::new(class::JMP | jmp::CALL, 0, 0, 0, 1),
//!     Insn::new(class::ALU64 | alu::ADD | source::K, 0, 0, 0, 1),
//!     Insn::new(class::JMP | jmp::EXIT, 0, 0, 0, 0),
//! ];
//! let code: Vec<u8> = program.iter().flat_map(|i| i.to_bytes()).collect();
//! let helpers: [Option<Helper>; 2] = [None, Some(double)];
//! let mut vm = Vm::new(&helpers);
//! let mut ctx = [0, 0, 0, 0, 21, 0, 0, 0];
//! assert_eq!(vm.run(&code, &mut ctx), Ok(43));
//!
//! // Reading past the context is an error naming the pc, not undefined behaviour.
//! let mut short = [0u8; 6];
//! let err = vm.run(&code, &mut short).unwrap_err();
//! assert_eq!(err.pc, 0);
//! assert!(matches!(err.kind, axebpf_vm::ErrorKind::OutOfBounds { len: 4, write: false, .. }));
//! ```
//!
//! # The JIT
//!
//! [`jit::compile`] (feature `jit`, on by default; the only part of the crate that allocates)
//! turns the same program into position-independent x86-64 code whose offset 0 is a
//! [`jit::JitFn`]: `unsafe extern "C" fn(ctx: *mut u8) -> u64`. It refuses at compile time what
//! the interpreter would only fail on when reached (bad jumps, unknown helpers, recursion, too
//! deep calls, falling off the end), but the code it emits checks **no** memory access: run only
//! programs a verifier has accepted. The caller owns the executable memory: copy the code into a
//! writable mapping, make it read+execute (never both writable and executable), then call it.
//!
//! ```
//! # #[cfg(all(target_arch = "x86_64", target_os = "linux", feature = "jit"))] {
//! use axebpf_vm::insn::{Insn, class, jmp, mode, size};
//! use axebpf_vm::{Helper, jit};
//!
//! extern "C" fn double(a: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
//!     a * 2
//! }
//!
//! // r0 = double(*(u32 *)(r1 + 4)); exit
//! let program = [
//!     Insn::new(class::LDX | mode::MEM | size::W, 1, 1, 4, 0),
//!     Insn::new(class::JMP | jmp::CALL, 0, 0, 0, 1),
//!     Insn::new(class::JMP | jmp::EXIT, 0, 0, 0, 0),
//! ];
//! let code: Vec<u8> = program.iter().flat_map(|i| i.to_bytes()).collect();
//! let helpers: [Option<Helper>; 2] = [None, Some(double)];
//! let machine = jit::compile(&code, &helpers).unwrap();
//!
//! // W^X: write the code into a read+write mapping, then seal it read+execute.
//! // SAFETY: a fresh anonymous mapping, written within its length, then made executable and
//! // called as the `JitFn` the JIT put at offset 0; the program reads 4 bytes of `ctx`.
//! let r0 = unsafe {
//!     let len = machine.len();
//!     let map = libc::mmap(
//!         std::ptr::null_mut(),
//!         len,
//!         libc::PROT_READ | libc::PROT_WRITE,
//!         libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
//!         -1,
//!         0,
//!     );
//!     assert_ne!(map, libc::MAP_FAILED);
//!     std::ptr::copy_nonoverlapping(machine.as_ptr(), map.cast::<u8>(), len);
//!     assert_eq!(libc::mprotect(map, len, libc::PROT_READ | libc::PROT_EXEC), 0);
//!     let entry = std::mem::transmute::<*mut libc::c_void, jit::JitFn>(map);
//!     let mut ctx = [0u8, 0, 0, 0, 21, 0, 0, 0];
//!     let r0 = entry(ctx.as_mut_ptr());
//!     libc::munmap(map, len);
//!     r0
//! };
//! assert_eq!(r0, 42);
//! # }
//! ```
#![no_std]

#[cfg(feature = "jit")]
extern crate alloc;

pub mod insn;
pub mod interp;
#[cfg(feature = "jit")]
pub mod jit;

pub use interp::{
    AccessCheck, DEFAULT_BUDGET, Error, ErrorKind, Helper, MAX_FRAMES, Region, STACK_SIZE, Slot,
    Vm, decode,
};
