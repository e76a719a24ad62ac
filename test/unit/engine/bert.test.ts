import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as tf from '../../../src/server/engine/tf';
import { initBackend, type BackendName } from '../../../src/server/engine/backend';
import { BertForSequenceClassification, crossEntropyLoss } from '../../../src/server/engine/bert';
import { bertParamsFromCheckpoint } from '../../../src/server/engine/checkpoint/bert-weights';
import { readSafetensors } from '../../../src/server/engine/checkpoint/safetensors';
import { readBertConfig } from '../../../src/server/engine/model-config';
import { TINY_BERT, loadGolden, maxAbsDiff } from '../../helpers/golden';

const golden = loadGolden();

async function tinyBert(): Promise<BertForSequenceClassification> {
  const { config } = readBertConfig(TINY_BERT);
  const { tensors } = await readSafetensors(join(TINY_BERT, 'model.safetensors'));
  const { params, warnings } = bertParamsFromCheckpoint(tensors, config, 'model.safetensors');
  assert.deepEqual(warnings, []);
  return new BertForSequenceClassification(config, params);
}

function goldenInputs() {
  const shape: [number, number] = [golden.batch.input_ids.length, golden.batch.input_ids[0].length];
  return {
    inputIds: tf.tensor2d(golden.batch.input_ids.flat(), shape, 'int32'),
    attentionMask: tf.tensor2d(golden.batch.attention_mask.flat(), shape, 'int32'),
    tokenTypeIds: tf.tensor2d(golden.batch.token_type_ids.flat(), shape, 'int32'),
  };
}

for (const backend of ['wasm', 'cpu'] as BackendName[]) {
  test(`${backend}: forward pass equals Hugging Face's within the golden tolerances`, async () => {
    await initBackend(backend);
    const model = await tinyBert();
    tf.tidy(() => {
      const out = model.forward(goldenInputs(), { training: false });
      const labels = tf.tensor1d(golden.batch.labels, 'int32');
      const check = (name: string, t: tf.Tensor, expected: any, tol: number) => {
        const diff = maxAbsDiff(t.dataSync(), expected);
        assert.ok(diff <= tol, `${name}: max abs diff ${diff} > ${tol}`);
      };
      check('embedding_output', out.embeddingOutput, golden.outputs.embedding_output, 1e-4);
      check('layer_0_output', out.layerOutputs[0], golden.outputs.layer_0_output, 1e-4);
      check('last_hidden_state', out.layerOutputs[out.layerOutputs.length - 1], golden.outputs.last_hidden_state, 1e-4);
      check('pooler_output', out.pooledOutput, golden.outputs.pooler_output, 2e-5);
      check('logits', out.logits, golden.outputs.logits, 2e-5);
      check('probs', tf.softmax(out.logits), golden.outputs.probs, 2e-5);
      check('loss', crossEntropyLoss(out.logits, labels), [golden.outputs.loss], 2e-5);
    });
    for (const p of model.params.values()) p.dispose();
  });

  test(`${backend}: one backward pass gives Hugging Face's gradients within 2e-5`, async () => {
    await initBackend(backend);
    const model = await tinyBert();
    const before = tf.memory().numTensors;
    const { grads, value } = tf.variableGrads(() =>
      crossEntropyLoss(model.forward(goldenInputs(), { training: false }).logits, tf.tensor1d(golden.batch.labels, 'int32')),
    );
    const byName = new Map([...model.params].map(([name, v]) => [v.name, name]));
    const grad = (name: string) => Object.entries(grads).find(([id]) => byName.get(id) === name)![1];
    const check = (name: string, actual: ArrayLike<number>, expected: any) => {
      const diff = maxAbsDiff(actual, expected);
      assert.ok(diff <= 2e-5, `${name}: max abs diff ${diff}`);
    };
    const classifierGrad = grad('classifier.weight').transpose(); // held as [in, out]
    check('classifier.weight', classifierGrad.dataSync(), golden.gradients['classifier.weight']);
    classifierGrad.dispose();
    check('bert.pooler.dense.bias', grad('bert.pooler.dense.bias').dataSync(), golden.gradients['bert.pooler.dense.bias']);
    const ln = 'bert.encoder.layer.1.output.LayerNorm.weight';
    check(ln, grad(ln).dataSync(), golden.gradients[ln]);
    const words = grad('bert.embeddings.word_embeddings.weight').arraySync() as number[][];
    const rows = golden.gradients['bert.embeddings.word_embeddings.weight'];
    for (const [id, expected] of Object.entries(rows)) check(`word_embeddings[${id}]`, words[Number(id)], expected);
    assert.deepEqual(words[0], new Array(32).fill(0), 'the [PAD] row gets no gradient');
    value.dispose();
    tf.dispose(Object.values(grads));
    assert.equal(tf.memory().numTensors, before, 'no tensor leaks from a backward pass');
    for (const p of model.params.values()) p.dispose();
  });
}
