// AMF values as JavaScript values, and their JSON form on the wire
// (docs/WEBSOCKET.md, "Values: AMF and JSON").
//
// JavaScript's own types map directly: null, booleans, numbers, strings,
// arrays, plain objects. `undefined`, Date, Uint8Array (ByteArray) and
// non-finite numbers get tagged forms and come back as themselves. A typed
// AMF object is a plain object with its class name under CLASS_NAME, so
// `so.data.point.x` reads as usual. Every other AMF type (Vector,
// Dictionary, XML, ...) arrives as an AmfTagged holding its JSON form, and
// goes back unchanged.

/** The property (a symbol) holding a typed object's AMF class name. */
export const CLASS_NAME: unique symbol = Symbol.for("rtmp-so.className");
/** The property (a symbol) holding how many of a typed object's members are sealed. */
export const SEALED_COUNT: unique symbol = Symbol.for("rtmp-so.sealedCount");

/** A JSON value as it travels. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** An AMF value this client keeps in its wire form (Vector, Dictionary, XML, ...). */
export class AmfTagged {
  /** @param json the tagged JSON object, with its `$type` */
  constructor(readonly json: { [key: string]: Json }) {}
  /** The AMF type (`"vector"`, `"dictionary"`, ...). */
  get type(): string {
    return String(this.json.$type);
  }
}

/** An AMF3 int (JavaScript numbers go as AMF Numbers). */
export class AmfInt {
  /** @param value a 32-bit signed integer */
  constructor(readonly value: number) {}
}

/** A typed object: `props` with AMF class name `className` (as registerClassAlias names it). */
export function typed<T extends object>(className: string, props: T): T {
  Object.defineProperty(props, CLASS_NAME, { value: className, enumerable: false });
  return props;
}

/** The AMF class name of a typed object, if it has one. */
export function classNameOf(value: unknown): string | undefined {
  if (typeof value === "object" && value !== null) {
    const name = (value as { [CLASS_NAME]?: unknown })[CLASS_NAME];
    if (typeof name === "string") return name;
  }
  return undefined;
}

const RESERVED = ["$type", "$class", "$sealed"];

/** The JSON form of a value, for the wire. */
export function toJson(value: unknown, seen: Set<object> = new Set()): Json {
  if (value === undefined) return { $type: "undefined" };
  if (value === null || typeof value === "boolean" || typeof value === "string") return value;
  if (typeof value === "number") {
    if (Number.isFinite(value)) return value;
    return { $type: "number", value: Number.isNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity" };
  }
  if (typeof value === "bigint") return Number(value);
  if (typeof value !== "object") {
    throw new TypeError(`a ${typeof value} has no AMF form`);
  }
  if (value instanceof Date) return { $type: "date", value: value.getTime() };
  if (value instanceof AmfInt) return { $type: "int", value: value.value };
  if (value instanceof AmfTagged) return value.json;
  if (value instanceof Uint8Array) return { $type: "bytes", base64: toBase64(value) };
  if (value instanceof ArrayBuffer) return { $type: "bytes", base64: toBase64(new Uint8Array(value)) };
  if (seen.has(value)) throw new TypeError("a value that contains itself has no AMF form over JSON");
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((item) => toJson(item, seen));
    const out: { [key: string]: Json } = {};
    const entries = Object.entries(value);
    const className = classNameOf(value);
    const clash = entries.some(([key]) => RESERVED.includes(key));
    if (clash) {
      const inner: { [key: string]: Json } = {};
      for (const [k, v] of entries) inner[k] = toJson(v, seen);
      const tagged: { [key: string]: Json } = { $type: "object", value: inner };
      if (className !== undefined) tagged.class = className;
      return tagged;
    }
    if (className !== undefined) {
      out.$class = className;
      const sealed = (value as { [SEALED_COUNT]?: unknown })[SEALED_COUNT];
      if (typeof sealed === "number") out.$sealed = sealed;
    }
    for (const [k, v] of entries) out[k] = toJson(v, seen);
    return out;
  } finally {
    seen.delete(value);
  }
}

/** The value a JSON form means. */
export function fromJson(json: Json): unknown {
  if (json === null || typeof json !== "object") return json;
  if (Array.isArray(json)) return json.map(fromJson);
  const tag = json.$type;
  if (typeof tag === "string") {
    switch (tag) {
      case "undefined":
        return undefined;
      case "number":
        return json.value === "NaN" ? NaN : json.value === "Infinity" ? Infinity : json.value === "-Infinity" ? -Infinity : Number(json.value);
      case "int":
        return Number(json.value);
      case "date":
        return new Date(Number(json.value));
      case "bytes":
        return fromBase64(String(json.base64));
      case "object": {
        const inner = json.value;
        const props: { [key: string]: unknown } = {};
        if (inner !== null && typeof inner === "object" && !Array.isArray(inner)) {
          for (const [k, v] of Object.entries(inner)) props[k] = fromJson(v);
        }
        return typeof json.class === "string" ? typed(json.class, props) : props;
      }
      default:
        return new AmfTagged(json);
    }
  }
  const props: { [key: string]: unknown } = {};
  for (const [k, v] of Object.entries(json)) {
    if (k === "$class" || k === "$sealed") continue;
    props[k] = fromJson(v);
  }
  if (typeof json.$class === "string") {
    typed(json.$class, props);
    if (typeof json.$sealed === "number") {
      Object.defineProperty(props, SEALED_COUNT, { value: json.$sealed, enumerable: false });
    }
  }
  return props;
}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Standard base64 with padding (no dependency on btoa or Buffer). */
export function toBase64(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i]!;
    const b = bytes[i + 1];
    const c = bytes[i + 2];
    out += ALPHABET[a >> 2]!;
    out += ALPHABET[((a & 3) << 4) | ((b ?? 0) >> 4)]!;
    out += b === undefined ? "=" : ALPHABET[((b & 15) << 2) | ((c ?? 0) >> 6)]!;
    out += c === undefined ? "=" : ALPHABET[c & 63]!;
  }
  return out;
}

/** Decodes standard base64 (padding optional). */
export function fromBase64(text: string): Uint8Array {
  const clean = text.replace(/=+$/, "");
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0;
  let count = 0;
  let at = 0;
  for (const ch of clean) {
    const v = ALPHABET.indexOf(ch);
    if (v < 0) throw new TypeError("not base64");
    bits = (bits << 6) | v;
    count += 6;
    if (count >= 8) {
      count -= 8;
      out[at++] = (bits >> count) & 255;
    }
  }
  return out.subarray(0, at);
}
