import { Ajv } from 'ajv';
import type { ValidateFunction } from 'ajv';
import { loadProtocolSchema } from './schema.js';
import type { BeaconMessage } from './types.js';

/**
 * The protocol's JSON Schema compiled once at start. `allErrors: false` stops at the first error:
 * the receiver only needs a yes/no, and hostile input should cost as little as possible.
 */
export function compileNativeValidator(): (value: unknown) => value is BeaconMessage {
  const ajv = new Ajv({ allErrors: false, strict: false, validateFormats: false });
  const validate = ajv.compile(loadProtocolSchema()) as ValidateFunction<BeaconMessage>;
  return (value: unknown): value is BeaconMessage => validate(value);
}
