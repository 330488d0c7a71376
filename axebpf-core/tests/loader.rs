//! The eBPF object loader against the committed test objects (`tests/objects/*.bpf.o`, built by
//! `cargo xtask bpf`) and against small ELF objects built in memory for the error cases.

use axebpf_core::loader::{
    self, INSN_SIZE, Insn, LoadError, MapDef, MapRelocation, Object, PSEUDO_MAP_FD, map_type,
};

fn object_bytes(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/objects/{name}.bpf.o", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e} (run `cargo xtask bpf`)"))
}

fn load(name: &str) -> Object {
    loader::parse(&object_bytes(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn map(name: &str, map_type: u32, key: u32, value: u32, max_entries: u32, flags: u32) -> MapDef {
    MapDef {
        name: name.into(),
        map_type,
        key_size: key,
        value_size: value,
        max_entries,
        flags,
    }
}

fn relocs(sites: &[(usize, usize)]) -> Vec<MapRelocation> {
    sites
        .iter()
        .map(|&(insn, map)| MapRelocation { insn, map })
        .collect()
}

/// Every committed object the loader must accept.
const GOOD_OBJECTS: &[&str] = &["maps_btf", "maps_legacy", "two_programs", "bpf_to_bpf"];
/// Committed objects the loader must reject.
const BAD_OBJECTS: &[&str] = &["bad_map_type", "global_data", "no_key_size", "recursion"];

#[test]
fn btf_maps_of_every_supported_type() {
    let object = load("maps_btf");
    assert_eq!(
        object.maps,
        [
            map("counts", map_type::HASH, 4, 8, 1024, 0),
            map("stats", map_type::ARRAY, 4, 24, 16, 0),
            // struct flow_key {u32, u16, u16, u64}; const volatile typedef of a 24-byte struct
            map("flows", map_type::PERCPU_HASH, 16, 24, 4096, 1),
            // int key, __u64[4] value
            map("hist", map_type::PERCPU_ARRAY, 4, 32, 8, 0),
            // __uint(key_size, 4) / __uint(value_size, 16)
            map("recent", map_type::LRU_HASH, 4, 16, 256, 0),
            // no max_entries: the runtime decides (one per CPU)
            map("events", map_type::PERF_EVENT_ARRAY, 4, 4, 0, 0),
        ]
    );
    assert_eq!(object.license.as_deref(), Some("GPL"));
    assert_eq!(object.programs.len(), 1);
    let program = object.program("on_exit").unwrap();
    assert_eq!(program.section, "tracepoint/vmm/vcpu_run_exit");
    assert_eq!(program.insn_count(), 81);
    assert_eq!(program.bytes().len(), 81 * INSN_SIZE);
    assert_eq!(
        program.map_relocations,
        relocs(&[
            (15, 0),
            (25, 0),
            (31, 1),
            (40, 2),
            (49, 3),
            (61, 4),
            (73, 5)
        ])
    );
    assert_eq!(
        program.helper_calls().collect::<Vec<_>>(),
        [
            (17, 1),
            (28, 2),
            (33, 1),
            (42, 1),
            (45, 5),
            (51, 1),
            (64, 2),
            (65, 5),
            (67, 8),
            (78, 25)
        ]
    );
    assert_eq!(program.local_calls().count(), 0);
    assert_eq!(object.map("flows").map(|(index, _)| index), Some(2));
}

#[test]
fn legacy_maps() {
    let object = load("maps_legacy");
    assert_eq!(
        object.maps,
        [
            map("exit_counts", map_type::HASH, 4, 8, 512, 0),
            map("per_cpu", map_type::PERCPU_ARRAY, 4, 24, 4, 0),
            map("lru", map_type::LRU_HASH, 8, 8, 128, 1),
        ]
    );
    assert_eq!(object.license.as_deref(), Some("Dual MIT/GPL"));
    let program = object.program("kprobe/handle_exit").unwrap();
    assert_eq!(program.name, "count_exit");
    assert_eq!(program.insn_count(), 38);
    assert_eq!(
        program.map_relocations,
        relocs(&[(6, 0), (16, 0), (22, 1), (33, 2)])
    );
    assert_eq!(
        program.helper_calls().collect::<Vec<_>>(),
        [(8, 1), (19, 2), (24, 1), (29, 5), (35, 3)]
    );
}

#[test]
fn two_sections_three_programs() {
    let object = load("two_programs");
    let summary: Vec<_> = object
        .programs
        .iter()
        .map(|p| (p.name.as_str(), p.section.as_str(), p.insn_count()))
        .collect();
    assert_eq!(
        summary,
        [
            ("on_enter", "tracepoint/vmm/vcpu_run_enter", 12),
            ("on_exit", "tracepoint/vmm/vcpu_run_exit", 11),
            ("on_exit_again", "tracepoint/vmm/vcpu_run_exit", 2),
        ]
    );
    assert_eq!(object.maps, [map("hits", map_type::ARRAY, 4, 8, 2, 0)]);
    assert_eq!(object.programs[0].map_relocations, relocs(&[(4, 0)]));
    assert_eq!(object.programs[1].map_relocations, relocs(&[(4, 0)]));
    assert!(object.programs[2].map_relocations.is_empty());
    // by name first, then the first program of a section
    assert_eq!(
        object.program("on_exit_again").map(|p| p.insn_count()),
        Some(2)
    );
    assert_eq!(
        object
            .program("tracepoint/vmm/vcpu_run_exit")
            .map(|p| p.name.as_str()),
        Some("on_exit")
    );
    assert!(object.program("kprobe/nothing").is_none());
}

#[test]
fn bpf_to_bpf_calls_are_linked_callers_first() {
    let object = load("bpf_to_bpf");
    assert_eq!(object.maps, [map("totals", map_type::HASH, 4, 8, 64, 0)]);
    let spans = |name: &str| -> Vec<(String, usize, usize)> {
        object
            .program(name)
            .unwrap()
            .functions
            .iter()
            .map(|f| (f.name.clone(), f.start, f.len))
            .collect()
    };
    let span = |name: &str, start, len| (String::from(name), start, len);
    assert_eq!(
        spans("on_hypercall"),
        [
            span("on_hypercall", 0, 8),
            span("add_square", 8, 15),
            span("square", 23, 3)
        ]
    );
    // on_mmio calls square before add_square, yet square still comes after its other caller.
    assert_eq!(
        spans("on_mmio"),
        [
            span("on_mmio", 0, 9),
            span("add_square", 9, 15),
            span("square", 24, 3)
        ]
    );
    let hypercall = object.program("on_hypercall").unwrap();
    assert_eq!(hypercall.insn_count(), 26);
    // the map load inside add_square (its insn 4) moved with it
    assert_eq!(hypercall.map_relocations, relocs(&[(12, 0)]));
    assert_eq!(hypercall.helper_calls().collect::<Vec<_>>(), [(14, 1)]);
    assert_eq!(
        hypercall.local_calls().collect::<Vec<_>>(),
        [(2, 8), (5, 23), (17, 23)]
    );
    let mmio = object.program("on_mmio").unwrap();
    assert_eq!(
        mmio.local_calls().collect::<Vec<_>>(),
        [(2, 24), (6, 9), (18, 24)]
    );
    for program in &object.programs {
        for (call, target) in program.local_calls() {
            assert!(target > call, "{}: backward call at {call}", program.name);
        }
    }
}

/// Helper 1 (`bpf_map_lookup_elem`) for the interpreter: no entry.
fn lookup_nothing(_: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    0
}

#[test]
fn linked_programs_run_in_rbpf() {
    let mut object = load("bpf_to_bpf");
    for program in &mut object.programs {
        program.relocate_maps(|_| 0x1000);
    }
    let hypercall = object.program("on_hypercall").unwrap();
    let mut vm = rbpf::EbpfVmRaw::new(Some(hypercall.bytes())).unwrap();
    vm.register_helper(1, lookup_nothing).unwrap();
    assert_eq!(vm.execute_program(&mut []).unwrap(), 5 * 5 + 3 * 3);

    let mmio = object.program("on_mmio").unwrap();
    let mut vm = rbpf::EbpfVmRaw::new(Some(mmio.bytes())).unwrap();
    vm.register_helper(1, lookup_nothing).unwrap();
    let mut ctx = [0u8; 16];
    ctx[..8].copy_from_slice(&4u64.to_le_bytes());
    ctx[8..].copy_from_slice(&6u64.to_le_bytes());
    assert_eq!(vm.execute_program(&mut ctx).unwrap(), 4 * 4 + 6 * 6);
}

#[test]
fn relocate_maps_writes_handles() {
    let mut object = load("maps_btf");
    let before = object.programs[0].bytes().to_vec();
    let program = &mut object.programs[0];
    program.relocate_maps(|map| 0xaabb_ccdd_0000_0000 | (0x100 + map as u64));
    for reloc in &program.map_relocations {
        let first = program.insn(reloc.insn).unwrap();
        let second = program.insn(reloc.insn + 1).unwrap();
        assert_eq!(first.src, PSEUDO_MAP_FD);
        assert_eq!(first.imm as u32, 0x100 + reloc.map as u32);
        assert_eq!(second.imm as u32, 0xaabb_ccdd);
    }
    // A u32 handle leaves the second half's imm 0; relocating twice overwrites.
    program.relocate_maps(|map| 7 + map as u64);
    for reloc in &program.map_relocations {
        assert_eq!(program.insn(reloc.insn + 1).unwrap().imm, 0);
        assert_eq!(program.insn(reloc.insn).unwrap().imm, 7 + reloc.map as i32);
    }
    let changed: Vec<usize> = before
        .chunks(INSN_SIZE)
        .zip(program.bytes().chunks(INSN_SIZE))
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, _)| i)
        .collect();
    let expected: Vec<usize> = program.map_relocations.iter().map(|r| r.insn).collect();
    assert_eq!(
        changed, expected,
        "only the first halves change (src_reg, imm)"
    );
    let failed: Result<(), &str> = program.try_relocate_maps(|_| Err("no such map"));
    assert_eq!(failed, Err("no such map"));
}

#[test]
fn rejected_objects_say_why() {
    let err = |name: &str| loader::parse(&object_bytes(name)).unwrap_err();
    assert_eq!(
        err("bad_map_type"),
        LoadError::UnsupportedMapType {
            map: "rb".into(),
            map_type: 27
        }
    );
    assert_eq!(
        err("no_key_size"),
        LoadError::MissingMapAttribute {
            map: "nokey".into(),
            attribute: "key size"
        }
    );
    let global = err("global_data").to_string();
    assert!(
        global.contains("`counter`") && global.contains(".bss"),
        "{global}"
    );
    assert!(global.contains("tracepoint/vmm/vcpu_run_exit"), "{global}");
    assert_eq!(
        err("recursion"),
        LoadError::RecursiveCall {
            program: "on_hypercall".into(),
            function: "fib".into()
        }
    );
}

#[test]
fn not_elf_wrong_class_endianness_machine() {
    assert_eq!(loader::parse(b""), Err(LoadError::NotElf));
    assert_eq!(
        loader::parse(b"#!/bin/sh\necho hi\n"),
        Err(LoadError::NotElf)
    );
    let mut bytes = object_bytes("two_programs");
    bytes[4] = 1;
    assert_eq!(
        loader::parse(&bytes),
        Err(LoadError::WrongClass { class: 1 })
    );
    let mut bytes = object_bytes("two_programs");
    bytes[5] = 2;
    assert_eq!(
        loader::parse(&bytes),
        Err(LoadError::WrongEndianness { encoding: 2 })
    );
    // This test binary: an x86-64 (or other host) ELF, not EM_BPF.
    let exe = std::fs::read("/proc/self/exe").unwrap();
    let Err(LoadError::WrongMachine { machine }) = loader::parse(&exe) else {
        panic!("the host executable must be rejected as the wrong machine");
    };
    assert_ne!(machine, 247);
    #[cfg(target_arch = "x86_64")]
    assert_eq!(machine, 62);
}

#[test]
fn malformed_btf_names_its_offset() {
    let mut bytes = object_bytes("maps_btf");
    let (start, len) = section_range(&bytes, ".BTF");
    bytes[start] ^= 0xff; // magic
    let Err(LoadError::Btf { offset: 0, reason }) = loader::parse(&bytes) else {
        panic!("bad BTF magic must be a BTF error");
    };
    assert!(reason.contains("magic"), "{reason}");
    // A type section that runs past the end of `.BTF`.
    let mut bytes = object_bytes("maps_btf");
    bytes[start + 12..start + 16].copy_from_slice(&u32::try_from(len).unwrap().to_le_bytes());
    assert!(matches!(loader::parse(&bytes), Err(LoadError::Btf { .. })));
}

/// File offset and size of a section, found with the `object` crate.
fn section_range(elf: &[u8], name: &str) -> (usize, usize) {
    use object::{Object as _, ObjectSection as _};
    let file = object::read::elf::ElfFile64::<object::LittleEndian>::parse(elf).unwrap();
    let section = file.section_by_name(name).unwrap();
    let (start, len) = section.file_range().unwrap();
    (start as usize, len as usize)
}

/// Truncations and random byte flips of every committed object: `Ok` or `Err`, never a panic.
#[test]
fn damaged_objects_never_panic() {
    for name in GOOD_OBJECTS.iter().chain(BAD_OBJECTS) {
        let bytes = object_bytes(name);
        for len in 0..bytes.len() {
            let _ = loader::parse(&bytes[..len]);
        }
        let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ bytes.len() as u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..3000 {
            let mut damaged = bytes.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() % damaged.len() as u64) as usize;
                damaged[at] ^= 1 << (next() % 8);
            }
            let _ = loader::parse(&damaged);
        }
        // Every 32-bit field set to awkward values, one at a time (header, tables, BTF).
        for at in (0..bytes.len().saturating_sub(4)).step_by(4) {
            for value in [0u32, 1, 7, 0x7fff_ffff, u32::MAX] {
                let mut damaged = bytes.clone();
                damaged[at..at + 4].copy_from_slice(&value.to_le_bytes());
                let _ = loader::parse(&damaged);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Objects built in memory, for what clang does not produce.

fn insn(opcode: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    Insn {
        opcode,
        dst,
        src,
        off,
        imm,
    }
    .to_bytes()
}

const MOV64_IMM: u8 = 0xb7;
const EXIT: u8 = 0x95;
const SHT_PROGBITS: u32 = 1;
const SHT_REL: u32 = 9;
const SHF_ALLOC_EXEC: u64 = 0x2 | 0x4;
const STT_OBJECT: u8 = 1;
const STT_FUNC: u8 = 2;

/// A minimal relocatable ELF writer: header, user sections, `.symtab`, `.strtab`, `.shstrtab`.
#[derive(Default)]
struct Synth {
    /// name, type, flags, data, info (for SHT_REL: the relocated section)
    sections: Vec<(String, u32, u64, Vec<u8>, u32)>,
    /// name, section, value, size, st_info
    symbols: Vec<(String, u16, u64, u64, u8)>,
}

impl Synth {
    fn section(&mut self, name: &str, sh_type: u32, flags: u64, data: Vec<u8>) -> u16 {
        self.sections.push((name.into(), sh_type, flags, data, 0));
        self.sections.len() as u16
    }

    fn code(&mut self, name: &str, insns: &[[u8; 8]]) -> u16 {
        self.section(name, SHT_PROGBITS, SHF_ALLOC_EXEC, insns.concat())
    }

    fn symbol(&mut self, name: &str, section: u16, value: u64, size: u64, kind: u8) -> u32 {
        let global = 1 << 4;
        self.symbols
            .push((name.into(), section, value, size, global | kind));
        self.symbols.len() as u32
    }

    /// `(byte offset, symbol, type)` relocations of `target`.
    fn rels(&mut self, target: u16, entries: &[(u64, u32, u32)]) {
        let mut data = Vec::new();
        for &(offset, symbol, r_type) in entries {
            data.extend_from_slice(&offset.to_le_bytes());
            data.extend_from_slice(&((u64::from(symbol) << 32) | u64::from(r_type)).to_le_bytes());
        }
        let name = format!(".rel{}", self.sections[usize::from(target) - 1].0);
        self.sections
            .push((name, SHT_REL, 0, data, u32::from(target)));
    }

    fn finish(self, machine: u16) -> Vec<u8> {
        let user = self.sections.len() as u32;
        let (symtab, strtab, shstrtab) = (user + 1, user + 2, user + 3);
        let mut strings = vec![0u8];
        let add = |table: &mut Vec<u8>, name: &str| {
            let at = table.len() as u32;
            table.extend_from_slice(name.as_bytes());
            table.push(0);
            at
        };
        let mut symdata = vec![0u8; 24];
        for (name, section, value, size, info) in &self.symbols {
            symdata.extend_from_slice(&add(&mut strings, name).to_le_bytes());
            symdata.push(*info);
            symdata.push(0);
            symdata.extend_from_slice(&section.to_le_bytes());
            symdata.extend_from_slice(&value.to_le_bytes());
            symdata.extend_from_slice(&size.to_le_bytes());
        }
        let mut shstr = vec![0u8];
        // name offset, type, flags, data, link, info, entsize
        type Header = (u32, u32, u64, Vec<u8>, u32, u32, u64);
        let mut all: Vec<Header> = Vec::new();
        for (name, sh_type, flags, data, info) in self.sections {
            let (link, entsize) = if sh_type == SHT_REL {
                (symtab, 16)
            } else {
                (0, 0)
            };
            all.push((
                add(&mut shstr, &name),
                sh_type,
                flags,
                data,
                link,
                info,
                entsize,
            ));
        }
        all.push((add(&mut shstr, ".symtab"), 2, 0, symdata, strtab, 1, 24));
        all.push((add(&mut shstr, ".strtab"), 3, 0, strings, 0, 0, 0));
        let name = add(&mut shstr, ".shstrtab");
        all.push((name, 3, 0, shstr, 0, 0, 0));

        let mut out = vec![0u8; 64];
        let mut offsets = Vec::new();
        for section in &all {
            out.resize(out.len().next_multiple_of(8), 0);
            offsets.push(out.len() as u64);
            out.extend_from_slice(&section.3);
        }
        out.resize(out.len().next_multiple_of(8), 0);
        let shoff = out.len() as u64;
        out.extend_from_slice(&[0u8; 64]); // the null section header
        for (section, offset) in all.iter().zip(offsets) {
            let (name, sh_type, flags, data, link, info, entsize) = section;
            out.extend_from_slice(&name.to_le_bytes());
            out.extend_from_slice(&sh_type.to_le_bytes());
            out.extend_from_slice(&flags.to_le_bytes());
            out.extend_from_slice(&0u64.to_le_bytes()); // addr
            out.extend_from_slice(&offset.to_le_bytes());
            out.extend_from_slice(&(data.len() as u64).to_le_bytes());
            out.extend_from_slice(&link.to_le_bytes());
            out.extend_from_slice(&info.to_le_bytes());
            out.extend_from_slice(&8u64.to_le_bytes()); // addralign
            out.extend_from_slice(&entsize.to_le_bytes());
        }
        let header = &mut out[..64];
        header[..4].copy_from_slice(b"\x7fELF");
        header[4] = 2; // ELFCLASS64
        header[5] = 1; // little-endian
        header[6] = 1; // EV_CURRENT
        header[16..18].copy_from_slice(&1u16.to_le_bytes()); // ET_REL
        header[18..20].copy_from_slice(&machine.to_le_bytes());
        header[20..24].copy_from_slice(&1u32.to_le_bytes());
        header[40..48].copy_from_slice(&shoff.to_le_bytes());
        header[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
        header[58..60].copy_from_slice(&64u16.to_le_bytes()); // e_shentsize
        header[60..62].copy_from_slice(&((shstrtab + 1) as u16).to_le_bytes());
        header[62..64].copy_from_slice(&(shstrtab as u16).to_le_bytes());
        out
    }
}

/// `r0 = imm; ...; exit` of `len` instructions.
fn straight_line(len: usize) -> Vec<[u8; 8]> {
    let mut insns = vec![insn(MOV64_IMM, 0, 0, 0, 1); len - 1];
    insns.push(insn(EXIT, 0, 0, 0, 0));
    insns
}

fn legacy_map_section(synth: &mut Synth) -> u32 {
    let def: Vec<u8> = [map_type::ARRAY, 4, 8, 1, 0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let maps = synth.section("maps", SHT_PROGBITS, 0x3, def);
    synth.symbol("m", maps, 0, 20, STT_OBJECT)
}

#[test]
fn synthetic_object_loads() {
    let mut synth = Synth::default();
    let map = legacy_map_section(&mut synth);
    let mut code = vec![insn(0x18, 1, 0, 0, 0), insn(0, 0, 0, 0, 0)];
    code.extend(straight_line(2));
    let prog = synth.code("kprobe/x", &code);
    synth.symbol("x", prog, 0, 32, STT_FUNC);
    synth.rels(prog, &[(0, map, 1)]);
    let object = loader::parse(&synth.finish(247)).unwrap();
    assert_eq!(object.maps, [map_def("m")]);
    assert_eq!(object.programs[0].map_relocations, relocs(&[(0, 0)]));
    assert_eq!(object.license, None);

    // A code section without function symbols is one program named after the section.
    let mut synth = Synth::default();
    synth.code("tracepoint/a/b", &straight_line(3));
    let object = loader::parse(&synth.finish(247)).unwrap();
    assert_eq!(object.programs[0].name, "tracepoint/a/b");
    assert_eq!(object.programs[0].insn_count(), 3);
}

fn map_def(name: &str) -> MapDef {
    map(name, map_type::ARRAY, 4, 8, 1, 0)
}

#[test]
fn synthetic_errors() {
    // unsupported relocation type (R_BPF_64_ABS64 = 2) on a map load
    let mut synth = Synth::default();
    let map = legacy_map_section(&mut synth);
    let mut code = vec![insn(0x18, 1, 0, 0, 0), insn(0, 0, 0, 0, 0)];
    code.extend(straight_line(2));
    let prog = synth.code("kprobe/x", &code);
    synth.symbol("x", prog, 0, 32, STT_FUNC);
    synth.rels(prog, &[(0, map, 2)]);
    assert_eq!(
        loader::parse(&synth.finish(247)),
        Err(LoadError::UnsupportedRelocation {
            section: "kprobe/x".into(),
            offset: 0,
            r_type: 2,
            symbol: "m".into()
        })
    );

    // a relocation against a symbol index that does not exist
    let mut synth = Synth::default();
    let prog = synth.code("kprobe/x", &code);
    synth.rels(prog, &[(0, 99, 1)]);
    let err = loader::parse(&synth.finish(247)).unwrap_err();
    assert!(matches!(err, LoadError::BadRelocation { .. }), "{err}");
    assert!(err.to_string().contains("symbol #99"), "{err}");

    // a truncated LD_IMM64 at the end of a function
    let mut synth = Synth::default();
    let mut code = straight_line(2);
    code.push(insn(0x18, 1, 0, 0, 0));
    let prog = synth.code("kprobe/x", &code);
    synth.symbol("x", prog, 0, 24, STT_FUNC);
    assert_eq!(
        loader::parse(&synth.finish(247)),
        Err(LoadError::TruncatedLdImm64 {
            function: "x".into(),
            insn: 2
        })
    );

    // a code section whose size is not a multiple of 8
    let mut synth = Synth::default();
    synth.section("kprobe/x", SHT_PROGBITS, SHF_ALLOC_EXEC, vec![0x95; 12]);
    assert!(matches!(
        loader::parse(&synth.finish(247)),
        Err(LoadError::Misaligned { value: 12, .. })
    ));

    // only `.text`: no program
    let mut synth = Synth::default();
    let text = synth.code(".text", &straight_line(2));
    synth.symbol("helper", text, 0, 16, STT_FUNC);
    assert_eq!(loader::parse(&synth.finish(247)), Err(LoadError::NoProgram));

    // a local call into the middle of a function
    let mut synth = Synth::default();
    let mut code = vec![insn(0x85, 0, 1, 0, 1)];
    code.extend(straight_line(3));
    let prog = synth.code("kprobe/x", &code);
    synth.symbol("x", prog, 0, 32, STT_FUNC);
    assert!(matches!(
        loader::parse(&synth.finish(247)),
        Err(LoadError::BadCall { insn: 0, .. })
    ));

    // a symbol pointing outside its section
    let mut synth = Synth::default();
    let prog = synth.code("kprobe/x", &straight_line(2));
    synth.symbol("x", prog, 8, 64, STT_FUNC);
    assert!(matches!(
        loader::parse(&synth.finish(247)),
        Err(LoadError::FunctionOutOfBounds { .. })
    ));

    // the right layout for another machine
    let mut synth = Synth::default();
    synth.code("kprobe/x", &straight_line(2));
    assert_eq!(
        loader::parse(&synth.finish(62)),
        Err(LoadError::WrongMachine { machine: 62 })
    );
}

#[test]
fn program_size_limit() {
    let limit = loader::MAX_PROGRAM_INSNS;
    for (len, fits) in [(limit, true), (limit + 1, false)] {
        let mut synth = Synth::default();
        let prog = synth.code("tracepoint/vmm/big", &straight_line(len));
        synth.symbol("big", prog, 0, (len * INSN_SIZE) as u64, STT_FUNC);
        let result = loader::parse(&synth.finish(247));
        if fits {
            assert_eq!(result.unwrap().programs[0].insn_count(), limit);
        } else {
            assert_eq!(
                result,
                Err(LoadError::ProgramTooLarge {
                    program: "big".into(),
                    insns: limit + 1,
                    max: limit
                })
            );
        }
    }
    // The limit counts the linked callees too.
    let bytes = object_bytes("bpf_to_bpf");
    assert!(loader::parse_with_limit(&bytes, 27).is_ok());
    assert_eq!(
        loader::parse_with_limit(&bytes, 26),
        Err(LoadError::ProgramTooLarge {
            program: "on_mmio".into(),
            insns: 27,
            max: 26
        })
    );
}
