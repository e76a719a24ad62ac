/**
 * From segments and their predictions to what the editor draws: one annotation at the end of each
 * line where segments end (`▸ positive 0.94`), of one of a few kinds (a colour per class, or dimmed),
 * and the Markdown of a hover. Pure (no `vscode` import) so that the unit tests check it directly.
 */
import type { Explanation } from '../../server/engine/classifier-api';
import type { InlinePrediction } from '../../shared/protocol';
import type { Segment } from './segments';

/**
 * The colour an annotation takes: the sentiment classes by name, other classes by their place in
 * the model's label list, and `dimmed` under the confidence threshold (or when the segments that end
 * on a line disagree). Each kind is one contributed theme colour and one decoration type.
 */
export const ANNOTATION_KINDS = ['positive', 'negative', 'neutral', 'class1', 'class2', 'class3', 'class4', 'dimmed'] as const;
export type AnnotationKind = (typeof ANNOTATION_KINDS)[number];

const OTHER_KINDS: readonly AnnotationKind[] = ['class1', 'class2', 'class3', 'class4'];

/** The kind of a class: by its name when it says a sentiment, else by its place among `labels`. */
export function kindOfLabel(label: string, labels: readonly string[]): AnnotationKind {
  const name = label.toLowerCase();
  if (/\b(?:pos(?:itive)?|good|great|happy|joy|love)\b/.test(name)) return 'positive';
  if (/\b(?:neg(?:ative)?|bad|sad|anger|angry|hate|toxic)\b/.test(name)) return 'negative';
  if (/\b(?:neu(?:tral)?|mixed|none)\b/.test(name)) return 'neutral';
  const others = labels.filter((l) => !/\b(?:pos(?:itive)?|good|great|happy|joy|love|neg(?:ative)?|bad|sad|anger|angry|hate|toxic|neu(?:tral)?|mixed|none)\b/.test(l.toLowerCase()));
  const index = Math.max(others.indexOf(label), 0);
  return OTHER_KINDS[index % OTHER_KINDS.length];
}

/** The predicted class's probability. */
export function confidence(prediction: InlinePrediction): number {
  return prediction.probs[prediction.label] ?? 0;
}

/** `▸ positive 0.94` */
export function annotationText(prediction: InlinePrediction): string {
  return `▸ ${prediction.label} ${confidence(prediction).toFixed(2)}`;
}

export interface LineAnnotation {
  /** The line whose end shows it (zero-based). */
  line: number;
  /** What is shown: one `▸ label 0.94` per segment that ends on the line, in order. */
  contentText: string;
  kind: AnnotationKind;
}

export interface AnnotateOptions {
  /** Below this confidence an annotation is dimmed. */
  threshold: number;
  /** The model's classes, in order (for the colours of classes without a sentiment name). */
  labels: readonly string[];
  /** Only segments that end on lines `fromLine…toLine` (inclusive) are annotated. */
  fromLine: number;
  toLine: number;
}

/**
 * The annotations of lines `fromLine…toLine`: each segment's prediction goes to the line where the
 * segment ends; segments without a prediction yet are left out. `segments` are in document order.
 */
export function annotateLines(
  segments: readonly Segment[],
  predictionOf: (text: string) => InlinePrediction | undefined,
  options: AnnotateOptions,
): LineAnnotation[] {
  const annotations: LineAnnotation[] = [];
  let line = -1;
  let found: InlinePrediction[] = [];
  const flush = () => {
    if (found.length > 0) annotations.push(lineAnnotation(line, found, options));
    found = [];
  };
  for (let i = firstEndingAtOrAfter(segments, options.fromLine); i < segments.length; i++) {
    const segment = segments[i];
    if (segment.end.line > options.toLine) break;
    if (segment.end.line !== line) {
      flush();
      line = segment.end.line;
    }
    const prediction = predictionOf(segment.text);
    if (prediction) found.push(prediction);
  }
  flush();
  return annotations;
}

function lineAnnotation(line: number, predictions: readonly InlinePrediction[], options: AnnotateOptions): LineAnnotation {
  const contentText = predictions.map(annotationText).join('  ');
  const agree = predictions.every((p) => p.label === predictions[0].label);
  const sure = predictions.every((p) => confidence(p) >= options.threshold);
  const kind = agree && sure ? kindOfLabel(predictions[0].label, options.labels) : 'dimmed';
  return { line, contentText, kind };
}

/** The index of the first segment that ends on `line` or later (segments are in document order). */
export function firstEndingAtOrAfter(segments: readonly Segment[], line: number): number {
  let low = 0;
  let high = segments.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (segments[middle].end.line < line) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** The segments that touch `line`: the line itself, or the sentences or paragraph it is part of. */
export function segmentsOnLine(segments: readonly Segment[], line: number): Segment[] {
  const found: Segment[] = [];
  for (let i = firstEndingAtOrAfter(segments, line); i < segments.length && segments[i].start.line <= line; i++) {
    found.push(segments[i]);
  }
  return found;
}

/** The segments that end on lines `fromLine…toLine`. */
export function segmentsEndingIn(segments: readonly Segment[], fromLine: number, toLine: number): Segment[] {
  const found: Segment[] = [];
  for (let i = firstEndingAtOrAfter(segments, fromLine); i < segments.length && segments[i].end.line <= toLine; i++) {
    found.push(segments[i]);
  }
  return found;
}

// ---- hovers ---------------------------------------------------------------------------------

export interface HoverModel {
  /** A short name: the model folder's name, a Hub id, `builtin:tiny-bert`. */
  name: string;
  /** When it was trained, already formatted for people; absent when it was not trained here. */
  trainedAt?: string;
}

export interface HoverItem {
  text: string;
  prediction: InlinePrediction;
  /** Why (word attributions), when the hover asked for them in time. */
  explanation?: Explanation;
}

const BAR_WIDTH = 20;
const EIGHTHS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/** `██████████▌░░░░░░░░░` for 0.525 of 20 cells: eighths of a cell at the tip, light shade for the rest. */
export function probabilityBar(p: number, width = BAR_WIDTH): string {
  const eighths = Math.round(Math.min(Math.max(p, 0), 1) * width * 8);
  const bar = '█'.repeat(Math.floor(eighths / 8)) + EIGHTHS[eighths % 8];
  return bar + '░'.repeat(Math.max(width - [...bar].length, 0));
}

/** `94.2%` */
export function percent(p: number): string {
  return `${(p * 100).toFixed(1)}%`;
}

/**
 * The hover of one or more segments: for each, the predicted class, then every class with its
 * probability and a bar (a Markdown table, most likely class first); under them the model's name
 * and when it was trained. Texts are quoted only when there are several segments.
 */
export function hoverMarkdown(items: readonly HoverItem[], model: HoverModel): string {
  const parts: string[] = [];
  for (const { text, prediction, explanation } of items) {
    if (items.length > 1) parts.push(`> ${escapeMarkdown(shorten(text, 80))}`, '');
    parts.push(`**${escapeMarkdown(prediction.label)}** ${percent(confidence(prediction))}`, '');
    parts.push('| class | probability | |', '| :-- | --: | :-- |');
    const ranked = Object.entries(prediction.probs).sort(([, a], [, b]) => b - a);
    for (const [label, p] of ranked) {
      const name = label === prediction.label ? `**${escapeMarkdown(label)}**` : escapeMarkdown(label);
      parts.push(`| ${name} | ${percent(p)} | ${probabilityBar(p)} |`);
    }
    parts.push('');
    if (explanation) parts.push(...explanationMarkdown(explanation), '');
  }
  const trained = model.trainedAt ? ` · trained ${escapeMarkdown(model.trainedAt)}` : ' · not trained here';
  parts.push(`*Model* \`${model.name.replace(/`/g, "'")}\`${trained}`);
  return parts.join('\n');
}

/**
 * The text coloured by attribution (green toward the class, red away, stronger for more), then the
 * strongest words in plain text. Needs a MarkdownString with `supportHtml` (VS Code keeps a span's
 * `background-color`).
 */
export function explanationMarkdown(e: Explanation): string[] {
  const max = Math.max(1e-9, ...e.words.map((w) => Math.abs(w.score)));
  const coloured = e.words.map((w) => {
    const alpha = Math.round(40 + 160 * Math.min(1, Math.abs(w.score) / max)).toString(16).padStart(2, '0');
    const colour = w.score >= 0 ? `#2ea043${alpha}` : `#f85149${alpha}`;
    return `<span style="background-color:${colour};">${escapeMarkdown(w.word)}</span>`;
  });
  const strongest = (sign: 1 | -1) =>
    e.words
      .filter((w) => sign * w.score > 0)
      .sort((a, b) => sign * (b.score - a.score))
      .slice(0, 3)
      .map((w) => `${escapeMarkdown(w.word)} ${w.score >= 0 ? '+' : '−'}${Math.abs(w.score).toFixed(2)}`)
      .join(', ');
  return [
    `**Why ${escapeMarkdown(e.label)}:** ${coloured.join(' ')}`,
    '',
    `toward: ${strongest(1) || '—'} · away: ${strongest(-1) || '—'} *(Integrated Gradients, ${e.steps} steps)*`,
  ];
}

function shorten(text: string, length: number): string {
  return text.length <= length ? text : `${text.slice(0, length - 1)}…`;
}

function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>~]/g, (c) => `\\${c}`);
}
