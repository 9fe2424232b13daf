//! A4 (BENCHMARKS.md): type 19 SharedObject message decode and encode.
//!
//! No other Rust crate decodes SharedObject messages (rml_rtmp returns them
//! as `Unknown`), so the reference in the same group is the floor: the AMF0
//! values the body carries, decoded or encoded alone (`payload_amf0`). The
//! target is at most 1.3 × that floor + 30 ns. Throughput is the body size.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use benches::so_message::{self, fixtures};

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("so_message_decode");
    for f in fixtures() {
        group.throughput(Throughput::Bytes(f.body.len() as u64));
        group.bench_function(format!("payload_amf0/{}", f.name), |b| {
            b.iter(|| so_message::decode_payload(black_box(&f.payload)));
        });
        group.bench_function(format!("ours/{}", f.name), |b| {
            b.iter(|| so_message::decode_ours(black_box(&f.body)));
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("so_message_encode");
    for f in fixtures() {
        group.throughput(Throughput::Bytes(f.body.len() as u64));
        let mut out = BytesMut::with_capacity(f.body.len());
        group.bench_function(format!("payload_amf0/{}", f.name), |b| {
            b.iter(|| so_message::encode_payload(black_box(&f.values), &mut out));
        });
        group.bench_function(format!("ours/{}", f.name), |b| {
            b.iter(|| so_message::encode_ours(black_box(&f.message), &mut out));
        });
    }
    group.finish();
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
