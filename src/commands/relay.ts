import { resolveRelayOptions, type RelayCliOptions } from '../relay/options.js';
import { runRelay } from '../relay/relay.js';

/** The options as commander hands them over; resolved (environment, defaults) by the relay. */
export type RelayCommandOptions = RelayCliOptions;

/** `beacon relay`: forward datagrams from a cluster's network to the collector (docs/receiver.md, "Relay"). */
export async function relayCommand(cli: RelayCliOptions): Promise<number> {
  return runRelay(resolveRelayOptions(cli));
}
