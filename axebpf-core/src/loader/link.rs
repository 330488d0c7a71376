//! Relocation and linking: finds the functions of every code section, resolves their
//! relocations (map loads and BPF-to-BPF calls) and lays each program out with its callees.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

/// `STT_FUNC`.
const STT_FUNC: u8 = object::elf::STT_FUNC.0;
/// `STT_SECTION`.
const STT_SECTION: u8 = object::elf::STT_SECTION.0;

use super::LoadError;
use super::elf::{Elf, Rel, Section};
use super::maps::MapSite;
use super::program::{
    FunctionSpan, INSN_SIZE, MapRelocation, OP_CALL, OP_LD_IMM64, PSEUDO_CALL, Program, insn_at,
    set_insn,
};

/// `R_BPF_NONE`.
const R_BPF_NONE: u32 = 0;
/// `R_BPF_64_64`: the 64-bit immediate of an LD_IMM64.
const R_BPF_64_64: u32 = 1;
/// `R_BPF_64_32`: the 32-bit immediate of a call.
const R_BPF_64_32: u32 = 10;

/// What an instruction of a function refers to.
#[derive(Debug, Clone, Copy)]
enum Fixup {
    /// An LD_IMM64 of the map with this index.
    Map { insn: usize, map: usize },
    /// A local call to the function with this id.
    Call { insn: usize, callee: usize },
}

/// One function of a code section.
#[derive(Debug)]
struct Function<'a> {
    section: &'a str,
    section_index: usize,
    name: &'a str,
    global: bool,
    /// First instruction, within the section.
    start: usize,
    code: &'a [u8],
    fixups: Vec<Fixup>,
}

impl Function<'_> {
    fn len(&self) -> usize {
        self.code.len() / INSN_SIZE
    }
}

/// Builds every program of the object (each global function of a code section other than
/// `.text`), linked with its callees, checked against `max_insns`.
pub(crate) fn link_programs(
    elf: &Elf<'_>,
    maps: &[MapSite],
    max_insns: usize,
) -> Result<Vec<Program>, LoadError> {
    let mut functions = Vec::new();
    // (section index, first instruction) → function id
    let mut by_start = BTreeMap::new();
    for section in elf.sections.iter().filter(|s| s.is_executable()) {
        for function in section_functions(elf, section)? {
            by_start.insert((section.index, function.start), functions.len());
            functions.push(function);
        }
    }
    let map_index: BTreeMap<MapSite, usize> = maps
        .iter()
        .enumerate()
        .map(|(i, site)| (*site, i))
        .collect();
    let mut relocated_calls = BTreeSet::new();
    for &(section, rel) in &elf.rels {
        let fixup = resolve(elf, &functions, &by_start, &map_index, section, rel)?;
        if let Some((function, fixup)) = fixup {
            if let Fixup::Call { insn, .. } = fixup {
                relocated_calls.insert((function, insn));
            }
            if let Some(function) = functions.get_mut(function) {
                function.fixups.push(fixup);
            }
        }
    }
    local_calls(&mut functions, &by_start, &relocated_calls)?;
    let mut programs = Vec::new();
    for (id, function) in functions.iter().enumerate() {
        if function.global && function.section != ".text" {
            programs.push(link(&functions, id, max_insns)?);
        }
    }
    if programs.is_empty() {
        return Err(LoadError::NoProgram);
    }
    Ok(programs)
}

/// The functions of one code section: its `STT_FUNC` symbols, or the whole section as one
/// program when it has none.
fn section_functions<'a>(
    elf: &Elf<'a>,
    section: &Section<'a>,
) -> Result<Vec<Function<'a>>, LoadError> {
    let data = section.data()?;
    let misaligned = |what: String, value: u64| LoadError::Misaligned {
        section: section.name.to_string(),
        what,
        value,
    };
    if !data.len().is_multiple_of(INSN_SIZE) {
        return Err(misaligned("size".into(), data.len() as u64));
    }
    let symbols = elf.sized_symbols(section.index, data.len() as u64, |sym| sym.kind == STT_FUNC);
    if symbols.is_empty() && !data.is_empty() && section.name != ".text" {
        let function = Function {
            section: section.name,
            section_index: section.index,
            name: section.name,
            global: true,
            start: 0,
            code: data,
            fixups: Vec::new(),
        };
        check_ld_imm64(&function)?;
        return Ok(vec![function]);
    }
    let mut functions = Vec::with_capacity(symbols.len());
    for &(sym, size) in &symbols {
        if !sym.value.is_multiple_of(INSN_SIZE as u64) {
            return Err(misaligned(format!("offset of `{}`", sym.name), sym.value));
        }
        if !size.is_multiple_of(INSN_SIZE as u64) {
            return Err(misaligned(format!("size of `{}`", sym.name), size));
        }
        let code = usize::try_from(sym.value)
            .ok()
            .zip(usize::try_from(size).ok())
            .and_then(|(start, len)| data.get(start..start.checked_add(len)?))
            .filter(|code| !code.is_empty())
            .ok_or_else(|| LoadError::FunctionOutOfBounds {
                section: section.name.to_string(),
                symbol: sym.name.to_string(),
                offset: sym.value,
                size,
            })?;
        let function = Function {
            section: section.name,
            section_index: section.index,
            name: sym.name,
            global: sym.global,
            start: code_start(sym.value),
            code,
            fixups: Vec::new(),
        };
        check_ld_imm64(&function)?;
        functions.push(function);
    }
    Ok(functions)
}

/// A byte offset already checked to lie in a section, as an instruction index.
fn code_start(offset: u64) -> usize {
    usize::try_from(offset / INSN_SIZE as u64).unwrap_or(usize::MAX)
}

/// Rejects a function whose last instruction is the first half of an LD_IMM64.
fn check_ld_imm64(function: &Function<'_>) -> Result<(), LoadError> {
    let mut index = 0;
    while let Some(insn) = insn_at(function.code, index) {
        index += if insn.opcode == OP_LD_IMM64 { 2 } else { 1 };
    }
    if index > function.len() {
        return Err(LoadError::TruncatedLdImm64 {
            function: function.name.to_string(),
            insn: index - 2,
        });
    }
    Ok(())
}

/// Turns one relocation into a fixup of the function it falls in.
fn resolve(
    elf: &Elf<'_>,
    functions: &[Function<'_>],
    by_start: &BTreeMap<(usize, usize), usize>,
    maps: &BTreeMap<MapSite, usize>,
    section: usize,
    rel: Rel,
) -> Result<Option<(usize, Fixup)>, LoadError> {
    let section_name = elf.section_name(section);
    let symbol = elf.symbols.get(rel.symbol);
    let symbol_name = symbol.map_or_else(
        || format!("symbol #{}", rel.symbol),
        |sym| format!("`{}`", sym.name),
    );
    let bad = |reason: String| LoadError::BadRelocation {
        section: section_name.to_string(),
        offset: rel.offset,
        symbol: symbol_name.clone(),
        reason,
    };
    if rel.r_type == R_BPF_NONE {
        return Ok(None);
    }
    if rel.r_type != R_BPF_64_64 && rel.r_type != R_BPF_64_32 {
        return Err(LoadError::UnsupportedRelocation {
            section: section_name.to_string(),
            offset: rel.offset,
            r_type: rel.r_type,
            symbol: symbol.map_or("?", |sym| sym.name).to_string(),
        });
    }
    let symbol = symbol.ok_or_else(|| bad("which does not exist".into()))?;
    if !rel.offset.is_multiple_of(INSN_SIZE as u64) {
        return Err(bad("not on an instruction boundary".into()));
    }
    let at = code_start(rel.offset);
    let (&(_, start), &id) = by_start
        .range(..=(section, at))
        .next_back()
        .filter(|((sec, _), _)| *sec == section)
        .ok_or_else(|| bad("outside every function".into()))?;
    let function = functions
        .get(id)
        .filter(|f| at - start < f.len())
        .ok_or_else(|| bad("outside every function".into()))?;
    let insn_index = at - start;
    let insn = insn_at(function.code, insn_index).ok_or_else(|| bad("out of range".into()))?;
    let target_section = symbol.section.map(|index| elf.section_name(index));
    if rel.r_type == R_BPF_64_64 {
        if insn.opcode != OP_LD_IMM64 {
            return Err(bad(format!(
                "R_BPF_64_64 on insn {insn_index} of `{}`, which is not an LD_IMM64",
                function.name
            )));
        }
        let Some(target_section) = target_section else {
            return Err(bad(
                "an undefined (extern) symbol, which is not supported".into()
            ));
        };
        let offset = symbol.value.checked_add_signed(insn.imm.into());
        let map = symbol
            .section
            .zip(offset)
            .and_then(|(section, offset)| maps.get(&MapSite { section, offset }).copied());
        return match map {
            Some(map) => Ok(Some((
                id,
                Fixup::Map {
                    insn: insn_index,
                    map,
                },
            ))),
            None if target_section == ".maps" || target_section == "maps" => Err(bad(format!(
                "which is not the start of a map in `{target_section}`"
            ))),
            None => Err(bad(format!(
                "data in `{target_section}`: global variables are not supported, only maps"
            ))),
        };
    }
    // R_BPF_64_32: the target of a BPF-to-BPF call.
    if insn.opcode != OP_CALL || insn.src != PSEUDO_CALL {
        return Err(bad(format!(
            "R_BPF_64_32 on insn {insn_index} of `{}`, which is not a BPF-to-BPF call",
            function.name
        )));
    }
    let target = match (symbol.section, symbol.kind) {
        (Some(sec), STT_FUNC | STT_SECTION)
            if elf.sections.get(sec).is_some_and(Section::is_executable) =>
        {
            let byte = i64::from(insn.imm)
                .checked_add(1)
                .and_then(|n| n.checked_mul(INSN_SIZE as i64))
                .and_then(|delta| symbol.value.checked_add_signed(delta))
                .filter(|byte| byte.is_multiple_of(INSN_SIZE as u64));
            byte.and_then(|byte| by_start.get(&(sec, code_start(byte))).copied())
        }
        _ => None,
    };
    let callee = target.ok_or_else(|| LoadError::BadCall {
        function: function.name.to_string(),
        insn: insn_index,
        reason: format!("target {symbol_name} is not the start of a function in a code section"),
    })?;
    Ok(Some((
        id,
        Fixup::Call {
            insn: insn_index,
            callee,
        },
    )))
}

/// Adds the calls clang resolved itself (within one section, no relocation) as fixups.
fn local_calls(
    functions: &mut [Function<'_>],
    by_start: &BTreeMap<(usize, usize), usize>,
    relocated: &BTreeSet<(usize, usize)>,
) -> Result<(), LoadError> {
    for (id, function) in functions.iter_mut().enumerate() {
        let section = function.section_index;
        let mut index = 0;
        while let Some(insn) = insn_at(function.code, index) {
            let this = index;
            index += if insn.opcode == OP_LD_IMM64 { 2 } else { 1 };
            if insn.opcode != OP_CALL || insn.src != PSEUDO_CALL || relocated.contains(&(id, this))
            {
                continue;
            }
            let target = (function.start as i64)
                .checked_add(this as i64)
                .and_then(|n| n.checked_add(1))
                .and_then(|n| n.checked_add(insn.imm.into()))
                .and_then(|n| usize::try_from(n).ok());
            let callee = target.and_then(|t| by_start.get(&(section, t)).copied());
            let callee = callee.ok_or_else(|| LoadError::BadCall {
                function: function.name.to_string(),
                insn: this,
                reason: format!(
                    "target insn {target:?} of the section is not the start of a function"
                ),
            })?;
            function.fixups.push(Fixup::Call { insn: this, callee });
        }
    }
    Ok(())
}

/// Lays out program `entry` and every function it reaches, callers before callees.
fn link(functions: &[Function<'_>], entry: usize, max_insns: usize) -> Result<Program, LoadError> {
    let name = functions.get(entry).map_or("?", |f| f.name);
    let order = call_order(functions, entry, name)?;
    let mut start_of = BTreeMap::new();
    let mut total = 0usize;
    for &id in &order {
        start_of.insert(id, total);
        let len = functions.get(id).map_or(0, Function::len);
        total = total.saturating_add(len);
    }
    if total > max_insns {
        return Err(LoadError::ProgramTooLarge {
            program: name.to_string(),
            insns: total,
            max: max_insns,
        });
    }
    let mut code = Vec::new();
    let mut spans = Vec::with_capacity(order.len());
    let mut map_relocations = Vec::new();
    for &id in &order {
        let Some(function) = functions.get(id) else {
            continue;
        };
        let base = start_of.get(&id).copied().unwrap_or(0);
        code.extend_from_slice(function.code);
        spans.push(FunctionSpan {
            name: function.name.to_string(),
            start: base,
            len: function.len(),
        });
        for fixup in &function.fixups {
            match *fixup {
                Fixup::Map { insn, map } => map_relocations.push(MapRelocation {
                    insn: base + insn,
                    map,
                }),
                Fixup::Call { insn, callee } => {
                    let at = base + insn;
                    let target = start_of.get(&callee).copied().unwrap_or(0);
                    // Callees come after their callers and total <= max_insns, so this fits.
                    let imm = i32::try_from(target as i64 - at as i64 - 1).unwrap_or(i32::MAX);
                    if let Some(mut call) = insn_at(&code, at) {
                        call.imm = imm;
                        set_insn(&mut code, at, call);
                    }
                }
            }
        }
    }
    map_relocations.sort_by_key(|reloc| reloc.insn);
    Ok(Program {
        name: name.to_string(),
        section: functions.get(entry).map_or("?", |f| f.section).to_string(),
        map_relocations,
        functions: spans,
        code,
    })
}

/// The functions `entry` reaches, in reverse post-order of the call graph (so every call goes
/// forward); a cycle is a [`LoadError::RecursiveCall`]. Iterative, so a deep graph cannot
/// overflow the stack.
fn call_order(
    functions: &[Function<'_>],
    entry: usize,
    name: &str,
) -> Result<Vec<usize>, LoadError> {
    const NEW: u8 = 0;
    const ACTIVE: u8 = 1;
    const DONE: u8 = 2;
    let mut state = vec![NEW; functions.len()];
    let mut post = Vec::new();
    // (function, index of the next fixup to look at)
    let mut stack = vec![(entry, 0usize)];
    if let Some(s) = state.get_mut(entry) {
        *s = ACTIVE;
    }
    while let Some(top) = stack.last_mut() {
        let (id, next) = *top;
        top.1 += 1;
        let fixup = functions.get(id).and_then(|f| f.fixups.get(next));
        match fixup {
            None => {
                stack.pop();
                if let Some(s) = state.get_mut(id) {
                    *s = DONE;
                }
                post.push(id);
            }
            Some(&Fixup::Call { callee, .. }) => match state.get(callee) {
                Some(&NEW) => {
                    if let Some(s) = state.get_mut(callee) {
                        *s = ACTIVE;
                    }
                    stack.push((callee, 0));
                }
                Some(&ACTIVE) => {
                    return Err(LoadError::RecursiveCall {
                        program: name.to_string(),
                        function: functions.get(callee).map_or("?", |f| f.name).to_string(),
                    });
                }
                _ => {}
            },
            Some(Fixup::Map { .. }) => {}
        }
    }
    post.reverse();
    Ok(post)
}
