import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unpickle, type PickleValue } from '../../../src/server/engine/checkpoint/pickle';
import { UserError } from '../../../src/server/engine/errors';

const FILE = '/models/evil/pytorch_model.bin';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const latin1 = (s: string) => Uint8Array.from(Buffer.from(s, 'latin1'));

function load(bytes: Uint8Array): PickleValue {
  return unpickle(bytes, { file: FILE }).value;
}

function assertRefused(bytes: Uint8Array, kind: string, ...mentions: string[]) {
  assert.throws(
    () => load(bytes),
    (e: unknown) => {
      assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
      assert.equal(e.kind, kind);
      assert.equal(e.file, FILE);
      for (const m of ['pytorch_model.bin', ...mentions]) assert.ok(e.message.includes(m), `"${e.message}" should mention ${m}`);
      assert.ok(e.fix);
      return true;
    },
  );
}

// pickle.dumps({'a': [1, -2, 3.5, True, False, None, 'x', (1, 2), (), (1,), (1, 2, 3)],
//               'big': 2**70, 'neg': -300, 'i4': 70000, 'memo': (shared, shared)}) with shared = ['s']
const PROTOCOL_2 =
  '80027d71002858010000006171015d7102284b014afeffffff47400c00000000000088894e58010000007871034b014b02867104294b018571054b014b024b0387710665580300000062696771078a0900000000000000004058030000006e656771084ad4feffff5802000000693471094a7011010058040000006d656d6f710a5d710b580100000073710c61680b86710d752e';
// the same plus 'b': b'\x00\x01', in protocol 4 (FRAME, SHORT_BINUNICODE, MEMOIZE, SHORT_BINBYTES)
const PROTOCOL_4 =
  '80049578000000000000007d94288c0161945d94284b014afeffffff47400c00000000000088894e8c0178944b014b028694294b0185944b014b024b038794658c03626967948a090000000000000000408c036e6567944ad4feffff8c026934944a701101008c01629443020001948c046d656d6f945d948c01739461680d8694752e';

test('plain values come out as JS values, tuples frozen, memo shared', () => {
  for (const bytes of [PROTOCOL_2, PROTOCOL_4]) {
    const value = load(hex(bytes));
    assert.ok(value instanceof Map);
    assert.deepEqual(value.get('a'), [1, -2, 3.5, true, false, null, 'x', [1, 2], [], [1], [1, 2, 3]]);
    assert.equal(value.get('big'), 2n ** 70n);
    assert.equal(value.get('neg'), -300);
    assert.equal(value.get('i4'), 70000);
    const a = value.get('a') as PickleValue[];
    assert.ok(!Object.isFrozen(a) && Object.isFrozen(a[7]), 'lists are mutable, tuples frozen');
    const memo = value.get('memo') as PickleValue[];
    assert.equal(memo[0], memo[1], 'BINGET returns the very object BINPUT stored');
  }
  assert.deepEqual((load(hex(PROTOCOL_4)) as Map<PickleValue, PickleValue>).get('b'), Uint8Array.of(0, 1));
});

test('an OrderedDict becomes a Map', () => {
  // pickle.dumps(OrderedDict([('k', 1.0)]), protocol=2)
  const value = load(hex('800263636f6c6c656374696f6e730a4f726465726564446963740a71002952710158010000006b7102473ff0000000000000732e'));
  assert.deepEqual(value, new Map([['k', 1]]));
});

test('the end offset lets the legacy format read pickles in a row', () => {
  const two = latin1('\x80\x02K\x07.\x80\x02K\x08.');
  const first = unpickle(two, { file: FILE });
  assert.deepEqual(first, { value: 7, end: 5 });
  assert.deepEqual(unpickle(two, { file: FILE, start: first.end }), { value: 8, end: 10 });
});

test('GLOBAL os.system is refused, naming the file and the global', () => {
  assertRefused(latin1('\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.'), 'unsafe-pickle', 'os.system');
});

test('STACK_GLOBAL builtins.eval is refused', () => {
  // pickle.dumps(obj, protocol=4) where obj.__reduce__ returns (eval, ("print('owned')",))
  assertRefused(hex('8004952a000000000000008c086275696c74696e73948c046576616c9493948c0e7072696e7428276f776e6564272994859452942e'), 'unsafe-pickle', 'builtins.eval');
});

test('other dangerous or unknown globals are refused', () => {
  assertRefused(latin1('\x80\x02c__builtin__\nexec\n)R.'), 'unsafe-pickle', '__builtin__.exec');
  assertRefused(latin1('\x80\x02csubprocess\nPopen\n)R.'), 'unsafe-pickle', 'subprocess.Popen');
  assertRefused(latin1('\x80\x02ctorch\nload\n.'), 'unsafe-pickle', 'torch.load');
  // harmless but not in a state_dict: protocol 2 pickles bytes through _codecs.encode
  assertRefused(latin1('\x80\x02c_codecs\nencode\n.'), 'unsafe-pickle', '_codecs.encode');
});

test('opcodes outside the subset are refused, naming the opcode', () => {
  assertRefused(latin1('\x80\x02(cos\nsystem\nX\x02\x00\x00\x00lso.'), 'unsafe-pickle', 'os.system'); // the global is refused before OBJ runs
  assertRefused(latin1('\x80\x02(X\x02\x00\x00\x00lsios\nsystem\n.'), 'unsafe-pickle', 'opcode 0x69'); // INST
  assertRefused(latin1('\x80\x02N)\x81.'), 'unsafe-pickle', 'opcode 0x81'); // NEWOBJ
  assertRefused(latin1('\x80\x02X\x02\x00\x00\x00idQ.'), 'unsafe-pickle', 'persistent id'); // BINPERSID with no storage reader
});

test('calling an allowed global that is not a function is refused', () => {
  assertRefused(latin1('\x80\x02ctorch\nFloatStorage\n)R.'), 'unsafe-pickle', 'call');
});

test('a cut-short pickle is truncated-weights, a malformed one bad-weights', () => {
  assertRefused(latin1('\x80\x02X\x10\x00\x00\x00abc'), 'truncated-weights', 'byte 7');
  assertRefused(latin1('\x80\x02}'), 'truncated-weights');
  assertRefused(latin1('\x80\x02cos\nsys'), 'truncated-weights');
  assertRefused(latin1('\x80\x02h\x05.'), 'bad-weights', 'memo');
  assertRefused(latin1('\x80\x02K\x01K\x02.'), 'bad-weights', 'STOP');
  assertRefused(latin1('\x80\x02K\x01u.'), 'bad-weights', 'MARK');
  assertRefused(latin1('\x80\x02)K\x01a.'), 'bad-weights', 'APPEND'); // a tuple is not a list
  assertRefused(latin1('\x80\x09N.'), 'bad-weights', 'protocol 9');
});

test('a very long MARK run is read without overflowing the call stack', () => {
  const n = 300_000;
  const bytes = Buffer.concat([Buffer.from('\x80\x02](', 'latin1'), Buffer.alloc(n, 'N'), Buffer.from('e.', 'latin1')]);
  assert.equal((load(bytes) as PickleValue[]).length, n);
});
