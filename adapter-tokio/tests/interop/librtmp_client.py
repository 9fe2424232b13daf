"""The librtmp side of adapter-tokio's interop test (tests/interop/librtmp.rs).

librtmp is rtmpdump's RTMP client library, in C; python-librtmp (imported as
`librtmp`) binds it with cffi. librtmp does the TCP connection, the
handshake (the Flash Player 9 digest handshake in Debian's build, which
links a crypto library), the chunk stream both ways, the `connect` command,
calls, and AMF0 encoding and decoding (`librtmp.amf` wraps librtmp's C
`AMF_Encode*` / `AMF_Decode`). librtmp knows nothing of SharedObjects (its
`RTMP_ClientPacket` ignores types 0x10 and 0x13), so this script builds SO
message bodies by hand from the byte layout in docs/PROTOCOL.md §5
and decodes the server's with its own small decoder; the values inside
them go through librtmp's AMF0 codec.

Protocol, one JSON object per line both ways: the test writes a command on
stdin, the script answers on stdout. The first line out is
`{"ready": true, "librtmp_version": "0x..."}`. Commands (`id` names a
librtmp session):

    {"op": "connect", "id": ID, "url": URL, "digest": B}
        RTMP_Connect (TCP, handshake, `connect`), then reads up to the answer
        to transaction 1: `{"answer": [name, txid, object, info...],
        "connected": bool, "handshake": "digest" | "plain"}`. A `_result`
        is then handed to librtmp, which answers it as rtmpdump does (Window
        Ack Size, SetBufferLength, createStream). With `digest`, librtmp
        does the Flash Player 9 handshake and checks the server's S1 digest
        and S2 signature (it does so only when it has a SWF hash to verify,
        so the script gives it a dummy one); "handshake" says whether it
        did, from librtmp's own log.
    {"op": "closed", "id": ID}
        reads until librtmp reports the connection gone: `{"closed": true}`
        (or `{"error": ...}` if it timed out instead).
    {"op": "send_so", "id": ID, "name": NAME, "version": N, "persistent": B,
     "events": [EVENT...]}
        sends one type-0x13 message; EVENT is `["use"]`, `["release"]`,
        `["request_change", key, value]`, `["request_remove", key]` or
        `["send", method, arg...]`. Answers `{"sent": body_length}`.
    {"op": "read_so", "id": ID}
        the next SO message the server sent, decoded: `{"so": {"type": 19,
        "name", "version", "flags", "reserved", "events": [...]}}`, events
        as `["use_success"]`, `["clear"]`, `["change", key, value]`,
        `["success", key]`, `["remove", key]`, `["status", code, level]`,
        `["message", method, arg...]`.
    {"op": "pending_so", "id": ID}
        calls `echo` and reads up to its answer, so that whatever the server
        sent before has arrived: `{"pending": number of SO messages read and
        not yet taken with read_so}`.
    {"op": "call", "id": ID, "method": M, "args": [...]}
        python-librtmp's own call path (`RTMP.call` + `RTMPCall.result`):
        `{"result": first value of the _result}`.
    {"op": "call_raw", "id": ID, "method": M, "args": [...]}
        `RTMP.call`, then reads up to the answer to that transaction:
        `{"answer": [name, txid, object, info...]}` (for `_error`s, which
        `RTMPCall.result` would wait on forever).
    {"op": "close", "id": ID}
        RTMP_Close: `{"closed": true}`.

Any failure answers `{"error": "..."}`; the script carries on with the next
command and ends at the end of its input.
"""

import collections
import json
import struct
import sys

import librtmp
from librtmp import (
    PACKET_SIZE_LARGE,
    PACKET_TYPE_FLEX_SHARED_OBJECT,
    PACKET_TYPE_INVOKE,
    PACKET_TYPE_SHARED_OBJECT,
    RTMP,
    RTMPError,
    RTMPPacket,
)
from librtmp.amf import AMFObject, decode_amf, encode_amf

# Seconds librtmp waits for bytes before a read fails (its `timeout` option).
TIMEOUT = 5
# The chunk stream our SO messages go out on: 3, the one librtmp sends its
# commands on and the one Red5 sends SO messages on.
SO_CHANNEL = 3

# What librtmp logs once the server's S2 signature checked out (handshake.h).
GENUINE_SERVER = "Genuine Adobe Flash Media Server"
# librtmp's log lines while a connect runs.
LOG = []

# SO event types (docs/PROTOCOL.md §5.2).
USE = 1
RELEASE = 2
REQUEST_CHANGE = 3
CHANGE = 4
SUCCESS = 5
SEND_MESSAGE = 6
STATUS = 7
CLEAR = 8
REMOVE = 9
REQUEST_REMOVE = 10
USE_SUCCESS = 11
# Flags word: Red5 and crtmpserver write 2 for persistent, 0 for transient.
PERSISTENT_FLAG = 2


class Session:
    """One librtmp connection, with the messages read ahead of their turn."""

    def __init__(self, url, digest):
        # librtmp does the digest handshake only to verify a SWF: any hash
        # and size will do, the server never asks for the verification.
        swf = {"swfhash": "00" * 32, "swfsize": 1} if digest else {}
        self.rtmp = RTMP(url, timeout=TIMEOUT, **swf)
        self.so_messages = collections.deque()
        self.invokes = collections.deque()

    def pump(self):
        """Reads one whole message. Protocol control messages go to librtmp
        (it applies Set Chunk Size and Window Ack Size and answers pings);
        SO messages and commands are queued for the test."""
        packet = self.rtmp.read_packet()
        if packet.type in (PACKET_TYPE_SHARED_OBJECT, PACKET_TYPE_FLEX_SHARED_OBJECT):
            self.so_messages.append(decode_so(packet.type, packet.body))
        elif packet.type == PACKET_TYPE_INVOKE:
            self.invokes.append(packet)
        else:
            self.rtmp.handle_packet(packet)

    def answer_to(self, txid):
        """The command answering transaction `txid`, and its packet."""
        while True:
            for packet in self.invokes:
                values = decode_amf(packet.body)
                if len(values) >= 2 and values[1] == txid:
                    self.invokes.remove(packet)
                    return values, packet
            self.pump()

    def next_so(self):
        while not self.so_messages:
            self.pump()
        return self.so_messages.popleft()


def connect(sessions, command):
    digest = command.get("digest", False)
    session = Session(command["url"], digest)
    sessions[command["id"]] = session
    # RTMP_Connect: TCP, handshake, then the `connect` command (txid 1).
    # librtmp logs the outcome of its S2 check at debug level only.
    LOG.clear()
    librtmp.librtmp.RTMP_LogSetLevel(librtmp.LOG_DEBUG)
    try:
        session.rtmp.connect()
    finally:
        librtmp.librtmp.RTMP_LogSetLevel(librtmp.LOG_WARNING)
    verified = any(GENUINE_SERVER in line for line in LOG)
    answer, packet = session.answer_to(1.0)
    if answer[0] == "_result":
        # What rtmpdump does with it: librtmp sends Window Ack Size,
        # SetBufferLength and createStream; the server must cope.
        session.rtmp.handle_packet(packet)
    return {
        "answer": answer,
        "connected": session.rtmp.connected,
        "handshake": "digest" if verified else "plain",
    }


def closed(sessions, command):
    session = sessions[command["id"]]
    try:
        while True:
            session.pump()
    except librtmp.RTMPTimeoutError:
        raise
    except RTMPError:
        return {"closed": not session.rtmp.connected}


def send_so(sessions, command):
    session = sessions[command["id"]]
    body = encode_so(
        command["name"], command["version"], command["persistent"], command["events"]
    )
    packet = RTMPPacket(
        type=PACKET_TYPE_SHARED_OBJECT,
        format=PACKET_SIZE_LARGE,
        channel=SO_CHANNEL,
        body=body,
    )
    if not session.rtmp.send_packet(packet, queue=False):
        raise RTMPError("RTMP_SendPacket failed")
    return {"sent": len(body)}


def read_so(sessions, command):
    return {"so": sessions[command["id"]].next_so()}


def pending_so(sessions, command):
    session = sessions[command["id"]]
    # The server answers a connection's requests in order: everything it
    # sent this session before the answer is read by then.
    pending = session.rtmp.call("echo", "barrier")
    session.answer_to(float(pending.transaction_id))
    return {"pending": len(session.so_messages)}


def call(sessions, command):
    session = sessions[command["id"]]
    pending = session.rtmp.call(command["method"], *amf_values(command["args"]))
    return {"result": pending.result(timeout=TIMEOUT)}


def call_raw(sessions, command):
    session = sessions[command["id"]]
    pending = session.rtmp.call(command["method"], *amf_values(command["args"]))
    answer, _ = session.answer_to(float(pending.transaction_id))
    return {"answer": answer}


def close(sessions, command):
    session = sessions.pop(command["id"])
    session.rtmp.close()
    return {"closed": not session.rtmp.connected}


OPS = {
    "connect": connect,
    "closed": closed,
    "send_so": send_so,
    "read_so": read_so,
    "pending_so": pending_so,
    "call": call,
    "call_raw": call_raw,
    "close": close,
}


def encode_so(name, version, persistent, events):
    """An SO message body (docs/PROTOCOL.md §5.1): name, version, flags,
    reserved word, then each event as type, u32 length, payload."""
    body = utf(name) + struct.pack(
        ">III", version, PERSISTENT_FLAG if persistent else 0, 0
    )
    for event in events:
        kind, payload = encode_event(event)
        body += struct.pack(">BI", kind, len(payload)) + payload
    return body


def encode_event(event):
    name, args = event[0], event[1:]
    if name == "use":
        return USE, b""
    if name == "release":
        return RELEASE, b""
    if name == "request_change":
        key, value = args
        return REQUEST_CHANGE, utf(key) + encode_amf(amf_value(value))
    if name == "request_remove":
        (key,) = args
        return REQUEST_REMOVE, utf(key)
    if name == "send":
        # The handler name is a full AMF0 string, marker included (§5.2).
        method, values = args[0], args[1:]
        return SEND_MESSAGE, b"".join(encode_amf(v) for v in [method, *amf_values(values)])
    raise ValueError("unknown event {!r}".format(event))


def decode_so(message_type, body):
    """Decodes an SO message body; raises on any byte out of place."""
    pos = 0
    if message_type == PACKET_TYPE_FLEX_SHARED_OBJECT:
        if body[:1] != b"\x00":
            raise ValueError("type 16 body does not start with 0x00")
        pos = 1
    name, pos = read_utf(body, pos)
    version, flags, reserved = unpack(">III", body, pos)
    pos += 12
    events = []
    while pos < len(body):
        kind, length = unpack(">BI", body, pos)
        pos += 5
        payload = body[pos : pos + length]
        if len(payload) != length:
            raise ValueError(
                "event {} says {} bytes, {} left".format(kind, length, len(payload))
            )
        pos += length
        events.append(decode_event(kind, payload))
    return {
        "type": message_type,
        "name": name,
        "version": version,
        "flags": flags,
        "reserved": reserved,
        "events": events,
    }


def decode_event(kind, payload):
    if kind in (USE_SUCCESS, CLEAR):
        if payload:
            raise ValueError("event {} carries {} bytes".format(kind, len(payload)))
        return ["use_success" if kind == USE_SUCCESS else "clear"]
    if kind in (SUCCESS, REMOVE):
        key, pos = read_utf(payload, 0)
        expect_end(payload, pos, kind)
        return ["success" if kind == SUCCESS else "remove", key]
    if kind == CHANGE:
        key, pos = read_utf(payload, 0)
        values = decode_amf(payload[pos:])
        if len(values) != 1:
            raise ValueError("CHANGE {!r} holds {} values".format(key, len(values)))
        return ["change", key, values[0]]
    if kind == STATUS:
        code, pos = read_utf(payload, 0)
        level, pos = read_utf(payload, pos)
        expect_end(payload, pos, kind)
        return ["status", code, level]
    if kind == SEND_MESSAGE:
        values = decode_amf(payload)
        if not values or not isinstance(values[0], str):
            raise ValueError("SEND_MESSAGE without a handler name")
        return ["message", *values]
    return ["unknown", kind, payload.hex()]


def utf(text):
    """A u16-length UTF-8 string without a type marker (names, keys)."""
    data = text.encode("utf8")
    return struct.pack(">H", len(data)) + data


def read_utf(data, pos):
    (length,) = unpack(">H", data, pos)
    text = data[pos + 2 : pos + 2 + length]
    if len(text) != length:
        raise ValueError("string of {} bytes cut short".format(length))
    return text.decode("utf8"), pos + 2 + length


def unpack(layout, data, pos):
    if len(data) < pos + struct.calcsize(layout):
        raise ValueError("{} bytes cut short at {}".format(len(data), pos))
    return struct.unpack_from(layout, data, pos)


def expect_end(payload, pos, kind):
    if pos != len(payload):
        raise ValueError("event {}: {} bytes left over".format(kind, len(payload) - pos))


def amf_value(value):
    """JSON objects become AMF0 objects (librtmp would write a dict as an
    ECMA array)."""
    if isinstance(value, dict):
        obj = AMFObject()
        for key, item in value.items():
            obj[key] = amf_value(item)
        return obj
    if isinstance(value, list):
        return [amf_value(item) for item in value]
    return value


def amf_values(values):
    return [amf_value(value) for value in values]


def main():
    # librtmp's own warnings and errors, for the test's failure output.
    librtmp.set_log_output(sys.stderr)
    librtmp.set_log_level(librtmp.LOG_WARNING)
    librtmp.add_log_callback(lambda level, line: LOG.append(line))
    sessions = {}
    reply({"ready": True, "librtmp_version": hex(librtmp.librtmp_version)})
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            command = json.loads(line)
            answer = OPS[command["op"]](sessions, command)
        except Exception as e:  # reported to the test, which fails with it
            answer = {"error": "{}: {}".format(type(e).__name__, e)}
        reply(answer)


def reply(answer):
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
