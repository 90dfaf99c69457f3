#!/usr/bin/env node
// The gRPC client of pcaps/tls-grpc (gen-tls-grpc.sh): @grpc/grpc-js over Node's tls and http2,
// run as
//
//   node --tls-keylog=KEYS client.js TARGET CA_PEM SNI OUT_JSON
//
// so that Node writes every TLS connection's secrets to KEYS (NSS key log format). It makes
// three connections to TARGET (one grpc-js Client each, with a subchannel pool of its own), every
// one with SNI = SNI (grpc.ssl_target_name_override, also the :authority):
//   c1  TLS 1.2-1.3 offered (Node's defaults: TLS 1.3 is chosen); its calls one after another,
//       then four calls in flight at once on the connection, then a stream the server aborts
//   c2  TLS 1.2 only (tls.createSecureContext minVersion = maxVersion = TLSv1.2); calls one
//       after another, then two at once
//   c3  TLS 1.3 only, TLS_CHACHA20_POLY1305_SHA256 the only suite offered
// Connections are opened one at a time (waitForReady) so that the TLS socket each one made is
// known: tls.connect is wrapped, before grpc-js is loaded, to note every TLS connection's
// client port, version, cipher (IANA name), ALPN and SNI as the client negotiated them.
//
// OUT_JSON (the schema; gen-tls-grpc.sh merges the server's view in: server.py merge):
//   versions      node, openssl (Node's), @grpc/grpc-js, @grpc/proto-loader
//   target, sni, service
//   connections[] id, client_address, client_port, server_address, server_port, sni,
//                 tls_version ("1.2"/"1.3"), tls_protocol (Node's "TLSv1.3"), cipher (IANA
//                 name), cipher_openssl, alpn, alpn_offered, handshake_start_ns,
//                 handshake_end_ns (secureConnect), calls (how many)
//   calls[]       id, connection, path (/wirespan.test.Echo/Method), service, method, kind
//                 (unary, server_stream, client_stream), request (the messages sent, as
//                 objects), request_messages, request_bytes (serialized, without gRPC's 5-byte
//                 prefixes), response_messages, response_bytes (likewise), grpc_status (code),
//                 grpc_status_name, grpc_message (null when none), traceparent (when sent),
//                 concurrent (the group of calls in flight together, else null), start_ns
//                 (before the call is made), end_ns (when its status arrived); times are Unix ns
//
// Exits 1 when a call ends otherwise than planned or the connections are not as planned.
'use strict';

const fs = require('fs');
const path = require('path');
const tls = require('tls');
const { performance } = require('perf_hooks');

function nowNs() {
  return Math.round((performance.timeOrigin + performance.now()) * 1e6);
}

// Every TLS connection the process makes, as its client sees it.
const tlsLog = [];
const tlsConnect = tls.connect;
tls.connect = function connect(...args) {
  const opts = args.find((a) => a && typeof a === 'object') || {};
  const rec = {
    handshake_start_ns: nowNs(),
    sni: opts.servername || null,
    alpn_offered: opts.ALPNProtocols ? [...opts.ALPNProtocols] : null,
  };
  tlsLog.push(rec);
  const socket = tlsConnect.apply(this, args);
  socket.once('secureConnect', () => {
    rec.handshake_end_ns = nowNs();
    const tcp = opts.socket || socket;
    rec.client_address = tcp.localAddress;
    rec.client_port = tcp.localPort;
    rec.server_address = tcp.remoteAddress;
    rec.server_port = tcp.remotePort;
    rec.tls_protocol = socket.getProtocol();
    rec.tls_version = rec.tls_protocol.replace(/^TLSv/, '');
    const cipher = socket.getCipher();
    rec.cipher = cipher.standardName;
    rec.cipher_openssl = cipher.name;
    rec.alpn = socket.alpnProtocol || null;
  });
  return socket;
};

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const [TARGET, CA_PEM, SNI, OUT] = process.argv.slice(2);
if (!OUT) {
  console.error('usage: node --tls-keylog=KEYS client.js TARGET CA_PEM SNI OUT_JSON');
  process.exit(2);
}
const SERVICE = 'wirespan.test.Echo';
const TRACEPARENT = '00-7a3c5e0f9b1d4c2e8f6a0b1c2d3e4f50-1f2e3d4c5b6a7988-01';
const TRACEPARENT_C3 = '00-c3c3a1b2c3d4e5f60718293a4b5c6d7e-0a1b2c3d4e5f6071-01';
const CA = fs.readFileSync(CA_PEM);
const packageDefinition = protoLoader.loadSync(path.join(__dirname, 'echo.proto'), {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: false,
});
const methods = packageDefinition[SERVICE];
const statusName = Object.fromEntries(Object.entries(grpc.status).map(([k, v]) => [v, k]));

const connections = [];
const calls = [];
const problems = [];

async function connect(id, credentials) {
  const client = new grpc.Client(TARGET, credentials, {
    'grpc.ssl_target_name_override': SNI,
    'grpc.default_authority': SNI,
    'grpc.use_local_subchannel_pool': 1,
  });
  const before = tlsLog.length;
  await new Promise((resolve, reject) => {
    client.waitForReady(Date.now() + 10000, (err) => (err ? reject(err) : resolve()));
  });
  const made = tlsLog.slice(before);
  if (made.length !== 1) {
    throw new Error(`${id}: ${made.length} TLS connections made, not one`);
  }
  const conn = { id, ...made[0], calls: 0 };
  connections.push(conn);
  return { id, client, conn };
}

// One call's record, with a serializer and a deserializer that count its messages and bytes.
function newCall(c, method, kind, concurrent) {
  const rec = {
    id: calls.length + 1,
    connection: c.id,
    path: `/${SERVICE}/${method}`,
    service: SERVICE,
    method,
    kind,
    request: [],
    request_messages: 0,
    request_bytes: 0,
    response_messages: 0,
    response_bytes: 0,
    grpc_status: null,
    grpc_status_name: null,
    grpc_message: null,
    traceparent: null,
    concurrent: concurrent || null,
    start_ns: null,
    end_ns: null,
  };
  calls.push(rec);
  c.conn.calls += 1;
  const def = methods[method];
  const serialize = (obj) => {
    const b = def.requestSerialize(obj);
    rec.request.push(obj);
    rec.request_messages += 1;
    rec.request_bytes += b.length;
    return b;
  };
  const deserialize = (buf) => {
    rec.response_messages += 1;
    rec.response_bytes += buf.length;
    return def.responseDeserialize(buf);
  };
  return { rec, serialize, deserialize };
}

function metadataFor(rec, traceparent) {
  const md = new grpc.Metadata();
  if (traceparent) {
    md.set('traceparent', traceparent);
    rec.traceparent = traceparent;
  }
  return md;
}

// Resolves with the record when the call's status has come; checks it is the planned one.
function finish(rec, call, want, resolve) {
  call.on('status', (st) => {
    rec.end_ns = nowNs();
    rec.grpc_status = st.code;
    rec.grpc_status_name = statusName[st.code];
    rec.grpc_message = st.code === grpc.status.OK ? null : st.details || null;
    if (st.code !== want) {
      problems.push(`call ${rec.id} ${rec.path}: status ${st.code} (${st.details}), not ${want}`);
    }
    resolve(rec);
  });
}

function unary(c, method, req, { want = grpc.status.OK, traceparent, concurrent } = {}) {
  const { rec, serialize, deserialize } = newCall(c, method, 'unary', concurrent);
  return new Promise((resolve) => {
    rec.start_ns = nowNs();
    const call = c.client.makeUnaryRequest(
      rec.path, serialize, deserialize, req, metadataFor(rec, traceparent), {}, () => {});
    finish(rec, call, want, resolve);
  });
}

function serverStream(c, req, { want = grpc.status.OK, concurrent } = {}) {
  const { rec, serialize, deserialize } = newCall(c, 'Count', 'server_stream', concurrent);
  return new Promise((resolve) => {
    rec.start_ns = nowNs();
    const call = c.client.makeServerStreamRequest(
      rec.path, serialize, deserialize, req, metadataFor(rec), {});
    call.on('data', () => {});
    call.on('error', () => {});
    finish(rec, call, want, resolve);
  });
}

function clientStream(c, texts, { concurrent } = {}) {
  const { rec, serialize, deserialize } = newCall(c, 'Gather', 'client_stream', concurrent);
  return new Promise((resolve) => {
    rec.start_ns = nowNs();
    const call = c.client.makeClientStreamRequest(
      rec.path, serialize, deserialize, metadataFor(rec), {}, () => {});
    finish(rec, call, grpc.status.OK, resolve);
    for (const text of texts) {
      call.write({ text });
    }
    call.end();
  });
}

// Calls in flight together: every one starts before any one ends.
async function together(group, promises) {
  const recs = await Promise.all(promises);
  const lastStart = Math.max(...recs.map((r) => r.start_ns));
  const firstEnd = Math.min(...recs.map((r) => r.end_ns));
  if (!(lastStart < firstEnd)) {
    problems.push(`group ${group}: the calls were not in flight together`);
  }
  return recs;
}

async function main() {
  const NOT_FOUND = grpc.status.NOT_FOUND;
  const c1 = await connect('c1', grpc.credentials.createSsl(CA));
  await unary(c1, 'Say', { text: 'hello over TLS 1.3' });
  await serverStream(c1, { key: 'k-1', n: 5 });
  await unary(c1, 'Lookup', { key: 'k-2' });
  await unary(c1, 'Lookup', { key: 'k-404' }, { want: NOT_FOUND });
  await clientStream(c1, ['one', 'two', 'three']);
  await together('g1', [
    unary(c1, 'Say', { text: 'first of four at once', delay_ms: 200 }, { concurrent: 'g1' }),
    unary(c1, 'Say', { text: 'second of four, traced', delay_ms: 150 },
      { concurrent: 'g1', traceparent: TRACEPARENT }),
    serverStream(c1, { key: 'k-3', n: 3, delay_ms: 60 }, { concurrent: 'g1' }),
    unary(c1, 'Lookup', { key: 'k-405' }, { want: NOT_FOUND, concurrent: 'g1' }),
  ]);
  await serverStream(c1, { key: 'k-1', n: 5, fail_after: 2 }, { want: grpc.status.ABORTED });

  const tls12 = tls.createSecureContext({ ca: CA, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
  const c2 = await connect('c2', grpc.credentials.createFromSecureContext(tls12));
  await unary(c2, 'Say', { text: 'hello over TLS 1.2' });
  await serverStream(c2, { key: 'k-2', n: 3 });
  await unary(c2, 'Lookup', { key: 'k-404' }, { want: NOT_FOUND });
  await together('g2', [
    unary(c2, 'Say', { text: 'first of three at once', delay_ms: 150 }, { concurrent: 'g2' }),
    clientStream(c2, ['a', 'b'], { concurrent: 'g2' }),
    unary(c2, 'Say', { text: 'third of three at once', delay_ms: 100 }, { concurrent: 'g2' }),
  ]);

  const chacha = tls.createSecureContext({
    ca: CA,
    minVersion: 'TLSv1.3',
    ciphers: 'TLS_CHACHA20_POLY1305_SHA256',
  });
  const c3 = await connect('c3', grpc.credentials.createFromSecureContext(chacha));
  await unary(c3, 'Say', { text: 'hello over ChaCha20' });
  await clientStream(c3, ['x', 'y', 'z', 'w']);
  await unary(c3, 'Lookup', { key: 'k-1' }, { traceparent: TRACEPARENT_C3 });

  for (const c of [c1, c2, c3]) {
    c.client.close();
  }
  if (tlsLog.length !== connections.length) {
    problems.push(`${tlsLog.length} TLS connections made, ${connections.length} planned`);
  }
  const want = { c1: '1.3', c2: '1.2', c3: '1.3' };
  for (const c of connections) {
    if (c.tls_version !== want[c.id] || c.alpn !== 'h2' || c.sni !== SNI) {
      problems.push(`${c.id}: ${c.tls_version} ${c.alpn} ${c.sni}: not as planned`);
    }
  }
  if (connections[2].cipher !== 'TLS_CHACHA20_POLY1305_SHA256') {
    problems.push(`c3: cipher ${connections[2].cipher}`);
  }
  const pkgVersion = (name) =>
    JSON.parse(fs.readFileSync(require.resolve(`${name}/package.json`), 'utf8')).version;
  const out = {
    versions: {
      node: process.version,
      openssl: process.versions.openssl,
      '@grpc/grpc-js': pkgVersion('@grpc/grpc-js'),
      '@grpc/proto-loader': pkgVersion('@grpc/proto-loader'),
    },
    target: TARGET,
    sni: SNI,
    service: SERVICE,
    connections,
    calls,
  };
  fs.writeFileSync(OUT, JSON.stringify(out, null, 1) + '\n');
  for (const c of connections) {
    console.log(`client.js: ${c.id} port ${c.client_port} TLS ${c.tls_version} ${c.cipher} ` +
      `alpn ${c.alpn}: ${c.calls} calls`);
  }
  if (problems.length) {
    console.error('client.js: not as planned:\n  ' + problems.join('\n  '));
    process.exit(1);
  }
}

main().catch((err) => {
  console.error(`client.js: ${err.stack || err}`);
  process.exit(1);
});
