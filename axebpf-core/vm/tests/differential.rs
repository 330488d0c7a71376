//! Our interpreter against the RFC 9669 reference model of `axebpf-core/tests/isa` (included,
//! not copied) on thousands of seeded random programs — each seed gives a base-ISA program and
//! one with atomics, ISA v4 and local calls —, and against rbpf 0.4.1's interpreter on the
//! programs where rbpf agrees with the model; plus the error paths random programs never take
//! (call depth, returned frames, misaligned atomics).
//!
//! Rerun one seed with `ISA_SEED=<seed> cargo test -p axebpf-vm --test differential`.

#[path = "../../tests/isa/asm.rs"]
mod asm;
#[path = "../../tests/isa/generate.rs"]
mod generate;
#[path = "../../tests/isa/model.rs"]
#[allow(dead_code)]
mod model;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use asm::{Insn, alu, atomic, class, jmp, size};
use axebpf_vm::Vm;

type Outcome = Result<(u64, Vec<u8>), String>;

/// Body length of the base-ISA program `seed`: 8 to 71 chunks.
fn base_chunks(seed: u64) -> usize {
    8 + (seed % 64) as usize
}

/// Body length of the full-ISA program `seed`: a third more (10 to 94 chunks), as the new
/// features take a quarter of the chunks on average.
fn chunks(seed: u64) -> usize {
    base_chunks(seed) * 4 / 3
}

fn ours(code: &[u8], mem: &[u8]) -> Outcome {
    // The model's buffer address is 8-aligned, and atomics care: run on an 8-aligned copy.
    let mut storage = vec![0u8; mem.len() + 8];
    let start = storage.as_ptr().align_offset(8);
    let buffer = &mut storage[start..start + mem.len()];
    buffer.copy_from_slice(mem);
    let mut vm = Vm::new(&[]);
    let r0 = vm.run(code, buffer).map_err(|e| e.to_string())?;
    Ok((r0, buffer.to_vec()))
}

fn model_run(code: &[u8], mem: &[u8]) -> (Outcome, Option<model::Machine>) {
    let mut mem = mem.to_vec();
    match model::run(code, &mut mem) {
        Ok((r0, machine)) => (Ok((r0, mem)), Some(machine)),
        Err(e) => (Err(format!("{e:?}")), None),
    }
}

fn reference(code: &[u8], mem: &[u8]) -> Outcome {
    model_run(code, mem).0
}

/// rbpf's interpreter; its panics (`neg64` of `i64::MIN` overflows in debug builds) count as
/// errors.
fn rbpf(code: &[u8], mem: &[u8]) -> Outcome {
    let mut mem = mem.to_vec();
    // Its panics are expected; keep them off the output.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = catch_unwind(AssertUnwindSafe(|| {
        let vm = rbpf::EbpfVmRaw::new(Some(code)).map_err(|e| format!("{e:?}"))?;
        vm.execute_program(&mut mem).map_err(|e| format!("{e:?}"))
    }));
    std::panic::set_hook(hook);
    let r0 = result.map_err(|_| "panicked".to_string())??;
    Ok((r0, mem))
}

/// An rbpf error message without its numbers (instruction index, addresses), to count kinds.
fn error_kind(error: &str) -> String {
    let line = error.lines().next().unwrap_or(error);
    let mut out = String::new();
    let mut in_number = false;
    for c in line.chars() {
        if c.is_ascii_digit() && !in_number {
            in_number = true;
            out.push('N');
        } else if !(in_number && c.is_ascii_alphanumeric()) {
            in_number = false;
            out.push(c);
        }
    }
    out
}

fn show(outcome: &Outcome) -> String {
    match outcome {
        Ok((r0, mem)) => format!(
            "Ok(r0 = {r0:#018x}, mem = {})",
            mem.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
        Err(e) => format!("Err({e})"),
    }
}

/// Drops body chunks while `runner` still disagrees with the model.
fn shrink(
    mut program: generate::Program,
    mem: &[u8],
    runner: fn(&[u8], &[u8]) -> Outcome,
) -> generate::Program {
    let disagrees = |p: &generate::Program| {
        let code = p.code();
        runner(&code, mem) != reference(&code, mem)
    };
    let mut index = 0;
    while index < program.body.len() {
        let candidate = program.without_chunk(index);
        if disagrees(&candidate) {
            program = candidate;
        } else {
            index += 1;
        }
    }
    program
}

/// The instructions of `code` rbpf 0.4.1's interpreter computes wrongly (README, "Notes on
/// dependencies"), by kind:
/// * a 64-bit unsigned or (in)equality comparison with a negative immediate (rbpf zero-extends
///   it);
/// * a 32-bit modulo (by zero, rbpf keeps the upper half);
/// * ISA v4 `sdiv`/`smod`/`movsx`: rbpf accepts ALU/ALU64 DIV, MOD and MOV with a nonzero `off`
///   and computes them as the plain `div`/`mod`/`mov`;
/// * a local call: rbpf runs the callee 256 bytes below its caller inside one 512-byte stack, so
///   frames overlap (or run out).
fn known_rbpf_defects(code: &[u8]) -> Vec<&'static str> {
    let mut found = Vec::new();
    for slot in code.chunks_exact(8) {
        let insn = Insn::decode(slot, 0).expect("a whole slot");
        let (cls, op) = (insn.opc & 0x07, insn.opc & 0xf0);
        let unsigned = matches!(
            op,
            jmp::JEQ | jmp::JNE | jmp::JGT | jmp::JGE | jmp::JLT | jmp::JLE
        );
        let defect = if cls == class::JMP && insn.opc & asm::X == 0 && unsigned && insn.imm < 0 {
            "64-bit unsigned/equality jump with a negative immediate"
        } else if cls == class::ALU && op == alu::MOD && insn.off == 0 {
            "mod32"
        } else if matches!(cls, class::ALU | class::ALU64)
            && matches!(op, alu::DIV | alu::MOD | alu::MOV)
            && insn.off != 0
        {
            "sdiv/smod/movsx run as div/mod/mov"
        } else if insn.opc == class::JMP | jmp::CALL && insn.src == asm::CALL_LOCAL {
            "local call (256-byte frames in one 512-byte stack)"
        } else {
            continue;
        };
        if !found.contains(&defect) {
            found.push(defect);
        }
    }
    found
}

fn has_known_rbpf_defect(code: &[u8]) -> bool {
    !known_rbpf_defects(code).is_empty()
}

/// The new instruction forms, as (name, opcode, model::variant).
fn new_forms() -> Vec<(String, u8, usize)> {
    let mut forms = Vec::new();
    let atomic_names = [
        "add",
        "fetch_add",
        "or",
        "fetch_or",
        "and",
        "fetch_and",
        "xor",
        "fetch_xor",
        "xchg",
        "cmpxchg",
    ];
    for (sz, width) in [(size::W, "32"), (size::DW, "64")] {
        for (v, name) in atomic_names.iter().enumerate() {
            forms.push((format!("{name}{width}"), class::STX | asm::ATOMIC | sz, v));
        }
    }
    for (cls, width) in [(class::ALU64, "64"), (class::ALU, "32")] {
        for (op, name) in [(alu::DIV, "sdiv"), (alu::MOD, "smod")] {
            forms.push((format!("{name}{width} imm"), cls | asm::K | op, 1));
            forms.push((format!("{name}{width} reg"), cls | asm::X | op, 1));
        }
    }
    for (v, bits) in [(2, 8), (3, 16), (4, 32)] {
        forms.push((
            format!("movsx64 s{bits}"),
            class::ALU64 | asm::X | alu::MOV,
            v,
        ));
        if bits < 32 {
            forms.push((
                format!("movsx32 s{bits}"),
                class::ALU | asm::X | alu::MOV,
                v,
            ));
        }
    }
    for (sz, name) in [(size::B, "b"), (size::H, "h"), (size::W, "w")] {
        forms.push((format!("ldxs{name}"), class::LDX | asm::MEMSX | sz, 0));
    }
    forms.push(("bswap".into(), class::ALU64 | alu::END, 0));
    forms.push(("gotol".into(), class::JMP32 | jmp::JA, 0));
    forms.push(("local call".into(), class::JMP | jmp::CALL, 1));
    forms
}

/// What the model saw the programs execute.
struct Coverage {
    steps: u64,
    calls: u64,
    max_frames: BTreeMap<usize, u64>,
    cmpxchg_hits: u64,
    cmpxchg_misses: u64,
    /// Executions of each of `new_forms()`.
    forms: Vec<(String, u8, usize, u64)>,
}

impl Default for Coverage {
    fn default() -> Self {
        Self {
            steps: 0,
            calls: 0,
            max_frames: BTreeMap::new(),
            cmpxchg_hits: 0,
            cmpxchg_misses: 0,
            forms: new_forms()
                .into_iter()
                .map(|(name, opc, variant)| (name, opc, variant, 0))
                .collect(),
        }
    }
}

impl Coverage {
    fn add(&mut self, m: &model::Machine) {
        self.steps += m.steps as u64;
        self.calls += m.calls as u64;
        *self.max_frames.entry(m.max_frames).or_insert(0) += 1;
        self.cmpxchg_hits += m.cmpxchg_hits as u64;
        self.cmpxchg_misses += m.cmpxchg_misses as u64;
        for (_, opc, variant, n) in &mut self.forms {
            *n += u64::from(m.coverage[usize::from(*opc)][*variant]);
        }
    }

    /// Prints the instructions executed; with `full`, the new forms' counts too, and panics if
    /// one never ran (or cmpxchg never hit or missed, or no call was two deep).
    fn report(&self, full: bool) {
        let new_total: u64 = self.forms.iter().map(|form| form.3).sum();
        println!(
            "  executed: {} instructions, {} of the base ISA, {new_total} new",
            self.steps,
            self.steps - new_total
        );
        if !full {
            return;
        }
        let line: Vec<String> = self
            .forms
            .iter()
            .map(|(name, _, _, n)| format!("{name} {n}"))
            .collect();
        println!("  new: {}", line.join(", "));
        println!(
            "  local calls {}, programs by most frames in use {:?}; cmpxchg hits {}, misses {}",
            self.calls, self.max_frames, self.cmpxchg_hits, self.cmpxchg_misses
        );
        let missing: Vec<&String> = self
            .forms
            .iter()
            .filter(|form| form.3 == 0)
            .map(|form| &form.0)
            .collect();
        assert!(missing.is_empty(), "never executed: {missing:?}");
        assert!(self.cmpxchg_hits > 0 && self.cmpxchg_misses > 0);
        assert!(self.max_frames.contains_key(&3), "no call two deep");
    }
}

/// Tallies of one family of programs.
#[derive(Default)]
struct Tally {
    programs: usize,
    agree: usize,
    rbpf_agrees: usize,
    rbpf_wrong: usize,
    rbpf_fails: usize,
    rbpf_errors: BTreeMap<String, usize>,
    rbpf_defects: BTreeMap<&'static str, usize>,
    coverage: Coverage,
}

impl Tally {
    /// Runs one program in the model, ours and rbpf; returns a report if ours disagrees with
    /// the model.
    fn check(&mut self, seed: u64, program: &generate::Program, mem: &[u8]) -> Option<String> {
        self.programs += 1;
        let code = program.code();
        let (expected, machine) = model_run(&code, mem);
        assert!(
            expected.is_ok(),
            "the model fails on seed {seed:#x}: {}\n{}",
            show(&expected),
            asm::disassemble(&code)
        );
        self.coverage.add(machine.as_ref().expect("ran"));
        let got = ours(&code, mem);
        let failure = if got == expected {
            self.agree += 1;
            None
        } else {
            let small = shrink(program.clone(), mem, ours);
            let small_code = small.code();
            Some(format!(
                "seed {seed:#x} (rerun: ISA_SEED={seed:#x})\n  model: {}\n  ours:  {}\n\
                 shrunk to {} chunks:\n{}  model: {}\n  ours:  {}",
                show(&expected),
                show(&got),
                small.body.len(),
                asm::disassemble(&small_code),
                show(&reference(&small_code, mem)),
                show(&ours(&small_code, mem)),
            ))
        };
        // rbpf: where it agrees with the model, we must agree with rbpf (we agree with the
        // model); where it does not, count its known defects (README, "Notes on dependencies")
        // and its errors (it refuses atomics and most of ISA v4 at load).
        match rbpf(&code, mem) {
            r if r == expected => {
                self.rbpf_agrees += 1;
                assert_eq!(
                    got, r,
                    "seed {seed:#x}: rbpf and the model agree, we do not"
                );
            }
            Ok(_) => {
                self.rbpf_wrong += 1;
                if !has_known_rbpf_defect(&code) {
                    let small = shrink(program.clone(), mem, rbpf);
                    let small_code = small.code();
                    panic!(
                        "seed {seed:#x}: rbpf wrong without a known defect; shrunk:\n{}\n\
                         model: {}\nrbpf:  {}",
                        asm::disassemble(&small_code),
                        show(&reference(&small_code, mem)),
                        show(&rbpf(&small_code, mem)),
                    );
                }
                for defect in known_rbpf_defects(&code) {
                    *self.rbpf_defects.entry(defect).or_insert(0) += 1;
                }
            }
            Err(e) => {
                self.rbpf_fails += 1;
                *self.rbpf_errors.entry(error_kind(&e)).or_insert(0) += 1;
            }
        }
        failure
    }

    fn print(&self, what: &str) {
        println!(
            "{} {what} programs: ours = model on {}; rbpf = model (and ours) on {}, \
             rbpf wrong result on {}, rbpf error or panic on {}",
            self.programs, self.agree, self.rbpf_agrees, self.rbpf_wrong, self.rbpf_fails
        );
        for (defect, n) in &self.rbpf_defects {
            println!("  rbpf wrong, with a known defect in the program: {defect}: {n}");
        }
        for (error, n) in &self.rbpf_errors {
            println!("  rbpf {error}: {n}");
        }
    }
}

/// Every program seed gives two programs: one of the base ISA (as `isa_reference` runs; rbpf
/// runs most of them, a check of the model against an independent implementation) and one with
/// every feature (atomics, ISA v4, local calls; rbpf refuses nearly all of them).
#[test]
fn random_programs_match_the_model_and_rbpf() {
    let seeds = generate::program_seeds();
    let mut failures = Vec::new();
    let (mut base, mut full) = (Tally::default(), Tally::default());
    for &seed in &seeds {
        let (program, mem) = generate::program(seed, base_chunks(seed));
        failures.extend(base.check(seed, &program, &mem));
        let (program, mem) = generate::program_with(seed, chunks(seed), generate::Features::ALL);
        failures.extend(full.check(seed, &program, &mem));
        if failures.len() >= 3 {
            break;
        }
    }
    base.print("base-ISA");
    full.print("full-ISA");
    assert!(
        failures.is_empty(),
        "{} program(s) where ours disagrees with the model (stopped after 3):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    if seeds.len() > 1 {
        println!("base-ISA programs:");
        base.coverage.report(false);
        println!("full-ISA programs:");
        full.coverage.report(true);
    }
}

// ---------------------------------------------------------------------------------------------
// The error paths random programs never take: ours and the model must both fail (their error
// types differ) or return the same.
// ---------------------------------------------------------------------------------------------

fn agree_on(what: &str, insns: &[Insn], mem: &[u8]) -> Outcome {
    let code = asm::assemble(insns);
    let (expected, got) = (reference(&code, mem), ours(&code, mem));
    assert_eq!(
        expected.is_ok(),
        got.is_ok(),
        "{what}:\n  model: {}\n  ours:  {}\n{}",
        show(&expected),
        show(&got),
        asm::disassemble(&code)
    );
    if expected.is_ok() {
        assert_eq!(expected, got, "{what}\n{}", asm::disassemble(&code));
    }
    expected
}

#[test]
fn local_calls_nest_eight_frames_deep_at_most() {
    // main: r0 = 0, call f1, r0 += 1, exit; f_i: call f_(i+1), r0 += 1, exit; the last f: r0 =
    // 100, exit. `nested` calls use nested + 1 frames.
    for nested in 1..=9usize {
        let mut insns = vec![asm::alu64_imm(alu::MOV, 0, 0)];
        for _ in 0..nested {
            insns.extend([
                asm::call_local(2),
                asm::alu64_imm(alu::ADD, 0, 1),
                asm::exit(),
            ]);
        }
        insns.extend([asm::alu64_imm(alu::MOV, 0, 100), asm::exit()]);
        let outcome = agree_on(&format!("{nested} nested calls"), &insns, &[0; 8]);
        if nested < model::MAX_FRAMES {
            assert_eq!(outcome.map(|(r0, _)| r0), Ok(100 + nested as u64));
        } else {
            assert!(outcome.is_err(), "{nested} nested calls");
        }
    }
}

#[test]
fn callees_get_their_own_frame_and_keep_r6_to_r10() {
    // The callee stores through a pointer into its caller's frame, uses its own r10 - 8 and
    // clobbers r6-r9; the caller sees its frame written, its r10 - 8 and r6-r9 intact.
    let callee = [
        asm::st(size::DW, 10, -8, 0x77),
        asm::st(size::DW, 1, 0, 0x55),
        asm::alu64_imm(alu::MOV, 6, -1),
        asm::alu64_imm(alu::MOV, 9, -1),
        asm::ldx(size::DW, 0, 10, -8),
        asm::exit(),
    ];
    let mut insns = vec![
        asm::st(size::DW, 10, -8, 0x11),
        asm::st(size::DW, 10, -16, 0x22),
        asm::alu64_imm(alu::MOV, 6, 6),
        asm::alu64_imm(alu::MOV, 9, 9),
        asm::alu64_reg(alu::MOV, 1, 10),
        asm::alu64_imm(alu::ADD, 1, -16),
        asm::call_local(0),
    ];
    // r0 = 0x77 (callee's own slot) + [r10-8] 0x11 + [r10-16] 0x55 + r6 6 + r9 9.
    let tail = [
        asm::ldx(size::DW, 2, 10, -8),
        asm::alu64_reg(alu::ADD, 0, 2),
        asm::ldx(size::DW, 2, 10, -16),
        asm::alu64_reg(alu::ADD, 0, 2),
        asm::alu64_reg(alu::ADD, 0, 6),
        asm::alu64_reg(alu::ADD, 0, 9),
        asm::exit(),
    ];
    let call_at = insns.len() - 1;
    insns[call_at] = asm::call_local(tail.len() as i32);
    insns.extend(tail);
    insns.extend(callee);
    let outcome = agree_on("callee frame", &insns, &[0; 8]);
    assert_eq!(outcome.map(|(r0, _)| r0), Ok(0x77 + 0x11 + 0x55 + 6 + 9));
}

#[test]
fn returned_frames_and_misaligned_atomics_are_errors() {
    // The callee returns its r10; the caller loads from the frame that has returned.
    let stale = [
        asm::call_local(2),
        asm::ldx(size::DW, 0, 0, -8),
        asm::exit(),
        asm::st(size::DW, 10, -8, 1),
        asm::alu64_reg(alu::MOV, 0, 10),
        asm::exit(),
    ];
    assert!(agree_on("load from a returned frame", &stale, &[0; 8]).is_err());
    for (sz, off) in [
        (size::W, -6),
        (size::W, -2),
        (size::DW, -12),
        (size::DW, -4),
    ] {
        for op in atomic::ALL {
            let insns = [
                asm::st(size::DW, 10, -8, 0),
                asm::st(size::DW, 10, -16, 0),
                asm::atomic_op(sz, op, 10, 1, off),
                asm::exit(),
            ];
            assert!(agree_on("misaligned atomic", &insns, &[0; 8]).is_err());
        }
    }
    // Through the buffer too (8-aligned), and with sizes B and H, which have no atomics.
    let insns = [asm::atomic_op(size::W, atomic::ADD, 1, 2, 2), asm::exit()];
    assert!(agree_on("misaligned atomic in the buffer", &insns, &[0; 8]).is_err());
    for sz in [size::B, size::H] {
        let insns = [
            asm::atomic_op(sz, atomic::ADD, 1, 2, 0),
            asm::alu64_imm(alu::MOV, 0, 0),
            asm::exit(),
        ];
        assert!(agree_on("8/16-bit atomic", &insns, &[0; 8]).is_err());
    }
}

#[test]
fn full_programs_are_deterministic_and_every_chunk_is_removable() {
    // The shrinker's premise: without any one body chunk, a program still runs to `exit` in the
    // model (no chunk depends on another having run).
    for seed in 0..120u64 {
        let (a, mem_a) = generate::program_with(seed, chunks(seed), generate::Features::ALL);
        let (b, mem_b) = generate::program_with(seed, chunks(seed), generate::Features::ALL);
        assert_eq!((a.code(), &mem_a), (b.code(), &mem_b), "seed {seed}");
        for index in 0..a.body.len() {
            let code = a.without_chunk(index).code();
            let outcome = reference(&code, &mem_a);
            assert!(
                outcome.is_ok(),
                "seed {seed} without chunk {index}: {}\n{}",
                show(&outcome),
                asm::disassemble(&code)
            );
        }
    }
}

#[test]
fn encodings_outside_the_rfc_are_errors() {
    // RFC 9669 defines none of these: both sides must refuse them.
    let cases = [
        (
            "end with off",
            Insn::new(class::ALU | alu::END, 1, 0, 1, 16),
        ),
        (
            "bswap with the X bit",
            Insn::new(class::ALU64 | asm::X | alu::END, 1, 0, 0, 16),
        ),
        ("bswap of 8 bits", asm::bswap(1, 8)),
        (
            "add with off",
            Insn::new(class::ALU64 | alu::ADD, 1, 0, 1, 1),
        ),
        (
            "div with off 2",
            Insn::new(class::ALU64 | alu::DIV, 1, 0, 2, 1),
        ),
        ("movsx32 of 32 bits", asm::movsx(false, 1, 2, 32)),
        ("movsx64 of 4 bits", asm::movsx(true, 1, 2, 4)),
        (
            "movsx from an immediate",
            Insn::new(class::ALU64 | alu::MOV, 1, 0, 8, 1),
        ),
        (
            "neg with the X bit",
            Insn::new(class::ALU64 | asm::X | alu::NEG, 1, 2, 0, 0),
        ),
        (
            "jmp32 exit",
            Insn::new(class::JMP32 | jmp::EXIT, 0, 0, 0, 0),
        ),
        (
            "jmp32 call",
            Insn::new(class::JMP32 | jmp::CALL, 0, 1, 0, 0),
        ),
        (
            "ja with the X bit",
            Insn::new(class::JMP | asm::X | jmp::JA, 0, 0, 0, 0),
        ),
        ("ldxsdw", asm::ldxsx(size::DW, 0, 10, -8)),
        ("atomic sub", asm::atomic_op(size::DW, 0x10, 10, 1, -8)),
        (
            "xchg without fetch",
            asm::atomic_op(size::DW, 0xe0, 10, 1, -8),
        ),
        (
            "cmpxchg without fetch",
            asm::atomic_op(size::DW, 0xf0, 10, 1, -8),
        ),
        (
            "fetch_add into r10",
            asm::atomic_op(size::DW, atomic::ADD | atomic::FETCH, 1, 10, 0),
        ),
    ];
    let mut accepted = Vec::new();
    for (what, insn) in cases {
        let insns = [
            asm::st(size::DW, 10, -8, 0),
            asm::alu64_imm(alu::MOV, 0, 0),
            insn,
            asm::exit(),
        ];
        let code = asm::assemble(&insns);
        assert!(
            reference(&code, &[0; 8]).is_err(),
            "the model accepts {what}"
        );
        if let Ok(outcome) = ours(&code, &[0; 8]) {
            accepted.push(format!("{what}: {}", show(&Ok(outcome))));
        }
    }
    assert!(
        accepted.is_empty(),
        "ours accepts:\n{}",
        accepted.join("\n")
    );
}
