/** `train`: fine-tune a model on a dataset and save it in Hugging Face's layout. */
import { fineTune, type FineTuneEvent } from '../server/engine/fine-tune';
import { formatSummary } from '../server/engine/data';
import { formatLearningCheck } from '../server/engine/train/learning-check';
import type { TrainSettings } from '../server/engine/train/trainer';
import { interruptSignal, type CliCommand, type CliOutput, type CliValues } from './command';
import { datasetOptions, inspectCommand } from './inspect';
import { MODEL_LOADING_OPTIONS, OPTIMIZER_OPTIONS, choiceOption, intOption, modelLoading, numberOption, requiredString } from './options';

export const trainCommand: CliCommand = {
  name: 'train',
  summary: 'fine-tune a model on a dataset (file or folder) and save it',
  usage: `Usage: bert-workbench train --data <file|folder> --model <dir|hub id|builtin:tiny-bert> --out <dir>
       [--epochs N] [--max-steps N] [--batch-size N] [--lr X] [--max-length N] [--seed N]
       [--weight-decay X] [--warmup-ratio X] [--patience N] [--eval-steps N] [--metric accuracy|macroF1|loss]
       [--class-weights none|balanced] [--freeze-embeddings] [--freeze-layers N] [--train-head-only]
       [--adapt-steps N] [--resume] [--overwrite] [--workers N] [--backend auto|tensorflow|wasm|cpu] [--offline] [--cache-dir DIR]
       [dataset options as for inspect: --text-column C --label-column C --validation-split F …] [--json]

  --epochs N           passes over the training data (default 3)
  --max-steps N        stop after N optimizer steps (the schedule spans them)
  --batch-size N       examples per step (default 32)
  --lr X               peak learning rate (default: by model size, 3e-5 for bert-base … 3e-3 for tiny models)
  --max-length N       tokens per example, [CLS] and [SEP] included (default 128)
  --weight-decay X     AdamW's decoupled weight decay, not on biases and LayerNorm (default 0.01)
  --warmup-ratio X     share of steps with a linear warmup, then linear decay to 0 (default 0.1)
  --patience N         stop after N evaluations without improvement; 0 never stops early (default 2)
  --eval-steps N       also evaluate every N steps (default: after each epoch only)
  --metric M           what "best" means for early stopping and the kept weights (default accuracy)
  --class-weights W    'balanced' weights the loss by inverse class frequency (default none)
  --freeze-embeddings  keep the embeddings as they are
  --freeze-layers N    keep the bottom N encoder layers as they are
  --train-head-only    train only the pooler and the classifier
  --adapt-steps N      first continue masked-LM pre-training on the dataset's own text (all splits, no labels)
                       for N steps (domain-adaptive pre-training), then fine-tune that; kept in --out/adapted
  --resume             continue the interrupted run whose checkpoints are in --out
  --overwrite          replace a model already in --out
  --workers N          data-parallel worker threads, 1 to 16; 0 = as many as the machine can spare (default 0)
  --json               one JSON object per line: the dataset summary, progress, evaluations, then {"event":"done",…}`,
  options: {
    ...inspectCommand.options,
    model: { type: 'string' },
    out: { type: 'string' },
    ...OPTIMIZER_OPTIONS,
    patience: { type: 'string' },
    'eval-steps': { type: 'string' },
    metric: { type: 'string' },
    'class-weights': { type: 'string' },
    'freeze-embeddings': { type: 'boolean' },
    'freeze-layers': { type: 'string' },
    'train-head-only': { type: 'boolean' },
    'adapt-steps': { type: 'string' },
    resume: { type: 'boolean' },
    overwrite: { type: 'boolean' },
    workers: { type: 'string' },
    ...MODEL_LOADING_OPTIONS,
  },
  streams: true,
  async run(values, _positionals, out) {
    const result = await fineTune(
      {
        data: requiredString(values, 'data'),
        dataset: datasetOptions(values),
        model: requiredString(values, 'model'),
        outDir: requiredString(values, 'out'),
        settings: trainSettings(values),
        ...loadingRequest(values),
        resume: values.resume === true,
        overwrite: values.overwrite === true,
        workers: intOption(values, 'workers', 0, 16) ?? 0,
        adaptSteps: intOption(values, 'adapt-steps', 1, 10_000_000),
      },
      { onEvent: (e) => report(e, out), signal: interruptSignal('') },
    );
    const pct = (x?: number) => (x === undefined ? 'n/a' : (100 * x).toFixed(2));
    out.result(
      { event: 'done', ...result, history: undefined },
      `${result.status}: ${result.steps} steps; best validation accuracy ${pct(result.best?.accuracy)}% (step ${result.bestStep ?? '-'})` +
        `${result.test ? `, test accuracy ${pct(result.test.accuracy)}%` : ''}; model saved in ${result.modelDir}`,
    );
    // The small-data guard: with --json it is the done event's `learning`; for people, a paragraph on stderr.
    if (result.learning && !out.json) console.error(`\n${formatLearningCheck(result.learning)}\n`);
  },
};

function loadingRequest(values: CliValues) {
  const { backend, offline, cacheDir } = modelLoading(values);
  return { backend, hub: { offline, cacheDir } };
}

function trainSettings(values: CliValues): Partial<TrainSettings> {
  const metric = choiceOption(values, 'metric', ['accuracy', 'macroF1', 'loss'] as const);
  const classWeights = choiceOption(values, 'class-weights', ['none', 'balanced'] as const);
  const settings: Partial<TrainSettings> = {
    epochs: intOption(values, 'epochs', 1, 1000),
    maxSteps: intOption(values, 'max-steps', 1, 10_000_000),
    batchSize: intOption(values, 'batch-size', 1, 4096),
    learningRate: numberOption(values, 'lr', 1e-9, 1),
    maxLength: intOption(values, 'max-length', 2, 512),
    seed: intOption(values, 'seed', 0, 2 ** 32 - 1),
    weightDecay: numberOption(values, 'weight-decay', 0, 1),
    warmupRatio: numberOption(values, 'warmup-ratio', 0, 1),
    earlyStoppingPatience: intOption(values, 'patience', 0, 1000),
    evalEverySteps: intOption(values, 'eval-steps', 1, 10_000_000),
    metricForBest: metric,
    classWeights,
    freeze: {
      embeddings: values['freeze-embeddings'] === true,
      layers: intOption(values, 'freeze-layers', 0, 1000) ?? 0,
      allButHead: values['train-head-only'] === true,
    },
  };
  return Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined));
}

function report(e: FineTuneEvent, out: CliOutput): void {
  if (e.event === 'done') return; // the result is the done line, printed once by run()
  out.event(e);
  if (out.json) return;
  switch (e.event) {
    case 'dataset':
      out.log(formatSummary(e.summary));
      break;
    case 'start':
      if (e.phase === 'mlm') {
        out.log(`Adapting ${e.modelRef} to the dataset's text (masked LM) on ${e.backend}: ${e.numTrain} texts, ${e.totalSteps} steps.`);
        break;
      }
      out.log(`Training ${e.modelRef} on ${e.backend} with ${e.workers} worker${e.workers === 1 ? '' : 's'}: ${e.numTrain} examples, ${e.totalSteps} steps (${e.stepsPerEpoch} per epoch)` +
        `${e.resumedFromStep ? `, resumed at step ${e.resumedFromStep}` : ''}.`);
      break;
    case 'mlm-eval':
      out.log(`adapted: held-out masked-LM loss ${e.metrics.loss.toFixed(4)}, accuracy ${(100 * e.metrics.accuracy).toFixed(2)}%`);
      break;
    case 'step':
      out.log(`${e.phase === 'mlm' ? 'MLM ' : ''}step ${e.step}/${e.totalSteps}  epoch ${e.epoch.toFixed(2)}  loss ${e.loss.toFixed(4)}  lr ${e.learningRate.toExponential(2)}  ` +
        `${e.samplesPerSec.toFixed(1)} samples/s  ETA ${Math.round(e.etaSec)} s`);
      break;
    case 'eval':
      out.log(`${e.split} at step ${e.step}: accuracy ${(100 * e.metrics.accuracy).toFixed(2)}%  macro F1 ${(100 * e.metrics.macroF1).toFixed(2)}%` +
        `${e.metrics.loss !== undefined ? `  loss ${e.metrics.loss.toFixed(4)}` : ''}${e.isBest ? '  (best so far)' : ''}`);
      break;
    default:
      break;
  }
}
