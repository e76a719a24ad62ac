/**
 * Model references: a local folder, a model bundled with the extension (`builtin:<name>`), or a
 * Hugging Face Hub id (`bert-base-uncased`, `google/bert_uncased_L-4_H-256_A-4`).
 *
 * A Hub model is downloaded once, file by file, from `<endpoint>/<id>/resolve/<revision>/<file>` into
 * a cache folder, and from then on read from there. Transformers.js does the same for its own ONNX
 * files, but its download helpers are internal to the package, so the few lines it takes are here.
 * Each file is written to a temporary name and renamed, and a marker is written last, so an
 * interrupted download is never mistaken for a complete one.
 */
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { UserError } from './errors';

export interface HubOptions {
  /** Where downloads are kept; default `$BERT_WORKBENCH_CACHE` or `~/.cache/bert-workbench/hub`. */
  cacheDir?: string;
  /** Never touch the network: only cached models load. */
  offline?: boolean;
  /** Default `$HF_ENDPOINT` or https://huggingface.co (Hugging Face's own variable). */
  endpoint?: string;
  revision?: string;
  /** Called as each file starts downloading. */
  onProgress?: (file: string) => void;
}

const BUILTIN_PREFIX = 'builtin:';
const HUB_ID = /^[A-Za-z0-9][\w.-]*(\/[\w.-]+)?$/;
const COMPLETE_MARKER = '.complete';

/** Where the models that ship with the extension are: `dist/models` beside the bundle, or, from sources, `models/` and the test fixtures. */
export function builtinModelDirs(): string[] {
  const root = resolve(__dirname, '..', '..', '..');
  return [join(__dirname, 'models'), join(root, 'models'), join(root, 'test', 'fixtures')];
}

/** The models `builtin:<name>` names: review-bert (pre-trained, the default) and tiny-bert (random weights, for tests). */
export const BUILTIN_MODELS = ['review-bert', 'tiny-bert'];

/** Turns a model reference into a local folder, downloading from the Hub when it is a Hub id. */
export async function resolveModelRef(ref: string, options: HubOptions = {}): Promise<string> {
  if (ref.startsWith(BUILTIN_PREFIX)) return builtinModel(ref.slice(BUILTIN_PREFIX.length));
  if (existsSync(ref)) {
    if (!statSync(ref).isDirectory()) {
      throw new UserError({ kind: 'model-not-found', message: `${ref} is a file, not a model folder.`, file: ref, fix: 'Give the folder that holds config.json.' });
    }
    return resolve(ref);
  }
  if (!HUB_ID.test(ref) || ref.startsWith('.') || ref.includes('\\')) {
    throw new UserError({
      kind: 'model-not-found',
      message: `The model folder ${ref} does not exist.`,
      file: ref,
      fix: 'Give an existing model folder, a Hub id such as google/bert_uncased_L-4_H-256_A-4, or builtin:tiny-bert.',
    });
  }
  return downloadFromHub(ref, options);
}

function builtinModel(name: string): string {
  const dir = builtinModelDirs().map((root) => join(root, name)).find((d) => existsSync(join(d, 'config.json')));
  if (!dir) {
    throw new UserError({ kind: 'model-not-found', message: `There is no built-in model "${name}".`, fix: `Use ${BUILTIN_MODELS.map((m) => `builtin:${m}`).join(' or ')}.` });
  }
  return dir;
}

export function hubCacheFolder(id: string, options: HubOptions): string {
  const root = options.cacheDir ?? process.env.BERT_WORKBENCH_CACHE ?? join(homedir(), '.cache', 'bert-workbench', 'hub');
  return join(root, `models--${id.replace(/\//g, '--')}`, options.revision ?? 'main');
}

/** Files a BERT classifier needs: each group is satisfied by its first file the Hub has. */
const FILE_GROUPS: { files: string[]; required: boolean }[] = [
  { files: ['config.json'], required: true },
  { files: ['tokenizer.json', 'vocab.txt'], required: true },
  { files: ['tokenizer_config.json'], required: false },
  { files: ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin'], required: true },
];

async function downloadFromHub(id: string, options: HubOptions): Promise<string> {
  const folder = hubCacheFolder(id, options);
  if (existsSync(join(folder, COMPLETE_MARKER))) return folder;
  const wanted = FILE_GROUPS.map((g) => g.files.join(' or ')).join(', ');
  if (options.offline) {
    throw new UserError({
      kind: 'hub-offline',
      message: `${id} is not in the model cache (${folder}) and the offline setting is on, so its files (${wanted}) cannot be downloaded.`,
      fix: 'Turn the offline setting off, or download those files into a folder yourself and give that folder as the model.',
    });
  }
  mkdirSync(folder, { recursive: true });
  for (const group of FILE_GROUPS) {
    let found: string | undefined;
    for (const file of group.files) {
      if (await downloadFile(id, file, folder, options)) {
        found = file;
        break;
      }
    }
    if (found === 'model.safetensors.index.json') await downloadShards(id, folder, options);
    if (!found && group.required) {
      throw new UserError({
        kind: group.files[0] === 'config.json' ? 'model-not-found' : 'hub-download',
        message: `The Hub model ${id} has none of ${group.files.join(', ')}.`,
        fix: 'Check the model id (it is case-sensitive), or choose a BERT model with PyTorch or safetensors weights.',
      });
    }
  }
  writeFileSync(join(folder, COMPLETE_MARKER), new Date().toISOString());
  return folder;
}

async function downloadShards(id: string, folder: string, options: HubOptions): Promise<void> {
  const index = JSON.parse(readFileSync(join(folder, 'model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string> };
  for (const shard of new Set(Object.values(index.weight_map))) {
    if (!(await downloadFile(id, shard, folder, options))) {
      throw new UserError({ kind: 'hub-download', message: `The Hub model ${id} lists the shard ${shard} but does not serve it.`, fix: 'Try again later.' });
    }
  }
}

/** Downloads one file into the folder; false when the Hub has no such file. */
async function downloadFile(id: string, file: string, folder: string, options: HubOptions): Promise<boolean> {
  const target = join(folder, file);
  if (existsSync(target)) return true;
  const endpoint = (options.endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/$/, '');
  const url = `${endpoint}/${id}/resolve/${options.revision ?? 'main'}/${file}`;
  options.onProgress?.(file);
  let response: Response;
  try {
    response = await fetch(url, { headers: hubHeaders() });
  } catch (e) {
    throw new UserError({
      kind: 'hub-offline',
      message: `Cannot reach the Hugging Face Hub for ${id} (${file}): ${(e as Error).cause ?? (e as Error).message}.`,
      fix: `Check the network, or download config.json, tokenizer.json or vocab.txt, and model.safetensors or pytorch_model.bin of ${id} into a folder and give that folder as the model.`,
    });
  }
  if (response.status === 404) return false;
  if (response.status === 401 || response.status === 403) {
    throw new UserError({
      kind: 'hub-download',
      message: `The Hub refused ${url} (HTTP ${response.status}): the model is private, gated, or does not exist.`,
      fix: 'Check the model id, or set HF_TOKEN to a token that may read it.',
    });
  }
  if (!response.ok) {
    throw new UserError({ kind: 'hub-download', message: `Downloading ${url} failed: HTTP ${response.status}.`, fix: 'Try again later.' });
  }
  const temp = `${target}.download-${process.pid}`;
  try {
    await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), createWriteStream(temp));
    renameSync(temp, target);
  } finally {
    rmSync(temp, { force: true });
  }
  return true;
}

function hubHeaders(): Record<string, string> {
  const token = process.env.HF_TOKEN;
  return token ? { authorization: `Bearer ${token}` } : {};
}
