// Node's `ws` (8.x) as tinyws's peer in scripts/interop.sh.
//
//     node peer.js client URL [--ca FILE] [--no-deflate]
//     node peer.js server [--tls CERT KEY]
//
// client: connects to a tinyws echo server (wss:// trusting only the CA in
// FILE, the certificate checked against the URL's host), checks the
// negotiated Sec-WebSocket-Extensions (permessage-deflate with both
// no_context_takeover parameters, or none with --no-deflate), echoes text
// and binary messages below and above tinyws's 128-byte threshold, up to
// 300 KiB, checks each echo byte for byte, then closes with 1000 and checks
// the server's 1000. With deflate, each compressible message above the
// threshold must come back in fewer than a quarter of its size in TCP bytes
// (the socket's bytesRead): the server compressed it.
//
// server: an echo server with permessage-deflate on (`perMessageDeflate:
// true`, the library's defaults otherwise), on 127.0.0.1 and a free port,
// printed as "listening on 127.0.0.1:PORT". A text message "?wire" is
// answered with the TCP bytes received on this connection so far.
//
// Every failure exits 1 with a line that says what differed (3 when the
// server's certificate was rejected); every wait has a timeout
// (INTEROP_TIMEOUT seconds, default 30).
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const https = require('https');
const WebSocket = require('ws');

const TIMEOUT = 1000 * Number(process.env.INTEROP_TIMEOUT || 30);
const BIG = 300 * 1024;

function fail(what) {
  console.error('peer.js: FAILED: ' + what);
  process.exit(1);
}

function messages() {
  const line = '{"sensor":"t\u00e9mp\u00e9rature \u2103","value":21.5,"unit":"\u{1F321}"}\n';
  let big = line.repeat(Math.ceil(BIG / Buffer.byteLength(line)));
  while (Buffer.byteLength(big) > BIG) big = big.slice(0, -1);
  return [
    ['text 64 B', 'x'.repeat(64), false],
    ['binary 64 B', Buffer.from([...Array(64).keys()]), false],
    ['text 4 KiB', line.repeat(100).slice(0, 4096), true],
    ['binary 4 KiB', Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 7)), true],
    [`text ${Buffer.byteLength(big)} B`, big, true],
    ['binary 300 KiB', Buffer.from(Array.from({ length: BIG }, (_, i) => (i * i) % 13)), true],
    ['random binary 300 KiB', crypto.randomBytes(BIG), false],
  ];
}

// Bytes of WebSocket frames read on this connection (for wss://, after
// decryption: a TLS socket counts its plaintext).
function wireBytes(ws) {
  return ws._socket.bytesRead;
}

function client(url, ca, deflate) {
  const opts = { perMessageDeflate: deflate, maxPayload: 1 << 24, handshakeTimeout: TIMEOUT };
  if (ca) opts.ca = fs.readFileSync(ca);
  const ws = new WebSocket(url, opts);
  const timer = setTimeout(() => fail('no progress in ' + TIMEOUT / 1000 + ' s'), TIMEOUT);
  const queue = messages();
  let current = null;
  let before = 0;
  const next = () => {
    current = queue.shift();
    if (!current) {
      ws.close(1000);
      return;
    }
    before = wireBytes(ws);
    ws.send(current[1], { binary: typeof current[1] !== 'string' });
  };
  ws.on('upgrade', (res) => {
    const ext = res.headers['sec-websocket-extensions'];
    console.log(`node client: ${url} negotiated ${JSON.stringify(ext)}`);
    if (deflate) {
      if (!ext) fail('tinyws declined permessage-deflate');
      const parts = ext.split(';').map((p) => p.trim());
      if (parts[0] !== 'permessage-deflate' ||
          !parts.includes('server_no_context_takeover') ||
          !parts.includes('client_no_context_takeover')) {
        fail('unexpected extension answer ' + ext);
      }
    } else if (ext !== undefined) {
      fail('an extension was negotiated without an offer: ' + ext);
    }
  });
  ws.on('open', next);
  ws.on('message', (data, isBinary) => {
    const [name, payload, compressible] = current;
    const onWire = wireBytes(ws) - before;
    const sent = typeof payload === 'string' ? Buffer.from(payload) : payload;
    if (isBinary !== (typeof payload !== 'string')) fail(`${name} came back with the other opcode`);
    if (!Buffer.from(data).equals(sent)) fail(`${name} came back different (${data.length} bytes)`);
    console.log(`node client: ${name} echoed, ${onWire} B on the wire`);
    if (deflate && compressible && onWire * 4 > sent.length) {
      fail(`${name}: ${onWire} B on the wire, the server did not compress it`);
    }
    if (!deflate && onWire < sent.length) fail(`${name}: ${onWire} B on the wire without deflate`);
    next();
  });
  ws.on('close', (code) => {
    clearTimeout(timer);
    if (current) fail(`closed with ${code} before the last echo`);
    if (code !== 1000) fail(`the server closed with ${code}, not 1000`);
    console.log('node client: closed with 1000');
  });
  ws.on('error', (e) => {
    if (/verify|self.signed|certificate/i.test(String(e.code) + e.message)) {
      console.error(`peer.js: certificate rejected: ${e.message}`);
      process.exit(3);
    }
    fail(String(e));
  });
}

function server(tls) {
  const web = tls
    ? https.createServer({ cert: fs.readFileSync(tls[0]), key: fs.readFileSync(tls[1]) })
    : http.createServer();
  const wss = new WebSocket.Server({ server: web, perMessageDeflate: true, maxPayload: 1 << 24 });
  wss.on('headers', (headers) => {
    const ext = headers.find((h) => /^sec-websocket-extensions:/i.test(h));
    console.log(`node server: answered ${JSON.stringify(ext || null)}`);
  });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      if (!isBinary && data.toString() === '?wire') ws.send(String(wireBytes(ws)));
      else ws.send(data, { binary: isBinary });
    });
  });
  web.listen(0, '127.0.0.1', () => console.log(`listening on 127.0.0.1:${web.address().port}`));
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === 'client' && rest.length >= 1) {
  const ca = rest.includes('--ca') ? rest[rest.indexOf('--ca') + 1] : null;
  client(rest[0], ca, !rest.includes('--no-deflate'));
} else if (mode === 'server') {
  const i = rest.indexOf('--tls');
  server(i >= 0 ? [rest[i + 1], rest[i + 2]] : null);
} else {
  console.error('usage: node peer.js client URL [--ca FILE] [--no-deflate] | server [--tls CERT KEY]');
  process.exit(2);
}
