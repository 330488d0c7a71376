//! The `trace` commands: each one's success path and failure paths, and that a failing command
//! changes nothing. One test, because tracepoints are process-wide.

use std::collections::HashMap;

use axebpf_core::context::{ContextHeader, VcpuRunEnter, VcpuRunExit};
use axebpf_core::platform::host::HostPlatform;
use axebpf_core::shell::{Files, Shell};
use axebpf_core::tracepoint;

/// Object files by path, in memory (the bytes are the real committed objects).
struct MemoryFiles(HashMap<&'static str, &'static [u8]>);

impl Files for MemoryFiles {
    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        self.0
            .get(path)
            .map(|b| b.to_vec())
            .ok_or_else(|| "no such file".into())
    }
}

fn run(shell: &mut Shell<MemoryFiles>, line: &str) -> Result<String, String> {
    let mut out = String::new();
    shell
        .execute(line, &mut out)
        .map(|()| out)
        .map_err(|e| e.to_string())
}

fn fire_exit(vm: u16, reason: u32, at: u64) {
    let header = ContextHeader {
        timestamp_ns: at,
        vm_id: vm,
        vcpu_id: 0,
        pcpu_id: 0,
        reserved: 0,
    };
    let mut exit = VcpuRunExit {
        header,
        exit_reason: reason,
        ..Default::default()
    };
    tracepoint::VCPU_RUN_EXIT.fire(bytemuck::bytes_of_mut(&mut exit));
    let mut enter = VcpuRunEnter {
        header: ContextHeader {
            timestamp_ns: at + 250,
            ..header
        },
    };
    tracepoint::VCPU_RUN_ENTER.fire(bytemuck::bytes_of_mut(&mut enter));
}

#[test]
fn trace_commands_succeed_or_change_nothing() {
    HostPlatform::install();
    let files = MemoryFiles(HashMap::from([
        (
            "exit_latency.o",
            &include_bytes!("../bpf/exit_latency.bpf.o")[..],
        ),
        (
            "exit_count.o",
            &include_bytes!("../bpf/exit_count.bpf.o")[..],
        ),
        (
            "local_calls.o",
            &include_bytes!("objects/bpf_to_bpf.bpf.o")[..],
        ),
        ("garbage.o", &b"not an object"[..]),
    ]));
    let mut shell = Shell::new(files);

    // help, list, and errors for unknown words.
    assert!(
        run(&mut shell, "trace help")
            .unwrap()
            .contains("trace load NAME FILE")
    );
    assert!(run(&mut shell, "").unwrap().is_empty());
    assert!(
        run(&mut shell, "tracex list")
            .unwrap_err()
            .contains("unknown command `tracex`")
    );
    assert!(
        run(&mut shell, "trace")
            .unwrap_err()
            .contains("missing subcommand")
    );
    assert!(
        run(&mut shell, "trace frob")
            .unwrap_err()
            .contains("`trace frob`")
    );
    assert!(
        run(&mut shell, "trace list extra")
            .unwrap_err()
            .contains("no tracepoint `extra`")
    );
    let list = run(&mut shell, "trace list").unwrap();
    assert_eq!(list.lines().filter(|l| l.starts_with("vmm:")).count(), 8);
    let one = run(&mut shell, "trace list vmm:hypercall").unwrap();
    assert!(
        one.contains("handler: 0x"),
        "no symbols given: a raw address\n{one}"
    );
    assert!(one.contains("offset 24  size 32  args"), "{one}");
    assert!(
        run(&mut shell, "trace list vmm:nope")
            .unwrap_err()
            .contains("vmm:nope")
    );
    assert!(
        run(&mut shell, "trace list a b")
            .unwrap_err()
            .contains("unexpected argument `b`")
    );

    // load: failures leave nothing loaded.
    assert!(
        run(&mut shell, "trace load x missing.o")
            .unwrap_err()
            .contains("missing.o: no such file")
    );
    assert!(
        run(&mut shell, "trace load x garbage.o")
            .unwrap_err()
            .contains("not an ELF")
    );
    assert!(
        run(&mut shell, "trace load x exit_latency.o --attach vmm:nope")
            .unwrap_err()
            .contains("vmm:nope")
    );
    assert!(
        run(&mut shell, "trace load x exit_latency.o --mode fast")
            .unwrap_err()
            .contains("unknown mode")
    );
    // BPF-to-BPF calls load in both modes; this object's sections then name no tracepoint.
    for mode in ["jit", "interp"] {
        assert!(
            run(
                &mut shell,
                &format!("trace load x local_calls.o --mode {mode}")
            )
            .unwrap_err()
            .contains("no tracepoint `mmio`")
        );
    }
    assert!(
        run(&mut shell, "trace load x")
            .unwrap_err()
            .contains("missing NAME or FILE")
    );
    assert!(
        tracepoint::VCPU_RUN_EXIT.describe().1.is_empty(),
        "nothing attached by failures"
    );
    assert!(
        run(&mut shell, "trace stat")
            .unwrap()
            .contains("nothing is loaded")
    );

    // load, enable with a filter, fire, stat.
    let loaded = run(&mut shell, "trace load lat exit_latency.o").unwrap();
    assert!(
        loaded.contains("lat/on_exit (jit) attached to vmm:vcpu_run_exit"),
        "{loaded}"
    );
    assert!(
        run(&mut shell, "trace load lat exit_count.o")
            .unwrap_err()
            .contains("already loaded")
    );
    run(&mut shell, "trace load cnt exit_count.o --mode interp").unwrap();
    let bad_filter = run(
        &mut shell,
        "trace enable vmm:vcpu_run_exit --filter 'exit_reasn == 2'",
    )
    .unwrap_err();
    assert!(bad_filter.contains("exit_reasn"), "{bad_filter}");
    assert!(
        !tracepoint::VCPU_RUN_EXIT.is_enabled(),
        "a bad filter changes nothing"
    );
    assert!(
        run(&mut shell, "trace enable")
            .unwrap_err()
            .contains("missing tracepoint")
    );
    assert!(
        run(&mut shell, "trace enable vmm:nope")
            .unwrap_err()
            .contains("vmm:nope")
    );
    run(
        &mut shell,
        "trace enable vmm:vcpu_run_exit --filter 'vm_id == 1'",
    )
    .unwrap();
    run(&mut shell, "trace enable vcpu_run_enter").unwrap();
    for i in 0..30 {
        fire_exit(1 + (i % 3 == 0) as u16, 6 + (i % 2) as u32, 1_000 * i);
    }
    let list = run(&mut shell, "trace list").unwrap();
    let exit_line = list
        .lines()
        .find(|l| l.starts_with("vmm:vcpu_run_exit"))
        .unwrap();
    assert!(
        exit_line.contains("enabled") && exit_line.contains("filter `vm_id == 1`"),
        "{exit_line}"
    );
    assert!(list.contains("cnt/count_exit (interpreter)"), "{list}");
    let one = run(&mut shell, "trace list vcpu_run_exit").unwrap();
    assert!(
        one.contains("program: lat/on_exit (jit, code bpf_prog_lat/on_exit at 0x"),
        "{one}"
    );
    assert!(
        one.contains("program: cnt/count_exit (interpreter)\n"),
        "{one}"
    );
    let stat = run(&mut shell, "trace stat latency").unwrap();
    assert!(stat.contains("lat/latency (percpu_hash)"), "{stat}");
    // vm 1 exits: i % 3 != 0 → 20, IoRead (6) for even i, IoWrite (7) for odd i: 10 each.
    assert!(
        stat.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["1", "IoRead", "10", "250", "250", "250"]),
        "{stat}"
    );
    let counts = run(&mut shell, "trace stat cnt/exit_counts").unwrap();
    assert!(
        counts
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["1", "IoWrite", "10"]),
        "{counts}"
    );
    assert!(
        run(&mut shell, "trace stat nope")
            .unwrap_err()
            .contains("no loaded map `nope`")
    );

    // disable, unload.
    run(&mut shell, "trace disable vmm:vcpu_run_exit").unwrap();
    run(&mut shell, "trace disable vmm:vcpu_run_enter").unwrap();
    assert!(!tracepoint::VCPU_RUN_EXIT.is_enabled());
    assert!(
        run(&mut shell, "trace unload nope")
            .unwrap_err()
            .contains("nothing is loaded as `nope`")
    );
    run(&mut shell, "trace unload lat").unwrap();
    run(&mut shell, "trace unload cnt").unwrap();
    assert!(tracepoint::VCPU_RUN_EXIT.describe().1.is_empty());
    assert!(tracepoint::VCPU_RUN_ENTER.describe().1.is_empty());
}
