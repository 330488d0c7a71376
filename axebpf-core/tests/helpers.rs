//! Each helper, called from programs in both modes, including misuse: a bad map handle, the
//! wrong map kind, a wrong size or flag, a full or missing ring. Misuse gets an error code and
//! the host carries on.

use axebpf_core::helpers::{self, ALL_HELPERS};
use axebpf_core::maps::{Map, MapSpec, MapType};
use axebpf_core::platform::host::HostPlatform;
use axebpf_core::record::Record;
use axebpf_core::registry;
use axebpf_core::ring::RingSet;
use axebpf_core::runtime::{ExecMode, Program};
use axebpf_core::trace_log;

const MODES: [ExecMode; 2] = [ExecMode::Jit, ExecMode::Interpreter];
const EINVAL: u64 = (-22i64) as u64;
const ENOENT: u64 = (-2i64) as u64;
const ENOSPC: u64 = (-28i64) as u64;

fn insn(opc: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let o = off.to_le_bytes();
    let i = imm.to_le_bytes();
    [opc, (src << 4) | dst, o[0], o[1], i[0], i[1], i[2], i[3]]
}

fn lddw(dst: u8, value: u64) -> Vec<u8> {
    [
        insn(0x18, dst, 0, 0, value as u32 as i32),
        insn(0, 0, 0, 0, (value >> 32) as i32),
    ]
    .concat()
}

fn call(id: u32) -> [u8; 8] {
    insn(0x85, 0, 0, 0, id as i32)
}

const EXIT: [u8; 8] = [0x95, 0, 0, 0, 0, 0, 0, 0];

/// Runs `code` in both modes with every helper, `memory` as the interpreter's extra memory.
fn run(code: &[u8], ctx: &mut [u8], memory: &[std::ops::Range<u64>]) -> [u64; 2] {
    HostPlatform::install();
    MODES.map(|mode| {
        Program::load_with_memory(code, mode, &ALL_HELPERS, memory)
            .unwrap_or_else(|e| panic!("{mode}: {e}"))
            .run(ctx)
            .unwrap_or_else(|e| panic!("{mode}: {e}"))
    })
}

/// r1 = map handle, r2 = r10 - 8 after storing `key` there; then the given tail.
fn with_key_on_stack(handle: u64, key: u32, tail: &[[u8; 8]]) -> Vec<u8> {
    let mut code = Vec::new();
    code.extend(insn(0x62, 10, 0, -8, key as i32)); // *(u32 *)(r10 - 8) = key
    code.extend(lddw(1, handle));
    code.extend(insn(0xbf, 2, 10, 0, 0));
    code.extend(insn(0x07, 2, 0, 0, -8));
    for part in tail {
        code.extend(part);
    }
    code.extend(EXIT);
    code
}

fn hash_map() -> Box<Map> {
    let spec = MapSpec {
        map_type: MapType::Hash,
        key_size: 4,
        value_size: 8,
        max_entries: 16,
        flags: 0,
    };
    Box::new(Map::new(spec, 4).unwrap())
}

#[test]
fn map_helpers_update_lookup_and_delete() {
    let map = hash_map();
    let handle = u64::from(registry::register(&map).unwrap().raw());
    // update(map, &key, &key, BPF_ANY): the value is the key's own 8 bytes at r10 - 8.
    let update = with_key_on_stack(
        handle,
        7,
        &[
            insn(0x7a, 10, 0, -16, 0),
            insn(0xbf, 3, 10, 0, 0),
            insn(0x07, 3, 0, 0, -8),
            insn(0xb7, 4, 0, 0, 0),
            call(helpers::MAP_UPDATE_ELEM),
        ],
    );
    assert_eq!(run(&update, &mut [], &[]), [0, 0]);
    let stored = map.read_per_cpu(&7u32.to_le_bytes()).unwrap();
    assert_eq!(stored[0][..4], 7u32.to_le_bytes());
    // NOEXIST on an existing key: -EEXIST.
    let again = with_key_on_stack(
        handle,
        7,
        &[
            insn(0xbf, 3, 10, 0, 0),
            insn(0x07, 3, 0, 0, -8),
            insn(0xb7, 4, 0, 0, 1),
            call(helpers::MAP_UPDATE_ELEM),
        ],
    );
    assert_eq!(run(&again, &mut [], &[]), [(-17i64) as u64; 2]);
    // lookup: non-null for 7, null for 8.
    let lookup = |key| with_key_on_stack(handle, key, &[call(helpers::MAP_LOOKUP_ELEM)]);
    let [jit, interp] = run(&lookup(7), &mut [], &[]);
    assert!(
        jit != 0 && jit == interp,
        "the value pointer is stable: {jit:#x} {interp:#x}"
    );
    assert_eq!(run(&lookup(8), &mut [], &[]), [0, 0]);
    // delete: 0, then -ENOENT.
    let delete = with_key_on_stack(handle, 7, &[call(helpers::MAP_DELETE_ELEM)]);
    let [first, second] = run(&delete, &mut [], &[]);
    assert_eq!((first, second), (0, ENOENT));
    registry::unregister(registry::MapHandle::from_raw(handle as u32));
}

#[test]
fn a_bad_map_handle_is_an_error_not_a_crash() {
    let map = hash_map();
    let live = registry::register(&map).unwrap();
    registry::unregister(live);
    for handle in [0, 1, 0xdead_beef, u64::MAX, u64::from(live.raw())] {
        let lookup = with_key_on_stack(handle, 1, &[call(helpers::MAP_LOOKUP_ELEM)]);
        assert_eq!(run(&lookup, &mut [], &[]), [0, 0], "handle {handle:#x}");
        let delete = with_key_on_stack(handle, 1, &[call(helpers::MAP_DELETE_ELEM)]);
        assert_eq!(
            run(&delete, &mut [], &[]),
            [EINVAL; 2],
            "handle {handle:#x}"
        );
    }
}

fn perf_array() -> Box<Map> {
    let spec = MapSpec {
        map_type: MapType::PerfEventArray,
        key_size: 4,
        value_size: 4,
        max_entries: 0,
        flags: 0,
    };
    Box::new(Map::new(spec, 4).unwrap())
}

/// perf_event_output(ctx, handle, flags, r10 - 32, size) with a record of `data` on the stack.
fn output(handle: u64, flags: u64, size: i32, data: u64) -> Vec<u8> {
    let mut code = Vec::new();
    code.extend(lddw(3, data));
    code.extend(insn(0x7b, 10, 3, -8, 0)); // record.data
    code.extend(insn(0x7a, 10, 0, -16, 7)); // code/aux
    code.extend(insn(0x7a, 10, 0, -24, 0x0001_0002)); // event/vm/vcpu/pcpu
    code.extend(insn(0x7a, 10, 0, -32, 1234)); // timestamp
    code.extend(lddw(2, handle));
    code.extend(lddw(3, flags));
    code.extend(insn(0xbf, 4, 10, 0, 0));
    code.extend(insn(0x07, 4, 0, 0, -32));
    code.extend(insn(0xb7, 5, 0, 0, size));
    code.extend(call(helpers::PERF_EVENT_OUTPUT));
    code.extend(EXIT);
    code
}

#[test]
fn perf_event_output_writes_the_current_vcpus_ring_and_reports_misuse() {
    let events = perf_array();
    let handle = u64::from(registry::register(&events).unwrap().raw());
    let hash = hash_map();
    let not_perf = u64::from(registry::register(&hash).unwrap().raw());
    let current = helpers::BPF_F_CURRENT_CPU;

    // No ring attached to this thread yet.
    assert_eq!(
        run(&output(handle, current, 32, 1), &mut [], &[]),
        [ENOENT; 2]
    );

    let rings: &'static RingSet<Record> = Box::leak(Box::new(RingSet::new(1, 2).unwrap()));
    let (mut producers, mut drain) = rings.split().unwrap();
    HostPlatform::attach_ring(producers.remove(0));
    assert_eq!(
        run(&output(handle, current, 32, 0xabc), &mut [], &[]),
        [0, 0]
    );
    // The ring holds 2: a third record is dropped, counted, and reported.
    assert_eq!(
        run(&output(handle, current, 32, 0xdef), &mut [], &[]),
        [ENOSPC; 2]
    );
    // Misuse: wrong size, wrong flag, wrong map kind, bad handle.
    for (h, flags, size) in [
        (handle, current, 16),
        (handle, current, 33),
        (handle, 0, 32),
        (not_perf, current, 32),
        (99, current, 32),
    ] {
        assert_eq!(
            run(&output(h, flags, size, 5), &mut [], &[]),
            [EINVAL; 2],
            "{h:#x} {flags:#x} {size}"
        );
    }
    let mut records = Vec::new();
    drain.drain_once(8, |_, batch| records.extend_from_slice(batch));
    assert_eq!(records.len(), 2);
    assert!(
        records
            .iter()
            .all(|r| r.data == 0xabc && r.timestamp_ns == 1234 && r.code == 7)
    );
    assert_eq!(rings.ring(0).unwrap().stats().dropped, 2);
    HostPlatform::detach_ring();
}

#[test]
fn trace_printk_formats_into_the_bounded_log() {
    // "vm %d exit %u\0" on the stack, then trace_printk(fmt, 14, 3, 9).
    let fmt = b"vm %d exit %u\0\0\0";
    let mut code = Vec::new();
    for (i, chunk) in fmt.chunks(8).enumerate() {
        code.extend(lddw(1, u64::from_le_bytes(chunk.try_into().unwrap())));
        code.extend(insn(0x7b, 10, 1, -16 + 8 * i as i16, 0));
    }
    code.extend(insn(0xbf, 1, 10, 0, 0));
    code.extend(insn(0x07, 1, 0, 0, -16));
    code.extend(insn(0xb7, 2, 0, 0, 14));
    code.extend(insn(0xb7, 3, 0, 0, -3));
    code.extend(insn(0xb7, 4, 0, 0, 9));
    code.extend(call(helpers::TRACE_PRINTK));
    code.extend(EXIT);
    assert_eq!(run(&code, &mut [], &[]), [12, 12]);
    let mut lines = Vec::new();
    trace_log::drain(|line| lines.push(String::from_utf8_lossy(line).into_owned()));
    assert_eq!(lines, ["vm -3 exit 9", "vm -3 exit 9"]);
    // A format larger than allowed, or a null one: -EINVAL.
    let mut too_long = code.clone();
    let at = too_long.len() - 40;
    too_long[at..at + 8].copy_from_slice(&insn(0xb7, 2, 0, 0, 1000));
    assert_eq!(run(&too_long, &mut [], &[]), [EINVAL; 2]);
}
