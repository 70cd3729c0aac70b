import { describe, it } from 'vitest';
import { sqliteContractStore } from '../contract-adapters.js';
import { checkScenario, SCENARIOS } from '../store-contract.js';

/** The SQLite store against the shared RunStore contract (the PostgreSQL store runs the same table). */
describe('SQLite store: the RunStore contract', () => {
  for (const s of SCENARIOS) it(s.name, () => checkScenario(sqliteContractStore, s));
});
