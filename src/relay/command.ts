import { resolveRelayOptions, type RelayCliOptions } from './options.js';
import { runRelay } from './relay.js';

/** `beacon relay`: forward datagrams from a cluster's network to the collector (docs/receiver.md, "Relay"). */
export async function relayCommand(cli: RelayCliOptions): Promise<number> {
  return runRelay(resolveRelayOptions(cli));
}
