/**
 * TensorFlow.js core, with every op's gradient and the chained ops (`t.reshape(…)`) registered.
 * `@tensorflow/tfjs-core` alone leaves both out (the full `@tensorflow/tfjs` package adds them);
 * the engine imports TF.js from here.
 */
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops';

export * from '@tensorflow/tfjs-core';
