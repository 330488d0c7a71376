//! One eBPF instruction: decode, encode, classify — shared by the loader and the runtime.

/// Size of one instruction slot.
pub const INSN_SIZE: usize = 8;

/// Instruction classes (low 3 bits of the opcode).
pub mod class {
    /// Non-standard loads (LD_IMM64, legacy packet access).
    pub const LD: u8 = 0x00;
    /// Loads from memory.
    pub const LDX: u8 = 0x01;
    /// Stores of registers (and atomics).
    pub const STX: u8 = 0x03;
    /// 32-bit arithmetic.
    pub const ALU: u8 = 0x04;
    /// 64-bit jumps.
    pub const JMP: u8 = 0x05;
    /// 32-bit jumps.
    pub const JMP32: u8 = 0x06;
    /// 64-bit arithmetic.
    pub const ALU64: u8 = 0x07;
}

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

/// One decoded instruction slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    /// Opcode byte.
    pub opcode: u8,
    /// Destination register (0–15 as encoded).
    pub dst: u8,
    /// Source register (0–15 as encoded).
    pub src: u8,
    /// Signed offset.
    pub off: i16,
    /// Signed immediate.
    pub imm: i32,
}

impl Insn {
    /// An instruction from its fields.
    pub const fn new(opcode: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        Self {
            opcode,
            dst,
            src,
            off,
            imm,
        }
    }

    /// Decodes little-endian instruction bytes.
    pub fn from_bytes(bytes: [u8; INSN_SIZE]) -> Self {
        Self {
            opcode: bytes[0],
            dst: bytes[1] & 0x0f,
            src: bytes[1] >> 4,
            off: i16::from_le_bytes([bytes[2], bytes[3]]),
            imm: i32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
        }
    }

    /// Decodes slot `index` of `code`, if it holds one.
    pub fn decode(code: &[u8], index: usize) -> Option<Self> {
        let start = index.checked_mul(INSN_SIZE)?;
        let bytes = code.get(start..start.checked_add(INSN_SIZE)?)?;
        bytes.try_into().ok().map(Self::from_bytes)
    }

    /// The 8 little-endian bytes.
    pub fn to_bytes(self) -> [u8; INSN_SIZE] {
        let off = self.off.to_le_bytes();
        let imm = self.imm.to_le_bytes();
        [
            self.opcode,
            (self.src << 4) | (self.dst & 0x0f),
            off[0],
            off[1],
            imm[0],
            imm[1],
            imm[2],
            imm[3],
        ]
    }

    /// The instruction class.
    pub fn class(&self) -> u8 {
        self.opcode & 0x07
    }

    /// For ALU/JMP classes: the operation (high 4 bits).
    pub fn operation(&self) -> u8 {
        self.opcode & 0xf0
    }

    /// For ALU/JMP classes: whether the source is a register (`BPF_X`) rather than `imm`.
    pub fn uses_src_reg(&self) -> bool {
        self.opcode & 0x08 != 0
    }

    /// Whether this is a jump with an `off` target (conditional or `ja`, 64- or 32-bit).
    pub fn is_jump_with_offset(&self) -> bool {
        matches!(self.class(), class::JMP | class::JMP32)
            && !matches!(self.operation(), 0x80 | 0x90) // call, exit
    }

    /// Whether this is a BPF-to-BPF call (`call` with src = 1, target in `imm`).
    pub fn is_local_call(&self) -> bool {
        self.opcode == op::CALL && self.src == 1
    }
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
