//! Any bytes as an eBPF program for `vcpu_run_exit`: the verifier accepts or refuses it without
//! panicking, and a program it accepts runs to completion in our interpreter and our JIT with
//! the same R0, each against fresh maps, without touching the (read-only) context; when it
//! calls no helper and uses no map, the RFC 9669 reference model of the ISA tests
//! (`axebpf-core/tests/isa/model.rs`) must compute the same R0 too.
//!
//! `lddw rX, map` (src = 1) picks map `imm % 4` of a hash, an array, a per-CPU array and a perf
//! event array, so mutated programs reach real maps. Inputs whose first byte is odd are shaped
//! first (valid opcodes, forward jumps, known helpers), so long accepted programs are reached.
//! Helpers whose results depend on time, rate limits or the CPU the thread runs on
//! (`ktime_get_ns`, `trace_printk`, `get_smp_processor_id`) are not offered: the runs must agree.
#![no_main]

#[path = "../../axebpf-core/tests/isa/asm.rs"]
#[allow(dead_code)]
mod asm;
#[path = "../../axebpf-core/tests/isa/model.rs"]
#[allow(dead_code)]
mod model;

use axebpf_core::helpers::{
    GET_CURRENT_VCPU_ID_HELPER, GET_CURRENT_VM_ID_HELPER, Helper, MAP_DELETE_ELEM_HELPER,
    MAP_LOOKUP_ELEM_HELPER, MAP_UPDATE_ELEM_HELPER, PERF_EVENT_OUTPUT_HELPER,
};
use axebpf_core::insn::{Insn, op};
use axebpf_core::maps::{Map, MapSpec, MapType};
use axebpf_core::platform::host::HostPlatform;
use axebpf_core::registry::{self, MapHandle};
use axebpf_core::runtime::{ExecMode, Program, RuntimeError};
use axebpf_core::verifier::{self, MapInfo, Options, Target};
use libfuzzer_sys::fuzz_target;

const HELPERS: [&Helper; 6] = [
    &MAP_LOOKUP_ELEM_HELPER,
    &MAP_UPDATE_ELEM_HELPER,
    &MAP_DELETE_ELEM_HELPER,
    &PERF_EVENT_OUTPUT_HELPER,
    &GET_CURRENT_VM_ID_HELPER,
    &GET_CURRENT_VCPU_ID_HELPER,
];

const SPECS: [(&str, MapType, u32, u32, u32); 4] = [
    ("hash", MapType::Hash, 4, 8, 16),
    ("array", MapType::Array, 4, 64, 4),
    ("percpu_array", MapType::PercpuArray, 4, 16, 4),
    ("events", MapType::PerfEventArray, 4, 4, 4),
];

/// A set of fresh maps, registered until dropped.
struct Maps {
    maps: Vec<(Box<Map>, MapHandle)>,
}

impl Maps {
    fn new() -> Self {
        let maps = SPECS
            .iter()
            .map(|&(_, map_type, key_size, value_size, max_entries)| {
                let spec = MapSpec {
                    map_type,
                    key_size,
                    value_size,
                    max_entries,
                    flags: 0,
                };
                let map = Box::new(Map::new(spec, 2).expect("valid map spec"));
                let handle = registry::register(&map).expect("registry has room");
                (map, handle)
            })
            .collect();
        Self { maps }
    }

    fn infos(&self) -> Vec<MapInfo> {
        self.maps
            .iter()
            .zip(SPECS)
            .map(|((map, handle), (name, ..))| MapInfo {
                handle: u64::from(handle.raw()),
                name: name.to_string(),
                spec: *map.spec(),
            })
            .collect()
    }

    fn memory(&self) -> Vec<core::ops::Range<u64>> {
        self.maps
            .iter()
            .flat_map(|(map, _)| map.storage_ranges())
            .map(|r| r.start as u64..r.end as u64)
            .collect()
    }

    /// `code` with every `lddw rX, map` pointing at one of these maps.
    fn relocate(&self, code: &[u8]) -> Vec<u8> {
        let mut out = code.to_vec();
        let mut i = 0;
        while let Some(mut insn) = Insn::decode(&out, i) {
            if insn.opcode == op::LD_IMM64 && insn.src == 1 && (i + 2) * 8 <= out.len() {
                let index = insn.imm as u32 as usize % self.maps.len();
                let handle = u64::from(self.maps[index].1.raw());
                insn.imm = handle as u32 as i32;
                out[i * 8..i * 8 + 8].copy_from_slice(&insn.to_bytes());
                out[i * 8 + 12..i * 8 + 16].copy_from_slice(&((handle >> 32) as u32).to_le_bytes());
                i += 2;
            } else {
                i += 1;
            }
        }
        out
    }
}

impl Drop for Maps {
    fn drop(&mut self) {
        for (_, handle) in &self.maps {
            registry::unregister(*handle);
        }
    }
}

fn context() -> [u8; 48] {
    let mut ctx = [0u8; 48];
    for (i, byte) in ctx.iter_mut().enumerate() {
        *byte = (i as u8).wrapping_mul(37).wrapping_add(11);
    }
    ctx
}

/// R0 by the reference model, for a program that calls no helper and uses no map (the model
/// knows neither); `None` otherwise.
fn modelled(code: &[u8]) -> Option<u64> {
    let uses_outside = (0..code.len() / 8).any(|i| {
        Insn::decode(code, i).is_some_and(|insn| {
            (insn.opcode == op::CALL && insn.src == 0)
                || (insn.opcode == op::LD_IMM64 && insn.src != 0)
        })
    });
    if uses_outside {
        return None;
    }
    let mut ctx = context();
    let (r0, _) = model::run(code, &mut ctx).expect("the model runs a verified program");
    Some(r0)
}

/// Verifies and runs `code` in `mode` against fresh maps: `None` if the verifier refused it.
fn run(code: &[u8], mode: ExecMode) -> Option<Result<u64, RuntimeError>> {
    let maps = Maps::new();
    let code = maps.relocate(code);
    let infos = maps.infos();
    let helper_ids: Vec<u32> = HELPERS.iter().map(|h| h.id).collect();
    let target = Target {
        context_size: 48,
        maps: &infos,
        helpers: &helper_ids,
    };
    let verdict = verifier::verify(&code, &target, &Options::default());
    if let Err(error) = &verdict {
        let _ = error.to_string();
    }
    verdict.ok()?;
    let program = match Program::load_with_memory(&code, mode, &HELPERS, &maps.memory()) {
        Ok(program) => program,
        Err(error) => return Some(Err(error)),
    };
    let mut ctx = context();
    let result = program.run(&mut ctx);
    assert_eq!(
        ctx,
        context(),
        "a verified program changed the read-only context"
    );
    Some(result)
}

/// Opcodes the runtime supports, for the shaped half of the inputs.
const OPCODES: &[u8] = &[
    0x07, 0x0f, 0x17, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x47, 0x4f, 0x57, 0x5f, 0x67, 0x6f, 0x77, 0x7f,
    0x87, 0x97, 0x9f, 0xa7, 0xaf, 0xb7, 0xbf, 0xc7, 0xcf, // ALU64
    0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c, 0x34, 0x3c, 0x44, 0x4c, 0x54, 0x5c, 0x64, 0x6c, 0x74, 0x7c,
    0x84, 0x94, 0x9c, 0xa4, 0xac, 0xb4, 0xbc, 0xc4, 0xcc, 0xd4, 0xdc, // ALU32, endian
    0x61, 0x69, 0x71, 0x79, 0x62, 0x6a, 0x72, 0x7a, 0x63, 0x6b, 0x73, 0x7b, // memory
    0x05, 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x3d, 0x45, 0x4d, 0x55, 0x5d, 0x65, 0x6d, 0x75, 0x7d, 0xa5,
    0xad, 0xb5, 0xbd, 0xc5, 0xcd, 0xd5, 0xdd, 0x16, 0x1e, 0x26, 0x2e, 0xa6, 0xae, // jumps
    0x85, 0x95, 0x18, // call, exit, lddw
    0xc3, 0xdb, // atomics (32, 64)
    0x91, 0x89, 0x81, 0xd7, 0x06, // ISA v4: ldsx b/h/w, bswap, gotol
];

/// Atomic operations (`imm` of `0xc3` / `0xdb`): add, or, and, xor (each also with fetch),
/// xchg, cmpxchg.
const ATOMIC_OPS: [i32; 10] = [0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1];

/// Turns arbitrary bytes into a program more likely to verify: valid opcodes, registers R0–R10,
/// forward in-range jumps, helper ids that exist, small stack and map offsets, an exit at the
/// end — so the fuzzer reaches long accepted programs, not only short ones.
fn shape(data: &[u8]) -> Vec<u8> {
    let count = data.len() / 8;
    let mut out = Vec::with_capacity(count * 8 + 8);
    for (i, chunk) in data.chunks_exact(8).enumerate() {
        let mut insn = Insn::from_bytes(chunk.try_into().unwrap());
        insn.opcode = OPCODES[usize::from(chunk[0]) % OPCODES.len()];
        insn.dst %= 11;
        insn.src %= 11;
        let remaining = (count - i) as i16;
        match insn.opcode {
            // One call in four is a local call to a later instruction.
            0x85 if insn.src % 4 == 0 && remaining > 1 => {
                insn.src = 1;
                insn.imm = i32::from(insn.off.rem_euclid(remaining - 1));
                insn.off = 0;
            }
            0x85 => {
                insn.src = 0;
                insn.imm = HELPERS[insn.imm as u32 as usize % HELPERS.len()].id as i32;
            }
            0xc3 | 0xdb => {
                insn.imm = ATOMIC_OPS[insn.imm as u32 as usize % ATOMIC_OPS.len()];
                insn.off = -(insn.off.rem_euclid(72));
            }
            0xd7 => insn.imm = [16, 32, 64][insn.imm as u32 as usize % 3],
            0x06 => {
                insn.imm = i32::from(insn.off.rem_euclid(remaining.max(1)));
                insn.off = 0;
            }
            // sdiv / smod and movsx: the v4 forms of 0x3f/0x9f/0x37/0x97 and 0xbf/0xbc.
            0x3f | 0x9f | 0x37 | 0x97 | 0x3c | 0x9c | 0x34 | 0x94 => insn.off &= 1,
            0xbf | 0xbc => insn.off = [0, 8, 16, 32][insn.off as u16 as usize % 4],
            0x95 => insn = Insn::new(0x95, 0, 0, 0, 0),
            0x18 => {
                insn.src &= 1;
                insn.off = 0;
            }
            op if op & 0x07 == 0x05 || op & 0x07 == 0x06 => {
                insn.off = insn.off.rem_euclid(remaining.max(1));
            }
            op if matches!(op & 0x07, 0x01..=0x03) => insn.off = -(insn.off.rem_euclid(72)),
            _ => {}
        }
        out.extend_from_slice(&insn.to_bytes());
        if insn.opcode == 0x18 {
            // The second slot: only `imm` may be set.
            out.extend_from_slice(&Insn::new(0, 0, 0, 0, insn.imm).to_bytes());
        }
    }
    out.extend_from_slice(&Insn::new(0x95, 0, 0, 0, 0).to_bytes());
    out
}

fuzz_target!(|data: &[u8]| {
    HostPlatform::install();
    // Odd first byte: shape the rest; otherwise the raw bytes are the program.
    let shaped;
    let code = match data.split_first() {
        Some((first, rest)) if first & 1 == 1 => {
            shaped = shape(rest);
            &shaped[..]
        }
        _ => &data[..data.len() / 8 * 8],
    };
    let Some(interpreted) = run(code, ExecMode::Interpreter) else {
        return;
    };
    let r0 = match interpreted {
        Ok(r0) => r0,
        Err(error) => panic!("a verified program failed in the interpreter: {error}"),
    };
    match run(code, ExecMode::Jit).expect("verified once, verified again") {
        Ok(jit) => assert_eq!(jit, r0, "interpreter and JIT disagree"),
        Err(error) => panic!("a verified program failed in the JIT: {error}"),
    }
    if let Some(model) = modelled(code) {
        assert_eq!(model, r0, "the model and the interpreter disagree");
    }
});
