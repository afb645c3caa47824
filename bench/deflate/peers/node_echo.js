// The Node `ws` echo of scripts/deflate-bench.sh.
// usage: NODE_PATH=DIR/node_modules node node_echo.js [plain | deflate | takeover]
//   deflate:  perMessageDeflate with threshold 0 (every message compressed)
//             and no context takeover either way; zlib's other defaults
//   takeover: the same with ws's default context takeover
//   plain:    perMessageDeflate off
// Listens on an ephemeral port of 127.0.0.1 and prints it on stdout.
'use strict';
const { WebSocketServer } = require('ws');
const mode = process.argv[2] || 'deflate';
const perMessageDeflate = mode === 'plain' ? false : {
  threshold: 0,
  serverNoContextTakeover: mode === 'deflate',
  clientNoContextTakeover: mode === 'deflate',
};
const wss = new WebSocketServer({
  host: '127.0.0.1', port: 0, perMessageDeflate, maxPayload: 64 * 1024 * 1024,
  clientTracking: false,
});
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
wss.on('listening', () => {
  const v = require('ws/package.json').version;
  process.stdout.write(`node ws ${v} ${process.version} ${mode} on ws://127.0.0.1:${wss.address().port}\n`);
});
