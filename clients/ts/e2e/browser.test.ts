// End to end in headless Chromium: two browser pages (the TypeScript
// client) and one RTMP client (the Rust so-client CLI) edit one
// SharedObject on the real server, and each sees the others' changes.
// Then the /admin page is loaded and kept as a screenshot under target/.
//
// Needs: Chromium (CHROMIUM, else /usr/bin/chromium), the example server and
// so-client built (RTMP_SO_SERVER / RTMP_SO_CLIENT, else target/debug/examples/).
// Without Chromium the test is skipped with one line, unless
// RTMP_SO_REQUIRE_INTEROP=1, which makes that a failure.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { type Server as HttpServer, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createInterface } from "node:readline";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { type Browser, type Page, chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
// build/e2e -> clients/ts -> repository root
const pkg = resolve(here, "../..");
const root = resolve(pkg, "../..");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const SERVER = process.env.RTMP_SO_SERVER ?? join(root, "target/debug/examples/server");
const CLIENT = process.env.RTMP_SO_CLIENT ?? join(root, "target/debug/examples/so-client");
const ARTIFACTS = join(root, "target/browser-artifacts");
const PATIENCE = 15_000;

const required = process.env.RTMP_SO_REQUIRE_INTEROP === "1";
const missing = [CHROMIUM, SERVER, CLIENT].filter((p) => !existsSync(p));
const skip = missing.length > 0 && !required;
if (skip) console.log(`browser tests skipped: missing ${missing.join(", ")} (RTMP_SO_REQUIRE_INTEROP=1 makes this a failure)`);

let server: ChildProcess | undefined;
let dataDir = "";
let rtmpAddr = "";
let httpAddr = "";
let browser: Browser | undefined;
let pageServer: HttpServer | undefined;
let pageOrigin = "";
const children: ChildProcess[] = [];

/** Starts the example server on free ports; resolves with its two addresses. */
function startServer(): Promise<void> {
  dataDir = mkdtempSync(join(tmpdir(), "rtmp-so-e2e-"));
  server = spawn(SERVER, ["--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--data-dir", dataDir], {
    env: { ...process.env, RUST_LOG: "info", NO_COLOR: "1" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error("the server did not listen in time")), PATIENCE);
    createInterface({ input: server!.stderr! }).on("line", (line) => {
      if (process.env.E2E_LOG === "1") console.log(`server: ${line}`);
      const rtmp = /local_addr=(\S+)/.exec(line);
      const http = /http_addr=(\S+)/.exec(line);
      if (rtmp?.[1]) rtmpAddr = rtmp[1];
      if (http?.[1]) httpAddr = http[1];
      if (rtmpAddr && httpAddr) {
        clearTimeout(timer);
        resolvePromise();
      }
    });
    server!.on("exit", (code) => reject(new Error(`the server exited with ${code}`)));
  });
}

/**
 * Serves the test page and the built client from 127.0.0.1: a page may
 * reach a local WebSocket only from a local origin (Chromium's local
 * network access checks).
 */
function startPageServer(): Promise<void> {
  pageServer = createServer((request, response) => {
    const path = new URL(request.url ?? "/", "http://x").pathname;
    if (path === "/") {
      response.writeHead(200, { "content-type": "text/html" });
      response.end(`<!doctype html><title>client</title><script type="module">
        import * as rtmpSo from "/dist/index.js";
        window.rtmpSo = rtmpSo;
        window.ready = true;
      </script>`);
    } else if (/^\/dist\/[\w.-]+\.js$/.test(path)) {
      response.writeHead(200, { "content-type": "text/javascript" });
      response.end(readFileSync(join(pkg, path)));
    } else {
      response.writeHead(404).end();
    }
  });
  return new Promise((resolvePromise) =>
    pageServer!.listen(0, "127.0.0.1", () => {
      const address = pageServer!.address() as AddressInfo;
      pageOrigin = `http://127.0.0.1:${address.port}`;
      resolvePromise();
    }),
  );
}

/** A page with the client loaded, connected, and using the SO "board". */
async function clientPage(name: string): Promise<Page> {
  const page = await browser!.newPage();
  page.on("pageerror", (error) => console.error(`${name}: ${error}`));
  page.on("console", (message) => console.log(`${name} console: ${message.text()}`));
  await page.goto(`${pageOrigin}/`);
  await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
  await page.evaluate(async (url) => {
    const { NetConnection, SharedObject } = (window as any).rtmpSo;
    const nc = new NetConnection();
    await nc.connect(url, "demo/e2e");
    const so = SharedObject.getRemote("board", nc, false);
    (window as any).so = so;
    await so.connect();
  }, `ws://${httpAddr}/so`);
  return page;
}

/** Waits until `page`'s copy of the SO has `key` equal to `value`. */
async function seen(page: Page, key: string, value: unknown): Promise<void> {
  await page.waitForFunction(
    ([k, v]) => JSON.stringify((window as any).so.data[k as string]) === JSON.stringify(v),
    [key, value] as const,
    { timeout: PATIENCE },
  );
}

/** The RTMP side: so-client watching the SO, its output lines collected. */
function watchRtmp(): { lines: string[]; waitFor: (line: string) => Promise<void> } {
  const child = spawn(CLIENT, [`rtmp://${rtmpAddr}/demo/e2e`, "--so", "board", "watch"], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  const lines: string[] = [];
  const waiters: { line: string; done: () => void }[] = [];
  createInterface({ input: child.stdout! }).on("line", (line) => {
    lines.push(line);
    for (const w of waiters.filter((w) => w.line === line)) w.done();
  });
  const waitFor = (line: string) =>
    new Promise<void>((resolvePromise, reject) => {
      if (lines.includes(line)) return resolvePromise();
      const timer = setTimeout(() => reject(new Error(`so-client never printed ${line}; it printed:\n${lines.join("\n")}`)), PATIENCE);
      waiters.push({ line, done: () => (clearTimeout(timer), resolvePromise()) });
    });
  return { lines, waitFor };
}

/** The RTMP client sets a key (one-shot so-client). */
function rtmpSet(assignment: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(CLIENT, [`rtmp://${rtmpAddr}/demo/e2e`, "--so", "board", "set", assignment], { stdio: "inherit" });
    child.on("exit", (code) => (code === 0 ? resolvePromise() : reject(new Error(`so-client set exited with ${code}`))));
  });
}

before(async () => {
  if (skip) return;
  await startServer();
  await startPageServer();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
  pageServer?.close();
  for (const child of children) child.kill();
  server?.kill("SIGTERM");
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test("two browsers and an RTMP client edit one SharedObject", { skip }, async () => {
  const rtmp = watchRtmp();
  await rtmp.waitFor("connected");
  const a = await clientPage("a");
  const b = await clientPage("b");

  await a.evaluate(() => (window as any).so.setProperty("fromA", { n: 1, when: new Date(0) }));
  await seen(b, "fromA", { n: 1, when: new Date(0).toJSON() });
  // The CLI prints dates its own way: any change line for the key will do.
  await waitForPrefix(rtmp.lines, "change fromA=");

  await b.evaluate(() => (window as any).so.setProperty("fromB", "hello"));
  await seen(a, "fromB", "hello");
  await rtmp.waitFor('change fromB="hello"');

  await rtmpSet('fromRtmp=[1,2,3]');
  await seen(a, "fromRtmp", [1, 2, 3]);
  await seen(b, "fromRtmp", [1, 2, 3]);

  // The same version everywhere.
  const versions = await Promise.all([a, b].map((p) => p.evaluate(() => (window as any).so.version as number)));
  assert.equal(versions[0], versions[1]);

  // A deletion from a browser reaches the others.
  await a.evaluate(() => (window as any).so.setProperty("fromB", null));
  await b.waitForFunction(() => !("fromB" in (window as any).so.data), undefined, { timeout: PATIENCE });
  await rtmp.waitFor("remove fromB");
});

test("the admin page shows the live state (screenshot kept)", { skip }, async () => {
  const page = await browser!.newPage({ viewport: { width: 1100, height: 700 } });
  await page.goto(`http://${httpAddr}/admin`);
  await page.waitForSelector('section[data-scope="demo/e2e"] tr[data-key="fromRtmp"]', { timeout: PATIENCE });
  const text = await page.textContent("body");
  assert.match(text ?? "", /board/);
  assert.match(text ?? "", /read-only/);
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, "admin.png"), fullPage: true });
  assert.ok(existsSync(join(ARTIFACTS, "admin.png")));
});

async function waitForPrefix(lines: string[], prefix: string): Promise<void> {
  const deadline = Date.now() + PATIENCE;
  while (!lines.some((l) => l.startsWith(prefix))) {
    if (Date.now() > deadline) throw new Error(`no line starting with ${prefix}:\n${lines.join("\n")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
