/**
 * Finds and reads the weights of a Hugging Face model folder, whichever of the usual files it has.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../errors';
import { readSafetensors, readShardedSafetensors, type ReadOptions, type WeightMap } from './safetensors';
import { readShardedTorchBin, readTorchBin } from './torch-bin';

export type WeightsFormat = 'safetensors' | 'torch-zip' | 'torch-legacy';

export interface WeightsFolder {
  tensors: WeightMap;
  /** The file read: the weights file, or the index of a sharded checkpoint. */
  file: string;
  format: WeightsFormat;
  /** Tensors left out because their dtype is not a float type (e.g. I64 `position_ids`). */
  skipped: { name: string; dtype: string }[];
}

/** The files looked for, in order of preference (as transformers' `from_pretrained` prefers them). */
export const WEIGHTS_FILES = [
  'model.safetensors',
  'model.safetensors.index.json',
  'pytorch_model.bin',
  'pytorch_model.bin.index.json',
] as const;

export async function readWeightsFolder(dir: string, options: ReadOptions = {}): Promise<WeightsFolder> {
  await checkFolder(dir);
  const found = await firstExisting(dir);
  const file = join(dir, found);
  switch (found) {
    case 'model.safetensors':
      return { file, format: 'safetensors', ...(await readSafetensors(file, options)) };
    case 'model.safetensors.index.json':
      return { file, format: 'safetensors', ...(await readShardedSafetensors(file, options)) };
    case 'pytorch_model.bin':
      return { file, ...(await readTorchBin(file, options)) };
    case 'pytorch_model.bin.index.json':
      return { file, ...(await readShardedTorchBin(file, options)) };
  }
}

async function checkFolder(dir: string): Promise<void> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw new UserError({
      kind: 'model-not-found',
      message: `The model folder ${dir} does not exist or is not a folder.`,
      file: dir,
      fix: 'Point the model setting at a Hugging Face model folder, or at a Hub id.',
    });
  }
}

async function firstExisting(dir: string): Promise<(typeof WEIGHTS_FILES)[number]> {
  for (const name of WEIGHTS_FILES) {
    const info = await stat(join(dir, name)).catch(() => undefined);
    if (info?.isFile()) return name;
  }
  throw new UserError({
    kind: 'missing-file',
    message: `No weights file in the model folder ${dir}: looked for ${WEIGHTS_FILES.join(', ')}.`,
    file: dir,
    fix: 'Download the model\'s weights into this folder (model.safetensors is preferred), or point the model setting at another folder.',
  });
}
