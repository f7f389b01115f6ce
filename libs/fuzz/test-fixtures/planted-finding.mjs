// A fuzz target with a planted failure behind three string comparisons, for the test that the Jazzer.js
// runner finds it by coverage and comparison feedback (the instrumentation reports both sides of each
// `===` to libFuzzer) and keeps the input as a corpus finding.
export function fuzz(data) {
  const text = data.toString('utf8');
  // Long enough that each comparison sees whole strings: libFuzzer then replaces the compared bytes.
  if (text.length < 25) return;
  if (text.slice(0, 6) !== 'kind: ') return;
  if (text.slice(6, 13) !== 'Sidecar') return;
  if (text.slice(13, 25) === ' planted-bug') throw new Error('planted failure reached');
}
