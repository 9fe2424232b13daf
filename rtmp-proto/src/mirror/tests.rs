use bytes::BytesMut;
use hex_literal::hex;

use super::*;
use crate::amf::{Encoding, Limits};

// Golden bodies: docs/PROTOCOL.md §5.6 (A–G) and so-engine's refusal form.

/// A: USE, version 0, transient.
const USE_V0: &[u8] = &hex!("0004 63686174 00000000 00000000 00000000  01 00000000");
/// B: USE_SUCCESS, CLEAR, CHANGE msg="hi" at version 2.
const USE_ANSWER: &[u8] = &hex!(
    "0004 63686174 00000002 00000000 00000000"
    "0B 00000000"
    "08 00000000"
    "04 0000000A 0003 6D7367 02 0002 6869"
);
/// C: REQUEST_CHANGE msg=42 at version 2, SUCCESS and CHANGE at version 3.
const SET_MSG_42: &[u8] = &hex!(
    "0004 63686174 00000002 00000000 00000000"
    "03 0000000E 0003 6D7367 00 4045000000000000"
);
const SUCCESS_MSG: &[u8] = &hex!(
    "0004 63686174 00000003 00000000 00000000"
    "05 00000005 0003 6D7367"
);
const CHANGE_MSG_42: &[u8] = &hex!(
    "0004 63686174 00000003 00000000 00000000"
    "04 0000000E 0003 6D7367 00 4045000000000000"
);
/// D: SEND_MESSAGE newMessage("hello") at version 3.
const SEND_HELLO: &[u8] = &hex!(
    "0004 63686174 00000003 00000000 00000000"
    "06 00000015 02 000A 6E65774D657373616765 02 0005 68656C6C6F"
);
/// E: STATUS BadPersistence, version 0 (a refusal of the request as a whole).
const BAD_PERSISTENCE: &[u8] = &hex!(
    "0004 63686174 00000000 00000002 00000000"
    "07 00000024 001B 5368617265644F626A6563742E42616450657273697374656E6365 0005 6572726F72"
);
/// F: REQUEST_REMOVE msg at version 3, and the REMOVE answer.
const REMOVE_REQUEST: &[u8] = &hex!(
    "0004 63686174 00000003 00000000 00000000"
    "0A 00000005 0003 6D7367"
);
const REMOVE_MSG: &[u8] = &hex!(
    "0004 63686174 00000004 00000000 00000000"
    "09 00000005 0003 6D7367"
);
/// G: type 16, CHANGE msg="hi" and n=42 (AMF3 integer) at version 4.
const AMF3_CHANGES: &[u8] = &hex!(
    "00"
    "0004 63686174 00000004 00000000 00000000"
    "04 0000000A 0003 6D7367 11 06 05 6869"
    "04 00000006 0001 6E 11 04 2A"
);
/// A refused write of `locked`: STATUS NoWriteAccess, then the authoritative CHANGE locked="x".
const DENIED_LOCKED: &[u8] = &hex!(
    "0004 63686174 00000003 00000000 00000000"
    "07 00000023 001A 5368617265644F626A6563742E4E6F5772697465416363657373 0005 6572726F72"
    "04 0000000C 0006 6C6F636B6564 02 0001 78"
);
/// A refused send: STATUS NoWriteAccess alone.
const DENIED_SEND: &[u8] = &hex!(
    "0004 63686174 00000003 00000000 00000000"
    "07 00000023 001A 5368617265644F626A6563742E4E6F5772697465416363657373 0005 6572726F72"
);

fn decode(body: &[u8], encoding: Encoding) -> SharedObjectMessage {
    SharedObjectMessage::decode(body, encoding, &Limits::default()).expect("golden body decodes")
}

fn encode(message: &SharedObjectMessage) -> Vec<u8> {
    let mut out = BytesMut::new();
    message.encode(Encoding::Amf0, &mut out).expect("encodes");
    out.to_vec()
}

fn apply(so: &mut RemoteSharedObject, body: &[u8]) -> Vec<RemoteEvent> {
    so.apply(&decode(body, Encoding::Amf0))
}

fn changed(key: &str, value: impl Into<Value>) -> RemoteEvent {
    RemoteEvent::Changed {
        key: key.into(),
        value: value.into(),
    }
}

fn accepted(key: &str) -> RemoteEvent {
    RemoteEvent::Accepted { key: key.into() }
}

fn removed(key: &str) -> RemoteEvent {
    RemoteEvent::Removed { key: key.into() }
}

fn status(code: &str) -> RemoteEvent {
    RemoteEvent::Status {
        code: code.into(),
        level: "error".into(),
    }
}

/// The SO `chat` in use at version 2 holding msg="hi" (golden B applied).
fn chat() -> RemoteSharedObject {
    let mut so = RemoteSharedObject::new("chat", false);
    apply(&mut so, USE_ANSWER);
    so
}

fn change_message(version: u32, key: &str, value: impl Into<Value>) -> SharedObjectMessage {
    SharedObjectMessage {
        name: "chat".into(),
        version,
        persistent: false,
        events: vec![SoEvent::Change {
            key: key.into(),
            value: value.into(),
        }],
    }
}

#[test]
fn use_message_is_golden_a() {
    let so = RemoteSharedObject::new("chat", false);
    assert_eq!(encode(&so.use_message()), USE_V0);
    assert!(!so.is_connected());
}

#[test]
fn use_answer_connects_and_fills_the_state() {
    let mut so = RemoteSharedObject::new("chat", false);
    let events = apply(&mut so, USE_ANSWER);
    assert_eq!(
        events,
        [
            RemoteEvent::Connected,
            RemoteEvent::Cleared,
            changed("msg", "hi"),
            RemoteEvent::Version(2),
        ]
    );
    assert!(so.is_connected());
    assert_eq!(so.version(), 2);
    assert_eq!(so.get("msg"), Some(&Value::from("hi")));
    assert_eq!(so.values().len(), 1);
}

#[test]
fn clear_drops_stale_keys() {
    let mut so = chat();
    apply(&mut so, CHANGE_MSG_42);
    so.apply(&change_message(4, "stale", 1.0));
    let events = apply(&mut so, USE_ANSWER);
    assert_eq!(so.values().keys().collect::<Vec<_>>(), ["msg"]);
    // The version went from 4 back to 2: a server may restart; we take its word.
    assert_eq!(events.last(), Some(&RemoteEvent::Version(2)));
}

#[test]
fn set_is_golden_c_applied_at_once_and_confirmed_by_success() {
    let mut so = chat();
    let request = so.set_message("msg", Value::Number(42.0));
    assert_eq!(encode(&request), SET_MSG_42);
    assert_eq!(so.get("msg"), Some(&Value::Number(42.0)), "optimistic");
    assert_eq!(so.pending(), 1);
    let events = apply(&mut so, SUCCESS_MSG);
    assert_eq!(events, [accepted("msg"), RemoteEvent::Version(3)]);
    assert_eq!(so.get("msg"), Some(&Value::Number(42.0)));
    assert_eq!(so.pending(), 0);
}

#[test]
fn success_applies_our_value_again_over_an_earlier_change() {
    let mut so = chat();
    so.set_message("msg", Value::Number(42.0));
    // Another client's write reached the server first; ours came after it.
    let events = so.apply(&change_message(3, "msg", "theirs"));
    assert_eq!(events, [changed("msg", "theirs"), RemoteEvent::Version(3)]);
    let mut success = decode(SUCCESS_MSG, Encoding::Amf0);
    success.version = 4;
    let events = so.apply(&success);
    assert_eq!(
        events,
        [
            changed("msg", 42.0),
            accepted("msg"),
            RemoteEvent::Version(4)
        ]
    );
    assert_eq!(so.get("msg"), Some(&Value::Number(42.0)));
}

#[test]
fn success_applies_negative_zero_over_zero_and_back() {
    // Three writes of one key, each confirmed in turn: the mirror ends at
    // the last value, told apart by its sign as a peer sees it.
    let mut so = chat();
    so.set_message("msg", Value::Number(f64::NAN));
    so.set_message("msg", Value::Number(-0.0));
    so.set_message("msg", Value::Number(0.0));
    for version in 3..6 {
        let mut success = decode(SUCCESS_MSG, Encoding::Amf0);
        success.version = version;
        so.apply(&success);
    }
    assert_eq!(so.pending(), 0);
    let value = so.get("msg").expect("msg");
    assert!(value.identical(&Value::Number(0.0)), "{value:?}");
}

#[test]
fn other_clients_change_is_golden_c() {
    let mut so = chat();
    let events = apply(&mut so, CHANGE_MSG_42);
    assert_eq!(events, [changed("msg", 42.0), RemoteEvent::Version(3)]);
    assert_eq!(so.pending(), 0);
}

#[test]
fn null_set_deletes_locally() {
    let mut so = chat();
    let request = so.set_message("msg", Value::Null);
    assert_eq!(
        request.events,
        [SoEvent::RequestChange {
            key: "msg".into(),
            value: Value::Null
        }]
    );
    assert_eq!(so.get("msg"), None);
    assert_eq!(apply(&mut so, SUCCESS_MSG)[0], accepted("msg"));
    assert_eq!(so.get("msg"), None);
}

#[test]
fn refused_write_rolls_back_and_names_the_key() {
    let mut so = chat();
    so.apply(&change_message(2, "locked", "x"));
    so.set_message("locked", Value::from("mine"));
    assert_eq!(so.get("locked"), Some(&Value::from("mine")));
    let events = apply(&mut so, DENIED_LOCKED);
    assert_eq!(
        events,
        [
            status(NO_WRITE_ACCESS),
            changed("locked", "x"),
            RemoteEvent::Rejected {
                key: "locked".into(),
                code: NO_WRITE_ACCESS.into()
            },
            RemoteEvent::Version(3),
        ]
    );
    assert_eq!(so.get("locked"), Some(&Value::from("x")));
    assert_eq!(so.pending(), 0);
}

#[test]
fn refused_write_of_a_new_key_rolls_back_with_remove() {
    let mut so = chat();
    so.set_message("fresh", Value::Bool(true));
    let refusal = SharedObjectMessage {
        name: "chat".into(),
        version: 2,
        persistent: false,
        events: vec![
            SoEvent::Status {
                code: NO_WRITE_ACCESS.into(),
                level: "error".into(),
            },
            SoEvent::Remove {
                key: "fresh".into(),
            },
        ],
    };
    let events = so.apply(&refusal);
    assert_eq!(
        events,
        [
            status(NO_WRITE_ACCESS),
            removed("fresh"),
            RemoteEvent::Rejected {
                key: "fresh".into(),
                code: NO_WRITE_ACCESS.into()
            },
        ]
    );
    assert_eq!(so.get("fresh"), None);
}

#[test]
fn remove_is_golden_f_and_confirmed_by_remove() {
    let mut so = chat();
    apply(&mut so, CHANGE_MSG_42);
    let request = so.remove_message("msg");
    assert_eq!(encode(&request), REMOVE_REQUEST);
    assert_eq!(so.get("msg"), None, "optimistic");
    let events = apply(&mut so, REMOVE_MSG);
    assert_eq!(
        events,
        [removed("msg"), accepted("msg"), RemoteEvent::Version(4)]
    );
    assert_eq!(so.pending(), 0);
}

#[test]
fn removing_an_absent_key_waits_for_nothing() {
    let mut so = chat();
    let request = so.remove_message("nothing");
    assert_eq!(
        request.events,
        [SoEvent::RequestRemove {
            key: "nothing".into()
        }]
    );
    assert_eq!(so.pending(), 0);
}

#[test]
fn a_later_answer_settles_an_unanswered_removal() {
    let mut so = chat();
    // We had `msg`, but the server had already deleted it: no answer comes.
    so.remove_message("msg");
    so.set_message("other", Value::Number(1.0));
    let mut success = decode(SUCCESS_MSG, Encoding::Amf0);
    success.events = vec![SoEvent::Success {
        key: "other".into(),
    }];
    let events = so.apply(&success);
    assert_eq!(
        events,
        [accepted("msg"), accepted("other"), RemoteEvent::Version(3)]
    );
    assert_eq!(so.pending(), 0);
}

#[test]
fn send_is_golden_d_and_its_echo_settles_it() {
    let mut so = chat();
    apply(&mut so, CHANGE_MSG_42);
    let request = so.send_message("newMessage", vec![Value::from("hello")]);
    assert_eq!(encode(&request), SEND_HELLO);
    assert_eq!(so.pending(), 1);
    let events = apply(&mut so, SEND_HELLO);
    assert_eq!(
        events,
        [RemoteEvent::Message {
            method: "newMessage".into(),
            args: vec![Value::from("hello")]
        }]
    );
    assert_eq!(so.pending(), 0);
    assert!(so.values().get("newMessage").is_none(), "no attribute");
}

#[test]
fn refused_send_is_reported_once() {
    let mut so = chat();
    so.send_message("shout", vec![]);
    let events = apply(&mut so, DENIED_SEND);
    assert_eq!(
        events,
        [
            status(NO_WRITE_ACCESS),
            RemoteEvent::SendRejected {
                method: "shout".into(),
                code: NO_WRITE_ACCESS.into()
            },
            RemoteEvent::Version(3),
        ]
    );
    assert_eq!(so.pending(), 0);
}

#[test]
fn red5_silently_dropped_send_is_settled_by_a_later_answer() {
    let mut so = chat();
    so.send_message("shout", vec![]);
    so.set_message("msg", Value::Number(42.0));
    let events = apply(&mut so, SUCCESS_MSG);
    assert_eq!(
        events,
        [
            RemoteEvent::SendRejected {
                method: "shout".into(),
                code: NO_WRITE_ACCESS.into()
            },
            accepted("msg"),
            RemoteEvent::Version(3),
        ]
    );
}

#[test]
fn request_level_refusal_keeps_the_version_and_answers_the_oldest() {
    let mut so = chat();
    so.set_message("msg", Value::Number(1.0));
    let events = apply(&mut so, BAD_PERSISTENCE);
    assert_eq!(
        events,
        [
            status("SharedObject.BadPersistence"),
            RemoteEvent::Rejected {
                key: "msg".into(),
                code: "SharedObject.BadPersistence".into()
            },
        ]
    );
    assert_eq!(so.version(), 2, "version 0 is a refusal, not a version");
}

#[test]
fn use_refusal_leaves_the_so_unconnected() {
    let mut so = RemoteSharedObject::new("chat", true);
    let events = apply(&mut so, BAD_PERSISTENCE);
    assert_eq!(events, [status("SharedObject.BadPersistence")]);
    assert!(!so.is_connected());
    assert_eq!(so.version(), 0);
}

#[test]
fn amf3_messages_apply_the_same() {
    let mut so = chat();
    let events = so.apply(&decode(AMF3_CHANGES, Encoding::Amf3));
    assert_eq!(
        events,
        [
            changed("msg", "hi"),
            changed("n", Value::Integer(42)),
            RemoteEvent::Version(4),
        ]
    );
    assert_eq!(so.get("n"), Some(&Value::Integer(42)));
}

#[test]
fn destroyed_so_is_no_longer_in_use() {
    let mut so = chat();
    let destroyed = SharedObjectMessage {
        name: "chat".into(),
        version: 3,
        persistent: false,
        events: vec![
            SoEvent::Clear,
            SoEvent::Status {
                code: OBJECT_DESTROYED.into(),
                level: "status".into(),
            },
        ],
    };
    let events = so.apply(&destroyed);
    assert_eq!(
        events,
        [
            RemoteEvent::Cleared,
            RemoteEvent::Status {
                code: OBJECT_DESTROYED.into(),
                level: "status".into()
            },
            RemoteEvent::Version(3),
        ]
    );
    assert!(!so.is_connected());
    assert!(so.values().is_empty());
}

#[test]
fn messages_for_another_name_change_nothing() {
    let mut so = chat();
    let mut other = decode(CHANGE_MSG_42, Encoding::Amf0);
    other.name = "other".into();
    assert_eq!(so.apply(&other), []);
    assert_eq!(so.get("msg"), Some(&Value::from("hi")));
    assert_eq!(so.version(), 2);
}

#[test]
fn client_events_from_a_server_are_ignored() {
    let mut so = chat();
    let odd = SharedObjectMessage {
        name: "chat".into(),
        version: 2,
        persistent: false,
        events: vec![
            SoEvent::Use,
            SoEvent::RequestChange {
                key: "msg".into(),
                value: Value::Null,
            },
            SoEvent::Unknown {
                kind: 12,
                payload: bytes::Bytes::from_static(b"x"),
            },
        ],
    };
    assert_eq!(so.apply(&odd), []);
    assert_eq!(so.get("msg"), Some(&Value::from("hi")));
}

#[test]
fn release_forgets_pending_requests_but_keeps_values() {
    let mut so = chat();
    so.set_message("msg", Value::Number(42.0));
    let release = so.release_message();
    assert_eq!(release.events, [SoEvent::Release]);
    assert_eq!(release.version, 2);
    assert!(!so.is_connected());
    assert_eq!(so.pending(), 0);
    assert_eq!(so.get("msg"), Some(&Value::Number(42.0)));
}

#[test]
fn undo_last_restores_what_an_unsent_request_changed() {
    let mut so = chat();
    so.set_message("msg", Value::Number(42.0));
    so.undo_last("msg");
    assert_eq!(so.get("msg"), Some(&Value::from("hi")));
    so.set_message("new", Value::Number(1.0));
    so.undo_last("new");
    assert_eq!(so.get("new"), None);
    so.remove_message("msg");
    so.undo_last("other"); // not the last request: nothing happens
    assert_eq!(so.get("msg"), None);
    so.undo_last("msg");
    assert_eq!(so.get("msg"), Some(&Value::from("hi")));
    so.send_message("m", vec![]);
    so.undo_last("m");
    assert_eq!(so.pending(), 0);
}

#[test]
fn requests_carry_the_current_version_and_persistence() {
    let mut so = RemoteSharedObject::new("scores", true);
    let mut answer = decode(USE_ANSWER, Encoding::Amf0);
    answer.name = "scores".into();
    answer.version = 7;
    so.apply(&answer);
    let request = so.set_message("a", Value::Bool(true));
    assert_eq!(request.version, 7);
    assert!(request.persistent);
    assert_eq!(&*request.name, "scores");
}

/// A removal of a key our own pending write deleted locally is remembered:
/// the server may hold the key and refuse the removal, and that refusal
/// must not settle a later request for the key, nor the requests before
/// that (found by so-engine's engine_ops fuzz target).
#[test]
fn removal_after_our_own_pending_delete_is_remembered() {
    let mut so = chat();
    so.apply(&change_message(2, "locked", "x"));
    let mut events = Vec::new();
    for message in [
        so.set_message("locked", Value::Null),
        so.set_message("a", Value::from(1.0)),
        so.remove_message("locked"),
        so.set_message("a", Value::Null),
        so.set_message("locked", Value::from("z")),
    ] {
        events.extend(message.events);
    }
    assert_eq!(so.pending(), 5);
    let refusal = [
        SoEvent::Status {
            code: NO_WRITE_ACCESS.into(),
            level: "error".into(),
        },
        SoEvent::Change {
            key: "locked".into(),
            value: Value::from("x"),
        },
    ];
    let success = SoEvent::Success { key: "a".into() };
    let mut answer = change_message(3, "locked", "x");
    answer.events = [
        &refusal[..],
        std::slice::from_ref(&success),
        &refusal[..],
        std::slice::from_ref(&success),
        &refusal[..],
    ]
    .concat();
    so.apply(&answer);
    assert_eq!(so.get("a"), None, "the server deleted a");
    assert_eq!(so.get("locked"), Some(&Value::from("x")));
    assert_eq!(so.pending(), 0);
    // Taking back a remembered removal of an absent key restores nothing.
    so.set_message("gone", Value::Null);
    so.remove_message("gone");
    so.undo_last("gone");
    assert_eq!(so.get("gone"), None);
    assert_eq!(so.pending(), 1);
}

/// A refusal rolled back by REMOVE k answers a write of k, never a removal
/// of k (the server does not refuse removing what it lacks): a removal
/// pending before it was answered by nothing, and counts as accepted
/// (found by so-engine's engine_ops fuzz target).
#[test]
fn remove_rollback_answers_a_write_not_a_removal() {
    let mut so = chat();
    let big = Value::from("x".repeat(300));
    for message in [
        so.set_message("a", big.clone()),
        so.remove_message("a"),
        so.set_message("a", big),
        so.set_message("a", Value::Null),
    ] {
        assert_eq!(message.events.len(), 1);
    }
    assert_eq!(so.pending(), 4);
    let refusal = [
        SoEvent::Status {
            code: "SharedObject.LimitExceeded".into(),
            level: "error".into(),
        },
        SoEvent::Remove { key: "a".into() },
    ];
    let mut answer = change_message(2, "a", "unused");
    answer.events = [
        &refusal[..],
        &refusal[..],
        &[SoEvent::Success { key: "a".into() }],
    ]
    .concat();
    let events = so.apply(&answer);
    assert_eq!(so.get("a"), None, "{events:?}");
    assert_eq!(so.pending(), 0);
    let verdicts: Vec<_> = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                RemoteEvent::Accepted { .. } | RemoteEvent::Rejected { .. }
            )
        })
        .collect();
    assert_eq!(verdicts.len(), 4, "one per request: {events:?}");
}

/// A refused send's STATUS followed by the answer to our removal is no
/// rollback: the send is refused, the removal accepted, and the write after
/// it confirmed (found by so-engine's engine_ops fuzz target).
#[test]
fn a_refused_send_before_a_removal_is_no_rollback() {
    let mut so = chat();
    so.send_message("say", vec![Value::from("x".repeat(300))]);
    so.remove_message("msg");
    so.set_message("msg", Value::from(0.0));
    let mut answer = change_message(3, "msg", "unused");
    answer.events = vec![
        SoEvent::Status {
            code: "SharedObject.LimitExceeded".into(),
            level: "error".into(),
        },
        SoEvent::Remove { key: "msg".into() },
        SoEvent::Success { key: "msg".into() },
    ];
    let events = so.apply(&answer);
    assert_eq!(so.get("msg"), Some(&Value::from(0.0)), "{events:?}");
    assert_eq!(so.pending(), 0);
    assert!(events.contains(&RemoteEvent::SendRejected {
        method: "say".into(),
        code: "SharedObject.LimitExceeded".into()
    }));
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, RemoteEvent::Rejected { .. }))
    );
}

/// A send refused after a removal the server had nothing for: the removal
/// got no answer and counts as accepted, the refusal is the send's, and the
/// write after it is confirmed (found by so-engine's engine_ops fuzz target).
#[test]
fn a_send_refusal_skips_unanswered_removals() {
    let mut so = chat();
    so.remove_message("msg");
    so.send_message("say", vec![]);
    so.set_message("a", Value::from(1.0));
    so.set_message("a", Value::Null);
    let mut answer = change_message(3, "a", "unused");
    answer.events = vec![
        SoEvent::Status {
            code: NO_WRITE_ACCESS.into(),
            level: "error".into(),
        },
        SoEvent::Change {
            key: "a".into(),
            value: Value::from(1.0),
        },
        SoEvent::Success { key: "a".into() },
        SoEvent::Success { key: "a".into() },
    ];
    let events = so.apply(&answer);
    assert_eq!(so.get("a"), None, "{events:?}");
    assert_eq!(so.get("msg"), None);
    assert_eq!(so.pending(), 0);
    assert_eq!(
        events[..3],
        [
            status(NO_WRITE_ACCESS),
            accepted("msg"),
            RemoteEvent::SendRejected {
                method: "say".into(),
                code: NO_WRITE_ACCESS.into()
            },
        ]
    );
}

/// A server asks its security check about a removal of a key it lacks and
/// answers a denial with NoWriteAccess then REMOVE k. That answers our quiet
/// removal, not the write of k after it, whose SUCCESS then still applies
/// our value (the pairing an earlier mirror got wrong).
#[test]
fn a_denied_removal_of_an_absent_key_answers_that_removal() {
    let mut so = chat();
    so.remove_message("absent");
    assert_eq!(so.pending(), 0, "nobody waits for a quiet removal");
    so.set_message("absent", Value::from(1.0));
    assert_eq!(so.pending(), 1);
    let mut answer = change_message(3, "absent", "unused");
    answer.events = vec![
        SoEvent::Status {
            code: NO_WRITE_ACCESS.into(),
            level: "error".into(),
        },
        SoEvent::Remove {
            key: "absent".into(),
        },
        SoEvent::Success {
            key: "absent".into(),
        },
    ];
    let events = so.apply(&answer);
    assert_eq!(
        events,
        [
            status(NO_WRITE_ACCESS),
            removed("absent"),
            changed("absent", 1.0),
            accepted("absent"),
            RemoteEvent::Version(3),
        ]
    );
    assert_eq!(so.get("absent"), Some(&Value::from(1.0)));
    assert_eq!(so.pending(), 0);
}

/// An allowed quiet removal gets no answer; the next answer settles it
/// without a verdict of its own.
#[test]
fn an_allowed_quiet_removal_is_settled_silently() {
    let mut so = chat();
    so.remove_message("absent");
    so.set_message("msg", Value::from(2.0));
    let mut answer = change_message(3, "msg", "unused");
    answer.events = vec![SoEvent::Success { key: "msg".into() }];
    let events = so.apply(&answer);
    assert_eq!(events, [accepted("msg"), RemoteEvent::Version(3)]);
}

#[test]
fn quiet_removals_are_bounded() {
    let mut so = chat();
    for i in 0..MAX_QUIET_REMOVALS + 10 {
        so.remove_message(format!("k{i}"));
    }
    assert_eq!(so.pending.len(), MAX_QUIET_REMOVALS);
    assert_eq!(so.pending(), 0);
}
