/**
 * Errors a user can cause (a bad file, a missing column, an offline hub) are values of one
 * class, made here, carrying the file and line they are about and the fix. The language server
 * turns them into diagnostics, the CLI into one line on stderr. Anything else is a bug and keeps
 * its stack trace.
 */

/** What went wrong, as a stable code that tests and the client can switch on. */
export type UserErrorKind =
  // model folders and checkpoints
  | 'model-not-found'
  | 'missing-file'
  | 'bad-config'
  | 'unsupported-model'
  | 'bad-weights'
  | 'truncated-weights'
  | 'shape-mismatch'
  | 'unsafe-pickle'
  | 'hub-offline'
  | 'hub-download'
  // datasets
  | 'empty-file'
  | 'binary-file'
  | 'bad-encoding'
  | 'unclosed-quote'
  | 'field-count'
  | 'bad-json'
  | 'missing-column'
  | 'duplicate-column'
  | 'empty-label'
  | 'single-class'
  | 'unknown-label'
  | 'too-large'
  | 'no-dataset'
  // anything else the user asked for that cannot be done
  | 'bad-argument'
  | 'output-exists'
  // the output folder: not a folder, not writable, full, or in use by another run
  | 'output-unwritable'
  | 'disk-full'
  | 'output-locked'
  | 'backend-unavailable';

export interface UserErrorInit {
  kind: UserErrorKind;
  message: string;
  /** The file the problem is in, as given by the user (absolute or workspace-relative). */
  file?: string;
  /** 1-based line in `file`, when the problem has one. */
  line?: number;
  /** What the user can do about it, one sentence. */
  fix?: string;
}

export class UserError extends Error {
  readonly kind: UserErrorKind;
  readonly file?: string;
  readonly line?: number;
  readonly fix?: string;

  constructor(init: UserErrorInit) {
    super(init.message);
    this.name = 'UserError';
    this.kind = init.kind;
    this.file = init.file;
    this.line = init.line;
    this.fix = init.fix;
  }

  /** One line for a terminal: `file:line: message. fix` */
  describe(): string {
    return describeUserError(this.toJSON());
  }

  toJSON(): { error: string; kind: UserErrorKind; file?: string; line?: number; fix?: string } {
    return { error: this.message, kind: this.kind, file: this.file, line: this.line, fix: this.fix };
  }
}

/** The one-line form of a user error, also for one that crossed a process boundary as JSON. */
export function describeUserError(data: { error: string; file?: string; line?: number; fix?: string }): string {
  const where = data.file ? `${data.file}${data.line ? `:${data.line}` : ''}: ` : '';
  return `${where}${data.error}${data.fix ? ` ${data.fix}` : ''}`;
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}
