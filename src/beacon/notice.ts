/**
 * The first-run notice: shown once per user and project on stderr (never stdout, which may be
 * the program's data), and recorded in the state file so it does not repeat.
 */
export function noticeText(project: string, optOutEnv: string, collector: string): string {
  return (
    `\n${project} collects anonymous usage statistics (usage-beacon): a random run ID, the ` +
    `${project} version, runtime, OS, CPU architecture, whether this is CI, run duration, exit code ` +
    `and keyed-hash IDs of your user, host and script that cannot be reversed. No names, paths ` +
    `or IP addresses are sent. Datagrams go to ${collector}.\n` +
    `  See exactly what is sent:  npx beacon preview   (or BEACON_DEBUG=1 to print instead of send)\n` +
    `  Opt out:  export ${optOutEnv}=off   or   DO_NOT_TRACK=1   or   npx beacon disable\n` +
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
