// NetConnection and SharedObject over the rtmp-so.v1 WebSocket protocol,
// shaped like Flash's: SharedObject.getRemote(name, nc, persistent),
// so.connect(), so.setProperty(), so.send(), "sync" events with Flash's
// change codes, nc.call(), nc.client for the server's calls.

import { type Json, fromJson, toJson } from "./values.js";

/** The WebSocket subprotocol. */
export const SUBPROTOCOL = "rtmp-so.v1";

/** The part of the WebSocket API this client uses (the browser's, or `ws` in Node). */
export interface WebSocketLike {
  readonly readyState: number;
  readonly protocol: string;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

/** Creates a WebSocket for a URL and subprotocol. */
export type WebSocketFactory = (url: string, protocol: string) => WebSocketLike;

/** A status, as Flash's onStatus gets it. */
export interface StatusInfo {
  /** `NetConnection.Connect.Success`, `SharedObject.NoWriteAccess`, ... */
  code: string;
  /** `status`, `warning` or `error`. */
  level: string;
  /** Details for people, when there are any. */
  description?: string;
}

/** One entry of a "sync" event, as Flash's SyncEvent.changeList. */
export interface SyncChange {
  /** `change` (someone else's write), `success` (yours), `reject` (yours, denied), `delete`, `clear`. */
  code: "change" | "success" | "reject" | "delete" | "clear";
  /** The key (empty for `clear`). */
  name: string;
  /** The value before, for `change`, `reject` and `delete`. */
  oldValue?: unknown;
}

type Listener<A extends unknown[]> = (...args: A) => void;

/** A small typed event emitter that works the same in browsers and Node. */
export class Emitter<Events extends { [name: string]: unknown[] }> {
  private listeners: { [K in keyof Events]?: Listener<Events[K]>[] } = {};

  /** Calls `listener` on every `event`. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    (this.listeners[event] ??= []).push(listener);
    return this;
  }

  /** Stops calling `listener`. */
  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    const list = this.listeners[event];
    if (list) this.listeners[event] = list.filter((l) => l !== listener);
    return this;
  }

  /** Calls `listener` on the next `event` only. */
  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    const wrapped: Listener<Events[K]> = (...args) => {
      this.off(event, wrapped);
      listener(...args);
    };
    return this.on(event, wrapped);
  }

  protected emit<K extends keyof Events>(event: K, ...args: Events[K]): void {
    for (const listener of this.listeners[event] ?? []) {
      try {
        listener(...args);
      } catch (error) {
        // A listener's bug must not break the connection.
        console.error(error);
      }
    }
  }
}

/** How a NetConnection reconnects after losing its socket. */
export interface ReconnectOptions {
  /** First wait, doubled after every failed attempt (default 250 ms). */
  initialDelayMs?: number;
  /** Longest wait (default 10 s). */
  maxDelayMs?: number;
}

/** NetConnection options. */
export interface NetConnectionOptions {
  /** How to open sockets (default: the global WebSocket). */
  webSocket?: WebSocketFactory;
  /** Reconnect after a lost socket (default on); `false` turns it off. */
  reconnect?: ReconnectOptions | false;
  /** How long a call may wait for its answer (default 30 s). */
  callTimeoutMs?: number;
}

/** The events of a NetConnection. */
export type NetConnectionEvents = {
  /** Connect succeeded, was rejected, closed, or the connection was lost and is being re-established. */
  status: [info: StatusInfo];
  /** The server refused a frame (`bad_json`, `unknown_type`, ...). */
  error: [code: string, message: string];
};

const OPEN = 1;

/**
 * A connection to a server scope, as Flash's NetConnection:
 * `await nc.connect("ws://host:8080/so", "chat/lobby")`.
 */
export class NetConnection extends Emitter<NetConnectionEvents> {
  /** Methods the server may call (as Flash's `nc.client`); they may return a value or a promise. */
  client: { [method: string]: (...args: unknown[]) => unknown } = {};
  private socket: WebSocketLike | undefined;
  private url = "";
  private app = "";
  private room: string | undefined;
  private args: unknown[] = [];
  private nextCall = 1;
  private calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> }>();
  private objects = new Map<string, SharedObject>();
  private wanted = false;
  private isConnected = false;
  private everConnected = false;
  private retryDelay: number;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly options: Required<Pick<NetConnectionOptions, "callTimeoutMs">> & NetConnectionOptions;

  /** A connection, not yet connected. */
  constructor(options: NetConnectionOptions = {}) {
    super();
    this.options = { callTimeoutMs: 30_000, ...options };
    this.retryDelay = this.reconnectOptions()?.initialDelayMs ?? 250;
  }

  /** Whether the connection is up (connected and not lost). */
  get connected(): boolean {
    return this.isConnected;
  }

  /**
   * Connects to `app` (with an optional room path: `"chat/lobby/1"`) at a
   * server's `/so` endpoint; `args` go to the application's connect hook.
   * Resolves once accepted; rejects with the server's reason.
   */
  connect(url: string, app: string, ...args: unknown[]): Promise<void> {
    const [first, ...rest] = app.replace(/^\/+|\/+$/g, "").split("/");
    this.url = url;
    this.app = first ?? "";
    this.room = rest.length > 0 ? rest.join("/") : undefined;
    this.args = args;
    this.wanted = true;
    return this.open();
  }

  /** Calls a server method; resolves with its result, rejects with its error. */
  call<T = unknown>(method: string, ...args: unknown[]): Promise<T> {
    const id = this.nextCall++;
    return new Promise<T>((resolve, reject) => {
      if (!this.isConnected) {
        reject(new Error("not connected"));
        return;
      }
      const timer = setTimeout(() => {
        this.calls.delete(id);
        reject(new Error(`call ${method} timed out`));
      }, this.options.callTimeoutMs);
      this.calls.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.sendFrame({ type: "call", id, method, args: args.map((a) => toJson(a)) });
    });
  }

  /** Closes the connection for good (no reconnect). */
  close(): void {
    this.wanted = false;
    clearTimeout(this.retryTimer);
    const socket = this.socket;
    this.socket = undefined;
    socket?.close(1000, "closed by the client");
    this.lost("NetConnection.Connect.Closed", "closed by the client");
  }

  /** @internal The SO called `name` on this connection, made once. */
  sharedObject(name: string, persistent: boolean): SharedObject {
    let so = this.objects.get(name);
    if (!so) {
      so = new SharedObject(name, persistent, this);
      this.objects.set(name, so);
    }
    return so;
  }

  /** @internal Forgets a closed SO. */
  forget(so: SharedObject): void {
    if (this.objects.get(so.name) === so) this.objects.delete(so.name);
  }

  /** @internal Sends a frame if the connection is up; false if not. */
  sendFrame(frame: { [key: string]: Json }): boolean {
    if (!this.isConnected || !this.socket || this.socket.readyState !== OPEN) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  private reconnectOptions(): ReconnectOptions | undefined {
    return this.options.reconnect === false ? undefined : (this.options.reconnect ?? {});
  }

  private open(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const factory =
        this.options.webSocket ??
        ((url: string, protocol: string) => {
          const Ctor = (globalThis as { WebSocket?: new (url: string, protocol: string) => WebSocketLike }).WebSocket;
          if (!Ctor) throw new Error("no WebSocket here: pass options.webSocket");
          return new Ctor(url, protocol);
        });
      let settled = false;
      const socket = factory(this.url, SUBPROTOCOL);
      this.socket = socket;
      socket.onopen = () => {
        const frame: { [key: string]: Json } = { type: "connect", app: this.app, args: this.args.map((a) => toJson(a)) };
        if (this.room !== undefined) frame.room = this.room;
        socket.send(JSON.stringify(frame));
      };
      socket.onmessage = (event) => {
        if (typeof event.data !== "string") return;
        let frame: { [key: string]: Json };
        try {
          frame = JSON.parse(event.data) as { [key: string]: Json };
        } catch {
          return;
        }
        if (frame.type === "connected") {
          settled = true;
          this.isConnected = true;
          this.everConnected = true;
          this.retryDelay = this.reconnectOptions()?.initialDelayMs ?? 250;
          this.emit("status", { code: "NetConnection.Connect.Success", level: "status" });
          for (const so of this.objects.values()) so.resync();
          resolve();
        } else if (frame.type === "rejected") {
          settled = true;
          // A rejection is final: the application said no.
          this.wanted = false;
          const reason = String(frame.reason);
          this.emit("status", { code: "NetConnection.Connect.Rejected", level: "error", description: reason });
          reject(new Error(`connect rejected: ${reason}`));
        } else {
          this.handle(frame);
        }
      };
      socket.onerror = () => {};
      socket.onclose = (event) => {
        if (this.socket !== socket) return;
        this.socket = undefined;
        const wasConnected = this.isConnected;
        this.lost(wasConnected ? "NetConnection.Connect.Closed" : "NetConnection.Connect.Failed", event.reason);
        if (!settled) {
          settled = true;
          reject(new Error(`connect failed (${event.code} ${event.reason})`));
        }
        // Only a connection that was up once comes back by itself; a first
        // connect that fails is the caller's to retry.
        if (this.wanted && this.everConnected && this.reconnectOptions() !== undefined) {
          this.scheduleReconnect();
        }
      };
    });
  }

  private scheduleReconnect(): void {
    const max = this.reconnectOptions()?.maxDelayMs ?? 10_000;
    const delay = this.retryDelay;
    this.retryDelay = Math.min(this.retryDelay * 2, max);
    this.emit("status", { code: "NetConnection.Connect.Reconnecting", level: "warning", description: `in ${delay} ms` });
    this.retryTimer = setTimeout(() => {
      if (!this.wanted) return;
      // A failed attempt schedules the next one from its own close.
      this.open().catch(() => {});
    }, delay);
  }

  private lost(code: string, reason: string): void {
    const was = this.isConnected;
    this.isConnected = false;
    for (const [id, call] of this.calls) {
      clearTimeout(call.timer);
      call.reject(new Error("connection lost"));
      this.calls.delete(id);
    }
    for (const so of this.objects.values()) so.disconnected();
    if (was) this.emit("status", { code, level: code.endsWith("Closed") ? "status" : "error", description: reason });
  }

  private handle(frame: { [key: string]: Json }): void {
    switch (frame.type) {
      case "so": {
        const so = this.objects.get(String(frame.so));
        so?.apply(frame);
        break;
      }
      case "result": {
        const id = Number(frame.id);
        const call = this.calls.get(id);
        if (!call) break;
        this.calls.delete(id);
        clearTimeout(call.timer);
        if ("error" in frame) {
          const info = fromJson(frame.error ?? null) as { description?: unknown } | null;
          const error = new Error(String(info?.description ?? "call failed"));
          (error as Error & { info?: unknown }).info = info;
          call.reject(error);
        } else {
          call.resolve(fromJson(frame.value ?? null));
        }
        break;
      }
      case "call":
        void this.answer(frame);
        break;
      case "error":
        this.emit("error", String(frame.code), String(frame.message));
        break;
    }
  }

  private async answer(frame: { [key: string]: Json }): Promise<void> {
    const id = Number(frame.id);
    const args = Array.isArray(frame.args) ? frame.args.map(fromJson) : [];
    const method = this.client[String(frame.method)];
    try {
      if (!method) throw new Error(`no client method ${String(frame.method)}`);
      const value = await method.apply(this.client, args);
      this.sendFrame({ type: "result", id, value: toJson(value) });
    } catch (error) {
      this.sendFrame({
        type: "result",
        id,
        error: { level: "error", code: "NetConnection.Call.Failed", description: String((error as Error).message ?? error) },
      });
    }
  }
}

/** The events of a SharedObject. */
export type SharedObjectEvents = {
  /** The data changed: Flash's onSync. */
  sync: [changes: SyncChange[]];
  /** A status (`SharedObject.NoWriteAccess`, ...). */
  status: [info: StatusInfo];
};

const REMOVED: unique symbol = Symbol("removed");

/**
 * A Remote SharedObject, as Flash's: `const so = SharedObject.getRemote("chat", nc)`,
 * `await so.connect()`, `so.data`, `so.setProperty()`, `so.send()`,
 * `so.on("sync", ...)`, and `so.client` for `send` handlers.
 */
export class SharedObject extends Emitter<SharedObjectEvents> {
  /** Handlers for messages sent with `send` (as Flash's `so.client`). */
  client: { [method: string]: (...args: unknown[]) => void } = {};
  /** The SO's version (grows with every update that changed it). */
  version = 0;
  private values: { [key: string]: unknown } = {};
  private used = false;
  private synced = false;
  private waiting: { resolve: () => void; reject: (e: Error) => void }[] = [];
  /** Keys written and not yet confirmed, with how many writes are out. */
  private inFlight = new Map<string, number>();
  /** Writes made while not synced, sent after the next sync. */
  private offline = new Map<string, unknown>();
  /** Writes made this turn, sent as one update. */
  private batch = new Map<string, unknown>();
  private flushQueued = false;

  /** @internal Use SharedObject.getRemote. */
  constructor(
    /** The SO's name. */
    readonly name: string,
    /** Whether it is persistent. */
    readonly persistent: boolean,
    private readonly nc: NetConnection,
  ) {
    super();
  }

  /** The SO called `name` in `nc`'s scope (one object per name and connection). */
  static getRemote(name: string, nc: NetConnection, persistent = false): SharedObject {
    return nc.sharedObject(name, persistent);
  }

  /** The data, read-only: change it with setProperty. */
  get data(): Readonly<{ [key: string]: unknown }> {
    return this.values;
  }

  /** Whether the data is in sync with the server. */
  get isSynced(): boolean {
    return this.synced;
  }

  /** Subscribes; resolves with the first sync (rejects on NoReadAccess and the like). */
  connect(): Promise<void> {
    this.used = true;
    const done = new Promise<void>((resolve, reject) => this.waiting.push({ resolve, reject }));
    if (this.synced) {
      this.settle();
    } else {
      this.nc.sendFrame({ type: "use", so: this.name, persistent: this.persistent });
    }
    return done;
  }

  /**
   * Sets `key` (null or undefined deletes it). Applied here at once;
   * writes of one turn go to the server as one update.
   */
  setProperty(key: string, value: unknown): void {
    const removing = value === null || value === undefined;
    if (removing) delete this.values[key];
    else this.values[key] = value;
    this.batch.set(key, removing ? REMOVED : value);
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Sends `method(...args)` to every subscriber, this one included. */
  send(method: string, ...args: unknown[]): void {
    this.flush();
    this.nc.sendFrame({ type: "send", so: this.name, method, args: args.map((a) => toJson(a)) });
  }

  /** Unsubscribes; the object is forgotten. */
  close(): void {
    if (this.used) this.nc.sendFrame({ type: "release", so: this.name });
    this.used = false;
    this.synced = false;
    this.nc.forget(this);
  }

  /** @internal The connection is (back) up: subscribe again, the server resends the state. */
  resync(): void {
    if (this.used) this.nc.sendFrame({ type: "use", so: this.name, persistent: this.persistent });
  }

  /** @internal The connection is gone: unconfirmed writes are kept to send again. */
  disconnected(): void {
    this.synced = false;
    for (const key of this.inFlight.keys()) {
      this.offline.set(key, key in this.values ? this.values[key] : REMOVED);
    }
    this.inFlight.clear();
  }

  /** @internal One `so` frame. */
  apply(frame: { [key: string]: Json }): void {
    const events = Array.isArray(frame.events) ? frame.events : [];
    const changes: SyncChange[] = [];
    let resynced = false;
    let denied = false;
    for (const raw of events) {
      if (raw === null || typeof raw !== "object" || Array.isArray(raw)) continue;
      const event = raw as { [key: string]: Json };
      const key = String(event.key ?? "");
      switch (event.type) {
        case "use_success":
          resynced = true;
          break;
        case "clear":
          this.values = {};
          changes.push({ code: "clear", name: "" });
          break;
        case "change": {
          const old = this.values[key];
          const pending = this.inFlight.has(key);
          if (pending && !denied) {
            // Our own write of this key comes after this one: keep ours.
            break;
          }
          if (pending) this.inFlight.delete(key);
          this.values[key] = fromJson(event.value ?? null);
          changes.push({ code: denied ? "reject" : "change", name: key, oldValue: old });
          break;
        }
        case "success": {
          const left = (this.inFlight.get(key) ?? 1) - 1;
          if (left > 0) this.inFlight.set(key, left);
          else this.inFlight.delete(key);
          changes.push({ code: "success", name: key });
          break;
        }
        case "remove": {
          const old = this.values[key];
          if (this.inFlight.has(key) && denied) this.inFlight.delete(key);
          delete this.values[key];
          changes.push({ code: denied ? "reject" : "delete", name: key, oldValue: old });
          break;
        }
        case "message": {
          const handler = this.client[String(event.method)];
          const args = Array.isArray(event.args) ? event.args.map(fromJson) : [];
          try {
            handler?.apply(this.client, args);
          } catch (error) {
            console.error(error);
          }
          break;
        }
        case "status": {
          const info = { code: String(event.code), level: String(event.level) };
          if (info.code === "SharedObject.NoWriteAccess") denied = true;
          this.emit("status", info);
          if (!this.synced && info.level === "error") {
            for (const w of this.waiting.splice(0)) w.reject(new Error(info.code));
          }
          break;
        }
      }
    }
    if (typeof frame.version === "number") this.version = frame.version;
    if (resynced) {
      this.synced = true;
      // Writes made while away go out again, over the fresh state.
      for (const [key, value] of this.offline) {
        if (value === REMOVED) delete this.values[key];
        else this.values[key] = value;
        this.batch.set(key, value);
      }
      this.offline.clear();
      this.flush();
    }
    if (changes.length > 0) this.emit("sync", changes);
    if (resynced) this.settle();
  }

  private settle(): void {
    for (const w of this.waiting.splice(0)) w.resolve();
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.batch.size === 0) return;
    const batch = this.batch;
    this.batch = new Map();
    if (!this.synced) {
      for (const [key, value] of batch) this.offline.set(key, value);
      return;
    }
    // Deletions go as REQUEST_REMOVE (answered with a REMOVE to everyone,
    // the writer too), values as one REQUEST_CHANGE update.
    const values: { [key: string]: Json } = {};
    const removed: string[] = [];
    for (const [key, value] of batch) {
      if (value === REMOVED) removed.push(key);
      else values[key] = toJson(value);
    }
    let sent = true;
    if (Object.keys(values).length > 0) {
      sent = this.nc.sendFrame({ type: "set", so: this.name, values });
      if (sent) for (const key of Object.keys(values)) this.inFlight.set(key, (this.inFlight.get(key) ?? 0) + 1);
    }
    if (sent && removed.length > 0) sent = this.nc.sendFrame({ type: "remove", so: this.name, keys: removed });
    if (!sent) {
      for (const [key, value] of batch) if (!this.inFlight.has(key)) this.offline.set(key, value);
    }
  }
}
