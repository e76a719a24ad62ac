/**
 * The examples behind the numbers: the rows of each confusion-matrix cell (true class → predicted
 * class), most confident first, with the file and line they came from; and the rows whose label the
 * model most disagrees with, "possible label errors" in the spirit of confident learning (Northcutt
 * et al. 2021): a row is suspect when the model's probability of its given label is below that
 * class's threshold (the mean probability the model gives the class on the rows labelled with it)
 * while another class clears its own threshold; suspects are ranked by how little probability the
 * given label gets (self-confidence).
 */
export interface ReviewedRow {
  text: string;
  /** Class indices. */
  label: number;
  predicted: number;
  /** Probability of the predicted class. */
  confidence: number;
  /** Probability of the given label. */
  labelProbability: number;
  split: string;
  file: string;
  line: number;
}

export interface RowToReview {
  text: string;
  label: number;
  split: string;
  file: string;
  line: number;
  probs: number[];
}

/** cells[t][p]: the rows labelled t and predicted p, most confident first. */
export function confusionRows(rows: RowToReview[], numLabels: number): ReviewedRow[][][] {
  const cells = Array.from({ length: numLabels }, () => Array.from({ length: numLabels }, () => [] as ReviewedRow[]));
  for (const row of rows) {
    const reviewed = review(row);
    cells[reviewed.label][reviewed.predicted].push(reviewed);
  }
  for (const line of cells) for (const cell of line) cell.sort((a, b) => b.confidence - a.confidence);
  return cells;
}

/** The rows whose given label the model doubts, most doubtful first. */
export function possibleLabelErrors(rows: RowToReview[], numLabels: number): ReviewedRow[] {
  const thresholds = Array.from({ length: numLabels }, (_, c) => {
    const own = rows.filter((r) => r.label === c);
    return own.length === 0 ? Infinity : own.reduce((s, r) => s + r.probs[c], 0) / own.length;
  });
  return rows
    .filter((r) => r.probs[r.label] < thresholds[r.label] && r.probs.some((p, c) => c !== r.label && p >= thresholds[c]))
    .map(review)
    .filter((r) => r.predicted !== r.label)
    .sort((a, b) => a.labelProbability - b.labelProbability);
}

/** The class a row is predicted: its most probable one. */
export function predictedClass(row: RowToReview): number {
  return row.probs.indexOf(Math.max(...row.probs));
}

function review(row: RowToReview): ReviewedRow {
  const predicted = predictedClass(row);
  return {
    text: row.text,
    label: row.label,
    predicted,
    confidence: row.probs[predicted],
    labelProbability: row.probs[row.label],
    split: row.split,
    file: row.file,
    line: row.line,
  };
}

/** RFC 4180 CSV of reviewed rows, with class names: what "Export CSV" writes. */
export function reviewedRowsCsv(rows: ReviewedRow[], labels: string[]): string {
  const quote = (v: string | number) => {
    const s = String(v);
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const header = ['file', 'line', 'split', 'text', 'label', 'predicted', 'confidence', 'label_probability'];
  const lines = rows.map((r) => [r.file, r.line, r.split, r.text, labels[r.label], labels[r.predicted], r.confidence.toFixed(4), r.labelProbability.toFixed(4)].map(quote).join(','));
  return `${[header.join(','), ...lines].join('\r\n')}\r\n`;
}
