//! Parses eBPF ELF objects (clang -target bpf): programs by section, map definitions, relocations.
//!
//! [`parse`] takes the bytes of an object built by `clang -O2 -g -target bpf -c x.c` and returns
//! an [`Object`]: its [`Program`]s, its [`MapDef`]s and its license. Parsing and relocation stay
//! apart from loading (as in aya-obj): nothing here creates a map or touches the runtime; the
//! runtime creates the maps and calls [`Program::relocate_maps`] with their handles.
//!
//! * **Programs.** Every executable section except `.text` (`SEC("tracepoint/vmm/…")`,
//!   `SEC("kprobe/…")`, …) holds programs: each global `STT_FUNC` symbol in it is one (a section
//!   without function symbols is one program named after the section).
//! * **Maps.** libbpf's BTF-defined maps in `.maps` (`__uint(type, …)`, `__type(key, …)`, read
//!   with the small BTF reader in `btf.rs`) and legacy `struct bpf_map_def SEC("maps")`.
//!   Supported types: those [`crate::maps::MapType`] implements.
//! * **Relocations.** `R_BPF_64_64` on an LD_IMM64 of a map becomes a [`MapRelocation`];
//!   `R_BPF_64_32` on a call is a BPF-to-BPF call. Any other relocation (global variables in
//!   `.data`/`.bss`/`.rodata`, externs, other types) is an error naming the section and symbol.
//! * **BPF-to-BPF calls** are supported (`call` with `src_reg = 1`, `imm` = target − (call + 1)):
//!   the loader appends every function a program reaches to it, callers before callees, so every
//!   call jumps forward; recursion is rejected. Both runtime modes give each callee its own
//!   512-byte frame.
//! * **Limits.** A linked program may have at most [`MAX_PROGRAM_INSNS`] instructions (use
//!   [`parse_with_limit`] for another bound).
//!
//! Any input, including random bytes, gives `Ok` or a [`LoadError`]; nothing here panics.

mod btf;
mod elf;
mod error;
mod link;
mod maps;
mod program;

use alloc::string::{String, ToString};
use alloc::vec::Vec;

pub use error::LoadError;
pub use maps::{MapDef, map_type};
pub use program::{
    FunctionSpan, INSN_SIZE, Insn, MapRelocation, OP_CALL, OP_LD_IMM64, PSEUDO_CALL, PSEUDO_MAP_FD,
    Program,
};

/// The loader's bound on a linked program's length, in 8-byte instructions.
///
/// The runtime's own limit ([`crate::runtime::MAX_INSNS`]).
pub const MAX_PROGRAM_INSNS: usize = crate::runtime::MAX_INSNS;

/// A parsed eBPF object: programs ready for relocation, and the maps they use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// Every program, in section order then offset order.
    pub programs: Vec<Program>,
    /// Every map definition; [`MapRelocation::map`] indexes this list.
    pub maps: Vec<MapDef>,
    /// The `license` section's string, if any.
    pub license: Option<String>,
}

impl Object {
    /// The program with this function name or, failing that, the first in this section.
    pub fn program(&self, name_or_section: &str) -> Option<&Program> {
        self.position(name_or_section)
            .and_then(|index| self.programs.get(index))
    }

    /// [`Self::program`], mutable (to relocate it).
    pub fn program_mut(&mut self, name_or_section: &str) -> Option<&mut Program> {
        self.position(name_or_section)
            .and_then(|index| self.programs.get_mut(index))
    }

    fn position(&self, name_or_section: &str) -> Option<usize> {
        let programs = &self.programs;
        programs
            .iter()
            .position(|p| p.name == name_or_section)
            .or_else(|| programs.iter().position(|p| p.section == name_or_section))
    }

    /// The index and definition of the map with this name.
    pub fn map(&self, name: &str) -> Option<(usize, &MapDef)> {
        self.maps
            .iter()
            .enumerate()
            .find(|(_, map)| map.name == name)
    }
}

/// Parses an eBPF ELF object, with programs of at most [`MAX_PROGRAM_INSNS`] instructions.
pub fn parse(elf: &[u8]) -> Result<Object, LoadError> {
    parse_with_limit(elf, MAX_PROGRAM_INSNS)
}

/// Parses an eBPF ELF object, with programs of at most `max_insns` instructions.
pub fn parse_with_limit(elf: &[u8], max_insns: usize) -> Result<Object, LoadError> {
    let file = elf::Elf::parse(elf)?;
    let (sites, maps): (Vec<_>, Vec<_>) = maps::parse_maps(&file)?.into_iter().unzip();
    let programs = link::link_programs(&file, &sites, max_insns)?;
    let license = match file.section_by_name("license") {
        Some(section) => {
            let data = section.data()?;
            let text = data.split(|&b| b == 0).next().unwrap_or_default();
            let text = core::str::from_utf8(text)
                .map_err(|_| LoadError::NonUtf8Name { what: "license" })?;
            Some(text.to_string())
        }
        None => None,
    };
    Ok(Object {
        programs,
        maps,
        license,
    })
}
