// permessage-deflate between headless Chromium and tinyws (issue 14, item
// 6): against `tinyws echo` (deflate on by default) and the sensor
// dashboard's /echo (built with the `deflate` feature), the browser agrees
// to permessage-deflate (`ws.extensions`), the server logs the agreement,
// and text and binary messages from 40 bytes to 512 KiB come back
// unchanged. A byte-counting relay between them shows that both directions
// went compressed. `tinyws echo --no-deflate` is the control: no agreement,
// and the same messages cost their full size on the wire.
//
// Run by scripts/browser-test.sh. Inputs from the environment:
//   TINYWS_BIN       the tool
//   SENSOR_FEED_BIN  examples/sensor_feed built with `deflate`
//   CHROMIUM         the browser (default /usr/bin/chromium)
"use strict";

const { log, check, freePort, Server, relay, launch, roundTrip, PAYLOAD_BYTES, run } = require("./common");

const servers = [];
const relays = [];
let browser = null;

/**
 * Starts `server` on `port`, opens `page` through a relay in front of it,
 * and round-trips the messages over ws://…/echo. Returns what the page saw
 * and the relay's count for the WebSocket connection.
 */
async function echoThroughRelay(page, server, port, pagePath, what) {
  servers.push(server);
  await server.start(`http://127.0.0.1:${port}${pagePath}`);
  const wire = await relay(port);
  relays.push(wire);
  await page.goto(`http://127.0.0.1:${wire.port}${pagePath}`, { waitUntil: "load" });
  const seen = await roundTrip(page, `ws://127.0.0.1:${wire.port}/echo`, what);
  // The relay sees the close a moment after the page does.
  const deadline = Date.now() + 5000;
  let conn;
  while (!(conn = wire.connections.find((c) => c.first && c.first.startsWith("GET /echo ") && c.closed))) {
    if (Date.now() > deadline) throw new Error(`${what}: the relay saw no closed /echo connection`);
    await new Promise((r) => setTimeout(r, 50));
  }
  log(`${what}: on the wire ${conn.up} bytes up, ${conn.down} bytes down, for ${PAYLOAD_BYTES} bytes of messages each way`);
  return { seen, conn };
}

async function deflated(page, server, port, pagePath, what) {
  const { seen, conn } = await echoThroughRelay(page, server, port, pagePath, what);
  check(/^permessage-deflate\b/.test(seen.extensions), `${what}: ws.extensions is "${seen.extensions}"`);
  const agreed = await server.waitLogged("agreed to permessage-deflate");
  check(agreed.length >= 1, `${what}: the server logged "${(agreed[0] || "").trim()}"`);
  // The messages compress to well under half; each way on its own shows
  // that that side compressed (the browser up, tinyws down).
  check(conn.up < PAYLOAD_BYTES / 2, `${what}: the browser's messages went compressed (${conn.up} < ${PAYLOAD_BYTES / 2})`);
  check(conn.down < PAYLOAD_BYTES / 2, `${what}: the server's messages went compressed (${conn.down} < ${PAYLOAD_BYTES / 2})`);
}

async function main() {
  for (const v of ["TINYWS_BIN", "SENSOR_FEED_BIN"]) if (!process.env[v]) throw new Error(`${v} is not set`);
  browser = await launch();
  const { page, pageErrors } = browser;

  // 1. The tool: deflate by default. Its console page gives the origin.
  let port = await freePort();
  await deflated(page,
    new Server("tinyws", process.env.TINYWS_BIN, ["echo", "--addr", `127.0.0.1:${port}`, "--console", "--log-level", "info,tinyws=debug"]),
    port, "/", "tinyws echo");

  // 2. The control: the same with --no-deflate.
  port = await freePort();
  const plain = new Server("plain", process.env.TINYWS_BIN, ["echo", "--addr", `127.0.0.1:${port}`, "--console", "--no-deflate", "--log-level", "info,tinyws=debug"]);
  const { seen, conn } = await echoThroughRelay(page, plain, port, "/", "tinyws echo --no-deflate");
  check(seen.extensions === "", `--no-deflate: ws.extensions is empty ("${seen.extensions}")`);
  check(plain.logged("agreed to").length === 0, "--no-deflate: the server logged no agreement");
  check(conn.up > PAYLOAD_BYTES && conn.down > PAYLOAD_BYTES, `--no-deflate: the messages went whole both ways (${conn.up} and ${conn.down} > ${PAYLOAD_BYTES})`);

  // 3. The sensor dashboard built with `deflate`: its /echo.
  port = await freePort();
  await deflated(page,
    new Server("sensor_feed", process.env.SENSOR_FEED_BIN, [`127.0.0.1:${port}`], { RUST_LOG: "info,tinyws=debug" }),
    port, "/", "sensor dashboard /echo");
  await page.waitForFunction(() => window.sensorFeed.received >= 3);
  check(/^permessage-deflate\b/.test(await page.evaluate(() => window.sensorFeed.extensions)),
    "sensor dashboard: the page's own feed agreed to permessage-deflate, and readings arrive");

  check(pageErrors.length === 0, `no page errors${pageErrors.length ? ": " + pageErrors.join("; ") : ""}`);
}

async function cleanup() {
  if (browser) await browser.close();
  for (const r of relays) await r.close();
  for (const s of servers) await s.stop();
}

run("permessage-deflate", 120, main, cleanup);
