import assert from "node:assert/strict";
import { test } from "node:test";

import { AmfInt, AmfTagged, classNameOf, fromJson, type Json, toJson, typed } from "../src/index.js";

test("JavaScript values take their documented JSON forms", () => {
  const cases: [unknown, Json][] = [
    [null, null],
    [undefined, { $type: "undefined" }],
    [3, 3],
    [NaN, { $type: "number", value: "NaN" }],
    [-Infinity, { $type: "number", value: "-Infinity" }],
    ["s", "s"],
    [new Date(1700000000000), { $type: "date", value: 1700000000000 }],
    [new Uint8Array([0, 1, 2, 255]), { $type: "bytes", base64: "AAEC/w==" }],
    [new AmfInt(5), { $type: "int", value: 5 }],
    [[1, { a: true }], [1, { a: true }]],
    [typed("com.example.Point", { x: 1, y: 2 }), { $class: "com.example.Point", x: 1, y: 2 }],
    [{ $type: "mine" }, { $type: "object", value: { $type: "mine" } }],
  ];
  for (const [value, json] of cases) {
    assert.deepEqual(toJson(value), json);
    const back = fromJson(json);
    if (typeof value === "number" && Number.isNaN(value)) assert.ok(Number.isNaN(back));
    else if (value instanceof AmfInt) assert.equal(back, 5);
    else assert.deepEqual(back, value);
  }
});

test("typed objects keep their class name both ways", () => {
  const point = fromJson({ $class: "com.example.Point", $sealed: 1, x: 1, y: 2 }) as { x: number };
  assert.equal(point.x, 1);
  assert.equal(classNameOf(point), "com.example.Point");
  assert.deepEqual(toJson(point), { $class: "com.example.Point", $sealed: 1, x: 1, y: 2 });
});

test("AMF types without a JavaScript twin go back unchanged", () => {
  const vector = { $type: "vector", of: "int", fixed: false, items: [1, 2] };
  const value = fromJson(vector);
  assert.ok(value instanceof AmfTagged);
  assert.equal(value.type, "vector");
  assert.deepEqual(toJson(value), vector);
});

test("a value that contains itself is refused", () => {
  const a: { self?: unknown } = {};
  a.self = a;
  assert.throws(() => toJson(a), /contains itself/);
  const shared = { k: 1 };
  assert.deepEqual(toJson([shared, shared]), [{ k: 1 }, { k: 1 }], "shared is fine");
});
