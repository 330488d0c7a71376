//! The abstract interpretation: every instruction's effect on every state reaching it.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write;

use super::cfg::{self, Graph};
use super::proto::{self, Arg, MapKind, Ret};
use super::scalar::{Cmp, Scalar, refine};
use super::state::{
    Byte, Frame, MAX_ALIGN, Ptr, Reg, Region, STACK_SIZE, Stack, State, describe_reg, residue,
};
use super::{
    MAX_FRAMES, MAX_LOOP_STATES_PER_INSN, MAX_STATES_PER_INSN, MAX_VAR_OFF, Options, Report, Rule,
    Target, VerifyError, disassemble_at,
};
use crate::insn::{Insn, class, op};
use crate::maps::MapType;

/// Longest log kept; the rest is cut with a note.
const MAX_LOG: usize = 4 << 20;
const U32: u64 = u32::MAX as u64;

/// Where a state goes after an instruction.
enum Next {
    Goto(usize, State),
    Exit(State),
}

type Outcome<T> = Result<T, (Rule, String)>;

struct Interp<'a> {
    insns: &'a [Insn],
    graph: &'a Graph,
    target: &'a Target<'a>,
    options: &'a Options,
    steps: usize,
    log: String,
}

pub(super) fn run(
    insns: &[Insn],
    graph: &Graph,
    target: &Target<'_>,
    options: &Options,
) -> Result<Report, VerifyError> {
    let mut interp = Interp {
        insns,
        graph,
        target,
        options,
        steps: 0,
        log: String::new(),
    };
    interp.function(0, vec![State::entry()])?;
    let (count, steps) = (insns.len(), interp.steps);
    interp.note(format_args!(
        "verified: {count} insns, {steps} states explored\n"
    ));
    Ok(Report {
        insns: insns.len(),
        steps: interp.steps,
        log: interp.log,
    })
}

/// Adds `state` to `states` unless one there covers it; drops those it covers.
fn insert(states: &mut Vec<State>, state: State) {
    if states.iter().any(|s| s.covers(&state)) {
        return;
    }
    states.retain(|s| !state.covers(s));
    states.push(state);
}

fn access_max(size: usize) -> u64 {
    if size >= 8 {
        u64::MAX
    } else {
        (1u64 << (size * 8)) - 1
    }
}

fn size_of(opcode: u8) -> usize {
    match opcode & 0x18 {
        0x00 => 4,
        0x08 => 2,
        0x10 => 1,
        _ => 8,
    }
}

impl Interp<'_> {
    fn note(&mut self, args: core::fmt::Arguments<'_>) {
        if !self.options.log || self.log.len() > MAX_LOG {
            return;
        }
        let _ = self.log.write_fmt(args);
        if self.log.len() > MAX_LOG {
            self.log.push_str("... (log truncated)\n");
        }
    }

    fn refuse(&self, index: usize, rule: Rule, message: String) -> VerifyError {
        VerifyError {
            index,
            insn: disassemble_at(self.insns, index, self.target),
            rule,
            message,
            log: self.log.clone(),
        }
    }

    /// The refusal when the budget runs out at `i`: naming the loop `i` is in, if any.
    fn over_budget(&self, i: usize, loops: &[(usize, usize)]) -> VerifyError {
        let explored = self.steps - 1;
        let budget = self.options.max_steps;
        let innermost = loops
            .iter()
            .filter(|(head, last)| (*head..=*last).contains(&i))
            .min_by_key(|(head, last)| last - head);
        match innermost {
            Some((head, last)) => self.refuse(
                i,
                Rule::LoopBudget,
                format!(
                    "loop at insns {head}..{last} does not terminate within the budget of \
                     {budget} states ({explored} explored): bound it with a constant"
                ),
            ),
            None => self.refuse(
                i,
                Rule::TooComplex,
                format!("explored {explored} states without finishing; the budget is {budget}"),
            ),
        }
    }

    /// Interprets function `f`, which has loops, from each of `entry`, path by path (depth
    /// first, Linux's way): every iteration is interpreted, so a loop is accepted only when
    /// each path through it ends within the budget. At jump targets a state is dropped when a
    /// state whose every path has ended (not one still being explored, such as the same loop's
    /// earlier iteration) covers it; a state equal to one of its own earlier states at the same
    /// instruction never ends (refused as `loop`).
    fn function_with_loops(
        &mut self,
        f: usize,
        entry: Vec<State>,
    ) -> Result<Vec<State>, VerifyError> {
        /// A checkpoint: a state at a jump target, with the paths still running below it.
        struct Node {
            parent: Option<usize>,
            branches: usize,
            insn: usize,
            state: Option<State>,
        }
        /// One path ended below `node`: nodes without running paths become complete.
        fn finish(
            nodes: &mut [Node],
            complete: &mut [Vec<usize>],
            start: usize,
            node: Option<usize>,
        ) {
            let mut at = node;
            while let Some(id) = at {
                nodes[id].branches -= 1;
                if nodes[id].branches > 0 {
                    break;
                }
                if nodes[id].state.is_some() {
                    complete[nodes[id].insn - start].push(id);
                }
                at = nodes[id].parent;
            }
        }
        let function = &self.graph.functions[f];
        let (start, end) = (function.start, function.end);
        let loops = function.loops.clone();
        let mut nodes: Vec<Node> = Vec::new();
        let mut complete: Vec<Vec<usize>> = vec![Vec::new(); end - start];
        let mut stored = vec![0usize; end - start];
        let mut exits = Vec::new();
        let mut work: Vec<(usize, State, Option<usize>)> =
            entry.into_iter().map(|s| (start, s, None)).collect();
        while let Some((i, state, mut node)) = work.pop() {
            self.steps += 1;
            if self.steps > self.options.max_steps {
                return Err(self.over_budget(i, &loops));
            }
            if self.graph.jump_target[i] {
                let covered = complete[i - start].iter().any(|&n| {
                    nodes[n]
                        .state
                        .as_ref()
                        .is_some_and(|done| done.covers(&state))
                });
                if covered {
                    self.note(format_args!(
                        "{i}: pruned: a finished state covers this one\n"
                    ));
                    finish(&mut nodes, &mut complete, start, node);
                    continue;
                }
                // An earlier state of this very path at this instruction, unchanged: a cycle.
                let (mut at, mut walked) = (node, 0);
                while let Some(id) = at
                    && walked < 64
                {
                    if nodes[id].insn == i
                        && nodes[id]
                            .state
                            .as_ref()
                            .is_some_and(|earlier| earlier.frames == state.frames)
                    {
                        let (head, last) = loops
                            .iter()
                            .filter(|(head, last)| (*head..=*last).contains(&i))
                            .min_by_key(|(head, last)| last - head)
                            .copied()
                            .unwrap_or((i, i));
                        return Err(self.refuse(
                            i,
                            Rule::Loop,
                            format!(
                                "infinite loop at insns {head}..{last}: the state at insn {i} \
                                 repeats unchanged"
                            ),
                        ));
                    }
                    at = nodes[id].parent;
                    walked += 1;
                }
                let keep = stored[i - start] < MAX_LOOP_STATES_PER_INSN;
                stored[i - start] += usize::from(keep);
                nodes.push(Node {
                    parent: node,
                    branches: 1,
                    insn: i,
                    state: keep.then(|| state.clone()),
                });
                node = Some(nodes.len() - 1);
            }
            if self.options.log {
                let text = disassemble_at(self.insns, i, self.target);
                let regs = state.describe();
                self.note(format_args!("{i}: {text:<32} ; {regs}\n"));
            }
            let nexts = self
                .step(i, state)
                .map_err(|(rule, message)| self.refuse(i, rule, message))?;
            if nexts.is_empty() {
                finish(&mut nodes, &mut complete, start, node);
            } else if let Some(id) = node {
                nodes[id].branches += nexts.len() - 1;
            }
            for next in nexts.into_iter().rev() {
                match next {
                    Next::Goto(to, state) => work.push((to, state, node)),
                    Next::Exit(state) => {
                        exits.push(state);
                        finish(&mut nodes, &mut complete, start, node);
                    }
                }
            }
        }
        Ok(exits)
    }

    /// Interprets function `f` from each of `entry`; returns the states at its exits.
    fn function(&mut self, f: usize, entry: Vec<State>) -> Result<Vec<State>, VerifyError> {
        if !self.graph.functions[f].loops.is_empty() {
            return self.function_with_loops(f, entry);
        }
        let function = &self.graph.functions[f];
        let (start, end) = (function.start, function.end);
        let order = function.order.clone();
        let mut pending: Vec<Vec<State>> = vec![Vec::new(); end - start];
        for state in entry {
            insert(&mut pending[0], state);
        }
        let mut exits = Vec::new();
        for i in order {
            let mut states = core::mem::take(&mut pending[i - start]);
            if states.len() > MAX_STATES_PER_INSN {
                let mut joined = states[0].clone();
                for s in &states[1..] {
                    joined = joined.union(s);
                }
                self.note(format_args!(
                    "{i}: joined {} states into one\n",
                    states.len()
                ));
                states = vec![joined];
            }
            for state in states {
                self.steps += 1;
                if self.steps > self.options.max_steps {
                    return Err(self.refuse(
                        i,
                        Rule::TooComplex,
                        format!(
                            "explored {} states without finishing; the budget is {}",
                            self.steps - 1,
                            self.options.max_steps
                        ),
                    ));
                }
                if self.options.log {
                    let text = disassemble_at(self.insns, i, self.target);
                    let regs = state.describe();
                    self.note(format_args!("{i}: {text:<32} ; {regs}\n"));
                }
                let nexts = self
                    .step(i, state)
                    .map_err(|(rule, message)| self.refuse(i, rule, message))?;
                for next in nexts {
                    match next {
                        Next::Goto(to, state) => insert(&mut pending[to - start], state),
                        Next::Exit(state) => exits.push(state),
                    }
                }
            }
        }
        Ok(exits)
    }

    fn step(&mut self, i: usize, mut s: State) -> Outcome<Vec<Next>> {
        let insn = self.insns[i];
        match insn.class() {
            class::ALU | class::ALU64 => {
                let to = self.alu(i, &insn, &mut s)?;
                Ok(vec![Next::Goto(to, s)])
            }
            class::LD => {
                let value = self.lddw(i, &insn)?;
                write(&mut s, insn.dst, value)?;
                Ok(vec![Next::Goto(i + 2, s)])
            }
            class::LDX => {
                let size = size_of(insn.opcode);
                let mut value = self.memory(&mut s, insn.src, insn.off, size, None)?;
                if insn.opcode & 0xe0 == 0x80 {
                    // ldxs{b,h,w} (ISA v4): sign-extended, so within the width's signed range.
                    let half = 1i64 << (size * 8 - 1);
                    value = Reg::Scalar(Scalar::from_signed(-half, half - 1));
                }
                write(&mut s, insn.dst, value)?;
                Ok(vec![Next::Goto(i + 1, s)])
            }
            0x02 => {
                let size = size_of(insn.opcode);
                let value = Reg::Scalar(Scalar::constant(insn.imm as i64 as u64));
                self.memory(&mut s, insn.dst, insn.off, size, Some(value))?;
                Ok(vec![Next::Goto(i + 1, s)])
            }
            class::STX if insn.opcode & 0xe0 == 0xc0 => {
                self.atomic(&insn, &mut s)?;
                Ok(vec![Next::Goto(i + 1, s)])
            }
            class::STX => {
                let size = size_of(insn.opcode);
                let value = read(&s, insn.src)?;
                self.memory(&mut s, insn.dst, insn.off, size, Some(value))?;
                Ok(vec![Next::Goto(i + 1, s)])
            }
            _ => self.jump(i, &insn, s),
        }
    }

    fn lddw(&self, i: usize, insn: &Insn) -> Outcome<Reg> {
        let high = self.insns.get(i + 1).map_or(0, |n| n.imm as u32);
        let value = u64::from(insn.imm as u32) | (u64::from(high) << 32);
        if insn.src == 0 {
            return Ok(Reg::Scalar(Scalar::constant(value)));
        }
        let index = self
            .target
            .maps
            .iter()
            .position(|m| m.handle == value)
            .ok_or((
                Rule::BadInsn,
                format!("map handle {value} is not one of the program's maps"),
            ))?;
        Ok(Reg::Ptr(Ptr::at(Region::Map(index as u16), 0)))
    }

    // ---- arithmetic ------------------------------------------------------------------------

    fn alu(&mut self, i: usize, insn: &Insn, s: &mut State) -> Outcome<usize> {
        let is64 = insn.class() == class::ALU64;
        let operation = insn.operation();
        let dst = insn.dst; // never R10: `cfg` refuses R10 as a destination up front
        // `lsh64 rX, 32; rsh64 rX, 32` zero-extends; when the value already fits 32 bits it is
        // unchanged, so its copies stay linked (clang's idiom before indexing with a u32).
        if insn.opcode == op::LSH64_IMM
            && insn.imm == 32
            && let Some(next) = self.insns.get(i + 1)
            && next.opcode == op::RSH64_IMM
            && next.dst == dst
            && next.imm == 32
            && !self.graph.jump_target[i + 1]
            && let Reg::Scalar(value) = read(s, dst)?
        {
            let result = if value.umax <= U32 {
                value
            } else {
                value.low32()
            };
            s.frame().regs[usize::from(dst)] = Reg::Scalar(result);
            return Ok(i + 2);
        }
        let imm = if is64 {
            insn.imm as i64 as u64
        } else {
            u64::from(insn.imm as u32)
        };
        let source = if insn.uses_src_reg() && !matches!(operation, 0x80 | 0xd0) {
            read(s, insn.src)?
        } else {
            Reg::Scalar(Scalar::constant(imm))
        };
        if operation == 0xb0 && insn.off != 0 {
            // movsx (ISA v4): the low `off` bits of the source, sign-extended.
            let value = match source {
                Reg::Scalar(v) => sign_extend(&v, insn.off as u32, is64),
                Reg::Ptr(p) => {
                    return Err((
                        Rule::PtrLeak,
                        format!(
                            "movsx turns pointer R{} ({}) into a number",
                            insn.src,
                            describe_reg(&Reg::Ptr(p))
                        ),
                    ));
                }
                Reg::Uninit => {
                    return Err((Rule::UninitReg, format!("R{} is not initialised", insn.src)));
                }
            };
            write(s, dst, Reg::Scalar(value))?;
            return Ok(i + 1);
        }
        if operation == 0xb0 {
            // mov
            let value = match source {
                Reg::Scalar(v) if !is64 => {
                    if v.umax <= U32 && insn.uses_src_reg() {
                        Reg::Scalar(self.link(s, insn.src))
                    } else {
                        Reg::Scalar(v.low32())
                    }
                }
                Reg::Ptr(_) if !is64 => {
                    return Err((
                        Rule::PtrLeak,
                        format!("mov32 truncates pointer R{} into a number", insn.src),
                    ));
                }
                Reg::Scalar(_) | Reg::Ptr(_) if insn.uses_src_reg() => {
                    match self.link_reg(s, insn.src) {
                        Reg::Uninit => source,
                        linked => linked,
                    }
                }
                other => other,
            };
            write(s, dst, value)?;
            return Ok(i + 1);
        }
        let current = read(s, dst)?;
        let result = match (current, source) {
            (Reg::Scalar(a), Reg::Scalar(b)) => {
                Reg::Scalar(scalar_op(insn, a, b, is64, !insn.uses_src_reg())?)
            }
            (Reg::Ptr(p), Reg::Scalar(b)) if is64 && matches!(operation, 0x00 | 0x10) => {
                Reg::Ptr(offset_ptr(p, &b, operation == 0x10, dst)?)
            }
            (Reg::Scalar(a), Reg::Ptr(p)) if is64 && operation == 0x00 => {
                Reg::Ptr(offset_ptr(p, &a, false, insn.src)?)
            }
            (Reg::Ptr(p), Reg::Ptr(q)) if is64 && operation == 0x10 => {
                if p.region != q.region || p.nullable || q.nullable {
                    return Err((
                        Rule::PtrLeak,
                        String::from(
                            "subtracting pointers into different regions reveals an address",
                        ),
                    ));
                }
                Reg::Scalar(Scalar::from_signed(
                    p.off_min - q.off_max,
                    p.off_max - q.off_min,
                ))
            }
            (Reg::Ptr(p), _) => {
                return Err((
                    Rule::PtrArith,
                    format!(
                        "{} on pointer R{dst} ({}): only 64-bit add and sub of a bounded scalar \
                         are allowed",
                        super::disasm::ALU_NAMES[usize::from(operation >> 4)],
                        describe_reg(&Reg::Ptr(p))
                    ),
                ));
            }
            (_, Reg::Ptr(_)) => {
                return Err((
                    Rule::PtrLeak,
                    format!(
                        "R{} is a pointer: this would turn it into a number",
                        insn.src
                    ),
                ));
            }
            // `read` refuses uninitialised registers, so only that is left.
            _ => return Err((Rule::UninitReg, format!("R{dst} is not initialised"))),
        };
        write(s, dst, result)?;
        Ok(i + 1)
    }

    /// Gives scalar register `r` a copy id (if it has none) and returns it.
    fn link(&self, s: &mut State, r: u8) -> Scalar {
        match self.link_reg(s, r) {
            Reg::Scalar(v) => v,
            _ => Scalar::UNKNOWN,
        }
    }

    fn link_reg(&self, s: &mut State, r: u8) -> Reg {
        let reg = s.top().regs[usize::from(r)];
        let needs_id = match reg {
            Reg::Scalar(v) => v.id == 0 && v.as_constant().is_none(),
            Reg::Ptr(p) => p.nullable && p.id == 0,
            Reg::Uninit => false,
        };
        if !needs_id {
            return reg;
        }
        let id = s.fresh_id();
        let linked = match reg {
            Reg::Scalar(v) => Reg::Scalar(Scalar { id, ..v }),
            Reg::Ptr(p) => Reg::Ptr(Ptr { id, ..p }),
            Reg::Uninit => Reg::Uninit,
        };
        s.frame().regs[usize::from(r)] = linked;
        linked
    }

    // ---- memory ----------------------------------------------------------------------------

    /// Reads (`store` is `None`) or writes `size` bytes at `base + off`.
    fn memory(
        &self,
        s: &mut State,
        base: u8,
        off: i16,
        size: usize,
        store: Option<Reg>,
    ) -> Outcome<Reg> {
        let pointer = dereferenceable(s, base)?;
        let lo = pointer.off_min + i64::from(off);
        let hi = pointer.off_max + i64::from(off);
        let unknown = Reg::Scalar(Scalar::at_most(access_max(size)));
        if let Some(Reg::Ptr(p)) = store
            && !(matches!(pointer.region, Region::Stack(_)) && size == 8)
        {
            let rule = if pointer.region == Region::Ctx {
                Rule::CtxWrite
            } else {
                Rule::PtrLeak
            };
            return Err((
                rule,
                format!(
                    "storing pointer {} into {} would leak it",
                    describe_reg(&Reg::Ptr(p)),
                    region_name(self, pointer.region, size)
                ),
            ));
        }
        match pointer.region {
            Region::Ctx => {
                if store.is_some() {
                    return Err((Rule::CtxWrite, String::from("the context is read-only")));
                }
                if lo != hi {
                    return Err((
                        Rule::CtxVarOffset,
                        format!("context access at a variable offset ({lo}..={hi})"),
                    ));
                }
                if lo < 0 || lo + size as i64 > self.target.context_size as i64 {
                    return Err((
                        Rule::CtxOob,
                        format!(
                            "context access at {lo} size {size} is outside the {}-byte context",
                            self.target.context_size
                        ),
                    ));
                }
                if lo % size as i64 != 0 {
                    return Err((
                        Rule::Misaligned,
                        format!("context access at {lo} is not aligned to its size {size}"),
                    ));
                }
                Ok(unknown)
            }
            Region::Map(_) => Err((
                Rule::NotMemory,
                format!("R{base} is a map pointer; only helpers take it"),
            )),
            Region::MapValue(m) => {
                let value_size = i64::from(self.target.maps[usize::from(m)].spec.value_size);
                if lo < 0 || hi + size as i64 > value_size {
                    return Err((
                        Rule::MapValueOob,
                        format!(
                            "map value access at {lo}..={hi} size {size} is outside the \
                             {value_size}-byte value of `{}`",
                            self.target.maps[usize::from(m)].name
                        ),
                    ));
                }
                Ok(unknown)
            }
            Region::Stack(frame) => {
                let limit = STACK_SIZE as i64;
                if lo < -limit || hi + size as i64 > 0 {
                    let (rule, what) = if lo == hi {
                        (Rule::StackOob, "")
                    } else {
                        (Rule::StackVarOffset, " at a variable offset")
                    };
                    return Err((
                        rule,
                        format!(
                            "stack access{what} at {lo}..={hi} size {size} may leave the frame \
                             (-{limit}..0)"
                        ),
                    ));
                }
                let stack = &mut s.frames[usize::from(frame)].stack;
                if lo != hi {
                    match store {
                        None => {
                            check_stack_readable(stack, lo, hi + size as i64)?;
                            return Ok(unknown);
                        }
                        Some(Reg::Ptr(p)) => {
                            return Err((
                                Rule::PtrLeak,
                                format!(
                                    "storing pointer {} at a variable stack offset ({lo}..={hi}): \
                                     it could not be read back as a pointer, only as data",
                                    describe_reg(&Reg::Ptr(p))
                                ),
                            ));
                        }
                        Some(Reg::Uninit) => {
                            return Err((
                                Rule::UninitReg,
                                String::from("storing an uninitialised register"),
                            ));
                        }
                        Some(Reg::Scalar(_)) => {
                            write_stack_var(stack, lo, hi, size);
                            return Ok(Reg::Uninit);
                        }
                    }
                }
                if lo % size as i64 != 0 {
                    return Err((
                        Rule::Misaligned,
                        format!("stack access at {lo} is not aligned to its size {size}"),
                    ));
                }
                let start = Stack::index(lo);
                match store {
                    None => {
                        if size == 8
                            && stack.bytes[start..start + 8]
                                .iter()
                                .all(|&b| b == Byte::Spill)
                        {
                            return Ok(*stack.spill(start));
                        }
                        check_stack_readable(stack, lo, lo + size as i64)?;
                        Ok(unknown)
                    }
                    Some(value) => {
                        if value == Reg::Uninit {
                            return Err((
                                Rule::UninitReg,
                                String::from("storing an uninitialised register"),
                            ));
                        }
                        write_stack(stack, start, size, value);
                        Ok(Reg::Uninit)
                    }
                }
            }
        }
    }

    /// An atomic read-modify-write (`STX|ATOMIC`): on initialised stack bytes holding no
    /// pointer or inside a map value, aligned, with a scalar operand; FETCH forms and `xchg`
    /// write the old value into the source register, `cmpxchg` into R0 (compared with it).
    fn atomic(&self, insn: &Insn, s: &mut State) -> Outcome<()> {
        let size = size_of(insn.opcode);
        let (name, fetch) = cfg::atomic_op(insn.imm)
            .ok_or((Rule::BadInsn, String::from("unknown atomic operation")))?;
        let what = format!("atomic {name} ({size} bytes)");
        if let Reg::Ptr(p) = read(s, insn.src)? {
            return Err((
                Rule::PtrLeak,
                format!(
                    "{what}: R{} is pointer {}; an atomic would store it as a number",
                    insn.src,
                    describe_reg(&Reg::Ptr(p))
                ),
            ));
        }
        if insn.imm == cfg::CMPXCHG {
            match s.top().regs[0] {
                Reg::Uninit => {
                    return Err((
                        Rule::UninitReg,
                        format!("{what} compares with R0, which is not initialised"),
                    ));
                }
                Reg::Ptr(p) => {
                    return Err((
                        Rule::PtrLeak,
                        format!(
                            "{what} compares with R0, pointer {}: that would reveal its address",
                            describe_reg(&Reg::Ptr(p))
                        ),
                    ));
                }
                Reg::Scalar(_) => {}
            }
        }
        let base = insn.dst;
        let pointer = dereferenceable(s, base)
            .map_err(|(rule, message)| (rule, format!("{what}: {message}")))?;
        let lo = pointer.off_min + i64::from(insn.off);
        let hi = pointer.off_max + i64::from(insn.off);
        let aligned = |lo: i64, hi: i64| -> Outcome<()> {
            if lo != hi && !pointer.aligned(insn.off, size as u8) {
                return Err((
                    Rule::AtomicMisaligned,
                    format!(
                        "{what} at a variable offset ({lo}..={hi}): its alignment to {size} \
                         bytes cannot be proven"
                    ),
                ));
            }
            if lo == hi && lo % size as i64 != 0 {
                return Err((
                    Rule::AtomicMisaligned,
                    format!("{what} at offset {lo} is not aligned to its size {size}"),
                ));
            }
            Ok(())
        };
        match pointer.region {
            Region::Ctx => {
                return Err((
                    Rule::AtomicRegion,
                    format!(
                        "{what} on the context: it is read-only; atomics work on the stack and \
                         on map values"
                    ),
                ));
            }
            Region::Map(_) => {
                return Err((
                    Rule::NotMemory,
                    format!("{what}: R{base} is a map pointer; only helpers take it"),
                ));
            }
            Region::MapValue(m) => {
                let info = &self.target.maps[usize::from(m)];
                let value_size = i64::from(info.spec.value_size);
                if lo < 0 || hi + size as i64 > value_size {
                    return Err((
                        Rule::MapValueOob,
                        format!(
                            "{what} at {lo}..={hi} is outside the {value_size}-byte value of `{}`",
                            info.name
                        ),
                    ));
                }
                // Map values are 8-byte aligned in our maps.
                aligned(lo, hi)?;
            }
            Region::Stack(frame) => {
                let limit = STACK_SIZE as i64;
                if lo < -limit || hi + size as i64 > 0 {
                    return Err((
                        Rule::StackOob,
                        format!("{what} at {lo}..={hi} is outside the frame (-{limit}..0)"),
                    ));
                }
                if lo != hi {
                    return Err((
                        Rule::StackVarOffset,
                        format!("{what} on the stack at a variable offset ({lo}..={hi})"),
                    ));
                }
                aligned(lo, hi)?;
                let stack = &mut s.frames[usize::from(frame)].stack;
                check_stack_readable(stack, lo, lo + size as i64)
                    .map_err(|(rule, message)| (rule, format!("{what}: {message}")))?;
                write_stack(stack, Stack::index(lo), size, Reg::Scalar(Scalar::UNKNOWN));
            }
        }
        let old = Reg::Scalar(if size == 4 {
            Scalar::at_most(U32)
        } else {
            Scalar::UNKNOWN
        });
        if insn.imm == cfg::CMPXCHG {
            s.frame().regs[0] = old;
        } else if fetch {
            write(s, insn.src, old)?;
        }
        Ok(())
    }

    // ---- control flow and calls ------------------------------------------------------------

    fn jump(&mut self, i: usize, insn: &Insn, mut s: State) -> Outcome<Vec<Next>> {
        let operation = insn.operation();
        let target = (i as i64 + 1 + cfg::jump_offset(insn)) as usize;
        match operation {
            0x00 => Ok(vec![Next::Goto(target, s)]),
            0x90 => {
                self.exit(&s)?;
                Ok(vec![Next::Exit(s)])
            }
            0x80 if insn.src == 1 => self.local_call(i, insn, s),
            0x80 => {
                self.helper_call(insn.imm as u32, &mut s)?;
                Ok(vec![Next::Goto(i + 1, s)])
            }
            _ => {
                let mut out = Vec::new();
                let (taken, fallthrough) = self.branch(insn, &s)?;
                if let Some(state) = fallthrough {
                    out.push(Next::Goto(i + 1, state));
                }
                if let Some(state) = taken {
                    out.push(Next::Goto(target, state));
                }
                Ok(out)
            }
        }
    }

    fn exit(&self, s: &State) -> Outcome<()> {
        let depth = s.frames.len() - 1;
        match s.top().regs[0] {
            Reg::Uninit => Err((
                Rule::UninitReg,
                String::from("R0 is not set at exit (on some path)"),
            )),
            Reg::Ptr(p) if depth == 0 => Err((
                Rule::PtrLeak,
                format!(
                    "the program returns pointer {} in R0",
                    describe_reg(&Reg::Ptr(p))
                ),
            )),
            Reg::Ptr(p) if p.region == Region::Stack(depth as u8) => Err((
                Rule::CallFrame,
                String::from("the function returns a pointer into its own stack frame"),
            )),
            _ => {
                if depth > 0 {
                    for frame in &s.frames[..depth] {
                        let escapes = frame.stack.spills.iter().any(
                            |r| matches!(r, Reg::Ptr(p) if p.region == Region::Stack(depth as u8)),
                        );
                        if escapes {
                            return Err((
                                Rule::CallFrame,
                                String::from(
                                    "a pointer into the returning frame's stack is stored in a \
                                     caller's stack",
                                ),
                            ));
                        }
                    }
                }
                Ok(())
            }
        }
    }

    fn local_call(&mut self, i: usize, insn: &Insn, s: State) -> Outcome<Vec<Next>> {
        if s.frames.len() >= MAX_FRAMES {
            return Err((
                Rule::CallFrame,
                format!("call chain deeper than {MAX_FRAMES} frames"),
            ));
        }
        let start = (i as i64 + 1 + i64::from(insn.imm)) as usize;
        let callee = self
            .graph
            .function_at(start)
            .ok_or((Rule::JumpRange, format!("no function starts at {start}")))?;
        let mut entry = s.clone();
        let mut frame = Frame::new(s.frames.len() as u8, i);
        frame.regs[1..=5].copy_from_slice(&s.top().regs[1..=5]);
        entry.frames.push(frame);
        self.note(format_args!("{i}: call into the function at {start}\n"));
        let exits = self.function(callee, vec![entry]).map_err(|e| {
            (
                e.rule,
                format!(
                    "in the function called here: insn {} `{}`: {}",
                    e.index, e.insn, e.message
                ),
            )
        })?;
        let mut out = Vec::new();
        for mut state in exits {
            let returned = state.top().regs[0];
            state.frames.pop();
            let frame = state.frame();
            frame.regs[0] = returned;
            frame.regs[1..=5].fill(Reg::Uninit);
            out.push(Next::Goto(i + 1, state));
        }
        self.note(format_args!("{i}: returned from the function at {start}\n"));
        Ok(out)
    }

    fn helper_call(&self, id: u32, s: &mut State) -> Outcome<()> {
        if !self.target.helpers.contains(&id) {
            return Err((
                Rule::UnknownHelper,
                format!("helper {id} ({id:#x}) is not registered"),
            ));
        }
        let Some(proto) = proto::prototype(id) else {
            return Err((
                Rule::UnknownHelper,
                format!("helper {id} has no prototype, so its arguments cannot be checked"),
            ));
        };
        let name = proto::helper_name(id).unwrap_or("helper");
        let regs = s.top().regs;
        let arg_reg = |k: usize| -> Outcome<Reg> {
            match regs[k + 1] {
                Reg::Uninit => Err((
                    Rule::UninitReg,
                    format!("{name}: argument R{} is not initialised", k + 1),
                )),
                reg => Ok(reg),
            }
        };
        // The map argument first: keys and values are sized by it.
        let mut map = None;
        if let Some(k) = proto.args.iter().position(|a| *a == Arg::Map) {
            let m = match arg_reg(k)? {
                Reg::Ptr(Ptr {
                    region: Region::Map(m),
                    ..
                }) => usize::from(m),
                other => {
                    return Err((
                        Rule::HelperArg,
                        format!(
                            "{name}: R{} must be a map (lddw rX, map:NAME), not {}",
                            k + 1,
                            describe_reg(&other)
                        ),
                    ));
                }
            };
            let info = &self.target.maps[m];
            let perf = info.spec.map_type == MapType::PerfEventArray;
            let fits = match proto.map {
                MapKind::PerfEventArray => perf,
                MapKind::KeyValue => !perf,
                MapKind::None => false,
            };
            if !fits {
                return Err((
                    Rule::HelperArg,
                    format!(
                        "{name} cannot take map `{}` of type {}",
                        info.name,
                        info.spec.map_type.name()
                    ),
                ));
            }
            map = Some(m);
        }
        for (k, arg) in proto.args.iter().enumerate() {
            let r = k + 1;
            match arg {
                Arg::Unused | Arg::Map | Arg::Size | Arg::SizeOrZero => {}
                Arg::Scalar => {
                    if let Reg::Ptr(p) = arg_reg(k)? {
                        return Err((
                            Rule::PtrLeak,
                            format!(
                                "{name}: R{r} is pointer {}; passing it would leak it",
                                describe_reg(&Reg::Ptr(p))
                            ),
                        ));
                    }
                }
                Arg::Context => match arg_reg(k)? {
                    Reg::Ptr(p) if p.region == Region::Ctx && p.fixed_off() == Some(0) => {}
                    other => {
                        return Err((
                            Rule::HelperArg,
                            format!(
                                "{name}: R{r} must be the context pointer, not {}",
                                describe_reg(&other)
                            ),
                        ));
                    }
                },
                Arg::Key | Arg::Value => {
                    let spec = &self.target.maps[map.unwrap_or(0)].spec;
                    let len = if *arg == Arg::Key {
                        spec.key_size
                    } else {
                        spec.value_size
                    };
                    let what = if *arg == Arg::Key { "key" } else { "value" };
                    self.readable(s, name, r, arg_reg(k)?, u64::from(len), what)?;
                }
                Arg::Memory => {
                    let size_arg = proto.args.get(k + 1).copied().unwrap_or(Arg::Unused);
                    let size = match arg_reg(k + 1)? {
                        Reg::Scalar(v) => v,
                        other => {
                            return Err((
                                Rule::HelperArg,
                                format!(
                                    "{name}: size R{} must be a number, not {}",
                                    r + 1,
                                    describe_reg(&other)
                                ),
                            ));
                        }
                    };
                    if size.umax > STACK_SIZE as u64 * 8 {
                        return Err((
                            Rule::HelperArg,
                            format!(
                                "{name}: size R{} is not bounded (up to {})",
                                r + 1,
                                size.umax
                            ),
                        ));
                    }
                    if size_arg == Arg::Size && size.may_be_zero() {
                        return Err((Rule::HelperArg, format!("{name}: size R{} may be 0", r + 1)));
                    }
                    self.readable(s, name, r, arg_reg(k)?, size.umax, "buffer")?;
                }
            }
        }
        let returned = match proto.ret {
            Ret::Scalar => Reg::Scalar(Scalar::UNKNOWN),
            Ret::MapValueOrNull => Reg::Ptr(Ptr {
                nullable: true,
                id: s.fresh_id(),
                ..Ptr::at(Region::MapValue(map.unwrap_or(0) as u16), 0)
            }),
        };
        let frame = s.frame();
        frame.regs[0] = returned;
        frame.regs[1..=5].fill(Reg::Uninit);
        Ok(())
    }

    /// Checks that `reg` points at `len` readable, initialised bytes holding no pointer.
    fn readable(
        &self,
        s: &State,
        helper: &str,
        r: usize,
        reg: Reg,
        len: u64,
        what: &str,
    ) -> Outcome<()> {
        let p = match reg {
            Reg::Ptr(p) if p.nullable => {
                return Err((
                    Rule::NullCheck,
                    format!("{helper}: {what} R{r} may be NULL"),
                ));
            }
            Reg::Ptr(p) => p,
            other => {
                return Err((
                    Rule::HelperArg,
                    format!(
                        "{helper}: {what} R{r} must point to memory, not {}",
                        describe_reg(&other)
                    ),
                ));
            }
        };
        let len = len as i64;
        match p.region {
            Region::Stack(frame) => {
                let limit = STACK_SIZE as i64;
                if p.off_min < -limit || p.off_max + len > 0 {
                    return Err((
                        Rule::StackOob,
                        format!(
                            "{helper}: {what} R{r} ({len} bytes at {}..={}) is outside the \
                             frame (-{limit}..0)",
                            p.off_min, p.off_max
                        ),
                    ));
                }
                check_stack_readable(
                    &s.frames[usize::from(frame)].stack,
                    p.off_min,
                    p.off_max + len,
                )
                .map_err(|(rule, message)| (rule, format!("{helper}: {what} R{r}: {message}")))
            }
            Region::MapValue(m) => {
                let info = &self.target.maps[usize::from(m)];
                if p.off_min < 0 || p.off_max + len > i64::from(info.spec.value_size) {
                    return Err((
                        Rule::MapValueOob,
                        format!(
                            "{helper}: {what} R{r} ({len} bytes at {}..={}) is outside the \
                             {}-byte value of `{}`",
                            p.off_min, p.off_max, info.spec.value_size, info.name
                        ),
                    ));
                }
                Ok(())
            }
            Region::Ctx | Region::Map(_) => Err((
                Rule::HelperArg,
                format!(
                    "{helper}: {what} R{r} must point to the stack or a map value, not {}",
                    describe_reg(&reg)
                ),
            )),
        }
    }

    /// The states on the taken and the fall-through edge of a conditional jump (`None`: the
    /// edge cannot be taken).
    fn branch(&self, insn: &Insn, s: &State) -> Outcome<(Option<State>, Option<State>)> {
        let jmp32 = insn.class() == class::JMP32;
        let cmp = Cmp::from_operation(insn.operation())
            .ok_or((Rule::BadInsn, String::from("unknown jump")))?;
        let a = read(s, insn.dst)?;
        let b = if insn.uses_src_reg() {
            read(s, insn.src)?
        } else if jmp32 {
            Reg::Scalar(Scalar::constant(u64::from(insn.imm as u32)))
        } else {
            Reg::Scalar(Scalar::constant(insn.imm as i64 as u64))
        };
        let both = || (Some(s.clone()), Some(s.clone()));
        match (a, b) {
            (Reg::Scalar(x), Reg::Scalar(y)) => {
                if jmp32 {
                    let fits = x.umax <= U32 && y.umax <= U32;
                    let signed_ok = x.umax <= i32::MAX as u64 && y.umax <= i32::MAX as u64;
                    if !fits || (cmp.is_signed() && !signed_ok) {
                        return Ok(both());
                    }
                }
                let edge = |cmp: Cmp| -> Option<State> {
                    let (nx, ny) = refine(&x, &y, cmp)?;
                    let mut out = s.clone();
                    set_scalar(&mut out, insn.dst, nx);
                    if insn.uses_src_reg() {
                        set_scalar(&mut out, insn.src, ny);
                    }
                    Some(out)
                };
                Ok((edge(cmp), edge(cmp.negate())))
            }
            (Reg::Ptr(p), Reg::Scalar(z)) | (Reg::Scalar(z), Reg::Ptr(p))
                if z.as_constant() == Some(0) && !jmp32 && matches!(cmp, Cmp::Eq | Cmp::Ne) =>
            {
                let ptr_reg = if matches!(a, Reg::Ptr(_)) {
                    insn.dst
                } else {
                    insn.src
                };
                let null = if p.nullable {
                    let mut out = s.clone();
                    let zero = Reg::Scalar(Scalar::constant(0));
                    out.frame().regs[usize::from(ptr_reg)] = zero;
                    out.update_linked(p.id, |r| match r {
                        Reg::Ptr(_) => zero,
                        other => *other,
                    });
                    Some(out)
                } else {
                    None
                };
                let mut non_null = s.clone();
                let checked = |r: &Reg| match r {
                    Reg::Ptr(q) => Reg::Ptr(Ptr {
                        nullable: false,
                        ..*q
                    }),
                    other => *other,
                };
                let reg = &mut non_null.frame().regs[usize::from(ptr_reg)];
                *reg = checked(reg);
                non_null.update_linked(p.id, checked);
                Ok(if cmp == Cmp::Eq {
                    (null, Some(non_null))
                } else {
                    (Some(non_null), null)
                })
            }
            (Reg::Ptr(p), Reg::Ptr(q))
                if p.region == q.region && !p.nullable && !q.nullable && !jmp32 =>
            {
                Ok(both())
            }
            _ => Err((
                Rule::PtrCompare,
                format!(
                    "comparing {} with {} would reveal an address (only NULL checks and \
                     pointers into the same region may be compared)",
                    describe_reg(&a),
                    describe_reg(&b)
                ),
            )),
        }
    }
}

fn region_name(interp: &Interp<'_>, region: Region, size: usize) -> String {
    match region {
        Region::Ctx => String::from("the context"),
        Region::Stack(_) => format!("the stack ({size}-byte store: only whole 8-byte spills)"),
        Region::Map(_) => String::from("a map pointer"),
        Region::MapValue(m) => format!(
            "a value of map `{}`",
            interp.target.maps[usize::from(m)].name
        ),
    }
}

/// Reads register `r` of the innermost frame; refuses an uninitialised one.
fn read(s: &State, r: u8) -> Outcome<Reg> {
    match s.top().regs[usize::from(r)] {
        Reg::Uninit => Err((
            Rule::UninitReg,
            format!("R{r} is not initialised (on some path)"),
        )),
        reg => Ok(reg),
    }
}

fn write(s: &mut State, r: u8, value: Reg) -> Outcome<()> {
    if r == 10 {
        return Err((
            Rule::R10Write,
            String::from("R10 (the frame pointer) is read-only"),
        ));
    }
    s.frame().regs[usize::from(r)] = value;
    Ok(())
}

/// The pointer in `base`, if a load, store or atomic may go through it: not a number, not NULL.
fn dereferenceable(s: &mut State, base: u8) -> Outcome<Ptr> {
    let pointer = match read(s, base)? {
        Reg::Ptr(p) => p,
        Reg::Scalar(v) if v.as_constant() == Some(0) => {
            return Err((
                Rule::NullCheck,
                format!("R{base} is NULL on this path (a failed lookup, or the constant 0)"),
            ));
        }
        other => {
            return Err((
                Rule::NotMemory,
                format!(
                    "R{base} ({}) is not a pointer to memory",
                    describe_reg(&other)
                ),
            ));
        }
    };
    if pointer.nullable {
        return Err((
            Rule::NullCheck,
            format!(
                "R{base} ({}) may be NULL: compare it with 0 before using it",
                describe_reg(&Reg::Ptr(pointer))
            ),
        ));
    }
    Ok(pointer)
}

/// Sets scalar register `r` to `value` and every copy linked to it likewise.
fn set_scalar(s: &mut State, r: u8, value: Scalar) {
    s.frame().regs[usize::from(r)] = Reg::Scalar(value);
    s.update_linked(value.id, |reg| match reg {
        Reg::Scalar(_) => Reg::Scalar(value),
        other => *other,
    });
}

/// `p ± b`, if `b` is bounded enough and `p` may take arithmetic.
fn offset_ptr(p: Ptr, b: &Scalar, subtract: bool, r: u8) -> Outcome<Ptr> {
    if p.nullable {
        return Err((
            Rule::PtrArith,
            format!("arithmetic on R{r}, which may be NULL: check it against 0 first"),
        ));
    }
    if let Region::Map(_) = p.region {
        return Err((Rule::PtrArith, String::from("arithmetic on a map pointer")));
    }
    if b.smin < -MAX_VAR_OFF || b.smax > MAX_VAR_OFF {
        return Err((
            Rule::PtrArith,
            format!(
                "pointer arithmetic with an unbounded scalar ({}); bound it with a comparison or \
                 a mask first",
                describe_reg(&Reg::Scalar(*b))
            ),
        ));
    }
    let (lo, hi) = if subtract {
        (p.off_min - b.smax, p.off_max - b.smin)
    } else {
        (p.off_min + b.smin, p.off_max + b.smax)
    };
    if lo < -MAX_VAR_OFF || hi > MAX_VAR_OFF {
        return Err((
            Rule::PtrArith,
            format!("pointer offset {lo}..={hi} is out of range"),
        ));
    }
    // The scalar's low bits that are known give the new offsets' congruence class.
    let known_low = b.bits.mask.trailing_zeros().min(MAX_ALIGN.trailing_zeros());
    let align = p.align.min(1 << known_low);
    let low = residue(b.bits.value as i64, align);
    let align_rem = if subtract {
        residue(i64::from(p.align_rem) - i64::from(low), align)
    } else {
        residue(i64::from(p.align_rem) + i64::from(low), align)
    };
    Ok(Ptr {
        off_min: lo,
        off_max: hi,
        id: 0,
        align,
        align_rem,
        ..p
    })
}

/// Refuses a read of stack bytes `lo..hi` (offsets from R10) that are uninitialised or belong
/// to a spilled pointer.
fn check_stack_readable(stack: &Stack, lo: i64, hi: i64) -> Outcome<()> {
    for off in lo..hi {
        let index = Stack::index(off);
        match stack.bytes[index] {
            Byte::Uninit => {
                return Err((
                    Rule::StackUninit,
                    format!("stack byte fp{off} is not initialised (on some path)"),
                ));
            }
            Byte::Spill if matches!(stack.spill(index), Reg::Ptr(_)) => {
                return Err((
                    Rule::PtrLeak,
                    format!("stack byte fp{off} is part of a spilled pointer"),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Writes `size` bytes of a number at a variable stack offset, `lo..=hi` (from R10): every
/// slot it may touch is marked written; spills there end (a scalar's bytes become data, a
/// pointer's unreadable, as it may be partly overwritten); uninitialised bytes become data only
/// where every possible offset writes them.
fn write_stack_var(stack: &mut Stack, lo: i64, hi: i64, size: usize) {
    let (first, last) = (Stack::index(lo), Stack::index(hi + size as i64));
    let bytes = alloc::rc::Rc::make_mut(&mut stack.bytes);
    for slot in first / 8..=(last - 1) / 8 {
        stack.used |= 1 << slot;
        end_spill(bytes, &mut stack.spills, slot);
    }
    let sure = Stack::index(hi)..Stack::index(lo + size as i64);
    for i in sure {
        bytes[i] = Byte::Misc;
    }
}

/// Writes `size` bytes of `value` at stack byte `start` (a fixed, aligned offset).
fn write_stack(stack: &mut Stack, start: usize, size: usize, value: Reg) {
    let slot = start / 8;
    stack.mark(slot);
    let bytes = alloc::rc::Rc::make_mut(&mut stack.bytes);
    if size == 8 {
        bytes[start..start + 8].fill(Byte::Spill);
        alloc::rc::Rc::make_mut(&mut stack.spills)[slot] = value;
        return;
    }
    end_spill(bytes, &mut stack.spills, slot);
    bytes[start..start + size].fill(Byte::Misc);
}

/// A write to part of slot `slot` ends its spill: a scalar's other bytes stay data, a
/// pointer's become unreadable (reading them would reveal part of an address).
fn end_spill(
    bytes: &mut [Byte; STACK_SIZE],
    spills: &mut alloc::rc::Rc<[Reg; super::state::SLOTS]>,
    slot: usize,
) {
    let slot_range = slot * 8..slot * 8 + 8;
    if !bytes[slot_range.clone()].contains(&Byte::Spill) {
        return;
    }
    let rest = if matches!(spills[slot], Reg::Ptr(_)) {
        Byte::Uninit
    } else {
        Byte::Misc
    };
    for byte in &mut bytes[slot_range] {
        if *byte == Byte::Spill {
            *byte = rest;
        }
    }
    alloc::rc::Rc::make_mut(spills)[slot] = Reg::Uninit;
}

/// A scalar ALU operation (`a op b`; 32-bit operations on the low halves, zero-extended).
fn scalar_op(insn: &Insn, a: Scalar, b: Scalar, is64: bool, from_imm: bool) -> Outcome<Scalar> {
    let operation = insn.operation();
    let width: u64 = if is64 { 64 } else { 32 };
    // Byte swaps read the register's whole width (`le64`/`be64` are ALU-class instructions).
    let (a, b) = if is64 || operation == 0xd0 {
        (a, b)
    } else {
        (a.low32(), b.low32())
    };
    let result = match operation {
        0x00 => a.add(&b),
        0x10 => a.sub(&b),
        0x20 => a.mul(&b),
        0x30 | 0x90 => {
            if b.as_constant() == Some(0) {
                let how = if from_imm {
                    String::from("the constant 0")
                } else {
                    format!("R{}, which is always 0", insn.src)
                };
                let what = if operation == 0x30 {
                    "division"
                } else {
                    "modulo"
                };
                return Err((Rule::DivByZero, format!("{what} by {how}")));
            }
            if insn.off == 1 {
                signed_div_mod(&a, &b, operation == 0x90, is64)
            } else if operation == 0x30 {
                a.div(&b)
            } else {
                a.rem(&b)
            }
        }
        0x40 => a.or(&b),
        0x50 => a.and(&b),
        0xa0 => a.xor(&b),
        0x60 | 0x70 | 0xc0 => match b.as_constant() {
            Some(k) if k >= width => {
                if from_imm {
                    return Err((
                        Rule::BadShift,
                        format!("shift by {k} is not below the operand width {width}"),
                    ));
                }
                Scalar::UNKNOWN
            }
            Some(k) => {
                let k = k as u32;
                match operation {
                    0x60 => a.shl(k),
                    0x70 => a.shr(k),
                    _ if is64 => a.sar(k),
                    _ if a.umax <= i32::MAX as u64 => a.shr(k),
                    _ => Scalar::UNKNOWN,
                }
            }
            None if operation == 0x70 => Scalar::at_most(a.umax),
            None => Scalar::UNKNOWN,
        },
        0x80 => match a.as_constant() {
            Some(v) => Scalar::constant(v.wrapping_neg()),
            None => Scalar::UNKNOWN,
        },
        0xd0 => {
            // `be` (ALU|END|X) and `bswap` (ALU64|END, ISA v4) swap; `le` does not here.
            let swap = insn.uses_src_reg() || is64;
            match (insn.imm, swap, a.as_constant()) {
                (16, false, _) => a.and(&Scalar::constant(0xffff)),
                (32, false, _) => a.low32(),
                (64, false, _) => a.unlinked(),
                (16, true, Some(v)) => Scalar::constant(u64::from((v as u16).swap_bytes())),
                (32, true, Some(v)) => Scalar::constant(u64::from((v as u32).swap_bytes())),
                (64, true, Some(v)) => Scalar::constant(v.swap_bytes()),
                (16, true, None) => Scalar::at_most(0xffff),
                (32, true, None) => Scalar::at_most(U32),
                _ => Scalar::UNKNOWN,
            }
        }
        _ => return Err((Rule::BadInsn, String::from("unknown ALU operation"))),
    };
    Ok(if is64 || operation == 0xd0 {
        result.unlinked()
    } else {
        result.low32()
    })
}

/// `v`'s low `bits` bits sign-extended (`movsx`); a 32-bit `movsx` zero-extends the result.
fn sign_extend(v: &Scalar, bits: u32, is64: bool) -> Scalar {
    let half = 1u64 << (bits - 1);
    if let Some(c) = v.as_constant() {
        let shift = 64 - bits;
        let x = (((c << shift) as i64) >> shift) as u64;
        return Scalar::constant(if is64 { x } else { x & U32 });
    }
    if v.umax < half {
        // Non-negative and within the width: unchanged.
        return v.unlinked();
    }
    if is64 {
        Scalar::from_signed(-(half as i64), half as i64 - 1)
    } else {
        Scalar::at_most(U32)
    }
}

/// Signed division or modulo (ISA v4, `off = 1`) of `a` by `b` (32-bit operands: the low
/// halves, as the caller passes them). Division by 0 gives 0, modulo by 0 leaves `a`.
fn signed_div_mod(a: &Scalar, b: &Scalar, modulo: bool, is64: bool) -> Scalar {
    let signed = |x: u64| {
        if is64 {
            x as i64
        } else {
            i64::from(x as u32 as i32)
        }
    };
    let non_negative = |x: &Scalar| {
        if is64 {
            x.smin >= 0
        } else {
            x.umax <= i32::MAX as u64
        }
    };
    let any = if is64 {
        Scalar::UNKNOWN
    } else {
        Scalar::at_most(U32)
    };
    if let (Some(x), Some(y)) = (a.as_constant(), b.as_constant()) {
        let (x, y) = (signed(x), signed(y));
        let r = match (y, modulo) {
            (0, false) => 0,
            (0, true) => x,
            (_, false) if is64 => x.wrapping_div(y),
            (_, true) if is64 => x.wrapping_rem(y),
            (_, false) => i64::from((x as i32).wrapping_div(y as i32)),
            (_, true) => i64::from((x as i32).wrapping_rem(y as i32)),
        };
        return Scalar::constant(if is64 { r as u64 } else { r as u64 & U32 });
    }
    match b.as_constant().map(signed) {
        Some(y) if modulo && y != 0 => {
            // |a % y| < |y|, with a's sign.
            let m = y.unsigned_abs() - 1;
            if non_negative(a) {
                Scalar::at_most(m.min(a.umax))
            } else if is64 {
                Scalar::from_signed(-(m as i64), m as i64)
            } else {
                any
            }
        }
        _ if !modulo && non_negative(a) && non_negative(b) && b.umin > 0 => a.div(b),
        _ => any,
    }
}
