//! A1 and A2 (BENCHMARKS.md): chunk stream decode and encode, ours next
//! to rml_rtmp 0.8 in one criterion group per direction, on the fixture
//! streams (BENCHMARKS.md, Fixtures).
//!
//! Throughput is wire bytes (the whole chunk stream, headers included). Each
//! iteration makes a fresh decoder or encoder, as the anchors were measured.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use benches::chunk::{self, CHUNK_SIZES, SHAPES};

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("chunk_decode");
    for shape in SHAPES {
        for chunk_size in CHUNK_SIZES {
            let wire = chunk::wire(shape, chunk_size);
            let case = format!("{}/{}", shape.name, chunk::chunk_size_name(chunk_size));
            group.throughput(Throughput::Bytes(wire.len() as u64));
            group.bench_function(format!("rml_rtmp/{case}"), |b| {
                b.iter(|| chunk::decode_rml(black_box(&wire), chunk_size));
            });
            group.bench_function(format!("ours/{case}"), |b| {
                b.iter(|| chunk::decode_ours(black_box(&wire), chunk_size));
            });
        }
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("chunk_encode");
    for shape in SHAPES {
        let messages = chunk::messages(shape);
        let payloads = chunk::rml_payloads(&messages);
        for chunk_size in CHUNK_SIZES {
            let wire_len = chunk::wire(shape, chunk_size).len();
            let case = format!("{}/{}", shape.name, chunk::chunk_size_name(chunk_size));
            group.throughput(Throughput::Bytes(wire_len as u64));
            group.bench_function(format!("rml_rtmp/{case}"), |b| {
                b.iter(|| chunk::encode_rml(black_box(&payloads), chunk_size));
            });
            // Ours appends to one buffer the caller keeps, as a connection does.
            let mut out = BytesMut::with_capacity(wire_len);
            group.bench_function(format!("ours/{case}"), |b| {
                b.iter(|| chunk::encode_ours(black_box(&messages), chunk_size, &mut out));
            });
            // Like for like with rml_rtmp: one fresh buffer per message.
            group.bench_function(format!("ours_owned_per_msg/{case}"), |b| {
                b.iter(|| chunk::encode_ours_owned(black_box(&messages), chunk_size));
            });
        }
    }
    group.finish();
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
