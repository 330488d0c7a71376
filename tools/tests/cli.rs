//! The `axtrace` binary as a user runs it.

use std::process::{Command, Output};

fn axtrace(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_axtrace"))
        .args(args)
        .output()
        .expect("axtrace runs")
}

#[test]
fn ring_check_reports_every_ring_and_passes() {
    let out = axtrace(&[
        "ring-check",
        "--vcpus",
        "3",
        "--capacity",
        "16",
        "--records",
        "20000",
        "--batch",
        "5",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("no VM runs in this check"), "{stdout}");
    let rows: Vec<&str> = stdout.lines().filter(|l| l.ends_with("  ok")).collect();
    assert_eq!(rows.len(), 3, "{stdout}");
    for row in rows {
        let produced: u64 = row.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert_eq!(produced, 20000, "{row}");
    }
}

#[test]
fn bad_arguments_are_named_in_the_error() {
    let out = axtrace(&["ring-check", "--capacity", "1000"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("1000") && stderr.contains("power of two"),
        "{stderr}"
    );

    let out = axtrace(&["ring-check", "--batch", "0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("batch"));

    let out = axtrace(&["frobnicate"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("frobnicate"));
}

fn bpf_run(mode: &str, program_hex: &str, memory_hex: Option<&str>) -> Output {
    use std::io::Write;
    let mut command = Command::new(env!("CARGO_BIN_EXE_axtrace"));
    command.args(["bpf-run", "--mode", mode]);
    command.args(memory_hex);
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("axtrace runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(program_hex.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn bpf_run_follows_the_conformance_plugin_convention() {
    // ldxw r0, [r1+2]; add64 r0, r2; exit  — memory 00 00 ff ee dd cc (len 6): 0xccddeeff + 6
    let program = "61 10 02 00 00 00 00 00\n07 00 00 00 00 00 00 00 0f 20 00 00 00 00 00 00 95 00 00 00 00 00 00 00";
    for mode in ["jit", "interp"] {
        let out = bpf_run(mode, program, Some("0000ffeeddcc"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ccddef05\n", "{mode}");
    }
}

#[test]
fn bpf_run_explains_what_it_refuses() {
    // a legacy packet load: refused with the instruction index (in the program given, not
    // counting the runner's own `mov r2`) and the reason
    let out = bpf_run(
        "jit",
        "b7 00 00 00 00 00 00 00 20 00 00 00 00 00 00 00 95 00 00 00 00 00 00 00",
        None,
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("instruction 1: legacy packet access"),
        "{stderr}"
    );
    let out = bpf_run(
        "interp",
        "b7 00 00 00 00 00 00 00 85 00 00 00 05 00 00 00 95 00 00 00 00 00 00 00",
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("instruction 1: call to unknown helper 5"),
        "{stderr}"
    );
    let out = bpf_run("interp", "95 00 0", None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("odd number of hex digits"));
    let out = bpf_run("interp", "95 00 00 00 00 00 00 zz", None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("`zz` at character"));
}

#[test]
fn inspect_describes_a_shipped_handler_and_explains_refusals() {
    let handler = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../axebpf-core/bpf/exit_latency.bpf.o"
    );
    for mode in ["jit", "interp"] {
        let out = axtrace(&["inspect", handler, "--mode", mode]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for expected in [
            "exit_states",
            "percpu_hash",
            "perf_event_array",
            "on_exit",
            "on_enter",
        ] {
            assert!(stdout.contains(expected), "{expected} missing:\n{stdout}");
        }
        assert!(stdout.contains("perf_event_output"), "{stdout}");
    }
    // An object whose section names no VMM tracepoint: its context is unknown.
    let local_calls = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../axebpf-core/tests/objects/bpf_to_bpf.bpf.o"
    );
    let out = axtrace(&["inspect", local_calls, "--mode", "jit"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no tracepoint `mmio`"));
    let out = axtrace(&["inspect", env!("CARGO_MANIFEST_DIR")]);
    assert!(!out.status.success());
}

#[test]
fn shell_runs_commands_and_names_handlers_by_symbol() {
    let out = axtrace(&[
        "shell",
        "-c",
        "trace list vmm:vcpu_run_exit",
        "-c",
        "trace list",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("handler: axebpf_core::tracepoint::fire::vcpu_run_exit+0x0"),
        "{stdout}"
    );
    assert!(
        stdout.contains("offset 16  size 4  exit_reason"),
        "{stdout}"
    );
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("vmm:")).count(),
        9,
        "{stdout}"
    );

    let out = axtrace(&[
        "shell",
        "-c",
        "trace enable vmm:vcpu_run_exit --filter 'vm_idd == 1'",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown field `vm_idd`") && stderr.contains("^^^^^^"),
        "{stderr}"
    );
}

#[test]
fn the_bcc_style_example_loads_through_inspect_and_trace_load() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/kvmexit");
    // `axtrace inspect` prints exactly the committed expected output.
    let out = Command::new(env!("CARGO_BIN_EXE_axtrace"))
        .args(["inspect", "kvmexit.bpf.o", "--mode", "jit"])
        .current_dir(dir)
        .output()
        .expect("axtrace runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = std::fs::read_to_string(format!("{dir}/expected-inspect.txt")).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    // `trace load` attaches both programs, in both modes.
    for mode in ["jit", "interp"] {
        let load = format!("trace load kx {dir}/kvmexit.bpf.o --mode {mode}");
        let out = axtrace(&["shell", "-c", &load]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{mode}: {stdout}");
        assert!(stdout.contains("kx/on_exit"), "{mode}: {stdout}");
        assert!(stdout.contains("kx/on_enter"), "{mode}: {stdout}");
    }
}

#[test]
fn bpf_run_runs_atomics_and_local_calls_in_both_modes() {
    // *(u64 *)(r10 - 8) = 40; r1 = 2; lock *(u64 *)(r10 - 8) += r1; call +1; exit;
    // callee: r0 = *(u64 *)(r10 + 504) (the caller's slot, 512 bytes up); exit  →  42
    let program = "7a 0a f8 ff 28 00 00 00 b7 01 00 00 02 00 00 00 db 1a f8 ff 00 00 00 00 \
                   85 10 00 00 01 00 00 00 95 00 00 00 00 00 00 00 \
                   79 a0 f8 01 00 00 00 00 95 00 00 00 00 00 00 00";
    for mode in ["jit", "interp"] {
        let out = bpf_run(mode, program, None);
        assert!(
            out.status.success(),
            "{mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "2a\n", "{mode}");
    }
}
