//! The bytes the engine sends, against the hex examples of
//! docs/PROTOCOL.md §5.6 (Red5-compatible bodies).

use hex_literal::hex;
use rtmp_proto::amf::{Encoding, Value};
use rtmp_proto::message::shared_object::SoEvent;
use so_engine::{ClientId, Output, ServerApi};

use crate::support::*;

/// The body each client received from the last input, in order.
fn bodies(w: &mut World, client: u64) -> Vec<Vec<u8>> {
    let bodies = w
        .log
        .iter()
        .filter_map(|o| match o {
            Output::SharedObject { to, body, .. } if to.contains(ClientId(client)) => {
                Some(body.to_vec())
            }
            _ => None,
        })
        .collect();
    w.log.clear();
    bodies
}

/// Examples B, C and D: a USE reply with state, a write's two answers, a
/// send, as AMF0 bodies.
#[test]
fn amf0_bodies_match_the_reference() {
    let mut w = World::default_app();
    w.connect(1, "app");
    w.use_so(1, "chat"); // version 1
    w.so(1, "chat", false, vec![request_change("msg", "hi")]); // version 2
    w.connect(2, "app");
    w.log.clear();
    w.use_so(2, "chat");
    // B: USE_SUCCESS, CLEAR, CHANGE msg="hi" at version 2.
    assert_eq!(
        bodies(&mut w, 2),
        [hex!(
            "0004 63686174 00000002 00000000 00000000"
            "0B 00000000"
            "08 00000000"
            "04 0000000A 0003 6D7367 02 0002 6869"
        )]
    );
    // C: REQUEST_CHANGE msg = 42 from client 2 (version 2 to 3).
    w.so(2, "chat", false, vec![request_change("msg", 42.0)]);
    assert_eq!(
        bodies(&mut w, 2),
        [hex!(
            "0004 63686174 00000003 00000000 00000000 05 00000005 0003 6D7367"
        )]
    );
    w.so(2, "chat", false, vec![request_change("msg", 43.0)]);
    w.so(2, "chat", false, vec![request_change("msg", 42.0)]);
    let other = bodies(&mut w, 1);
    assert_eq!(
        other.last().unwrap(),
        &hex!(
            "0004 63686174 00000005 00000000 00000000"
            "04 0000000E 0003 6D7367 00 4045000000000000"
        )
    );
    // D: SEND_MESSAGE newMessage("hello"), to both, at the current version.
    w.so(
        1,
        "chat",
        false,
        vec![send("newMessage", vec!["hello".into()])],
    );
    let expected = hex!(
        "0004 63686174 00000005 00000000 00000000"
        "06 00000015 02 000A 6E65774D657373616765 02 0005 68656C6C6F"
    );
    let log = w.log.clone();
    for c in [1, 2] {
        w.log.clone_from(&log);
        assert_eq!(bodies(&mut w, c), [expected]);
    }
    // One encoding, one body: one output carries it to both recipients.
    let recipients: Vec<_> = log
        .iter()
        .filter_map(|o| match o {
            Output::SharedObject { to, .. } => Some(to.as_slice()),
            _ => None,
        })
        .collect();
    assert_eq!(recipients, [[ClientId(1), ClientId(2)]]);
}

/// Example E: BadPersistence echoes the request's name and flag, version 0.
#[test]
fn bad_persistence_body_matches_the_reference() {
    let mut w = World::default_app();
    w.connect(1, "app");
    w.use_so(1, "chat");
    w.log.clear();
    w.so(1, "chat", true, vec![SoEvent::Use]);
    assert_eq!(
        bodies(&mut w, 1),
        [hex!(
            "0004 63686174 00000000 00000002 00000000"
            "07 00000024 001B 5368617265644F626A6563742E42616450657273697374656E6365"
            "0005 6572726F72"
        )]
    );
}

/// Example G: two CHANGEs to an AMF3 client, values as 0x11 + AMF3 (a
/// string and an integer), after the format byte.
#[test]
fn amf3_bodies_match_the_reference() {
    let mut w = World::default_app();
    w.connect_with(1, "app", Encoding::Amf3);
    w.use_so(1, "chat");
    let so = key("app", "chat");
    w.set(&so, "a", 1.0);
    w.set(&so, "a", 2.0); // version 3
    w.log.clear();
    w.with_server(|s| s.set_many(&so, [("msg", Value::from("hi")), ("n", Value::Integer(42))]))
        .unwrap();
    assert_eq!(
        bodies(&mut w, 1),
        [hex!(
            "00"
            "0004 63686174 00000004 00000000 00000000"
            "04 0000000A 0003 6D7367 11 06 05 6869"
            "04 00000006 0001 6E 11 04 2A"
        )]
    );
}
