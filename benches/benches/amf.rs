//! A3 (BENCHMARKS.md): AMF0 and AMF3 decode and encode of `object10` and
//! `string1k`, ours next to rml_amf0 0.3 and amf 1.0 in one group per
//! operation.
//!
//! Decoders build an owned tree from a slice; encoders write a fresh buffer
//! (the anchors return a fresh `Vec`), plus `ours_reused`, which appends to a
//! buffer kept across iterations as a connection does. Throughput is the
//! encoded size.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use benches::amf::{self, fixtures};

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("amf0_decode");
    for f in fixtures() {
        group.throughput(Throughput::Bytes(f.amf0.len() as u64));
        group.bench_function(format!("rml_amf0/{}", f.name), |b| {
            b.iter(|| amf::amf0_decode_rml(black_box(&f.amf0)));
        });
        group.bench_function(format!("amf/{}", f.name), |b| {
            b.iter(|| amf::amf0_decode_amf(black_box(&f.amf0)));
        });
        group.bench_function(format!("ours/{}", f.name), |b| {
            b.iter(|| amf::amf0_decode_ours(black_box(&f.amf0)));
        });
    }
    group.finish();

    let mut group = c.benchmark_group("amf3_decode");
    for f in fixtures() {
        group.throughput(Throughput::Bytes(f.amf3.len() as u64));
        group.bench_function(format!("amf/{}", f.name), |b| {
            b.iter(|| amf::amf3_decode_amf(black_box(&f.amf3)));
        });
        group.bench_function(format!("ours/{}", f.name), |b| {
            b.iter(|| amf::amf3_decode_ours(black_box(&f.amf3)));
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("amf0_encode");
    for f in fixtures() {
        group.throughput(Throughput::Bytes(f.amf0.len() as u64));
        group.bench_function(format!("rml_amf0/{}", f.name), |b| {
            b.iter(|| amf::amf0_encode_rml(black_box(&f.rml)));
        });
        group.bench_function(format!("amf/{}", f.name), |b| {
            b.iter(|| amf::amf0_encode_amf(black_box(&f.amf_amf0)));
        });
        group.bench_function(format!("ours/{}", f.name), |b| {
            b.iter(|| amf::amf0_encode_ours(black_box(&f.ours)));
        });
        let mut out = BytesMut::with_capacity(f.amf0.len());
        group.bench_function(format!("ours_reused/{}", f.name), |b| {
            b.iter(|| amf::amf0_encode_ours_reused(black_box(&f.ours), &mut out));
        });
    }
    group.finish();

    let mut group = c.benchmark_group("amf3_encode");
    for f in fixtures() {
        group.throughput(Throughput::Bytes(f.amf3.len() as u64));
        group.bench_function(format!("amf/{}", f.name), |b| {
            b.iter(|| amf::amf3_encode_amf(black_box(&f.amf_amf3)));
        });
        group.bench_function(format!("ours/{}", f.name), |b| {
            b.iter(|| amf::amf3_encode_ours(black_box(&f.ours)));
        });
        let mut out = BytesMut::with_capacity(f.amf3.len());
        group.bench_function(format!("ours_reused/{}", f.name), |b| {
            b.iter(|| amf::amf3_encode_ours_reused(black_box(&f.ours), &mut out));
        });
    }
    group.finish();
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
