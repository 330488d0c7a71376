//! Control-flow checks: instruction validity, jump targets, functions, loops, reachability —
//! and the order the interpretation visits instructions in.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::{MAX_INSNS, Rule, Target, VerifyError, disassemble_at};
use crate::insn::{Insn, class, op};

/// One function: the entry function or a BPF-to-BPF callee.
#[derive(Debug, Clone)]
pub struct Function {
    /// First instruction.
    pub start: usize,
    /// One past the last instruction.
    pub end: usize,
    /// Its instructions in reverse post-order (every jump goes forward but back-edges).
    pub order: Vec<usize>,
    /// Its loops: each back-edge as (head, source), the loop's first and last instruction.
    pub loops: Vec<(usize, usize)>,
}

/// The checked control-flow graph.
#[derive(Debug, Clone)]
pub struct Graph {
    /// Functions, by start; the entry function first.
    pub functions: Vec<Function>,
    /// Whether slot `i` starts an instruction (the second half of an `lddw` does not).
    pub starts: Vec<bool>,
    /// Whether slot `i` is the target of some jump (so it has more than one predecessor).
    pub jump_target: Vec<bool>,
    /// Whether the program has BPF-to-BPF calls.
    pub has_calls: bool,
}

impl Graph {
    /// The function starting at `start`.
    pub fn function_at(&self, start: usize) -> Option<usize> {
        self.functions.iter().position(|f| f.start == start)
    }
}

fn refuse(
    insns: &[Insn],
    index: usize,
    rule: Rule,
    message: String,
    target: &Target<'_>,
) -> VerifyError {
    VerifyError {
        index,
        insn: disassemble_at(insns, index, target),
        rule,
        message,
        log: String::new(),
    }
}

/// Splits `code` into instructions, checking its size.
pub fn decode(code: &[u8]) -> Result<Vec<Insn>, VerifyError> {
    let size = |message: String| VerifyError {
        index: 0,
        insn: String::from("-"),
        rule: Rule::Size,
        message,
        log: String::new(),
    };
    if code.is_empty() {
        return Err(size(String::from("the program is empty")));
    }
    if !code.len().is_multiple_of(8) {
        return Err(size(format!(
            "{} bytes is not a whole number of 8-byte instructions",
            code.len()
        )));
    }
    if code.len() / 8 > MAX_INSNS {
        return Err(size(format!(
            "{} instructions; the limit is {MAX_INSNS}",
            code.len() / 8
        )));
    }
    Ok((0..code.len() / 8)
        .filter_map(|i| Insn::decode(code, i))
        .collect())
}

/// Why `insn` is never run, whatever the program around it: what the verifier leaves out of
/// the ISA on purpose — legacy packet loads (`LD_ABS`/`LD_IND`, socket filters only), tail
/// calls, kfunc and other call pseudos (`src` > 1), and `lddw` pseudos the loader does not
/// resolve (only `src = 1`, a relocated map handle).
fn unsupported(insn: &Insn) -> Option<&'static str> {
    match insn.class() {
        class::LD if insn.opcode != op::LD_IMM64 => Some("legacy packet loads are not supported"),
        class::LD if insn.src > 1 => Some("lddw with this source (pseudo) is not supported"),
        _ if insn.opcode == op::TAIL_CALL => Some("tail calls are not supported"),
        _ if insn.opcode == op::CALL && insn.src > 1 => Some("kfunc calls are not supported"),
        _ => None,
    }
}

/// Atomic operations (`imm` of `STX|ATOMIC`): name, whether it writes the old value back.
pub fn atomic_op(imm: i32) -> Option<(&'static str, bool)> {
    Some(match imm {
        0x00 => ("add", false),
        0x40 => ("or", false),
        0x50 => ("and", false),
        0xa0 => ("xor", false),
        0x01 => ("fetch_add", true),
        0x41 => ("fetch_or", true),
        0x51 => ("fetch_and", true),
        0xa1 => ("fetch_xor", true),
        0xe1 => ("xchg", true),
        0xf1 => ("cmpxchg", true),
        _ => return None,
    })
}

/// `STX|ATOMIC` with `CMPXCHG`.
pub const CMPXCHG: i32 = 0xf1;

/// The relative target of a jump: `off`, or `imm` for the 32-bit `ja` (`gotol`, ISA v4).
pub fn jump_offset(insn: &Insn) -> i64 {
    if insn.opcode == op::JA32 {
        i64::from(insn.imm)
    } else {
        i64::from(insn.off)
    }
}

/// Why `insn` is not an instruction the verifier accepts, if it is not.
fn invalid(insn: &Insn) -> Option<&'static str> {
    let Insn {
        opcode,
        dst,
        src,
        off,
        imm,
    } = *insn;
    let operation = opcode & 0xf0;
    let reg_source = opcode & 0x08 != 0;
    if dst > 10 || src > 10 && !(opcode == op::LD_IMM64 || opcode == op::CALL) {
        return Some("register number above r10");
    }
    if let Some(reason) = unsupported(insn) {
        return Some(reason);
    }
    let is64 = insn.class() == class::ALU64;
    match insn.class() {
        class::ALU | class::ALU64 => {
            if operation > 0xd0 {
                return Some("unknown ALU operation");
            }
            if operation == 0xd0 {
                if is64 && reg_source {
                    return Some("unknown byte swap (ALU64|END|X)");
                }
                if !matches!(imm, 16 | 32 | 64) || src != 0 || off != 0 {
                    return Some("byte swap width must be 16, 32 or 64");
                }
                return None;
            }
            match (operation, off) {
                (_, 0) => {}
                // sdiv / smod (ISA v4)
                (0x30 | 0x90, 1) => {}
                // movsx (ISA v4): register source only; 32 only in ALU64
                (0xb0, 8 | 16) if reg_source => {}
                (0xb0, 32) if reg_source && is64 => {}
                (0xb0, _) => return Some("movsx width must be 8, 16 (or 32 in 64-bit)"),
                _ => return Some("reserved field `off` is not zero"),
            }
            if operation == 0x80 {
                return (reg_source || src != 0 || imm != 0).then_some("malformed neg");
            }
            if reg_source && imm != 0 || !reg_source && src != 0 {
                return Some("reserved field is not zero");
            }
            None
        }
        class::LDX => match opcode & 0xe0 {
            _ if imm != 0 => Some("reserved field `imm` of a load is not zero"),
            0x60 => None,
            0x80 if opcode & 0x18 != 0x18 => None,
            0x80 => Some("there is no 8-byte sign-extending load"),
            _ => Some("only ldx{b,h,w,dw} and ldxs{b,h,w} loads exist"),
        },
        class::ST => (opcode & 0xe0 != 0x60 || src != 0).then_some("malformed st"),
        class::STX => match opcode & 0xe0 {
            0x60 => (imm != 0).then_some("malformed stx"),
            0xc0 => atomic_op(imm)
                .is_none()
                .then_some("unknown atomic operation (imm)"),
            _ => Some("malformed stx"),
        },
        class::LD => {
            if off != 0 || dst > 10 {
                return Some("malformed lddw");
            }
            None
        }
        class::JMP | class::JMP32 => {
            let jmp32 = insn.class() == class::JMP32;
            match operation {
                0x00 if jmp32 => (src != 0 || dst != 0 || off != 0 || reg_source)
                    .then_some("malformed ja32 (gotol): only imm may be set"),
                0x00 => (src != 0 || dst != 0 || imm != 0 || reg_source).then_some("malformed ja"),
                0x80 if jmp32 || reg_source => Some("tail calls are not supported"),
                0x80 => (dst != 0 || off != 0).then_some("malformed call"),
                0x90 if jmp32 => Some("unknown jump operation"),
                0x90 => (opcode != 0x95 || src != 0 || dst != 0 || off != 0 || imm != 0)
                    .then_some("malformed exit"),
                0xe0 | 0xf0 => Some("unknown jump operation"),
                _ => (reg_source && imm != 0 || !reg_source && src != 0)
                    .then_some("reserved field is not zero"),
            }
        }
        _ => Some("unknown instruction class"),
    }
}

/// The control-flow successors of instruction `i` (not following calls).
fn successors(insns: &[Insn], i: usize) -> Vec<(usize, bool)> {
    let insn = insns[i];
    let jump = |off: i64| (i as i64 + 1 + off) as usize;
    match insn.class() {
        class::LD => vec![(i + 2, false)],
        class::JMP | class::JMP32 => match insn.operation() {
            0x90 => vec![],
            0x80 => vec![(i + 1, false)],
            0x00 => vec![(jump(jump_offset(&insn)), true)],
            _ => vec![(i + 1, false), (jump(jump_offset(&insn)), true)],
        },
        _ => vec![(i + 1, false)],
    }
}

/// Checks the control flow of `insns` and orders each function's instructions.
pub fn check(insns: &[Insn], target: &Target<'_>) -> Result<Graph, VerifyError> {
    let n = insns.len();
    let err = |index, rule, message| refuse(insns, index, rule, message, target);
    let mut starts = vec![true; n];
    let mut i = 0;
    while i < n {
        if insns[i].class() == class::STX
            && insns[i].opcode & 0xe0 == 0xc0
            && insns[i].opcode & 0x18 >= 0x08
            && insns[i].opcode & 0x18 != 0x18
        {
            return Err(err(
                i,
                Rule::AtomicSize,
                String::from("atomic operations are 4 or 8 bytes wide, not 1 or 2"),
            ));
        }
        if let Some(reason) = invalid(&insns[i]) {
            return Err(err(i, Rule::BadInsn, String::from(reason)));
        }
        // Checked on every instruction, reachable by value or not (rbpf, the earlier runtime,
        // refused them statically; kept so that programs stay loadable there too).
        let insn = insns[i];
        if insn.dst == 10 {
            match insn.class() {
                class::ALU | class::ALU64 | class::LDX | class::LD => {
                    return Err(err(
                        i,
                        Rule::R10Write,
                        String::from("R10 (the frame pointer) is read-only"),
                    ));
                }
                class::JMP | class::JMP32
                    if insn.is_jump_with_offset() && insn.operation() != 0 =>
                {
                    return Err(err(
                        i,
                        Rule::BadInsn,
                        String::from(
                            "R10 as a comparison's first operand is refused (rbpf refuses \
                             it); swap the operands",
                        ),
                    ));
                }
                _ => {}
            }
        }
        let writes_src = insn.class() == class::STX
            && insn.opcode & 0xe0 == 0xc0
            && insn.imm != CMPXCHG
            && atomic_op(insn.imm).is_some_and(|(_, fetch)| fetch);
        if writes_src && insn.src == 10 {
            return Err(err(
                i,
                Rule::R10Write,
                String::from("R10 (the frame pointer) is read-only: this atomic writes its source"),
            ));
        }
        if insns[i].opcode == op::LD_IMM64 {
            let Some(next) = insns.get(i + 1) else {
                return Err(err(
                    i,
                    Rule::BadInsn,
                    String::from("lddw lacks its second slot"),
                ));
            };
            if next.opcode != 0 || next.dst != 0 || next.src != 0 || next.off != 0 {
                return Err(err(
                    i + 1,
                    Rule::BadInsn,
                    String::from("the second slot of lddw must be zero but for its imm"),
                ));
            }
            starts[i + 1] = false;
            i += 2;
        } else {
            i += 1;
        }
    }
    // Jump and call targets exist and start instructions.
    let mut function_starts = vec![0usize];
    let mut jump_target = vec![false; n];
    for i in (0..n).filter(|&i| starts[i]) {
        let insn = insns[i];
        let relative = if insn.is_local_call() {
            Some(i64::from(insn.imm))
        } else if insn.is_jump_with_offset() {
            Some(jump_offset(&insn))
        } else {
            None
        };
        let Some(relative) = relative else { continue };
        let t = i as i64 + 1 + relative;
        if t < 0 || t >= n as i64 {
            return Err(err(
                i,
                Rule::JumpRange,
                format!("target {t} is outside the program (0..{n})"),
            ));
        }
        let t = t as usize;
        if !starts[t] {
            return Err(err(
                i,
                Rule::JumpIntoLddw,
                format!("target {t} is the second half of an lddw"),
            ));
        }
        if insn.is_local_call() {
            function_starts.push(t);
        } else {
            jump_target[t] = true;
        }
    }
    function_starts.sort_unstable();
    function_starts.dedup();
    let has_calls = function_starts.len() > 1;
    let ends: Vec<usize> = function_starts.iter().skip(1).copied().chain([n]).collect();
    let mut functions: Vec<Function> = function_starts
        .iter()
        .zip(&ends)
        .map(|(&start, &end)| Function {
            start,
            end,
            order: Vec::new(),
            loops: Vec::new(),
        })
        .collect();
    let mut visited = vec![false; n];
    // DFS per function: targets stay inside, no fall-through past the end; back-edges are
    // recorded as loops (the interpretation proves they end).
    for function in &mut functions {
        const NEW: u8 = 0;
        const ACTIVE: u8 = 1;
        const DONE: u8 = 2;
        let (start, end) = (function.start, function.end);
        let mut color = vec![NEW; end - start];
        let mut post = Vec::new();
        let mut stack = vec![(start, 0usize)];
        color[0] = ACTIVE;
        while let Some(&mut (at, ref mut next)) = stack.last_mut() {
            let succ = successors(insns, at);
            let Some(&(to, jumped)) = succ.get(*next) else {
                color[at - start] = DONE;
                post.push(at);
                stack.pop();
                continue;
            };
            *next += 1;
            if to < start || to >= end {
                return Err(if jumped {
                    err(
                        at,
                        Rule::JumpRange,
                        format!("target {to} is outside its function ({start}..{end})"),
                    )
                } else {
                    err(
                        at,
                        Rule::FallThrough,
                        format!(
                            "execution continues past the end of its function ({start}..{end}) \
                             without exit"
                        ),
                    )
                });
            }
            match color[to - start] {
                NEW => {
                    color[to - start] = ACTIVE;
                    stack.push((to, 0));
                }
                ACTIVE => function.loops.push((to, at)),
                _ => {}
            }
        }
        post.reverse();
        for &i in &post {
            visited[i] = true;
        }
        function.order = post;
    }
    // Calls: an acyclic graph from the entry function; every function reached.
    let mut reached = vec![false; functions.len()];
    let mut state = vec![0u8; functions.len()];
    call_graph(insns, &functions, 0, &mut state, &mut reached)
        .map_err(|(at, message)| err(at, Rule::Loop, message))?;
    for (f, function) in functions.iter().enumerate() {
        let first_unvisited =
            (function.start..function.end).find(|&i| starts[i] && (!reached[f] || !visited[i]));
        if let Some(i) = first_unvisited {
            return Err(err(
                i,
                Rule::Unreachable,
                String::from("no path reaches this instruction"),
            ));
        }
    }
    Ok(Graph {
        functions,
        starts,
        jump_target,
        has_calls,
    })
}

fn call_graph(
    insns: &[Insn],
    functions: &[Function],
    f: usize,
    state: &mut [u8],
    reached: &mut [bool],
) -> Result<(), (usize, String)> {
    state[f] = 1;
    reached[f] = true;
    let function = &functions[f];
    for &i in &function.order {
        let insn = insns[i];
        if !insn.is_local_call() {
            continue;
        }
        let t = (i as i64 + 1 + i64::from(insn.imm)) as usize;
        let Some(callee) = functions.iter().position(|g| g.start == t) else {
            continue;
        };
        match state[callee] {
            0 => call_graph(insns, functions, callee, state, reached)?,
            1 => return Err((i, format!("recursive call of the function at {t}"))),
            _ => {}
        }
    }
    state[f] = 2;
    Ok(())
}
