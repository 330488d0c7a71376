//! Why an object was rejected: every variant names the section, symbol or instruction at fault.

use alloc::string::String;

/// An eBPF object the loader cannot use, and where the problem is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The bytes do not start with the ELF magic.
    #[error("not an ELF object (no \\x7fELF magic)")]
    NotElf,
    /// The object is not 64-bit.
    #[error("ELF class {class} is not ELFCLASS64 (2): eBPF objects are 64-bit")]
    WrongClass {
        /// `e_ident[EI_CLASS]`.
        class: u8,
    },
    /// The object is not little-endian.
    #[error("ELF data encoding {encoding} is not little-endian (1)")]
    WrongEndianness {
        /// `e_ident[EI_DATA]`.
        encoding: u8,
    },
    /// The object is for another machine than eBPF.
    #[error("ELF machine {machine} is not EM_BPF (247): compile with `clang -target bpf`")]
    WrongMachine {
        /// `e_machine`.
        machine: u16,
    },
    /// The ELF structure itself is broken (as reported by the `object` crate).
    #[error("malformed ELF: {0}")]
    Elf(String),
    /// A section, symbol or string name is not UTF-8.
    #[error("malformed ELF: a {what} name is not UTF-8")]
    NonUtf8Name {
        /// `section`, `symbol` or `license`.
        what: &'static str,
    },
    /// No executable section other than `.text` holds a program.
    #[error("no program section (an executable section such as SEC(\"tracepoint/...\"))")]
    NoProgram,
    /// A program section's size or a function's offset or size is not a multiple of 8.
    #[error(
        "section `{section}`: {what} {value} is not a multiple of 8 (the eBPF instruction size)"
    )]
    Misaligned {
        /// The section.
        section: String,
        /// What is misaligned (`size`, `offset of `f``, …).
        what: String,
        /// The offending value.
        value: u64,
    },
    /// A function symbol lies (partly) outside its section.
    #[error("section `{section}`: function `{symbol}` ({offset}+{size}) lies outside the section")]
    FunctionOutOfBounds {
        /// The section.
        section: String,
        /// The function.
        symbol: String,
        /// Its offset in the section.
        offset: u64,
        /// Its size in bytes.
        size: u64,
    },
    /// An LD_IMM64 instruction misses its second half.
    #[error("`{function}`: LD_IMM64 at insn {insn} is truncated (no second half)")]
    TruncatedLdImm64 {
        /// The function (or program) holding it.
        function: String,
        /// Its instruction index within the function.
        insn: usize,
    },
    /// A linked program has more instructions than the limit.
    #[error("program `{program}` has {insns} instructions, more than the limit of {max}")]
    ProgramTooLarge {
        /// The program.
        program: String,
        /// Its instruction count after linking its BPF-to-BPF callees.
        insns: usize,
        /// The limit it was parsed with.
        max: usize,
    },
    /// A map has a type the runtime does not implement.
    #[error(
        "map `{map}`: map type {map_type} is not supported (supported: HASH 1, ARRAY 2, \
         PERF_EVENT_ARRAY 4, PERCPU_HASH 5, PERCPU_ARRAY 6, LRU_HASH 9)"
    )]
    UnsupportedMapType {
        /// The map.
        map: String,
        /// Its Linux `BPF_MAP_TYPE_*` number.
        map_type: u32,
    },
    /// A map definition lacks a required attribute.
    #[error("map `{map}`: no {attribute} given")]
    MissingMapAttribute {
        /// The map.
        map: String,
        /// `type`, `key size` or `value size`.
        attribute: &'static str,
    },
    /// A map definition is malformed or uses something the loader does not support.
    #[error("map `{map}`: {reason}")]
    BadMapDefinition {
        /// The map.
        map: String,
        /// What is wrong.
        reason: String,
    },
    /// The `.BTF` section is malformed or lacks what the `.maps` section needs.
    #[error("malformed BTF at byte {offset} of `.BTF`: {reason}")]
    Btf {
        /// Byte offset in the `.BTF` section.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// A relocation of a type the loader does not handle.
    #[error(
        "section `{section}`: relocation type {r_type} at byte {offset} (symbol `{symbol}`) is not \
         supported (only R_BPF_64_64 = 1 on LD_IMM64 of a map and R_BPF_64_32 = 10 on a call)"
    )]
    UnsupportedRelocation {
        /// The relocated section.
        section: String,
        /// Byte offset of the relocation in the section.
        offset: u64,
        /// The ELF relocation type.
        r_type: u32,
        /// The symbol it refers to.
        symbol: String,
    },
    /// A relocation refers to a symbol the loader cannot resolve.
    #[error("section `{section}`: relocation at byte {offset} refers to {symbol}, {reason}")]
    BadRelocation {
        /// The relocated section.
        section: String,
        /// Byte offset of the relocation in the section.
        offset: u64,
        /// The symbol (name or index).
        symbol: String,
        /// Why it cannot be resolved.
        reason: String,
    },
    /// A BPF-to-BPF call whose target is not the start of a function.
    #[error("BPF-to-BPF call in `{function}` at insn {insn}: {reason}")]
    BadCall {
        /// The calling function.
        function: String,
        /// The call's instruction index within that function.
        insn: usize,
        /// What is wrong with the target.
        reason: String,
    },
    /// Functions that call each other in a cycle (the runtime's call stack is bounded).
    #[error("program `{program}`: recursive BPF-to-BPF call through `{function}`")]
    RecursiveCall {
        /// The program.
        program: String,
        /// A function on the cycle.
        function: String,
    },
}

impl From<object::read::Error> for LoadError {
    fn from(error: object::read::Error) -> Self {
        use alloc::string::ToString;
        Self::Elf(error.to_string())
    }
}
