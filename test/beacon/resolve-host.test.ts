import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeQuery, lookupHostsFile, parseAnswer, parseResolvConf, resolveHost } from '../../src/beacon/resolve-host.js';
import { FIXTURES, tempHome, type TempHome } from './helpers.js';

let home: TempHome;
let dns: ChildProcess | undefined;
beforeEach(() => {
  home = tempHome();
});
afterEach(() => {
  dns?.kill('SIGTERM');
  home.cleanup();
});

async function fakeDns(mode: string, answer = '127.0.0.9'): Promise<number> {
  dns = spawn(process.execPath, [join(FIXTURES, 'fake-dns.mjs'), '127.0.0.1', '0', mode, answer], { stdio: ['ignore', 'pipe', 'ignore'] });
  return new Promise((resolve) => dns!.stdout!.on('data', (d) => resolve(Number(/listening (\d+)/.exec(String(d))![1]))));
}

function files(hosts: string, resolv: string, port = 53) {
  writeFileSync(join(home.dir, 'hosts'), hosts);
  writeFileSync(join(home.dir, 'resolv.conf'), resolv);
  return { hosts: join(home.dir, 'hosts'), resolvConf: join(home.dir, 'resolv.conf'), port };
}

describe('hosts and resolv.conf parsing', () => {
  it('finds names in a hosts file, IPv4 first, ignoring comments and case', () => {
    const text = '# c\n::1 ip6-localhost db.local\n10.1.2.3  web  DB.local # trailing\n';
    expect(lookupHostsFile('db.local', text)).toEqual({ address: '10.1.2.3', family: 4 });
    expect(lookupHostsFile('ip6-localhost', text)).toEqual({ address: '::1', family: 6 });
    expect(lookupHostsFile('nope', text)).toBeUndefined();
  });

  it('reads at most three name servers and the search list', () => {
    const conf = parseResolvConf(
      'nameserver 10.0.0.1\nnameserver bogus\nnameserver ::1\nnameserver 1.1.1.1\nnameserver 8.8.8.8\nsearch a.org b.org\n',
    );
    expect(conf.nameservers).toEqual(['10.0.0.1', '::1', '1.1.1.1']);
    expect(conf.search).toEqual(['a.org', 'b.org']);
    expect(parseResolvConf('').nameservers).toEqual(['127.0.0.1']);
  });
});

describe('DNS replies are untrusted input', () => {
  it('rejects replies with the wrong ID or without the response bit; survives truncated garbage', () => {
    const q = encodeQuery(0x1234, 'collector.example.org', 1);
    expect(parseAnswer(q, 0x1234, 1)).toBeUndefined(); // a query, not a reply
    const reply = Buffer.from(q);
    reply[2] = 0x81;
    expect(parseAnswer(reply, 0x9999, 1)).toBeUndefined();
    expect(parseAnswer(reply, 0x1234, 1)).toEqual([]);
    for (let n = 0; n < 60; n++) {
      const junk = Buffer.concat([reply.subarray(0, 6), Buffer.from([0, 5]), Buffer.alloc(n, 0xc0)]);
      expect(() => parseAnswer(junk, 0x1234, 1)).not.toThrow();
    }
    expect(() => encodeQuery(1, 'a..b', 1)).toThrow(RangeError);
  });
});

describe('resolveHost against a real (fake) DNS server on loopback', () => {
  it('resolves an A record', async () => {
    const port = await fakeDns('answer', '127.0.0.9');
    expect(await resolveHost('collector.example.org', files('', 'nameserver 127.0.0.1\n', port))).toEqual({
      address: '127.0.0.9',
      family: 4,
    });
  });

  it('NXDOMAIN → undefined', async () => {
    const port = await fakeDns('nxdomain');
    expect(await resolveHost('no.such.name', files('', 'nameserver 127.0.0.1\n', port))).toBeUndefined();
  });

  it('the hosts file wins and needs no DNS at all', async () => {
    expect(await resolveHost('collector.lan', files('10.9.8.7 collector.lan\n', 'nameserver 127.0.0.1\n', 9))).toEqual({
      address: '10.9.8.7',
      family: 4,
    });
    expect(await resolveHost('localhost', files('', ''))).toEqual({ address: '127.0.0.1', family: 4 });
  });

  it('a server that never answers: the promise stays pending and holds nothing open', async () => {
    // Measured from outside: a child process that starts a hung resolution must exit at once.
    const silent = createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
    const f = files('', 'nameserver 127.0.0.1\n', silent.address().port);
    const { runNode } = await import('./helpers.js');
    const script = join(home.dir, 'hang.mjs');
    writeFileSync(
      script,
      `import { resolveHost } from ${JSON.stringify(new URL('../../dist/beacon/resolve-host.js', import.meta.url).href)};\n` +
        `resolveHost('x.example.org', ${JSON.stringify(f)}).then((r) => console.log('resolved', r));\nconsole.log('started');\n`,
    );
    let queries = 0;
    silent.on('message', () => queries++);
    const t0 = Date.now();
    const r = await runNode([script], { env: { PATH: process.env.PATH } });
    expect(r.stdout).toBe('started\n'); // exited without waiting for an answer
    expect(Date.now() - t0).toBeLessThan(1900); // our query timeout is 2 s; exiting before it means nothing waited
    await new Promise((res) => setTimeout(res, 100));
    expect(queries).toBe(1);
    silent.close();
  });
});
