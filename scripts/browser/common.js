// Shared by the drivers in scripts/browser/: the Chromium flags, checks that
// log, a server child process whose log the drivers can search, a byte-
// counting TCP relay, and the in-page round trip of messages.
"use strict";

const { chromium } = require("playwright-core");
const { spawn } = require("child_process");
const fs = require("fs");
const http = require("http");
const https = require("https");
const net = require("net");
const os = require("os");
const path = require("path");

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
// The flags that keep Chromium off the (closed) network, from issue 4.
// Never --ignore-certificate-errors: the https test trusts its CA through
// an NSS database (scripts/browser-test.sh).
const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--no-proxy-server", "--disable-domain-reliability", "--no-pings",
  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
];

const started = Date.now();

function log(msg) {
  console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${msg}`);
}

function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
  log(`ok: ${what}`);
}

/** A loopback port nobody listens on now. */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** GET url until it answers 200, or fail after `ms`. `ca`: for https. */
async function waitForHttp(url, ms, ca) {
  const deadline = Date.now() + ms;
  const get = url.startsWith("https:") ? https.get : http.get;
  let last = "";
  for (;;) {
    const status = await new Promise((resolve) => {
      const req = get(url, ca ? { ca } : {}, (res) => { res.resume(); resolve(res.statusCode); });
      req.on("error", (e) => { last = String(e); resolve(0); });
      req.setTimeout(1000, () => { req.destroy(); resolve(0); });
    });
    if (status === 200) return;
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 within ${ms} ms (${last || status})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A server process: its output is echoed with a prefix and kept, so that a
 * driver can look for what it logged. `ready` is a URL that must answer 200.
 */
class Server {
  constructor(name, bin, args, env) {
    this.name = name;
    this.bin = bin;
    this.args = args;
    this.env = env;
    this.child = null;
    this.lines = [];
  }

  async start(ready, ca) {
    const child = spawn(this.bin, this.args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, RUST_LOG: "info", ...this.env },
    });
    this.child = child;
    child.on("error", (e) => log(`${this.name}: cannot start ${this.bin}: ${e}`));
    let partial = "";
    const take = (d) => {
      const parts = (partial + d.toString()).split("\n");
      partial = parts.pop();
      for (const line of parts) {
        this.lines.push(line);
        if (line) console.log(`        ${this.name}| ${line}`);
      }
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    await waitForHttp(ready, 15000, ca);
    log(`${this.name} pid ${child.pid} up: ${ready}`);
  }

  /** The lines logged so far that contain every one of `parts`. */
  logged(...parts) {
    return this.lines.filter((l) => parts.every((p) => l.includes(p)));
  }

  /** Waits (up to 5 s) for a line containing every one of `parts`. */
  async waitLogged(...parts) {
    const deadline = Date.now() + 5000;
    for (;;) {
      const found = this.logged(...parts);
      if (found.length) return found;
      if (Date.now() > deadline) return [];
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  stop() {
    return new Promise((resolve) => {
      const child = this.child;
      this.child = null;
      if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGKILL");
    });
  }
}

/**
 * A TCP relay on loopback that counts the bytes of each connection both
 * ways, to show what went over the wire. Each connection's record names it
 * by the first line the client sent ("GET /echo HTTP/1.1").
 */
async function relay(targetPort) {
  const connections = [];
  const sockets = new Set();
  const server = net.createServer((client) => {
    const record = { first: null, up: 0, down: 0, closed: false };
    connections.push(record);
    const upstream = net.connect(targetPort, "127.0.0.1");
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => { client.destroy(); upstream.destroy(); });
    }
    client.on("data", (d) => {
      if (record.first === null) record.first = d.toString("latin1").split("\r\n")[0];
      record.up += d.length;
    });
    upstream.on("data", (d) => { record.down += d.length; });
    client.pipe(upstream);
    upstream.pipe(client);
    upstream.on("close", () => { record.closed = true; client.destroy(); });
    client.on("close", () => { record.closed = true; upstream.destroy(); });
  });
  await new Promise((resolve, reject) => {
    server.on("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  return {
    port: server.address().port,
    connections,
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Chromium with a fresh profile; `home` is its HOME (and NSS database). */
async function launch(home) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "tinyws-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    env: home ? { ...process.env, HOME: home } : process.env,
    viewport: { width: 1000, height: 720 },
    timeout: 30000,
  });
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(15000);
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") log(`page console: ${m.text()}`); });
  return {
    context,
    page,
    pageErrors,
    async close() {
      await context.close().catch(() => {});
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

// The messages of the round trip: under the compression threshold (128
// bytes by default), a little over it, and large (past the 16-bit length
// and well past 64 KiB). Their content is patterned, so that it compresses
// as sensor data does, and different at every position, so that a byte out
// of place is seen.
const MESSAGES = [
  { kind: "text", size: 40 },
  { kind: "binary", size: 100 },
  { kind: "text", size: 1024 },
  { kind: "binary", size: 1024 },
  { kind: "text", size: 65537 },
  { kind: "binary", size: 65537 },
  { kind: "text", size: 512 * 1024 },
  { kind: "binary", size: 512 * 1024 },
];

/**
 * Runs in the page: opens `url`, sends each message, waits for it to come
 * back, compares it byte for byte, closes with 1000. Returns what the page
 * saw, including `ws.extensions`.
 */
function roundTripInPage({ url, messages }) {
  function text(size, seed) {
    // JSON lines with non-ASCII, cut to exactly `size` UTF-8 bytes.
    let s = "";
    for (let i = 0; s.length < size; i++) {
      s += `{"seq":${seed + i},"celsius":${(47 + 6 * Math.sin(i / 10)).toFixed(2)},"note":"héllo ✓ °C"}\n`;
    }
    let bytes = new TextEncoder().encode(s).subarray(0, size);
    // Do not cut a character in two: drop a partial one, pad with ASCII.
    let cut = new TextDecoder().decode(bytes).replace(/\uFFFD+$/, "");
    while (new TextEncoder().encode(cut).length < size) cut += "~";
    return cut;
  }
  function binary(size, seed) {
    const b = new Uint8Array(size);
    let x = seed | 1;
    for (let i = 0; i < size; i++) {
      if (i % 64 === 0) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; }
      b[i] = (i % 251) ^ (i % 64 === 0 ? x & 0xff : 0);
    }
    return b;
  }
  function same(a, b) {
    if (a.length !== b.length) return `length ${b.length}, sent ${a.length}`;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `differs at byte ${i}`;
    return "";
  }
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    const out = { url, extensions: null, protocol: null, results: [], close: null, error: null };
    let waiting = null;
    const fail = (why) => { out.error = why; try { ws.close(); } catch (e) { /* closing anyway */ } };
    ws.onerror = () => { out.error = out.error || "error event"; };
    ws.onclose = (e) => {
      out.close = `${e.code} ${e.reason}`;
      if (waiting) { waiting(null); waiting = null; }
      resolve(out);
    };
    ws.onmessage = (e) => { if (waiting) { const w = waiting; waiting = null; w(e.data); } else fail("unexpected message"); };
    ws.onopen = async () => {
      out.extensions = ws.extensions;
      out.protocol = ws.protocol;
      for (let n = 0; n < messages.length; n++) {
        const { kind, size } = messages[n];
        const sent = kind === "text" ? text(size, n * 1000) : binary(size, n * 1000 + 1);
        const back = new Promise((r) => { waiting = r; });
        ws.send(sent);
        const got = await back;
        let problem;
        if (got === null) problem = "connection closed";
        else if (kind === "text") {
          problem = typeof got !== "string" ? "came back as binary"
            : got === sent ? "" : same(new TextEncoder().encode(sent), new TextEncoder().encode(got));
        } else {
          problem = !(got instanceof ArrayBuffer) ? "came back as text" : same(sent, new Uint8Array(got));
        }
        out.results.push({ kind, size, problem });
        if (problem) return fail(`${kind} ${size}: ${problem}`);
      }
      ws.close(1000, "done");
    };
  });
}

/**
 * The round trip of MESSAGES from `page` to `url`, checked: every message
 * came back whole, and the close was clean. Returns the page's view.
 */
async function roundTrip(page, url, what) {
  const seen = await page.evaluate(roundTripInPage, { url, messages: MESSAGES });
  const sizes = seen.results.map((r) => `${r.kind} ${r.size}`).join(", ");
  check(!seen.error && seen.results.length === MESSAGES.length && seen.results.every((r) => !r.problem),
    `${what}: ${seen.results.length} of ${MESSAGES.length} messages came back unchanged (${sizes})` +
    `${seen.error ? "; " + seen.error : ""}; close ${seen.close}`);
  check(/^1000 /.test(seen.close || ""), `${what}: closed cleanly (${seen.close})`);
  return seen;
}

/** Bytes of all MESSAGES' payloads, one way. */
const PAYLOAD_BYTES = MESSAGES.reduce((n, m) => n + m.size, 0);

/**
 * Runs `main`, then `cleanup`, under a hard bound; exits non-zero on any
 * failure.
 */
function run(name, seconds, main, cleanup) {
  const watchdog = setTimeout(() => {
    console.error(`${name}: timed out after ${seconds} s`);
    Promise.resolve(cleanup()).finally(() => process.exit(1));
  }, seconds * 1000);
  main().then(
    async () => { await cleanup(); clearTimeout(watchdog); log(`PASS: ${name}`); },
    async (e) => {
      console.error(`FAIL: ${name}: ${e && e.stack ? e.stack : e}`);
      await cleanup();
      clearTimeout(watchdog);
      process.exit(1);
    },
  );
}

module.exports = {
  FLAGS, log, check, freePort, waitForHttp, Server, relay, launch, roundTrip, MESSAGES, PAYLOAD_BYTES, run,
};
