import { DEFAULT_COPIES } from '../protocol/limits.js';

/**
 * The methodology and privacy text shared by the md and html reports: fixed prose (never data),
 * written without Markdown syntax so both renderers can use it as is (html escapes it).
 */
export interface Section {
  title: string;
  paragraphs: string[];
}

export function methodology(k: number): Section[] {
  return [
    {
      title: 'What is collected',
      paragraphs: [
        'When a tool that embeds the beacon runs, it sends one small UDP datagram at the start and one at the end of the run. A datagram holds: a run ID (new for every run: its start time and random bits), the tool name and version, the language runtime and its version, the operating system and CPU architecture, whether a CI environment was detected, a few configuration counts (components), and at the end the exit code and the run length.',
        'It never holds a user name, host name, file path, command line, IP address or any content of the work. The collector does not store the sender address.',
      ],
    },
    {
      title: 'How IDs are anonymized',
      paragraphs: [
        "Users, hosts and scripts are counted through anonymous IDs: HMAC-SHA-256 truncated to 128 bits, never the raw names. Each user has a random secret kept in a local state file; the user ID is derived from that secret alone and the script ID from the secret and the script path, so without the secret, which never leaves the machine, an ID cannot be linked to a name or to the same user's IDs in another tool. The host ID is keyed with the machine ID and the tool name (the application-specific ID that machine-id(5) recommends), or with the user secret when there is no machine ID.",
        `Counts of users are counts of distinct IDs. Any table cell backed by fewer than ${k} distinct users is shown as "< ${k}" and folded into "other"; runs that carry no user ID count as one user each for this rule.`,
      ],
    },
    {
      title: 'Opting out',
      paragraphs: [
        'Tracking is on by default and can be turned off at any time: set PARSL_TRACKING=false or DO_NOT_TRACK=1 in the environment, or run "npx usage-beacon disable" once (it persists for the user). A disabled beacon sends nothing at all.',
      ],
    },
    {
      title: 'Known limits',
      paragraphs: [
        `UDP loss: datagrams can be lost on the way. Each native datagram is sent ${DEFAULT_COPIES} times and the collector keeps one copy; the data quality section estimates how many were lost and how far each headline number could be off.`,
        'Month: a run belongs to the UTC month in which its first datagram reached the collector (the collector clock, not the user clock).',
        'Ephemeral IDs: when the beacon cannot write its state file, it uses a secret that lives only for that process, so the same person can be counted as several users.',
        'Parsl-compatible runs: Parsl clients of wire format 1 send no user, host or script ID and no exit code, so their runs count as runs but not in users, hosts, scripts or success rate. Legacy Parsl clients send short unsalted hashes of the user and host names (weak IDs); the collector stores them only re-keyed with a secret kept outside the database, and counts them like other IDs, but they were not anonymous on the wire.',
        'A run with a start but no end may have crashed, may still be running, or its end may have been lost; the report estimates how many of each.',
      ],
    },
  ];
}
