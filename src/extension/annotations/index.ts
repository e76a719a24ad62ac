/**
 * Inline predictions: end-of-line annotations and hovers (see controller.ts), and their commands,
 * registered from one table like the extension's other commands.
 */
import * as vscode from 'vscode';
import type { Ctx } from '../ctx';
import { showError } from '../errors';
import { AnnotationController } from './controller';

const commands: Record<string, (controller: AnnotationController) => (...args: unknown[]) => unknown> = {
  'bertWorkbench.toggleAnnotations': (c) => () => c.toggle(),
  'bertWorkbench.toggleFileAnnotations': (c) => () => c.toggleFile(),
  'bertWorkbench.clearAnnotations': (c) => () => c.clear(),
  /** Internal (not in the palette): the hover of the selection; argument: the model to predict with. */
  'bertWorkbench.showPredictionHover': (c) => (modelRef) => c.showSelectionHover(modelRef),
};

export function registerAnnotations(ctx: Ctx): void {
  const controller = new AnnotationController(ctx);
  ctx.push(controller);
  for (const [id, handler] of Object.entries(commands)) {
    const run = handler(controller);
    ctx.push(
      vscode.commands.registerCommand(id, async (...args: unknown[]) => {
        try {
          await run(...args);
        } catch (error) {
          showError(error, ctx.outputChannel);
        }
      }),
    );
  }
}
