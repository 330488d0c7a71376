//! The few Perfetto trace messages the writer emits, hand-written for prost (no protoc, no build
//! script). Field numbers are those of Perfetto's `protos/perfetto/trace/**.proto` (checked
//! against the copy in the `perfetto_protos` crate, which the `axtrace-perfetto-check` tests
//! decode our output with). Only the fields we write are declared; Perfetto's protos are proto2,
//! so every scalar is `optional`. Members of a proto `oneof` are plain optional fields here: the
//! wire format is the same as long as at most one is set, which the writer guarantees.

/// `TrackEvent.Type` values.
pub mod event_type {
    /// `TYPE_SLICE_BEGIN`.
    pub const SLICE_BEGIN: i32 = 1;
    /// `TYPE_SLICE_END`.
    pub const SLICE_END: i32 = 2;
    /// `TYPE_INSTANT`.
    pub const INSTANT: i32 = 3;
    /// `TYPE_COUNTER`.
    pub const COUNTER: i32 = 4;
}

/// `TrackDescriptor.ChildTracksOrdering` values.
pub mod child_ordering {
    /// `LEXICOGRAPHIC`: children sorted by name (`vCPU 0`, `vCPU 1`, … and the counters).
    pub const LEXICOGRAPHIC: i32 = 1;
}

/// `CounterDescriptor.Unit` values.
pub mod counter_unit {
    /// `UNIT_COUNT`.
    pub const COUNT: i32 = 2;
}

/// `TracePacket.SequenceFlags` values.
pub mod seq_flags {
    /// `SEQ_INCREMENTAL_STATE_CLEARED`: the first packet of a sequence.
    pub const INCREMENTAL_STATE_CLEARED: u32 = 1;
    /// `SEQ_NEEDS_INCREMENTAL_STATE`: the packet uses interned data.
    pub const NEEDS_INCREMENTAL_STATE: u32 = 2;
}

/// `perfetto.protos.TracePacket` (trace_packet.proto).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TracePacket {
    /// Absolute ns on the default clock (BOOTTIME).
    #[prost(uint64, optional, tag = "8")]
    pub timestamp: Option<u64>,
    /// oneof `optional_trusted_packet_sequence_id`.
    #[prost(uint32, optional, tag = "10")]
    pub trusted_packet_sequence_id: Option<u32>,
    /// oneof `data`: a track event.
    #[prost(message, optional, tag = "11")]
    pub track_event: Option<TrackEvent>,
    /// Names interned on this sequence from this packet on.
    #[prost(message, optional, tag = "12")]
    pub interned_data: Option<InternedData>,
    /// [`seq_flags`] bits.
    #[prost(uint32, optional, tag = "13")]
    pub sequence_flags: Option<u32>,
    /// Defaults for the following packets of this sequence (incremental state).
    #[prost(message, optional, tag = "59")]
    pub trace_packet_defaults: Option<TracePacketDefaults>,
    /// oneof `data`: a track's description.
    #[prost(message, optional, tag = "60")]
    pub track_descriptor: Option<TrackDescriptor>,
}

/// `perfetto.protos.TracePacketDefaults` (trace_packet_defaults.proto).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TracePacketDefaults {
    /// Defaults of track events.
    #[prost(message, optional, tag = "11")]
    pub track_event_defaults: Option<TrackEventDefaults>,
}

/// `perfetto.protos.TrackEventDefaults` (track_event/track_event.proto).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TrackEventDefaults {
    /// The track of events that name none.
    #[prost(uint64, optional, tag = "11")]
    pub track_uuid: Option<u64>,
}

/// `perfetto.protos.TrackEvent` (track_event/track_event.proto).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TrackEvent {
    /// Arguments.
    #[prost(message, repeated, tag = "4")]
    pub debug_annotations: Vec<DebugAnnotation>,
    /// The slice's name, interned (oneof `name_field`).
    #[prost(uint64, optional, tag = "10")]
    pub name_iid: Option<u64>,
    /// [`event_type`].
    #[prost(int32, optional, tag = "9")]
    pub r#type: Option<i32>,
    /// The track it belongs to; `None` = the sequence's default track.
    #[prost(uint64, optional, tag = "11")]
    pub track_uuid: Option<u64>,
    /// A counter's value (oneof `counter_value_field`).
    #[prost(int64, optional, tag = "30")]
    pub counter_value: Option<i64>,
    /// A counter's value as a double (the same oneof).
    #[prost(double, optional, tag = "44")]
    pub double_counter_value: Option<f64>,
}

/// `perfetto.protos.DebugAnnotation` (track_event/debug_annotation.proto).
#[derive(Clone, PartialEq, prost::Message)]
pub struct DebugAnnotation {
    /// Interned name (oneof `name_field`).
    #[prost(uint64, optional, tag = "1")]
    pub name_iid: Option<u64>,
    /// Unsigned value (oneof `value`).
    #[prost(uint64, optional, tag = "3")]
    pub uint_value: Option<u64>,
}

/// `perfetto.protos.TrackDescriptor` (track_event/track_descriptor.proto).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TrackDescriptor {
    /// Unique id of the track.
    #[prost(uint64, optional, tag = "1")]
    pub uuid: Option<u64>,
    /// Shown name.
    #[prost(string, optional, tag = "2")]
    pub name: Option<String>,
    /// The parent track (nests it in the UI).
    #[prost(uint64, optional, tag = "5")]
    pub parent_uuid: Option<u64>,
    /// Set on counter tracks.
    #[prost(message, optional, tag = "8")]
    pub counter: Option<CounterDescriptor>,
    /// How the UI orders this track's children ([`child_ordering`]).
    #[prost(int32, optional, tag = "11")]
    pub child_ordering: Option<i32>,
}

/// `perfetto.protos.CounterDescriptor` (track_event/counter_descriptor.proto).
#[derive(Clone, PartialEq, prost::Message)]
pub struct CounterDescriptor {
    /// A [`counter_unit`].
    #[prost(int32, optional, tag = "3")]
    pub unit: Option<i32>,
    /// A free-form unit, shown next to the values.
    #[prost(string, optional, tag = "6")]
    pub unit_name: Option<String>,
}

/// `perfetto.protos.InternedData` (interned_data/interned_data.proto).
#[derive(Clone, PartialEq, prost::Message)]
pub struct InternedData {
    /// Event names.
    #[prost(message, repeated, tag = "2")]
    pub event_names: Vec<InternedString>,
    /// Debug-annotation names.
    #[prost(message, repeated, tag = "3")]
    pub debug_annotation_names: Vec<InternedString>,
}

/// `EventName` and `DebugAnnotationName`: both are `{ iid = 1; name = 2; }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct InternedString {
    /// Interning id, from 1 per sequence.
    #[prost(uint64, optional, tag = "1")]
    pub iid: Option<u64>,
    /// The string.
    #[prost(string, optional, tag = "2")]
    pub name: Option<String>,
}
