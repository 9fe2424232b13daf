//! Runs one benchmark case a given number of passes, for instruction counts
//! under callgrind (performance.md §1.4): Ir per op is
//! `(Ir(3 passes) − Ir(1 pass)) / 2 / ops`, which leaves fixture generation
//! and process start-up out. `benches/callgrind.sh` does the arithmetic.
//!
//! Usage: `insn CASE PASSES`, where CASE is a criterion benchmark id such as
//! `chunk_decode/ours/body64_x4096/cs128`; `insn list` prints the cases.
//! Prints the ops per pass and a tally, so a wrong case cannot pass silently.

use std::hint::black_box;
use std::process::ExitCode;

use bytes::BytesMut;

use benches::chunk::{self, CHUNK_SIZES, SHAPES};

/// One case ready to run: how many ops a pass makes, and the pass itself.
struct Case {
    ops: usize,
    pass: Box<dyn FnMut() -> usize>,
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
            println!("ops_per_pass {} tally {tally}", case.ops);
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
    names
}

/// Builds the fixture of case `name` and the closure that runs one pass.
fn case(name: &str) -> Option<Case> {
    let parts: Vec<&str> = name.split('/').collect();
    match parts.as_slice() {
        [group @ ("chunk_decode" | "chunk_encode"), imp, shape, cs] => {
            let shape = chunk::shape(shape)?;
            let chunk_size: u32 = cs.strip_prefix("cs")?.parse().ok()?;
            chunk_case(group, imp, shape, chunk_size)
        }
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
    Some(Case { ops, pass })
}
