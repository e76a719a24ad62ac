/**
 * The end-of-line decorations: one `TextEditorDecorationType` per annotation kind, made once and
 * reused, each coloured by a theme colour the extension contributes (so light, dark and high
 * contrast themes each get readable colours, and themes can override them). A line's text goes in
 * `renderOptions.after.contentText`. Each editor is redrawn only when what it shows changed.
 */
import * as vscode from 'vscode';
import { ANNOTATION_KINDS, type AnnotationKind, type LineAnnotation } from './render';

/** The theme colour of each kind, as contributed in package.json `contributes.colors`. */
export const KIND_COLORS: Record<AnnotationKind, string> = {
  positive: 'bertWorkbench.annotation.positiveForeground',
  negative: 'bertWorkbench.annotation.negativeForeground',
  neutral: 'bertWorkbench.annotation.neutralForeground',
  class1: 'bertWorkbench.annotation.class1Foreground',
  class2: 'bertWorkbench.annotation.class2Foreground',
  class3: 'bertWorkbench.annotation.class3Foreground',
  class4: 'bertWorkbench.annotation.class4Foreground',
  dimmed: 'bertWorkbench.annotation.dimmedForeground',
};

export class AnnotationDecorations implements vscode.Disposable {
  private readonly types = new Map<AnnotationKind, vscode.TextEditorDecorationType>();
  /** What each editor shows now, to skip redraws that change nothing. */
  private readonly shown = new WeakMap<vscode.TextEditor, string>();

  /** Shows `annotations` in `editor`, replacing what it showed. */
  show(editor: vscode.TextEditor, annotations: readonly LineAnnotation[]): void {
    const signature = annotations.map((a) => `${a.line}\u0000${a.kind}\u0000${a.contentText}`).join('\u0001');
    if (this.shown.get(editor) === signature) return;
    this.shown.set(editor, signature);
    const byKind = new Map<AnnotationKind, vscode.DecorationOptions[]>();
    for (const annotation of annotations) {
      const { line } = annotation;
      const end = editor.document.lineAt(Math.min(line, editor.document.lineCount - 1)).range.end;
      const options: vscode.DecorationOptions = {
        range: new vscode.Range(end, end),
        renderOptions: { after: { contentText: annotation.contentText } },
      };
      const list = byKind.get(annotation.kind);
      if (list) list.push(options);
      else byKind.set(annotation.kind, [options]);
    }
    for (const kind of ANNOTATION_KINDS) {
      const options = byKind.get(kind) ?? [];
      // A kind never used in this session needs no type; one used before is cleared with [].
      if (options.length === 0 && !this.types.has(kind)) continue;
      editor.setDecorations(this.type(kind), options);
    }
  }

  clear(editor: vscode.TextEditor): void {
    this.show(editor, []);
  }

  /** The editor's text changed (and its decorations moved with it): the next `show` redraws. */
  forget(editor: vscode.TextEditor): void {
    this.shown.delete(editor);
  }

  dispose(): void {
    for (const type of this.types.values()) type.dispose();
    this.types.clear();
  }

  private type(kind: AnnotationKind): vscode.TextEditorDecorationType {
    let type = this.types.get(kind);
    if (!type) {
      type = vscode.window.createTextEditorDecorationType({
        after: {
          color: new vscode.ThemeColor(KIND_COLORS[kind]),
          fontStyle: kind === 'dimmed' ? 'italic' : 'normal',
          margin: '0 0 0 2.5em',
        },
        // Typing at the end of the line keeps the annotation after the text.
        rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
      });
      this.types.set(kind, type);
    }
    return type;
  }
}
