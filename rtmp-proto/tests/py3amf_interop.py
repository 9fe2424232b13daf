"""The py3amf side of rtmp-proto's interop test (tests/interop_py3amf.rs).

py3amf (imported as `pyamf`) is an AMF codec we did not write.

    python py3amf_interop.py encode
        prints one line per case, `name<TAB>encoding<TAB>hex`: py3amf's
        encoding (amf0 or amf3) of a body of values. The Rust test decodes
        each and compares it with the values it expects for that name.

    python py3amf_interop.py decode
        reads lines `name<TAB>encoding<TAB>hex` (bodies our encoders wrote)
        from stdin, decodes each with py3amf and prints `ok<TAB>name<TAB>encoding`
        or `FAIL<TAB>name<TAB>encoding<TAB>why`, then `done<TAB>count`.

Exits non-zero only if py3amf cannot be used at all; a wrong value is a
FAIL line, for the Rust test to report.
"""

import datetime
import sys
import xml.etree.ElementTree as ET

import pyamf
import pyamf.flex as flex
from pyamf import amf3


class Point(object):
    """A class registered under an alias, so py3amf writes typed objects."""

    def __init__(self, x=None, y=None):
        self.x = x
        self.y = y


pyamf.register_class(Point, "com.example.Point")

AMF0 = "amf0"
AMF3 = "amf3"
CODES = {AMF0: pyamf.AMF0, AMF3: pyamf.AMF3}

DATE = datetime.datetime(2023, 11, 14, 22, 13, 20, 123000)
LONG = "x" * 70000
UNICODE = "\u00fcn\u00efc\u00f8d\u00e9 \u2713 \U0001F600"


def mixed(pairs):
    array = pyamf.MixedArray()
    for key, value in pairs:
        array[key] = value
    return array


def encode_corpus():
    """Bodies (lists of values) py3amf encodes, by case name; the Rust test
    holds the values it must decode them to."""
    shared = pyamf.ASObject(a=1)
    return {
        "number": [1.5],
        "big_number": [1e300],
        "int": [42],
        "negative_int": [-5],
        "int_past_29_bits": [2 ** 40],
        "true": [True],
        "false": [False],
        "null": [None],
        "undefined": [pyamf.Undefined],
        "empty_string": [""],
        "string": ["hello"],
        "unicode": [UNICODE],
        "long_string": [LONG],
        "date": [DATE],
        "object": [pyamf.ASObject(a=1, b="x")],
        "empty_object": [pyamf.ASObject()],
        "nested": [
            pyamf.ASObject(
                list=[1, pyamf.ASObject(k=None)],
                map=mixed([("k", "v")]),
            )
        ],
        "typed_object": [Point(1, 2)],
        "array": [[1, "a", None]],
        "empty_array": [[]],
        "mixed_array": [mixed([(0, "x"), ("k", 2)])],
        "ecma_array": [mixed([("a", 1)])],
        "byte_array": [amf3.ByteArray(b"\x01\x02\xff")],
        "xml": [ET.fromstring('<a b="1"><c/></a>')],
        "array_collection": [flex.ArrayCollection([1, "two"])],
        "object_proxy": [flex.ObjectProxy(pyamf.ASObject(a=1))],
        "reference": [[shared, shared]],
        "repeated_strings": [["hi", "hi"]],
        "many_values": ["one", 2, [3]],
    }


def expected_decodes():
    """What py3amf must decode our encodings to, by case name, or by
    (name, encoding) where the encodings differ."""
    point = Point(1, 2)
    return {
        "number": [1.5],
        "integer": [7],
        "big_number": [1e300],
        "true": [True],
        "false": [False],
        "null": [None],
        "undefined": [pyamf.Undefined],
        "empty_string": [""],
        "unicode": [UNICODE],
        "long_string": [LONG],
        "date": [DATE],
        "object": [{"a": 1, "b": "x", "nested": {"c": [1, 2]}}],
        "typed_object": [point],
        ("ecma_array", AMF0): [mixed([("k", "v"), (0, 1)])],
        ("ecma_array", AMF3): [mixed([("k", "v"), ("0", 1)])],
        "strict_array": [[1, "a", None]],
        "mixed_array": [mixed([("k", 2), (0, "x")])],
        "xml_document": [ET.fromstring("<a><b /></a>")],
        "xml": [ET.fromstring("<a><b /></a>")],
        "byte_array": [amf3.ByteArray(b"\x01\x02\x03\xff")],
        "dictionary": [({1: "one", "two": 2}, False)],
        "array_collection": [flex.ArrayCollection([1, "a"])],
        "object_proxy": [flex.ObjectProxy(pyamf.ASObject(a=1))],
        ("unsupported", AMF0): [None],
        ("unsupported", AMF3): [pyamf.Undefined],
        "long_key": [{"k" * 70000: 1}],
        "shared_amf3_strings": ["hi", "hi"],
        "many_values": ["one", 2, [3]],
    }


def same(a, b):
    """Deep equality that tells bools from numbers and compares the
    py3amf wrapper types by content; returns None or a reason."""
    if isinstance(a, bool) or isinstance(b, bool):
        return None if type(a) is type(b) and a == b else "%r != %r" % (a, b)
    if a is pyamf.Undefined or b is pyamf.Undefined:
        return None if a is b else "%r != %r" % (a, b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return None if a == b else "%r != %r" % (a, b)
    if ET.iselement(a) or ET.iselement(b):
        if not (ET.iselement(a) and ET.iselement(b)):
            return "%r != %r" % (a, b)
        x, y = ET.tostring(a), ET.tostring(b)
        return None if x == y else "%r != %r" % (x, y)
    if isinstance(a, flex.ObjectProxy) or isinstance(b, flex.ObjectProxy):
        if type(a) is not type(b):
            return "%r != %r" % (a, b)
        return same(dict(a._amf_object), dict(b._amf_object))
    if isinstance(a, amf3.ByteArray) or isinstance(b, amf3.ByteArray):
        if type(a) is not type(b):
            return "%r != %r" % (a, b)
        return None if bytes(a) == bytes(b) else "%r != %r" % (bytes(a), bytes(b))
    if isinstance(a, Point) or isinstance(b, Point):
        if type(a) is not type(b):
            return "%r != %r" % (a, b)
        return same(vars(a), vars(b))
    if isinstance(a, dict) and isinstance(b, dict):
        if isinstance(a, pyamf.MixedArray) != isinstance(b, pyamf.MixedArray):
            return "%s != %s" % (type(a).__name__, type(b).__name__)
        if set(a) != set(b):
            return "keys %r != %r" % (sorted(map(repr, a)), sorted(map(repr, b)))
        for key in a:
            why = same(a[key], b[key])
            if why:
                return "[%r]: %s" % (key, why)
        return None
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if isinstance(a, flex.ArrayCollection) != isinstance(b, flex.ArrayCollection):
            return "%s != %s" % (type(a).__name__, type(b).__name__)
        if len(a) != len(b):
            return "length %d != %d" % (len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)):
            why = same(x, y)
            if why:
                return "[%d]: %s" % (i, why)
        return None
    if type(a) is not type(b):
        return "%s %r != %s %r" % (type(a).__name__, a, type(b).__name__, b)
    return None if a == b else "%r != %r" % (a, b)


def encode():
    for name, values in encode_corpus().items():
        for encoding, code in CODES.items():
            encoder = pyamf.get_encoder(code)
            for value in values:
                encoder.writeElement(value)
            body = encoder.stream.getvalue()
            print("%s\t%s\t%s" % (name, encoding, body.hex()))


def decode():
    expected = expected_decodes()
    count = 0
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        name, encoding, body = line.split("\t")
        count += 1
        want = expected.get((name, encoding), expected.get(name))
        if want is None:
            print("FAIL\t%s\t%s\tno expected value" % (name, encoding))
            continue
        try:
            got = list(pyamf.decode(bytes.fromhex(body), encoding=CODES[encoding]))
        except Exception as e:  # py3amf's errors are not one hierarchy
            print("FAIL\t%s\t%s\tpy3amf: %r" % (name, encoding, e))
            continue
        why = same(got, want)
        if why:
            print("FAIL\t%s\t%s\t%s" % (name, encoding, why[:500]))
        else:
            print("ok\t%s\t%s" % (name, encoding))
    print("done\t%d" % count)


if __name__ == "__main__":
    {"encode": encode, "decode": decode}[sys.argv[1]]()
