// statsd 0.9.0's own UDP server (node_modules/statsd/servers/udp.js) plus one line: the socket
// asks for the same 8 MiB receive buffer `beacon receive` and the bare floor ask for, so the
// yardstick measures statsd's processing rather than the kernel's default buffer (~200 KiB, a
// few hundred datagrams, which a busy machine's scheduling pauses overflow at any rate).
const dgram = require('node:dgram');

exports.start = function start(config, callback) {
  const server = dgram.createSocket(config.address_ipv6 ? 'udp6' : 'udp4', callback);
  server.bind(config.port || 8125, config.address || undefined, () => {
    try {
      server.setRecvBufferSize(8 * 1024 * 1024);
    } catch {
      // the kernel's limit (net.core.rmem_max) applies to every subject alike
    }
  });
  this.server = server;
  return true;
};
