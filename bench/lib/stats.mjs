// Small statistics shared by the benchmarks.

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** A step counts as lossless when at least this share of what was sent got stored. */
export const LOSSLESS = 0.999;

/** The highest rate below which every tested rate was also lossless (steps sorted by rate). */
export function highestLossless(steps) {
  let highest = 0;
  for (const s of steps) {
    if (!s.lossless) break;
    highest = s.rate;
  }
  return highest;
}
