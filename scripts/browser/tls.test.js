// The sensor dashboard over https and wss in headless Chromium (issue 15,
// item 7), with the test CA trusted the way a Linux desktop trusts one: in
// the NSS database of the browser's HOME, never --ignore-certificate-errors.
// First the control: a browser whose NSS database lacks the CA refuses the
// page. Then, with the CA trusted, the page loads over https, readings
// arrive over wss with permessage-deflate agreed (and logged by the server),
// and text and binary messages up to 512 KiB come back unchanged over the
// dashboard's wss /echo.
//
// Run by scripts/browser-test.sh, which makes the certificates with
// scripts/tls-test-certs.sh and the NSS database with certutil. Inputs:
//   SENSOR_FEED_TLS_BIN  examples/sensor_feed built with `tls` and `deflate`
//   TLS_DIR              ca.pem, a.pem and a.key (for localhost, 127.0.0.1)
//   TRUSTED_HOME         a HOME whose .pki/nssdb trusts ca.pem
//   CHROMIUM             the browser (default /usr/bin/chromium)
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { log, check, freePort, Server, launch, roundTrip } = require("./common");

let server = null;
const browsers = [];
let emptyHome = null;

async function main() {
  for (const v of ["SENSOR_FEED_TLS_BIN", "TLS_DIR", "TRUSTED_HOME"]) if (!process.env[v]) throw new Error(`${v} is not set`);
  const dir = process.env.TLS_DIR;
  const port = await freePort();
  const url = `https://localhost:${port}/`;
  server = new Server("sensor_feed", process.env.SENSOR_FEED_TLS_BIN,
    [`127.0.0.1:${port}`, "--tls-cert", path.join(dir, "a.pem"), "--tls-key", path.join(dir, "a.key")],
    { RUST_LOG: "info,tinyws=debug" });
  await server.start(url, fs.readFileSync(path.join(dir, "ca.pem")));

  // 1. The control: without the CA in its NSS database, Chromium refuses.
  emptyHome = fs.mkdtempSync(path.join(os.tmpdir(), "tinyws-home-"));
  const untrusted = await launch(emptyHome);
  browsers.push(untrusted);
  let refused = "";
  try {
    await untrusted.page.goto(url, { waitUntil: "load" });
  } catch (e) {
    refused = String(e.message || e).split("\n")[0];
  }
  check(/ERR_CERT_AUTHORITY_INVALID/.test(refused), `without the CA trusted the page is refused: ${refused || "it loaded"}`);
  await untrusted.close();

  // 2. With the CA trusted through NSS.
  const browser = await launch(process.env.TRUSTED_HOME);
  browsers.push(browser);
  const { page, pageErrors } = browser;
  const response = await page.goto(url, { waitUntil: "load" });
  check(response && response.status() === 200, `${url} loaded (status ${response && response.status()})`);
  const tls = await response.securityDetails();
  check(tls && /tinyws test CA/.test(tls.issuer || ""), `served over ${tls && tls.protocol}, certificate issued by "${tls && tls.issuer}"`);
  check(await page.evaluate(() => window.isSecureContext), "the page is a secure context");

  await page.waitForFunction(() => window.sensorFeed.state === "connected" && window.sensorFeed.received >= 10);
  const feed = await page.evaluate(() => ({ ...window.sensorFeed, points: undefined }));
  check(feed.url === `wss://localhost:${port}/ws`, `the feed is ${feed.url}`);
  check(typeof feed.last.celsius === "number", `readings arrive over wss (${feed.received}; last ${JSON.stringify(feed.last)})`);
  check(/^permessage-deflate\b/.test(feed.extensions), `the feed agreed to "${feed.extensions}"`);
  const agreed = await server.waitLogged("agreed to permessage-deflate");
  check(agreed.length >= 1, `the server logged "${(agreed[0] || "").trim()}"`);

  const seen = await roundTrip(page, `wss://localhost:${port}/echo`, "wss /echo");
  check(/^permessage-deflate\b/.test(seen.extensions), `wss /echo agreed to "${seen.extensions}"`);

  const before = feed.received;
  await page.waitForFunction((n) => window.sensorFeed.received >= n + 5, before).catch(() => {});
  const after = await page.evaluate(() => window.sensorFeed.received);
  check(after >= before + 5, `readings keep arriving after the round trip (${before} -> ${after})`);
  const shots = process.env.SCREENSHOT_DIR;
  if (shots) {
    const shot = path.join(shots, "sensor_feed-https.png");
    await page.screenshot({ path: shot });
    log(`screenshot: ${shot}`);
  }
  check(pageErrors.length === 0, `no page errors${pageErrors.length ? ": " + pageErrors.join("; ") : ""}`);
}

async function cleanup() {
  for (const b of browsers) await b.close();
  if (server) await server.stop();
  if (emptyHome) fs.rmSync(emptyHome, { recursive: true, force: true });
}

require("./common").run("https/wss dashboard", 120, main, cleanup);
