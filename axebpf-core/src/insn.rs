//! One eBPF instruction: decode, encode, classify — shared by the loader and the runtime.

/// The one instruction definition is the VM's (`axebpf-vm`); the loader, the verifier and the
/// runtime use it from here.
pub use axebpf_vm::insn::{INSN_SIZE, Insn, class};

/// Opcodes the loader and the rewriting pass match or emit (names as in RFC 9669).
#[allow(missing_docs)]
pub mod op {
    pub const LD_IMM64: u8 = 0x18;
    pub const MOV64_REG: u8 = 0xbf;
    pub const MOV32_REG: u8 = 0xbc;
    pub const LSH64_IMM: u8 = 0x67;
    pub const RSH64_IMM: u8 = 0x77;
    pub const AND64_IMM: u8 = 0x57;
    pub const XOR64_IMM: u8 = 0xa7;
    pub const ADD64_IMM: u8 = 0x07;
    pub const NEG64: u8 = 0x87;
    pub const MOD32_REG: u8 = 0x9c;
    pub const MOD32_IMM: u8 = 0x94;
    pub const LE: u8 = 0xd4;
    pub const BSWAP: u8 = 0xd7;
    pub const JA: u8 = 0x05;
    pub const JA32: u8 = 0x06;
    pub const CALL: u8 = 0x85;
    pub const TAIL_CALL: u8 = 0x8d;
}

/// A compact disassembly for error messages: opcode and fields.
pub fn describe(insn: &Insn) -> alloc::string::String {
    alloc::format!(
        "opcode {:#04x} dst r{} src r{} off {} imm {}",
        insn.opcode,
        insn.dst,
        insn.src,
        insn.off,
        insn.imm
    )
}
