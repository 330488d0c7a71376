//! Verification time, against loading the same program into the runtime (the VM's checks and
//! JIT compilation) in the same run:
//!
//! * `verifier_exit_latency_on_enter` / `_on_exit`, `verifier_exit_count`: the shipped
//!   handlers' programs;
//! * `verifier_largest_corpus`: the largest program of the verifier corpus
//!   (`accept_largest.s`, 24 lookups with indexed updates and branches).
//!
//! Goal: verifying costs at most 10× JIT-loading the same program (`verify` / `jit_load` ≤ 10):
//! both are one-time costs of `trace load`, and the verifier explores every path where the JIT
//! makes one pass. Measured: 0.3× for the small handlers, 2.9× for `exit_latency`'s `on_enter`,
//! 6.2× for the largest corpus program.

#[path = "../../axebpf-core/tests/verifier/corpus.rs"]
#[allow(missing_docs)]
mod corpus;

use std::hint::black_box;
use std::path::Path;

use axebpf_core::helpers::ALL_HELPERS;
use axebpf_core::loader;
use axebpf_core::platform::host::HostPlatform;
use axebpf_core::runtime::{ExecMode, Program};
use axebpf_core::verifier::{self, MapInfo, Options, Target};
use criterion::{Criterion, criterion_group, criterion_main};

const EXIT_LATENCY: &[u8] = include_bytes!("../../axebpf-core/bpf/exit_latency.bpf.o");
const EXIT_COUNT: &[u8] = include_bytes!("../../axebpf-core/bpf/exit_count.bpf.o");

/// A program ready to verify: relocated code, its maps and its context size.
struct Subject {
    name: String,
    code: Vec<u8>,
    maps: Vec<MapInfo>,
    context_size: usize,
}

fn handle(i: usize) -> u64 {
    0x100 + i as u64
}

fn handlers(elf: &[u8], object_name: &str) -> Vec<Subject> {
    let mut object = loader::parse(elf).unwrap();
    let maps: Vec<MapInfo> = object
        .maps
        .iter()
        .enumerate()
        .map(|(i, def)| MapInfo {
            handle: handle(i),
            name: def.name.clone(),
            spec: def.spec().unwrap(),
        })
        .collect();
    object
        .programs
        .iter_mut()
        .map(|program| {
            program.relocate_maps(handle);
            Subject {
                name: format!("{object_name}_{}", program.name),
                code: program.bytes().to_vec(),
                maps: maps.clone(),
                context_size: axebpf_core::tracepoint::for_section(&program.section)
                    .unwrap()
                    .context_size,
            }
        })
        .collect()
}

fn largest_corpus() -> Subject {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../axebpf-core/tests/verifier/corpus/accept_largest.s");
    let case = corpus::parse_case(&path).unwrap();
    Subject {
        name: String::from("largest_corpus"),
        code: case.assemble(&handle).unwrap(),
        maps: case
            .maps
            .iter()
            .enumerate()
            .map(|(i, m)| MapInfo {
                handle: handle(i),
                name: m.name.clone(),
                spec: m.spec,
            })
            .collect(),
        context_size: case.context_size,
    }
}

fn verification(c: &mut Criterion) {
    HostPlatform::install();
    let helper_ids: Vec<u32> = ALL_HELPERS.iter().map(|h| h.id).collect();
    let mut subjects = handlers(EXIT_LATENCY, "exit_latency");
    subjects.extend(handlers(EXIT_COUNT, "exit_count"));
    subjects.push(largest_corpus());
    for subject in &subjects {
        let target = Target {
            context_size: subject.context_size,
            maps: &subject.maps,
            helpers: &helper_ids,
        };
        let report = verifier::verify(&subject.code, &target, &Options::default()).unwrap();
        eprintln!(
            "verifier_{}: {} instructions, {} states explored",
            subject.name, report.insns, report.steps
        );
        let mut group = c.benchmark_group(format!("verifier_{}", subject.name));
        // Named `baseline…` so `cargo xtask bench` divides `verify` by it.
        group.bench_function("verify", |b| {
            b.iter(|| {
                black_box(verifier::verify(
                    black_box(&subject.code),
                    &target,
                    &Options::default(),
                ))
                .unwrap()
            })
        });
        group.bench_function("baseline_jit_load", |b| {
            b.iter(|| black_box(Program::load(&subject.code, ExecMode::Jit, &ALL_HELPERS).unwrap()))
        });
        group.finish();
    }
}

criterion_group!(benches, verification);
criterion_main!(benches);
