import { BeaconError } from '../errors.js';
import { createRunEncoder, parseCollector } from '../protocol/index.js';
import { envConsent, resolveConfig } from '../beacon/config.js';
import { buildIdentity } from '../beacon/emitter.js';
import { detectCi } from '../beacon/ci-detect.js';
import { hasValidSecret, newSecret, readState } from '../beacon/state-file.js';
import { readSitePolicy, type SitePolicy } from '../beacon/site-policy.js';

export interface PreviewOptions {
  project?: string;
  collector?: string;
  optOutEnv?: string;
  env?: NodeJS.ProcessEnv;
  out?: (line: string) => void;
}

/**
 * `beacon preview`: whether tracking is on and which setting decided it, where datagrams would go,
 * and the exact bytes of a start and an end. Sends nothing and writes nothing.
 */
export async function previewCommand(opts: PreviewOptions = {}): Promise<number> {
  const env = opts.env ?? process.env;
  const out = opts.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  if (opts.collector !== undefined && !parseCollector(opts.collector)) {
    throw new BeaconError('BEACON_ERR_BAD_COLLECTOR', `--collector must be host:port, got "${opts.collector}"`);
  }
  const site = readSitePolicy(env);
  const cfg = resolveConfig(
    { project: opts.project || env.BEACON_PROJECT || 'beacon', collector: opts.collector, optOutEnv: opts.optOutEnv },
    env,
    opts.collector ? undefined : site,
  );
  const consent = envConsent(env, cfg.optOutEnv);
  const siteOff = site.status === 'ok' && site.tracking === 'off';
  const read = readState(cfg.statePath);
  const state = read.status === 'ok' ? read.state : undefined;

  let tracking: string;
  if (consent.choice === 'off') tracking = `off — ${consent.reason}`;
  else if (siteOff) tracking = `off — turned off for all users by the site policy (${site.path})`;
  else if (consent.choice === 'on') tracking = `on — ${consent.reason}`;
  else if (state?.enabled === false) tracking = `off — disabled by \`beacon disable\` (state file)`;
  else if (state?.enabled === true) tracking = `on — enabled by \`beacon enable\` (state file)`;
  else tracking = `on — ${consent.reason}`;
  const on = tracking.startsWith('on');

  out(`tracking:    ${tracking}`);
  out(`opt out:     ${cfg.optOutEnv}=false, DO_NOT_TRACK=1, or \`${cfg.optOutCommand}\``);
  out(`site policy: ${describeSite(site)}`);
  if (site.status === 'ok' && site.notice) out(`site notice: ${site.notice.replace(/\n/g, ' / ')}`);
  const fromSite =
    site.status === 'ok' &&
    site.collector !== undefined &&
    cfg.collectorSpec === site.collector &&
    !opts.collector &&
    !env.BEACON_COLLECTOR;
  out(
    `collector:   ${cfg.collectorSpec}${fromSite ? ` (from the site policy ${site.path})` : ''}${cfg.collector ? '' : ' (unusable: nothing would be sent)'}`,
  );
  out(
    `state file:  ${cfg.statePath} (${read.status === 'ok' ? 'exists' : read.status === 'missing' ? 'not created yet' : `unusable: ${read.detail}`})`,
  );
  out(`debug:       ${cfg.debug ? 'BEACON_DEBUG is set: datagrams are printed to stderr, not sent' : 'off'}`);
  out(`copies:      each datagram is sent ${cfg.copies}× (identical bytes)`);

  const known = state && hasValidSecret(state);
  const identity = buildIdentity(cfg, {
    secret: known ? state.secret : newSecret(),
    eph: !known && read.status === 'invalid',
    runtime: `node/${process.versions.node}`,
    scriptKey: '[preview]',
    ci: detectCi(env),
  });
  const enc = createRunEncoder(identity);
  const start = enc.start(Date.now());
  const end = enc.end(Date.now() + 1234, 0, 1234);
  out('');
  out(
    on
      ? 'A run would send exactly these bytes (the script ID differs per script):'
      : 'Nothing is sent. If tracking were on, a run would send:',
  );
  if (!known) out('(no secret yet: the IDs below are from a throwaway secret; the first tracked run creates the real one)');
  out(`start (${start.length} bytes):`);
  out(start.toString('utf8'));
  out(`end (${end.length} bytes):`);
  out(end.toString('utf8'));
  return 0;
}

/** One line: which site policy applied and from which file, or why none did. */
export function describeSite(site: SitePolicy): string {
  if (site.status === 'none') return `none (${site.path} does not exist)`;
  if (site.status === 'invalid') return `IGNORED: ${site.path} is malformed (${site.detail}); defaults apply`;
  const parts = [site.tracking === 'off' ? 'tracking off for all users' : 'tracking allowed'];
  if (site.collector) parts.push(`collector ${site.collector}`);
  if (site.notice) parts.push('a notice for users');
  return `${site.path}: ${parts.join(', ')}`;
}
