"""Drives our server with librtmp (the C library, through python-librtmp).

Usage: librtmp_interop.py rtmp://host:port/app SO_NAME

librtmp does the handshake and `connect`; this script then, with packets it
builds itself (librtmp has no SharedObject API):
  1. sends USE for SO_NAME (type 0x13, AMF0) and prints the answer's events;
  2. sends REQUEST_CHANGE from_librtmp = "hello from C" and prints the answer;
  3. waits for the CHANGE another client makes (key `from_rust`), prints it;
  4. calls `echo("ping", 7)` and prints the result.
Each printed line is `tag<TAB>json`, for the Rust test to compare.
"""

import json
import struct
import sys

import librtmp
from librtmp.amf import decode_amf, encode_amf

SHARED_OBJECT = 0x13
EVENT_NAMES = {
    1: "use", 2: "release", 3: "request_change", 4: "change", 5: "success",
    6: "send_message", 7: "status", 8: "clear", 9: "remove",
    10: "request_remove", 11: "use_success",
}


def so_body(name, events):
    body = struct.pack(">H", len(name)) + name.encode()
    body += struct.pack(">III", 0, 0, 0)
    for kind, payload in events:
        body += struct.pack(">BI", kind, len(payload)) + payload
    return body


def short_string(text):
    data = text.encode()
    return struct.pack(">H", len(data)) + data


def parse_so(body):
    (name_len,) = struct.unpack_from(">H", body, 0)
    name = body[2:2 + name_len].decode()
    at = 2 + name_len
    version, _flags, _reserved = struct.unpack_from(">III", body, at)
    at += 12
    events = []
    while at < len(body):
        kind, length = struct.unpack_from(">BI", body, at)
        payload = body[at + 5:at + 5 + length]
        at += 5 + length
        event = [EVENT_NAMES.get(kind, kind)]
        if kind in (4, 5, 9):
            (key_len,) = struct.unpack_from(">H", payload, 0)
            event.append(payload[2:2 + key_len].decode())
            if kind == 4:
                event.extend(decode_amf(payload[2 + key_len:]))
        elif kind == 7:
            (code_len,) = struct.unpack_from(">H", payload, 0)
            event.append(payload[2:2 + code_len].decode())
        events.append(event)
    return name, version, events


def send_so(conn, name, events):
    packet = librtmp.RTMPPacket(type=SHARED_OBJECT, format=librtmp.PACKET_SIZE_LARGE,
                                channel=0x03, body=so_body(name, events))
    conn.send_packet(packet, queue=False)


def next_so(conn):
    while True:
        packet = conn.read_packet()
        if packet.type == SHARED_OBJECT:
            return parse_so(packet.body)
        conn.handle_packet(packet)


def say(tag, value):
    print(tag + "\t" + json.dumps(value), flush=True)


def main():
    url, so = sys.argv[1], sys.argv[2]
    conn = librtmp.RTMP(url, live=True, timeout=10)
    conn.connect()
    say("connected", conn.connected)

    send_so(conn, so, [(1, b"")])
    say("use", next_so(conn))

    value = encode_amf("hello from C")
    send_so(conn, so, [(3, short_string("from_librtmp") + value)])
    say("write", next_so(conn))
    print("ready", flush=True)

    say("change", next_so(conn))

    call = conn.call("echo", "ping", 7)
    say("echo", call.result(timeout=10))


if __name__ == "__main__":
    main()
