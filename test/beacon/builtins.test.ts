import { homedir } from 'node:os';
import { join } from 'node:path';
import { existsSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { joinPath, stateDirFromEnv } from '../../src/beacon/config.js';
import { ROOT, cleanEnv, runNode, type Listener, type TempHome, perTestListenerAndHome } from './helpers.js';

let listener: Listener;
let home: TempHome;
perTestListenerAndHome((l, h) => {
  listener = l;
  home = h;
});

describe('start-path shortcuts give what node:path and node:os would', () => {
  it('joinPath equals path.join for normal and abnormal directories', () => {
    const dirs = [
      '/home/u/.config',
      '/',
      '//',
      '/a//b',
      '/a/b/',
      '/a/./b',
      '/a/../b',
      'rel',
      'rel/x',
      './rel',
      '../up',
      '.',
      '..',
      '',
      'a/.',
      'a/..',
      '/a/.b/..c',
      '/a b/c',
    ];
    for (const dir of dirs) {
      for (const name of ['state.json', '.config/usage-beacon', 'usage-beacon'])
        expect([dir, name, joinPath(dir, name)]).toEqual([dir, name, join(dir, name)]);
    }
  });

  it('the default state directory is still under os.homedir()', () => {
    expect(stateDirFromEnv({})).toBe(join(homedir(), '.config', 'usage-beacon'));
    expect(stateDirFromEnv({ XDG_CONFIG_HOME: '/x/y/' })).toBe('/x/y/usage-beacon');
  });
});

describe('a Node without process.getBuiltinModule', () => {
  it('importing still works and startBeacon() disables itself and touches no file; the host runs and exits as without it', async () => {
    const script = join(home.dir, 'old-node.mjs');
    writeFileSync(
      script,
      `delete process.getBuiltinModule;\n` +
        `const { startBeacon } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'dist/beacon/index.js')).href)});\n` +
        `const b = startBeacon({ project: 'old', version: '1' });\n` +
        `console.log(b.enabled, b.reason);\nprocess.exitCode = 5;\n`,
    );
    const r = await runNode([script], { env: cleanEnv({ BEACON_HOME: home.home, BEACON_COLLECTOR: listener.collector }) });
    expect(r.stdout).toBe(`false needs Node.js >= 20.16 (this is ${process.version})\n`);
    expect(r.code).toBe(5);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(listener.messages()).toEqual([]);
    expect(existsSync(home.home)).toBe(false);
  });
});
