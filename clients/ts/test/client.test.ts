import assert from "node:assert/strict";
import { test } from "node:test";

import { NetConnection, SharedObject, type StatusInfo, type SyncChange } from "../src/index.js";
import { FakeNetwork, tick } from "./fake.js";

async function connected(options: { reconnect?: false } = {}) {
  const net = new FakeNetwork();
  const nc = new NetConnection({ webSocket: net.factory, reconnect: options.reconnect ?? { initialDelayMs: 5 } });
  const done = nc.connect("ws://server/so", "chat/lobby/1", "alice");
  const socket = net.last;
  assert.equal(socket.protocol, "rtmp-so.v1");
  socket.open();
  assert.deepEqual(socket.take(), [{ type: "connect", app: "chat", room: "lobby/1", args: ["alice"] }]);
  socket.receive({ type: "connected" });
  await done;
  return { net, nc, socket };
}

async function used(nc: NetConnection, socket = undefined as never as import("./fake.js").FakeSocket) {
  const so = SharedObject.getRemote("room", nc, true);
  const syncs: SyncChange[][] = [];
  so.on("sync", (changes) => syncs.push(changes));
  const ready = so.connect();
  assert.deepEqual(socket.take(), [{ type: "use", so: "room", persistent: true }]);
  socket.receive({
    type: "so", so: "room", version: 3, persistent: true,
    events: [{ type: "use_success" }, { type: "clear" }, { type: "change", key: "topic", value: "rust" }],
  });
  await ready;
  return { so, syncs };
}

test("connect sends app, room and args, and resolves on connected", async () => {
  const { nc } = await connected();
  assert.equal(nc.connected, true);
});

test("a rejected connect rejects with the reason", async () => {
  const net = new FakeNetwork();
  const nc = new NetConnection({ webSocket: net.factory });
  const statuses: StatusInfo[] = [];
  nc.on("status", (s) => statuses.push(s));
  const done = nc.connect("ws://server/so", "chat");
  net.last.open();
  assert.deepEqual(net.last.take(), [{ type: "connect", app: "chat", args: [] }]);
  net.last.receive({ type: "rejected", reason: "full" });
  await assert.rejects(done, /full/);
  assert.equal(statuses[0]?.code, "NetConnection.Connect.Rejected");
  net.last.drop(4000, "full");
  await tick(20);
  assert.equal(net.sockets.length, 1, "a rejection is not retried");
});

test("getRemote + connect syncs the data like Flash's onSync", async () => {
  const { nc, socket } = await connected();
  const { so, syncs } = await used(nc, socket);
  assert.equal(SharedObject.getRemote("room", nc, true), so, "one object per name");
  assert.deepEqual(so.data, { topic: "rust" });
  assert.equal(so.version, 3);
  assert.deepEqual(syncs, [[{ code: "clear", name: "" }, { code: "change", name: "topic", oldValue: undefined }]]);
});

test("writes of one turn go as one update and settle with success", async () => {
  const { nc, socket } = await connected();
  const { so, syncs } = await used(nc, socket);
  so.setProperty("a", 1);
  so.setProperty("when", new Date(5));
  so.setProperty("topic", null);
  assert.equal(so.data.a, 1, "applied locally at once");
  assert.equal("topic" in so.data, false);
  await tick();
  assert.deepEqual(socket.take(), [
    { type: "set", so: "room", values: { a: 1, when: { $type: "date", value: 5 } } },
    { type: "remove", so: "room", keys: ["topic"] },
  ]);
  // Someone else's older write of `a` arrives before our success: ours stays.
  socket.receive({ type: "so", so: "room", version: 4, events: [{ type: "change", key: "a", value: 0 }] });
  assert.equal(so.data.a, 1);
  socket.receive({ type: "so", so: "room", version: 5, events: [{ type: "success", key: "a" }, { type: "success", key: "when" }] });
  socket.receive({ type: "so", so: "room", version: 6, events: [{ type: "remove", key: "topic" }] });
  assert.deepEqual(syncs.slice(1), [
    [{ code: "success", name: "a" }, { code: "success", name: "when" }],
    [{ code: "delete", name: "topic", oldValue: undefined }],
  ]);
  assert.equal(so.version, 6);
  // Now a change of `a` from someone else applies.
  socket.receive({ type: "so", so: "room", version: 7, events: [{ type: "change", key: "a", value: 2 }] });
  assert.equal(so.data.a, 2);
});

test("a denied write is rolled back with reject", async () => {
  const { nc, socket } = await connected();
  const { so, syncs } = await used(nc, socket);
  const statuses: string[] = [];
  so.on("status", (s) => statuses.push(s.code));
  so.setProperty("topic", "mine");
  await tick();
  socket.take();
  socket.receive({
    type: "so", so: "room", version: 3,
    events: [{ type: "status", code: "SharedObject.NoWriteAccess", level: "error" }, { type: "change", key: "topic", value: "rust" }],
  });
  assert.equal(so.data.topic, "rust");
  assert.deepEqual(statuses, ["SharedObject.NoWriteAccess"]);
  assert.deepEqual(syncs.at(-1), [{ code: "reject", name: "topic", oldValue: "mine" }]);
});

test("send goes out and messages reach so.client", async () => {
  const { nc, socket } = await connected();
  const { so } = await used(nc, socket);
  const got: unknown[][] = [];
  so.client.onChat = (...args) => got.push(args);
  so.send("onChat", "hi", new Uint8Array([1, 2]));
  assert.deepEqual(socket.take(), [{ type: "send", so: "room", method: "onChat", args: ["hi", { $type: "bytes", base64: "AQI=" }] }]);
  socket.receive({ type: "so", so: "room", version: 3, events: [{ type: "message", method: "onChat", args: ["hi", { $type: "bytes", base64: "AQI=" }] }] });
  assert.deepEqual(got, [["hi", new Uint8Array([1, 2])]]);
});

test("calls resolve with their result, reject with their error", async () => {
  const { nc, socket } = await connected();
  const ok = nc.call("echo", 1);
  const bad = nc.call("nope");
  assert.deepEqual(socket.take(), [
    { type: "call", id: 1, method: "echo", args: [1] },
    { type: "call", id: 2, method: "nope", args: [] },
  ]);
  socket.receive({ type: "result", id: 1, value: 1 });
  socket.receive({ type: "result", id: 2, error: { level: "error", code: "NetConnection.Call.Failed", description: "no such method" } });
  assert.equal(await ok, 1);
  await assert.rejects(bad, /no such method/);
});

test("the server's calls reach nc.client and are answered", async () => {
  const { nc, socket } = await connected();
  nc.client.add = (a, b) => Number(a) + Number(b);
  socket.receive({ type: "call", id: 7, method: "add", args: [2, 3] });
  socket.receive({ type: "call", id: 8, method: "missing", args: [] });
  await tick();
  const answers = socket.take().sort((a, b) => Number(a.id) - Number(b.id));
  assert.deepEqual(answers[0], { type: "result", id: 7, value: 5 });
  assert.equal(answers[1]?.id, 8);
  assert.match(JSON.stringify(answers[1]?.error), /no client method missing/);
});

test("a lost connection reconnects, resubscribes and resends unconfirmed writes", async () => {
  const { net, nc, socket } = await connected();
  const { so } = await used(nc, socket);
  const statuses: string[] = [];
  nc.on("status", (s) => statuses.push(s.code));
  so.setProperty("draft", "x");
  await tick();
  socket.take();
  socket.drop();
  assert.equal(nc.connected, false);
  so.setProperty("offline", true);
  await tick(20);
  const again = net.last;
  assert.notEqual(again, socket);
  again.open();
  assert.deepEqual(again.take(), [{ type: "connect", app: "chat", room: "lobby/1", args: ["alice"] }]);
  again.receive({ type: "connected" });
  assert.deepEqual(again.take(), [{ type: "use", so: "room", persistent: true }]);
  // The server's state moved on meanwhile.
  again.receive({
    type: "so", so: "room", version: 9,
    events: [{ type: "use_success" }, { type: "clear" }, { type: "change", key: "topic", value: "new" }],
  });
  assert.deepEqual(so.data, { topic: "new", draft: "x", offline: true });
  assert.deepEqual(again.take(), [{ type: "set", so: "room", values: { draft: "x", offline: true } }]);
  assert.deepEqual(statuses, ["NetConnection.Connect.Closed", "NetConnection.Connect.Reconnecting", "NetConnection.Connect.Success"]);
  nc.close();
  assert.equal(again.closedWith?.code, 1000);
});

test("a first connect that fails rejects and is not retried", async () => {
  const net = new FakeNetwork();
  const nc = new NetConnection({ webSocket: net.factory });
  const done = nc.connect("ws://server/so", "chat");
  net.last.drop(1006, "refused");
  await assert.rejects(done, /connect failed/);
  await tick(300);
  assert.equal(net.sockets.length, 1);
});

test("server errors are reported", async () => {
  const { nc, socket } = await connected();
  const errors: string[] = [];
  nc.on("error", (code) => errors.push(code));
  socket.receive({ type: "error", code: "bad_json", message: "x" });
  assert.deepEqual(errors, ["bad_json"]);
});
