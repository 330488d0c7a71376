//! axebpf-core's object loader against aya-obj 0.3.0 (an independent parser, used only here on
//! the host): for every committed test object both must find the same programs with the same
//! instructions, the same maps and the same relocation sites.
//!
//! aya-obj 0.3.0 builds on the pinned nightly and parses every object the loader accepts. It
//! lays out BPF-to-BPF callees in a different order (first call first), so linked programs are
//! compared function by function: each function's code, and where its map loads and calls go.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use axebpf_core::loader::{self, INSN_SIZE, OP_CALL, OP_LD_IMM64};
use aya_obj::EbpfSectionKind;
use aya_obj::generated::bpf_insn;

/// The objects the loader accepts: the test objects of `axebpf-core/tests/objects` and the
/// shipped handlers of `axebpf-core/bpf`.
const OBJECTS: &[&str] = &[
    "tests/objects/maps_btf",
    "tests/objects/maps_legacy",
    "tests/objects/two_programs",
    "tests/objects/bpf_to_bpf",
    "bpf/exit_latency",
    "bpf/exit_count",
];

fn object_bytes(name: &str) -> Vec<u8> {
    let path = format!("{}/../axebpf-core/{name}.bpf.o", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn aya_bytes(insns: &[bpf_insn]) -> Vec<u8> {
    insns
        .iter()
        .flat_map(|insn| {
            let mut bytes = [0u8; INSN_SIZE];
            bytes[0] = insn.code;
            bytes[1] = (insn.src_reg() << 4) | insn.dst_reg();
            bytes[2..4].copy_from_slice(&insn.off.to_le_bytes());
            bytes[4..8].copy_from_slice(&insn.imm.to_le_bytes());
            bytes
        })
        .collect()
}

/// Instruction bytes with what linking and relocation rewrite blanked out: the immediates of
/// local calls and of LD_IMM64s, and the LD_IMM64's `src_reg`.
fn masked(code: &[u8]) -> Vec<u8> {
    let mut out = code.to_vec();
    let mut at = 0;
    while at + INSN_SIZE <= out.len() {
        let (opcode, src) = (out[at], out[at + 1] >> 4);
        if opcode == OP_CALL && src == 1 {
            out[at + 4..at + 8].fill(0);
        } else if opcode == OP_LD_IMM64 && at + 2 * INSN_SIZE <= out.len() {
            out[at + 1] &= 0x0f;
            out[at + 4..at + 8].fill(0);
            out[at + 12..at + 16].fill(0);
            at += INSN_SIZE;
        }
        at += INSN_SIZE;
    }
    out
}

/// What a linked, relocated program does, independent of where its functions sit:
/// for each function, its masked code, its map loads `(insn, map)` and its calls
/// `(insn, callee)`, all indexed within the function.
type Shape = BTreeMap<String, (Vec<u8>, BTreeSet<(usize, i32)>, BTreeSet<(usize, String)>)>;

fn shape(code: &[u8], spans: &[(String, usize, usize)]) -> Shape {
    let owner = |insn: usize| {
        spans
            .iter()
            .find(|(_, start, len)| (*start..start + len).contains(&insn))
            .unwrap_or_else(|| panic!("insn {insn} outside every function"))
    };
    let mut shape: Shape = spans
        .iter()
        .map(|(name, start, len)| {
            let bytes = &code[start * INSN_SIZE..(start + len) * INSN_SIZE];
            (
                name.clone(),
                (masked(bytes), BTreeSet::new(), BTreeSet::new()),
            )
        })
        .collect();
    let mut index = 0;
    while (index + 1) * INSN_SIZE <= code.len() {
        let at = index * INSN_SIZE;
        let (opcode, src) = (code[at], code[at + 1] >> 4);
        let imm = i32::from_le_bytes(code[at + 4..at + 8].try_into().unwrap());
        let (name, start, _) = owner(index);
        if opcode == OP_LD_IMM64 && src == 1 {
            shape.get_mut(name).unwrap().1.insert((index - start, imm));
        }
        if opcode == OP_CALL && src == 1 {
            let target = usize::try_from(index as i64 + 1 + i64::from(imm)).unwrap();
            let callee = spans
                .iter()
                .find(|(_, start, _)| *start == target)
                .unwrap_or_else(|| panic!("call at {index} to {target}: not a function start"));
            let calls = &mut shape.get_mut(name).unwrap().2;
            calls.insert((index - start, callee.0.clone()));
        }
        index += if opcode == OP_LD_IMM64 { 2 } else { 1 };
    }
    shape
}

/// Where aya-obj put each function of a linked program: the entry first, then whole copies
/// of other functions, found by their (masked) code.
fn aya_spans(
    code: &[u8],
    entry: &str,
    functions: &[(String, Vec<u8>)],
) -> Vec<(String, usize, usize)> {
    let masked_code = masked(code);
    let mut spans = Vec::new();
    let mut at = 0;
    while at < code.len() {
        let (name, bytes) = if at == 0 {
            functions.iter().find(|(name, _)| name == entry).unwrap()
        } else {
            functions
                .iter()
                .find(|(_, bytes)| masked_code[at..].starts_with(&masked(bytes)))
                .unwrap_or_else(|| panic!("aya: no function at byte {at}"))
        };
        spans.push((name.clone(), at / INSN_SIZE, bytes.len() / INSN_SIZE));
        at += bytes.len();
    }
    spans
}

/// The file descriptor the oracle gives map `index` (ours gets the same as its handle).
fn handle(index: usize) -> i32 {
    100 + i32::try_from(index).unwrap()
}

#[test]
fn loader_agrees_with_aya_obj() {
    for name in OBJECTS {
        let bytes = object_bytes(name);
        let mut ours = loader::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut aya = aya_obj::Object::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));

        // Maps: same names, types, sizes, entries, flags. aya-obj also turns every data section
        // (`.rodata*`, `.data`, `.bss`) into a map for global variables; the loader ignores
        // the unreferenced ones (clang leaves constant pools behind) and rejects references.
        let aya_maps: BTreeMap<_, _> = aya
            .maps
            .iter()
            .filter(|(_, m)| {
                matches!(
                    m.section_kind(),
                    EbpfSectionKind::Maps | EbpfSectionKind::BtfMaps
                )
            })
            .map(|(n, m)| {
                let def = (
                    m.map_type(),
                    m.key_size(),
                    m.value_size(),
                    m.max_entries(),
                    m.map_flags(),
                );
                (n.clone(), def)
            })
            .collect();
        let our_maps: BTreeMap<_, _> = ours
            .maps
            .iter()
            .map(|m| {
                let def = (m.map_type, m.key_size, m.value_size, m.max_entries, m.flags);
                (m.name.clone(), def)
            })
            .collect();
        assert_eq!(our_maps, aya_maps, "{name}: maps");

        // Programs: same names and section kinds.
        let aya_programs: BTreeSet<_> = aya.programs.keys().cloned().collect();
        let our_programs: BTreeSet<_> = ours.programs.iter().map(|p| p.name.clone()).collect();
        assert_eq!(our_programs, aya_programs, "{name}: programs");
        for program in &ours.programs {
            let kind = format!("{:?}", aya.programs[&program.name].section);
            let expected = match program.section.split('/').next() {
                Some("tracepoint") => "TracePoint",
                Some("kprobe") => "KProbe",
                other => panic!("{name}: no expectation for section {other:?}"),
            };
            assert!(
                kind.starts_with(expected),
                "{name}: {kind} vs {}",
                program.section
            );
        }

        // Before relocation: every function's instructions are the same bytes (but for the
        // immediates of local calls, which the loader has already linked).
        let aya_functions: Vec<(String, Vec<u8>)> = aya
            .functions
            .values()
            .map(|f| (f.name.clone(), aya_bytes(&f.instructions)))
            .collect();
        for program in &ours.programs {
            for span in &program.functions {
                let code =
                    &program.bytes()[span.start * INSN_SIZE..(span.start + span.len) * INSN_SIZE];
                let theirs = aya_functions
                    .iter()
                    .find(|(n, _)| *n == span.name)
                    .unwrap_or_else(|| panic!("{name}: aya has no function {}", span.name));
                if program.functions.len() == 1 {
                    // nothing linked: not even a call immediate differs
                    assert_eq!(code, theirs.1.as_slice(), "{name}: {}", span.name);
                }
                assert_eq!(masked(code), masked(&theirs.1), "{name}: {}", span.name);
            }
        }

        // Relocate both the same way, then compare where map loads and calls go.
        let program_sections: HashSet<usize> =
            aya.programs.values().map(|p| p.section_index).collect();
        let text_sections: HashSet<usize> = aya
            .functions
            .keys()
            .map(|&(section, _)| section)
            .filter(|section| !program_sections.contains(section))
            .collect();
        let fds: Vec<(String, i32)> = ours
            .maps
            .iter()
            .enumerate()
            .map(|(index, m)| (m.name.clone(), handle(index)))
            .collect();
        let maps = aya.maps.clone();
        let with_fds = fds
            .iter()
            .map(|(n, fd)| (n.as_str(), *fd, &maps[n.as_str()]));
        aya.relocate_maps(with_fds, &text_sections)
            .unwrap_or_else(|e| panic!("{name}: aya relocate_maps: {e}"));
        aya.relocate_calls(&text_sections)
            .unwrap_or_else(|e| panic!("{name}: aya relocate_calls: {e}"));
        for program in &mut ours.programs {
            program.relocate_maps(|index| u64::try_from(handle(index)).unwrap());
            let key = aya.programs[&program.name].function_key();
            let theirs = aya_bytes(&aya.functions[&key].instructions);
            assert_eq!(theirs.len(), program.bytes().len(), "{name}: linked length");
            let spans: Vec<_> = program
                .functions
                .iter()
                .map(|f| (f.name.clone(), f.start, f.len))
                .collect();
            let their_spans = aya_spans(&theirs, &program.name, &aya_functions);
            assert_eq!(
                shape(program.bytes(), &spans),
                shape(&theirs, &their_spans),
                "{name}: {} relocated",
                program.name
            );
        }
    }
}

/// The objects the loader rejects are ones aya-obj 0.3.0 parses (it is a general loader): the
/// rejections are axtrace's runtime limits, not misreadings.
#[test]
fn rejected_objects_are_valid_elf_for_aya() {
    for name in [
        "tests/objects/bad_map_type",
        "tests/objects/global_data",
        "tests/objects/no_key_size",
        "tests/objects/recursion",
    ] {
        let bytes = object_bytes(name);
        assert!(loader::parse(&bytes).is_err(), "{name}");
        aya_obj::Object::parse(&bytes).unwrap_or_else(|e| panic!("{name}: aya: {e}"));
    }
}
