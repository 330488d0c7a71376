//! `axtrace-report` as a user runs it: on dumps `axtrace record` writes (real VM exits on KVM;
//! the synthetic source where /dev/kvm is not usable) and on dumps with known latencies written
//! by the dump writer. Every flag, every output format read back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use axebpf_core::dump::{DumpWriter, Metadata};
use axebpf_core::exit_reason::ExitReason;
use axebpf_core::record::Record;
use axtrace_exporter::dump::DumpReader;
use axtrace_exporter::hist::Hgrm;
use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("axtrace-report-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn report(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_axtrace-report"))
        .args(args)
        .output()
        .expect("axtrace-report runs")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A dump `axtrace record` wrote: 2 VMs × 2 vCPUs, the default mix, 3,000 exits per vCPU.
fn recorded() -> &'static Path {
    static DUMP: OnceLock<PathBuf> = OnceLock::new();
    DUMP.get_or_init(|| {
        let path = scratch("recorded.axdump");
        let mut args = vec!["record", "--exits", "3000", "-o", path.to_str().unwrap()];
        if let Err(why) = axtrace_kvm_usable() {
            eprintln!("/dev/kvm not usable ({why}): recording synthetic exits");
            args.push("--synthetic");
        }
        let out = Command::new(env!("CARGO_BIN_EXE_axtrace"))
            .args(&args)
            .output()
            .unwrap();
        stdout(&out);
        path
    })
}

fn axtrace_kvm_usable() -> Result<(), String> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Exits per reason name, counted straight from the dump with the reader.
fn counted(path: &Path) -> BTreeMap<String, u64> {
    let mut reader = DumpReader::open(std::fs::File::open(path).unwrap()).unwrap();
    let mut counts = BTreeMap::new();
    while let Some(chunk) = reader.next_chunk() {
        for r in &chunk.records {
            *counts
                .entry(reader.metadata().reason_name(r.code).to_string())
                .or_insert(0) += 1;
        }
    }
    counts
}

/// The table's data rows: (label, samples, the other columns).
fn table_rows(text: &str) -> Vec<(String, u64, Vec<String>)> {
    let body = text.split("lost records per vCPU:").next().unwrap();
    body.lines()
        .skip_while(|l| !l.contains("samples%"))
        .skip(1)
        .filter(|l| !l.ends_with(':') && !l.starts_with("total") && !l.is_empty())
        .map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            // Labels may hold one space (`0x1000 out`): samples is the first all-digit field.
            let at = fields
                .iter()
                .position(|f| f.chars().all(|c| c.is_ascii_digit()) && !f.starts_with("0x"))
                .unwrap();
            (
                fields[..at].join(" "),
                fields[at].parse().unwrap(),
                fields[at + 1..].iter().map(|s| s.to_string()).collect(),
            )
        })
        .collect()
}

fn ns(text: &str) -> f64 {
    let (number, scale) = if let Some(n) = text.strip_suffix("ns") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix("us") {
        (n, 1e3)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1e6)
    } else {
        (text.strip_suffix('s').unwrap(), 1e9)
    };
    number.parse::<f64>().unwrap() * scale
}

#[test]
fn the_default_table_counts_every_exit_of_a_recorded_dump_by_reason() {
    let dump = recorded();
    let text = stdout(&report(&[dump.to_str().unwrap()]));
    assert!(
        text.contains("no coordinated-omission correction"),
        "{text}"
    );
    let rows = table_rows(&text);
    let from_table: BTreeMap<String, u64> = rows
        .iter()
        .map(|(label, n, _)| (label.clone(), *n))
        .collect();
    assert_eq!(from_table, counted(dump), "{text}");
    // Percentiles never decrease along a row: min ≤ p50 ≤ p90 ≤ p99 ≤ p99.9 ≤ max.
    for (label, _, rest) in &rows {
        let values: Vec<f64> = rest[2..8].iter().map(|v| ns(v)).collect();
        assert!(values.windows(2).all(|w| w[0] <= w[1]), "{label}: {rest:?}");
    }
    let lost = text.split("lost records per vCPU:").nth(1).unwrap();
    // Four vCPUs, none lost a record, and the drain sampled each ring's fill.
    let rows: Vec<Vec<&str>> = lost
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() == 6 && f[0] != "vm")
        .collect();
    assert_eq!(rows.len(), 4, "{lost}");
    for row in rows {
        assert_eq!(row[4], "0", "{lost}");
        let fill: f64 = row[5].trim_end_matches('%').parse().unwrap();
        assert!((0.0..=100.0).contains(&fill), "{lost}");
    }
}

#[test]
fn by_port_gpa_msr_and_hypercall_break_down_their_exits() {
    let dump = recorded().to_str().unwrap();
    let counts = counted(recorded());
    let sum = |text: &str| table_rows(text).iter().map(|r| r.1).sum::<u64>();

    let ports = stdout(&report(&[dump, "--by", "port"]));
    assert_eq!(sum(&ports), counts["IoRead"] + counts["IoWrite"], "{ports}");
    assert!(
        table_rows(&ports)
            .iter()
            .all(|(l, _, _)| l.ends_with(" in") || l.ends_with(" out"))
    );

    let gpa = stdout(&report(&[dump, "--by", "gpa"]));
    assert_eq!(
        sum(&gpa),
        counts["MmioRead"] + counts["MmioWrite"] + counts["NestedPageFault"]
    );
    assert!(gpa.contains("\ndevice window:\n"), "{gpa}");
    assert!(gpa.contains("\nhole (unbacked):\n"), "{gpa}");
    let in_hole = gpa.split("hole (unbacked):").nth(1).unwrap();
    assert!(
        table_rows(&format!("samples%\n{in_hole}"))
            .iter()
            .all(|(l, _, _)| l.ends_with("NestedPageFault"))
    );

    let msr = stdout(&report(&[dump, "--by", "msr"]));
    assert_eq!(sum(&msr), counts["SysRegRead"] + counts["SysRegWrite"]);
    assert!(
        table_rows(&msr)
            .iter()
            .all(|(l, _, _)| l.starts_with("0xa0"))
    );

    let hypercall = stdout(&report(&[dump, "--by", "hypercall"]));
    assert_eq!(sum(&hypercall), counts["Hypercall"]);

    let custom = stdout(&report(&[
        dump,
        "--by",
        "gpa",
        "--window",
        "first=0x10000000-0x10000040",
    ]));
    assert!(custom.contains("\nfirst:\n"), "{custom}");
}

#[test]
fn by_vm_and_vcpu_filter_and_sort() {
    let dump = recorded().to_str().unwrap();
    let all = stdout(&report(&[dump, "--by", "vcpu"]));
    for group in ["vCPU 1.0:", "vCPU 1.1:", "vCPU 2.0:", "vCPU 2.1:"] {
        assert!(all.contains(group), "{all}");
    }
    let by_vm = stdout(&report(&[dump, "--by", "vm", "--sort", "p99"]));
    let vm1 = by_vm
        .split("VM 1:")
        .nth(1)
        .unwrap()
        .split("VM 2:")
        .next()
        .unwrap();
    let p99: Vec<f64> = table_rows(&format!("samples%\n{vm1}"))
        .iter()
        .map(|r| ns(&r.2[5]))
        .collect();
    assert!(
        p99.len() > 3 && p99.windows(2).all(|w| w[0] >= w[1]),
        "{vm1}"
    );

    let one = stdout(&report(&[dump, "--vm", "2", "--vcpu", "1"]));
    // --exits 3000 is the script; the exit-port write after it has no record.
    assert_eq!(
        table_rows(&one).iter().map(|r| r.1).sum::<u64>(),
        3000,
        "{one}"
    );
    assert!(one.contains("(only VM 2, vCPU 1)"), "{one}");
    let lost = one.split("lost records per vCPU:").nth(1).unwrap();
    let vcpu_lines: Vec<&str> = lost
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|f| f.parse::<u16>().is_ok())
        })
        .collect();
    assert_eq!(vcpu_lines.len(), 1, "{lost}");
    assert!(
        vcpu_lines[0].split_whitespace().take(2).eq(["2", "1"]),
        "{lost}"
    );

    let by_name = stdout(&report(&[dump, "--sort", "name"]));
    assert!(table_rows(&by_name)[0].0 == "Hypercall", "{by_name}");
}

#[test]
fn json_and_csv_agree_with_the_dump() {
    let dump = recorded();
    let counts = counted(dump);
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&report(&[dump.to_str().unwrap(), "--json"]))).unwrap();
    assert_eq!(json["records"], counts.values().sum::<u64>());
    for row in json["rows"].as_array().unwrap() {
        assert_eq!(row["samples"], counts[row["key"].as_str().unwrap()]);
        assert!(row["p50_ns"].as_u64() <= row["p99_ns"].as_u64());
    }
    let csv = stdout(&report(&[dump.to_str().unwrap(), "--csv", "--by", "vm"]));
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with("group,key,samples,"));
    let total: u64 = lines
        .map(|l| l.split(',').nth(2).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, counts.values().sum::<u64>());
    let out = report(&[dump.to_str().unwrap(), "--json", "--csv"]);
    assert!(!out.status.success());
}

#[test]
fn hgrm_log_and_svg_files_read_back() {
    let dump = recorded();
    let counts = counted(dump);
    let dir = scratch("hgrm");
    let log = scratch("run.hlog");
    let svg = scratch("run.svg");
    let text = stdout(&report(&[
        dump.to_str().unwrap(),
        "--hgrm",
        dir.to_str().unwrap(),
        "--hgrm-unit",
        "ns",
        "--log",
        log.to_str().unwrap(),
        "--log-interval",
        "50ms",
        "--svg",
        svg.to_str().unwrap(),
    ]));
    assert!(
        text.contains(&format!("wrote {} .hgrm tables", counts.len())),
        "{text}"
    );

    for (reason, count) in &counts {
        let table =
            Hgrm::parse(&std::fs::read_to_string(dir.join(format!("{reason}.hgrm"))).unwrap())
                .unwrap();
        assert_eq!(table.total_count, *count);
        assert_eq!(table.sub_buckets, 2048);
        assert!(
            table
                .lines
                .windows(2)
                .all(|w| w[0].value <= w[1].value && w[0].percentile <= w[1].percentile)
        );
    }

    let bytes = std::fs::read(&log).unwrap();
    let mut per_reason: BTreeMap<String, u64> = BTreeMap::new();
    let mut deserializer = Deserializer::new();
    let (mut base, mut start) = (false, false);
    for entry in IntervalLogIterator::new(&bytes) {
        match entry.unwrap() {
            LogEntry::BaseTime(_) => base = true,
            LogEntry::StartTime(_) => start = true,
            LogEntry::Interval(interval) => {
                let tag = interval.tag().unwrap().as_str().to_string();
                let encoded = base64::engine::general_purpose::STANDARD
                    .decode(interval.encoded_histogram())
                    .unwrap();
                let histogram: Histogram<u64> =
                    deserializer.deserialize(&mut encoded.as_slice()).unwrap();
                let reason = tag.splitn(3, '.').nth(2).unwrap().to_string();
                assert!(
                    tag.split('.').next().unwrap().parse::<u16>().is_ok(),
                    "{tag}"
                );
                *per_reason.entry(reason).or_default() += histogram.len();
            }
        }
    }
    assert!(base && start);
    assert_eq!(per_reason, counts);

    let plot = std::fs::read_to_string(&svg).unwrap();
    assert!(plot.starts_with("<svg "));
    assert!(plot.trim_end().ends_with("</svg>"));
    assert_eq!(plot.matches("<polyline").count(), counts.len());
}

fn exit(ts: u64, reason: ExitReason, latency: u32) -> Record {
    Record {
        timestamp_ns: ts,
        event: 1,
        vm: 1,
        vcpu: 0,
        pcpu: 0,
        code: reason.code(),
        aux: latency,
        data: 0x1000,
    }
}

/// A dump of `n` IoWrite exits whose latencies spread ±25 % around `centre`; `dropped` lost.
fn known_dump(name: &str, centre: u32, n: u64, dropped: u64) -> PathBuf {
    let metadata = Metadata {
        vcpus: vec![(0, 1, 0)],
        clock: "clock_monotonic".into(),
        host: "test".into(),
        programs: vec!["exit_latency (jit)".into()],
    };
    let mut writer = DumpWriter::new(Vec::new(), &metadata).unwrap();
    let records: Vec<Record> = (0..n)
        .map(|i| {
            let spread = (i * 7919 % 1000) as f64 / 1000.0;
            exit(
                i * 1000,
                ExitReason::IoWrite,
                (f64::from(centre) * (0.75 + 0.5 * spread)) as u32,
            )
        })
        .collect();
    writer.write_records(0, &records, dropped).unwrap();
    let path = scratch(name);
    std::fs::write(&path, writer.into_sink()).unwrap();
    path
}

#[test]
fn diff_passes_on_noise_and_fails_on_a_regression() {
    let dump = recorded().to_str().unwrap();
    let same = report(&["diff", dump, dump, "--fail-on-regression", "1"]);
    let text = stdout(&same);
    assert!(text.contains("0 change(s) beyond noise"), "{text}");

    let base = known_dump("base.axdump", 10_000, 5000, 0);
    let slow = known_dump("slow.axdump", 13_000, 5000, 0);
    let (base, slow) = (base.to_str().unwrap(), slow.to_str().unwrap());
    let out = report(&["diff", base, slow, "--fail-on-regression", "20"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("IoWrite p50") && stderr.contains("+30.0%"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("p99 slower"));
    // 30 % is below a 40 % bar; faster is never a regression.
    assert!(
        report(&["diff", base, slow, "--fail-on-regression", "40"])
            .status
            .success()
    );
    assert!(
        report(&["diff", slow, base, "--fail-on-regression", "1"])
            .status
            .success()
    );
    // Through `axtrace report` too.
    let out = Command::new(env!("CARGO_BIN_EXE_axtrace"))
        .args(["report", "diff", base, slow, "--fail-on-regression", "20"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn losses_print_a_warning_first() {
    let lossy = known_dump("lossy.axdump", 1000, 100, 42);
    let text = stdout(&report(&[lossy.to_str().unwrap()]));
    assert!(
        text.starts_with("warning: 42 records were lost on 1 vCPU(s)"),
        "{text}"
    );
    assert!(text.contains("total lost: 42"));
    let out = report(&[lossy.to_str().unwrap(), "--json"]);
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("warning: 42 records were lost"));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["lost"], 42);
}

#[test]
fn bad_input_is_named_and_what_is_readable_is_reported() {
    let dump = std::fs::read(recorded()).unwrap();
    let cut = scratch("cut.axdump");
    std::fs::write(&cut, &dump[..dump.len() * 2 / 3]).unwrap();
    let text = stdout(&report(&[cut.to_str().unwrap()]));
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with("warning: ") && first.contains("is cut or damaged (stopped at byte "),
        "{first}"
    );
    assert!(first.contains("more bytes were expected"), "{first}");
    let reported: u64 = table_rows(&text).iter().map(|r| r.1).sum();
    assert!(reported > 0 && reported < counted(recorded()).values().sum::<u64>());

    let future = scratch("future.axdump");
    let mut bytes = dump.clone();
    bytes[8] = 7;
    std::fs::write(&future, bytes).unwrap();
    let out = report(&[future.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("dump format version 7 is newer"));

    let junk = scratch("junk.axdump");
    std::fs::write(&junk, b"#!/bin/sh\necho not a dump\n").unwrap();
    let out = report(&[junk.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no `AXTRACE` magic at offset 0"));

    let out = report(&["/nonexistent/run.axdump"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("opening /nonexistent/run.axdump"));
}

#[test]
fn bad_arguments_are_named() {
    let dump = recorded().to_str().unwrap();
    let stderr = |args: &[&str]| {
        let out = report(args);
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(stderr(&[dump, "--sort", "speed"]).contains("unknown column `speed`"));
    assert!(stderr(&[dump, "--by", "disk"]).contains("disk"));
    assert!(stderr(&[dump, "--by", "gpa", "--window", "uart"]).contains("NAME=START-END"));
    assert!(
        stderr(&[dump, "--log", "/tmp/x.hlog", "--log-interval", "soon"])
            .contains("--log-interval")
    );
    assert!(stderr(&[]).contains("DUMP"));
    let help = stdout(&report(&["--help"]));
    assert!(
        help.contains("no coordinated-omission correction"),
        "{help}"
    );
}

#[test]
fn axtrace_report_is_the_same_command() {
    let dump = recorded().to_str().unwrap();
    let via_axtrace = Command::new(env!("CARGO_BIN_EXE_axtrace"))
        .args(["report", dump, "--csv"])
        .output()
        .unwrap();
    assert_eq!(stdout(&via_axtrace), stdout(&report(&[dump, "--csv"])));
}

#[test]
fn the_demo_report_writes_its_files() {
    let dir = scratch("demo");
    std::fs::create_dir_all(&dir).unwrap();
    let text = axtrace_tools::report::demo(recorded(), &dir).unwrap();
    assert!(text.contains("lost records per vCPU"), "{text}");
    assert!(dir.join("run.svg").exists() && dir.join("run.hlog").exists());
    assert!(dir.join("hgrm").join("IoWrite.hgrm").exists());
}
