/**
 * The candidate nearest to `word` by edit distance, when it is near enough to
 * be a typo (one edit for words of one or two letters, else at most 2, or a
 * third of the word for long ones): the one
 * "did you mean" of hsu.yaml's keys, unit names and the CLI's commands. With
 * `prefix`, a candidate that `word` (two letters or more) begins counts as
 * one edit away, so `hsu val` suggests `validate`.
 */
export function closest(word: string, candidates: readonly string[], options: { prefix?: boolean } = {}): string | undefined {
  let best: string | undefined;
  // Short words are a guess at one edit already: two would make "v" into "up".
  let bestDistance = (word.length <= 2 ? 1 : Math.max(2, Math.floor(word.length / 3))) + 1;
  for (const c of candidates) {
    const d = options.prefix && word.length >= 2 && c.startsWith(word) ? 1 : Math.abs(c.length - word.length) >= bestDistance ? bestDistance : editDistance(word, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
