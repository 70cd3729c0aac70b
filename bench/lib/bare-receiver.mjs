// The bare floor of bench/receiver.mjs: node:dgram, JSON.parse of each datagram, a count. What
// Node itself costs per datagram before any of the receiver's work. Same receive buffer as
// `beacon receive` asks for. Prints {"port":N} once bound; answers each line on stdin with
// {"count":N,"failed":M}.
import { createSocket } from 'node:dgram';
import { createInterface } from 'node:readline';

const socket = createSocket({ type: 'udp4', reuseAddr: false });
let count = 0;
let failed = 0;
socket.on('message', (buf) => {
  try {
    if (JSON.parse(buf.toString()) !== null) count++;
  } catch {
    failed++;
  }
});
socket.bind(0, '127.0.0.1', () => {
  try {
    socket.setRecvBufferSize(8 * 1024 * 1024);
  } catch {
    // what the kernel grants is what the floor gets
  }
  process.stdout.write(`${JSON.stringify({ port: socket.address().port })}\n`);
});
createInterface({ input: process.stdin })
  .on('line', () => process.stdout.write(`${JSON.stringify({ count, failed })}\n`))
  .on('close', () => socket.close());
