import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Segment, type SegmentOptions, sentenceSpans, splitIntoSegments } from '../../../src/extension/annotations/segments';

const lineOptions: SegmentOptions = { granularity: 'line', minLength: 1, markdown: false };
const split = (text: string, options: Partial<SegmentOptions> = {}) => splitIntoSegments(text.split('\n'), { ...lineOptions, ...options });
const texts = (segments: Segment[]) => segments.map((s) => s.text);
/** `line:character-line:character` of each segment. */
const ranges = (segments: Segment[]) => segments.map((s) => `${s.start.line}:${s.start.character}-${s.end.line}:${s.end.character}`);
const sentences = (text: string) => sentenceSpans(text).map(([from, to]) => text.slice(from, to));

test('line granularity: every non-empty line is a segment, without its surrounding whitespace', () => {
  const segments = split('I loved it.\n\n   The food was cold.  \n\t\nGreat service!');
  assert.deepEqual(texts(segments), ['I loved it.', 'The food was cold.', 'Great service!']);
  assert.deepEqual(ranges(segments), ['0:0-0:11', '2:3-2:21', '4:0-4:14']);
});

test('segments shorter than the minimum length are skipped', () => {
  const segments = split('OK\nThanks!\nThis is long enough.', { minLength: 10 });
  assert.deepEqual(texts(segments), ['This is long enough.']);
  assert.deepEqual(split('', { minLength: 1 }), []);
});

test('paragraph granularity: runs of non-blank lines joined by single spaces, the range spanning them', () => {
  const segments = split('The hotel was lovely\n  and the staff kind.\n\nThe food, however,\nwas awful.\n', { granularity: 'paragraph' });
  assert.deepEqual(texts(segments), ['The hotel was lovely and the staff kind.', 'The food, however, was awful.']);
  assert.deepEqual(ranges(segments), ['0:0-1:21', '3:0-4:10']);
});

test('sentence granularity: sentences may share a line or span lines, and map back to their ranges', () => {
  const doc = 'Great food. Terrible service!\nWould I go back? Maybe, if the\nprices drop.';
  const segments = split(doc, { granularity: 'sentence' });
  assert.deepEqual(texts(segments), ['Great food.', 'Terrible service!', 'Would I go back?', 'Maybe, if the prices drop.']);
  assert.deepEqual(ranges(segments), ['0:0-0:11', '0:12-0:29', '1:0-1:16', '1:17-2:12']);
  const lines = doc.split('\n');
  for (const s of segments.filter((s) => s.start.line === s.end.line)) {
    assert.equal(lines[s.start.line].slice(s.start.character, s.end.character), s.text);
  }
});

test('sentence ends: abbreviations, initials, decimals and ellipses before lower case do not end a sentence', () => {
  assert.deepEqual(sentences('Dr. Smith paid $3.50 for it, e.g. a bargain. Then he left.'), [
    'Dr. Smith paid $3.50 for it, e.g. a bargain.',
    'Then he left.',
  ]);
  assert.deepEqual(sentences('J. R. R. Tolkien wrote it. It is long.'), ['J. R. R. Tolkien wrote it.', 'It is long.']);
  assert.deepEqual(sentences('It was... fine. Really?! Yes.'), ['It was... fine.', 'Really?!', 'Yes.']);
  assert.deepEqual(sentences('I waited… Then it came.'), ['I waited…', 'Then it came.']);
  assert.deepEqual(sentences('He said "it is great." She did not agree.'), ['He said "it is great."', 'She did not agree.']);
  assert.deepEqual(sentences('lower case reviews . still split here . yes'), ['lower case reviews .', 'still split here .', 'yes']);
  assert.deepEqual(sentences('好吃。服务很差！'), ['好吃。', '服务很差！']);
  assert.deepEqual(sentences('No terminator at all'), ['No terminator at all']);
  assert.deepEqual(sentences('   '), []);
});

test('Markdown: fenced and indented code, front matter, comments and rules are skipped; markers are not text', () => {
  const doc = [
    '---', // 0 front matter
    'title: Notes',
    '---',
    '# A wonderful day ##', // 3
    '',
    'We had a *great* time.', // 5
    '',
    '```python', // 7
    'print("this is terrible code")',
    '```',
    '',
    '    indented code is skipped too', // 11
    '',
    '- The coffee was bitter.', // 13
    '- [x] The view was stunning.',
    '> Quoted: the staff were rude.', // 15
    '',
    '<!-- a comment',
    'that spans lines -->',
    '***',
    '| a | b |',
    '|---|---|',
    '~~~~',
    'unclosed fence runs to the end',
  ].join('\n');
  const segments = split(doc, { markdown: true });
  assert.deepEqual(texts(segments), [
    'A wonderful day',
    'We had a *great* time.',
    'The coffee was bitter.',
    'The view was stunning.',
    'Quoted: the staff were rude.',
    '| a | b |',
  ]);
  assert.deepEqual(ranges(segments).slice(0, 5), ['3:2-3:17', '5:0-5:22', '13:2-13:24', '14:6-14:28', '15:2-15:30']);
});

test('Markdown paragraphs: headings and list items are blocks of their own; list continuations are not code', () => {
  const doc = [
    '# Review',
    'The room was clean',
    'and quiet.',
    '- first item',
    '  continues here',
    '',
    '      still the list item, not code',
    '- second item',
  ].join('\n');
  const segments = split(doc, { markdown: true, granularity: 'paragraph' });
  assert.deepEqual(texts(segments), [
    'Review',
    'The room was clean and quiet.',
    'first item continues here',
    'still the list item, not code',
    'second item',
  ]);
});

test('the same text in plain text is not read as Markdown', () => {
  assert.deepEqual(texts(split('# not a heading\n```\ncode?\n```')), ['# not a heading', '```', 'code?', '```']);
});

// Unit tests do not time things: the splitting's speed shows in the end-to-end typing measurement.
test('5,000 lines in one paragraph are cut into the right number of segments at every granularity', () => {
  const lines = Array.from({ length: 5000 }, (_, i) => `Line ${i}: the service was ${i % 2 ? 'great' : 'slow'}. We will be back, maybe.`);
  for (const granularity of ['line', 'sentence', 'paragraph'] as const) {
    const segments = splitIntoSegments(lines, { granularity, minLength: 10, markdown: true });
    assert.equal(segments.length, { line: 5000, sentence: 10000, paragraph: 1 }[granularity]);
  }
});
