//! Any bytes as an eBPF program for `vcpu_run_exit`: the verifier accepts or refuses it without
//! panicking, and a program it accepts runs to completion in rbpf's interpreter and JIT with
//! the same R0, each against fresh maps, without touching the (read-only) context.
//!
//! `lddw rX, map` (src = 1) picks map `imm % 4` of a hash, an array, a per-CPU array and a perf
//! event array, so mutated programs reach real maps. Helpers whose results depend on time or
//! rate limits (`ktime_get_ns`, `trace_printk`) are not offered: the two runs must agree.
#![no_main]

use axebpf_core::helpers::{
    GET_CURRENT_VCPU_ID_HELPER, GET_CURRENT_VM_ID_HELPER, GET_SMP_PROCESSOR_ID_HELPER, Helper,
    MAP_DELETE_ELEM_HELPER, MAP_LOOKUP_ELEM_HELPER, MAP_UPDATE_ELEM_HELPER,
    PERF_EVENT_OUTPUT_HELPER,
};
use axebpf_core::insn::{Insn, op};
use axebpf_core::maps::{Map, MapSpec, MapType};
use axebpf_core::platform::host::HostPlatform;
use axebpf_core::registry::{self, MapHandle};
use axebpf_core::runtime::{ExecMode, Program, RuntimeError};
use axebpf_core::verifier::{self, MapInfo, Options, Target};
use libfuzzer_sys::fuzz_target;

const HELPERS: [&Helper; 7] = [
    &MAP_LOOKUP_ELEM_HELPER,
    &MAP_UPDATE_ELEM_HELPER,
    &MAP_DELETE_ELEM_HELPER,
    &GET_SMP_PROCESSOR_ID_HELPER,
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

fuzz_target!(|data: &[u8]| {
    HostPlatform::install();
    let code = &data[..data.len() / 8 * 8];
    let Some(interpreted) = run(code, ExecMode::Interpreter) else {
        return;
    };
    let r0 = match interpreted {
        Ok(r0) => r0,
        Err(error) => panic!("a verified program failed in the interpreter: {error}"),
    };
    match run(code, ExecMode::Jit).expect("verified once, verified again") {
        Ok(jit) => assert_eq!(jit, r0, "interpreter and JIT disagree"),
        // rbpf's JIT gives callees their caller's frame; the runtime refuses local calls there.
        Err(RuntimeError::LocalCallsNeedInterpreter { .. }) => {}
        Err(error) => panic!("a verified program failed in the JIT: {error}"),
    }
});
