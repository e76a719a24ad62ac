import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanText, DEFAULT_CLEAN } from '../../../src/server/engine/data';

const clean = (text: string, off: Partial<typeof DEFAULT_CLEAN> = {}) => cleanText(text, { ...DEFAULT_CLEAN, ...off });

test('HTML tags and <br /> become spaces; entities are decoded after them', () => {
  assert.equal(clean('Great film.<br /><br />Really &amp; truly.'), 'Great film. Really & truly.');
  assert.equal(clean('<p>It was <b>bad</b></p><!-- x -->'), 'It was bad');
  assert.equal(clean('I &lt;3 it &#39;a lot&#39; &quot;x&quot; caf&eacute;'), 'I <3 it \'a lot\' "x" café');
});

test('text that only looks like HTML is kept', () => {
  assert.equal(clean('a < b and c > d'), 'a < b and c > d');
  assert.equal(clean('I <3 this'), 'I <3 this');
  assert.equal(clean('AT&T &notice R&D'), 'AT&T &notice R&D');
});

test('control and zero-width characters are removed, whitespace collapsed', () => {
  assert.equal(clean('  a\u0000b\u200Bc\u0007\t\n d\u00a0e\r\n'), 'abc d e');
});

test('each step can be switched off', () => {
  assert.equal(clean('a<br />b', { html: false }), 'a<br />b');
  assert.equal(clean('a &amp; b', { entities: false }), 'a &amp; b');
  assert.equal(clean('a\u0000b', { controlChars: false }), 'a\u0000b');
  assert.equal(clean('  a \n b  ', { whitespace: false }), '  a \n b  ');
  const none = { html: false, entities: false, controlChars: false, whitespace: false };
  assert.equal(clean(' <i>x</i> &amp;\u0001 ', none), ' <i>x</i> &amp;\u0001 ');
});
