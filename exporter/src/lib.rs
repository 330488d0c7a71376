//! Host-side conversion of axtrace dumps: the dump reader, the Perfetto writer, HDR latency
//! histograms, the CTF writer and the report model behind `axtrace-report`.
//!
//! Its input is the dump the drain writes (a stream of [`axebpf_core::Record`]s in checksummed
//! chunks); none of the converters exists yet — they arrive with the dump and exporter issues.
