//! Targeted cases, one family of instructions at a time, each with a hand-computed result.

use axebpf_vm::insn::{Insn, alu, atomic, class, jmp, mode, size, source};
use axebpf_vm::{Error, ErrorKind, Helper, MAX_FRAMES, Region, Slot, Vm, decode};
use std::sync::atomic::{AtomicU64, Ordering};

mod builders;

use builders::*;

/// Runs `insns` on `ctx`, both from the bytes and pre-decoded (on a copy of `ctx`), which
/// must agree.
fn run_with(insns: &[Insn], ctx: &mut [u8], helpers: &[Option<Helper>]) -> Result<u64, Error> {
    let code = code(insns);
    let mut copy = ctx.to_vec();
    let slots: Vec<Slot> = decode(&code).unwrap().collect();
    let decoded = Vm::new(helpers).run_decoded(&slots, &mut copy);
    let result = Vm::new(helpers).run(&code, ctx);
    // Errors may name addresses in the context, which differ between the copies.
    match (&result, &decoded) {
        (Ok(_), _) => {
            assert_eq!(result, decoded, "run and run_decoded disagree");
            assert_eq!(
                &copy[..],
                &ctx[..],
                "run and run_decoded leave different contexts"
            );
        }
        (Err(e), Ok(_)) => panic!("run and run_decoded disagree: {e}"),
        (Err(a), Err(b)) => assert_eq!(a.pc, b.pc, "run and run_decoded fail at different pcs"),
    }
    result
}

fn run(insns: &[Insn]) -> Result<u64, Error> {
    run_with(insns, &mut [0; 64], &[])
}

/// Runs every `(name, program, expected r0)` case and lists all failures at once.
#[track_caller]
fn check_all(cases: Vec<(String, Vec<Insn>, u64)>) {
    let total = cases.len();
    let failures: Vec<String> = cases
        .into_iter()
        .filter_map(|(name, insns, expected)| match run(&insns) {
            Ok(r0) if r0 == expected => None,
            other => Some(format!("{name}: expected {expected:#x}, got {other:x?}")),
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
    cases: &mut Vec<(String, Vec<Insn>, u64)>,
    name: &str,
    wide: bool,
    op: u8,
    a: u64,
    b: i32,
    expected: u64,
) {
    let (imm, reg) = if wide {
        (alu64_imm(op, 1, b), alu64_reg(op, 1, 2))
    } else {
        (alu32_imm(op, 1, b), alu32_reg(op, 1, 2))
    };
    for (form, insn) in [("imm", imm), ("reg", reg)] {
        cases.push((
            format!("{name} {form}: {a:#x}, {b:#x}"),
            [
                lddw(1, a),
                lddw(2, i64::from(b) as u64),
                vec![insn, mov0(1), exit()],
            ]
            .concat(),
            expected,
        ));
    }
}

// --- ALU -------------------------------------------------------------------------------------

#[test]
fn alu64_every_operation() {
    let mut c = Vec::new();
    let big = 0xf000_0000_0000_0010u64;
    binary(
        &mut c,
        "add64",
        true,
        alu::ADD,
        big,
        -0x10,
        0xf000_0000_0000_0000,
    );
    binary(&mut c, "sub64", true, alu::SUB, 5, 7, u64::MAX - 1);
    binary(
        &mut c,
        "mul64",
        true,
        alu::MUL,
        0x1_0000_0001,
        3,
        0x3_0000_0003,
    );
    binary(&mut c, "div64", true, alu::DIV, 100, 7, 14);
    binary(&mut c, "div64 by -1 (unsigned)", true, alu::DIV, 100, -1, 0);
    binary(&mut c, "div64 by 0", true, alu::DIV, 100, 0, 0);
    binary(&mut c, "mod64", true, alu::MOD, 100, 7, 2);
    binary(&mut c, "mod64 by 0", true, alu::MOD, big, 0, big);
    binary(&mut c, "or64", true, alu::OR, 0xf0, 0x0f, 0xff);
    binary(&mut c, "and64", true, alu::AND, big, -1, big);
    binary(&mut c, "lsh64", true, alu::LSH, 1, 63, 1 << 63);
    binary(&mut c, "lsh64 masks", true, alu::LSH, 1, 65, 2);
    binary(&mut c, "rsh64", true, alu::RSH, big, 60, 0xf);
    binary(&mut c, "arsh64", true, alu::ARSH, big, 60, u64::MAX);
    binary(&mut c, "xor64", true, alu::XOR, big, -1, !big);
    binary(
        &mut c,
        "mov64 sign-extends imm",
        true,
        alu::MOV,
        0,
        -2,
        u64::MAX - 1,
    );
    c.push((
        "neg64 of i64::MIN".into(),
        [
            lddw(1, 1 << 63),
            vec![alu64_imm(alu::NEG, 1, 0), mov0(1), exit()],
        ]
        .concat(),
        1 << 63,
    ));
    c.push((
        "neg64".into(),
        vec![alu64_imm(alu::MOV, 0, 5), alu64_imm(alu::NEG, 0, 0), exit()],
        (-5i64) as u64,
    ));
    check_all(c);
}

#[test]
fn alu32_every_operation_zero_extends() {
    let mut c = Vec::new();
    let hi = 0xdead_beef_0000_0010u64; // upper half must vanish
    binary(&mut c, "add32", false, alu::ADD, hi, -0x11, 0xffff_ffff);
    binary(&mut c, "sub32", false, alu::SUB, hi, 0x11, 0xffff_ffff);
    binary(&mut c, "mul32", false, alu::MUL, hi, 0x1000_0000, 0);
    binary(&mut c, "div32", false, alu::DIV, hi, 3, 5);
    binary(&mut c, "div32 by 0", false, alu::DIV, hi, 0, 0);
    binary(&mut c, "mod32", false, alu::MOD, hi, 3, 1);
    binary(
        &mut c,
        "mod32 by 0 keeps the low half",
        false,
        alu::MOD,
        hi,
        0,
        0x10,
    );
    binary(&mut c, "or32", false, alu::OR, hi, 1, 0x11);
    binary(&mut c, "and32", false, alu::AND, hi, -1, 0x10);
    binary(&mut c, "lsh32", false, alu::LSH, hi, 28, 0);
    binary(&mut c, "lsh32 masks", false, alu::LSH, hi, 33, 0x20);
    binary(&mut c, "rsh32", false, alu::RSH, 0x8000_0000, 31, 1);
    binary(
        &mut c,
        "arsh32",
        false,
        alu::ARSH,
        0x8000_0000,
        31,
        0xffff_ffff,
    );
    binary(&mut c, "xor32", false, alu::XOR, hi, -1, 0xffff_ffef);
    binary(&mut c, "mov32", false, alu::MOV, hi, -1, 0xffff_ffff);
    c.push((
        "neg32".into(),
        [lddw(0, hi), vec![alu32_imm(alu::NEG, 0, 0), exit()]].concat(),
        0xffff_fff0,
    ));
    check_all(c);
}

#[test]
fn signed_division_and_modulo() {
    let a64 = class::ALU64;
    let a32 = class::ALU;
    let min64 = i64::MIN as u64;
    let min32 = i32::MIN as u32 as u64;
    // (class, op, dividend, divisor, expected)
    let table: [(u8, u8, u64, i64, u64); 18] = [
        (a64, alu::DIV, (-7i64) as u64, 2, (-3i64) as u64),
        (a64, alu::DIV, 7, -2, (-3i64) as u64),
        (a64, alu::DIV, (-7i64) as u64, -2, 3),
        (a64, alu::DIV, min64, -1, min64),
        (a64, alu::DIV, 9, 0, 0),
        (a64, alu::MOD, (-7i64) as u64, 2, (-1i64) as u64),
        (a64, alu::MOD, 7, -2, 1),
        (a64, alu::MOD, min64, -1, 0),
        (a64, alu::MOD, (-9i64) as u64, 0, (-9i64) as u64),
        (
            a32,
            alu::DIV,
            (-7i32) as u32 as u64,
            2,
            (-3i32) as u32 as u64,
        ),
        (a32, alu::DIV, min32, -1, min32),
        (a32, alu::DIV, 0xffff_ffff_0000_0009, 0, 0),
        (a32, alu::MOD, (-7i32) as u32 as u64, 2, 0xffff_ffff),
        (a32, alu::MOD, 7, -2, 1),
        (a32, alu::MOD, min32, -1, 0),
        (a32, alu::MOD, 0xffff_ffff_ffff_fff7, 0, 0xffff_fff7),
        // An upper half that would matter if 32-bit operands were not truncated.
        (a32, alu::DIV, 0x1_0000_0008, 2, 4),
        (a64, alu::DIV, 0x1_0000_0008, 2, 0x8000_0004),
    ];
    let mut c = Vec::new();
    for (cls, op, a, b, expected) in table {
        for x in [false, true] {
            if !x && i32::try_from(b).is_err() {
                continue;
            }
            c.push((
                format!("s{op:#x} class {cls} x={x}: {a:#x} / {b}"),
                [
                    lddw(1, a),
                    lddw(2, b as u64),
                    vec![alu_off(cls, op, x, 1, 2, 1, b as i32), mov0(1), exit()],
                ]
                .concat(),
                expected,
            ));
        }
    }
    check_all(c);
}

#[test]
fn sign_extending_moves() {
    let v = 0x1234_5678_8000_8080u64;
    let mut c = Vec::new();
    for (cls, off, expected) in [
        (class::ALU64, 8, 0xffff_ffff_ffff_ff80u64),
        (class::ALU64, 16, 0xffff_ffff_ffff_8080),
        (class::ALU64, 32, 0xffff_ffff_8000_8080),
        (class::ALU, 8, 0x0000_0000_ffff_ff80),
        (class::ALU, 16, 0x0000_0000_ffff_8080),
    ] {
        c.push((
            format!("movsx class {cls} off {off}"),
            [
                lddw(1, v),
                vec![alu_off(cls, alu::MOV, true, 0, 1, off, 0), exit()],
            ]
            .concat(),
            expected,
        ));
    }
    c.push((
        "movsx64 off 8 positive".into(),
        [
            lddw(1, 0x7f),
            vec![alu_off(class::ALU64, alu::MOV, true, 0, 1, 8, 0), exit()],
        ]
        .concat(),
        0x7f,
    ));
    check_all(c);
    // Invalid offsets and the K form are refused.
    for insn in [
        alu_off(class::ALU, alu::MOV, true, 0, 1, 32, 0),
        alu_off(class::ALU64, alu::MOV, true, 0, 1, 4, 0),
        alu_off(class::ALU64, alu::MOV, false, 0, 1, 8, 0),
        alu_off(class::ALU64, alu::ADD, true, 0, 1, 1, 0),
        alu_off(class::ALU64, alu::DIV, true, 0, 1, 2, 0),
    ] {
        let err = run(&[insn, exit()]).unwrap_err();
        assert_eq!(
            err,
            Error {
                pc: 0,
                kind: ErrorKind::BadEncoding(insn.opcode)
            },
            "{insn:?}"
        );
    }
}

#[test]
fn byte_swaps() {
    let v = 0x0102_0304_0506_0708u64;
    let le = class::ALU | alu::END | source::K;
    let be = class::ALU | alu::END | source::X;
    let bswap = class::ALU64 | alu::END | source::K;
    let mut c = Vec::new();
    for (opc, width, expected) in [
        (le, 16, 0x0708u64),
        (le, 32, 0x0506_0708),
        (le, 64, v),
        (be, 16, 0x0807),
        (be, 32, 0x0807_0605),
        (be, 64, 0x0807_0605_0403_0201),
        (bswap, 16, 0x0807),
        (bswap, 32, 0x0807_0605),
        (bswap, 64, 0x0807_0605_0403_0201),
    ] {
        c.push((
            format!("end {opc:#x} {width}"),
            [lddw(0, v), vec![Insn::new(opc, 0, 0, 0, width), exit()]].concat(),
            expected,
        ));
    }
    check_all(c);
    for bad in [
        Insn::new(le, 0, 0, 0, 8),
        Insn::new(class::ALU64 | alu::END | source::X, 0, 0, 0, 16),
        // `off` must be 0 (only sdiv, smod and movsx have one; found by the differential tests).
        Insn::new(le, 0, 0, 1, 16),
        Insn::new(be, 0, 0, -1, 32),
        Insn::new(bswap, 0, 0, 8, 64),
    ] {
        assert_eq!(
            run(&[bad, exit()]).unwrap_err().kind,
            ErrorKind::BadEncoding(bad.opcode)
        );
    }
}

// --- LD_IMM64, loads and stores ----------------------------------------------------------------

#[test]
fn ld_imm64_and_its_pseudo_kinds() {
    assert_eq!(
        run(&[lddw(0, 0x8765_4321_dead_beef), vec![exit()]].concat()),
        Ok(0x8765_4321_dead_beef)
    );
    // A map-fd pseudo load (src = 1) is refused, not run as a constant.
    let mut pseudo = lddw(0, 3);
    pseudo[0].src = 1;
    pseudo.push(exit());
    assert_eq!(
        run(&pseudo).unwrap_err(),
        Error {
            pc: 0,
            kind: ErrorKind::UnsupportedPseudo(1)
        }
    );
    // A broken second slot, and a missing one.
    let mut broken = lddw(0, 3);
    broken[1].opcode = 0x18;
    broken.push(exit());
    assert_eq!(run(&broken).unwrap_err().kind, ErrorKind::BadEncoding(0x18));
    assert_eq!(
        run(&lddw(0, 3)[..1]).unwrap_err().kind,
        ErrorKind::BadEncoding(0x18)
    );
}

#[test]
fn loads_and_stores_of_every_size() {
    let v = 0x8877_6655_4433_2211u64;
    let mut c = Vec::new();
    for (sz, stored) in [
        (size::B, 0x11u64),
        (size::H, 0x2211),
        (size::W, 0x4433_2211),
        (size::DW, v),
    ] {
        for base in [10u8, 1] {
            let off = if base == 10 { -16 } else { 8 };
            c.push((
                format!("stx {sz:#x} then ldxdw via r{base}"),
                [
                    lddw(2, v),
                    vec![
                        st(size::DW, base, off, 0),
                        stx(sz, base, 2, off),
                        ldx(size::DW, 0, base, off),
                        exit(),
                    ],
                ]
                .concat(),
                stored,
            ));
        }
    }
    for (sz, imm, stored) in [
        (size::B, -1, 0xffu64),
        (size::H, -1, 0xffff),
        (size::W, -1, 0xffff_ffff),
        (size::DW, -1, u64::MAX),
        (size::DW, i32::MIN, 0xffff_ffff_8000_0000),
    ] {
        c.push((
            format!("st {sz:#x} {imm}"),
            vec![
                st(size::DW, 10, -8, 0),
                st(sz, 10, -8, imm),
                ldx(size::DW, 0, 10, -8),
                exit(),
            ],
            stored,
        ));
    }
    // Zero-extending and sign-extending loads of the same bytes.
    for (sz, zext, sext) in [
        (size::B, 0x88u64, 0xffff_ffff_ffff_ff88u64),
        (size::H, 0x8877, 0xffff_ffff_ffff_8877),
        (size::W, 0x8877_6655, 0xffff_ffff_8877_6655),
    ] {
        let off = -(size::bytes(sz) as i16);
        let setup = [
            lddw(2, v),
            vec![stx(size::DW, 10, 2, -8), alu64_imm(alu::MOV, 0, -1)],
        ]
        .concat();
        c.push((
            format!("ldx {sz:#x} zero-extends"),
            [setup.clone(), vec![ldx(sz, 0, 10, off), exit()]].concat(),
            zext,
        ));
        c.push((
            format!("ldsx {sz:#x} sign-extends"),
            [setup.clone(), vec![ldsx(sz, 0, 10, off), exit()]].concat(),
            sext,
        ));
        c.push((
            format!("ldsx {sz:#x} positive"),
            [setup, vec![ldsx(sz, 0, 10, -8), exit()]].concat(),
            v & ((1u64 << (8 * size::bytes(sz))) - 1),
        ));
    }
    check_all(c);
    assert_eq!(
        run(&[ldsx(size::DW, 0, 10, -8), exit()]).unwrap_err().kind,
        ErrorKind::UnknownOpcode(class::LDX | mode::MEMSX | size::DW)
    );
}

#[test]
fn stores_reach_the_context() {
    let mut ctx = [0u8; 16];
    let r0 = run_with(
        &[
            st(size::W, 1, 4, 0x1234_5678),
            st(size::B, 1, 15, -1),
            alu64_imm(alu::MOV, 0, 0),
            exit(),
        ],
        &mut ctx,
        &[],
    );
    assert_eq!(r0, Ok(0));
    assert_eq!(
        ctx,
        [
            0, 0, 0, 0, 0x78, 0x56, 0x34, 0x12, 0, 0, 0, 0, 0, 0, 0, 0xff
        ]
    );
}

#[test]
fn out_of_bounds_accesses_name_the_pc() {
    let cases = [
        // Past the context's end by one byte.
        (
            vec![alu64_imm(alu::MOV, 0, 0), ldx(size::DW, 0, 1, 57), exit()],
            1,
            8,
            false,
        ),
        // Below the stack.
        (vec![st(size::B, 10, -513, 0), exit()], 0, 1, true),
        // Straddling the stack's top.
        (vec![ldx(size::W, 0, 10, -2), exit()], 0, 4, false),
        // Address 0.
        (
            vec![alu64_imm(alu::MOV, 2, 0), stx(size::DW, 2, 2, 0), exit()],
            1,
            8,
            true,
        ),
        // Wrapping around the address space.
        (
            [lddw(2, u64::MAX - 2), vec![ldx(size::DW, 0, 2, 0), exit()]].concat(),
            2,
            8,
            false,
        ),
    ];
    for (insns, pc, len, write) in cases {
        let err = run(&insns).unwrap_err();
        assert_eq!(err.pc, pc, "{insns:?}: {err}");
        match err.kind {
            ErrorKind::OutOfBounds {
                len: l, write: w, ..
            } => assert_eq!((l, w), (len, write)),
            other => panic!("{insns:?}: {other:?}"),
        }
    }
}

#[test]
fn registered_regions_and_the_access_check() {
    // Raw pointers for everything the programs touch, so no reference is live during a run.
    let value = Box::into_raw(Box::new([0u64; 2]));
    let rom = Box::into_raw(Box::new([7u8; 8]));
    let addr = value.expose_provenance() as u64;
    let rom_addr = rom.expose_provenance() as u64;
    let program = [
        lddw(2, addr),
        lddw(3, rom_addr),
        vec![st(size::DW, 2, 8, 42), ldx(size::B, 0, 3, 0), exit()],
    ]
    .concat();
    let mut vm = Vm::new(&[]);
    let err = vm.run(&code(&program), &mut []).unwrap_err();
    assert!(
        matches!(err.kind, ErrorKind::OutOfBounds { write: true, .. }),
        "{err}"
    );
    let regions = [
        Region {
            start: addr,
            len: 16,
            writable: true,
        },
        Region {
            start: rom_addr,
            len: 8,
            writable: false,
        },
    ];
    // SAFETY: `value` and `rom` are live until the end of the test and only accessed through
    // these raw pointers.
    unsafe { vm.set_regions(&regions) };
    assert_eq!(vm.run(&code(&program), &mut []), Ok(7));
    // SAFETY: as above.
    assert_eq!(unsafe { (*value)[1] }, 42);
    // The read-only region refuses a store.
    let store_rom = [lddw(3, rom_addr), vec![st(size::B, 3, 0, 1), exit()]].concat();
    assert!(matches!(
        vm.run(&code(&store_rom), &mut []).unwrap_err().kind,
        ErrorKind::OutOfBounds {
            write: true,
            len: 1,
            ..
        }
    ));
    // SAFETY: no region at all.
    unsafe { vm.set_regions(&[]) };
    assert!(vm.run(&code(&program), &mut []).is_err());
    // The callback allows exactly `value`.
    static VALUE_ADDR: AtomicU64 = AtomicU64::new(0);
    fn only_value(addr: u64, len: u64, _write: bool) -> bool {
        let start = VALUE_ADDR.load(Ordering::Relaxed);
        addr >= start && addr - start + len <= 16
    }
    VALUE_ADDR.store(addr, Ordering::Relaxed);
    // SAFETY: the callback allows only `value`, live and only accessed through its pointer.
    unsafe {
        vm.set_access_check(Some(only_value));
        (*value)[0] = 99;
    }
    let read = [lddw(2, addr), vec![ldx(size::DW, 0, 2, 0), exit()]].concat();
    assert_eq!(vm.run(&code(&read), &mut []), Ok(99));
    let past = [lddw(2, addr), vec![ldx(size::DW, 0, 2, 9), exit()]].concat();
    assert!(vm.run(&code(&past), &mut []).is_err());
    // SAFETY: both came from `Box::into_raw` and no run uses them any more.
    unsafe {
        drop(Box::from_raw(value));
        drop(Box::from_raw(rom));
    }
}

// --- Atomics -----------------------------------------------------------------------------------

/// `*(r10 - 8) = init; r1 = operand; r0 = r0_init; <atomic>; r0 = <what>; exit`.
fn atomic_case(
    sz: u8,
    op: i32,
    init: u64,
    operand: u64,
    r0_init: u64,
    result_reg: u8,
) -> Vec<Insn> {
    [
        lddw(2, init),
        vec![stx(size::DW, 10, 2, -8)],
        lddw(1, operand),
        lddw(0, r0_init),
        vec![atomic_op(sz, 10, 1, -8, op)],
        if result_reg == 0xff {
            vec![ldx(size::DW, 0, 10, -8)]
        } else {
            vec![mov0(result_reg)]
        },
        vec![exit()],
    ]
    .concat()
}

#[test]
fn atomics_memory_and_fetched_values() {
    const MEMORY: u8 = 0xff;
    let init = 0xaaaa_aaaa_f0f0_f0f0u64;
    let x = 0x1111_1111_8f0f_0f0fu64;
    let mut c = Vec::new();
    for fetch in [0, atomic::FETCH] {
        for (name, op, mem64, mem32) in [
            (
                "add",
                atomic::ADD,
                init.wrapping_add(x),
                0xaaaa_aaaa_0000_0000 | u64::from(0xf0f0_f0f0u32.wrapping_add(0x8f0f_0f0f)),
            ),
            ("or", atomic::OR, init | x, 0xaaaa_aaaa_ffff_ffff),
            ("and", atomic::AND, init & x, 0xaaaa_aaaa_8000_0000),
            ("xor", atomic::XOR, init ^ x, 0xaaaa_aaaa_7fff_ffff),
        ] {
            let op = op | fetch;
            c.push((
                format!("{name} dw fetch={fetch}: memory"),
                atomic_case(size::DW, op, init, x, 0, MEMORY),
                mem64,
            ));
            c.push((
                format!("{name} w fetch={fetch}: memory"),
                atomic_case(size::W, op, init, x, 0, MEMORY),
                mem32,
            ));
            // Without FETCH the source register keeps its value; with it, the old value
            // (zero-extended for W).
            let (r64, r32) = if fetch != 0 {
                (init, 0xf0f0_f0f0)
            } else {
                (x, x)
            };
            c.push((
                format!("{name} dw fetch={fetch}: src"),
                atomic_case(size::DW, op, init, x, 0, 1),
                r64,
            ));
            c.push((
                format!("{name} w fetch={fetch}: src"),
                atomic_case(size::W, op, init, x, 0, 1),
                r32,
            ));
        }
    }
    // XCHG
    c.push((
        "xchg dw: memory".into(),
        atomic_case(size::DW, atomic::XCHG, init, x, 0, MEMORY),
        x,
    ));
    c.push((
        "xchg dw: src".into(),
        atomic_case(size::DW, atomic::XCHG, init, x, 0, 1),
        init,
    ));
    c.push((
        "xchg w: memory".into(),
        atomic_case(size::W, atomic::XCHG, init, x, 0, MEMORY),
        0xaaaa_aaaa_8f0f_0f0f,
    ));
    c.push((
        "xchg w: src zero-extended".into(),
        atomic_case(size::W, atomic::XCHG, init, x, 0, 1),
        0xf0f0_f0f0,
    ));
    // CMPXCHG: success stores src and returns the old value in r0; failure stores nothing.
    c.push((
        "cmpxchg dw success: memory".into(),
        atomic_case(size::DW, atomic::CMPXCHG, init, x, init, MEMORY),
        x,
    ));
    c.push((
        "cmpxchg dw success: r0".into(),
        atomic_case(size::DW, atomic::CMPXCHG, init, x, init, 0),
        init,
    ));
    c.push((
        "cmpxchg dw failure: memory".into(),
        atomic_case(size::DW, atomic::CMPXCHG, init, x, init ^ 1, MEMORY),
        init,
    ));
    c.push((
        "cmpxchg dw failure: r0".into(),
        atomic_case(size::DW, atomic::CMPXCHG, init, x, init ^ 1, 0),
        init,
    ));
    c.push((
        "cmpxchg dw: src untouched".into(),
        atomic_case(size::DW, atomic::CMPXCHG, init, x, init, 1),
        x,
    ));
    // W compares only r0's low half and zero-extends what it returns.
    c.push((
        "cmpxchg w success: memory".into(),
        atomic_case(
            size::W,
            atomic::CMPXCHG,
            init,
            x,
            0x5555_0000_f0f0_f0f0,
            MEMORY,
        ),
        0xaaaa_aaaa_8f0f_0f0f,
    ));
    c.push((
        "cmpxchg w success: r0".into(),
        atomic_case(size::W, atomic::CMPXCHG, init, x, 0x5555_0000_f0f0_f0f0, 0),
        0xf0f0_f0f0,
    ));
    c.push((
        "cmpxchg w failure: memory".into(),
        atomic_case(size::W, atomic::CMPXCHG, init, x, 0xf0f0_f0f1, MEMORY),
        init,
    ));
    c.push((
        "cmpxchg w failure: r0".into(),
        atomic_case(size::W, atomic::CMPXCHG, init, x, 0xf0f0_f0f1, 0),
        0xf0f0_f0f0,
    ));
    check_all(c);
}

#[test]
fn atomics_refuse_misalignment_sizes_and_unknown_ops() {
    let misaligned = [
        lddw(1, 1),
        vec![atomic_op(size::DW, 10, 1, -12, atomic::ADD), exit()],
    ]
    .concat();
    let err = run(&misaligned).unwrap_err();
    assert_eq!(err.pc, 2);
    assert!(
        matches!(err.kind, ErrorKind::MisalignedAtomic { len: 8, .. }),
        "{err}"
    );
    let w_misaligned = [atomic_op(size::W, 10, 1, -6, atomic::ADD), exit()];
    assert!(matches!(
        run(&w_misaligned).unwrap_err().kind,
        ErrorKind::MisalignedAtomic { len: 4, .. }
    ));
    // B and H atomics do not exist.
    for sz in [size::B, size::H] {
        let insn = atomic_op(sz, 10, 1, -8, atomic::ADD);
        assert_eq!(
            run(&[insn, exit()]).unwrap_err().kind,
            ErrorKind::UnknownOpcode(insn.opcode)
        );
    }
    for op in [0x02, 0xe0, 0xf0, 0x10, 0x41 | 0x100] {
        let insn = atomic_op(size::DW, 10, 1, -8, op);
        assert_eq!(
            run(&[insn, exit()]).unwrap_err().kind,
            ErrorKind::BadEncoding(insn.opcode),
            "{op:#x}"
        );
    }
    // Out of bounds before alignment.
    let oob = [atomic_op(size::DW, 10, 1, 0, atomic::ADD), exit()];
    assert!(matches!(
        run(&oob).unwrap_err().kind,
        ErrorKind::OutOfBounds { write: true, .. }
    ));
    // A fetch into r10 would change the frame pointer.
    let r10 = [
        atomic_op(size::DW, 10, 10, -8, atomic::ADD | atomic::FETCH),
        exit(),
    ];
    assert_eq!(run(&r10).unwrap_err().kind, ErrorKind::BadRegister(10));
}

// --- Jumps -------------------------------------------------------------------------------------

#[test]
fn every_condition_both_widths() {
    // r1 = a, r2 = b; if cond jump to "r0 = 1"; r0 = 0.
    let neg = (-5i64) as u64;
    // Low halves: 0x1_0000_0003 → 3 (JMP32 sees 3 where JMP sees a big number).
    let hi3 = 0x1_0000_0003u64;
    let table: &[(u8, u64, i32, bool, bool)] = &[
        // (op, a, b, taken 64, taken 32)
        (jmp::JEQ, hi3, 3, false, true),
        (jmp::JNE, hi3, 3, true, false),
        (jmp::JGT, hi3, 3, true, false),
        (jmp::JGE, 3, 3, true, true),
        (jmp::JLT, 3, -1, true, true),
        (jmp::JLE, neg, -5, true, true),
        (jmp::JSET, hi3, 4, false, false),
        (jmp::JSET, hi3, 2, true, true),
        (jmp::JSGT, 3, -1, true, true),
        (jmp::JSGT, neg, 3, false, false),
        (jmp::JSGE, neg, -5, true, true),
        (jmp::JSLT, neg, 0, true, true),
        // 0x8000_0000 is negative as an i32 but positive as an i64.
        (jmp::JSLT, 0x8000_0000, 0, false, true),
        (jmp::JSGT, 0x8000_0000, 0, true, false),
        (jmp::JSLE, 0xffff_ffff, 0, false, true),
        (jmp::JSLE, 0x1_7fff_ffff, 0, false, false),
        (jmp::JGT, 0xffff_ffff, -1, false, false),
        (jmp::JLT, 0x1_0000_0000, -1, true, true),
    ];
    let mut c = Vec::new();
    for &(op, a, b, t64, t32) in table {
        for (wide, taken) in [(true, t64), (false, t32)] {
            for x in [false, true] {
                let j = match (wide, x) {
                    (true, false) => jmp_imm(op, 1, b, 2),
                    (true, true) => jmp_reg(op, 1, 2, 2),
                    (false, false) => jmp32_imm(op, 1, b, 2),
                    (false, true) => jmp32_reg(op, 1, 2, 2),
                };
                c.push((
                    format!("op {op:#x} wide={wide} x={x}: {a:#x} vs {b}"),
                    [
                        lddw(1, a),
                        lddw(2, i64::from(b) as u64),
                        vec![
                            j,
                            alu64_imm(alu::MOV, 0, 0),
                            exit(),
                            alu64_imm(alu::MOV, 0, 1),
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
    // gotol over two instructions, then a backward ja loop summing 1..=10.
    let program = [
        gotol(2),
        alu64_imm(alu::MOV, 0, 111),
        exit(),
        alu64_imm(alu::MOV, 0, 0),
        alu64_imm(alu::MOV, 1, 10),
        // loop:
        alu64_reg(alu::ADD, 0, 1),
        alu64_imm(alu::SUB, 1, 1),
        jmp_imm(jmp::JEQ, 1, 0, 1),
        ja(-4),
        exit(),
    ];
    assert_eq!(run(&program), Ok(55));
    // `gotol -1` jumps to itself forever: the step budget ends it.
    assert_eq!(
        run(&[gotol(-1)]).unwrap_err().kind,
        ErrorKind::StepBudget(axebpf_vm::DEFAULT_BUDGET)
    );
    let mut vm = Vm::new(&[]);
    vm.set_budget(100);
    let err = vm.run(&code(&[ja(-1)]), &mut []).unwrap_err();
    assert_eq!(
        err,
        Error {
            pc: 0,
            kind: ErrorKind::StepBudget(100)
        }
    );
}

#[test]
fn jumps_out_of_the_program_are_errors() {
    assert_eq!(
        run(&[ja(1), exit()]).unwrap_err(),
        Error {
            pc: 0,
            kind: ErrorKind::JumpOutOfRange { target: 2 }
        }
    );
    assert_eq!(
        run(&[ja(-2), exit()]).unwrap_err().kind,
        ErrorKind::JumpOutOfRange { target: -1 }
    );
    assert_eq!(
        run(&[gotol(i32::MAX)]).unwrap_err().kind,
        ErrorKind::JumpOutOfRange {
            target: 1 + i64::from(i32::MAX)
        }
    );
    // Running off the end.
    assert_eq!(
        run(&[alu64_imm(alu::MOV, 0, 0)]).unwrap_err(),
        Error {
            pc: 1,
            kind: ErrorKind::JumpOutOfRange { target: 1 }
        }
    );
    // Into the second slot of an LD_IMM64: an opcode-0 slot is not an instruction.
    let mut into_lddw = vec![ja(1)];
    into_lddw.extend(lddw(0, 1));
    into_lddw.push(exit());
    assert_eq!(
        run(&into_lddw).unwrap_err(),
        Error {
            pc: 2,
            kind: ErrorKind::UnknownOpcode(0)
        }
    );
}

// --- Calls -------------------------------------------------------------------------------------

extern "C" fn add5(a: u64, b: u64, c: u64, d: u64, e: u64) -> u64 {
    a + (b << 8) + (c << 16) + (d << 24) + (e << 32)
}

#[test]
fn helper_calls() {
    let helpers: [Option<Helper>; 3] = [None, None, Some(add5)];
    let program = [
        alu64_imm(alu::MOV, 1, 1),
        alu64_imm(alu::MOV, 2, 2),
        alu64_imm(alu::MOV, 3, 3),
        alu64_imm(alu::MOV, 4, 4),
        alu64_imm(alu::MOV, 5, 5),
        call(2),
        exit(),
    ];
    assert_eq!(run_with(&program, &mut [], &helpers), Ok(0x5_0403_0201));
    for id in [0, 1, 3, -1] {
        assert_eq!(
            run_with(&[call(id), exit()], &mut [], &helpers).unwrap_err(),
            Error {
                pc: 0,
                kind: ErrorKind::UnknownHelper(id)
            }
        );
    }
    // kfunc calls (src = 2) are refused.
    let kfunc = Insn::new(class::JMP | jmp::CALL, 0, 2, 0, 2);
    assert_eq!(
        run_with(&[kfunc, exit()], &mut [], &helpers)
            .unwrap_err()
            .kind,
        ErrorKind::UnsupportedPseudo(2)
    );
}

#[test]
fn local_calls_get_their_own_frame_and_preserve_r6_to_r10() {
    let program = [
        // main: r6..r9 = 6..9; *(r10-8) = 0x1111; call f; r0 = f's r0 ...
        alu64_imm(alu::MOV, 6, 6),
        alu64_imm(alu::MOV, 7, 7),
        alu64_imm(alu::MOV, 8, 8),
        alu64_imm(alu::MOV, 9, 9),
        st(size::DW, 10, -8, 0x1111),
        alu64_reg(alu::MOV, 1, 10), // r1 = &main's stack
        call_local(13),             // -> f at 6 + 13 + 1 = 20
        // back in main (pc 7): r0 = f's result; check r6..r9, r10 and the stack slot.
        ldx(size::DW, 2, 10, -8),
        jmp_imm(jmp::JNE, 2, 0x1111, 9),
        jmp_imm(jmp::JNE, 6, 6, 8),
        jmp_imm(jmp::JNE, 7, 7, 7),
        jmp_imm(jmp::JNE, 8, 8, 6),
        jmp_imm(jmp::JNE, 9, 9, 5),
        ldx(size::DW, 3, 1, -8), // r1 still points at main's slot (r1 is caller-saved, f kept it)
        jmp_reg(jmp::JNE, 1, 10, 3),
        alu64_imm(alu::ADD, 0, 0),
        exit(),
        alu64_imm(alu::MOV, 0, -1),
        exit(),
        // pc 19: padding
        alu64_imm(alu::MOV, 0, -2),
        // f (pc 20): clobbers r6..r9 and its own r10-8, reads the caller's slot through r1,
        // and returns it + 1.
        alu64_imm(alu::MOV, 6, -1),
        alu64_imm(alu::MOV, 7, -1),
        alu64_imm(alu::MOV, 8, -1),
        alu64_imm(alu::MOV, 9, -1),
        st(size::DW, 10, -8, 0x2222),
        ldx(size::DW, 0, 1, -8),
        alu64_imm(alu::ADD, 0, 1),
        exit(),
    ];
    assert_eq!(run(&program), Ok(0x1112));
}

#[test]
fn local_call_depth_is_limited_to_eight_frames() {
    // main calls f, which calls itself while r1 > 0 (r1 counts down), then returns r0 = depth.
    let nested = |calls: i32| {
        vec![
            alu64_imm(alu::MOV, 1, calls),
            alu64_imm(alu::MOV, 0, 0),
            call_local(1), // -> f at 4
            exit(),
            // f (pc 4): if r1 == 0 return; r1 -= 1; r0 += 1; call f; exit
            jmp_imm(jmp::JEQ, 1, 0, 3),
            alu64_imm(alu::SUB, 1, 1),
            alu64_imm(alu::ADD, 0, 1),
            call_local(-4), // -> f
            exit(),
        ]
    };
    // main + 7 nested calls = 8 frames: allowed.
    assert_eq!(run(&nested(6)), Ok(6));
    // Frame 9 is refused at the call that would create it.
    let err = run(&nested(7)).unwrap_err();
    assert_eq!(
        err,
        Error {
            pc: 7,
            kind: ErrorKind::CallDepth
        }
    );
    assert_eq!(MAX_FRAMES, 8);
    // The deepest frame can use its whole stack; one byte below it is out of bounds.
    let deep_store = |off: i16| {
        vec![
            alu64_imm(alu::MOV, 1, 6),
            call_local(1),
            exit(),
            // f (pc 3)
            jmp_imm(jmp::JEQ, 1, 0, 3),
            alu64_imm(alu::SUB, 1, 1),
            call_local(-3),
            exit(),
            st(size::B, 10, off, 1),
            alu64_imm(alu::MOV, 0, 0),
            exit(),
        ]
    };
    assert_eq!(run(&deep_store(-512)), Ok(0));
    assert!(matches!(
        run(&deep_store(-513)).unwrap_err(),
        Error {
            pc: 7,
            kind: ErrorKind::OutOfBounds { .. }
        }
    ));
    // A local call out of the program.
    assert_eq!(
        run(&[call_local(5), exit()]).unwrap_err().kind,
        ErrorKind::JumpOutOfRange { target: 6 }
    );
}

#[test]
fn a_callees_frame_is_gone_after_it_returns() {
    // main calls f, f stores at its r10-8 and returns its r10; main cannot load from there.
    let program = [
        call_local(3),
        alu64_reg(alu::MOV, 1, 0),
        ldx(size::DW, 0, 1, -8),
        exit(),
        st(size::DW, 10, -8, 1),
        mov0(10),
        exit(),
    ];
    let err = run(&program).unwrap_err();
    assert!(
        matches!(
            err,
            Error {
                pc: 2,
                kind: ErrorKind::OutOfBounds { write: false, .. }
            }
        ),
        "{err}"
    );
}

// --- Malformed programs ------------------------------------------------------------------------

#[test]
fn malformed_programs() {
    assert_eq!(
        Vm::new(&[]).run(&[], &mut []).unwrap_err().kind,
        ErrorKind::CodeLength(0)
    );
    assert_eq!(
        Vm::new(&[])
            .run(&[0x95, 0, 0, 0, 0, 0, 0], &mut [])
            .unwrap_err()
            .kind,
        ErrorKind::CodeLength(7)
    );
    let cases: &[(Insn, ErrorKind)] = &[
        (Insn::new(0x20, 0, 0, 0, 0), ErrorKind::UnknownOpcode(0x20)), // legacy LD_ABS
        (Insn::new(0x8d, 0, 1, 0, 0), ErrorKind::UnknownOpcode(0x8d)), // callx
        (Insn::new(0x96, 0, 0, 0, 0), ErrorKind::UnknownOpcode(0x96)), // JMP32 exit
        (Insn::new(0xe7, 0, 0, 0, 0), ErrorKind::UnknownOpcode(0xe7)),
        (Insn::new(0xfd, 0, 0, 0, 0), ErrorKind::UnknownOpcode(0xfd)),
        (Insn::new(0x8f, 0, 1, 0, 0), ErrorKind::BadEncoding(0x8f)), // neg with X
        (alu64_imm(alu::MOV, 11, 0), ErrorKind::BadRegister(11)),
        (alu64_reg(alu::MOV, 0, 15), ErrorKind::BadRegister(15)),
        (alu64_imm(alu::MOV, 10, 0), ErrorKind::BadRegister(10)),
        (ldx(size::DW, 10, 10, -8), ErrorKind::BadRegister(10)),
        (
            Insn::new(class::ST | mode::ATOMIC | size::DW, 10, 0, -8, 0),
            ErrorKind::UnknownOpcode(0xda),
        ),
    ];
    for (insn, kind) in cases {
        assert_eq!(
            run(&[*insn, exit()]).unwrap_err(),
            Error { pc: 0, kind: *kind },
            "{insn:?}"
        );
    }
    let mut ten = lddw(10, 1);
    ten.push(exit());
    assert_eq!(run(&ten).unwrap_err().kind, ErrorKind::BadRegister(10));
}
