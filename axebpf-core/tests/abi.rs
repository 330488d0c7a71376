//! `bpf/include/axtrace.h` and the Rust mirror agree: every context field's offset and size,
//! every struct's size, the record, the exit-reason codes — checked by clang itself.
//!
//! Needs clang (`cargo xtask setup` installs it). Without it the test says so and passes, unless
//! `AXTRACE_REQUIRE_CLANG` is set, as `cargo xtask test` does.

use std::fmt::Write;
use std::process::{Command, Stdio};

use axebpf_core::context;
use axebpf_core::exit_reason::ExitReason;
use axebpf_core::record::Record;

fn upper_snake(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

fn assertions() -> String {
    let mut c = String::from("#include \"axtrace.h\"\n#include <stddef.h>\n");
    for (name, fields, size) in context::ALL {
        let ty = format!("struct axtrace_{name}");
        let _ = writeln!(c, "_Static_assert(sizeof({ty}) == {size}, \"{ty} size\");");
        for (index, field) in fields.iter().enumerate() {
            let member = if index < 4 {
                format!("header.{}", field.name)
            } else {
                field.name.to_string()
            };
            let _ = writeln!(
                c,
                "_Static_assert(offsetof({ty}, {member}) == {off}, \"{ty}.{member} offset\");\n\
                 _Static_assert(sizeof((({ty} *)0)->{member}) == {sz}, \"{ty}.{member} size\");",
                off = field.offset,
                sz = field.size
            );
        }
    }
    let record_fields = [
        ("timestamp_ns", std::mem::offset_of!(Record, timestamp_ns)),
        ("event", std::mem::offset_of!(Record, event)),
        ("vm", std::mem::offset_of!(Record, vm)),
        ("vcpu", std::mem::offset_of!(Record, vcpu)),
        ("pcpu", std::mem::offset_of!(Record, pcpu)),
        ("code", std::mem::offset_of!(Record, code)),
        ("aux", std::mem::offset_of!(Record, aux)),
        ("data", std::mem::offset_of!(Record, data)),
    ];
    let _ = writeln!(
        c,
        "_Static_assert(sizeof(struct axtrace_record) == {}, \"record size\");",
        size_of::<Record>()
    );
    for (member, offset) in record_fields {
        let _ = writeln!(
            c,
            "_Static_assert(offsetof(struct axtrace_record, {member}) == {offset}, \"record.{member}\");"
        );
    }
    let _ = writeln!(
        c,
        "_Static_assert(AXTRACE_EVENT_VM_EXIT == {}, \"event id\");",
        axebpf_core::record::event::VM_EXIT
    );
    for reason in ExitReason::ALL {
        let macro_name = format!("AXTRACE_EXIT_{}", upper_snake(&format!("{reason:?}")));
        let _ = writeln!(
            c,
            "_Static_assert({macro_name} == {}, \"{macro_name}\");",
            reason.code()
        );
    }
    c
}

#[test]
fn the_c_header_matches_the_rust_layout() {
    let source = assertions();
    let include = concat!(env!("CARGO_MANIFEST_DIR"), "/bpf/include");
    let child = Command::new(std::env::var("CLANG").unwrap_or_else(|_| "clang".into()))
        .args([
            "-target",
            "bpf",
            "-fsyntax-only",
            "-Werror",
            "-I",
            include,
            "-x",
            "c",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(error) if std::env::var_os("AXTRACE_REQUIRE_CLANG").is_none() => {
            eprintln!("SKIPPED: clang not runnable ({error}); `cargo xtask setup` installs it");
            return;
        }
        Err(error) => panic!("clang is required (AXTRACE_REQUIRE_CLANG is set): {error}"),
    };
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(source.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "axtrace.h disagrees with the Rust layout:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
