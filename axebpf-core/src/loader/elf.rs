//! The ELF layer: header checks, then the sections, symbols and relocations the loader needs,
//! read through the `object` crate (which bounds-checks every table against the input).

use alloc::vec::Vec;

use object::LittleEndian;
use object::elf;
use object::read::elf::{ElfFile64, FileHeader as _, Rel as _, SectionHeader as _, Sym as _};

use super::LoadError;

/// `EM_BPF`.
const EM_BPF: u16 = 247;

/// One section header, with what the loader asks of it.
#[derive(Debug)]
pub(crate) struct Section<'a> {
    /// Index in the section header table.
    pub index: usize,
    /// Section name.
    pub name: &'a str,
    /// `sh_type`.
    pub sh_type: u32,
    /// `sh_flags`.
    pub sh_flags: u64,
    /// Contents (empty for `SHT_NOBITS`); `None` if the header points outside the file.
    data: Option<&'a [u8]>,
}

impl<'a> Section<'a> {
    /// True for sections holding eBPF code.
    pub fn is_executable(&self) -> bool {
        self.sh_type == elf::SHT_PROGBITS.0 && self.sh_flags & elf::SHF_EXECINSTR.0 != 0
    }

    /// The contents, or an error naming the section.
    pub fn data(&self) -> Result<&'a [u8], LoadError> {
        self.data.ok_or_else(|| {
            LoadError::Elf(alloc::format!(
                "section `{}` lies outside the file",
                self.name
            ))
        })
    }
}

/// One symbol-table entry.
#[derive(Debug)]
pub(crate) struct Symbol<'a> {
    /// Symbol name (may be empty, e.g. for section symbols).
    pub name: &'a str,
    /// Index of the section it is defined in, if any.
    pub section: Option<usize>,
    /// `st_value`: the offset in its section, for an object file.
    pub value: u64,
    /// `st_size`.
    pub size: u64,
    /// `st_type` (`STT_FUNC`, `STT_OBJECT`, `STT_SECTION`, …).
    pub kind: u8,
    /// Global or weak binding (not local).
    pub global: bool,
}

/// One `Elf64_Rel` of a code section.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rel {
    /// Byte offset in the relocated section.
    pub offset: u64,
    /// `R_BPF_*` type.
    pub r_type: u32,
    /// Index into [`Elf::symbols`].
    pub symbol: usize,
}

/// The parts of an eBPF object file the loader uses.
#[derive(Debug)]
pub(crate) struct Elf<'a> {
    /// Every section, by header index.
    pub sections: Vec<Section<'a>>,
    /// Every symbol, by symbol index.
    pub symbols: Vec<Symbol<'a>>,
    /// `(relocated section index, relocation)` for every `SHT_REL` entry of a code section.
    pub rels: Vec<(usize, Rel)>,
}

impl<'a> Elf<'a> {
    /// The symbols of section `section` that `keep` selects, in offset order, each with its
    /// size: `st_size`, or when that is 0 the distance to the next one (or to the section's end,
    /// `section_len`).
    pub fn sized_symbols(
        &self,
        section: usize,
        section_len: u64,
        keep: impl Fn(&Symbol<'a>) -> bool,
    ) -> Vec<(&Symbol<'a>, u64)> {
        let mut symbols: Vec<&Symbol<'a>> = self
            .symbols
            .iter()
            .filter(|sym| sym.section == Some(section) && keep(sym))
            .collect();
        symbols.sort_by_key(|sym| sym.value);
        (0..symbols.len())
            .map(|i| {
                let sym = symbols[i];
                let next = symbols.get(i + 1).map_or(section_len, |next| next.value);
                let size = if sym.size != 0 {
                    sym.size
                } else {
                    next.saturating_sub(sym.value)
                };
                (sym, size)
            })
            .collect()
    }

    /// Checks the header and reads the section, symbol and relocation tables.
    pub fn parse(data: &'a [u8]) -> Result<Self, LoadError> {
        check_ident(data)?;
        let file = ElfFile64::<LittleEndian>::parse(data)?;
        let endian = file.endian();
        let machine = file.elf_header().e_machine(endian).0;
        if machine != EM_BPF {
            return Err(LoadError::WrongMachine { machine });
        }
        let table = file.elf_section_table();
        let mut sections = Vec::with_capacity(table.len());
        for (index, header) in table.enumerate() {
            let name = utf8(table.section_name(endian, header)?, "section")?;
            sections.push(Section {
                index: index.0,
                name,
                sh_type: header.sh_type(endian).0,
                sh_flags: header.sh_flags(endian).0,
                data: header.data(endian, data).ok(),
            });
        }
        let symtab = file.elf_symbol_table();
        let mut symbols = Vec::with_capacity(symtab.len());
        for (index, sym) in symtab.enumerate() {
            symbols.push(Symbol {
                name: utf8(symtab.symbol_name(endian, sym)?, "symbol")?,
                section: symtab
                    .symbol_section(endian, sym, index)?
                    .map(|section| section.0),
                value: sym.st_value(endian),
                size: sym.st_size(endian),
                kind: sym.st_type().0,
                global: sym.st_bind() != elf::STB_LOCAL,
            });
        }
        let mut rels = Vec::new();
        for header in table.iter() {
            let Some((entries, _link)) = header.rel(endian, data)? else {
                continue;
            };
            let target = header.sh_info(endian) as usize;
            if !sections.get(target).is_some_and(Section::is_executable) {
                continue; // relocations of debug info, BTF.ext, …: not the loader's business
            }
            for entry in entries {
                rels.push((
                    target,
                    Rel {
                        offset: entry.r_offset(endian),
                        r_type: entry.r_type(endian).0,
                        symbol: entry.r_sym(endian) as usize,
                    },
                ));
            }
        }
        Ok(Self {
            sections,
            symbols,
            rels,
        })
    }

    /// The first section with this name.
    pub fn section_by_name(&self, name: &str) -> Option<&Section<'a>> {
        self.sections.iter().find(|section| section.name == name)
    }

    /// The name of a section index, for messages.
    pub fn section_name(&self, index: usize) -> &'a str {
        self.sections.get(index).map_or("?", |section| section.name)
    }
}

/// Checks `e_ident`: magic, 64-bit class, little-endian data.
fn check_ident(data: &[u8]) -> Result<(), LoadError> {
    if data.get(..4) != Some(&elf::ELFMAG[..]) {
        return Err(LoadError::NotElf);
    }
    let class = data.get(4).copied().unwrap_or(0);
    if class != elf::ELFCLASS64.0 {
        return Err(LoadError::WrongClass { class });
    }
    let encoding = data.get(5).copied().unwrap_or(0);
    if encoding != elf::ELFDATA2LSB.0 {
        return Err(LoadError::WrongEndianness { encoding });
    }
    Ok(())
}

fn utf8<'a>(bytes: &'a [u8], what: &'static str) -> Result<&'a str, LoadError> {
    core::str::from_utf8(bytes).map_err(|_| LoadError::NonUtf8Name { what })
}
