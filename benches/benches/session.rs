//! A5 (BENCHMARKS.md): handshake and `connect` in process, ours next to
//! rml_rtmp 0.8 in one criterion group.
//!
//! - `handshake_fp9`: the Flash Player 9 digest handshake, both sides
//!   (HMAC-SHA256 bound); `handshake_plain` (ours only): the plain one.
//! - `connect_after_handshake`: rml creates its sessions and runs the connect
//!   round trip; ours starts from two [`Connection`]s whose handshake is done
//!   (made outside the timing, right before each iteration so that, like
//!   rml's sessions, they are warm in cache; made in batches they are cold
//!   and the round trip takes twice as long) and runs the same round trip.
//! - `handshake_plus_connect`: everything from nothing.
//!
//! [`Connection`]: rtmp_proto::connection::Connection

use std::time::Instant;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rtmp_proto::handshake::ClientStyle;

use benches::session::{self, Pair};

fn session(c: &mut Criterion) {
    let now = Instant::now();
    let mut group = c.benchmark_group("session");
    group.bench_function("handshake_fp9/rml_rtmp", |b| b.iter(session::rml_handshake));
    group.bench_function("handshake_fp9/ours", |b| {
        b.iter(|| session::ours_handshake(ClientStyle::Digest));
    });
    group.bench_function("handshake_plain/ours", |b| {
        b.iter(|| session::ours_handshake(ClientStyle::Plain));
    });
    group.bench_function("connect_after_handshake/rml_rtmp", |b| {
        b.iter(session::rml_connect);
    });
    group.bench_function("connect_after_handshake/ours", |b| {
        b.iter_batched(
            || Pair::after_handshake(now, ClientStyle::Digest),
            |mut pair| {
                pair.connect();
                pair
            },
            BatchSize::PerIteration,
        );
    });
    group.bench_function("handshake_plus_connect/rml_rtmp", |b| {
        b.iter(session::rml_handshake_plus_connect);
    });
    group.bench_function("handshake_plus_connect/ours", |b| {
        b.iter(|| session::ours_handshake_plus_connect(now, ClientStyle::Digest));
    });
    group.finish();
}

criterion_group!(benches, session);
criterion_main!(benches);
