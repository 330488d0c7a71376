//! A loaded program: linked instructions plus the map sites the runtime fills in.

use alloc::string::String;
use alloc::vec::Vec;

pub use crate::insn::INSN_SIZE;
/// `BPF_LD | BPF_IMM | BPF_DW`: the first half of a 16-byte LD_IMM64.
pub const OP_LD_IMM64: u8 = crate::insn::op::LD_IMM64;
/// `BPF_JMP | BPF_CALL`.
pub const OP_CALL: u8 = crate::insn::op::CALL;
/// `src_reg` of an LD_IMM64 whose immediate is a map handle (`BPF_PSEUDO_MAP_FD`).
pub const PSEUDO_MAP_FD: u8 = 1;
/// `src_reg` of a call to another eBPF function (`BPF_PSEUDO_CALL`).
pub const PSEUDO_CALL: u8 = 1;

pub use crate::insn::Insn;

/// Decodes instruction `index` of `code`, if it exists.
pub(crate) fn insn_at(code: &[u8], index: usize) -> Option<Insn> {
    Insn::decode(code, index)
}

/// Overwrites instruction `index` of `code`; out-of-range indices are ignored.
pub(crate) fn set_insn(code: &mut [u8], index: usize, insn: Insn) {
    let Some(start) = index.checked_mul(INSN_SIZE) else {
        return;
    };
    if let Some(slot) = start
        .checked_add(INSN_SIZE)
        .and_then(|end| code.get_mut(start..end))
    {
        slot.copy_from_slice(&insn.to_bytes());
    }
}

/// An LD_IMM64 that loads the address (handle) of a map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapRelocation {
    /// Index of the LD_IMM64's first half in [`Program::bytes`] (in instructions).
    pub insn: usize,
    /// Index of the map in [`Object::maps`](super::Object::maps).
    pub map: usize,
}

/// Where one function sits in a linked program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpan {
    /// The function's symbol name.
    pub name: String,
    /// Its first instruction in the program.
    pub start: usize,
    /// Its length in instructions.
    pub len: usize,
}

/// One eBPF program: its entry function followed by every function it calls (BPF-to-BPF),
/// callers always before callees, so every local call jumps forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// The entry function's symbol name.
    pub name: String,
    /// The ELF section it came from (`tracepoint/vmm/vcpu_run_exit`, `kprobe/foo`, …).
    pub section: String,
    /// The LD_IMM64 instructions that load a map, in instruction order.
    pub map_relocations: Vec<MapRelocation>,
    /// The functions laid out in [`Self::bytes`]: the entry function first.
    pub functions: Vec<FunctionSpan>,
    pub(crate) code: Vec<u8>,
}

impl Program {
    /// The raw instructions (8 bytes each), as the runtime takes them.
    pub fn bytes(&self) -> &[u8] {
        &self.code
    }

    /// Number of 8-byte instructions (an LD_IMM64 counts as two).
    pub fn insn_count(&self) -> usize {
        self.code.len() / INSN_SIZE
    }

    /// Instruction `index`, decoded.
    pub fn insn(&self, index: usize) -> Option<Insn> {
        insn_at(&self.code, index)
    }

    /// Every instruction with its index (both halves of an LD_IMM64 included).
    pub fn insns(&self) -> impl Iterator<Item = (usize, Insn)> + '_ {
        self.code
            .chunks_exact(INSN_SIZE)
            .filter_map(|chunk| chunk.try_into().ok().map(Insn::from_bytes))
            .enumerate()
    }

    /// Calls to helpers (`call` with `src_reg == 0`): `(instruction index, helper id)`.
    pub fn helper_calls(&self) -> impl Iterator<Item = (usize, u32)> + '_ {
        self.opcodes()
            .filter(|(_, insn)| insn.opcode == OP_CALL && insn.src == 0)
            .map(|(index, insn)| (index, insn.imm as u32))
    }

    /// BPF-to-BPF calls (`src_reg == 1`): `(instruction index, target instruction index)`.
    pub fn local_calls(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.opcodes()
            .filter(|(_, insn)| insn.opcode == OP_CALL && insn.src == PSEUDO_CALL)
            .filter_map(|(index, insn)| {
                let target = (index as i64)
                    .checked_add(1)?
                    .checked_add(insn.imm.into())?;
                Some((index, usize::try_from(target).ok()?))
            })
    }

    /// Instructions that start an operation (the second half of an LD_IMM64 is skipped).
    fn opcodes(&self) -> impl Iterator<Item = (usize, Insn)> + '_ {
        let mut skip = false;
        self.insns().filter(move |(_, insn)| {
            let second_half = skip;
            skip = !second_half && insn.opcode == OP_LD_IMM64;
            !second_half
        })
    }

    /// Writes each map's runtime handle into the LD_IMM64s that load it: the low 32 bits into
    /// the first half's `imm`, the high 32 bits into the second half's, and `src_reg` =
    /// [`PSEUDO_MAP_FD`]. `handle_of` gets the index of the map in
    /// [`Object::maps`](super::Object::maps). Calling it again overwrites the handles.
    pub fn relocate_maps(&mut self, mut handle_of: impl FnMut(usize) -> u64) {
        let result: Result<(), core::convert::Infallible> =
            self.try_relocate_maps(|map| Ok(handle_of(map)));
        let Ok(()) = result;
    }

    /// [`Self::relocate_maps`] with a fallible `handle_of`; stops at its first error.
    pub fn try_relocate_maps<E>(
        &mut self,
        mut handle_of: impl FnMut(usize) -> Result<u64, E>,
    ) -> Result<(), E> {
        for reloc in &self.map_relocations {
            let handle = handle_of(reloc.map)?;
            let (Some(mut first), Some(mut second)) = (
                insn_at(&self.code, reloc.insn),
                reloc
                    .insn
                    .checked_add(1)
                    .and_then(|next| insn_at(&self.code, next)),
            ) else {
                continue; // unreachable: the linker checked every site
            };
            first.src = PSEUDO_MAP_FD;
            first.imm = handle as u32 as i32;
            second.imm = (handle >> 32) as u32 as i32;
            set_insn(&mut self.code, reloc.insn, first);
            set_insn(&mut self.code, reloc.insn + 1, second);
        }
        Ok(())
    }
}
