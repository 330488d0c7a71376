//! An assembler for the eBPF syntax of the bpf_conformance suite's test cases (the uBPF
//! assembler's dialect), written from the instruction set's definition (RFC 9669).
//!
//! One instruction per line: `mnemonic operand, operand, …`. Registers are `%r0`…`%r10` (the
//! `%` is optional), memory operands `[%rN]`, `[%rN+OFF]` or `[%rN-OFF]`, immediates decimal
//! (signed) or hexadecimal (`0x…`, the raw bits; a leading `-` negates). Jump targets are a
//! label (`name:` on a line of its own or before an instruction) or a relative offset
//! `+N`/`-N` in instructions; the name `exit`, when no label has it, means the first `exit`
//! instruction (the suite's convention). Comments start with `#`, `;` or `//`.
//!
//! Mnemonics: the ALU operations (`add sub mul div sdiv mod smod or and lsh rsh arsh neg xor
//! mov`, 64-bit, or 32-bit with the suffix `32`; `add64` etc. are accepted), `movsx8/16/32`
//! (64-bit; also spelt `movsx864/1664/3264`) and `movsx832/1632` (32-bit), `le16/32/64`,
//! `be16/32/64`, `bswap16/32/64` (= `swap16/32/64`), `lddw`, `ldx{b,h,w,dw}`, `ldxs{b,h,w}`,
//! `st{b,h,w,dw}`, `stx{b,h,w,dw}`, `lock [fetch] OP[32] [%rD+OFF], %rS` with OP one of `add
//! and or xor xchg cmpxchg` (also `fetch_add` etc.), `ja`, `ja32`/`gotol`, the conditional
//! jumps `jeq jgt jge jlt jle jset jne jsgt jsge jslt jsle` (and their `32` forms) with an
//! immediate or register, `call N` (helper), `call local TARGET` / `call TARGET` (BPF-to-BPF),
//! `call %rN` / `callx %rN` (by register; the register goes in dst, as the suite and Linux
//! encode it) and `exit`.
//!
//! Encoding (RFC 9669): byte 0 the opcode, byte 1 `src << 4 | dst`, bytes 2–3 the offset
//! (i16 LE), bytes 4–7 the immediate (i32 LE); `lddw` takes two slots, the second holding the
//! upper 32 bits of the immediate in its imm field.

use std::collections::HashMap;
use std::fmt;

/// Instruction classes (the low three bits of the opcode).
const CLASS_LD: u8 = 0x00;
const CLASS_LDX: u8 = 0x01;
const CLASS_ST: u8 = 0x02;
const CLASS_STX: u8 = 0x03;
const CLASS_ALU: u8 = 0x04;
const CLASS_JMP: u8 = 0x05;
const CLASS_JMP32: u8 = 0x06;
const CLASS_ALU64: u8 = 0x07;

/// Source bit of ALU and jump opcodes: immediate (K) or register (X).
const SRC_K: u8 = 0x00;
const SRC_X: u8 = 0x08;

/// Load/store modes and sizes.
const MODE_IMM: u8 = 0x00;
const MODE_MEM: u8 = 0x60;
const MODE_MEMSX: u8 = 0x80;
const MODE_ATOMIC: u8 = 0xc0;
const SIZE_W: u8 = 0x00;
const SIZE_H: u8 = 0x08;
const SIZE_B: u8 = 0x10;
const SIZE_DW: u8 = 0x18;

/// ALU operation codes (the high four bits).
const ALU_MOV: u8 = 0xb0;
const ALU_END: u8 = 0xd0;
/// Jump operation codes.
const JMP_JA: u8 = 0x00;
const JMP_CALL: u8 = 0x80;
const JMP_EXIT: u8 = 0x90;

/// Atomic operations (the immediate of an atomic instruction).
const ATOMIC_FETCH: i32 = 0x01;
const ATOMIC_XCHG: i32 = 0xe0 | ATOMIC_FETCH;
const ATOMIC_CMPXCHG: i32 = 0xf0 | ATOMIC_FETCH;

/// `call` kinds (the src field).
const CALL_HELPER: u8 = 0;
const CALL_LOCAL: u8 = 1;

/// The opcode of `lddw` (the only two-slot instruction).
pub(crate) const OP_LDDW: u8 = CLASS_LD | MODE_IMM | SIZE_DW;

/// One instruction slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Insn {
    pub opcode: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    /// The slot's eight bytes.
    pub(crate) fn to_bytes(self) -> [u8; 8] {
        let mut bytes = [0; 8];
        bytes[0] = self.opcode;
        bytes[1] = (self.src << 4) | (self.dst & 0x0f);
        bytes[2..4].copy_from_slice(&self.off.to_le_bytes());
        bytes[4..8].copy_from_slice(&self.imm.to_le_bytes());
        bytes
    }

    /// The slot as the little-endian 64-bit word the suite's `-- raw` sections write.
    pub(crate) fn to_word(self) -> u64 {
        u64::from_le_bytes(self.to_bytes())
    }

    fn class(self) -> u8 {
        self.opcode & 0x07
    }
}

/// The bytes of a program.
pub(crate) fn to_bytes(program: &[Insn]) -> Vec<u8> {
    program.iter().flat_map(|insn| insn.to_bytes()).collect()
}

/// An assembly error: the file, the line (1-based, in the file) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AsmError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for AsmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for AsmError {}

/// A jump or call whose target is a label, fixed up once every label is known.
struct Fixup {
    slot: usize,
    label: String,
    line: usize,
    /// The target goes in the imm field (`ja32`, `call`), else in the offset.
    in_imm: bool,
}

/// Assembles `source`. `file` names the source in errors, and `first_line` is the line number
/// (1-based) of the source's first line in that file.
pub(crate) fn assemble(source: &str, file: &str, first_line: usize) -> Result<Vec<Insn>, AsmError> {
    let error = |line: usize, message: String| AsmError {
        file: file.to_string(),
        line,
        message,
    };
    let mut program: Vec<Insn> = Vec::new();
    let mut labels: HashMap<String, (usize, usize)> = HashMap::new();
    let mut first_exit: Option<usize> = None;
    let mut fixups: Vec<Fixup> = Vec::new();
    for (index, raw_line) in source.lines().enumerate() {
        let line = first_line + index;
        let mut text = strip_comment(raw_line).trim();
        // Labels: `name:` alone or in front of an instruction.
        while let Some((head, rest)) = text.split_once(':') {
            let name = head.trim();
            if !is_label(name) {
                break;
            }
            if let Some((_, previous)) = labels.insert(name.to_string(), (program.len(), line)) {
                return Err(error(
                    line,
                    format!("label `{name}` already defined on line {previous}"),
                ));
            }
            text = rest.trim();
        }
        if text.is_empty() {
            continue;
        }
        let tokens = tokenize(text).map_err(|message| error(line, message))?;
        let slot = program.len();
        let parsed = encode(&tokens).map_err(|message| error(line, message))?;
        if let Some((label, in_imm)) = parsed.target {
            fixups.push(Fixup {
                slot,
                label,
                line,
                in_imm,
            });
        }
        if parsed.insns[0].opcode == (CLASS_JMP | JMP_EXIT) && first_exit.is_none() {
            first_exit = Some(slot);
        }
        program.extend(parsed.insns);
    }
    for fixup in fixups {
        let target = match labels.get(&fixup.label) {
            Some(&(target, _)) => target,
            None if fixup.label == "exit" && first_exit.is_some() => first_exit.unwrap_or(0),
            None => {
                return Err(error(
                    fixup.line,
                    format!("unknown label `{}`", fixup.label),
                ));
            }
        };
        let relative = target as i64 - fixup.slot as i64 - 1;
        let insn = &mut program[fixup.slot];
        if fixup.in_imm {
            insn.imm = i32::try_from(relative)
                .map_err(|_| error(fixup.line, format!("`{}` is out of range", fixup.label)))?;
        } else {
            insn.off = i16::try_from(relative).map_err(|_| {
                error(
                    fixup.line,
                    format!(
                        "`{}` is {relative} instructions away, beyond a 16-bit offset",
                        fixup.label
                    ),
                )
            })?;
        }
    }
    Ok(program)
}

/// The line without its comment (`#`, `;` or `//` to the end of the line).
fn strip_comment(line: &str) -> &str {
    let end = [line.find('#'), line.find(';'), line.find("//")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(line.len());
    &line[..end]
}

fn is_label(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '.')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// Splits an instruction into its words: whitespace and commas separate them, and a bracketed
/// memory operand is one word (spaces inside it dropped).
fn tokenize(text: &str) -> Result<Vec<String>, String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut in_brackets = false;
    for c in text.chars() {
        match c {
            '[' if !in_brackets => {
                in_brackets = true;
                current.push(c);
            }
            ']' if in_brackets => {
                in_brackets = false;
                current.push(c);
            }
            c if in_brackets && c.is_whitespace() => {}
            c if !in_brackets && (c.is_whitespace() || c == ',') => {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if in_brackets {
        return Err(format!("unclosed `[` in `{text}`"));
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    Ok(tokens)
}

/// One source instruction's slots and, if its target is a label, the label and where it goes.
struct Encoded {
    insns: Vec<Insn>,
    target: Option<(String, bool)>,
}

impl Encoded {
    fn one(insn: Insn) -> Self {
        Encoded {
            insns: vec![insn],
            target: None,
        }
    }
}

/// A register operand: `%rN` or `rN`, N in 0..=10.
fn register(operand: &str) -> Result<u8, String> {
    let digits = operand
        .strip_prefix("%r")
        .or_else(|| operand.strip_prefix('r'))
        .ok_or_else(|| format!("`{operand}` is not a register (%r0…%r10)"))?;
    match digits.parse::<u8>() {
        Ok(n) if n <= 10 && !digits.starts_with('+') => Ok(n),
        _ => Err(format!("`{operand}` is not a register (%r0…%r10)")),
    }
}

fn is_register(operand: &str) -> bool {
    operand.starts_with('%') || register(operand).is_ok()
}

/// A number: decimal, or `0x` hexadecimal; an optional sign. Returned with its sign applied as
/// an i128 so each caller checks its own range.
fn number(operand: &str) -> Option<i128> {
    let (negative, digits) = match operand.as_bytes().first() {
        Some(b'-') => (true, &operand[1..]),
        Some(b'+') => (false, &operand[1..]),
        _ => (false, operand),
    };
    let magnitude = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        u64::from_str_radix(hex, 16).ok()?
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse::<u64>().ok()?
    } else {
        return None;
    };
    let value = i128::from(magnitude);
    Some(if negative { -value } else { value })
}

fn is_hex(operand: &str) -> bool {
    let digits = operand.trim_start_matches(['-', '+']);
    digits.starts_with("0x") || digits.starts_with("0X")
}

/// A 32-bit immediate: signed decimal in i32's range, or hexadecimal bits up to 0xffffffff.
fn imm32(operand: &str) -> Result<i32, String> {
    let value = number(operand).ok_or_else(|| format!("`{operand}` is not a number"))?;
    if let Ok(value) = i32::try_from(value) {
        return Ok(value);
    }
    if is_hex(operand)
        && let Ok(bits) = u32::try_from(value)
    {
        return Ok(bits as i32);
    }
    Err(format!("immediate `{operand}` does not fit in 32 bits"))
}

/// A 64-bit immediate (`lddw`): signed decimal in i64's range or any u64.
fn imm64(operand: &str) -> Result<u64, String> {
    let value = number(operand).ok_or_else(|| format!("`{operand}` is not a number"))?;
    if let Ok(value) = i64::try_from(value) {
        return Ok(value as u64);
    }
    u64::try_from(value).map_err(|_| format!("immediate `{operand}` does not fit in 64 bits"))
}

/// A 16-bit offset: signed decimal in i16's range, or hexadecimal bits up to 0xffff.
fn offset16(operand: &str) -> Result<i16, String> {
    let value = number(operand).ok_or_else(|| format!("`{operand}` is not an offset"))?;
    if let Ok(value) = i16::try_from(value) {
        return Ok(value);
    }
    if is_hex(operand)
        && let Ok(bits) = u16::try_from(value)
    {
        return Ok(bits as i16);
    }
    Err(format!("offset `{operand}` does not fit in 16 bits"))
}

/// A memory operand `[%rN]`, `[%rN+OFF]`, `[%rN-OFF]`: the register and the offset.
fn memory(operand: &str) -> Result<(u8, i16), String> {
    let inner = operand
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .ok_or_else(|| format!("`{operand}` is not a memory operand ([%rN+OFF])"))?;
    match inner.find(['+', '-']) {
        Some(at) => Ok((register(&inner[..at])?, offset16(&inner[at..])?)),
        None => Ok((register(inner)?, 0)),
    }
}

/// A jump target: `+N`/`-N` (instructions), or a label resolved later.
enum Target {
    Relative(i64),
    Label(String),
}

fn target(operand: &str) -> Result<Target, String> {
    if operand.starts_with(['+', '-']) {
        let value = number(operand).ok_or_else(|| format!("`{operand}` is not a jump offset"))?;
        return i64::try_from(value)
            .map(Target::Relative)
            .map_err(|_| format!("jump offset `{operand}` is out of range"));
    }
    if is_label(operand) {
        return Ok(Target::Label(operand.to_string()));
    }
    Err(format!(
        "`{operand}` is not a jump target (a label or +N/-N)"
    ))
}

/// Sets `insn`'s offset (or imm) to `operand`'s target; returns the label to fix up, if any.
fn set_target(
    insn: &mut Insn,
    operand: &str,
    in_imm: bool,
) -> Result<Option<(String, bool)>, String> {
    match target(operand)? {
        Target::Relative(value) => {
            if in_imm {
                insn.imm = i32::try_from(value)
                    .map_err(|_| format!("jump offset `{operand}` does not fit in 32 bits"))?;
            } else {
                insn.off = i16::try_from(value)
                    .map_err(|_| format!("jump offset `{operand}` does not fit in 16 bits"))?;
            }
            Ok(None)
        }
        Target::Label(label) => Ok(Some((label, in_imm))),
    }
}

fn expect_operands(mnemonic: &str, operands: &[String], count: usize) -> Result<(), String> {
    if operands.len() != count {
        return Err(format!(
            "`{mnemonic}` takes {count} operand(s), found {}",
            operands.len()
        ));
    }
    Ok(())
}

/// The ALU operation code of a base mnemonic, and the offset that selects the signed variant.
fn alu_operation(name: &str) -> Option<(u8, i16)> {
    Some(match name {
        "add" => (0x00, 0),
        "sub" => (0x10, 0),
        "mul" => (0x20, 0),
        "div" => (0x30, 0),
        "sdiv" => (0x30, 1),
        "or" => (0x40, 0),
        "and" => (0x50, 0),
        "lsh" => (0x60, 0),
        "rsh" => (0x70, 0),
        "neg" => (0x80, 0),
        "mod" => (0x90, 0),
        "smod" => (0x90, 1),
        "xor" => (0xa0, 0),
        "mov" => (ALU_MOV, 0),
        "arsh" => (0xc0, 0),
        _ => return None,
    })
}

/// The jump operation code of a conditional jump's base mnemonic.
fn jump_operation(name: &str) -> Option<u8> {
    Some(match name {
        "jeq" => 0x10,
        "jgt" => 0x20,
        "jge" => 0x30,
        "jset" => 0x40,
        "jne" => 0x50,
        "jsgt" => 0x60,
        "jsge" => 0x70,
        "jlt" => 0xa0,
        "jle" => 0xb0,
        "jslt" => 0xc0,
        "jsle" => 0xd0,
        _ => return None,
    })
}

/// Splits a mnemonic's width suffix: `add32` → (`add`, 32-bit), `add64`/`add` → 64-bit.
fn width(mnemonic: &str) -> (&str, bool) {
    if let Some(base) = mnemonic.strip_suffix("32") {
        (base, true)
    } else if let Some(base) = mnemonic.strip_suffix("64") {
        (base, false)
    } else {
        (mnemonic, false)
    }
}

fn size_of(suffix: &str) -> Option<u8> {
    Some(match suffix {
        "b" => SIZE_B,
        "h" => SIZE_H,
        "w" => SIZE_W,
        "dw" => SIZE_DW,
        _ => return None,
    })
}

fn encode(tokens: &[String]) -> Result<Encoded, String> {
    let (mnemonic, operands) = tokens.split_first().ok_or("empty instruction")?;
    let mnemonic = mnemonic.as_str();
    let ops = operands;
    match mnemonic {
        "exit" => {
            expect_operands(mnemonic, ops, 0)?;
            Ok(Encoded::one(Insn {
                opcode: CLASS_JMP | JMP_EXIT,
                ..Insn::default()
            }))
        }
        "ja" | "ja32" | "gotol" => {
            expect_operands(mnemonic, ops, 1)?;
            let long = mnemonic != "ja";
            let mut insn = Insn {
                opcode: if long { CLASS_JMP32 } else { CLASS_JMP } | JMP_JA,
                ..Insn::default()
            };
            let target = set_target(&mut insn, &ops[0], long)?;
            Ok(Encoded {
                insns: vec![insn],
                target,
            })
        }
        "call" | "callx" => encode_call(mnemonic, ops),
        "lddw" => {
            expect_operands(mnemonic, ops, 2)?;
            let value = imm64(&ops[1])?;
            Ok(Encoded {
                insns: vec![
                    Insn {
                        opcode: OP_LDDW,
                        dst: register(&ops[0])?,
                        imm: value as u32 as i32,
                        ..Insn::default()
                    },
                    Insn {
                        imm: (value >> 32) as u32 as i32,
                        ..Insn::default()
                    },
                ],
                target: None,
            })
        }
        "lock" => encode_atomic(ops),
        _ => {
            if let Some(encoded) = encode_load_store(mnemonic, ops)? {
                return Ok(encoded);
            }
            if let Some(encoded) = encode_alu(mnemonic, ops)? {
                return Ok(encoded);
            }
            let (base, is32) = width(mnemonic);
            if let Some(operation) = jump_operation(base) {
                expect_operands(mnemonic, ops, 3)?;
                let mut insn = Insn {
                    opcode: if is32 { CLASS_JMP32 } else { CLASS_JMP } | operation,
                    dst: register(&ops[0])?,
                    ..Insn::default()
                };
                if is_register(&ops[1]) {
                    insn.opcode |= SRC_X;
                    insn.src = register(&ops[1])?;
                } else {
                    insn.imm = imm32(&ops[1])?;
                }
                let target = set_target(&mut insn, &ops[2], false)?;
                return Ok(Encoded {
                    insns: vec![insn],
                    target,
                });
            }
            Err(format!("unknown mnemonic `{mnemonic}`"))
        }
    }
}

/// `call N` / `call helper N` (helper), `call local T` / `call T` (BPF-to-BPF, T a label or
/// +N/-N), `call %rN` / `callx %rN` (by register).
fn encode_call(mnemonic: &str, ops: &[String]) -> Result<Encoded, String> {
    let mut insn = Insn {
        opcode: CLASS_JMP | JMP_CALL,
        ..Insn::default()
    };
    let (kind, operand) = match ops {
        [operand] => (None, operand.as_str()),
        [kind, operand] if mnemonic == "call" => (Some(kind.as_str()), operand.as_str()),
        _ => return Err(format!("`{mnemonic}` takes 1 operand, found {}", ops.len())),
    };
    if mnemonic == "callx" || (kind.is_none() && is_register(operand)) {
        insn.opcode |= SRC_X;
        insn.dst = register(operand)?;
        return Ok(Encoded::one(insn));
    }
    let helper = match kind {
        Some("helper") => true,
        Some("local") => false,
        None => number(operand).is_some() && !operand.starts_with(['+', '-']),
        Some(other) => return Err(format!("unknown call kind `{other}` (helper or local)")),
    };
    if helper {
        insn.src = CALL_HELPER;
        insn.imm = imm32(operand)?;
        return Ok(Encoded::one(insn));
    }
    insn.src = CALL_LOCAL;
    let target = set_target(&mut insn, operand, true)?;
    Ok(Encoded {
        insns: vec![insn],
        target,
    })
}

/// `ldx*`, `ldxs*`, `st*`, `stx*`; `None` when `mnemonic` is none of them.
fn encode_load_store(mnemonic: &str, ops: &[String]) -> Result<Option<Encoded>, String> {
    let (class, mode, suffix) = if let Some(suffix) = mnemonic.strip_prefix("ldxs") {
        (CLASS_LDX, MODE_MEMSX, suffix)
    } else if let Some(suffix) = mnemonic.strip_prefix("ldx") {
        (CLASS_LDX, MODE_MEM, suffix)
    } else if let Some(suffix) = mnemonic.strip_prefix("stx") {
        (CLASS_STX, MODE_MEM, suffix)
    } else if let Some(suffix) = mnemonic.strip_prefix("st") {
        (CLASS_ST, MODE_MEM, suffix)
    } else {
        return Ok(None);
    };
    let Some(size) = size_of(suffix) else {
        return Ok(None);
    };
    if mode == MODE_MEMSX && size == SIZE_DW {
        return Err("`ldxsdw` does not exist (a 64-bit load has nothing to extend)".into());
    }
    expect_operands(mnemonic, ops, 2)?;
    let mut insn = Insn {
        opcode: class | mode | size,
        ..Insn::default()
    };
    match class {
        CLASS_LDX => {
            insn.dst = register(&ops[0])?;
            (insn.src, insn.off) = memory(&ops[1])?;
        }
        CLASS_STX => {
            (insn.dst, insn.off) = memory(&ops[0])?;
            insn.src = register(&ops[1])?;
        }
        _ => {
            (insn.dst, insn.off) = memory(&ops[0])?;
            insn.imm = imm32(&ops[1])?;
        }
    }
    Ok(Some(Encoded::one(insn)))
}

/// The ALU mnemonics, byte swaps and `movsx`; `None` when `mnemonic` is none of them.
fn encode_alu(mnemonic: &str, ops: &[String]) -> Result<Option<Encoded>, String> {
    // Byte swaps: `le16` (to little endian), `be16` (to big endian), `bswap16` (unconditional).
    for (prefix, opcode) in [
        ("le", CLASS_ALU | ALU_END | SRC_K),
        ("be", CLASS_ALU | ALU_END | SRC_X),
        ("bswap", CLASS_ALU64 | ALU_END),
        ("swap", CLASS_ALU64 | ALU_END),
    ] {
        if let Some(bits) = mnemonic.strip_prefix(prefix)
            && matches!(bits, "16" | "32" | "64")
        {
            expect_operands(mnemonic, ops, 1)?;
            return Ok(Some(Encoded::one(Insn {
                opcode,
                dst: register(&ops[0])?,
                imm: bits.parse().unwrap_or_default(),
                ..Insn::default()
            })));
        }
    }
    // Sign-extending moves: movsx{8,16,32} and movsx{8,16,32}64 into 64 bits, movsx{8,16}32
    // into 32 bits.
    if let Some(spec) = mnemonic.strip_prefix("movsx") {
        let (from, is32) = match spec {
            "8" | "864" => (8, false),
            "16" | "1664" => (16, false),
            "32" | "3264" => (32, false),
            "832" => (8, true),
            "1632" => (16, true),
            _ => return Err(format!("unknown mnemonic `{mnemonic}`")),
        };
        expect_operands(mnemonic, ops, 2)?;
        if !is_register(&ops[1]) {
            return Err(format!("`{mnemonic}` takes a register source"));
        }
        return Ok(Some(Encoded::one(Insn {
            opcode: if is32 { CLASS_ALU } else { CLASS_ALU64 } | ALU_MOV | SRC_X,
            dst: register(&ops[0])?,
            src: register(&ops[1])?,
            off: from,
            imm: 0,
        })));
    }
    let (base, is32) = width(mnemonic);
    let Some((operation, off)) = alu_operation(base) else {
        return Ok(None);
    };
    let class = if is32 { CLASS_ALU } else { CLASS_ALU64 };
    let mut insn = Insn {
        opcode: class | operation,
        off,
        ..Insn::default()
    };
    if base == "neg" {
        expect_operands(mnemonic, ops, 1)?;
        insn.dst = register(&ops[0])?;
        return Ok(Some(Encoded::one(insn)));
    }
    expect_operands(mnemonic, ops, 2)?;
    insn.dst = register(&ops[0])?;
    if is_register(&ops[1]) {
        insn.opcode |= SRC_X;
        insn.src = register(&ops[1])?;
    } else {
        insn.imm = imm32(&ops[1])?;
    }
    Ok(Some(Encoded::one(insn)))
}

/// `lock [fetch] OP[32] [%rD+OFF], %rS` (OP: add and or xor xchg cmpxchg; `fetch_OP` also).
fn encode_atomic(ops: &[String]) -> Result<Encoded, String> {
    let (fetch, rest) = match ops.split_first() {
        Some((first, rest)) if first == "fetch" => (true, rest),
        _ => (false, ops),
    };
    let [operation, destination, source] = rest else {
        return Err("`lock` takes an operation, [%rD+OFF] and %rS".into());
    };
    let (operation, fetch) = match operation.strip_prefix("fetch_") {
        Some(base) => (base, true),
        None => (operation.as_str(), fetch),
    };
    let (base, is32) = width(operation);
    let imm = match base {
        "add" => 0x00,
        "or" => 0x40,
        "and" => 0x50,
        "xor" => 0xa0,
        "xchg" => ATOMIC_XCHG,
        "cmpxchg" => ATOMIC_CMPXCHG,
        _ => return Err(format!("unknown atomic operation `{operation}`")),
    } | if fetch { ATOMIC_FETCH } else { 0 };
    let (dst, off) = memory(destination)?;
    Ok(Encoded::one(Insn {
        opcode: CLASS_STX | MODE_ATOMIC | if is32 { SIZE_W } else { SIZE_DW },
        dst,
        src: register(source)?,
        off,
        imm,
    }))
}

/// Iterates over a program's instructions, skipping `lddw`'s second slot.
fn instructions(program: &[Insn]) -> impl Iterator<Item = Insn> + '_ {
    let mut skip = false;
    program.iter().copied().filter(move |insn| {
        if std::mem::take(&mut skip) {
            return false;
        }
        skip = insn.opcode == OP_LDDW;
        true
    })
}

/// The first ISA v4 instruction of `program` (RFC 9669's v4 additions: signed division and
/// modulo, sign-extending moves and loads, unconditional byte swap, the 32-bit-offset `ja`),
/// named; `None` for a v3 program.
pub(crate) fn v4_feature(program: &[Insn]) -> Option<&'static str> {
    instructions(program).find_map(|insn| {
        let class = insn.class();
        let operation = insn.opcode & 0xf0;
        match class {
            CLASS_ALU | CLASS_ALU64 if matches!(operation, 0x30 | 0x90) && insn.off != 0 => {
                Some(if operation == 0x30 { "sdiv" } else { "smod" })
            }
            CLASS_ALU | CLASS_ALU64 if operation == ALU_MOV && insn.off != 0 => Some("movsx"),
            CLASS_ALU64 if operation == ALU_END => Some("bswap"),
            CLASS_LDX if insn.opcode & 0xe0 == MODE_MEMSX => Some("ldxs"),
            CLASS_JMP32 if operation == JMP_JA => Some("ja32"),
            _ => None,
        }
    })
}

/// Whether `program` calls a helper or calls by register (neither is a BPF-to-BPF call).
pub(crate) fn calls_helper(program: &[Insn]) -> bool {
    instructions(program).any(|insn| {
        insn.opcode == (CLASS_JMP | JMP_CALL | SRC_X)
            || (insn.opcode == (CLASS_JMP | JMP_CALL) && insn.src != CALL_LOCAL)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asm(source: &str) -> Vec<Insn> {
        assemble(source, "test.s", 1).unwrap_or_else(|error| panic!("{error}"))
    }

    /// The bytes of a one-line program.
    fn bytes(line: &str) -> Vec<u8> {
        to_bytes(&asm(line))
    }

    fn error(source: &str) -> AsmError {
        assemble(source, "case.data", 10).expect_err("must not assemble")
    }

    #[test]
    fn alu_encodings() {
        // add64 r1, 5: opcode 0x07 (ALU64 | K | add), dst 1.
        assert_eq!(bytes("add %r1, 5"), [0x07, 0x01, 0, 0, 5, 0, 0, 0]);
        // add64 r1, r2: 0x0f (X), src 2 in the high nibble.
        assert_eq!(bytes("add %r1, %r2"), [0x0f, 0x21, 0, 0, 0, 0, 0, 0]);
        // add32 r3, -1: 0x04.
        assert_eq!(
            bytes("add32 %r3, -1"),
            [0x04, 0x03, 0, 0, 0xff, 0xff, 0xff, 0xff]
        );
        // Hex immediates are raw bits.
        assert_eq!(
            bytes("mov32 %r0, 0xffffffff"),
            [0xb4, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(bytes("mov %r9, %r10"), [0xbf, 0xa9, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes("sub %r4, 0x10"), [0x17, 0x04, 0, 0, 0x10, 0, 0, 0]);
        assert_eq!(bytes("mul32 %r1, %r1"), [0x2c, 0x11, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes("lsh %r2, 3"), [0x67, 0x02, 0, 0, 3, 0, 0, 0]);
        assert_eq!(bytes("rsh32 %r2, %r3"), [0x7c, 0x32, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes("arsh %r5, 1"), [0xc7, 0x05, 0, 0, 1, 0, 0, 0]);
        assert_eq!(bytes("or %r0, 2"), [0x47, 0, 0, 0, 2, 0, 0, 0]);
        assert_eq!(bytes("and32 %r0, 2"), [0x54, 0, 0, 0, 2, 0, 0, 0]);
        assert_eq!(bytes("xor %r6, %r7"), [0xaf, 0x76, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes("neg %r2"), [0x87, 0x02, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes("neg32 %r2"), [0x84, 0x02, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes("div %r1, 3"), [0x37, 0x01, 0, 0, 3, 0, 0, 0]);
        assert_eq!(bytes("mod32 %r1, %r2"), [0x9c, 0x21, 0, 0, 0, 0, 0, 0]);
        // Signed division and modulo: offset 1.
        assert_eq!(
            bytes("sdiv %r1, -3"),
            [0x37, 0x01, 1, 0, 0xfd, 0xff, 0xff, 0xff]
        );
        assert_eq!(bytes("smod32 %r1, %r2"), [0x9c, 0x21, 1, 0, 0, 0, 0, 0]);
        // r0 without the `%`, and the `64` suffix.
        assert_eq!(bytes("add64 r0, 1"), [0x07, 0, 0, 0, 1, 0, 0, 0]);
    }

    #[test]
    fn movsx_and_byte_swaps() {
        // movsx: mov | X with the source width in the offset.
        assert_eq!(bytes("movsx8 %r1, %r2"), [0xbf, 0x21, 8, 0, 0, 0, 0, 0]);
        assert_eq!(bytes("movsx1664 %r1, %r2"), [0xbf, 0x21, 16, 0, 0, 0, 0, 0]);
        assert_eq!(bytes("movsx32 %r3, %r4"), [0xbf, 0x43, 32, 0, 0, 0, 0, 0]);
        assert_eq!(bytes("movsx832 %r1, %r2"), [0xbc, 0x21, 8, 0, 0, 0, 0, 0]);
        assert_eq!(bytes("movsx1632 %r0, %r0"), [0xbc, 0, 16, 0, 0, 0, 0, 0]);
        // le: 0xd4, be: 0xdc, bswap: 0xd7; the width in imm.
        assert_eq!(bytes("le16 %r1"), [0xd4, 0x01, 0, 0, 16, 0, 0, 0]);
        assert_eq!(bytes("be32 %r1"), [0xdc, 0x01, 0, 0, 32, 0, 0, 0]);
        assert_eq!(bytes("be64 %r2"), [0xdc, 0x02, 0, 0, 64, 0, 0, 0]);
        assert_eq!(bytes("bswap64 %r0"), [0xd7, 0, 0, 0, 64, 0, 0, 0]);
        assert_eq!(bytes("swap16 %r0"), [0xd7, 0, 0, 0, 16, 0, 0, 0]);
    }

    #[test]
    fn loads_and_stores() {
        assert_eq!(bytes("ldxb %r2, [%r1+3]"), [0x71, 0x12, 3, 0, 0, 0, 0, 0]);
        assert_eq!(bytes("ldxh %r2, [%r1]"), [0x69, 0x12, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            bytes("ldxw %r0, [%r10-4]"),
            [0x61, 0xa0, 0xfc, 0xff, 0, 0, 0, 0]
        );
        assert_eq!(
            bytes("ldxdw %r0, [%r1+0x10]"),
            [0x79, 0x10, 0x10, 0, 0, 0, 0, 0]
        );
        assert_eq!(bytes("ldxsb %r0, [%r1+1]"), [0x91, 0x10, 1, 0, 0, 0, 0, 0]);
        assert_eq!(bytes("ldxsh %r0, [%r1]"), [0x89, 0x10, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes("ldxsw %r0, [%r1]"), [0x81, 0x10, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            bytes("stb [%r10-1], 0x7f"),
            [0x72, 0x0a, 0xff, 0xff, 0x7f, 0, 0, 0]
        );
        assert_eq!(
            bytes("sth [%r1+2], -2"),
            [0x6a, 0x01, 2, 0, 0xfe, 0xff, 0xff, 0xff]
        );
        assert_eq!(bytes("stw [%r1], 1"), [0x62, 0x01, 0, 0, 1, 0, 0, 0]);
        assert_eq!(bytes("stdw [%r1+8], 1"), [0x7a, 0x01, 8, 0, 1, 0, 0, 0]);
        assert_eq!(bytes("stxb [%r1+1], %r2"), [0x73, 0x21, 1, 0, 0, 0, 0, 0]);
        assert_eq!(bytes("stxh [%r1], %r2"), [0x6b, 0x21, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes("stxw [%r1], %r2"), [0x63, 0x21, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            bytes("stxdw [%r10-16], %r3"),
            [0x7b, 0x3a, 0xf0, 0xff, 0, 0, 0, 0]
        );
        // Spaces inside the brackets.
        assert_eq!(
            bytes("ldxb %r2, [ %r1 + 3 ]"),
            [0x71, 0x12, 3, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn atomics() {
        // STX | ATOMIC | DW = 0xdb, | W = 0xc3; the operation in imm.
        assert_eq!(
            bytes("lock add [%r10-8], %r1"),
            [0xdb, 0x1a, 0xf8, 0xff, 0, 0, 0, 0]
        );
        assert_eq!(
            bytes("lock add32 [%r1], %r2"),
            [0xc3, 0x21, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            bytes("lock or [%r1], %r2"),
            [0xdb, 0x21, 0, 0, 0x40, 0, 0, 0]
        );
        assert_eq!(
            bytes("lock and32 [%r1], %r2"),
            [0xc3, 0x21, 0, 0, 0x50, 0, 0, 0]
        );
        assert_eq!(
            bytes("lock xor [%r1], %r2"),
            [0xdb, 0x21, 0, 0, 0xa0, 0, 0, 0]
        );
        // fetch: bit 0, spelt as a word or a prefix.
        assert_eq!(
            bytes("lock fetch add [%r1+4], %r2"),
            [0xdb, 0x21, 4, 0, 0x01, 0, 0, 0]
        );
        assert_eq!(
            bytes("lock fetch_add [%r1+4], %r2"),
            [0xdb, 0x21, 4, 0, 0x01, 0, 0, 0]
        );
        assert_eq!(
            bytes("lock fetch xor32 [%r1], %r2"),
            [0xc3, 0x21, 0, 0, 0xa1, 0, 0, 0]
        );
        assert_eq!(
            bytes("lock xchg [%r1], %r2"),
            [0xdb, 0x21, 0, 0, 0xe1, 0, 0, 0]
        );
        assert_eq!(
            bytes("lock cmpxchg32 [%r1], %r2"),
            [0xc3, 0x21, 0, 0, 0xf1, 0, 0, 0]
        );
    }

    #[test]
    fn jumps_and_calls() {
        assert_eq!(bytes("ja +2"), [0x05, 0, 2, 0, 0, 0, 0, 0]);
        assert_eq!(bytes("ja32 -1"), [0x06, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(bytes("gotol +3"), [0x06, 0, 0, 0, 3, 0, 0, 0]);
        assert_eq!(bytes("jeq %r1, 7, +1"), [0x15, 0x01, 1, 0, 7, 0, 0, 0]);
        assert_eq!(
            bytes("jne %r1, %r2, -2"),
            [0x5d, 0x21, 0xfe, 0xff, 0, 0, 0, 0]
        );
        assert_eq!(
            bytes("jsgt32 %r3, -1, +4"),
            [0x66, 0x03, 4, 0, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(bytes("jle32 %r3, %r4, +0"), [0xbe, 0x43, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes("jset %r0, 1, +1"), [0x45, 0, 1, 0, 1, 0, 0, 0]);
        assert_eq!(bytes("jslt %r0, 0, +1"), [0xc5, 0, 1, 0, 0, 0, 0, 0]);
        assert_eq!(bytes("jsle %r0, %r1, +1"), [0xdd, 0x10, 1, 0, 0, 0, 0, 0]);
        assert_eq!(bytes("exit"), [0x95, 0, 0, 0, 0, 0, 0, 0]);
        // Helper 6: src 0, imm 6.
        assert_eq!(bytes("call 6"), [0x85, 0, 0, 0, 6, 0, 0, 0]);
        // Local call: src 1, imm the relative target.
        assert_eq!(bytes("call local +2"), [0x85, 0x10, 0, 0, 2, 0, 0, 0]);
        // By register: 0x8d, the register in dst.
        assert_eq!(bytes("callx %r3"), [0x8d, 0x03, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes("call %r3"), [0x8d, 0x03, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn labels_forward_and_backward() {
        let program = asm("\
            mov %r0, 0          # slot 0
            top:
            add %r0, 1          ; slot 1
            jlt %r0, 3, top     // slot 2: back to 1 → -2
            ja out              # slot 3: forward to 6 → +2
            lddw %r1, 1         # slots 4, 5
            out: exit           # slot 6
            ");
        assert_eq!(program.len(), 7);
        assert_eq!(program[2].off, -2);
        assert_eq!(program[2].opcode, 0xa5);
        assert_eq!(program[3].off, 2);
        let long = asm("ja32 end\nmov %r0, 1\nend:\nexit\n");
        assert_eq!(long[0].imm, 1);
        assert_eq!(long[0].off, 0);
        // A local call to a label: imm relative to the next slot.
        let call = asm("call local f\nexit\nf:\nmov %r0, 2\nexit\n");
        assert_eq!(call[0].imm, 1);
        assert_eq!(call[0].src, 1);
        let back = asm("f: mov %r0, 1\nexit\ncall f\n");
        assert_eq!(back[2].imm, -3);
        assert_eq!(back[2].src, 1);
    }

    #[test]
    fn exit_names_the_first_exit() {
        let program = asm("jeq %r1, 0, exit\nmov %r0, 1\nexit\nmov %r0, 2\nexit\n");
        assert_eq!(program[0].off, 1);
        // A label called `exit` wins.
        let labelled = asm("ja exit\nexit\nexit:\nexit\n");
        assert_eq!(labelled[0].off, 1);
    }

    #[test]
    fn lddw_takes_two_slots() {
        let program = asm("lddw %r2, 0x1122334455667788\nexit");
        assert_eq!(program.len(), 3);
        assert_eq!(
            to_bytes(&program[..2]),
            [
                0x18, 0x02, 0, 0, 0x88, 0x77, 0x66, 0x55, //
                0, 0, 0, 0, 0x44, 0x33, 0x22, 0x11,
            ]
        );
        // The suite's `-- raw` words: the slot as a little-endian u64.
        assert_eq!(program[0].to_word(), 0x5566_7788_0000_0218);
        // Negative decimal: all ones in both halves.
        let minus_one = asm("lddw %r0, -1");
        assert_eq!(minus_one[0].imm, -1);
        assert_eq!(minus_one[1].imm, -1);
        assert_eq!(minus_one[1].opcode, 0);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let unknown = error("mov %r0, 1\n\n# comment\nfrob %r0\nexit\n");
        assert_eq!(unknown.line, 13);
        assert_eq!(unknown.to_string(), "case.data:13: unknown mnemonic `frob`");
        assert!(
            error("mov %r11, 1")
                .message
                .contains("`%r11` is not a register")
        );
        assert_eq!(error("exit\nja nowhere").line, 11);
        assert!(
            error("exit\nja nowhere")
                .message
                .contains("unknown label `nowhere`")
        );
        assert!(error("add %r0, 0x100000000").message.contains("32 bits"));
        assert!(error("add %r0, 2147483648").message.contains("32 bits"));
        assert!(error("ldxb %r0, [%r1+40000]").message.contains("16 bits"));
        assert!(error("ldxb %r0, %r1").message.contains("memory operand"));
        assert!(error("mov %r0").message.contains("2 operand"));
        assert!(error("lock nand [%r1], %r2").message.contains("`nand`"));
        assert!(error("movsx8 %r0, 1").message.contains("register source"));
        assert!(
            error("a:\na:\nexit")
                .message
                .contains("already defined on line 10")
        );
    }

    #[test]
    fn classification() {
        assert_eq!(v4_feature(&asm("add %r0, 1\ndiv %r0, 2\nexit")), None);
        assert_eq!(v4_feature(&asm("sdiv32 %r0, 2\nexit")), Some("sdiv"));
        assert_eq!(v4_feature(&asm("smod %r0, 2\nexit")), Some("smod"));
        assert_eq!(v4_feature(&asm("movsx16 %r0, %r1\nexit")), Some("movsx"));
        assert_eq!(v4_feature(&asm("ldxsh %r0, [%r1]\nexit")), Some("ldxs"));
        assert_eq!(v4_feature(&asm("bswap32 %r0\nexit")), Some("bswap"));
        assert_eq!(v4_feature(&asm("be32 %r0\nexit")), None);
        assert_eq!(v4_feature(&asm("ja32 +0\nexit")), Some("ja32"));
        assert_eq!(v4_feature(&asm("lddw %r0, 0x3000000000\nexit")), None);
        assert!(calls_helper(&asm("call 1\nexit")));
        assert!(calls_helper(&asm("callx %r1\nexit")));
        assert!(!calls_helper(&asm("call local +1\nexit\nexit")));
    }
}
