/**
 * Numbers of wire protocol v1. Every part (beacon, receiver, reports) reads limits from here;
 * none restates them.
 */
export const PROTOCOL_VERSION = 1 as const;

/** Largest datagram a beacon ever sends: fits one unfragmented packet on any real path (IPv6 min MTU 1280). */
export const MAX_DATAGRAM_BYTES = 1200;

/**
 * Largest datagram the receiver even tries to decode. Larger than MAX_DATAGRAM_BYTES because
 * Parsl's level-3 messages can exceed 1 KiB; anything above this is rejected as oversized unread.
 */
export const RECEIVER_MAX_BYTES = 8192;

export const MAX_COMPONENTS = 16;
export const MAX_COMPONENT_KEY_LENGTH = 32;
export const MAX_COMPONENT_STRING_LENGTH = 64;
export const COMPONENT_KEY_PATTERN = /^[a-z0-9_.-]{1,32}$/;

/** Longest project / version / runtime string; os and arch are shorter. */
export const MAX_LABEL_LENGTH = 64;
export const MAX_PLATFORM_LENGTH = 32;

/** Anonymized IDs: 128 bits, lowercase hex. */
export const ID_HEX_LENGTH = 32;

/** Each datagram is sent this many times by default (identical bytes); receivers dedupe on (run, kind). */
export const DEFAULT_COPIES = 2;
export const MAX_COPIES = 5;

/** Parsl's port, so a Parsl user can point at a usage-beacon collector unchanged. */
export const DEFAULT_PORT = 50077;
export const DEFAULT_COLLECTOR = `127.0.0.1:${DEFAULT_PORT}`;

/** A run longer than this is implausible: the receiver rejects its end rather than skew reports. */
export const MAX_PLAUSIBLE_DURATION_MS = 366 * 24 * 3600 * 1000;
