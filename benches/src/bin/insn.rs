//! Runs one benchmark case a given number of passes, for instruction counts
//! under callgrind (BENCHMARKS.md, How to rerun): Ir per op is
//! `(Ir(3 passes) − Ir(1 pass)) / 2 / ops`, which leaves fixture generation
//! and process start-up out. `benches/callgrind.sh` does the arithmetic.
//!
//! Usage: `insn CASE PASSES`, where CASE is a criterion benchmark id such as
//! `chunk_decode/ours/body64_x4096/cs128`; `insn list` prints the cases.
//! Prints the ops per pass and a tally, so a wrong case cannot pass silently,
//! and for the engine cases the function callgrind should count
//! (`collect FN`, for `--toggle-collect`): their inputs are built and their
//! queues drained outside the measured call, as in the criterion bench.

use std::hint::black_box;
use std::process::ExitCode;

use bytes::BytesMut;

use benches::chunk::{self, CHUNK_SIZES, SHAPES};
use benches::engine::{
    self, EngineOnly, FANOUT_SUBSCRIBERS, Fanout, InitialSync, Measured, SYNC_SLOTS, TICK_WRITERS,
    TickFanout,
};
use benches::{amf, session, so_message};
use rtmp_proto::handshake::ClientStyle;

/// AMF cases are single values: a pass runs this many ops.
const AMF_OPS: usize = 1000;

/// One case ready to run: how many ops a pass makes, and the pass itself.
struct Case {
    ops: usize,
    pass: Box<dyn FnMut() -> usize>,
    /// The only function whose instructions count, if not the whole pass.
    collect: Option<&'static str>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [list] if list == "list" => {
            for name in names() {
                println!("{name}");
            }
            ExitCode::SUCCESS
        }
        [name, passes] => {
            let (Some(mut case), Ok(passes)) = (case(name), passes.parse::<usize>()) else {
                eprintln!("unknown case {name:?} or bad pass count {passes:?}; try `insn list`");
                return ExitCode::FAILURE;
            };
            let mut tally = 0usize;
            for _ in 0..passes {
                tally = tally.wrapping_add(black_box((case.pass)()));
            }
            match case.collect {
                Some(collect) => {
                    println!("ops_per_pass {} tally {tally} collect {collect}", case.ops);
                }
                None => println!("ops_per_pass {} tally {tally}", case.ops),
            }
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: insn CASE PASSES | insn list");
            ExitCode::FAILURE
        }
    }
}

/// Every case name `case` knows.
fn names() -> Vec<String> {
    let mut names = Vec::new();
    for shape in SHAPES {
        for chunk_size in CHUNK_SIZES {
            let tail = format!("{}/{}", shape.name, chunk::chunk_size_name(chunk_size));
            for imp in ["rml_rtmp", "ours"] {
                names.push(format!("chunk_decode/{imp}/{tail}"));
            }
            for imp in ["rml_rtmp", "ours", "ours_owned_per_msg"] {
                names.push(format!("chunk_encode/{imp}/{tail}"));
            }
        }
    }
    for fixture in ["object10", "string1k"] {
        for (group, imps) in AMF_IMPLS {
            for imp in *imps {
                names.push(format!("{group}/{imp}/{fixture}"));
            }
        }
    }
    for f in so_message::fixtures() {
        for group in ["so_message_decode", "so_message_encode"] {
            for imp in ["payload_amf0", "ours"] {
                names.push(format!("{group}/{imp}/{}", f.name));
            }
        }
    }
    for name in SESSION_CASES {
        names.push(format!("session/{name}"));
    }
    for n in FANOUT_SUBSCRIBERS {
        names.push(format!("so_engine/update_fanout/N={n}"));
        names.push(format!("so_engine/update_fanout_engine_only/N={n}"));
        names.push(format!("so_engine/tick_fanout/N={n}"));
    }
    for k in SYNC_SLOTS {
        names.push(format!("so_engine/initial_sync/K={k}"));
    }
    names
}

/// The session cases. Ours has no connect-only case that callgrind can
/// count by itself: `connect_after_handshake/ours` makes two connections,
/// runs their handshake and then connect, and `pair_after_handshake/ours`
/// does the same without connect; connect is the difference.
const SESSION_CASES: [&str; 8] = [
    "handshake_fp9/rml_rtmp",
    "handshake_fp9/ours",
    "handshake_plain/ours",
    "connect_after_handshake/rml_rtmp",
    "connect_after_handshake/ours",
    "pair_after_handshake/ours",
    "handshake_plus_connect/rml_rtmp",
    "handshake_plus_connect/ours",
];

/// Handshakes are slow enough that a pass makes this many.
const SESSION_OPS: usize = 20;

/// The AMF groups and who runs in each.
const AMF_IMPLS: &[(&str, &[&str])] = &[
    ("amf0_decode", &["rml_amf0", "amf", "ours"]),
    ("amf0_encode", &["rml_amf0", "amf", "ours", "ours_reused"]),
    ("amf3_decode", &["amf", "ours"]),
    ("amf3_encode", &["amf", "ours", "ours_reused"]),
];

/// Builds the fixture of case `name` and the closure that runs one pass.
fn case(name: &str) -> Option<Case> {
    let parts: Vec<&str> = name.split('/').collect();
    match parts.as_slice() {
        [group @ ("chunk_decode" | "chunk_encode"), imp, shape, cs] => {
            let shape = chunk::shape(shape)?;
            let chunk_size: u32 = cs.strip_prefix("cs")?.parse().ok()?;
            chunk_case(group, imp, shape, chunk_size)
        }
        ["session", case, imp] => session_case(case, imp),
        ["so_engine", case, size] => engine_case(case, size),
        [
            group @ ("so_message_decode" | "so_message_encode"),
            imp,
            fixture,
        ] => so_message_case(group, imp, fixture),
        [group, imp, fixture] => amf_case(group, imp, fixture),
        _ => None,
    }
}

fn chunk_case(group: &str, imp: &str, shape: chunk::Shape, chunk_size: u32) -> Option<Case> {
    let ops = shape.count;
    let pass: Box<dyn FnMut() -> usize> = match (group, imp) {
        ("chunk_decode", "rml_rtmp") => {
            let wire = chunk::wire(shape, chunk_size);
            Box::new(move || chunk::decode_rml(black_box(&wire), chunk_size).bytes)
        }
        ("chunk_decode", "ours") => {
            let wire = chunk::wire(shape, chunk_size);
            Box::new(move || chunk::decode_ours(black_box(&wire), chunk_size).bytes)
        }
        ("chunk_encode", "rml_rtmp") => {
            let payloads = chunk::rml_payloads(&chunk::messages(shape));
            Box::new(move || chunk::encode_rml(black_box(&payloads), chunk_size).bytes)
        }
        ("chunk_encode", "ours") => {
            let messages = chunk::messages(shape);
            let mut out = BytesMut::with_capacity(chunk::wire(shape, chunk_size).len());
            Box::new(move || chunk::encode_ours(black_box(&messages), chunk_size, &mut out).bytes)
        }
        ("chunk_encode", "ours_owned_per_msg") => {
            let messages = chunk::messages(shape);
            Box::new(move || chunk::encode_ours_owned(black_box(&messages), chunk_size).bytes)
        }
        _ => return None,
    };
    Some(Case {
        ops,
        pass,
        collect: None,
    })
}

fn amf_case(group: &str, imp: &str, fixture: &str) -> Option<Case> {
    let f = amf::fixtures().into_iter().find(|f| f.name == fixture)?;
    let mut out = BytesMut::with_capacity(f.amf0.len().max(f.amf3.len()));
    // Each op's result is dropped inside the pass, as criterion's `iter` does.
    let op: Box<dyn FnMut() -> usize> = match (group, imp) {
        ("amf0_decode", "rml_amf0") => {
            Box::new(move || amf::amf0_decode_rml(black_box(&f.amf0)).len())
        }
        ("amf0_decode", "amf") => {
            Box::new(move || size_of_val(&amf::amf0_decode_amf(black_box(&f.amf0))))
        }
        ("amf0_decode", "ours") => {
            Box::new(move || size_of_val(&amf::amf0_decode_ours(black_box(&f.amf0))))
        }
        ("amf3_decode", "amf") => {
            Box::new(move || size_of_val(&amf::amf3_decode_amf(black_box(&f.amf3))))
        }
        ("amf3_decode", "ours") => {
            Box::new(move || size_of_val(&amf::amf3_decode_ours(black_box(&f.amf3))))
        }
        ("amf0_encode", "rml_amf0") => {
            Box::new(move || amf::amf0_encode_rml(black_box(&f.rml)).len())
        }
        ("amf0_encode", "amf") => {
            Box::new(move || amf::amf0_encode_amf(black_box(&f.amf_amf0)).len())
        }
        ("amf0_encode", "ours") => {
            Box::new(move || amf::amf0_encode_ours(black_box(&f.ours)).len())
        }
        ("amf0_encode", "ours_reused") => {
            Box::new(move || amf::amf0_encode_ours_reused(black_box(&f.ours), &mut out))
        }
        ("amf3_encode", "amf") => {
            Box::new(move || amf::amf3_encode_amf(black_box(&f.amf_amf3)).len())
        }
        ("amf3_encode", "ours") => {
            Box::new(move || amf::amf3_encode_ours(black_box(&f.ours)).len())
        }
        ("amf3_encode", "ours_reused") => {
            Box::new(move || amf::amf3_encode_ours_reused(black_box(&f.ours), &mut out))
        }
        _ => return None,
    };
    Some(Case {
        ops: AMF_OPS,
        pass: repeat(op, AMF_OPS),
        collect: None,
    })
}

fn so_message_case(group: &str, imp: &str, fixture: &str) -> Option<Case> {
    let f = so_message::fixtures()
        .into_iter()
        .find(|f| f.name == fixture)?;
    let mut out = BytesMut::with_capacity(f.body.len());
    let op: Box<dyn FnMut() -> usize> = match (group, imp) {
        ("so_message_decode", "payload_amf0") => {
            Box::new(move || so_message::decode_payload(black_box(&f.payload)).len())
        }
        ("so_message_decode", "ours") => {
            Box::new(move || so_message::decode_ours(black_box(&f.body)).events.len())
        }
        ("so_message_encode", "payload_amf0") => {
            Box::new(move || so_message::encode_payload(black_box(&f.values), &mut out))
        }
        ("so_message_encode", "ours") => {
            Box::new(move || so_message::encode_ours(black_box(&f.message), &mut out))
        }
        _ => return None,
    };
    Some(Case {
        ops: AMF_OPS,
        pass: repeat(op, AMF_OPS),
        collect: None,
    })
}

fn session_case(case: &str, imp: &str) -> Option<Case> {
    let now = std::time::Instant::now();
    let op: Box<dyn FnMut() -> usize> = match (case, imp) {
        ("handshake_fp9", "rml_rtmp") => Box::new(session::rml_handshake),
        ("handshake_fp9", "ours") => Box::new(|| session::ours_handshake(ClientStyle::Digest)),
        ("handshake_plain", "ours") => Box::new(|| session::ours_handshake(ClientStyle::Plain)),
        ("connect_after_handshake", "rml_rtmp") => Box::new(session::rml_connect),
        ("connect_after_handshake", "ours") => Box::new(move || {
            let mut pair = session::Pair::after_handshake(now, ClientStyle::Digest);
            pair.connect();
            pair.bytes
        }),
        ("pair_after_handshake", "ours") => {
            Box::new(move || session::Pair::after_handshake(now, ClientStyle::Digest).bytes)
        }
        ("handshake_plus_connect", "rml_rtmp") => Box::new(session::rml_handshake_plus_connect),
        ("handshake_plus_connect", "ours") => {
            Box::new(move || session::ours_handshake_plus_connect(now, ClientStyle::Digest))
        }
        _ => return None,
    };
    Some(Case {
        ops: SESSION_OPS,
        pass: repeat(op, SESSION_OPS),
        collect: None,
    })
}

/// B1 updates per pass: an op is one delivery, so a pass makes this many
/// times N.
const UPDATES: usize = 20;
/// B2 joins per pass.
const JOINS: usize = 20;

fn engine_case(case: &str, size: &str) -> Option<Case> {
    let (ops, pass, collect): (usize, Box<dyn FnMut() -> usize>, &'static str) =
        match (case, size.split_once('=')?) {
            ("update_fanout", ("N", n)) => {
                let n: usize = n.parse().ok()?;
                let pass = measured_pass(Fanout::new(n), UPDATES);
                (UPDATES * n, pass, "benches::engine::Fanout::update")
            }
            ("update_fanout_engine_only", ("N", n)) => {
                let n: usize = n.parse().ok()?;
                let pass = measured_pass(EngineOnly::new(n), UPDATES);
                (UPDATES * n, pass, "benches::engine::EngineOnly::update")
            }
            ("tick_fanout", ("N", n)) => {
                let n: usize = n.parse().ok()?;
                let pass = measured_pass(TickFanout::new(n), UPDATES);
                (
                    UPDATES * TICK_WRITERS * n,
                    pass,
                    "benches::engine::TickFanout::tick",
                )
            }
            ("initial_sync", ("K", k)) => {
                let pass = measured_pass(InitialSync::new(k.parse().ok()?), JOINS);
                (JOINS, pass, "benches::engine::InitialSync::join")
            }
            _ => return None,
        };
    Some(Case {
        ops,
        pass,
        collect: Some(collect),
    })
}

/// A pass of `runs` runs of `case` (each with its input and settling).
fn measured_pass(mut case: impl Measured + 'static, runs: usize) -> Box<dyn FnMut() -> usize> {
    Box::new(move || {
        (0..runs).fold(0usize, |sum, _| {
            sum.wrapping_add(engine::run_once(&mut case, |run| run()))
        })
    })
}

/// A pass that runs `op` `times` times.
fn repeat(mut op: Box<dyn FnMut() -> usize>, times: usize) -> Box<dyn FnMut() -> usize> {
    Box::new(move || (0..times).fold(0usize, |sum, _| sum.wrapping_add(black_box(op()))))
}
