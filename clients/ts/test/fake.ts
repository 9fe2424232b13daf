// A fake WebSocket and server side for the unit tests: records what the
// client sends and lets a test answer as the server would.
import type { WebSocketLike } from "../src/index.js";

export class FakeSocket implements WebSocketLike {
  readyState = 0;
  protocol: string;
  sent: Record<string, unknown>[] = [];
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  closedWith: { code?: number; reason?: string } | undefined;

  constructor(readonly url: string, protocol: string) {
    this.protocol = protocol;
  }
  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }
  close(code?: number, reason?: string): void {
    this.closedWith = { ...(code === undefined ? {} : { code }), ...(reason === undefined ? {} : { reason }) };
    this.readyState = 3;
  }
  /** The server side: the socket opens. */
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  /** The server side: one frame to the client. */
  receive(frame: unknown): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  /** The server side: the socket drops. */
  drop(code = 1006, reason = ""): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  /** What was sent since the last call. */
  take(): Record<string, unknown>[] {
    return this.sent.splice(0);
  }
}

export class FakeNetwork {
  sockets: FakeSocket[] = [];
  factory = (url: string, protocol: string): FakeSocket => {
    const socket = new FakeSocket(url, protocol);
    this.sockets.push(socket);
    return socket;
  };
  get last(): FakeSocket {
    const socket = this.sockets[this.sockets.length - 1];
    if (!socket) throw new Error("no socket opened");
    return socket;
  }
}

/** Lets queued microtasks and timers of 0 ms run. */
export const tick = (ms = 0): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
