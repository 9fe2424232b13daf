//! The body of the `ws_message` fuzz target in `fuzz/`, kept here so that
//! its seed corpus and every crash found also run as ordinary tests.

use std::time::Instant;

use crate::{ClientMessage, Config, Limits, ServerMessage, Session};

/// Any text is a client message or a clear error, never a panic; a decoded
/// message encodes to JSON that decodes to the same message; a session fed
/// the text after its connect stays consistent.
pub fn ws_message(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let limits = Limits {
        max_message_bytes: 64 << 10,
        ..Limits::default()
    };
    if let Ok(message) = ClientMessage::decode(text, &limits) {
        let again = message.to_json().to_string();
        let back = ClientMessage::decode(&again, &Limits::default());
        // NaN never equals itself: compare the JSON.
        assert_eq!(
            back.map(|m| m.to_json().to_string()).as_deref(),
            Ok(again.as_str()),
            "{text}"
        );
    }
    let _ = ServerMessage::decode(text, &limits);
    let now = Instant::now();
    let mut session = Session::new(Config::default(), now);
    session.handle_text(now, r#"{"type":"connect","app":"a"}"#);
    let _ = session.poll_event();
    session
        .accept(now)
        .expect("a session that sent connect can be accepted");
    session.handle_text(now, text);
    while session.poll_event().is_some() {}
    while session.poll_frame().is_some() {}
    assert!(
        !session.is_closed(),
        "a text frame never closes the session"
    );
}
