/** `pretrain`: masked-language-model pre-training on text files or datasets; the output is a base model for `train`. */
import { pretrain, type PretrainSettings } from '../server/engine/mlm/pretrain';
import type { TrainEvent } from '../server/engine/train/events';
import { interruptSignal, type CliCommand, type CliOutput, type CliValues } from './command';
import { datasetOptions, inspectCommand } from './inspect';
import { MODEL_LOADING_OPTIONS, OPTIMIZER_OPTIONS, asUsage, intOption, modelLoading, numberOption, requiredString, stringList, stringOption } from './options';
import { parseShape } from '../server/engine/mlm/new-model';

export const pretrainCommand: CliCommand = {
  name: 'pretrain',
  summary: 'masked-LM pre-training on text files or datasets; the result is a base model for train',
  usage: `Usage: bert-workbench pretrain --data <file|folder> [--data …] --model <dir|hub id|builtin:name> --out <dir>
       [--epochs N] [--max-steps N] [--batch-size N] [--lr X] [--max-length N] [--seed N]
       [--mlm-probability X] [--weight-decay X] [--warmup-ratio X] [--checkpoint-steps N] [--shape S [--vocab-size N]]
       [--resume] [--overwrite] [--backend auto|tensorflow|wasm|cpu] [--offline] [--cache-dir DIR] [--json]

  --data PATH            a text file (.txt/.md: one text per line) or a dataset (its text only, every split); repeatable
  --model M              the model to continue from (its masked-LM head, cls.predictions, is used when it has one)
  --epochs N             passes over the text (default 1)
  --max-steps N          stop after N optimizer steps (the schedule spans them)
  --batch-size N         texts per step (default 32)
  --lr X                 peak learning rate (default 1e-4)
  --max-length N         tokens per text, [CLS] and [SEP] included (default 128)
  --mlm-probability X    share of tokens predicted: 80% become [MASK], 10% a random token, 10% stay (default 0.15)
  --checkpoint-steps N   a checkpoint every N steps, for --resume (default 1000)
  --shape S              start from random weights of this shape instead of --model's weights (--model then gives
                         the vocabulary): layers=2,hidden=128,heads=2,intermediate=512[,positions=512]
  --vocab-size N         with --shape: keep only the N word pieces the text uses most (plus every single character)
  --resume               continue the interrupted run whose checkpoints are in --out
  --overwrite            replace a model already in --out
  --json                 one JSON object per line: progress, then {"event":"done",…}

The output folder is a Hugging Face BertForMaskedLM (config.json, model.safetensors with cls.predictions.*,
the tokenizer files); give it to train as --model.`,
  options: {
    ...inspectCommand.options,
    data: { type: 'string', multiple: true },
    model: { type: 'string' },
    out: { type: 'string' },
    ...OPTIMIZER_OPTIONS,
    'mlm-probability': { type: 'string' },
    'checkpoint-steps': { type: 'string' },
    shape: { type: 'string' },
    'vocab-size': { type: 'string' },
    resume: { type: 'boolean' },
    overwrite: { type: 'boolean' },
    ...MODEL_LOADING_OPTIONS,
  },
  streams: true,
  async run(values, _positionals, out) {
    const { backend, offline, cacheDir } = modelLoading(values);
    const data = stringList(values, 'data');
    if (data.length === 0) requiredString(values, 'data');
    const shape = stringOption(values, 'shape');
    const result = await pretrain(
      {
        data,
        dataset: datasetOptions(values),
        model: requiredString(values, 'model'),
        outDir: requiredString(values, 'out'),
        settings: pretrainSettings(values),
        backend,
        hub: { offline, cacheDir },
        resume: values.resume === true,
        overwrite: values.overwrite === true,
        shape: shape === undefined ? undefined : asUsage(() => parseShape(shape)),
        vocabSize: intOption(values, 'vocab-size', 16, 1_000_000),
      },
      { onEvent: (e) => report(e, out), signal: interruptSignal(' and writing a checkpoint') },
    );
    for (const warning of result.warnings) out.warn(warning);
    const m = result.maskedLM;
    out.result(
      { event: 'done', ...result, warnings: undefined, history: undefined },
      `${result.status}: ${result.steps} steps; held-out masked-LM loss ${m.loss.toFixed(4)}, accuracy ${(100 * m.accuracy).toFixed(2)}% ` +
        `(${m.tokens} tokens); ${result.status === 'cancelled' ? 'checkpoint' : 'model'} saved in ${result.modelDir}`,
    );
  },
};

function pretrainSettings(values: CliValues): Partial<PretrainSettings> {
  const settings: Partial<PretrainSettings> = {
    epochs: intOption(values, 'epochs', 1, 1000),
    maxSteps: intOption(values, 'max-steps', 1, 10_000_000),
    batchSize: intOption(values, 'batch-size', 1, 4096),
    learningRate: numberOption(values, 'lr', 1e-9, 1),
    maxLength: intOption(values, 'max-length', 3, 512),
    seed: intOption(values, 'seed', 0, 2 ** 32 - 1),
    mlmProbability: numberOption(values, 'mlm-probability', 0.01, 0.99),
    weightDecay: numberOption(values, 'weight-decay', 0, 1),
    warmupRatio: numberOption(values, 'warmup-ratio', 0, 1),
    checkpointEverySteps: intOption(values, 'checkpoint-steps', 1, 10_000_000),
  };
  return Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined));
}

function report(e: TrainEvent, out: CliOutput): void {
  if (e.event === 'done') return; // the result is the done line, printed once by run()
  out.event(e);
  if (out.json) return;
  switch (e.event) {
    case 'start':
      out.log(`Pre-training ${e.modelRef} (masked LM) on ${e.backend}: ${e.numTrain} texts (${e.numValidation} held out), ${e.totalSteps} steps` +
        `${e.resumedFromStep ? `, resumed at step ${e.resumedFromStep}` : ''}.`);
      break;
    case 'step':
      out.log(`step ${e.step}/${e.totalSteps}  epoch ${e.epoch.toFixed(2)}  MLM loss ${e.loss.toFixed(4)}  lr ${e.learningRate.toExponential(2)}  ` +
        `${e.samplesPerSec.toFixed(1)} samples/s  ETA ${Math.round(e.etaSec)} s`);
      break;
    case 'mlm-eval':
      out.log(`held-out masked-LM loss ${e.metrics.loss.toFixed(4)}, accuracy ${(100 * e.metrics.accuracy).toFixed(2)}% at step ${e.step}`);
      break;
    default:
      break;
  }
}
