//! The verifier against its corpus (`tests/verifier/corpus/*.s`): every program's verdict and
//! rule must match its header; plus the shipped handlers, the log, the budget and the
//! assembler/disassembler round trip.

#[path = "verifier/corpus.rs"]
mod corpus;

use axebpf_core::helpers::ALL_HELPERS;
use axebpf_core::object::{LoadOptions, LoadedObject, ObjectError};
use axebpf_core::platform::host::HostPlatform;
use axebpf_core::runtime::ExecMode;
use axebpf_core::verifier::{self, MapInfo, Options, Rule, Target};
use corpus::{Case, Verdict};

const EXIT_LATENCY: &[u8] = include_bytes!("../bpf/exit_latency.bpf.o");
const EXIT_COUNT: &[u8] = include_bytes!("../bpf/exit_count.bpf.o");

fn handle(i: usize) -> u64 {
    0x100 + i as u64
}

fn map_infos(case: &Case) -> Vec<MapInfo> {
    case.maps
        .iter()
        .enumerate()
        .map(|(i, m)| MapInfo {
            handle: handle(i),
            name: m.name.clone(),
            spec: m.spec,
        })
        .collect()
}

fn helper_ids() -> Vec<u32> {
    ALL_HELPERS.iter().map(|h| h.id).collect()
}

fn verify_case(case: &Case, options: &Options) -> Result<verifier::Report, verifier::VerifyError> {
    let code = case.assemble(&handle).unwrap();
    let maps = map_infos(case);
    let helpers = helper_ids();
    let target = Target {
        context_size: case.context_size,
        maps: &maps,
        helpers: &helpers,
    };
    verifier::verify(&code, &target, options)
}

#[test]
fn corpus_verdicts_and_rules_match_their_labels() {
    let cases = corpus::load_all();
    assert!(cases.len() >= 80, "corpus has {} programs", cases.len());
    let mut failures = Vec::new();
    let (mut accepted, mut rejected) = (0, 0);
    for case in &cases {
        let result = verify_case(case, &Options::default());
        let got = match &result {
            Ok(_) => Verdict::Accept,
            Err(e) => Verdict::Reject(e.rule),
        };
        match got {
            Verdict::Accept => accepted += 1,
            Verdict::Reject(_) => rejected += 1,
        }
        if got != case.verdict {
            failures.push(format!(
                "{}: expected {:?}, got {:?} ({})",
                case.name,
                case.verdict,
                got,
                result.err().map_or(String::new(), |e| e.to_string())
            ));
        }
    }
    println!(
        "corpus: {} programs, {accepted} accepted, {rejected} rejected",
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn corpus_covers_every_category() {
    let cases = corpus::load_all();
    let rejects: Vec<Rule> = cases
        .iter()
        .filter_map(|c| match c.verdict {
            Verdict::Reject(rule) => Some(rule),
            Verdict::Accept => None,
        })
        .collect();
    for rule in [
        Rule::CtxOob,
        Rule::StackOob,
        Rule::MapValueOob,
        Rule::NullCheck,
        Rule::UninitReg,
        Rule::StackUninit,
        Rule::Loop,
        Rule::HelperArg,
        Rule::PtrLeak,
        Rule::JumpRange,
        Rule::JumpIntoLddw,
        Rule::DivByZero,
        Rule::Unreachable,
        Rule::PtrCompare,
        Rule::PtrArith,
    ] {
        assert!(
            rejects.contains(&rule),
            "no corpus program is rejected for {rule}"
        );
    }
    let accepts = cases
        .iter()
        .filter(|c| c.verdict == Verdict::Accept)
        .count();
    assert!(accepts >= 20, "only {accepts} accepted programs");
}

#[test]
fn disassembly_reassembles_to_the_same_bytes() {
    for case in corpus::load_all() {
        let code = case.assemble(&handle).unwrap();
        let maps = map_infos(&case);
        let helpers = helper_ids();
        let target = Target {
            context_size: case.context_size,
            maps: &maps,
            helpers: &helpers,
        };
        let text = verifier::disassemble_program(&code, &target);
        let mut source = String::new();
        for m in &case.maps {
            source += &format!(
                "; map {} {} key={} value={} entries={}\n",
                m.name,
                m.spec.map_type.name(),
                m.spec.key_size,
                m.spec.value_size,
                m.spec.max_entries
            );
        }
        source += "; expect: accept\n";
        for line in text.lines() {
            let (_, insn) = line.split_once(": ").unwrap();
            source += &format!("{insn}\n");
        }
        let dir = std::env::temp_dir().join(format!("verifier-roundtrip-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}.s", case.name));
        std::fs::write(&path, &source).unwrap();
        let again = corpus::parse_case(&path)
            .unwrap()
            .assemble(&handle)
            .unwrap();
        assert_eq!(again, code, "{}: round trip of\n{text}", case.name);
    }
}

#[test]
fn errors_name_index_instruction_and_rule_and_the_log_shows_states() {
    let case = corpus::load_all()
        .into_iter()
        .find(|c| c.name == "null_missing_check")
        .expect("corpus program null_missing_check");
    let options = Options {
        log: true,
        ..Options::default()
    };
    let error = verify_case(&case, &options).unwrap_err();
    assert_eq!(error.rule, Rule::NullCheck);
    let text = error.to_string();
    assert!(text.contains(&format!("insn {}", error.index)), "{text}");
    assert!(text.contains("ldxdw r1, [r0+0]"), "{text}");
    assert!(text.contains("null_check"), "{text}");
    assert!(error.log.contains("map_value_or_null"), "{}", error.log);
    assert!(error.log.contains("R10=fp0"), "{}", error.log);
    // Without the log option there is no log.
    assert!(
        verify_case(&case, &Options::default())
            .unwrap_err()
            .log
            .is_empty()
    );
}

#[test]
fn the_budget_ends_exploration_with_a_clear_error() {
    let case = corpus::load_all()
        .into_iter()
        .find(|c| c.name == "accept_branch_chain")
        .expect("corpus program accept_branch_chain");
    let report = verify_case(&case, &Options::default()).unwrap();
    let tight = Options {
        max_steps: report.steps / 2,
        ..Options::default()
    };
    let error = verify_case(&case, &tight).unwrap_err();
    assert_eq!(error.rule, Rule::TooComplex);
    assert!(error.message.contains("budget"), "{error}");
}

#[test]
fn loops_are_explored_per_iteration_and_an_endless_one_is_named() {
    let case = |name: &str| {
        corpus::load_all()
            .into_iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("corpus program {name}"))
    };
    // 10 iterations of 3 instructions each, at least.
    let report = verify_case(&case("accept_loop_bounded_counter"), &Options::default()).unwrap();
    assert!(report.steps >= 30, "{report:?}");
    let tight = Options {
        max_steps: 5000,
        ..Options::default()
    };
    let error = verify_case(&case("loop_unknown_bound"), &tight).unwrap_err();
    assert_eq!(error.rule, Rule::LoopBudget, "{error}");
    assert!(
        error
            .message
            .contains("loop at insns 3..6 does not terminate within the budget of 5000 states"),
        "{error}"
    );
    let error = verify_case(&case("loop_infinite"), &Options::default()).unwrap_err();
    assert_eq!(error.rule, Rule::Loop, "{error}");
    assert!(
        error.message.contains("infinite loop at insns 1..1"),
        "{error}"
    );
}

#[test]
fn shipped_handlers_verify_with_a_log() {
    HostPlatform::install();
    for (name, elf) in [("exit_latency", EXIT_LATENCY), ("exit_count", EXIT_COUNT)] {
        let options = LoadOptions {
            verifier_log: true,
            ..LoadOptions::new(ExecMode::Interpreter)
        };
        let object = LoadedObject::load_with_options(elf, &options).unwrap();
        for program in object.programs() {
            let report = program.verification.as_ref().expect("verified");
            assert!(report.log.contains("verified:"), "{name}: {}", report.log);
            assert!(report.steps >= report.insns / 2, "{name}");
        }
    }
}

#[test]
fn a_handler_attached_to_a_smaller_context_is_refused() {
    HostPlatform::install();
    // exit_count reads ctx+16 (exit_reason); vcpu_run_enter's context is 16 bytes.
    let options = LoadOptions {
        attach: Some("vcpu_run_enter"),
        ..LoadOptions::new(ExecMode::Interpreter)
    };
    match LoadedObject::load_with_options(EXIT_COUNT, &options) {
        Err(ObjectError::Verify { error, .. }) => assert_eq!(error.rule, Rule::CtxOob, "{error}"),
        other => panic!("expected a verifier refusal, got {other:?}"),
    }
}

#[test]
fn skipping_the_verifier_is_explicit() {
    HostPlatform::install();
    let options = LoadOptions {
        attach: Some("vcpu_run_enter"),
        unsafe_skip_verifier: true,
        ..LoadOptions::new(ExecMode::Interpreter)
    };
    let object = LoadedObject::load_with_options(EXIT_COUNT, &options).unwrap();
    assert!(object.programs().iter().all(|p| p.verification.is_none()));
}

/// A context of `size` bytes with recognisable contents.
fn context_bytes(size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| (i as u8).wrapping_mul(29).wrapping_add(3))
        .collect()
}

#[test]
fn accepted_corpus_programs_run_alike_in_interpreter_and_jit() {
    use axebpf_core::maps::Map;
    use axebpf_core::registry;
    use axebpf_core::runtime::Program;
    HostPlatform::install();
    let nondeterministic = [
        axebpf_core::helpers::KTIME_GET_NS,
        axebpf_core::helpers::TRACE_PRINTK,
        axebpf_core::helpers::GET_SMP_PROCESSOR_ID,
    ];
    let mut ran = 0;
    for case in corpus::load_all() {
        if case.verdict != Verdict::Accept {
            continue;
        }
        let mut results = Vec::new();
        for mode in [ExecMode::Interpreter, ExecMode::Jit] {
            // Fresh maps per run, so both modes start from the same contents.
            let maps: Vec<Box<Map>> = case
                .maps
                .iter()
                .map(|m| Box::new(Map::new(m.spec, 2).unwrap()))
                .collect();
            let handles: Vec<_> = maps
                .iter()
                .map(|m| registry::register(m).unwrap())
                .collect();
            let code = case.assemble(&|i| u64::from(handles[i].raw())).unwrap();
            let memory: Vec<_> = maps
                .iter()
                .flat_map(|m| m.storage_ranges())
                .map(|r| r.start as u64..r.end as u64)
                .collect();
            let result =
                Program::load_with_memory(&code, mode, &ALL_HELPERS, &memory).and_then(|program| {
                    let mut ctx = context_bytes(case.context_size);
                    let r0 = program.run(&mut ctx)?;
                    assert_eq!(
                        ctx,
                        context_bytes(case.context_size),
                        "{}: ctx changed",
                        case.name
                    );
                    Ok(r0)
                });
            for handle in handles {
                registry::unregister(handle);
            }
            results.push(result);
        }
        let interpreted = results[0]
            .clone()
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        match &results[1] {
            Ok(jit) => {
                let calls_nondeterministic = case.assemble(&handle).unwrap().chunks(8).any(|i| {
                    i[0] == 0x85
                        && nondeterministic.contains(&u32::from_le_bytes([i[4], i[5], i[6], i[7]]))
                });
                if !calls_nondeterministic {
                    assert_eq!(
                        *jit, interpreted,
                        "{}: JIT and interpreter disagree",
                        case.name
                    );
                }
            }
            Err(e) => panic!("{}: JIT: {e}", case.name),
        }
        ran += 1;
    }
    println!("accepted corpus programs: {ran} run in both modes");
    assert!(ran >= 30, "only {ran} accepted programs ran");
}

#[test]
fn trace_load_verbose_prints_the_log_and_skipping_warns() {
    use axebpf_core::shell::{Files, Shell};
    struct Objects;
    impl Files for Objects {
        fn read(&self, path: &str) -> Result<Vec<u8>, String> {
            match path {
                "exit_count.o" => Ok(EXIT_COUNT.to_vec()),
                _ => Err(String::from("no such file")),
            }
        }
    }
    HostPlatform::install();
    let mut shell = Shell::new(Objects);
    let mut out = String::new();
    shell
        .execute("trace load vcount exit_count.o -v --mode interp", &mut out)
        .unwrap();
    assert!(out.contains("verifier log of `count_exit`"), "{out}");
    assert!(out.contains("call map_lookup_elem"), "{out}");
    assert!(out.contains("verified: 26 insns"), "{out}");
    shell.execute("trace unload vcount", &mut out).unwrap();

    // Verification failures change nothing and, with -v, show the log up to the refusal.
    let mut out = String::new();
    let error = shell
        .execute(
            "trace load vcount exit_count.o -v --attach vmm:vcpu_run_enter --mode interp",
            &mut out,
        )
        .unwrap_err();
    assert!(error.0.contains("ctx_oob"), "{error}");
    assert!(out.contains("verifier log of `count_exit`"), "{out}");

    let mut out = String::new();
    shell
        .execute(
            "trace load vcount exit_count.o --attach vmm:vcpu_run_enter --unsafe-skip-verifier \
             --mode interp",
            &mut out,
        )
        .unwrap();
    assert!(out.contains("WITHOUT the verifier"), "{out}");
    shell.execute("trace unload vcount", &mut out).unwrap();
}

#[test]
fn clang_compiled_patterns_verify_and_run() {
    const CLANG_PATTERNS: &[u8] = include_bytes!("verifier/objects/clang_patterns.bpf.o");
    HostPlatform::install();
    for mode in [ExecMode::Interpreter, ExecMode::Jit] {
        let object = LoadedObject::load(CLANG_PATTERNS, mode).unwrap();
        assert_eq!(object.programs().len(), 4);
        for program in object.programs() {
            let size = axebpf_core::tracepoint::for_section(&program.section)
                .unwrap()
                .context_size;
            let mut ctx = context_bytes(size);
            let r0 = program.program.run(&mut ctx).unwrap();
            assert!(r0 <= 1, "{}: {r0}", program.name);
        }
        // h1 clamps the width into the 16 buckets: the bucket it bumped is the clamped one.
        let hists = object.map("hists").unwrap();
        let key = (context_bytes(48)[16] as u32 & 3).to_ne_bytes();
        let per_cpu = hists.read_per_cpu(&key).unwrap();
        let bumped: u64 = per_cpu
            .iter()
            .map(|v| u64::from_ne_bytes(v[15 * 8..16 * 8].try_into().unwrap()))
            .sum();
        assert_eq!(
            bumped,
            1,
            "width {} clamps to bucket 15",
            context_bytes(48)[20]
        );
    }
}

#[test]
fn clang_compiled_atomics_verify() {
    const CLANG_ATOMICS: &[u8] = include_bytes!("verifier/objects/clang_atomics.bpf.o");
    HostPlatform::install();
    let options = LoadOptions {
        verifier_log: true,
        ..LoadOptions::new(ExecMode::Interpreter)
    };
    let object = LoadedObject::load_with_options(CLANG_ATOMICS, &options)
        .unwrap_or_else(|e| panic!("clang_atomics: {e}"));
    for program in object.programs() {
        let mut ctx = context_bytes(48);
        assert_eq!(program.program.run(&mut ctx).unwrap(), 0);
    }
}
