import { describe, expect, it } from 'vitest';
import { IdSet, idsOf, packIds } from '../../src/reports/id-set.js';
import { hexId } from './store-fixture.js';

/** The period report's packed ID lists and the set that numbers IDs across months (src/reports/id-set.ts). */
describe('packed ID lists and the period ID set', () => {
  it('packs 32-hex IDs into 16 bytes each, keeps any other ID as text, and gives them all back', () => {
    const ids = [hexId('a'), 'not-a-hash', hexId('b'), 'ABCDEF0123456789ABCDEF0123456789'];
    const { list, order } = packIds(ids);
    expect(list.hex.length).toBe(32);
    expect(list.other).toEqual(['not-a-hash', 'ABCDEF0123456789ABCDEF0123456789']); // upper case is not the store's form
    expect(order).toEqual([hexId('a'), hexId('b'), 'not-a-hash', 'ABCDEF0123456789ABCDEF0123456789']);
    expect([...idsOf(list)]).toEqual(order);
    expect([...idsOf(packIds([]).list)]).toEqual([]);
  });

  it('numbers IDs in order of first sight across lists, exactly, past many table growths', () => {
    const set = new IdSet();
    // IDs that differ in one word only (as sequential synthetic IDs do), 50k of them over 3 lists.
    const ids = Array.from({ length: 50_000 }, (_, i) => i.toString(16).padStart(32, '0'));
    const first = set.addAll(packIds(ids.slice(0, 30_000)).list);
    expect([...first]).toEqual(ids.slice(0, 30_000).map((_, i) => i));
    const second = set.addAll(packIds([...ids.slice(20_000, 50_000), 'odd-1']).list);
    expect(second[0]).toBe(20_000); // seen in the first list
    expect(second[10_000]).toBe(30_000); // new: numbered after every earlier one
    expect(second[30_000]).toBe(50_000); // the text ID, after the hex ones of its list
    const third = set.addAll(packIds(['odd-1', ids[49_999]!, 'odd-2']).list);
    expect([...third]).toEqual([49_999, 50_000, 50_001]); // hex first in list order, then text
    expect(set.size).toBe(50_002);
  });
});
