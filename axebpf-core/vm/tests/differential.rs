//! Our interpreter against the RFC 9669 reference model of `axebpf-core/tests/isa` (included,
//! not copied) on thousands of seeded random programs, and against rbpf 0.4.1's interpreter on
//! the programs where rbpf agrees with the model.
//!
//! Rerun one program with `ISA_SEED=<seed> cargo test -p axebpf-vm --test differential`.

#[path = "../../tests/isa/asm.rs"]
#[allow(dead_code)]
mod asm;
#[path = "../../tests/isa/generate.rs"]
#[allow(dead_code)]
mod generate;
#[path = "../../tests/isa/model.rs"]
#[allow(dead_code)]
mod model;

use std::panic::{AssertUnwindSafe, catch_unwind};

use axebpf_vm::Vm;

type Outcome = Result<(u64, Vec<u8>), String>;

fn chunks(seed: u64) -> usize {
    8 + (seed % 64) as usize
}

fn ours(code: &[u8], mem: &[u8]) -> Outcome {
    let mut mem = mem.to_vec();
    let mut vm = Vm::new(&[]);
    let r0 = vm.run(code, &mut mem).map_err(|e| e.to_string())?;
    Ok((r0, mem))
}

fn reference(code: &[u8], mem: &[u8]) -> Outcome {
    let mut mem = mem.to_vec();
    let (r0, _) = model::run(code, &mut mem).map_err(|e| format!("{e:?}"))?;
    Ok((r0, mem))
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

/// Whether `code` holds an instruction rbpf 0.4.1's interpreter computes wrongly (README, "Notes
/// on dependencies"): a 64-bit unsigned or (in)equality comparison with a negative immediate
/// (rbpf zero-extends it) or a 32-bit modulo (by zero, rbpf keeps the upper half).
fn has_known_rbpf_defect(code: &[u8]) -> bool {
    use asm::{alu, class, jmp};
    code.chunks_exact(8).any(|slot| {
        let insn = asm::Insn::decode(slot, 0).expect("a whole slot");
        let (cls, op) = (insn.opc & 0x07, insn.opc & 0xf0);
        let unsigned = matches!(
            op,
            jmp::JEQ | jmp::JNE | jmp::JGT | jmp::JGE | jmp::JLT | jmp::JLE
        );
        (cls == class::JMP && insn.opc & asm::X == 0 && unsigned && insn.imm < 0)
            || (cls == class::ALU && op == alu::MOD)
    })
}

#[test]
fn random_programs_match_the_model_and_rbpf() {
    let seeds = generate::program_seeds();
    let mut failures = Vec::new();
    let (mut agree, mut rbpf_agrees, mut rbpf_wrong, mut rbpf_fails) = (0, 0, 0, 0);
    let mut rbpf_errors = std::collections::BTreeMap::<String, usize>::new();
    for &seed in &seeds {
        let (program, mem) = generate::program(seed, chunks(seed));
        let code = program.code();
        let expected = reference(&code, &mem);
        assert!(
            expected.is_ok(),
            "the model fails on seed {seed:#x}: {}",
            show(&expected)
        );
        let got = ours(&code, &mem);
        if got == expected {
            agree += 1;
        } else {
            let small = shrink(program.clone(), &mem, ours);
            failures.push(format!(
                "seed {seed:#x} (rerun: ISA_SEED={seed:#x})\n  model: {}\n  ours:  {}\n\
                 shrunk to {} chunks:\n{}",
                show(&expected),
                show(&got),
                small.body.len(),
                asm::disassemble(&small.code())
            ));
            if failures.len() == 3 {
                break;
            }
        }
        // rbpf: where it agrees with the model, we must agree with rbpf (we agree with the
        // model); where it does not, count its known defects (README, "Notes on dependencies").
        match rbpf(&code, &mem) {
            r if r == expected => {
                rbpf_agrees += 1;
                assert_eq!(
                    got, r,
                    "seed {seed:#x}: rbpf and the model agree, we do not"
                );
            }
            Ok(_) => {
                rbpf_wrong += 1;
                if !has_known_rbpf_defect(&code) {
                    let small = shrink(program.clone(), &mem, rbpf);
                    let small_code = small.code();
                    panic!(
                        "seed {seed:#x}: rbpf wrong without a known defect; shrunk:\n{}\n\
                         model: {}\nrbpf:  {}",
                        asm::disassemble(&small_code),
                        show(&reference(&small_code, &mem)),
                        show(&rbpf(&small_code, &mem)),
                    );
                }
            }
            Err(e) => {
                rbpf_fails += 1;
                *rbpf_errors.entry(e).or_insert(0) += 1;
            }
        }
    }
    println!(
        "{} programs: ours = model on {agree}; rbpf = model (and ours) on {rbpf_agrees}, \
         rbpf wrong result on {rbpf_wrong}, rbpf error or panic on {rbpf_fails}",
        seeds.len()
    );
    for (error, n) in &rbpf_errors {
        println!("  rbpf {error}: {n}");
    }
    assert!(
        failures.is_empty(),
        "{} program(s) where ours disagrees with the model (stopped after 3):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
