//! Both runtime modes (our JIT and our interpreter) checked against a reference model of the
//! RFC 9669 instruction set — not only against each other.
//!
//! * Targeted cases with hand-computed results, among them every defect rbpf 0.4.1 had (the
//!   runtime's engine before our own VM).
//! * Differential tests: thousands of seeded random programs (straight-line code with forward
//!   jumps; each seed once with the base ISA and once with atomics, ISA v4 and BPF-to-BPF
//!   calls) run in the model, the JIT and the interpreter; R0 and the R1 buffer must agree.
//!   A failure prints the program seed, a shrunk program and its disassembly; rerun one program
//!   with `ISA_SEED=<seed> cargo test -p axebpf-core --test isa_reference random -- --nocapture`.

#[path = "isa/asm.rs"]
mod asm;
#[path = "isa/generate.rs"]
mod generate;
#[path = "isa/model.rs"]
mod model;

use asm::{Insn, alu, jmp, size};
use axebpf_core::platform::host::HostPlatform;
use axebpf_core::runtime::{ExecMode, Program, RuntimeError};

const MODES: [ExecMode; 2] = [ExecMode::Jit, ExecMode::Interpreter];

/// R0 and the final R1 buffer.
type Outcome<E> = Result<(u64, Vec<u8>), E>;

struct Results {
    model: Outcome<model::ModelError>,
    modes: [Outcome<RuntimeError>; 2],
}

impl Results {
    fn agree(&self) -> bool {
        match &self.model {
            Ok(expected) => self.modes.iter().all(|m| m.as_ref().ok() == Some(expected)),
            Err(_) => false,
        }
    }

    fn describe(&self) -> String {
        let mut out = format!("  model:       {}\n", show(&self.model));
        for (mode, result) in MODES.iter().zip(&self.modes) {
            out += &format!("  {:<12} {}\n", format!("{mode}:"), show(result));
        }
        out
    }
}

fn show<E: std::fmt::Debug>(outcome: &Outcome<E>) -> String {
    match outcome {
        Ok((r0, mem)) => format!("Ok(r0 = {r0:#018x}, mem = {})", hex(mem)),
        Err(e) => format!("Err({e:?})"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn run_mode(code: &[u8], mode: ExecMode, mem: &[u8]) -> Outcome<RuntimeError> {
    let program = Program::load(code, mode, &[])?;
    // An 8-aligned copy: the model's buffer is aligned, so its atomics there are too.
    let mut words = vec![0u64; mem.len().div_ceil(8)];
    let buffer = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..mem.len()];
    buffer.copy_from_slice(mem);
    let r0 = program.run(buffer)?;
    Ok((r0, buffer.to_vec()))
}

fn run_all(code: &[u8], mem: &[u8]) -> Results {
    HostPlatform::install();
    let mut model_mem = mem.to_vec();
    let model = model::run(code, &mut model_mem).map(|(r0, _)| (r0, model_mem));
    Results {
        model,
        modes: MODES.map(|mode| run_mode(code, mode, mem)),
    }
}

/// Runs `insns` (with a small R1 buffer) and checks the model, the JIT and the interpreter all
/// return `expected`.
#[track_caller]
fn check(what: &str, insns: &[Insn], expected: u64) {
    if let Err(message) = try_check(what, insns, expected) {
        panic!("{message}");
    }
}

fn try_check(what: &str, insns: &[Insn], expected: u64) -> Result<(), String> {
    let code = asm::assemble(insns);
    let results = run_all(&code, &[0; 32]);
    let r0 = |o: &Outcome<_>| o.as_ref().ok().map(|(r0, _)| *r0);
    let model_ok = results.model.as_ref().ok().map(|(r0, _)| *r0) == Some(expected);
    if model_ok && results.modes.iter().all(|m| r0(m) == Some(expected)) {
        return Ok(());
    }
    Err(format!(
        "{what}: expected r0 = {expected:#018x}\n{}program:\n{}",
        results.describe(),
        asm::disassemble(&code)
    ))
}

/// Runs every case, then fails listing all the failures (not just the first).
#[track_caller]
fn check_all(cases: &[(String, Vec<Insn>, u64)]) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(what, insns, expected)| try_check(what, insns, *expected).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// `lddw dst, value` as a `Vec`, to chain programs.
fn lddw(dst: u8, value: u64) -> Vec<Insn> {
    asm::ld_imm64(dst, value).to_vec()
}

fn prog(parts: &[&[Insn]]) -> Vec<Insn> {
    parts.concat()
}

/// `r1 = value; op; r0 = r1; exit` — exercises a register other than r0 (a REX-free one in the
/// JIT: rdi), then the same with r3 (rdx, used by div), r4 (r9) and r9 (r15).
fn unary_cases(
    what: &str,
    value: u64,
    op: fn(u8) -> Insn,
    expected: u64,
) -> Vec<(String, Vec<Insn>, u64)> {
    [0u8, 1, 3, 4, 6, 9]
        .iter()
        .map(|&r| {
            (
                format!("{what} on r{r} = {value:#x}"),
                prog(&[
                    &lddw(r, value),
                    &[op(r), asm::alu64_reg(alu::MOV, 0, r), asm::exit()],
                ]),
                expected,
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Targeted cases: the instructions rbpf 0.4.1 computed wrongly, with hand-computed results.
// ---------------------------------------------------------------------------------------------

#[test]
fn mov32_reg_clears_the_upper_half() {
    let mut cases = Vec::new();
    for (src, dst) in [(1u8, 0u8), (0, 1), (2, 2), (6, 9), (9, 3)] {
        cases.push((
            format!("mov32 r{dst}, r{src}"),
            prog(&[
                &lddw(dst, 0xffff_ffff_ffff_ffff),
                &lddw(src, 0xdead_beef_1234_5678),
                &[
                    asm::alu32_reg(alu::MOV, dst, src),
                    asm::alu64_reg(alu::MOV, 0, dst),
                    asm::exit(),
                ],
            ]),
            0x1234_5678,
        ));
    }
    cases.push((
        "mov32 r0, -1".into(),
        prog(&[
            &lddw(0, 0x1234_5678_0000_0000),
            &[asm::alu32_imm(alu::MOV, 0, -1), asm::exit()],
        ]),
        0xffff_ffff,
    ));
    cases.push((
        "mov64 r0, -1".into(),
        vec![asm::alu64_imm(alu::MOV, 0, -1), asm::exit()],
        u64::MAX,
    ));
    check_all(&cases);
}

#[test]
fn le_truncates_and_be_swaps() {
    let v = 0x1122_3344_5566_7788;
    let mut cases = Vec::new();
    cases.extend(unary_cases("le16", v, |r| asm::le(r, 16), 0x7788));
    cases.extend(unary_cases("le32", v, |r| asm::le(r, 32), 0x5566_7788));
    cases.extend(unary_cases("le64", v, |r| asm::le(r, 64), v));
    cases.extend(unary_cases("be16", v, |r| asm::be(r, 16), 0x8877));
    cases.extend(unary_cases("be32", v, |r| asm::be(r, 32), 0x8877_6655));
    cases.extend(unary_cases(
        "be64",
        v,
        |r| asm::be(r, 64),
        0x8877_6655_4433_2211,
    ));
    let w = 0xffee_ddcc_bbaa_9988;
    cases.extend(unary_cases("le16", w, |r| asm::le(r, 16), 0x9988));
    cases.extend(unary_cases("le32", w, |r| asm::le(r, 32), 0xbbaa_9988));
    cases.extend(unary_cases("be16", w, |r| asm::be(r, 16), 0x8899));
    cases.extend(unary_cases("be32", w, |r| asm::be(r, 32), 0x8899_aabb));
    cases.extend(unary_cases(
        "be64",
        w,
        |r| asm::be(r, 64),
        0x8899_aabb_ccdd_eeff,
    ));
    check_all(&cases);
}

#[test]
fn neg_wraps_and_neg32_zero_extends() {
    let mut cases = Vec::new();
    cases.extend(unary_cases("neg64", 1 << 63, asm::neg64, 1 << 63));
    cases.extend(unary_cases("neg64", 5, asm::neg64, 5u64.wrapping_neg()));
    cases.extend(unary_cases("neg64", 0, asm::neg64, 0));
    cases.extend(unary_cases("neg64", u64::MAX, asm::neg64, 1));
    cases.extend(unary_cases(
        "neg32",
        0xffff_ffff_8000_0000,
        asm::neg32,
        0x8000_0000,
    ));
    cases.extend(unary_cases(
        "neg32",
        0x1234_5678_0000_0001,
        asm::neg32,
        0xffff_ffff,
    ));
    cases.extend(unary_cases("neg32", 0xffff_ffff_0000_0000, asm::neg32, 0));
    check_all(&cases);
}

/// `r1 = value; (r2 = rhs;) if r1 <op> imm/r2 goto +1; r1 += 1; r0 = r1; exit`: the result is
/// `value` when the jump is taken, `value + 1` when not — which also checks that r1 is left
/// intact on both edges.
fn jump_case(insn: Insn, value: u64, rhs: Option<u64>, taken: bool) -> (String, Vec<Insn>, u64) {
    let mut insns = lddw(1, value);
    if let Some(rhs) = rhs {
        insns.extend(lddw(2, rhs));
    }
    insns.extend([
        insn,
        asm::alu64_imm(alu::ADD, 1, 1),
        asm::alu64_reg(alu::MOV, 0, 1),
        asm::exit(),
    ]);
    let what = format!(
        "{} with r1 = {value:#x}{} (taken: {taken})",
        asm::describe(&insn, None),
        rhs.map_or(String::new(), |r| format!(", r2 = {r:#x}"))
    );
    (what, insns, value.wrapping_add(u64::from(!taken)))
}

#[test]
fn jumps_sign_extend_negative_immediates() {
    const A: u64 = 0xffff_ffff; // what a zero-extended -1 would be
    const M: u64 = u64::MAX; // the sign-extended -1
    use jmp::{JEQ, JGE, JGT, JLE, JLT, JNE};
    // (op, r1, imm, taken), computed by hand with imm sign-extended to 64 bits.
    let table: &[(u8, u64, i32, bool)] = &[
        (JEQ, A, -1, false),
        (JEQ, M, -1, true),
        (JNE, A, -1, true),
        (JNE, M, -1, false),
        (JGT, A, -1, false),
        (JGT, M, -1, false),
        (JGT, M, -2, true),
        (JGE, A, -1, false),
        (JGE, M, -1, true),
        (JLT, A, -1, true),
        (JLT, M, -1, false),
        (JLE, A, -1, true),
        (JLE, M, -1, true),
        (JLE, M, -2, false),
        (JEQ, 0xffff_ffff_8000_0000, i32::MIN, true),
        (JEQ, 0x8000_0000, i32::MIN, false),
        (JGT, 0x8000_0000, i32::MIN, false),
        (JLT, 0x8000_0000, i32::MIN, true),
        (JGE, 0xffff_ffff_8000_0000, i32::MIN, true),
        (JGT, 0xffff_ffff_8000_0000, i32::MIN, false),
        (JLE, 0, -1, true),
        (JGT, 0, -1, false),
        (JLT, 0, -1, true),
        (JNE, 0, -1, true),
        (JGE, 1 << 63, -1, false),
        (JLE, 1 << 63, -0x8000, true),
        (JGT, u64::MAX - 0x7ffe, -0x8000, true),
        (JGT, u64::MAX - 0x7fff, -0x8000, false),
        (JEQ, u64::MAX - 0x7fff, -0x8000, true),
    ];
    let mut cases = Vec::new();
    for &(op, value, imm, taken) in table {
        cases.push(jump_case(asm::jmp_imm(op, 1, imm, 1), value, None, taken));
        // The register form with the sign-extended immediate must agree.
        let rhs = Some(i64::from(imm) as u64);
        cases.push(jump_case(asm::jmp_reg(op, 1, 2, 1), value, rhs, taken));
    }
    // JMP32 compares the low halves: -1 is 0xffffffff there.
    let table32: &[(u8, u64, i32, bool)] = &[
        (JEQ, A, -1, true),
        (JEQ, 0x1234_5678_ffff_ffff, -1, true),
        (JNE, M, -1, false),
        (JGT, A, -2, true),
        (JLT, 0xffff_ffff_0000_0000, -1, true),
        (JGE, 0x0000_0000_8000_0000, i32::MIN, true),
        (JLE, 0xffff_ffff_7fff_ffff, i32::MIN, true),
    ];
    for &(op, value, imm, taken) in table32 {
        cases.push(jump_case(asm::jmp32_imm(op, 1, imm, 1), value, None, taken));
    }
    // Signed and bit-test jumps against negative immediates (not rewritten: checked anyway).
    let signed: &[(u8, u64, i32, bool)] = &[
        (jmp::JSGT, A, -1, true),
        (jmp::JSGT, M, -1, false),
        (jmp::JSGE, M, -1, true),
        (jmp::JSLT, M, -1, false),
        (jmp::JSLT, 1 << 63, i32::MIN, true),
        (jmp::JSLE, 0xffff_ffff_8000_0000, i32::MIN, true),
        (jmp::JSET, 0x8000_0000_0000_0000, i32::MIN, true),
        (jmp::JSET, 0x0000_0000_7fff_ffff, i32::MIN, false),
    ];
    for &(op, value, imm, taken) in signed {
        cases.push(jump_case(asm::jmp_imm(op, 1, imm, 1), value, None, taken));
    }
    check_all(&cases);
}

/// Every conditional jump, 64- and 32-bit, immediate and register, on a grid of values; the
/// expected outcome is computed from the RFC definitions directly (not by the model).
#[test]
fn jump_grid_matches_the_rfc() {
    let values: [u64; 8] = [
        0,
        1,
        A_32,
        u64::MAX,
        1 << 63,
        0xffff_ffff_8000_0000,
        0x8000_0000,
        0x1_0000_0000,
    ];
    const A_32: u64 = 0xffff_ffff;
    let imms: [i32; 7] = [0, 1, -1, -2, i32::MIN, i32::MAX, 0x7fff];
    let taken = |op: u8, a: u64, b: u64, wide: bool| -> bool {
        let (a, b, sa, sb) = if wide {
            (a, b, a as i64, b as i64)
        } else {
            let (a, b) = (a as u32, b as u32);
            (
                u64::from(a),
                u64::from(b),
                i64::from(a as i32),
                i64::from(b as i32),
            )
        };
        match op {
            jmp::JEQ => a == b,
            jmp::JNE => a != b,
            jmp::JGT => a > b,
            jmp::JGE => a >= b,
            jmp::JLT => a < b,
            jmp::JLE => a <= b,
            jmp::JSET => a & b != 0,
            jmp::JSGT => sa > sb,
            jmp::JSGE => sa >= sb,
            jmp::JSLT => sa < sb,
            _ => sa <= sb,
        }
    };
    let mut cases = Vec::new();
    for op in jmp::CONDITIONAL {
        for value in values {
            for imm in imms {
                let rhs = i64::from(imm) as u64;
                cases.push(jump_case(
                    asm::jmp_imm(op, 1, imm, 1),
                    value,
                    None,
                    taken(op, value, rhs, true),
                ));
                cases.push(jump_case(
                    asm::jmp32_imm(op, 1, imm, 1),
                    value,
                    None,
                    taken(op, value, rhs, false),
                ));
            }
            for rhs in values {
                cases.push(jump_case(
                    asm::jmp_reg(op, 1, 2, 1),
                    value,
                    Some(rhs),
                    taken(op, value, rhs, true),
                ));
                cases.push(jump_case(
                    asm::jmp32_reg(op, 1, 2, 1),
                    value,
                    Some(rhs),
                    taken(op, value, rhs, false),
                ));
            }
        }
    }
    check_all(&cases);
}

/// `r1 = value; (r2 = shift;) arsh r1, shift; r0 = r1; exit`.
fn shift_case(
    op: u8,
    is64: bool,
    value: u64,
    shift: i32,
    by_reg: bool,
    expected: u64,
) -> (String, Vec<Insn>, u64) {
    let insn = match (is64, by_reg) {
        (true, true) => asm::alu64_reg(op, 1, 2),
        (true, false) => asm::alu64_imm(op, 1, shift),
        (false, true) => asm::alu32_reg(op, 1, 2),
        (false, false) => asm::alu32_imm(op, 1, shift),
    };
    let mut insns = lddw(1, value);
    // Garbage above the masked bits of the shift register, which must be ignored.
    insns.extend(lddw(2, 0xabcd_ef00_0000_0000 | shift as u32 as u64));
    insns.extend([insn, asm::alu64_reg(alu::MOV, 0, 1), asm::exit()]);
    let what = format!(
        "{} with r1 = {value:#x}, shift {shift}",
        asm::describe(&insn, None)
    );
    (what, insns, expected)
}

#[test]
fn arsh_sign_fills_and_masks_the_shift() {
    let min = 1u64 << 63;
    let neg5 = (-5i64) as u64;
    // (value, shift, expected) for arsh64, by hand.
    let table64: &[(u64, i32, u64)] = &[
        (min, 0, min),
        (min, 1, 0xc000_0000_0000_0000),
        (min, 31, 0xffff_ffff_0000_0000),
        (min, 32, 0xffff_ffff_8000_0000),
        (min, 63, u64::MAX),
        (min, 64, min), // masked to 0
        (min, 65, 0xc000_0000_0000_0000),
        (neg5, 0, neg5),
        (neg5, 1, (-3i64) as u64),
        (neg5, 31, u64::MAX),
        (neg5, 32, u64::MAX),
        (neg5, 63, u64::MAX),
        (neg5, 64, neg5),
        (0x7fff_ffff_ffff_ffff, 63, 0),
        (0xffff_ffff_0000_0000, 32, u64::MAX),
    ];
    // arsh32 works on the low half and zero-extends.
    let table32: &[(u64, i32, u64)] = &[
        (0x1234_5678_8000_0000, 0, 0x8000_0000),
        (0x1234_5678_8000_0000, 1, 0xc000_0000),
        (0x1234_5678_8000_0000, 31, 0xffff_ffff),
        (0x1234_5678_8000_0000, 32, 0x8000_0000), // masked to 0
        (0x1234_5678_8000_0000, 33, 0xc000_0000),
        (0xffff_ffff_ffff_fffb, 1, 0xffff_fffd),
        (0x8000_0000_7fff_ffff, 31, 0),
    ];
    let mut cases = Vec::new();
    for by_reg in [false, true] {
        for &(value, shift, expected) in table64 {
            cases.push(shift_case(alu::ARSH, true, value, shift, by_reg, expected));
        }
        for &(value, shift, expected) in table32 {
            cases.push(shift_case(alu::ARSH, false, value, shift, by_reg, expected));
        }
    }
    check_all(&cases);
}

#[test]
fn logical_shifts_mask_and_32_bit_shifts_zero_extend() {
    let v = 0x8123_4567_89ab_cdef;
    let table: &[(u8, bool, i32, u64)] = &[
        (alu::LSH, true, 0, v),
        (alu::LSH, true, 4, 0x1234_5678_9abc_def0),
        (alu::LSH, true, 63, 1 << 63),
        (alu::LSH, true, 64, v),
        (alu::RSH, true, 4, 0x0812_3456_789a_bcde),
        (alu::RSH, true, 63, 1),
        (alu::RSH, true, 64, v),
        (alu::LSH, false, 0, 0x89ab_cdef),
        (alu::LSH, false, 4, 0x9abc_def0),
        (alu::LSH, false, 32, 0x89ab_cdef),
        (alu::LSH, false, 36, 0x9abc_def0),
        (alu::RSH, false, 0, 0x89ab_cdef),
        (alu::RSH, false, 4, 0x089a_bcde),
        (alu::RSH, false, 31, 1),
        (alu::RSH, false, 32, 0x89ab_cdef),
    ];
    let mut cases = Vec::new();
    for by_reg in [false, true] {
        for &(op, is64, shift, expected) in table {
            cases.push(shift_case(op, is64, v, shift, by_reg, expected));
        }
    }
    check_all(&cases);
}

/// `r1 = dividend; r2 = divisor; op r1, r2 (or imm); r0 = r1; exit`.
fn divmod_case(insn: Insn, dividend: u64, divisor: u64, expected: u64) -> (String, Vec<Insn>, u64) {
    let insns = prog(&[
        &lddw(1, dividend),
        &lddw(2, divisor),
        &[insn, asm::alu64_reg(alu::MOV, 0, 1), asm::exit()],
    ]);
    let what = format!(
        "{} with r1 = {dividend:#x}, r2 = {divisor:#x}",
        asm::describe(&insn, None)
    );
    (what, insns, expected)
}

#[test]
fn division_by_zero_gives_zero_and_64_bit_modulo_keeps_dst() {
    let v = 0xdead_beef_1234_5678;
    let cases = vec![
        divmod_case(asm::alu64_reg(alu::DIV, 1, 2), v, 0, 0),
        divmod_case(asm::alu64_imm(alu::DIV, 1, 0), v, 0, 0),
        divmod_case(asm::alu32_reg(alu::DIV, 1, 2), v, 0, 0),
        divmod_case(asm::alu32_imm(alu::DIV, 1, 0), v, 0, 0),
        // Only the low 32 bits of the divisor count in 32-bit division.
        divmod_case(asm::alu32_reg(alu::DIV, 1, 2), v, 0x1_0000_0000, 0),
        divmod_case(asm::alu64_reg(alu::MOD, 1, 2), v, 0, v),
        divmod_case(asm::alu64_imm(alu::MOD, 1, 0), v, 0, v),
        // Ordinary cases, unsigned; ALU64 immediates are sign-extended first.
        divmod_case(
            asm::alu64_reg(alu::DIV, 1, 2),
            v,
            0x10,
            0x0dea_dbee_f123_4567,
        ),
        divmod_case(asm::alu64_reg(alu::MOD, 1, 2), v, 0x10, 8),
        divmod_case(asm::alu64_imm(alu::DIV, 1, -1), v, 0, 0),
        divmod_case(asm::alu64_imm(alu::DIV, 1, -1), u64::MAX, 0, 1),
        divmod_case(asm::alu64_imm(alu::MOD, 1, -1), v, 0, v),
        divmod_case(asm::alu64_imm(alu::MOD, 1, -1), u64::MAX, 0, 0),
        divmod_case(asm::alu32_imm(alu::DIV, 1, -1), 0xffff_ffff_ffff_ffff, 0, 1),
        divmod_case(asm::alu32_imm(alu::DIV, 1, -1), v, 0, 0),
        divmod_case(asm::alu32_imm(alu::MOD, 1, -1), v, 0, 0x1234_5678),
        divmod_case(asm::alu32_imm(alu::DIV, 1, 0x10), v, 0, 0x0123_4567),
        divmod_case(asm::alu32_reg(alu::MOD, 1, 2), v, 0xffff_ffff_0000_0010, 8),
        // mul32 keeps the low half, mul64 wraps.
        divmod_case(
            asm::alu32_reg(alu::MUL, 1, 2),
            v,
            0x1_0000_0002,
            0x2468_acf0,
        ),
        divmod_case(asm::alu64_imm(alu::MUL, 1, -1), v, 0, v.wrapping_neg()),
    ];
    check_all(&cases);
}

/// RFC 9669 §4.1: "if execution would result in modulo by zero, for ALU64 the value of the
/// destination register is unchanged whereas for ALU the upper 32 bits of the destination
/// register are zeroed". rbpf 0.4.1 leaves the whole register unchanged in both modes (the
/// interpreter's `MOD32_* if … == 0 => ()`, the JIT's skip over the `div`).
#[test]
fn mod32_by_zero_zeroes_the_upper_half() {
    let v = 0xdead_beef_1234_5678;
    check_all(&[
        divmod_case(asm::alu32_reg(alu::MOD, 1, 2), v, 0, 0x1234_5678),
        divmod_case(
            asm::alu32_reg(alu::MOD, 1, 2),
            v,
            0xffff_ffff_0000_0000,
            0x1234_5678,
        ),
        divmod_case(asm::alu32_imm(alu::MOD, 1, 0), v, 0, 0x1234_5678),
    ]);
}

#[test]
fn loads_and_stores_have_the_rfc_widths() {
    // Store every width to the stack and to the R1 buffer, read back with every width.
    let v = 0x8877_6655_4433_2211;
    let mut cases = Vec::new();
    for (base, off) in [(10u8, -16i16), (6, 8)] {
        let setup = |insns: &[Insn]| {
            prog(&[
                &[asm::alu64_reg(alu::MOV, 6, 1)],
                &lddw(2, v),
                &[asm::st(size::DW, base, off, 0)],
                insns,
                &[asm::exit()],
            ])
        };
        for (sz, stored) in [
            (size::B, 0x11),
            (size::H, 0x2211),
            (size::W, 0x4433_2211),
            (size::DW, v),
        ] {
            cases.push((
                format!("stx{sz:#x} then ldxdw via r{base}"),
                setup(&[asm::stx(sz, base, 2, off), asm::ldx(size::DW, 0, base, off)]),
                stored,
            ));
        }
        // ST immediates: DW sign-extends the 32-bit immediate.
        for (sz, imm, stored) in [
            (size::B, -1, 0xff),
            (size::H, -1, 0xffff),
            (size::W, -1, 0xffff_ffff),
            (size::DW, -1, u64::MAX),
            (size::DW, i32::MIN, 0xffff_ffff_8000_0000),
            (size::DW, 0x7fff_ffff, 0x7fff_ffff),
        ] {
            cases.push((
                format!("st{sz:#x} {imm} then ldxdw via r{base}"),
                setup(&[
                    asm::st(sz, base, off, imm),
                    asm::ldx(size::DW, 0, base, off),
                ]),
                stored,
            ));
        }
        // Loads zero-extend and overwrite the whole register.
        for (sz, loaded) in [
            (size::B, 0x88u64),
            (size::H, 0x8877),
            (size::W, 0x8877_6655),
        ] {
            cases.push((
                format!("ldx{sz:#x} zero-extends via r{base}"),
                setup(&[
                    asm::stx(size::DW, base, 2, off),
                    asm::alu64_imm(alu::MOV, 0, -1),
                    asm::ldx(sz, 0, base, off + (8 - size::bytes(sz) as i16)),
                ]),
                loaded,
            ));
        }
    }
    check_all(&cases);
}

#[test]
fn the_model_agrees_with_itself_on_a_known_program() {
    // A sanity check of the model's control flow: sum 1..=4 unrolled with a skipped block.
    let insns = prog(&[&[
        asm::alu64_imm(alu::MOV, 0, 0),
        asm::alu64_imm(alu::ADD, 0, 1),
        asm::alu64_imm(alu::ADD, 0, 2),
        asm::jmp_imm(jmp::JEQ, 0, 3, 1),
        asm::alu64_imm(alu::ADD, 0, 100),
        asm::alu64_imm(alu::ADD, 0, 3),
        asm::jmp_imm(jmp::JNE, 0, 6, 2),
        asm::alu64_imm(alu::ADD, 0, 4),
        asm::ja(1),
        asm::alu64_imm(alu::ADD, 0, 1000),
        asm::exit(),
    ]]);
    check("control flow", &insns, 10);
}

// ---------------------------------------------------------------------------------------------
// Differential tests: random programs.
// ---------------------------------------------------------------------------------------------

/// Body length of program `seed`: 8 to 71 chunks.
fn chunks(seed: u64) -> usize {
    8 + (seed % 64) as usize
}

fn disagreement(program: &generate::Program, mem: &[u8]) -> Option<Results> {
    let results = run_all(&program.code(), mem);
    (!results.agree()).then_some(results)
}

/// Drops body chunks while the disagreement stays, then returns the smallest program.
fn shrink(mut program: generate::Program, mem: &[u8]) -> generate::Program {
    let mut index = 0;
    while index < program.body.len() {
        let candidate = program.without_chunk(index);
        if disagreement(&candidate, mem).is_some() {
            program = candidate;
        } else {
            index += 1;
        }
    }
    program
}

/// Which registers differ: runs the program once per register with `r0 = rX; exit` as epilogue.
fn register_report(program: &generate::Program, mem: &[u8]) -> String {
    let mut out = String::new();
    for r in 0..=9u8 {
        let variant = program.with_epilogue(vec![asm::alu64_reg(alu::MOV, 0, r), asm::exit()]);
        let results = run_all(&variant.code(), mem);
        if !results.agree() {
            out += &format!(" r{r} at exit:\n{}", results.describe());
        }
    }
    out
}

fn check_program(seed: u64, features: generate::Features) -> Result<(), String> {
    let (program, mem) = generate::program_with(seed, chunks(seed), features);
    let Some(results) = disagreement(&program, &mem) else {
        return Ok(());
    };
    let small = shrink(program.clone(), &mem);
    Err(format!(
        "program seed {seed:#x} (rerun: ISA_SEED={seed:#x}): the modes disagree with the model\n\
         {}shrunk to {} body chunks:\n{}registers that differ in the shrunk program:\n{}\
         R1 buffer: {}\nfull program:\n{}",
        results.describe(),
        small.body.len(),
        asm::disassemble(&small.code()),
        register_report(&small, &mem),
        hex(&mem),
        asm::disassemble(&program.code()),
    ))
}

fn random_programs() {
    let mut failures = Vec::new();
    let seeds = generate::program_seeds();
    // Each seed twice: the base ISA, and with atomics, ISA v4 and BPF-to-BPF calls.
    'seeds: for &seed in &seeds {
        for features in [generate::Features::BASE, generate::Features::ALL] {
            if let Err(message) = check_program(seed, features) {
                failures.push(message);
                if failures.len() == 3 {
                    break 'seeds;
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing program(s) (stopped after 3; {} programs planned):\n\n{}",
        failures.len(),
        seeds.len() * 2,
        failures.join("\n\n")
    );
}

#[test]
fn random_programs_match_the_model() {
    random_programs();
}

#[test]
fn generated_programs_are_valid_and_deterministic() {
    // The generator's invariants: the model runs every program to `exit`, a seed always gives the
    // same program, and the programs branch both ways.
    let (mut taken, mut not_taken, mut steps, mut insns) = (0, 0, 0, 0);
    for seed in 0..500 {
        let (a, mem_a) = generate::program(seed, chunks(seed));
        let (b, mem_b) = generate::program(seed, chunks(seed));
        assert_eq!(a.code(), b.code());
        assert_eq!(mem_a, mem_b);
        let mut mem = mem_a.clone();
        match model::run(&a.code(), &mut mem) {
            Ok((_, machine)) => {
                taken += machine.taken;
                not_taken += machine.not_taken;
                steps += machine.steps;
                insns += a.insns().len();
            }
            Err(e) => panic!("seed {seed}: {e:?}\n{}", asm::disassemble(&a.code())),
        }
    }
    println!(
        "500 programs: {insns} instructions, {steps} executed, jumps {taken} taken / {not_taken} not"
    );
    assert!(
        taken * 4 > taken + not_taken,
        "too few jumps taken: {taken} / {not_taken}"
    );
    assert!(
        not_taken * 4 > taken + not_taken,
        "too few jumps not taken: {taken} / {not_taken}"
    );
}
