//! A kernel-style symbol table (kallsyms) of the hypervisor's functions: address → `name+0xoff`
//! for stack traces and trace output, name → address for attaching probes.
//!
//! The blob format and the lookups are [`ksym`]'s (`KallsymsMapped`, Linux's kallsyms
//! algorithms). The blob is written by our own generator, [`build_blob`], not by ksym's
//! `gen_ksym`: that one corrupts every name it encodes with its 512th token (id 511 is written as
//! `FF 01 FF FF`, which the reader takes for token 1 followed by a raw `0xFF`), which also breaks
//! name lookups of neighbouring names. [`build_blob`] uses at most 256 tokens, so every token id
//! has the 1-byte form `FF id FF`, and [`SymbolTable::check_round_trip`] proves the result.
//!
//! Names are stored demangled, without hashes (`axebpf_core::symbols::build_blob`, not
//! `_RNvNtCs…_11axebpf_core7symbols10build_blob`);
//! [`SymbolTable::lookup_name`] also accepts a mangled name and demangles it first. Each address
//! keeps one name (aliases are dropped: global before local, then the smallest name), so every
//! stored name round-trips. The last entry is the end-of-text marker [`END_MARKER`], which is not
//! a symbol: it bounds the last function.
//! Distinct functions may share a demangled name (copies of one generic in several crates);
//! [`SymbolTable::lookup_name`] gives the lowest address. Addresses are link-time addresses: for
//! a relocated (PIE) image, subtract its load bias before a lookup.
//!
//! Everything here is `no_std` + `alloc`; [`SymbolTable::from_blob`] validates the whole blob
//! before ksym sees it (ksym's reader trusts its input), so a malformed blob is an error.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;

use ksym::{KSYM_NAME_LEN, KallsymsMapped, TOKEN_MARKER};

/// Name of the end-of-text marker, the last entry of every blob (as in Linux's kallsyms).
pub const END_MARKER: &str = "_etext";
/// Most tokens [`build_blob`] uses: ids `0..=255` all have ksym's unambiguous 1-byte form.
pub const MAX_TOKENS: usize = 256;
/// Bytes of a name record's header: type (1) and payload length (2, little-endian).
const RECORD_HEADER: usize = 3;

/// Why a blob or an ELF file could not be turned into a symbol table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SymbolError {
    /// The blob's layout (length, counts, section sizes) is inconsistent.
    #[error("malformed symbol blob: {0}")]
    Layout(&'static str),
    /// A name record or the name order is invalid.
    #[error("malformed symbol blob: symbol {index}: {what}")]
    Name {
        /// Index of the symbol (address order).
        index: usize,
        /// What is wrong.
        what: &'static str,
    },
    /// The ELF file could not be read.
    #[error("ELF: {0}")]
    Elf(String),
    /// A stored symbol does not survive name → address → name.
    #[error("symbol `{0}` does not round-trip")]
    RoundTrip(String),
}

/// Byte layout of a validated blob (offsets from its start; see ksym's README).
#[derive(Debug, Clone)]
struct Layout {
    /// Entries including the end marker.
    count: usize,
    offsets: usize,
    seqs: usize,
    names: Range<usize>,
    tokens: Range<usize>,
    index: usize,
    index_len: usize,
}

fn read_u64(b: &[u8], at: usize) -> Result<u64, SymbolError> {
    let bytes = b
        .get(at..at.wrapping_add(8))
        .ok_or(SymbolError::Layout("truncated"))?;
    Ok(u64::from_le_bytes(bytes.try_into().unwrap_or_default()))
}

fn read_u32(b: &[u8], at: usize) -> Result<u32, SymbolError> {
    let bytes = b
        .get(at..at.wrapping_add(4))
        .ok_or(SymbolError::Layout("truncated"))?;
    Ok(u32::from_le_bytes(bytes.try_into().unwrap_or_default()))
}

/// `base + len` as a range inside a blob of `total` bytes.
fn span(base: usize, len: u64, total: usize) -> Result<Range<usize>, SymbolError> {
    let end = usize::try_from(len)
        .ok()
        .and_then(|len| base.checked_add(len))
        .filter(|&end| end <= total)
        .ok_or(SymbolError::Layout("section runs past the end"))?;
    Ok(base..end)
}

const fn align8(at: usize) -> usize {
    (at + 7) & !7
}

impl Layout {
    fn parse(b: &[u8]) -> Result<Self, SymbolError> {
        if read_u64(b, 0)? != b.len() as u64 {
            return Err(SymbolError::Layout("total length does not match"));
        }
        let count = usize::try_from(read_u64(b, 8)?).unwrap_or(usize::MAX);
        // 16 bytes per entry (address, offset, seq) bound the count, so nothing below overflows.
        if count == 0 || count > b.len() / 16 {
            return Err(SymbolError::Layout("bad symbol count"));
        }
        let offsets = 16 + 8 * count;
        let seqs = offsets + 4 * count;
        let names_at = align8(seqs + 4 * count);
        let names = span(names_at + 8, read_u64(b, names_at)?, b.len())?;
        let tokens_at = align8(names.end);
        let tokens = span(tokens_at + 8, read_u64(b, tokens_at)?, b.len())?;
        let index_at = align8(tokens.end);
        let index_len = read_u64(b, index_at)?;
        let index = span(index_at + 8, index_len.saturating_mul(4), b.len())?;
        if index.end != b.len() {
            return Err(SymbolError::Layout("trailing bytes"));
        }
        Ok(Self {
            count,
            offsets,
            seqs,
            names,
            tokens,
            index: index.start,
            index_len: index.len() / 4,
        })
    }

    fn address(&self, b: &[u8], i: usize) -> Result<u64, SymbolError> {
        read_u64(b, 16 + 8 * i)
    }

    fn seq(&self, b: &[u8], k: usize) -> Result<usize, SymbolError> {
        Ok(read_u32(b, self.seqs + 4 * k)? as usize)
    }

    /// Bytes of token `id`, exactly as ksym slices them.
    fn token<'b>(&self, b: &'b [u8], id: usize) -> Result<&'b [u8], SymbolError> {
        let start = read_u32(b, self.index + 4 * id)? as usize;
        let end = if id + 1 < self.index_len {
            read_u32(b, self.index + 4 * (id + 1))? as usize
        } else {
            self.tokens.len()
        };
        b[self.tokens.clone()]
            .get(start..end)
            .ok_or(SymbolError::Layout("bad token index"))
    }

    /// Decodes the name of entry `i` (address order) into `out`, the way ksym's
    /// `expand_symbol` does, rejecting everything ksym would read out of bounds, truncate or
    /// turn into an empty name.
    fn name<'o>(&self, b: &[u8], i: usize, out: &'o mut Vec<u8>) -> Result<&'o str, SymbolError> {
        let bad = |what| SymbolError::Name { index: i, what };
        let names = &b[self.names.clone()];
        let start = read_u32(b, self.offsets + 4 * i)? as usize;
        let header = names
            .get(start..start.saturating_add(RECORD_HEADER))
            .ok_or(bad("record past the end"))?;
        let len = usize::from(u16::from_le_bytes([header[1], header[2]]));
        let payload = names
            .get(start + RECORD_HEADER..start + RECORD_HEADER + len)
            .ok_or(bad("record past the end"))?;
        out.clear();
        let mut raw = payload;
        if payload.first() == Some(&TOKEN_MARKER) {
            let (id, skip) = match payload {
                [_, id, TOKEN_MARKER, ..] => (usize::from(*id), 3),
                [_, hi, lo, TOKEN_MARKER, ..] => (usize::from(*hi) << 8 | usize::from(*lo), 4),
                _ => return Err(bad("bad token reference")),
            };
            if id >= self.index_len {
                return Err(bad("token id out of range"));
            }
            out.extend_from_slice(self.token(b, id)?);
            raw = &payload[skip..];
        }
        out.extend_from_slice(raw);
        if out.is_empty() || out.len() > KSYM_NAME_LEN {
            return Err(bad("empty or too long name"));
        }
        core::str::from_utf8(out).map_err(|_| bad("name is not UTF-8"))
    }

    /// Checks everything ksym's lookups rely on: sorted unique addresses, decodable names, the
    /// end marker last, and the name order a sorted permutation.
    fn validate(&self, b: &[u8]) -> Result<(), SymbolError> {
        for id in 0..self.index_len {
            self.token(b, id)?;
        }
        let (mut buf, mut prev_buf) = (Vec::new(), Vec::new());
        let mut prev_addr = None;
        for i in 0..self.count {
            let addr = self.address(b, i)?;
            if prev_addr.is_some_and(|prev| prev >= addr) {
                return Err(SymbolError::Name {
                    index: i,
                    what: "addresses not increasing",
                });
            }
            prev_addr = Some(addr);
            let is_marker = self.name(b, i, &mut buf)? == END_MARKER;
            if is_marker != (i + 1 == self.count) {
                return Err(SymbolError::Name {
                    index: i,
                    what: "end marker not last",
                });
            }
        }
        let mut seen = vec![false; self.count];
        for k in 0..self.count {
            let i = self.seq(b, k)?;
            if seen.get(i) != Some(&false) {
                return Err(SymbolError::Layout("name order is not a permutation"));
            }
            seen[i] = true;
            let name = self.name(b, i, &mut buf)?;
            if k > 0 && core::str::from_utf8(&prev_buf).unwrap_or_default() > name {
                return Err(SymbolError::Name {
                    index: i,
                    what: "name order not sorted",
                });
            }
            core::mem::swap(&mut buf, &mut prev_buf);
        }
        Ok(())
    }
}

/// A validated symbol table: one blob in an 8-byte-aligned buffer, read through ksym.
#[derive(Clone)]
pub struct SymbolTable {
    /// The blob (ksym reads its `u64`/`u32` arrays in place, so it must be 8-byte aligned).
    words: Vec<u64>,
    bytes: usize,
    layout: Layout,
    /// Start of the first symbol and the end marker's address.
    text: Range<u64>,
}

impl core::fmt::Debug for SymbolTable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SymbolTable")
            .field("symbols", &self.len())
            .field("bytes", &self.bytes)
            .field("text", &self.text)
            .finish()
    }
}

impl SymbolTable {
    /// Copies and validates a blob written by [`build_blob`] (or any blob in ksym's format that
    /// satisfies the same rules). Never panics on malformed input.
    pub fn from_blob(blob: &[u8]) -> Result<Self, SymbolError> {
        let layout = Layout::parse(blob)?;
        layout.validate(blob)?;
        let mut words = vec![0u64; blob.len().div_ceil(8)];
        bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..blob.len()].copy_from_slice(blob);
        let text = layout.address(blob, 0)?..layout.address(blob, layout.count - 1)?;
        Ok(Self {
            words,
            bytes: blob.len(),
            layout,
            text,
        })
    }

    /// The blob, as passed to [`SymbolTable::from_blob`].
    pub fn as_bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.words)[..self.bytes]
    }

    fn mapped(&self) -> Option<KallsymsMapped<'_>> {
        KallsymsMapped::from_blob(self.as_bytes(), self.text.start, self.text.end).ok()
    }

    /// Number of symbols (the end marker is not one).
    pub fn len(&self) -> usize {
        self.layout.count - 1
    }

    /// Whether the table holds no symbol.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Addresses the table covers: from the first symbol to the end of text.
    pub fn text_range(&self) -> Range<u64> {
        self.text.clone()
    }

    /// The symbol containing `addr` and the offset into it, or `None` outside the text range.
    pub fn lookup_address(&self, addr: u64) -> Option<(String, u64)> {
        let mut buf = [0u8; KSYM_NAME_LEN];
        let (name, _size, offset, _ty) = self.mapped()?.lookup_address(addr, &mut buf)?;
        Some((name.to_string(), offset))
    }

    /// `name+0xoff` for `addr` (see [`format_symbol`]).
    pub fn symbolize(&self, addr: u64) -> Option<String> {
        let (name, offset) = self.lookup_address(addr)?;
        Some(format_symbol(&name, offset))
    }

    /// Address of the symbol called `name` (demangled, or a mangled Rust name). With duplicate
    /// names, the lowest address.
    pub fn lookup_name(&self, name: &str) -> Option<u64> {
        let mapped = self.mapped()?;
        let found = |name: &str| (name != END_MARKER).then(|| mapped.lookup_name(name))?;
        found(name).or_else(|| found(&format!("{:#}", rustc_demangle::try_demangle(name).ok()?)))
    }

    /// All symbols as `(name, address)`, in address order.
    pub fn iter(&self) -> impl Iterator<Item = (String, u64)> + '_ {
        let b = self.as_bytes();
        let mut buf = Vec::new();
        (0..self.len()).filter_map(move |i| {
            let name = self.layout.name(b, i, &mut buf).ok()?.to_string();
            Some((name, self.layout.address(b, i).ok()?))
        })
    }

    /// Checks that every symbol survives name → address → `name+0`; returns how many did.
    pub fn check_round_trip(&self) -> Result<usize, SymbolError> {
        let mut count = 0;
        for (name, addr) in self.iter() {
            let back = self.lookup_name(&name).and_then(|a| self.lookup_address(a));
            if back.as_ref().is_none_or(|(n, off)| *n != name || *off != 0)
                || self.lookup_address(addr) != Some((name.clone(), 0))
            {
                return Err(SymbolError::RoundTrip(name));
            }
            count += 1;
        }
        if count != self.len() {
            return Err(SymbolError::RoundTrip(String::from("<undecodable>")));
        }
        Ok(count)
    }
}

/// `name+0xoff`, as in kernel stack traces.
pub fn format_symbol(name: &str, offset: u64) -> String {
    format!("{name}+{offset:#x}")
}

/// One function symbol read from an ELF file.
struct ElfSymbol {
    name: String,
    addr: u64,
    /// Sort key among aliases: global functions first.
    rank: u8,
}

/// Function symbols of an ELF file, demangled, one per address, plus the end of text.
fn elf_functions(elf: &[u8]) -> Result<(Vec<ElfSymbol>, u64), SymbolError> {
    use ::object::{Object, ObjectSection, ObjectSymbol, SectionKind, SymbolKind};
    let file = ::object::File::parse(elf).map_err(|e| SymbolError::Elf(e.to_string()))?;
    let mut syms = Vec::new();
    let mut end = 0u64;
    for sym in file.symbols() {
        let in_text = sym
            .section_index()
            .and_then(|i| file.section_by_index(i).ok())
            .is_some_and(|s| s.kind() == SectionKind::Text);
        let is_fn = sym.kind() == SymbolKind::Text || sym.kind() == SymbolKind::Label;
        let raw = String::from_utf8_lossy(sym.name_bytes().unwrap_or_default());
        if !in_text || !is_fn || !sym.is_definition() || raw.is_empty() || raw.starts_with('$') {
            continue;
        }
        let mut name = match rustc_demangle::try_demangle(&raw) {
            Ok(d) => format!("{d:#}"),
            Err(_) => raw.into_owned(),
        };
        if name.len() > KSYM_NAME_LEN {
            let cut = (0..=KSYM_NAME_LEN)
                .rev()
                .find(|&c| name.is_char_boundary(c));
            name.truncate(cut.unwrap_or(0));
        }
        if name == END_MARKER {
            continue;
        }
        let rank = u8::from(!sym.is_global()) * 2 + u8::from(sym.kind() != SymbolKind::Text);
        end = end.max(sym.address().saturating_add(sym.size().max(1)));
        syms.push(ElfSymbol {
            name,
            addr: sym.address(),
            rank,
        });
    }
    syms.sort_by(|a, b| (a.addr, a.rank, &a.name).cmp(&(b.addr, b.rank, &b.name)));
    syms.dedup_by_key(|s| s.addr);
    Ok((syms, end))
}

/// Up to [`MAX_TOKENS`] name prefixes (each ending in `::`) that save the most bytes.
fn choose_tokens(names: &[&str]) -> Vec<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for name in names {
        for (at, _) in name.match_indices("::") {
            *counts.entry(&name[..at + 2]).or_default() += 1;
        }
    }
    let mut scored: Vec<(usize, &str)> = counts
        .into_iter()
        .filter(|(p, n)| p.len() > RECORD_HEADER + 1 && *n > 1)
        .map(|(p, n)| (n * (p.len() - RECORD_HEADER), p))
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    scored
        .iter()
        .take(MAX_TOKENS)
        .map(|(_, p)| p.to_string())
        .collect()
}

/// Builds a blob in ksym's format from an ELF file's function symbols (`t`/`T` in `nm`,
/// demangled). Works on any ELF with a symbol table; `no_std` + `alloc`.
pub fn build_blob(elf: &[u8]) -> Result<Vec<u8>, SymbolError> {
    let (syms, end) = elf_functions(elf)?;
    let mut entries: Vec<(&str, u64, u8)> = syms
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.addr,
                if s.rank < 2 { b'T' } else { b't' },
            )
        })
        .collect();
    entries.push((END_MARKER, end, b'T'));
    let names: Vec<&str> = entries.iter().map(|e| e.0).collect();
    let tokens = choose_tokens(&names);
    let ids: BTreeMap<&str, u8> = tokens
        .iter()
        .zip(0..=u8::MAX)
        .map(|(t, i)| (t.as_str(), i))
        .collect();

    let mut records = Vec::new();
    let mut offsets = Vec::new();
    for &(name, _, ty) in &entries {
        offsets.push(records.len() as u32);
        let token = name.rmatch_indices("::").find_map(|(at, _)| {
            let prefix = &name[..at + 2];
            Some((prefix.len(), *ids.get(prefix)?))
        });
        let mut payload = Vec::new();
        let rest = match token {
            Some((len, id)) => {
                payload.extend_from_slice(&[TOKEN_MARKER, id, TOKEN_MARKER]);
                &name[len..]
            }
            None => name,
        };
        payload.extend_from_slice(rest.as_bytes());
        records.push(ty);
        records.extend_from_slice(&(payload.len() as u16).to_le_bytes());
        records.extend_from_slice(&payload);
    }
    let mut by_name: Vec<usize> = (0..entries.len()).collect();
    by_name.sort_by(|&a, &b| (entries[a].0, a).cmp(&(entries[b].0, b)));

    let mut blob = vec![0u8; 8];
    let put = |blob: &mut Vec<u8>, bytes: &[u8]| blob.extend_from_slice(bytes);
    put(&mut blob, &(entries.len() as u64).to_le_bytes());
    entries
        .iter()
        .for_each(|e| put(&mut blob, &e.1.to_le_bytes()));
    offsets
        .iter()
        .for_each(|o| put(&mut blob, &o.to_le_bytes()));
    by_name
        .iter()
        .for_each(|&i| put(&mut blob, &(i as u32).to_le_bytes()));
    let mut token_table = Vec::new();
    let mut token_index = Vec::new();
    for token in &tokens {
        token_index.push(token_table.len() as u32);
        token_table.extend_from_slice(token.as_bytes());
    }
    for section in [&records, &token_table] {
        blob.resize(align8(blob.len()), 0);
        put(&mut blob, &(section.len() as u64).to_le_bytes());
        put(&mut blob, section);
    }
    blob.resize(align8(blob.len()), 0);
    put(&mut blob, &(token_index.len() as u64).to_le_bytes());
    token_index
        .iter()
        .for_each(|i| put(&mut blob, &i.to_le_bytes()));
    let total = blob.len() as u64;
    blob[..8].copy_from_slice(&total.to_le_bytes());
    Ok(blob)
}
