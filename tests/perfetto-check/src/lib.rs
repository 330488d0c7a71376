//! Test-only crate: `tests/perfetto.rs` decodes the Perfetto traces that
//! `axtrace_exporter::perfetto` writes with the official Perfetto protos (`perfetto_protos`)
//! and checks their structure against the dump they came from.
