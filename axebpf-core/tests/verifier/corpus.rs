//! The verifier corpus: small programs in the verifier's own assembler syntax (the inverse of
//! `axebpf_core::verifier::disasm`, sharing its mnemonic tables), one per `.s` file, each with a
//! header giving the expected verdict.
//!
//! ```text
//! ; expect: reject null_check        (or `expect: accept`)
//! ; linux: accept -- why we differ    (or `linux: same`, `linux: reject -- why`, `linux: skip -- why`)
//! ; context: vcpu_run_exit            (the tracepoint; default vcpu_run_exit)
//! ; map counts hash key=4 value=8 entries=16
//! ; free text describing the program
//!         ldxw r2, [r1+16]
//!         jeq r2, 0, out              ; targets: +N / -N or a label
//! out:
//!         mov64 r0, 0
//!         exit
//! ```
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use axebpf_core::context;
use axebpf_core::insn::Insn;
use axebpf_core::maps::{MapSpec, MapType};
use axebpf_core::verifier::disasm::{ALU_NAMES, JMP_NAMES};
use axebpf_core::verifier::{Rule, proto};

/// What the corpus says the verifier must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Reject(Rule),
}

/// What Linux's verifier is expected to do with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Linux {
    /// The same as ours.
    Same,
    /// Linux accepts what we reject (or the reverse), on purpose; the reason.
    Differs { accepts: bool, reason: String },
    /// Not comparable (a helper or feature Linux lacks); the reason.
    Skip(String),
}

/// One map the program names.
#[derive(Debug, Clone)]
pub struct MapDecl {
    pub name: String,
    pub spec: MapSpec,
}

/// One corpus program.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub path: PathBuf,
    pub verdict: Verdict,
    pub linux: Linux,
    pub context: &'static str,
    pub context_size: usize,
    pub maps: Vec<MapDecl>,
    /// Source lines (instructions and labels), with their line numbers.
    lines: Vec<(usize, String)>,
}

impl Case {
    /// The program with map `i` loaded as `handle(i)`.
    pub fn assemble(&self, handle: &dyn Fn(usize) -> u64) -> Result<Vec<u8>, String> {
        assemble(&self.lines, &self.maps, handle)
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/verifier/corpus")
}

/// Every case, sorted by name.
pub fn load_all() -> Vec<Case> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("corpus directory")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "s"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| parse_case(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect()
}

/// The map type whose [`MapType::name`] is `name`.
fn map_type(name: &str) -> Option<MapType> {
    [
        MapType::Hash,
        MapType::Array,
        MapType::PerfEventArray,
        MapType::PercpuHash,
        MapType::PercpuArray,
        MapType::LruHash,
    ]
    .into_iter()
    .find(|kind| kind.name() == name)
}

pub fn parse_case(path: &Path) -> Result<Case, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let mut verdict = None;
    let mut linux = Linux::Same;
    let mut context_name = "vcpu_run_exit";
    let mut maps = Vec::new();
    let mut lines = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let number = number + 1;
        let trimmed = line.trim();
        if let Some(header) = trimmed.strip_prefix(';') {
            let header = header.trim();
            if let Some(v) = header.strip_prefix("expect:") {
                let mut words = v.split_whitespace();
                verdict = Some(match (words.next(), words.next()) {
                    (Some("accept"), None) => Verdict::Accept,
                    (Some("reject"), Some(rule)) => Verdict::Reject(
                        Rule::from_id(rule)
                            .ok_or(format!("line {number}: unknown rule `{rule}`"))?,
                    ),
                    _ => return Err(format!("line {number}: bad expect line")),
                });
            } else if let Some(v) = header.strip_prefix("linux:") {
                let (what, reason) = v.split_once("--").unwrap_or((v, ""));
                let reason = reason.trim().to_string();
                linux = match what.trim() {
                    "same" => Linux::Same,
                    "accept" => Linux::Differs {
                        accepts: true,
                        reason,
                    },
                    "reject" => Linux::Differs {
                        accepts: false,
                        reason,
                    },
                    "skip" => Linux::Skip(reason),
                    other => return Err(format!("line {number}: bad linux line `{other}`")),
                };
                if !matches!(linux, Linux::Same) && v.split_once("--").is_none() {
                    return Err(format!(
                        "line {number}: a linux difference needs `-- reason`"
                    ));
                }
            } else if let Some(v) = header.strip_prefix("context:") {
                let v = v.trim();
                context_name = context::ALL
                    .iter()
                    .find(|(name, _, _)| *name == v)
                    .map(|(name, _, _)| *name)
                    .ok_or(format!("line {number}: unknown context `{v}`"))?;
            } else if let Some(v) = header.strip_prefix("map ") {
                let words: Vec<&str> = v.split_whitespace().collect();
                let [name, kind, rest @ ..] = words.as_slice() else {
                    return Err(format!(
                        "line {number}: map NAME TYPE key=K value=V entries=N"
                    ));
                };
                let field = |key: &str| -> Result<u32, String> {
                    rest.iter()
                        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
                        .ok_or(format!("line {number}: map needs {key}="))?
                        .parse()
                        .map_err(|_| format!("line {number}: bad {key}"))
                };
                maps.push(MapDecl {
                    name: name.to_string(),
                    spec: MapSpec {
                        map_type: map_type(kind)
                            .ok_or(format!("line {number}: map type {kind}"))?,
                        key_size: field("key")?,
                        value_size: field("value")?,
                        max_entries: field("entries")?,
                        flags: 0,
                    },
                });
            }
            continue;
        }
        let code = trimmed.split(';').next().unwrap_or("").trim();
        if !code.is_empty() {
            lines.push((number, code.to_string()));
        }
    }
    let context_size = context::ALL
        .iter()
        .find(|(name, _, _)| *name == context_name)
        .map(|(_, _, size)| *size)
        .expect("the header's context was checked when read; the default exists");
    Ok(Case {
        name: path.file_stem().unwrap().to_string_lossy().into_owned(),
        path: path.to_path_buf(),
        verdict: verdict.ok_or("no `; expect:` line")?,
        linux,
        context: context_name,
        context_size,
        maps,
        lines,
    })
}

fn parse_int(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let (negative, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let value = match digits.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => digits.parse::<u64>(),
    }
    .map_err(|_| format!("`{t}` is not a number"))?;
    Ok(if negative {
        (value as i64).wrapping_neg()
    } else {
        value as i64
    })
}

fn parse_reg(text: &str) -> Result<u8, String> {
    text.trim()
        .strip_prefix('r')
        .and_then(|n| n.parse::<u8>().ok())
        .filter(|&n| n <= 15)
        .ok_or(format!("`{}` is not a register", text.trim()))
}

/// `[rN+OFF]` → (N, OFF).
fn parse_mem(text: &str) -> Result<(u8, i16), String> {
    let inner = text
        .trim()
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or(format!("`{text}` is not [rN+OFF]"))?;
    let split = inner.find(['+', '-']).unwrap_or(inner.len());
    let reg = parse_reg(&inner[..split])?;
    let off = if split == inner.len() {
        0
    } else {
        parse_int(&inner[split..])?
    };
    Ok((
        reg,
        i16::try_from(off).map_err(|_| format!("offset {off} too large"))?,
    ))
}

fn size_bits(suffix: &str) -> Option<u8> {
    Some(match suffix {
        "w" => 0x00,
        "h" => 0x08,
        "b" => 0x10,
        "dw" => 0x18,
        _ => return None,
    })
}

/// Assembles `lines`; labels resolve to instruction indices, `map:NAME` to `handle(index)`.
fn assemble(
    lines: &[(usize, String)],
    maps: &[MapDecl],
    handle: &dyn Fn(usize) -> u64,
) -> Result<Vec<u8>, String> {
    // Pass 1: label positions (lddw takes two slots).
    let mut labels = HashMap::new();
    let mut position = 0usize;
    for (_, line) in lines {
        if let Some(label) = line.strip_suffix(':') {
            labels.insert(label.trim().to_string(), position);
        } else {
            position += if line.starts_with("lddw") { 2 } else { 1 };
        }
    }
    let mut out = Vec::new();
    let mut index = 0usize;
    for (number, line) in lines {
        if line.ends_with(':') {
            continue;
        }
        let err = |e: String| format!("line {number} `{line}`: {e}");
        let (mnemonic, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let operands: Vec<&str> = if rest.trim().is_empty() {
            Vec::new()
        } else {
            split_operands(rest)
        };
        let target = |text: &str| -> Result<i64, String> {
            let text = text.trim();
            if text.starts_with('+') || text.starts_with('-') {
                return parse_int(text);
            }
            let at = labels.get(text).ok_or(format!("unknown label `{text}`"))?;
            Ok(*at as i64 - index as i64 - 1)
        };
        let insns = encode(mnemonic, &operands, maps, handle, &target).map_err(err)?;
        index += insns.len();
        for insn in insns {
            out.extend_from_slice(&insn.to_bytes());
        }
    }
    Ok(out)
}

fn split_operands(text: &str) -> Vec<&str> {
    // Commas inside [..] do not occur, so a plain split works.
    text.split(',').map(str::trim).collect()
}

fn encode(
    mnemonic: &str,
    ops: &[&str],
    maps: &[MapDecl],
    handle: &dyn Fn(usize) -> u64,
    target: &dyn Fn(&str) -> Result<i64, String>,
) -> Result<Vec<Insn>, String> {
    let want = |n: usize| {
        if ops.len() == n {
            Ok(())
        } else {
            Err(format!("expects {n} operands, has {}", ops.len()))
        }
    };
    let off16 = |v: i64| i16::try_from(v).map_err(|_| format!("offset {v} does not fit 16 bits"));
    let imm32 = |text: &str| -> Result<i32, String> {
        let v = parse_int(text)?;
        if v < i64::from(i32::MIN) || v > i64::from(u32::MAX) {
            return Err(format!("{v} does not fit 32 bits"));
        }
        Ok(v as i32)
    };
    let one = |insn: Insn| Ok(vec![insn]);
    match mnemonic {
        "exit" => {
            want(0)?;
            one(Insn::new(0x95, 0, 0, 0, 0))
        }
        "lddw" => {
            want(2)?;
            let dst = parse_reg(ops[0])?;
            let (src, value) = match ops[1].strip_prefix("map:") {
                Some(raw) if raw.starts_with('#') => (1, parse_int(&raw[1..])? as u64),
                Some(name) => {
                    let i = maps
                        .iter()
                        .position(|m| m.name == name)
                        .ok_or(format!("unknown map `{name}`"))?;
                    (1, handle(i))
                }
                None => (0, parse_int(ops[1])? as u64),
            };
            Ok(vec![
                Insn::new(0x18, dst, src, 0, value as u32 as i32),
                Insn::new(0, 0, 0, 0, (value >> 32) as u32 as i32),
            ])
        }
        "call" => {
            want(1)?;
            let name = ops[0];
            if let Some(id) = proto::helper_id(name) {
                return one(Insn::new(0x85, 0, 0, 0, id as i32));
            }
            if let Ok(id) = parse_int(name) {
                return one(Insn::new(0x85, 0, 0, 0, id as i32));
            }
            let relative = match name.strip_prefix("pc") {
                Some(rel) => parse_int(rel)?,
                None => target(name)?,
            };
            one(Insn::new(0x85, 0, 1, 0, relative as i32))
        }
        ".insn" => {
            want(5)?;
            one(Insn::new(
                parse_int(ops[0])? as u8,
                parse_reg(ops[1])?,
                parse_reg(ops[2])?,
                off16(parse_int(ops[3])?)?,
                imm32(ops[4])?,
            ))
        }
        _ => {
            if let Some(suffix) = mnemonic.strip_prefix("ldxs")
                && let Some(size) = size_bits(suffix)
            {
                want(2)?;
                let (src, off) = parse_mem(ops[1])?;
                return one(Insn::new(0x81 | size, parse_reg(ops[0])?, src, off, 0));
            }
            if let Some(rest) = mnemonic.strip_prefix("atomic_") {
                want(2)?;
                let (name, size) = if let Some(name) = rest.strip_suffix("64") {
                    (name, 0x18)
                } else if let Some(name) = rest.strip_suffix("32") {
                    (name, 0x00)
                } else {
                    return Err(format!("`{mnemonic}`: atomic_NAME32 or atomic_NAME64"));
                };
                let imm = [
                    ("add", 0x00),
                    ("or", 0x40),
                    ("and", 0x50),
                    ("xor", 0xa0),
                    ("fetch_add", 0x01),
                    ("fetch_or", 0x41),
                    ("fetch_and", 0x51),
                    ("fetch_xor", 0xa1),
                    ("xchg", 0xe1),
                    ("cmpxchg", 0xf1),
                ]
                .iter()
                .find(|(n, _)| *n == name)
                .ok_or(format!("unknown atomic operation `{name}`"))?
                .1;
                let (dst, off) = parse_mem(ops[0])?;
                return one(Insn::new(0xc3 | size, dst, parse_reg(ops[1])?, off, imm));
            }
            if let Some(width) = mnemonic.strip_prefix("movsx") {
                want(3)?;
                let class = match width {
                    "64" => 0x07u8,
                    "32" => 0x04,
                    _ => return Err(format!("`{mnemonic}`: movsx32 or movsx64")),
                };
                let off = off16(parse_int(ops[2])?)?;
                return one(Insn::new(
                    class | 0xb8,
                    parse_reg(ops[0])?,
                    parse_reg(ops[1])?,
                    off,
                    0,
                ));
            }
            if let Some(width) = mnemonic.strip_prefix("bswap")
                && let Ok(width) = width.parse::<i32>()
            {
                want(1)?;
                return one(Insn::new(0xd7, parse_reg(ops[0])?, 0, 0, width));
            }
            if let Some(rest) = mnemonic.strip_prefix('s')
                && (rest.starts_with("div") || rest.starts_with("mod"))
            {
                want(2)?;
                let op = if rest.starts_with("div") { 0x30 } else { 0x90 };
                let class = match &rest[3..] {
                    "64" => 0x07u8,
                    "32" => 0x04,
                    _ => return Err(format!("`{mnemonic}`: sdiv/smod 32 or 64")),
                };
                let dst = parse_reg(ops[0])?;
                return match parse_reg(ops[1]) {
                    Ok(src) => one(Insn::new(class | op | 0x08, dst, src, 1, 0)),
                    Err(_) => one(Insn::new(class | op, dst, 0, 1, imm32(ops[1])?)),
                };
            }
            if let Some(suffix) = mnemonic.strip_prefix("ldx") {
                want(2)?;
                let size = size_bits(suffix).ok_or("bad size")?;
                let (src, off) = parse_mem(ops[1])?;
                return one(Insn::new(0x61 | size, parse_reg(ops[0])?, src, off, 0));
            }
            if let Some(suffix) = mnemonic.strip_prefix("stx") {
                want(2)?;
                let size = size_bits(suffix).ok_or("bad size")?;
                let (dst, off) = parse_mem(ops[0])?;
                return one(Insn::new(0x63 | size, dst, parse_reg(ops[1])?, off, 0));
            }
            if let Some(suffix) = mnemonic.strip_prefix("st")
                && let Some(size) = size_bits(suffix)
            {
                want(2)?;
                let (dst, off) = parse_mem(ops[0])?;
                return one(Insn::new(0x62 | size, dst, 0, off, imm32(ops[1])?));
            }
            for (prefix, class) in [("le", 0x04u8), ("be", 0x0c)] {
                if let Some(width) = mnemonic.strip_prefix(prefix)
                    && let Ok(width) = width.parse::<i32>()
                {
                    want(1)?;
                    return one(Insn::new(0xd0 | class, parse_reg(ops[0])?, 0, 0, width));
                }
            }
            // ALU: {op}{64|32}
            for (width, class) in [("64", 0x07u8), ("32", 0x04)] {
                let Some(name) = mnemonic.strip_suffix(width) else {
                    continue;
                };
                let Some(op) = ALU_NAMES.iter().position(|n| *n == name) else {
                    continue;
                };
                let op = (op as u8) << 4;
                let dst = parse_reg(ops.first().ok_or("missing dst")?)?;
                if name == "neg" {
                    want(1)?;
                    return one(Insn::new(class | op, dst, 0, 0, 0));
                }
                want(2)?;
                return match parse_reg(ops[1]) {
                    Ok(src) => one(Insn::new(class | op | 0x08, dst, src, 0, 0)),
                    Err(_) => one(Insn::new(class | op, dst, 0, 0, imm32(ops[1])?)),
                };
            }
            // Jumps: ja, j{op}[32]
            let (name, class) = match mnemonic.strip_suffix("32") {
                Some(name) => (name, 0x06u8),
                None => (mnemonic, 0x05),
            };
            let Some(op) = JMP_NAMES.iter().position(|n| *n == name) else {
                return Err(format!("unknown mnemonic `{mnemonic}`"));
            };
            let op = (op as u8) << 4;
            if name == "ja" && class == 0x06 {
                want(1)?;
                let imm = i32::try_from(target(ops[0])?).map_err(|_| "target too far")?;
                return one(Insn::new(0x06, 0, 0, 0, imm));
            }
            if name == "ja" {
                want(1)?;
                return one(Insn::new(class | op, 0, 0, off16(target(ops[0])?)?, 0));
            }
            want(3)?;
            let dst = parse_reg(ops[0])?;
            let off = off16(target(ops[2])?)?;
            match parse_reg(ops[1]) {
                Ok(src) => one(Insn::new(class | op | 0x08, dst, src, off, 0)),
                Err(_) => one(Insn::new(class | op, dst, 0, off, imm32(ops[1])?)),
            }
        }
    }
}
