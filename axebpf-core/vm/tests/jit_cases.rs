//! Targeted JIT cases, one family of instructions at a time: each program runs compiled and
//! interpreted, and both must give the hand-computed result (or, over every register pair, the
//! same result). Also: what compilation refuses, and that it accepts exactly what the
//! interpreter runs.

#![cfg(target_arch = "x86_64")]

mod builders;
mod support;

use axebpf_vm::insn::{Insn, LdImm64, alu, atomic, class, jmp, mode, size, source};
use axebpf_vm::jit::{self, JitError};
use axebpf_vm::{ErrorKind, Helper, MAX_FRAMES, Vm};

use builders::*;

/// Runs `insns` compiled, on a copy of `ctx`; returns r0 and the context afterwards.
fn jit_run(insns: &[Insn], ctx: &[u8], helpers: &[Option<Helper>]) -> (u64, Vec<u8>) {
    let exe = support::load(&code(insns), helpers).unwrap_or_else(|e| panic!("compile: {e}"));
    let mut ctx = ctx.to_vec();
    // SAFETY: the test programs access only their stack and the context.
    let r0 = unsafe { exe.run(&mut ctx) };
    (r0, ctx)
}

/// Runs `insns` interpreted and compiled; both must finish with the same r0 and context.
#[track_caller]
fn both_with(insns: &[Insn], ctx: &[u8], helpers: &[Option<Helper>]) -> u64 {
    let mut interp_ctx = ctx.to_vec();
    let expected = Vm::new(helpers)
        .run(&code(insns), &mut interp_ctx)
        .unwrap_or_else(|e| panic!("interpreter: {e}"));
    let (r0, jit_ctx) = jit_run(insns, ctx, helpers);
    assert_eq!(r0, expected, "r0: jit {r0:#x}, interpreter {expected:#x}");
    assert_eq!(jit_ctx, interp_ctx, "context after the run");
    r0
}

#[track_caller]
fn both(insns: &[Insn]) -> u64 {
    both_with(insns, &[0; 64], &[])
}

/// Runs every `(name, program, expected r0)` case both ways and lists all failures at once.
#[track_caller]
fn check_all(cases: Vec<(String, Vec<Insn>, u64)>) {
    let total = cases.len();
    let failures: Vec<String> = cases
        .into_iter()
        .filter_map(|(name, insns, expected)| {
            let interpreted = Vm::new(&[]).run(&code(&insns), &mut [0; 64]);
            let (compiled, _) = jit_run(&insns, &[0; 64], &[]);
            (interpreted != Ok(expected) || compiled != expected).then(|| {
                format!(
                    "{name}: expected {expected:#x}, jit {compiled:#x}, interpreter \
                     {interpreted:x?}"
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `r1 = a; r2 = b; r1 op= r2 (or imm b); r0 = r1; exit`, in both source forms.
fn binary(
    c: &mut Vec<(String, Vec<Insn>, u64)>,
    wide: bool,
    op: u8,
    off: i16,
    a: u64,
    b: i32,
    e: u64,
) {
    let cls = if wide { class::ALU64 } else { class::ALU };
    for (form, insn) in [
        ("imm", Insn::new(cls | op | source::K, 1, 0, off, b)),
        ("reg", Insn::new(cls | op | source::X, 1, 2, off, 0)),
    ] {
        c.push((
            format!("{cls:#x}|{op:#x} off {off} {form}: {a:#x}, {b:#x}"),
            [
                lddw(1, a),
                lddw(2, i64::from(b) as u64),
                vec![insn, mov0(1), exit()],
            ]
            .concat(),
            e,
        ));
    }
}

/// Registers r0–r9 set to distinct, edge-rich values.
fn init_registers(values: &[u64; 10]) -> Vec<Insn> {
    (0..10u8)
        .flat_map(|r| lddw(r, values[r as usize]))
        .collect()
}

/// Folds r0–r9 into r0 (a bijective mix, so one wrong register changes it) and exits.
fn fold() -> Vec<Insn> {
    fold_into_r0(1..=9)
}

/// Folds `registers` into r0 as [`fold`] does, and exits.
fn fold_into_r0(registers: impl IntoIterator<Item = u8>) -> Vec<Insn> {
    let mut out = Vec::new();
    for r in registers {
        out.push(alu64_imm(alu::MUL, 0, 0x0100_0193));
        out.push(alu64_reg(alu::XOR, 0, r));
    }
    out.push(exit());
    out
}

const VALUES: [[u64; 10]; 3] = [
    [
        0x8000_0000_0000_0000,
        u64::MAX,
        7,
        0xffff_ffff_8000_0000,
        65,
        0x1234_5678_9abc_def0,
        3,
        0x8000_0000,
        0xffff_ffff,
        0xdead_beef_0000_0021,
    ],
    [
        0,
        0x21,
        0x4_0000_0003,
        0,
        0xffff_ffff_ffff_fff9,
        1,
        0x7fff_ffff,
        0x100,
        2,
        64,
    ],
    [
        u64::MAX - 1,
        0x8000_0000_0000_0000,
        0xffff_ffff,
        0x1_0000_0000,
        u64::MAX,
        63,
        0x8000_0000,
        0,
        0x0fff_0000_0000_0007,
        0xffff_ffff_ffff_ff80,
    ],
];

// --- Arithmetic --------------------------------------------------------------------------------

/// Every ALU operation (with every ISA v4 form) on every (dst, src) register pair, three sets of
/// register values, both widths and both source forms: all registers must come out as the
/// interpreter leaves them (division and shifts borrow rax, rdx and rcx).
#[test]
fn alu_on_every_register_pair() {
    let ops: [(u8, i16); 17] = [
        (alu::ADD, 0),
        (alu::SUB, 0),
        (alu::MUL, 0),
        (alu::DIV, 0),
        (alu::DIV, 1),
        (alu::OR, 0),
        (alu::AND, 0),
        (alu::LSH, 0),
        (alu::RSH, 0),
        (alu::MOD, 0),
        (alu::MOD, 1),
        (alu::XOR, 0),
        (alu::MOV, 0),
        (alu::MOV, 8),
        (alu::MOV, 16),
        (alu::MOV, 32),
        (alu::ARSH, 0),
    ];
    let mut programs = 0;
    for values in &VALUES {
        for cls in [class::ALU64, class::ALU] {
            for (op, off) in ops {
                if cls == class::ALU && off == 32 {
                    continue;
                }
                for dst in 0..10 {
                    // Not r10: its value differs between the two runs.
                    for src in 0..10 {
                        let insn = Insn::new(cls | op | source::X, dst, src, off, 0);
                        both(&[init_registers(values), vec![insn], fold()].concat());
                        programs += 1;
                    }
                    if off > 1 {
                        continue; // sign-extending moves have no immediate form
                    }
                    for imm in [0, 1, -1, 7, -7, 31, 32, 63, 64, i32::MIN, i32::MAX] {
                        let insn = Insn::new(cls | op | source::K, dst, 0, off, imm);
                        both(&[init_registers(values), vec![insn], fold()].concat());
                        programs += 1;
                    }
                }
            }
            for dst in 0..10 {
                for insn in [
                    Insn::new(cls | alu::NEG, dst, 0, 0, 0),
                    Insn::new(cls | alu::END | source::K, dst, 0, 0, 16),
                    Insn::new(cls | alu::END | source::K, dst, 0, 0, 32),
                    Insn::new(cls | alu::END | source::K, dst, 0, 0, 64),
                ] {
                    both(&[init_registers(values), vec![insn], fold()].concat());
                    programs += 1;
                }
            }
        }
    }
    assert!(programs > 10_000);
}

#[test]
fn signed_division_and_modulo_edges() {
    let mut c = Vec::new();
    let min64 = i64::MIN as u64;
    let min32 = i32::MIN as u32 as u64;
    for (wide, min) in [(true, min64), (false, min32)] {
        let minus_one = if wide { u64::MAX } else { 0xffff_ffff };
        // MIN / -1 = MIN, MIN % -1 = 0 (x86's idiv would fault).
        binary(&mut c, wide, alu::DIV, 1, min, -1, min);
        binary(&mut c, wide, alu::MOD, 1, min, -1, 0);
        // By zero: division gives 0, modulo keeps dst (32 bits: zero-extended).
        binary(&mut c, wide, alu::DIV, 1, 0xffff_ffff_0000_0007, 0, 0);
        let kept = if wide { 0xffff_ffff_0000_0007 } else { 7 };
        binary(&mut c, wide, alu::MOD, 1, 0xffff_ffff_0000_0007, 0, kept);
        binary(&mut c, wide, alu::DIV, 0, 0xffff_ffff_0000_0007, 0, 0);
        binary(&mut c, wide, alu::MOD, 0, 0xffff_ffff_0000_0007, 0, kept);
        // Signs: -7 / 2 = -3, -7 % 2 = -1, 7 % -2 = 1; unsigned sees -7 as huge.
        let neg = |v: i64| {
            if wide {
                v as u64
            } else {
                v as i32 as u32 as u64
            }
        };
        binary(&mut c, wide, alu::DIV, 1, neg(-7), 2, neg(-3));
        binary(&mut c, wide, alu::MOD, 1, neg(-7), 2, neg(-1));
        binary(&mut c, wide, alu::MOD, 1, 7, -2, 1);
        binary(&mut c, wide, alu::DIV, 1, neg(-8), -1, 8);
        binary(&mut c, wide, alu::DIV, 0, minus_one, 2, minus_one / 2);
        binary(&mut c, wide, alu::MOD, 0, minus_one, 10, minus_one % 10);
    }
    check_all(c);
}

#[test]
fn sign_extending_moves_and_loads() {
    let mut c = Vec::new();
    let v = 0x1234_5678_8000_ff80u64;
    for (wide, off, expected) in [
        (true, 8, 0xffff_ffff_ffff_ff80),
        (true, 16, 0xffff_ffff_ffff_ff80),
        (true, 32, 0xffff_ffff_8000_ff80),
        (false, 8, 0xffff_ff80),
        (false, 16, 0xffff_ff80),
    ] {
        let cls = if wide { class::ALU64 } else { class::ALU };
        c.push((
            format!("movsx{off} wide={wide}"),
            [
                lddw(1, v),
                vec![Insn::new(cls | alu::MOV | source::X, 0, 1, off, 0), exit()],
            ]
            .concat(),
            expected,
        ));
    }
    // Positive values stay positive.
    c.push((
        "movsx8 of 0x7f".into(),
        [
            lddw(1, 0xffff_ff7f),
            vec![
                Insn::new(class::ALU64 | alu::MOV | source::X, 0, 1, 8, 0),
                exit(),
            ],
        ]
        .concat(),
        0x7f,
    ));
    for (sz, expected) in [
        (size::B, 0xffff_ffff_ffff_ff80),
        (size::H, 0xffff_ffff_ffff_ff80),
        (size::W, 0xffff_ffff_8000_ff80),
    ] {
        c.push((
            format!("ldsx size {sz:#x}"),
            [
                lddw(1, v),
                vec![stx(size::DW, 10, 1, -8), ldsx(sz, 0, 10, -8), exit()],
            ]
            .concat(),
            expected,
        ));
        // Zero-extending loads of the same bytes, for contrast.
        c.push((
            format!("ldx size {sz:#x}"),
            [
                lddw(1, v),
                vec![stx(size::DW, 10, 1, -8), ldx(sz, 0, 10, -8), exit()],
            ]
            .concat(),
            expected & (u64::MAX >> (64 - 8 * size::bytes(sz))),
        ));
    }
    check_all(c);
}

#[test]
fn byte_swaps_of_every_width() {
    let v = 0x0102_0304_0506_0708u64;
    let mut c = Vec::new();
    for (opcode, width, expected) in [
        (class::ALU | alu::END | source::K, 16, 0x0708), // le16: truncates
        (class::ALU | alu::END | source::K, 32, 0x0506_0708),
        (class::ALU | alu::END | source::K, 64, v),
        (class::ALU | alu::END | source::X, 16, 0x0807), // be16: swaps and truncates
        (class::ALU | alu::END | source::X, 32, 0x0807_0605),
        (class::ALU | alu::END | source::X, 64, 0x0807_0605_0403_0201),
        (class::ALU64 | alu::END | source::K, 16, 0x0807), // bswap16
        (class::ALU64 | alu::END | source::K, 32, 0x0807_0605),
        (
            class::ALU64 | alu::END | source::K,
            64,
            0x0807_0605_0403_0201,
        ),
    ] {
        for dst in [0, 1, 6, 9] {
            c.push((
                format!("{opcode:#x} {width} r{dst}"),
                [
                    lddw(dst, v),
                    vec![Insn::new(opcode, dst, 0, 0, width), mov0(dst), exit()],
                ]
                .concat(),
                expected,
            ));
        }
    }
    check_all(c);
}

#[test]
fn shifts_by_the_width_and_more_are_masked() {
    let mut c = Vec::new();
    let v = 0x8000_0000_8000_0001u64;
    for (by, l64, r64, a64) in [
        (64, v, v, v),
        (65, v << 1, v >> 1, ((v as i64) >> 1) as u64),
        (127, v << 63, v >> 63, u64::MAX),
        (0, v, v, v),
    ] {
        binary(&mut c, true, alu::LSH, 0, v, by, l64);
        binary(&mut c, true, alu::RSH, 0, v, by, r64);
        binary(&mut c, true, alu::ARSH, 0, v, by, a64);
    }
    let low = v as u32;
    for (by, l32, r32, a32) in [
        (32, low, low, low),
        (33, low << 1, low >> 1, ((low as i32) >> 1) as u32),
        (63, low << 31, low >> 31, u32::MAX),
        (0, low, low, low),
    ] {
        // The 32-bit forms zero-extend even when the masked count is 0.
        binary(&mut c, false, alu::LSH, 0, v, by, l32.into());
        binary(&mut c, false, alu::RSH, 0, v, by, r32.into());
        binary(&mut c, false, alu::ARSH, 0, v, by, a32.into());
    }
    check_all(c);
}

// --- Jumps -------------------------------------------------------------------------------------

#[test]
fn every_condition_in_both_widths() {
    // r1 = a, r2 = b; if r1 <cond> r2 goto +1 (r0 = 1, taken); r0 = 0 (not taken).
    let pairs: [(u64, i32); 6] = [
        (5, 5),
        (5, 6),
        (6, 5),
        (u64::MAX, 1),
        (0xffff_ffff_0000_0001, -1),
        (0x1_0000_0005, 5),
    ];
    let mut c = Vec::new();
    for (cond, f) in [
        (
            jmp::JEQ,
            (|a, b, _, _| a == b) as fn(u64, u64, i64, i64) -> bool,
        ),
        (jmp::JNE, |a, b, _, _| a != b),
        (jmp::JGT, |a, b, _, _| a > b),
        (jmp::JGE, |a, b, _, _| a >= b),
        (jmp::JLT, |a, b, _, _| a < b),
        (jmp::JLE, |a, b, _, _| a <= b),
        (jmp::JSET, |a, b, _, _| a & b != 0),
        (jmp::JSGT, |_, _, a, b| a > b),
        (jmp::JSGE, |_, _, a, b| a >= b),
        (jmp::JSLT, |_, _, a, b| a < b),
        (jmp::JSLE, |_, _, a, b| a <= b),
    ] {
        for (a, b) in pairs {
            let b64 = i64::from(b) as u64;
            let (a32, b32) = (a as u32, b as u32);
            let taken64 = f(a, b64, a as i64, b64 as i64);
            let taken32 = f(
                a32.into(),
                b32.into(),
                (a32 as i32).into(),
                (b32 as i32).into(),
            );
            for (form, insn, taken) in [
                ("jmp imm", jmp_imm(cond, 1, b, 1), taken64),
                ("jmp reg", jmp_reg(cond, 1, 2, 1), taken64),
                ("jmp32 imm", jmp32_imm(cond, 1, b, 1), taken32),
                ("jmp32 reg", jmp32_reg(cond, 1, 2, 1), taken32),
            ] {
                c.push((
                    format!("{form} {cond:#x}: {a:#x}, {b:#x}"),
                    [
                        lddw(1, a),
                        lddw(2, b64),
                        vec![
                            alu64_imm(alu::MOV, 0, 1),
                            insn,
                            alu64_imm(alu::MOV, 0, 0),
                            exit(),
                        ],
                    ]
                    .concat(),
                    u64::from(taken),
                ));
            }
        }
    }
    check_all(c);
}

#[test]
fn ja_gotol_and_backward_loops() {
    // gotol over 3 slots, ja over 1; then a loop summing 10..1.
    let program = [
        alu64_imm(alu::MOV, 0, 0),
        gotol(3),
        alu64_imm(alu::MOV, 0, -1),
        exit(),
        exit(),
        ja(1),
        exit(),
        alu64_imm(alu::MOV, 1, 10),
        // loop:
        alu64_reg(alu::ADD, 0, 1),
        alu64_imm(alu::SUB, 1, 1),
        jmp_imm(jmp::JNE, 1, 0, -3),
        exit(),
    ];
    assert_eq!(both(&program), 55);
    // A long gotol, past what a 16-bit offset reaches.
    let mut long = vec![alu64_imm(alu::MOV, 0, 7), gotol(40_000)];
    long.extend(std::iter::repeat_n(alu64_imm(alu::ADD, 0, 1), 40_000));
    long.push(exit());
    assert_eq!(both(&long), 7);
}

/// Jumps whose distance crosses what an 8-bit displacement reaches (the JIT picks `rel8` from
/// a first pass's layout): forward and backward, conditional (both widths) and `ja`, over
/// fillers of mixed sizes so every byte distance around the edge occurs.
#[test]
fn jumps_around_the_edge_of_short_reach() {
    let filler = |i: usize| alu64_imm(alu::ADD, 0, if i.is_multiple_of(3) { 0x1000 } else { 1 });
    let fillers = |n: usize| (0..n).map(filler).collect::<Vec<_>>();
    let sum = |n: usize| {
        (0..n)
            .map(|i| if i.is_multiple_of(3) { 0x1000 } else { 1 })
            .sum::<u64>()
    };
    for n in 8..48 {
        let jumps: [Insn; 3] = [
            jmp_imm(jmp::JEQ, 2, 0, n as i16),
            jmp32_imm(jmp::JNE, 2, 1, n as i16),
            ja(n as i16),
        ];
        for jump in jumps {
            // r0 = 0; r2 = 0; jump over n fillers; exit.
            let mut p = vec![alu64_imm(alu::MOV, 0, 0), alu64_imm(alu::MOV, 2, 0), jump];
            p.extend(fillers(n));
            p.push(exit());
            assert_eq!(both(&p), 0, "forward over {n}");
        }
        // r0 = 0; r3 = 3; loop: n fillers; r3 -= 1; if r3 != 0 goto loop (or ja back).
        let mut p = vec![alu64_imm(alu::MOV, 0, 0), alu64_imm(alu::MOV, 3, 3)];
        p.extend(fillers(n));
        p.push(alu64_imm(alu::SUB, 3, 1));
        p.push(jmp_imm(jmp::JNE, 3, 0, -(n as i16) - 2));
        p.push(exit());
        assert_eq!(both(&p), 3 * sum(n), "backward over {n}");
        // The same loop closed by `ja`: if r3 == 0 exit; ja back.
        let mut p = vec![alu64_imm(alu::MOV, 0, 0), alu64_imm(alu::MOV, 3, 3)];
        p.extend(fillers(n));
        p.push(alu64_imm(alu::SUB, 3, 1));
        p.push(jmp_imm(jmp::JEQ, 3, 0, 1));
        p.push(ja(-(n as i16) - 3));
        p.push(exit());
        assert_eq!(both(&p), 3 * sum(n), "ja back over {n}");
    }
}

// --- Memory ------------------------------------------------------------------------------------

#[test]
fn loads_and_stores_of_every_size_through_the_context() {
    let ctx: Vec<u8> = (0..64).map(|i| i as u8 ^ 0xa5).collect();
    for sz in [size::B, size::H, size::W, size::DW] {
        for off in [0i16, 8, 40] {
            // Loads from the context, immediate stores (a negative immediate is sign-extended,
            // then truncated) and register stores of every register back into it, through
            // several registers as the base.
            for base in [1u8, 2, 5, 6, 9] {
                for value in (0..10u8).filter(|&r| r != base) {
                    let program = [
                        vec![alu64_reg(alu::MOV, base, 1)],
                        lddw(value, 0x8877_6655_4433_2211),
                        vec![
                            ldx(sz, 0, base, off),
                            st(sz, base, off + 8, -2),
                            stx(sz, base, value, off + 16),
                            ldsx(size::B, 3, base, off + 1),
                            alu64_reg(alu::XOR, 0, 3),
                            alu64_imm(alu::MOV, base, 0), // the pointer differs between runs
                            exit(),
                        ],
                    ]
                    .concat();
                    both_with(&program, &ctx, &[]);
                }
            }
        }
    }
    // A byte of r10 (bpl needs a REX prefix): store it, load it back, compare.
    let program = [
        stx(size::B, 10, 10, -8),
        ldx(size::B, 0, 10, -8),
        alu64_reg(alu::MOV, 1, 10),
        alu64_imm(alu::AND, 1, 0xff),
        alu64_reg(alu::SUB, 0, 1),
        exit(),
    ];
    assert_eq!(both(&program), 0);
}

// --- Atomics -----------------------------------------------------------------------------------

/// Every atomic operation, both widths, every (base, src) register pair and both CMPXCHG
/// outcomes: memory, the fetched value and every other register as the interpreter leaves them.
#[test]
fn atomics_on_every_register_pair() {
    let ops = [
        atomic::ADD,
        atomic::OR,
        atomic::AND,
        atomic::XOR,
        atomic::ADD | atomic::FETCH,
        atomic::OR | atomic::FETCH,
        atomic::AND | atomic::FETCH,
        atomic::XOR | atomic::FETCH,
        atomic::XCHG,
        atomic::CMPXCHG,
    ];
    let mut programs = 0;
    for values in &VALUES {
        for sz in [size::W, size::DW] {
            for op in ops {
                for base in 0..10u8 {
                    for src in (0..10u8).filter(|&s| s != base) {
                        if op == atomic::CMPXCHG && base == 0 {
                            continue; // r0 is the comparand there
                        }
                        // Memory starts equal to r0 (CMPXCHG succeeds) or not (fails).
                        for matching in [true, false] {
                            let init = if matching { values[0] } else { !values[0] };
                            let program = [
                                init_registers(values),
                                lddw(base, init),
                                vec![
                                    stx(size::DW, 10, base, -16),
                                    alu64_reg(alu::MOV, base, 10),
                                    alu64_imm(alu::ADD, base, -16),
                                    atomic_op(sz, base, src, 0, op),
                                    // The pointer differs between runs: replace it.
                                    alu64_imm(alu::MOV, base, 0x5a5a),
                                ],
                                fold()[..fold().len() - 1].to_vec(),
                                vec![
                                    ldx(size::DW, 1, 10, -16),
                                    alu64_imm(alu::MUL, 0, 0x0100_0193),
                                    alu64_reg(alu::XOR, 0, 1),
                                    exit(),
                                ],
                            ]
                            .concat();
                            both(&program);
                            programs += 1;
                        }
                    }
                }
            }
        }
    }
    assert!(programs > 5000);
}

#[test]
fn atomics_hand_computed() {
    let init = 0xaaaa_aaaa_f0f0_f0f0u64;
    let x = 0x1111_1111_8f0f_0f0fu64;
    // *(r10-8) = init; r1 = x; r0 = r0_init; atomic; r0 = register `result` or the memory (0xff).
    let case = |sz, op, r0_init: u64, result: u8| {
        [
            lddw(2, init),
            vec![stx(size::DW, 10, 2, -8)],
            lddw(1, x),
            lddw(0, r0_init),
            vec![atomic_op(sz, 10, 1, -8, op)],
            if result == 0xff {
                vec![ldx(size::DW, 0, 10, -8)]
            } else {
                vec![mov0(result)]
            },
            vec![exit()],
        ]
        .concat()
    };
    let mut c = Vec::new();
    let high = init & 0xffff_ffff_0000_0000;
    for fetch in [0, atomic::FETCH] {
        for (name, op, m64, m32) in [
            (
                "add",
                atomic::ADD,
                init.wrapping_add(x),
                (init as u32).wrapping_add(x as u32),
            ),
            ("or", atomic::OR, init | x, init as u32 | x as u32),
            ("and", atomic::AND, init & x, init as u32 & x as u32),
            ("xor", atomic::XOR, init ^ x, init as u32 ^ x as u32),
        ] {
            let op = op | fetch;
            c.push((
                format!("{name}{fetch} dw mem"),
                case(size::DW, op, 0, 0xff),
                m64,
            ));
            c.push((
                format!("{name}{fetch} w mem"),
                case(size::W, op, 0, 0xff),
                high | u64::from(m32),
            ));
            let (s64, s32) = if fetch != 0 {
                (init, init & 0xffff_ffff)
            } else {
                (x, x)
            };
            c.push((
                format!("{name}{fetch} dw src"),
                case(size::DW, op, 0, 1),
                s64,
            ));
            c.push((format!("{name}{fetch} w src"), case(size::W, op, 0, 1), s32));
        }
    }
    // XCHG: memory gets src, src gets the old value (zero-extended for W).
    c.push((
        "xchg dw mem".into(),
        case(size::DW, atomic::XCHG, 0, 0xff),
        x,
    ));
    c.push((
        "xchg dw src".into(),
        case(size::DW, atomic::XCHG, 0, 1),
        init,
    ));
    c.push((
        "xchg w mem".into(),
        case(size::W, atomic::XCHG, 0, 0xff),
        high | (x & 0xffff_ffff),
    ));
    c.push((
        "xchg w src".into(),
        case(size::W, atomic::XCHG, 0, 1),
        init & 0xffff_ffff,
    ));
    // CMPXCHG success: memory = src, r0 = old; failure: memory kept, r0 = current. The 32-bit
    // forms compare the low halves and zero-extend r0 either way.
    let cmp = atomic::CMPXCHG;
    c.push((
        "cmpxchg dw ok mem".into(),
        case(size::DW, cmp, init, 0xff),
        x,
    ));
    c.push((
        "cmpxchg dw ok r0".into(),
        case(size::DW, cmp, init, 0),
        init,
    ));
    c.push((
        "cmpxchg dw fail mem".into(),
        case(size::DW, cmp, 5, 0xff),
        init,
    ));
    c.push(("cmpxchg dw fail r0".into(), case(size::DW, cmp, 5, 0), init));
    let r0_low_match = 0x5555_5555_0000_0000 | (init & 0xffff_ffff);
    c.push((
        "cmpxchg w ok mem".into(),
        case(size::W, cmp, r0_low_match, 0xff),
        high | (x & 0xffff_ffff),
    ));
    c.push((
        "cmpxchg w ok r0".into(),
        case(size::W, cmp, r0_low_match, 0),
        init & 0xffff_ffff,
    ));
    c.push((
        "cmpxchg w fail mem".into(),
        case(size::W, cmp, 5, 0xff),
        init,
    ));
    c.push((
        "cmpxchg w fail r0".into(),
        case(size::W, cmp, 0xffff_ffff_0000_0005, 0),
        init & 0xffff_ffff,
    ));
    check_all(c);
}

// --- Calls -------------------------------------------------------------------------------------

extern "C" fn mix5(a: u64, b: u64, c: u64, d: u64, e: u64) -> u64 {
    a ^ b.rotate_left(8) ^ c.rotate_left(16) ^ d.rotate_left(24) ^ e.rotate_left(32)
}

extern "C" fn twice(a: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    a.wrapping_mul(2)
}

/// Returns `rsp & 15` as the helper sees it on entry: 8 when its caller's rsp was 16-byte aligned
/// at the `call`, as the System V ABI requires.
#[unsafe(naked)]
extern "C" fn rsp_mod_16(_: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    core::arch::naked_asm!("mov rax, rsp", "and rax, 15", "ret")
}

/// Helper calls follow the eBPF ABI: r1–r5 are the arguments and caller-saved (the verifier
/// refuses to read them after a call; the JIT does not keep them, the interpreter does), r6–r9
/// survive, r0 is the result.
#[test]
fn helper_calls_get_five_arguments_and_keep_r6_to_r9() {
    let helpers: [Option<Helper>; 3] = [None, Some(mix5), Some(twice)];
    let program = [
        init_registers(&VALUES[0]),
        vec![call(1)],
        fold_into_r0(6..=9),
    ]
    .concat();
    both_with(&program, &[], &helpers);
    let v = &VALUES[0];
    let simple = [init_registers(v), vec![call(1), exit()]].concat();
    assert_eq!(
        both_with(&simple, &[], &helpers),
        mix5(v[1], v[2], v[3], v[4], v[5])
    );
}

#[test]
fn helpers_see_an_aligned_stack_at_every_depth() {
    let helpers: [Option<Helper>; 2] = [None, Some(rsp_mod_16)];
    // main: r6 = h(); call f; r0 += r6; exit. f: r6 = h(); call g; r0 += r6; exit. g: r0 = h().
    let program = [
        call(1),
        mov0(0),
        alu64_reg(alu::MOV, 6, 0),
        call_local(2), // -> f at 6
        alu64_reg(alu::ADD, 0, 6),
        exit(),
        // f (pc 6)
        call(1),
        alu64_reg(alu::MOV, 6, 0),
        call_local(2), // -> g at 11
        alu64_reg(alu::ADD, 0, 6),
        exit(),
        // g (pc 11)
        call(1),
        exit(),
    ];
    let (r0, _) = jit_run(&program, &[], &helpers);
    assert_eq!(
        r0, 24,
        "each of three helper calls must see rsp ≡ 8 (mod 16)"
    );
    let (r0, _) = jit_run(&[call(1), exit()], &[], &helpers);
    assert_eq!(r0, 8);
}

/// `r0 = code; exit` unless `reg == imm`.
fn expect(reg: u8, imm: i32, code: i32) -> [Insn; 3] {
    [
        jmp_imm(jmp::JEQ, reg, imm, 2),
        alu64_imm(alu::MOV, 0, code),
        exit(),
    ]
}

/// Main, with `r6`–`r(5 + regs)` set, the frame used or not, calling the helper and (when
/// `local`) a subprogram f that clobbers those registers, uses its own frame and calls the
/// helper and a subprogram g that calls it too. Returns 0 when every helper call saw an aligned
/// stack and the registers and frames survived, else a code naming the check that failed.
fn entry_shape(regs: u8, frames: bool, local: bool) -> Vec<Insn> {
    let set = |value: i32| -> Vec<Insn> {
        (6..6 + regs)
            .map(|r| alu64_imm(alu::MOV, r, value + i32::from(r)))
            .collect()
    };
    let check_regs = |value: i32, code: i32| -> Vec<Insn> {
        (6..6 + regs)
            .flat_map(|r| expect(r, value + i32::from(r), code))
            .collect()
    };
    let slot = |value: i32| -> Vec<Insn> {
        if frames {
            vec![st(size::DW, 10, -8, value)]
        } else {
            vec![]
        }
    };
    let check_slot = |value: i32, code: i32| -> Vec<Insn> {
        if frames {
            let mut v = vec![ldx(size::DW, 2, 10, -8)];
            v.extend(expect(2, value, code));
            v
        } else {
            vec![]
        }
    };
    let pass_on = [jmp_imm(jmp::JEQ, 0, 0, 1), exit()];
    let done = [alu64_imm(alu::MOV, 0, 0), exit()];
    // g: r0 = h(); check; r0 = 0.
    let mut g = vec![call(1)];
    g.extend(expect(0, 8, 7));
    g.extend(done);
    // f: clobber; own slot; r0 = h(); check; call g; pass its failure on; check the slot.
    let mut f = [set(200), slot(2), vec![call(1)]].concat();
    f.extend(expect(0, 8, 5));
    let call_g = f.len();
    f.push(call_local(0));
    f.extend(pass_on);
    f.extend(check_slot(2, 6));
    f.extend(done);
    // main: set; slot; r0 = h(); check; [call f; pass its failure on]; check regs and slot.
    let mut main = [set(100), slot(1), vec![call(1)]].concat();
    main.extend(expect(0, 8, 1));
    let call_f = main.len();
    if local {
        main.push(call_local(0));
        main.extend(pass_on);
    }
    main.extend(check_regs(100, 3));
    main.extend(check_slot(1, 4));
    main.extend(done);
    if !local {
        return main;
    }
    // Patch the calls: f follows main, g follows f.
    let f_at = main.len();
    let g_at = f_at + f.len();
    main[call_f] = call_local((f_at - call_f - 1) as i32);
    f[call_g] = call_local((g_at - (f_at + call_g) - 1) as i32);
    [main, f, g].concat()
}

#[test]
fn helpers_see_an_aligned_stack_whatever_the_entry_saves() {
    let helpers: [Option<Helper>; 2] = [None, Some(rsp_mod_16)];
    for regs in 0..=4 {
        for frames in [false, true] {
            for local in [false, true] {
                let (r0, _) = jit_run(&entry_shape(regs, frames, local), &[], &helpers);
                assert_eq!(
                    r0,
                    0,
                    "r6..r{} set, frames {frames}, local calls {local}: check {r0} failed",
                    5 + regs
                );
            }
        }
    }
}

/// The main program's every `exit` returns from the entry point with the callee-saved
/// registers restored (a Rust caller would notice otherwise, with luck; the helper-free
/// programs here check r0 only, across many exits and shapes).
#[test]
fn every_exit_of_main_returns_with_the_entry_undone() {
    for regs in 0..=4u8 {
        for frames in [false, true] {
            // r6.. = r1 + r; branch on r1 to one of three exits, each returning a different sum.
            let mut p: Vec<Insn> = (6..6 + regs)
                .map(|r| alu64_imm(alu::MOV, r, i32::from(r)))
                .collect();
            if frames {
                p.push(st(size::DW, 10, -8, 1000));
            }
            p.push(alu64_imm(alu::MOV, 0, 0));
            for r in 6..6 + regs {
                p.push(alu64_reg(alu::ADD, 0, r));
            }
            if frames {
                p.push(ldx(size::DW, 2, 10, -8));
                p.push(alu64_reg(alu::ADD, 0, 2));
            }
            p.push(ldx(size::DW, 3, 1, 0));
            p.push(jmp_imm(jmp::JEQ, 3, 1, 2));
            p.push(jmp_imm(jmp::JEQ, 3, 2, 3));
            p.push(exit());
            p.push(alu64_imm(alu::ADD, 0, 10));
            p.push(exit());
            p.push(alu64_imm(alu::ADD, 0, 20));
            p.push(exit());
            let base = (6..6 + u64::from(regs)).sum::<u64>() + if frames { 1000 } else { 0 };
            for (selector, extra) in [(0u64, 0), (1, 10), (2, 20)] {
                let ctx = selector.to_le_bytes();
                assert_eq!(both_with(&p, &ctx, &[]), base + extra);
            }
        }
    }
}

#[test]
fn local_calls_get_their_own_frame_and_preserve_r6_to_r9() {
    let helpers: [Option<Helper>; 3] = [None, Some(mix5), Some(twice)];
    let program = [
        // main: r6..r9 = 6..9; *(r10-8) = 0x1111; r1 = &main's slot; call f.
        alu64_imm(alu::MOV, 6, 6),
        alu64_imm(alu::MOV, 7, 7),
        alu64_imm(alu::MOV, 8, 8),
        alu64_imm(alu::MOV, 9, 9),
        st(size::DW, 10, -8, 0x1111),
        alu64_reg(alu::MOV, 1, 10),
        alu64_imm(alu::ADD, 1, -8),
        call_local(10), // -> f at 18
        // r0 = f's result + main's slot (f rewrote it through r1) + r6..r9.
        ldx(size::DW, 2, 10, -8),
        alu64_reg(alu::ADD, 0, 2),
        alu64_imm(alu::MUL, 0, 10),
        alu64_reg(alu::ADD, 0, 6),
        alu64_imm(alu::MUL, 0, 10),
        alu64_reg(alu::ADD, 0, 7),
        alu64_imm(alu::MUL, 0, 10),
        alu64_reg(alu::ADD, 0, 8),
        alu64_reg(alu::ADD, 0, 9),
        exit(),
        // f (pc 18): clobbers r6..r9, writes its own slot, doubles the caller's slot through r1
        // with a helper, returns its own slot's value.
        alu64_imm(alu::MOV, 6, -1),
        alu64_imm(alu::MOV, 7, -1),
        alu64_imm(alu::MOV, 8, -1),
        alu64_imm(alu::MOV, 9, -1),
        st(size::DW, 10, -8, 0x22),
        alu64_reg(alu::MOV, 6, 1),
        ldx(size::DW, 1, 6, 0),
        call(2),
        stx(size::DW, 6, 0, 0),
        ldx(size::DW, 0, 10, -8),
        exit(),
    ];
    // ((0x22 + 0x2222) * 10 + 6) * 10 + 7) * 10 + 8 + 9
    let expected = (((0x22 + 0x2222) * 10 + 6) * 10 + 7) * 10 + 8 + 9;
    assert_eq!(both_with(&program, &[], &helpers), expected);
}

/// `frames` frames: main and `frames - 1` nested subprograms, each storing its depth in its own
/// frame, calling the next, then adding its slot to r0 (so every frame must be distinct).
fn chain(frames: usize) -> Vec<Insn> {
    let mut p = Vec::new();
    for depth in 0..frames {
        p.push(st(size::DW, 10, -8, depth as i32 + 1));
        p.push(st(size::DW, 10, -512, 0x100)); // the bottom of the frame too
        if depth + 1 < frames {
            p.push(call_local(3)); // -> the next subprogram, 6 slots on
        } else {
            p.push(alu64_imm(alu::MOV, 0, 0));
        }
        p.push(ldx(size::DW, 1, 10, -8));
        p.push(alu64_reg(alu::ADD, 0, 1));
        p.push(exit());
    }
    p
}

#[test]
fn eight_frames_compile_and_nine_are_refused() {
    let sum = |n: u64| n * (n + 1) / 2;
    assert_eq!(both(&chain(MAX_FRAMES)), sum(MAX_FRAMES as u64));
    assert_eq!(both(&chain(3)), sum(3));
    assert_eq!(jit::analyse(&code(&chain(3)), &[]).unwrap().frames, 3);
    let nine = code(&chain(MAX_FRAMES + 1));
    assert!(matches!(
        jit::compile(&nine, &[]),
        Err(JitError::CallDepth { frames: 9, .. })
    ));
    // The interpreter refuses it too, when it gets there.
    assert_eq!(
        Vm::new(&[]).run(&nine, &mut []).unwrap_err().kind,
        ErrorKind::CallDepth
    );
}

#[test]
fn recursion_is_refused() {
    // main: r1 = 3; call f; exit. f: if r1 == 0 exit; r1 -= 1; call f; exit.
    let program = [
        alu64_imm(alu::MOV, 1, 3),
        call_local(1),
        exit(),
        jmp_imm(jmp::JEQ, 1, 0, 2),
        alu64_imm(alu::SUB, 1, 1),
        call_local(-3),
        exit(),
    ];
    assert_eq!(
        jit::compile(&code(&program), &[]),
        Err(JitError::Recursion { pc: 5 })
    );
    // Mutual recursion, and a call of main.
    let mutual = [
        call_local(1),
        exit(),
        call_local(1),
        exit(),
        call_local(-3),
        exit(),
    ];
    assert_eq!(
        jit::compile(&code(&mutual), &[]),
        Err(JitError::Recursion { pc: 4 })
    );
    assert_eq!(
        jit::compile(&code(&[call_local(-1), exit()]), &[]),
        Err(JitError::Recursion { pc: 0 })
    );
}

#[test]
fn refusals_name_the_pc() {
    let helpers: [Option<Helper>; 2] = [None, Some(twice)];
    let compile = |insns: &[Insn]| jit::compile(&code(insns), &helpers);
    for id in [0, 2, -1] {
        assert_eq!(
            compile(&[alu64_imm(alu::MOV, 0, 0), call(id), exit()]),
            Err(JitError::UnknownHelper { pc: 1, id })
        );
    }
    assert_eq!(
        compile(&[alu64_imm(alu::MOV, 0, 0)]),
        Err(JitError::FallsThrough { pc: 0 })
    );
    assert_eq!(
        compile(&[exit(), jmp_imm(jmp::JEQ, 0, 0, -2)]),
        Err(JitError::FallsThrough { pc: 1 })
    );
    assert_eq!(
        compile(&[exit(), LdImm64::split(0, 1)[0], LdImm64::split(0, 1)[1]]),
        Err(JitError::FallsThrough { pc: 1 })
    );
    assert_eq!(
        compile(&[ja(5), exit()]),
        Err(JitError::JumpOutOfRange { pc: 0, target: 6 })
    );
    assert_eq!(
        compile(&[gotol(-2), exit()]),
        Err(JitError::JumpOutOfRange { pc: 0, target: -1 })
    );
    let kfunc = Insn::new(class::JMP | jmp::CALL, 0, 2, 0, 1);
    assert_eq!(
        compile(&[kfunc, exit()]),
        Err(JitError::UnsupportedPseudo { pc: 0, src: 2 })
    );
    let mut map = LdImm64::split(1, 0);
    map[0].src = 1;
    assert_eq!(
        compile(&[exit(), map[0], map[1], exit()]),
        Err(JitError::UnsupportedPseudo { pc: 1, src: 1 })
    );
    let ld_abs = Insn::new(class::LD | mode::ABS | size::W, 0, 0, 0, 0);
    let ld_ind = Insn::new(class::LD | mode::IND | size::B, 0, 1, 0, 0);
    for insn in [ld_abs, ld_ind] {
        assert_eq!(
            compile(&[insn, exit()]),
            Err(JitError::LegacyPacketAccess {
                pc: 0,
                opcode: insn.opcode
            })
        );
    }
    assert_eq!(
        compile(&[exit(), alu64_imm(alu::MOV, 10, 0), exit()]),
        Err(JitError::BadRegister { pc: 1, reg: 10 })
    );
    assert_eq!(
        jit::compile(&[0; 12], &[]),
        Err(JitError::CodeLength { pc: 1, len: 12 })
    );
    assert_eq!(
        jit::compile(&[], &[]),
        Err(JitError::CodeLength { pc: 0, len: 0 })
    );
    let e = JitError::UnknownHelper { pc: 3, id: 9 };
    assert_eq!(e.to_string(), "pc 3: unknown helper 9");
}

// --- Acceptance mirrors the interpreter --------------------------------------------------------

/// What a one-instruction program's check says, in terms both sides share; `None` for outcomes
/// only one side has (run-time faults, static control-flow refusals).
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Runs,
    Unknown(u8),
    Bad(u8),
    Register(u8),
    Pseudo(u8),
    Helper(i32),
}

/// Every opcode with a spread of register, offset and immediate fields: compilation accepts
/// exactly the instructions the interpreter runs, refusing the rest for the same reason.
#[test]
fn acceptance_mirrors_the_interpreter() {
    let helpers: [Option<Helper>; 2] = [None, Some(twice)];
    let imms = [
        0, 1, 16, 32, 64, -1, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe0, 0xe1, 0xf0, 0xf1, 0x101,
    ];
    let (mut compared, mut accepted) = (0, 0);
    let mut vm = Vm::new(&helpers);
    vm.set_budget(16); // `gotol -1` loops
    for opcode in 0..=255u8 {
        // The immediate selects the operation only for byte swaps, calls, atomics and LD_IMM64.
        let cls = opcode & class::MASK;
        let imms: &[i32] = if (matches!(cls, class::ALU | class::ALU64)
            && opcode & alu::MASK == alu::END)
            || (cls == class::JMP && opcode & 0xf0 == jmp::CALL)
            || (cls == class::STX && opcode & mode::MASK == mode::ATOMIC)
            || cls == class::LD
        {
            &imms
        } else {
            &[0, -1]
        };
        for dst in [0u8, 1, 10, 11] {
            for src in [0u8, 1, 2, 10, 12] {
                for off in [0i16, 1, 8, 16, 32, -8] {
                    for &imm in imms {
                        let insn = Insn::new(opcode, dst, src, off, imm);
                        let mut program = vec![insn];
                        if insn.is_ld_imm64() {
                            program.push(Insn::new(0, 0, 0, 0, imm));
                        }
                        program.push(exit());
                        let bytes = code(&program);
                        // An aligned 16-byte context behind r1 (r10 - 8 is fine too).
                        let mut ctx = [0u64; 2];
                        // SAFETY: reinterpreting a u64 array as bytes.
                        let ctx_bytes = unsafe {
                            std::slice::from_raw_parts_mut(ctx.as_mut_ptr().cast::<u8>(), 16)
                        };
                        let interpreted = match vm.run(&bytes, ctx_bytes) {
                            Ok(_) => Some(Verdict::Runs),
                            Err(e) => match e.kind {
                                ErrorKind::UnknownOpcode(o) => Some(Verdict::Unknown(o)),
                                ErrorKind::BadEncoding(o) => Some(Verdict::Bad(o)),
                                ErrorKind::BadRegister(r) => Some(Verdict::Register(r)),
                                ErrorKind::UnsupportedPseudo(s) => Some(Verdict::Pseudo(s)),
                                ErrorKind::UnknownHelper(id) => Some(Verdict::Helper(id)),
                                _ => None,
                            },
                        };
                        let compiled = match jit::analyse(&bytes, &helpers) {
                            Ok(_) => Some(Verdict::Runs),
                            Err(e) => match e {
                                JitError::UnknownOpcode { opcode, .. }
                                | JitError::LegacyPacketAccess { opcode, .. } => {
                                    Some(Verdict::Unknown(opcode))
                                }
                                JitError::BadEncoding { opcode, .. } => Some(Verdict::Bad(opcode)),
                                JitError::BadRegister { reg, .. } => Some(Verdict::Register(reg)),
                                JitError::UnsupportedPseudo { src, .. } => {
                                    Some(Verdict::Pseudo(src))
                                }
                                JitError::UnknownHelper { id, .. } => Some(Verdict::Helper(id)),
                                _ => None,
                            },
                        };
                        if let (Some(i), Some(c)) = (&interpreted, &compiled) {
                            assert_eq!(c, i, "{insn:?}");
                            compared += 1;
                            accepted += usize::from(*c == Verdict::Runs);
                        }
                    }
                }
            }
        }
    }
    println!("{compared} instructions checked both ways, {accepted} accepted");
    assert!(compared > 50_000, "compared {compared}");
    assert!(accepted > 3_000, "accepted {accepted}");
}

// --- ARRAY lookups compiled in place -------------------------------------------------------------

/// What the inlined lookup must agree with: the helper it replaces, here for one array of four
/// 16-byte values.
static mut ARRAY: [[u64; 2]; 4] = [[0; 2]; 4];
const HANDLE: u64 = 0x1234;

extern "C" fn lookup(map: u64, key: u64, _: u64, _: u64, _: u64) -> u64 {
    // SAFETY: the programs pass a pointer to their 4-byte key on the stack.
    let index = unsafe { (key as *const u32).read_unaligned() } as usize;
    match (map, index) {
        // SAFETY: only the address is taken.
        (HANDLE, i) if i < 4 => (unsafe { core::ptr::addr_of_mut!(ARRAY[i]) }) as u64,
        _ => 0,
    }
}

#[test]
fn array_lookups_compiled_in_place_agree_with_the_helper() {
    let base = core::ptr::addr_of_mut!(ARRAY) as u64;
    let arrays = [jit::ArrayLayout {
        handle: HANDLE,
        base,
        stride: 16,
        entries: 4,
    }];
    let inline = jit::Inline {
        lookup_helper: 1,
        arrays: &arrays,
    };
    let helpers: [Option<Helper>; 2] = [None, Some(lookup)];
    for key in [0u32, 1, 3, 4, 5, u32::MAX] {
        // *(u32 *)(r10 - 4) = key; r2 = r10 - 4; r1 = map; r0 = lookup(r1, r2); exit
        let program = [
            vec![
                st(size::W, 10, -4, key as i32),
                alu64_reg(alu::MOV, 2, 10),
                alu64_imm(alu::ADD, 2, -4),
            ],
            lddw(1, HANDLE),
            vec![call(1), exit()],
        ]
        .concat();
        let code = code(&program);
        let inlined = support::Executable::new(
            &jit::compile_inlining(&code, &helpers, &inline).expect("compiles"),
        );
        let called = support::load(&code, &helpers).expect("compiles");
        // SAFETY: the programs touch only their stack; the helper only reads the key.
        let (a, b) = unsafe { (inlined.run(&mut []), called.run(&mut [])) };
        assert_eq!(a, b, "key {key}");
        assert_eq!(a != 0, key < 4, "key {key}");
        // The inlined program calls nothing: its code holds no `call rax` (ff d0).
        let bytes = jit::compile_inlining(&code, &helpers, &inline).unwrap();
        assert!(!bytes.windows(2).any(|w| w == [0xff, 0xd0]), "key {key}");
    }
    // A jump landing on the call keeps the helper call: r1 may hold another map there.
    let landing = [
        vec![
            st(size::W, 10, -4, 0),
            alu64_reg(alu::MOV, 2, 10),
            alu64_imm(alu::ADD, 2, -4),
            alu64_imm(alu::MOV, 1, 7),
            jmp_imm(jmp::JEQ, 2, 0, 2),
        ],
        lddw(1, HANDLE),
        vec![call(1), exit()],
    ]
    .concat();
    let bytes = jit::compile_inlining(&code(&landing), &helpers, &inline).unwrap();
    assert!(bytes.windows(2).any(|w| w == [0xff, 0xd0]));
}
