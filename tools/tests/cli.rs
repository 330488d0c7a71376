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
