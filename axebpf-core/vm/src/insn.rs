//! The instruction encoding of RFC 9669: one 8-byte slot per instruction (two for `LD_IMM64`),
//! with the opcode's fields as constants.
//!
//! ```text
//! byte 0      byte 1            bytes 2-3     bytes 4-7
//! opcode      src:4 | dst:4     off (i16 LE)  imm (i32 LE)
//! ```

/// Size of one instruction slot in bytes.
pub const INSN_SIZE: usize = 8;

/// Instruction classes (the low 3 bits of the opcode).
pub mod class {
    /// Non-standard loads (only `LD_IMM64` is supported).
    pub const LD: u8 = 0x00;
    /// Loads into a register.
    pub const LDX: u8 = 0x01;
    /// Stores of an immediate.
    pub const ST: u8 = 0x02;
    /// Stores of a register, and atomics.
    pub const STX: u8 = 0x03;
    /// 32-bit arithmetic.
    pub const ALU: u8 = 0x04;
    /// 64-bit jumps, calls and exit.
    pub const JMP: u8 = 0x05;
    /// 32-bit jumps (and `gotol`).
    pub const JMP32: u8 = 0x06;
    /// 64-bit arithmetic.
    pub const ALU64: u8 = 0x07;
    /// Mask of the class bits.
    pub const MASK: u8 = 0x07;
}

/// The source bit of arithmetic and jump instructions.
pub mod source {
    /// The operand is the immediate (`K`).
    pub const K: u8 = 0x00;
    /// The operand is the source register (`X`); for `END`, "to big endian".
    pub const X: u8 = 0x08;
}

/// Arithmetic operations (the high 4 bits of an ALU/ALU64 opcode).
pub mod alu {
    /// `dst += src`
    pub const ADD: u8 = 0x00;
    /// `dst -= src`
    pub const SUB: u8 = 0x10;
    /// `dst *= src`
    pub const MUL: u8 = 0x20;
    /// `dst /= src` (`off = 1`: signed)
    pub const DIV: u8 = 0x30;
    /// `dst |= src`
    pub const OR: u8 = 0x40;
    /// `dst &= src`
    pub const AND: u8 = 0x50;
    /// `dst <<= src`
    pub const LSH: u8 = 0x60;
    /// `dst >>= src` (logical)
    pub const RSH: u8 = 0x70;
    /// `dst = -dst`
    pub const NEG: u8 = 0x80;
    /// `dst %= src` (`off = 1`: signed)
    pub const MOD: u8 = 0x90;
    /// `dst ^= src`
    pub const XOR: u8 = 0xa0;
    /// `dst = src` (`off = 8/16/32`: sign-extending)
    pub const MOV: u8 = 0xb0;
    /// `dst >>= src` (arithmetic)
    pub const ARSH: u8 = 0xc0;
    /// Byte swaps.
    pub const END: u8 = 0xd0;
    /// Mask of the operation bits.
    pub const MASK: u8 = 0xf0;
}

/// Jump operations (the high 4 bits of a JMP/JMP32 opcode).
pub mod jmp {
    /// Unconditional jump.
    pub const JA: u8 = 0x00;
    /// `==`
    pub const JEQ: u8 = 0x10;
    /// unsigned `>`
    pub const JGT: u8 = 0x20;
    /// unsigned `>=`
    pub const JGE: u8 = 0x30;
    /// `dst & src != 0`
    pub const JSET: u8 = 0x40;
    /// `!=`
    pub const JNE: u8 = 0x50;
    /// signed `>`
    pub const JSGT: u8 = 0x60;
    /// signed `>=`
    pub const JSGE: u8 = 0x70;
    /// Helper or local call.
    pub const CALL: u8 = 0x80;
    /// Return.
    pub const EXIT: u8 = 0x90;
    /// unsigned `<`
    pub const JLT: u8 = 0xa0;
    /// unsigned `<=`
    pub const JLE: u8 = 0xb0;
    /// signed `<`
    pub const JSLT: u8 = 0xc0;
    /// signed `<=`
    pub const JSLE: u8 = 0xd0;
}

/// Access sizes of loads and stores (bits 3-4).
pub mod size {
    /// 4 bytes.
    pub const W: u8 = 0x00;
    /// 2 bytes.
    pub const H: u8 = 0x08;
    /// 1 byte.
    pub const B: u8 = 0x10;
    /// 8 bytes.
    pub const DW: u8 = 0x18;
    /// Mask of the size bits.
    pub const MASK: u8 = 0x18;

    /// Bytes accessed by size field `size` (already masked).
    pub const fn bytes(size: u8) -> usize {
        match size & MASK {
            W => 4,
            H => 2,
            B => 1,
            _ => 8,
        }
    }
}

/// Modes of loads and stores (bits 5-7).
pub mod mode {
    /// `LD_IMM64`.
    pub const IMM: u8 = 0x00;
    /// Legacy packet access (not supported).
    pub const ABS: u8 = 0x20;
    /// Legacy packet access (not supported).
    pub const IND: u8 = 0x40;
    /// Regular memory access.
    pub const MEM: u8 = 0x60;
    /// Sign-extending load.
    pub const MEMSX: u8 = 0x80;
    /// Atomic read-modify-write (STX only).
    pub const ATOMIC: u8 = 0xc0;
    /// Mask of the mode bits.
    pub const MASK: u8 = 0xe0;
}

/// Atomic operations (the `imm` of an `STX | ATOMIC` instruction).
pub mod atomic {
    /// `*ptr += src`
    pub const ADD: i32 = 0x00;
    /// `*ptr |= src`
    pub const OR: i32 = 0x40;
    /// `*ptr &= src`
    pub const AND: i32 = 0x50;
    /// `*ptr ^= src`
    pub const XOR: i32 = 0xa0;
    /// Flag: `src` receives the old value.
    pub const FETCH: i32 = 0x01;
    /// `src = xchg(ptr, src)` (always fetches).
    pub const XCHG: i32 = 0xe0 | FETCH;
    /// `r0 = cmpxchg(ptr, r0, src)` (always fetches).
    pub const CMPXCHG: i32 = 0xf0 | FETCH;
}

/// `src` values of `CALL` and `LD_IMM64` that change their meaning.
pub mod pseudo {
    /// `CALL` with `src = 1`: a BPF-to-BPF call, `imm` is pc-relative.
    pub const CALL_LOCAL: u8 = 1;
    /// `CALL` with `src = 2`: a kernel function (not supported).
    pub const CALL_KFUNC: u8 = 2;
}

/// One decoded instruction slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Insn {
    /// The opcode: class | operation or size/mode | source.
    pub opcode: u8,
    /// Destination register (0-15 as encoded; only 0-10 exist).
    pub dst: u8,
    /// Source register (0-15 as encoded; only 0-10 exist).
    pub src: u8,
    /// Signed offset.
    pub off: i16,
    /// Signed immediate.
    pub imm: i32,
}

impl Insn {
    /// Builds an instruction from its fields.
    #[inline]
    pub const fn new(opcode: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        Self {
            opcode,
            dst,
            src,
            off,
            imm,
        }
    }

    /// Decodes one slot (little-endian encoding).
    #[inline]
    pub const fn from_bytes(b: [u8; INSN_SIZE]) -> Self {
        Self {
            opcode: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// Slot `pc` of `code`, or `None` past its end.
    #[inline]
    pub fn decode(code: &[u8], pc: usize) -> Option<Self> {
        let start = pc.checked_mul(INSN_SIZE)?;
        let bytes = code.get(start..start.checked_add(INSN_SIZE)?)?;
        let mut slot = [0u8; INSN_SIZE];
        slot.copy_from_slice(bytes);
        Some(Self::from_bytes(slot))
    }

    /// Encodes the slot.
    #[inline]
    pub const fn to_bytes(self) -> [u8; INSN_SIZE] {
        let o = self.off.to_le_bytes();
        let i = self.imm.to_le_bytes();
        [
            self.opcode,
            (self.src << 4) | (self.dst & 0x0f),
            o[0],
            o[1],
            i[0],
            i[1],
            i[2],
            i[3],
        ]
    }

    /// The class bits.
    #[inline]
    pub const fn class(&self) -> u8 {
        self.opcode & class::MASK
    }

    /// The operation bits of an ALU or JMP opcode.
    #[inline]
    pub const fn operation(&self) -> u8 {
        self.opcode & alu::MASK
    }

    /// True when the operand is the source register.
    #[inline]
    pub const fn uses_src_reg(&self) -> bool {
        self.opcode & source::X != 0
    }

    /// Whether this is a jump with an `off` target (conditional or `ja`, 64- or 32-bit).
    #[inline]
    pub const fn is_jump_with_offset(&self) -> bool {
        matches!(self.class(), class::JMP | class::JMP32)
            && !matches!(self.operation(), jmp::CALL | jmp::EXIT)
    }

    /// Whether this is a BPF-to-BPF call (`call` with src = 1, target in `imm`).
    #[inline]
    pub const fn is_local_call(&self) -> bool {
        self.opcode == class::JMP | jmp::CALL && self.src == pseudo::CALL_LOCAL
    }

    /// Whether this slot starts a 16-byte `LD_IMM64` (`lddw`).
    #[inline]
    pub const fn is_ld_imm64(&self) -> bool {
        self.opcode == class::LD | mode::IMM | size::DW
    }
}

/// The two slots of an `LD_IMM64`, as one instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LdImm64 {
    /// Destination register.
    pub dst: u8,
    /// The pseudo kind (`0`: a plain 64-bit constant; others name maps and the like).
    pub src: u8,
    /// The 64-bit value (low half from the first slot's `imm`, high half from the second's).
    pub value: u64,
}

impl LdImm64 {
    /// Joins the slots `first` and `second`; `None` when `first` is not an `LD_IMM64` or the
    /// second slot is not the reserved all-zero-but-`imm` form RFC 9669 requires.
    pub const fn join(first: Insn, second: Insn) -> Option<Self> {
        if !first.is_ld_imm64()
            || second.opcode != 0
            || second.dst != 0
            || second.src != 0
            || second.off != 0
        {
            return None;
        }
        Some(Self {
            dst: first.dst,
            src: first.src,
            value: (first.imm as u32 as u64) | ((second.imm as u32 as u64) << 32),
        })
    }

    /// The two slots encoding `dst = value` (pseudo kind 0).
    pub const fn split(dst: u8, value: u64) -> [Insn; 2] {
        [
            Insn::new(
                class::LD | mode::IMM | size::DW,
                dst,
                0,
                0,
                value as u32 as i32,
            ),
            Insn::new(0, 0, 0, 0, (value >> 32) as u32 as i32),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_inverts_encode() {
        let insn = Insn::new(0x7b, 10, 3, -8, -0x1234_5678);
        assert_eq!(Insn::from_bytes(insn.to_bytes()), insn);
        assert_eq!(
            insn.to_bytes(),
            [0x7b, 0x3a, 0xf8, 0xff, 0x88, 0xa9, 0xcb, 0xed]
        );
        assert_eq!(insn.class(), class::STX);
    }

    #[test]
    fn ld_imm64_pairs() {
        let [a, b] = LdImm64::split(4, 0xdead_beef_8000_0001);
        assert_eq!(
            LdImm64::join(a, b),
            Some(LdImm64 {
                dst: 4,
                src: 0,
                value: 0xdead_beef_8000_0001
            })
        );
        let mut bad = b;
        bad.opcode = 0x18;
        assert_eq!(LdImm64::join(a, bad), None);
    }

    #[test]
    fn decode_stops_at_the_end() {
        let code = [0u8; 12];
        assert!(Insn::decode(&code, 0).is_some());
        assert!(Insn::decode(&code, 1).is_none());
        assert!(Insn::decode(&code, usize::MAX).is_none());
    }

    #[test]
    fn sizes() {
        assert_eq!(size::bytes(size::B), 1);
        assert_eq!(size::bytes(size::H), 2);
        assert_eq!(size::bytes(size::W), 4);
        assert_eq!(size::bytes(size::DW), 8);
    }
}
