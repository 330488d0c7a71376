//! The report model on dumps written by `axebpf_core`'s dump writer: known latencies give known
//! percentiles, every grouping, losses, cut and damaged dumps, and every output format read back.

use axebpf_core::dump::{DumpWriter, HEADER_LEN, Metadata};
use axebpf_core::exit_reason::ExitReason;
use axebpf_core::record::Record;
use axtrace_exporter::hist::Hgrm;
use axtrace_exporter::report::diff::{self, NoiseRule, Verdict};
use axtrace_exporter::report::{
    self, By, Options, Report, RowKey, SortColumn, Window, hlog, render, svg,
};
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

fn exit(ts: u64, vm: u16, vcpu: u16, reason: ExitReason, latency: u32, data: u64) -> Record {
    Record {
        timestamp_ns: ts,
        event: 1,
        vm,
        vcpu,
        pcpu: 0,
        code: reason.code(),
        aux: latency,
        data,
    }
}

fn metadata() -> Metadata {
    Metadata {
        vcpus: vec![(0, 1, 0), (1, 1, 1), (2, 2, 0)],
        clock: "clock_monotonic".into(),
        host: "test, synthetic".into(),
        programs: vec!["exit_latency (jit)".into()],
    }
}

/// VM 1 vCPU 0: IoWrite to port 0x1000 with latencies 1..=1000 ns, one per µs.
/// VM 1 vCPU 1: 100 IoRead from port 0x1004 at 2,000 ns; 10 MSR writes; dropped 7.
/// VM 2 vCPU 0: 50 MmioRead in the window, 30 NestedPageFault outside, 20 hypercalls nr 3.
fn sample_dump() -> Vec<u8> {
    let mut writer = DumpWriter::new(Vec::new(), &metadata()).unwrap();
    let io: Vec<Record> = (1..=1000u32)
        .map(|i| exit(u64::from(i) * 1000, 1, 0, ExitReason::IoWrite, i, 0x1000))
        .collect();
    for part in io.chunks(300) {
        writer.write_records(0, part, 0).unwrap();
    }
    let mut vcpu1: Vec<Record> = (0..100)
        .map(|i| exit(i * 1000, 1, 1, ExitReason::IoRead, 2000, 0x1004))
        .collect();
    vcpu1.extend((0..10).map(|i| exit(200_000 + i, 1, 1, ExitReason::SysRegWrite, 500, 0xa01)));
    writer.write_records(1, &vcpu1, 7).unwrap();
    let mut vm2: Vec<Record> = (0..50)
        .map(|i| {
            exit(
                i,
                2,
                0,
                ExitReason::MmioRead,
                3000 + i as u32,
                0x1000_0000 + 8 * (i % 5),
            )
        })
        .collect();
    vm2.extend((0..30).map(|i| {
        exit(
            100 + i,
            2,
            0,
            ExitReason::NestedPageFault,
            9000,
            0x2000_0000,
        )
    }));
    vm2.extend((0..20).map(|i| exit(200 + i, 2, 0, ExitReason::Hypercall, 700, 3)));
    writer.write_records(2, &vm2, 0).unwrap();
    writer.into_sink()
}

fn collect(bytes: &[u8], options: Options) -> Report {
    report::collect(bytes, options).unwrap()
}

fn row<'a>(rows: &'a [report::Row], label: &str) -> &'a report::Row {
    rows.iter()
        .find(|r| r.label == label)
        .unwrap_or_else(|| panic!("no row {label}"))
}

#[test]
fn known_latencies_give_known_percentiles() {
    let report = collect(&sample_dump(), Options::default());
    assert_eq!(report.records, 1000 + 110 + 100);
    assert_eq!(report.stop, None);
    let rows = report.rows(By::Reason, SortColumn::Samples);
    assert_eq!(rows[0].label, "IoWrite");
    let io = &row(&rows, "IoWrite").latencies;
    assert_eq!(io.count(), 1000);
    assert_eq!(io.min_ns(), 1);
    assert_eq!(io.quantile_ns(0.5), 500);
    assert_eq!(io.quantile_ns(0.9), 900);
    assert_eq!(io.quantile_ns(0.99), 990);
    assert_eq!(io.quantile_ns(0.999), 999);
    assert_eq!(io.max_ns(), 1000);
    assert_eq!(io.sum_ns(), 500_500);
    let read = &row(&rows, "IoRead").latencies;
    assert_eq!(
        (read.count(), read.quantile_ns(0.5), read.max_ns()),
        (100, 2000, 2000)
    );
    // 3 significant digits: 3,000..3,049 ns are kept to within 0.1 %.
    let mmio = &row(&rows, "MmioRead").latencies;
    assert_eq!(mmio.min_ns(), 3000);
    assert!(
        (3024..=3027).contains(&mmio.quantile_ns(0.5)),
        "{}",
        mmio.quantile_ns(0.5)
    );
    assert_eq!(mmio.max_ns(), 3049);
}

#[test]
fn rows_group_by_vm_vcpu_and_sort_by_any_column() {
    let report = collect(&sample_dump(), Options::default());
    let by_vm = report.rows(By::Vm, SortColumn::Samples);
    assert_eq!(by_vm.len(), 6);
    assert_eq!(by_vm[0].group, "VM 1");
    assert_eq!(by_vm[0].label, "IoWrite");
    assert_eq!(by_vm.last().unwrap().group, "VM 2");
    let by_vcpu = report.rows(By::Vcpu, SortColumn::P50);
    assert_eq!(
        by_vcpu.iter().map(|r| r.group.as_str()).collect::<Vec<_>>(),
        [
            "vCPU 1.0", "vCPU 1.1", "vCPU 1.1", "vCPU 2.0", "vCPU 2.0", "vCPU 2.0"
        ]
    );
    // vCPU 1.1 sorted by p50, descending: IoRead (2 µs) before SysRegWrite (500 ns).
    assert_eq!(by_vcpu[1].label, "IoRead");
    let by_max = report.rows(By::Reason, SortColumn::Max);
    assert_eq!(by_max[0].label, "NestedPageFault");
    let by_name = report.rows(By::Reason, SortColumn::parse("name").unwrap());
    assert_eq!(by_name[0].key, RowKey::Reason(ExitReason::Hypercall.code()));
    assert!(SortColumn::parse("p99.9").is_ok());
    assert!(SortColumn::parse("speed").unwrap_err().contains("speed"));
}

#[test]
fn filters_keep_one_vm_or_vcpu_and_its_losses() {
    let only = collect(
        &sample_dump(),
        Options {
            vm: Some(1),
            vcpu: Some(1),
            ..Options::default()
        },
    );
    assert_eq!(only.records, 110);
    assert_eq!(only.filtered_out, 1100);
    assert_eq!(only.rings.len(), 1);
    assert_eq!(only.lost(), 7);
    let vm2 = collect(
        &sample_dump(),
        Options {
            vm: Some(2),
            ..Options::default()
        },
    );
    assert_eq!(vm2.records, 100);
    assert_eq!(vm2.lost(), 0);
}

#[test]
fn per_address_rows_name_ports_windows_msrs_and_hypercalls() {
    let options = |by| Options {
        by,
        windows: vec![Window::parse("device=0x10000000-0x10100000").unwrap()],
        ..Options::default()
    };
    let ports = collect(&sample_dump(), options(By::Port));
    let rows = ports.rows(By::Port, SortColumn::Samples);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].label, "0x1000 out");
    assert_eq!(rows[0].latencies.count(), 1000);
    assert_eq!(rows[1].label, "0x1004 in");

    let gpa = collect(&sample_dump(), options(By::Gpa));
    let rows = gpa.rows(By::Gpa, SortColumn::Samples);
    assert_eq!(rows.len(), 6);
    assert!(
        rows[..5]
            .iter()
            .all(|r| r.group == "device" && r.latencies.count() == 10)
    );
    assert_eq!(rows[5].group, "(no window)");
    assert_eq!(rows[5].label, "0x20000000 NestedPageFault");

    let msr = collect(&sample_dump(), options(By::Msr));
    let rows = msr.rows(By::Msr, SortColumn::Samples);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].label, "0xa01 write");

    let hypercall = collect(&sample_dump(), options(By::Hypercall));
    let rows = hypercall.rows(By::Hypercall, SortColumn::Samples);
    assert_eq!(
        (rows[0].label.as_str(), rows[0].latencies.count()),
        ("0x3", 20)
    );

    assert!(Window::parse("uart=0x10-0x8").is_err());
    assert!(
        Window::parse("uart")
            .unwrap_err()
            .contains("NAME=START-END")
    );
}

#[test]
fn the_table_warns_of_losses_first_and_lists_them_per_vcpu() {
    let report = collect(&sample_dump(), Options::default());
    let text = render::table(&report, By::Reason, SortColumn::Samples, "sample.axdump");
    let first = text.lines().next().unwrap();
    assert!(first.starts_with("warning: 7 records were lost"), "{text}");
    assert!(
        text.contains("no coordinated-omission correction"),
        "{text}"
    );
    let io = text.lines().find(|l| l.starts_with("IoWrite")).unwrap();
    let fields: Vec<&str> = io.split_whitespace().collect();
    assert_eq!(fields[1], "1000");
    assert_eq!(fields[4], "1ns"); // min
    assert_eq!(fields[5], "500ns"); // p50
    assert_eq!(fields[8], "999ns"); // p99.9
    assert_eq!(fields[9], "1.00us"); // max
    let lost = text.split("lost records per vCPU:").nth(1).unwrap();
    let vcpu1 = lost
        .lines()
        .find(|l| l.split_whitespace().nth(2) == Some("1"))
        .unwrap();
    assert_eq!(
        vcpu1.split_whitespace().collect::<Vec<_>>(),
        ["1", "1", "1", "110", "7", "?"] // written without fill samples: peak fill unknown
    );
    assert!(lost.contains("total lost: 7"));
}

#[test]
fn json_and_csv_carry_the_same_numbers() {
    let report = collect(&sample_dump(), Options::default());
    let json: serde_json::Value =
        serde_json::from_str(&render::json(&report, By::Reason, SortColumn::Samples, "x")).unwrap();
    assert_eq!(json["records"], 1210);
    assert_eq!(json["lost"], 7);
    assert_eq!(json["rows"][0]["key"], "IoWrite");
    assert_eq!(json["rows"][0]["p99_ns"], 990);
    assert_eq!(json["total"]["samples"], 1210);
    assert_eq!(json["vcpus"].as_array().unwrap().len(), 3);
    assert!(json["stop"].is_null());
    let csv = render::csv(&report, By::Reason, SortColumn::Samples);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 6);
    assert!(lines[0].starts_with("group,key,samples,"));
    assert!(lines[1].starts_with(",IoWrite,1000,"));
    let fields: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(fields[6], "500");
}

#[test]
fn every_row_writes_an_hgrm_that_reads_back() {
    let report = collect(&sample_dump(), Options::default());
    for row in report.rows(By::Reason, SortColumn::Samples) {
        let table = Hgrm::parse(&axtrace_exporter::hist::write_hgrm(
            row.latencies.histogram(),
            1000.0,
        ))
        .unwrap();
        assert_eq!(table.total_count, row.latencies.count());
        assert_eq!(
            table.lines.last().unwrap().total_count,
            row.latencies.count()
        );
        assert!(table.lines.windows(2).all(|w| w[0].value <= w[1].value));
    }
}

#[test]
fn the_interval_log_reads_back_with_the_same_counts() {
    let report = collect(
        &sample_dump(),
        Options {
            log_interval_ns: Some(100_000),
            ..Options::default()
        },
    );
    let mut log = Vec::new();
    let written = hlog::write(&report, 100_000, "sample.axdump", &mut log).unwrap();
    // IoWrite on 1.0 spans 1 µs..1 ms: 11 intervals of 100 µs; the others fit one or two.
    assert!(written > 11);
    let text = String::from_utf8(log.clone()).unwrap();
    assert!(text.contains("#[StartTime: "));
    assert!(text.contains("#[BaseTime: "));
    assert!(text.contains("\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\""));
    let mut per_tag: std::collections::BTreeMap<String, u64> = Default::default();
    let mut starts = Vec::new();
    let mut deserializer = Deserializer::new();
    for entry in IntervalLogIterator::new(&log) {
        if let LogEntry::Interval(interval) = entry.unwrap() {
            let bytes = base64_decode(interval.encoded_histogram());
            let histogram: Histogram<u64> =
                deserializer.deserialize(&mut bytes.as_slice()).unwrap();
            *per_tag
                .entry(interval.tag().unwrap().as_str().to_string())
                .or_default() += histogram.len();
            starts.push(interval.start_timestamp());
        }
    }
    assert!(starts.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(per_tag["1.0.IoWrite"], 1000);
    assert_eq!(per_tag["1.1.IoRead"], 100);
    assert_eq!(per_tag["1.1.SysRegWrite"], 10);
    assert_eq!(per_tag["2.0.NestedPageFault"], 30);
    assert_eq!(per_tag.values().sum::<u64>(), 1210);
}

/// Standard base64 (the log's encoding), decoded here so the test does not share the writer's
/// encoder.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let mut out = Vec::new();
    let digits: Vec<u8> = text.bytes().filter(|&c| c != b'=').map(value).collect();
    for group in digits.chunks(4) {
        let mut n = 0u32;
        for (i, d) in group.iter().enumerate() {
            n |= u32::from(*d) << (18 - 6 * i);
        }
        out.extend(&n.to_be_bytes()[1..group.len()]);
    }
    out
}

/// Start and end tags balance, attributes are quoted, every `&` starts an entity.
fn assert_xmlish(text: &str) -> Vec<String> {
    let mut stack: Vec<String> = Vec::new();
    let mut elements = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        let close = rest[open..].find('>').expect("every < closes") + open;
        let tag = &rest[open + 1..close];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        assert_eq!(
            tag.matches('"').count() % 2,
            0,
            "unbalanced quotes in <{tag}>"
        );
        if let Some(closing) = tag.strip_prefix('/') {
            assert_eq!(
                stack.pop().as_deref(),
                Some(closing.trim()),
                "mismatched </{closing}>"
            );
        } else if !tag.ends_with('/') {
            stack.push(name.clone());
        }
        elements.push(name);
        rest = &rest[close + 1..];
    }
    assert!(stack.is_empty(), "unclosed {stack:?}");
    for (at, _) in text.match_indices('&') {
        let entity = &text[at..text[at..].find(';').unwrap() + at + 1];
        assert!(
            ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].contains(&entity),
            "{entity}"
        );
    }
    elements
}

#[test]
fn the_plot_has_one_polyline_per_reason() {
    let report = collect(&sample_dump(), Options::default());
    let rows = report.rows(By::Reason, SortColumn::Samples);
    let text = svg::plot(&rows, "exit latency <by reason> & more");
    let elements = assert_xmlish(&text);
    assert_eq!(elements[0], "svg");
    assert_eq!(
        elements.iter().filter(|e| *e == "polyline").count(),
        rows.len()
    );
    for row in &rows {
        assert!(text.contains(&format!("data-name=\"{}\"", row.label)));
    }
    // Points go right (percentile) and up (latency: y decreases) along every line.
    for line in text.lines().filter(|l| l.starts_with("<polyline")) {
        let points = line
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let xy: Vec<(f64, f64)> = points
            .split_whitespace()
            .map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect();
        assert!(
            xy.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 >= w[1].1),
            "{line}"
        );
    }
}

fn dump_with(latencies: impl Iterator<Item = u32>, reason: ExitReason) -> Vec<u8> {
    let mut writer = DumpWriter::new(Vec::new(), &metadata()).unwrap();
    let records: Vec<Record> = latencies
        .enumerate()
        .map(|(i, l)| exit(i as u64, 1, 0, reason, l, 0))
        .collect();
    writer.write_records(0, &records, 0).unwrap();
    writer.into_sink()
}

/// A fixed pseudo-random spread around `centre` (±25 %), so runs differ like real ones.
fn spread(centre: u32, n: usize, seed: u64) -> impl Iterator<Item = u32> {
    let mut state = seed;
    (0..n).map(move |_| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let unit = (state >> 33) as f64 / (1u64 << 31) as f64; // 0..1
        (f64::from(centre) * (0.75 + 0.5 * unit)) as u32
    })
}

#[test]
fn diff_flags_shifts_beyond_noise_and_only_those() {
    let rule = NoiseRule::default();
    let a = collect(
        &dump_with(spread(10_000, 5000, 1), ExitReason::IoWrite),
        Options::default(),
    );
    let same = collect(
        &dump_with(spread(10_000, 5000, 2), ExitReason::IoWrite),
        Options::default(),
    );
    let slower = collect(
        &dump_with(spread(12_000, 5000, 3), ExitReason::IoWrite),
        Options::default(),
    );
    let slightly = collect(
        &dump_with(spread(10_200, 5000, 4), ExitReason::IoWrite),
        Options::default(),
    );
    let more = collect(
        &dump_with(spread(10_000, 6000, 5), ExitReason::IoWrite),
        Options::default(),
    );

    let d = diff::diff(&a, &same, &rule);
    assert_eq!(d.len(), 1);
    assert_eq!(
        (d[0].count, d[0].p50.verdict, d[0].p99.verdict),
        (Verdict::Noise, Verdict::Noise, Verdict::Noise)
    );
    assert!(diff::regressions(&d, 0.0).is_empty());

    let d = diff::diff(&a, &slower, &rule);
    assert_eq!(d[0].p50.verdict, Verdict::Higher, "{:?}", d[0]);
    assert_eq!(d[0].p99.verdict, Verdict::Higher);
    assert!((d[0].p50.change_pct() - 20.0).abs() < 3.0, "{:?}", d[0].p50);
    assert_eq!(diff::regressions(&d, 10.0).len(), 2);
    assert!(diff::regressions(&d, 50.0).is_empty());
    let back = diff::diff(&slower, &a, &rule);
    assert_eq!(back[0].p50.verdict, Verdict::Lower);
    assert!(diff::regressions(&back, 0.0).is_empty());

    // 2 % is within the 5 % threshold even if the intervals separate.
    let d = diff::diff(&a, &slightly, &rule);
    assert!(!d[0].p50.verdict.flagged(), "{:?}", d[0].p50);

    let d = diff::diff(&a, &more, &rule);
    assert_eq!(d[0].count, Verdict::Higher);

    // 500 samples are too few for p99 (5 beyond it), enough for p50.
    let small = collect(
        &dump_with(spread(30_000, 500, 6), ExitReason::IoWrite),
        Options::default(),
    );
    let d = diff::diff(&a, &small, &rule);
    assert_eq!(d[0].p99.verdict, Verdict::TooFewSamples);
    assert_eq!(d[0].p50.verdict, Verdict::Higher);

    let text = diff::render(&d, "a", "b", &rule);
    assert!(text.contains("p50 slower"), "{text}");
    assert!(text.contains("rule:"), "{text}");
}

#[test]
fn diff_lists_reasons_of_either_side() {
    let a = collect(
        &dump_with(spread(1000, 100, 1), ExitReason::Halt),
        Options::default(),
    );
    let b = collect(
        &dump_with(spread(1000, 100, 1), ExitReason::IoRead),
        Options::default(),
    );
    let d = diff::diff(&a, &b, &NoiseRule::default());
    assert_eq!(d.len(), 2);
    assert_eq!(
        (d[0].name.as_str(), d[0].count_a, d[0].count_b),
        ("IoRead", 0, 100)
    );
    assert_eq!(
        (d[1].name.as_str(), d[1].count_a, d[1].count_b),
        ("Halt", 100, 0)
    );
    assert_eq!(d[1].count, Verdict::Lower);
}

#[test]
fn a_cut_dump_reports_what_came_before_and_says_where_it_stopped() {
    let bytes = sample_dump();
    let whole = collect(&bytes, Options::default());
    // Cut inside the last chunk (VM 2's): everything of VM 1 is still reported.
    let cut = &bytes[..bytes.len() - 10];
    let report = collect(cut, Options::default());
    assert_eq!(report.records, 1110);
    let stop = report.stop.clone().unwrap();
    assert!(stop.offset > HEADER_LEN as u64);
    let text = render::table(&report, By::Reason, SortColumn::Samples, "cut.axdump");
    let first = text.lines().next().unwrap();
    assert!(first.contains("cut.axdump is cut or damaged"), "{first}");
    assert!(
        first.contains(&format!("stopped at byte {}", stop.offset)),
        "{first}"
    );
    assert!(first.contains("10 more bytes were expected"), "{first}");
    assert!(
        first.contains("1110 exit records read before that"),
        "{first}"
    );
    assert!(whole.records > report.records);

    // A flipped payload byte: the checksum names the chunk's offset.
    let mut damaged = bytes.clone();
    let at = damaged.len() - 40;
    damaged[at] ^= 0xff;
    let report = collect(&damaged, Options::default());
    assert!(report.stop.unwrap().to_string().contains("checksum"));
}

#[test]
fn unreadable_dumps_are_refused_naming_what_was_expected() {
    let error = report::collect(&b"hello world, not a dump"[..], Options::default()).unwrap_err();
    assert!(error.to_string().contains("AXTRACE"), "{error}");
    let mut future = sample_dump();
    future[8] = 99;
    let error = report::collect(future.as_slice(), Options::default()).unwrap_err();
    assert!(error.to_string().contains("version 99"), "{error}");
    let bytes = sample_dump();
    let error = report::collect(&bytes[..HEADER_LEN + 20], Options::default()).unwrap_err();
    assert!(
        error.to_string().contains(&format!("byte {HEADER_LEN}")),
        "{error}"
    );
}

#[test]
fn state_is_bounded_by_keys_not_records() {
    let mut collector = report::Collector::new(Default::default(), Options::default());
    let batch: Vec<Record> = (0..10_000u64)
        .map(|i| {
            exit(
                i,
                1,
                (i % 4) as u16,
                ExitReason::from_code((i % 3 + 1) as u32),
                i as u32,
                0,
            )
        })
        .collect();
    for _ in 0..100 {
        collector.add_records(&batch);
    }
    let report = collector.finish(None);
    assert_eq!(report.records, 1_000_000);
    assert_eq!(report.cells.len(), 12);
    assert!(report.intervals.is_empty());
}
