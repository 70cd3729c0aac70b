import { PREVIEW_COMMAND } from './config.js';

/**
 * The first-run notice: shown once per user and project on stderr (never stdout, which may be
 * the program's data), and recorded in the state file so it does not repeat. Every command in it
 * must work for the person reading it, wherever they are: see config.ts for the defaults, and an
 * embedding tool can name its own opt-out command. `false` is the documented opt-out value.
 */
export function noticeText(project: string, optOutEnv: string, collector: string, optOutCommand: string): string {
  return (
    `\n${project} collects anonymous usage statistics (usage-beacon): a random run ID, the ` +
    `${project} version, runtime, OS, CPU architecture, whether this is CI, run duration, exit code ` +
    `and keyed-hash IDs of your user, host and script that cannot be reversed. No names, paths ` +
    `or IP addresses are sent. Datagrams go to ${collector}.\n` +
    `  See exactly what is sent:  ${PREVIEW_COMMAND}   (or BEACON_DEBUG=1 to print instead of send)\n` +
    `  Opt out:  export ${optOutEnv}=false   or   DO_NOT_TRACK=1   or   ${optOutCommand}\n` +
    `This notice is shown once.\n\n`
  );
}

export function writeNotice(text: string): void {
  try {
    process.stderr.write(text);
  } catch {
    // A closed stderr must not turn a courtesy message into a crash.
  }
}
